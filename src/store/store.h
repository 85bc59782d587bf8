/*
 * store.h - the daemon's persistent state behind one ops table.
 *
 * Tasks (mandates), issued credentials, agent revocations (kill switch),
 * signing-key metadata and the append-only audit events live behind
 * struct store_ops, the way SQLite keeps the OS behind sqlite3_vfs: the
 * SQLite implementation (store_sqlite_ops) now, a PostgreSQL one later
 * with the same semantics.  Nothing here names a database type.
 *
 * Conventions for every function below:
 * - Return a MANDATE_* status.  MANDATE_ENOTFOUND: the id is unknown.
 *   MANDATE_ELIMIT: an input is longer than its STORE_MAX_* bound.
 *   MANDATE_EINVAL: a bad argument, or a uniqueness conflict (duplicate id).
 *   MANDATE_EIO: the database cannot be read or written (busy past the
 *   timeout, corrupt, read-only, disk full...).  MANDATE_ENOMEM, and
 *   MANDATE_EINTERNAL for anything else.  Callers fail closed on any of
 *   them.  The database's own message goes to the log callback given in
 *   struct store_options, never into a reply.
 * - Times are Unix seconds (int64_t).  Operations that depend on the clock
 *   take `now` from the caller, so tests control time.
 * - Input strings are borrowed for the call only (struct str, need not be
 *   NUL-terminated).  Records read back are filled with strings copied
 *   into the caller's arena (NUL-terminated, lifetime of that arena).  On
 *   error, out-records are zeroed.
 * - Thread safety: a struct store may be shared by any number of threads;
 *   every function except store_open/store_close may be called
 *   concurrently.  The SQLite implementation keeps a small pool of
 *   connections (options.pool_size) guarded by a mutex: a call borrows one
 *   connection, with its own cached prepared statements, for its duration.
 */
#ifndef MANDATE_STORE_H
#define MANDATE_STORE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/str.h"

/* Bounds on stored fields (bytes); longer inputs fail with ELIMIT. */
#define STORE_MAX_ID        128      /* task id, jti, kid, request id */
#define STORE_MAX_NAME      2048     /* agent, delegator, audience, names */
#define STORE_MAX_TEXT      65536    /* objective, reasons */
#define STORE_MAX_JSON      262144   /* act chain, intents, JWK, fields */
#define STORE_MAX_PAGE      1000     /* rows per list / read call */

/* A task id: 128 random bits as 32 lowercase hex digits, plus NUL. */
#define STORE_TASK_ID_LEN   32
#define STORE_TASK_ID_SIZE  (STORE_TASK_ID_LEN + 1)

enum store_task_state {
	STORE_TASK_ACTIVE = 0,
	STORE_TASK_ENDED = 1,
	STORE_TASK_REVOKED = 2,
	STORE_TASK_EXPIRED = 3,   /* derived from time, never stored */
};

struct store_task {
	struct str id;            /* STORE_TASK_ID_LEN hex (store_task_new_id) */
	struct str agent;         /* SPIFFE ID or OIDC sub */
	struct str delegator;     /* sub of the delegating principal */
	struct str act_json;      /* the act chain, JSON text ("" if none) */
	struct str objective;     /* free text */
	struct str intents_json;  /* JSON text: granted actions, constraints */
	int64_t sensitivity;      /* ceiling, the caller's scale */
	int64_t created_at;
	int64_t expires_at;       /* > created_at */
	int64_t call_budget;      /* >= 1; INT64_MAX for "no practical limit" */
	int64_t calls_used;       /* ignored by create (starts at 0) */
	int state;                /* enum store_task_state as stored */
	int64_t ended_at;         /* 0 while active */
	struct str reason;        /* why it ended / was revoked ("" if not) */
};

/* Outcome of consuming one call of a task's budget. */
enum store_consume {
	STORE_CONSUMED = 0,       /* one call counted; *calls_used updated */
	STORE_EXHAUSTED = 1,      /* calls_used == call_budget already */
	STORE_NOT_ACTIVE = 2,     /* ended or revoked */
	STORE_TASK_EXPIRED_NOW = 3, /* expires_at <= now */
	/* store_decision_record only: the session's labels are not those
	 * the decision was made with (dec->labels_seen) */
	STORE_SESSION_CHANGED = 4,
	/* store_decision_record only: the credential the call presented
	 * (dec->cred_jti) was revoked after the decision was made */
	STORE_CRED_REVOKED = 5,
};

struct store_credential {
	struct str jti;
	struct str task_id;
	struct str agent;
	struct str audience;
	int64_t issued_at;
	int64_t expires_at;
	struct str cnf_jkt;       /* DPoP key thumbprint, "" when unbound */
	int revoked;              /* 0 or 1 (read back; ignored by insert) */
	int64_t revoked_at;       /* 0 unless revoked */
};

/* Why a jti is not usable (STORE_USABLE when it is). */
enum store_usable {
	STORE_USABLE = 0,
	STORE_UNUSABLE_REVOKED = 1,        /* the credential itself */
	STORE_UNUSABLE_EXPIRED = 2,        /* credential expires_at <= now */
	STORE_UNUSABLE_TASK_ENDED = 3,     /* its task ended or was revoked */
	STORE_UNUSABLE_TASK_EXPIRED = 4,   /* its task expires_at <= now */
	STORE_UNUSABLE_AGENT_REVOKED = 5,  /* a kill switch at or after issue */
	STORE_UNUSABLE_UNKNOWN = 6,        /* no such jti */
};

struct store_agent_revocation {
	struct str agent;
	int64_t revoked_at;
	struct str revoked_by;
	struct str reason;
};

enum store_key_state {
	STORE_KEY_NEXT = 0,
	STORE_KEY_ACTIVE = 1,
	STORE_KEY_RETIRED = 2,
};

/* Signing-key metadata; the private key is never stored here. */
struct store_key {
	struct str kid;
	struct str alg;           /* "ES256", "EdDSA", ... */
	struct str public_jwk;    /* JSON text */
	int state;                /* enum store_key_state */
	int64_t created_at;
	int64_t activated_at;     /* 0 until active */
	int64_t retire_after;     /* 0 unless retired: publish until then */
};

struct store_audit_event {
	int64_t id;               /* assigned by append: 1, 2, 3... increasing */
	int64_t time;
	struct str type;          /* "token.issued", "decision", ... */
	struct str request_id;
	struct str agent;
	struct str task_id;
	struct str fields_json;   /* JSON text */
	/* Set by store_audit_read only (ignored by appends): the first
	 * column, in the order above, whose stored value is not of the type
	 * its schema declares (id and time integers, the rest text), and
	 * the type it has ("integer", "real", "text", "blob", "null"); NULL
	 * when every column fits.  Only a database edited outside the store
	 * has such a record: the same bytes stored as a blob hash alike but
	 * no longer match a filter (store_audit_query) on that column. */
	const char *misstored_column;
	const char *misstored_as;
};

/* A filtered read of the audit events (store_audit_query).  Empty
 * strings match any value. */
struct store_audit_filter {
	struct str type;
	struct str agent;
	struct str task_id;
	int64_t from_time;        /* time >= from_time */
	int64_t to_time;          /* time <= to_time; 0: no upper bound */
	int newest_first;         /* 0: ascending ids after after_id;
	                           * 1: descending ids before before_id */
	int64_t after_id;         /* ascending: ids > after_id (0: all) */
	int64_t before_id;        /* descending: ids < before_id (0: all) */
	size_t limit;             /* 1..STORE_MAX_PAGE */
};

/* One leaf of the audit log's Merkle tree (RFC 9162): the index-th leaf
 * (0-based, in id order) is the hash of the event event_id. */
#define STORE_AUDIT_HASH_LEN 32
struct store_audit_leaf {
	int64_t index;
	int64_t event_id;
	uint8_t hash[STORE_AUDIT_HASH_LEN];
};

/* A signed tree head as stored. */
struct store_audit_checkpoint {
	int64_t tree_size;        /* >= 1, unique */
	uint8_t root[STORE_AUDIT_HASH_LEN];
	int64_t time;
	struct str signed_text;   /* the signed form (a compact JWS) */
};

/* Paging for list calls: start after (after_created_at, after_id), which is
 * the last row of the previous page; after_id.n == 0 starts at the top.
 * Rows come in (created_at, id) ascending order. */
struct store_page {
	int64_t after_created_at;
	struct str after_id;
	size_t limit;             /* 1..STORE_MAX_PAGE */
};

/* Log sink for database messages (op names what was being done);
 * status is the failure's MANDATE_* code, or MANDATE_OK for a notice
 * that is not one (a file mode to fix, an index being built). */
typedef void store_log_fn(void *ctx, int status, const char *op,
    const char *msg);

/* Indexes on the audit log's query filters (store_audit_query): a filter
 * on an indexed column reads only the records that match; each index
 * costs a record whose column is not empty one more B-tree insert (the
 * indexes are partial: records without an agent or task are not in
 * them). */
#define STORE_AUDIT_INDEX_AGENT 1u
#define STORE_AUDIT_INDEX_TASK  2u
#define STORE_AUDIT_INDEX_TYPE  4u

struct store_options {
	unsigned pool_size;       /* connections; 0 = 4; at most 64 */
	/* With set_audit_indexes, the audit query indexes are made what
	 * audit_indexes (STORE_AUDIT_INDEX_*) asks: a missing one is built
	 * (once: it takes a while on a large log, and is logged), one not
	 * asked for is dropped.  Without, they are left as they are (a
	 * tool that opens the daemon's database). */
	bool set_audit_indexes;
	unsigned audit_indexes;
	/* The daemon's own open: every statement of this version is
	 * prepared at open, so that a table or column the file lacks is a
	 * refused start rather than a failing request later.  A tool that
	 * reads one part (audit verify) leaves it off. */
	bool check_schema;
	int busy_timeout_ms;      /* 0 = 5000 */
	store_log_fn *log;        /* may be NULL */
	void *log_ctx;
	/* Test hook: migrate only up to this schema version (0 = latest).
	 * Opening a database newer than this fails like a newer binary would
	 * have written it. */
	int max_schema_version;
};

struct store;

/* --- agent sessions and decisions (issue 4) ---------------------------- */

#define STORE_MAX_LABEL       128    /* one session label or action name */
#define STORE_MAX_LABELS      64     /* labels per decision or outcome */
#define STORE_MAX_SESSION     1000   /* label + action rows per task */
#define STORE_MAX_SESSION_TEXT "1000" /* the same, for messages */

/* What a permitted call reported (decisions.outcome). */
enum store_outcome {
	STORE_OUTCOME_NONE = 0,       /* not reported yet */
	STORE_OUTCOME_SUCCESS = 1,
	STORE_OUTCOME_FAILURE = 2,
};

/* One decision made for a task (decisions that name no task are only
 * audited, not stored here). */
struct store_decision {
	struct str id;            /* 32 lowercase hex digits */
	struct str task_id;
	struct str caller;        /* principal of the enforcement point */
	struct str action;
	struct str resource;      /* `Type::"id"` */
	int permit;               /* 0 or 1 as asked/stored */
	int64_t time;
	/* record: labels added to the session when the call is permitted
	 * (configured tool output labels); not read back */
	const struct str *add_labels;
	size_t n_add_labels;
	/* record: with check_labels, a permit stands only if the task's
	 * session still has labels_seen labels (labels are only ever
	 * added, so the same number is the same set) */
	bool check_labels;
	int64_t labels_seen;
	/* record: when not empty, the jti of the credential the call
	 * presented; a permit stands only if it is still unrevoked at
	 * commit */
	struct str cred_jti;
	/* read back only */
	int outcome;              /* enum store_outcome */
	int64_t outcome_at;       /* 0 until reported */
	struct str labels_json;   /* the reported labels, JSON ("" if none) */
};

/* A task's session: what it has read and done so far.  Arrays in the
 * caller's arena, sorted by name; NULL when empty. */
struct store_session {
	struct str *labels;
	size_t n_labels;
	struct str *actions;      /* permitted actions ... */
	int64_t *counts;          /* ... and how many times each */
	size_t n_actions;
};

/* The kill switch's audit record (store_agent_revoke_audited), asked of
 * the caller once the number of tasks the revocation revoked is known,
 * inside its transaction.  It may be asked again for the same call (a
 * group commit run again after another write's failure) and must then
 * give the same record for the same n_tasks; its strings must live
 * until the call returns.  A failure (any status but MANDATE_OK) fails
 * the revocation: nothing is written. */
typedef int store_revoke_event_fn(void *arg, size_t n_tasks,
    struct store_audit_event *ev);

/* An outcome report's audit record (store_decision_outcome_audited),
 * asked inside its transaction once the report is known to change the
 * decision and whether its task was active; as store_revoke_event_fn
 * otherwise (asked again on a rerun, same record; a failure fails the
 * report). */
typedef int store_outcome_event_fn(void *arg, int task_active,
    struct store_audit_event *ev);

/*
 * The backend ops table.  Each op receives the backend's private handle;
 * store.c validates arguments and bounds before calling, so backends may
 * assume non-NULL pointers and bounded lengths.  Semantics are those of
 * the store_* function of the same name below.
 */
struct store_append;

struct store_ops {
	const char *name;
	int (*open)(const char *target, const struct store_options *opt,
	    void **impl);
	void (*close)(void *impl);
	int (*schema_version)(void *impl, int *version);
	int (*health)(void *impl, int64_t now);

	int (*task_create)(void *impl, const struct store_task *t);
	int (*task_create_audited)(void *impl, const struct store_task *t,
	    const struct store_audit_event *e, int64_t *id);
	int (*task_get)(void *impl, struct str id, struct arena *a,
	    struct store_task *out);
	int (*task_end)(void *impl, struct str id, int64_t now,
	    struct str reason, int *changed);
	int (*task_end_audited)(void *impl, struct str id, int64_t now,
	    struct str reason, const struct store_audit_event *e, int *changed,
	    int64_t *event_id);
	int (*tasks_prune)(void *impl, int64_t before, size_t max,
	    size_t *pruned);
	int (*task_consume)(void *impl, struct str id, int64_t now,
	    int *outcome, int64_t *calls_used);
	int (*task_list_by_agent)(void *impl, struct str agent,
	    const struct store_page *page, struct arena *a,
	    struct store_task **out, size_t *n_out);
	int (*agent_revoke)(void *impl, const struct store_agent_revocation *r,
	    int64_t now, size_t *n_tasks);
	int (*agent_revoke_audited)(void *impl,
	    const struct store_agent_revocation *r, int64_t now,
	    store_revoke_event_fn *build, void *build_arg, size_t *n_tasks,
	    int64_t *id);
	int (*agent_revocation_last)(void *impl, struct str agent,
	    struct arena *a, struct store_agent_revocation *out);

	int (*cred_insert)(void *impl, const struct store_credential *c);
	int (*cred_insert_audited)(void *impl,
	    const struct store_credential *c,
	    const struct store_audit_event *e, int64_t *id);
	int (*cred_get)(void *impl, struct str jti, struct arena *a,
	    struct store_credential *out);
	int (*cred_revoke)(void *impl, struct str jti, int64_t now,
	    int *changed);
	int (*cred_revoke_audited)(void *impl, struct str jti, int64_t now,
	    const struct store_audit_event *e, int *changed, int64_t *id);
	int (*cred_usable)(void *impl, struct str jti, int64_t now,
	    int *usable);

	int (*key_insert)(void *impl, const struct store_key *k);
	int (*key_get)(void *impl, struct str kid, struct arena *a,
	    struct store_key *out);
	int (*key_list)(void *impl, struct arena *a, struct store_key **out,
	    size_t *n_out);
	int (*key_activate)(void *impl, struct str kid, int64_t now,
	    int64_t retire_after);
	int (*key_activate_audited)(void *impl, struct str kid, int64_t now,
	    int64_t retire_after, const struct store_audit_event *e,
	    int64_t *id);
	int (*key_retire)(void *impl, struct str kid, int64_t retire_after);

	int (*audit_append)(void *impl, const struct store_audit_event *e,
	    int64_t *id);
	int (*append_many)(void *impl, const struct store_append *w,
	    size_t n, int64_t *ids, int *results);
	int (*audit_read)(void *impl, int64_t from_id, size_t limit,
	    struct arena *a, struct store_audit_event **out, size_t *n_out);
	int (*audit_query)(void *impl, const struct store_audit_filter *f,
	    struct arena *a, struct store_audit_event **out, size_t *n_out);

	/* agent sessions and decisions (issue 4) */
	int (*decision_record)(void *impl, const struct store_decision *dec,
	    int64_t now, int *outcome, int64_t *calls_used);
	int (*decision_get)(void *impl, struct str id, struct arena *a,
	    struct store_decision *out);
	int (*decision_outcome)(void *impl, struct str id, int status,
	    struct str labels_json, const struct str *labels, size_t n_labels,
	    int64_t now, int *changed, int *task_active);
	int (*decision_outcome_audited)(void *impl, struct str id, int status,
	    struct str labels_json, const struct str *labels, size_t n_labels,
	    int64_t now, store_outcome_event_fn *build, void *build_arg,
	    int *changed, int *task_active, int64_t *event_id);
	int (*session_get)(void *impl, struct str task_id, struct arena *a,
	    struct store_session *out);
	int (*audit_tree_head)(void *impl, int64_t *size,
	    uint8_t root[STORE_AUDIT_HASH_LEN]);
	int (*audit_leaves)(void *impl, int64_t from_index, size_t limit,
	    struct store_audit_leaf *out, size_t *n_out);
	int (*audit_checkpoint_add)(void *impl,
	    const struct store_audit_checkpoint *c);
	int (*audit_checkpoints)(void *impl, int64_t after_size, size_t limit,
	    struct arena *a, struct store_audit_checkpoint **out,
	    size_t *n_out);
	int (*audit_checkpoint_latest)(void *impl, struct arena *a,
	    struct store_audit_checkpoint *out);
	int (*audit_tables_check)(void *impl, const char **table,
	    const char **why);
	int (*integrity_check)(void *impl, char *why, size_t why_size);
};

/* The SQLite backend: target is a file path (not a symlink).  A new file
 * is created with mode 0600; an existing one keeps its mode (a warning is
 * logged if others may read it).  WAL mode, foreign keys on,
 * synchronous=FULL, busy timeout; SQLite's -wal and -shm files sit next to
 * the database and take its mode. */
extern const struct store_ops store_sqlite_ops;

/* The SQL text store_audit_query runs on the SQLite backend for the
 * filters set in f (their values are bound, not written) and its order,
 * into buf: for tests, which ask SQLite how it runs it (EXPLAIN QUERY
 * PLAN).  MANDATE_OK, or ELIMIT when n is too small. */
int store_sqlite_audit_query_sql(const struct store_audit_filter *f,
    char *buf, size_t n);

/* Open a store and migrate its schema to the latest version (or
 * opt->max_schema_version).  opt may be NULL for the defaults.  A database
 * whose schema is newer than this build knows fails with MANDATE_EINVAL
 * (and a log message naming both versions).  *out is NULL on error.  The
 * caller frees the handle with store_close(). */
int store_open(const struct store_ops *ops, const char *target,
    const struct store_options *opt, struct store **out);

/* Close and free; NULL is fine.  No call may be in flight. */
void store_close(struct store *s);

/* The schema version the open database is at. */
int store_schema_version(struct store *s, int *version);

/* MANDATE_OK when the store can be read and written right now. */
int store_health(struct store *s, int64_t now);

/* Fill buf with a fresh random task id (32 hex digits + NUL) from the
 * OpenSSL CSPRNG; MANDATE_EINTERNAL if the generator fails. */
int store_task_new_id(char buf[STORE_TASK_ID_SIZE]);

/* --- tasks ------------------------------------------------------------ */

/* Insert a new active task (state, ended_at, reason and calls_used are
 * ignored).  EINVAL on a duplicate id, an empty id or agent, expires_at <=
 * created_at or call_budget < 1; ECONFLICT (nothing inserted) when the
 * agent was revoked (store_agent_revoke) at or after created_at. */
int store_task_create(struct store *s, const struct store_task *t);

/* store_task_create and the audit event e (its task.created record) in
 * one transaction: both rows are durable when it returns MANDATE_OK,
 * neither otherwise (a crash cannot leave a task whose creation the log
 * lacks, and a record the store refuses leaves no task).  Errors as
 * store_task_create's (ECONFLICT: the agent was revoked at or after
 * created_at; nothing is written, and nothing of the event was tried)
 * or store_audit_append's; *id (may be NULL) is the event's id, 0 on
 * error.  Shares the audit appends' group commits. */
int store_task_create_audited(struct store *s, const struct store_task *t,
    const struct store_audit_event *e, int64_t *id);

/* Read one task (state as stored: see store_task_state_at for expiry). */
int store_task_get(struct store *s, struct str id, struct arena *a,
    struct store_task *out);

/* The effective state at time now: STORE_TASK_EXPIRED for a task still
 * stored as active whose expires_at <= now. */
int store_task_state_at(const struct store_task *t, int64_t now);

/* End a task and revoke every credential issued for it, atomically.
 * Idempotent: *changed is 1 if it was active and unexpired at now, 0 if it
 * had already ended or been revoked (its reason is kept) or expired
 * (expires_at <= now, decided in the same transaction): such a task is
 * left unchanged. */
int store_task_end(struct store *s, struct str id, int64_t now,
    struct str reason, int *changed);

/* store_task_end and, when it ends the task (*changed 1), the audit
 * event e (its task.ended record) in the same transaction: the end, the
 * credentials' revocation and the record are durable together, or none
 * of them is (a record the store refuses leaves the task active).  A
 * call that changes nothing (*changed 0) writes no record.  Errors as
 * store_task_end's or store_audit_append's; *event_id (may be NULL) is
 * the event's id, 0 when none was written. */
int store_task_end_audited(struct store *s, struct str id, int64_t now,
    struct str reason, const struct store_audit_event *e, int *changed,
    int64_t *event_id);

/* Retention: delete, in one transaction, up to max tasks (any max of
 * them) that ended, were revoked or expired at or before `before`,
 * with their credentials, decisions and session.  The audit log keeps
 * every record about them.  *pruned is how many tasks went (fewer than
 * max: none is left).  max 1..10000. */
int store_tasks_prune(struct store *s, int64_t before, size_t max,
    size_t *pruned);

/* Count one call against the task's budget, atomically (concurrent callers
 * never exceed the budget).  *outcome is an enum store_consume; only
 * STORE_CONSUMED counted the call, and then *calls_used (may be NULL) is
 * the new count.  A refused call is a result (MANDATE_OK), not an error. */
int store_task_consume(struct store *s, struct str id, int64_t now,
    int *outcome, int64_t *calls_used);

/* One page of an agent's tasks (any state), in (created_at, id) order.
 * *out is an array of *n_out tasks in the arena (NULL when empty). */
int store_task_list_by_agent(struct store *s, struct str agent,
    const struct store_page *page, struct arena *a,
    struct store_task **out, size_t *n_out);

/* --- kill switch ------------------------------------------------------ */

/* Record a revocation of r->agent at time now (r->revoked_at is ignored),
 * revoke every one of its tasks that is active and unexpired at now and
 * every credential issued to it, atomically.  *n_tasks (may be NULL) is
 * the number of tasks revoked.  Credentials issued to the agent at or
 * before a revocation's time are unusable for ever after. */
int store_agent_revoke(struct store *s,
    const struct store_agent_revocation *r, int64_t now, size_t *n_tasks);

/* store_agent_revoke and its audit event (the agent.revoked record, made
 * by build(build_arg, n_tasks, &ev) once the number of tasks revoked is
 * known) in one transaction: the revocation, its tasks' and credentials'
 * and the record are durable together, or none is (a record the store
 * refuses, or a build failure, leaves the agent unrevoked).  *n_tasks
 * and *id (either may be NULL) are the tasks revoked and the event's id,
 * 0 on error.  Errors as store_agent_revoke's or store_audit_append's
 * (the built event's bounds are checked as there). */
int store_agent_revoke_audited(struct store *s,
    const struct store_agent_revocation *r, int64_t now,
    store_revoke_event_fn *build, void *build_arg, size_t *n_tasks,
    int64_t *id);

/* The agent's most recent revocation; ENOTFOUND if it has none. */
int store_agent_revocation_last(struct store *s, struct str agent,
    struct arena *a, struct store_agent_revocation *out);

/* --- credentials ------------------------------------------------------ */

/* Record an issued credential.  Its task must exist (EINVAL otherwise, as
 * for a duplicate jti); revoked fields are ignored. */
int store_cred_insert(struct store *s, const struct store_credential *c);

/* Record an issued credential and its audit event in one transaction:
 * both rows are durable when it returns MANDATE_OK, neither otherwise (an
 * issued token is never unaudited, and an audited issuance always has its
 * row).  Errors as for store_cred_insert (EINVAL for a duplicate jti or an
 * unknown task fails only this call) and store_audit_append; *id (may be
 * NULL) is the event's id, as store_audit_append gives it.  Costs one
 * commit where the two calls cost two. */
int store_cred_insert_audited(struct store *s,
    const struct store_credential *c, const struct store_audit_event *e,
    int64_t *id);

int store_cred_get(struct store *s, struct str jti, struct arena *a,
    struct store_credential *out);

/* Revoke one credential (RFC 7009).  Idempotent: *changed (may be NULL)
 * is 1 if it was not yet revoked.  ENOTFOUND for an unknown jti (an RFC
 * 7009 endpoint answers 200 regardless). */
int store_cred_revoke(struct store *s, struct str jti, int64_t now,
    int *changed);

/* store_cred_revoke and, when it revokes the credential (*changed 1),
 * the audit event e (its token.revoked record) in the same transaction:
 * both, or neither (a record the store refuses leaves the credential
 * usable).  A call that changes nothing writes no record.  Errors as
 * store_cred_revoke's (ENOTFOUND for an unknown jti) or
 * store_audit_append's; *id (may be NULL) is the event's id, 0 when
 * none was written. */
int store_cred_revoke_audited(struct store *s, struct str jti, int64_t now,
    const struct store_audit_event *e, int *changed, int64_t *id);

/* The hot-path check: *usable is an enum store_usable, STORE_USABLE only
 * if the credential is known, unrevoked and unexpired, its task is active
 * and unexpired, and its agent has no revocation at or after its issue
 * time.  An unknown jti is a result (STORE_UNUSABLE_UNKNOWN), not an
 * error.  On any error *usable is not STORE_USABLE. */
int store_cred_usable(struct store *s, struct str jti, int64_t now,
    int *usable);

/* --- signing keys ----------------------------------------------------- */

/* Insert key metadata in state k->state (normally STORE_KEY_NEXT); EINVAL
 * on a duplicate kid. */
int store_key_insert(struct store *s, const struct store_key *k);

int store_key_get(struct store *s, struct str kid, struct arena *a,
    struct store_key *out);

/* Every key, ordered by created_at then kid (at most STORE_MAX_PAGE). */
int store_key_list(struct store *s, struct arena *a, struct store_key **out,
    size_t *n_out);

/* Rotation step, atomic: kid becomes active (activated_at = now), and the
 * key that was active, if another, becomes retired with retire_after. */
int store_key_activate(struct store *s, struct str kid, int64_t now,
    int64_t retire_after);

/* store_key_activate and the audit event e (its keys.activated record)
 * in one transaction: both, or neither.  *id (may be NULL) is the event's
 * id.  Errors as store_key_activate's, or the append's. */
int store_key_activate_audited(struct store *s, struct str kid, int64_t now,
    int64_t retire_after, const struct store_audit_event *e, int64_t *id);

/* Retire one key (publish its public part until retire_after). */
int store_key_retire(struct store *s, struct str kid, int64_t retire_after);

/* --- audit events (append-only) ---------------------------------------- */

/* Append an event (e->id ignored); *id (may be NULL) is its id, greater
 * than every earlier one.  Rows are never updated or deleted.  In the same
 * transaction the event becomes the next leaf of the audit Merkle tree:
 * its leaf hash (audit_record_leaf_hash, id included) is stored at index
 * = the number of leaves before it, so the tree's order is the id order.
 * Every appender goes through here (see src/audit/audit.h). */
int store_audit_append(struct store *s, const struct store_audit_event *e,
    int64_t *id);

/* Append n (1..STORE_MAX_PAGE) events at once, as consecutive
 * store_audit_append calls would (they share group commits): results[i]
 * is each one's status and ids[i] its id (0 when it failed).  Returns
 * MANDATE_OK when every one was appended, else the first failure; a
 * failure of the arguments (EINVAL, ELIMIT) appends none. */
int store_audit_append_many(struct store *s,
    const struct store_audit_event *e, size_t n, int64_t *ids,
    int *results);

/*
 * The audit writer's batch: n (1..STORE_MAX_PAGE) writes in one group
 * commit, each with its own result (results[i]) and audit id (ids[i]):
 * - ev alone: store_audit_append;
 * - cred and ev: store_cred_insert_audited (both rows, or neither; a
 *   duplicate jti or unknown task fails only that pair);
 * - dec (ev NULL): store_decision_record at time now, then the decision's
 *   audit record, asked of build(build_arg, outcome, calls_used, &ev)
 *   once the outcome is known, inside the same transaction (both rows
 *   or neither).  build may be called again for the same write (a batch
 *   rerun after another write's own failure) and must then give the
 *   same record for the same outcome; its strings must live until the
 *   call returns.  A build failure fails the write.
 * Bounds as for the single calls (a bad one fails the whole call).
 */
typedef int store_decision_event_fn(void *arg, int outcome,
    int64_t calls_used, struct store_audit_event *ev);

struct store_append {
	const struct store_audit_event *ev;
	const struct store_credential *cred;
	const struct store_decision *dec;
	int64_t now;
	store_decision_event_fn *build;
	void *build_arg;
};

int store_append_many(struct store *s, const struct store_append *w,
    size_t n, int64_t *ids, int *results);

/* The bounds store_cred_insert (store_decision_record) checks:
 * MANDATE_OK, or EINVAL/ELIMIT. */
int store_cred_check(const struct store_credential *c);
/* The bounds store_audit_append checks: MANDATE_OK, or EINVAL/ELIMIT. */
int store_audit_event_check(const struct store_audit_event *e);
int store_decision_check(const struct store_decision *dec);

/* Up to limit (1..STORE_MAX_PAGE) events with id >= from_id, ascending. */
int store_audit_read(struct store *s, int64_t from_id, size_t limit,
    struct arena *a, struct store_audit_event **out, size_t *n_out);

/* Up to f->limit events matching the filter, in id order (ascending, or
 * descending with newest_first); page on with after_id (before_id) = the
 * last id returned.  EINVAL for a bad limit, negative ids or times, or
 * to_time < from_time; ELIMIT for an over-long filter string.  No index
 * backs the filters: a selective filter over a large log scans it. */
int store_audit_query(struct store *s, const struct store_audit_filter *f,
    struct arena *a, struct store_audit_event **out, size_t *n_out);

/* --- agent sessions and decisions (issue 4) ----------------------------- */

/*
 * Record one decision of a task, atomically with its effects.  With
 * dec->permit and dec->check_labels, a session whose labels changed
 * since the decision was made (a concurrent call's output labels or
 * outcome) makes it a deny first (*outcome STORE_SESSION_CHANGED,
 * nothing consumed): a chaining rule decided on stale labels must not
 * pass.  With dec->permit and a dec->cred_jti, a credential revoked
 * since (store_cred_revoke, the kill switch) makes it a deny too
 * (STORE_CRED_REVOKED, nothing consumed): a revocation that returned
 * before the commit is not outrun by a decision in flight.  With
 * dec->permit the task's budget is consumed first
 * (store_task_consume semantics: *outcome says whether it was); only
 * when it was is the
 * decision stored as a permit, the action's count raised and
 * dec->add_labels added to the session.  Otherwise (or without permit)
 * the decision is stored as a deny.  So two concurrent permits with one
 * call left store exactly one permit.  *outcome is STORE_CONSUMED for a
 * deny asked as such (nothing to consume).  EINVAL on a duplicate id or
 * an unknown task; ELIMIT past the bounds (labels, names).
 */
int store_decision_record(struct store *s, const struct store_decision *dec,
    int64_t now, int *outcome, int64_t *calls_used);

/* Read one decision; ENOTFOUND for an unknown id. */
int store_decision_get(struct store *s, struct str id, struct arena *a,
    struct store_decision *out);

/* Report what a decision's call did (status STORE_OUTCOME_SUCCESS or
 * _FAILURE) and the labels of the data it returned (labels_json is their
 * JSON array, kept with the decision): the labels join the task's
 * session while the task is active at `now`.  The outcome of a task that
 * is over (ended, revoked, expired) is still kept with its decision, as
 * the record of what the call did, but its session is left as it was:
 * the task takes no more decisions.  *task_active (may be NULL) says
 * which.  Once only: *changed is 0 when an outcome was already reported
 * (nothing changes).  ENOTFOUND for an unknown id.  Labels that take an
 * active task's session past STORE_MAX_SESSION rows are kept (a session
 * past it cannot be read, so every later decision of the task is a deny:
 * fail closed); ELIMIT, and nothing changes, when it is past already. */
int store_decision_outcome(struct store *s, struct str id, int status,
    struct str labels_json, const struct str *labels, size_t n_labels,
    int64_t now, int *changed, int *task_active);

/* store_decision_outcome and, when the report changes the decision
 * (*changed 1), its audit event (the decision.outcome record, made by
 * build(build_arg, task_active, &ev)) in the same transaction: the
 * outcome, the session's labels and the record are durable together, or
 * none is (a record the store refuses leaves the decision unreported).
 * A report that changes nothing writes no record.  Errors as
 * store_decision_outcome's or store_audit_append's; *event_id (may be
 * NULL) is the event's id, 0 when none was written. */
int store_decision_outcome_audited(struct store *s, struct str id,
    int status, struct str labels_json, const struct str *labels,
    size_t n_labels, int64_t now, store_outcome_event_fn *build,
    void *build_arg, int *changed, int *task_active, int64_t *event_id);

/* A task's session (empty for a task with none yet, or an unknown one).
 * ELIMIT when it holds more than STORE_MAX_SESSION rows (callers deny). */
int store_session_get(struct store *s, struct str task_id, struct arena *a,
    struct store_session *out);

/* --- the audit log's Merkle tree (src/audit, docs/audit.md) ---------- */

/* The current tree: *size leaves (committed) and their RFC 9162 root
 * (SHA-256 of nothing for the empty tree).  Cheap: the backend keeps the
 * tree's compact range and checks it against the stored leaves at each
 * append batch. */
int store_audit_tree_head(struct store *s, int64_t *size,
    uint8_t root[STORE_AUDIT_HASH_LEN]);

/* Up to limit (1..STORE_MAX_PAGE) leaves with index >= from_index,
 * ascending, into out[0..*n_out) (the caller's array of limit rows). */
int store_audit_leaves(struct store *s, int64_t from_index, size_t limit,
    struct store_audit_leaf *out, size_t *n_out);

/* Store a signed tree head.  EINVAL for tree_size < 1, an empty signed
 * text, or a second checkpoint of the same size.  Never updated or
 * deleted. */
int store_audit_checkpoint_add(struct store *s,
    const struct store_audit_checkpoint *c);

/* Up to limit (1..STORE_MAX_PAGE) checkpoints with tree_size >
 * after_size, ascending by size; *out in the arena (NULL when none). */
int store_audit_checkpoints(struct store *s, int64_t after_size,
    size_t limit, struct arena *a, struct store_audit_checkpoint **out,
    size_t *n_out);

/* The checkpoint of the largest size; ENOTFOUND when there is none. */
int store_audit_checkpoint_latest(struct store *s, struct arena *a,
    struct store_audit_checkpoint *out);

/* Whether the audit tables are still the kind the store made, for
 * `mandate audit verify`: MANDATE_OK when audit_events, audit_leaves and
 * audit_checkpoints are each a STRICT table (its columns refuse values of
 * another type); EINVAL with *table the first that is not and *why
 * (static text) what it is instead: such a table was rebuilt outside the
 * store. */
int store_audit_tables_check(struct store *s, const char **table,
    const char **why);

/* Whether the database's own structure is sound (for SQLite, PRAGMA
 * integrity_check: every page, every b-tree, every index against its
 * table), for `mandate audit verify`, which must not report a log it read
 * from a damaged file as verified.  MANDATE_OK when it is; EINVAL when
 * the database is damaged, with the first problem found in why (always
 * NUL-terminated, cut to why_size); EIO and others when the check could
 * not run (why says why).  Reads the whole file: O(size). */
int store_integrity_check(struct store *s, char *why, size_t why_size);

#endif

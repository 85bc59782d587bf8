/*
 * writer.h - the one path every audit record takes: size limits,
 * redaction, then the store, synchronously or through a writer queue.
 *
 * Modes:
 * - sync (default): audit_record() returns only when the record is
 *   durable in the store (the store's group commit batches concurrent
 *   callers into one transaction).  A caller that gets MANDATE_OK may
 *   answer; any error means the record is not stored and the caller must
 *   fail closed (deny, refuse).  One writer thread runs as well, for
 *   audit_record_async() and audit_issue_async(): the caller is told
 *   through a callback when its record is durable, without waiting in
 *   its own thread (the daemon holds the answer meanwhile).
 * - async: audit_record() redacts and serialises the record, puts it on a
 *   bounded queue and returns; the writer thread appends queued records
 *   (each batch in one group commit).  Weaker: records still queued
 *   when the process dies (crash, SIGKILL, power loss) are lost, at most
 *   queue_max of them; a record whose append fails is retried until the
 *   store accepts it or the log is closed.  While the log is unhealthy,
 *   or the queue stays full for AUDIT_ENQUEUE_WAIT_MS, audit_record()
 *   fails, so callers still fail closed.
 *
 * Health: the log is unhealthy from a failed append until an append
 * succeeds again; audit_healthy() is what /readyz reads.  In sync mode
 * every call tries the store (and so recovers by itself); in async mode
 * the writers retry.
 *
 * Thread safety: audit_record() and audit_healthy() may be called from
 * any number of threads; audit_open/audit_close from one.
 */
#ifndef MANDATE_AUDIT_WRITER_H
#define MANDATE_AUDIT_WRITER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "audit/redact.h"
#include "store/store.h"
#include "util/str.h"

#define AUDIT_PROMPT_MAX_DEFAULT 4096     /* bytes of a prompt kept */
#define AUDIT_PROMPT_MAX_LIMIT   65536
#define AUDIT_QUEUE_DEFAULT      4096     /* async records in flight */
#define AUDIT_QUEUE_LIMIT        1000000
#define AUDIT_WRITERS            1        /* writer threads: one, so that
                                           * each commit takes everything
                                           * queued during the last one */
#define AUDIT_ENQUEUE_WAIT_MS    2000

enum audit_mode {
	AUDIT_SYNC = 0,
	AUDIT_ASYNC = 1,
};

/* Log sink: level 0 info, 1 warning, 2 error. */
typedef void audit_log_fn(void *ctx, int level, const char *msg);

struct audit_options {
	struct store *store;          /* required; must outlive the log */
	const struct redact *redact;  /* required; must outlive the log */
	enum audit_mode mode;
	size_t queue_max;             /* async; 0: AUDIT_QUEUE_DEFAULT */
	size_t prompt_max;            /* 0: AUDIT_PROMPT_MAX_DEFAULT */
	audit_log_fn *log;            /* may be NULL */
	void *log_ctx;
	/* Called after records are durable with the highest id appended
	 * (from the caller's thread in sync mode, a writer's in async);
	 * may be NULL.  The daemon makes its checkpoints from here. */
	void (*appended)(void *ctx, int64_t id);
	void *appended_ctx;
};

/* What a caller knows about an event besides its fields. */
struct audit_event {
	int64_t time;                 /* Unix seconds */
	const char *type;             /* "decision", "token.issued", ... */
	struct str request_id;        /* may be empty */
	struct str agent;             /* may be empty */
	struct str task_id;           /* may be empty */
};

struct audit_log;

/* Start the log (and, in async mode, its writers).  *out is NULL on
 * error (MANDATE_EINVAL, MANDATE_ENOMEM, MANDATE_EINTERNAL). */
int audit_open(const struct audit_options *opt, struct audit_log **out);

/* Stop: in async mode, append what is queued (one attempt each; records
 * that still fail are counted and logged as lost), then free.  NULL is
 * fine.  No audit_record() may be in flight. */
void audit_close(struct audit_log *l);

/*
 * Record one event.  fields (a JSON object, or NULL for {}) is consumed.
 * Before anything is stored: "policy_hash" is added (see
 * audit_set_policy_hash) unless fields has one; a string "prompt" member longer than
 * prompt_max is redacted (redact_text) and then cut at a UTF-8 boundary
 * that splits no HMAC, and "prompt_truncated": true and "prompt_bytes":
 * <original size> are added; then the fields are written
 * as they would be after redact_fields() (redact_dump(): the values
 * nested in fields are only read, so they may be shared with the
 * caller's own), and request_id and agent are replaced by their HMAC if
 * they look like secrets.  Over-long ids are stored empty.  A record
 * still over STORE_MAX_JSON is redacted in a copy and every member over
 * 4 KiB replaced by its size and HMAC; if it is still too long,
 * MANDATE_ELIMIT.
 * MANDATE_OK: stored (sync) or queued (async); *id (may be NULL) is the
 * record's id in sync mode, 0 in async mode.  Any other status: not
 * recorded; fail closed.
 */
int audit_record(struct audit_log *l, const struct audit_event *e,
    json_t *fields, int64_t *id);

/* Told once when a record of audit_record_async is durable (status
 * MANDATE_OK and its id) or is not (any other status: fail closed).
 * Called from a writer thread, or from audit_record_async itself. */
typedef void audit_done_fn(void *arg, int status, int64_t id);

/*
 * audit_record() without waiting in the caller's thread: the record is
 * checked, redacted and serialised here, then in sync mode queued for
 * the log's writer thread, which appends it (group commit) and calls
 * done(arg, status, id), possibly before this returns.  A record that
 * fails in the store is not retried: done reports it.  In async mode it
 * is audit_record(), and done is called with MANDATE_OK before it
 * returns when the record is queued.  MANDATE_OK: done is called
 * exactly once.  Any other status: not recorded, done is never called;
 * fail closed.  fields is consumed.
 */
int audit_record_async(struct audit_log *l, const struct audit_event *e,
    json_t *fields, audit_done_fn *done, void *arg);

/*
 * audit_record() (done NULL: id as there) or audit_record_async() (with
 * done) of the fields object made of the members m[0..n), in that order,
 * without the caller building it: for records made on every request (a
 * decision), which need no allocation per member then.  The stored text
 * is the same as that of the equivalent object (redact.h,
 * redact_dump_members).  At most 32 members, names distinct.  Strings
 * and JSON values are only read, during the call.
 */
int audit_record_members(struct audit_log *l, const struct audit_event *e,
    const struct redact_member *m, size_t n, audit_done_fn *done,
    void *arg, int64_t *id);

/*
 * For the token service: append a credential row c and its prepared
 * record e (audit_prepare) in one transaction, as
 * store_cred_insert_audited does, on the writer thread, then call
 * done(arg, status, id) as audit_record_async does.  Sync mode only
 * (MANDATE_EINVAL otherwise: write them yourself).  c is copied; the
 * strings of c and e must stay valid until done is called.  MANDATE_OK:
 * done is called exactly once; any other status: nothing is written.
 */
int audit_issue_async(struct audit_log *l, const struct store_credential *c,
    const struct store_audit_event *e, audit_done_fn *done, void *arg);

/*
 * For a task-bound decision: record dec (store_decision_record at time
 * now: the budget, the session) and its audit record in one transaction
 * on the writer thread; the record is asked of build_fn (store.h,
 * store_append) once the outcome is known, and should be made with
 * audit_prepare.  Then done(arg, status, id) as audit_record_async.
 * Both modes: in async mode too, done is called once the transaction is
 * committed (the decision's state must be before its answer, and its
 * record rides along), behind the records queued before it.  dec is
 * copied; its strings, and what build_fn uses, must stay valid until
 * done is called.
 */
int audit_decision_async(struct audit_log *l, const struct store_decision *dec,
    int64_t now, store_decision_event_fn *build_fn, void *build_arg,
    audit_done_fn *done, void *arg);

/* The version hash of the policy set in force (64 hex digits, or ""):
 * added as "policy_hash" to every later record whose fields do not have
 * one.  Called when the policies are (re)loaded. */
void audit_set_policy_hash(struct audit_log *l, const char *hash);

/*
 * For a component that appends a record itself, in a transaction of its
 * own (the token service writes a credential and its record in one
 * commit): the same checks, policy hash and redaction as audit_record(),
 * without the append.  fields is consumed; *out is filled with strings
 * in the arena.  Report the append's outcome with audit_report().
 */
int audit_prepare(struct audit_log *l, const struct audit_event *e,
    json_t *fields, struct arena *a, struct store_audit_event *out);

/* audit_prepare() of the fields object made of the members m[0..n) (at
 * least one), as audit_record_members() writes it. */
int audit_prepare_members(struct audit_log *l, const struct audit_event *e,
    const struct redact_member *m, size_t n, struct arena *a,
    struct store_audit_event *out);

/* The outcome of such an append (status, and the record's id when it
 * succeeded): counts, health, the appended callback.  NULL l is fine. */
void audit_report(struct audit_log *l, int status, int64_t id);

/* False from a failed append until one succeeds. */
bool audit_healthy(struct audit_log *l);

/* For a readiness check: when unhealthy in sync mode, append an
 * audit.recovered record (when the log stopped taking records, how many
 * appends failed) and count its success as the write that makes the log
 * healthy again (otherwise a log nobody writes to, because it is not
 * ready, would never recover; and only a record proves that records fit).
 * In async mode the writers' retries do this.  Returns audit_healthy()
 * afterwards. */
bool audit_probe(struct audit_log *l, int64_t now);

/* Counters for metrics and tests. */
struct audit_stats {
	uint64_t appended;            /* records durable */
	uint64_t failed;              /* append attempts that failed */
	uint64_t refused;             /* audit_record calls that failed */
	uint64_t lost;                /* async records dropped at close */
	size_t queued;                /* async records waiting now */
};
void audit_get_stats(struct audit_log *l, struct audit_stats *out);

#endif

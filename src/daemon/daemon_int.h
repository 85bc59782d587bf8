/*
 * daemon_int.h - what the daemon's files share: the struct daemon, its
 * logger, caller authentication and the task request model.
 *
 * Not part of the public interface: only the src/daemon sources and the daemon's
 * unit tests and fuzz target include it.
 */
#ifndef MANDATE_DAEMON_INT_H
#define MANDATE_DAEMON_INT_H

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>

#include "audit/audit.h"
#include "audit/redact.h"
#include "audit/writer.h"
#include "daemon/daemon.h"
#include "server/http.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/json.h"
#include "util/str.h"

/* Bounds on a task request (bytes unless said otherwise). */
#define DAEMON_MAX_OBJECTIVE   4096
#define DAEMON_MAX_ACTION      256
#define DAEMON_MAX_RESOURCE    2048
#define DAEMON_MAX_REASON      1024
#define DAEMON_MAX_JSON_DEPTH  16       /* request bodies, constraints */
#define DAEMON_MAX_CONSTRAINTS 16384    /* one intent's constraints JSON */
#define DAEMON_MAX_INTENTS_JSON STORE_MAX_JSON   /* all of them, as stored */

/* The open loopback caller's name (api_auth.open_on_loopback).  No
 * verified token may name it, on the API or at the token endpoint: an
 * OIDC issuer without a subject_prefix can write any sub. */
#define DAEMON_LOOPBACK_CALLER "dev:loopback"

enum daemon_log_level {
	DLOG_DEBUG = 0,
	DLOG_INFO,
	DLOG_WARN,
	DLOG_ERROR,
};

struct identity_verifier;
struct audit_tree_cache;
struct jose_key;
struct sts;

/* Seconds between key maintenance runs (sts_keys_tick); shorter when
 * tokens.publish_delay is. */
#define DAEMON_TICK_S 5

struct daemon {
	struct config *cfg;
	FILE *log;
	pthread_mutex_t log_lock;
	struct store *store;
	struct redact *redact;             /* the audit log's redaction */
	struct audit_log *audit;           /* every record goes through it */
	struct identity_verifier *idv;     /* NULL without issuers */
	struct sts *sts;
	struct http_server *srv;
	struct http_metrics *metrics;
	struct http_metric *m_tasks;       /* mandate_tasks_total{event} */
	struct http_metric *m_decisions;   /* mandate_decisions_total{...} */
	struct http_metric *m_tokens;      /* mandate_tokens_total{result} */
	struct http_metric *m_reloads;     /* mandate_policy_reloads_total{result} */
	/* the current snapshot; readers take a reference under policy_lock
	 * so that a swap cannot free it between the load and the increment */
	struct daemon_policies *_Atomic policies;
	pthread_mutex_t policy_lock;
	/* one swap at a time, its audit record written first: held across
	 * the record's write, which policy_lock (taken by every evaluation)
	 * is not */
	pthread_mutex_t swap_lock;
	/* one reload at a time (SIGHUP, file watch, POST /v1/policies/reload);
	 * policy_fp is the watched files' fingerprint at the last attempt */
	pthread_mutex_t reload_lock;
	_Atomic uint64_t policy_fp;
	/* the watch's last sighting of a changed fingerprint (main thread
	 * only): a change is loaded once seen twice in a row */
	uint64_t watch_pending;
	bool started;
	_Atomic bool store_writable;   /* the last readiness check's store write */
	bool stopped;
	bool locks_ok;
	/* <data_dir>/mandate.lock, flock'ed for the daemon's life: one
	 * daemon per data directory (-1 until taken) */
	int lock_fd;
	/* --listen HOST:0: the free port picked before the configuration is
	 * loaded (so that tokens.issuer names it), held bound until the
	 * server listens on it (-1: none) */
	int port_hold_fd;
	/* SIGTERM/SIGINT/SIGHUP go to a self-pipe from daemon_start on, so
	 * a signal that arrives once the daemon answers is never lost */
	bool sig_installed;
	int sig_fds[2];
	struct sigaction sig_old[4];   /* TERM, INT, HUP, PIPE */
	/* the audit log's checkpoints (api_audit_log.c) */
	struct jose_key *audit_key;
	struct audit_tree_cache *audit_cache;  /* subtree hashes for proofs */
	pthread_mutex_t audit_mu;          /* serialises checkpoint making */
	bool audit_mu_ok;
	_Atomic int64_t audit_ckpt_size;   /* size of the last checkpoint */
	int64_t audit_ckpt_time;           /* when it was made */
	/* decision ids (agent_ctx.c): a random prefix drawn at start and a
	 * counter; unique, not secret */
	unsigned char decision_prefix[8];
	_Atomic uint64_t decision_next;
};

/* One log line (JSON or text per configuration); thread-safe.  The line
 * is valid UTF-8 (a broken sequence becomes '?'); text lines carry no
 * control, line-separator or bidi character ('?' again), JSON lines are
 * ASCII.  A message that starts "request <id>: " is about a request and
 * holds what its client sent: it is redacted by the audit log's text
 * rules (docs/audit-records.md) before it is written. */
void daemon_log(struct daemon *d, enum daemon_log_level lvl,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

/* ---- callers ---- */

struct api_caller {
	const char *principal;     /* "dev:loopback", or a verified subject
	                            * (an OIDC issuer's subject_prefix +
	                            * sub: identity.h) */
	const char *kind;          /* "loopback", "spiffe", "oidc" */
	const char *issuer;        /* identity issuer name; "" for loopback */
};

/* Authenticate the caller of req.  1 with *out filled, or 0 after
 * answering 401 with WWW-Authenticate (RFC 6750). */
int api_authenticate(struct daemon *d, struct http_request *req,
    struct api_caller *out);

struct json_t;

/* Ask the policies: principal Delegator::"<caller>", the action
 * Action::"<action>", resource <rtype>::"<rid>".  MANDATE_OK with *allow
 * set; any error means deny (and is logged).  context (a JSON object) is
 * consumed; *reasons gets the determining policies (json_decref it). */
int api_decide(struct daemon *d, struct http_request *req,
    const char *caller, const char *action, const char *rtype,
    struct str rid, struct json_t *context, bool *allow,
    struct json_t **reasons);

/* api_decide() asked of the policy snapshot p (a reference the caller
 * holds; NULL: the current one).  A question that is part of a larger
 * decision (mandate:use_task inside an evaluation) is asked of the
 * snapshot that decision is made with: a reload between the two must
 * not let a call through that neither the old nor the new policies
 * permit. */
int api_decide_in(struct daemon *d, const struct daemon_policies *p,
    struct http_request *req, const char *caller, const char *action,
    const char *rtype, struct str rid, struct json_t *context, bool *allow,
    struct json_t **reasons);

/* May the caller, who is not its delegator, do action (mandate:read_task,
 * mandate:end_task, mandate:use_task) on task t?  Asked of the policies
 * (snapshot p, as for api_decide_in; NULL: the current one) with context
 * {caller, task}; any error is a deny.  *reasons (may be NULL) gets the
 * permitting policies. */
struct store_task;
bool api_task_other_may(struct daemon *d, const struct daemon_policies *p,
    struct http_request *req, const struct api_caller *caller,
    const char *action, const struct store_task *t,
    struct json_t **reasons);

/* Append an audit event (time now, the request's id) through the audit
 * log (src/audit: size limits, redaction, sync/async); fields (a JSON
 * object) is consumed.  "policy_hash" (the current snapshot's version,
 * audit_set_policy_hash) is added unless fields has it.  MANDATE_OK: recorded (durable in sync
 * mode); anything else: not recorded, the caller fails closed.  Failures
 * are logged.  With audit.decisions off, "decision" events are skipped
 * (MANDATE_OK). */
int api_audit(struct daemon *d, struct http_request *req, const char *type,
    struct str agent, struct str task_id, struct json_t *fields);

/* api_audit() with the fields given as members (redact.h,
 * audit_record_members): for the records made on every request. */
int api_audit_members(struct daemon *d, struct http_request *req,
    const char *type, struct str agent, struct str task_id,
    const struct redact_member *m, size_t n);

/* api_audit()'s record made ready for the store but not written
 * (audit_prepare: the deciding policy version, redaction), for a
 * store_*_audited call to write in the commit of the change it records,
 * so that a crash cannot leave the change without it.  fields (a JSON
 * object, may be NULL: ENOMEM) is consumed; *ev lives in req's arena.
 * May be called from another thread than req's while req's waits (a
 * store callback run by the group commit's leader).  Failures are
 * logged; the caller makes no change (fail closed). */
int api_audit_prepare(struct daemon *d, struct http_request *req,
    const char *type, int64_t time, struct str agent, struct str task_id,
    struct json_t *fields, struct store_audit_event *ev);

/* Did a change written with its record (a store_*_audited call, or the
 * record's api_audit_prepare before it) fail for the record's or the
 * store's sake, rather than being refused by the state it met (ENOTFOUND,
 * ECONFLICT, ELIMIT)?  A change that only takes access away (a task's
 * end, the kill switch, a token's revocation, an outcome's labels) is
 * then made alone and its record tried on its own, as before they were
 * one commit: with the audit log down an operator must still be able to
 * stop an agent.  That answer is 500 unless the record is written. */
bool api_restrict_alone(int r);

/* api_audit() for a record no answer waits for: a refusal whose answer
 * must not tell, by the time it takes, that there was something to
 * record (a 404 that stands for "unknown" too).  The record is queued for
 * the log's writer and written just after the answer in sync mode (in
 * async mode as every record is); a failure, now or then, is logged.
 * MANDATE_OK when queued. */
int api_audit_queued(struct daemon *d, struct http_request *req,
    const char *type, struct str agent, struct str task_id,
    struct json_t *fields);

/* The same without a request (start-up, reloads): request_id may be
 * NULL. */
int daemon_audit(struct daemon *d, const char *request_id, const char *type,
    struct str agent, struct str task_id, struct json_t *fields);

/* Record the current policy snapshot (its version hash, origin and
 * counts) as an event of this type ("policy.loaded", "policy.reloaded"). */
int daemon_audit_policies(struct daemon *d, const char *type);

/* Cedar skips a policy whose evaluation errors.  A skipped forbid would
 * let caller-shaped data (a missing attribute, a string where a number
 * was meant) switch a guard rail off, so unless policies.on_forbid_error
 * is skip, a permit with an erroring forbid becomes a deny whose reasons
 * are those forbids.  MANDATE_ENOMEM when the reasons cannot be made
 * (the decision is a deny then too). */
int daemon_forbid_errors(const struct daemon *d, struct arena *a,
    struct cedar_decision *dec);

/* Register the tasks API and the kill switch. */
int api_tasks_register(struct daemon *d, struct http_server *srv);

/* Register the OAuth endpoints (token, introspect, revoke, JWKS,
 * metadata). */
int api_oauth_register(struct daemon *d, struct http_server *srv);

/* Register GET /v1/audit (api_audit_query.c). */
int api_audit_query_register(struct daemon *d, struct http_server *srv);

/* Unix seconds or an RFC 3339 date-time (as in GET /v1/audit's from and
 * to) into *out; MANDATE_EINVAL otherwise. */
int api_audit_parse_time(struct str s, int64_t *out);

/* Register the AuthZEN Authorization API (api_authzen.c). */
int api_authzen_register(struct daemon *d, struct http_server *srv);

/* ---- tokens.issuer as a URL (api_issuer.c) ---- */

/* The issuer iss split: *base without its trailing slashes (what the
 * endpoints are advertised under), *origin its scheme and authority
 * ("https://gw.example"), *path its path ("/pdp"; empty when it has
 * none, then *origin is *base).  All point into iss. */
void api_issuer_parts(const char *iss, struct str *base, struct str *origin,
    struct str *path);

struct api_route {
	const char *method, *path;
	http_handler_fn fn;
};

/* When tokens.issuer has a path, register the routes again under it, and
 * metadata at well_known followed by that path (RFC 8414 section 3,
 * AuthZEN).  A path the router cannot take as it is (a {param} segment,
 * too long) is not served there, and the log says so naming what. */
int api_register_under_issuer(struct daemon *d, struct http_server *srv,
    const struct api_route *routes, size_t n_routes, const char *well_known,
    http_handler_fn metadata, const char *what);

/* ---- policy reload (daemon_reload.c) ---- */

/* Build a new snapshot from the configured files and publish it; on any
 * error the current one stays and the diagnostics are logged.  why says
 * who asked (for the log).  *diag (may be NULL) gets the diagnostics
 * (malloc'd text, free() it; NULL when there are none).  *in_force (may
 * be NULL) gets a reference to the snapshot this reload published
 * (daemon_policies_put() it), which another reload may already have
 * replaced; NULL on error.  *refused (may be NULL) says whether an
 * error was the new set's (the loader's status: a file that cannot be
 * read, a parse, validation or entity error; the diagnostics say which)
 * or the swap's (MANDATE_EIO: the replacement's audit record could not
 * be written).  MANDATE_OK, or the status. */
int daemon_policies_reload(struct daemon *d, const char *why, char **diag,
    struct daemon_policies **in_force, bool *refused);

/* The same for the file watch, but a set whose hash is the one in force
 * (a touch, an editor's swap file, the same text written again) is not
 * swapped in again nor recorded; counted as "unchanged". */
int daemon_policies_reload_if_changed(struct daemon *d, const char *why);

/* A fingerprint of the policy, schema and entity files (name, size,
 * modification time, inode; for directories their *.cedar entries). */
uint64_t daemon_policies_fingerprint(const struct config *cfg);

/* Register POST /v1/policies/reload. */
int api_reload_register(struct daemon *d, struct http_server *srv);

/* Register the signing-key API (GET /v1/keys, POST /v1/keys/rotate). */
int api_keys_register(struct daemon *d, struct http_server *srv);

/* Register outcome reporting (POST /v1/decisions/{id}/outcome). */
int api_decisions_register(struct daemon *d, struct http_server *srv);
/* ---- the audit log's tree heads (api_audit_log.c) ---- */

/* Load or create the audit key (audit.key_file) and read the last
 * checkpoint; after the store is open.  Errors are logged. */
int daemon_audit_open(struct daemon *d);

/* Release what daemon_audit_open took; safe on a partly opened daemon. */
void daemon_audit_close(struct daemon *d);

enum daemon_audit_when {
	DAUDIT_APPENDED = 0,   /* after an append: audit.checkpoint_every */
	DAUDIT_TICK,           /* periodic: every or checkpoint_interval */
	DAUDIT_NOW,            /* whenever the tree grew (shutdown, GET) */
};

/* Sign, store and export a checkpoint of the current tree when one is
 * due.  MANDATE_OK also when none was due; errors are logged. */
int daemon_audit_checkpoint(struct daemon *d, enum daemon_audit_when when);

/* After an append that got event id: a checkpoint when
 * audit.checkpoint_every is reached (a lock-free test first: the hot
 * path pays one atomic load). */
void daemon_audit_appended(struct daemon *d, int64_t id);

/* Register GET /v1/audit/checkpoint and /v1/audit/proof/{inclusion,
 * consistency}. */
int api_audit_log_register(struct daemon *d, struct http_server *srv);

/* ---- the task request model (api_task_parse.c) ---- */

enum daemon_sensitivity {
	DAEMON_SENS_PUBLIC = 0,
	DAEMON_SENS_INTERNAL = 1,
	DAEMON_SENS_CONFIDENTIAL = 2,
	DAEMON_SENS_RESTRICTED = 3,
};

/* "public"... or NULL for a value outside the enum. */
const char *daemon_sensitivity_name(int64_t s);

enum daemon_agent_kind {
	DAEMON_AGENT_SPIFFE = 0,
	DAEMON_AGENT_SUBJECT = 1,
};

struct daemon_intent {
	struct str action;
	struct str resource;       /* STR_NULL when absent */
	struct str constraints;    /* the raw JSON object text, or STR_NULL */
};

struct daemon_task_request {
	struct str agent;
	enum daemon_agent_kind agent_kind;
	struct str trust_domain;   /* SPIFFE agents; empty otherwise */
	struct str objective;
	struct daemon_intent *intents;
	size_t n_intents;
	struct str intents_json;   /* as stored (daemon_intents_json), at most
	                              DAEMON_MAX_INTENTS_JSON, NUL-terminated */
	int sensitivity;           /* enum daemon_sensitivity */
	uint64_t ttl;              /* seconds, after defaults and the cap */
	int64_t call_budget;       /* INT64_MAX: unlimited */
};

/* Limits and defaults of task creation (from struct config_tasks). */
struct daemon_task_limits {
	uint64_t default_ttl, max_ttl;
	unsigned default_call_budget, max_call_budget;   /* 0: unlimited */
	unsigned max_intents;
};

/* Parse a POST /v1/tasks body into *out (strings point into body or the
 * arena).  MANDATE_OK, or MANDATE_EPARSE/EINVAL/ELIMIT/ENOMEM with a
 * client-safe message in err.  Every request it accepts can be stored:
 * the intents are serialized here and refused (ELIMIT) when the store
 * could not keep them. */
int daemon_task_request_parse(struct arena *a, const char *body, size_t len,
    const struct daemon_task_limits *lim, struct daemon_task_request *out,
    char *err, size_t err_len);

/* Check an agent id: a SPIFFE ID (spiffe://trust-domain/path, the
 * SPIFFE syntax rules) or an OIDC subject (1..STORE_MAX_NAME bytes, no C0
 * control or DEL, not "." or "..").  Every id it takes can be named in
 * the kill switch's path (POST /v1/agents/{id}/revoke).  Task creation
 * refuses C1 controls (U+0080-U+009F) too, but the kill switch takes
 * them: earlier versions made tasks for such agents.  MANDATE_OK with the
 * kind and trust domain (a slice of id), or MANDATE_EINVAL with a
 * message. */
int daemon_agent_id_check(struct str id, enum daemon_agent_kind *kind,
    struct str *trust_domain, char *err, size_t err_len);

/* The intents as stored (store_task.intents_json): a JSON array of
 * {"action": s[, "resource": s][, "constraints": {...}]}.  Malloc'd C
 * string (free()), NULL on ENOMEM. */
char *daemon_intents_json(const struct daemon_task_request *t);

/* The expires_at of a task of ttl seconds (>= 1, at most UINT32_MAX)
 * created at now, a time(2) that rounded the real instant down: the
 * first whole second after that instant plus ttl, now + ttl + 1, so that
 * the task lives at least ttl seconds (and at most ttl + 1) wherever in
 * its second it was created.  It is over at expires_at <= now, as every
 * check of the store counts it, and no credential outlives it. */
int64_t daemon_task_expires_at(int64_t now, uint64_t ttl);

/* `Type::"id"` with the id escaped for Cedar, in the arena; NULL on
 * ENOMEM. */
char *daemon_cedar_uid(struct arena *a, const char *type, struct str id);

#endif

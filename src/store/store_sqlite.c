/*
 * store_sqlite.c - the SQLite backend of struct store_ops.
 *
 * One database file in WAL mode (readers never block the writer), foreign
 * keys on, synchronous=FULL (an acknowledged write, such as an audit
 * event, survives a power cut), a busy timeout for writers that meet.
 * Thread safety: a small pool of connections guarded by a mutex and a
 * condition variable; each call borrows one connection for its duration
 * and uses that connection's cache of prepared statements, so no SQLite
 * object is ever used by two threads at once.  Operations that touch
 * several rows run in BEGIN IMMEDIATE transactions (the write lock is
 * taken up front, so the busy timeout applies and nothing deadlocks on a
 * lock upgrade).  Every SQLite result is checked and mapped to a
 * MANDATE_* code; SQLite's message goes to the log callback.
 *
 * Group commit: the hot inserts (cred_insert, audit_append, and
 * cred_insert_audited, which writes both rows of one issuance) are
 * queued, and the first caller that finds no leader at work becomes the
 * leader: it takes up to GC_BATCH_MAX pending writes, runs them in one
 * BEGIN IMMEDIATE ... COMMIT (one fsync for the batch), then wakes every
 * caller with its own result.  A constraint failure fails only its own
 * write: the batch is then run again with each write inside its own
 * SAVEPOINT (the common batch, where every write succeeds, needs none).
 * Callers that arrive while a batch commits wait, and the next of them to
 * wake leads the next batch.
 * No timers: a lone caller leads at once and commits immediately.  A
 * caller returns only after its write is durable (or failed).  Audit ids
 * are assigned in queue order within a batch and batches commit one after
 * another, so ids increase in commit order.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <semaphore.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit/audit.h"
#include "store/sqlite_walbuf.h"
#include "store/store.h"
#include "util/status.h"

/* --- schema ----------------------------------------------------------- */

/* The audit log's Merkle tree (src/audit, docs/audit.md): one leaf hash
 * per event, index = position in id order, written in the append's
 * transaction; signed tree heads.  Both append-only.  The leaves of events
 * written before this migration are computed right after it
 * (backfill_leaves, found by this pointer, not by its number), in the
 * same transaction. */
static const char migration_audit_tree[] =
	"CREATE TABLE audit_leaves ("
	" idx INTEGER PRIMARY KEY CHECK (idx >= 0),"
	" event_id INTEGER NOT NULL UNIQUE REFERENCES audit_events (id),"
	" leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32)"
	") STRICT;"
	"CREATE TABLE audit_checkpoints ("
	" tree_size INTEGER PRIMARY KEY CHECK (tree_size >= 1),"
	" root_hash BLOB NOT NULL CHECK (length(root_hash) = 32),"
	" time INTEGER NOT NULL,"
	" signed TEXT NOT NULL"
	") STRICT;"
	"CREATE TRIGGER audit_leaves_no_update BEFORE UPDATE ON audit_leaves"
	" BEGIN SELECT RAISE(ABORT, 'audit_leaves is append-only'); END;"
	"CREATE TRIGGER audit_leaves_no_delete BEFORE DELETE ON audit_leaves"
	" BEGIN SELECT RAISE(ABORT, 'audit_leaves is append-only'); END;"
	"CREATE TRIGGER audit_checkpoints_no_update BEFORE UPDATE ON"
	" audit_checkpoints BEGIN SELECT RAISE(ABORT,"
	" 'audit_checkpoints is append-only'); END;"
	"CREATE TRIGGER audit_checkpoints_no_delete BEFORE DELETE ON"
	" audit_checkpoints BEGIN SELECT RAISE(ABORT,"
	" 'audit_checkpoints is append-only'); END;";

/* The audit tables rebuilt for cheaper appends (every record is one row
 * of each, written in the writer's group commits; measured with batches
 * of 16 records, 10.4 -> 8.1 us of CPU per record):
 *  - audit_events without AUTOINCREMENT: SQLite then keeps no
 *    sqlite_sequence row, which every commit rewrote (a page of the WAL).
 *    Ids stay max + 1: no row is ever deleted (the triggers), so none is
 *    reused.
 *  - audit_leaves without the UNIQUE index and the foreign key on
 *    event_id: each was one more B-tree to write or look up per record.
 *    A leaf and its event are written together by one append, and their
 *    correspondence is what `mandate audit verify` checks, naming the
 *    first leaf whose event is missing or out of order.
 * Rows are copied as they are; the renamed tables are dropped child
 * first; the append-only triggers come back on the new tables. */
static const char migration_audit_lean[] =
	"DROP TRIGGER audit_leaves_no_update;"
	"DROP TRIGGER audit_leaves_no_delete;"
	"DROP TRIGGER audit_events_no_update;"
	"DROP TRIGGER audit_events_no_delete;"
	"ALTER TABLE audit_leaves RENAME TO audit_leaves_v4;"
	"ALTER TABLE audit_events RENAME TO audit_events_v4;"
	"CREATE TABLE audit_events ("
	" id INTEGER PRIMARY KEY,"
	" time INTEGER NOT NULL,"
	" type TEXT NOT NULL,"
	" request_id TEXT NOT NULL,"
	" agent TEXT NOT NULL,"
	" task_id TEXT NOT NULL,"
	" fields_json TEXT NOT NULL"
	") STRICT;"
	"INSERT INTO audit_events (id, time, type, request_id, agent, task_id,"
	" fields_json) SELECT id, time, type, request_id, agent, task_id,"
	" fields_json FROM audit_events_v4 ORDER BY id;"
	"CREATE TABLE audit_leaves ("
	" idx INTEGER PRIMARY KEY CHECK (idx >= 0),"
	" event_id INTEGER NOT NULL,"
	" leaf_hash BLOB NOT NULL CHECK (length(leaf_hash) = 32)"
	") STRICT;"
	"INSERT INTO audit_leaves (idx, event_id, leaf_hash) SELECT idx,"
	" event_id, leaf_hash FROM audit_leaves_v4 ORDER BY idx;"
	"DROP TABLE audit_leaves_v4;"
	"DROP TABLE audit_events_v4;"
	"CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events"
	" BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;"
	"CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events"
	" BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;"
	"CREATE TRIGGER audit_leaves_no_update BEFORE UPDATE ON audit_leaves"
	" BEGIN SELECT RAISE(ABORT, 'audit_leaves is append-only'); END;"
	"CREATE TRIGGER audit_leaves_no_delete BEFORE DELETE ON audit_leaves"
	" BEGIN SELECT RAISE(ABORT, 'audit_leaves is append-only'); END;";

/* Migration i (0-based) takes the schema from version i to version i + 1.
 * Append new versions; never edit a released one. */
static const char *const migrations[] = {
	/* 1: the tables */
	"CREATE TABLE tasks ("
	" id TEXT PRIMARY KEY,"
	" agent TEXT NOT NULL,"
	" delegator TEXT NOT NULL,"
	" act_json TEXT NOT NULL,"
	" objective TEXT NOT NULL,"
	" intents_json TEXT NOT NULL,"
	" sensitivity INTEGER NOT NULL,"
	" created_at INTEGER NOT NULL,"
	" expires_at INTEGER NOT NULL,"
	" call_budget INTEGER NOT NULL CHECK (call_budget >= 1),"
	" calls_used INTEGER NOT NULL DEFAULT 0"
	"  CHECK (calls_used >= 0 AND calls_used <= call_budget),"
	" state INTEGER NOT NULL DEFAULT 0 CHECK (state IN (0, 1, 2)),"
	" ended_at INTEGER NOT NULL DEFAULT 0,"
	" reason TEXT NOT NULL DEFAULT ''"
	") STRICT;"
	"CREATE INDEX tasks_by_agent ON tasks (agent, created_at, id);"
	"CREATE TABLE credentials ("
	" jti TEXT PRIMARY KEY,"
	" task_id TEXT NOT NULL REFERENCES tasks (id),"
	" agent TEXT NOT NULL,"
	" audience TEXT NOT NULL,"
	" issued_at INTEGER NOT NULL,"
	" expires_at INTEGER NOT NULL,"
	" cnf_jkt TEXT NOT NULL,"
	" revoked INTEGER NOT NULL DEFAULT 0 CHECK (revoked IN (0, 1)),"
	" revoked_at INTEGER NOT NULL DEFAULT 0"
	") STRICT;"
	"CREATE INDEX credentials_by_task ON credentials (task_id);"
	"CREATE INDEX credentials_by_agent ON credentials (agent, revoked);"
	"CREATE TABLE agent_revocations ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" agent TEXT NOT NULL,"
	" revoked_at INTEGER NOT NULL,"
	" revoked_by TEXT NOT NULL,"
	" reason TEXT NOT NULL"
	") STRICT;"
	"CREATE INDEX agent_revocations_by_agent"
	" ON agent_revocations (agent, revoked_at);"
	"CREATE TABLE signing_keys ("
	" kid TEXT PRIMARY KEY,"
	" alg TEXT NOT NULL,"
	" public_jwk TEXT NOT NULL,"
	" state INTEGER NOT NULL CHECK (state IN (0, 1, 2)),"
	" created_at INTEGER NOT NULL,"
	" activated_at INTEGER NOT NULL DEFAULT 0,"
	" retire_after INTEGER NOT NULL DEFAULT 0"
	") STRICT;"
	"CREATE TABLE audit_events ("
	" id INTEGER PRIMARY KEY AUTOINCREMENT,"
	" time INTEGER NOT NULL,"
	" type TEXT NOT NULL,"
	" request_id TEXT NOT NULL,"
	" agent TEXT NOT NULL,"
	" task_id TEXT NOT NULL,"
	" fields_json TEXT NOT NULL"
	") STRICT;"
	"CREATE TABLE health ("
	" id INTEGER PRIMARY KEY CHECK (id = 1),"
	" checked_at INTEGER NOT NULL"
	") STRICT;",

	/* 2: invariants the database enforces itself: audit rows are never
	 * updated or deleted; at most one active signing key. */
	"CREATE TRIGGER audit_events_no_update BEFORE UPDATE ON audit_events"
	" BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;"
	"CREATE TRIGGER audit_events_no_delete BEFORE DELETE ON audit_events"
	" BEGIN SELECT RAISE(ABORT, 'audit_events is append-only'); END;"
	"CREATE UNIQUE INDEX signing_keys_one_active ON signing_keys (state)"
	" WHERE state = 1;",

	/* 3: agent sessions and decisions (issue 4): what each task has
	 * read (kind 0: labels) and done (kind 1: action -> permitted
	 * count), and every decision made for a task with its reported
	 * outcome (0 none, 1 success, 2 failure). */
	"CREATE TABLE decisions ("
	" id TEXT PRIMARY KEY,"
	" task_id TEXT NOT NULL REFERENCES tasks (id),"
	" caller TEXT NOT NULL,"
	" action TEXT NOT NULL,"
	" resource TEXT NOT NULL,"
	" permit INTEGER NOT NULL CHECK (permit IN (0, 1)),"
	" time INTEGER NOT NULL,"
	" outcome INTEGER NOT NULL DEFAULT 0 CHECK (outcome IN (0, 1, 2)),"
	" outcome_at INTEGER NOT NULL DEFAULT 0,"
	" labels_json TEXT NOT NULL DEFAULT ''"
	") STRICT;"
	"CREATE INDEX decisions_by_task ON decisions (task_id, time);"
	"CREATE TABLE task_sessions ("
	" task_id TEXT NOT NULL REFERENCES tasks (id),"
	" kind INTEGER NOT NULL CHECK (kind IN (0, 1)),"
	" name TEXT NOT NULL,"
	" count INTEGER NOT NULL DEFAULT 0,"
	" PRIMARY KEY (task_id, kind, name)"
	") STRICT, WITHOUT ROWID;",

	/* 4: the audit log's Merkle tree */
	migration_audit_tree,

	/* 5: the audit tables, leaner to append to */
	migration_audit_lean,

	/* 6: retention finds the tasks that are over through indexes, not
	 * by reading every task (ST_PRUNE_PICK) */
	"CREATE INDEX tasks_by_expiry ON tasks (expires_at);"
	"CREATE INDEX tasks_over ON tasks (ended_at) WHERE state != 0;",
};

#define SCHEMA_LATEST ((int)(sizeof(migrations) / sizeof(migrations[0])))

/* --- statements --------------------------------------------------------- */

#define TASK_COLS "id, agent, delegator, act_json, objective, intents_json," \
	" sensitivity, created_at, expires_at, call_budget, calls_used, state," \
	" ended_at, reason"
#define CRED_COLS "jti, task_id, agent, audience, issued_at, expires_at," \
	" cnf_jkt, revoked, revoked_at"
#define KEY_COLS "kid, alg, public_jwk, state, created_at, activated_at," \
	" retire_after"
#define AUDIT_COLS "id, time, type, request_id, agent, task_id, fields_json"

enum stmt_id {
	ST_BEGIN,
	ST_COMMIT,
	ST_ROLLBACK,
	ST_VERSION,
	ST_HEALTH_WRITE,
	ST_HEALTH_READ,
	ST_TASK_INSERT,
	ST_TASK_GET,
	ST_TASK_EXISTS,
	ST_TASK_END,
	ST_TASK_CREDS_REVOKE,
	ST_PRUNE_PICK,
	ST_PRUNE_SESSIONS,
	ST_PRUNE_DECISIONS,
	ST_PRUNE_CREDS,
	ST_PRUNE_TASK,
	ST_TASK_CONSUME,
	ST_TASK_COUNT_CALL,
	ST_TASK_CALLS_USED,
	ST_TASK_STATUS,
	ST_TASK_LIST,
	ST_REVOCATION_INSERT,
	ST_AGENT_TASKS_REVOKE,
	ST_AGENT_CREDS_REVOKE,
	ST_REVOCATION_LAST,
	ST_CRED_INSERT,
	ST_CRED_GET,
	ST_CRED_EXISTS,
	ST_CRED_REVOKE,
	ST_CRED_USABLE,
	ST_CRED_LIVE,
	ST_KEY_INSERT,
	ST_KEY_GET,
	ST_KEY_LIST,
	ST_KEY_RETIRE_OTHERS,
	ST_KEY_ACTIVATE,
	ST_KEY_RETIRE,
	ST_AUDIT_APPEND,
	ST_AUDIT_READ,
	ST_LEAF_NEXT,
	ST_LEAF_INSERT,
	ST_LEAF_READ,
	ST_CKPT_INSERT,
	ST_CKPT_LIST,
	ST_CKPT_LATEST,
	ST_SAVEPOINT,
	ST_SAVEPOINT_UNDO,
	ST_SAVEPOINT_RELEASE,
	ST_DEC_INSERT,
	ST_DEC_GET,
	ST_DEC_EXISTS,
	ST_DEC_OUTCOME,
	ST_DEC_TASK,
	ST_SESSION_COUNT,
	ST_SESSION_LABEL,
	ST_SESSION_READ,
	ST_SESSION_SIZE,
	ST_SESSION_LABELS,
	ST_COUNT
};

static const char *const stmt_sql[ST_COUNT] = {
	[ST_BEGIN] = "BEGIN IMMEDIATE",
	[ST_COMMIT] = "COMMIT",
	[ST_ROLLBACK] = "ROLLBACK",
	[ST_VERSION] = "SELECT version FROM schema_version WHERE id = 1",
	[ST_HEALTH_WRITE] = "INSERT INTO health (id, checked_at) VALUES (1, ?1)"
	    " ON CONFLICT (id) DO UPDATE SET checked_at = excluded.checked_at",
	[ST_HEALTH_READ] = "SELECT checked_at FROM health WHERE id = 1",
	/* not when the kill switch was pulled on the agent at or after the
	 * task's creation time: a creation that raced the kill switch (its
	 * decision before, its insert after) must not leave a live task the
	 * switch never saw */
	[ST_TASK_INSERT] = "INSERT INTO tasks (id, agent, delegator, act_json,"
	    " objective, intents_json, sensitivity, created_at, expires_at,"
	    " call_budget) SELECT ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10"
	    " WHERE NOT EXISTS (SELECT 1 FROM agent_revocations"
	    " WHERE agent = ?2 AND revoked_at >= ?8)",
	[ST_TASK_GET] = "SELECT " TASK_COLS " FROM tasks WHERE id = ?1",
	[ST_TASK_EXISTS] = "SELECT 1 FROM tasks WHERE id = ?1",
	/* an expired task is over already: ending it changes nothing, as
	 * the kill switch leaves it (ST_AGENT_TASKS_REVOKE) */
	[ST_TASK_END] = "UPDATE tasks SET state = 1, ended_at = ?2,"
	    " reason = ?3 WHERE id = ?1 AND state = 0 AND expires_at > ?2",
	[ST_TASK_CREDS_REVOKE] = "UPDATE credentials SET revoked = 1,"
	    " revoked_at = ?2 WHERE task_id = ?1 AND revoked = 0",
	/* retention: tasks over (ended, revoked or expired) at or before
	 * ?1, picked in a read; each then deleted in the write, children
	 * first (the foreign keys), the task last and only if still over.
	 * The pick reads two indexes (schema 6), and its two halves are
	 * disjoint, so that UNION ALL (which stops at the limit, where
	 * UNION would collect every match first) never names a task twice */
	[ST_PRUNE_PICK] = "SELECT id FROM tasks WHERE state != 0 AND"
	    " ended_at <= ?1 UNION ALL SELECT id FROM tasks WHERE"
	    " expires_at <= ?1 AND NOT (state != 0 AND ended_at <= ?1)"
	    " LIMIT ?2",
	[ST_PRUNE_SESSIONS] = "DELETE FROM task_sessions WHERE task_id = ?1",
	[ST_PRUNE_DECISIONS] = "DELETE FROM decisions WHERE task_id = ?1",
	[ST_PRUNE_CREDS] = "DELETE FROM credentials WHERE task_id = ?1",
	[ST_PRUNE_TASK] = "DELETE FROM tasks WHERE id = ?1 AND ((state != 0"
	    " AND ended_at <= ?2) OR expires_at <= ?2)",
	[ST_TASK_CONSUME] = "UPDATE tasks SET calls_used = calls_used + 1"
	    " WHERE id = ?1 AND state = 0 AND expires_at > ?2"
	    " AND calls_used < call_budget RETURNING calls_used",
	/* ST_TASK_CONSUME inside a transaction, without RETURNING: its
	 * ephemeral table made each count cost about 20 us more than this
	 * UPDATE and ST_TASK_CALLS_USED after it (the transaction's write
	 * lock keeps the two together) */
	[ST_TASK_COUNT_CALL] = "UPDATE tasks SET calls_used = calls_used + 1"
	    " WHERE id = ?1 AND state = 0 AND expires_at > ?2"
	    " AND calls_used < call_budget",
	[ST_TASK_CALLS_USED] = "SELECT calls_used FROM tasks WHERE id = ?1",
	[ST_TASK_STATUS] = "SELECT state, expires_at FROM tasks WHERE id = ?1",
	[ST_TASK_LIST] = "SELECT " TASK_COLS " FROM tasks WHERE agent = ?1"
	    " AND (created_at > ?2 OR (created_at = ?2 AND id > ?3))"
	    " ORDER BY created_at, id LIMIT ?4",
	[ST_REVOCATION_INSERT] = "INSERT INTO agent_revocations (agent,"
	    " revoked_at, revoked_by, reason) VALUES (?1, ?2, ?3, ?4)",
	[ST_AGENT_TASKS_REVOKE] = "UPDATE tasks SET state = 2, ended_at = ?2,"
	    " reason = ?3 WHERE agent = ?1 AND state = 0 AND expires_at > ?2",
	[ST_AGENT_CREDS_REVOKE] = "UPDATE credentials SET revoked = 1,"
	    " revoked_at = ?2 WHERE agent = ?1 AND revoked = 0",
	[ST_REVOCATION_LAST] = "SELECT agent, revoked_at, revoked_by, reason"
	    " FROM agent_revocations WHERE agent = ?1"
	    " ORDER BY revoked_at DESC, id DESC LIMIT 1",
	[ST_CRED_INSERT] = "INSERT INTO credentials (jti, task_id, agent,"
	    " audience, issued_at, expires_at, cnf_jkt)"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_CRED_GET] = "SELECT " CRED_COLS " FROM credentials WHERE jti = ?1",
	[ST_CRED_EXISTS] = "SELECT 1 FROM credentials WHERE jti = ?1",
	[ST_CRED_LIVE] = "SELECT count(*) FROM credentials WHERE jti = ?1"
	    " AND revoked = 0",
	[ST_CRED_REVOKE] = "UPDATE credentials SET revoked = 1,"
	    " revoked_at = ?2 WHERE jti = ?1 AND revoked = 0",
	[ST_CRED_USABLE] = "SELECT c.revoked, c.expires_at, t.state,"
	    " t.expires_at, EXISTS (SELECT 1 FROM agent_revocations r"
	    "  WHERE r.agent = c.agent AND r.revoked_at >= c.issued_at)"
	    " FROM credentials c JOIN tasks t ON t.id = c.task_id"
	    " WHERE c.jti = ?1",
	[ST_KEY_INSERT] = "INSERT INTO signing_keys (" KEY_COLS ")"
	    " VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_KEY_GET] = "SELECT " KEY_COLS " FROM signing_keys WHERE kid = ?1",
	[ST_KEY_LIST] = "SELECT " KEY_COLS " FROM signing_keys"
	    " ORDER BY created_at, kid LIMIT ?1",
	[ST_KEY_RETIRE_OTHERS] = "UPDATE signing_keys SET state = 2,"
	    " retire_after = ?2 WHERE state = 1 AND kid <> ?1",
	[ST_KEY_ACTIVATE] = "UPDATE signing_keys SET state = 1,"
	    " activated_at = ?2, retire_after = 0 WHERE kid = ?1",
	[ST_KEY_RETIRE] = "UPDATE signing_keys SET state = 2,"
	    " retire_after = ?2 WHERE kid = ?1",
	[ST_AUDIT_APPEND] = "INSERT INTO audit_events (time, type, request_id,"
	    " agent, task_id, fields_json) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
	[ST_AUDIT_READ] = "SELECT " AUDIT_COLS " FROM audit_events"
	    " WHERE id >= ?1 ORDER BY id LIMIT ?2",
	[ST_LEAF_NEXT] = "SELECT coalesce(max(idx) + 1, 0) FROM audit_leaves",
	[ST_LEAF_INSERT] = "INSERT INTO audit_leaves (idx, event_id,"
	    " leaf_hash) VALUES (?1, ?2, ?3)",
	[ST_LEAF_READ] = "SELECT idx, event_id, leaf_hash FROM audit_leaves"
	    " WHERE idx >= ?1 ORDER BY idx LIMIT ?2",
	[ST_CKPT_INSERT] = "INSERT INTO audit_checkpoints (tree_size,"
	    " root_hash, time, signed) VALUES (?1, ?2, ?3, ?4)",
	[ST_CKPT_LIST] = "SELECT tree_size, root_hash, time, signed FROM"
	    " audit_checkpoints WHERE tree_size > ?1 ORDER BY tree_size"
	    " LIMIT ?2",
	[ST_CKPT_LATEST] = "SELECT tree_size, root_hash, time, signed FROM"
	    " audit_checkpoints ORDER BY tree_size DESC LIMIT 1",
	[ST_SAVEPOINT] = "SAVEPOINT gc_write",
	[ST_SAVEPOINT_UNDO] = "ROLLBACK TO gc_write",
	[ST_SAVEPOINT_RELEASE] = "RELEASE gc_write",
	[ST_DEC_INSERT] = "INSERT INTO decisions (id, task_id, caller, action,"
	    " resource, permit, time) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
	[ST_DEC_GET] = "SELECT id, task_id, caller, action, resource, permit,"
	    " time, outcome, outcome_at, labels_json FROM decisions"
	    " WHERE id = ?1",
	[ST_DEC_EXISTS] = "SELECT 1 FROM decisions WHERE id = ?1",
	/* in a transaction, then ST_DEC_TASK when it changed the row (no
	 * RETURNING: see ST_TASK_COUNT_CALL) */
	[ST_DEC_OUTCOME] = "UPDATE decisions SET outcome = ?2,"
	    " outcome_at = ?3, labels_json = ?4 WHERE id = ?1 AND outcome = 0",
	[ST_DEC_TASK] = "SELECT task_id FROM decisions WHERE id = ?1",
	[ST_SESSION_COUNT] = "INSERT INTO task_sessions (task_id, kind, name,"
	    " count) VALUES (?1, 1, ?2, 1) ON CONFLICT (task_id, kind, name)"
	    " DO UPDATE SET count = count + 1",
	[ST_SESSION_LABEL] = "INSERT INTO task_sessions (task_id, kind, name,"
	    " count) VALUES (?1, 0, ?2, 0) ON CONFLICT DO NOTHING",
	[ST_SESSION_READ] = "SELECT kind, name, count FROM task_sessions"
	    " WHERE task_id = ?1 ORDER BY kind, name LIMIT ?2",
	[ST_SESSION_SIZE] = "SELECT count(*) FROM task_sessions"
	    " WHERE task_id = ?1",
	[ST_SESSION_LABELS] = "SELECT count(*) FROM task_sessions"
	    " WHERE task_id = ?1 AND kind = 0",
};

/* --- connections and the pool ------------------------------------------- */

/* store_audit_query's statements, one per direction and set of filters
 * (audit_query_stmt). */
#define AQ_TYPE 1u
#define AQ_AGENT 2u
#define AQ_TASK 4u
#define AQ_DESC 8u
#define AQ_COUNT 16

struct sq_conn {
	sqlite3 *db;
	sqlite3_stmt *stmt[ST_COUNT];   /* prepared on first use */
	sqlite3_stmt *aq[AQ_COUNT];     /* likewise */
	struct merkle_hasher *hasher;   /* the audit leaves' hashes */
	int in_use;
	struct sq_store *st;
	struct timespec busy_since;     /* of the current wait (busy_wait) */
	long busy_limit_ms;             /* this operation's wait, or 0: the
	                                 * store's busy timeout */
};

/* How long the health check waits for the write lock: a readiness probe
 * answers "not ready" within this when another process holds the lock,
 * rather than take a server thread for the store's busy timeout. */
#define HEALTH_BUSY_MS 250

/* Most writes per group-commit transaction. */
#define GC_BATCH_MAX 256

enum gc_kind { GC_CRED, GC_AUDIT, GC_DECISION, GC_CRED_AUDITED,
    GC_DECISION_AUDITED, GC_KEY_AUDITED, GC_TASK_AUDITED,
    GC_TASK_END_AUDITED, GC_REVOKE_AUDITED, GC_CRED_REVOKE_AUDITED,
    GC_OUTCOME_AUDITED };

/* One queued write; lives on its caller's stack until done. */
struct gc_req {
	enum gc_kind kind;
	const struct store_credential *cred;
	const struct store_audit_event *ev;
	const struct store_decision *dec;
	const struct store_task *task;    /* GC_TASK_AUDITED */
	struct str task_id;       /* GC_TASK_END_AUDITED: the task ended;
	                           * GC_CRED_REVOKE_AUDITED: the jti */
	struct str reason;        /* GC_TASK_END_AUDITED: why */
	int changed;              /* GC_TASK_END_AUDITED: it was active;
	                           * GC_CRED_REVOKE_AUDITED: not revoked */
	const struct store_agent_revocation *rev;  /* GC_REVOKE_AUDITED */
	store_revoke_event_fn *revoke_build;       /* GC_REVOKE_AUDITED */
	size_t n_tasks;           /* GC_REVOKE_AUDITED: tasks revoked */
	/* GC_OUTCOME_AUDITED (task_id: the decision's id; changed: it
	 * was not reported yet) */
	int status;
	struct str labels_json;
	const struct str *labels;
	size_t n_labels;
	store_outcome_event_fn *outcome_build;
	int task_active;
	store_decision_event_fn *build;   /* GC_DECISION_AUDITED */
	void *build_arg;
	struct str kid;           /* GC_KEY_AUDITED: the key activated */
	int64_t retire_after;     /* GC_KEY_AUDITED: the others' */
	int64_t now;              /* decisions: the time of the consume */
	int outcome;              /* decisions: enum store_consume */
	int64_t calls_used;       /* decisions: after the consume */
	int64_t id;               /* the audit id assigned */
	int r;                    /* its result, valid when done */
	int done;                 /* written before wake is posted */
	sem_t wake;               /* posted once: done, or lead now */
	int led_by_owner;         /* gc_submit_many: committed by its own
	                           * caller as leader (no post comes) */
	struct gc_req *next;
};

struct sq_store {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	/* group commit: gc_mu guards the queue and gc_leader; gc_cv is
	 * broadcast when the queue drains (for close) */
	pthread_mutex_t gc_mu;
	pthread_cond_t gc_cv;
	struct gc_req *gc_head, *gc_tail;
	int gc_leader;
	/* the audit tree's compact range as of the last append batch this
	 * process committed (tree_valid), checked against the stored leaves
	 * at the start of every batch; guarded by tree_mu */
	pthread_mutex_t tree_mu;
	struct merkle_compact tree;
	int tree_valid;
	struct sq_conn *conns;
	unsigned n_conns;
	int busy_timeout_ms;
	/* commits of this process (wal_done): a connection waiting for the
	 * write lock wakes at each one instead of sleeping blindly */
	pthread_mutex_t wmu;
	pthread_cond_t wcv;
	uint64_t wgen;
	store_log_fn *log;
	void *log_ctx;
	/* The files the connections write: a database file or WAL removed
	 * or replaced while open (a mistaken cleanup) would take every
	 * later commit with it, unseen (SQLite does not check in WAL mode).
	 * Checked at each write transaction's start (file_ours). */
	char db_path[4096];
	bool have_ids;                  /* db_path was stat-able at open */
	dev_t db_dev, wal_dev;
	ino_t db_ino, wal_ino;
	bool wal_known;                 /* wal_dev/wal_ino recorded */
	_Atomic int files_gone;         /* sticky: found removed/replaced */
};

/* One operation's borrowed connection. */
struct op {
	struct sq_store *st;
	struct sq_conn *c;
	const char *name;
	/* group-commit batches only: the tree being extended */
	struct merkle_compact *tree;
	int tree_valid;           /* *tree was the committed state */
	int tree_checked;         /* *tree matched the stored leaves */
};

static int
map_rc(int rc)
{
	switch (rc & 0xff) {
	case SQLITE_OK:
	case SQLITE_ROW:
	case SQLITE_DONE:
		return MANDATE_OK;
	case SQLITE_NOMEM:
		return MANDATE_ENOMEM;
	case SQLITE_CONSTRAINT:
	case SQLITE_MISMATCH:
		return MANDATE_EINVAL;
	case SQLITE_TOOBIG:
		return MANDATE_ELIMIT;
	case SQLITE_BUSY:
	case SQLITE_LOCKED:
	case SQLITE_IOERR:
	case SQLITE_CORRUPT:
	case SQLITE_NOTADB:
	case SQLITE_CANTOPEN:
	case SQLITE_READONLY:
	case SQLITE_FULL:
	case SQLITE_PERM:
	case SQLITE_PROTOCOL:
	case SQLITE_AUTH:
		return MANDATE_EIO;
	default:
		return MANDATE_EINTERNAL;
	}
}

static void
log_msg(struct sq_store *st, int status, const char *op, const char *msg)
{
	if (st->log != NULL)
		st->log(st->log_ctx, status, op, msg);
}

/* Map a failed SQLite call on db (may be NULL) and log its message. */
static int
fail_rc(struct sq_store *st, sqlite3 *db, int rc, const char *opname)
{
	int r = map_rc(rc);
	char buf[512];

	if (r == MANDATE_OK)       /* a failure that SQLite calls success */
		r = MANDATE_EINTERNAL;
	snprintf(buf, sizeof(buf), "sqlite: %s (%d)",
	    db != NULL ? sqlite3_errmsg(db) : sqlite3_errstr(rc), rc);
	log_msg(st, r, opname, buf);
	return r;
}

static int
op_fail(struct op *op, int rc)
{
	return fail_rc(op->st, op->c->db, rc, op->name);
}

static void
conn_close(struct sq_conn *c)
{
	for (int i = 0; i < ST_COUNT; i++) {
		sqlite3_finalize(c->stmt[i]);
		c->stmt[i] = NULL;
	}
	for (int i = 0; i < AQ_COUNT; i++) {
		sqlite3_finalize(c->aq[i]);
		c->aq[i] = NULL;
	}
	if (c->db != NULL)
		sqlite3_close(c->db);
	c->db = NULL;
	merkle_hasher_free(c->hasher);
	c->hasher = NULL;
}

/* Run one PRAGMA or other statement that may return a row; the first
 * column of the first row (if any) is copied into val. */
static int
exec_one(struct sq_store *st, sqlite3 *db, const char *sql, char *val,
    size_t val_size, const char *opname)
{
	sqlite3_stmt *q = NULL;
	int rc;

	if (val_size > 0)
		val[0] = '\0';
	rc = sqlite3_prepare_v2(db, sql, -1, &q, NULL);
	if (rc != SQLITE_OK)
		return fail_rc(st, db, rc, opname);
	while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		const unsigned char *t = sqlite3_column_text(q, 0);
		if (val_size > 0 && val[0] == '\0' && t != NULL)
			snprintf(val, val_size, "%s", (const char *)t);
	}
	if (rc != SQLITE_DONE) {
		int r = fail_rc(st, db, rc, opname);
		sqlite3_finalize(q);
		return r;
	}
	sqlite3_finalize(q);
	return MANDATE_OK;
}

/* The write lock is taken: wait for this process's next commit (or 5 ms,
 * for another process's), then let SQLite try again, until the busy
 * timeout.  SQLite's own busy handler sleeps 25 to 100 ms between tries,
 * and the audit writer, committing batch after batch, holds the lock
 * most of the time and takes it again within microseconds: under load a
 * task creation could miss every window and fail after 5 s
 * ("database is locked").  Woken at the commit, it tries at once. */
static int
busy_wait(void *arg, int n)
{
	struct sq_conn *c = arg;
	struct sq_store *st = c->st;
	struct timespec now, until;
	uint64_t gen;
	long long waited;

	clock_gettime(CLOCK_MONOTONIC, &now);
	if (n == 0)
		c->busy_since = now;
	waited = (long long)(now.tv_sec - c->busy_since.tv_sec) * 1000 +
	    (now.tv_nsec - c->busy_since.tv_nsec) / 1000000;
	if (waited >= (c->busy_limit_ms > 0 ? c->busy_limit_ms :
	    st->busy_timeout_ms))
		return 0;
	until = now;
	until.tv_nsec += 5 * 1000 * 1000;
	if (until.tv_nsec >= 1000000000L) {
		until.tv_sec++;
		until.tv_nsec -= 1000000000L;
	}
	pthread_mutex_lock(&st->wmu);
	gen = st->wgen;
	while (st->wgen == gen && pthread_cond_timedwait(&st->wcv, &st->wmu,
	    &until) == 0)
		;
	pthread_mutex_unlock(&st->wmu);
	return 1;
}

/* After each commit of a connection, the write lock released: wake the
 * waiters; and what SQLite's default WAL hook does, which this replaces:
 * a passive checkpoint past SQLITE_DEFAULT_WAL_AUTOCHECKPOINT pages. */
static int
wal_done(void *arg, sqlite3 *db, const char *name, int pages)
{
	struct sq_store *st = arg;

	pthread_mutex_lock(&st->wmu);
	st->wgen++;
	pthread_cond_broadcast(&st->wcv);
	pthread_mutex_unlock(&st->wmu);
	if (pages >= 1000)
		(void)sqlite3_wal_checkpoint_v2(db, name,
		    SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
	return SQLITE_OK;
}

static int
conn_open(struct sq_store *st, const char *path, struct sq_conn *c)
{
	char mode[32];
	int rc, r;

	if ((rc = sqlite_walbuf_register()) != SQLITE_OK) {
		log_msg(st, MANDATE_EINTERNAL, "open",
		    "sqlite: cannot register the WAL-buffering VFS");
		return MANDATE_EINTERNAL;
	}
	rc = sqlite3_open_v2(path, &c->db, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE | SQLITE_OPEN_NOMUTEX | SQLITE_OPEN_NOFOLLOW,
	    SQLITE_WALBUF_VFS);
	if (rc != SQLITE_OK) {
		r = fail_rc(st, c->db, rc, "open");
		conn_close(c);
		return r;
	}
	if ((r = merkle_hasher_new(&c->hasher)) != MANDATE_OK) {
		log_msg(st, r, "open", "cannot make a SHA-256 context");
		conn_close(c);
		return r;
	}
	sqlite3_extended_result_codes(c->db, 1);
	c->st = st;
	sqlite3_busy_handler(c->db, busy_wait, c);
	sqlite3_wal_hook(c->db, wal_done, st);
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_DEFENSIVE, 1, (int *)NULL);
	sqlite3_db_config(c->db, SQLITE_DBCONFIG_TRUSTED_SCHEMA, 0,
	    (int *)NULL);
	if ((r = exec_one(st, c->db, "PRAGMA journal_mode = WAL", mode,
	    sizeof(mode), "open")) != MANDATE_OK)
		goto fail;
	if (strcmp(mode, "wal") != 0) {
		log_msg(st, MANDATE_EIO, "open",
		    "sqlite: the database cannot use WAL mode");
		r = MANDATE_EIO;
		goto fail;
	}
	if ((r = exec_one(st, c->db, "PRAGMA foreign_keys = ON", NULL, 0,
	    "open")) != MANDATE_OK ||
	    (r = exec_one(st, c->db, "PRAGMA synchronous = FULL", NULL, 0,
	    "open")) != MANDATE_OK)
		goto fail;
	return MANDATE_OK;
fail:
	conn_close(c);
	return r;
}

static int
op_begin(void *impl, const char *name, struct op *op)
{
	struct sq_store *st = impl;
	struct sq_conn *c = NULL;

	op->st = st;
	op->name = name;
	op->c = NULL;
	op->tree = NULL;
	op->tree_valid = 0;
	op->tree_checked = 0;
	if (pthread_mutex_lock(&st->mu) != 0)
		return MANDATE_EINTERNAL;
	for (;;) {
		for (unsigned i = 0; i < st->n_conns; i++) {
			if (!st->conns[i].in_use) {
				c = &st->conns[i];
				break;
			}
		}
		if (c != NULL)
			break;
		if (pthread_cond_wait(&st->cv, &st->mu) != 0) {
			pthread_mutex_unlock(&st->mu);
			return MANDATE_EINTERNAL;
		}
	}
	c->in_use = 1;
	pthread_mutex_unlock(&st->mu);
	op->c = c;
	return MANDATE_OK;
}

static void
op_end(struct op *op)
{
	struct sq_store *st = op->st;

	if (op->c == NULL)
		return;
	pthread_mutex_lock(&st->mu);
	op->c->in_use = 0;
	pthread_cond_signal(&st->cv);
	pthread_mutex_unlock(&st->mu);
	op->c = NULL;
}

/* The connection's cached statement id, prepared on first use; reset and
 * unbound before it is handed out.  NULL with *r set on failure. */
static sqlite3_stmt *
op_stmt(struct op *op, enum stmt_id id, int *r)
{
	struct sq_conn *c = op->c;
	int rc;

	if (c->stmt[id] == NULL) {
		rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1,
		    SQLITE_PREPARE_PERSISTENT, &c->stmt[id], NULL);
		if (rc != SQLITE_OK) {
			*r = op_fail(op, rc);
			c->stmt[id] = NULL;
			return NULL;
		}
	}
	return c->stmt[id];
}

/* Return a statement to its idle state, dropping the borrowed bindings. */
static void
stmt_idle(sqlite3_stmt *q)
{
	if (q == NULL)
		return;
	sqlite3_reset(q);
	sqlite3_clear_bindings(q);
}

static int
bind_str(sqlite3_stmt *q, int i, struct str v)
{
	/* Lengths are bounded by store.c (STORE_MAX_JSON < INT_MAX). */
	return sqlite3_bind_text(q, i, v.p != NULL ? v.p : "", (int)v.n,
	    SQLITE_STATIC);
}

/* Run a statement that returns no rows; *changes (may be NULL) gets the
 * number of rows it changed. */
static int
run_stmt(struct op *op, enum stmt_id id, sqlite3_stmt *q, int *changes)
{
	int rc = sqlite3_step(q);
	int r = MANDATE_OK;

	(void)id;
	if (rc != SQLITE_DONE)
		r = op_fail(op, rc == SQLITE_ROW ? SQLITE_MISUSE : rc);
	else if (changes != NULL)
		*changes = sqlite3_changes(op->c->db);
	stmt_idle(q);
	return r;
}

/* A parameterless statement (BEGIN, COMMIT, ROLLBACK). */
static int
run_simple(struct op *op, enum stmt_id id)
{
	int r;
	sqlite3_stmt *q = op_stmt(op, id, &r);

	if (q == NULL)
		return r;
	return run_stmt(op, id, q, NULL);
}

/* The device and inode of the file at path.  statx asks for the inode
 * alone: a stat that asks for the times (stat, fstat) marks them queried,
 * and on a filesystem with multigrain timestamps (ext4 and tmpfs since
 * Linux 6.13) the next write then stamps a new fine-grained mtime, which
 * dirties the inode and makes every commit's fdatasync write it too: a
 * second synchronous device write per commit (measured: 2.0 block
 * requests per fdatasync instead of 1.0). */
static bool
path_id(const char *path, dev_t *dev, ino_t *ino)
{
	struct statx sx;

	if (statx(AT_FDCWD, path, 0, STATX_TYPE | STATX_INO, &sx) != 0 ||
	    !(sx.stx_mask & STATX_INO) || !S_ISREG(sx.stx_mode))
		return false;
	*dev = makedev(sx.stx_dev_major, sx.stx_dev_minor);
	*ino = (ino_t)sx.stx_ino;
	return true;
}

/* Are the database file and its WAL still the files this store opened?
 * Once either is found removed or replaced, always false: what was
 * committed since went to a file no one will read again, and only a
 * restart (which opens the files there now) can be trusted. */
static bool
file_ours(struct sq_store *st)
{
	dev_t dev;
	ino_t ino;
	char wal[4100];

	if (!st->have_ids)
		return true;
	if (atomic_load(&st->files_gone))
		return false;
	if (!path_id(st->db_path, &dev, &ino) || dev != st->db_dev ||
	    ino != st->db_ino)
		goto gone;
	snprintf(wal, sizeof(wal), "%s-wal", st->db_path);
	/* (our open connections keep the WAL: it is not deleted under
	 * them, and restarted or truncated in place) */
	if (st->wal_known && (!path_id(wal, &dev, &ino) ||
	    dev != st->wal_dev || ino != st->wal_ino))
		goto gone;
	return true;
gone:
	if (!atomic_exchange(&st->files_gone, 1))
		log_msg(st, MANDATE_EIO, "open", "the database file or its "
		    "WAL was removed or replaced while in use: nothing more "
		    "is written (restart the daemon to use the files there "
		    "now, and check the audit log with mandate audit verify)");
	return false;
}

static int
tx_begin(struct op *op)
{
	if (!file_ours(op->st))
		return MANDATE_EIO;
	return run_simple(op, ST_BEGIN);
}

/* Commit when r is MANDATE_OK, else roll back; returns the final status. */
static int
tx_end(struct op *op, int r)
{
	if (r == MANDATE_OK)
		r = run_simple(op, ST_COMMIT);
	if (r != MANDATE_OK && !sqlite3_get_autocommit(op->c->db))
		(void)run_simple(op, ST_ROLLBACK);
	return r;
}

/* Copy column i as text into the arena. */
static int
col_str(sqlite3_stmt *q, int i, struct arena *a, struct str *out)
{
	const unsigned char *t = sqlite3_column_text(q, i);
	int n = sqlite3_column_bytes(q, i);

	if (t == NULL && sqlite3_errcode(sqlite3_db_handle(q)) == SQLITE_NOMEM)
		return MANDATE_ENOMEM;
	*out = arena_strdup(a, t != NULL ? (const char *)t : "",
	    t != NULL ? (size_t)n : 0);
	return out->p == NULL ? MANDATE_ENOMEM : MANDATE_OK;
}

/* --- the audit tree ----------------------------------------------------- */

/* Statement id with ?1 = a and ?2 = b bound, or NULL with *r set. */
static sqlite3_stmt *
stmt_ints(struct op *op, enum stmt_id id, int64_t a, int64_t b, int *r)
{
	sqlite3_stmt *q = op_stmt(op, id, r);

	if (q == NULL)
		return NULL;
	if (sqlite3_bind_int64(q, 1, a) || sqlite3_bind_int64(q, 2, b)) {
		*r = op_fail(op, sqlite3_errcode(op->c->db));
		stmt_idle(q);
		return NULL;
	}
	return q;
}

/* Read up to limit leaves from index from on op's connection. */
static int
leaves_read(struct op *op, int64_t from, size_t limit,
    struct store_audit_leaf *out, size_t *n_out)
{
	sqlite3_stmt *q;
	size_t n = 0;
	int r, rc = SQLITE_DONE;

	*n_out = 0;
	if ((q = stmt_ints(op, ST_LEAF_READ, from, (int64_t)limit, &r)) ==
	    NULL)
		return r;
	r = MANDATE_OK;
	while (r == MANDATE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		const void *h;
		if (n >= limit) {
			r = MANDATE_EINTERNAL;
			break;
		}
		out[n].index = sqlite3_column_int64(q, 0);
		out[n].event_id = sqlite3_column_int64(q, 1);
		h = sqlite3_column_blob(q, 2);
		if (h == NULL ||
		    sqlite3_column_bytes(q, 2) != STORE_AUDIT_HASH_LEN) {
			r = MANDATE_EINTERNAL;
			break;
		}
		memcpy(out[n].hash, h, STORE_AUDIT_HASH_LEN);
		n++;
	}
	if (r == MANDATE_OK && rc != SQLITE_DONE)
		r = op_fail(op, rc);
	stmt_idle(q);
	if (r == MANDATE_OK)
		*n_out = n;
	return r;
}

/* Rebuild the compact range from every stored leaf (run inside a
 * transaction, so the leaves do not move underneath). */
static int
tree_load(struct op *op, struct merkle_compact *tree)
{
	struct store_audit_leaf rows[256];
	size_t n, i;
	int r;

	merkle_compact_init(tree);
	for (;;) {
		if ((r = leaves_read(op, (int64_t)tree->size, 256, rows, &n)) !=
		    MANDATE_OK)
			return r;
		if (n == 0)
			return MANDATE_OK;
		for (i = 0; i < n; i++) {
			if (rows[i].index != (int64_t)tree->size) {
				log_msg(op->st, MANDATE_EINTERNAL, op->name,
				    "the audit leaves have a gap");
				return MANDATE_EINTERNAL;
			}
			if ((r = merkle_compact_append(tree, rows[i].hash)) !=
			    MANDATE_OK)
				return r;
		}
	}
}

/* The index the next leaf takes (the number of stored leaves). */
static int
tree_next_index(struct op *op, int64_t *next)
{
	sqlite3_stmt *q;
	int r, rc;

	if ((q = op_stmt(op, ST_LEAF_NEXT, &r)) == NULL)
		return r;
	if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		*next = sqlite3_column_int64(q, 0);
		r = MANDATE_OK;
	} else {
		r = op_fail(op, rc);
	}
	stmt_idle(q);
	return r;
}

/* Make the batch's tree match the stored leaves (once per batch).  Every
 * audit append runs inside a group-commit batch, which lends op->tree
 * (gc_run_batch); a write path that does not is a bug, and fails. */
static int
tree_sync(struct op *op)
{
	int64_t next = -1;
	int r;

	if (op->tree == NULL) {
		log_msg(op->st, MANDATE_EINTERNAL, op->name,
		    "audit append outside a group-commit batch");
		return MANDATE_EINTERNAL;
	}
	if (op->tree_checked)
		return MANDATE_OK;
	if ((r = tree_next_index(op, &next)) != MANDATE_OK)
		return r;
	if (!op->tree_valid || next < 0 || (uint64_t)next != op->tree->size)
		if ((r = tree_load(op, op->tree)) != MANDATE_OK)
			return r;
	op->tree_checked = 1;
	return MANDATE_OK;
}

/* Add the leaf of event e (e->id set) at the tree's next index. */
static int
tree_add(struct op *op, const struct store_audit_event *e)
{
	merkle_hash leaf;
	sqlite3_stmt *q;
	int r;

	if ((r = audit_record_leaf_hash_h(e, op->c->hasher, leaf)) !=
	    MANDATE_OK)
		return r;
	if ((q = op_stmt(op, ST_LEAF_INSERT, &r)) == NULL)
		return r;
	if (sqlite3_bind_int64(q, 1, (int64_t)op->tree->size) ||
	    sqlite3_bind_int64(q, 2, e->id) ||
	    sqlite3_bind_blob(q, 3, leaf, MERKLE_HASH_LEN, SQLITE_STATIC)) {
		r = op_fail(op, sqlite3_errcode(op->c->db));
		stmt_idle(q);
		return r;
	}
	if ((r = run_stmt(op, ST_LEAF_INSERT, q, NULL)) != MANDATE_OK)
		return r;
	return merkle_compact_append_h(op->tree, leaf, op->c->hasher);
}

/* After migration_audit_tree: the leaves of the events written
 * before it, in id order (inside the migration's transaction). */
static int
backfill_leaves(struct op *op)
{
	struct merkle_compact tree;
	sqlite3_stmt *q = NULL;
	int r, rc;

	merkle_compact_init(&tree);
	op->tree = &tree;
	rc = sqlite3_prepare_v2(op->c->db, "SELECT id, time, type,"
	    " request_id, agent, task_id, fields_json FROM audit_events"
	    " ORDER BY id", -1, &q, NULL);
	if (rc != SQLITE_OK) {
		r = op_fail(op, rc);
		goto out;
	}
	r = MANDATE_OK;
	while (r == MANDATE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct store_audit_event e;
		struct str *f[5];
		int i;

		memset(&e, 0, sizeof(e));
		f[0] = &e.type;
		f[1] = &e.request_id;
		f[2] = &e.agent;
		f[3] = &e.task_id;
		f[4] = &e.fields_json;
		e.id = sqlite3_column_int64(q, 0);
		e.time = sqlite3_column_int64(q, 1);
		for (i = 0; i < 5; i++) {
			const unsigned char *t = sqlite3_column_text(q, 2 + i);
			if (t == NULL)
				t = (const unsigned char *)"";
			*f[i] = str_make((const char *)t,
			    (size_t)sqlite3_column_bytes(q, 2 + i));
		}
		r = tree_add(op, &e);
	}
	if (r == MANDATE_OK && rc != SQLITE_DONE)
		r = op_fail(op, rc);
out:
	sqlite3_finalize(q);
	op->tree = NULL;
	return r;
}

/* --- the schema and migrations ------------------------------------------ */

static int
read_version(struct op *op, int *version)
{
	sqlite3_stmt *q;
	int r, rc;

	*version = 0;
	if ((q = op_stmt(op, ST_VERSION, &r)) == NULL)
		return r;
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		*version = sqlite3_column_int(q, 0);
		r = MANDATE_OK;
	} else if (rc == SQLITE_DONE) {
		r = MANDATE_OK;           /* a fresh database */
	} else {
		r = op_fail(op, rc);
	}
	stmt_idle(q);
	return r;
}

static int
migrate(struct sq_store *st, struct sq_conn *c, int target)
{
	struct op op = { st, c, "migrate", NULL, 0, 0 };
	char *errmsg = NULL;
	char buf[320];
	int r, version = 0;

	if ((r = tx_begin(&op)) != MANDATE_OK)
		return r;
	r = exec_one(st, c->db, "CREATE TABLE IF NOT EXISTS schema_version ("
	    " id INTEGER PRIMARY KEY CHECK (id = 1),"
	    " version INTEGER NOT NULL)", NULL, 0, "migrate");
	if (r != MANDATE_OK)
		goto out;
	if ((r = read_version(&op, &version)) != MANDATE_OK)
		goto out;
	if (version < 0 || version > target) {
		snprintf(buf, sizeof(buf), "database schema version %d is newer"
		    " than this build supports (%d)", version, target);
		log_msg(st, MANDATE_EINVAL, "migrate", buf);
		r = MANDATE_EINVAL;
		goto out;
	}
	for (int v = version; v < target; v++) {
		int rc = sqlite3_exec(c->db, migrations[v], NULL, NULL, &errmsg);
		if (rc != SQLITE_OK && errmsg != NULL &&
		    strstr(errmsg, "already exists") != NULL) {
			/* what the migration makes is there already: the
			 * recorded version is behind the file's tables, which
			 * no release leaves; the version row was changed (or
			 * the file damaged), and migrating on would rebuild
			 * from whatever the tables now hold */
			snprintf(buf, sizeof(buf), "database schema version %d "
			    "does not match its tables (migration to version "
			    "%d: %.60s): the schema_version row was changed or "
			    "the file is damaged", version, v + 1, errmsg);
			r = MANDATE_ECONFLICT;
			log_msg(st, r, "migrate", buf);
			goto out;
		}
		if (rc != SQLITE_OK) {
			snprintf(buf, sizeof(buf), "migration to version %d: %s",
			    v + 1, errmsg != NULL ? errmsg : sqlite3_errstr(rc));
			r = map_rc(rc);
			if (r == MANDATE_OK)
				r = MANDATE_EINTERNAL;
			log_msg(st, r, "migrate", buf);
			goto out;
		}
		if (migrations[v] == migration_audit_tree &&
		    (r = backfill_leaves(&op)) != MANDATE_OK)
			goto out;
	}
	if (version < target) {
		snprintf(buf, sizeof(buf), "INSERT INTO schema_version (id,"
		    " version) VALUES (1, %d) ON CONFLICT (id) DO UPDATE SET"
		    " version = excluded.version", target);
		r = exec_one(st, c->db, buf, NULL, 0, "migrate");
	}
out:
	sqlite3_free(errmsg);
	return tx_end(&op, r);
}

/* --- the audit query indexes ------------------------------------------- */

static const struct {
	unsigned bit;
	const char *name, *column, *filter;
} audit_indexes[] = {
	{ STORE_AUDIT_INDEX_AGENT, "audit_events_by_agent", "agent", "agent" },
	{ STORE_AUDIT_INDEX_TASK, "audit_events_by_task", "task_id", "task" },
	{ STORE_AUDIT_INDEX_TYPE, "audit_events_by_type", "type", "type" },
};

static int
index_exists(struct sq_store *st, sqlite3 *db, const char *name, bool *yes)
{
	sqlite3_stmt *q = NULL;
	int rc;

	*yes = false;
	rc = sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema WHERE"
	    " type = 'index' AND name = ?1", -1, &q, NULL);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	if (rc == SQLITE_OK) {
		rc = sqlite3_step(q);
		*yes = rc == SQLITE_ROW;
		if (rc == SQLITE_ROW || rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	sqlite3_finalize(q);
	return rc == SQLITE_OK ? MANDATE_OK : fail_rc(st, db, rc, "open");
}

/* Build the asked-for indexes that are missing and drop the others
 * (store_options.set_audit_indexes).  Each index is (column, id): a
 * filter on the column reads its records in id order, as the query pages
 * them.  A record whose column is empty (an evaluation with no agent or
 * task) is left out of the index: no filter asks for it, and it costs
 * the append nothing. */
static int
set_audit_indexes(struct sq_store *st, sqlite3 *db, unsigned want)
{
	char sql[160], msg[160];
	bool have;
	int r;

	for (size_t i = 0; i < sizeof(audit_indexes) /
	    sizeof(audit_indexes[0]); i++) {
		bool on = (want & audit_indexes[i].bit) != 0;

		if ((r = index_exists(st, db, audit_indexes[i].name, &have)) !=
		    MANDATE_OK)
			return r;
		if (on == have)
			continue;
		if (on)
			snprintf(sql, sizeof(sql), "CREATE INDEX %s ON"
			    " audit_events (%s, id) WHERE %s <> ''",
			    audit_indexes[i].name, audit_indexes[i].column,
			    audit_indexes[i].column);
		else
			snprintf(sql, sizeof(sql), "DROP INDEX %s",
			    audit_indexes[i].name);
		snprintf(msg, sizeof(msg), "%s the audit log's index on %s "
		    "(audit.indexes)", on ? "building" : "dropping",
		    audit_indexes[i].filter);
		log_msg(st, MANDATE_OK, "open", msg);
		if ((r = exec_one(st, db, sql, NULL, 0, "open")) != MANDATE_OK)
			return r;
	}
	return MANDATE_OK;
}

/* --- open and close ----------------------------------------------------- */

static void
sq_close(void *impl)
{
	struct sq_store *st = impl;

	if (st == NULL)
		return;
	/* Drain the group-commit queue.  No call may be in flight at close,
	 * so it is empty already; should a caller still be queued, let its
	 * leader finish rather than free the store under it. */
	pthread_mutex_lock(&st->gc_mu);
	while (st->gc_head != NULL || st->gc_leader)
		pthread_cond_wait(&st->gc_cv, &st->gc_mu);
	pthread_mutex_unlock(&st->gc_mu);
	for (unsigned i = 0; i < st->n_conns; i++)
		conn_close(&st->conns[i]);
	free(st->conns);
	pthread_mutex_destroy(&st->tree_mu);
	pthread_cond_destroy(&st->wcv);
	pthread_mutex_destroy(&st->wmu);
	pthread_cond_destroy(&st->gc_cv);
	pthread_mutex_destroy(&st->gc_mu);
	pthread_cond_destroy(&st->cv);
	pthread_mutex_destroy(&st->mu);
	free(st);
}

/* Create the file with mode 0600 before SQLite does (SQLite would use
 * 0644 less the umask; its -wal and -shm files copy the database's
 * mode).  An existing file keeps its mode but must be a regular file. */
static int
create_file(struct sq_store *st, const char *path)
{
	struct stat sb;
	char buf[256];
	int fd;

	fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd < 0) {
		char eb[128];
		/* GNU strerror_r (_GNU_SOURCE): thread-safe, returns the text */
		snprintf(buf, sizeof(buf), "cannot open the database file: %s",
		    strerror_r(errno, eb, sizeof(eb)));
		log_msg(st, MANDATE_EIO, "open", buf);
		return MANDATE_EIO;
	}
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		log_msg(st, MANDATE_EIO, "open",
		    "the database path is not a regular file");
		return MANDATE_EIO;
	}
	close(fd);
	if ((sb.st_mode & 077) != 0)   /* someone widened it: say so */
		log_msg(st, MANDATE_OK, "open", "warning: the database file is"
		    " readable or writable by other users (want mode 0600)");
	return MANDATE_OK;
}

/* Every statement of this version prepared once, at open: a table or
 * column that the schema version promises but the file lacks (dropped
 * or renamed by hand, a damaged schema) is found now, named by SQLite,
 * rather than by the first request that needs it, hours later. */
static int
schema_usable(struct sq_store *st, struct sq_conn *c)
{
	for (int id = 0; id < ST_COUNT; id++) {
		int rc;

		if (c->stmt[id] != NULL)
			continue;
		rc = sqlite3_prepare_v3(c->db, stmt_sql[id], -1,
		    SQLITE_PREPARE_PERSISTENT, &c->stmt[id], NULL);
		if (rc != SQLITE_OK) {
			char buf[512];

			snprintf(buf, sizeof(buf), "the database does not have "
			    "what its schema version promises (%s): damaged or "
			    "edited by hand; restore it from a backup",
			    sqlite3_errmsg(c->db));
			log_msg(st, MANDATE_EIO, "open", buf);
			c->stmt[id] = NULL;
			return MANDATE_EIO;
		}
	}
	return MANDATE_OK;
}

static int
sq_open(const char *target, const struct store_options *opt, void **impl)
{
	struct sq_store *st = NULL;
	int r = MANDATE_EINTERNAL;
	int target_version = SCHEMA_LATEST;
	int mu_ok = 0, cv_ok = 0, gmu_ok = 0, gcv_ok = 0, tmu_ok = 0;
	int wmu_ok = 0, wcv_ok = 0;

	*impl = NULL;
	/* Connections move between threads (one at a time): SQLite must be
	 * built thread-safe. */
	if (!sqlite3_threadsafe()) {
		if (opt->log != NULL)
			opt->log(opt->log_ctx, MANDATE_EINTERNAL, "open",
			    "sqlite: the library is built without thread"
			    " support");
		return MANDATE_EINTERNAL;
	}
	if (opt->max_schema_version > 0 &&
	    opt->max_schema_version < SCHEMA_LATEST)
		target_version = opt->max_schema_version;
	if ((st = calloc(1, sizeof(*st))) == NULL)
		return MANDATE_ENOMEM;
	st->log = opt->log;
	st->log_ctx = opt->log_ctx;
	st->busy_timeout_ms = opt->busy_timeout_ms;
	if (pthread_mutex_init(&st->mu, NULL) != 0)
		goto out;
	mu_ok = 1;
	if (pthread_cond_init(&st->cv, NULL) != 0)
		goto out;
	cv_ok = 1;
	if (pthread_mutex_init(&st->gc_mu, NULL) != 0)
		goto out;
	gmu_ok = 1;
	if (pthread_cond_init(&st->gc_cv, NULL) != 0)
		goto out;
	gcv_ok = 1;
	if (pthread_mutex_init(&st->tree_mu, NULL) != 0)
		goto out;
	tmu_ok = 1;
	{
		pthread_condattr_t ca;
		if (pthread_mutex_init(&st->wmu, NULL) != 0)
			goto out;
		wmu_ok = 1;
		if (pthread_condattr_init(&ca) != 0)
			goto out;
		if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
		    pthread_cond_init(&st->wcv, &ca) != 0) {
			pthread_condattr_destroy(&ca);
			goto out;
		}
		pthread_condattr_destroy(&ca);
		wcv_ok = 1;
	}
	if ((st->conns = calloc(opt->pool_size, sizeof(*st->conns))) == NULL) {
		r = MANDATE_ENOMEM;
		goto out;
	}
	if ((r = create_file(st, target)) != MANDATE_OK)
		goto out;
	if (strlen(target) < sizeof(st->db_path) &&
	    path_id(target, &st->db_dev, &st->db_ino)) {
		memcpy(st->db_path, target, strlen(target) + 1);
		st->have_ids = true;
	}
	for (unsigned i = 0; i < opt->pool_size; i++) {
		if ((r = conn_open(st, target, &st->conns[i])) != MANDATE_OK)
			goto out;
		st->n_conns = i + 1;
		if (i == 0 && (r = migrate(st, &st->conns[0],
		    target_version)) != MANDATE_OK)
			goto out;
		if (i == 0 && opt->set_audit_indexes &&
		    (r = set_audit_indexes(st, st->conns[0].db,
		    opt->audit_indexes)) != MANDATE_OK)
			goto out;
		if (i == 0 && opt->check_schema &&
		    target_version == SCHEMA_LATEST &&
		    (r = schema_usable(st, &st->conns[0])) != MANDATE_OK)
			goto out;
	}
	if (st->have_ids) {
		/* the WAL, there once the connections have opened (and the
		 * migration has written) */
		char wal[4100];

		snprintf(wal, sizeof(wal), "%s-wal", st->db_path);
		st->wal_known = path_id(wal, &st->wal_dev, &st->wal_ino);
	}
	*impl = st;
	st = NULL;
	r = MANDATE_OK;
out:
	if (st != NULL) {
		for (unsigned i = 0; i < st->n_conns; i++)
			conn_close(&st->conns[i]);
		free(st->conns);
		if (tmu_ok)
			pthread_mutex_destroy(&st->tree_mu);
		if (wcv_ok)
			pthread_cond_destroy(&st->wcv);
		if (wmu_ok)
			pthread_mutex_destroy(&st->wmu);
		if (gcv_ok)
			pthread_cond_destroy(&st->gc_cv);
		if (gmu_ok)
			pthread_mutex_destroy(&st->gc_mu);
		if (cv_ok)
			pthread_cond_destroy(&st->cv);
		if (mu_ok)
			pthread_mutex_destroy(&st->mu);
		free(st);
	}
	return r;
}

static int
sq_schema_version(void *impl, int *version)
{
	struct op op;
	int r;

	if ((r = op_begin(impl, "schema_version", &op)) != MANDATE_OK)
		return r;
	r = read_version(&op, version);
	op_end(&op);
	return r;
}

static int
sq_health(void *impl, int64_t now)
{
	struct op op;
	sqlite3_stmt *q;
	int r, rc;

	if ((r = op_begin(impl, "health", &op)) != MANDATE_OK)
		return r;
	op.c->busy_limit_ms = HEALTH_BUSY_MS;
	if ((r = tx_begin(&op)) != MANDATE_OK)
		goto out;
	if ((q = op_stmt(&op, ST_HEALTH_WRITE, &r)) == NULL)
		goto tx;
	if ((rc = sqlite3_bind_int64(q, 1, now)) != SQLITE_OK) {
		r = op_fail(&op, rc);
		stmt_idle(q);
		goto tx;
	}
	if ((r = run_stmt(&op, ST_HEALTH_WRITE, q, NULL)) != MANDATE_OK)
		goto tx;
	if ((q = op_stmt(&op, ST_HEALTH_READ, &r)) == NULL)
		goto tx;
	rc = sqlite3_step(q);
	if (rc != SQLITE_ROW)
		r = op_fail(&op, rc == SQLITE_DONE ? SQLITE_CORRUPT : rc);
	else if (sqlite3_column_int64(q, 0) != now)
		r = op_fail(&op, SQLITE_CORRUPT);
	stmt_idle(q);
tx:
	r = tx_end(&op, r);
out:
	op.c->busy_limit_ms = 0;
	op_end(&op);
	return r;
}

/* --- tasks -------------------------------------------------------------- */

static int
read_task(sqlite3_stmt *q, struct arena *a, struct store_task *t)
{
	int r;

	if ((r = col_str(q, 0, a, &t->id)) != MANDATE_OK ||
	    (r = col_str(q, 1, a, &t->agent)) != MANDATE_OK ||
	    (r = col_str(q, 2, a, &t->delegator)) != MANDATE_OK ||
	    (r = col_str(q, 3, a, &t->act_json)) != MANDATE_OK ||
	    (r = col_str(q, 4, a, &t->objective)) != MANDATE_OK ||
	    (r = col_str(q, 5, a, &t->intents_json)) != MANDATE_OK ||
	    (r = col_str(q, 13, a, &t->reason)) != MANDATE_OK)
		return r;
	t->sensitivity = sqlite3_column_int64(q, 6);
	t->created_at = sqlite3_column_int64(q, 7);
	t->expires_at = sqlite3_column_int64(q, 8);
	t->call_budget = sqlite3_column_int64(q, 9);
	t->calls_used = sqlite3_column_int64(q, 10);
	t->state = sqlite3_column_int(q, 11);
	t->ended_at = sqlite3_column_int64(q, 12);
	return MANDATE_OK;
}

/* Insert task t on the op's connection (inside its transaction, if
 * any).  ECONFLICT, nothing inserted, when the agent was revoked at or
 * after its creation time. */
static int
task_insert_on(struct op *op, const struct store_task *t)
{
	sqlite3_stmt *q;
	int r, changed = 0;

	op->name = "task_create";
	if ((q = op_stmt(op, ST_TASK_INSERT, &r)) == NULL)
		return r;
	if (bind_str(q, 1, t->id) || bind_str(q, 2, t->agent) ||
	    bind_str(q, 3, t->delegator) || bind_str(q, 4, t->act_json) ||
	    bind_str(q, 5, t->objective) || bind_str(q, 6, t->intents_json) ||
	    sqlite3_bind_int64(q, 7, t->sensitivity) ||
	    sqlite3_bind_int64(q, 8, t->created_at) ||
	    sqlite3_bind_int64(q, 9, t->expires_at) ||
	    sqlite3_bind_int64(q, 10, t->call_budget)) {
		r = op_fail(op, sqlite3_errcode(op->c->db));
		stmt_idle(q);
		return r;
	}
	r = run_stmt(op, ST_TASK_INSERT, q, &changed);
	if (r == MANDATE_OK && changed == 0)
		r = MANDATE_ECONFLICT;       /* the agent was just revoked */
	return r;
}

static int
sq_task_create(void *impl, const struct store_task *t)
{
	struct op op;
	int r;

	if ((r = op_begin(impl, "task_create", &op)) != MANDATE_OK)
		return r;
	r = task_insert_on(&op, t);
	op_end(&op);
	return r;
}

static int gc_submit(struct sq_store *st, struct gc_req *req);

/* The task and its task.created record in one commit (a group
 * commit's): a crash never leaves a task the log does not know. */
static int
sq_task_create_audited(void *impl, const struct store_task *t,
    const struct store_audit_event *e, int64_t *id)
{
	struct gc_req req = { .kind = GC_TASK_AUDITED, .task = t, .ev = e };
	int r = gc_submit(impl, &req);

	if (r == MANDATE_OK)
		*id = req.id;
	return r;
}

static int
sq_task_get(void *impl, struct str id, struct arena *a,
    struct store_task *out)
{
	struct op op;
	sqlite3_stmt *q;
	int r, rc;

	if ((r = op_begin(impl, "task_get", &op)) != MANDATE_OK)
		return r;
	if ((q = op_stmt(&op, ST_TASK_GET, &r)) == NULL)
		goto out;
	if ((rc = bind_str(q, 1, id)) != SQLITE_OK) {
		r = op_fail(&op, rc);
	} else if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		r = read_task(q, a, out);
	} else if (rc == SQLITE_DONE) {
		r = MANDATE_ENOTFOUND;
	} else {
		r = op_fail(&op, rc);
	}
	stmt_idle(q);
out:
	op_end(&op);
	if (r != MANDATE_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

/* Whether a row exists for the one-parameter existence query id. */
static int
row_exists(struct op *op, enum stmt_id id, struct str key, int *exists)
{
	sqlite3_stmt *q;
	int r, rc;

	*exists = 0;
	if ((q = op_stmt(op, id, &r)) == NULL)
		return r;
	if ((rc = bind_str(q, 1, key)) != SQLITE_OK) {
		r = op_fail(op, rc);
	} else if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		*exists = 1;
		r = MANDATE_OK;
	} else if (rc == SQLITE_DONE) {
		r = MANDATE_OK;
	} else {
		r = op_fail(op, rc);
	}
	stmt_idle(q);
	return r;
}

/* Bind (key text, time[, text]) and run an UPDATE; *changes set. */
static int
run_update(struct op *op, enum stmt_id id, struct str key, int64_t t,
    const struct str *text, int *changes)
{
	sqlite3_stmt *q;
	int r;

	if ((q = op_stmt(op, id, &r)) == NULL)
		return r;
	if (bind_str(q, 1, key) || sqlite3_bind_int64(q, 2, t) ||
	    (text != NULL && bind_str(q, 3, *text))) {
		r = op_fail(op, sqlite3_errcode(op->c->db));
		stmt_idle(q);
		return r;
	}
	return run_stmt(op, id, q, changes);
}

/* End task id and revoke its credentials inside the op's transaction;
 * *changed 1 when it was active and unexpired at now.  ENOTFOUND for an
 * unknown id (nothing changed). */
static int
task_end_on(struct op *op, struct str id, int64_t now, struct str reason,
    int *changed)
{
	int r, changes = 0, exists = 0;

	*changed = 0;
	op->name = "task_end";
	if ((r = run_update(op, ST_TASK_END, id, now, &reason,
	    &changes)) != MANDATE_OK)
		return r;
	if (changes == 0) {
		if ((r = row_exists(op, ST_TASK_EXISTS, id, &exists)) ==
		    MANDATE_OK && !exists)
			r = MANDATE_ENOTFOUND;
		return r;
	}
	if ((r = run_update(op, ST_TASK_CREDS_REVOKE, id, now, NULL, NULL)) ==
	    MANDATE_OK)
		*changed = 1;
	return r;
}

static int
sq_task_end(void *impl, struct str id, int64_t now, struct str reason,
    int *changed)
{
	struct op op;
	int r, ended = 0;

	if ((r = op_begin(impl, "task_end", &op)) != MANDATE_OK)
		return r;
	if ((r = tx_begin(&op)) == MANDATE_OK)
		r = tx_end(&op, task_end_on(&op, id, now, reason, &ended));
	if (r == MANDATE_OK)
		*changed = ended;
	op_end(&op);
	return r;
}

/* The end and its task.ended record in one commit (a group commit's): a
 * crash never leaves a task ended, and its credentials revoked, without
 * the record. */
static int
sq_task_end_audited(void *impl, struct str id, int64_t now,
    struct str reason, const struct store_audit_event *e, int *changed,
    int64_t *event_id)
{
	struct gc_req req = { .kind = GC_TASK_END_AUDITED, .task_id = id,
	    .now = now, .reason = reason, .ev = e };
	int r = gc_submit(impl, &req);

	if (r == MANDATE_OK) {
		*changed = req.changed;
		*event_id = req.id;
	}
	return r;
}

/* The ids of up to max tasks over at or before `before` (a read: the
 * scan holds no write lock). */
static int
prune_pick(struct op *op, int64_t before, size_t max, struct arena *a,
    struct str *ids, size_t *n)
{
	sqlite3_stmt *q;
	int r, rc = SQLITE_DONE;

	*n = 0;
	if ((q = stmt_ints(op, ST_PRUNE_PICK, before, (int64_t)max, &r)) ==
	    NULL)
		return r;
	r = MANDATE_OK;
	while (*n < max && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		if ((r = col_str(q, 0, a, &ids[*n])) != MANDATE_OK)
			break;
		(*n)++;
	}
	if (r == MANDATE_OK && *n < max && rc != SQLITE_DONE)
		r = op_fail(op, rc);
	stmt_idle(q);
	return r;
}

/* Delete one task's rows, then the task if it is still over. */
static int
prune_one(struct op *op, struct str id, int64_t before, int *gone)
{
	static const enum stmt_id children[] = { ST_PRUNE_SESSIONS,
	    ST_PRUNE_DECISIONS, ST_PRUNE_CREDS };
	sqlite3_stmt *q;
	int r;

	for (size_t i = 0; i < sizeof(children) / sizeof(children[0]); i++) {
		if ((q = op_stmt(op, children[i], &r)) == NULL)
			return r;
		if (bind_str(q, 1, id) != SQLITE_OK) {
			r = op_fail(op, sqlite3_errcode(op->c->db));
			stmt_idle(q);
			return r;
		}
		if ((r = run_stmt(op, children[i], q, NULL)) != MANDATE_OK)
			return r;
	}
	/* a task once over stays over (ended is final, expiry fixed), so
	 * the check here only guards against a pick that went wrong: its
	 * children are gone, and the transaction is undone */
	if ((r = run_update(op, ST_PRUNE_TASK, id, before, NULL, gone)) !=
	    MANDATE_OK)
		return r;
	return *gone == 1 ? MANDATE_OK : MANDATE_EINTERNAL;
}

static int
sq_tasks_prune(void *impl, int64_t before, size_t max, size_t *pruned)
{
	struct op op;
	struct arena a;
	struct str *ids;
	size_t n = 0;
	int r, gone = 0;

	arena_init(&a, 0);
	if ((ids = arena_alloc(&a, max * sizeof(*ids))) == NULL) {
		arena_free(&a);
		return MANDATE_ENOMEM;
	}
	if ((r = op_begin(impl, "tasks_prune", &op)) != MANDATE_OK) {
		arena_free(&a);
		return r;
	}
	if ((r = prune_pick(&op, before, max, &a, ids, &n)) != MANDATE_OK ||
	    n == 0)
		goto out;
	if ((r = tx_begin(&op)) != MANDATE_OK)
		goto out;
	for (size_t i = 0; i < n && r == MANDATE_OK; i++)
		r = prune_one(&op, ids[i], before, &gone);
	r = tx_end(&op, r);
out:
	if (r == MANDATE_OK)
		*pruned = n;
	op_end(&op);
	arena_free(&a);
	return r;
}

static int
sq_task_consume(void *impl, struct str id, int64_t now, int *outcome,
    int64_t *calls_used)
{
	struct op op;
	sqlite3_stmt *q;
	int r, rc;

	if ((r = op_begin(impl, "task_consume", &op)) != MANDATE_OK)
		return r;
	if ((q = op_stmt(&op, ST_TASK_CONSUME, &r)) == NULL)
		goto out;
	if (bind_str(q, 1, id) || sqlite3_bind_int64(q, 2, now)) {
		r = op_fail(&op, sqlite3_errcode(op.c->db));
		stmt_idle(q);
		goto out;
	}
	rc = sqlite3_step(q);
	if (rc == SQLITE_ROW) {
		int64_t used = sqlite3_column_int64(q, 0);
		/* Step to the end so that the autocommit finishes here and a
		 * failure to commit is seen, not lost in the reset. */
		rc = sqlite3_step(q);
		if (rc != SQLITE_DONE) {
			r = op_fail(&op, rc);
			stmt_idle(q);
			goto out;
		}
		stmt_idle(q);
		*outcome = STORE_CONSUMED;
		*calls_used = used;
		r = MANDATE_OK;
		goto out;
	}
	if (rc != SQLITE_DONE) {
		r = op_fail(&op, rc);
		stmt_idle(q);
		goto out;
	}
	stmt_idle(q);
	/* Refused: say why.  A concurrent change can only move the task
	 * further from usable, so any answer here is a refusal. */
	if ((q = op_stmt(&op, ST_TASK_STATUS, &r)) == NULL)
		goto out;
	if ((rc = bind_str(q, 1, id)) != SQLITE_OK) {
		r = op_fail(&op, rc);
	} else if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		int state = sqlite3_column_int(q, 0);
		int64_t expires_at = sqlite3_column_int64(q, 1);
		if (state != STORE_TASK_ACTIVE)
			*outcome = STORE_NOT_ACTIVE;
		else if (expires_at <= now)
			*outcome = STORE_TASK_EXPIRED_NOW;
		else
			*outcome = STORE_EXHAUSTED;
		r = MANDATE_OK;
	} else if (rc == SQLITE_DONE) {
		r = MANDATE_ENOTFOUND;
	} else {
		r = op_fail(&op, rc);
	}
	stmt_idle(q);
out:
	op_end(&op);
	return r;
}

static int
sq_task_list_by_agent(void *impl, struct str agent,
    const struct store_page *page, struct arena *a, struct store_task **out,
    size_t *n_out)
{
	struct op op;
	struct store_task *tasks = NULL;
	sqlite3_stmt *q;
	size_t n = 0;
	int r, rc = SQLITE_DONE;
	int64_t after = page->after_id.n ? page->after_created_at : INT64_MIN;

	if ((r = op_begin(impl, "task_list_by_agent", &op)) != MANDATE_OK)
		return r;
	if ((q = op_stmt(&op, ST_TASK_LIST, &r)) == NULL)
		goto out;
	if ((tasks = arena_calloc(a, page->limit, sizeof(*tasks))) == NULL) {
		r = MANDATE_ENOMEM;
		goto out;
	}
	if (bind_str(q, 1, agent) || sqlite3_bind_int64(q, 2, after) ||
	    bind_str(q, 3, page->after_id) ||
	    sqlite3_bind_int64(q, 4, (int64_t)page->limit)) {
		r = op_fail(&op, sqlite3_errcode(op.c->db));
		stmt_idle(q);
		goto out;
	}
	r = MANDATE_OK;
	while (r == MANDATE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (n >= page->limit) {
			r = MANDATE_EINTERNAL;
			break;
		}
		r = read_task(q, a, &tasks[n++]);
	}
	if (r == MANDATE_OK && rc != SQLITE_DONE)
		r = op_fail(&op, rc);
	stmt_idle(q);
out:
	op_end(&op);
	if (r == MANDATE_OK && n > 0) {
		*out = tasks;
		*n_out = n;
	}
	return r;
}

/* --- kill switch -------------------------------------------------------- */

/* The kill switch inside the op's transaction: the revocation's row,
 * the agent's tasks active and unexpired at now (*n_tasks of them) and
 * its credentials. */
static int
agent_revoke_on(struct op *op, const struct store_agent_revocation *rv,
    int64_t now, size_t *n_tasks)
{
	sqlite3_stmt *q;
	int r, changes = 0;

	*n_tasks = 0;
	op->name = "agent_revoke";
	if ((q = op_stmt(op, ST_REVOCATION_INSERT, &r)) == NULL)
		return r;
	if (bind_str(q, 1, rv->agent) || sqlite3_bind_int64(q, 2, now) ||
	    bind_str(q, 3, rv->revoked_by) || bind_str(q, 4, rv->reason)) {
		r = op_fail(op, sqlite3_errcode(op->c->db));
		stmt_idle(q);
		return r;
	}
	if ((r = run_stmt(op, ST_REVOCATION_INSERT, q, NULL)) != MANDATE_OK)
		return r;
	if ((r = run_update(op, ST_AGENT_TASKS_REVOKE, rv->agent, now,
	    &rv->reason, &changes)) != MANDATE_OK)
		return r;
	if ((r = run_update(op, ST_AGENT_CREDS_REVOKE, rv->agent, now, NULL,
	    NULL)) == MANDATE_OK)
		*n_tasks = (size_t)changes;
	return r;
}

static int
sq_agent_revoke(void *impl, const struct store_agent_revocation *rv,
    int64_t now, size_t *n_tasks)
{
	struct op op;
	size_t n = 0;
	int r;

	if ((r = op_begin(impl, "agent_revoke", &op)) != MANDATE_OK)
		return r;
	if ((r = tx_begin(&op)) == MANDATE_OK)
		r = tx_end(&op, agent_revoke_on(&op, rv, now, &n));
	if (r == MANDATE_OK)
		*n_tasks = n;
	op_end(&op);
	return r;
}

/* The kill switch and its agent.revoked record in one commit (a group
 * commit's): a crash never leaves an agent revoked without the record. */
static int
sq_agent_revoke_audited(void *impl, const struct store_agent_revocation *rv,
    int64_t now, store_revoke_event_fn *build, void *build_arg,
    size_t *n_tasks, int64_t *id)
{
	struct gc_req req = { .kind = GC_REVOKE_AUDITED, .rev = rv,
	    .now = now, .revoke_build = build, .build_arg = build_arg };
	int r = gc_submit(impl, &req);

	if (r == MANDATE_OK) {
		*n_tasks = req.n_tasks;
		*id = req.id;
	}
	return r;
}

static int
sq_agent_revocation_last(void *impl, struct str agent, struct arena *a,
    struct store_agent_revocation *out)
{
	struct op op;
	sqlite3_stmt *q;
	int r, rc;

	if ((r = op_begin(impl, "agent_revocation_last", &op)) != MANDATE_OK)
		return r;
	if ((q = op_stmt(&op, ST_REVOCATION_LAST, &r)) == NULL)
		goto out;
	if ((rc = bind_str(q, 1, agent)) != SQLITE_OK) {
		r = op_fail(&op, rc);
	} else if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if ((r = col_str(q, 0, a, &out->agent)) == MANDATE_OK &&
		    (r = col_str(q, 2, a, &out->revoked_by)) == MANDATE_OK &&
		    (r = col_str(q, 3, a, &out->reason)) == MANDATE_OK)
			out->revoked_at = sqlite3_column_int64(q, 1);
	} else if (rc == SQLITE_DONE) {
		r = MANDATE_ENOTFOUND;
	} else {
		r = op_fail(&op, rc);
	}
	stmt_idle(q);
out:
	op_end(&op);
	if (r != MANDATE_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

/* --- group commit -------------------------------------------------------- */

static int gc_cred_insert(struct op *op, const struct store_credential *c);
static int gc_audit_append(struct op *op, const struct store_audit_event *e,
    int64_t *id);

static int gc_decision_record(struct op *op, struct gc_req *w);
static int cred_revoke_on(struct op *op, struct str jti, int64_t now,
    int *changed);
static int decision_outcome_on(struct op *op, struct str id, int status,
    struct str labels_json, const struct str *labels, size_t n_labels,
    int64_t now, int *changed, int *task_active);
static int key_activate_on(struct op *op, struct str kid, int64_t now,
    int64_t retire_after);
static int one_int(struct op *op, enum stmt_id id, struct str key,
    int64_t *out);

static int
gc_run_one(struct op *op, struct gc_req *w)
{
	switch (w->kind) {
	case GC_CRED:
		return gc_cred_insert(op, w->cred);
	case GC_AUDIT:
		return gc_audit_append(op, w->ev, &w->id);
	case GC_DECISION:
		return gc_decision_record(op, w);
	case GC_CRED_AUDITED: {
		/* both inside the write's savepoint (or, alone, its
		 * transaction): a failure of either undoes both */
		int r = gc_cred_insert(op, w->cred);
		return r != MANDATE_OK ? r :
		    gc_audit_append(op, w->ev, &w->id);
	}
	case GC_DECISION_AUDITED: {
		/* likewise; the record says what the outcome was */
		struct store_audit_event ev;
		int r = gc_decision_record(op, w);

		if (r != MANDATE_OK)
			return r;
		memset(&ev, 0, sizeof(ev));
		if ((r = w->build(w->build_arg, w->outcome, w->calls_used,
		    &ev)) != MANDATE_OK)
			return r;
		return gc_audit_append(op, &ev, &w->id);
	}
	case GC_KEY_AUDITED: {
		/* the activation and its record: both, or neither */
		int r = key_activate_on(op, w->kid, w->now, w->retire_after);
		return r != MANDATE_OK ? r :
		    gc_audit_append(op, w->ev, &w->id);
	}
	case GC_TASK_AUDITED: {
		/* the task and its record: both, or neither (a refused
		 * creation, ECONFLICT, inserts nothing and has no record) */
		int r = task_insert_on(op, w->task);
		return r != MANDATE_OK ? r :
		    gc_audit_append(op, w->ev, &w->id);
	}
	case GC_TASK_END_AUDITED: {
		/* the end and its record: both, or neither; an end that
		 * changes nothing has no record */
		int r = task_end_on(op, w->task_id, w->now, w->reason,
		    &w->changed);
		if (r != MANDATE_OK || !w->changed)
			return r;
		return gc_audit_append(op, w->ev, &w->id);
	}
	case GC_CRED_REVOKE_AUDITED: {
		/* the revocation and its record: both, or neither; one
		 * that changes nothing has no record */
		int r = cred_revoke_on(op, w->task_id, w->now, &w->changed);
		if (r != MANDATE_OK || !w->changed)
			return r;
		return gc_audit_append(op, w->ev, &w->id);
	}
	case GC_OUTCOME_AUDITED: {
		/* the report and its record: both, or neither; a report
		 * that changes nothing has no record */
		struct store_audit_event ev;
		int r = decision_outcome_on(op, w->task_id, w->status,
		    w->labels_json, w->labels, w->n_labels, w->now,
		    &w->changed, &w->task_active);

		if (r != MANDATE_OK || !w->changed)
			return r;
		memset(&ev, 0, sizeof(ev));
		if ((r = w->outcome_build(w->build_arg, w->task_active,
		    &ev)) != MANDATE_OK ||
		    (r = store_audit_event_check(&ev)) != MANDATE_OK)
			return r;
		return gc_audit_append(op, &ev, &w->id);
	}
	case GC_REVOKE_AUDITED: {
		/* the kill switch and its record, which says how many tasks
		 * it revoked: both, or neither */
		struct store_audit_event ev;
		int r = agent_revoke_on(op, w->rev, w->now, &w->n_tasks);

		if (r != MANDATE_OK)
			return r;
		memset(&ev, 0, sizeof(ev));
		if ((r = w->revoke_build(w->build_arg, w->n_tasks, &ev)) !=
		    MANDATE_OK ||
		    (r = store_audit_event_check(&ev)) != MANDATE_OK)
			return r;
		return gc_audit_append(op, &ev, &w->id);
	}
	}
	return MANDATE_EINTERNAL;
}

/* A write's own failure that leaves the transaction usable: it is undone
 * by its savepoint and fails only that write. */
static int
gc_own_failure(int r)
{
	/* ECONFLICT: a task creation that raced the kill switch (its
	 * insert changed nothing); ENOTFOUND: an unknown task or key (a
	 * read found nothing to change) */
	return r == MANDATE_EINVAL || r == MANDATE_ELIMIT ||
	    r == MANDATE_ECONFLICT || r == MANDATE_ENOTFOUND;
}

/* After a batch: a committed batch that touched the tree makes its tree
 * the committed one; a failed batch leaves the cache as it was (its
 * leaves were rolled back with it). */
static void
tree_publish(struct sq_store *st, const struct op *op, int r)
{
	if (r != MANDATE_OK || !op->tree_checked)
		return;
	pthread_mutex_lock(&st->tree_mu);
	st->tree = *op->tree;
	st->tree_valid = 1;
	pthread_mutex_unlock(&st->tree_mu);
}

/* Run batch[0..n) in one transaction and set each request's r.  Called by
 * the leader without gc_mu held.  A batch first runs its writes without
 * savepoints (two statements less per write); when one of them fails on
 * its own (gc_own_failure), the transaction is rolled back and the batch
 * runs again with a savepoint around each write, so that only that write
 * fails.  Either way the batch commits once. */
static void
gc_run_batch(struct sq_store *st, struct gc_req **batch, size_t n)
{
	struct merkle_compact tree;
	struct op op;
	int r, tree_valid, spoints = 0;
	size_t i;

	if ((r = op_begin(st, "group_commit", &op)) != MANDATE_OK)
		goto fail_all;
again:
	pthread_mutex_lock(&st->tree_mu);
	tree = st->tree;
	tree_valid = st->tree_valid;
	pthread_mutex_unlock(&st->tree_mu);
	op.tree = &tree;
	op.tree_valid = tree_valid;
	op.tree_checked = 0;
	if ((r = tx_begin(&op)) != MANDATE_OK)
		goto end;
	for (i = 0; i < n; i++) {
		struct gc_req *w = batch[i];
		int wr;

		if (n == 1) {        /* alone: the transaction is its savepoint */
			wr = gc_run_one(&op, w);
			w->r = wr;
			if (wr != MANDATE_OK)
				r = wr;
			break;
		}
		if (!spoints) {
			/* the first run: any failure ends it */
			if ((wr = gc_run_one(&op, w)) != MANDATE_OK) {
				w->r = wr;
				r = wr;
				break;
			}
			continue;
		}
		if ((r = run_simple(&op, ST_SAVEPOINT)) != MANDATE_OK)
			break;
		wr = gc_run_one(&op, w);
		w->r = wr;
		if (wr != MANDATE_OK) {
			if (!gc_own_failure(wr) ||
			    sqlite3_get_autocommit(op.c->db)) {
				r = wr;      /* the transaction itself is in trouble */
				break;
			}
			if ((r = run_simple(&op, ST_SAVEPOINT_UNDO)) !=
			    MANDATE_OK)
				break;
		}
		if ((r = run_simple(&op, ST_SAVEPOINT_RELEASE)) != MANDATE_OK)
			break;
	}
	if (n == 1) {
		/* commit on success, roll back on failure: its own result */
		r = tx_end(&op, r);
		batch[0]->r = r;
		op.name = "group_commit";
		tree_publish(st, &op, r);
		op_end(&op);
		return;
	}
	op.name = "group_commit";
	if (!spoints && r != MANDATE_OK && gc_own_failure(r)) {
		/* one write failed on its own: undo all, run again with a
		 * savepoint each (nothing of the first run is kept: the
		 * tree is copied again and every write runs again) */
		(void)tx_end(&op, r);
		for (i = 0; i < n; i++)
			batch[i]->r = MANDATE_OK;
		spoints = 1;
		goto again;
	}
	r = tx_end(&op, r);
	tree_publish(st, &op, r);
end:
	op_end(&op);
	if (r == MANDATE_OK)
		return;          /* committed: each request keeps its own r */
fail_all:
	/* Nothing of the batch is durable: every write fails (a write that
	 * failed on its own keeps its own reason). */
	for (i = 0; i < n; i++) {
		if (batch[i]->r == MANDATE_OK || !gc_own_failure(batch[i]->r))
			batch[i]->r = r;
	}
}

/* Queue one write and wait until it is committed or failed.  The first
 * caller to find no leader leads: it takes the queue (its own write at
 * its head) as one batch, commits it, then hands the lead to the write
 * at the head of the queue, if any, and wakes every write of its batch.
 * Each waiter sleeps on its own semaphore and is woken exactly once,
 * either done or to lead the next batch (no broadcast: a commit wakes
 * only the callers it concerns).  Returns the write's own result. */
static int
gc_submit(struct sq_store *st, struct gc_req *req)
{
	struct gc_req *batch[GC_BATCH_MAX], *next = NULL;
	size_t n = 0;

	req->r = MANDATE_EINTERNAL;
	req->done = 0;
	req->next = NULL;
	if (sem_init(&req->wake, 0, 0) != 0)
		return MANDATE_EINTERNAL;
	if (pthread_mutex_lock(&st->gc_mu) != 0) {
		sem_destroy(&req->wake);
		return MANDATE_EINTERNAL;
	}
	if (st->gc_tail != NULL)
		st->gc_tail->next = req;
	else
		st->gc_head = req;
	st->gc_tail = req;
	if (st->gc_leader) {
		/* a batch is being committed: wait for ours, or to lead */
		pthread_mutex_unlock(&st->gc_mu);
		while (sem_wait(&req->wake) != 0)
			;                 /* EINTR only */
		if (req->done) {
			sem_destroy(&req->wake);
			return req->r;
		}
		/* handed the lead: we are at the head of the queue */
		pthread_mutex_lock(&st->gc_mu);
	}
	/* Lead (gc_leader is ours, set now or handed over); the queue
	 * starts with our write: it was empty when we came, or we were
	 * its head when handed the lead. */
	st->gc_leader = 1;
	while (st->gc_head != NULL && n < GC_BATCH_MAX) {
		batch[n++] = st->gc_head;
		st->gc_head = st->gc_head->next;
	}
	if (st->gc_head == NULL)
		st->gc_tail = NULL;
	pthread_mutex_unlock(&st->gc_mu);
	for (size_t i = 0; i < n; i++)
		batch[i]->r = MANDATE_OK;
	gc_run_batch(st, batch, n);
	pthread_mutex_lock(&st->gc_mu);
	if ((next = st->gc_head) == NULL) {
		st->gc_leader = 0;
		pthread_cond_broadcast(&st->gc_cv);
	}
	pthread_mutex_unlock(&st->gc_mu);
	/* The next leader first, so that the next batch commits while this
	 * one's callers are woken (a post is a syscall each: waking 20
	 * callers before it would hold the next commit back).  A woken
	 * caller returns and its request goes with its stack: touch none
	 * after its post.  next is not in this batch and is not done, so it
	 * stays until it has led; the new leader touches only the queue,
	 * which holds none of this batch. */
	if (next != NULL)
		sem_post(&next->wake);
	for (size_t i = 0; i < n; i++) {
		if (batch[i] == req)
			continue;
		batch[i]->done = 1;
		sem_post(&batch[i]->wake);
	}
	req->done = 1;
	sem_destroy(&req->wake);
	return req->r;
}

/* Lead one batch for a gc_submit_many caller whose requests are
 * mine[0..n_mine): as gc_submit's leader, but the caller's own requests
 * are marked done without a post (it is not waiting on them). */
static void
gc_lead_many(struct sq_store *st, struct gc_req *mine, size_t n_mine)
{
	struct gc_req *batch[GC_BATCH_MAX], *next = NULL;
	size_t n = 0;

	/* gc_mu held, gc_leader ours, the queue's head is one of ours */
	st->gc_leader = 1;
	while (st->gc_head != NULL && n < GC_BATCH_MAX) {
		batch[n++] = st->gc_head;
		st->gc_head = st->gc_head->next;
	}
	if (st->gc_head == NULL)
		st->gc_tail = NULL;
	pthread_mutex_unlock(&st->gc_mu);
	for (size_t i = 0; i < n; i++)
		batch[i]->r = MANDATE_OK;
	gc_run_batch(st, batch, n);
	pthread_mutex_lock(&st->gc_mu);
	if ((next = st->gc_head) == NULL) {
		st->gc_leader = 0;
		pthread_cond_broadcast(&st->gc_cv);   /* sq_close waits here */
	}
	pthread_mutex_unlock(&st->gc_mu);
	for (size_t i = 0; i < n; i++) {
		if (batch[i] >= mine && batch[i] < mine + n_mine) {
			batch[i]->led_by_owner = 1;
			batch[i]->done = 1;
			continue;
		}
		batch[i]->done = 1;
		sem_post(&batch[i]->wake);
	}
	if (next != NULL)
		sem_post(&next->wake);
}

/* Queue n writes of one caller, in order, and wait until each is
 * committed or failed (each request's r).  The same protocol as
 * gc_submit: every request not committed by its caller is posted exactly
 * once, done or to lead, and the caller waits on each in turn. */
static void
gc_submit_many(struct sq_store *st, struct gc_req *reqs, size_t n_reqs)
{
	size_t inited = 0;
	bool lead_now;

	for (size_t i = 0; i < n_reqs; i++) {
		reqs[i].r = MANDATE_EINTERNAL;
		reqs[i].done = 0;
		reqs[i].led_by_owner = 0;
		reqs[i].next = i + 1 < n_reqs ? &reqs[i + 1] : NULL;
	}
	for (; inited < n_reqs; inited++)
		if (sem_init(&reqs[inited].wake, 0, 0) != 0)
			break;
	if (n_reqs == 0 || inited < n_reqs ||
	    pthread_mutex_lock(&st->gc_mu) != 0) {
		for (size_t i = 0; i < inited; i++)
			sem_destroy(&reqs[i].wake);
		return;
	}
	if (st->gc_tail != NULL)
		st->gc_tail->next = &reqs[0];
	else
		st->gc_head = &reqs[0];
	st->gc_tail = &reqs[n_reqs - 1];
	lead_now = !st->gc_leader;
	if (lead_now)
		gc_lead_many(st, reqs, n_reqs);    /* unlocks gc_mu */
	else
		pthread_mutex_unlock(&st->gc_mu);
	for (size_t i = 0; i < n_reqs; i++) {
		if (reqs[i].led_by_owner)
			continue;
		while (sem_wait(&reqs[i].wake) != 0)
			;                 /* EINTR only */
		if (reqs[i].done)
			continue;
		/* handed the lead: reqs[i] is the queue's head */
		pthread_mutex_lock(&st->gc_mu);
		gc_lead_many(st, reqs, n_reqs);
	}
	for (size_t i = 0; i < n_reqs; i++)
		sem_destroy(&reqs[i].wake);
}

/* --- credentials -------------------------------------------------------- */

/* Run one queued credential insert on the leader's connection. */
static int
gc_cred_insert(struct op *op, const struct store_credential *c)
{
	sqlite3_stmt *q;
	int r;

	op->name = "cred_insert";
	if ((q = op_stmt(op, ST_CRED_INSERT, &r)) == NULL)
		return r;
	if (bind_str(q, 1, c->jti) || bind_str(q, 2, c->task_id) ||
	    bind_str(q, 3, c->agent) || bind_str(q, 4, c->audience) ||
	    sqlite3_bind_int64(q, 5, c->issued_at) ||
	    sqlite3_bind_int64(q, 6, c->expires_at) ||
	    bind_str(q, 7, c->cnf_jkt)) {
		r = op_fail(op, sqlite3_errcode(op->c->db));
		stmt_idle(q);
		return r;
	}
	return run_stmt(op, ST_CRED_INSERT, q, NULL);
}

static int
sq_cred_insert(void *impl, const struct store_credential *c)
{
	struct gc_req req = { .kind = GC_CRED, .cred = c };

	return gc_submit(impl, &req);
}

static int
sq_cred_insert_audited(void *impl, const struct store_credential *c,
    const struct store_audit_event *e, int64_t *id)
{
	struct gc_req req = { .kind = GC_CRED_AUDITED, .cred = c, .ev = e };
	int r = gc_submit(impl, &req);

	if (r == MANDATE_OK)
		*id = req.id;
	return r;
}

static int
sq_cred_get(void *impl, struct str jti, struct arena *a,
    struct store_credential *out)
{
	struct op op;
	sqlite3_stmt *q;
	int r, rc;

	if ((r = op_begin(impl, "cred_get", &op)) != MANDATE_OK)
		return r;
	if ((q = op_stmt(&op, ST_CRED_GET, &r)) == NULL)
		goto out;
	if ((rc = bind_str(q, 1, jti)) != SQLITE_OK) {
		r = op_fail(&op, rc);
	} else if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if ((r = col_str(q, 0, a, &out->jti)) == MANDATE_OK &&
		    (r = col_str(q, 1, a, &out->task_id)) == MANDATE_OK &&
		    (r = col_str(q, 2, a, &out->agent)) == MANDATE_OK &&
		    (r = col_str(q, 3, a, &out->audience)) == MANDATE_OK &&
		    (r = col_str(q, 6, a, &out->cnf_jkt)) == MANDATE_OK) {
			out->issued_at = sqlite3_column_int64(q, 4);
			out->expires_at = sqlite3_column_int64(q, 5);
			out->revoked = sqlite3_column_int(q, 7) != 0;
			out->revoked_at = sqlite3_column_int64(q, 8);
		}
	} else if (rc == SQLITE_DONE) {
		r = MANDATE_ENOTFOUND;
	} else {
		r = op_fail(&op, rc);
	}
	stmt_idle(q);
out:
	op_end(&op);
	if (r != MANDATE_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

/* Revoke credential jti on the op's connection; *changed 1 when it was
 * not revoked yet.  ENOTFOUND for an unknown jti. */
static int
cred_revoke_on(struct op *op, struct str jti, int64_t now, int *changed)
{
	int r, changes = 0, exists = 0;

	*changed = 0;
	op->name = "cred_revoke";
	r = run_update(op, ST_CRED_REVOKE, jti, now, NULL, &changes);
	if (r == MANDATE_OK && changes == 0 &&
	    (r = row_exists(op, ST_CRED_EXISTS, jti, &exists)) ==
	    MANDATE_OK && !exists)
		r = MANDATE_ENOTFOUND;
	if (r == MANDATE_OK)
		*changed = changes > 0;
	return r;
}

static int
sq_cred_revoke(void *impl, struct str jti, int64_t now, int *changed)
{
	struct op op;
	int r;

	if ((r = op_begin(impl, "cred_revoke", &op)) != MANDATE_OK)
		return r;
	r = cred_revoke_on(&op, jti, now, changed);
	op_end(&op);
	return r;
}

/* The revocation and its token.revoked record in one commit (a group
 * commit's): a crash never leaves a credential revoked by RFC 7009
 * without the record. */
static int
sq_cred_revoke_audited(void *impl, struct str jti, int64_t now,
    const struct store_audit_event *e, int *changed, int64_t *id)
{
	struct gc_req req = { .kind = GC_CRED_REVOKE_AUDITED, .task_id = jti,
	    .now = now, .ev = e };
	int r = gc_submit(impl, &req);

	if (r == MANDATE_OK) {
		*changed = req.changed;
		*id = req.id;
	}
	return r;
}

static int
sq_cred_usable(void *impl, struct str jti, int64_t now, int *usable)
{
	struct op op;
	sqlite3_stmt *q;
	int r, rc;

	*usable = STORE_UNUSABLE_UNKNOWN;
	if ((r = op_begin(impl, "cred_usable", &op)) != MANDATE_OK)
		return r;
	if ((q = op_stmt(&op, ST_CRED_USABLE, &r)) == NULL)
		goto out;
	if ((rc = bind_str(q, 1, jti)) != SQLITE_OK) {
		r = op_fail(&op, rc);
	} else if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (sqlite3_column_int(q, 0) != 0)
			*usable = STORE_UNUSABLE_REVOKED;
		else if (sqlite3_column_int64(q, 1) <= now)
			*usable = STORE_UNUSABLE_EXPIRED;
		else if (sqlite3_column_int(q, 2) != STORE_TASK_ACTIVE)
			*usable = STORE_UNUSABLE_TASK_ENDED;
		else if (sqlite3_column_int64(q, 3) <= now)
			*usable = STORE_UNUSABLE_TASK_EXPIRED;
		else if (sqlite3_column_int(q, 4) != 0)
			*usable = STORE_UNUSABLE_AGENT_REVOKED;
		else
			*usable = STORE_USABLE;
		r = MANDATE_OK;
	} else if (rc == SQLITE_DONE) {
		r = MANDATE_OK;           /* unknown: a result, not an error */
	} else {
		r = op_fail(&op, rc);
	}
	stmt_idle(q);
out:
	op_end(&op);
	if (r != MANDATE_OK)
		*usable = STORE_UNUSABLE_UNKNOWN;
	return r;
}

/* --- signing keys ------------------------------------------------------- */

static int
read_key(sqlite3_stmt *q, struct arena *a, struct store_key *k)
{
	int r;

	if ((r = col_str(q, 0, a, &k->kid)) != MANDATE_OK ||
	    (r = col_str(q, 1, a, &k->alg)) != MANDATE_OK ||
	    (r = col_str(q, 2, a, &k->public_jwk)) != MANDATE_OK)
		return r;
	k->state = sqlite3_column_int(q, 3);
	k->created_at = sqlite3_column_int64(q, 4);
	k->activated_at = sqlite3_column_int64(q, 5);
	k->retire_after = sqlite3_column_int64(q, 6);
	return MANDATE_OK;
}

static int
sq_key_insert(void *impl, const struct store_key *k)
{
	struct op op;
	sqlite3_stmt *q;
	int r;

	if ((r = op_begin(impl, "key_insert", &op)) != MANDATE_OK)
		return r;
	if ((q = op_stmt(&op, ST_KEY_INSERT, &r)) == NULL)
		goto out;
	if (bind_str(q, 1, k->kid) || bind_str(q, 2, k->alg) ||
	    bind_str(q, 3, k->public_jwk) || sqlite3_bind_int(q, 4, k->state) ||
	    sqlite3_bind_int64(q, 5, k->created_at) ||
	    sqlite3_bind_int64(q, 6, k->activated_at) ||
	    sqlite3_bind_int64(q, 7, k->retire_after)) {
		r = op_fail(&op, sqlite3_errcode(op.c->db));
		stmt_idle(q);
		goto out;
	}
	r = run_stmt(&op, ST_KEY_INSERT, q, NULL);
out:
	op_end(&op);
	return r;
}

/* Read one key on a borrowed connection; ENOTFOUND if absent. */
static int
key_get_on(struct op *op, struct str kid, struct arena *a,
    struct store_key *out)
{
	sqlite3_stmt *q;
	int r, rc;

	if ((q = op_stmt(op, ST_KEY_GET, &r)) == NULL)
		return r;
	if ((rc = bind_str(q, 1, kid)) != SQLITE_OK)
		r = op_fail(op, rc);
	else if ((rc = sqlite3_step(q)) == SQLITE_ROW)
		r = read_key(q, a, out);
	else if (rc == SQLITE_DONE)
		r = MANDATE_ENOTFOUND;
	else
		r = op_fail(op, rc);
	stmt_idle(q);
	return r;
}

static int
sq_key_get(void *impl, struct str kid, struct arena *a,
    struct store_key *out)
{
	struct op op;
	int r;

	if ((r = op_begin(impl, "key_get", &op)) != MANDATE_OK)
		return r;
	r = key_get_on(&op, kid, a, out);
	op_end(&op);
	if (r != MANDATE_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

static int
sq_key_list(void *impl, struct arena *a, struct store_key **out,
    size_t *n_out)
{
	struct op op;
	struct store_key *keys = NULL;
	sqlite3_stmt *q;
	size_t n = 0, cap = 0;
	int r, rc = SQLITE_DONE;

	if ((r = op_begin(impl, "key_list", &op)) != MANDATE_OK)
		return r;
	if ((q = op_stmt(&op, ST_KEY_LIST, &r)) == NULL)
		goto out;
	if ((rc = sqlite3_bind_int64(q, 1, STORE_MAX_PAGE)) != SQLITE_OK) {
		r = op_fail(&op, rc);
		stmt_idle(q);
		goto out;
	}
	r = MANDATE_OK;
	while (r == MANDATE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (n == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct store_key *nk = arena_realloc(a, keys,
			    cap * sizeof(*keys), ncap * sizeof(*keys));
			if (nk == NULL) {
				r = MANDATE_ENOMEM;
				break;
			}
			keys = nk;
			cap = ncap;
		}
		memset(&keys[n], 0, sizeof(keys[n]));
		r = read_key(q, a, &keys[n++]);
	}
	if (r == MANDATE_OK && rc != SQLITE_DONE)
		r = op_fail(&op, rc);
	stmt_idle(q);
out:
	op_end(&op);
	if (r == MANDATE_OK && n > 0) {
		*out = keys;
		*n_out = n;
	}
	return r;
}

/* Make kid the active key and retire every other active one, inside the
 * op's transaction.  EINVAL for a retired key, ENOTFOUND for an unknown
 * one; activating the active key again changes nothing. */
static int
key_activate_on(struct op *op, struct str kid, int64_t now,
    int64_t retire_after)
{
	struct store_key k;
	struct arena a;
	int r;

	op->name = "key_activate";
	arena_init(&a, 1u << 20);
	memset(&k, 0, sizeof(k));
	if ((r = key_get_on(op, kid, &a, &k)) != MANDATE_OK)
		goto out;
	if (k.state == STORE_KEY_RETIRED) {
		log_msg(op->st, MANDATE_EINVAL, op->name,
		    "a retired key cannot become active again");
		r = MANDATE_EINVAL;
		goto out;
	}
	if ((r = run_update(op, ST_KEY_RETIRE_OTHERS, kid, retire_after,
	    NULL, NULL)) != MANDATE_OK)
		goto out;
	if (k.state != STORE_KEY_ACTIVE)
		r = run_update(op, ST_KEY_ACTIVATE, kid, now, NULL, NULL);
out:
	arena_free(&a);
	return r;
}

static int
sq_key_activate(void *impl, struct str kid, int64_t now,
    int64_t retire_after)
{
	struct op op;
	int r;

	if ((r = op_begin(impl, "key_activate", &op)) != MANDATE_OK)
		return r;
	if ((r = tx_begin(&op)) == MANDATE_OK)
		r = tx_end(&op, key_activate_on(&op, kid, now, retire_after));
	op_end(&op);
	return r;
}

/* The activation and its audit record in one commit (a group commit's):
 * a crash never leaves a key signing whose activation the log lacks. */
static int
sq_key_activate_audited(void *impl, struct str kid, int64_t now,
    int64_t retire_after, const struct store_audit_event *e, int64_t *id)
{
	struct gc_req req = { .kind = GC_KEY_AUDITED, .kid = kid, .now = now,
	    .retire_after = retire_after, .ev = e };
	int r = gc_submit(impl, &req);

	if (r == MANDATE_OK)
		*id = req.id;
	return r;
}

static int
sq_key_retire(void *impl, struct str kid, int64_t retire_after)
{
	struct op op;
	int r, changes = 0;

	if ((r = op_begin(impl, "key_retire", &op)) != MANDATE_OK)
		return r;
	r = run_update(&op, ST_KEY_RETIRE, kid, retire_after, NULL, &changes);
	if (r == MANDATE_OK && changes == 0)
		r = MANDATE_ENOTFOUND;
	op_end(&op);
	return r;
}

/* --- audit -------------------------------------------------------------- */

/* Run one queued audit append on the leader's connection. */
static int
gc_audit_append(struct op *op, const struct store_audit_event *e,
    int64_t *id)
{
	sqlite3_stmt *q;
	int r;

	op->name = "audit_append";
	if ((r = tree_sync(op)) != MANDATE_OK)
		return r;
	if ((q = op_stmt(op, ST_AUDIT_APPEND, &r)) == NULL)
		return r;
	if (sqlite3_bind_int64(q, 1, e->time) || bind_str(q, 2, e->type) ||
	    bind_str(q, 3, e->request_id) || bind_str(q, 4, e->agent) ||
	    bind_str(q, 5, e->task_id) || bind_str(q, 6, e->fields_json)) {
		r = op_fail(op, sqlite3_errcode(op->c->db));
		stmt_idle(q);
		return r;
	}
	if ((r = run_stmt(op, ST_AUDIT_APPEND, q, NULL)) != MANDATE_OK)
		return r;
	{
		/* the same record, with its id, becomes the next leaf */
		struct store_audit_event with_id = *e;
		with_id.id = sqlite3_last_insert_rowid(op->c->db);
		if ((r = tree_add(op, &with_id)) != MANDATE_OK)
			return r;
		*id = with_id.id;
	}
	return MANDATE_OK;
}

static int
sq_audit_append(void *impl, const struct store_audit_event *e, int64_t *id)
{
	struct gc_req req = { .kind = GC_AUDIT, .ev = e };
	int r = gc_submit(impl, &req);

	if (r == MANDATE_OK)
		*id = req.id;
	return r;
}

static int
sq_append_many(void *impl, const struct store_append *w, size_t n,
    int64_t *ids, int *results)
{
	struct gc_req *reqs = calloc(n, sizeof(*reqs));
	int r = MANDATE_OK;

	if (reqs == NULL)
		return MANDATE_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		reqs[i].kind = GC_AUDIT;
		reqs[i].ev = w[i].ev;
		if (w[i].cred != NULL) {
			reqs[i].kind = GC_CRED_AUDITED;
			reqs[i].cred = w[i].cred;
		} else if (w[i].dec != NULL) {
			reqs[i].kind = GC_DECISION_AUDITED;
			reqs[i].dec = w[i].dec;
			reqs[i].now = w[i].now;
			reqs[i].build = w[i].build;
			reqs[i].build_arg = w[i].build_arg;
		}
	}
	gc_submit_many(impl, reqs, n);
	for (size_t i = 0; i < n; i++) {
		results[i] = reqs[i].r;
		ids[i] = reqs[i].r == MANDATE_OK ? reqs[i].id : 0;
		if (reqs[i].r != MANDATE_OK && r == MANDATE_OK)
			r = reqs[i].r;
	}
	free(reqs);
	return r;
}

/* The text of a query with f's filters.  A filter that is not set
 * is left out of the text rather than written as "(?2 = '' OR type =
 * ?2)", which no index can serve: so a filter on an indexed column
 * (store_options.audit_indexes) reads only the records that match, in id
 * order from the index, and one on a column without an index is checked
 * on each record of the id range.  Every variant takes the same seven
 * parameters (those it leaves out are bound and unused).  A set filter is
 * never empty, and says so in the words of the index's WHERE clause,
 * which SQLite needs to see to use a partial index.  audit_query_stmt
 * prepares each variant once per connection (NULL with *r set on
 * failure). */
static unsigned
audit_query_kind(const struct store_audit_filter *f)
{
	return (f->type.n > 0 ? AQ_TYPE : 0) |
	    (f->agent.n > 0 ? AQ_AGENT : 0) |
	    (f->task_id.n > 0 ? AQ_TASK : 0) | (f->newest_first ? AQ_DESC : 0);
}

static int
audit_query_sql(unsigned k, char *buf, size_t n)
{
	int w = snprintf(buf, n, "SELECT " AUDIT_COLS " FROM audit_events"
	    " WHERE id %s ?1%s%s%s AND time >= ?5 AND time <= ?6"
	    " ORDER BY id%s LIMIT ?7", k & AQ_DESC ? "<" : ">",
	    k & AQ_TYPE ? " AND type = ?2 AND type <> ''" : "",
	    k & AQ_AGENT ? " AND agent = ?3 AND agent <> ''" : "",
	    k & AQ_TASK ? " AND task_id = ?4 AND task_id <> ''" : "",
	    k & AQ_DESC ? " DESC" : "");

	return w > 0 && (size_t)w < n ? MANDATE_OK : MANDATE_ELIMIT;
}

int
store_sqlite_audit_query_sql(const struct store_audit_filter *f, char *buf,
    size_t n)
{
	return audit_query_sql(audit_query_kind(f), buf, n);
}

static sqlite3_stmt *
audit_query_stmt(struct op *op, const struct store_audit_filter *f, int *r)
{
	unsigned k = audit_query_kind(f);
	char sql[512];
	int rc;

	if (op->c->aq[k] != NULL)
		return op->c->aq[k];
	if ((*r = audit_query_sql(k, sql, sizeof(sql))) != MANDATE_OK)
		return NULL;
	rc = sqlite3_prepare_v3(op->c->db, sql, -1, SQLITE_PREPARE_PERSISTENT,
	    &op->c->aq[k], NULL);
	if (rc != SQLITE_OK) {
		*r = op_fail(op, rc);
		op->c->aq[k] = NULL;
		return NULL;
	}
	return op->c->aq[k];
}

static int
sq_audit_query(void *impl, const struct store_audit_filter *f,
    struct arena *a, struct store_audit_event **out, size_t *n_out)
{
	struct op op;
	struct store_audit_event *ev = NULL;
	sqlite3_stmt *q;
	size_t n = 0;
	int r, rc = SQLITE_DONE;
	int64_t start = f->newest_first ? (f->before_id > 0 ? f->before_id :
	    INT64_MAX) : f->after_id;

	if ((r = op_begin(impl, "audit_query", &op)) != MANDATE_OK)
		return r;
	if ((q = audit_query_stmt(&op, f, &r)) == NULL)
		goto out;
	if ((ev = arena_calloc(a, f->limit, sizeof(*ev))) == NULL) {
		r = MANDATE_ENOMEM;
		goto out;
	}
	if (sqlite3_bind_int64(q, 1, start) || bind_str(q, 2, f->type) ||
	    bind_str(q, 3, f->agent) || bind_str(q, 4, f->task_id) ||
	    sqlite3_bind_int64(q, 5, f->from_time) ||
	    sqlite3_bind_int64(q, 6, f->to_time > 0 ? f->to_time :
	    INT64_MAX) || sqlite3_bind_int64(q, 7, (int64_t)f->limit)) {
		r = op_fail(&op, sqlite3_errcode(op.c->db));
		stmt_idle(q);
		goto out;
	}
	r = MANDATE_OK;
	while (r == MANDATE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct store_audit_event *e;
		if (n >= f->limit) {
			r = MANDATE_EINTERNAL;
			break;
		}
		e = &ev[n++];
		e->id = sqlite3_column_int64(q, 0);
		e->time = sqlite3_column_int64(q, 1);
		if ((r = col_str(q, 2, a, &e->type)) == MANDATE_OK &&
		    (r = col_str(q, 3, a, &e->request_id)) == MANDATE_OK &&
		    (r = col_str(q, 4, a, &e->agent)) == MANDATE_OK &&
		    (r = col_str(q, 5, a, &e->task_id)) == MANDATE_OK)
			r = col_str(q, 6, a, &e->fields_json);
	}
	if (r == MANDATE_OK && rc != SQLITE_DONE)
		r = op_fail(&op, rc);
	stmt_idle(q);
out:
	op_end(&op);
	if (r == MANDATE_OK && n > 0) {
		*out = ev;
		*n_out = n;
	}
	return r;
}

/* Note in e the first column of an AUDIT_COLS row whose storage class is
 * not the declared one (struct store_audit_event).  Call before reading
 * the columns: a conversion changes what sqlite3_column_type says. */
static void
misstored(sqlite3_stmt *q, struct store_audit_event *e)
{
	static const char *const col[] = { "id", "time", "type",
	    "request_id", "agent", "task_id", "fields_json" };
	static const char *const as[] = { [SQLITE_INTEGER] = "integer",
	    [SQLITE_FLOAT] = "real", [SQLITE_TEXT] = "text",
	    [SQLITE_BLOB] = "blob", [SQLITE_NULL] = "null" };

	e->misstored_column = NULL;
	e->misstored_as = NULL;
	for (int i = 0; i < 7; i++) {
		int want = i < 2 ? SQLITE_INTEGER : SQLITE_TEXT;
		int t = sqlite3_column_type(q, i);
		if (t == want)
			continue;
		e->misstored_column = col[i];
		e->misstored_as = t >= SQLITE_INTEGER && t <= SQLITE_NULL ?
		    as[t] : "unknown";
		return;
	}
}

static int
sq_audit_read(void *impl, int64_t from_id, size_t limit, struct arena *a,
    struct store_audit_event **out, size_t *n_out)
{
	struct op op;
	struct store_audit_event *ev = NULL;
	sqlite3_stmt *q;
	size_t n = 0;
	int r, rc = SQLITE_DONE;

	if ((r = op_begin(impl, "audit_read", &op)) != MANDATE_OK)
		return r;
	if ((ev = arena_calloc(a, limit, sizeof(*ev))) == NULL) {
		r = MANDATE_ENOMEM;
		goto out;
	}
	if ((q = stmt_ints(&op, ST_AUDIT_READ, from_id, (int64_t)limit,
	    &r)) == NULL)
		goto out;
	r = MANDATE_OK;
	while (r == MANDATE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		struct store_audit_event *e;
		if (n >= limit) {
			r = MANDATE_EINTERNAL;
			break;
		}
		e = &ev[n++];
		misstored(q, e);          /* before a conversion below */
		e->id = sqlite3_column_int64(q, 0);
		e->time = sqlite3_column_int64(q, 1);
		if ((r = col_str(q, 2, a, &e->type)) == MANDATE_OK &&
		    (r = col_str(q, 3, a, &e->request_id)) == MANDATE_OK &&
		    (r = col_str(q, 4, a, &e->agent)) == MANDATE_OK &&
		    (r = col_str(q, 5, a, &e->task_id)) == MANDATE_OK)
			r = col_str(q, 6, a, &e->fields_json);
	}
	if (r == MANDATE_OK && rc != SQLITE_DONE)
		r = op_fail(&op, rc);
	stmt_idle(q);
out:
	op_end(&op);
	if (r == MANDATE_OK && n > 0) {
		*out = ev;
		*n_out = n;
	}
	return r;
}

/* The audit tables must be STRICT tables, as every migration made them
 * (docs/audit.md): one rebuilt without STRICT stores a value of any type,
 * and a blob with a text's bytes hashes alike but fails the filters'
 * text equality.  PRAGMA table_list (SQLite 3.37) says both what the
 * name is and whether it is strict. */
static int
sq_audit_tables_check(void *impl, const char **table, const char **why)
{
	static const char *const names[] = { "audit_events", "audit_leaves",
	    "audit_checkpoints" };
	struct op op;
	sqlite3_stmt *q = NULL;
	int r, rc;

	if ((r = op_begin(impl, "audit_tables_check", &op)) != MANDATE_OK)
		return r;
	rc = sqlite3_prepare_v2(op.c->db, "SELECT type, strict FROM"
	    " pragma_table_list WHERE schema = 'main' AND name = ?1", -1, &q,
	    NULL);
	if (rc != SQLITE_OK) {
		r = op_fail(&op, rc);
		goto out;
	}
	for (size_t i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
		const unsigned char *type;
		sqlite3_reset(q);
		if ((rc = sqlite3_bind_text(q, 1, names[i], -1,
		    SQLITE_STATIC)) != SQLITE_OK) {
			r = op_fail(&op, rc);
			goto out;
		}
		rc = sqlite3_step(q);
		if (rc == SQLITE_DONE) {
			*why = "is missing";
		} else if (rc != SQLITE_ROW) {
			r = op_fail(&op, rc);
			goto out;
		} else if ((type = sqlite3_column_text(q, 0)) == NULL ||
		    strcmp((const char *)type, "table") != 0) {
			*why = "is not a table (a view?)";
		} else if (sqlite3_column_int(q, 1) != 1) {
			*why = "is not a STRICT table";
		} else {
			continue;
		}
		*table = names[i];
		r = MANDATE_EINVAL;
		goto out;
	}
	r = MANDATE_OK;
out:
	sqlite3_finalize(q);
	op_end(&op);
	return r;
}

/* PRAGMA integrity_check, stopped at its first finding.  A database
 * damaged enough that the pragma itself fails as corrupt (SQLITE_CORRUPT,
 * SQLITE_NOTADB) is damaged too: EINVAL, with SQLite's message. */
static int
sq_integrity_check(void *impl, char *why, size_t why_size)
{
	struct op op;
	sqlite3_stmt *q = NULL;
	int r, rc;
	bool first = true;

	if ((r = op_begin(impl, "integrity_check", &op)) != MANDATE_OK) {
		snprintf(why, why_size, "no connection: %s",
		    mandate_strerror(r));
		return r;
	}
	rc = sqlite3_prepare_v2(op.c->db, "PRAGMA integrity_check(1)", -1, &q,
	    NULL);
	if (rc == SQLITE_OK) {
		while ((rc = sqlite3_step(q)) == SQLITE_ROW) {
			const unsigned char *t = sqlite3_column_text(q, 0);
			if (!first)
				continue;
			first = false;
			snprintf(why, why_size, "%s", t != NULL ?
			    (const char *)t : "(no text)");
		}
		if (rc == SQLITE_DONE)
			rc = SQLITE_OK;
	}
	if (rc != SQLITE_OK) {
		int prim = rc & 0xff;
		snprintf(why, why_size, "%s", sqlite3_errmsg(op.c->db));
		r = (prim == SQLITE_CORRUPT || prim == SQLITE_NOTADB) ?
		    MANDATE_EINVAL : fail_rc(op.st, op.c->db, rc,
		    "integrity_check");
	} else if (first) {
		snprintf(why, why_size, "integrity_check returned nothing");
		r = MANDATE_EINTERNAL;
	} else {
		r = strcmp(why, "ok") == 0 ? MANDATE_OK : MANDATE_EINVAL;
	}
	for (char *p = why; *p != '\0'; p++)   /* one line for a log */
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	sqlite3_finalize(q);
	op_end(&op);
	return r;
}

/* --- agent sessions and decisions ---------------------------------------- */

/* Count one call against the task's budget inside the caller's
 * transaction: *outcome is an enum store_consume. */
static int
sess_consume(struct op *op, struct str id, int64_t now, int *outcome,
    int64_t *calls_used)
{
	sqlite3_stmt *q;
	int r, rc;

	if ((q = op_stmt(op, ST_TASK_COUNT_CALL, &r)) == NULL)
		return r;
	if (bind_str(q, 1, id) || sqlite3_bind_int64(q, 2, now)) {
		r = op_fail(op, sqlite3_errcode(op->c->db));
		stmt_idle(q);
		return r;
	}
	rc = sqlite3_step(q);
	stmt_idle(q);
	if (rc != SQLITE_DONE)
		return op_fail(op, rc);
	if (sqlite3_changes(op->c->db) == 1) {
		/* counted: the count it reached (the row just updated) */
		if ((r = one_int(op, ST_TASK_CALLS_USED, id, calls_used)) ==
		    MANDATE_OK)
			*outcome = STORE_CONSUMED;
		return r;
	}
	if ((q = op_stmt(op, ST_TASK_STATUS, &r)) == NULL)
		return r;
	if ((rc = bind_str(q, 1, id)) != SQLITE_OK) {
		r = op_fail(op, rc);
	} else if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (sqlite3_column_int(q, 0) != STORE_TASK_ACTIVE)
			*outcome = STORE_NOT_ACTIVE;
		else if (sqlite3_column_int64(q, 1) <= now)
			*outcome = STORE_TASK_EXPIRED_NOW;
		else
			*outcome = STORE_EXHAUSTED;
		r = MANDATE_OK;
	} else if (rc == SQLITE_DONE) {
		r = MANDATE_EINVAL;       /* unknown task: like a foreign key */
	} else {
		r = op_fail(op, rc);
	}
	stmt_idle(q);
	return r;
}

/* Add one session row: an action's count (ST_SESSION_COUNT) or a label
 * (ST_SESSION_LABEL). */
static int
sess_put(struct op *op, enum stmt_id id, struct str task, struct str name)
{
	sqlite3_stmt *q;
	int r;

	if ((q = op_stmt(op, id, &r)) == NULL)
		return r;
	if (bind_str(q, 1, task) || bind_str(q, 2, name)) {
		r = op_fail(op, sqlite3_errcode(op->c->db));
		stmt_idle(q);
		return r;
	}
	return run_stmt(op, id, q, NULL);
}

/* Run one queued decision on the leader's connection (inside the batch's
 * transaction or savepoint, so a failure undoes the consume too). */
static int
gc_decision_record(struct op *op, struct gc_req *w)
{
	const struct store_decision *dec = w->dec;
	sqlite3_stmt *q;
	int permit = 0, r;

	op->name = "decision_record";
	w->outcome = STORE_CONSUMED;
	w->calls_used = 0;
	if (dec->permit && dec->check_labels) {
		int64_t n = 0;

		if ((r = one_int(op, ST_SESSION_LABELS, dec->task_id, &n)) !=
		    MANDATE_OK)
			return r;
		if (n != dec->labels_seen)
			w->outcome = STORE_SESSION_CHANGED;
	}
	if (dec->permit && dec->cred_jti.n > 0 &&
	    w->outcome == STORE_CONSUMED) {
		int64_t live = 0;

		if ((r = one_int(op, ST_CRED_LIVE, dec->cred_jti, &live)) !=
		    MANDATE_OK)
			return r;
		if (live == 0)
			w->outcome = STORE_CRED_REVOKED;
	}
	if (dec->permit && w->outcome == STORE_CONSUMED) {
		if ((r = sess_consume(op, dec->task_id, w->now, &w->outcome,
		    &w->calls_used)) != MANDATE_OK)
			return r;
		permit = w->outcome == STORE_CONSUMED;
	}
	if ((q = op_stmt(op, ST_DEC_INSERT, &r)) == NULL)
		return r;
	if (bind_str(q, 1, dec->id) || bind_str(q, 2, dec->task_id) ||
	    bind_str(q, 3, dec->caller) || bind_str(q, 4, dec->action) ||
	    bind_str(q, 5, dec->resource) || sqlite3_bind_int(q, 6, permit) ||
	    sqlite3_bind_int64(q, 7, dec->time)) {
		r = op_fail(op, sqlite3_errcode(op->c->db));
		stmt_idle(q);
		return r;
	}
	if ((r = run_stmt(op, ST_DEC_INSERT, q, NULL)) != MANDATE_OK ||
	    !permit)
		return r;
	if ((r = sess_put(op, ST_SESSION_COUNT, dec->task_id, dec->action)) !=
	    MANDATE_OK)
		return r;
	for (size_t i = 0; i < dec->n_add_labels; i++)
		if ((r = sess_put(op, ST_SESSION_LABEL, dec->task_id,
		    dec->add_labels[i])) != MANDATE_OK)
			return r;
	return MANDATE_OK;
}

static int
sq_decision_record(void *impl, const struct store_decision *dec,
    int64_t now, int *outcome, int64_t *calls_used)
{
	struct gc_req req = { .kind = GC_DECISION, .dec = dec, .now = now };
	int r = gc_submit(impl, &req);

	if (r == MANDATE_OK) {
		*outcome = req.outcome;
		*calls_used = req.calls_used;
	}
	return r;
}

static int
sq_decision_get(void *impl, struct str id, struct arena *a,
    struct store_decision *out)
{
	struct op op;
	sqlite3_stmt *q;
	int r, rc;

	if ((r = op_begin(impl, "decision_get", &op)) != MANDATE_OK)
		return r;
	if ((q = op_stmt(&op, ST_DEC_GET, &r)) == NULL)
		goto out;
	if ((rc = bind_str(q, 1, id)) != SQLITE_OK) {
		r = op_fail(&op, rc);
	} else if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		if ((r = col_str(q, 0, a, &out->id)) == MANDATE_OK &&
		    (r = col_str(q, 1, a, &out->task_id)) == MANDATE_OK &&
		    (r = col_str(q, 2, a, &out->caller)) == MANDATE_OK &&
		    (r = col_str(q, 3, a, &out->action)) == MANDATE_OK &&
		    (r = col_str(q, 4, a, &out->resource)) == MANDATE_OK &&
		    (r = col_str(q, 9, a, &out->labels_json)) == MANDATE_OK) {
			out->permit = sqlite3_column_int(q, 5);
			out->time = sqlite3_column_int64(q, 6);
			out->outcome = sqlite3_column_int(q, 7);
			out->outcome_at = sqlite3_column_int64(q, 8);
		}
	} else if (rc == SQLITE_DONE) {
		r = MANDATE_ENOTFOUND;
	} else {
		r = op_fail(&op, rc);
	}
	stmt_idle(q);
out:
	op_end(&op);
	if (r != MANDATE_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

/* The integer the one-row query id gives for key: a count of a task's
 * session rows (ST_SESSION_SIZE, ST_SESSION_LABELS), or its calls used
 * (ST_TASK_CALLS_USED).  No row is an error: each is asked only where
 * its row must be there. */
static int
one_int(struct op *op, enum stmt_id id, struct str key, int64_t *out)
{
	sqlite3_stmt *q;
	int r, rc;

	*out = 0;
	if ((q = op_stmt(op, id, &r)) == NULL)
		return r;
	if ((rc = bind_str(q, 1, key)) != SQLITE_OK) {
		r = op_fail(op, rc);
	} else if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		*out = sqlite3_column_int64(q, 0);
		r = MANDATE_OK;
	} else {
		r = op_fail(op, rc == SQLITE_DONE ? SQLITE_INTERNAL : rc);
	}
	stmt_idle(q);
	return r;
}

/* Is the task active at now (its state, and not past its expiry)?  An
 * unknown task is not. */
static int
task_active_at(struct op *op, struct str task, int64_t now, int *active)
{
	sqlite3_stmt *q;
	int r, rc;

	*active = 0;
	if ((q = op_stmt(op, ST_TASK_STATUS, &r)) == NULL)
		return r;
	if ((rc = bind_str(q, 1, task)) != SQLITE_OK) {
		r = op_fail(op, rc);
	} else if ((rc = sqlite3_step(q)) == SQLITE_ROW) {
		*active = sqlite3_column_int(q, 0) == STORE_TASK_ACTIVE &&
		    sqlite3_column_int64(q, 1) > now;
		r = MANDATE_OK;
	} else if (rc == SQLITE_DONE) {
		r = MANDATE_OK;
	} else {
		r = op_fail(op, rc);
	}
	stmt_idle(q);
	return r;
}

/* Report a decision's outcome inside the op's transaction: *changed 1
 * when it was not reported yet, *task_active whether its task took the
 * labels.  A failure (ELIMIT: the session is past its limit) must be
 * rolled back by the caller. */
static int
decision_outcome_on(struct op *op, struct str id, int status,
    struct str labels_json, const struct str *labels, size_t n_labels,
    int64_t now, int *changed, int *task_active)
{
	sqlite3_stmt *q;
	char task_buf[STORE_MAX_ID + 1];
	struct str task = STR_NULL;
	int r, rc, exists = 0, active = 0;

	*changed = 0;
	*task_active = 0;
	op->name = "decision_outcome";
	if ((q = op_stmt(op, ST_DEC_OUTCOME, &r)) == NULL)
		goto tx;
	if (bind_str(q, 1, id) || sqlite3_bind_int(q, 2, status) ||
	    sqlite3_bind_int64(q, 3, now) || bind_str(q, 4, labels_json)) {
		r = op_fail(op, sqlite3_errcode(op->c->db));
		stmt_idle(q);
		goto tx;
	}
	rc = sqlite3_step(q);
	stmt_idle(q);
	if (rc != SQLITE_DONE) {
		r = op_fail(op, rc);
		goto tx;
	}
	if (sqlite3_changes(op->c->db) == 1) {
		/* reported now: the decision's task */
		if ((q = op_stmt(op, ST_DEC_TASK, &r)) == NULL)
			goto tx;
		if ((rc = bind_str(q, 1, id)) != SQLITE_OK) {
			r = op_fail(op, rc);
			stmt_idle(q);
			goto tx;
		}
		if ((rc = sqlite3_step(q)) != SQLITE_ROW) {
			r = op_fail(op, rc == SQLITE_DONE ? SQLITE_INTERNAL :
			    rc);
			stmt_idle(q);
			goto tx;
		}
		{
			const unsigned char *t = sqlite3_column_text(q, 0);
			int n = sqlite3_column_bytes(q, 0);

			if (t == NULL || n <= 0 || n > STORE_MAX_ID) {
				stmt_idle(q);
				r = MANDATE_EINTERNAL;
				goto tx;
			}
			memcpy(task_buf, t, (size_t)n);
			task = str_make(task_buf, (size_t)n);
		}
		stmt_idle(q);
	}
	if (task.p == NULL) {
		/* nothing updated: already reported, or unknown */
		if ((r = row_exists(op, ST_DEC_EXISTS, id, &exists)) ==
		    MANDATE_OK && !exists)
			r = MANDATE_ENOTFOUND;
		goto tx;
	}
	/* a task that is over keeps its session as it was */
	if ((r = task_active_at(op, task, now, &active)) != MANDATE_OK ||
	    !active)
		goto tx;
	if (n_labels > 0) {
		/* A session past STORE_MAX_SESSION rows can no longer be
		 * read, so every later decision of the task is a (recorded)
		 * deny.  A report that takes it there is kept: refusing it
		 * would leave its labels (say confidential) out of the
		 * session and let the task go on without them (fail closed).
		 * Once it is past, a report can change nothing and is
		 * refused (the rollback keeps the decision unreported).  So
		 * a session holds at most the limit plus one report's
		 * labels, and what concurrent permits add before they see
		 * it full. */
		int64_t rows = 0;

		if ((r = one_int(op, ST_SESSION_SIZE, task, &rows)) ==
		    MANDATE_OK && rows > STORE_MAX_SESSION)
			r = MANDATE_ELIMIT;
	}
	for (size_t i = 0; i < n_labels && r == MANDATE_OK; i++)
		r = sess_put(op, ST_SESSION_LABEL, task, labels[i]);
tx:
	if (r == MANDATE_OK) {
		*changed = task.p != NULL;
		*task_active = active;
	}
	return r;
}

static int
sq_decision_outcome(void *impl, struct str id, int status,
    struct str labels_json, const struct str *labels, size_t n_labels,
    int64_t now, int *changed, int *task_active)
{
	struct op op;
	int r, ch = 0, active = 0;

	if ((r = op_begin(impl, "decision_outcome", &op)) != MANDATE_OK)
		return r;
	if ((r = tx_begin(&op)) == MANDATE_OK)
		r = tx_end(&op, decision_outcome_on(&op, id, status,
		    labels_json, labels, n_labels, now, &ch, &active));
	if (r == MANDATE_OK) {
		*changed = ch;
		*task_active = active;
	}
	op_end(&op);
	return r;
}

/* The report and its decision.outcome record in one commit (a group
 * commit's): a crash never leaves an outcome (and its labels in the
 * session) without the record. */
static int
sq_decision_outcome_audited(void *impl, struct str id, int status,
    struct str labels_json, const struct str *labels, size_t n_labels,
    int64_t now, store_outcome_event_fn *build, void *build_arg,
    int *changed, int *task_active, int64_t *event_id)
{
	struct gc_req req = { .kind = GC_OUTCOME_AUDITED, .task_id = id,
	    .status = status, .labels_json = labels_json, .labels = labels,
	    .n_labels = n_labels, .now = now, .outcome_build = build,
	    .build_arg = build_arg };
	int r = gc_submit(impl, &req);

	if (r == MANDATE_OK) {
		*changed = req.changed;
		*task_active = req.task_active;
		*event_id = req.id;
	}
	return r;
}

static int
sq_session_get(void *impl, struct str task_id, struct arena *a,
    struct store_session *out)
{
	struct op op;
	sqlite3_stmt *q;
	struct str *names = NULL;
	int64_t *counts = NULL;
	int kind;
	size_t n = 0, cap = 0, nl = 0, na = 0;
	int r, rc = SQLITE_DONE;

	/* The arrays grow with the rows found (at most twice what the
	 * session holds) rather than STORE_MAX_SESSION rows each time: a
	 * batch or a search decides many evaluations of one task in one
	 * request arena, and 28 KB each ran out of it (issue: a batch of
	 * 256 task-bound items got no answer). */
	if ((r = op_begin(impl, "session_get", &op)) != MANDATE_OK)
		return r;
	if ((q = op_stmt(&op, ST_SESSION_READ, &r)) == NULL)
		goto out;
	if (bind_str(q, 1, task_id) ||
	    sqlite3_bind_int64(q, 2, STORE_MAX_SESSION + 1)) {
		r = op_fail(&op, sqlite3_errcode(op.c->db));
		stmt_idle(q);
		goto out;
	}
	while (r == MANDATE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (n >= STORE_MAX_SESSION) {
			r = MANDATE_ELIMIT;
			break;
		}
		if (n == cap) {
			size_t nc = cap == 0 ? 16 : cap * 2;

			if (nc > STORE_MAX_SESSION)
				nc = STORE_MAX_SESSION;
			names = arena_realloc(a, names, cap * sizeof(*names),
			    nc * sizeof(*names));
			counts = arena_realloc(a, counts, cap * sizeof(*counts),
			    nc * sizeof(*counts));
			if (names == NULL || counts == NULL) {
				r = MANDATE_ENOMEM;
				break;
			}
			cap = nc;
		}
		kind = sqlite3_column_int(q, 0);
		counts[n] = sqlite3_column_int64(q, 2);
		r = col_str(q, 1, a, &names[n]);
		if (kind == 0)
			nl++;
		else
			na++;
		n++;
	}
	if (r == MANDATE_OK && rc != SQLITE_DONE)
		r = op_fail(&op, rc);
	stmt_idle(q);
out:
	op_end(&op);
	if (r != MANDATE_OK)
		return r;
	/* rows come ordered by kind: labels (0) first, then actions (1) */
	if (nl > 0)
		out->labels = names;
	out->n_labels = nl;
	if (na > 0) {
		out->actions = names + nl;
		out->counts = counts + nl;
	}
	out->n_actions = na;
	return MANDATE_OK;
}

static int
sq_audit_tree_head(void *impl, int64_t *size,
    uint8_t root[STORE_AUDIT_HASH_LEN])
{
	struct sq_store *st = impl;
	struct merkle_compact tree;
	struct op op;
	int r, valid;

	pthread_mutex_lock(&st->tree_mu);
	tree = st->tree;
	valid = st->tree_valid;
	pthread_mutex_unlock(&st->tree_mu);
	if (!valid) {
		/* first use: load it under the write lock, so that the leaves
		 * read are one committed state */
		if ((r = op_begin(impl, "audit_tree_head", &op)) != MANDATE_OK)
			return r;
		if ((r = tx_begin(&op)) == MANDATE_OK) {
			r = tree_load(&op, &tree);
			r = tx_end(&op, r);
		}
		op_end(&op);
		if (r != MANDATE_OK)
			return r;
		/* a batch may have committed meanwhile: keep the larger */
		pthread_mutex_lock(&st->tree_mu);
		if (!st->tree_valid || st->tree.size < tree.size) {
			st->tree = tree;
			st->tree_valid = 1;
		} else {
			tree = st->tree;
		}
		pthread_mutex_unlock(&st->tree_mu);
	}
	if ((r = merkle_compact_root(&tree, root)) != MANDATE_OK)
		return r;
	*size = (int64_t)tree.size;
	return MANDATE_OK;
}

static int
sq_audit_leaves(void *impl, int64_t from_index, size_t limit,
    struct store_audit_leaf *out, size_t *n_out)
{
	struct op op;
	int r;

	if ((r = op_begin(impl, "audit_leaves", &op)) != MANDATE_OK)
		return r;
	r = leaves_read(&op, from_index, limit, out, n_out);
	op_end(&op);
	return r;
}

static int
sq_audit_checkpoint_add(void *impl, const struct store_audit_checkpoint *c)
{
	struct op op;
	sqlite3_stmt *q;
	int r;

	if ((r = op_begin(impl, "audit_checkpoint_add", &op)) != MANDATE_OK)
		return r;
	if ((q = op_stmt(&op, ST_CKPT_INSERT, &r)) == NULL)
		goto out;
	if (sqlite3_bind_int64(q, 1, c->tree_size) ||
	    sqlite3_bind_blob(q, 2, c->root, STORE_AUDIT_HASH_LEN,
	    SQLITE_STATIC) || sqlite3_bind_int64(q, 3, c->time) ||
	    bind_str(q, 4, c->signed_text)) {
		r = op_fail(&op, sqlite3_errcode(op.c->db));
		stmt_idle(q);
		goto out;
	}
	r = run_stmt(&op, ST_CKPT_INSERT, q, NULL);
out:
	op_end(&op);
	return r;
}

static int
read_checkpoint(sqlite3_stmt *q, struct arena *a,
    struct store_audit_checkpoint *c)
{
	const void *h = sqlite3_column_blob(q, 1);

	if (h == NULL || sqlite3_column_bytes(q, 1) != STORE_AUDIT_HASH_LEN)
		return MANDATE_EINTERNAL;
	c->tree_size = sqlite3_column_int64(q, 0);
	memcpy(c->root, h, STORE_AUDIT_HASH_LEN);
	c->time = sqlite3_column_int64(q, 2);
	return col_str(q, 3, a, &c->signed_text);
}

static int
sq_audit_checkpoints(void *impl, int64_t after_size, size_t limit,
    struct arena *a, struct store_audit_checkpoint **out, size_t *n_out)
{
	struct store_audit_checkpoint *cs = NULL;
	struct op op;
	sqlite3_stmt *q;
	size_t n = 0;
	int r, rc = SQLITE_DONE;

	if ((r = op_begin(impl, "audit_checkpoints", &op)) != MANDATE_OK)
		return r;
	if ((cs = arena_calloc(a, limit, sizeof(*cs))) == NULL) {
		r = MANDATE_ENOMEM;
		goto out;
	}
	if ((q = stmt_ints(&op, ST_CKPT_LIST, after_size, (int64_t)limit,
	    &r)) == NULL)
		goto out;
	r = MANDATE_OK;
	while (r == MANDATE_OK && (rc = sqlite3_step(q)) == SQLITE_ROW) {
		if (n >= limit) {
			r = MANDATE_EINTERNAL;
			break;
		}
		r = read_checkpoint(q, a, &cs[n++]);
	}
	if (r == MANDATE_OK && rc != SQLITE_DONE)
		r = op_fail(&op, rc);
	stmt_idle(q);
out:
	op_end(&op);
	if (r == MANDATE_OK && n > 0) {
		*out = cs;
		*n_out = n;
	}
	return r;
}

static int
sq_audit_checkpoint_latest(void *impl, struct arena *a,
    struct store_audit_checkpoint *out)
{
	struct op op;
	sqlite3_stmt *q;
	int r, rc;

	if ((r = op_begin(impl, "audit_checkpoint_latest", &op)) !=
	    MANDATE_OK)
		return r;
	if ((q = op_stmt(&op, ST_CKPT_LATEST, &r)) == NULL)
		goto out;
	if ((rc = sqlite3_step(q)) == SQLITE_ROW)
		r = read_checkpoint(q, a, out);
	else if (rc == SQLITE_DONE)
		r = MANDATE_ENOTFOUND;
	else
		r = op_fail(&op, rc);
	stmt_idle(q);
out:
	op_end(&op);
	if (r != MANDATE_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

const struct store_ops store_sqlite_ops = {
	.name = "sqlite",
	.open = sq_open,
	.close = sq_close,
	.schema_version = sq_schema_version,
	.health = sq_health,
	.task_create = sq_task_create,
	.task_create_audited = sq_task_create_audited,
	.task_get = sq_task_get,
	.task_end = sq_task_end,
	.task_end_audited = sq_task_end_audited,
	.tasks_prune = sq_tasks_prune,
	.task_consume = sq_task_consume,
	.task_list_by_agent = sq_task_list_by_agent,
	.agent_revoke = sq_agent_revoke,
	.agent_revoke_audited = sq_agent_revoke_audited,
	.agent_revocation_last = sq_agent_revocation_last,
	.cred_insert = sq_cred_insert,
	.cred_insert_audited = sq_cred_insert_audited,
	.cred_get = sq_cred_get,
	.cred_revoke = sq_cred_revoke,
	.cred_revoke_audited = sq_cred_revoke_audited,
	.cred_usable = sq_cred_usable,
	.key_insert = sq_key_insert,
	.key_get = sq_key_get,
	.key_list = sq_key_list,
	.key_activate = sq_key_activate,
	.key_activate_audited = sq_key_activate_audited,
	.key_retire = sq_key_retire,
	.audit_append = sq_audit_append,
	.append_many = sq_append_many,
	.audit_query = sq_audit_query,
	.audit_read = sq_audit_read,
	.decision_record = sq_decision_record,
	.decision_get = sq_decision_get,
	.decision_outcome = sq_decision_outcome,
	.decision_outcome_audited = sq_decision_outcome_audited,
	.session_get = sq_session_get,
	.audit_tree_head = sq_audit_tree_head,
	.audit_leaves = sq_audit_leaves,
	.audit_checkpoint_add = sq_audit_checkpoint_add,
	.audit_checkpoints = sq_audit_checkpoints,
	.audit_checkpoint_latest = sq_audit_checkpoint_latest,
	.audit_tables_check = sq_audit_tables_check,
	.integrity_check = sq_integrity_check,
};

/*
 * session_store_test.c - the store's agent-session and decision ops
 * (store_decision_record/get/outcome, store_session_get), through store.h
 * only, on a temporary SQLite file.
 *
 * Checks: a permit consumes the budget and updates the session; a deny
 * changes nothing but the decision row; configured output labels join the
 * session with the permit; outcomes are once-only and add labels; unknown
 * ids; bounds; the race the budget exists for: many threads asking
 * for permits of one task with a small budget get exactly that many; and
 * retention (store_tasks_prune): finished tasks go with all their rows.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "store/store.h"
#include "util/arena.h"
#include "util/status.h"

#define T0 1700000000LL

struct fixture {
	char dir[64];
	char path[128];
	struct store *s;
	struct arena a;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store_task t;

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/session_test.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/mandate.db", f->dir);
	if (store_open(&store_sqlite_ops, f->path, NULL, &f->s) != MANDATE_OK)
		return -1;
	arena_init(&f->a, 0);
	memset(&t, 0, sizeof(t));
	t.id = str_c("task1");
	t.agent = str_c("agent-a");
	t.delegator = str_c("alice");
	t.intents_json = str_c("[]");
	t.created_at = T0;
	t.expires_at = T0 + 600;
	t.call_budget = 3;
	if (store_task_create(f->s, &t) != MANDATE_OK)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;
	char buf[256];

	store_close(f->s);
	arena_free(&f->a);
	unlink(f->path);
	snprintf(buf, sizeof(buf), "%s-wal", f->path);
	unlink(buf);
	snprintf(buf, sizeof(buf), "%s-shm", f->path);
	unlink(buf);
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct store_decision
mk_dec(const char *id, const char *action, int permit)
{
	struct store_decision d;

	memset(&d, 0, sizeof(d));
	d.id = str_c(id);
	d.task_id = str_c("task1");
	d.caller = str_c("pep");
	d.action = str_c(action);
	d.resource = str_c("File::\"a\"");
	d.permit = permit;
	d.time = T0 + 1;
	return d;
}

static void
test_permit_and_deny(void **state)
{
	struct fixture *f = *state;
	struct str lab[2] = { STR_LIT("untrusted"), STR_LIT("web") };
	struct store_decision d = mk_dec("d1", "read_file", 1), got;
	struct store_session ss;
	struct store_task t;
	int outcome;
	int64_t used;

	d.add_labels = lab;
	d.n_add_labels = 2;
	assert_int_equal(store_decision_record(f->s, &d, T0 + 1, &outcome,
	    &used), MANDATE_OK);
	assert_int_equal(outcome, STORE_CONSUMED);
	assert_int_equal(used, 1);
	d = mk_dec("d2", "read_file", 1);
	assert_int_equal(store_decision_record(f->s, &d, T0 + 1, &outcome,
	    &used), MANDATE_OK);
	assert_int_equal(used, 2);
	d = mk_dec("d3", "send_email", 0);
	assert_int_equal(store_decision_record(f->s, &d, T0 + 1, &outcome,
	    &used), MANDATE_OK);
	assert_int_equal(outcome, STORE_CONSUMED);
	assert_int_equal(store_task_get(f->s, str_c("task1"), &f->a, &t),
	    MANDATE_OK);
	assert_int_equal(t.calls_used, 2);   /* the deny consumed nothing */

	assert_int_equal(store_session_get(f->s, str_c("task1"), &f->a, &ss),
	    MANDATE_OK);
	assert_int_equal(ss.n_labels, 2);
	assert_true(str_eq_c(ss.labels[0], "untrusted"));
	assert_true(str_eq_c(ss.labels[1], "web"));
	assert_int_equal(ss.n_actions, 1);
	assert_true(str_eq_c(ss.actions[0], "read_file"));
	assert_int_equal(ss.counts[0], 2);

	assert_int_equal(store_decision_get(f->s, str_c("d3"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.permit, 0);
	assert_true(str_eq_c(got.action, "send_email"));
	assert_true(str_eq_c(got.caller, "pep"));
	assert_int_equal(got.outcome, STORE_OUTCOME_NONE);
	assert_int_equal(store_decision_get(f->s, str_c("d1"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.permit, 1);
	assert_int_equal(store_decision_get(f->s, str_c("nope"), &f->a, &got),
	    MANDATE_ENOTFOUND);

	/* a duplicate id is refused and undoes its consume */
	d = mk_dec("d1", "read_file", 1);
	assert_int_equal(store_decision_record(f->s, &d, T0 + 1, &outcome,
	    &used), MANDATE_EINVAL);
	assert_int_equal(store_task_get(f->s, str_c("task1"), &f->a, &t),
	    MANDATE_OK);
	assert_int_equal(t.calls_used, 2);
	/* an unknown task */
	d = mk_dec("d9", "read_file", 1);
	d.task_id = str_c("other");
	assert_int_not_equal(store_decision_record(f->s, &d, T0 + 1, &outcome,
	    &used), MANDATE_OK);
	d.permit = 0;
	assert_int_not_equal(store_decision_record(f->s, &d, T0 + 1, &outcome,
	    &used), MANDATE_OK);
}

static void
test_budget_and_state(void **state)
{
	struct fixture *f = *state;
	struct store_decision d, got;
	struct store_session ss;
	char id[8];
	int outcome;
	int64_t used;

	for (int i = 0; i < 3; i++) {
		snprintf(id, sizeof(id), "b%d", i);
		d = mk_dec(id, "search", 1);
		assert_int_equal(store_decision_record(f->s, &d, T0 + 1,
		    &outcome, &used), MANDATE_OK);
		assert_int_equal(outcome, STORE_CONSUMED);
	}
	d = mk_dec("b3", "search", 1);
	assert_int_equal(store_decision_record(f->s, &d, T0 + 1, &outcome,
	    &used), MANDATE_OK);
	assert_int_equal(outcome, STORE_EXHAUSTED);
	assert_int_equal(store_decision_get(f->s, str_c("b3"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.permit, 0);      /* stored as the deny it is */
	assert_int_equal(store_session_get(f->s, str_c("task1"), &f->a, &ss),
	    MANDATE_OK);
	assert_int_equal(ss.counts[0], 3);
	/* expired, then ended */
	d = mk_dec("b4", "search", 1);
	assert_int_equal(store_decision_record(f->s, &d, T0 + 600, &outcome,
	    &used), MANDATE_OK);
	assert_int_equal(outcome, STORE_TASK_EXPIRED_NOW);
	assert_int_equal(store_task_end(f->s, str_c("task1"), T0 + 2,
	    str_c("done"), NULL), MANDATE_OK);
	d = mk_dec("b5", "search", 1);
	assert_int_equal(store_decision_record(f->s, &d, T0 + 3, &outcome,
	    &used), MANDATE_OK);
	assert_int_equal(outcome, STORE_NOT_ACTIVE);
}

static void
test_outcome(void **state)
{
	struct fixture *f = *state;
	struct str lab[1] = { STR_LIT("confidential") };
	struct store_decision d = mk_dec("o1", "read_file", 1), got;
	struct store_session ss;
	int outcome, changed = -1, active = -1;
	int64_t used;

	assert_int_equal(store_decision_record(f->s, &d, T0 + 1, &outcome,
	    &used), MANDATE_OK);
	assert_int_equal(store_session_get(f->s, str_c("task1"), &f->a, &ss),
	    MANDATE_OK);
	assert_int_equal(ss.n_labels, 0);
	assert_int_equal(store_decision_outcome(f->s, str_c("o1"),
	    STORE_OUTCOME_SUCCESS, str_c("[\"confidential\"]"), lab, 1,
	    T0 + 5, &changed, &active), MANDATE_OK);
	assert_int_equal(changed, 1);
	assert_int_equal(active, 1);
	assert_int_equal(store_session_get(f->s, str_c("task1"), &f->a, &ss),
	    MANDATE_OK);
	assert_int_equal(ss.n_labels, 1);
	assert_true(str_eq_c(ss.labels[0], "confidential"));
	assert_int_equal(store_decision_get(f->s, str_c("o1"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.outcome, STORE_OUTCOME_SUCCESS);
	assert_int_equal(got.outcome_at, T0 + 5);
	assert_true(str_eq_c(got.labels_json, "[\"confidential\"]"));
	/* once only */
	assert_int_equal(store_decision_outcome(f->s, str_c("o1"),
	    STORE_OUTCOME_FAILURE, str_c("[]"), NULL, 0, T0 + 6, &changed, NULL),
	    MANDATE_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(store_decision_get(f->s, str_c("o1"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.outcome, STORE_OUTCOME_SUCCESS);
	assert_int_equal(store_decision_outcome(f->s, str_c("zz"),
	    STORE_OUTCOME_FAILURE, str_c("[]"), NULL, 0, T0 + 6, &changed, NULL),
	    MANDATE_ENOTFOUND);
	/* bad arguments */
	assert_int_equal(store_decision_outcome(f->s, str_c("o1"), 7,
	    str_c("[]"), NULL, 0, T0 + 6, &changed, NULL), MANDATE_EINVAL);
	assert_int_equal(store_decision_outcome(f->s, str_c("o1"),
	    STORE_OUTCOME_FAILURE, str_c("[]"), lab, STORE_MAX_LABELS + 1,
	    T0 + 6, &changed, NULL), MANDATE_ELIMIT);
	assert_int_equal(store_decision_outcome(f->s, str_c("o1"),
	    STORE_OUTCOME_FAILURE, str_c("[]"), NULL, 1, T0 + 6, &changed, NULL),
	    MANDATE_EINVAL);
	/* an unknown task has an empty session */
	assert_int_equal(store_session_get(f->s, str_c("none"), &f->a, &ss),
	    MANDATE_OK);
	assert_int_equal(ss.n_labels + ss.n_actions, 0);
}

/* A task that is over still takes its calls' outcomes, as their record,
 * but its session stays as it was; expiry counts as over at `now`. */
static void
test_outcome_after_task_over(void **state)
{
	struct fixture *f = *state;
	struct str lab[1] = { STR_LIT("confidential") };
	struct store_decision d1 = mk_dec("e1", "read_file", 1);
	struct store_decision d2 = mk_dec("e2", "read_file", 1), got;
	struct store_session ss;
	int outcome, changed = -1, active = -1;
	int64_t used;

	assert_int_equal(store_decision_record(f->s, &d1, T0 + 1, &outcome,
	    &used), MANDATE_OK);
	assert_int_equal(store_decision_record(f->s, &d2, T0 + 1, &outcome,
	    &used), MANDATE_OK);
	/* expired at T0 + 600, though its state is still active */
	assert_int_equal(store_decision_outcome(f->s, str_c("e1"),
	    STORE_OUTCOME_SUCCESS, str_c("[\"confidential\"]"), lab, 1,
	    T0 + 600, &changed, &active), MANDATE_OK);
	assert_int_equal(changed, 1);
	assert_int_equal(active, 0);
	assert_int_equal(store_decision_get(f->s, str_c("e1"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.outcome, STORE_OUTCOME_SUCCESS);
	assert_true(str_eq_c(got.labels_json, "[\"confidential\"]"));
	assert_int_equal(store_session_get(f->s, str_c("task1"), &f->a, &ss),
	    MANDATE_OK);
	assert_int_equal(ss.n_labels, 0);
	/* ended */
	assert_int_equal(store_task_end(f->s, str_c("task1"), T0 + 2,
	    str_c("done"), NULL), MANDATE_OK);
	assert_int_equal(store_decision_outcome(f->s, str_c("e2"),
	    STORE_OUTCOME_FAILURE, str_c("[\"confidential\"]"), lab, 1,
	    T0 + 3, &changed, &active), MANDATE_OK);
	assert_int_equal(changed, 1);
	assert_int_equal(active, 0);
	assert_int_equal(store_session_get(f->s, str_c("task1"), &f->a, &ss),
	    MANDATE_OK);
	assert_int_equal(ss.n_labels, 0);
}

/* Outcomes' labels fill a task's session up to STORE_MAX_SESSION rows
 * and no further: the report that would pass it is refused whole (the
 * decision keeps no outcome, the session is unchanged and still reads),
 * while labels already in the session cost nothing. */
/* A permit decided on the session's labels stands only if they are still
 * those at commit: a label added meanwhile (a concurrent call's output
 * labels, an outcome) makes it a deny, and consumes nothing. */
static void
test_labels_changed_meanwhile(void **state)
{
	struct fixture *f = *state;
	struct str lab[1] = { STR_LIT("untrusted") };
	struct store_decision d, got;
	struct store_task t;
	int outcome, changed = -1;
	int64_t used = -1;

	/* no labels, and none seen: stands */
	d = mk_dec("c1", "send_email", 1);
	d.check_labels = true;
	d.labels_seen = 0;
	assert_int_equal(store_decision_record(f->s, &d, T0 + 1, &outcome,
	    &used), MANDATE_OK);
	assert_int_equal(outcome, STORE_CONSUMED);
	assert_int_equal(used, 1);
	/* a fetch permitted meanwhile adds its output label */
	d = mk_dec("c2", "fetch", 1);
	d.add_labels = lab;
	d.n_add_labels = 1;
	assert_int_equal(store_decision_record(f->s, &d, T0 + 1, &outcome,
	    &used), MANDATE_OK);
	assert_int_equal(used, 2);
	/* a send decided before it (0 labels seen): a deny, not consumed */
	d = mk_dec("c3", "send_email", 1);
	d.check_labels = true;
	d.labels_seen = 0;
	assert_int_equal(store_decision_record(f->s, &d, T0 + 1, &outcome,
	    &used), MANDATE_OK);
	assert_int_equal(outcome, STORE_SESSION_CHANGED);
	assert_int_equal(store_decision_get(f->s, d.id, &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.permit, 0);
	assert_int_equal(store_task_get(f->s, str_c("task1"), &f->a, &t),
	    MANDATE_OK);
	assert_int_equal(t.calls_used, 2);
	/* decided with the label: stands; a deny is never checked */
	d = mk_dec("c4", "send_email", 1);
	d.check_labels = true;
	d.labels_seen = 1;
	assert_int_equal(store_decision_record(f->s, &d, T0 + 1, &outcome,
	    &used), MANDATE_OK);
	assert_int_equal(outcome, STORE_CONSUMED);
	d = mk_dec("c5", "send_email", 0);
	d.check_labels = true;
	d.labels_seen = 7;
	assert_int_equal(store_decision_record(f->s, &d, T0 + 1, &outcome,
	    &used), MANDATE_OK);
	assert_int_equal(outcome, STORE_CONSUMED);
	/* an outcome's labels count too */
	assert_int_equal(store_decision_outcome(f->s, str_c("c4"),
	    STORE_OUTCOME_SUCCESS, str_c("[\"pii\"]"), (struct str[]){
	    STR_LIT("pii") }, 1, T0 + 2, &changed, NULL), MANDATE_OK);
	d = mk_dec("c6", "send_email", 1);
	d.check_labels = true;
	d.labels_seen = 1;
	assert_int_equal(store_decision_record(f->s, &d, T0 + 1, &outcome,
	    &used), MANDATE_OK);
	assert_int_equal(outcome, STORE_SESSION_CHANGED);
}

/* A permit made with a credential stands only if that credential is
 * still unrevoked at commit: a revocation that returned while the
 * decision was in flight makes it a deny, and consumes nothing. */
static void
test_credential_revoked_meanwhile(void **state)
{
	struct fixture *f = *state;
	struct store_credential c;
	struct store_decision d, got;
	struct store_task t;
	int outcome, changed = -1;
	int64_t used = -1;

	memset(&c, 0, sizeof(c));
	c.jti = str_c("jti-1");
	c.task_id = str_c("task1");
	c.agent = str_c("agent-a");
	c.audience = str_c("aud");
	c.issued_at = T0;
	c.expires_at = T0 + 60;
	c.cnf_jkt = STR_LIT("");
	assert_int_equal(store_cred_insert(f->s, &c), MANDATE_OK);
	/* unrevoked: stands */
	d = mk_dec("r1", "read_file", 1);
	d.cred_jti = c.jti;
	assert_int_equal(store_decision_record(f->s, &d, T0 + 1, &outcome,
	    &used), MANDATE_OK);
	assert_int_equal(outcome, STORE_CONSUMED);
	assert_int_equal(used, 1);
	/* revoked meanwhile: a deny, not consumed */
	assert_int_equal(store_cred_revoke(f->s, c.jti, T0 + 1, &changed),
	    MANDATE_OK);
	assert_int_equal(changed, 1);
	d = mk_dec("r2", "read_file", 1);
	d.cred_jti = c.jti;
	assert_int_equal(store_decision_record(f->s, &d, T0 + 1, &outcome,
	    &used), MANDATE_OK);
	assert_int_equal(outcome, STORE_CRED_REVOKED);
	assert_int_equal(store_decision_get(f->s, d.id, &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.permit, 0);
	assert_int_equal(store_task_get(f->s, str_c("task1"), &f->a, &t),
	    MANDATE_OK);
	assert_int_equal(t.calls_used, 1);
	/* an unknown credential counts as revoked; without one (a task
	 * named by an authenticated caller) nothing is checked */
	d = mk_dec("r3", "read_file", 1);
	d.cred_jti = str_c("jti-unknown");
	assert_int_equal(store_decision_record(f->s, &d, T0 + 1, &outcome,
	    &used), MANDATE_OK);
	assert_int_equal(outcome, STORE_CRED_REVOKED);
	d = mk_dec("r4", "read_file", 1);
	assert_int_equal(store_decision_record(f->s, &d, T0 + 1, &outcome,
	    &used), MANDATE_OK);
	assert_int_equal(outcome, STORE_CONSUMED);
	assert_int_equal(used, 2);
}

static void
test_session_limit(void **state)
{
	struct fixture *f = *state;
	struct str lab[STORE_MAX_LABELS];
	char names[STORE_MAX_LABELS][16], id[16];
	struct store_decision d, got;
	struct store_session ss;
	int outcome, changed = -1;
	int64_t used;
	size_t rows = 1;             /* the permit's action */

	for (int i = 0; ; i++) {
		snprintf(id, sizeof(id), "L%02d", i);
		d = mk_dec(id, "read_file", 0);   /* budget 3: denies */
		assert_int_equal(store_decision_record(f->s, &d, T0 + 1,
		    &outcome, &used), MANDATE_OK);
		if (i == 0) {
			struct store_decision p = mk_dec("Lp", "read_file", 1);

			assert_int_equal(store_decision_record(f->s, &p, T0 + 1,
			    &outcome, &used), MANDATE_OK);
		}
		for (int j = 0; j < STORE_MAX_LABELS; j++) {
			snprintf(names[j], sizeof(names[j]), "l%03d_%02d", i, j);
			lab[j] = str_c(names[j]);
		}
		if (rows > STORE_MAX_SESSION) {
			/* past the limit: the session cannot be read (every
			 * decision of the task is a deny), and a report,
			 * which could change nothing, is refused */
			assert_int_equal(store_session_get(f->s, str_c("task1"),
			    &f->a, &ss), MANDATE_ELIMIT);
			assert_int_equal(store_decision_outcome(f->s, d.id,
			    STORE_OUTCOME_SUCCESS, str_c("[]"), lab,
			    STORE_MAX_LABELS, T0 + 5, &changed, NULL),
			    MANDATE_ELIMIT);
			assert_int_equal(store_decision_get(f->s, d.id, &f->a,
			    &got), MANDATE_OK);
			assert_int_equal(got.outcome, STORE_OUTCOME_NONE);
			/* the report that took it past was kept whole (its
			 * labels must count: fail closed) */
			assert_true(rows <= STORE_MAX_SESSION + STORE_MAX_LABELS);
			break;
		}
		assert_int_equal(store_session_get(f->s, str_c("task1"), &f->a,
		    &ss), MANDATE_OK);
		assert_int_equal(ss.n_labels + ss.n_actions, rows);
		assert_int_equal(store_decision_outcome(f->s, d.id,
		    STORE_OUTCOME_SUCCESS, str_c("[]"), lab, STORE_MAX_LABELS,
		    T0 + 5, &changed, NULL), MANDATE_OK);
		rows += STORE_MAX_LABELS;
	}
}

/* Many threads ask for permits of one task whose budget is 3: exactly
 * three are stored as permits. */
#define N_THREADS 8
#define TRIES 10

struct racer {
	struct store *s;
	int index;
	int permits, denies, errors;
};

static void *
race_thread(void *arg)
{
	struct racer *rc = arg;

	for (int i = 0; i < TRIES; i++) {
		char id[32];
		struct store_decision d;
		int outcome;
		int64_t used;

		snprintf(id, sizeof(id), "r%d_%d", rc->index, i);
		d = mk_dec(id, "search", 1);
		if (store_decision_record(rc->s, &d, T0 + 1, &outcome, &used) !=
		    MANDATE_OK)
			rc->errors++;
		else if (outcome == STORE_CONSUMED)
			rc->permits++;
		else
			rc->denies++;
	}
	return NULL;
}

static void
test_race(void **state)
{
	struct fixture *f = *state;
	struct racer rc[N_THREADS];
	pthread_t th[N_THREADS];
	struct store_session ss;
	int permits = 0, denies = 0;

	memset(rc, 0, sizeof(rc));
	for (int i = 0; i < N_THREADS; i++) {
		rc[i].s = f->s;
		rc[i].index = i;
		assert_int_equal(pthread_create(&th[i], NULL, race_thread,
		    &rc[i]), 0);
	}
	for (int i = 0; i < N_THREADS; i++) {
		assert_int_equal(pthread_join(th[i], NULL), 0);
		assert_int_equal(rc[i].errors, 0);
		permits += rc[i].permits;
		denies += rc[i].denies;
	}
	assert_int_equal(permits, 3);
	assert_int_equal(denies, N_THREADS * TRIES - 3);
	assert_int_equal(store_session_get(f->s, str_c("task1"), &f->a, &ss),
	    MANDATE_OK);
	assert_int_equal(ss.n_actions, 1);
	assert_int_equal(ss.counts[0], 3);
}

/* A task with one decision, a session label and a credential. */
static void
prune_task(struct fixture *f, const char *id, int64_t created, int64_t ttl)
{
	struct store_task t;
	struct store_credential c;
	struct str lab = STR_LIT("confidential");
	struct store_decision d;
	char did[32], jti[32];
	int outcome;
	int64_t used;

	memset(&t, 0, sizeof(t));
	t.id = str_c(id);
	t.agent = str_c("agent-a");
	t.delegator = str_c("alice");
	t.intents_json = str_c("[]");
	t.created_at = created;
	t.expires_at = created + ttl;
	t.call_budget = 10;
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	memset(&c, 0, sizeof(c));
	snprintf(jti, sizeof(jti), "jti-%s", id);
	c.jti = str_c(jti);
	c.task_id = t.id;
	c.agent = t.agent;
	c.audience = str_c("aud");
	c.issued_at = created;
	c.expires_at = created + 60;
	c.cnf_jkt = STR_LIT("");
	assert_int_equal(store_cred_insert(f->s, &c), MANDATE_OK);
	d = mk_dec("x", "read_file", 1);
	snprintf(did, sizeof(did), "dec-%s", id);
	d.id = str_c(did);
	d.task_id = t.id;
	d.time = created + 1;
	d.add_labels = &lab;
	d.n_add_labels = 1;
	assert_int_equal(store_decision_record(f->s, &d, created + 1,
	    &outcome, &used), MANDATE_OK);
	assert_int_equal(outcome, STORE_CONSUMED);
}

static bool
task_gone(struct fixture *f, const char *id)
{
	struct store_task t;
	struct store_decision d;
	struct store_credential c;
	struct store_session ss;
	char did[32], jti[32];
	int rt, rd, rc;

	snprintf(did, sizeof(did), "dec-%s", id);
	snprintf(jti, sizeof(jti), "jti-%s", id);
	rt = store_task_get(f->s, str_c(id), &f->a, &t);
	rd = store_decision_get(f->s, str_c(did), &f->a, &d);
	rc = store_cred_get(f->s, str_c(jti), &f->a, &c);
	assert_int_equal(store_session_get(f->s, str_c(id), &f->a, &ss),
	    MANDATE_OK);
	/* all or nothing */
	if (rt == MANDATE_ENOTFOUND) {
		assert_int_equal(rd, MANDATE_ENOTFOUND);
		assert_int_equal(rc, MANDATE_ENOTFOUND);
		assert_int_equal(ss.n_labels + ss.n_actions, 0);
		return true;
	}
	assert_int_equal(rt, MANDATE_OK);
	assert_int_equal(rd, MANDATE_OK);
	assert_int_equal(rc, MANDATE_OK);
	assert_int_equal(ss.n_labels, 1);
	return false;
}

/* Retention: tasks that ended or expired at or before the cutoff go with
 * every row of theirs, in batches; active, recent and later ones stay. */
static void
test_prune(void **state)
{
	struct fixture *f = *state;
	int64_t cut = T0 + 10000;
	size_t n = 99;
	int changed;

	prune_task(f, "ended-old", T0, 100000);       /* ended before cut */
	assert_int_equal(store_task_end(f->s, str_c("ended-old"), cut - 5,
	    STR_LIT("done"), &changed), MANDATE_OK);
	prune_task(f, "ended-new", T0, 100000);       /* ended after cut */
	assert_int_equal(store_task_end(f->s, str_c("ended-new"), cut + 5,
	    STR_LIT("done"), &changed), MANDATE_OK);
	prune_task(f, "expired-old", T0, 600);        /* expired before */
	prune_task(f, "expired-at", T0, 10000);       /* expired at cut */
	prune_task(f, "active", T0, 100000);          /* still running */
	/* over both ways (picked once, not twice), and expired long before
	 * an end after the cut, which leaves it as it was: expired */
	prune_task(f, "both-old", T0, 600);
	assert_int_equal(store_task_end(f->s, str_c("both-old"), T0 + 100,
	    STR_LIT("done"), &changed), MANDATE_OK);
	prune_task(f, "expired-then-ended", T0, 600);
	assert_int_equal(store_task_end(f->s, str_c("expired-then-ended"),
	    cut + 5, STR_LIT("late"), &changed), MANDATE_OK);
	assert_int_equal(changed, 0);
	for (int i = 0; i < 5; i++) {
		char id[16];

		snprintf(id, sizeof(id), "old-%d", i);
		prune_task(f, id, T0, 60);
	}
	/* bad arguments change nothing */
	assert_int_equal(store_tasks_prune(f->s, cut, 0, &n), MANDATE_EINVAL);
	assert_int_equal(n, 0);
	assert_int_equal(store_tasks_prune(f->s, cut, 10001, &n),
	    MANDATE_EINVAL);
	assert_int_equal(store_tasks_prune(NULL, cut, 5, &n), MANDATE_EINVAL);
	assert_false(task_gone(f, "ended-old"));
	/* 10 prunable (and task1 of the fixture, which expires at T0 + 600):
	 * batches of 4 */
	assert_int_equal(store_tasks_prune(f->s, cut, 4, &n), MANDATE_OK);
	assert_int_equal(n, 4);
	assert_int_equal(store_tasks_prune(f->s, cut, 4, &n), MANDATE_OK);
	assert_int_equal(n, 4);
	assert_int_equal(store_tasks_prune(f->s, cut, 4, &n), MANDATE_OK);
	assert_int_equal(n, 3);
	assert_int_equal(store_tasks_prune(f->s, cut, 4, &n), MANDATE_OK);
	assert_int_equal(n, 0);
	assert_true(task_gone(f, "ended-old"));
	assert_true(task_gone(f, "expired-old"));
	assert_true(task_gone(f, "expired-at"));
	assert_true(task_gone(f, "old-3"));
	assert_true(task_gone(f, "both-old"));
	assert_true(task_gone(f, "expired-then-ended"));
	assert_false(task_gone(f, "ended-new"));
	assert_false(task_gone(f, "active"));
	/* the id of a pruned task can be used again */
	prune_task(f, "old-3", cut, 60);
	assert_false(task_gone(f, "old-3"));
	/* tasks over both ways, all in one batch: each named once (twice
	 * would find it gone the second time and undo the batch) */
	prune_task(f, "both-x", T0, 600);
	prune_task(f, "both-y", T0, 600);
	assert_int_equal(store_task_end(f->s, str_c("both-x"), T0 + 100,
	    STR_LIT("done"), &changed), MANDATE_OK);
	assert_int_equal(store_task_end(f->s, str_c("both-y"), T0 + 200,
	    STR_LIT("done"), &changed), MANDATE_OK);
	assert_int_equal(store_tasks_prune(f->s, cut, 100, &n), MANDATE_OK);
	assert_int_equal(n, 2);
	assert_true(task_gone(f, "both-x"));
	assert_true(task_gone(f, "both-y"));
	assert_false(task_gone(f, "old-3"));
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_permit_and_deny),
		T(test_budget_and_state),
		T(test_outcome),
		T(test_labels_changed_meanwhile),
		T(test_credential_revoked_meanwhile),
		T(test_session_limit),
		T(test_outcome_after_task_over),
		T(test_race),
		T(test_prune),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

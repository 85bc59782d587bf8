/*
 * store_test.c - the storage interface, through store.h only.
 *
 * Every case opens a fresh store with the ops table under test (SQLite on
 * a temporary file today; the PostgreSQL backend will run the same cases)
 * and checks the documented semantics: each operation, edge cases (double
 * end, exhausted budget, expired task, revoked agent, unknown ids),
 * concurrent consumption of one budget, migrations forward and refusal of
 * a newer schema, and bad files giving errors rather than crashes.  The
 * few SQLite-only checks (file mode, append-only triggers, a version
 * written by a "newer build") are marked as such.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/store.h"
#include "util/arena.h"
#include "util/status.h"

static const struct store_ops *const ops_under_test = &store_sqlite_ops;

#define T0 1700000000LL   /* a fixed "now" */

struct fixture {
	char dir[64];
	char path[128];
	struct store *s;
	struct arena a;
	char log[512];      /* last logged message */
	int n_logged;
};

static void
test_log(void *ctx, int status, const char *op, const char *msg)
{
	struct fixture *f = ctx;

	(void)status;
	f->n_logged++;
	snprintf(f->log, sizeof(f->log), "%s: %s", op, msg);
}

static struct store_options
fx_options(struct fixture *f)
{
	struct store_options o;

	memset(&o, 0, sizeof(o));
	o.log = test_log;
	o.log_ctx = f;
	return o;
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct store_options o;

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/store_test.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/mandate.db", f->dir);
	o = fx_options(f);
	if (store_open(ops_under_test, f->path, &o, &f->s) != MANDATE_OK)
		return -1;
	arena_init(&f->a, 0);
	*state = f;
	return 0;
}

static void
remove_db_files(const char *path)
{
	char buf[256];

	unlink(path);
	snprintf(buf, sizeof(buf), "%s-wal", path);
	unlink(buf);
	snprintf(buf, sizeof(buf), "%s-shm", path);
	unlink(buf);
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->s);
	arena_free(&f->a);
	remove_db_files(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

/* A valid task for agent with the given id (a C string). */
static struct store_task
mk_task(const char *id, const char *agent, int64_t created, int64_t ttl,
    int64_t budget)
{
	struct store_task t;

	memset(&t, 0, sizeof(t));
	t.id = str_c(id);
	t.agent = str_c(agent);
	t.delegator = str_c("user:alice");
	t.act_json = str_c("{\"sub\":\"user:alice\"}");
	t.objective = str_c("summarise the quarterly report");
	t.intents_json = str_c("[{\"action\":\"read_file\"}]");
	t.sensitivity = 2;
	t.created_at = created;
	t.expires_at = created + ttl;
	t.call_budget = budget;
	return t;
}

static struct store_credential
mk_cred(const char *jti, const char *task, const char *agent, int64_t iat,
    int64_t ttl)
{
	struct store_credential c;

	memset(&c, 0, sizeof(c));
	c.jti = str_c(jti);
	c.task_id = str_c(task);
	c.agent = str_c(agent);
	c.audience = str_c("https://tools.example");
	c.issued_at = iat;
	c.expires_at = iat + ttl;
	c.cnf_jkt = str_c("0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I");
	return c;
}

static int
usable(struct store *s, const char *jti, int64_t now)
{
	int u = -1;

	assert_int_equal(store_cred_usable(s, str_c(jti), now, &u),
	    MANDATE_OK);
	return u;
}

/* --- open, health, ids --------------------------------------------------- */

static void
test_open_health_version(void **state)
{
	struct fixture *f = *state;
	struct stat sb;
	int v = 0;

	assert_int_equal(store_health(f->s, T0), MANDATE_OK);
	assert_int_equal(store_health(f->s, T0 + 1), MANDATE_OK);
	assert_int_equal(store_schema_version(f->s, &v), MANDATE_OK);
	assert_true(v >= 2);
	/* SQLite: the file is private to the daemon's user. */
	assert_int_equal(stat(f->path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
}

static void
test_task_new_id(void **state)
{
	char a[STORE_TASK_ID_SIZE], b[STORE_TASK_ID_SIZE];

	(void)state;
	assert_int_equal(store_task_new_id(a), MANDATE_OK);
	assert_int_equal(store_task_new_id(b), MANDATE_OK);
	assert_int_equal(strlen(a), STORE_TASK_ID_LEN);
	assert_int_equal(strspn(a, "0123456789abcdef"), STORE_TASK_ID_LEN);
	assert_string_not_equal(a, b);
}

static void
test_bad_arguments(void **state)
{
	struct fixture *f = *state;
	struct store *s = NULL;
	struct store_task t = mk_task("t1", "spiffe://d/a", T0, 60, 5);
	struct store_task got;
	int outcome, u;

	assert_int_equal(store_open(NULL, f->path, NULL, &s), MANDATE_EINVAL);
	assert_null(s);
	assert_int_equal(store_open(ops_under_test, "", NULL, &s),
	    MANDATE_EINVAL);
	assert_int_equal(store_open(ops_under_test, f->path, NULL, NULL),
	    MANDATE_EINVAL);
	store_close(NULL);
	assert_int_equal(store_task_create(NULL, &t), MANDATE_EINVAL);
	assert_int_equal(store_task_create(f->s, NULL), MANDATE_EINVAL);
	assert_int_equal(store_task_get(f->s, str_c("t1"), NULL, &got),
	    MANDATE_EINVAL);
	assert_int_equal(store_task_consume(f->s, str_c("t1"), T0, NULL,
	    NULL), MANDATE_EINVAL);
	assert_int_equal(store_cred_usable(f->s, STR_NULL, T0, &u),
	    MANDATE_EINVAL);
	assert_int_not_equal(u, STORE_USABLE);
	assert_int_equal(store_task_consume(f->s, STR_NULL, T0, &outcome,
	    NULL), MANDATE_EINVAL);
}

/* --- tasks ---------------------------------------------------------------- */

static void
test_task_create_get(void **state)
{
	struct fixture *f = *state;
	struct store_task t = mk_task("t1", "spiffe://d/a", T0, 600, 10);
	struct store_task got;

	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	assert_int_equal(store_task_get(f->s, str_c("t1"), &f->a, &got),
	    MANDATE_OK);
	assert_true(str_eq(got.id, t.id));
	assert_true(str_eq(got.agent, t.agent));
	assert_true(str_eq(got.delegator, t.delegator));
	assert_true(str_eq(got.act_json, t.act_json));
	assert_true(str_eq(got.objective, t.objective));
	assert_true(str_eq(got.intents_json, t.intents_json));
	assert_string_equal(got.objective.p, "summarise the quarterly report");
	assert_int_equal(got.sensitivity, 2);
	assert_int_equal(got.created_at, T0);
	assert_int_equal(got.expires_at, T0 + 600);
	assert_int_equal(got.call_budget, 10);
	assert_int_equal(got.calls_used, 0);
	assert_int_equal(got.state, STORE_TASK_ACTIVE);
	assert_int_equal(got.ended_at, 0);
	assert_int_equal(got.reason.n, 0);
	assert_int_equal(store_task_state_at(&got, T0 + 599),
	    STORE_TASK_ACTIVE);
	assert_int_equal(store_task_state_at(&got, T0 + 600),
	    STORE_TASK_EXPIRED);

	/* duplicate id (the database's message goes to the log), unknown id */
	f->n_logged = 0;
	assert_int_equal(store_task_create(f->s, &t), MANDATE_EINVAL);
	assert_int_equal(f->n_logged, 1);
	assert_non_null(strstr(f->log, "task_create: sqlite:"));
	assert_int_equal(store_task_get(f->s, str_c("nope"), &f->a, &got),
	    MANDATE_ENOTFOUND);
	assert_null(got.id.p);

	/* bytes are stored as given: no SQL, no UTF-8 assumptions */
	t = mk_task("t2", "'; DROP TABLE tasks; --", T0, 600, 1);
	t.objective = str_make("\xff\xfe\x80 \xc3(", 6);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	assert_int_equal(store_task_get(f->s, str_c("t2"), &f->a, &got),
	    MANDATE_OK);
	assert_true(str_eq(got.agent, t.agent));
	assert_true(str_eq(got.objective, t.objective));
	assert_int_equal(store_task_get(f->s, str_c("t1"), &f->a, &got),
	    MANDATE_OK);
}

static void
test_task_create_rejects(void **state)
{
	struct fixture *f = *state;
	static char big[STORE_MAX_TEXT + 2];
	struct store_task t;

	t = mk_task("", "spiffe://d/a", T0, 60, 1);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_EINVAL);
	t = mk_task("x1", "", T0, 60, 1);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_EINVAL);
	t = mk_task("x2", "a", T0, 0, 1);          /* expires == created */
	assert_int_equal(store_task_create(f->s, &t), MANDATE_EINVAL);
	t = mk_task("x3", "a", T0, 60, 0);         /* no budget */
	assert_int_equal(store_task_create(f->s, &t), MANDATE_EINVAL);
	t = mk_task("x4", "a", T0, 60, -5);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_EINVAL);
	t = mk_task("x5", "a", T0, 60, 1);
	t.id = str_make("x5\0z", 4);               /* embedded NUL */
	assert_int_equal(store_task_create(f->s, &t), MANDATE_EINVAL);
	memset(big, 'o', sizeof(big));
	t = mk_task("x6", "a", T0, 60, 1);
	t.objective = str_make(big, STORE_MAX_TEXT + 1);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_ELIMIT);
	t.objective = str_make(big, STORE_MAX_TEXT);   /* at the bound */
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	t = mk_task("x7", "a", T0, 60, 1);
	t.id = str_make(big, STORE_MAX_ID + 1);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_ELIMIT);
}

static void
test_task_end_idempotent(void **state)
{
	struct fixture *f = *state;
	struct store_task t = mk_task("t1", "spiffe://d/a", T0, 600, 10);
	struct store_credential c1 = mk_cred("j1", "t1", "spiffe://d/a", T0,
	    300);
	struct store_credential c2 = mk_cred("j2", "t1", "spiffe://d/a", T0,
	    300);
	struct store_credential got;
	struct store_task tg;
	int changed = -1;

	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	assert_int_equal(store_cred_insert(f->s, &c1), MANDATE_OK);
	assert_int_equal(store_cred_insert(f->s, &c2), MANDATE_OK);
	assert_int_equal(usable(f->s, "j1", T0 + 1), STORE_USABLE);

	assert_int_equal(store_task_end(f->s, str_c("t1"), T0 + 10,
	    str_c("done"), &changed), MANDATE_OK);
	assert_int_equal(changed, 1);
	assert_int_equal(store_task_end(f->s, str_c("t1"), T0 + 20,
	    str_c("again"), &changed), MANDATE_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(store_task_end(f->s, str_c("t1"), T0 + 20,
	    STR_NULL, NULL), MANDATE_OK);

	assert_int_equal(store_task_get(f->s, str_c("t1"), &f->a, &tg),
	    MANDATE_OK);
	assert_int_equal(tg.state, STORE_TASK_ENDED);
	assert_int_equal(tg.ended_at, T0 + 10);
	assert_string_equal(tg.reason.p, "done");
	assert_int_equal(store_task_state_at(&tg, T0 + 10000),
	    STORE_TASK_ENDED);

	/* ending revoked its credentials in the same transaction */
	assert_int_equal(store_cred_get(f->s, str_c("j2"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.revoked, 1);
	assert_int_equal(got.revoked_at, T0 + 10);
	assert_int_equal(usable(f->s, "j1", T0 + 11), STORE_UNUSABLE_REVOKED);

	/* a credential recorded after the end (a race) is still refused */
	c1.jti = str_c("j3");
	assert_int_equal(store_cred_insert(f->s, &c1), MANDATE_OK);
	assert_int_equal(usable(f->s, "j3", T0 + 11),
	    STORE_UNUSABLE_TASK_ENDED);

	assert_int_equal(store_task_end(f->s, str_c("nope"), T0, STR_NULL,
	    &changed), MANDATE_ENOTFOUND);
	assert_int_equal(changed, 0);
}

/* An expired task is over: ending it at or after expires_at leaves it
 * as it is (no ended_at, no reason, its credentials untouched), decided
 * on the time of the write; a second before, the end takes. */
static void
test_task_end_expired(void **state)
{
	struct fixture *f = *state;
	struct store_task t = mk_task("t1", "spiffe://d/a", T0, 600, 10);
	struct store_credential c = mk_cred("j1", "t1", "spiffe://d/a", T0,
	    300);
	struct store_credential got;
	struct store_task tg;
	int changed = -1;

	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	assert_int_equal(store_cred_insert(f->s, &c), MANDATE_OK);
	assert_int_equal(store_task_end(f->s, str_c("t1"), T0 + 600,
	    str_c("late"), &changed), MANDATE_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(store_task_end(f->s, str_c("t1"), T0 + 5000,
	    str_c("later"), &changed), MANDATE_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(store_task_get(f->s, str_c("t1"), &f->a, &tg),
	    MANDATE_OK);
	assert_int_equal(tg.state, STORE_TASK_ACTIVE);
	assert_int_equal(tg.ended_at, 0);
	assert_int_equal(tg.reason.n, 0);
	assert_int_equal(store_task_state_at(&tg, T0 + 600),
	    STORE_TASK_EXPIRED);
	assert_int_equal(store_cred_get(f->s, str_c("j1"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.revoked, 0);

	t = mk_task("t2", "spiffe://d/a", T0, 600, 10);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	assert_int_equal(store_task_end(f->s, str_c("t2"), T0 + 599,
	    str_c("in time"), &changed), MANDATE_OK);
	assert_int_equal(changed, 1);
	assert_int_equal(store_task_get(f->s, str_c("t2"), &f->a, &tg),
	    MANDATE_OK);
	assert_int_equal(tg.state, STORE_TASK_ENDED);
	assert_int_equal(tg.ended_at, T0 + 599);
}

static void
test_task_consume_budget(void **state)
{
	struct fixture *f = *state;
	struct store_task t = mk_task("t1", "a", T0, 100, 3);
	struct store_task tg;
	int64_t used = -1;
	int outcome = -1;

	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	for (int i = 1; i <= 3; i++) {
		assert_int_equal(store_task_consume(f->s, str_c("t1"), T0 + i,
		    &outcome, &used), MANDATE_OK);
		assert_int_equal(outcome, STORE_CONSUMED);
		assert_int_equal(used, i);
	}
	assert_int_equal(store_task_consume(f->s, str_c("t1"), T0 + 5,
	    &outcome, &used), MANDATE_OK);
	assert_int_equal(outcome, STORE_EXHAUSTED);
	assert_int_equal(store_task_get(f->s, str_c("t1"), &f->a, &tg),
	    MANDATE_OK);
	assert_int_equal(tg.calls_used, 3);

	/* expired */
	t = mk_task("t2", "a", T0, 100, 3);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	assert_int_equal(store_task_consume(f->s, str_c("t2"), T0 + 100,
	    &outcome, NULL), MANDATE_OK);
	assert_int_equal(outcome, STORE_TASK_EXPIRED_NOW);
	assert_int_equal(store_task_consume(f->s, str_c("t2"), T0 + 99,
	    &outcome, NULL), MANDATE_OK);
	assert_int_equal(outcome, STORE_CONSUMED);

	/* ended */
	assert_int_equal(store_task_end(f->s, str_c("t2"), T0 + 1, STR_NULL,
	    NULL), MANDATE_OK);
	assert_int_equal(store_task_consume(f->s, str_c("t2"), T0 + 2,
	    &outcome, NULL), MANDATE_OK);
	assert_int_equal(outcome, STORE_NOT_ACTIVE);

	/* unknown */
	assert_int_equal(store_task_consume(f->s, str_c("t9"), T0, &outcome,
	    NULL), MANDATE_ENOTFOUND);
	assert_int_not_equal(outcome, STORE_CONSUMED);
}

static void
test_task_list_paged(void **state)
{
	struct fixture *f = *state;
	struct store_page page;
	struct store_task *out = NULL;
	char ids[40][8];
	size_t n = 0, seen = 0;
	int pages = 0;

	for (int i = 0; i < 25; i++) {
		struct store_task t;
		snprintf(ids[i], sizeof(ids[i]), "a%02d", 24 - i);
		/* several tasks share a created_at: ties broken by id */
		t = mk_task(ids[i], "agent-a", T0 + i / 4, 600, 1);
		assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	}
	for (int i = 25; i < 28; i++) {
		struct store_task t;
		snprintf(ids[i], sizeof(ids[i]), "b%02d", i);
		t = mk_task(ids[i], "agent-b", T0, 600, 1);
		assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	}
	memset(&page, 0, sizeof(page));
	page.limit = 10;
	for (;;) {
		assert_int_equal(store_task_list_by_agent(f->s,
		    str_c("agent-a"), &page, &f->a, &out, &n), MANDATE_OK);
		if (n == 0) {
			assert_null(out);
			break;
		}
		pages++;
		assert_true(n <= 10);
		for (size_t i = 0; i < n; i++) {
			/* (created_at, id) strictly increasing across pages */
			assert_string_equal(out[i].agent.p, "agent-a");
			assert_true((page.after_id.n == 0 && i == 0) ||
			    page.after_created_at < out[i].created_at ||
			    (page.after_created_at == out[i].created_at &&
			    str_cmp(page.after_id, out[i].id) < 0));
			page.after_created_at = out[i].created_at;
			page.after_id = out[i].id;
		}
		seen += n;
	}
	assert_int_equal(seen, 25);
	assert_int_equal(pages, 3);

	page.limit = 0;
	assert_int_equal(store_task_list_by_agent(f->s, str_c("agent-a"),
	    &page, &f->a, &out, &n), MANDATE_EINVAL);
	page.limit = STORE_MAX_PAGE + 1;
	assert_int_equal(store_task_list_by_agent(f->s, str_c("agent-a"),
	    &page, &f->a, &out, &n), MANDATE_EINVAL);
	memset(&page, 0, sizeof(page));
	page.limit = 5;
	assert_int_equal(store_task_list_by_agent(f->s, str_c("nobody"),
	    &page, &f->a, &out, &n), MANDATE_OK);
	assert_int_equal(n, 0);
}

/* --- kill switch ---------------------------------------------------------- */

static void
test_agent_revoke(void **state)
{
	struct fixture *f = *state;
	const char *ag = "spiffe://d/bad";
	struct store_agent_revocation rv, got;
	struct store_task t, tg;
	struct store_credential c;
	size_t n = 99;
	int outcome;

	t = mk_task("k1", ag, T0, 600, 5);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	t = mk_task("k2", ag, T0, 600, 5);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	t = mk_task("k3", ag, T0, 600, 5);                 /* ended */
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	assert_int_equal(store_task_end(f->s, str_c("k3"), T0 + 1, STR_NULL,
	    NULL), MANDATE_OK);
	t = mk_task("k4", ag, T0 - 1000, 10, 5);           /* expired */
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	t = mk_task("o1", "spiffe://d/good", T0, 600, 5);  /* other agent */
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	c = mk_cred("jk1", "k1", ag, T0, 300);
	assert_int_equal(store_cred_insert(f->s, &c), MANDATE_OK);
	c = mk_cred("jo1", "o1", "spiffe://d/good", T0, 300);
	assert_int_equal(store_cred_insert(f->s, &c), MANDATE_OK);

	assert_int_equal(store_agent_revocation_last(f->s, str_c(ag), &f->a,
	    &got), MANDATE_ENOTFOUND);

	memset(&rv, 0, sizeof(rv));
	rv.agent = str_c(ag);
	rv.revoked_by = str_c("user:secops");
	rv.reason = str_c("prompt injection suspected");
	assert_int_equal(store_agent_revoke(f->s, &rv, T0 + 50, &n),
	    MANDATE_OK);
	assert_int_equal(n, 2);

	assert_int_equal(store_task_get(f->s, str_c("k1"), &f->a, &tg),
	    MANDATE_OK);
	assert_int_equal(tg.state, STORE_TASK_REVOKED);
	assert_string_equal(tg.reason.p, "prompt injection suspected");
	assert_int_equal(store_task_get(f->s, str_c("k3"), &f->a, &tg),
	    MANDATE_OK);
	assert_int_equal(tg.state, STORE_TASK_ENDED);       /* untouched */
	assert_int_equal(store_task_get(f->s, str_c("o1"), &f->a, &tg),
	    MANDATE_OK);
	assert_int_equal(tg.state, STORE_TASK_ACTIVE);
	assert_int_equal(store_task_consume(f->s, str_c("k2"), T0 + 51,
	    &outcome, NULL), MANDATE_OK);
	assert_int_equal(outcome, STORE_NOT_ACTIVE);

	assert_int_not_equal(usable(f->s, "jk1", T0 + 51), STORE_USABLE);
	assert_int_equal(usable(f->s, "jo1", T0 + 51), STORE_USABLE);

	assert_int_equal(store_agent_revocation_last(f->s, str_c(ag), &f->a,
	    &got), MANDATE_OK);
	assert_string_equal(got.agent.p, ag);
	assert_int_equal(got.revoked_at, T0 + 50);
	assert_string_equal(got.revoked_by.p, "user:secops");
	assert_string_equal(got.reason.p, "prompt injection suspected");

	/* A task created (decided) before the kill, or in its second, but
	 * recorded after it: refused, nothing inserted (the race a kill
	 * switch must win: the switch ends every task up to it). */
	t = mk_task("k5", ag, T0 + 40, 600, 5);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_ECONFLICT);
	t = mk_task("k5", ag, T0 + 50, 600, 5);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_ECONFLICT);
	assert_int_equal(store_task_get(f->s, str_c("k5"), &f->a, &tg),
	    MANDATE_ENOTFOUND);
	/* another agent's task is not concerned */
	t = mk_task("o5", "spiffe://acme.test/other", T0 + 40, 600, 5);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	/* A credential issued before the kill but recorded after it (on a
	 * task of the next second): unusable all the same. */
	t = mk_task("k5", ag, T0 + 51, 600, 5);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	c = mk_cred("jk5", "k5", ag, T0 + 45, 300);
	assert_int_equal(store_cred_insert(f->s, &c), MANDATE_OK);
	assert_int_equal(usable(f->s, "jk5", T0 + 60),
	    STORE_UNUSABLE_AGENT_REVOKED);
	/* ... and one issued later is usable again (the kill is a point in
	 * time, not a ban). */
	t = mk_task("k6", ag, T0 + 100, 600, 5);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	c = mk_cred("jk6", "k6", ag, T0 + 100, 300);
	assert_int_equal(store_cred_insert(f->s, &c), MANDATE_OK);
	assert_int_equal(usable(f->s, "jk6", T0 + 101), STORE_USABLE);

	/* revoking again finds nothing active but k5/k6 */
	assert_int_equal(store_agent_revoke(f->s, &rv, T0 + 200, &n),
	    MANDATE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(store_agent_revoke(f->s, &rv, T0 + 201, NULL),
	    MANDATE_OK);
	assert_int_equal(store_agent_revocation_last(f->s, str_c(ag), &f->a,
	    &got), MANDATE_OK);
	assert_int_equal(got.revoked_at, T0 + 201);
}

/* --- credentials ---------------------------------------------------------- */

static void
test_credentials(void **state)
{
	struct fixture *f = *state;
	struct store_task t = mk_task("t1", "a", T0, 600, 5);
	struct store_credential c = mk_cred("j1", "t1", "a", T0, 300);
	struct store_credential got;
	int changed = -1;

	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	assert_int_equal(store_cred_insert(f->s, &c), MANDATE_OK);
	assert_int_equal(store_cred_insert(f->s, &c), MANDATE_EINVAL);
	assert_int_equal(store_cred_get(f->s, str_c("j1"), &f->a, &got),
	    MANDATE_OK);
	assert_string_equal(got.jti.p, "j1");
	assert_string_equal(got.task_id.p, "t1");
	assert_string_equal(got.agent.p, "a");
	assert_string_equal(got.audience.p, "https://tools.example");
	assert_true(str_eq(got.cnf_jkt, c.cnf_jkt));
	assert_int_equal(got.issued_at, T0);
	assert_int_equal(got.expires_at, T0 + 300);
	assert_int_equal(got.revoked, 0);
	assert_int_equal(got.revoked_at, 0);

	/* unbound credential (no DPoP) */
	c = mk_cred("j2", "t1", "a", T0, 300);
	c.cnf_jkt = STR_NULL;
	assert_int_equal(store_cred_insert(f->s, &c), MANDATE_OK);
	assert_int_equal(store_cred_get(f->s, str_c("j2"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.cnf_jkt.n, 0);

	/* unknown task: refused */
	c = mk_cred("j3", "no-such-task", "a", T0, 300);
	assert_int_equal(store_cred_insert(f->s, &c), MANDATE_EINVAL);
	c = mk_cred("j3", "t1", "a", T0, 0);
	assert_int_equal(store_cred_insert(f->s, &c), MANDATE_EINVAL);

	assert_int_equal(usable(f->s, "j1", T0), STORE_USABLE);
	assert_int_equal(usable(f->s, "j1", T0 + 299), STORE_USABLE);
	assert_int_equal(usable(f->s, "j1", T0 + 300), STORE_UNUSABLE_EXPIRED);
	assert_int_equal(usable(f->s, "zz", T0), STORE_UNUSABLE_UNKNOWN);
	assert_int_equal(store_cred_get(f->s, str_c("zz"), &f->a, &got),
	    MANDATE_ENOTFOUND);

	assert_int_equal(store_cred_revoke(f->s, str_c("j1"), T0 + 5,
	    &changed), MANDATE_OK);
	assert_int_equal(changed, 1);
	assert_int_equal(store_cred_revoke(f->s, str_c("j1"), T0 + 6,
	    &changed), MANDATE_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(store_cred_get(f->s, str_c("j1"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.revoked, 1);
	assert_int_equal(got.revoked_at, T0 + 5);
	assert_int_equal(usable(f->s, "j1", T0 + 6), STORE_UNUSABLE_REVOKED);
	assert_int_equal(usable(f->s, "j2", T0 + 6), STORE_USABLE);
	assert_int_equal(store_cred_revoke(f->s, str_c("zz"), T0, &changed),
	    MANDATE_ENOTFOUND);

	/* task expiry makes a longer-lived credential unusable */
	t = mk_task("t2", "a", T0, 100, 5);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	c = mk_cred("j4", "t2", "a", T0, 300);
	assert_int_equal(store_cred_insert(f->s, &c), MANDATE_OK);
	assert_int_equal(usable(f->s, "j4", T0 + 99), STORE_USABLE);
	assert_int_equal(usable(f->s, "j4", T0 + 100),
	    STORE_UNUSABLE_TASK_EXPIRED);
}

/* --- signing keys ----------------------------------------------------------- */

static struct store_key
mk_key(const char *kid, int64_t created)
{
	struct store_key k;

	memset(&k, 0, sizeof(k));
	k.kid = str_c(kid);
	k.alg = str_c("ES256");
	k.public_jwk = str_c("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"x\","
	    "\"y\":\"y\"}");
	k.state = STORE_KEY_NEXT;
	k.created_at = created;
	return k;
}

static void
test_signing_keys(void **state)
{
	struct fixture *f = *state;
	struct store_key k = mk_key("k1", T0), got, *list = NULL;
	size_t n = 0;

	assert_int_equal(store_key_insert(f->s, &k), MANDATE_OK);
	assert_int_equal(store_key_insert(f->s, &k), MANDATE_EINVAL);
	k = mk_key("k2", T0 + 10);
	assert_int_equal(store_key_insert(f->s, &k), MANDATE_OK);
	k.state = 7;
	assert_int_equal(store_key_insert(f->s, &k), MANDATE_EINVAL);

	assert_int_equal(store_key_activate(f->s, str_c("k1"), T0 + 1, 0),
	    MANDATE_OK);
	assert_int_equal(store_key_get(f->s, str_c("k1"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.state, STORE_KEY_ACTIVE);
	assert_int_equal(got.activated_at, T0 + 1);
	assert_string_equal(got.alg.p, "ES256");
	assert_string_equal(got.public_jwk.p, k.public_jwk.p);

	/* rotation: k2 active, k1 retired and published until T0 + 1000 */
	assert_int_equal(store_key_activate(f->s, str_c("k2"), T0 + 20,
	    T0 + 1000), MANDATE_OK);
	assert_int_equal(store_key_list(f->s, &f->a, &list, &n), MANDATE_OK);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].kid.p, "k1");
	assert_int_equal(list[0].state, STORE_KEY_RETIRED);
	assert_int_equal(list[0].retire_after, T0 + 1000);
	assert_string_equal(list[1].kid.p, "k2");
	assert_int_equal(list[1].state, STORE_KEY_ACTIVE);
	assert_int_equal(list[1].activated_at, T0 + 20);

	/* activating the active key again changes nothing */
	assert_int_equal(store_key_activate(f->s, str_c("k2"), T0 + 30,
	    T0 + 2000), MANDATE_OK);
	assert_int_equal(store_key_get(f->s, str_c("k2"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.state, STORE_KEY_ACTIVE);
	assert_int_equal(got.activated_at, T0 + 20);

	/* a retired key stays retired; unknown kids */
	assert_int_equal(store_key_activate(f->s, str_c("k1"), T0 + 40, 0),
	    MANDATE_EINVAL);
	assert_int_equal(store_key_activate(f->s, str_c("k9"), T0 + 40, 0),
	    MANDATE_ENOTFOUND);
	assert_int_equal(store_key_get(f->s, str_c("k9"), &f->a, &got),
	    MANDATE_ENOTFOUND);
	assert_int_equal(store_key_retire(f->s, str_c("k9"), T0),
	    MANDATE_ENOTFOUND);
	assert_int_equal(store_key_retire(f->s, str_c("k2"), T0 + 500),
	    MANDATE_OK);
	assert_int_equal(store_key_get(f->s, str_c("k2"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.state, STORE_KEY_RETIRED);
	assert_int_equal(got.retire_after, T0 + 500);
}

/* --- audit ---------------------------------------------------------------- */

static void
test_audit_append_read(void **state)
{
	struct fixture *f = *state;
	struct store_audit_event e, *out = NULL;
	int64_t ids[7], id = 0;
	size_t n = 0;

	for (int i = 0; i < 7; i++) {
		memset(&e, 0, sizeof(e));
		e.time = T0 + i;
		e.type = str_c(i % 2 ? "decision" : "token.issued");
		e.request_id = str_c("req-1");
		e.agent = str_c("spiffe://d/a");
		e.task_id = str_c("t1");
		e.fields_json = str_c("{\"n\":1}");
		assert_int_equal(store_audit_append(f->s, &e, &ids[i]),
		    MANDATE_OK);
		if (i > 0)
			assert_true(ids[i] > ids[i - 1]);
	}
	assert_int_equal(store_audit_read(f->s, ids[0], 3, &f->a, &out, &n),
	    MANDATE_OK);
	assert_int_equal(n, 3);
	assert_int_equal(out[0].id, ids[0]);
	assert_int_equal(out[2].id, ids[2]);
	assert_string_equal(out[1].type.p, "decision");
	assert_string_equal(out[1].fields_json.p, "{\"n\":1}");
	assert_string_equal(out[1].agent.p, "spiffe://d/a");
	assert_string_equal(out[1].request_id.p, "req-1");
	assert_string_equal(out[1].task_id.p, "t1");
	assert_int_equal(out[1].time, T0 + 1);
	assert_int_equal(store_audit_read(f->s, ids[3], 100, &f->a, &out, &n),
	    MANDATE_OK);
	assert_int_equal(n, 4);
	assert_int_equal(store_audit_read(f->s, ids[6] + 1, 100, &f->a, &out,
	    &n), MANDATE_OK);
	assert_int_equal(n, 0);
	assert_null(out);
	assert_int_equal(store_audit_read(f->s, 0, 0, &f->a, &out, &n),
	    MANDATE_EINVAL);

	/* minimal event; missing type is refused */
	memset(&e, 0, sizeof(e));
	e.type = str_c("revocation");
	assert_int_equal(store_audit_append(f->s, &e, &id), MANDATE_OK);
	assert_true(id > ids[6]);
	e.type = STR_NULL;
	assert_int_equal(store_audit_append(f->s, &e, &id), MANDATE_EINVAL);
}

/* SQLite only: the table refuses updates and deletes itself. */
static void
test_audit_append_only_sqlite(void **state)
{
	struct fixture *f = *state;
	struct store_audit_event e;
	sqlite3 *db = NULL;

	memset(&e, 0, sizeof(e));
	e.type = str_c("x");
	assert_int_equal(store_audit_append(f->s, &e, NULL), MANDATE_OK);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	assert_int_not_equal(sqlite3_exec(db, "UPDATE audit_events SET"
	    " type = 'y'", NULL, NULL, NULL), SQLITE_OK);
	assert_int_not_equal(sqlite3_exec(db, "DELETE FROM audit_events",
	    NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* SQLite only: a record whose columns are not stored with their declared
 * types (a table rebuilt without STRICT, values cast to blobs) is told
 * apart by store_audit_read, and the table by store_audit_tables_check. */
static void
test_audit_misstored_sqlite(void **state)
{
	struct fixture *f = *state;
	struct store_audit_event e, *out = NULL;
	const char *table = "x", *why = "x";
	sqlite3 *db = NULL;
	size_t n = 0;

	memset(&e, 0, sizeof(e));
	e.type = str_c("task.created");
	e.agent = str_c("spiffe://d/a");
	e.task_id = str_c("t1");
	e.fields_json = str_c("{}");
	assert_int_equal(store_audit_append(f->s, &e, NULL), MANDATE_OK);
	assert_int_equal(store_audit_append(f->s, &e, NULL), MANDATE_OK);
	assert_int_equal(store_audit_read(f->s, 1, 10, &f->a, &out, &n),
	    MANDATE_OK);
	assert_int_equal(n, 2);
	assert_null(out[0].misstored_column);
	assert_null(out[1].misstored_as);
	assert_int_equal(store_audit_tables_check(f->s, &table, &why),
	    MANDATE_OK);
	assert_null(table);
	assert_null(why);

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	assert_int_equal(sqlite3_exec(db,
	    "DROP TRIGGER audit_events_no_update;"
	    "ALTER TABLE audit_events RENAME TO o;"
	    "CREATE TABLE audit_events (id INTEGER PRIMARY KEY, time INTEGER"
	    " NOT NULL, type TEXT NOT NULL, request_id TEXT NOT NULL, agent"
	    " TEXT NOT NULL, task_id TEXT NOT NULL, fields_json TEXT NOT NULL);"
	    "INSERT INTO audit_events SELECT * FROM o; DROP TABLE o;"
	    "UPDATE audit_events SET task_id = CAST(task_id AS BLOB),"
	    " agent = CAST(agent AS BLOB) WHERE id = 2;", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(store_audit_read(f->s, 1, 10, &f->a, &out, &n),
	    MANDATE_OK);
	assert_int_equal(n, 2);
	assert_null(out[0].misstored_column);
	assert_string_equal(out[1].misstored_column, "agent");
	assert_string_equal(out[1].misstored_as, "blob");
	/* the bytes are read the same */
	assert_string_equal(out[1].agent.p, "spiffe://d/a");
	assert_string_equal(out[1].task_id.p, "t1");
	assert_int_equal(store_audit_tables_check(f->s, &table, &why),
	    MANDATE_EINVAL);
	assert_string_equal(table, "audit_events");
	assert_string_equal(why, "is not a STRICT table");
}

/* --- the audit query and its indexes ------------------------------------- */

#define AQ_EVENTS 400

static const char *const aq_types[] = { "decision", "task.created", "x" };
static const char *const aq_agents[] = { "spiffe://a/1", "spiffe://a/2",
    "spiffe://a/3", "" };
static const char *const aq_tasks[] = { "t1", "t2", "t3", "t4", "" };

/* Is the index name in the database's schema?  (SQLite only.) */
static bool
has_index(const char *path, const char *name)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	bool yes;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT 1 FROM sqlite_schema"
	    " WHERE type = 'index' AND name = ?1", -1, &q, NULL), SQLITE_OK);
	sqlite3_bind_text(q, 1, name, -1, SQLITE_STATIC);
	yes = sqlite3_step(q) == SQLITE_ROW;
	sqlite3_finalize(q);
	sqlite3_close(db);
	return yes;
}

/* Does SQLite answer store_audit_query with one filter on column (its
 * own text, store_sqlite_audit_query_sql), in either order, from the
 * index?  (SQLite only.) */
static bool
plan_uses(const char *path, const char *column, const char *index)
{
	bool all = true;
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
	for (int desc = 0; desc < 2; desc++) {
		struct store_audit_filter f;
		char sql[600], plan[1024] = "";
		sqlite3_stmt *q = NULL;

		memset(&f, 0, sizeof(f));
		if (strcmp(column, "agent") == 0)
			f.agent = str_c("v");
		else if (strcmp(column, "task_id") == 0)
			f.task_id = str_c("v");
		else
			f.type = str_c("v");
		f.newest_first = desc;
		strcpy(sql, "EXPLAIN QUERY PLAN ");
		assert_int_equal(store_sqlite_audit_query_sql(&f,
		    sql + strlen(sql), sizeof(sql) - strlen(sql)), MANDATE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL),
		    SQLITE_OK);
		while (sqlite3_step(q) == SQLITE_ROW) {
			const char *d = (const char *)sqlite3_column_text(q,
			    3);
			strncat(plan, d != NULL ? d : "", sizeof(plan) -
			    strlen(plan) - 1);
		}
		sqlite3_finalize(q);
		all = all && strstr(plan, index) != NULL;
	}
	sqlite3_close(db);
	return all;
}

/* One query, paged to the end, against the same filter applied to what
 * was appended (ev[0..n), ids 1..n in order). */
static void
check_query(struct store *s, const struct store_audit_event *ev, size_t n,
    const struct store_audit_filter *base, size_t limit)
{
	struct store_audit_filter q = *base;
	size_t want[AQ_EVENTS], n_want = 0, got = 0;

	for (size_t k = 0; k < n; k++) {
		size_t i = q.newest_first ? n - 1 - k : k;
		const struct store_audit_event *e = &ev[i];

		if ((q.type.n == 0 || str_eq(e->type, q.type)) &&
		    (q.agent.n == 0 || str_eq(e->agent, q.agent)) &&
		    (q.task_id.n == 0 || str_eq(e->task_id, q.task_id)) &&
		    e->time >= q.from_time &&
		    (q.to_time == 0 || e->time <= q.to_time))
			want[n_want++] = i + 1;
	}
	q.limit = limit;
	for (;;) {
		struct store_audit_event *out = NULL;
		size_t m = 0;
		struct arena a;

		arena_init(&a, 0);
		assert_int_equal(store_audit_query(s, &q, &a, &out, &m),
		    MANDATE_OK);
		assert_true(m <= limit);
		for (size_t i = 0; i < m; i++) {
			assert_true(got < n_want);
			assert_int_equal(out[i].id, (int64_t)want[got]);
			assert_true(str_eq(out[i].agent,
			    ev[want[got] - 1].agent));
			got++;
		}
		if (m > 0) {
			if (q.newest_first)
				q.before_id = out[m - 1].id;
			else
				q.after_id = out[m - 1].id;
		}
		arena_free(&a);
		if (m < limit)
			break;
	}
	assert_int_equal(got, n_want);
}

/* store_audit_query gives the same pages with and without the indexes
 * of store_options.audit_indexes, for random filters; the indexes are
 * built and dropped as asked, left alone when not asked, and the
 * query's own text is answered from them. */
static void
test_audit_query_indexes(void **state)
{
	struct fixture *f = *state;
	struct store_audit_event ev[AQ_EVENTS];
	static const unsigned sets[] = { 0, STORE_AUDIT_INDEX_AGENT |
	    STORE_AUDIT_INDEX_TASK | STORE_AUDIT_INDEX_TYPE,
	    STORE_AUDIT_INDEX_TASK };
	unsigned seed = 20261129;

	for (size_t i = 0; i < AQ_EVENTS; i++) {
		int64_t id = 0;

		memset(&ev[i], 0, sizeof(ev[i]));
		seed = seed * 1103515245u + 12345u;
		ev[i].type = str_c(aq_types[(seed >> 8) % 3]);
		ev[i].agent = str_c(aq_agents[(seed >> 12) % 4]);
		ev[i].task_id = str_c(aq_tasks[(seed >> 16) % 5]);
		ev[i].time = T0 + (int64_t)i / 10;
		ev[i].fields_json = str_c("{}");
		assert_int_equal(store_audit_append(f->s, &ev[i], &id),
		    MANDATE_OK);
		assert_int_equal(id, (int64_t)i + 1);
	}
	for (size_t k = 0; k < sizeof(sets) / sizeof(sets[0]); k++) {
		struct store_options o = fx_options(f);

		store_close(f->s);
		o.set_audit_indexes = true;
		o.audit_indexes = sets[k];
		assert_int_equal(store_open(ops_under_test, f->path, &o,
		    &f->s), MANDATE_OK);
		assert_int_equal(has_index(f->path, "audit_events_by_agent"),
		    (sets[k] & STORE_AUDIT_INDEX_AGENT) != 0);
		assert_int_equal(has_index(f->path, "audit_events_by_task"),
		    (sets[k] & STORE_AUDIT_INDEX_TASK) != 0);
		assert_int_equal(has_index(f->path, "audit_events_by_type"),
		    (sets[k] & STORE_AUDIT_INDEX_TYPE) != 0);
		assert_int_equal(plan_uses(f->path, "agent",
		    "audit_events_by_agent"),
		    (sets[k] & STORE_AUDIT_INDEX_AGENT) != 0);
		assert_int_equal(plan_uses(f->path, "task_id",
		    "audit_events_by_task"),
		    (sets[k] & STORE_AUDIT_INDEX_TASK) != 0);
		assert_int_equal(plan_uses(f->path, "type",
		    "audit_events_by_type"),
		    (sets[k] & STORE_AUDIT_INDEX_TYPE) != 0);
		for (int t = 0; t < 150; t++) {
			struct store_audit_filter q;

			memset(&q, 0, sizeof(q));
			seed = seed * 1103515245u + 12345u;
			if (seed >> 28 & 1)
				q.type = str_c(aq_types[(seed >> 4) % 3]);
			if (seed >> 27 & 1)
				q.agent = str_c(aq_agents[(seed >> 6) % 3]);
			if (seed >> 26 & 1)
				q.task_id = str_c(aq_tasks[(seed >> 9) % 4]);
			if (seed >> 25 & 1)
				q.from_time = T0 + (seed >> 12) % 30;
			if (seed >> 24 & 1)   /* not before from_time */
				q.to_time = (q.from_time > 0 ? q.from_time :
				    T0) + (seed >> 14) % 20;
			q.newest_first = seed >> 23 & 1;
			check_query(f->s, ev, AQ_EVENTS, &q,
			    1 + (seed >> 16) % 37);
		}
	}
	/* a store opened without set_audit_indexes leaves them */
	store_close(f->s);
	{
		struct store_options o = fx_options(f);

		assert_int_equal(store_open(ops_under_test, f->path, &o,
		    &f->s), MANDATE_OK);
	}
	assert_true(has_index(f->path, "audit_events_by_task"));
	assert_false(has_index(f->path, "audit_events_by_agent"));
}

/* --- concurrency ----------------------------------------------------------- */

#define N_THREADS 6
#define TRIES 40
#define BUDGET 100

struct consumer {
	struct store *s;
	int consumed, refused, errors;
	int64_t max_used;
};

static void *
consume_thread(void *arg)
{
	struct consumer *c = arg;

	for (int i = 0; i < TRIES; i++) {
		int outcome = -1;
		int64_t used = 0;
		int r = store_task_consume(c->s, str_c("busy"), T0 + 1,
		    &outcome, &used);
		if (r != MANDATE_OK)
			c->errors++;
		else if (outcome == STORE_CONSUMED) {
			c->consumed++;
			if (used > c->max_used)
				c->max_used = used;
		} else if (outcome == STORE_EXHAUSTED)
			c->refused++;
		else
			c->errors++;
	}
	return NULL;
}

static void
test_concurrent_consume(void **state)
{
	struct fixture *f = *state;
	struct store_task t = mk_task("busy", "a", T0, 600, BUDGET);
	struct consumer cs[N_THREADS];
	pthread_t th[N_THREADS];
	int consumed = 0, refused = 0;
	int64_t max_used = 0;

	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	memset(cs, 0, sizeof(cs));
	for (int i = 0; i < N_THREADS; i++) {
		cs[i].s = f->s;
		assert_int_equal(pthread_create(&th[i], NULL, consume_thread,
		    &cs[i]), 0);
	}
	for (int i = 0; i < N_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(cs[i].errors, 0);
		consumed += cs[i].consumed;
		refused += cs[i].refused;
		if (cs[i].max_used > max_used)
			max_used = cs[i].max_used;
	}
	assert_int_equal(consumed, BUDGET);
	assert_int_equal(refused, N_THREADS * TRIES - BUDGET);
	assert_int_equal(max_used, BUDGET);
}

struct appender {
	struct store *s;
	int64_t ids[TRIES];
	int errors;
};

static void *
append_thread(void *arg)
{
	struct appender *ap = arg;
	struct store_audit_event e;

	memset(&e, 0, sizeof(e));
	e.type = str_c("decision");
	for (int i = 0; i < TRIES; i++)
		if (store_audit_append(ap->s, &e, &ap->ids[i]) != MANDATE_OK)
			ap->errors++;
	return NULL;
}

static int
cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;

	return (x > y) - (x < y);
}

static int
cmp_ll(const void *a, const void *b)
{
	long long x = *(const long long *)a, y = *(const long long *)b;

	return (x > y) - (x < y);
}

static void
test_concurrent_audit(void **state)
{
	struct fixture *f = *state;
	static struct appender ap[N_THREADS];
	int64_t all[N_THREADS * TRIES];
	pthread_t th[N_THREADS];

	memset(ap, 0, sizeof(ap));
	for (int i = 0; i < N_THREADS; i++) {
		ap[i].s = f->s;
		assert_int_equal(pthread_create(&th[i], NULL, append_thread,
		    &ap[i]), 0);
	}
	for (int i = 0; i < N_THREADS; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(ap[i].errors, 0);
		for (int j = 0; j < TRIES; j++) {
			if (j > 0)   /* increasing within one thread */
				assert_true(ap[i].ids[j] > ap[i].ids[j - 1]);
			all[i * TRIES + j] = ap[i].ids[j];
		}
	}
	qsort(all, N_THREADS * TRIES, sizeof(all[0]), cmp_i64);
	for (int i = 1; i < N_THREADS * TRIES; i++)
		assert_true(all[i] > all[i - 1]);       /* all distinct */
}

/* The mechanism the test below relies on, measured directly: a task
 * creation that finds the write lock taken tries again within a few ms of
 * the lock's release (5 ms polls for another process's commit, as here).
 * SQLite's own handler sleeps 25, 25, 50, 50, 100 ms between tries: with
 * the lock released 130 ms into the wait, its next try comes at 178 ms.
 * Five rounds, on tmpfs when there is one (no flush in the way); the
 * median delay from the release to the creation's return must be under
 * 25 ms (ours: about 5; SQLite's: about 48). */
struct lock_waiter {
	struct store *s;
	const char *id;
	int r;
	struct timespec done;
};

static void *
lock_wait(void *arg)
{
	struct lock_waiter *w = arg;
	struct store_task t = mk_task(w->id, "spiffe://d/a", T0, 600, 10);

	w->r = store_task_create(w->s, &t);
	clock_gettime(CLOCK_MONOTONIC, &w->done);
	return NULL;
}

static void
test_busy_wait_retries_at_release(void **state)
{
	struct fixture *f = *state;
	struct store_options o = fx_options(f);
	struct store *s;
	char shm[] = "/dev/shm/mandate-store-test.XXXXXX";
	bool on_shm = mkdtemp(shm) != NULL;
	char path[200], id[32];
	long long delay[5];

	snprintf(path, sizeof(path), "%s/lock.db", on_shm ? shm : f->dir);
	o.busy_timeout_ms = 2000;
	assert_int_equal(store_open(ops_under_test, path, &o, &s), MANDATE_OK);
	for (int k = 0; k < 5; k++) {
		struct lock_waiter w = { .s = s, .id = id };
		struct timespec rel, hold = { 0, 130 * 1000 * 1000 };
		sqlite3 *db;
		pthread_t th;

		snprintf(id, sizeof(id), "lock-%d", k);
		assert_int_equal(sqlite3_open(path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL,
		    NULL), SQLITE_OK);
		assert_int_equal(pthread_create(&th, NULL, lock_wait, &w), 0);
		nanosleep(&hold, NULL);
		clock_gettime(CLOCK_MONOTONIC, &rel);
		assert_int_equal(sqlite3_exec(db, "COMMIT", NULL, NULL, NULL),
		    SQLITE_OK);
		pthread_join(th, NULL);
		sqlite3_close(db);
		assert_int_equal(w.r, MANDATE_OK);
		delay[k] = (w.done.tv_sec - rel.tv_sec) * 1000LL +
		    (w.done.tv_nsec - rel.tv_nsec) / 1000000;
	}
	store_close(s);
	remove_db_files(path);
	if (on_shm)
		rmdir(shm);
	qsort(delay, 5, sizeof(delay[0]), cmp_ll);
	if (delay[2] >= 25)
		fail_msg("median retry delay after the lock's release: %lld ms "
		    "(%lld %lld %lld %lld %lld)", delay[2], delay[0], delay[1],
		    delay[2], delay[3], delay[4]);
}

/* A writer that commits batch after batch must not starve the others:
 * with the lock free only for microseconds between its commits, a
 * connection that sleeps between tries (SQLite's own busy handler)
 * misses every window and fails with "database is locked"; one woken at
 * each commit gets in.  Busy timeout 100 ms, two threads appending for
 * the whole test, 40 task creations, each must succeed.  The database is
 * on tmpfs when there is one: then a commit's flush costs nothing, the
 * lock is the only wait, and a disk's stall (this VM's flush has taken
 * over 100 ms under load) cannot fail the test.  (It rarely catches a
 * sleeping handler on its own; test_busy_wait_retries_at_release does,
 * every time.) */
struct busy_appender {
	struct store *s;
	atomic_int stop;
	int errors;
};

static void *
busy_append(void *arg)
{
	struct busy_appender *b = arg;
	struct store_audit_event e;
	int64_t id;

	memset(&e, 0, sizeof(e));
	e.type = str_c("decision");
	while (!atomic_load(&b->stop))
		if (store_audit_append(b->s, &e, &id) != MANDATE_OK)
			b->errors++;
	return NULL;
}

static void
test_writers_do_not_starve(void **state)
{
	struct fixture *f = *state;
	struct store_options o = fx_options(f);
	struct store *s;
	static struct busy_appender b[2];
	pthread_t th[2];
	char path[200], id[32];
	int failed = 0;

	char shm[] = "/dev/shm/mandate-store-test.XXXXXX";
	bool on_shm = mkdtemp(shm) != NULL;

	snprintf(path, sizeof(path), "%s/busy.db", on_shm ? shm : f->dir);
	o.busy_timeout_ms = 100;
	assert_int_equal(store_open(ops_under_test, path, &o, &s), MANDATE_OK);
	for (int i = 0; i < 2; i++) {
		b[i].s = s;
		atomic_store(&b[i].stop, 0);
		b[i].errors = 0;
		assert_int_equal(pthread_create(&th[i], NULL, busy_append,
		    &b[i]), 0);
	}
	for (int i = 0; i < 40; i++) {
		struct store_task t;
		snprintf(id, sizeof(id), "busy-%d", i);
		t = mk_task(id, "spiffe://d/a", T0, 600, 10);
		if (store_task_create(s, &t) != MANDATE_OK)
			failed++;
	}
	for (int i = 0; i < 2; i++) {
		atomic_store(&b[i].stop, 1);
		pthread_join(th[i], NULL);
		assert_int_equal(b[i].errors, 0);
	}
	store_close(s);
	remove_db_files(path);
	if (on_shm)
		rmdir(shm);
	assert_int_equal(failed, 0);
}

/* --- migrations and bad files ---------------------------------------------- */

static void
test_migrations(void **state)
{
	struct fixture *f = *state;
	struct store_options o = fx_options(f);
	struct store *s = NULL;
	struct store_task t = mk_task("m1", "a", T0, 600, 2);
	struct store_task got;
	char path[160];
	int v = 0, latest = 0;

	assert_int_equal(store_schema_version(f->s, &latest), MANDATE_OK);
	snprintf(path, sizeof(path), "%s/old.db", f->dir);

	/* A database created by a build that knew only version 1 ... */
	o.max_schema_version = 1;
	assert_int_equal(store_open(ops_under_test, path, &o, &s), MANDATE_OK);
	assert_int_equal(store_schema_version(s, &v), MANDATE_OK);
	assert_int_equal(v, 1);
	assert_int_equal(store_task_create(s, &t), MANDATE_OK);
	store_close(s);

	/* ... is migrated forward by this one, keeping its rows ... */
	o.max_schema_version = 0;
	assert_int_equal(store_open(ops_under_test, path, &o, &s), MANDATE_OK);
	assert_int_equal(store_schema_version(s, &v), MANDATE_OK);
	assert_int_equal(v, latest);
	assert_int_equal(store_task_get(s, str_c("m1"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.call_budget, 2);
	store_close(s);

	/* ... and then the old build refuses it, saying why. */
	o.max_schema_version = 1;
	f->log[0] = '\0';
	s = (struct store *)&v;
	assert_int_equal(store_open(ops_under_test, path, &o, &s),
	    MANDATE_EINVAL);
	assert_null(s);
	assert_non_null(strstr(f->log, "newer"));

	/* reopening is idempotent */
	o.max_schema_version = 0;
	assert_int_equal(store_open(ops_under_test, path, &o, &s), MANDATE_OK);
	assert_int_equal(store_schema_version(s, &v), MANDATE_OK);
	assert_int_equal(v, latest);
	store_close(s);
	remove_db_files(path);
}

/* SQLite only: a version written by a future build is refused. */
static void
test_newer_schema_sqlite(void **state)
{
	struct fixture *f = *state;
	struct store_options o = fx_options(f);
	struct store *s = NULL;
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	assert_int_equal(sqlite3_exec(db, "UPDATE schema_version SET"
	    " version = 999", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);
	f->log[0] = '\0';
	assert_int_equal(store_open(ops_under_test, f->path, &o, &s),
	    MANDATE_EINVAL);
	assert_null(s);
	assert_non_null(strstr(f->log, "999"));
}

static void
write_file(const char *path, const char *data, size_t n)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, n), (ssize_t)n);
	close(fd);
}

static void
test_bad_files(void **state)
{
	struct fixture *f = *state;
	struct store_options o = fx_options(f);
	struct store *s = NULL;
	char path[160], junk[8192];

	/* not a database */
	snprintf(path, sizeof(path), "%s/junk.db", f->dir);
	for (size_t i = 0; i < sizeof(junk); i++)
		junk[i] = (char)('a' + (i * 7) % 26);
	write_file(path, junk, sizeof(junk));
	f->n_logged = 0;
	assert_int_equal(store_open(ops_under_test, path, &o, &s),
	    MANDATE_EIO);
	assert_null(s);
	assert_true(f->n_logged > 0);
	remove_db_files(path);

	/* a SQLite header followed by garbage */
	memcpy(junk, "SQLite format 3", 16);
	write_file(path, junk, sizeof(junk));
	assert_int_not_equal(store_open(ops_under_test, path, &o, &s),
	    MANDATE_OK);
	assert_null(s);
	remove_db_files(path);

	/* a directory that does not exist */
	snprintf(path, sizeof(path), "%s/no/such/dir.db", f->dir);
	assert_int_equal(store_open(ops_under_test, path, &o, &s),
	    MANDATE_EIO);
	assert_null(s);

	/* a directory where the file should be */
	assert_int_equal(store_open(ops_under_test, f->dir, &o, &s),
	    MANDATE_EIO);
	assert_null(s);

	/* a read-only file (root ignores modes: skip then) */
	if (geteuid() != 0) {
		snprintf(path, sizeof(path), "%s/ro.db", f->dir);
		assert_int_equal(store_open(ops_under_test, path, &o, &s),
		    MANDATE_OK);
		store_close(s);
		s = NULL;
		remove_db_files(path);
		write_file(path, "", 0);
		chmod(path, 0400);
		assert_int_not_equal(store_open(ops_under_test, path, &o, &s),
		    MANDATE_OK);
		assert_null(s);
		chmod(path, 0600);
		remove_db_files(path);
	}
}

/* A single-connection pool still serves several threads (they queue). */
static void
test_small_pool(void **state)
{
	struct fixture *f = *state;
	struct store_options o = fx_options(f);
	struct store *s = NULL;
	struct consumer cs[3];
	pthread_t th[3];
	struct store_task t = mk_task("busy", "a", T0, 600, 50);
	int consumed = 0;

	store_close(f->s);
	o.pool_size = 1;
	assert_int_equal(store_open(ops_under_test, f->path, &o, &s),
	    MANDATE_OK);
	f->s = s;
	assert_int_equal(store_task_create(s, &t), MANDATE_OK);
	memset(cs, 0, sizeof(cs));
	for (int i = 0; i < 3; i++) {
		cs[i].s = s;
		assert_int_equal(pthread_create(&th[i], NULL, consume_thread,
		    &cs[i]), 0);
	}
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(cs[i].errors, 0);
		consumed += cs[i].consumed;
	}
	assert_int_equal(consumed, 50);
	o.pool_size = 65;
	assert_int_equal(store_open(ops_under_test, f->path, &o, &s),
	    MANDATE_EINVAL);
}

/* Out of memory in the caller's arena at every allocation of a read:
 * ENOMEM, zeroed out-records, and the store still works afterwards. */
static void
test_arena_failure(void **state)
{
	struct fixture *f = *state;
	struct store_task t = mk_task("t1", "a", T0, 600, 5);
	struct store_credential c = mk_cred("j1", "t1", "a", T0, 60);
	struct store_task got, *list;
	struct store_credential cg;
	struct store_page page;
	size_t n;
	int fails = 0;

	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	assert_int_equal(store_cred_insert(f->s, &c), MANDATE_OK);
	memset(&page, 0, sizeof(page));
	page.limit = 10;
	for (long k = 1; k <= 20; k++) {
		int r;
		arena_reset(&f->a);
		f->a.fail_after = k;
		r = store_task_get(f->s, str_c("t1"), &f->a, &got);
		if (r != MANDATE_OK) {
			assert_int_equal(r, MANDATE_ENOMEM);
			assert_null(got.id.p);
			fails++;
		}
		f->a.fail_after = k;
		r = store_cred_get(f->s, str_c("j1"), &f->a, &cg);
		if (r != MANDATE_OK) {
			assert_int_equal(r, MANDATE_ENOMEM);
			assert_null(cg.jti.p);
		}
		f->a.fail_after = k;
		r = store_task_list_by_agent(f->s, str_c("a"), &page, &f->a,
		    &list, &n);
		if (r != MANDATE_OK) {
			assert_int_equal(r, MANDATE_ENOMEM);
			assert_null(list);
			assert_int_equal(n, 0);
		}
	}
	f->a.fail_after = 0;
	assert_true(fails > 0);
	assert_int_equal(store_task_get(f->s, str_c("t1"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(usable(f->s, "j1", T0 + 1), STORE_USABLE);
}

/* Group commit: many threads write credentials and audit events at once
 * (so writes share transactions).  Every call that returned OK is in the
 * database after close and reopen, audit ids increase, and a duplicate
 * jti or an unknown task fails only its own call. */
#define GC_THREADS 8
#define GC_TRIES 50

struct gc_writer {
	struct store *s;
	int t;
	int cred_ok[GC_TRIES];
	int dup_ok[GC_TRIES];
	int64_t ids[GC_TRIES];
	int bad_task_rejected;
	int errors;
};

static void *
gc_thread(void *arg)
{
	struct gc_writer *w = arg;
	char jti[64], rid[64];

	for (int i = 0; i < GC_TRIES; i++) {
		struct store_credential c;
		struct store_audit_event e;
		int r;

		snprintf(jti, sizeof(jti), "jti-%d-%d", w->t, i);
		c = mk_cred(jti, "gc-task", "spiffe://a.test/x", T0, 300);
		r = store_cred_insert(w->s, &c);
		w->cred_ok[i] = r == MANDATE_OK;
		if (r != MANDATE_OK)
			w->errors++;
		/* every thread races for the same jti: one wins */
		snprintf(jti, sizeof(jti), "dup-%d", i);
		c = mk_cred(jti, "gc-task", "spiffe://a.test/x", T0, 300);
		r = store_cred_insert(w->s, &c);
		w->dup_ok[i] = r == MANDATE_OK;
		if (r != MANDATE_OK && r != MANDATE_EINVAL)
			w->errors++;
		if (i % 10 == w->t % 10) {
			c = mk_cred("orphan", "no-such-task", "a", T0, 300);
			if (store_cred_insert(w->s, &c) == MANDATE_EINVAL)
				w->bad_task_rejected++;
			else
				w->errors++;
		}
		memset(&e, 0, sizeof(e));
		snprintf(rid, sizeof(rid), "req-%d-%d", w->t, i);
		e.time = T0 + i;
		e.type = str_c("token.issued");
		e.request_id = str_c(rid);
		e.fields_json = str_c("{}");
		if (store_audit_append(w->s, &e, &w->ids[i]) != MANDATE_OK) {
			w->ids[i] = 0;
			w->errors++;
		}
	}
	return NULL;
}

/* Parse "req-<t>-<i>" (no sscanf in this project). */
static int
parse_request_id(const char *s, int *t, int *i)
{
	char *end;
	long a, b;

	if (strncmp(s, "req-", 4) != 0)
		return -1;
	a = strtol(s + 4, &end, 10);
	if (*end != '-')
		return -1;
	b = strtol(end + 1, &end, 10);
	if (*end != '\0' || a < 0 || a >= GC_THREADS || b < 0 ||
	    b >= GC_TRIES)
		return -1;
	*t = (int)a;
	*i = (int)b;
	return 0;
}

static void
test_group_commit(void **state)
{
	struct fixture *f = *state;
	static struct gc_writer w[GC_THREADS];
	pthread_t th[GC_THREADS];
	struct store_task t = mk_task("gc-task", "spiffe://a.test/x", T0,
	    3600, 10);
	struct store_options o = fx_options(f);
	struct store_audit_event *ev = NULL;
	size_t n_ev = 0;
	int64_t from = 1, last = 0;
	size_t total = 0;

	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	memset(w, 0, sizeof(w));
	for (int i = 0; i < GC_THREADS; i++) {
		w[i].s = f->s;
		w[i].t = i;
		assert_int_equal(pthread_create(&th[i], NULL, gc_thread,
		    &w[i]), 0);
	}
	for (int i = 0; i < GC_THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < GC_THREADS; i++) {
		assert_int_equal(w[i].errors, 0);
		assert_true(w[i].bad_task_rejected > 0);
		for (int j = 1; j < GC_TRIES; j++)
			assert_true(w[i].ids[j] > w[i].ids[j - 1]);
	}
	for (int j = 0; j < GC_TRIES; j++) {
		int winners = 0;
		for (int i = 0; i < GC_THREADS; i++)
			winners += w[i].dup_ok[j];
		assert_int_equal(winners, 1);
	}

	/* durable: close, reopen, read everything back */
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(ops_under_test, f->path, &o, &f->s),
	    MANDATE_OK);
	for (int i = 0; i < GC_THREADS; i++) {
		for (int j = 0; j < GC_TRIES; j++) {
			struct store_credential got;
			char jti[64];

			snprintf(jti, sizeof(jti), "jti-%d-%d", i, j);
			assert_true(w[i].cred_ok[j]);
			assert_int_equal(store_cred_get(f->s, str_c(jti),
			    &f->a, &got), MANDATE_OK);
			assert_string_equal(got.task_id.p, "gc-task");
		}
	}
	for (int j = 0; j < GC_TRIES; j++) {
		struct store_credential got;
		char jti[64];

		snprintf(jti, sizeof(jti), "dup-%d", j);
		assert_int_equal(store_cred_get(f->s, str_c(jti), &f->a, &got),
		    MANDATE_OK);
	}
	{
		struct store_credential got;
		assert_int_equal(store_cred_get(f->s, str_c("orphan"), &f->a,
		    &got), MANDATE_ENOTFOUND);
	}
	for (;;) {
		assert_int_equal(store_audit_read(f->s, from, STORE_MAX_PAGE,
		    &f->a, &ev, &n_ev), MANDATE_OK);
		if (n_ev == 0)
			break;
		for (size_t k = 0; k < n_ev; k++) {
			int ti = -1, tj = -1;
			assert_true(ev[k].id > last);
			last = ev[k].id;
			/* the id each caller got is the row with its event */
			assert_int_equal(parse_request_id(ev[k].request_id.p,
			    &ti, &tj), 0);
			assert_int_equal(w[ti].ids[tj], ev[k].id);
		}
		total += n_ev;
		from = last + 1;
	}
	assert_int_equal(total, GC_THREADS * GC_TRIES);
}

/* --- a credential and its audit event in one call ---------------------- */

/* Every audit event from id 1 on (the test stores are small). */
static size_t
audit_all(struct fixture *f, struct store_audit_event **out)
{
	size_t n = 0;

	*out = NULL;
	assert_int_equal(store_audit_read(f->s, 1, STORE_MAX_PAGE, &f->a, out,
	    &n), MANDATE_OK);
	return n;
}

/* A key's activation and its keys.activated record: both, or neither. */
static void
test_key_activate_audited(void **state)
{
	struct fixture *f = *state;
	struct store_key k = mk_key("ka1", T0), got;
	struct store_audit_event e, *out = NULL;
	int64_t id = 0, before = 0;
	size_t n = 0;

	memset(&e, 0, sizeof(e));
	e.time = T0 + 5;
	e.type = str_c("keys.activated");
	e.fields_json = str_c("{\"kid\":\"ka2\"}");
	assert_int_equal(store_key_insert(f->s, &k), MANDATE_OK);
	assert_int_equal(store_key_activate(f->s, str_c("ka1"), T0, 0),
	    MANDATE_OK);
	k = mk_key("ka2", T0 + 1);
	assert_int_equal(store_key_insert(f->s, &k), MANDATE_OK);
	assert_int_equal(store_audit_append(f->s, &e, &before), MANDATE_OK);

	assert_int_equal(store_key_activate_audited(f->s, str_c("ka2"),
	    T0 + 5, T0 + 100, &e, &id), MANDATE_OK);
	assert_int_equal(id, before + 1);
	assert_int_equal(store_key_get(f->s, str_c("ka2"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.state, STORE_KEY_ACTIVE);
	assert_int_equal(store_key_get(f->s, str_c("ka1"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.state, STORE_KEY_RETIRED);
	assert_int_equal(got.retire_after, T0 + 100);

	/* a retired or unknown key: no activation, and no record */
	assert_int_equal(store_key_activate_audited(f->s, str_c("ka1"),
	    T0 + 6, 0, &e, &id), MANDATE_EINVAL);
	assert_int_equal(id, 0);
	assert_int_equal(store_key_activate_audited(f->s, str_c("ka9"),
	    T0 + 6, 0, &e, NULL), MANDATE_ENOTFOUND);
	assert_int_equal(store_audit_read(f->s, before, 100, &f->a, &out, &n),
	    MANDATE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(out[1].id, before + 1);
	assert_int_equal(store_key_activate_audited(f->s, str_c("ka2"),
	    T0 + 6, 0, NULL, NULL), MANDATE_EINVAL);
}

static struct store_audit_event
mk_issued(const char *rid, const char *jti)
{
	struct store_audit_event e;

	memset(&e, 0, sizeof(e));
	e.time = T0;
	e.type = str_c("token.issued");
	e.request_id = str_c(rid);
	e.agent = str_c("spiffe://a.test/x");
	e.task_id = str_c("ia-task");
	e.fields_json = str_c(jti);       /* any text; names the credential */
	return e;
}

static void
test_cred_insert_audited(void **state)
{
	struct fixture *f = *state;
	struct store_task t = mk_task("ia-task", "spiffe://a.test/x", T0,
	    3600, 10);
	struct store_credential c, got;
	struct store_audit_event e, *ev;
	int64_t id1 = 0, id2 = 0, id3 = 0, plain = 0;
	char big[STORE_MAX_ID + 2];

	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);

	/* both rows, the event's id as audit_append gives it */
	c = mk_cred("ia-1", "ia-task", "spiffe://a.test/x", T0, 300);
	e = mk_issued("r1", "\"ia-1\"");
	assert_int_equal(store_cred_insert_audited(f->s, &c, &e, &id1),
	    MANDATE_OK);
	assert_true(id1 > 0);
	assert_int_equal(store_cred_get(f->s, str_c("ia-1"), &f->a, &got),
	    MANDATE_OK);
	assert_string_equal(got.task_id.p, "ia-task");
	assert_string_equal(got.audience.p, "https://tools.example");
	assert_int_equal(got.expires_at, T0 + 300);
	assert_int_equal(usable(f->s, "ia-1", T0 + 1), STORE_USABLE);
	assert_int_equal(audit_all(f, &ev), 1);
	assert_int_equal(ev[0].id, id1);
	assert_string_equal(ev[0].type.p, "token.issued");
	assert_string_equal(ev[0].request_id.p, "r1");
	assert_string_equal(ev[0].fields_json.p, "\"ia-1\"");

	/* ids keep increasing, mixed with plain appends */
	memset(&e, 0, sizeof(e));
	e.type = str_c("decision");
	assert_int_equal(store_audit_append(f->s, &e, &plain), MANDATE_OK);
	assert_true(plain > id1);
	c = mk_cred("ia-2", "ia-task", "spiffe://a.test/x", T0, 300);
	e = mk_issued("r2", "\"ia-2\"");
	assert_int_equal(store_cred_insert_audited(f->s, &c, &e, NULL),
	    MANDATE_OK);
	c = mk_cred("ia-3", "ia-task", "spiffe://a.test/x", T0, 300);
	e = mk_issued("r3", "\"ia-3\"");
	assert_int_equal(store_cred_insert_audited(f->s, &c, &e, &id3),
	    MANDATE_OK);
	assert_true(id3 > plain + 1);
	assert_int_equal(audit_all(f, &ev), 4);

	/* a duplicate jti: neither row, and the first credential intact */
	c = mk_cred("ia-1", "ia-task", "spiffe://a.test/x", T0 + 5, 600);
	e = mk_issued("r-dup", "\"dup\"");
	id2 = 99;
	assert_int_equal(store_cred_insert_audited(f->s, &c, &e, &id2),
	    MANDATE_EINVAL);
	assert_int_equal(id2, 0);
	assert_int_equal(store_cred_get(f->s, str_c("ia-1"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.expires_at, T0 + 300);
	/* an unknown task: neither row */
	c = mk_cred("ia-orphan", "no-such-task", "spiffe://a.test/x", T0, 300);
	e = mk_issued("r-orphan", "\"orphan\"");
	assert_int_equal(store_cred_insert_audited(f->s, &c, &e, NULL),
	    MANDATE_EINVAL);
	assert_int_equal(store_cred_get(f->s, str_c("ia-orphan"), &f->a,
	    &got), MANDATE_ENOTFOUND);
	assert_int_equal(audit_all(f, &ev), 4);
	for (size_t k = 0; k < 4; k++) {
		assert_string_not_equal(ev[k].request_id.p, "r-dup");
		assert_string_not_equal(ev[k].request_id.p, "r-orphan");
	}

	/* bad arguments and bounds change nothing */
	c = mk_cred("ia-4", "ia-task", "spiffe://a.test/x", T0, 300);
	e = mk_issued("r4", "\"ia-4\"");
	assert_int_equal(store_cred_insert_audited(NULL, &c, &e, NULL),
	    MANDATE_EINVAL);
	assert_int_equal(store_cred_insert_audited(f->s, NULL, &e, NULL),
	    MANDATE_EINVAL);
	assert_int_equal(store_cred_insert_audited(f->s, &c, NULL, NULL),
	    MANDATE_EINVAL);
	e.type = STR_NULL;                           /* event without type */
	assert_int_equal(store_cred_insert_audited(f->s, &c, &e, NULL),
	    MANDATE_EINVAL);
	e = mk_issued("r4", "\"ia-4\"");
	memset(big, 'r', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	e.request_id = str_c(big);                   /* over STORE_MAX_ID */
	assert_int_equal(store_cred_insert_audited(f->s, &c, &e, NULL),
	    MANDATE_ELIMIT);
	e = mk_issued("r4", "\"ia-4\"");
	c.expires_at = c.issued_at;                  /* no lifetime */
	assert_int_equal(store_cred_insert_audited(f->s, &c, &e, NULL),
	    MANDATE_EINVAL);
	c = mk_cred("ia-4", "ia-task", "", T0, 300); /* no agent */
	assert_int_equal(store_cred_insert_audited(f->s, &c, &e, NULL),
	    MANDATE_EINVAL);
	assert_int_equal(store_cred_get(f->s, str_c("ia-4"), &f->a, &got),
	    MANDATE_ENOTFOUND);
	assert_int_equal(audit_all(f, &ev), 4);
}

#define IA_THREADS 8
#define IA_TRIES 40

struct ia_writer {
	struct store *s;
	int t;
	int64_t ids[IA_TRIES];     /* own issuances */
	int dup_ok[IA_TRIES];      /* won the race for "ia-dup-<i>" */
	int64_t dup_id[IA_TRIES];
	int errors;
};

static void *
ia_thread(void *arg)
{
	struct ia_writer *w = arg;
	char jti[64], rid[64];

	for (int i = 0; i < IA_TRIES; i++) {
		struct store_credential c;
		struct store_audit_event e;
		int r;

		snprintf(jti, sizeof(jti), "ia-%d-%d", w->t, i);
		snprintf(rid, sizeof(rid), "req-%d-%d", w->t, i);
		c = mk_cred(jti, "ia-task", "spiffe://a.test/x", T0, 300);
		e = mk_issued(rid, "{}");
		if (store_cred_insert_audited(w->s, &c, &e, &w->ids[i]) !=
		    MANDATE_OK)
			w->errors++;
		/* all threads race for one jti: one call wins, and only the
		 * winner's event is written */
		snprintf(jti, sizeof(jti), "ia-dup-%d", i);
		snprintf(rid, sizeof(rid), "dup-%d-%d", w->t, i);
		c = mk_cred(jti, "ia-task", "spiffe://a.test/x", T0, 300);
		e = mk_issued(rid, "{}");
		r = store_cred_insert_audited(w->s, &c, &e, &w->dup_id[i]);
		w->dup_ok[i] = r == MANDATE_OK;
		if (r != MANDATE_OK && r != MANDATE_EINVAL)
			w->errors++;
	}
	return NULL;
}

static void
test_cred_insert_audited_concurrent(void **state)
{
	struct fixture *f = *state;
	static struct ia_writer w[IA_THREADS];
	pthread_t th[IA_THREADS];
	struct store_task t = mk_task("ia-task", "spiffe://a.test/x", T0,
	    3600, 10);
	struct store_audit_event *ev = NULL;
	size_t n_ev = 0, total = 0;
	int64_t from = 1, last = 0;

	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	memset(w, 0, sizeof(w));
	for (int i = 0; i < IA_THREADS; i++) {
		w[i].s = f->s;
		w[i].t = i;
		assert_int_equal(pthread_create(&th[i], NULL, ia_thread,
		    &w[i]), 0);
	}
	for (int i = 0; i < IA_THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < IA_THREADS; i++) {
		assert_int_equal(w[i].errors, 0);
		for (int j = 1; j < IA_TRIES; j++)
			assert_true(w[i].ids[j] > w[i].ids[j - 1]);
	}
	for (int j = 0; j < IA_TRIES; j++) {
		int winners = 0;
		for (int i = 0; i < IA_THREADS; i++) {
			winners += w[i].dup_ok[j];
			if (!w[i].dup_ok[j])
				assert_int_equal(w[i].dup_id[j], 0);
		}
		assert_int_equal(winners, 1);
	}
	/* every event is a successful call's, under the id it was given */
	for (;;) {
		assert_int_equal(store_audit_read(f->s, from, STORE_MAX_PAGE,
		    &f->a, &ev, &n_ev), MANDATE_OK);
		if (n_ev == 0)
			break;
		for (size_t k = 0; k < n_ev; k++) {
			const char *rid = ev[k].request_id.p;
			int ti = -1, tj = -1;
			char *end;

			assert_true(ev[k].id > last);
			last = ev[k].id;
			if (strncmp(rid, "dup-", 4) == 0) {
				ti = (int)strtol(rid + 4, &end, 10);
				assert_int_equal(*end, '-');
				tj = (int)strtol(end + 1, &end, 10);
				assert_true(ti >= 0 && ti < IA_THREADS &&
				    tj >= 0 && tj < IA_TRIES);
				assert_true(w[ti].dup_ok[tj]);
				assert_int_equal(w[ti].dup_id[tj], ev[k].id);
			} else {
				assert_int_equal(parse_request_id(rid, &ti,
				    &tj), 0);
				assert_int_equal(w[ti].ids[tj], ev[k].id);
			}
		}
		total += n_ev;
		from = last + 1;
	}
	assert_int_equal(total, IA_THREADS * IA_TRIES + IA_TRIES);
}

/* --- a state change and its audit record in one call -------------------- */

static struct store_audit_event
mk_event(const char *type, const char *rid, const char *agent,
    const char *task)
{
	struct store_audit_event e;

	memset(&e, 0, sizeof(e));
	e.time = T0;
	e.type = str_c(type);
	e.request_id = str_c(rid);
	e.agent = str_c(agent);
	e.task_id = str_c(task);
	e.fields_json = str_c("{}");
	return e;
}

/* SQLite only: make the audit table refuse records of type "refused"
 * (the store's own refusal, inside the transaction, after the change
 * was written). */
static void
refuse_type(struct fixture *f)
{
	sqlite3 *db = NULL;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	sqlite3_busy_timeout(db, 2000);
	assert_int_equal(sqlite3_exec(db, "CREATE TRIGGER test_refuse BEFORE"
	    " INSERT ON audit_events WHEN NEW.type = 'refused' BEGIN"
	    " SELECT RAISE(ABORT, 'refused by the test'); END;", NULL, NULL,
	    NULL), SQLITE_OK);
	sqlite3_close(db);
}

/* A task and its task.created record: both, or neither. */
static void
test_task_create_audited(void **state)
{
	struct fixture *f = *state;
	const char *ag = "spiffe://a.test/tc";
	struct store_task t, got;
	struct store_audit_event e, *ev;
	struct store_agent_revocation rv;
	int64_t id = 0, plain = 0;

	/* both rows; the event's id as audit_append gives it */
	t = mk_task("tc-1", ag, T0, 600, 5);
	e = mk_event("task.created", "r1", ag, "tc-1");
	assert_int_equal(store_task_create_audited(f->s, &t, &e, &id),
	    MANDATE_OK);
	assert_true(id > 0);
	assert_int_equal(store_task_get(f->s, str_c("tc-1"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.state, STORE_TASK_ACTIVE);
	assert_int_equal(got.call_budget, 5);
	assert_string_equal(got.objective.p, "summarise the quarterly report");
	assert_int_equal(audit_all(f, &ev), 1);
	assert_int_equal(ev[0].id, id);
	assert_string_equal(ev[0].type.p, "task.created");
	assert_string_equal(ev[0].task_id.p, "tc-1");
	assert_string_equal(ev[0].request_id.p, "r1");
	assert_int_equal(store_audit_append(f->s, &e, &plain), MANDATE_OK);
	assert_int_equal(plain, id + 1);

	/* a duplicate id: neither row, the first task intact */
	t = mk_task("tc-1", ag, T0 + 5, 60, 1);
	e = mk_event("task.created", "r-dup", ag, "tc-1");
	id = 99;
	assert_int_equal(store_task_create_audited(f->s, &t, &e, &id),
	    MANDATE_EINVAL);
	assert_int_equal(id, 0);
	assert_int_equal(store_task_get(f->s, str_c("tc-1"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.call_budget, 5);
	assert_int_equal(audit_all(f, &ev), 2);

	/* the kill switch at or after the creation time: ECONFLICT,
	 * neither row (store_task_create's refusal) */
	memset(&rv, 0, sizeof(rv));
	rv.agent = str_c(ag);
	rv.revoked_by = str_c("user:op");
	assert_int_equal(store_agent_revoke(f->s, &rv, T0 + 10, NULL),
	    MANDATE_OK);
	t = mk_task("tc-2", ag, T0 + 10, 600, 5);
	e = mk_event("task.created", "r2", ag, "tc-2");
	id = 99;
	assert_int_equal(store_task_create_audited(f->s, &t, &e, &id),
	    MANDATE_ECONFLICT);
	assert_int_equal(id, 0);
	assert_int_equal(store_task_get(f->s, str_c("tc-2"), &f->a, &got),
	    MANDATE_ENOTFOUND);
	assert_int_equal(audit_all(f, &ev), 2);
	t.created_at = T0 + 11;               /* after it: allowed */
	t.expires_at = T0 + 611;
	assert_int_equal(store_task_create_audited(f->s, &t, &e, &id),
	    MANDATE_OK);
	assert_int_equal(audit_all(f, &ev), 3);
	assert_int_equal(ev[2].id, id);

	/* a record the store refuses: no task either */
	refuse_type(f);
	t = mk_task("tc-3", ag, T0 + 20, 600, 5);
	e = mk_event("refused", "r3", ag, "tc-3");
	assert_int_not_equal(store_task_create_audited(f->s, &t, &e, &id),
	    MANDATE_OK);
	assert_int_equal(id, 0);
	assert_int_equal(store_task_get(f->s, str_c("tc-3"), &f->a, &got),
	    MANDATE_ENOTFOUND);
	assert_int_equal(audit_all(f, &ev), 3);

	/* bad arguments and bounds change nothing */
	e = mk_event("task.created", "r4", ag, "tc-4");
	t = mk_task("tc-4", ag, T0 + 20, 600, 5);
	assert_int_equal(store_task_create_audited(NULL, &t, &e, NULL),
	    MANDATE_EINVAL);
	assert_int_equal(store_task_create_audited(f->s, NULL, &e, NULL),
	    MANDATE_EINVAL);
	assert_int_equal(store_task_create_audited(f->s, &t, NULL, NULL),
	    MANDATE_EINVAL);
	e.type = STR_NULL;
	assert_int_equal(store_task_create_audited(f->s, &t, &e, NULL),
	    MANDATE_EINVAL);
	e = mk_event("task.created", "r4", ag, "tc-4");
	t.call_budget = 0;
	assert_int_equal(store_task_create_audited(f->s, &t, &e, NULL),
	    MANDATE_EINVAL);
	assert_int_equal(store_task_get(f->s, str_c("tc-4"), &f->a, &got),
	    MANDATE_ENOTFOUND);
	assert_int_equal(audit_all(f, &ev), 3);
}

/* A task's end (with its credentials) and its task.ended record: both,
 * or neither; an end that changes nothing writes no record. */
static void
test_task_end_audited(void **state)
{
	struct fixture *f = *state;
	const char *ag = "spiffe://a.test/te";
	struct store_task t, got;
	struct store_credential c;
	struct store_audit_event e, *ev;
	int64_t id = 0;
	int changed = 0;

	t = mk_task("te-1", ag, T0, 600, 5);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	c = mk_cred("te-j1", "te-1", ag, T0, 300);
	assert_int_equal(store_cred_insert(f->s, &c), MANDATE_OK);
	t = mk_task("te-2", ag, T0, 600, 5);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	c = mk_cred("te-j2", "te-2", ag, T0, 300);
	assert_int_equal(store_cred_insert(f->s, &c), MANDATE_OK);
	t = mk_task("te-old", ag, T0 - 1000, 10, 5);       /* expired */
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);

	/* a record the store refuses: the task stays active, its
	 * credential usable, and no record */
	refuse_type(f);
	e = mk_event("refused", "r0", ag, "te-1");
	changed = 7;
	id = 99;
	assert_int_not_equal(store_task_end_audited(f->s, str_c("te-1"),
	    T0 + 5, str_c("done"), &e, &changed, &id), MANDATE_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(id, 0);
	assert_int_equal(store_task_get(f->s, str_c("te-1"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.state, STORE_TASK_ACTIVE);
	assert_int_equal(usable(f->s, "te-j1", T0 + 5), STORE_USABLE);
	assert_int_equal(audit_all(f, &ev), 0);

	/* the end, the credential's revocation and the record together */
	e = mk_event("task.ended", "r1", ag, "te-1");
	assert_int_equal(store_task_end_audited(f->s, str_c("te-1"), T0 + 5,
	    str_c("done"), &e, &changed, &id), MANDATE_OK);
	assert_int_equal(changed, 1);
	assert_true(id > 0);
	assert_int_equal(store_task_get(f->s, str_c("te-1"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.state, STORE_TASK_ENDED);
	assert_int_equal(got.ended_at, T0 + 5);
	assert_string_equal(got.reason.p, "done");
	assert_int_equal(usable(f->s, "te-j1", T0 + 6),
	    STORE_UNUSABLE_REVOKED);
	assert_int_equal(usable(f->s, "te-j2", T0 + 6), STORE_USABLE);
	assert_int_equal(audit_all(f, &ev), 1);
	assert_int_equal(ev[0].id, id);
	assert_string_equal(ev[0].type.p, "task.ended");
	assert_string_equal(ev[0].task_id.p, "te-1");

	/* again, or an expired task: nothing changes, no record */
	e = mk_event("task.ended", "r2", ag, "te-1");
	assert_int_equal(store_task_end_audited(f->s, str_c("te-1"), T0 + 7,
	    str_c("again"), &e, &changed, &id), MANDATE_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(id, 0);
	assert_int_equal(store_task_get(f->s, str_c("te-1"), &f->a, &got),
	    MANDATE_OK);
	assert_string_equal(got.reason.p, "done");
	assert_int_equal(store_task_end_audited(f->s, str_c("te-old"), T0 + 7,
	    str_c("late"), &e, &changed, NULL), MANDATE_OK);
	assert_int_equal(changed, 0);
	/* an unknown task: ENOTFOUND, no record */
	assert_int_equal(store_task_end_audited(f->s, str_c("te-none"), T0 + 7,
	    str_c("x"), &e, &changed, &id), MANDATE_ENOTFOUND);
	assert_int_equal(id, 0);
	assert_int_equal(audit_all(f, &ev), 1);

	/* bad arguments change nothing */
	assert_int_equal(store_task_end_audited(NULL, str_c("te-2"), T0 + 7,
	    str_c("x"), &e, NULL, NULL), MANDATE_EINVAL);
	assert_int_equal(store_task_end_audited(f->s, str_c("te-2"), T0 + 7,
	    str_c("x"), NULL, NULL, NULL), MANDATE_EINVAL);
	e.type = STR_NULL;
	assert_int_equal(store_task_end_audited(f->s, str_c("te-2"), T0 + 7,
	    str_c("x"), &e, NULL, NULL), MANDATE_EINVAL);
	assert_int_equal(store_task_get(f->s, str_c("te-2"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.state, STORE_TASK_ACTIVE);
	assert_int_equal(audit_all(f, &ev), 1);
}

/* The test's agent.revoked record: its fields say the tasks revoked. */
struct rv_build {
	const char *type;
	int fail;                 /* a status to fail with, or 0 */
	int calls;
	char fields[64];
};

static int
rv_build(void *arg, size_t n_tasks, struct store_audit_event *ev)
{
	struct rv_build *b = arg;

	b->calls++;
	if (b->fail != 0)
		return b->fail;
	snprintf(b->fields, sizeof(b->fields), "{\"tasks_revoked\":%zu}",
	    n_tasks);
	*ev = mk_event(b->type, "rv", "spiffe://a.test/rv", "");
	ev->fields_json = str_c(b->fields);
	return MANDATE_OK;
}

/* The kill switch (tasks, credentials) and its agent.revoked record:
 * both, or neither. */
static void
test_agent_revoke_audited(void **state)
{
	struct fixture *f = *state;
	const char *ag = "spiffe://a.test/rv";
	struct store_agent_revocation rv, last;
	struct store_task t, got;
	struct store_credential c;
	struct store_audit_event *ev;
	struct rv_build b = { .type = "agent.revoked" };
	size_t n = 99;
	int64_t id = 99;

	t = mk_task("rv-1", ag, T0, 600, 5);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	t = mk_task("rv-2", ag, T0, 600, 5);
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	c = mk_cred("rv-j1", "rv-1", ag, T0, 300);
	assert_int_equal(store_cred_insert(f->s, &c), MANDATE_OK);
	memset(&rv, 0, sizeof(rv));
	rv.agent = str_c(ag);
	rv.revoked_by = str_c("user:op");
	rv.reason = str_c("kill switch");

	/* a record the store refuses, or one that cannot be made: the
	 * agent is not revoked, its tasks and credential stand */
	refuse_type(f);
	b.type = "refused";
	assert_int_not_equal(store_agent_revoke_audited(f->s, &rv, T0 + 5,
	    rv_build, &b, &n, &id), MANDATE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(id, 0);
	assert_int_equal(b.calls, 1);
	b.type = "agent.revoked";
	b.fail = MANDATE_ENOMEM;
	assert_int_equal(store_agent_revoke_audited(f->s, &rv, T0 + 5,
	    rv_build, &b, &n, &id), MANDATE_ENOMEM);
	b.fail = 0;
	assert_int_equal(store_agent_revocation_last(f->s, str_c(ag), &f->a,
	    &last), MANDATE_ENOTFOUND);
	assert_int_equal(store_task_get(f->s, str_c("rv-1"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.state, STORE_TASK_ACTIVE);
	assert_int_equal(usable(f->s, "rv-j1", T0 + 5), STORE_USABLE);
	assert_int_equal(audit_all(f, &ev), 0);

	/* all together; the record is made knowing the count */
	assert_int_equal(store_agent_revoke_audited(f->s, &rv, T0 + 5,
	    rv_build, &b, &n, &id), MANDATE_OK);
	assert_int_equal(n, 2);
	assert_true(id > 0);
	assert_int_equal(store_agent_revocation_last(f->s, str_c(ag), &f->a,
	    &last), MANDATE_OK);
	assert_int_equal(last.revoked_at, T0 + 5);
	assert_string_equal(last.revoked_by.p, "user:op");
	assert_int_equal(store_task_get(f->s, str_c("rv-2"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.state, STORE_TASK_REVOKED);
	assert_int_equal(usable(f->s, "rv-j1", T0 + 6),
	    STORE_UNUSABLE_REVOKED);
	assert_int_equal(audit_all(f, &ev), 1);
	assert_int_equal(ev[0].id, id);
	assert_string_equal(ev[0].type.p, "agent.revoked");
	assert_string_equal(ev[0].fields_json.p, "{\"tasks_revoked\":2}");

	/* again: a second revocation, of no task, and its record */
	assert_int_equal(store_agent_revoke_audited(f->s, &rv, T0 + 7,
	    rv_build, &b, &n, NULL), MANDATE_OK);
	assert_int_equal(n, 0);
	assert_int_equal(audit_all(f, &ev), 2);
	assert_string_equal(ev[1].fields_json.p, "{\"tasks_revoked\":0}");

	/* bad arguments change nothing */
	assert_int_equal(store_agent_revoke_audited(NULL, &rv, T0 + 8,
	    rv_build, &b, NULL, NULL), MANDATE_EINVAL);
	assert_int_equal(store_agent_revoke_audited(f->s, NULL, T0 + 8,
	    rv_build, &b, NULL, NULL), MANDATE_EINVAL);
	assert_int_equal(store_agent_revoke_audited(f->s, &rv, T0 + 8, NULL,
	    &b, NULL, NULL), MANDATE_EINVAL);
	rv.agent = STR_NULL;
	assert_int_equal(store_agent_revoke_audited(f->s, &rv, T0 + 8,
	    rv_build, &b, NULL, NULL), MANDATE_EINVAL);
	b.type = "";                          /* a built event without type */
	rv.agent = str_c(ag);
	assert_int_equal(store_agent_revoke_audited(f->s, &rv, T0 + 8,
	    rv_build, &b, NULL, NULL), MANDATE_EINVAL);
	assert_int_equal(store_agent_revocation_last(f->s, str_c(ag), &f->a,
	    &last), MANDATE_OK);
	assert_int_equal(last.revoked_at, T0 + 7);
	assert_int_equal(audit_all(f, &ev), 2);
}

/* A credential's revocation (RFC 7009) and its token.revoked record:
 * both, or neither; one that changes nothing writes no record. */
static void
test_cred_revoke_audited(void **state)
{
	struct fixture *f = *state;
	const char *ag = "spiffe://a.test/cr";
	struct store_task t = mk_task("cr-task", ag, T0, 600, 5);
	struct store_credential c;
	struct store_audit_event e, *ev;
	int64_t id = 99;
	int changed = 7;

	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	c = mk_cred("cr-1", "cr-task", ag, T0, 300);
	assert_int_equal(store_cred_insert(f->s, &c), MANDATE_OK);

	/* a record the store refuses: the credential stays usable */
	refuse_type(f);
	e = mk_event("refused", "r0", ag, "cr-task");
	assert_int_not_equal(store_cred_revoke_audited(f->s, str_c("cr-1"),
	    T0 + 5, &e, &changed, &id), MANDATE_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(id, 0);
	assert_int_equal(usable(f->s, "cr-1", T0 + 5), STORE_USABLE);
	assert_int_equal(audit_all(f, &ev), 0);

	/* both */
	e = mk_event("token.revoked", "r1", ag, "cr-task");
	assert_int_equal(store_cred_revoke_audited(f->s, str_c("cr-1"),
	    T0 + 5, &e, &changed, &id), MANDATE_OK);
	assert_int_equal(changed, 1);
	assert_true(id > 0);
	assert_int_equal(usable(f->s, "cr-1", T0 + 6),
	    STORE_UNUSABLE_REVOKED);
	assert_int_equal(audit_all(f, &ev), 1);
	assert_int_equal(ev[0].id, id);
	assert_string_equal(ev[0].type.p, "token.revoked");

	/* again, or unknown: no change, no record */
	assert_int_equal(store_cred_revoke_audited(f->s, str_c("cr-1"),
	    T0 + 7, &e, &changed, &id), MANDATE_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(id, 0);
	assert_int_equal(store_cred_revoke_audited(f->s, str_c("cr-none"),
	    T0 + 7, &e, &changed, NULL), MANDATE_ENOTFOUND);
	assert_int_equal(store_cred_revoke_audited(f->s, str_c("cr-1"),
	    T0 + 7, NULL, NULL, NULL), MANDATE_EINVAL);
	e.type = STR_NULL;
	assert_int_equal(store_cred_revoke_audited(f->s, str_c("cr-1"),
	    T0 + 7, &e, NULL, NULL), MANDATE_EINVAL);
	assert_int_equal(audit_all(f, &ev), 1);
}

/* The test's decision.outcome record: its fields say task_active. */
struct oc_build {
	const char *type;
	int calls;
	char fields[64];
};

static int
oc_build(void *arg, int task_active, struct store_audit_event *ev)
{
	struct oc_build *b = arg;

	b->calls++;
	snprintf(b->fields, sizeof(b->fields), "{\"task_active\":%s}",
	    task_active ? "true" : "false");
	*ev = mk_event(b->type, "oc", "", "oc-task");
	ev->fields_json = str_c(b->fields);
	return MANDATE_OK;
}

/* An outcome report (the decision, the session's labels) and its
 * decision.outcome record: both, or neither; a report that changes
 * nothing writes no record. */
static void
test_decision_outcome_audited(void **state)
{
	struct fixture *f = *state;
	struct store_task t = mk_task("oc-task", "spiffe://a.test/oc", T0,
	    600, 5);
	struct str lab[1] = { STR_LIT("confidential") };
	struct store_decision dec, got;
	struct store_session ss;
	struct store_audit_event *ev;
	struct oc_build b = { .type = "refused" };
	int outcome, changed = 7, active = 7;
	int64_t used, id = 99;

	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	memset(&dec, 0, sizeof(dec));
	dec.id = str_c("oc-1");
	dec.task_id = str_c("oc-task");
	dec.caller = str_c("pep");
	dec.action = str_c("read_file");
	dec.resource = str_c("File::\"a\"");
	dec.permit = 1;
	dec.time = T0 + 1;
	assert_int_equal(store_decision_record(f->s, &dec, T0 + 1, &outcome,
	    &used), MANDATE_OK);
	assert_int_equal(outcome, STORE_CONSUMED);

	/* a record the store refuses: unreported, the session unchanged */
	refuse_type(f);
	assert_int_not_equal(store_decision_outcome_audited(f->s,
	    str_c("oc-1"), STORE_OUTCOME_SUCCESS, str_c("[\"confidential\"]"),
	    lab, 1, T0 + 5, oc_build, &b, &changed, &active, &id),
	    MANDATE_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(id, 0);
	assert_int_equal(store_decision_get(f->s, str_c("oc-1"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.outcome, STORE_OUTCOME_NONE);
	assert_int_equal(store_session_get(f->s, str_c("oc-task"), &f->a,
	    &ss), MANDATE_OK);
	assert_int_equal(ss.n_labels, 0);
	assert_int_equal(audit_all(f, &ev), 0);

	/* all together */
	b.type = "decision.outcome";
	assert_int_equal(store_decision_outcome_audited(f->s, str_c("oc-1"),
	    STORE_OUTCOME_SUCCESS, str_c("[\"confidential\"]"), lab, 1,
	    T0 + 5, oc_build, &b, &changed, &active, &id), MANDATE_OK);
	assert_int_equal(changed, 1);
	assert_int_equal(active, 1);
	assert_true(id > 0);
	assert_int_equal(store_decision_get(f->s, str_c("oc-1"), &f->a, &got),
	    MANDATE_OK);
	assert_int_equal(got.outcome, STORE_OUTCOME_SUCCESS);
	assert_int_equal(store_session_get(f->s, str_c("oc-task"), &f->a,
	    &ss), MANDATE_OK);
	assert_int_equal(ss.n_labels, 1);
	assert_int_equal(audit_all(f, &ev), 1);
	assert_int_equal(ev[0].id, id);
	assert_string_equal(ev[0].type.p, "decision.outcome");
	assert_string_equal(ev[0].fields_json.p, "{\"task_active\":true}");

	/* once only, and unknown ids: no record */
	b.calls = 0;
	assert_int_equal(store_decision_outcome_audited(f->s, str_c("oc-1"),
	    STORE_OUTCOME_FAILURE, str_c("[]"), NULL, 0, T0 + 6, oc_build,
	    &b, &changed, NULL, &id), MANDATE_OK);
	assert_int_equal(changed, 0);
	assert_int_equal(id, 0);
	assert_int_equal(store_decision_outcome_audited(f->s, str_c("oc-9"),
	    STORE_OUTCOME_FAILURE, str_c("[]"), NULL, 0, T0 + 6, oc_build,
	    &b, NULL, NULL, NULL), MANDATE_ENOTFOUND);
	assert_int_equal(b.calls, 0);
	assert_int_equal(store_decision_outcome_audited(f->s, str_c("oc-1"),
	    STORE_OUTCOME_FAILURE, str_c("[]"), NULL, 0, T0 + 6, NULL, &b,
	    NULL, NULL, NULL), MANDATE_EINVAL);
	assert_int_equal(audit_all(f, &ev), 1);
}

#define TC_THREADS 8
#define TC_TRIES 30

struct tc_writer {
	struct store *s;
	int t;
	int ok, conflicts, errors;
};

/* Creations for a live agent and for a revoked one, at once: a refused
 * creation (ECONFLICT) in a group commit fails only itself. */
static void *
tc_thread(void *arg)
{
	struct tc_writer *w = arg;
	char id[64];

	for (int i = 0; i < TC_TRIES; i++) {
		const char *ag = i % 2 ? "spiffe://a.test/dead" :
		    "spiffe://a.test/live";
		struct store_task t;
		struct store_audit_event e;
		int r;

		snprintf(id, sizeof(id), "tc-%d-%d", w->t, i);
		t = mk_task(id, ag, T0, 600, 5);
		e = mk_event("task.created", id, ag, id);
		r = store_task_create_audited(w->s, &t, &e, NULL);
		if (r == MANDATE_OK && !(i % 2))
			w->ok++;
		else if (r == MANDATE_ECONFLICT && i % 2)
			w->conflicts++;
		else
			w->errors++;
	}
	return NULL;
}

static void
test_task_create_audited_concurrent(void **state)
{
	struct fixture *f = *state;
	static struct tc_writer w[TC_THREADS];
	pthread_t th[TC_THREADS];
	struct store_agent_revocation rv;
	struct store_audit_event *ev = NULL;
	struct store_task got;
	size_t n_ev = 0;

	memset(&rv, 0, sizeof(rv));
	rv.agent = str_c("spiffe://a.test/dead");
	assert_int_equal(store_agent_revoke(f->s, &rv, T0, NULL), MANDATE_OK);
	memset(w, 0, sizeof(w));
	for (int i = 0; i < TC_THREADS; i++) {
		w[i].s = f->s;
		w[i].t = i;
		assert_int_equal(pthread_create(&th[i], NULL, tc_thread,
		    &w[i]), 0);
	}
	for (int i = 0; i < TC_THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < TC_THREADS; i++) {
		assert_int_equal(w[i].errors, 0);
		assert_int_equal(w[i].ok, TC_TRIES / 2);
		assert_int_equal(w[i].conflicts, TC_TRIES / 2);
	}
	/* a record for every task created, for none refused */
	assert_int_equal(store_audit_read(f->s, 1, STORE_MAX_PAGE, &f->a, &ev,
	    &n_ev), MANDATE_OK);
	assert_int_equal(n_ev, TC_THREADS * TC_TRIES / 2);
	for (size_t k = 0; k < n_ev; k++) {
		assert_string_equal(ev[k].agent.p, "spiffe://a.test/live");
		assert_int_equal(store_task_get(f->s, ev[k].task_id, &f->a,
		    &got), MANDATE_OK);
	}
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_open_health_version),
		T(test_task_new_id),
		T(test_bad_arguments),
		T(test_task_create_get),
		T(test_task_create_rejects),
		T(test_task_end_idempotent),
		T(test_task_end_expired),
		T(test_task_consume_budget),
		T(test_task_list_paged),
		T(test_agent_revoke),
		T(test_credentials),
		T(test_signing_keys),
		T(test_audit_append_read),
		T(test_audit_append_only_sqlite),
		T(test_audit_misstored_sqlite),
		T(test_audit_query_indexes),
		T(test_concurrent_consume),
		T(test_concurrent_audit),
		T(test_writers_do_not_starve),
		T(test_busy_wait_retries_at_release),
		T(test_group_commit),
		T(test_cred_insert_audited),
		T(test_key_activate_audited),
		T(test_cred_insert_audited_concurrent),
		T(test_task_create_audited),
		T(test_task_create_audited_concurrent),
		T(test_task_end_audited),
		T(test_agent_revoke_audited),
		T(test_cred_revoke_audited),
		T(test_decision_outcome_audited),
		T(test_migrations),
		T(test_newer_schema_sqlite),
		T(test_bad_files),
		T(test_small_pool),
		T(test_arena_failure),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

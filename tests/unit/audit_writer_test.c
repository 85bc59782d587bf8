/*
 * audit_test.c - the audit writer (src/audit/audit.h) over a real SQLite
 * store: sync records are durable when the call returns, async records
 * are all written by close, prompts are cut and marked, fields are
 * redacted before they reach the database file, and the health flag
 * follows a store that cannot be written (another connection holding the
 * write lock) and recovers when it can.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "audit/writer.h"
#include "daemon/daemon_int.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/file.h"
#include "util/status.h"

static const unsigned char key[REDACT_KEY_LEN] =
    "0123456789abcdef0123456789abcdef";

struct fx {
	char dir[64], path[128];
	struct store *s;
	struct redact *r;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct store_options o;
	static const char *const paths[] = { "arguments.ssn" };
	char err[128];

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/audit_test.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/m.db", f->dir);
	memset(&o, 0, sizeof(o));
	o.busy_timeout_ms = 100;
	if (store_open(&store_sqlite_ops, f->path, &o, &f->s) != MANDATE_OK)
		return -1;
	if (redact_new(key, sizeof(key), paths, 1, &f->r, err, sizeof(err)) !=
	    MANDATE_OK)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char p[160];

	store_close(f->s);
	redact_free(f->r);
	unlink(f->path);
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct audit_log *
open_log(struct fx *f, enum audit_mode mode, size_t prompt_max)
{
	struct audit_options o;
	struct audit_log *l = NULL;

	memset(&o, 0, sizeof(o));
	o.store = f->s;
	o.redact = f->r;
	o.mode = mode;
	o.prompt_max = prompt_max;
	assert_int_equal(audit_open(&o, &l), MANDATE_OK);
	return l;
}

static int
rec(struct audit_log *l, const char *type, const char *rid, json_t *fields,
    int64_t *id)
{
	struct audit_event e;

	memset(&e, 0, sizeof(e));
	e.time = 1700000000;
	e.type = type;
	e.request_id = str_c(rid);
	e.agent = STR_LIT("spiffe://dev.local/agents/a");
	return audit_record(l, &e, fields, id);
}

static size_t
count_rows(struct fx *f)
{
	struct arena a;
	struct store_audit_event *ev;
	size_t n = 0, total = 0;
	int64_t from = 1;

	arena_init(&a, 0);
	do {
		assert_int_equal(store_audit_read(f->s, from, STORE_MAX_PAGE, &a,
		    &ev, &n), MANDATE_OK);
		total += n;
		if (n > 0)
			from = ev[n - 1].id + 1;
	} while (n == STORE_MAX_PAGE);
	arena_free(&a);
	return total;
}

/* Does the database (file and WAL) contain needle, byte for byte? */
static bool
db_contains(struct fx *f, const char *needle)
{
	const char *suffix[] = { "", "-wal" };

	for (size_t i = 0; i < 2; i++) {
		char p[160], *buf = NULL;
		size_t n = 0;
		bool hit = false;

		snprintf(p, sizeof(p), "%s%s", f->path, suffix[i]);
		if (file_read_all(p, 64u << 20, &buf, &n) != MANDATE_OK)
			continue;
		hit = memmem(buf, n, needle, strlen(needle)) != NULL;
		free(buf);
		if (hit)
			return true;
	}
	return false;
}

static void
test_sync(void **state)
{
	struct fx *f = *state;
	struct audit_log *l = open_log(f, AUDIT_SYNC, 0);
	struct arena a;
	struct store_audit_event *ev;
	size_t n;
	int64_t id = 0;

	assert_int_equal(rec(l, "decision", "req-1", json_pack(
	    "{s:s,s:{s:s,s:s,s:i}}", "decision_id", "d1", "arguments", "ssn",
	    "123-45-6789", "api_key", "not-so-secret-value", "n", 3), &id),
	    MANDATE_OK);
	assert_true(id > 0);
	assert_true(audit_healthy(l));
	arena_init(&a, 0);
	assert_int_equal(store_audit_read(f->s, id, 1, &a, &ev, &n),
	    MANDATE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(ev[0].type.p, "decision");
	assert_string_equal(ev[0].request_id.p, "req-1");
	assert_null(strstr(ev[0].fields_json.p, "123-45-6789"));
	assert_null(strstr(ev[0].fields_json.p, "not-so-secret-value"));
	assert_non_null(strstr(ev[0].fields_json.p, "\"n\":3"));
	arena_free(&a);
	/* a secret-looking request id is not stored in clear either */
	assert_int_equal(rec(l, "decision", "sk-proj-AbCdEf0123456789GhIjKl",
	    NULL, NULL), MANDATE_OK);
	audit_close(l);
	assert_false(db_contains(f, "123-45-6789"));
	assert_false(db_contains(f, "sk-proj-AbCdEf0123456789GhIjKl"));
	assert_true(db_contains(f, "req-1"));   /* the check can see */
}

static void
test_prompt(void **state)
{
	struct fx *f = *state;
	struct audit_log *l = open_log(f, AUDIT_SYNC, 300);
	char big[1000];
	struct arena a;
	struct store_audit_event *ev;
	json_t *j;
	size_t n;
	int64_t id;

	/* 'é' is two bytes: a cut at 300 must not split one */
	for (size_t i = 0; i < sizeof(big) - 1; i += 2) {
		big[i] = (char)0xc3;
		big[i + 1] = (char)0xa9;
	}
	big[sizeof(big) - 1] = '\0';
	big[sizeof(big) - 2] = 'x';        /* 999 bytes of valid UTF-8 */
	j = json_pack("{s:s}", "prompt", big);
	assert_non_null(j);
	assert_int_equal(rec(l, "decision", "r", j, &id), MANDATE_OK);
	arena_init(&a, 0);
	assert_int_equal(store_audit_read(f->s, id, 1, &a, &ev, &n),
	    MANDATE_OK);
	j = json_loads(ev[0].fields_json.p, 0, NULL);
	assert_non_null(j);
	assert_true(json_string_length(json_object_get(j, "prompt")) <= 300);
	assert_true(json_string_length(json_object_get(j, "prompt")) >= 298);
	assert_true(json_is_true(json_object_get(j, "prompt_truncated")));
	assert_int_equal(json_integer_value(json_object_get(j,
	    "prompt_bytes")), 999);
	json_decref(j);
	arena_free(&a);
	/* bad input: not recorded */
	assert_int_equal(rec(l, "", "r", NULL, NULL), MANDATE_EINVAL);
	assert_int_equal(rec(l, "x", "r", json_array(), NULL),
	    MANDATE_EINVAL);
	audit_close(l);
}

/* A key across the prompt's cut: the prompt is redacted, then cut, so
 * neither the key nor its first characters are stored (they were:
 * "... c c sk-proj-Zq81"), by the tree and the member-wise way alike. */
static void
test_prompt_cut_secret(void **state)
{
	static const char leak[] = "sk-proj-Zq81Lm29Xv47Nb63Kc05Wd18Ty72";
	struct fx *f = *state;
	struct audit_log *l = open_log(f, AUDIT_SYNC, 300);
	char big[400];
	struct arena a;
	struct store_audit_event *ev;
	json_t *j;
	size_t n = 0;
	int64_t id;

	memset(big, 0, sizeof(big));
	for (size_t i = 0; i < 290; i += 2)
		memcpy(big + i, "c ", 2);
	memcpy(big + 290, leak, strlen(leak));
	memcpy(big + 290 + strlen(leak), " tail", 5);
	assert_int_equal(rec(l, "decision", "r", json_pack("{s:s}", "prompt",
	    big), &id), MANDATE_OK);
	{
		struct redact_member m[] = { { .name = "prompt",
		    .kind = REDACT_M_STR, .s = str_c(big) } };
		struct audit_event e;

		memset(&e, 0, sizeof(e));
		e.time = 1700000000;
		e.type = "decision";
		e.request_id = STR_LIT("r2");
		assert_int_equal(audit_record_members(l, &e, m, 1, NULL,
		    NULL, NULL),
		    MANDATE_OK);
	}
	arena_init(&a, 0);
	assert_int_equal(store_audit_read(f->s, id, 2, &a, &ev, &n),
	    MANDATE_OK);
	assert_int_equal(n, 2);
	for (size_t i = 0; i < n; i++) {
		const char *p;

		j = json_loads(ev[i].fields_json.p, 0, NULL);
		assert_non_null(j);
		p = json_string_value(json_object_get(j, "prompt"));
		assert_non_null(p);
		assert_null(strstr(p, "sk-"));
		assert_true(strlen(p) <= 300);
		assert_true(json_is_true(json_object_get(j,
		    "prompt_truncated")));
		json_decref(j);
	}
	arena_free(&a);
	audit_close(l);
	assert_false(db_contains(f, "sk-proj"));
}

/* The writer serialises fields itself: the stored text is exactly what
 * jansson's compact dump of the same (redaction-free) tree gives, escapes,
 * extreme integers, reals, nesting and non-ASCII included; a string that
 * is not UTF-8 is refused, not stored. */
static void
test_serialise(void **state)
{
	struct fx *f = *state;
	struct audit_log *l = open_log(f, AUDIT_SYNC, 0);
	struct arena a;
	struct store_audit_event *ev;
	json_t *j, *bad;
	char *want;
	size_t n;
	int64_t id;

	j = json_pack("{s:s,s:I,s:I,s:f,s:f,s:[b,b,n,{}],s:{s:[]},s:s}",
	    "k\x1f\"", "a\x01\x7f/\"\\\b\f\n\r\t\xc3\xa9\xe2\x82\xac",
	    "min", (json_int_t)INT64_MIN, "max", (json_int_t)INT64_MAX,
	    "r", 1.0, "r2", -0.125, "l", 1, 0, "o", "e", "policy_hash", "");
	assert_non_null(j);
	want = json_dumps(j, JSON_COMPACT);
	assert_non_null(want);
	assert_int_equal(rec(l, "decision", "r", json_incref(j), &id),
	    MANDATE_OK);
	arena_init(&a, 0);
	assert_int_equal(store_audit_read(f->s, id, 1, &a, &ev, &n),
	    MANDATE_OK);
	assert_int_equal(n, 1);
	assert_string_equal(ev[0].fields_json.p, want);
	arena_free(&a);
	free(want);
	json_decref(j);
	bad = json_object();
	assert_non_null(bad);
	assert_int_equal(json_object_set_new(bad, "x",
	    json_stringn_nocheck("\xff\xfe", 2)), 0);
	assert_int_not_equal(rec(l, "decision", "r", bad, NULL), MANDATE_OK);
	audit_close(l);
}

/* A record too large to store keeps its small members and loses the
 * bulk of each large one to its size and HMAC; secrets are redacted
 * first, and the caller's tree is not changed by any of it.  A record
 * made of many small members that together are too large is refused. */
static void
test_oversized(void **state)
{
	struct fx *f = *state;
	struct audit_log *l = open_log(f, AUDIT_SYNC, 0);
	size_t big_n = STORE_MAX_JSON + 1000, n;
	char *big = malloc(big_n + 1);
	struct arena a;
	struct store_audit_event *ev;
	json_t *j, *copy, *got, *args;
	int64_t id;

	assert_non_null(big);
	memset(big, 'b', big_n);
	big[big_n] = '\0';
	j = json_pack("{s:s,s:{s:s,s:s},s:s}", "decision_id", "d-big",
	    "arguments", "password", "hunter2-oversized", "blob", big,
	    "note", "kept");
	assert_non_null(j);
	copy = json_deep_copy(j);
	assert_int_equal(rec(l, "decision", "r", json_incref(j), &id),
	    MANDATE_OK);
	assert_true(json_equal(j, copy));          /* not changed */
	arena_init(&a, 0);
	assert_int_equal(store_audit_read(f->s, id, 1, &a, &ev, &n),
	    MANDATE_OK);
	assert_int_equal(n, 1);
	assert_true(ev[0].fields_json.n < 8192);
	got = json_loads(ev[0].fields_json.p, 0, NULL);
	assert_non_null(got);
	assert_string_equal(json_string_value(json_object_get(got,
	    "decision_id")), "d-big");
	assert_string_equal(json_string_value(json_object_get(got, "note")),
	    "kept");
	args = json_object_get(got, "arguments");
	assert_true(json_integer_value(json_object_get(args,
	    "omitted_bytes")) > (json_int_t)big_n);
	assert_non_null(strstr(json_string_value(json_object_get(args,
	    "hmac")), "hmac:"));
	json_decref(got);
	arena_free(&a);
	json_decref(copy);
	json_decref(j);
	/* 100 members of 3 KB: none is cut, the whole is too large */
	j = json_object();
	memset(big, 'c', 3000);
	big[3000] = '\0';
	for (int i = 0; i < 100; i++) {
		char k[16];

		snprintf(k, sizeof(k), "m%d", i);
		json_object_set_new(j, k, json_string(big));
	}
	assert_int_equal(rec(l, "decision", "r", j, NULL), MANDATE_ELIMIT);
	free(big);
	audit_close(l);
	assert_false(db_contains(f, "hunter2-oversized"));
}

struct worker {
	struct audit_log *l;
	int n, failed;
};

static void *
burst(void *arg)
{
	struct worker *w = arg;

	for (int i = 0; i < w->n; i++)
		if (rec(w->l, "decision", "r", json_pack("{s:i}", "i", i),
		    NULL) != MANDATE_OK)
			w->failed++;
	return NULL;
}

static void
test_async(void **state)
{
	struct fx *f = *state;
	struct audit_log *l = open_log(f, AUDIT_ASYNC, 0);
	struct worker w[4];
	pthread_t t[4];
	struct audit_stats st;

	for (int i = 0; i < 4; i++) {
		w[i].l = l;
		w[i].n = 250;
		w[i].failed = 0;
		assert_int_equal(pthread_create(&t[i], NULL, burst, &w[i]), 0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(t[i], NULL);
		assert_int_equal(w[i].failed, 0);
	}
	audit_close(l);           /* drains the queue */
	assert_int_equal(count_rows(f), 1000);
	l = open_log(f, AUDIT_ASYNC, 0);
	audit_get_stats(l, &st);
	assert_int_equal(st.lost, 0);
	audit_close(l);
}

/* Another connection holds the write lock: appends fail (busy), the log
 * turns unhealthy and refuses; when the lock goes, it recovers. */
static void
health_case(struct fx *f, enum audit_mode mode)
{
	struct audit_log *l = open_log(f, mode, 0);
	sqlite3 *db = NULL;
	int r = MANDATE_OK;

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL,
	    NULL), SQLITE_OK);
	if (mode == AUDIT_SYNC) {
		assert_int_not_equal(rec(l, "decision", "r", NULL, NULL),
		    MANDATE_OK);
	} else {
		/* queued, then the writer fails and the flag drops */
		for (int i = 0; i < 100 && audit_healthy(l); i++) {
			r = rec(l, "decision", "r", NULL, NULL);
			usleep(20000);
		}
		(void)r;
		assert_false(audit_healthy(l));
		assert_int_not_equal(rec(l, "decision", "r", NULL, NULL),
		    MANDATE_OK);
	}
	assert_false(audit_healthy(l));
	assert_false(audit_probe(l, 1700000000));   /* still locked */
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	if (mode == AUDIT_SYNC) {
		/* the readiness probe's write is the one that recovers: a
		 * record of the outage, the failed append counted */
		sqlite3_stmt *q;

		assert_true(audit_probe(l, 1700000000));
		assert_int_equal(rec(l, "decision", "r", NULL, NULL),
		    MANDATE_OK);
		assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
		assert_int_equal(sqlite3_prepare_v2(db, "SELECT time,"
		    " fields_json FROM audit_events WHERE type ="
		    " 'audit.recovered'", -1, &q, NULL), SQLITE_OK);
		assert_int_equal(sqlite3_step(q), SQLITE_ROW);
		assert_int_equal(sqlite3_column_int64(q, 0), 1700000000);
		/* the record's append and the probe's while locked */
		assert_non_null(strstr((const char *)sqlite3_column_text(q, 1),
		    "\"failed_appends\":2}"));
		assert_non_null(strstr((const char *)sqlite3_column_text(q, 1),
		    "\"unwritable_since\":"));
		assert_int_equal(sqlite3_step(q), SQLITE_DONE);
		sqlite3_finalize(q);
		sqlite3_close(db);
	} else {
		for (int i = 0; i < 200 && !audit_healthy(l); i++)
			usleep(20000);
	}
	assert_true(audit_healthy(l));
	audit_close(l);
}

/* audit_record_async: done is called once per record, with the id in
 * sync mode once durable, and with the failure (not retried) when the
 * store refuses; in async mode right away. */
struct done_box {
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int calls, ok;
	int64_t last_id;
};

static void
on_done(void *arg, int status, int64_t id)
{
	struct done_box *b = arg;

	pthread_mutex_lock(&b->mu);
	b->calls++;
	if (status == MANDATE_OK) {
		b->ok++;
		b->last_id = id;
	}
	pthread_cond_broadcast(&b->cv);
	pthread_mutex_unlock(&b->mu);
}

static void
wait_calls(struct done_box *b, int n)
{
	pthread_mutex_lock(&b->mu);
	while (b->calls < n)
		pthread_cond_wait(&b->cv, &b->mu);
	pthread_mutex_unlock(&b->mu);
}

static int
rec_async(struct audit_log *l, const char *rid, struct done_box *b)
{
	struct audit_event e;

	memset(&e, 0, sizeof(e));
	e.time = 1700000000;
	e.type = "decision";
	e.request_id = str_c(rid);
	return audit_record_async(l, &e, json_pack("{s:s}", "password",
	    "hunter2-hunter2"), on_done, b);
}

static void
test_record_async(void **state)
{
	struct fx *f = *state;
	struct done_box b = { PTHREAD_MUTEX_INITIALIZER,
	    PTHREAD_COND_INITIALIZER, 0, 0, 0 };
	struct audit_log *l = open_log(f, AUDIT_SYNC, 0);
	sqlite3 *db = NULL;

	for (int i = 0; i < 50; i++)
		assert_int_equal(rec_async(l, "r", &b), MANDATE_OK);
	wait_calls(&b, 50);
	assert_int_equal(b.ok, 50);
	assert_int_equal(count_rows(f), 50);
	assert_int_equal(b.last_id, 50);
	{
		/* counted once each, by the writer */
		struct audit_stats st;

		audit_get_stats(l, &st);
		assert_int_equal(st.appended, 50);
		assert_int_equal(st.failed, 0);
	}
	/* the store refuses: reported, not retried, the log unhealthy */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db, "BEGIN EXCLUSIVE", NULL, NULL,
	    NULL), SQLITE_OK);
	assert_int_equal(rec_async(l, "r", &b), MANDATE_OK);
	wait_calls(&b, 51);
	assert_int_equal(b.ok, 50);
	assert_false(audit_healthy(l));
	/* held records still go to the store while it is unhealthy, and
	 * the first that is written makes it healthy again */
	assert_int_equal(sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL),
	    SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(rec_async(l, "r", &b), MANDATE_OK);
	wait_calls(&b, 52);
	assert_int_equal(b.ok, 51);
	assert_true(audit_healthy(l));
	/* a bad record is refused at once: done is never called */
	{
		struct audit_event e;

		memset(&e, 0, sizeof(e));
		e.type = "decision";
		assert_int_equal(audit_record_async(l, &e, json_string("x"),
		    on_done, &b), MANDATE_EINVAL);
	}
	audit_close(l);
	assert_int_equal(b.calls, 52);
	assert_int_equal(count_rows(f), 51);
	assert_false(db_contains(f, "hunter2-hunter2"));

	/* async mode: done right away, once queued */
	l = open_log(f, AUDIT_ASYNC, 0);
	assert_int_equal(rec_async(l, "r", &b), MANDATE_OK);
	assert_int_equal(b.calls, 53);
	audit_close(l);
	assert_int_equal(count_rows(f), 52);
}

/* The stored text of record id. */
static char *
stored_fields(struct fx *f, int64_t id)
{
	struct arena a;
	struct store_audit_event *ev;
	size_t n;
	char *t;

	arena_init(&a, 0);
	assert_int_equal(store_audit_read(f->s, id, 1, &a, &ev, &n),
	    MANDATE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(ev[0].id, id);
	t = strdup(ev[0].fields_json.p);
	arena_free(&a);
	assert_non_null(t);
	return t;
}

/* A record given as members is stored as the same record given as the
 * equivalent object: redacted, with the policy hash added (or the
 * caller's kept), a long prompt cut, an oversized member shrunk; the
 * same through the writer thread (done); bad members are refused. */
static void
test_members(void **state)
{
	struct fx *f = *state;
	struct audit_log *l = open_log(f, AUDIT_SYNC, 300);
	struct done_box b = { PTHREAD_MUTEX_INITIALIZER,
	    PTHREAD_COND_INITIALIZER, 0, 0, 0 };
	size_t big_n = STORE_MAX_JSON + 10;
	char *big = malloc(big_n + 1);
	json_t *args = json_pack("{s:s,s:s,s:[i,b]}", "ssn", "123-45-6789",
	    "path", "/x", "l", 7, 1);
	json_t *huge;
	struct redact_member m[6] = {
		{ .name = "decision_id", .kind = REDACT_M_STR,
		  .s = STR_LIT("d-1") },
		{ .name = "arguments", .kind = REDACT_M_JSON, .j = args },
		{ .name = "decision", .kind = REDACT_M_BOOL, .b = true },
		{ .name = "calls_used", .kind = REDACT_M_INT, .i = -42 },
		{ .name = "token", .kind = REDACT_M_STR,
		  .s = STR_LIT("not-a-secret-by-its-look") },
		{ .name = "prompt", .kind = REDACT_M_STR, .s = STR_NULL },
	};
	struct audit_event e;

	assert_non_null(big);
	memset(big, 'p', big_n);
	big[big_n] = '\0';
	huge = json_string(big);
	assert_non_null(args);
	assert_non_null(huge);
	memset(&e, 0, sizeof(e));
	e.time = 1700000000;
	e.type = "decision";
	e.request_id = STR_LIT("r");
	audit_set_policy_hash(l, "11e4df9bb3a0b2666aba97777a2086e1ef2e4f5f"
	    "13a7058698981f5764a40ebf");
	for (int round = 0; round < 5; round++) {
		int64_t id1 = 0, id2 = 0;
		char *t1, *t2;
		size_t n = 6;

		if (round == 1)                 /* a prompt to cut */
			m[5].s = str_make(big, 1000);
		if (round == 2) {               /* a member too large */
			m[5].s = STR_LIT("short");
			m[1].j = huge;
		}
		if (round == 3) {               /* the caller's hash */
			m[1].j = args;
			m[5] = (struct redact_member){ .name = "policy_hash",
			    .kind = REDACT_M_STR, .s = STR_LIT("mine") };
		}
		if (round == 4)                 /* through the writer */
			n = 5;
		if (round < 4) {
			assert_int_equal(audit_record_members(l, &e, m, n,
			    NULL, NULL, &id1), MANDATE_OK);
		} else {
			assert_int_equal(audit_record_members(l, &e, m, n,
			    on_done, &b, NULL), MANDATE_OK);
			wait_calls(&b, 1);
			assert_int_equal(b.ok, 1);
			id1 = b.last_id;
		}
		assert_int_equal(audit_record(l, &e, redact_members_json(m, n),
		    &id2), MANDATE_OK);
		t1 = stored_fields(f, id1);
		t2 = stored_fields(f, id2);
		assert_string_equal(t1, t2);
		assert_null(strstr(t1, "123-45-6789"));
		assert_null(strstr(t1, "not-a-secret-by-its-look"));
		if (round == 1)
			assert_non_null(strstr(t1, "\"prompt_truncated\":true"));
		if (round == 2)
			assert_non_null(strstr(t1, "omitted_bytes"));
		assert_non_null(strstr(t1, round == 3 ?
		    "\"policy_hash\":\"mine\"" : "\"policy_hash\":\"11e4"));
		free(t1);
		free(t2);
	}
	/* refused, nothing stored: a repeated name, too many members */
	m[1].name = "decision_id";
	assert_int_equal(audit_record_members(l, &e, m, 2, NULL, NULL, NULL),
	    MANDATE_EINVAL);
	m[1].name = "arguments";
	{
		struct redact_member many[40];
		char names[40][8];

		for (int i = 0; i < 40; i++) {
			snprintf(names[i], sizeof(names[i]), "m%d", i);
			many[i] = (struct redact_member){ .name = names[i],
			    .kind = REDACT_M_BOOL };
		}
		assert_int_equal(audit_record_members(l, &e, many, 40, NULL,
		    NULL, NULL), MANDATE_EINVAL);
	}
	assert_int_equal(count_rows(f), 10);
	audit_close(l);
	json_decref(args);
	json_decref(huge);
	free(big);
}

static void
test_health_sync(void **state)
{
	health_case(*state, AUDIT_SYNC);
}

static void
test_health_async(void **state)
{
	health_case(*state, AUDIT_ASYNC);
}

/* store_audit_query: filters on the stored columns and paging. */
static void
test_query(void **state)
{
	struct fx *f = *state;
	struct audit_log *l = open_log(f, AUDIT_SYNC, 0);
	struct store_audit_filter q;
	struct store_audit_event *ev;
	struct arena a;
	size_t n;

	for (int i = 0; i < 30; i++) {
		struct audit_event e;

		memset(&e, 0, sizeof(e));
		e.time = 1000 + i;
		e.type = i % 3 == 0 ? "task.created" : "decision";
		e.agent = i % 2 ? STR_LIT("agent-odd") : STR_LIT("agent-even");
		e.task_id = i < 10 ? STR_LIT("t1") : STR_LIT("t2");
		assert_int_equal(audit_record(l, &e, NULL, NULL), MANDATE_OK);
	}
	arena_init(&a, 0);
	memset(&q, 0, sizeof(q));
	q.limit = 1000;
	assert_int_equal(store_audit_query(f->s, &q, &a, &ev, &n), MANDATE_OK);
	assert_int_equal(n, 30);
	q.type = STR_LIT("task.created");
	assert_int_equal(store_audit_query(f->s, &q, &a, &ev, &n), MANDATE_OK);
	assert_int_equal(n, 10);
	q.agent = STR_LIT("agent-odd");
	assert_int_equal(store_audit_query(f->s, &q, &a, &ev, &n), MANDATE_OK);
	assert_int_equal(n, 5);                 /* i = 3, 9, 15, 21, 27 */
	q.task_id = STR_LIT("t1");
	assert_int_equal(store_audit_query(f->s, &q, &a, &ev, &n), MANDATE_OK);
	assert_int_equal(n, 2);                 /* 3, 9 */
	memset(&q, 0, sizeof(q));
	q.from_time = 1010;
	q.to_time = 1019;
	q.limit = 4;
	assert_int_equal(store_audit_query(f->s, &q, &a, &ev, &n), MANDATE_OK);
	assert_int_equal(n, 4);
	assert_int_equal(ev[0].time, 1010);
	q.after_id = ev[3].id;                  /* next page */
	assert_int_equal(store_audit_query(f->s, &q, &a, &ev, &n), MANDATE_OK);
	assert_int_equal(n, 4);
	assert_int_equal(ev[0].time, 1014);
	q.after_id = ev[3].id;
	assert_int_equal(store_audit_query(f->s, &q, &a, &ev, &n), MANDATE_OK);
	assert_int_equal(n, 2);                 /* the last page */
	memset(&q, 0, sizeof(q));
	q.newest_first = 1;
	q.limit = 3;
	assert_int_equal(store_audit_query(f->s, &q, &a, &ev, &n), MANDATE_OK);
	assert_int_equal(n, 3);
	assert_int_equal(ev[0].time, 1029);
	q.before_id = ev[2].id;
	assert_int_equal(store_audit_query(f->s, &q, &a, &ev, &n), MANDATE_OK);
	assert_int_equal(ev[0].time, 1026);
	/* bad filters */
	q.limit = 0;
	assert_int_equal(store_audit_query(f->s, &q, &a, &ev, &n),
	    MANDATE_EINVAL);
	q.limit = 1;
	q.from_time = 5;
	q.to_time = 4;
	assert_int_equal(store_audit_query(f->s, &q, &a, &ev, &n),
	    MANDATE_EINVAL);
	arena_free(&a);
	audit_close(l);
}

/* store_audit_append_many: one call, consecutive ids, all or nothing on
 * bad arguments. */
static void
test_append_many(void **state)
{
	struct fx *f = *state;
	struct store_audit_event ev[3];
	int64_t ids[3];
	int res[3];

	memset(ev, 0, sizeof(ev));
	for (int i = 0; i < 3; i++) {
		ev[i].time = 1700000000 + i;
		ev[i].type = STR_LIT("decision");
		ev[i].fields_json = STR_LIT("{}");
	}
	assert_int_equal(store_audit_append_many(f->s, ev, 3, ids, res),
	    MANDATE_OK);
	for (int i = 0; i < 3; i++)
		assert_int_equal(res[i], MANDATE_OK);
	assert_true(ids[0] > 0 && ids[1] == ids[0] + 1 && ids[2] == ids[1] + 1);
	ev[1].type = STR_NULL;                  /* a bad one: none is added */
	assert_int_equal(store_audit_append_many(f->s, ev, 3, ids, res),
	    MANDATE_EINVAL);
	assert_int_equal(count_rows(f), 3);
	assert_int_equal(store_audit_append_many(f->s, ev, 0, ids, res),
	    MANDATE_EINVAL);
}

/* GET /v1/audit's from and to: Unix seconds or RFC 3339. */
static void
test_parse_time(void **state)
{
	static const struct { const char *in; int64_t want; } ok[] = {
		{ "0", 0 }, { "1795878000", 1795878000 },
		{ "2026-11-28T15:00:00Z", 1795878000 },
		{ "2026-11-28t15:00:00z", 1795878000 },
		{ "2026-11-28T15:00:00.123+02:00", 1795870800 },
		{ "1970-01-01T00:00:00Z", 0 },
		{ "2000-02-29T23:59:59-05:30", 951888599 },
	};
	static const char *const bad[] = { "", "-1", "1e9", "yesterday",
	    "2026-11-28", "2026-11-28T15:00:00", "2026-13-01T00:00:00Z",
	    "2026-11-28T24:00:00Z", "2026-11-28T15:00:00+2:00",
	    "1969-12-31T23:59:59Z", "2026-11-28T15:00:00.Z",
	    "1234567890123456789", "2026-11-28T15:00:00Zjunk",
	    "2026-02-29T00:00:00Z", "2026-04-31T00:00:00Z" };
	int64_t t;

	(void)state;
	for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		assert_int_equal(api_audit_parse_time(str_c(ok[i].in), &t),
		    MANDATE_OK);
		assert_int_equal(t, ok[i].want);
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		assert_int_equal(api_audit_parse_time(str_c(bad[i]), &t),
		    MANDATE_EINVAL);
}

static void
test_options(void **state)
{
	struct fx *f = *state;
	struct audit_options o;
	struct audit_log *l = NULL;

	memset(&o, 0, sizeof(o));
	o.store = f->s;
	assert_int_equal(audit_open(&o, &l), MANDATE_EINVAL);   /* no redact */
	o.redact = f->r;
	o.mode = (enum audit_mode)7;
	assert_int_equal(audit_open(&o, &l), MANDATE_EINVAL);
	assert_null(l);
	audit_close(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_sync, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prompt, setup, teardown),
		cmocka_unit_test_setup_teardown(test_prompt_cut_secret, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_oversized, setup, teardown),
		cmocka_unit_test_setup_teardown(test_serialise, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_async, setup, teardown),
		cmocka_unit_test_setup_teardown(test_health_sync, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_health_async, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_members, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_record_async, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_query, setup, teardown),
		cmocka_unit_test_setup_teardown(test_append_many, setup,
		    teardown),
		cmocka_unit_test(test_parse_time),
		cmocka_unit_test_setup_teardown(test_options, setup, teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

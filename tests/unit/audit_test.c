/*
 * audit_test.c - the audit log's record encoding, the store's Merkle
 * leaves and tree head, and signed checkpoints.
 *
 * The store is the real SQLite backend on a temporary file: leaves must
 * be written in the append's transaction in id order (also by concurrent
 * appenders sharing group commits), match the records they hash, give the
 * tree head that merkle_root gives, survive a reopen, and be backfilled
 * when a database from before the tree is migrated.  Checkpoints must
 * round-trip through sign and verify and fail on any change or another
 * key.
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

#include "audit/audit.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/status.h"

struct fx {
	char dir[64];
	char path[128];
	struct store *s;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/mandate-audit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/m.db", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char p[160];

	store_close(f->s);
	unlink(f->path);
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
open_store(struct fx *f, int max_version)
{
	struct store_options o;

	memset(&o, 0, sizeof(o));
	o.max_schema_version = max_version;
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(store_open(&store_sqlite_ops, f->path, &o, &f->s),
	    MANDATE_OK);
}

static void
append(struct store *s, int i)
{
	struct store_audit_event e;
	char fields[64], req[32];
	int64_t id = 0;

	snprintf(fields, sizeof(fields), "{\"n\":%d}", i);
	snprintf(req, sizeof(req), "req-%d", i);
	memset(&e, 0, sizeof(e));
	e.time = 1700000000 + i;
	e.type = STR_LIT("test.event");
	e.request_id = str_c(req);
	e.agent = STR_LIT("spiffe://dev.local/agents/a");
	e.task_id = i % 2 ? STR_LIT("t1") : STR_NULL;
	e.fields_json = str_c(fields);
	assert_int_equal(store_audit_append(s, &e, &id), MANDATE_OK);
	assert_true(id > 0);
}

/* Every stored leaf is the hash of its record, in id order, and the tree
 * head is the MTH of the leaves; returns the number of leaves. */
static size_t
check_leaves(struct store *s)
{
	struct arena a;
	struct store_audit_event *ev;
	struct store_audit_leaf *lv = calloc(STORE_MAX_PAGE, sizeof(*lv));
	uint8_t *all = NULL;
	size_t n_ev = 0, n_lv = 0, i, total = 0;
	int64_t from = 0, size = -1;
	merkle_hash h, root, head;

	assert_non_null(lv);
	arena_init(&a, 0);
	for (;;) {
		assert_int_equal(store_audit_read(s, from, STORE_MAX_PAGE, &a,
		    &ev, &n_ev), MANDATE_OK);
		if (n_ev == 0)
			break;
		assert_int_equal(store_audit_leaves(s, (int64_t)total, n_ev,
		    lv, &n_lv), MANDATE_OK);
		assert_int_equal(n_lv, n_ev);
		all = realloc(all, (total + n_ev) * MERKLE_HASH_LEN);
		assert_non_null(all);
		for (i = 0; i < n_ev; i++) {
			assert_int_equal(lv[i].index, (int64_t)(total + i));
			assert_int_equal(lv[i].event_id, ev[i].id);
			assert_int_equal(audit_record_leaf_hash(&ev[i], h),
			    MANDATE_OK);
			assert_memory_equal(h, lv[i].hash, 32);
			memcpy(all + (total + i) * 32, h, 32);
		}
		total += n_ev;
		from = ev[n_ev - 1].id + 1;
	}
	assert_int_equal(merkle_root(all, total, root), MANDATE_OK);
	assert_int_equal(store_audit_tree_head(s, &size, head), MANDATE_OK);
	assert_int_equal(size, (int64_t)total);
	assert_memory_equal(root, head, 32);
	free(all);
	free(lv);
	arena_free(&a);
	return total;
}

static void
test_encoding(void **state)
{
	static const unsigned char want[] =
	    "\0\0\0\x17" "mandate.audit.record.v1"
	    "\0\0\0\0\0\0\0\x07"             /* id 7 */
	    "\xff\xff\xff\xff\xff\xff\xff\xfe" /* time -2 */
	    "\0\0\0\x01" "t"
	    "\0\0\0\x00"
	    "\0\0\0\x02" "ag"
	    "\0\0\0\x00"
	    "\0\0\0\x02" "{}";
	struct store_audit_event e;
	struct arena a;
	struct str enc;
	merkle_hash h1, h2;

	(void)state;
	arena_init(&a, 0);
	memset(&e, 0, sizeof(e));
	e.id = 7;
	e.time = -2;
	e.type = STR_LIT("t");
	e.agent = STR_LIT("ag");
	e.fields_json = STR_LIT("{}");
	assert_int_equal(audit_record_encode(&e, &a, &enc), MANDATE_OK);
	assert_int_equal(enc.n, sizeof(want) - 1);
	assert_memory_equal(enc.p, want, enc.n);
	assert_int_equal(audit_record_leaf_hash(&e, h1), MANDATE_OK);
	assert_int_equal(merkle_leaf_hash(enc.p, enc.n, h2), MANDATE_OK);
	assert_memory_equal(h1, h2, 32);
	/* moving a byte between adjacent fields changes the leaf */
	e.type = STR_LIT("ta");
	e.agent = STR_LIT("g");
	assert_int_equal(audit_record_leaf_hash(&e, h2), MANDATE_OK);
	assert_memory_not_equal(h1, h2, 32);
	e.type = STR_LIT("t");
	e.agent = STR_LIT("ag");
	e.id = 8;
	assert_int_equal(audit_record_leaf_hash(&e, h2), MANDATE_OK);
	assert_memory_not_equal(h1, h2, 32);
	arena_free(&a);
}

static void *
appender(void *arg)
{
	struct store *s = arg;
	int i;

	for (i = 0; i < 40; i++)
		append(s, 1000 + i);
	return NULL;
}

static void
test_store_leaves(void **state)
{
	struct fx *f = *state;
	pthread_t th[4];
	merkle_hash root;
	int64_t size = -1;
	int i;

	open_store(f, 0);
	assert_int_equal(store_audit_tree_head(f->s, &size, root),
	    MANDATE_OK);
	assert_int_equal(size, 0);
	for (i = 0; i < 37; i++)
		append(f->s, i);
	assert_int_equal(check_leaves(f->s), 37);
	/* concurrent appenders share group commits */
	for (i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, appender, f->s),
		    0);
	for (i = 0; i < 4; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(check_leaves(f->s), 37 + 160);
	/* a fresh handle loads the same tree */
	open_store(f, 0);
	assert_int_equal(check_leaves(f->s), 197);
	append(f->s, 5000);
	assert_int_equal(check_leaves(f->s), 198);
}

/* A database written before the tree existed gets its leaves at the
 * migration. */
static void
test_backfill(void **state)
{
	struct fx *f = *state;
	int v = 0, i;

	sqlite3 *db = NULL;

	/* a schema from before the tree (version 2), and events as that
	 * build wrote them */
	open_store(f, 2);
	store_close(f->s);
	f->s = NULL;
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	for (i = 0; i < 11; i++) {
		char sql[256];
		snprintf(sql, sizeof(sql), "INSERT INTO audit_events (time,"
		    " type, request_id, agent, task_id, fields_json) VALUES"
		    " (%d, 'old.event', 'r%d', 'agent', '', '{\"i\":%d}')",
		    1700000000 + i, i, i);
		assert_int_equal(sqlite3_exec(db, sql, NULL, NULL, NULL),
		    SQLITE_OK);
	}
	sqlite3_close(db);
	open_store(f, 0);
	assert_int_equal(store_schema_version(f->s, &v), MANDATE_OK);
	assert_true(v >= 3);
	assert_int_equal(check_leaves(f->s), 11);
	append(f->s, 11);
	assert_int_equal(check_leaves(f->s), 12);
}

/* Schema 5 rebuilds the audit tables (no AUTOINCREMENT, no index or
 * foreign key on audit_leaves.event_id): a log written at version 4 keeps
 * every event, leaf, checkpoint and id, and goes on from there. */
static void
test_lean_migration(void **state)
{
	static const char *const refused[] = {
		"UPDATE audit_events SET type = 'x'",
		"DELETE FROM audit_events WHERE id = 1",
		"UPDATE audit_leaves SET leaf_hash = zeroblob(32)",
		"DELETE FROM audit_leaves",
	};
	struct fx *f = *state;
	struct store_audit_checkpoint sc;
	struct store_audit_checkpoint *cks = NULL;
	struct arena a;
	sqlite3 *db = NULL;
	sqlite3_stmt *q = NULL;
	size_t n = 0, i;
	int v = 0, i2;

	open_store(f, 4);
	for (i2 = 0; i2 < 25; i2++)
		append(f->s, i2);
	memset(&sc, 0, sizeof(sc));
	sc.tree_size = 25;
	sc.signed_text = STR_LIT("a.b.c");
	assert_int_equal(store_audit_checkpoint_add(f->s, &sc), MANDATE_OK);
	assert_int_equal(check_leaves(f->s), 25);

	open_store(f, 0);
	assert_int_equal(store_schema_version(f->s, &v), MANDATE_OK);
	assert_true(v >= 5);
	assert_int_equal(check_leaves(f->s), 25);
	append(f->s, 25);
	assert_int_equal(check_leaves(f->s), 26);
	arena_init(&a, 0);
	assert_int_equal(store_audit_checkpoints(f->s, 0, 10, &a, &cks, &n),
	    MANDATE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(cks[0].tree_size, 25);
	arena_free(&a);

	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	/* the new event took the next id; no sequence row is kept */
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT max(id), count(*)"
	    " FROM audit_events", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(q, 0), 26);
	assert_int_equal(sqlite3_column_int64(q, 1), 26);
	sqlite3_finalize(q);
	assert_int_equal(sqlite3_prepare_v2(db, "SELECT count(*) FROM"
	    " sqlite_master WHERE sql LIKE '%AUTOINCREMENT%' AND name LIKE"
	    " 'audit%' OR name LIKE '%_v4' OR (type = 'index' AND tbl_name ="
	    " 'audit_leaves')", -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int64(q, 0), 0);
	sqlite3_finalize(q);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		assert_int_not_equal(sqlite3_exec(db, refused[i], NULL, NULL,
		    NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(check_leaves(f->s), 26);
}

/* SQLite only: the tree's tables refuse UPDATE and DELETE like
 * audit_events does. */
static void
test_append_only(void **state)
{
	static const char *const refused[] = {
		"UPDATE audit_leaves SET leaf_hash = zeroblob(32)",
		"DELETE FROM audit_leaves",
		"UPDATE audit_checkpoints SET time = 0",
		"DELETE FROM audit_checkpoints",
	};
	struct fx *f = *state;
	struct store_audit_checkpoint sc;
	sqlite3 *db = NULL;
	size_t i;

	open_store(f, 0);
	append(f->s, 1);
	memset(&sc, 0, sizeof(sc));
	sc.tree_size = 1;
	sc.signed_text = STR_LIT("a.b.c");
	assert_int_equal(store_audit_checkpoint_add(f->s, &sc), MANDATE_OK);
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	for (i = 0; i < sizeof(refused) / sizeof(refused[0]); i++)
		assert_int_not_equal(sqlite3_exec(db, refused[i], NULL, NULL,
		    NULL), SQLITE_OK);
	sqlite3_close(db);
	assert_int_equal(check_leaves(f->s), 1);
}

static int
store_src(void *ctx, uint64_t begin, size_t count, merkle_hash *out)
{
	return audit_store_leaves(ctx, begin, count, out);
}

static void
test_store_proofs(void **state)
{
	struct fx *f = *state;
	struct store_audit_leaf lv[1];
	merkle_hash proof[MERKLE_MAX_PROOF], root, old_root;
	int64_t size = 0, old_size = 0;
	size_t n = 0, got = 0;
	int i;

	open_store(f, 0);
	for (i = 0; i < 21; i++)
		append(f->s, i);
	assert_int_equal(store_audit_tree_head(f->s, &old_size, old_root),
	    MANDATE_OK);
	for (; i < 70; i++)
		append(f->s, i);
	assert_int_equal(store_audit_tree_head(f->s, &size, root), MANDATE_OK);
	assert_int_equal(size, 70);
	for (i = 0; i < 70; i++) {
		assert_int_equal(merkle_inclusion_proof(store_src, f->s,
		    (uint64_t)i, 70, proof, &n), MANDATE_OK);
		assert_int_equal(store_audit_leaves(f->s, i, 1, lv, &got),
		    MANDATE_OK);
		assert_int_equal(merkle_verify_inclusion((uint64_t)i, 70,
		    lv[0].hash, proof[0], n, root), MANDATE_OK);
	}
	assert_int_equal(merkle_consistency_proof(store_src, f->s, 21, 70,
	    proof, &n), MANDATE_OK);
	assert_int_equal(merkle_verify_consistency(21, 70, old_root, root,
	    proof[0], n), MANDATE_OK);
	/* beyond the stored leaves: an error, not a proof */
	assert_int_not_equal(merkle_inclusion_proof(store_src, f->s, 0, 71,
	    proof, &n), MANDATE_OK);
}

/* The daemon's cached proofs equal the plain ones, cold and warm. */
static void
test_cached_proofs(void **state)
{
	struct fx *f = *state;
	struct audit_tree_cache *cache = NULL;
	struct audit_cached_source src;
	merkle_hash a[MERKLE_MAX_PROOF], b[MERKLE_MAX_PROOF], r1, r2;
	size_t na, nb;
	uint64_t sizes[] = { 1, 255, 256, 257, 511, 512, 600, 777 };
	int i, pass, si;

	open_store(f, 0);
	for (i = 0; i < 777; i++)
		append(f->s, i);
	assert_int_equal(audit_tree_cache_new(&cache), MANDATE_OK);
	src.store = f->s;
	src.cache = cache;
	for (pass = 0; pass < 2; pass++)
		for (si = 0; si < 8; si++) {
			uint64_t n = sizes[si], x;
			assert_int_equal(audit_cached_range_root(&src, 0, n, r1),
			    MANDATE_OK);
			assert_int_equal(merkle_range_root(store_src, f->s, 0, n,
			    r2), MANDATE_OK);
			assert_memory_equal(r1, r2, 32);
			for (x = 0; x < n; x += 1 + n / 7) {
				assert_int_equal(merkle_inclusion_proof_r(
				    audit_cached_range_root, &src, x, n, a, &na),
				    MANDATE_OK);
				assert_int_equal(merkle_inclusion_proof(store_src,
				    f->s, x, n, b, &nb), MANDATE_OK);
				assert_int_equal(na, nb);
				if (na)
					assert_memory_equal(a, b, na * 32);
				assert_int_equal(merkle_consistency_proof_r(
				    audit_cached_range_root, &src, x + 1, n, a,
				    &na), MANDATE_OK);
				assert_int_equal(merkle_consistency_proof(
				    store_src, f->s, x + 1, n, b, &nb),
				    MANDATE_OK);
				assert_int_equal(na, nb);
				if (na)
					assert_memory_equal(a, b, na * 32);
			}
		}
	audit_tree_cache_free(cache);
}

static void
test_checkpoints(void **state)
{
	struct fx *f = *state;
	struct jose_key *key = NULL, *other = NULL;
	struct audit_checkpoint c, back;
	struct store_audit_checkpoint sc, *list = NULL, latest;
	struct arena a;
	struct str jws;
	const char *why = NULL;
	char *bad;
	size_t n = 0;

	arena_init(&a, 0);
	open_store(f, 0);
	assert_int_equal(jose_key_generate_es256(STR_LIT("audit-1"), &key),
	    MANDATE_OK);
	assert_int_equal(jose_key_generate_es256(STR_LIT("audit-1"), &other),
	    MANDATE_OK);
	memset(&c, 0, sizeof(c));
	c.size = 5;
	memset(c.root, 0xab, 32);
	c.time = 1700000123;
	assert_int_equal(audit_checkpoint_sign(&a, key, &c, &jws), MANDATE_OK);
	assert_int_equal(audit_checkpoint_verify(&a, jws, key, &back, &why),
	    MANDATE_OK);
	assert_int_equal(back.size, 5);
	assert_int_equal(back.time, 1700000123);
	assert_memory_equal(back.root, c.root, 32);
	/* another key, a changed byte, a truncated token: refused */
	assert_int_equal(audit_checkpoint_verify(&a, jws, other, &back, &why),
	    MANDATE_EINVAL);
	assert_string_equal(why, "bad signature");
	bad = arena_alloc(&a, jws.n + 1);
	memcpy(bad, jws.p, jws.n + 1);
	bad[jws.n / 2] = bad[jws.n / 2] == 'A' ? 'B' : 'A';
	assert_int_equal(audit_checkpoint_verify(&a, str_make(bad, jws.n),
	    key, &back, &why), MANDATE_EINVAL);
	assert_int_equal(audit_checkpoint_verify(&a, str_make(jws.p,
	    jws.n - 3), key, &back, &why), MANDATE_EINVAL);
	assert_int_equal(audit_checkpoint_verify(&a, jws, NULL, &back, &why),
	    MANDATE_EINVAL);
	/* read without its signature: what any signer's token says, and
	 * still only a well-formed checkpoint */
	assert_int_equal(audit_checkpoint_read_unverified(&a, jws, &back,
	    &why), MANDATE_OK);
	assert_int_equal(back.size, 5);
	assert_int_equal(back.time, 1700000123);
	assert_memory_equal(back.root, c.root, 32);
	assert_int_equal(audit_checkpoint_read_unverified(&a,
	    STR_LIT("x.y.z"), &back, &why), MANDATE_EINVAL);
	assert_int_equal(back.size, 0);
	c.size = 0;
	assert_int_equal(audit_checkpoint_sign(&a, key, &c, &jws),
	    MANDATE_EINVAL);

	/* stored: append-only, unique by size, listed by size */
	assert_int_equal(store_audit_checkpoint_latest(f->s, &a, &latest),
	    MANDATE_ENOTFOUND);
	memset(&sc, 0, sizeof(sc));
	sc.tree_size = 9;
	sc.time = 10;
	sc.signed_text = STR_LIT("x.y.z");
	assert_int_equal(store_audit_checkpoint_add(f->s, &sc), MANDATE_OK);
	assert_int_equal(store_audit_checkpoint_add(f->s, &sc), MANDATE_EINVAL);
	sc.tree_size = 3;
	sc.root[0] = 7;
	assert_int_equal(store_audit_checkpoint_add(f->s, &sc), MANDATE_OK);
	sc.tree_size = 0;
	assert_int_equal(store_audit_checkpoint_add(f->s, &sc), MANDATE_EINVAL);
	assert_int_equal(store_audit_checkpoints(f->s, 0, 10, &a, &list, &n),
	    MANDATE_OK);
	assert_int_equal(n, 2);
	assert_int_equal(list[0].tree_size, 3);
	assert_int_equal(list[0].root[0], 7);
	assert_int_equal(list[1].tree_size, 9);
	assert_true(str_eq_c(list[1].signed_text, "x.y.z"));
	assert_int_equal(store_audit_checkpoints(f->s, 3, 10, &a, &list, &n),
	    MANDATE_OK);
	assert_int_equal(n, 1);
	assert_int_equal(store_audit_checkpoint_latest(f->s, &a, &latest),
	    MANDATE_OK);
	assert_int_equal(latest.tree_size, 9);
	jose_key_unref(key);
	jose_key_unref(other);
	arena_free(&a);
}

/* A saved checkpoint line, however its JSON is spaced; a bare JWS. */
static void
test_checkpoint_from_line(void **state)
{
	static const struct {
		const char *line, *want;      /* want NULL: STR_NULL */
	} cases[] = {
		{ "{\"size\":3,\"checkpoint\":\"aa.bb.cc\"}", "aa.bb.cc" },
		{ "{\"size\": 3, \"checkpoint\": \"aa.bb.cc\"}\r", "aa.bb.cc" },
		{ "  {\n  \"checkpoint\" : \"aa.bb.cc\",\n  \"root\": \"x\"\n}",
		  "aa.bb.cc" },
		{ "aa.bb.cc \t", "aa.bb.cc" },
		{ "{\"size\":3}", NULL },
		{ "{\"checkpoint\":3}", NULL },
		{ "{\"checkpoint\":\"aa.b\\u0062.cc\"}", NULL },
		{ "{\"checkpoint\":\"aa.bb.cc\"", NULL },
		{ "{\"note\":\"\\\"checkpoint\\\":\\\"x\"}", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct str got = audit_checkpoint_from_line(str_c(
		    cases[i].line));

		if (cases[i].want == NULL ? got.p != NULL :
		    !str_eq_c(got, cases[i].want))
			fail_msg("case %zu: got '%.*s'", i, (int)got.n,
			    got.p ? got.p : "");
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_encoding),
		cmocka_unit_test(test_checkpoint_from_line),
		cmocka_unit_test_setup_teardown(test_store_leaves, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_backfill, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lean_migration, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_append_only, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_store_proofs, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_cached_proofs, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_checkpoints, setup,
		    teardown),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * walbuf_test.c - the WAL-buffering VFS (src/store/sqlite_walbuf.c).
 *
 * A writer connection on the VFS and a reader on SQLite's default VFS
 * share one database in WAL mode.  After every commit the reader must see
 * exactly what was committed: the buffered frames must be in the file
 * before SQLite publishes the commit, with synchronous=NORMAL too (no sync
 * to flush them).  The cases cover small commits, a transaction larger
 * than the buffer, a transaction that spills pages to the WAL and reads
 * them back (a tiny page cache), a rollback, and a checkpoint; the
 * database must pass integrity_check and the reader's count and sum must
 * match the writer's at each step.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sqlite3.h>

#include "store/sqlite_walbuf.h"

struct fx {
	char dir[64];
	char path[128];
	sqlite3 *w, *r;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	snprintf(f->dir, sizeof(f->dir), "/tmp/walbuf_test.XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->path, sizeof(f->path), "%s/t.db", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char p[160];

	sqlite3_close(f->r);
	sqlite3_close(f->w);
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
exec_ok(sqlite3 *db, const char *sql)
{
	char *err = NULL;
	int rc = sqlite3_exec(db, sql, NULL, NULL, &err);

	if (rc != SQLITE_OK)
		fail_msg("%s: %s", sql, err != NULL ? err : "?");
}

static int64_t
one_int(sqlite3 *db, const char *sql)
{
	sqlite3_stmt *q = NULL;
	int64_t v;

	assert_int_equal(sqlite3_prepare_v2(db, sql, -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	v = sqlite3_column_int64(q, 0);
	sqlite3_finalize(q);
	return v;
}

/* The reader sees rows and sum, and the database is sound. */
static void
reader_sees(struct fx *f, int64_t rows, int64_t sum)
{
	sqlite3_stmt *q = NULL;

	assert_int_equal(one_int(f->r, "SELECT count(*) FROM t"), rows);
	assert_int_equal(one_int(f->r, "SELECT coalesce(sum(n), 0) FROM t"),
	    sum);
	assert_int_equal(sqlite3_prepare_v2(f->r, "PRAGMA integrity_check",
	    -1, &q, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(q), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(q, 0), "ok");
	sqlite3_finalize(q);
}

static void
open_both(struct fx *f, const char *sync)
{
	char sql[64];

	assert_int_equal(sqlite_walbuf_register(), SQLITE_OK);
	assert_int_equal(sqlite_walbuf_register(), SQLITE_OK);   /* once */
	assert_int_equal(sqlite3_open_v2(f->path, &f->w, SQLITE_OPEN_READWRITE |
	    SQLITE_OPEN_CREATE, SQLITE_WALBUF_VFS), SQLITE_OK);
	exec_ok(f->w, "PRAGMA journal_mode = WAL");
	snprintf(sql, sizeof(sql), "PRAGMA synchronous = %s", sync);
	exec_ok(f->w, sql);
	exec_ok(f->w, "PRAGMA wal_autocheckpoint = 0");
	exec_ok(f->w, "CREATE TABLE t (id INTEGER PRIMARY KEY, n INTEGER,"
	    " pad BLOB)");
	assert_int_equal(sqlite3_open_v2(f->path, &f->r, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
}

static void
run_cases(struct fx *f)
{
	int64_t rows = 0, sum = 0;
	char sql[160];
	int i;

	/* small commits, one after another */
	for (i = 1; i <= 20; i++) {
		snprintf(sql, sizeof(sql), "INSERT INTO t (n, pad) VALUES (%d,"
		    " zeroblob(%d))", i, 100 * i);
		exec_ok(f->w, sql);
		rows++;
		sum += i;
		reader_sees(f, rows, sum);
	}
	/* one transaction far larger than the buffer (256 KiB) */
	exec_ok(f->w, "BEGIN");
	for (i = 0; i < 300; i++)
		exec_ok(f->w, "INSERT INTO t (n, pad) VALUES (1,"
		    " randomblob(3000))");
	exec_ok(f->w, "COMMIT");
	rows += 300;
	sum += 300;
	reader_sees(f, rows, sum);
	/* a tiny page cache: the transaction spills pages to the WAL and
	 * reads them back before it commits */
	exec_ok(f->w, "PRAGMA cache_size = 2");
	exec_ok(f->w, "BEGIN");
	for (i = 0; i < 200; i++)
		exec_ok(f->w, "INSERT INTO t (n, pad) VALUES (2,"
		    " randomblob(500))");
	exec_ok(f->w, "UPDATE t SET n = n + 1 WHERE id % 7 = 0");
	exec_ok(f->w, "COMMIT");
	rows += 200;
	sum = one_int(f->w, "SELECT sum(n) FROM t");
	reader_sees(f, rows, sum);
	/* a rolled-back transaction leaves nothing */
	exec_ok(f->w, "BEGIN");
	exec_ok(f->w, "INSERT INTO t (n, pad) VALUES (1000, zeroblob(9000))");
	exec_ok(f->w, "ROLLBACK");
	reader_sees(f, rows, sum);
	/* a checkpoint, then commits that restart the WAL */
	exec_ok(f->w, "PRAGMA wal_checkpoint(TRUNCATE)");
	for (i = 0; i < 5; i++) {
		exec_ok(f->w, "INSERT INTO t (n, pad) VALUES (3, zeroblob(10))");
		rows++;
		sum += 3;
		reader_sees(f, rows, sum);
	}
}

/* synchronous=NORMAL: no sync at commit, so only the commit frame's
 * flush puts the frames in the file before the reader looks. */
static void
test_normal(void **state)
{
	struct fx *f = *state;

	open_both(f, "NORMAL");
	run_cases(f);
}

/* synchronous=FULL, as the store opens every connection. */
static void
test_full(void **state)
{
	struct fx *f = *state;

	open_both(f, "FULL");
	run_cases(f);
}

/* The file survives the writer's close with all it committed, and the
 * default VFS reopens it. */
static void
test_reopen(void **state)
{
	struct fx *f = *state;

	open_both(f, "FULL");
	exec_ok(f->w, "INSERT INTO t (n, pad) VALUES (7, zeroblob(70))");
	sqlite3_close(f->r);
	f->r = NULL;
	sqlite3_close(f->w);
	f->w = NULL;
	assert_int_equal(sqlite3_open_v2(f->path, &f->r, SQLITE_OPEN_READONLY,
	    NULL), SQLITE_OK);
	reader_sees(f, 1, 7);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_normal, setup, teardown),
		cmocka_unit_test_setup_teardown(test_full, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reopen, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

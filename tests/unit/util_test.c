/* util_test.c - arena, diagnostics and status text. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "util/arena.h"
#include "util/diag.h"
#include "util/file.h"
#include "util/status.h"
#include "util/utf8.h"

static void
test_arena_alloc_and_limit(void **state)
{
	struct arena a;
	char *p;

	(void)state;
	arena_init(&a, 1024);
	p = arena_alloc(&a, 100);
	assert_non_null(p);
	assert_int_equal((uintptr_t)p % 16, 0);
	memset(p, 'x', 100);
	assert_false(a.exhausted);
	assert_null(arena_alloc(&a, 2000));      /* past the limit */
	assert_true(a.exhausted);                /* said why */
	arena_reset(&a);
	assert_false(a.exhausted);
	assert_non_null(arena_alloc(&a, 100));
	assert_non_null(arena_alloc(&a, 500));
	assert_false(a.exhausted);
	assert_null(arena_alloc(&a, 500));       /* cumulative limit */
	assert_true(a.exhausted);
	arena_free(&a);
	assert_false(a.exhausted);
	/* an injected failure is not the limit */
	arena_init(&a, 1024);
	a.fail_after = 1;
	assert_null(arena_alloc(&a, 10));
	assert_false(a.exhausted);
	arena_free(&a);
}

static void
test_arena_big_blocks_and_reset(void **state)
{
	struct arena a;

	(void)state;
	arena_init(&a, 0);
	for (int i = 0; i < 1000; i++)
		assert_non_null(arena_zalloc(&a, (size_t)(i * 37 % 5000 + 1)));
	assert_non_null(arena_alloc(&a, 1u << 20));
	arena_reset(&a);
	assert_int_equal(a.used_total, 0);
	assert_non_null(arena_alloc(&a, 10));
	arena_free(&a);
}

static void
test_arena_strdup_and_failure_injection(void **state)
{
	struct arena a;
	struct str s;

	(void)state;
	arena_init(&a, 0);
	s = arena_strdup(&a, "hello", 5);
	assert_int_equal(s.n, 5);
	assert_string_equal(s.p, "hello");
	a.fail_after = 2;
	assert_non_null(arena_alloc(&a, 8));
	assert_null(arena_alloc(&a, 8));        /* the second one fails */
	assert_non_null(arena_alloc(&a, 8));    /* then normal again */
	assert_null(arena_calloc(&a, SIZE_MAX / 2, 4));
	arena_free(&a);
}

static void
test_diag_linecol_and_overflow(void **state)
{
	struct diag_list dl;
	const char *src = "ab\ncd\nef";
	size_t line, col;

	(void)state;
	diag_init(&dl);
	diag_add(&dl, MANDATE_EPARSE, "f.cedar", src, strlen(src), 4, 1,
	    "bad %s", "token");
	diag_linecol(&dl.items[0], &line, &col);
	assert_int_equal(line, 2);
	assert_int_equal(col, 2);
	assert_string_equal(dl.items[0].msg, "bad token");
	/* a message too long for its buffer says it was cut, and is cut
	 * at a character's start (é is two bytes) */
	{
		char longm[DIAG_MSG_MAX * 2];

		for (size_t i = 0; i + 2 < sizeof(longm); i += 2)
			memcpy(longm + i, "\xc3\xa9", 2);
		longm[sizeof(longm) - 1] = '\0';
		diag_add(&dl, MANDATE_EPARSE, NULL, NULL, 0, 0, 0, "x%s", longm);
		const char *m = dl.items[1].msg;
		size_t n = strlen(m);
		assert_true(n < DIAG_MSG_MAX);
		assert_string_equal(m + n - 3, "...");
		assert_int_equal(((unsigned char)m[n - 4] & 0xc0), 0x80);
		assert_int_equal((unsigned char)m[n - 5], 0xc3);
	}
	for (int i = 0; i < DIAG_MAX + 5; i++)
		diag_add(&dl, MANDATE_EPARSE, NULL, NULL, 0, 0, 0, "x");
	assert_int_equal(dl.n, DIAG_MAX);
	assert_int_equal(dl.dropped, 7);
}

static void
test_utf8(void **state)
{
	static const struct { const char *s; size_t n, bad; } cases[] = {
		{ "plain ascii", 11, 11 },
		{ "caf\xc3\xa9", 5, 5 },
		{ "\xe2\x82\xac\xf0\x9f\x98\x80", 7, 7 },  /* U+20AC U+1F600 */
		{ "a\xc0\xaf" "b", 4, 1 },           /* overlong '/' */
		{ "a\xed\xa0\x80", 4, 1 },        /* surrogate U+D800 */
		{ "\xf4\x90\x80\x80", 4, 0 },     /* above U+10FFFF */
		{ "ab\xe2\x82", 4, 2 },            /* truncated */
		{ "\x80", 1, 0 },                  /* lone continuation */
	};
	unsigned char buf[4];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		assert_int_equal(utf8_invalid_at(cases[i].s, cases[i].n),
		    cases[i].bad);
	/* the eight-bytes-at-a-time ASCII run: a bad byte or a valid
	 * sequence at every position after runs of every length, and the
	 * string's end anywhere */
	for (size_t pre = 0; pre < 40; pre++) {
		char t[64];

		memset(t, 'a', sizeof(t));
		t[pre] = '\xff';
		assert_int_equal(utf8_invalid_at(t, pre + 1), pre);
		assert_int_equal(utf8_invalid_at(t, pre), pre);
		assert_int_equal(utf8_invalid_at(t, sizeof(t)), pre);
		t[pre] = '\xc3';
		t[pre + 1] = '\xa9';
		assert_int_equal(utf8_invalid_at(t, sizeof(t)), sizeof(t));
		assert_int_equal(utf8_invalid_at(t, pre + 1), pre);
	}
	assert_int_equal(utf8_encode(0x24, buf), 1);
	assert_int_equal(utf8_encode(0xE9, buf), 2);
	assert_memory_equal(buf, "\xc3\xa9", 2);
	assert_int_equal(utf8_encode(0x20AC, buf), 3);
	assert_memory_equal(buf, "\xe2\x82\xac", 3);
	assert_int_equal(utf8_encode(0x1F600, buf), 4);
	assert_memory_equal(buf, "\xf0\x9f\x98\x80", 4);
	assert_int_equal(hex_digit_value('7'), 7);
	assert_int_equal(hex_digit_value('f'), 15);
	assert_int_equal(hex_digit_value('B'), 11);
	assert_int_equal(hex_digit_value('g'), -1);
}

static void
test_strerror(void **state)
{
	(void)state;
	assert_string_equal(mandate_strerror(MANDATE_OK), "success");
	assert_string_equal(mandate_strerror(12345), "unknown status");
}

/* file_make_parent: one level, 0700; an existing directory is fine; a
 * file in the way or a missing grandparent is not. */
static void
test_make_parent(void **state)
{
	char base[] = "/tmp/mandate-util-XXXXXX", p[256], q[256];
	struct stat st;
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(base));
	snprintf(p, sizeof(p), "%s/audit/checkpoints.jsonl", base);
	assert_int_equal(file_make_parent(p), MANDATE_OK);
	snprintf(q, sizeof(q), "%s/audit", base);
	assert_int_equal(stat(q, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(file_make_parent(p), MANDATE_OK);   /* again */
	assert_int_equal(file_make_parent("name-only"), MANDATE_OK);
	snprintf(p, sizeof(p), "%s/a/b/c", base);          /* two levels */
	assert_int_equal(file_make_parent(p), MANDATE_EIO);
	snprintf(q, sizeof(q), "%s/file", base);
	assert_non_null(fp = fopen(q, "w"));
	fclose(fp);
	snprintf(p, sizeof(p), "%s/file/x", base);         /* a file there */
	assert_int_equal(file_make_parent(p), MANDATE_EIO);
	unlink(q);
	snprintf(q, sizeof(q), "%s/audit", base);
	rmdir(q);
	rmdir(base);
}

/* A named pipe is refused at once, not waited on (no writer ever
 * comes here); a regular file and a directory read as file_read_all's. */
static void
test_read_regular(void **state)
{
	char base[] = "/tmp/mandate-util-XXXXXX", p[256];
	char *buf = NULL;
	size_t len = 0;
	FILE *fp;

	(void)state;
	assert_non_null(mkdtemp(base));
	snprintf(p, sizeof(p), "%s/pipe", base);
	assert_int_equal(mkfifo(p, 0600), 0);
	assert_int_equal(file_read_regular(p, 100, &buf, &len), MANDATE_EINVAL);
	assert_null(buf);
	unlink(p);
	assert_int_equal(file_read_regular(base, 100, &buf, &len), MANDATE_EIO);
	snprintf(p, sizeof(p), "%s/f", base);
	assert_non_null(fp = fopen(p, "w"));
	fputs("hello", fp);
	fclose(fp);
	assert_int_equal(file_read_regular(p, 100, &buf, &len), MANDATE_OK);
	assert_int_equal(len, 5);
	assert_string_equal(buf, "hello");
	free(buf);
	assert_int_equal(file_read_regular(p, 4, &buf, &len), MANDATE_ELIMIT);
	assert_null(buf);
	unlink(p);
	assert_int_equal(file_read_regular(p, 100, &buf, &len), MANDATE_EIO);
	rmdir(base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_arena_alloc_and_limit),
		cmocka_unit_test(test_arena_big_blocks_and_reset),
		cmocka_unit_test(test_arena_strdup_and_failure_injection),
		cmocka_unit_test(test_diag_linecol_and_overflow),
		cmocka_unit_test(test_utf8),
		cmocka_unit_test(test_strerror),
		cmocka_unit_test(test_make_parent),
		cmocka_unit_test(test_read_regular),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

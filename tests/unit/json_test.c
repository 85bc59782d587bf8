/*
 * json_test.c - the arena JSON parser (util/json.h): JSONTestSuite-style
 * accept (y_) and reject (n_) cases with the offset of the error, decoded
 * strings and numbers, spans, duplicate keys, limits and lookups.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/status.h"

#define DUP AJSON_REJECT_DUPLICATES

struct syn_case {
	const char *name;
	const char *json;     /* NUL-terminated unless len is set */
	size_t len;           /* 0: strlen(json) */
	unsigned flags;
	int depth;            /* 0: 64 */
	int status;
	long off;             /* offset of the error, -1: don't check */
	const char *msg;      /* substring of the message, may be NULL */
};

static const struct syn_case syn_cases[] = {
	/* accepted */
	{ "y_empty_array", "[]", 0, 0, 0, MANDATE_OK, -1, NULL },
	{ "y_empty_object", "{}", 0, 0, 0, MANDATE_OK, -1, NULL },
	{ "y_ws_around", " \t\r\n[ 1 , 2 ]\n ", 0, 0, 0, MANDATE_OK, -1, NULL },
	{ "y_scalar_string", "\"a\"", 0, 0, 0, MANDATE_OK, -1, NULL },
	{ "y_scalar_true", "true", 0, 0, 0, MANDATE_OK, -1, NULL },
	{ "y_scalar_false", "false", 0, 0, 0, MANDATE_OK, -1, NULL },
	{ "y_scalar_null", "null", 0, 0, 0, MANDATE_OK, -1, NULL },
	{ "y_number_0", "0", 0, 0, 0, MANDATE_OK, -1, NULL },
	{ "y_number_minus_0", "-0", 0, 0, 0, MANDATE_OK, -1, NULL },
	{ "y_number_frac_exp", "[-1.25e+10, 1E-2, 0.5, 1e5]", 0, 0, 0,
	  MANDATE_OK, -1, NULL },
	{ "y_number_huge", "123456789012345678901234567890", 0, 0, 0,
	  MANDATE_OK, -1, NULL },
	{ "y_string_escapes", "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\\u0041\"", 0, 0,
	  0, MANDATE_OK, -1, NULL },
	{ "y_string_pair", "\"\\uD834\\uDD1E\"", 0, 0, 0, MANDATE_OK, -1,
	  NULL },
	{ "y_string_utf8", "\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\xef\xbf\xbf"
	  "\"", 0, 0, 0, MANDATE_OK, -1, NULL },
	{ "y_string_nul_escape", "{\"\\u0000\":\"\\u0000\"}", 0, DUP, 0,
	  MANDATE_OK, -1, NULL },
	{ "y_dup_allowed", "{\"a\":1,\"a\":2}", 0, 0, 0, MANDATE_OK, -1,
	  NULL },
	{ "y_nested", "[[[{\"a\":[{}]}]]]", 0, 0, 0, MANDATE_OK, -1, NULL },
	{ "y_depth_exact", "[[[]]]", 0, 0, 3, MANDATE_OK, -1, NULL },
	{ "y_del_in_string", "\"\x7f\"", 0, 0, 0, MANDATE_OK, -1, NULL },
	/* structure */
	{ "n_empty", "", 0, 0, 0, MANDATE_EPARSE, 0, "end of input" },
	{ "n_only_ws", "  ", 0, 0, 0, MANDATE_EPARSE, 2, "expected a value" },
	{ "n_trailing_garbage", "[] x", 0, 0, 0, MANDATE_EPARSE, 3,
	  "end of input after" },
	{ "n_two_values", "1 2", 0, 0, 0, MANDATE_EPARSE, 2, NULL },
	{ "n_array_trailing_comma", "[1,]", 0, 0, 0, MANDATE_EPARSE, 3,
	  "expected a value" },
	{ "n_array_leading_comma", "[,1]", 0, 0, 0, MANDATE_EPARSE, 1, NULL },
	{ "n_array_unclosed", "[1", 0, 0, 0, MANDATE_EPARSE, 2,
	  "',' or ']'" },
	{ "n_array_missing_comma", "[1 2]", 0, 0, 0, MANDATE_EPARSE, 3, NULL },
	{ "n_object_trailing_comma", "{\"a\":1,}", 0, 0, 0, MANDATE_EPARSE, 7,
	  "string key" },
	{ "n_object_unquoted_key", "{a:1}", 0, 0, 0, MANDATE_EPARSE, 1, NULL },
	{ "n_object_missing_colon", "{\"a\" 1}", 0, 0, 0, MANDATE_EPARSE, 5,
	  "':'" },
	{ "n_object_missing_value", "{\"a\":}", 0, 0, 0, MANDATE_EPARSE, 5,
	  NULL },
	{ "n_object_unclosed", "{\"a\":1", 0, 0, 0, MANDATE_EPARSE, 6, NULL },
	{ "n_single_quote", "['a']", 0, 0, 0, MANDATE_EPARSE, 1, NULL },
	{ "n_comment", "[1/*x*/]", 0, 0, 0, MANDATE_EPARSE, 2, NULL },
	{ "n_bom", "\xef\xbb\xbf[]", 0, 0, 0, MANDATE_EPARSE, 0, NULL },
	{ "n_nul_byte", "[1]\0", 4, 0, 0, MANDATE_EPARSE, 3, NULL },
	{ "n_formfeed_ws", "[\f]", 0, 0, 0, MANDATE_EPARSE, 1, NULL },
	/* literals */
	{ "n_true_partial", "tru", 0, 0, 0, MANDATE_EPARSE, 0, NULL },
	{ "n_true_caps", "True", 0, 0, 0, MANDATE_EPARSE, 0, NULL },
	{ "n_nan", "NaN", 0, 0, 0, MANDATE_EPARSE, 0, NULL },
	{ "n_truex", "truex", 0, 0, 0, MANDATE_EPARSE, 4, NULL },
	/* numbers */
	{ "n_leading_zero", "01", 0, 0, 0, MANDATE_EPARSE, 0, "leading zero" },
	{ "n_minus_leading_zero", "[-012]", 0, 0, 0, MANDATE_EPARSE, 1,
	  "leading zero" },
	{ "n_plus", "+1", 0, 0, 0, MANDATE_EPARSE, 0, NULL },
	{ "n_minus_alone", "[-]", 0, 0, 0, MANDATE_EPARSE, 2, "digit" },
	{ "n_dot_no_digits", "1.", 0, 0, 0, MANDATE_EPARSE, 2, "digit" },
	{ "n_dot_first", ".5", 0, 0, 0, MANDATE_EPARSE, 0, NULL },
	{ "n_exp_no_digits", "1e", 0, 0, 0, MANDATE_EPARSE, 2, "exponent" },
	{ "n_exp_sign_only", "[1e+]", 0, 0, 0, MANDATE_EPARSE, 4, "exponent" },
	{ "n_hex", "0x10", 0, 0, 0, MANDATE_EPARSE, 1, NULL },
	{ "n_infinity", "-Infinity", 0, 0, 0, MANDATE_EPARSE, 1, NULL },
	/* strings */
	{ "n_unterminated", "[\"abc", 0, 0, 0, MANDATE_EPARSE, 1,
	  "unterminated" },
	{ "n_raw_newline", "\"a\nb\"", 0, 0, 0, MANDATE_EPARSE, 2,
	  "control character" },
	{ "n_raw_tab", "\"\t\"", 0, 0, 0, MANDATE_EPARSE, 1, NULL },
	{ "n_raw_nul", "\"a\0\"", 4, 0, 0, MANDATE_EPARSE, 2, NULL },
	{ "n_bad_escape", "\"\\x41\"", 0, 0, 0, MANDATE_EPARSE, 1,
	  "invalid escape" },
	{ "n_escape_at_end", "\"\\", 0, 0, 0, MANDATE_EPARSE, 1, NULL },
	{ "n_short_u", "\"\\u12\"", 0, 0, 0, MANDATE_EPARSE, 1, "hex" },
	{ "n_bad_hex", "[\"\\u12G4\"]", 0, 0, 0, MANDATE_EPARSE, 2, "hex" },
	{ "n_lone_lead_surrogate", "\"\\uD800\"", 0, 0, 0, MANDATE_EPARSE, 1,
	  "lone leading surrogate" },
	{ "n_lead_then_char", "\"\\uD800x\"", 0, 0, 0, MANDATE_EPARSE, 1,
	  "lone leading surrogate" },
	{ "n_lead_lead", "\"\\uD800\\uD800\"", 0, 0, 0, MANDATE_EPARSE, 1,
	  "lone leading surrogate" },
	{ "n_lone_trail_surrogate", "\"ab\\uDC00\"", 0, 0, 0, MANDATE_EPARSE,
	  3, "lone trailing surrogate" },
	{ "n_utf8_continuation", "\"\x80\"", 0, 0, 0, MANDATE_EPARSE, 1,
	  "UTF-8" },
	{ "n_utf8_overlong_2", "\"\xc0\xaf\"", 0, 0, 0, MANDATE_EPARSE, 1,
	  "UTF-8" },
	{ "n_utf8_overlong_3", "\"\xe0\x80\xaf\"", 0, 0, 0, MANDATE_EPARSE, 1,
	  "UTF-8" },
	{ "n_utf8_overlong_4", "\"\xf0\x80\x80\xaf\"", 0, 0, 0, MANDATE_EPARSE,
	  1, "UTF-8" },
	{ "n_utf8_surrogate", "\"\xed\xa0\x80\"", 0, 0, 0, MANDATE_EPARSE, 1,
	  "UTF-8" },
	{ "n_utf8_too_big", "\"\xf4\x90\x80\x80\"", 0, 0, 0, MANDATE_EPARSE, 1,
	  "UTF-8" },
	{ "n_utf8_f5", "\"\xf5\x80\x80\x80\"", 0, 0, 0, MANDATE_EPARSE, 1,
	  "UTF-8" },
	{ "n_utf8_truncated", "\"\xe2\x82\"", 0, 0, 0, MANDATE_EPARSE, 1,
	  "UTF-8" },
	{ "n_utf8_truncated_end", "\"\xf0\x9f\x98", 0, 0, 0, MANDATE_EPARSE,
	  1, NULL },
	{ "n_utf8_bad_second", "[\"a\xc3(\"]", 0, 0, 0, MANDATE_EPARSE, 3,
	  "UTF-8" },
	{ "n_utf8_in_key", "{\"\xff\":1}", 0, 0, 0, MANDATE_EPARSE, 2,
	  "UTF-8" },
	{ "n_utf8_outside", "[\xc3\xa9]", 0, 0, 0, MANDATE_EPARSE, 1, NULL },
	/* duplicates (offset: the repeated key) */
	{ "n_dup", "{\"a\":1,\"a\":2}", 0, DUP, 0, MANDATE_EPARSE, 7,
	  "duplicate" },
	{ "n_dup_escaped", "{\"a\":1,\"\\u0061\":2}", 0, DUP, 0,
	  MANDATE_EPARSE, 7, "duplicate" },
	{ "n_dup_nested", "[{\"x\":{\"k\":1,\"j\":2,\"k\":3}}]", 0, DUP, 0,
	  MANDATE_EPARSE, 19, "duplicate" },
	{ "n_dup_nul", "{\"\\u0000\":1,\"\\u0000\":1}", 0, DUP, 0,
	  MANDATE_EPARSE, 12, "duplicate" },
	{ "y_nul_prefix_not_dup", "{\"a\":1,\"a\\u0000\":2}", 0, DUP, 0,
	  MANDATE_OK, -1, NULL },
	/* limits */
	{ "n_depth", "[[[[]]]]", 0, 0, 3, MANDATE_ELIMIT, 3, "deeply" },
	{ "n_depth_object", "{\"a\":{\"b\":{}}}", 0, 0, 2, MANDATE_ELIMIT, 10,
	  "deeply" },
};

static void
check_syn_case(const struct syn_case *tc)
{
	struct ajson_opts o = { .flags = tc->flags,
	    .max_depth = tc->depth ? tc->depth : 64, .file = "t.json" };
	size_t len = tc->len ? tc->len : strlen(tc->json);
	const struct ajson *root = NULL;
	struct diag_list dl;
	struct arena a;
	int r;

	arena_init(&a, 1u << 20);
	diag_init(&dl);
	r = ajson_parse(&a, tc->json, len, &o, &root, &dl);
	if (r != tc->status) {
		print_message("case %s: status %d, want %d\n", tc->name, r,
		    tc->status);
		diag_print(&dl, stdout);
		fail();
	}
	if (r == MANDATE_OK) {
		assert_non_null(root);
		assert_int_equal(dl.n, 0);
		assert_true(root->off + root->len <= len);
	} else {
		assert_null(root);
		assert_int_equal(dl.n, 1);
		assert_non_null(strstr(dl.items[0].msg, "invalid JSON: "));
		if (tc->msg != NULL && strstr(dl.items[0].msg, tc->msg) == NULL) {
			print_message("case %s: message '%s' lacks '%s'\n",
			    tc->name, dl.items[0].msg, tc->msg);
			fail();
		}
		if (tc->off >= 0 && dl.items[0].off != (size_t)tc->off) {
			print_message("case %s: offset %zu, want %ld (%s)\n",
			    tc->name, dl.items[0].off, tc->off,
			    dl.items[0].msg);
			fail();
		}
	}
	arena_free(&a);
}

static void
test_syntax_cases(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(syn_cases) / sizeof(syn_cases[0]); i++)
		check_syn_case(&syn_cases[i]);
}

static const struct ajson *
parse_ok(struct arena *a, const char *json, size_t len, unsigned flags)
{
	struct ajson_opts o = { .flags = flags, .max_depth = 64 };
	const struct ajson *root = NULL;
	struct diag_list dl;

	diag_init(&dl);
	if (ajson_parse(a, json, len, &o, &root, &dl) != MANDATE_OK) {
		diag_print(&dl, stdout);
		fail();
	}
	return root;
}

/* decoded string value of each case */
static const struct {
	const char *json;
	const char *want;
	size_t want_len;
} str_cases[] = {
	{ "\"\"", "", 0 },
	{ "\"plain\"", "plain", 5 },
	{ "\"\\\"\\\\\\/\\b\\f\\n\\r\\t\"", "\"\\/\b\f\n\r\t", 8 },
	{ "\"\\u0041\\u00e9\\u20AC\"", "A\xc3\xa9\xe2\x82\xac", 6 },
	{ "\"a\\u0000b\"", "a\0b", 3 },
	{ "\"\\uD834\\uDD1E\"", "\xf0\x9d\x84\x9e", 4 },
	{ "\"\\uDBFF\\uDFFF\"", "\xf4\x8f\xbf\xbf", 4 },
	{ "\"\\uFFFF\"", "\xef\xbf\xbf", 3 },
	{ "\"x\xf0\x9f\x98\x80y\"", "x\xf0\x9f\x98\x80y", 6 },
	{ "\"\\\\u0000\"", "\\u0000", 6 },
};

static void
test_strings(void **state)
{
	struct arena a;

	(void)state;
	arena_init(&a, 0);
	for (size_t i = 0; i < sizeof(str_cases) / sizeof(str_cases[0]); i++) {
		const struct ajson *j = parse_ok(&a, str_cases[i].json,
		    strlen(str_cases[i].json), 0);

		assert_int_equal(j->type, AJSON_STRING);
		assert_int_equal(j->off, 0);
		assert_int_equal(j->len, strlen(str_cases[i].json));
		if (j->u.s.n != str_cases[i].want_len) {
			print_message("string %s: length %zu, want %zu\n",
			    str_cases[i].json, j->u.s.n, str_cases[i].want_len);
			fail();
		}
		assert_memory_equal(j->u.s.p, str_cases[i].want,
		    str_cases[i].want_len);
	}
	arena_free(&a);
}

static const struct {
	const char *json;
	bool is_int, fits;
	int64_t value;
} num_cases[] = {
	{ "0", true, true, 0 },
	{ "-0", true, true, 0 },
	{ "42", true, true, 42 },
	{ "-17", true, true, -17 },
	{ "9223372036854775807", true, true, INT64_MAX },
	{ "-9223372036854775808", true, true, INT64_MIN },
	{ "9223372036854775808", true, false, 0 },
	{ "-9223372036854775809", true, false, 0 },
	{ "18446744073709551615", true, false, 0 },
	{ "18446744073709551616", true, false, 0 },
	{ "99999999999999999999999999", true, false, 0 },
	{ "1.0", false, false, 0 },
	{ "1e2", false, false, 0 },
	{ "-0.0", false, false, 0 },
	{ "1E+2", false, false, 0 },
};

static void
test_numbers(void **state)
{
	struct arena a;

	(void)state;
	arena_init(&a, 0);
	for (size_t i = 0; i < sizeof(num_cases) / sizeof(num_cases[0]); i++) {
		const struct ajson *j = parse_ok(&a, num_cases[i].json,
		    strlen(num_cases[i].json), 0);

		assert_int_equal(j->type, AJSON_NUMBER);
		assert_int_equal(j->len, strlen(num_cases[i].json));
		if (j->num_int != num_cases[i].is_int ||
		    j->num_fits != num_cases[i].fits) {
			print_message("number %s: int %d fits %d\n",
			    num_cases[i].json, j->num_int, j->num_fits);
			fail();
		}
		if (j->num_fits)
			assert_true(j->u.i == num_cases[i].value);
	}
	arena_free(&a);
}

static void
test_tree_and_spans(void **state)
{
	const char *json = " {\"a\" : [1, true, null, \"s\\n\"], \"b\":{},"
	    "\"c\\u0000\":false} ";
	const struct ajson *root, *arr, *b;
	const struct ajson_member *m;
	struct arena a;

	(void)state;
	arena_init(&a, 0);
	root = parse_ok(&a, json, strlen(json), DUP);
	assert_int_equal(root->type, AJSON_OBJECT);
	assert_int_equal(root->off, 1);
	assert_int_equal(root->len, strlen(json) - 2);
	assert_int_equal(root->u.obj.n, 3);
	/* members in document order with their key spans */
	assert_true(str_eq_c(root->u.obj.items[0].key, "a"));
	assert_int_equal(root->u.obj.items[0].key_off, 2);
	assert_int_equal(root->u.obj.items[0].key_len, 3);
	assert_true(str_eq_c(root->u.obj.items[1].key, "b"));
	assert_int_equal(root->u.obj.items[2].key.n, 2);
	arr = ajson_get(root, "a");
	assert_non_null(arr);
	assert_int_equal(arr->type, AJSON_ARRAY);
	assert_int_equal(arr->off, 8);
	assert_int_equal(arr->u.arr.n, 4);
	assert_int_equal(arr->u.arr.items[0].type, AJSON_NUMBER);
	assert_int_equal(arr->u.arr.items[0].off, 9);
	assert_int_equal(arr->u.arr.items[1].type, AJSON_TRUE);
	assert_int_equal(arr->u.arr.items[1].off, 12);
	assert_int_equal(arr->u.arr.items[2].type, AJSON_NULL);
	assert_int_equal(arr->u.arr.items[3].type, AJSON_STRING);
	assert_int_equal(arr->u.arr.items[3].len, 5);
	assert_true(str_eq_c(arr->u.arr.items[3].u.s, "s\n"));
	b = ajson_get(root, "b");
	assert_non_null(b);
	assert_int_equal(b->u.obj.n, 0);
	assert_null(ajson_get(root, "c"));    /* the key is "c\0" */
	m = ajson_member(root, str_make("c\0", 2));
	assert_non_null(m);
	assert_int_equal(m->val.type, AJSON_FALSE);
	assert_null(ajson_get(arr, "a"));      /* not an object */
	assert_null(ajson_get(NULL, "a"));
	assert_string_equal(ajson_kind(arr), "an array");
	assert_string_equal(ajson_kind(&arr->u.arr.items[0]), "an integer");
	arena_free(&a);
}

static void
test_duplicates_last_wins(void **state)
{
	const char *json = "{\"a\":1,\"b\":2,\"a\":3}";
	const struct ajson *root;
	struct arena a;

	(void)state;
	arena_init(&a, 0);
	root = parse_ok(&a, json, strlen(json), 0);
	assert_int_equal(ajson_get(root, "a")->u.i, 3);
	arena_free(&a);
}

/* Big objects: duplicates found by sorting; the first repetition in
 * document order is the one reported. */
static void
test_big_object_duplicates(void **state)
{
	size_t cap = 200000, n = 0;
	char *buf = malloc(cap);
	struct ajson_opts o = { .flags = DUP, .max_depth = 8 };
	const struct ajson *root = NULL;
	struct diag_list dl;
	struct arena a;
	size_t want = 0;

	(void)state;
	assert_non_null(buf);
	buf[n++] = '{';
	for (int i = 0; i < 5000; i++) {
		/* keys k0..k4999, with k17 repeated at i == 3000 and k5 at
		 * i == 4000: the report names the one at 3000 */
		int k = i == 3000 ? 17 : i == 4000 ? 5 : i;

		if (i == 3000)
			want = n + (i > 0);
		n += (size_t)snprintf(buf + n, cap - n, "%s\"k%d\":%d",
		    i ? "," : "", k, i);
	}
	buf[n++] = '}';
	arena_init(&a, 0);
	diag_init(&dl);
	assert_int_equal(ajson_parse(&a, buf, n, &o, &root, &dl),
	    MANDATE_EPARSE);
	assert_null(root);
	assert_int_equal(dl.items[0].off, want);
	/* without the flag it parses, 5000 members in order */
	o.flags = 0;
	assert_int_equal(ajson_parse(&a, buf, n, &o, &root, &dl), MANDATE_OK);
	assert_int_equal(root->u.obj.n, 5000);
	assert_true(str_eq_c(root->u.obj.items[4999].key, "k4999"));
	assert_int_equal(root->u.obj.items[4999].val.u.i, 4999);
	arena_free(&a);
	free(buf);
}

static void
test_deep_and_wide(void **state)
{
	size_t n = 0, depth = 5000;
	char *buf = malloc(2 * depth + 1);
	struct ajson_opts o = { .max_depth = 100000 };   /* capped */
	const struct ajson *root = NULL;
	struct diag_list dl;
	struct arena a;

	(void)state;
	assert_non_null(buf);
	for (size_t i = 0; i < depth; i++)
		buf[n++] = '[';
	for (size_t i = 0; i < depth; i++)
		buf[n++] = ']';
	arena_init(&a, 0);
	diag_init(&dl);
	/* the parser caps any depth limit, so this cannot blow the stack */
	assert_int_equal(ajson_parse(&a, buf, n, &o, &root, &dl),
	    MANDATE_ELIMIT);
	o.max_depth = 200;
	diag_init(&dl);
	assert_int_equal(ajson_parse(&a, buf, n, &o, &root, &dl),
	    MANDATE_ELIMIT);
	assert_int_equal(dl.items[0].off, 200);
	arena_free(&a);
	free(buf);
}

static void
test_limits_and_memory(void **state)
{
	const char *json = "[\"a\\n\",{\"k\":[1,2,3]},[[],[]],\"x\"]";
	struct ajson_opts o = { .flags = DUP, .max_depth = 8, .max_len = 10 };
	const struct ajson *root = NULL;
	struct diag_list dl;
	struct arena a;
	int r;

	(void)state;
	arena_init(&a, 0);
	diag_init(&dl);
	assert_int_equal(ajson_parse(&a, json, strlen(json), &o, &root, &dl),
	    MANDATE_ELIMIT);
	assert_null(root);
	o.max_len = 0;
	/* every allocation failure is reported, never a crash */
	for (long k = 1; k < 20; k++) {
		arena_free(&a);
		arena_init(&a, 0);
		a.fail_after = k;
		diag_init(&dl);
		r = ajson_parse(&a, json, strlen(json), &o, &root, &dl);
		assert_true(r == MANDATE_OK || r == MANDATE_ENOMEM);
		if (r == MANDATE_ENOMEM)
			assert_null(root);
	}
	arena_free(&a);
	/* the arena's byte limit bounds the tree */
	arena_init(&a, 64);
	diag_init(&dl);
	assert_int_equal(ajson_parse(&a, json, strlen(json), &o, &root, &dl),
	    MANDATE_ENOMEM);
	assert_true(a.exhausted);   /* the input was too large for it */
	arena_free(&a);
	/* NULL text of length 0 is empty input; NULL diag list is allowed */
	arena_init(&a, 0);
	assert_int_equal(ajson_parse(&a, NULL, 0, &o, &root, NULL),
	    MANDATE_EPARSE);
	arena_free(&a);
}

static void
test_wide_array_scratch_growth(void **state)
{
	size_t count = 10000, cap = count * 8 + 16, n = 0;
	char *buf = malloc(cap);
	const struct ajson *root;
	struct arena a;

	(void)state;
	assert_non_null(buf);
	buf[n++] = '[';
	for (size_t i = 0; i < count; i++)
		n += (size_t)snprintf(buf + n, cap - n, "%s[%zu]", i ? "," : "",
		    i);
	buf[n++] = ']';
	arena_init(&a, 0);
	root = parse_ok(&a, buf, n, DUP);
	assert_int_equal(root->u.arr.n, count);
	for (size_t i = 0; i < count; i += 997)
		assert_int_equal(root->u.arr.items[i].u.arr.items[0].u.i,
		    (int64_t)i);
	arena_free(&a);
	/* too wide for a limited arena: refused, and said to be the
	 * input's size (whichever of tree and scratch ran out) */
	for (size_t lim = 4096; lim <= 1u << 20; lim *= 4) {
		struct diag_list dl;
		struct ajson_opts o = { .max_depth = 64 };

		arena_init(&a, lim);
		diag_init(&dl);
		assert_int_equal(ajson_parse(&a, buf, n, &o, &root, &dl),
		    MANDATE_ENOMEM);
		assert_true(a.exhausted);
		arena_free(&a);
	}
	free(buf);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_syntax_cases),
		cmocka_unit_test(test_strings),
		cmocka_unit_test(test_numbers),
		cmocka_unit_test(test_tree_and_spans),
		cmocka_unit_test(test_duplicates_last_wins),
		cmocka_unit_test(test_big_object_duplicates),
		cmocka_unit_test(test_deep_and_wide),
		cmocka_unit_test(test_limits_and_memory),
		cmocka_unit_test(test_wide_array_scratch_growth),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

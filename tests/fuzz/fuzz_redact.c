/*
 * fuzz_redact.c - the audit log's redaction over untrusted record
 * contents (tool arguments, prompts).
 *
 * The input is tried as a JSON object of fields (redact_fields) and as
 * free text (redact_text) under three configured paths (one of them a
 * top-level member).  Redaction must be
 * idempotent: redacting its own output changes nothing (an HMAC is never
 * taken for a secret, and no secret survives a pass); and redact_dump,
 * which writes the record's text without changing the tree, must give
 * byte for byte the compact text of the tree redact_fields leaves, and
 * redact_dump_members, given the same object's members one by one, the
 * same text as redact_dump.  A
 * difference, a changed tree, or a NUL byte appearing in text output
 * aborts, which is what a fuzzer reports.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "audit/redact.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static const unsigned char key[REDACT_KEY_LEN] =
    "fuzz-key-fuzz-key-fuzz-key-fuzz!";

/* The object's members given one by one (strings as text, booleans,
 * integers, the rest as JSON): redact_dump_members must write what
 * redact_dump wrote of the object (rd, dump, n). */
static void
check_members(const struct redact *r, json_t *f, int rd, const char *dump,
    size_t n)
{
	struct redact_member m[32];
	size_t k = 0, gn = 0;
	const char *name;
	char *got = NULL;
	json_t *v;
	int rm;

	if (json_object_size(f) > 32)
		return;
	json_object_foreach(f, name, v) {
		struct redact_member *x = &m[k++];

		memset(x, 0, sizeof(*x));
		x->name = name;
		if (strlen(name) != json_object_iter_key_len(
		    json_object_key_to_iter(name)))
			return;               /* a NUL in the name */
		if (json_is_string(v)) {
			x->kind = REDACT_M_STR;
			x->s = str_make(json_string_value(v),
			    json_string_length(v));
		} else if (json_is_boolean(v)) {
			x->kind = REDACT_M_BOOL;
			x->b = json_is_true(v);
		} else if (json_is_integer(v)) {
			x->kind = REDACT_M_INT;
			x->i = (long long)json_integer_value(v);
		} else {
			x->kind = REDACT_M_JSON;
			x->j = v;
		}
	}
	rm = redact_dump_members(r, m, k, &got, &gn);
	if (rm != rd || (rd == 0 && (gn != n || strcmp(got, dump) != 0)))
		abort();
	free(got);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const paths[] = { "arguments.secret_value",
	    "a.*.b", "note" };
	struct redact *r = NULL;
	char err[128];
	json_t *f;
	char *t1, *t2;

	if (size > 65536)
		return 0;
	if (redact_new(key, sizeof(key), paths, 3, &r, err, sizeof(err)) != 0)
		abort();
	f = json_loadb((const char *)data, size, JSON_DISABLE_EOF_CHECK |
	    JSON_REJECT_DUPLICATES, NULL);
	if (json_is_object(f)) {
		char *d1 = NULL, *d2 = NULL, *dump = NULL, *want;
		json_t *orig = json_deep_copy(f);
		size_t n = 0;
		int rd = redact_dump(r, f, &dump, &n);

		if (orig == NULL || !json_equal(f, orig))
			abort();              /* redact_dump changed the tree */
		json_decref(orig);
		check_members(r, f, rd, dump, n);
		if (redact_fields(r, f) == 0) {
			want = json_dumps(f, JSON_COMPACT);
			if (rd != 0 || want == NULL || dump == NULL ||
			    n != strlen(want) || strcmp(dump, want) != 0)
				abort();
			free(want);
		}
		free(dump);
		if (redact_fields(r, f) == 0) {
			d1 = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS);
			if (redact_fields(r, f) != 0)
				abort();
			d2 = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS);
			if (d1 == NULL || d2 == NULL || strcmp(d1, d2) != 0)
				abort();
		}
		free(d1);
		free(d2);
	}
	json_decref(f);
	if (memchr(data, 0, size) == NULL) {
		t1 = redact_text(r, str_make((const char *)data, size));
		if (t1 != NULL) {
			t2 = redact_text(r, str_c(t1));
			if (t2 == NULL || strcmp(t1, t2) != 0)
				abort();
			free(t2);
			free(t1);
		}
	}
	redact_free(r);
	return 0;
}

/*
 * fuzz_json.c - the arena JSON parser (util/json.h).  The first byte
 * picks the options (bit 0: reject duplicate keys; the rest: the depth
 * limit); the rest is the JSON text.  An accepted text must have spans
 * inside the input, and printing its tree back as JSON must parse again
 * to the same tree; a rejected one must say where, inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "util/json.h"
#include "util/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

struct out {
	char *p;
	size_t n, cap;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->n + n > o->cap)
		__builtin_trap();   /* the bound below is wrong */
	memcpy(o->p + o->n, s, n);
	o->n += n;
}

static void
put_str(struct out *o, struct str s)
{
	static const char hex[] = "0123456789abcdef";

	put(o, "\"", 1);
	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c == '"' || c == '\\') {
			char e[2] = { '\\', (char)c };

			put(o, e, 2);
		} else if (c < 0x20) {
			char e[6] = { '\\', 'u', '0', '0', hex[c >> 4],
			    hex[c & 15] };

			put(o, e, 6);
		} else {
			put(o, (const char *)&c, 1);
		}
	}
	put(o, "\"", 1);
}

/* src is the text j was parsed from (numbers are copied verbatim). */
static void
print(struct out *o, const char *src, size_t len, const struct ajson *j)
{
	if (j->off > len || j->len > len - j->off || j->len == 0)
		__builtin_trap();
	switch (j->type) {
	case AJSON_NULL: put(o, "null", 4); break;
	case AJSON_TRUE: put(o, "true", 4); break;
	case AJSON_FALSE: put(o, "false", 5); break;
	case AJSON_NUMBER: put(o, src + j->off, j->len); break;
	case AJSON_STRING: put_str(o, j->u.s); break;
	case AJSON_ARRAY:
		put(o, "[", 1);
		for (size_t i = 0; i < j->u.arr.n; i++) {
			if (i > 0)
				put(o, ",", 1);
			print(o, src, len, &j->u.arr.items[i]);
		}
		put(o, "]", 1);
		break;
	case AJSON_OBJECT:
		put(o, "{", 1);
		for (size_t i = 0; i < j->u.obj.n; i++) {
			const struct ajson_member *m = &j->u.obj.items[i];

			if (m->key_off > len || m->key_len > len - m->key_off)
				__builtin_trap();
			if (i > 0)
				put(o, ",", 1);
			put_str(o, m->key);
			put(o, ":", 1);
			print(o, src, len, &m->val);
		}
		put(o, "}", 1);
		break;
	default:
		__builtin_trap();
	}
}

static bool
same(const struct ajson *a, const struct ajson *b, const char *sa,
    const char *sb)
{
	if (a->type != b->type)
		return false;
	switch (a->type) {
	case AJSON_NUMBER:
		return a->len == b->len && memcmp(sa + a->off, sb + b->off,
		    a->len) == 0 && a->num_int == b->num_int &&
		    a->num_fits == b->num_fits && (!a->num_fits ||
		    a->u.i == b->u.i);
	case AJSON_STRING:
		return str_eq(a->u.s, b->u.s);
	case AJSON_ARRAY:
		if (a->u.arr.n != b->u.arr.n)
			return false;
		for (size_t i = 0; i < a->u.arr.n; i++)
			if (!same(&a->u.arr.items[i], &b->u.arr.items[i], sa,
			    sb))
				return false;
		return true;
	case AJSON_OBJECT:
		if (a->u.obj.n != b->u.obj.n)
			return false;
		for (size_t i = 0; i < a->u.obj.n; i++)
			if (!str_eq(a->u.obj.items[i].key,
			    b->u.obj.items[i].key) ||
			    !same(&a->u.obj.items[i].val,
			    &b->u.obj.items[i].val, sa, sb))
				return false;
		return true;
	default:
		return true;
	}
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct ajson_opts opts = { 0 };
	const struct ajson *root = NULL, *again = NULL;
	struct diag_list dl;
	struct arena a;
	struct out o = { 0 };
	const char *src;
	int r;

	if (size < 1)
		return 0;
	opts.flags = (data[0] & 1) ? AJSON_REJECT_DUPLICATES : 0;
	opts.max_depth = (data[0] >> 1) + 1;
	src = (const char *)data + 1;
	size--;
	arena_init(&a, 256u << 20);
	diag_init(&dl);
	r = ajson_parse(&a, src, size, &opts, &root, &dl);
	if (r != MANDATE_OK) {
		if (root != NULL || dl.n != 1 || dl.items[0].off > size ||
		    (r != MANDATE_EPARSE && r != MANDATE_ELIMIT &&
		    r != MANDATE_ENOMEM))
			__builtin_trap();
		goto out;
	}
	if (root == NULL || dl.n != 0)
		__builtin_trap();
	/* a decoded byte comes from at least 1 raw byte and prints as at
	 * most 6; structure never grows */
	o.cap = 6 * size + 16;
	if ((o.p = malloc(o.cap)) == NULL)
		goto out;
	print(&o, src, size, root);
	opts.flags = 0;
	if (ajson_parse(&a, o.p, o.n, &opts, &again, &dl) != MANDATE_OK ||
	    !same(root, again, src, o.p))
		__builtin_trap();
out:
	free(o.p);
	arena_free(&a);
	return 0;
}

/*
 * jtext.c - compact JSON text of jansson values (jtext.h).
 */
#include <stdint.h>
#include <stdlib.h>

#include "audit/jtext.h"
#include "util/utf8.h"

void
jtext_put_grow(struct jtext *b, const void *s, size_t n)
{
	if (b->failed)
		return;
	if (n >= b->cap - b->n) {
		size_t cap = b->cap ? b->cap : 1024;
		char *p;

		while (n >= cap - b->n) {
			if (cap > SIZE_MAX / 2) {
				b->failed = true;
				return;
			}
			cap *= 2;
		}
		if ((p = realloc(b->p, cap)) == NULL) {
			b->failed = true;
			return;
		}
		b->p = p;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
}

/* Does the word w hold a byte that JSON text must escape (a control, '"'
 * or '\\')?  Exact, eight bytes at once: a byte below 0x20, or one equal
 * to 0x22 or 0x5c (x ^ that byte is zero), sets a high bit. */
static bool
word_needs_escape(uint64_t w)
{
	const uint64_t ones = 0x0101010101010101ULL;
	const uint64_t highs = 0x8080808080808080ULL;
	uint64_t q = w ^ (ones * 0x22), bs = w ^ (ones * 0x5c);

	return (((w - ones * 0x20) & ~w) | ((q - ones) & ~q) |
	    ((bs - ones) & ~bs)) & highs;
}

void
jtext_string(struct jtext *b, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";
	size_t i, run = 0;

	if (utf8_invalid_at(s, n) != n) {
		b->failed = true;
		return;
	}
	jtext_put(b, "\"", 1);
	for (i = 0; i < n; i++) {
		unsigned char c;
		char esc[6] = { '\\', 0, 0, 0, 0, 0 };
		size_t en = 2;
		uint64_t w;

		/* runs of bytes that need nothing, a word at a time */
		while (i + 8 <= n) {
			memcpy(&w, s + i, 8);
			if (word_needs_escape(w))
				break;
			i += 8;
		}
		if (i >= n)
			break;
		c = (unsigned char)s[i];
		if (c >= 0x20 && c != '"' && c != '\\')
			continue;
		jtext_put(b, s + run, i - run);
		run = i + 1;
		switch (c) {
		case '"':  esc[1] = '"'; break;
		case '\\': esc[1] = '\\'; break;
		case '\b': esc[1] = 'b'; break;
		case '\f': esc[1] = 'f'; break;
		case '\n': esc[1] = 'n'; break;
		case '\r': esc[1] = 'r'; break;
		case '\t': esc[1] = 't'; break;
		default:
			esc[1] = 'u';
			esc[2] = '0';
			esc[3] = '0';
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			en = 6;
			break;
		}
		jtext_put(b, esc, en);
	}
	jtext_put(b, s + run, n - run);
	jtext_put(b, "\"", 1);
}

static void
jtext_integer(struct jtext *b, json_int_t sv)
{
	char d[24];
	size_t i = sizeof(d);
	unsigned long long v = sv < 0 ? 0ULL - (unsigned long long)sv :
	    (unsigned long long)sv;

	do {
		d[--i] = (char)('0' + v % 10);
		v /= 10;
	} while (v != 0);
	if (sv < 0)
		d[--i] = '-';
	jtext_put(b, d + i, sizeof(d) - i);
}

void
jtext_value(struct jtext *b, json_t *v, int depth)
{
	size_t i;

	if (b->failed)
		return;
	if (depth > JTEXT_MAX_DEPTH) {
		b->failed = true;
		return;
	}
	switch (json_typeof(v)) {
	case JSON_OBJECT: {
		const char *k;
		json_t *m;
		bool first = true;

		jtext_put(b, "{", 1);
		json_object_foreach(v, k, m) {
			if (!first)
				jtext_put(b, ",", 1);
			first = false;
			jtext_string(b, k, strlen(k));
			jtext_put(b, ":", 1);
			jtext_value(b, m, depth + 1);
		}
		jtext_put(b, "}", 1);
		break;
	}
	case JSON_ARRAY:
		jtext_put(b, "[", 1);
		for (i = 0; i < json_array_size(v); i++) {
			if (i > 0)
				jtext_put(b, ",", 1);
			jtext_value(b, json_array_get(v, i), depth + 1);
		}
		jtext_put(b, "]", 1);
		break;
	case JSON_STRING:
		jtext_string(b, json_string_value(v), json_string_length(v));
		break;
	case JSON_INTEGER:
		jtext_integer(b, json_integer_value(v));
		break;
	case JSON_REAL: {
		char *d = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);

		if (d == NULL) {
			b->failed = true;
			return;
		}
		jtext_put(b, d, strlen(d));
		free(d);
		break;
	}
	case JSON_TRUE:
		jtext_put(b, "true", 4);
		break;
	case JSON_FALSE:
		jtext_put(b, "false", 5);
		break;
	case JSON_NULL:
		jtext_put(b, "null", 4);
		break;
	}
}

char *
jtext_finish(struct jtext *b, size_t *n)
{
	if (b->p == NULL)
		b->failed = true;
	if (b->failed) {
		free(b->p);
		b->p = NULL;
		return NULL;
	}
	b->p[b->n] = '\0';          /* jtext_put left room for it */
	*n = b->n;
	return b->p;
}

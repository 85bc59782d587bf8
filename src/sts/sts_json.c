/*
 * sts_json.c - a small JSON writer into an arena, for the token service's
 * hot path (the access token's claims, the exchange's answer and its
 * audit fields).  Building a jansson tree and dumping it cost a malloc per
 * node and per string and a copy of the text; this writes the compact
 * text once, into a buffer from the request's arena that doubles up to a
 * fixed maximum.  Strings are checked to be UTF-8 (invalid text is an
 * error, as jansson refused it) and escaped; member names are the
 * caller's literals.  The first error sticks and every later call is a
 * no-op, so a caller checks once, in sts_jw_finish().
 */
#include <string.h>

#include "sts/sts_int.h"
#include "util/status.h"
#include "util/utf8.h"

void
sts_jw_init(struct sts_jw *w, struct arena *a, size_t max)
{
	memset(w, 0, sizeof *w);
	w->a = a;
	w->max = max;
}

/* Room for n more bytes (and a NUL), or the sticky error. */
static bool
reserve(struct sts_jw *w, size_t n)
{
	size_t cap;
	char *nb;

	if (w->err != MANDATE_OK)
		return false;
	if (n > w->max || w->len > w->max - n) {
		w->err = MANDATE_ELIMIT;
		return false;
	}
	if (w->len + n + 1 <= w->cap)
		return true;
	cap = w->cap ? w->cap : 512;
	while (cap < w->len + n + 1)
		cap *= 2;
	if (cap > w->max + 1)
		cap = w->max + 1;
	if ((nb = arena_realloc(w->a, w->buf, w->len, cap)) == NULL) {
		w->err = MANDATE_ENOMEM;
		return false;
	}
	w->buf = nb;
	w->cap = cap;
	return true;
}

static void
put(struct sts_jw *w, const char *p, size_t n)
{
	if (reserve(w, n)) {
		memcpy(w->buf + w->len, p, n);
		w->len += n;
	}
}

/* The separator before a value or a member name. */
static void
sep(struct sts_jw *w)
{
	if (w->after_key) {
		w->after_key = false;
		return;
	}
	if (w->depth > 0) {
		if (w->has_items & (1u << (w->depth - 1)))
			put(w, ",", 1);
		w->has_items |= 1u << (w->depth - 1);
	}
}

static void
open_container(struct sts_jw *w, char c)
{
	sep(w);
	if (w->depth >= STS_JW_MAX_DEPTH) {
		if (w->err == MANDATE_OK)
			w->err = MANDATE_ELIMIT;
		return;
	}
	put(w, &c, 1);
	w->has_items &= ~(1u << w->depth);
	w->depth++;
}

static void
close_container(struct sts_jw *w, char c)
{
	if (w->depth == 0 || w->after_key) {
		if (w->err == MANDATE_OK)
			w->err = MANDATE_EINTERNAL;
		return;
	}
	w->depth--;
	put(w, &c, 1);
}

void
sts_jw_obj(struct sts_jw *w)
{
	open_container(w, '{');
}

void
sts_jw_obj_end(struct sts_jw *w)
{
	close_container(w, '}');
}

void
sts_jw_arr(struct sts_jw *w)
{
	open_container(w, '[');
}

void
sts_jw_arr_end(struct sts_jw *w)
{
	close_container(w, ']');
}

/* A quoted, escaped string; invalid UTF-8 is EINVAL. */
static void
put_string(struct sts_jw *w, struct str s)
{
	static const char hex[] = "0123456789abcdef";
	size_t i, run;

	if (s.n > 0 && s.p == NULL) {
		if (w->err == MANDATE_OK)
			w->err = MANDATE_EINVAL;
		return;
	}
	if (utf8_invalid_at(s.p, s.n) != s.n) {
		if (w->err == MANDATE_OK)
			w->err = MANDATE_EINVAL;
		return;
	}
	put(w, "\"", 1);
	for (i = 0; i < s.n && w->err == MANDATE_OK; i += run) {
		unsigned char c = (unsigned char)s.p[i];
		char esc[6];

		/* copy the longest run that needs no escape at once */
		for (run = 0; i + run < s.n; run++) {
			c = (unsigned char)s.p[i + run];
			if (c < 0x20 || c == '"' || c == '\\')
				break;
		}
		if (run > 0) {
			put(w, s.p + i, run);
			continue;
		}
		run = 1;
		switch (c) {
		case '"':  put(w, "\\\"", 2); break;
		case '\\': put(w, "\\\\", 2); break;
		case '\n': put(w, "\\n", 2); break;
		case '\r': put(w, "\\r", 2); break;
		case '\t': put(w, "\\t", 2); break;
		case '\b': put(w, "\\b", 2); break;
		case '\f': put(w, "\\f", 2); break;
		default:
			memcpy(esc, "\\u00", 4);
			esc[4] = hex[c >> 4];
			esc[5] = hex[c & 15];
			put(w, esc, 6);
			break;
		}
	}
	put(w, "\"", 1);
}

void
sts_jw_key(struct sts_jw *w, const char *name)
{
	sep(w);
	if (w->depth == 0 || w->after_key) {
		if (w->err == MANDATE_OK)
			w->err = MANDATE_EINTERNAL;
		return;
	}
	put_string(w, str_c(name));
	put(w, ":", 1);
	w->after_key = true;
}

void
sts_jw_str(struct sts_jw *w, struct str v)
{
	sep(w);
	put_string(w, v);
}

void
sts_jw_int(struct sts_jw *w, int64_t v)
{
	char buf[24], *p = buf + sizeof buf;
	uint64_t u = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;

	do {
		*--p = (char)('0' + u % 10);
		u /= 10;
	} while (u != 0);
	if (v < 0)
		*--p = '-';
	sep(w);
	put(w, p, (size_t)(buf + sizeof buf - p));
}

void
sts_jw_raw(struct sts_jw *w, struct str json)
{
	sep(w);
	put(w, json.p, json.n);
}

int
sts_jw_finish(struct sts_jw *w, struct str *out)
{
	*out = STR_NULL;
	if (w->err == MANDATE_OK && (w->depth != 0 || w->after_key ||
	    w->len == 0))
		w->err = MANDATE_EINTERNAL;
	if (w->err != MANDATE_OK)
		return w->err;
	w->buf[w->len] = '\0';
	*out = str_make(w->buf, w->len);
	return MANDATE_OK;
}

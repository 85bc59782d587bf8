/*
 * http_form.c - strict percent-decoding, request paths and
 * application/x-www-form-urlencoded bodies.
 *
 * Every byte of a URL or form that reaches a handler goes through
 * http_pct_decode() exactly once: a bad escape or a decoded NUL is an
 * error (never silently kept), and path segments may not hide a '/'.
 */
#include <string.h>

#include "server/http.h"
#include "util/status.h"
#include "util/utf8.h"

int
http_pct_decode(struct arena *a, const char *p, size_t n, int plus_space,
    int no_slash, struct str *out)
{
	char *buf;
	size_t i, o = 0;

	*out = STR_NULL;
	if (n == SIZE_MAX)
		return MANDATE_ELIMIT;
	if ((buf = arena_alloc(a, n + 1)) == NULL)
		return MANDATE_ENOMEM;
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)p[i];
		if (c == '%') {
			int hi, lo;
			if (n - i < 3)
				return MANDATE_EPARSE;
			hi = hex_digit_value((unsigned char)p[i + 1]);
			lo = hex_digit_value((unsigned char)p[i + 2]);
			if (hi < 0 || lo < 0)
				return MANDATE_EPARSE;
			c = (unsigned char)(hi * 16 + lo);
			if (no_slash && c == '/')
				return MANDATE_EPARSE;
			i += 2;
		} else if (c == '+' && plus_space) {
			c = ' ';
		}
		if (c == '\0')
			return MANDATE_EPARSE;
		buf[o++] = (char)c;
	}
	buf[o] = '\0';
	out->p = buf;
	out->n = o;
	return MANDATE_OK;
}

int
http_path_split(struct arena *a, const char *p, size_t n, struct str *segs,
    size_t max_segs, size_t *n_segs)
{
	return http_path_split_opt(a, p, n, segs, max_segs, n_segs, 0);
}

int
http_path_split_opt(struct arena *a, const char *p, size_t n,
    struct str *segs, size_t max_segs, size_t *n_segs, int encoded_slash)
{
	size_t i = 1, count = 0;
	int r;

	*n_segs = 0;
	if (n == 0 || p[0] != '/')
		return MANDATE_EPARSE;
	if (n > HTTP_MAX_PATH)
		return MANDATE_ELIMIT;
	if (max_segs > HTTP_MAX_SEGMENTS)
		max_segs = HTTP_MAX_SEGMENTS;
	if (n == 1)
		return MANDATE_OK;      /* "/" has no segments */
	while (i <= n) {
		size_t j = i;
		struct str seg;
		while (j < n && p[j] != '/')
			j++;
		if (count >= max_segs)
			return MANDATE_ELIMIT;
		if ((r = http_pct_decode(a, p + i, j - i, 0,
		    !encoded_slash, &seg)) != 0)
			return r;
		if (str_eq_c(seg, ".") || str_eq_c(seg, ".."))
			return MANDATE_EPARSE;
		/* a segment is text that handlers put in JSON: UTF-8 (RFC
		 * 3629).  The target itself is ASCII, so only a segment
		 * that had escapes (it got shorter) needs looking at. */
		if (seg.n != j - i && utf8_invalid_at(seg.p, seg.n) != seg.n)
			return MANDATE_EPARSE;
		segs[count++] = seg;
		i = j + 1;
	}
	*n_segs = count;
	return MANDATE_OK;
}

int
http_form_parse(struct arena *a, const char *p, size_t n, size_t max_pairs,
    size_t max_field, struct http_form *form)
{
	struct http_param *pairs = NULL;
	size_t count = 0, cap = 0, i = 0;
	int r;

	form->pairs = NULL;
	form->n_pairs = 0;
	if (max_pairs == 0)
		max_pairs = HTTP_FORM_MAX_PAIRS;
	if (max_field == 0)
		max_field = HTTP_FORM_MAX_FIELD;
	while (i < n) {
		size_t j = i, eq = SIZE_MAX;
		struct http_param kv;
		while (j < n && p[j] != '&') {
			if (p[j] == '=' && eq == SIZE_MAX)
				eq = j;
			j++;
		}
		if (j == i) {           /* empty piece: "a=1&&b=2" */
			i = j + 1;
			continue;
		}
		if (count >= max_pairs)
			return MANDATE_ELIMIT;
		if (eq == SIZE_MAX)
			eq = j;
		if (eq - i > max_field || (eq < j && j - eq - 1 > max_field))
			return MANDATE_ELIMIT;
		if ((r = http_pct_decode(a, p + i, eq - i, 1, 0, &kv.name)) != 0)
			return r;
		if (eq < j)
			r = http_pct_decode(a, p + eq + 1, j - eq - 1, 1, 0,
			    &kv.value);
		else
			r = http_pct_decode(a, "", 0, 1, 0, &kv.value);
		if (r != 0)
			return r;
		if (count == cap) {
			size_t ncap = cap ? cap * 2 : 8;
			struct http_param *np;
			if (ncap > max_pairs)
				ncap = max_pairs;
			np = arena_realloc(a, pairs, cap * sizeof(*pairs),
			    ncap * sizeof(*pairs));
			if (np == NULL)
				return MANDATE_ENOMEM;
			pairs = np;
			cap = ncap;
		}
		pairs[count++] = kv;
		i = j + 1;
	}
	form->pairs = pairs;
	form->n_pairs = count;
	return MANDATE_OK;
}

struct str
http_form_get(const struct http_form *form, const char *key)
{
	for (size_t i = 0; i < form->n_pairs; i++)
		if (str_eq_c(form->pairs[i].name, key))
			return form->pairs[i].value;
	return STR_NULL;
}

size_t
http_form_count(const struct http_form *form, const char *key)
{
	size_t count = 0;
	for (size_t i = 0; i < form->n_pairs; i++)
		if (str_eq_c(form->pairs[i].name, key))
			count++;
	return count;
}

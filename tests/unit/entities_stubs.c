/*
 * entities_stubs.c - weak stand-ins, for the entities tests only, of the
 * functions other modules provide (value normalization and extension
 * parsers from eval, uid parsing from parse) until they are merged.  A
 * real definition in libmandate wins whenever its object is linked.
 * XXX delete once eval and parse are on main.
 */
#include <stdlib.h>
#include <string.h>

#include "cedar/cedar_int.h"

#define WEAK __attribute__((weak))

int cedar_stub_cmp(const void *a, const void *b);
int cedar_stub_field_cmp(const void *a, const void *b);

int
cedar_stub_cmp(const void *pa, const void *pb)
{
	const struct cedar_value *a = pa, *b = pb;

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	switch (a->kind) {
	case CV_BOOL: return (int)a->u.b - (int)b->u.b;
	case CV_LONG: return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
	case CV_STRING: return str_cmp(a->u.s, b->u.s);
	case CV_ENTITY: return cedar_uid_cmp(&a->u.uid, &b->u.uid);
	case CV_EXT:
		if (a->ext != b->ext)
			return a->ext < b->ext ? -1 : 1;
		if (a->ext == CEXT_IPADDR)
			return memcmp(&a->u.ip, &b->u.ip, sizeof(a->u.ip));
		return a->u.i < b->u.i ? -1 : a->u.i > b->u.i;
	case CV_SET:
		if (a->u.set.n != b->u.set.n)
			return a->u.set.n < b->u.set.n ? -1 : 1;
		for (size_t i = 0; i < a->u.set.n; i++) {
			int r = cedar_stub_cmp(&a->u.set.items[i],
			    &b->u.set.items[i]);
			if (r != 0)
				return r;
		}
		return 0;
	case CV_RECORD:
		if (a->u.rec.n != b->u.rec.n)
			return a->u.rec.n < b->u.rec.n ? -1 : 1;
		for (size_t i = 0; i < a->u.rec.n; i++) {
			int r = str_cmp(a->u.rec.fields[i].key,
			    b->u.rec.fields[i].key);
			if (r == 0)
				r = cedar_stub_cmp(&a->u.rec.fields[i].v,
				    &b->u.rec.fields[i].v);
			if (r != 0)
				return r;
		}
		return 0;
	default:
		return 0;
	}
}

int
cedar_stub_field_cmp(const void *a, const void *b)
{
	return str_cmp(((const struct cedar_field *)a)->key,
	    ((const struct cedar_field *)b)->key);
}

WEAK size_t
cedar_set_normalize(struct cedar_value *items, size_t n)
{
	size_t w = 0;

	if (n == 0)
		return 0;
	qsort(items, n, sizeof(*items), cedar_stub_cmp);
	w = 1;
	for (size_t i = 1; i < n; i++)
		if (cedar_stub_cmp(&items[i], &items[w - 1]) != 0)
			items[w++] = items[i];
	return w;
}

WEAK bool
cedar_record_normalize(struct cedar_field *fields, size_t n)
{
	qsort(fields, n, sizeof(*fields), cedar_stub_field_cmp);
	for (size_t i = 1; i < n; i++)
		if (str_eq(fields[i].key, fields[i - 1].key))
			return false;
	return true;
}

/* Dotted IPv4 with an optional /prefix; enough for the tests. */
WEAK bool
cedar_ip_parse(struct str s, struct cedar_ip *out)
{
	size_t i = 0;
	int part = 0;

	memset(out, 0, sizeof(*out));
	out->prefix = 32;
	for (part = 0; part < 4; part++) {
		unsigned v = 0, digits = 0;

		while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9' && digits < 4) {
			v = v * 10 + (unsigned)(s.p[i++] - '0');
			digits++;
		}
		if (digits == 0 || v > 255)
			return false;
		out->addr[part] = (uint8_t)v;
		if (part < 3 && (i >= s.n || s.p[i++] != '.'))
			return false;
	}
	if (i < s.n && s.p[i] == '/') {
		unsigned v = 0, digits = 0;

		i++;
		while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9' && digits < 3) {
			v = v * 10 + (unsigned)(s.p[i++] - '0');
			digits++;
		}
		if (digits == 0 || v > 32)
			return false;
		out->prefix = (uint8_t)v;
	}
	return i == s.n;
}

/* [-]digits.digits (1 to 4 fraction digits) */
WEAK bool
cedar_decimal_parse(struct str s, int64_t *out)
{
	size_t i = 0, frac = 0;
	int64_t v = 0;
	bool neg = false, dot = false;

	if (i < s.n && s.p[i] == '-') {
		neg = true;
		i++;
	}
	for (; i < s.n; i++) {
		if (s.p[i] == '.' && !dot) {
			dot = true;
			continue;
		}
		if (s.p[i] < '0' || s.p[i] > '9')
			return false;
		if (dot)
			frac++;
		v = v * 10 + (s.p[i] - '0');
	}
	if (!dot || frac == 0 || frac > 4)
		return false;
	while (frac++ < 4)
		v *= 10;
	*out = neg ? -v : v;
	return true;
}

/* YYYY-MM-DD only (days counted naively); enough for the tests. */
WEAK bool
cedar_datetime_parse(struct str s, int64_t *out_ms)
{
	if (s.n != 10 || s.p[4] != '-' || s.p[7] != '-')
		return false;
	*out_ms = (int64_t)((s.p[8] - '0') * 10 + (s.p[9] - '0') - 1) *
	    86400000LL;
	return true;
}

/* <digits>ms / s / m / h / d, one unit */
WEAK bool
cedar_duration_parse(struct str s, int64_t *out_ms)
{
	int64_t v = 0;
	size_t i = 0;
	int64_t unit;

	while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9')
		v = v * 10 + (s.p[i++] - '0');
	if (i == 0)
		return false;
	if (s.n - i == 2 && s.p[i] == 'm' && s.p[i + 1] == 's')
		unit = 1;
	else if (s.n - i != 1)
		return false;
	else if (s.p[i] == 's')
		unit = 1000;
	else if (s.p[i] == 'm')
		unit = 60000;
	else if (s.p[i] == 'h')
		unit = 3600000;
	else if (s.p[i] == 'd')
		unit = 86400000;
	else
		return false;
	*out_ms = v * unit;
	return true;
}

/* Type::"id" without escapes. */
WEAK int
cedar_parse_uid(struct arena *a, const char *src, size_t len,
    struct cedar_uid *out, struct diag_list *dl)
{
	const char *q = memchr(src, '"', len);

	if (q == NULL || q - src < 3 || q[-1] != ':' || q[-2] != ':' ||
	    src[len - 1] != '"' || (size_t)(q - src) + 1 >= len) {
		diag_add(dl, MANDATE_EPARSE, NULL, src, len, 0, len,
		    "bad uid");
		return MANDATE_EPARSE;
	}
	out->type = arena_strdup(a, src, (size_t)(q - src) - 2);
	out->id = arena_strdup(a, q + 1, len - (size_t)(q - src) - 2);
	return MANDATE_OK;
}

/*
 * value.c - Cedar runtime values: the total order that keeps sets sorted
 * and unique and makes set and record equality structural, record field
 * lookup, and rendering a value in Cedar's JSON value form (with the
 * __entity and __extn escapes).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar_int.h"
#include "eval_int.h"

static int
cmp_i64(int64_t a, int64_t b)
{
	return a < b ? -1 : a > b;
}

static int
cmp_ext(const struct cedar_value *a, const struct cedar_value *b)
{
	if (a->ext != b->ext)
		return a->ext < b->ext ? -1 : 1;
	if (a->ext == CEXT_IPADDR)
		return cedar_ip_cmp(&a->u.ip, &b->u.ip);
	return cmp_i64(a->u.i, b->u.i);
}

int
cedar_value_cmp(const struct cedar_value *a, const struct cedar_value *b)
{
	int r;

	if (a->kind != b->kind)
		return a->kind < b->kind ? -1 : 1;
	switch (a->kind) {
	case CV_BOOL:
		return (int)a->u.b - (int)b->u.b;
	case CV_LONG:
		return cmp_i64(a->u.i, b->u.i);
	case CV_STRING:
		return str_cmp(a->u.s, b->u.s);
	case CV_ENTITY:
		return cedar_uid_cmp(&a->u.uid, &b->u.uid);
	case CV_SET:
		for (size_t i = 0; i < a->u.set.n && i < b->u.set.n; i++) {
			r = cedar_value_cmp(&a->u.set.items[i], &b->u.set.items[i]);
			if (r != 0)
				return r;
		}
		return a->u.set.n < b->u.set.n ? -1 : a->u.set.n > b->u.set.n;
	case CV_RECORD:
		for (size_t i = 0; i < a->u.rec.n && i < b->u.rec.n; i++) {
			const struct cedar_field *fa = &a->u.rec.fields[i];
			const struct cedar_field *fb = &b->u.rec.fields[i];
			r = str_cmp(fa->key, fb->key);
			if (r == 0)
				r = cedar_value_cmp(&fa->v, &fb->v);
			if (r != 0)
				return r;
		}
		return a->u.rec.n < b->u.rec.n ? -1 : a->u.rec.n > b->u.rec.n;
	case CV_EXT:
		return cmp_ext(a, b);
	default:
		return 0;
	}
}

bool
cedar_value_eq(const struct cedar_value *a, const struct cedar_value *b)
{
	return cedar_value_cmp(a, b) == 0;
}

/* qsort callbacks (qsort keeps no state, so this stays reentrant). */
static int
value_qcmp(const void *x, const void *y)
{
	return cedar_value_cmp(x, y);
}

static int
field_qcmp(const void *x, const void *y)
{
	const struct cedar_field *a = x, *b = y;
	return str_cmp(a->key, b->key);
}

size_t
cedar_set_normalize(struct cedar_value *items, size_t n)
{
	size_t out = 0;

	if (n < 2)
		return n;
	qsort(items, n, sizeof(*items), value_qcmp);
	for (size_t i = 1; i < n; i++) {
		if (cedar_value_cmp(&items[out], &items[i]) != 0)
			items[++out] = items[i];
	}
	return out + 1;
}

bool
cedar_record_normalize(struct cedar_field *fields, size_t n)
{
	if (n < 2)
		return true;
	qsort(fields, n, sizeof(*fields), field_qcmp);
	for (size_t i = 1; i < n; i++) {
		if (str_eq(fields[i - 1].key, fields[i].key))
			return false;
	}
	return true;
}

const struct cedar_value *
cedar_record_get(const struct cedar_value *rec, struct str key)
{
	size_t lo = 0, hi;

	if (rec == NULL || rec->kind != CV_RECORD)
		return NULL;
	hi = rec->u.rec.n;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = str_cmp(rec->u.rec.fields[mid].key, key);
		if (r == 0)
			return &rec->u.rec.fields[mid].v;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

/* ------------------------------------------------------------------ */
/* JSON rendering into a bounded buffer: `need` counts every byte the full
 * text takes; only what fits (leaving room for the NUL) is stored. */

struct jw {
	char *buf;
	size_t cap;
	size_t need;
};

static void
jw_put(struct jw *w, const char *p, size_t n)
{
	for (size_t i = 0; i < n; i++, w->need++) {
		if (w->cap > 0 && w->need < w->cap - 1)
			w->buf[w->need] = p[i];
	}
}

static void
jw_lit(struct jw *w, const char *s)
{
	jw_put(w, s, strlen(s));
}

static void
jw_string(struct jw *w, struct str s)
{
	char esc[8];

	jw_put(w, "\"", 1);
	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c == '"' || c == '\\') {
			esc[0] = '\\';
			esc[1] = (char)c;
			jw_put(w, esc, 2);
		} else if (c == '\n') {
			jw_lit(w, "\\n");
		} else if (c == '\t') {
			jw_lit(w, "\\t");
		} else if (c == '\r') {
			jw_lit(w, "\\r");
		} else if (c < 0x20 || c == 0x7f) {
			snprintf(esc, sizeof(esc), "\\u%04x", c);
			jw_put(w, esc, 6);
		} else {
			jw_put(w, (const char *)&s.p[i], 1);
		}
	}
	jw_put(w, "\"", 1);
}

static void
jw_extn(struct jw *w, const char *fn, const char *arg)
{
	jw_lit(w, "{\"__extn\":{\"fn\":\"");
	jw_lit(w, fn);
	jw_lit(w, "\",\"arg\":");
	jw_string(w, str_c(arg));
	jw_lit(w, "}}");
}

static void
jw_value(struct jw *w, const struct cedar_value *v)
{
	char tmp[64];

	switch (v->kind) {
	case CV_BOOL:
		jw_lit(w, v->u.b ? "true" : "false");
		break;
	case CV_LONG:
		snprintf(tmp, sizeof(tmp), "%" PRId64, v->u.i);
		jw_lit(w, tmp);
		break;
	case CV_STRING:
		jw_string(w, v->u.s);
		break;
	case CV_ENTITY:
		jw_lit(w, "{\"__entity\":{\"type\":");
		jw_string(w, v->u.uid.type);
		jw_lit(w, ",\"id\":");
		jw_string(w, v->u.uid.id);
		jw_lit(w, "}}");
		break;
	case CV_SET:
		jw_lit(w, "[");
		for (size_t i = 0; i < v->u.set.n; i++) {
			if (i > 0)
				jw_lit(w, ",");
			jw_value(w, &v->u.set.items[i]);
		}
		jw_lit(w, "]");
		break;
	case CV_RECORD:
		jw_lit(w, "{");
		for (size_t i = 0; i < v->u.rec.n; i++) {
			if (i > 0)
				jw_lit(w, ",");
			jw_string(w, v->u.rec.fields[i].key);
			jw_lit(w, ":");
			jw_value(w, &v->u.rec.fields[i].v);
		}
		jw_lit(w, "}");
		break;
	case CV_EXT:
		switch (v->ext) {
		case CEXT_IPADDR:
			cedar_ip_format(&v->u.ip, tmp);
			jw_extn(w, "ip", tmp);
			break;
		case CEXT_DECIMAL:
			cedar_decimal_format(v->u.i, tmp);
			jw_extn(w, "decimal", tmp);
			break;
		case CEXT_DATETIME:
			if (cedar_datetime_format(v->u.i, tmp)) {
				jw_extn(w, "datetime", tmp);
			} else {
				/* outside years 0..9999: the reference's
				 * canonical form, an offset from the epoch */
				jw_lit(w, "{\"__extn\":{\"fn\":\"offset\","
				    "\"args\":[");
				jw_extn(w, "datetime", "1970-01-01");
				jw_lit(w, ",");
				snprintf(tmp, sizeof(tmp), "%" PRId64 "ms", v->u.i);
				jw_extn(w, "duration", tmp);
				jw_lit(w, "]}}");
			}
			break;
		case CEXT_DURATION:
			snprintf(tmp, sizeof(tmp), "%" PRId64 "ms", v->u.i);
			jw_extn(w, "duration", tmp);
			break;
		default:
			jw_lit(w, "null");
			break;
		}
		break;
	default:
		jw_lit(w, "null");
		break;
	}
}

size_t
cedar_value_to_json(const struct cedar_value *v, char *buf, size_t cap)
{
	struct jw w = { buf, cap, 0 };

	jw_value(&w, v);
	if (cap > 0)
		buf[w.need < cap ? w.need : cap - 1] = '\0';
	return w.need;
}

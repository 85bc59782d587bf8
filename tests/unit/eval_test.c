/* eval_test.c - values, extension-type parsers, the evaluator and the
 * authorizer with its index.  Data-driven: tables of strings and
 * expected results. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/cedar_int.h"
#include "cedar/eval_int.h"

#include "eval_world.h"

/* ------------------------------------------------------------------ */
/* Extension parsers */

static void
test_ip_parse(void **state)
{
	static const struct {
		const char *s;
		int ok;
		int v6, prefix;
		const char *text;   /* cedar_ip_format, NULL to skip */
	} cases[] = {
		{ "127.0.0.1", 1, 0, 32, "127.0.0.1" },
		{ "0.0.0.0", 1, 0, 32, "0.0.0.0" },
		{ "255.255.255.255", 1, 0, 32, NULL },
		{ "10.1.2.3/8", 1, 0, 8, "10.1.2.3/8" },
		{ "10.1.2.3/0", 1, 0, 0, NULL },
		{ "10.1.2.3/32", 1, 0, 32, "10.1.2.3" },
		{ "::1", 1, 1, 128, "::1" },
		{ "::", 1, 1, 128, "::" },
		{ "1::", 1, 1, 128, "1::" },
		{ "2001:db8::1/64", 1, 1, 64, "2001:db8::1/64" },
		{ "2001:DB8:0:0:0:0:0:1", 1, 1, 128, "2001:db8::1" },
		{ "1:2:3:4:5:6:7:8", 1, 1, 128, "1:2:3:4:5:6:7:8" },
		{ "1:2:3:4:5:6:7::", 1, 1, 128, NULL },
		{ "::2:3:4:5:6:7:8", 1, 1, 128, NULL },
		{ "ffff::/128", 1, 1, 128, NULL },
		{ "1:0:0:2:0:0:0:3", 1, 1, 128, "1:0:0:2::3" },
		{ "", 0, 0, 0, NULL },
		{ "1.2.3", 0, 0, 0, NULL },
		{ "1.2.3.4.5", 0, 0, 0, NULL },
		{ "01.2.3.4", 0, 0, 0, NULL },
		{ "1.2.3.256", 0, 0, 0, NULL },
		{ "1.2.3.0004", 0, 0, 0, NULL },
		{ "1.2.3.4/33", 0, 0, 0, NULL },
		{ "1.2.3.4/08", 0, 0, 0, NULL },
		{ "1.2.3.4/", 0, 0, 0, NULL },
		{ "1.2.3.4/-1", 0, 0, 0, NULL },
		{ "1.2.3.4/ 8", 0, 0, 0, NULL },
		{ " 1.2.3.4", 0, 0, 0, NULL },
		{ "::1/129", 0, 0, 0, NULL },
		{ "::1/0128", 0, 0, 0, NULL },
		{ "::ffff:127.0.0.1", 0, 0, 0, NULL },
		{ "::127.0.0.1", 0, 0, 0, NULL },
		{ "1:2:3:4:5:6:7:8:9", 0, 0, 0, NULL },
		{ "1::2::3", 0, 0, 0, NULL },
		{ ":::", 0, 0, 0, NULL },
		{ "1:::2", 0, 0, 0, NULL },
		{ "12345::", 0, 0, 0, NULL },
		{ "g::", 0, 0, 0, NULL },
		{ ":1", 0, 0, 0, NULL },
		{ "1:", 0, 0, 0, NULL },
		{ "1:2:3:4:5:6:7:8::", 0, 0, 0, NULL },
		{ "fe80::1%eth0", 0, 0, 0, NULL },
		{ "1.2.3.4/1/2", 0, 0, 0, NULL },
		{ "ABCD:EF01:2345:6789:ABCD:EF01:2345:6789/128", 1, 1, 128, NULL },
		{ "ABCD:EF01:2345:6789:ABCD:EF01:2345:6789/0128", 0, 0, 0, NULL },
	};
	char buf[CEDAR_IP_TEXT_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cedar_ip ip;
		bool ok = cedar_ip_parse(str_c(cases[i].s), &ip);
		if (ok != (bool)cases[i].ok)
			fail_msg("ip(\"%s\"): expected %s", cases[i].s,
			    cases[i].ok ? "ok" : "error");
		if (!ok)
			continue;
		assert_int_equal(ip.is_v6, cases[i].v6);
		assert_int_equal(ip.prefix, cases[i].prefix);
		if (cases[i].text != NULL) {
			cedar_ip_format(&ip, buf);
			assert_string_equal(buf, cases[i].text);
		}
	}
}

static void
test_ip_ranges(void **state)
{
	static const struct {
		const char *a, *b;
		int in_range;
	} cases[] = {
		{ "10.1.2.3", "10.0.0.0/8", 1 },
		{ "10.1.2.3/16", "10.0.0.0/8", 1 },
		{ "10.0.0.0/8", "10.1.2.3/16", 0 },
		{ "10.1.2.3", "10.1.2.3", 1 },
		{ "11.0.0.1", "10.0.0.0/8", 0 },
		{ "1.2.3.4", "0.0.0.0/0", 1 },
		{ "::1", "::/0", 1 },
		{ "::1", "0.0.0.0/0", 0 },
		{ "2001:db8::5", "2001:db8::/32", 1 },
		{ "2001:db9::5", "2001:db8::/32", 0 },
		{ "192.168.0.1/24", "192.168.0.77/24", 1 },
	};
	static const struct {
		const char *a;
		int loopback, multicast;
	} props[] = {
		{ "127.0.0.1", 1, 0 },
		{ "127.255.0.1/8", 1, 0 },
		{ "127.0.0.1/7", 0, 0 },
		{ "::1", 1, 0 },
		{ "::1/127", 0, 0 },
		{ "::2", 0, 0 },
		{ "224.0.0.1", 0, 1 },
		{ "239.1.1.1/4", 0, 1 },
		{ "239.1.1.1/3", 0, 0 },
		{ "240.0.0.1", 0, 0 },
		{ "ff02::1", 0, 1 },
		{ "ff02::1/7", 0, 0 },
		{ "::ffff:7f00:1", 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct cedar_ip a, b;
		assert_true(cedar_ip_parse(str_c(cases[i].a), &a));
		assert_true(cedar_ip_parse(str_c(cases[i].b), &b));
		if (cedar_ip_in_range(&a, &b) != (bool)cases[i].in_range)
			fail_msg("%s isInRange %s", cases[i].a, cases[i].b);
	}
	for (size_t i = 0; i < sizeof(props) / sizeof(props[0]); i++) {
		struct cedar_ip a;
		assert_true(cedar_ip_parse(str_c(props[i].a), &a));
		if (cedar_ip_is_loopback(&a) != (bool)props[i].loopback)
			fail_msg("%s isLoopback", props[i].a);
		if (cedar_ip_is_multicast(&a) != (bool)props[i].multicast)
			fail_msg("%s isMulticast", props[i].a);
	}
}

static void
test_decimal_parse(void **state)
{
	static const struct {
		const char *s;
		int ok;
		int64_t v;
		const char *text;
	} cases[] = {
		{ "1.0", 1, 10000, "1.0000" },
		{ "-1.0", 1, -10000, "-1.0000" },
		{ "123.456", 1, 1234560, "123.4560" },
		{ "0.1234", 1, 1234, "0.1234" },
		{ "-0.0123", 1, -123, "-0.0123" },
		{ "-0.5", 1, -5000, "-0.5000" },
		{ "000001.5", 1, 15000, NULL },
		{ "922337203685477.5807", 1, INT64_MAX, "922337203685477.5807" },
		{ "-922337203685477.5808", 1, INT64_MIN, "-922337203685477.5808" },
		{ "922337203685477.5808", 0, 0, NULL },
		{ "-922337203685477.5809", 0, 0, NULL },
		{ "1000000000000000.0", 0, 0, NULL },
		{ "1.23456", 0, 0, NULL },
		{ "1", 0, 0, NULL },
		{ "1.", 0, 0, NULL },
		{ ".5", 0, 0, NULL },
		{ "-.5", 0, 0, NULL },
		{ "+1.0", 0, 0, NULL },
		{ "1.0.0", 0, 0, NULL },
		{ "1e3.0", 0, 0, NULL },
		{ " 1.0", 0, 0, NULL },
		{ "1.0 ", 0, 0, NULL },
		{ "--1.0", 0, 0, NULL },
		{ "-", 0, 0, NULL },
		{ "", 0, 0, NULL },
	};
	char buf[CEDAR_DECIMAL_TEXT_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = 0;
		bool ok = cedar_decimal_parse(str_c(cases[i].s), &v);
		if (ok != (bool)cases[i].ok)
			fail_msg("decimal(\"%s\"): expected %s", cases[i].s,
			    cases[i].ok ? "ok" : "error");
		if (!ok)
			continue;
		if (v != cases[i].v)
			fail_msg("decimal(\"%s\") = %" PRId64, cases[i].s, v);
		if (cases[i].text != NULL) {
			cedar_decimal_format(v, buf);
			assert_string_equal(buf, cases[i].text);
		}
	}
}

static void
test_datetime_parse(void **state)
{
	static const struct {
		const char *s;
		int ok;
		int64_t ms;
	} cases[] = {
		{ "1970-01-01", 1, 0 },
		{ "1970-01-02", 1, 86400000 },
		{ "1969-12-31", 1, -86400000 },
		{ "2024-10-15", 1, 1728950400000 },
		{ "2024-10-15T11:38:02Z", 1, 1728992282000 },
		{ "2024-10-15T11:38:02.101Z", 1, 1728992282101 },
		{ "2024-10-15T11:38:02.101+1134", 1, 1728950642101 },
		{ "2024-10-15T11:38:02.101-1134", 1, 1729033922101 },
		{ "2024-10-15T11:38:02+1134", 1, 1728950642000 },
		{ "2024-10-15T23:59:00+2359", 1, 1728950400000 },
		{ "2024-02-29", 1, 1709164800000 },
		{ "2000-02-29", 1, 951782400000 },
		{ "0000-01-01", 1, -62167219200000 },
		{ "9999-12-31T23:59:59.999Z", 1, 253402300799999 },
		{ "1900-02-29", 0, 0 },
		{ "2025-02-29", 0, 0 },
		{ "2024-00-01", 0, 0 },
		{ "2024-13-01", 0, 0 },
		{ "2024-01-00", 0, 0 },
		{ "2024-04-31", 0, 0 },
		{ "2024-01-32", 0, 0 },
		{ "10000-01-01", 0, 0 },
		{ "24-01-01", 0, 0 },
		{ "2024-1-01", 0, 0 },
		{ "2024-01-01T", 0, 0 },
		{ "2024-01-01T01:02", 0, 0 },
		{ "2024-01-01T01:02:03", 0, 0 },
		{ "2024-01-01T24:00:00Z", 0, 0 },
		{ "2024-01-01T01:60:03Z", 0, 0 },
		{ "2016-12-31T23:59:60Z", 0, 0 },
		{ "2024-01-01T00:00:00ZZ", 0, 0 },
		{ "2024-01-01T00:00:00.1Z", 0, 0 },
		{ "2024-01-01T00:00:00.1234Z", 0, 0 },
		{ "2024-01-01T00:00:00+2400", 0, 0 },
		{ "2024-01-01T00:00:00+0060", 0, 0 },
		{ "2024-01-01T00:00:00+01", 0, 0 },
		{ "2024-01-01T00:00:00+01:00", 0, 0 },
		{ "2024-01-01Z", 0, 0 },
		{ "2024-01-01 00:00:00Z", 0, 0 },
		{ "2024-01-01t00:00:00Z", 0, 0 },
		{ "", 0, 0 },
		{ "-1", 0, 0 },
	};
	char buf[CEDAR_DATETIME_TEXT_MAX];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = 0, back = 0;
		bool ok = cedar_datetime_parse(str_c(cases[i].s), &v);
		if (ok != (bool)cases[i].ok)
			fail_msg("datetime(\"%s\"): expected %s", cases[i].s,
			    cases[i].ok ? "ok" : "error");
		if (!ok)
			continue;
		if (v != cases[i].ms)
			fail_msg("datetime(\"%s\") = %" PRId64, cases[i].s, v);
		/* the text form reads back to the same instant */
		assert_true(cedar_datetime_format(v, buf));
		assert_true(cedar_datetime_parse(str_c(buf), &back));
		assert_int_equal(back, v);
	}
	assert_false(cedar_datetime_format(INT64_MAX, buf));
}

static void
test_duration_parse(void **state)
{
	static const struct {
		const char *s;
		int ok;
		int64_t ms;
	} cases[] = {
		{ "1ms", 1, 1 },
		{ "1s", 1, 1000 },
		{ "1m", 1, 60000 },
		{ "1h", 1, 3600000 },
		{ "1d", 1, 86400000 },
		{ "1d2h3m4s5ms", 1, 93784005 },
		{ "-1d2h3m4s5ms", 1, -93784005 },
		{ "2h", 1, 7200000 },
		{ "0ms", 1, 0 },
		{ "-0s", 1, 0 },
		{ "1m1ms", 1, 60001 },
		{ "100d", 1, 8640000000 },
		{ "9223372036854775807ms", 1, INT64_MAX },
		{ "-9223372036854775808ms", 1, INT64_MIN },
		{ "9223372036854775808ms", 0, 0 },
		{ "-9223372036854775809ms", 0, 0 },
		{ "106751991168d", 0, 0 },
		{ "106751991167d", 1, INT64_C(106751991167) * 86400000 },
		{ "106751991d", 1, INT64_C(106751991) * 86400000 },
		{ "99999999999999999999999ms", 0, 0 },
		{ "", 0, 0 },
		{ "-", 0, 0 },
		{ "1", 0, 0 },
		{ "d", 0, 0 },
		{ "1x", 0, 0 },
		{ "1h1d", 0, 0 },
		{ "1s1m", 0, 0 },
		{ "1ms1s", 0, 0 },
		{ "1d1d", 0, 0 },
		{ "1ms1ms", 0, 0 },
		{ "--1d", 0, 0 },
		{ "+1d", 0, 0 },
		{ "1 d", 0, 0 },
		{ "1d ", 0, 0 },
		{ "1.5h", 0, 0 },
		{ "1D", 0, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int64_t v = 0;
		bool ok = cedar_duration_parse(str_c(cases[i].s), &v);
		if (ok != (bool)cases[i].ok)
			fail_msg("duration(\"%s\"): expected %s", cases[i].s,
			    cases[i].ok ? "ok" : "error");
		if (ok && v != cases[i].ms)
			fail_msg("duration(\"%s\") = %" PRId64, cases[i].s, v);
	}
}

static void
test_datetime_date_time(void **state)
{
	static const struct {
		int64_t ms, date, time;
	} cases[] = {
		{ 0, 0, 0 },
		{ 1, 0, 1 },
		{ 86400000, 86400000, 0 },
		{ 86400001, 86400000, 1 },
		{ -1, -86400000, 86399999 },
		{ -86400000, -86400000, 0 },
		{ -86400001, -172800000, 86399999 },
	};
	int64_t d;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		assert_true(cedar_datetime_to_date(cases[i].ms, &d));
		assert_int_equal(d, cases[i].date);
		assert_int_equal(cedar_datetime_to_time(cases[i].ms), cases[i].time);
	}
	assert_false(cedar_datetime_to_date(INT64_MIN, &d));
}

/* ------------------------------------------------------------------ */
/* Values */

static struct cedar_value
vlong(int64_t i)
{
	struct cedar_value v;
	memset(&v, 0, sizeof(v));
	v.kind = CV_LONG;
	v.u.i = i;
	return v;
}

static struct cedar_value
vstr(const char *s)
{
	struct cedar_value v;
	memset(&v, 0, sizeof(v));
	v.kind = CV_STRING;
	v.u.s = str_c(s);
	return v;
}

static void
test_values(void **state)
{
	struct cedar_value items[6], set, rec, e;
	struct cedar_field fields[3];
	char buf[256];
	size_t n;

	(void)state;
	items[0] = vlong(3);
	items[1] = vstr("b");
	items[2] = vlong(1);
	items[3] = vlong(3);
	items[4] = vstr("a");
	items[5] = vstr("b");
	n = cedar_set_normalize(items, 6);
	assert_int_equal(n, 4);
	assert_int_equal(items[0].u.i, 1);
	assert_int_equal(items[1].u.i, 3);
	memset(&set, 0, sizeof(set));
	set.kind = CV_SET;
	set.u.set.items = items;
	set.u.set.n = n;
	cedar_value_to_json(&set, buf, sizeof(buf));
	assert_string_equal(buf, "[1,3,\"a\",\"b\"]");

	fields[0].key = S("z");
	fields[0].v = vlong(-1);
	fields[1].key = S("a");
	fields[1].v = set;
	fields[2].key = S("m\"q");
	memset(&e, 0, sizeof(e));
	e.kind = CV_ENTITY;
	e.u.uid.type = S("NS::User");
	e.u.uid.id = S("al\nice");
	fields[2].v = e;
	assert_true(cedar_record_normalize(fields, 3));
	memset(&rec, 0, sizeof(rec));
	rec.kind = CV_RECORD;
	rec.u.rec.fields = fields;
	rec.u.rec.n = 3;
	assert_non_null(cedar_record_get(&rec, S("z")));
	assert_null(cedar_record_get(&rec, S("y")));
	n = cedar_value_to_json(&rec, buf, sizeof(buf));
	assert_string_equal(buf, "{\"a\":[1,3,\"a\",\"b\"],\"m\\\"q\":"
	    "{\"__entity\":{\"type\":\"NS::User\",\"id\":\"al\\nice\"}},"
	    "\"z\":-1}");
	assert_int_equal(n, strlen(buf));
	/* truncation reports the full length */
	assert_int_equal(cedar_value_to_json(&rec, buf, 5), n);
	assert_int_equal(strlen(buf), 4);

	fields[0].key = S("a");
	fields[1].key = S("a");
	assert_false(cedar_record_normalize(fields, 2));
}

/* ------------------------------------------------------------------ */
/* Authorizer and index: random policy sets, hand-built (no parser), give
 * the same decisions through the index as through a linear scan. */

static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

/* A scope for principal (which=0) or resource (which=1). */
static void
rand_pr_scope(struct world *w, uint64_t *seed, int which,
    struct cedar_scope *sc)
{
	const struct cedar_uid *pool = which == 0 ? w->users : w->res;
	int n_pool = which == 0 ? 6 : 4;
	const char *types[2] = { which == 0 ? "User" : "Doc",
		which == 0 ? "Group" : "Photo" };

	memset(sc, 0, sizeof(*sc));
	switch (rnd(seed) % 5) {
	case 0:
		sc->kind = CSCOPE_ANY;
		break;
	case 1:
		sc->kind = CSCOPE_EQ;
		sc->uid = pool[rnd(seed) % (uint64_t)n_pool];
		break;
	case 2:
		sc->kind = CSCOPE_IN;
		sc->uid = which == 0 && rnd(seed) % 2 ? w->groups[rnd(seed) % 3]
		    : pool[rnd(seed) % (uint64_t)n_pool];
		break;
	case 3:
		sc->kind = CSCOPE_IS;
		sc->is_type = str_c(types[rnd(seed) % 2]);
		break;
	default:
		sc->kind = CSCOPE_IS_IN;
		sc->is_type = str_c(types[rnd(seed) % 2]);
		sc->uid = which == 0 ? w->groups[rnd(seed) % 3]
		    : pool[rnd(seed) % (uint64_t)n_pool];
		break;
	}
}

static void
rand_action_scope(struct world *w, uint64_t *seed, struct cedar_scope *sc)
{
	memset(sc, 0, sizeof(*sc));
	switch (rnd(seed) % 4) {
	case 0:
		sc->kind = CSCOPE_ANY;
		break;
	case 1:
		sc->kind = CSCOPE_EQ;
		sc->uid = w->actions[rnd(seed) % 4];
		break;
	case 2:
		sc->kind = CSCOPE_IN;
		sc->uid = rnd(seed) % 2 ? w->agroup : w->actions[rnd(seed) % 4];
		break;
	default: {
		struct cedar_uid *u = arena_calloc(&w->arena, 2, sizeof(*u));
		u[0] = w->actions[rnd(seed) % 4];
		u[1] = rnd(seed) % 2 ? w->agroup : w->actions[rnd(seed) % 4];
		sc->kind = CSCOPE_IN_SET;
		sc->uids = u;
		sc->n_uids = rnd(seed) % 3;
		break;
	}
	}
}

static struct cedar_policy *
rand_policy(struct world *w, uint64_t *seed, size_t i)
{
	struct cedar_policy *p = arena_zalloc(&w->arena, sizeof(*p));
	struct cedar_cond *c;
	struct cedar_expr *e;
	char id[32];

	snprintf(id, sizeof(id), "policy%zu", i);
	p->id = arena_strdup(&w->arena, id, strlen(id));
	p->effect = rnd(seed) % 4 == 0 ? CEDAR_FORBID : CEDAR_PERMIT;
	rand_pr_scope(w, seed, 0, &p->principal);
	rand_action_scope(w, seed, &p->action);
	rand_pr_scope(w, seed, 1, &p->resource);
	/* condition: true, false, or an error (1 + "x") */
	c = arena_zalloc(&w->arena, sizeof(*c));
	e = arena_zalloc(&w->arena, 3 * sizeof(*e));
	c->is_when = true;
	c->expr = e;
	switch (rnd(seed) % 6) {
	case 0:
		e->kind = CX_BOOL;
		e->bval = false;
		break;
	case 1:
		e->kind = CX_ADD;
		e->a = &e[1];
		e->b = &e[2];
		e[1].kind = CX_LONG;
		e[1].ival = 1;
		e[2].kind = CX_STRING;
		e[2].s = STR_LIT("x");
		break;
	default:
		e->kind = CX_BOOL;
		e->bval = true;
		break;
	}
	p->conds = c;
	p->n_conds = 1;
	/* some are template links (slots bound), some unlinked templates,
	 * which are never evaluated */
	switch (rnd(seed) % 8) {
	case 0:
		if (p->principal.kind == CSCOPE_EQ || p->principal.kind == CSCOPE_IN ||
		    p->principal.kind == CSCOPE_IS_IN) {
			p->principal.is_slot = true;
			p->has_slot_principal = true;
			p->slot_principal = p->principal.uid;
			memset(&p->principal.uid, 0, sizeof(p->principal.uid));
			p->template_of = p;   /* any non-NULL template */
		}
		break;
	case 1:
		if (p->resource.kind == CSCOPE_EQ || p->resource.kind == CSCOPE_IN) {
			p->resource.is_slot = true;
			p->is_template = true;
		}
		break;
	default:
		break;
	}
	return p;
}

static void
decision_str(const struct cedar_decision *d, char *buf, size_t cap)
{
	size_t n = (size_t)snprintf(buf, cap, "%s r:", d->allow ? "allow" : "deny");

	for (size_t i = 0; i < d->n_reasons && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, " %s", d->reasons[i]);
	for (size_t i = 0; i < d->n_errors && n < cap; i++)
		n += (size_t)snprintf(buf + n, cap - n, " e:%s", d->errors[i].policy_id);
}

static void
check_same_as_linear(struct world *w, struct cedar_policy_set *ps,
    size_t *n_allow, size_t *n_err)
{
	struct cedar_request req;
	struct arena a;
	char b1[4096], b2[4096];

	arena_init(&a, 0);
	memset(&req, 0, sizeof(req));
	req.context.kind = CV_RECORD;
	for (int pi = 0; pi < 6; pi++)
	for (int ai = 0; ai < 4; ai++)
	for (int ri = 0; ri < 4; ri++) {
		struct cedar_decision d1, d2;
		struct cedar_index *ix = ps->index;

		req.principal = w->users[pi];
		req.action = w->actions[ai];
		req.resource = w->res[ri];
		assert_int_equal(cedar_authorize(ps, w->es, &req, &a, &d1),
		    MANDATE_OK);
		ps->index = NULL;     /* the linear scan */
		assert_int_equal(cedar_authorize(ps, w->es, &req, &a, &d2),
		    MANDATE_OK);
		ps->index = ix;
		decision_str(&d1, b1, sizeof(b1));
		decision_str(&d2, b2, sizeof(b2));
		assert_string_equal(b1, b2);
		*n_allow += d1.allow;
		*n_err += d1.n_errors > 0;
		arena_reset(&a);
	}
	arena_free(&a);
}

static void
test_authorize_index(void **state)
{
	struct world w;
	uint64_t seed = 0x9e3779b97f4a7c15ULL;
	size_t n_allow = 0, n_err = 0;

	(void)state;
	world_init(&w);
	for (int round = 0; round < 40; round++) {
		struct cedar_policy_set ps;
		size_t n = 1 + rnd(&seed) % 30;

		memset(&ps, 0, sizeof(ps));
		arena_init(&ps.arena, 0);
		ps.all = arena_calloc(&w.arena, n, sizeof(*ps.all));
		for (size_t i = 0; i < n; i++)
			ps.all[i] = rand_policy(&w, &seed, i);
		ps.n_all = n;
		assert_int_equal(cedar_policy_set_finish(&ps, NULL), MANDATE_OK);
		assert_true(ps.finished);
		check_same_as_linear(&w, &ps, &n_allow, &n_err);
		arena_free(&ps.arena);
	}
	/* the random sets exercise every outcome */
	assert_true(n_allow > 100);
	assert_true(n_err > 100);
	world_free(&w);
}

/* 10,000 policies for other principals and actions are never visited:
 * the decision only evaluates the few that can apply (an erroring
 * condition on every unrelated policy would show up in the errors). */
static void
test_authorize_index_skips(void **state)
{
	struct world w;
	struct cedar_policy_set ps;
	struct cedar_request req;
	struct cedar_decision d;
	struct arena a;
	uint64_t seed = 42;
	size_t n = 10003;

	(void)state;
	world_init(&w);
	memset(&ps, 0, sizeof(ps));
	arena_init(&ps.arena, 0);
	arena_init(&a, 0);
	ps.all = arena_calloc(&w.arena, n, sizeof(*ps.all));
	for (size_t i = 0; i < n - 3; i++) {
		struct cedar_policy *p = rand_policy(&w, &seed, i);
		p->principal.is_slot = p->resource.is_slot = false;
		p->is_template = false;
		/* an erroring condition, scoped to someone else */
		p->conds[0].expr->kind = CX_ADD;
		p->conds[0].expr->a = &p->conds[0].expr[1];
		p->conds[0].expr->b = &p->conds[0].expr[2];
		p->conds[0].expr[1].kind = CX_LONG;
		p->conds[0].expr[2].kind = CX_STRING;
		p->principal.kind = CSCOPE_EQ;
		p->principal.uid = mkuid(&w.arena, "User", "other", (int)i);
		if (i % 2) {
			p->principal.kind = CSCOPE_ANY;
			p->action.kind = CSCOPE_EQ;
			p->action.uid = mkuid(&w.arena, "Action", "x", (int)i);
		}
		ps.all[i] = p;
	}
	for (size_t i = n - 3; i < n; i++) {
		struct cedar_policy *p = rand_policy(&w, &seed, i);
		p->principal.is_slot = p->resource.is_slot = false;
		p->is_template = false;
		p->principal.kind = CSCOPE_IN;
		p->principal.uid = w.groups[2];
		p->action.kind = CSCOPE_IN;
		p->action.uid = w.agroup;
		p->resource.kind = CSCOPE_ANY;
		p->effect = CEDAR_PERMIT;
		p->conds[0].expr->kind = CX_BOOL;
		p->conds[0].expr->bval = true;
		ps.all[i] = p;
	}
	ps.n_all = n;
	assert_int_equal(cedar_policy_set_finish(&ps, NULL), MANDATE_OK);
	memset(&req, 0, sizeof(req));
	req.context.kind = CV_RECORD;
	req.principal = w.users[3];   /* in g0, hence in g2 */
	req.action = w.actions[1];    /* in ag */
	req.resource = w.res[0];
	assert_int_equal(cedar_authorize(&ps, w.es, &req, &a, &d), MANDATE_OK);
	assert_true(d.allow);
	assert_int_equal(d.n_reasons, 3);
	assert_int_equal(d.n_errors, 0);
	assert_string_equal(d.reasons[0], "policy10000");
	assert_string_equal(d.reasons[2], "policy10002");
	req.principal = w.users[1];   /* not in g2 */
	assert_int_equal(cedar_authorize(&ps, w.es, &req, &a, &d), MANDATE_OK);
	assert_false(d.allow);
	assert_int_equal(d.n_reasons, 0);
	assert_int_equal(d.n_errors, 0);
	arena_free(&a);
	arena_free(&ps.arena);
	world_free(&w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ip_parse),
		cmocka_unit_test(test_ip_ranges),
		cmocka_unit_test(test_decimal_parse),
		cmocka_unit_test(test_datetime_parse),
		cmocka_unit_test(test_duration_parse),
		cmocka_unit_test(test_datetime_date_time),
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_authorize_index),
		cmocka_unit_test(test_authorize_index_skips),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

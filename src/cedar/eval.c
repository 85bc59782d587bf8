/*
 * eval.c - the Cedar expression evaluator and the per-policy check
 * (scope, then `when`/`unless` conditions), with the reference
 * implementation's semantics: strict operand kinds (a wrong kind is a
 * type error), checked 64-bit arithmetic, short-circuit && and ||, `in`
 * through the entity store's ancestor sets, and the ipaddr, decimal,
 * datetime and duration extension functions.  Every error is reported in
 * ctx->err and makes the whole policy an error; work is bounded by
 * ctx->max_steps.  Values made here live in ctx->arena.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "cedar_int.h"
#include "eval_int.h"
#include "util/utf8.h"

#define MAX_ARGS 3

static int
fail(struct cedar_eval_ctx *ctx, const struct cedar_expr *e, int code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
fail(struct cedar_eval_ctx *ctx, const struct cedar_expr *e, int code,
    const char *fmt, ...)
{
	va_list ap;

	ctx->err.code = code;
	ctx->err.off = e ? e->off : 0;
	ctx->err.len = e ? e->len : 0;
	va_start(ap, fmt);
	vsnprintf(ctx->err.msg, sizeof(ctx->err.msg), fmt, ap);
	va_end(ap);
	/* a value quoted past the buffer may be cut inside a character: the
	 * message is UTF-8 or it is dropped wherever it goes as JSON (the
	 * answer, the audit record, the log) */
	ctx->err.msg[utf8_invalid_at(ctx->err.msg,
	    strlen(ctx->err.msg))] = '\0';
	return code;
}

static int
oom(struct cedar_eval_ctx *ctx, const struct cedar_expr *e)
{
	return fail(ctx, e, MANDATE_ENOMEM, "out of memory during evaluation");
}

static const char *
kind_name(const struct cedar_value *v)
{
	switch (v->kind) {
	case CV_BOOL: return "bool";
	case CV_LONG: return "long";
	case CV_STRING: return "string";
	case CV_ENTITY: return "entity";
	case CV_SET: return "set";
	case CV_RECORD: return "record";
	case CV_EXT:
		switch (v->ext) {
		case CEXT_IPADDR: return "ipaddr";
		case CEXT_DECIMAL: return "decimal";
		case CEXT_DATETIME: return "datetime";
		case CEXT_DURATION: return "duration";
		default: return "extension";
		}
	default: return "unknown";
	}
}

static int
type_error(struct cedar_eval_ctx *ctx, const struct cedar_expr *e,
    const char *want, const struct cedar_value *got)
{
	return fail(ctx, e, MANDATE_EEVAL, "type error: expected %s, got %s",
	    want, kind_name(got));
}

static const struct cedar_entity *
find_entity(const struct cedar_entities *es, const struct cedar_uid *uid)
{
	return es != NULL ? cedar_entities_find(es, uid) : NULL;
}

static bool
uid_in(const struct cedar_entities *es, const struct cedar_uid *a,
    const struct cedar_uid *b)
{
	if (cedar_uid_eq(a, b))
		return true;
	return es != NULL && cedar_entities_in(es, a, b);
}

static void
set_bool(struct cedar_value *v, bool b)
{
	memset(v, 0, sizeof(*v));
	v->kind = CV_BOOL;
	v->u.b = b;
}

static void
set_long(struct cedar_value *v, int64_t i)
{
	memset(v, 0, sizeof(*v));
	v->kind = CV_LONG;
	v->u.i = i;
}

static void
set_ext_i(struct cedar_value *v, uint8_t ext, int64_t i)
{
	memset(v, 0, sizeof(*v));
	v->kind = CV_EXT;
	v->ext = ext;
	v->u.i = i;
}

static void
set_entity(struct cedar_value *v, const struct cedar_uid *uid)
{
	memset(v, 0, sizeof(*v));
	v->kind = CV_ENTITY;
	v->u.uid = *uid;
}

static bool
is_ext(const struct cedar_value *v, uint8_t ext)
{
	return v->kind == CV_EXT && v->ext == ext;
}

/* Is x an element of the (sorted, unique) set s? */
static bool
set_has(const struct cedar_value *s, const struct cedar_value *x)
{
	size_t lo = 0, hi = s->u.set.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = cedar_value_cmp(&s->u.set.items[mid], x);
		if (r == 0)
			return true;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

/* Merge walk over two sorted sets: *all = b is a subset of a, *any = they
 * share an element. */
static void
set_relate(const struct cedar_value *a, const struct cedar_value *b,
    bool *all, bool *any)
{
	size_t i = 0, j = 0;

	*all = true;
	*any = false;
	while (j < b->u.set.n) {
		int r = i < a->u.set.n ?
		    cedar_value_cmp(&a->u.set.items[i], &b->u.set.items[j]) : 1;
		if (r == 0) {
			*any = true;
			i++;
			j++;
		} else if (r < 0) {
			i++;
		} else {
			*all = false;
			j++;
		}
	}
}

/* Decode one UTF-8 code point at s[*i]; a malformed byte decodes to a
 * value no pattern element can equal. */
static uint32_t
utf8_next(struct str s, size_t *i)
{
	const unsigned char *p = (const unsigned char *)s.p + *i;
	size_t left = s.n - *i, need;
	uint32_t cp;

	if (p[0] < 0x80) {
		(*i)++;
		return p[0];
	}
	if ((p[0] & 0xe0) == 0xc0) {
		need = 1;
		cp = p[0] & 0x1f;
	} else if ((p[0] & 0xf0) == 0xe0) {
		need = 2;
		cp = p[0] & 0x0f;
	} else if ((p[0] & 0xf8) == 0xf0) {
		need = 3;
		cp = p[0] & 0x07;
	} else {
		(*i)++;
		return 0x80000000u | p[0];
	}
	if (left <= need) {
		(*i)++;
		return 0x80000000u | p[0];
	}
	for (size_t k = 1; k <= need; k++) {
		if ((p[k] & 0xc0) != 0x80) {
			(*i)++;
			return 0x80000000u | p[0];
		}
		cp = cp << 6 | (p[k] & 0x3f);
	}
	*i += need + 1;
	return cp;
}

/* `like`: greedy matching that backtracks only to the last wildcard, so
 * the work is at most len(s) * len(pattern); every iteration is a step. */
static int
like_match(struct cedar_eval_ctx *ctx, const struct cedar_expr *e,
    struct str s, const struct cedar_pattern *pat, bool *out)
{
	size_t si = 0, pi = 0, star_p = SIZE_MAX, star_s = 0;

	while (si < s.n) {
		size_t next = si;
		uint32_t cp;

		if (++ctx->steps > ctx->max_steps)
			return fail(ctx, e, MANDATE_ELIMIT,
			    "evaluation step limit exceeded");
		if (pi < pat->n && pat->elems[pi] == CEDAR_PAT_WILDCARD) {
			star_p = pi++;
			star_s = si;
			continue;
		}
		cp = utf8_next(s, &next);
		if (pi < pat->n && pat->elems[pi] == cp) {
			si = next;
			pi++;
			continue;
		}
		if (star_p == SIZE_MAX) {
			*out = false;
			return MANDATE_OK;
		}
		pi = star_p + 1;
		utf8_next(s, &star_s);
		si = star_s;
	}
	while (pi < pat->n && pat->elems[pi] == CEDAR_PAT_WILDCARD)
		pi++;
	*out = pi == pat->n;
	return MANDATE_OK;
}

/* Attributes of a record, or of an entity in the store (NULL with an
 * error set when the entity is missing and `must_exist`). */
static int
attrs_of(struct cedar_eval_ctx *ctx, const struct cedar_expr *e,
    const struct cedar_value *v, bool must_exist,
    const struct cedar_value **out)
{
	const struct cedar_entity *ent;

	*out = NULL;
	if (v->kind == CV_RECORD) {
		*out = v;
		return MANDATE_OK;
	}
	if (v->kind != CV_ENTITY)
		return type_error(ctx, e, "entity or record", v);
	ent = find_entity(ctx->entities, &v->u.uid);
	if (ent == NULL) {
		if (!must_exist)
			return MANDATE_OK;
		return fail(ctx, e, MANDATE_EEVAL,
		    "entity %.*s::\"%.*s\" does not exist",
		    (int)v->u.uid.type.n, v->u.uid.type.p,
		    (int)v->u.uid.id.n, v->u.uid.id.p);
	}
	*out = &ent->attrs;
	return MANDATE_OK;
}

static int
eval_in(struct cedar_eval_ctx *ctx, const struct cedar_expr *e,
    const struct cedar_value *a, const struct cedar_value *b,
    struct cedar_value *out)
{
	bool found = false;

	if (a->kind != CV_ENTITY)
		return type_error(ctx, e, "entity", a);
	if (b->kind == CV_ENTITY) {
		set_bool(out, uid_in(ctx->entities, &a->u.uid, &b->u.uid));
		return MANDATE_OK;
	}
	if (b->kind != CV_SET)
		return type_error(ctx, e, "entity or set of entities", b);
	/* every element must be an entity, even after a match */
	for (size_t i = 0; i < b->u.set.n; i++) {
		if (b->u.set.items[i].kind != CV_ENTITY)
			return type_error(ctx, e, "set of entities",
			    &b->u.set.items[i]);
	}
	for (size_t i = 0; i < b->u.set.n && !found; i++) {
		if (++ctx->steps > ctx->max_steps)
			return fail(ctx, e, MANDATE_ELIMIT,
			    "evaluation step limit exceeded");
		found = uid_in(ctx->entities, &a->u.uid, &b->u.set.items[i].u.uid);
	}
	set_bool(out, found);
	return MANDATE_OK;
}

static int
eval_compare(struct cedar_eval_ctx *ctx, const struct cedar_expr *e,
    const struct cedar_value *a, const struct cedar_value *b,
    struct cedar_value *out)
{
	int64_t x, y;
	bool r;

	if (a->kind == CV_LONG && b->kind == CV_LONG) {
		x = a->u.i;
		y = b->u.i;
	} else if (a->kind == CV_EXT && b->kind == CV_EXT && a->ext == b->ext &&
	    (a->ext == CEXT_DATETIME || a->ext == CEXT_DURATION)) {
		x = a->u.i;
		y = b->u.i;
	} else {
		return fail(ctx, e, MANDATE_EEVAL,
		    "type error: cannot compare %s with %s", kind_name(a),
		    kind_name(b));
	}
	switch (e->kind) {
	case CX_LT: r = x < y; break;
	case CX_LE: r = x <= y; break;
	case CX_GT: r = x > y; break;
	default: r = x >= y; break;
	}
	set_bool(out, r);
	return MANDATE_OK;
}

static int
eval_arith(struct cedar_eval_ctx *ctx, const struct cedar_expr *e,
    const struct cedar_value *a, const struct cedar_value *b,
    struct cedar_value *out)
{
	int64_t r;
	bool ok;
	const char *op;

	if (a->kind != CV_LONG)
		return type_error(ctx, e, "long", a);
	if (b->kind != CV_LONG)
		return type_error(ctx, e, "long", b);
	switch (e->kind) {
	case CX_ADD: ok = cedar_add_ok(a->u.i, b->u.i, &r); op = "+"; break;
	case CX_SUB: ok = cedar_sub_ok(a->u.i, b->u.i, &r); op = "-"; break;
	default: ok = cedar_mul_ok(a->u.i, b->u.i, &r); op = "*"; break;
	}
	if (!ok)
		return fail(ctx, e, MANDATE_EEVAL,
		    "integer overflow: %" PRId64 " %s %" PRId64, a->u.i, op,
		    b->u.i);
	set_long(out, r);
	return MANDATE_OK;
}

static const struct {
	const char *name;
	uint8_t arity;
} fn_info[CFN__COUNT] = {
	[CFN_CONTAINS] = { "contains", 2 },
	[CFN_CONTAINS_ALL] = { "containsAll", 2 },
	[CFN_CONTAINS_ANY] = { "containsAny", 2 },
	[CFN_IS_EMPTY] = { "isEmpty", 1 },
	[CFN_GET_TAG] = { "getTag", 2 },
	[CFN_HAS_TAG] = { "hasTag", 2 },
	[CFN_IP] = { "ip", 1 },
	[CFN_IS_IPV4] = { "isIpv4", 1 },
	[CFN_IS_IPV6] = { "isIpv6", 1 },
	[CFN_IS_LOOPBACK] = { "isLoopback", 1 },
	[CFN_IS_MULTICAST] = { "isMulticast", 1 },
	[CFN_IS_IN_RANGE] = { "isInRange", 2 },
	[CFN_DECIMAL] = { "decimal", 1 },
	[CFN_LESS_THAN] = { "lessThan", 2 },
	[CFN_LESS_THAN_OR_EQUAL] = { "lessThanOrEqual", 2 },
	[CFN_GREATER_THAN] = { "greaterThan", 2 },
	[CFN_GREATER_THAN_OR_EQUAL] = { "greaterThanOrEqual", 2 },
	[CFN_DATETIME] = { "datetime", 1 },
	[CFN_DURATION] = { "duration", 1 },
	[CFN_OFFSET] = { "offset", 2 },
	[CFN_DURATION_SINCE] = { "durationSince", 2 },
	[CFN_TO_DATE] = { "toDate", 1 },
	[CFN_TO_TIME] = { "toTime", 1 },
	[CFN_TO_MILLISECONDS] = { "toMilliseconds", 1 },
	[CFN_TO_SECONDS] = { "toSeconds", 1 },
	[CFN_TO_MINUTES] = { "toMinutes", 1 },
	[CFN_TO_HOURS] = { "toHours", 1 },
	[CFN_TO_DAYS] = { "toDays", 1 },
};

/* Check that args[0..n) have the extension kind `ext`. */
static int
want_ext(struct cedar_eval_ctx *ctx, const struct cedar_expr *e,
    const struct cedar_value *args, size_t n, uint8_t ext, const char *name)
{
	for (size_t i = 0; i < n; i++) {
		if (!is_ext(&args[i], ext))
			return type_error(ctx, e, name, &args[i]);
	}
	return MANDATE_OK;
}

static int
ext_fail(struct cedar_eval_ctx *ctx, const struct cedar_expr *e,
    const char *fn, const char *what, struct str s)
{
	return fail(ctx, e, MANDATE_EEVAL, "%s: %s \"%.*s\"", fn, what,
	    (int)(s.n > 60 ? 60 : s.n), s.p);
}

static int
call_fn(struct cedar_eval_ctx *ctx, const struct cedar_expr *e, unsigned fn,
    const struct cedar_value *args, size_t nargs, struct cedar_value *out)
{
	const struct cedar_entity *ent;
	const struct cedar_value *tv;
	int64_t i;
	bool all, any;
	int r;

	if (fn >= CFN__COUNT || fn_info[fn].name == NULL)
		return fail(ctx, e, MANDATE_EEVAL, "unknown function");
	if (nargs != fn_info[fn].arity)
		return fail(ctx, e, MANDATE_EEVAL,
		    "%s: wrong number of arguments", fn_info[fn].name);
	switch (fn) {
	case CFN_CONTAINS:
		if (args[0].kind != CV_SET)
			return type_error(ctx, e, "set", &args[0]);
		set_bool(out, set_has(&args[0], &args[1]));
		return MANDATE_OK;
	case CFN_CONTAINS_ALL:
	case CFN_CONTAINS_ANY:
		if (args[0].kind != CV_SET)
			return type_error(ctx, e, "set", &args[0]);
		if (args[1].kind != CV_SET)
			return type_error(ctx, e, "set", &args[1]);
		ctx->steps += args[0].u.set.n + args[1].u.set.n;
		set_relate(&args[0], &args[1], &all, &any);
		set_bool(out, fn == CFN_CONTAINS_ALL ? all : any);
		return MANDATE_OK;
	case CFN_IS_EMPTY:
		if (args[0].kind != CV_SET)
			return type_error(ctx, e, "set", &args[0]);
		set_bool(out, args[0].u.set.n == 0);
		return MANDATE_OK;
	case CFN_GET_TAG:
	case CFN_HAS_TAG:
		if (args[0].kind != CV_ENTITY)
			return type_error(ctx, e, "entity", &args[0]);
		if (args[1].kind != CV_STRING)
			return type_error(ctx, e, "string", &args[1]);
		ent = find_entity(ctx->entities, &args[0].u.uid);
		tv = ent != NULL ? cedar_record_get(&ent->tags, args[1].u.s) : NULL;
		if (fn == CFN_HAS_TAG) {
			set_bool(out, tv != NULL);
			return MANDATE_OK;
		}
		if (tv == NULL)
			return fail(ctx, e, MANDATE_EEVAL,
			    "tag \"%.*s\" does not exist on %.*s::\"%.*s\"",
			    (int)args[1].u.s.n, args[1].u.s.p,
			    (int)args[0].u.uid.type.n, args[0].u.uid.type.p,
			    (int)args[0].u.uid.id.n, args[0].u.uid.id.p);
		*out = *tv;
		return MANDATE_OK;
	case CFN_IP:
	case CFN_DECIMAL:
	case CFN_DATETIME:
	case CFN_DURATION:
		if (args[0].kind != CV_STRING)
			return type_error(ctx, e, "string", &args[0]);
		memset(out, 0, sizeof(*out));
		out->kind = CV_EXT;
		if (fn == CFN_IP) {
			out->ext = CEXT_IPADDR;
			if (!cedar_ip_parse(args[0].u.s, &out->u.ip))
				return ext_fail(ctx, e, "ip", "invalid IP address",
				    args[0].u.s);
		} else if (fn == CFN_DECIMAL) {
			out->ext = CEXT_DECIMAL;
			if (!cedar_decimal_parse(args[0].u.s, &out->u.i))
				return ext_fail(ctx, e, "decimal",
				    "invalid or out-of-range decimal", args[0].u.s);
		} else if (fn == CFN_DATETIME) {
			out->ext = CEXT_DATETIME;
			if (!cedar_datetime_parse(args[0].u.s, &out->u.i))
				return ext_fail(ctx, e, "datetime",
				    "invalid datetime", args[0].u.s);
		} else {
			out->ext = CEXT_DURATION;
			if (!cedar_duration_parse(args[0].u.s, &out->u.i))
				return ext_fail(ctx, e, "duration",
				    "invalid or out-of-range duration", args[0].u.s);
		}
		return MANDATE_OK;
	case CFN_IS_IPV4:
	case CFN_IS_IPV6:
	case CFN_IS_LOOPBACK:
	case CFN_IS_MULTICAST:
	case CFN_IS_IN_RANGE:
		if ((r = want_ext(ctx, e, args, nargs, CEXT_IPADDR, "ipaddr")) != 0)
			return r;
		if (fn == CFN_IS_IPV4)
			set_bool(out, !args[0].u.ip.is_v6);
		else if (fn == CFN_IS_IPV6)
			set_bool(out, args[0].u.ip.is_v6);
		else if (fn == CFN_IS_LOOPBACK)
			set_bool(out, cedar_ip_is_loopback(&args[0].u.ip));
		else if (fn == CFN_IS_MULTICAST)
			set_bool(out, cedar_ip_is_multicast(&args[0].u.ip));
		else
			set_bool(out, cedar_ip_in_range(&args[0].u.ip,
			    &args[1].u.ip));
		return MANDATE_OK;
	case CFN_LESS_THAN:
	case CFN_LESS_THAN_OR_EQUAL:
	case CFN_GREATER_THAN:
	case CFN_GREATER_THAN_OR_EQUAL:
		if ((r = want_ext(ctx, e, args, 2, CEXT_DECIMAL, "decimal")) != 0)
			return r;
		if (fn == CFN_LESS_THAN)
			set_bool(out, args[0].u.i < args[1].u.i);
		else if (fn == CFN_LESS_THAN_OR_EQUAL)
			set_bool(out, args[0].u.i <= args[1].u.i);
		else if (fn == CFN_GREATER_THAN)
			set_bool(out, args[0].u.i > args[1].u.i);
		else
			set_bool(out, args[0].u.i >= args[1].u.i);
		return MANDATE_OK;
	case CFN_OFFSET:
		if ((r = want_ext(ctx, e, args, 1, CEXT_DATETIME, "datetime")) != 0 ||
		    (r = want_ext(ctx, e, args + 1, 1, CEXT_DURATION,
		    "duration")) != 0)
			return r;
		if (!cedar_add_ok(args[0].u.i, args[1].u.i, &i))
			return fail(ctx, e, MANDATE_EEVAL,
			    "offset: datetime overflow");
		set_ext_i(out, CEXT_DATETIME, i);
		return MANDATE_OK;
	case CFN_DURATION_SINCE:
		if ((r = want_ext(ctx, e, args, 2, CEXT_DATETIME, "datetime")) != 0)
			return r;
		if (!cedar_sub_ok(args[0].u.i, args[1].u.i, &i))
			return fail(ctx, e, MANDATE_EEVAL,
			    "durationSince: duration overflow");
		set_ext_i(out, CEXT_DURATION, i);
		return MANDATE_OK;
	case CFN_TO_DATE:
		if ((r = want_ext(ctx, e, args, 1, CEXT_DATETIME, "datetime")) != 0)
			return r;
		if (!cedar_datetime_to_date(args[0].u.i, &i))
			return fail(ctx, e, MANDATE_EEVAL, "toDate: overflow");
		set_ext_i(out, CEXT_DATETIME, i);
		return MANDATE_OK;
	case CFN_TO_TIME:
		if ((r = want_ext(ctx, e, args, 1, CEXT_DATETIME, "datetime")) != 0)
			return r;
		set_ext_i(out, CEXT_DURATION, cedar_datetime_to_time(args[0].u.i));
		return MANDATE_OK;
	case CFN_TO_MILLISECONDS:
	case CFN_TO_SECONDS:
	case CFN_TO_MINUTES:
	case CFN_TO_HOURS:
	case CFN_TO_DAYS:
		if ((r = want_ext(ctx, e, args, 1, CEXT_DURATION, "duration")) != 0)
			return r;
		/* truncating division, as the reference */
		i = args[0].u.i;
		if (fn == CFN_TO_SECONDS)
			i /= 1000;
		else if (fn == CFN_TO_MINUTES)
			i /= 60000;
		else if (fn == CFN_TO_HOURS)
			i /= 3600000;
		else if (fn == CFN_TO_DAYS)
			i /= 86400000;
		set_long(out, i);
		return MANDATE_OK;
	default:
		return fail(ctx, e, MANDATE_EEVAL, "unknown function");
	}
}

static int
eval_call(struct cedar_eval_ctx *ctx, const struct cedar_expr *e,
    struct cedar_value *out)
{
	struct cedar_value args[MAX_ARGS];
	size_t nargs = 0;
	int r;

	if (e->kind == CX_METHOD) {
		if (e->a == NULL)
			return fail(ctx, e, MANDATE_EEVAL, "method without receiver");
		if ((r = cedar_eval(ctx, e->a, &args[nargs++])) != MANDATE_OK)
			return r;
	}
	if (e->n_items > MAX_ARGS - nargs)
		return fail(ctx, e, MANDATE_EEVAL, "too many arguments");
	for (uint32_t k = 0; k < e->n_items; k++) {
		if ((r = cedar_eval(ctx, e->items[k], &args[nargs++])) != MANDATE_OK)
			return r;
	}
	return call_fn(ctx, e, e->fn, args, nargs, out);
}

static int
eval_set(struct cedar_eval_ctx *ctx, const struct cedar_expr *e,
    struct cedar_value *out)
{
	struct cedar_value *items = NULL;
	size_t n;
	int r;

	if (e->n_items > 0) {
		items = arena_calloc(ctx->arena, e->n_items, sizeof(*items));
		if (items == NULL)
			return oom(ctx, e);
	}
	for (uint32_t k = 0; k < e->n_items; k++) {
		if ((r = cedar_eval(ctx, e->items[k], &items[k])) != MANDATE_OK)
			return r;
	}
	n = cedar_set_normalize(items, e->n_items);
	ctx->steps += n;
	memset(out, 0, sizeof(*out));
	out->kind = CV_SET;
	out->u.set.items = items;
	out->u.set.n = n;
	return MANDATE_OK;
}

static int
eval_record(struct cedar_eval_ctx *ctx, const struct cedar_expr *e,
    struct cedar_value *out)
{
	struct cedar_field *fields = NULL;
	int r;

	if (e->n_items > 0) {
		fields = arena_calloc(ctx->arena, e->n_items, sizeof(*fields));
		if (fields == NULL)
			return oom(ctx, e);
	}
	for (uint32_t k = 0; k < e->n_items; k++) {
		fields[k].key = e->keys[k];
		if ((r = cedar_eval(ctx, e->items[k], &fields[k].v)) != MANDATE_OK)
			return r;
	}
	if (!cedar_record_normalize(fields, e->n_items))
		return fail(ctx, e, MANDATE_EEVAL, "duplicate key in record");
	ctx->steps += e->n_items;
	memset(out, 0, sizeof(*out));
	out->kind = CV_RECORD;
	out->u.rec.fields = fields;
	out->u.rec.n = e->n_items;
	return MANDATE_OK;
}

static int
eval_var(struct cedar_eval_ctx *ctx, const struct cedar_expr *e,
    struct cedar_value *out)
{
	const struct cedar_request *req = ctx->req;

	if (req == NULL)
		return fail(ctx, e, MANDATE_EEVAL, "no request");
	switch (e->var) {
	case CVAR_PRINCIPAL: set_entity(out, &req->principal); break;
	case CVAR_ACTION: set_entity(out, &req->action); break;
	case CVAR_RESOURCE: set_entity(out, &req->resource); break;
	case CVAR_CONTEXT:
		*out = req->context;
		if (out->kind != CV_RECORD) {
			memset(out, 0, sizeof(*out));
			out->kind = CV_RECORD;
		}
		break;
	default:
		return fail(ctx, e, MANDATE_EEVAL, "unknown variable");
	}
	return MANDATE_OK;
}

static int
eval_slot(struct cedar_eval_ctx *ctx, const struct cedar_expr *e,
    struct cedar_value *out)
{
	const struct cedar_policy *p = ctx->policy;

	if (p != NULL && e->var == CSLOT_PRINCIPAL && p->has_slot_principal) {
		set_entity(out, &p->slot_principal);
		return MANDATE_OK;
	}
	if (p != NULL && e->var == CSLOT_RESOURCE && p->has_slot_resource) {
		set_entity(out, &p->slot_resource);
		return MANDATE_OK;
	}
	return fail(ctx, e, MANDATE_EEVAL, "unlinked template slot");
}

int
cedar_eval(struct cedar_eval_ctx *ctx, const struct cedar_expr *e,
    struct cedar_value *out)
{
	struct cedar_value a, b;
	const struct cedar_value *rec, *fv;
	bool m;
	int r;

	if (ctx->max_steps == 0)
		ctx->max_steps = CEDAR_MAX_EVAL_STEPS;
	if (e == NULL)
		return fail(ctx, NULL, MANDATE_EINTERNAL, "missing expression");
	if (++ctx->steps > ctx->max_steps)
		return fail(ctx, e, MANDATE_ELIMIT, "evaluation step limit exceeded");

	switch (e->kind) {
	case CX_BOOL:
		set_bool(out, e->bval);
		return MANDATE_OK;
	case CX_LONG:
		set_long(out, e->ival);
		return MANDATE_OK;
	case CX_STRING:
		memset(out, 0, sizeof(*out));
		out->kind = CV_STRING;
		out->u.s = e->s;
		return MANDATE_OK;
	case CX_ENTITY:
		set_entity(out, &e->uid);
		return MANDATE_OK;
	case CX_VAR:
		return eval_var(ctx, e, out);
	case CX_SLOT:
		return eval_slot(ctx, e, out);
	case CX_NOT:
		if ((r = cedar_eval(ctx, e->a, &a)) != MANDATE_OK)
			return r;
		if (a.kind != CV_BOOL)
			return type_error(ctx, e, "bool", &a);
		set_bool(out, !a.u.b);
		return MANDATE_OK;
	case CX_NEG:
		if ((r = cedar_eval(ctx, e->a, &a)) != MANDATE_OK)
			return r;
		if (a.kind != CV_LONG)
			return type_error(ctx, e, "long", &a);
		if (a.u.i == INT64_MIN)
			return fail(ctx, e, MANDATE_EEVAL,
			    "integer overflow: -(%" PRId64 ")", a.u.i);
		set_long(out, -a.u.i);
		return MANDATE_OK;
	case CX_AND:
	case CX_OR:
		if ((r = cedar_eval(ctx, e->a, &a)) != MANDATE_OK)
			return r;
		if (a.kind != CV_BOOL)
			return type_error(ctx, e, "bool", &a);
		if (a.u.b == (e->kind == CX_OR)) {
			set_bool(out, a.u.b);   /* short circuit */
			return MANDATE_OK;
		}
		if ((r = cedar_eval(ctx, e->b, &b)) != MANDATE_OK)
			return r;
		if (b.kind != CV_BOOL)
			return type_error(ctx, e, "bool", &b);
		set_bool(out, b.u.b);
		return MANDATE_OK;
	case CX_IF:
		if ((r = cedar_eval(ctx, e->a, &a)) != MANDATE_OK)
			return r;
		if (a.kind != CV_BOOL)
			return type_error(ctx, e, "bool", &a);
		return cedar_eval(ctx, a.u.b ? e->b : e->c, out);
	case CX_HAS:
	case CX_GETATTR:
		if ((r = cedar_eval(ctx, e->a, &a)) != MANDATE_OK)
			return r;
		if ((r = attrs_of(ctx, e, &a, e->kind == CX_GETATTR, &rec)) != 0)
			return r;
		fv = rec != NULL ? cedar_record_get(rec, e->s) : NULL;
		if (e->kind == CX_HAS) {
			set_bool(out, fv != NULL);
			return MANDATE_OK;
		}
		if (fv == NULL)
			return fail(ctx, e, MANDATE_EEVAL,
			    "attribute \"%.*s\" does not exist",
			    (int)e->s.n, e->s.p);
		*out = *fv;
		return MANDATE_OK;
	case CX_LIKE:
		if ((r = cedar_eval(ctx, e->a, &a)) != MANDATE_OK)
			return r;
		if (a.kind != CV_STRING)
			return type_error(ctx, e, "string", &a);
		if ((r = like_match(ctx, e, a.u.s, &e->pat, &m)) != MANDATE_OK)
			return r;
		set_bool(out, m);
		return MANDATE_OK;
	case CX_IS:
		if ((r = cedar_eval(ctx, e->a, &a)) != MANDATE_OK)
			return r;
		if (a.kind != CV_ENTITY)
			return type_error(ctx, e, "entity", &a);
		set_bool(out, str_eq(a.u.uid.type, e->s));
		return MANDATE_OK;
	case CX_CALL:
	case CX_METHOD:
		return eval_call(ctx, e, out);
	case CX_SET:
		return eval_set(ctx, e, out);
	case CX_RECORD:
		return eval_record(ctx, e, out);
	default:
		break;
	}

	/* binary operators: both operands, left first */
	if ((r = cedar_eval(ctx, e->a, &a)) != MANDATE_OK)
		return r;
	if ((r = cedar_eval(ctx, e->b, &b)) != MANDATE_OK)
		return r;
	switch (e->kind) {
	case CX_EQ:
	case CX_NE:
		set_bool(out, cedar_value_eq(&a, &b) == (e->kind == CX_EQ));
		return MANDATE_OK;
	case CX_LT:
	case CX_LE:
	case CX_GT:
	case CX_GE:
		return eval_compare(ctx, e, &a, &b, out);
	case CX_ADD:
	case CX_SUB:
	case CX_MUL:
		return eval_arith(ctx, e, &a, &b, out);
	case CX_IN:
		return eval_in(ctx, e, &a, &b, out);
	default:
		return fail(ctx, e, MANDATE_EINTERNAL, "unknown expression kind %d",
		    e->kind);
	}
}

/* ------------------------------------------------------------------ */
/* Policies */

/* The uid a scope constraint names (the bound slot for a linked
 * template); NULL for an unbound slot, which never matches. */
static const struct cedar_uid *
scope_uid(const struct cedar_scope *sc, const struct cedar_uid *slot,
    bool has_slot)
{
	if (!sc->is_slot)
		return &sc->uid;
	return has_slot ? slot : NULL;
}

bool
cedar_scope_match(const struct cedar_entities *es,
    const struct cedar_scope *sc, const struct cedar_uid *req_uid,
    const struct cedar_uid *slot, bool has_slot)
{
	const struct cedar_uid *u;

	switch (sc->kind) {
	case CSCOPE_ANY:
		return true;
	case CSCOPE_EQ:
		u = scope_uid(sc, slot, has_slot);
		return u != NULL && cedar_uid_eq(req_uid, u);
	case CSCOPE_IN:
		u = scope_uid(sc, slot, has_slot);
		return u != NULL && uid_in(es, req_uid, u);
	case CSCOPE_IS:
		return str_eq(req_uid->type, sc->is_type);
	case CSCOPE_IS_IN:
		u = scope_uid(sc, slot, has_slot);
		return u != NULL && str_eq(req_uid->type, sc->is_type) &&
		    uid_in(es, req_uid, u);
	case CSCOPE_IN_SET:
		for (size_t i = 0; i < sc->n_uids; i++) {
			if (uid_in(es, req_uid, &sc->uids[i]))
				return true;
		}
		return false;
	default:
		return false;
	}
}

int
cedar_policy_eval(struct cedar_eval_ctx *ctx, const struct cedar_policy *p,
    bool *applies)
{
	const struct cedar_request *req = ctx->req;
	struct cedar_value v;
	int r;

	*applies = false;
	ctx->policy = p;
	ctx->steps = 0;
	if (ctx->max_steps == 0)
		ctx->max_steps = CEDAR_MAX_EVAL_STEPS;
	if (req == NULL)
		return fail(ctx, NULL, MANDATE_EINVAL, "no request");
	/* scope checks never error */
	if (!cedar_scope_match(ctx->entities, &p->principal, &req->principal,
	    &p->slot_principal, p->has_slot_principal) ||
	    !cedar_scope_match(ctx->entities, &p->action, &req->action,
	    NULL, false) ||
	    !cedar_scope_match(ctx->entities, &p->resource, &req->resource,
	    &p->slot_resource, p->has_slot_resource))
		return MANDATE_OK;
	for (size_t i = 0; i < p->n_conds; i++) {
		const struct cedar_cond *c = &p->conds[i];

		if ((r = cedar_eval(ctx, c->expr, &v)) != MANDATE_OK)
			return r;
		if (v.kind != CV_BOOL) {
			ctx->err.code = MANDATE_EEVAL;
			ctx->err.off = c->off;
			ctx->err.len = c->len;
			snprintf(ctx->err.msg, sizeof(ctx->err.msg),
			    "type error: %s condition is %s, not bool",
			    c->is_when ? "when" : "unless", kind_name(&v));
			return MANDATE_EEVAL;
		}
		if (v.u.b != c->is_when)
			return MANDATE_OK;
	}
	*applies = true;
	return MANDATE_OK;
}

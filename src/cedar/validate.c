/*
 * validate.c - Cedar's strict-mode policy validator.
 *
 * A policy (or template) is valid against a schema when
 *  - every entity type it names is declared (or is an action type), every
 *    action uid is a declared action, every uid of an enumerated entity
 *    type uses one of the declared ids;
 *  - its scope can apply to at least one (principal type, action,
 *    resource type) triple the schema's appliesTo lists allow;
 *  - in every request environment of the schema (each action's principal
 *    types x resource types, its context type; for a template also each
 *    possible slot type) the whole policy, `scope && conditions`,
 *    typechecks to a boolean under Cedar's strict typing rules.
 * The type algebra and the schema indexes are in validate_types.c.
 * The typing rules follow the reference (cedar-spec's Lean
 * Typechecker.lean, cedar's typecheck.rs): singleton True/False types
 * that short-circuit &&, || and if; capabilities (which `has` tests are
 * known to hold) flowing through && / || / if; least upper bounds without
 * subtyping between distinct entity types or record shapes.  Every
 * independent type error is reported; a failed subexpression gets the
 * error type, which absorbs the errors it would cause.  A policy
 * that can never apply is only a warning in the reference and is not
 * reported here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar_int.h"
#include "validate_int.h"

/* ------------------------------------------------------------------ */
/* Errors */

static void
report(struct vctx *v, int code, uint32_t off, uint32_t len, const char *msg)
{
	const struct cedar_policy *p = v->p;
	struct diag_list *dl = v->dl;
	char full[DIAG_MSG_MAX];

	v->failed = true;
	if (dl == NULL)
		return;
	snprintf(full, sizeof(full), "policy %.*s: %s", (int)p->id.n,
	    p->id.p ? p->id.p : "", msg);
	/* one diagnostic per problem, not one per environment */
	for (size_t i = 0; i < dl->n; i++) {
		const struct diag *d = &dl->items[i];
		if (d->src == p->src && d->off == off && d->len == len &&
		    strcmp(d->msg, full) == 0)
			return;
	}
	diag_add(dl, code, p->file, p->src, p->src_len, off, len, "%s", full);
}

/* Report a type error.  Returning MANDATE_EVALIDATE makes type_of() give
 * the failed subexpression the error type, so checking goes on and finds
 * independent problems without repeating this one. */
static int terr(struct vctx *v, const struct cedar_expr *e, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static int
terr(struct vctx *v, const struct cedar_expr *e, const char *fmt, ...)
{
	char msg[DIAG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report(v, MANDATE_EVALIDATE, e ? e->off : v->p->off,
	    e ? e->len : v->p->len, msg);
	return MANDATE_EVALIDATE;
}

/* A type error already reported by the name checks (an undeclared entity
 * type, action or enumerated id): fail without repeating it. */
static int
tfail(struct vctx *v)
{
	v->failed = true;
	return MANDATE_EVALIDATE;
}

/* A limit or out-of-memory: reported once, and checking of the current
 * policy stops (fail closed). */
static int
tlimit(struct vctx *v, const struct cedar_expr *e, int code, const char *what)
{
	if (v->err != MANDATE_OK)
		return v->err;
	v->err = code;
	report(v, code, e ? e->off : v->p->off, e ? e->len : v->p->len, what);
	return code;
}

/* ------------------------------------------------------------------ */
/* Expressions as capability keys: structural equality, with the action
 * variable standing for the environment's action (the reference
 * substitutes it before typechecking). */

static bool
is_action_var(const struct cedar_expr *e)
{
	return e->kind == CX_VAR && e->var == CVAR_ACTION;
}

static const struct cedar_uid *
env_action_uid(const struct vctx *v)
{
	return &v->s->actions[v->env->action].uid;
}

/* The uid of a literal (or of the substituted action variable). */
static const struct cedar_uid *
lit_uid(const struct vctx *v, const struct cedar_expr *e)
{
	if (e->kind == CX_ENTITY)
		return &e->uid;
	if (is_action_var(e))
		return env_action_uid(v);
	return NULL;
}

static bool
expr_eq(const struct vctx *v, const struct cedar_expr *a,
    const struct cedar_expr *b, int depth)
{
	const struct cedar_uid *ua, *ub;

	if (a == b)
		return true;
	if (a == NULL || b == NULL || depth > VAL_MAX_DEPTH)
		return false;
	ua = lit_uid(v, a);
	ub = lit_uid(v, b);
	if (ua != NULL || ub != NULL)
		return ua != NULL && ub != NULL && cedar_uid_eq(ua, ub);
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case CX_BOOL:
		return a->bval == b->bval;
	case CX_LONG:
		return a->ival == b->ival;
	case CX_STRING:
		return str_eq(a->s, b->s);
	case CX_VAR:
	case CX_SLOT:
		return a->var == b->var;
	case CX_LIKE:
		if (a->pat.n != b->pat.n || (a->pat.n != 0 &&
		    memcmp(a->pat.elems, b->pat.elems,
		    a->pat.n * sizeof(uint32_t)) != 0))
			return false;
		break;
	case CX_HAS:
	case CX_IS:
	case CX_GETATTR:
		if (!str_eq(a->s, b->s))
			return false;
		break;
	case CX_CALL:
	case CX_METHOD:
		if (a->fn != b->fn)
			return false;
		break;
	default:
		break;
	}
	if (a->n_items != b->n_items)
		return false;
	for (uint32_t i = 0; i < a->n_items; i++) {
		if (a->kind == CX_RECORD && !str_eq(a->keys[i], b->keys[i]))
			return false;
		if (!expr_eq(v, a->items[i], b->items[i], depth + 1))
			return false;
	}
	return expr_eq(v, a->a, b->a, depth + 1) &&
	    expr_eq(v, a->b, b->b, depth + 1) &&
	    expr_eq(v, a->c, b->c, depth + 1);
}

static bool
cap_eq(const struct vctx *v, const struct cap *x, const struct cap *y)
{
	if ((x->tag == NULL) != (y->tag == NULL))
		return false;
	if (x->tag == NULL ? !str_eq(x->attr, y->attr) :
	    !expr_eq(v, x->tag, y->tag, 0))
		return false;
	return expr_eq(v, x->e, y->e, 0);
}

static bool
caps_has(const struct vctx *v, struct caps c, const struct cap *k)
{
	for (size_t i = 0; i < c.n; i++)
		if (cap_eq(v, &c.v[i], k))
			return true;
	return false;
}

static int
caps_union(struct vctx *v, struct caps a, struct caps b, struct caps *out)
{
	struct cap *o;
	size_t n = a.n;

	if (b.n == 0) {
		*out = a;
		return MANDATE_OK;
	}
	if (a.n == 0) {
		*out = b;
		return MANDATE_OK;
	}
	if ((o = arena_calloc(&v->wa, a.n + b.n, sizeof(*o))) == NULL)
		return MANDATE_ENOMEM;
	memcpy(o, a.v, a.n * sizeof(*o));
	for (size_t i = 0; i < b.n; i++)
		if (!caps_has(v, a, &b.v[i]))
			o[n++] = b.v[i];
	out->v = o;
	out->n = n;
	return MANDATE_OK;
}

static int
caps_inter(struct vctx *v, struct caps a, struct caps b, struct caps *out)
{
	struct cap *o;
	size_t n = 0;

	if (a.n == 0 || b.n == 0) {
		out->v = NULL;
		out->n = 0;
		return MANDATE_OK;
	}
	if ((o = arena_calloc(&v->wa, a.n, sizeof(*o))) == NULL)
		return MANDATE_ENOMEM;
	for (size_t i = 0; i < a.n; i++)
		if (caps_has(v, b, &a.v[i]))
			o[n++] = a.v[i];
	out->v = o;
	out->n = n;
	return MANDATE_OK;
}

static int
caps_one(struct vctx *v, const struct cedar_expr *e,
    const struct cedar_expr *tag, struct str attr, struct caps *out)
{
	struct cap *o = arena_zalloc(&v->wa, sizeof(*o));

	if (o == NULL)
		return MANDATE_ENOMEM;
	o->e = e;
	o->tag = tag;
	o->attr = attr;
	out->v = o;
	out->n = 1;
	return MANDATE_OK;
}

/* ------------------------------------------------------------------ */
/* The typechecker proper */

static int type_of(struct vctx *v, const struct cedar_expr *e,
    struct caps c, struct tres *out);

static int
oom(struct vctx *v, const struct cedar_expr *e)
{
	return tlimit(v, e, MANDATE_ENOMEM, "out of memory while validating");
}

/* The singleton True or False type. */
static const struct vtype *
tf(bool b)
{
	return b ? &cedar_vt_true : &cedar_vt_false;
}

static int
ok(struct tres *out, const struct vtype *t)
{
	out->t = t;
	out->c.v = NULL;
	out->c.n = 0;
	return MANDATE_OK;
}

static int
expect_bool(struct vctx *v, const struct cedar_expr *e, const struct vtype *t)
{
	char b[96];

	if (t->kind == VT_BOOL)
		return MANDATE_OK;
	return terr(v, e, "expected a boolean, got %s",
	    cedar_vt_name(t, b, sizeof(b)));
}

static int
unexpected(struct vctx *v, const struct cedar_expr *e, const struct vtype *t,
    const char *wanted)
{
	char b[96];
	return terr(v, e, "unexpected type %s (expected %s)",
	    cedar_vt_name(t, b, sizeof(b)), wanted);
}

static int
lub_err(struct vctx *v, const struct cedar_expr *e, const struct vtype *a,
    const struct vtype *b, const char *what)
{
	char ba[80], bb[80];
	return terr(v, e, "%s: types %s and %s are incompatible", what,
	    cedar_vt_name(a, ba, sizeof(ba)), cedar_vt_name(b, bb, sizeof(bb)));
}

static bool
is_literal(const struct cedar_expr *e)
{
	return e->kind == CX_BOOL || e->kind == CX_LONG ||
	    e->kind == CX_STRING || e->kind == CX_ENTITY || is_action_var(e);
}

static bool
literal_eq(const struct vctx *v, const struct cedar_expr *a,
    const struct cedar_expr *b)
{
	const struct cedar_uid *ua = lit_uid(v, a), *ub = lit_uid(v, b);

	if (ua != NULL || ub != NULL)
		return ua != NULL && ub != NULL && cedar_uid_eq(ua, ub);
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case CX_BOOL:
		return a->bval == b->bval;
	case CX_LONG:
		return a->ival == b->ival;
	case CX_STRING:
		return str_eq(a->s, b->s);
	}
	return false;
}

static int
type_eq_op(struct vctx *v, const struct cedar_expr *e,
    const struct cedar_expr *x1, const struct cedar_expr *x2,
    const struct vtype *t1, const struct vtype *t2, struct tres *out)
{
	const struct vtype *l;
	int r;

	if (is_literal(x1) && is_literal(x2))
		return ok(out, tf(literal_eq(v, x1, x2)));
	if ((r = cedar_vt_lub(v, t1, t2, &l)) != MANDATE_OK)
		return oom(v, e);
	if (l != NULL)
		return ok(out, &cedar_vt_bool);
	if (t1->kind == VT_ENTITY && t2->kind == VT_ENTITY)
		return ok(out, &cedar_vt_false);
	return lub_err(v, e, t1, t2, "`==` on incomparable operands");
}

/* x1 in x2 where x1: entity ety1 and x2: entity ety2 or Set<ety2>. */
static int
type_in(struct vctx *v, const struct cedar_expr *x1,
    const struct cedar_expr *x2, struct str ety1, struct str ety2,
    bool rhs_set, struct tres *out)
{
	const struct cedar_uid *u1 = lit_uid(v, x1);

	if (u1 != NULL && cedar_vt_action_ix(v, u1) != SIZE_MAX) {
		if (!rhs_set) {
			const struct cedar_uid *u2 = lit_uid(v, x2);
			if (u2 != NULL)
				return ok(out, cedar_vt_action_in(v, u1, u2) ?
				    &cedar_vt_true : &cedar_vt_false);
		} else if (x2->kind == CX_SET) {
			bool all = true, any = false;
			for (uint32_t i = 0; i < x2->n_items; i++) {
				const struct cedar_uid *u2 =
				    lit_uid(v, x2->items[i]);
				if (u2 == NULL) {
					all = false;
					break;
				}
				if (cedar_vt_action_in(v, u1, u2))
					any = true;
			}
			if (all)
				return ok(out, tf(any));
		}
	}
	return ok(out, cedar_vt_type_in(v, ety1, ety2) ? &cedar_vt_bool :
	    &cedar_vt_false);
}

static int
type_has(struct vctx *v, const struct cedar_expr *e, const struct vtype *t,
    struct caps c, struct tres *out)
{
	const struct vtype *rec;
	const struct vt_attr *at;
	bool known_to_exist;
	struct cap k;

	if (t->kind == VT_RECORD) {
		rec = t;
		known_to_exist = true;
	} else if (t->kind == VT_ENTITY) {
		const struct cedar_entity_type *et = t->et;
		if (et == NULL) {
			if (cedar_vt_is_action_type(v, t->name))
				return ok(out, &cedar_vt_false);
			return terr(v, e, "unknown entity type %.*s",
			    (int)t->name.n, t->name.p);
		}
		if (et->shape == NULL)
			return ok(out, &cedar_vt_false);
		if ((rec = cedar_vt_from_schema(v, et->shape, 0)) == NULL)
			return oom(v, e);
		known_to_exist = false;
	} else {
		return unexpected(v, e->a, t, "an entity or a record");
	}
	if ((at = cedar_vt_attr(rec, e->s)) == NULL)
		return ok(out, &cedar_vt_false);
	k.e = e->a;
	k.tag = NULL;
	k.attr = e->s;
	if (caps_has(v, c, &k) || (at->required && known_to_exist))
		return ok(out, &cedar_vt_true);
	out->t = &cedar_vt_bool;
	if (caps_one(v, e->a, NULL, e->s, &out->c) != MANDATE_OK)
		return oom(v, e);
	return MANDATE_OK;
}

static int
type_getattr(struct vctx *v, const struct cedar_expr *e,
    const struct vtype *t, struct caps c, struct tres *out)
{
	const struct vtype *rec;
	const struct vt_attr *at;
	struct cap k;
	char b[96];

	if (t->kind == VT_RECORD) {
		rec = t;
	} else if (t->kind == VT_ENTITY) {
		const struct cedar_entity_type *et = t->et;
		if (et == NULL)
			return terr(v, e, "%s %.*s has no attributes",
			    cedar_vt_is_action_type(v, t->name) ?
			    "action type" : "undeclared entity type",
			    (int)t->name.n, t->name.p);
		if (et->shape == NULL)
			return terr(v, e, "attribute `%.*s` not found on %.*s",
			    (int)e->s.n, e->s.p, (int)t->name.n, t->name.p);
		if ((rec = cedar_vt_from_schema(v, et->shape, 0)) == NULL)
			return oom(v, e);
	} else {
		return unexpected(v, e->a, t, "an entity or a record");
	}
	if ((at = cedar_vt_attr(rec, e->s)) == NULL)
		return terr(v, e, "attribute `%.*s` not found on %s",
		    (int)e->s.n, e->s.p, cedar_vt_name(t, b, sizeof(b)));
	if (!at->required && v->lenient == 0) {
		k.e = e->a;
		k.tag = NULL;
		k.attr = e->s;
		if (!caps_has(v, c, &k))
			return terr(v, e, "optional attribute `%.*s` may be "
			    "absent: test it with `has` first",
			    (int)e->s.n, e->s.p);
	}
	return ok(out, at->type);
}

static int
type_tag(struct vctx *v, const struct cedar_expr *e, bool is_get,
    const struct cedar_expr *x, const struct cedar_expr *key,
    const struct vtype *t, struct caps c, struct tres *out)
{
	const struct cedar_entity_type *et = t->et;
	struct str ety = t->name;
	struct cap k;

	if (et == NULL) {
		if (!is_get && cedar_vt_is_action_type(v, ety))
			return ok(out, &cedar_vt_false);
		return terr(v, e, "%s %.*s has no tags",
		    cedar_vt_is_action_type(v, ety) ? "action type" :
		    "undeclared entity type", (int)ety.n, ety.p);
	}
	if (et->tags == NULL || et->enum_ids != NULL) {
		if (!is_get)
			return ok(out, &cedar_vt_false);
		return terr(v, e, "entity type %.*s has no tags",
		    (int)ety.n, ety.p);
	}
	k.e = x;
	k.tag = key;
	k.attr = STR_NULL;
	if (is_get) {
		const struct vtype *tt;
		if (!caps_has(v, c, &k) && v->lenient == 0)
			return terr(v, e, "tag may be absent: test it with "
			    "`hasTag` first");
		if ((tt = cedar_vt_from_schema(v, et->tags, 0)) == NULL)
			return oom(v, e);
		return ok(out, tt);
	}
	if (caps_has(v, c, &k))
		return ok(out, &cedar_vt_true);
	out->t = &cedar_vt_bool;
	if (caps_one(v, x, key, STR_NULL, &out->c) != MANDATE_OK)
		return oom(v, e);
	return MANDATE_OK;
}

static bool
is_ext(const struct vtype *t, uint8_t ext)
{
	return t->kind == VT_EXT && t->ext == ext;
}

static int
type_ext_ctor(struct vctx *v, const struct cedar_expr *e,
    const struct cedar_expr *const *args, size_t n, struct tres *out)
{
	struct vtype *t;
	bool good = false;
	uint8_t ext;

	switch (e->fn) {
	case CFN_IP: ext = CEXT_IPADDR; break;
	case CFN_DECIMAL: ext = CEXT_DECIMAL; break;
	case CFN_DATETIME: ext = CEXT_DATETIME; break;
	default: ext = CEXT_DURATION; break;
	}
	if (n == 1 && args[0]->kind == CX_STRING) {
		struct str s = args[0]->s;
		struct cedar_ip ip;
		int64_t x;
		switch (ext) {
		case CEXT_IPADDR: good = cedar_ip_parse(s, &ip); break;
		case CEXT_DECIMAL: good = cedar_decimal_parse(s, &x); break;
		case CEXT_DATETIME: good = cedar_datetime_parse(s, &x); break;
		default: good = cedar_duration_parse(s, &x); break;
		}
		if (!good)
			return terr(v, e, "invalid %s literal \"%.*s\"",
			    cedar_vt_ext_names[ext], (int)(s.n > 60 ? 60 : s.n),
			    s.p);
	} else {
		return terr(v, e, "%s() takes one string literal",
		    cedar_vt_ext_names[ext]);
	}
	if ((t = cedar_vt_new(&v->wa, VT_EXT)) == NULL)
		return oom(v, e);
	t->ext = ext;
	return ok(out, t);
}

static int
type_call(struct vctx *v, const struct cedar_expr *e, struct caps c,
    struct tres *out)
{
	const struct cedar_expr *args[3];
	const struct vtype *tys[3];
	size_t n = 0;
	struct tres r1;
	bool failed = false;
	char b[96];
	int r;

	if (e->kind == CX_METHOD && e->a != NULL)
		args[n++] = e->a;
	for (uint32_t i = 0; i < e->n_items; i++) {
		if (n == 3)
			return terr(v, e, "too many arguments");
		args[n++] = e->items[i];
	}
	for (size_t i = 0; i < n; i++) {
		if ((r = type_of(v, args[i], c, &r1)) != MANDATE_OK)
			return r;
		tys[i] = r1.t;
		if (r1.t->kind == VT_ERR)
			failed = true;
	}
	if (failed)
		return ok(out, &cedar_vt_err);
	switch (e->fn) {
	case CFN_IP:
	case CFN_DECIMAL:
	case CFN_DATETIME:
	case CFN_DURATION:
		return type_ext_ctor(v, e, args, n, out);
	case CFN_CONTAINS:
	case CFN_CONTAINS_ALL:
	case CFN_CONTAINS_ANY: {
		const struct vtype *l, *other;
		if (n != 2)
			return terr(v, e, "wrong number of arguments");
		if (tys[0]->kind != VT_SET)
			return unexpected(v, args[0], tys[0], "a set");
		if (e->fn == CFN_CONTAINS) {
			other = tys[1];
		} else {
			if (tys[1]->kind != VT_SET)
				return unexpected(v, args[1], tys[1], "a set");
			other = tys[1]->elem;
		}
		if (cedar_vt_lub(v, other, tys[0]->elem, &l) != MANDATE_OK)
			return oom(v, e);
		if (l == NULL)
			return lub_err(v, e, tys[0]->elem, other,
			    "set element types");
		return ok(out, &cedar_vt_bool);
	}
	case CFN_IS_EMPTY:
		if (n != 1)
			return terr(v, e, "wrong number of arguments");
		if (tys[0]->kind != VT_SET)
			return unexpected(v, args[0], tys[0], "a set");
		return ok(out, &cedar_vt_bool);
	case CFN_GET_TAG:
	case CFN_HAS_TAG:
		if (n != 2)
			return terr(v, e, "wrong number of arguments");
		if (tys[0]->kind != VT_ENTITY)
			return unexpected(v, args[0], tys[0], "an entity");
		if (tys[1]->kind != VT_STRING)
			return unexpected(v, args[1], tys[1], "a String");
		return type_tag(v, e, e->fn == CFN_GET_TAG, args[0], args[1],
		    tys[0], c, out);
	default:
		break;
	}
	/* extension functions with fixed signatures */
	{
		uint8_t want[2];
		size_t nwant;
		const struct vtype *res = &cedar_vt_bool;
		struct vtype *t;
		int res_ext = -1;

		switch (e->fn) {
		case CFN_IS_IPV4: case CFN_IS_IPV6: case CFN_IS_LOOPBACK:
		case CFN_IS_MULTICAST:
			want[0] = CEXT_IPADDR; nwant = 1; break;
		case CFN_IS_IN_RANGE:
			want[0] = want[1] = CEXT_IPADDR; nwant = 2; break;
		case CFN_LESS_THAN: case CFN_LESS_THAN_OR_EQUAL:
		case CFN_GREATER_THAN: case CFN_GREATER_THAN_OR_EQUAL:
			want[0] = want[1] = CEXT_DECIMAL; nwant = 2; break;
		case CFN_OFFSET:
			want[0] = CEXT_DATETIME; want[1] = CEXT_DURATION;
			nwant = 2; res_ext = CEXT_DATETIME; break;
		case CFN_DURATION_SINCE:
			want[0] = want[1] = CEXT_DATETIME; nwant = 2;
			res_ext = CEXT_DURATION; break;
		case CFN_TO_DATE:
			want[0] = CEXT_DATETIME; nwant = 1;
			res_ext = CEXT_DATETIME; break;
		case CFN_TO_TIME:
			want[0] = CEXT_DATETIME; nwant = 1;
			res_ext = CEXT_DURATION; break;
		case CFN_TO_MILLISECONDS: case CFN_TO_SECONDS:
		case CFN_TO_MINUTES: case CFN_TO_HOURS: case CFN_TO_DAYS:
			want[0] = CEXT_DURATION; nwant = 1;
			res = &cedar_vt_long;
			break;
		default:
			return terr(v, e, "unknown function");
		}
		if (n != nwant)
			return terr(v, e, "wrong number of arguments: %zu "
			    "given, %zu expected", n, nwant);
		for (size_t i = 0; i < n; i++)
			if (!is_ext(tys[i], want[i]))
				return terr(v, args[i], "unexpected type %s "
				    "(expected %s)",
				    cedar_vt_name(tys[i], b, sizeof(b)),
				    cedar_vt_ext_names[want[i]]);
		if (res_ext >= 0) {
			if ((t = cedar_vt_new(&v->wa, VT_EXT)) == NULL)
				return oom(v, e);
			t->ext = (uint8_t)res_ext;
			res = t;
		}
		return ok(out, res);
	}
}

static int
type_of_inner(struct vctx *v, const struct cedar_expr *e, struct caps c,
    struct tres *out)
{
	struct tres r1, r2, r3;
	const struct vtype *l;
	struct caps cc;
	bool failed = false;
	int r;

	switch (e->kind) {
	case CX_BOOL:
		return ok(out, e->bval ? &cedar_vt_true : &cedar_vt_false);
	case CX_LONG:
		return ok(out, &cedar_vt_long);
	case CX_STRING:
		return ok(out, &cedar_vt_string);
	case CX_ENTITY:
		if (!cedar_vt_uid_known(v, &e->uid))
			return tfail(v);
		if ((l = cedar_vt_entity(v, e->uid.type)) == NULL)
			return oom(v, e);
		return ok(out, l);
	case CX_VAR:
		switch (e->var) {
		case CVAR_PRINCIPAL:
			l = &v->env->pvt;
			break;
		case CVAR_ACTION:
			l = cedar_vt_entity(v, env_action_uid(v)->type);
			break;
		case CVAR_RESOURCE:
			l = &v->env->rvt;
			break;
		default:
			l = v->env->context;
			break;
		}
		if (l == NULL)
			return oom(v, e);
		return ok(out, l);
	case CX_SLOT: {
		bool has = e->var == CSLOT_PRINCIPAL ? v->env->has_pslot :
		    v->env->has_rslot;
		if (!has)
			return terr(v, e, "slot outside the policy scope");
		l = cedar_vt_entity(v, e->var == CSLOT_PRINCIPAL ?
		    v->env->pslot : v->env->rslot);
		if (l == NULL)
			return oom(v, e);
		return ok(out, l);
	}
	case CX_IF:
		if ((r = type_of(v, e->a, c, &r1)) != MANDATE_OK)
			return r;
		if (r1.t->kind != VT_BOOL) {
			if (r1.t->kind != VT_ERR)
				(void)expect_bool(v, e->a, r1.t);
			/* still check both branches for their own errors */
			v->lenient++;
			r = type_of(v, e->b, c, &r2);
			if (r == MANDATE_OK)
				r = type_of(v, e->c, c, &r3);
			v->lenient--;
			if (r != MANDATE_OK)
				return r;
			return ok(out, &cedar_vt_err);
		}
		if (r1.t->b == VB_TT || r1.t->b == VB_ANY) {
			if (caps_union(v, c, r1.c, &cc) != MANDATE_OK)
				return oom(v, e);
			if ((r = type_of(v, e->b, cc, &r2)) != MANDATE_OK)
				return r;
		}
		if (r1.t->b == VB_FF || r1.t->b == VB_ANY)
			if ((r = type_of(v, e->c, c, &r3)) != MANDATE_OK)
				return r;
		if ((r1.t->b != VB_FF && r2.t->kind == VT_ERR) ||
		    (r1.t->b != VB_TT && r3.t->kind == VT_ERR))
			return ok(out, &cedar_vt_err);
		if (r1.t->b == VB_TT) {
			out->t = r2.t;
			if (caps_union(v, r1.c, r2.c, &out->c) != MANDATE_OK)
				return oom(v, e);
			return MANDATE_OK;
		}
		if (r1.t->b == VB_FF) {
			*out = r3;
			return MANDATE_OK;
		}
		if (cedar_vt_lub(v, r2.t, r3.t, &l) != MANDATE_OK)
			return oom(v, e);
		if (l == NULL)
			return lub_err(v, e, r2.t, r3.t,
			    "`if` branches differ");
		out->t = l;
		if (caps_union(v, r1.c, r2.c, &cc) != MANDATE_OK ||
		    caps_inter(v, cc, r3.c, &out->c) != MANDATE_OK)
			return oom(v, e);
		return MANDATE_OK;
	case CX_AND:
		if ((r = type_of(v, e->a, c, &r1)) != MANDATE_OK)
			return r;
		if (r1.t->kind != VT_BOOL) {
			if (r1.t->kind != VT_ERR)
				(void)expect_bool(v, e->a, r1.t);
			v->lenient++;
			r = type_of(v, e->b, c, &r2);
			v->lenient--;
			if (r != MANDATE_OK)
				return r;
			if (r2.t->kind != VT_BOOL && r2.t->kind != VT_ERR)
				(void)expect_bool(v, e->b, r2.t);
			return ok(out, &cedar_vt_err);
		}
		if (r1.t->b == VB_FF)
			return ok(out, &cedar_vt_false);
		if (caps_union(v, c, r1.c, &cc) != MANDATE_OK)
			return oom(v, e);
		if ((r = type_of(v, e->b, cc, &r2)) != MANDATE_OK)
			return r;
		if (r2.t->kind == VT_ERR)
			return ok(out, &cedar_vt_err);
		if (r2.t->kind != VT_BOOL)
			return expect_bool(v, e->b, r2.t);
		if (r2.t->b == VB_FF)
			return ok(out, &cedar_vt_false);
		out->t = r2.t->b == VB_TT ? r1.t : &cedar_vt_bool;
		if (caps_union(v, r1.c, r2.c, &out->c) != MANDATE_OK)
			return oom(v, e);
		return MANDATE_OK;
	case CX_OR:
		if ((r = type_of(v, e->a, c, &r1)) != MANDATE_OK)
			return r;
		if (r1.t->kind != VT_BOOL) {
			if (r1.t->kind != VT_ERR)
				(void)expect_bool(v, e->a, r1.t);
			if ((r = type_of(v, e->b, c, &r2)) != MANDATE_OK)
				return r;
			if (r2.t->kind != VT_BOOL && r2.t->kind != VT_ERR)
				(void)expect_bool(v, e->b, r2.t);
			return ok(out, &cedar_vt_err);
		}
		if (r1.t->b == VB_TT)
			return ok(out, &cedar_vt_true);
		if ((r = type_of(v, e->b, c, &r2)) != MANDATE_OK)
			return r;
		if (r2.t->kind == VT_ERR)
			return ok(out, &cedar_vt_err);
		if (r2.t->kind != VT_BOOL)
			return expect_bool(v, e->b, r2.t);
		if (r1.t->b == VB_FF) {
			*out = r2;
			return MANDATE_OK;
		}
		if (r2.t->b == VB_TT)
			return ok(out, &cedar_vt_true);
		if (r2.t->b == VB_FF) {
			out->t = &cedar_vt_bool;
			out->c = r1.c;
			return MANDATE_OK;
		}
		out->t = &cedar_vt_bool;
		if (caps_inter(v, r1.c, r2.c, &out->c) != MANDATE_OK)
			return oom(v, e);
		return MANDATE_OK;
	case CX_NOT:
		if ((r = type_of(v, e->a, c, &r1)) != MANDATE_OK)
			return r;
		if (r1.t->kind == VT_ERR)
			return ok(out, &cedar_vt_err);
		if (r1.t->kind != VT_BOOL)
			return expect_bool(v, e->a, r1.t);
		return ok(out, cedar_vt_bool_of(r1.t->b == VB_TT ? VB_FF :
		    r1.t->b == VB_FF ? VB_TT : VB_ANY));
	case CX_NEG:
		if ((r = type_of(v, e->a, c, &r1)) != MANDATE_OK)
			return r;
		if (r1.t->kind == VT_ERR)
			return ok(out, &cedar_vt_err);
		if (r1.t->kind != VT_LONG)
			return unexpected(v, e->a, r1.t, "Long");
		return ok(out, &cedar_vt_long);
	case CX_LIKE:
		if ((r = type_of(v, e->a, c, &r1)) != MANDATE_OK)
			return r;
		if (r1.t->kind == VT_ERR)
			return ok(out, &cedar_vt_err);
		if (r1.t->kind != VT_STRING)
			return unexpected(v, e->a, r1.t, "String");
		return ok(out, &cedar_vt_bool);
	case CX_IS:
		if ((r = type_of(v, e->a, c, &r1)) != MANDATE_OK)
			return r;
		if (r1.t->kind == VT_ERR)
			return ok(out, &cedar_vt_err);
		if (r1.t->kind != VT_ENTITY)
			return unexpected(v, e->a, r1.t, "an entity");
		return ok(out, tf(str_eq(r1.t->name, e->s)));
	case CX_HAS:
		if ((r = type_of(v, e->a, c, &r1)) != MANDATE_OK)
			return r;
		if (r1.t->kind == VT_ERR)
			return ok(out, &cedar_vt_err);
		return type_has(v, e, r1.t, c, out);
	case CX_GETATTR:
		if ((r = type_of(v, e->a, c, &r1)) != MANDATE_OK)
			return r;
		if (r1.t->kind == VT_ERR)
			return ok(out, &cedar_vt_err);
		return type_getattr(v, e, r1.t, c, out);
	case CX_SET: {
		if (e->n_items == 0)
			return terr(v, e, "empty set literals are not allowed "
			    "(their element type is unknown)");
		l = NULL;
		for (uint32_t i = 0; i < e->n_items; i++) {
			if ((r = type_of(v, e->items[i], c, &r1)) != MANDATE_OK)
				return r;
			if (r1.t->kind == VT_ERR)
				failed = true;
			if (failed)
				continue;
			if (l == NULL) {
				l = r1.t;
				continue;
			}
			{
				const struct vtype *nl;
				if (cedar_vt_lub(v, l, r1.t, &nl) != MANDATE_OK)
					return oom(v, e);
				if (nl == NULL) {
					(void)lub_err(v, e, l, r1.t,
					    "set elements");
					failed = true;
					continue;
				}
				l = nl;
			}
		}
		if (failed)
			return ok(out, &cedar_vt_err);
		{
			struct vtype *t = cedar_vt_new(&v->wa, VT_SET);
			if (t == NULL)
				return oom(v, e);
			t->elem = l;
			return ok(out, t);
		}
	}
	case CX_RECORD: {
		struct vt_attr *at;
		struct vtype *t;
		size_t n = 0;
		at = arena_calloc(&v->wa, e->n_items ? e->n_items : 1,
		    sizeof(*at));
		if (at == NULL || (t = cedar_vt_new(&v->wa, VT_RECORD)) == NULL)
			return oom(v, e);
		for (uint32_t i = 0; i < e->n_items; i++) {
			size_t j;
			if ((r = type_of(v, e->items[i], c, &r1)) != MANDATE_OK)
				return r;
			if (r1.t->kind == VT_ERR)
				failed = true;
			/* insertion sort by key; a repeated key keeps the
			 * last value */
			for (j = 0; j < n; j++)
				if (str_cmp(at[j].name, e->keys[i]) >= 0)
					break;
			if (j < n && str_eq(at[j].name, e->keys[i])) {
				at[j].type = r1.t;
				continue;
			}
			memmove(&at[j + 1], &at[j], (n - j) * sizeof(*at));
			at[j].name = e->keys[i];
			at[j].type = r1.t;
			at[j].required = true;
			n++;
		}
		if (failed)
			return ok(out, &cedar_vt_err);
		t->attrs = at;
		t->n_attrs = n;
		return ok(out, t);
	}
	case CX_CALL:
	case CX_METHOD:
		return type_call(v, e, c, out);
	default:
		break;
	}

	/* binary operators: both operands typed without capabilities */
	if (e->a == NULL || e->b == NULL)
		return terr(v, e, "malformed expression");
	if ((r = type_of(v, e->a, c, &r1)) != MANDATE_OK)
		return r;
	if ((r = type_of(v, e->b, c, &r2)) != MANDATE_OK)
		return r;
	if (r1.t->kind == VT_ERR || r2.t->kind == VT_ERR)
		return ok(out, &cedar_vt_err);
	switch (e->kind) {
	case CX_EQ:
		return type_eq_op(v, e, e->a, e->b, r1.t, r2.t, out);
	case CX_NE:
		if ((r = type_eq_op(v, e, e->a, e->b, r1.t, r2.t, out)) !=
		    MANDATE_OK)
			return r;
		out->t = cedar_vt_bool_of(out->t->b == VB_TT ? VB_FF :
		    out->t->b == VB_FF ? VB_TT : VB_ANY);
		return MANDATE_OK;
	case CX_LT:
	case CX_LE:
	case CX_GT:
	case CX_GE:
		if (r1.t->kind == VT_LONG && r2.t->kind == VT_LONG)
			return ok(out, &cedar_vt_bool);
		if (r1.t->kind == VT_EXT && r2.t->kind == VT_EXT &&
		    r1.t->ext == r2.t->ext && (r1.t->ext == CEXT_DATETIME ||
		    r1.t->ext == CEXT_DURATION))
			return ok(out, &cedar_vt_bool);
		if (r1.t->kind != VT_LONG && !is_ext(r1.t, CEXT_DATETIME) &&
		    !is_ext(r1.t, CEXT_DURATION))
			return unexpected(v, e->a, r1.t,
			    "Long, datetime or duration");
		return lub_err(v, e, r1.t, r2.t, "comparison");
	case CX_ADD:
	case CX_SUB:
	case CX_MUL:
		if (r1.t->kind != VT_LONG)
			return unexpected(v, e->a, r1.t, "Long");
		if (r2.t->kind != VT_LONG)
			return unexpected(v, e->b, r2.t, "Long");
		return ok(out, &cedar_vt_long);
	case CX_IN:
		if (r1.t->kind != VT_ENTITY)
			return unexpected(v, e->a, r1.t, "an entity");
		if (r2.t->kind == VT_ENTITY)
			return type_in(v, e->a, e->b, r1.t->name, r2.t->name,
			    false, out);
		if (r2.t->kind == VT_SET && r2.t->elem->kind == VT_ENTITY)
			return type_in(v, e->a, e->b, r1.t->name,
			    r2.t->elem->name, true, out);
		return unexpected(v, e->b, r2.t,
		    "an entity or a set of entities");
	default:
		break;
	}
	return terr(v, e, "unsupported expression");
}

static int
type_of(struct vctx *v, const struct cedar_expr *e, struct caps c,
    struct tres *out)
{
	int r;

	if (e == NULL)
		return terr(v, NULL, "malformed expression");
	if (++v->steps > VAL_MAX_STEPS)
		return tlimit(v, e, MANDATE_ELIMIT,
		    "validation step limit exceeded");
	if (v->depth >= VAL_MAX_DEPTH)
		return tlimit(v, e, MANDATE_ELIMIT,
		    "expression nested too deeply to validate");
	v->depth++;
	r = type_of_inner(v, e, c, out);
	v->depth--;
	if (r == MANDATE_EVALIDATE)
		r = ok(out, &cedar_vt_err);   /* reported; carry on */
	return r;
}

/* ------------------------------------------------------------------ */
/* Scope typing, mirroring the reference's scope-to-expression rewrite:
 * `principal == uid`, `principal in uid`, `principal is T`,
 * `principal is T in uid`, `action in [uids]`. */

static int
scope_literal(struct vctx *v, const struct cedar_uid *uid)
{
	if (cedar_vt_uid_known(v, uid))
		return MANDATE_OK;
	return tfail(v);
}

/* Type of one scope constraint on principal/resource (is_action false) or
 * action; *b receives the boolean type. */
static int
type_scope(struct vctx *v, const struct cedar_scope *sc, int var,
    uint8_t *b)
{
	struct str vty;
	const struct cedar_uid *au = env_action_uid(v);
	const struct cedar_uid *uid = &sc->uid;
	struct str slot_ty = STR_NULL;
	bool slot = sc->is_slot;
	int r;

	if (var == CVAR_PRINCIPAL) {
		vty = v->env->ptype;
		if (slot) {
			if (!v->env->has_pslot)
				return terr(v, NULL, "unlinked ?principal");
			slot_ty = v->env->pslot;
		}
	} else if (var == CVAR_RESOURCE) {
		vty = v->env->rtype;
		if (slot) {
			if (!v->env->has_rslot)
				return terr(v, NULL, "unlinked ?resource");
			slot_ty = v->env->rslot;
		}
	} else {
		vty = au->type;
		slot = false;
	}
	switch (sc->kind) {
	case CSCOPE_ANY:
		*b = VB_TT;
		return MANDATE_OK;
	case CSCOPE_EQ:
		if (slot) {
			*b = str_eq(vty, slot_ty) ? VB_ANY : VB_FF;
			return MANDATE_OK;
		}
		if ((r = scope_literal(v, uid)) != MANDATE_OK)
			return r;
		if (var == CVAR_ACTION)
			*b = cedar_uid_eq(au, uid) ? VB_TT : VB_FF;
		else
			*b = str_eq(vty, uid->type) ? VB_ANY : VB_FF;
		return MANDATE_OK;
	case CSCOPE_IS:
	case CSCOPE_IS_IN:
	case CSCOPE_IN: {
		uint8_t is_b = VB_TT, in_b;
		if (sc->kind != CSCOPE_IN) {
			is_b = str_eq(vty, sc->is_type) ? VB_TT : VB_FF;
			if (sc->kind == CSCOPE_IS || is_b == VB_FF) {
				*b = is_b;
				return MANDATE_OK;
			}
		}
		if (slot) {
			in_b = cedar_vt_type_in(v, vty, slot_ty) ? VB_ANY :
			    VB_FF;
		} else {
			if ((r = scope_literal(v, uid)) != MANDATE_OK)
				return r;
			if (var == CVAR_ACTION)
				in_b = cedar_vt_action_in(v, au, uid) ? VB_TT :
				    VB_FF;
			else
				in_b = cedar_vt_type_in(v, vty, uid->type) ?
				    VB_ANY : VB_FF;
		}
		*b = in_b == VB_FF ? VB_FF : in_b == VB_TT ? is_b : VB_ANY;
		return MANDATE_OK;
	}
	case CSCOPE_IN_SET: {
		bool any = false;
		if (sc->n_uids == 0)
			return terr(v, NULL, "empty set literals are not "
			    "allowed");
		for (size_t i = 0; i < sc->n_uids; i++) {
			if ((r = scope_literal(v, &sc->uids[i])) !=
			    MANDATE_OK)
				return r;
			if (i > 0 && !str_eq(sc->uids[i].type,
			    sc->uids[0].type)) {
				struct cedar_expr fake;
				memset(&fake, 0, sizeof(fake));
				fake.off = sc->off;
				fake.len = sc->len;
				return terr(v, &fake, "set elements: types "
				    "%.*s and %.*s are incompatible",
				    (int)sc->uids[0].type.n,
				    sc->uids[0].type.p,
				    (int)sc->uids[i].type.n,
				    sc->uids[i].type.p);
			}
			if (cedar_vt_action_in(v, au, &sc->uids[i]))
				any = true;
		}
		*b = any ? VB_TT : VB_FF;
		return MANDATE_OK;
	}
	default:
		return terr(v, NULL, "malformed scope");
	}
}

/* Typecheck the whole policy in the current environment, reporting each
 * type error.  Returns MANDATE_OK, MANDATE_EVALIDATE when the scope itself
 * is ill-typed, or a limit / out-of-memory code. */
static int
typecheck_env(struct vctx *v, const struct cedar_policy *p)
{
	struct caps c = { NULL, 0 };
	bool lenient = false;
	uint8_t b;
	int r;

	if ((r = type_scope(v, &p->principal, CVAR_PRINCIPAL, &b)) !=
	    MANDATE_OK || b == VB_FF)
		return r;
	if ((r = type_scope(v, &p->action, CVAR_ACTION, &b)) != MANDATE_OK ||
	    b == VB_FF)
		return r;
	if ((r = type_scope(v, &p->resource, CVAR_RESOURCE, &b)) !=
	    MANDATE_OK || b == VB_FF)
		return r;
	for (size_t i = 0; i < p->n_conds; i++) {
		const struct cedar_cond *cd = &p->conds[i];
		struct tres t;
		struct caps nc;

		if ((r = type_of(v, cd->expr, c, &t)) != MANDATE_OK)
			goto out;
		if (t.t->kind != VT_BOOL) {
			/* reported; check the other conditions too, without
			 * the capabilities this one would have given */
			if (t.t->kind != VT_ERR)
				(void)expect_bool(v, cd->expr, t.t);
			if (!lenient) {
				lenient = true;
				v->lenient++;
			}
			continue;
		}
		if (!cd->is_when) {
			/* `unless {e}` is `!e`: no capabilities */
			if (t.t->b == VB_TT)
				break;
			continue;
		}
		if (t.t->b == VB_FF)
			break;
		if (caps_union(v, c, t.c, &nc) != MANDATE_OK) {
			r = oom(v, cd->expr);
			goto out;
		}
		c = nc;
	}
	r = MANDATE_OK;
out:
	if (lenient)
		v->lenient--;
	return r;
}

/* ------------------------------------------------------------------ */
/* Checks outside the typechecker: declared entity types, actions and
 * enumerated ids anywhere in the policy. */

static void
check_uid(struct vctx *v, const struct cedar_uid *uid, uint32_t off,
    uint32_t len)
{
	char msg[DIAG_MSG_MAX];
	const struct cedar_entity_type *et;

	if (cedar_type_is_action(uid->type)) {
		if (cedar_vt_action_ix(v, uid) == SIZE_MAX) {
			snprintf(msg, sizeof(msg), "unrecognized action "
			    "%.*s::\"%.*s\"", (int)uid->type.n, uid->type.p,
			    (int)(uid->id.n > 40 ? 40 : uid->id.n), uid->id.p);
			report(v, MANDATE_EVALIDATE, off, len, msg);
		}
		return;
	}
	if ((et = cedar_vt_etype(v, uid->type)) == NULL) {
		snprintf(msg, sizeof(msg), "unrecognized entity type %.*s",
		    (int)uid->type.n, uid->type.p);
		report(v, MANDATE_EVALIDATE, off, len, msg);
		return;
	}
	if (!cedar_vt_valid_entity_uid(v, uid)) {
		snprintf(msg, sizeof(msg), "\"%.*s\" is not a declared id of "
		    "enumerated entity type %.*s",
		    (int)(uid->id.n > 40 ? 40 : uid->id.n), uid->id.p,
		    (int)uid->type.n, uid->type.p);
		report(v, MANDATE_EVALIDATE, off, len, msg);
	}
}

static void
check_type_name(struct vctx *v, struct str ty, uint32_t off, uint32_t len)
{
	char msg[DIAG_MSG_MAX];

	if (cedar_type_is_action(ty) || cedar_vt_etype_ix(v, ty) != SIZE_MAX)
		return;
	snprintf(msg, sizeof(msg), "unrecognized entity type %.*s",
	    (int)ty.n, ty.p);
	report(v, MANDATE_EVALIDATE, off, len, msg);
}

static void
check_names_expr(struct vctx *v, const struct cedar_expr *e, int depth)
{
	if (e == NULL || depth > VAL_MAX_DEPTH)
		return;
	if (e->kind == CX_ENTITY)
		check_uid(v, &e->uid, e->off, e->len);
	else if (e->kind == CX_IS)
		check_type_name(v, e->s, e->off, e->len);
	check_names_expr(v, e->a, depth + 1);
	check_names_expr(v, e->b, depth + 1);
	check_names_expr(v, e->c, depth + 1);
	for (uint32_t i = 0; i < e->n_items; i++)
		check_names_expr(v, e->items[i], depth + 1);
}

static void
check_names_scope(struct vctx *v, const struct cedar_scope *sc)
{
	if (sc->kind == CSCOPE_IS || sc->kind == CSCOPE_IS_IN)
		check_type_name(v, sc->is_type, sc->off, sc->len);
	if ((sc->kind == CSCOPE_EQ || sc->kind == CSCOPE_IN ||
	    sc->kind == CSCOPE_IS_IN) && !sc->is_slot)
		check_uid(v, &sc->uid, sc->off, sc->len);
	if (sc->kind == CSCOPE_IN_SET)
		for (size_t i = 0; i < sc->n_uids; i++)
			check_uid(v, &sc->uids[i], sc->off, sc->len);
}

/* ------------------------------------------------------------------ */
/* Action application: some declared action the action scope admits
 * applies to some principal type and some resource type the principal
 * and resource scopes admit. */

/* Does a principal/resource scope admit entity type ty?  `uid` replaces
 * the scope's uid for linked slots (NULL: use the scope's own). */
static bool
scope_admits(const struct vctx *v, const struct cedar_scope *sc,
    const struct cedar_uid *slot_uid, struct str ty)
{
	const struct cedar_uid *uid = sc->is_slot ? slot_uid : &sc->uid;

	switch (sc->kind) {
	case CSCOPE_ANY:
		return true;
	case CSCOPE_EQ:
		return uid == NULL || str_eq(uid->type, ty);
	case CSCOPE_IN:
		if (uid == NULL)
			return true;
		return str_eq(uid->type, ty) ||
		    (cedar_vt_etype_ix(v, uid->type) != SIZE_MAX &&
		    cedar_vt_type_in(v, ty, uid->type));
	case CSCOPE_IS:
		return str_eq(sc->is_type, ty) &&
		    cedar_vt_etype_ix(v, ty) != SIZE_MAX;
	case CSCOPE_IS_IN:
		if (!str_eq(sc->is_type, ty))
			return false;
		if (uid == NULL)
			return cedar_vt_etype_ix(v, ty) != SIZE_MAX;
		return str_eq(uid->type, ty) ||
		    (cedar_vt_etype_ix(v, uid->type) != SIZE_MAX &&
		    cedar_vt_type_in(v, ty, uid->type));
	default:
		return false;
	}
}

static bool
action_admitted(const struct vctx *v, const struct cedar_scope *sc,
    size_t ai)
{
	const struct cedar_uid *au = &v->s->actions[ai].uid;

	switch (sc->kind) {
	case CSCOPE_ANY:
		return true;
	case CSCOPE_EQ:
		return cedar_uid_eq(au, &sc->uid);
	case CSCOPE_IN:
		return cedar_vt_action_ix(v, &sc->uid) != SIZE_MAX &&
		    cedar_vt_action_in(v, au, &sc->uid);
	case CSCOPE_IN_SET: {
		bool any = false;
		for (size_t i = 0; i < sc->n_uids; i++) {
			if (cedar_vt_action_ix(v, &sc->uids[i]) == SIZE_MAX)
				return false;   /* the reference drops all */
			if (cedar_vt_action_in(v, au, &sc->uids[i]))
				any = true;
		}
		return any;
	}
	default:
		return false;
	}
}

static bool
action_application_ok(const struct vctx *v, const struct cedar_policy *p,
    const struct cedar_uid *pslot, const struct cedar_uid *rslot)
{
	for (size_t ai = 0; ai < v->s->n_actions; ai++) {
		const struct cedar_action_decl *ad = &v->s->actions[ai];
		bool pok = false, rok = false;

		if (!ad->has_applies_to || !action_admitted(v, &p->action, ai))
			continue;
		for (size_t i = 0; i < ad->n_principal_types && !pok; i++)
			pok = scope_admits(v, &p->principal, pslot,
			    ad->principal_types[i]);
		for (size_t i = 0; i < ad->n_resource_types && !rok; i++)
			rok = scope_admits(v, &p->resource, rslot,
			    ad->resource_types[i]);
		if (pok && rok)
			return true;
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* Per-policy driver */

/* Candidate slot types for a template slot in an environment whose
 * variable has type vty: `== ?slot` only vty, `in ?slot` every type vty
 * descends from (vty included). */
static bool
slot_candidate(const struct vctx *v, const struct cedar_scope *sc,
    struct str vty, struct str cand)
{
	if (sc->kind == CSCOPE_EQ)
		return str_eq(vty, cand);
	if (sc->kind == CSCOPE_IN || sc->kind == CSCOPE_IS_IN)
		return cedar_vt_type_in(v, vty, cand);
	return true;
}

static bool
expr_has_slot(const struct cedar_expr *e, int depth)
{
	if (e == NULL || depth > VAL_MAX_DEPTH)
		return false;
	if (e->kind == CX_SLOT)
		return true;
	if (expr_has_slot(e->a, depth + 1) || expr_has_slot(e->b, depth + 1) ||
	    expr_has_slot(e->c, depth + 1))
		return true;
	for (uint32_t i = 0; i < e->n_items; i++)
		if (expr_has_slot(e->items[i], depth + 1))
			return true;
	return false;
}

/* Typecheck p in env, once per possible binding of its slots (a static
 * policy has none: one check).  Each check starts from an empty scratch
 * arena; a limit or out-of-memory stops this policy (fail closed).
 *
 * When no condition mentions a slot, the slots' types cannot change any
 * result: a scope `== ?slot` binds only the variable's own type and
 * `in ?slot` only types the variable descends from, so both type as Bool
 * whichever candidate is taken.  The variable's own type (always a
 * candidate) then stands for all of them, which keeps templates over deep
 * hierarchies from multiplying the environments. */
static int
check_env_with_slots(struct vctx *v, const struct cedar_policy *p,
    struct venv *env, bool slots_matter)
{
	bool ps = p->principal.is_slot, rs = p->resource.is_slot;
	size_t np = ps && slots_matter ? v->s->n_entity_types : 1;
	size_t nr = rs && slots_matter ? v->s->n_entity_types : 1;

	for (size_t i = 0; i < np; i++) {
		if (ps && !slots_matter) {
			env->has_pslot = true;
			env->pslot = env->ptype;
		} else if (ps) {
			struct str cand = v->s->entity_types[i].name;
			if (!slot_candidate(v, &p->principal, env->ptype, cand))
				continue;
			env->has_pslot = true;
			env->pslot = cand;
		}
		for (size_t j = 0; j < nr; j++) {
			if (rs && !slots_matter) {
				env->has_rslot = true;
				env->rslot = env->rtype;
			} else if (rs) {
				struct str cand = v->s->entity_types[j].name;
				if (!slot_candidate(v, &p->resource,
				    env->rtype, cand))
					continue;
				env->has_rslot = true;
				env->rslot = cand;
			}
			arena_reset(&v->wa);
			if (++v->steps > VAL_MAX_STEPS)
				(void)tlimit(v, NULL, MANDATE_ELIMIT,
				    "validation step limit exceeded");
			else
				(void)typecheck_env(v, p);
			if (v->err != MANDATE_OK)
				return MANDATE_ELIMIT;
		}
	}
	return MANDATE_OK;
}

static void
validate_policy(struct vctx *v, const struct cedar_policy *p)
{
	const struct cedar_uid *pslot = NULL, *rslot = NULL;
	bool slots_matter = false;

	v->p = p;
	v->err = MANDATE_OK;
	v->steps = 0;
	/* linked policies: only the slot values need checking */
	if (p->template_of != NULL) {
		if (p->has_slot_principal) {
			pslot = &p->slot_principal;
			check_type_name(v, pslot->type, p->off, p->len);
		}
		if (p->has_slot_resource) {
			rslot = &p->slot_resource;
			check_type_name(v, rslot->type, p->off, p->len);
		}
		if (!action_application_ok(v, p, pslot, rslot))
			report(v, MANDATE_EVALIDATE, p->off, p->len,
			    "the linked policy's scope matches no action's "
			    "appliesTo (invalid action application)");
		return;
	}

	check_names_scope(v, &p->principal);
	check_names_scope(v, &p->action);
	check_names_scope(v, &p->resource);
	for (size_t i = 0; i < p->n_conds; i++)
		check_names_expr(v, p->conds[i].expr, 0);

	if (!action_application_ok(v, p, NULL, NULL))
		report(v, MANDATE_EVALIDATE, p->off, p->len,
		    "the scope matches no action's appliesTo: no request "
		    "this schema allows can satisfy it (invalid action "
		    "application)");

	for (size_t i = 0; i < p->n_conds && !slots_matter; i++)
		slots_matter = expr_has_slot(p->conds[i].expr, 0);

	for (size_t ai = 0; ai < v->s->n_actions; ai++) {
		const struct cedar_action_decl *ad = &v->s->actions[ai];
		const struct vtype *ctx;

		if (!ad->has_applies_to)
			continue;
		if (ad->context != NULL) {
			ctx = cedar_vt_from_schema(v, ad->context, 0);
		} else {
			static const struct vtype empty_rec = {
				.kind = VT_RECORD };
			ctx = &empty_rec;
		}
		if (ctx == NULL) {
			report(v, MANDATE_ELIMIT, p->off, p->len,
			    "out of memory while validating");
			return;
		}
		for (size_t i = 0; i < ad->n_principal_types; i++) {
			for (size_t j = 0; j < ad->n_resource_types; j++) {
				struct venv env;
				memset(&env, 0, sizeof(env));
				env.action = ai;
				env.ptype = ad->principal_types[i];
				env.rtype = ad->resource_types[j];
				env.pvt.kind = VT_ENTITY;
				env.pvt.name = env.ptype;
				env.pvt.et = v->act_pdecl[ai][i];
				env.rvt.kind = VT_ENTITY;
				env.rvt.name = env.rtype;
				env.rvt.et = v->act_rdecl[ai][j];
				env.context = ctx;
				v->env = &env;
				if (check_env_with_slots(v, p, &env,
				    slots_matter) != MANDATE_OK)
					return;
			}
		}
	}
	v->env = NULL;
}

/* ------------------------------------------------------------------ */
/* Entry points */

int
cedar_validate_policies(const struct cedar_schema *s,
    const struct cedar_policy *const *policies, size_t n,
    struct diag_list *dl)
{
	struct vctx v;
	int r;

	if (s == NULL || (policies == NULL && n != 0))
		return MANDATE_EINVAL;
	memset(&v, 0, sizeof(v));
	v.s = s;
	v.dl = dl;
	arena_init(&v.sa, VAL_WORK_LIMIT);
	arena_init(&v.wa, VAL_WORK_LIMIT);
	if ((r = cedar_vt_index_schema(&v)) != MANDATE_OK) {
		if (dl != NULL)
			diag_add(dl, r, NULL, NULL, 0, 0, 0,
			    "schema too large to validate against");
		goto out;
	}
	for (size_t i = 0; i < n; i++)
		if (policies[i] != NULL)
			validate_policy(&v, policies[i]);
	r = v.failed ? MANDATE_EVALIDATE : MANDATE_OK;
out:
	arena_free(&v.wa);
	arena_free(&v.sa);
	return r;
}

int
cedar_policy_set_validate(const struct cedar_policy_set *ps,
    const struct cedar_schema *schema, struct diag_list *dl)
{
	if (ps == NULL || schema == NULL)
		return MANDATE_EINVAL;
	return cedar_validate_policies(schema,
	    (const struct cedar_policy *const *)ps->all, ps->n_all, dl);
}

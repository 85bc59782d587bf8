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
 * The typing rules follow the reference (cedar-spec's Lean
 * Typechecker.lean, cedar's typecheck.rs): singleton True/False types
 * that short-circuit &&, || and if; capabilities (which `has` tests are
 * known to hold) flowing through && / || / if; least upper bounds without
 * subtyping between distinct entity types or record shapes.  A policy
 * that can never apply is only a warning in the reference and is not
 * reported here.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar_int.h"
#include "validate_int.h"

#define VAL_WORK_LIMIT   (256u << 20)  /* bytes of scratch per call */
#define VAL_MAX_DEPTH    (4 * CEDAR_MAX_NESTING)
#define VAL_MAX_STEPS    50000000ull   /* typing steps per call */
#define VAL_MAX_TYPES    20000         /* entity types / actions indexed */

/* ------------------------------------------------------------------ */
/* Context */

struct cap {
	const struct cedar_expr *e;     /* the expression tested */
	const struct cedar_expr *tag;   /* hasTag key; NULL for an attribute */
	struct str attr;
};

struct caps {
	const struct cap *v;
	size_t n;
};

struct tres {
	const struct vtype *t;
	struct caps c;
};

struct name_ix {
	struct str name;
	size_t ix;
};

struct uid_ix {
	const struct cedar_uid *uid;
	size_t ix;
};

struct tcache_ent {
	const struct cedar_type *k;
	const struct vtype *v;
};

struct venv {
	size_t action;                  /* index into s->actions */
	struct str ptype, rtype;
	const struct vtype *context;
	bool has_pslot, has_rslot;
	struct str pslot, rslot;        /* slot entity types */
};

struct vctx {
	const struct cedar_schema *s;
	struct arena sa;                /* schema-derived, whole call */
	struct arena wa;                /* scratch, reset per environment */
	struct name_ix *ets;            /* entity types sorted by name */
	size_t n_ets;
	struct uid_ix *acts;            /* actions sorted by uid */
	size_t n_acts;
	uint64_t *et_anc;               /* row i: ancestors of entity type i */
	size_t et_words;
	uint64_t *act_anc;              /* row i: ancestor actions of action i */
	size_t act_words;
	struct tcache_ent *cache;       /* schema type -> vtype */
	size_t cache_cap, cache_n;
	/* the policy and environment being checked */
	const struct cedar_policy *p;
	const struct venv *env;
	int depth;
	uint64_t steps;
	/* first error of the current environment */
	int err;                        /* MANDATE_OK when none */
	uint32_t err_off, err_len;
	char err_msg[DIAG_MSG_MAX];
	struct diag_list *dl;
	bool failed;
};

static const struct vtype T_TRUE = { .kind = VT_BOOL, .b = VB_TT };
static const struct vtype T_FALSE = { .kind = VT_BOOL, .b = VB_FF };
static const struct vtype T_BOOL = { .kind = VT_BOOL, .b = VB_ANY };
static const struct vtype T_LONG = { .kind = VT_LONG };
static const struct vtype T_STRING = { .kind = VT_STRING };

static const char *const ext_names[] = {
	"ipaddr", "decimal", "datetime", "duration",
};

/* ------------------------------------------------------------------ */
/* Small helpers */

static bool
bit_get(const uint64_t *row, size_t i)
{
	return (row[i / 64] >> (i % 64)) & 1u;
}

static void
bit_set(uint64_t *row, size_t i)
{
	row[i / 64] |= (uint64_t)1 << (i % 64);
}

static int
name_ix_cmp(const void *a, const void *b)
{
	return str_cmp(((const struct name_ix *)a)->name,
	    ((const struct name_ix *)b)->name);
}

static int
uid_ix_cmp(const void *a, const void *b)
{
	return cedar_uid_cmp(((const struct uid_ix *)a)->uid,
	    ((const struct uid_ix *)b)->uid);
}

/* Index of an entity type, or SIZE_MAX when undeclared. */
static size_t
et_find(const struct vctx *v, struct str name)
{
	size_t lo = 0, hi = v->n_ets;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = str_cmp(v->ets[mid].name, name);
		if (r == 0)
			return v->ets[mid].ix;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

static size_t
act_find(const struct vctx *v, const struct cedar_uid *uid)
{
	size_t lo = 0, hi = v->n_acts;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = cedar_uid_cmp(v->acts[mid].uid, uid);
		if (r == 0)
			return v->acts[mid].ix;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return SIZE_MAX;
}

static const struct cedar_entity_type *
et_get(const struct vctx *v, struct str name)
{
	size_t i = et_find(v, name);
	return i == SIZE_MAX ? NULL : &v->s->entity_types[i];
}

/* Some declared action has this entity type. */
static bool
is_action_type(const struct vctx *v, struct str ety)
{
	for (size_t i = 0; i < v->s->n_actions; i++)
		if (str_eq(v->s->actions[i].uid.type, ety))
			return true;
	return false;
}

/* Enumerated types accept only their declared ids. */
static bool
et_valid_uid(const struct vctx *v, const struct cedar_uid *uid)
{
	const struct cedar_entity_type *et = et_get(v, uid->type);

	if (et == NULL)
		return false;
	if (et->enum_ids == NULL)
		return true;
	for (size_t i = 0; i < et->n_enum_ids; i++)
		if (str_eq(et->enum_ids[i], uid->id))
			return true;
	return false;
}

static bool
uid_known(const struct vctx *v, const struct cedar_uid *uid)
{
	return et_valid_uid(v, uid) || act_find(v, uid) != SIZE_MAX;
}

/* Is entity type a a descendant of (or equal to) entity type b? */
static bool
type_descendant(const struct vctx *v, struct str a, struct str b)
{
	size_t ia, ib;

	if (str_eq(a, b))
		return true;
	ia = et_find(v, a);
	if (ia != SIZE_MAX) {
		ib = et_find(v, b);
		return ib != SIZE_MAX &&
		    bit_get(v->et_anc + ia * v->et_words, ib);
	}
	/* action types: some action of type a is in some action of type b */
	for (size_t i = 0; i < v->s->n_actions; i++) {
		if (!str_eq(v->s->actions[i].uid.type, a))
			continue;
		for (size_t j = 0; j < v->s->n_actions; j++)
			if (str_eq(v->s->actions[j].uid.type, b) &&
			    bit_get(v->act_anc + i * v->act_words, j))
				return true;
	}
	return false;
}

/* Is action a a descendant of (or equal to) action b? */
static bool
action_descendant(const struct vctx *v, const struct cedar_uid *a,
    const struct cedar_uid *b)
{
	size_t ia, ib;

	if (cedar_uid_eq(a, b))
		return true;
	ia = act_find(v, a);
	ib = act_find(v, b);
	if (ia == SIZE_MAX || ib == SIZE_MAX)
		return false;
	return bit_get(v->act_anc + ia * v->act_words, ib);
}

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

/* Record the first type error of the current environment. */
static int terr(struct vctx *v, const struct cedar_expr *e, const char *fmt,
    ...) __attribute__((format(printf, 3, 4)));

static int
terr(struct vctx *v, const struct cedar_expr *e, const char *fmt, ...)
{
	va_list ap;

	if (v->err != MANDATE_OK)
		return v->err;
	v->err = MANDATE_EVALIDATE;
	v->err_off = e ? e->off : v->p->off;
	v->err_len = e ? e->len : v->p->len;
	va_start(ap, fmt);
	vsnprintf(v->err_msg, sizeof(v->err_msg), fmt, ap);
	va_end(ap);
	return v->err;
}

static int
tlimit(struct vctx *v, const struct cedar_expr *e, int code, const char *what)
{
	if (v->err != MANDATE_OK)
		return v->err;
	v->err = code;
	v->err_off = e ? e->off : v->p->off;
	v->err_len = e ? e->len : v->p->len;
	snprintf(v->err_msg, sizeof(v->err_msg), "%s", what);
	return code;
}

/* Render a type for messages (bounded). */
static size_t
type_fmt(const struct vtype *t, char *buf, size_t cap, int depth)
{
	size_t n = 0;

#define PUT(...) do { \
	int w_ = snprintf(buf + n, cap > n ? cap - n : 0, __VA_ARGS__); \
	if (w_ > 0) n += (size_t)w_; \
	if (n >= cap) return cap ? cap - 1 : 0; \
} while (0)

	if (cap == 0)
		return 0;
	buf[0] = '\0';
	if (depth > 8) {
		PUT("...");
		return n;
	}
	switch (t->kind) {
	case VT_BOOL:
		PUT("%s", t->b == VB_TT ? "True" : t->b == VB_FF ? "False" :
		    "Bool");
		break;
	case VT_LONG:
		PUT("Long");
		break;
	case VT_STRING:
		PUT("String");
		break;
	case VT_ENTITY:
		PUT("%.*s", (int)t->name.n, t->name.p ? t->name.p : "");
		break;
	case VT_EXT:
		PUT("%s", t->ext < 4 ? ext_names[t->ext] : "extension");
		break;
	case VT_SET:
		PUT("Set<");
		n += type_fmt(t->elem, buf + n, cap - n, depth + 1);
		PUT(">");
		break;
	case VT_RECORD:
		PUT("{");
		for (size_t i = 0; i < t->n_attrs; i++) {
			PUT("%s%.*s%s: ", i ? ", " : "",
			    (int)t->attrs[i].name.n, t->attrs[i].name.p,
			    t->attrs[i].required ? "" : "?");
			n += type_fmt(t->attrs[i].type, buf + n, cap - n,
			    depth + 1);
			if (n + 1 >= cap)
				return n;
		}
		PUT("}");
		break;
	}
#undef PUT
	return n;
}

static const char *
tname(const struct vtype *t, char *buf, size_t cap)
{
	type_fmt(t, buf, cap, 0);
	return buf;
}

/* ------------------------------------------------------------------ */
/* Types: construction, equality, least upper bound */

static struct vtype *
vt_new(struct arena *a, uint8_t kind)
{
	struct vtype *t = arena_zalloc(a, sizeof(*t));
	if (t != NULL)
		t->kind = kind;
	return t;
}

static const struct vtype *
vt_entity(struct vctx *v, struct str name)
{
	struct vtype *t = vt_new(&v->wa, VT_ENTITY);
	if (t != NULL)
		t->name = name;
	return t;
}

static const struct vtype *
vt_bool(uint8_t b)
{
	return b == VB_TT ? &T_TRUE : b == VB_FF ? &T_FALSE : &T_BOOL;
}

/* Convert a schema type (cached; lives in v->sa). */
static const struct vtype *
vt_from_schema(struct vctx *v, const struct cedar_type *ct, int depth)
{
	struct vtype *t;
	size_t h;

	if (ct == NULL || depth > VAL_MAX_DEPTH)
		return NULL;
	switch (ct->kind) {
	case CT_BOOL:
		return &T_BOOL;
	case CT_LONG:
		return &T_LONG;
	case CT_STRING:
		return &T_STRING;
	default:
		break;
	}
	if (v->cache_cap != 0) {
		h = ((uintptr_t)ct >> 4) & (v->cache_cap - 1);
		while (v->cache[h].k != NULL) {
			if (v->cache[h].k == ct)
				return v->cache[h].v;
			h = (h + 1) & (v->cache_cap - 1);
		}
	}
	switch (ct->kind) {
	case CT_ENTITY:
		if ((t = vt_new(&v->sa, VT_ENTITY)) == NULL)
			return NULL;
		t->name = ct->name;
		break;
	case CT_EXT:
		if ((t = vt_new(&v->sa, VT_EXT)) == NULL)
			return NULL;
		t->ext = ct->ext;
		break;
	case CT_SET:
		if ((t = vt_new(&v->sa, VT_SET)) == NULL)
			return NULL;
		if ((t->elem = vt_from_schema(v, ct->elem, depth + 1)) == NULL)
			return NULL;
		break;
	case CT_RECORD: {
		struct vt_attr *at;
		if ((t = vt_new(&v->sa, VT_RECORD)) == NULL)
			return NULL;
		at = arena_calloc(&v->sa, ct->n_attrs ? ct->n_attrs : 1,
		    sizeof(*at));
		if (at == NULL)
			return NULL;
		for (size_t i = 0; i < ct->n_attrs; i++) {
			at[i].name = ct->attrs[i].name;
			at[i].required = ct->attrs[i].required;
			at[i].type = vt_from_schema(v, ct->attrs[i].type,
			    depth + 1);
			if (at[i].type == NULL)
				return NULL;
		}
		t->attrs = at;
		t->n_attrs = ct->n_attrs;
		break;
	}
	default:
		return NULL;
	}
	/* insert, growing the table at half load */
	if (v->cache_n * 2 >= v->cache_cap) {
		size_t ncap = v->cache_cap ? v->cache_cap * 2 : 256;
		struct tcache_ent *nc = arena_calloc(&v->sa, ncap, sizeof(*nc));
		if (nc == NULL)
			return t;   /* uncached still works */
		for (size_t i = 0; i < v->cache_cap; i++) {
			if (v->cache[i].k == NULL)
				continue;
			h = ((uintptr_t)v->cache[i].k >> 4) & (ncap - 1);
			while (nc[h].k != NULL)
				h = (h + 1) & (ncap - 1);
			nc[h] = v->cache[i];
		}
		v->cache = nc;
		v->cache_cap = ncap;
	}
	h = ((uintptr_t)ct >> 4) & (v->cache_cap - 1);
	while (v->cache[h].k != NULL)
		h = (h + 1) & (v->cache_cap - 1);
	v->cache[h].k = ct;
	v->cache[h].v = t;
	v->cache_n++;
	return t;
}

static bool
type_eq(const struct vtype *a, const struct vtype *b)
{
	if (a == b)
		return true;
	if (a->kind != b->kind)
		return false;
	switch (a->kind) {
	case VT_BOOL:
		return a->b == b->b;
	case VT_LONG:
	case VT_STRING:
		return true;
	case VT_ENTITY:
		return str_eq(a->name, b->name);
	case VT_EXT:
		return a->ext == b->ext;
	case VT_SET:
		return type_eq(a->elem, b->elem);
	case VT_RECORD:
		if (a->n_attrs != b->n_attrs)
			return false;
		for (size_t i = 0; i < a->n_attrs; i++)
			if (!str_eq(a->attrs[i].name, b->attrs[i].name) ||
			    a->attrs[i].required != b->attrs[i].required ||
			    !type_eq(a->attrs[i].type, b->attrs[i].type))
				return false;
		return true;
	}
	return false;
}

/* Least upper bound in strict mode: Bool singletons widen to Bool, sets
 * and records (same attribute names) go element-wise, an attribute is
 * required only when it is required on both sides; everything else must
 * be equal.  *out NULL when there is none; MANDATE_ENOMEM on OOM. */
static int
type_lub(struct vctx *v, const struct vtype *a, const struct vtype *b,
    const struct vtype **out)
{
	struct vtype *t;
	int r;

	*out = NULL;
	if (a->kind == VT_BOOL && b->kind == VT_BOOL) {
		*out = vt_bool(a->b == b->b ? a->b : VB_ANY);
		return MANDATE_OK;
	}
	if (a->kind == VT_SET && b->kind == VT_SET) {
		const struct vtype *e;
		if ((r = type_lub(v, a->elem, b->elem, &e)) != MANDATE_OK ||
		    e == NULL)
			return r;
		if (e == a->elem) {
			*out = a;
			return MANDATE_OK;
		}
		if ((t = vt_new(&v->wa, VT_SET)) == NULL)
			return MANDATE_ENOMEM;
		t->elem = e;
		*out = t;
		return MANDATE_OK;
	}
	if (a->kind == VT_RECORD && b->kind == VT_RECORD) {
		struct vt_attr *at;
		if (a->n_attrs != b->n_attrs)
			return MANDATE_OK;
		at = arena_calloc(&v->wa, a->n_attrs ? a->n_attrs : 1,
		    sizeof(*at));
		if (at == NULL)
			return MANDATE_ENOMEM;
		for (size_t i = 0; i < a->n_attrs; i++) {
			const struct vtype *e;
			if (!str_eq(a->attrs[i].name, b->attrs[i].name))
				return MANDATE_OK;
			r = type_lub(v, a->attrs[i].type, b->attrs[i].type, &e);
			if (r != MANDATE_OK || e == NULL)
				return r;
			at[i].name = a->attrs[i].name;
			at[i].type = e;
			at[i].required = a->attrs[i].required &&
			    b->attrs[i].required;
		}
		if ((t = vt_new(&v->wa, VT_RECORD)) == NULL)
			return MANDATE_ENOMEM;
		t->attrs = at;
		t->n_attrs = a->n_attrs;
		*out = t;
		return MANDATE_OK;
	}
	if (type_eq(a, b))
		*out = a;
	return MANDATE_OK;
}

static const struct vt_attr *
rec_find(const struct vtype *rec, struct str name)
{
	size_t lo = 0, hi = rec->n_attrs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = str_cmp(rec->attrs[mid].name, name);
		if (r == 0)
			return &rec->attrs[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
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
	    tname(t, b, sizeof(b)));
}

static int
unexpected(struct vctx *v, const struct cedar_expr *e, const struct vtype *t,
    const char *wanted)
{
	char b[96];
	return terr(v, e, "unexpected type %s (expected %s)",
	    tname(t, b, sizeof(b)), wanted);
}

static int
lub_err(struct vctx *v, const struct cedar_expr *e, const struct vtype *a,
    const struct vtype *b, const char *what)
{
	char ba[80], bb[80];
	return terr(v, e, "%s: types %s and %s are incompatible", what,
	    tname(a, ba, sizeof(ba)), tname(b, bb, sizeof(bb)));
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
		return ok(out, literal_eq(v, x1, x2) ? &T_TRUE : &T_FALSE);
	if ((r = type_lub(v, t1, t2, &l)) != MANDATE_OK)
		return oom(v, e);
	if (l != NULL)
		return ok(out, &T_BOOL);
	if (t1->kind == VT_ENTITY && t2->kind == VT_ENTITY)
		return ok(out, &T_FALSE);
	return lub_err(v, e, t1, t2, "`==` on incomparable operands");
}

/* x1 in x2 where x1: entity ety1 and x2: entity ety2 or Set<ety2>. */
static int
type_in(struct vctx *v, const struct cedar_expr *x1,
    const struct cedar_expr *x2, struct str ety1, struct str ety2,
    bool rhs_set, struct tres *out)
{
	const struct cedar_uid *u1 = lit_uid(v, x1);

	if (u1 != NULL && act_find(v, u1) != SIZE_MAX) {
		if (!rhs_set) {
			const struct cedar_uid *u2 = lit_uid(v, x2);
			if (u2 != NULL)
				return ok(out, action_descendant(v, u1, u2) ?
				    &T_TRUE : &T_FALSE);
		} else if (x2->kind == CX_SET) {
			bool all = true, any = false;
			for (uint32_t i = 0; i < x2->n_items; i++) {
				const struct cedar_uid *u2 =
				    lit_uid(v, x2->items[i]);
				if (u2 == NULL) {
					all = false;
					break;
				}
				if (action_descendant(v, u1, u2))
					any = true;
			}
			if (all)
				return ok(out, any ? &T_TRUE : &T_FALSE);
		}
	}
	return ok(out, type_descendant(v, ety1, ety2) ? &T_BOOL : &T_FALSE);
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
		const struct cedar_entity_type *et = et_get(v, t->name);
		if (et == NULL) {
			if (is_action_type(v, t->name))
				return ok(out, &T_FALSE);
			return terr(v, e, "unknown entity type %.*s",
			    (int)t->name.n, t->name.p);
		}
		if (et->shape == NULL)
			return ok(out, &T_FALSE);
		if ((rec = vt_from_schema(v, et->shape, 0)) == NULL)
			return oom(v, e);
		known_to_exist = false;
	} else {
		return unexpected(v, e->a, t, "an entity or a record");
	}
	if ((at = rec_find(rec, e->s)) == NULL)
		return ok(out, &T_FALSE);
	k.e = e->a;
	k.tag = NULL;
	k.attr = e->s;
	if (caps_has(v, c, &k) || (at->required && known_to_exist))
		return ok(out, &T_TRUE);
	out->t = &T_BOOL;
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
		const struct cedar_entity_type *et = et_get(v, t->name);
		if (et == NULL)
			return terr(v, e, "%.*s has no attributes",
			    (int)t->name.n, t->name.p);
		if (et->shape == NULL)
			return terr(v, e, "attribute `%.*s` not found on %.*s",
			    (int)e->s.n, e->s.p, (int)t->name.n, t->name.p);
		if ((rec = vt_from_schema(v, et->shape, 0)) == NULL)
			return oom(v, e);
	} else {
		return unexpected(v, e->a, t, "an entity or a record");
	}
	if ((at = rec_find(rec, e->s)) == NULL)
		return terr(v, e, "attribute `%.*s` not found on %s",
		    (int)e->s.n, e->s.p, tname(t, b, sizeof(b)));
	if (!at->required) {
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
    struct str ety, struct caps c, struct tres *out)
{
	const struct cedar_entity_type *et = et_get(v, ety);
	struct cap k;

	if (et == NULL) {
		if (!is_get && is_action_type(v, ety))
			return ok(out, &T_FALSE);
		return terr(v, e, "%.*s has no tags", (int)ety.n, ety.p);
	}
	if (et->tags == NULL || et->enum_ids != NULL) {
		if (!is_get)
			return ok(out, &T_FALSE);
		return terr(v, e, "entity type %.*s has no tags",
		    (int)ety.n, ety.p);
	}
	k.e = x;
	k.tag = key;
	k.attr = STR_NULL;
	if (is_get) {
		const struct vtype *tt;
		if (!caps_has(v, c, &k))
			return terr(v, e, "tag may be absent: test it with "
			    "`hasTag` first");
		if ((tt = vt_from_schema(v, et->tags, 0)) == NULL)
			return oom(v, e);
		return ok(out, tt);
	}
	if (caps_has(v, c, &k))
		return ok(out, &T_TRUE);
	out->t = &T_BOOL;
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
			    ext_names[ext], (int)(s.n > 60 ? 60 : s.n), s.p);
	} else {
		return terr(v, e, "%s() takes one string literal",
		    ext_names[ext]);
	}
	if ((t = vt_new(&v->wa, VT_EXT)) == NULL)
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
	}
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
		if (type_lub(v, other, tys[0]->elem, &l) != MANDATE_OK)
			return oom(v, e);
		if (l == NULL)
			return lub_err(v, e, tys[0]->elem, other,
			    "set element types");
		return ok(out, &T_BOOL);
	}
	case CFN_IS_EMPTY:
		if (n != 1)
			return terr(v, e, "wrong number of arguments");
		if (tys[0]->kind != VT_SET)
			return unexpected(v, args[0], tys[0], "a set");
		return ok(out, &T_BOOL);
	case CFN_GET_TAG:
	case CFN_HAS_TAG:
		if (n != 2)
			return terr(v, e, "wrong number of arguments");
		if (tys[0]->kind != VT_ENTITY)
			return unexpected(v, args[0], tys[0], "an entity");
		if (tys[1]->kind != VT_STRING)
			return unexpected(v, args[1], tys[1], "a String");
		return type_tag(v, e, e->fn == CFN_GET_TAG, args[0], args[1],
		    tys[0]->name, c, out);
	default:
		break;
	}
	/* extension functions with fixed signatures */
	{
		uint8_t want[2];
		size_t nwant;
		const struct vtype *res = &T_BOOL;
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
			want[0] = CEXT_DURATION; nwant = 1; res = &T_LONG;
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
				    "(expected %s)", tname(tys[i], b, sizeof(b)),
				    ext_names[want[i]]);
		if (res_ext >= 0) {
			if ((t = vt_new(&v->wa, VT_EXT)) == NULL)
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
	int r;

	switch (e->kind) {
	case CX_BOOL:
		return ok(out, e->bval ? &T_TRUE : &T_FALSE);
	case CX_LONG:
		return ok(out, &T_LONG);
	case CX_STRING:
		return ok(out, &T_STRING);
	case CX_ENTITY:
		if (!uid_known(v, &e->uid)) {
			if (cedar_type_is_action(e->uid.type) ||
			    act_find(v, &e->uid) != SIZE_MAX)
				return terr(v, e, "unrecognized action");
			return terr(v, e, "unknown entity %.*s::\"%.*s\"",
			    (int)e->uid.type.n, e->uid.type.p,
			    (int)(e->uid.id.n > 40 ? 40 : e->uid.id.n),
			    e->uid.id.p);
		}
		if ((l = vt_entity(v, e->uid.type)) == NULL)
			return oom(v, e);
		return ok(out, l);
	case CX_VAR:
		switch (e->var) {
		case CVAR_PRINCIPAL:
			l = vt_entity(v, v->env->ptype);
			break;
		case CVAR_ACTION:
			l = vt_entity(v, env_action_uid(v)->type);
			break;
		case CVAR_RESOURCE:
			l = vt_entity(v, v->env->rtype);
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
		l = vt_entity(v, e->var == CSLOT_PRINCIPAL ? v->env->pslot :
		    v->env->rslot);
		if (l == NULL)
			return oom(v, e);
		return ok(out, l);
	}
	case CX_IF:
		if ((r = type_of(v, e->a, c, &r1)) != MANDATE_OK)
			return r;
		if (r1.t->kind != VT_BOOL)
			return expect_bool(v, e->a, r1.t);
		if (r1.t->b == VB_TT || r1.t->b == VB_ANY) {
			if (caps_union(v, c, r1.c, &cc) != MANDATE_OK)
				return oom(v, e);
			if ((r = type_of(v, e->b, cc, &r2)) != MANDATE_OK)
				return r;
		}
		if (r1.t->b == VB_FF || r1.t->b == VB_ANY)
			if ((r = type_of(v, e->c, c, &r3)) != MANDATE_OK)
				return r;
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
		if (type_lub(v, r2.t, r3.t, &l) != MANDATE_OK)
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
		if (r1.t->kind != VT_BOOL)
			return expect_bool(v, e->a, r1.t);
		if (r1.t->b == VB_FF)
			return ok(out, &T_FALSE);
		if (caps_union(v, c, r1.c, &cc) != MANDATE_OK)
			return oom(v, e);
		if ((r = type_of(v, e->b, cc, &r2)) != MANDATE_OK)
			return r;
		if (r2.t->kind != VT_BOOL)
			return expect_bool(v, e->b, r2.t);
		if (r2.t->b == VB_FF)
			return ok(out, &T_FALSE);
		out->t = r2.t->b == VB_TT ? r1.t : &T_BOOL;
		if (caps_union(v, r1.c, r2.c, &out->c) != MANDATE_OK)
			return oom(v, e);
		return MANDATE_OK;
	case CX_OR:
		if ((r = type_of(v, e->a, c, &r1)) != MANDATE_OK)
			return r;
		if (r1.t->kind != VT_BOOL)
			return expect_bool(v, e->a, r1.t);
		if (r1.t->b == VB_TT)
			return ok(out, &T_TRUE);
		if ((r = type_of(v, e->b, c, &r2)) != MANDATE_OK)
			return r;
		if (r2.t->kind != VT_BOOL)
			return expect_bool(v, e->b, r2.t);
		if (r1.t->b == VB_FF) {
			*out = r2;
			return MANDATE_OK;
		}
		if (r2.t->b == VB_TT)
			return ok(out, &T_TRUE);
		if (r2.t->b == VB_FF) {
			out->t = &T_BOOL;
			out->c = r1.c;
			return MANDATE_OK;
		}
		out->t = &T_BOOL;
		if (caps_inter(v, r1.c, r2.c, &out->c) != MANDATE_OK)
			return oom(v, e);
		return MANDATE_OK;
	case CX_NOT:
		if ((r = type_of(v, e->a, c, &r1)) != MANDATE_OK)
			return r;
		if (r1.t->kind != VT_BOOL)
			return expect_bool(v, e->a, r1.t);
		return ok(out, vt_bool(r1.t->b == VB_TT ? VB_FF :
		    r1.t->b == VB_FF ? VB_TT : VB_ANY));
	case CX_NEG:
		if ((r = type_of(v, e->a, c, &r1)) != MANDATE_OK)
			return r;
		if (r1.t->kind != VT_LONG)
			return unexpected(v, e->a, r1.t, "Long");
		return ok(out, &T_LONG);
	case CX_LIKE:
		if ((r = type_of(v, e->a, c, &r1)) != MANDATE_OK)
			return r;
		if (r1.t->kind != VT_STRING)
			return unexpected(v, e->a, r1.t, "String");
		return ok(out, &T_BOOL);
	case CX_IS:
		if ((r = type_of(v, e->a, c, &r1)) != MANDATE_OK)
			return r;
		if (r1.t->kind != VT_ENTITY)
			return unexpected(v, e->a, r1.t, "an entity");
		return ok(out, str_eq(r1.t->name, e->s) ? &T_TRUE : &T_FALSE);
	case CX_HAS:
		if ((r = type_of(v, e->a, c, &r1)) != MANDATE_OK)
			return r;
		return type_has(v, e, r1.t, c, out);
	case CX_GETATTR:
		if ((r = type_of(v, e->a, c, &r1)) != MANDATE_OK)
			return r;
		return type_getattr(v, e, r1.t, c, out);
	case CX_SET: {
		if (e->n_items == 0)
			return terr(v, e, "empty set literals are not allowed "
			    "(their element type is unknown)");
		l = NULL;
		for (uint32_t i = 0; i < e->n_items; i++) {
			if ((r = type_of(v, e->items[i], c, &r1)) != MANDATE_OK)
				return r;
			if (l == NULL) {
				l = r1.t;
				continue;
			}
			{
				const struct vtype *nl;
				if (type_lub(v, l, r1.t, &nl) != MANDATE_OK)
					return oom(v, e);
				if (nl == NULL)
					return lub_err(v, e, l, r1.t,
					    "set elements");
				l = nl;
			}
		}
		{
			struct vtype *t = vt_new(&v->wa, VT_SET);
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
		if (at == NULL || (t = vt_new(&v->wa, VT_RECORD)) == NULL)
			return oom(v, e);
		for (uint32_t i = 0; i < e->n_items; i++) {
			size_t j;
			if ((r = type_of(v, e->items[i], c, &r1)) != MANDATE_OK)
				return r;
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
	switch (e->kind) {
	case CX_EQ:
		return type_eq_op(v, e, e->a, e->b, r1.t, r2.t, out);
	case CX_NE:
		if ((r = type_eq_op(v, e, e->a, e->b, r1.t, r2.t, out)) !=
		    MANDATE_OK)
			return r;
		out->t = vt_bool(out->t->b == VB_TT ? VB_FF :
		    out->t->b == VB_FF ? VB_TT : VB_ANY);
		return MANDATE_OK;
	case CX_LT:
	case CX_LE:
	case CX_GT:
	case CX_GE:
		if (r1.t->kind == VT_LONG && r2.t->kind == VT_LONG)
			return ok(out, &T_BOOL);
		if (r1.t->kind == VT_EXT && r2.t->kind == VT_EXT &&
		    r1.t->ext == r2.t->ext && (r1.t->ext == CEXT_DATETIME ||
		    r1.t->ext == CEXT_DURATION))
			return ok(out, &T_BOOL);
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
		return ok(out, &T_LONG);
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
	return r;
}

/* ------------------------------------------------------------------ */
/* Scope typing, mirroring the reference's scope-to-expression rewrite:
 * `principal == uid`, `principal in uid`, `principal is T`,
 * `principal is T in uid`, `action in [uids]`. */

static int
scope_literal(struct vctx *v, const struct cedar_uid *uid,
    const struct cedar_scope *sc)
{
	struct cedar_expr fake;

	if (uid_known(v, uid))
		return MANDATE_OK;
	memset(&fake, 0, sizeof(fake));
	fake.off = sc->off;
	fake.len = sc->len;
	return terr(v, &fake, "unknown entity %.*s::\"%.*s\"",
	    (int)uid->type.n, uid->type.p,
	    (int)(uid->id.n > 40 ? 40 : uid->id.n), uid->id.p);
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
		if ((r = scope_literal(v, uid, sc)) != MANDATE_OK)
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
			in_b = type_descendant(v, vty, slot_ty) ? VB_ANY :
			    VB_FF;
		} else {
			if ((r = scope_literal(v, uid, sc)) != MANDATE_OK)
				return r;
			if (var == CVAR_ACTION)
				in_b = action_descendant(v, au, uid) ? VB_TT :
				    VB_FF;
			else
				in_b = type_descendant(v, vty, uid->type) ?
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
			if ((r = scope_literal(v, &sc->uids[i], sc)) !=
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
			if (action_descendant(v, au, &sc->uids[i]))
				any = true;
		}
		*b = any ? VB_TT : VB_FF;
		return MANDATE_OK;
	}
	default:
		return terr(v, NULL, "malformed scope");
	}
}

/* Typecheck the whole policy in the current environment.  Returns
 * MANDATE_OK (with v->err unset) or the first error. */
static int
typecheck_env(struct vctx *v, const struct cedar_policy *p)
{
	struct caps c = { NULL, 0 };
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
			return r;
		if (t.t->kind != VT_BOOL)
			return expect_bool(v, cd->expr, t.t);
		if (!cd->is_when) {
			/* `unless {e}` is `!e`: no capabilities */
			if (t.t->b == VB_TT)
				return MANDATE_OK;
			continue;
		}
		if (t.t->b == VB_FF)
			return MANDATE_OK;
		if (caps_union(v, c, t.c, &nc) != MANDATE_OK)
			return oom(v, cd->expr);
		c = nc;
	}
	return MANDATE_OK;
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
		if (act_find(v, uid) == SIZE_MAX) {
			snprintf(msg, sizeof(msg), "unrecognized action "
			    "%.*s::\"%.*s\"", (int)uid->type.n, uid->type.p,
			    (int)(uid->id.n > 40 ? 40 : uid->id.n), uid->id.p);
			report(v, MANDATE_EVALIDATE, off, len, msg);
		}
		return;
	}
	if ((et = et_get(v, uid->type)) == NULL) {
		snprintf(msg, sizeof(msg), "unrecognized entity type %.*s",
		    (int)uid->type.n, uid->type.p);
		report(v, MANDATE_EVALIDATE, off, len, msg);
		return;
	}
	if (!et_valid_uid(v, uid)) {
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

	if (cedar_type_is_action(ty) || et_find(v, ty) != SIZE_MAX)
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
		    (et_find(v, uid->type) != SIZE_MAX &&
		    type_descendant(v, ty, uid->type));
	case CSCOPE_IS:
		return str_eq(sc->is_type, ty) && et_find(v, ty) != SIZE_MAX;
	case CSCOPE_IS_IN:
		if (!str_eq(sc->is_type, ty))
			return false;
		if (uid == NULL)
			return et_find(v, ty) != SIZE_MAX;
		return str_eq(uid->type, ty) ||
		    (et_find(v, uid->type) != SIZE_MAX &&
		    type_descendant(v, ty, uid->type));
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
		return act_find(v, &sc->uid) != SIZE_MAX &&
		    action_descendant(v, au, &sc->uid);
	case CSCOPE_IN_SET: {
		bool any = false;
		for (size_t i = 0; i < sc->n_uids; i++) {
			if (act_find(v, &sc->uids[i]) == SIZE_MAX)
				return false;   /* the reference drops all */
			if (action_descendant(v, au, &sc->uids[i]))
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

static void
flush_env_error(struct vctx *v)
{
	if (v->err == MANDATE_OK)
		return;
	report(v, v->err, v->err_off, v->err_len, v->err_msg);
	v->err = MANDATE_OK;
}

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
		return type_descendant(v, vty, cand);
	return true;
}

static int
check_env_with_slots(struct vctx *v, const struct cedar_policy *p,
    struct venv *env)
{
	bool ps = p->principal.is_slot, rs = p->resource.is_slot;
	size_t np = ps ? v->s->n_entity_types : 1;
	size_t nr = rs ? v->s->n_entity_types : 1;

	for (size_t i = 0; i < np; i++) {
		if (ps) {
			struct str cand = v->s->entity_types[i].name;
			if (!slot_candidate(v, &p->principal, env->ptype, cand))
				continue;
			env->has_pslot = true;
			env->pslot = cand;
		}
		for (size_t j = 0; j < nr; j++) {
			if (rs) {
				struct str cand = v->s->entity_types[j].name;
				if (!slot_candidate(v, &p->resource,
				    env->rtype, cand))
					continue;
				env->has_rslot = true;
				env->rslot = cand;
			}
			arena_reset(&v->wa);
			v->err = MANDATE_OK;
			if (++v->steps > VAL_MAX_STEPS)
				(void)tlimit(v, NULL, MANDATE_ELIMIT,
				    "validation step limit exceeded");
			else
				(void)typecheck_env(v, p);
			if (v->err == MANDATE_ENOMEM || v->err == MANDATE_ELIMIT) {
				flush_env_error(v);
				return MANDATE_ELIMIT;
			}
			flush_env_error(v);
		}
	}
	return MANDATE_OK;
}

static void
validate_policy(struct vctx *v, const struct cedar_policy *p)
{
	const struct cedar_uid *pslot = NULL, *rslot = NULL;

	v->p = p;
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

	for (size_t ai = 0; ai < v->s->n_actions; ai++) {
		const struct cedar_action_decl *ad = &v->s->actions[ai];
		const struct vtype *ctx;

		if (!ad->has_applies_to)
			continue;
		if (ad->context != NULL) {
			ctx = vt_from_schema(v, ad->context, 0);
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
				env.context = ctx;
				v->env = &env;
				if (check_env_with_slots(v, p, &env) !=
				    MANDATE_OK)
					return;
			}
		}
	}
	v->env = NULL;
}

/* ------------------------------------------------------------------ */
/* Schema indexes */

static int
build_indexes(struct vctx *v)
{
	const struct cedar_schema *s = v->s;
	size_t n = s->n_entity_types, m = s->n_actions;
	size_t *stack;

	if (n > VAL_MAX_TYPES || m > VAL_MAX_TYPES)
		return MANDATE_ELIMIT;
	v->ets = arena_calloc(&v->sa, n ? n : 1, sizeof(*v->ets));
	v->acts = arena_calloc(&v->sa, m ? m : 1, sizeof(*v->acts));
	v->et_words = (n + 63) / 64 ? (n + 63) / 64 : 1;
	v->act_words = (m + 63) / 64 ? (m + 63) / 64 : 1;
	v->et_anc = arena_calloc(&v->sa, (n ? n : 1) * v->et_words,
	    sizeof(uint64_t));
	v->act_anc = arena_calloc(&v->sa, (m ? m : 1) * v->act_words,
	    sizeof(uint64_t));
	stack = arena_calloc(&v->sa, (n > m ? n : m) + 1, sizeof(size_t));
	if (v->ets == NULL || v->acts == NULL || v->et_anc == NULL ||
	    v->act_anc == NULL || stack == NULL)
		return MANDATE_ENOMEM;
	for (size_t i = 0; i < n; i++) {
		v->ets[i].name = s->entity_types[i].name;
		v->ets[i].ix = i;
	}
	qsort(v->ets, n, sizeof(*v->ets), name_ix_cmp);
	v->n_ets = n;
	for (size_t i = 0; i < m; i++) {
		v->acts[i].uid = &s->actions[i].uid;
		v->acts[i].ix = i;
	}
	qsort(v->acts, m, sizeof(*v->acts), uid_ix_cmp);
	v->n_acts = m;

	/* transitive ancestors by depth-first search from each node */
	for (size_t i = 0; i < n; i++) {
		uint64_t *row = v->et_anc + i * v->et_words;
		size_t sp = 0;
		stack[sp++] = i;
		while (sp > 0) {
			const struct cedar_entity_type *et =
			    &s->entity_types[stack[--sp]];
			for (size_t k = 0; k < et->n_member_of; k++) {
				size_t j = et_find(v, et->member_of[k]);
				if (j == SIZE_MAX || bit_get(row, j))
					continue;
				bit_set(row, j);
				stack[sp++] = j;
			}
		}
	}
	for (size_t i = 0; i < m; i++) {
		uint64_t *row = v->act_anc + i * v->act_words;
		size_t sp = 0;
		stack[sp++] = i;
		while (sp > 0) {
			const struct cedar_action_decl *ad =
			    &s->actions[stack[--sp]];
			for (size_t k = 0; k < ad->n_member_of; k++) {
				size_t j = act_find(v, &ad->member_of[k]);
				if (j == SIZE_MAX || bit_get(row, j))
					continue;
				bit_set(row, j);
				stack[sp++] = j;
			}
		}
	}
	return MANDATE_OK;
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
	if ((r = build_indexes(&v)) != MANDATE_OK) {
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

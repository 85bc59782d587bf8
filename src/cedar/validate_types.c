/*
 * validate_types.c - the validator's type algebra and schema queries.
 *
 * Validation types (True/False/Bool, Long, String, entity, Set, Record
 * with required/optional attributes, extension types, and the error type
 * of a subexpression that failed) with their equality, strict-mode least
 * upper bound and printing; schema types converted (and cached) into
 * them; and the indexes over a schema the typechecker asks: is a type or
 * action declared, is one entity type or action a descendant of another.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar_int.h"
#include "validate_int.h"

const struct vtype cedar_vt_true = { .kind = VT_BOOL, .b = VB_TT };
const struct vtype cedar_vt_false = { .kind = VT_BOOL, .b = VB_FF };
const struct vtype cedar_vt_bool = { .kind = VT_BOOL, .b = VB_ANY };
const struct vtype cedar_vt_long = { .kind = VT_LONG };
const struct vtype cedar_vt_string = { .kind = VT_STRING };
const struct vtype cedar_vt_err = { .kind = VT_ERR };

const char *const cedar_vt_ext_names[] = {
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
size_t
cedar_vt_etype_ix(const struct vctx *v, struct str name)
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

size_t
cedar_vt_action_ix(const struct vctx *v, const struct cedar_uid *uid)
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

const struct cedar_entity_type *
cedar_vt_etype(const struct vctx *v, struct str name)
{
	size_t i = cedar_vt_etype_ix(v, name);
	return i == SIZE_MAX ? NULL : &v->s->entity_types[i];
}

/* Some declared action has this entity type. */
bool
cedar_vt_is_action_type(const struct vctx *v, struct str ety)
{
	for (size_t i = 0; i < v->s->n_actions; i++)
		if (str_eq(v->s->actions[i].uid.type, ety))
			return true;
	return false;
}

/* Enumerated types accept only their declared ids. */
bool
cedar_vt_valid_entity_uid(const struct vctx *v, const struct cedar_uid *uid)
{
	const struct cedar_entity_type *et = cedar_vt_etype(v, uid->type);

	if (et == NULL)
		return false;
	if (et->enum_ids == NULL)
		return true;
	for (size_t i = 0; i < et->n_enum_ids; i++)
		if (str_eq(et->enum_ids[i], uid->id))
			return true;
	return false;
}

bool
cedar_vt_uid_known(const struct vctx *v, const struct cedar_uid *uid)
{
	return cedar_vt_valid_entity_uid(v, uid) ||
	    cedar_vt_action_ix(v, uid) != SIZE_MAX;
}

/* Is entity type a a descendant of (or equal to) entity type b? */
bool
cedar_vt_type_in(const struct vctx *v, struct str a, struct str b)
{
	size_t ia, ib;

	if (str_eq(a, b))
		return true;
	ia = cedar_vt_etype_ix(v, a);
	if (ia != SIZE_MAX) {
		ib = cedar_vt_etype_ix(v, b);
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
bool
cedar_vt_action_in(const struct vctx *v, const struct cedar_uid *a,
    const struct cedar_uid *b)
{
	size_t ia, ib;

	if (cedar_uid_eq(a, b))
		return true;
	ia = cedar_vt_action_ix(v, a);
	ib = cedar_vt_action_ix(v, b);
	if (ia == SIZE_MAX || ib == SIZE_MAX)
		return false;
	return bit_get(v->act_anc + ia * v->act_words, ib);
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
		PUT("%s", t->ext < 4 ? cedar_vt_ext_names[t->ext] :
		    "extension");
		break;
	case VT_ERR:
		PUT("<error>");
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

const char *
cedar_vt_name(const struct vtype *t, char *buf, size_t cap)
{
	type_fmt(t, buf, cap, 0);
	return buf;
}

/* ------------------------------------------------------------------ */
/* Types: construction, equality, least upper bound */

struct vtype *
cedar_vt_new(struct arena *a, uint8_t kind)
{
	struct vtype *t = arena_zalloc(a, sizeof(*t));
	if (t != NULL)
		t->kind = kind;
	return t;
}

const struct vtype *
cedar_vt_entity(struct vctx *v, struct str name)
{
	struct vtype *t = cedar_vt_new(&v->wa, VT_ENTITY);
	if (t != NULL) {
		t->name = name;
		t->et = cedar_vt_etype(v, name);
	}
	return t;
}

const struct vtype *
cedar_vt_bool_of(uint8_t b)
{
	return b == VB_TT ? &cedar_vt_true : b == VB_FF ? &cedar_vt_false :
	    &cedar_vt_bool;
}

/* Convert a schema type (cached; lives in v->sa). */
const struct vtype *
cedar_vt_from_schema(struct vctx *v, const struct cedar_type *ct, int depth)
{
	struct vtype *t;
	size_t h;

	if (ct == NULL || depth > VAL_MAX_DEPTH)
		return NULL;
	switch (ct->kind) {
	case CT_BOOL:
		return &cedar_vt_bool;
	case CT_LONG:
		return &cedar_vt_long;
	case CT_STRING:
		return &cedar_vt_string;
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
		if ((t = cedar_vt_new(&v->sa, VT_ENTITY)) == NULL)
			return NULL;
		t->name = ct->name;
		t->et = cedar_vt_etype(v, ct->name);
		break;
	case CT_EXT:
		if ((t = cedar_vt_new(&v->sa, VT_EXT)) == NULL)
			return NULL;
		t->ext = ct->ext;
		break;
	case CT_SET:
		if ((t = cedar_vt_new(&v->sa, VT_SET)) == NULL)
			return NULL;
		t->elem = cedar_vt_from_schema(v, ct->elem, depth + 1);
		if (t->elem == NULL)
			return NULL;
		break;
	case CT_RECORD: {
		struct vt_attr *at;
		if ((t = cedar_vt_new(&v->sa, VT_RECORD)) == NULL)
			return NULL;
		at = arena_calloc(&v->sa, ct->n_attrs ? ct->n_attrs : 1,
		    sizeof(*at));
		if (at == NULL)
			return NULL;
		for (size_t i = 0; i < ct->n_attrs; i++) {
			at[i].name = ct->attrs[i].name;
			at[i].required = ct->attrs[i].required;
			at[i].type = cedar_vt_from_schema(v, ct->attrs[i].type,
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

bool
cedar_vt_eq(const struct vtype *a, const struct vtype *b)
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
	case VT_ERR:
		return true;
	case VT_SET:
		return cedar_vt_eq(a->elem, b->elem);
	case VT_RECORD:
		if (a->n_attrs != b->n_attrs)
			return false;
		for (size_t i = 0; i < a->n_attrs; i++)
			if (!str_eq(a->attrs[i].name, b->attrs[i].name) ||
			    a->attrs[i].required != b->attrs[i].required ||
			    !cedar_vt_eq(a->attrs[i].type, b->attrs[i].type))
				return false;
		return true;
	}
	return false;
}

/* Least upper bound in strict mode: Bool singletons widen to Bool, sets
 * and records (same attribute names, each required on both sides or
 * optional on both, as the reference implementation's strict mode asks)
 * go element-wise; everything else must be equal.  *out NULL when there
 * is none; MANDATE_ENOMEM on OOM. */
int
cedar_vt_lub(struct vctx *v, const struct vtype *a, const struct vtype *b,
    const struct vtype **out)
{
	struct vtype *t;
	int r;

	*out = NULL;
	if (a->kind == VT_ERR || b->kind == VT_ERR) {
		*out = &cedar_vt_err;
		return MANDATE_OK;
	}
	if (a->kind == VT_BOOL && b->kind == VT_BOOL) {
		*out = cedar_vt_bool_of(a->b == b->b ? a->b : VB_ANY);
		return MANDATE_OK;
	}
	if (a->kind == VT_SET && b->kind == VT_SET) {
		const struct vtype *e;
		if ((r = cedar_vt_lub(v, a->elem, b->elem, &e)) != MANDATE_OK ||
		    e == NULL)
			return r;
		if (e == a->elem) {
			*out = a;
			return MANDATE_OK;
		}
		if ((t = cedar_vt_new(&v->wa, VT_SET)) == NULL)
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
			if (!str_eq(a->attrs[i].name, b->attrs[i].name) ||
			    a->attrs[i].required != b->attrs[i].required)
				return MANDATE_OK;
			r = cedar_vt_lub(v, a->attrs[i].type, b->attrs[i].type,
			    &e);
			if (r != MANDATE_OK || e == NULL)
				return r;
			at[i].name = a->attrs[i].name;
			at[i].type = e;
			at[i].required = a->attrs[i].required;
		}
		if ((t = cedar_vt_new(&v->wa, VT_RECORD)) == NULL)
			return MANDATE_ENOMEM;
		t->attrs = at;
		t->n_attrs = a->n_attrs;
		*out = t;
		return MANDATE_OK;
	}
	if (cedar_vt_eq(a, b))
		*out = a;
	return MANDATE_OK;
}

const struct vt_attr *
cedar_vt_attr(const struct vtype *rec, struct str name)
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
/* Schema indexes */

int
cedar_vt_index_schema(struct vctx *v)
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

	/* each action's principal and resource types, resolved once */
	v->act_pdecl = arena_calloc(&v->sa, m ? m : 1, sizeof(*v->act_pdecl));
	v->act_rdecl = arena_calloc(&v->sa, m ? m : 1, sizeof(*v->act_rdecl));
	if (v->act_pdecl == NULL || v->act_rdecl == NULL)
		return MANDATE_ENOMEM;
	for (size_t i = 0; i < m; i++) {
		const struct cedar_action_decl *ad = &s->actions[i];
		size_t np = ad->n_principal_types, nr = ad->n_resource_types;
		v->act_pdecl[i] = arena_calloc(&v->sa, np ? np : 1,
		    sizeof(**v->act_pdecl));
		v->act_rdecl[i] = arena_calloc(&v->sa, nr ? nr : 1,
		    sizeof(**v->act_rdecl));
		if (v->act_pdecl[i] == NULL || v->act_rdecl[i] == NULL)
			return MANDATE_ENOMEM;
		for (size_t k = 0; k < np; k++)
			v->act_pdecl[i][k] = cedar_vt_etype(v,
			    ad->principal_types[k]);
		for (size_t k = 0; k < nr; k++)
			v->act_rdecl[i][k] = cedar_vt_etype(v,
			    ad->resource_types[k]);
	}

	/* transitive ancestors by depth-first search from each node */
	for (size_t i = 0; i < n; i++) {
		uint64_t *row = v->et_anc + i * v->et_words;
		size_t sp = 0;
		stack[sp++] = i;
		while (sp > 0) {
			const struct cedar_entity_type *et =
			    &s->entity_types[stack[--sp]];
			for (size_t k = 0; k < et->n_member_of; k++) {
				size_t j = cedar_vt_etype_ix(v,
				    et->member_of[k]);
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
				size_t j = cedar_vt_action_ix(v,
				    &ad->member_of[k]);
				if (j == SIZE_MAX || bit_get(row, j))
					continue;
				bit_set(row, j);
				stack[sp++] = j;
			}
		}
	}
	return MANDATE_OK;
}

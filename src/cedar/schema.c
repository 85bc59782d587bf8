/*
 * schema.c - from a raw schema (either syntax) to the resolved model.
 *
 * This is the part of schema handling that both forms share, following
 * the reference implementation (cedar-policy-core validator/schema.rs,
 * namespace_def.rs, raw_name.rs; RFCs 24 and 70):
 *   - declarations are checked for reserved and duplicate names;
 *   - a type name N written unqualified inside namespace NS means, in this
 *     order: common type NS::N, entity type NS::N, common type N, entity
 *     type N (both in the empty namespace), and last the builtin N (Bool,
 *     Long, String, ipaddr, decimal, datetime, duration) unless the empty
 *     namespace declares N itself; a qualified name means only itself, and
 *     `__cedar::N` always means the builtin;
 *   - the entity type of declared actions (NS::Action) may be named as an
 *     attribute type, though not as a parent or in appliesTo;
 *   - common types are inlined (a cycle is an error), shapes and contexts
 *     must be records; an attribute written twice keeps the last one;
 *   - action references resolve against declared actions, NS::Action
 *     before Action; the action hierarchy must be acyclic.
 * The model is sorted so that lookups are binary searches: entity types
 * by name, actions by uid, record attributes by name; member_of lists,
 * appliesTo lists and enum ids are sorted and free of duplicates.  This
 * was checked against cedar-wasm 4.13 (tests/tools/schema_diff.js).
 */
#include "schema_int.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define SCHEMA_ARENA_LIMIT ((size_t)512 << 20)
/* How many common-type definitions may be followed inside one another
 * (a chain of aliases); bounds the recursion of the resolver. */
#define SCHEMA_MAX_ALIAS_CHAIN 1000

/* ------------------------------------------------------------------ */
/* Reporting and raw arrays */

void
schema_error(struct schema_report *rep, int code, const struct raw_loc *loc,
    const char *fmt, ...)
{
	char msg[DIAG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	rep->n_errors++;
	if (code == MANDATE_ELIMIT)
		rep->limit_hit = true;
	if (loc != NULL && loc->where != NULL)
		diag_add(rep->dl, code, rep->file, NULL, 0, 0, 0, "%s (at %s)",
		    msg, loc->where);
	else
		diag_add(rep->dl, code, rep->file, rep->src, rep->src_len,
		    loc != NULL ? loc->off : 0, loc != NULL ? loc->len : 0,
		    "%s", msg);
}

static void *
grow(struct arena *a, void *arr, size_t n, size_t *cap, size_t size)
{
	size_t ncap;
	void *p;

	if (n < *cap)
		return arr;
	ncap = *cap != 0 ? *cap * 2 : 8;
	if (ncap > SIZE_MAX / size)
		return NULL;
	if ((p = arena_realloc(a, arr, *cap * size, ncap * size)) == NULL)
		return NULL;
	*cap = ncap;
	return p;
}

struct raw_ns *
raw_schema_add_ns(struct arena *a, struct raw_schema *rs)
{
	struct raw_ns *p = grow(a, rs->ns, rs->n_ns, &rs->cap_ns, sizeof(*p));

	if (p == NULL)
		return NULL;
	rs->ns = p;
	p = &rs->ns[rs->n_ns++];
	memset(p, 0, sizeof(*p));
	return p;
}

struct raw_entity *
raw_ns_add_entity(struct arena *a, struct raw_ns *ns)
{
	struct raw_entity *p = grow(a, ns->entities, ns->n_entities,
	    &ns->cap_entities, sizeof(*p));

	if (p == NULL)
		return NULL;
	ns->entities = p;
	p = &ns->entities[ns->n_entities++];
	memset(p, 0, sizeof(*p));
	return p;
}

struct raw_common *
raw_ns_add_common(struct arena *a, struct raw_ns *ns)
{
	struct raw_common *p = grow(a, ns->commons, ns->n_commons,
	    &ns->cap_commons, sizeof(*p));

	if (p == NULL)
		return NULL;
	ns->commons = p;
	p = &ns->commons[ns->n_commons++];
	memset(p, 0, sizeof(*p));
	return p;
}

struct raw_action *
raw_ns_add_action(struct arena *a, struct raw_ns *ns)
{
	struct raw_action *p = grow(a, ns->actions, ns->n_actions,
	    &ns->cap_actions, sizeof(*p));

	if (p == NULL)
		return NULL;
	ns->actions = p;
	p = &ns->actions[ns->n_actions++];
	memset(p, 0, sizeof(*p));
	return p;
}

/* ------------------------------------------------------------------ */
/* Names */

static const char *const reserved_words[] = {
	"true", "false", "if", "then", "else", "in", "is", "like", "has",
};

bool
schema_is_ident(struct str s)
{
	if (s.n == 0)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		char c = s.p[i];
		bool alpha = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_';
		if (!alpha && (i == 0 || c < '0' || c > '9'))
			return false;
	}
	for (size_t i = 0; i < sizeof(reserved_words) / sizeof(*reserved_words);
	    i++)
		if (str_eq_c(s, reserved_words[i]))
			return false;
	return true;
}

bool
schema_is_path(struct str s)
{
	size_t start = 0;

	if (s.n == 0)
		return false;
	for (size_t i = 0; i + 1 < s.n; i++) {
		if (s.p[i] == ':' && s.p[i + 1] == ':') {
			if (!schema_is_ident(str_make(s.p + start, i - start)))
				return false;
			start = i + 2;
			i++;
		}
	}
	return schema_is_ident(str_make(s.p + start, s.n - start));
}

static bool
has_sep(struct str s)
{
	for (size_t i = 0; i + 1 < s.n; i++)
		if (s.p[i] == ':' && s.p[i + 1] == ':')
			return true;
	return false;
}

/* Does any `::`-separated component of s equal "__cedar"? */
static bool
has_cedar_component(struct str s)
{
	size_t start = 0;

	if (s.n == 0)
		return false;
	for (size_t i = 0; i <= s.n; i++) {
		if (i == s.n || (i + 1 < s.n && s.p[i] == ':' &&
		    s.p[i + 1] == ':')) {
			if (str_eq_c(str_make(s.p + start, i - start), "__cedar"))
				return true;
			start = i + 2;
			i++;
		}
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* The builder */

enum cstate { CS_NEW = 0, CS_BUSY, CS_DONE, CS_FAILED };

struct cdef {
	struct str full;
	const struct raw_ns *ns;
	const struct raw_common *rc;
	int state;                   /* enum cstate */
	const struct cedar_type *t;  /* CS_DONE */
	int height;                  /* nesting levels of t */
};

struct edef {
	struct str full;             /* in the schema arena */
	const struct raw_ns *ns;
	const struct raw_entity *re;
};

struct adef {
	struct cedar_uid uid;        /* in the schema arena */
	const struct raw_ns *ns;
	const struct raw_action *ra;
};

struct builder {
	struct arena *tmp;
	struct arena *out;
	struct schema_report *rep;
	struct cdef *commons;
	size_t n_commons;
	struct edef *ents;
	size_t n_ents;
	struct adef *acts;
	size_t n_acts;
	bool oom;
	int alias_depth;
	const struct cedar_type *bt;    /* one per entry of builtins[] */
};

struct builtin {
	const char *name;
	uint8_t kind;
	uint8_t ext;
};

static const struct builtin builtins[] = {
	{ "Bool", CT_BOOL, 0 },
	{ "Long", CT_LONG, 0 },
	{ "String", CT_STRING, 0 },
	{ "ipaddr", CT_EXT, CEXT_IPADDR },
	{ "decimal", CT_EXT, CEXT_DECIMAL },
	{ "datetime", CT_EXT, CEXT_DATETIME },
	{ "duration", CT_EXT, CEXT_DURATION },
};

#define N_BUILTINS (sizeof(builtins) / sizeof(*builtins))

static const struct cedar_type *
builtin_type(struct builder *b, const struct builtin *bi)
{
	return &b->bt[bi - builtins];
}

static const struct builtin *
find_builtin(struct str name)
{
	for (size_t i = 0; i < sizeof(builtins) / sizeof(*builtins); i++)
		if (str_eq_c(name, builtins[i].name))
			return &builtins[i];
	return NULL;
}

static struct str
join(struct builder *b, struct arena *a, struct str ns, struct str base)
{
	char *p;
	size_t n;

	if (ns.n == 0)
		n = base.n;
	else
		n = ns.n + 2 + base.n;
	if (n < base.n || (p = arena_alloc(a, n + 1)) == NULL) {
		b->oom = true;
		return STR_NULL;
	}
	if (ns.n == 0) {
		if (base.n > 0)
			memcpy(p, base.p, base.n);
	} else {
		memcpy(p, ns.p, ns.n);
		memcpy(p + ns.n, "::", 2);
		if (base.n > 0)
			memcpy(p + ns.n + 2, base.p, base.n);
	}
	p[n] = '\0';
	return str_make(p, n);
}

static struct str
copy_str(struct builder *b, struct str s)
{
	struct str r = arena_strdup(b->out, s.p != NULL ? s.p : "", s.n);

	if (r.p == NULL)
		b->oom = true;
	return r;
}

static int
cmp_cdef(const void *x, const void *y)
{
	return str_cmp(((const struct cdef *)x)->full,
	    ((const struct cdef *)y)->full);
}

static int
cmp_edef(const void *x, const void *y)
{
	return str_cmp(((const struct edef *)x)->full,
	    ((const struct edef *)y)->full);
}

static int
cmp_adef(const void *x, const void *y)
{
	return cedar_uid_cmp(&((const struct adef *)x)->uid,
	    &((const struct adef *)y)->uid);
}

static int
cmp_str(const void *x, const void *y)
{
	return str_cmp(*(const struct str *)x, *(const struct str *)y);
}

static int
cmp_uid(const void *x, const void *y)
{
	return cedar_uid_cmp((const struct cedar_uid *)x,
	    (const struct cedar_uid *)y);
}

static struct cdef *
find_common(struct builder *b, struct str full)
{
	size_t lo = 0, hi = b->n_commons;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = str_cmp(full, b->commons[mid].full);
		if (r == 0)
			return &b->commons[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static const struct edef *
find_entity(const struct builder *b, struct str full)
{
	size_t lo = 0, hi = b->n_ents;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = str_cmp(full, b->ents[mid].full);
		if (r == 0)
			return &b->ents[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static ptrdiff_t
find_action(const struct builder *b, const struct cedar_uid *uid)
{
	size_t lo = 0, hi = b->n_acts;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = cedar_uid_cmp(uid, &b->acts[mid].uid);
		if (r == 0)
			return (ptrdiff_t)mid;
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return -1;
}

/* ------------------------------------------------------------------ */
/* Name resolution */

enum rkind { R_NONE = 0, R_COMMON, R_ENTITY, R_BUILTIN, R_ACTION_TYPE };

struct resolved {
	int kind;                    /* enum rkind */
	struct cdef *c;
	const struct edef *e;
	const struct builtin *bi;
	struct str action_type;      /* R_ACTION_TYPE, in the schema arena */
};

/* Is `type` the entity type of some declared action?  Such a type may
 * be named where a type is expected (an attribute of type NS::Action),
 * though not as a parent or in appliesTo. */
static const struct adef *
find_action_type(const struct builder *b, struct str type)
{
	size_t lo = 0, hi = b->n_acts;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = str_cmp(type, b->acts[mid].uid.type);
		if (r == 0)
			return &b->acts[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

static struct resolved
resolve(struct builder *b, struct str ns, struct str name, bool want_common,
    bool want_entity)
{
	struct resolved r = { R_NONE, NULL, NULL, NULL, STR_NULL };
	const struct adef *ad;
	struct str cands[2];
	size_t n = 0;

	if (!has_sep(name) && ns.n > 0) {
		cands[n] = join(b, b->tmp, ns, name);
		if (b->oom)
			return r;
		n++;
	}
	cands[n++] = name;
	for (size_t i = 0; i < n; i++) {
		struct str c = cands[i];
		if (want_common) {
			if ((r.c = find_common(b, c)) != NULL) {
				r.kind = R_COMMON;
				return r;
			}
			/* `__cedar::X` always names the builtin; a bare X in
			 * the empty namespace does unless declared there */
			if (c.n > 9 && memcmp(c.p, "__cedar::", 9) == 0) {
				r.bi = find_builtin(str_make(c.p + 9, c.n - 9));
			} else if (!has_sep(c) && find_entity(b, c) == NULL) {
				r.bi = find_builtin(c);
			}
			if (r.bi != NULL) {
				r.kind = R_BUILTIN;
				return r;
			}
		}
		if (want_entity && (r.e = find_entity(b, c)) != NULL) {
			r.kind = R_ENTITY;
			return r;
		}
		if (want_entity && (ad = find_action_type(b, c)) != NULL) {
			r.kind = R_ACTION_TYPE;
			r.action_type = ad->uid.type;
			return r;
		}
	}
	return r;
}

/* ------------------------------------------------------------------ */
/* Types */

static const struct cedar_type *conv_type(struct builder *b, struct str ns,
    const struct raw_type *rt, int depth, int *height);

static void
limit_error(struct builder *b, const struct raw_loc *loc)
{
	schema_error(b->rep, MANDATE_ELIMIT, loc,
	    "type nesting exceeds the limit of %d levels", CEDAR_MAX_NESTING);
}

static const struct cedar_type *
common_type(struct builder *b, struct cdef *c, const struct raw_loc *use,
    int depth, int *height)
{
	const struct cedar_type *t;
	int h = 0;

	switch (c->state) {
	case CS_DONE:
		if (depth + c->height > CEDAR_MAX_NESTING) {
			limit_error(b, use);
			return NULL;
		}
		*height = c->height;
		return c->t;
	case CS_FAILED:
		return NULL;
	case CS_BUSY:
		schema_error(b->rep, MANDATE_EPARSE, &c->rc->loc,
		    "common type `%.*s` is defined in terms of itself (a cycle)",
		    (int)c->full.n, c->full.p);
		return NULL;
	default:
		break;
	}
	if (b->alias_depth >= SCHEMA_MAX_ALIAS_CHAIN) {
		schema_error(b->rep, MANDATE_ELIMIT, use,
		    "common type definitions nest more than %d deep",
		    SCHEMA_MAX_ALIAS_CHAIN);
		return NULL;
	}
	c->state = CS_BUSY;
	b->alias_depth++;
	/* converted at the depth of its first use, so that recursion stays
	 * within CEDAR_MAX_NESTING type levels plus the alias chain; the
	 * height it reports does not depend on that depth */
	t = conv_type(b, c->ns->name, c->rc->type, depth, &h);
	b->alias_depth--;
	if (t == NULL) {
		c->state = CS_FAILED;
		return NULL;
	}
	c->state = CS_DONE;
	c->t = t;
	c->height = h;
	if (depth + h > CEDAR_MAX_NESTING) {
		limit_error(b, use);
		return NULL;
	}
	*height = h;
	return t;
}

static const struct cedar_type *
conv_named(struct builder *b, struct str ns, const struct raw_type *rt,
    int depth, int *height)
{
	bool want_common = rt->kind != RT_ENTITY;
	bool want_entity = rt->kind != RT_COMMON;
	struct resolved r = resolve(b, ns, rt->name, want_common, want_entity);
	struct cedar_type *t;

	switch (r.kind) {
	case R_COMMON:
		return common_type(b, r.c, &rt->loc, depth, height);
	case R_BUILTIN:
		*height = 1;
		return builtin_type(b, r.bi);
	case R_ENTITY:
	case R_ACTION_TYPE:
		if ((t = arena_zalloc(b->out, sizeof(*t))) == NULL) {
			b->oom = true;
			return NULL;
		}
		t->kind = CT_ENTITY;
		t->name = r.kind == R_ENTITY ? r.e->full : r.action_type;
		*height = 1;
		return t;
	default:
		if (b->oom)
			return NULL;
		schema_error(b->rep, MANDATE_EPARSE, &rt->loc,
		    "undeclared %s `%.*s`",
		    rt->kind == RT_ENTITY ? "entity type" :
		    rt->kind == RT_COMMON ? "common type" :
		    "common or entity type", (int)rt->name.n, rt->name.p);
		return NULL;
	}
}

struct attr_ix {
	struct str name;
	size_t ix;
};

static int
cmp_attr_ix(const void *x, const void *y)
{
	const struct attr_ix *a = x, *b = y;
	int r = str_cmp(a->name, b->name);

	if (r != 0)
		return r;
	return a->ix < b->ix ? -1 : a->ix > b->ix;
}

/* A record type.  An attribute written twice in the text syntax keeps its
 * last declaration, as the reference's map does (the JSON form cannot
 * repeat a key: duplicates are rejected when the JSON is read). */
static const struct cedar_type *
conv_record(struct builder *b, struct str ns, const struct raw_type *rt,
    int depth, int *height)
{
	struct cedar_type *t;
	struct cedar_attr_type *attrs = NULL;
	struct attr_ix *ix = NULL;
	size_t n = 0;
	bool ok = true;
	int maxh = 0;

	if ((t = arena_zalloc(b->out, sizeof(*t))) == NULL ||
	    (rt->n_attrs > 0 && ((attrs = arena_calloc(b->out, rt->n_attrs,
	    sizeof(*attrs))) == NULL || (ix = arena_calloc(b->tmp,
	    rt->n_attrs, sizeof(*ix))) == NULL))) {
		b->oom = true;
		return NULL;
	}
	for (size_t i = 0; i < rt->n_attrs; i++) {
		ix[i].name = rt->attrs[i].name;
		ix[i].ix = i;
	}
	if (rt->n_attrs > 1)
		qsort(ix, rt->n_attrs, sizeof(*ix), cmp_attr_ix);
	/* XXX additionalAttributes: true (open records) is accepted but not
	 * represented in the model; strict validation treats them as closed. */
	for (size_t i = 0; i < rt->n_attrs; i++) {
		const struct raw_attr *ra;
		int h = 0;

		if (i + 1 < rt->n_attrs && str_eq(ix[i].name, ix[i + 1].name))
			continue;   /* a later declaration wins */
		ra = &rt->attrs[ix[i].ix];
		attrs[n].name = copy_str(b, ra->name);
		attrs[n].required = ra->required;
		attrs[n].type = conv_type(b, ns, ra->type, depth + 1, &h);
		if (attrs[n].type == NULL)
			ok = false;
		if (h > maxh)
			maxh = h;
		if (b->oom)
			return NULL;
		n++;
	}
	if (!ok)
		return NULL;
	t->kind = CT_RECORD;
	t->attrs = attrs;
	t->n_attrs = n;
	*height = maxh + 1;
	return t;
}

static const struct cedar_type *
conv_type(struct builder *b, struct str ns, const struct raw_type *rt,
    int depth, int *height)
{
	const struct builtin *bi;
	const struct cedar_type *e;
	struct cedar_type *t;
	int h = 0;

	if (depth + 1 > CEDAR_MAX_NESTING) {
		limit_error(b, &rt->loc);
		return NULL;
	}
	*height = 1;
	switch (rt->kind) {
	case RT_BOOL:
		return &b->bt[0];
	case RT_LONG:
		return &b->bt[1];
	case RT_STRING:
		return &b->bt[2];
	case RT_EXT:
		bi = find_builtin(rt->name);
		if (bi == NULL || bi->kind != CT_EXT) {
			schema_error(b->rep, MANDATE_EPARSE, &rt->loc,
			    "unknown extension type `%.*s`", (int)rt->name.n,
			    rt->name.p);
			return NULL;
		}
		return builtin_type(b, bi);
	case RT_SET:
		if ((e = conv_type(b, ns, rt->elem, depth + 1, &h)) == NULL)
			return NULL;
		if ((t = arena_zalloc(b->out, sizeof(*t))) == NULL) {
			b->oom = true;
			return NULL;
		}
		t->kind = CT_SET;
		t->elem = e;
		*height = h + 1;
		return t;
	case RT_RECORD:
		return conv_record(b, ns, rt, depth, height);
	default:
		return conv_named(b, ns, rt, depth, height);
	}
}

/* A shape or context: a record, or empty when not given. */
static const struct cedar_type *
conv_record_or_empty(struct builder *b, struct str ns,
    const struct raw_type *rt, const char *what, struct str name)
{
	static const struct cedar_type empty = { .kind = CT_RECORD };
	const struct cedar_type *t;
	int h = 0;

	if (rt == NULL)
		return &empty;
	if ((t = conv_type(b, ns, rt, 0, &h)) == NULL)
		return NULL;
	if (t->kind != CT_RECORD) {
		schema_error(b->rep, MANDATE_EPARSE, &rt->loc,
		    "the %s of `%.*s` must be a record type", what,
		    (int)name.n, name.p);
		return NULL;
	}
	return t;
}

/* ------------------------------------------------------------------ */
/* Declarations */

static bool
check_decl_names(struct builder *b, const struct raw_schema *rs)
{
	static const char *const common_reserved[] = {
		"Bool", "Boolean", "Entity", "Extension", "Long", "Record",
		"Set", "String",
	};
	bool ok = true;

	for (size_t i = 0; i < rs->n_ns; i++) {
		const struct raw_ns *ns = &rs->ns[i];

		if (ns->name.n > 0 && !schema_is_path(ns->name)) {
			schema_error(b->rep, MANDATE_EPARSE, &ns->loc,
			    "invalid namespace name `%.*s`", (int)ns->name.n,
			    ns->name.p);
			ok = false;
		} else if (has_cedar_component(ns->name)) {
			schema_error(b->rep, MANDATE_EPARSE, &ns->loc,
			    "`%.*s` is reserved: namespaces may not use "
			    "`__cedar`", (int)ns->name.n, ns->name.p);
			ok = false;
		}
		for (size_t j = 0; j < ns->n_entities; j++) {
			const struct raw_entity *e = &ns->entities[j];
			if (!schema_is_ident(e->name) ||
			    str_eq_c(e->name, "__cedar")) {
				schema_error(b->rep, MANDATE_EPARSE, &e->loc,
				    "invalid or reserved entity type name `%.*s`",
				    (int)e->name.n, e->name.p);
				ok = false;
			} else if (str_eq_c(e->name, "Action")) {
				schema_error(b->rep, MANDATE_EPARSE, &e->loc,
				    "an entity type may not be named `Action`: "
				    "the name is reserved for actions");
				ok = false;
			}
		}
		for (size_t j = 0; j < ns->n_commons; j++) {
			const struct raw_common *c = &ns->commons[j];
			bool bad = !schema_is_ident(c->name) ||
			    str_eq_c(c->name, "__cedar");
			for (size_t k = 0; !bad && k < sizeof(common_reserved) /
			    sizeof(*common_reserved); k++)
				bad = str_eq_c(c->name, common_reserved[k]);
			if (bad) {
				schema_error(b->rep, MANDATE_EPARSE, &c->loc,
				    "invalid or reserved common type name `%.*s`",
				    (int)c->name.n, c->name.p);
				ok = false;
			}
		}
	}
	return ok;
}

static int
cmp_ns_ptr(const void *x, const void *y)
{
	const struct raw_ns *a = *(const struct raw_ns *const *)x;
	const struct raw_ns *b = *(const struct raw_ns *const *)y;
	int r = str_cmp(a->name, b->name);

	if (r != 0)
		return r;
	return a->loc.off < b->loc.off ? -1 : a->loc.off > b->loc.off;
}

/* A namespace may be opened once per schema. */
static bool
check_namespaces(struct builder *b, const struct raw_schema *rs)
{
	const struct raw_ns **v;
	bool ok = true;

	if (rs->n_ns < 2)
		return true;
	if ((v = arena_calloc(b->tmp, rs->n_ns, sizeof(*v))) == NULL) {
		b->oom = true;
		return false;
	}
	for (size_t i = 0; i < rs->n_ns; i++)
		v[i] = &rs->ns[i];
	qsort(v, rs->n_ns, sizeof(*v), cmp_ns_ptr);
	for (size_t i = 1; i < rs->n_ns; i++)
		if (str_eq(v[i]->name, v[i - 1]->name)) {
			schema_error(b->rep, MANDATE_EPARSE, &v[i]->loc,
			    "namespace `%.*s` is declared twice",
			    (int)v[i]->name.n, v[i]->name.p);
			ok = false;
		}
	return ok;
}

static bool
collect_defs(struct builder *b, const struct raw_schema *rs)
{
	size_t ne = 0, nc = 0, na = 0;
	bool ok = true;

	for (size_t i = 0; i < rs->n_ns; i++) {
		ne += rs->ns[i].n_entities;
		nc += rs->ns[i].n_commons;
		na += rs->ns[i].n_actions;
	}
	if ((ne > 0 && (b->ents = arena_calloc(b->tmp, ne,
	    sizeof(*b->ents))) == NULL) ||
	    (nc > 0 && (b->commons = arena_calloc(b->tmp, nc,
	    sizeof(*b->commons))) == NULL) ||
	    (na > 0 && (b->acts = arena_calloc(b->tmp, na,
	    sizeof(*b->acts))) == NULL)) {
		b->oom = true;
		return false;
	}
	for (size_t i = 0; i < rs->n_ns; i++) {
		const struct raw_ns *ns = &rs->ns[i];
		struct str atype = join(b, b->out, ns->name, STR_LIT("Action"));

		for (size_t j = 0; j < ns->n_entities; j++) {
			struct edef *d = &b->ents[b->n_ents++];
			d->full = join(b, b->out, ns->name, ns->entities[j].name);
			d->ns = ns;
			d->re = &ns->entities[j];
		}
		for (size_t j = 0; j < ns->n_commons; j++) {
			struct cdef *d = &b->commons[b->n_commons++];
			d->full = join(b, b->tmp, ns->name, ns->commons[j].name);
			d->ns = ns;
			d->rc = &ns->commons[j];
		}
		for (size_t j = 0; j < ns->n_actions; j++) {
			struct adef *d = &b->acts[b->n_acts++];
			d->uid.type = atype;
			d->uid.id = copy_str(b, ns->actions[j].id);
			d->ns = ns;
			d->ra = &ns->actions[j];
		}
		if (b->oom)
			return false;
	}
	/* duplicates: within a namespace (the same full name), and the same
	 * namespace opened twice in one text schema */
	if (b->n_ents > 1) {
		qsort(b->ents, b->n_ents, sizeof(*b->ents), cmp_edef);
		for (size_t i = 1; i < b->n_ents; i++)
			if (str_eq(b->ents[i - 1].full, b->ents[i].full)) {
				schema_error(b->rep, MANDATE_EPARSE,
				    &b->ents[i].re->loc,
				    "entity type `%.*s` is declared twice",
				    (int)b->ents[i].full.n, b->ents[i].full.p);
				ok = false;
			}
	}
	if (b->n_commons > 1) {
		qsort(b->commons, b->n_commons, sizeof(*b->commons), cmp_cdef);
		for (size_t i = 1; i < b->n_commons; i++)
			if (str_eq(b->commons[i - 1].full, b->commons[i].full)) {
				schema_error(b->rep, MANDATE_EPARSE,
				    &b->commons[i].rc->loc,
				    "common type `%.*s` is declared twice",
				    (int)b->commons[i].full.n,
				    b->commons[i].full.p);
				ok = false;
			}
	}
	if (b->n_acts > 1) {
		qsort(b->acts, b->n_acts, sizeof(*b->acts), cmp_adef);
		for (size_t i = 1; i < b->n_acts; i++)
			if (cedar_uid_eq(&b->acts[i - 1].uid, &b->acts[i].uid)) {
				schema_error(b->rep, MANDATE_EPARSE,
				    &b->acts[i].ra->loc,
				    "action `%.*s::\"%.*s\"` is declared twice",
				    (int)b->acts[i].uid.type.n,
				    b->acts[i].uid.type.p,
				    (int)b->acts[i].uid.id.n, b->acts[i].uid.id.p);
				ok = false;
			}
	}
	return ok;
}

/* RFC 70: a declaration in a named namespace may not shadow one in the
 * empty namespace (entity and common types share one space of basenames;
 * actions compare ids). */
static bool
check_shadowing(struct builder *b, const struct raw_schema *rs)
{
	const struct raw_ns *empty = NULL;
	bool ok = true;

	for (size_t i = 0; i < rs->n_ns; i++)
		if (rs->ns[i].name.n == 0)
			empty = &rs->ns[i];
	if (empty == NULL)
		return true;
	for (size_t i = 0; i < rs->n_ns; i++) {
		const struct raw_ns *ns = &rs->ns[i];
		if (ns == empty)
			continue;
		for (size_t k = 0; k < ns->n_entities + ns->n_commons; k++) {
			struct str name = k < ns->n_entities ?
			    ns->entities[k].name :
			    ns->commons[k - ns->n_entities].name;
			const struct raw_loc *loc = k < ns->n_entities ?
			    &ns->entities[k].loc :
			    &ns->commons[k - ns->n_entities].loc;
			if (find_entity(b, name) != NULL ||
			    find_common(b, name) != NULL) {
				schema_error(b->rep, MANDATE_EPARSE, loc,
				    "`%.*s::%.*s` shadows `%.*s` declared in the "
				    "empty namespace", (int)ns->name.n,
				    ns->name.p, (int)name.n, name.p,
				    (int)name.n, name.p);
				ok = false;
			}
		}
		for (size_t k = 0; k < ns->n_actions; k++) {
			struct cedar_uid u = { STR_LIT("Action"),
			    ns->actions[k].id };
			if (find_action(b, &u) >= 0) {
				schema_error(b->rep, MANDATE_EPARSE,
				    &ns->actions[k].loc,
				    "action `%.*s::Action::\"%.*s\"` shadows "
				    "`Action::\"%.*s\"` declared in the empty "
				    "namespace", (int)ns->name.n, ns->name.p,
				    (int)u.id.n, u.id.p, (int)u.id.n, u.id.p);
				ok = false;
			}
		}
	}
	return ok;
}

/* Resolve a list of entity type names, sorted and deduplicated. */
static bool
conv_entity_list(struct builder *b, struct str ns, const struct raw_name *names,
    size_t n, const struct str **out, size_t *out_n)
{
	struct str *v = NULL;
	size_t k = 0;
	bool ok = true;

	*out = NULL;
	*out_n = 0;
	if (n == 0)
		return true;
	if ((v = arena_calloc(b->out, n, sizeof(*v))) == NULL) {
		b->oom = true;
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		struct resolved r = resolve(b, ns, names[i].name, false, true);
		if (r.kind != R_ENTITY) {
			if (b->oom)
				return false;
			schema_error(b->rep, MANDATE_EPARSE, &names[i].loc,
			    "undeclared entity type `%.*s`",
			    (int)names[i].name.n, names[i].name.p);
			ok = false;
			continue;
		}
		v[k++] = r.e->full;
	}
	if (k > 1) {
		size_t u = 1;
		qsort(v, k, sizeof(*v), cmp_str);
		for (size_t i = 1; i < k; i++)
			if (!str_eq(v[i], v[u - 1]))
				v[u++] = v[i];
		k = u;
	}
	*out = v;
	*out_n = k;
	return ok;
}

static bool
build_entity(struct builder *b, const struct edef *d,
    struct cedar_entity_type *et)
{
	const struct raw_entity *re = d->re;
	struct str ns = d->ns->name;
	bool ok = true;

	et->name = d->full;
	if (!conv_entity_list(b, ns, re->member_of, re->n_member_of,
	    &et->member_of, &et->n_member_of))
		ok = false;
	if ((et->shape = conv_record_or_empty(b, ns, re->shape, "shape",
	    d->full)) == NULL)
		ok = false;
	if (re->tags != NULL) {
		int h = 0;
		if ((et->tags = conv_type(b, ns, re->tags, 0, &h)) == NULL)
			ok = false;
	}
	if (re->is_enum) {
		struct str *ids;
		size_t u = 0;

		if ((ids = arena_calloc(b->out, re->n_enum_ids,
		    sizeof(*ids))) == NULL) {
			b->oom = true;
			return false;
		}
		for (size_t i = 0; i < re->n_enum_ids; i++)
			ids[i] = copy_str(b, re->enum_ids[i]);
		if (re->n_enum_ids > 1) {
			qsort(ids, re->n_enum_ids, sizeof(*ids), cmp_str);
			u = 1;
			for (size_t i = 1; i < re->n_enum_ids; i++)
				if (!str_eq(ids[i], ids[u - 1]))
					ids[u++] = ids[i];
		} else {
			u = re->n_enum_ids;
		}
		et->enum_ids = ids;
		et->n_enum_ids = u;
	}
	return ok && !b->oom;
}

static bool
build_action(struct builder *b, const struct adef *d,
    struct cedar_action_decl *ad)
{
	const struct raw_action *ra = d->ra;
	struct str ns = d->ns->name;
	struct cedar_uid *parents = NULL;
	size_t k = 0;
	bool ok = true;

	ad->uid = d->uid;
	if (ra->n_member_of > 0 && (parents = arena_calloc(b->out,
	    ra->n_member_of, sizeof(*parents))) == NULL) {
		b->oom = true;
		return false;
	}
	for (size_t i = 0; i < ra->n_member_of; i++) {
		const struct raw_action_ref *ref = &ra->member_of[i];
		struct str type = ref->type.n > 0 ? ref->type : STR_LIT("Action");
		struct str cands[2];
		size_t nc = 0;
		ptrdiff_t found = -1;

		if (!has_sep(type) && ns.n > 0)
			cands[nc++] = join(b, b->tmp, ns, type);
		cands[nc++] = type;
		if (b->oom)
			return false;
		for (size_t c = 0; c < nc && found < 0; c++) {
			struct cedar_uid u = { cands[c], ref->id };
			found = find_action(b, &u);
		}
		if (found < 0) {
			schema_error(b->rep, MANDATE_EPARSE, &ref->loc,
			    "undeclared action `%.*s::\"%.*s\"`", (int)type.n,
			    type.p, (int)ref->id.n, ref->id.p);
			ok = false;
			continue;
		}
		parents[k++] = b->acts[found].uid;
	}
	if (k > 1) {
		size_t u = 1;
		qsort(parents, k, sizeof(*parents), cmp_uid);
		for (size_t i = 1; i < k; i++)
			if (!cedar_uid_eq(&parents[i], &parents[u - 1]))
				parents[u++] = parents[i];
		k = u;
	}
	ad->member_of = parents;
	ad->n_member_of = k;
	ad->has_applies_to = ra->has_applies_to;
	if (!conv_entity_list(b, ns, ra->principals, ra->n_principals,
	    &ad->principal_types, &ad->n_principal_types))
		ok = false;
	if (!conv_entity_list(b, ns, ra->resources, ra->n_resources,
	    &ad->resource_types, &ad->n_resource_types))
		ok = false;
	if ((ad->context = conv_record_or_empty(b, ns, ra->context, "context",
	    ra->id)) == NULL)
		ok = false;
	return ok && !b->oom;
}

/* Kahn's algorithm over member_of edges; whatever is left is on a cycle
 * or above one. */
static bool
check_action_cycles(struct builder *b, const struct cedar_schema *s)
{
	size_t n = s->n_actions, *indeg, *queue, head = 0, tail = 0, done = 0;

	if (n == 0)
		return true;
	if ((indeg = arena_calloc(b->tmp, n, sizeof(*indeg))) == NULL ||
	    (queue = arena_calloc(b->tmp, n, sizeof(*queue))) == NULL) {
		b->oom = true;
		return false;
	}
	for (size_t i = 0; i < n; i++)
		for (size_t j = 0; j < s->actions[i].n_member_of; j++) {
			ptrdiff_t p = find_action(b, &s->actions[i].member_of[j]);
			if (p >= 0)
				indeg[p]++;
		}
	for (size_t i = 0; i < n; i++)
		if (indeg[i] == 0)
			queue[tail++] = i;
	while (head < tail) {
		size_t i = queue[head++];
		done++;
		for (size_t j = 0; j < s->actions[i].n_member_of; j++) {
			ptrdiff_t p = find_action(b, &s->actions[i].member_of[j]);
			if (p >= 0 && --indeg[p] == 0)
				queue[tail++] = (size_t)p;
		}
	}
	if (done == n)
		return true;
	for (size_t i = 0; i < n; i++) {
		if (indeg[i] != 0) {
			const struct cedar_uid *u = &s->actions[i].uid;
			schema_error(b->rep, MANDATE_EPARSE, &b->acts[i].ra->loc,
			    "the action hierarchy has a cycle through "
			    "`%.*s::\"%.*s\"`", (int)u->type.n, u->type.p,
			    (int)u->id.n, u->id.p);
			break;
		}
	}
	return false;
}

int
schema_finish(const struct raw_schema *rs, struct schema_report *rep,
    bool oom, struct cedar_schema **out)
{
	if (oom) {
		schema_error(rep, MANDATE_ENOMEM, NULL,
		    "out of memory parsing the schema");
		return MANDATE_ENOMEM;
	}
	if (rep->n_errors > 0)
		return rep->limit_hit ? MANDATE_ELIMIT : MANDATE_EPARSE;
	return schema_build(rs, rep, out);
}

int
schema_build(const struct raw_schema *rs, struct schema_report *rep,
    struct cedar_schema **out)
{
	struct builder b;
	struct arena tmp;
	struct cedar_schema *s = NULL;
	int r = MANDATE_EINTERNAL, first_errors = rep->n_errors;
	bool ok = true;

	*out = NULL;
	memset(&b, 0, sizeof(b));
	arena_init(&tmp, SCHEMA_ARENA_LIMIT);
	if ((s = calloc(1, sizeof(*s))) == NULL) {
		r = MANDATE_ENOMEM;
		goto out;
	}
	arena_init(&s->arena, SCHEMA_ARENA_LIMIT);
	if (rep->fault != NULL) {
		tmp.fail_after = rep->fault->build_tmp;
		s->arena.fail_after = rep->fault->build_out;
	}
	b.tmp = &tmp;
	b.out = &s->arena;
	b.rep = rep;
	{
		/* one shared node per builtin type, owned by the schema */
		struct cedar_type *bt = arena_calloc(&s->arena, N_BUILTINS,
		    sizeof(*bt));
		if (bt == NULL) {
			r = MANDATE_ENOMEM;
			goto out;
		}
		for (size_t i = 0; i < N_BUILTINS; i++) {
			bt[i].kind = builtins[i].kind;
			bt[i].ext = builtins[i].ext;
		}
		b.bt = bt;
	}
	if (!check_decl_names(&b, rs))
		ok = false;
	if (!check_namespaces(&b, rs))
		ok = false;
	if (!collect_defs(&b, rs))
		ok = false;
	if (b.oom)
		goto oom;
	if (ok && !check_shadowing(&b, rs))
		ok = false;
	if (!ok)
		goto fail;

	/* every common type, used or not, must be well formed */
	for (size_t i = 0; i < b.n_commons; i++) {
		int h = 0;
		if (b.commons[i].state == CS_NEW)
			(void)common_type(&b, &b.commons[i], &b.commons[i].rc->loc,
			    0, &h);
		if (b.oom)
			goto oom;
	}

	if (b.n_ents > 0 && (s->entity_types = arena_calloc(&s->arena,
	    b.n_ents, sizeof(*s->entity_types))) == NULL)
		goto oom;
	for (size_t i = 0; i < b.n_ents; i++) {
		if (!build_entity(&b, &b.ents[i], &s->entity_types[i]))
			ok = false;
		if (b.oom)
			goto oom;
	}
	s->n_entity_types = b.n_ents;

	if (b.n_acts > 0 && (s->actions = arena_calloc(&s->arena, b.n_acts,
	    sizeof(*s->actions))) == NULL)
		goto oom;
	for (size_t i = 0; i < b.n_acts; i++) {
		if (!build_action(&b, &b.acts[i], &s->actions[i]))
			ok = false;
		if (b.oom)
			goto oom;
	}
	s->n_actions = b.n_acts;
	if (ok && !check_action_cycles(&b, s))
		ok = false;
	if (b.oom)
		goto oom;
	if (!ok || rep->n_errors > first_errors)
		goto fail;

	*out = s;
	s = NULL;
	r = MANDATE_OK;
	goto out;
oom:
	r = MANDATE_ENOMEM;
	schema_error(rep, MANDATE_ENOMEM, NULL, "out of memory building the "
	    "schema");
	goto out;
fail:
	r = rep->limit_hit ? MANDATE_ELIMIT : MANDATE_EPARSE;
out:
	cedar_schema_free(s);
	arena_free(&tmp);
	return r;
}

/* ------------------------------------------------------------------ */
/* Public: free and lookups */

void
cedar_schema_free(struct cedar_schema *s)
{
	if (s == NULL)
		return;
	arena_free(&s->arena);
	free(s);
}

const struct cedar_entity_type *
cedar_schema_entity_type(const struct cedar_schema *s, struct str name)
{
	size_t lo = 0, hi;

	if (s == NULL)
		return NULL;
	hi = s->n_entity_types;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = str_cmp(name, s->entity_types[mid].name);
		if (r == 0)
			return &s->entity_types[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

int
cedar_schema_each_action(const struct cedar_schema *s, const char *type,
    size_t type_len, cedar_entity_fn fn, void *arg)
{
	struct str t = str_make(type, type_len);

	if (s == NULL)
		return MANDATE_OK;
	for (size_t i = 0; i < s->n_actions; i++) {
		const struct cedar_uid *u = &s->actions[i].uid;
		int r;

		if (!str_eq(u->type, t))
			continue;
		if ((r = fn(arg, u->id.p, u->id.n)) != MANDATE_OK)
			return r;
	}
	return MANDATE_OK;
}

bool
cedar_schema_has_action(const struct cedar_schema *s, const char *type,
    size_t type_len, const char *id, size_t id_len)
{
	struct cedar_uid u;

	memset(&u, 0, sizeof(u));
	u.type = str_make(type, type_len);
	u.id = str_make(id, id_len);
	return cedar_schema_action(s, &u) != NULL;
}

const struct cedar_action_decl *
cedar_schema_action(const struct cedar_schema *s, const struct cedar_uid *uid)
{
	size_t lo = 0, hi;

	if (s == NULL || uid == NULL)
		return NULL;
	hi = s->n_actions;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = cedar_uid_cmp(uid, &s->actions[mid].uid);
		if (r == 0)
			return &s->actions[mid];
		if (r < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NULL;
}

/*
 * schema_json.c - the JSON schema form.
 *
 *   { "NS": { "commonTypes": {..}?, "entityTypes": {..}, "actions": {..},
 *             "annotations": {..}? }, ... }
 *
 * is read with jansson (duplicate keys rejected, as the reference does)
 * into the raw schema of schema_int.h; schema.c resolves and checks it
 * exactly as it does the text form.  Unknown fields are errors (the
 * reference deserializes with deny_unknown_fields).  jansson keeps no
 * positions for values, so diagnostics after a successful JSON parse name
 * the JSON path of the offending value instead of a byte offset; a JSON
 * syntax error carries jansson's byte offset.
 */
#include "schema_int.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include <jansson.h>

#define SCHEMA_JSON_ARENA_LIMIT ((size_t)512 << 20)
#define WHERE_MAX 160   /* longest JSON path kept in a diagnostic */

struct jparser {
	struct arena *a;
	struct raw_schema *rs;
	struct schema_report *rep;
	bool remap_nul;      /* U+FFFF in strings stands for NUL, see below */
	bool oom;
};

/* Fields a type object may carry besides its own. */
enum {
	TF_ATTR = 1,         /* "required", "annotations" (record attribute) */
	TF_ANNOT = 2,        /* "annotations" (common type definition) */
};

static void
jerr(struct jparser *p, const char *where, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
jerr(struct jparser *p, const char *where, const char *fmt, ...)
{
	char msg[DIAG_MSG_MAX];
	struct raw_loc loc = { 0, 0, where != NULL && where[0] ? where : "/" };
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	schema_error(p->rep, MANDATE_EPARSE, &loc, "%s", msg);
}

/* where + "/" + key, keeping at most WHERE_MAX bytes (the tail). */
static const char *
sub(struct jparser *p, const char *where, const char *key, size_t keylen)
{
	char buf[WHERE_MAX * 2 + 8];
	size_t wl = strlen(where), kl = keylen > WHERE_MAX ? WHERE_MAX : keylen;
	size_t n = 0;
	struct str r;

	if (wl > WHERE_MAX)
		wl = WHERE_MAX;
	memcpy(buf, where, wl);
	n = wl;
	buf[n++] = '/';
	memcpy(buf + n, key, kl);
	n += kl;
	if (n > WHERE_MAX) {
		memmove(buf + 3, buf + n - (WHERE_MAX - 3), WHERE_MAX - 3);
		memcpy(buf, "...", 3);
		n = WHERE_MAX;
	}
	r = arena_strdup(p->a, buf, n);
	if (r.p == NULL) {
		p->oom = true;
		return where;
	}
	return r.p;
}

static const char *
sub_index(struct jparser *p, const char *where, size_t i)
{
	char k[32];
	int n = snprintf(k, sizeof(k), "%zu", i);

	return sub(p, where, k, (size_t)(n > 0 ? n : 0));
}

static struct raw_loc
at(const char *where)
{
	struct raw_loc l = { 0, 0, where };
	return l;
}

/*
 * jansson cannot hold NUL in object keys, and Cedar names (action ids,
 * attribute names) may contain it.  When the text has \u0000 escapes and
 * no U+FFFF anywhere, the escapes are rewritten to \uFFFF before parsing
 * (same length, so offsets hold) and U+FFFF is turned back into NUL in
 * every string copied out.
 */
static bool
escape_at(const char *s, size_t i)
{
	size_t k = 0;

	while (k < i && s[i - 1 - k] == '\\')
		k++;
	return k % 2 == 0;
}

static bool
hex4_eq(const char *p, const char *want)
{
	for (int i = 0; i < 4; i++) {
		char c = p[i];
		if (c >= 'a' && c <= 'f')
			c = (char)(c - 'a' + 'A');
		if (c != want[i])
			return false;
	}
	return true;
}

/* A copy of the text with \u0000 rewritten, or NULL when not needed (or
 * on allocation failure, which then parses the text as it is). */
static char *
remap_nul_escapes(struct arena *a, const char *src, size_t len)
{
	bool has_nul = false;
	char *copy;

	for (size_t i = 0; i < len; i++) {
		if (i + 2 < len && (unsigned char)src[i] == 0xEF &&
		    (unsigned char)src[i + 1] == 0xBF &&
		    (unsigned char)src[i + 2] == 0xBF)
			return NULL;
		if (i + 5 < len && src[i] == '\\' && src[i + 1] == 'u' &&
		    escape_at(src, i)) {
			if (hex4_eq(src + i + 2, "FFFF"))
				return NULL;
			if (hex4_eq(src + i + 2, "0000"))
				has_nul = true;
		}
	}
	if (!has_nul || (copy = arena_alloc(a, len)) == NULL)
		return NULL;
	memcpy(copy, src, len);
	for (size_t i = 0; i + 5 < len; i++)
		if (copy[i] == '\\' && copy[i + 1] == 'u' &&
		    escape_at(copy, i) && hex4_eq(copy + i + 2, "0000"))
			memcpy(copy + i + 2, "FFFF", 4);
	return copy;
}

static bool
copy_out(struct jparser *p, const char *s, size_t n, struct str *out)
{
	struct str r = arena_strdup(p->a, s != NULL ? s : "", n);
	char *w;
	size_t o = 0;

	if (r.p == NULL) {
		p->oom = true;
		return false;
	}
	if (p->remap_nul && memchr(r.p, 0xEF, r.n) != NULL) {
		w = (char *)(uintptr_t)r.p;   /* our own fresh copy */
		for (size_t i = 0; i < r.n; i++) {
			if (i + 2 < r.n && (unsigned char)w[i] == 0xEF &&
			    (unsigned char)w[i + 1] == 0xBF &&
			    (unsigned char)w[i + 2] == 0xBF) {
				w[o++] = '\0';
				i += 2;
			} else {
				w[o++] = w[i];
			}
		}
		r.n = o;
	}
	*out = r;
	return true;
}

/* A copy of a JSON string's bytes (may contain NUL). */
static bool
jstr(struct jparser *p, json_t *v, const char *where, const char *what,
    struct str *out)
{
	if (!json_is_string(v)) {
		jerr(p, where, "expected %s (a string)", what);
		return false;
	}
	return copy_out(p, json_string_value(v), json_string_length(v), out);
}

static bool
jkey(struct jparser *p, const char *key, size_t keylen, struct str *out)
{
	return copy_out(p, key, keylen, out);
}

/* [_a-zA-Z][_a-zA-Z0-9]*, reserved words included (annotation keys). */
static bool
is_any_ident(const char *k)
{
	if (k[0] == '\0' || (k[0] >= '0' && k[0] <= '9'))
		return false;
	for (size_t i = 0; k[i] != '\0'; i++)
		if (!((k[i] >= 'a' && k[i] <= 'z') ||
		    (k[i] >= 'A' && k[i] <= 'Z') || k[i] == '_' ||
		    (k[i] >= '0' && k[i] <= '9')))
			return false;
	return true;
}

static bool
annotations(struct jparser *p, json_t *v, const char *where)
{
	const char *k;
	json_t *x;

	if (!json_is_object(v)) {
		jerr(p, where, "expected annotations (an object of strings)");
		return false;
	}
	json_object_foreach(v, k, x) {
		if (!is_any_ident(k)) {
			jerr(p, sub(p, where, k, strlen(k)),
			    "invalid annotation name");
			return false;
		}
		if (!json_is_string(x) && !json_is_null(x)) {
			jerr(p, sub(p, where, k, strlen(k)),
			    "expected an annotation value (a string)");
			return false;
		}
	}
	return true;
}

/* An array of type names (strings that are `::` paths). */
static bool
name_list(struct jparser *p, json_t *v, const char *where,
    struct raw_name **out, size_t *out_n)
{
	size_t n;

	*out = NULL;
	*out_n = 0;
	if (!json_is_array(v)) {
		jerr(p, where, "expected an array of entity type names");
		return false;
	}
	n = json_array_size(v);
	if (n == 0)
		return true;
	if ((*out = arena_calloc(p->a, n, sizeof(**out))) == NULL) {
		p->oom = true;
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		const char *w = sub_index(p, where, i);
		struct raw_name *rn = &(*out)[i];

		if (!jstr(p, json_array_get(v, i), w, "an entity type name",
		    &rn->name))
			return false;
		if (!schema_is_path(rn->name)) {
			jerr(p, w, "invalid entity type name `%.*s`",
			    (int)rn->name.n, rn->name.p);
			return false;
		}
		rn->loc = at(w);
	}
	*out_n = n;
	return true;
}

/* ------------------------------------------------------------------ */
/* Types */

static struct raw_type *parse_type(struct jparser *p, json_t *v,
    const char *where, int depth, int flags, bool *required);

static bool
record_attrs(struct jparser *p, json_t *attrs, const char *where,
    int depth, struct raw_type *t)
{
	const char *k;
	json_t *x;
	size_t i = 0, n, klen;

	if (!json_is_object(attrs)) {
		jerr(p, where, "expected `attributes` to be an object");
		return false;
	}
	n = json_object_size(attrs);
	if (n > 0 && (t->attrs = arena_calloc(p->a, n,
	    sizeof(*t->attrs))) == NULL) {
		p->oom = true;
		return false;
	}
	json_object_keylen_foreach(attrs, k, klen, x) {
		struct raw_attr *ra = &t->attrs[i++];
		const char *w = sub(p, where, k, strlen(k));

		if (!jkey(p, k, klen, &ra->name))
			return false;
		ra->loc = at(w);
		ra->required = true;
		if ((ra->type = parse_type(p, x, w, depth + 1, TF_ATTR,
		    &ra->required)) == NULL)
			return false;
	}
	t->n_attrs = n;
	return true;
}

static struct raw_type *
parse_type(struct jparser *p, json_t *v, const char *where, int depth,
    int flags, bool *required)
{
	json_t *ty = NULL, *element = NULL, *attributes = NULL, *name = NULL;
	json_t *additional = NULL, *x;
	struct raw_type *t;
	const char *k, *tn;
	size_t tl;

	if (depth >= CEDAR_MAX_NESTING) {
		struct raw_loc l = at(where);
		schema_error(p->rep, MANDATE_ELIMIT, &l,
		    "type nesting exceeds the limit of %d levels",
		    CEDAR_MAX_NESTING);
		return NULL;
	}
	if (!json_is_object(v)) {
		jerr(p, where, "expected a type (an object with `type`)");
		return NULL;
	}
	json_object_foreach(v, k, x) {
		if (strcmp(k, "type") == 0) {
			ty = x;
		} else if (strcmp(k, "element") == 0) {
			element = x;
		} else if (strcmp(k, "attributes") == 0) {
			attributes = x;
		} else if (strcmp(k, "additionalAttributes") == 0) {
			additional = x;
		} else if (strcmp(k, "name") == 0) {
			name = x;
		} else if ((flags & TF_ATTR) && strcmp(k, "required") == 0) {
			if (!json_is_boolean(x)) {
				jerr(p, where, "expected `required` to be a "
				    "boolean");
				return NULL;
			}
			*required = json_is_true(x);
		} else if ((flags & (TF_ATTR | TF_ANNOT)) &&
		    strcmp(k, "annotations") == 0) {
			if (!annotations(p, x, sub(p, where, k, strlen(k))))
				return NULL;
		} else {
			jerr(p, where, "unknown field `%s` in a type", k);
			return NULL;
		}
	}
	if (ty == NULL) {
		jerr(p, where, "missing field `type`");
		return NULL;
	}
	if (!json_is_string(ty)) {
		jerr(p, where, "expected `type` to be a string");
		return NULL;
	}
	if ((t = arena_zalloc(p->a, sizeof(*t))) == NULL) {
		p->oom = true;
		return NULL;
	}
	t->loc = at(where);
	tn = json_string_value(ty);
	tl = json_string_length(ty);
	if (tl != strlen(tn)) {
		jerr(p, where, "invalid type name");
		return NULL;
	}
	if (strcmp(tn, "Set") == 0) {
		if (attributes != NULL || additional != NULL || name != NULL) {
			jerr(p, where, "a `Set` type has only `element`");
			return NULL;
		}
		if (element == NULL) {
			jerr(p, where, "missing field `element`");
			return NULL;
		}
		t->kind = RT_SET;
		if ((t->elem = parse_type(p, element,
		    sub(p, where, "element", 7), depth + 1, 0, NULL)) == NULL)
			return NULL;
		return t;
	}
	if (strcmp(tn, "Record") == 0) {
		if (element != NULL || name != NULL) {
			jerr(p, where, "a `Record` type has only `attributes` "
			    "and `additionalAttributes`");
			return NULL;
		}
		if (attributes == NULL) {
			jerr(p, where, "missing field `attributes`");
			return NULL;
		}
		if (additional != NULL) {
			if (!json_is_boolean(additional)) {
				jerr(p, where, "expected `additionalAttributes` "
				    "to be a boolean");
				return NULL;
			}
			if (json_is_true(additional)) {
				/* open records: experimental in Cedar, refused by
				 * the reference unless enabled, and not supported
				 * here (taken as closed they would fail valid
				 * requests) */
				jerr(p, where, "records with "
				    "`additionalAttributes: true` (open records) "
				    "are not supported");
				return NULL;
			}
		}
		t->kind = RT_RECORD;
		if (!record_attrs(p, attributes,
		    sub(p, where, "attributes", 10), depth, t))
			return NULL;
		return t;
	}
	if (strcmp(tn, "Entity") == 0 || strcmp(tn, "EntityOrCommon") == 0 ||
	    strcmp(tn, "Extension") == 0) {
		bool ext = strcmp(tn, "Extension") == 0;
		if (element != NULL || attributes != NULL || additional != NULL) {
			jerr(p, where, "an `%s` type has only `name`", tn);
			return NULL;
		}
		if (name == NULL) {
			jerr(p, where, "missing field `name`");
			return NULL;
		}
		if (!jstr(p, name, where, "a type name", &t->name))
			return NULL;
		if (ext ? !schema_is_ident(t->name) : !schema_is_path(t->name)) {
			jerr(p, where, "invalid %s name `%.*s`",
			    ext ? "extension type" : "type", (int)t->name.n,
			    t->name.p);
			return NULL;
		}
		t->kind = ext ? RT_EXT : strcmp(tn, "Entity") == 0 ? RT_ENTITY :
		    RT_REF;
		return t;
	}
	if (element != NULL || attributes != NULL || additional != NULL ||
	    name != NULL) {
		jerr(p, where, "a `%s` type takes no other fields", tn);
		return NULL;
	}
	if (strcmp(tn, "String") == 0) {
		t->kind = RT_STRING;
	} else if (strcmp(tn, "Long") == 0) {
		t->kind = RT_LONG;
	} else if (strcmp(tn, "Boolean") == 0) {
		t->kind = RT_BOOL;
	} else {
		/* a reference to a common type */
		t->kind = RT_COMMON;
		if (!jstr(p, ty, where, "a type name", &t->name))
			return NULL;
		if (!schema_is_path(t->name)) {
			jerr(p, where, "invalid common type name `%.*s`",
			    (int)t->name.n, t->name.p);
			return NULL;
		}
	}
	return t;
}

/* ------------------------------------------------------------------ */
/* Declarations */

static bool
entity_type(struct jparser *p, struct raw_ns *ns, const char *key,
    size_t keylen, json_t *v, const char *where)
{
	struct raw_entity *e;
	json_t *member = NULL, *shape = NULL, *tags = NULL, *en = NULL, *x;
	const char *k;

	/* serde reads a struct from a sequence too; the only one that can
	 * make sense here is the empty one, which means {} */
	if (!json_is_object(v) && !(json_is_array(v) &&
	    json_array_size(v) == 0)) {
		jerr(p, where, "expected an entity type (an object)");
		return false;
	}
	json_object_foreach(v, k, x) {
		if (strcmp(k, "memberOfTypes") == 0)
			member = x;
		else if (strcmp(k, "shape") == 0)
			shape = x;
		else if (strcmp(k, "tags") == 0)
			tags = x;
		else if (strcmp(k, "enum") == 0)
			en = x;
		else if (strcmp(k, "annotations") == 0) {
			if (!annotations(p, x, sub(p, where, k, strlen(k))))
				return false;
		} else {
			jerr(p, where, "unknown field `%s` in an entity type", k);
			return false;
		}
	}
	if ((e = raw_ns_add_entity(p->a, ns)) == NULL) {
		p->oom = true;
		return false;
	}
	if (!jkey(p, key, keylen, &e->name))
		return false;
	e->loc = at(where);
	if (en != NULL) {
		size_t n;

		if (member != NULL || shape != NULL || tags != NULL) {
			jerr(p, where, "an enumerated entity type may not have "
			    "`memberOfTypes`, `shape` or `tags`");
			return false;
		}
		if (!json_is_array(en) || (n = json_array_size(en)) == 0) {
			jerr(p, sub(p, where, "enum", 4),
			    "expected a non-empty array of strings");
			return false;
		}
		e->is_enum = true;
		if ((e->enum_ids = arena_calloc(p->a, n,
		    sizeof(*e->enum_ids))) == NULL ||
		    (e->enum_locs = arena_calloc(p->a, n,
		    sizeof(*e->enum_locs))) == NULL) {
			p->oom = true;
			return false;
		}
		for (size_t i = 0; i < n; i++) {
			const char *w = sub_index(p, sub(p, where, "enum", 4), i);
			if (!jstr(p, json_array_get(en, i), w, "an entity id",
			    &e->enum_ids[i]))
				return false;
			e->enum_locs[i] = at(w);
		}
		e->n_enum_ids = n;
		return true;
	}
	if (member != NULL && !name_list(p, member,
	    sub(p, where, "memberOfTypes", 13), &e->member_of,
	    &e->n_member_of))
		return false;
	if (shape != NULL && (e->shape = parse_type(p, shape,
	    sub(p, where, "shape", 5), 0, 0, NULL)) == NULL)
		return false;
	if (tags != NULL && (e->tags = parse_type(p, tags,
	    sub(p, where, "tags", 4), 0, 0, NULL)) == NULL)
		return false;
	return true;
}

static bool
action_ref(struct jparser *p, json_t *v, const char *where,
    struct raw_action_ref *ref)
{
	json_t *id = NULL, *type = NULL, *x;
	const char *k;

	if (!json_is_object(v)) {
		jerr(p, where, "expected an action reference "
		    "({\"id\": ..., \"type\": ...})");
		return false;
	}
	json_object_foreach(v, k, x) {
		if (strcmp(k, "id") == 0) {
			id = x;
		} else if (strcmp(k, "type") == 0) {
			type = x;
		} else {
			jerr(p, where, "unknown field `%s` in an action "
			    "reference", k);
			return false;
		}
	}
	if (id == NULL) {
		jerr(p, where, "missing field `id`");
		return false;
	}
	ref->loc = at(where);
	if (!jstr(p, id, where, "an action id", &ref->id))
		return false;
	if (type != NULL && !json_is_null(type)) {
		if (!jstr(p, type, where, "an action type", &ref->type))
			return false;
		if (!schema_is_path(ref->type)) {
			jerr(p, where, "invalid action type `%.*s`",
			    (int)ref->type.n, ref->type.p);
			return false;
		}
	}
	return true;
}

static bool
applies_to(struct jparser *p, json_t *v, const char *where,
    struct raw_action *a)
{
	json_t *pt = NULL, *rt = NULL, *ctx = NULL, *x;
	const char *k;

	if (!json_is_object(v)) {
		jerr(p, where, "expected `appliesTo` to be an object");
		return false;
	}
	json_object_foreach(v, k, x) {
		if (strcmp(k, "principalTypes") == 0) {
			pt = x;
		} else if (strcmp(k, "resourceTypes") == 0) {
			rt = x;
		} else if (strcmp(k, "context") == 0) {
			ctx = x;
		} else {
			jerr(p, where, "unknown field `%s` in `appliesTo`", k);
			return false;
		}
	}
	if (pt == NULL || rt == NULL) {
		jerr(p, where, "missing field `%s`",
		    pt == NULL ? "principalTypes" : "resourceTypes");
		return false;
	}
	a->has_applies_to = true;
	if (!name_list(p, pt, sub(p, where, "principalTypes", 14),
	    &a->principals, &a->n_principals) ||
	    !name_list(p, rt, sub(p, where, "resourceTypes", 13),
	    &a->resources, &a->n_resources))
		return false;
	if (ctx != NULL && (a->context = parse_type(p, ctx,
	    sub(p, where, "context", 7), 0, 0, NULL)) == NULL)
		return false;
	return true;
}

static bool
action(struct jparser *p, struct raw_ns *ns, const char *key, size_t keylen,
    json_t *v, const char *where)
{
	struct raw_action *a;
	json_t *member = NULL, *applies = NULL, *x;
	const char *k;

	if (!json_is_object(v) && !(json_is_array(v) &&
	    json_array_size(v) == 0)) {
		jerr(p, where, "expected an action (an object)");
		return false;
	}
	json_object_foreach(v, k, x) {
		if (strcmp(k, "memberOf") == 0) {
			member = json_is_null(x) ? NULL : x;
		} else if (strcmp(k, "appliesTo") == 0) {
			applies = json_is_null(x) ? NULL : x;
		} else if (strcmp(k, "annotations") == 0) {
			if (!annotations(p, x, sub(p, where, k, strlen(k))))
				return false;
		} else if (strcmp(k, "attributes") == 0) {
			if (json_is_null(x))
				continue;
			jerr(p, where, "action attributes are not supported");
			return false;
		} else {
			jerr(p, where, "unknown field `%s` in an action", k);
			return false;
		}
	}
	if ((a = raw_ns_add_action(p->a, ns)) == NULL) {
		p->oom = true;
		return false;
	}
	if (!jkey(p, key, keylen, &a->id))
		return false;
	a->loc = at(where);
	if (member != NULL) {
		size_t n;
		const char *w = sub(p, where, "memberOf", 8);

		if (!json_is_array(member)) {
			jerr(p, w, "expected an array of action references");
			return false;
		}
		n = json_array_size(member);
		if (n > 0 && (a->member_of = arena_calloc(p->a, n,
		    sizeof(*a->member_of))) == NULL) {
			p->oom = true;
			return false;
		}
		for (size_t i = 0; i < n; i++)
			if (!action_ref(p, json_array_get(member, i),
			    sub_index(p, w, i), &a->member_of[i]))
				return false;
		a->n_member_of = n;
	}
	if (applies != NULL && !applies_to(p, applies,
	    sub(p, where, "appliesTo", 9), a))
		return false;
	return true;
}

static void
namespace_def(struct jparser *p, const char *nskey, size_t nslen,
    json_t *v)
{
	const char *where = nslen == 0 ? "/\"\"" :
	    sub(p, "", nskey, strlen(nskey));
	json_t *ents = NULL, *acts = NULL, *commons = NULL, *x;
	struct raw_ns *ns;
	const char *k;
	size_t klen;

	if (!json_is_object(v)) {
		jerr(p, where, "expected a namespace (an object)");
		return;
	}
	json_object_foreach(v, k, x) {
		if (strcmp(k, "entityTypes") == 0) {
			ents = x;
		} else if (strcmp(k, "actions") == 0) {
			acts = x;
		} else if (strcmp(k, "commonTypes") == 0) {
			commons = x;
		} else if (strcmp(k, "annotations") == 0) {
			(void)annotations(p, x, sub(p, where, k, strlen(k)));
		} else {
			jerr(p, where, "unknown field `%s` in a namespace", k);
			return;
		}
	}
	if (ents == NULL || acts == NULL) {
		jerr(p, where, "missing field `%s`",
		    ents == NULL ? "entityTypes" : "actions");
		return;
	}
	if ((ns = raw_schema_add_ns(p->a, p->rs)) == NULL) {
		p->oom = true;
		return;
	}
	if (!jkey(p, nskey, nslen, &ns->name))
		return;
	ns->loc = at(where);
	if (commons != NULL) {
		const char *w = sub(p, where, "commonTypes", 11);
		if (!json_is_object(commons)) {
			jerr(p, w, "expected an object");
		} else {
			json_object_keylen_foreach(commons, k, klen, x) {
				const char *wk = sub(p, w, k, strlen(k));
				struct raw_common *c = raw_ns_add_common(p->a, ns);
				if (c == NULL) {
					p->oom = true;
					return;
				}
				if (!jkey(p, k, klen, &c->name))
					return;
				c->loc = at(wk);
				c->type = parse_type(p, x, wk, 0, TF_ANNOT, NULL);
				if (c->type == NULL)
					ns->n_commons--;
			}
		}
	}
	{
		const char *w = sub(p, where, "entityTypes", 11);
		if (!json_is_object(ents)) {
			jerr(p, w, "expected an object");
		} else {
			json_object_keylen_foreach(ents, k, klen, x)
				(void)entity_type(p, ns, k, klen, x,
				    sub(p, w, k, strlen(k)));
		}
	}
	{
		const char *w = sub(p, where, "actions", 7);
		if (!json_is_object(acts)) {
			jerr(p, w, "expected an object");
		} else {
			json_object_keylen_foreach(acts, k, klen, x)
				(void)action(p, ns, k, klen, x,
				    sub(p, w, k, klen));
		}
	}
}

static int
parse_schema(const char *src, size_t len, const char *file,
    const struct schema_fault *fault, struct cedar_schema **out,
    struct diag_list *dl)
{
	struct schema_report rep = { dl, file, src, len, 0, false, fault };
	struct raw_schema rs;
	struct jparser p;
	struct arena a;
	json_error_t jerror;
	char *copy;
	json_t *root = NULL, *x;
	const char *k;
	size_t klen;
	int r;

	if (out == NULL)
		return MANDATE_EINVAL;
	*out = NULL;
	if (src == NULL && len > 0)
		return MANDATE_EINVAL;
	if (src == NULL)
		src = "";
	rep.src = src;
	if (len > CEDAR_MAX_POLICY_TEXT) {
		schema_error(&rep, MANDATE_ELIMIT, NULL,
		    "schema is larger than %u bytes",
		    (unsigned)CEDAR_MAX_POLICY_TEXT);
		return MANDATE_ELIMIT;
	}
	arena_init(&a, SCHEMA_JSON_ARENA_LIMIT);
	if (fault != NULL)
		a.fail_after = fault->parse;
	memset(&p, 0, sizeof(p));
	copy = remap_nul_escapes(&a, src, len);
	p.remap_nul = copy != NULL;
	root = json_loadb(copy != NULL ? copy : src, len,
	    JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL, &jerror);
	if (root == NULL) {
		struct raw_loc l = { 0, 1, NULL };
		l.off = jerror.position > 0 && (size_t)jerror.position <= len ?
		    (uint32_t)jerror.position : 0;
		if (l.off > 0 && l.off == len)
			l.off--;
		schema_error(&rep, MANDATE_EPARSE, &l, "invalid JSON: %s",
		    jerror.text);
		arena_free(&a);
		return MANDATE_EPARSE;
	}
	memset(&rs, 0, sizeof(rs));
	p.a = &a;
	p.rs = &rs;
	p.rep = &rep;
	if (!json_is_object(root)) {
		jerr(&p, "/", "a schema is a JSON object of namespaces");
	} else {
		json_object_keylen_foreach(root, k, klen, x) {
			namespace_def(&p, k, klen, x);
			if (p.oom)
				break;
		}
	}
	json_decref(root);
	r = schema_finish(&rs, &rep, p.oom, out);
	arena_free(&a);
	return r;
}

int
cedar_schema_parse_json(const char *src, size_t len, const char *file,
    struct cedar_schema **out, struct diag_list *dl)
{
	return parse_schema(src, len, file, NULL, out, dl);
}

int
schema_parse_json_fault(const char *src, size_t len, const struct schema_fault *fault,
    struct cedar_schema **out, struct diag_list *dl)
{
	return parse_schema(src, len, "fault", fault, out, dl);
}

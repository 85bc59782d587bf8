/*
 * entities.c - Cedar's JSON forms for values and entities, and the entity
 * store (the policy information point).
 *
 * Values: bool, integer (i64; floats rejected), string, array -> set,
 * object -> record, {"__entity": {"type","id"}} and {"__extn": {"fn", "arg"
 * | "args"}}.  With an expected type (from a schema) the parse is
 * schema-directed as in the reference implementation: a bare string
 * where an extension type is expected is that type's constructor
 * argument, a {"type","id"} object where an entity is expected is a uid,
 * and records are checked for missing and unknown attributes.
 *
 * The store: the entities of the JSON array (plus, with a schema, the
 * schema's action entities), an open-addressed hash table over them, and
 * for each entity the sorted transitive closure of its parents, so that
 * `in` is a lookup and a binary search.  A cycle in the hierarchy is an
 * error (as in the reference), found without unbounded work.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "entities_int.h"

#define ENT_ARENA_LIMIT      (1024u << 20)
#define ENT_MAX_ENTITIES     (1u << 22)
#define ENT_MAX_ANCESTORS    20000000u   /* sum over all entities */
/* Parent links followed by the closure, over all entities: each entity's
 * walk looks at every link of every ancestor it reaches, so a diamond
 * (many entities under the same M groups, each under the same T) costs
 * M * T per entity while adding only M + T ancestors; an 11 MB file of
 * 1,000 such entities took 4 s.  At the same bound as the ancestors,
 * which it always exceeds: about a second of loading at most. */
#define ENT_MAX_CLOSURE_STEPS 20000000u
#define MS_PER_DAY           86400000LL

/* ------------------------------------------------------------------ */
/* Errors and loading */

int
cedar_jctx_error(struct cedar_jctx *c, int code, const char *fmt, ...)
{
	char msg[DIAG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(c->dl, code, c->file, c->src, c->src_len, c->off, c->len,
	    "%s%s", c->where, msg);
	return code;
}

const char *
cedar_ej_printable(struct str s, size_t max, char *buf, size_t cap)
{
	size_t o = 0;

	if (cap == 0)
		return "";
	for (size_t i = 0; i < s.n && o + 5 < cap; i++) {
		unsigned char ch = (unsigned char)s.p[i];

		if (i >= max) {
			memcpy(buf + o, "...", 3);
			o += 3;
			break;
		}
		if (ch >= 0x20 && ch < 0x7f && ch != '\\') {
			buf[o++] = (char)ch;
		} else {
			static const char hex[] = "0123456789abcdef";

			buf[o++] = '\\';
			buf[o++] = 'x';
			buf[o++] = hex[ch >> 4];
			buf[o++] = hex[ch & 15];
		}
	}
	buf[o] = '\0';
	return buf;
}

const struct ajson *
cedar_json_load(struct cedar_jctx *c, struct arena *dom, const char *src,
    size_t len, int *status)
{
	const struct ajson_opts opts = { .flags = AJSON_REJECT_DUPLICATES,
	    .max_depth = CEDAR_JSON_DEPTH, .max_len = CEDAR_MAX_JSON_TEXT,
	    .file = c->file };
	const struct ajson *j = NULL;

	*status = ajson_parse(dom, src, len, &opts, &j, c->dl);
	return j;
}

bool
cedar_json_tree_fits(const struct ajson *j, int max)
{
	if (j->type != AJSON_ARRAY && j->type != AJSON_OBJECT)
		return true;
	if (max < 1)
		return false;
	if (j->type == AJSON_ARRAY) {
		for (size_t i = 0; i < j->u.arr.n; i++)
			if (!cedar_json_tree_fits(&j->u.arr.items[i], max - 1))
				return false;
	} else {
		for (size_t i = 0; i < j->u.obj.n; i++)
			if (!cedar_json_tree_fits(&j->u.obj.items[i].val,
			    max - 1))
				return false;
	}
	return true;
}

struct str
cedar_json_str(struct cedar_jctx *c, const char *p, size_t n)
{
	return arena_strdup(c->a, p ? p : "", n);
}

/* Errors from here on point at node j. */
static void
point_at(struct cedar_jctx *c, const struct ajson *j)
{
	if (j != NULL) {
		c->off = j->off;
		c->len = j->len;
	}
}

/* ------------------------------------------------------------------ */
/* Names and schema lookups */

static bool
is_ident_start(unsigned char ch)
{
	return (ch >= 'a' && ch <= 'z') || (ch >= 'A' && ch <= 'Z') ||
	    ch == '_';
}

static bool
is_ident_char(unsigned char ch)
{
	return is_ident_start(ch) || (ch >= '0' && ch <= '9');
}

static bool
is_reserved(const char *p, size_t n)
{
	static const struct { const char *w; size_t n; } words[] = {
		{ "true", 4 }, { "false", 5 }, { "if", 2 }, { "then", 4 },
		{ "else", 4 }, { "in", 2 }, { "is", 2 }, { "like", 4 },
		{ "has", 3 }, { "__cedar", 7 },
	};

	if (n < 2 || n > 7)   /* the shortest and longest words */
		return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (words[i].n == n && memcmp(words[i].w, p, n) == 0)
			return true;
	return false;
}

/* A normalized Cedar name: Ident ("::" Ident)*, no spaces. */
static bool
valid_type_name(struct str s)
{
	size_t i = 0;

	if (s.n == 0)
		return false;
	for (;;) {
		size_t start = i;

		if (i >= s.n || !is_ident_start((unsigned char)s.p[i]))
			return false;
		while (i < s.n && is_ident_char((unsigned char)s.p[i]))
			i++;
		if (is_reserved(s.p + start, i - start))
			return false;
		if (i == s.n)
			return true;
		if (i + 2 >= s.n || s.p[i] != ':' || s.p[i + 1] != ':')
			return false;
		i += 2;
	}
}

bool
cedar_ej_enum_ok(const struct cedar_schema *s, const struct cedar_uid *uid)
{
	const struct cedar_entity_type *et = cedar_schema_entity_type(s, uid->type);

	if (et == NULL || et->enum_ids == NULL)
		return true;
	for (size_t i = 0; i < et->n_enum_ids; i++)
		if (str_eq(et->enum_ids[i], uid->id))
			return true;
	return false;
}

static const struct cedar_attr_type *
record_attr(const struct cedar_type *t, struct str name)
{
	size_t lo = 0, hi = t->n_attrs;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = str_cmp(t->attrs[mid].name, name);

		if (r == 0)
			return &t->attrs[mid];
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return NULL;
}

static bool
has_field(const struct cedar_value *rec, struct str key)
{
	size_t lo = 0, hi = rec->u.rec.n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = str_cmp(rec->u.rec.fields[mid].key, key);

		if (r == 0)
			return true;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

static const char *
ext_name(int ext)
{
	switch (ext) {
	case CEXT_IPADDR: return "ipaddr";
	case CEXT_DECIMAL: return "decimal";
	case CEXT_DATETIME: return "datetime";
	case CEXT_DURATION: return "duration";
	default: return "extension";
	}
}

/* A short description of a schema type, for messages. */
static void
type_desc(const struct cedar_type *t, char *buf, size_t cap)
{
	switch (t->kind) {
	case CT_BOOL: snprintf(buf, cap, "Bool"); break;
	case CT_LONG: snprintf(buf, cap, "Long"); break;
	case CT_STRING: snprintf(buf, cap, "String"); break;
	case CT_ENTITY:
		snprintf(buf, cap, "entity of type `%.*s`", (int)t->name.n,
		    t->name.p);
		break;
	case CT_SET: snprintf(buf, cap, "Set"); break;
	case CT_RECORD: snprintf(buf, cap, "Record"); break;
	case CT_EXT: snprintf(buf, cap, "%s", ext_name(t->ext)); break;
	default: snprintf(buf, cap, "unknown type"); break;
	}
}

static int
mismatch(struct cedar_jctx *c, const struct cedar_type *t, const char *got)
{
	char want[128];

	type_desc(t, want, sizeof(want));
	return cedar_jctx_error(c, MANDATE_EINVAL,
	    "type mismatch: expected %s, got %s", want, got);
}

/* ------------------------------------------------------------------ */
/* Uids */

static int
copy_str(struct cedar_jctx *c, const struct ajson *j, struct str *out)
{
	*out = cedar_json_str(c, j->u.s.p, j->u.s.n);
	if (out->p == NULL)
		return cedar_jctx_error(c, MANDATE_ENOMEM, "out of memory");
	return MANDATE_OK;
}

static bool
is_type_and_id(const struct ajson *j)
{
	return ajson_is(j, AJSON_OBJECT) &&
	    ajson_is(ajson_get(j, "type"), AJSON_STRING) &&
	    ajson_is(ajson_get(j, "id"), AJSON_STRING);
}

/* {"type": T, "id": I}; other keys are ignored, as the reference's
 * deserializer does. */
static int
type_and_id(struct cedar_jctx *c, const struct ajson *j,
    struct cedar_uid *out)
{
	const struct ajson *type;
	int r;

	point_at(c, j);
	if (!is_type_and_id(j))
		return cedar_jctx_error(c, MANDATE_EINVAL,
		    "expected an entity uid {\"type\": string, \"id\": "
		    "string}, got %s", ajson_kind(j));
	type = ajson_get(j, "type");
	if ((r = copy_str(c, type, &out->type)) != MANDATE_OK ||
	    (r = copy_str(c, ajson_get(j, "id"), &out->id)) != MANDATE_OK)
		return r;
	if (!valid_type_name(out->type)) {
		point_at(c, type);
		return cedar_jctx_error(c, MANDATE_EINVAL,
		    "invalid entity type name `%.*s`",
		    (int)(out->type.n > 80 ? 80 : out->type.n), out->type.p);
	}
	return MANDATE_OK;
}

int
cedar_json_uid(struct cedar_jctx *c, const struct ajson *j,
    struct cedar_uid *out)
{
	const struct ajson *inner;

	memset(out, 0, sizeof(*out));
	/* the explicit escape first, then the implicit form */
	if ((inner = ajson_get(j, "__entity")) != NULL && is_type_and_id(inner))
		return type_and_id(c, inner, out);
	return type_and_id(c, j, out);
}

static int
check_enum(struct cedar_jctx *c, const struct cedar_uid *uid)
{
	if (c->schema == NULL || c->lenient || cedar_ej_enum_ok(c->schema, uid))
		return MANDATE_OK;
	char id[128];

	return cedar_jctx_error(c, MANDATE_EINVAL,
	    "entity `%.*s::\"%s\"` is not one of the declared values of the "
	    "enumerated type", (int)uid->type.n, uid->type.p,
	    cedar_ej_printable(uid->id, 40, id, sizeof(id)));
}

/* ------------------------------------------------------------------ */
/* Extension values */

static int
ext_ctor(struct cedar_jctx *c, int ext, const struct cedar_value *arg,
    struct cedar_value *out)
{
	bool ok = false;

	if (arg->kind != CV_STRING)
		return cedar_jctx_error(c, MANDATE_EINVAL,
		    "the %s constructor takes a string", ext_name(ext));
	out->kind = CV_EXT;
	out->ext = (uint8_t)ext;
	switch (ext) {
	case CEXT_IPADDR: ok = cedar_ip_parse(arg->u.s, &out->u.ip); break;
	case CEXT_DECIMAL: ok = cedar_decimal_parse(arg->u.s, &out->u.i); break;
	case CEXT_DATETIME:
		ok = cedar_datetime_parse(arg->u.s, &out->u.i);
		break;
	case CEXT_DURATION:
		ok = cedar_duration_parse(arg->u.s, &out->u.i);
		break;
	default: break;
	}
	if (!ok) {
		char lit[128];

		return cedar_jctx_error(c, MANDATE_EINVAL,
		    "invalid %s literal \"%s\"", ext_name(ext),
		    cedar_ej_printable(arg->u.s, 60, lit, sizeof(lit)));
	}
	return MANDATE_OK;
}

static bool
is_ext(const struct cedar_value *v, int ext)
{
	return v->kind == CV_EXT && v->ext == ext;
}

/* floor(ms / day) * day, with overflow detection */
static bool
day_floor(int64_t ms, int64_t *out)
{
	int64_t q = ms / MS_PER_DAY;

	if (ms % MS_PER_DAY != 0 && ms < 0)
		q--;
	return !__builtin_mul_overflow(q, MS_PER_DAY, out);
}

/* Apply extension function `fn` to already-parsed arguments.  The JSON
 * escape admits the constructors and the datetime functions that yield
 * extension values. */
static int
ext_call(struct cedar_jctx *c, struct str fn, const struct cedar_value *args,
    size_t n, struct cedar_value *out)
{
	static const struct { const char *name; int ext; } ctors[] = {
		{ "ip", CEXT_IPADDR }, { "decimal", CEXT_DECIMAL },
		{ "datetime", CEXT_DATETIME }, { "duration", CEXT_DURATION },
	};
	int64_t v;

	memset(out, 0, sizeof(*out));
	for (size_t i = 0; i < sizeof(ctors) / sizeof(ctors[0]); i++) {
		if (!str_eq_c(fn, ctors[i].name))
			continue;
		if (n != 1)
			return cedar_jctx_error(c, MANDATE_EINVAL,
			    "`%s` takes 1 argument, got %zu", ctors[i].name, n);
		return ext_ctor(c, ctors[i].ext, &args[0], out);
	}
	out->kind = CV_EXT;
	if (str_eq_c(fn, "offset") || str_eq_c(fn, "durationSince")) {
		bool since = fn.n == 13;

		if (n != 2 || !is_ext(&args[0], CEXT_DATETIME) ||
		    !is_ext(&args[1], since ? CEXT_DATETIME : CEXT_DURATION))
			return cedar_jctx_error(c, MANDATE_EINVAL,
			    "`%.*s` takes a datetime and a %s", (int)fn.n, fn.p,
			    since ? "datetime" : "duration");
		if (since ? __builtin_sub_overflow(args[0].u.i, args[1].u.i, &v)
		    : __builtin_add_overflow(args[0].u.i, args[1].u.i, &v))
			return cedar_jctx_error(c, MANDATE_EINVAL,
			    "overflow in `%.*s`", (int)fn.n, fn.p);
		out->ext = since ? CEXT_DURATION : CEXT_DATETIME;
		out->u.i = v;
		return MANDATE_OK;
	}
	if (str_eq_c(fn, "toDate") || str_eq_c(fn, "toTime")) {
		bool date = str_eq_c(fn, "toDate");

		if (n != 1 || !is_ext(&args[0], CEXT_DATETIME))
			return cedar_jctx_error(c, MANDATE_EINVAL,
			    "`%.*s` takes a datetime", (int)fn.n, fn.p);
		if (date) {
			if (!day_floor(args[0].u.i, &v))
				return cedar_jctx_error(c, MANDATE_EINVAL,
				    "overflow in `toDate`");
			out->ext = CEXT_DATETIME;
		} else {
			v = args[0].u.i % MS_PER_DAY;
			if (v < 0)
				v += MS_PER_DAY;
			out->ext = CEXT_DURATION;
		}
		out->u.i = v;
		return MANDATE_OK;
	}
	{
		char name[128];

		return cedar_jctx_error(c, MANDATE_EINVAL,
		    "extension function `%s` is not allowed in a JSON value",
		    cedar_ej_printable(fn, 40, name, sizeof(name)));
	}
}

/* Does j look like the body of an `__extn` escape: an object with a
 * string "fn" and an "arg" or an array "args" (other keys ignored)? */
static bool
is_fn_and_args(const struct ajson *j)
{
	return ajson_is(j, AJSON_OBJECT) &&
	    ajson_is(ajson_get(j, "fn"), AJSON_STRING) &&
	    (ajson_get(j, "arg") != NULL ||
	    ajson_is(ajson_get(j, "args"), AJSON_ARRAY));
}

/* The body of an `__extn` escape (or the implicit {"fn", "arg"} form):
 * {"fn": name, "arg": value} or {"fn": name, "args": [values]}; "arg"
 * wins when both are given, as in the reference. */
static int
parse_extn(struct cedar_jctx *c, const struct ajson *j,
    struct cedar_value *out, int depth)
{
	const struct ajson *fn, *arg, *args;
	struct cedar_value *vals = NULL;
	size_t n = 0;
	int r;

	point_at(c, j);
	if (!is_fn_and_args(j))
		return cedar_jctx_error(c, MANDATE_EINVAL,
		    "an extension value must be {\"fn\": string, \"arg\": "
		    "value} or {\"fn\": string, \"args\": [values]}");
	fn = ajson_get(j, "fn");
	arg = ajson_get(j, "arg");
	args = ajson_get(j, "args");
	n = arg != NULL ? 1 : args->u.arr.n;
	if (n > 0 && (vals = arena_calloc(c->a, n, sizeof(*vals))) == NULL)
		return cedar_jctx_error(c, MANDATE_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct ajson *aj = arg != NULL ? arg :
		    &args->u.arr.items[i];

		if ((r = cedar_json_value(c, aj, NULL, &vals[i], depth + 1)) !=
		    MANDATE_OK)
			return r;
	}
	point_at(c, j);
	return ext_call(c, fn->u.s, vals, n, out);
}

/* ------------------------------------------------------------------ */
/* Values */

static int
parse_set(struct cedar_jctx *c, const struct ajson *j,
    const struct cedar_type *elem, struct cedar_value *out, int depth)
{
	size_t n = j->u.arr.n;
	struct cedar_value *items = NULL;
	int r;

	if (n > 0 && (items = arena_calloc(c->a, n, sizeof(*items))) == NULL)
		return cedar_jctx_error(c, MANDATE_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		if ((r = cedar_json_value(c, &j->u.arr.items[i], elem,
		    &items[i], depth + 1)) != MANDATE_OK)
			return r;
	out->kind = CV_SET;
	out->u.set.items = items;
	out->u.set.n = n > 0 ? cedar_set_normalize(items, n) : 0;
	return MANDATE_OK;
}

/* An object's members as record fields.  With a record type `rt`, each
 * value is typed by its attribute (unknown ones are errors, required ones
 * must be present); with `all`, every value has that type (tags).  When
 * `label` is set, the key is added to the error prefix.  j NULL is an
 * empty object (at c->off). */
static int
parse_fields(struct cedar_jctx *c, const struct ajson *j,
    const struct cedar_type *rt, const struct cedar_type *all,
    const char *label, int depth, struct cedar_value *out)
{
	size_t n = j != NULL ? j->u.obj.n : 0;
	size_t where_len = strlen(c->where);
	struct cedar_field *fields = NULL;
	char pk[128];
	int r;

	out->kind = CV_RECORD;
	if (n > 0 && (fields = arena_calloc(c->a, n, sizeof(*fields))) == NULL)
		return cedar_jctx_error(c, MANDATE_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++) {
		const struct ajson_member *m = &j->u.obj.items[i];
		const struct cedar_type *ft = all;
		struct str k = cedar_json_str(c, m->key.p, m->key.n);

		if (k.p == NULL)
			return cedar_jctx_error(c, MANDATE_ENOMEM,
			    "out of memory");
		if (label != NULL)
			snprintf(c->where + where_len, sizeof(c->where) -
			    where_len, "%s `%s`: ", label,
			    cedar_ej_printable(k, 30, pk, sizeof(pk)));
		if (rt != NULL) {
			const struct cedar_attr_type *at = record_attr(rt, k);

			if (at == NULL) {
				c->off = m->key_off;
				c->len = m->key_len;
				return cedar_jctx_error(c, MANDATE_EINVAL,
				    "attribute `%s` is not declared in the "
				    "%s", cedar_ej_printable(k, 40, pk,
				    sizeof(pk)), label ? "entity type" :
				    "record type");
			}
			ft = at->type;
		}
		fields[i].key = k;
		if ((r = cedar_json_value(c, &m->val, ft, &fields[i].v,
		    depth + 1)) != MANDATE_OK)
			return r;
	}
	c->where[where_len] = '\0';
	point_at(c, j);
	if (n > 0 && !cedar_record_normalize(fields, n))
		return cedar_jctx_error(c, MANDATE_EINVAL,
		    "duplicate key in record");
	out->u.rec.fields = fields;
	out->u.rec.n = n;
	for (size_t a = 0; rt != NULL && a < rt->n_attrs; a++)
		if (rt->attrs[a].required && !has_field(out,
		    rt->attrs[a].name))
			return cedar_jctx_error(c, MANDATE_EINVAL,
			    "required attribute `%.*s` is missing",
			    (int)rt->attrs[a].name.n, rt->attrs[a].name.p);
	return MANDATE_OK;
}

static int
parse_entity_ref(struct cedar_jctx *c, const struct ajson *j,
    const struct cedar_type *t, struct cedar_value *out)
{
	int r;

	if (!ajson_is(j, AJSON_OBJECT))
		return mismatch(c, t, ajson_kind(j));
	if ((r = cedar_json_uid(c, j, &out->u.uid)) != MANDATE_OK)
		return r;
	out->kind = CV_ENTITY;
	point_at(c, j);
	if (!c->lenient && !str_eq(out->u.uid.type, t->name))
		return cedar_jctx_error(c, MANDATE_EINVAL,
		    "type mismatch: expected entity of type `%.*s`, got `%.*s`",
		    (int)t->name.n, t->name.p, (int)out->u.uid.type.n,
		    out->u.uid.type.p);
	return check_enum(c, &out->u.uid);
}

/* Where an extension type is expected: {"__extn": ...}, the implicit
 * {"fn", "arg"} form, or any other value as the argument of that type's
 * constructor (normally a string). */
static int
parse_ext_expected(struct cedar_jctx *c, const struct ajson *j,
    const struct cedar_type *t, struct cedar_value *out, int depth)
{
	struct cedar_value arg;
	const struct ajson *inner;
	int r;

	if ((inner = ajson_get(j, "__extn")) != NULL && is_fn_and_args(inner)) {
		r = parse_extn(c, inner, out, depth);
	} else if (is_fn_and_args(j)) {
		r = parse_extn(c, j, out, depth);
	} else {
		if ((r = cedar_json_value(c, j, NULL, &arg, depth + 1)) !=
		    MANDATE_OK)
			return r;
		point_at(c, j);
		if (arg.kind != CV_STRING)
			return mismatch(c, t, ajson_kind(j));
		return ext_ctor(c, t->ext, &arg, out);
	}
	if (r != MANDATE_OK)
		return r;
	point_at(c, j);
	if (!c->lenient && !is_ext(out, t->ext))
		return mismatch(c, t, "a different extension value");
	return MANDATE_OK;
}

static bool
kind_matches(const struct cedar_value *v, const struct cedar_type *t)
{
	switch (t->kind) {
	case CT_BOOL: return v->kind == CV_BOOL;
	case CT_LONG: return v->kind == CV_LONG;
	case CT_STRING: return v->kind == CV_STRING;
	default: return false;
	}
}

int
cedar_json_value(struct cedar_jctx *c, const struct ajson *j,
    const struct cedar_type *t, struct cedar_value *out, int depth)
{
	const struct ajson *inner;
	int r;

	memset(out, 0, sizeof(*out));
	point_at(c, j);
	if (depth > CEDAR_MAX_NESTING)
		return cedar_jctx_error(c, MANDATE_ELIMIT,
		    "value nested too deeply (limit %d)", CEDAR_MAX_NESTING);
	if (t != NULL) {
		switch (t->kind) {
		case CT_ENTITY:
			return parse_entity_ref(c, j, t, out);
		case CT_EXT:
			return parse_ext_expected(c, j, t, out, depth);
		case CT_SET:
			if (j->type != AJSON_ARRAY)
				return mismatch(c, t, ajson_kind(j));
			return parse_set(c, j, t->elem, out, depth);
		case CT_RECORD:
			if (j->type != AJSON_OBJECT)
				return mismatch(c, t, ajson_kind(j));
			return parse_fields(c, j, t, NULL, NULL, depth, out);
		default:
			break;
		}
	}
	switch (j->type) {
	case AJSON_TRUE:
	case AJSON_FALSE:
		out->kind = CV_BOOL;
		out->u.b = j->type == AJSON_TRUE;
		break;
	case AJSON_NUMBER:
		if (!j->num_int)
			return cedar_jctx_error(c, MANDATE_EINVAL,
			    "floating-point numbers are not Cedar values");
		if (!j->num_fits)
			/* a syntax error, as for the reference's parser */
			return cedar_jctx_error(c, MANDATE_EPARSE,
			    "invalid JSON: integer %.*s is out of the range "
			    "of a 64-bit Long", (int)(j->len > 40 ? 40 : j->len),
			    c->src + j->off);
		out->kind = CV_LONG;
		out->u.i = j->u.i;
		break;
	case AJSON_NULL:
		return cedar_jctx_error(c, MANDATE_EINVAL,
		    "null is not a Cedar value");
	case AJSON_STRING:
		out->kind = CV_STRING;
		if ((r = copy_str(c, j, &out->u.s)) != MANDATE_OK)
			return r;
		break;
	case AJSON_ARRAY:
		if ((r = parse_set(c, j, NULL, out, depth)) != MANDATE_OK)
			return r;
		break;
	case AJSON_OBJECT:
		/* an escape is an object with exactly one reserved key whose
		 * value has the escape's shape; anything else is a record */
		if (j->u.obj.n == 1 && (inner = ajson_get(j, "__entity")) !=
		    NULL && is_type_and_id(inner)) {
			if ((r = type_and_id(c, inner, &out->u.uid)) !=
			    MANDATE_OK)
				return r;
			out->kind = CV_ENTITY;
			if ((r = check_enum(c, &out->u.uid)) != MANDATE_OK)
				return r;
		} else if (j->u.obj.n == 1 && (inner = ajson_get(j,
		    "__extn")) != NULL && is_fn_and_args(inner)) {
			if ((r = parse_extn(c, inner, out, depth)) !=
			    MANDATE_OK)
				return r;
		} else if (j->u.obj.n == 1 &&
		    ajson_is(ajson_get(j, "__expr"), AJSON_STRING)) {
			return cedar_jctx_error(c, MANDATE_EINVAL,
			    "the `__expr` escape is no longer supported");
		} else if ((r = parse_fields(c, j, NULL, NULL, NULL, depth,
		    out)) != MANDATE_OK) {
			return r;
		}
		break;
	default:
		return cedar_jctx_error(c, MANDATE_EINVAL,
		    "unsupported JSON value");
	}
	point_at(c, j);
	if (t != NULL && !c->lenient && !kind_matches(out, t)) {
		const char *got = out->kind == CV_ENTITY ? "an entity" :
		    out->kind == CV_EXT ? "an extension value" :
		    out->kind == CV_SET ? "a set" :
		    out->kind == CV_RECORD ? "a record" : ajson_kind(j);

		return mismatch(c, t, got);
	}
	return MANDATE_OK;
}

/* Conformance of an already-built value (request contexts). */
bool
cedar_value_conforms(const struct cedar_schema *s,
    const struct cedar_value *v, const struct cedar_type *t, char *why,
    size_t why_len, int depth)
{
	char want[128];

	if (depth > CEDAR_MAX_NESTING) {
		snprintf(why, why_len, "value nested too deeply");
		return false;
	}
	type_desc(t, want, sizeof(want));
	switch (t->kind) {
	case CT_BOOL:
	case CT_LONG:
	case CT_STRING:
		if (kind_matches(v, t))
			return true;
		break;
	case CT_ENTITY:
		if (v->kind != CV_ENTITY || !str_eq(v->u.uid.type, t->name))
			break;
		if (!cedar_ej_enum_ok(s, &v->u.uid)) {
			char id[128];

			snprintf(why, why_len, "entity `%.*s::\"%s\"` is not a "
			    "declared value of its enumerated type",
			    (int)v->u.uid.type.n, v->u.uid.type.p,
			    cedar_ej_printable(v->u.uid.id, 40, id,
			    sizeof(id)));
			return false;
		}
		return true;
	case CT_EXT:
		if (is_ext(v, t->ext))
			return true;
		break;
	case CT_SET:
		if (v->kind != CV_SET)
			break;
		for (size_t i = 0; i < v->u.set.n; i++)
			if (!cedar_value_conforms(s, &v->u.set.items[i], t->elem,
			    why, why_len, depth + 1))
				return false;
		return true;
	case CT_RECORD: {
		size_t fi = 0;

		if (v->kind != CV_RECORD)
			break;
		for (fi = 0; fi < v->u.rec.n; fi++) {
			const struct cedar_field *f = &v->u.rec.fields[fi];
			const struct cedar_attr_type *at = record_attr(t, f->key);

			if (at == NULL) {
				char k[128];

				snprintf(why, why_len, "attribute `%s` is not "
				    "declared", cedar_ej_printable(f->key, 40, k,
				    sizeof(k)));
				return false;
			}
			if (!cedar_value_conforms(s, &f->v, at->type, why,
			    why_len, depth + 1))
				return false;
		}
		for (size_t a = 0; a < t->n_attrs; a++) {
			if (t->attrs[a].required &&
			    !has_field(v, t->attrs[a].name)) {
				snprintf(why, why_len, "required attribute "
				    "`%.*s` is missing", (int)t->attrs[a].name.n,
				    t->attrs[a].name.p);
				return false;
			}
		}
		return true;
	}
	default:
		break;
	}
	snprintf(why, why_len, "type mismatch: expected %s", want);
	return false;
}

int
cedar_value_parse_json(struct arena *a, const char *src, size_t len,
    const struct cedar_type *expected, struct cedar_value *out,
    struct diag_list *dl)
{
	struct cedar_jctx c = { .a = a, .dl = dl, .src = src, .src_len = len };
	const struct ajson *j;
	struct arena dom;   /* the tree dies here; out lives in a */
	int r;

	memset(out, 0, sizeof(*out));
	arena_init(&dom, a->limit);
	if ((j = cedar_json_load(&c, &dom, src, len, &r)) != NULL)
		r = cedar_json_value(&c, j, expected, out, 0);
	arena_free(&dom);
	if (r != MANDATE_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

/* ------------------------------------------------------------------ */
/* The store */

static size_t
uid_hash(const struct cedar_uid *u)
{
	return (size_t)(str_hash(u->type) * 31u ^ str_hash(u->id));
}

static const struct cedar_entity *
find_one(const struct cedar_entities *es, const struct cedar_uid *uid)
{
	size_t mask, i;

	if (es->n_slots == 0)
		return NULL;
	mask = es->n_slots - 1;
	for (i = uid_hash(uid) & mask;; i = (i + 1) & mask) {
		size_t s = es->slots[i];

		if (s == 0)
			return NULL;
		if (cedar_uid_eq(&es->entities[s - 1].uid, uid))
			return &es->entities[s - 1];
	}
}

const struct cedar_entity *
cedar_entities_find(const struct cedar_entities *es,
    const struct cedar_uid *uid)
{
	/* the chain is at most two deep in practice; bound it anyway */
	for (int depth = 0; es != NULL && depth < 8; es = es->under, depth++) {
		const struct cedar_entity *e = find_one(es, uid);

		if (e != NULL)
			return e;
	}
	return NULL;
}

void
cedar_entities_set_under(struct cedar_entities *es,
    const struct cedar_entities *under)
{
	if (es != NULL && under != es)
		es->under = under;
}

bool
cedar_entities_has(const struct cedar_entities *es, const char *type,
    size_t type_len, const char *id, size_t id_len)
{
	struct cedar_uid u = { str_make(type, type_len), str_make(id, id_len) };

	return es != NULL && find_one(es, &u) != NULL;
}

int
cedar_entities_each(const struct cedar_entities *es, const char *type,
    size_t type_len, cedar_entity_fn fn, void *arg)
{
	struct str t = str_make(type, type_len);

	if (es == NULL)
		return MANDATE_OK;
	for (size_t i = 0; i < es->n_entities; i++) {
		const struct cedar_uid *u = &es->entities[i].uid;
		int r;

		/* an identical repeat (store_index: the first is the one
		 * indexed) is the same entity, not a second one */
		if (!str_eq(u->type, t) || find_one(es, u) != &es->entities[i])
			continue;
		if ((r = fn(arg, u->id.p, u->id.n)) != MANDATE_OK)
			return r;
	}
	return MANDATE_OK;
}

bool
cedar_entities_in(const struct cedar_entities *es,
    const struct cedar_uid *a, const struct cedar_uid *b)
{
	const struct cedar_entity *e;
	size_t lo = 0, hi;

	if (cedar_uid_eq(a, b))
		return true;
	if ((e = cedar_entities_find(es, a)) == NULL)
		return false;
	hi = e->n_ancestors;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int r = cedar_uid_cmp(&e->ancestors[mid], b);

		if (r == 0)
			return true;
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	return false;
}

void
cedar_entities_free(struct cedar_entities *es)
{
	struct arena a;

	if (es == NULL)
		return;
	a = es->arena;   /* es lives in its own arena */
	arena_free(&a);
}

/* Byte offset of entity `index` of the JSON array (0 when unknown). */
static size_t
entity_off(const struct cedar_jctx *c, size_t index)
{
	const struct ajson *root = c->entities_json;

	if (root == NULL || index >= root->u.arr.n)
		return 0;
	return root->u.arr.items[index].off;
}

/* Point the diagnostics added since n_diag at entity `index` of the
 * array (store-level errors: duplicates, cycles). */
static void
locate(struct cedar_jctx *c, size_t n_diag, size_t index)
{
	if (c->dl == NULL)
		return;
	for (size_t k = n_diag; k < c->dl->n; k++) {
		c->dl->items[k].off = entity_off(c, index);
		c->dl->items[k].len = 0;
	}
}

static void
set_where_uid(struct cedar_jctx *c, const char *what,
    const struct cedar_uid *u)
{
	char id[64];

	snprintf(c->where, sizeof(c->where), "%s `%.*s::\"%s\"`: ", what,
	    (int)(u->type.n > 60 ? 60 : u->type.n), u->type.p,
	    cedar_ej_printable(u->id, 12, id, sizeof(id)));
}

static int
uid_qsort_cmp(const void *a, const void *b)
{
	return cedar_uid_cmp(a, b);
}

/* Do two parent lists name the same set of uids?  (Order and repeats do
 * not matter.)  Sorted copies in a scratch arena; false when out of
 * memory, which makes the duplicate an error: fail closed. */
static bool
same_parents(const struct cedar_entity *x, const struct cedar_entity *y)
{
	struct arena tmp;
	struct cedar_uid *a = NULL, *b = NULL;
	size_t na, nb, i, j;
	bool same = false;

	arena_init(&tmp, 0);
	if ((x->n_parents && (a = arena_calloc(&tmp, x->n_parents,
	    sizeof(*a))) == NULL) || (y->n_parents && (b = arena_calloc(&tmp,
	    y->n_parents, sizeof(*b))) == NULL))
		goto out;
	if (x->n_parents)
		memcpy(a, x->parents, x->n_parents * sizeof(*a));
	if (y->n_parents)
		memcpy(b, y->parents, y->n_parents * sizeof(*b));
	if (x->n_parents)
		qsort(a, x->n_parents, sizeof(*a), uid_qsort_cmp);
	if (y->n_parents)
		qsort(b, y->n_parents, sizeof(*b), uid_qsort_cmp);
	for (i = j = 0, na = x->n_parents, nb = y->n_parents; i < na || j < nb;) {
		if (i == na || j == nb || !cedar_uid_eq(&a[i], &b[j]))
			goto out;
		/* skip repeats on both sides */
		while (i + 1 < na && cedar_uid_eq(&a[i], &a[i + 1]))
			i++;
		while (j + 1 < nb && cedar_uid_eq(&b[j], &b[j + 1]))
			j++;
		i++;
		j++;
	}
	same = true;
out:
	arena_free(&tmp);
	return same;
}

/* The reference accepts an entity listed twice when both entries are the
 * same entity (equal attributes and tags as values, the same parents);
 * entries that differ are an error. */
static bool
same_entity(const struct cedar_entity *x, const struct cedar_entity *y)
{
	return cedar_value_eq(&x->attrs, &y->attrs) &&
	    cedar_value_eq(&x->tags, &y->tags) && same_parents(x, y);
}

/* Build the slot table over es->entities.  A repeated uid that is the same
 * entity is left out of the table (lookups find the first entry, and the
 * repeat is harmless elsewhere); a repeated uid that differs is an error
 * reported through c (the second occurrence is named). */
static int
store_index(struct cedar_jctx *c, struct cedar_entities *es, struct arena *a)
{
	size_t n_slots = 8, mask;

	while (n_slots < es->n_entities * 2)
		n_slots <<= 1;
	es->slots = arena_calloc(a, n_slots, sizeof(*es->slots));
	if (es->slots == NULL)
		return cedar_jctx_error(c, MANDATE_ENOMEM, "out of memory");
	es->n_slots = n_slots;
	mask = n_slots - 1;
	for (size_t e = 0; e < es->n_entities; e++) {
		const struct cedar_uid *u = &es->entities[e].uid;
		bool repeat = false;
		size_t i;

		for (i = uid_hash(u) & mask; es->slots[i] != 0;
		    i = (i + 1) & mask) {
			const struct cedar_entity *first =
			    &es->entities[es->slots[i] - 1];

			if (!cedar_uid_eq(&first->uid, u))
				continue;
			if (same_entity(first, &es->entities[e])) {
				repeat = true;
				break;
			}
			c->where[0] = '\0';
			c->err_entity = e;
			set_where_uid(c, "entity", u);
			return cedar_jctx_error(c, MANDATE_EINVAL,
			    "duplicate entity with a different definition");
		}
		if (!repeat)
			es->slots[i] = e + 1;
	}
	return MANDATE_OK;
}

/* Transitive closure of the parents of every entity.  Each entity is a
 * depth-first walk with visit marks, so a cycle cannot loop; reaching the
 * entity itself means the hierarchy has a cycle, which is an error.  The
 * links followed (ENT_MAX_CLOSURE_STEPS) and the ancestors kept
 * (ENT_MAX_ANCESTORS) are bounded: past either, ELIMIT. */
static int
store_closure(struct cedar_jctx *c, struct cedar_entities *es,
    struct arena *a)
{
	struct arena tmp;
	size_t *mark = NULL, *stack = NULL, n = es->n_entities, total = 0;
	size_t steps = 0;
	struct cedar_uid *acc = NULL;
	size_t acc_cap = 0;
	int r = MANDATE_OK;

	arena_init(&tmp, 0);
	if (n == 0)
		goto out;
	mark = arena_calloc(&tmp, n, sizeof(*mark));
	stack = arena_calloc(&tmp, n, sizeof(*stack));
	if (mark == NULL || stack == NULL) {
		r = cedar_jctx_error(c, MANDATE_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t e = 0; e < n; e++) {
		struct cedar_entity *ent = &es->entities[e];
		size_t sp = 0, n_acc = 0;
		struct cedar_uid *anc;

		mark[e] = e + 1;
		stack[sp++] = e;
		while (sp > 0) {
			const struct cedar_entity *cur =
			    &es->entities[stack[--sp]];

			for (size_t p = 0; p < cur->n_parents; p++) {
				const struct cedar_uid *pu = &cur->parents[p];
				const struct cedar_entity *pe;
				size_t pi;

				if (++steps > ENT_MAX_CLOSURE_STEPS) {
					r = cedar_jctx_error(c, MANDATE_ELIMIT,
					    "entity hierarchy too large (its "
					    "closure follows more than %u "
					    "parent links)",
					    ENT_MAX_CLOSURE_STEPS);
					goto out;
				}
				pe = cedar_entities_find(es, pu);
				if (pe != NULL) {
					pi = (size_t)(pe - es->entities);
					if (pi == e) {
						c->err_entity = e;
						set_where_uid(c, "entity",
						    &ent->uid);
						r = cedar_jctx_error(c,
						    MANDATE_EINVAL, "the entity "
						    "hierarchy has a cycle");
						goto out;
					}
					if (mark[pi] == e + 1)
						continue;
					mark[pi] = e + 1;
					stack[sp++] = pi;
				}
				if (n_acc == acc_cap) {
					size_t nc = acc_cap ? acc_cap * 2 : 16;
					struct cedar_uid *na = malloc(nc *
					    sizeof(*na));

					if (na == NULL) {
						r = cedar_jctx_error(c,
						    MANDATE_ENOMEM,
						    "out of memory");
						goto out;
					}
					if (n_acc > 0)
						memcpy(na, acc, n_acc *
						    sizeof(*na));
					free(acc);
					acc = na;
					acc_cap = nc;
				}
				acc[n_acc++] = *pu;
				if (++total > ENT_MAX_ANCESTORS) {
					r = cedar_jctx_error(c, MANDATE_ELIMIT,
					    "entity hierarchy too large");
					goto out;
				}
			}
		}
		if (n_acc == 0)
			continue;
		qsort(acc, n_acc, sizeof(*acc), uid_qsort_cmp);
		{
			size_t w = 1;

			for (size_t i = 1; i < n_acc; i++)
				if (!cedar_uid_eq(&acc[i], &acc[w - 1]))
					acc[w++] = acc[i];
			n_acc = w;
		}
		anc = arena_alloc(a, n_acc * sizeof(*anc));
		if (anc == NULL) {
			r = cedar_jctx_error(c, MANDATE_ENOMEM, "out of memory");
			goto out;
		}
		memcpy(anc, acc, n_acc * sizeof(*anc));
		ent->ancestors = anc;
		ent->n_ancestors = n_acc;
	}
out:
	free(acc);
	arena_free(&tmp);
	return r;
}

/* ------------------------------------------------------------------ */
/* Entities JSON */

/* "attrs" (typed by the entity type's shape) or "tags" (every value
 * typed by the tag type); a missing member is empty. */
static int
parse_attrs(struct cedar_jctx *c, const struct ajson *j, bool is_tags,
    const struct cedar_type *type, struct cedar_value *out)
{
	memset(out, 0, sizeof(*out));
	out->kind = CV_RECORD;
	if (j != NULL && j->type != AJSON_OBJECT) {
		point_at(c, j);
		return cedar_jctx_error(c, MANDATE_EINVAL,
		    "\"%s\" must be an object, got %s",
		    is_tags ? "tags" : "attrs", ajson_kind(j));
	}
	if (j == NULL && (is_tags || type == NULL))
		return MANDATE_OK;
	/* absent attrs (j NULL): still report missing required ones */
	if (is_tags)
		return parse_fields(c, j, NULL, type, "tag", -1, out);
	return parse_fields(c, j, type, NULL, "attribute", -1, out);
}

static bool
is_empty_object(const struct ajson *j)
{
	return j == NULL || (j->type == AJSON_OBJECT && j->u.obj.n == 0);
}

static int
parse_entity(struct cedar_jctx *c, const struct ajson *ej,
    struct cedar_entity *e)
{
	const struct cedar_entity_type *et = NULL;
	bool is_action, schema_action = false;
	const struct ajson *attrs, *parents, *tags, *uid;
	struct cedar_uid *ps = NULL;
	size_t np;
	int r;

	memset(e, 0, sizeof(*e));
	c->where[0] = '\0';
	point_at(c, ej);
	if (ej->type != AJSON_OBJECT)
		return cedar_jctx_error(c, MANDATE_EINVAL,
		    "an entity must be an object, got %s", ajson_kind(ej));
	/* other keys are ignored, as by the reference's deserializer */
	if ((uid = ajson_get(ej, "uid")) == NULL)
		return cedar_jctx_error(c, MANDATE_EINVAL,
		    "entity without \"uid\"");
	if ((r = cedar_json_uid(c, uid, &e->uid)) != MANDATE_OK)
		return r;
	set_where_uid(c, "entity", &e->uid);
	point_at(c, uid);
	is_action = cedar_type_is_action(e->uid.type);
	if (c->schema != NULL) {
		if (is_action) {
			if (cedar_schema_action(c->schema, &e->uid) == NULL)
				return cedar_jctx_error(c, MANDATE_EINVAL,
				    "action is not declared in the schema");
			schema_action = true;
		} else if ((et = cedar_schema_entity_type(c->schema,
		    e->uid.type)) == NULL) {
			return cedar_jctx_error(c, MANDATE_EINVAL,
			    "entity type is not declared in the schema");
		}
		if ((r = check_enum(c, &e->uid)) != MANDATE_OK)
			return r;
	}
	/* "attrs" and "parents" are required and "tags" optional, none of
	 * them null, as in the reference's deserializer (Cedar's entities
	 * format): a misspelt "attributes" is an error, not an entity with
	 * no attributes (checked last, so that an error in what is there
	 * is reported first) */
	attrs = ajson_get(ej, "attrs");
	tags = ajson_get(ej, "tags");
	parents = ajson_get(ej, "parents");
	if (schema_action && (!is_empty_object(attrs) ||
	    !is_empty_object(tags))) {
		point_at(c, !is_empty_object(attrs) ? attrs : tags);
		return cedar_jctx_error(c, MANDATE_EINVAL, "definition of the "
		    "action does not match its schema declaration");
	}
	point_at(c, ej);
	if ((r = parse_attrs(c, attrs, false, et ? et->shape : NULL,
	    &e->attrs)) != MANDATE_OK)
		return r;
	if (et != NULL && et->tags == NULL && tags != NULL &&
	    tags->type == AJSON_OBJECT && tags->u.obj.n != 0) {
		point_at(c, tags);
		return cedar_jctx_error(c, MANDATE_EINVAL,
		    "entity has tags but its type declares none");
	}
	if ((r = parse_attrs(c, tags, true, et ? et->tags : NULL,
	    &e->tags)) != MANDATE_OK)
		return r;
	np = 0;
	if (parents != NULL) {
		point_at(c, parents);
		if (parents->type != AJSON_ARRAY)
			return cedar_jctx_error(c, MANDATE_EINVAL,
			    "\"parents\" must be an array");
		np = parents->u.arr.n;
	}
	if (np > 0 && (ps = arena_calloc(c->a, np, sizeof(*ps))) == NULL)
		return cedar_jctx_error(c, MANDATE_ENOMEM, "out of memory");
	for (size_t i = 0; i < np; i++) {
		const struct ajson *pj = &parents->u.arr.items[i];

		if ((r = cedar_json_uid(c, pj, &ps[i])) != MANDATE_OK)
			return r;
		point_at(c, pj);
		if (is_action && !cedar_type_is_action(ps[i].type))
			return cedar_jctx_error(c, MANDATE_EINVAL,
			    "parent `%.*s` of an action is not an action",
			    (int)ps[i].type.n, ps[i].type.p);
		if ((r = check_enum(c, &ps[i])) != MANDATE_OK)
			return r;
	}
	if (parents == NULL || attrs == NULL) {
		point_at(c, ej);
		return cedar_jctx_error(c, MANDATE_EINVAL, "entity without "
		    "\"%s\" (Cedar's entity format requires \"attrs\" and "
		    "\"parents\", even empty)", attrs == NULL ? "attrs" :
		    "parents");
	}
	e->parents = ps;
	e->n_parents = np;
	return MANDATE_OK;
}

/* For each entity type of the schema, the types its entities may have
 * as ancestors: the transitive closure of memberOf (as the reference
 * checks ancestors after closing both relations).  Computed lazily. */
struct anc_types {
	const struct cedar_schema *s;
	struct arena *tmp;
	const struct str **types;   /* per entity type index; NULL = not yet */
	size_t *n_types;
};

static bool
ancestor_type_allowed(struct anc_types *at, const struct cedar_entity_type *et,
    struct str anc)
{
	const struct cedar_schema *s = at->s;
	size_t idx = (size_t)(et - s->entity_types), T = s->n_entity_types;

	if (at->types[idx] == NULL) {
		/* breadth-first over memberOf; marks keep it finite */
		size_t *queue = arena_calloc(at->tmp, T + 1, sizeof(*queue));
		unsigned char *seen = arena_zalloc(at->tmp, T + 1);
		struct str *list = arena_calloc(at->tmp, T + 1, sizeof(*list));
		size_t head = 0, tail = 0, n = 0;

		if (queue == NULL || seen == NULL || list == NULL)
			return false;
		queue[tail++] = idx;
		while (head < tail) {
			const struct cedar_entity_type *cur =
			    &s->entity_types[queue[head++]];

			for (size_t i = 0; i < cur->n_member_of; i++) {
				const struct cedar_entity_type *nx =
				    cedar_schema_entity_type(s, cur->member_of[i]);
				size_t ni;

				if (nx == NULL)
					continue;
				ni = (size_t)(nx - s->entity_types);
				if (seen[ni])
					continue;
				seen[ni] = 1;
				list[n++] = nx->name;
				queue[tail++] = ni;
			}
		}
		at->types[idx] = list;
		at->n_types[idx] = n;
	}
	for (size_t i = 0; i < at->n_types[idx]; i++)
		if (str_eq(at->types[idx][i], anc))
			return true;
	return false;
}

static bool
uids_equal(const struct cedar_uid *a, size_t na, const struct cedar_uid *b,
    size_t nb)
{
	if (na != nb)
		return false;
	for (size_t i = 0; i < na; i++)
		if (!cedar_uid_eq(&a[i], &b[i]))
			return false;
	return true;
}

static int
copy_uid(struct arena *a, const struct cedar_uid *in, struct cedar_uid *out)
{
	out->type = arena_strdup(a, in->type.p ? in->type.p : "", in->type.n);
	out->id = arena_strdup(a, in->id.p ? in->id.p : "", in->id.n);
	return out->type.p && out->id.p ? MANDATE_OK : MANDATE_ENOMEM;
}

/* The schema's action entities (with their groups as parents) as a
 * temporary store of their own (acts->arena unused: everything is
 * allocated in es->arena, where the merged store will live), closure
 * computed. */
static int
schema_actions(struct cedar_jctx *c, struct cedar_entities *es,
    struct cedar_entities *acts)
{
	const struct cedar_schema *s = c->schema;
	int r;

	memset(acts, 0, sizeof(*acts));
	acts->n_entities = s->n_actions;
	if (s->n_actions > 0 && (acts->entities = arena_calloc(&es->arena,
	    s->n_actions, sizeof(*acts->entities))) == NULL)
		return cedar_jctx_error(c, MANDATE_ENOMEM, "out of memory");
	for (size_t i = 0; i < s->n_actions; i++) {
		struct cedar_entity *e = &acts->entities[i];

		const struct cedar_action_decl *d = &s->actions[i];
		struct cedar_uid *ps = NULL;

		/* copies: the store may outlive the schema */
		if ((r = copy_uid(&es->arena, &d->uid, &e->uid)) !=
		    MANDATE_OK)
			return cedar_jctx_error(c, r, "out of memory");
		if (d->n_member_of > 0 && (ps = arena_calloc(&es->arena,
		    d->n_member_of, sizeof(*ps))) == NULL)
			return cedar_jctx_error(c, MANDATE_ENOMEM,
			    "out of memory");
		for (size_t p = 0; p < d->n_member_of; p++)
			if ((r = copy_uid(&es->arena, &d->member_of[p],
			    &ps[p])) != MANDATE_OK)
				return cedar_jctx_error(c, r, "out of memory");
		e->attrs.kind = CV_RECORD;
		e->tags.kind = CV_RECORD;
		e->parents = ps;
		e->n_parents = d->n_member_of;
	}
	c->where[0] = '\0';
	if ((r = store_index(c, acts, &es->arena)) != MANDATE_OK)
		return r;
	return store_closure(c, acts, &es->arena);
}

/* With a schema: every ancestor of a non-action entity must have a type
 * its entity type may have as an ancestor. */
static int
check_ancestor_types(struct cedar_jctx *c, struct cedar_entities *es)
{
	const struct cedar_schema *schema = c->schema;
	struct arena tmp;
	struct anc_types at = { .s = schema, .tmp = &tmp };
	int r = MANDATE_OK;

	arena_init(&tmp, 0);
	at.types = arena_calloc(&tmp, schema->n_entity_types + 1,
	    sizeof(*at.types));
	at.n_types = arena_calloc(&tmp, schema->n_entity_types + 1,
	    sizeof(*at.n_types));
	if (at.types == NULL || at.n_types == NULL) {
		r = cedar_jctx_error(c, MANDATE_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < es->n_entities; i++) {
		const struct cedar_entity *e = &es->entities[i];
		const struct cedar_entity_type *et;

		if (cedar_type_is_action(e->uid.type))
			continue;
		et = cedar_schema_entity_type(schema, e->uid.type);
		for (size_t a = 0; et != NULL && a < e->n_ancestors; a++) {
			if (ancestor_type_allowed(&at, et, e->ancestors[a].type))
				continue;
			c->off = entity_off(c, i);
			c->len = 0;
			set_where_uid(c, "entity", &e->uid);
			r = cedar_jctx_error(c, MANDATE_EINVAL,
			    "an ancestor of type `%.*s` is not allowed by the "
			    "schema", (int)e->ancestors[a].type.n,
			    e->ancestors[a].type.p);
			goto out;
		}
	}
out:
	arena_free(&tmp);
	return r;
}

/* With a schema: action entities given in the data must match the
 * schema's declarations (same ancestors, no attributes); the store then
 * holds the data's other entities and the schema's actions.  Called
 * with the data's store indexed and closed. */
static int
merge_schema_actions(struct cedar_jctx *c, struct cedar_entities *es)
{
	struct cedar_entities acts;
	struct cedar_entity *all;
	size_t n = es->n_entities, total, w = 0;
	int r;

	if ((r = schema_actions(c, es, &acts)) != MANDATE_OK)
		return r;
	total = acts.n_entities;
	for (size_t i = 0; i < n; i++) {
		const struct cedar_entity *e = &es->entities[i];
		const struct cedar_entity *d;

		if (!cedar_type_is_action(e->uid.type)) {
			total++;
			continue;
		}
		d = cedar_entities_find(&acts, &e->uid);
		if (d == NULL || !uids_equal(e->ancestors, e->n_ancestors,
		    d->ancestors, d->n_ancestors)) {
			c->off = entity_off(c, i);
			c->len = 0;
			set_where_uid(c, "action", &e->uid);
			return cedar_jctx_error(c, MANDATE_EINVAL,
			    "definition does not match its schema declaration");
		}
	}
	if ((all = arena_calloc(&es->arena, total ? total : 1,
	    sizeof(*all))) == NULL)
		return cedar_jctx_error(c, MANDATE_ENOMEM, "out of memory");
	for (size_t i = 0; i < n; i++)
		if (!cedar_type_is_action(es->entities[i].uid.type))
			all[w++] = es->entities[i];
	for (size_t i = 0; i < acts.n_entities; i++)
		all[w++] = acts.entities[i];
	es->entities = all;
	es->n_entities = w;
	c->off = c->len = 0;
	c->where[0] = '\0';
	return store_index(c, es, &es->arena);
}

/* The store of an entities array already parsed (root), its errors
 * pointing into c's source. */
static int
entities_from_root(struct cedar_jctx *c, const struct ajson *root,
    const struct cedar_schema *schema, struct cedar_entities **out)
{
	struct cedar_entities *es = NULL;
	struct arena arena;
	size_t n;
	int r = MANDATE_EINTERNAL;

	*out = NULL;
	arena_init(&arena, ENT_ARENA_LIMIT);
	if ((es = arena_zalloc(&arena, sizeof(*es))) == NULL) {
		r = cedar_jctx_error(c, MANDATE_ENOMEM, "out of memory");
		goto out;
	}
	if (root->type != AJSON_ARRAY) {
		point_at(c, root);
		r = cedar_jctx_error(c, MANDATE_EINVAL,
		    "entities must be a JSON array, got %s", ajson_kind(root));
		goto out;
	}
	n = root->u.arr.n;
	c->entities_json = root;
	if (n > ENT_MAX_ENTITIES) {
		r = cedar_jctx_error(c, MANDATE_ELIMIT, "too many entities");
		goto out;
	}
	c->a = &arena;
	if (n > 0 && (es->entities = arena_calloc(&arena, n,
	    sizeof(*es->entities))) == NULL) {
		r = cedar_jctx_error(c, MANDATE_ENOMEM, "out of memory");
		goto out;
	}
	es->arena = arena;   /* from here on the store's arena is es->arena */
	c->a = &es->arena;
	for (size_t i = 0; i < n; i++)
		if ((r = parse_entity(c, &root->u.arr.items[i],
		    &es->entities[i])) != MANDATE_OK)
			goto out_store;
	es->n_entities = n;
	c->off = c->len = 0;
	c->where[0] = '\0';
	c->err_entity = SIZE_MAX;
	{
		size_t n_diag = c->dl ? c->dl->n : 0;

		if ((r = store_index(c, es, &es->arena)) != MANDATE_OK ||
		    (r = store_closure(c, es, &es->arena)) != MANDATE_OK) {
			if (c->err_entity != SIZE_MAX)
				locate(c, n_diag, c->err_entity);
			goto out_store;
		}
	}
	if (schema != NULL &&
	    ((r = check_ancestor_types(c, es)) != MANDATE_OK ||
	    (r = merge_schema_actions(c, es)) != MANDATE_OK))
		goto out_store;
	*out = es;
	return MANDATE_OK;
out_store:
	arena = es->arena;
out:
	arena_free(&arena);
	return r;
}

int
cedar_entities_parse_json(const char *src, size_t len, const char *file,
    const struct cedar_schema *schema, struct cedar_entities **out,
    struct diag_list *dl)
{
	struct cedar_jctx c = { .schema = schema, .dl = dl, .file = file,
	    .src = src, .src_len = len };
	const struct ajson *root;
	struct arena dom;   /* the tree dies at the end */
	int r;

	*out = NULL;
	arena_init(&dom, ENT_ARENA_LIMIT);
	if ((root = cedar_json_load(&c, &dom, src, len, &r)) != NULL)
		r = entities_from_root(&c, root, schema, out);
	arena_free(&dom);
	return r;
}

int
cedar_entities_from_tree(const struct ajson *root, const char *src,
    size_t len, const char *file, const struct cedar_schema *schema,
    struct cedar_entities **out, struct diag_list *dl)
{
	struct cedar_jctx c = { .schema = schema, .dl = dl, .file = file,
	    .src = src != NULL ? src : "", .src_len = src != NULL ? len : 0 };

	*out = NULL;
	if (root == NULL)
		return MANDATE_EINVAL;
	if (!cedar_json_tree_fits(root, CEDAR_JSON_DEPTH)) {
		diag_add(dl, MANDATE_ELIMIT, file, NULL, 0, 0, 0,
		    "the entities are nested too deeply");
		return MANDATE_ELIMIT;
	}
	return entities_from_root(&c, root, schema, out);
}

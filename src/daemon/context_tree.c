/*
 * context_tree.c - an evaluation's context between the two JSON trees:
 * the request's util/json.h tree as jansson for the daemon, and the
 * daemon's jansson object as the tree cedar_request_build_tree() takes,
 * so that it is never printed and parsed again (see context_tree.h).
 */
#include <string.h>

#include "daemon/context_tree.h"
#include "util/utf8.h"

#define CTX_TREE_DEPTH 64
#define CTX_TREE_BYTES (8u << 20)
/* jansson's own parser refuses nesting past 2048; stay well inside */
#define CTX_JANSSON_DEPTH 512

static bool
ctx_tree(struct arena *a, json_t *v, struct ajson *out, size_t *bytes,
    int depth)
{
	size_t n;

	memset(out, 0, sizeof(*out));
	if (depth > CTX_TREE_DEPTH || (*bytes += 16) > CTX_TREE_BYTES)
		return false;
	switch (json_typeof(v)) {
	case JSON_NULL:
		out->type = AJSON_NULL;
		return true;
	case JSON_TRUE:
		out->type = AJSON_TRUE;
		return true;
	case JSON_FALSE:
		out->type = AJSON_FALSE;
		return true;
	case JSON_INTEGER:
		out->type = AJSON_NUMBER;
		out->num_int = out->num_fits = true;
		out->u.i = (int64_t)json_integer_value(v);
		return true;
	case JSON_STRING:
		n = json_string_length(v);
		if (utf8_invalid_at(json_string_value(v), n) != n ||
		    (*bytes += n) > CTX_TREE_BYTES)
			return false;
		out->type = AJSON_STRING;
		out->u.s = str_make(json_string_value(v), n);
		return true;
	case JSON_ARRAY: {
		struct ajson *items;
		n = json_array_size(v);
		if ((items = arena_calloc(a, n ? n : 1, sizeof(*items))) ==
		    NULL)
			return false;
		for (size_t i = 0; i < n; i++)
			if (!ctx_tree(a, json_array_get(v, i), &items[i], bytes,
			    depth + 1))
				return false;
		out->type = AJSON_ARRAY;
		out->u.arr.items = items;
		out->u.arr.n = n;
		return true;
	}
	case JSON_OBJECT: {
		struct ajson_member *m;
		size_t i = 0;
		void *it;
		n = json_object_size(v);
		if ((m = arena_calloc(a, n ? n : 1, sizeof(*m))) == NULL)
			return false;
		for (it = json_object_iter(v); it != NULL && i < n;
		    it = json_object_iter_next(v, it), i++) {
			const char *k = json_object_iter_key(it);
			size_t kn = json_object_iter_key_len(it);
			if (utf8_invalid_at(k, kn) != kn ||
			    (*bytes += kn) > CTX_TREE_BYTES ||
			    !ctx_tree(a, json_object_iter_value(it), &m[i].val,
			    bytes, depth + 1))
				return false;
			m[i].key = str_make(k, kn);
		}
		if (i != n || it != NULL)
			return false;
		out->type = AJSON_OBJECT;
		out->u.obj.items = m;
		out->u.obj.n = n;
		return true;
	}
	default:                /* JSON_REAL: not a Cedar value */
		return false;
	}
}

bool
daemon_context_tree(struct arena *a, json_t *ctx, struct ajson *out)
{
	size_t bytes = 0;

	return json_is_object(ctx) && ctx_tree(a, ctx, out, &bytes, 1);
}

static json_t *
to_jansson(const struct ajson *j, int depth)
{
	json_t *v;

	if (depth > CTX_JANSSON_DEPTH)
		return NULL;
	switch (j->type) {
	case AJSON_NULL:
		return json_null();
	case AJSON_TRUE:
		return json_true();
	case AJSON_FALSE:
		return json_false();
	case AJSON_NUMBER:
		/* reals and integers past 64 bits: json_loadb's rules */
		return j->num_int && j->num_fits ?
		    json_integer((json_int_t)j->u.i) : NULL;
	case AJSON_STRING:
		/* json_loadb refuses a NUL without JSON_ALLOW_NUL */
		if (memchr(j->u.s.p, '\0', j->u.s.n) != NULL)
			return NULL;
		return json_stringn(j->u.s.p, j->u.s.n);
	case AJSON_ARRAY:
		if ((v = json_array()) == NULL)
			return NULL;
		for (size_t i = 0; i < j->u.arr.n; i++)
			if (json_array_append_new(v,
			    to_jansson(&j->u.arr.items[i], depth + 1)) != 0) {
				json_decref(v);
				return NULL;
			}
		return v;
	case AJSON_OBJECT:
		if ((v = json_object()) == NULL)
			return NULL;
		for (size_t i = 0; i < j->u.obj.n; i++) {
			const struct ajson_member *m = &j->u.obj.items[i];

			/* a NUL in a key, or a duplicate (json_loadb keeps
			 * the last): the text decides */
			if (memchr(m->key.p, '\0', m->key.n) != NULL ||
			    json_object_setn_new(v, m->key.p, m->key.n,
			    to_jansson(&m->val, depth + 1)) != 0 ||
			    json_object_size(v) != i + 1) {
				json_decref(v);
				return NULL;
			}
		}
		return v;
	default:
		return NULL;
	}
}

bool
daemon_context_jansson(const struct ajson *j, json_t **out)
{
	*out = NULL;
	if (!ajson_is(j, AJSON_OBJECT) && !ajson_is(j, AJSON_ARRAY))
		return false;        /* json_loadb wants '[' or '{' */
	*out = to_jansson(j, 1);
	return *out != NULL;
}

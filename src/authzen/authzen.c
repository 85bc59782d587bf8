/*
 * authzen.c - parsing AuthZEN 1.0 request bodies and the daemon-free
 * parts of their mapping to Cedar (see authzen.h).
 *
 * Every body is parsed strictly (util/json.h: UTF-8, escapes, duplicate
 * keys refused, depth and length bounded) and then read through a few
 * typed getters that write one clear message on the first wrong member.
 * Unknown members are ignored, as the specification asks.
 */
#include <math.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authzen/authzen.h"
#include "util/status.h"

static int
fail(char *err, size_t err_len, int code, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail(char *err, size_t err_len, int code, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && err_len > 0) {
		va_start(ap, fmt);
		vsnprintf(err, err_len, fmt, ap);
		va_end(ap);
	}
	return code;
}

static int
load(struct arena *a, const char *body, size_t len, const struct ajson **root,
    char *err, size_t err_len)
{
	struct ajson_opts o = { AJSON_REJECT_DUPLICATES, AUTHZEN_MAX_DEPTH, 0,
	    "request" };
	struct diag_list dl;
	int r;

	diag_init(&dl);
	if (len == 0)
		return fail(err, err_len, MANDATE_EINVAL, "the request body is "
		    "empty; a JSON object is expected");
	if ((r = ajson_parse(a, body, len, &o, root, &dl)) != MANDATE_OK) {
		if (r == MANDATE_ENOMEM)
			return fail(err, err_len, r, "out of memory");
		return fail(err, err_len, r, "%s", dl.n > 0 ? dl.items[0].msg :
		    "invalid JSON");
	}
	if (!ajson_is(*root, AJSON_OBJECT))
		return fail(err, err_len, MANDATE_EINVAL, "the request body must "
		    "be a JSON object, not %s", ajson_kind(*root));
	return MANDATE_OK;
}

/* A string member: absent is fine (*out stays NULL) unless required. */
static int
get_string(const struct ajson *obj, const char *where, const char *key,
    size_t max, bool required, struct str *out, char *err, size_t err_len)
{
	const struct ajson *v = ajson_get(obj, key);

	*out = STR_NULL;
	if (v == NULL) {
		if (required)
			return fail(err, err_len, MANDATE_EINVAL, "%s.%s is "
			    "required", where, key);
		return MANDATE_OK;
	}
	if (v->type != AJSON_STRING)
		return fail(err, err_len, MANDATE_EINVAL, "%s.%s must be a "
		    "string, not %s", where, key, ajson_kind(v));
	if (v->u.s.n == 0)
		return fail(err, err_len, MANDATE_EINVAL, "%s.%s must not be "
		    "empty", where, key);
	if (v->u.s.n > max)
		return fail(err, err_len, MANDATE_ELIMIT, "%s.%s is longer "
		    "than %zu bytes", where, key, max);
	if (memchr(v->u.s.p, '\0', v->u.s.n) != NULL)
		return fail(err, err_len, MANDATE_EINVAL, "%s.%s must not "
		    "contain NUL", where, key);
	*out = v->u.s;
	return MANDATE_OK;
}

static int
get_object(const struct ajson *obj, const char *where, const char *key,
    const struct ajson **out, char *err, size_t err_len)
{
	const struct ajson *v = ajson_get(obj, key);

	*out = NULL;
	if (v == NULL || v->type == AJSON_NULL)
		return MANDATE_OK;
	if (v->type != AJSON_OBJECT)
		return fail(err, err_len, MANDATE_EINVAL, "%s%s%s must be an "
		    "object, not %s", where, *where ? "." : "", key,
		    ajson_kind(v));
	*out = v;
	return MANDATE_OK;
}

/* subject / resource: need_id false for the searched member, whose id
 * is then ignored (AuthZEN 1.0: "if present, MUST be ignored"). */
static int
parse_entity(const struct ajson *root, const char *key, bool need_id,
    struct authzen_entity *out, char *err, size_t err_len)
{
	const struct ajson *v;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = get_object(root, "", key, &v, err, err_len)) != MANDATE_OK)
		return r;
	if (v == NULL)
		return fail(err, err_len, MANDATE_EINVAL, "%s is required (an "
		    "object with type and id)", key);
	out->present = true;
	if ((r = get_string(v, key, "type", AUTHZEN_MAX_TYPE, true,
	    &out->type, err, err_len)) != MANDATE_OK)
		return r;
	if (!authzen_type_ok(out->type))
		return fail(err, err_len, MANDATE_EINVAL, "%s.type must be a "
		    "Cedar entity type name (identifiers joined by ::)", key);
	if (need_id && (r = get_string(v, key, "id", AUTHZEN_MAX_ID, true,
	    &out->id, err, err_len)) != MANDATE_OK)
		return r;
	return get_object(v, key, "properties", &out->properties, err,
	    err_len);
}

static int
parse_action(const struct ajson *root, bool need_name,
    struct authzen_action *out, char *err, size_t err_len)
{
	const struct ajson *v;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = get_object(root, "", "action", &v, err, err_len)) !=
	    MANDATE_OK)
		return r;
	if (v == NULL) {
		if (need_name)
			return fail(err, err_len, MANDATE_EINVAL, "action is "
			    "required (an object with name)");
		return MANDATE_OK;
	}
	out->present = true;
	if ((r = get_string(v, "action", "name", AUTHZEN_MAX_NAME, need_name,
	    &out->name, err, err_len)) != MANDATE_OK)
		return r;
	return get_object(v, "action", "properties", &out->properties, err,
	    err_len);
}

int
authzen_parse_evaluation(struct arena *a, const char *body, size_t len,
    struct authzen_eval *out, char *err, size_t err_len)
{
	const struct ajson *root;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = load(a, body, len, &root, err, err_len)) != MANDATE_OK)
		return r;
	if ((r = parse_entity(root, "subject", true, &out->subject, err,
	    err_len)) != MANDATE_OK ||
	    (r = parse_action(root, true, &out->action, err, err_len)) !=
	    MANDATE_OK ||
	    (r = parse_entity(root, "resource", true, &out->resource, err,
	    err_len)) != MANDATE_OK)
		return r;
	return get_object(root, "", "context", &out->context, err, err_len);
}

/* A batch member: the item's if it has one, else the default. */
static int
item_entity(const struct ajson *item, const char *key,
    const struct authzen_entity *def, struct authzen_entity *out, char *err,
    size_t err_len)
{
	if (ajson_get(item, key) == NULL) {
		if (!def->present)
			return fail(err, err_len, MANDATE_EINVAL, "%s is "
			    "required (in the item or at the top level)", key);
		*out = *def;
		return MANDATE_OK;
	}
	return parse_entity(item, key, true, out, err, err_len);
}

static int
parse_options(const struct ajson *root, struct authzen_batch *out, char *err,
    size_t err_len)
{
	const struct ajson *o, *v;
	struct str s;
	int r;

	if ((r = get_object(root, "", "options", &o, err, err_len)) !=
	    MANDATE_OK || o == NULL)
		return r;
	if ((r = get_string(o, "options", "evaluations_semantic", 64, false,
	    &s, err, err_len)) != MANDATE_OK)
		return r;
	if (s.p == NULL || str_eq_c(s, "execute_all"))
		out->semantic = AUTHZEN_EXECUTE_ALL;
	else if (str_eq_c(s, "deny_on_first_deny"))
		out->semantic = AUTHZEN_DENY_ON_FIRST_DENY;
	else if (str_eq_c(s, "permit_on_first_permit"))
		out->semantic = AUTHZEN_PERMIT_ON_FIRST_PERMIT;
	else
		return fail(err, err_len, MANDATE_EINVAL, "options."
		    "evaluations_semantic must be execute_all, "
		    "deny_on_first_deny or permit_on_first_permit");
	if ((v = ajson_get(o, "include_context")) != NULL) {
		if (v->type != AJSON_TRUE && v->type != AJSON_FALSE)
			return fail(err, err_len, MANDATE_EINVAL, "options."
			    "include_context must be a boolean, not %s",
			    ajson_kind(v));
		out->include_context = v->type == AJSON_TRUE;
	}
	return MANDATE_OK;
}

int
authzen_parse_evaluations(struct arena *a, const char *body, size_t len,
    struct authzen_batch *out, char *err, size_t err_len)
{
	const struct ajson *root, *items;
	struct authzen_eval def;
	size_t work = 0;
	char ierr[256];
	int r;

	memset(out, 0, sizeof(*out));
	memset(&def, 0, sizeof(def));
	if ((r = load(a, body, len, &root, err, err_len)) != MANDATE_OK)
		return r;
	if ((r = parse_options(root, out, err, err_len)) != MANDATE_OK)
		return r;
	items = ajson_get(root, "evaluations");
	if (items != NULL && items->type != AJSON_NULL &&
	    items->type != AJSON_ARRAY)
		return fail(err, err_len, MANDATE_EINVAL, "evaluations must be "
		    "an array, not %s", ajson_kind(items));
	if (items == NULL || items->type == AJSON_NULL || items->u.arr.n == 0) {
		/* one evaluation, checked as the single endpoint does */
		if ((out->items = arena_zalloc(a, sizeof(*out->items))) == NULL)
			return fail(err, err_len, MANDATE_ENOMEM, "out of "
			    "memory");
		out->n = 1;
		out->single = true;
		if ((r = parse_entity(root, "subject", true,
		    &out->items[0].subject, err, err_len)) != MANDATE_OK ||
		    (r = parse_action(root, true, &out->items[0].action, err,
		    err_len)) != MANDATE_OK ||
		    (r = parse_entity(root, "resource", true,
		    &out->items[0].resource, err, err_len)) != MANDATE_OK)
			return r;
		return get_object(root, "", "context",
		    &out->items[0].context, err, err_len);
	}
	if (items->u.arr.n > AUTHZEN_MAX_BATCH)
		return fail(err, err_len, MANDATE_ELIMIT, "at most %d "
		    "evaluations per request", AUTHZEN_MAX_BATCH);
	/* the defaults: each present one must be well-formed */
	if (ajson_get(root, "subject") != NULL && (r = parse_entity(root,
	    "subject", true, &def.subject, err, err_len)) != MANDATE_OK)
		return r;
	if (ajson_get(root, "resource") != NULL && (r = parse_entity(root,
	    "resource", true, &def.resource, err, err_len)) != MANDATE_OK)
		return r;
	if (ajson_get(root, "action") != NULL && (r = parse_action(root, true,
	    &def.action, err, err_len)) != MANDATE_OK)
		return r;
	if ((r = get_object(root, "", "context", &def.context, err, err_len)) !=
	    MANDATE_OK)
		return r;
	if ((out->items = arena_calloc(a, items->u.arr.n,
	    sizeof(*out->items))) == NULL)
		return fail(err, err_len, MANDATE_ENOMEM, "out of memory");
	out->n = items->u.arr.n;
	for (size_t i = 0; i < out->n; i++) {
		const struct ajson *it = &items->u.arr.items[i];
		struct authzen_eval *e = &out->items[i];

		e->context = def.context;
		ierr[0] = '\0';
		if (it->type != AJSON_OBJECT) {
			fail(ierr, sizeof(ierr), MANDATE_EINVAL, "must be an "
			    "object, not %s", ajson_kind(it));
		} else if (item_entity(it, "subject", &def.subject,
		    &e->subject, ierr, sizeof(ierr)) != MANDATE_OK ||
		    item_entity(it, "resource", &def.resource, &e->resource,
		    ierr, sizeof(ierr)) != MANDATE_OK) {
			/* message in ierr */
		} else if (ajson_get(it, "action") == NULL) {
			if (def.action.present)
				e->action = def.action;
			else
				fail(ierr, sizeof(ierr), MANDATE_EINVAL,
				    "action is required (in the item or at "
				    "the top level)");
		} else {
			parse_action(it, true, &e->action, ierr, sizeof(ierr));
		}
		if (ierr[0] == '\0' && it->type == AJSON_OBJECT)
			get_object(it, "", "context", &e->item_context, ierr,
			    sizeof(ierr));
		if (ierr[0] != '\0') {
			char *m = arena_alloc(a, 300);

			if (m == NULL)
				return fail(err, err_len, MANDATE_ENOMEM,
				    "out of memory");
			snprintf(m, 300, "evaluations[%zu]: %s", i, ierr);
			e->error = m;
		}
		if (e->error == NULL) {
			work += authzen_eval_cost(e);
			if (work > AUTHZEN_MAX_WORK)
				return fail(err, err_len, MANDATE_ELIMIT, "the "
				    "evaluations would evaluate more than %u MiB "
				    "of context and properties (a top-level "
				    "context or default entity counts once per "
				    "item that uses it)", AUTHZEN_MAX_WORK >> 20);
		}
	}
	return MANDATE_OK;
}

static size_t
len_of(const struct ajson *v)
{
	return v != NULL ? v->len : 0;
}

size_t
authzen_eval_cost(const struct authzen_eval *e)
{
	return len_of(e->context) + len_of(e->item_context) +
	    len_of(e->subject.properties) + len_of(e->resource.properties);
}

/*
 * Page tokens: "p", the offset, ".", the limit, ".", 16 hex digits of
 * a hash of the query, ".", and 8 hex check digits (token_check), opaque
 * to callers.  AuthZEN asks a PEP to send the
 * same query with each token and a PDP to refuse a changed one; the hash
 * is how a token tells.  It is FNV-1a over the query's parts, each
 * length-prefixed: not a secret (an offset is nothing a caller could not
 * page to), and the same on every replica and across restarts.
 *
 * The JSON values (properties, context) are hashed as values, not as the
 * bytes sent: a PEP that builds each page's request again may write the
 * members of an object in another order (AuthZEN 1.0, 10.1.1: receivers
 * must not assume an order), with other whitespace or other escapes, and
 * sends the same query all the same.  An object's hash is the sum of its
 * members' hashes, so that it needs no sorting (keys are unique: the body
 * was parsed with duplicates refused); arrays keep their order.  Numbers
 * are their integer value when they have one, else their text.
 */
#define QH_SEED 0xcbf29ce484222325ull

static uint64_t
qh_bytes(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {
		h ^= b[i];
		h *= 0x100000001b3ull;
	}
	return h;
}

static uint64_t
qh_u64(uint64_t h, uint64_t v)
{
	unsigned char b[8];

	for (int i = 0; i < 8; i++)
		b[i] = (unsigned char)(v >> (8 * i));
	return qh_bytes(h, b, sizeof(b));
}

static uint64_t
qh_part(uint64_t h, const char *p, size_t n)
{
	h = qh_u64(h, n);
	return qh_bytes(h, p != NULL ? p : "", n);
}

/* v's value; depth is bounded by the parse (AUTHZEN_MAX_DEPTH). */
static uint64_t
qh_value(uint64_t h, const char *body, const struct ajson *v)
{
	char tag = (char)('a' + v->type);
	uint64_t sum = 0;

	h = qh_bytes(h, &tag, 1);
	switch (v->type) {
	case AJSON_NUMBER:
		if (v->num_fits)
			return qh_u64(qh_bytes(h, "i", 1), (uint64_t)v->u.i);
		return qh_part(h, body + v->off, v->len);
	case AJSON_STRING:
		return qh_part(h, v->u.s.p, v->u.s.n);
	case AJSON_ARRAY:
		h = qh_u64(h, v->u.arr.n);
		for (size_t i = 0; i < v->u.arr.n; i++)
			h = qh_value(h, body, &v->u.arr.items[i]);
		return h;
	case AJSON_OBJECT:
		for (size_t i = 0; i < v->u.obj.n; i++) {
			const struct ajson_member *m = &v->u.obj.items[i];

			sum += qh_value(qh_part(QH_SEED, m->key.p, m->key.n),
			    body, &m->val);
		}
		return qh_u64(qh_u64(h, v->u.obj.n), sum);
	default:   /* null, true, false: the tag says it all */
		return h;
	}
}

static uint64_t
qh_json(uint64_t h, const char *body, const struct ajson *v)
{
	return v != NULL ? qh_value(qh_bytes(h, "+", 1), body, v) :
	    qh_bytes(h, "-", 1);    /* absent: not the same as {} */
}

static uint64_t
query_hash(const char *body, enum authzen_search_kind kind,
    const struct authzen_eval *q)
{
	uint64_t h = QH_SEED;
	char k = (char)('0' + (int)kind);

	h = qh_part(h, &k, 1);
	h = qh_part(h, q->subject.type.p, q->subject.type.n);
	h = qh_part(h, q->subject.id.p, q->subject.id.n);
	h = qh_json(h, body, q->subject.properties);
	h = qh_part(h, q->action.name.p, q->action.name.n);
	h = qh_json(h, body, q->action.properties);
	h = qh_part(h, q->resource.type.p, q->resource.type.n);
	h = qh_part(h, q->resource.id.p, q->resource.id.n);
	h = qh_json(h, body, q->resource.properties);
	return qh_json(h, body, q->context);
}

/* The check digits that end a token: a hash of the text before them
 * (offset, limit and query), so that a token changed in any part (an
 * offset or limit edited, a digit lost) is refused as one this server did
 * not issue, not taken as another page or another page size.  Not a
 * secret either (see above): it tells a token that was changed, not one
 * made by someone who read this code, who could only page where paging
 * would have taken them anyway. */
static uint32_t
token_check(const char *p, size_t n)
{
	uint64_t h = qh_part(qh_bytes(QH_SEED, "t", 1), p, n);

	return (uint32_t)(h ^ h >> 32);
}

void
authzen_page_token(const struct authzen_search *s, size_t offset,
    char *buf, size_t cap)
{
	int n = snprintf(buf, cap, "p%zu.%zu.%016llx", offset, s->limit,
	    (unsigned long long)s->query);

	if (n > 0 && (size_t)n < cap)
		snprintf(buf + n, cap - (size_t)n, ".%08x",
		    (unsigned)token_check(buf, (size_t)n));
}

static bool
token_num(const char **p, const char *end, size_t *out)
{
	size_t v = 0, n = 0;

	for (; *p < end && **p >= '0' && **p <= '9' && n < 10; (*p)++, n++)
		v = v * 10 + (size_t)(**p - '0');
	*out = v;
	return n > 0 && (n == 1 || (*p)[-(ptrdiff_t)n] != '0');
}

/* n lower-case hex digits at *p into *out. */
static bool
token_hex(const char **p, const char *end, size_t n, uint64_t *out)
{
	uint64_t v = 0;

	if (end - *p < (ptrdiff_t)n)
		return false;
	for (size_t i = 0; i < n; i++, (*p)++) {
		int d = **p >= '0' && **p <= '9' ? **p - '0' :
		    **p >= 'a' && **p <= 'f' ? **p - 'a' + 10 : -1;
		if (d < 0)
			return false;
		v = v << 4 | (uint64_t)d;
	}
	*out = v;
	return true;
}

static int
parse_token(struct str t, size_t *offset, size_t *limit, uint64_t *query)
{
	const char *p = t.p + 1, *end = t.p + t.n, *body_end;
	uint64_t check;

	if (t.n < 2 || t.p[0] != 'p' || !token_num(&p, end, offset) ||
	    p >= end || *p++ != '.' || !token_num(&p, end, limit) ||
	    p >= end || *p++ != '.' || end - p != 16 + 1 + 8 ||
	    *limit < 1 || *limit > AUTHZEN_MAX_PAGE ||
	    !token_hex(&p, end, 16, query))
		return MANDATE_EINVAL;
	body_end = p;
	if (*p++ != '.' || !token_hex(&p, end, 8, &check) ||
	    check != token_check(t.p, (size_t)(body_end - t.p)))
		return MANDATE_EINVAL;
	return MANDATE_OK;
}

/* page.limit: a non-negative integer (AuthZEN 1.0), written as one
 * (5) or not (5.0, 5e0); 0 is the default page, more than the most a
 * page holds is that most.  false when v is not one. */
static bool
page_limit(const char *body, const struct ajson *v, size_t *out)
{
	char buf[40], *end;
	double d;

	if (v->type != AJSON_NUMBER)
		return false;
	if (v->num_fits) {
		if (v->u.i < 0)
			return false;
		*out = v->u.i > AUTHZEN_MAX_PAGE ? AUTHZEN_MAX_PAGE :
		    (size_t)v->u.i;
	} else {
		/* a fraction or exponent, or past int64: its value */
		if (v->len >= sizeof(buf))
			return false;
		memcpy(buf, body + v->off, v->len);
		buf[v->len] = '\0';
		d = strtod(buf, &end);
		if (*end != '\0' || !(d >= 0) || isinf(d) || d != floor(d))
			return false;
		*out = d > AUTHZEN_MAX_PAGE ? AUTHZEN_MAX_PAGE : (size_t)d;
	}
	if (*out == 0)
		*out = AUTHZEN_DEFAULT_PAGE;
	return true;
}

int
authzen_parse_search(struct arena *a, const char *body, size_t len,
    enum authzen_search_kind kind, struct authzen_search *out, char *err,
    size_t err_len)
{
	const struct ajson *root, *page, *v;
	struct str tok;
	int r;

	memset(out, 0, sizeof(*out));
	out->limit = AUTHZEN_DEFAULT_PAGE;
	if ((r = load(a, body, len, &root, err, err_len)) != MANDATE_OK)
		return r;
	/* (an action search has no action: one sent is ignored) */
	if ((r = parse_entity(root, "subject", kind != AUTHZEN_SEARCH_SUBJECT,
	    &out->q.subject, err, err_len)) != MANDATE_OK ||
	    (r = parse_entity(root, "resource", kind !=
	    AUTHZEN_SEARCH_RESOURCE, &out->q.resource, err, err_len)) !=
	    MANDATE_OK ||
	    (kind != AUTHZEN_SEARCH_ACTION && (r = parse_action(root, true,
	    &out->q.action, err, err_len)) != MANDATE_OK) ||
	    (r = get_object(root, "", "context", &out->q.context, err,
	    err_len)) != MANDATE_OK ||
	    (r = get_object(root, "", "page", &page, err, err_len)) !=
	    MANDATE_OK)
		return r;
	out->query = query_hash(body, kind, &out->q);
	if (page == NULL)
		return MANDATE_OK;
	if ((r = get_string(page, "page", "token", 64, false, &tok, err,
	    err_len)) != MANDATE_OK)
		return r;
	if ((v = ajson_get(page, "limit")) != NULL &&
	    !page_limit(body, v, &out->limit))
		return fail(err, err_len, MANDATE_EINVAL, "page.limit must be "
		    "a non-negative integer");
	if (tok.p != NULL) {
		size_t limit;
		uint64_t query;

		if (parse_token(tok, &out->offset, &limit, &query) !=
		    MANDATE_OK)
			return fail(err, err_len, MANDATE_EINVAL, "page.token "
			    "is not a token this server issued");
		if (query != out->query || (v != NULL && limit != out->limit))
			return fail(err, err_len, MANDATE_EINVAL, "page.token "
			    "was issued for another query: send the same "
			    "subject, action, resource, context and page.limit "
			    "with each page's token, or start again without "
			    "one");
		out->limit = limit;
	}
	return MANDATE_OK;
}

/* ---- mapping helpers ---- */

static bool
is_reserved(const char *p, size_t n)
{
	static const struct { const char *w; size_t n; } words[] = {
	    { "true", 4 }, { "false", 5 }, { "if", 2 }, { "then", 4 },
	    { "else", 4 }, { "in", 2 }, { "is", 2 }, { "like", 4 },
	    { "has", 3 }, { "permit", 6 }, { "forbid", 6 }, { "when", 4 },
	    { "unless", 6 }, { "__cedar", 7 } };

	if (n < 2 || n > 7)   /* every type segment of every request */
		return false;
	for (size_t i = 0; i < sizeof(words) / sizeof(words[0]); i++)
		if (words[i].n == n && memcmp(words[i].w, p, n) == 0)
			return true;
	return false;
}

bool
authzen_type_ok(struct str s)
{
	size_t i = 0;

	if (s.n == 0 || s.n > AUTHZEN_MAX_TYPE)
		return false;
	for (;;) {
		size_t start = i;
		char c = s.p[i];

		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_'))
			return false;
		for (i++; i < s.n; i++) {
			c = s.p[i];
			if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
			    (c >= '0' && c <= '9') || c == '_'))
				break;
		}
		if (is_reserved(s.p + start, i - start))
			return false;
		if (i == s.n)
			return true;
		if (i + 2 >= s.n || s.p[i] != ':' || s.p[i + 1] != ':')
			return false;
		i += 2;
	}
}

/* Growing text in an arena. */
struct sbuf {
	struct arena *a;
	char *p;
	size_t n, cap;
	bool oom;
};

static void
sb_put(struct sbuf *b, const char *s, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t nc = b->cap ? b->cap : 64;
		char *np;

		while (nc < b->n + n + 1)
			nc *= 2;
		if ((np = arena_realloc(b->a, b->p, b->cap, nc)) == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = nc;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

static void
sb_str(struct sbuf *b, const char *s)
{
	sb_put(b, s, strlen(s));
}

/* Escape for a Cedar string literal or a JSON string: the two agree on
 * \" \\ \n \r \t; other control bytes differ (\u{..} vs \u00XX). */
static void
sb_escaped(struct sbuf *b, struct str s, bool json)
{
	size_t run = 0;

	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		char esc[12];

		if (c >= 0x20 && c != '"' && c != '\\' && c != 0x7f)
			continue;
		sb_put(b, s.p + run, i - run);
		run = i + 1;
		switch (c) {
		case '"': sb_str(b, "\\\""); break;
		case '\\': sb_str(b, "\\\\"); break;
		case '\n': sb_str(b, "\\n"); break;
		case '\r': sb_str(b, "\\r"); break;
		case '\t': sb_str(b, "\\t"); break;
		default:
			snprintf(esc, sizeof(esc), json ? "\\u%04x" :
			    "\\u{%x}", c);
			sb_str(b, esc);
		}
	}
	sb_put(b, s.p + run, s.n - run);
}

char *
authzen_cedar_uid(struct arena *a, struct str type, struct str id)
{
	struct sbuf b = { a, NULL, 0, 0, false };

	sb_put(&b, type.p, type.n);
	sb_str(&b, "::\"");
	sb_escaped(&b, id, false);
	sb_str(&b, "\"");
	return b.oom ? NULL : b.p;
}

char *
authzen_json_string(struct arena *a, struct str s)
{
	struct sbuf b = { a, NULL, 0, 0, false };

	sb_str(&b, "\"");
	sb_escaped(&b, s, true);
	sb_str(&b, "\"");
	return b.oom ? NULL : b.p;
}

int
authzen_entities_add(struct arena *a, const char *body,
    const struct authzen_entity *e, char **buf, size_t *len)
{
	struct sbuf b = { a, *buf, *len, *buf ? *len + 1 : 0, false };

	sb_str(&b, b.n == 0 ? "[{\"uid\":{\"type\":" : ",{\"uid\":{\"type\":");
	sb_str(&b, "\"");
	sb_escaped(&b, e->type, true);
	sb_str(&b, "\",\"id\":\"");
	sb_escaped(&b, e->id, true);
	sb_str(&b, "\"},\"attrs\":");
	if (e->properties != NULL)
		sb_put(&b, body + e->properties->off, e->properties->len);
	else
		sb_str(&b, "{}");
	sb_str(&b, ",\"parents\":[]}");
	if (b.oom)
		return MANDATE_ENOMEM;
	*buf = b.p;
	*len = b.n;
	return MANDATE_OK;
}

/* A string node made here (no span in the body). */
static void
tree_string(struct ajson *n, struct str v)
{
	memset(n, 0, sizeof(*n));
	n->type = AJSON_STRING;
	n->u.s = v.p != NULL ? v : STR_LIT("");
}

static void
tree_member(struct ajson_member *m, const char *key, size_t key_n)
{
	memset(m, 0, sizeof(*m));
	m->key = str_make(key, key_n);
}

int
authzen_entity_tree(struct arena *a, const struct authzen_entity *e,
    struct ajson *out)
{
	struct ajson_member *top, *uid;

	memset(out, 0, sizeof(*out));
	if ((top = arena_calloc(a, 3, sizeof(*top))) == NULL ||
	    (uid = arena_calloc(a, 2, sizeof(*uid))) == NULL)
		return MANDATE_ENOMEM;
	tree_member(&uid[0], "type", 4);
	tree_string(&uid[0].val, e->type);
	tree_member(&uid[1], "id", 2);
	tree_string(&uid[1].val, e->id);
	tree_member(&top[0], "uid", 3);
	top[0].val.type = AJSON_OBJECT;
	top[0].val.u.obj.items = uid;
	top[0].val.u.obj.n = 2;
	tree_member(&top[1], "attrs", 5);
	if (e->properties != NULL)
		top[1].val = *e->properties;
	else
		top[1].val.type = AJSON_OBJECT;
	tree_member(&top[2], "parents", 7);
	top[2].val.type = AJSON_ARRAY;
	out->type = AJSON_OBJECT;
	out->u.obj.items = top;
	out->u.obj.n = 3;
	return MANDATE_OK;
}

char *
authzen_entities_close(struct arena *a, char *buf, size_t len)
{
	struct sbuf b = { a, buf, len, buf ? len + 1 : 0, false };

	sb_str(&b, b.n == 0 ? "[]" : "]");
	return b.oom ? NULL : b.p;
}

/* ---- responses ---- */

json_t *
authzen_decision_json(bool decision, bool with_context, const char *id,
    json_t *policies, json_t *errors)
{
	json_t *empty = NULL, *j;

	if (!with_context)
		return json_pack("{s:b}", "decision", decision);
	if ((policies == NULL || errors == NULL) &&
	    (empty = json_array()) == NULL)
		return NULL;
	j = json_pack("{s:b,s:{s:s,s:{s:O,s:O}}}", "decision", decision,
	    "context", "id", id != NULL ? id : "", "reason_admin", "policies",
	    policies != NULL ? policies : empty, "errors",
	    errors != NULL ? errors : empty);
	json_decref(empty);
	return j;
}

json_t *
authzen_search_item(enum authzen_search_kind kind, struct str type,
    struct str id)
{
	if (kind == AUTHZEN_SEARCH_ACTION)
		return json_pack("{s:s%}", "name", id.p, id.n);
	return json_pack("{s:s%,s:s%}", "type", type.p, type.n, "id", id.p,
	    id.n);
}

/* The page first, as AuthZEN 1.0 recommends (The Search API Response),
 * with its count, so that a PEP can size what follows before reading it
 * (jansson writes members in the order they were added). */
json_t *
authzen_search_page(json_t *results, const char *next_token)
{
	return json_pack("{s:{s:s,s:I},s:O}", "page", "next_token",
	    next_token != NULL ? next_token : "", "count",
	    (json_int_t)json_array_size(results), "results", results);
}

json_t *
authzen_metadata_json(const char *pdp, const char *base)
{
	return json_pack("{s:s,s:s+,s:s+,s:s+,s:s+,s:s+}",
	    "policy_decision_point", pdp,
	    "access_evaluation_endpoint", base, "/access/v1/evaluation",
	    "access_evaluations_endpoint", base, "/access/v1/evaluations",
	    "search_subject_endpoint", base, "/access/v1/search/subject",
	    "search_resource_endpoint", base, "/access/v1/search/resource",
	    "search_action_endpoint", base, "/access/v1/search/action");
}

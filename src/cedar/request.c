/*
 * request.c - authorization requests: building them from uids and a
 * context JSON object (or one JSON request object), and Cedar's request
 * validation against a schema (the action is declared, principal and
 * resource types are in its appliesTo, the context conforms to its
 * context type, enumerated entities use declared ids).
 *
 * With a schema the context is parsed against the action's declared
 * context type (so an extension value may be written as a bare string);
 * validation is a separate, optional step as in the reference.
 */
#include <string.h>

#include "entities_int.h"

int
cedar_json_context(struct cedar_jctx *c, const struct ajson *j,
    const struct cedar_uid *action, struct cedar_value *out)
{
	const struct cedar_type *t = NULL;
	int r;

	memset(out, 0, sizeof(*out));
	c->lenient = true;
	c->off = j->off;
	c->len = j->len;
	if (j->type != AJSON_OBJECT)
		return cedar_jctx_error(c, MANDATE_EINVAL,
		    "the context must be a JSON object");
	if (c->schema != NULL) {
		const struct cedar_action_decl *d =
		    cedar_schema_action(c->schema, action);
		char id[128];

		if (d == NULL)
			return cedar_jctx_error(c, MANDATE_EINVAL,
			    "action `%.*s::\"%s\"` is not declared in the "
			    "schema, so its context cannot be parsed",
			    (int)action->type.n, action->type.p,
			    cedar_ej_printable(action->id, 40, id, sizeof(id)));
		t = d->context;
	}
	r = cedar_json_value(c, j, t, out, 0);
	c->off = j->off;
	c->len = j->len;
	if (r == MANDATE_OK && out->kind != CV_RECORD)
		r = cedar_jctx_error(c, MANDATE_EINVAL,
		    "the context must be a record");
	return r;
}

int
cedar_context_parse_json(struct arena *a, const char *src, size_t len,
    const struct cedar_schema *schema, const struct cedar_uid *action,
    struct cedar_value *out, struct diag_list *dl)
{
	struct cedar_jctx c = { .a = a, .schema = schema, .dl = dl,
	    .src = src, .src_len = len };
	const struct ajson *j;
	struct arena dom;   /* the tree dies here; out lives in a */
	int r;

	memset(out, 0, sizeof(*out));
	arena_init(&dom, a->limit);
	if ((j = cedar_json_load(&c, &dom, src, len, &r)) != NULL)
		r = cedar_json_context(&c, j, action, out);
	if (dom.exhausted)
		a->exhausted = 1;     /* the input was too large */
	arena_free(&dom);
	if (r != MANDATE_OK)
		memset(out, 0, sizeof(*out));
	return r;
}

static bool
type_in(struct str t, const struct str *list, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (str_eq(list[i], t))
			return true;
	return false;
}

static int
check_var(const struct cedar_schema *s, const char *what,
    const struct cedar_uid *u, const struct str *allowed, size_t n_allowed,
    struct diag_list *dl)
{
	char id[128];

	if (cedar_schema_entity_type(s, u->type) == NULL) {
		diag_add(dl, MANDATE_EVALIDATE, NULL, NULL, 0, 0, 0,
		    "%s type `%.*s` is not declared in the schema", what,
		    (int)u->type.n, u->type.p);
		return MANDATE_EVALIDATE;
	}
	if (!type_in(u->type, allowed, n_allowed)) {
		diag_add(dl, MANDATE_EVALIDATE, NULL, NULL, 0, 0, 0,
		    "%s type `%.*s` is not valid for the request's action",
		    what, (int)u->type.n, u->type.p);
		return MANDATE_EVALIDATE;
	}
	if (!cedar_ej_enum_ok(s, u)) {
		diag_add(dl, MANDATE_EVALIDATE, NULL, NULL, 0, 0, 0,
		    "%s `%.*s::\"%s\"` is not a declared value of its "
		    "enumerated type", what, (int)u->type.n, u->type.p,
		    cedar_ej_printable(u->id, 40, id, sizeof(id)));
		return MANDATE_EVALIDATE;
	}
	return MANDATE_OK;
}

int
cedar_request_check(const struct cedar_schema *s,
    const struct cedar_request *req, struct diag_list *dl)
{
	static const struct cedar_type empty = { .kind = CT_RECORD };
	const struct cedar_action_decl *d;
	char why[DIAG_MSG_MAX - 40];
	int r = MANDATE_OK;

	if (s == NULL)
		return MANDATE_OK;
	if ((d = cedar_schema_action(s, &req->action)) == NULL) {
		char id[128];

		diag_add(dl, MANDATE_EVALIDATE, NULL, NULL, 0, 0, 0,
		    "request's action `%.*s::\"%s\"` is not declared in the "
		    "schema", (int)req->action.type.n, req->action.type.p,
		    cedar_ej_printable(req->action.id, 40, id, sizeof(id)));
		return MANDATE_EVALIDATE;
	}
	if (check_var(s, "principal", &req->principal, d->principal_types,
	    d->n_principal_types, dl) != MANDATE_OK)
		r = MANDATE_EVALIDATE;
	if (check_var(s, "resource", &req->resource, d->resource_types,
	    d->n_resource_types, dl) != MANDATE_OK)
		r = MANDATE_EVALIDATE;
	why[0] = '\0';
	if (req->context.kind != CV_RECORD) {
		diag_add(dl, MANDATE_EVALIDATE, NULL, NULL, 0, 0, 0,
		    "the context is not a record");
		r = MANDATE_EVALIDATE;
	} else if (!cedar_value_conforms(s, &req->context,
	    d->context ? d->context : &empty, why, sizeof(why), 0)) {
		diag_add(dl, MANDATE_EVALIDATE, NULL, NULL, 0, 0, 0,
		    "the context does not conform to the action's context "
		    "type: %s", why);
		r = MANDATE_EVALIDATE;
	}
	return r;
}

int
cedar_request_parse_json(struct arena *a, const char *json, size_t len,
    const struct cedar_schema *schema, bool validate,
    struct cedar_request **out, struct diag_list *dl)
{
	static const char *const vars[] = { "request principal: ",
	    "request action: ", "request resource: " };
	static const char *const keys[] = { "principal", "action",
	    "resource" };
	struct cedar_jctx c = { .a = a, .schema = schema, .dl = dl,
	    .src = json, .src_len = len };
	struct cedar_request *req = NULL;
	const struct ajson *root, *ctx;
	struct arena dom;
	int r;

	*out = NULL;
	/* the tree in an arena of its own, so that the request's arena
	 * holds only the request (which may be kept and used many times) */
	arena_init(&dom, a->limit);
	if ((root = cedar_json_load(&c, &dom, json, len, &r)) == NULL)
		goto out;
	c.off = root->off;
	c.len = root->len;
	if (root->type != AJSON_OBJECT) {
		r = cedar_jctx_error(&c, MANDATE_EINVAL,
		    "a request must be a JSON object");
		goto out;
	}
	if ((req = arena_zalloc(a, sizeof(*req))) == NULL) {
		r = cedar_jctx_error(&c, MANDATE_ENOMEM, "out of memory");
		goto out;
	}
	for (size_t i = 0; i < 3; i++) {
		struct cedar_uid *u = i == 0 ? &req->principal :
		    i == 1 ? &req->action : &req->resource;
		const struct ajson *j = ajson_get(root, keys[i]);

		/* (no snprintf: this is on every request's path) */
		memcpy(c.where, vars[i], strlen(vars[i]) + 1);
		c.off = root->off;
		c.len = root->len;
		if (j == NULL) {
			r = cedar_jctx_error(&c, MANDATE_EINVAL, "missing");
			goto out;
		}
		if ((r = cedar_json_uid(&c, j, u)) != MANDATE_OK)
			goto out;
	}
	memcpy(c.where, "request context: ", sizeof("request context: "));
	if ((ctx = ajson_get(root, "context")) == NULL) {
		req->context.kind = CV_RECORD;
	} else if ((r = cedar_json_context(&c, ctx, &req->action,
	    &req->context)) != MANDATE_OK) {
		goto out;
	}
	if (validate && (r = cedar_request_check(schema, req, dl)) !=
	    MANDATE_OK)
		goto out;
	*out = req;
	r = MANDATE_OK;
out:
	if (dom.exhausted)
		a->exhausted = 1;
	arena_free(&dom);
	return r;
}

int
cedar_uid_check(const char *text, size_t len, struct diag_list *dl)
{
	struct arena a;
	struct cedar_uid uid;
	int r;

	arena_init(&a, 0);
	r = cedar_parse_uid(&a, text, len, &uid, dl);
	arena_free(&a);
	return r;
}

/* The request's three uids. */
static int
request_uids(struct arena *a, const char *principal, const char *action,
    const char *resource, struct cedar_request **out, struct diag_list *dl)
{
	struct cedar_request *req;
	int r;

	*out = NULL;
	if (principal == NULL || action == NULL || resource == NULL) {
		diag_add(dl, MANDATE_EINVAL, NULL, NULL, 0, 0, 0,
		    "a request needs a principal, an action and a resource");
		return MANDATE_EINVAL;
	}
	if ((req = arena_zalloc(a, sizeof(*req))) == NULL)
		return MANDATE_ENOMEM;
	if ((r = cedar_parse_uid(a, principal, strlen(principal),
	    &req->principal, dl)) != MANDATE_OK ||
	    (r = cedar_parse_uid(a, action, strlen(action), &req->action,
	    dl)) != MANDATE_OK ||
	    (r = cedar_parse_uid(a, resource, strlen(resource),
	    &req->resource, dl)) != MANDATE_OK)
		return r;
	*out = req;
	return MANDATE_OK;
}

/* With its context: checked against the schema when asked, then out. */
static int
request_done(struct cedar_request *req, const struct cedar_schema *schema,
    bool validate, struct cedar_request **out, struct diag_list *dl)
{
	int r;

	if (validate && (r = cedar_request_check(schema, req, dl)) !=
	    MANDATE_OK)
		return r;
	*out = req;
	return MANDATE_OK;
}

int
cedar_request_build(struct arena *a, const char *principal,
    const char *action, const char *resource, const char *context_json,
    const struct cedar_schema *schema, bool validate,
    struct cedar_request **out, struct diag_list *dl)
{
	struct cedar_request *req;
	int r;

	*out = NULL;
	if ((r = request_uids(a, principal, action, resource, &req, dl)) !=
	    MANDATE_OK)
		return r;
	if (context_json == NULL || context_json[0] == '\0')
		req->context.kind = CV_RECORD;
	else if ((r = cedar_context_parse_json(a, context_json,
	    strlen(context_json), schema, &req->action, &req->context,
	    dl)) != MANDATE_OK)
		return r;
	return request_done(req, schema, validate, out, dl);
}

int
cedar_request_build_tree(struct arena *a, const char *principal,
    const char *action, const char *resource, const struct ajson *context,
    const struct cedar_schema *schema, bool validate,
    struct cedar_request **out, struct diag_list *dl)
{
	struct cedar_request *req;
	int r;

	*out = NULL;
	if ((r = request_uids(a, principal, action, resource, &req, dl)) !=
	    MANDATE_OK)
		return r;
	if (context == NULL) {
		req->context.kind = CV_RECORD;
	} else {
		struct cedar_jctx c = { .a = a, .schema = schema, .dl = dl,
		    .src = "", .src_len = 0 };

		if (!cedar_json_tree_fits(context, CEDAR_JSON_DEPTH - 1)) {
			diag_add(dl, MANDATE_ELIMIT, NULL, NULL, 0, 0, 0,
			    "the context is nested too deeply");
			return MANDATE_ELIMIT;
		}
		if ((r = cedar_json_context(&c, context, &req->action,
		    &req->context)) != MANDATE_OK) {
			memset(&req->context, 0, sizeof(req->context));
			return r;
		}
	}
	return request_done(req, schema, validate, out, dl);
}

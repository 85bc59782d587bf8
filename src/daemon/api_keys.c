/*
 * api_keys.c - the signing-key API over HTTP.
 *
 *   GET  /v1/keys          our signing keys: kid, state, times
 *   POST /v1/keys/rotate   start a rotation (publish, then sign)
 *
 * Both authenticate the caller and ask the policies (actions
 * mandate:list_keys and mandate:rotate_keys on SigningKeys::"default").
 * A rotation puts a new key in the JWKS at once; it signs only after
 * tokens.publish_delay, and the key it replaces stays published for
 * tokens.rotation_overlap more, so that its tokens verify until they
 * expire (src/sts).  Every rotation, allowed or not, is audited.
 */
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "daemon/daemon_int.h"
#include "sts/sts.h"
#include "util/status.h"

#define KEYS_RESOURCE_TYPE "SigningKeys"
#define KEYS_RESOURCE_ID   "default"

static const char *const key_state_names[] = { "next", "active",
    "retired" };

static void
keys_server_error(struct daemon *d, struct http_request *req,
    const char *what, int r)
{
	daemon_log(d, DLOG_ERROR, "request %s: %s: %s", req->request_id, what,
	    mandate_strerror(r));
	http_respond_error(req, 500, "server_error", NULL);
}

/* Authenticate and authorize; 1 to go on, 0 after answering.  *allowed_by
 * (may be NULL) gets the permitting policies (json_decref it). */
static int
keys_allowed(struct daemon *d, struct http_request *req, const char *action,
    struct api_caller *caller, json_t **allowed_by)
{
	json_t *reasons = NULL, *ctx;
	bool allow = false;

	if (!api_authenticate(d, req, caller))
		return 0;
	if ((ctx = json_object()) == NULL) {
		keys_server_error(d, req, "keys", MANDATE_ENOMEM);
		return 0;
	}
	api_decide(d, req, caller->principal, action, KEYS_RESOURCE_TYPE,
	    STR_LIT(KEYS_RESOURCE_ID), ctx, &allow, &reasons);
	if (!allow) {
		if (strcmp(action, "mandate:rotate_keys") == 0)
			api_audit(d, req, "keys.rotate_denied", STR_NULL, STR_NULL,
			    json_pack("{s:s,s:O?}", "by", caller->principal,
			    "policies", reasons));
		http_respond_error(req, 403, "access_denied",
		    "the policies do not allow this");
	}
	if (allow && allowed_by != NULL)
		*allowed_by = reasons;
	else
		json_decref(reasons);
	return allow ? 1 : 0;
}

static json_t *
keys_json(struct daemon *d, struct http_request *req, int *status)
{
	struct store_key *keys = NULL;
	struct str active = STR_NULL;
	size_t n = 0;
	json_t *arr, *o;
	int r;

	*status = MANDATE_OK;
	if ((r = store_key_list(d->store, req->arena, &keys, &n)) !=
	    MANDATE_OK || (r = sts_keys_active_kid(d->sts, req->arena,
	    &active)) != MANDATE_OK) {
		*status = r;
		return NULL;
	}
	if ((arr = json_array()) == NULL)
		goto nomem;
	for (size_t i = 0; i < n; i++) {
		const struct store_key *k = &keys[i];
		json_t *e;

		e = json_pack("{s:s%,s:s%,s:s,s:I}", "kid", k->kid.p, k->kid.n,
		    "alg", k->alg.p, k->alg.n, "state", k->state >= 0 &&
		    k->state <= 2 ? key_state_names[k->state] : "unknown",
		    "created_at", (json_int_t)k->created_at);
		if (e == NULL)
			goto nomem_arr;
		if (k->state == STORE_KEY_NEXT)
			json_object_set_new(e, "signs_from", json_integer(
			    (json_int_t)(k->created_at +
			    (int64_t)d->cfg->tokens.publish_delay)));
		if (k->activated_at != 0)
			json_object_set_new(e, "activated_at",
			    json_integer((json_int_t)k->activated_at));
		if (k->retire_after != 0)
			json_object_set_new(e, "published_until",
			    json_integer((json_int_t)k->retire_after));
		json_array_append_new(arr, e);
	}
	o = json_pack("{s:s%,s:o}", "active_kid", active.p, active.n, "keys",
	    arr);
	if (o == NULL)
		goto nomem;
	return o;
nomem_arr:
	json_decref(arr);
nomem:
	*status = MANDATE_ENOMEM;
	return NULL;
}

static void
h_list(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	struct api_caller caller;
	json_t *body;
	int r;

	if (!keys_allowed(d, req, "mandate:list_keys", &caller, NULL))
		return;
	/* bring the states up to date before showing them */
	sts_keys_tick(d->sts, (int64_t)time(NULL));
	if ((body = keys_json(d, req, &r)) == NULL) {
		keys_server_error(d, req, "key list", r);
		return;
	}
	http_respond_json(req, 200, body);
}

static void
h_rotate(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	struct api_caller caller;
	struct str kid = STR_NULL, prev = STR_NULL;
	int64_t now = (int64_t)time(NULL);
	json_t *body, *reasons = NULL;
	int r;

	if (!keys_allowed(d, req, "mandate:rotate_keys", &caller, &reasons))
		goto out;
	if (req->body.n != 0) {
		http_respond_error(req, 400, "invalid_request",
		    "this request takes no body");
		goto out;
	}
	sts_keys_tick(d->sts, now);
	if ((r = sts_keys_active_kid(d->sts, req->arena, &prev)) !=
	    MANDATE_OK) {
		keys_server_error(d, req, "active key", r);
		goto out;
	}
	r = sts_keys_rotate(d->sts, now, req->arena, &kid);
	if (r == MANDATE_EINVAL) {
		http_respond_error(req, 409, "conflict", "a rotation is already "
		    "in progress, or the keys are explicit files "
		    "(tokens.key_files)");
		goto out;
	}
	if (r != MANDATE_OK) {
		keys_server_error(d, req, "sts_keys_rotate", r);
		goto out;
	}
	daemon_log(d, DLOG_INFO, "signing key %.*s published by %s; it signs "
	    "in %llu s", (int)kid.n, kid.p, caller.principal,
	    (unsigned long long)d->cfg->tokens.publish_delay);
	if (api_audit(d, req, "keys.rotated", STR_NULL, STR_NULL, json_pack(
	    "{s:s,s:s%,s:s%,s:I,s:O?}", "by", caller.principal, "kid", kid.p,
	    kid.n, "previous_kid", prev.p, prev.n, "signs_from",
	    (json_int_t)(now + (int64_t)d->cfg->tokens.publish_delay),
	    "policies", reasons)) != MANDATE_OK) {
		/* the key is published but cannot be undone safely; say so */
		http_respond_error(req, 500, "server_error", NULL);
		goto out;
	}
	if ((body = keys_json(d, req, &r)) == NULL) {
		keys_server_error(d, req, "key list", r);
		goto out;
	}
	json_object_set_new(body, "kid", json_stringn(kid.p, kid.n));
	json_object_set_new(body, "signs_from", json_integer((json_int_t)(now +
	    (int64_t)d->cfg->tokens.publish_delay)));
	http_respond_json(req, 200, body);
out:
	json_decref(reasons);
}

int
api_keys_register(struct daemon *d, struct http_server *srv)
{
	int r;

	if ((r = http_server_route(srv, "GET", "/v1/keys", h_list, d)) !=
	    MANDATE_OK ||
	    (r = http_server_route(srv, "POST", "/v1/keys/rotate", h_rotate,
	    d)) != MANDATE_OK)
		return r;
	return MANDATE_OK;
}

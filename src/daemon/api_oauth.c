/*
 * api_oauth.c - the OAuth endpoints over HTTP, mapped to src/sts.
 *
 *   POST /oauth2/token       RFC 8693 token exchange (+ DPoP, RFC 9449)
 *   POST /oauth2/introspect  RFC 7662, authenticated callers only
 *   POST /oauth2/revoke      RFC 7009
 *   GET  /.well-known/jwks.json
 *   GET  /.well-known/oauth-authorization-server   (RFC 8414)
 *   GET  /v1/credential      the agent's own view of a Mandate credential
 *
 * This file only moves bytes: form decoding, identity verification of the
 * subject and actor tokens, the DPoP proof, and the answer of the sts
 * module with the headers OAuth requires (Cache-Control: no-store).
 * Every refusal says as little as the RFCs allow; the log says why.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include "daemon/daemon_int.h"
#include "identity/identity.h"
#include "jose/jose.h"
#include "sts/sts.h"
#include "util/status.h"

#define FORM_MAX_PAIRS 64
#define FORM_MAX_FIELD (32u * 1024)   /* tokens, authorization_details */

static void
count_token(struct daemon *d, const char *result)
{
	const char *v[1] = { result };
	http_series_add(http_metric_series(d->m_tokens, v), 1);
}

static void
no_store(struct http_request *req)
{
	http_response_header(req, "Cache-Control", "no-store");
	http_response_header(req, "Pragma", "no-cache");
}

/* The form body of a POST; 1 with *form, or 0 after answering 400/415. */
static int
read_form(struct http_request *req, struct http_form *form)
{
	if (!http_require_content_type(req,
	    "application/x-www-form-urlencoded"))
		return 0;
	if (http_form_parse(req->arena, req->body.p, req->body.n,
	    FORM_MAX_PAIRS, FORM_MAX_FIELD, form) != MANDATE_OK) {
		no_store(req);
		http_respond_error(req, 400, "invalid_request",
		    "malformed form body");
		return 0;
	}
	return 1;
}

/* Single-valued parameters must not repeat (RFC 6749 section 3.2). */
static int
single(struct http_request *req, const struct http_form *form,
    const char *const *names, size_t n)
{
	for (size_t i = 0; i < n; i++)
		if (http_form_count(form, names[i]) > 1) {
			no_store(req);
			http_respond_error(req, 400, "invalid_request",
			    "a parameter is repeated");
			return 0;
		}
	return 1;
}

/* Every value of a repeatable parameter, in the arena; -1 past max. */
static long
all_values(struct http_request *req, const struct http_form *form,
    const char *name, size_t max, const struct str **out)
{
	size_t n = http_form_count(form, name), k = 0;
	struct str *v;

	*out = NULL;
	if (n == 0)
		return 0;
	if (n > max)
		return -1;
	if ((v = arena_calloc(req->arena, n, sizeof(*v))) == NULL)
		return -1;
	for (size_t i = 0; i < form->n_pairs; i++)
		if (str_eq_c(form->pairs[i].name, name))
			v[k++] = form->pairs[i].value;
	*out = v;
	return (long)k;
}

/* Our public URL of an endpoint: the issuer followed by path. */
static struct str
endpoint_url(struct daemon *d, struct http_request *req, const char *path)
{
	const char *iss = d->cfg->tokens.issuer;
	size_t n = strlen(iss);
	char *buf;

	if (n > 0 && iss[n - 1] == '/')
		n--;
	if ((buf = arena_alloc(req->arena, n + strlen(path) + 1)) == NULL)
		return STR_NULL;
	memcpy(buf, iss, n);
	memcpy(buf + n, path, strlen(path) + 1);
	return str_c(buf);
}

/* A refusal before the exchange itself (bad subject or actor token, bad
 * DPoP proof) is audited here; sts_exchange audits the others.  The
 * refusal stands whatever the audit's outcome. */
static void
audit_refusal(struct daemon *d, struct http_request *req, const char *error,
    const char *what, const char *why)
{
	api_audit(d, req, "token.refused", STR_NULL, STR_NULL, json_pack(
	    "{s:s,s:s,s:s}", "error", error, "refused", what, "reason",
	    why ? why : ""));
}

static int
verify_token(struct daemon *d, struct http_request *req, struct str tok,
    const char *what, struct sts_principal *out)
{
	struct identity_principal pr;
	enum identity_reason why = IDENTITY_R_INTERNAL;

	if (d->idv == NULL || identity_verify_jwt(d->idv, tok.p, tok.n,
	    (int64_t)time(NULL), req->arena, &pr, &why) != MANDATE_OK) {
		const char *reason = d->idv == NULL ?
		    "no identity issuers configured" : identity_reason_str(why);

		daemon_log(d, DLOG_WARN, "request %s: %s refused: %s",
		    req->request_id, what, reason);
		audit_refusal(d, req, "invalid_request", what, reason);
		return 0;
	}
	out->sub = pr.subject;
	out->iss = pr.issuer_name;
	out->spiffe = pr.kind == IDENTITY_KIND_SPIFFE;
	return 1;
}

/* An issuance written by the audit log's writer while the worker goes
 * on (sync audit mode): the answer, which carries the token, waits for
 * the credential row and its record to be durable, and is a
 * server_error instead if they cannot be (the token was never issued). */
struct issue_ctx {
	struct daemon *d;
	struct http_request *req;
	struct http_hold *hold;
	const char *request_id;
	struct str agent, task_id;
};

static void
issue_done(void *arg, int status, int64_t id)
{
	struct issue_ctx *ic = arg;

	(void)id;
	if (status != MANDATE_OK) {
		struct daemon *d = ic->d;

		daemon_log(d, DLOG_ERROR, "request %s: token exchange: the "
		    "credential or its audit record could not be written: %s; "
		    "answered server_error", ic->request_id,
		    mandate_strerror(status));
		count_token(d, "error");
		daemon_audit(d, ic->request_id, "token.refused", ic->agent,
		    ic->task_id, json_pack("{s:s%,s:s,s:s}", "task_id",
		    ic->task_id.p, ic->task_id.n, "error", "server_error",
		    "reason", "credential or audit write failed"));
	}
	http_release(ic->hold, status == MANDATE_OK);   /* ic is gone */
}

static int
issue_start(void *arg, const struct store_credential *c,
    const struct store_audit_event *e)
{
	struct issue_ctx *ic = arg;
	int r;

	if ((ic->hold = http_hold(ic->req)) == NULL)
		return MANDATE_EINTERNAL;
	ic->agent = c->agent;
	ic->task_id = c->task_id;
	if ((r = audit_issue_async(ic->d->audit, c, e, issue_done, ic)) !=
	    MANDATE_OK)
		http_release(ic->hold, true);  /* sts_exchange refuses */
	return r;
}

static void
h_token(struct http_request *req, void *arg)
{
	static const char *const singles[] = { "grant_type", "subject_token",
	    "subject_token_type", "actor_token", "actor_token_type",
	    "requested_token_type", "scope", "authorization_details",
	    "client_id" };
	struct daemon *d = arg;
	struct http_form form;
	struct sts_exchange_req er;
	struct sts_principal actor;
	struct sts_result res;
	struct str subject_token, actor_token;
	const char *proof = http_request_header(req, "DPoP");
	char jkt[JOSE_THUMBPRINT_LEN + 1];
	long na, nr;
	int64_t now = (int64_t)time(NULL);
	int r;

	if (!read_form(req, &form) ||
	    !single(req, &form, singles, sizeof(singles) / sizeof(singles[0])))
		return;
	memset(&er, 0, sizeof(er));
	er.grant_type = http_form_get(&form, "grant_type");
	er.subject_token_type = http_form_get(&form, "subject_token_type");
	er.requested_token_type = http_form_get(&form, "requested_token_type");
	er.actor_token_type = http_form_get(&form, "actor_token_type");
	er.scope = http_form_get(&form, "scope");
	er.authorization_details = http_form_get(&form,
	    "authorization_details");
	er.request_id = str_c(req->request_id);
	er.now = now;
	na = all_values(req, &form, "audience", STS_MAX_AUDIENCES,
	    &er.audience);
	nr = all_values(req, &form, "resource", STS_MAX_AUDIENCES,
	    &er.resource);
	no_store(req);
	if (na < 0 || nr < 0) {
		http_respond_error(req, 400, "invalid_target",
		    "too many audience or resource values");
		return;
	}
	er.n_audience = (size_t)na;
	er.n_resource = (size_t)nr;

	subject_token = http_form_get(&form, "subject_token");
	if (subject_token.n == 0) {
		http_respond_error(req, 400, "invalid_request",
		    "subject_token is required");
		return;
	}
	/* RFC 8693 2.2.2: an invalid subject or actor token is
	 * invalid_request; nothing more is said. */
	if (!verify_token(d, req, subject_token, "subject_token",
	    &er.subject)) {
		count_token(d, "refused");
		http_respond_error(req, 400, "invalid_request",
		    "the subject_token is not acceptable");
		return;
	}
	actor_token = http_form_get(&form, "actor_token");
	if (actor_token.p != NULL) {
		er.has_actor_token = true;
		if (!verify_token(d, req, actor_token, "actor_token", &actor)) {
			count_token(d, "refused");
			http_respond_error(req, 400, "invalid_request",
			    "the actor_token is not acceptable");
			return;
		}
		er.actor = &actor;
	}
	if (proof != NULL) {
		const char *why = NULL;
		struct str htu = endpoint_url(d, req, "/oauth2/token");

		if (htu.p == NULL || sts_dpop_verify(d->sts, str_c(proof),
		    STR_LIT("POST"), htu, STR_NULL, now, jkt, &why) !=
		    MANDATE_OK) {
			char nonce[STS_DPOP_NONCE_LEN + 1];

			daemon_log(d, DLOG_WARN, "request %s: DPoP proof refused: "
			    "%s", req->request_id, why ? why : "error");
			audit_refusal(d, req, "invalid_dpop_proof", "dpop",
			    why ? why : "error");
			count_token(d, "refused");
			if (why != NULL && sts_dpop_reason_is_nonce(why) &&
			    sts_dpop_nonce(d->sts, now, nonce) == MANDATE_OK) {
				http_response_header(req, "DPoP-Nonce", nonce);
				http_respond_error(req, 400, "use_dpop_nonce",
				    "use the DPoP-Nonce header's nonce");
				return;
			}
			http_respond_error(req, 400, "invalid_dpop_proof",
			    "the DPoP proof is not acceptable");
			return;
		}
		/* in the arena: a held issuance writes it after we return */
		er.dpop_jkt = arena_strdup(req->arena, jkt, strlen(jkt));
		if (er.dpop_jkt.p == NULL) {
			http_respond_error(req, 500, "server_error", NULL);
			return;
		}
	}

	if (d->cfg->logging.audit != CONFIG_AUDIT_ASYNC) {
		static const char fail[] = "{\"error\":\"server_error\","
		    "\"error_description\":\"temporarily unavailable\"}";
		struct issue_ctx *ic = arena_calloc(req->arena, 1,
		    sizeof(*ic));

		if (ic != NULL && http_hold_fallback(req, 500,
		    "application/json", fail, sizeof(fail) - 1) ==
		    MANDATE_OK) {
			ic->d = d;
			ic->req = req;
			ic->request_id = req->request_id;
			er.issue = issue_start;
			er.issue_arg = ic;
		}
	}
	memset(&res, 0, sizeof(res));
	r = sts_exchange(d->sts, &er, req->arena, &res);
	if (r != MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "request %s: token exchange: %s (%s)",
		    req->request_id, mandate_strerror(r),
		    res.reason ? res.reason : "-");
		count_token(d, "error");
		http_respond_error(req, 500, "server_error", NULL);
		return;
	}
	if (res.error != NULL)
		daemon_log(d, DLOG_INFO, "request %s: token refused: %s (%s)",
		    req->request_id, res.error, res.reason ? res.reason : "-");
	count_token(d, res.error == NULL ? "issued" : "refused");
	http_respond(req, (unsigned)res.http_status, "application/json",
	    res.body.p, res.body.n);
}

static void
h_introspect(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	struct api_caller caller;
	struct http_form form;
	struct str body, token;
	int r;

	if (!api_authenticate(d, req, &caller) || !read_form(req, &form))
		return;
	no_store(req);
	token = http_form_get(&form, "token");
	if (token.n == 0 || http_form_count(&form, "token") > 1) {
		http_respond_error(req, 400, "invalid_request",
		    "exactly one token is required");
		return;
	}
	if ((r = sts_introspect(d->sts, token, (int64_t)time(NULL),
	    req->arena, &body)) != MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "request %s: introspection: %s",
		    req->request_id, mandate_strerror(r));
		http_respond_error(req, r == MANDATE_EIO ? 503 : 500,
		    "server_error", NULL);
		return;
	}
	http_respond(req, 200, "application/json", body.p, body.n);
}

static void
h_revoke(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	struct http_form form;
	struct str token;
	bool revoked = false;
	int r;

	if (!read_form(req, &form))
		return;
	no_store(req);
	token = http_form_get(&form, "token");
	if (token.n == 0 || http_form_count(&form, "token") > 1) {
		http_respond_error(req, 400, "invalid_request",
		    "exactly one token is required");
		return;
	}
	if ((r = sts_revoke(d->sts, token, (int64_t)time(NULL), &revoked)) !=
	    MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "request %s: revocation: %s",
		    req->request_id, mandate_strerror(r));
		http_respond_error(req, 503, "temporarily_unavailable", NULL);
		return;
	}
	if (revoked)
		count_token(d, "revoked");
	http_respond(req, 200, NULL, NULL, 0);
}

static void
h_jwks(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	struct str body;

	if (sts_keys_jwks_json(d->sts, req->arena, &body) != MANDATE_OK) {
		http_respond_error(req, 503, "temporarily_unavailable", NULL);
		return;
	}
	http_response_header(req, "Cache-Control", "max-age=60");
	http_respond(req, 200, "application/jwk-set+json", body.p, body.n);
}

static void
h_metadata(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	struct str body;

	if (sts_metadata_json(d->sts, req->arena, &body) != MANDATE_OK) {
		http_respond_error(req, 500, "server_error", NULL);
		return;
	}
	http_response_header(req, "Cache-Control", "max-age=300");
	http_respond(req, 200, "application/json", body.p, body.n);
}

/*
 * GET /v1/credential: an agent presents its Mandate access token, as a
 * resource server would see it (`Authorization: Bearer <token>`, or
 * `Authorization: DPoP <token>` plus a `DPoP` proof for a bound token), and
 * learns what it grants: agent, task, actions, expiry.  Everything a
 * resource server checks is checked here, so this is also how a client
 * finds out its credential is dead (task ended, revoked, agent killed).
 * Failures: 401 with an RFC 6750 / RFC 9449 WWW-Authenticate and nothing
 * about which check failed; the log says which.
 */
static void
h_credential(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	const char *authz = http_request_header(req, "Authorization");
	const char *proof = http_request_header(req, "DPoP");
	struct sts_verified v;
	const char *reason = NULL;
	struct str token = STR_NULL, htu;
	bool dpop_scheme = false;
	int r;

	no_store(req);
	if (authz != NULL && strncasecmp(authz, "Bearer ", 7) == 0) {
		token = str_c(authz + 7);
	} else if (authz != NULL && strncasecmp(authz, "DPoP ", 5) == 0) {
		token = str_c(authz + 5);
		dpop_scheme = true;
	}
	while (token.n > 0 && token.p[0] == ' ') {
		token.p++;
		token.n--;
	}
	if (token.n == 0) {
		http_response_header(req, "WWW-Authenticate",
		    "Bearer realm=\"mandate\", DPoP algs=\"ES256 EdDSA\"");
		http_respond_error(req, 401, "invalid_request",
		    "an access token is required");
		return;
	}
	htu = endpoint_url(d, req, "/v1/credential");
	r = sts_verify_access_token(d->sts, token, STR_NULL,
	    proof != NULL ? str_c(proof) : STR_NULL, STR_LIT("GET"), htu,
	    (int64_t)time(NULL), req->arena, &v, &reason);
	if (r == MANDATE_OK && v.jkt.n > 0 && !dpop_scheme) {
		/* RFC 9449 section 7.1: a bound token uses the DPoP scheme */
		r = MANDATE_EINVAL;
		reason = "DPoP-bound token presented with the Bearer scheme";
	}
	if (r != MANDATE_OK) {
		daemon_log(d, DLOG_INFO, "request %s: credential refused: %s",
		    req->request_id, reason ? reason : mandate_strerror(r));
		if (r == MANDATE_EIO) {
			http_respond_error(req, 503, "temporarily_unavailable",
			    NULL);
			return;
		}
		http_response_header(req, "WWW-Authenticate", dpop_scheme ?
		    "DPoP realm=\"mandate\", error=\"invalid_token\", "
		    "algs=\"ES256 EdDSA\"" :
		    "Bearer realm=\"mandate\", error=\"invalid_token\"");
		http_respond_error(req, 401, "invalid_token", NULL);
		return;
	}
	/* the claims, as the token carries them */
	http_respond(req, 200, "application/json", v.payload.p, v.payload.n);
}

int
api_oauth_register(struct daemon *d, struct http_server *srv)
{
	int r;

	if ((r = http_server_route(srv, "POST", "/oauth2/token", h_token,
	    d)) != MANDATE_OK ||
	    (r = http_server_route(srv, "POST", "/oauth2/introspect",
	    h_introspect, d)) != MANDATE_OK ||
	    (r = http_server_route(srv, "POST", "/oauth2/revoke", h_revoke,
	    d)) != MANDATE_OK ||
	    (r = http_server_route(srv, "GET", "/.well-known/jwks.json",
	    h_jwks, d)) != MANDATE_OK ||
	    (r = http_server_route(srv, "GET",
	    "/.well-known/oauth-authorization-server", h_metadata, d)) !=
	    MANDATE_OK ||
	    (r = http_server_route(srv, "GET", "/v1/credential",
	    h_credential, d)) != MANDATE_OK)
		return r;
	return MANDATE_OK;
}

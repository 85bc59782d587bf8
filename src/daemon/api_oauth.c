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

/* The form body of a POST (introspection, revocation); 1 with *form, or
 * 0 after answering 400 invalid_request (RFC 6749 5.2, as RFC 7662 and
 * RFC 7009 ask: an OAuth client reads the error, so not a 415). */
static int
read_form(struct http_request *req, struct http_form *form)
{
	if (!http_content_type_is(req, "application/x-www-form-urlencoded")) {
		no_store(req);
		http_respond_error(req, 400, "invalid_request", "the body must "
		    "be application/x-www-form-urlencoded");
		return 0;
	}
	if (http_form_parse(req->arena, req->body.p, req->body.n,
	    FORM_MAX_PAIRS, FORM_MAX_FIELD, form) != MANDATE_OK) {
		no_store(req);
		http_respond_error(req, 400, "invalid_request",
		    "malformed form body");
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

/* The URLs a DPoP proof's htu may name for this request (RFC 9449 4.3:
 * "the HTTP URI value for the HTTP request in which the JWT was
 * received"), as the space-separated list sts_dpop_verify takes: the
 * endpoint as advertised (tokens.issuer followed by path), and the URL
 * actually requested on our origin when it differs (with a path in the
 * issuer, a client may call the root directly, or the path through a
 * proxy that maps it to the root).  The origin is the issuer's, never
 * the Host header's: a proof made for another server must not pass for
 * ours by naming its host. */
static struct str
proof_htus(struct daemon *d, struct http_request *req, const char *path)
{
	struct str base, origin, ipath;
	size_t pn = strlen(path), n;
	char *buf;

	api_issuer_parts(d->cfg->tokens.issuer, &base, &origin, &ipath);
	n = base.n + pn + 1 + origin.n + req->path.n + 1;
	if ((buf = arena_alloc(req->arena, n)) == NULL)
		return STR_NULL;
	memcpy(buf, base.p, base.n);
	memcpy(buf + base.n, path, pn);
	n = base.n + pn;
	if (!(origin.n + req->path.n == n && memcmp(buf, origin.p,
	    origin.n) == 0 && memcmp(buf + origin.n, req->path.p,
	    req->path.n) == 0)) {
		buf[n++] = ' ';
		memcpy(buf + n, origin.p, origin.n);
		n += origin.n;
		memcpy(buf + n, req->path.p, req->path.n);
		n += req->path.n;
	}
	buf[n] = '\0';
	return str_make(buf, n);
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

/* A refusal of the token endpoint before sts_exchange: logged, audited,
 * counted (mandate_tokens_total{result="refused"}) and answered 400,
 * like the refusals sts_exchange makes. */
static void
token_refuse_status(struct daemon *d, struct http_request *req,
    unsigned status, const char *error, const char *desc, const char *what,
    const char *why)
{
	daemon_log(d, DLOG_INFO, "request %s: token refused: %s (%s: %s)",
	    req->request_id, error, what, why);
	audit_refusal(d, req, error, what, why);
	count_token(d, "refused");
	no_store(req);
	http_respond_error(req, status, error, desc);
}

static void
token_refuse(struct daemon *d, struct http_request *req, const char *error,
    const char *desc, const char *what, const char *why)
{
	token_refuse_status(d, req, 400, error, desc, what, why);
}

/*
 * Client authentication, which the token endpoint does not take
 * (token_endpoint_auth_methods_supported: none; the subject token
 * authenticates the agent): 1 after refusing it, 0 when none was sent.
 * Ignoring it would issue a token to a client that believes it
 * authenticated.  RFC 6749 5.2: invalid_client, for an "unsupported
 * authentication method"; one sent in the Authorization header gets a
 * 401 whose WWW-Authenticate names the scheme the client used (Basic
 * unless it sent a well-formed other one).  client_secret and
 * client_assertion in the body (client_secret_post, private_key_jwt)
 * get a 400.
 */
static int
refuse_client_auth(struct daemon *d, struct http_request *req,
    const struct http_form *form)
{
	static const char desc[] = "this endpoint takes no client "
	    "authentication: the subject_token authenticates the client";
	const char *authz = http_request_header(req, "Authorization");

	if (authz != NULL) {
		char challenge[64];
		size_t n = strcspn(authz, " ");
		const char *scheme = "Basic";

		/* an RFC 9110 token, short enough to echo */
		if (n > 0 && n <= 32 && strspn(authz, "abcdefghijklmnopqrstuvwxyz"
		    "ABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~") >= n)
			scheme = authz;
		else
			n = 5;
		snprintf(challenge, sizeof challenge, "%.*s realm=\"mandate\"",
		    (int)n, scheme);
		http_response_header(req, "WWW-Authenticate", challenge);
		token_refuse_status(d, req, 401, "invalid_client", desc,
		    "request", "client authentication in the Authorization "
		    "header");
		return 1;
	}
	if (http_form_count(form, "client_secret") > 0 ||
	    http_form_count(form, "client_assertion") > 0) {
		token_refuse(d, req, "invalid_client", desc, "request",
		    "client authentication in the body");
		return 1;
	}
	return 0;
}

/* From a verified token's claims, what sts_exchange needs to know of
 * its presenter (struct sts_principal): its DPoP binding (cnf.jkt), a
 * cnf it cannot check, an act claim.  0 when the claims, which the
 * identity module parsed already, cannot be parsed (no memory). */
static int
presenter_claims(struct arena *a, struct str claims_json,
    struct sts_principal *out)
{
	struct ajson_opts o = { .flags = AJSON_REJECT_DUPLICATES,
	    .max_depth = 64 };
	const struct ajson *claims = NULL, *cnf, *jkt;

	out->cnf_jkt = STR_NULL;
	out->cnf_other = false;
	out->delegated = false;
	if (claims_json.n == 0)           /* an X.509-SVID: no claims */
		return 1;
	if (ajson_parse(a, claims_json.p, claims_json.n, &o, &claims, NULL) !=
	    MANDATE_OK || !ajson_is(claims, AJSON_OBJECT))
		return 0;
	out->delegated = ajson_get(claims, "act") != NULL;
	if ((cnf = ajson_get(claims, "cnf")) == NULL)
		return 1;
	jkt = ajson_get(cnf, "jkt");
	if (ajson_is(cnf, AJSON_OBJECT) && cnf->u.obj.n == 1 &&
	    ajson_is(jkt, AJSON_STRING) && jkt->u.s.n == JOSE_THUMBPRINT_LEN)
		out->cnf_jkt = jkt->u.s;
	else
		out->cnf_other = true;
	return 1;
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
	/* the open loopback caller is nobody's subject: as an actor it
	 * would pass for the delegator of every task it created */
	if (str_eq_c(pr.subject, DAEMON_LOOPBACK_CALLER)) {
		const char *reason = "subject " DAEMON_LOOPBACK_CALLER " is "
		    "reserved for the open loopback caller";

		daemon_log(d, DLOG_WARN, "request %s: %s refused: %s",
		    req->request_id, what, reason);
		audit_refusal(d, req, "invalid_request", what, reason);
		return 0;
	}
	out->sub = pr.subject;
	out->iss = pr.issuer_name;
	out->spiffe = pr.kind == IDENTITY_KIND_SPIFFE;
	if (!presenter_claims(req->arena, pr.claims_json, out)) {
		daemon_log(d, DLOG_ERROR, "request %s: %s: its claims cannot "
		    "be read again", req->request_id, what);
		audit_refusal(d, req, "invalid_request", what,
		    "claims unreadable");
		return 0;
	}
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
	struct str grant, subject_token, actor_token;
	const char *proof = http_request_header(req, "DPoP");
	char jkt[JOSE_THUMBPRINT_LEN + 1];
	long na, nr;
	int64_t now = (int64_t)time(NULL);
	int r;

	/* RFC 6749 5.2: a request the endpoint cannot read is
	 * invalid_request (not 415: an OAuth client reads the error) */
	if (!http_content_type_is(req, "application/x-www-form-urlencoded")) {
		token_refuse(d, req, "invalid_request", "the body must be "
		    "application/x-www-form-urlencoded", "request",
		    "content type");
		return;
	}
	if (http_form_parse(req->arena, req->body.p, req->body.n,
	    FORM_MAX_PAIRS, FORM_MAX_FIELD, &form) != MANDATE_OK) {
		token_refuse(d, req, "invalid_request", "malformed form body",
		    "request", "form body");
		return;
	}
	for (size_t i = 0; i < sizeof(singles) / sizeof(singles[0]); i++)
		if (http_form_count(&form, singles[i]) > 1) {
			token_refuse(d, req, "invalid_request",
			    "a parameter is repeated", "request", singles[i]);
			return;
		}
	/* the grant type first (docs/sts.md, check 1): nothing else of a
	 * request for another grant is looked at, and no DPoP proof is
	 * used up by it */
	grant = http_form_get(&form, "grant_type");
	if (grant.n == 0) {
		token_refuse(d, req, "invalid_request", "grant_type is "
		    "required", "request", "no grant_type");
		return;
	}
	if (!str_eq_c(grant, STS_GRANT_TOKEN_EXCHANGE)) {
		token_refuse(d, req, "unsupported_grant_type", "grant_type "
		    "must be token-exchange", "request", "grant_type");
		return;
	}
	if (http_request_header_count(req, "Authorization") > 1) {
		token_refuse(d, req, "invalid_request", "more than one "
		    "Authorization header", "request", "Authorization repeated");
		return;
	}
	/* RFC 9449 4.3, check 1: not more than one DPoP header */
	if (http_request_header_count(req, "DPoP") > 1) {
		token_refuse(d, req, "invalid_dpop_proof", "more than one "
		    "DPoP header", "dpop", "DPoP header repeated");
		return;
	}
	if (refuse_client_auth(d, req, &form))
		return;
	memset(&er, 0, sizeof(er));
	memset(&actor, 0, sizeof(actor));
	er.grant_type = grant;
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
	if (na < 0 || nr < 0) {
		token_refuse(d, req, "invalid_target", "too many audience or "
		    "resource values", "request", "audience count");
		return;
	}
	er.n_audience = (size_t)na;
	er.n_resource = (size_t)nr;

	subject_token = http_form_get(&form, "subject_token");
	if (subject_token.n == 0) {
		token_refuse(d, req, "invalid_request", "subject_token is "
		    "required", "subject_token", "no subject_token");
		return;
	}
	no_store(req);
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
		struct str htu = proof_htus(d, req, "/oauth2/token");

		/* charged to the verified subject, by issuer: a hijacked
		 * agent's proofs fill its own share of the replay cache */
		size_t on = er.subject.iss.n + 1 + er.subject.sub.n;
		char *owner = arena_alloc(req->arena, on);

		if (owner == NULL) {
			http_respond_error(req, 500, "server_error", NULL);
			return;
		}
		if (er.subject.iss.n > 0)
			memcpy(owner, er.subject.iss.p, er.subject.iss.n);
		owner[er.subject.iss.n] = '\0';
		if (er.subject.sub.n > 0)
			memcpy(owner + er.subject.iss.n + 1, er.subject.sub.p,
			    er.subject.sub.n);
		if (htu.p == NULL ||
		    sts_dpop_verify(d->sts, str_c(proof), STR_LIT("POST"), htu,
		    STR_NULL, str_make(owner, on), now, jkt, &why) !=
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

/*
 * RFC 7009.  A revocation that took effect is audited (token.revoked,
 * with what the token named: never the token) in its own commit, before
 * the 200 (sts_revoke), so a crash cannot leave a revocation the log
 * lacks.  When that record cannot be written the revocation stands
 * alone (it only takes access away, and undoing it would give access
 * back) and, unless the record can then be written on its own, the
 * answer is 500; a store that cannot revoke at all is a 503.  A
 * revocation that changes nothing (a token that is not ours or is
 * invalid, one already revoked or whose credential is no longer stored)
 * is a 200 as RFC 7009 2.2 asks, and is not recorded: it neither decides
 * nor changes anything, and the endpoint takes no authentication that a
 * refusal record could name.
 */
static void
h_revoke(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	struct http_form form;
	struct sts_revocation rev;
	struct str token;
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
	r = sts_revoke(d->sts, token, str_c(req->request_id),
	    (int64_t)time(NULL), req->arena, &rev);
	if (r != MANDATE_OK && !rev.revoked) {
		daemon_log(d, DLOG_ERROR, "request %s: revocation: %s",
		    req->request_id, mandate_strerror(r));
		http_respond_error(req, 503, "temporarily_unavailable", NULL);
		return;
	}
	if (rev.revoked && rev.unrecorded && (r != MANDATE_OK ||
	    api_audit(d, req, "token.revoked", rev.sub, rev.task_id,
	    json_pack("{s:s%,s:I,s:s%}", "jti", rev.jti.p, rev.jti.n, "exp",
	    (json_int_t)rev.exp, "task_id", rev.task_id.p, rev.task_id.n)) !=
	    MANDATE_OK)) {
		/* revoked alone: the revocation stands (it only takes
		 * access away), the answer says the record is missing */
		count_token(d, "revoked");
		daemon_log(d, DLOG_ERROR, "request %s: credential %.*s "
		    "revoked, but its audit record could not be written: "
		    "answered server_error", req->request_id,
		    (int)rev.jti.n, rev.jti.p ? rev.jti.p : "");
		http_respond_error(req, 500, "server_error", NULL);
		return;
	}
	if (rev.revoked) {
		/* revoked and recorded (r is only the copies' failure) */
		count_token(d, "revoked");
		daemon_log(d, DLOG_INFO, "request %s: credential %.*s of task "
		    "%.*s revoked", req->request_id, (int)rev.jti.n,
		    rev.jti.p ? rev.jti.p : "", (int)rev.task_id.n,
		    rev.task_id.p ? rev.task_id.p : "");
	}
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

/* WWW-Authenticate of /v1/credential (RFC 6750 3, RFC 9449 7.1): both
 * schemes with our algorithms, and the error when there is one (none
 * when no credential was presented: RFC 6750 3.1). */
static void
credential_challenge(struct daemon *d, struct http_request *req,
    const char *error)
{
	char buf[256];

	if (error == NULL)
		snprintf(buf, sizeof(buf), "Bearer realm=\"mandate\", DPoP "
		    "realm=\"mandate\", algs=\"%s\"", sts_dpop_algs(d->sts));
	else
		snprintf(buf, sizeof(buf), "DPoP realm=\"mandate\", "
		    "error=\"%s\", algs=\"%s\"", error,
		    sts_dpop_algs(d->sts));
	http_response_header(req, "WWW-Authenticate", buf);
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
	int64_t now = (int64_t)time(NULL);
	int r;

	no_store(req);
	if (http_request_header_count(req, "Authorization") > 1) {
		daemon_log(d, DLOG_INFO, "request %s: credential refused: "
		    "Authorization repeated", req->request_id);
		http_response_header(req, "WWW-Authenticate",
		    "Bearer realm=\"mandate\", error=\"invalid_request\"");
		http_respond_error(req, 400, "invalid_request",
		    "more than one Authorization header");
		return;
	}
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
		credential_challenge(d, req, NULL);
		http_respond_error(req, 401, "unauthorized",
		    "an access token is required");
		return;
	}
	/* RFC 9449 4.3, check 1: not more than one DPoP header */
	if (http_request_header_count(req, "DPoP") > 1) {
		daemon_log(d, DLOG_INFO, "request %s: credential refused: DPoP "
		    "header repeated", req->request_id);
		credential_challenge(d, req, "invalid_dpop_proof");
		http_respond_error(req, 401, "invalid_dpop_proof", NULL);
		return;
	}
	htu = proof_htus(d, req, "/v1/credential");
	if (htu.p == NULL) {
		http_respond_error(req, 500, "server_error", NULL);
		return;
	}
	r = sts_verify_access_token(d->sts, token, STR_NULL,
	    proof != NULL ? str_c(proof) : STR_NULL, STR_LIT("GET"), htu,
	    now, req->arena, &v, &reason);
	if (r == MANDATE_OK && v.jkt.n > 0 && !dpop_scheme) {
		/* RFC 9449 section 7.1: a bound token uses the DPoP scheme */
		r = MANDATE_EINVAL;
		reason = "DPoP-bound token presented with the Bearer scheme";
	} else if (r == MANDATE_OK && v.jkt.n == 0 && dpop_scheme) {
		/* ... and the DPoP scheme is for bound tokens only: a bearer
		 * token with a proof beside it is not bound by it */
		r = MANDATE_EINVAL;
		reason = "bearer token presented with the DPoP scheme";
	}
	if (r != MANDATE_OK) {
		char nonce[STS_DPOP_NONCE_LEN + 1];

		daemon_log(d, DLOG_INFO, "request %s: credential refused: %s",
		    req->request_id, reason ? reason : mandate_strerror(r));
		if (r == MANDATE_EIO) {
			http_respond_error(req, 503, "temporarily_unavailable",
			    NULL);
			return;
		}
		/* RFC 9449 9: the resource server asks for a nonce with 401
		 * use_dpop_nonce and a fresh DPoP-Nonce */
		if (reason != NULL && sts_dpop_reason_is_nonce(reason) &&
		    sts_dpop_nonce(d->sts, now, nonce) == MANDATE_OK) {
			http_response_header(req, "DPoP-Nonce", nonce);
			credential_challenge(d, req, "use_dpop_nonce");
			http_respond_error(req, 401, "use_dpop_nonce",
			    "use the DPoP-Nonce header's nonce");
			return;
		}
		if (dpop_scheme)
			credential_challenge(d, req, "invalid_token");
		else
			http_response_header(req, "WWW-Authenticate",
			    "Bearer realm=\"mandate\", "
			    "error=\"invalid_token\"");
		http_respond_error(req, 401, "invalid_token", NULL);
		return;
	}
	/* the claims, as the token carries them */
	http_respond(req, 200, "application/json", v.payload.p, v.payload.n);
}

static const struct api_route oauth_routes[] = {
	{ "POST", "/oauth2/token", h_token },
	{ "POST", "/oauth2/introspect", h_introspect },
	{ "POST", "/oauth2/revoke", h_revoke },
	{ "GET", "/.well-known/jwks.json", h_jwks },
	/* not advertised, but under the issuer's path too: a proof's htu
	 * may name it there (proof_htus), and a proxy that maps only the
	 * path must reach it */
	{ "GET", "/v1/credential", h_credential },
};

int
api_oauth_register(struct daemon *d, struct http_server *srv)
{
	int r;

	for (size_t i = 0; i < sizeof(oauth_routes) / sizeof(oauth_routes[0]);
	    i++)
		if ((r = http_server_route(srv, oauth_routes[i].method,
		    oauth_routes[i].path, oauth_routes[i].fn, d)) !=
		    MANDATE_OK)
			return r;
	if ((r = http_server_route(srv, "GET",
	    "/.well-known/oauth-authorization-server", h_metadata, d)) !=
	    MANDATE_OK)
		return r;
	/* RFC 8414 3: with a path in the issuer, the metadata is at
	 * /.well-known/oauth-authorization-server/<path>, and the endpoints
	 * it advertises (under the path) answer */
	return api_register_under_issuer(d, srv, oauth_routes,
	    sizeof(oauth_routes) / sizeof(oauth_routes[0]),
	    "/.well-known/oauth-authorization-server", h_metadata, "OAuth");
}

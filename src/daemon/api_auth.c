/*
 * api_auth.c - who is calling the API: one function for every endpoint
 * that needs an authenticated caller.
 *
 * In order: a bearer token (Authorization: Bearer, RFC 6750) verified by
 * the identity module against api_auth.bearer_issuers (and
 * bearer_subjects when set); else a TLS client certificate (X.509-SVID)
 * whose SPIFFE ID is one of api_auth.mtls_identities; else, with
 * api_auth.open_on_loopback, a request from the loopback interface is the
 * development caller "dev:loopback".  Anything else is 401 with
 * WWW-Authenticate; the client learns only that authentication failed,
 * the log says which check did.
 *
 * The caller is a bare name (a task's delegator, a decision's caller,
 * the Cedar principal Delegator::"<name>"), so names must not collide
 * across kinds and issuers: a SPIFFE ID only ever comes from a SPIFFE
 * issuer of its trust domain (the identity module refuses an OIDC sub
 * spelled spiffe:, docs/configuration.md); a person of an OIDC issuer
 * is its subject_prefix + sub, the principal the identity module makes,
 * so that the same sub from two issuers is two callers (and
 * api_auth.bearer_subjects lists principals in that form); and a
 * verified token whose principal is LOOPBACK_CALLER is refused, so that
 * no issuer can mint the open loopback caller.
 */
#include <string.h>
#include <strings.h>
#include <time.h>

#include "daemon/daemon_int.h"
#include "identity/identity.h"
#include "util/status.h"

#define LOOPBACK_CALLER DAEMON_LOOPBACK_CALLER

static bool
is_loopback(const char *addr)
{
	return addr != NULL && (strncmp(addr, "127.", 4) == 0 ||
	    strcmp(addr, "::1") == 0 || strncmp(addr, "::ffff:127.", 11) == 0);
}

static bool
in_list(const struct config_strlist *l, struct str s)
{
	for (size_t i = 0; i < l->n; i++)
		if (str_eq_c(s, l->v[i]))
			return true;
	return false;
}

static int
fail(struct daemon *d, struct http_request *req, bool presented,
    const char *why)
{
	if (presented)
		daemon_log(d, DLOG_WARN, "request %s: authentication failed: %s",
		    req->request_id, why);
	http_response_header(req, "WWW-Authenticate", presented ?
	    "Bearer realm=\"mandate\", error=\"invalid_token\"" :
	    "Bearer realm=\"mandate\"");
	http_respond_error(req, 401, presented ? "invalid_token" :
	    "unauthorized", presented ? "authentication failed" :
	    "authentication required");
	return 0;
}

static int
accept_principal(struct http_request *req, const struct identity_principal
    *pr, struct api_caller *out)
{
	out->principal = arena_strdup(req->arena, pr->subject.p,
	    pr->subject.n).p;
	out->kind = pr->kind == IDENTITY_KIND_SPIFFE ? "spiffe" : "oidc";
	out->issuer = arena_strdup(req->arena, pr->issuer_name.p,
	    pr->issuer_name.n).p;
	return out->principal != NULL && out->issuer != NULL;
}

int
api_authenticate(struct daemon *d, struct http_request *req,
    struct api_caller *out)
{
	const struct config_api_auth *aa = &d->cfg->api_auth;
	const char *authz = http_request_header(req, "Authorization");
	struct identity_principal pr;
	enum identity_reason why = IDENTITY_R_INTERNAL;
	int64_t now = (int64_t)time(NULL);

	memset(out, 0, sizeof(*out));
	if (authz != NULL) {
		const char *tok;
		bool issuer_ok = false;

		/* another scheme (Basic: a client secret) is no token at
		 * all: RFC 6750 3.1 asks for the challenge without an error
		 * code when a client "attempted using an unsupported
		 * authentication method"; the log says what came */
		if (strncasecmp(authz, "Bearer ", 7) != 0) {
			daemon_log(d, DLOG_WARN, "request %s: authentication "
			    "failed: not a Bearer credential", req->request_id);
			return fail(d, req, false, NULL);
		}
		for (tok = authz + 7; *tok == ' '; tok++)
			;
		if (d->idv == NULL || identity_verify_jwt(d->idv, tok,
		    strlen(tok), now, req->arena, &pr, &why) != MANDATE_OK)
			return fail(d, req, true, d->idv == NULL ?
			    "no identity issuers" : identity_reason_str(why));
		for (size_t i = 0; i < aa->bearer_issuers.n; i++)
			issuer_ok = issuer_ok || str_eq_c(pr.issuer_name,
			    aa->bearer_issuers.v[i]);
		if (!issuer_ok)
			return fail(d, req, true, "issuer not in "
			    "api_auth.bearer_issuers");
		if (str_eq_c(pr.subject, LOOPBACK_CALLER))
			return fail(d, req, true, "subject " LOOPBACK_CALLER
			    " is reserved for the open loopback caller");
		if (aa->bearer_subjects.n > 0 &&
		    !in_list(&aa->bearer_subjects, pr.subject))
			return fail(d, req, true, "subject not in "
			    "api_auth.bearer_subjects");
		if (!accept_principal(req, &pr, out))
			return fail(d, req, true, "out of memory");
		return 1;
	}
	if (req->n_peer_certs > 0 && aa->mtls_identities.n > 0) {
		struct identity_der chain[IDENTITY_MAX_CHAIN];
		size_t n = req->n_peer_certs;

		if (n > IDENTITY_MAX_CHAIN)
			return fail(d, req, true, "client chain too long");
		for (size_t i = 0; i < n; i++) {
			chain[i].der = req->peer_certs[i].der;
			chain[i].len = req->peer_certs[i].len;
		}
		if (d->idv == NULL || identity_verify_x509(d->idv, chain, n, now,
		    req->arena, &pr, &why) != MANDATE_OK)
			return fail(d, req, true, d->idv == NULL ?
			    "no identity issuers" : identity_reason_str(why));
		if (!in_list(&aa->mtls_identities, pr.subject))
			return fail(d, req, true, "SPIFFE ID not in "
			    "api_auth.mtls_identities");
		if (!accept_principal(req, &pr, out))
			return fail(d, req, true, "out of memory");
		return 1;
	}
	if (aa->open_on_loopback && is_loopback(req->remote_addr)) {
		out->principal = LOOPBACK_CALLER;
		out->kind = "loopback";
		out->issuer = "";
		return 1;
	}
	return fail(d, req, false, NULL);
}

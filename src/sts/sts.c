/*
 * sts.c - the token service's requests: open/close, minting RFC 9068
 * access tokens, the RFC 8693 exchange with its task checks, verification
 * of our own tokens (with DPoP binding), RFC 7662 introspection, RFC 7009
 * revocation and RFC 8414 metadata.  Keys are in sts_keys.c, DPoP proofs
 * in sts_dpop.c.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "sts/sts_int.h"
#include "util/json.h"
#include "util/status.h"
#include "util/utf8.h"

#define JSON_DEPTH 16
/* an act claim: the chain (STS_MAX_ACT_DEPTH) with room for members */
#define ACT_JSON_DEPTH (2 * STS_MAX_ACT_DEPTH + 4)

/* --- open / close ----------------------------------------------------------- */

static unsigned
dpop_algs_from_config(unsigned bits)
{
	unsigned out = 0;

	if (bits == 0)
		bits = CONFIG_ALG_ALL;
	if (bits & CONFIG_ALG_ES256)
		out |= JOSE_ALG_BIT(JOSE_ALG_ES256);
	if (bits & CONFIG_ALG_ES384)
		out |= JOSE_ALG_BIT(JOSE_ALG_ES384);
	if (bits & CONFIG_ALG_RS256)
		out |= JOSE_ALG_BIT(JOSE_ALG_RS256);
	if (bits & CONFIG_ALG_PS256)
		out |= JOSE_ALG_BIT(JOSE_ALG_PS256);
	if (bits & CONFIG_ALG_EDDSA)
		out |= JOSE_ALG_BIT(JOSE_ALG_EDDSA);
	return out;
}

/* The next credential id into jti (STS_JTI_LEN + 1 bytes): the prefix,
 * then the counter as 16 lowercase hex digits, so that the ids of one
 * process sort in issue order (see struct sts). */
static void
jti_make(struct sts *sts, char *jti)
{
	static const char hex[] = "0123456789abcdef";
	uint_fast64_t n = atomic_fetch_add_explicit(&sts->jti_next, 1,
	    memory_order_relaxed);

	memcpy(jti, sts->jti_prefix, STS_JTI_PREFIX);
	for (int i = STS_JTI_LEN - 1; i >= STS_JTI_PREFIX; i--) {
		jti[i] = hex[n & 15];
		n >>= 4;
	}
	jti[STS_JTI_LEN] = '\0';
}

int
sts_open(const struct sts_options *opt, struct store *s, int64_t now,
    struct sts **out)
{
	int r;
	struct sts *sts;
	uint8_t rnd[STS_JTI_PREFIX / 4 * 3];

	*out = NULL;
	if (opt == NULL || opt->tokens == NULL || s == NULL ||
	    opt->tokens->issuer == NULL || opt->publish_delay < 0)
		return MANDATE_EINVAL;
	if ((sts = calloc(1, sizeof *sts)) == NULL)
		return MANDATE_ENOMEM;
	sts->opt = *opt;
	sts->tok = opt->tokens;
	sts->store = s;
	sts->dpop_algs = dpop_algs_from_config(sts->tok->dpop.algorithms);
	for (int al = 1; al < JOSE_ALG__COUNT; al++) {
		size_t o = strlen(sts->dpop_algs_text);

		if (sts->dpop_algs & JOSE_ALG_BIT(al))
			snprintf(sts->dpop_algs_text + o,
			    sizeof(sts->dpop_algs_text) - o, "%s%s",
			    o > 0 ? " " : "", jose_alg_name((enum jose_alg)al));
	}
	pthread_mutex_init(&sts->mu, NULL);
	pthread_mutex_init(&sts->rot_mu, NULL);
	if (RAND_bytes(sts->nonce_key, sizeof sts->nonce_key) != 1 ||
	    RAND_bytes(rnd, sizeof rnd) != 1 ||
	    jose_b64url_encode(rnd, sizeof rnd, sts->jti_prefix,
	    sizeof sts->jti_prefix) != STS_JTI_PREFIX) {
		r = MANDATE_EINTERNAL;
		goto fail;
	}
	atomic_init(&sts->jti_next, 0);
	atomic_init(&sts->snap_gen, 0);
	if ((sts->sigs = calloc(1, sizeof(*sts->sigs))) == NULL) {
		r = MANDATE_ENOMEM;
		goto fail;
	}
	pthread_mutex_init(&sts->sigs->mu, NULL);
	if ((r = sts_replay_init(&sts->replay,
	    sts->tok->dpop.replay_cache_size)) != MANDATE_OK)
		goto fail;
	if ((r = sts_keys_init(sts, now)) != MANDATE_OK)
		goto fail;
	sts->opt.err = NULL;            /* the caller's, for sts_open only */
	*out = sts;
	return MANDATE_OK;
fail:
	sts_close(sts);
	return r;
}

const char *
sts_dpop_algs(const struct sts *sts)
{
	return sts->dpop_algs_text;
}

void
sts_close(struct sts *sts)
{
	if (sts == NULL)
		return;
	sts_keys_fini(sts);
	sts_replay_fini(&sts->replay);
	OPENSSL_cleanse(sts->nonce_key, sizeof sts->nonce_key);
	pthread_mutex_destroy(&sts->mu);
	pthread_mutex_destroy(&sts->rot_mu);
	if (sts->sigs != NULL) {
		pthread_mutex_destroy(&sts->sigs->mu);
		free(sts->sigs);
	}
	free(sts);
}

/* --- helpers ---------------------------------------------------------------- */

/* Dump into the arena; NULL on failure. */
static int
dump(json_t *j, struct arena *a, struct str *out)
{
	char *text;
	size_t n;

	*out = STR_NULL;
	if (j == NULL || (text = json_dumps(j, JSON_COMPACT)) == NULL)
		return MANDATE_ENOMEM;
	n = strlen(text);
	*out = arena_strdup(a, text, n);
	free(text);
	return out->p != NULL ? MANDATE_OK : MANDATE_ENOMEM;
}

static struct str
get_s(const struct ajson *obj, const char *key)
{
	const struct ajson *v = ajson_get(obj, key);

	return ajson_is(v, AJSON_STRING) ? v->u.s : STR_NULL;
}

/* RFC 6749 3.3: scope = scope-token *( SP scope-token ), scope-token =
 * 1*( %x21 / %x23-5B / %x5D-7E ): no empty word, so no leading, trailing
 * or doubled space.  Empty: no scope (RFC 6749 3.1, an empty parameter is
 * an omitted one). */
static bool
scope_ok(struct str s)
{
	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c == ' ') {
			if (i == 0 || i + 1 == s.n || s.p[i - 1] == ' ')
				return false;
			continue;
		}
		if (c < 0x21 || c == 0x22 || c == 0x5c || c >= 0x7f)
			return false;
	}
	return s.n <= 4096;
}

/* RFC 8707 2: a resource is an absolute URI (RFC 3986 4.3: a scheme,
 * ':', no fragment), with no space or control character. */
static bool
resource_uri_ok(struct str u)
{
	size_t i = 0;

	if (u.n == 0 || !((u.p[0] | 0x20) >= 'a' && (u.p[0] | 0x20) <= 'z'))
		return false;
	while (i < u.n && u.p[i] != ':') {
		char c = u.p[i];

		if (!((c | 0x20) >= 'a' && (c | 0x20) <= 'z') &&
		    !(c >= '0' && c <= '9') && c != '+' && c != '-' &&
		    c != '.')
			return false;
		i++;
	}
	if (i == u.n || i + 1 == u.n)
		return false;
	for (; i < u.n; i++) {
		unsigned char c = (unsigned char)u.p[i];

		if (c <= 0x20 || c >= 0x7f || c == '#')
			return false;
	}
	return true;
}

/* --- minting ---------------------------------------------------------------- */

/* Sign the token and fill *cred, its credential row (strings in the
 * arena), without recording it: the caller stores cred, alone or with
 * its audit event. */
static int
mint_sign(struct sts *sts, const struct sts_mint_req *req, struct arena *a,
    struct sts_token *out, struct store_credential *cred)
{
	int r = MANDATE_ENOMEM;
	struct sts_snap *snap = NULL;
	char jti[STS_JTI_LEN + 1], *audtext = NULL;
	struct str payload, tok;
	struct jose_sign_opts so;
	struct sts_jw w;
	size_t i, audlen = 0;

	memset(out, 0, sizeof *out);
	memset(cred, 0, sizeof *cred);
	if (req->sub.n == 0 || req->task_id.n == 0 || req->n_aud == 0 ||
	    req->n_aud > STS_MAX_AUDIENCES || req->exp <= req->now ||
	    req->n_actions > STS_MAX_ACTIONS)
		return MANDATE_EINVAL;
	if ((snap = sts_snap_get(sts)) == NULL)
		return MANDATE_EINTERNAL;
	jti_make(sts, jti);
	/* the claims, written directly (a jansson tree cost a malloc per
	 * node); every member must be written: text that is not UTF-8 fails
	 * the whole token rather than leaving a claim out */
	if (req->act_json.n > 0) {
		/* our own text, checked anyway: one object, no duplicates */
		struct ajson_opts ao = { .flags = AJSON_REJECT_DUPLICATES,
		    .max_depth = ACT_JSON_DEPTH, .max_len = STORE_MAX_JSON };
		const struct ajson *act = NULL;

		r = ajson_parse(a, req->act_json.p, req->act_json.n, &ao, &act,
		    NULL);
		if (r == MANDATE_ENOMEM)
			goto out;
		if (r != MANDATE_OK || !ajson_is(act, AJSON_OBJECT)) {
			r = MANDATE_EINVAL;
			goto out;
		}
	}
	if (req->jkt.n > 0 && req->jkt.n != JOSE_THUMBPRINT_LEN) {
		r = MANDATE_EINVAL;
		goto out;
	}
	sts_jw_init(&w, a, STORE_MAX_JSON);
	sts_jw_obj(&w);
	sts_jw_key(&w, "iss");
	sts_jw_str(&w, str_c(sts->tok->issuer));
	sts_jw_key(&w, "sub");
	sts_jw_str(&w, req->sub);
	sts_jw_key(&w, "aud");
	if (req->n_aud == 1) {
		sts_jw_str(&w, req->aud[0]);
	} else {
		sts_jw_arr(&w);
		for (i = 0; i < req->n_aud; i++)
			sts_jw_str(&w, req->aud[i]);
		sts_jw_arr_end(&w);
	}
	sts_jw_key(&w, "exp");
	sts_jw_int(&w, req->exp);
	sts_jw_key(&w, "iat");
	sts_jw_int(&w, req->now);
	sts_jw_key(&w, "nbf");
	sts_jw_int(&w, req->now);
	sts_jw_key(&w, "jti");
	sts_jw_str(&w, str_c(jti));
	sts_jw_key(&w, "client_id");
	sts_jw_str(&w, req->client_id.n ? req->client_id : req->sub);
	sts_jw_key(&w, "task");
	sts_jw_str(&w, req->task_id);
	sts_jw_key(&w, "authorization_details");
	sts_jw_arr(&w);
	sts_jw_obj(&w);
	sts_jw_key(&w, "type");
	sts_jw_str(&w, STR_LIT(STS_AUTHZ_TYPE));
	sts_jw_key(&w, "task_id");
	sts_jw_str(&w, req->task_id);
	sts_jw_key(&w, "actions");
	sts_jw_arr(&w);
	for (i = 0; i < req->n_actions; i++)
		sts_jw_str(&w, req->actions[i]);
	sts_jw_arr_end(&w);
	sts_jw_obj_end(&w);
	sts_jw_arr_end(&w);
	if (req->scope.n > 0) {
		sts_jw_key(&w, "scope");
		sts_jw_str(&w, req->scope);
	}
	if (req->act_json.n > 0) {
		sts_jw_key(&w, "act");
		sts_jw_raw(&w, req->act_json);
	}
	if (req->jkt.n > 0) {
		sts_jw_key(&w, "cnf");
		sts_jw_obj(&w);
		sts_jw_key(&w, "jkt");
		sts_jw_str(&w, req->jkt);
		sts_jw_obj_end(&w);
	}
	sts_jw_obj_end(&w);
	if ((r = sts_jw_finish(&w, &payload)) != MANDATE_OK)
		goto out;
	memset(&so, 0, sizeof so);
	so.typ = STR_LIT("at+jwt");
	if ((r = jose_jws_sign(a, snap->signer, JOSE_ALG_ES256, &so, payload,
	    &tok)) != MANDATE_OK)
		goto out;
	if (tok.n > STS_MAX_ISSUED_LEN) {
		r = MANDATE_ELIMIT;
		goto out;
	}
	/* the credential row: audiences joined by spaces */
	for (i = 0; i < req->n_aud; i++)
		audlen += req->aud[i].n + 1;
	if ((audtext = arena_alloc(a, audlen + 1)) == NULL) {
		r = MANDATE_ENOMEM;
		goto out;
	}
	audlen = 0;
	for (i = 0; i < req->n_aud; i++) {
		if (i > 0)
			audtext[audlen++] = ' ';
		memcpy(audtext + audlen, req->aud[i].p, req->aud[i].n);
		audlen += req->aud[i].n;
	}
	out->access_token = tok;
	out->jti = arena_strdup(a, jti, strlen(jti));
	out->exp = req->exp;
	if (out->jti.p == NULL) {
		memset(out, 0, sizeof *out);
		r = MANDATE_ENOMEM;
		goto out;
	}
	cred->jti = out->jti;
	cred->task_id = req->task_id;
	cred->agent = req->sub;
	cred->audience = str_make(audtext, audlen);
	cred->issued_at = req->now;
	cred->expires_at = req->exp;
	cred->cnf_jkt = req->jkt;
	r = MANDATE_OK;
out:
	sts_snap_put(snap);
	return r;
}

int
sts_mint(struct sts *sts, const struct sts_mint_req *req, struct arena *a,
    struct sts_token *out)
{
	struct store_credential cred;
	int r;

	if ((r = mint_sign(sts, req, a, out, &cred)) != MANDATE_OK)
		return r;
	if ((r = store_cred_insert(sts->store, &cred)) != MANDATE_OK)
		memset(out, 0, sizeof *out);
	return r;
}

/* --- exchange ---------------------------------------------------------------- */

struct xstate {
	struct sts *sts;
	const struct sts_exchange_req *req;
	struct arena *a;
	struct sts_result *res;
	struct str task_id;           /* from the request, once read */
	/* what was granted, for the audit fields (set when answered 200) */
	bool issued;
	struct str jti;
	int64_t exp;
	struct str auds[STS_MAX_AUDIENCES];
	struct str *actions;          /* in the arena, one per intent */
	size_t n_aud, n_act;
	struct store_credential cred; /* the row of the token signed */
};

static int
refuse(struct xstate *x, int http, const char *code, const char *desc,
    const char *reason)
{
	json_t *b = json_pack("{s:s,s:s}", "error", code,
	    "error_description", desc);
	int r;

	x->res->http_status = http;
	x->res->error = code;
	x->res->description = desc;
	x->res->reason = reason;
	r = dump(b, x->a, &x->res->body);
	json_decref(b);
	return r;
}

static bool
token_type_ok(struct str t)
{
	return str_eq_c(t, STS_TT_JWT) || str_eq_c(t, STS_TT_ACCESS_TOKEN) ||
	    str_eq_c(t, STS_TT_ID_TOKEN);
}

static bool
audience_allowed(const struct sts *sts, struct str aud)
{
	if (sts->tok->audience != NULL && str_eq_c(aud, sts->tok->audience))
		return true;
	for (size_t i = 0; i < sts->opt.n_audiences; i++)
		if (str_eq_c(aud, sts->opt.audiences[i]))
			return true;
	return false;
}

/* Why a verified subject or actor token may not be taken from this
 * request's presenter, or NULL.  A token bound to a DPoP key (cnf.jkt)
 * needs this request's proof by that key (jkt, the verified proof's
 * thumbprint): RFC 9449 binds it to its key wherever it is presented,
 * and without the check a stolen bound token would be exchanged as a
 * bearer one for a fresh (unbound, or bound to the thief's key) token.
 * A cnf of another method is one we cannot check: refused.  A token
 * with act (RFC 8693 4.1) was issued to that actor to act for its sub:
 * its presenter is the actor, not sub, and would vanish from the act
 * chain of what we issue. */
static const char *
presenter_refused(const struct sts_principal *p, struct str jkt)
{
	if (p->delegated)
		return "token carries act: presented by an actor, not its sub";
	if (p->cnf_other)
		return "token has a cnf other than a DPoP jkt";
	if (p->cnf_jkt.n > 0 && (jkt.n != p->cnf_jkt.n ||
	    CRYPTO_memcmp(jkt.p, p->cnf_jkt.p, jkt.n) != 0))
		return "token is DPoP-bound (cnf.jkt) and this request's "
		    "proof is not by its key";
	return NULL;
}

/* Does the act chain (an object, nested "act") name sub? */
/* A spiffe: URI (in any case; a task's agent in that scheme is a valid
 * SPIFFE ID, docs/api.md) names a workload, which only a SPIFFE issuer
 * may vouch for (struct sts_principal's spiffe). */
static bool
names_workload(struct str id)
{
	return id.n >= 7 && strncasecmp(id.p, "spiffe:", 7) == 0;
}

static bool
act_chain_has(const struct ajson *act, struct str sub)
{
	for (int d = 0; d < STS_MAX_ACT_DEPTH && ajson_is(act, AJSON_OBJECT);
	    d++) {
		if (str_eq(get_s(act, "sub"), sub))
			return true;
		act = ajson_get(act, "act");
	}
	return false;
}

/* The exchange's audit event (fields_json in the arena): the task, what
 * was granted, or the error and its reason. */
static int
audit_event(struct xstate *x, const char *type, struct store_audit_event *e)
{
	struct sts_jw w;
	struct str f;
	size_t i;
	int r;

	memset(e, 0, sizeof *e);
	sts_jw_init(&w, x->a, STORE_MAX_JSON);
	sts_jw_obj(&w);
	/* the client's text: left out (as before) when not UTF-8 */
	if (x->task_id.n > 0 &&
	    utf8_invalid_at(x->task_id.p, x->task_id.n) == x->task_id.n) {
		sts_jw_key(&w, "task_id");
		sts_jw_str(&w, x->task_id);
	}
	if (x->issued) {
		sts_jw_key(&w, "jti");
		sts_jw_str(&w, x->jti);
		sts_jw_key(&w, "exp");
		sts_jw_int(&w, x->exp);
		sts_jw_key(&w, "aud");
		sts_jw_arr(&w);
		for (i = 0; i < x->n_aud; i++)
			sts_jw_str(&w, x->auds[i]);
		sts_jw_arr_end(&w);
		sts_jw_key(&w, "actions");
		sts_jw_arr(&w);
		for (i = 0; i < x->n_act; i++)
			sts_jw_str(&w, x->actions[i]);
		sts_jw_arr_end(&w);
		if (x->req->dpop_jkt.n > 0) {
			sts_jw_key(&w, "jkt");
			sts_jw_str(&w, x->req->dpop_jkt);
		}
	}
	if (x->res->error != NULL) {
		sts_jw_key(&w, "error");
		sts_jw_str(&w, str_c(x->res->error));
		sts_jw_key(&w, "reason");
		sts_jw_str(&w, str_c(x->res->reason ? x->res->reason : ""));
	}
	sts_jw_obj_end(&w);
	if ((r = sts_jw_finish(&w, &f)) != MANDATE_OK)
		return r;
	e->time = x->req->now;
	e->type = str_c(type);
	e->request_id = x->req->request_id;
	e->agent = x->req->subject.sub;
	e->task_id = x->task_id;
	e->fields_json = f;
	if (e->agent.n > STORE_MAX_NAME)
		e->agent = STR_NULL;
	if (e->task_id.n > STORE_MAX_ID)
		e->task_id = STR_NULL;
	if (e->request_id.n > STORE_MAX_ID)
		e->request_id = STR_NULL;
	if (x->sts->opt.audit != NULL) {
		/* the audit log's one path: policy hash, redaction */
		struct audit_event ae;
		json_t *j = json_loadb(f.p, f.n, 0, NULL);

		if (j == NULL)
			return MANDATE_EINTERNAL;
		memset(&ae, 0, sizeof(ae));
		ae.time = e->time;
		ae.type = type;
		ae.request_id = e->request_id;
		ae.agent = e->agent;
		ae.task_id = e->task_id;
		return audit_prepare(x->sts->opt.audit, &ae, j, x->a, e);
	}
	return MANDATE_OK;
}

/* A refusal's event, on its own. */
static int
audit(struct xstate *x, const char *type)
{
	struct store_audit_event e;
	int r;

	int64_t id = 0;

	if ((r = audit_event(x, type, &e)) != MANDATE_OK)
		return r;
	r = store_audit_append(x->sts->store, &e, &id);
	audit_report(x->sts->opt.audit, r, id);
	return r;
}

/* An issuance: the credential row and its event, in one commit (both
 * durable, or neither). */
static int
record_issued(struct xstate *x)
{
	struct store_audit_event e;
	int r;

	int64_t id = 0;

	if ((r = audit_event(x, "token.issued", &e)) != MANDATE_OK)
		return r;
	if (x->req->issue != NULL)     /* the caller commits both */
		return x->req->issue(x->req->issue_arg, &x->cred, &e);
	r = store_cred_insert_audited(x->sts->store, &x->cred, &e, &id);
	audit_report(x->sts->opt.audit, r, id);
	return r;
}

/* The checks; returns MANDATE_OK with res filled (refusal or success) or
 * an error status when no answer could be made. */
static int
exchange(struct xstate *x)
{
	const struct sts_exchange_req *req = x->req;
	struct sts *sts = x->sts;
	struct arena *a = x->a;
	const struct ajson *ad, *e, *acts = NULL, *intents, *chain = NULL;
	struct ajson_opts jo = { .flags = AJSON_REJECT_DUPLICATES,
	    .max_depth = JSON_DEPTH, .max_len = STS_MAX_AUTHZ_LEN };
	struct str *auds = x->auds, *actions;
	size_t n_aud = 0, n_act = 0, i, j;
	struct store_task task;
	struct sts_mint_req m;
	struct sts_token t;
	struct str act_text = STR_NULL;
	struct sts_jw w;
	const char *why;
	int64_t exp;
	int r;

	if (req->grant_type.n == 0)
		return refuse(x, 400, "invalid_request",
		    "grant_type is required", "no grant_type");
	if (!str_eq_c(req->grant_type, STS_GRANT_TOKEN_EXCHANGE))
		return refuse(x, 400, "unsupported_grant_type",
		    "grant_type must be token-exchange", "grant_type");
	if (!token_type_ok(req->subject_token_type))
		return refuse(x, 400, "invalid_request",
		    "unsupported subject_token_type", "subject_token_type");
	if (req->requested_token_type.n > 0 &&
	    !str_eq_c(req->requested_token_type, STS_TT_ACCESS_TOKEN))
		return refuse(x, 400, "invalid_request",
		    "unsupported requested_token_type",
		    "requested_token_type");
	if (req->has_actor_token && (!token_type_ok(req->actor_token_type) ||
	    req->actor == NULL || req->actor->sub.n == 0))
		return refuse(x, 400, "invalid_request",
		    "actor_token unacceptable", "actor token type or actor");
	if (!req->has_actor_token && req->actor_token_type.n > 0)
		return refuse(x, 400, "invalid_request",
		    "actor_token_type without actor_token",
		    "actor_token_type alone");
	if (req->subject.sub.n == 0 || req->subject.sub.n > STORE_MAX_NAME)
		return refuse(x, 400, "invalid_request",
		    "subject_token unacceptable", "empty subject");
	if ((why = presenter_refused(&req->subject, req->dpop_jkt)) != NULL)
		return refuse(x, 400, "invalid_request",
		    "subject_token unacceptable", why);
	if (req->has_actor_token &&
	    (why = presenter_refused(req->actor, req->dpop_jkt)) != NULL)
		return refuse(x, 400, "invalid_request",
		    "actor_token unacceptable", why);
	if (!scope_ok(req->scope))
		return refuse(x, 400, "invalid_scope", "malformed scope",
		    "scope characters");

	/* authorization_details: exactly one entry of our type */
	r = req->authorization_details.n == 0 ? MANDATE_EINVAL :
	    ajson_parse(a, req->authorization_details.p,
	    req->authorization_details.n, &jo, &ad, NULL);
	if (r == MANDATE_ENOMEM)
		return r;
	if (r != MANDATE_OK || !ajson_is(ad, AJSON_ARRAY) || ad->u.arr.n != 1)
		return refuse(x, 400, "invalid_authorization_details",
		    "exactly one authorization_details entry is required",
		    "authorization_details shape");
	e = &ad->u.arr.items[0];
	if (!ajson_is(e, AJSON_OBJECT) ||
	    !str_eq_c(get_s(e, "type"), STS_AUTHZ_TYPE))
		return refuse(x, 400, "invalid_authorization_details",
		    "unknown authorization_details type", "type");
	x->task_id = get_s(e, "task_id");
	if (x->task_id.n == 0 || x->task_id.n > STORE_MAX_ID) {
		x->task_id = STR_NULL;
		return refuse(x, 400, "invalid_authorization_details",
		    "task_id is required", "task_id");
	}
	if ((acts = ajson_get(e, "actions")) != NULL) {
		if (!ajson_is(acts, AJSON_ARRAY) || acts->u.arr.n == 0)
			return refuse(x, 400, "invalid_authorization_details",
			    "actions must be a non-empty array", "actions");
		if (acts->u.arr.n > STS_MAX_ACTIONS)
			return refuse(x, 400, "invalid_authorization_details",
			    "too many actions for one token (at most 1024)",
			    "actions count");
		for (i = 0; i < acts->u.arr.n; i++) {
			const struct ajson *v = &acts->u.arr.items[i];
			if (!ajson_is(v, AJSON_STRING) || v->u.s.n == 0 ||
			    v->u.s.n > STORE_MAX_NAME)
				return refuse(x, 400,
				    "invalid_authorization_details",
				    "actions must be strings", "actions");
		}
	}

	/* audiences */
	for (i = 0; i < req->n_audience + req->n_resource; i++) {
		struct str v = i < req->n_audience ? req->audience[i] :
		    req->resource[i - req->n_audience];
		if (i >= req->n_audience && !resource_uri_ok(v))
			return refuse(x, 400, "invalid_target",
			    "resource must be an absolute URI without a "
			    "fragment", "resource not a URI");
		if (n_aud >= STS_MAX_AUDIENCES || !audience_allowed(sts, v))
			return refuse(x, 400, "invalid_target",
			    "audience or resource not served", "audience");
		for (j = 0; j < n_aud && !str_eq(auds[j], v); j++)
			;
		if (j == n_aud)
			auds[n_aud++] = v;
	}
	if (n_aud == 0) {
		if (sts->tok->audience == NULL)
			return refuse(x, 400, "invalid_target",
			    "an audience is required", "no audience");
		auds[n_aud++] = str_c(sts->tok->audience);
	}
	if (sts->tok->dpop.require && req->dpop_jkt.n == 0)
		return refuse(x, 400, "invalid_dpop_proof",
		    "a DPoP proof is required", "dpop required");
	if (req->dpop_jkt.n != 0 && req->dpop_jkt.n != JOSE_THUMBPRINT_LEN)
		return refuse(x, 400, "invalid_dpop_proof",
		    "invalid DPoP proof", "jkt is not a thumbprint");

	/* the task */
	r = store_task_get(sts->store, x->task_id, a, &task);
	if (r == MANDATE_ENOTFOUND)
		return refuse(x, 400, "invalid_grant", "task not usable",
		    "unknown task");
	if (r != MANDATE_OK)
		return r;
	switch (store_task_state_at(&task, req->now)) {
	case STORE_TASK_ACTIVE:
		break;
	case STORE_TASK_EXPIRED:
		return refuse(x, 400, "invalid_grant", "task not usable",
		    "task expired");
	default:
		return refuse(x, 400, "invalid_grant", "task not usable",
		    "task ended or revoked");
	}
	if (!str_eq(task.agent, req->subject.sub))
		return refuse(x, 400, "invalid_grant", "task not usable",
		    "task belongs to another agent");
	/* a task whose budget is spent can make no more calls: no new
	 * credential for it (one issued before stays what it is until its
	 * exp; every call it is used for is denied at the decision) */
	if (task.calls_used >= task.call_budget)
		return refuse(x, 400, "invalid_grant", "task not usable",
		    "call budget spent");
	/* a kill switch makes unusable every credential issued at or
	 * before its second (times are whole seconds): one issued in the
	 * same second, even after it, would be dead on arrival; say so
	 * rather than answer with it */
	{
		struct store_agent_revocation rv;

		r = store_agent_revocation_last(sts->store, task.agent, a,
		    &rv);
		if (r == MANDATE_OK && rv.revoked_at >= req->now)
			return refuse(x, 400, "invalid_grant", "the agent was "
			    "revoked within this second: ask again in a "
			    "second", "agent revoked this second");
		if (r != MANDATE_OK && r != MANDATE_ENOTFOUND)
			return r;
	}
	if (names_workload(task.agent) && !req->subject.spiffe)
		return refuse(x, 400, "invalid_grant", "task not usable",
		    "the task's agent is a SPIFFE ID; the subject_token is "
		    "not from a SPIFFE issuer");

	/* the task's intents: names, or objects with "action" */
	r = ajson_parse(a, task.intents_json.p, task.intents_json.n,
	    &(struct ajson_opts){ .max_depth = 64 }, &intents, NULL);
	if (r == MANDATE_ENOMEM)
		return r;
	if (r != MANDATE_OK || !ajson_is(intents, AJSON_ARRAY))
		return refuse(x, 500, "server_error", "task unreadable",
		    "task intents_json malformed");
	/* every intent fits (tasks.max_intents <= STS_MAX_ACTIONS): never
	 * grant a silent part of them */
	if (intents->u.arr.n > STS_MAX_ACTIONS)
		return refuse(x, 400, "invalid_authorization_details",
		    "the task holds more actions than one token can carry",
		    "task intents count");
	actions = x->actions = arena_calloc(a, intents->u.arr.n + 1,
	    sizeof(*actions));
	if (actions == NULL)
		return MANDATE_ENOMEM;
	for (i = 0; i < intents->u.arr.n; i++) {
		const struct ajson *v = &intents->u.arr.items[i];
		struct str name = ajson_is(v, AJSON_STRING) ? v->u.s :
		    get_s(v, "action");
		if (name.n == 0)
			continue;
		if (acts != NULL) {
			/* granted only when requested */
			for (j = 0; j < acts->u.arr.n; j++)
				if (str_eq(acts->u.arr.items[j].u.s, name))
					break;
			if (j == acts->u.arr.n)
				continue;
		}
		for (j = 0; j < n_act && !str_eq(actions[j], name); j++)
			;
		if (j == n_act)
			actions[n_act++] = name;
	}
	if (acts != NULL) {
		/* every requested action must be held */
		for (i = 0; i < acts->u.arr.n; i++) {
			for (j = 0; j < n_act; j++)
				if (str_eq(actions[j],
				    acts->u.arr.items[i].u.s))
					break;
			if (j == n_act)
				return refuse(x, 400,
				    "invalid_authorization_details",
				    "an action is not granted by the task",
				    "action not among the task's intents");
		}
	}
	if (n_act == 0)
		return refuse(x, 400, "invalid_authorization_details",
		    "the task grants no action", "no intents");
	/* scope: only names of granted actions, so that a resource server
	 * reading scope never sees more than the task grants */
	for (i = 0; i < req->scope.n;) {
		size_t k = i;
		while (k < req->scope.n && req->scope.p[k] != ' ')
			k++;
		if (k > i) {
			struct str word = str_make(req->scope.p + i, k - i);
			for (j = 0; j < n_act && !str_eq(actions[j], word);
			    j++)
				;
			if (j == n_act)
				return refuse(x, 400, "invalid_scope",
				    "scope exceeds the granted actions",
				    "scope not among the granted actions");
		}
		i = k + 1;
	}

	/* the act chain and the actor */
	r = task.act_json.n == 0 ? MANDATE_OK : ajson_parse(a,
	    task.act_json.p, task.act_json.n, &(struct ajson_opts){
	    .flags = AJSON_REJECT_DUPLICATES,
	    .max_depth = STS_MAX_ACT_DEPTH + 2 }, &chain, NULL);
	if (r == MANDATE_ENOMEM)
		return r;
	if (r != MANDATE_OK || (task.act_json.n > 0 &&
	    !ajson_is(chain, AJSON_OBJECT)))
		return refuse(x, 500, "server_error", "task unreadable",
		    "task act_json malformed");
	if (req->has_actor_token) {
		if (!str_eq(req->actor->sub, task.delegator) &&
		    !act_chain_has(chain, req->actor->sub))
			return refuse(x, 400, "invalid_request",
			    "actor_token unacceptable",
			    "actor is not the task's delegator");
		if (names_workload(req->actor->sub) && !req->actor->spiffe)
			return refuse(x, 400, "invalid_request",
			    "actor_token unacceptable",
			    "actor is a SPIFFE ID not from a SPIFFE issuer");
	}
	{
		/* act: the task's chain (or its delegator), under the actor
		 * when an actor other than the chain's head presents itself */
		bool wrap = req->has_actor_token &&
		    !str_eq(req->actor->sub, chain != NULL ?
		    get_s(chain, "sub") : task.delegator);
		bool inner = chain != NULL || task.delegator.n > 0;

		if (wrap || inner) {
			sts_jw_init(&w, a, STORE_MAX_JSON);
			if (wrap) {
				sts_jw_obj(&w);
				sts_jw_key(&w, "sub");
				sts_jw_str(&w, req->actor->sub);
				if (inner)
					sts_jw_key(&w, "act");
			}
			if (chain != NULL) {
				sts_jw_raw(&w, task.act_json);
			} else if (task.delegator.n > 0) {
				sts_jw_obj(&w);
				sts_jw_key(&w, "sub");
				sts_jw_str(&w, task.delegator);
				sts_jw_obj_end(&w);
			}
			if (wrap)
				sts_jw_obj_end(&w);
			if ((r = sts_jw_finish(&w, &act_text)) != MANDATE_OK)
				return r;
		}
	}

	/* lifetime: default ttl, never past max ttl or the task's end */
	exp = req->now + (int64_t)(sts->tok->default_ttl ?
	    sts->tok->default_ttl : 300);
	if (sts->tok->max_ttl > 0 &&
	    exp > req->now + (int64_t)sts->tok->max_ttl)
		exp = req->now + (int64_t)sts->tok->max_ttl;
	if (exp > task.expires_at)
		exp = task.expires_at;
	if (exp <= req->now)
		return refuse(x, 400, "invalid_grant", "task not usable",
		    "task expires now");

	memset(&m, 0, sizeof m);
	m.sub = req->subject.sub;
	m.task_id = x->task_id;
	m.client_id = req->client_id;
	m.aud = auds;
	m.n_aud = n_aud;
	m.actions = actions;
	m.n_actions = n_act;
	m.scope = req->scope;
	m.act_json = act_text;
	m.jkt = req->dpop_jkt;
	m.now = req->now;
	m.exp = exp;
	/* signed here, recorded with its audit event by the caller */
	r = mint_sign(sts, &m, a, &t, &x->cred);
	if (r == MANDATE_ELIMIT)
		return refuse(x, 400, "invalid_authorization_details",
		    "the token would be too large: ask for fewer actions",
		    "token too large");
	if (r != MANDATE_OK)
		return r;
	x->res->jti = t.jti;

	/* the answer (RFC 8693 2.2.1) */
	sts_jw_init(&w, a, STORE_MAX_JSON);
	sts_jw_obj(&w);
	sts_jw_key(&w, "access_token");
	sts_jw_str(&w, t.access_token);
	sts_jw_key(&w, "issued_token_type");
	sts_jw_str(&w, STR_LIT(STS_TT_ACCESS_TOKEN));
	sts_jw_key(&w, "token_type");
	sts_jw_str(&w, req->dpop_jkt.n > 0 ? STR_LIT("DPoP") :
	    STR_LIT("Bearer"));
	sts_jw_key(&w, "expires_in");
	sts_jw_int(&w, exp - req->now);
	sts_jw_key(&w, "authorization_details");
	sts_jw_arr(&w);
	sts_jw_obj(&w);
	sts_jw_key(&w, "type");
	sts_jw_str(&w, STR_LIT(STS_AUTHZ_TYPE));
	sts_jw_key(&w, "task_id");
	sts_jw_str(&w, x->task_id);
	sts_jw_key(&w, "actions");
	sts_jw_arr(&w);
	for (i = 0; i < n_act; i++)
		sts_jw_str(&w, actions[i]);
	sts_jw_arr_end(&w);
	sts_jw_obj_end(&w);
	sts_jw_arr_end(&w);
	if (req->scope.n > 0) {
		sts_jw_key(&w, "scope");
		sts_jw_str(&w, req->scope);
	}
	sts_jw_obj_end(&w);
	if ((r = sts_jw_finish(&w, &x->res->body)) != MANDATE_OK)
		return r;
	x->res->http_status = 200;
	x->issued = true;
	x->jti = t.jti;
	x->exp = exp;
	x->n_aud = n_aud;
	x->n_act = n_act;
	return MANDATE_OK;
}

int
sts_exchange(struct sts *sts, const struct sts_exchange_req *req,
    struct arena *a, struct sts_result *res)
{
	struct xstate x;
	int r, ra;

	memset(res, 0, sizeof *res);
	memset(&x, 0, sizeof x);
	x.sts = sts;
	x.req = req;
	x.a = a;
	x.res = res;
	r = exchange(&x);
	if (r != MANDATE_OK) {
		/* no answer: tell the client only "server_error"; a token
		 * signed before the failure was never recorded, and its
		 * text is dropped with the body */
		res->jti = STR_NULL;
		refuse(&x, 500, "server_error", "temporarily unavailable",
		    mandate_strerror(r));
		audit(&x, "token.refused");
		goto out;
	}
	if (res->error != NULL) {
		audit(&x, "token.refused");
		goto out;
	}
	if ((ra = record_issued(&x)) != MANDATE_OK) {
		/* neither the row nor the event is stored: the token was
		 * never issued (an unaudited token must not exist) */
		res->jti = STR_NULL;
		refuse(&x, 500, "server_error", "temporarily unavailable",
		    "credential or audit write failed");
		audit(&x, "token.refused");
		r = ra;
	}
out:
	return r;
}

/* --- verification ------------------------------------------------------------- */

/* The signature cache (sts_int.h).  sig_known: true when token's bytes
 * verified under snapshot gen before; *hashed says whether h holds
 * their SHA-256 (for sig_remember after a verification). */
static size_t
sig_slot(const uint8_t h[32])
{
	return ((size_t)h[0] | (size_t)h[1] << 8) % STS_SIGCACHE_SLOTS;
}

static bool
sig_known(struct sts *sts, struct str token, uint64_t gen, uint8_t h[32],
    bool *hashed)
{
	struct sts_sigcache *c = sts->sigs;
	size_t i;
	bool hit;

	*hashed = EVP_Digest(token.p, token.n, h, NULL, EVP_sha256(), NULL) ==
	    1;
	if (!*hashed)
		return false;
	i = sig_slot(h);
	pthread_mutex_lock(&c->mu);
	hit = c->slot[i].gen == gen && CRYPTO_memcmp(c->slot[i].h, h, 32) ==
	    0;
	pthread_mutex_unlock(&c->mu);
	atomic_fetch_add(hit ? &c->hits : &c->misses, 1);
	return hit;
}

static void
sig_remember(struct sts *sts, const uint8_t h[32], uint64_t gen)
{
	struct sts_sigcache *c = sts->sigs;
	size_t i = sig_slot(h);

	pthread_mutex_lock(&c->mu);
	memcpy(c->slot[i].h, h, 32);
	c->slot[i].gen = gen;
	pthread_mutex_unlock(&c->mu);
}

void
sts_sigcache_stats(struct sts *sts, uint64_t *hits, uint64_t *misses)
{
	*hits = atomic_load(&sts->sigs->hits);
	*misses = atomic_load(&sts->sigs->misses);
}

/* Signature by one of our published keys and iss; with check_time also
 * typ, exp, nbf, iat. */
static int
verify_sig(struct sts *sts, struct str token, struct str aud, int64_t now,
    bool check_time, struct arena *a, struct jose_claims *cl,
    struct str *payload, const char **why)
{
	struct sts_snap *snap;
	struct jose_jws jws;
	struct jose_jwt_rules rules;
	uint8_t h[32];
	bool hashed = false;
	int r = MANDATE_EINVAL;

	if (token.n == 0 || token.n > STS_MAX_TOKEN_LEN) {
		*why = "token missing or too large";
		return MANDATE_EINVAL;
	}
	if ((snap = sts_snap_get(sts)) == NULL)
		return MANDATE_EINTERNAL;
	if (jose_jws_parse(a, token.p, token.n, STS_MAX_TOKEN_LEN, &jws,
	    NULL) != MANDATE_OK) {
		*why = "token malformed";
		goto out;
	}
	if (!sig_known(sts, token, snap->gen, h, &hashed)) {
		if (jose_jws_verify_set(&jws, snap->pub,
		    JOSE_ALG_BIT(JOSE_ALG_ES256), NULL) != MANDATE_OK) {
			*why = "token signature invalid or key unknown";
			goto out;
		}
		if (hashed)
			sig_remember(sts, h, snap->gen);
	}
	memset(&rules, 0, sizeof rules);
	rules.iss = str_c(sts->tok->issuer);
	rules.typ = jose_typ_at_jwt;
	if (check_time) {
		rules.now = now;
		rules.leeway = 0;
		rules.aud = aud;
	} else {
		/* revocation: only the signature and iss matter; a token
		 * expired for over a year is long dead anyway */
		rules.now = now;
		rules.leeway = 86400 * 365;
		rules.exp_optional = true;
	}
	if (jose_jwt_check(a, &jws, &rules, cl, NULL) != MANDATE_OK) {
		*why = "token claims invalid";
		goto out;
	}
	if (cl->jti.n == 0 || cl->jti.n > STORE_MAX_ID) {
		*why = "token jti missing";
		goto out;
	}
	if (payload != NULL)
		*payload = jws.payload;
	r = MANDATE_OK;
out:
	sts_snap_put(snap);
	return r;
}

static const char *
unusable_reason(int u)
{
	switch (u) {
	case STORE_UNUSABLE_REVOKED: return "credential revoked";
	case STORE_UNUSABLE_EXPIRED: return "credential expired";
	case STORE_UNUSABLE_TASK_ENDED: return "task ended";
	case STORE_UNUSABLE_TASK_EXPIRED: return "task expired";
	case STORE_UNUSABLE_AGENT_REVOKED: return "agent revoked";
	default: return "credential unknown";
	}
}

/* Signature, claims and the store; no DPoP. */
static int
verify_core(struct sts *sts, struct str token, struct str aud, int64_t now,
    struct arena *a, struct sts_verified *out, const char **why)
{
	struct jose_claims cl;
	const struct ajson *cnf;
	int r, usable = STORE_UNUSABLE_UNKNOWN;

	memset(out, 0, sizeof *out);
	if ((r = verify_sig(sts, token, aud, now, true, a, &cl, &out->payload,
	    why)) !=
	    MANDATE_OK)
		return r;
	if ((r = store_cred_usable(sts->store, cl.jti, now, &usable)) !=
	    MANDATE_OK) {
		*why = "store unavailable";
		return r == MANDATE_ENOMEM ? r : MANDATE_EIO;
	}
	if (usable != STORE_USABLE) {
		*why = unusable_reason(usable);
		return MANDATE_EINVAL;
	}
	out->sub = cl.sub;
	out->jti = cl.jti;
	out->exp = cl.exp;
	out->iat = cl.iat;
	out->task_id = get_s(cl.obj, "task");
	out->client_id = get_s(cl.obj, "client_id");
	out->scope = get_s(cl.obj, "scope");
	out->claims = cl.obj;
	cnf = ajson_get(cl.obj, "cnf");
	if (cnf != NULL) {
		out->jkt = get_s(cnf, "jkt");
		if (!ajson_is(cnf, AJSON_OBJECT) ||
		    out->jkt.n != JOSE_THUMBPRINT_LEN) {
			*why = "token cnf malformed";
			return MANDATE_EINVAL;
		}
	}
	return MANDATE_OK;
}

int
sts_verify_access_token(struct sts *sts, struct str token, struct str aud,
    struct str dpop_proof, struct str htm, struct str htu, int64_t now,
    struct arena *a, struct sts_verified *out, const char **reason)
{
	const char *why = "invalid";
	int r;

	r = verify_core(sts, token, aud, now, a, out, &why);
	if (r != MANDATE_OK)
		goto out;
	if (out->jkt.n > 0) {
		if (dpop_proof.n == 0) {
			why = "bound token without a DPoP proof";
			r = MANDATE_EINVAL;
			goto out;
		}
		/* charged to the token's agent (its sub) */
		r = sts_dpop_verify_bound(sts, dpop_proof, htm, htu, token,
		    out->jkt, out->sub, now, &why);
		if (r != MANDATE_OK)
			goto out;
	} else if (sts->tok->dpop.require) {
		why = "unbound token where DPoP is required";
		r = MANDATE_EINVAL;
		goto out;
	}
	why = NULL;
out:
	if (r != MANDATE_OK)
		memset(out, 0, sizeof *out);
	if (reason != NULL)
		*reason = why;
	return r;
}

int
sts_introspect(struct sts *sts, struct str token, int64_t now,
    struct arena *a, struct str *body)
{
	struct sts_verified v;
	const char *why = NULL;
	json_t *o = NULL;
	int r;

	*body = STR_NULL;
	r = verify_core(sts, token, STR_NULL, now, a, &v, &why);
	if (r == MANDATE_EINVAL) {
		*body = arena_strdup(a, "{\"active\":false}", 16);
		return body->p != NULL ? MANDATE_OK : MANDATE_ENOMEM;
	}
	if (r != MANDATE_OK)
		return r;
	o = json_loadb(v.payload.p, v.payload.n, 0, NULL);
	if (!json_is_object(o))
		goto inactive;
	json_object_set_new(o, "active", json_true());
	json_object_set_new(o, "token_type",
	    json_string(v.jkt.n > 0 ? "DPoP" : "Bearer"));
	r = dump(o, a, body);
	json_decref(o);
	return r;
inactive:
	json_decref(o);
	*body = arena_strdup(a, "{\"active\":false}", 16);
	return body->p != NULL ? MANDATE_OK : MANDATE_ENOMEM;
}

/* The token.revoked record of a revocation of the credential the claims
 * cl name (what the token named, never the token), in va: through the
 * audit log's one path when there is one, as audit_event does. */
static int
revoked_event(struct sts *sts, const struct jose_claims *cl,
    struct str request_id, int64_t now, struct arena *va,
    struct store_audit_event *e)
{
	struct str task = get_s(cl->obj, "task");
	json_t *j;
	char *f;

	memset(e, 0, sizeof(*e));
	j = json_pack("{s:s%,s:I,s:s%}", "jti", cl->jti.p ? cl->jti.p : "",
	    cl->jti.n, "exp", (json_int_t)(cl->has_exp ? cl->exp : 0),
	    "task_id", task.p ? task.p : "", task.n);
	if (j == NULL)
		return MANDATE_ENOMEM;
	e->time = now;
	e->type = str_c("token.revoked");
	e->request_id = request_id.n <= STORE_MAX_ID ? request_id : STR_NULL;
	e->agent = cl->sub.n <= STORE_MAX_NAME ? cl->sub : STR_NULL;
	e->task_id = task.n <= STORE_MAX_ID ? task : STR_NULL;
	if (sts->opt.audit != NULL) {
		struct audit_event ae;

		memset(&ae, 0, sizeof(ae));
		ae.time = now;
		ae.type = "token.revoked";
		ae.request_id = e->request_id;
		ae.agent = e->agent;
		ae.task_id = e->task_id;
		return audit_prepare(sts->opt.audit, &ae, j, va, e);
	}
	f = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (f == NULL)
		return MANDATE_ENOMEM;
	e->fields_json = arena_strdup(va, f, strlen(f));
	free(f);
	return e->fields_json.p != NULL ? MANDATE_OK : MANDATE_ENOMEM;
}

int
sts_revoke(struct sts *sts, struct str token, struct str request_id,
    int64_t now, struct arena *a, struct sts_revocation *out)
{
	struct arena va;
	struct jose_claims cl;
	struct store_audit_event e;
	const char *why = NULL;
	int64_t id = 0;
	bool unrecorded = false;
	int r, changed = 0;

	if (out != NULL)
		memset(out, 0, sizeof *out);
	arena_init(&va, 256 * 1024);
	r = verify_sig(sts, token, STR_NULL, now, false, &va, &cl, NULL, &why);
	if (r != MANDATE_OK) {
		r = r == MANDATE_EINVAL ? MANDATE_OK : r;
		goto out;
	}
	/* the revocation and its record in one commit: a crash cannot
	 * leave the credential revoked without token.revoked */
	if ((r = revoked_event(sts, &cl, request_id, now, &va, &e)) ==
	    MANDATE_OK) {
		r = store_cred_revoke_audited(sts->store, cl.jti, now, &e,
		    &changed, &id);
		if (r != MANDATE_ENOTFOUND && (r != MANDATE_OK || changed))
			audit_report(sts->opt.audit, r, id);  /* append tried */
	}
	if (r != MANDATE_OK && r != MANDATE_ENOTFOUND) {
		/* the record failed: the revocation alone (EIO when that
		 * fails too: nothing was revoked) */
		unrecorded = true;
		r = store_cred_revoke(sts->store, cl.jti, now, &changed);
	}
	if (r == MANDATE_ENOTFOUND) {
		r = MANDATE_OK;
		goto out;
	}
	if (r != MANDATE_OK || !changed)
		goto out;
	if (out == NULL) {
		r = unrecorded ? MANDATE_EIO : MANDATE_OK;
		goto out;
	}
	/* revoked: from here on an error is only that of the copies, and
	 * the revocation stands (the caller says what it could not say) */
	out->revoked = true;
	out->unrecorded = unrecorded;
	out->exp = cl.has_exp ? cl.exp : 0;
	out->jti = arena_strdup(a, cl.jti.p, cl.jti.n);
	out->sub = arena_strdup(a, cl.sub.p, cl.sub.n);
	out->task_id = get_s(cl.obj, "task");
	out->task_id = arena_strdup(a, out->task_id.p, out->task_id.n);
	if (out->jti.p == NULL || out->sub.p == NULL ||
	    out->task_id.p == NULL)
		r = MANDATE_ENOMEM;
out:
	arena_free(&va);
	return r;
}

int
sts_metadata_json(struct sts *sts, struct arena *a, struct str *out)
{
	const char *iss = sts->tok->issuer;
	size_t n = strlen(iss);
	char buf[4][2048];
	static const char *const paths[4] = { "/oauth2/token",
	    "/oauth2/introspect", "/oauth2/revoke", "/.well-known/jwks.json" };
	json_t *o, *algs;
	int r;

	*out = STR_NULL;
	while (n > 0 && iss[n - 1] == '/')
		n--;
	for (int i = 0; i < 4; i++) {
		int w = snprintf(buf[i], sizeof buf[i], "%.*s%s", (int)n, iss,
		    paths[i]);
		if (w < 0 || (size_t)w >= sizeof buf[i])
			return MANDATE_ELIMIT;
	}
	if ((algs = json_array()) == NULL)
		return MANDATE_ENOMEM;
	for (int al = 1; al < JOSE_ALG__COUNT; al++)
		if (sts->dpop_algs & JOSE_ALG_BIT(al))
			json_array_append_new(algs,
			    json_string(jose_alg_name((enum jose_alg)al)));
	/* client authentication: none (the subject token authenticates
	 * the agent); tls_client_auth is not implemented, so not said.
	 * The revocation endpoint takes no client authentication either
	 * (holding the token is enough), and says so: RFC 8414 2 reads a
	 * missing revocation_endpoint_auth_methods_supported as
	 * client_secret_basic.  Introspection takes a Bearer token or an
	 * mTLS caller as configured in api_auth (docs/api.md), which
	 * this module does not know: not said, which RFC 8414 2 reads as
	 * "determined by other means". */
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:[s],s:o,s:[s],s:[s],s:[s]}",
	    "issuer", iss,
	    "token_endpoint", buf[0],
	    "introspection_endpoint", buf[1],
	    "revocation_endpoint", buf[2],
	    "jwks_uri", buf[3],
	    "grant_types_supported", STS_GRANT_TOKEN_EXCHANGE,
	    "dpop_signing_alg_values_supported", algs,
	    "authorization_details_types_supported", STS_AUTHZ_TYPE,
	    "token_endpoint_auth_methods_supported", "none",
	    "revocation_endpoint_auth_methods_supported", "none");
	if (o == NULL)
		return MANDATE_ENOMEM;
	r = dump(o, a, out);
	json_decref(o);
	return r;
}

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

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "sts/sts_int.h"
#include "util/json.h"
#include "util/status.h"

#define JSON_DEPTH 16

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

int
sts_open(const struct sts_options *opt, struct store *s, int64_t now,
    struct sts **out)
{
	int r;
	struct sts *sts;

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
	pthread_mutex_init(&sts->mu, NULL);
	pthread_mutex_init(&sts->rot_mu, NULL);
	if (RAND_bytes(sts->nonce_key, sizeof sts->nonce_key) != 1) {
		r = MANDATE_EINTERNAL;
		goto fail;
	}
	if ((r = sts_replay_init(&sts->replay,
	    sts->tok->dpop.replay_cache_size)) != MANDATE_OK)
		goto fail;
	if ((r = sts_keys_init(sts, now)) != MANDATE_OK)
		goto fail;
	*out = sts;
	return MANDATE_OK;
fail:
	sts_close(sts);
	return r;
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
	free(sts);
}

/* --- helpers ---------------------------------------------------------------- */

static json_t *
jstr(struct str s)
{
	return json_stringn(s.p != NULL ? s.p : "", s.n);
}

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

static bool
scope_ok(struct str s)
{
	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (c < 0x20 || c == 0x22 || c == 0x5c || c >= 0x7f)
			return false;
	}
	return s.n <= 4096;
}

/* --- minting ---------------------------------------------------------------- */

int
sts_mint(struct sts *sts, const struct sts_mint_req *req, struct arena *a,
    struct sts_token *out)
{
	int r = MANDATE_ENOMEM;
	struct sts_snap *snap = NULL;
	json_t *c = NULL, *ad = NULL, *acts = NULL, *aud = NULL;
	uint8_t rnd[16];
	char jti[32], *audtext = NULL;
	struct str payload, tok;
	struct jose_sign_opts so;
	struct store_credential cred;
	size_t i, audlen = 0;

	memset(out, 0, sizeof *out);
	if (req->sub.n == 0 || req->task_id.n == 0 || req->n_aud == 0 ||
	    req->n_aud > STS_MAX_AUDIENCES || req->exp <= req->now ||
	    req->n_actions > STS_MAX_ACTIONS)
		return MANDATE_EINVAL;
	if ((snap = sts_snap_get(sts)) == NULL)
		return MANDATE_EINTERNAL;
	if (RAND_bytes(rnd, sizeof rnd) != 1 ||
	    jose_b64url_encode(rnd, sizeof rnd, jti, sizeof jti) != 22) {
		r = MANDATE_EINTERNAL;
		goto out;
	}
	if ((c = json_object()) == NULL || (acts = json_array()) == NULL ||
	    (ad = json_object()) == NULL)
		goto out;
	if (req->n_aud == 1) {
		aud = jstr(req->aud[0]);
	} else {
		aud = json_array();
		for (i = 0; aud != NULL && i < req->n_aud; i++)
			if (json_array_append_new(aud, jstr(req->aud[i])))
				goto out;
	}
	for (i = 0; i < req->n_actions; i++)
		if (json_array_append_new(acts, jstr(req->actions[i])) != 0)
			goto out;
	/* every member must be set: a claim silently missing (e.g. text
	 * jansson refuses as bad UTF-8) would change the token's meaning */
	r = MANDATE_EINVAL;
	if (json_object_set_new(ad, "type", json_string(STS_AUTHZ_TYPE)) ||
	    json_object_set_new(ad, "task_id", jstr(req->task_id)) ||
	    json_object_set(ad, "actions", acts) ||
	    json_object_set_new(c, "iss", json_string(sts->tok->issuer)) ||
	    json_object_set_new(c, "sub", jstr(req->sub)) ||
	    json_object_set(c, "aud", aud) ||
	    json_object_set_new(c, "exp", json_integer(req->exp)) ||
	    json_object_set_new(c, "iat", json_integer(req->now)) ||
	    json_object_set_new(c, "nbf", json_integer(req->now)) ||
	    json_object_set_new(c, "jti", json_string(jti)) ||
	    json_object_set_new(c, "client_id",
	    jstr(req->client_id.n ? req->client_id : req->sub)) ||
	    json_object_set_new(c, "task", jstr(req->task_id)) ||
	    json_object_set_new(c, "authorization_details",
	    json_pack("[O]", ad)))
		goto out;
	if (req->scope.n > 0 &&
	    json_object_set_new(c, "scope", jstr(req->scope)))
		goto out;
	if (req->act_json.n > 0) {
		json_t *act = json_loadb(req->act_json.p, req->act_json.n,
		    JSON_REJECT_DUPLICATES, NULL);
		if (!json_is_object(act)) {
			json_decref(act);
			goto out;
		}
		if (json_object_set_new(c, "act", act))
			goto out;
	}
	if (req->jkt.n > 0 && (req->jkt.n != JOSE_THUMBPRINT_LEN ||
	    json_object_set_new(c, "cnf",
	    json_pack("{s:s%}", "jkt", req->jkt.p, req->jkt.n))))
		goto out;
	if ((r = dump(c, a, &payload)) != MANDATE_OK)
		goto out;
	memset(&so, 0, sizeof so);
	so.typ = STR_LIT("at+jwt");
	if ((r = jose_jws_sign(a, snap->signer, JOSE_ALG_ES256, &so, payload,
	    &tok)) != MANDATE_OK)
		goto out;
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
	memset(&cred, 0, sizeof cred);
	cred.jti = str_c(jti);
	cred.task_id = req->task_id;
	cred.agent = req->sub;
	cred.audience = str_make(audtext, audlen);
	cred.issued_at = req->now;
	cred.expires_at = req->exp;
	cred.cnf_jkt = req->jkt;
	if ((r = store_cred_insert(sts->store, &cred)) != MANDATE_OK)
		goto out;
	out->access_token = tok;
	out->jti = arena_strdup(a, jti, strlen(jti));
	out->exp = req->exp;
	r = out->jti.p != NULL ? MANDATE_OK : MANDATE_ENOMEM;
out:
	json_decref(c);
	json_decref(ad);
	json_decref(acts);
	json_decref(aud);
	sts_snap_put(snap);
	return r;
}

/* --- exchange ---------------------------------------------------------------- */

struct xstate {
	struct sts *sts;
	const struct sts_exchange_req *req;
	struct arena *a;
	struct sts_result *res;
	struct str task_id;
	json_t *fields;               /* audit fields */
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

/* Does the act chain (an object, nested "act") name sub? */
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

static int
audit(struct xstate *x, const char *type)
{
	struct store_audit_event e;
	struct str f;
	int r;

	if (x->res->error != NULL) {
		json_object_set_new(x->fields, "error",
		    json_string(x->res->error));
		json_object_set_new(x->fields, "reason",
		    json_string(x->res->reason ? x->res->reason : ""));
	}
	if (x->sts->opt.audit != NULL) {
		struct audit_event ae;
		json_t *copy = json_deep_copy(x->fields);

		if (copy == NULL)
			return MANDATE_ENOMEM;
		memset(&ae, 0, sizeof(ae));
		ae.time = x->req->now;
		ae.type = type;
		ae.request_id = x->req->request_id;
		ae.agent = x->req->subject.sub;
		ae.task_id = x->task_id;
		return audit_record(x->sts->opt.audit, &ae, copy, NULL);
	}
	if ((r = dump(x->fields, x->a, &f)) != MANDATE_OK)
		return r;
	memset(&e, 0, sizeof e);
	e.time = x->req->now;
	e.type = str_c(type);
	e.request_id = x->req->request_id;
	e.agent = x->req->subject.sub;
	e.task_id = x->task_id;
	e.fields_json = f;
	if (e.agent.n > STORE_MAX_NAME)
		e.agent = STR_NULL;
	if (e.task_id.n > STORE_MAX_ID)
		e.task_id = STR_NULL;
	if (e.request_id.n > STORE_MAX_ID)
		e.request_id = STR_NULL;
	return store_audit_append(x->sts->store, &e, NULL);
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
	struct str auds[STS_MAX_AUDIENCES], actions[STS_MAX_ACTIONS];
	size_t n_aud = 0, n_act = 0, i, j;
	struct store_task task;
	struct sts_mint_req m;
	struct sts_token t;
	struct str act_text = STR_NULL;
	int64_t exp;
	int r;
	json_t *resp = NULL, *jacts = NULL;

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
	json_object_set_new(x->fields, "task_id", jstr(x->task_id));
	if ((acts = ajson_get(e, "actions")) != NULL) {
		if (!ajson_is(acts, AJSON_ARRAY) || acts->u.arr.n == 0 ||
		    acts->u.arr.n > STS_MAX_ACTIONS)
			return refuse(x, 400, "invalid_authorization_details",
			    "actions must be a non-empty array", "actions");
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

	/* the task's intents: names, or objects with "action" */
	r = ajson_parse(a, task.intents_json.p, task.intents_json.n,
	    &(struct ajson_opts){ .max_depth = 64 }, &intents, NULL);
	if (r == MANDATE_ENOMEM)
		return r;
	if (r != MANDATE_OK || !ajson_is(intents, AJSON_ARRAY))
		return refuse(x, 500, "server_error", "task unreadable",
		    "task intents_json malformed");
	for (i = 0; i < intents->u.arr.n && n_act < STS_MAX_ACTIONS; i++) {
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
			struct str w = str_make(req->scope.p + i, k - i);
			for (j = 0; j < n_act && !str_eq(actions[j], w); j++)
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
	}
	{
		json_t *act = NULL, *inner = NULL;
		if (chain != NULL)
			inner = json_loadb(task.act_json.p, task.act_json.n,
			    0, NULL);
		else if (task.delegator.n > 0)
			inner = json_pack("{s:s%}", "sub", task.delegator.p,
			    task.delegator.n);
		act = inner;
		if (req->has_actor_token &&
		    !str_eq(req->actor->sub, chain != NULL ?
		    get_s(chain, "sub") : task.delegator)) {
			act = json_pack("{s:s%}", "sub", req->actor->sub.p,
			    req->actor->sub.n);
			if (act != NULL && inner != NULL)
				json_object_set_new(act, "act", inner);
			else
				json_decref(inner);
		}
		if (act != NULL) {
			r = dump(act, a, &act_text);
			json_decref(act);
			if (r != MANDATE_OK)
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
	if ((r = sts_mint(sts, &m, a, &t)) != MANDATE_OK)
		return r;
	x->res->jti = t.jti;

	r = MANDATE_ENOMEM;
	if ((jacts = json_array()) == NULL)
		goto out;
	for (i = 0; i < n_act; i++)
		json_array_append_new(jacts, jstr(actions[i]));
	resp = json_pack("{s:s%,s:s,s:s,s:I,s:[{s:s,s:s%,s:O}]}",
	    "access_token", t.access_token.p, t.access_token.n,
	    "issued_token_type", STS_TT_ACCESS_TOKEN,
	    "token_type", req->dpop_jkt.n > 0 ? "DPoP" : "Bearer",
	    "expires_in", (json_int_t)(exp - req->now),
	    "authorization_details", "type", STS_AUTHZ_TYPE,
	    "task_id", x->task_id.p, x->task_id.n, "actions", jacts);
	if (resp == NULL)
		goto out;
	if (req->scope.n > 0)
		json_object_set_new(resp, "scope", jstr(req->scope));
	if ((r = dump(resp, a, &x->res->body)) != MANDATE_OK)
		goto out;
	x->res->http_status = 200;
	json_object_set_new(x->fields, "jti", jstr(t.jti));
	json_object_set_new(x->fields, "exp", json_integer(exp));
	{
		json_t *ja = json_array();
		for (i = 0; ja != NULL && i < n_aud; i++)
			json_array_append_new(ja, jstr(auds[i]));
		json_object_set_new(x->fields, "aud", ja);
	}
	json_object_set(x->fields, "actions", jacts);
	if (req->dpop_jkt.n > 0)
		json_object_set_new(x->fields, "jkt", jstr(req->dpop_jkt));
	r = MANDATE_OK;
out:
	json_decref(resp);
	json_decref(jacts);
	return r;
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
	if ((x.fields = json_object()) == NULL)
		return MANDATE_ENOMEM;
	r = exchange(&x);
	if (r != MANDATE_OK) {
		/* no answer: tell the client only "server_error" */
		if (res->jti.n > 0)
			store_cred_revoke(sts->store, res->jti, req->now, NULL);
		res->jti = STR_NULL;
		refuse(&x, 500, "server_error", "temporarily unavailable",
		    mandate_strerror(r));
		audit(&x, "token.refused");
		goto out;
	}
	ra = audit(&x, res->error == NULL ? "token.issued" :
	    "token.refused");
	if (ra != MANDATE_OK && res->error == NULL) {
		/* an unaudited token must not exist */
		store_cred_revoke(sts->store, res->jti, req->now, NULL);
		res->jti = STR_NULL;
		refuse(&x, 500, "server_error", "temporarily unavailable",
		    "audit append failed");
		r = ra;
	}
out:
	json_decref(x.fields);
	return r;
}

/* --- verification ------------------------------------------------------------- */

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
	if (jose_jws_verify_set(&jws, snap->pub, JOSE_ALG_BIT(JOSE_ALG_ES256),
	    NULL) != MANDATE_OK) {
		*why = "token signature invalid or key unknown";
		goto out;
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
	char jkt[JOSE_THUMBPRINT_LEN + 1];
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
		r = sts_dpop_verify(sts, dpop_proof, htm, htu, token, now, jkt,
		    &why);
		if (r != MANDATE_OK)
			goto out;
		if (CRYPTO_memcmp(jkt, out->jkt.p, JOSE_THUMBPRINT_LEN) != 0) {
			why = "DPoP key does not match cnf.jkt";
			r = MANDATE_EINVAL;
			goto out;
		}
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

int
sts_revoke(struct sts *sts, struct str token, int64_t now, bool *revoked)
{
	struct arena a;
	struct jose_claims cl;
	const char *why = NULL;
	int r, changed = 0;

	if (revoked != NULL)
		*revoked = false;
	arena_init(&a, 256 * 1024);
	r = verify_sig(sts, token, STR_NULL, now, false, &a, &cl, NULL, &why);
	if (r != MANDATE_OK) {
		r = r == MANDATE_EINVAL ? MANDATE_OK : r;
		goto out;
	}
	r = store_cred_revoke(sts->store, cl.jti, now, &changed);
	if (r == MANDATE_ENOTFOUND)
		r = MANDATE_OK;
	else if (r == MANDATE_OK && revoked != NULL)
		*revoked = changed != 0;
out:
	arena_free(&a);
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
	if (n > 0 && iss[n - 1] == '/')
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
	o = json_pack("{s:s,s:s,s:s,s:s,s:s,s:[s],s:o,s:[s],s:[s,s]}",
	    "issuer", iss,
	    "token_endpoint", buf[0],
	    "introspection_endpoint", buf[1],
	    "revocation_endpoint", buf[2],
	    "jwks_uri", buf[3],
	    "grant_types_supported", STS_GRANT_TOKEN_EXCHANGE,
	    "dpop_signing_alg_values_supported", algs,
	    "authorization_details_types_supported", STS_AUTHZ_TYPE,
	    "token_endpoint_auth_methods_supported", "none",
	    "tls_client_auth");
	if (o == NULL)
		return MANDATE_ENOMEM;
	r = dump(o, a, out);
	json_decref(o);
	return r;
}

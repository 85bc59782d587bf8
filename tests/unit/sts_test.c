/*
 * sts_test.c - the token service through sts.h, on a temporary SQLite
 * store and freshly generated keys: exchange, mint, verify, introspect,
 * revoke; task end/expiry and the kill switch; refusals with their OAuth
 * codes (data-driven); DPoP proofs and bound tokens; key rotation and the
 * JWKS at each step; metadata; and a mint+verify rate measurement.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "jose/jose.h"
#include "store/store.h"
#include "sts/sts.h"
#include "sts/sts_int.h"
#include "util/arena.h"
#include "util/status.h"

#define T0 1700000000LL
#define ISS "https://mandate.test"
#define AUD "https://api.test"
#define AGENT "spiffe://dev.local/agent/a1"
#define HUMAN "alice@example.com"
#define HTU "https://mandate.test/oauth2/token"

struct fx {
	char dir[64];
	char db[128];
	char keydir[128];
	struct store *s;
	struct config_tokens tok;
	struct sts *sts;
	struct arena a;
	int64_t publish_delay;
	char task[STORE_TASK_ID_SIZE];
	struct jose_key *dkey;        /* a client's DPoP key */
};

static int
open_sts(struct fx *f)
{
	struct sts_options o;

	memset(&o, 0, sizeof o);
	o.tokens = &f->tok;
	o.publish_delay = f->publish_delay;
	return sts_open(&o, f->s, T0, &f->sts);
}

static int
make_task(struct fx *f, const char *agent, const char *intents,
    int64_t expires, char *id)
{
	struct store_task t;

	memset(&t, 0, sizeof t);
	if (store_task_new_id(id) != MANDATE_OK)
		return -1;
	t.id = str_c(id);
	t.agent = str_c(agent);
	t.delegator = str_c(HUMAN);
	t.objective = STR_LIT("test");
	t.intents_json = str_c(intents);
	t.created_at = T0;
	t.expires_at = expires;
	t.call_budget = 100;
	return store_task_create(f->s, &t);
}

static int
setup_delay(void **state, int64_t delay)
{
	struct fx *f = calloc(1, sizeof *f);

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof f->dir, "/tmp/sts_test.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->db, sizeof f->db, "%s/m.db", f->dir);
	snprintf(f->keydir, sizeof f->keydir, "%s/keys", f->dir);
	if (store_open(&store_sqlite_ops, f->db, NULL, &f->s) != MANDATE_OK)
		return -1;
	f->tok.issuer = ISS;
	f->tok.audience = AUD;
	f->tok.default_ttl = 300;
	f->tok.max_ttl = 3600;
	f->tok.key_dir = f->keydir;
	f->tok.rotation_overlap = 3600;
	f->tok.dpop.algorithms = 0x1f;
	f->tok.dpop.iat_window = 60;
	f->tok.dpop.replay_cache_size = 1000;
	f->publish_delay = delay;
	if (open_sts(f) != MANDATE_OK)
		return -1;
	arena_init(&f->a, 0);
	if (make_task(f, AGENT, "[\"read\",{\"action\":\"write\","
	    "\"resource\":\"doc\"},\"send\"]", T0 + 900, f->task) !=
	    MANDATE_OK)
		return -1;
	if (jose_key_generate_es256(STR_NULL, &f->dkey) != MANDATE_OK)
		return -1;
	*state = f;
	return 0;
}

static int
setup(void **state)
{
	return setup_delay(state, 0);
}

static int
setup_delayed(void **state)
{
	return setup_delay(state, 60);
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[200];

	sts_close(f->sts);
	store_close(f->s);
	arena_free(&f->a);
	jose_key_unref(f->dkey);
	snprintf(cmd, sizeof cmd, "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* --- helpers ------------------------------------------------------------- */

struct xreq {
	const char *grant, *stt, *rtt, *authz, *aud, *agent;
	const char *actor, *att;
	const char *jkt;
	const char *scope;
	int64_t now;
	bool oidc_subject, oidc_actor;  /* not from a SPIFFE issuer */
};

static void
xreq_default(struct fx *f, struct xreq *x, const char *actions)
{
	static char authz[512];

	memset(x, 0, sizeof *x);
	x->grant = STS_GRANT_TOKEN_EXCHANGE;
	x->stt = STS_TT_JWT;
	if (actions != NULL)
		snprintf(authz, sizeof authz, "[{\"type\":\"mandate_task\","
		    "\"task_id\":\"%s\",\"actions\":%s}]", f->task, actions);
	else
		snprintf(authz, sizeof authz, "[{\"type\":\"mandate_task\","
		    "\"task_id\":\"%s\"}]", f->task);
	x->authz = authz;
	x->agent = AGENT;
	x->now = T0 + 10;
}

static int
do_exchange(struct fx *f, const struct xreq *x, struct sts_result *res)
{
	struct sts_exchange_req r;
	struct str aud;
	struct sts_principal actor;

	memset(&r, 0, sizeof r);
	memset(&actor, 0, sizeof actor);
	r.grant_type = str_c(x->grant);
	r.subject_token_type = str_c(x->stt);
	r.requested_token_type = str_c(x->rtt);
	r.authorization_details = str_c(x->authz);
	if (x->aud != NULL) {
		aud = str_c(x->aud);
		r.audience = &aud;
		r.n_audience = 1;
	}
	r.subject.sub = str_c(x->agent);
	r.subject.spiffe = !x->oidc_subject;
	if (x->actor != NULL) {
		actor.sub = str_c(x->actor);
		actor.iss = STR_NULL;
		actor.spiffe = !x->oidc_actor;
		r.has_actor_token = true;
		r.actor_token_type = str_c(x->att ? x->att : STS_TT_JWT);
		r.actor = &actor;
	}
	r.dpop_jkt = str_c(x->jkt);
	r.scope = str_c(x->scope);
	r.request_id = STR_LIT("req-1");
	r.now = x->now;
	return sts_exchange(f->sts, &r, &f->a, res);
}

/* Exchange and return the access token (asserting success). */
static struct str
get_token(struct fx *f, const char *actions, const char *jkt)
{
	struct xreq x;
	struct sts_result res;
	json_t *b;
	struct str tok;

	xreq_default(f, &x, actions);
	x.jkt = jkt;
	assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
	assert_null(res.error);
	assert_int_equal(res.http_status, 200);
	b = json_loadb(res.body.p, res.body.n, 0, NULL);
	assert_non_null(b);
	tok = arena_strdup(&f->a, json_string_value(json_object_get(b,
	    "access_token")), strlen(json_string_value(json_object_get(b,
	    "access_token"))));
	assert_string_equal(json_string_value(json_object_get(b,
	    "token_type")), jkt ? "DPoP" : "Bearer");
	json_decref(b);
	return tok;
}

static const char *
verify(struct fx *f, struct str tok, struct str proof, const char *htm,
    const char *htu, int64_t now)
{
	struct sts_verified v;
	const char *why = "x";
	int r = sts_verify_access_token(f->sts, tok, STR_NULL, proof,
	    str_c(htm), str_c(htu), now, &f->a, &v, &why);

	if (r == MANDATE_OK) {
		assert_null(why);
		return NULL;
	}
	assert_non_null(why);
	return why;
}

static bool
introspect_active(struct fx *f, struct str tok, int64_t now)
{
	struct str body;
	json_t *b;
	bool active;

	assert_int_equal(sts_introspect(f->sts, tok, now, &f->a, &body),
	    MANDATE_OK);
	b = json_loadb(body.p, body.n, 0, NULL);
	assert_non_null(b);
	active = json_is_true(json_object_get(b, "active"));
	if (!active)
		assert_int_equal(json_object_size(b), 1);
	json_decref(b);
	return active;
}

/* A DPoP proof signed by key (ES256 with embedded jwk), header typ. */
static struct str
proof_typ(struct fx *f, const struct jose_key *key, const char *typ,
    const char *htm, const char *htu, int64_t iat, const char *jti,
    struct str token)
{
	char payload[1024], ath[64] = "";
	struct jose_sign_opts so;
	struct str out;

	if (token.n > 0) {
		unsigned char h[SHA256_DIGEST_LENGTH];
		SHA256((const unsigned char *)token.p, token.n, h);
		jose_b64url_encode(h, sizeof h, ath, sizeof ath);
	}
	snprintf(payload, sizeof payload, "{\"jti\":\"%s\",\"htm\":\"%s\","
	    "\"htu\":\"%s\",\"iat\":%lld%s%s%s}", jti, htm, htu,
	    (long long)iat, token.n ? ",\"ath\":\"" : "", ath,
	    token.n ? "\"" : "");
	memset(&so, 0, sizeof so);
	so.typ = str_c(typ);
	so.embed_jwk = true;
	so.omit_kid = true;
	assert_int_equal(jose_jws_sign(&f->a, key, JOSE_ALG_ES256, &so,
	    str_c(payload), &out), MANDATE_OK);
	return out;
}

static struct str
proof(struct fx *f, const struct jose_key *key, const char *htm,
    const char *htu, int64_t iat, const char *jti, struct str token)
{
	return proof_typ(f, key, "dpop+jwt", htm, htu, iat, jti, token);
}

static struct str
token_kid(struct fx *f, struct str tok)
{
	struct jose_jws jws;

	assert_int_equal(jose_jws_parse(&f->a, tok.p, tok.n, 0, &jws, NULL),
	    MANDATE_OK);
	return jws.kid;
}

static size_t
jwks_count(struct fx *f)
{
	struct str j;
	json_t *b;
	size_t n;

	assert_int_equal(sts_keys_jwks_json(f->sts, &f->a, &j), MANDATE_OK);
	b = json_loadb(j.p, j.n, 0, NULL);
	assert_non_null(b);
	n = json_array_size(json_object_get(b, "keys"));
	json_decref(b);
	return n;
}

/* --- happy path ------------------------------------------------------------ */

static void
test_happy(void **state)
{
	struct fx *f = *state;
	struct str tok = get_token(f, "[\"read\",\"write\"]", NULL);
	struct sts_verified v;
	const char *why;
	struct str body;
	json_t *b, *ad;
	struct sts_revocation rev;
	struct store_audit_event *ev;
	struct str jti;
	size_t n_ev;

	assert_int_equal(sts_verify_access_token(f->sts, tok, STR_LIT(AUD),
	    STR_NULL, STR_NULL, STR_NULL, T0 + 20, &f->a, &v, &why),
	    MANDATE_OK);
	assert_true(str_eq_c(v.sub, AGENT));
	assert_true(str_eq_c(v.task_id, f->task));
	assert_int_equal(v.jti.n, STS_JTI_LEN);
	assert_int_equal(v.exp, T0 + 10 + 300);
	jti = v.jti;
	/* wrong audience */
	assert_int_equal(sts_verify_access_token(f->sts, tok,
	    STR_LIT("https://other"), STR_NULL, STR_NULL, STR_NULL, T0 + 20,
	    &f->a, &v, &why), MANDATE_EINVAL);

	assert_int_equal(sts_introspect(f->sts, tok, T0 + 20, &f->a, &body),
	    MANDATE_OK);
	b = json_loadb(body.p, body.n, 0, NULL);
	assert_true(json_is_true(json_object_get(b, "active")));
	assert_string_equal(json_string_value(json_object_get(b, "sub")),
	    AGENT);
	assert_string_equal(json_string_value(json_object_get(b, "iss")), ISS);
	assert_string_equal(json_string_value(json_object_get(b, "task")),
	    f->task);
	assert_string_equal(json_string_value(json_object_get(json_object_get(
	    b, "act"), "sub")), HUMAN);
	ad = json_array_get(json_object_get(b, "authorization_details"), 0);
	assert_string_equal(json_string_value(json_object_get(ad, "type")),
	    "mandate_task");
	assert_int_equal(json_array_size(json_object_get(ad, "actions")), 2);
	json_decref(b);

	/* revocation: garbage is fine (200), ours is revoked, and what was
	 * revoked is said for the record: the credential, not the token */
	assert_int_equal(sts_revoke(f->sts, STR_LIT("garbage"), STR_NULL,
	    T0 + 30, &f->a, &rev), MANDATE_OK);
	assert_false(rev.revoked);
	assert_null(rev.jti.p);
	assert_int_equal(sts_revoke(f->sts, tok, STR_LIT("rq-rev"), T0 + 30,
	    &f->a, &rev), MANDATE_OK);
	assert_true(rev.revoked);
	assert_true(str_eq(rev.jti, jti));
	assert_true(str_eq_c(rev.sub, AGENT));
	assert_true(str_eq_c(rev.task_id, f->task));
	assert_int_equal(rev.exp, T0 + 10 + 300);
	/* once only: a second revocation changes nothing */
	assert_int_equal(sts_revoke(f->sts, tok, STR_LIT("rq-rev"), T0 + 30,
	    &f->a, &rev), MANDATE_OK);
	assert_false(rev.revoked);
	assert_null(rev.jti.p);
	assert_false(introspect_active(f, tok, T0 + 31));
	assert_string_equal(verify(f, tok, STR_NULL, NULL, NULL, T0 + 31),
	    "credential revoked");

	/* audited: the issuance, and the revocation that took effect
	 * (in its commit: what the token named, never the token) */
	assert_int_equal(store_audit_read(f->s, 1, 10, &f->a, &ev, &n_ev),
	    MANDATE_OK);
	assert_int_equal(n_ev, 2);
	assert_true(str_eq_c(ev[1].type, "token.revoked"));
	assert_true(str_eq_c(ev[1].request_id, "rq-rev"));
	assert_true(str_eq_c(ev[1].agent, AGENT));
	assert_true(str_eq_c(ev[1].task_id, f->task));
	b = json_loadb(ev[1].fields_json.p, ev[1].fields_json.n, 0, NULL);
	assert_non_null(b);
	assert_non_null(json_string_value(json_object_get(b, "jti")));
	assert_true(str_eq(str_c(json_string_value(json_object_get(b,
	    "jti"))), jti));
	assert_int_equal(json_integer_value(json_object_get(b, "exp")),
	    T0 + 10 + 300);
	assert_null(json_object_get(b, "token"));
	json_decref(b);
	assert_true(str_eq_c(ev[0].type, "token.issued"));
	assert_true(str_eq_c(ev[0].task_id, f->task));
	/* its fields: what was granted, and no error */
	b = json_loadb(ev[0].fields_json.p, ev[0].fields_json.n,
	    JSON_REJECT_DUPLICATES, NULL);
	assert_non_null(b);
	assert_string_equal(json_string_value(json_object_get(b, "task_id")),
	    f->task);
	assert_int_equal(json_string_length(json_object_get(b, "jti")),
	    STS_JTI_LEN);
	assert_int_equal(json_integer_value(json_object_get(b, "exp")),
	    T0 + 10 + 300);
	assert_string_equal(json_string_value(json_array_get(json_object_get(b,
	    "aud"), 0)), AUD);
	assert_int_equal(json_array_size(json_object_get(b, "actions")), 2);
	assert_null(json_object_get(b, "error"));
	assert_null(json_object_get(b, "jkt"));
	json_decref(b);
}

static void
test_all_intents_and_expiry(void **state)
{
	struct fx *f = *state;
	struct str tok = get_token(f, NULL, NULL);
	char task2[STORE_TASK_ID_SIZE], authz[256];
	struct xreq x;
	struct sts_result res;
	struct sts_verified v;
	const char *why;
	json_t *b;

	assert_non_null(tok.p);
	/* expired by time */
	assert_string_equal(verify(f, tok, STR_NULL, NULL, NULL, T0 + 310),
	    "token claims invalid");
	/* a task ending in 60 s caps the token's exp */
	assert_int_equal(make_task(f, AGENT, "[\"read\"]", T0 + 70, task2),
	    MANDATE_OK);
	xreq_default(f, &x, NULL);
	snprintf(authz, sizeof authz, "[{\"type\":\"mandate_task\","
	    "\"task_id\":\"%s\"}]", task2);
	x.authz = authz;
	assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
	assert_null(res.error);
	b = json_loadb(res.body.p, res.body.n, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(b, "expires_in")),
	    60);
	tok = arena_strdup(&f->a, json_string_value(json_object_get(b,
	    "access_token")), strlen(json_string_value(json_object_get(b,
	    "access_token"))));
	json_decref(b);
	assert_int_equal(sts_verify_access_token(f->sts, tok, STR_NULL,
	    STR_NULL, STR_NULL, STR_NULL, T0 + 60, &f->a, &v, &why),
	    MANDATE_OK);
	assert_int_equal(v.exp, T0 + 70);
	/* after the task expired: refused */
	x.now = T0 + 71;
	assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
	assert_string_equal(res.error, "invalid_grant");
	assert_string_equal(res.reason, "task expired");
}

static void
test_task_end_and_kill(void **state)
{
	struct fx *f = *state;
	struct str t1 = get_token(f, "[\"read\"]", NULL);
	struct str t2;
	char task2[STORE_TASK_ID_SIZE], authz[256];
	int changed;
	struct xreq x;
	struct sts_result res;
	struct store_agent_revocation rv;

	assert_true(introspect_active(f, t1, T0 + 20));
	assert_int_equal(store_task_end(f->s, str_c(f->task), T0 + 20,
	    STR_LIT("done"), &changed), MANDATE_OK);
	assert_false(introspect_active(f, t1, T0 + 21));
	assert_string_equal(verify(f, t1, STR_NULL, NULL, NULL, T0 + 21),
	    "credential revoked");
	/* exchange for an ended task */
	xreq_default(f, &x, NULL);
	x.now = T0 + 22;
	assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
	assert_string_equal(res.error, "invalid_grant");

	/* kill switch */
	assert_int_equal(make_task(f, AGENT, "[\"read\"]", T0 + 900, task2),
	    MANDATE_OK);
	snprintf(authz, sizeof authz, "[{\"type\":\"mandate_task\","
	    "\"task_id\":\"%s\"}]", task2);
	x.authz = authz;
	x.now = T0 + 30;
	assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
	assert_null(res.error);
	{
		json_t *b = json_loadb(res.body.p, res.body.n, 0, NULL);
		const char *s = json_string_value(json_object_get(b,
		    "access_token"));
		t2 = arena_strdup(&f->a, s, strlen(s));
		json_decref(b);
	}
	assert_true(introspect_active(f, t2, T0 + 31));
	memset(&rv, 0, sizeof rv);
	rv.agent = STR_LIT(AGENT);
	rv.revoked_by = STR_LIT(HUMAN);
	rv.reason = STR_LIT("kill");
	assert_int_equal(store_agent_revoke(f->s, &rv, T0 + 40, NULL),
	    MANDATE_OK);
	assert_false(introspect_active(f, t2, T0 + 41));
	assert_non_null(verify(f, t2, STR_NULL, NULL, NULL, T0 + 41));
}

/* --- refusals (data-driven) ------------------------------------------------ */

struct refusal {
	const char *name;
	const char *grant, *stt, *rtt, *authz, *aud, *agent, *actor, *att;
	const char *actions;      /* NULL: authz as given; else our entry */
	const char *error;
	int http;
};

#define TT STS_TT_JWT
#define GT STS_GRANT_TOKEN_EXCHANGE

static const struct refusal refusals[] = {
	{ "grant_type", "authorization_code", TT, NULL, NULL, NULL, AGENT,
	    NULL, NULL, "[\"read\"]", "unsupported_grant_type", 400 },
	/* RFC 6749 5.2: a missing parameter is invalid_request */
	{ "grant_type empty", "", TT, NULL, NULL, NULL, AGENT, NULL, NULL,
	    "[\"read\"]", "invalid_request", 400 },
	/* the grant type is checked first (docs/sts.md, check 1) */
	{ "grant_type before the rest", "password", "urn:x", NULL, "",
	    NULL, "", NULL, NULL, NULL, "unsupported_grant_type", 400 },
	{ "subject type", GT, "urn:x", NULL, NULL, NULL, AGENT, NULL, NULL,
	    "[\"read\"]", "invalid_request", 400 },
	{ "subject type saml", GT, "urn:ietf:params:oauth:token-type:saml2",
	    NULL, NULL, NULL, AGENT, NULL, NULL, "[\"read\"]",
	    "invalid_request", 400 },
	{ "requested type", GT, TT, STS_TT_ID_TOKEN, NULL, NULL, AGENT, NULL,
	    NULL, "[\"read\"]", "invalid_request", 400 },
	{ "actor type", GT, TT, NULL, NULL, NULL, AGENT, HUMAN, "urn:bad",
	    "[\"read\"]", "invalid_request", 400 },
	{ "actor not delegator", GT, TT, NULL, NULL, NULL, AGENT,
	    "mallory", NULL, "[\"read\"]", "invalid_request", 400 },
	{ "authz empty", GT, TT, NULL, "", NULL, AGENT, NULL, NULL, NULL,
	    "invalid_authorization_details", 400 },
	{ "authz object", GT, TT, NULL, "{}", NULL, AGENT, NULL, NULL, NULL,
	    "invalid_authorization_details", 400 },
	{ "authz none", GT, TT, NULL, "[]", NULL, AGENT, NULL, NULL, NULL,
	    "invalid_authorization_details", 400 },
	{ "authz bad json", GT, TT, NULL, "[{", NULL, AGENT, NULL, NULL,
	    NULL, "invalid_authorization_details", 400 },
	{ "authz two", GT, TT, NULL, "[{\"type\":\"mandate_task\","
	    "\"task_id\":\"a\"},{\"type\":\"mandate_task\",\"task_id\":\"b\"}]",
	    NULL, AGENT, NULL, NULL, NULL, "invalid_authorization_details",
	    400 },
	{ "authz type", GT, TT, NULL, "[{\"type\":\"payment\","
	    "\"task_id\":\"a\"}]", NULL, AGENT, NULL, NULL, NULL,
	    "invalid_authorization_details", 400 },
	{ "authz no task", GT, TT, NULL, "[{\"type\":\"mandate_task\"}]",
	    NULL, AGENT, NULL, NULL, NULL, "invalid_authorization_details",
	    400 },
	{ "authz dup key", GT, TT, NULL, "[{\"type\":\"mandate_task\","
	    "\"type\":\"mandate_task\",\"task_id\":\"a\"}]", NULL, AGENT, NULL,
	    NULL, NULL, "invalid_authorization_details", 400 },
	{ "actions not array", GT, TT, NULL, NULL, NULL, AGENT, NULL, NULL,
	    "\"read\"", "invalid_authorization_details", 400 },
	{ "actions empty", GT, TT, NULL, NULL, NULL, AGENT, NULL, NULL,
	    "[]", "invalid_authorization_details", 400 },
	{ "actions number", GT, TT, NULL, NULL, NULL, AGENT, NULL, NULL,
	    "[1]", "invalid_authorization_details", 400 },
	{ "intent not held", GT, TT, NULL, NULL, NULL, AGENT, NULL, NULL,
	    "[\"read\",\"delete\"]", "invalid_authorization_details", 400 },
	{ "unknown task", GT, TT, NULL, "[{\"type\":\"mandate_task\","
	    "\"task_id\":\"00000000000000000000000000000000\"}]", NULL, AGENT,
	    NULL, NULL, NULL, "invalid_grant", 400 },
	{ "wrong agent", GT, TT, NULL, NULL, NULL, "spiffe://dev.local/b",
	    NULL, NULL, "[\"read\"]", "invalid_grant", 400 },
	{ "audience", GT, TT, NULL, NULL, "https://evil", AGENT, NULL, NULL,
	    "[\"read\"]", "invalid_target", 400 },
	{ "scope beyond actions", GT, TT, NULL, NULL, NULL, AGENT, NULL, NULL,
	    "[\"read\"]", "invalid_scope", 400 },
	{ "empty subject", GT, TT, NULL, NULL, NULL, "", NULL, NULL,
	    "[\"read\"]", "invalid_request", 400 },
};

static void
test_refusals(void **state)
{
	struct fx *f = *state;
	int64_t n0 = 0;
	struct store_audit_event *ev;
	size_t n_ev, i;

	for (i = 0; i < sizeof refusals / sizeof refusals[0]; i++) {
		const struct refusal *c = &refusals[i];
		struct xreq x;
		struct sts_result res;
		json_t *b;

		xreq_default(f, &x, c->actions);
		x.grant = c->grant;
		x.stt = c->stt;
		x.rtt = c->rtt;
		if (c->actions == NULL)
			x.authz = c->authz;
		x.aud = c->aud;
		x.agent = c->agent;
		x.actor = c->actor;
		x.att = c->att;
		if (strcmp(c->name, "scope beyond actions") == 0)
			x.scope = "read admin";
		assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
		if (res.error == NULL || strcmp(res.error, c->error) != 0)
			fail_msg("%s: got %s", c->name,
			    res.error ? res.error : "success");
		assert_int_equal(res.http_status, c->http);
		assert_int_equal(res.jti.n, 0);
		b = json_loadb(res.body.p, res.body.n, 0, NULL);
		assert_string_equal(json_string_value(json_object_get(b,
		    "error")), c->error);
		json_decref(b);
		n0++;
	}
	/* each refusal audited */
	assert_int_equal(store_audit_read(f->s, 1, 1000, &f->a, &ev, &n_ev),
	    MANDATE_OK);
	assert_int_equal((int64_t)n_ev, n0);
	for (i = 0; i < n_ev; i++) {
		json_t *b;

		assert_true(str_eq_c(ev[i].type, "token.refused"));
		b = json_loadb(ev[i].fields_json.p, ev[i].fields_json.n,
		    JSON_REJECT_DUPLICATES, NULL);
		assert_non_null(b);
		assert_non_null(json_string_value(json_object_get(b,
		    "error")));
		assert_non_null(json_string_value(json_object_get(b,
		    "reason")));
		assert_null(json_object_get(b, "jti"));
		json_decref(b);
	}
}

static void
test_actor(void **state)
{
	struct fx *f = *state;
	struct xreq x;
	struct sts_result res;
	json_t *b;

	xreq_default(f, &x, "[\"send\",\"write\"]");
	x.actor = HUMAN;
	x.aud = AUD;
	x.scope = "send";
	assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
	assert_null(res.error);
	b = json_loadb(res.body.p, res.body.n, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(b, "scope")),
	    "send");
	assert_string_equal(json_string_value(json_object_get(b,
	    "issued_token_type")), STS_TT_ACCESS_TOKEN);
	assert_int_equal(json_array_size(json_object_get(json_array_get(
	    json_object_get(b, "authorization_details"), 0), "actions")), 2);
	json_decref(b);
}

/* A subject or actor token that says someone else may present it is
 * refused (invalid_request): one bound to a DPoP key (cnf.jkt) unless
 * this request's proof is by that key (else a stolen bound token is
 * exchanged as a bearer one), one with a cnf we cannot check, one with
 * act (its presenter is the actor, who would drop out of the chain). */
static void
test_presenter_binding(void **state)
{
	static const char k1[] = "0ZcOCORZNYy-DWpqq30jZyJGHTN0d2HglBV3uiguA4I";
	static const char k2[] = "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs";
	static const struct {
		const char *name;
		bool actor;           /* the claims are the actor token's */
		const char *cnf_jkt;
		bool cnf_other, delegated;
		const char *proof_jkt;
		const char *error;    /* NULL: issued */
	} cases[] = {
		{ "bound, no proof", false, k1, false, false, NULL,
		    "invalid_request" },
		{ "bound, proof by another key", false, k1, false, false, k2,
		    "invalid_request" },
		{ "bound, proof by its key", false, k1, false, false, k1, NULL },
		{ "other cnf", false, NULL, true, false, k1, "invalid_request" },
		{ "delegated", false, NULL, false, true, NULL,
		    "invalid_request" },
		{ "actor bound, no proof", true, k1, false, false, NULL,
		    "invalid_request" },
		{ "actor bound, its key", true, k1, false, false, k1, NULL },
		{ "actor delegated", true, NULL, false, true, NULL,
		    "invalid_request" },
		{ "plain", false, NULL, false, false, NULL, NULL },
	};
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct sts_exchange_req r;
		struct sts_principal actor, *p;
		struct sts_result res;
		struct xreq x;

		xreq_default(f, &x, "[\"read\"]");
		memset(&r, 0, sizeof r);
		memset(&actor, 0, sizeof actor);
		r.grant_type = STR_LIT(STS_GRANT_TOKEN_EXCHANGE);
		r.subject_token_type = STR_LIT(STS_TT_JWT);
		r.authorization_details = str_c(x.authz);
		r.subject.sub = STR_LIT(AGENT);
		r.subject.spiffe = true;
		actor.sub = STR_LIT(HUMAN);
		r.has_actor_token = true;
		r.actor_token_type = STR_LIT(STS_TT_JWT);
		r.actor = &actor;
		p = cases[i].actor ? &actor : &r.subject;
		p->cnf_jkt = str_c(cases[i].cnf_jkt);
		p->cnf_other = cases[i].cnf_other;
		p->delegated = cases[i].delegated;
		r.dpop_jkt = str_c(cases[i].proof_jkt);
		r.request_id = STR_LIT("req-b");
		r.now = T0 + 10;
		assert_int_equal(sts_exchange(f->sts, &r, &f->a, &res),
		    MANDATE_OK);
		if (cases[i].error == NULL && res.error != NULL)
			fail_msg("%s: refused: %s (%s)", cases[i].name,
			    res.error, res.reason);
		if (cases[i].error != NULL && (res.error == NULL ||
		    strcmp(res.error, cases[i].error) != 0))
			fail_msg("%s: got %s", cases[i].name,
			    res.error ? res.error : "a token");
		if (cases[i].error != NULL)
			assert_int_equal(res.http_status, 400);
	}
}

/* A SPIFFE ID is only the workload when a SPIFFE issuer vouched for it:
 * a token of another issuer whose sub is the same string stands in for
 * neither the task's agent nor its delegator.  Other agents are names. */
static void
test_spiffe_identities(void **state)
{
	struct fx *f = *state;
	struct store_task t;
	char id[STORE_TASK_ID_SIZE], authz[256];
	struct xreq x;
	struct sts_result res;

	xreq_default(f, &x, "[\"read\"]");
	x.oidc_subject = true;
	assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
	assert_non_null(res.error);
	assert_string_equal(res.error, "invalid_grant");
	assert_int_equal(res.jti.n, 0);
	assert_non_null(strstr(res.reason, "SPIFFE"));
	x.oidc_subject = false;
	assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
	assert_null(res.error);

	/* the delegator is a workload: only its SVID may act */
	memset(&t, 0, sizeof t);
	assert_int_equal(store_task_new_id(id), MANDATE_OK);
	t.id = str_c(id);
	t.agent = STR_LIT(AGENT);
	t.delegator = STR_LIT("spiffe://dev.local/orchestrator");
	t.objective = STR_LIT("test");
	t.intents_json = STR_LIT("[\"read\"]");
	t.created_at = T0;
	t.expires_at = T0 + 900;
	t.call_budget = 5;
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	snprintf(authz, sizeof authz, "[{\"type\":\"mandate_task\","
	    "\"task_id\":\"%s\"}]", id);
	xreq_default(f, &x, NULL);
	x.authz = authz;
	x.actor = "spiffe://dev.local/orchestrator";
	x.oidc_actor = true;
	assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
	assert_non_null(res.error);
	assert_string_equal(res.error, "invalid_request");
	x.oidc_actor = false;
	assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
	assert_null(res.error);

	/* an agent that is an OIDC subject is named as the identity module
	 * names it: its issuer's subject_prefix + sub, so the task of one
	 * issuer's "bot-1" is not another's */
	assert_int_equal(make_task(f, "bot-1", "[\"read\"]", T0 + 900, id),
	    MANDATE_OK);
	snprintf(authz, sizeof authz, "[{\"type\":\"mandate_task\","
	    "\"task_id\":\"%s\"}]", id);
	xreq_default(f, &x, NULL);
	x.authz = authz;
	x.agent = "bot-1";
	x.oidc_subject = true;
	assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
	assert_null(res.error);
	x.agent = "partner:bot-1";
	assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
	assert_non_null(res.error);
	assert_string_equal(res.error, "invalid_grant");
	assert_int_equal(make_task(f, "partner:bot-1", "[\"read\"]", T0 + 900,
	    id), MANDATE_OK);
	snprintf(authz, sizeof authz, "[{\"type\":\"mandate_task\","
	    "\"task_id\":\"%s\"}]", id);
	x.authz = authz;
	assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
	assert_null(res.error);
	x.agent = "bot-1";
	assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
	assert_non_null(res.error);
	assert_string_equal(res.error, "invalid_grant");
}

/* The act chain: the task's recorded chain, wrapped by an actor who is
 * in it but not its outermost member; resource joins audience. */
static void
test_act_chain(void **state)
{
	struct fx *f = *state;
	struct store_task t;
	char id[STORE_TASK_ID_SIZE], authz[256];
	struct sts_exchange_req r;
	struct sts_principal actor;
	struct sts_result res;
	struct str res_uri = STR_LIT(AUD);
	json_t *b, *claims;
	struct jose_jws jws;
	const char *tok;
	static const struct {
		const char *actor, *outer, *error;
	} cases[] = {
		{ "orchestrator", "orchestrator", NULL },
		{ HUMAN, HUMAN, NULL },
		{ "spiffe://dev.local/agent/a1", NULL, "invalid_request" },
	};

	memset(&t, 0, sizeof t);
	assert_int_equal(store_task_new_id(id), MANDATE_OK);
	t.id = str_c(id);
	t.agent = STR_LIT(AGENT);
	t.delegator = STR_LIT(HUMAN);
	t.act_json = STR_LIT("{\"sub\":\"orchestrator\",\"act\":{\"sub\":\""
	    HUMAN "\"}}");
	t.intents_json = STR_LIT("[\"read\"]");
	t.created_at = T0;
	t.expires_at = T0 + 900;
	t.call_budget = 5;
	assert_int_equal(store_task_create(f->s, &t), MANDATE_OK);
	snprintf(authz, sizeof authz, "[{\"type\":\"mandate_task\","
	    "\"task_id\":\"%s\"}]", id);
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		memset(&r, 0, sizeof r);
		r.grant_type = STR_LIT(STS_GRANT_TOKEN_EXCHANGE);
		r.subject_token_type = STR_LIT(STS_TT_ID_TOKEN);
		r.requested_token_type = STR_LIT(STS_TT_ACCESS_TOKEN);
		r.authorization_details = str_c(authz);
		r.resource = &res_uri;
		r.n_resource = 1;
		r.subject.sub = STR_LIT(AGENT);
		r.subject.spiffe = true;
		memset(&actor, 0, sizeof actor);
		actor.sub = str_c(cases[i].actor);
		actor.iss = STR_NULL;
		actor.spiffe = strncmp(cases[i].actor, "spiffe:", 7) == 0;
		r.has_actor_token = true;
		r.actor_token_type = STR_LIT(STS_TT_JWT);
		r.actor = &actor;
		r.now = T0 + 5;
		assert_int_equal(sts_exchange(f->sts, &r, &f->a, &res),
		    MANDATE_OK);
		if (cases[i].error != NULL) {
			assert_string_equal(res.error, cases[i].error);
			continue;
		}
		assert_null(res.error);
		b = json_loadb(res.body.p, res.body.n, 0, NULL);
		tok = json_string_value(json_object_get(b, "access_token"));
		assert_int_equal(jose_jws_parse(&f->a, tok, strlen(tok), 0,
		    &jws, NULL), MANDATE_OK);
		claims = json_loadb(jws.payload.p, jws.payload.n, 0, NULL);
		assert_string_equal(json_string_value(json_object_get(
		    json_object_get(claims, "act"), "sub")), cases[i].outer);
		assert_string_equal(json_string_value(json_object_get(claims,
		    "aud")), AUD);
		if (strcmp(cases[i].actor, HUMAN) == 0)   /* wrapped */
			assert_string_equal(json_string_value(json_object_get(
			    json_object_get(json_object_get(claims, "act"),
			    "act"), "sub")), "orchestrator");
		json_decref(claims);
		json_decref(b);
	}
}

static void
test_dpop_nonce(void **state)
{
	struct fx *f = *state;
	char nonce[STS_DPOP_NONCE_LEN + 1], jkt[JOSE_THUMBPRINT_LEN + 1];
	char payload[512];
	struct jose_sign_opts so;
	struct str p;
	const char *why;
	int64_t now = T0 + 10;
	static const struct { int64_t minted, used; bool ok; } cases[] = {
		{ T0 + 10, T0 + 10, true },
		{ T0 - 50, T0 + 10, true },     /* previous window */
		{ T0 - 200, T0 + 10, false },   /* stale */
		{ T0 + 200, T0 + 10, false },   /* future window */
	};

	f->tok.dpop.nonce = true;
	p = proof(f, f->dkey, "POST", HTU, now, "n0", STR_NULL);
	assert_int_equal(sts_dpop_verify(f->sts, p, STR_LIT("POST"),
	    STR_LIT(HTU), STR_NULL, STR_LIT(AGENT),
	    now, jkt, &why), MANDATE_EINVAL);
	assert_true(sts_dpop_reason_is_nonce(why));
	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		char jti[16];
		assert_int_equal(sts_dpop_nonce(f->sts, cases[i].minted, nonce),
		    MANDATE_OK);
		assert_int_equal(strlen(nonce), STS_DPOP_NONCE_LEN);
		snprintf(jti, sizeof jti, "n%zu", i + 1);
		snprintf(payload, sizeof payload, "{\"jti\":\"%s\","
		    "\"htm\":\"POST\",\"htu\":\"%s\",\"iat\":%lld,"
		    "\"nonce\":\"%s\"}", jti, HTU, (long long)cases[i].used,
		    nonce);
		memset(&so, 0, sizeof so);
		so.typ = STR_LIT("dpop+jwt");
		so.embed_jwk = true;
		so.omit_kid = true;
		assert_int_equal(jose_jws_sign(&f->a, f->dkey, JOSE_ALG_ES256,
		    &so, str_c(payload), &p), MANDATE_OK);
		assert_int_equal(sts_dpop_verify(f->sts, p, STR_LIT("POST"),
		    STR_LIT(HTU), STR_NULL, STR_LIT(AGENT),
		    cases[i].used, jkt, &why),
		    cases[i].ok ? MANDATE_OK : MANDATE_EINVAL);
		if (!cases[i].ok)
			assert_true(sts_dpop_reason_is_nonce(why));
	}
	f->tok.dpop.nonce = false;
}

/* A token service like the fixture's with a replay cache of 20 entries;
 * small_sts_close closes it and puts the fixture's size back. */
static struct sts *
small_sts(struct fx *f)
{
	struct sts *small = NULL;
	struct sts_options o;

	f->tok.dpop.replay_cache_size = 20;
	memset(&o, 0, sizeof o);
	o.tokens = &f->tok;
	assert_int_equal(sts_open(&o, f->s, T0, &small), MANDATE_OK);
	return small;
}

static void
small_sts_close(struct fx *f, struct sts *small)
{
	sts_close(small);
	f->tok.dpop.replay_cache_size = 1000;
}

/* A replay cache of 20 entries: full of live proofs refuses (fail
 * closed); once they expire it takes new ones again.  (Each proof from
 * another agent: one agent's share is a quarter, test_replay_share.) */
static void
test_replay_full(void **state)
{
	struct fx *f = *state;
	struct sts *small = small_sts(f);
	char jkt[JOSE_THUMBPRINT_LEN + 1], jti[16], owner[64];
	const char *why;
	struct str p;
	int i;

	for (i = 0; i < 21; i++) {
		snprintf(jti, sizeof jti, "r%d", i);
		snprintf(owner, sizeof owner, AGENT "-%d", i);
		p = proof(f, f->dkey, "POST", HTU, T0, jti, STR_NULL);
		assert_int_equal(sts_dpop_verify(small, p, STR_LIT("POST"),
		    STR_LIT(HTU), STR_NULL, str_c(owner), T0, jkt, &why),
		    i < 20 ? MANDATE_OK : MANDATE_EINVAL);
	}
	assert_string_equal(why, "replay cache full");
	for (i = 0; i < 200; i++) {
		snprintf(jti, sizeof jti, "s%d", i);
		snprintf(owner, sizeof owner, AGENT "-%d", i % 7);
		p = proof(f, f->dkey, "POST", HTU, T0 + 100 + 4 * i, jti,
		    STR_NULL);
		assert_int_equal(sts_dpop_verify(small, p, STR_LIT("POST"),
		    STR_LIT(HTU), STR_NULL, str_c(owner), T0 + 100 + 4 * i,
		    jkt, &why), MANDATE_OK);
	}
	small_sts_close(f, small);
}

/* One agent may hold a quarter of the replay cache: an agent sending
 * proofs as fast as it can (a hijacked one) is refused past its share,
 * the others still get in, and its share comes back as its proofs
 * expire.  Without shares, its 20 proofs filled the cache and every
 * other agent's proof was refused ("replay cache full"). */
static void
test_replay_share(void **state)
{
	struct fx *f = *state;
	struct sts *small;
	char jkt[JOSE_THUMBPRINT_LEN + 1], jti[16], owner[64];
	const char *why;
	struct str p;
	int i;

	f->tok.dpop.iat_window = 60;
	small = small_sts(f);
	for (i = 0; i < 20; i++) {
		snprintf(jti, sizeof jti, "m%d", i);
		p = proof(f, f->dkey, "POST", HTU, T0, jti, STR_NULL);
		assert_int_equal(sts_dpop_verify(small, p, STR_LIT("POST"),
		    STR_LIT(HTU), STR_NULL, STR_LIT("spiffe://x/mallory"), T0,
		    jkt, &why), i < 5 ? MANDATE_OK : MANDATE_EINVAL);
	}
	assert_string_equal(why, "too many proofs from this agent within "
	    "the window (its share of the replay cache)");
	/* the others fill the rest: three more agents, five each */
	for (i = 0; i < 15; i++) {
		snprintf(jti, sizeof jti, "o%d", i);
		snprintf(owner, sizeof owner, "spiffe://x/agent-%d", i / 5);
		p = proof(f, f->dkey, "POST", HTU, T0 + 1, jti, STR_NULL);
		assert_int_equal(sts_dpop_verify(small, p, STR_LIT("POST"),
		    STR_LIT(HTU), STR_NULL, str_c(owner), T0 + 1, jkt, &why),
		    MANDATE_OK);
	}
	/* a replay is still a replay, whoever sends it */
	p = proof(f, f->dkey, "POST", HTU, T0, "m0", STR_NULL);
	assert_int_equal(sts_dpop_verify(small, p, STR_LIT("POST"),
	    STR_LIT(HTU), STR_NULL, STR_LIT("spiffe://x/agent-0"), T0 + 2, jkt,
	    &why), MANDATE_EINVAL);
	assert_string_equal(why, "proof jti replayed");
	/* once its proofs have expired (iat + window), the share is back */
	p = proof(f, f->dkey, "POST", HTU, T0 + 62, "m-late", STR_NULL);
	assert_int_equal(sts_dpop_verify(small, p, STR_LIT("POST"),
	    STR_LIT(HTU), STR_NULL, STR_LIT("spiffe://x/mallory"), T0 + 62,
	    jkt, &why), MANDATE_OK);
	/* many agents, one proof each, over time: the owners' table is
	 * swept as their proofs expire and never fills */
	for (i = 0; i < 2000; i++) {
		snprintf(jti, sizeof jti, "t%d", i);
		snprintf(owner, sizeof owner, "spiffe://x/passer-%d", i);
		p = proof(f, f->dkey, "POST", HTU, T0 + 200 + 10 * i, jti,
		    STR_NULL);
		assert_int_equal(sts_dpop_verify(small, p, STR_LIT("POST"),
		    STR_LIT(HTU), STR_NULL, str_c(owner), T0 + 200 + 10 * i,
		    jkt, &why), MANDATE_OK);
	}
	small_sts_close(f, small);
}

/* Threads verify and mint while another rotates keys. */
struct race {
	struct fx *f;
	struct str tok;
	int failures;
};

static void *
race_verify(void *arg)
{
	struct race *rc = arg;

	for (int i = 0; i < 100; i++) {
		struct arena a;
		struct sts_verified v;
		const char *why;
		arena_init(&a, 0);
		if (sts_verify_access_token(rc->f->sts, rc->tok, STR_NULL,
		    STR_NULL, STR_NULL, STR_NULL, T0 + 20, &a, &v, &why) !=
		    MANDATE_OK)
			rc->failures++;
		arena_free(&a);
	}
	return NULL;
}

static void
test_threads(void **state)
{
	struct fx *f = *state;
	struct race rc[3];
	pthread_t th[3];
	struct str kid;

	memset(rc, 0, sizeof rc);
	for (int i = 0; i < 3; i++) {
		rc[i].f = f;
		rc[i].tok = get_token(f, "[\"read\"]", NULL);
		assert_int_equal(pthread_create(&th[i], NULL, race_verify,
		    &rc[i]), 0);
	}
	for (int i = 0; i < 3; i++)
		assert_int_equal(sts_keys_rotate(f->sts, T0 + 15 + i, &f->a,
		    &kid), MANDATE_OK);
	for (int i = 0; i < 3; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(rc[i].failures, 0);
	}
	assert_int_equal(jwks_count(f), 4);
}

/* --- DPoP ------------------------------------------------------------------ */

static void
test_dpop(void **state)
{
	struct fx *f = *state;
	char jkt[JOSE_THUMBPRINT_LEN + 1], want[JOSE_THUMBPRINT_LEN + 1];
	const char *why;
	struct str p, tok;
	int64_t now = T0 + 10;

	assert_int_equal(jose_key_thumbprint(f->dkey, want), MANDATE_OK);
	p = proof(f, f->dkey, "POST", HTU, now, "j1", STR_NULL);
	assert_int_equal(sts_dpop_verify(f->sts, p, STR_LIT("POST"),
	    STR_LIT(HTU), STR_NULL, STR_LIT(AGENT),
	    now, jkt, &why), MANDATE_OK);
	assert_string_equal(jkt, want);
	/* replayed */
	assert_int_equal(sts_dpop_verify(f->sts, p, STR_LIT("POST"),
	    STR_LIT(HTU), STR_NULL, STR_LIT(AGENT),
	    now + 1, jkt, &why), MANDATE_EINVAL);
	assert_string_equal(why, "proof jti replayed");
	/* wrong htm, htu */
	p = proof(f, f->dkey, "GET", HTU, now, "j2", STR_NULL);
	assert_int_equal(sts_dpop_verify(f->sts, p, STR_LIT("POST"),
	    STR_LIT(HTU), STR_NULL, STR_LIT(AGENT),
	    now, jkt, &why), MANDATE_EINVAL);
	assert_string_equal(why, "proof htm mismatch");
	p = proof(f, f->dkey, "POST", "https://mandate.test/other", now, "j3",
	    STR_NULL);
	assert_int_equal(sts_dpop_verify(f->sts, p, STR_LIT("POST"),
	    STR_LIT(HTU), STR_NULL, STR_LIT(AGENT),
	    now, jkt, &why), MANDATE_EINVAL);
	assert_string_equal(why, "proof htu mismatch");
	/* htu normalisation: case, default port, query */
	p = proof(f, f->dkey, "POST", "HTTPS://Mandate.TEST:443/oauth2/token",
	    now, "j4", STR_NULL);
	assert_int_equal(sts_dpop_verify(f->sts, p, STR_LIT("POST"),
	    STR_LIT(HTU "?x=1#f"), STR_NULL, STR_LIT(AGENT),
	    now, jkt, &why), MANDATE_OK);
	p = proof(f, f->dkey, "POST", "https://mandate.test:8443/oauth2/token",
	    now, "j5", STR_NULL);
	assert_int_equal(sts_dpop_verify(f->sts, p, STR_LIT("POST"),
	    STR_LIT(HTU), STR_NULL, STR_LIT(AGENT),
	    now, jkt, &why), MANDATE_EINVAL);
	/* htu: one of a space-separated list (the advertised URL and the
	 * one requested) */
	p = proof(f, f->dkey, "POST", "https://mandate.test/pdp/oauth2/token",
	    now, "j5a", STR_NULL);
	assert_int_equal(sts_dpop_verify(f->sts, p, STR_LIT("POST"),
	    STR_LIT(HTU " https://mandate.test/pdp/oauth2/token"), STR_NULL,
	    STR_LIT(AGENT), now, jkt, &why), MANDATE_OK);
	p = proof(f, f->dkey, "POST", HTU, now, "j5b", STR_NULL);
	assert_int_equal(sts_dpop_verify(f->sts, p, STR_LIT("POST"),
	    STR_LIT("https://mandate.test/pdp/oauth2/token " HTU), STR_NULL,
	    STR_LIT(AGENT), now, jkt, &why), MANDATE_OK);
	p = proof(f, f->dkey, "POST", "https://mandate.test/x", now, "j5c",
	    STR_NULL);
	assert_int_equal(sts_dpop_verify(f->sts, p, STR_LIT("POST"),
	    STR_LIT("https://mandate.test/pdp/oauth2/token " HTU), STR_NULL,
	    STR_LIT(AGENT), now, jkt, &why), MANDATE_EINVAL);
	assert_string_equal(why, "proof htu mismatch");
	/* typ is a media type: any case, application/ prefix (RFC 7515
	 * 4.1.9); another type is refused */
	p = proof_typ(f, f->dkey, "DPoP+JWT", "POST", HTU, now, "j5d",
	    STR_NULL);
	assert_int_equal(sts_dpop_verify(f->sts, p, STR_LIT("POST"),
	    STR_LIT(HTU), STR_NULL, STR_LIT(AGENT),
	    now, jkt, &why), MANDATE_OK);
	p = proof_typ(f, f->dkey, "Application/dpop+jwt", "POST", HTU, now,
	    "j5e", STR_NULL);
	assert_int_equal(sts_dpop_verify(f->sts, p, STR_LIT("POST"),
	    STR_LIT(HTU), STR_NULL, STR_LIT(AGENT),
	    now, jkt, &why), MANDATE_OK);
	p = proof_typ(f, f->dkey, "at+jwt", "POST", HTU, now, "j5f",
	    STR_NULL);
	assert_int_equal(sts_dpop_verify(f->sts, p, STR_LIT("POST"),
	    STR_LIT(HTU), STR_NULL, STR_LIT(AGENT),
	    now, jkt, &why), MANDATE_EINVAL);
	/* iat outside the window, both sides */
	p = proof(f, f->dkey, "POST", HTU, now - 61, "j6", STR_NULL);
	assert_int_equal(sts_dpop_verify(f->sts, p, STR_LIT("POST"),
	    STR_LIT(HTU), STR_NULL, STR_LIT(AGENT),
	    now, jkt, &why), MANDATE_EINVAL);
	p = proof(f, f->dkey, "POST", HTU, now + 61, "j7", STR_NULL);
	assert_int_equal(sts_dpop_verify(f->sts, p, STR_LIT("POST"),
	    STR_LIT(HTU), STR_NULL, STR_LIT(AGENT),
	    now, jkt, &why), MANDATE_EINVAL);

	/* a bound token */
	p = proof(f, f->dkey, "POST", HTU, now, "j8", STR_NULL);
	assert_int_equal(sts_dpop_verify(f->sts, p, STR_LIT("POST"),
	    STR_LIT(HTU), STR_NULL, STR_LIT(AGENT),
	    now, jkt, &why), MANDATE_OK);
	tok = get_token(f, "[\"read\"]", jkt);
	/* used with a proof carrying the right ath */
	p = proof(f, f->dkey, "GET", "https://api.test/doc", now + 5, "u1",
	    tok);
	assert_null(verify(f, tok, p, "GET", "https://api.test/doc", now + 5));
	/* without a proof */
	assert_string_equal(verify(f, tok, STR_NULL, "GET",
	    "https://api.test/doc", now + 5), "bound token without a DPoP proof");
	/* ath mismatch: proof for another token */
	p = proof(f, f->dkey, "GET", "https://api.test/doc", now + 5, "u2",
	    STR_LIT("another.token.value"));
	assert_string_equal(verify(f, tok, p, "GET", "https://api.test/doc",
	    now + 5), "proof ath mismatch");
	/* no ath at all */
	p = proof(f, f->dkey, "GET", "https://api.test/doc", now + 5, "u3",
	    STR_NULL);
	assert_string_equal(verify(f, tok, p, "GET", "https://api.test/doc",
	    now + 5), "proof ath mismatch");
	/* another key */
	{
		struct jose_key *k2 = NULL;
		assert_int_equal(jose_key_generate_es256(STR_NULL, &k2),
		    MANDATE_OK);
		p = proof(f, k2, "GET", "https://api.test/doc", now + 5, "u4",
		    tok);
		assert_string_equal(verify(f, tok, p, "GET",
		    "https://api.test/doc", now + 5),
		    "DPoP key does not match cnf.jkt");
		/* refused before the replay cache: whoever saw the token
		 * cannot fill the cache (1000 entries) with proofs of
		 * another key, and so cannot refuse everyone's proofs */
		for (int i = 0; i < 1001; i++) {
			char jti[16];

			snprintf(jti, sizeof jti, "fill%d", i);
			p = proof(f, k2, "GET", "https://api.test/doc", now + 5,
			    jti, tok);
			assert_string_equal(verify(f, tok, p, "GET",
			    "https://api.test/doc", now + 5),
			    "DPoP key does not match cnf.jkt");
		}
		jose_key_unref(k2);
	}
	/* replay of a good use */
	p = proof(f, f->dkey, "GET", "https://api.test/doc", now + 6, "u5",
	    tok);
	assert_null(verify(f, tok, p, "GET", "https://api.test/doc", now + 6));
	assert_string_equal(verify(f, tok, p, "GET", "https://api.test/doc",
	    now + 7), "proof jti replayed");
	/* introspection says DPoP and shows cnf */
	assert_true(introspect_active(f, tok, now + 8));
}

/* Proofs built by hand: private jwk, alg none, wrong typ, symmetric. */
static void
test_dpop_bad_headers(void **state)
{
	struct fx *f = *state;
	static const char *const headers[] = {
		/* private "d" member (a signature is not even looked at) */
		"{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\",\"jwk\":{\"kty\":\"EC\","
		"\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9"
		"uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
		"\",\"d\":\"jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI\"}}",
		"{\"typ\":\"dpop+jwt\",\"alg\":\"none\",\"jwk\":{\"kty\":\"EC\","
		"\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9"
		"uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
		"\"}}",
		"{\"typ\":\"dpop+jwt\",\"alg\":\"HS256\",\"jwk\":{\"kty\":\"oct\","
		"\"k\":\"AAAA\"}}",
		"{\"typ\":\"JWT\",\"alg\":\"ES256\",\"jwk\":{\"kty\":\"EC\","
		"\"crv\":\"P-256\",\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9"
		"uPHvRVEU\",\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
		"\"}}",
		"{\"typ\":\"dpop+jwt\",\"alg\":\"ES256\"}",
	};
	static const char *const sigs[] = { "AAAA", "", "AAAA", "AAAA",
	    "AAAA" };
	char payload[256], text[2048], hb[1024], pb[512];
	size_t i;
	const char *why;
	char jkt[JOSE_THUMBPRINT_LEN + 1];

	snprintf(payload, sizeof payload, "{\"jti\":\"x\",\"htm\":\"POST\","
	    "\"htu\":\"%s\",\"iat\":%lld}", HTU, (long long)T0);
	jose_b64url_encode(payload, strlen(payload), pb, sizeof pb);
	for (i = 0; i < sizeof headers / sizeof headers[0]; i++) {
		jose_b64url_encode(headers[i], strlen(headers[i]), hb,
		    sizeof hb);
		snprintf(text, sizeof text, "%s.%s.%s", hb, pb, sigs[i]);
		assert_int_equal(sts_dpop_verify(f->sts, str_c(text),
		    STR_LIT("POST"), STR_LIT(HTU), STR_NULL, STR_LIT(AGENT),
		    T0, jkt, &why),
		    MANDATE_EINVAL);
		assert_non_null(why);
		assert_string_equal(jkt, "");
	}
}

static void
test_dpop_required(void **state)
{
	struct fx *f = *state;
	struct xreq x;
	struct sts_result res;

	f->tok.dpop.require = true;
	xreq_default(f, &x, "[\"read\"]");
	assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
	assert_string_equal(res.error, "invalid_dpop_proof");
	f->tok.dpop.require = false;
}

/* --- keys ----------------------------------------------------------------- */

static void
test_rotation(void **state)
{
	struct fx *f = *state;
	struct str kid_a, kid_b, kid, t_old, t_new;
	struct stat st;
	char path[256];
	struct sts *again = NULL;
	struct sts_options o;

	assert_int_equal(sts_keys_active_kid(f->sts, &f->a, &kid_a),
	    MANDATE_OK);
	assert_int_equal(kid_a.n, JOSE_THUMBPRINT_LEN);
	assert_int_equal(jwks_count(f), 1);
	assert_int_equal(sts_health(f->sts), MANDATE_OK);
	/* key files and directory modes */
	assert_int_equal(stat(f->keydir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(path, sizeof path, "%s/%s.pem", f->keydir, kid_a.p);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	t_old = get_token(f, "[\"read\"]", NULL);
	assert_true(str_eq(token_kid(f, t_old), kid_a));

	/* rotate: B published, A still signs */
	assert_int_equal(sts_keys_rotate(f->sts, T0 + 20, &f->a, &kid_b),
	    MANDATE_OK);
	assert_false(str_eq(kid_a, kid_b));
	assert_int_equal(sts_keys_rotate(f->sts, T0 + 21, &f->a, &kid),
	    MANDATE_EINVAL);   /* one at a time */
	assert_int_equal(jwks_count(f), 2);
	assert_int_equal(sts_keys_tick(f->sts, T0 + 50), MANDATE_OK);
	assert_int_equal(sts_keys_active_kid(f->sts, &f->a, &kid), MANDATE_OK);
	assert_true(str_eq(kid, kid_a));
	/* after the publish delay: B signs, A still published */
	assert_int_equal(sts_keys_tick(f->sts, T0 + 80), MANDATE_OK);
	assert_int_equal(sts_keys_active_kid(f->sts, &f->a, &kid), MANDATE_OK);
	assert_true(str_eq(kid, kid_b));
	assert_int_equal(jwks_count(f), 2);
	t_new = get_token(f, "[\"read\"]", NULL);
	assert_true(str_eq(token_kid(f, t_new), kid_b));
	assert_null(verify(f, t_old, STR_NULL, NULL, NULL, T0 + 90));
	assert_null(verify(f, t_new, STR_NULL, NULL, NULL, T0 + 90));

	/* a restart finds the same state */
	memset(&o, 0, sizeof o);
	o.tokens = &f->tok;
	o.publish_delay = 60;
	assert_int_equal(sts_open(&o, f->s, T0 + 95, &again), MANDATE_OK);
	assert_int_equal(sts_keys_active_kid(again, &f->a, &kid), MANDATE_OK);
	assert_true(str_eq(kid, kid_b));
	sts_close(again);

	/* A leaves the JWKS after retire_after (now + overlap), and its
	 * private key file is destroyed then; B's stays */
	assert_int_equal(sts_keys_tick(f->sts, T0 + 80 + 3599), MANDATE_OK);
	assert_int_equal(jwks_count(f), 2);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(sts_keys_tick(f->sts, T0 + 80 + 3600), MANDATE_OK);
	assert_int_equal(jwks_count(f), 1);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(errno, ENOENT);
	{
		char path_b[256];

		snprintf(path_b, sizeof path_b, "%s/%s.pem", f->keydir,
		    kid_b.p);
		assert_int_equal(stat(path_b, &st), 0);
		/* a restart with A's file back (a retirement the daemon
		 * missed while it was down) destroys it at start */
		assert_int_equal(link(path_b, path), 0);
		memset(&o, 0, sizeof o);
		o.tokens = &f->tok;
		o.publish_delay = 60;
		assert_int_equal(sts_open(&o, f->s, T0 + 80 + 3700, &again),
		    MANDATE_OK);
		sts_close(again);
		assert_int_equal(stat(path, &st), -1);
		assert_int_equal(stat(path_b, &st), 0);
	}
	/* a token signed by A (were it still valid) no longer verifies */
	assert_string_equal(verify(f, t_old, STR_NULL, NULL, NULL, T0 + 90),
	    "token signature invalid or key unknown");
}

/* A verified signature is remembered (by the token's SHA-256 and the key
 * snapshot): the same token again is not verified again, but its claims
 * and its credential are checked every time; a changed token is not
 * taken for it; a new key snapshot verifies afresh. */
static void
test_signature_cache(void **state)
{
	struct fx *f = *state;
	struct str tok = get_token(f, "[\"read\"]", NULL), bad, kid;
	uint64_t h0, m0, h1, m1;
	char *copy;
	struct sts_revocation rev;

	sts_sigcache_stats(f->sts, &h0, &m0);
	assert_null(verify(f, tok, STR_NULL, NULL, NULL, T0 + 20));
	assert_null(verify(f, tok, STR_NULL, NULL, NULL, T0 + 21));
	assert_null(verify(f, tok, STR_NULL, NULL, NULL, T0 + 22));
	sts_sigcache_stats(f->sts, &h1, &m1);
	assert_int_equal(m1 - m0, 1);
	assert_int_equal(h1 - h0, 2);
	/* claims are still checked: expired, wrong audience */
	assert_non_null(verify(f, tok, STR_NULL, NULL, NULL, T0 + 10 + 301));
	assert_int_equal(sts_verify_access_token(f->sts, tok,
	    STR_LIT("https://other"), STR_NULL, STR_NULL, STR_NULL, T0 + 20,
	    &f->a, &(struct sts_verified){ 0 }, NULL), MANDATE_EINVAL);
	/* one signature byte changed: another hash, verified, refused */
	copy = arena_alloc(&f->a, tok.n + 1);
	memcpy(copy, tok.p, tok.n + 1);
	copy[tok.n - 2] = copy[tok.n - 2] == 'A' ? 'B' : 'A';
	bad = str_make(copy, tok.n);
	assert_string_equal(verify(f, bad, STR_NULL, NULL, NULL, T0 + 20),
	    "token signature invalid or key unknown");
	assert_string_equal(verify(f, bad, STR_NULL, NULL, NULL, T0 + 20),
	    "token signature invalid or key unknown");
	/* a new key snapshot: the signature is verified again */
	assert_int_equal(sts_keys_rotate(f->sts, T0 + 23, &f->a, &kid),
	    MANDATE_OK);
	sts_sigcache_stats(f->sts, &h0, &m0);
	assert_null(verify(f, tok, STR_NULL, NULL, NULL, T0 + 24));
	sts_sigcache_stats(f->sts, &h1, &m1);
	assert_int_equal(m1 - m0, 1);
	assert_null(verify(f, tok, STR_NULL, NULL, NULL, T0 + 24));
	/* revoked: refused although its signature is remembered */
	assert_int_equal(sts_revoke(f->sts, tok, STR_NULL, T0 + 25, &f->a,
	    &rev), MANDATE_OK);
	assert_true(rev.revoked);
	assert_string_equal(verify(f, tok, STR_NULL, NULL, NULL, T0 + 26),
	    "credential revoked");
}

/* Restarts fail closed on a key file others may read or one missing. */
static void
test_key_files(void **state)
{
	struct fx *f = *state;
	struct str kid;
	char path[256], moved[300];
	struct sts *again = NULL;
	struct sts_options o;

	assert_int_equal(sts_keys_active_kid(f->sts, &f->a, &kid), MANDATE_OK);
	snprintf(path, sizeof path, "%s/%s.pem", f->keydir, kid.p);
	snprintf(moved, sizeof moved, "%s.moved", path);
	memset(&o, 0, sizeof o);
	o.tokens = &f->tok;
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(sts_open(&o, f->s, T0, &again), MANDATE_EINVAL);
	assert_null(again);
	assert_int_equal(chmod(path, 0600), 0);
	assert_int_equal(rename(path, moved), 0);
	assert_int_not_equal(sts_open(&o, f->s, T0, &again), MANDATE_OK);
	assert_null(again);
	assert_int_equal(rename(moved, path), 0);
	/* a key directory open to others is tightened */
	assert_int_equal(chmod(f->keydir, 0755), 0);
	assert_int_equal(sts_open(&o, f->s, T0, &again), MANDATE_OK);
	sts_close(again);
	{
		struct stat st;
		assert_int_equal(stat(f->keydir, &st), 0);
		assert_int_equal(st.st_mode & 0777, 0700);
	}
	/* explicit key files: that key signs, rotation is refused */
	f->tok.key_files.v = (const char *const[]){ path };
	f->tok.key_files.n = 1;
	assert_int_equal(sts_open(&o, f->s, T0, &again), MANDATE_OK);
	assert_int_equal(sts_keys_rotate(again, T0, &f->a, &kid),
	    MANDATE_EINVAL);
	sts_close(again);
	/* one others may read: the refusal names the setting, the file and
	 * its mode */
	{
		char err[400] = "", want[400];

		o.err = err;
		o.err_len = sizeof err;
		assert_int_equal(chmod(path, 0640), 0);
		assert_int_equal(sts_open(&o, f->s, T0, &again),
		    MANDATE_EINVAL);
		assert_null(again);
		snprintf(want, sizeof want, "tokens.key_files: %s: mode 0640: "
		    "a private key must not be readable or writable by group "
		    "or others (chmod 600)", path);
		assert_string_equal(err, want);
		assert_int_equal(chmod(path, 0600), 0);
		o.err = NULL;
	}
	f->tok.key_files.n = 0;
}

static void
test_metadata(void **state)
{
	struct fx *f = *state;
	struct str m;
	json_t *b;

	assert_int_equal(sts_metadata_json(f->sts, &f->a, &m), MANDATE_OK);
	b = json_loadb(m.p, m.n, 0, NULL);
	assert_non_null(b);
	assert_string_equal(json_string_value(json_object_get(b, "issuer")),
	    ISS);
	assert_string_equal(json_string_value(json_object_get(b,
	    "token_endpoint")), ISS "/oauth2/token");
	assert_string_equal(json_string_value(json_object_get(b, "jwks_uri")),
	    ISS "/.well-known/jwks.json");
	assert_string_equal(json_string_value(json_array_get(json_object_get(b,
	    "authorization_details_types_supported"), 0)), "mandate_task");
	assert_true(json_array_size(json_object_get(b,
	    "dpop_signing_alg_values_supported")) >= 1);
	/* only what is implemented: no tls_client_auth */
	assert_int_equal(json_array_size(json_object_get(b,
	    "token_endpoint_auth_methods_supported")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(b,
	    "token_endpoint_auth_methods_supported"), 0)), "none");
	/* RFC 8414 2: absent, it would mean client_secret_basic */
	assert_int_equal(json_array_size(json_object_get(b,
	    "revocation_endpoint_auth_methods_supported")), 1);
	assert_string_equal(json_string_value(json_array_get(json_object_get(b,
	    "revocation_endpoint_auth_methods_supported"), 0)), "none");
	json_decref(b);
}

/* scope follows RFC 6749 3.3 (words of visible characters, one space
 * between): else invalid_scope; a resource is an absolute URI without
 * a fragment (RFC 8707 2): else invalid_target. */
static void
test_scope_and_resource_syntax(void **state)
{
	static const struct {
		const char *scope, *resource, *error;   /* error NULL: ok */
	} cases[] = {
		{ "read", NULL, NULL },
		{ "read write", NULL, NULL },
		{ "", NULL, NULL },
		{ "  ", NULL, "invalid_scope" },
		{ " read", NULL, "invalid_scope" },
		{ "read ", NULL, "invalid_scope" },
		{ "read  write", NULL, "invalid_scope" },
		{ "read\twrite", NULL, "invalid_scope" },
		{ "re\"ad", NULL, "invalid_scope" },
		{ NULL, AUD, NULL },
		{ NULL, "mcp-gateway", "invalid_target" },
		{ NULL, AUD "#frag", "invalid_target" },
		{ NULL, "1https://x", "invalid_target" },
		{ NULL, "https:", "invalid_target" },
		{ NULL, "https://other.test/", "invalid_target" },
	};
	struct fx *f = *state;

	for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
		struct xreq x;
		struct sts_exchange_req r;
		struct sts_result res;
		struct str res_uri;

		xreq_default(f, &x, "[\"read\",\"write\"]");
		memset(&r, 0, sizeof r);
		r.grant_type = str_c(x.grant);
		r.subject_token_type = str_c(x.stt);
		r.authorization_details = str_c(x.authz);
		r.subject.sub = str_c(x.agent);
		r.subject.spiffe = true;
		r.scope = str_c(cases[i].scope);
		if (cases[i].resource != NULL) {
			res_uri = str_c(cases[i].resource);
			r.resource = &res_uri;
			r.n_resource = 1;
		}
		r.request_id = STR_LIT("req-s");
		r.now = x.now;
		assert_int_equal(sts_exchange(f->sts, &r, &f->a, &res),
		    MANDATE_OK);
		if (cases[i].error == NULL ? res.error != NULL :
		    res.error == NULL || strcmp(res.error, cases[i].error) != 0)
			fail_msg("case %zu: got %s", i,
			    res.error ? res.error : "success");
	}
}

/* Allocation failures anywhere in an exchange: an error or an answer,
 * never a crash, and never a token left behind with an error. */
static void
test_alloc_failures(void **state)
{
	struct fx *f = *state;
	struct xreq x;
	int ok = 0, failed = 0;

	for (long k = 1; k < 400 && ok < 3; k++) {
		struct arena a;
		struct sts_result res;
		struct sts_exchange_req r;
		struct str aud = STR_LIT(AUD);
		int rc;

		xreq_default(f, &x, "[\"read\"]");
		memset(&r, 0, sizeof r);
		r.grant_type = str_c(x.grant);
		r.subject_token_type = str_c(x.stt);
		r.authorization_details = str_c(x.authz);
		r.audience = &aud;
		r.n_audience = 1;
		r.subject.sub = STR_LIT(AGENT);
		r.subject.spiffe = true;
		r.now = x.now;
		arena_init(&a, 0);
		a.fail_after = k;
		rc = sts_exchange(f->sts, &r, &a, &res);
		if (rc == MANDATE_OK && res.error == NULL) {
			ok++;
			assert_int_equal(res.http_status, 200);
		} else if (rc != MANDATE_OK) {
			failed++;
			assert_int_equal(res.jti.n, 0);
		} else {
			fail_msg("k=%ld: refused with %s (%s)", k, res.error,
			    res.reason);
		}
		arena_free(&a);
	}
	assert_true(failed > 10);
	assert_true(ok >= 1);
}

/* Mint + verify rate (printed, not asserted). */
static void
test_rate(void **state)
{
	struct fx *f = *state;
	struct timespec t0, t1;
	struct str aud = STR_LIT(AUD), act = STR_LIT("read");
	struct sts_mint_req m;
	struct sts_token t;
	struct sts_verified v;
	const char *why;
	int i, n = 300;
	double secs;

	memset(&m, 0, sizeof m);
	m.sub = STR_LIT(AGENT);
	m.task_id = str_c(f->task);
	m.aud = &aud;
	m.n_aud = 1;
	m.actions = &act;
	m.n_actions = 1;
	m.now = T0 + 10;
	m.exp = T0 + 300;
	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (i = 0; i < n; i++) {
		struct arena a;
		arena_init(&a, 0);
		assert_int_equal(sts_mint(f->sts, &m, &a, &t), MANDATE_OK);
		assert_int_equal(sts_verify_access_token(f->sts,
		    t.access_token, STR_NULL, STR_NULL, STR_NULL, STR_NULL,
		    T0 + 11, &a, &v, &why), MANDATE_OK);
		arena_free(&a);
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);
	secs = (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
	printf("sts: %d mint+verify (with store) in %.3f s: %.0f per second\n",
	    n, secs, n / secs);
}

/* The hot path's JSON writer (sts_json.c): exact compact text, escapes
 * jansson reads back, and every error sticky. */
static void
test_json_writer(void **state)
{
	struct arena a;
	struct sts_jw w;
	struct str out;
	char ctl[33], deep[64];
	json_t *j;
	json_error_t err;

	(void)state;
	arena_init(&a, 1u << 20);
	sts_jw_init(&w, &a, 4096);
	sts_jw_obj(&w);
	sts_jw_key(&w, "s");
	sts_jw_str(&w, str_c("q\"b\\n\n\x01\x7f\xc3\xa9"));
	sts_jw_key(&w, "n");
	sts_jw_arr(&w);
	sts_jw_int(&w, 0);
	sts_jw_int(&w, -2);
	sts_jw_int(&w, INT64_MAX);
	sts_jw_int(&w, INT64_MIN);
	sts_jw_arr_end(&w);
	sts_jw_key(&w, "e");
	sts_jw_obj(&w);
	sts_jw_obj_end(&w);
	sts_jw_key(&w, "a");
	sts_jw_arr(&w);
	sts_jw_arr_end(&w);
	sts_jw_key(&w, "nest");
	sts_jw_arr(&w);
	sts_jw_obj(&w);
	sts_jw_key(&w, "x");
	sts_jw_str(&w, STR_NULL);
	sts_jw_obj_end(&w);
	sts_jw_obj(&w);
	sts_jw_obj_end(&w);
	sts_jw_arr_end(&w);
	sts_jw_key(&w, "raw");
	sts_jw_raw(&w, str_c("{\"k\":[true]}"));
	sts_jw_obj_end(&w);
	assert_int_equal(sts_jw_finish(&w, &out), MANDATE_OK);
	assert_string_equal(out.p,
	    "{\"s\":\"q\\\"b\\\\n\\n\\u0001\x7f\xc3\xa9\","
	    "\"n\":[0,-2,9223372036854775807,-9223372036854775808],"
	    "\"e\":{},\"a\":[],\"nest\":[{\"x\":\"\"},{}],"
	    "\"raw\":{\"k\":[true]}}");
	assert_int_equal(out.n, strlen(out.p));

	/* every control character, read back by jansson as written */
	for (int c = 0; c < 32; c++)
		ctl[c] = (char)(c + 1 == 32 ? 0x1f : c + 1);
	ctl[32] = '\0';
	sts_jw_init(&w, &a, 4096);
	sts_jw_arr(&w);
	sts_jw_str(&w, str_make(ctl, 32));
	sts_jw_str(&w, str_make("a\0b", 3));
	sts_jw_arr_end(&w);
	assert_int_equal(sts_jw_finish(&w, &out), MANDATE_OK);
	j = json_loadb(out.p, out.n, JSON_ALLOW_NUL, &err);
	assert_non_null(j);
	assert_int_equal(json_string_length(json_array_get(j, 0)), 32);
	assert_memory_equal(json_string_value(json_array_get(j, 0)), ctl, 32);
	assert_int_equal(json_string_length(json_array_get(j, 1)), 3);
	assert_memory_equal(json_string_value(json_array_get(j, 1)), "a\0b", 3);
	json_decref(j);

	/* text that is not UTF-8 fails the document */
	sts_jw_init(&w, &a, 4096);
	sts_jw_obj(&w);
	sts_jw_key(&w, "bad");
	sts_jw_str(&w, str_c("\xc3("));
	sts_jw_key(&w, "later");
	sts_jw_int(&w, 1);
	sts_jw_obj_end(&w);
	assert_int_equal(sts_jw_finish(&w, &out), MANDATE_EINVAL);
	assert_null(out.p);
	sts_jw_init(&w, &a, 4096);
	sts_jw_str(&w, str_c("\xed\xa0\x80"));      /* a surrogate */
	assert_int_equal(sts_jw_finish(&w, &out), MANDATE_EINVAL);

	/* the size bound */
	sts_jw_init(&w, &a, 8);
	sts_jw_str(&w, str_c("1234567"));
	assert_int_equal(sts_jw_finish(&w, &out), MANDATE_ELIMIT);
	sts_jw_init(&w, &a, 9);
	sts_jw_str(&w, str_c("1234567"));
	assert_int_equal(sts_jw_finish(&w, &out), MANDATE_OK);
	assert_int_equal(out.n, 9);

	/* the depth bound */
	sts_jw_init(&w, &a, 4096);
	for (int d = 0; d < STS_JW_MAX_DEPTH; d++)
		sts_jw_arr(&w);
	for (int d = 0; d < STS_JW_MAX_DEPTH; d++)
		sts_jw_arr_end(&w);
	assert_int_equal(sts_jw_finish(&w, &out), MANDATE_OK);
	memset(deep, 0, sizeof deep);
	memset(deep, '[', STS_JW_MAX_DEPTH);
	assert_memory_equal(out.p, deep, STS_JW_MAX_DEPTH);
	sts_jw_init(&w, &a, 4096);
	for (int d = 0; d <= STS_JW_MAX_DEPTH; d++)
		sts_jw_arr(&w);
	assert_int_equal(sts_jw_finish(&w, &out), MANDATE_ELIMIT);

	/* misuse: a member name outside an object, an unclosed document,
	 * a name without its value, nothing at all */
	sts_jw_init(&w, &a, 4096);
	sts_jw_key(&w, "k");
	assert_int_equal(sts_jw_finish(&w, &out), MANDATE_EINTERNAL);
	sts_jw_init(&w, &a, 4096);
	sts_jw_obj(&w);
	assert_int_equal(sts_jw_finish(&w, &out), MANDATE_EINTERNAL);
	sts_jw_init(&w, &a, 4096);
	sts_jw_obj(&w);
	sts_jw_key(&w, "k");
	sts_jw_obj_end(&w);
	assert_int_equal(sts_jw_finish(&w, &out), MANDATE_EINTERNAL);
	sts_jw_init(&w, &a, 4096);
	assert_int_equal(sts_jw_finish(&w, &out), MANDATE_EINTERNAL);
	arena_free(&a);
}

/* Credential ids: unique, one process's share its random prefix, and
 * each sorts after the one issued before it (what keeps the jti index's
 * inserts together). */
static void
test_jti_order(void **state)
{
	struct fx *f = *state;
	struct sts_verified v;
	const char *why;
	struct str prev = STR_NULL;

	for (int i = 0; i < 20; i++) {
		struct str tok = get_token(f, "[\"read\"]", NULL);

		assert_int_equal(sts_verify_access_token(f->sts, tok,
		    STR_LIT(AUD), STR_NULL, STR_NULL, STR_NULL, T0 + 20, &f->a,
		    &v, &why), MANDATE_OK);
		assert_int_equal(v.jti.n, STS_JTI_LEN);
		for (size_t j = STS_JTI_PREFIX; j < v.jti.n; j++)
			assert_non_null(memchr("0123456789abcdef", v.jti.p[j],
			    16));
		if (prev.n > 0) {
			assert_memory_equal(prev.p, v.jti.p, STS_JTI_PREFIX);
			assert_true(memcmp(prev.p, v.jti.p, STS_JTI_LEN) < 0);
		}
		prev = v.jti;
	}
}

/* Many intents: a token carries all of them (no silent first 64), an
 * explicit list past STS_MAX_ACTIONS is refused by name, and a token
 * that would not fit STS_MAX_ISSUED_LEN is refused, not cut short. */
static void
test_many_intents(void **state)
{
	struct fx *f = *state;
	static char intents[64 * 1024], acts[32 * 1024], authz[40 * 1024];
	char id[STORE_TASK_ID_SIZE];
	struct xreq x;
	struct sts_result res;
	json_t *b, *granted;
	size_t o = 0, k = 0;

	o += (size_t)snprintf(intents + o, sizeof intents - o, "[");
	for (int i = 0; i < 200; i++)
		o += (size_t)snprintf(intents + o, sizeof intents - o,
		    "%s{\"action\":\"act%03d\"}", i ? "," : "", i);
	snprintf(intents + o, sizeof intents - o, "]");
	assert_int_equal(make_task(f, AGENT, intents, T0 + 900, id),
	    MANDATE_OK);
	xreq_default(f, &x, NULL);
	snprintf(authz, sizeof authz, "[{\"type\":\"mandate_task\","
	    "\"task_id\":\"%s\"}]", id);
	x.authz = authz;
	x.scope = "act199";
	assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
	assert_null(res.error);
	b = json_loadb(res.body.p, res.body.n, 0, NULL);
	granted = json_object_get(json_array_get(json_object_get(b,
	    "authorization_details"), 0), "actions");
	assert_int_equal(json_array_size(granted), 200);
	assert_string_equal(json_string_value(json_array_get(granted, 199)),
	    "act199");
	json_decref(b);

	/* 65 explicit actions: fine */
	k += (size_t)snprintf(acts + k, sizeof acts - k, "[");
	for (int i = 0; i < 65; i++)
		k += (size_t)snprintf(acts + k, sizeof acts - k, "%s\"act%03d\"",
		    i ? "," : "", i);
	snprintf(acts + k, sizeof acts - k, "]");
	snprintf(authz, sizeof authz, "[{\"type\":\"mandate_task\","
	    "\"task_id\":\"%s\",\"actions\":%s}]", id, acts);
	x.scope = NULL;
	assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
	assert_null(res.error);

	/* more than STS_MAX_ACTIONS: said so */
	k = (size_t)snprintf(acts, sizeof acts, "[");
	for (int i = 0; i <= STS_MAX_ACTIONS; i++)
		k += (size_t)snprintf(acts + k, sizeof acts - k, "%s\"a%d\"",
		    i ? "," : "", i);
	snprintf(acts + k, sizeof acts - k, "]");
	snprintf(authz, sizeof authz, "[{\"type\":\"mandate_task\","
	    "\"task_id\":\"%s\",\"actions\":%s}]", id, acts);
	assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
	assert_string_equal(res.error, "invalid_authorization_details");
	assert_non_null(strstr(res.description, "too many actions"));

	/* long names: the token would pass STS_MAX_ISSUED_LEN */
	o = (size_t)snprintf(intents, sizeof intents, "[");
	for (int i = 0; i < 100; i++)
		o += (size_t)snprintf(intents + o, sizeof intents - o,
		    "%s\"%0200d\"", i ? "," : "", i);
	snprintf(intents + o, sizeof intents - o, "]");
	assert_int_equal(make_task(f, AGENT, intents, T0 + 900, id),
	    MANDATE_OK);
	snprintf(authz, sizeof authz, "[{\"type\":\"mandate_task\","
	    "\"task_id\":\"%s\"}]", id);
	assert_int_equal(do_exchange(f, &x, &res), MANDATE_OK);
	assert_string_equal(res.error, "invalid_authorization_details");
	assert_non_null(strstr(res.description, "too large"));
	assert_int_equal(res.jti.n, 0);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		T(test_happy),
		T(test_jti_order),
		cmocka_unit_test(test_json_writer),
		T(test_all_intents_and_expiry),
		T(test_many_intents),
		T(test_task_end_and_kill),
		T(test_refusals),
		T(test_actor),
		T(test_presenter_binding),
		T(test_dpop),
		T(test_dpop_bad_headers),
		T(test_dpop_required),
		T(test_act_chain),
		T(test_spiffe_identities),
		T(test_dpop_nonce),
		T(test_replay_full),
		T(test_replay_share),
		T(test_threads),
		T(test_signature_cache),
		cmocka_unit_test_setup_teardown(test_rotation, setup_delayed,
		    teardown),
		T(test_key_files),
		T(test_metadata),
		T(test_scope_and_resource_syntax),
		T(test_alloc_failures),
		T(test_rate),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

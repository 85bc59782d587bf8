/*
 * identity_test.c - the workload identity verifier: keys generated here,
 * JWKS from a file and from a local HTTP server (src/server/http.h on
 * 127.0.0.1:0, with OIDC discovery and SPIFFE bundles), every attack of
 * the issue rejected, rotation, outage (last good set until
 * jwks_max_stale, then fail closed), the token cache (hits, forget,
 * eviction, cold vs hit timing), X.509-SVID chains made with OpenSSL,
 * and a table of SPIFFE IDs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "identity/identity.h"
#include "jose/jose.h"
#include "server/http.h"
#include "util/status.h"

#define NOW 1800000000LL
#define ISS "https://issuer.example"
#define AUD "mandate"

/* ---- fixture: a clock, keys, an HTTP server with mutable bodies ---- */

struct fx {
	_Atomic int64_t clock;     /* read by the refresher thread too */
	struct arena a;
	struct jose_key *k1, *k2, *k3;
	pthread_mutex_t mu;
	char jwks[8192];           /* served at /jwks */
	char disc[2048];           /* served at /.well-known/... */
	int down;                  /* serve 503 */
	int fetches;
	struct http_server *srv;
	uint16_t port;
	char tmpfiles[8][64];
	size_t n_tmp;
};

static int64_t
fx_clock(void *arg)
{
	return ((struct fx *)arg)->clock;
}

static void
fx_log(void *arg, enum identity_log_level l, const char *msg)
{
	(void)arg;
	if (getenv("IDENTITY_TEST_LOG") != NULL)
		fprintf(stderr, "log[%d] %s\n", (int)l, msg);
}

static void
serve(struct http_request *req, void *arg, const char *body)
{
	struct fx *f = arg;
	char copy[8192];
	int down;

	pthread_mutex_lock(&f->mu);
	down = f->down;
	f->fetches++;
	snprintf(copy, sizeof(copy), "%s", body);
	pthread_mutex_unlock(&f->mu);
	if (down)
		http_respond(req, 503, "text/plain", "down", 4);
	else
		http_respond(req, 200, "application/json", copy, strlen(copy));
}

static void
h_jwks(struct http_request *req, void *arg)
{
	serve(req, arg, ((struct fx *)arg)->jwks);
}

static void
h_disc(struct http_request *req, void *arg)
{
	serve(req, arg, ((struct fx *)arg)->disc);
}

static void
set_body(struct fx *f, char *dst, size_t cap, const char *s)
{
	pthread_mutex_lock(&f->mu);
	snprintf(dst, cap, "%s", s);
	pthread_mutex_unlock(&f->mu);
}

static void
start_server(struct fx *f)
{
	struct http_config hc = { .address = "127.0.0.1", .threads = 2 };

	assert_int_equal(http_server_new(&hc, &f->srv, NULL, 0), MANDATE_OK);
	assert_int_equal(http_server_route(f->srv, "GET", "/jwks", h_jwks, f),
	    MANDATE_OK);
	assert_int_equal(http_server_route(f->srv, "GET",
	    "/.well-known/openid-configuration", h_disc, f), MANDATE_OK);
	assert_int_equal(http_server_start(f->srv), MANDATE_OK);
	f->port = http_server_port(f->srv);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	f->clock = NOW;
	arena_init(&f->a, 0);
	pthread_mutex_init(&f->mu, NULL);
	assert_int_equal(jose_key_generate_es256(STR_LIT("k1"), &f->k1), 0);
	assert_int_equal(jose_key_generate_es256(STR_LIT("k2"), &f->k2), 0);
	assert_int_equal(jose_key_generate_es256(STR_LIT("k3"), &f->k3), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	if (f->srv != NULL)
		http_server_free(f->srv);
	for (size_t i = 0; i < f->n_tmp; i++)
		unlink(f->tmpfiles[i]);
	jose_key_unref(f->k1);
	jose_key_unref(f->k2);
	jose_key_unref(f->k3);
	arena_free(&f->a);
	pthread_mutex_destroy(&f->mu);
	free(f);
	return 0;
}

/* {"keys":[...]} of public JWKs, each with `use` when not NULL. */
static void
make_jwks(struct fx *f, char *out, size_t cap, const char *use,
    const char *extra, struct jose_key *const *keys, size_t n)
{
	size_t o = (size_t)snprintf(out, cap, "{%s\"keys\":[", extra ? extra :
	    "");

	for (size_t i = 0; i < n; i++) {
		struct str jwk;

		assert_int_equal(jose_key_public_jwk(keys[i], &f->a, &jwk), 0);
		o += (size_t)snprintf(out + o, cap - o, "%s{", i ? "," : "");
		if (use != NULL)
			o += (size_t)snprintf(out + o, cap - o,
			    "\"use\":\"%s\",", use);
		o += (size_t)snprintf(out + o, cap - o, "%.*s", (int)jwk.n - 1,
		    jwk.p + 1);
		assert_true(o < cap);
	}
	snprintf(out + o, cap - o, "]}");
}

static const char *
tmp_write(struct fx *f, const char *text, size_t len)
{
	char *path;
	int fd;

	assert_true(f->n_tmp < 8);
	path = f->tmpfiles[f->n_tmp++];

	snprintf(path, 64, "/tmp/identity_test_XXXXXX");
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_true(write(fd, text, len) == (ssize_t)len);
	close(fd);
	return path;
}

static const char *aud_list[] = { "other", AUD };

static struct config_issuer
oidc_issuer(const char *name)
{
	struct config_issuer is = {
		.name = name, .kind = CONFIG_ISSUER_OIDC, .issuer = ISS,
		.audiences = { aud_list, 2 }, .algorithms = CONFIG_ALG_ALL,
		.leeway = 60, .max_token_size = 8192, .jwks_refresh = 60,
		.jwks_max_stale = 300,
	};
	return is;
}

static struct config_issuer
spiffe_issuer(const char *name, const char *td)
{
	struct config_issuer is = {
		.name = name, .kind = CONFIG_ISSUER_SPIFFE, .trust_domain = td,
		.audiences = { aud_list, 2 }, .algorithms = CONFIG_ALG_ALL,
		.leeway = 60, .max_token_size = 8192, .jwks_refresh = 60,
		.jwks_max_stale = 300,
	};
	return is;
}

static struct identity_verifier *
make_verifier(struct fx *f, struct config_identity *ci)
{
	struct identity_opts o = { .clock = fx_clock, .log = fx_log,
	    .arg = f, .fetch_timeout_ms = 3000, .kid_refresh_min = 5 };
	struct identity_verifier *v = NULL;

	assert_int_equal(identity_new(ci, &o, &v), MANDATE_OK);
	return v;
}

/* A signed token; typ NULL: no typ header. */
static const char *
sign(struct fx *f, struct jose_key *k, const char *typ, bool omit_kid,
    const char *payload)
{
	struct jose_sign_opts so = { .omit_kid = omit_kid };
	struct str tok;

	if (typ != NULL)
		so.typ = str_c(typ);
	assert_int_equal(jose_jws_sign(&f->a, k, JOSE_ALG_ES256, &so,
	    str_c(payload), &tok), MANDATE_OK);
	return tok.p;
}

static const char *
claims(struct fx *f, const char *iss, const char *sub, const char *aud,
    int64_t exp, const char *extra)
{
	char buf[4096];

	snprintf(buf, sizeof(buf), "{\"iss\":\"%s\",\"sub\":\"%s\","
	    "\"aud\":%s,\"exp\":%lld,\"iat\":%lld%s%s}", iss, sub, aud,
	    (long long)exp, (long long)(NOW - 10), extra ? "," : "",
	    extra ? extra : "");
	return arena_cstrdup(&f->a, buf);
}

static const char *
unsigned_token(struct fx *f, const char *header, const char *payload,
    const char *sig_b64)
{
	struct str h, p;
	char buf[8192];

	assert_int_equal(jose_b64url_encode_a(&f->a, header, strlen(header),
	    &h), 0);
	assert_int_equal(jose_b64url_encode_a(&f->a, payload,
	    strlen(payload), &p), 0);
	snprintf(buf, sizeof(buf), "%s.%s.%s", h.p, p.p, sig_b64);
	return arena_cstrdup(&f->a, buf);
}

static int
verify(struct identity_verifier *v, struct fx *f, const char *tok,
    int64_t now, struct identity_principal *p, enum identity_reason *why)
{
	return identity_verify_jwt(v, tok, strlen(tok), now, &f->a, p, why);
}

/* ---- SPIFFE IDs ---- */

static void
test_spiffe_id(void **state)
{
	static const struct { const char *id; bool ok; const char *td,
	    *path; } cases[] = {
		{ "spiffe://example.org/ns/prod/sa/web", true, "example.org",
		    "/ns/prod/sa/web" },
		{ "spiffe://example.org", true, "example.org", "" },
		{ "spiffe://a-b_c.9/A.b-C_9", true, "a-b_c.9", "/A.b-C_9" },
		{ "spiffe://td/..a/a..", true, "td", "/..a/a.." },
		{ "spiffe://", false, NULL, NULL },
		{ "spiffe:///path", false, NULL, NULL },
		{ "SPIFFE://example.org/x", false, NULL, NULL },
		{ "spiffe://Example.org/x", false, NULL, NULL },
		{ "spiffe://example.org/", false, NULL, NULL },
		{ "spiffe://example.org/a/", false, NULL, NULL },
		{ "spiffe://example.org//a", false, NULL, NULL },
		{ "spiffe://example.org/./a", false, NULL, NULL },
		{ "spiffe://example.org/a/..", false, NULL, NULL },
		{ "spiffe://example.org:8080/a", false, NULL, NULL },
		{ "spiffe://user@example.org/a", false, NULL, NULL },
		{ "spiffe://example.org/a?q=1", false, NULL, NULL },
		{ "spiffe://example.org/a#frag", false, NULL, NULL },
		{ "spiffe://example.org/a%20b", false, NULL, NULL },
		{ "spiffe://example.org/a b", false, NULL, NULL },
		{ "https://example.org/a", false, NULL, NULL },
		{ "spiffe:/example.org/a", false, NULL, NULL },
		{ "", false, NULL, NULL },
	};
	struct str td, path;
	char big[IDENTITY_SPIFFE_ID_MAX + 2];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int r = identity_spiffe_id_parse(cases[i].id,
		    strlen(cases[i].id), &td, &path);

		if (cases[i].ok != (r == MANDATE_OK))
			fail_msg("case %zu: %s", i, cases[i].id);
		if (cases[i].ok) {
			assert_true(str_eq_c(td, cases[i].td));
			assert_true(str_eq_c(path, cases[i].path));
		} else {
			assert_int_equal(td.n, 0);
		}
	}
	/* an embedded NUL */
	assert_int_not_equal(identity_spiffe_id_parse("spiffe://a/b\0c", 14,
	    NULL, NULL), MANDATE_OK);
	/* length: 2048 ok, 2049 not */
	memcpy(big, "spiffe://td/", 12);
	memset(big + 12, 'a', sizeof(big) - 12);
	assert_int_equal(identity_spiffe_id_parse(big, 2048, NULL, NULL),
	    MANDATE_OK);
	assert_int_equal(identity_spiffe_id_parse(big, 2049, NULL, NULL),
	    MANDATE_EINVAL);
}

/* ---- OIDC from a JWKS file: the good path and every attack ---- */

static struct identity_verifier *
file_oidc(struct fx *f, struct config_issuer *is, struct config_identity *ci,
    size_t cache)
{
	char jwks[8192];
	struct jose_key *keys[] = { f->k1, f->k2 };

	make_jwks(f, jwks, sizeof(jwks), "sig", NULL, keys, 2);
	*is = oidc_issuer("corp");
	is->jwks_file = tmp_write(f, jwks, strlen(jwks));
	ci->issuers = is;
	ci->n_issuers = 1;
	ci->token_cache_size = cache;
	return make_verifier(f, ci);
}

static void
test_oidc_file_good(void **state)
{
	struct fx *f = *state;
	struct config_issuer is;
	struct config_identity ci = { 0 };
	struct identity_verifier *v = file_oidc(f, &is, &ci, 100);
	struct identity_principal p;
	enum identity_reason why;
	const char *tok;

	tok = sign(f, f->k1, "JWT", false, claims(f, ISS,
	    "system:serviceaccount:prod:web", "[\"x\",\"" AUD "\"]",
	    NOW + 600, "\"kubernetes.io\":{\"namespace\":\"prod\","
	    "\"serviceaccount\":{\"name\":\"web\",\"uid\":\"u\"}}"));
	assert_int_equal(verify(v, f, tok, NOW, &p, &why), MANDATE_OK);
	assert_int_equal(why, IDENTITY_R_OK);
	assert_int_equal(p.kind, IDENTITY_KIND_OIDC);
	assert_true(str_eq_c(p.issuer_name, "corp"));
	assert_true(str_eq_c(p.issuer, ISS));
	assert_true(str_eq_c(p.subject, "system:serviceaccount:prod:web"));
	assert_true(str_eq_c(p.k8s_namespace, "prod"));
	assert_true(str_eq_c(p.k8s_service_account, "web"));
	assert_int_equal(p.exp, NOW + 600);
	assert_non_null(strstr(p.claims_json.p, "kubernetes.io"));
	assert_false(p.from_cache);
	/* aud as a plain string; no typ; the other key */
	tok = sign(f, f->k2, NULL, false, claims(f, ISS, "alice",
	    "\"" AUD "\"", NOW + 600, NULL));
	assert_int_equal(verify(v, f, tok, NOW, &p, &why), MANDATE_OK);
	assert_int_equal(p.k8s_namespace.n, 0);
	/* the typs an OIDC issuer's identity and access tokens carry */
	{
		const char *typs[] = { "JWT", "jwt", "application/jwt", "JOSE",
		    "at+jwt", "application/at+jwt" };

		for (size_t i = 0; i < sizeof(typs) / sizeof(typs[0]); i++)
			if (verify(v, f, sign(f, f->k1, typs[i], false,
			    claims(f, ISS, "carol", "\"" AUD "\"", NOW + 600,
			    NULL)), NOW, &p, &why) != MANDATE_OK)
				fail_msg("typ %s: %s", typs[i],
				    identity_reason_str(why));
	}
	/* within the leeway */
	assert_int_equal(verify(v, f, sign(f, f->k1, NULL, false, claims(f,
	    ISS, "bob", "\"" AUD "\"", NOW - 30, NULL)), NOW, &p, &why),
	    MANDATE_OK);
	identity_free(v);
}

static void
test_oidc_attacks(void **state)
{
	struct fx *f = *state;
	struct config_issuer is;
	struct config_identity ci = { 0 };
	struct identity_verifier *v = file_oidc(f, &is, &ci, 100);
	const char *good = claims(f, ISS, "alice", "\"" AUD "\"", NOW + 600,
	    NULL);
	struct { const char *name; const char *tok; enum identity_reason
	    why; } cases[32];
	size_t n = 0;
	struct identity_principal p;
	enum identity_reason why;
	struct str pub, hsig;
	unsigned char mac[32];
	unsigned mac_len = 0;
	char *big;
	const char *t, *dot;
	char *tampered;

#define CASE(nm, tk, wy) do { cases[n].name = (nm); cases[n].tok = (tk); \
	cases[n].why = (wy); n++; } while (0)

	CASE("alg none", unsigned_token(f, "{\"alg\":\"none\"}", good, ""),
	    IDENTITY_R_MALFORMED);
	CASE("alg none with kid", unsigned_token(f,
	    "{\"alg\":\"none\",\"kid\":\"k1\"}", good, "AAAA"),
	    IDENTITY_R_ALG);
	/* HS256 keyed with the issuer's public key */
	assert_int_equal(jose_key_public_jwk(f->k1, &f->a, &pub), 0);
	{
		const char *hdr = "{\"alg\":\"HS256\",\"kid\":\"k1\"}";
		const char *u = unsigned_token(f, hdr, good, "");
		size_t ul = strlen(u) - 1;   /* without the final '.' */

		HMAC(EVP_sha256(), pub.p, (int)pub.n, (const unsigned char *)u,
		    ul, mac, &mac_len);
		assert_int_equal(jose_b64url_encode_a(&f->a, mac, mac_len,
		    &hsig), 0);
		CASE("HS256 with public key", unsigned_token(f, hdr, good,
		    hsig.p), IDENTITY_R_ALG);
	}
	CASE("expired", sign(f, f->k1, NULL, false, claims(f, ISS, "alice",
	    "\"" AUD "\"", NOW - 61, NULL)), IDENTITY_R_EXPIRED);
	CASE("no exp", sign(f, f->k1, NULL, false, "{\"iss\":\"" ISS "\","
	    "\"sub\":\"a\",\"aud\":\"" AUD "\"}"), IDENTITY_R_EXPIRED);
	CASE("nbf future", sign(f, f->k1, NULL, false, claims(f, ISS, "alice",
	    "\"" AUD "\"", NOW + 600, "\"nbf\":1800000100")),
	    IDENTITY_R_NOT_YET_VALID);
	CASE("iat future", sign(f, f->k1, NULL, false, "{\"iss\":\"" ISS
	    "\",\"sub\":\"a\",\"aud\":\"" AUD "\",\"exp\":1800000600,"
	    "\"iat\":1800000500}"), IDENTITY_R_IAT);
	CASE("wrong aud", sign(f, f->k1, NULL, false, claims(f, ISS, "alice",
	    "\"someone-else\"", NOW + 600, NULL)), IDENTITY_R_AUD);
	CASE("aud array without ours", sign(f, f->k1, NULL, false, claims(f,
	    ISS, "alice", "[\"a\",\"b\"]", NOW + 600, NULL)),
	    IDENTITY_R_AUD);
	/* a member that is not a string: refused in any position */
	CASE("aud array, ours then a number", sign(f, f->k1, NULL, false,
	    claims(f, ISS, "alice", "[\"" AUD "\",1]", NOW + 600, NULL)),
	    IDENTITY_R_AUD);
	CASE("aud array, a number then ours", sign(f, f->k1, NULL, false,
	    claims(f, ISS, "alice", "[1,\"" AUD "\"]", NOW + 600, NULL)),
	    IDENTITY_R_AUD);
	CASE("no aud", sign(f, f->k1, NULL, false, "{\"iss\":\"" ISS "\","
	    "\"sub\":\"a\",\"exp\":1800000600}"), IDENTITY_R_AUD);
	CASE("wrong iss", sign(f, f->k1, NULL, false, claims(f,
	    "https://evil.example", "alice", "\"" AUD "\"", NOW + 600, NULL)),
	    IDENTITY_R_UNKNOWN_ISSUER);
	CASE("no sub", sign(f, f->k1, NULL, false, "{\"iss\":\"" ISS "\","
	    "\"aud\":\"" AUD "\",\"exp\":1800000600}"), IDENTITY_R_CLAIMS);
	CASE("unknown kid", sign(f, f->k3, NULL, false, good), IDENTITY_R_KID);
	CASE("no kid, two keys", sign(f, f->k1, NULL, true, good),
	    IDENTITY_R_KID);
	CASE("wrong key for kid", unsigned_token(f,
	    "{\"alg\":\"ES256\",\"kid\":\"k1\"}", good, strrchr(sign(f, f->k2,
	    NULL, false, good), '.') + 1), IDENTITY_R_SIGNATURE);
	/* tampered payload: keep header and signature, swap the payload */
	t = sign(f, f->k1, NULL, false, good);
	dot = strchr(t, '.');
	{
		struct str evil;
		const char *ep = claims(f, ISS, "root", "\"" AUD "\"",
		    NOW + 600, NULL);
		size_t hl = (size_t)(dot - t);
		const char *sig = strrchr(t, '.');

		assert_int_equal(jose_b64url_encode_a(&f->a, ep, strlen(ep),
		    &evil), 0);
		tampered = arena_alloc(&f->a, hl + evil.n + strlen(sig) + 2);
		snprintf(tampered, hl + evil.n + strlen(sig) + 2, "%.*s.%s%s",
		    (int)hl, t, evil.p, sig);
		CASE("tampered payload", tampered, IDENTITY_R_SIGNATURE);
	}
	/* a person's issuer naming a workload: a SPIFFE ID is only ever
	 * vouched for by a SPIFFE issuer of its trust domain */
	CASE("OIDC sub is a SPIFFE ID", sign(f, f->k1, NULL, false, claims(f,
	    ISS, "spiffe://acme.test/agents/assistant", "\"" AUD "\"",
	    NOW + 600, NULL)), IDENTITY_R_SPIFFE_SUBJECT);
	CASE("OIDC sub is a SPIFFE URI in capitals", sign(f, f->k1, NULL,
	    false, claims(f, ISS, "SPIFFE://acme.test/x", "\"" AUD "\"",
	    NOW + 600, NULL)), IDENTITY_R_SPIFFE_SUBJECT);
	/* RFC 8725 3.11: a JWT explicitly typed as another kind (a logout
	 * token or a security event the issuer signed for some relying
	 * party, a DPoP proof) is not an identity token */
	CASE("typ logout+jwt", sign(f, f->k1, "logout+jwt", false, good),
	    IDENTITY_R_TYP);
	CASE("typ application/secevent+jwt", sign(f, f->k1,
	    "application/secevent+jwt", false, good), IDENTITY_R_TYP);
	CASE("typ dpop+jwt", sign(f, f->k1, "dpop+jwt", false, good),
	    IDENTITY_R_TYP);
	CASE("garbage", "not.a.jwt", IDENTITY_R_MALFORMED);
	CASE("two parts", "eyJhbGciOiJFUzI1NiJ9.e30", IDENTITY_R_MALFORMED);
	big = arena_alloc(&f->a, 9000);
	memset(big, 'A', 8999);
	big[8999] = '\0';
	CASE("oversized", big, IDENTITY_R_TOO_LARGE);

	for (size_t i = 0; i < n; i++) {
		int r = verify(v, f, cases[i].tok, NOW, &p, &why);

		if (r != MANDATE_EINVAL || why != cases[i].why)
			fail_msg("%s: r=%d why=%s", cases[i].name, r,
			    identity_reason_str(why));
		assert_int_equal(p.subject.n, 0);
		assert_int_equal(p.kind, 0);
	}
	/* the issuer's own allow-list */
	is.algorithms = CONFIG_ALG_RS256;
	identity_free(v);
	v = make_verifier(f, &ci);
	assert_int_equal(verify(v, f, sign(f, f->k1, NULL, false, good), NOW,
	    &p, &why), MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_ALG);
	/* per-issuer size limit */
	is.algorithms = CONFIG_ALG_ALL;
	is.max_token_size = 200;
	identity_free(v);
	v = make_verifier(f, &ci);
	assert_int_equal(verify(v, f, sign(f, f->k1, NULL, false, good), NOW,
	    &p, &why), MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_TOO_LARGE);
	identity_free(v);
#undef CASE
}

/* ---- several OIDC issuers: the principal is subject_prefix + sub ---- */

#define ISS_PARTNER "https://partner.example"
#define ISS_DEV "https://dev.example"

static void
test_subject_prefix(void **state)
{
	struct fx *f = *state;
	struct config_issuer is[4];
	struct config_identity ci = { .issuers = is, .n_issuers = 4,
	    .token_cache_size = 16 };
	struct identity_verifier *v, *bad = NULL;
	struct identity_principal p;
	enum identity_reason why;
	struct jose_key *k1[] = { f->k1 }, *k2[] = { f->k2 },
	    *k3[] = { f->k3 };
	char jwks[4096];
	const char *tok;
	struct {
		const char *name;
		struct jose_key *key;
		const char *iss, *sub;
		enum identity_reason why;
	} refused[] = {
		/* the issuer without a prefix cannot reach into the
		 * prefixed ones' principals */
		{ "corp names a partner principal", f->k1, ISS,
		  "partner:alice", IDENTITY_R_FOREIGN_PREFIX },
		{ "corp names a development person", f->k1, ISS,
		  "dev-user:alice", IDENTITY_R_FOREIGN_PREFIX },
		/* the development people carry their prefix */
		{ "dev token without dev-user:", f->k3, ISS_DEV, "alice",
		  IDENTITY_R_SUBJECT_PREFIX },
		/* a prefix does not make a SPIFFE ID acceptable */
		{ "partner sub is a SPIFFE ID", f->k2, ISS_PARTNER,
		  "spiffe://acme.test/agents/a", IDENTITY_R_SPIFFE_SUBJECT },
		/* each issuer its own keys */
		{ "partner token signed by corp's key", f->k1, ISS_PARTNER,
		  "alice", IDENTITY_R_KID },
	};

	(void)state;
	is[0] = oidc_issuer("corp");
	make_jwks(f, jwks, sizeof(jwks), "sig", NULL, k1, 1);
	is[0].jwks_file = tmp_write(f, jwks, strlen(jwks));
	is[1] = oidc_issuer("partner");
	is[1].issuer = ISS_PARTNER;
	is[1].subject_prefix = "partner:";
	make_jwks(f, jwks, sizeof(jwks), "sig", NULL, k2, 1);
	is[1].jwks_file = tmp_write(f, jwks, strlen(jwks));
	is[2] = oidc_issuer("dev");
	is[2].issuer = ISS_DEV;
	is[2].subject_prefix = "dev-user:";
	is[2].subject_prefix_in_sub = true;
	make_jwks(f, jwks, sizeof(jwks), "sig", NULL, k3, 1);
	is[2].jwks_file = tmp_write(f, jwks, strlen(jwks));
	is[3] = spiffe_issuer("agents", "acme.test");
	is[3].bundle_file = is[2].jwks_file;
	v = make_verifier(f, &ci);

	/* one sub, three issuers, three principals */
	tok = sign(f, f->k1, NULL, false, claims(f, ISS, "alice",
	    "\"" AUD "\"", NOW + 600, NULL));
	assert_int_equal(verify(v, f, tok, NOW, &p, &why), MANDATE_OK);
	assert_true(str_eq_c(p.subject, "alice"));
	assert_true(str_eq_c(p.issuer_name, "corp"));
	tok = sign(f, f->k2, NULL, false, claims(f, ISS_PARTNER, "alice",
	    "\"" AUD "\"", NOW + 600, NULL));
	assert_int_equal(verify(v, f, tok, NOW, &p, &why), MANDATE_OK);
	assert_true(str_eq_c(p.subject, "partner:alice"));
	assert_int_equal(p.subject.p[p.subject.n], '\0');
	assert_true(str_eq_c(p.issuer_name, "partner"));
	assert_non_null(strstr(p.claims_json.p, "\"sub\":\"alice\""));
	assert_false(p.from_cache);
	/* the cache keeps the token's sub; the answer is the principal */
	assert_int_equal(verify(v, f, tok, NOW, &p, &why), MANDATE_OK);
	assert_true(p.from_cache);
	assert_true(str_eq_c(p.subject, "partner:alice"));
	tok = sign(f, f->k3, NULL, false, claims(f, ISS_DEV,
	    "dev-user:alice", "\"" AUD "\"", NOW + 600, NULL));
	assert_int_equal(verify(v, f, tok, NOW, &p, &why), MANDATE_OK);
	assert_true(str_eq_c(p.subject, "dev-user:alice"));
	/* a partner's sub that looks prefixed is still theirs */
	tok = sign(f, f->k2, NULL, false, claims(f, ISS_PARTNER,
	    "dev-user:alice", "\"" AUD "\"", NOW + 600, NULL));
	assert_int_equal(verify(v, f, tok, NOW, &p, &why), MANDATE_OK);
	assert_true(str_eq_c(p.subject, "partner:dev-user:alice"));

	for (size_t i = 0; i < sizeof(refused) / sizeof(refused[0]); i++) {
		tok = sign(f, refused[i].key, NULL, false, claims(f,
		    refused[i].iss, refused[i].sub, "\"" AUD "\"", NOW + 600,
		    NULL));
		if (verify(v, f, tok, NOW, &p, &why) != MANDATE_EINVAL ||
		    why != refused[i].why)
			fail_msg("%s: why=%s", refused[i].name,
			    identity_reason_str(why));
		assert_int_equal(p.subject.n, 0);
	}
	identity_free(v);

	/* issuers that could name one principal are refused, however the
	 * configuration was made */
	{
		struct identity_opts o = { .clock = fx_clock, .log = fx_log,
		    .arg = f };
		struct {
			const char *p0, *p1;
		} clash[] = {
			{ NULL, NULL },              /* two without a prefix */
			{ "p:", "p:" },
			{ "p:", "p:x:" },            /* "p:" + "x:a" */
			{ "p:x:", "p:" },
			{ NULL, "SPIF" },            /* "SPIF" + "FE://..." */
			{ NULL, "" },
		};

		for (size_t i = 0; i < sizeof(clash) / sizeof(clash[0]); i++) {
			is[0].subject_prefix = clash[i].p0;
			is[1].subject_prefix = clash[i].p1;
			ci.n_issuers = 2;
			if (identity_new(&ci, &o, &bad) != MANDATE_EINVAL)
				fail_msg("clash %zu accepted", i);
			assert_null(bad);
		}
		is[0].subject_prefix = "p:";
		is[1].subject_prefix = "q:";
		assert_int_equal(identity_new(&ci, &o, &bad), MANDATE_OK);
		identity_free(bad);
	}
}

static void
test_bad_sources(void **state)
{
	struct fx *f = *state;
	struct config_issuer is = oidc_issuer("corp");
	struct config_identity ci = { .issuers = &is, .n_issuers = 1 };
	struct identity_opts o = { .clock = fx_clock, .arg = f };
	struct identity_verifier *v = NULL;
	struct identity_principal p;
	enum identity_reason why;

	is.jwks_file = "/nonexistent/jwks.json";
	assert_int_equal(identity_new(&ci, &o, &v), MANDATE_EIO);
	assert_null(v);
	is.jwks_file = tmp_write(f, "{\"keys\":", 8);
	assert_int_equal(identity_new(&ci, &o, &v), MANDATE_EINVAL);
	assert_null(v);
	/* plain http to a non-loopback host is refused before any fetch:
	 * the issuer starts without keys and rejects everything */
	is.jwks_file = NULL;
	is.jwks_uri = "http://jwks.example.com/keys";
	assert_int_equal(identity_new(&ci, &o, &v), MANDATE_OK);
	assert_int_equal(verify(v, f, sign(f, f->k1, NULL, false, claims(f,
	    ISS, "a", "\"" AUD "\"", NOW + 60, NULL)), NOW, &p, &why),
	    MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_NO_KEYS);
	assert_int_equal(identity_refresh(v, "corp"), MANDATE_EIO);
	assert_int_equal(identity_refresh(v, "nope"), MANDATE_ENOTFOUND);
	identity_free(v);
}

static void
test_file_rotation_and_limits(void **state)
{
	struct fx *f = *state;
	struct config_issuer is;
	struct config_identity ci = { 0 };
	struct identity_verifier *v = file_oidc(f, &is, &ci, 100);
	struct jose_key *k3[] = { f->k3 }, *three[] = { f->k1, f->k2, f->k3 };
	struct identity_principal p;
	enum identity_reason why;
	const char *t1, *t3;
	char jwks[8192];
	FILE *fp;

	t1 = sign(f, f->k1, NULL, false, claims(f, ISS, "a", "\"" AUD "\"",
	    NOW + 3600, NULL));
	t3 = sign(f, f->k3, NULL, false, claims(f, ISS, "c", "\"" AUD "\"",
	    NOW + 3600, NULL));
	assert_int_equal(verify(v, f, t1, NOW, &p, &why), MANDATE_OK);
	assert_int_equal(verify(v, f, t3, NOW, &p, &why), MANDATE_EINVAL);
	/* the file is rotated to k3 only: an unknown kid re-reads it */
	make_jwks(f, jwks, sizeof(jwks), NULL, NULL, k3, 1);
	fp = fopen(is.jwks_file, "w");
	assert_non_null(fp);
	fputs(jwks, fp);
	fclose(fp);
	f->clock += 6;
	assert_int_equal(verify(v, f, t3, NOW, &p, &why), MANDATE_OK);
	assert_int_equal(verify(v, f, t1, NOW, &p, &why), MANDATE_EINVAL);
	/* the file disappears: last good set until jwks_max_stale */
	unlink(is.jwks_file);
	f->clock += 100;
	assert_int_equal(verify(v, f, t3, NOW, &p, &why), MANDATE_OK);
	f->clock += 300;
	assert_int_equal(verify(v, f, t3, NOW, &p, &why), MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_STALE);
	identity_free(v);

	/* more keys than jwks_cache_size: refused */
	make_jwks(f, jwks, sizeof(jwks), NULL, NULL, three, 3);
	is.jwks_file = tmp_write(f, jwks, strlen(jwks));
	ci.jwks_cache_size = 2;
	v = NULL;
	assert_int_equal(identity_new(&ci, NULL, &v), MANDATE_EINVAL);
	assert_null(v);
	ci.jwks_cache_size = 3;
	assert_int_equal(identity_new(&ci, NULL, &v), MANDATE_OK);
	identity_free(v);
}

/* ---- SPIFFE JWT-SVIDs from a bundle file ---- */

static void
test_spiffe_file(void **state)
{
	struct fx *f = *state;
	struct jose_key *keys[] = { f->k1 };
	struct config_issuer is[2];
	struct config_identity ci = { .issuers = is, .n_issuers = 2,
	    .token_cache_size = 10 };
	struct identity_verifier *v;
	struct identity_principal p;
	enum identity_reason why;
	char bundle[8192];
	static const char *const bad_subs[] = {
		"spiffe://example.org", "spiffe://example.org/",
		"spiffe://example.org/a//b", "spiffe://example.org/a/../b",
		"spiffe://example.org:443/a", "spiffe://EXAMPLE.org/a",
		"spiffe://example.org/a?x", "spiffe://example.org/a#x",
		"spiffe://u@example.org/a", "example.org/a",
		"spiffe://other.org/a",
	};

	make_jwks(f, bundle, sizeof(bundle), "jwt-svid",
	    "\"spiffe_sequence\":1,\"spiffe_refresh_hint\":300,", keys, 1);
	is[0] = spiffe_issuer("spire", "example.org");
	is[0].bundle_file = tmp_write(f, bundle, strlen(bundle));
	is[1] = oidc_issuer("corp");
	is[1].jwks_file = is[0].bundle_file;
	v = make_verifier(f, &ci);

	assert_int_equal(verify(v, f, sign(f, f->k1, NULL, false, claims(f,
	    "whatever", "spiffe://example.org/ns/prod/sa/web", "\"" AUD "\"",
	    NOW + 300, NULL)), NOW, &p, &why), MANDATE_OK);
	assert_int_equal(p.kind, IDENTITY_KIND_SPIFFE);
	assert_true(str_eq_c(p.subject, "spiffe://example.org/ns/prod/sa/web"));
	assert_true(str_eq_c(p.trust_domain, "example.org"));
	assert_true(str_eq_c(p.issuer_name, "spire"));
	/* typ JWT / JOSE fine, anything else refused */
	assert_int_equal(verify(v, f, sign(f, f->k1, "JWT", false, claims(f,
	    "x", "spiffe://example.org/w", "\"" AUD "\"", NOW + 300, NULL)),
	    NOW, &p, &why), MANDATE_OK);
	assert_int_equal(verify(v, f, sign(f, f->k1, "JOSE", false, claims(f,
	    "x", "spiffe://example.org/w2", "\"" AUD "\"", NOW + 300, NULL)),
	    NOW, &p, &why), MANDATE_OK);
	assert_int_equal(verify(v, f, sign(f, f->k1, "at+jwt", false,
	    claims(f, "x", "spiffe://example.org/w3", "\"" AUD "\"",
	    NOW + 300, NULL)), NOW, &p, &why), MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_TYP);
	/* no kid with exactly one key is fine */
	assert_int_equal(verify(v, f, sign(f, f->k1, NULL, true, claims(f,
	    "x", "spiffe://example.org/w4", "\"" AUD "\"", NOW + 300, NULL)),
	    NOW, &p, &why), MANDATE_OK);
	for (size_t i = 0; i < sizeof(bad_subs) / sizeof(bad_subs[0]); i++) {
		int r = verify(v, f, sign(f, f->k1, NULL, false, claims(f,
		    "x", bad_subs[i], "\"" AUD "\"", NOW + 300, NULL)), NOW,
		    &p, &why);

		if (r != MANDATE_EINVAL)
			fail_msg("sub %s accepted", bad_subs[i]);
	}
	/* the OIDC issuer sharing those keys cannot vouch for a SPIFFE ID
	 * of a trust domain: its token naming one is refused, not taken
	 * for an OIDC principal that string comparisons would confuse with
	 * the workload */
	assert_int_equal(verify(v, f, sign(f, f->k1, NULL, false, claims(f,
	    ISS, "spiffe://example.org/w", "\"" AUD "\"", NOW + 300, NULL)),
	    NOW, &p, &why), MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_SPIFFE_SUBJECT);
	assert_int_equal(p.kind, 0);
	identity_free(v);

	/* only use:jwt-svid keys with a kid verify JWT-SVIDs */
	{
		struct jose_key *k2[] = { f->k2 }, *k3[] = { f->k3 };
		char sig_key[4096], svid_key[4096], mixed[8192];
		struct str nokid;

		make_jwks(f, sig_key, sizeof(sig_key), "sig", NULL, k2, 1);
		make_jwks(f, svid_key, sizeof(svid_key), "x509-svid", NULL,
		    k3, 1);
		assert_int_equal(jose_key_public_jwk(f->k1, &f->a, &nokid), 0);
		/* k2 as "sig", k3 as "x509-svid" (no x5c), and k1 as
		 * jwt-svid without its kid: none may verify a JWT-SVID */
		snprintf(mixed, sizeof(mixed), "{\"keys\":[%.*s,%.*s,"
		    "{\"use\":\"jwt-svid\",\"kty\":\"EC\",%s]}",
		    (int)strlen(sig_key) - 11, sig_key + 9,
		    (int)strlen(svid_key) - 11, svid_key + 9,
		    strstr(nokid.p, "\"crv\""));
		/* cut the kid/alg members off the last key */
		{
			char *kid = strstr(mixed + strlen(mixed) - 200,
			    ",\"kid\"");

			assert_non_null(kid);
			snprintf(kid, 8, "}]}");
		}
		is[0].bundle_file = tmp_write(f, mixed, strlen(mixed));
		ci.n_issuers = 1;
		v = make_verifier(f, &ci);
		assert_int_equal(verify(v, f, sign(f, f->k2, NULL, false,
		    claims(f, "x", "spiffe://example.org/w", "\"" AUD "\"",
		    NOW + 300, NULL)), NOW, &p, &why), MANDATE_EINVAL);
		assert_int_equal(why, IDENTITY_R_KID);
		assert_int_equal(verify(v, f, sign(f, f->k3, NULL, false,
		    claims(f, "x", "spiffe://example.org/w", "\"" AUD "\"",
		    NOW + 300, NULL)), NOW, &p, &why), MANDATE_EINVAL);
		assert_int_equal(verify(v, f, sign(f, f->k1, NULL, true,
		    claims(f, "x", "spiffe://example.org/w", "\"" AUD "\"",
		    NOW + 300, NULL)), NOW, &p, &why), MANDATE_EINVAL);
		identity_free(v);
	}

	/* an empty bundle revokes every key */
	is[0].bundle_file = tmp_write(f, "{\"keys\":[]}", 11);
	ci.n_issuers = 1;
	v = make_verifier(f, &ci);
	assert_int_equal(verify(v, f, sign(f, f->k1, NULL, false, claims(f,
	    "x", "spiffe://example.org/w", "\"" AUD "\"", NOW + 300, NULL)),
	    NOW, &p, &why), MANDATE_EINVAL);
	identity_free(v);
}

/* ---- over HTTP: discovery, rotation, outage ---- */

/* Start the fixture's server publishing discovery for issuer "idp" at
 * its address (written to iss) and a key set of k1 alone, and a verifier
 * of ci (whose issuer is *is) that finds its keys through discovery. */
static struct identity_verifier *
discovery_verifier(struct fx *f, struct config_issuer *is,
    struct config_identity *ci, char *iss, size_t iss_cap)
{
	struct jose_key *k1[] = { f->k1 };
	char buf[2048];

	start_server(f);
	snprintf(iss, iss_cap, "http://127.0.0.1:%u", f->port);
	snprintf(buf, sizeof(buf), "{\"issuer\":\"%s\",\"jwks_uri\":"
	    "\"%s/jwks\"}", iss, iss);
	set_body(f, f->disc, sizeof(f->disc), buf);
	make_jwks(f, buf, sizeof(buf), NULL, NULL, k1, 1);
	set_body(f, f->jwks, sizeof(f->jwks), buf);
	*is = oidc_issuer("idp");
	is->issuer = iss;
	is->discovery = true;
	return make_verifier(f, ci);
}

static void
test_http_discovery_rotation_outage(void **state)
{
	struct fx *f = *state;
	struct config_issuer is;
	struct config_identity ci = { .issuers = &is, .n_issuers = 1,
	    .token_cache_size = 100 };
	struct identity_verifier *v;
	struct identity_principal p;
	enum identity_reason why;
	struct jose_key *k2[] = { f->k2 };
	char iss[128], buf[2048];
	const char *t1, *t2;

	v = discovery_verifier(f, &is, &ci, iss, sizeof(iss));

	t1 = sign(f, f->k1, NULL, false, claims(f, iss, "alice",
	    "\"" AUD "\"", NOW + 3600, NULL));
	t2 = sign(f, f->k2, NULL, false, claims(f, iss, "bob",
	    "\"" AUD "\"", NOW + 3600, NULL));
	assert_int_equal(verify(v, f, t1, NOW, &p, &why), MANDATE_OK);
	assert_int_equal(verify(v, f, t1, NOW, &p, &why), MANDATE_OK);
	assert_true(p.from_cache);
	/* k2 unknown: refresh is rate-limited (kid_refresh_min 5 s) */
	assert_int_equal(verify(v, f, t2, NOW, &p, &why), MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_KID);

	/* rotation: the server now publishes only k2 */
	make_jwks(f, buf, sizeof(buf), NULL, NULL, k2, 1);
	set_body(f, f->jwks, sizeof(f->jwks), buf);
	f->clock += 10;
	assert_int_equal(verify(v, f, t2, NOW, &p, &why), MANDATE_OK);
	/* t1 was cached, but its key is gone: not served from the cache */
	assert_int_equal(verify(v, f, t1, NOW, &p, &why), MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_KID);

	/* outage: the last good set is used until jwks_max_stale (300) */
	pthread_mutex_lock(&f->mu);
	f->down = 1;
	pthread_mutex_unlock(&f->mu);
	f->clock += 100;           /* refresh due (60), fetch fails */
	assert_int_equal(verify(v, f, t2, NOW, &p, &why), MANDATE_OK);
	f->clock += 150;           /* 250 s after the last good fetch */
	assert_int_equal(verify(v, f, t2, NOW, &p, &why), MANDATE_OK);
	f->clock += 60;            /* 310 s: stale, fail closed */
	assert_int_equal(verify(v, f, t2, NOW, &p, &why), MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_STALE);
	assert_int_equal(verify(v, f, t2, NOW, &p, &why), MANDATE_EINVAL);
	/* back up: accepted again after the next attempt */
	pthread_mutex_lock(&f->mu);
	f->down = 0;
	pthread_mutex_unlock(&f->mu);
	f->clock += 10;
	assert_int_equal(verify(v, f, t2, NOW, &p, &why), MANDATE_OK);

	/* server gone entirely: still the last good set, then stale */
	http_server_free(f->srv);
	f->srv = NULL;
	f->clock += 120;
	assert_int_equal(verify(v, f, t2, NOW, &p, &why), MANDATE_OK);
	f->clock += 300;
	assert_int_equal(verify(v, f, t2, NOW, &p, &why), MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_STALE);
	identity_free(v);
}

/* The wall clock set back (an NTP step, a VM restored from a snapshot):
 * the time since the last fetch came out negative, so no refresh was due
 * and the set never went stale until the clock caught up again; a key the
 * issuer had dropped (compromised) was trusted that much longer, and an
 * outage that long went unnoticed.  A clock that went back is taken as
 * "unknown, long ago": a refresh is due at once, and the set is stale
 * until one succeeds. */
static void
test_http_clock_set_back(void **state)
{
	struct fx *f = *state;
	struct config_issuer is;
	struct config_identity ci = { .issuers = &is, .n_issuers = 1,
	    .token_cache_size = 100 };
	struct identity_verifier *v;
	struct identity_principal p;
	enum identity_reason why;
	struct jose_key *k2[] = { f->k2 };
	char iss[128], buf[2048];
	const char *t1, *t2;

	v = discovery_verifier(f, &is, &ci, iss, sizeof(iss));
	t1 = sign(f, f->k1, NULL, false, claims(f, iss, "alice",
	    "\"" AUD "\"", NOW + 3600, NULL));
	t2 = sign(f, f->k2, NULL, false, claims(f, iss, "bob",
	    "\"" AUD "\"", NOW + 3600, NULL));
	assert_int_equal(verify(v, f, t1, NOW, &p, &why), MANDATE_OK);

	/* the issuer drops k1, and the clock is set back a day */
	make_jwks(f, buf, sizeof(buf), NULL, NULL, k2, 1);
	set_body(f, f->jwks, sizeof(f->jwks), buf);
	f->clock -= 86400;
	assert_int_equal(verify(v, f, t1, NOW, &p, &why), MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_KID);
	assert_int_equal(verify(v, f, t2, NOW, &p, &why), MANDATE_OK);

	/* set back again during an outage: stale, not trusted for a day */
	pthread_mutex_lock(&f->mu);
	f->down = 1;
	pthread_mutex_unlock(&f->mu);
	f->clock -= 86400;
	assert_int_equal(verify(v, f, t2, NOW, &p, &why), MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_STALE);
	/* back up: accepted after the next attempt the rate limit allows */
	pthread_mutex_lock(&f->mu);
	f->down = 0;
	pthread_mutex_unlock(&f->mu);
	f->clock += 10;
	assert_int_equal(verify(v, f, t2, NOW, &p, &why), MANDATE_OK);
	identity_free(v);
}

static void
test_http_discovery_issuer_mismatch(void **state)
{
	struct fx *f = *state;
	struct config_issuer is;
	struct config_identity ci = { .issuers = &is, .n_issuers = 1 };
	struct identity_verifier *v;
	struct identity_principal p;
	enum identity_reason why;
	struct jose_key *k1[] = { f->k1 };
	char iss[128], buf[2048];

	start_server(f);
	snprintf(iss, sizeof(iss), "http://127.0.0.1:%u", f->port);
	snprintf(buf, sizeof(buf), "{\"issuer\":\"https://evil.example\","
	    "\"jwks_uri\":\"%s/jwks\"}", iss);
	set_body(f, f->disc, sizeof(f->disc), buf);
	make_jwks(f, buf, sizeof(buf), NULL, NULL, k1, 1);
	set_body(f, f->jwks, sizeof(f->jwks), buf);
	is = oidc_issuer("idp");
	is.issuer = iss;
	is.discovery = true;
	v = make_verifier(f, &ci);
	assert_int_equal(verify(v, f, sign(f, f->k1, NULL, false, claims(f,
	    iss, "a", "\"" AUD "\"", NOW + 60, NULL)), NOW, &p, &why),
	    MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_NO_KEYS);
	identity_free(v);
}

static void
test_http_spiffe_bundle(void **state)
{
	struct fx *f = *state;
	struct config_issuer is;
	struct config_identity ci = { .issuers = &is, .n_issuers = 1,
	    .token_cache_size = 100 };
	struct identity_verifier *v;
	struct identity_principal p;
	enum identity_reason why;
	struct jose_key *k1[] = { f->k1 };
	char url[128], buf[4096];
	const char *t;
	int fetches;

	start_server(f);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/jwks", f->port);
	make_jwks(f, buf, sizeof(buf), "jwt-svid",
	    "\"spiffe_refresh_hint\":20,", k1, 1);
	set_body(f, f->jwks, sizeof(f->jwks), buf);
	is = spiffe_issuer("spire", "example.org");
	is.bundle_url = url;
	v = make_verifier(f, &ci);
	t = sign(f, f->k1, NULL, false, claims(f, "x",
	    "spiffe://example.org/agent/a1", "\"" AUD "\"", NOW + 3600,
	    NULL));
	assert_int_equal(verify(v, f, t, NOW, &p, &why), MANDATE_OK);
	/* the hint (20 s), not jwks_refresh (60 s), schedules refreshes */
	pthread_mutex_lock(&f->mu);
	fetches = f->fetches;
	pthread_mutex_unlock(&f->mu);
	f->clock += 25;
	assert_int_equal(verify(v, f, t, NOW, &p, &why), MANDATE_OK);
	pthread_mutex_lock(&f->mu);
	assert_int_equal(f->fetches, fetches + 1);
	pthread_mutex_unlock(&f->mu);
	/* an empty keys revokes all, including the cached token */
	set_body(f, f->jwks, sizeof(f->jwks), "{\"keys\":[]}");
	assert_int_equal(identity_refresh(v, NULL), MANDATE_OK);
	assert_int_equal(verify(v, f, t, NOW, &p, &why), MANDATE_EINVAL);
	identity_free(v);
}

static void
test_background_refresher(void **state)
{
	struct fx *f = *state;
	struct config_issuer is;
	struct config_identity ci = { .issuers = &is, .n_issuers = 1,
	    .token_cache_size = 100 };
	struct identity_verifier *v;
	struct identity_principal p;
	enum identity_reason why;
	struct jose_key *k1[] = { f->k1 }, *k2[] = { f->k2 };
	char url[128], buf[4096];
	const char *t1, *t2;
	int fetches, r = MANDATE_OK;

	start_server(f);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/jwks", f->port);
	make_jwks(f, buf, sizeof(buf), NULL, NULL, k1, 1);
	set_body(f, f->jwks, sizeof(f->jwks), buf);
	is = oidc_issuer("idp");
	is.jwks_uri = url;
	v = make_verifier(f, &ci);
	assert_int_equal(identity_start(v), MANDATE_OK);
	assert_int_equal(identity_start(v), MANDATE_EINVAL);
	t1 = sign(f, f->k1, NULL, false, claims(f, ISS, "a", "\"" AUD "\"",
	    NOW + 3600, NULL));
	t2 = sign(f, f->k2, NULL, false, claims(f, ISS, "b", "\"" AUD "\"",
	    NOW + 3600, NULL));
	assert_int_equal(verify(v, f, t1, NOW, &p, &why), MANDATE_OK);

	/* rotate; once the refresh is due the thread picks it up */
	make_jwks(f, buf, sizeof(buf), NULL, NULL, k2, 1);
	set_body(f, f->jwks, sizeof(f->jwks), buf);
	f->clock += 61;
	for (int i = 0; i < 400 && r == MANDATE_OK; i++) {   /* 20 s at most */
		usleep(50000);
		r = verify(v, f, t1, NOW, &p, &why);
	}
	assert_int_equal(r, MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_KID);
	pthread_mutex_lock(&f->mu);
	fetches = f->fetches;
	pthread_mutex_unlock(&f->mu);
	/* k2 is there already: no fetch on the request path */
	assert_int_equal(verify(v, f, t2, NOW, &p, &why), MANDATE_OK);
	pthread_mutex_lock(&f->mu);
	assert_int_equal(f->fetches, fetches);
	pthread_mutex_unlock(&f->mu);
	identity_stop(v);
	identity_stop(v);
	identity_free(v);
	/* free stops a running refresher itself */
	v = make_verifier(f, &ci);
	assert_int_equal(identity_start(v), MANDATE_OK);
	identity_free(v);
}

/* ---- the cache ---- */

static double
secs(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
test_cache(void **state)
{
	struct fx *f = *state;
	struct config_issuer is;
	struct config_identity ci = { 0 };
	struct identity_verifier *v = file_oidc(f, &is, &ci, 2);
	struct identity_cache_stats st;
	struct identity_principal p;
	enum identity_reason why;
	const char *t[3];
	struct arena a;
	double t0, cold, hit;
	const int n_cold = 200, n_hit = 20000;

	for (int i = 0; i < 3; i++) {
		char sub[16];

		snprintf(sub, sizeof(sub), "user%d", i);
		t[i] = sign(f, f->k1, NULL, false, claims(f, ISS, sub,
		    "\"" AUD "\"", NOW + 600, NULL));
	}
	assert_int_equal(verify(v, f, t[0], NOW, &p, &why), MANDATE_OK);
	assert_false(p.from_cache);
	assert_int_equal(verify(v, f, t[0], NOW, &p, &why), MANDATE_OK);
	assert_true(p.from_cache);
	assert_true(str_eq_c(p.subject, "user0"));
	assert_true(identity_cache_forget(v, t[0], strlen(t[0])));
	assert_false(identity_cache_forget(v, t[0], strlen(t[0])));
	assert_int_equal(verify(v, f, t[0], NOW, &p, &why), MANDATE_OK);
	assert_false(p.from_cache);
	/* eviction: capacity 2, three tokens; t[0] is the oldest */
	assert_int_equal(verify(v, f, t[1], NOW, &p, &why), MANDATE_OK);
	assert_int_equal(verify(v, f, t[2], NOW, &p, &why), MANDATE_OK);
	identity_cache_stats(v, &st);
	assert_int_equal(st.entries, 2);
	assert_true(st.evictions >= 1);
	assert_int_equal(verify(v, f, t[2], NOW, &p, &why), MANDATE_OK);
	assert_true(p.from_cache);
	assert_int_equal(verify(v, f, t[0], NOW, &p, &why), MANDATE_OK);
	assert_false(p.from_cache);
	/* a cached token is not valid past its exp */
	assert_int_equal(verify(v, f, t[0], NOW + 660, &p, &why),
	    MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_EXPIRED);

	/* cold verification vs cache hit */
	arena_init(&a, 0);
	t0 = secs();
	for (int i = 0; i < n_cold; i++) {
		identity_cache_forget(v, t[1], strlen(t[1]));
		assert_int_equal(identity_verify_jwt(v, t[1], strlen(t[1]),
		    NOW, &a, &p, &why), MANDATE_OK);
		arena_reset(&a);
	}
	cold = (secs() - t0) / n_cold;
	assert_int_equal(identity_verify_jwt(v, t[1], strlen(t[1]), NOW, &a,
	    &p, &why), MANDATE_OK);
	t0 = secs();
	for (int i = 0; i < n_hit; i++) {
		assert_int_equal(identity_verify_jwt(v, t[1], strlen(t[1]),
		    NOW, &a, &p, &why), MANDATE_OK);
		arena_reset(&a);
	}
	hit = (secs() - t0) / n_hit;
	arena_free(&a);
	/* for information only: timings are a benchmark's business, not a
	 * unit test's (a loaded machine made an assertion here flaky); that
	 * hits come from the cache is checked above (from_cache) */
	printf("identity: cold verify %.1f us, cache hit %.2f us (%.0fx)\n",
	    cold * 1e6, hit * 1e6, cold / hit);
	identity_free(v);
}

/* ---- X.509-SVIDs ---- */

struct cert_opts {
	const char *uri1, *uri2;    /* URI SANs */
	bool is_ca;
	const char *ku;             /* keyUsage text */
	const char *eku;            /* extendedKeyUsage text; NULL: none */
	long days_from, days_to;    /* validity, relative to NOW */
	bool sha1;                  /* signed with SHA-1, not SHA-256 */
};

static EVP_PKEY *
ec_key(void)
{
	EVP_PKEY *k = EVP_EC_gen("P-256");

	assert_non_null(k);
	return k;
}

static void
add_ext(X509 *x, X509 *issuer, int nid, const char *val)
{
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	X509V3_set_ctx_nodb(&ctx);
	X509V3_set_ctx(&ctx, issuer, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, nid, val);
	assert_non_null(ext);
	assert_int_equal(X509_add_ext(x, ext, -1), 1);
	X509_EXTENSION_free(ext);
}

static X509 *
make_cert(EVP_PKEY *key, X509 *issuer, EVP_PKEY *issuer_key,
    const char *cn, const struct cert_opts *o)
{
	X509 *x = X509_new();
	X509_NAME *name = X509_NAME_new();
	static long serial = 1;
	char san[4200];

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial++);
	X509_time_adj_ex(X509_getm_notBefore(x), (int)o->days_from, 0,
	    &(time_t){ NOW });
	X509_time_adj_ex(X509_getm_notAfter(x), (int)o->days_to, 0,
	    &(time_t){ NOW });
	X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_subject_name(x, name);
	X509_set_issuer_name(x, issuer ? X509_get_subject_name(issuer) :
	    name);
	X509_NAME_free(name);
	X509_set_pubkey(x, key);
	add_ext(x, issuer ? issuer : x, NID_basic_constraints, o->is_ca ?
	    "critical,CA:TRUE" : "critical,CA:FALSE");
	if (o->ku != NULL)
		add_ext(x, issuer ? issuer : x, NID_key_usage, o->ku);
	if (o->eku != NULL)
		add_ext(x, issuer ? issuer : x, NID_ext_key_usage, o->eku);
	add_ext(x, issuer ? issuer : x, NID_subject_key_identifier, "hash");
	if (issuer != NULL)
		add_ext(x, issuer, NID_authority_key_identifier,
		    "keyid:always");
	if (o->uri1 != NULL) {
		snprintf(san, sizeof(san), "URI:%s%s%s", o->uri1,
		    o->uri2 ? ",URI:" : "", o->uri2 ? o->uri2 : "");
		add_ext(x, issuer ? issuer : x, NID_subject_alt_name, san);
	}
	assert_true(X509_sign(x, issuer_key ? issuer_key : key,
	    o->sha1 ? EVP_sha1() : EVP_sha256()) > 0);
	return x;
}

static struct identity_der
der_of(struct fx *f, X509 *x)
{
	unsigned char *buf = NULL;
	int n = i2d_X509(x, &buf);
	struct identity_der d;
	unsigned char *copy;

	assert_true(n > 0);
	copy = arena_alloc(&f->a, (size_t)n);
	memcpy(copy, buf, (size_t)n);
	OPENSSL_free(buf);
	d.der = copy;
	d.len = (size_t)n;
	return d;
}

static void
test_x509(void **state)
{
	struct fx *f = *state;
	const struct cert_opts ca_o = { .is_ca = true,
	    .ku = "critical,keyCertSign,cRLSign", .days_from = -1,
	    .days_to = 365 };
	struct cert_opts lo = { .uri1 = "spiffe://example.org/agent/a1",
	    .ku = "critical,digitalSignature", .days_from = -1, .days_to = 1 };
	EVP_PKEY *ca_k = ec_key(), *int_k = ec_key(), *leaf_k = ec_key(),
	    *other_k = ec_key();
	X509 *ca, *inter, *other, *leaf;
	struct config_issuer is[2];
	struct config_identity ci = { .issuers = is, .n_issuers = 2 };
	struct identity_verifier *v;
	struct identity_principal p;
	enum identity_reason why;
	struct identity_der ch[3];
	BIO *bio = BIO_new(BIO_s_mem());
	char *pem;
	long pem_len;
	struct jose_key *jk[] = { f->k1 };
	char bundle[8192];
	struct {
		const char *name;
		struct cert_opts o;
		enum identity_reason why;
	} bad[] = {
		{ "two URI SANs", lo, IDENTITY_R_X509_SAN },
		{ "no URI SAN", lo, IDENTITY_R_X509_SAN },
		{ "leaf is a CA", lo, IDENTITY_R_X509_LEAF },
		{ "keyCertSign", lo, IDENTITY_R_X509_LEAF },
		{ "no digitalSignature", lo, IDENTITY_R_X509_LEAF },
		{ "no keyUsage", lo, IDENTITY_R_X509_LEAF },
		{ "serverAuth only", lo, IDENTITY_R_X509_LEAF },
		{ "emailProtection only", lo, IDENTITY_R_X509_LEAF },
		{ "other trust domain", lo, IDENTITY_R_TRUST_DOMAIN },
		{ "bad SPIFFE ID", lo, IDENTITY_R_SPIFFE_ID },
		{ "no path", lo, IDENTITY_R_SPIFFE_ID },
		{ "expired", lo, IDENTITY_R_X509_CHAIN },
	};

	bad[0].o.uri2 = "spiffe://example.org/agent/a2";
	bad[1].o.uri1 = NULL;
	bad[2].o.is_ca = true;
	bad[3].o.ku = "critical,digitalSignature,keyCertSign";
	bad[4].o.ku = "critical,keyEncipherment";
	bad[5].o.ku = NULL;
	bad[6].o.eku = "serverAuth";
	bad[7].o.eku = "emailProtection";
	bad[8].o.uri1 = "spiffe://unknown.org/agent/a1";
	bad[9].o.uri1 = "spiffe://example.org/a//b";
	bad[10].o.uri1 = "spiffe://example.org";
	bad[11].o.days_from = -10;
	bad[11].o.days_to = -2;

	ca = make_cert(ca_k, NULL, NULL, "ca", &ca_o);
	inter = make_cert(int_k, ca, ca_k, "intermediate", &ca_o);
	other = make_cert(other_k, NULL, NULL, "other ca", &ca_o);
	assert_int_equal(PEM_write_bio_X509(bio, ca), 1);
	pem_len = BIO_get_mem_data(bio, &pem);

	make_jwks(f, bundle, sizeof(bundle), "jwt-svid", NULL, jk, 1);
	is[0] = spiffe_issuer("spire", "example.org");
	is[0].bundle_file = tmp_write(f, bundle, strlen(bundle));
	is[0].x509_ca_file = tmp_write(f, pem, (size_t)pem_len);
	is[1] = spiffe_issuer("other", "other.org");
	is[1].bundle_file = is[0].bundle_file;   /* no CA: no X.509 */
	v = make_verifier(f, &ci);

	leaf = make_cert(leaf_k, ca, ca_k, "leaf", &lo);
	ch[0] = der_of(f, leaf);
	X509_free(leaf);
	assert_int_equal(identity_verify_x509(v, ch, 1, NOW, &f->a, &p, &why),
	    MANDATE_OK);
	assert_int_equal(p.kind, IDENTITY_KIND_SPIFFE);
	assert_true(str_eq_c(p.subject, "spiffe://example.org/agent/a1"));
	assert_true(str_eq_c(p.trust_domain, "example.org"));
	assert_true(str_eq_c(p.issuer_name, "spire"));
	assert_true(p.exp > NOW && p.exp <= NOW + 86400 + 1);
	/* after the leaf's notAfter */
	assert_int_equal(identity_verify_x509(v, ch, 1, NOW + 2 * 86400,
	    &f->a, &p, &why), MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_X509_CHAIN);

	/* an extendedKeyUsage that allows a client (RFC 5280 4.2.1.12) */
	{
		const char *ok_eku[] = { "clientAuth", "serverAuth,clientAuth",
		    "anyExtendedKeyUsage" };
		for (size_t i = 0; i < sizeof(ok_eku) / sizeof(ok_eku[0]);
		    i++) {
			struct cert_opts eo = lo;
			eo.eku = ok_eku[i];
			leaf = make_cert(leaf_k, ca, ca_k, "leaf", &eo);
			ch[0] = der_of(f, leaf);
			X509_free(leaf);
			if (identity_verify_x509(v, ch, 1, NOW, &f->a, &p,
			    &why) != MANDATE_OK)
				fail_msg("%s: why=%s", ok_eku[i],
				    identity_reason_str(why));
		}
	}
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		leaf = make_cert(leaf_k, ca, ca_k, "leaf", &bad[i].o);
		ch[0] = der_of(f, leaf);
		X509_free(leaf);
		if (identity_verify_x509(v, ch, 1, NOW, &f->a, &p, &why) !=
		    MANDATE_EINVAL || why != bad[i].why)
			fail_msg("%s: why=%s", bad[i].name,
			    identity_reason_str(why));
		assert_int_equal(p.subject.n, 0);
	}
	/* weak: an RSA key of 1024 bits, a SHA-1 signature (under 112
	 * bits, NIST SP 800-57) */
	{
		EVP_PKEY *rsa1024 = EVP_RSA_gen(1024);
		struct cert_opts so = lo;

		assert_non_null(rsa1024);
		leaf = make_cert(rsa1024, ca, ca_k, "leaf", &lo);
		ch[0] = der_of(f, leaf);
		X509_free(leaf);
		assert_int_equal(identity_verify_x509(v, ch, 1, NOW, &f->a,
		    &p, &why), MANDATE_EINVAL);
		assert_int_equal(why, IDENTITY_R_X509_CHAIN);
		so.sha1 = true;
		leaf = make_cert(leaf_k, ca, ca_k, "leaf", &so);
		ch[0] = der_of(f, leaf);
		X509_free(leaf);
		assert_int_equal(identity_verify_x509(v, ch, 1, NOW, &f->a,
		    &p, &why), MANDATE_EINVAL);
		assert_int_equal(why, IDENTITY_R_X509_CHAIN);
		EVP_PKEY_free(rsa1024);
	}
	/* signed by an untrusted CA */
	leaf = make_cert(leaf_k, other, other_k, "leaf", &lo);
	ch[0] = der_of(f, leaf);
	X509_free(leaf);
	assert_int_equal(identity_verify_x509(v, ch, 1, NOW, &f->a, &p, &why),
	    MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_X509_CHAIN);
	/* trust domain without a CA */
	lo.uri1 = "spiffe://other.org/a";
	leaf = make_cert(leaf_k, other, other_k, "leaf", &lo);
	ch[0] = der_of(f, leaf);
	X509_free(leaf);
	assert_int_equal(identity_verify_x509(v, ch, 1, NOW, &f->a, &p, &why),
	    MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_X509_CHAIN);
	lo.uri1 = "spiffe://example.org/agent/a1";
	/* through an intermediate: good with it, bad without */
	leaf = make_cert(leaf_k, inter, int_k, "leaf", &lo);
	ch[0] = der_of(f, leaf);
	ch[1] = der_of(f, inter);
	X509_free(leaf);
	assert_int_equal(identity_verify_x509(v, ch, 2, NOW, &f->a, &p, &why),
	    MANDATE_OK);
	assert_int_equal(identity_verify_x509(v, ch, 1, NOW, &f->a, &p, &why),
	    MANDATE_EINVAL);
	/* an intermediate alone in the CA file is a trust anchor too */
	{
		BIO *ib = BIO_new(BIO_s_mem());
		struct config_issuer saved = is[0];
		struct identity_verifier *v2;
		char *ipem;
		long ipem_len;

		assert_int_equal(PEM_write_bio_X509(ib, inter), 1);
		ipem_len = BIO_get_mem_data(ib, &ipem);
		is[0].x509_ca_file = tmp_write(f, ipem, (size_t)ipem_len);
		v2 = make_verifier(f, &ci);
		assert_int_equal(identity_verify_x509(v2, ch, 1, NOW, &f->a,
		    &p, &why), MANDATE_OK);
		/* but not for a leaf of the root */
		leaf = make_cert(leaf_k, ca, ca_k, "leaf", &lo);
		ch[2] = der_of(f, leaf);
		X509_free(leaf);
		assert_int_equal(identity_verify_x509(v2, &ch[2], 1, NOW,
		    &f->a, &p, &why), MANDATE_EINVAL);
		identity_free(v2);
		BIO_free(ib);
		is[0] = saved;
	}
	/* garbage and truncated DER */
	ch[1].len = ch[0].len - 1;
	ch[1].der = ch[0].der;
	assert_int_equal(identity_verify_x509(v, &ch[1], 1, NOW, &f->a, &p,
	    &why), MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_X509_PARSE);
	assert_int_equal(identity_verify_x509(v, ch, 0, NOW, &f->a, &p, &why),
	    MANDATE_EINVAL);
	identity_free(v);

	/* the CA from the bundle's x509-svid key (x5c), no CA file */
	{
		unsigned char *d = NULL;
		int dn = i2d_X509(ca, &d);
		char *b64 = malloc((size_t)dn * 2 + 8), jwk_x5c[8192];
		struct str ecj;

		EVP_EncodeBlock((unsigned char *)b64, d, dn);
		OPENSSL_free(d);
		assert_int_equal(jose_key_public_jwk(f->k2, &f->a, &ecj), 0);
		snprintf(jwk_x5c, sizeof(jwk_x5c), "{\"keys\":[{\"use\":"
		    "\"x509-svid\",\"x5c\":[\"%s\"],%.*s]}", b64,
		    (int)ecj.n - 1, ecj.p + 1);
		free(b64);
		is[0].bundle_file = tmp_write(f, jwk_x5c, strlen(jwk_x5c));
		is[0].x509_ca_file = NULL;
		ci.n_issuers = 1;
		v = make_verifier(f, &ci);
		leaf = make_cert(leaf_k, ca, ca_k, "leaf", &lo);
		ch[0] = der_of(f, leaf);
		X509_free(leaf);
		assert_int_equal(identity_verify_x509(v, ch, 1, NOW, &f->a,
		    &p, &why), MANDATE_OK);
		identity_free(v);
	}
	BIO_free(bio);
	X509_free(ca);
	X509_free(inter);
	X509_free(other);
	EVP_PKEY_free(ca_k);
	EVP_PKEY_free(int_k);
	EVP_PKEY_free(leaf_k);
	EVP_PKEY_free(other_k);
}

/* ---- concurrency: many threads, one verifier ---- */

struct thr {
	struct identity_verifier *v;
	const char *tok;
	int ok;
};

static void *
thr_main(void *arg)
{
	struct thr *t = arg;
	struct identity_principal p;
	struct arena a;

	arena_init(&a, 0);
	for (int i = 0; i < 300; i++) {
		if (identity_verify_jwt(t->v, t->tok, strlen(t->tok), NOW, &a,
		    &p, NULL) == MANDATE_OK)
			t->ok++;
		if (i % 50 == 0)
			identity_cache_forget(t->v, t->tok, strlen(t->tok));
		arena_reset(&a);
	}
	arena_free(&a);
	return NULL;
}

static void
test_threads(void **state)
{
	struct fx *f = *state;
	struct config_issuer is;
	struct config_identity ci = { 0 };
	struct identity_verifier *v = file_oidc(f, &is, &ci, 3);
	pthread_t th[4];
	struct thr t[4];

	for (int i = 0; i < 4; i++) {
		char sub[16];

		snprintf(sub, sizeof(sub), "u%d", i);
		t[i].v = v;
		t[i].ok = 0;
		t[i].tok = sign(f, i % 2 ? f->k1 : f->k2, NULL, false,
		    claims(f, ISS, sub, "\"" AUD "\"", NOW + 600, NULL));
	}
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, thr_main, &t[i]),
		    0);
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(t[i].ok, 300);
	}
	identity_free(v);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_spiffe_id),
		cmocka_unit_test_setup_teardown(test_oidc_file_good, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_oidc_attacks, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_subject_prefix, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_bad_sources, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_file_rotation_and_limits,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_spiffe_file, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_http_discovery_rotation_outage, setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_http_discovery_issuer_mismatch, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_spiffe_bundle, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_background_refresher,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_cache, setup, teardown),
		cmocka_unit_test_setup_teardown(test_x509, setup, teardown),
		cmocka_unit_test_setup_teardown(test_http_clock_set_back,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_threads, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

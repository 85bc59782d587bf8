/*
 * jose_test.c - base64url, JWK/JWKS parsing, JWS sign/verify round trips
 * for every algorithm, tampering and algorithm confusion, JWT claim
 * checks at their boundaries, and the RFC 7638/8037 known answers.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include <pthread.h>

#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/pem.h>
#include <openssl/rsa.h>

#include "jose/jose_int.h"
#include "util/status.h"

#define RFC7638_N \
    "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAt" \
    "VT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4" \
    "Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZ" \
    "gnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0" \
    "fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw"
#define RFC7638_JWK "{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AQAB\"," \
    "\"alg\":\"RS256\",\"kid\":\"2011-04-29\"}"

/* RFC 8037 appendix A */
#define ED_X "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo"
#define ED_D "nWGxne_9WmC6hEr0kuwsxERJxWl7MmkZcDusAxyuf2A"
#define ED_PUB "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" ED_X "\"}"
#define ED_PRIV "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"" ED_D \
    "\",\"x\":\"" ED_X "\"}"

/* RFC 7515 A.3 P-256 key */
#define EC_X "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU"
#define EC_Y "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"
#define EC_D "jpsQnnGQmL-YBIffH1136cspYG6-0iY7X1fCE9-E9LI"
#define EC_PUB "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" EC_X \
    "\",\"y\":\"" EC_Y "\"}"

static struct jose_key *
jwk(const char *text, unsigned flags)
{
	struct jose_key *k = NULL;
	enum jose_reason why;
	int r = jose_key_from_jwk(text, strlen(text), flags, &k, &why);

	if (r != MANDATE_OK)
		fprintf(stderr, "jwk failed: %s\n", jose_reason_str(why));
	assert_int_equal(r, MANDATE_OK);
	return k;
}

/* Sign header.payload with any private key through OpenSSL directly, so
 * that tests can build tokens our signer would never produce. */
static char *
tsign(struct arena *a, const struct jose_key *k, enum jose_alg alg,
    const char *hdr, const char *payload)
{
	struct str h64, p64, s64;
	char *input, *tok;
	uint8_t sig[1024], p1363[132];
	size_t sig_len = sizeof(sig), n;
	EVP_MD_CTX *m = EVP_MD_CTX_new();
	EVP_PKEY_CTX *pc = NULL;
	const char *md = NULL;

	assert_int_equal(jose_b64url_encode_a(a, hdr, strlen(hdr), &h64), 0);
	assert_int_equal(jose_b64url_encode_a(a, payload, strlen(payload),
	    &p64), 0);
	n = h64.n + 1 + p64.n;
	input = arena_alloc(a, n + 1);
	snprintf(input, n + 1, "%s.%s", h64.p, p64.p);
	switch (alg) {
	case JOSE_ALG_ES256: case JOSE_ALG_RS256: case JOSE_ALG_PS256:
		md = "SHA256"; break;
	case JOSE_ALG_ES384: case JOSE_ALG_RS384: case JOSE_ALG_PS384:
		md = "SHA384"; break;
	case JOSE_ALG_ES512: case JOSE_ALG_RS512: case JOSE_ALG_PS512:
		md = "SHA512"; break;
	default: break;
	}
	assert_int_equal(EVP_DigestSignInit_ex(m, &pc, md, NULL, NULL,
	    k->pkey, NULL), 1);
	if (alg >= JOSE_ALG_PS256 && alg <= JOSE_ALG_PS512) {
		EVP_PKEY_CTX_set_rsa_padding(pc, RSA_PKCS1_PSS_PADDING);
		EVP_PKEY_CTX_set_rsa_pss_saltlen(pc, RSA_PSS_SALTLEN_DIGEST);
	}
	assert_int_equal(EVP_DigestSign(m, sig, &sig_len,
	    (const uint8_t *)input, n), 1);
	EVP_MD_CTX_free(m);
	if (alg >= JOSE_ALG_ES256 && alg <= JOSE_ALG_ES512) {
		const unsigned char *p = sig;
		ECDSA_SIG *es = d2i_ECDSA_SIG(NULL, &p, (long)sig_len);
		size_t fl = jose_crv_len(k->crv);

		assert_non_null(es);
		BN_bn2binpad(ECDSA_SIG_get0_r(es), p1363, (int)fl);
		BN_bn2binpad(ECDSA_SIG_get0_s(es), p1363 + fl, (int)fl);
		ECDSA_SIG_free(es);
		memcpy(sig, p1363, 2 * fl);
		sig_len = 2 * fl;
	}
	assert_int_equal(jose_b64url_encode_a(a, sig, sig_len, &s64), 0);
	tok = arena_alloc(a, n + 2 + s64.n);
	snprintf(tok, n + 2 + s64.n, "%s.%s", input, s64.p);
	return tok;
}

static int
verify_tok(struct arena *a, const char *tok, const struct jose_key *k,
    unsigned allowed, enum jose_reason *why)
{
	struct jose_jws jws;
	int r = jose_jws_parse(a, tok, strlen(tok), 0, &jws, why);

	if (r != MANDATE_OK)
		return r;
	return jose_jws_verify(&jws, k, allowed, why);
}

/* ------------------------------------------------------------------ */

static void
test_b64url(void **state)
{
	static const struct { const char *raw, *enc; } good[] = {
		{ "", "" }, { "f", "Zg" }, { "fo", "Zm8" }, { "foo", "Zm9v" },
		{ "foob", "Zm9vYg" }, { "fooba", "Zm9vYmE" },
		{ "foobar", "Zm9vYmFy" }, { "\xfb\xff", "-_8" },
	};
	static const char *const bad[] = {
		"Zg==", "Zg=", "Z", "Zm9vY", "Zh", "Zm9", "Zm+v", "Zm/v",
		"Zm9v\n", " Zg", "Zg ", "Z\x00g", "Zm9vYb", "-_9",
	};
	char buf[64];
	uint8_t out[64];
	size_t n;

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
		size_t rl = strlen(good[i].raw);

		assert_int_equal(jose_b64url_len(rl), strlen(good[i].enc));
		assert_int_equal(jose_b64url_encode(good[i].raw, rl, buf,
		    sizeof(buf)), strlen(good[i].enc));
		assert_string_equal(buf, good[i].enc);
		assert_int_equal(jose_b64url_decode(good[i].enc,
		    strlen(good[i].enc), out, sizeof(out), &n), MANDATE_OK);
		assert_int_equal(n, rl);
		assert_memory_equal(out, good[i].raw, rl);
	}
	/* "Zm8" is valid but "Zm9" has a non-zero trailing bit */
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		size_t bl = strlen(bad[i]);

		if (i == 11)
			bl = 3;   /* with the embedded NUL */
		assert_int_not_equal(jose_b64url_decode(bad[i], bl, out,
		    sizeof(out), &n), MANDATE_OK);
	}
	/* output too small */
	assert_int_equal(jose_b64url_decode("Zm9vYmFy", 8, out, 5, &n),
	    MANDATE_ELIMIT);
	assert_int_equal(jose_b64url_encode("foo", 3, buf, 4), (size_t)-1);
}

static void
test_thumbprints(void **state)
{
	char tp[JOSE_THUMBPRINT_LEN + 1];
	struct jose_key *k;

	(void)state;
	k = jwk(RFC7638_JWK, 0);
	assert_int_equal(jose_key_kty(k), JOSE_KTY_RSA);
	assert_int_equal(jose_key_alg(k), JOSE_ALG_RS256);
	assert_true(jose_key_algs(k) == JOSE_ALG_BIT(JOSE_ALG_RS256));
	assert_true(str_eq_c(jose_key_kid(k), "2011-04-29"));
	assert_int_equal(jose_key_thumbprint(k, tp), MANDATE_OK);
	assert_string_equal(tp, "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
	jose_key_unref(k);

	/* FIPS 180-2 "abc" */
	assert_int_equal(jose_sha256_b64url("abc", 3, tp), MANDATE_OK);
	assert_string_equal(tp, "ungWv48Bz-pBQUDeXa4iI7ADYaOWF3qctBD_YfIAFa0");

	k = jwk(ED_PUB, 0);
	assert_int_equal(jose_key_thumbprint(k, tp), MANDATE_OK);
	assert_string_equal(tp, "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k");
	jose_key_unref(k);
}

static void
test_jwk_good_and_export(void **state)
{
	struct arena a;
	struct str out;
	struct jose_key *k, *k2;
	char tp1[JOSE_THUMBPRINT_LEN + 1], tp2[JOSE_THUMBPRINT_LEN + 1];

	(void)state;
	arena_init(&a, 0);
	k = jwk("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" EC_X "\",\"y\":\""
	    EC_Y "\",\"kid\":\"k\\\"1\",\"use\":\"sig\",\"alg\":\"ES256\"}", 0);
	assert_false(jose_key_has_private(k));
	assert_int_equal(jose_key_public_jwk(k, &a, &out), MANDATE_OK);
	assert_string_equal(out.p, "{\"crv\":\"P-256\",\"kty\":\"EC\",\"x\":\""
	    EC_X "\",\"y\":\"" EC_Y "\",\"kid\":\"k\\\"1\",\"alg\":\"ES256\"}");
	k2 = jwk(out.p, 0);
	assert_true(str_eq(jose_key_kid(k2), jose_key_kid(k)));
	jose_key_thumbprint(k, tp1);
	jose_key_thumbprint(k2, tp2);
	assert_string_equal(tp1, tp2);
	jose_key_unref(k2);
	assert_ptr_equal(jose_key_ref(k), k);
	jose_key_unref(k);
	jose_key_unref(k);

	k = jwk("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" EC_X "\",\"y\":\""
	    EC_Y "\",\"d\":\"" EC_D "\"}", JOSE_JWK_PRIVATE);
	assert_true(jose_key_has_private(k));
	jose_key_thumbprint(k, tp1);
	jose_key_unref(k);
	/* "d" written with a JSON escape: unescaped into the parser's arena,
	 * used, then wiped before the arena is freed; the key is the same */
	k = jwk("{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" EC_X "\",\"y\":\""
	    EC_Y "\",\"d\":\"\\u006apsQnnGQmL-YBIffH1136cspYG6-"
	    "0iY7X1fCE9-E9LI\"}",
	    JOSE_JWK_PRIVATE);
	assert_true(jose_key_has_private(k));
	jose_key_thumbprint(k, tp2);
	assert_string_equal(tp1, tp2);
	jose_key_unref(k);
	k = jwk(ED_PRIV, JOSE_JWK_PRIVATE);
	assert_true(jose_key_has_private(k));
	jose_key_unref(k);
	/* the private flag with a public JWK gives a public key */
	k = jwk(ED_PUB, JOSE_JWK_PRIVATE);
	assert_false(jose_key_has_private(k));
	jose_key_unref(k);
	arena_free(&a);
}

static void
test_jwk_bad(void **state)
{
	static const struct { const char *text; unsigned flags;
	    enum jose_reason why; } cases[] = {
		{ "", 0, JOSE_R_KEY_JSON },
		{ "[]", 0, JOSE_R_KEY_JSON },
		{ "{\"kty\":\"EC\",\"kty\":\"EC\"}", 0, JOSE_R_KEY_JSON },
		{ "{}", 0, JOSE_R_KEY_PARAM },
		{ "{\"kty\":1}", 0, JOSE_R_KEY_PARAM },
		{ "{\"kty\":\"oct\",\"k\":\"AAAA\"}", JOSE_JWK_PRIVATE,
		    JOSE_R_KEY_TYPE },
		{ "{\"kty\":\"oct\",\"k\":\"AAAA\"}", 0, JOSE_R_KEY_PRIVATE },
		{ "{\"kty\":\"EC\",\"crv\":\"P-192\",\"x\":\"AA\",\"y\":\"AA\"}",
		    0, JOSE_R_KEY_TYPE },
		{ "{\"kty\":\"EC\",\"crv\":\"secp256k1\",\"x\":\"" EC_X
		    "\",\"y\":\"" EC_Y "\"}", 0, JOSE_R_KEY_TYPE },
		{ "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" EC_X "\"}", 0,
		    JOSE_R_KEY_PARAM },
		{ "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"AAAA\",\"y\":\""
		    EC_Y "\"}", 0, JOSE_R_KEY_PARAM },
		{ "{\"kty\":\"EC\",\"crv\":\"P-384\",\"x\":\"" EC_X "\",\"y\":\""
		    EC_Y "\"}", 0, JOSE_R_KEY_PARAM },
		/* y changed: not on the curve */
		{ "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" EC_X "\",\"y\":\""
		    "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a4\"}", 0,
		    JOSE_R_KEY_INVALID },
		{ "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" EC_X "=\",\"y\":\""
		    EC_Y "\"}", 0, JOSE_R_KEY_PARAM },
		{ "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" EC_X "\",\"y\":\""
		    EC_Y "\",\"d\":\"" EC_D "\"}", 0, JOSE_R_KEY_PRIVATE },
		/* d of another key */
		{ "{\"kty\":\"EC\",\"crv\":\"P-256\",\"x\":\"" EC_X "\",\"y\":\""
		    EC_Y "\",\"d\":\"" ED_D "\"}", JOSE_JWK_PRIVATE,
		    JOSE_R_KEY_INVALID },
		{ "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"d\":\"" EC_D
		    "\",\"x\":\"" ED_X "\"}", JOSE_JWK_PRIVATE,
		    JOSE_R_KEY_INVALID },
		{ "{\"kty\":\"OKP\",\"crv\":\"X25519\",\"x\":\"" ED_X "\"}", 0,
		    JOSE_R_KEY_TYPE },
		{ "{\"kty\":\"OKP\",\"crv\":\"Ed448\",\"x\":\"" ED_X "\"}", 0,
		    JOSE_R_KEY_TYPE },
		{ "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"AAAA\"}", 0,
		    JOSE_R_KEY_PARAM },
		{ "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\"}", 0,
		    JOSE_R_KEY_WEAK },
		{ "{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AQ\"}", 0,
		    JOSE_R_KEY_WEAK },
		{ "{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AAE\"}", 0,
		    JOSE_R_KEY_WEAK },
		{ "{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\"}", 0,
		    JOSE_R_KEY_PARAM },
		{ "{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AQAB\","
		    "\"d\":\"AQAB\"}", JOSE_JWK_PRIVATE, JOSE_R_KEY_PRIVATE },
		{ "{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AQAB\","
		    "\"alg\":\"ES256\"}", 0, JOSE_R_ALG_KEY_MISMATCH },
		{ "{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AQAB\","
		    "\"alg\":\"HS256\"}", 0, JOSE_R_KEY_TYPE },
		{ "{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AQAB\","
		    "\"use\":\"enc\"}", 0, JOSE_R_KEY_TYPE },
		{ "{\"kty\":\"RSA\",\"n\":\"" RFC7638_N "\",\"e\":\"AQAB\","
		    "\"kid\":7}", 0, JOSE_R_KEY_PARAM },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jose_key *k = (struct jose_key *)1;
		enum jose_reason why = JOSE_R_OK;
		int r = jose_key_from_jwk(cases[i].text, strlen(cases[i].text),
		    cases[i].flags, &k, &why);

		if (r == MANDATE_OK || why != cases[i].why)
			fprintf(stderr, "case %zu: r=%d why=%s\n", i, r,
			    jose_reason_str(why));
		assert_int_not_equal(r, MANDATE_OK);
		assert_null(k);
		assert_int_equal(why, cases[i].why);
	}
}

static void
test_sign_verify_es256_eddsa(void **state)
{
	struct arena a;
	struct jose_key *k, *pub, *ed, *edpub;
	struct jose_sign_opts o = { .typ = STR_LIT("at+jwt") };
	struct jose_jws jws;
	struct str tok, jwktext;
	enum jose_reason why;

	(void)state;
	arena_init(&a, 0);
	assert_int_equal(jose_key_generate_es256(STR_LIT("key-1"), &k), 0);
	assert_int_equal(jose_key_public_jwk(k, &a, &jwktext), 0);
	pub = jwk(jwktext.p, 0);
	assert_int_equal(jose_jws_sign(&a, k, JOSE_ALG_ES256, &o,
	    STR_LIT("{\"sub\":\"x\"}"), &tok), MANDATE_OK);
	assert_int_equal(jose_jws_parse(&a, tok.p, tok.n, 0, &jws, &why), 0);
	assert_int_equal(jws.alg, JOSE_ALG_ES256);
	assert_true(str_eq_c(jws.kid, "key-1"));
	assert_true(str_eq_c(jws.typ, "at+jwt"));
	assert_true(str_eq_c(jws.payload, "{\"sub\":\"x\"}"));
	assert_int_equal(jws.sig.n, 64);
	assert_int_equal(jose_jws_verify(&jws, pub, JOSE_ALGS_ALL, &why), 0);
	assert_int_equal(jose_jws_verify(&jws, k, JOSE_ALGS_ALL, &why), 0);
	/* allow-list without ES256 */
	assert_int_equal(jose_jws_verify(&jws, pub,
	    JOSE_ALG_BIT(JOSE_ALG_ES384), &why), MANDATE_EINVAL);
	assert_int_equal(why, JOSE_R_ALG_NOT_ALLOWED);
	/* cannot sign with a public key, nor RS256, nor ES384 on P-256 */
	assert_int_not_equal(jose_jws_sign(&a, pub, JOSE_ALG_ES256, &o,
	    STR_LIT("{}"), &tok), MANDATE_OK);
	assert_int_not_equal(jose_jws_sign(&a, k, JOSE_ALG_ES384, &o,
	    STR_LIT("{}"), &tok), MANDATE_OK);
	o.typ = STR_LIT("bad\"typ");
	assert_int_not_equal(jose_jws_sign(&a, k, JOSE_ALG_ES256, &o,
	    STR_LIT("{}"), &tok), MANDATE_OK);

	/* EdDSA: RFC 8037 A.4 known answer, then a round trip */
	ed = jwk(ED_PRIV, JOSE_JWK_PRIVATE);
	edpub = jwk(ED_PUB, 0);
	assert_int_equal(jose_jws_sign(&a, ed, JOSE_ALG_EDDSA, NULL,
	    STR_LIT("Example of Ed25519 signing"), &tok), MANDATE_OK);
	assert_string_equal(tok.p, "eyJhbGciOiJFZERTQSJ9.RXhhbXBsZSBvZiBFZDI1"
	    "NTE5IHNpZ25pbmc.hgyY0il_MGCjP0JzlnLWG1PPOt7-09PGcvMg3AIbQR6dWbhij"
	    "cNR4ki4iylGjg5BhVsPt9g7sVvpAr_MuM0KAg");
	assert_int_equal(verify_tok(&a, tok.p, edpub, JOSE_ALGS_ALL, &why), 0);
	assert_int_equal(verify_tok(&a, tok.p, pub, JOSE_ALGS_ALL, &why),
	    MANDATE_EINVAL);
	assert_int_equal(why, JOSE_R_ALG_KEY_MISMATCH);
	jose_key_unref(ed);
	jose_key_unref(edpub);
	jose_key_unref(k);
	jose_key_unref(pub);
	arena_free(&a);
}

static void
test_pem_round_trip(void **state)
{
	struct arena a;
	struct jose_key *k, *k2;
	char *pem = NULL;
	size_t pem_len = 0;
	char tp1[JOSE_THUMBPRINT_LEN + 1], tp2[JOSE_THUMBPRINT_LEN + 1];
	struct str tok;
	enum jose_reason why;

	(void)state;
	arena_init(&a, 0);
	assert_int_equal(jose_key_generate_es256(STR_NULL, &k), 0);
	assert_int_equal(jose_key_to_pem(k, &pem, &pem_len), MANDATE_OK);
	assert_non_null(strstr(pem, "-----BEGIN PRIVATE KEY-----"));
	assert_int_equal(jose_key_from_pem(pem, pem_len, STR_LIT("re"), &k2,
	    &why), MANDATE_OK);
	jose_secret_free(pem, pem_len);
	jose_key_thumbprint(k, tp1);
	jose_key_thumbprint(k2, tp2);
	assert_string_equal(tp1, tp2);
	assert_true(str_eq_c(jose_key_kid(k2), "re"));
	assert_int_equal(jose_jws_sign(&a, k2, JOSE_ALG_ES256, NULL,
	    STR_LIT("{}"), &tok), 0);
	assert_int_equal(verify_tok(&a, tok.p, k, JOSE_ALGS_EC, &why), 0);
	jose_key_unref(k2);
	/* a public key has no PEM private form; junk is refused */
	assert_int_equal(jose_key_from_pem("junk", 4, STR_NULL, &k2, &why),
	    MANDATE_EINVAL);
	assert_null(k2);
	assert_int_equal(why, JOSE_R_PEM);
	jose_key_unref(k);
	arena_free(&a);
}

static struct jose_key *
gen_pem_key(const char *type, const char *param)
{
	EVP_PKEY *p;
	BIO *bio = BIO_new(BIO_s_mem());
	char *data;
	long n;
	struct jose_key *k = NULL;
	enum jose_reason why;

	if (strcmp(type, "RSA") == 0)
		p = EVP_PKEY_Q_keygen(NULL, NULL, "RSA", (size_t)2048);
	else
		p = EVP_PKEY_Q_keygen(NULL, NULL, type, param);
	assert_non_null(p);
	assert_int_equal(PEM_write_bio_PKCS8PrivateKey(bio, p, NULL, NULL, 0,
	    NULL, NULL), 1);
	n = BIO_get_mem_data(bio, &data);
	assert_int_equal(jose_key_from_pem(data, (size_t)n, STR_LIT("g"), &k,
	    &why), MANDATE_OK);
	BIO_free(bio);
	EVP_PKEY_free(p);
	return k;
}

static void
test_all_algorithms(void **state)
{
	struct arena a;
	struct jose_key *rsa, *p384, *p521, *p256, *pub;
	struct str text;
	enum jose_reason why;
	static const enum jose_alg rsa_algs[] = { JOSE_ALG_RS256,
	    JOSE_ALG_RS384, JOSE_ALG_RS512, JOSE_ALG_PS256, JOSE_ALG_PS384,
	    JOSE_ALG_PS512 };

	(void)state;
	arena_init(&a, 0);
	rsa = gen_pem_key("RSA", NULL);
	p384 = gen_pem_key("EC", "P-384");
	p521 = gen_pem_key("EC", "P-521");
	p256 = gen_pem_key("EC", "P-256");

	assert_int_equal(jose_key_public_jwk(rsa, &a, &text), 0);
	pub = jwk(text.p, 0);
	for (size_t i = 0; i < 6; i++) {
		char hdr[64];
		char *tok;

		snprintf(hdr, sizeof(hdr), "{\"alg\":\"%s\"}",
		    jose_alg_name(rsa_algs[i]));
		tok = tsign(&a, rsa, rsa_algs[i], hdr, "{\"n\":1}");
		assert_int_equal(verify_tok(&a, tok, pub, JOSE_ALGS_ALL,
		    &why), MANDATE_OK);
		/* the same signature under the sibling padding fails */
		snprintf(hdr, sizeof(hdr), "%s", jose_alg_name(rsa_algs[
		    (i + 3) % 6]));
		{
			struct jose_jws jws;

			assert_int_equal(jose_jws_parse(&a, tok, strlen(tok),
			    0, &jws, &why), 0);
			jws.alg = rsa_algs[(i + 3) % 6];
			assert_int_equal(jose_jws_verify(&jws, pub,
			    JOSE_ALGS_ALL, &why), MANDATE_EINVAL);
			assert_int_equal(why, JOSE_R_SIG_INVALID);
		}
		/* RSA token against an EC key */
		assert_int_equal(verify_tok(&a, tok, p256, JOSE_ALGS_ALL,
		    &why), MANDATE_EINVAL);
		assert_int_equal(why, JOSE_R_ALG_KEY_MISMATCH);
	}
	jose_key_unref(pub);

	{
		char *t384 = tsign(&a, p384, JOSE_ALG_ES384,
		    "{\"alg\":\"ES384\"}", "{}");
		char *t512 = tsign(&a, p521, JOSE_ALG_ES512,
		    "{\"alg\":\"ES512\"}", "{}");
		char *t256 = tsign(&a, p256, JOSE_ALG_ES256,
		    "{\"alg\":\"ES256\"}", "{}");

		assert_int_equal(verify_tok(&a, t384, p384, JOSE_ALGS_ALL,
		    &why), 0);
		assert_int_equal(verify_tok(&a, t512, p521, JOSE_ALGS_ALL,
		    &why), 0);
		assert_int_equal(verify_tok(&a, t256, p256, JOSE_ALGS_ALL,
		    &why), 0);
		/* curve must match alg */
		assert_int_equal(verify_tok(&a, t384, p256, JOSE_ALGS_ALL,
		    &why), MANDATE_EINVAL);
		assert_int_equal(why, JOSE_R_ALG_KEY_MISMATCH);
		assert_int_equal(verify_tok(&a, t256, p384, JOSE_ALGS_ALL,
		    &why), MANDATE_EINVAL);
		assert_int_equal(why, JOSE_R_ALG_KEY_MISMATCH);
	}
	jose_key_unref(rsa);
	jose_key_unref(p384);
	jose_key_unref(p521);
	jose_key_unref(p256);
	arena_free(&a);
}

/* Replace the signature of tok by the b64url of sig. */
static char *
with_sig(struct arena *a, const char *tok, const void *sig, size_t n)
{
	const char *dot = strrchr(tok, '.');
	struct str s64;
	size_t pre = (size_t)(dot - tok) + 1;
	char *out;

	jose_b64url_encode_a(a, sig, n, &s64);
	out = arena_alloc(a, pre + s64.n + 1);
	memcpy(out, tok, pre);
	memcpy(out + pre, s64.p, s64.n + 1);
	return out;
}

static void
test_tamper_and_confusion(void **state)
{
	struct arena a;
	struct jose_key *k, *rsa;
	struct str tok, pubjwk;
	struct jose_jws jws;
	enum jose_reason why;
	char *t;
	uint8_t mac[64];
	unsigned int mac_len = 0;

	(void)state;
	arena_init(&a, 0);
	assert_int_equal(jose_key_generate_es256(STR_LIT("k"), &k), 0);
	rsa = jwk(RFC7638_JWK, 0);
	assert_int_equal(jose_jws_sign(&a, k, JOSE_ALG_ES256, NULL,
	    STR_LIT("{\"sub\":\"alice\",\"n\":12345}"), &tok), 0);
	assert_int_equal(verify_tok(&a, tok.p, k, JOSE_ALGS_ALL, &why), 0);
	/* flip one character in each part */
	for (size_t i = 0; i < tok.n; i++) {
		char *c;

		if (tok.p[i] == '.')
			continue;
		if (i % 7 != 0 && i != tok.n - 1)
			continue;   /* a sample of positions keeps it fast */
		c = arena_alloc(&a, tok.n + 1);
		memcpy(c, tok.p, tok.n + 1);
		c[i] = c[i] == 'A' ? 'B' : 'A';
		assert_int_not_equal(verify_tok(&a, c, k, JOSE_ALGS_ALL,
		    &why), MANDATE_OK);
	}
	/* signature length checks: truncated, DER instead of P1363 */
	assert_int_equal(jose_jws_parse(&a, tok.p, tok.n, 0, &jws, &why), 0);
	t = with_sig(&a, tok.p, jws.sig.p, 63);
	assert_int_equal(verify_tok(&a, t, k, JOSE_ALGS_ALL, &why),
	    MANDATE_EINVAL);
	assert_int_equal(why, JOSE_R_SIG_LENGTH);
	{
		uint8_t long_sig[65] = { 0 };

		memcpy(long_sig + 1, jws.sig.p, 64);
		t = with_sig(&a, tok.p, long_sig, 65);
		assert_int_equal(verify_tok(&a, t, k, JOSE_ALGS_ALL, &why),
		    MANDATE_EINVAL);
		assert_int_equal(why, JOSE_R_SIG_LENGTH);
	}
	/* none and HS256 (with the public key as the secret) */
	t = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.";
	assert_int_equal(verify_tok(&a, t, k, JOSE_ALGS_ALL, &why),
	    MANDATE_EINVAL);
	assert_int_equal(why, JOSE_R_MALFORMED);
	t = "eyJhbGciOiJub25lIn0.eyJzdWIiOiJhbGljZSJ9.AAAA";
	assert_int_equal(verify_tok(&a, t, k, JOSE_ALGS_ALL, &why),
	    MANDATE_EINVAL);
	assert_int_equal(why, JOSE_R_HEADER_ALG);
	jose_key_public_jwk(k, &a, &pubjwk);
	{
		struct str h64, p64;
		char input[256];

		jose_b64url_encode_a(&a, "{\"alg\":\"HS256\"}", 15, &h64);
		jose_b64url_encode_a(&a, "{\"sub\":\"alice\"}", 15, &p64);
		snprintf(input, sizeof(input), "%s.%s", h64.p, p64.p);
		HMAC(EVP_sha256(), pubjwk.p, (int)pubjwk.n,
		    (const uint8_t *)input, strlen(input), mac, &mac_len);
		t = with_sig(&a, arena_cstrdup(&a, "x.y.z") ? input : input,
		    mac, 0);
		(void)t;
		{
			char full[400];
			struct str s64;

			jose_b64url_encode_a(&a, mac, mac_len, &s64);
			snprintf(full, sizeof(full), "%s.%s", input, s64.p);
			assert_int_equal(verify_tok(&a, full, k,
			    JOSE_ALGS_ALL, &why), MANDATE_EINVAL);
			assert_int_equal(why, JOSE_R_HEADER_ALG);
			assert_int_equal(verify_tok(&a, full, rsa,
			    JOSE_ALGS_ALL, &why), MANDATE_EINVAL);
			assert_int_equal(why, JOSE_R_HEADER_ALG);
		}
	}
	/* ES256 token presented to an RSA key, and ES256 alg in a header
	 * whose key is RSA with alg RS256 */
	assert_int_equal(verify_tok(&a, tok.p, rsa, JOSE_ALGS_ALL, &why),
	    MANDATE_EINVAL);
	assert_int_equal(why, JOSE_R_ALG_KEY_MISMATCH);
	assert_int_equal(verify_tok(&a, tok.p, k, 0, &why), MANDATE_EINVAL);
	assert_int_equal(why, JOSE_R_ALG_NOT_ALLOWED);
	jose_key_unref(k);
	jose_key_unref(rsa);
	arena_free(&a);
}

static void
test_header_rules(void **state)
{
	static const struct { const char *hdr; enum jose_reason why; } cases[] = {
		{ "{\"alg\":\"ES256\",\"crit\":[\"exp\"],\"exp\":1}", JOSE_R_CRIT },
		{ "{\"alg\":\"ES256\",\"crit\":[]}", JOSE_R_CRIT },
		{ "{\"alg\":\"ES256\",\"b64\":false,\"crit\":[\"b64\"]}",
		    JOSE_R_CRIT },
		{ "{\"alg\":\"ES256\",\"b64\":false}", JOSE_R_B64_FALSE },
		{ "{\"alg\":\"ES256\",\"alg\":\"ES256\"}", JOSE_R_HEADER_JSON },
		{ "[\"alg\"]", JOSE_R_HEADER_JSON },
		{ "{\"alg\":\"ES256\"", JOSE_R_HEADER_JSON },
		{ "{\"typ\":\"JWT\"}", JOSE_R_HEADER_ALG },
		{ "{\"alg\":\"es256\"}", JOSE_R_HEADER_ALG },
		{ "{\"alg\":\"HS256\"}", JOSE_R_HEADER_ALG },
		{ "{\"alg\":\"none\"}", JOSE_R_HEADER_ALG },
		{ "{\"alg\":[\"ES256\"]}", JOSE_R_HEADER_ALG },
		{ "{\"alg\":\"ES256\",\"kid\":1}", JOSE_R_HEADER_FIELD },
		{ "{\"alg\":\"ES256\",\"typ\":null}", JOSE_R_HEADER_FIELD },
		{ "{\"alg\":\"ES256\",\"jwk\":\"x\"}", JOSE_R_HEADER_FIELD },
		{ "{\"alg\":\"ES256\",\"jku\":\"https://evil/\"}", JOSE_R_OK },
		{ "{\"alg\":\"ES256\",\"x5u\":\"https://evil/\"}", JOSE_R_OK },
		{ "{\"alg\":\"ES256\",\"b64\":true}", JOSE_R_OK },
	};
	static const char *const shapes[] = {
		"", "a", "a.b", "a.b.c.d", ".b.c", "a.b.", "e30.e30.e30.",
		"e30..e30.", "e30 .e30.e30", "e30.e30.e30=",
	};
	struct arena a;
	struct jose_key *k;
	struct jose_jws jws;
	enum jose_reason why;
	char big[JOSE_JWS_MAX_LEN + 10];

	(void)state;
	arena_init(&a, 0);
	assert_int_equal(jose_key_generate_es256(STR_NULL, &k), 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *tok = tsign(&a, k, JOSE_ALG_ES256, cases[i].hdr, "{}");
		int r = verify_tok(&a, tok, k, JOSE_ALGS_ALL, &why);

		if (why != cases[i].why)
			fprintf(stderr, "header case %zu: %s\n", i,
			    jose_reason_str(why));
		assert_int_equal(why, cases[i].why);
		assert_int_equal(r == MANDATE_OK, cases[i].why == JOSE_R_OK);
	}
	for (size_t i = 0; i < sizeof(shapes) / sizeof(shapes[0]); i++) {
		assert_int_not_equal(jose_jws_parse(&a, shapes[i],
		    strlen(shapes[i]), 0, &jws, &why), MANDATE_OK);
		assert_null(jws.header);
	}
	memset(big, 'A', sizeof(big));
	big[10] = '.';
	big[20] = '.';
	assert_int_equal(jose_jws_parse(&a, big, sizeof(big), 0, &jws, &why),
	    MANDATE_ELIMIT);
	assert_int_equal(why, JOSE_R_TOO_LARGE);
	assert_int_equal(jose_jws_parse(&a, big, 100, 50, &jws, &why),
	    MANDATE_ELIMIT);
	jose_key_unref(k);
	arena_free(&a);
}

/* ------------------------------------------------------------------ */
/* Claims */

static int
claims(const char *hdr, const char *payload, const struct jose_jwt_rules *r,
    enum jose_reason *why)
{
	struct arena a;
	struct jose_key *k;
	struct jose_jws jws;
	struct jose_claims c;
	char *tok;
	int rc;

	arena_init(&a, 0);
	assert_int_equal(jose_key_generate_es256(STR_NULL, &k), 0);
	tok = tsign(&a, k, JOSE_ALG_ES256, hdr, payload);
	assert_int_equal(jose_jws_parse(&a, tok, strlen(tok), 0, &jws, why),
	    0);
	assert_int_equal(jose_jws_verify(&jws, k, JOSE_ALGS_EC, why), 0);
	rc = jose_jwt_check(&a, &jws, r, &c, why);
	jose_key_unref(k);
	arena_free(&a);
	return rc;
}

static void
test_claims(void **state)
{
	static const char H[] = "{\"alg\":\"ES256\"}";
	static const struct {
		const char *hdr, *payload;
		int64_t now, leeway;
		const char *iss, *aud;
		int typ;   /* 0 none, 1 at+jwt, 2 dpop, 3 svid */
		bool exp_optional;
		enum jose_reason why;
		int64_t iat_max_age;
		bool iat_required;
	} cases[] = {
		{ H, "{\"exp\":1000}", 999, 0, NULL, NULL, 0, false, JOSE_R_OK, 0, false },
		{ H, "{\"exp\":1000}", 1000, 0, NULL, NULL, 0, false,
		    JOSE_R_EXPIRED, 0, false },
		{ H, "{\"exp\":1000}", 1004, 5, NULL, NULL, 0, false, JOSE_R_OK, 0, false },
		{ H, "{\"exp\":1000}", 1005, 5, NULL, NULL, 0, false,
		    JOSE_R_EXPIRED, 0, false },
		{ H, "{\"exp\":1000.9}", 1000, 0, NULL, NULL, 0, false,
		    JOSE_R_EXPIRED, 0, false },
		{ H, "{\"exp\":999.5}", 998, 0, NULL, NULL, 0, false, JOSE_R_OK, 0, false },
		{ H, "{\"exp\":1e3}", 999, 0, NULL, NULL, 0, false, JOSE_R_OK, 0, false },
		{ H, "{\"exp\":\"1000\"}", 999, 0, NULL, NULL, 0, false,
		    JOSE_R_CLAIM_TYPE, 0, false },
		{ H, "{\"exp\":1e400}", 999, 0, NULL, NULL, 0, false,
		    JOSE_R_CLAIM_TYPE, 0, false },
		{ H, "{\"exp\":9223372036854775807}", 999, 60, NULL, NULL, 0,
		    false, JOSE_R_OK, 0, false },
		{ H, "{}", 999, 0, NULL, NULL, 0, false, JOSE_R_EXP_MISSING, 0, false },
		{ H, "{}", 999, 0, NULL, NULL, 0, true, JOSE_R_OK, 0, false },
		{ H, "[]", 999, 0, NULL, NULL, 0, true, JOSE_R_PAYLOAD_JSON, 0, false },
		{ H, "{\"a\":1,\"a\":2}", 999, 0, NULL, NULL, 0, true,
		    JOSE_R_PAYLOAD_JSON, 0, false },
		{ H, "{\"exp\":2000,\"nbf\":1000}", 995, 5, NULL, NULL, 0, false,
		    JOSE_R_OK, 0, false },
		{ H, "{\"exp\":2000,\"nbf\":1000}", 994, 5, NULL, NULL, 0, false,
		    JOSE_R_NOT_YET_VALID, 0, false },
		{ H, "{\"exp\":2000,\"nbf\":1000}", 1000, 0, NULL, NULL, 0, false,
		    JOSE_R_OK, 0, false },
		{ H, "{\"exp\":2000,\"iat\":1005}", 1000, 5, NULL, NULL, 0, false,
		    JOSE_R_OK, 0, false },
		{ H, "{\"exp\":2000,\"iat\":1006}", 1000, 5, NULL, NULL, 0, false,
		    JOSE_R_IAT_FUTURE, 0, false },
		{ H, "{\"exp\":2000,\"iat\":true}", 1000, 5, NULL, NULL, 0, false,
		    JOSE_R_CLAIM_TYPE, 0, false },
		{ H, "{\"exp\":2000,\"iss\":\"https://a\"}", 1000, 0,
		    "https://a", NULL, 0, false, JOSE_R_OK, 0, false },
		{ H, "{\"exp\":2000,\"iss\":\"https://a/\"}", 1000, 0,
		    "https://a", NULL, 0, false, JOSE_R_ISS, 0, false },
		{ H, "{\"exp\":2000}", 1000, 0, "https://a", NULL, 0, false,
		    JOSE_R_ISS, 0, false },
		{ H, "{\"exp\":2000,\"iss\":5}", 1000, 0, "https://a", NULL, 0,
		    false, JOSE_R_CLAIM_TYPE, 0, false },
		{ H, "{\"exp\":2000,\"aud\":\"svc\"}", 1000, 0, NULL, "svc", 0,
		    false, JOSE_R_OK, 0, false },
		{ H, "{\"exp\":2000,\"aud\":[\"x\",\"svc\"]}", 1000, 0, NULL,
		    "svc", 0, false, JOSE_R_OK, 0, false },
		{ H, "{\"exp\":2000,\"aud\":[\"x\"]}", 1000, 0, NULL, "svc", 0,
		    false, JOSE_R_AUD, 0, false },
		{ H, "{\"exp\":2000,\"aud\":[]}", 1000, 0, NULL, "svc", 0,
		    false, JOSE_R_AUD, 0, false },
		{ H, "{\"exp\":2000,\"aud\":\"svcx\"}", 1000, 0, NULL, "svc", 0,
		    false, JOSE_R_AUD, 0, false },
		{ H, "{\"exp\":2000}", 1000, 0, NULL, "svc", 0, false,
		    JOSE_R_AUD, 0, false },
		{ H, "{\"exp\":2000,\"aud\":[\"svc\",1]}", 1000, 0, NULL, "svc",
		    0, false, JOSE_R_CLAIM_TYPE, 0, false },
		{ H, "{\"exp\":2000,\"aud\":{}}", 1000, 0, NULL, "svc", 0,
		    false, JOSE_R_CLAIM_TYPE, 0, false },
		{ "{\"alg\":\"ES256\",\"typ\":\"at+jwt\"}", "{\"exp\":2000}",
		    1000, 0, NULL, NULL, 1, false, JOSE_R_OK, 0, false },
		{ "{\"alg\":\"ES256\",\"typ\":\"application/AT+JWT\"}",
		    "{\"exp\":2000}", 1000, 0, NULL, NULL, 1, false, JOSE_R_OK, 0, false },
		{ "{\"alg\":\"ES256\",\"typ\":\"JWT\"}", "{\"exp\":2000}",
		    1000, 0, NULL, NULL, 1, false, JOSE_R_TYP, 0, false },
		{ H, "{\"exp\":2000}", 1000, 0, NULL, NULL, 1, false,
		    JOSE_R_TYP, 0, false },
		{ "{\"alg\":\"ES256\",\"typ\":\"at+jwt\"}", "{\"exp\":2000}",
		    1000, 0, NULL, NULL, 2, false, JOSE_R_TYP, 0, false },
		{ "{\"alg\":\"ES256\",\"typ\":\"dpop+jwt\"}", "{\"iat\":1000}",
		    1000, 0, NULL, NULL, 2, true, JOSE_R_OK, 0, false },
		{ H, "{\"exp\":2000}", 1000, 0, NULL, NULL, 3, false, JOSE_R_OK, 0, false },
		{ "{\"alg\":\"ES256\",\"typ\":\"JWT\"}", "{\"exp\":2000}",
		    1000, 0, NULL, NULL, 3, false, JOSE_R_OK, 0, false },
		{ "{\"alg\":\"ES256\",\"typ\":\"JOSE\"}", "{\"exp\":2000}",
		    1000, 0, NULL, NULL, 3, false, JOSE_R_OK, 0, false },
		{ "{\"alg\":\"ES256\",\"typ\":\"at+jwt\"}", "{\"exp\":2000}",
		    1000, 0, NULL, NULL, 3, false, JOSE_R_TYP, 0, false },
		/* the DPoP iat window: max age 60 s, leeway 5 s */
		{ H, "{\"iat\":935}", 1000, 5, NULL, NULL, 0, true, JOSE_R_OK,
		    60, true },
		{ H, "{\"iat\":934}", 1000, 5, NULL, NULL, 0, true,
		    JOSE_R_IAT_STALE, 60, true },
		{ H, "{\"iat\":1005}", 1000, 5, NULL, NULL, 0, true, JOSE_R_OK,
		    60, true },
		{ H, "{\"iat\":1006}", 1000, 5, NULL, NULL, 0, true,
		    JOSE_R_IAT_FUTURE, 60, true },
		{ H, "{}", 1000, 5, NULL, NULL, 0, true, JOSE_R_IAT_MISSING, 60,
		    true },
		{ H, "{\"iat\":-9223372036854775807}", 1000, 5, NULL, NULL, 0,
		    true, JOSE_R_IAT_STALE, 9223372036854775807, true },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct jose_jwt_rules r = {
			.now = cases[i].now, .leeway = cases[i].leeway,
			.exp_optional = cases[i].exp_optional,
			.iat_required = cases[i].iat_required,
			.iat_max_age = cases[i].iat_max_age,
			.iss = cases[i].iss ? str_c(cases[i].iss) : STR_NULL,
			.aud = cases[i].aud ? str_c(cases[i].aud) : STR_NULL,
		};
		enum jose_reason why = JOSE_R_OK;
		int rc;

		if (cases[i].typ == 1)
			r.typ = jose_typ_at_jwt;
		else if (cases[i].typ == 2)
			r.typ = jose_typ_dpop_jwt;
		else if (cases[i].typ == 3) {
			r.typ = jose_typ_jwt_svid;
			r.typ_absent_ok = true;
		}
		rc = claims(cases[i].hdr, cases[i].payload, &r, &why);
		if (why != cases[i].why)
			fprintf(stderr, "claims case %zu: %s\n", i,
			    jose_reason_str(why));
		assert_int_equal(why, cases[i].why);
		assert_int_equal(rc == MANDATE_OK, cases[i].why == JOSE_R_OK);
	}
}

/* ------------------------------------------------------------------ */
/* Key sets and DPoP-style embedded keys */

static void
test_keyset(void **state)
{
	struct arena a;
	struct jose_key *signer, *k2;
	struct jose_keyset *set;
	struct str pubjwk, tok;
	char text[4096];
	int64_t v;
	enum jose_reason why;
	struct jose_jws jws;

	(void)state;
	arena_init(&a, 0);
	assert_int_equal(jose_key_generate_es256(STR_LIT("k1"), &signer), 0);
	jose_key_public_jwk(signer, &a, &pubjwk);
	snprintf(text, sizeof(text), "{\"keys\":[%.*s,"
	    "{\"kty\":\"OKP\",\"crv\":\"Ed25519\",\"x\":\"" ED_X "\","
	    "\"kid\":\"ed\",\"use\":\"jwt-svid\"},"
	    "{\"kty\":\"oct\",\"kid\":\"sym\",\"k\":\"AAAA\"},"
	    "{\"kty\":\"EC\",\"use\":\"x509-svid\",\"crv\":\"P-256\",\"x\":\""
	    EC_X "\",\"y\":\"" EC_Y "\",\"x5c\":[\"AA\"]},"
	    "{\"kty\":\"RSA\",\"use\":\"enc\",\"n\":\"" RFC7638_N "\","
	    "\"e\":\"AQAB\"},"
	    "{\"kty\":\"RSA\",\"n\":\"AQAB\",\"e\":\"AQAB\",\"kid\":\"weak\"},"
	    "{\"kty\":\"XYZ\"}],"
	    "\"spiffe_sequence\":42,\"spiffe_refresh_hint\":300}",
	    (int)pubjwk.n, pubjwk.p);
	/* oct carries k: a private member poisons the set */
	assert_int_equal(jose_keyset_parse(text, strlen(text), &set, &why),
	    MANDATE_EINVAL);
	assert_int_equal(why, JOSE_R_KEY_PRIVATE);
	assert_null(set);
	{
		char *p = strstr(text, "\"k\":\"AAAA\"");

		memcpy(p, "\"z\"", 3);   /* "k" -> "z": now just unknown kty */
	}
	assert_int_equal(jose_keyset_parse(text, strlen(text), &set, &why),
	    MANDATE_OK);
	assert_int_equal(jose_keyset_count(set), 2);
	assert_int_equal(jose_keyset_skipped(set), 5);
	assert_true(jose_keyset_spiffe_sequence(set, &v));
	assert_int_equal(v, 42);
	assert_true(jose_keyset_spiffe_refresh_hint(set, &v));
	assert_int_equal(v, 300);
	assert_non_null(jose_keyset_find(set, STR_LIT("ed")));
	assert_null(jose_keyset_find(set, STR_LIT("weak")));
	assert_null(jose_keyset_find(set, STR_LIT("nope")));

	assert_int_equal(jose_jws_sign(&a, signer, JOSE_ALG_ES256, NULL,
	    STR_LIT("{}"), &tok), 0);
	assert_int_equal(jose_jws_parse(&a, tok.p, tok.n, 0, &jws, &why), 0);
	assert_int_equal(jose_jws_verify_set(&jws, set, JOSE_ALGS_ALL, &why),
	    MANDATE_OK);
	/* unknown kid, and no kid with two keys */
	{
		struct jose_sign_opts o = { .kid = STR_LIT("zz") };

		jose_jws_sign(&a, signer, JOSE_ALG_ES256, &o, STR_LIT("{}"),
		    &tok);
		jose_jws_parse(&a, tok.p, tok.n, 0, &jws, &why);
		assert_int_equal(jose_jws_verify_set(&jws, set, JOSE_ALGS_ALL,
		    &why), MANDATE_EINVAL);
		assert_int_equal(why, JOSE_R_KID_UNKNOWN);
		o.omit_kid = true;
		jose_jws_sign(&a, signer, JOSE_ALG_ES256, &o, STR_LIT("{}"),
		    &tok);
		jose_jws_parse(&a, tok.p, tok.n, 0, &jws, &why);
		assert_int_equal(jose_jws_verify_set(&jws, set, JOSE_ALGS_ALL,
		    &why), MANDATE_EINVAL);
		assert_int_equal(why, JOSE_R_KID_UNKNOWN);
	}
	/* the one-shot path: parse, kid lookup, verify, claims */
	{
		struct jose_sign_opts o = { .typ = STR_LIT("JWT") };
		struct jose_jwt_rules rules = { .now = 100,
		    .aud = STR_LIT("me"), .typ = jose_typ_jwt_svid,
		    .typ_absent_ok = true };
		struct jose_claims c;

		jose_jws_sign(&a, signer, JOSE_ALG_ES256, &o,
		    STR_LIT("{\"sub\":\"spiffe://d/w\",\"aud\":\"me\","
		    "\"exp\":200}"), &tok);
		assert_int_equal(jose_jwt_verify(&a, tok.p, tok.n, 0, set,
		    JOSE_ALGS_EC, &rules, &jws, &c, &why), MANDATE_OK);
		assert_true(str_eq_c(c.sub, "spiffe://d/w"));
		assert_int_equal(c.exp, 200);
		rules.now = 200;
		assert_int_equal(jose_jwt_verify(&a, tok.p, tok.n, 0, set,
		    JOSE_ALGS_EC, &rules, &jws, &c, &why), MANDATE_EINVAL);
		assert_int_equal(why, JOSE_R_EXPIRED);
		assert_null(jws.header);
		rules.now = 100;
		assert_int_equal(jose_jwt_verify(&a, tok.p, tok.n, 0, set,
		    JOSE_ALG_BIT(JOSE_ALG_RS256), &rules, &jws, &c, &why),
		    MANDATE_EINVAL);
		assert_int_equal(why, JOSE_R_ALG_NOT_ALLOWED);
		assert_int_equal(jose_jwt_verify(&a, tok.p, tok.n, 10, set,
		    JOSE_ALGS_EC, &rules, &jws, &c, &why), MANDATE_ELIMIT);
		assert_int_equal(why, JOSE_R_TOO_LARGE);
	}
	/* a key borrowed from the set outlives it with a reference */
	k2 = jose_key_ref(jose_keyset_find(set, STR_LIT("ed")));
	assert_ptr_equal(jose_keyset_ref(set), set);
	jose_keyset_unref(set);
	jose_keyset_unref(set);
	assert_int_equal(jose_key_kty(k2), JOSE_KTY_OKP);
	jose_key_unref(k2);

	/* bad sets */
	{
		static const struct { const char *t; enum jose_reason why; }
		    bad[] = {
			{ "{}", JOSE_R_KEY_JSON },
			{ "{\"keys\":{}}", JOSE_R_KEY_JSON },
			{ "[]", JOSE_R_KEY_JSON },
			{ "{\"keys\":[],\"spiffe_sequence\":\"1\"}",
			    JOSE_R_KEY_JSON },
			{ "{\"keys\":[{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
			    "\"x\":\"" ED_X "\",\"kid\":\"a\"},{\"kty\":\"OKP\","
			    "\"crv\":\"Ed25519\",\"x\":\"" ED_X "\",\"kid\":\"a\"}"
			    "]}", JOSE_R_KID_DUPLICATE },
			{ "{\"keys\":[" ED_PRIV "]}", JOSE_R_KEY_PRIVATE },
			{ "{\"keys\":[1]}", JOSE_R_KEY_JSON },
		};
		for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
			assert_int_not_equal(jose_keyset_parse(bad[i].t,
			    strlen(bad[i].t), &set, &why), MANDATE_OK);
			assert_null(set);
			assert_int_equal(why, bad[i].why);
		}
	}
	jose_key_unref(signer);
	arena_free(&a);
}

static void
test_embedded_jwk(void **state)
{
	struct arena a;
	struct jose_key *k, *hk;
	struct jose_sign_opts o = { .typ = STR_LIT("dpop+jwt"),
	    .embed_jwk = true, .omit_kid = true };
	struct str tok;
	struct jose_jws jws;
	enum jose_reason why;
	char tp1[JOSE_THUMBPRINT_LEN + 1], tp2[JOSE_THUMBPRINT_LEN + 1];

	(void)state;
	arena_init(&a, 0);
	assert_int_equal(jose_key_generate_es256(STR_LIT("x"), &k), 0);
	assert_int_equal(jose_jws_sign(&a, k, JOSE_ALG_ES256, &o,
	    STR_LIT("{\"htm\":\"POST\"}"), &tok), 0);
	assert_int_equal(jose_jws_parse(&a, tok.p, tok.n, 0, &jws, &why), 0);
	assert_true(jws.has_jwk);
	assert_int_equal(jws.kid.n, 0);
	assert_int_equal(jose_jws_header_jwk(&jws, &hk, &why), MANDATE_OK);
	assert_int_equal(jose_jws_verify(&jws, hk, JOSE_ALGS_ALL, &why), 0);
	jose_key_thumbprint(k, tp1);
	jose_key_thumbprint(hk, tp2);
	assert_string_equal(tp1, tp2);
	jose_key_unref(hk);
	/* a header jwk with a private member is refused */
	{
		char *t = tsign(&a, k, JOSE_ALG_ES256,
		    "{\"alg\":\"EdDSA\",\"jwk\":" ED_PRIV "}", "{}");

		assert_int_equal(jose_jws_parse(&a, t, strlen(t), 0, &jws,
		    &why), 0);
		assert_int_equal(jose_jws_header_jwk(&jws, &hk, &why),
		    MANDATE_EINVAL);
		assert_int_equal(why, JOSE_R_KEY_PRIVATE);
		assert_null(hk);
	}
	jose_key_unref(k);
	arena_free(&a);
}

/* Every arena allocation of parse + claims may fail: the result is
 * ENOMEM (never a crash, never a success with missing parts) until the
 * budget suffices. */
static void
test_alloc_failures(void **state)
{
	struct arena a, fa;
	struct jose_key *k;
	struct str tok;
	struct jose_sign_opts o = { .typ = STR_LIT("at+jwt"),
	    .embed_jwk = true };
	struct jose_jwt_rules rules = { .now = 1000, .iss = STR_LIT("i"),
	    .aud = STR_LIT("a"), .typ = jose_typ_at_jwt };
	bool succeeded = false;

	(void)state;
	arena_init(&a, 0);
	assert_int_equal(jose_key_generate_es256(STR_LIT("k"), &k), 0);
	assert_int_equal(jose_jws_sign(&a, k, JOSE_ALG_ES256, &o,
	    STR_LIT("{\"iss\":\"i\",\"aud\":[\"b\",\"a\"],\"exp\":2000,"
	    "\"x\":{\"y\":[1,2,3]}}"), &tok), 0);
	for (long n = 1; n < 200 && !succeeded; n++) {
		struct jose_jws jws;
		struct jose_claims c;
		struct str out;
		enum jose_reason why;
		int r;

		arena_init(&fa, 0);
		fa.fail_after = n;
		r = jose_jws_parse(&fa, tok.p, tok.n, 0, &jws, &why);
		if (r == MANDATE_OK) {
			assert_int_equal(jose_jws_verify(&jws, k, JOSE_ALGS_EC,
			    &why), 0);
			r = jose_jwt_check(&fa, &jws, &rules, &c, &why);
		}
		if (r == MANDATE_OK)
			r = jose_key_public_jwk(k, &fa, &out);
		if (r == MANDATE_OK)
			r = jose_jws_sign(&fa, k, JOSE_ALG_ES256, &o,
			    STR_LIT("{}"), &out);
		if (r == MANDATE_OK)
			succeeded = true;
		else
			assert_int_equal(r, MANDATE_ENOMEM);
		arena_free(&fa);
	}
	assert_true(succeeded);
	jose_key_unref(k);
	arena_free(&a);
}

/* ------------------------------------------------------------------ */
/* Threads: one key and one set shared by concurrent verifiers/signers */

struct shared {
	struct jose_key *key;
	struct jose_keyset *set;
	const char *tok;
	int failures;   /* written by its own thread only */
};

static void *
worker(void *arg)
{
	struct shared *sh = arg;
	struct arena a;
	enum jose_reason why;

	arena_init(&a, 0);
	for (int i = 0; i < 200; i++) {
		struct jose_jws jws;
		struct str tok;
		struct jose_key *k;

		arena_reset(&a);
		if (jose_jws_parse(&a, sh->tok, strlen(sh->tok), 0, &jws,
		    &why) != MANDATE_OK ||
		    jose_jws_verify_set(&jws, sh->set, JOSE_ALGS_ALL, &why) !=
		    MANDATE_OK ||
		    jose_jws_sign(&a, sh->key, JOSE_ALG_ES256, NULL,
		    STR_LIT("{}"), &tok) != MANDATE_OK)
			sh->failures++;
		k = jose_key_ref(jose_keyset_find(sh->set, STR_LIT("t")));
		jose_key_unref(k);
	}
	arena_free(&a);
	return NULL;
}

static void
test_threads(void **state)
{
	struct arena a;
	struct jose_key *k;
	struct jose_keyset *set;
	struct str jwktext, tok;
	char text[1024];
	enum jose_reason why;
	pthread_t th[4];
	struct shared sh[4];

	(void)state;
	arena_init(&a, 0);
	assert_int_equal(jose_key_generate_es256(STR_LIT("t"), &k), 0);
	jose_key_public_jwk(k, &a, &jwktext);
	snprintf(text, sizeof(text), "{\"keys\":[%s]}", jwktext.p);
	assert_int_equal(jose_keyset_parse(text, strlen(text), &set, &why), 0);
	assert_int_equal(jose_jws_sign(&a, k, JOSE_ALG_ES256, NULL,
	    STR_LIT("{\"x\":1}"), &tok), 0);
	for (int i = 0; i < 4; i++) {
		sh[i] = (struct shared){ k, set, tok.p, 0 };
		assert_int_equal(pthread_create(&th[i], NULL, worker, &sh[i]),
		    0);
	}
	for (int i = 0; i < 4; i++) {
		pthread_join(th[i], NULL);
		assert_int_equal(sh[i].failures, 0);
	}
	jose_keyset_unref(set);
	jose_key_unref(k);
	arena_free(&a);
}

static void
test_names(void **state)
{
	(void)state;
	for (int i = 1; i < JOSE_ALG__COUNT; i++)
		assert_int_equal(jose_alg_from_name(str_c(jose_alg_name(
		    (enum jose_alg)i))), i);
	assert_int_equal(jose_alg_from_name(STR_LIT("none")), 0);
	assert_int_equal(jose_alg_from_name(STR_LIT("HS256")), 0);
	for (int i = 0; i < JOSE_R__COUNT; i++)
		assert_string_not_equal(jose_reason_str((enum jose_reason)i),
		    "unknown reason");
	assert_string_equal(jose_reason_str(JOSE_R__COUNT), "unknown reason");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_b64url),
		cmocka_unit_test(test_thumbprints),
		cmocka_unit_test(test_jwk_good_and_export),
		cmocka_unit_test(test_jwk_bad),
		cmocka_unit_test(test_sign_verify_es256_eddsa),
		cmocka_unit_test(test_pem_round_trip),
		cmocka_unit_test(test_all_algorithms),
		cmocka_unit_test(test_tamper_and_confusion),
		cmocka_unit_test(test_header_rules),
		cmocka_unit_test(test_claims),
		cmocka_unit_test(test_keyset),
		cmocka_unit_test(test_embedded_jwk),
		cmocka_unit_test(test_alloc_failures),
		cmocka_unit_test(test_threads),
		cmocka_unit_test(test_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

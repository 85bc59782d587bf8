/*
 * key.c - JSON Web Keys (RFC 7517/7518/8037) as OpenSSL EVP_PKEYs:
 * parsing and checking JWKs and JWK Sets (with SPIFFE bundle members),
 * generating ES256 keys, PKCS#8 PEM load/save, public JWK export and the
 * RFC 7638 thumbprint.  Keys are immutable and reference counted so that
 * the daemon's threads share them.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

#include "jose/jose_int.h"
#include "util/status.h"

#define MAX_MEMBER 2048   /* decoded bytes of any one JWK member */

size_t
jose_crv_len(enum jose_crv crv)
{
	switch (crv) {
	case JOSE_CRV_P256: return 32;
	case JOSE_CRV_P384: return 48;
	case JOSE_CRV_P521: return 66;
	case JOSE_CRV_ED25519: return 32;
	default: return 0;
	}
}

static const char *
crv_jwk_name(enum jose_crv crv)
{
	switch (crv) {
	case JOSE_CRV_P256: return "P-256";
	case JOSE_CRV_P384: return "P-384";
	case JOSE_CRV_P521: return "P-521";
	case JOSE_CRV_ED25519: return "Ed25519";
	default: return "";
	}
}

static const char *
crv_group_name(enum jose_crv crv)
{
	switch (crv) {
	case JOSE_CRV_P256: return "prime256v1";
	case JOSE_CRV_P384: return "secp384r1";
	case JOSE_CRV_P521: return "secp521r1";
	default: return "";
	}
}

static struct jose_key *
key_new(void)
{
	struct jose_key *k = calloc(1, sizeof(*k));

	if (k != NULL)
		atomic_init(&k->refs, 1);
	return k;
}

struct jose_key *
jose_key_ref(struct jose_key *key)
{
	if (key != NULL)
		atomic_fetch_add_explicit(&key->refs, 1, memory_order_relaxed);
	return key;
}

void
jose_key_unref(struct jose_key *key)
{
	if (key == NULL)
		return;
	if (atomic_fetch_sub_explicit(&key->refs, 1,
	    memory_order_acq_rel) != 1)
		return;
	EVP_MD_CTX_free(key->ec_verify);
	EVP_MD_CTX_free(key->ec_sign);
	EVP_PKEY_free(key->pkey);
	free(key->x);
	free(key->y);
	free(key->n);
	free(key->e);
	free(key->kid);
	free(key);
}

void
jose_secret_free(char *p, size_t len)
{
	if (p == NULL)
		return;
	OPENSSL_cleanse(p, len);
	free(p);
}

enum jose_kty
jose_key_kty(const struct jose_key *key)
{
	return key->kty;
}

struct str
jose_key_kid(const struct jose_key *key)
{
	return str_make(key->kid ? key->kid : "", key->kid_len);
}

enum jose_alg
jose_key_alg(const struct jose_key *key)
{
	return key->alg;
}

bool
jose_key_has_private(const struct jose_key *key)
{
	return key->has_private;
}

unsigned
jose_key_algs(const struct jose_key *key)
{
	unsigned algs = 0;

	switch (key->kty) {
	case JOSE_KTY_EC:
		algs = key->crv == JOSE_CRV_P256 ? JOSE_ALG_BIT(JOSE_ALG_ES256) :
		    key->crv == JOSE_CRV_P384 ? JOSE_ALG_BIT(JOSE_ALG_ES384) :
		    key->crv == JOSE_CRV_P521 ? JOSE_ALG_BIT(JOSE_ALG_ES512) : 0;
		break;
	case JOSE_KTY_RSA:
		algs = JOSE_ALGS_RSA;
		break;
	case JOSE_KTY_OKP:
		algs = key->crv == JOSE_CRV_ED25519 ?
		    JOSE_ALG_BIT(JOSE_ALG_EDDSA) : 0;
		break;
	}
	if (key->alg != JOSE_ALG_UNKNOWN)
		algs &= JOSE_ALG_BIT(key->alg);
	return algs;
}

/* b64url text of n bytes, malloc'd. */
static char *
b64_dup(const uint8_t *p, size_t n)
{
	size_t len = jose_b64url_len(n);
	char *s = malloc(len + 1);

	if (s != NULL)
		jose_b64url_encode(p, n, s, len + 1);
	return s;
}

static char *
bn_b64_dup(const BIGNUM *bn, size_t pad)
{
	uint8_t buf[JOSE_RSA_MAX_BITS / 8 + 8];
	int n;

	if (pad == 0)
		pad = (size_t)BN_num_bytes(bn);
	if (pad == 0)
		pad = 1;
	if (pad > sizeof(buf) ||
	    (n = BN_bn2binpad(bn, buf, (int)pad)) < 0)
		return NULL;
	return b64_dup(buf, (size_t)n);
}

/* The EC key's digest-verify and digest-sign templates (see jose_int.h). */
static int
key_ec_templates(struct jose_key *key, enum jose_reason *why)
{
	const char *md = key->crv == JOSE_CRV_P256 ? "SHA256" :
	    key->crv == JOSE_CRV_P384 ? "SHA384" : "SHA512";

	if ((key->ec_verify = EVP_MD_CTX_new()) == NULL ||
	    (key->has_private && (key->ec_sign = EVP_MD_CTX_new()) == NULL)) {
		jose_set_why(why, JOSE_R_NOMEM);
		return MANDATE_ENOMEM;
	}
	if (EVP_DigestVerifyInit_ex(key->ec_verify, NULL, md, NULL, NULL,
	    key->pkey, NULL) != 1 || (key->ec_sign != NULL &&
	    EVP_DigestSignInit_ex(key->ec_sign, NULL, md, NULL, NULL,
	    key->pkey, NULL) != 1)) {
		jose_set_why(why, JOSE_R_INTERNAL);
		return MANDATE_EINTERNAL;
	}
	return MANDATE_OK;
}

/* Work out kty/crv of key->pkey, check its size, and fill the public
 * base64url members used for export and thumbprints. */
static int
key_fill_public(struct jose_key *key, enum jose_reason *why)
{
	BIGNUM *a = NULL, *b = NULL;
	char group[64];
	size_t glen = 0;
	int r = MANDATE_EINVAL;
	int id = EVP_PKEY_get_base_id(key->pkey);

	if (id == EVP_PKEY_EC) {
		key->kty = JOSE_KTY_EC;
		if (!EVP_PKEY_get_utf8_string_param(key->pkey,
		    OSSL_PKEY_PARAM_GROUP_NAME, group, sizeof(group), &glen)) {
			jose_set_why(why, JOSE_R_KEY_TYPE);
			goto out;
		}
		if (strcmp(group, "prime256v1") == 0 ||
		    strcmp(group, "P-256") == 0)
			key->crv = JOSE_CRV_P256;
		else if (strcmp(group, "secp384r1") == 0 ||
		    strcmp(group, "P-384") == 0)
			key->crv = JOSE_CRV_P384;
		else if (strcmp(group, "secp521r1") == 0 ||
		    strcmp(group, "P-521") == 0)
			key->crv = JOSE_CRV_P521;
		else {
			jose_set_why(why, JOSE_R_KEY_TYPE);
			goto out;
		}
		if (!EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_EC_PUB_X,
		    &a) || !EVP_PKEY_get_bn_param(key->pkey,
		    OSSL_PKEY_PARAM_EC_PUB_Y, &b)) {
			jose_set_why(why, JOSE_R_INTERNAL);
			goto out;
		}
		key->x = bn_b64_dup(a, jose_crv_len(key->crv));
		key->y = bn_b64_dup(b, jose_crv_len(key->crv));
		if (key->x == NULL || key->y == NULL) {
			r = MANDATE_ENOMEM;
			jose_set_why(why, JOSE_R_NOMEM);
			goto out;
		}
		if ((r = key_ec_templates(key, why)) != MANDATE_OK)
			goto out;
	} else if (id == EVP_PKEY_RSA) {
		int bits = EVP_PKEY_get_bits(key->pkey);

		key->kty = JOSE_KTY_RSA;
		if (bits < 2048 || bits > JOSE_RSA_MAX_BITS) {
			jose_set_why(why, JOSE_R_KEY_WEAK);
			goto out;
		}
		if (!EVP_PKEY_get_bn_param(key->pkey, OSSL_PKEY_PARAM_RSA_N,
		    &a) || !EVP_PKEY_get_bn_param(key->pkey,
		    OSSL_PKEY_PARAM_RSA_E, &b)) {
			jose_set_why(why, JOSE_R_INTERNAL);
			goto out;
		}
		if (!BN_is_odd(b) || BN_is_one(b) || BN_num_bits(b) > 64) {
			jose_set_why(why, JOSE_R_KEY_WEAK);
			goto out;
		}
		key->n = bn_b64_dup(a, 0);
		key->e = bn_b64_dup(b, 0);
		if (key->n == NULL || key->e == NULL) {
			r = MANDATE_ENOMEM;
			jose_set_why(why, JOSE_R_NOMEM);
			goto out;
		}
	} else if (id == EVP_PKEY_ED25519) {
		uint8_t raw[32];
		size_t raw_len = sizeof(raw);

		key->kty = JOSE_KTY_OKP;
		key->crv = JOSE_CRV_ED25519;
		if (!EVP_PKEY_get_raw_public_key(key->pkey, raw, &raw_len) ||
		    raw_len != 32) {
			jose_set_why(why, JOSE_R_INTERNAL);
			goto out;
		}
		if ((key->x = b64_dup(raw, raw_len)) == NULL) {
			r = MANDATE_ENOMEM;
			jose_set_why(why, JOSE_R_NOMEM);
			goto out;
		}
	} else {
		jose_set_why(why, JOSE_R_KEY_TYPE);
		goto out;
	}
	r = MANDATE_OK;
out:
	BN_free(a);
	BN_free(b);
	return r;
}

static int
key_set_kid(struct jose_key *key, struct str kid)
{
	if ((key->kid = malloc(kid.n + 1)) == NULL)
		return MANDATE_ENOMEM;
	if (kid.n > 0)
		memcpy(key->kid, kid.p, kid.n);
	key->kid[kid.n] = '\0';
	key->kid_len = kid.n;
	return MANDATE_OK;
}

/* ------------------------------------------------------------------ */
/* JWK parsing */

/* A string member: 1 present, 0 absent, -1 present but not a string. */
static int
get_string(const struct ajson *obj, const char *name, struct str *out)
{
	const struct ajson *v = ajson_get(obj, name);

	*out = STR_NULL;
	if (v == NULL)
		return 0;
	if (v->type != AJSON_STRING)
		return -1;
	*out = v->u.s;
	return 1;
}

/* Decode a required base64url member into buf; want_len 0 means any
 * length up to cap. */
static int
get_b64(const struct ajson *obj, const char *name, uint8_t *buf,
    size_t cap, size_t want_len, size_t *len, enum jose_reason *why)
{
	struct str s;

	*len = 0;
	if (get_string(obj, name, &s) != 1 || s.n == 0 ||
	    jose_b64url_decode(s.p, s.n, buf, cap, len) != MANDATE_OK ||
	    (want_len != 0 && *len != want_len)) {
		jose_set_why(why, JOSE_R_KEY_PARAM);
		return MANDATE_EINVAL;
	}
	return MANDATE_OK;
}

static int
pkey_check(EVP_PKEY *pkey, bool private_part)
{
	EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new_from_pkey(NULL, pkey, NULL);
	int ok;

	if (ctx == NULL)
		return 0;
	ok = private_part ? EVP_PKEY_pairwise_check(ctx) :
	    EVP_PKEY_public_check(ctx);
	EVP_PKEY_CTX_free(ctx);
	return ok == 1;
}

static EVP_PKEY *
pkey_fromdata(const char *type, OSSL_PARAM_BLD *bld, int selection)
{
	OSSL_PARAM *params = OSSL_PARAM_BLD_to_param(bld);
	EVP_PKEY_CTX *ctx = NULL;
	EVP_PKEY *pkey = NULL;

	if (params == NULL)
		return NULL;
	if ((ctx = EVP_PKEY_CTX_new_from_name(NULL, type, NULL)) == NULL ||
	    EVP_PKEY_fromdata_init(ctx) != 1 ||
	    EVP_PKEY_fromdata(ctx, &pkey, selection, params) != 1)
		pkey = NULL;
	EVP_PKEY_CTX_free(ctx);
	OSSL_PARAM_free(params);
	return pkey;
}

static int
jwk_ec(const struct ajson *jwk, bool want_private, struct jose_key *key,
    enum jose_reason *why)
{
	uint8_t pub[1 + 2 * 66], d[66];
	size_t flen, len;
	struct str crv;
	OSSL_PARAM_BLD *bld = NULL;
	BIGNUM *priv = NULL;
	int r = MANDATE_EINVAL;

	if (get_string(jwk, "crv", &crv) != 1) {
		jose_set_why(why, JOSE_R_KEY_PARAM);
		goto out;
	}
	if (str_eq_c(crv, "P-256"))
		key->crv = JOSE_CRV_P256;
	else if (str_eq_c(crv, "P-384"))
		key->crv = JOSE_CRV_P384;
	else if (str_eq_c(crv, "P-521"))
		key->crv = JOSE_CRV_P521;
	else {
		jose_set_why(why, JOSE_R_KEY_TYPE);
		goto out;
	}
	flen = jose_crv_len(key->crv);
	pub[0] = 0x04;
	if (get_b64(jwk, "x", pub + 1, flen, flen, &len, why) != MANDATE_OK ||
	    get_b64(jwk, "y", pub + 1 + flen, flen, flen, &len, why) !=
	    MANDATE_OK)
		goto out;
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_utf8_string(bld, OSSL_PKEY_PARAM_GROUP_NAME,
	    crv_group_name(key->crv), 0) ||
	    !OSSL_PARAM_BLD_push_octet_string(bld, OSSL_PKEY_PARAM_PUB_KEY,
	    pub, 1 + 2 * flen)) {
		r = MANDATE_ENOMEM;
		jose_set_why(why, JOSE_R_NOMEM);
		goto out;
	}
	if (want_private) {
		if (get_b64(jwk, "d", d, flen, flen, &len, why) != MANDATE_OK)
			goto out;
		if ((priv = BN_secure_new()) == NULL ||
		    BN_bin2bn(d, (int)flen, priv) == NULL ||
		    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_PRIV_KEY,
		    priv)) {
			r = MANDATE_ENOMEM;
			jose_set_why(why, JOSE_R_NOMEM);
			goto out;
		}
	}
	key->pkey = pkey_fromdata("EC", bld, want_private ?
	    EVP_PKEY_KEYPAIR : EVP_PKEY_PUBLIC_KEY);
	if (key->pkey == NULL || !pkey_check(key->pkey, false) ||
	    (want_private && !pkey_check(key->pkey, true))) {
		jose_set_why(why, JOSE_R_KEY_INVALID);
		goto out;
	}
	key->has_private = want_private;
	r = MANDATE_OK;
out:
	OPENSSL_cleanse(d, sizeof(d));
	BN_clear_free(priv);
	OSSL_PARAM_BLD_free(bld);
	return r;
}

static int
jwk_rsa(const struct ajson *jwk, struct jose_key *key,
    enum jose_reason *why)
{
	uint8_t n[JOSE_RSA_MAX_BITS / 8 + 1], e[8];
	size_t n_len, e_len;
	BIGNUM *bn_n = NULL, *bn_e = NULL;
	OSSL_PARAM_BLD *bld = NULL;
	int r = MANDATE_EINVAL;

	if (get_b64(jwk, "n", n, sizeof(n), 0, &n_len, why) != MANDATE_OK ||
	    get_b64(jwk, "e", e, sizeof(e), 0, &e_len, why) != MANDATE_OK)
		goto out;
	if ((bn_n = BN_bin2bn(n, (int)n_len, NULL)) == NULL ||
	    (bn_e = BN_bin2bn(e, (int)e_len, NULL)) == NULL) {
		r = MANDATE_ENOMEM;
		jose_set_why(why, JOSE_R_NOMEM);
		goto out;
	}
	if (BN_num_bits(bn_n) < 2048 || BN_num_bits(bn_n) > JOSE_RSA_MAX_BITS ||
	    !BN_is_odd(bn_e) || BN_is_one(bn_e)) {
		jose_set_why(why, JOSE_R_KEY_WEAK);
		goto out;
	}
	if ((bld = OSSL_PARAM_BLD_new()) == NULL ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_N, bn_n) ||
	    !OSSL_PARAM_BLD_push_BN(bld, OSSL_PKEY_PARAM_RSA_E, bn_e)) {
		r = MANDATE_ENOMEM;
		jose_set_why(why, JOSE_R_NOMEM);
		goto out;
	}
	key->pkey = pkey_fromdata("RSA", bld, EVP_PKEY_PUBLIC_KEY);
	if (key->pkey == NULL || !pkey_check(key->pkey, false)) {
		jose_set_why(why, JOSE_R_KEY_INVALID);
		goto out;
	}
	r = MANDATE_OK;
out:
	BN_free(bn_n);
	BN_free(bn_e);
	OSSL_PARAM_BLD_free(bld);
	return r;
}

static int
jwk_okp(const struct ajson *jwk, bool want_private, struct jose_key *key,
    enum jose_reason *why)
{
	uint8_t x[32], d[32], derived[32];
	size_t len, dlen = sizeof(derived);
	struct str crv;
	int r = MANDATE_EINVAL;

	if (get_string(jwk, "crv", &crv) != 1) {
		jose_set_why(why, JOSE_R_KEY_PARAM);
		goto out;
	}
	if (!str_eq_c(crv, "Ed25519")) {
		jose_set_why(why, JOSE_R_KEY_TYPE);
		goto out;
	}
	key->crv = JOSE_CRV_ED25519;
	if (get_b64(jwk, "x", x, 32, 32, &len, why) != MANDATE_OK)
		goto out;
	if (want_private) {
		if (get_b64(jwk, "d", d, 32, 32, &len, why) != MANDATE_OK)
			goto out;
		key->pkey = EVP_PKEY_new_raw_private_key_ex(NULL, "ED25519",
		    NULL, d, 32);
		if (key->pkey == NULL ||
		    !EVP_PKEY_get_raw_public_key(key->pkey, derived, &dlen) ||
		    dlen != 32 || CRYPTO_memcmp(derived, x, 32) != 0) {
			jose_set_why(why, JOSE_R_KEY_INVALID);
			goto out;
		}
		key->has_private = true;
	} else {
		key->pkey = EVP_PKEY_new_raw_public_key_ex(NULL, "ED25519",
		    NULL, x, 32);
		if (key->pkey == NULL) {
			jose_set_why(why, JOSE_R_KEY_INVALID);
			goto out;
		}
	}
	r = MANDATE_OK;
out:
	OPENSSL_cleanse(d, sizeof(d));
	return r;
}

static const char *const private_members[] = {
	"d", "p", "q", "dp", "dq", "qi", "oth", "k", NULL
};

int
jose_key_from_ajson(const struct ajson *jwk, unsigned flags,
    struct jose_key **out, enum jose_reason *why)
{
	struct jose_key *key = NULL;
	struct str kty, s;
	bool want_private = false, has_private = false;
	int r = MANDATE_EINVAL;

	*out = NULL;
	jose_set_why(why, JOSE_R_OK);
	if (!ajson_is(jwk, AJSON_OBJECT)) {
		jose_set_why(why, JOSE_R_KEY_JSON);
		goto out;
	}
	for (size_t i = 0; private_members[i] != NULL; i++)
		if (ajson_get(jwk, private_members[i]) != NULL)
			has_private = true;
	if (get_string(jwk, "kty", &kty) != 1) {
		jose_set_why(why, JOSE_R_KEY_PARAM);
		goto out;
	}
	if (has_private && !(flags & JOSE_JWK_PRIVATE)) {
		jose_set_why(why, JOSE_R_KEY_PRIVATE);
		goto out;
	}
	if ((key = key_new()) == NULL) {
		r = MANDATE_ENOMEM;
		jose_set_why(why, JOSE_R_NOMEM);
		goto out;
	}
	/* optional members */
	if (get_string(jwk, "alg", &s) < 0 || get_string(jwk, "use", &s) < 0 ||
	    get_string(jwk, "kid", &s) < 0) {
		jose_set_why(why, JOSE_R_KEY_PARAM);
		goto out;
	}
	if (get_string(jwk, "alg", &s) == 1 &&
	    (key->alg = jose_alg_from_name(s)) == JOSE_ALG_UNKNOWN) {
		jose_set_why(why, JOSE_R_KEY_TYPE);
		goto out;
	}
	if (get_string(jwk, "use", &s) == 1 && !str_eq_c(s, "sig") &&
	    !str_eq_c(s, "jwt-svid")) {
		jose_set_why(why, JOSE_R_KEY_TYPE);
		goto out;
	}
	get_string(jwk, "kid", &s);
	if ((r = key_set_kid(key, s)) != MANDATE_OK) {
		jose_set_why(why, JOSE_R_NOMEM);
		goto out;
	}
	r = MANDATE_EINVAL;
	if (str_eq_c(kty, "EC")) {
		want_private = (flags & JOSE_JWK_PRIVATE) &&
		    ajson_get(jwk, "d") != NULL;
		r = jwk_ec(jwk, want_private, key, why);
	} else if (str_eq_c(kty, "RSA")) {
		if (has_private) {   /* we never sign with RSA */
			jose_set_why(why, JOSE_R_KEY_PRIVATE);
			goto out;
		}
		r = jwk_rsa(jwk, key, why);
	} else if (str_eq_c(kty, "OKP")) {
		want_private = (flags & JOSE_JWK_PRIVATE) &&
		    ajson_get(jwk, "d") != NULL;
		r = jwk_okp(jwk, want_private, key, why);
	} else {
		jose_set_why(why, JOSE_R_KEY_TYPE);
	}
	if (r != MANDATE_OK)
		goto out;
	if ((r = key_fill_public(key, why)) != MANDATE_OK)
		goto out;
	if (jose_key_algs(key) == 0) {   /* alg does not fit kty/crv */
		r = MANDATE_EINVAL;
		jose_set_why(why, JOSE_R_ALG_KEY_MISMATCH);
		goto out;
	}
	*out = key;
	key = NULL;
	r = MANDATE_OK;
out:
	jose_key_unref(key);
	return r;
}

static int
parse_json(struct arena *a, const char *json, size_t len, size_t max,
    const struct ajson **root, enum jose_reason *why)
{
	struct ajson_opts o = { .flags = AJSON_REJECT_DUPLICATES,
	    .max_depth = JOSE_JSON_DEPTH, .max_len = max };
	int r;

	if (len > max) {
		jose_set_why(why, JOSE_R_TOO_LARGE);
		return MANDATE_ELIMIT;
	}
	r = ajson_parse(a, json, len, &o, root, NULL);
	if (r == MANDATE_ENOMEM) {
		jose_set_why(why, JOSE_R_NOMEM);
		return r;
	}
	if (r != MANDATE_OK || !ajson_is(*root, AJSON_OBJECT)) {
		jose_set_why(why, JOSE_R_KEY_JSON);
		return MANDATE_EINVAL;
	}
	return MANDATE_OK;
}

/* Wipe every string value of the tree that the parser copied into its
 * arena (one written with JSON escapes, e.g. a private member "d" with
 * "\u0041"), since arena_free() does not wipe; a string without escapes
 * points into the caller's text, which the caller wipes.  Every value is
 * wiped, not only the private members, so that none is missed (nested
 * "oth" members included); a JWK is small.  The tree's depth is bounded
 * by the parse (JOSE_JSON_DEPTH). */
static void
wipe_copies(const struct ajson *v, const char *text, size_t len, int depth)
{
	uintptr_t p;
	size_t i;

	if (depth > JOSE_JSON_DEPTH)
		return;
	switch (v->type) {
	case AJSON_STRING:
		p = (uintptr_t)v->u.s.p;
		if (v->u.s.n > 0 && (p < (uintptr_t)text ||
		    p >= (uintptr_t)text + len))
			OPENSSL_cleanse((void *)p, v->u.s.n);
		break;
	case AJSON_ARRAY:
		for (i = 0; i < v->u.arr.n; i++)
			wipe_copies(&v->u.arr.items[i], text, len, depth + 1);
		break;
	case AJSON_OBJECT:
		for (i = 0; i < v->u.obj.n; i++)
			wipe_copies(&v->u.obj.items[i].val, text, len,
			    depth + 1);
		break;
	default:
		break;
	}
}

int
jose_key_from_jwk(const char *json, size_t len, unsigned flags,
    struct jose_key **out, enum jose_reason *why)
{
	struct arena a;
	const struct ajson *root = NULL;
	int r;

	*out = NULL;
	arena_init(&a, 8 * JOSE_JWK_MAX_LEN);
	if ((r = parse_json(&a, json, len, JOSE_JWK_MAX_LEN, &root, why)) ==
	    MANDATE_OK)
		r = jose_key_from_ajson(root, flags, out, why);
	if (root != NULL)
		wipe_copies(root, json, len, 0);
	arena_free(&a);
	return r;
}

/* ------------------------------------------------------------------ */
/* Generation and PEM */

static int
key_from_pkey(EVP_PKEY *pkey, struct str kid, struct jose_key **out,
    enum jose_reason *why)
{
	struct jose_key *key = NULL;
	int r = MANDATE_ENOMEM;

	*out = NULL;
	if ((key = key_new()) == NULL) {
		EVP_PKEY_free(pkey);
		jose_set_why(why, JOSE_R_NOMEM);
		goto out;
	}
	key->pkey = pkey;
	key->has_private = true;
	if ((r = key_set_kid(key, kid)) != MANDATE_OK) {
		jose_set_why(why, JOSE_R_NOMEM);
		goto out;
	}
	if ((r = key_fill_public(key, why)) != MANDATE_OK)
		goto out;
	*out = key;
	key = NULL;
out:
	jose_key_unref(key);
	return r;
}

int
jose_key_generate_es256(struct str kid, struct jose_key **out)
{
	EVP_PKEY *pkey;

	*out = NULL;
	if ((pkey = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256")) == NULL)
		return MANDATE_EINTERNAL;
	return key_from_pkey(pkey, kid, out, NULL);
}

static int
no_password(char *buf, int size, int rwflag, void *u)
{
	(void)buf; (void)size; (void)rwflag; (void)u;
	return -1;   /* encrypted keys are refused, never prompted for */
}

int
jose_key_from_pem(const char *pem, size_t len, struct str kid,
    struct jose_key **out, enum jose_reason *why)
{
	BIO *bio = NULL;
	EVP_PKEY *pkey = NULL;
	int r = MANDATE_EINVAL;

	*out = NULL;
	if (len > JOSE_JWK_MAX_LEN) {
		jose_set_why(why, JOSE_R_TOO_LARGE);
		return MANDATE_ELIMIT;
	}
	if ((bio = BIO_new_mem_buf(pem, (int)len)) == NULL) {
		jose_set_why(why, JOSE_R_NOMEM);
		return MANDATE_ENOMEM;
	}
	pkey = PEM_read_bio_PrivateKey(bio, NULL, no_password, NULL);
	BIO_free(bio);
	if (pkey == NULL) {
		jose_set_why(why, JOSE_R_PEM);
		return MANDATE_EINVAL;
	}
	if (EVP_PKEY_get_base_id(pkey) == EVP_PKEY_EC &&
	    !pkey_check(pkey, true)) {
		EVP_PKEY_free(pkey);
		jose_set_why(why, JOSE_R_KEY_INVALID);
		return MANDATE_EINVAL;
	}
	r = key_from_pkey(pkey, kid, out, why);
	return r;
}

int
jose_key_to_pem(const struct jose_key *key, char **out, size_t *out_len)
{
	BIO *bio = NULL;
	char *data = NULL, *copy = NULL;
	long n;
	int r = MANDATE_EINVAL;

	*out = NULL;
	*out_len = 0;
	if (!key->has_private)
		goto out;
	r = MANDATE_ENOMEM;
	if ((bio = BIO_new(BIO_s_secmem())) == NULL)
		goto out;
	r = MANDATE_EINTERNAL;
	if (!PEM_write_bio_PKCS8PrivateKey(bio, key->pkey, NULL, NULL, 0,
	    NULL, NULL) || (n = BIO_get_mem_data(bio, &data)) <= 0)
		goto out;
	r = MANDATE_ENOMEM;
	if ((copy = malloc((size_t)n + 1)) == NULL)
		goto out;
	memcpy(copy, data, (size_t)n);
	copy[n] = '\0';
	*out = copy;
	*out_len = (size_t)n;
	r = MANDATE_OK;
out:
	BIO_free(bio);
	return r;
}

/* ------------------------------------------------------------------ */
/* Export */

static int
jwk_text(const struct jose_key *key, struct arena *a, bool canonical,
    struct str *out)
{
	size_t cap = 64 + (key->x ? strlen(key->x) : 0) +
	    (key->y ? strlen(key->y) : 0) + (key->n ? strlen(key->n) : 0) +
	    (key->e ? strlen(key->e) : 0) + 6 * key->kid_len + 32;
	char *buf = arena_alloc(a, cap);
	size_t o = 0;
	int w;

	*out = STR_NULL;
	if (buf == NULL)
		return MANDATE_ENOMEM;
	/* members in lexicographic order, as RFC 7638 requires */
	switch (key->kty) {
	case JOSE_KTY_EC:
		w = snprintf(buf, cap, "{\"crv\":\"%s\",\"kty\":\"EC\","
		    "\"x\":\"%s\",\"y\":\"%s\"", crv_jwk_name(key->crv),
		    key->x, key->y);
		break;
	case JOSE_KTY_RSA:
		w = snprintf(buf, cap, "{\"e\":\"%s\",\"kty\":\"RSA\","
		    "\"n\":\"%s\"", key->e, key->n);
		break;
	case JOSE_KTY_OKP:
		w = snprintf(buf, cap, "{\"crv\":\"%s\",\"kty\":\"OKP\","
		    "\"x\":\"%s\"", crv_jwk_name(key->crv), key->x);
		break;
	default:
		return MANDATE_EINTERNAL;
	}
	if (w < 0 || (size_t)w >= cap)
		return MANDATE_EINTERNAL;
	o = (size_t)w;
	if (!canonical && key->kid_len > 0) {
		memcpy(buf + o, ",\"kid\":\"", 8);
		o += 8;
		for (size_t i = 0; i < key->kid_len; i++) {
			unsigned char c = (unsigned char)key->kid[i];

			if (c == '"' || c == '\\') {
				buf[o++] = '\\';
				buf[o++] = (char)c;
			} else if (c < 0x20) {
				w = snprintf(buf + o, cap - o, "\\u%04x", c);
				o += (size_t)w;
			} else {
				buf[o++] = (char)c;
			}
		}
		buf[o++] = '"';
	}
	if (!canonical && key->alg != JOSE_ALG_UNKNOWN) {
		w = snprintf(buf + o, cap - o, ",\"alg\":\"%s\"",
		    jose_alg_name(key->alg));
		o += (size_t)w;
	}
	buf[o++] = '}';
	buf[o] = '\0';
	*out = str_make(buf, o);
	return MANDATE_OK;
}

int
jose_key_public_jwk(const struct jose_key *key, struct arena *a,
    struct str *out)
{
	return jwk_text(key, a, false, out);
}

int
jose_sha256_b64url(const void *data, size_t n,
    char out[JOSE_THUMBPRINT_LEN + 1])
{
	uint8_t md[32];
	unsigned int md_len = 0;

	out[0] = '\0';
	if (!EVP_Digest(data, n, md, &md_len, EVP_sha256(), NULL) ||
	    md_len != 32)
		return MANDATE_EINTERNAL;
	jose_b64url_encode(md, 32, out, JOSE_THUMBPRINT_LEN + 1);
	return MANDATE_OK;
}

int
jose_key_thumbprint(const struct jose_key *key,
    char out[JOSE_THUMBPRINT_LEN + 1])
{
	struct arena a;
	struct str text;
	int r;

	out[0] = '\0';
	arena_init(&a, 0);
	if ((r = jwk_text(key, &a, true, &text)) == MANDATE_OK)
		r = jose_sha256_b64url(text.p, text.n, out);
	arena_free(&a);
	return r;
}

/* ------------------------------------------------------------------ */
/* Key sets */

struct jose_keyset {
	atomic_long refs;
	struct jose_key **keys;
	size_t n_keys;
	size_t n_skipped;
	bool has_sequence, has_refresh_hint;
	int64_t sequence, refresh_hint;
};

struct jose_keyset *
jose_keyset_ref(struct jose_keyset *set)
{
	if (set != NULL)
		atomic_fetch_add_explicit(&set->refs, 1, memory_order_relaxed);
	return set;
}

void
jose_keyset_unref(struct jose_keyset *set)
{
	if (set == NULL)
		return;
	if (atomic_fetch_sub_explicit(&set->refs, 1,
	    memory_order_acq_rel) != 1)
		return;
	for (size_t i = 0; i < set->n_keys; i++)
		jose_key_unref(set->keys[i]);
	free(set->keys);
	free(set);
}

size_t
jose_keyset_count(const struct jose_keyset *set)
{
	return set->n_keys;
}

size_t
jose_keyset_skipped(const struct jose_keyset *set)
{
	return set->n_skipped;
}

struct jose_key *
jose_keyset_key(const struct jose_keyset *set, size_t i)
{
	return i < set->n_keys ? set->keys[i] : NULL;
}

struct jose_key *
jose_keyset_find(const struct jose_keyset *set, struct str kid)
{
	for (size_t i = 0; i < set->n_keys; i++)
		if (str_eq(jose_key_kid(set->keys[i]), kid))
			return set->keys[i];
	return NULL;
}

bool
jose_keyset_spiffe_sequence(const struct jose_keyset *set, int64_t *v)
{
	*v = set->sequence;
	return set->has_sequence;
}

bool
jose_keyset_spiffe_refresh_hint(const struct jose_keyset *set, int64_t *v)
{
	*v = set->refresh_hint;
	return set->has_refresh_hint;
}

/* An optional integer member: 0 absent, 1 read, -1 wrong type. */
static int
get_int(const struct ajson *obj, const char *name, int64_t *v)
{
	const struct ajson *j = ajson_get(obj, name);

	if (j == NULL)
		return 0;
	if (j->type != AJSON_NUMBER || !j->num_fits)
		return -1;
	*v = j->u.i;
	return 1;
}

int
jose_keyset_parse(const char *json, size_t len, struct jose_keyset **out,
    enum jose_reason *why)
{
	struct arena a;
	const struct ajson *root = NULL, *keys;
	struct jose_keyset *set = NULL;
	int r, g;

	*out = NULL;
	jose_set_why(why, JOSE_R_OK);
	arena_init(&a, 8 * JOSE_JWKS_MAX_LEN);
	if ((r = parse_json(&a, json, len, JOSE_JWKS_MAX_LEN, &root, why)) !=
	    MANDATE_OK)
		goto out;
	r = MANDATE_EINVAL;
	keys = ajson_get(root, "keys");
	if (!ajson_is(keys, AJSON_ARRAY)) {
		jose_set_why(why, JOSE_R_KEY_JSON);
		goto out;
	}
	if (keys->u.arr.n > JOSE_JWKS_MAX_KEYS) {
		r = MANDATE_ELIMIT;
		jose_set_why(why, JOSE_R_TOO_LARGE);
		goto out;
	}
	if ((set = calloc(1, sizeof(*set))) == NULL) {
		r = MANDATE_ENOMEM;
		jose_set_why(why, JOSE_R_NOMEM);
		goto out;
	}
	atomic_init(&set->refs, 1);
	if (keys->u.arr.n > 0 && (set->keys = calloc(keys->u.arr.n,
	    sizeof(*set->keys))) == NULL) {
		r = MANDATE_ENOMEM;
		jose_set_why(why, JOSE_R_NOMEM);
		goto out;
	}
	if ((g = get_int(root, "spiffe_sequence", &set->sequence)) < 0) {
		jose_set_why(why, JOSE_R_KEY_JSON);
		goto out;
	}
	set->has_sequence = g == 1;
	if ((g = get_int(root, "spiffe_refresh_hint",
	    &set->refresh_hint)) < 0) {
		jose_set_why(why, JOSE_R_KEY_JSON);
		goto out;
	}
	set->has_refresh_hint = g == 1;
	for (size_t i = 0; i < keys->u.arr.n; i++) {
		const struct ajson *jwk = &keys->u.arr.items[i];
		struct jose_key *key = NULL;
		enum jose_reason kwhy = JOSE_R_OK;
		int kr;

		kr = jose_key_from_ajson(jwk, 0, &key, &kwhy);
		if (kr == MANDATE_ENOMEM) {
			r = kr;
			jose_set_why(why, JOSE_R_NOMEM);
			goto out;
		}
		if (kwhy == JOSE_R_KEY_PRIVATE || kwhy == JOSE_R_KEY_JSON) {
			jose_set_why(why, kwhy);
			goto out;
		}
		if (kr != MANDATE_OK) {   /* unsupported or unusable: skip */
			set->n_skipped++;
			continue;
		}
		if (key->kid_len > 0 &&
		    jose_keyset_find(set, jose_key_kid(key)) != NULL) {
			jose_key_unref(key);
			jose_set_why(why, JOSE_R_KID_DUPLICATE);
			goto out;
		}
		set->keys[set->n_keys++] = key;
	}
	*out = set;
	set = NULL;
	r = MANDATE_OK;
out:
	jose_keyset_unref(set);
	arena_free(&a);
	return r;
}

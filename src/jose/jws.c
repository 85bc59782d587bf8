/*
 * jws.c - JWS compact serialisation (RFC 7515): parsing with strict
 * header rules, verification against one key or a key set under the
 * caller's algorithm allow-list, and ES256/EdDSA signing.  The raw
 * primitive jose_verify_raw() is the single place where signatures are
 * checked, so the Wycheproof vectors exercise the same code as tokens.
 */
#include <string.h>

#include <openssl/bn.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/evp.h>
#include <openssl/rsa.h>

#include "jose/jose_int.h"
#include "util/status.h"

static const EVP_MD *
alg_md(enum jose_alg alg)
{
	switch (alg) {
	case JOSE_ALG_ES256: case JOSE_ALG_RS256: case JOSE_ALG_PS256:
		return EVP_sha256();
	case JOSE_ALG_ES384: case JOSE_ALG_RS384: case JOSE_ALG_PS384:
		return EVP_sha384();
	case JOSE_ALG_ES512: case JOSE_ALG_RS512: case JOSE_ALG_PS512:
		return EVP_sha512();
	default:
		return NULL;
	}
}

static bool
alg_is_ec(enum jose_alg alg)
{
	return alg == JOSE_ALG_ES256 || alg == JOSE_ALG_ES384 ||
	    alg == JOSE_ALG_ES512;
}

static bool
alg_is_pss(enum jose_alg alg)
{
	return alg == JOSE_ALG_PS256 || alg == JOSE_ALG_PS384 ||
	    alg == JOSE_ALG_PS512;
}

/* P1363 r||s (each flen bytes) to a DER ECDSA-Sig-Value in der. */
static int
p1363_to_der(const uint8_t *sig, size_t flen, uint8_t *der, size_t cap,
    size_t *der_len)
{
	ECDSA_SIG *es = NULL;
	BIGNUM *r = NULL, *s = NULL;
	unsigned char *p = der;
	int n, ok = 0;

	if ((es = ECDSA_SIG_new()) == NULL ||
	    (r = BN_bin2bn(sig, (int)flen, NULL)) == NULL ||
	    (s = BN_bin2bn(sig + flen, (int)flen, NULL)) == NULL)
		goto out;
	if (!ECDSA_SIG_set0(es, r, s))
		goto out;
	r = s = NULL;   /* owned by es */
	if ((n = i2d_ECDSA_SIG(es, NULL)) <= 0 || (size_t)n > cap)
		goto out;
	if (i2d_ECDSA_SIG(es, &p) != n)
		goto out;
	*der_len = (size_t)n;
	ok = 1;
out:
	BN_free(r);
	BN_free(s);
	ECDSA_SIG_free(es);
	return ok;
}

int
jose_verify_raw(const struct jose_key *key, enum jose_alg alg,
    const uint8_t *msg, size_t msg_len, const uint8_t *sig, size_t sig_len,
    enum jose_reason *why)
{
	EVP_MD_CTX *mctx = NULL;
	EVP_PKEY_CTX *pctx = NULL;
	const EVP_MD *md = alg_md(alg);
	uint8_t der[2 * 66 + 16];
	const uint8_t *vsig = sig;
	size_t vsig_len = sig_len;
	int r = MANDATE_EINVAL, ok;

	jose_set_why(why, JOSE_R_OK);
	if (key == NULL || key->pkey == NULL || alg == JOSE_ALG_UNKNOWN ||
	    (unsigned)alg >= JOSE_ALG__COUNT ||
	    !(jose_key_algs(key) & JOSE_ALG_BIT(alg))) {
		jose_set_why(why, JOSE_R_ALG_KEY_MISMATCH);
		goto out;
	}
	if (alg_is_ec(alg)) {
		size_t flen = jose_crv_len(key->crv);

		if (sig_len != 2 * flen) {
			jose_set_why(why, JOSE_R_SIG_LENGTH);
			goto out;
		}
		if (!p1363_to_der(sig, flen, der, sizeof(der), &vsig_len)) {
			jose_set_why(why, JOSE_R_INTERNAL);
			goto out;
		}
		vsig = der;
	} else if (alg == JOSE_ALG_EDDSA) {
		if (sig_len != 64) {
			jose_set_why(why, JOSE_R_SIG_LENGTH);
			goto out;
		}
	} else {
		if (sig_len != (size_t)EVP_PKEY_get_size(key->pkey)) {
			jose_set_why(why, JOSE_R_SIG_LENGTH);
			goto out;
		}
	}
	if ((mctx = EVP_MD_CTX_new()) == NULL) {
		r = MANDATE_ENOMEM;
		jose_set_why(why, JOSE_R_NOMEM);
		goto out;
	}
	if (key->ec_verify != NULL) {
		/* the key's template, set up for its curve's hash (which
		 * the alg check above made the alg's) */
		if (EVP_MD_CTX_copy_ex(mctx, key->ec_verify) != 1) {
			jose_set_why(why, JOSE_R_INTERNAL);
			goto out;
		}
		/* used once: the final step need not keep a copy */
		EVP_MD_CTX_set_flags(mctx, EVP_MD_CTX_FLAG_FINALISE);
	} else if (EVP_DigestVerifyInit_ex(mctx, &pctx,
	    md != NULL ? EVP_MD_get0_name(md) : NULL, NULL, NULL, key->pkey,
	    NULL) != 1) {
		jose_set_why(why, JOSE_R_INTERNAL);
		goto out;
	}
	if (key->kty == JOSE_KTY_RSA) {
		if (alg_is_pss(alg)) {
			if (EVP_PKEY_CTX_set_rsa_padding(pctx,
			    RSA_PKCS1_PSS_PADDING) != 1 ||
			    EVP_PKEY_CTX_set_rsa_mgf1_md(pctx, md) != 1 ||
			    EVP_PKEY_CTX_set_rsa_pss_saltlen(pctx,
			    RSA_PSS_SALTLEN_DIGEST) != 1) {
				jose_set_why(why, JOSE_R_INTERNAL);
				goto out;
			}
		} else if (EVP_PKEY_CTX_set_rsa_padding(pctx,
		    RSA_PKCS1_PADDING) != 1) {
			jose_set_why(why, JOSE_R_INTERNAL);
			goto out;
		}
	}
	ok = EVP_DigestVerify(mctx, vsig, vsig_len, msg, msg_len);
	if (ok != 1) {
		jose_set_why(why, JOSE_R_SIG_INVALID);
		goto out;
	}
	r = MANDATE_OK;
out:
	EVP_MD_CTX_free(mctx);   /* frees pctx too */
	return r;
}

/* ------------------------------------------------------------------ */
/* Parsing */

static int
fail(enum jose_reason *why, enum jose_reason reason, int r)
{
	jose_set_why(why, reason);
	return r;
}

int
jose_jws_parse(struct arena *a, const char *token, size_t len,
    size_t max_len, struct jose_jws *out, enum jose_reason *why)
{
	const char *d1, *d2;
	size_t h_len, p_len, s_len;
	struct ajson_opts o = { .flags = AJSON_REJECT_DUPLICATES,
	    .max_depth = JOSE_JSON_DEPTH };
	const struct ajson *hdr = NULL, *v;
	int r;

	memset(out, 0, sizeof(*out));
	jose_set_why(why, JOSE_R_OK);
	if (max_len == 0)
		max_len = JOSE_JWS_MAX_LEN;
	if (len > max_len)
		return fail(why, JOSE_R_TOO_LARGE, MANDATE_ELIMIT);
	if (token == NULL || len == 0 ||
	    (d1 = memchr(token, '.', len)) == NULL ||
	    (d2 = memchr(d1 + 1, '.', len - (size_t)(d1 + 1 - token))) == NULL ||
	    memchr(d2 + 1, '.', len - (size_t)(d2 + 1 - token)) != NULL)
		return fail(why, JOSE_R_MALFORMED, MANDATE_EINVAL);
	h_len = (size_t)(d1 - token);
	p_len = (size_t)(d2 - d1 - 1);
	s_len = len - (size_t)(d2 + 1 - token);
	if (h_len == 0 || s_len == 0)
		return fail(why, JOSE_R_MALFORMED, MANDATE_EINVAL);

	if ((r = jose_b64url_decode_a(a, token, h_len, &out->header_json)) !=
	    MANDATE_OK ||
	    (r = jose_b64url_decode_a(a, d1 + 1, p_len, &out->payload)) !=
	    MANDATE_OK ||
	    (r = jose_b64url_decode_a(a, d2 + 1, s_len, &out->sig)) !=
	    MANDATE_OK) {
		memset(out, 0, sizeof(*out));
		return r == MANDATE_ENOMEM ? fail(why, JOSE_R_NOMEM, r) :
		    fail(why, JOSE_R_BASE64, MANDATE_EINVAL);
	}
	r = ajson_parse(a, out->header_json.p, out->header_json.n, &o, &hdr,
	    NULL);
	if (r == MANDATE_ENOMEM)
		goto bad_nomem;
	if (r != MANDATE_OK || !ajson_is(hdr, AJSON_OBJECT)) {
		r = fail(why, JOSE_R_HEADER_JSON, MANDATE_EINVAL);
		goto bad;
	}
	v = ajson_get(hdr, "alg");
	if (!ajson_is(v, AJSON_STRING) ||
	    (out->alg = jose_alg_from_name(v->u.s)) == JOSE_ALG_UNKNOWN) {
		r = fail(why, JOSE_R_HEADER_ALG, MANDATE_EINVAL);
		goto bad;
	}
	out->alg_name = v->u.s;
	/* We implement no extension, so any crit is one we do not know. */
	if (ajson_get(hdr, "crit") != NULL) {
		r = fail(why, JOSE_R_CRIT, MANDATE_EINVAL);
		goto bad;
	}
	if ((v = ajson_get(hdr, "b64")) != NULL && v->type != AJSON_TRUE) {
		r = fail(why, JOSE_R_B64_FALSE, MANDATE_EINVAL);
		goto bad;
	}
	if ((v = ajson_get(hdr, "kid")) != NULL) {
		if (v->type != AJSON_STRING) {
			r = fail(why, JOSE_R_HEADER_FIELD, MANDATE_EINVAL);
			goto bad;
		}
		out->kid = v->u.s;
	}
	if ((v = ajson_get(hdr, "typ")) != NULL) {
		if (v->type != AJSON_STRING) {
			r = fail(why, JOSE_R_HEADER_FIELD, MANDATE_EINVAL);
			goto bad;
		}
		out->typ = v->u.s;
		out->has_typ = true;
	}
	if ((v = ajson_get(hdr, "jwk")) != NULL) {
		if (v->type != AJSON_OBJECT) {
			r = fail(why, JOSE_R_HEADER_FIELD, MANDATE_EINVAL);
			goto bad;
		}
		out->has_jwk = true;
	}
	out->header = hdr;
	out->signing_input = str_make(token, (size_t)(d2 - token));
	return MANDATE_OK;
bad_nomem:
	r = fail(why, JOSE_R_NOMEM, MANDATE_ENOMEM);
bad:
	memset(out, 0, sizeof(*out));
	return r;
}

/* ------------------------------------------------------------------ */
/* Verification */

int
jose_jws_verify(const struct jose_jws *jws, const struct jose_key *key,
    unsigned allowed, enum jose_reason *why)
{
	jose_set_why(why, JOSE_R_OK);
	if (jws == NULL || jws->header == NULL || key == NULL)
		return fail(why, JOSE_R_MALFORMED, MANDATE_EINVAL);
	if (jws->alg == JOSE_ALG_UNKNOWN ||
	    !(allowed & JOSE_ALG_BIT(jws->alg)))
		return fail(why, JOSE_R_ALG_NOT_ALLOWED, MANDATE_EINVAL);
	return jose_verify_raw(key, jws->alg,
	    (const uint8_t *)jws->signing_input.p, jws->signing_input.n,
	    (const uint8_t *)jws->sig.p, jws->sig.n, why);
}

int
jose_jws_verify_set(const struct jose_jws *jws,
    const struct jose_keyset *set, unsigned allowed, enum jose_reason *why)
{
	const struct jose_key *key;

	jose_set_why(why, JOSE_R_OK);
	if (jws == NULL || jws->header == NULL || set == NULL)
		return fail(why, JOSE_R_MALFORMED, MANDATE_EINVAL);
	if (jws->kid.n > 0)
		key = jose_keyset_find(set, jws->kid);
	else
		key = jose_keyset_count(set) == 1 ? jose_keyset_key(set, 0) :
		    NULL;
	if (key == NULL)
		return fail(why, JOSE_R_KID_UNKNOWN, MANDATE_EINVAL);
	return jose_jws_verify(jws, key, allowed, why);
}

int
jose_jws_header_jwk(const struct jose_jws *jws, struct jose_key **out,
    enum jose_reason *why)
{
	const struct ajson *v;

	*out = NULL;
	if (jws == NULL || jws->header == NULL ||
	    (v = ajson_get(jws->header, "jwk")) == NULL)
		return fail(why, JOSE_R_KEY_JSON, MANDATE_EINVAL);
	return jose_key_from_ajson(v, 0, out, why);
}

/* ------------------------------------------------------------------ */
/* Signing */

static bool
header_string_ok(struct str s)
{
	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];

		if (c < 0x20 || c > 0x7e || c == '"' || c == '\\')
			return false;
	}
	return true;
}

/* Append to a bounded buffer; false when it does not fit. */
static bool
put(char *buf, size_t cap, size_t *o, const char *p, size_t n)
{
	if (n > cap - *o)
		return false;
	memcpy(buf + *o, p, n);
	*o += n;
	return true;
}

int
jose_jws_sign(struct arena *a, const struct jose_key *key,
    enum jose_alg alg, const struct jose_sign_opts *opts,
    struct str payload, struct str *out)
{
	static const struct jose_sign_opts no_opts;
	EVP_MD_CTX *mctx = NULL;
	ECDSA_SIG *es = NULL;
	struct str kid, jwk = STR_NULL, h64, p64, s64;
	char *hdr = NULL, *tok = NULL;
	size_t hcap, ho = 0, sig_len = 0, tlen;
	uint8_t sig[160], p1363[64];
	const uint8_t *sigp = sig;
	int r = MANDATE_EINVAL;

	*out = STR_NULL;
	if (opts == NULL)
		opts = &no_opts;
	if (key == NULL || !key->has_private ||
	    !(jose_key_algs(key) & JOSE_ALG_BIT(alg)) ||
	    (alg != JOSE_ALG_ES256 && alg != JOSE_ALG_EDDSA))
		goto out;
	kid = opts->kid.n > 0 ? opts->kid : jose_key_kid(key);
	if (opts->omit_kid)
		kid = STR_NULL;
	if (!header_string_ok(kid) || !header_string_ok(opts->typ))
		goto out;
	if (opts->embed_jwk && (r = jose_key_public_jwk(key, a, &jwk)) !=
	    MANDATE_OK)
		goto out;
	r = MANDATE_ENOMEM;
	hcap = 64 + kid.n + opts->typ.n + jwk.n;
	if ((hdr = arena_alloc(a, hcap)) == NULL)
		goto out;
	r = MANDATE_EINTERNAL;
	if (!put(hdr, hcap, &ho, "{\"alg\":\"", 8) ||
	    !put(hdr, hcap, &ho, jose_alg_name(alg),
	    strlen(jose_alg_name(alg))) || !put(hdr, hcap, &ho, "\"", 1))
		goto out;
	if (opts->typ.n > 0 && (!put(hdr, hcap, &ho, ",\"typ\":\"", 8) ||
	    !put(hdr, hcap, &ho, opts->typ.p, opts->typ.n) ||
	    !put(hdr, hcap, &ho, "\"", 1)))
		goto out;
	if (kid.n > 0 && (!put(hdr, hcap, &ho, ",\"kid\":\"", 8) ||
	    !put(hdr, hcap, &ho, kid.p, kid.n) ||
	    !put(hdr, hcap, &ho, "\"", 1)))
		goto out;
	if (jwk.n > 0 && (!put(hdr, hcap, &ho, ",\"jwk\":", 7) ||
	    !put(hdr, hcap, &ho, jwk.p, jwk.n)))
		goto out;
	if (!put(hdr, hcap, &ho, "}", 1))
		goto out;
	if ((r = jose_b64url_encode_a(a, hdr, ho, &h64)) != MANDATE_OK ||
	    (r = jose_b64url_encode_a(a, payload.p, payload.n, &p64)) !=
	    MANDATE_OK)
		goto out;
	/* room for the signature's encoding (at most 64 bytes -> 86) */
	tlen = h64.n + 1 + p64.n + 1 + 86 + 1;
	r = MANDATE_ENOMEM;
	if ((tok = arena_alloc(a, tlen)) == NULL ||
	    (mctx = EVP_MD_CTX_new()) == NULL)
		goto out;
	memcpy(tok, h64.p, h64.n);
	tok[h64.n] = '.';
	memcpy(tok + h64.n + 1, p64.p, p64.n);
	r = MANDATE_EINTERNAL;
	sig_len = sizeof(sig);
	if ((key->ec_sign != NULL ? EVP_MD_CTX_copy_ex(mctx, key->ec_sign) :
	    EVP_DigestSignInit_ex(mctx, NULL, alg == JOSE_ALG_ES256 ?
	    "SHA256" : NULL, NULL, NULL, key->pkey, NULL)) != 1)
		goto out;
	/* used once: the final step need not keep a copy of the state */
	EVP_MD_CTX_set_flags(mctx, EVP_MD_CTX_FLAG_FINALISE);
	if (EVP_DigestSign(mctx, sig, &sig_len, (const uint8_t *)tok,
	    h64.n + 1 + p64.n) != 1)
		goto out;
	if (alg == JOSE_ALG_ES256) {
		const unsigned char *dp = sig;
		const BIGNUM *er, *esv;

		if ((es = d2i_ECDSA_SIG(NULL, &dp, (long)sig_len)) == NULL)
			goto out;
		ECDSA_SIG_get0(es, &er, &esv);
		if (BN_bn2binpad(er, p1363, 32) != 32 ||
		    BN_bn2binpad(esv, p1363 + 32, 32) != 32)
			goto out;
		sigp = p1363;
		sig_len = 64;
	}
	if ((r = jose_b64url_encode_a(a, sigp, sig_len, &s64)) != MANDATE_OK)
		goto out;
	tok[h64.n + 1 + p64.n] = '.';
	memcpy(tok + h64.n + 2 + p64.n, s64.p, s64.n);
	tok[h64.n + 2 + p64.n + s64.n] = '\0';
	*out = str_make(tok, h64.n + 2 + p64.n + s64.n);
	r = MANDATE_OK;
out:
	ECDSA_SIG_free(es);
	EVP_MD_CTX_free(mctx);
	return r;
}

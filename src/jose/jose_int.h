/*
 * jose_int.h - what the jose_*.c files share: the key structure, the raw
 * signature primitive (also driven directly by the Wycheproof test) and
 * small helpers.  Not part of the module's interface.
 */
#ifndef MANDATE_JOSE_INT_H
#define MANDATE_JOSE_INT_H

#include <stdatomic.h>

#include <openssl/evp.h>

#include "jose/jose.h"
#include "util/json.h"

/* Longest base64url member of a JWK we keep (RSA 16384-bit n). */
#define JOSE_RSA_MAX_BITS 16384
#define JOSE_JSON_DEPTH 16

enum jose_crv { JOSE_CRV_NONE = 0, JOSE_CRV_P256, JOSE_CRV_P384,
	JOSE_CRV_P521, JOSE_CRV_ED25519 };

struct jose_key {
	atomic_long refs;
	enum jose_kty kty;
	enum jose_crv crv;
	enum jose_alg alg;          /* from the JWK, or UNKNOWN */
	bool has_private;
	EVP_PKEY *pkey;
	/*
	 * EC keys: a digest-verify (and with the private part a
	 * digest-sign) context set up once for the curve's hash, copied for
	 * every signature instead of set up again: OpenSSL 3's
	 * EVP_Digest{Sign,Verify}Init looks the algorithms up by name each
	 * time, which cost about as much as a fifth of the verification.
	 * Never used in place (copies only), so shared by threads.
	 */
	EVP_MD_CTX *ec_verify, *ec_sign;
	/* public members, base64url, NUL-terminated, malloc'd */
	char *x, *y;                /* EC (x, y), OKP (x) */
	char *n, *e;                /* RSA */
	char *kid;                  /* NUL-terminated; kid_len may be 0 */
	size_t kid_len;
};

/* Field size in bytes of an EC curve (32, 48, 66), 0 otherwise. */
size_t jose_crv_len(enum jose_crv crv);

/*
 * Check sig over msg with key and alg: exactly the JWS rules (alg must
 * fit the key; ECDSA signatures are P1363 r||s of exactly twice the field
 * size; PSS salt = hash length).  MANDATE_OK or MANDATE_EINVAL (why set).
 */
int jose_verify_raw(const struct jose_key *key, enum jose_alg alg,
    const uint8_t *msg, size_t msg_len, const uint8_t *sig, size_t sig_len,
    enum jose_reason *why);

/* A key from a parsed JWK object. */
int jose_key_from_ajson(const struct ajson *jwk, unsigned flags,
    struct jose_key **out, enum jose_reason *why);

static inline void
jose_set_why(enum jose_reason *why, enum jose_reason r)
{
	if (why != NULL)
		*why = r;
}

#endif

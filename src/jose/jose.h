/*
 * jose.h - JOSE for Mandate: base64url, JSON Web Keys and key sets, JWS
 * compact signing and verification, and JWT claim checks (RFC 7515,
 * 7517, 7518, 7519, 7638, 8037), on OpenSSL 3's EVP interface only.
 *
 * Security contract.  Every function fails closed: any error means "not
 * valid".  Verification never follows jku/x5u, never accepts "none" or
 * HMAC, and uses only the algorithms the caller allows AND the key's type
 * supports.  Where a function takes `enum jose_reason *why` (may be NULL)
 * it stores the precise internal reason for logs; callers must tell the
 * outside world only "invalid".  Return values are enum mandate_status:
 * MANDATE_OK, MANDATE_EINVAL for anything invalid/unverifiable,
 * MANDATE_ELIMIT for size limits, MANDATE_ENOMEM, MANDATE_EIO.
 *
 * Threads.  struct jose_key and struct jose_keyset are immutable after
 * creation and reference counted (atomically): any number of threads may
 * verify or sign with one key, or look keys up in one set, at the same
 * time.  Parsed tokens (struct jose_jws) live in the caller's arena and
 * belong to one thread.
 *
 * Ownership.  Functions that create a key/keyset hand back one reference;
 * drop it with jose_key_unref()/jose_keyset_unref().  A key borrowed from
 * a set lives as long as the set (take a reference to keep it longer).
 * Output text goes to the caller's arena unless said otherwise; secret
 * output (PEM private keys) is malloc'd and must be released with
 * jose_secret_free(), which wipes it.  Out-parameters are NULL/empty on
 * error.
 */
#ifndef MANDATE_JOSE_H
#define MANDATE_JOSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "util/arena.h"
#include "util/str.h"

/* ------------------------------------------------------------------ */
/* Reasons (for logs only) */

enum jose_reason {
	JOSE_R_OK = 0,
	JOSE_R_NOMEM,
	JOSE_R_INTERNAL,           /* OpenSSL failed unexpectedly */
	JOSE_R_TOO_LARGE,          /* input over its size limit */
	JOSE_R_MALFORMED,          /* not three dot-separated parts, etc. */
	JOSE_R_BASE64,             /* bad base64url */
	JOSE_R_HEADER_JSON,        /* header not a JSON object */
	JOSE_R_HEADER_ALG,         /* alg missing, not a string, unknown */
	JOSE_R_HEADER_FIELD,       /* kid/typ/crit/b64... of the wrong type */
	JOSE_R_CRIT,               /* crit names an extension we do not know */
	JOSE_R_B64_FALSE,          /* unencoded payload (RFC 7797) */
	JOSE_R_ALG_NOT_ALLOWED,    /* not in the caller's allow-list */
	JOSE_R_ALG_KEY_MISMATCH,   /* alg does not fit the key type/curve */
	JOSE_R_SIG_LENGTH,         /* signature of the wrong length */
	JOSE_R_SIG_INVALID,        /* the signature does not verify */
	JOSE_R_KEY_JSON,           /* JWK/JWKS text not valid JSON/shape */
	JOSE_R_KEY_TYPE,           /* unsupported kty/crv */
	JOSE_R_KEY_PARAM,          /* missing or malformed key member */
	JOSE_R_KEY_WEAK,           /* RSA modulus under 2048 bits, bad e */
	JOSE_R_KEY_INVALID,        /* point not on curve, d mismatch */
	JOSE_R_KEY_PRIVATE,        /* private member where not asked for,
	                            * or missing where needed */
	JOSE_R_KID_UNKNOWN,        /* no key in the set for this kid */
	JOSE_R_KID_DUPLICATE,      /* a set holds the same kid twice */
	JOSE_R_PAYLOAD_JSON,       /* payload not a JSON object */
	JOSE_R_CLAIM_TYPE,         /* exp/nbf/iat/iss/aud of the wrong type */
	JOSE_R_EXP_MISSING,
	JOSE_R_EXPIRED,
	JOSE_R_NOT_YET_VALID,      /* nbf in the future beyond leeway */
	JOSE_R_IAT_FUTURE,         /* iat in the future beyond leeway */
	JOSE_R_ISS,                /* issuer missing or different */
	JOSE_R_AUD,                /* audience missing or not included */
	JOSE_R_TYP,                /* typ header not as required */
	JOSE_R_PEM,                /* PEM text unreadable */
	JOSE_R_IAT_MISSING,        /* iat required but absent */
	JOSE_R_IAT_STALE,          /* iat older than the allowed age */
	JOSE_R__COUNT
};

/* Static text for a reason ("expired", ...); never NULL. */
const char *jose_reason_str(enum jose_reason r);

/* ------------------------------------------------------------------ */
/* base64url (RFC 4648 section 5), strict: no padding, no whitespace,
 * only the URL-safe alphabet, trailing bits must be zero, length mod 4
 * never 1. */

/* Encoded length of n bytes (no padding). */
size_t jose_b64url_len(size_t n);

/* Encode n bytes into out (room for jose_b64url_len(n) + 1 bytes; a
 * NUL is written after the text).  Returns the text length, or
 * (size_t)-1 when out_cap is too small. */
size_t jose_b64url_encode(const void *in, size_t n, char *out,
    size_t out_cap);

/* Decode n characters into out (room for at least n * 3 / 4 bytes).
 * MANDATE_OK with *out_len set, or MANDATE_EINVAL for any bad input or
 * MANDATE_ELIMIT when out_cap is too small. */
int jose_b64url_decode(const char *in, size_t n, uint8_t *out,
    size_t out_cap, size_t *out_len);

/* Arena helpers: encode into a NUL-terminated arena string; decode into
 * arena bytes (NUL-terminated too, not counted). */
int jose_b64url_encode_a(struct arena *a, const void *in, size_t n,
    struct str *out);
int jose_b64url_decode_a(struct arena *a, const char *in, size_t n,
    struct str *out);

/* ------------------------------------------------------------------ */
/* Algorithms */

enum jose_alg {
	JOSE_ALG_UNKNOWN = 0,
	JOSE_ALG_ES256, JOSE_ALG_ES384, JOSE_ALG_ES512,
	JOSE_ALG_RS256, JOSE_ALG_RS384, JOSE_ALG_RS512,
	JOSE_ALG_PS256, JOSE_ALG_PS384, JOSE_ALG_PS512,
	JOSE_ALG_EDDSA,
	JOSE_ALG__COUNT
};

/* Allow-lists are bit sets of JOSE_ALG_BIT(alg). */
#define JOSE_ALG_BIT(a) (1u << (unsigned)(a))
#define JOSE_ALGS_EC (JOSE_ALG_BIT(JOSE_ALG_ES256) | \
    JOSE_ALG_BIT(JOSE_ALG_ES384) | JOSE_ALG_BIT(JOSE_ALG_ES512))
#define JOSE_ALGS_RSA (JOSE_ALG_BIT(JOSE_ALG_RS256) | \
    JOSE_ALG_BIT(JOSE_ALG_RS384) | JOSE_ALG_BIT(JOSE_ALG_RS512) | \
    JOSE_ALG_BIT(JOSE_ALG_PS256) | JOSE_ALG_BIT(JOSE_ALG_PS384) | \
    JOSE_ALG_BIT(JOSE_ALG_PS512))
#define JOSE_ALGS_ALL (JOSE_ALGS_EC | JOSE_ALGS_RSA | \
    JOSE_ALG_BIT(JOSE_ALG_EDDSA))

/* "ES256", ...; "unknown" for JOSE_ALG_UNKNOWN. */
const char *jose_alg_name(enum jose_alg alg);
/* The algorithm of a name (exact, case-sensitive), or JOSE_ALG_UNKNOWN
 * (also for "none" and "HS256"). */
enum jose_alg jose_alg_from_name(struct str name);

/* ------------------------------------------------------------------ */
/* Keys */

enum jose_kty { JOSE_KTY_EC = 1, JOSE_KTY_RSA, JOSE_KTY_OKP };

struct jose_key;

/* Accept and load the private members (EC/OKP "d") of a JWK.  Without
 * it a JWK carrying private members is refused (JOSE_R_KEY_PRIVATE). */
#define JOSE_JWK_PRIVATE 0x1u

/* Largest JWK / JWKS text accepted. */
#define JOSE_JWK_MAX_LEN (64u * 1024)
#define JOSE_JWKS_MAX_LEN (1024u * 1024)
#define JOSE_JWKS_MAX_KEYS 256

/* A key from one JWK object (RFC 7517/7518/8037): kty EC (P-256, P-384,
 * P-521), RSA (n, e; at least 2048 bits), OKP (Ed25519); optional kid,
 * alg, use.  The key is checked (point on curve, private matches public). */
int jose_key_from_jwk(const char *json, size_t len, unsigned flags,
    struct jose_key **out, enum jose_reason *why);

/* A fresh P-256 key pair for ES256, with the given kid (may be empty). */
int jose_key_generate_es256(struct str kid, struct jose_key **out);

/* A private key from PEM (PKCS#8 "PRIVATE KEY"; the traditional EC and
 * RSA forms are read too; encrypted keys are refused).  Types as for
 * JWKs.  kid may be empty. */
int jose_key_from_pem(const char *pem, size_t len, struct str kid,
    struct jose_key **out, enum jose_reason *why);

/* The private key as unencrypted PKCS#8 PEM, malloc'd (release with
 * jose_secret_free).  Writing it with mode 0600 is the caller's job. */
int jose_key_to_pem(const struct jose_key *key, char **out,
    size_t *out_len);

/* Wipe and free a secret returned by this module; NULL is fine. */
void jose_secret_free(char *p, size_t len);

struct jose_key *jose_key_ref(struct jose_key *key);
void jose_key_unref(struct jose_key *key);   /* NULL is fine */

enum jose_kty jose_key_kty(const struct jose_key *key);
struct str jose_key_kid(const struct jose_key *key);    /* may be empty */
/* The JWK's "alg", or JOSE_ALG_UNKNOWN when it had none. */
enum jose_alg jose_key_alg(const struct jose_key *key);
bool jose_key_has_private(const struct jose_key *key);
/* The algorithms this key can verify (EC keys: the one of their curve;
 * RSA keys: RS* and PS*; Ed25519: EdDSA), narrowed to the JWK's alg
 * when it named one. */
unsigned jose_key_algs(const struct jose_key *key);

/* The public JWK as compact JSON text (kty, crv, x, y / n, e, then kid
 * and alg when set), in the arena. */
int jose_key_public_jwk(const struct jose_key *key, struct arena *a,
    struct str *out);

#define JOSE_THUMBPRINT_LEN 43

/* base64url of the SHA-256 of n bytes (43 characters and a NUL): the
 * DPoP "ath" of an access token, or a cache key for a verified token. */
int jose_sha256_b64url(const void *data, size_t n,
    char out[JOSE_THUMBPRINT_LEN + 1]);

/* RFC 7638 SHA-256 thumbprint, base64url: out gets 43 characters and a
 * NUL (room for JOSE_THUMBPRINT_LEN + 1). */
int jose_key_thumbprint(const struct jose_key *key,
    char out[JOSE_THUMBPRINT_LEN + 1]);

/* ------------------------------------------------------------------ */
/* Key sets (JWKS, SPIFFE bundles) */

struct jose_keyset;

/*
 * Parse a JWK Set: an object with a "keys" array.  Entries whose kty,
 * crv or "use" we do not support (use other than absent, "sig" or
 * "jwt-svid") are skipped, as SPIFFE requires, and counted; an entry of
 * a supported kind that is malformed or weak is skipped too (it can never
 * verify anything).  Private members in an entry make the whole set
 * invalid.  Two usable keys with the same kid make the set invalid.
 * The SPIFFE bundle members spiffe_sequence and spiffe_refresh_hint are
 * kept when present (integers).
 */
int jose_keyset_parse(const char *json, size_t len,
    struct jose_keyset **out, enum jose_reason *why);

struct jose_keyset *jose_keyset_ref(struct jose_keyset *set);
void jose_keyset_unref(struct jose_keyset *set);   /* NULL is fine */

size_t jose_keyset_count(const struct jose_keyset *set);
size_t jose_keyset_skipped(const struct jose_keyset *set);
struct jose_key *jose_keyset_key(const struct jose_keyset *set,
    size_t i);
/* The key with this kid, or NULL; borrowed (jose_key_ref to keep it). */
struct jose_key *jose_keyset_find(const struct jose_keyset *set,
    struct str kid);
/* SPIFFE members: true and *v set when present. */
bool jose_keyset_spiffe_sequence(const struct jose_keyset *set,
    int64_t *v);
bool jose_keyset_spiffe_refresh_hint(const struct jose_keyset *set,
    int64_t *v);

/* ------------------------------------------------------------------ */
/* JWS compact serialisation */

#define JOSE_JWS_MAX_LEN (16u * 1024)

/* A parsed (not yet verified) JWS; everything in the caller's arena. */
struct jose_jws {
	enum jose_alg alg;
	struct str alg_name;          /* as written */
	struct str kid;               /* empty when absent */
	struct str typ;               /* empty when absent */
	bool has_typ;
	bool has_jwk;                 /* header carries "jwk" (DPoP) */
	const void *header;           /* const struct ajson * (object) */
	struct str header_json;       /* decoded header text */
	struct str payload;           /* decoded payload bytes */
	struct str signing_input;     /* "b64(header).b64(payload)" */
	struct str sig;               /* decoded signature bytes */
};

/*
 * Parse a compact JWS of len bytes (max_len 0 means JOSE_JWS_MAX_LEN).
 * The header must be a JSON object with a string "alg" naming a
 * supported algorithm; "crit" is refused (we understand no extension),
 * "b64": false is refused, jku/x5u are ignored (never fetched).  The
 * token text must outlive *out (signing_input points into it).
 */
int jose_jws_parse(struct arena *a, const char *token, size_t len,
    size_t max_len, struct jose_jws *out, enum jose_reason *why);

/* Verify a parsed JWS with one key.  allowed is a JOSE_ALG_BIT set; the
 * header's alg must be in it and in jose_key_algs(key). */
int jose_jws_verify(const struct jose_jws *jws, const struct jose_key *key,
    unsigned allowed, enum jose_reason *why);

/* Verify with a set: the key named by the header's kid; without a kid,
 * only when the set holds exactly one key. */
int jose_jws_verify_set(const struct jose_jws *jws,
    const struct jose_keyset *set, unsigned allowed, enum jose_reason *why);

/* The header's "jwk" as a public key (for DPoP proofs), or an error when
 * absent, private or malformed. */
int jose_jws_header_jwk(const struct jose_jws *jws, struct jose_key **out,
    enum jose_reason *why);

struct jose_sign_opts {
	struct str typ;       /* "typ" header; empty to omit */
	struct str kid;       /* "kid" header; empty = the key's kid, if any */
	bool embed_jwk;       /* put the public JWK in the header (DPoP) */
	bool omit_kid;        /* never write a kid */
};

/* Sign payload with a private key: alg must be ES256 (P-256 key) or
 * EdDSA (Ed25519 key).  Header strings must be printable ASCII.  The
 * compact JWS goes to the arena (NUL-terminated). */
int jose_jws_sign(struct arena *a, const struct jose_key *key,
    enum jose_alg alg, const struct jose_sign_opts *opts,
    struct str payload, struct str *out);

/* ------------------------------------------------------------------ */
/* JWT claims */

struct jose_jwt_rules {
	int64_t now;              /* seconds since the epoch */
	int64_t leeway;           /* seconds of clock skew tolerated (>= 0) */
	bool exp_optional;        /* exp may be absent */
	bool iat_required;        /* iat must be present (DPoP proofs) */
	int64_t iat_max_age;      /* > 0: iat must be no older than this many
	                           * seconds (plus leeway): the DPoP window */
	struct str iss;           /* required issuer; .p == NULL: no check */
	struct str aud;           /* required audience; .p == NULL: no check */
	/* typ: accepted values (compared case-insensitively, with an
	 * optional "application/" prefix), NULL-terminated; NULL: no check.
	 * typ_absent_ok accepts a token without typ. */
	const char *const *typ;
	bool typ_absent_ok;
};

/* Typical typ lists. */
extern const char *const jose_typ_at_jwt[];     /* "at+jwt" */
extern const char *const jose_typ_dpop_jwt[];   /* "dpop+jwt" */
extern const char *const jose_typ_jwt_svid[];   /* "JWT", "JOSE" (+ absent) */

struct jose_claims {
	const void *obj;          /* const struct ajson * (the payload) */
	bool has_exp, has_nbf, has_iat;
	int64_t exp, nbf, iat;    /* floored NumericDate */
	struct str iss, sub, jti; /* empty when absent */
};

/* Check the claims of a (verified) JWS against the rules; *out filled on
 * success.  Decoding allocates from the arena. */
int jose_jwt_check(struct arena *a, const struct jose_jws *jws,
    const struct jose_jwt_rules *rules, struct jose_claims *out,
    enum jose_reason *why);

/* The whole path for a bearer JWT: parse (max_len 0 = default), verify
 * with the set (kid lookup, allow-list), then check the claims.  On
 * success *jws and *claims describe the token; on failure both are
 * zeroed and *why says which step refused it. */
int jose_jwt_verify(struct arena *a, const char *token, size_t len,
    size_t max_len, const struct jose_keyset *set, unsigned allowed,
    const struct jose_jwt_rules *rules, struct jose_jws *jws,
    struct jose_claims *claims, enum jose_reason *why);

#endif

/*
 * identity.h - workload identity verification for the daemon: one
 * verifier for every trusted issuer of the configuration (OIDC issuers,
 * Kubernetes service-account tokens among them, and SPIFFE trust
 * domains), which turns a JWT (OIDC token or JWT-SVID) or an X.509-SVID
 * chain into a verified principal.
 *
 * Key sources, per issuer: a JWKS file, a JWKS URL, OIDC discovery
 * ({issuer}/.well-known/openid-configuration, whose "issuer" must equal
 * the configured one, then its jwks_uri), or a SPIFFE trust bundle (file
 * or URL: "use":"jwt-svid" keys with a kid verify JWT-SVIDs, "use":"x509-svid" keys
 * with x5c are the CAs for X.509-SVIDs, next to x509_ca_file).  URLs are
 * fetched with libcurl, never following redirects, within a time limit
 * and JOSE_JWKS_MAX_LEN bytes; only https is allowed, except plain http
 * to a loopback host (127.0.0.0/8, ::1, localhost) for tests and local
 * development.
 *
 * Refresh is lazy, on the request path: a verification that finds the
 * issuer's set due (jwks_refresh seconds, or the SPIFFE refresh hint:
 * the configured refresh_hint, else the bundle's spiffe_refresh_hint
 * bounded to [5 s, jwks_max_stale / 2]) fetches it again (files are
 * re-read too, so a rotated file is picked up), one thread per issuer
 * at a time (the others go on with the current set); an unknown kid
 * triggers a refresh at most once per kid_refresh_min (default
 * IDENTITY_KID_REFRESH_MIN) seconds per issuer.  A failed fetch keeps
 * the last good set until jwks_max_stale seconds after its last
 * successful fetch; from then on every token of that issuer is rejected
 * (fail closed) until a fetch succeeds.  Optionally identity_start()
 * runs a background thread that does the scheduled refreshes instead, so
 * that no request waits on one (an unknown kid still fetches on the
 * request path, rate-limited); identity_stop() ends it.
 * identity_refresh() forces a refresh (for a SIGHUP, say).
 *
 * Threads: after identity_new() returns, every function below may be
 * called from any number of threads at once on one verifier, except
 * identity_free().
 *
 * Verified-token cache: keyed by the SHA-256 of the token bytes, an
 * entry lives until the token's exp, at most token_cache_size entries
 * (least recently used evicted; 0 disables the cache).  When an issuer's
 * key set changes, its generation is bumped and every token cached under
 * the previous set is verified afresh; a stale issuer rejects cached
 * tokens too, and while a refresh is due (e.g. during an outage) tokens
 * are verified afresh rather than answered from the cache.
 *
 * Errors: MANDATE_OK, or MANDATE_EINVAL for every rejected token or chain
 * whatever the check that failed (callers tell the client only "failed";
 * the reason out-parameter is for the log), MANDATE_ENOMEM,
 * MANDATE_EINTERNAL.  On error the principal is zeroed.
 */
#ifndef MANDATE_IDENTITY_H
#define MANDATE_IDENTITY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "util/arena.h"
#include "util/str.h"

#define IDENTITY_SPIFFE_ID_MAX 2048     /* bytes, scheme included */
#define IDENTITY_KID_REFRESH_MIN 30     /* seconds, default */
#define IDENTITY_MAX_CHAIN 16           /* certificates in an X.509 chain */
#define IDENTITY_MAX_CERT (64u * 1024)  /* bytes per DER certificate */

/* Why a verification failed; for logs only. */
enum identity_reason {
	IDENTITY_R_OK = 0,
	IDENTITY_R_NOMEM,
	IDENTITY_R_INTERNAL,
	IDENTITY_R_TOO_LARGE,        /* token over the size limit */
	IDENTITY_R_MALFORMED,        /* not a parseable JWS/JWT */
	IDENTITY_R_UNKNOWN_ISSUER,   /* iss / trust domain not configured */
	IDENTITY_R_NO_KEYS,          /* issuer has never had a key set */
	IDENTITY_R_STALE,            /* key set older than jwks_max_stale */
	IDENTITY_R_ALG,              /* alg not allowed for this issuer */
	IDENTITY_R_KID,              /* unknown kid, or no kid and not one key */
	IDENTITY_R_SIGNATURE,        /* the signature does not verify */
	IDENTITY_R_EXPIRED,          /* exp passed, or missing */
	IDENTITY_R_NOT_YET_VALID,    /* nbf in the future */
	IDENTITY_R_IAT,              /* iat in the future */
	IDENTITY_R_ISS,              /* iss differs from the issuer */
	IDENTITY_R_AUD,              /* no accepted audience */
	IDENTITY_R_TYP,              /* typ header not allowed */
	IDENTITY_R_CLAIMS,           /* claim of the wrong type, no sub */
	IDENTITY_R_SPIFFE_ID,        /* sub / URI SAN not a valid SPIFFE ID */
	IDENTITY_R_TRUST_DOMAIN,     /* SPIFFE ID of another trust domain */
	IDENTITY_R_X509_PARSE,       /* a certificate does not parse */
	IDENTITY_R_X509_CHAIN,       /* chain does not verify to the CAs */
	IDENTITY_R_X509_SAN,         /* not exactly one URI SAN */
	IDENTITY_R_X509_LEAF,        /* leaf is a CA or has bad key usage */
	IDENTITY_R_SPIFFE_SUBJECT,   /* OIDC token whose sub is a spiffe: URI */
	IDENTITY_R_SUBJECT_PREFIX,   /* sub without the subject_prefix its
	                              * issuer's tokens must carry */
	IDENTITY_R_FOREIGN_PREFIX,   /* sub of the issuer without a prefix
	                              * that begins another's subject_prefix */
	IDENTITY_R__COUNT
};

/* Static text ("expired", ...); never NULL. */
const char *identity_reason_str(enum identity_reason r);

enum identity_kind {
	IDENTITY_KIND_OIDC = 1,
	IDENTITY_KIND_SPIFFE,
};

/* A verified principal.  Every string is NUL-terminated and lives in
 * the arena passed to the verify call; empty (.n == 0) when absent. */
struct identity_principal {
	enum identity_kind kind;
	struct str issuer_name;       /* the issuer's name (borrowed from
	                               * the configuration, not the arena) */
	struct str issuer;            /* the token's iss (may be empty) */
	struct str subject;           /* the principal: the SPIFFE ID, or
	                               * the issuer's subject_prefix + the
	                               * OIDC sub (see identity_verify_jwt) */
	struct str trust_domain;      /* SPIFFE only */
	int64_t exp;                  /* JWT exp, or the leaf's notAfter */
	struct str claims_json;       /* the JWT payload; empty for X.509 */
	/* Kubernetes service-account tokens ("kubernetes.io" claim) */
	struct str k8s_namespace;
	struct str k8s_service_account;
	bool from_cache;              /* answered by the token cache */
};

enum identity_log_level {
	IDENTITY_LOG_DEBUG = 0,
	IDENTITY_LOG_INFO,
	IDENTITY_LOG_WARN,
	IDENTITY_LOG_ERROR,
};

/* Hooks and tunables; a NULL struct or zero fields take the defaults. */
struct identity_opts {
	/* The clock that schedules refreshes and measures staleness
	 * (seconds since the epoch); NULL: time(NULL).  Token times are
	 * checked against the `now` given to each verify call. */
	int64_t (*clock)(void *arg);
	/* Log lines (fetch failures, rotations); called from any thread.
	 * NULL: no log. */
	void (*log)(void *arg, enum identity_log_level level,
	    const char *msg);
	void *arg;
	long fetch_timeout_ms;        /* whole transfer; 0: 10000 */
	int64_t kid_refresh_min;      /* 0: IDENTITY_KID_REFRESH_MIN */
};

struct identity_verifier;

/*
 * Build a verifier for cfg->issuers.  `cfg` is borrowed and must outlive
 * the verifier (it is immutable: the daemon's struct config).  Issuers
 * that could name the same principal are refused (MANDATE_EINVAL, with a
 * log line), whatever made the configuration: two oidc issuers without
 * a subject_prefix, two prefixes of which one begins the other, a prefix
 * that could begin a SPIFFE ID (config_parse says the same to the
 * operator, with the location).  A key set
 * with more usable keys than cfg->jwks_cache_size (when not 0) is
 * refused, like a malformed one.  Key files
 * and CA files must load (MANDATE_EIO / MANDATE_EINVAL otherwise, with
 * a log line); key URLs are tried once, and an issuer whose first fetch
 * fails starts without keys (its tokens are rejected) and retries on the
 * next verification after IDENTITY_KID_REFRESH_MIN seconds.
 */
int identity_new(const struct config_identity *cfg,
    const struct identity_opts *opts, struct identity_verifier **out);

/* Free the verifier (NULL is fine; stops the refresher); no other call
 * may be running. */
void identity_free(struct identity_verifier *v);

/* Start the background refresher (checks every second which issuers are
 * due, by the clock hook).  MANDATE_EINVAL when already running,
 * MANDATE_EINTERNAL when the thread cannot start.  identity_stop() wakes
 * and joins it (waiting for a fetch in progress, at most the fetch
 * timeout); calling it when not running is fine.  Start and stop are not
 * meant to race each other (call them from the daemon's main thread). */
int identity_start(struct identity_verifier *v);
void identity_stop(struct identity_verifier *v);

/*
 * Verify a JWT (OIDC token or JWT-SVID) of len bytes at time `now`.
 * The issuer is chosen by the unverified iss (equal to an OIDC issuer's
 * `issuer`), else, for JWT-SVIDs, by the trust domain of the unverified
 * sub (a JWT-SVID's iss is not checked).  Checks: per-issuer size limit,
 * the issuer's algorithms (JWT-SVIDs: RS/ES/PS only; none and HS* never),
 * kid (no kid: only with exactly one key), signature, exp (required),
 * nbf, iat with the issuer's leeway, aud containing one of the issuer's
 * audiences, typ (JWT-SVID: absent, JWT or JOSE; OIDC: absent, JWT, JOSE
 * or at+jwt, so that a logout token or security event the issuer signed
 * is no identity, RFC 8725 3.11), sub (SPIFFE: a valid
 * SPIFFE ID with a path in the configured trust domain; OIDC: present,
 * and not a spiffe: URI in any case, IDENTITY_R_SPIFFE_SUBJECT).  So a
 * subject that is a SPIFFE ID was always vouched for by a SPIFFE issuer
 * of its own trust domain: an OIDC issuer, however trusted, cannot name
 * a workload, and comparing subjects as strings stays unambiguous for
 * SPIFFE IDs (an OIDC issuer matching the token's iss is chosen before
 * the trust domain of its sub, so a JWT-SVID carrying such an iss is
 * refused too: configure its trust domain as a spiffe issuer instead).
 *
 * An OIDC sub is unique only within its issuer (OIDC Core 5.7), so the
 * principal (out->subject) is the issuer's subject_prefix + sub: the
 * same sub from two issuers is two principals.  An issuer whose tokens
 * carry the prefix (subject_prefix_in_sub: the development people
 * issuer) must have it at the start of sub (IDENTITY_R_SUBJECT_PREFIX)
 * and the principal is sub as it is; the one oidc issuer without a
 * prefix may not name a sub that begins another issuer's prefix
 * (IDENTITY_R_FOREIGN_PREFIX).  Every principal therefore has one
 * issuer that can name it; callers compare principals as strings.
 * *out is filled from arena `a`; *why (may be NULL) gets the reason.
 */
int identity_verify_jwt(struct identity_verifier *v, const char *token,
    size_t len, int64_t now, struct arena *a,
    struct identity_principal *out, enum identity_reason *why);

/* One DER certificate. */
struct identity_der {
	const unsigned char *der;
	size_t len;
};

/*
 * Verify an X.509-SVID chain (leaf first, then intermediates; at most
 * IDENTITY_MAX_CHAIN) at time `now` against the CAs of the trust domain
 * named by the leaf's SPIFFE ID (x509_ca_file and the bundle's x509-svid
 * keys; each of them is a trust anchor, self-signed or not).  The leaf must have exactly one URI SAN, a valid SPIFFE ID with
 * a path, not be a CA, have keyUsage with digitalSignature and without
 * keyCertSign and cRLSign.  Not cached.
 */
int identity_verify_x509(struct identity_verifier *v,
    const struct identity_der *chain, size_t n, int64_t now,
    struct arena *a, struct identity_principal *out,
    enum identity_reason *why);

/* Drop a token from the cache (e.g. on revocation); true if it was
 * there. */
bool identity_cache_forget(struct identity_verifier *v, const char *token,
    size_t len);

struct identity_cache_stats {
	uint64_t hits, misses, inserts, evictions;
	size_t entries;
};
void identity_cache_stats(struct identity_verifier *v,
    struct identity_cache_stats *out);

/* Refresh the key set of every issuer with a URL source now (or only
 * the one named, when name is not NULL).  MANDATE_OK when every fetch
 * succeeded, MANDATE_EIO otherwise (the last good sets stay), or
 * MANDATE_ENOTFOUND for an unknown name. */
int identity_refresh(struct identity_verifier *v, const char *name);

/*
 * SPIFFE ID syntax (STANDARDS.md): "spiffe://" + trust domain of
 * [a-z0-9._-]+, then zero or more "/" + segment of [a-zA-Z0-9._-]+, no
 * segment "." or "..", no trailing "/", no port, userinfo, query or
 * fragment, at most IDENTITY_SPIFFE_ID_MAX bytes.  MANDATE_OK with td and
 * path (may be empty; starts with "/") pointing into s, or MANDATE_EINVAL
 * (td and path empty).  Either out-parameter may be NULL.
 */
int identity_spiffe_id_parse(const char *s, size_t n, struct str *td,
    struct str *path);

#endif

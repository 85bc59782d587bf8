/*
 * identity_int.h - private structures of the identity module: the
 * per-issuer key state, the verified-token cache and the fetcher.
 */
#ifndef MANDATE_IDENTITY_INT_H
#define MANDATE_IDENTITY_INT_H

#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdint.h>

#include <openssl/x509.h>

#include "identity/identity.h"
#include "jose/jose.h"

/* One trusted issuer.  `mu` guards the fields below it; `fetch_mu` is
 * held by the one thread that fetches (others trylock and move on). */
struct id_issuer {
	const struct config_issuer *cfg;
	size_t index;
	unsigned algs;                 /* jose JOSE_ALG_BIT set */
	bool remote;                   /* key source is a URL (else a file) */
	pthread_mutex_t fetch_mu;
	pthread_mutex_t mu;
	struct jose_keyset *keys;      /* NULL: never loaded */
	X509_STORE *x509;              /* NULL: no CA */
	unsigned char digest[32];      /* SHA-256 of the last fetched text */
	uint64_t generation;           /* bumped when the text changes */
	int64_t last_ok;               /* clock of the last good fetch */
	int64_t last_attempt;          /* clock of the last fetch attempt */
	int64_t refresh_every;         /* seconds */
};

struct id_cache_entry;

struct id_cache {
	pthread_mutex_t mu;
	size_t cap;                    /* 0: disabled */
	size_t n;
	size_t n_buckets;              /* power of two */
	struct id_cache_entry **buckets;
	struct id_cache_entry *lru_head, *lru_tail;   /* head: newest */
	uint64_t hits, misses, inserts, evictions;
};

struct identity_verifier {
	const struct config_identity *cfg;
	struct identity_opts opts;
	struct id_issuer *issuers;
	size_t n_issuers;
	size_t max_token;              /* largest per-issuer limit */
	struct id_cache cache;
	/* the optional background refresher */
	pthread_mutex_t bg_mu;
	pthread_cond_t bg_cv;
	pthread_t bg_thread;
	bool bg_stop;                  /* under bg_mu */
	atomic_bool bg_running;
};

/* Principal as kept in the cache: one malloc'd block. */
struct id_cached_principal {
	enum identity_kind kind;
	size_t issuer_index;
	uint64_t generation;
	int64_t exp;
	struct str issuer, subject, trust_domain, claims_json, k8s_ns, k8s_sa;
};

void id_log(const struct identity_verifier *v, enum identity_log_level l,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));
int64_t id_clock(const struct identity_verifier *v);

/* identity.c: the issuer's current key set and CA store (references;
 * store may be NULL when not wanted), refreshed first when due or when
 * kid_miss allows; fails closed (MANDATE_EINVAL, *why) when the issuer
 * has no keys or they are stale. */
int id_issuer_acquire(struct identity_verifier *v, struct id_issuer *is,
    bool kid_miss, struct jose_keyset **out, X509_STORE **store,
    uint64_t *gen, enum identity_reason *why);

/* fetch.c: read a key source (file or URL) into a malloc'd buffer of at
 * most JOSE_JWKS_MAX_LEN bytes; discovery resolves the jwks_uri first.
 * MANDATE_OK, MANDATE_EIO (any failure; a log line says why). */
int id_fetch_url(const struct identity_verifier *v, const char *url,
    char **out, size_t *out_len);
int id_fetch_source(const struct identity_verifier *v,
    const struct config_issuer *cfg, char **out, size_t *out_len);
bool id_url_allowed(const char *url);

/* cache.c */
int id_cache_init(struct id_cache *c, size_t cap);
void id_cache_fini(struct id_cache *c);
/* Copy the entry for key into *out (malloc'd; caller frees) when present
 * and exp > now; expired entries are dropped. */
bool id_cache_get(struct id_cache *c, const unsigned char key[32],
    int64_t now, struct id_cached_principal **out);
void id_cache_put(struct id_cache *c, const unsigned char key[32],
    const struct id_cached_principal *p);
bool id_cache_del(struct id_cache *c, const unsigned char key[32]);
struct id_cached_principal *id_cached_copy(
    const struct id_cached_principal *p);

/* x509.c: CAs from a PEM file and a bundle's x509-svid keys. */
int id_x509_store_build(const struct identity_verifier *v,
    const struct config_issuer *cfg, const char *bundle, size_t bundle_len,
    X509_STORE **out);

#endif

/*
 * identity.c - the verifier: trusted issuers and their key sets (load,
 * lazy refresh, staleness), JWT verification (OIDC tokens, Kubernetes
 * service-account tokens, JWT-SVIDs) and the use of the token cache.
 * The contract is in identity.h.
 */
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>

#include "identity/identity_int.h"
#include "util/json.h"
#include "util/status.h"

static const char *const reason_text[IDENTITY_R__COUNT] = {
	[IDENTITY_R_OK] = "ok",
	[IDENTITY_R_NOMEM] = "out of memory",
	[IDENTITY_R_INTERNAL] = "internal error",
	[IDENTITY_R_TOO_LARGE] = "token too large",
	[IDENTITY_R_MALFORMED] = "malformed token",
	[IDENTITY_R_UNKNOWN_ISSUER] = "unknown issuer",
	[IDENTITY_R_NO_KEYS] = "issuer has no keys",
	[IDENTITY_R_STALE] = "issuer keys past jwks_max_stale",
	[IDENTITY_R_ALG] = "algorithm not allowed",
	[IDENTITY_R_KID] = "no key for kid",
	[IDENTITY_R_SIGNATURE] = "bad signature",
	[IDENTITY_R_EXPIRED] = "expired or no exp",
	[IDENTITY_R_NOT_YET_VALID] = "not yet valid",
	[IDENTITY_R_IAT] = "issued in the future",
	[IDENTITY_R_ISS] = "wrong issuer",
	[IDENTITY_R_AUD] = "wrong audience",
	[IDENTITY_R_TYP] = "typ not allowed",
	[IDENTITY_R_CLAIMS] = "bad claims",
	[IDENTITY_R_SPIFFE_ID] = "bad SPIFFE ID",
	[IDENTITY_R_TRUST_DOMAIN] = "wrong trust domain",
	[IDENTITY_R_X509_PARSE] = "certificate does not parse",
	[IDENTITY_R_X509_CHAIN] = "certificate chain does not verify",
	[IDENTITY_R_X509_SAN] = "not exactly one URI SAN",
	[IDENTITY_R_X509_LEAF] = "leaf certificate not allowed",
	[IDENTITY_R_SPIFFE_SUBJECT] = "spiffe: subject from a non-SPIFFE "
	    "issuer",
	[IDENTITY_R_SUBJECT_PREFIX] = "sub without the issuer's "
	    "subject_prefix",
	[IDENTITY_R_FOREIGN_PREFIX] = "sub in another issuer's "
	    "subject_prefix",
};

const char *
identity_reason_str(enum identity_reason r)
{
	if ((unsigned)r >= IDENTITY_R__COUNT || reason_text[r] == NULL)
		return "unknown";
	return reason_text[r];
}

void
id_log(const struct identity_verifier *v, enum identity_log_level l,
    const char *fmt, ...)
{
	char buf[512];
	va_list ap;

	if (v->opts.log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	v->opts.log(v->opts.arg, l, buf);
}

int64_t
id_clock(const struct identity_verifier *v)
{
	if (v->opts.clock != NULL)
		return v->opts.clock(v->opts.arg);
	return (int64_t)time(NULL);
}

/* Seconds from then to now by the wall clock.  One set back since then
 * (an NTP step, a VM restored from a snapshot) gave a negative time, so
 * nothing was due or stale until the clock caught up: a key the issuer
 * had dropped stayed trusted that much longer.  How long it really was is
 * unknown: taken as long ago (a refresh is due, the set is stale until
 * one succeeds), the fail-closed side. */
static int64_t
id_since(int64_t now, int64_t then)
{
	return now >= then ? now - then : INT64_MAX;
}

static unsigned
jose_algs_of(unsigned config_algs, bool spiffe)
{
	unsigned a = 0;

	if (config_algs & CONFIG_ALG_ES256)
		a |= JOSE_ALG_BIT(JOSE_ALG_ES256);
	if (config_algs & CONFIG_ALG_ES384)
		a |= JOSE_ALG_BIT(JOSE_ALG_ES384);
	if (config_algs & CONFIG_ALG_RS256)
		a |= JOSE_ALG_BIT(JOSE_ALG_RS256);
	if (config_algs & CONFIG_ALG_PS256)
		a |= JOSE_ALG_BIT(JOSE_ALG_PS256);
	if ((config_algs & CONFIG_ALG_EDDSA) && !spiffe)
		a |= JOSE_ALG_BIT(JOSE_ALG_EDDSA);   /* not for JWT-SVIDs */
	return a;
}

/* ---- key sets ---- */

/*
 * A SPIFFE bundle's JWT-SVID keys: only entries with "use":"jwt-svid"
 * and a kid (the SPIFFE bundle format) go to the JWKS parser, copied as
 * their raw text into {"keys":[...]}; *hint gets spiffe_refresh_hint
 * (0 when absent or not a positive integer).  The result is malloc'd.
 */
static int
spiffe_jwt_keys(const char *text, size_t len, char **out, size_t *out_len,
    int64_t *hint)
{
	struct ajson_opts o = { .max_depth = 16,
	    .max_len = JOSE_JWKS_MAX_LEN };
	const struct ajson *doc = NULL, *keys, *h;
	struct arena a;
	char *buf = NULL;
	size_t n = 0;
	int r = MANDATE_EINVAL;

	*out = NULL;
	*out_len = 0;
	*hint = 0;
	arena_init(&a, 4u * 1024 * 1024);
	if (ajson_parse(&a, text, len, &o, &doc, NULL) != MANDATE_OK ||
	    !ajson_is(keys = ajson_get(doc, "keys"), AJSON_ARRAY))
		goto out;
	h = ajson_get(doc, "spiffe_refresh_hint");
	if (ajson_is(h, AJSON_NUMBER) && h->num_fits && h->u.i > 0)
		*hint = h->u.i;
	/* the filtered text is never longer than the original plus 12 */
	if ((buf = malloc(len + 16)) == NULL) {
		r = MANDATE_ENOMEM;
		goto out;
	}
	memcpy(buf, "{\"keys\":[", 9);
	n = 9;
	for (size_t i = 0; i < keys->u.arr.n; i++) {
		const struct ajson *k = &keys->u.arr.items[i];
		const struct ajson *use = ajson_get(k, "use");
		const struct ajson *kid = ajson_get(k, "kid");

		if (!ajson_is(use, AJSON_STRING) ||
		    !str_eq_c(use->u.s, "jwt-svid") ||
		    !ajson_is(kid, AJSON_STRING) || kid->u.s.n == 0)
			continue;
		if (n > 9)
			buf[n++] = ',';
		memcpy(buf + n, text + k->off, k->len);
		n += k->len;
	}
	memcpy(buf + n, "]}", 3);
	n += 2;
	*out = buf;
	*out_len = n;
	buf = NULL;
	r = MANDATE_OK;
out:
	free(buf);
	arena_free(&a);
	return r;
}

/*
 * Load the issuer's source and install it.  Called with fetch_mu held
 * (one loader per issuer).  On failure the current set stays.
 */
static int
issuer_load(struct identity_verifier *v, struct id_issuer *is)
{
	const struct config_issuer *cfg = is->cfg;
	struct jose_keyset *set = NULL, *old_set = NULL;
	X509_STORE *store = NULL, *old_store = NULL;
	unsigned char digest[32];
	enum jose_reason jr = JOSE_R_OK;
	int64_t hint = 0, every, now = id_clock(v);
	char *text = NULL, *jwt_text = NULL;
	size_t len = 0, jwt_len = 0;
	bool changed;
	int r;

	pthread_mutex_lock(&is->mu);
	is->last_attempt = now;
	pthread_mutex_unlock(&is->mu);

	if ((r = id_fetch_source(v, cfg, &text, &len)) != MANDATE_OK)
		goto out;
	if (cfg->kind == CONFIG_ISSUER_SPIFFE) {
		r = spiffe_jwt_keys(text, len, &jwt_text, &jwt_len, &hint);
		if (r != MANDATE_OK) {
			id_log(v, IDENTITY_LOG_ERROR, "issuer %s: trust "
			    "bundle is not a JWK Set", cfg->name);
			goto out;
		}
	}
	if ((r = jose_keyset_parse(jwt_text ? jwt_text : text,
	    jwt_text ? jwt_len : len, &set, &jr)) != MANDATE_OK) {
		id_log(v, IDENTITY_LOG_ERROR, "issuer %s: key set rejected: "
		    "%s", cfg->name, jose_reason_str(jr));
		r = r == MANDATE_ENOMEM ? r : MANDATE_EINVAL;
		goto out;
	}
	if (v->cfg->jwks_cache_size > 0 &&
	    jose_keyset_count(set) > v->cfg->jwks_cache_size) {
		id_log(v, IDENTITY_LOG_ERROR, "issuer %s: key set has %zu "
		    "keys, more than jwks_cache_size (%zu)", cfg->name,
		    jose_keyset_count(set), v->cfg->jwks_cache_size);
		r = MANDATE_EINVAL;
		goto out;
	}
	if (cfg->kind == CONFIG_ISSUER_SPIFFE &&
	    (r = id_x509_store_build(v, cfg, text, len, &store)) !=
	    MANDATE_OK)
		goto out;
	if (EVP_Digest(text, len, digest, NULL, EVP_sha256(), NULL) != 1) {
		r = MANDATE_EINTERNAL;
		goto out;
	}
	/* refresh period: configured hint, bundle hint (bounded, so a
	 * hostile hint can neither hammer the source nor let the set go
	 * stale), or jwks_refresh */
	if (cfg->kind == CONFIG_ISSUER_SPIFFE && cfg->refresh_hint > 0)
		every = (int64_t)cfg->refresh_hint;
	else if (hint > 0) {
		int64_t max = (int64_t)(cfg->jwks_max_stale / 2);

		every = hint < 5 ? 5 : hint;
		if (max >= 5 && every > max)
			every = max;
	} else
		every = (int64_t)cfg->jwks_refresh;
	if (every <= 0)
		every = 300;

	pthread_mutex_lock(&is->mu);
	changed = is->keys == NULL ||
	    CRYPTO_memcmp(digest, is->digest, sizeof(digest)) != 0;
	old_set = is->keys;
	is->keys = set;
	set = NULL;
	old_store = is->x509;
	is->x509 = store;
	store = NULL;
	memcpy(is->digest, digest, sizeof(digest));
	if (changed)
		is->generation++;
	is->last_ok = now;
	is->refresh_every = every;
	pthread_mutex_unlock(&is->mu);
	if (changed)
		id_log(v, IDENTITY_LOG_INFO, "issuer %s: key set loaded "
		    "(%zu keys)", cfg->name, jose_keyset_count(is->keys));
	r = MANDATE_OK;
out:
	jose_keyset_unref(set);
	jose_keyset_unref(old_set);
	X509_STORE_free(store);
	X509_STORE_free(old_store);
	free(text);
	free(jwt_text);
	return r;
}

/*
 * The issuer's current key set (a reference) and generation, refreshing
 * it first when due or when `kid_miss` and the rate limit allow.  Fails
 * closed on staleness.
 */
/* Is a fetch due: a scheduled refresh, or (no keys yet / unknown kid)
 * a retry allowed by the rate limit? */
static bool
issuer_due(const struct identity_verifier *v, struct id_issuer *is,
    bool kid_miss, int64_t now)
{
	int64_t min_gap;
	bool due;

	pthread_mutex_lock(&is->mu);
	if (is->keys == NULL || kid_miss) {
		due = id_since(now, is->last_attempt) >=
		    v->opts.kid_refresh_min;
	} else {
		min_gap = is->refresh_every < v->opts.kid_refresh_min ?
		    is->refresh_every : v->opts.kid_refresh_min;
		due = id_since(now, is->last_ok) >= is->refresh_every &&
		    id_since(now, is->last_attempt) >= min_gap;
	}
	pthread_mutex_unlock(&is->mu);
	return due;
}

/* Fetch when due, unless another thread is fetching already. */
static void
issuer_maybe_refresh(struct identity_verifier *v, struct id_issuer *is,
    bool kid_miss, int64_t now)
{
	if (issuer_due(v, is, kid_miss, now) &&
	    pthread_mutex_trylock(&is->fetch_mu) == 0) {
		(void)issuer_load(v, is);
		pthread_mutex_unlock(&is->fetch_mu);
	}
}

int
id_issuer_acquire(struct identity_verifier *v, struct id_issuer *is,
    bool kid_miss, struct jose_keyset **out, X509_STORE **store,
    uint64_t *gen, enum identity_reason *why)
{
	int64_t now = id_clock(v);

	*out = NULL;
	if (store != NULL)
		*store = NULL;
	/* with the background refresher, scheduled refreshes are its job;
	 * an unknown kid still fetches here (rate-limited) */
	if (kid_miss || !atomic_load(&v->bg_running))
		issuer_maybe_refresh(v, is, kid_miss, now);
	pthread_mutex_lock(&is->mu);
	if (is->keys == NULL) {
		*why = IDENTITY_R_NO_KEYS;
	} else if (id_since(now, is->last_ok) >
	    (int64_t)is->cfg->jwks_max_stale) {
		*why = IDENTITY_R_STALE;
	} else {
		*out = jose_keyset_ref(is->keys);
		*gen = is->generation;
		if (store != NULL && is->x509 != NULL &&
		    X509_STORE_up_ref(is->x509) == 1)
			*store = is->x509;
	}
	pthread_mutex_unlock(&is->mu);
	return *out != NULL ? MANDATE_OK : MANDATE_EINVAL;
}

/* Is the issuer still usable for a cached token of generation gen? */
static bool
issuer_current(struct identity_verifier *v, struct id_issuer *is,
    uint64_t gen)
{
	int64_t now = id_clock(v);
	bool ok;

	pthread_mutex_lock(&is->mu);
	ok = is->keys != NULL && is->generation == gen &&
	    id_since(now, is->last_ok) <= (int64_t)is->cfg->jwks_max_stale &&
	    id_since(now, is->last_ok) < is->refresh_every;
	pthread_mutex_unlock(&is->mu);
	return ok;
}

/* ---- the optional background refresher ---- */

static void *
refresher_main(void *arg)
{
	struct identity_verifier *v = arg;
	struct timespec ts;

	pthread_mutex_lock(&v->bg_mu);
	while (!v->bg_stop) {
		pthread_mutex_unlock(&v->bg_mu);
		for (size_t i = 0; i < v->n_issuers; i++)
			issuer_maybe_refresh(v, &v->issuers[i], false,
			    id_clock(v));
		pthread_mutex_lock(&v->bg_mu);
		if (v->bg_stop)
			break;
		clock_gettime(CLOCK_MONOTONIC, &ts);
		ts.tv_sec += 1;
		(void)pthread_cond_timedwait(&v->bg_cv, &v->bg_mu, &ts);
	}
	pthread_mutex_unlock(&v->bg_mu);
	return NULL;
}

int
identity_start(struct identity_verifier *v)
{
	pthread_condattr_t ca;
	int r = MANDATE_EINTERNAL;

	if (v == NULL || atomic_load(&v->bg_running))
		return MANDATE_EINVAL;
	if (pthread_condattr_init(&ca) != 0)
		return MANDATE_EINTERNAL;
	if (pthread_condattr_setclock(&ca, CLOCK_MONOTONIC) != 0 ||
	    pthread_cond_init(&v->bg_cv, &ca) != 0)
		goto out;
	v->bg_stop = false;
	atomic_store(&v->bg_running, true);
	if (pthread_create(&v->bg_thread, NULL, refresher_main, v) != 0) {
		atomic_store(&v->bg_running, false);
		pthread_cond_destroy(&v->bg_cv);
		goto out;
	}
	r = MANDATE_OK;
out:
	pthread_condattr_destroy(&ca);
	return r;
}

void
identity_stop(struct identity_verifier *v)
{
	if (v == NULL || !atomic_load(&v->bg_running))
		return;
	pthread_mutex_lock(&v->bg_mu);
	v->bg_stop = true;
	pthread_cond_signal(&v->bg_cv);
	pthread_mutex_unlock(&v->bg_mu);
	pthread_join(v->bg_thread, NULL);
	pthread_cond_destroy(&v->bg_cv);
	atomic_store(&v->bg_running, false);
}

/* ---- subjects ---- */

static bool
names_spiffe(const char *p, size_t n)
{
	return n >= 7 && strncasecmp(p, "spiffe:", 7) == 0;
}

static bool
has_prefix(struct str s, const char *prefix)
{
	size_t n = strlen(prefix);

	return s.n >= n && memcmp(s.p, prefix, n) == 0;
}

/* Does one of a and b begin the other?  (case-insensitively for the
 * spiffe scheme) */
static bool
overlap(const char *a, const char *b, bool nocase)
{
	size_t n = strlen(a) < strlen(b) ? strlen(a) : strlen(b);

	return nocase ? strncasecmp(a, b, n) == 0 : strncmp(a, b, n) == 0;
}

/*
 * Could two oidc issuers name the same principal (subject_prefix + sub),
 * or one a SPIFFE ID?  config_parse refuses such a configuration with
 * its location; this is the verifier's own lock for configurations made
 * otherwise (the development issuers, tests).  MANDATE_EINVAL after a
 * log line.
 */
static int
check_subject_spaces(const struct identity_verifier *v,
    const struct config_identity *cfg)
{
	for (size_t i = 0; i < cfg->n_issuers; i++) {
		const struct config_issuer *a = &cfg->issuers[i];

		/* (a nameless issuer is refused by identity_new) */
		if (a->kind != CONFIG_ISSUER_OIDC || a->name == NULL)
			continue;
		if (a->subject_prefix != NULL && (a->subject_prefix[0] ==
		    '\0' || overlap(a->subject_prefix, "spiffe:", true))) {
			id_log(v, IDENTITY_LOG_ERROR, "issuer %s: "
			    "subject_prefix is empty or could begin a SPIFFE "
			    "ID", a->name);
			return MANDATE_EINVAL;
		}
		for (size_t j = 0; j < i; j++) {
			const struct config_issuer *b = &cfg->issuers[j];

			if (b->kind != CONFIG_ISSUER_OIDC || b->name == NULL)
				continue;
			if ((a->subject_prefix == NULL) !=
			    (b->subject_prefix == NULL))
				continue;
			if (a->subject_prefix == NULL ||
			    overlap(a->subject_prefix, b->subject_prefix,
			    false)) {
				id_log(v, IDENTITY_LOG_ERROR, "issuers %s and "
				    "%s: the same sub from both would be one "
				    "principal (subject_prefix)", b->name,
				    a->name);
				return MANDATE_EINVAL;
			}
		}
	}
	return MANDATE_OK;
}

/* What goes before an issuer's sub to make its principal: the
 * subject_prefix, unless its tokens carry it; empty for the others. */
static struct str
added_prefix(const struct config_issuer *c)
{
	if (c->kind != CONFIG_ISSUER_OIDC || c->subject_prefix == NULL ||
	    c->subject_prefix_in_sub)
		return STR_NULL;
	return str_c(c->subject_prefix);
}

/* May the issuer's token name this sub?  IDENTITY_R_OK, or the reason
 * to refuse it. */
static enum identity_reason
oidc_subject(const struct identity_verifier *v, const struct id_issuer *is,
    struct str sub)
{
	const struct config_issuer *c = is->cfg;

	/* Only a SPIFFE issuer of its trust domain vouches for a workload:
	 * an OIDC sub spelled as a SPIFFE ID would make the string
	 * comparisons downstream (a task's agent, a delegator,
	 * api_auth.bearer_subjects) take a person's token for it. */
	if (names_spiffe(sub.p, sub.n))
		return IDENTITY_R_SPIFFE_SUBJECT;
	if (c->subject_prefix != NULL)
		return !c->subject_prefix_in_sub ||
		    has_prefix(sub, c->subject_prefix) ? IDENTITY_R_OK :
		    IDENTITY_R_SUBJECT_PREFIX;
	/* the issuer without a prefix: its subs must stay out of the
	 * others' (its "p:alice" would be the principal p: + "alice") */
	for (size_t i = 0; i < v->n_issuers; i++) {
		const struct config_issuer *o = v->issuers[i].cfg;

		if (o->kind == CONFIG_ISSUER_OIDC &&
		    o->subject_prefix != NULL &&
		    has_prefix(sub, o->subject_prefix))
			return IDENTITY_R_FOREIGN_PREFIX;
	}
	return IDENTITY_R_OK;
}

/* ---- lifecycle ---- */

int
identity_new(const struct config_identity *cfg,
    const struct identity_opts *opts, struct identity_verifier **out)
{
	struct identity_verifier *v = NULL;
	int r = MANDATE_ENOMEM;

	*out = NULL;
	if (cfg == NULL || (cfg->n_issuers > 0 && cfg->issuers == NULL))
		return MANDATE_EINVAL;
	if ((v = calloc(1, sizeof(*v))) == NULL)
		return MANDATE_ENOMEM;
	v->cfg = cfg;
	pthread_mutex_init(&v->bg_mu, NULL);
	if (opts != NULL)
		v->opts = *opts;
	if (v->opts.fetch_timeout_ms <= 0)
		v->opts.fetch_timeout_ms = 10000;
	if (v->opts.kid_refresh_min <= 0)
		v->opts.kid_refresh_min = IDENTITY_KID_REFRESH_MIN;
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		pthread_mutex_destroy(&v->bg_mu);
		free(v);
		return MANDATE_EINTERNAL;
	}
	if ((r = check_subject_spaces(v, cfg)) != MANDATE_OK ||
	    (r = id_cache_init(&v->cache, cfg->token_cache_size)) !=
	    MANDATE_OK) {
		curl_global_cleanup();
		pthread_mutex_destroy(&v->bg_mu);
		free(v);
		return r;
	}
	if (cfg->n_issuers > 0 && (v->issuers = calloc(cfg->n_issuers,
	    sizeof(*v->issuers))) == NULL) {
		r = MANDATE_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < cfg->n_issuers; i++) {
		struct id_issuer *is = &v->issuers[i];
		const struct config_issuer *c = &cfg->issuers[i];

		is->cfg = c;
		is->index = i;
		is->algs = jose_algs_of(c->algorithms,
		    c->kind == CONFIG_ISSUER_SPIFFE);
		is->remote = c->kind == CONFIG_ISSUER_SPIFFE ?
		    c->bundle_url != NULL : c->jwks_file == NULL;
		is->refresh_every = c->kind == CONFIG_ISSUER_SPIFFE &&
		    c->refresh_hint > 0 ? (int64_t)c->refresh_hint :
		    (int64_t)c->jwks_refresh;
		if (is->refresh_every <= 0)
			is->refresh_every = 300;
		pthread_mutex_init(&is->mu, NULL);
		pthread_mutex_init(&is->fetch_mu, NULL);
		v->n_issuers = i + 1;
		if (c->max_token_size > v->max_token)
			v->max_token = c->max_token_size;
		if (c->name == NULL || (c->kind == CONFIG_ISSUER_OIDC &&
		    c->issuer == NULL) || (c->kind == CONFIG_ISSUER_SPIFFE &&
		    c->trust_domain == NULL)) {
			r = MANDATE_EINVAL;
			goto out;
		}
		r = issuer_load(v, is);
		if (r == MANDATE_ENOMEM)
			goto out;
		if (r != MANDATE_OK && !is->remote) {
			r = r == MANDATE_EINVAL ? MANDATE_EINVAL : MANDATE_EIO;
			goto out;
		}
		if (r != MANDATE_OK)
			id_log(v, IDENTITY_LOG_WARN, "issuer %s: starting "
			    "without keys; will retry", c->name);
	}
	*out = v;
	v = NULL;
	r = MANDATE_OK;
out:
	identity_free(v);
	return r;
}

void
identity_free(struct identity_verifier *v)
{
	if (v == NULL)
		return;
	identity_stop(v);
	for (size_t i = 0; i < v->n_issuers; i++) {
		struct id_issuer *is = &v->issuers[i];

		jose_keyset_unref(is->keys);
		X509_STORE_free(is->x509);
		pthread_mutex_destroy(&is->mu);
		pthread_mutex_destroy(&is->fetch_mu);
	}
	free(v->issuers);
	id_cache_fini(&v->cache);
	curl_global_cleanup();
	pthread_mutex_destroy(&v->bg_mu);
	free(v);
}

int
identity_refresh(struct identity_verifier *v, const char *name)
{
	bool found = name == NULL;
	int r = MANDATE_OK;

	for (size_t i = 0; i < v->n_issuers; i++) {
		struct id_issuer *is = &v->issuers[i];

		if (name != NULL && strcmp(name, is->cfg->name) != 0)
			continue;
		found = true;
		pthread_mutex_lock(&is->fetch_mu);
		if (issuer_load(v, is) != MANDATE_OK)
			r = MANDATE_EIO;
		pthread_mutex_unlock(&is->fetch_mu);
	}
	return found ? r : MANDATE_ENOTFOUND;
}

/* ---- the cache from the outside ---- */

static int
token_digest(const char *token, size_t len, unsigned char out[32])
{
	return EVP_Digest(token, len, out, NULL, EVP_sha256(), NULL) == 1 ?
	    MANDATE_OK : MANDATE_EINTERNAL;
}

bool
identity_cache_forget(struct identity_verifier *v, const char *token,
    size_t len)
{
	unsigned char key[32];

	if (v == NULL || token == NULL ||
	    token_digest(token, len, key) != MANDATE_OK)
		return false;
	return id_cache_del(&v->cache, key);
}

void
identity_cache_stats(struct identity_verifier *v,
    struct identity_cache_stats *out)
{
	pthread_mutex_lock(&v->cache.mu);
	out->hits = v->cache.hits;
	out->misses = v->cache.misses;
	out->inserts = v->cache.inserts;
	out->evictions = v->cache.evictions;
	out->entries = v->cache.n;
	pthread_mutex_unlock(&v->cache.mu);
}

/* ---- JWT verification ---- */

static enum identity_reason
map_jose(enum jose_reason jr)
{
	switch (jr) {
	case JOSE_R_NOMEM: return IDENTITY_R_NOMEM;
	case JOSE_R_INTERNAL: return IDENTITY_R_INTERNAL;
	case JOSE_R_TOO_LARGE: return IDENTITY_R_TOO_LARGE;
	case JOSE_R_ALG_NOT_ALLOWED:
	case JOSE_R_ALG_KEY_MISMATCH:
	case JOSE_R_HEADER_ALG: return IDENTITY_R_ALG;
	case JOSE_R_KID_UNKNOWN: return IDENTITY_R_KID;
	case JOSE_R_SIG_LENGTH:
	case JOSE_R_SIG_INVALID: return IDENTITY_R_SIGNATURE;
	case JOSE_R_EXP_MISSING:
	case JOSE_R_EXPIRED: return IDENTITY_R_EXPIRED;
	case JOSE_R_NOT_YET_VALID: return IDENTITY_R_NOT_YET_VALID;
	case JOSE_R_IAT_FUTURE: return IDENTITY_R_IAT;
	case JOSE_R_ISS: return IDENTITY_R_ISS;
	case JOSE_R_AUD: return IDENTITY_R_AUD;
	case JOSE_R_TYP: return IDENTITY_R_TYP;
	case JOSE_R_CLAIM_TYPE: return IDENTITY_R_CLAIMS;
	default: return IDENTITY_R_MALFORMED;
	}
}

static struct str
dup_str(struct arena *a, struct str s, bool *oom)
{
	struct str d;

	if (s.n == 0)
		return str_make("", 0);
	d = arena_strdup(a, s.p, s.n);
	if (d.p == NULL)
		*oom = true;
	return d;
}

static int
principal_out(struct identity_verifier *v,
    const struct id_cached_principal *c, bool from_cache, struct arena *a,
    struct identity_principal *out)
{
	struct str prefix = added_prefix(v->issuers[c->issuer_index].cfg);
	bool oom = false;

	out->kind = c->kind;
	out->issuer_name = str_c(v->issuers[c->issuer_index].cfg->name);
	out->issuer = dup_str(a, c->issuer, &oom);
	if (prefix.n > 0) {
		/* the principal: the issuer's subject_prefix + sub (the
		 * cache keeps the sub as the token has it) */
		char *p = arena_alloc(a, prefix.n + c->subject.n + 1);

		if (p == NULL) {
			oom = true;
		} else {
			memcpy(p, prefix.p, prefix.n);
			memcpy(p + prefix.n, c->subject.p, c->subject.n);
			p[prefix.n + c->subject.n] = '\0';
			out->subject = str_make(p, prefix.n + c->subject.n);
		}
	} else {
		out->subject = dup_str(a, c->subject, &oom);
	}
	out->trust_domain = dup_str(a, c->trust_domain, &oom);
	out->exp = c->exp;
	out->claims_json = dup_str(a, c->claims_json, &oom);
	out->k8s_namespace = dup_str(a, c->k8s_ns, &oom);
	out->k8s_service_account = dup_str(a, c->k8s_sa, &oom);
	out->from_cache = from_cache;
	if (oom) {
		memset(out, 0, sizeof(*out));
		return MANDATE_ENOMEM;
	}
	return MANDATE_OK;
}

/* Does the payload's aud (string or array of strings) hold one of the
 * issuer's audiences? */
static bool
aud_ok(const struct ajson *claims, const struct config_issuer *cfg)
{
	const struct ajson *aud = ajson_get(claims, "aud");
	const struct ajson *items;
	size_t n;

	if (aud == NULL)
		return false;
	if (aud->type == AJSON_STRING) {
		items = aud;
		n = 1;
	} else if (aud->type == AJSON_ARRAY) {
		items = aud->u.arr.items;
		n = aud->u.arr.n;
	} else {
		return false;
	}
	/* every member a string, whatever their order (a match before a
	 * bad member must not hide it) */
	for (size_t i = 0; i < n; i++)
		if (items[i].type != AJSON_STRING)
			return false;
	for (size_t i = 0; i < n; i++) {
		for (size_t j = 0; j < cfg->audiences.n; j++)
			if (str_eq_c(items[i].u.s, cfg->audiences.v[j]))
				return true;
	}
	return false;
}

/* Pick the issuer from the unverified payload. */
static struct id_issuer *
pick_issuer(struct identity_verifier *v, const struct ajson *claims)
{
	const struct ajson *iss = ajson_get(claims, "iss");
	const struct ajson *sub = ajson_get(claims, "sub");
	struct str td;

	if (ajson_is(iss, AJSON_STRING))
		for (size_t i = 0; i < v->n_issuers; i++)
			if (v->issuers[i].cfg->kind == CONFIG_ISSUER_OIDC &&
			    str_eq_c(iss->u.s, v->issuers[i].cfg->issuer))
				return &v->issuers[i];
	if (!ajson_is(sub, AJSON_STRING) ||
	    identity_spiffe_id_parse(sub->u.s.p, sub->u.s.n, &td, NULL) !=
	    MANDATE_OK)
		return NULL;
	for (size_t i = 0; i < v->n_issuers; i++)
		if (v->issuers[i].cfg->kind == CONFIG_ISSUER_SPIFFE &&
		    str_eq_c(td, v->issuers[i].cfg->trust_domain))
			return &v->issuers[i];
	return NULL;
}

/*
 * The typs an OIDC issuer's identity and access tokens carry (absent
 * too): ID tokens and Kubernetes tokens say JWT or nothing, RFC 9068
 * access tokens at+jwt.  Anything else is a JWT explicitly typed as
 * another kind that the issuer's key also signs, a back-channel logout
 * token (logout+jwt) or a security event (secevent+jwt) made for some
 * relying party, and must not pass for an identity (RFC 8725 3.11).
 */
static const char *const oidc_typs[] = { "JWT", "JOSE", "at+jwt", NULL };

static struct str
k8s_member(const struct ajson *claims, const char *outer,
    const char *inner)
{
	const struct ajson *k = ajson_get(claims, "kubernetes.io");
	const struct ajson *m = ajson_get(k, outer);

	if (inner != NULL)
		m = ajson_get(m, inner);
	return ajson_is(m, AJSON_STRING) ? m->u.s : STR_NULL;
}

int
identity_verify_jwt(struct identity_verifier *v, const char *token,
    size_t len, int64_t now, struct arena *a,
    struct identity_principal *out, enum identity_reason *why)
{
	struct ajson_opts o = { .flags = AJSON_REJECT_DUPLICATES,
	    .max_depth = 32 };
	enum identity_reason reason = IDENTITY_R_MALFORMED, dummy;
	struct id_cached_principal *hit = NULL, cp;
	struct jose_keyset *set = NULL;
	const struct ajson *claims = NULL;
	struct id_issuer *is = NULL;
	struct jose_jwt_rules rules;
	struct jose_claims jc;
	struct jose_jws jws;
	enum jose_reason jr = JOSE_R_OK;
	unsigned char key[32];
	uint64_t gen = 0;
	bool spiffe;
	int r = MANDATE_EINVAL;

	if (why == NULL)
		why = &dummy;
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	memset(&cp, 0, sizeof(cp));
	if (v == NULL || token == NULL || a == NULL || out == NULL) {
		reason = IDENTITY_R_INTERNAL;
		goto out;
	}
	if (len == 0 || len > v->max_token) {
		reason = IDENTITY_R_TOO_LARGE;
		goto out;
	}
	if (token_digest(token, len, key) != MANDATE_OK) {
		reason = IDENTITY_R_INTERNAL;
		r = MANDATE_EINTERNAL;
		goto out;
	}

	/* cache */
	if (id_cache_get(&v->cache, key, now, &hit)) {
		if (hit->issuer_index < v->n_issuers &&
		    issuer_current(v, &v->issuers[hit->issuer_index],
		    hit->generation)) {
			r = principal_out(v, hit, true, a, out);
			reason = r == MANDATE_OK ? IDENTITY_R_OK :
			    IDENTITY_R_NOMEM;
			goto out;
		}
		id_cache_del(&v->cache, key);   /* keys changed: redo */
	}

	if ((r = jose_jws_parse(a, token, len, v->max_token, &jws, &jr)) !=
	    MANDATE_OK) {
		reason = map_jose(jr);
		goto fail;
	}
	if (ajson_parse(a, jws.payload.p, jws.payload.n, &o, &claims, NULL) !=
	    MANDATE_OK || !ajson_is(claims, AJSON_OBJECT)) {
		reason = IDENTITY_R_MALFORMED;
		goto fail;
	}
	if ((is = pick_issuer(v, claims)) == NULL) {
		reason = IDENTITY_R_UNKNOWN_ISSUER;
		goto fail;
	}
	spiffe = is->cfg->kind == CONFIG_ISSUER_SPIFFE;
	if (len > is->cfg->max_token_size) {
		reason = IDENTITY_R_TOO_LARGE;
		goto fail;
	}
	if ((JOSE_ALG_BIT(jws.alg) & is->algs) == 0) {
		reason = IDENTITY_R_ALG;
		goto fail;
	}
	if (id_issuer_acquire(v, is, false, &set, NULL, &gen, &reason) != MANDATE_OK)
		goto fail;
	if (jws.kid.n > 0 && jose_keyset_find(set, jws.kid) == NULL) {
		/* maybe rotated: refresh (rate-limited) and look again */
		jose_keyset_unref(set);
		set = NULL;
		if (id_issuer_acquire(v, is, true, &set, NULL, &gen,
		    &reason) !=
		    MANDATE_OK)
			goto fail;
	}
	if ((r = jose_jws_verify_set(&jws, set, is->algs, &jr)) !=
	    MANDATE_OK) {
		reason = jr == JOSE_R_MALFORMED ? IDENTITY_R_KID :
		    map_jose(jr);
		goto fail;
	}

	memset(&rules, 0, sizeof(rules));
	rules.now = now;
	rules.leeway = (int64_t)is->cfg->leeway;
	if (!spiffe) {
		rules.iss = str_c(is->cfg->issuer);
		rules.typ = oidc_typs;
		rules.typ_absent_ok = true;
	} else {
		rules.typ = jose_typ_jwt_svid;
		rules.typ_absent_ok = true;
	}
	if ((r = jose_jwt_check(a, &jws, &rules, &jc, &jr)) != MANDATE_OK) {
		reason = map_jose(jr);
		goto fail;
	}
	if (!aud_ok(claims, is->cfg)) {
		reason = IDENTITY_R_AUD;
		goto fail;
	}
	if (jc.sub.n == 0 || memchr(jc.sub.p, 0, jc.sub.n) != NULL) {
		reason = IDENTITY_R_CLAIMS;
		goto fail;
	}
	cp.kind = spiffe ? IDENTITY_KIND_SPIFFE : IDENTITY_KIND_OIDC;
	if (spiffe) {
		struct str path;

		if (identity_spiffe_id_parse(jc.sub.p, jc.sub.n,
		    &cp.trust_domain, &path) != MANDATE_OK || path.n == 0) {
			reason = IDENTITY_R_SPIFFE_ID;
			goto fail;
		}
		if (!str_eq_c(cp.trust_domain, is->cfg->trust_domain)) {
			reason = IDENTITY_R_TRUST_DOMAIN;
			goto fail;
		}
	} else if ((reason = oidc_subject(v, is, jc.sub)) != IDENTITY_R_OK) {
		goto fail;
	}
	cp.issuer_index = is->index;
	cp.generation = gen;
	cp.exp = jc.exp;
	cp.issuer = jc.iss;
	cp.subject = jc.sub;
	cp.claims_json = jws.payload;
	cp.k8s_ns = k8s_member(claims, "namespace", NULL);
	cp.k8s_sa = k8s_member(claims, "serviceaccount", "name");
	if ((r = principal_out(v, &cp, false, a, out)) != MANDATE_OK) {
		reason = IDENTITY_R_NOMEM;
		goto out;
	}
	if (jc.exp > now)
		id_cache_put(&v->cache, key, &cp);
	reason = IDENTITY_R_OK;
	r = MANDATE_OK;
	goto out;
fail:
	if (r == MANDATE_OK || r == MANDATE_ELIMIT || r == MANDATE_EPARSE)
		r = MANDATE_EINVAL;
	if (reason == IDENTITY_R_NOMEM)
		r = MANDATE_ENOMEM;
out:
	if (r != MANDATE_OK && out != NULL)
		memset(out, 0, sizeof(*out));
	free(hit);
	jose_keyset_unref(set);
	*why = reason;
	return r;
}

/*
 * sts_dpop.c - DPoP proofs (RFC 9449): parse and verify one proof JWT
 * against its embedded public key, check htm, htu, iat, ath, and keep
 * each proof's jti in a bounded replay cache for the iat window.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/sha.h>

#include "sts/sts_int.h"
#include "util/json.h"
#include "util/status.h"

#define JTI_MAX 256
#define HTU_MAX 4096

/* --- replay cache --------------------------------------------------------
 * Open addressing with linear probing.  Entries expire but stay in place
 * (probe chains remain intact); when the table is three quarters full it
 * is rebuilt without the expired entries.  More live entries than the
 * limit: the proof is refused (fail closed).
 * Each entry has an owner (the agent whose token or identity came with
 * the proof), and one owner may hold at most a quarter of the limit: an
 * agent that sends proofs as fast as it can (a hijacked one) fills its
 * own share and is refused, while the others' proofs still find room.
 * The owners' counts are kept in a second table, rebuilt at each sweep
 * (between sweeps an owner is also charged for its entries that have
 * expired; reaching its share forces a sweep, at most once a second). */

/* The share of the cache one owner may hold. */
#define REPLAY_OWNER_SHARE 4

int
sts_replay_init(struct sts_replay *r, size_t limit)
{
	size_t cap = 16;

	if (limit == 0)
		limit = 100000;
	if (limit > ((size_t)1 << 24))
		return MANDATE_ELIMIT;
	while (cap < 2 * limit)
		cap *= 2;
	r->slots = calloc(cap, sizeof *r->slots);
	r->owners = calloc(cap, sizeof *r->owners);
	if (r->slots == NULL || r->owners == NULL) {
		free(r->slots);
		free(r->owners);
		r->slots = NULL;
		r->owners = NULL;
		return MANDATE_ENOMEM;
	}
	r->cap = cap;
	r->used = 0;
	r->limit = limit;
	r->owner_limit = limit / REPLAY_OWNER_SHARE > 0 ?
	    limit / REPLAY_OWNER_SHARE : 1;
	pthread_mutex_init(&r->mu, NULL);
	return MANDATE_OK;
}

void
sts_replay_fini(struct sts_replay *r)
{
	if (r->slots == NULL)
		return;
	free(r->slots);
	free(r->owners);
	r->slots = NULL;
	r->owners = NULL;
	pthread_mutex_destroy(&r->mu);
}

static size_t
slot_index(const uint8_t id[16], size_t cap)
{
	uint64_t h;

	memcpy(&h, id, sizeof h);
	return (size_t)h & (cap - 1);
}

/* The owner's count entry: found, or (with add) inserted at 0; NULL when
 * missing and not added.  The table has cap entries, of which
 * replay_check keeps fewer than three quarters in use: a probe ends. */
static struct sts_replay_owner *
owner_entry(struct sts_replay *r, uint64_t owner, bool add)
{
	size_t j = (size_t)(owner * 0x9e3779b97f4a7c15ULL) & (r->cap - 1);

	while (r->owners[j].owner != 0 && r->owners[j].owner != owner)
		j = (j + 1) & (r->cap - 1);
	if (r->owners[j].owner == 0) {
		/* (full only if a sweep could not allocate: refused) */
		if (!add || r->n_owners >= r->cap / 4 * 3)
			return NULL;
		r->owners[j].owner = owner;
		r->n_owners++;
	}
	return &r->owners[j];
}

static void
replay_sweep(struct sts_replay *r, int64_t now)
{
	struct sts_replay_slot *old = r->slots;
	struct sts_replay_owner *o;
	size_t i, j;

	/* Rebuild in place is not possible with linear probing; use a
	 * temporary copy of the live entries. */
	struct sts_replay_slot *live = malloc(r->used * sizeof *live + 1);
	size_t n_live = 0;

	if (live == NULL)
		return;   /* keep the table as it is; inserts may then fail */
	for (i = 0; i < r->cap; i++)
		if (old[i].expires > now)
			live[n_live++] = old[i];
	memset(old, 0, r->cap * sizeof *old);
	memset(r->owners, 0, r->cap * sizeof *r->owners);
	r->n_owners = 0;
	for (i = 0; i < n_live; i++) {
		j = slot_index(live[i].id, r->cap);
		while (old[j].expires != 0)
			j = (j + 1) & (r->cap - 1);
		old[j] = live[i];
		if ((o = owner_entry(r, live[i].owner, true)) != NULL)
			o->n++;     /* (always: at most limit <= cap / 2) */
	}
	r->used = n_live;
	free(live);
}

/* MANDATE_OK when fresh (recorded), EINVAL on a replay, ELIMIT when the
 * cache is full of live entries, ECONFLICT when the owner holds its
 * share. */
static int
replay_check(struct sts_replay *r, const uint8_t id[16], uint64_t owner,
    int64_t now, int64_t expires)
{
	size_t j, free_slot = (size_t)-1;
	struct sts_replay_owner *o;
	int rc = MANDATE_OK;

	pthread_mutex_lock(&r->mu);
	/* sweep when the table looks full, but at most once a second so a
	 * cache full of live entries does not cost a scan per proof; and
	 * always when the owners' table is three quarters full (owners of
	 * reused expired slots accumulate there until a sweep, which leaves
	 * at most limit <= cap / 2 of them) */
	if ((r->used >= r->limit && now != r->last_sweep) ||
	    r->n_owners >= r->cap / 4 * 3) {
		r->last_sweep = now;
		replay_sweep(r, now);
	}
	j = slot_index(id, r->cap);
	while (r->slots[j].expires != 0) {
		if (CRYPTO_memcmp(r->slots[j].id, id, 16) == 0) {
			if (r->slots[j].expires > now) {
				rc = MANDATE_EINVAL;
				goto out;
			}
			free_slot = j;   /* the same id, expired: reuse */
			break;
		}
		if (r->slots[j].expires <= now && free_slot == (size_t)-1)
			free_slot = j;
		j = (j + 1) & (r->cap - 1);
	}
	o = owner_entry(r, owner, false);
	if (o != NULL && o->n >= r->owner_limit && now != r->last_sweep) {
		/* its count may include expired entries: count again */
		r->last_sweep = now;
		replay_sweep(r, now);
		pthread_mutex_unlock(&r->mu);
		return replay_check(r, id, owner, now, expires);
	}
	if (o != NULL && o->n >= r->owner_limit) {
		rc = MANDATE_ECONFLICT;
		goto out;
	}
	if (o == NULL && (o = owner_entry(r, owner, true)) == NULL) {
		rc = MANDATE_ELIMIT;
		goto out;
	}
	if (free_slot == (size_t)-1) {
		if (r->used >= r->limit) {
			rc = MANDATE_ELIMIT;
			goto out;
		}
		free_slot = j;
		r->used++;
	}
	/* An expired slot may only be reused if the id is not further down
	 * the chain: we scanned to the end above unless we broke on it.
	 * (Its former owner stays charged for it until the next sweep.) */
	memcpy(r->slots[free_slot].id, id, 16);
	r->slots[free_slot].expires = expires;
	r->slots[free_slot].owner = owner;
	o->n++;
out:
	pthread_mutex_unlock(&r->mu);
	return rc;
}

/* --- nonces -------------------------------------------------------------- */

static const char reason_nonce_missing[] = "proof nonce missing";
static const char reason_nonce_bad[] = "proof nonce invalid or stale";

bool
sts_dpop_reason_is_nonce(const char *reason)
{
	return reason == reason_nonce_missing || reason == reason_nonce_bad;
}

static int64_t
nonce_window(const struct sts *sts)
{
	int64_t w = (int64_t)sts->tok->dpop.iat_window;
	return w > 0 ? w : 60;
}

/* raw: 8 bytes window counter (big-endian) + 24 bytes of HMAC */
static int
nonce_raw(const struct sts *sts, int64_t counter, uint8_t raw[32])
{
	uint8_t mac[EVP_MAX_MD_SIZE];
	unsigned mac_len = 0;

	for (int i = 0; i < 8; i++)
		raw[i] = (uint8_t)((uint64_t)counter >> (56 - 8 * i));
	if (HMAC(EVP_sha256(), sts->nonce_key, sizeof sts->nonce_key, raw, 8,
	    mac, &mac_len) == NULL || mac_len < 24)
		return MANDATE_EINTERNAL;
	memcpy(raw + 8, mac, 24);
	OPENSSL_cleanse(mac, sizeof mac);
	return MANDATE_OK;
}

int
sts_dpop_nonce(struct sts *sts, int64_t now, char out[STS_DPOP_NONCE_LEN + 1])
{
	uint8_t raw[32];

	out[0] = '\0';
	if (now < 0 || nonce_raw(sts, now / nonce_window(sts), raw) !=
	    MANDATE_OK)
		return MANDATE_EINTERNAL;
	if (jose_b64url_encode(raw, sizeof raw, out, STS_DPOP_NONCE_LEN + 1) !=
	    STS_DPOP_NONCE_LEN)
		return MANDATE_EINTERNAL;
	return MANDATE_OK;
}

static bool
nonce_ok(const struct sts *sts, struct str nonce, int64_t now)
{
	uint8_t got[33], want[32];
	size_t n = 0;
	int64_t cur, counter = 0;

	if (now < 0 || nonce.n != STS_DPOP_NONCE_LEN ||
	    jose_b64url_decode(nonce.p, nonce.n, got, sizeof got, &n) !=
	    MANDATE_OK || n != 32)
		return false;
	for (int i = 0; i < 8; i++)
		counter = (int64_t)(((uint64_t)counter << 8) | got[i]);
	cur = now / nonce_window(sts);
	if (counter != cur && counter != cur - 1)
		return false;
	if (nonce_raw(sts, counter, want) != MANDATE_OK)
		return false;
	return CRYPTO_memcmp(got, want, sizeof want) == 0;
}

/* --- htu ------------------------------------------------------------------ */

/* Normalise an http(s) URI for comparison: lowercase scheme and host,
 * default port dropped, no userinfo, query and fragment removed, empty
 * path as "/".  out gets NUL-terminated text. */
static int
htu_normalise(struct str u, char *out, size_t cap)
{
	size_t i = 0, n = u.n, o = 0, host_start, host_end;
	bool https;
	struct str port = STR_NULL;

	if (n == 0 || n >= HTU_MAX)
		return MANDATE_EINVAL;
	for (size_t k = 0; k < n; k++)
		if ((unsigned char)u.p[k] <= 0x20 ||
		    (unsigned char)u.p[k] >= 0x7f)
			return MANDATE_EINVAL;
	if (n >= 8 && strncasecmp(u.p, "https://", 8) == 0) {
		https = true;
		i = 8;
	} else if (n >= 7 && strncasecmp(u.p, "http://", 7) == 0) {
		https = false;
		i = 7;
	} else {
		return MANDATE_EINVAL;
	}
	host_start = i;
	while (i < n && u.p[i] != '/' && u.p[i] != '?' && u.p[i] != '#') {
		if (u.p[i] == '@')
			return MANDATE_EINVAL;
		i++;
	}
	host_end = i;
	/* port: the last ':' not inside an IPv6 literal */
	for (size_t k = host_end; k > host_start; k--) {
		if (u.p[k - 1] == ']')
			break;
		if (u.p[k - 1] == ':') {
			port = str_make(u.p + k, host_end - k);
			host_end = k - 1;
			break;
		}
	}
	if (host_end == host_start)
		return MANDATE_EINVAL;
	for (size_t k = 0; k < port.n; k++)
		if (port.p[k] < '0' || port.p[k] > '9')
			return MANDATE_EINVAL;
	if (port.n > 0 && (str_eq_c(port, https ? "443" : "80")))
		port = STR_NULL;
	if (cap < n + 2)
		return MANDATE_ELIMIT;
	memcpy(out, https ? "https://" : "http://", https ? 8 : 7);
	o = https ? 8 : 7;
	for (size_t k = host_start; k < host_end; k++) {
		char c = u.p[k];
		out[o++] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	if (port.n > 0) {
		out[o++] = ':';
		memcpy(out + o, port.p, port.n);
		o += port.n;
	}
	i = host_end;   /* skip the port text in the input */
	while (i < n && u.p[i] != '/' && u.p[i] != '?' && u.p[i] != '#')
		i++;
	if (i >= n || u.p[i] != '/')
		out[o++] = '/';
	while (i < n && u.p[i] != '?' && u.p[i] != '#') {
		if (o + 1 >= cap)
			return MANDATE_ELIMIT;
		out[o++] = u.p[i++];
	}
	out[o] = '\0';
	return MANDATE_OK;
}

/* Is the normalised URI want one of the space-separated URIs of list?
 * buf (cap bytes) is scratch space. */
static bool
htu_listed(struct str list, const char *want, char *buf, size_t cap)
{
	size_t i = 0;

	while (i < list.n) {
		size_t k = i;

		while (k < list.n && list.p[k] != ' ')
			k++;
		if (k > i && htu_normalise(str_make(list.p + i, k - i), buf,
		    cap) == MANDATE_OK && strcmp(buf, want) == 0)
			return true;
		i = k + 1;
	}
	return false;
}

/* typ dpop+jwt, compared as a media type: in any case, and with or
 * without its "application/" prefix (RFC 7515 4.1.9). */
static bool
typ_is_dpop(struct str typ)
{
	if (typ.n > 12 && strncasecmp(typ.p, "application/", 12) == 0) {
		typ.p += 12;
		typ.n -= 12;
	}
	return typ.n == 8 && strncasecmp(typ.p, "dpop+jwt", 8) == 0;
}

/* --- proof ---------------------------------------------------------------- */

static const char *
json_str(const struct ajson *obj, const char *key, struct str *out)
{
	const struct ajson *v = ajson_get(obj, key);

	if (!ajson_is(v, AJSON_STRING))
		return key;
	*out = v->u.s;
	return NULL;
}

/* The replay cache's owner of a proof: 8 bytes of the SHA-256 of who
 * presented it (never 0, the empty entry's). */
static uint64_t
replay_owner_hash(struct str owner)
{
	uint8_t h[SHA256_DIGEST_LENGTH];
	uint64_t o;

	SHA256((const unsigned char *)(owner.n > 0 ? owner.p : ""), owner.n,
	    h);
	memcpy(&o, h, sizeof o);
	return o != 0 ? o : 1;
}

/* sts_dpop_verify, and with want (not empty) the proof's key must be
 * that thumbprint before its jti enters the replay cache: then only the
 * holder of a bound token's private key can fill the cache. */
static int
dpop_verify(struct sts *sts, struct str proof, struct str htm,
    struct str htu, struct str access_token, int64_t now, struct str want_jkt,
    struct str owner, char *jkt, const char **reason)
{
	int r = MANDATE_EINVAL;
	struct arena a;
	struct jose_jws jws;
	struct jose_key *key = NULL;
	struct jose_jwt_rules rules;
	struct jose_claims cl;
	const struct ajson *v;
	struct str jti, p_htm, p_htu;
	char n1[HTU_MAX + 2], n2[HTU_MAX + 2];
	char tp[JOSE_THUMBPRINT_LEN + 1];
	uint8_t id[SHA256_DIGEST_LENGTH];
	const char *why = "invalid";
	int64_t window = (int64_t)sts->tok->dpop.iat_window;
	unsigned char idbuf[JOSE_THUMBPRINT_LEN + 1 + JTI_MAX];

	if (jkt != NULL)
		jkt[0] = '\0';
	arena_init(&a, 256 * 1024);
	if (window <= 0)
		window = 60;
	if (proof.n == 0 || proof.n > STS_MAX_TOKEN_LEN) {
		why = "proof missing or too large";
		goto out;
	}
	if (jose_jws_parse(&a, proof.p, proof.n, STS_MAX_TOKEN_LEN, &jws,
	    NULL) != MANDATE_OK) {
		why = "proof malformed";
		goto out;
	}
	if (!jws.has_typ || !typ_is_dpop(jws.typ)) {
		why = "proof typ is not dpop+jwt";
		goto out;
	}
	if (!(JOSE_ALG_BIT(jws.alg) & sts->dpop_algs)) {
		why = "proof alg not allowed";
		goto out;
	}
	if (jose_jws_header_jwk(&jws, &key, NULL) != MANDATE_OK) {
		why = "proof jwk missing, private or malformed";
		goto out;
	}
	if (jose_jws_verify(&jws, key, sts->dpop_algs, NULL) != MANDATE_OK) {
		why = "proof signature invalid";
		goto out;
	}
	memset(&rules, 0, sizeof rules);
	rules.now = now;
	rules.leeway = window;
	rules.exp_optional = true;
	rules.typ = jose_typ_dpop_jwt;
	if (jose_jwt_check(&a, &jws, &rules, &cl, NULL) != MANDATE_OK) {
		why = "proof claims invalid";
		goto out;
	}
	if (!cl.has_iat || cl.iat > now + window || cl.iat < now - window) {
		why = "proof iat outside the window";
		goto out;
	}
	if (json_str(cl.obj, "jti", &jti) != NULL || jti.n == 0 ||
	    jti.n > JTI_MAX) {
		why = "proof jti missing or bad";
		goto out;
	}
	if (json_str(cl.obj, "htm", &p_htm) != NULL ||
	    !str_eq(p_htm, htm) || htm.n == 0) {
		why = "proof htm mismatch";
		goto out;
	}
	if (json_str(cl.obj, "htu", &p_htu) != NULL ||
	    htu_normalise(p_htu, n1, sizeof n1) != MANDATE_OK ||
	    !htu_listed(htu, n1, n2, sizeof n2)) {
		why = "proof htu mismatch";
		goto out;
	}
	if (access_token.n > 0) {
		uint8_t h[SHA256_DIGEST_LENGTH];
		char want[64];
		struct str ath;
		SHA256((const unsigned char *)access_token.p, access_token.n, h);
		if (jose_b64url_encode(h, sizeof h, want, sizeof want) !=
		    JOSE_THUMBPRINT_LEN) {
			r = MANDATE_EINTERNAL;
			goto out;
		}
		if (json_str(cl.obj, "ath", &ath) != NULL ||
		    ath.n != JOSE_THUMBPRINT_LEN ||
		    CRYPTO_memcmp(ath.p, want, JOSE_THUMBPRINT_LEN) != 0) {
			why = "proof ath mismatch";
			goto out;
		}
	}
	v = ajson_get(cl.obj, "nonce");
	if (sts->tok->dpop.nonce) {
		if (v == NULL) {
			why = reason_nonce_missing;
			goto out;
		}
		if (!ajson_is(v, AJSON_STRING) || !nonce_ok(sts, v->u.s, now)) {
			why = reason_nonce_bad;
			goto out;
		}
	}
	if (jose_key_thumbprint(key, tp) != MANDATE_OK) {
		r = MANDATE_EINTERNAL;
		goto out;
	}
	if (want_jkt.n > 0 && (want_jkt.n != JOSE_THUMBPRINT_LEN ||
	    CRYPTO_memcmp(want_jkt.p, tp, JOSE_THUMBPRINT_LEN) != 0)) {
		why = "DPoP key does not match cnf.jkt";
		goto out;
	}
	memcpy(idbuf, tp, JOSE_THUMBPRINT_LEN);
	idbuf[JOSE_THUMBPRINT_LEN] = 0;
	memcpy(idbuf + JOSE_THUMBPRINT_LEN + 1, jti.p, jti.n);
	SHA256(idbuf, JOSE_THUMBPRINT_LEN + 1 + jti.n, id);
	/* the proof is acceptable until iat + window: remember it as long */
	r = replay_check(&sts->replay, id, replay_owner_hash(owner), now,
	    (cl.iat > now ? cl.iat : now) + window + 1);
	if (r == MANDATE_ELIMIT) {
		why = "replay cache full";
		r = MANDATE_EINVAL;
		goto out;
	}
	if (r == MANDATE_ECONFLICT) {
		why = "too many proofs from this agent within the window "
		    "(its share of the replay cache)";
		r = MANDATE_EINVAL;
		goto out;
	}
	if (r != MANDATE_OK) {
		why = "proof jti replayed";
		goto out;
	}
	if (jkt != NULL)
		memcpy(jkt, tp, JOSE_THUMBPRINT_LEN + 1);
	why = NULL;
	r = MANDATE_OK;
out:
	if (r != MANDATE_OK && r != MANDATE_ENOMEM && r != MANDATE_EINTERNAL)
		r = MANDATE_EINVAL;
	if (reason != NULL)
		*reason = why;
	jose_key_unref(key);
	arena_free(&a);
	return r;
}

int
sts_dpop_verify(struct sts *sts, struct str proof, struct str htm,
    struct str htu, struct str access_token, struct str owner, int64_t now,
    char *jkt, const char **reason)
{
	return dpop_verify(sts, proof, htm, htu, access_token, now, STR_NULL,
	    owner, jkt, reason);
}

int
sts_dpop_verify_bound(struct sts *sts, struct str proof, struct str htm,
    struct str htu, struct str access_token, struct str want_jkt,
    struct str owner, int64_t now, const char **reason)
{
	char jkt[JOSE_THUMBPRINT_LEN + 1];

	if (want_jkt.n != JOSE_THUMBPRINT_LEN) {
		if (reason != NULL)
			*reason = "token cnf malformed";
		return MANDATE_EINVAL;
	}
	return dpop_verify(sts, proof, htm, htu, access_token, now, want_jkt,
	    owner, jkt, reason);
}

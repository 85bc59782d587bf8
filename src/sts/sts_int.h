/*
 * sts_int.h - the private structures of the token service shared by its
 * files: the key snapshot, the DPoP replay cache and struct sts.
 */
#ifndef MANDATE_STS_INT_H
#define MANDATE_STS_INT_H

#include <pthread.h>
#include <stdatomic.h>

#include "jose/jose.h"
#include "sts/sts.h"

/* A jti: the process's prefix (12 bytes of randomness, base64url) and
 * a 64-bit counter in hex. */
#define STS_JTI_PREFIX 16
#define STS_JTI_LEN (STS_JTI_PREFIX + 16)

/* An immutable view of our keys; reference counted. */
struct sts_snap {
	atomic_long refs;
	uint64_t gen;                 /* distinct per snapshot built */
	struct jose_key *signer;      /* private, the active key */
	struct jose_keyset *pub;      /* every published key */
	char *jwks;                   /* malloc'd JWKS text */
	size_t jwks_len;
};

struct sts_replay_slot {
	uint8_t id[16];               /* SHA-256(jkt, jti), truncated */
	int64_t expires;              /* 0: empty */
	uint64_t owner;               /* whose proof (replay_owner_hash) */
};

/* How many slots an owner holds (live, or expired since the last sweep). */
struct sts_replay_owner {
	uint64_t owner;               /* 0: empty */
	size_t n;
};

struct sts_replay {
	pthread_mutex_t mu;
	struct sts_replay_slot *slots;
	size_t cap;                   /* power of two, >= 2 * limit */
	size_t used;                  /* non-empty slots */
	size_t limit;                 /* live entries at most */
	size_t owner_limit;           /* of them one owner's, at most */
	struct sts_replay_owner *owners;   /* cap entries, open addressing */
	size_t n_owners;              /* non-empty entries of owners */
	int64_t last_sweep;           /* sweeps at most once a second */
};

/*
 * The access tokens whose signature verified, by the SHA-256 of their
 * bytes and the key snapshot they verified under: a per-call decision
 * presents the same token again and again, and its ES256 verification
 * (about 60 us) is then a hash and a look-up.  Only the signature is
 * remembered: the claims (iss, typ, aud, exp, nbf) are checked on every
 * use, and the credential's usability (revocation, task, kill switch) is
 * asked of the store on every use.  A new key snapshot (rotation,
 * retirement) has a new generation, so entries of the old one miss.
 * Direct-mapped: a slot holds the last token hashed to it.
 */
#define STS_SIGCACHE_SLOTS 4096

struct sts_sigcache {
	pthread_mutex_t mu;
	struct {
		uint8_t h[32];
		uint64_t gen;         /* 0: empty */
	} slot[STS_SIGCACHE_SLOTS];
	atomic_uint_fast64_t hits, misses;
};

struct sts {
	struct sts_options opt;
	const struct config_tokens *tok;
	struct store *store;
	bool explicit_keys;           /* tokens.key_files in use */
	pthread_mutex_t mu;           /* guards the snap pointer */
	pthread_mutex_t rot_mu;       /* serialises rotate/tick */
	struct sts_snap *snap;
	struct sts_replay replay;
	unsigned dpop_algs;           /* JOSE_ALG_BIT set */
	char dpop_algs_text[128];     /* their names, space-separated */
	uint8_t nonce_key[32];        /* DPoP server nonces; per process */
	/*
	 * Credential ids (jti): this prefix, random per process, then a
	 * counter in fixed-width hex.  Unique as the random ids were, but
	 * consecutive ids sort next to each other, so the credentials
	 * table's jti index takes each group commit's inserts in one or two
	 * leaf pages instead of one random page each (fewer WAL frames
	 * written and pages read per exchange).
	 */
	char jti_prefix[STS_JTI_PREFIX + 1];
	atomic_uint_fast64_t jti_next;
	atomic_uint_fast64_t snap_gen;    /* the last snapshot's gen */
	struct sts_sigcache *sigs;
};

/* Take / drop a snapshot reference (never NULL once opened). */
struct sts_snap *sts_snap_get(struct sts *sts);
void sts_snap_put(struct sts_snap *snap);

int sts_keys_init(struct sts *sts, int64_t now);
void sts_keys_fini(struct sts *sts);

int sts_replay_init(struct sts_replay *r, size_t limit);
void sts_replay_fini(struct sts_replay *r);

/* --- sts_json.c: compact JSON text written into an arena ------------- */

#define STS_JW_MAX_DEPTH 16

/* One document being written.  Usage: sts_jw_init, then values (sts_jw_obj
 * ... sts_jw_key + a value ... sts_jw_obj_end), then sts_jw_finish.  The
 * first error (ENOMEM, ELIMIT past max bytes or STS_JW_MAX_DEPTH, EINVAL
 * for a string that is not UTF-8, EINTERNAL for misuse) sticks and is
 * returned by sts_jw_finish; calls after it do nothing. */
struct sts_jw {
	struct arena *a;
	char *buf;                    /* in the arena */
	size_t len, cap, max;
	int err;
	unsigned depth;
	unsigned has_items;           /* bit d: container at depth d has one */
	bool after_key;               /* a member name waits for its value */
};

void sts_jw_init(struct sts_jw *w, struct arena *a, size_t max);
void sts_jw_obj(struct sts_jw *w);
void sts_jw_obj_end(struct sts_jw *w);
void sts_jw_arr(struct sts_jw *w);
void sts_jw_arr_end(struct sts_jw *w);
void sts_jw_key(struct sts_jw *w, const char *name);   /* a literal */
void sts_jw_str(struct sts_jw *w, struct str v);
void sts_jw_int(struct sts_jw *w, int64_t v);
/* A value given as JSON text the caller has checked (copied as is). */
void sts_jw_raw(struct sts_jw *w, struct str json);
/* The text, NUL-terminated, in the arena; STR_NULL on error. */
int sts_jw_finish(struct sts_jw *w, struct str *out);

#endif

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

/* An immutable view of our keys; reference counted. */
struct sts_snap {
	atomic_long refs;
	struct jose_key *signer;      /* private, the active key */
	struct jose_keyset *pub;      /* every published key */
	char *jwks;                   /* malloc'd JWKS text */
	size_t jwks_len;
};

struct sts_replay_slot {
	uint8_t id[16];               /* SHA-256(jkt, jti), truncated */
	int64_t expires;              /* 0: empty */
};

struct sts_replay {
	pthread_mutex_t mu;
	struct sts_replay_slot *slots;
	size_t cap;                   /* power of two, >= 2 * limit */
	size_t used;                  /* non-empty slots */
	size_t limit;                 /* live entries at most */
	int64_t last_sweep;           /* sweeps at most once a second */
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
	uint8_t nonce_key[32];        /* DPoP server nonces; per process */
};

/* Take / drop a snapshot reference (never NULL once opened). */
struct sts_snap *sts_snap_get(struct sts *sts);
void sts_snap_put(struct sts_snap *snap);

int sts_keys_init(struct sts *sts, int64_t now);
void sts_keys_fini(struct sts *sts);

int sts_replay_init(struct sts_replay *r, size_t limit);
void sts_replay_fini(struct sts_replay *r);

#endif

/*
 * tree_cache.c - hashes of the audit tree's complete subtrees, so that the
 * daemon's proofs cost O(log n) instead of reading every leaf.
 *
 * A complete, aligned subtree (2^h leaves starting at a multiple of 2^h)
 * never changes once its leaves exist: leaves are append-only.  The cache
 * keeps the hash of every such subtree of height >= AUDIT_CACHE_MIN_LEVEL
 * that a proof has needed, computed once from the store's leaves (a
 * level-8 subtree reads 256 leaves; higher ones combine the two below).
 * Ranges that are not complete subtrees, and small ones, are computed by
 * RFC 9162's split.  Memory: one hash per 2^8 leaves per level, about
 * n / 128 hashes at most.  Thread-safe (one mutex).
 */
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "util/status.h"

#define AUDIT_CACHE_MIN_LEVEL 8
#define AUDIT_CACHE_LEVELS 56         /* heights 8..63 */

struct cache_level {
	uint8_t *hash;                /* cap * MERKLE_HASH_LEN */
	uint8_t *have;                /* cap flags */
	uint64_t cap;
};

struct audit_tree_cache {
	pthread_mutex_t mu;
	struct cache_level level[AUDIT_CACHE_LEVELS];
};

int
audit_tree_cache_new(struct audit_tree_cache **out)
{
	struct audit_tree_cache *c;

	*out = NULL;
	if ((c = calloc(1, sizeof(*c))) == NULL)
		return MANDATE_ENOMEM;
	if (pthread_mutex_init(&c->mu, NULL) != 0) {
		free(c);
		return MANDATE_EINTERNAL;
	}
	*out = c;
	return MANDATE_OK;
}

void
audit_tree_cache_free(struct audit_tree_cache *c)
{
	unsigned i;

	if (c == NULL)
		return;
	for (i = 0; i < AUDIT_CACHE_LEVELS; i++) {
		free(c->level[i].hash);
		free(c->level[i].have);
	}
	pthread_mutex_destroy(&c->mu);
	free(c);
}

static int
cache_get(struct audit_tree_cache *c, unsigned h, uint64_t j,
    merkle_hash out)
{
	struct cache_level *l = &c->level[h - AUDIT_CACHE_MIN_LEVEL];
	int found = 0;

	pthread_mutex_lock(&c->mu);
	if (j < l->cap && l->have[j]) {
		memcpy(out, l->hash + j * MERKLE_HASH_LEN, MERKLE_HASH_LEN);
		found = 1;
	}
	pthread_mutex_unlock(&c->mu);
	return found;
}

/* Remember a hash; a failed allocation only means it is not cached. */
static void
cache_put(struct audit_tree_cache *c, unsigned h, uint64_t j,
    const merkle_hash v)
{
	struct cache_level *l = &c->level[h - AUDIT_CACHE_MIN_LEVEL];

	pthread_mutex_lock(&c->mu);
	if (j >= l->cap) {
		uint64_t nc = l->cap ? l->cap : 64;
		uint8_t *nh, *nf;
		while (nc <= j)
			nc *= 2;
		if ((nh = realloc(l->hash, nc * MERKLE_HASH_LEN)) == NULL)
			goto out;
		l->hash = nh;
		if ((nf = realloc(l->have, nc)) == NULL)
			goto out;
		memset(nf + l->cap, 0, nc - l->cap);
		l->have = nf;
		l->cap = nc;
	}
	memcpy(l->hash + j * MERKLE_HASH_LEN, v, MERKLE_HASH_LEN);
	l->have[j] = 1;
out:
	pthread_mutex_unlock(&c->mu);
}

int
audit_cached_range_root(void *ctx, uint64_t begin, uint64_t end,
    merkle_hash out)
{
	struct audit_cached_source *src = ctx;
	uint64_t n = end - begin, k;
	merkle_hash left, right;
	unsigned h;
	int r;

	if (begin > end)
		return MANDATE_EINVAL;
	if (n < ((uint64_t)1 << AUDIT_CACHE_MIN_LEVEL))
		return merkle_range_root(audit_store_leaves, src->store, begin,
		    end, out);
	if ((n & (n - 1)) == 0 && begin % n == 0) {
		for (h = 0; ((uint64_t)1 << h) < n; h++)
			;
		if (h - AUDIT_CACHE_MIN_LEVEL >= AUDIT_CACHE_LEVELS)
			return MANDATE_ELIMIT;
		if (cache_get(src->cache, h, begin >> h, out))
			return MANDATE_OK;
		if (h == AUDIT_CACHE_MIN_LEVEL)
			r = merkle_range_root(audit_store_leaves, src->store,
			    begin, end, out);
		else if ((r = audit_cached_range_root(ctx, begin, begin + n / 2,
		    left)) == MANDATE_OK &&
		    (r = audit_cached_range_root(ctx, begin + n / 2, end,
		    right)) == MANDATE_OK)
			r = merkle_node_hash(left, right, out);
		if (r == MANDATE_OK)
			cache_put(src->cache, h, begin >> h, out);
		return r;
	}
	k = 1;
	while ((k << 1) < n)
		k <<= 1;
	if ((r = audit_cached_range_root(ctx, begin, begin + k, left)) !=
	    MANDATE_OK ||
	    (r = audit_cached_range_root(ctx, begin + k, end, right)) !=
	    MANDATE_OK)
		return r;
	return merkle_node_hash(left, right, out);
}

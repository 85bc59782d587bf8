/*
 * merkle.c - RFC 9162 Merkle tree hashing, compact ranges, and inclusion and
 * consistency proofs with their verification (see merkle.h).
 *
 * Proof generation follows the recursive definitions of RFC 9162 2.1.3.1
 * and 2.1.4.1 over index ranges of the leaf source; each subtree hash is
 * computed by streaming its leaves through a compact range, which yields
 * the same MTH as the RFC's recursive split (the root of a list is the
 * right-to-left fold of its perfect subtrees).  Verification is the
 * iterative algorithm of 2.1.3.2 and 2.1.4.2, bounded by the proof length.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "audit/merkle.h"
#include "util/status.h"

int
merkle_leaf_hash(const void *data, size_t n, merkle_hash out)
{
	static const unsigned char prefix = 0x00;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int r = MANDATE_EINTERNAL;

	if (md == NULL)
		return MANDATE_ENOMEM;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(md, &prefix, 1) == 1 &&
	    (n == 0 || EVP_DigestUpdate(md, data, n) == 1) &&
	    EVP_DigestFinal_ex(md, out, NULL) == 1)
		r = MANDATE_OK;
	EVP_MD_CTX_free(md);
	return r;
}

int
merkle_node_hash(const merkle_hash left, const merkle_hash right,
    merkle_hash out)
{
	unsigned char buf[1 + 2 * MERKLE_HASH_LEN];

	buf[0] = 0x01;
	memcpy(buf + 1, left, MERKLE_HASH_LEN);
	memcpy(buf + 1 + MERKLE_HASH_LEN, right, MERKLE_HASH_LEN);
	return SHA256(buf, sizeof(buf), out) ? MANDATE_OK : MANDATE_EINTERNAL;
}

struct merkle_hasher {
	EVP_MD *md;
	EVP_MD_CTX *ctx;
};

int
merkle_hasher_new(struct merkle_hasher **out)
{
	struct merkle_hasher *h = calloc(1, sizeof(*h));

	*out = NULL;
	if (h == NULL)
		return MANDATE_ENOMEM;
	h->md = EVP_MD_fetch(NULL, "SHA256", NULL);
	h->ctx = EVP_MD_CTX_new();
	if (h->md == NULL || h->ctx == NULL) {
		merkle_hasher_free(h);
		return MANDATE_EINTERNAL;
	}
	*out = h;
	return MANDATE_OK;
}

void
merkle_hasher_free(struct merkle_hasher *h)
{
	if (h == NULL)
		return;
	EVP_MD_CTX_free(h->ctx);
	EVP_MD_free(h->md);
	free(h);
}

int
merkle_hasher_begin(struct merkle_hasher *h, unsigned char prefix)
{
	return EVP_DigestInit_ex2(h->ctx, h->md, NULL) == 1 &&
	    EVP_DigestUpdate(h->ctx, &prefix, 1) == 1 ? MANDATE_OK :
	    MANDATE_EINTERNAL;
}

int
merkle_hasher_update(struct merkle_hasher *h, const void *p, size_t n)
{
	return n == 0 || EVP_DigestUpdate(h->ctx, p, n) == 1 ? MANDATE_OK :
	    MANDATE_EINTERNAL;
}

int
merkle_hasher_finish(struct merkle_hasher *h, merkle_hash out)
{
	return EVP_DigestFinal_ex(h->ctx, out, NULL) == 1 ? MANDATE_OK :
	    MANDATE_EINTERNAL;
}

int
merkle_node_hash_h(struct merkle_hasher *h, const merkle_hash left,
    const merkle_hash right, merkle_hash out)
{
	int r;

	if (h == NULL)
		return merkle_node_hash(left, right, out);
	if ((r = merkle_hasher_begin(h, 0x01)) != MANDATE_OK ||
	    (r = merkle_hasher_update(h, left, MERKLE_HASH_LEN)) !=
	    MANDATE_OK ||
	    (r = merkle_hasher_update(h, right, MERKLE_HASH_LEN)) !=
	    MANDATE_OK)
		return r;
	return merkle_hasher_finish(h, out);
}

int
merkle_empty_root(merkle_hash out)
{
	return SHA256((const unsigned char *)"", 0, out) ? MANDATE_OK :
	    MANDATE_EINTERNAL;
}

void
merkle_compact_init(struct merkle_compact *c)
{
	memset(c, 0, sizeof(*c));
}

int
merkle_compact_append(struct merkle_compact *c, const merkle_hash leaf)
{
	return merkle_compact_append_h(c, leaf, NULL);
}

int
merkle_compact_append_h(struct merkle_compact *c, const merkle_hash leaf,
    struct merkle_hasher *h)
{
	uint64_t s = c->size;
	int r;

	if (s >= INT64_MAX || c->n_hashes >= 64)
		return MANDATE_ELIMIT;
	memcpy(c->hashes[c->n_hashes++], leaf, MERKLE_HASH_LEN);
	/* each trailing one bit of the old size is a perfect subtree of the
	 * same height as the one just completed: merge them */
	while (s & 1) {
		unsigned i = c->n_hashes;
		if ((r = merkle_node_hash_h(h, c->hashes[i - 2],
		    c->hashes[i - 1], c->hashes[i - 2])) != MANDATE_OK)
			return r;
		c->n_hashes--;
		s >>= 1;
	}
	c->size++;
	return MANDATE_OK;
}

int
merkle_compact_root(const struct merkle_compact *c, merkle_hash out)
{
	merkle_hash acc;
	unsigned i;
	int r;

	if (c->n_hashes == 0)
		return merkle_empty_root(out);
	memcpy(acc, c->hashes[c->n_hashes - 1], MERKLE_HASH_LEN);
	for (i = c->n_hashes - 1; i > 0; i--)
		if ((r = merkle_node_hash(c->hashes[i - 1], acc, acc)) !=
		    MANDATE_OK)
			return r;
	memcpy(out, acc, MERKLE_HASH_LEN);
	return MANDATE_OK;
}

int
merkle_root(const uint8_t *leaves, uint64_t n, merkle_hash out)
{
	struct merkle_compact c;
	uint64_t i;
	int r;

	merkle_compact_init(&c);
	for (i = 0; i < n; i++)
		if ((r = merkle_compact_append(&c,
		    leaves + i * MERKLE_HASH_LEN)) != MANDATE_OK)
			return r;
	return merkle_compact_root(&c, out);
}

int
merkle_range_root(merkle_leaves_fn *get, void *ctx, uint64_t begin,
    uint64_t end, merkle_hash out)
{
	merkle_hash buf[MERKLE_READ_CHUNK];
	struct merkle_compact c;
	uint64_t at = begin;
	int r;

	if (begin > end)
		return MANDATE_EINVAL;
	merkle_compact_init(&c);
	while (at < end) {
		size_t count = end - at < MERKLE_READ_CHUNK ?
		    (size_t)(end - at) : MERKLE_READ_CHUNK;
		size_t i;
		if ((r = get(ctx, at, count, buf)) != MANDATE_OK)
			return r;
		for (i = 0; i < count; i++)
			if ((r = merkle_compact_append(&c, buf[i])) !=
			    MANDATE_OK)
				return r;
		at += count;
	}
	return merkle_compact_root(&c, out);
}

/* The largest power of two smaller than n (n >= 2). */
static uint64_t
split_point(uint64_t n)
{
	uint64_t k = 1;

	while ((k << 1) < n)
		k <<= 1;
	return k;
}

struct proof_out {
	merkle_range_fn *range;
	void *ctx;
	merkle_hash *h;
	size_t n, max;
};

static int
proof_add(uint64_t lo, uint64_t hi, struct proof_out *p)
{
	if (p->n >= p->max)
		return MANDATE_ELIMIT;
	return p->range(p->ctx, lo, hi, p->h[p->n++]);
}

/* A leaf source as a range source. */
struct leaves_src {
	merkle_leaves_fn *get;
	void *ctx;
};

static int
leaves_range(void *ctx, uint64_t begin, uint64_t end, merkle_hash out)
{
	struct leaves_src *src = ctx;

	return merkle_range_root(src->get, src->ctx, begin, end, out);
}

/* PATH(index - lo, D[lo:hi]) */
static int
path(uint64_t index, uint64_t lo, uint64_t hi, struct proof_out *p)
{
	uint64_t k;
	int r;

	if (hi - lo <= 1)
		return MANDATE_OK;
	k = split_point(hi - lo);
	if (index - lo < k) {
		if ((r = path(index, lo, lo + k, p)) != MANDATE_OK)
			return r;
		return proof_add(lo + k, hi, p);
	}
	if ((r = path(index, lo + k, hi, p)) != MANDATE_OK)
		return r;
	return proof_add(lo, lo + k, p);
}

int
merkle_inclusion_proof_r(merkle_range_fn *range, void *ctx, uint64_t index,
    uint64_t size, merkle_hash *proof, size_t *n)
{
	struct proof_out p = { range, ctx, proof, 0, MERKLE_MAX_PATH };
	int r;

	*n = 0;
	if (index >= size || size > INT64_MAX)
		return MANDATE_EINVAL;
	if ((r = path(index, 0, size, &p)) == MANDATE_OK)
		*n = p.n;
	return r;
}

int
merkle_inclusion_proof(merkle_leaves_fn *get, void *ctx, uint64_t index,
    uint64_t size, merkle_hash *proof, size_t *n)
{
	struct leaves_src src = { get, ctx };

	return merkle_inclusion_proof_r(leaves_range, &src, index, size,
	    proof, n);
}

/* SUBPROOF(m, D[lo:hi], b) */
static int
subproof(uint64_t m, uint64_t lo, uint64_t hi, int b, struct proof_out *p)
{
	uint64_t k;
	int r;

	if (m == hi - lo)
		return b ? MANDATE_OK : proof_add(lo, hi, p);
	k = split_point(hi - lo);
	if (m <= k) {
		if ((r = subproof(m, lo, lo + k, b, p)) !=
		    MANDATE_OK)
			return r;
		return proof_add(lo + k, hi, p);
	}
	if ((r = subproof(m - k, lo + k, hi, 0, p)) != MANDATE_OK)
		return r;
	return proof_add(lo, lo + k, p);
}

int
merkle_consistency_proof_r(merkle_range_fn *range, void *ctx,
    uint64_t first, uint64_t second, merkle_hash *proof, size_t *n)
{
	struct proof_out p = { range, ctx, proof, 0, MERKLE_MAX_PROOF };
	int r;

	*n = 0;
	if (first < 1 || first > second || second > INT64_MAX)
		return MANDATE_EINVAL;
	if ((r = subproof(first, 0, second, 1, &p)) == MANDATE_OK)
		*n = p.n;
	return r;
}

int
merkle_consistency_proof(merkle_leaves_fn *get, void *ctx, uint64_t first,
    uint64_t second, merkle_hash *proof, size_t *n)
{
	struct leaves_src src = { get, ctx };

	return merkle_consistency_proof_r(leaves_range, &src, first, second,
	    proof, n);
}

/* --- a whole tree in memory ------------------------------------------- */

struct merkle_mem {
	uint64_t n;
	unsigned n_levels;
	uint8_t *level[64];       /* level[h]: n >> h hashes */
};

void
merkle_mem_free(struct merkle_mem *t)
{
	unsigned h;

	if (t == NULL)
		return;
	for (h = 0; h < t->n_levels; h++)
		free(t->level[h]);
	free(t);
}

int
merkle_mem_build(const uint8_t *leaves, uint64_t n, struct merkle_mem **out)
{
	struct merkle_mem *t;
	uint64_t count = n, j;
	unsigned h;
	int r = MANDATE_ENOMEM;

	*out = NULL;
	if (n > MERKLE_MEM_MAX)
		return MANDATE_ELIMIT;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return MANDATE_ENOMEM;
	t->n = n;
	for (h = 0; count > 0 && h < 64; h++, count >>= 1) {
		if ((t->level[h] = malloc(count * MERKLE_HASH_LEN)) == NULL)
			goto out;
		t->n_levels = h + 1;
		if (h == 0) {
			memcpy(t->level[0], leaves, count * MERKLE_HASH_LEN);
			continue;
		}
		for (j = 0; j < count; j++) {
			const uint8_t *below = t->level[h - 1];
			if ((r = merkle_node_hash(below + 2 * j * MERKLE_HASH_LEN,
			    below + (2 * j + 1) * MERKLE_HASH_LEN,
			    t->level[h] + j * MERKLE_HASH_LEN)) != MANDATE_OK)
				goto out;
		}
	}
	*out = t;
	t = NULL;
	r = MANDATE_OK;
out:
	merkle_mem_free(t);
	return r;
}

int
merkle_mem_range_root(void *ctx, uint64_t begin, uint64_t end,
    merkle_hash out)
{
	const struct merkle_mem *t = ctx;
	uint64_t n = end - begin, k;
	merkle_hash left, right;
	unsigned h;
	int r;

	if (begin > end || end > t->n)
		return MANDATE_EINVAL;
	if (n == 0)
		return merkle_empty_root(out);
	/* an aligned perfect subtree is stored */
	if ((n & (n - 1)) == 0 && begin % n == 0) {
		for (h = 0; ((uint64_t)1 << h) < n; h++)
			;
		memcpy(out, t->level[h] + (begin >> h) * MERKLE_HASH_LEN,
		    MERKLE_HASH_LEN);
		return MANDATE_OK;
	}
	k = split_point(n);
	if ((r = merkle_mem_range_root(ctx, begin, begin + k, left)) !=
	    MANDATE_OK ||
	    (r = merkle_mem_range_root(ctx, begin + k, end, right)) !=
	    MANDATE_OK)
		return r;
	return merkle_node_hash(left, right, out);
}

int
merkle_verify_inclusion(uint64_t index, uint64_t size,
    const merkle_hash leaf, const uint8_t *proof, size_t n,
    const merkle_hash root)
{
	uint64_t fn, sn;
	merkle_hash r;
	size_t i;

	if (index >= size || n > MERKLE_MAX_PATH)
		return MANDATE_EINVAL;
	fn = index;
	sn = size - 1;
	memcpy(r, leaf, MERKLE_HASH_LEN);
	for (i = 0; i < n; i++) {
		if (sn == 0)
			return MANDATE_EINVAL;
		if ((fn & 1) || fn == sn) {
			if (merkle_node_hash(proof + i * MERKLE_HASH_LEN, r, r) != MANDATE_OK)
				return MANDATE_EINTERNAL;
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			if (merkle_node_hash(r, proof + i * MERKLE_HASH_LEN, r) != MANDATE_OK)
				return MANDATE_EINTERNAL;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || CRYPTO_memcmp(r, root, MERKLE_HASH_LEN) != 0)
		return MANDATE_EINVAL;
	return MANDATE_OK;
}

int
merkle_verify_consistency(uint64_t first, uint64_t second,
    const merkle_hash first_root, const merkle_hash second_root,
    const uint8_t *proof, size_t n)
{
	uint64_t fn, sn;
	merkle_hash fr, sr;
	size_t i = 0;

	if (first < 1 || first > second || n > MERKLE_MAX_PROOF)
		return MANDATE_EINVAL;
	if (first == second) {
		if (n != 0 || CRYPTO_memcmp(first_root, second_root,
		    MERKLE_HASH_LEN) != 0)
			return MANDATE_EINVAL;
		return MANDATE_OK;
	}
	if (n == 0)
		return MANDATE_EINVAL;
	fn = first - 1;
	sn = second - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	/* a power-of-two first tree is itself the proof's implicit head */
	if ((first & (first - 1)) == 0) {
		memcpy(fr, first_root, MERKLE_HASH_LEN);
	} else {
		memcpy(fr, proof, MERKLE_HASH_LEN);
		i = 1;
	}
	memcpy(sr, fr, MERKLE_HASH_LEN);
	for (; i < n; i++) {
		if (sn == 0)
			return MANDATE_EINVAL;
		if ((fn & 1) || fn == sn) {
			const uint8_t *c = proof + i * MERKLE_HASH_LEN;
			if (merkle_node_hash(c, fr, fr) != MANDATE_OK ||
			    merkle_node_hash(c, sr, sr) != MANDATE_OK)
				return MANDATE_EINTERNAL;
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else {
			if (merkle_node_hash(sr, proof + i * MERKLE_HASH_LEN, sr) != MANDATE_OK)
				return MANDATE_EINTERNAL;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0 || CRYPTO_memcmp(fr, first_root, MERKLE_HASH_LEN) != 0 ||
	    CRYPTO_memcmp(sr, second_root, MERKLE_HASH_LEN) != 0)
		return MANDATE_EINVAL;
	return MANDATE_OK;
}

/*
 * merkle.h - the audit log's Merkle tree, as defined by RFC 9162 section 2.1.
 *
 * Leaf hash SHA-256(0x00 || record), node hash SHA-256(0x01 || left ||
 * right), the Merkle Tree Hash (MTH) of n leaves, an incremental tree
 * state (a compact range: one hash per set bit of the size, O(log n)) that
 * yields the root as leaves are appended, inclusion and consistency proofs
 * generated from a source of leaf hashes, and their verification exactly
 * as RFC 9162 sections 2.1.3.2 and 2.1.4.2 describe.  Nothing here does
 * I/O; leaves come from the caller's callback (the store, a test array).
 *
 * Every function returns a MANDATE_* status.  Verification returns
 * MANDATE_OK only when the proof holds; any other answer (MANDATE_EINVAL
 * for a proof that does not verify or bad sizes) means "not proven".
 */
#ifndef MANDATE_AUDIT_MERKLE_H
#define MANDATE_AUDIT_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_LEN 32
/* Longest inclusion proof: one hash per level of a 2^63-leaf tree. */
#define MERKLE_MAX_PATH 64
/* Longest consistency proof (RFC 9162: at most about 2 log2 n). */
#define MERKLE_MAX_PROOF 128

typedef uint8_t merkle_hash[MERKLE_HASH_LEN];

/* SHA-256(0x00 || data). */
int merkle_leaf_hash(const void *data, size_t n, merkle_hash out);

/* SHA-256(0x01 || left || right). */
int merkle_node_hash(const merkle_hash left, const merkle_hash right,
    merkle_hash out);

/*
 * A reusable SHA-256 context: the digest fetched and the context
 * allocated once, for a caller that hashes many leaves and nodes (the
 * store's audit appends).  One thread at a time; merkle_hasher_free
 * accepts NULL.  The functions that take one accept NULL for "make a
 * context for this call" (the same hash either way).
 */
struct merkle_hasher;
int merkle_hasher_new(struct merkle_hasher **out);
void merkle_hasher_free(struct merkle_hasher *h);

/* Stream one hash: begin with its one-byte prefix (0x00 leaf, 0x01
 * node), update with the data, finish into out. */
int merkle_hasher_begin(struct merkle_hasher *h, unsigned char prefix);
int merkle_hasher_update(struct merkle_hasher *h, const void *p, size_t n);
int merkle_hasher_finish(struct merkle_hasher *h, merkle_hash out);

/* merkle_node_hash with a reusable context (h may be NULL). */
int merkle_node_hash_h(struct merkle_hasher *h, const merkle_hash left,
    const merkle_hash right, merkle_hash out);

/* The MTH of the empty tree: SHA-256 of no bytes. */
int merkle_empty_root(merkle_hash out);

/*
 * The incremental state of a tree of `size` leaves: the roots of its
 * perfect subtrees, largest (leftmost) first, one per set bit of size.
 * Zero-initialise (or merkle_compact_init) for the empty tree.
 */
struct merkle_compact {
	uint64_t size;
	unsigned n_hashes;
	merkle_hash hashes[64];
};

void merkle_compact_init(struct merkle_compact *c);

/* Append one leaf hash; MANDATE_ELIMIT past 2^63 - 1 leaves. */
int merkle_compact_append(struct merkle_compact *c, const merkle_hash leaf);

/* The same, its node hashes through h (may be NULL). */
int merkle_compact_append_h(struct merkle_compact *c, const merkle_hash leaf,
    struct merkle_hasher *h);

/* The MTH of the leaves appended so far (the empty root for none). */
int merkle_compact_root(const struct merkle_compact *c, merkle_hash out);

/* The MTH of n leaf hashes stored one after another at leaves. */
int merkle_root(const uint8_t *leaves, uint64_t n, merkle_hash out);

/*
 * A source of leaf hashes: fill out[0..count) with the hashes of leaves
 * begin..begin+count-1 (count is at most MERKLE_READ_CHUNK).  Returns a
 * MANDATE_* status; any error aborts the proof.
 */
#define MERKLE_READ_CHUNK 256
typedef int merkle_leaves_fn(void *ctx, uint64_t begin, size_t count,
    merkle_hash *out);

/* The MTH of leaves [begin, end) read from the source. */
int merkle_range_root(merkle_leaves_fn *get, void *ctx, uint64_t begin,
    uint64_t end, merkle_hash out);

/*
 * PATH(index, D[0:size]) of RFC 9162 2.1.3.1, leaf to root, into
 * proof[0..*n) (room for MERKLE_MAX_PATH).  EINVAL unless index < size.
 * Cost: reads every leaf below size once; the _r variants below with a
 * subtree-hash source (tree_cache.c, merkle_mem) are O(log n).
 */
int merkle_inclusion_proof(merkle_leaves_fn *get, void *ctx, uint64_t index,
    uint64_t size, merkle_hash *proof, size_t *n);

/*
 * PROOF(first, D[0:second]) of RFC 9162 2.1.4.1 into proof[0..*n) (room
 * for MERKLE_MAX_PROOF).  EINVAL unless 1 <= first <= second.  The proof
 * of first == second is empty.
 */
int merkle_consistency_proof(merkle_leaves_fn *get, void *ctx,
    uint64_t first, uint64_t second, merkle_hash *proof, size_t *n);

/*
 * The same proofs over a source of subtree hashes: range(ctx, begin, end,
 * out) must give the MTH of leaves [begin, end).  Proof generation asks
 * only for aligned perfect subtrees and the right edges of the tree, so
 * a source that stores subtree hashes answers in O(log n).
 */
typedef int merkle_range_fn(void *ctx, uint64_t begin, uint64_t end,
    merkle_hash out);
int merkle_inclusion_proof_r(merkle_range_fn *range, void *ctx,
    uint64_t index, uint64_t size, merkle_hash *proof, size_t *n);
int merkle_consistency_proof_r(merkle_range_fn *range, void *ctx,
    uint64_t first, uint64_t second, merkle_hash *proof, size_t *n);

/*
 * A whole tree in memory: every level's hashes (about 2n hashes), for a
 * verifier that has recomputed every leaf.  merkle_mem_range_root is a
 * merkle_range_fn (ctx: the struct merkle_mem) answering any range in
 * O(log n).  ELIMIT past MERKLE_MEM_MAX leaves.
 */
#define MERKLE_MEM_MAX ((uint64_t)1 << 28)
struct merkle_mem;
int merkle_mem_build(const uint8_t *leaves, uint64_t n,
    struct merkle_mem **out);
void merkle_mem_free(struct merkle_mem *t);   /* NULL is fine */
int merkle_mem_range_root(void *ctx, uint64_t begin, uint64_t end,
    merkle_hash out);

/* RFC 9162 2.1.3.2: does leaf at index belong to the tree of size with
 * this root?  proof holds n hashes one after another.  MANDATE_OK if so. */
int merkle_verify_inclusion(uint64_t index, uint64_t size,
    const merkle_hash leaf, const uint8_t *proof, size_t n,
    const merkle_hash root);

/* RFC 9162 2.1.4.2: is the tree (second, second_root) an append-only
 * extension of (first, first_root)?  MANDATE_OK if so; first must be >= 1. */
int merkle_verify_consistency(uint64_t first, uint64_t second,
    const merkle_hash first_root, const merkle_hash second_root,
    const uint8_t *proof, size_t n);

#endif

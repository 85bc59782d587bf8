/*
 * fuzz_merkle.c - the audit log's proof verifiers (RFC 9162 2.1.3.2 and
 * 2.1.4.2), which `mandate audit verify` runs on proofs it is sent.
 *
 * The input picks a tree (1 to 96 leaves, leaf i the hash of i and a
 * salt byte), a proof kind and its sizes, and a candidate proof: the true
 * one (it must verify), raw bytes from the input, the true one with one
 * byte flipped, or the true one with a hash dropped or added.  For a given
 * leaf, index, size and root only the true proof may verify: anything else
 * that verifies is a forgery, and the harness aborts.  The true proofs
 * come from the in-memory tree and must equal the ones made from the leaf
 * source, and every way of computing a root must agree.
 */
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/merkle.h"
#include "util/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAX_LEAVES 96

struct leaves {
	uint8_t h[MAX_LEAVES][MERKLE_HASH_LEN];
	uint64_t n;
};

static int
get_leaves(void *ctx, uint64_t begin, size_t count, merkle_hash *out)
{
	const struct leaves *l = ctx;

	if (begin + count > l->n)
		return MANDATE_EINVAL;
	memcpy(out, l->h[begin], count * MERKLE_HASH_LEN);
	return MANDATE_OK;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct leaves l;
	merkle_hash proof[MERKLE_MAX_PROOF + 1], other[MERKLE_MAX_PROOF];
	merkle_hash root, r2, first_root, leaf;
	uint8_t cand[(MERKLE_MAX_PROOF + 1) * MERKLE_HASH_LEN];
	struct merkle_mem *t = NULL;
	struct merkle_compact c;
	size_t n_proof = 0, n_other = 0, n_cand = 0;
	uint64_t a, b;
	bool incl, ok;
	int r;

	if (size < 5)
		return 0;
	l.n = 1 + data[0] % MAX_LEAVES;
	incl = (data[1] & 1) == 0;
	merkle_compact_init(&c);
	for (uint64_t i = 0; i < l.n; i++) {
		uint8_t in[2] = { (uint8_t)i, data[2] };

		if (merkle_leaf_hash(in, sizeof(in), l.h[i]) != MANDATE_OK ||
		    merkle_compact_append(&c, l.h[i]) != MANDATE_OK)
			abort();
	}
	if (merkle_root(&l.h[0][0], l.n, root) != MANDATE_OK ||
	    merkle_compact_root(&c, r2) != MANDATE_OK ||
	    memcmp(root, r2, MERKLE_HASH_LEN) != 0 ||
	    merkle_mem_build(&l.h[0][0], l.n, &t) != MANDATE_OK)
		abort();
	if (incl) {
		a = data[3] % l.n;                      /* index */
		b = l.n;                                /* size */
		if (merkle_inclusion_proof_r(merkle_mem_range_root, t, a, b,
		    proof, &n_proof) != MANDATE_OK ||
		    merkle_inclusion_proof(get_leaves, &l, a, b, other,
		    &n_other) != MANDATE_OK)
			abort();
		memcpy(leaf, l.h[a], MERKLE_HASH_LEN);
	} else {
		a = 1 + data[3] % l.n;                  /* first size */
		b = l.n;                                /* second size */
		if (merkle_consistency_proof_r(merkle_mem_range_root, t, a, b,
		    proof, &n_proof) != MANDATE_OK ||
		    merkle_consistency_proof(get_leaves, &l, a, b, other,
		    &n_other) != MANDATE_OK ||
		    merkle_mem_range_root(t, 0, a, first_root) != MANDATE_OK ||
		    merkle_root(&l.h[0][0], a, r2) != MANDATE_OK ||
		    memcmp(first_root, r2, MERKLE_HASH_LEN) != 0)
			abort();
	}
	if (n_proof != n_other || memcmp(proof, other, n_proof *
	    MERKLE_HASH_LEN) != 0)
		abort();
	/* the candidate */
	memcpy(cand, proof, n_proof * MERKLE_HASH_LEN);
	n_cand = n_proof;
	switch (data[4] % 4) {
	case 0:
		break;
	case 1:
		n_cand = (size - 5) / MERKLE_HASH_LEN;
		if (n_cand > MERKLE_MAX_PROOF + 1)
			n_cand = MERKLE_MAX_PROOF + 1;
		memcpy(cand, data + 5, n_cand * MERKLE_HASH_LEN);
		break;
	case 2:
		if (n_cand > 0 && size >= 7) {
			size_t at = ((size_t)data[5] << 8 | data[6]) %
			    (n_cand * MERKLE_HASH_LEN);
			cand[at] ^= (uint8_t)(size > 7 && data[7] ? data[7] : 1);
		}
		break;
	case 3:
		if (n_cand > 0 && (size < 6 || data[5] & 1))
			n_cand--;
		else
			memcpy(cand + n_cand++ * MERKLE_HASH_LEN, root,
			    MERKLE_HASH_LEN);
		break;
	}
	if (incl)
		r = merkle_verify_inclusion(a, b, leaf, cand, n_cand, root);
	else
		r = merkle_verify_consistency(a, b, first_root, root, cand,
		    n_cand);
	ok = n_cand == n_proof && memcmp(cand, proof, n_cand *
	    MERKLE_HASH_LEN) == 0;
	if ((r == MANDATE_OK) != ok)
		abort();       /* a true proof refused, or a forgery accepted */
	/* the true proof never proves another leaf */
	if (incl) {
		leaf[0] ^= 1;
		if (merkle_verify_inclusion(a, b, leaf, &proof[0][0], n_proof,
		    root) == MANDATE_OK)
			abort();
	}
	merkle_mem_free(t);
	return 0;
}

/*
 * merkle_test.c - the audit Merkle tree against RFC 9162's own definitions.
 *
 * The reference here is written straight from the RFC's text: MTH by its
 * recursive definition over the raw entries, PATH and PROOF by theirs,
 * on arrays.  The module under test must agree with it for every tree size
 * up to a few hundred leaves, every index and every (first, second) pair
 * below a bound, its verifiers must accept every reference proof and
 * reject every altered one (a flipped bit in any hash, a hash dropped or
 * added, a wrong index or size, a wrong root).  The published CT test
 * vector roots pin the hashing itself.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/sha.h>

#include "audit/merkle.h"
#include "util/status.h"

#define MAX_LEAVES 520

/* --- the reference, from RFC 9162 2.1.1, 2.1.3.1, 2.1.4.1 --------------- */

struct entries {
	unsigned char data[MAX_LEAVES][8];
	size_t len[MAX_LEAVES];
	merkle_hash leaf[MAX_LEAVES];   /* via the module, for the source */
	merkle_hash ref_leaf[MAX_LEAVES];  /* via the reference */
};

static void
sha256_2(const void *a, size_t an, const void *b, size_t bn, merkle_hash out)
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();

	assert_non_null(md);
	assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	assert_int_equal(EVP_DigestUpdate(md, a, an), 1);
	if (bn)
		assert_int_equal(EVP_DigestUpdate(md, b, bn), 1);
	assert_int_equal(EVP_DigestFinal_ex(md, out, NULL), 1);
	EVP_MD_CTX_free(md);
}

/* MTH(D[lo:hi]) by the recursive definition. */
static void
ref_mth(const struct entries *e, size_t lo, size_t hi, merkle_hash out)
{
	size_t n = hi - lo, k = 1;
	unsigned char buf[1 + 2 * MERKLE_HASH_LEN];
	merkle_hash l, r;

	if (n == 0) {
		sha256_2("", 0, NULL, 0, out);
		return;
	}
	if (n == 1) {
		memcpy(out, e->ref_leaf[lo], MERKLE_HASH_LEN);
		return;
	}
	while (k * 2 < n)
		k *= 2;
	ref_mth(e, lo, lo + k, l);
	ref_mth(e, lo + k, hi, r);
	buf[0] = 1;
	memcpy(buf + 1, l, 32);
	memcpy(buf + 33, r, 32);
	assert_non_null(SHA256(buf, sizeof(buf), out));
}

/* PATH(m, D[lo:hi]) appended to out. */
static void
ref_path(const struct entries *e, size_t m, size_t lo, size_t hi,
    merkle_hash *out, size_t *n)
{
	size_t k = 1;

	if (hi - lo <= 1)
		return;
	while (k * 2 < hi - lo)
		k *= 2;
	if (m < k) {
		ref_path(e, m, lo, lo + k, out, n);
		ref_mth(e, lo + k, hi, out[(*n)++]);
	} else {
		ref_path(e, m - k, lo + k, hi, out, n);
		ref_mth(e, lo, lo + k, out[(*n)++]);
	}
}

/* SUBPROOF(m, D[lo:hi], b) appended to out. */
static void
ref_subproof(const struct entries *e, size_t m, size_t lo, size_t hi, int b,
    merkle_hash *out, size_t *n)
{
	size_t k = 1;

	if (m == hi - lo) {
		if (!b)
			ref_mth(e, lo, hi, out[(*n)++]);
		return;
	}
	while (k * 2 < hi - lo)
		k *= 2;
	if (m <= k) {
		ref_subproof(e, m, lo, lo + k, b, out, n);
		ref_mth(e, lo + k, hi, out[(*n)++]);
	} else {
		ref_subproof(e, m - k, lo + k, hi, 0, out, n);
		ref_mth(e, lo, lo + k, out[(*n)++]);
	}
}

/* --- fixtures ------------------------------------------------------------ */

static struct entries *
make_entries(void)
{
	struct entries *e = calloc(1, sizeof(*e));
	size_t i;

	assert_non_null(e);
	for (i = 0; i < MAX_LEAVES; i++) {
		/* entry i: i's bytes, varying length (0..7 bytes) */
		size_t j, len = i % 8;
		for (j = 0; j < len; j++)
			e->data[i][j] = (unsigned char)(i * 31 + j * 7);
		e->len[i] = len;
		assert_int_equal(merkle_leaf_hash(e->data[i], len,
		    e->leaf[i]), MANDATE_OK);
		/* the RFC's leaf: SHA-256(0x00 || d(i)), by the reference */
		{
			unsigned char zero = 0;
			sha256_2(&zero, 1, e->data[i], len, e->ref_leaf[i]);
		}
	}
	return e;
}

static int
array_leaves(void *ctx, uint64_t begin, size_t count, merkle_hash *out)
{
	const struct entries *e = ctx;

	if (begin + count > MAX_LEAVES)
		return MANDATE_ENOTFOUND;
	memcpy(out, e->leaf[begin], count * sizeof(merkle_hash));
	return MANDATE_OK;
}

static void
hex_to(const char *hex, unsigned char *out, size_t n)
{
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned v;
		char two[3] = { hex[2 * i], hex[2 * i + 1], 0 };
		v = (unsigned)strtoul(two, NULL, 16);
		out[i] = (unsigned char)v;
	}
}

/* --- tests --------------------------------------------------------------- */

/* The certificate-transparency test vectors (RFC 6962 / 9162 hashing). */
static void
test_ct_vectors(void **state)
{
	static const char *const data[8] = { "", "00", "10", "2021", "3031",
	    "40414243", "5051525354555657",
	    "606162636465666768696a6b6c6d6e6f" };
	static const char *const roots[8] = {
	    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
	};
	struct merkle_compact c;
	merkle_hash leaf, root, want;
	unsigned char buf[16];
	int i;

	(void)state;
	merkle_compact_init(&c);
	assert_int_equal(merkle_compact_root(&c, root), MANDATE_OK);
	hex_to("e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	    want, 32);
	assert_memory_equal(root, want, 32);
	for (i = 0; i < 8; i++) {
		size_t n = strlen(data[i]) / 2;
		hex_to(data[i], buf, n);
		assert_int_equal(merkle_leaf_hash(buf, n, leaf), MANDATE_OK);
		assert_int_equal(merkle_compact_append(&c, leaf), MANDATE_OK);
		assert_int_equal(merkle_compact_root(&c, root), MANDATE_OK);
		hex_to(roots[i], want, 32);
		assert_memory_equal(root, want, 32);
	}
}

/* The compact range and range roots equal the recursive MTH for every
 * size, and the compact state stays one hash per set bit. */
static void
test_roots(void **state)
{
	struct entries *e = make_entries();
	struct merkle_compact c;
	merkle_hash got, want;
	size_t n;

	(void)state;
	merkle_compact_init(&c);
	for (n = 0; n <= MAX_LEAVES; n++) {
		ref_mth(e, 0, n, want);
		assert_int_equal(merkle_compact_root(&c, got), MANDATE_OK);
		assert_memory_equal(got, want, 32);
		assert_int_equal(c.n_hashes, __builtin_popcountll(n));
		assert_int_equal(merkle_root(e->leaf[0], n,
		    got), MANDATE_OK);
		assert_memory_equal(got, want, 32);
		assert_int_equal(merkle_range_root(array_leaves, e, 0, n, got),
		    MANDATE_OK);
		assert_memory_equal(got, want, 32);
		if (n < MAX_LEAVES)
			assert_int_equal(merkle_compact_append(&c, e->leaf[n]),
			    MANDATE_OK);
	}
	/* a range not starting at 0 is the MTH of that sublist */
	ref_mth(e, 100, 357, want);
	assert_int_equal(merkle_range_root(array_leaves, e, 100, 357, got),
	    MANDATE_OK);
	assert_memory_equal(got, want, 32);
	free(e);
}

static void
check_inclusion(struct entries *e, size_t size, size_t i, int alter)
{
	merkle_hash ref[MERKLE_MAX_PATH], got[MERKLE_MAX_PATH], root, bad;
	size_t n_ref = 0, n_got = 0, j;

	ref_mth(e, 0, size, root);
	ref_path(e, i, 0, size, ref, &n_ref);
	assert_int_equal(merkle_inclusion_proof(array_leaves, e, i,
	    size, got, &n_got), MANDATE_OK);
	assert_int_equal(n_got, n_ref);
	if (n_ref)
		assert_memory_equal(got, ref[0], n_ref * sizeof(merkle_hash));
	assert_int_equal(merkle_verify_inclusion(i, size, e->leaf[i], ref[0],
	    n_ref, root), MANDATE_OK);
	if (!alter)
		return;
	/* every altered proof fails */
	for (j = 0; j < n_ref; j++) {
		ref[j][j % 32] ^= 0x01;
		assert_int_not_equal(merkle_verify_inclusion(i, size,
		    e->leaf[i], ref[0], n_ref, root), MANDATE_OK);
		ref[j][j % 32] ^= 0x01;
	}
	if (n_ref)
		assert_int_not_equal(merkle_verify_inclusion(i, size,
		    e->leaf[i], ref[0], n_ref - 1, root), MANDATE_OK);
	if (n_ref < MERKLE_MAX_PATH) {
		memcpy(ref[n_ref], root, 32);
		assert_int_not_equal(merkle_verify_inclusion(i, size,
		    e->leaf[i], ref[0], n_ref + 1, root), MANDATE_OK);
	}
	memcpy(bad, root, 32);
	bad[31] ^= 0x80;
	assert_int_not_equal(merkle_verify_inclusion(i, size, e->leaf[i], ref[0],
	    n_ref, bad), MANDATE_OK);
	memcpy(bad, e->leaf[i], 32);
	bad[0] ^= 0x02;
	assert_int_not_equal(merkle_verify_inclusion(i, size, bad, ref[0], n_ref,
	    root), MANDATE_OK);
	if (size > 1)
		assert_int_not_equal(merkle_verify_inclusion((i + 1) % size,
		    size, e->leaf[i], ref[0], n_ref, root), MANDATE_OK);
	/* sizes are bound by the root: the proof under the root of size + 1 */
	if (size < MAX_LEAVES) {
		ref_mth(e, 0, size + 1, bad);
		assert_int_not_equal(merkle_verify_inclusion(i, size + 1,
		    e->leaf[i], ref[0], n_ref, bad), MANDATE_OK);
	}
	assert_int_not_equal(merkle_verify_inclusion(size, size, e->leaf[i],
	    ref[0], n_ref, root), MANDATE_OK);
}

static void
test_inclusion_all(void **state)
{
	struct entries *e = make_entries();
	size_t size, i;

	(void)state;
	/* every index of every size up to 200; altered proofs up to 64 */
	for (size = 1; size <= 200; size++)
		for (i = 0; i < size; i++)
			check_inclusion(e, size, i, size <= 64);
	/* a few larger trees around powers of two, every 7th index */
	{
		static const size_t big[] = { 255, 256, 257, 383, 511, 512,
		    513, MAX_LEAVES };
		size_t b;
		for (b = 0; b < sizeof(big) / sizeof(big[0]); b++)
			for (i = 0; i < big[b]; i += 7)
				check_inclusion(e, big[b], i, 1);
	}
	free(e);
}

static void
check_consistency(struct entries *e, size_t m, size_t size, int alter)
{
	merkle_hash ref[MERKLE_MAX_PROOF], got[MERKLE_MAX_PROOF], r1, r2, bad;
	size_t n_ref = 0, n_got = 0, j;

	ref_mth(e, 0, m, r1);
	ref_mth(e, 0, size, r2);
	ref_subproof(e, m, 0, size, 1, ref, &n_ref);
	assert_int_equal(merkle_consistency_proof(array_leaves, e, m,
	    size, got, &n_got), MANDATE_OK);
	assert_int_equal(n_got, n_ref);
	if (n_ref)
		assert_memory_equal(got, ref[0], n_ref * sizeof(merkle_hash));
	assert_int_equal(merkle_verify_consistency(m, size, r1, r2, ref[0],
	    n_ref), MANDATE_OK);
	if (!alter)
		return;
	for (j = 0; j < n_ref; j++) {
		ref[j][(j * 5) % 32] ^= 0x10;
		assert_int_not_equal(merkle_verify_consistency(m, size, r1, r2,
		    ref[0], n_ref), MANDATE_OK);
		ref[j][(j * 5) % 32] ^= 0x10;
	}
	if (n_ref)
		assert_int_not_equal(merkle_verify_consistency(m, size, r1, r2,
		    ref[0], n_ref - 1), MANDATE_OK);
	memcpy(ref[n_ref], r2, 32);
	assert_int_not_equal(merkle_verify_consistency(m, size, r1, r2, ref[0],
	    n_ref + 1), MANDATE_OK);
	memcpy(bad, r1, 32);
	bad[3] ^= 4;
	assert_int_not_equal(merkle_verify_consistency(m, size, bad, r2, ref[0],
	    n_ref), MANDATE_OK);
	memcpy(bad, r2, 32);
	bad[30] ^= 4;
	assert_int_not_equal(merkle_verify_consistency(m, size, r1, bad, ref[0],
	    n_ref), MANDATE_OK);
	if (m < size) {
		/* the same proof does not prove other sizes */
		if (size < MAX_LEAVES) {
			ref_mth(e, 0, size + 1, bad);
			assert_int_not_equal(merkle_verify_consistency(m,
			    size + 1, r1, bad, ref[0], n_ref), MANDATE_OK);
		}
		if (m > 1)
			assert_int_not_equal(merkle_verify_consistency(m - 1,
			    size, r1, r2, ref[0], n_ref), MANDATE_OK);
	}
}

static void
test_consistency_all(void **state)
{
	struct entries *e = make_entries();
	size_t size, m;

	(void)state;
	for (size = 1; size <= 140; size++)
		for (m = 1; m <= size; m++)
			check_consistency(e, m, size, size <= 48);
	{
		static const size_t big[] = { 255, 256, 257, 511, 512, 513,
		    MAX_LEAVES };
		size_t b;
		for (b = 0; b < sizeof(big) / sizeof(big[0]); b++)
			for (m = 1; m <= big[b]; m += 5)
				check_consistency(e, m, big[b], 1);
	}
	free(e);
}

/* The in-memory tree answers every range and gives the same proofs. */
static void
test_mem_tree(void **state)
{
	struct entries *e = make_entries();
	merkle_hash a[MERKLE_MAX_PROOF], b[MERKLE_MAX_PROOF], got, want;
	size_t sizes[] = { 1, 2, 3, 7, 8, 9, 100, 255, 256, 257, MAX_LEAVES };
	size_t si, i, na, nb;

	(void)state;
	for (si = 0; si < sizeof(sizes) / sizeof(sizes[0]); si++) {
		size_t n = sizes[si];
		struct merkle_mem *t = NULL;
		assert_int_equal(merkle_mem_build(e->leaf[0], n, &t),
		    MANDATE_OK);
		for (i = 0; i <= n; i += 1 + n / 40) {
			ref_mth(e, i, n, want);
			assert_int_equal(merkle_mem_range_root(t, i, n, got),
			    MANDATE_OK);
			assert_memory_equal(got, want, 32);
			if (i < n) {
				assert_int_equal(merkle_inclusion_proof(
				    array_leaves, e, i, n, a, &na), MANDATE_OK);
				assert_int_equal(merkle_inclusion_proof_r(
				    merkle_mem_range_root, t, i, n, b, &nb),
				    MANDATE_OK);
				assert_int_equal(na, nb);
				if (na)
					assert_memory_equal(a, b, na * 32);
			}
			if (i >= 1) {
				assert_int_equal(merkle_consistency_proof(
				    array_leaves, e, i, n, a, &na), MANDATE_OK);
				assert_int_equal(merkle_consistency_proof_r(
				    merkle_mem_range_root, t, i, n, b, &nb),
				    MANDATE_OK);
				assert_int_equal(na, nb);
				if (na)
					assert_memory_equal(a, b, na * 32);
			}
		}
		assert_int_not_equal(merkle_mem_range_root(t, 0, n + 1, got),
		    MANDATE_OK);
		merkle_mem_free(t);
	}
	free(e);
}

/* A reused context gives the same hashes as a fresh one per call: the
 * compact ranges built both ways agree after every append, and so do
 * node hashes through it. */
static void
test_hasher(void **state)
{
	struct merkle_compact a, b;
	struct merkle_hasher *h = NULL;
	merkle_hash leaf, ra, rb;

	(void)state;
	assert_int_equal(merkle_hasher_new(&h), MANDATE_OK);
	merkle_compact_init(&a);
	merkle_compact_init(&b);
	for (unsigned i = 0; i < 130; i++) {
		unsigned char d[4] = { (unsigned char)i, 1, 2, 3 };

		assert_int_equal(merkle_leaf_hash(d, sizeof(d), leaf),
		    MANDATE_OK);
		assert_int_equal(merkle_compact_append(&a, leaf), MANDATE_OK);
		assert_int_equal(merkle_compact_append_h(&b, leaf, h),
		    MANDATE_OK);
		assert_int_equal(a.n_hashes, b.n_hashes);
		assert_memory_equal(a.hashes, b.hashes,
		    a.n_hashes * MERKLE_HASH_LEN);
		assert_int_equal(merkle_compact_root(&a, ra), MANDATE_OK);
		assert_int_equal(merkle_compact_root(&b, rb), MANDATE_OK);
		assert_memory_equal(ra, rb, MERKLE_HASH_LEN);
		assert_int_equal(merkle_node_hash(ra, leaf, ra), MANDATE_OK);
		assert_int_equal(merkle_node_hash_h(h, rb, leaf, rb),
		    MANDATE_OK);
		assert_memory_equal(ra, rb, MERKLE_HASH_LEN);
	}
	merkle_hasher_free(h);
	merkle_hasher_free(NULL);
}

static void
test_bad_arguments(void **state)
{
	struct entries *e = make_entries();
	merkle_hash p[MERKLE_MAX_PROOF], r;
	size_t n = 99;

	(void)state;
	memset(r, 0, sizeof(r));
	assert_int_equal(merkle_inclusion_proof(array_leaves, e, 5, 5, p, &n),
	    MANDATE_EINVAL);
	assert_int_equal(n, 0);
	assert_int_equal(merkle_inclusion_proof(array_leaves, e, 0, 0, p, &n),
	    MANDATE_EINVAL);
	assert_int_equal(merkle_consistency_proof(array_leaves, e, 0, 5, p,
	    &n), MANDATE_EINVAL);
	assert_int_equal(merkle_consistency_proof(array_leaves, e, 6, 5, p,
	    &n), MANDATE_EINVAL);
	/* a source error stops the proof */
	assert_int_equal(merkle_inclusion_proof(array_leaves, e, 0,
	    MAX_LEAVES + 1, p, &n), MANDATE_ENOTFOUND);
	assert_int_not_equal(merkle_verify_consistency(0, 1, r, r, p[0], 0),
	    MANDATE_OK);
	assert_int_not_equal(merkle_verify_consistency(2, 1, r, r, p[0], 0),
	    MANDATE_OK);
	assert_int_not_equal(merkle_verify_consistency(1, 2, r, r, p[0], 0),
	    MANDATE_OK);
	assert_int_not_equal(merkle_verify_inclusion(0, 0, r, p[0], 0, r),
	    MANDATE_OK);
	assert_int_not_equal(merkle_verify_inclusion(0, 1, r, p[0],
	    MERKLE_MAX_PATH + 1, r), MANDATE_OK);
	free(e);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ct_vectors),
		cmocka_unit_test(test_roots),
		cmocka_unit_test(test_inclusion_all),
		cmocka_unit_test(test_consistency_all),
		cmocka_unit_test(test_mem_tree),
		cmocka_unit_test(test_hasher),
		cmocka_unit_test(test_bad_arguments),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

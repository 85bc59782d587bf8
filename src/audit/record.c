/*
 * record.c - the canonical encoding of an audit record and its leaf hash
 * (the format is in audit.h and docs/audit.md), and the store as a source
 * of leaf hashes for proofs.
 *
 * The hash is streamed field by field, so appending a record never copies
 * its (up to STORE_MAX_JSON) fields; audit_record_encode builds the same
 * bytes in an arena for tests and tools.
 */
#include <string.h>

#include <openssl/evp.h>

#include "audit/audit.h"
#include "util/status.h"

typedef int put_fn(void *ctx, const void *p, size_t n);

static int
put_u32(put_fn *put, void *ctx, uint32_t v)
{
	unsigned char b[4] = { (unsigned char)(v >> 24),
	    (unsigned char)(v >> 16), (unsigned char)(v >> 8),
	    (unsigned char)v };
	return put(ctx, b, 4);
}

static int
put_i64(put_fn *put, void *ctx, int64_t sv)
{
	uint64_t v = (uint64_t)sv;
	unsigned char b[8];
	int i;

	for (i = 7; i >= 0; i--) {
		b[i] = (unsigned char)v;
		v >>= 8;
	}
	return put(ctx, b, 8);
}

static int
put_str(put_fn *put, void *ctx, struct str s)
{
	int r;

	if (s.n > UINT32_MAX)
		return MANDATE_ELIMIT;
	if ((r = put_u32(put, ctx, (uint32_t)s.n)) != MANDATE_OK)
		return r;
	return s.n ? put(ctx, s.p, s.n) : MANDATE_OK;
}

static int
encode(const struct store_audit_event *e, put_fn *put, void *ctx)
{
	int r;

	if ((r = put_str(put, ctx, STR_LIT(AUDIT_RECORD_VERSION))) ||
	    (r = put_i64(put, ctx, e->id)) ||
	    (r = put_i64(put, ctx, e->time)) ||
	    (r = put_str(put, ctx, e->type)) ||
	    (r = put_str(put, ctx, e->request_id)) ||
	    (r = put_str(put, ctx, e->agent)) ||
	    (r = put_str(put, ctx, e->task_id)))
		return r;
	return put_str(put, ctx, e->fields_json);
}

static int
put_digest(void *ctx, const void *p, size_t n)
{
	return EVP_DigestUpdate(ctx, p, n) == 1 ? MANDATE_OK :
	    MANDATE_EINTERNAL;
}

static int
put_hasher(void *ctx, const void *p, size_t n)
{
	return merkle_hasher_update(ctx, p, n);
}

int
audit_record_leaf_hash_h(const struct store_audit_event *e,
    struct merkle_hasher *h, merkle_hash out)
{
	int r;

	if (h == NULL)
		return audit_record_leaf_hash(e, out);
	if ((r = merkle_hasher_begin(h, 0x00)) != MANDATE_OK ||
	    (r = encode(e, put_hasher, h)) != MANDATE_OK)
		return r;
	return merkle_hasher_finish(h, out);
}

int
audit_record_leaf_hash(const struct store_audit_event *e, merkle_hash out)
{
	static const unsigned char leaf_prefix = 0x00;
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	int r = MANDATE_EINTERNAL;

	if (md == NULL)
		return MANDATE_ENOMEM;
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1 ||
	    EVP_DigestUpdate(md, &leaf_prefix, 1) != 1)
		goto out;
	if ((r = encode(e, put_digest, md)) != MANDATE_OK)
		goto out;
	r = EVP_DigestFinal_ex(md, out, NULL) == 1 ? MANDATE_OK :
	    MANDATE_EINTERNAL;
out:
	EVP_MD_CTX_free(md);
	return r;
}

struct sizer {
	size_t n;
};

static int
put_size(void *ctx, const void *p, size_t n)
{
	struct sizer *s = ctx;

	(void)p;
	s->n += n;
	return MANDATE_OK;
}

struct filler {
	unsigned char *p;
};

static int
put_fill(void *ctx, const void *p, size_t n)
{
	struct filler *f = ctx;

	memcpy(f->p, p, n);
	f->p += n;
	return MANDATE_OK;
}

int
audit_record_encode(const struct store_audit_event *e, struct arena *a,
    struct str *out)
{
	struct sizer sz = { 0 };
	struct filler fl;
	unsigned char *buf;
	int r;

	*out = STR_NULL;
	if ((r = encode(e, put_size, &sz)) != MANDATE_OK)
		return r;
	if ((buf = arena_alloc(a, sz.n + 1)) == NULL)
		return MANDATE_ENOMEM;
	fl.p = buf;
	if ((r = encode(e, put_fill, &fl)) != MANDATE_OK)
		return r;
	*out = str_make((const char *)buf, sz.n);
	return MANDATE_OK;
}

int
audit_store_leaves(void *ctx, uint64_t begin, size_t count, merkle_hash *out)
{
	struct store_audit_leaf rows[MERKLE_READ_CHUNK];
	size_t n = 0, i;
	int r;

	if (count > MERKLE_READ_CHUNK || begin > INT64_MAX)
		return MANDATE_EINVAL;
	if ((r = store_audit_leaves(ctx, (int64_t)begin, count, rows, &n)) !=
	    MANDATE_OK)
		return r;
	if (n != count)
		return MANDATE_ENOTFOUND;
	for (i = 0; i < n; i++) {
		if (rows[i].index != (int64_t)(begin + i))
			return MANDATE_EINTERNAL;    /* a gap in the leaves */
		memcpy(out[i], rows[i].hash, MERKLE_HASH_LEN);
	}
	return MANDATE_OK;
}

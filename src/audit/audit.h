/*
 * audit.h - the tamper-evident audit log: the canonical form of a record,
 * its Merkle leaf, and signed tree heads (checkpoints).
 *
 * A record (struct store_audit_event) is hashed as an RFC 9162 leaf over
 * its canonical encoding (AUDIT_RECORD_VERSION), an unambiguous
 * length-prefixed form of every stored field:
 *
 *   u32 len "mandate.audit.record.v1"
 *   i64 id          (big-endian two's complement)
 *   i64 time        (Unix seconds, big-endian)
 *   u32 len type
 *   u32 len request_id
 *   u32 len agent
 *   u32 len task_id
 *   u32 len fields_json   (the JSON text exactly as stored)
 *
 * where "u32 len X" is X's byte length as a big-endian 32-bit integer
 * followed by X's bytes.  The leaf hash is SHA-256(0x00 || encoding).
 * The store computes it inside the append's transaction, so the leaf
 * order is the id order (docs/audit.md).
 *
 * A checkpoint is a compact JWS (ES256) over the JSON payload
 * {"log":"mandate.audit.v1","size":N,"root":"<base64url MTH>","time":T},
 * typ "mandate-checkpoint+jws", signed with the daemon's audit key.
 */
#ifndef MANDATE_AUDIT_H
#define MANDATE_AUDIT_H

#include <stdint.h>

#include "audit/merkle.h"
#include "jose/jose.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/str.h"

#define AUDIT_RECORD_VERSION "mandate.audit.record.v1"
#define AUDIT_LOG_ID "mandate.audit.v1"
#define AUDIT_CHECKPOINT_TYP "mandate-checkpoint+jws"

/* The leaf hash of one record (id included). */
int audit_record_leaf_hash(const struct store_audit_event *e, merkle_hash out);

/* The same through a reusable context (h may be NULL). */
int audit_record_leaf_hash_h(const struct store_audit_event *e,
    struct merkle_hasher *h, merkle_hash out);

/* The canonical encoding itself, into the arena (for tests and tools). */
int audit_record_encode(const struct store_audit_event *e, struct arena *a,
    struct str *out);

/* A signed tree head's content. */
struct audit_checkpoint {
	int64_t size;             /* >= 1 */
	merkle_hash root;
	int64_t time;
};

/* Sign c with key (a P-256 private key) into a compact JWS in the arena. */
int audit_checkpoint_sign(struct arena *a, const struct jose_key *key,
    const struct audit_checkpoint *c, struct str *out);

/*
 * Verify a signed checkpoint with key and read its content.  MANDATE_OK
 * with *out filled, or MANDATE_EINVAL with a short reason in *why (static
 * text): not a JWS, wrong typ, bad signature, bad payload.
 */
int audit_checkpoint_verify(struct arena *a, struct str signed_text,
    const struct jose_key *key, struct audit_checkpoint *out,
    const char **why);

/*
 * What a signed checkpoint says, WITHOUT checking its signature: to show
 * a stored checkpoint's own signed fields rather than the store's copies
 * of them, or to pick which of many to verify; never to trust one (the
 * reader of the output verifies the JWS).  Errors as
 * audit_checkpoint_verify's.
 */
int audit_checkpoint_read_unverified(struct arena *a, struct str signed_text,
    struct audit_checkpoint *out, const char **why);

/*
 * The audit key (audit_key.c).  Load the P-256 private key in PEM at path
 * (kid: its RFC 7638 thumbprint), or create it when the file does not
 * exist (directory 0700, file 0600); either way write its public JWK
 * beside it (audit_key_jwk_path, mode 0644).  A key file that group or
 * others may read is refused (MANDATE_EINVAL).  On error a message for
 * the operator goes to err.
 */
int audit_key_load_or_create(const char *path, struct jose_key **out,
    char *err, size_t err_len);

/* A key to verify checkpoints with: a JWK file (public) or a PEM private
 * key file.  EINVAL unless it is a P-256 key. */
int audit_key_load_public(const char *path, struct jose_key **out);

/* The public JWK's path for a key file: ".pem" replaced by ".jwk" (or
 * ".jwk" appended). */
int audit_key_jwk_path(const char *pem_path, char *buf, size_t n);

/* The signed checkpoint in one line of a checkpoint file: the
 * "checkpoint" member of a JSON line as audit.checkpoint_file and `mandate
 * audit checkpoint` write it, or the line itself (a bare JWS).  Trailing
 * blanks are ignored; STR_NULL when a JSON line has no such member.  The
 * result points into line; verify it with audit_checkpoint_verify. */
struct str audit_checkpoint_from_line(struct str line);

/* A merkle_leaves_fn over the store's leaf hashes (ctx: struct store *). */
int audit_store_leaves(void *ctx, uint64_t begin, size_t count,
    merkle_hash *out);

/*
 * Complete-subtree hashes for proofs over the store (tree_cache.c).  Only
 * ever asked about leaves that exist (below the current tree size).  Free
 * with audit_tree_cache_free (NULL is fine).
 */
struct audit_tree_cache;
int audit_tree_cache_new(struct audit_tree_cache **out);
void audit_tree_cache_free(struct audit_tree_cache *c);

/* A merkle_range_fn: ctx is a struct audit_cached_source.  O(log n)
 * cached lookups once the subtrees a range needs were computed. */
struct audit_cached_source {
	struct store *store;
	struct audit_tree_cache *cache;
};
int audit_cached_range_root(void *ctx, uint64_t begin, uint64_t end,
    merkle_hash out);

#endif

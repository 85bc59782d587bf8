/*
 * checkpoint.c - signed tree heads of the audit log (format in audit.h).
 *
 * A checkpoint says "the log held `size` records and their RFC 9162 root
 * was `root` at `time`", signed ES256 by the daemon's audit key, so that a
 * copy kept outside the daemon's reach proves what the log was.  Verifying
 * is strict: the JWS typ, the algorithm, the signature, then a payload of
 * exactly the four members with the expected types.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "audit/audit.h"
#include "util/json.h"
#include "util/status.h"

int
audit_checkpoint_sign(struct arena *a, const struct jose_key *key,
    const struct audit_checkpoint *c, struct str *out)
{
	struct jose_sign_opts so;
	struct str root;
	char payload[256];
	int r, n;

	*out = STR_NULL;
	if (c->size < 1)
		return MANDATE_EINVAL;
	if ((r = jose_b64url_encode_a(a, c->root, MERKLE_HASH_LEN, &root)) !=
	    MANDATE_OK)
		return r;
	n = snprintf(payload, sizeof(payload), "{\"log\":\"%s\",\"size\":%"
	    PRId64 ",\"root\":\"%.*s\",\"time\":%" PRId64 "}", AUDIT_LOG_ID,
	    c->size, (int)root.n, root.p, c->time);
	if (n < 0 || (size_t)n >= sizeof(payload))
		return MANDATE_EINTERNAL;
	memset(&so, 0, sizeof(so));
	so.typ = STR_LIT(AUDIT_CHECKPOINT_TYP);
	return jose_jws_sign(a, key, JOSE_ALG_ES256, &so,
	    str_make(payload, (size_t)n), out);
}

/* The checkpoint's content; its signature checked with key, or, with
 * key NULL, not at all (audit_checkpoint_read_unverified). */
static int
checkpoint_read(struct arena *a, struct str signed_text,
    const struct jose_key *key, struct audit_checkpoint *out,
    const char **why)
{
	struct ajson_opts jo = { AJSON_REJECT_DUPLICATES, 2, 1024, NULL };
	const struct ajson *root, *log, *size, *hash, *time;
	struct jose_jws jws;
	size_t hn = 0;

	memset(out, 0, sizeof(*out));
	*why = "not a compact JWS";
	if (jose_jws_parse(a, signed_text.p, signed_text.n, 0, &jws, NULL) !=
	    MANDATE_OK)
		return MANDATE_EINVAL;
	*why = "not a checkpoint (typ)";
	if (!str_eq_c(jws.typ, AUDIT_CHECKPOINT_TYP))
		return MANDATE_EINVAL;
	*why = "bad signature";
	if (key != NULL && jose_jws_verify(&jws, key,
	    JOSE_ALG_BIT(JOSE_ALG_ES256), NULL) != MANDATE_OK)
		return MANDATE_EINVAL;
	*why = "bad checkpoint payload";
	if (ajson_parse(a, jws.payload.p, jws.payload.n, &jo, &root, NULL) !=
	    MANDATE_OK || !ajson_is(root, AJSON_OBJECT) || root->u.obj.n != 4)
		return MANDATE_EINVAL;
	log = ajson_get(root, "log");
	size = ajson_get(root, "size");
	hash = ajson_get(root, "root");
	time = ajson_get(root, "time");
	if (!ajson_is(log, AJSON_STRING) || !str_eq_c(log->u.s, AUDIT_LOG_ID) ||
	    !ajson_is(size, AJSON_NUMBER) || !size->num_fits ||
	    size->u.i < 1 || !ajson_is(time, AJSON_NUMBER) ||
	    !time->num_fits || !ajson_is(hash, AJSON_STRING) ||
	    jose_b64url_decode(hash->u.s.p, hash->u.s.n, out->root,
	    MERKLE_HASH_LEN, &hn) != MANDATE_OK || hn != MERKLE_HASH_LEN) {
		memset(out, 0, sizeof(*out));
		return MANDATE_EINVAL;
	}
	out->size = size->u.i;
	out->time = time->u.i;
	*why = NULL;
	return MANDATE_OK;
}

int
audit_checkpoint_verify(struct arena *a, struct str signed_text,
    const struct jose_key *key, struct audit_checkpoint *out,
    const char **why)
{
	if (key == NULL) {
		memset(out, 0, sizeof(*out));
		*why = "no key";
		return MANDATE_EINVAL;
	}
	return checkpoint_read(a, signed_text, key, out, why);
}

int
audit_checkpoint_read_unverified(struct arena *a, struct str signed_text,
    struct audit_checkpoint *out, const char **why)
{
	return checkpoint_read(a, signed_text, NULL, out, why);
}

struct str
audit_checkpoint_from_line(struct str line)
{
	const struct ajson *root, *v;
	struct str out = STR_NULL;
	struct arena a;

	while (line.n > 0 && (line.p[line.n - 1] == '\r' ||
	    line.p[line.n - 1] == ' ' || line.p[line.n - 1] == '\t'))
		line.n--;
	while (line.n > 0 && (line.p[0] == ' ' || line.p[0] == '\t')) {
		line.p++;
		line.n--;
	}
	if (line.n == 0 || line.p[0] != '{')
		return line;
	/* JSON, however it is spaced (a store that formats what it saves:
	 * jq, json.dumps): the member's value as written, which for a
	 * compact JWS (base64url and dots) is the value itself; one with
	 * escapes in it is no JWS of ours */
	arena_init(&a, 1u << 20);
	if (ajson_parse(&a, line.p, line.n, &(struct ajson_opts){
	    .max_depth = 16 }, &root, NULL) == MANDATE_OK &&
	    root->type == AJSON_OBJECT &&
	    (v = ajson_get(root, "checkpoint")) != NULL &&
	    v->type == AJSON_STRING && v->len == v->u.s.n + 2)
		out = str_make(line.p + v->off + 1, v->len - 2);
	arena_free(&a);
	return out;
}

/*
 * redact.h - keep secrets out of the audit log.
 *
 * Every audit record passes through redact_fields() before it is stored or
 * logged.  A value is replaced by "hmac:" and the 64 hex digits of
 * HMAC-SHA-256(key, value) when
 *   - its path is one of the configured paths (audit.redact_paths, dotted
 *     names relative to the record's fields object, "*" matching any one
 *     member name or array element), or
 *   - its member name says it holds a secret (password, secret, token,
 *     api_key, authorization, private_key, cookie, credential, session
 *     id, pass/pw/pin/otp/sig as a word of their own, plurals...; the
 *     list is in docs/audit-records.md), or
 *   - it looks like one: a JWT, a bearer/DPoP/basic credential, a PEM,
 *     OpenSSH, OpenPGP or SSH2 private key block, an API key with a
 *     well-known prefix (sk-, ghp_, xoxb-, AKIA, AIza, glpat-...), or a
 *     long high-entropy token.
 * Secrets embedded in longer text (a prompt that quotes a token, a
 * "password=..." pair, a URL's password, a key or JWT between any
 * characters outside its alphabet) are replaced in place, one HMAC per
 * secret.
 * Equal values give equal HMACs under one key, so records can still be
 * matched on a value without revealing it.  The key never leaves this
 * module's struct and is wiped when it is freed.
 */
#ifndef MANDATE_REDACT_H
#define MANDATE_REDACT_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "util/str.h"

#define REDACT_KEY_LEN      32
#define REDACT_MAX_PATHS    256
#define REDACT_MAX_PATH_LEN 512
#define REDACT_MAX_DEPTH    32     /* deeper values are replaced whole */
/* "hmac:" + 64 hex digits */
#define REDACT_HMAC_LEN     69
#define REDACT_HMAC_SIZE    (REDACT_HMAC_LEN + 1)

struct redact;

/* Build a redactor from a key of REDACT_KEY_LEN bytes (copied) and the
 * configured paths (borrowed for the call only).  MANDATE_EINVAL with a
 * message in err for a bad path (empty segment, too long, too many);
 * MANDATE_ENOMEM.  *out is NULL on error; free with redact_free(). */
int redact_new(const unsigned char *key, size_t key_len,
    const char *const *paths, size_t n_paths, struct redact **out,
    char *err, size_t err_len);

/* Why a configured path is refused by redact_new() (empty, longer than
 * REDACT_MAX_PATH_LEN, an empty segment, more than REDACT_MAX_DEPTH
 * segments), or NULL when it is fine: for the configuration's checks,
 * which report it at its location.  The text is static. */
const char *redact_path_problem(const char *path);

/* Wipe the key and free; NULL is fine. */
void redact_free(struct redact *r);

/* Load the key from path: 32 raw bytes or 64 hex digits (a trailing
 * newline is fine).  When the file does not exist and create is true, a
 * fresh random key is written there with mode 0600.  A key file that
 * group or others may read is refused (MANDATE_EINVAL): it protects
 * every redacted value; so is a symlink (the daemon writes this file).
 * MANDATE_EIO, MANDATE_ENOTFOUND otherwise.  On failure err (err_len
 * bytes; may be NULL) says why, naming the setting and the path. */
int redact_key_load(const char *path, bool create,
    unsigned char key[REDACT_KEY_LEN], char *err, size_t err_len);

/* "hmac:<64 hex>" of value, NUL-terminated, into out. */
int redact_hmac(const struct redact *r, struct str value,
    char out[REDACT_HMAC_SIZE]);

/* Does the whole value look like a secret (see above)? */
bool redact_value_is_secret(struct str value);

/* Does a member of this name hold a secret by its name alone? */
bool redact_name_is_secret(struct str name);

/* Redact a JSON object in place: configured paths, secret names,
 * secret-looking strings (whole or embedded).  Non-string values at a
 * secret path or name are replaced by the HMAC of their compact JSON
 * text.  MANDATE_ENOMEM or MANDATE_EINVAL (fields not an object); on
 * error the object may be partly redacted and must not be stored. */
int redact_fields(const struct redact *r, json_t *fields);

/* The compact JSON text of fields as redact_fields() would leave them
 * and the audit writer would write them (jtext.h), made in one pass
 * without changing fields: nothing is copied, so fields may share values
 * with others.  *out is malloc'd and NUL-terminated, *n its length.
 * MANDATE_EINVAL (fields not an object), MANDATE_ENOMEM (also: a key or
 * string that is not UTF-8, which json_dumps refuses too). */
int redact_dump(const struct redact *r, json_t *fields, char **out,
    size_t *n);

/* One member of a top-level object given without a JSON tree (a hot
 * record's fields: no allocation per member).  Strings are borrowed;
 * a NULL s.p is the empty string.  j (REDACT_M_JSON) is only read. */
enum redact_member_kind {
	REDACT_M_STR,
	REDACT_M_BOOL,
	REDACT_M_INT,
	REDACT_M_JSON,
};
struct redact_member {
	const char *name;             /* NUL-terminated, UTF-8 */
	enum redact_member_kind kind;
	struct str s;                 /* REDACT_M_STR */
	bool b;                       /* REDACT_M_BOOL */
	long long i;                  /* REDACT_M_INT */
	json_t *j;                    /* REDACT_M_JSON */
};

/* Are the names all there and distinct? */
bool redact_members_ok(const struct redact_member *m, size_t n);

/* redact_dump() of the object made of members m[0..n) in that order,
 * without making it: byte for byte the same text.  Names must be
 * distinct and not NULL (MANDATE_EINVAL).  Other errors as
 * redact_dump(). */
int redact_dump_members(const struct redact *r,
    const struct redact_member *m, size_t n, char **out, size_t *len);

/* The same members as a JSON object (new reference; the REDACT_M_JSON
 * values are shared), or NULL (no memory, a string that is not UTF-8,
 * names not redact_members_ok). */
json_t *redact_members_json(const struct redact_member *m, size_t n);

/* Redact free text: a new malloc'd NUL-terminated string with every
 * embedded secret replaced (free()); NULL on ENOMEM. */
char *redact_text(const struct redact *r, struct str text);

/* Where to cut redacted text t to keep at most max bytes: at a UTF-8
 * character's start, and not inside an HMAC (which then goes whole).
 * t.n when it is short enough. */
size_t redact_cut(struct str t, size_t max);

#endif

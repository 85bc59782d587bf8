/*
 * audit_key.c - the daemon's audit key: a P-256 key that signs the audit
 * log's checkpoints, kept like the token signing keys (an unencrypted
 * PKCS#8 PEM file of mode 0600 in a directory of mode 0700), but separate
 * from them so that token key rotation never invalidates old checkpoints.
 * A key file that group or others may read is refused at start.
 * Its public JWK is written beside it (mode 0644) for offline verifiers;
 * an operator copies that file somewhere the daemon cannot write and
 * passes it to `mandate audit verify --key`.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>

#include "audit/audit.h"
#include "util/file.h"
#include "util/status.h"

#define AUDIT_KEY_MAX_FILE (64u * 1024)

int
audit_key_jwk_path(const char *pem_path, char *buf, size_t n)
{
	size_t len = strlen(pem_path);
	int w;

	if (len > 4 && strcmp(pem_path + len - 4, ".pem") == 0)
		w = snprintf(buf, n, "%.*s.jwk", (int)(len - 4), pem_path);
	else
		w = snprintf(buf, n, "%s.jwk", pem_path);
	return w < 0 || (size_t)w >= n ? MANDATE_ELIMIT : MANDATE_OK;
}

/* A key from PEM text with its RFC 7638 thumbprint as kid. */
static int
key_from_pem(const char *pem, size_t len, struct jose_key **out)
{
	struct jose_key *tmp = NULL;
	char tp[JOSE_THUMBPRINT_LEN + 1];
	int r;

	*out = NULL;
	if ((r = jose_key_from_pem(pem, len, STR_NULL, &tmp, NULL)) !=
	    MANDATE_OK)
		return r;
	if (jose_key_kty(tmp) != JOSE_KTY_EC ||
	    !(jose_key_algs(tmp) & JOSE_ALG_BIT(JOSE_ALG_ES256))) {
		jose_key_unref(tmp);
		return MANDATE_EINVAL;
	}
	r = jose_key_thumbprint(tmp, tp);
	jose_key_unref(tmp);
	if (r != MANDATE_OK)
		return r;
	return jose_key_from_pem(pem, len, str_c(tp), out, NULL);
}

int
audit_key_load_or_create(const char *path, struct jose_key **out,
    char *err, size_t err_len)
{
	struct jose_key *k = NULL;
	struct arena a;
	struct str jwk;
	char *pem = NULL, jwk_path[4096];
	size_t pem_len = 0;
	mode_t mode = 0;
	int r;

	*out = NULL;
	arena_init(&a, 0);
	/* whoever can read the key can sign checkpoints: refused, as the
	 * token keys are, when group or others may read it */
	r = file_read_secret(path, AUDIT_KEY_MAX_FILE, true, &pem, &pem_len,
	    &mode);
	if (r == MANDATE_EIO && errno == ENOENT) {
		/* first start: a new key */
		if ((r = jose_key_generate_es256(STR_NULL, &k)) != MANDATE_OK ||
		    (r = jose_key_to_pem(k, &pem, &pem_len)) != MANDATE_OK) {
			snprintf(err, err_len, "cannot generate the audit key");
			goto out;
		}
		jose_key_unref(k);
		k = NULL;
		if ((r = file_make_parent(path)) != MANDATE_OK ||
		    (r = file_write(path, pem, pem_len, true, 0600)) !=
		    MANDATE_OK) {
			snprintf(err, err_len, "cannot write the audit key %s: "
			    "%s", path, strerror(errno));
			goto out;
		}
	} else if (r == MANDATE_EINVAL && S_ISREG(mode)) {
		snprintf(err, err_len, "audit.key_file %s: mode %04o: a private "
		    "key must not be readable or writable by group or others "
		    "(chmod 600)", path, (unsigned)(mode & 07777));
		goto out;
	} else if (r != MANDATE_OK) {
		snprintf(err, err_len, "cannot read the audit key %s: %s", path,
		    r == MANDATE_ELIMIT ? "too large" : r == MANDATE_EINVAL ?
		    "not a regular file" : strerror(errno));
		goto out;
	}
	if ((r = key_from_pem(pem, pem_len, &k)) != MANDATE_OK) {
		snprintf(err, err_len, "the audit key %s is not a P-256 private "
		    "key in PEM", path);
		goto out;
	}
	/* the public half, for verifiers (rewritten at each start) */
	if ((r = audit_key_jwk_path(path, jwk_path, sizeof(jwk_path))) !=
	    MANDATE_OK || (r = jose_key_public_jwk(k, &a, &jwk)) != MANDATE_OK ||
	    (r = file_write(jwk_path, jwk.p, jwk.n, false, 0644)) != MANDATE_OK) {
		snprintf(err, err_len, "cannot write the audit public key %s",
		    jwk_path);
		goto out;
	}
	*out = k;
	k = NULL;
	r = MANDATE_OK;
out:
	if (pem != NULL)
		jose_secret_free(pem, pem_len);
	jose_key_unref(k);
	arena_free(&a);
	return r;
}

int
audit_key_load_public(const char *path, struct jose_key **out)
{
	char *text = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if ((r = file_read_all(path, AUDIT_KEY_MAX_FILE, &text, &len)) !=
	    MANDATE_OK)
		return r;
	if (len > 0 && text[0] == '{')
		r = jose_key_from_jwk(text, len, 0, out, NULL);
	else
		r = key_from_pem(text, len, out);
	if (r == MANDATE_OK && (jose_key_kty(*out) != JOSE_KTY_EC ||
	    !(jose_key_algs(*out) & JOSE_ALG_BIT(JOSE_ALG_ES256)))) {
		jose_key_unref(*out);
		*out = NULL;
		r = MANDATE_EINVAL;
	}
	OPENSSL_cleanse(text, len);
	free(text);
	return r;
}

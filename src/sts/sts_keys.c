/*
 * sts_keys.c - our signing keys: PEM files in the key directory, metadata
 * in the store, "publish, then sign" rotation, and the immutable snapshot
 * (signer + public key set + JWKS text) that request threads share.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>

#include "sts/sts_int.h"
#include "util/file.h"
#include "util/status.h"

#define PEM_MAX (64 * 1024)

/* --- snapshots ---------------------------------------------------------- */

static void
snap_free(struct sts_snap *snap)
{
	if (snap == NULL)
		return;
	jose_key_unref(snap->signer);
	jose_keyset_unref(snap->pub);
	free(snap->jwks);
	free(snap);
}

struct sts_snap *
sts_snap_get(struct sts *sts)
{
	struct sts_snap *snap;

	pthread_mutex_lock(&sts->mu);
	snap = sts->snap;
	if (snap != NULL)
		atomic_fetch_add(&snap->refs, 1);
	pthread_mutex_unlock(&sts->mu);
	return snap;
}

void
sts_snap_put(struct sts_snap *snap)
{
	if (snap != NULL && atomic_fetch_sub(&snap->refs, 1) == 1)
		snap_free(snap);
}

static void
snap_swap(struct sts *sts, struct sts_snap *snap)
{
	struct sts_snap *old;

	pthread_mutex_lock(&sts->mu);
	old = sts->snap;
	sts->snap = snap;
	pthread_mutex_unlock(&sts->mu);
	sts_snap_put(old);
}

/* --- files -------------------------------------------------------------- */

static int
key_path(const struct sts *sts, struct str kid, char *buf, size_t cap)
{
	int w = snprintf(buf, cap, "%s/%.*s.pem", sts->tok->key_dir,
	    (int)kid.n, kid.p);
	return (w < 0 || (size_t)w >= cap) ? MANDATE_ELIMIT : MANDATE_OK;
}

/* A key retired past its overlap is out of the JWKS and never signs
 * again: its private key file is removed, so that a copy of the key
 * directory made later holds no key that signed tokens.  A file already
 * gone is fine; a failure leaves the file (nothing depends on it). */
static void
destroy_retired(const struct sts *sts, const struct store_key *k,
    int64_t now)
{
	char path[PATH_MAX];

	if (sts->explicit_keys || k->state != STORE_KEY_RETIRED ||
	    k->retire_after > now ||
	    key_path(sts, k->kid, path, sizeof path) != MANDATE_OK)
		return;
	(void)unlink(path);
}

/* Why a key file was refused, for the operator (NULL: not wanted). */
static void
say_why(char *why, size_t why_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
say_why(char *why, size_t why_len, const char *fmt, ...)
{
	va_list ap;

	if (why == NULL || why_len == 0)
		return;
	va_start(ap, fmt);
	vsnprintf(why, why_len, fmt, ap);
	va_end(ap);
}

/* Read a private key file: a regular file, not a symlink, not readable
 * by others (file_read_secret), not empty.  *out is malloc'd; the caller
 * wipes and frees it.  On error `why` (may be NULL) says what is wrong
 * with the file. */
static int
read_secret(const char *path, char **out, size_t *out_len, char *why,
    size_t why_len)
{
	mode_t mode = 0;
	int r = file_read_secret(path, PEM_MAX, false, out, out_len, &mode);

	if (r == MANDATE_OK && *out_len == 0) {
		free(*out);
		*out = NULL;
		r = MANDATE_ELIMIT;
	}
	switch (r) {
	case MANDATE_OK:
		return r;
	case MANDATE_EINVAL:
		if (!S_ISREG(mode)) {
			say_why(why, why_len, "not a regular file");
			return MANDATE_EIO;
		}
		say_why(why, why_len, "mode %04o: a private key must not be "
		    "readable or writable by group or others (chmod 600)",
		    (unsigned)(mode & 07777));
		return r;               /* fail closed on a readable key */
	case MANDATE_ELIMIT:
		say_why(why, why_len, "empty or larger than %u bytes",
		    (unsigned)PEM_MAX);
		return r;
	case MANDATE_EIO:
		say_why(why, why_len, "%s", errno == ELOOP ? "a symbolic "
		    "link (name the file itself)" : strerror(errno));
		return errno == ENOENT ? MANDATE_ENOTFOUND : r;
	default:
		return r;
	}
}

static int
ensure_dir(const char *dir)
{
	struct stat st;

	if (mkdir(dir, 0700) == 0)
		return MANDATE_OK;
	if (errno != EEXIST)
		return MANDATE_EIO;
	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return MANDATE_EIO;
	/* an existing directory others may enter is tightened, not trusted */
	if ((st.st_mode & 077) != 0 && chmod(dir, 0700) != 0)
		return MANDATE_EIO;
	return MANDATE_OK;
}

/* Load a PEM key with its thumbprint as kid; `why` as read_secret(). */
static int
load_pem_file(const char *path, struct jose_key **out, char *why,
    size_t why_len)
{
	int r;
	char *pem = NULL;
	size_t len = 0;
	struct jose_key *tmp = NULL;
	char tp[JOSE_THUMBPRINT_LEN + 1];

	*out = NULL;
	if ((r = read_secret(path, &pem, &len, why, why_len)) != MANDATE_OK)
		return r;
	r = jose_key_from_pem(pem, len, STR_NULL, &tmp, NULL);
	if (r != MANDATE_OK) {
		say_why(why, why_len, "not a PEM private key");
		goto out;
	}
	if (jose_key_kty(tmp) != JOSE_KTY_EC ||
	    !(jose_key_algs(tmp) & JOSE_ALG_BIT(JOSE_ALG_ES256))) {
		say_why(why, why_len, "not a P-256 key (tokens are signed "
		    "with ES256)");
		r = MANDATE_EINVAL;       /* we sign ES256 only */
		goto out;
	}
	if ((r = jose_key_thumbprint(tmp, tp)) != MANDATE_OK)
		goto out;
	r = jose_key_from_pem(pem, len, str_c(tp), out, NULL);
out:
	jose_key_unref(tmp);
	jose_secret_free(pem, len);
	return r;
}

/* Generate a key, write <kid>.pem and insert its metadata (state). */
static int
generate_key(struct sts *sts, int state, int64_t now, struct arena *a,
    struct str *kid_out)
{
	int r;
	struct jose_key *k = NULL, *k2 = NULL;
	char *pem = NULL;
	size_t pem_len = 0;
	char tp[JOSE_THUMBPRINT_LEN + 1], path[PATH_MAX];
	struct store_key meta;
	struct str jwk;

	if ((r = jose_key_generate_es256(STR_NULL, &k)) != MANDATE_OK)
		goto out;
	if ((r = jose_key_thumbprint(k, tp)) != MANDATE_OK ||
	    (r = jose_key_to_pem(k, &pem, &pem_len)) != MANDATE_OK)
		goto out;
	if ((r = jose_key_from_pem(pem, pem_len, str_c(tp), &k2, NULL)) !=
	    MANDATE_OK)
		goto out;
	if ((r = jose_key_public_jwk(k2, a, &jwk)) != MANDATE_OK)
		goto out;
	if ((r = key_path(sts, str_c(tp), path, sizeof path)) != MANDATE_OK ||
	    (r = file_write(path, pem, pem_len, true, 0600)) != MANDATE_OK)
		goto out;
	memset(&meta, 0, sizeof meta);
	meta.kid = str_c(tp);
	meta.alg = STR_LIT("ES256");
	meta.public_jwk = jwk;
	meta.state = state;
	meta.created_at = now;
	if ((r = store_key_insert(sts->store, &meta)) != MANDATE_OK) {
		unlink(path);
		goto out;
	}
	if (kid_out != NULL)
		*kid_out = arena_strdup(a, tp, strlen(tp));
	r = MANDATE_OK;
out:
	jose_secret_free(pem, pem_len);
	jose_key_unref(k);
	jose_key_unref(k2);
	return r;
}

/* --- JWKS --------------------------------------------------------------- */

static int
jwks_add(json_t *keys, const char *jwk, size_t len)
{
	json_t *o = json_loadb(jwk, len, JSON_REJECT_DUPLICATES, NULL);

	if (!json_is_object(o)) {
		json_decref(o);
		return MANDATE_EINVAL;
	}
	if (json_object_set_new(o, "use", json_string("sig")) != 0 ||
	    json_object_set_new(o, "alg", json_string("ES256")) != 0 ||
	    json_array_append_new(keys, o) != 0)
		return MANDATE_ENOMEM;
	return MANDATE_OK;
}

static int
snap_finish(struct sts_snap *snap, json_t *keys)
{
	json_t *root = json_object();
	char *text = NULL;
	int r = MANDATE_ENOMEM;

	if (root == NULL || json_object_set(root, "keys", keys) != 0)
		goto out;
	if ((text = json_dumps(root, JSON_COMPACT)) == NULL)
		goto out;
	snap->jwks = text;
	snap->jwks_len = strlen(text);
	r = jose_keyset_parse(text, snap->jwks_len, &snap->pub, NULL);
out:
	json_decref(root);
	return r;
}

/* Build a snapshot from the store's metadata at time now. */
static int
snap_build(struct sts *sts, int64_t now, struct sts_snap **out)
{
	int r;
	struct arena a;
	struct store_key *ks = NULL;
	size_t n = 0, i;
	struct sts_snap *snap = NULL;
	json_t *keys = NULL;
	char path[PATH_MAX];

	*out = NULL;
	arena_init(&a, 0);
	if ((r = store_key_list(sts->store, &a, &ks, &n)) != MANDATE_OK)
		goto out;
	r = MANDATE_ENOMEM;
	if ((snap = calloc(1, sizeof *snap)) == NULL ||
	    (keys = json_array()) == NULL)
		goto out;
	atomic_init(&snap->refs, 1);
	snap->gen = atomic_fetch_add(&sts->snap_gen, 1) + 1;
	for (i = 0; i < n; i++) {
		const struct store_key *k = &ks[i];
		if (k->state == STORE_KEY_RETIRED && k->retire_after <= now)
			continue;
		if (k->state == STORE_KEY_ACTIVE) {
			if (snap->signer != NULL) {
				r = MANDATE_EINTERNAL;   /* two active keys */
				goto out;
			}
			char why[160] = "";

			if ((r = key_path(sts, k->kid, path, sizeof path)) !=
			    MANDATE_OK)
				goto out;
			if ((r = load_pem_file(path, &snap->signer, why,
			    sizeof(why))) != MANDATE_OK) {
				/* name the file and what is wrong with it */
				say_why(sts->opt.err, sts->opt.err_len, "the "
				    "active key %s: %s", path, why[0] != '\0' ?
				    why : mandate_strerror(r));
				goto out;
			}
			if (!str_eq(jose_key_kid(snap->signer), k->kid)) {
				say_why(sts->opt.err, sts->opt.err_len, "the "
				    "active key %s holds another key than its "
				    "name says", path);
				r = MANDATE_EINVAL;  /* file does not match */
				goto out;
			}
		}
		if ((r = jwks_add(keys, k->public_jwk.p, k->public_jwk.n)) !=
		    MANDATE_OK)
			goto out;
	}
	if (snap->signer == NULL) {
		r = MANDATE_ENOTFOUND;
		goto out;
	}
	if ((r = snap_finish(snap, keys)) != MANDATE_OK)
		goto out;
	*out = snap;
	snap = NULL;
	r = MANDATE_OK;
out:
	json_decref(keys);
	snap_free(snap);
	arena_free(&a);
	return r;
}

/* Explicit key files: the first signs, all are published. */
static int
snap_build_explicit(struct sts *sts, struct sts_snap **out)
{
	int r = MANDATE_ENOMEM;
	struct sts_snap *snap = NULL;
	json_t *keys = NULL;
	struct arena a;
	size_t i;

	*out = NULL;
	arena_init(&a, 0);
	if ((snap = calloc(1, sizeof *snap)) == NULL ||
	    (keys = json_array()) == NULL)
		goto out;
	atomic_init(&snap->refs, 1);
	for (i = 0; i < sts->tok->key_files.n; i++) {
		struct jose_key *k = NULL;
		struct str jwk;
		char why[160] = "";

		r = load_pem_file(sts->tok->key_files.v[i], &k, why,
		    sizeof(why));
		if (r == MANDATE_OK)
			r = jose_key_public_jwk(k, &a, &jwk);
		if (r == MANDATE_OK)
			r = jwks_add(keys, jwk.p, jwk.n);
		if (r != MANDATE_OK) {
			if (why[0] != '\0')
				say_why(sts->opt.err, sts->opt.err_len,
				    "tokens.key_files: %s: %s",
				    sts->tok->key_files.v[i], why);
			jose_key_unref(k);
			goto out;
		}
		if (i == 0)
			snap->signer = k;
		else
			jose_key_unref(k);
	}
	if ((r = snap_finish(snap, keys)) != MANDATE_OK)
		goto out;
	*out = snap;
	snap = NULL;
out:
	json_decref(keys);
	snap_free(snap);
	arena_free(&a);
	return r;
}

/* --- lifecycle ----------------------------------------------------------- */

int
sts_keys_init(struct sts *sts, int64_t now)
{
	int r;
	struct arena a;
	struct store_key *ks = NULL;
	size_t n = 0, i;
	struct sts_snap *snap = NULL;
	const struct store_key *active = NULL, *next = NULL;
	struct str kid;

	if (sts->tok->key_files.n > 0) {
		sts->explicit_keys = true;
		if ((r = snap_build_explicit(sts, &snap)) != MANDATE_OK)
			return r;
		snap_swap(sts, snap);
		return MANDATE_OK;
	}
	if (sts->tok->key_dir == NULL)
		return MANDATE_EINVAL;
	if ((r = ensure_dir(sts->tok->key_dir)) != MANDATE_OK)
		return r;
	arena_init(&a, 0);
	if ((r = store_key_list(sts->store, &a, &ks, &n)) != MANDATE_OK)
		goto out;
	for (i = 0; i < n; i++) {
		if (ks[i].state == STORE_KEY_ACTIVE)
			active = &ks[i];
		else if (ks[i].state == STORE_KEY_NEXT)
			next = &ks[i];
		destroy_retired(sts, &ks[i], now);  /* retired while down */
	}
	if (active == NULL) {
		/* First start (or an interrupted one): nobody has a JWKS
		 * with an older key, so the key may sign at once. */
		if (next != NULL)
			kid = next->kid;
		else if ((r = generate_key(sts, STORE_KEY_NEXT, now, &a,
		    &kid)) != MANDATE_OK)
			goto out;
		if ((r = store_key_activate(sts->store, kid, now,
		    now + (int64_t)sts->tok->rotation_overlap)) != MANDATE_OK)
			goto out;
	}
	if ((r = snap_build(sts, now, &snap)) != MANDATE_OK)
		goto out;
	snap_swap(sts, snap);
	r = MANDATE_OK;
out:
	arena_free(&a);
	return r;
}

void
sts_keys_fini(struct sts *sts)
{
	snap_swap(sts, NULL);
}

int
sts_keys_rotate(struct sts *sts, int64_t now, struct arena *a,
    struct str *kid)
{
	int r;
	struct arena tmp;
	struct store_key *ks = NULL;
	size_t n = 0, i;
	struct sts_snap *snap = NULL;

	if (kid != NULL)
		*kid = STR_NULL;
	if (sts->explicit_keys)
		return MANDATE_EINVAL;
	arena_init(&tmp, 0);
	pthread_mutex_lock(&sts->rot_mu);
	if ((r = store_key_list(sts->store, &tmp, &ks, &n)) != MANDATE_OK)
		goto out;
	for (i = 0; i < n; i++)
		if (ks[i].state == STORE_KEY_NEXT) {
			r = MANDATE_EINVAL;      /* one rotation at a time */
			goto out;
		}
	if ((r = generate_key(sts, STORE_KEY_NEXT, now, a, kid)) !=
	    MANDATE_OK)
		goto out;
	if ((r = snap_build(sts, now, &snap)) != MANDATE_OK)
		goto out;
	snap_swap(sts, snap);
	if (sts->opt.publish_delay <= 0) {
		pthread_mutex_unlock(&sts->rot_mu);
		arena_free(&tmp);
		return sts_keys_tick(sts, now);
	}
out:
	pthread_mutex_unlock(&sts->rot_mu);
	arena_free(&tmp);
	return r;
}

/* Activate the NEXT key kid, retiring the active one (previous, may be
 * empty).  With an audit log the activation and its keys.activated record
 * are one commit: a crash in between cannot leave a key signing whose
 * activation the log lacks (a failed record leaves the key NEXT, tried
 * again at the next tick, while the old key goes on signing). */
static int
activate(struct sts *sts, struct str kid, struct str previous, int64_t now,
    struct arena *a)
{
	int64_t retire_after = now + (int64_t)sts->tok->rotation_overlap, id = 0;
	struct store_audit_event e;
	struct audit_event ae;
	json_t *fields;
	int r;

	if (sts->opt.audit == NULL)
		return store_key_activate(sts->store, kid, now, retire_after);
	fields = json_pack("{s:s%,s:s%}", "kid", kid.p, kid.n,
	    "previous_kid", previous.p != NULL ? previous.p : "", previous.n);
	if (fields == NULL)
		return MANDATE_ENOMEM;
	memset(&ae, 0, sizeof(ae));
	ae.time = now;
	ae.type = "keys.activated";
	if ((r = audit_prepare(sts->opt.audit, &ae, fields, a, &e)) !=
	    MANDATE_OK)
		return r;
	r = store_key_activate_audited(sts->store, kid, now, retire_after, &e,
	    &id);
	audit_report(sts->opt.audit, r, id);
	return r;
}

int
sts_keys_tick(struct sts *sts, int64_t now)
{
	int r;
	struct arena a;
	struct store_key *ks = NULL;
	size_t n = 0, i;
	bool changed = false;
	struct sts_snap *cur = NULL, *snap = NULL;
	struct str previous = STR_NULL;

	if (sts->explicit_keys)
		return MANDATE_OK;
	arena_init(&a, 0);
	pthread_mutex_lock(&sts->rot_mu);
	cur = sts_snap_get(sts);
	if ((r = store_key_list(sts->store, &a, &ks, &n)) != MANDATE_OK)
		goto out;
	for (i = 0; i < n; i++)
		if (ks[i].state == STORE_KEY_ACTIVE)
			previous = ks[i].kid;
	for (i = 0; i < n; i++) {
		const struct store_key *k = &ks[i];
		if (k->state == STORE_KEY_NEXT &&
		    now - k->created_at >= sts->opt.publish_delay) {
			if ((r = activate(sts, k->kid, previous, now, &a)) !=
			    MANDATE_OK)
				goto out;
			previous = k->kid;
			changed = true;
		} else if (k->state == STORE_KEY_RETIRED &&
		    k->retire_after <= now && cur != NULL &&
		    jose_keyset_find(cur->pub, k->kid) != NULL) {
			changed = true;      /* leaves the JWKS now */
			destroy_retired(sts, k, now);
		}
	}
	if (changed) {
		if ((r = snap_build(sts, now, &snap)) != MANDATE_OK)
			goto out;
		snap_swap(sts, snap);
	}
	r = MANDATE_OK;
out:
	sts_snap_put(cur);
	pthread_mutex_unlock(&sts->rot_mu);
	arena_free(&a);
	return r;
}

int
sts_keys_jwks_json(struct sts *sts, struct arena *a, struct str *out)
{
	struct sts_snap *snap = sts_snap_get(sts);
	int r = MANDATE_EINTERNAL;

	*out = STR_NULL;
	if (snap == NULL)
		return r;
	*out = arena_strdup(a, snap->jwks, snap->jwks_len);
	r = out->p != NULL ? MANDATE_OK : MANDATE_ENOMEM;
	sts_snap_put(snap);
	return r;
}

int
sts_keys_active_kid(struct sts *sts, struct arena *a, struct str *out)
{
	struct sts_snap *snap = sts_snap_get(sts);
	struct str kid;
	int r = MANDATE_EINTERNAL;

	*out = STR_NULL;
	if (snap == NULL)
		return r;
	kid = jose_key_kid(snap->signer);
	*out = arena_strdup(a, kid.p, kid.n);
	r = out->p != NULL ? MANDATE_OK : MANDATE_ENOMEM;
	sts_snap_put(snap);
	return r;
}

int
sts_health(struct sts *sts)
{
	struct sts_snap *snap = sts_snap_get(sts);
	struct arena a;
	struct str tok;
	int r = MANDATE_EINTERNAL;

	if (snap == NULL)
		return r;
	arena_init(&a, 64 * 1024);
	/* a real signature: the key is loaded and OpenSSL can use it */
	r = jose_jws_sign(&a, snap->signer, JOSE_ALG_ES256, NULL,
	    STR_LIT("{}"), &tok);
	arena_free(&a);
	sts_snap_put(snap);
	return r;
}

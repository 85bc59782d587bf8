/*
 * dev.c - the development instance's key material and tokens: creates
 * the ES256 keys of the local SPIFFE trust domain and of the people
 * issuer under <data_dir>/dev/, publishes their public key sets, adds
 * both issuers to the daemon's effective identity configuration, and
 * mints the short-lived tokens `mandate dev svid|login` print.  See
 * dev.h for the files and the contract.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "dev/dev.h"
#include "jose/jose.h"
#include "util/file.h"
#include "util/status.h"

#define DEV_PATH_MAX 4096
#define DEV_FILE_MAX (64u * 1024)

static int set_err(char *err, size_t n, int r, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
set_err(char *err, size_t n, int r, const char *fmt, ...)
{
	va_list ap;

	if (err != NULL && n > 0) {
		va_start(ap, fmt);
		vsnprintf(err, n, fmt, ap);
		va_end(ap);
	}
	return r;
}

static int
path_of(char *buf, const char *data_dir, const char *file)
{
	int n = snprintf(buf, DEV_PATH_MAX, "%s/%s%s%s", data_dir, DEV_SUBDIR,
	    file ? "/" : "", file ? file : "");
	return n > 0 && n < DEV_PATH_MAX ? MANDATE_OK : MANDATE_EINVAL;
}

bool
dev_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > DEV_NAME_MAX || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		return false;
	for (size_t i = 0; i < n; i++) {
		char c = name[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '.' || c == '_' || c == '-'))
			return false;
	}
	return true;
}

int
dev_parse_ttl(const char *s, int64_t *out)
{
	char *end = NULL;
	long long v, mul = 1;

	*out = 0;
	if (s == NULL || *s < '0' || *s > '9')
		return MANDATE_EINVAL;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || end == s)
		return MANDATE_EINVAL;
	if (*end == 's')
		end++;
	else if (*end == 'm')
		mul = 60, end++;
	else if (*end == 'h')
		mul = 3600, end++;
	if (*end != '\0' || v <= 0 || v > DEV_TTL_MAX / mul)
		return MANDATE_EINVAL;
	*out = (int64_t)(v * mul);
	return MANDATE_OK;
}

/* Write a whole file, created with `mode` (replacing what was there via a
 * temporary name, so a reader never sees half a file). */
static int
write_file(const char *path, const char *data, size_t len, mode_t mode)
{
	char tmp[DEV_PATH_MAX];
	int fd, n;
	size_t off = 0;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp))
		return MANDATE_EINVAL;
	(void)unlink(tmp);
	if ((fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, mode)) < 0)
		return MANDATE_EIO;
	while (off < len) {
		ssize_t w = write(fd, data + off, len - off);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0) {
			close(fd);
			unlink(tmp);
			return MANDATE_EIO;
		}
		off += (size_t)w;
	}
	if (fsync(fd) != 0 || close(fd) != 0 || rename(tmp, path) != 0) {
		unlink(tmp);
		return MANDATE_EIO;
	}
	return MANDATE_OK;
}

/* The key of `file` (kid = its thumbprint), or MANDATE_ENOTFOUND. */
static int
load_key(const char *data_dir, const char *file, struct jose_key **out,
    char *err, size_t err_len)
{
	char path[DEV_PATH_MAX], tp[JOSE_THUMBPRINT_LEN + 1];
	struct jose_key *k = NULL;
	enum jose_reason why;
	struct stat st;
	char *pem = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if (path_of(path, data_dir, file) != MANDATE_OK)
		return set_err(err, err_len, MANDATE_EINVAL, "path too long");
	if (stat(path, &st) != 0)
		return set_err(err, err_len, errno == ENOENT ? MANDATE_ENOTFOUND :
		    MANDATE_EIO, "%s: %s", path, strerror(errno));
	if ((st.st_mode & 077) != 0)
		return set_err(err, err_len, MANDATE_EINVAL, "%s: mode %03o, "
		    "expected 0600 (private key)", path,
		    (unsigned)(st.st_mode & 0777));
	if ((r = file_read_all(path, DEV_FILE_MAX, &pem, &len)) != MANDATE_OK)
		return set_err(err, err_len, r, "%s: cannot read", path);
	r = jose_key_from_pem(pem, len, STR_NULL, &k, &why);
	OPENSSL_cleanse(pem, len);
	free(pem);
	if (r != MANDATE_OK || jose_key_kty(k) != JOSE_KTY_EC ||
	    !(jose_key_algs(k) & JOSE_ALG_BIT(JOSE_ALG_ES256))) {
		jose_key_unref(k);
		return set_err(err, err_len, MANDATE_EINVAL, "%s: not a P-256 "
		    "private key", path);
	}
	/* reload with the thumbprint as kid */
	if ((r = jose_key_thumbprint(k, tp)) != MANDATE_OK ||
	    (r = jose_key_to_pem(k, &pem, &len)) != MANDATE_OK) {
		jose_key_unref(k);
		return set_err(err, err_len, r, "%s: %s", path,
		    mandate_strerror(r));
	}
	jose_key_unref(k);
	k = NULL;
	r = jose_key_from_pem(pem, len, str_c(tp), &k, &why);
	jose_secret_free(pem, len);
	if (r != MANDATE_OK)
		return set_err(err, err_len, r, "%s: cannot load", path);
	*out = k;
	return MANDATE_OK;
}

/* Load the key, generating it first when absent. */
static int
ensure_key(const char *data_dir, const char *file, struct jose_key **out,
    char *err, size_t err_len)
{
	char path[DEV_PATH_MAX];
	struct jose_key *k = NULL;
	char *pem = NULL;
	size_t len = 0;
	int r = load_key(data_dir, file, out, err, err_len);

	if (r != MANDATE_ENOTFOUND)
		return r;
	if (path_of(path, data_dir, file) != MANDATE_OK)
		return set_err(err, err_len, MANDATE_EINVAL, "path too long");
	if ((r = jose_key_generate_es256(STR_NULL, &k)) != MANDATE_OK ||
	    (r = jose_key_to_pem(k, &pem, &len)) != MANDATE_OK) {
		jose_key_unref(k);
		return set_err(err, err_len, r, "cannot generate a key: %s",
		    mandate_strerror(r));
	}
	jose_key_unref(k);
	r = write_file(path, pem, len, 0600);
	jose_secret_free(pem, len);
	if (r != MANDATE_OK)
		return set_err(err, err_len, r, "%s: cannot write: %s", path,
		    strerror(errno));
	return load_key(data_dir, file, out, err, err_len);
}

/* The public JWKS of one key, with "use" when given. */
static int
write_jwks(const char *data_dir, const char *file, const struct jose_key *k,
    const char *use, char *err, size_t err_len)
{
	char path[DEV_PATH_MAX];
	struct arena a;
	struct str jwk;
	json_t *key = NULL, *set = NULL;
	char *text = NULL;
	int r = MANDATE_ENOMEM;

	arena_init(&a, 1u << 16);
	if (path_of(path, data_dir, file) != MANDATE_OK) {
		r = set_err(err, err_len, MANDATE_EINVAL, "path too long");
		goto out;
	}
	if (jose_key_public_jwk(k, &a, &jwk) != MANDATE_OK ||
	    (key = json_loadb(jwk.p, jwk.n, 0, NULL)) == NULL)
		goto nomem;
	if (json_object_set_new(key, "alg", json_string("ES256")) != 0 ||
	    (use != NULL && json_object_set_new(key, "use",
	    json_string(use)) != 0))
		goto nomem;
	if ((set = json_pack("{s:[O]}", "keys", key)) == NULL ||
	    (text = json_dumps(set, JSON_INDENT(2))) == NULL)
		goto nomem;
	if ((r = write_file(path, text, strlen(text), 0644)) != MANDATE_OK)
		set_err(err, err_len, r, "%s: cannot write", path);
	goto out;
nomem:
	r = set_err(err, err_len, MANDATE_ENOMEM, "out of memory");
out:
	free(text);
	json_decref(set);
	json_decref(key);
	arena_free(&a);
	return r;
}

static int
write_instance(const struct config *cfg, char *err, size_t err_len)
{
	char path[DEV_PATH_MAX];
	json_t *o;
	char *text;
	int r;

	if (path_of(path, cfg->data_dir, DEV_INSTANCE) != MANDATE_OK)
		return set_err(err, err_len, MANDATE_EINVAL, "path too long");
	o = json_pack("{s:s,s:s,s:s,s:s}", "trust_domain",
	    cfg->dev.trust_domain, "oidc_issuer", cfg->dev.oidc_issuer,
	    "audience", cfg->tokens.issuer, "url", cfg->tokens.issuer);
	text = o ? json_dumps(o, JSON_INDENT(2)) : NULL;
	json_decref(o);
	if (text == NULL)
		return set_err(err, err_len, MANDATE_ENOMEM, "out of memory");
	r = write_file(path, text, strlen(text), 0644);
	free(text);
	if (r != MANDATE_OK)
		return set_err(err, err_len, r, "%s: cannot write", path);
	return MANDATE_OK;
}

static const char *
cat3(struct arena *a, const char *x, const char *y, const char *z)
{
	size_t nx = strlen(x), ny = strlen(y), nz = strlen(z);
	char *p = arena_alloc(a, nx + ny + nz + 1);

	if (p == NULL)
		return NULL;
	memcpy(p, x, nx);
	memcpy(p + nx, y, ny);
	memcpy(p + nx + ny, z, nz + 1);
	return p;
}

static void
dev_issuer(struct config_issuer *is)
{
	memset(is, 0, sizeof(*is));
	is->algorithms = CONFIG_ALG_ES256;
	is->leeway = 60;
	is->max_token_size = 8 * 1024;
	is->jwks_refresh = 300;
	is->jwks_max_stale = 365 * 24 * 3600;   /* a local file */
}

/* Refuse a configuration the development issuers cannot be added to. */
static int
dev_config_check(const struct config *cfg, char *err, size_t err_len)
{
	const struct config_identity *id = &cfg->identity;

	if (!cfg->dev.enabled || cfg->dev.trust_domain == NULL ||
	    cfg->dev.oidc_issuer == NULL || cfg->tokens.issuer == NULL)
		return set_err(err, err_len, MANDATE_EINVAL, "the development "
		    "instance is not enabled");
	for (size_t i = 0; i < id->n_issuers; i++)
		if (strcmp(id->issuers[i].name, DEV_ISSUER_PEOPLE) == 0 ||
		    strcmp(id->issuers[i].name, DEV_ISSUER_SPIFFE) == 0)
			return set_err(err, err_len, MANDATE_EINVAL, "identity "
			    "issuer name '%s' is reserved in the development "
			    "instance", id->issuers[i].name);
	if (id->n_issuers + 2 > CONFIG_MAX_ISSUERS)
		return set_err(err, err_len, MANDATE_ELIMIT, "too many issuers");
	return MANDATE_OK;
}

int
dev_config_apply(struct config *cfg, char *err, size_t err_len)
{
	const struct config_identity *id = &cfg->identity;
	struct config_issuer *iss;
	const char **aud, **bi;
	char dir[DEV_PATH_MAX];
	struct arena *a = &cfg->arena;
	size_t n = id->n_issuers, nb = cfg->api_auth.bearer_issuers.n;
	bool have = false;
	int r;

	if ((r = dev_config_check(cfg, err, err_len)) != MANDATE_OK)
		return r;
	if (path_of(dir, cfg->data_dir, NULL) != MANDATE_OK)
		return set_err(err, err_len, MANDATE_EINVAL, "path too long");
	r = set_err(err, err_len, MANDATE_ENOMEM, "out of memory");
	iss = arena_alloc(a, (n + 2) * sizeof(*iss));
	aud = arena_alloc(a, 2 * sizeof(*aud));
	bi = arena_alloc(a, (nb + 1) * sizeof(*bi));
	if (iss == NULL || aud == NULL || bi == NULL)
		return r;
	if (n > 0)
		memcpy(iss, id->issuers, n * sizeof(*iss));
	aud[0] = cfg->tokens.issuer;
	{
		size_t il = strlen(cfg->tokens.issuer);
		bool slash = il > 0 && cfg->tokens.issuer[il - 1] == '/';
		aud[1] = cat3(a, cfg->tokens.issuer, slash ? "" : "/",
		    "oauth2/token");
		if (aud[1] == NULL)
			return r;
	}

	dev_issuer(&iss[n]);
	iss[n].name = DEV_ISSUER_SPIFFE;
	iss[n].kind = CONFIG_ISSUER_SPIFFE;
	iss[n].trust_domain = cfg->dev.trust_domain;
	iss[n].bundle_file = cat3(a, dir, "/", DEV_SPIFFE_BUNDLE);
	iss[n].audiences.v = aud;
	iss[n].audiences.n = 2;         /* our issuer or token endpoint */

	dev_issuer(&iss[n + 1]);
	iss[n + 1].name = DEV_ISSUER_PEOPLE;
	iss[n + 1].kind = CONFIG_ISSUER_OIDC;
	iss[n + 1].issuer = cfg->dev.oidc_issuer;
	iss[n + 1].jwks_file = cat3(a, dir, "/", DEV_OIDC_JWKS);
	/* its people are dev-user:NAME, which no configured subject_prefix
	 * may overlap (config.c): required in the sub, not added to it */
	iss[n + 1].subject_prefix = DEV_USER_PREFIX;
	iss[n + 1].subject_prefix_in_sub = true;
	iss[n + 1].audiences.v = aud;
	iss[n + 1].audiences.n = 1;
	if (iss[n].bundle_file == NULL || iss[n + 1].jwks_file == NULL)
		return r;

	cfg->identity.issuers = iss;
	cfg->identity.n_issuers = n + 2;
	for (size_t i = 0; i < nb; i++) {
		bi[i] = cfg->api_auth.bearer_issuers.v[i];
		have = have || strcmp(bi[i], DEV_ISSUER_PEOPLE) == 0;
	}
	if (!have)
		bi[nb++] = DEV_ISSUER_PEOPLE;
	cfg->api_auth.bearer_issuers.v = bi;
	cfg->api_auth.bearer_issuers.n = nb;
	if (cfg->tokens.audience == NULL)
		cfg->tokens.audience = DEV_TOKEN_AUDIENCE;
	return MANDATE_OK;
}

int
dev_setup(struct config *cfg, char *err, size_t err_len)
{
	struct jose_key *ks = NULL, *ko = NULL;
	char dir[DEV_PATH_MAX];
	struct stat st;
	int r;

	if ((r = dev_config_check(cfg, err, err_len)) != MANDATE_OK)
		return r;
	if (path_of(dir, cfg->data_dir, NULL) != MANDATE_OK)
		return set_err(err, err_len, MANDATE_EINVAL, "path too long");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return set_err(err, err_len, MANDATE_EIO, "%s: %s", dir,
		    strerror(errno));
	if (lstat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return set_err(err, err_len, MANDATE_EIO, "%s: not a directory",
		    dir);
	if ((st.st_mode & 077) != 0 && chmod(dir, 0700) != 0)
		return set_err(err, err_len, MANDATE_EIO, "%s: cannot make it "
		    "0700: %s", dir, strerror(errno));

	if ((r = ensure_key(cfg->data_dir, DEV_SPIFFE_KEY, &ks, err,
	    err_len)) != MANDATE_OK || (r = ensure_key(cfg->data_dir,
	    DEV_OIDC_KEY, &ko, err, err_len)) != MANDATE_OK ||
	    (r = write_jwks(cfg->data_dir, DEV_SPIFFE_BUNDLE, ks, "jwt-svid",
	    err, err_len)) != MANDATE_OK || (r = write_jwks(cfg->data_dir,
	    DEV_OIDC_JWKS, ko, "sig", err, err_len)) != MANDATE_OK ||
	    (r = write_instance(cfg, err, err_len)) != MANDATE_OK)
		goto out;
	r = dev_config_apply(cfg, err, err_len);
out:
	jose_key_unref(ks);
	jose_key_unref(ko);
	return r;
}

static const char *
member(json_t *o, const char *name, struct arena *a, const char *dflt)
{
	const char *s = json_string_value(json_object_get(o, name));

	if (s == NULL || *s == '\0' || strlen(s) > 1024)
		return dflt;
	return arena_cstrdup(a, s);
}

int
dev_instance_read(const char *data_dir, struct arena *a,
    struct dev_instance *out, char *err, size_t err_len)
{
	char path[DEV_PATH_MAX];
	char *text = NULL;
	size_t len = 0;
	json_t *o = NULL;

	out->trust_domain = "dev.local";
	out->audience = "http://127.0.0.1:8700";
	out->url = out->audience;
	out->oidc_issuer = "http://127.0.0.1:8700/dev";
	if (path_of(path, data_dir, DEV_INSTANCE) != MANDATE_OK)
		return set_err(err, err_len, MANDATE_EINVAL, "path too long");
	if (file_read_all(path, DEV_FILE_MAX, &text, &len) != MANDATE_OK)
		return MANDATE_OK;       /* the defaults */
	o = json_loadb(text, len, JSON_REJECT_DUPLICATES, NULL);
	free(text);
	if (!json_is_object(o)) {
		json_decref(o);
		return set_err(err, err_len, MANDATE_EINVAL, "%s: not a JSON "
		    "object", path);
	}
	out->trust_domain = member(o, "trust_domain", a, out->trust_domain);
	out->oidc_issuer = member(o, "oidc_issuer", a, out->oidc_issuer);
	out->audience = member(o, "audience", a, out->audience);
	out->url = member(o, "url", a, out->url);
	json_decref(o);
	if (out->trust_domain == NULL || out->oidc_issuer == NULL ||
	    out->audience == NULL || out->url == NULL)
		return set_err(err, err_len, MANDATE_ENOMEM, "out of memory");
	return MANDATE_OK;
}

int
dev_mint(const char *data_dir, enum dev_which which, const char *iss,
    const char *subject, const char *audience, int64_t ttl, int64_t now,
    struct arena *a, struct str *out, char *err, size_t err_len)
{
	struct jose_key *k = NULL;
	struct jose_sign_opts so;
	unsigned char rnd[16];
	char jti[32];
	json_t *claims = NULL;
	char *payload = NULL;
	int r;

	*out = STR_NULL;
	if (subject == NULL || audience == NULL || ttl <= 0 ||
	    ttl > DEV_TTL_MAX || (which == DEV_KEY_OIDC && iss == NULL))
		return set_err(err, err_len, MANDATE_EINVAL, "bad arguments");
	if ((r = load_key(data_dir, which == DEV_KEY_SPIFFE ? DEV_SPIFFE_KEY :
	    DEV_OIDC_KEY, &k, err, err_len)) != MANDATE_OK)
		return r;
	if (RAND_bytes(rnd, sizeof(rnd)) != 1 ||
	    jose_b64url_encode(rnd, sizeof(rnd), jti, sizeof(jti)) ==
	    (size_t)-1) {
		r = set_err(err, err_len, MANDATE_EINTERNAL, "no randomness");
		goto out;
	}
	claims = json_pack("{s:s,s:s,s:I,s:I,s:I,s:s}", "sub", subject, "aud",
	    audience, "iat", (json_int_t)now, "nbf", (json_int_t)now, "exp",
	    (json_int_t)(now + ttl), "jti", jti);
	if (claims != NULL && iss != NULL &&
	    json_object_set_new(claims, "iss", json_string(iss)) != 0) {
		json_decref(claims);
		claims = NULL;
	}
	if (claims == NULL || (payload = json_dumps(claims, JSON_COMPACT |
	    JSON_SORT_KEYS)) == NULL) {
		r = set_err(err, err_len, MANDATE_ENOMEM, "out of memory");
		goto out;
	}
	memset(&so, 0, sizeof(so));
	so.typ = str_c("JWT");
	if ((r = jose_jws_sign(a, k, JOSE_ALG_ES256, &so, str_c(payload),
	    out)) != MANDATE_OK)
		set_err(err, err_len, r, "cannot sign: %s", mandate_strerror(r));
out:
	free(payload);
	json_decref(claims);
	jose_key_unref(k);
	return r;
}

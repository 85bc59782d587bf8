/*
 * fetch.c - getting an issuer's key material: a file, a URL (libcurl,
 * https only except to loopback, no redirects, a time and size limit),
 * or OIDC discovery (the document's issuer must equal the configured
 * one; its jwks_uri obeys the same URL rule).
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <curl/curl.h>

#include "identity/identity_int.h"
#include "util/file.h"
#include "util/json.h"
#include "util/status.h"

#define ID_URL_MAX 2048

struct sink {
	char *buf;
	size_t n, cap;
	bool over;
};

static size_t
sink_write(char *p, size_t size, size_t nmemb, void *arg)
{
	struct sink *s = arg;
	size_t n = size * nmemb;

	if (n > s->cap - s->n) {
		s->over = true;
		return 0;                 /* aborts the transfer */
	}
	memcpy(s->buf + s->n, p, n);
	s->n += n;
	return n;
}

static bool
host_is_loopback(const char *h)
{
	size_t n = strlen(h);

	if (strcasecmp(h, "localhost") == 0 || strcmp(h, "[::1]") == 0 ||
	    strcmp(h, "::1") == 0)
		return true;
	if (n < 9 || strncmp(h, "127.", 4) != 0)
		return false;
	for (size_t i = 4; i < n; i++)
		if (!((h[i] >= '0' && h[i] <= '9') || h[i] == '.'))
			return false;
	return true;
}

bool
id_url_allowed(const char *url)
{
	CURLU *u = NULL;
	char *scheme = NULL, *host = NULL, *user = NULL;
	bool ok = false;

	if (url == NULL || strlen(url) > ID_URL_MAX ||
	    (u = curl_url()) == NULL)
		goto out;
	if (curl_url_set(u, CURLUPART_URL, url, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) != CURLUE_OK ||
	    curl_url_get(u, CURLUPART_HOST, &host, 0) != CURLUE_OK)
		goto out;
	if (curl_url_get(u, CURLUPART_USER, &user, 0) == CURLUE_OK)
		goto out;                 /* no credentials in key URLs */
	if (strcasecmp(scheme, "https") == 0)
		ok = true;
	else if (strcasecmp(scheme, "http") == 0)
		ok = host_is_loopback(host);
out:
	curl_free(scheme);
	curl_free(host);
	curl_free(user);
	curl_url_cleanup(u);
	return ok;
}

int
id_fetch_url(const struct identity_verifier *v, const char *url,
    char **out, size_t *out_len)
{
	struct sink s = { 0 };
	CURL *h = NULL;
	CURLcode cc;
	long code = 0;
	int r = MANDATE_EIO;

	*out = NULL;
	*out_len = 0;
	if (!id_url_allowed(url)) {
		id_log(v, IDENTITY_LOG_ERROR, "key URL refused (https only, "
		    "or http to loopback): %.200s", url ? url : "(null)");
		return MANDATE_EIO;
	}
	s.cap = JOSE_JWKS_MAX_LEN;
	if ((s.buf = malloc(s.cap + 1)) == NULL)
		return MANDATE_ENOMEM;
	if ((h = curl_easy_init()) == NULL) {
		r = MANDATE_ENOMEM;
		goto out;
	}
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, v->opts.fetch_timeout_ms);
	curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS,
	    v->opts.fetch_timeout_ms);
	curl_easy_setopt(h, CURLOPT_MAXFILESIZE_LARGE,
	    (curl_off_t)JOSE_JWKS_MAX_LEN);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, sink_write);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, &s);
	curl_easy_setopt(h, CURLOPT_USERAGENT, "mandate-identity");
	cc = curl_easy_perform(h);
	if (cc != CURLE_OK) {
		id_log(v, IDENTITY_LOG_WARN, "fetch %.200s: %s%s", url,
		    curl_easy_strerror(cc), s.over ? " (too large)" : "");
		goto out;
	}
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
	if (code != 200) {
		id_log(v, IDENTITY_LOG_WARN, "fetch %.200s: HTTP status %ld",
		    url, code);
		goto out;
	}
	s.buf[s.n] = '\0';
	*out = s.buf;
	*out_len = s.n;
	s.buf = NULL;
	r = MANDATE_OK;
out:
	free(s.buf);
	curl_easy_cleanup(h);
	return r;
}

/* {issuer}/.well-known/openid-configuration -> jwks_uri, into a
 * malloc'd C string. */
static int
discover(const struct identity_verifier *v, const char *issuer,
    char **jwks_uri)
{
	static const char wk[] = "/.well-known/openid-configuration";
	struct ajson_opts o = { .max_depth = 16,
	    .max_len = JOSE_JWKS_MAX_LEN };
	struct arena a;
	const struct ajson *doc = NULL, *iss, *ju;
	char url[ID_URL_MAX + sizeof(wk)];
	char *text = NULL;
	size_t text_len, n = strlen(issuer);
	int r;

	*jwks_uri = NULL;
	arena_init(&a, 4u * 1024 * 1024);
	while (n > 0 && issuer[n - 1] == '/')
		n--;
	if (n > ID_URL_MAX) {
		r = MANDATE_EIO;
		goto out;
	}
	memcpy(url, issuer, n);
	memcpy(url + n, wk, sizeof(wk));
	if ((r = id_fetch_url(v, url, &text, &text_len)) != MANDATE_OK)
		goto out;
	r = MANDATE_EIO;
	if (ajson_parse(&a, text, text_len, &o, &doc, NULL) != MANDATE_OK ||
	    !ajson_is(doc, AJSON_OBJECT)) {
		id_log(v, IDENTITY_LOG_WARN, "discovery %.200s: not a JSON "
		    "object", url);
		goto out;
	}
	iss = ajson_get(doc, "issuer");
	if (!ajson_is(iss, AJSON_STRING) || !str_eq_c(iss->u.s, issuer)) {
		id_log(v, IDENTITY_LOG_ERROR, "discovery %.200s: issuer does "
		    "not equal the configured %.200s", url, issuer);
		goto out;
	}
	ju = ajson_get(doc, "jwks_uri");
	if (!ajson_is(ju, AJSON_STRING) || ju->u.s.n == 0 ||
	    ju->u.s.n > ID_URL_MAX || memchr(ju->u.s.p, 0, ju->u.s.n)) {
		id_log(v, IDENTITY_LOG_ERROR, "discovery %.200s: no usable "
		    "jwks_uri", url);
		goto out;
	}
	if ((*jwks_uri = strndup(ju->u.s.p, ju->u.s.n)) == NULL) {
		r = MANDATE_ENOMEM;
		goto out;
	}
	r = MANDATE_OK;
out:
	free(text);
	arena_free(&a);
	return r;
}

int
id_fetch_source(const struct identity_verifier *v,
    const struct config_issuer *cfg, char **out, size_t *out_len)
{
	const char *file = cfg->kind == CONFIG_ISSUER_SPIFFE ?
	    cfg->bundle_file : cfg->jwks_file;
	const char *url = cfg->kind == CONFIG_ISSUER_SPIFFE ?
	    cfg->bundle_url : cfg->jwks_uri;
	char *disc = NULL;
	int r;

	*out = NULL;
	*out_len = 0;
	if (file != NULL) {
		r = file_read_all(file, JOSE_JWKS_MAX_LEN, out, out_len);
		if (r != MANDATE_OK) {
			id_log(v, IDENTITY_LOG_ERROR, "issuer %s: cannot read "
			    "%s: %s", cfg->name, file, mandate_strerror(r));
			return MANDATE_EIO;
		}
		return MANDATE_OK;
	}
	if (url == NULL && cfg->kind == CONFIG_ISSUER_OIDC &&
	    cfg->discovery && cfg->issuer != NULL) {
		if ((r = discover(v, cfg->issuer, &disc)) != MANDATE_OK)
			return r;
		url = disc;
	}
	if (url == NULL) {
		id_log(v, IDENTITY_LOG_ERROR, "issuer %s: no key source",
		    cfg->name);
		return MANDATE_EIO;
	}
	r = id_fetch_url(v, url, out, out_len);
	free(disc);
	return r;
}

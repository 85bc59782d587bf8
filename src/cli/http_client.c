/*
 * http_client.c - one JSON request to the daemon's API for the CLI
 * commands (libcurl): bearer token, bounded answer, the server's OAuth
 * style error printed on standard error.  For an https daemon,
 * $MANDATE_CACERT names the CA bundle to check it against (else the
 * system's), and $MANDATE_CERT with $MANDATE_KEY a client certificate
 * and key (PEM) for mTLS.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli.h"

struct reply {
	char *buf;
	size_t len, max;
	bool too_big;
};

static size_t
on_data(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t add = size * n;
	char *nb;

	if (add > r->max - r->len) {
		r->too_big = true;
		return 0;                  /* aborts the transfer */
	}
	if ((nb = realloc(r->buf, r->len + add + 1)) == NULL)
		return 0;
	r->buf = nb;
	memcpy(r->buf + r->len, p, add);
	r->len += add;
	r->buf[r->len] = '\0';
	return add;
}

int
cli_http(const struct cli_http_req *q, json_t **answer)
{
	CURL *c = q->curl;
	struct curl_slist *h = NULL;
	struct reply rep = { NULL, 0, q->max_reply, false };
	char auth[8192];
	long status = 0;
	int rc = 1, n;
	CURLcode cr;
	json_t *j = NULL;

	*answer = NULL;
	if (c == NULL && (c = curl_easy_init()) == NULL)
		return 1;
	if (q->curl != NULL)
		curl_easy_reset(c);
	h = curl_slist_append(h, "Accept: application/json");
	if (h != NULL && q->body != NULL)
		h = curl_slist_append(h, q->content_type);
	if (h != NULL && q->token != NULL && q->token[0] != '\0') {
		n = snprintf(auth, sizeof(auth), "Authorization: Bearer %s",
		    q->token);
		if (n < 0 || (size_t)n >= sizeof(auth)) {
			fprintf(stderr, "mandate: token too long\n");
			goto out;
		}
		h = curl_slist_append(h, auth);
	}
	if (h == NULL)
		goto out;
	{
		const char *ca = getenv("MANDATE_CACERT");
		const char *cert = getenv("MANDATE_CERT");
		const char *key = getenv("MANDATE_KEY");

		if ((cert != NULL && cert[0] != '\0') !=
		    (key != NULL && key[0] != '\0')) {
			fprintf(stderr, "mandate: $MANDATE_CERT and "
			    "$MANDATE_KEY go together (a client certificate "
			    "and its key)\n");
			goto out;
		}
		if (ca != NULL && ca[0] != '\0')
			curl_easy_setopt(c, CURLOPT_CAINFO, ca);
		if (cert != NULL && cert[0] != '\0') {
			curl_easy_setopt(c, CURLOPT_SSLCERT, cert);
			curl_easy_setopt(c, CURLOPT_SSLKEY, key);
		}
	}
	curl_easy_setopt(c, CURLOPT_URL, q->url);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	if (q->method != NULL)
		curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, q->method);
	if (q->body != NULL)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, q->body);
	else if (q->method != NULL && strcmp(q->method, "POST") == 0)
		curl_easy_setopt(c, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
	curl_easy_setopt(c, CURLOPT_WRITEDATA, &rep);
	curl_easy_setopt(c, CURLOPT_TIMEOUT, q->timeout_s);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	if ((cr = curl_easy_perform(c)) != CURLE_OK) {
		fprintf(stderr, "mandate: %s: %s\n", q->url, rep.too_big ?
		    "answer too large" : curl_easy_strerror(cr));
		goto out;
	}
	curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
	j = rep.buf ? json_loadb(rep.buf, rep.len, 0, NULL) : NULL;
	if (status < 200 || status >= 300) {
		const char *e = j ? json_string_value(json_object_get(j,
		    "error")) : NULL;
		const char *d = j ? json_string_value(json_object_get(j,
		    "error_description")) : NULL;
		fprintf(stderr, "mandate: %ld %s%s%s\n", status,
		    e ? e : "error", d ? ": " : "", d ? d : "");
		goto out;
	}
	*answer = j;
	j = NULL;
	rc = 0;
out:
	json_decref(j);
	curl_slist_free_all(h);
	if (q->curl == NULL)
		curl_easy_cleanup(c);
	free(rep.buf);
	return rc;
}

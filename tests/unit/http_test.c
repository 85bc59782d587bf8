/*
 * http_test.c - the HTTP server layer against a real server on 127.0.0.1
 * (ephemeral port) with libcurl as the client: routing, limits, request
 * ids, the built-in endpoints, metrics text, concurrency, graceful stop,
 * TLS and mTLS (certificates made here with OpenSSL); and data-driven
 * cases for the form, percent and path decoders.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "server/http.h"
#include "util/status.h"

/* ---- a small libcurl client ---- */

struct reply {
	long status;
	char body[65536];
	size_t body_len;
	char headers[8192];
	size_t headers_len;
	CURLcode rc;
};

static size_t
on_body(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t len = size * n;

	if (len > sizeof(r->body) - 1 - r->body_len)
		len = sizeof(r->body) - 1 - r->body_len;
	memcpy(r->body + r->body_len, p, len);
	r->body_len += len;
	r->body[r->body_len] = '\0';
	return size * n;
}

static size_t
on_header(char *p, size_t size, size_t n, void *arg)
{
	struct reply *r = arg;
	size_t len = size * n;

	if (len > sizeof(r->headers) - 1 - r->headers_len)
		len = sizeof(r->headers) - 1 - r->headers_len;
	memcpy(r->headers + r->headers_len, p, len);
	r->headers_len += len;
	r->headers[r->headers_len] = '\0';
	return size * n;
}

struct tls_client {
	const char *ca;
	const char *cert;
	const char *key;
};

/* One request; h (may be NULL) reuses a handle for keep-alive tests. */
static void
do_request(CURL *h, const char *method, const char *url, const char *body,
    size_t body_len, const char *const *headers, const struct tls_client *tc,
    struct reply *r)
{
	struct curl_slist *hl = NULL;
	int own = h == NULL;

	memset(r, 0, sizeof(*r));
	if (own)
		h = curl_easy_init();
	assert_non_null(h);
	curl_easy_setopt(h, CURLOPT_URL, url);
	curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, method);
	curl_easy_setopt(h, CURLOPT_NOBODY, strcmp(method, "HEAD") == 0 ?
	    1L : 0L);
	if (strcmp(method, "HEAD") != 0 && strcmp(method, "GET") != 0)
		curl_easy_setopt(h, CURLOPT_HTTPGET, 0L);
	curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
	curl_easy_setopt(h, CURLOPT_WRITEDATA, r);
	curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
	curl_easy_setopt(h, CURLOPT_HEADERDATA, r);
	curl_easy_setopt(h, CURLOPT_TIMEOUT, 10L);
	curl_easy_setopt(h, CURLOPT_PATH_AS_IS, 1L);
	if (body != NULL) {
		curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
		curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)body_len);
	}
	for (size_t i = 0; headers != NULL && headers[i] != NULL; i++)
		hl = curl_slist_append(hl, headers[i]);
	hl = curl_slist_append(hl, "Expect:");
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, hl);
	if (tc != NULL) {
		curl_easy_setopt(h, CURLOPT_CAINFO, tc->ca);
		if (tc->cert != NULL) {
			curl_easy_setopt(h, CURLOPT_SSLCERT, tc->cert);
			curl_easy_setopt(h, CURLOPT_SSLKEY, tc->key);
		}
	}
	r->rc = curl_easy_perform(h);
	curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &r->status);
	curl_easy_setopt(h, CURLOPT_HTTPHEADER, NULL);
	curl_easy_setopt(h, CURLOPT_POSTFIELDS, NULL);
	curl_slist_free_all(hl);
	if (own)
		curl_easy_cleanup(h);
}

static void
get(uint16_t port, const char *path, struct reply *r)
{
	char url[512];

	snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port, path);
	do_request(NULL, "GET", url, NULL, 0, NULL, NULL, r);
}

/* ---- handlers ---- */

static _Atomic int handler_calls;
static _Atomic int ready_flag;

static void
h_task(struct http_request *req, void *arg)
{
	struct str id = http_request_param(req, "id");
	struct str q = http_request_query(req, "q");
	char buf[512];
	int n;

	(void)arg;
	atomic_fetch_add(&handler_calls, 1);
	n = snprintf(buf, sizeof(buf), "%s id=%.*s q=%.*s", req->route,
	    (int)id.n, id.p != NULL ? id.p : "", (int)q.n,
	    q.p != NULL ? q.p : "");
	http_respond(req, 200, "text/plain", buf, (size_t)n);
}

static void
h_echo(struct http_request *req, void *arg)
{
	(void)arg;
	atomic_fetch_add(&handler_calls, 1);
	if (!http_require_content_type(req, "application/octet-stream"))
		return;
	http_respond(req, 200, "application/octet-stream", req->body.p,
	    req->body.n);
}

static void
h_form(struct http_request *req, void *arg)
{
	struct http_form form;
	json_t *j;
	int r;

	(void)arg;
	if (!http_require_content_type(req,
	    "application/x-www-form-urlencoded"))
		return;
	r = http_form_parse(req->arena, req->body.p, req->body.n, 0, 0, &form);
	if (r != 0) {
		http_respond_error(req, 400, "invalid_request", "bad form");
		return;
	}
	j = json_pack("{s:s, s:i}", "grant_type",
	    http_form_get(&form, "grant_type").p != NULL ?
	    http_form_get(&form, "grant_type").p : "",
	    "n_scope", (int)http_form_count(&form, "scope"));
	http_respond_json(req, 200, j);
}

/* GET /headers: how many X-Dup lines came and the first; an error
 * answer after the handler set its own Cache-Control. */
static void
h_headers(struct http_request *req, void *arg)
{
	const char *v = http_request_header(req, "x-dup");
	char buf[128];

	(void)arg;
	snprintf(buf, sizeof(buf), "%zu %s",
	    http_request_header_count(req, "X-DUP"), v != NULL ? v : "-");
	http_response_header(req, "Cache-Control", "no-store");
	http_respond_error(req, 400, "invalid_request", buf);
}

static void
h_silent(struct http_request *req, void *arg)
{
	(void)req;
	(void)arg;      /* forgets to answer: the server says 500 */
}

static void
h_slow(struct http_request *req, void *arg)
{
	struct timespec ts = { 0, 400 * 1000 * 1000 };

	(void)arg;
	nanosleep(&ts, NULL);
	http_respond(req, 200, "text/plain", "slow", 4);
}

/* Slow, then asks for a hold: none is given once the server stops. */
static void
h_slowhold(struct http_request *req, void *arg)
{
	struct timespec ts = { 0, 400 * 1000 * 1000 };
	struct http_hold *h;

	(void)arg;
	nanosleep(&ts, NULL);
	assert_int_equal(http_hold_fallback(req, 500, "text/plain", "fb", 2),
	    0);
	h = http_hold(req);
	http_respond(req, 200, "text/plain", h != NULL ? "held" : "not held",
	    h != NULL ? 4 : 8);
	http_release(h, true);
}

static void
h_certs(struct http_request *req, void *arg)
{
	json_t *j = json_object();
	const unsigned char *p;
	X509 *x;
	char cn[128] = "";

	(void)arg;
	json_object_set_new(j, "n", json_integer((json_int_t)req->n_peer_certs));
	if (req->n_peer_certs > 0) {
		p = req->peer_certs[0].der;
		x = d2i_X509(NULL, &p, (long)req->peer_certs[0].len);
		if (x != NULL) {
			X509_NAME_get_text_by_NID(X509_get_subject_name(x),
			    NID_commonName, cn, sizeof(cn));
			X509_free(x);
		}
	}
	json_object_set_new(j, "cn", json_string(cn));
	http_respond_json(req, 200, j);
}

/* GET /held?n=N&ok=0|1&early=0|1: N holds released by other threads
 * after a pause (ok: all succeed, or the last fails), or before the
 * handler returns (early); the handler's answer is "held answer", the
 * fallback "fallback". */
struct releaser {
	struct http_hold *h;
	bool ok;
	long delay_ms;
};

static void *
release_later(void *p)
{
	struct releaser *rl = p;
	struct timespec ts = { 0, rl->delay_ms * 1000000L };

	nanosleep(&ts, NULL);
	http_release(rl->h, rl->ok);
	free(rl);
	return NULL;
}

/* Counts h_held registers for its answer (set by test_held_answers):
 * one on the handler's answer, two (in two calls) on the fallback. */
static _Atomic(struct http_series *) held_on_answer, held_on_fallback;

static void
h_held(struct http_request *req, void *arg)
{
	struct str ns = http_request_query(req, "n");
	struct str oks = http_request_query(req, "ok");
	struct str early = http_request_query(req, "early");
	struct str delay = http_request_query(req, "delay");
	int n = ns.p != NULL ? atoi(ns.p) : 1;
	bool ok = oks.p == NULL || strcmp(oks.p, "1") == 0;
	bool now = early.p != NULL && strcmp(early.p, "1") == 0;

	(void)arg;
	/* no fallback yet: no hold */
	assert_null(http_hold(req));
	assert_int_equal(http_hold_fallback(req, 503, "text/plain",
	    "fallback", 8), MANDATE_OK);
	for (int i = 0; i < n; i++) {
		struct releaser *rl = malloc(sizeof(*rl));
		pthread_t t;

		assert_non_null(rl);
		rl->h = http_hold(req);
		assert_non_null(rl->h);
		rl->ok = ok || i < n - 1;
		rl->delay_ms = now ? 0 : delay.p != NULL ? atol(delay.p) :
		    20 + 10 * i;
		if (now) {
			release_later(rl);
			continue;
		}
		assert_int_equal(pthread_create(&t, NULL, release_later, rl),
		    0);
		pthread_detach(t);
	}
	if (atomic_load(&held_on_answer) != NULL) {
		struct http_series *a = atomic_load(&held_on_answer);
		struct http_series *f = atomic_load(&held_on_fallback);

		assert_int_equal(http_count_on_answer(req, a, 1, false),
		    MANDATE_OK);
		assert_int_equal(http_count_on_answer(req, f, 1, true),
		    MANDATE_OK);
		assert_int_equal(http_count_on_answer(req, f, 1, true),
		    MANDATE_OK);
	}
	http_response_header(req, "X-Handler", "yes");
	http_respond(req, 200, "text/plain", "held answer", 11);
}

static int
ready_check(void *arg)
{
	(void)arg;
	return atomic_load(&ready_flag);
}

static int
always_ready(void *arg)
{
	(void)arg;
	return 1;
}

struct log_capture {
	pthread_mutex_t lock;
	char last[4096];
	int lines;
};

static void
on_log(void *arg, const char *line, size_t len)
{
	struct log_capture *lc = arg;

	pthread_mutex_lock(&lc->lock);
	if (len >= sizeof(lc->last))
		len = sizeof(lc->last) - 1;
	memcpy(lc->last, line, len);
	lc->last[len] = '\0';
	lc->lines++;
	pthread_mutex_unlock(&lc->lock);
}

static struct http_server *
start_server(struct http_config *cfg)
{
	struct http_server *srv = NULL;

	assert_int_equal(http_server_new(cfg, &srv, NULL, 0), MANDATE_OK);
	assert_int_equal(http_server_route(srv, "GET", "/v1/tasks/{id}",
	    h_task, NULL), 0);
	assert_int_equal(http_server_route(srv, "POST", "/v1/tasks/{id}/end",
	    h_task, NULL), 0);
	assert_int_equal(http_server_route(srv, "POST",
	    "/v1/agents/{id}/revoke", h_task, NULL), 0);
	assert_int_equal(http_server_route(srv, "DELETE", "/v1/tasks/{id}",
	    h_task, NULL), 0);
	assert_int_equal(http_server_route(srv, "POST", "/echo", h_echo,
	    NULL), 0);
	assert_int_equal(http_server_route(srv, "POST", "/oauth2/token",
	    h_form, NULL), 0);
	assert_int_equal(http_server_route(srv, "GET", "/silent", h_silent,
	    NULL), 0);
	assert_int_equal(http_server_route(srv, "GET", "/slow", h_slow,
	    NULL), 0);
	assert_int_equal(http_server_route(srv, "GET", "/slowhold",
	    h_slowhold, NULL), 0);
	assert_int_equal(http_server_route(srv, "GET", "/certs", h_certs,
	    NULL), 0);
	assert_int_equal(http_server_route(srv, "GET", "/held", h_held,
	    NULL), 0);
	assert_int_equal(http_server_route(srv, "GET", "/headers", h_headers,
	    NULL), 0);
	assert_int_equal(http_server_route(srv, "GET", "/", h_task, NULL), 0);
	assert_int_not_equal(http_server_route(srv, "GET", "/bad/{}", h_task,
	    NULL), 0);
	assert_int_not_equal(http_server_route(srv, "get", "/x", h_task,
	    NULL), 0);
	assert_int_equal(http_server_ready_check(srv, "store", ready_check,
	    NULL), 0);
	assert_int_equal(http_server_ready_check(srv, "keys", always_ready,
	    NULL), 0);
	assert_int_equal(http_server_start(srv), MANDATE_OK);
	assert_int_not_equal(http_server_port(srv), 0);
	return srv;
}

static int
has_header(const struct reply *r, const char *line)
{
	return strstr(r->headers, line) != NULL;
}

/* Field lines of the answer that start with name (as sent). */
static int
count_header(const struct reply *r, const char *name)
{
	int n = 0;

	for (const char *p = r->headers; (p = strstr(p, name)) != NULL;
	    p += strlen(name))
		if (p == r->headers || p[-1] == '\n')
			n++;
	return n;
}

/* A repeated request field: counted, the first returned; the error
 * answer keeps the handler's Cache-Control (one line, not two). */
static void
check_repeated_header(const char *base, const struct tls_client *tc)
{
	static const char *const two[] = { "X-Dup: one", "x-dup: two", NULL };
	static const char *const one[] = { "X-Dup: one", NULL };
	struct reply *r = malloc(sizeof(*r));
	char url[256];

	assert_non_null(r);
	snprintf(url, sizeof(url), "%s/headers", base);
	do_request(NULL, "GET", url, NULL, 0, two, tc, r);
	assert_int_equal(r->status, 400);
	assert_non_null(strstr(r->body, "\"2 one\""));
	assert_int_equal(count_header(r, "Cache-Control:"), 1);
	do_request(NULL, "GET", url, NULL, 0, one, tc, r);
	assert_non_null(strstr(r->body, "\"1 one\""));
	do_request(NULL, "GET", url, NULL, 0, NULL, tc, r);
	assert_non_null(strstr(r->body, "\"0 -\""));
	free(r);
}

/* ---- tests against a plain HTTP server ---- */

static void
test_repeated_header(void **state)
{
	struct http_config cfg = { 0 };
	struct http_server *srv = start_server(&cfg);
	char base[64];

	(void)state;
	snprintf(base, sizeof(base), "http://127.0.0.1:%u",
	    http_server_port(srv));
	check_repeated_header(base, NULL);
	http_server_free(srv);
}

static void
test_routing(void **state)
{
	struct http_config cfg = { .threads = 2 };
	struct http_server *srv = start_server(&cfg);
	uint16_t port = http_server_port(srv);
	struct reply r;
	char url[256];
	static const struct {
		const char *method, *path;
		long status;
		const char *body;       /* substring of the body, or NULL */
	} cases[] = {
		{ "GET", "/v1/tasks/abc", 200, "/v1/tasks/{id} id=abc q=" },
		{ "GET", "/v1/tasks/a%20b?q=x+y%21", 200, "id=a b q=x y!" },
		{ "GET", "/v1/tasks/%E2%9C%93", 200, "id=\xE2\x9C\x93" },
		{ "POST", "/v1/tasks/t1/end", 200, "{id}/end id=t1" },
		{ "POST", "/v1/agents/spiffe:%2F%2Fx/revoke", 400, NULL },
		{ "POST", "/v1/agents/ag-7/revoke", 200, "id=ag-7" },
		{ "GET", "/v1/tasks/a%2Fb", 400, "invalid_request" },
		{ "GET", "/v1/tasks/a%00b", 400, NULL },
		{ "GET", "/v1/tasks/a%zz", 400, NULL },
		{ "GET", "/v1/tasks/a%2", 400, NULL },
		{ "GET", "/v1/tasks/..", 400, NULL },
		{ "GET", "/v1/tasks/x?q=%00", 400, NULL },
		{ "GET", "/v1/tasks/x?q=%g0", 400, NULL },
		{ "GET", "/v1/tasks/", 404, "not_found" },
		{ "GET", "/v1/tasks", 404, NULL },
		{ "GET", "/v1/tasks/a/b", 404, NULL },
		{ "GET", "/nope", 404, NULL },
		{ "POST", "/v1/tasks/abc", 405, "method_not_allowed" },
		{ "PUT", "/v1/tasks/abc", 501, "not_implemented" },
		{ "GET", "/v1/tasks/t1/end", 405, NULL },
		{ "POST", "/healthz", 405, NULL },
		{ "GET", "/silent", 500, "server_error" },
		{ "DELETE", "/v1/tasks/z", 200, "id=z" },
		{ "GET", "/", 200, "/ id=" },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		snprintf(url, sizeof(url), "http://127.0.0.1:%u%s", port,
		    cases[i].path);
		do_request(NULL, cases[i].method, url,
		    strcmp(cases[i].method, "POST") == 0 ? "" : NULL, 0, NULL,
		    NULL, &r);
		if (r.status != cases[i].status ||
		    (cases[i].body != NULL && strstr(r.body,
		    cases[i].body) == NULL))
			fail_msg("case %zu %s %s: %ld '%s'", i, cases[i].method,
			    cases[i].path, r.status, r.body);
	}
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/tasks/abc", port);
	do_request(NULL, "POST", url, "", 0, NULL, NULL, &r);
	assert_true(has_header(&r, "Allow: GET, HEAD, DELETE"));
	/* HEAD is answered by the GET route, without a body */
	do_request(NULL, "HEAD", url, NULL, 0, NULL, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 0);
	http_server_free(srv);
}

static void
test_body_limit_and_content_type(void **state)
{
	struct http_config cfg = { .max_body = 1000 };
	struct http_server *srv = start_server(&cfg);
	struct reply r;
	char url[256], *big = malloc(5000);
	const char *octet[] = { "Content-Type: application/octet-stream",
	    NULL };
	const char *chunked[] = { "Content-Type: application/octet-stream",
	    "Transfer-Encoding: chunked", NULL };
	const char *json_ct[] = { "Content-Type: application/json", NULL };
	int before;

	(void)state;
	assert_non_null(big);
	memset(big, 'b', 5000);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/echo",
	    http_server_port(srv));
	do_request(NULL, "POST", url, big, 1000, octet, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_int_equal(r.body_len, 1000);

	before = atomic_load(&handler_calls);
	do_request(NULL, "POST", url, big, 1001, octet, NULL, &r);
	assert_int_equal(r.status, 413);
	do_request(NULL, "POST", url, big, 5000, chunked, NULL, &r);
	assert_int_equal(r.status, 413);
	assert_int_equal(atomic_load(&handler_calls), before);

	do_request(NULL, "POST", url, "{}", 2, json_ct, NULL, &r);
	assert_int_equal(r.status, 415);
	do_request(NULL, "POST", url, "x", 1, NULL, NULL, &r);
	assert_int_equal(r.status, 415);
	free(big);
	http_server_free(srv);
}

static void
test_form_endpoint(void **state)
{
	struct http_config cfg = { 0 };
	struct http_server *srv = start_server(&cfg);
	struct reply r;
	char url[256];
	const char *form_ct[] = {
	    "Content-Type: application/x-www-form-urlencoded; charset=UTF-8",
	    NULL };
	const char *body = "grant_type=urn%3Aietf%3Aparams%3Aoauth%3A"
	    "grant-type%3Atoken-exchange&scope=a&scope=b";

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/oauth2/token",
	    http_server_port(srv));
	do_request(NULL, "POST", url, body, strlen(body), form_ct, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "{\"grant_type\":\"urn:ietf:params:oauth:"
	    "grant-type:token-exchange\",\"n_scope\":2}");
	assert_true(has_header(&r, "application/json"));
	do_request(NULL, "POST", url, "a=%zz", 5, form_ct, NULL, &r);
	assert_int_equal(r.status, 400);
	assert_true(has_header(&r, "Cache-Control: no-store"));
	http_server_free(srv);
}

static void
test_keepalive_and_request_id(void **state)
{
	struct log_capture lc = { .lock = PTHREAD_MUTEX_INITIALIZER };
	struct http_config cfg = { .log_fn = on_log, .log_arg = &lc };
	struct http_server *srv = start_server(&cfg);
	struct reply r;
	char url[256];
	CURL *h = curl_easy_init();
	long connects = -1;
	const char *rid[] = { "X-Request-ID: abc-123.x", NULL };
	const char *bad_rid[] = { "X-Request-ID: caf\xc3\xa9", NULL };
	/* any printable ASCII is the client's id: echoed, and escaped in
	 * the JSON access log */
	const char *odd_rid[] = {
	    "X-Request-ID: Root=1-5759e988;Parent=\"q\" \\x/+", NULL };
	json_t *j;
	json_error_t err;

	(void)state;
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/v1/tasks/k?q=1",
	    http_server_port(srv));
	do_request(h, "GET", url, NULL, 0, rid, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(has_header(&r, "X-Request-ID: abc-123.x"));
	do_request(h, "GET", url, NULL, 0, bad_rid, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_non_null(strstr(r.headers, "X-Request-ID: "));
	assert_null(strstr(r.headers, "caf"));
	do_request(h, "GET", url, NULL, 0, odd_rid, NULL, &r);
	assert_int_equal(r.status, 200);
	assert_true(has_header(&r,
	    "X-Request-ID: Root=1-5759e988;Parent=\"q\" \\x/+"));
	curl_easy_getinfo(h, CURLINFO_NUM_CONNECTS, &connects);
	assert_int_equal(connects, 0);          /* the connection was reused */
	curl_easy_cleanup(h);

	http_server_free(srv);     /* completion callbacks have all run */
	assert_int_equal(lc.lines, 3);
	j = json_loads(lc.last, 0, &err);
	assert_non_null(j);
	assert_string_equal(json_string_value(json_object_get(j, "method")),
	    "GET");
	assert_string_equal(json_string_value(json_object_get(j, "path")),
	    "/v1/tasks/k");
	assert_int_equal(json_integer_value(json_object_get(j, "status")), 200);
	assert_string_equal(json_string_value(json_object_get(j, "remote")),
	    "127.0.0.1");
	assert_true(json_is_integer(json_object_get(j, "latency_us")));
	assert_true(json_is_integer(json_object_get(j, "bytes")));
	assert_string_equal(json_string_value(json_object_get(j,
	    "request_id")), "Root=1-5759e988;Parent=\"q\" \\x/+");
	assert_non_null(json_object_get(j, "time"));
	json_decref(j);
}

/* A held answer is sent once every hold is released, the fallback
 * instead (without the handler's headers) when one failed; the worker
 * serves other requests meanwhile; shutdown waits for holds. */
static void *
held_client(void *p)
{
	uint16_t port = *(uint16_t *)p;
	struct reply *r = malloc(sizeof(*r));

	get(port, "/held?n=3&ok=1", r);
	return r;
}

static void
test_held_answers(void **state)
{
	struct http_config cfg = { .threads = 1 };
	struct http_server *srv = start_server(&cfg);
	uint16_t port = http_server_port(srv);
	struct http_metric *fam;
	const char *const lab[1] = { "branch" };
	const char *const v_ans[1] = { "answer" }, *const v_fb[1] = {
	    "fallback" };
	struct reply r;
	pthread_t t[4];

	(void)state;
	/* counts that wait for the answer: the branch sent is counted */
	fam = http_metrics_counter(http_server_metrics(srv), "held_total",
	    "test", lab, 1);
	assert_non_null(fam);
	atomic_store(&held_on_fallback, http_metric_series(fam, v_fb));
	atomic_store(&held_on_answer, http_metric_series(fam, v_ans));
	get(port, "/held?n=1&ok=1", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "held answer");
	assert_true(has_header(&r, "X-Handler: yes"));
	assert_int_equal(http_series_value(atomic_load(&held_on_answer)), 1);
	assert_int_equal(http_series_value(atomic_load(&held_on_fallback)), 0);
	get(port, "/held?n=3&ok=0", &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body, "fallback");
	assert_false(has_header(&r, "X-Handler: yes"));
	assert_int_equal(http_series_value(atomic_load(&held_on_answer)), 1);
	assert_int_equal(http_series_value(atomic_load(&held_on_fallback)), 2);
	get(port, "/held?n=0", &r);             /* not held at all */
	assert_int_equal(r.status, 200);
	assert_int_equal(http_series_value(atomic_load(&held_on_answer)), 2);
	assert_int_equal(http_series_value(atomic_load(&held_on_fallback)), 2);
	atomic_store(&held_on_answer, NULL);
	get(port, "/held?n=2&ok=1&early=1", &r);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "held answer");
	get(port, "/held?n=2&ok=0&early=1", &r);
	assert_int_equal(r.status, 503);
	/* one worker thread: held requests do not keep it from others */
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&t[i], NULL, held_client,
		    &port), 0);
	get(port, "/v1/tasks/x", &r);
	assert_int_equal(r.status, 200);
	/* a client that leaves while its answer is held: the release still
	 * comes, finds the connection gone, and shutdown does not wait */
	{
		CURL *h = curl_easy_init();
		char url[128];

		snprintf(url, sizeof(url), "http://127.0.0.1:%u/held?n=1&"
		    "delay=300", port);
		curl_easy_setopt(h, CURLOPT_URL, url);
		curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 50L);
		assert_int_not_equal(curl_easy_perform(h), CURLE_OK);
		curl_easy_cleanup(h);
	}
	for (int i = 0; i < 4; i++) {
		struct reply *hr;

		pthread_join(t[i], (void **)&hr);
		assert_int_equal(hr->status, 200);
		assert_string_equal(hr->body, "held answer");
		free(hr);
	}
	usleep(400 * 1000);       /* the gone client's hold is released */
	http_server_free(srv);
}

static void
test_health_ready_metrics(void **state)
{
	struct http_config cfg = { 0 };
	struct http_server *srv = start_server(&cfg);
	uint16_t port = http_server_port(srv);
	struct reply r;

	(void)state;
	get(port, "/healthz", &r);
	assert_int_equal(r.status, 200);
	atomic_store(&ready_flag, 0);
	get(port, "/readyz", &r);
	assert_int_equal(r.status, 503);
	assert_string_equal(r.body,
	    "{\"status\":\"not_ready\",\"failing\":[\"store\"]}");
	atomic_store(&ready_flag, 1);
	get(port, "/readyz", &r);
	assert_int_equal(r.status, 200);
	get(port, "/nope", &r);
	get(port, "/metrics", &r);
	assert_int_equal(r.status, 200);
	assert_true(has_header(&r, "text/plain; version=0.0.4"));
	assert_non_null(strstr(r.body,
	    "# TYPE http_requests_total counter\n"));
	assert_non_null(strstr(r.body, "http_requests_total{method=\"GET\","
	    "route=\"/readyz\",status=\"503\"} 1\n"));
	assert_non_null(strstr(r.body, "http_requests_total{method=\"GET\","
	    "route=\"unmatched\",status=\"404\"} 1\n"));
	assert_non_null(strstr(r.body,
	    "# TYPE http_request_duration_seconds histogram\n"));
	assert_non_null(strstr(r.body, "http_request_duration_seconds_bucket"
	    "{route=\"/healthz\",le=\"+Inf\"} 1\n"));
	assert_non_null(strstr(r.body,
	    "http_request_duration_seconds_count{route=\"/healthz\"} 1\n"));
	http_server_free(srv);
}

struct load_arg {
	uint16_t port;
	int ok;
};

static void *
load_thread(void *p)
{
	struct load_arg *la = p;
	CURL *h = curl_easy_init();
	struct reply *r = malloc(sizeof(*r));
	char url[128];

	if (h == NULL || r == NULL) {
		free(r);
		curl_easy_cleanup(h);
		return NULL;
	}
	for (int i = 0; i < 50; i++) {
		snprintf(url, sizeof(url),
		    "http://127.0.0.1:%u/v1/tasks/t%d", la->port, i);
		do_request(h, "GET", url, NULL, 0, NULL, NULL, r);
		if (r->status == 200)
			la->ok++;
	}
	free(r);
	curl_easy_cleanup(h);
	return NULL;
}

static void
test_concurrent(void **state)
{
	struct http_config cfg = { .threads = 4 };
	struct http_server *srv = start_server(&cfg);
	pthread_t th[6];
	struct load_arg la[6];
	const char *labels[] = { "GET", "/v1/tasks/{id}", "200" };
	struct http_metric *f;
	int total = 0;

	(void)state;
	for (int i = 0; i < 6; i++) {
		la[i].port = http_server_port(srv);
		la[i].ok = 0;
		assert_int_equal(pthread_create(&th[i], NULL, load_thread,
		    &la[i]), 0);
	}
	for (int i = 0; i < 6; i++) {
		pthread_join(th[i], NULL);
		total += la[i].ok;
	}
	assert_int_equal(total, 300);
	http_server_shutdown(srv, 1000);
	/* the built-in counter saw every request: registering the same name
	 * again is refused, so look at the text */
	f = http_metrics_counter(http_server_metrics(srv),
	    "http_requests_total", "", NULL, 0);
	assert_null(f);
	{
		char *text;
		size_t len;
		assert_int_equal(http_metrics_render(http_server_metrics(srv),
		    &text, &len), 0);
		assert_non_null(strstr(text, "http_requests_total{method=\"GET\","
		    "route=\"/v1/tasks/{id}\",status=\"200\"} 300\n"));
		free(text);
	}
	(void)labels;
	http_server_free(srv);
}

struct slow_arg {
	uint16_t port;
	struct reply r;
};

static void *
slow_thread(void *p)
{
	struct slow_arg *sa = p;

	get(sa->port, "/slow", &sa->r);
	return NULL;
}

static void *
slowhold_thread(void *p)
{
	struct slow_arg *sa = p;

	get(sa->port, "/slowhold", &sa->r);
	return NULL;
}

static void
test_graceful_stop(void **state)
{
	struct http_config cfg = { 0 };
	struct http_server *srv = start_server(&cfg);
	struct slow_arg *sa = calloc(2, sizeof(*sa));
	struct timespec ts = { 0, 100 * 1000 * 1000 };
	pthread_t th, th2;
	uint16_t port = http_server_port(srv);
	struct reply *r = malloc(sizeof(*r));

	(void)state;
	assert_non_null(sa);
	assert_non_null(r);
	sa[0].port = sa[1].port = port;
	assert_int_equal(pthread_create(&th, NULL, slow_thread, &sa[0]), 0);
	assert_int_equal(pthread_create(&th2, NULL, slowhold_thread, &sa[1]),
	    0);
	nanosleep(&ts, NULL);
	http_server_shutdown(srv, 3000);        /* waits for both */
	pthread_join(th, NULL);
	pthread_join(th2, NULL);
	assert_int_equal(sa->r.rc, CURLE_OK);
	assert_int_equal(sa->r.status, 200);
	assert_string_equal(sa->r.body, "slow");
	/* a handler that asks for a hold once the server stops gets none
	 * (and answers without one): the engine stops with no request in
	 * use by a holder */
	assert_int_equal(sa[1].r.rc, CURLE_OK);
	assert_int_equal(sa[1].r.status, 200);
	assert_string_equal(sa[1].r.body, "not held");
	get(port, "/healthz", r);               /* nobody listens now */
	assert_int_not_equal(r->rc, CURLE_OK);
	http_server_shutdown(srv, 0);           /* twice is fine */
	http_server_free(srv);
	free(sa);
	free(r);
}

static void
test_log_file_and_bind_conflict(void **state)
{
	FILE *fp = tmpfile();
	struct http_config cfg = { .log_fp = NULL };
	struct http_server *srv, *other = NULL;
	struct reply r;
	char line[2048];
	int lines = 0;

	(void)state;
	assert_non_null(fp);
	cfg.log_fp = fp;
	srv = start_server(&cfg);
	get(http_server_port(srv), "/v1/tasks/%22q%22%0A", &r);
	assert_int_equal(r.status, 200);
	get(http_server_port(srv), "/healthz", &r);
	/* a second server on the same port cannot start */
	cfg.port = http_server_port(srv);
	cfg.log_fp = NULL;
	assert_int_equal(http_server_new(&cfg, &other, NULL, 0), 0);
	assert_int_equal(http_server_start(other), MANDATE_EIO);
	http_server_free(other);
	http_server_free(srv);
	rewind(fp);
	while (fgets(line, sizeof(line), fp) != NULL) {
		json_error_t err;
		json_t *j = json_loads(line, 0, &err);
		assert_non_null(j);     /* every line is JSON on its own */
		if (lines == 0)
			assert_string_equal(json_string_value(
			    json_object_get(j, "path")),
			    "/v1/tasks/%22q%22%0A");
		json_decref(j);
		lines++;
	}
	assert_int_equal(lines, 2);
	fclose(fp);
}

/* ---- TLS ---- */

struct pki {
	char dir[64];
	char ca[128], server_cert[128], server_key[128];
	char client_cert[128], client_key[128];
	char rogue_cert[128], rogue_key[128];
};

static EVP_PKEY *
new_key(void)
{
	return EVP_EC_gen("P-256");
}

static X509 *
new_cert(EVP_PKEY *key, const char *cn, X509 *issuer, EVP_PKEY *issuer_key,
    int is_ca, const char *san, long serial)
{
	X509 *x = X509_new();
	X509V3_CTX ctx;
	X509_EXTENSION *ext;

	assert_non_null(x);
	X509_set_version(x, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(x), serial);
	X509_gmtime_adj(X509_getm_notBefore(x), -3600);
	X509_gmtime_adj(X509_getm_notAfter(x), 3600);
	X509_set_pubkey(x, key);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(x), "CN", MBSTRING_ASC,
	    (const unsigned char *)cn, -1, -1, 0);
	X509_set_issuer_name(x, issuer != NULL ?
	    X509_get_subject_name(issuer) : X509_get_subject_name(x));
	X509V3_set_ctx(&ctx, issuer != NULL ? issuer : x, x, NULL, NULL, 0);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_basic_constraints,
	    is_ca ? "critical,CA:TRUE" : "critical,CA:FALSE");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_key_usage, is_ca ?
	    "critical,keyCertSign,cRLSign" : "critical,digitalSignature");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_key_identifier,
	    "hash");
	X509_add_ext(x, ext, -1);
	X509_EXTENSION_free(ext);
	if (san != NULL) {
		ext = X509V3_EXT_conf_nid(NULL, &ctx, NID_subject_alt_name,
		    san);
		X509_add_ext(x, ext, -1);
		X509_EXTENSION_free(ext);
	}
	assert_true(X509_sign(x, issuer_key != NULL ? issuer_key : key,
	    EVP_sha256()) > 0);
	return x;
}

static void
write_pem(const char *path, X509 *x, EVP_PKEY *k)
{
	FILE *fp = fopen(path, "w");

	assert_non_null(fp);
	if (x != NULL)
		assert_true(PEM_write_X509(fp, x));
	if (k != NULL)
		assert_true(PEM_write_PrivateKey(fp, k, NULL, NULL, 0, NULL,
		    NULL));
	fclose(fp);
	if (k != NULL)          /* a key others may read is refused */
		assert_int_equal(chmod(path, 0600), 0);
}

static void
make_pki(struct pki *p)
{
	EVP_PKEY *ca_key = new_key(), *srv_key = new_key(), *cl_key = new_key();
	EVP_PKEY *rogue_key = new_key();
	X509 *ca, *srv, *cl, *rogue;

	snprintf(p->dir, sizeof(p->dir), "/tmp/http_test_XXXXXX");
	assert_non_null(mkdtemp(p->dir));
	snprintf(p->ca, sizeof(p->ca), "%s/ca.pem", p->dir);
	snprintf(p->server_cert, sizeof(p->server_cert), "%s/srv.pem", p->dir);
	snprintf(p->server_key, sizeof(p->server_key), "%s/srv.key", p->dir);
	snprintf(p->client_cert, sizeof(p->client_cert), "%s/cl.pem", p->dir);
	snprintf(p->client_key, sizeof(p->client_key), "%s/cl.key", p->dir);
	snprintf(p->rogue_cert, sizeof(p->rogue_cert), "%s/rg.pem", p->dir);
	snprintf(p->rogue_key, sizeof(p->rogue_key), "%s/rg.key", p->dir);
	assert_non_null(ca_key);
	ca = new_cert(ca_key, "Test CA", NULL, NULL, 1, NULL, 1);
	srv = new_cert(srv_key, "localhost", ca, ca_key, 0,
	    "IP:127.0.0.1,DNS:localhost", 2);
	cl = new_cert(cl_key, "agent-one", ca, ca_key, 0,
	    "URI:spiffe://dev.local/agents/one", 3);
	rogue = new_cert(rogue_key, "rogue", NULL, NULL, 0,
	    "URI:spiffe://dev.local/agents/rogue", 4);
	write_pem(p->ca, ca, NULL);
	write_pem(p->server_cert, srv, NULL);
	write_pem(p->server_key, NULL, srv_key);
	write_pem(p->client_cert, cl, NULL);
	write_pem(p->client_key, NULL, cl_key);
	write_pem(p->rogue_cert, rogue, NULL);
	write_pem(p->rogue_key, NULL, rogue_key);
	X509_free(ca);
	X509_free(srv);
	X509_free(cl);
	X509_free(rogue);
	EVP_PKEY_free(ca_key);
	EVP_PKEY_free(srv_key);
	EVP_PKEY_free(cl_key);
	EVP_PKEY_free(rogue_key);
}

static void
remove_pki(struct pki *p)
{
	unlink(p->ca);
	unlink(p->server_cert);
	unlink(p->server_key);
	unlink(p->client_cert);
	unlink(p->client_key);
	unlink(p->rogue_cert);
	unlink(p->rogue_key);
	rmdir(p->dir);
}

static void
tls_get(uint16_t port, const char *path, const struct tls_client *tc,
    struct reply *r)
{
	char url[256];

	snprintf(url, sizeof(url), "https://127.0.0.1:%u%s", port, path);
	do_request(NULL, "GET", url, NULL, 0, NULL, tc, r);
}

static void
test_tls_and_mtls(void **state)
{
	struct pki p;
	struct http_config cfg = { 0 };
	struct http_server *srv;
	struct reply *r = malloc(sizeof(*r));
	struct tls_client anon, with_cert, rogue;
	char err[256];

	(void)state;
	assert_non_null(r);
	make_pki(&p);
	anon = (struct tls_client){ p.ca, NULL, NULL };
	with_cert = (struct tls_client){ p.ca, p.client_cert, p.client_key };
	rogue = (struct tls_client){ p.ca, p.rogue_cert, p.rogue_key };

	/* server-only TLS */
	cfg.tls_cert_file = p.server_cert;
	cfg.tls_key_file = p.server_key;
	srv = start_server(&cfg);
	tls_get(http_server_port(srv), "/certs", &anon, r);
	assert_int_equal(r->rc, CURLE_OK);
	assert_int_equal(r->status, 200);
	assert_string_equal(r->body, "{\"n\":0,\"cn\":\"\"}");
	{
		char base[64];

		snprintf(base, sizeof(base), "https://127.0.0.1:%u",
		    http_server_port(srv));
		check_repeated_header(base, &anon);
	}
	{
		/* a body and an answer of many TLS records each (16 KiB
		 * at most per record), sent and chunked */
		static const char *const octet[] = {
			"Content-Type: application/octet-stream", NULL };
		static const char *const chunked[] = {
			"Content-Type: application/octet-stream",
			"Transfer-Encoding: chunked", NULL };
		const char *const *hs[2] = { octet, chunked };
		size_t n = 60000;
		char *big = malloc(n), url[256];

		assert_non_null(big);
		for (size_t i = 0; i < n; i++)
			big[i] = (char)('a' + i % 26);
		snprintf(url, sizeof(url), "https://127.0.0.1:%u/echo",
		    http_server_port(srv));
		for (int k = 0; k < 2; k++) {
			do_request(NULL, "POST", url, big, n, hs[k], &anon, r);
			assert_int_equal(r->rc, CURLE_OK);
			assert_int_equal(r->status, 200);
			assert_int_equal(r->body_len, n);
			assert_memory_equal(r->body, big, n);
		}
		free(big);
	}
	{
		/* http_server_reload_tls: new connections get the files'
		 * certificate from then on; a pair that cannot be used
		 * changes nothing and says why */
		char fp0[65], fp1[65], fp2[65], save_c[160], save_k[160];
		int64_t na0, na1, na2;
		FILE *bad;

		assert_int_equal(http_server_tls_leaf(srv, fp0, &na0),
		    MANDATE_OK);
		assert_int_equal(strlen(fp0), 64);
		assert_true(na0 > (int64_t)time(NULL));
		assert_int_equal(http_server_reload_tls(srv), MANDATE_OK);
		assert_int_equal(http_server_tls_leaf(srv, fp1, &na1),
		    MANDATE_OK);
		assert_string_equal(fp0, fp1);
		/* the rogue's pair in place of the server's: a client that
		 * checks the server against the CA now refuses it */
		snprintf(save_c, sizeof(save_c), "%s.save", p.server_cert);
		snprintf(save_k, sizeof(save_k), "%s.save", p.server_key);
		assert_int_equal(rename(p.server_cert, save_c), 0);
		assert_int_equal(rename(p.server_key, save_k), 0);
		assert_int_equal(link(p.rogue_cert, p.server_cert), 0);
		assert_int_equal(link(p.rogue_key, p.server_key), 0);
		assert_int_equal(http_server_reload_tls(srv), MANDATE_OK);
		assert_int_equal(http_server_tls_leaf(srv, fp2, &na2),
		    MANDATE_OK);
		assert_string_not_equal(fp0, fp2);
		tls_get(http_server_port(srv), "/certs", &anon, r);
		assert_int_not_equal(r->rc, CURLE_OK);
		/* the rogue's key, but readable by others: refused, naming
		 * the mode; the rogue's pair stays */
		assert_int_equal(chmod(p.server_key, 0644), 0);
		assert_int_equal(http_server_reload_tls(srv), MANDATE_EINVAL);
		assert_non_null(strstr(http_server_error(srv),
		    "server.tls.key_file "));
		assert_non_null(strstr(http_server_error(srv), ": mode 0644: "
		    "a private key must not be readable"));
		assert_int_equal(http_server_tls_leaf(srv, fp1, &na1),
		    MANDATE_OK);
		assert_string_equal(fp1, fp2);
		/* a key that is not PEM: refused, the rogue's stays */
		assert_int_equal(unlink(p.server_key), 0);
		assert_non_null(bad = fopen(p.server_key, "w"));
		fputs("not a key\n", bad);
		fclose(bad);
		assert_int_equal(chmod(p.server_key, 0600), 0);
		assert_int_equal(http_server_reload_tls(srv), MANDATE_EINVAL);
		assert_non_null(strstr(http_server_error(srv), "server.tls"));
		assert_int_equal(http_server_tls_leaf(srv, fp1, &na1),
		    MANDATE_OK);
		assert_string_equal(fp1, fp2);
		/* a file that is gone: the same */
		assert_int_equal(unlink(p.server_key), 0);
		assert_int_not_equal(http_server_reload_tls(srv), MANDATE_OK);
		assert_non_null(strstr(http_server_error(srv), "key_file"));
		assert_int_equal(http_server_tls_leaf(srv, fp1, &na1),
		    MANDATE_OK);
		assert_string_equal(fp1, fp2);
		/* the server's own pair again */
		assert_int_equal(unlink(p.server_cert), 0);
		assert_int_equal(rename(save_c, p.server_cert), 0);
		assert_int_equal(rename(save_k, p.server_key), 0);
		assert_int_equal(http_server_reload_tls(srv), MANDATE_OK);
		tls_get(http_server_port(srv), "/certs", &anon, r);
		assert_int_equal(r->rc, CURLE_OK);
		assert_int_equal(r->status, 200);
	}
	http_server_free(srv);

	/* client auth required */
	cfg.client_ca_file = p.ca;
	cfg.client_auth = HTTP_CLIENT_AUTH_REQUIRE;
	srv = start_server(&cfg);
	tls_get(http_server_port(srv), "/certs", &anon, r);
	assert_int_not_equal(r->rc, CURLE_OK);     /* handshake refused */
	tls_get(http_server_port(srv), "/certs", &with_cert, r);
	assert_int_equal(r->rc, CURLE_OK);
	assert_int_equal(r->status, 200);
	/* leaf first; OpenSSL's client may append the CA */
	assert_true(strcmp(r->body, "{\"n\":1,\"cn\":\"agent-one\"}") == 0 ||
	    strcmp(r->body, "{\"n\":2,\"cn\":\"agent-one\"}") == 0);
	tls_get(http_server_port(srv), "/certs", &rogue, r);
	assert_true(r->rc != CURLE_OK || r->status == 403);
	http_server_free(srv);

	/* client auth optional */
	cfg.client_auth = HTTP_CLIENT_AUTH_OPTIONAL;
	srv = start_server(&cfg);
	tls_get(http_server_port(srv), "/certs", &anon, r);
	assert_int_equal(r->rc, CURLE_OK);
	assert_string_equal(r->body, "{\"n\":0,\"cn\":\"\"}");
	tls_get(http_server_port(srv), "/certs", &with_cert, r);
	assert_int_equal(r->rc, CURLE_OK);
	/* leaf first; OpenSSL's client may append the CA */
	assert_true(strcmp(r->body, "{\"n\":1,\"cn\":\"agent-one\"}") == 0 ||
	    strcmp(r->body, "{\"n\":2,\"cn\":\"agent-one\"}") == 0);
	tls_get(http_server_port(srv), "/certs", &rogue, r);
	assert_true(r->rc != CURLE_OK || r->status == 403);
	http_server_free(srv);

	/* no TLS: nothing to reload */
	{
		struct http_config plain = { 0 };
		char fp[65];
		int64_t na;
		struct http_server *ps = start_server(&plain);

		assert_int_equal(http_server_reload_tls(ps), MANDATE_EINVAL);
		assert_int_equal(http_server_tls_leaf(ps, fp, &na),
		    MANDATE_EINVAL);
		http_server_free(ps);
	}

	/* bad configurations */
	cfg.tls_key_file = NULL;
	assert_int_equal(http_server_new(&cfg, &srv, NULL, 0),
	    MANDATE_EINVAL);
	assert_null(srv);
	/* a file that cannot be read: the setting, the path and why */
	cfg.tls_key_file = "/nonexistent/key.pem";
	assert_int_equal(http_server_new(&cfg, &srv, err, sizeof(err)),
	    MANDATE_EIO);
	assert_null(srv);
	assert_string_equal(err, "server.tls.key_file /nonexistent/key.pem: "
	    "No such file or directory");
	cfg.tls_key_file = p.dir;
	assert_int_equal(http_server_new(&cfg, &srv, err, sizeof(err)),
	    MANDATE_EIO);
	assert_non_null(strstr(err, "server.tls.key_file "));
	assert_non_null(strstr(err, ": Is a directory"));
	remove_pki(&p);
	free(r);
}

/* ---- decoders and metrics, no server ---- */

static void
test_form_parser(void **state)
{
	static const struct {
		const char *in;
		int rc;
		size_t n;
		const char *dump;       /* "k=v|k=v" of the decoded pairs */
	} cases[] = {
		{ "", 0, 0, "" },
		{ "a=1", 0, 1, "a=1" },
		{ "a=1&b=2&a=3", 0, 3, "a=1|b=2|a=3" },
		{ "a=1&&b=2&", 0, 2, "a=1|b=2" },
		{ "&&&", 0, 0, "" },
		{ "flag", 0, 1, "flag=" },
		{ "a=", 0, 1, "a=" },
		{ "=v", 0, 1, "=v" },
		{ "a=b=c", 0, 1, "a=b=c" },
		{ "x+y=1+2", 0, 1, "x y=1 2" },
		{ "k=%41%62%2b%2F", 0, 1, "k=Ab+/" },
		{ "k=%e2%9c%93", 0, 1, "k=\xe2\x9c\x93" },
		{ "k=%", MANDATE_EPARSE, 0, "" },
		{ "k=%4", MANDATE_EPARSE, 0, "" },
		{ "k=%4g", MANDATE_EPARSE, 0, "" },
		{ "k=%00", MANDATE_EPARSE, 0, "" },
		{ "%zz=1", MANDATE_EPARSE, 0, "" },
	};
	char dump[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct arena a;
		struct http_form f;
		size_t o = 0;
		int rc;

		arena_init(&a, 1 << 20);
		rc = http_form_parse(&a, cases[i].in, strlen(cases[i].in), 0, 0,
		    &f);
		dump[0] = '\0';
		for (size_t k = 0; k < f.n_pairs; k++)
			o += (size_t)snprintf(dump + o, sizeof(dump) - o,
			    "%s%s=%s", k ? "|" : "", f.pairs[k].name.p,
			    f.pairs[k].value.p);
		if (rc != cases[i].rc || f.n_pairs != cases[i].n ||
		    strcmp(dump, cases[i].dump) != 0)
			fail_msg("case %zu '%s': rc %d n %zu '%s'", i,
			    cases[i].in, rc, f.n_pairs, dump);
		arena_free(&a);
	}
	/* raw NUL inside the text, limits */
	{
		struct arena a;
		struct http_form f;
		char big[HTTP_FORM_MAX_FIELD + 10];

		arena_init(&a, 1 << 20);
		assert_int_equal(http_form_parse(&a, "a=\0b", 4, 0, 0, &f),
		    MANDATE_EPARSE);
		assert_int_equal(http_form_parse(&a, "a&b&c", 5, 2, 0, &f),
		    MANDATE_ELIMIT);
		assert_int_equal(f.n_pairs, 0);
		assert_int_equal(http_form_parse(&a, "a&b", 3, 2, 0, &f), 0);
		assert_int_equal(http_form_count(&f, "a"), 1);
		assert_null(http_form_get(&f, "z").p);
		memset(big, 'x', sizeof(big));
		big[0] = 'k';
		big[1] = '=';
		assert_int_equal(http_form_parse(&a, big, sizeof(big), 0, 0,
		    &f), MANDATE_ELIMIT);
		assert_int_equal(http_form_parse(&a, "aaaa=1", 6, 0, 3, &f),
		    MANDATE_ELIMIT);
		arena_free(&a);
	}
}

static void
test_path_split(void **state)
{
	static const struct {
		const char *in;
		int rc;
		const char *dump;
	} cases[] = {
		{ "/", 0, "" },
		{ "/a", 0, "a" },
		{ "/a/b", 0, "a|b" },
		{ "/a/", 0, "a|" },
		{ "//", 0, "|" },
		{ "/a%20b/c+d", 0, "a b|c+d" },
		{ "/.well-known/jwks.json", 0, ".well-known|jwks.json" },
		{ "", MANDATE_EPARSE, "" },
		{ "a/b", MANDATE_EPARSE, "" },
		{ "/a%2fb", MANDATE_EPARSE, "" },
		{ "/a%2Fb", MANDATE_EPARSE, "" },
		{ "/a%00", MANDATE_EPARSE, "" },
		{ "/a%", MANDATE_EPARSE, "" },
		{ "/./a", MANDATE_EPARSE, "" },
		{ "/a/..", MANDATE_EPARSE, "" },
		{ "/a/%2e%2e", MANDATE_EPARSE, "" },
		/* a segment is UTF-8 text once decoded (RFC 3629): no
		 * stray, overlong or surrogate sequences */
		{ "/a/%C3%A9t%C3%A9", 0, "a|\xc3\xa9t\xc3\xa9" },
		{ "/a/%ff", MANDATE_EPARSE, "" },
		{ "/a/%C0%AE", MANDATE_EPARSE, "" },
		{ "/a/%C3", MANDATE_EPARSE, "" },
		{ "/a/%ED%A0%80", MANDATE_EPARSE, "" },
		{ "/a/%F4%90%80%80", MANDATE_EPARSE, "" },
	};
	struct str segs[HTTP_MAX_SEGMENTS];
	char dump[256];

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct arena a;
		size_t n = 0, o = 0;
		int rc;

		arena_init(&a, 1 << 20);
		rc = http_path_split(&a, cases[i].in, strlen(cases[i].in), segs,
		    HTTP_MAX_SEGMENTS, &n);
		dump[0] = '\0';
		for (size_t k = 0; k < n; k++)
			o += (size_t)snprintf(dump + o, sizeof(dump) - o,
			    "%s%.*s", k ? "|" : "", (int)segs[k].n, segs[k].p);
		if (rc != cases[i].rc || strcmp(dump, cases[i].dump) != 0)
			fail_msg("case %zu '%s': rc %d '%s'", i, cases[i].in,
			    rc, dump);
		arena_free(&a);
	}
	{
		struct arena a;
		char deep[200];
		size_t n;

		arena_init(&a, 1 << 20);
		for (size_t i = 0; i < 100; i++) {
			deep[2 * i] = '/';
			deep[2 * i + 1] = 'x';
		}
		assert_int_equal(http_path_split(&a, deep, 200, segs,
		    HTTP_MAX_SEGMENTS, &n), MANDATE_ELIMIT);
		arena_free(&a);
	}
	{
		/* a path may take the whole target: HTTP_MAX_PATH bytes in
		 * one segment are taken, one more is too long */
		struct arena a;
		char *p;
		size_t n;

		assert_non_null(p = malloc(HTTP_MAX_PATH + 1));
		p[0] = '/';
		memset(p + 1, 'x', HTTP_MAX_PATH);
		arena_init(&a, 1 << 20);
		assert_int_equal(http_path_split(&a, p, HTTP_MAX_PATH, segs,
		    HTTP_MAX_SEGMENTS, &n), MANDATE_OK);
		assert_int_equal(n, 1);
		assert_int_equal(segs[0].n, HTTP_MAX_PATH - 1);
		assert_int_equal(http_path_split(&a, p, HTTP_MAX_PATH + 1, segs,
		    HTTP_MAX_SEGMENTS, &n), MANDATE_ELIMIT);
		arena_free(&a);
		free(p);
	}
}

static void
test_metrics_text(void **state)
{
	struct http_metrics *m = http_metrics_new();
	const char *lab[] = { "kind", "result" };
	const char *v1[] = { "exchange", "ok" };
	const char *v2[] = { "a\"b\\c\nd", "err" };
	const double bounds[] = { 0.1, 1, 5 };
	struct http_metric *c, *h, *plain;
	struct http_series *s;
	char *text;
	size_t len;

	(void)state;
	assert_non_null(m);
	c = http_metrics_counter(m, "tokens_issued_total",
	    "Tokens issued.\nSecond \\ line", lab, 2);
	assert_non_null(c);
	assert_null(http_metrics_counter(m, "tokens_issued_total", "", NULL,
	    0));
	assert_null(http_metrics_counter(m, "bad-name", "", NULL, 0));
	assert_null(http_metrics_counter(m, "x", "", (const char *[]){ "le" },
	    1));
	assert_null(http_metrics_histogram(m, "y", "", NULL, 0,
	    (const double[]){ 1, 1 }, 2));
	h = http_metrics_histogram(m, "latency_seconds", "Latency.", NULL, 0,
	    bounds, 3);
	assert_non_null(h);
	plain = http_metrics_counter(m, "up_total", "Plain.", NULL, 0);
	s = http_metric_series(c, v1);
	http_series_add(s, 2);
	assert_ptr_equal(http_metric_series(c, v1), s);
	http_series_add(http_metric_series(c, v1), 1);
	assert_int_equal(http_series_value(s), 3);
	http_series_add(http_metric_series(c, v2), 1);
	http_series_observe(http_metric_series(h, NULL), 0.05);
	http_series_observe(http_metric_series(h, NULL), 0.5);
	http_series_observe(http_metric_series(h, NULL), 7);
	http_series_add(http_metric_series(plain, NULL), 5);
	http_series_add(NULL, 1);               /* ignored */
	assert_int_equal(http_metrics_render(m, &text, &len), 0);
	assert_int_equal(strlen(text), len);
	assert_string_equal(text,
	    "# HELP tokens_issued_total Tokens issued.\\nSecond \\\\ line\n"
	    "# TYPE tokens_issued_total counter\n"
	    "tokens_issued_total{kind=\"exchange\",result=\"ok\"} 3\n"
	    "tokens_issued_total{kind=\"a\\\"b\\\\c\\nd\",result=\"err\"} 1\n"
	    "# HELP latency_seconds Latency.\n"
	    "# TYPE latency_seconds histogram\n"
	    "latency_seconds_bucket{le=\"0.1\"} 1\n"
	    "latency_seconds_bucket{le=\"1\"} 2\n"
	    "latency_seconds_bucket{le=\"5\"} 2\n"
	    "latency_seconds_bucket{le=\"+Inf\"} 3\n"
	    "latency_seconds_sum 7.55\n"
	    "latency_seconds_count 3\n"
	    "# HELP up_total Plain.\n"
	    "# TYPE up_total counter\n"
	    "up_total 5\n");
	free(text);
	http_metrics_free(m);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_form_parser),
		cmocka_unit_test(test_path_split),
		cmocka_unit_test(test_metrics_text),
		cmocka_unit_test(test_routing),
		cmocka_unit_test(test_repeated_header),
		cmocka_unit_test(test_body_limit_and_content_type),
		cmocka_unit_test(test_form_endpoint),
		cmocka_unit_test(test_keepalive_and_request_id),
		cmocka_unit_test(test_held_answers),
		cmocka_unit_test(test_health_ready_metrics),
		cmocka_unit_test(test_concurrent),
		cmocka_unit_test(test_graceful_stop),
		cmocka_unit_test(test_log_file_and_bind_conflict),
		cmocka_unit_test(test_tls_and_mtls),
	};
	int r;

	curl_global_init(CURL_GLOBAL_DEFAULT);
	r = cmocka_run_group_tests(tests, NULL, NULL);
	curl_global_cleanup();
	return r;
}

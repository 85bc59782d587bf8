/*
 * http_server.c - the libmicrohttpd daemon, request lifecycle, routing,
 * TLS client certificates, built-in endpoints, access log and metrics.
 *
 * A request lives in one struct http_request_int from the first call of
 * the access handler to MHD's "completed" notification: the body is
 * collected into the request arena (413 past the limit, the handler is
 * never called), the path is decoded once by http_path_split() (MHD's own
 * unescaping is switched off so encoded '/' and NUL can be refused), the
 * route is matched, and the handler answers through http_respond().  The
 * completion callback writes the access-log line, updates the metrics and
 * frees the arena.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "server/http.h"
#include "util/file.h"
#include "util/status.h"

#define MAX_RESP_HEADERS 32
#define MAX_PEM_FILE (1u << 20)
#define MAX_PEER_CERTS 16
#define LOG_PATH_MAX 1024
#define DISCARD_MAX (4u << 20)     /* body bytes read past the limit */

struct route {
	char *method;
	char *pattern;
	char *segs[HTTP_MAX_SEGMENTS];  /* literal text or parameter name */
	unsigned char is_param[HTTP_MAX_SEGMENTS];
	size_t n_segs;
	http_handler_fn fn;
	void *arg;
};

struct ready_check {
	char *name;
	http_ready_fn fn;
	void *arg;
};

struct http_server {
	struct http_config cfg;
	char *address;
	char *cert_pem, *key_pem, *ca_pem;
	struct route *routes;
	size_t n_routes, cap_routes;
	struct ready_check *checks;
	size_t n_checks, cap_checks;
	struct MHD_Daemon *daemon;
	uint16_t port;
	_Atomic long in_flight;
	_Atomic long held;              /* requests suspended on a hold */
	_Atomic int stopping;
	struct http_metrics *metrics;
	int own_metrics;
	struct http_metric *m_requests, *m_latency;
	/* request ids: a random prefix per server and a counter (unique,
	 * not secret: one RAND_bytes per request cost ~3% of an evaluation) */
	unsigned char rid_prefix[6];
	_Atomic uint64_t rid_next;
};

struct http_request_int {
	struct http_server *srv;
	struct MHD_Connection *conn;
	struct http_request req;
	struct arena arena;
	struct timespec start;
	char *body;
	size_t body_len, body_cap;
	int too_large;
	size_t discarded;               /* body bytes dropped after 413 */
	int responded;
	/* The answer: made by http_respond, queued when the handler has
	 * returned and every hold is released (the fallback instead when
	 * one failed).  holds counts the handler itself while it runs and
	 * each unreleased hold (see http_hold). */
	struct MHD_Response *resp;
	unsigned resp_status;
	size_t resp_len;
	int in_handler;
	_Atomic unsigned holds;
	_Atomic int hold_failed;
	int suspended;
	unsigned fb_status;
	/* metric counts that wait for the answer (http_count_on_answer):
	 * each applies if its branch is the one sent */
	struct answer_count {
		struct http_series *s;
		uint64_t n;
		bool fallback;
	} counts[HTTP_ANSWER_COUNTS];
	unsigned n_counts;
	bool counted;
	const char *fb_type;
	const char *fb_body;
	size_t fb_len;
	unsigned status;
	size_t bytes;
	const char *resp_names[MAX_RESP_HEADERS];
	const char *resp_values[MAX_RESP_HEADERS];
	size_t n_resp_headers;
	char request_id[HTTP_REQUEST_ID_MAX + 1];
	char remote[INET6_ADDRSTRLEN + 1];
};

/* ---- configuration ---- */

static char *
copy_c(const char *s)
{
	size_t n;
	char *d;

	if (s == NULL)
		return NULL;
	n = strlen(s);
	if ((d = malloc(n + 1)) != NULL)
		memcpy(d, s, n + 1);
	return d;
}

static void builtin_healthz(struct http_request *req, void *arg);
static void builtin_readyz(struct http_request *req, void *arg);
static void builtin_metrics(struct http_request *req, void *arg);

static const double latency_bounds[] = {
	0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05,
	0.1, 0.25, 0.5, 1, 2.5, 5, 10,
};

int
http_server_new(const struct http_config *cfg, struct http_server **out)
{
	struct http_server *srv = NULL;
	size_t len;
	int r = MANDATE_EINTERNAL;
	static const char *const req_labels[] = { "method", "route", "status" };
	static const char *const lat_labels[] = { "route" };

	*out = NULL;
	if (cfg == NULL)
		return MANDATE_EINVAL;
	if ((cfg->tls_cert_file == NULL) != (cfg->tls_key_file == NULL))
		return MANDATE_EINVAL;
	if (cfg->client_auth != HTTP_CLIENT_AUTH_NONE &&
	    (cfg->client_ca_file == NULL || cfg->tls_cert_file == NULL))
		return MANDATE_EINVAL;
	if ((srv = calloc(1, sizeof(*srv))) == NULL)
		return MANDATE_ENOMEM;
	srv->cfg = *cfg;
	if (RAND_bytes(srv->rid_prefix, sizeof(srv->rid_prefix)) != 1) {
		free(srv);
		return MANDATE_EINTERNAL;
	}
	atomic_init(&srv->rid_next, 0);
	if (srv->cfg.threads == 0)
		srv->cfg.threads = 2;
	if (srv->cfg.max_connections == 0)
		srv->cfg.max_connections = 1000;
	if (srv->cfg.timeout_s == 0)
		srv->cfg.timeout_s = 30;
	if (srv->cfg.max_body == 0)
		srv->cfg.max_body = 1u << 20;
	if (srv->cfg.connection_memory == 0)
		srv->cfg.connection_memory = 16u << 10;
	if (srv->cfg.arena_limit == 0)
		srv->cfg.arena_limit = 8u << 20;
	if (srv->cfg.arena_limit < srv->cfg.max_body * 2 + 65536)
		srv->cfg.arena_limit = srv->cfg.max_body * 2 + 65536;
	if ((srv->address = copy_c(cfg->address != NULL ? cfg->address :
	    "127.0.0.1")) == NULL) {
		r = MANDATE_ENOMEM;
		goto out;
	}
	srv->cfg.address = srv->address;
	if (cfg->tls_cert_file != NULL) {
		if ((r = file_read_all(cfg->tls_cert_file, MAX_PEM_FILE,
		    &srv->cert_pem, &len)) != 0 ||
		    (r = file_read_all(cfg->tls_key_file, MAX_PEM_FILE,
		    &srv->key_pem, &len)) != 0)
			goto out;
		if (cfg->client_auth != HTTP_CLIENT_AUTH_NONE &&
		    (r = file_read_all(cfg->client_ca_file, MAX_PEM_FILE,
		    &srv->ca_pem, &len)) != 0)
			goto out;
	}
	srv->cfg.tls_cert_file = srv->cfg.tls_key_file = NULL;
	srv->cfg.client_ca_file = NULL;
	if (cfg->metrics != NULL) {
		srv->metrics = cfg->metrics;
	} else {
		if ((srv->metrics = http_metrics_new()) == NULL) {
			r = MANDATE_ENOMEM;
			goto out;
		}
		srv->own_metrics = 1;
	}
	srv->m_requests = http_metrics_counter(srv->metrics,
	    "http_requests_total", "HTTP requests answered.", req_labels, 3);
	srv->m_latency = http_metrics_histogram(srv->metrics,
	    "http_request_duration_seconds",
	    "Time from the first byte of a request to its completion.",
	    lat_labels, 1, latency_bounds,
	    sizeof(latency_bounds) / sizeof(latency_bounds[0]));
	if (srv->m_requests == NULL || srv->m_latency == NULL) {
		r = MANDATE_EINVAL;     /* or a registry already used */
		goto out;
	}
	if ((r = http_server_route(srv, "GET", "/healthz", builtin_healthz,
	    srv)) != 0 ||
	    (r = http_server_route(srv, "GET", "/readyz", builtin_readyz,
	    srv)) != 0 ||
	    (r = http_server_route(srv, "GET", "/metrics", builtin_metrics,
	    srv)) != 0)
		goto out;
	*out = srv;
	srv = NULL;
	r = MANDATE_OK;
out:
	http_server_free(srv);
	return r;
}

static int
valid_method(const char *m)
{
	if (m == NULL || *m == '\0' || strlen(m) > 16)
		return 0;
	for (; *m != '\0'; m++)
		if (*m < 'A' || *m > 'Z')
			return 0;
	return 1;
}

static void
route_clear(struct route *rt)
{
	free(rt->method);
	free(rt->pattern);
	for (size_t i = 0; i < rt->n_segs; i++)
		free(rt->segs[i]);
	memset(rt, 0, sizeof(*rt));
}

int
http_server_route(struct http_server *srv, const char *method,
    const char *pattern, http_handler_fn fn, void *arg)
{
	struct route rt;
	size_t i, n;

	if (srv == NULL || srv->daemon != NULL || fn == NULL ||
	    !valid_method(method) || pattern == NULL || pattern[0] != '/' ||
	    strlen(pattern) > HTTP_MAX_PATH)
		return MANDATE_EINVAL;
	memset(&rt, 0, sizeof(rt));
	rt.fn = fn;
	rt.arg = arg;
	if ((rt.method = copy_c(method)) == NULL ||
	    (rt.pattern = copy_c(pattern)) == NULL)
		goto nomem;
	n = strlen(pattern);
	i = 1;
	while (n > 1 && i <= n) {
		size_t j = i, len;
		const char *seg;
		int param = 0;
		while (j < n && pattern[j] != '/')
			j++;
		seg = pattern + i;
		len = j - i;
		if (len >= 2 && seg[0] == '{' && seg[len - 1] == '}') {
			param = 1;
			seg++;
			len -= 2;
			if (len == 0)
				goto inval;
		}
		if (memchr(seg, '{', len) || memchr(seg, '}', len) ||
		    memchr(seg, '%', len) || rt.n_segs >= HTTP_MAX_SEGMENTS)
			goto inval;
		if ((rt.segs[rt.n_segs] = malloc(len + 1)) == NULL)
			goto nomem;
		memcpy(rt.segs[rt.n_segs], seg, len);
		rt.segs[rt.n_segs][len] = '\0';
		rt.is_param[rt.n_segs++] = (unsigned char)param;
		i = j + 1;
	}
	if (srv->n_routes == srv->cap_routes) {
		size_t ncap = srv->cap_routes ? srv->cap_routes * 2 : 16;
		struct route *nr = realloc(srv->routes, ncap * sizeof(*nr));
		if (nr == NULL)
			goto nomem;
		srv->routes = nr;
		srv->cap_routes = ncap;
	}
	srv->routes[srv->n_routes++] = rt;
	return MANDATE_OK;
inval:
	route_clear(&rt);
	return MANDATE_EINVAL;
nomem:
	route_clear(&rt);
	return MANDATE_ENOMEM;
}

int
http_server_ready_check(struct http_server *srv, const char *name,
    http_ready_fn fn, void *arg)
{
	char *copy;

	if (srv == NULL || srv->daemon != NULL || fn == NULL || name == NULL)
		return MANDATE_EINVAL;
	if (srv->n_checks == srv->cap_checks) {
		size_t ncap = srv->cap_checks ? srv->cap_checks * 2 : 8;
		struct ready_check *nc = realloc(srv->checks,
		    ncap * sizeof(*nc));
		if (nc == NULL)
			return MANDATE_ENOMEM;
		srv->checks = nc;
		srv->cap_checks = ncap;
	}
	if ((copy = copy_c(name)) == NULL)
		return MANDATE_ENOMEM;
	srv->checks[srv->n_checks].name = copy;
	srv->checks[srv->n_checks].fn = fn;
	srv->checks[srv->n_checks].arg = arg;
	srv->n_checks++;
	return MANDATE_OK;
}

uint16_t
http_server_port(const struct http_server *srv)
{
	return srv != NULL ? srv->port : 0;
}

struct http_metrics *
http_server_metrics(struct http_server *srv)
{
	return srv->metrics;
}

/* ---- request helpers ---- */

struct str
http_request_param(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_params; i++)
		if (str_eq_c(req->params[i].name, name))
			return req->params[i].value;
	return STR_NULL;
}

struct str
http_request_query(const struct http_request *req, const char *name)
{
	for (size_t i = 0; i < req->n_query; i++)
		if (str_eq_c(req->query[i].name, name))
			return req->query[i].value;
	return STR_NULL;
}

const char *
http_request_header(const struct http_request *req, const char *name)
{
	return MHD_lookup_connection_value(req->priv->conn, MHD_HEADER_KIND,
	    name);
}

int
http_response_header(struct http_request *req, const char *name,
    const char *value)
{
	struct http_request_int *ri = req->priv;
	char *n, *v;

	if (ri->responded || ri->n_resp_headers >= MAX_RESP_HEADERS ||
	    name == NULL || value == NULL ||
	    strpbrk(name, "\r\n:") != NULL || strpbrk(value, "\r\n") != NULL)
		return MANDATE_EINVAL;
	if ((n = arena_cstrdup(&ri->arena, name)) == NULL ||
	    (v = arena_cstrdup(&ri->arena, value)) == NULL)
		return MANDATE_ENOMEM;
	ri->resp_names[ri->n_resp_headers] = n;
	ri->resp_values[ri->n_resp_headers++] = v;
	return MANDATE_OK;
}

/* Make an MHD response with our headers; body is in the arena (or
 * static), or NULL with len 0. */
static struct MHD_Response *
make_response(struct http_request_int *ri, const char *content_type,
    void *body, size_t len)
{
	struct MHD_Response *resp;

	/* the arena outlives the response: freed in the completion call */
	resp = MHD_create_response_from_buffer(len, body,
	    MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return NULL;
	if (content_type != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    content_type);
	MHD_add_response_header(resp, "X-Request-ID", ri->request_id);
	for (size_t i = 0; i < ri->n_resp_headers; i++)
		MHD_add_response_header(resp, ri->resp_names[i],
		    ri->resp_values[i]);
	if (atomic_load(&ri->srv->stopping))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
		    "close");
	return resp;
}

/* Apply the counts of the branch that is the answer (once). */
static void
apply_counts(struct http_request_int *ri, bool fallback)
{
	if (ri->counted)
		return;
	ri->counted = true;
	for (unsigned i = 0; i < ri->n_counts; i++)
		if (ri->counts[i].fallback == fallback)
			http_series_add(ri->counts[i].s, ri->counts[i].n);
}

int
http_count_on_answer(struct http_request *req, struct http_series *s,
    uint64_t n, bool fallback)
{
	struct http_request_int *ri = req->priv;

	if (s == NULL)
		return MANDATE_EINVAL;
	if (ri == NULL || ri->counted) {
		/* no server (unit tests), or answered already: the
		 * handler's own answer is what counts */
		if (!fallback)
			http_series_add(s, n);
		return MANDATE_OK;
	}
	for (unsigned i = 0; i < ri->n_counts; i++) {
		if (ri->counts[i].s == s && ri->counts[i].fallback ==
		    fallback) {
			ri->counts[i].n += n;
			return MANDATE_OK;
		}
	}
	if (ri->n_counts == HTTP_ANSWER_COUNTS)
		return MANDATE_ELIMIT;
	ri->counts[ri->n_counts].s = s;
	ri->counts[ri->n_counts].n = n;
	ri->counts[ri->n_counts].fallback = fallback;
	ri->n_counts++;
	return MANDATE_OK;
}

/* Queue the answer made by http_respond, or the fallback when a hold
 * failed.  Nonzero when MHD took it. */
static int
send_answer(struct http_request_int *ri)
{
	struct MHD_Response *resp = ri->resp;
	unsigned status = ri->resp_status;
	size_t len = ri->resp_len;
	enum MHD_Result q;

	ri->resp = NULL;
	apply_counts(ri, atomic_load(&ri->hold_failed) != 0);
	if (atomic_load(&ri->hold_failed)) {
		/* fail closed: what the handler said is not sent */
		if (resp != NULL)
			MHD_destroy_response(resp);
		ri->n_resp_headers = 0;
		status = ri->fb_status != 0 ? ri->fb_status : 500;
		len = ri->fb_status != 0 ? ri->fb_len : 0;
		resp = make_response(ri, ri->fb_status != 0 ? ri->fb_type :
		    NULL, (void *)(uintptr_t)ri->fb_body, len);
	}
	if (resp == NULL)
		return 0;
	q = MHD_queue_response(ri->conn, status, resp);
	MHD_destroy_response(resp);
	if (q != MHD_YES)
		return 0;
	ri->status = status;
	ri->bytes = len;
	return 1;
}

int
http_respond(struct http_request *req, unsigned status,
    const char *content_type, const void *body, size_t len)
{
	struct http_request_int *ri = req->priv;
	char *copy = NULL;

	if (ri->responded || status < 100 || status > 599 ||
	    (body == NULL && len > 0))
		return MANDATE_EINVAL;
	ri->responded = 1;
	if (len > 0) {
		if ((copy = arena_alloc(&ri->arena, len)) == NULL) {
			/* no memory for the body: an empty 500 instead */
			status = 500;
			len = 0;
			content_type = NULL;
		} else {
			memcpy(copy, body, len);
		}
	}
	ri->resp = make_response(ri, content_type, copy, len);
	if (ri->resp == NULL)
		return MANDATE_ENOMEM;
	ri->resp_status = status;
	ri->resp_len = len;
	/* inside a handler the answer waits for its end (and its holds) */
	if (!ri->in_handler && !send_answer(ri))
		return MANDATE_EIO;
	return MANDATE_OK;
}

struct http_hold *
http_hold(struct http_request *req)
{
	struct http_request_int *ri = req->priv;

	/* (a request made outside a server, as unit tests do, has no
	 * internals: it cannot be held) */
	if (ri == NULL || !ri->in_handler || ri->fb_status == 0)
		return NULL;
	/* a stopping server holds nothing new: MHD_stop_daemon() must find
	 * no suspended connection (http_server_shutdown waits for the
	 * holds taken before) */
	if (atomic_load(&ri->srv->stopping))
		return NULL;
	atomic_fetch_add(&ri->holds, 1);
	return (struct http_hold *)ri;
}

void
http_release(struct http_hold *h, bool ok)
{
	struct http_request_int *ri = (struct http_request_int *)h;
	struct MHD_Connection *conn;

	if (ri == NULL)
		return;
	if (!ok)
		atomic_store(&ri->hold_failed, 1);
	conn = ri->conn;
	/* the last reference resumes; the handler's own is dropped only
	 * after the connection was suspended (see finish_handler), and
	 * nothing of ri may be touched after the drop: the request may be
	 * answered and freed by then */
	if (atomic_fetch_sub(&ri->holds, 1) == 1)
		MHD_resume_connection(conn);
}

int
http_hold_fallback(struct http_request *req, unsigned status,
    const char *content_type, const char *body, size_t len)
{
	struct http_request_int *ri = req->priv;
	char *copy = NULL;

	if (status < 100 || status > 599 || (body == NULL && len > 0))
		return MANDATE_EINVAL;
	if (len > 0 && (copy = arena_alloc(&ri->arena, len)) == NULL)
		return MANDATE_ENOMEM;
	if (len > 0)
		memcpy(copy, body, len);
	ri->fb_status = status;
	ri->fb_type = content_type != NULL ? arena_cstrdup(&ri->arena,
	    content_type) : NULL;
	ri->fb_body = copy;
	ri->fb_len = len;
	return MANDATE_OK;
}

/* http_respond_json's first buffer. */
#define JSON_GUESS 2048

int
http_respond_json(struct http_request *req, unsigned status, json_t *j)
{
	struct http_request_int *ri = req->priv;
	size_t n;
	char *buf;
	int r;

	if (j == NULL)
		return http_respond(req, 500, NULL, NULL, 0);
	/* dump once into a guess that holds most answers; only a larger
	 * one is measured and dumped again */
	if ((buf = arena_alloc(&ri->arena, JSON_GUESS)) == NULL ||
	    (n = json_dumpb(j, buf, JSON_GUESS, JSON_COMPACT)) == 0 ||
	    (n > JSON_GUESS && ((buf = arena_alloc(&ri->arena, n)) == NULL ||
	    json_dumpb(j, buf, n, JSON_COMPACT) != n))) {
		json_decref(j);
		return http_respond(req, 500, NULL, NULL, 0);
	}
	json_decref(j);
	r = http_respond(req, status, "application/json", buf, n);
	return r;
}

int
http_respond_error(struct http_request *req, unsigned status,
    const char *code, const char *desc)
{
	json_t *j = json_object();

	if (j == NULL || json_object_set_new(j, "error",
	    json_string(code != NULL ? code : "error")) != 0 ||
	    (desc != NULL && json_object_set_new(j, "error_description",
	    json_string(desc)) != 0)) {
		json_decref(j);
		return http_respond(req, 500, NULL, NULL, 0);
	}
	http_response_header(req, "Cache-Control", "no-store");
	return http_respond_json(req, status, j);
}

int
http_require_content_type(struct http_request *req, const char *mime)
{
	const char *ct = http_request_header(req, "Content-Type");
	size_t n, mlen = strlen(mime);

	if (ct != NULL) {
		while (*ct == ' ' || *ct == '\t')
			ct++;
		n = strcspn(ct, ";");
		while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
			n--;
		if (n == mlen && strncasecmp(ct, mime, n) == 0)
			return 1;
	}
	http_respond_error(req, 415, "unsupported_media_type", mime);
	return 0;
}

/* ---- built-in endpoints ---- */

static void
builtin_healthz(struct http_request *req, void *arg)
{
	static const char ok[] = "{\"status\":\"ok\"}";

	(void)arg;
	http_respond(req, 200, "application/json", ok, sizeof(ok) - 1);
}

static void
builtin_readyz(struct http_request *req, void *arg)
{
	struct http_server *srv = arg;
	json_t *j = json_object(), *failing = json_array();
	int ready = 1;

	if (j == NULL || failing == NULL) {
		json_decref(j);
		json_decref(failing);
		http_respond(req, 503, NULL, NULL, 0);
		return;
	}
	for (size_t i = 0; i < srv->n_checks; i++) {
		if (!srv->checks[i].fn(srv->checks[i].arg)) {
			ready = 0;
			json_array_append_new(failing,
			    json_string(srv->checks[i].name));
		}
	}
	json_object_set_new(j, "status", json_string(ready ? "ready" :
	    "not_ready"));
	if (!ready)
		json_object_set_new(j, "failing", failing);
	else
		json_decref(failing);
	http_response_header(req, "Cache-Control", "no-store");
	http_respond_json(req, ready ? 200 : 503, j);
}

static void
builtin_metrics(struct http_request *req, void *arg)
{
	struct http_server *srv = arg;
	char *text = NULL;
	size_t len = 0;

	if (http_metrics_render(srv->metrics, &text, &len) != 0) {
		http_respond(req, 500, NULL, NULL, 0);
		return;
	}
	http_respond(req, 200, "text/plain; version=0.0.4; charset=utf-8",
	    text, len);
	free(text);
}

/* ---- the request lifecycle ---- */

static int
sane_request_id(const char *s)
{
	size_t n = 0;

	if (s == NULL)
		return 0;
	for (; s[n] != '\0'; n++) {
		unsigned char c = (unsigned char)s[n];
		if (n >= HTTP_REQUEST_ID_MAX)
			return 0;
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '-' || c == '_' ||
		    c == '.' || c == ':'))
			return 0;
	}
	return n > 0;
}

/* A request id: the server's random prefix, then its counter, in hex (24
 * digits).  Unique for the server's life and across restarts; ids are
 * logged and echoed, never secrets. */
static void
make_request_id(struct http_server *srv, char *out, size_t cap)
{
	unsigned char raw[12];
	uint64_t n = atomic_fetch_add_explicit(&srv->rid_next, 1,
	    memory_order_relaxed);
	static const char hex[] = "0123456789abcdef";

	memcpy(raw, srv->rid_prefix, sizeof(srv->rid_prefix));
	for (size_t i = 0; i < 6; i++)
		raw[11 - i] = (unsigned char)(n >> (8 * i));
	for (size_t i = 0; i < sizeof(raw) && 2 * i + 2 < cap; i++) {
		out[2 * i] = hex[raw[i] >> 4];
		out[2 * i + 1] = hex[raw[i] & 15];
		out[2 * i + 2] = '\0';
	}
}

static void
remote_address(struct MHD_Connection *conn, char *out, size_t cap)
{
	const union MHD_ConnectionInfo *ci;
	const struct sockaddr *sa;

	out[0] = '\0';
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
	if (ci == NULL || (sa = ci->client_addr) == NULL)
		return;
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)
		    sa)->sin_addr, out, (socklen_t)cap);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr, out, (socklen_t)cap);
}

static long long
elapsed_us(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)(now.tv_sec - start->tv_sec) * 1000000LL +
	    (now.tv_nsec - start->tv_nsec) / 1000;
}

/* Begin a request: the context, its arena and request id. */
static struct http_request_int *
request_begin(struct http_server *srv, struct MHD_Connection *conn,
    const char *method)
{
	struct http_request_int *ri = calloc(1, sizeof(*ri));
	const char *rid;

	if (ri == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &ri->start);
	ri->srv = srv;
	ri->conn = conn;
	arena_init(&ri->arena, srv->cfg.arena_limit);
	ri->req.priv = ri;
	ri->req.arena = &ri->arena;
	ri->req.method = arena_cstrdup(&ri->arena, method);
	if (ri->req.method == NULL)
		ri->req.method = "";
	rid = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    "X-Request-ID");
	if (sane_request_id(rid))
		memcpy(ri->request_id, rid, strlen(rid) + 1);
	else
		make_request_id(srv, ri->request_id,
		    sizeof(ri->request_id));
	ri->req.request_id = ri->request_id;
	remote_address(conn, ri->remote, sizeof(ri->remote));
	ri->req.remote_addr = ri->remote;
	ri->req.route = "unmatched";
	ri->req.path = STR_NULL;
	ri->req.body = str_make("", 0);
	atomic_fetch_add(&srv->in_flight, 1);
	return ri;
}

struct query_state {
	struct http_request_int *ri;
	struct http_param *pairs;
	size_t n;
	int err;
};

static enum MHD_Result
query_iter(void *cls, enum MHD_ValueKind kind, const char *key,
    const char *value)
{
	struct query_state *qs = cls;
	struct arena *a = &qs->ri->arena;
	struct http_param *p;

	(void)kind;
	if (qs->n >= HTTP_FORM_MAX_PAIRS) {
		qs->err = MANDATE_ELIMIT;
		return MHD_NO;
	}
	p = &qs->pairs[qs->n];
	if (value == NULL)
		value = "";
	if ((qs->err = http_pct_decode(a, key, strlen(key), 1, 0,
	    &p->name)) != 0 ||
	    (qs->err = http_pct_decode(a, value, strlen(value), 1, 0,
	    &p->value)) != 0)
		return MHD_NO;
	qs->n++;
	return MHD_YES;
}

/* Client certificate chain of a TLS connection into the request; a
 * presented chain must verify against the client CA bundle. */
static int
peer_certs(struct http_request_int *ri)
{
	struct http_server *srv = ri->srv;
	const union MHD_ConnectionInfo *ci;
	gnutls_session_t session;
	const gnutls_datum_t *list;
	unsigned int n = 0, status = 0;
	struct http_cert *certs;

	if (srv->cert_pem == NULL)
		return 0;
	ci = MHD_get_connection_info(ri->conn,
	    MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci == NULL || ci->tls_session == NULL)
		return -1;
	session = (gnutls_session_t)ci->tls_session;
	if (srv->cfg.client_auth == HTTP_CLIENT_AUTH_NONE)
		return 0;
	list = gnutls_certificate_get_peers(session, &n);
	if (list == NULL || n == 0)
		return srv->cfg.client_auth == HTTP_CLIENT_AUTH_REQUIRE ? -1 : 0;
	if (gnutls_certificate_verify_peers2(session, &status) < 0 ||
	    status != 0)
		return -1;
	if (n > MAX_PEER_CERTS)
		return -1;
	if ((certs = arena_calloc(&ri->arena, n, sizeof(*certs))) == NULL)
		return -1;
	for (unsigned int i = 0; i < n; i++) {
		unsigned char *der = arena_alloc(&ri->arena, list[i].size);
		if (der == NULL)
			return -1;
		memcpy(der, list[i].data, list[i].size);
		certs[i].der = der;
		certs[i].len = list[i].size;
	}
	ri->req.peer_certs = certs;
	ri->req.n_peer_certs = n;
	return 0;
}

static int
route_match(const struct route *rt, const struct str *segs, size_t n_segs)
{
	if (rt->n_segs != n_segs)
		return 0;
	for (size_t i = 0; i < n_segs; i++) {
		if (rt->is_param[i]) {
			if (segs[i].n == 0)
				return 0;
		} else if (!str_eq_c(segs[i], rt->segs[i])) {
			return 0;
		}
	}
	return 1;
}

static void
dispatch(struct http_request_int *ri, const char *url)
{
	struct http_server *srv = ri->srv;
	struct http_request *req = &ri->req;
	struct str segs[HTTP_MAX_SEGMENTS];
	size_t n_segs = 0, allow_len = 0;
	struct query_state qs;
	const struct route *found = NULL;
	char allow[256];
	int is_head = strcmp(req->method, "HEAD") == 0;
	int r;

	req->path = str_make(url, strlen(url));
	if ((r = http_path_split_opt(&ri->arena, url, req->path.n, segs,
	    HTTP_MAX_SEGMENTS, &n_segs, srv->cfg.encoded_slash)) != 0) {
		http_respond_error(req, r == MANDATE_ELIMIT ? 414 : 400,
		    "invalid_request", "bad request path");
		return;
	}
	memset(&qs, 0, sizeof(qs));
	qs.ri = ri;
	qs.pairs = arena_calloc(&ri->arena, HTTP_FORM_MAX_PAIRS,
	    sizeof(*qs.pairs));
	if (qs.pairs == NULL) {
		http_respond(req, 500, NULL, NULL, 0);
		return;
	}
	MHD_get_connection_values(ri->conn, MHD_GET_ARGUMENT_KIND, query_iter,
	    &qs);
	if (qs.err != 0) {
		http_respond_error(req, 400, "invalid_request",
		    "bad query string");
		return;
	}
	req->query = qs.pairs;
	req->n_query = qs.n;
	if (peer_certs(ri) != 0) {
		http_respond_error(req, 403, "access_denied", NULL);
		return;
	}

	allow[0] = '\0';
	for (size_t i = 0; i < srv->n_routes; i++) {
		const struct route *rt = &srv->routes[i];
		if (!route_match(rt, segs, n_segs))
			continue;
		if (strcmp(rt->method, req->method) == 0 ||
		    (is_head && strcmp(rt->method, "GET") == 0)) {
			found = rt;
			break;
		}
		if (allow_len + strlen(rt->method) + 8 < sizeof(allow)) {
			allow_len += (size_t)snprintf(allow + allow_len,
			    sizeof(allow) - allow_len, "%s%s",
			    allow_len ? ", " : "", rt->method);
			if (strcmp(rt->method, "GET") == 0)
				allow_len += (size_t)snprintf(allow + allow_len,
				    sizeof(allow) - allow_len, ", HEAD");
		}
	}
	if (found == NULL) {
		if (allow_len > 0) {
			http_response_header(req, "Allow", allow);
			http_respond_error(req, 405, "method_not_allowed",
			    NULL);
		} else {
			http_respond_error(req, 404, "not_found", NULL);
		}
		return;
	}
	req->route = found->pattern;
	{
		size_t n_params = 0;
		struct http_param *params = arena_calloc(&ri->arena,
		    HTTP_MAX_SEGMENTS, sizeof(*params));
		if (params == NULL) {
			http_respond(req, 500, NULL, NULL, 0);
			return;
		}
		for (size_t i = 0; i < n_segs; i++) {
			if (!found->is_param[i])
				continue;
			params[n_params].name = str_c(found->segs[i]);
			params[n_params++].value = segs[i];
		}
		req->params = params;
		req->n_params = n_params;
	}
	atomic_store(&ri->holds, 1);   /* the handler's own reference */
	ri->in_handler = 1;
	found->fn(req, found->arg);
	if (!ri->responded)
		http_respond_error(req, 500, "server_error", NULL);
}

/* After dispatch: send the answer, or, while holds are out, suspend the
 * connection until the last http_release resumes it (access_handler is
 * then called again and sends it). */
static enum MHD_Result
finish_handler(struct http_request_int *ri)
{
	if (!ri->in_handler)        /* answered before any handler ran */
		return ri->status != 0 ? MHD_YES : MHD_NO;
	ri->in_handler = 0;
	if (atomic_load(&ri->holds) > 1) {
		/* suspend first, then drop the handler's reference: a
		 * release that comes in between finds the connection
		 * suspended, and if ours is the last reference we resume
		 * it ourselves (the worker calls us again once we return) */
		MHD_suspend_connection(ri->conn);
		ri->suspended = 1;
		atomic_fetch_add(&ri->srv->held, 1);
		if (atomic_fetch_sub(&ri->holds, 1) == 1)
			MHD_resume_connection(ri->conn);
		return MHD_YES;
	}
	atomic_store(&ri->holds, 0);
	/* an answer MHD refused to queue leaves nothing to send: close */
	return send_answer(ri) ? MHD_YES : MHD_NO;
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_request_int *ri = *con_cls;

	(void)version;
	if (ri == NULL) {
		const char *cl;
		if ((ri = request_begin(srv, conn, method)) == NULL)
			return MHD_NO;  /* no memory: drop the connection */
		*con_cls = ri;
		cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
		    MHD_HTTP_HEADER_CONTENT_LENGTH);
		if (cl != NULL) {
			char *end;
			unsigned long long v;
			errno = 0;
			v = strtoull(cl, &end, 10);
			if (errno != 0 || end == cl || *end != '\0' ||
			    v > srv->cfg.max_body) {
				ri->too_large = 1;
				ri->req.path = str_c(url);
				if (http_respond_error(&ri->req, 413,
				    "payload_too_large", NULL) != 0)
					return MHD_NO;
				return MHD_YES;
			}
			if (v > 0) {
				ri->body = arena_alloc(&ri->arena,
				    (size_t)v + 1);
				if (ri->body == NULL)
					return MHD_NO;
				ri->body_cap = (size_t)v + 1;
			}
		}
		return MHD_YES;
	}
	if (ri->suspended) {
		/* resumed: every hold is released */
		ri->suspended = 0;
		atomic_fetch_sub(&srv->held, 1);
		return send_answer(ri) ? MHD_YES : MHD_NO;
	}
	if (ri->responded) {
		*upload_data_size = 0;  /* answered early: discard */
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		if (ri->too_large) {
			/* MHD cannot answer in the middle of a body: drop the
			 * rest and answer 413 at its end, but not forever */
			if (n > DISCARD_MAX - ri->discarded)
				return MHD_NO;
			ri->discarded += n;
			return MHD_YES;
		}
		if (n > srv->cfg.max_body - ri->body_len) {
			ri->too_large = 1;
			ri->discarded = n;
			return MHD_YES;
		}
		if (ri->body_len + n + 1 > ri->body_cap) {
			size_t ncap = ri->body_cap ? ri->body_cap : 1024;
			char *nb;
			while (ncap < ri->body_len + n + 1)
				ncap *= 2;
			if (ncap > srv->cfg.max_body + 1)
				ncap = srv->cfg.max_body + 1;
			nb = arena_realloc(&ri->arena, ri->body, ri->body_len,
			    ncap);
			if (nb == NULL)
				return MHD_NO;
			ri->body = nb;
			ri->body_cap = ncap;
		}
		memcpy(ri->body + ri->body_len, upload_data, n);
		ri->body_len += n;
		return MHD_YES;
	}
	if (ri->too_large) {
		ri->req.path = str_c(url);
		if (http_respond_error(&ri->req, 413, "payload_too_large",
		    NULL) != 0)
			return MHD_NO;
		return MHD_YES;
	}
	if (ri->body != NULL) {
		ri->body[ri->body_len] = '\0';
		ri->req.body = str_make(ri->body, ri->body_len);
	}
	dispatch(ri, url);
	return finish_handler(ri);
}

static const char *
method_label(const char *m)
{
	static const char *const known[] = { "GET", "HEAD", "POST", "PUT",
	    "DELETE", "PATCH", "OPTIONS" };

	for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
		if (strcmp(m, known[i]) == 0)
			return known[i];
	return "OTHER";
}

/* Append s as a JSON string body (no quotes), escaping everything that is
 * not printable ASCII, at most max input bytes. */
static size_t
json_escape(char *out, size_t cap, size_t o, const char *s, size_t n,
    size_t max)
{
	static const char hex[] = "0123456789abcdef";

	if (n > max)
		n = max;
	for (size_t i = 0; i < n && o + 7 < cap; i++) {
		unsigned char c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20 || c >= 0x7f) {
			out[o++] = '\\';
			out[o++] = 'u';
			out[o++] = '0';
			out[o++] = '0';
			out[o++] = hex[c >> 4];
			out[o++] = hex[c & 15];
		} else {
			out[o++] = (char)c;
		}
	}
	return o;
}

static void
access_log(struct http_request_int *ri, long long us)
{
	struct http_server *srv = ri->srv;
	char line[LOG_PATH_MAX * 6 + 512];
	char ts[40];
	struct timespec now;
	struct tm tm;
	size_t o = 0;
	int k;

	if (srv->cfg.log_fp == NULL && (srv->cfg.log_fn == NULL ||
	    (srv->cfg.log_on != NULL && !srv->cfg.log_on(srv->cfg.log_arg))))
		return;
	clock_gettime(CLOCK_REALTIME, &now);
	gmtime_r(&now.tv_sec, &tm);
	strftime(ts, sizeof(ts), "%Y-%m-%dT%H:%M:%S", &tm);
	k = snprintf(line, sizeof(line), "{\"time\":\"%s.%03ldZ\","
	    "\"request_id\":\"%s\",\"method\":\"", ts, now.tv_nsec / 1000000,
	    ri->request_id);
	if (k < 0)
		return;
	o = (size_t)k;
	o = json_escape(line, sizeof(line), o, ri->req.method,
	    strlen(ri->req.method), 32);
	o += (size_t)snprintf(line + o, sizeof(line) - o, "\",\"path\":\"");
	o = json_escape(line, sizeof(line), o, ri->req.path.p != NULL ?
	    ri->req.path.p : "", ri->req.path.n, LOG_PATH_MAX);
	k = snprintf(line + o, sizeof(line) - o, "\",\"status\":%u,"
	    "\"bytes\":%zu,\"latency_us\":%lld,\"remote\":\"%s\"}",
	    ri->status, ri->bytes, us, ri->remote);
	if (k < 0 || (size_t)k >= sizeof(line) - o)
		return;
	o += (size_t)k;
	if (srv->cfg.log_fn != NULL && (srv->cfg.log_on == NULL ||
	    srv->cfg.log_on(srv->cfg.log_arg)))
		srv->cfg.log_fn(srv->cfg.log_arg, line, o);
	if (srv->cfg.log_fp != NULL) {
		line[o] = '\n';
		flockfile(srv->cfg.log_fp);
		fwrite(line, 1, o + 1, srv->cfg.log_fp);
		fflush(srv->cfg.log_fp);
		funlockfile(srv->cfg.log_fp);
	}
}

static void
request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_request_int *ri = *con_cls;
	long long us;
	char status[8];

	(void)conn;
	if (ri == NULL)
		return;
	*con_cls = NULL;
	if (ri->resp != NULL)           /* made, never sent */
		MHD_destroy_response(ri->resp);
	if (ri->suspended)              /* resumed, but the client had gone */
		atomic_fetch_sub(&srv->held, 1);
	/* decided, though the client may not have the answer */
	apply_counts(ri, atomic_load(&ri->hold_failed) != 0);
	us = elapsed_us(&ri->start);
	if (!ri->responded || toe != MHD_REQUEST_TERMINATED_COMPLETED_OK) {
		if (!ri->responded)
			ri->status = 499;       /* client went away */
	}
	snprintf(status, sizeof(status), "%u", ri->status);
	{
		const char *labels[3] = { method_label(ri->req.method),
		    ri->req.route, status };
		const char *lat[1] = { ri->req.route };
		http_series_add(http_metric_series(srv->m_requests, labels), 1);
		http_series_observe(http_metric_series(srv->m_latency, lat),
		    (double)us / 1e6);
	}
	access_log(ri, us);
	arena_free(&ri->arena);
	free(ri);
	atomic_fetch_sub(&srv->in_flight, 1);
}

/* MHD would percent-decode the path before we see it; keep it raw so that
 * http_path_split() decides (an encoded '/' must not become a separator).
 * Query keys and values are decoded by query_iter(). */
static size_t
no_unescape(void *cls, struct MHD_Connection *conn, char *s)
{
	(void)cls;
	(void)conn;
	return strlen(s);
}

/* Before the handshake: insist on a client certificate when required. */
static void
notify_connection(void *cls, struct MHD_Connection *conn, void **socket_ctx,
    enum MHD_ConnectionNotificationCode toe)
{
	struct http_server *srv = cls;
	const union MHD_ConnectionInfo *ci;

	(void)socket_ctx;
	if (toe != MHD_CONNECTION_NOTIFY_STARTED || srv->cert_pem == NULL ||
	    srv->cfg.client_auth != HTTP_CLIENT_AUTH_REQUIRE)
		return;
	ci = MHD_get_connection_info(conn, MHD_CONNECTION_INFO_GNUTLS_SESSION);
	if (ci != NULL && ci->tls_session != NULL)
		gnutls_certificate_server_set_request(
		    (gnutls_session_t)ci->tls_session, GNUTLS_CERT_REQUIRE);
}

int
http_server_start(struct http_server *srv)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	const struct sockaddr *sa;
	struct MHD_OptionItem tls[5];
	const union MHD_DaemonInfo *di;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	    MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
	size_t nt = 0;

	if (srv == NULL || srv->daemon != NULL)
		return MANDATE_EINVAL;
	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, srv->address, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		sin.sin_port = htons(srv->cfg.port);
		sa = (const struct sockaddr *)&sin;
	} else if (inet_pton(AF_INET6, srv->address, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(srv->cfg.port);
		sa = (const struct sockaddr *)&sin6;
		flags |= MHD_USE_IPv6;
	} else {
		return MANDATE_EINVAL;
	}
	memset(tls, 0, sizeof(tls));
	if (srv->cert_pem != NULL) {
		flags |= MHD_USE_TLS;
		tls[nt++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_KEY,
		    0, srv->key_pem };
		tls[nt++] = (struct MHD_OptionItem){ MHD_OPTION_HTTPS_MEM_CERT,
		    0, srv->cert_pem };
		tls[nt++] = (struct MHD_OptionItem){
		    MHD_OPTION_HTTPS_PRIORITIES, 0,
		    (void *)(uintptr_t)
		    "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2" };
		if (srv->ca_pem != NULL)
			tls[nt++] = (struct MHD_OptionItem){
			    MHD_OPTION_HTTPS_MEM_TRUST, 0, srv->ca_pem };
	}
	tls[nt] = (struct MHD_OptionItem){ MHD_OPTION_END, 0, NULL };
	atomic_store(&srv->stopping, 0);
	srv->daemon = MHD_start_daemon(flags, srv->cfg.port, NULL, NULL,
	    access_handler, srv,
	    MHD_OPTION_SOCK_ADDR, sa,
	    MHD_OPTION_THREAD_POOL_SIZE, (unsigned int)srv->cfg.threads,
	    MHD_OPTION_CONNECTION_LIMIT, (unsigned int)srv->cfg.max_connections,
	    MHD_OPTION_PER_IP_CONNECTION_LIMIT,
	    (unsigned int)srv->cfg.max_per_ip,
	    MHD_OPTION_CONNECTION_TIMEOUT, (unsigned int)srv->cfg.timeout_s,
	    MHD_OPTION_CONNECTION_MEMORY_LIMIT, srv->cfg.connection_memory,
	    MHD_OPTION_NOTIFY_COMPLETED, request_completed, srv,
	    MHD_OPTION_NOTIFY_CONNECTION, notify_connection, srv,
	    MHD_OPTION_UNESCAPE_CALLBACK, no_unescape, srv,
	    MHD_OPTION_ARRAY, tls,
	    MHD_OPTION_END);
	if (srv->daemon == NULL)
		return MANDATE_EIO;
	di = MHD_get_daemon_info(srv->daemon, MHD_DAEMON_INFO_BIND_PORT);
	srv->port = di != NULL ? di->port : srv->cfg.port;
	return MANDATE_OK;
}

void
http_server_shutdown(struct http_server *srv, unsigned grace_ms)
{
	struct timespec start, pause = { 0, 2 * 1000 * 1000 };

	if (srv == NULL || srv->daemon == NULL)
		return;
	/* No MHD_quiesce_daemon(): with epoll workers it races with their
	 * own removal of the listening socket from their epoll sets, and
	 * libmicrohttpd aborts the process on the loser's ENOENT ("Failed
	 * to remove listen FD from epoll set", seen under ASan).  So the
	 * socket stays open until MHD_stop_daemon() closes it; meanwhile
	 * every answer says Connection: close and no answer is held. */
	atomic_store(&srv->stopping, 1);
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (atomic_load(&srv->in_flight) > 0 &&
	    elapsed_us(&start) < (long long)grace_ms * 1000)
		nanosleep(&pause, NULL);
	/* MHD must not stop with suspended connections: a hold is always
	 * released (http_hold's contract), so wait for those */
	while (atomic_load(&srv->held) > 0)
		nanosleep(&pause, NULL);
	MHD_stop_daemon(srv->daemon);
	srv->daemon = NULL;
	srv->port = 0;
}

void
http_server_free(struct http_server *srv)
{
	if (srv == NULL)
		return;
	http_server_shutdown(srv, 0);
	for (size_t i = 0; i < srv->n_routes; i++)
		route_clear(&srv->routes[i]);
	free(srv->routes);
	for (size_t i = 0; i < srv->n_checks; i++)
		free(srv->checks[i].name);
	free(srv->checks);
	if (srv->key_pem != NULL) {
		OPENSSL_cleanse(srv->key_pem, strlen(srv->key_pem));
		free(srv->key_pem);
	}
	free(srv->cert_pem);
	free(srv->ca_pem);
	free(srv->address);
	if (srv->own_metrics)
		http_metrics_free(srv->metrics);
	free(srv);
}

/*
 * http_server.c - the server's configuration, routing, answers and
 * holds, built-in endpoints, access log and metrics; the engine that owns
 * the sockets (http_native.c, plain HTTP and TLS) calls in through
 * http_int.h.
 *
 * A request lives in one struct http_request_int from the arrival of its
 * head to the end of its answer: the engine collects the body into the
 * request arena (413 past the limit, the handler is never called), the
 * path is decoded once by http_path_split() (so an encoded '/' or NUL can
 * be refused), the route is matched, and the handler answers through
 * http_respond().  http_req_end() writes the access-log line, updates the
 * metrics and frees the arena.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/rand.h>

#include "server/http.h"
#include "server/http_int.h"
#include "util/file.h"
#include "util/status.h"

#define MAX_PEM_FILE (1u << 20)
#define LOG_PATH_MAX 1024
#define LOG_TAIL_MAX 256        /* the access log's fields after the path */

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

/* Free a PEM buffer that may hold a private key. */
static void
pem_free(char *p)
{
	if (p != NULL) {
		OPENSSL_cleanse(p, strlen(p));
		free(p);
	}
}

/* The TLS files named by srv's paths (the CA bundle only with a path);
 * on error each read so far is freed and srv->error names the setting,
 * the file and why (errno's text: "No such file or directory" says more
 * than MANDATE_EIO's "input/output error"). */
static int
tls_read(struct http_server *srv, char **cert, char **key, char **ca)
{
	const char *what[3] = { "server.tls.cert_file", "server.tls.key_file",
	    "server.tls.client_ca_file" };
	const char *path[3] = { srv->cert_path, srv->key_path, srv->ca_path };
	char **into[3] = { cert, key, ca };
	size_t len;
	mode_t mode = 0;
	int r;

	*cert = *key = *ca = NULL;
	for (int i = 0; i < 3; i++) {
		if (path[i] == NULL)
			continue;
		/* the key as the token keys: refused if others may read it */
		r = into[i] == key ? file_read_secret(path[i], MAX_PEM_FILE, true,
		    into[i], &len, &mode) : file_read_all(path[i],
		    MAX_PEM_FILE, into[i], &len);
		if (r == MANDATE_EINVAL && S_ISREG(mode)) {
			snprintf(srv->error, sizeof(srv->error), "%s %s: mode "
			    "%04o: a private key must not be readable or "
			    "writable by group or others (chmod 600)",
			    what[i], path[i], (unsigned)(mode & 07777));
		} else if (r != 0) {
			snprintf(srv->error, sizeof(srv->error), "%s %s: %s",
			    what[i], path[i], r == MANDATE_EIO ?
			    strerror(errno) : r == MANDATE_ELIMIT ?
			    "larger than 1 MiB" : r == MANDATE_EINVAL ?
			    "not a regular file" : mandate_strerror(r));
		}
		if (r != 0) {
			free(*cert);
			pem_free(*key);
			*cert = *key = NULL;
			return r;
		}
	}
	return 0;
}

int
http_server_new(const struct http_config *cfg, struct http_server **out,
    char *err, size_t err_len)
{
	struct http_server *srv = NULL;
	int r = MANDATE_EINTERNAL;
	static const char *const req_labels[] = { "method", "route", "status" };
	static const char *const lat_labels[] = { "route" };

	*out = NULL;
	if (err != NULL && err_len > 0)
		err[0] = '\0';
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
		srv->cfg.max_connections = HTTP_MAX_CONNECTIONS;
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
		if ((srv->cert_path = copy_c(cfg->tls_cert_file)) == NULL ||
		    (srv->key_path = copy_c(cfg->tls_key_file)) == NULL ||
		    (cfg->client_auth != HTTP_CLIENT_AUTH_NONE &&
		    (srv->ca_path = copy_c(cfg->client_ca_file)) == NULL)) {
			r = MANDATE_ENOMEM;
			goto out;
		}
		if ((r = tls_read(srv, &srv->cert_pem, &srv->key_pem,
		    &srv->ca_pem)) != 0 || (r = native_tls_check(srv,
		    srv->cert_pem, srv->key_pem, srv->ca_pem)) != MANDATE_OK)
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
	if (srv != NULL && err != NULL && err_len > 0)
		snprintf(err, err_len, "%s", srv->error);
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

	if (srv == NULL || srv->native != NULL || fn == NULL ||
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

	if (srv == NULL || srv->native != NULL || fn == NULL || name == NULL)
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

int
http_server_reload_tls(struct http_server *srv)
{
	char *cert = NULL, *key = NULL, *ca = NULL;
	int r;

	if (srv == NULL || srv->native == NULL || srv->cert_path == NULL)
		return MANDATE_EINVAL;
	srv->error[0] = '\0';
	if ((r = tls_read(srv, &cert, &key, &ca)) != 0 ||
	    (r = native_tls_reload(srv, cert, key, ca)) != MANDATE_OK)
		goto out;
	/* in force: keep the texts (a restart of the engine uses them) */
	pem_free(srv->key_pem);
	free(srv->cert_pem);
	free(srv->ca_pem);
	srv->cert_pem = cert;
	srv->key_pem = key;
	srv->ca_pem = ca;
	cert = key = ca = NULL;
out:
	free(cert);
	pem_free(key);
	free(ca);
	return r;
}

int
http_server_tls_leaf(struct http_server *srv, char sha256_hex[65],
    int64_t *not_after)
{
	if (srv == NULL || sha256_hex == NULL || not_after == NULL)
		return MANDATE_EINVAL;
	return native_tls_leaf(srv, sha256_hex, not_after);
}

const char *
http_server_error(const struct http_server *srv)
{
	return srv != NULL ? srv->error : "";
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

struct str
http_request_query_repeated(const struct http_request *req)
{
	for (size_t i = 1; i < req->n_query; i++)
		for (size_t j = 0; j < i; j++)
			if (str_eq(req->query[i].name, req->query[j].name))
				return req->query[i].name;
	return STR_NULL;
}

const char *
http_request_header(const struct http_request *req, const char *name)
{
	const struct http_request_int *ri = req->priv;

	return ri->head != NULL ? http_head_get(ri->head, name) : NULL;
}

size_t
http_request_header_count(const struct http_request *req, const char *name)
{
	const struct http_request_int *ri = req->priv;

	return ri->head != NULL ? http_head_count(ri->head, name) : 0;
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

/* Hand the answer to the engine that owns the connection. */
static int
engine_send(struct http_request_int *ri)
{
	return native_send(ri);
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

void
http_req_answer(struct http_request_int *ri, struct http_answer *a)
{
	bool failed = atomic_load(&ri->hold_failed) != 0;

	apply_counts(ri, failed);
	if (failed) {
		/* fail closed: what the handler said is not sent */
		a->status = ri->fb_status != 0 ? ri->fb_status : 500;
		a->type = ri->fb_status != 0 ? ri->fb_type : NULL;
		a->body = ri->fb_status != 0 ? ri->fb_body : NULL;
		a->len = ri->fb_status != 0 ? ri->fb_len : 0;
		a->headers = false;
	} else {
		a->status = ri->resp_status;
		a->type = ri->resp_type;
		a->body = ri->resp_body;
		a->len = ri->resp_len;
		a->headers = true;
	}
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
	if (content_type != NULL && (content_type = arena_cstrdup(&ri->arena,
	    content_type)) == NULL) {
		status = 500;
		len = 0;
		copy = NULL;
	}
	ri->resp_status = status;
	ri->resp_type = content_type;
	ri->resp_body = copy;
	ri->resp_len = len;
	/* inside a handler the answer waits for its end (and its holds) */
	if (!ri->in_handler && !engine_send(ri))
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
	/* The request counts as held from its first hold until its engine
	 * is done waiting (srv->held), and a stopping server holds nothing
	 * new: http_server_shutdown() waits for the held ones before it
	 * stops the engine, which must not free a request still in use.  Counted
	 * before stopping is read, so that the two cannot miss each other. */
	if (!ri->took_hold) {
		atomic_fetch_add(&ri->srv->held, 1);
		if (atomic_load(&ri->srv->stopping)) {
			atomic_fetch_sub(&ri->srv->held, 1);
			return NULL;
		}
		ri->took_hold = 1;
	}
	atomic_fetch_add(&ri->holds, 1);
	return (struct http_hold *)ri;
}

void
http_release(struct http_hold *h, bool ok)
{
	struct http_request_int *ri = (struct http_request_int *)h;

	if (ri == NULL)
		return;
	if (!ok)
		atomic_store(&ri->hold_failed, 1);
	/* the last reference resumes; the handler's own is dropped only
	 * once the engine is ready for that (see its finish), and only
	 * the last one may touch ri after the drop: the request may be
	 * answered and freed by then */
	if (atomic_fetch_sub(&ri->holds, 1) == 1)
		native_resume(ri);
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

/* Has the handler already set a response header of that name? */
static bool
has_response_header(const struct http_request *req, const char *name)
{
	const struct http_request_int *ri = req->priv;

	for (size_t i = 0; i < ri->n_resp_headers; i++)
		if (strcasecmp(ri->resp_names[i], name) == 0)
			return true;
	return false;
}

int
http_respond_error(struct http_request *req, unsigned status,
    const char *code, const char *desc)
{
	json_t *j;

	/* A handler that ran out of its request's memory allowance failed
	 * because of what the request holds, not for want of memory: say
	 * so (413), not 500, whatever the handler called it. */
	if (status == 500 && req->arena != NULL && req->arena->exhausted) {
		status = 413;
		code = "payload_too_large";
		desc = "the request needs more memory to process than one "
		    "request may use (server.max_body_size sets the "
		    "allowance): send a smaller body";
	}
	j = json_object();

	if (j == NULL || json_object_set_new(j, "error",
	    json_string(code != NULL ? code : "error")) != 0 ||
	    (desc != NULL && json_object_set_new(j, "error_description",
	    json_string(desc)) != 0)) {
		json_decref(j);
		return http_respond(req, 500, NULL, NULL, 0);
	}
	if (!has_response_header(req, "Cache-Control"))
		http_response_header(req, "Cache-Control", "no-store");
	return http_respond_json(req, status, j);
}

bool
http_content_type_is(const struct http_request *req, const char *mime)
{
	const char *ct = http_request_header(req, "Content-Type");
	size_t n, mlen = strlen(mime);

	if (ct == NULL)
		return false;
	while (*ct == ' ' || *ct == '\t')
		ct++;
	n = strcspn(ct, ";");
	while (n > 0 && (ct[n - 1] == ' ' || ct[n - 1] == '\t'))
		n--;
	return n == mlen && strncasecmp(ct, mime, n) == 0;
}

int
http_require_content_type(struct http_request *req, const char *mime)
{
	if (http_content_type_is(req, mime))
		return 1;
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

/* A client's X-Request-ID is kept (and echoed, logged, recorded) when it
 * is 1 to HTTP_REQUEST_ID_MAX printable ASCII characters, spaces inside
 * it allowed: AuthZEN asks the PDP to echo the PEP's identifier, an
 * arbitrary string.  Control characters, non-ASCII bytes or a longer
 * value get an id of the server's instead. */
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
		if (c < 0x20 || c > 0x7e)
			return 0;
	}
	return n > 0 && s[0] != ' ' && s[n - 1] != ' ';
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

long long
http_elapsed_us(const struct timespec *start)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (long long)(now.tv_sec - start->tv_sec) * 1000000LL +
	    (now.tv_nsec - start->tv_nsec) / 1000;
}

void
http_addr_text(const struct sockaddr *sa, char *out, size_t cap)
{
	out[0] = '\0';
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)
		    sa)->sin_addr, out, (socklen_t)cap);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr, out, (socklen_t)cap);
}

struct http_request_int *
http_req_new(struct http_server *srv, void *conn, size_t size)
{
	struct http_request_int *ri = calloc(1, size);

	if (ri == NULL)
		return NULL;
	clock_gettime(CLOCK_MONOTONIC, &ri->start);
	ri->srv = srv;
	ri->conn = conn;
	arena_init(&ri->arena, srv->cfg.arena_limit);
	ri->req.priv = ri;
	ri->req.arena = &ri->arena;
	ri->req.method = "";
	ri->req.request_id = ri->request_id;
	ri->req.remote_addr = ri->remote;
	ri->req.route = "unmatched";
	ri->req.path = STR_NULL;
	ri->req.body = str_make("", 0);
	atomic_fetch_add(&srv->in_flight, 1);
	return ri;
}

void
http_req_ids(struct http_request_int *ri, const char *method,
    const char *request_id_header, const char *remote)
{
	const char *m;

	if (method != NULL && (m = arena_cstrdup(&ri->arena, method)) != NULL)
		ri->req.method = m;
	if (sane_request_id(request_id_header))
		memcpy(ri->request_id, request_id_header,
		    strlen(request_id_header) + 1);
	else
		make_request_id(ri->srv, ri->request_id,
		    sizeof(ri->request_id));
	if (remote != NULL && strlen(remote) < sizeof(ri->remote))
		memcpy(ri->remote, remote, strlen(remote) + 1);
}

/* Does any route take this method (HEAD where one takes GET)?  Asked
 * only when no route matched. */
static bool
method_known(const struct http_server *srv, const char *method,
    int is_head)
{
	for (size_t i = 0; i < srv->n_routes; i++)
		if (strcmp(srv->routes[i].method, method) == 0 ||
		    (is_head && strcmp(srv->routes[i].method, "GET") == 0))
			return true;
	return false;
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

void
http_req_dispatch(struct http_request_int *ri, const char *url,
    const struct http_param *query, size_t n_query, int qerr, int peer_ok)
{
	struct http_server *srv = ri->srv;
	struct http_request *req = &ri->req;
	struct str segs[HTTP_MAX_SEGMENTS];
	size_t n_segs = 0, allow_len = 0;
	const struct route *found = NULL;
	char allow[256];
	int is_head = strcmp(req->method, "HEAD") == 0;
	int r;

	req->path = str_make(url, strlen(url));
	req->app = NULL;
	if ((r = http_path_split_opt(&ri->arena, url, req->path.n, segs,
	    HTTP_MAX_SEGMENTS, &n_segs, srv->cfg.encoded_slash)) != 0) {
		http_respond_error(req, r == MANDATE_ELIMIT ? 414 : 400,
		    "invalid_request", "bad request path");
		return;
	}
	if (qerr != 0) {
		http_respond_error(req, 400, "invalid_request",
		    "bad query string");
		return;
	}
	req->query = query;
	req->n_query = n_query;
	if (!peer_ok) {
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
		if (!method_known(srv, req->method, is_head)) {
			/* a method no route has (RFC 9110 9.1: 501, where
			 * 405 is for a known one the target does not take) */
			http_respond_error(req, 501, "not_implemented",
			    "this server implements no such method");
			return;
		}
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

/* s, or what the configured scrub makes of it (into buf). */
static struct str
scrubbed(const struct http_server *srv, struct str s, char *buf, size_t cap)
{
	const char *t;

	if (srv->cfg.log_scrub == NULL || s.n == 0 ||
	    (t = srv->cfg.log_scrub(srv->cfg.log_arg, s, buf, cap)) == NULL)
		return s;
	return str_c(t);
}

static void
access_log(struct http_request_int *ri, long long us)
{
	struct http_server *srv = ri->srv;
	char line[LOG_PATH_MAX * 6 + HTTP_REQUEST_ID_MAX * 2 + 512];
	char scrub[128];
	struct str rid;
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
	    "\"request_id\":\"", ts, now.tv_nsec / 1000000);
	if (k < 0)
		return;
	o = (size_t)k;
	rid = scrubbed(srv, str_c(ri->request_id), scrub, sizeof(scrub));
	o = json_escape(line, sizeof(line), o, rid.p, rid.n,
	    HTTP_REQUEST_ID_MAX);
	o += (size_t)snprintf(line + o, sizeof(line) - o, "\",\"method\":\"");
	o = json_escape(line, sizeof(line), o, ri->req.method,
	    strlen(ri->req.method), 32);
	o += (size_t)snprintf(line + o, sizeof(line) - o, "\",\"path\":\"");
	/* the path is cut short of the fields after it: a path that filled
	 * the line would leave no room for them, and the request unlogged */
	for (size_t i = 0, n = ri->req.path.n; i < n && o < LOG_PATH_MAX * 6;) {
		/* segment by segment, each as the scrub leaves it */
		const char *p = ri->req.path.p + i;
		const char *sl = memchr(p, '/', n - i);
		size_t len = sl != NULL ? (size_t)(sl - p) : n - i;
		struct str seg = scrubbed(srv, str_make(p, len), scrub,
		    sizeof(scrub));

		o = json_escape(line, sizeof(line) - LOG_TAIL_MAX, o, seg.p,
		    seg.n, LOG_PATH_MAX);
		i += len;
		if (i < n) {
			o = json_escape(line, sizeof(line) - LOG_TAIL_MAX, o,
			    "/", 1, 1);
			i++;
		}
	}
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

void
http_req_end(struct http_request_int *ri)
{
	struct http_server *srv = ri->srv;
	long long us;
	char status[8];

	/* decided, though the client may not have the answer */
	apply_counts(ri, atomic_load(&ri->hold_failed) != 0);
	if (ri->request_id[0] == '\0')  /* ended before its head was read */
		make_request_id(srv, ri->request_id, sizeof(ri->request_id));
	us = http_elapsed_us(&ri->start);
	if (!ri->responded)
		ri->status = 499;       /* client went away */
	{
		/* the status as a label, without snprintf (every request) */
		unsigned v = ri->status, k = sizeof(status) - 1;

		status[k] = '\0';
		do {
			status[--k] = (char)('0' + v % 10);
			v /= 10;
		} while (v > 0 && k > 0);
		memmove(status, status + k, sizeof(status) - k);
	}
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

int
http_server_start(struct http_server *srv)
{
	struct sockaddr_in sin;
	struct sockaddr_in6 sin6;
	const struct sockaddr *sa;
	socklen_t salen;

	if (srv == NULL || srv->native != NULL)
		return MANDATE_EINVAL;
	memset(&sin, 0, sizeof(sin));
	memset(&sin6, 0, sizeof(sin6));
	if (inet_pton(AF_INET, srv->address, &sin.sin_addr) == 1) {
		sin.sin_family = AF_INET;
		sin.sin_port = htons(srv->cfg.port);
		sa = (const struct sockaddr *)&sin;
		salen = sizeof(sin);
	} else if (inet_pton(AF_INET6, srv->address, &sin6.sin6_addr) == 1) {
		sin6.sin6_family = AF_INET6;
		sin6.sin6_port = htons(srv->cfg.port);
		sa = (const struct sockaddr *)&sin6;
		salen = sizeof(sin6);
	} else {
		return MANDATE_EINVAL;
	}
	atomic_store(&srv->stopping, 0);
	srv->error[0] = '\0';
	/* plain HTTP and TLS alike: our own loop (TLS through GnuTLS) */
	return native_start(srv, sa, salen);
}

void
http_server_shutdown(struct http_server *srv, unsigned grace_ms)
{
	struct timespec start, pause = { 0, 2 * 1000 * 1000 };

	if (srv == NULL || srv->native == NULL)
		return;
	/* from here every answer says Connection: close and no answer is
	 * held; the listening socket stays open until the engine stops, so
	 * a request sent meanwhile is still answered */
	atomic_store(&srv->stopping, 1);
	clock_gettime(CLOCK_MONOTONIC, &start);
	while (atomic_load(&srv->in_flight) > 0 &&
	    http_elapsed_us(&start) < (long long)grace_ms * 1000)
		nanosleep(&pause, NULL);
	/* a held request is still in use by whoever holds it: a hold is
	 * always released (http_hold's contract), so wait for those */
	while (atomic_load(&srv->held) > 0)
		nanosleep(&pause, NULL);
	native_stop(srv);
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
	pem_free(srv->key_pem);
	free(srv->cert_pem);
	free(srv->ca_pem);
	free(srv->cert_path);
	free(srv->key_path);
	free(srv->ca_path);
	free(srv->address);
	if (srv->own_metrics)
		http_metrics_free(srv->metrics);
	free(srv);
}

/*
 * http.h - the daemon's HTTP server layer: HTTP/1.1 on its own epoll loop
 * (http_native.c), plain or over TLS (GnuTLS).
 *
 * One struct http_server listens on one address, runs a pool of worker
 * threads, routes "METHOD /path/{param}" to handlers, collects bodies up
 * to a limit, gives each request an arena and a request id, answers the
 * built-in /healthz, /readyz and /metrics, writes one JSON access-log
 * line per request and counts requests in a Prometheus registry.
 *
 * Lifecycle: http_server_new() -> http_server_route() /
 * http_server_ready_check() (all before start; the tables are immutable
 * afterwards) -> http_server_start() -> ... -> http_server_shutdown()
 * -> http_server_free().
 *
 * Threads: handlers run on the pool's threads, several at once, so
 * anything a handler shares must be thread-safe.  A struct http_request
 * belongs to one thread for its whole life.  The metrics registry is
 * thread-safe (atomic updates; series creation takes a lock once).
 *
 * SIGTERM: http_server_shutdown() is not async-signal-safe.  The pattern
 * is: the signal handler only writes one byte to a self-pipe (or sets a
 * volatile sig_atomic_t flag); the main thread, blocked in read()/poll()
 * on that pipe, then calls http_server_shutdown(srv, grace_ms), which
 * stops accepting, lets requests in flight finish within grace_ms and
 * stops the threads.
 *
 * Errors: functions return enum mandate_status (src/util/status.h).
 * Every error path of a request answers with an error status (fail
 * closed); a handler that returns without responding gets a 500.
 */
#ifndef MANDATE_HTTP_H
#define MANDATE_HTTP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include <jansson.h>

#include "util/arena.h"
#include "util/str.h"

/* Limits of the request parsers. */
#define HTTP_MAX_PARAMS 16          /* path parameters per route */
#define HTTP_MAX_SEGMENTS 32        /* path segments */
/* Raw path bytes: the whole request target (path and query) may be
 * path.  An id carried as one path segment may need three bytes per byte
 * once percent-encoded (the daemon's kill switch names agent ids of up
 * to 2048 bytes, a SPIFFE ID's every '/' as %2F), so the path may not be
 * held to less than the target. */
#define HTTP_MAX_PATH 8192
#define HTTP_REQUEST_ID_MAX 256     /* accepted X-Request-ID length */
#define HTTP_FORM_MAX_PAIRS 64      /* default form / query pair limit */
#define HTTP_FORM_MAX_FIELD 8192    /* default bytes per key or value */
#define HTTP_MAX_CONNECTIONS 1000   /* default http_config.max_connections */

enum http_client_auth {
	HTTP_CLIENT_AUTH_NONE = 0,      /* no client certificate requested */
	HTTP_CLIENT_AUTH_OPTIONAL = 1,  /* requested; verified if presented */
	HTTP_CLIENT_AUTH_REQUIRE = 2,   /* handshake fails without one */
};

struct http_request;
struct http_server;
struct http_metrics;

/* A handler must answer with one of the http_respond*() functions. */
typedef void (*http_handler_fn)(struct http_request *req, void *arg);

/* A readiness check: nonzero when ready.  Called from worker threads. */
typedef int (*http_ready_fn)(void *arg);

/* Receives each access-log line (JSON, no newline); called from worker
 * threads, concurrently. */
typedef void (*http_log_fn)(void *arg, const char *line, size_t len);

struct http_config {
	const char *address;        /* IPv4/IPv6 literal; NULL = 127.0.0.1 */
	uint16_t port;              /* 0 = ephemeral, see http_server_port() */
	unsigned threads;           /* worker pool size; 0 = 2 */
	unsigned max_connections;   /* 0 = HTTP_MAX_CONNECTIONS */
	unsigned max_per_ip;        /* 0 = no per-IP limit */
	unsigned timeout_s;         /* idle connection timeout; 0 = 30 */
	size_t max_body;            /* request body limit; 0 = 1 MiB */
	/* Memory per connection for the request line and the headers (the
	 * read buffer); a request whose head does not fit is answered 431.
	 * 0 = 16 KiB. */
	size_t connection_memory;
	size_t arena_limit;         /* per-request arena limit; 0 = 8 MiB */

	/* TLS: both PEM files, or neither for plain HTTP. */
	const char *tls_cert_file;  /* certificate chain, leaf first */
	const char *tls_key_file;
	const char *client_ca_file; /* PEM bundle; needed for client auth */
	enum http_client_auth client_auth;

	/* Access log: one JSON line per request to log_fp (whole lines,
	 * fflush'd) and/or log_fn.  Both NULL = no access log.  log_on,
	 * when set, is asked per request whether log_fn wants the line at
	 * all (a level that drops it: the line is not built). */
	FILE *log_fp;
	http_log_fn log_fn;
	bool (*log_on)(void *arg);
	void *log_arg;
	/* When set, asked about the request id and each segment of the
	 * path before they are logged: a replacement written to buf (NUL-
	 * terminated, at most cap bytes) and returned, or NULL to log the
	 * text as it is (the daemon hides what looks like a secret). */
	const char *(*log_scrub)(void *arg, struct str s, char *buf,
	    size_t cap);

	/* Metrics registry for the built-in request metrics and /metrics;
	 * NULL = the server makes its own (http_server_metrics()).  Borrowed:
	 * must outlive the server. */
	struct http_metrics *metrics;

	/* Nonzero: an encoded '/' (%2F) in the path is decoded inside its
	 * segment, so a {param} may hold a '/'; 0 (default): refused, 400. */
	int encoded_slash;
};

/* Create a server (not yet listening); reads the TLS files and checks
 * that they make usable credentials (the key the leaf's, the leaf valid
 * now, a CA in the bundle).  *out is NULL on error; MANDATE_EIO for
 * unreadable files, MANDATE_EINVAL for a bad configuration or files that
 * cannot be used.  err (may be NULL) gets a sentence naming the setting,
 * the file and the reason when a TLS file is the cause, else "". */
int http_server_new(const struct http_config *cfg, struct http_server **out,
    char *err, size_t err_len);

/* Register a route before start.  method: "GET", "POST", ... (GET routes
 * also answer HEAD).  pattern: "/v1/tasks/{id}/end"; a {name} segment
 * matches one non-empty decoded segment.  Patterns and names are copied.
 * A path that matches no pattern gets 404; one that matches only with
 * other methods gets 405 with Allow. */
int http_server_route(struct http_server *srv, const char *method,
    const char *pattern, http_handler_fn fn, void *arg);

/* Register a readiness check (name is copied) for /readyz. */
int http_server_ready_check(struct http_server *srv, const char *name,
    http_ready_fn fn, void *arg);

/* Start listening and serving.  MANDATE_EIO if the address cannot be
 * bound, MANDATE_EINVAL if the TLS certificate, key or client CA bundle
 * cannot be used (checked already by http_server_new(); only a leaf that
 * expired in between); http_server_error() then says why. */
int http_server_start(struct http_server *srv);

/* Why the last http_server_start() or http_server_reload_tls() failed,
 * in a sentence ("" if it did not, or nothing more is known). */
const char *http_server_error(const struct http_server *srv);

/* TLS, once started: read the certificate chain, the key and the client
 * CA bundle again from their files and use them for the connections
 * that come from now on (those open keep theirs, and the old ones are
 * freed with the last of them).  MANDATE_EINVAL when the server does not
 * speak TLS or is not started, or when the files cannot be used (as for
 * http_server_new(): a leaf that expired or is not valid yet too), and
 * the file's error when one cannot be read: then the ones in force stay,
 * and http_server_error() says why.  Not to be called from two threads
 * at once. */
int http_server_reload_tls(struct http_server *srv);

/* TLS: the SHA-256 (lowercase hex) of the leaf certificate in force, and
 * its notAfter (Unix seconds).  MANDATE_EINVAL without TLS. */
int http_server_tls_leaf(struct http_server *srv, char sha256_hex[65],
    int64_t *not_after);

/* The bound port (useful with port 0); 0 before start. */
uint16_t http_server_port(const struct http_server *srv);

/* The registry used for the built-in metrics (never NULL). */
struct http_metrics *http_server_metrics(struct http_server *srv);

/* Graceful stop: stop accepting, wait up to grace_ms for requests in
 * flight to complete, then close every connection and join the threads.
 * Safe to call twice or on a server never started.  Not for signal
 * handlers (see the top of this file). */
void http_server_shutdown(struct http_server *srv, unsigned grace_ms);

/* Shut down (with no grace) if needed and free.  NULL is fine. */
void http_server_free(struct http_server *srv);

/* ---- requests ---- */

struct http_param {
	struct str name;
	struct str value;           /* percent-decoded, NUL-terminated */
};

/* A DER certificate of the peer; chains are leaf first. */
struct http_cert {
	const unsigned char *der;
	size_t len;
};

/* One request, valid until the handler returns, or while it has holds
 * until the last is released (everything in it lives in the request
 * arena, freed after the response has been sent). */
struct http_request {
	const char *method;             /* as received, e.g. "HEAD" */
	struct str path;                /* raw path as received, no query */
	const char *route;              /* the matched pattern */
	const struct http_param *params;   /* path parameters */
	size_t n_params;
	const struct http_param *query; /* decoded query pairs, in order */
	size_t n_query;
	struct str body;                /* NUL-terminated; n <= max_body */
	const char *request_id;         /* echoed as X-Request-ID */
	const char *remote_addr;        /* "127.0.0.1", "::1"; "" if unknown */
	const struct http_cert *peer_certs;  /* TLS client chain or NULL */
	size_t n_peer_certs;
	struct arena *arena;            /* per-request arena */
	struct http_request_int *priv;  /* server internals */
	void *app;                      /* the application's, for this
					 * request (NULL when its handler
					 * starts; in the arena, or owned
					 * elsewhere) */
};

/* Path parameter by name; STR_NULL if absent. */
struct str http_request_param(const struct http_request *req,
    const char *name);

/* First query value by name (decoded); STR_NULL if absent. */
struct str http_request_query(const struct http_request *req,
    const char *name);

/* The name of the first query parameter that is given more than once,
 * or STR_NULL: a handler for which one value is meant asks, rather than
 * take the first of several silently. */
struct str http_request_query_repeated(const struct http_request *req);

/* Header value, case-insensitive name; NULL if absent.  Borrowed.  When
 * the field is repeated this is its first line: a handler for which a
 * repeated field means something else (RFC 9449: one DPoP proof; one
 * Authorization) asks http_request_header_count() first. */
const char *http_request_header(const struct http_request *req,
    const char *name);

/* How many field lines of that name (case-insensitive) the request has,
 * plain or over TLS; 0 if absent. */
size_t http_request_header_count(const struct http_request *req,
    const char *name);

/* Answer: status, optional content type, body (copied into the arena;
 * may be NULL with len 0).  Only the first answer counts; later calls
 * return MANDATE_EINVAL. */
int http_respond(struct http_request *req, unsigned status,
    const char *content_type, const void *body, size_t len);

/* Answer with JSON; takes the reference to j (NULL answers 500). */
int http_respond_json(struct http_request *req, unsigned status, json_t *j);

/* Answer {"error": code[, "error_description": desc]} (desc may be
 * NULL): the OAuth error shape, used by the built-in errors too.  Adds
 * Cache-Control: no-store unless the handler set a Cache-Control. */
int http_respond_error(struct http_request *req, unsigned status,
    const char *code, const char *desc);

/*
 * Holding an answer until work on another thread is done (a durable
 * group commit): http_hold() takes a hold on the request; the handler
 * then answers as usual, but the answer is sent only when it has
 * returned and every hold is released, and the worker thread serves
 * other connections meanwhile (the connection is suspended).  Each hold
 * must be released exactly once, with http_release(h, ok), from any
 * thread, at any time (even before the handler returns); nothing of the
 * request may be used after releasing the last hold.  When any hold is
 * released with ok false, the handler's answer is dropped (with its
 * extra headers) and the fallback is sent instead: fail closed.
 * http_hold() answers NULL outside a handler, before the handler set its
 * fallback answer (http_hold_fallback, copied), or once the server is
 * stopping: take no hold then (do the work before answering).
 * Shutdown waits for every hold to be released.
 */
struct http_hold;
struct http_hold *http_hold(struct http_request *req);
void http_release(struct http_hold *h, bool ok);
int http_hold_fallback(struct http_request *req, unsigned status,
    const char *content_type, const char *body, size_t len);

/*
 * Count n on a metric series when the request is answered: with fallback
 * false if the handler's answer is what is sent, with fallback true if
 * the fallback of a failed hold is.  So a held permit that became the
 * fallback deny is counted as a deny.  Counts for the same series and
 * branch add up; at most HTTP_ANSWER_COUNTS different ones per request
 * (MANDATE_ELIMIT: count it yourself).  Outside a server, or once the
 * answer is sent, a handler's count applies at once.
 */
#define HTTP_ANSWER_COUNTS 8
struct http_series;
int http_count_on_answer(struct http_request *req, struct http_series *s,
    uint64_t n, bool fallback);

/* Add a response header before answering (copied; at most 32). */
int http_response_header(struct http_request *req, const char *name,
    const char *value);

/* Content-type check: 1 when the request's media type (parameters
 * ignored, case-insensitive) is `mime`; otherwise answers 415 and
 * returns 0. */
int http_require_content_type(struct http_request *req, const char *mime);

/* The same test without answering: true when the media type is mime. */
bool http_content_type_is(const struct http_request *req, const char *mime);

/* ---- form-urlencoded bodies and percent-decoding ---- */

struct http_form {
	struct http_param *pairs;   /* in order; repeated keys kept */
	size_t n_pairs;
};

/* Parse application/x-www-form-urlencoded text into pairs allocated
 * from a.  '+' is a space; '%' must be followed by two hex digits;
 * decoded NUL bytes are refused; empty "&&" pieces are skipped; a piece
 * without '=' has an empty value.  max_pairs / max_field of 0 take the
 * defaults above.  MANDATE_EPARSE on bad encoding, MANDATE_ELIMIT past
 * a limit, MANDATE_ENOMEM; *form is empty on error. */
int http_form_parse(struct arena *a, const char *p, size_t n,
    size_t max_pairs, size_t max_field, struct http_form *form);

/* First value for key, and how many times key occurs. */
struct str http_form_get(const struct http_form *form, const char *key);
size_t http_form_count(const struct http_form *form, const char *key);

/* Strict percent-decoding of p[0..n) into a NUL-terminated arena copy.
 * plus_space: '+' decodes to ' '.  Refuses bad escapes and NUL bytes,
 * and with no_slash also an encoded '/' (MANDATE_EPARSE). */
int http_pct_decode(struct arena *a, const char *p, size_t n,
    int plus_space, int no_slash, struct str *out);

/* Split a raw absolute path into decoded segments ("/a/b%20c" -> "a",
 * "b c").  Refuses: no leading '/', bad escapes, NUL, encoded '/', "."
 * or ".." segments, a segment that does not decode to UTF-8 (RFC 3629),
 * more than HTTP_MAX_SEGMENTS or HTTP_MAX_PATH bytes.  The raw path is
 * ASCII (the request line allows nothing else). */
int http_path_split(struct arena *a, const char *p, size_t n,
    struct str *segs, size_t max_segs, size_t *n_segs);

/* The same; with encoded_slash, "%2F" decodes to a '/' inside its
 * segment (it never splits one): for ids such as SPIFFE IDs in a path. */
int http_path_split_opt(struct arena *a, const char *p, size_t n,
    struct str *segs, size_t max_segs, size_t *n_segs, int encoded_slash);

/* ---- metrics (Prometheus text format 0.0.4) ---- */

struct http_metric;             /* a family: name, help, label names */
struct http_series;             /* one label-value set of a family */

#define HTTP_METRIC_MAX_LABELS 8
#define HTTP_METRIC_MAX_SERIES 2000    /* per family; past it: NULL */
#define HTTP_METRIC_MAX_BUCKETS 32

struct http_metrics *http_metrics_new(void);
void http_metrics_free(struct http_metrics *m);

/* Register a counter or histogram family (strings copied).  Names must
 * match [a-zA-Z_:][a-zA-Z0-9_:]*, labels [a-zA-Z_][a-zA-Z0-9_]*; a
 * histogram's bounds strictly increase (+Inf is implicit).  NULL on a
 * bad argument, a duplicate name or no memory. */
struct http_metric *http_metrics_counter(struct http_metrics *m,
    const char *name, const char *help, const char *const *labels,
    size_t n_labels);
struct http_metric *http_metrics_histogram(struct http_metrics *m,
    const char *name, const char *help, const char *const *labels,
    size_t n_labels, const double *bounds, size_t n_bounds);

/* The series for these label values (n_labels strings; NULL for a
 * family without labels), created on first use; pointers stay valid
 * until http_metrics_free().  NULL past HTTP_METRIC_MAX_SERIES or on
 * no memory (the update is then simply dropped by the helpers below). */
struct http_series *http_metric_series(struct http_metric *f,
    const char *const *values);

/* Lock-free updates; NULL series are ignored. */
void http_series_add(struct http_series *s, uint64_t n);
void http_series_observe(struct http_series *s, double v);

/* Counter value / histogram count, for tests. */
uint64_t http_series_value(const struct http_series *s);

/* The whole registry as Prometheus text into a malloc'd buffer (caller
 * frees *out).  MANDATE_ENOMEM on failure. */
int http_metrics_render(struct http_metrics *m, char **out, size_t *len);

#endif

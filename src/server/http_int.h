/*
 * http_int.h - inside the HTTP server layer: what http_server.c (routing,
 * answers, holds, access log, metrics) shares with the engine, which owns
 * the sockets and speaks HTTP/1.1:
 *
 *   http_native.c  our own epoll loop per worker thread, for plain HTTP
 *                  and for TLS (and mTLS) through GnuTLS
 *
 * Not for use outside src/server.
 *
 * A request's life in the engine: http_req_new() when its head has
 * arrived, http_req_ids() once the method and headers are known,
 * http_req_dispatch() when the body is complete (routes and runs the
 * handler); then the engine sends what http_req_answer() gives, either
 * right away (engine_send) or when the last hold is released
 * (engine_resume), and calls http_req_end() once the answer is written or
 * the connection is gone.
 */
#ifndef MANDATE_HTTP_INT_H
#define MANDATE_HTTP_INT_H

#include <netinet/in.h>
#include <pthread.h>
#include <sys/socket.h>
#include <stdatomic.h>
#include <time.h>

#include "server/http.h"
#include "server/http_parse.h"

#define MAX_RESP_HEADERS 32

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

struct native;                  /* http_native.c */

struct http_server {
	struct http_config cfg;
	char *address;
	char *cert_pem, *key_pem, *ca_pem;
	/* their files, read again by http_server_reload_tls() */
	char *cert_path, *key_path, *ca_path;
	struct route *routes;
	size_t n_routes, cap_routes;
	struct ready_check *checks;
	size_t n_checks, cap_checks;
	struct native *native;          /* the engine, once started */
	uint16_t port;
	char error[256];                /* http_server_error() */
	_Atomic long in_flight;
	_Atomic long held;              /* requests that took a hold and
					 * are not answered yet */
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
	void *conn;                     /* the engine's connection */
	const struct http_head *head;   /* native: the parsed head */
	struct http_request req;
	struct arena arena;
	struct timespec start;
	int responded;
	/* The answer: set by http_respond, sent when the handler has
	 * returned and every hold is released (the fallback instead when
	 * one failed).  holds counts the handler itself while it runs and
	 * each unreleased hold (see http_hold). */
	unsigned resp_status;
	const char *resp_type;
	const void *resp_body;
	size_t resp_len;
	int in_handler;
	_Atomic unsigned holds;
	_Atomic int hold_failed;
	int suspended;
	int took_hold;                  /* counted in srv->held */
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
	unsigned status;                /* sent, for the log and metrics */
	size_t bytes;
	const char *resp_names[MAX_RESP_HEADERS];
	const char *resp_values[MAX_RESP_HEADERS];
	size_t n_resp_headers;
	char request_id[HTTP_REQUEST_ID_MAX + 1];
	char remote[INET6_ADDRSTRLEN + 1];
};

/* What to send: the handler's answer, or the fallback of a failed hold
 * (then without the handler's extra headers). */
struct http_answer {
	unsigned status;
	const char *type;               /* NULL: no Content-Type */
	const void *body;
	size_t len;
	bool headers;                   /* send ri->resp_names/values */
};

/* ---- http_server.c, for the engines ---- */

/* size: of the engine's struct, which starts with a http_request_int */
struct http_request_int *http_req_new(struct http_server *srv, void *conn,
    size_t size);
void http_req_ids(struct http_request_int *ri, const char *method,
    const char *request_id_header, const char *remote);
/* Route and run the handler.  query: decoded pairs (qerr nonzero: the
 * query string was bad: 400); peer_ok 0: a TLS client chain that does
 * not verify (403). */
void http_req_dispatch(struct http_request_int *ri, const char *path,
    const struct http_param *query, size_t n_query, int qerr, int peer_ok);
/* The answer to send, once; applies the metric counts of its branch. */
void http_req_answer(struct http_request_int *ri, struct http_answer *a);
/* Written (status, bytes) or abandoned: log, count and free. */
void http_req_end(struct http_request_int *ri);
long long http_elapsed_us(const struct timespec *start);
/* A peer's address as text ("127.0.0.1", "::1"); "" if not IP. */
void http_addr_text(const struct sockaddr *sa, char *out, size_t cap);

/* ---- the engines, for http_server.c ---- */

int native_start(struct http_server *srv, const struct sockaddr *sa,
    socklen_t salen);
void native_stop(struct http_server *srv);
int native_send(struct http_request_int *ri);
void native_resume(struct http_request_int *ri);
/* TLS: new credentials for new connections (see http_server_reload_tls);
 * the leaf certificate in use (see http_server_tls_leaf). */
int native_tls_reload(struct http_server *srv, const char *cert_pem,
    const char *key_pem, const char *ca_pem);
int native_tls_leaf(struct http_server *srv, char sha256_hex[65],
    int64_t *not_after);
/* TLS: would these make usable credentials (a key that goes with the
 * leaf, a leaf valid now, a CA bundle with a certificate)?  Without a
 * running engine, so that http_server_new() can refuse them; on error
 * srv->error says why. */
int native_tls_check(struct http_server *srv, const char *cert_pem,
    const char *key_pem, const char *ca_pem);

#endif

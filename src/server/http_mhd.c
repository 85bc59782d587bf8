/*
 * http_mhd.c - the TLS engine: libmicrohttpd with GnuTLS, its epoll
 * thread pool, TLS client certificates.
 *
 * A request lives in one struct http_request_int from the first call of
 * the access handler to MHD's "completed" notification: the body is
 * collected into the request arena (413 past the limit, the handler is
 * never called), the path is kept raw (MHD's own unescaping is switched
 * off so that http_path_split() can refuse an encoded '/' or NUL), and
 * http_req_dispatch() routes it.  A held answer suspends the connection;
 * the last release resumes it, and the access handler, called again,
 * queues the answer.  The completion callback ends the request.
 */
#include <errno.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#include <gnutls/gnutls.h>
#include <microhttpd.h>

#include "server/http_int.h"
#include "util/status.h"

#define MAX_PEER_CERTS 16
#define DISCARD_MAX (4u << 20)     /* body bytes read past the limit */

/* Per request, beside the shared part: the body being collected. */
struct mhd_body {
	char *body;
	size_t len, cap;
	int too_large;
	size_t discarded;               /* body bytes dropped after 413 */
};

struct mhd_req {
	struct http_request_int ri;
	struct mhd_body b;
};

const char *
mhd_header(const struct http_request_int *ri, const char *name)
{
	return MHD_lookup_connection_value(ri->conn, MHD_HEADER_KIND, name);
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
	http_addr_text(sa, out, cap);
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

static void
dispatch(struct http_request_int *ri, const char *url)
{
	struct query_state qs;

	memset(&qs, 0, sizeof(qs));
	qs.ri = ri;
	qs.pairs = arena_calloc(&ri->arena, HTTP_FORM_MAX_PAIRS,
	    sizeof(*qs.pairs));
	if (qs.pairs == NULL) {
		http_respond(&ri->req, 500, NULL, NULL, 0);
		return;
	}
	MHD_get_connection_values(ri->conn, MHD_GET_ARGUMENT_KIND, query_iter,
	    &qs);
	http_req_dispatch(ri, url, qs.pairs, qs.n, qs.err,
	    peer_certs(ri) == 0);
}

int
mhd_send(struct http_request_int *ri)
{
	struct http_answer a;
	struct MHD_Response *resp;
	enum MHD_Result q;

	http_req_answer(ri, &a);
	/* the arena outlives the response: freed in the completion call */
	resp = MHD_create_response_from_buffer(a.len, (void *)(uintptr_t)
	    a.body, MHD_RESPMEM_PERSISTENT);
	if (resp == NULL)
		return 0;
	if (a.type != NULL)
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONTENT_TYPE,
		    a.type);
	MHD_add_response_header(resp, "X-Request-ID", ri->request_id);
	for (size_t i = 0; a.headers && i < ri->n_resp_headers; i++)
		MHD_add_response_header(resp, ri->resp_names[i],
		    ri->resp_values[i]);
	if (atomic_load(&ri->srv->stopping))
		MHD_add_response_header(resp, MHD_HTTP_HEADER_CONNECTION,
		    "close");
	q = MHD_queue_response(ri->conn, a.status, resp);
	MHD_destroy_response(resp);
	if (q != MHD_YES)
		return 0;
	ri->status = a.status;
	ri->bytes = a.len;
	return 1;
}

void
mhd_resume(struct http_request_int *ri)
{
	MHD_resume_connection(ri->conn);
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
		if (atomic_fetch_sub(&ri->holds, 1) == 1)
			MHD_resume_connection(ri->conn);
		return MHD_YES;
	}
	atomic_store(&ri->holds, 0);
	if (ri->took_hold)              /* all released in the handler */
		atomic_fetch_sub(&ri->srv->held, 1);
	/* an answer MHD refused to queue leaves nothing to send: close */
	return mhd_send(ri) ? MHD_YES : MHD_NO;
}

/* The first call for a request: its context, and the body's room when
 * Content-Length says how much (413 at once past the limit). */
static enum MHD_Result
request_first(struct http_server *srv, struct MHD_Connection *conn,
    const char *url, const char *method, void **con_cls)
{
	struct mhd_req *mr;
	struct http_request_int *ri;
	const char *cl;
	char remote[INET6_ADDRSTRLEN + 1];

	if ((ri = http_req_new(srv, conn, sizeof(*mr))) == NULL)
		return MHD_NO;  /* no memory: drop the connection */
	mr = (struct mhd_req *)ri;
	*con_cls = ri;
	remote_address(conn, remote, sizeof(remote));
	http_req_ids(ri, method, MHD_lookup_connection_value(conn,
	    MHD_HEADER_KIND, "X-Request-ID"), remote);
	cl = MHD_lookup_connection_value(conn, MHD_HEADER_KIND,
	    MHD_HTTP_HEADER_CONTENT_LENGTH);
	if (cl != NULL) {
		char *end;
		unsigned long long v;
		errno = 0;
		v = strtoull(cl, &end, 10);
		if (errno != 0 || end == cl || *end != '\0' ||
		    v > srv->cfg.max_body) {
			mr->b.too_large = 1;
			ri->req.path = str_c(url);
			if (http_respond_error(&ri->req, 413,
			    "payload_too_large", NULL) != 0)
				return MHD_NO;
			return MHD_YES;
		}
		if (v > 0) {
			mr->b.body = arena_alloc(&ri->arena, (size_t)v + 1);
			if (mr->b.body == NULL)
				return MHD_NO;
			mr->b.cap = (size_t)v + 1;
		}
	}
	return MHD_YES;
}

/* More of the body: into the arena, or counted and dropped past the
 * limit. */
static enum MHD_Result
body_more(struct http_server *srv, struct mhd_body *b, struct arena *a,
    const char *data, size_t n)
{
	if (b->too_large) {
		/* MHD cannot answer in the middle of a body: drop the rest
		 * and answer 413 at its end, but not forever */
		if (n > DISCARD_MAX - b->discarded)
			return MHD_NO;
		b->discarded += n;
		return MHD_YES;
	}
	if (n > srv->cfg.max_body - b->len) {
		b->too_large = 1;
		b->discarded = n;
		return MHD_YES;
	}
	if (b->len + n + 1 > b->cap) {
		size_t ncap = b->cap ? b->cap : 1024;
		char *nb;
		while (ncap < b->len + n + 1)
			ncap *= 2;
		if (ncap > srv->cfg.max_body + 1)
			ncap = srv->cfg.max_body + 1;
		if ((nb = arena_realloc(a, b->body, b->len, ncap)) == NULL)
			return MHD_NO;
		b->body = nb;
		b->cap = ncap;
	}
	memcpy(b->body + b->len, data, n);
	b->len += n;
	return MHD_YES;
}

static enum MHD_Result
access_handler(void *cls, struct MHD_Connection *conn, const char *url,
    const char *method, const char *version, const char *upload_data,
    size_t *upload_data_size, void **con_cls)
{
	struct http_server *srv = cls;
	struct http_request_int *ri = *con_cls;
	struct mhd_req *mr = (struct mhd_req *)ri;

	(void)version;
	if (ri == NULL)
		return request_first(srv, conn, url, method, con_cls);
	if (ri->suspended) {
		/* resumed: every hold is released */
		ri->suspended = 0;
		atomic_fetch_sub(&srv->held, 1);
		return mhd_send(ri) ? MHD_YES : MHD_NO;
	}
	if (ri->responded) {
		*upload_data_size = 0;  /* answered early: discard */
		return MHD_YES;
	}
	if (*upload_data_size > 0) {
		size_t n = *upload_data_size;
		*upload_data_size = 0;
		return body_more(srv, &mr->b, &ri->arena, upload_data, n);
	}
	if (mr->b.too_large) {
		ri->req.path = str_c(url);
		if (http_respond_error(&ri->req, 413, "payload_too_large",
		    NULL) != 0)
			return MHD_NO;
		return MHD_YES;
	}
	if (mr->b.body != NULL) {
		mr->b.body[mr->b.len] = '\0';
		ri->req.body = str_make(mr->b.body, mr->b.len);
	}
	dispatch(ri, url);
	return finish_handler(ri);
}

static void
request_completed(void *cls, struct MHD_Connection *conn, void **con_cls,
    enum MHD_RequestTerminationCode toe)
{
	struct http_server *srv = cls;
	struct http_request_int *ri = *con_cls;

	(void)conn;
	(void)toe;
	if (ri == NULL)
		return;
	*con_cls = NULL;
	if (ri->suspended)              /* resumed, but the client had gone */
		atomic_fetch_sub(&srv->held, 1);
	http_req_end(ri);
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
mhd_start(struct http_server *srv, const struct sockaddr *sa)
{
	struct MHD_OptionItem tls[5];
	const union MHD_DaemonInfo *di;
	unsigned int flags = MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_EPOLL |
	    MHD_USE_ITC | MHD_ALLOW_SUSPEND_RESUME;
	size_t nt = 0;

	if (sa->sa_family == AF_INET6)
		flags |= MHD_USE_IPv6;
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

/* No MHD_quiesce_daemon() before this: with epoll workers it races with
 * their own removal of the listening socket from their epoll sets, and
 * libmicrohttpd aborts the process on the loser's ENOENT ("Failed to
 * remove listen FD from epoll set", seen under ASan).  So the socket
 * stays open until here; meanwhile every answer says Connection: close
 * and no answer is held (http_server_shutdown). */
void
mhd_stop(struct http_server *srv)
{
	MHD_stop_daemon(srv->daemon);
	srv->daemon = NULL;
}

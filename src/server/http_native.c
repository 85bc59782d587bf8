/*
 * http_native.c - the HTTP engine: HTTP/1.1 on an epoll loop per worker
 * thread, plain or over TLS (GnuTLS), with no HTTP library between the
 * socket and the handler, so that both speak the same strict HTTP.
 *
 * Why not libmicrohttpd (which served every connection once, and TLS
 * until this engine took it over): a durable permit's answer waits for its
 * group commit on the audit writer's thread.  With libmicrohttpd that
 * wait is a suspend and a resume of the connection, two epoll_ctl calls,
 * an eventfd write per answer and a wake-up of the worker; measured, it
 * cost as much as building the audit record.  Here a held connection
 * simply stays out of the loop's way: nothing is removed from epoll, a
 * release queues the connection for its worker and writes the worker's
 * eventfd only if nothing else has since the worker last looked, so a
 * whole group commit's answers cost one wake-up per worker.  And its
 * parser was more lenient than ours (two different Content-Lengths,
 * obs-fold, a missing or doubled Host were all taken over TLS).
 *
 * One loop per worker thread: the listening socket is in every worker's
 * epoll set (EPOLLEXCLUSIVE: one wakes per connection); each connection
 * is given to the worker with the fewest (give), edge-triggered, and only
 * that worker touches it.  Per connection, one request at a time:
 *
 *   HANDSHAKE  TLS only: the handshake, within server.request_timeout;
 *            a client certificate is verified against the client CA
 *            bundle here, and a chain that does not verify gets 403 on
 *            every request (it is never trusted)
 *   HEAD     reading a request head into the connection's buffer
 *            (server.connection_memory bytes: a longer head gets
 *            431, or 414 when its request line alone does not fit)
 *   BODY     a Content-Length body, into the request arena
 *   CHUNKED  a chunked body, decoded into the request arena
 *   HELD     the handler has answered, a hold is out (nothing is read)
 *   WRITE    writing the answer
 *   LINGER   after an answer that closes the connection: the write side
 *            is shut and what the client still sends is read and dropped
 *            until it closes (LINGER_S, LINGER_MAX), so that a client still
 *            sending a refused body reads its answer rather than a reset
 *
 * The parsers are strict (http_parse.c).  An answer to a request that
 * could not be read whole closes the connection (Connection: close).
 * Idle connections close after server.request_timeout; a held one never
 * times out (its hold is always released).  Stopping (see
 * http_server_shutdown): answers say Connection: close, requests in
 * flight finish within the grace period, then the workers stop and close
 * every connection and the listening socket.
 */
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/eventfd.h>
#include <sys/socket.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

#include <gnutls/gnutls.h>
#include <gnutls/crypto.h>
#include <gnutls/x509.h>

#include "server/http_int.h"
#include "util/status.h"

#define EVENTS 64
#define ACCEPT_BATCH 4            /* per wake: spreads connections */
#define LINGER_S 2
#define LINGER_MAX (4u << 20)       /* bytes read and dropped, at most */
#define RUN_BUDGET 16           /* requests per connection per turn */
#define BODY_FIRST 1024
#define MAX_PEER_CERTS 16
#define TLS_COALESCE (64u << 10)  /* answers up to this: head and body
					  * handed to GnuTLS as one buffer */

enum cstate {
	C_HANDSHAKE, C_HEAD, C_BODY, C_CHUNKED, C_HELD, C_WRITE, C_LINGER
};

struct worker;

/* A certificate, key and client CA bundle as GnuTLS uses them, shared by
 * the sessions made with it: the server's holds one reference, each
 * connection another, so that a reload (native_tls_reload) frees the old
 * one only when its last connection has gone. */
struct tls_creds {
	gnutls_certificate_credentials_t cred;
	atomic_uint refs;
};

struct conn {
	struct worker *w;
	int fd;
	enum cstate st;
	bool dead;
	bool queued;                    /* on the worker's again list */
	bool close_after;               /* close once the answer is out */
	bool is_head;                   /* a HEAD request: no body */
	bool drained;                   /* the last recv emptied the socket */
	bool bye;                       /* TLS close_notify sent */
	gnutls_session_t tls;           /* NULL: plain HTTP */
	struct tls_creds *creds;        /* the session's, one reference */
	int peer_ok;                    /* TLS: 1 no chain or one that
					 * verifies, 0 one that does not */
	unsigned peer_gen;              /* the credentials generation
					 * peer_ok was decided with */
	struct conn *prev, *next;       /* the worker's connections */
	struct conn *ready_next;        /* released, adopt or dead lists */
	/* the again list has its own link: a connection on it may be held
	 * and released (ready_next) before the worker's turn reaches it */
	struct conn *again_next;
	bool rdhup;                     /* the peer has shut down its side */
	bool tls_looked;                /* TLS: its first byte was seen */
	char *buf;                      /* read buffer: buf[rd..wr) unread */
	size_t cap, rd, wr;
	size_t scanned;                 /* of the head at rd, read already
					 * (http_head_length_more) */
	struct http_request_int *ri;    /* the request being served */
	struct http_head head;
	uint64_t body_left;
	char *body;
	size_t body_len, body_cap;
	struct http_chunked ch;
	size_t lingered;                /* bytes dropped while lingering */
	struct iovec iov[2];            /* the answer being written */
	int iov_first, iov_n;
	int64_t last;                   /* last progress, ms */
	int64_t begun;                  /* first byte of this request, ms;
					 * 0 between requests */
	char remote[INET6_ADDRSTRLEN + 1];
};

struct worker {
	struct native *nat;
	pthread_t tid;
	int started;
	int ep, efd;
	pthread_mutex_t lock;
	struct conn *ready;             /* released holds, under lock */
	atomic_int woken;               /* efd written since last looked */
	struct conn *adopt;             /* accepted elsewhere, under lock */
	atomic_uint load;               /* connections given to it */
	struct conn *conns;
	struct conn *again;             /* budget spent, input left */
	struct conn *dead;              /* closed this turn, freed after */
	int64_t now;                    /* ms, once per turn */
	int64_t swept;
	int64_t accept_again;           /* 0, or when to listen again */
	time_t date_at;
	char date[40];
};

struct ip_count {
	char ip[INET6_ADDRSTRLEN + 1];
	unsigned n;
};

struct native {
	struct http_server *srv;
	int lfd;
	unsigned n_workers;
	struct worker *workers;
	atomic_int stop;
	atomic_uint n_conns;
	pthread_mutex_t ip_lock;
	struct ip_count *ips;
	size_t n_ips, cap_ips;
	pthread_mutex_t creds_lock;     /* creds, the pointer, and gen */
	struct tls_creds *creds;        /* NULL: plain HTTP */
	unsigned creds_gen;             /* one more at each reload */
	gnutls_priority_t prio;
};

static void
creds_put(struct tls_creds *t)
{
	if (t != NULL && atomic_fetch_sub(&t->refs, 1) == 1) {
		gnutls_certificate_free_credentials(t->cred);
		free(t);
	}
}

/* The server's credentials now, with a reference for the caller, and
 * their generation (gen may be NULL). */
static struct tls_creds *
creds_get(struct native *nat, unsigned *gen)
{
	struct tls_creds *t;

	pthread_mutex_lock(&nat->creds_lock);
	if ((t = nat->creds) != NULL)
		atomic_fetch_add(&t->refs, 1);
	if (gen != NULL)
		*gen = nat->creds_gen;
	pthread_mutex_unlock(&nat->creds_lock);
	return t;
}

/* The verification profile of client chains, here and in TLS_PRIORITY
 * (%PROFILE_MEDIUM): 112 bits. */
#define TLS_VERIFY_PROFILE GNUTLS_PROFILE_MEDIUM

/* 1 when the client chain list[0..n) verifies against the client CA
 * bundle of t, as the handshake verified it (purpose clientAuth, the
 * profile, the time now); 0 otherwise. */
static int
chain_verifies(struct tls_creds *t, const gnutls_datum_t *list,
    unsigned int n)
{
	gnutls_typed_vdata_st purpose = { GNUTLS_DT_KEY_PURPOSE_OID,
	    (unsigned char *)(uintptr_t)GNUTLS_KP_TLS_WWW_CLIENT, 0 };
	gnutls_x509_crt_t crts[MAX_PEER_CERTS];
	gnutls_x509_trust_list_t tl = NULL;
	unsigned int n_crts = 0, status = 1;
	int ok = 0;

	if (n == 0 || n > MAX_PEER_CERTS)
		return 0;
	gnutls_certificate_get_trust_list(t->cred, &tl);
	if (tl == NULL)
		return 0;
	for (; n_crts < n; n_crts++) {
		if (gnutls_x509_crt_init(&crts[n_crts]) != GNUTLS_E_SUCCESS)
			goto out;
		if (gnutls_x509_crt_import(crts[n_crts], &list[n_crts],
		    GNUTLS_X509_FMT_DER) != GNUTLS_E_SUCCESS) {
			n_crts++;
			goto out;
		}
	}
	ok = gnutls_x509_trust_list_verify_crt2(tl, crts, n, &purpose, 1,
	    GNUTLS_PROFILE_TO_VFLAGS(TLS_VERIFY_PROFILE), &status, NULL) ==
	    GNUTLS_E_SUCCESS && status == 0;
out:
	while (n_crts > 0)
		gnutls_x509_crt_deinit(crts[--n_crts]);
	return ok;
}

static void conn_run(struct conn *c);

static int64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC_COARSE, &ts);
	return (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static void
wake(struct worker *w)
{
	uint64_t one = 1;

	if (!atomic_exchange(&w->woken, 1))
		while (write(w->efd, &one, sizeof(one)) < 0 && errno == EINTR)
			;
}

/* ---- per-address connection counts (server.max_per_ip) ---- */

static int
ip_take(struct native *nat, const char *ip)
{
	unsigned max = nat->srv->cfg.max_per_ip;
	int ok = 1;
	size_t i;

	if (max == 0)
		return 1;
	pthread_mutex_lock(&nat->ip_lock);
	for (i = 0; i < nat->n_ips; i++)
		if (strcmp(nat->ips[i].ip, ip) == 0)
			break;
	if (i == nat->n_ips) {
		if (nat->n_ips == nat->cap_ips) {
			size_t nc = nat->cap_ips ? nat->cap_ips * 2 : 16;
			struct ip_count *n = realloc(nat->ips,
			    nc * sizeof(*n));
			if (n == NULL) {
				pthread_mutex_unlock(&nat->ip_lock);
				return 0;
			}
			nat->ips = n;
			nat->cap_ips = nc;
		}
		memcpy(nat->ips[i].ip, ip, strlen(ip) + 1);
		nat->ips[i].n = 0;
		nat->n_ips++;
	}
	if (nat->ips[i].n >= max)
		ok = 0;
	else
		nat->ips[i].n++;
	pthread_mutex_unlock(&nat->ip_lock);
	return ok;
}

static void
ip_give(struct native *nat, const char *ip)
{
	if (nat->srv->cfg.max_per_ip == 0)
		return;
	pthread_mutex_lock(&nat->ip_lock);
	for (size_t i = 0; i < nat->n_ips; i++) {
		if (strcmp(nat->ips[i].ip, ip) == 0) {
			if (--nat->ips[i].n == 0)
				nat->ips[i] = nat->ips[--nat->n_ips];
			break;
		}
	}
	pthread_mutex_unlock(&nat->ip_lock);
}

/* ---- connections ---- */

/* The request is over (answered and written, or abandoned). */
static void
req_done(struct conn *c)
{
	struct http_request_int *ri = c->ri;

	c->ri = NULL;
	c->body = NULL;
	c->body_len = c->body_cap = 0;
	c->body_left = 0;
	c->head.n_headers = 0;
	c->is_head = false;
	c->begun = 0;
	if (ri != NULL)
		http_req_end(ri);
}

/* TLS: tell the client the connection ends (close_notify), once, if the
 * socket takes it now; never waits. */
static void
tls_bye(struct conn *c)
{
	if (c->tls == NULL || c->bye || c->st == C_HANDSHAKE)
		return;
	c->bye = true;
	(void)gnutls_bye(c->tls, GNUTLS_SHUT_WR);
}

static void
conn_close(struct conn *c)
{
	struct worker *w = c->w;

	if (c->dead)
		return;
	/* never with a hold out: the holder still uses the request */
	req_done(c);
	tls_bye(c);
	close(c->fd);
	c->dead = true;
	if (c->prev != NULL)
		c->prev->next = c->next;
	else
		w->conns = c->next;
	if (c->next != NULL)
		c->next->prev = c->prev;
	ip_give(w->nat, c->remote);
	atomic_fetch_sub(&w->load, 1);
	atomic_fetch_sub(&w->nat->n_conns, 1);
	if (!c->queued) {
		c->ready_next = w->dead;
		w->dead = c;
	}
}

static void
conn_free(struct conn *c)
{
	if (c->tls != NULL)
		gnutls_deinit(c->tls);
	creds_put(c->creds);
	free(c->buf);
	free(c);
}

/* Read more into the buffer: 1 read, 0 would block, -1 closed or error,
 * -2 the buffer is full of unread bytes. */
static int
fill(struct conn *c)
{
	ssize_t n;

	if (c->rd == c->wr) {
		c->rd = c->wr = 0;
	} else if (c->wr == c->cap && c->rd > 0) {
		memmove(c->buf, c->buf + c->rd, c->wr - c->rd);
		c->wr -= c->rd;
		c->rd = 0;
	}
	if (c->wr == c->cap)
		return -2;
	if (c->tls != NULL && c->st != C_LINGER) {
		/* one record at most per call, and GnuTLS may hold more in
		 * its own buffer: never drained until it says EAGAIN */
		c->drained = false;
		for (;;) {
			n = gnutls_record_recv(c->tls, c->buf + c->wr,
			    c->cap - c->wr);
			if (n > 0) {
				c->wr += (size_t)n;
				c->last = c->w->now;
				return 1;
			}
			if (n == GNUTLS_E_INTERRUPTED)
				continue;
			return n == GNUTLS_E_AGAIN ? 0 : -1;
		}
	}
	for (;;) {
		n = recv(c->fd, c->buf + c->wr, c->cap - c->wr, 0);
		if (n > 0) {
			/* less than asked for: the socket is empty now, and
			 * (edge-triggered) whatever comes next is an event;
			 * not so for a FIN that came with the data (rdhup):
			 * the next recv says 0 and no event will */
			c->drained = (size_t)n < c->cap - c->wr;
			c->wr += (size_t)n;
			c->last = c->w->now;
			return 1;
		}
		if (n == 0)
			return -1;
		if (errno == EINTR)
			continue;
		return errno == EAGAIN || errno == EWOULDBLOCK ? 0 : -1;
	}
}

/* Write the answer: 1 all written, 0 would block, -1 error. */
static int
flush(struct conn *c)
{
	while (c->iov_n > 0) {
		struct msghdr mh;
		ssize_t n;

		if (c->tls != NULL) {
			/* after EAGAIN GnuTLS wants the same buffer again,
			 * which iov still is */
			struct iovec *v = &c->iov[c->iov_first];
			n = gnutls_record_send(c->tls, v->iov_base,
			    v->iov_len);
			if (n < 0) {
				if (n == GNUTLS_E_INTERRUPTED)
					continue;
				return n == GNUTLS_E_AGAIN ? 0 : -1;
			}
		} else {
			memset(&mh, 0, sizeof(mh));
			mh.msg_iov = c->iov + c->iov_first;
			mh.msg_iovlen = (size_t)c->iov_n;
			n = sendmsg(c->fd, &mh, MSG_NOSIGNAL);
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			return errno == EAGAIN || errno == EWOULDBLOCK ? 0 :
			    -1;
		}
		c->last = c->w->now;
		while (n > 0 && c->iov_n > 0) {
			struct iovec *v = &c->iov[c->iov_first];
			if ((size_t)n >= v->iov_len) {
				n -= (ssize_t)v->iov_len;
				c->iov_first++;
				c->iov_n--;
			} else {
				v->iov_base = (char *)v->iov_base + n;
				v->iov_len -= (size_t)n;
				n = 0;
			}
		}
	}
	return 1;
}

static const char *
reason(unsigned s)
{
	switch (s) {
	case 200: return "OK";
	case 201: return "Created";
	case 202: return "Accepted";
	case 204: return "No Content";
	case 301: return "Moved Permanently";
	case 302: return "Found";
	case 304: return "Not Modified";
	case 400: return "Bad Request";
	case 401: return "Unauthorized";
	case 403: return "Forbidden";
	case 404: return "Not Found";
	case 405: return "Method Not Allowed";
	case 408: return "Request Timeout";
	case 409: return "Conflict";
	case 410: return "Gone";
	case 412: return "Precondition Failed";
	case 413: return "Content Too Large";
	case 414: return "URI Too Long";
	case 415: return "Unsupported Media Type";
	case 417: return "Expectation Failed";
	case 422: return "Unprocessable Content";
	case 429: return "Too Many Requests";
	case 431: return "Request Header Fields Too Large";
	case 500: return "Internal Server Error";
	case 501: return "Not Implemented";
	case 502: return "Bad Gateway";
	case 503: return "Service Unavailable";
	case 504: return "Gateway Timeout";
	case 505: return "HTTP Version Not Supported";
	default: return "Status";
	}
}

/* The Date field's value, made once a second per worker. */
static const char *
http_date(struct worker *w)
{
	time_t t = time(NULL);
	struct tm tm;

	if (t != w->date_at) {
		gmtime_r(&t, &tm);
		strftime(w->date, sizeof(w->date),
		    "%a, %d %b %Y %H:%M:%S GMT", &tm);
		w->date_at = t;
	}
	return w->date;
}

/* Append n bytes to the answer's head; false once it does not fit (the
 * head is sized for what goes in, so this is a bound, not a path).  Plain
 * copies rather than snprintf: the head is written for every answer, and
 * the format parser cost more than the bytes it wrote. */
static bool
hcat(char *h, size_t cap, size_t *o, const char *s, size_t n)
{
	if (*o > cap || n > cap - *o) {
		*o = cap + 1;
		return false;
	}
	memcpy(h + *o, s, n);
	*o += n;
	return true;
}

static bool
hstr(char *h, size_t cap, size_t *o, const char *s)
{
	return hcat(h, cap, o, s, strlen(s));
}

/* v in decimal */
static bool
hnum(char *h, size_t cap, size_t *o, unsigned long long v)
{
	char d[24];
	size_t n = sizeof(d);

	do {
		d[--n] = (char)('0' + v % 10);
		v /= 10;
	} while (v > 0);
	return hcat(h, cap, o, d + n, sizeof(d) - n);
}

/* "name: value\r\n" */
static bool
hfield(char *h, size_t cap, size_t *o, const char *name, const char *value)
{
	return hstr(h, cap, o, name) && hcat(h, cap, o, ": ", 2) &&
	    hstr(h, cap, o, value) && hcat(h, cap, o, "\r\n", 2);
}

int
native_send(struct http_request_int *ri)
{
	struct conn *c = ri->conn;
	struct http_server *srv = ri->srv;
	struct http_answer a;
	size_t cap = 256, o = 0;
	char *h;
	bool body_ok;

	http_req_answer(ri, &a);
	if (atomic_load(&srv->stopping))
		c->close_after = true;
	body_ok = a.status >= 200 && a.status != 204 && a.status != 304;
	if (a.type != NULL)
		cap += strlen(a.type);
	cap += strlen(ri->request_id);
	for (size_t i = 0; a.headers && i < ri->n_resp_headers; i++)
		cap += strlen(ri->resp_names[i]) +
		    strlen(ri->resp_values[i]) + 4;
	if ((h = arena_alloc(&ri->arena, cap)) == NULL)
		return 0;
	hcat(h, cap, &o, "HTTP/1.1 ", 9);
	hnum(h, cap, &o, a.status);
	hcat(h, cap, &o, " ", 1);
	hstr(h, cap, &o, reason(a.status));
	hcat(h, cap, &o, "\r\n", 2);
	hfield(h, cap, &o, "Date", http_date(c->w));
	if (body_ok) {
		hcat(h, cap, &o, "Content-Length: ", 16);
		hnum(h, cap, &o, a.len);
		hcat(h, cap, &o, "\r\n", 2);
	}
	if (a.type != NULL)
		hfield(h, cap, &o, "Content-Type", a.type);
	hfield(h, cap, &o, "X-Request-ID", ri->request_id);
	for (size_t i = 0; a.headers && i < ri->n_resp_headers; i++)
		hfield(h, cap, &o, ri->resp_names[i], ri->resp_values[i]);
	if (c->close_after)
		hstr(h, cap, &o, "Connection: close\r\n");
	else if (c->head.minor == 0)
		hstr(h, cap, &o, "Connection: keep-alive\r\n");
	if (!hcat(h, cap, &o, "\r\n", 2))
		return 0;
	c->iov[0].iov_base = h;
	c->iov[0].iov_len = o;
	c->iov_first = 0;
	c->iov_n = 1;
	if (body_ok && !c->is_head && a.len > 0) {
		c->iov[1].iov_base = (void *)(uintptr_t)a.body;
		c->iov[1].iov_len = a.len;
		c->iov_n = 2;
		if (c->tls != NULL && o + a.len <= TLS_COALESCE) {
			/* one TLS record rather than two */
			char *both = arena_alloc(&ri->arena, o + a.len);
			if (both == NULL)
				return 0;
			memcpy(both, h, o);
			memcpy(both + o, a.body, a.len);
			c->iov[0].iov_base = both;
			c->iov[0].iov_len = o + a.len;
			c->iov_n = 1;
		}
	}
	ri->status = a.status;
	ri->bytes = a.len;
	c->st = C_WRITE;
	return 1;
}

void
native_resume(struct http_request_int *ri)
{
	struct conn *c = ri->conn;
	struct worker *w = c->w;

	/* woken under the lock: once it is released, the worker may answer,
	 * the server may stop and w be freed, so this thread (not one of
	 * the workers) must not touch w after the unlock */
	pthread_mutex_lock(&w->lock);
	c->ready_next = w->ready;
	w->ready = c;
	wake(w);
	pthread_mutex_unlock(&w->lock);
}

/* An answer to a request that was not read whole: then close. */
static void
refuse(struct conn *c, unsigned status)
{
	const char *code;

	switch (status) {
	case 413: code = "payload_too_large"; break;
	case 414: code = "uri_too_long"; break;
	case 417: code = "expectation_failed"; break;
	case 431: code = "request_header_fields_too_large"; break;
	case 501: code = "not_implemented"; break;
	case 505: code = "http_version_not_supported"; break;
	default: code = "invalid_request"; break;
	}
	c->close_after = true;
	if (http_respond_error(&c->ri->req, status, code, NULL) != 0 &&
	    c->st != C_WRITE)
		conn_close(c);
}

static unsigned
peer_gen_now(struct native *nat)
{
	unsigned gen;

	pthread_mutex_lock(&nat->creds_lock);
	gen = nat->creds_gen;
	pthread_mutex_unlock(&nat->creds_lock);
	return gen;
}

/* TLS: the client's chain, copied into the request's arena for its
 * handler.  1 when there is none or it verified at the handshake (and
 * again against the client CA bundle of the last reload, when there has
 * been one since), 0 when it did not (403). */
static int
peer_certs(struct conn *c)
{
	struct http_request_int *ri = c->ri;
	const gnutls_datum_t *list;
	struct http_cert *certs;
	unsigned int n = 0;

	if (c->tls == NULL ||
	    ri->srv->cfg.client_auth == HTTP_CLIENT_AUTH_NONE)
		return 1;
	if (!c->peer_ok)
		return 0;
	list = gnutls_certificate_get_peers(c->tls, &n);
	if (list == NULL || n == 0)
		return 1;
	if (c->peer_gen != peer_gen_now(c->w->nat)) {
		/* the client CA bundle was reloaded since the chain was
		 * verified: it is trusted only if the new one trusts it (a
		 * CA dropped at SIGHUP is a CA revoked, for connections
		 * already open too); a refusal is final */
		struct tls_creds *t = creds_get(c->w->nat, &c->peer_gen);
		c->peer_ok = t != NULL && chain_verifies(t, list, n);
		creds_put(t);
		if (!c->peer_ok)
			return 0;
	}
	if ((certs = arena_calloc(&ri->arena, n, sizeof(*certs))) == NULL)
		return 0;
	for (unsigned int i = 0; i < n; i++) {
		unsigned char *der = arena_alloc(&ri->arena, list[i].size);
		if (der == NULL)
			return 0;
		memcpy(der, list[i].data, list[i].size);
		certs[i].der = der;
		certs[i].len = list[i].size;
	}
	ri->req.peer_certs = certs;
	ri->req.n_peer_certs = n;
	return 1;
}

/* The body is complete: route, run the handler, and either answer now or
 * wait for the holds. */
static void
dispatch(struct conn *c)
{
	struct http_request_int *ri = c->ri;
	struct http_server *srv = ri->srv;
	struct http_form form = { NULL, 0 };
	const char *q;
	int qerr = 0;

	if (c->body != NULL) {
		c->body[c->body_len] = '\0';
		ri->req.body = str_make(c->body, c->body_len);
	}
	/* the target was split at its '?' by on_head */
	q = c->head.target + strlen(c->head.target) + 1;
	if (q <= c->head.target + c->head.target_len)
		qerr = http_form_parse(&ri->arena, q, strlen(q),
		    HTTP_FORM_MAX_PAIRS, 0, &form);
	c->st = C_HELD;
	http_req_dispatch(ri, c->head.target, form.pairs, form.n_pairs,
	    qerr, peer_certs(c));
	if (!ri->in_handler) {
		/* answered before any handler ran (native_send was called) */
		if (c->st != C_WRITE)
			conn_close(c);
		return;
	}
	ri->in_handler = 0;
	if (atomic_fetch_sub(&ri->holds, 1) == 1) {
		/* no hold, or all released already */
		if (ri->took_hold)
			atomic_fetch_sub(&srv->held, 1);
		if (!native_send(ri))
			conn_close(c);
	}
	/* else the last release queues c for this worker (native_resume) */
}

/* 1: progress; 0: need input */
static int
on_head(struct conn *c)
{
	struct http_server *srv = c->w->nat->srv;
	struct http_request_int *ri;
	size_t hl;
	char *copy, *qm;
	unsigned st;

	/* the request's clock starts at its first byte, an empty line
	 * before it included: else a CRLF now and then would hold the
	 * connection for ever (empty lines are ignored, RFC 9112 2.2) */
	if (c->begun == 0 && c->rd < c->wr)
		c->begun = c->w->now;
	while (c->wr - c->rd >= 2 && c->buf[c->rd] == '\r' &&
	    c->buf[c->rd + 1] == '\n') {
		c->rd += 2;
		c->scanned = 0;
	}
	hl = http_head_length_more(c->buf + c->rd, c->wr - c->rd, &c->scanned);
	if (hl == 0 && !(c->rd == 0 && c->wr == c->cap))
		return 0;
	if ((ri = http_req_new(srv, c, sizeof(*ri))) == NULL) {
		conn_close(c);
		return 1;
	}
	c->ri = ri;
	ri->head = &c->head;
	memset(&c->head, 0, sizeof(c->head));
	if (hl == 0) {
		/* the buffer is full and the head goes on: past its request
		 * line, the header fields are too large; within it, the
		 * target is too long (RFC 9112 3: 414).  An answer to HEAD
		 * has no content (RFC 9110 9.3.2), refused or not. */
		c->is_head = c->wr - c->rd >= 5 &&
		    memcmp(c->buf + c->rd, "HEAD ", 5) == 0;
		http_req_ids(ri, NULL, NULL, c->remote);
		refuse(c, memchr(c->buf + c->rd, '\n', c->wr - c->rd) != NULL ?
		    431 : 414);
		return 1;
	}
	if ((copy = arena_alloc(&ri->arena, hl)) == NULL) {
		conn_close(c);
		return 1;
	}
	memcpy(copy, c->buf + c->rd, hl);
	c->rd += hl;
	c->scanned = 0;
	st = http_head_parse(copy, hl, &c->head);
	http_req_ids(ri, c->head.method, st == 0 ?
	    http_head_get(&c->head, "X-Request-ID") : NULL, c->remote);
	if (c->head.target != NULL) {
		/* the path without its query, for routing and the log */
		if ((qm = strchr(c->head.target, '?')) != NULL)
			*qm = '\0';
		ri->req.path = str_c(c->head.target);
	}
	c->is_head = c->head.method != NULL &&
	    strcmp(c->head.method, "HEAD") == 0;
	if (st != 0) {
		refuse(c, st);
		return 1;
	}
	c->close_after = !c->head.keep_alive;
	if ((c->head.has_length && c->head.length > srv->cfg.max_body)) {
		refuse(c, 413);
		return 1;
	}
	if (c->head.expect_continue && c->head.minor == 1 &&
	    (c->head.chunked || c->head.length > 0) && c->rd == c->wr) {
		static const char cont[] = "HTTP/1.1 100 Continue\r\n\r\n";
		/* into a socket with nothing else to send: all of it goes,
		 * or the connection is given up */
		if ((c->tls != NULL ? (ssize_t)gnutls_record_send(c->tls,
		    cont, sizeof(cont) - 1) : send(c->fd, cont,
		    sizeof(cont) - 1, MSG_NOSIGNAL)) !=
		    (ssize_t)sizeof(cont) - 1) {
			conn_close(c);
			return 1;
		}
	}
	if (c->head.chunked) {
		memset(&c->ch, 0, sizeof(c->ch));
		c->st = C_CHUNKED;
	} else if (c->head.length > 0) {
		c->body_cap = (size_t)c->head.length + 1;
		if ((c->body = arena_alloc(&ri->arena, c->body_cap)) == NULL) {
			conn_close(c);
			return 1;
		}
		c->body_left = c->head.length;
		c->st = C_BODY;
	} else {
		dispatch(c);
	}
	return 1;
}

static int
on_body(struct conn *c)
{
	size_t take = c->wr - c->rd;

	if ((uint64_t)take > c->body_left)
		take = (size_t)c->body_left;
	memcpy(c->body + c->body_len, c->buf + c->rd, take);
	c->rd += take;
	c->body_len += take;
	c->body_left -= take;
	if (c->body_left > 0)
		return 0;
	dispatch(c);
	return 1;
}

static int
on_chunked(struct conn *c)
{
	size_t max = c->w->nat->srv->cfg.max_body;

	for (;;) {
		const char *data;
		size_t used, n;
		enum http_chunk_result r = http_chunked_step(&c->ch,
		    c->buf + c->rd, c->wr - c->rd, &used, &data, &n);

		c->rd += used;
		switch (r) {
		case HTTP_CHUNK_MORE:
			return 0;
		case HTTP_CHUNK_ERROR:
			refuse(c, 400);
			return 1;
		case HTTP_CHUNK_DONE:
			if (c->body == NULL)
				c->body = arena_alloc(&c->ri->arena, 1);
			if (c->body == NULL) {
				conn_close(c);
				return 1;
			}
			dispatch(c);
			return 1;
		case HTTP_CHUNK_DATA:
			break;
		}
		if (n > max - c->body_len) {
			refuse(c, 413);
			return 1;
		}
		if (c->body_len + n + 1 > c->body_cap) {
			size_t nc = c->body_cap ? c->body_cap : BODY_FIRST;
			char *nb;
			while (nc < c->body_len + n + 1)
				nc *= 2;
			if (nc > max + 1)
				nc = max + 1;
			nb = arena_realloc(&c->ri->arena, c->body, c->body_len,
			    nc);
			if (nb == NULL) {
				conn_close(c);
				return 1;
			}
			c->body = nb;
			c->body_cap = nc;
		}
		memcpy(c->body + c->body_len, data, n);
		c->body_len += n;
	}
}

/* Read and drop until the client closes: LINGER_S at most (sweep), and
 * LINGER_MAX bytes, so that a client that keeps sending cannot keep its
 * worker reading. */
static void
linger_read(struct conn *c)
{
	for (;;) {
		int r;
		c->lingered += c->wr - c->rd;
		c->rd = c->wr = 0;
		if (c->lingered > LINGER_MAX) {
			conn_close(c);
			return;
		}
		if ((r = fill(c)) == 1)
			continue;
		if (r != 0)
			conn_close(c);
		return;
	}
}

/* A TLS connection's first byte, before the handshake reads it: 1 it may
 * be TLS (a handshake record is 0x16: GnuTLS judges the rest), 0 waiting
 * for it or closed.  A letter is plain HTTP sent to the TLS port (an
 * http:// URL where https:// was meant): answered 400 in plain HTTP,
 * which says so, rather than a reset the client cannot explain. */
static int
tls_first_byte(struct conn *c)
{
	static const char body[] = "{\"error\":\"invalid_request\","
	    "\"error_description\":\"this port speaks TLS: use https://\"}";
	char head[192], b;
	ssize_t k;
	int n;

	do
		k = recv(c->fd, &b, 1, MSG_PEEK | MSG_DONTWAIT);
	while (k < 0 && errno == EINTR);
	if (k < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
		return 0;
	if (k <= 0) {
		conn_close(c);
		return 0;
	}
	c->tls_looked = true;
	if (b < 'A' || b > 'Z')
		return 1;
	/* read what came (so that the close is not a reset that loses the
	 * answer), answer, close */
	for (int i = 0; i < 8; i++) {
		char sink[4096];

		if (recv(c->fd, sink, sizeof(sink), MSG_DONTWAIT) <
		    (ssize_t)sizeof(sink))
			break;
	}
	n = snprintf(head, sizeof(head), "HTTP/1.1 400 Bad Request\r\n"
	    "Content-Type: application/json\r\nContent-Length: %zu\r\n"
	    "Connection: close\r\n\r\n", sizeof(body) - 1);
	if (n > 0 && (size_t)n < sizeof(head) &&
	    send(c->fd, head, (size_t)n, MSG_DONTWAIT | MSG_NOSIGNAL) == n)
		(void)send(c->fd, body, sizeof(body) - 1,
		    MSG_DONTWAIT | MSG_NOSIGNAL);
	shutdown(c->fd, SHUT_WR);
	conn_close(c);
	return 0;
}

/* TLS: 1 done, 0 waiting for the socket or closed. */
static int
handshake(struct conn *c)
{
	gnutls_typed_vdata_st purpose = { GNUTLS_DT_KEY_PURPOSE_OID,
	    (unsigned char *)(uintptr_t)GNUTLS_KP_TLS_WWW_CLIENT, 0 };
	const gnutls_datum_t *list;
	unsigned int n = 0, status = 0;
	int r;

	if (!c->tls_looked && !tls_first_byte(c))
		return 0;
	do
		r = gnutls_handshake(c->tls);
	while (r == GNUTLS_E_INTERRUPTED);
	if (r == GNUTLS_E_AGAIN)
		return 0;
	if (r < 0) {
		conn_close(c);
		return 0;
	}
	/* a chain that does not verify is not refused here: each request
	 * on the connection is answered 403.  The leaf must be a client's:
	 * when it has an extendedKeyUsage, that allows clientAuth (or any;
	 * RFC 5280 4.2.1.12), so a server's certificate under the same CA
	 * is no caller's. */
	list = gnutls_certificate_get_peers(c->tls, &n);
	if (list == NULL || n == 0)
		c->peer_ok = 1;
	else
		c->peer_ok = n <= MAX_PEER_CERTS &&
		    gnutls_certificate_verify_peers(c->tls, &purpose, 1,
		    &status) == 0 && status == 0;
	c->st = C_HEAD;
	c->begun = 0;
	c->last = c->w->now;
	return 1;
}

static void
conn_run(struct conn *c)
{
	int budget = RUN_BUDGET;

	for (;;) {
		int r = 0;

		if (c->dead)
			return;
		switch (c->st) {
		case C_HANDSHAKE:
			if (!handshake(c))
				return;
			continue;
		case C_HELD:
			return;
		case C_LINGER:
			linger_read(c);
			return;
		case C_WRITE:
			if ((r = flush(c)) == 0)
				return;
			if (r < 0) {
				conn_close(c);
				return;
			}
			req_done(c);
			if (c->close_after) {
				tls_bye(c);
				shutdown(c->fd, SHUT_WR);
				c->st = C_LINGER;
				c->last = c->w->now;
				c->begun = c->w->now;   /* at most LINGER_S */
				continue;
			}
			c->st = C_HEAD;
			if (--budget <= 0 && (c->rd < c->wr || !c->drained)) {
				/* more may be waiting: let the worker's other
				 * connections in first */
				if (!c->queued) {
					c->queued = true;
					c->again_next = c->w->again;
					c->w->again = c;
				}
				return;
			}
			continue;
		case C_HEAD:
			r = on_head(c);
			break;
		case C_BODY:
			r = on_body(c);
			break;
		case C_CHUNKED:
			r = on_chunked(c);
			break;
		}
		if (r)
			continue;
		if (c->drained && !c->rdhup)
			return;         /* saves a recv that would say EAGAIN */
		switch (fill(c)) {
		case 1:
			continue;
		case 0:
			return;
		default:
			/* closed, failed, or full in a body state (cannot
			 * happen: bodies are consumed as they come) */
			conn_close(c);
			return;
		}
	}
}

/* Start serving c on w (its thread only). */
static void
adopt(struct worker *w, struct conn *c)
{
	struct epoll_event ev;

	c->w = w;
	c->last = w->now;
	c->next = w->conns;
	if (w->conns != NULL)
		w->conns->prev = c;
	w->conns = c;
	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLOUT | EPOLLRDHUP | EPOLLET;
	ev.data.ptr = c;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, c->fd, &ev) != 0)
		conn_close(c);
}

/* A new connection goes to the worker with the fewest: whichever worker
 * the kernel woke to accept (EPOLLEXCLUSIVE picks one, not in turn), the
 * connections spread evenly.  Another worker adopts it on its thread. */
static void
give(struct native *nat, struct worker *self, struct conn *c)
{
	struct worker *to = self;
	unsigned least = atomic_load(&self->load);

	for (unsigned i = 0; i < nat->n_workers; i++) {
		unsigned l = atomic_load(&nat->workers[i].load);
		if (l < least) {
			least = l;
			to = &nat->workers[i];
		}
	}
	atomic_fetch_add(&to->load, 1);
	if (to == self) {
		adopt(self, c);
		return;
	}
	pthread_mutex_lock(&to->lock);
	c->ready_next = to->adopt;
	to->adopt = c;
	pthread_mutex_unlock(&to->lock);
	wake(to);
}

/* Out of descriptors (or memory): the listening socket stays readable,
 * and level-triggered, it would wake this worker in a loop.  Leave it out
 * of this worker's set for ACCEPT_PAUSE_MS, then take it back (sweep);
 * the connections wait in the backlog meanwhile. */
#define ACCEPT_PAUSE_MS 100

static void
pause_accept(struct worker *w)
{
	if (w->accept_again != 0)
		return;
	if (epoll_ctl(w->ep, EPOLL_CTL_DEL, w->nat->lfd, NULL) == 0)
		w->accept_again = w->now + ACCEPT_PAUSE_MS;
}

static void
resume_accept(struct worker *w)
{
	struct epoll_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.events = EPOLLIN | EPOLLEXCLUSIVE;
	ev.data.ptr = w->nat;
	if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->nat->lfd, &ev) == 0)
		w->accept_again = 0;
	else
		w->accept_again = w->now + ACCEPT_PAUSE_MS;
}

/* A TLS session for a new connection; its handshake runs in conn_run
 * and has request_timeout to finish (sweep). */
static bool
tls_begin(struct native *nat, struct conn *c)
{
	gnutls_certificate_request_t req = GNUTLS_CERT_IGNORE;

	if (gnutls_init(&c->tls, GNUTLS_SERVER | GNUTLS_NONBLOCK |
	    GNUTLS_NO_SIGNAL) != GNUTLS_E_SUCCESS) {
		c->tls = NULL;
		return false;
	}
	if (nat->srv->cfg.client_auth == HTTP_CLIENT_AUTH_REQUIRE)
		req = GNUTLS_CERT_REQUIRE;
	else if (nat->srv->cfg.client_auth == HTTP_CLIENT_AUTH_OPTIONAL)
		req = GNUTLS_CERT_REQUEST;
	if ((c->creds = creds_get(nat, &c->peer_gen)) == NULL ||
	    gnutls_priority_set(c->tls, nat->prio) != GNUTLS_E_SUCCESS ||
	    gnutls_credentials_set(c->tls, GNUTLS_CRD_CERTIFICATE,
	    c->creds->cred) != GNUTLS_E_SUCCESS)
		return false;
	gnutls_certificate_server_set_request(c->tls, req);
	gnutls_transport_set_int(c->tls, c->fd);
	c->st = C_HANDSHAKE;
	c->begun = now_ms();
	return true;
}

static void
do_accept(struct worker *w)
{
	struct native *nat = w->nat;
	struct http_server *srv = nat->srv;

	for (int i = 0; i < ACCEPT_BATCH; i++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		struct conn *c;
		char ip[INET6_ADDRSTRLEN + 1] = "";
		int fd, one = 1;

		fd = accept4(nat->lfd, (struct sockaddr *)&ss, &sl,
		    SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE ||
			    errno == ENOBUFS || errno == ENOMEM)
				pause_accept(w);
			return;         /* EAGAIN, or out of resources */
		}
		http_addr_text((const struct sockaddr *)&ss, ip, sizeof(ip));
		if (atomic_fetch_add(&nat->n_conns, 1) >=
		    srv->cfg.max_connections) {
			atomic_fetch_sub(&nat->n_conns, 1);
			close(fd);
			continue;
		}
		if (!ip_take(nat, ip)) {
			atomic_fetch_sub(&nat->n_conns, 1);
			close(fd);
			continue;
		}
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		if ((c = calloc(1, sizeof(*c))) == NULL ||
		    (c->buf = malloc(srv->cfg.connection_memory)) == NULL) {
			free(c);
			ip_give(nat, ip);
			atomic_fetch_sub(&nat->n_conns, 1);
			close(fd);
			continue;
		}
		c->fd = fd;
		c->cap = srv->cfg.connection_memory;
		c->st = C_HEAD;
		memcpy(c->remote, ip, sizeof(ip));
		if (nat->creds != NULL && !tls_begin(nat, c)) {
			conn_free(c);
			ip_give(nat, ip);
			atomic_fetch_sub(&nat->n_conns, 1);
			close(fd);
			continue;
		}
		give(nat, w, c);
	}
}

/* Timeouts. */
static void
sweep(struct worker *w)
{
	struct http_server *srv = w->nat->srv;
	struct conn *c, *next;

	if (w->accept_again != 0 && w->now >= w->accept_again)
		resume_accept(w);
	for (c = w->conns; c != NULL; c = next) {
		int64_t limit = 1000 * (c->st == C_LINGER ? LINGER_S :
		    (int64_t)srv->cfg.timeout_s);
		next = c->next;
		if (c->st == C_HELD)
			continue;
		if (w->now - c->last >= limit)
			conn_close(c);
		else if (c->begun != 0 && w->now - c->begun >= limit &&
		    (c->st == C_HANDSHAKE || c->st == C_HEAD ||
		    c->st == C_BODY || c->st == C_CHUNKED ||
		    c->st == C_LINGER))
			/* a request that trickles in, a byte now and then:
			 * it has request_timeout from its first byte; and
			 * lingering lasts LINGER_S from its start */
			conn_close(c);
	}
}

static void
take_released(struct worker *w)
{
	struct http_server *srv = w->nat->srv;
	struct conn *list, *newc, *c;
	uint64_t v;

	while (read(w->efd, &v, sizeof(v)) < 0 && errno == EINTR)
		;
	atomic_store(&w->woken, 0);
	pthread_mutex_lock(&w->lock);
	list = w->ready;
	w->ready = NULL;
	newc = w->adopt;
	w->adopt = NULL;
	pthread_mutex_unlock(&w->lock);
	while ((c = newc) != NULL) {
		newc = c->ready_next;
		c->ready_next = NULL;
		adopt(w, c);
	}
	while ((c = list) != NULL) {
		list = c->ready_next;
		c->ready_next = NULL;
		atomic_fetch_sub(&srv->held, 1);
		if (!native_send(c->ri))
			conn_close(c);
		else
			conn_run(c);
	}
}

static void *
worker_main(void *arg)
{
	struct worker *w = arg;
	struct native *nat = w->nat;
	struct epoll_event ev[EVENTS];
	struct conn *c;

	(void)pthread_setname_np(pthread_self(), "mandate-http");
	w->now = w->swept = now_ms();
	while (!atomic_load(&nat->stop)) {
		int n = epoll_wait(w->ep, ev, EVENTS, w->again != NULL ? 0 :
		    w->accept_again != 0 ? ACCEPT_PAUSE_MS : 1000);
		struct conn *again = w->again;

		w->now = now_ms();
		w->again = NULL;
		for (int i = 0; i < n; i++) {
			void *p = ev[i].data.ptr;
			if (p == w)
				take_released(w);
			else if (p == nat)
				do_accept(w);
			else if (!((struct conn *)p)->dead) {
				if (ev[i].events & (EPOLLIN | EPOLLRDHUP |
				    EPOLLHUP | EPOLLERR))
					((struct conn *)p)->drained = false;
				if (ev[i].events & (EPOLLRDHUP | EPOLLHUP |
				    EPOLLERR))
					((struct conn *)p)->rdhup = true;
				conn_run(p);
			}
		}
		while ((c = again) != NULL) {
			again = c->again_next;
			c->again_next = NULL;
			c->queued = false;
			if (c->dead) {
				conn_free(c);
				continue;
			}
			conn_run(c);
		}
		if (w->now - w->swept >= 250 || (w->accept_again != 0 &&
		    w->now >= w->accept_again)) {
			sweep(w);
			w->swept = w->now;
		}
		while ((c = w->dead) != NULL) {
			w->dead = c->ready_next;
			conn_free(c);
		}
	}
	/* stopped: no hold is out (http_server_shutdown waited) */
	while (w->conns != NULL)
		conn_close(w->conns);
	while ((c = w->dead) != NULL) {
		w->dead = c->ready_next;
		conn_free(c);
	}
	while ((c = w->again) != NULL) {
		w->again = c->again_next;
		conn_free(c);
	}
	return NULL;
}

static void
native_free(struct native *nat)
{
	for (unsigned i = 0; i < nat->n_workers; i++) {
		struct worker *w = &nat->workers[i];
		struct conn *c;
		/* given to a worker that had stopped: never served */
		while ((c = w->adopt) != NULL) {
			w->adopt = c->ready_next;
			close(c->fd);
			conn_free(c);
		}
		if (w->ep >= 0)
			close(w->ep);
		if (w->efd >= 0)
			close(w->efd);
		pthread_mutex_destroy(&w->lock);
	}
	if (nat->lfd >= 0)
		close(nat->lfd);
	creds_put(nat->creds);
	if (nat->prio != NULL)
		gnutls_priority_deinit(nat->prio);
	pthread_mutex_destroy(&nat->creds_lock);
	pthread_mutex_destroy(&nat->ip_lock);
	free(nat->ips);
	free(nat->workers);
	free(nat);
}

static void
native_join(struct native *nat)
{
	atomic_store(&nat->stop, 1);
	for (unsigned i = 0; i < nat->n_workers; i++) {
		struct worker *w = &nat->workers[i];
		if (!w->started)
			continue;
		atomic_store(&w->woken, 0);
		wake(w);
		pthread_join(w->tid, NULL);
		w->started = 0;
	}
}

/* t as "2025-01-31T12:00:00Z". */
static void
utc_text(int64_t t, char out[32])
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (gmtime_r(&tt, &tm) == NULL ||
	    strftime(out, 32, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		snprintf(out, 32, "%lld", (long long)t);
}

/* The leaf certificate of t: its SHA-256 (lowercase hex; sha256_hex may
 * be NULL), its notBefore and notAfter (Unix seconds), and (when key is
 * not NULL) its public key's algorithm name and size in bits and the
 * security it gives in symmetric-key bits (RFC 3766 / NIST SP 800-57, as
 * GnuTLS counts it). */
struct leaf_key {
	const char *alg;
	unsigned bits, security;
};

static int
creds_leaf(struct tls_creds *t, char sha256_hex[65], int64_t *not_before,
    int64_t *not_after, struct leaf_key *key)
{
	gnutls_datum_t der = { NULL, 0 };
	gnutls_x509_crt_t crt = NULL;
	unsigned char h[32];
	int r = MANDATE_EINVAL;

	if (gnutls_certificate_get_crt_raw(t->cred, 0, 0, &der) ==
	    GNUTLS_E_SUCCESS &&
	    gnutls_hash_fast(GNUTLS_DIG_SHA256, der.data, der.size, h) == 0 &&
	    gnutls_x509_crt_init(&crt) == GNUTLS_E_SUCCESS &&
	    gnutls_x509_crt_import(crt, &der, GNUTLS_X509_FMT_DER) ==
	    GNUTLS_E_SUCCESS) {
		if (sha256_hex != NULL)
			for (int i = 0; i < 32; i++)
				snprintf(sha256_hex + 2 * i, 3, "%02x", h[i]);
		*not_before = (int64_t)gnutls_x509_crt_get_activation_time(crt);
		*not_after = (int64_t)gnutls_x509_crt_get_expiration_time(crt);
		r = MANDATE_OK;
		if (key != NULL) {
			unsigned bits = 0;
			int pk = gnutls_x509_crt_get_pk_algorithm(crt, &bits);
			const char *name = pk < 0 ? NULL :
			    gnutls_pk_algorithm_get_name(
			    (gnutls_pk_algorithm_t)pk);

			key->alg = name != NULL ? name : "unknown";
			key->bits = bits;
			key->security = pk < 0 ? 0 :
			    gnutls_sec_param_to_symmetric_bits(
			    gnutls_pk_bits_to_sec_param(
			    (gnutls_pk_algorithm_t)pk, bits));
		}
	}
	if (crt != NULL)
		gnutls_x509_crt_deinit(crt);
	return r;
}

/* How far ahead of our clock a leaf's notBefore may be.  A certificate
 * issued a moment ago by a CA whose clock is ahead of ours (notBefore is
 * usually the time of issue) is taken: refused, a renewal followed by
 * SIGHUP would keep the old certificate until the next reload, however
 * close its end.  Five minutes, as TLS clients commonly allow. */
#define TLS_NOT_BEFORE_SKEW 300

/* The least security the server's own certificate key may give, in
 * symmetric-key bits: 112, the floor TLS_VERIFY_PROFILE sets for client
 * certificate chains (RSA-2048, ECDSA P-256, Ed25519).  A weaker key is
 * refused at start and at a reload, as an expired certificate is. */
#define TLS_MIN_SECURITY_BITS 112

/* Credentials from PEM text: the certificate chain and its key, and the
 * client CA bundle (NULL: none).  A leaf that has expired, or is not valid
 * for more than TLS_NOT_BEFORE_SKEW yet, is refused: every client would
 * refuse it, so serving it (or putting it in place of a good one at a
 * reload) only breaks every connection.  On error srv->error says why. */
static int
creds_new(struct http_server *srv, const char *cert_pem, const char *key_pem,
    const char *ca_pem, struct tls_creds **out)
{
	gnutls_datum_t cert = { (unsigned char *)(uintptr_t)cert_pem,
	    (unsigned int)strlen(cert_pem) };
	gnutls_datum_t key = { (unsigned char *)(uintptr_t)key_pem,
	    (unsigned int)strlen(key_pem) };
	struct tls_creds *t;
	struct leaf_key lk = { 0 };
	int64_t not_before = 0, not_after = 0, now;
	int r;

	*out = NULL;
	if ((t = calloc(1, sizeof(*t))) == NULL)
		return MANDATE_ENOMEM;
	atomic_init(&t->refs, 1);
	if ((r = gnutls_certificate_allocate_credentials(&t->cred)) !=
	    GNUTLS_E_SUCCESS) {
		free(t);
		snprintf(srv->error, sizeof(srv->error), "TLS: %s",
		    gnutls_strerror(r));
		return MANDATE_ENOMEM;
	}
	if ((r = gnutls_certificate_set_x509_key_mem(t->cred, &cert, &key,
	    GNUTLS_X509_FMT_PEM)) != GNUTLS_E_SUCCESS) {
		snprintf(srv->error, sizeof(srv->error), "server.tls: the "
		    "certificate chain and key (PEM, unencrypted, the key "
		    "the leaf's) cannot be used: %s", gnutls_strerror(r));
		creds_put(t);
		return MANDATE_EINVAL;
	}
	if (creds_leaf(t, NULL, &not_before, &not_after, &lk) != MANDATE_OK ||
	    not_before == -1 || not_after == -1) {
		snprintf(srv->error, sizeof(srv->error), "server.tls.cert_file "
		    "%s: the leaf certificate's validity cannot be read",
		    srv->cert_path);
		creds_put(t);
		return MANDATE_EINVAL;
	}
	now = (int64_t)time(NULL);
	if (not_after <= now || not_before > now + TLS_NOT_BEFORE_SKEW) {
		char when[32], clock[32];

		utc_text(not_after <= now ? not_after : not_before, when);
		utc_text(now, clock);
		snprintf(srv->error, sizeof(srv->error), "server.tls.cert_file "
		    "%s: the certificate %s %s (the clock says %s); clients "
		    "refuse it", srv->cert_path, not_after <= now ?
		    "expired at" : "is not valid before", when, clock);
		creds_put(t);
		return MANDATE_EINVAL;
	}
	if (lk.security < TLS_MIN_SECURITY_BITS) {
		snprintf(srv->error, sizeof(srv->error), "server.tls.cert_file "
		    "%s: the certificate's %s key of %u bits gives %u bits of "
		    "security, below the %u required (RSA needs 2048 bits, "
		    "ECDSA P-256); the same floor applies to client "
		    "certificates", srv->cert_path, lk.alg, lk.bits,
		    lk.security, TLS_MIN_SECURITY_BITS);
		creds_put(t);
		return MANDATE_EINVAL;
	}
	if (ca_pem != NULL) {
		gnutls_datum_t ca = { (unsigned char *)(uintptr_t)ca_pem,
		    (unsigned int)strlen(ca_pem) };
		if ((r = gnutls_certificate_set_x509_trust_mem(t->cred, &ca,
		    GNUTLS_X509_FMT_PEM)) <= 0) {
			snprintf(srv->error, sizeof(srv->error), "server.tls."
			    "client_ca_file: no CA certificate can be read "
			    "from it%s%s", r < 0 ? ": " : "",
			    r < 0 ? gnutls_strerror(r) : "");
			creds_put(t);
			return MANDATE_EINVAL;
		}
	}
	*out = t;
	return MANDATE_OK;
}

/* What a handshake may negotiate: TLS 1.3 and 1.2; in TLS 1.2 only
 * ECDHE key exchange (forward secrecy; RFC 9325 4.1 and RFC 10015 retire
 * static RSA and finite-field DH) and AEAD ciphers (RFC 9325 4.2: no CBC,
 * no SHA-1 MAC).  NORMAL alone offers TLS_RSA_*, TLS_DHE_RSA_* and
 * *_CBC_SHA1.  TLS 1.3's suites are all AEAD with ephemeral keys. */
#define TLS_PRIORITY "NORMAL:-VERS-ALL:+VERS-TLS1.3:+VERS-TLS1.2:" \
	"-KX-ALL:+ECDHE-ECDSA:+ECDHE-RSA:" \
	"-CIPHER-ALL:+AES-256-GCM:+CHACHA20-POLY1305:+AES-128-GCM:" \
	"-MAC-ALL:+AEAD:%PROFILE_MEDIUM"       /* TLS_VERIFY_PROFILE */

/* The server's credentials, and what a handshake may negotiate
 * (TLS_PRIORITY). */
static int
tls_setup(struct native *nat)
{
	struct http_server *srv = nat->srv;
	int r;

	if ((r = creds_new(srv, srv->cert_pem, srv->key_pem, srv->ca_pem,
	    &nat->creds)) != MANDATE_OK)
		return r;
	if ((r = gnutls_priority_init(&nat->prio, TLS_PRIORITY, NULL)) !=
	    GNUTLS_E_SUCCESS) {
		nat->prio = NULL;
		snprintf(srv->error, sizeof(srv->error), "TLS: %s",
		    gnutls_strerror(r));
		return MANDATE_EINVAL;
	}
	return MANDATE_OK;
}

int
native_tls_reload(struct http_server *srv, const char *cert_pem,
    const char *key_pem, const char *ca_pem)
{
	struct native *nat = srv->native;
	struct tls_creds *t, *old;
	int r;

	if (nat == NULL || nat->creds == NULL)
		return MANDATE_EINVAL;
	if ((r = creds_new(srv, cert_pem, key_pem, ca_pem, &t)) != MANDATE_OK)
		return r;
	pthread_mutex_lock(&nat->creds_lock);
	old = nat->creds;
	nat->creds = t;
	nat->creds_gen++;       /* open connections verify their chain again */
	pthread_mutex_unlock(&nat->creds_lock);
	creds_put(old);     /* freed with the last connection that uses it */
	return MANDATE_OK;
}

int
native_tls_leaf(struct http_server *srv, char sha256_hex[65],
    int64_t *not_after)
{
	struct native *nat = srv->native;
	struct tls_creds *t;
	int64_t not_before;
	int r;

	sha256_hex[0] = '\0';
	*not_after = 0;
	if (nat == NULL || (t = creds_get(nat, NULL)) == NULL)
		return MANDATE_EINVAL;
	if ((r = creds_leaf(t, sha256_hex, &not_before, not_after, NULL)) !=
	    MANDATE_OK) {
		sha256_hex[0] = '\0';
		*not_after = 0;
	}
	creds_put(t);
	return r;
}

int
native_tls_check(struct http_server *srv, const char *cert_pem,
    const char *key_pem, const char *ca_pem)
{
	struct tls_creds *t;
	int r;

	if ((r = creds_new(srv, cert_pem, key_pem, ca_pem, &t)) != MANDATE_OK)
		return r;
	creds_put(t);
	return MANDATE_OK;
}

int
native_start(struct http_server *srv, const struct sockaddr *sa,
    socklen_t salen)
{
	struct native *nat;
	struct sockaddr_storage bound;
	socklen_t bl = sizeof(bound);
	int one = 1, r;

	if ((nat = calloc(1, sizeof(*nat))) == NULL)
		return MANDATE_ENOMEM;
	nat->srv = srv;
	nat->lfd = -1;
	pthread_mutex_init(&nat->ip_lock, NULL);
	pthread_mutex_init(&nat->creds_lock, NULL);
	if ((nat->workers = calloc(srv->cfg.threads,
	    sizeof(*nat->workers))) == NULL) {
		native_free(nat);
		return MANDATE_ENOMEM;
	}
	nat->n_workers = srv->cfg.threads;
	for (unsigned i = 0; i < nat->n_workers; i++) {
		nat->workers[i].ep = nat->workers[i].efd = -1;
		pthread_mutex_init(&nat->workers[i].lock, NULL);
	}
	if (srv->cert_pem != NULL && (r = tls_setup(nat)) != MANDATE_OK) {
		native_free(nat);
		return r;
	}
	nat->lfd = socket(sa->sa_family, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0);
	if (nat->lfd < 0)
		goto fail;
	setsockopt(nat->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	if (sa->sa_family == AF_INET6)
		setsockopt(nat->lfd, IPPROTO_IPV6, IPV6_V6ONLY, &one,
		    sizeof(one));
	if (bind(nat->lfd, sa, salen) != 0 || listen(nat->lfd, SOMAXCONN) != 0 ||
	    getsockname(nat->lfd, (struct sockaddr *)&bound, &bl) != 0) {
		snprintf(srv->error, sizeof(srv->error), "%s",
		    strerror(errno));
		goto fail;
	}
	srv->port = ntohs(bound.ss_family == AF_INET6 ?
	    ((struct sockaddr_in6 *)&bound)->sin6_port :
	    ((struct sockaddr_in *)&bound)->sin_port);
	for (unsigned i = 0; i < nat->n_workers; i++) {
		struct worker *w = &nat->workers[i];
		struct epoll_event ev;
		w->nat = nat;
		if ((w->ep = epoll_create1(EPOLL_CLOEXEC)) < 0 ||
		    (w->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC)) < 0)
			goto fail;
		memset(&ev, 0, sizeof(ev));
		ev.events = EPOLLIN;
		ev.data.ptr = w;
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, w->efd, &ev) != 0)
			goto fail;
		ev.events = EPOLLIN | EPOLLEXCLUSIVE;
		ev.data.ptr = nat;
		if (epoll_ctl(w->ep, EPOLL_CTL_ADD, nat->lfd, &ev) != 0)
			goto fail;
	}
	srv->native = nat;
	for (unsigned i = 0; i < nat->n_workers; i++) {
		if (pthread_create(&nat->workers[i].tid, NULL, worker_main,
		    &nat->workers[i]) != 0)
			goto fail;
		nat->workers[i].started = 1;
	}
	return MANDATE_OK;
fail:
	native_join(nat);
	srv->native = NULL;
	srv->port = 0;
	native_free(nat);
	return MANDATE_EIO;
}

void
native_stop(struct http_server *srv)
{
	struct native *nat = srv->native;

	native_join(nat);
	srv->native = NULL;
	native_free(nat);
}

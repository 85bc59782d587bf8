/*
 * http_wire_test.c - the plain-HTTP engine (http_native.c) on the wire,
 * with raw sockets: what a well-behaved client library never sends
 * (pipelined requests, a head a byte at a time, smuggling attempts,
 * chunked bodies with extensions and trailers, 100-continue, HTTP/1.0,
 * leading empty lines), and the connection limits and idle timeout.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "server/http.h"
#include "util/status.h"

/* ---- handlers ---- */

static void
h_echo(struct http_request *req, void *arg)
{
	(void)arg;
	http_respond(req, 200, "application/octet-stream", req->body.p,
	    req->body.n);
}

static void
h_hello(struct http_request *req, void *arg)
{
	struct str q = http_request_query(req, "q");
	char buf[256];
	int n;

	(void)arg;
	n = snprintf(buf, sizeof(buf), "hello %s q=%.*s",
	    http_request_header(req, "X-Who") != NULL ?
	    http_request_header(req, "X-Who") : "-", (int)q.n,
	    q.p != NULL ? q.p : "");
	http_respond(req, 200, "text/plain", buf, (size_t)n);
}

struct release {
	struct http_hold *h;
	int ms;
};

static void *
release_later(void *p)
{
	struct release *r = p;
	struct timespec ts = { 0, (long)r->ms * 1000000L };

	nanosleep(&ts, NULL);
	http_release(r->h, true);
	free(r);
	return NULL;
}

/* Hold req's answer (body) and release it ms later from another thread. */
static void
hold_answer(struct http_request *req, int ms, const char *body)
{
	struct release *r = malloc(sizeof(*r));
	pthread_t t;

	assert_non_null(r);
	assert_int_equal(http_hold_fallback(req, 503, "text/plain", "fb", 2),
	    0);
	r->h = http_hold(req);
	r->ms = ms;
	assert_non_null(r->h);
	http_respond(req, 200, "text/plain", body, strlen(body));
	assert_int_equal(pthread_create(&t, NULL, release_later, r), 0);
	pthread_detach(t);
}

/* Answers "held", released 150 ms later. */
static void
h_hold(struct http_request *req, void *arg)
{
	(void)arg;
	hold_answer(req, 150, "held");
}

/* Answers "quick", released at once (while the worker is still in the
 * turn that ran the handler). */
static void
h_hold0(struct http_request *req, void *arg)
{
	(void)arg;
	hold_answer(req, 0, "quick");
}

static struct http_server *
start(struct http_config *cfg)
{
	struct http_server *srv = NULL;

	assert_int_equal(http_server_new(cfg, &srv, NULL, 0), MANDATE_OK);
	assert_int_equal(http_server_route(srv, "POST", "/echo", h_echo,
	    NULL), 0);
	assert_int_equal(http_server_route(srv, "GET", "/hello", h_hello,
	    NULL), 0);
	assert_int_equal(http_server_route(srv, "GET", "/hold", h_hold,
	    NULL), 0);
	assert_int_equal(http_server_route(srv, "GET", "/hold0", h_hold0,
	    NULL), 0);
	assert_int_equal(http_server_start(srv), MANDATE_OK);
	return srv;
}

/* ---- a raw client ---- */

static void
pause_ms(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	nanosleep(&ts, NULL);
}

static int
dial(uint16_t port)
{
	struct sockaddr_in sin;
	int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;

	assert_true(fd >= 0);
	memset(&sin, 0, sizeof(sin));
	sin.sin_family = AF_INET;
	sin.sin_port = htons(port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(connect(fd, (struct sockaddr *)&sin, sizeof(sin)),
	    0);
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static void
put(int fd, const char *s, size_t n)
{
	while (n > 0) {
		ssize_t k = send(fd, s, n, MSG_NOSIGNAL);
		assert_true(k > 0);
		s += k;
		n -= (size_t)k;
	}
}

static void
puts_(int fd, const char *s)
{
	put(fd, s, strlen(s));
}

/* Wait up to ms for data, then read what has come: the bytes read.
 * *closed: the peer closed (EOF or reset). */
static size_t
drain(int fd, char *out, size_t cap, int ms, int *closed)
{
	size_t n = 0;

	*closed = 0;
	for (;;) {
		struct pollfd p = { fd, POLLIN, 0 };
		ssize_t k;
		if (poll(&p, 1, n == 0 ? ms : 0) <= 0)
			break;
		k = recv(fd, out + n, cap - 1 - n, 0);
		if (k <= 0) {
			*closed = 1;
			break;
		}
		n += (size_t)k;
		if (n == cap - 1)
			break;
	}
	out[n] = '\0';
	return n;
}

/* One response off the stream: status, and its body into body. */
struct resp {
	int status;
	char head[2048];
	char body[8192];
	size_t body_len;
};

static char stream[65536];
static size_t stream_n, stream_at;

static int
next_response(int fd, struct resp *r, int ms)
{
	char *e, *cl;
	size_t hl, blen;
	int closed;

	memset(r, 0, sizeof(*r));
	for (;;) {
		e = memmem(stream + stream_at, stream_n - stream_at,
		    "\r\n\r\n", 4);
		if (e != NULL)
			break;
		if (drain(fd, stream + stream_n, sizeof(stream) - stream_n,
		    ms, &closed) == 0) {
			(void)closed;
			return -1;
		}
		stream_n += strlen(stream + stream_n);
	}
	hl = (size_t)(e - (stream + stream_at)) + 4;
	assert_true(hl < sizeof(r->head));
	memcpy(r->head, stream + stream_at, hl);
	r->head[hl] = '\0';
	r->status = atoi(r->head + 9);
	stream_at += hl;
	cl = strcasestr(r->head, "\r\nContent-Length: ");
	blen = cl != NULL ? (size_t)atol(cl + 18) : 0;
	if (strncmp(r->head + 9, "100", 3) == 0 ||
	    strstr(r->head, "X-Head-Request") != NULL)
		blen = 0;
	while (stream_n - stream_at < blen) {
		size_t k = drain(fd, stream + stream_n,
		    sizeof(stream) - stream_n, ms, &closed);
		if (k == 0)
			return -1;
		stream_n += k;
	}
	memcpy(r->body, stream + stream_at, blen);
	r->body_len = blen;
	stream_at += blen;
	return 0;
}

static void
stream_reset(void)
{
	stream_n = stream_at = 0;
}

/* Status of one request on a new connection; *closed: the server closed
 * it after answering. */
static int
one_shot(uint16_t port, const char *req, size_t n, int *closed,
    struct resp *r)
{
	int fd = dial(port);
	char rest[256];

	stream_reset();
	put(fd, req, n);
	if (next_response(fd, r, 2000) != 0) {
		close(fd);
		*closed = 1;
		return -1;
	}
	drain(fd, rest, sizeof(rest), 300, closed);
	close(fd);
	return r->status;
}

#define ONE_SHOT(port, req, closed, r) \
	one_shot((port), (req), strlen(req), (closed), (r))

/* ---- tests ---- */

static void
test_pipelined_and_split(void **state)
{
	struct http_config cfg = { .threads = 1 };
	struct http_server *srv = start(&cfg);
	uint16_t port = http_server_port(srv);
	const char *two = "GET /hello?q=1 HTTP/1.1\r\nHost: x\r\n\r\n"
	    "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nabcde"
	    "HEAD /hello HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /hello?q=4 HTTP/1.1\r\nHost: x\r\nX-Who: me\r\n\r\n";
	const char *slow = "\r\n\r\nGET /hello?q=%41 HTTP/1.1\r\nHost: x\r\n"
	    "X-Who:   spaced\t \r\n\r\n";
	struct resp r;
	int fd, closed;

	(void)state;
	/* four requests in one write, answered in order */
	fd = dial(port);
	stream_reset();
	puts_(fd, two);
	assert_int_equal(next_response(fd, &r, 2000), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "hello - q=1");
	assert_int_equal(next_response(fd, &r, 2000), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "abcde");
	/* HEAD: the length of the GET answer, no body (the next answer
	 * follows at once) */
	{
		char *e;
		/* until both heads are in */
		while ((e = memmem(stream + stream_at, stream_n - stream_at,
		    "\r\n\r\n", 4)) == NULL || memmem(e + 4,
		    stream_n - (size_t)(e + 4 - stream), "\r\n\r\n", 4) ==
		    NULL) {
			assert_true(drain(fd, stream + stream_n,
			    sizeof(stream) - stream_n, 2000, &closed) > 0);
			stream_n += strlen(stream + stream_n);
		}
		assert_non_null(strstr(stream + stream_at,
		    "Content-Length: 10\r\n"));
		stream_at = (size_t)(e - stream) + 4;
		assert_memory_equal(stream + stream_at, "HTTP/1.1 200", 12);
	}
	assert_int_equal(next_response(fd, &r, 2000), 0);
	assert_string_equal(r.body, "hello me q=4");
	assert_non_null(strstr(r.head, "X-Request-ID: "));
	assert_non_null(strstr(r.head, "Date: "));

	/* 40 in one write: past the 16 a connection is served in one turn,
	 * so it yields and comes back; all answered, in order */
	{
		static char many[40 * 64];
		size_t n = 0;
		for (int i = 0; i < 40; i++)
			n += (size_t)snprintf(many + n, sizeof(many) - n,
			    "GET /hello?q=%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
		stream_reset();
		put(fd, many, n);
		for (int i = 0; i < 40; i++) {
			char want[32];
			snprintf(want, sizeof(want), "hello - q=%d", i);
			assert_int_equal(next_response(fd, &r, 2000), 0);
			assert_string_equal(r.body, want);
		}
	}

	/* a head a byte at a time, after empty lines (ignored) */
	stream_reset();
	for (const char *p = slow; *p != '\0'; p++) {
		struct timespec ts = { 0, 200000 };
		put(fd, p, 1);
		nanosleep(&ts, NULL);
	}
	assert_int_equal(next_response(fd, &r, 2000), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "hello spaced q=A");
	close(fd);
	http_server_free(srv);
}

static void
test_chunked_and_continue(void **state)
{
	struct http_config cfg = { .max_body = 64 };
	struct http_server *srv = start(&cfg);
	uint16_t port = http_server_port(srv);
	struct resp r;
	int fd, closed;
	char big[200];

	(void)state;
	fd = dial(port);
	stream_reset();
	puts_(fd, "POST /echo HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\n"
	    "3;ext=1\r\nabc\r\nA\r\n0123456789\r\n0\r\nX-Trailer: t\r\n\r\n");
	assert_int_equal(next_response(fd, &r, 2000), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "abc0123456789");

	/* 100-continue: the interim answer, then the body */
	puts_(fd, "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
	    "Content-Length: 4\r\n\r\n");
	assert_int_equal(next_response(fd, &r, 2000), 0);
	assert_int_equal(r.status, 100);
	puts_(fd, "body");
	assert_int_equal(next_response(fd, &r, 2000), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "body");
	close(fd);

	/* a chunked body past max_body: 413, the connection closes, and
	 * the client reads the answer (no reset) */
	memset(big, 'z', sizeof(big));
	fd = dial(port);
	stream_reset();
	puts_(fd, "POST /echo HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\nC8\r\n");
	put(fd, big, sizeof(big));
	puts_(fd, "\r\n0\r\n\r\n");
	assert_int_equal(next_response(fd, &r, 2000), 0);
	assert_int_equal(r.status, 413);
	assert_non_null(strstr(r.head, "Connection: close"));
	close(fd);
	/* a client that goes on sending after its 413 is read from for a
	 * while (so that it reads the answer), then cut off */
	fd = dial(port);
	stream_reset();
	puts_(fd, "POST /echo HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\nFFFFFFF\r\n");
	put(fd, big, sizeof(big));
	assert_int_equal(next_response(fd, &r, 2000), 0);
	assert_int_equal(r.status, 413);
	{
		static char junk[65536];
		size_t sent = 0;
		ssize_t k = 1;
		memset(junk, 'j', sizeof(junk));
		while (sent < (64u << 20) && k > 0) {
			k = send(fd, junk, sizeof(junk), MSG_NOSIGNAL);
			if (k > 0)
				sent += (size_t)k;
		}
		assert_true(k < 0);             /* cut off */
		assert_true(sent < (16u << 20));
	}
	close(fd);
	/* Content-Length past max_body: 413 before the body */
	assert_int_equal(ONE_SHOT(port, "POST /echo HTTP/1.1\r\nHost: x\r\n"
	    "Content-Length: 65\r\n\r\n", &closed, &r), 413);
	assert_true(closed);
	/* a bad chunk */
	assert_int_equal(ONE_SHOT(port, "POST /echo HTTP/1.1\r\nHost: x\r\n"
	    "Transfer-Encoding: chunked\r\n\r\nzz\r\n", &closed, &r),
	    400);
	http_server_free(srv);
}

static void
test_refused_heads(void **state)
{
	struct http_config cfg = { .connection_memory = 4096 };
	struct http_server *srv = start(&cfg);
	uint16_t port = http_server_port(srv);
	/* closes: answered, then closed, since the request could not be
	 * read whole (the others are refused by routing, keep-alive) */
	static const struct {
		const char *req;
		int status;
	} cases[] = {
		/* smuggling: both framings, or a framing twice */
		{ "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
		  "Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400 },
		{ "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n"
		  "Content-Length: 4\r\n\r\nabcd", 400 },
		{ "POST /echo HTTP/1.1\r\nHost: x\r\n"
		  "Transfer-Encoding: gzip, chunked\r\n\r\n", 501 },
		{ "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n"
		  "\r\nabc", 400 },
		{ "GET /hello HTTP/1.1\r\nHost: x\r\nX: a\r\n b\r\n\r\n", 400 },
		{ "GET /hello HTTP/1.1\nHost: x\n\n", 400 },  /* LF alone */
		{ "GET /hello HTTP/1.1\r\n\r\n", 400 },        /* no Host */
		{ "GET /hello HTTP/2.0\r\nHost: x\r\n\r\n", 505 },
		{ "GET http://u@x/hello HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET /hello HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n",
		  417 },
		{ "GET /he\x01llo HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET /a%2Fb HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "GET /hello?q=%zz HTTP/1.1\r\nHost: x\r\n\r\n", 400 },
		{ "POST /hello HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n"
		  "\r\n", 405 },
		/* a method no route has: not implemented (RFC 9110 9.1) */
		{ "PUT /hello HTTP/1.1\r\nHost: x\r\n\r\n", 501 },
		{ "get /hello HTTP/1.1\r\nHost: x\r\n\r\n", 501 },
		{ "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n", 404 },
	};
	struct resp r;
	char *big;
	int closed;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		int st = one_shot(port, cases[i].req, strlen(cases[i].req),
		    &closed, &r);
		if (st != cases[i].status)
			fail_msg("case %zu: %d, not %d", i, st,
			    cases[i].status);
		/* a request that could not be read whole closes; one
		 * refused by routing does not */
		if (i < 11)
			assert_true(closed);
		else
			assert_false(closed);
	}
	/* absolute-form (RFC 9112 3.2.2): the same resource as its path */
	assert_int_equal(ONE_SHOT(port, "GET http://x/hello HTTP/1.1\r\n"
	    "Host: x\r\n\r\n", &closed, &r), 200);
	/* a head past server.connection_memory: 431 */
	big = malloc(8192);
	assert_non_null(big);
	snprintf(big, 8192, "GET /hello HTTP/1.1\r\nHost: x\r\nX-Big: %0*d"
	    "\r\n\r\n", 5000, 0);
	assert_int_equal(one_shot(port, big, strlen(big), &closed, &r), 431);
	assert_true(closed);
	free(big);
	http_server_free(srv);
}

static void
test_http10_and_close(void **state)
{
	struct http_config cfg = { 0 };
	struct http_server *srv = start(&cfg);
	uint16_t port = http_server_port(srv);
	struct resp r;
	int fd, closed;
	char rest[64];

	(void)state;
	/* 1.0 without keep-alive: answered, then closed */
	assert_int_equal(ONE_SHOT(port, "GET /hello HTTP/1.0\r\n\r\n",
	    &closed, &r), 200);
	assert_non_null(strstr(r.head, "Connection: close"));
	assert_true(closed);
	/* 1.0 with keep-alive: stays open */
	fd = dial(port);
	stream_reset();
	puts_(fd, "GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	assert_int_equal(next_response(fd, &r, 2000), 0);
	assert_non_null(strstr(r.head, "Connection: keep-alive"));
	puts_(fd, "GET /hello?q=2 HTTP/1.0\r\nConnection: keep-alive\r\n\r\n");
	assert_int_equal(next_response(fd, &r, 2000), 0);
	assert_string_equal(r.body, "hello - q=2");
	close(fd);
	/* 1.1 with Connection: close */
	assert_int_equal(ONE_SHOT(port, "GET /hello HTTP/1.1\r\nHost: x\r\n"
	    "Connection: close\r\n\r\n", &closed, &r), 200);
	assert_true(closed);
	/* a peer that goes away mid-head leaves nothing behind */
	fd = dial(port);
	puts_(fd, "GET /hel");
	close(fd);
	fd = dial(port);
	stream_reset();
	puts_(fd, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(next_response(fd, &r, 2000), 0);
	assert_int_equal(drain(fd, rest, sizeof(rest), 100, &closed), 0);
	assert_false(closed);
	close(fd);
	http_server_free(srv);
}

static void
test_held_in_order(void **state)
{
	struct http_config cfg = { .threads = 1 };
	struct http_server *srv = start(&cfg);
	uint16_t port = http_server_port(srv);
	struct resp r;
	struct timespec t0, t1;
	int fd, fd2;

	(void)state;
	/* a held answer, and a request pipelined behind it: in order */
	fd = dial(port);
	stream_reset();
	clock_gettime(CLOCK_MONOTONIC, &t0);
	puts_(fd, "GET /hold HTTP/1.1\r\nHost: x\r\n\r\n"
	    "GET /hello?q=after HTTP/1.1\r\nHost: x\r\n\r\n");
	/* meanwhile the one worker serves another connection */
	fd2 = dial(port);
	{
		char buf[1024];
		int closed;
		puts_(fd2, "GET /hello?q=other HTTP/1.1\r\nHost: x\r\n\r\n");
		assert_true(drain(fd2, buf, sizeof(buf), 100, &closed) > 0);
		assert_non_null(strstr(buf, "q=other"));
		clock_gettime(CLOCK_MONOTONIC, &t1);
		assert_true((t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000 < 140);
	}
	assert_int_equal(next_response(fd, &r, 2000), 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.body, "held");
	assert_int_equal(next_response(fd, &r, 2000), 0);
	assert_string_equal(r.body, "hello - q=after");
	close(fd);
	close(fd2);
	http_server_free(srv);
}

/* Many connections on one worker, each pipelining more requests than a
 * turn serves (so that it waits on the worker's again list), one in
 * eight held and released at once: every answer comes, in order.  (The
 * race this once lost, a connection held and released while on the again
 * list, which dropped the rest of that list, needs longer turns to show:
 * tests/e2e/test_http_engine.py reproduces it against the daemon.) */
#define PIPE_CONNS 40
#define PIPE_REQS 120

static void
test_pipelines_with_quick_holds(void **state)
{
	struct http_config cfg = { .threads = 1 };
	struct http_server *srv = start(&cfg);
	uint16_t port = http_server_port(srv);
	static char reqs[PIPE_REQS * 48];
	int fd[PIPE_CONNS];
	size_t n = 0, at[PIPE_CONNS] = { 0 };
	struct resp r;

	(void)state;
	for (int i = 0; i < PIPE_REQS; i++)
		n += (size_t)snprintf(reqs + n, sizeof(reqs) - n, i % 8 == 5 ?
		    "GET /hold0 HTTP/1.1\r\nHost: x\r\n\r\n" :
		    "GET /hello?q=%d HTTP/1.1\r\nHost: x\r\n\r\n", i);
	for (int c = 0; c < PIPE_CONNS; c++)
		fd[c] = dial(port);
	/* in pieces of 500 bytes, the connections interleaved */
	for (bool more = true; more;) {
		more = false;
		for (int c = 0; c < PIPE_CONNS; c++) {
			size_t k = n - at[c] < 500 ? n - at[c] : 500;

			if (k == 0)
				continue;
			put(fd[c], reqs + at[c], k);
			at[c] += k;
			more = true;
		}
	}
	for (int c = 0; c < PIPE_CONNS; c++) {
		stream_reset();
		for (int i = 0; i < PIPE_REQS; i++) {
			char want[32];

			if (next_response(fd[c], &r, 3000) != 0)
				fail_msg("connection %d: no answer %d of %d", c,
				    i + 1, PIPE_REQS);
			assert_int_equal(r.status, 200);
			if (i % 8 == 5)
				snprintf(want, sizeof(want), "quick");
			else
				snprintf(want, sizeof(want), "hello - q=%d", i);
			assert_string_equal(r.body, want);
		}
		close(fd[c]);
	}
	http_server_free(srv);
}

static void
test_limits_and_timeout(void **state)
{
	struct http_config cfg = { .max_connections = 2, .timeout_s = 1 };
	struct http_config cfg2 = { .max_per_ip = 1 };
	struct http_server *srv = start(&cfg);
	uint16_t port = http_server_port(srv);
	struct resp r;
	int a, b, c, closed;
	char buf[256];

	(void)state;
	/* (each connection is in before the next: two workers accept) */
	a = dial(port);
	stream_reset();
	puts_(a, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(next_response(a, &r, 2000), 0);
	b = dial(port);
	pause_ms(100);
	c = dial(port);         /* over the limit: closed at once */
	assert_int_equal(drain(c, buf, sizeof(buf), 1000, &closed), 0);
	assert_true(closed);
	close(c);
	/* idle past server.request_timeout (1 s): closed */
	assert_int_equal(drain(b, buf, sizeof(buf), 3500, &closed), 0);
	assert_true(closed);
	close(a);
	close(b);

	/* a head that trickles in, a byte every 200 ms: closed once the
	 * request is 1 s old, though bytes keep coming */
	a = dial(port);
	{
		static const char slow[] = "GET /hello HTTP/1.1\r\nX-Slow: "
		    "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
		struct timespec t0, t1;
		long ms = 0;
		clock_gettime(CLOCK_MONOTONIC, &t0);
		for (size_t i = 0; i < sizeof(slow) - 1; i++) {
			if (send(a, slow + i, 1, MSG_NOSIGNAL) != 1)
				break;
			if (drain(a, buf, sizeof(buf), 200, &closed) == 0 &&
			    closed)
				break;
		}
		clock_gettime(CLOCK_MONOTONIC, &t1);
		ms = (t1.tv_sec - t0.tv_sec) * 1000 +
		    (t1.tv_nsec - t0.tv_nsec) / 1000000;
		assert_true(closed);
		assert_true(ms >= 900 && ms < 3500);
	}
	close(a);
	http_server_free(srv);

	srv = start(&cfg2);
	port = http_server_port(srv);
	a = dial(port);
	pause_ms(100);
	b = dial(port);         /* a second from 127.0.0.1: closed */
	assert_int_equal(drain(b, buf, sizeof(buf), 1000, &closed), 0);
	assert_true(closed);
	close(b);
	stream_reset();
	puts_(a, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(next_response(a, &r, 2000), 0);
	assert_int_equal(r.status, 200);
	close(a);
	/* and its slot is given back */
	pause_ms(100);
	a = dial(port);
	stream_reset();
	puts_(a, "GET /hello HTTP/1.1\r\nHost: x\r\n\r\n");
	assert_int_equal(next_response(a, &r, 2000), 0);
	assert_int_equal(r.status, 200);
	close(a);
	http_server_free(srv);
}

/* Mangled requests, cut at random points, over many connections: the
 * server answers or closes each, and still serves a good request after
 * (run under ASan and TSan, this is the engine's state machine fuzzed). */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static void
test_mangled(void **state)
{
	struct http_config cfg = { .max_body = 512, .connection_memory = 4096,
	    .timeout_s = 2 };
	struct http_server *srv = start(&cfg);
	uint16_t port = http_server_port(srv);
	static const char *const seeds[] = {
		"GET /hello?q=1 HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n"
		    "abcde",
		"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
		    "\r\n\r\n3;x\r\nabc\r\n0\r\nT: 1\r\n\r\n",
		"GET /hold HTTP/1.1\r\nHost: x\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\n"
		    "Content-Length: 2\r\n\r\nhi",
		"GET /hello HTTP/1.0\r\nConnection: keep-alive\r\n\r\n",
	};
	static const char bytes[] = "\r\n :;?%/0123456789aAfFzZ\t\x00\x7f\xff";
	uint64_t seed = 0x9e3779b97f4a7c15ull;
	char buf[2048], out[4096];
	struct resp r;
	int closed;

	(void)state;
	for (int i = 0; i < 300; i++) {
		int fd = dial(port);
		size_t n = 0;
		/* a few requests back to back, each mangled a little */
		for (int k = 0; k < 1 + (int)(rnd(&seed) % 3); k++) {
			const char *sd = seeds[rnd(&seed) % 6];
			size_t len = strlen(sd);
			if (n + len >= sizeof(buf))
				break;
			memcpy(buf + n, sd, len);
			for (int m = (int)(rnd(&seed) % 4); m > 0 && len > 0;
			    m--) {
				size_t at = n + rnd(&seed) % len;
				switch (rnd(&seed) % 3) {
				case 0:         /* replace a byte */
					buf[at] = bytes[rnd(&seed) %
					    (sizeof(bytes) - 1)];
					break;
				case 1:         /* drop the rest */
					len = at - n;
					break;
				default:        /* double a byte */
					if (n + len + 1 < sizeof(buf)) {
						memmove(buf + at + 1, buf + at,
						    n + len - at);
						len++;
					}
				}
			}
			n += len;
		}
		/* sent in random pieces */
		for (size_t o = 0; o < n;) {
			size_t piece = 1 + rnd(&seed) % 64;
			if (piece > n - o)
				piece = n - o;
			if (send(fd, buf + o, piece, MSG_NOSIGNAL) <= 0)
				break;
			o += piece;
		}
		if (rnd(&seed) % 2)
			shutdown(fd, SHUT_WR);
		/* whatever comes back must be HTTP/1.1 answers */
		if (drain(fd, out, sizeof(out), 50, &closed) > 0)
			assert_memory_equal(out, "HTTP/1.1 ", 9);
		close(fd);
	}
	/* still serving */
	assert_int_equal(ONE_SHOT(port, "GET /hello?q=ok HTTP/1.1\r\n"
	    "Host: x\r\n\r\n", &closed, &r), 200);
	assert_string_equal(r.body, "hello - q=ok");
	http_server_free(srv);      /* and stops with nothing left over */
}

/* Out of descriptors: the server neither spins on its listening socket
 * nor stops listening for good. */
static long
cpu_ms(void)
{
	struct rusage ru;

	getrusage(RUSAGE_SELF, &ru);
	return (ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000L +
	    (ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1000L;
}

static void
test_out_of_descriptors(void **state)
{
	struct http_config cfg = { 0 };
	struct http_server *srv = start(&cfg);
	uint16_t port = http_server_port(srv);
	struct rlimit old, low;
	int fds[12], probe, n0 = 0, closed;
	long before, used;
	struct resp r;

	(void)state;
	/* our 12 sockets first, then room for 4 more descriptors only: the
	 * server runs out after accepting 4 of the 12 connections */
	for (int i = 0; i < 12; i++)
		assert_true((fds[i] = socket(AF_INET, SOCK_STREAM, 0)) >= 0);
	probe = dup(0);
	assert_true(probe >= 0);
	n0 = probe;         /* the lowest free one */
	close(probe);
	assert_int_equal(getrlimit(RLIMIT_NOFILE, &old), 0);
	low = old;
	low.rlim_cur = (rlim_t)n0 + 4;
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &low), 0);
	for (int i = 0; i < 12; i++) {
		struct sockaddr_in sin;
		memset(&sin, 0, sizeof(sin));
		sin.sin_family = AF_INET;
		sin.sin_port = htons(port);
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		assert_int_equal(connect(fds[i], (struct sockaddr *)&sin,
		    sizeof(sin)), 0);
	}
	pause_ms(200);
	before = cpu_ms();
	pause_ms(500);
	used = cpu_ms() - before;
	if (used > 150)
		fail_msg("%ld ms of CPU in 500 ms while out of descriptors",
		    used);
	for (int i = 0; i < 12; i++)
		close(fds[i]);
	assert_int_equal(setrlimit(RLIMIT_NOFILE, &old), 0);
	pause_ms(300);
	/* listening again */
	assert_int_equal(ONE_SHOT(port, "GET /hello HTTP/1.1\r\nHost: x\r\n"
	    "\r\n", &closed, &r), 200);
	http_server_free(srv);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_pipelined_and_split),
		cmocka_unit_test(test_chunked_and_continue),
		cmocka_unit_test(test_refused_heads),
		cmocka_unit_test(test_http10_and_close),
		cmocka_unit_test(test_held_in_order),
		cmocka_unit_test(test_pipelines_with_quick_holds),
		cmocka_unit_test(test_limits_and_timeout),
		cmocka_unit_test(test_mangled),
		cmocka_unit_test(test_out_of_descriptors),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

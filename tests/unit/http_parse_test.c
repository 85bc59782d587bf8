/*
 * http_parse_test.c - the native engine's HTTP/1.1 parsers
 * (src/server/http_parse.h): which request heads are taken and what they
 * say, which are refused and with which status, and chunked bodies
 * decoded whole, byte by byte and cut at every point, with errors at the
 * byte where they are, and a randomized encode/decode round trip.
 *
 * Every input is handed over as a heap copy of exactly its size, so that
 * under ASan a read past the end of a head or of a piece is a failure.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http.h"
#include "server/http_parse.h"

/* the longest target, as http_parse.h promises */
#define MAX_TARGET HTTP_MAX_PATH

/* a literal and its length, NULs inside included */
#define L(s) s, sizeof(s) - 1

static char *
copy(const char *p, size_t n)
{
	char *b = malloc(n > 0 ? n : 1);

	assert_non_null(b);
	memcpy(b, p, n);
	return b;
}

/* Parse a heap copy of in[0..n), which must be one whole head as
 * http_head_length() measures it, or end early at a LF without its CR or
 * a CR without its LF (then what was measured is parsed, and must be
 * refused); *buf (to
 * free) holds h's strings. */
static unsigned
parse(const char *in, size_t n, struct http_head *h, char **buf)
{
	size_t hl = http_head_length(in, n);
	unsigned st;

	if (hl != n && !(hl > 0 && hl < n && ((in[hl - 1] == '\n' &&
	    (hl == 1 || in[hl - 2] != '\r')) || (hl >= 2 &&
	    in[hl - 2] == '\r' && in[hl - 1] != '\n'))))
		fail_msg("head length %zu, not %zu: '%.*s'", hl, n, (int)n,
		    in);
	*buf = copy(in, hl);
	st = http_head_parse(*buf, hl, h);
	if (hl != n && st != 400)
		fail_msg("a head cut at a bare LF or CR: %u, not 400", st);
	return st;
}

static bool
inside(const char *p, const char *buf, size_t n)
{
	return p >= buf && p < buf + n;
}

/* ---- http_head_length ---- */

static void
test_head_length(void **state)
{
	static const struct {
		const char *in;
		size_t n;
		size_t want;
	} cases[] = {
		{ L(""), 0 },
		{ L("\r"), 0 },
		{ L("\r\n"), 2 },               /* the empty line alone */
		{ L("\r\n\r\n"), 2 },           /* ... and what follows it */
		{ L("\r\nGET"), 2 },
		{ L("GET / HTTP/1.1"), 0 },
		{ L("GET / HTTP/1.1\r\n"), 0 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\n"), 0 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\n\r"), 0 },
		/* a LF alone ends a (malformed) head at once */
		{ L("GET / HTTP/1.1\r\nHost: a\n\n"), 24 },
		{ L("GET / HTTP/1.1\nHost: a\r\n\r\n"), 15 },
		{ L("\n"), 1 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\n\n"), 26 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), 27 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\n\r\nbody"), 27 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\n\r\n\r\n\r\n"), 27 },
		{ L("GET /\0 HTTP/1.1\r\n\r\n"), 19 },
		/* and so does a CR without its LF, with the byte after it */
		{ L("\rX"), 2 },
		{ L("GET / HTTP/1.1\rHost: a\r\n\r\n"), 16 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\r\n\r\n"), 25 },
		{ L("GET / HTTP/1.1\r\nHo\rst"), 20 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\n\r\r"), 27 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		char *b = copy(cases[i].in, cases[i].n);
		size_t got = http_head_length(b, cases[i].n);

		if (got != cases[i].want)
			fail_msg("case %zu: %zu, want %zu", i, got,
			    cases[i].want);
		/* every shorter prefix of a complete head is incomplete
		 * (the empty line of its own excepted) */
		for (size_t k = 0; cases[i].want > 2 && k < cases[i].want; k++)
			assert_int_equal(http_head_length(b, k), 0);
		/* a byte at a time, or three, resuming where the last call
		 * stopped: at each step what a measure from the start gives,
		 * and for these the same end */
		for (size_t step = 1; step <= 3; step += 2) {
			size_t scan = 0, k = 0, at = 0;

			for (k = 0; k <= cases[i].n; k += step) {
				at = http_head_length_more(b, k, &scan);
				assert_int_equal(at, http_head_length(b, k));
				if (at != 0)
					break;
			}
			if (at == 0)
				at = http_head_length_more(b, cases[i].n,
				    &scan);
			if (at != cases[i].want)
				fail_msg("case %zu in pieces of %zu: %zu, want "
				    "%zu", i, step, at, cases[i].want);
		}
		free(b);
	}
}

/* ---- heads that are taken ---- */

#define KEEP    0x01
#define CHUNKED 0x02
#define LENGTH  0x04
#define EXPECT  0x08

static void
test_head_ok(void **state)
{
	static const struct {
		const char *in;
		size_t n;
		const char *method, *target;
		unsigned minor;
		size_t n_headers;
		int flags;
		uint64_t length;
	} cases[] = {
		{ L("GET / HTTP/1.1\r\nHost: a\r\n\r\n"), "GET", "/", 1, 1,
		    KEEP, 0 },
		{ L("POST /v1/access/evaluation?x=1&y=%20 HTTP/1.1\r\n"
		    "Host: example.com:8080\r\nContent-Length: 5\r\n"
		    "Content-Type: application/json\r\n\r\n"), "POST",
		    "/v1/access/evaluation?x=1&y=%20", 1, 3, KEEP | LENGTH, 5 },
		{ L("M-SEARCH /a/b/ HTTP/1.1\r\nHost: a\r\n\r\n"), "M-SEARCH",
		    "/a/b/", 1, 1, KEEP, 0 },
		{ L("!#$%&'*+-.^_`|~09azAZ /~:@!$&'()*+,;=?/ HTTP/1.1\r\n"
		    "Host: a\r\n\r\n"), "!#$%&'*+-.^_`|~09azAZ",
		    "/~:@!$&'()*+,;=?/", 1, 1, KEEP, 0 },
		/* Host values of RFC 9110 7.2 / RFC 3986 3.2.2 (trailing
		 * whitespace is not part of a value) */
		{ L("GET / HTTP/1.1\r\nHost: \r\n\r\n"), "GET", "/", 1, 1,
		    KEEP, 0 },
		{ L("GET / HTTP/1.1\r\nHost: example.com\r\n\r\n"), "GET", "/", 1, 1,
		    KEEP, 0 },
		{ L("GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n"), "GET", "/", 1, 1,
		    KEEP, 0 },
		{ L("GET / HTTP/1.1\r\nHost: 127.0.0.1:1\r\n\r\n"), "GET", "/", 1, 1,
		    KEEP, 0 },
		{ L("GET / HTTP/1.1\r\nHost: a:\r\n\r\n"), "GET", "/", 1, 1,
		    KEEP, 0 },
		{ L("GET / HTTP/1.1\r\nHost: [::1]\r\n\r\n"), "GET", "/", 1, 1,
		    KEEP, 0 },
		{ L("GET / HTTP/1.1\r\nHost: [::1]:8443\r\n\r\n"), "GET", "/", 1, 1,
		    KEEP, 0 },
		{ L("GET / HTTP/1.1\r\nHost: [2001:db8::7]\r\n\r\n"), "GET", "/", 1, 1,
		    KEEP, 0 },
		{ L("GET / HTTP/1.1\r\nHost: [::ffff:192.0.2.1]:80\r\n\r\n"), "GET", "/", 1, 1,
		    KEEP, 0 },
		{ L("GET / HTTP/1.1\r\nHost: [v1.x:y]\r\n\r\n"), "GET", "/", 1, 1,
		    KEEP, 0 },
		{ L("GET / HTTP/1.1\r\nHost: [V7f.a]\r\n\r\n"), "GET", "/", 1, 1,
		    KEEP, 0 },
		{ L("GET / HTTP/1.1\r\nHost: a%20b\r\n\r\n"), "GET", "/", 1, 1,
		    KEEP, 0 },
		{ L("GET / HTTP/1.1\r\nHost: xn--bcher-kva.example\r\n\r\n"), "GET", "/", 1, 1,
		    KEEP, 0 },
		{ L("GET / HTTP/1.1\r\nHost: a-b_c~d!$&'()*+,;=\r\n\r\n"), "GET", "/", 1, 1,
		    KEEP, 0 },
		{ L("GET / HTTP/1.1\r\nHost: localhost \r\n\r\n"), "GET", "/", 1, 1,
		    KEEP, 0 },
		/* absolute-form (RFC 9112 3.2.2): taken as the origin-form
		 * it names, the authority ignored as Host is */
		{ L("GET http://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), "GET",
		    "/", 1, 1, KEEP, 0 },
		{ L("GET HTTPS://example.com:8443/v1/x?y=1 HTTP/1.1\r\n"
		    "Host: b\r\n\r\n"), "GET", "/v1/x?y=1", 1, 1, KEEP, 0 },
		{ L("GET http://a HTTP/1.1\r\nHost: a\r\n\r\n"), "GET", "/",
		    1, 1, KEEP, 0 },
		{ L("GET http://a.b:1?q=1 HTTP/1.1\r\nHost: a\r\n\r\n"), "GET",
		    "/?q=1", 1, 1, KEEP, 0 },
		{ L("GET http://[::1]:80/p HTTP/1.1\r\nHost: a\r\n\r\n"), "GET",
		    "/p", 1, 1, KEEP, 0 },
		{ L("GET http://127.0.0.1/%2e HTTP/1.0\r\n\r\n"), "GET",
		    "/%2e", 0, 0, 0, 0 },
		/* HTTP/1.0: no Host needed, one allowed; keep-alive asked */
		{ L("GET /a HTTP/1.0\r\n\r\n"), "GET", "/a", 0, 0, 0, 0 },
		{ L("GET /a HTTP/1.0\r\nHost: a\r\n\r\n"), "GET", "/a", 0, 1,
		    0, 0 },
		{ L("GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n"), "GET",
		    "/", 0, 1, KEEP, 0 },
		{ L("GET / HTTP/1.0\r\nconnection: Keep-Alive\r\n\r\n"), "GET",
		    "/", 0, 1, KEEP, 0 },
		{ L("GET / HTTP/1.0\r\nConnection: foo ,\tkeep-alive ,\r\n\r\n"),
		    "GET", "/", 0, 1, KEEP, 0 },
		{ L("GET / HTTP/1.0\r\nConnection: keep-alive, close\r\n\r\n"),
		    "GET", "/", 0, 1, 0, 0 },
		{ L("GET / HTTP/1.0\r\nConnection: keep-alive\r\n"
		    "Connection: close\r\n\r\n"), "GET", "/", 0, 2, 0, 0 },
		{ L("GET / HTTP/1.0\r\nConnection: keep-alives\r\n\r\n"),
		    "GET", "/", 0, 1, 0, 0 },
		/* HTTP/1.1: persistent unless "close" is among the tokens */
		{ L("GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n"),
		    "GET", "/", 1, 2, 0, 0 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\nConnection: foo, Close\r\n\r\n"),
		    "GET", "/", 1, 2, 0, 0 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\nConnection: ,,CLOSE,,\r\n\r\n"),
		    "GET", "/", 1, 2, 0, 0 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\nConnection: keep-alive\r\n\r\n"),
		    "GET", "/", 1, 2, KEEP, 0 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\n"
		    "Connection: closed, xclose, close-it\r\n\r\n"), "GET", "/",
		    1, 2, KEEP, 0 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\nConnection:\r\n\r\n"), "GET",
		    "/", 1, 2, KEEP, 0 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\nX-Connection: close\r\n\r\n"),
		    "GET", "/", 1, 2, KEEP, 0 },
		/* Content-Length */
		{ L("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0\r\n\r\n"),
		    "POST", "/", 1, 2, KEEP | LENGTH, 0 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\ncontent-length:  42 \r\n\r\n"),
		    "POST", "/", 1, 2, KEEP | LENGTH, 42 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 7\r\n"
		    "Content-Length: 7\r\n\r\n"), "POST", "/", 1, 3,
		    KEEP | LENGTH, 7 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 007\r\n"
		    "Content-Length: 7\r\n\r\n"), "POST", "/", 1, 3,
		    KEEP | LENGTH, 7 },
		{ L("POST / HTTP/1.0\r\nContent-Length: 9999999999999999999\r\n"
		    "\r\n"), "POST", "/", 0, 1, LENGTH, 9999999999999999999u },
		/* numerals past 2^64 - 1 stay there (the engine says 413) */
		{ L("POST / HTTP/1.0\r\nContent-Length: 18446744073709551615\r\n"
		    "\r\n"), "POST", "/", 0, 1, LENGTH, UINT64_MAX },
		{ L("POST / HTTP/1.0\r\nContent-Length: 18446744073709551616\r\n"
		    "\r\n"), "POST", "/", 0, 1, LENGTH, UINT64_MAX },
		{ L("POST / HTTP/1.0\r\nContent-Length: "
		    "123456789012345678901234567890\r\n\r\n"), "POST", "/", 0, 1,
		    LENGTH, UINT64_MAX },
		/* chunked */
		{ L("POST /c HTTP/1.1\r\nHost: a\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n"), "POST", "/c", 1, 2,
		    KEEP | CHUNKED, 0 },
		{ L("POST /c HTTP/1.1\r\ntransfer-encoding:\tCHUNKED\t\r\n"
		    "Host: a\r\n\r\n"), "POST", "/c", 1, 2, KEEP | CHUNKED, 0 },
		/* empty list elements are ignored (RFC 9110 5.6.1) */
		{ L("POST /c HTTP/1.1\r\nHost: a\r\n"
		    "Transfer-Encoding: chunked,\r\n\r\n"), "POST", "/c", 1, 2,
		    KEEP | CHUNKED, 0 },
		{ L("POST /c HTTP/1.1\r\nHost: a\r\n"
		    "Transfer-Encoding: , Chunked ,,\r\n\r\n"), "POST", "/c", 1,
		    2, KEEP | CHUNKED, 0 },
		/* Expect */
		{ L("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue\r\n"
		    "Content-Length: 3\r\n\r\n"), "PUT", "/", 1, 3,
		    KEEP | LENGTH | EXPECT, 3 },
		{ L("PUT / HTTP/1.1\r\nHost: a\r\nexpect: 100-Continue \r\n"
		    "Transfer-Encoding: chunked\r\n\r\n"), "PUT", "/", 1, 3,
		    KEEP | CHUNKED | EXPECT, 0 },
		/* values: OWS trimmed, obs-text kept, empty */
		{ L("GET / HTTP/1.1\r\nHost:   a.b \t\r\nX-Y:\tv\t\r\n"
		    "X-E:   \r\nX-U: \xe2\x9c\x93\r\n\r\n"), "GET", "/", 1, 4,
		    KEEP, 0 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_head h;
		char *b = NULL;
		unsigned st = parse(cases[i].in, cases[i].n, &h, &b);
		int flags = (h.keep_alive ? KEEP : 0) |
		    (h.chunked ? CHUNKED : 0) | (h.has_length ? LENGTH : 0) |
		    (h.expect_continue ? EXPECT : 0);

		if (st != 0)
			fail_msg("case %zu: status %u", i, st);
		if (strcmp(h.method, cases[i].method) != 0 ||
		    strcmp(h.target, cases[i].target) != 0 ||
		    h.target_len != strlen(cases[i].target) ||
		    h.minor != cases[i].minor ||
		    h.n_headers != cases[i].n_headers ||
		    flags != cases[i].flags || h.length != cases[i].length)
			fail_msg("case %zu: '%s' '%s' %zu 1.%u n %zu flags %#x "
			    "length %llu", i, h.method, h.target, h.target_len,
			    h.minor, h.n_headers, flags,
			    (unsigned long long)h.length);
		/* parsed in place: every string is inside the copy */
		assert_true(inside(h.method, b, cases[i].n));
		assert_true(inside(h.target, b, cases[i].n));
		for (size_t k = 0; k < h.n_headers; k++) {
			assert_true(inside(h.headers[k].name, b, cases[i].n));
			assert_true(inside(h.headers[k].value, b, cases[i].n));
		}
		free(b);
	}
}

/* http_head_get: the first value of a name in any case; OWS trimmed */
static void
test_head_get(void **state)
{
	static const char head[] = "GET / HTTP/1.1\r\n"
	    "Host:   a.b \t\r\n"
	    "X-A: 1\r\n"
	    "x-a: 2\r\n"
	    "X-Tab:\tv\t\r\n"
	    "X-Empty:   \r\n"
	    "X-UTF8: \xe2\x9c\x93\r\n"
	    "X-Inner: a ,\t b\r\n"
	    "\r\n";
	static const struct {
		const char *name;
		const char *want;       /* NULL: absent */
	} cases[] = {
		{ "Host", "a.b" },
		{ "HOST", "a.b" },
		{ "X-A", "1" },
		{ "x-A", "1" },
		{ "X-Tab", "v" },
		{ "X-Empty", "" },
		{ "X-UTF8", "\xe2\x9c\x93" },
		{ "X-Inner", "a ,\t b" },
		{ "X-Absent", NULL },
		{ "X", NULL },
		{ "X-A ", NULL },
		{ "", NULL },
	};
	struct http_head h;
	char *b = NULL;

	(void)state;
	assert_int_equal(parse(head, sizeof(head) - 1, &h, &b), 0);
	assert_int_equal(h.n_headers, 7);
	assert_string_equal(h.headers[2].name, "x-a");   /* as received */
	assert_string_equal(h.headers[2].value, "2");
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *v = http_head_get(&h, cases[i].name);

		if (cases[i].want == NULL ? v != NULL :
		    v == NULL || strcmp(v, cases[i].want) != 0)
			fail_msg("'%s': '%s', want '%s'", cases[i].name,
			    v ? v : "(null)",
			    cases[i].want ? cases[i].want : "(null)");
	}
	/* http_head_count: every line of the name, in any case */
	assert_int_equal(http_head_count(&h, "X-A"), 2);
	assert_int_equal(http_head_count(&h, "host"), 1);
	assert_int_equal(http_head_count(&h, "X-Absent"), 0);
	assert_int_equal(http_head_count(&h, "X"), 0);
	free(b);
}

/* ---- heads that are refused ---- */

static void
test_head_refused(void **state)
{
	static const struct {
		const char *in;
		size_t n;
		unsigned status;
	} cases[] = {
		/* line ends: CRLF only */
		{ L("GET / HTTP/1.1\nHost: a\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\n\nHost: a\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1x\nHost: a\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a\nX: b\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\rHost: a\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a\rb\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\rXHost: a\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a\rXX-B: c\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\r\n\r\n"), 400 },
		{ L("\r\n"), 400 },
		/* obs-fold, a name that is not a token */
		{ L("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n c\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\nX: b\r\n\tc\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\n Host: a\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost : a\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost\t: a\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\n: b\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\nX-(y): b\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\nX\0Y: b\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\nno colon\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\nnocolon\r\n\r\n"), 400 },
		/* controls in a value */
		{ L("GET / HTTP/1.1\r\nHost: a\x01" "b\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\nX: a\x7f\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\nX: a\0b\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\nX: \x1b[0m\r\n\r\n"), 400 },
		/* the request line */
		{ L("GET /a\0b HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET /a\x7f HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET /\xc3\xa9 HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET /a\tb HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET a HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		/* absolute-form: http(s), a host, no userinfo */
		{ L("GET http://u@a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET http:///x HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET http:// HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET http://:80/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET http://[::1/x HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET http://[::g]/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET ftp://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET http:/a HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET httpx://a/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("CONNECT a:443 HTTP/1.1\r\nHost: a:443\r\n\r\n"), 400 },
		{ L("GET  / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET /  HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L(" / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET\t/ HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GE(T / HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET /\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET / \r\nHost: a\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1 \r\nHost: a\r\n\r\n"), 400 },
		{ L("GET / http/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET / HTTP/1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.10\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET / HTTP/11\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.x\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET / HTTPS/1.1\r\nHost: a\r\n\r\n"), 400 },
		/* Host: exactly one in 1.1, at most one in 1.0 */
		{ L("GET / HTTP/1.1\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nX-Host: a\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a\r\nhost: a\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.0\r\nHost: a\r\nHost: b\r\n\r\n"), 400 },
		/* Host values that are not uri-host [":" port] */
		{ L("GET / HTTP/1.1\r\nHost: a b\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a/b\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a@b\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: u:p@a\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: [::1\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: ::1\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: [zz]\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: [::1]x\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: [::1]:8x\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: [1.2.3.4]\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: [:::]\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: [v.x]\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: [vz.x]\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: [v1.]\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a:80x\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a:-1\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a%2\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a%2g\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a%\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a\"b\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a<b\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a{b}\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a\\b\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a?b\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: a#b\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: []\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: [::1]]\r\n\r\n"), 400 },
		{ L("GET / HTTP/1.1\r\nHost: \xc3\xa9.example\r\n\r\n"), 400 },
		/* Content-Length: digits, one value */
		{ L("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1a\r\n\r\n"),
		    400 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n"),
		    400 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n"),
		    400 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:\r\n\r\n"),
		    400 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\nContent-Length:  \r\n\r\n"),
		    400 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1,1\r\n\r\n"),
		    400 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 1\r\n\r\n"),
		    400 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 0x10\r\n\r\n"),
		    400 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
		    "Content-Length: 6\r\n\r\n"), 400 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
		    "Content-Length: 50\r\n\r\n"), 400 },
		/* framing: chunked once, alone, and not in 1.0 */
		{ L("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		    "Content-Length: 5\r\n\r\n"), 400 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n"), 400 },
		{ L("POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n"),
		    400 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
		    "Transfer-Encoding: chunked\r\n\r\n"), 400 },
		/* versions other than 1.0 and 1.1 */
		{ L("GET / HTTP/2.0\r\nHost: a\r\n\r\n"), 505 },
		{ L("GET / HTTP/1.2\r\nHost: a\r\n\r\n"), 505 },
		{ L("GET / HTTP/0.9\r\nHost: a\r\n\r\n"), 505 },
		{ L("GET / HTTP/3.0\r\nHost: a\r\n\r\n"), 505 },
		/* what a URI never holds unencoded, a fragment included */
		{ L("GET /a#frag HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET /a?x={1} HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET /a|b HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET /a\"b HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		{ L("GET /a\\b HTTP/1.1\r\nHost: a\r\n\r\n"), 400 },
		/* transfer codings other than chunked: not implemented
		 * (501) when chunked is last; when it is not, the body's
		 * length cannot be known (RFC 9112 6.3): 400 */
		{ L("POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n"
		    "\r\n"), 400 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\n"
		    "Transfer-Encoding: gzip, chunked\r\n\r\n"), 501 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\n"
		    "Transfer-Encoding: chunked, gzip\r\n\r\n"), 400 },
		/* chunked twice in one list, or no coding at all: the
		 * length is unknown (RFC 9112 6.3) */
		{ L("POST / HTTP/1.1\r\nHost: a\r\n"
		    "Transfer-Encoding: chunked, chunked\r\n\r\n"), 400 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\n"
		    "Transfer-Encoding:\r\n\r\n"), 400 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\n"
		    "Transfer-Encoding: , ,\r\n\r\n"), 400 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\n"
		    "Transfer-Encoding: chunked,, gzip\r\n\r\n"), 400 },
		/* chunked with parameters is not chunked */
		{ L("POST / HTTP/1.1\r\nHost: a\r\n"
		    "Transfer-Encoding: chunked ;x=1\r\n\r\n"), 400 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\n"
		    "Transfer-Encoding: chunked;q=1\r\n\r\n"), 400 },
		{ L("POST / HTTP/1.1\r\nHost: a\r\n"
		    "Transfer-Encoding: chunked;q=1, chunked\r\n\r\n"), 501 },
		/* expectations other than 100-continue */
		{ L("PUT / HTTP/1.1\r\nHost: a\r\nExpect: something-else\r\n"
		    "\r\n"), 417 },
		{ L("PUT / HTTP/1.1\r\nHost: a\r\nExpect: 100-continue, x\r\n"
		    "\r\n"), 417 },
		{ L("PUT / HTTP/1.1\r\nHost: a\r\nExpect:\r\n\r\n"), 417 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct http_head h;
		char *b = NULL;
		unsigned st = parse(cases[i].in, cases[i].n, &h, &b);

		if (st != cases[i].status)
			fail_msg("case %zu '%.*s': status %u, want %u", i,
			    (int)cases[i].n, cases[i].in, st,
			    cases[i].status);
		free(b);
	}
	/* given other than one whole head, the parser refuses it rather
	 * than read past its end or past the first empty line */
	{
		static const struct {
			const char *in;
			size_t n;
		} misuse[] = {
			{ L("") },
			{ L("GET / HTTP/1.1\r\nHost: a\r\n") },
			{ L("GET / HTTP/1.1\r\nHost: a\r\n\r") },
			{ L("GET / HTTP/1.1\r\nHost: a\r\n\r\nX") },
			{ L("GET / HTTP/1.1\r\nHost: a\r\n\r\nX: b\r\n\r\n") },
		};

		for (size_t i = 0; i < sizeof(misuse) / sizeof(misuse[0]);
		    i++) {
			struct http_head h;
			char *b = copy(misuse[i].in, misuse[i].n);

			assert_int_equal(http_head_parse(b, misuse[i].n, &h),
			    400);
			free(b);
		}
	}
}

/* A head of n_fields fields (Host the first); *n its length. */
static char *
head_of(size_t n_fields, size_t *n)
{
	size_t size = 64 + 16 * n_fields, o;
	char *b = malloc(size);

	assert_non_null(b);
	o = (size_t)snprintf(b, size, "GET / HTTP/1.1\r\nHost: a\r\n");
	for (size_t i = 1; i < n_fields; i++)
		o += (size_t)snprintf(b + o, size - o, "X-%zu: %zu\r\n", i, i);
	o += (size_t)snprintf(b + o, size - o, "\r\n");
	assert_true(o < size);
	*n = o;
	return b;
}

static void
test_head_limits(void **state)
{
	struct http_head h;
	char *in, *b = NULL, *t;
	size_t n;
	char name[16];

	(void)state;
	/* HTTP_MAX_HEADERS fields are taken, one more is 431 */
	in = head_of(HTTP_MAX_HEADERS, &n);
	assert_int_equal(parse(in, n, &h, &b), 0);
	assert_int_equal(h.n_headers, HTTP_MAX_HEADERS);
	snprintf(name, sizeof(name), "x-%d", HTTP_MAX_HEADERS - 1);
	assert_non_null(http_head_get(&h, name));
	assert_string_equal(h.headers[HTTP_MAX_HEADERS - 1].value,
	    name + 2);
	free(b);
	free(in);
	in = head_of(HTTP_MAX_HEADERS + 1, &n);
	assert_int_equal(parse(in, n, &h, &b), 431);
	free(b);
	free(in);

	/* a target of MAX_TARGET bytes is taken, one more is 414 */
	n = MAX_TARGET + 64;
	assert_non_null(in = malloc(n));
	for (size_t len = MAX_TARGET - 1; len <= MAX_TARGET + 1; len++) {
		size_t o;

		assert_non_null(t = malloc(len + 1));
		t[0] = '/';
		memset(t + 1, 'a', len - 1);
		t[len] = '\0';
		o = (size_t)snprintf(in, n, "GET %s HTTP/1.1\r\nHost: a\r\n\r\n",
		    t);
		assert_true(o < n);
		if (len <= MAX_TARGET) {
			assert_int_equal(parse(in, o, &h, &b), 0);
			assert_int_equal(h.target_len, len);
			assert_string_equal(h.target, t);
		} else
			assert_int_equal(parse(in, o, &h, &b), 414);
		free(b);
		free(t);
	}
	free(in);
}

/* ---- chunked bodies ---- */

struct run {
	enum http_chunk_result r;   /* DONE, ERROR, or MORE at the end */
	size_t end;                 /* where DONE or ERROR was; n if MORE */
	char *out;                  /* the data, in order (to free) */
	size_t out_len;
};

/*
 * Feed in[0..n) to a fresh decoder in the pieces that the offsets
 * cuts[0..n_cuts) (increasing, inside (0, n)) make, each a heap copy of
 * its own, checking what http_chunked_step() promises of every call;
 * stop at DONE or ERROR.
 */
static void
run_chunked(const char *in, size_t n, const size_t *cuts, size_t n_cuts,
    struct run *rr)
{
	struct http_chunked c;
	size_t start = 0;

	memset(&c, 0, sizeof(c));
	memset(rr, 0, sizeof(*rr));
	assert_non_null(rr->out = malloc(n > 0 ? n : 1));
	for (size_t k = 0; k <= n_cuts; k++) {
		size_t stop = k < n_cuts ? cuts[k] : n, off = 0;
		char *piece;

		assert_true(stop >= start && stop <= n);
		piece = copy(in + start, stop - start);
		while (off < stop - start) {
			size_t left = stop - start - off, used = 99999, dl = 99;
			const char *d = in;
			enum http_chunk_result r = http_chunked_step(&c,
			    piece + off, left, &used, &d, &dl);

			assert_true(used <= left);
			switch (r) {
			case HTTP_CHUNK_DATA:
				/* some bytes of the consumed part, never none
				 * (a caller would loop for ever) */
				assert_true(dl > 0 && used > 0);
				assert_true(d >= piece + off &&
				    d + dl <= piece + off + used);
				memcpy(rr->out + rr->out_len, d, dl);
				rr->out_len += dl;
				break;
			case HTTP_CHUNK_MORE:
				assert_int_equal(used, left);
				assert_null(d);
				assert_int_equal(dl, 0);
				break;
			case HTTP_CHUNK_DONE:
			case HTTP_CHUNK_ERROR:
				assert_null(d);
				assert_int_equal(dl, 0);
				rr->r = r;
				rr->end = start + off + used;
				free(piece);
				return;
			default:
				fail_msg("result %d", (int)r);
			}
			off += used;
		}
		free(piece);
		start = stop;
	}
	rr->r = HTTP_CHUNK_MORE;
	rr->end = n;
}

static void
expect_run(const struct run *rr, enum http_chunk_result r, size_t end,
    const char *want, size_t want_len, const char *how)
{
	if (rr->r != r || rr->end != end)
		fail_msg("%s: result %d at %zu, want %d at %zu", how,
		    (int)rr->r, rr->end, (int)r, end);
	if (want != NULL && (rr->out_len != want_len ||
	    memcmp(rr->out, want, want_len) != 0))
		fail_msg("%s: data '%.*s' (%zu), want '%.*s' (%zu)", how,
		    (int)rr->out_len, rr->out, rr->out_len, (int)want_len, want,
		    want_len);
}

/*
 * in[0..n) fed whole, byte by byte, and in two pieces cut at every point
 * must end in r at offset end: DONE just past the body (want the data),
 * or ERROR at the bad byte (want NULL).  Every prefix that stops short
 * of end needs more.
 */
static void
check_chunked(const char *in, size_t n, enum http_chunk_result r,
    size_t end, const char *want, size_t want_len)
{
	struct run rr;
	size_t *cuts;
	char *more;

	assert_non_null(cuts = malloc((n + 1) * sizeof(*cuts)));
	run_chunked(in, n, NULL, 0, &rr);
	expect_run(&rr, r, end, want, want_len, "whole");
	free(rr.out);
	for (size_t k = 1; k < n; k++)
		cuts[k - 1] = k;
	run_chunked(in, n, cuts, n > 0 ? n - 1 : 0, &rr);
	expect_run(&rr, r, end, want, want_len, "bytes");
	free(rr.out);
	for (size_t k = 1; k < n; k++) {
		char how[32];

		snprintf(how, sizeof(how), "cut at %zu", k);
		cuts[0] = k;
		run_chunked(in, n, cuts, 1, &rr);
		expect_run(&rr, r, end, want, want_len, how);
		free(rr.out);
	}
	for (size_t k = 0; k < end; k++) {
		run_chunked(in, k, NULL, 0, &rr);
		if (rr.r != HTTP_CHUNK_MORE || (want != NULL &&
		    (rr.out_len > want_len ||
		    memcmp(rr.out, want, rr.out_len) != 0)))
			fail_msg("prefix %zu: result %d, %zu bytes", k,
			    (int)rr.r, rr.out_len);
		free(rr.out);
	}
	/* what follows the body (the next request) is left alone */
	if (r == HTTP_CHUNK_DONE) {
		assert_non_null(more = malloc(n + 16));
		memcpy(more, in, n);
		memcpy(more + n, "GET / HTTP/1.1\r\n", 16);
		run_chunked(more, n + 16, NULL, 0, &rr);
		expect_run(&rr, r, end, want, want_len, "pipelined");
		free(rr.out);
		free(more);
	}
	free(cuts);
}

static void
test_chunked_ok(void **state)
{
	static const struct {
		const char *in;
		size_t n;
		const char *want;
		size_t want_len;
	} cases[] = {
		{ L("5\r\nhello\r\n0\r\n\r\n"), L("hello") },
		{ L("0\r\n\r\n"), L("") },
		{ L("000\r\n\r\n"), L("") },
		{ L("5\r\nhello\r\n6\r\n world\r\n0\r\n\r\n"), L("hello world") },
		{ L("A\r\n0123456789\r\na\r\nabcdefghij\r\n0\r\n\r\n"),
		    L("0123456789abcdefghij") },
		{ L("1F\r\n0123456789abcdef0123456789abcde\r\n"
		    "1f\r\n0123456789abcdef0123456789abcde\r\n0\r\n\r\n"),
		    L("0123456789abcdef0123456789abcde"
		    "0123456789abcdef0123456789abcde") },
		{ L("0000000000000005\r\nhello\r\n0\r\n\r\n"), L("hello") },
		/* the data is opaque: CR, LF, NUL, "0\r\n\r\n" */
		{ L("4\r\n\r\n\0\n\r\n7\r\n0\r\n\r\n\r\n\r\n0\r\n\r\n"),
		    L("\r\n\0\n0\r\n\r\n\r\n") },
		/* extensions, ignored */
		{ L("5;a=b\r\nhello\r\n0;c=\"d e\"\r\n\r\n"), L("hello") },
		{ L("5 ; a=b\r\nhello\r\n0\t;x\r\n\r\n"), L("hello") },
		{ L("5;a=\xe2\x9c\x93;b\r\nhello\r\n0\r\n\r\n"), L("hello") },
		/* trailers, ignored */
		{ L("5\r\nhello\r\n0\r\nX-T: 1\r\n\r\n"), L("hello") },
		{ L("0\r\nX-T: 1\r\nX-U:\t2 \r\n\r\n"), L("") },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_chunked(cases[i].in, cases[i].n, HTTP_CHUNK_DONE,
		    cases[i].n, cases[i].want, cases[i].want_len);
}

/* many chunks, and size lines near HTTP_MAX_CHUNK_LINE in every one
 * (the line length counts from each line's start) */
static void
test_chunked_many(void **state)
{
	size_t size = 300 * (HTTP_MAX_CHUNK_LINE + 16), n = 0, wn = 0;
	char *in, *want;

	(void)state;
	assert_non_null(in = malloc(size));
	assert_non_null(want = malloc(size));
	for (size_t i = 0; i < 200; i++) {
		size_t cn = i % 3 + 1;

		n += (size_t)snprintf(in + n, size - n, "%zx\r\n", cn);
		memset(in + n, 'a' + (int)(i % 26), cn);
		memset(want + wn, 'a' + (int)(i % 26), cn);
		n += cn;
		wn += cn;
		n += (size_t)snprintf(in + n, size - n, "\r\n");
	}
	n += (size_t)snprintf(in + n, size - n, "0\r\n\r\n");
	check_chunked(in, n, HTTP_CHUNK_DONE, n, want, wn);

	/* the longest size line the decoder takes: HTTP_MAX_CHUNK_LINE
	 * bytes counting its CR, in several chunks in a row */
	n = wn = 0;
	for (size_t i = 0; i < 3; i++) {
		size_t ext = HTTP_MAX_CHUNK_LINE - 3;   /* "2;" ext CR */

		n += (size_t)snprintf(in + n, size - n, "2;");
		memset(in + n, 'x', ext);
		n += ext;
		n += (size_t)snprintf(in + n, size - n, "\r\nok\r\n");
		memcpy(want + wn, "ok", 2);
		wn += 2;
	}
	n += (size_t)snprintf(in + n, size - n, "0\r\n\r\n");
	check_chunked(in, n, HTTP_CHUNK_DONE, n, want, wn);
	free(in);
	free(want);
}

static void
test_chunked_bad(void **state)
{
	static const struct {
		const char *in;
		size_t n;
		size_t at;              /* offset of the bad byte */
	} cases[] = {
		/* bare LF, bare CR */
		{ L("5\nhello\r\n0\r\n\r\n"), 1 },
		{ L("5\r\r\nhello\r\n0\r\n\r\n"), 2 },
		{ L("5\r\nhello\n0\r\n\r\n"), 8 },
		{ L("5\r\nhello\r0\r\n\r\n"), 9 },
		{ L("5;a=b\nhello\r\n0\r\n\r\n"), 5 },
		{ L("0\r\nX: 1\n\r\n"), 7 },
		{ L("0\r\nX: 1\r\r\n"), 8 },
		{ L("0\r\n\n"), 3 },
		{ L("0\r\n\rX"), 4 },
		{ L("0\n\r\n"), 1 },
		/* data longer than its size: no CRLF after it */
		{ L("5\r\nhello!\r\n0\r\n\r\n"), 8 },
		{ L("5\r\nhello0\r\n\r\n"), 8 },
		/* the size: hex digits, at least one */
		{ L("g\r\n"), 0 },
		{ L("5g\r\n"), 1 },
		{ L("0x5\r\nhello\r\n0\r\n\r\n"), 1 },
		{ L("-5\r\n"), 0 },
		{ L("+5\r\n"), 0 },
		{ L("\r\nhello\r\n"), 0 },
		{ L(";a=b\r\n"), 0 },
		{ L(" 5\r\n"), 0 },
		{ L("\t5\r\n"), 0 },
		{ L("5\r\nhello\r\n\r\n"), 10 },        /* an empty size line */
		/* sizes of 2^60 and more: refused at the digit that
		 * gets there */
		{ L("1000000000000000\r\n"), 15 },
		{ L("FFFFFFFFFFFFFFFFF\r\n"), 15 },
		{ L("123456789abcdef0123\r\n"), 15 },
		/* whitespace after the size only before a ';' */
		{ L("5 6\r\nhello\r\n0\r\n\r\n"), 2 },
		{ L("5 \r\nhello\r\n0\r\n\r\n"), 2 },
		{ L("5\t\r\nhello\r\n0\r\n\r\n"), 2 },
		/* a trailer is a field line: a name, then ':' */
		{ L("0\r\nGET /admin HTTP/1.1\r\n\r\n"), 6 },
		{ L("0\r\n folded\r\n\r\n"), 3 },
		{ L("0\r\nName : v\r\n\r\n"), 7 },
		{ L("0\r\n: v\r\n\r\n"), 3 },
		{ L("0\r\nX-A: 1\r\nnocolon\r\n\r\n"), 18 },
		/* controls in an extension or a trailer */
		{ L("5;a\x01\r\nhello\r\n0\r\n\r\n"), 3 },
		{ L("5;\x7f\r\nhello\r\n0\r\n\r\n"), 2 },
		{ L("5;a\0b\r\nhello\r\n0\r\n\r\n"), 3 },
		{ L("5;a\x1b" "b\r\nhello\r\n0\r\n\r\n"), 3 },
		{ L("0\r\nX\x01: 1\r\n\r\n"), 4 },
		{ L("0\r\nX: \0\r\n\r\n"), 6 },
		{ L("0\r\n\x7f\r\n\r\n"), 3 },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		check_chunked(cases[i].in, cases[i].n, HTTP_CHUNK_ERROR,
		    cases[i].at, NULL, 0);
}

static void
test_chunked_limits(void **state)
{
	size_t size = 2 * HTTP_MAX_TRAILERS + 2 * HTTP_MAX_CHUNK_LINE + 64, n;
	char *in;

	(void)state;
	assert_non_null(in = malloc(size));

	/* a size line of HTTP_MAX_CHUNK_LINE bytes (with its CR) passes
	 * (test_chunked_many), one byte more fails at that byte: the CR
	 * here, or any byte of an overlong extension or size */
	n = (size_t)snprintf(in, size, "5;");
	memset(in + n, 'x', HTTP_MAX_CHUNK_LINE - 2);
	n += HTTP_MAX_CHUNK_LINE - 2;
	n += (size_t)snprintf(in + n, size - n, "\r\nhello\r\n0\r\n\r\n");
	check_chunked(in, n, HTTP_CHUNK_ERROR, HTTP_MAX_CHUNK_LINE, NULL, 0);
	n = (size_t)snprintf(in, size, "5;");
	memset(in + n, 'x', 2 * HTTP_MAX_CHUNK_LINE);
	n += 2 * HTTP_MAX_CHUNK_LINE;
	check_chunked(in, n, HTTP_CHUNK_ERROR, HTTP_MAX_CHUNK_LINE, NULL, 0);
	/* leading zeros are digits like any other */
	memset(in, '0', 2 * HTTP_MAX_CHUNK_LINE);
	n = 2 * HTTP_MAX_CHUNK_LINE;
	check_chunked(in, n, HTTP_CHUNK_ERROR, HTTP_MAX_CHUNK_LINE, NULL, 0);
	/* ... and the limit holds in a later chunk too */
	n = (size_t)snprintf(in, size, "1\r\na\r\n5;");
	memset(in + n, 'x', 2 * HTTP_MAX_CHUNK_LINE);
	n += 2 * HTTP_MAX_CHUNK_LINE;
	check_chunked(in, n, HTTP_CHUNK_ERROR, 6 + HTTP_MAX_CHUNK_LINE, NULL,
	    0);

	/* trailers: HTTP_MAX_TRAILERS bytes (lines with their CR) pass,
	 * one more fails at that byte */
	n = (size_t)snprintf(in, size, "0\r\nX:");
	memset(in + n, 'v', HTTP_MAX_TRAILERS - 3);
	n += HTTP_MAX_TRAILERS - 3;
	n += (size_t)snprintf(in + n, size - n, "\r\n\r\n");
	check_chunked(in, n, HTTP_CHUNK_DONE, n, "", 0);
	n = (size_t)snprintf(in, size, "0\r\nX:");
	memset(in + n, 'v', HTTP_MAX_TRAILERS - 2);
	n += HTTP_MAX_TRAILERS - 2;
	n += (size_t)snprintf(in + n, size - n, "\r\n\r\n");
	check_chunked(in, n, HTTP_CHUNK_ERROR, 3 + HTTP_MAX_TRAILERS, NULL, 0);
	/* many short lines count together: 100 lines of 100 bytes and a
	 * CR each, so the byte past the limit is in line 81 */
	n = (size_t)snprintf(in, size, "0\r\n");
	for (size_t i = 0; i < 100; i++) {
		memset(in + n, 'T', 100);
		in[n + 1] = ':';
		n += 100;
		n += (size_t)snprintf(in + n, size - n, "\r\n");
	}
	n += (size_t)snprintf(in + n, size - n, "\r\n");
	check_chunked(in, n, HTTP_CHUNK_ERROR,
	    3 + 81 * 102 + (HTTP_MAX_TRAILERS - 81 * 101), NULL, 0);
	free(in);
}

/* No input: nothing consumed.  After DONE or ERROR the decoder takes
 * nothing more until it is zeroed (fail closed on a caller's bug). */
static void
test_chunked_edges(void **state)
{
	struct http_chunked c;
	size_t used = 99, dl = 99;
	const char *d = "";

	(void)state;
	memset(&c, 0, sizeof(c));
	assert_int_equal(http_chunked_step(&c, "", 0, &used, &d, &dl),
	    HTTP_CHUNK_MORE);
	assert_int_equal(used, 0);
	assert_null(d);
	assert_int_equal(dl, 0);
	assert_int_equal(http_chunked_step(&c, "0\r\n\r\n0\r\n\r\n", 10,
	    &used, &d, &dl), HTTP_CHUNK_DONE);
	assert_int_equal(used, 5);
	assert_int_equal(http_chunked_step(&c, "0\r\n\r\n", 5, &used, &d, &dl),
	    HTTP_CHUNK_ERROR);
	memset(&c, 0, sizeof(c));
	assert_int_equal(http_chunked_step(&c, "x", 1, &used, &d, &dl),
	    HTTP_CHUNK_ERROR);
	assert_int_equal(http_chunked_step(&c, "0\r\n\r\n", 5, &used, &d, &dl),
	    HTTP_CHUNK_ERROR);
	/* a size just under 2^60 is taken; its data comes as it arrives */
	memset(&c, 0, sizeof(c));
	assert_int_equal(http_chunked_step(&c, "fffffffffffffff\r\nabc", 20,
	    &used, &d, &dl), HTTP_CHUNK_DATA);
	assert_int_equal(used, 20);
	assert_int_equal(dl, 3);
	assert_memory_equal(d, "abc", 3);
}

/* ---- a randomized round trip ---- */

/* xorshift64: a fixed seed gives the same cases on every libc */
static uint64_t
rnd(uint64_t *s)
{
	*s ^= *s << 13;
	*s ^= *s >> 7;
	*s ^= *s << 17;
	return *s;
}

static size_t
rnd_below(uint64_t *s, size_t n)
{
	return (size_t)(rnd(s) % n);
}

/* An extension or nothing, in any of the forms the decoder takes. */
static size_t
put_ext(uint64_t *s, char *o, size_t size)
{
	static const char *const ext[] = { "", "", "", ";a", ";a=b",
	    ";name=\"quoted value\"", " ; x=1;y", "\t;z" };

	return (size_t)snprintf(o, size, "%s",
	    ext[rnd_below(s, sizeof(ext) / sizeof(ext[0]))]);
}

static void
test_chunked_random(void **state)
{
	uint64_t seed = 0x9e3779b97f4a7c15u;
	size_t size = 64 * 1024;
	char *body, *enc;

	(void)state;
	assert_non_null(body = malloc(size));
	assert_non_null(enc = malloc(4 * size));
	for (int round = 0; round < 500; round++) {
		size_t bn = rnd_below(&seed, 4000), n = 0, o = 0;
		size_t cuts[24], n_cuts;
		struct run rr;
		char how[64];

		for (size_t i = 0; i < bn; i++)
			body[i] = (char)rnd(&seed);
		/* chunks of random sizes, upper or lower case, sometimes
		 * with leading zeros */
		while (o < bn) {
			size_t cn = 1 + rnd_below(&seed, rnd_below(&seed, 2) ?
			    16 : 1500);
			bool upper = rnd_below(&seed, 2);
			int zeros = (int)rnd_below(&seed, 4);

			if (cn > bn - o)
				cn = bn - o;
			n += (size_t)snprintf(enc + n, 4 * size - n,
			    upper ? "%0*zX" : "%0*zx", zeros, cn);
			n += put_ext(&seed, enc + n, 4 * size - n);
			n += (size_t)snprintf(enc + n, 4 * size - n, "\r\n");
			memcpy(enc + n, body + o, cn);
			n += cn;
			o += cn;
			n += (size_t)snprintf(enc + n, 4 * size - n, "\r\n");
		}
		n += (size_t)snprintf(enc + n, 4 * size - n, "0");
		n += put_ext(&seed, enc + n, 4 * size - n);
		n += (size_t)snprintf(enc + n, 4 * size - n, "\r\n");
		for (size_t t = rnd_below(&seed, 4); t > 0; t--)
			n += (size_t)snprintf(enc + n, 4 * size - n,
			    "X-Trailer-%zu: %zu\r\n", t, rnd_below(&seed, 1000));
		n += (size_t)snprintf(enc + n, 4 * size - n, "\r\n");

		/* cut at random points, one point possibly twice */
		n_cuts = rnd_below(&seed, sizeof(cuts) / sizeof(cuts[0]) + 1);
		for (size_t i = 0; i < n_cuts; i++)
			cuts[i] = 1 + rnd_below(&seed, n - 1);
		for (size_t i = 1; i < n_cuts; i++)     /* sort */
			for (size_t k = i; k > 0 && cuts[k - 1] > cuts[k]; k--) {
				size_t x = cuts[k];

				cuts[k] = cuts[k - 1];
				cuts[k - 1] = x;
			}
		snprintf(how, sizeof(how), "round %d (%zu bytes)", round, bn);
		run_chunked(enc, n, cuts, n_cuts, &rr);
		expect_run(&rr, HTTP_CHUNK_DONE, n, body, bn, how);
		free(rr.out);
	}
	free(body);
	free(enc);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_head_length),
		cmocka_unit_test(test_head_ok),
		cmocka_unit_test(test_head_get),
		cmocka_unit_test(test_head_refused),
		cmocka_unit_test(test_head_limits),
		cmocka_unit_test(test_chunked_ok),
		cmocka_unit_test(test_chunked_many),
		cmocka_unit_test(test_chunked_bad),
		cmocka_unit_test(test_chunked_limits),
		cmocka_unit_test(test_chunked_edges),
		cmocka_unit_test(test_chunked_random),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

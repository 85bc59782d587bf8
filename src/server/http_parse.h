/*
 * http_parse.h - HTTP/1.1 request heads and chunked bodies (RFC 9112),
 * with no I/O: the parsers of the native engine (http_native.c).
 *
 * Strict on purpose, since a lenient parser in front of an authorization
 * decision is how requests get smuggled: lines end in CRLF (a bare CR or
 * LF is an error), no obsolete line folding, no whitespace between a
 * field name and its colon, Content-Length is digits only and must agree
 * with itself, Transfer-Encoding is "chunked" alone and never comes with
 * a Content-Length, HTTP/1.1 needs exactly one Host, and a Host value
 * must be a host and port as RFC 3986 writes them (RFC 9112 3.2).
 */
#ifndef MANDATE_HTTP_PARSE_H
#define MANDATE_HTTP_PARSE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define HTTP_MAX_HEADERS 64         /* fields per head; more: 431 */
#define HTTP_MAX_CHUNK_LINE 1024    /* chunk-size line with extensions */
#define HTTP_MAX_TRAILERS 8192      /* trailer section bytes */

struct http_header {
	const char *name;           /* NUL-terminated, as received */
	const char *value;          /* NUL-terminated, OWS trimmed */
};

struct http_head {
	const char *method;         /* NUL-terminated token; set once read,
				     * also when the rest is refused */
	const char *target;         /* NUL-terminated, origin-form ("/...") */
	size_t target_len;
	unsigned minor;             /* HTTP/1.minor: 0 or 1 */
	struct http_header headers[HTTP_MAX_HEADERS];
	size_t n_headers;
	bool keep_alive;            /* 1.1 unless "close"; 1.0 if "keep-alive" */
	bool chunked;               /* Transfer-Encoding: chunked */
	bool has_length;            /* Content-Length given */
	uint64_t length;
	bool expect_continue;       /* Expect: 100-continue */
};

/* Length of the head that starts p[0..n): the bytes up to and including
 * the empty line that ends it; 0 while that line has not arrived.  A LF
 * without a CR before it ends the head too (with that LF), and so does a
 * CR followed by anything but a LF (with the byte after it), which
 * http_head_parse() then refuses (400): the client is answered at once
 * rather than when the slow-head limit runs out. */
size_t http_head_length(const char *p, size_t n);

/* The same, for a head that arrives a piece at a time: *scan is 0 for a
 * new head, and kept between calls on the same input that grows (p[0..n)
 * is the same bytes each time, n larger or equal), so that what has been
 * read is not read again: a head trickled in a line at a time costs its
 * length, not its length times the number of pieces. */
size_t http_head_length_more(const char *p, size_t n, size_t *scan);

/* Parse a whole head in place: buf[0..n) as measured by
 * http_head_length(); NULs are written into buf, and h points into it.
 * Returns 0, or the status to answer with: 400 malformed, 414 a target
 * over HTTP_MAX_PATH bytes, 417 an expectation other than
 * 100-continue, 431 more than HTTP_MAX_HEADERS fields, 501 a transfer
 * coding other than chunked, 505 a version other than HTTP/1.0 or 1.1. */
unsigned http_head_parse(char *buf, size_t n, struct http_head *h);

/* First value of a field (case-insensitive name), NULL if absent. */
const char *http_head_get(const struct http_head *h, const char *name);

/* How many fields of that name (case-insensitive) the head has. */
size_t http_head_count(const struct http_head *h, const char *name);

/* A chunked body's decoder; zero it before the first call. */
struct http_chunked {
	int state;
	uint64_t left;              /* data bytes left in the chunk */
	size_t line;                /* bytes of the current line */
	size_t trailers;            /* trailer bytes so far */
};

enum http_chunk_result {
	HTTP_CHUNK_MORE = 0,        /* in used up, need more input */
	HTTP_CHUNK_DATA = 1,        /* *data, *data_len: body bytes */
	HTTP_CHUNK_DONE = 2,        /* last chunk and trailers complete */
	HTTP_CHUNK_ERROR = -1,      /* malformed: answer 400 */
};

/* Decode from in[0..n): consumes *used bytes and returns what they were.
 * HTTP_CHUNK_DATA points *data into in (no copy); call again with the
 * rest.  After DONE or ERROR, the decoder must be zeroed before reuse. */
enum http_chunk_result http_chunked_step(struct http_chunked *c,
    const char *in, size_t n, size_t *used, const char **data,
    size_t *data_len);

#endif

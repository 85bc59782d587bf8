/*
 * fuzz_http_parse.c - the native engine's request head and chunked body
 * parsers (src/server/http_parse.h).
 *
 * The input is what a connection would carry: the head that
 * http_head_length() measures (the same when measured in pieces with
 * http_head_length_more(), as the engine does) is parsed from a copy of exactly its size
 * and, when taken, must keep the parser's promises (a token method, an
 * origin-form target, token names, trimmed values with no line breaks or
 * controls, one framing, every string inside the buffer); the rest, or
 * all of it when no head ends, is decoded as a chunked body in pieces
 * whose sizes come from the input, and again whole: each call must stay
 * inside its piece, and both runs must end alike with the same data.  A
 * broken promise aborts, which is what a fuzzer reports.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "server/http_parse.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int
is_tchar(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') ||
	    (c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL);
}

/* The length of the string at s, which must start and end in buf[0..n). */
static size_t
str_in(const char *s, const char *buf, size_t n)
{
	const char *z;

	if (s == NULL || s < buf || s >= buf + n ||
	    (z = memchr(s, '\0', (size_t)(buf + n - s))) == NULL)
		abort();
	return (size_t)(z - s);
}

static void
check_token(const char *s, const char *buf, size_t n)
{
	size_t len = str_in(s, buf, n);

	if (len == 0)
		abort();
	for (size_t i = 0; i < len; i++)
		if (!is_tchar((unsigned char)s[i]))
			abort();
}

static void
check_head(const struct http_head *h, const char *buf, size_t n)
{
	size_t len, hosts = 0, lengths = 0, codings = 0;

	check_token(h->method, buf, n);
	len = str_in(h->target, buf, n);
	if (len != h->target_len || h->target[0] != '/')
		abort();
	for (size_t i = 0; i < len; i++) {
		unsigned char c = (unsigned char)h->target[i];
		if (c <= 0x20 || c >= 0x7f)
			abort();
	}
	if (h->minor > 1 || h->n_headers > HTTP_MAX_HEADERS)
		abort();
	for (size_t k = 0; k < h->n_headers; k++) {
		const char *v = h->headers[k].value;

		check_token(h->headers[k].name, buf, n);
		len = str_in(v, buf, n);
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)v[i];
			if (c == '\r' || c == '\n' || c == 0x7f ||
			    (c < 0x20 && c != '\t'))
				abort();
		}
		if (len > 0 && (v[0] == ' ' || v[0] == '\t' ||
		    v[len - 1] == ' ' || v[len - 1] == '\t'))
			abort();
		if (strcasecmp(h->headers[k].name, "Host") == 0) {
			/* a host and port: none of what ends or delimits
			 * an authority, nothing outside ASCII */
			for (size_t i = 0; i < len; i++)
				if ((unsigned char)v[i] >= 0x7f ||
				    strchr(" \t/?#@\"<>\\{}|^`", v[i]) != NULL)
					abort();
			hosts++;
		}
		else if (strcasecmp(h->headers[k].name, "Content-Length") == 0)
			lengths++;
		else if (strcasecmp(h->headers[k].name,
		    "Transfer-Encoding") == 0)
			codings++;
	}
	/* one framing, said by the fields that are there */
	if ((h->chunked && (h->has_length || h->minor == 0)) ||
	    h->chunked != (codings == 1) || codings > 1 ||
	    h->has_length != (lengths > 0))
		abort();
	if ((h->minor == 1 && hosts != 1) || hosts > 1)
		abort();
	if (h->expect_continue && http_head_get(h, "expect") == NULL)
		abort();
}

/*
 * Decode in[0..n) with a fresh decoder, in pieces of 1 + sizes[k] % 32
 * bytes (cycling through sizes; n_sizes 0: one piece), each a heap copy
 * of its own.  The data goes to out (n bytes at most, or abort); *end is
 * where DONE or ERROR came, n when more was wanted.
 */
static enum http_chunk_result
decode(const char *in, size_t n, const uint8_t *sizes, size_t n_sizes,
    char *out, size_t *out_len, size_t *end)
{
	struct http_chunked c;
	size_t start = 0, k = 0;

	memset(&c, 0, sizeof(c));
	*out_len = 0;
	while (start < n) {
		size_t len = n - start, off = 0;
		char *piece;

		if (n_sizes > 0 && len > 1u + sizes[k % n_sizes] % 32)
			len = 1u + sizes[k % n_sizes] % 32;
		k++;
		if ((piece = malloc(len)) == NULL)
			abort();
		memcpy(piece, in + start, len);
		while (off < len) {
			const char *d = in;
			size_t used = SIZE_MAX, dl = SIZE_MAX;
			enum http_chunk_result r = http_chunked_step(&c,
			    piece + off, len - off, &used, &d, &dl);

			if (used > len - off)
				abort();
			switch (r) {
			case HTTP_CHUNK_DATA:
				if (dl == 0 || used == 0 || d < piece + off ||
				    d + dl > piece + off + used ||
				    dl > n - *out_len)
					abort();
				memcpy(out + *out_len, d, dl);
				*out_len += dl;
				break;
			case HTTP_CHUNK_MORE:
				if (used != len - off || d != NULL || dl != 0)
					abort();
				break;
			case HTTP_CHUNK_DONE:
			case HTTP_CHUNK_ERROR:
				if (d != NULL || dl != 0 ||
				    (r == HTTP_CHUNK_DONE && used == 0))
					abort();
				*end = start + off + used;
				free(piece);
				return r;
			default:
				abort();
			}
			off += used;
		}
		free(piece);
		start += len;
	}
	*end = n;
	return HTTP_CHUNK_MORE;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *in, *head, *out1, *out2;
	const char *body;
	size_t hl, body_n, n1, n2, end1, end2;
	enum http_chunk_result r1, r2;
	struct http_head h;
	unsigned st;

	if ((in = malloc(size > 0 ? size : 1)) == NULL)
		abort();
	memcpy(in, data, size);
	/* a measured head ends with a LF (its own, or the empty line's), or
	 * with a CR and the byte after it that is not a LF */
	if ((hl = http_head_length(in, size)) > size ||
	    (hl > 0 && in[hl - 1] != '\n' && !(hl >= 2 &&
	    in[hl - 2] == '\r')))
		abort();
	/* measured as it arrives, in pieces whose sizes come from the
	 * input, resuming each time: at each step what a measure from the
	 * start gives (a malformed head may end at another point when it
	 * comes in pieces, as it does in the engine) */
	{
		size_t scan = 0, k = 0, got = 0;

		while (got == 0 && k < size) {
			k += 1 + (size_t)(unsigned char)in[k] % 7;
			if (k > size)
				k = size;
			got = http_head_length_more(in, k, &scan);
			if (got != http_head_length(in, k))
				abort();
		}
	}
	/* a head cut at a bare CR is refused */
	if (hl >= 2 && in[hl - 2] == '\r' && in[hl - 1] != '\n') {
		char *cut = malloc(hl);

		if (cut == NULL)
			abort();
		memcpy(cut, in, hl);
		if (http_head_parse(cut, hl, &h) != 400)
			abort();
		free(cut);
	}
	if (hl > 0) {
		if ((head = malloc(hl)) == NULL)
			abort();
		memcpy(head, in, hl);
		st = http_head_parse(head, hl, &h);
		if (st == 0)
			check_head(&h, head, hl);
		else if (st != 400 && st != 414 && st != 417 && st != 431 &&
		    st != 501 && st != 505)
			abort();
		free(head);
	}

	body = in + hl;
	body_n = size - hl;
	if ((out1 = malloc(body_n + 1)) == NULL ||
	    (out2 = malloc(body_n + 1)) == NULL)
		abort();
	r1 = decode(body, body_n, data, size, out1, &n1, &end1);
	r2 = decode(body, body_n, NULL, 0, out2, &n2, &end2);
	if (r1 != r2 || end1 != end2 || n1 != n2 || n1 > end1 ||
	    memcmp(out1, out2, n1) != 0)
		abort();
	free(out1);
	free(out2);
	free(in);
	return 0;
}

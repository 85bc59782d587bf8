/*
 * http_parse.c - request heads and chunked bodies (RFC 9112 sections 2,
 * 3, 5, 6 and 7.1); see http_parse.h for what is refused and why.
 */
#include <arpa/inet.h>
#include <stdbool.h>
#include <string.h>
#include <strings.h>

#include "server/http.h"
#include "server/http_parse.h"
#include "util/utf8.h"

#define MAX_TARGET HTTP_MAX_PATH   /* path and query together */

/* tchar of RFC 9110 5.6.2 */
static int
is_tchar(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return 1;
	return c != '\0' && strchr("!#$%&'*+-.^_`|~", c) != NULL;
}

static bool
is_hex(unsigned char c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') ||
	    (c >= 'A' && c <= 'F');
}

/* unreserved or sub-delims of RFC 3986 2.2, 2.3 */
static bool
is_host_char(unsigned char c)
{
	if ((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9'))
		return true;
	return c != '\0' && strchr("-._~!$&'()*+,;=", c) != NULL;
}

/* A Host value (RFC 9110 7.2): empty, or uri-host [ ":" port ] of RFC
 * 3986 3.2.2, 3.2.3: an IPv6 address or IPvFuture in brackets, or a
 * reg-name (which covers IPv4 addresses) of unreserved, sub-delims and
 * percent-escapes.  RFC 9112 3.2: anything else is 400. */
static bool
host_ok(const char *s)
{
	if (*s == '[') {
		const char *a = ++s;
		if (*s == 'v' || *s == 'V') {
			if (!is_hex((unsigned char)*++s))
				return false;
			while (is_hex((unsigned char)*s))
				s++;
			if (*s++ != '.' || (!is_host_char((unsigned char)*s) &&
			    *s != ':'))
				return false;
			while (is_host_char((unsigned char)*s) || *s == ':')
				s++;
		} else {
			char ip[INET6_ADDRSTRLEN];
			struct in6_addr a6;
			while (is_hex((unsigned char)*s) || *s == ':' ||
			    *s == '.')
				s++;
			if (s == a || (size_t)(s - a) >= sizeof(ip))
				return false;
			memcpy(ip, a, (size_t)(s - a));
			ip[s - a] = '\0';
			if (inet_pton(AF_INET6, ip, &a6) != 1)
				return false;
		}
		if (*s++ != ']')
			return false;
	} else {
		while (*s != '\0' && *s != ':') {
			if (*s == '%') {
				if (!is_hex((unsigned char)s[1]) ||
				    !is_hex((unsigned char)s[2]))
					return false;
				s += 3;
			} else if (is_host_char((unsigned char)*s)) {
				s++;
			} else {
				return false;
			}
		}
	}
	if (*s == ':')
		while (*++s >= '0' && *s <= '9')
			;
	return *s == '\0';
}

/* field-vchar, SP, HTAB and obs-text: anything but controls and DEL */
static int
is_field_char(unsigned char c)
{
	return c == '\t' || (c >= 0x20 && c != 0x7f);
}

size_t
http_head_length(const char *p, size_t n)
{
	size_t scan = 0;

	return http_head_length_more(p, n, &scan);
}

size_t
http_head_length_more(const char *p, size_t n, size_t *scan)
{
	const char *e;
	/* p[0..i) is known: whole lines that neither end the head nor are
	 * malformed, then part of a line with no CR or LF in it */
	size_t i = *scan <= n ? *scan : 0;

	if (i == 0 && n >= 2 && p[0] == '\r' && p[1] == '\n')
		return 2;       /* a head that is only the empty line */
	while ((e = memchr(p + i, '\n', n - i)) != NULL) {
		size_t k = (size_t)(e - p);
		/* a LF without its CR ends the head here, malformed: the
		 * client is answered 400 now rather than left waiting for
		 * an empty line that will never come as CRLF; the head
		 * measured ends with the LF */
		if (k == 0 || p[k - 1] != '\r')
			return k + 1;
		/* so does a CR without its LF (no head may hold one) */
		if (k - 1 > i && (e = memchr(p + i, '\r', k - 1 - i)) != NULL)
			return (size_t)(e - p) + 2;
		if (k >= 3 && p[k - 2] == '\n' && p[k - 3] == '\r')
			return k + 1;
		i = k + 1;
	}
	/* a CR followed by anything but LF in what has come so far */
	if (n - i >= 2 && (e = memchr(p + i, '\r', n - i - 1)) != NULL)
		return (size_t)(e - p) + 2;
	/* all but the last byte is known now (it may be a CR whose LF is
	 * still to come) */
	*scan = n > i ? n - 1 : i;
	return 0;
}

/* The next element of the comma-separated list at *s, white space around
 * it trimmed (RFC 9110 5.6.1); empty elements come back with length 0.
 * False at the end of the list. */
static bool
list_next(const char **s, const char **el, size_t *n)
{
	const char *p = *s;

	if (*p == '\0')
		return false;
	while (*p == ' ' || *p == '\t' || *p == ',')
		p++;
	*el = p;
	*n = strcspn(p, ",");
	*s = p + *n;
	while (*n > 0 && (p[*n - 1] == ' ' || p[*n - 1] == '\t'))
		(*n)--;
	return true;
}

/* Does the comma-separated list s hold token t (case-insensitive)? */
static int
list_has(const char *s, const char *t)
{
	size_t tl = strlen(t), n;
	const char *el;

	while (list_next(&s, &el, &n))
		if (n == tl && strncasecmp(el, t, n) == 0)
			return 1;
	return 0;
}

/* A Transfer-Encoding value: a list of codings (RFC 9112 6.1), whose empty
 * elements are ignored (RFC 9110 5.6.1).  Any coding but chunked, or
 * chunked with parameters, is one this server does not implement: 501;
 * but when chunked is not the last coding the body's length cannot be
 * known at all, which RFC 9112 6.3 makes a 400 whatever the codings.
 * *chunked counts the chunked elements; the caller wants exactly one
 * (chunked twice, or none at all, leaves the body's length unknown: 400). */
static unsigned
codings(const char *s, unsigned *chunked)
{
	const char *el;
	size_t n;
	bool other = false, last_chunked = false;

	while (list_next(&s, &el, &n)) {
		if (n == 0)
			continue;
		last_chunked = n == 7 && strncasecmp(el, "chunked", 7) == 0;
		if (last_chunked)
			(*chunked)++;
		else
			other = true;
	}
	if (other)
		return last_chunked ? 501 : 400;
	return 0;
}

/*
 * A target in absolute-form (RFC 9112 3.2.2: a server MUST accept it),
 * http or https in any case: the origin-form it stands for, in place, or
 * NULL when it is not one.  The authority must be a host as a Host field
 * holds it (host_ok: a reg-name or IPv4 address, or an IP-literal in
 * brackets, with an optional port), not empty, and with no userinfo (RFC
 * 9110 4.2.4: a recipient treats it as an error); it is
 * otherwise ignored, as the Host field is (the server answers for one
 * origin, its configuration's).  The path starts at the first '/', '?'
 * or the end after the authority: an empty one is "/", written over the
 * authority's last byte.  *tl is updated.
 */
static char *
absolute_form(char *t, size_t *tl)
{
	char *a, *e = t + *tl, *q, auth[512];

	if (*tl > 8 && strncasecmp(t, "https://", 8) == 0)
		a = t + 8;
	else if (*tl > 7 && strncasecmp(t, "http://", 7) == 0)
		a = t + 7;
	else
		return NULL;
	for (q = a; q < e && *q != '/' && *q != '?'; q++)
		;
	if (q == a || *a == ':' || (size_t)(q - a) >= sizeof(auth))
		return NULL;         /* no host (or one past any DNS name) */
	memcpy(auth, a, (size_t)(q - a));
	auth[q - a] = '\0';
	if (!host_ok(auth))
		return NULL;         /* userinfo ('@') among what is refused */
	if (q == e || *q == '?')
		*--q = '/';          /* an empty path is "/" */
	*tl = (size_t)(e - q);
	return q;
}

/* The request line; *p advances past its CRLF. */
static unsigned
request_line(char **p, char *end, struct http_head *h)
{
	char *s = *p, *m, *t;
	size_t tl;

	m = s;
	while (s < end && is_tchar((unsigned char)*s))
		s++;
	if (s == m || s >= end || *s != ' ')
		return 400;
	*s++ = '\0';
	/* known from here on, whatever is refused next: an answer to HEAD
	 * carries no content, refused or not (RFC 9110 9.3.2) */
	h->method = m;
	t = s;
	/* visible ASCII but for what a URI never holds unencoded (RFC 3986
	 * 2.2, 2.3): a fragment (#) is not sent in a request target (RFC
	 * 9112 3.2.1), and "<>\^`{|} are not URI characters at all */
	while (s < end && (unsigned char)*s > 0x20 && (unsigned char)*s < 0x7f &&
	    strchr("\"#<>\\^`{|}", *s) == NULL)
		s++;
	tl = (size_t)(s - t);
	if (tl == 0 || s >= end || *s != ' ')
		return 400;
	*s++ = '\0';
	if (end - s < 10 || memcmp(s, "HTTP/", 5) != 0 ||
	    s[5] < '0' || s[5] > '9' || s[6] != '.' || s[7] < '0' ||
	    s[7] > '9' || s[8] != '\r' || s[9] != '\n')
		return 400;
	if (s[5] != '1' || (s[7] != '0' && s[7] != '1'))
		return 505;
	if (t[0] != '/' && (t = absolute_form(t, &tl)) == NULL)
		return 400;     /* origin- or absolute-form: no "*" */
	if (tl > MAX_TARGET)
		return 414;
	h->target = t;
	h->target_len = tl;
	h->minor = (unsigned)(s[7] - '0');
	*p = s + 10;
	return 0;
}

/* A Content-Length value: digits only; 400 otherwise. */
static unsigned
content_length(const char *v, struct http_head *h)
{
	uint64_t n = 0;

	if (*v == '\0')
		return 400;
	for (; *v != '\0'; v++) {
		uint64_t d = (uint64_t)(*v - '0');

		if (*v < '0' || *v > '9')
			return 400;
		/* past 2^64 - 1 the length stays there: a valid numeral
		 * (RFC 9110 8.6 asks for no overflow), far past any body
		 * limit, so the request gets 413, not 400 */
		n = n > (UINT64_MAX - d) / 10 ? UINT64_MAX : n * 10 + d;
	}
	if (h->has_length && h->length != n)
		return 400;
	h->has_length = true;
	h->length = n;
	return 0;
}

unsigned
http_head_parse(char *buf, size_t n, struct http_head *h)
{
	char *p = buf, *end = buf + n;
	unsigned r;
	int hosts = 0, te = 0, close = 0, keep = 0;
	unsigned chunked = 0;

	memset(h, 0, sizeof(*h));
	if (n < 4 || memcmp(end - 4, "\r\n\r\n", 4) != 0)
		return 400;
	if ((r = request_line(&p, end, h)) != 0)
		return r;
	/* fields until the empty line */
	while (!(p[0] == '\r' && p[1] == '\n')) {
		char *name = p, *v, *ve;
		while (p < end && is_tchar((unsigned char)*p))
			p++;
		if (p == name || *p != ':')
			return 400;     /* empty name, SP before ':', fold */
		*p++ = '\0';
		while (*p == ' ' || *p == '\t')
			p++;
		v = p;
		while (p < end && is_field_char((unsigned char)*p))
			p++;
		if (end - p < 2 || p[0] != '\r' || p[1] != '\n')
			return 400;     /* a control, a bare CR or LF */
		ve = p;
		while (ve > v && (ve[-1] == ' ' || ve[-1] == '\t'))
			ve--;
		*ve = '\0';
		p += 2;
		if (h->n_headers == HTTP_MAX_HEADERS)
			return 431;
		h->headers[h->n_headers].name = name;
		h->headers[h->n_headers++].value = v;
		if (strcasecmp(name, "Content-Length") == 0) {
			if ((r = content_length(v, h)) != 0)
				return r;
		} else if (strcasecmp(name, "Transfer-Encoding") == 0) {
			te++;
			if ((r = codings(v, &chunked)) != 0)
				return r;
		} else if (strcasecmp(name, "Host") == 0) {
			hosts++;
			if (!host_ok(v))
				return 400;
		} else if (strcasecmp(name, "Connection") == 0) {
			close |= list_has(v, "close");
			keep |= list_has(v, "keep-alive");
		} else if (strcasecmp(name, "Expect") == 0) {
			if (strcasecmp(v, "100-continue") != 0)
				return 417;
			h->expect_continue = true;
		}
	}
	if (p + 2 != end)
		return 400;
	/* one framing only (RFC 9112 6.1, 6.3): both is how requests are
	 * smuggled, and chunked twice is not "chunked" */
	if (te > 1 || (te == 1 && (chunked != 1 || h->has_length ||
	    h->minor == 0)))
		return 400;
	h->chunked = te == 1;
	if (h->minor == 1 && hosts != 1)
		return 400;
	if (h->minor == 0 && hosts > 1)
		return 400;
	h->keep_alive = !close && (h->minor == 1 || keep);
	return 0;
}

const char *
http_head_get(const struct http_head *h, const char *name)
{
	for (size_t i = 0; i < h->n_headers; i++)
		if (strcasecmp(h->headers[i].name, name) == 0)
			return h->headers[i].value;
	return NULL;
}

size_t
http_head_count(const struct http_head *h, const char *name)
{
	size_t n = 0;

	for (size_t i = 0; i < h->n_headers; i++)
		if (strcasecmp(h->headers[i].name, name) == 0)
			n++;
	return n;
}

/* ---- chunked bodies ---- */

enum {
	CH_SIZE0 = 0,   /* the first hex digit of a chunk size */
	CH_SIZE,        /* more hex digits, whitespace, ';' or CR */
	CH_SIZE_WS,     /* whitespace after the size: only a ';' may follow */
	CH_EXT,         /* a chunk extension, up to CR */
	CH_SIZE_LF,     /* LF after the size line */
	CH_DATA,
	CH_DATA_CR,     /* CRLF after the data */
	CH_DATA_LF,
	CH_TRAILER0,    /* the start of a trailer line, or the end */
	CH_TNAME,       /* a trailer field's name, up to its ':' */
	CH_TRAILER,     /* a trailer field's value, up to CR */
	CH_TRAILER_LF,
	CH_END_LF,      /* LF of the empty line that ends the body */
	CH_DONE,
	CH_ERROR,
};

enum http_chunk_result
http_chunked_step(struct http_chunked *c, const char *in, size_t n,
    size_t *used, const char **data, size_t *data_len)
{
	size_t i = 0;

	*data = NULL;
	*data_len = 0;
	while (i < n) {
		unsigned char b = (unsigned char)in[i];
		int v;

		switch (c->state) {
		case CH_SIZE0:
		case CH_SIZE:
			if ((v = hex_digit_value(b)) >= 0) {
				/* sizes of 2^60 and more are nobody's body
				 * (and this cannot overflow) */
				if (c->left >= (uint64_t)1 << 56)
					goto bad;
				c->left = c->left * 16 + (uint64_t)v;
				c->state = CH_SIZE;
			} else if (c->state == CH_SIZE0) {
				goto bad;
			} else if (b == ';') {
				c->state = CH_EXT;
			} else if (b == ' ' || b == '\t') {
				c->state = CH_SIZE_WS;
			} else if (b == '\r') {
				c->state = CH_SIZE_LF;
			} else {
				goto bad;
			}
			break;
		case CH_SIZE_WS:
			/* BWS is allowed only before an extension's ';' */
			if (b == ';')
				c->state = CH_EXT;
			else if (b != ' ' && b != '\t')
				goto bad;
			break;
		case CH_EXT:
			if (b == '\r')
				c->state = CH_SIZE_LF;
			else if (b == '\n' || (b < 0x20 && b != '\t') ||
			    b == 0x7f)
				goto bad;
			break;
		case CH_SIZE_LF:
			if (b != '\n')
				goto bad;
			c->line = 0;
			c->state = c->left == 0 ? CH_TRAILER0 : CH_DATA;
			i++;
			continue;
		case CH_DATA: {
			size_t take = n - i;
			if ((uint64_t)take > c->left)
				take = (size_t)c->left;
			c->left -= take;
			if (c->left == 0)
				c->state = CH_DATA_CR;
			*data = in + i;
			*data_len = take;
			*used = i + take;
			return HTTP_CHUNK_DATA;
		}
		case CH_DATA_CR:
			if (b != '\r')
				goto bad;
			c->state = CH_DATA_LF;
			break;
		case CH_DATA_LF:
			if (b != '\n')
				goto bad;
			c->state = CH_SIZE0;
			c->line = 0;
			i++;
			continue;
		case CH_TRAILER0:
			if (b == '\r') {
				c->state = CH_END_LF;
				break;
			}
			c->state = CH_TNAME;
			/* FALLTHROUGH */
		case CH_TNAME:
			/* a trailer is a field line, as strict as a head's */
			if (++c->trailers > HTTP_MAX_TRAILERS)
				goto bad;
			if (b == ':' && c->line > 0)
				c->state = CH_TRAILER;
			else if (!is_tchar(b))
				goto bad;
			c->line++;
			break;
		case CH_TRAILER:
			if (++c->trailers > HTTP_MAX_TRAILERS)
				goto bad;
			if (b == '\r')
				c->state = CH_TRAILER_LF;
			else if (!is_field_char(b))
				goto bad;
			break;
		case CH_TRAILER_LF:
			if (b != '\n')
				goto bad;
			c->state = CH_TRAILER0;
			c->line = 0;
			i++;
			continue;
		case CH_END_LF:
			if (b != '\n')
				goto bad;
			c->state = CH_DONE;
			*used = i + 1;
			return HTTP_CHUNK_DONE;
		default:
			goto bad;
		}
		if (c->state <= CH_SIZE_LF && ++c->line > HTTP_MAX_CHUNK_LINE)
			goto bad;
		i++;
	}
	*used = i;
	return HTTP_CHUNK_MORE;
bad:
	c->state = CH_ERROR;
	*used = i;
	return HTTP_CHUNK_ERROR;
}

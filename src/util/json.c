/*
 * json.c - the strict arena JSON parser of json.h.
 *
 * Recursive descent, one C frame pair per nesting level (bounded by the
 * caller's depth limit).  Children of an open array or object are parsed
 * straight into slots of one scratch stack (on the C stack at first, then
 * in a private arena) and copied into the caller's arena as one
 * contiguous block when the container closes, so the tree has exact-size
 * arrays and no per-node allocation.  Strings are validated in a fast scan; only strings with
 * escapes are copied (escapes never make a string longer, so the raw
 * length bounds the copy).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "json.h"
#include "status.h"
#include "utf8.h"

#define AJSON_DEPTH_CAP 4096   /* most levels any caller may ask for */
#define AJSON_INLINE_STACK 32  /* scratch members before the first alloc */
#define AJSON_SMALL_OBJECT 8   /* up to here, duplicates by pairs */

struct parser {
	const unsigned char *s;
	size_t len, pos;
	struct arena *a;              /* the tree */
	struct arena tmp;             /* scratch growth, duplicate checks */
	const struct ajson_opts *o;
	int max_depth;
	struct diag_list *dl;
	struct ajson_member *stk;     /* scratch: children of open containers */
	size_t top, cap;
};

static int
fail(struct parser *p, int code, size_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static int
fail(struct parser *p, int code, size_t off, const char *fmt, ...)
{
	char msg[DIAG_MSG_MAX];
	va_list ap;

	if (p->dl == NULL)
		return code;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(p->dl, code, p->o->file, (const char *)p->s, p->len, off,
	    off < p->len ? 1 : 0, "invalid JSON: %s", msg);
	return code;
}

/* "'x'", "byte 0xNN" or "end of input" for the byte at off. */
static const char *
describe(const struct parser *p, size_t off, char *buf, size_t cap)
{
	unsigned char ch;

	if (off >= p->len)
		return "end of input";
	ch = p->s[off];
	if (ch >= 0x20 && ch < 0x7f)
		snprintf(buf, cap, "'%c'", ch);
	else
		snprintf(buf, cap, "byte 0x%02x", ch);
	return buf;
}

static int
unexpected(struct parser *p, size_t off, const char *wanted)
{
	char b[16];

	return fail(p, MANDATE_EPARSE, off, "unexpected %s, expected %s",
	    describe(p, off, b, sizeof(b)), wanted);
}

static void
skip_ws(struct parser *p)
{
	const unsigned char *s = p->s;
	size_t i = p->pos, n = p->len;

	while (i < n && (s[i] == ' ' || s[i] == '\n' || s[i] == '\r' ||
	    s[i] == '\t'))
		i++;
	p->pos = i;
}

/* Reserve the next scratch slot; its index into *slot.  Slots are named
 * by index because growing the scratch moves it. */
static int
reserve(struct parser *p, size_t *slot)
{
	if (p->top == p->cap) {
		size_t nc = p->cap * 2;
		struct ajson_member *ns;

		if (nc / 2 != p->cap || nc > SIZE_MAX / sizeof(*ns) ||
		    (ns = arena_alloc(&p->tmp, nc * sizeof(*ns))) == NULL)
			return fail(p, MANDATE_ENOMEM, p->pos, "out of memory");
		memcpy(ns, p->stk, p->top * sizeof(*ns));
		p->stk = ns;   /* the old block stays in tmp (or on the stack) */
		p->cap = nc;
	}
	*slot = p->top++;
	return MANDATE_OK;
}

/* ------------------------------------------------------------------ */
/* The 4 hex digits at s[i] (caller checked they exist), or -1. */
static long
hex4(const unsigned char *s, size_t i)
{
	long v = 0;

	for (size_t k = 0; k < 4; k++) {
		int h = hex_digit_value(s[i + k]);

		if (h < 0)
			return -1;
		v = v * 16 + h;
	}
	return v;
}

/* Check the escape whose backslash is at s[i]; its length into *step and
 * its code point into *cp (for \u escapes, pairs combined). */
static int
check_escape(struct parser *p, size_t i, size_t *step, long *cp)
{
	const unsigned char *s = p->s;
	long hi, lo;

	if (i + 1 >= p->len)
		return fail(p, MANDATE_EPARSE, i, "unterminated string");
	switch (s[i + 1]) {
	case '"': *cp = '"'; break;
	case '\\': *cp = '\\'; break;
	case '/': *cp = '/'; break;
	case 'b': *cp = '\b'; break;
	case 'f': *cp = '\f'; break;
	case 'n': *cp = '\n'; break;
	case 'r': *cp = '\r'; break;
	case 't': *cp = '\t'; break;
	case 'u':
		if (p->len - i < 6 || (hi = hex4(s, i + 2)) < 0)
			return fail(p, MANDATE_EPARSE, i,
			    "\\u must be followed by 4 hex digits");
		if (hi >= 0xDC00 && hi <= 0xDFFF)
			return fail(p, MANDATE_EPARSE, i,
			    "lone trailing surrogate \\u%04lX", hi);
		if (hi < 0xD800 || hi > 0xDBFF) {
			*cp = hi;
			*step = 6;
			return MANDATE_OK;
		}
		if (p->len - i < 12 || s[i + 6] != '\\' || s[i + 7] != 'u' ||
		    (lo = hex4(s, i + 8)) < 0xDC00 || lo > 0xDFFF)
			return fail(p, MANDATE_EPARSE, i,
			    "lone leading surrogate \\u%04lX", hi);
		*cp = 0x10000 + ((hi - 0xD800) << 10) + (lo - 0xDC00);
		*step = 12;
		return MANDATE_OK;
	default: {
		char b[16];

		return fail(p, MANDATE_EPARSE, i, "invalid escape \\%s",
		    describe(p, i + 1, b, sizeof(b)));
	}
	}
	*step = 2;
	return MANDATE_OK;
}

/* The string whose opening quote is at p->pos; its raw span into
 * off and len and its unescaped bytes into out. */
static int
parse_string(struct parser *p, struct str *out, size_t *off, size_t *len)
{
	const unsigned char *s = p->s;
	size_t n = p->len, start = p->pos, i = start + 1, step;
	bool escaped = false;
	unsigned char *w;
	size_t o = 0;
	long cp;
	int r;

	for (;;) {
		unsigned char c;

		while (i < n && (c = s[i]) != '"' && c != '\\' && c >= 0x20 &&
		    c < 0x80)
			i++;
		if (i >= n)
			return fail(p, MANDATE_EPARSE, start,
			    "unterminated string");
		c = s[i];
		if (c == '"')
			break;
		if (c == '\\') {
			if ((r = check_escape(p, i, &step, &cp)) != MANDATE_OK)
				return r;
			escaped = true;
			i += step;
		} else if (c < 0x20) {
			return fail(p, MANDATE_EPARSE, i, "control character "
			    "0x%02x in a string must be escaped", c);
		} else if ((step = utf8_seq_len(s, i, n)) == 0) {
			return fail(p, MANDATE_EPARSE, i,
			    "invalid UTF-8 in a string");
		} else {
			i += step;
		}
	}
	*off = start;
	*len = i + 1 - start;
	p->pos = i + 1;
	if (!escaped) {
		*out = str_make((const char *)s + start + 1, i - start - 1);
		return MANDATE_OK;
	}
	/* everything is checked: decode without further tests */
	if ((w = arena_alloc(p->a, i - start)) == NULL)
		return fail(p, MANDATE_ENOMEM, start, "out of memory");
	for (size_t k = start + 1; k < i;) {
		if (s[k] != '\\') {
			w[o++] = s[k++];
			continue;
		}
		(void)check_escape(p, k, &step, &cp);
		o += utf8_encode((uint32_t)cp, w + o);
		k += step;
	}
	w[o] = '\0';
	*out = str_make((const char *)w, o);
	return MANDATE_OK;
}

/* ------------------------------------------------------------------ */
/* Scalars */

static int
parse_number(struct parser *p, struct ajson *node)
{
	const unsigned char *s = p->s;
	size_t n = p->len, i = p->pos, start = p->pos;
	bool neg = false, is_int = true, over = false;
	uint64_t u = 0;

	if (s[i] == '-') {
		neg = true;
		i++;
	}
	if (i >= n || s[i] < '0' || s[i] > '9')
		return unexpected(p, i, "a digit");
	if (s[i] == '0') {
		i++;
		if (i < n && s[i] >= '0' && s[i] <= '9')
			return fail(p, MANDATE_EPARSE, start,
			    "leading zeros are not allowed in numbers");
	} else {
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			unsigned d = (unsigned)(s[i] - '0');

			if (u > (UINT64_MAX - d) / 10)
				over = true;
			else
				u = u * 10 + d;
			i++;
		}
	}
	if (i < n && s[i] == '.') {
		is_int = false;
		i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return unexpected(p, i, "a digit after '.'");
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	if (i < n && (s[i] == 'e' || s[i] == 'E')) {
		is_int = false;
		i++;
		if (i < n && (s[i] == '+' || s[i] == '-'))
			i++;
		if (i >= n || s[i] < '0' || s[i] > '9')
			return unexpected(p, i, "a digit in the exponent");
		while (i < n && s[i] >= '0' && s[i] <= '9')
			i++;
	}
	node->type = AJSON_NUMBER;
	node->off = start;
	node->len = i - start;
	node->num_int = is_int;
	node->num_fits = is_int && !over &&
	    u <= (neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX);
	if (node->num_fits)
		node->u.i = neg ? (u == (uint64_t)INT64_MAX + 1 ? INT64_MIN :
		    -(int64_t)u) : (int64_t)u;
	p->pos = i;
	return MANDATE_OK;
}

static int
parse_literal(struct parser *p, struct ajson *node, const char *word,
    enum ajson_type t)
{
	size_t k = strlen(word);

	if (p->len - p->pos < k || memcmp(p->s + p->pos, word, k) != 0)
		return unexpected(p, p->pos, "a value");
	node->type = (uint8_t)t;
	node->off = p->pos;
	node->len = k;
	p->pos += k;
	return MANDATE_OK;
}

/* ------------------------------------------------------------------ */
/* Containers */

static int parse_value(struct parser *p, size_t slot, int depth);

static int
member_cmp(const void *a, const void *b)
{
	const struct ajson_member *x = *(const struct ajson_member *const *)a;
	const struct ajson_member *y = *(const struct ajson_member *const *)b;
	int r = str_cmp(x->key, y->key);

	if (r != 0)
		return r;
	return x->key_off < y->key_off ? -1 : x->key_off > y->key_off;
}

/* Report the first key (in document order) that repeats an earlier one
 * among m[0..n). */
static int
check_duplicates(struct parser *p, const struct ajson_member *m, size_t n)
{
	const struct ajson_member **idx;
	size_t best = SIZE_MAX;

	if (n <= AJSON_SMALL_OBJECT) {
		for (size_t i = 1; i < n; i++)
			for (size_t j = 0; j < i; j++)
				if (str_eq(m[i].key, m[j].key))
					return fail(p, MANDATE_EPARSE,
					    m[i].key_off,
					    "duplicate object key");
		return MANDATE_OK;
	}
	if ((idx = arena_alloc(&p->tmp, n * sizeof(*idx))) == NULL)
		return fail(p, MANDATE_ENOMEM, p->pos, "out of memory");
	for (size_t i = 0; i < n; i++)
		idx[i] = &m[i];
	qsort(idx, n, sizeof(*idx), member_cmp);
	/* sorted by key, then position: in a run of equal keys the second
	 * entry is the first repetition */
	for (size_t i = 1; i < n; i++)
		if (str_eq(idx[i]->key, idx[i - 1]->key) &&
		    (i < 2 || !str_eq(idx[i - 1]->key, idx[i - 2]->key)) &&
		    idx[i]->key_off < best)
			best = idx[i]->key_off;
	if (best != SIZE_MAX)
		return fail(p, MANDATE_EPARSE, best, "duplicate object key");
	return MANDATE_OK;
}

static int
enter(struct parser *p, int depth)
{
	if (depth >= p->max_depth)
		return fail(p, MANDATE_ELIMIT, p->pos,
		    "nested too deeply (limit %d)", p->max_depth);
	return MANDATE_OK;
}

/* The container at p->pos (opening bracket) into scratch slot `slot`:
 * its children go to the slots above, then into one arena block. */
static int
parse_array(struct parser *p, size_t slot, int depth)
{
	size_t start = p->pos, base = p->top, n, idx;
	struct ajson *items = NULL, *node;
	int r;

	if ((r = enter(p, depth)) != MANDATE_OK)
		return r;
	p->pos++;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == ']') {
		p->pos++;
	} else {
		for (;;) {
			if ((r = reserve(p, &idx)) != MANDATE_OK ||
			    (r = parse_value(p, idx, depth + 1)) != MANDATE_OK)
				return r;
			skip_ws(p);
			if (p->pos < p->len && p->s[p->pos] == ',') {
				p->pos++;
				continue;
			}
			if (p->pos < p->len && p->s[p->pos] == ']') {
				p->pos++;
				break;
			}
			return unexpected(p, p->pos, "',' or ']'");
		}
	}
	n = p->top - base;
	if (n > 0) {
		if ((items = arena_alloc(p->a, n * sizeof(*items))) == NULL)
			return fail(p, MANDATE_ENOMEM, start, "out of memory");
		for (size_t i = 0; i < n; i++)
			items[i] = p->stk[base + i].val;
	}
	p->top = base;
	node = &p->stk[slot].val;
	node->type = AJSON_ARRAY;
	node->off = start;
	node->len = p->pos - start;
	node->u.arr.items = items;
	node->u.arr.n = n;
	return MANDATE_OK;
}

static int
parse_object(struct parser *p, size_t slot, int depth)
{
	size_t start = p->pos, base = p->top, n, idx;
	struct ajson_member *items = NULL, *m;
	struct ajson *node;
	int r;

	if ((r = enter(p, depth)) != MANDATE_OK)
		return r;
	p->pos++;
	skip_ws(p);
	if (p->pos < p->len && p->s[p->pos] == '}') {
		p->pos++;
	} else {
		for (;;) {
			if (p->pos >= p->len || p->s[p->pos] != '"')
				return unexpected(p, p->pos, "a string key");
			if ((r = reserve(p, &idx)) != MANDATE_OK)
				return r;
			m = &p->stk[idx];   /* stable until the value's parse */
			if ((r = parse_string(p, &m->key, &m->key_off,
			    &m->key_len)) != MANDATE_OK)
				return r;
			skip_ws(p);
			if (p->pos >= p->len || p->s[p->pos] != ':')
				return unexpected(p, p->pos, "':'");
			p->pos++;
			if ((r = parse_value(p, idx, depth + 1)) != MANDATE_OK)
				return r;
			skip_ws(p);
			if (p->pos < p->len && p->s[p->pos] == ',') {
				p->pos++;
				skip_ws(p);
				continue;
			}
			if (p->pos < p->len && p->s[p->pos] == '}') {
				p->pos++;
				break;
			}
			return unexpected(p, p->pos, "',' or '}'");
		}
	}
	n = p->top - base;
	if (n > 0) {
		if ((p->o->flags & AJSON_REJECT_DUPLICATES) &&
		    (r = check_duplicates(p, p->stk + base, n)) != MANDATE_OK)
			return r;
		if ((items = arena_alloc(p->a, n * sizeof(*items))) == NULL)
			return fail(p, MANDATE_ENOMEM, start, "out of memory");
		memcpy(items, p->stk + base, n * sizeof(*items));
	}
	p->top = base;
	node = &p->stk[slot].val;
	node->type = AJSON_OBJECT;
	node->off = start;
	node->len = p->pos - start;
	node->u.obj.items = items;
	node->u.obj.n = n;
	return MANDATE_OK;
}

/* The value at p->pos into scratch slot `slot` (its .val). */
static int
parse_value(struct parser *p, size_t slot, int depth)
{
	struct ajson *node = &p->stk[slot].val;

	skip_ws(p);
	memset(node, 0, sizeof(*node));
	if (p->pos >= p->len)
		return unexpected(p, p->pos, "a value");
	switch (p->s[p->pos]) {
	case '{':
		return parse_object(p, slot, depth);
	case '[':
		return parse_array(p, slot, depth);
	case '"':
		node->type = AJSON_STRING;
		return parse_string(p, &node->u.s, &node->off, &node->len);
	case 't':
		return parse_literal(p, node, "true", AJSON_TRUE);
	case 'f':
		return parse_literal(p, node, "false", AJSON_FALSE);
	case 'n':
		return parse_literal(p, node, "null", AJSON_NULL);
	default:
		if (p->s[p->pos] == '-' ||
		    (p->s[p->pos] >= '0' && p->s[p->pos] <= '9'))
			return parse_number(p, node);
		return unexpected(p, p->pos, "a value");
	}
}

int
ajson_parse(struct arena *a, const char *src, size_t len,
    const struct ajson_opts *opts, const struct ajson **out,
    struct diag_list *dl)
{
	struct ajson_member inline_stk[AJSON_INLINE_STACK];
	struct parser p;
	struct ajson *root = NULL;
	size_t slot = 0;
	int r;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	p.s = (const unsigned char *)(src != NULL ? src : "");
	p.len = src != NULL ? len : 0;
	p.a = a;
	p.o = opts;
	p.dl = dl;
	p.max_depth = opts->max_depth < 1 ? 1 : opts->max_depth >
	    AJSON_DEPTH_CAP ? AJSON_DEPTH_CAP : opts->max_depth;
	p.stk = inline_stk;
	p.cap = AJSON_INLINE_STACK;
	/* scratch may take as much as the tree itself may */
	arena_init(&p.tmp, a->limit);
	if (opts->max_len != 0 && len > opts->max_len) {
		r = fail(&p, MANDATE_ELIMIT, 0, "text too large (%zu bytes, "
		    "limit %zu)", len, opts->max_len);
		goto out;
	}
	/* the root lives in scratch slot 0 until the end */
	if ((r = reserve(&p, &slot)) != MANDATE_OK ||
	    (r = parse_value(&p, slot, 0)) != MANDATE_OK)
		goto out;
	skip_ws(&p);
	if (p.pos < p.len) {
		r = unexpected(&p, p.pos, "end of input after the value");
		goto out;
	}
	if ((root = arena_alloc(a, sizeof(*root))) == NULL) {
		r = fail(&p, MANDATE_ENOMEM, 0, "out of memory");
		goto out;
	}
	*root = p.stk[slot].val;
	*out = root;
	r = MANDATE_OK;
out:
	if (p.tmp.exhausted)
		a->exhausted = 1;     /* the input was too large, not memory */
	arena_free(&p.tmp);
	return r;
}

/* ------------------------------------------------------------------ */
/* Lookups */

const struct ajson_member *
ajson_member(const struct ajson *j, struct str key)
{
	if (j == NULL || j->type != AJSON_OBJECT)
		return NULL;
	for (size_t i = j->u.obj.n; i-- > 0;) {
		const struct ajson_member *m = &j->u.obj.items[i];

		if (str_eq(m->key, key))
			return m;
	}
	return NULL;
}

const struct ajson *
ajson_get_str(const struct ajson *j, struct str key)
{
	const struct ajson_member *m = ajson_member(j, key);

	return m != NULL ? &m->val : NULL;
}

const char *
ajson_kind(const struct ajson *j)
{
	if (j == NULL)
		return "nothing";
	switch (j->type) {
	case AJSON_NULL: return "null";
	case AJSON_FALSE:
	case AJSON_TRUE: return "a boolean";
	case AJSON_NUMBER:
		return j->num_int ? "an integer" : "a floating-point number";
	case AJSON_STRING: return "a string";
	case AJSON_ARRAY: return "an array";
	case AJSON_OBJECT: return "an object";
	default: return "an unknown JSON value";
	}
}

/*
 * str.h - strings as pointer + length.
 *
 * A struct str never owns its bytes: they live in an arena, a source
 * buffer or static storage, and the owner of that storage sets the
 * lifetime.  Strings may contain NUL bytes; never pass .p to a function
 * that expects a C string unless the producer documents a terminator.
 */
#ifndef MANDATE_STR_H
#define MANDATE_STR_H

#include <stddef.h>
#include <string.h>

struct str {
	const char *p;
	size_t n;
};

#define STR_LIT(s) ((struct str){ (s), sizeof(s) - 1 })
#define STR_NULL ((struct str){ NULL, 0 })

static inline struct str
str_make(const char *p, size_t n)
{
	struct str s = { p, n };
	return s;
}

static inline struct str
str_c(const char *cstr)
{
	struct str s = { cstr, cstr ? strlen(cstr) : 0 };
	return s;
}

static inline int
str_eq(struct str a, struct str b)
{
	return a.n == b.n && (a.n == 0 || memcmp(a.p, b.p, a.n) == 0);
}

static inline int
str_eq_c(struct str a, const char *b)
{
	return str_eq(a, str_c(b));
}

/* Byte-wise order: negative, zero or positive like memcmp. */
static inline int
str_cmp(struct str a, struct str b)
{
	size_t n = a.n < b.n ? a.n : b.n;
	int r = n ? memcmp(a.p, b.p, n) : 0;
	if (r != 0)
		return r;
	return a.n < b.n ? -1 : a.n > b.n;
}

/* A hash for in-memory tables, never stored: eight bytes at a time (a
 * multiply and a shift each), then a final mix so that the low bits, which
 * index the tables, depend on every byte.  Byte-at-a-time FNV-1a cost a
 * multiply per byte, and entity uids are long (the AuthZEN Todo ids are 60
 * bytes).  Not for anything an attacker can exploit beyond making one
 * table slower (tables are bounded in size). */
static inline unsigned long long
str_hash(struct str s)
{
	const unsigned long long m = 0x9E3779B97F4A7C15ULL;
	unsigned long long h = 0x6A09E667F3BCC909ULL ^ ((unsigned long long)s.n
	    * m), w;
	const char *p = s.p;
	size_t n = s.n;

	for (; n >= 8; p += 8, n -= 8) {
		memcpy(&w, p, 8);
		h = (h ^ w) * m;
		h ^= h >> 32;
	}
	if (n > 0) {
		w = 0;
		memcpy(&w, p, n);
		h = (h ^ w) * m;
		h ^= h >> 32;
	}
	h ^= h >> 29;
	h *= 0xBF58476D1CE4E5B9ULL;
	h ^= h >> 32;
	return h;
}

#endif

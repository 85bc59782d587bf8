/*
 * jtext.h - compact JSON text of jansson values, for audit records.
 *
 * The text json_dumps(v, JSON_COMPACT) writes (members in insertion
 * order, no spaces, the same escapes; a real number is left to jansson),
 * in one growing buffer, at a fraction of the cost: jansson formats
 * through a callback per piece and snprintf per integer.  Trees deeper
 * than JTEXT_MAX_DEPTH (far beyond what a request may nest) and strings
 * that are not UTF-8 are refused, as json_dumps refuses the latter.  A
 * failure (no memory, too deep, bad UTF-8) is sticky: every later call
 * does nothing and jtext_finish() returns NULL.
 */
#ifndef MANDATE_JTEXT_H
#define MANDATE_JTEXT_H

#include <stdbool.h>
#include <stddef.h>
#include <string.h>

#include <jansson.h>

#define JTEXT_MAX_DEPTH 64

struct jtext {
	char *p;
	size_t n, cap;
	bool failed;
};

void jtext_put_grow(struct jtext *b, const void *s, size_t n);

/* Append n raw bytes; there is always room left for the final NUL. */
static inline void
jtext_put(struct jtext *b, const void *s, size_t n)
{
	if (n < b->cap - b->n) {
		memcpy(b->p + b->n, s, n);
		b->n += n;
		return;
	}
	jtext_put_grow(b, s, n);
}

/* A JSON string of s[0..n): quoted and escaped; fails unless UTF-8. */
void jtext_string(struct jtext *b, const char *s, size_t n);

/* The compact text of v, at nesting depth (the top is 1). */
void jtext_value(struct jtext *b, json_t *v, int depth);

/* The text (malloc'd, NUL-terminated, *n its length) or NULL after a
 * failure (the buffer is freed either way). */
char *jtext_finish(struct jtext *b, size_t *n);

#endif

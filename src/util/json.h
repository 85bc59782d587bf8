/*
 * json.h - a strict RFC 8259 JSON parser into an arena.
 *
 * One pass over the text builds a read-only tree of struct ajson nodes;
 * every node keeps its byte span in the input, so callers can point a
 * diagnostic at the exact value, key or number that is wrong.  Strings
 * are unescaped (they may hold NUL), numbers keep their text and, when
 * they are integers that fit, their int64 value.  The prefix is `ajson_`
 * ("arena JSON") so that it never collides with jansson's `json_` names,
 * which other modules still use.
 *
 * Strict means: UTF-8 is validated everywhere; every escape including
 * surrogate pairs is checked (a lone surrogate is an error, as in
 * serde_json); no comments, no trailing commas, no leading zeros, no
 * NaN; only space, tab, CR and LF as whitespace; nothing after the value
 * but whitespace.  Any value may be at the top level.
 *
 * Ownership: all nodes, member arrays and unescaped strings come from the
 * caller's arena and live as long as it.  A string without escapes is not
 * copied: its .p points into the input text, so the input must outlive
 * the tree as well.  Nothing needs freeing besides the arena.
 *
 * Bounds: nesting of arrays and objects is limited by the caller (the
 * parser recurses once per level, never deeper than that limit), the text
 * length by an optional byte limit, memory by the arena's limit.
 * Duplicate object keys (compared after unescaping) are optionally an
 * error; finding them costs O(n log n) per object, never O(n^2).
 */
#ifndef MANDATE_JSON_H
#define MANDATE_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "arena.h"
#include "diag.h"
#include "str.h"

enum ajson_type {
	AJSON_NULL = 0,
	AJSON_FALSE,
	AJSON_TRUE,
	AJSON_NUMBER,
	AJSON_STRING,
	AJSON_ARRAY,
	AJSON_OBJECT,
};

struct ajson_member;

struct ajson {
	uint8_t type;        /* enum ajson_type */
	/* AJSON_NUMBER: written without fraction or exponent */
	bool num_int;
	/* AJSON_NUMBER: num_int and within int64, so u.i holds the value */
	bool num_fits;
	size_t off, len;     /* the node's bytes in the input (the raw text:
	                      * quotes and escapes included for strings) */
	union {
		struct str s;    /* AJSON_STRING: unescaped, may contain NUL */
		int64_t i;       /* AJSON_NUMBER when num_fits */
		struct {
			const struct ajson *items;
			size_t n;
		} arr;           /* AJSON_ARRAY */
		struct {
			const struct ajson_member *items;   /* document order */
			size_t n;
		} obj;           /* AJSON_OBJECT */
	} u;
};

struct ajson_member {
	struct str key;        /* unescaped, may contain NUL */
	size_t key_off;        /* the key's raw span (with its quotes) */
	size_t key_len;
	struct ajson val;
};

/* Duplicate keys in an object are a syntax error. */
#define AJSON_REJECT_DUPLICATES 0x1u

struct ajson_opts {
	unsigned flags;       /* AJSON_* */
	int max_depth;        /* arrays and objects nest at most this deep
	                       * (>= 1; the top-level container is depth 1) */
	size_t max_len;       /* longest text accepted; 0 for no limit */
	const char *file;     /* borrowed, names the input in diagnostics */
};

/*
 * Parse len bytes of src (NULL allowed when len is 0) into a tree
 * allocated in a.  On success *out is the root and MANDATE_OK returned.
 * On failure *out is NULL and one diagnostic is added to dl (may be NULL)
 * at the offending byte, its message starting "invalid JSON: ":
 * MANDATE_EPARSE for bad syntax, bad UTF-8, bad escapes and duplicate
 * keys, MANDATE_ELIMIT for the depth and length limits, MANDATE_ENOMEM
 * when the arena refuses.
 */
int ajson_parse(struct arena *a, const char *src, size_t len,
    const struct ajson_opts *opts, const struct ajson **out,
    struct diag_list *dl);

/* The value of member `key` of an object, NULL when j is not an object or
 * has no such member.  With duplicates (when allowed), the last one.
 * Linear in the object's size. */
const struct ajson *ajson_get_str(const struct ajson *j, struct str key);

static inline const struct ajson *
ajson_get(const struct ajson *j, const char *key)
{
	/* inline so that strlen of a literal key folds to a constant */
	return ajson_get_str(j, str_make(key, strlen(key)));
}

/* The member holding `key`, as ajson_get(); for the key's position. */
const struct ajson_member *ajson_member(const struct ajson *j,
    struct str key);

/* "an object", "a string", "null", ... for messages; numbers are "an
 * integer" or "a floating-point number" by num_int. */
const char *ajson_kind(const struct ajson *j);

static inline bool
ajson_is(const struct ajson *j, enum ajson_type t)
{
	return j != NULL && j->type == t;
}

#endif

/*
 * arena.h - bump allocation freed in one step.
 *
 * Every request and every compiled policy set owns one arena; all of its
 * nodes, strings and values come from it and die with arena_free().
 * An arena has a byte limit: an allocation past it fails (returns NULL)
 * exactly like an out-of-memory, so a hostile input cannot grow memory
 * without bound.  arena_alloc() never aborts.
 *
 * Not thread-safe: one arena belongs to one thread at a time.
 */
#ifndef MANDATE_ARENA_H
#define MANDATE_ARENA_H

#include <stddef.h>
#include <stdint.h>
#include "str.h"

struct arena_chunk;

struct arena {
	struct arena_chunk *head;  /* current chunk; older ones chained */
	size_t used_total;         /* bytes handed out, all chunks */
	size_t limit;              /* 0 = no limit */
	size_t chunk_size;         /* default size of a new chunk */
	/* Set when the limit refused an allocation (not when malloc did):
	 * what the arena serves was too large, not the process short of
	 * memory.  Cleared by arena_init, arena_free and arena_reset. */
	int exhausted;
	/* Test hook: when > 0, counts down per allocation and fails the
	 * allocation that brings it to 0 (allocation-failure injection). */
	long fail_after;
};

/* Initialise an arena with a byte limit (0 for none).  No allocation
 * happens until the first arena_alloc(). */
void arena_init(struct arena *a, size_t limit);

/* Release every chunk; the arena may be reused after arena_init(). */
void arena_free(struct arena *a);

/* Drop everything allocated so far but keep the first chunk for reuse. */
void arena_reset(struct arena *a);

/* n bytes aligned for any type, uninitialised; NULL on failure. */
void *arena_alloc(struct arena *a, size_t n);

/* n bytes zeroed; NULL on failure. */
void *arena_zalloc(struct arena *a, size_t n);

/* count * size zeroed, with overflow check; NULL on failure. */
void *arena_calloc(struct arena *a, size_t count, size_t size);

/* Grow an array allocated from this arena: returns a new block of
 * new_n bytes holding the first old_n bytes of old (old may be NULL). */
void *arena_realloc(struct arena *a, void *old, size_t old_n, size_t new_n);

/* Copy of n bytes plus a terminating NUL (not counted in the result). */
struct str arena_strdup(struct arena *a, const char *p, size_t n);
char *arena_cstrdup(struct arena *a, const char *cstr);

#endif

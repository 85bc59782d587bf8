/* arena.c - chunked bump allocator with a byte limit. */
#include "arena.h"

#include <stdlib.h>
#include <string.h>

#define ARENA_ALIGN 16
#define ARENA_DEFAULT_CHUNK 8192

struct arena_chunk {
	struct arena_chunk *next;
	size_t size;   /* usable bytes in data[] */
	size_t used;
	_Alignas(ARENA_ALIGN) unsigned char data[];
};

void
arena_init(struct arena *a, size_t limit)
{
	a->head = NULL;
	a->used_total = 0;
	a->limit = limit;
	a->chunk_size = ARENA_DEFAULT_CHUNK;
	a->fail_after = 0;
	a->exhausted = 0;
}

void
arena_free(struct arena *a)
{
	struct arena_chunk *c = a->head, *next;

	while (c != NULL) {
		next = c->next;
		free(c);
		c = next;
	}
	a->head = NULL;
	a->used_total = 0;
	a->exhausted = 0;
}

void
arena_reset(struct arena *a)
{
	struct arena_chunk *c, *next;

	a->exhausted = 0;
	if (a->head == NULL)
		return;
	/* keep the oldest chunk (the end of the chain) */
	c = a->head;
	while (c->next != NULL) {
		next = c->next;
		free(c);
		c = next;
	}
	c->used = 0;
	a->head = c;
	a->used_total = 0;
}

void *
arena_alloc(struct arena *a, size_t n)
{
	struct arena_chunk *c;
	size_t need, size;
	void *p;

	if (a->fail_after > 0 && --a->fail_after == 0)
		return NULL;
	if (n == 0)
		n = 1;
	if (n > SIZE_MAX / 2)
		return NULL;
	need = (n + ARENA_ALIGN - 1) & ~(size_t)(ARENA_ALIGN - 1);
	if (a->limit != 0 && (need > a->limit ||
	    a->used_total > a->limit - need)) {
		a->exhausted = 1;
		return NULL;
	}
	c = a->head;
	if (c == NULL || c->size - c->used < need) {
		size = a->chunk_size;
		if (need > size / 4)
			size = need;  /* big blocks get a chunk of their own */
		if ((c = malloc(sizeof(*c) + size)) == NULL)
			return NULL;
		c->size = size;
		c->used = 0;
		if (a->head != NULL && need == size) {
			/* keep bump-allocating from the current head */
			c->next = a->head->next;
			a->head->next = c;
		} else {
			c->next = a->head;
			a->head = c;
			if (a->chunk_size < 1u << 20)
				a->chunk_size *= 2;
		}
	}
	p = c->data + c->used;
	c->used += need;
	a->used_total += need;
	return p;
}

void *
arena_zalloc(struct arena *a, size_t n)
{
	void *p = arena_alloc(a, n);

	if (p != NULL)
		memset(p, 0, n);
	return p;
}

void *
arena_calloc(struct arena *a, size_t count, size_t size)
{
	if (size != 0 && count > SIZE_MAX / size)
		return NULL;
	return arena_zalloc(a, count * size);
}

void *
arena_realloc(struct arena *a, void *old, size_t old_n, size_t new_n)
{
	void *p;

	if (new_n <= old_n && old != NULL)
		return old;
	if ((p = arena_alloc(a, new_n)) == NULL)
		return NULL;
	if (old != NULL && old_n > 0)
		memcpy(p, old, old_n);
	return p;
}

struct str
arena_strdup(struct arena *a, const char *p, size_t n)
{
	char *d;

	if (n == SIZE_MAX || (d = arena_alloc(a, n + 1)) == NULL)
		return STR_NULL;
	if (n > 0)
		memcpy(d, p, n);
	d[n] = '\0';
	return str_make(d, n);
}

char *
arena_cstrdup(struct arena *a, const char *cstr)
{
	size_t n = strlen(cstr);
	char *d;

	if ((d = arena_alloc(a, n + 1)) == NULL)
		return NULL;
	memcpy(d, cstr, n + 1);
	return d;
}

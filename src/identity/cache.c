/*
 * cache.c - the verified-token cache: a bounded hash table keyed by the
 * SHA-256 of a token, with least-recently-used eviction, under one mutex
 * (a hit holds it for a table lookup and a copy of a few hundred bytes).
 * Entries hold a copy of the principal in one malloc'd block.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>

#include "identity/identity_int.h"
#include "util/status.h"

struct id_cache_entry {
	unsigned char key[32];
	struct id_cached_principal *p;
	struct id_cache_entry *next;           /* bucket chain */
	struct id_cache_entry *prev_lru, *next_lru;
};

/* One block: the struct, then every string with a NUL. */
struct id_cached_principal *
id_cached_copy(const struct id_cached_principal *p)
{
	const struct str *src[] = { &p->issuer, &p->subject, &p->trust_domain,
	    &p->claims_json, &p->k8s_ns, &p->k8s_sa };
	struct id_cached_principal *c;
	struct str *dst[6];
	size_t total = sizeof(*c);
	char *w;

	for (size_t i = 0; i < 6; i++) {
		if (src[i]->n > SIZE_MAX / 2 - total)
			return NULL;
		total += src[i]->n + 1;
	}
	if ((c = malloc(total)) == NULL)
		return NULL;
	*c = *p;
	dst[0] = &c->issuer; dst[1] = &c->subject; dst[2] = &c->trust_domain;
	dst[3] = &c->claims_json; dst[4] = &c->k8s_ns; dst[5] = &c->k8s_sa;
	w = (char *)(c + 1);
	for (size_t i = 0; i < 6; i++) {
		if (src[i]->n > 0)
			memcpy(w, src[i]->p, src[i]->n);
		w[src[i]->n] = '\0';
		*dst[i] = str_make(w, src[i]->n);
		w += src[i]->n + 1;
	}
	return c;
}

int
id_cache_init(struct id_cache *c, size_t cap)
{
	memset(c, 0, sizeof(*c));
	if (pthread_mutex_init(&c->mu, NULL) != 0)
		return MANDATE_EINTERNAL;
	c->cap = cap;
	if (cap == 0)
		return MANDATE_OK;
	c->n_buckets = 16;
	while (c->n_buckets < cap && c->n_buckets < ((size_t)1 << 24))
		c->n_buckets <<= 1;
	if ((c->buckets = calloc(c->n_buckets, sizeof(*c->buckets))) ==
	    NULL) {
		pthread_mutex_destroy(&c->mu);
		return MANDATE_ENOMEM;
	}
	return MANDATE_OK;
}

static void
entry_free(struct id_cache_entry *e)
{
	free(e->p);
	free(e);
}

void
id_cache_fini(struct id_cache *c)
{
	struct id_cache_entry *e = c->lru_head, *next;

	for (; e != NULL; e = next) {
		next = e->next_lru;
		entry_free(e);
	}
	free(c->buckets);
	pthread_mutex_destroy(&c->mu);
	memset(c, 0, sizeof(*c));
}

static size_t
bucket_of(const struct id_cache *c, const unsigned char key[32])
{
	size_t h;

	memcpy(&h, key, sizeof(h));   /* SHA-256 output: already uniform */
	return h & (c->n_buckets - 1);
}

static struct id_cache_entry **
find_slot(struct id_cache *c, const unsigned char key[32])
{
	struct id_cache_entry **pp = &c->buckets[bucket_of(c, key)];

	while (*pp != NULL && memcmp((*pp)->key, key, 32) != 0)
		pp = &(*pp)->next;
	return pp;
}

static void
lru_unlink(struct id_cache *c, struct id_cache_entry *e)
{
	if (e->prev_lru != NULL)
		e->prev_lru->next_lru = e->next_lru;
	else
		c->lru_head = e->next_lru;
	if (e->next_lru != NULL)
		e->next_lru->prev_lru = e->prev_lru;
	else
		c->lru_tail = e->prev_lru;
	e->prev_lru = e->next_lru = NULL;
}

static void
lru_push(struct id_cache *c, struct id_cache_entry *e)
{
	e->prev_lru = NULL;
	e->next_lru = c->lru_head;
	if (c->lru_head != NULL)
		c->lru_head->prev_lru = e;
	c->lru_head = e;
	if (c->lru_tail == NULL)
		c->lru_tail = e;
}

/* Unlink the entry at *pp from both lists and free it. */
static void
remove_at(struct id_cache *c, struct id_cache_entry **pp)
{
	struct id_cache_entry *e = *pp;

	*pp = e->next;
	lru_unlink(c, e);
	entry_free(e);
	c->n--;
}

bool
id_cache_get(struct id_cache *c, const unsigned char key[32], int64_t now,
    struct id_cached_principal **out)
{
	struct id_cache_entry **pp;
	bool found = false;

	*out = NULL;
	if (c->cap == 0)
		return false;
	pthread_mutex_lock(&c->mu);
	pp = find_slot(c, key);
	if (*pp != NULL && (*pp)->p->exp <= now) {
		remove_at(c, pp);
	} else if (*pp != NULL) {
		struct id_cache_entry *e = *pp;

		lru_unlink(c, e);
		lru_push(c, e);
		*out = id_cached_copy(e->p);
		found = *out != NULL;
	}
	if (found)
		c->hits++;
	else
		c->misses++;
	pthread_mutex_unlock(&c->mu);
	return found;
}

void
id_cache_put(struct id_cache *c, const unsigned char key[32],
    const struct id_cached_principal *p)
{
	struct id_cache_entry *e, **pp;

	if (c->cap == 0)
		return;
	if ((e = calloc(1, sizeof(*e))) == NULL)
		return;
	if ((e->p = id_cached_copy(p)) == NULL) {
		free(e);
		return;
	}
	memcpy(e->key, key, 32);
	pthread_mutex_lock(&c->mu);
	pp = find_slot(c, key);
	if (*pp != NULL)
		remove_at(c, pp);     /* replace: the newer verification wins */
	while (c->n >= c->cap && c->lru_tail != NULL) {
		struct id_cache_entry **victim = find_slot(c,
		    c->lru_tail->key);

		remove_at(c, victim);
		c->evictions++;
	}
	pp = &c->buckets[bucket_of(c, key)];
	e->next = *pp;
	*pp = e;
	lru_push(c, e);
	c->n++;
	c->inserts++;
	pthread_mutex_unlock(&c->mu);
}

bool
id_cache_del(struct id_cache *c, const unsigned char key[32])
{
	struct id_cache_entry **pp;
	bool found = false;

	if (c->cap == 0)
		return false;
	pthread_mutex_lock(&c->mu);
	pp = find_slot(c, key);
	if (*pp != NULL) {
		remove_at(c, pp);
		found = true;
	}
	pthread_mutex_unlock(&c->mu);
	return found;
}

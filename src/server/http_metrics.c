/*
 * http_metrics.c - counters and histograms with Prometheus text output.
 *
 * Families are registered up front with fixed label names.  A series (one
 * set of label values) is found through a small hash table of atomic
 * list heads: lookups and updates take no lock; creating a series takes
 * the registry's mutex once and publishes the node with a release store,
 * so readers either see a complete node or none.  Series are never
 * removed before http_metrics_free().
 */
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server/http.h"
#include "util/status.h"

#define SERIES_BUCKETS 64

enum metric_kind { METRIC_COUNTER, METRIC_HISTOGRAM };

struct http_series {
	struct http_series *_Atomic next_hash;  /* hash chain */
	struct http_series *next_all;   /* creation order, under the lock */
	char **values;
	_Atomic uint64_t count;         /* counter value / observations */
	_Atomic uint64_t sum_bits;      /* histogram sum (double bits) */
	_Atomic uint64_t *buckets;      /* per bound, not cumulative */
	const double *bounds;           /* the family's, sorted */
	size_t n_buckets;
};

struct http_metric {
	struct http_metric *next;
	struct http_metrics *reg;
	enum metric_kind kind;
	char *name, *help;
	char *labels[HTTP_METRIC_MAX_LABELS];
	size_t n_labels;
	double *bounds;
	size_t n_bounds;
	struct http_series *_Atomic table[SERIES_BUCKETS];
	struct http_series *first, *last;   /* creation order */
	size_t n_series;
};

struct http_metrics {
	pthread_mutex_t lock;
	struct http_metric *first, *last;
};

struct http_metrics *
http_metrics_new(void)
{
	struct http_metrics *m = calloc(1, sizeof(*m));

	if (m == NULL)
		return NULL;
	if (pthread_mutex_init(&m->lock, NULL) != 0) {
		free(m);
		return NULL;
	}
	return m;
}

static void
series_free(struct http_series *s, size_t n_labels)
{
	if (s == NULL)
		return;
	if (s->values != NULL)
		for (size_t i = 0; i < n_labels; i++)
			free(s->values[i]);
	free(s->values);
	free(s->buckets);
	free(s);
}

static void
metric_free(struct http_metric *f)
{
	struct http_series *s, *next;

	if (f == NULL)
		return;
	for (s = f->first; s != NULL; s = next) {
		next = s->next_all;
		series_free(s, f->n_labels);
	}
	for (size_t i = 0; i < f->n_labels; i++)
		free(f->labels[i]);
	free(f->name);
	free(f->help);
	free(f->bounds);
	free(f);
}

void
http_metrics_free(struct http_metrics *m)
{
	struct http_metric *f, *next;

	if (m == NULL)
		return;
	for (f = m->first; f != NULL; f = next) {
		next = f->next;
		metric_free(f);
	}
	pthread_mutex_destroy(&m->lock);
	free(m);
}

static int
valid_name(const char *s, int allow_colon)
{
	if (s == NULL || *s == '\0')
		return 0;
	for (size_t i = 0; s[i] != '\0'; i++) {
		unsigned char c = (unsigned char)s[i];
		int ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    c == '_' || (allow_colon && c == ':') ||
		    (i > 0 && c >= '0' && c <= '9');
		if (!ok || i > 200)
			return 0;
	}
	return 1;
}

static char *
dup_c(const char *s)
{
	size_t n = strlen(s);
	char *d = malloc(n + 1);

	if (d != NULL)
		memcpy(d, s, n + 1);
	return d;
}

static struct http_metric *
metric_new(struct http_metrics *m, enum metric_kind kind, const char *name,
    const char *help, const char *const *labels, size_t n_labels,
    const double *bounds, size_t n_bounds)
{
	struct http_metric *f = NULL, *it;

	if (m == NULL || !valid_name(name, 1) ||
	    n_labels > HTTP_METRIC_MAX_LABELS ||
	    n_bounds > HTTP_METRIC_MAX_BUCKETS ||
	    (n_labels > 0 && labels == NULL) ||
	    (n_bounds > 0 && bounds == NULL))
		return NULL;
	for (size_t i = 0; i < n_labels; i++)
		if (!valid_name(labels[i], 0) || strcmp(labels[i], "le") == 0)
			return NULL;
	for (size_t i = 0; i < n_bounds; i++)
		if (!isfinite(bounds[i]) || (i > 0 && bounds[i] <= bounds[i - 1]))
			return NULL;
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return NULL;
	f->reg = m;
	f->kind = kind;
	f->name = dup_c(name);
	f->help = dup_c(help != NULL ? help : "");
	if (f->name == NULL || f->help == NULL)
		goto fail;
	for (size_t i = 0; i < n_labels; i++) {
		if ((f->labels[i] = dup_c(labels[i])) == NULL)
			goto fail;
		f->n_labels = i + 1;
	}
	if (n_bounds > 0) {
		if ((f->bounds = calloc(n_bounds, sizeof(double))) == NULL)
			goto fail;
		memcpy(f->bounds, bounds, n_bounds * sizeof(double));
		f->n_bounds = n_bounds;
	}
	pthread_mutex_lock(&m->lock);
	for (it = m->first; it != NULL; it = it->next) {
		if (strcmp(it->name, name) == 0) {
			pthread_mutex_unlock(&m->lock);
			goto fail;
		}
	}
	if (m->last != NULL)
		m->last->next = f;
	else
		m->first = f;
	m->last = f;
	pthread_mutex_unlock(&m->lock);
	return f;
fail:
	metric_free(f);
	return NULL;
}

struct http_metric *
http_metrics_counter(struct http_metrics *m, const char *name,
    const char *help, const char *const *labels, size_t n_labels)
{
	return metric_new(m, METRIC_COUNTER, name, help, labels, n_labels,
	    NULL, 0);
}

struct http_metric *
http_metrics_histogram(struct http_metrics *m, const char *name,
    const char *help, const char *const *labels, size_t n_labels,
    const double *bounds, size_t n_bounds)
{
	return metric_new(m, METRIC_HISTOGRAM, name, help, labels, n_labels,
	    bounds, n_bounds);
}

static unsigned long long
values_hash(const struct http_metric *f, const char *const *values)
{
	unsigned long long h = 1469598103934665603ULL;

	for (size_t i = 0; i < f->n_labels; i++) {
		h ^= str_hash(str_c(values[i]));
		h *= 1099511628211ULL;
	}
	return h;
}

static int
values_eq(const struct http_metric *f, const struct http_series *s,
    const char *const *values)
{
	for (size_t i = 0; i < f->n_labels; i++)
		if (strcmp(s->values[i], values[i]) != 0)
			return 0;
	return 1;
}

static struct http_series *
chain_find(struct http_metric *f, size_t slot, const char *const *values)
{
	struct http_series *s;

	s = atomic_load_explicit(&f->table[slot],
	    memory_order_acquire);
	for (; s != NULL;
	    s = atomic_load_explicit(&s->next_hash, memory_order_acquire))
		if (values_eq(f, s, values))
			return s;
	return NULL;
}

struct http_series *
http_metric_series(struct http_metric *f, const char *const *values)
{
	struct http_series *s = NULL;
	size_t slot;

	if (f == NULL || (f->n_labels > 0 && values == NULL))
		return NULL;
	for (size_t i = 0; i < f->n_labels; i++)
		if (values[i] == NULL)
			return NULL;
	slot = (size_t)(values_hash(f, values) % SERIES_BUCKETS);
	if ((s = chain_find(f, slot, values)) != NULL)
		return s;

	pthread_mutex_lock(&f->reg->lock);
	if ((s = chain_find(f, slot, values)) != NULL)
		goto out;
	if (f->n_series >= HTTP_METRIC_MAX_SERIES)
		goto out;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		goto out;
	if (f->n_labels > 0 &&
	    (s->values = calloc(f->n_labels, sizeof(char *))) == NULL)
		goto fail;
	for (size_t i = 0; i < f->n_labels; i++)
		if ((s->values[i] = dup_c(values[i])) == NULL)
			goto fail;
	if (f->kind == METRIC_HISTOGRAM) {
		s->n_buckets = f->n_bounds;
		s->bounds = f->bounds;
		if (f->n_bounds > 0 && (s->buckets = calloc(f->n_bounds,
		    sizeof(*s->buckets))) == NULL)
			goto fail;
	}
	atomic_store_explicit(&s->next_hash,
	    atomic_load_explicit(&f->table[slot], memory_order_relaxed),
	    memory_order_relaxed);
	if (f->last != NULL)
		f->last->next_all = s;
	else
		f->first = s;
	f->last = s;
	f->n_series++;
	atomic_store_explicit(&f->table[slot], s, memory_order_release);
	goto out;
fail:
	series_free(s, f->n_labels);
	s = NULL;
out:
	pthread_mutex_unlock(&f->reg->lock);
	return s;
}

void
http_series_add(struct http_series *s, uint64_t n)
{
	if (s != NULL)
		atomic_fetch_add_explicit(&s->count, n, memory_order_relaxed);
}

void
http_series_observe(struct http_series *s, double v)
{
	uint64_t old, next;
	double sum;

	if (s == NULL || isnan(v))
		return;
	/* the first bound that holds v; cumulated when rendered */
	for (size_t i = 0; i < s->n_buckets; i++) {
		if (v <= s->bounds[i]) {
			atomic_fetch_add_explicit(&s->buckets[i], 1,
			    memory_order_relaxed);
			break;
		}
	}
	old = atomic_load_explicit(&s->sum_bits, memory_order_relaxed);
	do {
		memcpy(&sum, &old, sizeof(sum));
		sum += v;
		memcpy(&next, &sum, sizeof(next));
	} while (!atomic_compare_exchange_weak_explicit(&s->sum_bits, &old,
	    next, memory_order_relaxed, memory_order_relaxed));
	atomic_fetch_add_explicit(&s->count, 1, memory_order_relaxed);
}

uint64_t
http_series_value(const struct http_series *s)
{
	if (s == NULL)
		return 0;
	return atomic_load_explicit(&s->count,
	    memory_order_relaxed);
}

/* ---- text exposition ---- */

struct outbuf {
	char *p;
	size_t n, cap;
	int failed;
};

static void
out_put(struct outbuf *o, const char *s, size_t n)
{
	if (o->failed)
		return;
	if (o->cap - o->n < n + 1) {
		size_t ncap = o->cap ? o->cap : 4096;
		char *np;
		while (ncap - o->n < n + 1) {
			if (ncap > SIZE_MAX / 2) {
				o->failed = 1;
				return;
			}
			ncap *= 2;
		}
		if ((np = realloc(o->p, ncap)) == NULL) {
			o->failed = 1;
			return;
		}
		o->p = np;
		o->cap = ncap;
	}
	memcpy(o->p + o->n, s, n);
	o->n += n;
	o->p[o->n] = '\0';
}

static void
out_str(struct outbuf *o, const char *s)
{
	out_put(o, s, strlen(s));
}

/* HELP text escapes '\' and newline; label values also '"'. */
static void
out_escaped(struct outbuf *o, const char *s, int quote)
{
	for (; *s != '\0'; s++) {
		if (*s == '\\')
			out_put(o, "\\\\", 2);
		else if (*s == '\n')
			out_put(o, "\\n", 2);
		else if (*s == '"' && quote)
			out_put(o, "\\\"", 2);
		else
			out_put(o, s, 1);
	}
}

static void
out_double(struct outbuf *o, double v)
{
	char buf[64];

	if (isinf(v))
		out_str(o, v > 0 ? "+Inf" : "-Inf");
	else if (isnan(v))
		out_str(o, "NaN");
	else {
		/* the shortest of %.15g..%.17g that reads back exactly */
		for (int prec = 15; prec <= 17; prec++) {
			snprintf(buf, sizeof(buf), "%.*g", prec, v);
			if (strtod(buf, NULL) == v)
				break;
		}
		out_str(o, buf);
	}
}

static void
out_u64(struct outbuf *o, uint64_t v)
{
	char buf[32];

	snprintf(buf, sizeof(buf), "%llu", (unsigned long long)v);
	out_str(o, buf);
}

/* {a="x",b="y"[,le="..."]}; nothing when there are no labels at all. */
static void
out_labels(struct outbuf *o, const struct http_metric *f,
    const struct http_series *s, const double *le)
{
	if (f->n_labels == 0 && le == NULL)
		return;
	out_put(o, "{", 1);
	for (size_t i = 0; i < f->n_labels; i++) {
		if (i > 0)
			out_put(o, ",", 1);
		out_str(o, f->labels[i]);
		out_put(o, "=\"", 2);
		out_escaped(o, s->values[i], 1);
		out_put(o, "\"", 1);
	}
	if (le != NULL) {
		if (f->n_labels > 0)
			out_put(o, ",", 1);
		out_put(o, "le=\"", 4);
		out_double(o, *le);
		out_put(o, "\"", 1);
	}
	out_put(o, "}", 1);
}

static void
render_series(struct outbuf *o, const struct http_metric *f,
    struct http_series *s)
{
	uint64_t count = atomic_load_explicit(&s->count, memory_order_relaxed);

	if (f->kind == METRIC_COUNTER) {
		out_str(o, f->name);
		out_labels(o, f, s, NULL);
		out_put(o, " ", 1);
		out_u64(o, count);
		out_put(o, "\n", 1);
		return;
	}
	uint64_t cum = 0, bits;
	double sum, inf = INFINITY;
	for (size_t i = 0; i < s->n_buckets; i++) {
		cum += atomic_load_explicit(&s->buckets[i],
		    memory_order_relaxed);
		out_str(o, f->name);
		out_str(o, "_bucket");
		out_labels(o, f, s, &f->bounds[i]);
		out_put(o, " ", 1);
		out_u64(o, cum);
		out_put(o, "\n", 1);
	}
	/* updates race with rendering: keep +Inf >= every bucket */
	if (count < cum)
		count = cum;
	out_str(o, f->name);
	out_str(o, "_bucket");
	out_labels(o, f, s, &inf);
	out_put(o, " ", 1);
	out_u64(o, count);
	out_put(o, "\n", 1);
	bits = atomic_load_explicit(&s->sum_bits, memory_order_relaxed);
	memcpy(&sum, &bits, sizeof(sum));
	out_str(o, f->name);
	out_str(o, "_sum");
	out_labels(o, f, s, NULL);
	out_put(o, " ", 1);
	out_double(o, sum);
	out_put(o, "\n", 1);
	out_str(o, f->name);
	out_str(o, "_count");
	out_labels(o, f, s, NULL);
	out_put(o, " ", 1);
	out_u64(o, count);
	out_put(o, "\n", 1);
}

int
http_metrics_render(struct http_metrics *m, char **out, size_t *len)
{
	struct outbuf o = { NULL, 0, 0, 0 };
	struct http_metric *f;
	struct http_series *s;

	*out = NULL;
	*len = 0;
	out_put(&o, "", 0);
	/* the lock keeps the creation-order lists stable while we walk */
	pthread_mutex_lock(&m->lock);
	for (f = m->first; f != NULL; f = f->next) {
		out_str(&o, "# HELP ");
		out_str(&o, f->name);
		out_put(&o, " ", 1);
		out_escaped(&o, f->help, 0);
		out_str(&o, "\n# TYPE ");
		out_str(&o, f->name);
		out_str(&o, f->kind == METRIC_COUNTER ? " counter\n" :
		    " histogram\n");
		for (s = f->first; s != NULL; s = s->next_all)
			render_series(&o, f, s);
	}
	pthread_mutex_unlock(&m->lock);
	if (o.failed) {
		free(o.p);
		return MANDATE_ENOMEM;
	}
	*out = o.p;
	*len = o.n;
	return MANDATE_OK;
}

/*
 * authorize.c - the policy-set index and the authorizer.
 *
 * cedar_policy_set_finish() files every policy (templates excluded) under
 * the keys of one scope constraint: principal or resource `==` uid, `in`
 * uid (also `is T in uid`), `is T`; action `==` uid, `in` uid, one key per
 * uid of `in [...]`.  Of its constrained dimensions it picks the one whose
 * keys the fewest policies of the set share, so that 10,000 policies for
 * one action but different principals are filed by principal.  A policy
 * with no scope constraint goes to a catch-all list; one whose scope can
 * never match (`action in []`, an unbound slot) is not filed at all.
 *
 * A request looks up the keys its principal, action and resource can
 * match (the uid itself, for `in` also its ancestors in the entity store,
 * for `is` its type), so a policy filed anywhere else has a scope that
 * cannot match and is never visited.  Scope checks never error, so
 * skipping is exact.  Candidates are evaluated in load order, which keeps
 * reasons and errors in a stable order.
 *
 * The index lives in the set's arena and is read-only after finish, so
 * any number of threads may authorize against one set concurrently.
 */
#include <stdlib.h>
#include <string.h>

#include "cedar_int.h"
#include "eval_int.h"

/* Memory one policy evaluation may use for intermediate values. */
#define EVAL_ARENA_LIMIT (64u << 20)

enum key_tag {
	K_P_EQ = 1,
	K_R_EQ,
	K_A_EQ,
	K_P_IN,
	K_R_IN,
	K_A_IN,
	K_P_IS,
	K_R_IS,
};

struct posting {
	uint8_t tag;
	struct cedar_uid key;   /* for K_*_IS: type only, id empty */
	uint32_t idx;           /* into index->policies */
};

struct bucket {
	uint8_t tag;
	struct cedar_uid key;
	const uint32_t *idx;    /* ascending (a policy may repeat) */
	size_t n;
	size_t weight;          /* policies naming the key in any dimension */
};

struct cedar_index {
	const struct cedar_policy **policies;   /* load order, no templates */
	size_t n_policies;
	struct bucket *buckets;
	size_t n_buckets;
	uint32_t *slots;                         /* bucket index + 1; 0 empty */
	size_t n_slots;                          /* power of two */
	uint32_t *catch_all;                     /* ascending */
	size_t n_catch_all;
};

static bool
is_template(const struct cedar_policy *p)
{
	return p->is_template && p->template_of == NULL;
}

static unsigned long long
key_hash(uint8_t tag, const struct cedar_uid *k)
{
	unsigned long long h = str_hash(k->type);

	h = (h ^ (unsigned long long)tag) * 1099511628211ULL;
	return h ^ (str_hash(k->id) * 0x9E3779B97F4A7C15ULL);
}

/* The uid a scope names, resolving a bound slot; NULL when unbound. */
static const struct cedar_uid *
scope_key(const struct cedar_scope *sc, const struct cedar_uid *slot,
    bool has_slot)
{
	if (!sc->is_slot)
		return &sc->uid;
	return has_slot ? slot : NULL;
}

enum dim { DIM_P = 0, DIM_R, DIM_A, DIM__COUNT };

/* The keys a policy could be filed under in one dimension (principal,
 * resource, action): returns how many (written to out when not NULL), 0
 * when the dimension is unconstrained, or SIZE_MAX when the scope can
 * never match (an unbound slot, `action in []`). */
static size_t
dim_keys(const struct cedar_policy *p, int dim, uint32_t idx,
    struct posting *out)
{
	const struct cedar_scope *sc;
	const struct cedar_uid *k = NULL;
	struct posting one;

	memset(&one, 0, sizeof(one));
	one.idx = idx;
	sc = dim == DIM_P ? &p->principal : dim == DIM_R ? &p->resource :
	    &p->action;
	if (sc->kind == CSCOPE_EQ || sc->kind == CSCOPE_IN ||
	    sc->kind == CSCOPE_IS_IN) {
		if (dim == DIM_P)
			k = scope_key(sc, &p->slot_principal, p->has_slot_principal);
		else if (dim == DIM_R)
			k = scope_key(sc, &p->slot_resource, p->has_slot_resource);
		else
			k = &sc->uid;
		if (k == NULL)
			return SIZE_MAX;
		one.key = *k;
	}
	switch (sc->kind) {
	case CSCOPE_ANY:
		return 0;
	case CSCOPE_EQ:
		one.tag = dim == DIM_P ? K_P_EQ : dim == DIM_R ? K_R_EQ : K_A_EQ;
		break;
	case CSCOPE_IN:
	case CSCOPE_IS_IN:
		one.tag = dim == DIM_P ? K_P_IN : dim == DIM_R ? K_R_IN : K_A_IN;
		break;
	case CSCOPE_IS:
		one.tag = dim == DIM_P ? K_P_IS : K_R_IS;
		one.key.type = sc->is_type;
		break;
	case CSCOPE_IN_SET:
		if (sc->n_uids == 0)
			return SIZE_MAX;
		for (size_t i = 0; out != NULL && i < sc->n_uids; i++) {
			out[i] = one;
			out[i].tag = K_A_IN;
			out[i].key = sc->uids[i];
		}
		return sc->n_uids;
	default:
		return SIZE_MAX;
	}
	if (out != NULL)
		out[0] = one;
	return 1;
}

/* Find or add the bucket of a key (the table has room: it is sized for
 * every key of every policy). */
static struct bucket *
bucket_get(struct cedar_index *ix, const struct posting *k)
{
	size_t s = key_hash(k->tag, &k->key) & (ix->n_slots - 1);
	struct bucket *b;

	while (ix->slots[s] != 0) {
		b = &ix->buckets[ix->slots[s] - 1];
		if (b->tag == k->tag && cedar_uid_eq(&b->key, &k->key))
			return b;
		s = (s + 1) & (ix->n_slots - 1);
	}
	b = &ix->buckets[ix->n_buckets++];
	b->tag = k->tag;
	b->key = k->key;
	ix->slots[s] = (uint32_t)ix->n_buckets;
	return b;
}

/* Where a policy is filed: the constrained dimension whose keys are
 * shared with the fewest other policies (ties: principal, resource,
 * action); -1 for an unconstrained scope, -2 for one that never
 * matches. */
static int
choose_dim(struct cedar_index *ix, const struct cedar_policy *p,
    struct posting *tmp, size_t tmp_cap)
{
	size_t best_cost = SIZE_MAX, n;
	int best = -1;

	for (int d = 0; d < DIM__COUNT; d++) {
		size_t cost = 0;

		n = dim_keys(p, d, 0, NULL);
		if (n == SIZE_MAX)
			return -2;
		if (n == 0)
			continue;
		if (n > tmp_cap) {
			cost = SIZE_MAX - 1;   /* usable, but the last choice */
		} else {
			dim_keys(p, d, 0, tmp);
			for (size_t i = 0; i < n; i++)
				cost += bucket_get(ix, &tmp[i])->weight;
		}
		if (best < 0 || cost < best_cost) {
			best = d;
			best_cost = cost;
		}
	}
	return best;
}

int
cedar_policy_set_finish(struct cedar_policy_set *ps, struct diag_list *dl)
{
	struct arena *a;
	struct cedar_index *ix;
	struct posting *tmp = NULL;
	uint32_t *idx_all, *fill = NULL;
	int8_t *dim = NULL;
	size_t n_keys = 0, n_post = 0, n_catch = 0, tmp_cap = 0, m, off;
	int r = MANDATE_ENOMEM;

	if (ps == NULL)
		return MANDATE_EINVAL;
	if (ps->finished)
		return MANDATE_OK;
	a = &ps->arena;
	if ((ix = arena_zalloc(a, sizeof(*ix))) == NULL)
		goto out;
	ix->policies = arena_calloc(a, ps->n_all + 1, sizeof(*ix->policies));
	if (ix->policies == NULL)
		goto out;
	for (size_t i = 0; i < ps->n_all; i++) {
		if (!is_template(ps->all[i]))
			ix->policies[ix->n_policies++] = ps->all[i];
	}
	if (ix->n_policies > UINT32_MAX / 4) {
		r = MANDATE_ELIMIT;
		goto out;
	}
	/* room for every key of every dimension of every policy */
	for (size_t i = 0; i < ix->n_policies; i++) {
		for (int d = 0; d < DIM__COUNT; d++) {
			m = dim_keys(ix->policies[i], d, 0, NULL);
			if (m != SIZE_MAX) {
				n_keys += m;
				tmp_cap = m > tmp_cap ? m : tmp_cap;
			}
		}
	}
	if (n_keys > UINT32_MAX / 4) {
		r = MANDATE_ELIMIT;
		goto out;
	}
	ix->n_slots = 8;
	while (ix->n_slots < 2 * n_keys)
		ix->n_slots *= 2;
	ix->slots = arena_calloc(a, ix->n_slots, sizeof(*ix->slots));
	ix->buckets = arena_calloc(a, n_keys + 1, sizeof(*ix->buckets));
	tmp = calloc(tmp_cap + 1, sizeof(*tmp));          /* scratch */
	dim = calloc(ix->n_policies + 1, sizeof(*dim));   /* scratch */
	if (ix->slots == NULL || ix->buckets == NULL || tmp == NULL ||
	    dim == NULL)
		goto out;

	/* 1: how many policies name each key, in any dimension */
	for (size_t i = 0; i < ix->n_policies; i++) {
		for (int d = 0; d < DIM__COUNT; d++) {
			m = dim_keys(ix->policies[i], d, 0, tmp);
			for (size_t k = 0; m != SIZE_MAX && k < m; k++)
				bucket_get(ix, &tmp[k])->weight++;
		}
	}
	/* 2: file each policy under its least shared dimension */
	for (size_t i = 0; i < ix->n_policies; i++) {
		dim[i] = (int8_t)choose_dim(ix, ix->policies[i], tmp, tmp_cap);
		if (dim[i] == -1) {
			n_catch++;
		} else if (dim[i] >= 0) {
			m = dim_keys(ix->policies[i], dim[i], 0, tmp);
			for (size_t k = 0; k < m; k++)
				bucket_get(ix, &tmp[k])->n++;
			n_post += m;
		}
	}
	/* 3: lay the buckets out and fill them in load order, so each list
	 * is ascending */
	idx_all = arena_calloc(a, n_post + 1, sizeof(*idx_all));
	ix->catch_all = arena_calloc(a, n_catch + 1, sizeof(*ix->catch_all));
	fill = calloc(ix->n_buckets + 1, sizeof(*fill));   /* scratch */
	if (idx_all == NULL || ix->catch_all == NULL || fill == NULL)
		goto out;
	off = 0;
	for (size_t b = 0; b < ix->n_buckets; b++) {
		ix->buckets[b].idx = idx_all + off;
		off += ix->buckets[b].n;
	}
	for (size_t i = 0; i < ix->n_policies; i++) {
		if (dim[i] == -1) {
			ix->catch_all[ix->n_catch_all++] = (uint32_t)i;
		} else if (dim[i] >= 0) {
			m = dim_keys(ix->policies[i], dim[i], 0, tmp);
			for (size_t k = 0; k < m; k++) {
				struct bucket *bk = bucket_get(ix, &tmp[k]);
				size_t bi = (size_t)(bk - ix->buckets);
				idx_all[bk->idx - idx_all + fill[bi]++] = (uint32_t)i;
			}
		}
	}
	ps->index = ix;
	ps->finished = true;
	r = MANDATE_OK;
out:
	free(tmp);
	free(dim);
	free(fill);
	if (r != MANDATE_OK && dl != NULL)
		diag_add(dl, r, NULL, NULL, 0, 0, 0,
		    "cannot build the policy index: %s", mandate_strerror(r));
	return r;
}

static const struct bucket *
lookup(const struct cedar_index *ix, uint8_t tag, const struct cedar_uid *key)
{
	size_t s = key_hash(tag, key) & (ix->n_slots - 1);

	while (ix->slots[s] != 0) {
		const struct bucket *b = &ix->buckets[ix->slots[s] - 1];
		if (b->tag == tag && cedar_uid_eq(&b->key, key))
			return b;
		s = (s + 1) & (ix->n_slots - 1);
	}
	return NULL;
}

/* The buckets a request can match: at most 4 per variable plus one per
 * ancestor for `in`. */
struct cand {
	const struct bucket **b;
	size_t n, cap;
};

static void
cand_add(struct cand *c, const struct bucket *b)
{
	if (b != NULL && c->n < c->cap)
		c->b[c->n++] = b;
}

static size_t
n_ancestors(const struct cedar_entities *es, const struct cedar_uid *u)
{
	const struct cedar_entity *e = es ? cedar_entities_find(es, u) : NULL;
	return e ? e->n_ancestors : 0;
}

static void
cand_var(struct cand *c, const struct cedar_index *ix,
    const struct cedar_entities *es, const struct cedar_uid *u,
    uint8_t eq_tag, uint8_t in_tag, uint8_t is_tag)
{
	const struct cedar_entity *e = es ? cedar_entities_find(es, u) : NULL;
	struct cedar_uid type_key = { u->type, STR_LIT("") };

	cand_add(c, lookup(ix, eq_tag, u));
	cand_add(c, lookup(ix, in_tag, u));
	for (size_t i = 0; e != NULL && i < e->n_ancestors; i++)
		cand_add(c, lookup(ix, in_tag, &e->ancestors[i]));
	if (is_tag != 0)
		cand_add(c, lookup(ix, is_tag, &type_key));
}

static int
u32_cmp(const void *x, const void *y)
{
	uint32_t a = *(const uint32_t *)x, b = *(const uint32_t *)y;
	return a < b ? -1 : a > b;
}

/* Indices (ascending, unique) of the policies whose scope may match. */
static int
candidates(const struct cedar_index *ix, const struct cedar_entities *es,
    const struct cedar_request *req, struct arena *a, uint32_t **out,
    size_t *n_out)
{
	struct cand c;
	uint32_t *v;
	size_t total, n = 0, m;

	c.cap = 9 + n_ancestors(es, &req->principal) +
	    n_ancestors(es, &req->action) + n_ancestors(es, &req->resource);
	c.n = 0;
	if ((c.b = arena_calloc(a, c.cap, sizeof(*c.b))) == NULL)
		return MANDATE_ENOMEM;
	cand_var(&c, ix, es, &req->principal, K_P_EQ, K_P_IN, K_P_IS);
	cand_var(&c, ix, es, &req->resource, K_R_EQ, K_R_IN, K_R_IS);
	cand_var(&c, ix, es, &req->action, K_A_EQ, K_A_IN, 0);
	total = ix->n_catch_all;
	for (size_t i = 0; i < c.n; i++)
		total += c.b[i]->n;
	if ((v = arena_calloc(a, total + 1, sizeof(*v))) == NULL)
		return MANDATE_ENOMEM;
	memcpy(v, ix->catch_all, ix->n_catch_all * sizeof(*v));
	n = ix->n_catch_all;
	for (size_t i = 0; i < c.n; i++) {
		memcpy(v + n, c.b[i]->idx, c.b[i]->n * sizeof(*v));
		n += c.b[i]->n;
	}
	qsort(v, n, sizeof(*v), u32_cmp);
	m = 0;
	for (size_t i = 0; i < n; i++) {
		if (m == 0 || v[m - 1] != v[i])
			v[m++] = v[i];
	}
	*out = v;
	*n_out = m;
	return MANDATE_OK;
}

static const char *
cstr_copy(struct arena *a, struct str s)
{
	return arena_strdup(a, s.p != NULL ? s.p : "", s.n).p;
}

int
cedar_authorize(const struct cedar_policy_set *ps,
    const struct cedar_entities *es, const struct cedar_request *req,
    struct arena *a, struct cedar_decision *out)
{
	struct arena scratch, vals;
	struct cedar_eval_ctx ctx;
	const struct cedar_policy *const *pols;
	const struct cedar_policy **permits = NULL, **forbids = NULL;
	struct cedar_policy_error *errors = NULL;
	const char **reasons = NULL;
	const struct cedar_policy **winners;
	uint32_t *cand = NULL;
	size_t n_cand = 0, n_pols, n_permit = 0, n_forbid = 0, n_err = 0;
	size_t n_win;
	int r = MANDATE_EINVAL;

	arena_init(&scratch, 0);
	arena_init(&vals, EVAL_ARENA_LIMIT);
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (ps == NULL || req == NULL || a == NULL || out == NULL)
		goto out;

	if (ps->index != NULL) {
		pols = ps->index->policies;
		n_pols = ps->index->n_policies;
		r = candidates(ps->index, es, req, &scratch, &cand, &n_cand);
		if (r != MANDATE_OK)
			goto out;
	} else {
		/* not finished: a linear scan over every policy */
		pols = (const struct cedar_policy *const *)ps->all;
		n_pols = ps->n_all;
		n_cand = n_pols;
	}
	r = MANDATE_ENOMEM;
	permits = arena_calloc(a, n_cand + 1, sizeof(*permits));
	forbids = arena_calloc(a, n_cand + 1, sizeof(*forbids));
	errors = arena_calloc(a, n_cand + 1, sizeof(*errors));
	if (permits == NULL || forbids == NULL || errors == NULL)
		goto out;

	for (size_t i = 0; i < n_cand; i++) {
		const struct cedar_policy *p = pols[cand ? cand[i] : i];
		bool applies = false;
		int er;

		if (is_template(p))
			continue;
		/* each policy starts with empty value memory */
		arena_reset(&vals);
		memset(&ctx, 0, sizeof(ctx));
		ctx.arena = &vals;
		ctx.entities = es;
		ctx.req = req;
		ctx.max_steps = CEDAR_MAX_EVAL_STEPS;
		er = cedar_policy_eval(&ctx, p, &applies);
		if (er == MANDATE_ELIMIT && p->effect == CEDAR_FORBID) {
			/* A step limit is ours, not Cedar's (Cedar has none).
			 * Skipping a forbid we could not finish could turn a
			 * deny into an allow: fail closed, no decision. */
			r = er;
			goto out;
		}
		if (er == MANDATE_EEVAL || er == MANDATE_ELIMIT) {
			errors[n_err].policy_id = cstr_copy(a, p->id);
			errors[n_err].message = arena_cstrdup(a, ctx.err.msg);
			errors[n_err].forbid = p->effect == CEDAR_FORBID;
			if (errors[n_err].policy_id == NULL ||
			    errors[n_err].message == NULL)
				goto out;
			n_err++;
			continue;
		}
		if (er != MANDATE_OK) {
			r = er;   /* out of memory or a broken invariant */
			goto out;
		}
		if (applies) {
			if (p->effect == CEDAR_FORBID)
				forbids[n_forbid++] = p;
			else
				permits[n_permit++] = p;
		}
	}

	winners = n_forbid > 0 ? forbids : permits;
	n_win = n_forbid > 0 ? n_forbid : n_permit;
	if ((reasons = arena_calloc(a, n_win + 1, sizeof(*reasons))) == NULL)
		goto out;
	for (size_t i = 0; i < n_win; i++) {
		if ((reasons[i] = cstr_copy(a, winners[i]->id)) == NULL)
			goto out;
	}
	out->allow = n_forbid == 0 && n_permit > 0;
	out->reasons = reasons;
	out->n_reasons = n_win;
	out->errors = errors;
	out->n_errors = n_err;
	r = MANDATE_OK;
out:
	arena_free(&scratch);
	arena_free(&vals);
	if (r != MANDATE_OK && out != NULL)
		memset(out, 0, sizeof(*out));
	return r;
}

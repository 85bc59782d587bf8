/*
 * authorize.c - the policy-set index and the authorizer.
 *
 * cedar_policy_set_finish() files every policy (templates excluded) under
 * one key, chosen from its most selective scope constraint:
 * principal == uid, resource == uid, action == uid, principal in uid,
 * resource in uid, action in uid (one key per uid of `in [...]`),
 * principal is T, resource is T; a policy with no scope constraint goes to
 * a catch-all list.  A request looks up the keys its principal, action and
 * resource can match (for `in`, the uid itself and its ancestors in the
 * entity store; for `is`, its type), so a policy filed anywhere else has a
 * scope that cannot match and is never visited.  Scope checks never
 * error, so skipping is exact.  Candidates are evaluated in load order.
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
	const uint32_t *idx;    /* ascending */
	size_t n;
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

static int
posting_cmp(const void *x, const void *y)
{
	const struct posting *a = x, *b = y;
	int r;

	if (a->tag != b->tag)
		return a->tag < b->tag ? -1 : 1;
	if ((r = cedar_uid_cmp(&a->key, &b->key)) != 0)
		return r;
	return a->idx < b->idx ? -1 : a->idx > b->idx;
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

/* Choose the key(s) a policy is filed under.  Returns the number of
 * postings written to out (0 with *catch_all set, or 0 when the scope
 * can never match); with out NULL only counts. */
static size_t
policy_keys(const struct cedar_policy *p, uint32_t idx, struct posting *out,
    bool *catch_all)
{
	const struct cedar_scope *ps = &p->principal, *as = &p->action,
	    *rs = &p->resource;
	const struct cedar_uid *pk = NULL, *rk = NULL;
	struct posting one;

	*catch_all = false;
	memset(&one, 0, sizeof(one));
	one.idx = idx;
	if (ps->kind == CSCOPE_EQ || ps->kind == CSCOPE_IN ||
	    ps->kind == CSCOPE_IS_IN) {
		pk = scope_key(ps, &p->slot_principal, p->has_slot_principal);
		if (pk == NULL)
			return 0;
	}
	if (rs->kind == CSCOPE_EQ || rs->kind == CSCOPE_IN ||
	    rs->kind == CSCOPE_IS_IN) {
		rk = scope_key(rs, &p->slot_resource, p->has_slot_resource);
		if (rk == NULL)
			return 0;
	}
	if (ps->kind == CSCOPE_EQ) {
		one.tag = K_P_EQ;
		one.key = *pk;
	} else if (rs->kind == CSCOPE_EQ) {
		one.tag = K_R_EQ;
		one.key = *rk;
	} else if (as->kind == CSCOPE_EQ) {
		one.tag = K_A_EQ;
		one.key = as->uid;
	} else if (pk != NULL) {
		one.tag = K_P_IN;
		one.key = *pk;
	} else if (rk != NULL) {
		one.tag = K_R_IN;
		one.key = *rk;
	} else if (as->kind == CSCOPE_IN) {
		one.tag = K_A_IN;
		one.key = as->uid;
	} else if (as->kind == CSCOPE_IN_SET) {
		for (size_t i = 0; out != NULL && i < as->n_uids; i++) {
			out[i] = one;
			out[i].tag = K_A_IN;
			out[i].key = as->uids[i];
		}
		return as->n_uids;
	} else if (ps->kind == CSCOPE_IS) {
		one.tag = K_P_IS;
		one.key.type = ps->is_type;
	} else if (rs->kind == CSCOPE_IS) {
		one.tag = K_R_IS;
		one.key.type = rs->is_type;
	} else {
		*catch_all = true;
		return 0;
	}
	if (out != NULL)
		out[0] = one;
	return 1;
}

int
cedar_policy_set_finish(struct cedar_policy_set *ps, struct diag_list *dl)
{
	struct arena *a;
	struct cedar_index *ix;
	struct posting *post = NULL;
	uint32_t *idx_all;
	size_t n_post = 0, k, n_catch = 0;
	bool catch_all;
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
	if (ix->n_policies > UINT32_MAX - 1) {
		r = MANDATE_ELIMIT;
		goto out;
	}
	for (size_t i = 0; i < ix->n_policies; i++) {
		n_post += policy_keys(ix->policies[i], (uint32_t)i, NULL,
		    &catch_all);
		n_catch += catch_all;
	}
	post = calloc(n_post + 1, sizeof(*post));   /* scratch, freed below */
	idx_all = arena_calloc(a, n_post + 1, sizeof(*idx_all));
	ix->catch_all = arena_calloc(a, n_catch + 1, sizeof(*ix->catch_all));
	if (post == NULL || idx_all == NULL || ix->catch_all == NULL)
		goto out;
	k = 0;
	for (size_t i = 0; i < ix->n_policies; i++) {
		k += policy_keys(ix->policies[i], (uint32_t)i, post + k,
		    &catch_all);
		if (catch_all)
			ix->catch_all[ix->n_catch_all++] = (uint32_t)i;
	}
	qsort(post, n_post, sizeof(*post), posting_cmp);

	/* one bucket per distinct key */
	ix->buckets = arena_calloc(a, n_post + 1, sizeof(*ix->buckets));
	if (ix->buckets == NULL)
		goto out;
	for (size_t i = 0; i < n_post; i++) {
		struct bucket *b;
		idx_all[i] = post[i].idx;
		if (i == 0 || post[i].tag != post[i - 1].tag ||
		    !cedar_uid_eq(&post[i].key, &post[i - 1].key)) {
			b = &ix->buckets[ix->n_buckets++];
			b->tag = post[i].tag;
			b->key = post[i].key;
			b->idx = &idx_all[i];
		}
		ix->buckets[ix->n_buckets - 1].n++;
	}
	ix->n_slots = 8;
	while (ix->n_slots < 2 * ix->n_buckets)
		ix->n_slots *= 2;
	if ((ix->slots = arena_calloc(a, ix->n_slots, sizeof(*ix->slots))) == NULL)
		goto out;
	for (size_t i = 0; i < ix->n_buckets; i++) {
		size_t s = key_hash(ix->buckets[i].tag, &ix->buckets[i].key) &
		    (ix->n_slots - 1);
		while (ix->slots[s] != 0)
			s = (s + 1) & (ix->n_slots - 1);
		ix->slots[s] = (uint32_t)(i + 1);
	}
	ps->index = ix;
	ps->finished = true;
	r = MANDATE_OK;
out:
	free(post);
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
		if (er == MANDATE_EEVAL || er == MANDATE_ELIMIT) {
			errors[n_err].policy_id = cstr_copy(a, p->id);
			errors[n_err].message = arena_cstrdup(a, ctx.err.msg);
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

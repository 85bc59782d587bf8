/*
 * policyset.c - the policy set container: parse-and-add, template
 * linking, counting, the actions permits name, and reference counting.
 *
 * A set owns one arena holding every policy, template, AST and source
 * text added to it.  Adding is all-or-nothing: a parse error or a
 * duplicate id leaves the visible contents unchanged (the arena may keep
 * the memory of the failed attempt until the set is freed).  Once
 * cedar_policy_set_finish (authorize.c) has run the set is immutable and
 * may be shared between threads; its lifetime is then governed by the
 * atomic reference count.
 */
#include <stdlib.h>
#include <string.h>

#include "cedar_int.h"

int
cedar_policy_set_new(struct cedar_policy_set **out)
{
	struct cedar_policy_set *ps;

	*out = NULL;
	if ((ps = calloc(1, sizeof(*ps))) == NULL)
		return MANDATE_ENOMEM;
	arena_init(&ps->arena, 0);
	ps->refs = 1;
	*out = ps;
	return MANDATE_OK;
}

struct cedar_policy_set *
cedar_policy_set_ref(struct cedar_policy_set *ps)
{
	if (ps != NULL)
		__atomic_fetch_add(&ps->refs, 1, __ATOMIC_RELAXED);
	return ps;
}

void
cedar_policy_set_unref(struct cedar_policy_set *ps)
{
	if (ps == NULL)
		return;
	if (__atomic_fetch_sub(&ps->refs, 1, __ATOMIC_ACQ_REL) != 1)
		return;
	arena_free(&ps->arena);
	free(ps);
}

size_t
cedar_policy_set_count(const struct cedar_policy_set *ps)
{
	size_t n = 0;

	for (size_t i = 0; i < ps->n_all; i++)
		if (!ps->all[i]->is_template)
			n++;
	return n;
}

int
cedar_policy_set_refuse_templates(const struct cedar_policy_set *ps,
    const char *why, struct diag_list *dl)
{
	int r = MANDATE_OK;

	for (size_t i = 0; i < ps->n_all; i++) {
		const struct cedar_policy *q = ps->all[i];

		if (!q->is_template || q->template_of != NULL)
			continue;
		diag_add(dl, MANDATE_EINVAL, q->file, q->src, q->src_len,
		    q->off, q->len, "`%.*s` is a template (it has a "
		    "?principal or ?resource slot): %s", q->id.n > 64 ? 64 :
		    (int)q->id.n, q->id.p, why);
		r = MANDATE_EINVAL;
	}
	return r;
}

static const struct cedar_policy *
find_by_id(const struct cedar_policy_set *ps, struct str id)
{
	for (size_t i = 0; i < ps->n_all; i++)
		if (str_eq(ps->all[i]->id, id))
			return ps->all[i];
	return NULL;
}

/* Make room for `extra` more entries in ps->all. */
static int
reserve(struct cedar_policy_set *ps, size_t extra)
{
	struct cedar_policy **nv;
	size_t ncap;

	if (ps->n_all + extra <= ps->cap_all)
		return MANDATE_OK;
	ncap = ps->cap_all ? ps->cap_all : 16;
	while (ncap < ps->n_all + extra)
		ncap *= 2;
	nv = arena_realloc(&ps->arena, ps->all,
	    ps->cap_all * sizeof(*ps->all), ncap * sizeof(*ps->all));
	if (nv == NULL)
		return MANDATE_ENOMEM;
	ps->all = nv;
	ps->cap_all = ncap;
	return MANDATE_OK;
}

static int
id_ptr_cmp(const void *x, const void *y)
{
	const struct cedar_policy *a = *(const struct cedar_policy *const *)x;
	const struct cedar_policy *b = *(const struct cedar_policy *const *)y;

	return str_cmp(a->id, b->id);
}

int
cedar_policy_set_add(struct cedar_policy_set *ps, const char *src,
    size_t len, const char *file, enum cedar_id_mode mode,
    struct diag_list *dl)
{
	struct cedar_policy *pols = NULL;
	const struct cedar_policy **sorted = NULL;
	size_t n = 0, total;
	int r;
	bool dup = false;

	if (ps == NULL)
		return MANDATE_EINVAL;
	if (ps->finished) {
		diag_add(dl, MANDATE_EINVAL, file, NULL, 0, 0, 0,
		    "the policy set is finished and cannot change");
		return MANDATE_EINVAL;
	}
	r = cedar_parse_policies(&ps->arena, src, len, file, ps->n_loaded,
	    mode == CEDAR_IDS_ANNOTATION, &pols, &n, dl);
	if (r != MANDATE_OK)
		return r;
	/* duplicate ids, among the new ones and against the set */
	total = ps->n_all + n;
	if (total > 1) {
		if ((sorted = calloc(total, sizeof(*sorted))) == NULL)
			return MANDATE_ENOMEM;
		for (size_t i = 0; i < ps->n_all; i++)
			sorted[i] = ps->all[i];
		for (size_t i = 0; i < n; i++)
			sorted[ps->n_all + i] = &pols[i];
		qsort(sorted, total, sizeof(*sorted), id_ptr_cmp);
		for (size_t i = 1; i < total; i++) {
			const struct cedar_policy *q;
			char idb[84] = "";
			if (!str_eq(sorted[i]->id, sorted[i - 1]->id))
				continue;
			/* report at the new one */
			q = sorted[i] >= pols && sorted[i] < pols + n ?
			    sorted[i] : sorted[i - 1];
			for (size_t k = 0; k < q->id.n && k + 4 < sizeof(idb);
			    k++) {
				unsigned char c = (unsigned char)q->id.p[k];
				idb[k] = c < 0x20 || c == 0x7F ? '?' : (char)c;
				idb[k + 1] = '\0';
			}
			diag_add(dl, MANDATE_EPARSE, file, q->src, q->src_len,
			    q->off, q->len, "duplicate policy id `%s%s`", idb,
			    q->id.n + 4 >= sizeof(idb) ? "..." : "");
			dup = true;
		}
		free(sorted);
		if (dup)
			return MANDATE_EPARSE;
	}
	if ((r = reserve(ps, n)) != MANDATE_OK)
		return r;
	for (size_t i = 0; i < n; i++)
		ps->all[ps->n_all++] = &pols[i];
	ps->n_loaded += n;
	return MANDATE_OK;
}

int
cedar_policy_set_link(struct cedar_policy_set *ps, const char *template_id,
    const char *new_id, const char *principal, const char *resource,
    struct diag_list *dl)
{
	const struct cedar_policy *tmpl;
	struct cedar_uid pu, ru;
	struct cedar_policy *pol = NULL;
	int r;

	if (ps == NULL || template_id == NULL || new_id == NULL)
		return MANDATE_EINVAL;
	if (ps->finished) {
		diag_add(dl, MANDATE_EINVAL, NULL, NULL, 0, 0, 0,
		    "the policy set is finished and cannot change");
		return MANDATE_EINVAL;
	}
	if ((tmpl = find_by_id(ps, str_c(template_id))) == NULL ||
	    !tmpl->is_template) {
		diag_add(dl, MANDATE_ENOTFOUND, NULL, NULL, 0, 0, 0,
		    "no template with id `%s`", template_id);
		return MANDATE_ENOTFOUND;
	}
	if (find_by_id(ps, str_c(new_id)) != NULL) {
		diag_add(dl, MANDATE_EINVAL, NULL, NULL, 0, 0, 0,
		    "duplicate policy id `%s`", new_id);
		return MANDATE_EINVAL;
	}
	if ((tmpl->principal.is_slot != (principal != NULL)) ||
	    (tmpl->resource.is_slot != (resource != NULL))) {
		diag_add(dl, MANDATE_EINVAL, NULL, NULL, 0, 0, 0,
		    "template `%s` takes %s ?principal value and %s "
		    "?resource value", template_id,
		    tmpl->principal.is_slot ? "one" : "no",
		    tmpl->resource.is_slot ? "one" : "no");
		return MANDATE_EINVAL;
	}
	if (principal != NULL && (r = cedar_parse_uid(&ps->arena, principal,
	    strlen(principal), &pu, dl)) != MANDATE_OK)
		return r;
	if (resource != NULL && (r = cedar_parse_uid(&ps->arena, resource,
	    strlen(resource), &ru, dl)) != MANDATE_OK)
		return r;
	if ((r = reserve(ps, 1)) != MANDATE_OK)
		return r;
	r = cedar_link_template(&ps->arena, tmpl, str_c(new_id),
	    principal ? &pu : NULL, resource ? &ru : NULL, &pol);
	if (r != MANDATE_OK)
		return r;
	ps->all[ps->n_all++] = pol;
	return MANDATE_OK;
}

/* Has uid (type, id) been seen among the first n of seen[]? */
static bool
seen_before(const struct cedar_uid *const *seen, size_t n,
    const struct cedar_uid *u)
{
	for (size_t i = 0; i < n; i++)
		if (str_eq(seen[i]->id, u->id))
			return true;
	return false;
}

int
cedar_policy_set_each_permit_action(const struct cedar_policy_set *ps,
    const char *type, size_t type_len, cedar_entity_fn fn, void *arg)
{
	struct str t = str_make(type, type_len);
	const struct cedar_uid **seen = NULL;
	size_t n_seen = 0, cap = 0;
	int r = MANDATE_OK;

	if (ps == NULL)
		return MANDATE_OK;
	for (size_t i = 0; i < ps->n_all && r == MANDATE_OK; i++) {
		const struct cedar_policy *p = ps->all[i];
		const struct cedar_scope *a = &p->action;
		const struct cedar_uid *one = &a->uid, *uids;
		size_t n;

		if (p->is_template || p->effect != CEDAR_PERMIT)
			continue;
		if (a->kind == CSCOPE_EQ && !a->is_slot) {
			uids = one;
			n = 1;
		} else if (a->kind == CSCOPE_IN_SET) {
			uids = a->uids;
			n = a->n_uids;
		} else {
			continue;     /* any action, or a group's members */
		}
		for (size_t k = 0; k < n && r == MANDATE_OK; k++) {
			const struct cedar_uid *u = &uids[k];

			if (!str_eq(u->type, t) || seen_before(seen, n_seen, u))
				continue;
			if (n_seen == cap) {
				size_t nc = cap ? cap * 2 : 16;
				const struct cedar_uid **ns = realloc(seen,
				    nc * sizeof(*ns));

				if (ns == NULL) {
					r = MANDATE_ENOMEM;
					break;
				}
				seen = ns;
				cap = nc;
			}
			seen[n_seen++] = u;
			r = fn(arg, u->id.p, u->id.n);
		}
	}
	free(seen);
	return r;
}

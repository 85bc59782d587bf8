/* eval_world.h - shared by the eval unit tests: test-only entity store
 * lookups and a small hand-built world of users, groups, actions and
 * resources.  Included by exactly one file per test program. */
#ifndef EVAL_WORLD_H
#define EVAL_WORLD_H

/* ------------------------------------------------------------------ */
/* Test-only entity store lookups.  Weak, so that the real ones from the
 * entities module win whenever they are linked in; the stores built here
 * list their entities in an array and these stubs scan it. */

__attribute__((weak)) const struct cedar_entity *
cedar_entities_find(const struct cedar_entities *es, const struct cedar_uid *uid)
{
	for (size_t i = 0; es != NULL && i < es->n_entities; i++) {
		if (cedar_uid_eq(&es->entities[i].uid, uid))
			return &es->entities[i];
	}
	return NULL;
}

__attribute__((weak)) bool
cedar_entities_in(const struct cedar_entities *es, const struct cedar_uid *a,
    const struct cedar_uid *b)
{
	const struct cedar_entity *e;

	if (cedar_uid_eq(a, b))
		return true;
	if ((e = cedar_entities_find(es, a)) == NULL)
		return false;
	for (size_t i = 0; i < e->n_ancestors; i++) {
		if (cedar_uid_eq(&e->ancestors[i], b))
			return true;
	}
	return false;
}

#define S(lit) STR_LIT(lit)

/* ------------------------------------------------------------------ */
/* A tiny universe: users u0..u5 in groups g0..g2 (g0 in g2), actions
 * a0..a3 with a0, a1 in the group ag, resources r0..r3 of two types. */
struct world {
	struct arena arena;
	struct cedar_entities es;
	struct cedar_uid users[6], groups[3], actions[4], agroup, res[4];
};

static struct cedar_uid
mkuid(struct arena *a, const char *type, const char *prefix, int i)
{
	char buf[32];
	struct cedar_uid u;

	snprintf(buf, sizeof(buf), "%s%d", prefix, i);
	u.type = arena_strdup(a, type, strlen(type));
	u.id = arena_strdup(a, buf, strlen(buf));
	return u;
}

static int
uid_qcmp(const void *x, const void *y)
{
	return cedar_uid_cmp(x, y);
}

static void
world_init(struct world *w)
{
	struct cedar_entity *ents;
	size_t n = 0;

	memset(w, 0, sizeof(*w));
	arena_init(&w->arena, 0);
	for (int i = 0; i < 6; i++)
		w->users[i] = mkuid(&w->arena, "User", "u", i);
	for (int i = 0; i < 3; i++)
		w->groups[i] = mkuid(&w->arena, "Group", "g", i);
	for (int i = 0; i < 4; i++)
		w->actions[i] = mkuid(&w->arena, "Action", "a", i);
	w->agroup = mkuid(&w->arena, "Action", "ag", 0);
	for (int i = 0; i < 4; i++)
		w->res[i] = mkuid(&w->arena, i < 2 ? "Doc" : "Photo", "r", i);
	ents = arena_calloc(&w->arena, 32, sizeof(*ents));
	/* users: u_i in g_(i%3); g0 in g2, so u0 and u3 are also in g2 */
	for (int i = 0; i < 6; i++) {
		struct cedar_uid *anc = arena_calloc(&w->arena, 2, sizeof(*anc));
		size_t na = 0;
		anc[na++] = w->groups[i % 3];
		if (i % 3 == 0)
			anc[na++] = w->groups[2];
		qsort(anc, na, sizeof(*anc), uid_qcmp);
		ents[n].uid = w->users[i];
		ents[n].parents = anc;
		ents[n].n_parents = 1;
		ents[n].ancestors = anc;
		ents[n].n_ancestors = na;
		ents[n].attrs.kind = CV_RECORD;
		ents[n].tags.kind = CV_RECORD;
		n++;
	}
	for (int i = 0; i < 3; i++) {
		ents[n].uid = w->groups[i];
		if (i == 0) {
			ents[n].ancestors = &w->groups[2];
			ents[n].n_ancestors = 1;
		}
		ents[n].attrs.kind = CV_RECORD;
		ents[n].tags.kind = CV_RECORD;
		n++;
	}
	for (int i = 0; i < 4; i++) {
		ents[n].uid = w->actions[i];
		if (i < 2) {
			ents[n].ancestors = &w->agroup;
			ents[n].n_ancestors = 1;
		}
		ents[n].attrs.kind = CV_RECORD;
		ents[n].tags.kind = CV_RECORD;
		n++;
	}
	w->es.entities = ents;
	w->es.n_entities = n;
}


#endif

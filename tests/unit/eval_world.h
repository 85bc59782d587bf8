/* eval_world.h - shared by the eval unit tests: a small world of users,
 * groups, actions and resources, with its entity store.  Included by
 * exactly one file per test program. */
#ifndef EVAL_WORLD_H
#define EVAL_WORLD_H

#define S(lit) STR_LIT(lit)

/* ------------------------------------------------------------------ */
/* A tiny universe: users u_i in groups g_(i%3) (g0 in g2), actions a0..a3
 * with a0, a1 in the group ag0, resources r0..r3 of two types (not in the
 * store). */
struct world {
	struct arena arena;
	struct cedar_entities *es;
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

/* The world's entities, in Cedar's entity JSON.  User::"u0" has
 * attributes and a tag. */
static const char world_json[] =
    "["
    "{\"uid\":{\"type\":\"User\",\"id\":\"u0\"},"
    " \"attrs\":{\"age\":30,\"name\":\"alice\","
    "  \"manager\":{\"__entity\":{\"type\":\"User\",\"id\":\"nobody\"}},"
    "  \"nick\":{\"first\":\"al\"}},"
    " \"tags\":{\"level\":3},"
    " \"parents\":[{\"type\":\"Group\",\"id\":\"g0\"}]},"
    "{\"uid\":{\"type\":\"User\",\"id\":\"u1\"},\"attrs\":{},"
    " \"parents\":[{\"type\":\"Group\",\"id\":\"g1\"}]},"
    "{\"uid\":{\"type\":\"User\",\"id\":\"u2\"},\"attrs\":{},"
    " \"parents\":[{\"type\":\"Group\",\"id\":\"g2\"}]},"
    "{\"uid\":{\"type\":\"User\",\"id\":\"u3\"},\"attrs\":{},"
    " \"parents\":[{\"type\":\"Group\",\"id\":\"g0\"}]},"
    "{\"uid\":{\"type\":\"User\",\"id\":\"u4\"},\"attrs\":{},"
    " \"parents\":[{\"type\":\"Group\",\"id\":\"g1\"}]},"
    "{\"uid\":{\"type\":\"User\",\"id\":\"u5\"},\"attrs\":{},"
    " \"parents\":[{\"type\":\"Group\",\"id\":\"g2\"}]},"
    "{\"uid\":{\"type\":\"Group\",\"id\":\"g0\"},\"attrs\":{},"
    " \"parents\":[{\"type\":\"Group\",\"id\":\"g2\"}]},"
    "{\"uid\":{\"type\":\"Group\",\"id\":\"g1\"},\"attrs\":{},\"parents\":[]},"
    "{\"uid\":{\"type\":\"Group\",\"id\":\"g2\"},\"attrs\":{},\"parents\":[]},"
    "{\"uid\":{\"type\":\"Action\",\"id\":\"a0\"},\"attrs\":{},"
    " \"parents\":[{\"type\":\"Action\",\"id\":\"ag0\"}]},"
    "{\"uid\":{\"type\":\"Action\",\"id\":\"a1\"},\"attrs\":{},"
    " \"parents\":[{\"type\":\"Action\",\"id\":\"ag0\"}]},"
    "{\"uid\":{\"type\":\"Action\",\"id\":\"a2\"},\"attrs\":{},\"parents\":[]},"
    "{\"uid\":{\"type\":\"Action\",\"id\":\"a3\"},\"attrs\":{},\"parents\":[]}"
    "]";

static void
world_init(struct world *w)
{
	struct diag_list dl;

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
	diag_init(&dl);
	if (cedar_entities_parse_json(world_json, sizeof(world_json) - 1, NULL,
	    NULL, &w->es, &dl) != MANDATE_OK)
		fail_msg("world entities: %s", dl.n > 0 ? dl.items[0].msg : "?");
}

static void
world_free(struct world *w)
{
	cedar_entities_free(w->es);
	arena_free(&w->arena);
}

#endif

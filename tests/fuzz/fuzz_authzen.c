/*
 * fuzz_authzen.c - the AuthZEN body parsers (src/authzen).
 *
 * The input goes through the evaluation, evaluations and all three
 * search parsers.  An accepted body that breaks a promise (a required
 * member missing or empty, a type that is not a Cedar name, an oversized
 * string, a batch past its bound) aborts; every accepted evaluation must
 * produce uids and an entity text that the Cedar entity parser accepts
 * or refuses cleanly, and the entities built as a tree over the body's
 * nodes (authzen_entity_tree, cedar_entities_from_tree) must give the
 * same store as their text, or the same refusal: differential.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authzen/authzen.h"
#include "cedar/cedar_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_entity(const struct authzen_entity *e, bool need_id)
{
	if (!authzen_type_ok(e->type) || e->type.n > AUTHZEN_MAX_TYPE ||
	    (need_id && e->id.n == 0) || e->id.n > AUTHZEN_MAX_ID)
		abort();
}

/* Subject and resource (those with properties; the resource only when it
 * is another entity) as text and as a tree: the same store, or both
 * refused. */
static void
check_tree(struct arena *a, const char *body, size_t size,
    const struct authzen_eval *e)
{
	const struct authzen_entity *ents[2] = { &e->subject, &e->resource };
	struct cedar_entities *tx = NULL, *tr = NULL;
	struct ajson root, items[2];
	struct diag_list dl;
	char *buf = NULL, *text;
	size_t len = 0, n = 0;
	int r_text, r_tree;

	for (int i = 0; i < 2; i++) {
		if (ents[i]->properties == NULL ||
		    ents[i]->properties->u.obj.n == 0)
			continue;
		if (i == 1 && n > 0 && str_eq(e->resource.type,
		    e->subject.type) && str_eq(e->resource.id, e->subject.id))
			continue;
		if (authzen_entities_add(a, body, ents[i], &buf, &len) != 0 ||
		    authzen_entity_tree(a, ents[i], &items[n]) != 0)
			return;   /* arena limit */
		n++;
	}
	if (n == 0 || (text = authzen_entities_close(a, buf, len)) == NULL)
		return;
	memset(&root, 0, sizeof(root));
	root.type = AJSON_ARRAY;
	root.u.arr.items = items;
	root.u.arr.n = n;
	diag_init(&dl);
	r_text = cedar_entities_parse_json(text, strlen(text), "f", NULL, &tx,
	    &dl);
	diag_init(&dl);
	r_tree = cedar_entities_from_tree(&root, body, size, "f", NULL, &tr,
	    &dl);
	if (r_text == MANDATE_ENOMEM || r_tree == MANDATE_ENOMEM)
		goto out;
	if ((r_text == MANDATE_OK) != (r_tree == MANDATE_OK))
		abort();
	if (r_text != MANDATE_OK)
		goto out;
	if (tx->n_entities != tr->n_entities)
		abort();
	for (size_t i = 0; i < tx->n_entities; i++) {
		const struct cedar_entity *a1 = &tx->entities[i];
		const struct cedar_entity *a2 = cedar_entities_find(tr,
		    &a1->uid);

		if (a2 == NULL || !cedar_value_eq(&a1->attrs, &a2->attrs) ||
		    !cedar_value_eq(&a1->tags, &a2->tags) ||
		    a1->n_parents != a2->n_parents)
			abort();
	}
out:
	cedar_entities_free(tx);
	cedar_entities_free(tr);
}

static void
check_eval(struct arena *a, const char *body, const struct authzen_eval *e)
{
	struct cedar_entities *es = NULL;
	struct diag_list dl;
	char *buf = NULL, *text;
	size_t len = 0;

	check_entity(&e->subject, true);
	check_entity(&e->resource, true);
	if (e->action.name.n == 0 || e->action.name.n > AUTHZEN_MAX_NAME)
		abort();
	if (authzen_cedar_uid(a, e->subject.type, e->subject.id) == NULL)
		return;   /* arena limit */
	if (authzen_entities_add(a, body, &e->resource, &buf, &len) != 0 ||
	    (text = authzen_entities_close(a, buf, len)) == NULL)
		return;
	diag_init(&dl);
	if (cedar_entities_parse_json(text, strlen(text), "f", NULL, &es,
	    &dl) == 0 && !cedar_entities_has(es, e->resource.type.p,
	    e->resource.type.n, e->resource.id.p, e->resource.id.n))
		abort();
	cedar_entities_free(es);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *body = (const char *)data;
	struct authzen_eval e;
	struct authzen_batch b;
	struct authzen_search s;
	struct arena a;
	char err[256];

	arena_init(&a, 1u << 22);
	if (authzen_parse_evaluation(&a, body, size, &e, err,
	    sizeof(err)) == 0) {
		check_eval(&a, body, &e);
		check_tree(&a, body, size, &e);
	}
	if (authzen_parse_evaluations(&a, body, size, &b, err,
	    sizeof(err)) == 0) {
		if (b.n == 0 || b.n > AUTHZEN_MAX_BATCH || (b.single &&
		    b.n != 1))
			abort();
		for (size_t i = 0; i < b.n; i++)
			if (b.items[i].error == NULL) {
				check_eval(&a, body, &b.items[i]);
				check_tree(&a, body, size, &b.items[i]);
			}
	}
	for (int k = 0; k < 3; k++)
		if (authzen_parse_search(&a, body, size,
		    (enum authzen_search_kind)k, &s, err, sizeof(err)) == 0 &&
		    (s.limit == 0 || s.limit > AUTHZEN_MAX_PAGE))
			abort();
	arena_free(&a);
	return 0;
}

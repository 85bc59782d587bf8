/*
 * fuzz_authzen.c - the AuthZEN body parsers (src/authzen).
 *
 * The input goes through the evaluation, evaluations and all three
 * search parsers.  An accepted body that breaks a promise (a required
 * member missing or empty, a type that is not a Cedar name, an oversized
 * string, a batch past its bound) aborts; every accepted evaluation must
 * produce uids and an entity text that the Cedar entity parser accepts
 * or refuses cleanly.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "authzen/authzen.h"
#include "cedar/cedar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_entity(const struct authzen_entity *e, bool need_id)
{
	if (!authzen_type_ok(e->type) || e->type.n > AUTHZEN_MAX_TYPE ||
	    (need_id && e->id.n == 0) || e->id.n > AUTHZEN_MAX_ID)
		abort();
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
	if (authzen_parse_evaluation(&a, body, size, &e, err, sizeof(err)) == 0)
		check_eval(&a, body, &e);
	if (authzen_parse_evaluations(&a, body, size, &b, err,
	    sizeof(err)) == 0) {
		if (b.n == 0 || b.n > AUTHZEN_MAX_BATCH || (b.single &&
		    b.n != 1))
			abort();
		for (size_t i = 0; i < b.n; i++)
			if (b.items[i].error == NULL)
				check_eval(&a, body, &b.items[i]);
	}
	for (int k = 0; k < 3; k++)
		if (authzen_parse_search(&a, body, size,
		    (enum authzen_search_kind)k, &s, err, sizeof(err)) == 0 &&
		    (s.limit == 0 || s.limit > AUTHZEN_MAX_PAGE))
			abort();
	arena_free(&a);
	return 0;
}

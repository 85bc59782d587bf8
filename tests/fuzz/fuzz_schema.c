/*
 * fuzz_schema.c - both schema parsers.  The first byte chooses the form
 * ('j': JSON, anything else: the .cedarschema text); the rest is the
 * schema.  A schema that parses is walked through its lookups, which must
 * find every entity type and action it lists.
 */
#include <stdint.h>
#include <stdlib.h>

#include "cedar/cedar_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cedar_schema *s = NULL;
	struct diag_list dl;
	const char *src;
	int r;

	if (size == 0)
		return 0;
	src = (const char *)data + 1;
	diag_init(&dl);
	if (data[0] == 'j')
		r = cedar_schema_parse_json(src, size - 1, "fuzz", &s, &dl);
	else
		r = cedar_schema_parse_text(src, size - 1, "fuzz", &s, &dl);
	if ((r == MANDATE_OK) != (s != NULL))
		abort();
	if (s == NULL) {
		if (dl.n == 0)
			abort();   /* every failure says why */
		return 0;
	}
	for (size_t i = 0; i < s->n_entity_types; i++)
		if (cedar_schema_entity_type(s, s->entity_types[i].name) !=
		    &s->entity_types[i])
			abort();
	for (size_t i = 0; i < s->n_actions; i++)
		if (cedar_schema_action(s, &s->actions[i].uid) !=
		    &s->actions[i])
			abort();
	cedar_schema_free(s);
	return 0;
}

/*
 * fuzz_uid.c - an entity uid read by cedar_parse_uid's fast path (a plain
 * path and an id without escapes) is the uid the parser makes:
 * differential.  The input is read as it is, and behind a space, which
 * the fast path leaves to the parser; the two must agree on the result
 * and, when both take it, on the uid.  Anything else aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/cedar_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list dl;
	struct cedar_uid u1, u2;
	struct arena a;
	char *spaced;
	int r1, r2;

	if (size > 4096 || (spaced = malloc(size + 1)) == NULL)
		return 0;
	spaced[0] = ' ';
	if (size > 0)
		memcpy(spaced + 1, data, size);
	arena_init(&a, 16u << 20);
	diag_init(&dl);
	r1 = cedar_parse_uid(&a, (const char *)data, size, &u1, &dl);
	r2 = cedar_parse_uid(&a, spaced, size + 1, &u2, &dl);
	if (r1 != MANDATE_ENOMEM && r2 != MANDATE_ENOMEM) {
		if (r1 != r2)
			abort();
		if (r1 == MANDATE_OK && (!str_eq(u1.type, u2.type) ||
		    !str_eq(u1.id, u2.id)))
			abort();
	}
	arena_free(&a);
	free(spaced);
	return 0;
}

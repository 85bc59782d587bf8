/*
 * fuzz_constraints.c - the intent constraint language (agent_ctx.h).
 *
 * The input is "<constraints JSON>\n<arguments JSON>".  The constraints go
 * through agent_constraints_check(); whatever it accepts must be
 * evaluable: agent_constraints_match() runs on it against the arguments
 * (or none) without crashing, and an accepted set must match arguments
 * that are exactly its scalar values where it holds only scalars (a
 * self-consistency check the fuzzer can break).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/agent_ctx.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *p = (const char *)data;
	const char *nl = memchr(p, '\n', size);
	size_t cn = nl != NULL ? (size_t)(nl - p) : size;
	char err[200];
	json_t *con, *args = NULL, *v;
	const char *key;
	bool scalars_only = true;

	if (agent_constraints_check(p, cn, err, sizeof(err)) != 0)
		return 0;
	if ((con = json_loadb(p, cn, JSON_REJECT_DUPLICATES, NULL)) == NULL)
		abort();             /* accepted text must parse */
	if (nl != NULL)
		args = json_loadb(nl + 1, size - cn - 1, 0, NULL);
	(void)agent_constraints_match(con, args);
	(void)agent_constraints_match(con, NULL);
	json_object_foreach(con, key, v)
		if (json_is_array(v) || json_is_object(v))
			scalars_only = false;
	if (scalars_only && !agent_constraints_match(con, con))
		abort();             /* equal values must match themselves */
	json_decref(args);
	json_decref(con);
	return 0;
}

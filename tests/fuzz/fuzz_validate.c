/*
 * fuzz_validate.c - fuzz the strict validator.
 *
 * Input: schema text, a line "%%", then policy text.  Inputs whose parts
 * do not parse are dropped; the rest are validated.  The validator must
 * never crash, loop without bound or leak, whatever the policies do.
 */
#include <stdint.h>
#include <string.h>

#include "cedar/cedar.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *src = (const char *)data;
	const char *sep = NULL;
	struct cedar_schema *schema = NULL;
	struct cedar_policy_set *ps = NULL;
	struct diag_list dl;
	size_t schema_n;

	for (size_t i = 0; i + 4 <= size; i++) {
		if (memcmp(src + i, "\n%%\n", 4) == 0) {
			sep = src + i;
			break;
		}
	}
	if (sep == NULL)
		return 0;
	schema_n = (size_t)(sep - src);
	diag_init(&dl);
	if (cedar_schema_parse_text(src, schema_n, "schema", &schema, &dl) !=
	    MANDATE_OK)
		goto out;
	if (cedar_policy_set_new(&ps) != MANDATE_OK)
		goto out;
	if (cedar_policy_set_add(ps, sep + 4, size - schema_n - 4, "policy",
	    CEDAR_IDS_POSITIONAL, &dl) != MANDATE_OK)
		goto out;
	diag_init(&dl);
	(void)cedar_policy_set_validate(ps, schema, &dl);
out:
	cedar_policy_set_unref(ps);
	if (schema != NULL)
		cedar_schema_free(schema);
	return 0;
}

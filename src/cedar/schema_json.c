/* schema_json.c - the JSON schema form (in progress). */
#include "schema_int.h"

int
cedar_schema_parse_json(const char *src, size_t len, const char *file,
    struct cedar_schema **out, struct diag_list *dl)
{
	struct schema_report rep = { dl, file, src, len, 0, false };

	if (out == NULL)
		return MANDATE_EINVAL;
	*out = NULL;
	schema_error(&rep, MANDATE_EINVAL, NULL, "JSON schemas: not yet");
	return MANDATE_EINVAL;
}

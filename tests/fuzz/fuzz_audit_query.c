/*
 * fuzz_audit_query.c - the time parameters of GET /v1/audit (`from`,
 * `to`: Unix seconds or an RFC 3339 date-time) from untrusted query
 * strings.
 *
 * api_audit_parse_time() must accept or refuse without reading past the
 * input; an accepted time is never negative, and an all-digit input of at
 * most 18 digits is its own value.  A violation aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon_int.h"
#include "util/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *copy;
	int64_t t = -1, v = 0;
	int digits = size > 0 && size <= 18;

	/* an exact-size copy: reading past it is a sanitizer error */
	if ((copy = malloc(size ? size : 1)) == NULL)
		return 0;
	memcpy(copy, data, size);
	for (size_t i = 0; i < size && digits; i++) {
		if (data[i] < '0' || data[i] > '9')
			digits = 0;
		else
			v = v * 10 + (data[i] - '0');    /* <= 18 digits */
	}
	if (api_audit_parse_time(str_make(copy, size), &t) == MANDATE_OK) {
		if (t < 0)
			abort();
		if (digits && t != v)
			abort();
	} else if (digits) {
		abort();
	}
	free(copy);
	return 0;
}

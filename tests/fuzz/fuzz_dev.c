/*
 * fuzz_dev.c - the `mandate dev` argument parsers: --ttl durations and
 * agent/user names.  An accepted duration outside [1, DEV_TTL_MAX], or an
 * accepted name with a character outside [A-Za-z0-9._-], aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "dev/dev.h"
#include "util/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char buf[128];
	int64_t v = 0;
	size_t n = size < sizeof(buf) - 1 ? size : sizeof(buf) - 1;

	memcpy(buf, data, n);
	buf[n] = '\0';
	if (dev_parse_ttl(buf, &v) == MANDATE_OK && (v < 1 || v > DEV_TTL_MAX))
		abort();
	if (dev_name_ok(buf)) {
		size_t len = strlen(buf);
		if (len == 0 || len > DEV_NAME_MAX ||
		    strspn(buf, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUV"
		    "WXYZ0123456789._-") != len)
			abort();
	}
	return 0;
}

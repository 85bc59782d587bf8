/*
 * fuzz_spiffe_id.c - the SPIFFE ID parser.  Every accepted input must
 * split into "spiffe://" + trust domain + path exactly, with a non-empty
 * trust domain and a path that is empty or starts with '/', and must stay
 * accepted when re-parsed from its parts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "identity/identity.h"
#include "util/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const char *s = (const char *)data;
	struct str td, path;
	char buf[IDENTITY_SPIFFE_ID_MAX];

	if (identity_spiffe_id_parse(s, size, &td, &path) != MANDATE_OK) {
		if (td.n != 0 || path.n != 0)
			abort();
		return 0;
	}
	if (size > IDENTITY_SPIFFE_ID_MAX || td.n == 0 ||
	    9 + td.n + path.n != size || td.p != s + 9 ||
	    (path.n > 0 && path.p[0] != '/') ||
	    (path.n > 0 && path.p[path.n - 1] == '/') ||
	    memchr(s, 0, size) != NULL)
		abort();
	memcpy(buf, "spiffe://", 9);
	memcpy(buf + 9, td.p, td.n);
	memcpy(buf + 9 + td.n, path.p, path.n);
	if (identity_spiffe_id_parse(buf, size, NULL, NULL) != MANDATE_OK)
		abort();
	return 0;
}

/*
 * spiffe.c - SPIFFE ID syntax (the SPIFFE-ID standard as summarised in
 * STANDARDS.md): one strict scanner used for JWT-SVID subjects and
 * X.509-SVID URI SANs.  No allocation; the outputs point into the input.
 */
#include <stdbool.h>
#include <string.h>

#include "identity/identity.h"
#include "util/status.h"

static bool
td_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '.' || c == '-' || c == '_';
}

static bool
path_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
	    (c >= '0' && c <= '9') || c == '.' || c == '-' || c == '_';
}

int
identity_spiffe_id_parse(const char *s, size_t n, struct str *td,
    struct str *path)
{
	static const char scheme[] = "spiffe://";
	const size_t sl = sizeof(scheme) - 1;
	size_t i, td_end, seg;

	if (td != NULL)
		*td = STR_NULL;
	if (path != NULL)
		*path = STR_NULL;
	if (s == NULL || n <= sl || n > IDENTITY_SPIFFE_ID_MAX ||
	    memcmp(s, scheme, sl) != 0)
		return MANDATE_EINVAL;
	for (i = sl; i < n && s[i] != '/'; i++)
		if (!td_char((unsigned char)s[i]))
			return MANDATE_EINVAL;   /* also ':', '@', '?', '#' */
	td_end = i;
	if (td_end == sl)
		return MANDATE_EINVAL;
	while (i < n) {
		/* s[i] == '/': one segment follows */
		seg = ++i;
		while (i < n && s[i] != '/') {
			if (!path_char((unsigned char)s[i]))
				return MANDATE_EINVAL;
			i++;
		}
		if (i == seg)
			return MANDATE_EINVAL;   /* empty or trailing '/' */
		if ((i - seg == 1 && s[seg] == '.') ||
		    (i - seg == 2 && s[seg] == '.' && s[seg + 1] == '.'))
			return MANDATE_EINVAL;
	}
	if (td != NULL)
		*td = str_make(s + sl, td_end - sl);
	if (path != NULL)
		*path = str_make(s + td_end, n - td_end);
	return MANDATE_OK;
}

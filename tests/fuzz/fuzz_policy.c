/*
 * fuzz_policy.c - fuzz the Cedar policy parser.
 *
 * Parses the input as a policy set; when it parses, prints every policy,
 * parses the printed text again and checks that printing it once more
 * gives the same text (the printer round-trip).  The input is also tried
 * as a single expression and as an entity uid.  Any mismatch traps.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/cedar_int.h"
#include "cedar/parse_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define DUMP_CAP (1u << 20)

static size_t
dump_all(const struct cedar_policy *p, size_t n, char *buf, size_t cap,
    bool *ok)
{
	size_t off = 0, len = 0;

	*ok = true;
	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (cedar_policy_dump(&p[i], buf + off, cap - off - 1, &len) !=
		    MANDATE_OK) {
			*ok = false;   /* too big to compare; not a bug */
			return off;
		}
		off += len;
		buf[off++] = '\n';
		buf[off] = '\0';
	}
	return off;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena a;
	struct diag_list dl;
	struct cedar_policy *p = NULL, *p2 = NULL;
	struct cedar_expr *e = NULL;
	struct cedar_uid u;
	size_t n = 0, n2 = 0, l1, l2;
	char *d1 = NULL, *d2 = NULL;
	bool ok1, ok2;

	arena_init(&a, 64u << 20);
	diag_init(&dl);
	if (cedar_parse_policies(&a, (const char *)data, size, "fuzz", 0, true,
	    &p, &n, &dl) == MANDATE_OK) {
		d1 = malloc(DUMP_CAP);
		d2 = malloc(DUMP_CAP);
		if (d1 == NULL || d2 == NULL)
			goto out;
		l1 = dump_all(p, n, d1, DUMP_CAP, &ok1);
		if (ok1) {
			if (cedar_parse_policies(&a, d1, l1, "dump", 0, true,
			    &p2, &n2, &dl) != MANDATE_OK || n2 != n)
				__builtin_trap();
			l2 = dump_all(p2, n2, d2, DUMP_CAP, &ok2);
			if (!ok2 || l1 != l2 || memcmp(d1, d2, l1) != 0)
				__builtin_trap();
		}
	}
	diag_init(&dl);
	(void)cedar_parse_expr(&a, (const char *)data, size, &e, &dl);
	diag_init(&dl);
	(void)cedar_parse_uid(&a, (const char *)data, size, &u, &dl);
out:
	free(d1);
	free(d2);
	arena_free(&a);
	return 0;
}

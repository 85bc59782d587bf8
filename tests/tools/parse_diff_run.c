/*
 * parse_diff_run.c - run by hand, driven by parse_diff.js: read
 * length-prefixed policy texts from a file and print, per text, "OK
 * <static> <templates>" or "ERR" as Mandate's parser sees it.
 *
 *   cc -I src tests/tools/parse_diff_run.c build/src/libmandate.a \
 *      -ljansson -lm -o /tmp/parse_diff_run
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>

#include "cedar/cedar_int.h"

int
main(int argc, char **argv)
{
	FILE *fp;
	unsigned char hdr[4];
	char *buf = NULL;

	if (argc != 2 || (fp = fopen(argv[1], "rb")) == NULL)
		return 2;
	while (fread(hdr, 1, 4, fp) == 4) {
		size_t n = (size_t)hdr[0] | (size_t)hdr[1] << 8 |
		    (size_t)hdr[2] << 16 | (size_t)hdr[3] << 24;
		struct arena a;
		struct diag_list dl;
		struct cedar_policy *p;
		size_t np = 0, nt = 0;

		if ((buf = realloc(buf, n + 1)) == NULL ||
		    fread(buf, 1, n, fp) != n)
			return 2;
		arena_init(&a, 0);
		diag_init(&dl);
		if (cedar_parse_policies(&a, buf, n, NULL, 0, false, &p, &np,
		    &dl) == MANDATE_OK) {
			for (size_t i = 0; i < np; i++)
				nt += p[i].is_template;
			printf("OK %zu %zu\n", np - nt, nt);
		} else {
			/* one line per case: newlines in the message go */
			const char *m = dl.n ? dl.items[0].msg : "";
			fputs("ERR ", stdout);
			for (; *m; m++)
				putchar(*m == '\n' || *m == '\r' ? ' ' : *m);
			putchar('\n');
		}
		arena_free(&a);
	}
	free(buf);
	fclose(fp);
	return 0;
}

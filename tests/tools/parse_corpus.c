/*
 * parse_corpus.c - run by hand: parse every file named on the command
 * line as a Cedar policy set, print failures, and check that the printer
 * round-trips (parse -> print -> parse -> print is stable).
 *
 *   cc -I src tests/tools/parse_corpus.c build/src/libmandate.a -ljansson \
 *      -o /tmp/parse_corpus && /tmp/parse_corpus FILE...
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/cedar_int.h"
#include "cedar/parse_int.h"

static char *
slurp(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long len;

	if (fp == NULL)
		return NULL;
	fseek(fp, 0, SEEK_END);
	len = ftell(fp);
	fseek(fp, 0, SEEK_SET);
	buf = malloc((size_t)len + 1);
	if (buf == NULL || fread(buf, 1, (size_t)len, fp) != (size_t)len) {
		fclose(fp);
		free(buf);
		return NULL;
	}
	fclose(fp);
	*n = (size_t)len;
	return buf;
}

static int
dump_all(const struct cedar_policy *pols, size_t n, char *buf, size_t cap)
{
	size_t off = 0, len;

	for (size_t i = 0; i < n; i++) {
		if (cedar_policy_dump(&pols[i], buf + off, cap - off, &len) != 0)
			return -1;
		off += len;
		if (off + 2 >= cap)
			return -1;
		buf[off++] = '\n';
		buf[off] = '\0';
	}
	return 0;
}

int
main(int argc, char **argv)
{
	static char d1[1 << 22], d2[1 << 22];
	int ok = 0, bad = 0, rt_bad = 0;

	for (int i = 1; i < argc; i++) {
		struct arena a;
		struct diag_list dl;
		struct cedar_policy *pols = NULL, *pols2 = NULL;
		size_t n = 0, n2 = 0, len = 0;
		char *src = slurp(argv[i], &len);
		int r;

		if (src == NULL)
			continue;
		arena_init(&a, 0);
		diag_init(&dl);
		r = cedar_parse_policies(&a, src, len, argv[i], 0, false,
		    &pols, &n, &dl);
		if (r != 0) {
			bad++;
			printf("FAIL %s (%d)\n", argv[i], r);
			diag_print(&dl, stdout);
		} else {
			ok++;
			if (dump_all(pols, n, d1, sizeof(d1)) != 0 ||
			    cedar_parse_policies(&a, d1, strlen(d1), "dump", 0,
			    false, &pols2, &n2, &dl) != 0 || n2 != n ||
			    dump_all(pols2, n2, d2, sizeof(d2)) != 0 ||
			    strcmp(d1, d2) != 0) {
				rt_bad++;
				printf("ROUNDTRIP %s\n", argv[i]);
				diag_print(&dl, stdout);
			}
		}
		arena_free(&a);
		free(src);
	}
	printf("parsed %d, failed %d, round-trip mismatches %d\n", ok, bad,
	    rt_bad);
	return bad || rt_bad;
}

/*
 * validate_corpus.c - run conformance tests' policies and schemas through
 * the validator and compare with their "shouldValidate".
 *
 * Usage: validate_corpus ROOT TEST.json...   (paths inside the test JSON
 * are relative to ROOT).  Prints one line per mismatch and a summary;
 * exits 0 only when every test agrees.  A development tool, not a test:
 * the corpus is not part of the repository.
 */
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/cedar.h"
#include "cedar/cedar_int.h"

#define MAX_FILE (16u << 20)

static char *
slurp(const char *path, size_t *len)
{
	FILE *fp = fopen(path, "rb");
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (fp == NULL)
		return NULL;
	for (;;) {
		size_t got;
		if (n + 4096 + 1 > cap) {
			char *nb;
			cap = cap ? cap * 2 : 65536;
			if (cap > MAX_FILE || (nb = realloc(buf, cap)) == NULL) {
				free(buf);
				fclose(fp);
				return NULL;
			}
			buf = nb;
		}
		got = fread(buf + n, 1, cap - n - 1, fp);
		n += got;
		if (got == 0)
			break;
	}
	fclose(fp);
	buf[n] = '\0';
	*len = n;
	return buf;
}

/* The test JSON's contexts may hold keys jansson refuses (NUL bytes);
 * the three fields needed here come first, so read them from the text. */
static json_t *
load_fields(const char *path)
{
	size_t n = 0;
	char *txt = slurp(path, &n);
	const char *keys[] = { "policies", "schema" };
	json_t *o = NULL;
	char *p;

	if (txt == NULL || (o = json_object()) == NULL)
		goto out;
	for (size_t k = 0; k < 2; k++) {
		char pat[32], *end;
		snprintf(pat, sizeof(pat), "\"%s\": \"", keys[k]);
		if ((p = strstr(txt, pat)) == NULL)
			continue;
		p += strlen(pat);
		if ((end = strchr(p, '"')) == NULL)
			continue;
		json_object_set_new(o, keys[k], json_stringn(p, (size_t)(end - p)));
	}
	if ((p = strstr(txt, "\"shouldValidate\": ")) != NULL)
		json_object_set_new(o, "shouldValidate",
		    json_boolean(strncmp(p + 18, "true", 4) == 0));
out:
	free(txt);
	return o;
}

static char *
join(const char *root, const char *rel)
{
	size_t n = strlen(root) + strlen(rel) + 2;
	char *p = malloc(n);

	if (p != NULL)
		snprintf(p, n, "%s/%s", root, rel);
	return p;
}

int
main(int argc, char **argv)
{
	int n_ok = 0, n_bad = 0, n_err = 0, verbose = 0, argi = 1;
	const char *root;

	if (argc > 1 && strcmp(argv[1], "-v") == 0) {
		verbose = 1;
		argi++;
	}
	if (argc - argi < 1) {
		fprintf(stderr, "usage: %s [-v] ROOT TEST.json...\n", argv[0]);
		return 2;
	}
	root = argv[argi++];
	for (int i = argi; i < argc; i++) {
		json_error_t jerr;
		json_t *t = json_load_file(argv[i], JSON_ALLOW_NUL, &jerr);
		if (t == NULL)
			t = load_fields(argv[i]);
		const char *pol_rel, *sch_rel;
		char *pol_path = NULL, *sch_path = NULL, *pol = NULL,
		    *sch = NULL;
		size_t pol_n = 0, sch_n = 0;
		struct cedar_policy_set *ps = NULL;
		struct cedar_schema *schema = NULL;
		struct diag_list dl;
		int expect, r;

		if (t == NULL || !json_is_object(t)) {
			fprintf(stderr, "%s: bad test json\n", argv[i]);
			n_err++;
			json_decref(t);
			continue;
		}
		pol_rel = json_string_value(json_object_get(t, "policies"));
		sch_rel = json_string_value(json_object_get(t, "schema"));
		expect = json_is_true(json_object_get(t, "shouldValidate"));
		if (pol_rel == NULL || sch_rel == NULL) {
			n_err++;
			goto next;
		}
		pol_path = join(root, pol_rel);
		sch_path = join(root, sch_rel);
		pol = pol_path ? slurp(pol_path, &pol_n) : NULL;
		sch = sch_path ? slurp(sch_path, &sch_n) : NULL;
		if (pol == NULL || sch == NULL) {
			fprintf(stderr, "%s: cannot read files\n", argv[i]);
			n_err++;
			goto next;
		}
		diag_init(&dl);
		if (strstr(sch_rel, ".json") != NULL)
			r = cedar_schema_parse_json(sch, sch_n, sch_path,
			    &schema, &dl);
		else
			r = cedar_schema_parse_text(sch, sch_n, sch_path,
			    &schema, &dl);
		if (r != MANDATE_OK) {
			printf("SCHEMA-ERROR %s\n", argv[i]);
			if (verbose)
				diag_print(&dl, stdout);
			n_err++;
			goto next;
		}
		diag_init(&dl);
		if (cedar_policy_set_new(&ps) != MANDATE_OK ||
		    cedar_policy_set_add(ps, pol, pol_n, pol_path,
		    CEDAR_IDS_POSITIONAL, &dl) != MANDATE_OK) {
			printf("PARSE-ERROR %s\n", argv[i]);
			if (verbose)
				diag_print(&dl, stdout);
			n_err++;
			goto next;
		}
		diag_init(&dl);
		r = cedar_policy_set_validate(ps, schema, &dl);
		if ((r == MANDATE_OK) == (expect != 0)) {
			n_ok++;
		} else {
			n_bad++;
			printf("MISMATCH %s expected %s got %s\n", argv[i],
			    expect ? "valid" : "invalid",
			    r == MANDATE_OK ? "valid" : mandate_strerror(r));
			if (verbose)
				diag_print(&dl, stdout);
		}
next:
		cedar_policy_set_unref(ps);
		if (schema != NULL)
			cedar_schema_free(schema);
		free(pol);
		free(sch);
		free(pol_path);
		free(sch_path);
		json_decref(t);
	}
	printf("agree %d, mismatch %d, errors %d\n", n_ok, n_bad, n_err);
	return n_bad == 0 && n_err == 0 ? 0 : 1;
}

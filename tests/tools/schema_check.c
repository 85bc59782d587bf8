/*
 * schema_check.c - run by hand: check the schema parsers over many files.
 *
 *   cc -I src tests/tools/schema_check.c build/src/libmandate.a -ljansson \
 *      -o /tmp/schema_check
 *   /tmp/schema_check FILE...
 *       parse each file (.json: the JSON form, else the text form); print
 *       the failures and "N ok, M failed"
 *   /tmp/schema_check -same JSONDIR FILE.cedarschema...
 *       the text schema and JSONDIR/<name>.json must build the same model
 *   /tmp/schema_check -verdicts DIR
 *       compare accept/reject with DIR/manifest.tsv from
 *       tests/tools/schema_diff.js (the reference's verdicts)
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "cedar/cedar_int.h"

static char *
slurp(const char *path, size_t *n)
{
	FILE *fp = fopen(path, "rb");
	char *buf;
	long len;

	if (fp == NULL)
		return NULL;
	if (fseek(fp, 0, SEEK_END) != 0 || (len = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET) != 0) {
		fclose(fp);
		return NULL;
	}
	buf = malloc((size_t)len + 1);
	if (buf == NULL || fread(buf, 1, (size_t)len, fp) != (size_t)len) {
		fclose(fp);
		free(buf);
		return NULL;
	}
	fclose(fp);
	buf[len] = '\0';
	*n = (size_t)len;
	return buf;
}

static bool
is_json(const char *path)
{
	size_t n = strlen(path);

	return n >= 5 && strcmp(path + n - 5, ".json") == 0;
}

static int
parse_file(const char *path, struct cedar_schema **s, struct diag_list *dl)
{
	size_t n;
	char *b = slurp(path, &n);
	int r;

	diag_init(dl);
	*s = NULL;
	if (b == NULL) {
		fprintf(stderr, "%s: cannot read\n", path);
		return MANDATE_EIO;
	}
	r = is_json(path) ? cedar_schema_parse_json(b, n, path, s, dl) :
	    cedar_schema_parse_text(b, n, path, s, dl);
	free(b);
	return r;
}

/* A canonical rendering of the model. */
static void
put_type(FILE *o, const struct cedar_type *t)
{
	static const char *const ext[] = {
		"ipaddr", "decimal", "datetime", "duration",
	};

	switch (t->kind) {
	case CT_BOOL: fputs("Bool", o); break;
	case CT_LONG: fputs("Long", o); break;
	case CT_STRING: fputs("String", o); break;
	case CT_EXT: fputs(ext[t->ext & 3], o); break;
	case CT_ENTITY:
		fprintf(o, "%.*s", (int)t->name.n, t->name.p);
		break;
	case CT_SET:
		fputs("Set<", o);
		put_type(o, t->elem);
		fputs(">", o);
		break;
	default:
		fputs("{", o);
		for (size_t i = 0; i < t->n_attrs; i++) {
			fprintf(o, "%s\"", i ? ", " : "");
			fwrite(t->attrs[i].name.p, 1, t->attrs[i].name.n, o);
			fprintf(o, "\"%s: ", t->attrs[i].required ? "" : "?");
			put_type(o, t->attrs[i].type);
		}
		fputs("}", o);
		break;
	}
}

static void
put_names(FILE *o, const struct str *v, size_t n)
{
	fputs("[", o);
	for (size_t i = 0; i < n; i++)
		fprintf(o, "%s%.*s", i ? ", " : "", (int)v[i].n, v[i].p);
	fputs("]", o);
}

static char *
render(const struct cedar_schema *s, size_t *len)
{
	char *p = NULL;
	FILE *o = open_memstream(&p, len);

	if (o == NULL)
		return NULL;
	for (size_t i = 0; i < s->n_entity_types; i++) {
		const struct cedar_entity_type *e = &s->entity_types[i];
		fprintf(o, "entity %.*s in ", (int)e->name.n, e->name.p);
		put_names(o, e->member_of, e->n_member_of);
		fputs(" shape ", o);
		put_type(o, e->shape);
		if (e->tags != NULL) {
			fputs(" tags ", o);
			put_type(o, e->tags);
		}
		if (e->enum_ids != NULL) {
			fputs(" enum", o);
			for (size_t j = 0; j < e->n_enum_ids; j++) {
				fputs(" \"", o);
				fwrite(e->enum_ids[j].p, 1, e->enum_ids[j].n, o);
				fputs("\"", o);
			}
		}
		fputs("\n", o);
	}
	for (size_t i = 0; i < s->n_actions; i++) {
		const struct cedar_action_decl *a = &s->actions[i];
		fprintf(o, "action %.*s::\"", (int)a->uid.type.n, a->uid.type.p);
		fwrite(a->uid.id.p, 1, a->uid.id.n, o);
		fputs("\" in [", o);
		for (size_t j = 0; j < a->n_member_of; j++) {
			fprintf(o, "%s%.*s::\"", j ? ", " : "",
			    (int)a->member_of[j].type.n, a->member_of[j].type.p);
			fwrite(a->member_of[j].id.p, 1, a->member_of[j].id.n, o);
			fputs("\"", o);
		}
		fputs("] principal ", o);
		put_names(o, a->principal_types, a->n_principal_types);
		fputs(" resource ", o);
		put_names(o, a->resource_types, a->n_resource_types);
		fputs(" context ", o);
		put_type(o, a->context);
		fputs("\n", o);
	}
	fclose(o);
	return p;
}

static int
check_files(int argc, char **argv)
{
	int ok = 0, failed = 0;

	for (int i = 0; i < argc; i++) {
		struct cedar_schema *s;
		struct diag_list dl;

		if (parse_file(argv[i], &s, &dl) == MANDATE_OK) {
			ok++;
		} else {
			failed++;
			diag_print(&dl, stdout);
		}
		cedar_schema_free(s);
	}
	printf("%d ok, %d failed\n", ok, failed);
	return failed != 0;
}

static int
check_same(const char *jdir, int argc, char **argv)
{
	int same = 0, differ = 0, failed = 0;

	for (int i = 0; i < argc; i++) {
		const char *base = strrchr(argv[i], '/');
		size_t bl;
		char jp[4096];
		struct cedar_schema *t, *j;
		struct diag_list dl;
		char *rt = NULL, *rj = NULL;
		size_t lt = 0, lj = 0;

		base = base != NULL ? base + 1 : argv[i];
		bl = strlen(base);
		if (bl > 12 && strcmp(base + bl - 12, ".cedarschema") == 0)
			bl -= 12;
		snprintf(jp, sizeof(jp), "%s/%.*s.json", jdir, (int)bl, base);
		if (parse_file(argv[i], &t, &dl) != MANDATE_OK)
			diag_print(&dl, stdout);
		if (parse_file(jp, &j, &dl) != MANDATE_OK)
			diag_print(&dl, stdout);
		if (t == NULL || j == NULL) {
			failed++;
		} else {
			rt = render(t, &lt);
			rj = render(j, &lj);
			if (rt != NULL && rj != NULL && lt == lj &&
			    memcmp(rt, rj, lt) == 0) {
				same++;
			} else {
				differ++;
				printf("== %s\n%s-- %s\n%s", argv[i],
				    rt ? rt : "", jp, rj ? rj : "");
			}
		}
		free(rt);
		free(rj);
		cedar_schema_free(t);
		cedar_schema_free(j);
	}
	printf("%d same, %d different, %d failed\n", same, differ, failed);
	return differ + failed != 0;
}

static int
check_verdicts(const char *dir)
{
	char path[4096], line[8192];
	int agree = 0, only_mine = 0, only_ref = 0;
	FILE *m;

	snprintf(path, sizeof(path), "%s/manifest.tsv", dir);
	if ((m = fopen(path, "r")) == NULL) {
		fprintf(stderr, "%s: cannot read\n", path);
		return 2;
	}
	while (fgets(line, sizeof(line), m) != NULL) {
		char *end, *msg;
		long id = strtol(line, &end, 10);
		int ref_ok, mine_ok;
		struct cedar_schema *s;
		struct diag_list dl;

		if (end == line || *end != '\t')
			continue;
		ref_ok = end[1] == '1';
		msg = strchr(end + 1, '\t');
		snprintf(path, sizeof(path), "%s/%ld.cedarschema", dir, id);
		if (access(path, R_OK) != 0)
			snprintf(path, sizeof(path), "%s/%ld.json", dir, id);
		mine_ok = parse_file(path, &s, &dl) == MANDATE_OK;
		if (mine_ok == ref_ok) {
			agree++;
		} else {
			if (mine_ok)
				only_mine++;
			else
				only_ref++;
			printf("== %s: reference %s, we %s\n  reference: %s"
			    "  ours: %s\n", path, ref_ok ? "accepts" : "rejects",
			    mine_ok ? "accept" : "reject",
			    msg != NULL ? msg + 1 : "\n",
			    dl.n > 0 ? dl.items[0].msg : "-");
		}
		cedar_schema_free(s);
	}
	fclose(m);
	printf("%d agree, %d accepted only by us, %d only by the reference\n",
	    agree, only_mine, only_ref);
	return only_mine + only_ref != 0;
}

int
main(int argc, char **argv)
{
	if (argc >= 3 && strcmp(argv[1], "-same") == 0)
		return check_same(argv[2], argc - 3, argv + 3);
	if (argc == 3 && strcmp(argv[1], "-verdicts") == 0)
		return check_verdicts(argv[2]);
	if (argc >= 2 && argv[1][0] != '-')
		return check_files(argc - 1, argv + 1);
	fprintf(stderr, "usage: schema_check FILE... | -same JSONDIR FILE... | "
	    "-verdicts DIR\n");
	return 2;
}

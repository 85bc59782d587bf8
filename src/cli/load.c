/* load.c - read policy, schema and entity files for the CLI. */
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "util/file.h"

bool
cli_opt(const char *arg, const char *long_name, const char *short_name)
{
	return (long_name != NULL && strcmp(arg, long_name) == 0) ||
	    (short_name != NULL && strcmp(arg, short_name) == 0);
}

char *
cli_read_file(const char *path, size_t *len)
{
	char *buf = NULL;
	int r = file_read_all(path, CLI_MAX_FILE, &buf, len);

	if (r == MANDATE_ELIMIT)
		fprintf(stderr, "mandate: %s: larger than %u bytes\n", path,
		    CLI_MAX_FILE);
	else if (r == MANDATE_EIO)
		fprintf(stderr, "mandate: %s: %s\n", path, strerror(errno));
	else if (r != MANDATE_OK)
		fprintf(stderr, "mandate: %s: %s\n", path, mandate_strerror(r));
	return buf;
}

/* A uid for cedar_policy_set_link from a links-file value: a string in
 * Cedar syntax as is, or {"type": T, "id": I} written in Cedar syntax
 * (the id escaped).  Returns a malloc'd string or NULL. */
static char *
link_uid_text(json_t *v)
{
	const char *type, *id;
	size_t n, len = 0;
	char *buf;

	if (json_is_string(v))
		return strdup(json_string_value(v));
	if (!json_is_object(v) ||
	    (type = json_string_value(json_object_get(v, "type"))) == NULL ||
	    (id = json_string_value(json_object_get(v, "id"))) == NULL)
		return NULL;
	n = strlen(type) + 2 * strlen(id) + 8;
	if ((buf = malloc(n)) == NULL)
		return NULL;
	len = (size_t)snprintf(buf, n, "%s::\"", type);
	for (const char *c = id; *c != '\0'; c++) {
		if (*c == '"' || *c == '\\')
			buf[len++] = '\\';
		buf[len++] = *c;
	}
	buf[len++] = '"';
	buf[len] = '\0';
	return buf;
}

/*
 * Template links, in the Cedar CLI's format: a JSON array of
 * {"template_id": T, "link_id": L, "args": {"?principal": UID,
 * "?resource": UID}} where UID is `Type::"id"` or {"type","id"}.
 */
static int
add_links(struct cedar_policy_set *ps, const char *file, struct diag_list *dl)
{
	json_error_t jerr;
	json_t *arr = NULL, *item;
	size_t len, i;
	char *src;
	int r = MANDATE_EINVAL;

	if ((src = cli_read_file(file, &len)) == NULL)
		return MANDATE_EIO;
	arr = json_loadb(src, len, JSON_REJECT_DUPLICATES, &jerr);
	free(src);
	if (arr == NULL) {
		cli_json_error(file, &jerr);
		return MANDATE_EINVAL;
	}
	if (!json_is_array(arr)) {
		fprintf(stderr, "%s: error: expected a JSON array of links\n",
		    file);
		goto out;
	}
	json_array_foreach(arr, i, item) {
		const char *tid = json_string_value(json_object_get(item,
		    "template_id"));
		const char *lid = json_string_value(json_object_get(item,
		    "link_id"));
		json_t *args = json_object_get(item, "args");
		json_t *pv = json_object_get(args, "?principal");
		json_t *rv = json_object_get(args, "?resource");
		char *p = pv ? link_uid_text(pv) : NULL;
		char *res = rv ? link_uid_text(rv) : NULL;

		if (tid == NULL || lid == NULL || !json_is_object(args) ||
		    (pv != NULL && p == NULL) || (rv != NULL && res == NULL)) {
			fprintf(stderr, "%s: error: link %zu: expected "
			    "{\"template_id\", \"link_id\", \"args\": "
			    "{\"?principal\"?, \"?resource\"?}}\n", file, i);
			free(p);
			free(res);
			r = MANDATE_EINVAL;	/* an earlier link left r OK */
			goto out;
		}
		r = cedar_policy_set_link(ps, tid, lid, p, res, dl);
		free(p);
		free(res);
		if (r != MANDATE_OK) {
			for (size_t k = 0; k < dl->n; k++)
				fprintf(stderr, "%s: error: link %zu (%s): %s\n",
				    file, i, lid, dl->items[k].msg);
			if (dl->n == 0)
				fprintf(stderr, "%s: error: link %zu (%s): %s\n",
				    file, i, lid, mandate_strerror(r));
			diag_init(dl);
			goto out;
		}
	}
	r = MANDATE_OK;
out:
	json_decref(arr);
	return r;
}

int
cli_load_policies(const char *const *files, size_t n_files,
    const char *links_file, enum cedar_id_mode mode,
    struct cedar_policy_set **out)
{
	struct cedar_policy_set *ps = NULL;
	struct diag_list dl;
	int r;

	*out = NULL;
	diag_init(&dl);
	if ((r = cedar_policy_set_new(&ps)) != MANDATE_OK)
		goto out;
	for (size_t i = 0; i < n_files; i++) {
		size_t len;
		char *src = cli_read_file(files[i], &len);

		if (src == NULL) {
			r = MANDATE_EIO;
			goto out;
		}
		r = cedar_policy_set_add(ps, src, len, files[i], mode, &dl);
		/* diagnostics may point into src: print before freeing it */
		diag_print(&dl, stderr);
		diag_init(&dl);
		free(src);
		if (r != MANDATE_OK)
			goto out;
	}
	if (links_file != NULL &&
	    (r = add_links(ps, links_file, &dl)) != MANDATE_OK)
		goto out;
	if ((r = cedar_policy_set_finish(ps, &dl)) != MANDATE_OK)
		goto out;
	*out = ps;
	ps = NULL;
out:
	diag_print(&dl, stderr);
	if (ps != NULL)
		cedar_policy_set_unref(ps);
	return r;
}

static bool
looks_like_json(const char *file, const char *src, size_t len)
{
	size_t n = strlen(file);

	if (n >= 5 && strcmp(file + n - 5, ".json") == 0)
		return true;
	for (size_t i = 0; i < len; i++) {
		if (src[i] == ' ' || src[i] == '\t' || src[i] == '\n' ||
		    src[i] == '\r')
			continue;
		return src[i] == '{';
	}
	return false;
}

int
cli_load_schema(const char *file, struct cedar_schema **out)
{
	struct diag_list dl;
	size_t len;
	char *src;
	int r;

	*out = NULL;
	diag_init(&dl);
	if ((src = cli_read_file(file, &len)) == NULL)
		return MANDATE_EIO;
	if (looks_like_json(file, src, len))
		r = cedar_schema_parse_json(src, len, file, out, &dl);
	else
		r = cedar_schema_parse_text(src, len, file, out, &dl);
	diag_print(&dl, stderr);
	free(src);
	return r;
}

int
cli_load_entities(const char *file, const struct cedar_schema *schema,
    struct cedar_entities **out)
{
	struct diag_list dl;
	size_t len;
	char *src;
	int r;

	*out = NULL;
	diag_init(&dl);
	if ((src = cli_read_file(file, &len)) == NULL)
		return MANDATE_EIO;
	r = cedar_entities_parse_json(src, len, file, schema, out, &dl);
	diag_print(&dl, stderr);
	free(src);
	return r;
}

void
cli_json_error(const char *file, const struct json_error_t *e)
{
	fprintf(stderr, "%s:%d:%d: error: %s\n", file, e->line,
	    e->column < 1 ? 1 : e->column, e->text);
}

/* load.c - read policy, schema and entity files for the CLI. */
#include <errno.h>
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

int
cli_load_policies(const char *const *files, size_t n_files,
    enum cedar_id_mode mode, struct cedar_policy_set **out)
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

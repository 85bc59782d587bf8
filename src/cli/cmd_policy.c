/*
 * cmd_policy.c - `mandate policy validate`: parse policies and validate
 * them against a schema with Cedar's strict validation.
 */
#include <string.h>

#include "cli.h"

static const char policy_usage[] =
    "usage: mandate policy validate [--schema FILE] [--template-links FILE]\n"
    "           [--positional-ids] FILE...\n"
    "\n"
    "Parse Cedar policy files and, with --schema, validate every policy and\n"
    "template against the schema (Cedar's strict validation).  Diagnostics\n"
    "are printed as file:line:column: message.\n"
    "\n"
    "  -s, --schema FILE   schema (.cedarschema text, or JSON)\n"
    "      --template-links FILE  link templates (see mandate check --help)\n"
    "      --positional-ids  name policies policy0, policy1, ... in load order\n"
    "  -h, --help          this text\n"
    "\n"
    "Exit status: 0 when every file parses (and validates), 1 otherwise.\n";

static int
policy_validate(int argc, char **argv)
{
	const char *files[CLI_MAX_POLICY_FILES];
	size_t n_files = 0;
	const char *schema_file = NULL, *links = NULL;
	bool positional = false;
	struct cedar_policy_set *ps = NULL;
	struct cedar_schema *schema = NULL;
	struct diag_list dl;
	int status = 1;

	for (int i = 1; i < argc; i++) {
		if (cli_opt(argv[i], "--help", "-h")) {
			fputs(policy_usage, stdout);
			return 0;
		}
		if (cli_opt(argv[i], "--positional-ids", NULL)) {
			positional = true;
		} else if (cli_opt(argv[i], "--template-links", NULL)) {
			if (++i >= argc) {
				fprintf(stderr, "mandate policy validate: "
				    "--template-links needs a file\n");
				return 1;
			}
			links = argv[i];
		} else if (cli_opt(argv[i], "--schema", "-s")) {
			if (++i >= argc) {
				fprintf(stderr, "mandate policy validate: "
				    "--schema needs a file\n");
				return 1;
			}
			schema_file = argv[i];
		} else if (argv[i][0] == '-' && argv[i][1] != '\0') {
			fprintf(stderr, "mandate policy validate: unknown "
			    "option '%s'\n", argv[i]);
			return 1;
		} else if (n_files == CLI_MAX_POLICY_FILES) {
			fprintf(stderr, "mandate policy validate: too many "
			    "files\n");
			return 1;
		} else {
			files[n_files++] = argv[i];
		}
	}
	if (n_files == 0) {
		fputs(policy_usage, stderr);
		return 1;
	}
	if (schema_file != NULL &&
	    cli_load_schema(schema_file, &schema) != MANDATE_OK)
		goto out;
	if (cli_load_policies(files, n_files, links,
	    positional ? CEDAR_IDS_POSITIONAL : CEDAR_IDS_ANNOTATION,
	    &ps) != MANDATE_OK)
		goto out;
	if (schema != NULL) {
		diag_init(&dl);
		if (cedar_policy_set_validate(ps, schema, &dl) != MANDATE_OK) {
			diag_print(&dl, stderr);
			fprintf(stderr, "validation failed\n");
			goto out;
		}
		printf("ok: %zu policies valid against %s\n",
		    cedar_policy_set_count(ps), schema_file);
	} else {
		printf("ok: %zu policies parsed (no schema given, not "
		    "validated)\n", cedar_policy_set_count(ps));
	}
	status = 0;
out:
	if (ps != NULL)
		cedar_policy_set_unref(ps);
	cedar_schema_free(schema);
	return status;
}

int
cmd_policy(int argc, char **argv)
{
	if (argc < 2 || cli_opt(argv[1], "--help", "-h")) {
		fputs(policy_usage, argc < 2 ? stderr : stdout);
		return argc < 2 ? 1 : 0;
	}
	if (strcmp(argv[1], "validate") == 0)
		return policy_validate(argc - 1, argv + 1);
	fprintf(stderr, "mandate policy: unknown subcommand '%s'\n", argv[1]);
	fputs(policy_usage, stderr);
	return 1;
}

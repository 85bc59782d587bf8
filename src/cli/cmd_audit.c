/*
 * cmd_audit.c - `mandate audit <subcommand>`: the dispatcher of the audit
 * log's commands.  tail and export live in cmd_audit_query.c (verify,
 * with the Merkle tree, comes from its own file).
 */
#include <stdio.h>
#include <string.h>

#include "cli.h"

static const char audit_usage[] =
    "usage: mandate audit <subcommand> [options]\n"
    "\n"
    "subcommands:\n"
    "  tail [--follow]          the newest records; --follow keeps printing\n"
    "  export --since TIME      every record since TIME, as JSON Lines\n"
    "\n"
    "Run 'mandate audit <subcommand> --help' for its options.\n";

int
cmd_audit(int argc, char **argv)
{
	if (argc < 2) {
		fputs(audit_usage, stderr);
		return 1;
	}
	if (cli_opt(argv[1], "--help", "-h") || strcmp(argv[1], "help") == 0) {
		fputs(audit_usage, stdout);
		return 0;
	}
	if (strcmp(argv[1], "tail") == 0)
		return cmd_audit_tail(argc - 1, argv + 1);
	if (strcmp(argv[1], "export") == 0)
		return cmd_audit_export(argc - 1, argv + 1);
	fprintf(stderr, "mandate audit: unknown subcommand '%s'\n", argv[1]);
	fputs(audit_usage, stderr);
	return 1;
}

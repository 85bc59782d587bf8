/* main.c - the `mandate` command: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>

#include "cli.h"

#ifndef MANDATE_VERSION
#define MANDATE_VERSION "unknown"
#endif

static const char main_usage[] =
    "usage: mandate <command> [options]\n"
    "\n"
    "Mandate: access control for AI agents.\n"
    "\n"
    "commands:\n"
    "  check            evaluate Cedar policies against a request, offline\n"
    "  policy validate  parse policies and validate them against a schema\n"
    "  serve            run the daemon (tasks API, health, metrics)\n"
    "  task             create, show or end a task through the daemon's API\n"
    "  revoke           kill switch: revoke an agent's tasks and credentials\n"
    "  token exchange   exchange a workload identity token for a task token\n"
    "  dev              development tokens: dev svid (agent), dev login (person)\n"
    "  keys             list or rotate the daemon's signing keys\n"
    "  audit            the audit log: tail, export, verify, checkpoint\n"
    "  version          print the version\n"
    "\n"
    "Run 'mandate <command> --help' (or 'mandate help <command>') for a\n"
    "command's options.\n";

static int dispatch(int argc, char **argv);

int
main(int argc, char **argv)
{
	if (argc < 2) {
		fputs(main_usage, stderr);
		return 1;
	}
	if (strcmp(argv[1], "help") == 0 && argc > 2 && argc <= 4 &&
	    argv[2][0] != '-') {
		/* mandate help CMD [SUB]: mandate CMD [SUB] --help */
		char *args[5] = { argv[0] };
		int n = 1;

		for (int i = 2; i < argc; i++)
			args[n++] = argv[i];
		args[n++] = "--help";
		return dispatch(n, args);
	}
	return dispatch(argc, argv);
}

static int
dispatch(int argc, char **argv)
{
	if (cli_opt(argv[1], "--help", "-h") || strcmp(argv[1], "help") == 0) {
		fputs(main_usage, stdout);
		return 0;
	}
	if (cli_opt(argv[1], "--version", NULL) ||
	    strcmp(argv[1], "version") == 0) {
		if (argc > 2 && cli_opt(argv[2], "--help", "-h")) {
			fputs("usage: mandate version\n\nPrint the version "
			    "(also: mandate --version).\n", stdout);
			return 0;
		}
		if (argc > 2) {
			fprintf(stderr, "mandate %s: unexpected argument "
			    "'%s'\n", argv[1], argv[2]);
			return 1;
		}
		printf("mandate %s\n", MANDATE_VERSION);
		return 0;
	}
	if (strcmp(argv[1], "check") == 0)
		return cmd_check(argc - 1, argv + 1);
	if (strcmp(argv[1], "policy") == 0)
		return cmd_policy(argc - 1, argv + 1);
	if (strcmp(argv[1], "serve") == 0)
		return cmd_serve(argc - 1, argv + 1);
	if (strcmp(argv[1], "task") == 0)
		return cmd_task(argc - 1, argv + 1);
	if (strcmp(argv[1], "revoke") == 0)
		return cmd_revoke(argc - 1, argv + 1);
	if (strcmp(argv[1], "token") == 0)
		return cmd_token(argc - 1, argv + 1);
	if (strcmp(argv[1], "dev") == 0)
		return cmd_dev(argc - 1, argv + 1);
	if (strcmp(argv[1], "keys") == 0)
		return cmd_keys(argc - 1, argv + 1);
	if (strcmp(argv[1], "audit") == 0)
		return cmd_audit(argc - 1, argv + 1);
	fprintf(stderr, "mandate: unknown command '%s'\n", argv[1]);
	fputs(main_usage, stderr);
	return 1;
}

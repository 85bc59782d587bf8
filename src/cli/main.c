/* main.c - the `mandate` command: dispatch to subcommands. */
#include <stdio.h>
#include <string.h>

static void
usage(FILE *fp)
{
	fputs("usage: mandate <command> [options]\n"
	    "\n"
	    "commands:\n"
	    "  check            evaluate Cedar policies offline\n"
	    "  policy validate  validate policies against a schema\n"
	    "\n"
	    "Run 'mandate <command> --help' for a command's options.\n", fp);
}

int
main(int argc, char **argv)
{
	if (argc < 2) {
		usage(stderr);
		return 1;
	}
	if (strcmp(argv[1], "--help") == 0 || strcmp(argv[1], "-h") == 0) {
		usage(stdout);
		return 0;
	}
	fprintf(stderr, "mandate: unknown command '%s'\n", argv[1]);
	usage(stderr);
	return 1;
}

/*
 * cmd_serve.c - `mandate serve`: run the daemon until SIGTERM/SIGINT.
 *
 * Exit status: 0 after a graceful stop, 1 when the daemon refuses to
 * start (bad configuration or policies, unusable data dir or store,
 * address in use) or on a usage error.
 */
#include <malloc.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "daemon/daemon.h"
#include "dev/dev.h"
#include "util/status.h"

static const char serve_usage[] =
    "usage: mandate serve [--config FILE] [--listen HOST:PORT] "
    "[--print-config]\n"
    "\n"
    "Run the Mandate daemon: the tasks API, /healthz, /readyz, /metrics.\n"
    "Without --config it starts a development instance: 127.0.0.1:8700,\n"
    "data in ./mandate-data/, the example policies, and the API open to\n"
    "callers on loopback.  SIGTERM or SIGINT stops it gracefully.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE   YAML configuration (docs/configuration.md)\n"
    "  --listen HOST:PORT  listen here instead of server.listen; the\n"
    "                      default tokens.issuer follows it (HOST is an\n"
    "                      IP address, not a name: 127.0.0.1, [::1];\n"
    "                      port 0 picks a free one)\n"
    "  --print-config      print the effective configuration (secrets\n"
    "                      redacted; a development instance's issuers\n"
    "                      included) and exit; writes nothing\n"
    "  -h, --help          this help\n";

/* The configuration as the daemon will run it (--listen applied, and
 * what follows from it: tokens.issuer's default), with the development
 * issuers (their key files named, not created: nothing is written) when
 * the development instance is enabled. */
static int
print_effective_config(const char *file, const char *listen)
{
	struct config_overrides ov;
	struct config *cfg = NULL;
	char err[512];
	int rc = 1;

	memset(&ov, 0, sizeof(ov));
	ov.listen = listen;
	if (config_load(file, &ov, &cfg, stderr) != 0)
		return 1;
	if (cfg->dev.enabled && dev_config_apply(cfg, err, sizeof(err)) !=
	    MANDATE_OK) {
		fprintf(stderr, "mandate serve: development issuers: %s\n",
		    err);
		goto out;
	}
	rc = config_print(cfg, stdout, true) == 0 ? 0 : 1;
out:
	config_free(cfg);
	return rc;
}

int
cmd_serve(int argc, char **argv)
{
	struct daemon_options opt;
	struct daemon *d = NULL;
	bool print_config = false;
	int rc = 1;

	daemon_signals_early();
	memset(&opt, 0, sizeof(opt));
	for (int i = 1; i < argc; i++) {
		if (cli_opt(argv[i], "--help", "-h")) {
			fputs(serve_usage, stdout);
			return 0;
		} else if (cli_opt(argv[i], "--config", "-c") && i + 1 < argc) {
			opt.config_file = argv[++i];
		} else if (cli_opt(argv[i], "--listen", NULL) && i + 1 < argc) {
			opt.listen = argv[++i];
		} else if (cli_opt(argv[i], "--print-config", NULL)) {
			print_config = true;
		} else {
			bool needs_value = cli_opt(argv[i], "--config", "-c") ||
			    cli_opt(argv[i], "--listen", NULL);

			fprintf(stderr, needs_value ? "mandate serve: %s needs "
			    "a value\n" : "mandate serve: bad argument '%s'\n",
			    argv[i]);
			fputs(serve_usage, stderr);
			return 1;
		}
	}
	if (print_config)
		return print_effective_config(opt.config_file, opt.listen);
	/* No fastbins in the daemon (unless glibc.malloc.mxfast is set in
	 * GLIBC_TUNABLES): each request allocates more than 1 KiB at once
	 * (its state, its arena's first block), and glibc consolidates every
	 * fastbin on such an allocation; tcache still serves small sizes.
	 * Todo scenario, means of three alternated runs per mode: daemon CPU
	 * per evaluation 0.4-0.7 us less with sync audit, 1.3 us with async,
	 * 0.9 us with audit off. */
	/* And no heap trimming below 16 MiB of free memory at an arena's top
	 * (unless glibc.malloc.trim_threshold is set).  In sync audit mode a
	 * group commit releases a burst of held requests; in some runs glibc
	 * gave what they freed back at once with madvise(MADV_DONTNEED), whose
	 * TLB shootdown interrupts every CPU running the daemon, and the next
	 * requests faulted the same pages in again, zeroed: about 2,700
	 * madvise calls and 9,000 page faults a second on the audit bench's
	 * workload with the database on tmpfs, none with this setting, and
	 * 3-4 us less worker CPU per evaluation (three alternated pairs of
	 * runs).  What a burst frees is soon used again.  Setting it also
	 * stops glibc from raising the mmap threshold (128 KiB) on its own. */
	{
		const char *t = getenv("GLIBC_TUNABLES");

#ifdef M_MXFAST
		if (t == NULL || strstr(t, "mxfast") == NULL)
			(void)mallopt(M_MXFAST, 0);
#endif
#ifdef M_TRIM_THRESHOLD
		if (t == NULL || strstr(t, "trim_threshold") == NULL)
			(void)mallopt(M_TRIM_THRESHOLD, 16 * 1024 * 1024);
#endif
	}
	if (daemon_new(&opt, &d) != 0)
		return 1;
	if (daemon_start(d) == 0 && daemon_run(d) == 0)
		rc = 0;
	daemon_free(d);
	return rc;
}

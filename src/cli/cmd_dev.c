/*
 * cmd_dev.c - `mandate dev svid` and `mandate dev login`: short-lived
 * tokens of the development instance, signed with the keys `mandate
 * serve` keeps in <data_dir>/dev/ (no call to the server's API).
 *
 *   svid:  a JWT-SVID for spiffe://<trust domain>/agents/NAME, for the
 *          agent's token exchange;
 *   login: an OIDC token for a person (sub dev-user:NAME, iss the
 *          development issuer), for the tasks API.
 * The token goes to standard output followed by a newline; exit status 0,
 * or 1 on a usage error or when there is no development key.
 */
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "cli.h"
#include "dev/dev.h"
#include "util/arena.h"
#include "util/status.h"

static const char dev_usage[] =
    "usage: mandate dev svid --agent NAME [--audience AUD] [--ttl 5m]\n"
    "           [--data-dir DIR]\n"
    "       mandate dev login --user NAME [--audience AUD] [--ttl 5m]\n"
    "           [--data-dir DIR]\n"
    "\n"
    "Tokens of the development instance (`mandate serve` without\n"
    "--config), signed with its keys in DIR/dev/ (DIR: ./mandate-data).\n"
    "\n"
    "  svid   a JWT-SVID for spiffe://dev.local/agents/NAME: the agent's\n"
    "         subject token for `mandate token exchange`\n"
    "  login  an OIDC token for the person dev-user:NAME: the bearer token\n"
    "         for `mandate task create` (--token or $MANDATE_TOKEN)\n"
    "\n"
    "options:\n"
    "  --agent NAME, --user NAME  letters, digits, '.', '_', '-' (64 max)\n"
    "  --audience AUD   default: the instance's token issuer, e.g.\n"
    "                   http://127.0.0.1:8700 (what it accepts)\n"
    "  --ttl DURATION   300, 300s, 5m, 1h (default 5m, at most 24h)\n"
    "  --data-dir DIR   the instance's data directory\n"
    "  -h, --help       this help\n";

int
cmd_dev(int argc, char **argv)
{
	const char *sub = argc >= 2 ? argv[1] : NULL;
	const char *name = NULL, *aud = NULL, *dir = "./mandate-data";
	const char *ttl_s = "5m";
	struct dev_instance inst;
	struct arena a;
	struct str tok;
	char err[512], subject[DEV_NAME_MAX + 600];
	int64_t ttl = 0;
	bool svid;
	int r, n, rc = 1;

	if (sub == NULL) {
		fputs(dev_usage, stderr);
		return 1;
	}
	if (cli_opt(sub, "--help", "-h") || strcmp(sub, "help") == 0) {
		fputs(dev_usage, stdout);
		return 0;
	}
	if (strcmp(sub, "svid") != 0 && strcmp(sub, "login") != 0) {
		fprintf(stderr, "mandate dev: unknown command '%s'\n", sub);
		fputs(dev_usage, stderr);
		return 1;
	}
	svid = strcmp(sub, "svid") == 0;
	for (int i = 2; i < argc; i++) {
		const char *o = argv[i];
		const char **slot = NULL;

		if (cli_opt(o, "--help", "-h")) {
			fputs(dev_usage, stdout);
			return 0;
		}
		if ((svid && cli_opt(o, "--agent", NULL)) ||
		    (!svid && cli_opt(o, "--user", NULL)))
			slot = &name;
		else if (cli_opt(o, "--audience", NULL))
			slot = &aud;
		else if (cli_opt(o, "--ttl", NULL))
			slot = &ttl_s;
		else if (cli_opt(o, "--data-dir", NULL))
			slot = &dir;
		/* name the argument at fault, not whichever came last */
		if (slot == NULL) {
			fprintf(stderr, "mandate dev %s: unknown option '%s'\n",
			    sub, o);
			goto usage_only;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "mandate dev %s: %s needs a value\n",
			    sub, o);
			goto usage_only;
		}
		*slot = argv[++i];
	}
	if (name == NULL) {
		fprintf(stderr, "mandate dev %s: %s is required\n", sub,
		    svid ? "--agent" : "--user");
		goto usage_only;
	}
	if (!dev_name_ok(name)) {
		fprintf(stderr, "mandate dev %s: bad name '%s' (letters, digits, "
		    "'.', '_', '-'; at most %d)\n", sub, name, DEV_NAME_MAX);
		return 1;
	}
	if (dev_parse_ttl(ttl_s, &ttl) != MANDATE_OK) {
		fprintf(stderr, "mandate dev %s: bad --ttl '%s' (e.g. 300, 5m, "
		    "1h; at most 24h)\n", sub, ttl_s);
		return 1;
	}
	if (aud != NULL && (*aud == '\0' || strlen(aud) > 1024)) {
		fprintf(stderr, "mandate dev %s: bad --audience\n", sub);
		return 1;
	}

	arena_init(&a, 1u << 20);
	if (dev_instance_read(dir, &a, &inst, err, sizeof(err)) != MANDATE_OK) {
		fprintf(stderr, "mandate dev %s: %s\n", sub, err);
		goto out;
	}
	if (svid)
		n = snprintf(subject, sizeof(subject), "spiffe://%s/agents/%s",
		    inst.trust_domain, name);
	else
		n = snprintf(subject, sizeof(subject), "%s%s", DEV_USER_PREFIX,
		    name);
	if (n < 0 || (size_t)n >= sizeof(subject)) {
		fprintf(stderr, "mandate dev %s: name too long\n", sub);
		goto out;
	}
	r = dev_mint(dir, svid ? DEV_KEY_SPIFFE : DEV_KEY_OIDC,
	    svid ? NULL : inst.oidc_issuer, subject,
	    aud != NULL ? aud : inst.audience, ttl, (int64_t)time(NULL), &a,
	    &tok, err, sizeof(err));
	if (r == MANDATE_ENOTFOUND) {
		fprintf(stderr, "mandate dev %s: no development key in %s/%s/; "
		    "start the development instance first (`mandate serve` "
		    "without --config, or `make run`), or pass --data-dir\n",
		    sub, dir, DEV_SUBDIR);
		goto out;
	}
	if (r != MANDATE_OK) {
		fprintf(stderr, "mandate dev %s: %s\n", sub, err);
		goto out;
	}
	fwrite(tok.p, 1, tok.n, stdout);
	fputc('\n', stdout);
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	arena_free(&a);
	return rc;
usage_only:
	fputs(dev_usage, stderr);
	return 1;
}

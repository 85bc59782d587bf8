/*
 * cmd_audit_query.c - `mandate audit tail [--follow]` and `mandate audit
 * export`: the audit log read through the daemon's GET /v1/audit
 * (docs/api.md), one JSON record per line (JSON Lines).
 *
 * The server and the caller's token are found as for `mandate task`
 * (--server / $MANDATE_SERVER, --token / $MANDATE_TOKEN).  Records are
 * printed as the daemon stored them: already redacted.  Exit status 0
 * when every page was read, 1 on a usage error or a failed request (the
 * server's error on standard error).
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli.h"
#include "util/civil.h"

#define AQ_MAX_REPLY   (64u << 20)      /* one page of up to 1000 records */
#define AQ_PAGE        1000
#define AQ_DEFAULT_SRV "http://127.0.0.1:8700"

static const char tail_usage[] =
    "usage: mandate audit tail [-n N] [--follow] [--interval SECONDS]\n"
    "           [--type TYPE] [--agent ID] [--task ID] [common options]\n"
    "\n"
    "Print the last N audit records, oldest first, one JSON object per\n"
    "line.\n"
    "\n"
    "options:\n"
    "  -n, --lines N     how many (1-1000, default 10)\n"
    "  -f, --follow      keep polling the daemon and print new records as\n"
    "                    they are appended, until interrupted\n"
    "  --interval SECONDS  with --follow, the wait between polls (1-3600,\n"
    "                    default 1; none while the daemon has more than a\n"
    "                    page to give)\n"
    "  --type TYPE       only records of this event type (task.created...)\n"
    "  --agent ID        only records about this agent\n"
    "  --task ID         only records about this task\n"
    "\n"
    "common options:\n"
    "  --server URL   the daemon (default $MANDATE_SERVER, else\n"
    "                 http://127.0.0.1:8700)\n"
    "  --token TOKEN  bearer token of the caller (default $MANDATE_TOKEN;\n"
    "                 none: the development instance's loopback mode)\n"
    "  -h, --help     this help\n"
    "\n"
    "An https daemon is checked against $MANDATE_CACERT (a PEM CA bundle;\n"
    "else the system's); $MANDATE_CERT and $MANDATE_KEY give a client\n"
    "certificate and key (PEM) when it asks for one (mTLS).\n"
    "\n"
    "The caller needs Action::\"mandate:read_audit\" on AuditLog::\"default\".\n";

static const char export_usage[] =
    "usage: mandate audit export [--since TIME] [--until TIME]\n"
    "           [--format jsonl] [--type TYPE] [--agent ID] [--task ID]\n"
    "           [--output FILE] [common options]\n"
    "\n"
    "Write every audit record with a time in [--since, --until], in\n"
    "record order, one JSON object per line (JSON Lines).\n"
    "\n"
    "options:\n"
    "  --since TIME      Unix seconds or RFC 3339 (2026-11-28T00:00:00Z);\n"
    "                    default: from the first record\n"
    "  --until TIME      likewise; default: to the last record\n"
    "  --format jsonl    the only format\n"
    "  -o, --output FILE write there (created 0600; it must not exist)\n"
    "                    instead of standard output; removed again if\n"
    "                    the export fails\n"
    "  --type TYPE       only records of this event type (task.created...)\n"
    "  --agent ID        only records about this agent\n"
    "  --task ID         only records about this task\n"
    "\n"
    "common options:\n"
    "  --server URL   the daemon (default $MANDATE_SERVER, else\n"
    "                 http://127.0.0.1:8700)\n"
    "  --token TOKEN  bearer token of the caller (default $MANDATE_TOKEN;\n"
    "                 none: the development instance's loopback mode)\n"
    "  -h, --help     this help\n"
    "\n"
    "An https daemon is checked against $MANDATE_CACERT (a PEM CA bundle;\n"
    "else the system's); $MANDATE_CERT and $MANDATE_KEY give a client\n"
    "certificate and key (PEM) when it asks for one (mTLS).\n"
    "\n"
    "The caller needs Action::\"mandate:read_audit\" on AuditLog::\"default\".\n";

struct aq_opts {
	const char *server, *token;
	const char *type, *agent, *task;
	const char *since, *until, *format, *output;
	const char *count, *interval;
	bool follow;
};

/* A query string buffer: "?k=v&k=v" with values escaped by curl. */
struct qs {
	char buf[8192];
	size_t n;
	bool bad;
};

static void
qs_add(CURL *c, struct qs *q, const char *k, const char *v)
{
	char *e;
	int w;

	if (v == NULL || q->bad)
		return;
	if ((e = curl_easy_escape(c, v, 0)) == NULL) {
		q->bad = true;
		return;
	}
	w = snprintf(q->buf + q->n, sizeof(q->buf) - q->n, "%c%s=%s",
	    q->n == 0 ? '?' : '&', k, e);
	curl_free(e);
	if (w < 0 || (size_t)w >= sizeof(q->buf) - q->n)
		q->bad = true;
	else
		q->n += (size_t)w;
}

/* GET /v1/audit with the query; *out is the parsed answer.  0 or 1. */
static int
get_page(CURL *c, const struct aq_opts *o, const char *query, json_t **out)
{
	struct cli_http_req q = { .curl = c, .token = o->token,
	    .timeout_s = 60, .max_reply = AQ_MAX_REPLY };
	char url[12288];
	json_t *j;
	int n;

	*out = NULL;
	n = snprintf(url, sizeof(url), "%s/v1/audit%s", o->server, query);
	if (n < 0 || (size_t)n >= sizeof(url)) {
		fprintf(stderr, "mandate: URL too long\n");
		return 1;
	}
	q.url = url;
	if (cli_http(&q, &j) != 0)
		return 1;
	if (!json_is_array(json_object_get(j, "events"))) {
		fprintf(stderr, "mandate: unexpected answer from %s\n",
		    o->server);
		json_decref(j);
		return 1;
	}
	*out = j;
	return 0;
}

static int
print_event(FILE *fp, json_t *e)
{
	if (json_dumpf(e, fp, JSON_COMPACT) != 0 || fputc('\n', fp) == EOF)
		return 1;
	return 0;
}

static bool
parse_count(const char *s, long lo, long hi, long *out)
{
	char *end;
	long v;

	if (s == NULL || *s == '\0')
		return false;
	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < lo || v > hi)
		return false;
	*out = v;
	return true;
}

/* Options of both commands; 0 to go on, 1 on error, 2 after --help. */
static int
parse(int argc, char **argv, struct aq_opts *o, bool export, const char *usage)
{
	memset(o, 0, sizeof(*o));
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;

		if (cli_opt(a, "--help", "-h")) {
			fputs(usage, stdout);
			return 2;
		}
		if (!export && cli_opt(a, "--follow", "-f")) {
			o->follow = true;
			continue;
		}
		if (cli_opt(a, "--server", NULL))
			slot = &o->server;
		else if (cli_opt(a, "--token", NULL))
			slot = &o->token;
		else if (cli_opt(a, "--type", NULL))
			slot = &o->type;
		else if (cli_opt(a, "--agent", NULL))
			slot = &o->agent;
		else if (cli_opt(a, "--task", NULL))
			slot = &o->task;
		else if (export && cli_opt(a, "--since", NULL))
			slot = &o->since;
		else if (export && cli_opt(a, "--until", NULL))
			slot = &o->until;
		else if (export && cli_opt(a, "--format", NULL))
			slot = &o->format;
		else if (export && cli_opt(a, "--output", "-o"))
			slot = &o->output;
		else if (!export && cli_opt(a, "--lines", "-n"))
			slot = &o->count;
		else if (!export && cli_opt(a, "--interval", NULL))
			slot = &o->interval;
		if (slot == NULL || i + 1 >= argc) {
			const char *cmd = export ? "mandate audit export" :
			    "mandate audit tail";

			if (slot != NULL)
				fprintf(stderr, "%s: %s needs a value\n", cmd, a);
			else
				fprintf(stderr, a[0] == '-' ? "%s: unknown option "
				    "'%s'\n" : "%s: unexpected argument '%s'\n",
				    cmd, a);
			fputs(usage, stderr);
			return 1;
		}
		*slot = argv[++i];
	}
	if (o->server == NULL)
		o->server = getenv("MANDATE_SERVER");
	if (o->server == NULL || o->server[0] == '\0')
		o->server = AQ_DEFAULT_SRV;
	if (o->token == NULL)
		o->token = getenv("MANDATE_TOKEN");
	return 0;
}

static void
add_filters(CURL *c, struct qs *q, const struct aq_opts *o)
{
	qs_add(c, q, "type", o->type);
	qs_add(c, q, "agent", o->agent);
	qs_add(c, q, "task", o->task);
}

static void
nap(long ms)
{
	struct timespec ts = { ms / 1000, (ms % 1000) * 1000000L };

	while (nanosleep(&ts, &ts) != 0 && errno == EINTR)
		;
}

int
cmd_audit_tail(int argc, char **argv)
{
	struct aq_opts o;
	CURL *c = NULL;
	json_t *page = NULL;
	long count = 10, interval = 1;
	bool full = false;
	json_int_t last = 0;
	char num[32];
	int rc;

	if ((rc = parse(argc, argv, &o, false, tail_usage)) != 0)
		return rc == 2 ? 0 : 1;
	if ((o.count != NULL && !parse_count(o.count, 1, AQ_PAGE, &count)) ||
	    (o.interval != NULL && !parse_count(o.interval, 1, 3600,
	    &interval))) {
		fprintf(stderr, "mandate audit tail: -n takes 1..1000, "
		    "--interval 1..3600 seconds\n");
		return 1;
	}
	if ((c = curl_easy_init()) == NULL)
		return 1;
	{
		struct qs q = { .n = 0 };
		size_t n;

		q.buf[0] = '\0';
		snprintf(num, sizeof(num), "%ld", count);
		qs_add(c, &q, "order", "desc");
		qs_add(c, &q, "limit", num);
		add_filters(c, &q, &o);
		if (q.bad || (rc = get_page(c, &o, q.buf, &page)) != 0) {
			rc = 1;
			goto out;
		}
		n = json_array_size(json_object_get(page, "events"));
		for (size_t i = n; i > 0; i--) {
			json_t *e = json_array_get(json_object_get(page,
			    "events"), i - 1);
			if (print_event(stdout, e) != 0) {
				rc = 1;
				goto out;
			}
			last = json_integer_value(json_object_get(e, "id"));
		}
		json_decref(page);
		page = NULL;
		fflush(stdout);
	}
	while (o.follow) {
		struct qs q = { .n = 0 };
		char lim[16];
		json_t *ev;
		size_t n;

		/* after a full page there is more already: no wait, or a
		 * log that grows faster than a page an interval would be
		 * followed ever further behind */
		if (!full)
			nap(interval * 1000);
		q.buf[0] = '\0';
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, last);
		qs_add(c, &q, "after", num);
		snprintf(lim, sizeof(lim), "%d", AQ_PAGE);
		qs_add(c, &q, "limit", lim);
		add_filters(c, &q, &o);
		if (q.bad || get_page(c, &o, q.buf, &page) != 0) {
			rc = 1;
			goto out;
		}
		ev = json_object_get(page, "events");
		n = json_array_size(ev);
		full = n == AQ_PAGE;
		for (size_t i = 0; i < n; i++) {
			json_t *e = json_array_get(ev, i);
			if (print_event(stdout, e) != 0) {
				rc = 1;
				goto out;
			}
			last = json_integer_value(json_object_get(e, "id"));
		}
		json_decref(page);
		page = NULL;
		fflush(stdout);
	}
	rc = 0;
out:
	json_decref(page);
	curl_easy_cleanup(c);
	return rc;
}

int
cmd_audit_export(int argc, char **argv)
{
	struct aq_opts o;
	CURL *c = NULL;
	json_t *page = NULL;
	FILE *fp = stdout;
	json_int_t after = 0;
	char num[32];
	int rc;

	if ((rc = parse(argc, argv, &o, true, export_usage)) != 0)
		return rc == 2 ? 0 : 1;
	if (o.format != NULL && strcmp(o.format, "jsonl") != 0) {
		fprintf(stderr, "mandate audit export: --format %s: only jsonl "
		    "is supported\n", o.format);
		return 1;
	}
	{
		/* checked here, so that a bad one is named as given (the API
		 * would answer about its own parameters, from and to) */
		const char *const val[2] = { o.since, o.until };
		static const char *const name[2] = { "--since", "--until" };
		int64_t t[2] = { 0, 0 };

		for (size_t i = 0; i < 2; i++) {
			if (val[i] != NULL && civil_parse_time(val[i],
			    strlen(val[i]), &t[i]) != 0) {
				fprintf(stderr, "mandate audit export: %s '%s': "
				    "expected Unix seconds or an RFC 3339 "
				    "date-time (e.g. 2026-11-28T00:00:00Z)\n",
				    name[i], val[i]);
				return 1;
			}
		}
		if (o.until != NULL && t[1] == 0) {
			fprintf(stderr, "mandate audit export: --until 0: "
			    "expected a time after 1970-01-01T00:00:00Z\n");
			return 1;
		}
		if (o.until != NULL && o.since != NULL && t[1] < t[0]) {
			fprintf(stderr, "mandate audit export: --until is "
			    "before --since\n");
			return 1;
		}
	}
	if (o.output != NULL) {
		int fd = open(o.output, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    0600);
		if (fd < 0 || (fp = fdopen(fd, "w")) == NULL) {
			fprintf(stderr, "mandate audit export: %s: %s\n",
			    o.output, strerror(errno));
			if (fd >= 0)
				close(fd);
			return 1;
		}
	}
	if ((c = curl_easy_init()) == NULL) {
		rc = 1;
		goto out;
	}
	for (;;) {
		struct qs q = { .n = 0 };
		json_t *ev, *next;
		size_t n;

		q.buf[0] = '\0';
		snprintf(num, sizeof(num), "%" JSON_INTEGER_FORMAT, after);
		qs_add(c, &q, "after", num);
		qs_add(c, &q, "limit", "1000");
		qs_add(c, &q, "from", o.since);
		qs_add(c, &q, "to", o.until);
		add_filters(c, &q, &o);
		if (q.bad || get_page(c, &o, q.buf, &page) != 0) {
			rc = 1;
			goto out;
		}
		ev = json_object_get(page, "events");
		n = json_array_size(ev);
		for (size_t i = 0; i < n; i++) {
			if (print_event(fp, json_array_get(ev, i)) != 0) {
				fprintf(stderr, "mandate audit export: write "
				    "failed: %s\n", strerror(errno));
				rc = 1;
				goto out;
			}
		}
		next = json_object_get(page, "next");
		if (!json_is_integer(next) || n == 0)
			break;
		after = json_integer_value(next);
		json_decref(page);
		page = NULL;
	}
	rc = 0;
out:
	json_decref(page);
	if (c != NULL)
		curl_easy_cleanup(c);
	if (fp != stdout) {
		/* on the disk before success is said; an export that did not
		 * finish is removed (this run created the file: O_EXCL), so
		 * that no partial file passes for the whole log */
		if (rc == 0 && (fflush(fp) != 0 || fsync(fileno(fp)) != 0)) {
			fprintf(stderr, "mandate audit export: %s: %s\n",
			    o.output, strerror(errno));
			rc = 1;
		}
		if (fclose(fp) != 0 && rc == 0) {
			fprintf(stderr, "mandate audit export: %s: %s\n",
			    o.output, strerror(errno));
			rc = 1;
		}
		if (rc != 0 && unlink(o.output) == 0)
			fprintf(stderr, "mandate audit export: %s removed: the "
			    "export did not finish\n", o.output);
	} else if (fflush(stdout) != 0) {
		rc = 1;
	}
	return rc;
}

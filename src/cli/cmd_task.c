/*
 * cmd_task.c - `mandate task create|show|end`, `mandate revoke` and
 * `mandate token exchange`, `mandate keys rotate|list`: the daemon's API from the command line
 * (libcurl).
 *
 * The server is --server URL, else $MANDATE_SERVER, else the development
 * instance http://127.0.0.1:8700; a bearer token comes from --token or
 * $MANDATE_TOKEN (none: the development instance's open loopback mode).
 * The answer's JSON goes to standard output; exit status 0 on a 2xx
 * answer, 1 otherwise (with the server's error on standard error).
 */
#include <errno.h>
#include <inttypes.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <curl/curl.h>
#include <jansson.h>

#include "cli.h"

#define TASK_MAX_REPLY (1u << 20)
/* tasks.max_intents allows up to 1024; the daemon checks its own limit */
#define TASK_MAX_INTENTS 1024
#define TASK_MAX_AUDIENCES 64

/* Each command's help, then the options they share.  "what" names the
 * command as run() knows it. */
static const struct {
	const char *what;
	const char *text;
} usages[] = {
	{ "task",
	  "usage: mandate task create|show|end ... [common options]\n"
	  "\n"
	  "Create, read and end tasks through the daemon's API (docs/api.md);\n"
	  "'mandate task SUBCOMMAND --help' for each one's options.\n"
	  "\n"
	  "subcommands:\n"
	  "  create   create a task for an agent: what it may do, how long\n"
	  "  show ID  the task's state\n"
	  "  end ID   end the task (its tokens stop working)\n" },
	{ "create",
	  "usage: mandate task create --agent ID --objective TEXT --intent ACTION...\n"
	  "           [--sensitivity public|internal|confidential|restricted]\n"
	  "           [--ttl SECONDS] [--call-budget N] [common options]\n"
	  "\n"
	  "Create a task for the agent ID (a SPIFFE ID, or an OIDC subject,\n"
	  "after its issuer's subject_prefix, of 1-2048 bytes other than '.'\n"
	  "and '..').  Prints the task.\n"
	  "\n"
	  "options:\n"
	  "  --agent ID            the agent the task is for\n"
	  "  --objective TEXT      what the task is for (1-4096 bytes)\n"
	  "  --intent ACTION[@RESOURCE]  an action the task may ask credentials\n"
	  "                        for, optionally on one resource (an entity\n"
	  "                        uid as Cedar prints it, Tool::\"mail\");\n"
	  "                        repeat it for several (at least one)\n"
	  "  --sensitivity LEVEL   the ceiling of data it may touch (default\n"
	  "                        public)\n"
	  "  --ttl SECONDS         its lifetime (default tasks.default_ttl;\n"
	  "                        cut to tasks.max_ttl)\n"
	  "  --call-budget N       permitted calls it may make (default\n"
	  "                        tasks.default_call_budget)\n" },
	{ "show",
	  "usage: mandate task show ID [common options]\n"
	  "\n"
	  "Print the task ID.\n" },
	{ "end",
	  "usage: mandate task end ID [--reason TEXT] [common options]\n"
	  "\n"
	  "End the task ID: its access tokens stop working.\n"
	  "\n"
	  "options:\n"
	  "  --reason TEXT  why, kept with the task (1-1024 bytes)\n" },
	{ "revoke",
	  "usage: mandate revoke --agent ID [--reason TEXT] [common options]\n"
	  "\n"
	  "The kill switch: revoke every task and credential of the agent ID,\n"
	  "exactly as its tasks name it: a SPIFFE ID or an OIDC subject of up\n"
	  "to 2048 bytes (the command percent-encodes it for the request path).\n"
	  "\n"
	  "options:\n"
	  "  --agent ID     the agent to revoke (required)\n"
	  "  --reason TEXT  why (1-1024 bytes; default \"kill switch\")\n" },
	{ "exchange",
	  "usage: mandate token exchange --subject-token JWT --task ID\n"
	  "           [--action ACTION]... [--audience AUD]... [--actor-token JWT]\n"
	  "           [--server URL]\n"
	  "\n"
	  "Exchange the agent's identity token (a JWT-SVID) for an access token\n"
	  "bound to the task (RFC 8693), for the given actions (all of the\n"
	  "task's when none).  The subject token is the agent's credential: no\n"
	  "bearer token is sent (--token and $MANDATE_TOKEN do not apply).\n"
	  "\n"
	  "options:\n"
	  "  --subject-token JWT  the agent's identity token (required)\n"
	  "  --task ID            the task (required)\n"
	  "  --action ACTION      an action of the task's intents; repeat it for\n"
	  "                       several\n"
	  "  --audience AUD       an audience the daemon serves (default\n"
	  "                       tokens.audience); repeatable\n"
	  "  --actor-token JWT    the delegating party's token (the task's\n"
	  "                       delegator or one of its act chain)\n" },
	{ "token",
	  "usage: mandate token exchange ... (see 'mandate token exchange --help')\n"
	  "\n"
	  "subcommands:\n"
	  "  exchange  a workload identity token for a task's access token\n" },
	{ "keys",
	  "usage: mandate keys list|rotate [common options]\n"
	  "\n"
	  "subcommands:\n"
	  "  list    the daemon's signing keys\n"
	  "  rotate  publish a new key, which signs after tokens.publish_delay\n" },
	{ "keys-list",
	  "usage: mandate keys list [common options]\n"
	  "\n"
	  "Print the daemon's signing keys.\n" },
	{ "keys-rotate",
	  "usage: mandate keys rotate [common options]\n"
	  "\n"
	  "Publish a new signing key; it signs after tokens.publish_delay.\n" },
};

/* The options each command takes (besides --help), as " --a --b ": an
 * option that its command would not use is refused, not ignored.  The
 * commands whose entry says so also take one ID argument. */
static const struct {
	const char *what;
	const char *opts;
	bool takes_id;
} accepted[] = {
	{ "create", " --server --token --agent --objective --intent "
	    "--sensitivity --ttl --call-budget ", false },
	{ "show", " --server --token ", true },
	{ "end", " --server --token --reason ", true },
	{ "revoke", " --server --token --agent --reason ", false },
	{ "exchange", " --server --subject-token --task --action --audience "
	    "--actor-token ", false },
	{ "keys-list", " --server --token ", false },
	{ "keys-rotate", " --server --token ", false },
};

static bool
accepts(const char *what, const char *opt, bool *takes_id)
{
	char key[32];
	int n = snprintf(key, sizeof(key), " %s ", opt);

	for (size_t i = 0; i < sizeof(accepted) / sizeof(accepted[0]); i++) {
		if (strcmp(accepted[i].what, what) != 0)
			continue;
		if (takes_id != NULL)
			*takes_id = accepted[i].takes_id;
		return opt == NULL || (n > 0 && (size_t)n < sizeof(key) &&
		    strstr(accepted[i].opts, key) != NULL);
	}
	return false;
}

static const char common_server_help[] =
    "\n"
    "common options:\n"
    "  --server URL   the daemon (default $MANDATE_SERVER, else\n"
    "                 http://127.0.0.1:8700)\n";

/* not for the token exchange, which sends no bearer token */
static const char common_token_help[] =
    "  --token TOKEN  bearer token of the caller (default $MANDATE_TOKEN;\n"
    "                 none: the development instance's loopback mode)\n";

static const char common_help[] =
    "  -h, --help     this help\n"
    "\n"
    "An https daemon is checked against $MANDATE_CACERT (a PEM CA bundle;\n"
    "else the system's); $MANDATE_CERT and $MANDATE_KEY give a client\n"
    "certificate and key (PEM) when it asks for one (mTLS).\n";

static void
usage(const char *what, FILE *fp)
{
	for (size_t i = 0; i < sizeof(usages) / sizeof(usages[0]); i++)
		if (strcmp(usages[i].what, what) == 0)
			fputs(usages[i].text, fp);
	fputs(common_server_help, fp);
	if (strcmp(what, "exchange") != 0 && strcmp(what, "token") != 0)
		fputs(common_token_help, fp);
	fputs(common_help, fp);
}

/* "mandate task create", "mandate revoke"... for messages. */
static const char *
command_name(const char *what)
{
	if (strcmp(what, "revoke") == 0)
		return "mandate revoke";
	if (strcmp(what, "exchange") == 0)
		return "mandate token exchange";
	if (strcmp(what, "keys-list") == 0)
		return "mandate keys list";
	if (strcmp(what, "keys-rotate") == 0)
		return "mandate keys rotate";
	if (strcmp(what, "create") == 0)
		return "mandate task create";
	if (strcmp(what, "show") == 0)
		return "mandate task show";
	return "mandate task end";
}

/* One request; prints the answer.  Returns the exit status. */
static int
call_ct(const char *server, const char *token, const char *method,
    const char *path, const char *body, const char *content_type)
{
	struct cli_http_req q = { .method = method, .body = body,
	    .content_type = content_type, .token = token, .timeout_s = 30,
	    .max_reply = TASK_MAX_REPLY };
	size_t n = strlen(server) + strlen(path) + 1;
	char *url;
	json_t *j;
	int rc;

	/* sized to fit: a kill switch path alone may take 6 KiB */
	if ((url = malloc(n)) == NULL) {
		fprintf(stderr, "mandate: out of memory\n");
		return 1;
	}
	snprintf(url, n, "%s%s", server, path);
	q.url = url;
	rc = cli_http(&q, &j);
	free(url);
	if (rc != 0)
		return 1;
	if (j != NULL) {
		json_dumpf(j, stdout, JSON_INDENT(2) | JSON_SORT_KEYS);
		fputc('\n', stdout);
		json_decref(j);
	}
	return 0;
}

static int
call(const char *server, const char *token, const char *method,
    const char *path, const char *body)
{
	return call_ct(server, token, method, path, body,
	    "Content-Type: application/json");
}

/* "--name value" options; returns the index after them or -1. */
struct opts {
	const char *server, *token, *agent, *objective, *sensitivity;
	const char *ttl, *budget, *reason;
	const char *intents[TASK_MAX_INTENTS];   /* also --action */
	size_t n_intents;
	const char *subject_token, *actor_token, *task;
	const char *audiences[TASK_MAX_AUDIENCES];
	size_t n_audiences;
	const char *positional;
};

static int
parse_opts(int argc, char **argv, int start, struct opts *o,
    const char *what)
{
	const char *cmd = command_name(what);

	for (int i = start; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;

		if (cli_opt(a, "--help", "-h")) {
			usage(what, stdout);
			return 0;
		}
		if (a[0] != '-') {
			bool takes_id = false;

			(void)accepts(what, NULL, &takes_id);
			if (o->positional != NULL || !takes_id) {
				fprintf(stderr, "%s: unexpected argument "
				    "'%s'\n", cmd, a);
				goto bad;
			}
			o->positional = a;
			continue;
		}
		if (cli_opt(a, "--server", NULL))
			slot = &o->server;
		else if (cli_opt(a, "--token", NULL))
			slot = &o->token;
		else if (cli_opt(a, "--agent", NULL))
			slot = &o->agent;
		else if (cli_opt(a, "--objective", NULL))
			slot = &o->objective;
		else if (cli_opt(a, "--sensitivity", NULL))
			slot = &o->sensitivity;
		else if (cli_opt(a, "--ttl", NULL))
			slot = &o->ttl;
		else if (cli_opt(a, "--call-budget", NULL))
			slot = &o->budget;
		else if (cli_opt(a, "--reason", NULL))
			slot = &o->reason;
		else if (cli_opt(a, "--subject-token", NULL))
			slot = &o->subject_token;
		else if (cli_opt(a, "--actor-token", NULL))
			slot = &o->actor_token;
		else if (cli_opt(a, "--task", NULL))
			slot = &o->task;
		else if (!cli_opt(a, "--audience", NULL) &&
		    !cli_opt(a, "--intent", NULL) &&
		    !cli_opt(a, "--action", NULL)) {
			fprintf(stderr, "%s: unknown option '%s'\n", cmd, a);
			goto bad;
		}
		if (!accepts(what, a, NULL)) {
			/* known to another command: ignoring it would let a
			 * typo or a misplaced option pass for done */
			fprintf(stderr, "%s: unknown option '%s' (not an option "
			    "of this command)\n", cmd, a);
			goto bad;
		}
		if (i + 1 >= argc) {
			fprintf(stderr, "%s: %s needs a value\n", cmd, a);
			goto bad;
		}
		if (slot != NULL) {
			*slot = argv[++i];
			continue;
		}
		if (cli_opt(a, "--audience", NULL)) {
			if (o->n_audiences >= TASK_MAX_AUDIENCES) {
				fprintf(stderr, "%s: more than %d --audience\n",
				    cmd, TASK_MAX_AUDIENCES);
				goto bad;
			}
			o->audiences[o->n_audiences++] = argv[++i];
		} else {
			if (o->n_intents >= TASK_MAX_INTENTS) {
				fprintf(stderr, "%s: more than %d %s\n", cmd,
				    TASK_MAX_INTENTS, a);
				goto bad;
			}
			o->intents[o->n_intents++] = argv[++i];
		}
	}
	return 1;
bad:
	fprintf(stderr, "(run '%s --help' for its options)\n", cmd);
	return -1;
}

static bool
parse_count(const char *s, json_int_t *v)
{
	char *end = NULL;
	long long x;

	errno = 0;
	x = strtoll(s, &end, 10);
	if (errno != 0 || end == s || *end != '\0' || x < 1)
		return false;
	*v = (json_int_t)x;
	return true;
}

static int
task_create(const struct opts *o, const char *server)
{
	json_t *b = json_object(), *intents = json_array();
	json_int_t v;
	char *text = NULL;
	int rc = 1;

	if (b == NULL || intents == NULL)
		goto out;
	if (o->agent == NULL || o->objective == NULL || o->n_intents == 0) {
		fprintf(stderr, "mandate task create: --agent, --objective and "
		    "at least one --intent are required\n");
		goto out;
	}
	json_object_set_new(b, "agent", json_string(o->agent));
	json_object_set_new(b, "objective", json_string(o->objective));
	for (size_t i = 0; i < o->n_intents; i++) {
		const char *at = strchr(o->intents[i], '@');
		json_t *it = json_object();
		if (it == NULL)
			goto out;
		json_object_set_new(it, "action", at ? json_stringn(
		    o->intents[i], (size_t)(at - o->intents[i])) :
		    json_string(o->intents[i]));
		if (at != NULL)
			json_object_set_new(it, "resource", json_string(at + 1));
		json_array_append_new(intents, it);
	}
	json_object_set(b, "intents", intents);
	if (o->sensitivity != NULL)
		json_object_set_new(b, "sensitivity",
		    json_string(o->sensitivity));
	if (o->ttl != NULL) {
		if (!parse_count(o->ttl, &v)) {
			fprintf(stderr, "mandate task create: --ttl takes a "
			    "number of seconds of at least 1, not '%.40s'\n",
			    o->ttl);
			goto out;
		}
		json_object_set_new(b, "ttl", json_integer(v));
	}
	if (o->budget != NULL) {
		if (!parse_count(o->budget, &v)) {
			fprintf(stderr, "mandate task create: --call-budget "
			    "takes a count of at least 1, not '%.40s'\n",
			    o->budget);
			goto out;
		}
		json_object_set_new(b, "call_budget", json_integer(v));
	}
	if ((text = json_dumps(b, JSON_COMPACT)) == NULL) {
		fprintf(stderr, "mandate task create: bad text in the "
		    "arguments (not UTF-8?)\n");
		goto out;
	}
	rc = call(server, o->token, "POST", "/v1/tasks", text);
out:
	free(text);
	json_decref(intents);
	json_decref(b);
	return rc;
}

static char *
reason_body(const struct opts *o)
{
	json_t *b;
	char *s;

	if (o->reason == NULL)
		return NULL;
	b = json_pack("{s:s}", "reason", o->reason);
	s = b ? json_dumps(b, JSON_COMPACT) : NULL;
	json_decref(b);
	return s;
}

static int
form_add(CURL *c, char *buf, size_t cap, size_t *len, const char *k,
    const char *v)
{
	char *e = curl_easy_escape(c, v, 0);
	int n;

	if (e == NULL)
		return -1;
	n = snprintf(buf + *len, cap - *len, "%s%s=%s", *len ? "&" : "", k, e);
	curl_free(e);
	if (n < 0 || (size_t)n >= cap - *len)
		return -1;
	*len += (size_t)n;
	return 0;
}

static int
token_exchange(const struct opts *o, const char *server)
{
	json_t *ad = NULL, *acts = NULL;
	char *adtext = NULL, *form = NULL;
	size_t len = 0, cap = 64u * 1024;
	CURL *c = NULL;
	int rc = 1;

	if (o->subject_token == NULL || o->task == NULL) {
		fprintf(stderr, "mandate token exchange: --subject-token and "
		    "--task are required\n");
		return 1;
	}
	if ((c = curl_easy_init()) == NULL || (form = malloc(cap)) == NULL)
		goto out;
	form[0] = '\0';
	ad = json_pack("[{s:s,s:s}]", "type", "mandate_task", "task_id",
	    o->task);
	if (ad == NULL)
		goto out;
	if (o->n_intents > 0) {
		if ((acts = json_array()) == NULL)
			goto out;
		for (size_t i = 0; i < o->n_intents; i++)
			json_array_append_new(acts, json_string(o->intents[i]));
		json_object_set(json_array_get(ad, 0), "actions", acts);
	}
	if ((adtext = json_dumps(ad, JSON_COMPACT)) == NULL)
		goto out;
	if (form_add(c, form, cap, &len, "grant_type",
	    "urn:ietf:params:oauth:grant-type:token-exchange") ||
	    form_add(c, form, cap, &len, "subject_token", o->subject_token) ||
	    form_add(c, form, cap, &len, "subject_token_type",
	    "urn:ietf:params:oauth:token-type:jwt") ||
	    form_add(c, form, cap, &len, "authorization_details", adtext))
		goto toolong;
	if (o->actor_token != NULL && (form_add(c, form, cap, &len,
	    "actor_token", o->actor_token) || form_add(c, form, cap, &len,
	    "actor_token_type", "urn:ietf:params:oauth:token-type:jwt")))
		goto toolong;
	for (size_t i = 0; i < o->n_audiences; i++)
		if (form_add(c, form, cap, &len, "audience", o->audiences[i]))
			goto toolong;
	rc = call_ct(server, NULL, "POST", "/oauth2/token", form,
	    "Content-Type: application/x-www-form-urlencoded");
	goto out;
toolong:
	fprintf(stderr, "mandate token exchange: arguments too long\n");
out:
	if (c != NULL)
		curl_easy_cleanup(c);
	free(form);
	free(adtext);
	json_decref(acts);
	json_decref(ad);
	return rc;
}

static int
run(int argc, char **argv, int start, const char *what)
{
	struct opts o;
	const char *server;
	char *path = NULL, *body = NULL, *esc = NULL;
	size_t path_len;
	int r, rc = 1;

	memset(&o, 0, sizeof(o));
	if ((r = parse_opts(argc, argv, start, &o, what)) <= 0)
		return r == 0 ? 0 : 1;
	if ((server = o.server) == NULL &&
	    (server = getenv("MANDATE_SERVER")) == NULL)
		server = "http://127.0.0.1:8700";
	if (o.token == NULL)
		o.token = getenv("MANDATE_TOKEN");
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0)
		return 1;
	if (strcmp(what, "create") == 0) {
		rc = task_create(&o, server);
		goto out;
	}
	if (strcmp(what, "exchange") == 0) {
		rc = token_exchange(&o, server);
		goto out;
	}
	if (strcmp(what, "keys-list") == 0 || strcmp(what, "keys-rotate") == 0) {
		if (o.positional != NULL) {
			fprintf(stderr, "mandate keys: unexpected argument '%s'\n",
			    o.positional);
			goto out;
		}
		rc = what[5] == 'l' ? call(server, o.token, "GET", "/v1/keys",
		    NULL) : call(server, o.token, "POST", "/v1/keys/rotate",
		    NULL);
		goto out;
	}
	if (strcmp(what, "revoke") == 0) {
		if (o.agent == NULL || o.positional != NULL) {
			fprintf(stderr, "mandate revoke: --agent ID is required\n");
			goto out;
		}
		/* escaped whole (a SPIFFE ID's '/' too), one path segment;
		 * "." and ".." would be dot-segments, and are no agent ids */
		if (strcmp(o.agent, ".") == 0 || strcmp(o.agent, "..") == 0) {
			fprintf(stderr, "mandate revoke: '%s' is not an agent "
			    "id\n", o.agent);
			goto out;
		}
		if ((esc = curl_easy_escape(NULL, o.agent, 0)) == NULL)
			goto out;
		path_len = strlen(esc) + sizeof("/v1/agents//revoke");
		if ((path = malloc(path_len)) == NULL)
			goto out;
		snprintf(path, path_len, "/v1/agents/%s/revoke", esc);
		body = reason_body(&o);
		if (o.reason != NULL && body == NULL)
			goto out;
		rc = call(server, o.token, "POST", path, body);
		goto out;
	}
	if (o.positional == NULL) {
		fprintf(stderr, "mandate task %s: a task id is required\n", what);
		goto out;
	}
	if (o.positional[0] == '\0' || strlen(o.positional) > 64) {
		/* not sent: an empty one would name another path */
		fprintf(stderr, "mandate task %s: '%.80s' is not a task id "
		    "(1-64 characters)\n", what, o.positional);
		goto out;
	}
	if ((esc = curl_easy_escape(NULL, o.positional, 0)) == NULL)
		goto out;
	path_len = strlen(esc) + sizeof("/v1/tasks//end");
	if ((path = malloc(path_len)) == NULL)
		goto out;
	if (strcmp(what, "show") == 0) {
		snprintf(path, path_len, "/v1/tasks/%s", esc);
		rc = call(server, o.token, "GET", path, NULL);
	} else {
		snprintf(path, path_len, "/v1/tasks/%s/end", esc);
		body = reason_body(&o);
		if (o.reason != NULL && body == NULL)
			goto out;
		rc = call(server, o.token, "POST", path, body);
	}
out:
	curl_free(esc);
	free(path);
	free(body);
	curl_global_cleanup();
	return rc;
}

int
cmd_task(int argc, char **argv)
{
	if (argc < 2 || cli_opt(argv[1], "--help", "-h")) {
		usage("task", argc < 2 ? stderr : stdout);
		return argc < 2 ? 1 : 0;
	}
	if (strcmp(argv[1], "create") == 0 || strcmp(argv[1], "show") == 0 ||
	    strcmp(argv[1], "end") == 0)
		return run(argc, argv, 2, argv[1]);
	fprintf(stderr, "mandate task: unknown subcommand '%s' (create, show "
	    "or end; 'mandate task --help')\n", argv[1]);
	return 1;
}

int
cmd_revoke(int argc, char **argv)
{
	return run(argc, argv, 1, "revoke");
}

int
cmd_token(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "exchange") == 0)
		return run(argc, argv, 2, "exchange");
	if (argc >= 2 && cli_opt(argv[1], "--help", "-h")) {
		usage("token", stdout);
		return 0;
	}
	if (argc < 2)
		usage("token", stderr);
	else
		fprintf(stderr, "mandate token: unknown subcommand '%s' "
		    "(exchange; 'mandate token --help')\n", argv[1]);
	return 1;
}

int
cmd_keys(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "list") == 0)
		return run(argc, argv, 2, "keys-list");
	if (argc >= 2 && strcmp(argv[1], "rotate") == 0)
		return run(argc, argv, 2, "keys-rotate");
	if (argc >= 2 && cli_opt(argv[1], "--help", "-h")) {
		usage("keys", stdout);
		return 0;
	}
	if (argc < 2)
		usage("keys", stderr);
	else
		fprintf(stderr, "mandate keys: unknown subcommand '%s' (list "
		    "or rotate; 'mandate keys --help')\n", argv[1]);
	return 1;
}

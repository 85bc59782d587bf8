/*
 * cmd_check.c - `mandate check`: evaluate Cedar policies offline.
 *
 * One request from the command line, or a JSON array of requests with
 * --requests (one result line per request, in order).  The decision
 * printed is exactly what the daemon would decide with the same policies,
 * entities and request.
 */
#include <jansson.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"

static const char check_usage[] =
    "usage: mandate check --policies FILE... [--entities FILE] [--schema FILE]\n"
    "           [--template-links FILE] --principal 'Type::\"id\"' --action 'Action::\"name\"'\n"
    "           --resource 'Type::\"id\"' [--context JSON|@FILE]\n"
    "           [--format text|json] [--positional-ids] [--no-request-validation]\n"
    "       mandate check --policies FILE... [--entities FILE] [--schema FILE]\n"
    "           [--template-links FILE] --requests FILE [--format json|text]\n"
    "           [--positional-ids] [--no-request-validation]\n"
    "\n"
    "Evaluate Cedar policies against a request and print the decision.\n"
    "\n"
    "  -p, --policies FILE...   policy files (repeatable; several files may follow)\n"
    "  -e, --entities FILE      entities in Cedar's JSON format\n"
    "      --template-links FILE  link templates: a JSON array of\n"
    "                           {\"template_id\":T, \"link_id\":L, \"args\":\n"
    "                            {\"?principal\":UID, \"?resource\":UID}}, UID being\n"
    "                           'Type::\"id\"' or {\"type\",\"id\"}\n"
    "  -s, --schema FILE        schema (.cedarschema text, or JSON); entities and\n"
    "                           context are parsed with it and each request is\n"
    "                           validated against it\n"
    "      --principal UID      e.g. 'User::\"alice\"'\n"
    "      --action UID         e.g. 'Action::\"view\"'\n"
    "      --resource UID       e.g. 'Photo::\"vacation.jpg\"'\n"
    "  -c, --context JSON|@FILE the request context (a JSON object); default {}\n"
    "  -r, --requests FILE      a JSON array of requests, each\n"
    "                           {\"principal\":{\"type\",\"id\"},\"action\":{...},\n"
    "                            \"resource\":{...},\"context\":{...}};\n"
    "                           prints one result per line, in order\n"
    "  -f, --format text|json   output format (default text; json for --requests)\n"
    "      --positional-ids     name policies policy0, policy1, ... in load order\n"
    "                           even when they have an @id annotation\n"
    "      --no-request-validation  do not validate requests against the schema\n"
    "  -h, --help               this text\n"
    "\n"
    "JSON output: {\"decision\":\"allow\"|\"deny\",\"reason\":[ids],\n"
    "              \"errors\":[{\"policy\":id,\"message\":text}]}\n"
    "A request that cannot be read prints {\"error\":text} in its place.\n"
    "\n"
    "Exit status: 0 when every request got a decision (allow or deny),\n"
    "1 on usage or input errors.\n";

enum out_format { FMT_TEXT, FMT_JSON };

struct check_opts {
	const char *policies[CLI_MAX_POLICY_FILES];
	size_t n_policies;
	const char *entities, *schema, *requests, *links;
	const char *principal, *action, *resource, *context;
	enum out_format format;
	bool format_given;
	bool positional;
	bool validate;
};

/* The options that take a value. */
static bool
takes_value(const char *a)
{
	static const char *const opts[][2] = {
		{ "--policies", "-p" }, { "--format", "-f" },
		{ "--entities", "-e" }, { "--schema", "-s" },
		{ "--template-links", NULL }, { "--requests", "-r" },
		{ "--principal", NULL }, { "--action", NULL },
		{ "--resource", NULL }, { "--context", "-c" },
	};

	for (size_t i = 0; i < sizeof(opts) / sizeof(opts[0]); i++)
		if (cli_opt(a, opts[i][0], opts[i][1]))
			return true;
	return false;
}

static int
parse_args(int argc, char **argv, struct check_opts *o)
{
	memset(o, 0, sizeof(*o));
	o->validate = true;
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i];
		const char **slot = NULL;

		if (cli_opt(a, "--help", "-h")) {
			fputs(check_usage, stdout);
			return 2;
		}
		if (cli_opt(a, "--positional-ids", NULL)) {
			o->positional = true;
			continue;
		}
		if (cli_opt(a, "--no-request-validation", NULL)) {
			o->validate = false;
			continue;
		}
		if (i + 1 >= argc) {
			if (takes_value(a))
				fprintf(stderr, "mandate check: %s needs a "
				    "value\n", a);
			else
				fprintf(stderr, "mandate check: unknown option "
				    "'%s'\n", a);
			return 1;
		}
		if (cli_opt(a, "--policies", "-p")) {
			/* several files may follow one flag; none is a
			 * missing value, whatever comes after it */
			if (argv[i + 1][0] == '-') {
				fprintf(stderr, "mandate check: %s needs a "
				    "value\n", a);
				return 1;
			}
			while (i + 1 < argc && argv[i + 1][0] != '-') {
				if (o->n_policies == CLI_MAX_POLICY_FILES) {
					fprintf(stderr, "mandate check: too many "
					    "policy files\n");
					return 1;
				}
				o->policies[o->n_policies++] = argv[++i];
			}
			continue;
		}
		if (cli_opt(a, "--format", "-f")) {
			a = argv[++i];
			if (strcmp(a, "json") == 0)
				o->format = FMT_JSON;
			else if (strcmp(a, "text") == 0)
				o->format = FMT_TEXT;
			else {
				fprintf(stderr, "mandate check: unknown format "
				    "'%s' (text or json)\n", a);
				return 1;
			}
			o->format_given = true;
			continue;
		}
		if (cli_opt(a, "--entities", "-e"))
			slot = &o->entities;
		else if (cli_opt(a, "--schema", "-s"))
			slot = &o->schema;
		else if (cli_opt(a, "--template-links", NULL))
			slot = &o->links;
		else if (cli_opt(a, "--requests", "-r"))
			slot = &o->requests;
		else if (cli_opt(a, "--principal", NULL))
			slot = &o->principal;
		else if (cli_opt(a, "--action", NULL))
			slot = &o->action;
		else if (cli_opt(a, "--resource", NULL))
			slot = &o->resource;
		else if (cli_opt(a, "--context", "-c"))
			slot = &o->context;
		if (slot == NULL) {
			fprintf(stderr, "mandate check: unknown option '%s'\n", a);
			return 1;
		}
		*slot = argv[++i];
	}
	if (o->n_policies == 0) {
		fprintf(stderr, "mandate check: --policies is required\n");
		return 1;
	}
	if (o->requests != NULL) {
		if (o->principal || o->action || o->resource || o->context) {
			fprintf(stderr, "mandate check: --requests replaces "
			    "--principal/--action/--resource/--context\n");
			return 1;
		}
		if (!o->format_given)
			o->format = FMT_JSON;
	} else if (!o->principal || !o->action || !o->resource) {
		fprintf(stderr, "mandate check: --principal, --action and "
		    "--resource are required (or --requests FILE)\n");
		return 1;
	}
	return 0;
}

/* Print one decision in the chosen format. */
static void
print_decision(const struct cedar_decision *d, enum out_format fmt)
{
	if (fmt == FMT_JSON) {
		json_t *o = json_object(), *reasons = json_array(),
		    *errors = json_array();
		char *text;

		for (size_t i = 0; i < d->n_reasons; i++)
			json_array_append_new(reasons,
			    json_string(d->reasons[i]));
		for (size_t i = 0; i < d->n_errors; i++)
			json_array_append_new(errors, json_pack("{s:s, s:s}",
			    "policy", d->errors[i].policy_id,
			    "message", d->errors[i].message));
		json_object_set_new(o, "decision",
		    json_string(d->allow ? "allow" : "deny"));
		json_object_set_new(o, "reason", reasons);
		json_object_set_new(o, "errors", errors);
		text = json_dumps(o, JSON_COMPACT | JSON_PRESERVE_ORDER);
		if (text != NULL)
			puts(text);
		else
			puts("{\"error\":\"out of memory\"}");
		free(text);
		json_decref(o);
		return;
	}
	printf("decision: %s\n", d->allow ? "allow" : "deny");
	printf("reasons:");
	for (size_t i = 0; i < d->n_reasons; i++)
		printf(" %s", d->reasons[i]);
	printf(d->n_reasons == 0 ? " (none)\n" : "\n");
	printf("errors:");
	if (d->n_errors == 0)
		printf(" (none)\n");
	else
		printf("\n");
	for (size_t i = 0; i < d->n_errors; i++)
		printf("  %s: %s\n", d->errors[i].policy_id, d->errors[i].message);
}

static void
print_request_error(const struct diag_list *dl, size_t index,
    enum out_format fmt)
{
	char msg[DIAG_MSG_MAX + 64];

	snprintf(msg, sizeof(msg), "request %zu: %s", index,
	    dl->n > 0 ? dl->items[0].msg : "invalid request");
	if (fmt == FMT_JSON) {
		json_t *o = json_pack("{s:s}", "error", msg);
		char *text = o ? json_dumps(o, JSON_COMPACT) : NULL;

		puts(text ? text : "{\"error\":\"invalid request\"}");
		free(text);
		json_decref(o);
	} else {
		printf("error: %s\n", msg);
	}
	for (size_t i = 0; i < dl->n; i++)
		fprintf(stderr, "mandate check: request %zu: %s\n", index,
		    dl->items[i].msg);
}

/* Decide one request; returns 0 when a decision was printed. */
static int
decide(const struct cedar_policy_set *ps, const struct cedar_entities *es,
    const struct cedar_request *req, struct arena *a, enum out_format fmt)
{
	struct cedar_decision d;
	int r = cedar_authorize(ps, es, req, a, &d);

	if (r != MANDATE_OK) {
		/* no decision could be made: say so, never print allow */
		if (fmt == FMT_JSON)
			printf("{\"error\":\"authorization failed: %s\"}\n",
			    mandate_strerror(r));
		else
			printf("error: authorization failed: %s\n",
			    mandate_strerror(r));
		return 1;
	}
	print_decision(&d, fmt);
	return 0;
}

static int
run_batch(const struct check_opts *o, const struct cedar_policy_set *ps,
    const struct cedar_entities *es, const struct cedar_schema *schema)
{
	json_error_t jerr;
	json_t *arr;
	size_t len, index;
	char *src;
	json_t *item;
	int status = 0;

	if ((src = cli_read_file(o->requests, &len)) == NULL)
		return 1;
	/* a string may hold U+0000 (\u0000), as in Cedar; each request
	 * goes on as JSON text, where it is escaped again */
	arr = json_loadb(src, len, JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL,
	    &jerr);
	free(src);
	if (arr == NULL || !json_is_array(arr)) {
		if (arr == NULL)
			cli_json_error(o->requests, &jerr);
		else
			fprintf(stderr, "%s: error: expected a JSON array of "
			    "requests\n", o->requests);
		json_decref(arr);
		return 1;
	}
	json_array_foreach(arr, index, item) {
		struct arena a;
		struct diag_list dl;
		struct cedar_request *req = NULL;
		char *text = json_dumps(item, JSON_COMPACT | JSON_ENCODE_ANY);

		arena_init(&a, 0);
		diag_init(&dl);
		if (text == NULL || cedar_request_parse_json(&a, text,
		    strlen(text), schema, o->validate && schema != NULL, &req,
		    &dl) != MANDATE_OK) {
			print_request_error(&dl, index, o->format);
			status = 1;
		} else if (decide(ps, es, req, &a, o->format) != 0) {
			status = 1;
		}
		free(text);
		arena_free(&a);
	}
	json_decref(arr);
	return status;
}

/* The uid options parsed one by one first, so that a diagnostic names
 * its option (cedar_request_build's would all look alike).  0 if fine,
 * else 1 after printing. */
static int
check_uids(const struct check_opts *o)
{
	const char *const text[3] = { o->principal, o->action, o->resource };
	static const char *const name[3] = { "--principal", "--action",
	    "--resource" };
	int bad = 0;

	for (size_t k = 0; k < 3; k++) {
		struct diag_list dl;

		diag_init(&dl);
		if (cedar_uid_check(text[k], strlen(text[k]), &dl) == MANDATE_OK)
			continue;
		for (size_t i = 0; i < dl.n; i++)
			dl.items[i].file = name[k];
		diag_print(&dl, stderr);
		bad = 1;
	}
	return bad;
}

static int
run_single(const struct check_opts *o, const struct cedar_policy_set *ps,
    const struct cedar_entities *es, const struct cedar_schema *schema)
{
	struct arena a;
	struct diag_list dl;
	struct cedar_request *req = NULL;
	char *ctx_file = NULL;
	const char *ctx = o->context;
	int status = 1;

	arena_init(&a, 0);
	diag_init(&dl);
	if (ctx != NULL && ctx[0] == '@') {
		size_t len;

		if ((ctx_file = cli_read_file(ctx + 1, &len)) == NULL)
			goto out;
		ctx = ctx_file;
	}
	if (check_uids(o) != 0)
		goto out;
	if (cedar_request_build(&a, o->principal, o->action, o->resource, ctx,
	    schema, o->validate && schema != NULL, &req, &dl) != MANDATE_OK) {
		/* the uids are fine (check_uids): what has a text is the
		 * context; the rest (schema checks) names no place */
		for (size_t i = 0; i < dl.n; i++) {
			struct diag *d = &dl.items[i];

			if (d->file == NULL)
				d->file = d->src == NULL ? "mandate check" :
				    ctx_file != NULL ? o->context + 1 :
				    "--context";
		}
		diag_print(&dl, stderr);
		if (dl.n == 0)
			fprintf(stderr, "mandate check: invalid request\n");
		goto out;
	}
	status = decide(ps, es, req, &a, o->format);
out:
	free(ctx_file);
	arena_free(&a);
	return status;
}

int
cmd_check(int argc, char **argv)
{
	struct check_opts o;
	struct cedar_policy_set *ps = NULL;
	struct cedar_schema *schema = NULL;
	struct cedar_entities *es = NULL;
	int status = 1, r;

	if ((r = parse_args(argc, argv, &o)) != 0) {
		if (r == 1)
			fputs("Run 'mandate check --help' for usage.\n", stderr);
		return r == 2 ? 0 : 1;
	}
	if (o.schema != NULL && cli_load_schema(o.schema, &schema) != MANDATE_OK)
		goto out;
	if (cli_load_policies(o.policies, o.n_policies, o.links,
	    o.positional ? CEDAR_IDS_POSITIONAL : CEDAR_IDS_ANNOTATION,
	    &ps) != MANDATE_OK)
		goto out;
	if (o.entities != NULL &&
	    cli_load_entities(o.entities, schema, &es) != MANDATE_OK)
		goto out;
	if (o.entities == NULL && schema != NULL) {
		/* the schema's action entities still give action groups */
		struct diag_list dl;

		diag_init(&dl);
		if (cedar_entities_parse_json("[]", 2, NULL, schema, &es,
		    &dl) != MANDATE_OK) {
			diag_print(&dl, stderr);
			goto out;
		}
	}
	status = o.requests != NULL ? run_batch(&o, ps, es, schema)
	    : run_single(&o, ps, es, schema);
out:
	cedar_entities_free(es);
	if (ps != NULL)
		cedar_policy_set_unref(ps);
	cedar_schema_free(schema);
	return status;
}

/*
 * agent_ctx_test.c - the agent-aware context (src/daemon/agent_ctx.c)
 * against a real daemon object: its SQLite store in a temporary
 * directory and access tokens minted by its own sts (sts_exchange), no
 * HTTP server.
 *
 * Checks: the constraint language (validation table, match table); the
 * reserved names are always stripped; a token or an authenticated task
 * id resolves the task; intent matching by action, resource, arguments
 * and the token's actions; the denials before policies (subject, ended,
 * revoked token, kill switch, budget, malformed mandate, unauthenticated
 * task id); finish records permits with their session effects
 * (configured tool output labels, counts) and turns a permit into a deny
 * when the budget ran out in between.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/sha.h>

#include "daemon/agent_ctx.h"
#include "daemon/daemon_int.h"
#include "jose/jose.h"
#include "sts/sts.h"
#include "util/status.h"

#define AGENT "spiffe://dev.local/agent/a1"
#define OTHER "spiffe://dev.local/agent/b2"

/* ---- the constraint language ---- */

struct con_case {
	const char *json;
	int status;
};

static const struct con_case con_cases[] = {
	{ "{}", MANDATE_OK },
	{ "{\"to\":\"a@x\"}", MANDATE_OK },
	{ "{\"n\":3,\"b\":true}", MANDATE_OK },
	/* null never matches: a call's arguments cannot hold it */
	{ "{\"z\":null}", MANDATE_EINVAL },
	{ "{\"z\":[\"a\",null]}", MANDATE_EINVAL },
	{ "{\"z\":{\"one_of\":[null]}}", MANDATE_EINVAL },
	{ "{\"to\":[\"a\",\"b\",1]}", MANDATE_OK },
	{ "{\"amount\":{\"min\":0,\"max\":100}}", MANDATE_OK },
	{ "{\"path\":{\"prefix\":\"/docs/\",\"max_length\":64}}", MANDATE_OK },
	{ "{\"to\":{\"one_of\":[\"a\"],\"suffix\":\"@x.com\"}}", MANDATE_OK },
	{ "[]", MANDATE_EINVAL },
	{ "{\"to\":[]}", MANDATE_EINVAL },
	{ "{\"to\":[[1]]}", MANDATE_EINVAL },
	{ "{\"to\":[{\"a\":1}]}", MANDATE_EINVAL },
	{ "{\"to\":{}}", MANDATE_EINVAL },
	{ "{\"to\":{\"regex\":\".*\"}}", MANDATE_EINVAL },
	{ "{\"to\":{\"min\":\"1\"}}", MANDATE_EINVAL },
	{ "{\"to\":{\"min\":5,\"max\":1}}", MANDATE_EINVAL },
	{ "{\"to\":{\"prefix\":1}}", MANDATE_EINVAL },
	{ "{\"to\":{\"max_length\":-1}}", MANDATE_EINVAL },
	{ "{\"to\":{\"max_length\":1.5}}", MANDATE_EINVAL },
	{ "{\"to\":{\"one_of\":\"a\"}}", MANDATE_EINVAL },
	{ "{\"cc\":{\"absent\":true}}", MANDATE_OK },
	{ "{\"cc\":{\"absent\":false}}", MANDATE_EINVAL },
	{ "{\"cc\":{\"absent\":1}}", MANDATE_EINVAL },
	{ "{\"cc\":{\"absent\":true,\"max_length\":3}}", MANDATE_EINVAL },
	{ "{\"\":1}", MANDATE_EINVAL },
	{ "{\"a\":1,\"a\":2}", MANDATE_EINVAL },
};

static void
test_constraints_check(void **state)
{
	char err[256];

	(void)state;
	for (size_t i = 0; i < sizeof(con_cases) / sizeof(con_cases[0]); i++) {
		int r;
		err[0] = '\0';
		r = agent_constraints_check(con_cases[i].json,
		    strlen(con_cases[i].json), err, sizeof(err));
		if (r != con_cases[i].status)
			fail_msg("case %zu (%s): %d, want %d", i,
			    con_cases[i].json, r, con_cases[i].status);
		if (r != MANDATE_OK)
			assert_true(strlen(err) > 0);
	}
}

struct match_case {
	const char *con, *args;
	bool match;
};

static const struct match_case match_cases[] = {
	{ "{}", NULL, true },
	{ "{\"to\":\"a\"}", NULL, false },
	{ "{\"to\":\"a\"}", "{\"to\":\"a\"}", true },
	{ "{\"to\":\"a\"}", "{\"to\":\"b\"}", false },
	{ "{\"to\":\"a\"}", "{\"cc\":\"a\"}", false },
	{ "{\"to\":\"a\"}", "{\"to\":[\"a\",\"a\"]}", true },
	{ "{\"to\":\"a\"}", "{\"to\":[\"a\",\"b\"]}", false },
	{ "{\"to\":\"a\"}", "{\"to\":{\"x\":\"a\"}}", false },
	{ "{\"n\":1}", "{\"n\":1.0}", true },
	{ "{\"n\":1}", "{\"n\":\"1\"}", false },
	{ "{\"to\":[\"a\",\"b\"]}", "{\"to\":\"b\"}", true },
	{ "{\"to\":[\"a\",\"b\"]}", "{\"to\":[\"b\",\"a\"]}", true },
	{ "{\"to\":[\"a\",\"b\"]}", "{\"to\":[\"b\",\"c\"]}", false },
	/* absent: not sent, or sent empty ([], "", {}) */
	{ "{\"cc\":{\"absent\":true}}", NULL, true },
	{ "{\"cc\":{\"absent\":true}}", "{\"to\":\"a\"}", true },
	{ "{\"cc\":{\"absent\":true}}", "{\"cc\":[]}", true },
	{ "{\"cc\":{\"absent\":true}}", "{\"cc\":\"\"}", true },
	{ "{\"cc\":{\"absent\":true}}", "{\"cc\":{}}", true },
	{ "{\"cc\":{\"absent\":true}}", "{\"cc\":[\"e@x\"]}", false },
	{ "{\"cc\":{\"absent\":true}}", "{\"cc\":\"e@x\"}", false },
	{ "{\"cc\":{\"absent\":true}}", "{\"cc\":0}", false },
	{ "{\"cc\":{\"absent\":true},\"to\":\"a\"}", "{\"to\":\"a\"}", true },
	{ "{\"cc\":{\"absent\":true},\"to\":\"a\"}", NULL, false },
	{ "{\"amt\":{\"min\":0,\"max\":100}}", "{\"amt\":100}", true },
	{ "{\"amt\":{\"min\":0,\"max\":100}}", "{\"amt\":100.5}", false },
	{ "{\"amt\":{\"min\":0,\"max\":100}}", "{\"amt\":-1}", false },
	{ "{\"amt\":{\"max\":100}}", "{\"amt\":\"5\"}", false },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/docs/a\"}", true },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/doc\"}", false },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/etc/docs/\"}", false },
	/* a prefix confines a path: a ".." segment would climb out of it
	 * (plain, percent-encoded, or with backslashes), so it never
	 * matches; dots inside a name are no segment */
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/docs/../etc/passwd\"}",
	    false },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/docs/a/../../etc\"}",
	    false },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/docs/..\"}", false },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/docs/%2e%2E/etc\"}",
	    false },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/docs/..%2Fetc\"}",
	    false },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/docs/..\\\\etc\"}",
	    false },
	{ "{\"p\":{\"prefix\":\"/docs\"}}", "{\"p\":\"/docs/x/..\"}", false },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":[\"/docs/a\",\"/docs/../b\"]}",
	    false },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/docs/a..b/c...d/.x\"}",
	    true },
	/* ... and as a tool that decodes twice or normalizes text reads
	 * it: double percent-encoding, NFKC look-alikes of '.', '/' and
	 * '\\' (fullwidth, small, one and two dot leaders), invisible
	 * characters and combining marks between the dots */
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/docs/%252e%252E/etc\"}",
	    false },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/docs/..%252Fetc\"}",
	    false },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}",
	    "{\"p\":\"/docs/%25252e%25252e/etc\"}", false },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}",
	    "{\"p\":\"/docs/%EF%BC%8E%EF%BC%8E/etc\"}", false },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/docs/\\uff0e\\uff0e/etc\"}",
	    false },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/docs/\\u2025/etc\"}",
	    false },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/docs/\\u2024.\\uff0fetc\"}",
	    false },
	{ "{\"p\":{\"prefix\":\"/docs\"}}", "{\"p\":\"/docs\\uff3c..\\uff3cetc\"}",
	    false },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/docs/.\\u200b./etc\"}",
	    false },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/docs/.\\u0301./etc\"}",
	    false },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/docs/a%25b/100%/x%2\"}",
	    true },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/docs/\\u2026/x\"}",
	    true },
	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/docs/\\u00e9t\\u00e9.txt\"}",
	    true },

	{ "{\"p\":{\"prefix\":\"/docs/\"}}", "{\"p\":\"/docs/./a\"}", true },
	{ "{\"u\":{\"prefix\":\"https://corp.example/pub/\"}}",
	    "{\"u\":\"https://corp.example/pub/../admin\"}", false },
	{ "{\"m\":{\"suffix\":\"@x.com\"}}", "{\"m\":\"a@x.com\"}", true },
	{ "{\"m\":{\"suffix\":\"@x.com\"}}", "{\"m\":\"a@x.com.evil\"}", false },
	{ "{\"m\":{\"suffix\":\"@x.com\"}}", "{\"m\":[\"a@x.com\",\"b@y\"]}",
	    false },
	{ "{\"s\":{\"max_length\":3}}", "{\"s\":\"\xc3\xa9\xc3\xa9\xc3\xa9\"}",
	    true },
	{ "{\"s\":{\"max_length\":3}}", "{\"s\":\"abcd\"}", false },
	{ "{\"s\":{\"one_of\":[\"x\"],\"prefix\":\"x\"}}", "{\"s\":\"x\"}",
	    true },
	{ "{\"s\":{\"one_of\":[\"xy\"],\"max_length\":1}}", "{\"s\":\"xy\"}",
	    false },
	{ "{\"a\":1,\"b\":2}", "{\"a\":1}", false },
	{ "{\"a\":1,\"b\":2}", "{\"a\":1,\"b\":2,\"c\":3}", true },
	/* an empty list carries no value that could be checked: it does
	 * not match, as an absent argument does not */
	{ "{\"to\":{\"suffix\":\"@corp.example\"}}", "{\"to\":[]}", false },
	{ "{\"n\":{\"max\":10}}", "{\"n\":[]}", false },
	{ "{\"r\":[\"eu\"]}", "{\"r\":[]}", false },
	/* integers compare exactly, not as doubles: 2^53 + 1 > 2^53 */
	{ "{\"n\":{\"max\":9007199254740992}}",
	    "{\"n\":9007199254740993}", false },
	{ "{\"n\":{\"min\":9007199254740993}}",
	    "{\"n\":9007199254740992}", false },
	{ "{\"n\":{\"max\":9007199254740992}}",
	    "{\"n\":9007199254740992}", true },
	{ "{\"n\":{\"max\":1.5}}", "{\"n\":1}", true },
};

static void
test_constraints_match(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(match_cases) / sizeof(match_cases[0]);
	    i++) {
		json_t *con = json_loads(match_cases[i].con, 0, NULL);
		json_t *args = match_cases[i].args ?
		    json_loads(match_cases[i].args, 0, NULL) : NULL;
		assert_non_null(con);
		if (agent_constraints_match(con, args) != match_cases[i].match)
			fail_msg("case %zu: %s against %s", i, match_cases[i].con,
			    match_cases[i].args ? match_cases[i].args : "(none)");
		json_decref(con);
		json_decref(args);
	}
}

/* The budget: a step per argument value, one per value of the list it is
 * looked up in; running out is neither a match nor a miss. */
static void
test_constraints_match_bounded(void **state)
{
	json_t *con = json_loads("{\"n\":{\"one_of\":[1,2,3,4]},"
	    "\"s\":[\"a\",\"b\"]}", 0, NULL);
	json_t *args = json_loads("{\"n\":[4,4,4],\"s\":\"b\"}", 0, NULL);
	json_t *miss = json_loads("{\"n\":[4,4,5],\"s\":\"b\"}", 0, NULL);
	size_t left;

	(void)state;
	assert_non_null(con);
	assert_non_null(args);
	assert_non_null(miss);
	/* n: 3 values x (1 + 4), s: 1 + 2 */
	left = 18;
	assert_int_equal(agent_constraints_match_bounded(con, args, &left), 1);
	assert_int_equal(left, 0);
	left = 17;
	assert_int_equal(agent_constraints_match_bounded(con, args, &left), -1);
	/* a miss found within the budget is a miss */
	left = 15;
	assert_int_equal(agent_constraints_match_bounded(con, miss, &left), 0);
	/* unbounded, as before */
	assert_true(agent_constraints_match(con, args));
	assert_false(agent_constraints_match(con, miss));
	json_decref(con);
	json_decref(args);
	json_decref(miss);
}

/* ---- against a daemon ---- */

struct fx {
	char dir[64];
	struct daemon *d;
	FILE *log;
	struct arena a;
	struct http_request req;
	char task[STORE_TASK_ID_SIZE];
	int64_t now;
};

static int
write_file(const char *dir, const char *name, const char *text)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((fp = fopen(path, "w")) == NULL)
		return -1;
	fputs(text, fp);
	return fclose(fp);
}

static int
make_task(struct fx *f, const char *agent, const char *intents,
    int64_t budget, char *id)
{
	struct store_task t;

	memset(&t, 0, sizeof(t));
	if (store_task_new_id(id) != MANDATE_OK)
		return -1;
	t.id = str_c(id);
	t.agent = str_c(agent);
	t.delegator = str_c("alice");
	t.objective = str_c("summarise the docs");
	t.intents_json = str_c(intents);
	t.sensitivity = 2;
	t.created_at = f->now - 1;
	t.expires_at = f->now + 600;
	t.call_budget = budget;
	return store_task_create(f->d->store, &t);
}

#define INTENTS "[{\"action\":\"read_file\",\"constraints\":{\"path\":" \
	"{\"prefix\":\"/docs/\"}}},{\"action\":\"send_email\",\"resource\":" \
	"\"Mailbox::\\\"team\\\"\",\"constraints\":{\"to\":{\"suffix\":" \
	"\"@corp.example\"}}}]"

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	struct daemon_options opt;
	char yaml[1024], cfg[128];

	if (f == NULL)
		return -1;
	snprintf(f->dir, sizeof(f->dir), "/tmp/agent_ctx_test.XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	if (write_file(f->dir, "p.cedar",
	    "permit (principal, action, resource);\n"
	    "forbid (principal == Delegator::\"mallory\",\n"
	    "    action == Action::\"mandate:use_task\", resource);\n") != 0)
		return -1;
	snprintf(yaml, sizeof(yaml), "data_dir: %s/data\npolicies:\n"
	    "  platform: [%s/p.cedar]\ntools:\n  output_labels:\n"
	    "    read_file: [untrusted, docs]\ntokens:\n  audience: "
	    "https://tools.example\nlogging:\n  format: json\n",
	    f->dir, f->dir);
	if (write_file(f->dir, "d.yaml", yaml) != 0)
		return -1;
	snprintf(cfg, sizeof(cfg), "%s/d.yaml", f->dir);
	if ((f->log = tmpfile()) == NULL)
		return -1;
	memset(&opt, 0, sizeof(opt));
	opt.config_file = cfg;
	opt.listen = "127.0.0.1:0";
	opt.log = f->log;
	if (daemon_new(&opt, &f->d) != MANDATE_OK)
		return -1;
	arena_init(&f->a, 0);
	f->req.arena = &f->a;
	f->req.request_id = "test-req";
	f->req.method = "POST";
	f->now = (int64_t)time(NULL);
	if (make_task(f, AGENT, INTENTS, 5, f->task) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	daemon_free(f->d);
	arena_free(&f->a);
	fclose(f->log);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* A token for task (actions: a JSON array text or NULL for all). */
static char *
mint_bound(struct fx *f, const char *task, const char *agent,
    const char *actions, const char *jkt);

static char *
mint(struct fx *f, const char *task, const char *agent, const char *actions)
{
	return mint_bound(f, task, agent, actions, NULL);
}

static char *
mint_bound(struct fx *f, const char *task, const char *agent,
    const char *actions, const char *jkt)
{
	struct sts_exchange_req r;
	struct sts_result res;
	struct str aud;
	char authz[512];
	json_t *b;
	char *tok;

	if (actions != NULL)
		snprintf(authz, sizeof(authz), "[{\"type\":\"mandate_task\","
		    "\"task_id\":\"%s\",\"actions\":%s}]", task, actions);
	else
		snprintf(authz, sizeof(authz), "[{\"type\":\"mandate_task\","
		    "\"task_id\":\"%s\"}]", task);
	memset(&r, 0, sizeof(r));
	r.grant_type = str_c(STS_GRANT_TOKEN_EXCHANGE);
	r.subject_token_type = str_c(STS_TT_JWT);
	r.authorization_details = str_c(authz);
	aud = str_c("https://tools.example");
	r.audience = &aud;
	r.n_audience = 1;
	r.subject.sub = str_c(agent);
	r.subject.spiffe = strncmp(r.subject.sub.p, "spiffe:", 7) == 0;
	r.dpop_jkt = str_c(jkt);
	r.request_id = STR_LIT("req-1");
	r.now = f->now;
	assert_int_equal(sts_exchange(f->d->sts, &r, &f->a, &res), MANDATE_OK);
	if (res.http_status != 200)
		fail_msg("exchange: %.*s", (int)res.body.n, res.body.p);
	b = json_loadb(res.body.p, res.body.n, 0, NULL);
	assert_non_null(b);
	tok = arena_cstrdup(&f->a, json_string_value(json_object_get(b,
	    "access_token")));
	json_decref(b);
	assert_non_null(tok);
	return tok;
}

struct call_out {
	struct agent_call *call;
	enum agent_ctx_result result;
	const char *why;
	struct agent_ctx *c;
	json_t *ctx;
};

static struct api_caller caller_as = { "alice", "oidc", "people" };

/* prepare() for subject/action/resource with a context JSON text. */
static void
prepare(struct fx *f, const char *subject, const char *action,
    const char *rtype, const char *rid, const char *ctx_json, bool authn,
    struct call_out *o)
{
	struct agent_call *call = arena_alloc(&f->a, sizeof(*call));

	assert_non_null(call);
	memset(call, 0, sizeof(*call));
	call->subject_type = str_c("Agent");
	call->subject_id = str_c(subject);
	call->action = str_c(action);
	call->resource_type = str_c(rtype);
	call->resource_id = str_c(rid);
	call->caller_authenticated = authn;
	/* an authenticated caller is the tasks' delegator, unless a test
	 * says who else (naming a task by id is the delegator's) */
	call->caller = authn ? caller_as.principal : NULL;
	call->who = authn ? &caller_as : NULL;
	o->call = call;
	o->ctx = json_loads(ctx_json, 0, NULL);
	assert_non_null(o->ctx);
	assert_int_equal(agent_ctx_prepare(f->d, &f->req, call, o->ctx, &o->c,
	    &o->result, &o->why), MANDATE_OK);
	assert_non_null(o->c);
}

static char *
with_token(struct fx *f, const char *tok, const char *extra)
{
	size_t n = strlen(tok) + strlen(extra) + 64;
	char *s = arena_alloc(&f->a, n);

	assert_non_null(s);
	snprintf(s, n, "{\"mandate\":{\"token\":\"%s\"}%s}", tok, extra);
	return s;
}

static bool
finish(struct fx *f, struct call_out *o, bool permit, char *id)
{
	bool final = true;

	assert_int_equal(agent_ctx_finish(f->d, &f->req, o->c, permit, NULL,
	    NULL, &final, id), MANDATE_OK);
	assert_int_equal(strlen(id), 32);
	json_decref(o->ctx);
	o->ctx = NULL;
	return final;
}

static json_t *
path(json_t *ctx, const char *a, const char *b)
{
	return json_object_get(json_object_get(ctx, a), b);
}

static void expect_deny(struct fx *f, const char *subject, const char *ctx,
    bool authn, const char *why);

static void
test_no_task_strips_reserved(void **state)
{
	struct fx *f = *state;
	struct call_out o;
	char id[AGENT_DECISION_ID_SIZE];

	prepare(f, AGENT, "read_file", "File", "x", "{\"task\":{\"id\":\"x\","
	    "\"intent_match\":true},\"session\":{\"labels\":[]},\"approval\":"
	    "{\"state\":\"granted\"},\"keep\":1}", true, &o);
	assert_int_equal(o.result, AGENT_CTX_NONE);
	assert_null(json_object_get(o.ctx, "task"));
	assert_null(json_object_get(o.ctx, "session"));
	assert_null(json_object_get(o.ctx, "approval"));
	assert_non_null(json_object_get(o.ctx, "keep"));
	assert_true(finish(f, &o, true, id));
	assert_false(finish(f, (prepare(f, AGENT, "x", "T", "y", "{}", false,
	    &o), &o), false, id));
}

static void
test_token_flow(void **state)
{
	struct fx *f = *state;
	struct call_out o;
	char id[AGENT_DECISION_ID_SIZE];
	const char *tok = mint(f, f->task, AGENT, NULL);
	struct store_session ss;
	struct store_decision dec;

	/* a forged task is replaced, the intent matches the arguments */
	prepare(f, AGENT, "read_file", "File", "a", with_token(f, tok,
	    ",\"task\":{\"id\":\"forged\"},\"session\":{\"labels\":[\"x\"]},"
	    "\"arguments\":{\"path\":\"/docs/a.txt\"}"), false, &o);
	assert_int_equal(o.result, AGENT_CTX_TASK);
	assert_null(json_object_get(o.ctx, "mandate"));
	assert_string_equal(json_string_value(path(o.ctx, "task", "id")),
	    f->task);
	assert_true(json_is_true(path(o.ctx, "task", "intent_match")));
	assert_int_equal(json_array_size(path(o.ctx, "task", "intents")), 2);
	assert_int_equal(json_integer_value(path(o.ctx, "task",
	    "sensitivity")), 2);
	assert_string_equal(json_string_value(path(o.ctx, "task",
	    "sensitivity_name")), "confidential");
	assert_int_equal(json_array_size(path(o.ctx, "session", "labels")), 0);
	assert_string_equal(json_string_value(path(o.ctx, "approval",
	    "state")), "none");
	assert_true(finish(f, &o, true, id));

	/* the permit was recorded with the tool's output labels */
	assert_int_equal(store_decision_get(f->d->store, str_c(id), &f->a,
	    &dec), MANDATE_OK);
	assert_int_equal(dec.permit, 1);
	assert_true(str_eq_c(dec.resource, "File::\"a\""));
	assert_int_equal(store_session_get(f->d->store, str_c(f->task), &f->a,
	    &ss), MANDATE_OK);
	assert_int_equal(ss.n_labels, 2);
	assert_int_equal(ss.n_actions, 1);
	assert_int_equal(ss.counts[0], 1);

	/* the next call sees them; an argument outside the constraint */
	prepare(f, AGENT, "read_file", "File", "b", with_token(f, tok,
	    ",\"arguments\":{\"path\":\"/etc/passwd\"}"), false, &o);
	assert_int_equal(o.result, AGENT_CTX_TASK);
	assert_false(json_is_true(path(o.ctx, "task", "intent_match")));
	assert_int_equal(json_array_size(path(o.ctx, "session", "labels")), 2);
	assert_int_equal(json_integer_value(path(o.ctx, "session", "calls")),
	    1);
	assert_int_equal(json_integer_value(json_object_get(path(o.ctx,
	    "session", "counts"), "read_file")), 1);
	assert_int_equal(json_integer_value(path(o.ctx, "task",
	    "calls_used")), 1);
	/* a deny stays a deny and consumes nothing */
	assert_false(finish(f, &o, false, id));
	assert_int_equal(store_decision_get(f->d->store, str_c(id), &f->a,
	    &dec), MANDATE_OK);
	assert_int_equal(dec.permit, 0);

	/* an enforcement point may insist on its audience */
	{
		char ctx[4096];
		snprintf(ctx, sizeof(ctx), "{\"mandate\":{\"token\":\"%s\","
		    "\"aud\":\"https://tools.example\"}}", tok);
		prepare(f, AGENT, "read_file", "File", "a", ctx, false, &o);
		assert_int_equal(o.result, AGENT_CTX_TASK);
		json_decref(o.ctx);
		snprintf(ctx, sizeof(ctx), "{\"mandate\":{\"token\":\"%s\","
		    "\"aud\":\"https://other.example\"}}", tok);
		expect_deny(f, AGENT, ctx, false, NULL);
	}

	/* the resource of an intent must match exactly */
	prepare(f, AGENT, "send_email", "Mailbox", "team", with_token(f, tok,
	    ",\"arguments\":{\"to\":[\"a@corp.example\"]}"), false, &o);
	assert_true(json_is_true(path(o.ctx, "task", "intent_match")));
	json_decref(o.ctx);
	prepare(f, AGENT, "send_email", "Mailbox", "other", with_token(f, tok,
	    ",\"arguments\":{\"to\":[\"a@corp.example\"]}"), false, &o);
	assert_false(json_is_true(path(o.ctx, "task", "intent_match")));
	json_decref(o.ctx);
	prepare(f, AGENT, "send_email", "Mailbox", "team", with_token(f, tok,
	    ",\"arguments\":{\"to\":[\"a@corp.example\",\"x@evil.test\"]}"),
	    false, &o);
	assert_false(json_is_true(path(o.ctx, "task", "intent_match")));
	json_decref(o.ctx);
}

static void
test_token_actions_bound_intents(void **state)
{
	struct fx *f = *state;
	struct call_out o;
	const char *tok = mint(f, f->task, AGENT, "[\"read_file\"]");

	prepare(f, AGENT, "send_email", "Mailbox", "team", with_token(f, tok,
	    ",\"arguments\":{\"to\":\"a@corp.example\"}"), false, &o);
	assert_int_equal(o.result, AGENT_CTX_TASK);
	assert_false(json_is_true(path(o.ctx, "task", "intent_match")));
	assert_int_equal(json_array_size(path(o.ctx, "task", "intents")), 1);
	json_decref(o.ctx);
}

static void
expect_deny(struct fx *f, const char *subject, const char *ctx, bool authn,
    const char *why)
{
	struct call_out o;
	char id[AGENT_DECISION_ID_SIZE];

	prepare(f, subject, "read_file", "File", "a", ctx, authn, &o);
	if (o.result != AGENT_CTX_DENY)
		fail_msg("not denied: %s", ctx);
	assert_non_null(o.why);
	if (why != NULL && strstr(o.why, why) == NULL)
		fail_msg("reason '%s', want '%s'", o.why, why);
	assert_null(json_object_get(o.ctx, "task"));
	assert_false(finish(f, &o, true, id));   /* policies cannot undo it */
}

static void
test_denials(void **state)
{
	struct fx *f = *state;
	char other[STORE_TASK_ID_SIZE], ctx[256];
	const char *tok = mint(f, f->task, AGENT, NULL);
	struct store_agent_revocation rv;
	struct call_out o;

	/* another agent's token, or a subject that is not the agent */
	assert_int_equal(make_task(f, OTHER, "[\"read_file\"]", 5, other), 0);
	expect_deny(f, AGENT, with_token(f, mint(f, other, OTHER, NULL), ""),
	    false, "agent");
	expect_deny(f, OTHER, with_token(f, tok, ""), false, "agent");
	/* malformed mandate members */
	expect_deny(f, AGENT, "{\"mandate\":\"x\"}", true, NULL);
	expect_deny(f, AGENT, "{\"mandate\":{}}", true, NULL);
	expect_deny(f, AGENT, "{\"mandate\":{\"tokn\":\"x\"}}", true, NULL);
	expect_deny(f, AGENT, "{\"mandate\":{\"token\":1}}", true, NULL);
	expect_deny(f, AGENT, "{\"mandate\":{\"token\":\"a.b.c\"}}", true, NULL);
	/* a task id: authenticated callers only, and of those the task's
	 * delegator or a caller the policies grant mandate:use_task (here
	 * everyone but mallory) */
	snprintf(ctx, sizeof(ctx), "{\"mandate\":{\"task\":\"%s\"}}", f->task);
	expect_deny(f, AGENT, ctx, false, "authenticated");
	caller_as.principal = "mallory";
	expect_deny(f, AGENT, ctx, true, "unknown task");
	caller_as.principal = "spiffe://dev.local/pep";   /* granted */
	prepare(f, AGENT, "read_file", "File", "a", ctx, true, &o);
	assert_int_equal(o.result, AGENT_CTX_TASK);
	json_decref(o.ctx);
	caller_as.principal = "alice";
	prepare(f, AGENT, "read_file", "File", "a", ctx, true, &o);
	assert_int_equal(o.result, AGENT_CTX_TASK);
	json_decref(o.ctx);
	expect_deny(f, AGENT, "{\"mandate\":{\"task\":"
	    "\"00000000000000000000000000000000\"}}", true, "unknown");
	/* a revoked token */
	{
		const char *t2 = mint(f, f->task, AGENT, NULL);
		assert_int_equal(sts_revoke(f->d->sts, str_c(t2), STR_NULL,
		    f->now, NULL, NULL), MANDATE_OK);
		expect_deny(f, AGENT, with_token(f, t2, ""), false, NULL);
	}
	/* the kill switch */
	memset(&rv, 0, sizeof(rv));
	rv.agent = str_c(OTHER);
	rv.revoked_by = str_c("op");
	rv.reason = str_c("test");
	assert_int_equal(store_agent_revoke(f->d->store, &rv, f->now, NULL),
	    MANDATE_OK);
	snprintf(ctx, sizeof(ctx), "{\"mandate\":{\"task\":\"%s\"}}", other);
	expect_deny(f, OTHER, ctx, true, "revoked");
	/* an ended task */
	assert_int_equal(store_task_end(f->d->store, str_c(f->task), f->now,
	    str_c("done"), NULL), MANDATE_OK);
	expect_deny(f, AGENT, with_token(f, tok, ""), false, NULL);
	snprintf(ctx, sizeof(ctx), "{\"mandate\":{\"task\":\"%s\"}}", f->task);
	expect_deny(f, AGENT, ctx, true, "ended");
}

static void
test_budget(void **state)
{
	struct fx *f = *state;
	char small[STORE_TASK_ID_SIZE], ctx[256];
	char id[AGENT_DECISION_ID_SIZE];
	struct call_out a, b;

	assert_int_equal(make_task(f, AGENT, "[\"read_file\"]", 2, small), 0);
	snprintf(ctx, sizeof(ctx), "{\"mandate\":{\"task\":\"%s\"}}", small);
	prepare(f, AGENT, "read_file", "File", "a", ctx, true, &a);
	assert_int_equal(a.result, AGENT_CTX_TASK);
	assert_true(finish(f, &a, true, id));
	/* two calls prepared while one call is left: one permit */
	prepare(f, AGENT, "read_file", "File", "a", ctx, true, &a);
	prepare(f, AGENT, "read_file", "File", "a", ctx, true, &b);
	assert_int_equal(a.result, AGENT_CTX_TASK);
	assert_int_equal(b.result, AGENT_CTX_TASK);
	assert_true(finish(f, &a, true, id));
	assert_false(finish(f, &b, true, id));
	expect_deny(f, AGENT, ctx, true, "budget");
}

/* A search (dry run) is decided with the task's context but consumes no
 * budget and stores nothing. */
static void
test_dry_run(void **state)
{
	struct fx *f = *state;
	char one[STORE_TASK_ID_SIZE], ctx[256];
	char id[AGENT_DECISION_ID_SIZE];
	struct store_decision dec;
	struct store_session ss;
	struct store_task t;
	struct call_out o;

	assert_int_equal(make_task(f, AGENT, "[\"read_file\"]", 1, one), 0);
	snprintf(ctx, sizeof(ctx), "{\"mandate\":{\"task\":\"%s\"}}", one);
	for (int i = 0; i < 3; i++) {
		prepare(f, AGENT, "read_file", "File", "a", ctx, true, &o);
		assert_int_equal(o.result, AGENT_CTX_TASK);
		o.call->dry_run = true;
		assert_true(finish(f, &o, true, id));
		assert_int_equal(store_decision_get(f->d->store, str_c(id),
		    &f->a, &dec), MANDATE_ENOTFOUND);
	}
	assert_int_equal(store_task_get(f->d->store, str_c(one), &f->a, &t),
	    MANDATE_OK);
	assert_int_equal(t.calls_used, 0);
	assert_int_equal(store_session_get(f->d->store, str_c(one), &f->a,
	    &ss), MANDATE_OK);
	assert_int_equal(ss.n_actions, 0);
	/* the real call still has its budget */
	prepare(f, AGENT, "read_file", "File", "a", ctx, true, &o);
	assert_true(finish(f, &o, true, id));
	expect_deny(f, AGENT, ctx, true, "budget");
}

/* A DPoP proof by key for htm/htu, bound to token (ES256, embedded jwk). */
static const char *
dpop_proof(struct fx *f, const struct jose_key *key, const char *htm,
    const char *htu, const char *jti, const char *token)
{
	unsigned char h[SHA256_DIGEST_LENGTH];
	char payload[1024], ath[64];
	struct jose_sign_opts so;
	struct str out;

	SHA256((const unsigned char *)token, strlen(token), h);
	jose_b64url_encode(h, sizeof(h), ath, sizeof(ath));
	snprintf(payload, sizeof(payload), "{\"jti\":\"%s\",\"htm\":\"%s\","
	    "\"htu\":\"%s\",\"iat\":%lld,\"ath\":\"%s\"}", jti, htm, htu,
	    (long long)f->now, ath);
	memset(&so, 0, sizeof(so));
	so.typ = STR_LIT("dpop+jwt");
	so.embed_jwk = true;
	so.omit_kid = true;
	assert_int_equal(jose_jws_sign(&f->a, key, JOSE_ALG_ES256, &so,
	    str_c(payload), &out), MANDATE_OK);
	return arena_cstrdup(&f->a, out.p);
}

/* A DPoP-bound token needs the agent's proof, forwarded by the
 * enforcement point with the method and URI of the agent's request. */
static void
test_dpop_bound_token(void **state)
{
	struct fx *f = *state;
	struct jose_key *key = NULL;
	char jkt[JOSE_THUMBPRINT_LEN + 1], ctx[8192];
	const char *tok, *pr;
	struct call_out o;

	assert_int_equal(jose_key_generate_es256(STR_NULL, &key), MANDATE_OK);
	assert_int_equal(jose_key_thumbprint(key, jkt), MANDATE_OK);
	tok = mint_bound(f, f->task, AGENT, NULL, jkt);
	/* no proof */
	expect_deny(f, AGENT, with_token(f, tok, ""), false, NULL);
	/* a proof for the agent's request */
	pr = dpop_proof(f, key, "POST", "https://tools.example/read", "p1", tok);
	snprintf(ctx, sizeof(ctx), "{\"mandate\":{\"token\":\"%s\",\"dpop\":"
	    "\"%s\",\"htm\":\"POST\",\"htu\":\"https://tools.example/read\"},"
	    "\"arguments\":{\"path\":\"/docs/x\"}}", tok, pr);
	prepare(f, AGENT, "read_file", "File", "a", ctx, false, &o);
	assert_int_equal(o.result, AGENT_CTX_TASK);
	json_decref(o.ctx);
	/* replayed, and for another URI */
	expect_deny(f, AGENT, ctx, false, NULL);
	pr = dpop_proof(f, key, "POST", "https://tools.example/read", "p2", tok);
	snprintf(ctx, sizeof(ctx), "{\"mandate\":{\"token\":\"%s\",\"dpop\":"
	    "\"%s\",\"htm\":\"POST\",\"htu\":\"https://tools.example/send\"}}",
	    tok, pr);
	expect_deny(f, AGENT, ctx, false, NULL);
	jose_key_unref(key);
}

/* Labels fold to lowercase: only ASCII capitals change, and a label
 * without any is the caller's own string (no copy). */
static void
test_label_fold(void **state)
{
	static const struct { const char *in, *out; } cases[] = {
		{ "confidential", "confidential" },
		{ "Confidential", "confidential" },
		{ "CONFIDENTIAL", "confidential" },
		{ "PII/SSN:US-2_x.y", "pii/ssn:us-2_x.y" },
		{ "hmac:0a1b", "hmac:0a1b" },
		{ "Z", "z" },
		{ "@[`{", "@[`{" },         /* the neighbours of A-Z, a-z */
	};
	struct arena a;

	(void)state;
	arena_init(&a, 0);
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct str l = str_c(cases[i].in);

		assert_int_equal(agent_label_fold(&a, &l), MANDATE_OK);
		assert_int_equal(l.n, strlen(cases[i].out));
		assert_memory_equal(l.p, cases[i].out, l.n);
		if (strcmp(cases[i].in, cases[i].out) == 0)
			assert_ptr_equal(l.p, cases[i].in);
		else
			assert_ptr_not_equal(l.p, cases[i].in);
	}
	arena_free(&a);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_constraints_check),
		cmocka_unit_test(test_constraints_match),
		cmocka_unit_test(test_constraints_match_bounded),
		cmocka_unit_test(test_label_fold),
		T(test_no_task_strips_reserved),
		T(test_token_flow),
		T(test_token_actions_bound_intents),
		T(test_denials),
		T(test_budget),
		T(test_dpop_bound_token),
		T(test_dry_run),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

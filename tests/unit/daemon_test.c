/*
 * daemon_test.c - the daemon's pure parts and its life cycle.
 *
 * Task request bodies (tables of good and bad inputs with the expected
 * status and message), agent ids, Cedar uid escaping, the stored intents,
 * policy loading and the snapshot swap under concurrent readers, and a
 * daemon started on an ephemeral port and stopped.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sqlite3.h>

#include "daemon/context_tree.h"
#include "daemon/daemon_int.h"
#include "util/json.h"
#include "util/status.h"

static const struct daemon_task_limits lim = {
	.default_ttl = 900, .max_ttl = 3600,
	.default_call_budget = 0, .max_call_budget = 0, .max_intents = 4,
};

struct parse_case {
	const char *body;
	int status;
	const char *msg;          /* substring of the message, or NULL */
};

#define OK_HEAD "{\"agent\":\"spiffe://dev.local/a\",\"objective\":\"o\","

static const struct parse_case parse_cases[] = {
	{ OK_HEAD "\"intents\":[{\"action\":\"read\"}]}", MANDATE_OK, NULL },
	{ OK_HEAD "\"intents\":[{\"action\":\"mail:send\",\"resource\":"
	    "\"Tool::\\\"mail\\\"\",\"constraints\":{\"to\":[1,2]}}],"
	    "\"sensitivity\":\"restricted\",\"ttl\":60,\"call_budget\":3}",
	    MANDATE_OK, NULL },
	{ "{\"agent\":\"user-42\",\"objective\":\"multi\\nline\","
	    "\"intents\":[{\"action\":\"a\"}]}", MANDATE_OK, NULL },
	{ OK_HEAD "\"intents\":[{\"action\":\"a\",\"constraints\":{\"p\":"
	    "{\"prefix\":\"/d/\",\"max_length\":9}}}]}", MANDATE_OK, NULL },
	{ OK_HEAD "\"intents\":[{\"action\":\"a\",\"constraints\":{\"p\":"
	    "{\"regex\":\".*\"}}}]}", MANDATE_EINVAL, "unknown operator" },
	{ OK_HEAD "\"intents\":[{\"action\":\"a\",\"constraints\":{\"p\":"
	    "[]}}]}", MANDATE_EINVAL, "1 to 256 entries" },
	{ OK_HEAD "\"intents\":[{\"action\":\"a\",\"constraints\":{\"n\":"
	    "{\"min\":3,\"max\":1}}}]}", MANDATE_EINVAL, "min is greater" },
	/* objectives: tabs and line ends (LF, CR LF), no other control
	 * character: no lone CR, no C1 (U+0080-U+009F); U+00A0 is text */
	{ "{\"agent\":\"user-42\",\"objective\":\"a\\r\\nb\\tc\\r\\n\","
	    "\"intents\":[{\"action\":\"a\"}]}", MANDATE_OK, NULL },
	{ "{\"agent\":\"user-42\",\"objective\":\"a\\u00a0b\\u00ffc\","
	    "\"intents\":[{\"action\":\"a\"}]}", MANDATE_OK, NULL },
	{ "{\"agent\":\"user-42\",\"objective\":\"a\\rb\"}", MANDATE_EINVAL,
	    "objective contains control" },
	{ "{\"agent\":\"user-42\",\"objective\":\"ab\\r\"}", MANDATE_EINVAL,
	    "objective contains control" },
	{ "{\"agent\":\"user-42\",\"objective\":\"a\\n\\rb\"}",
	    MANDATE_EINVAL, "objective contains control" },
	{ "{\"agent\":\"user-42\",\"objective\":\"a\\u0085b\"}",
	    MANDATE_EINVAL, "objective contains control" },
	{ "{\"agent\":\"user-42\",\"objective\":\"a\\u0080\"}",
	    MANDATE_EINVAL, "objective contains control" },
	{ "{\"agent\":\"user-42\",\"objective\":\"\\u009fa\"}",
	    MANDATE_EINVAL, "objective contains control" },
	{ "{\"agent\":\"user-42\",\"objective\":\"a\\u0007\"}",
	    MANDATE_EINVAL, "objective contains control" },
	{ "{\"agent\":\"user\\u009b42\"}", MANDATE_EINVAL, "control" },
	{ "{\"agent\":\"user\\r\\n42\"}", MANDATE_EINVAL, "control" },
	{ OK_HEAD "\"intents\":[{\"action\":\"a\",\"resource\":"
	    "\"T::\\\"R\\u0085\\\"\"}]}", MANDATE_EINVAL, "printable" },
	{ "", MANDATE_EPARSE, "not valid JSON" },
	{ "{", MANDATE_EPARSE, "not valid JSON" },
	{ "{\"agent\":\"a\",\"agent\":\"b\"}", MANDATE_EPARSE, "duplicate" },
	{ "[]", MANDATE_EINVAL, "must be a JSON object" },
	{ "{\"nope\":1}", MANDATE_EINVAL, "unknown member" },
	{ "{}", MANDATE_EINVAL, "agent is required" },
	{ "{\"agent\":\"\"}", MANDATE_EINVAL, "agent is empty" },
	{ "{\"agent\":\"a\\u0000b\"}", MANDATE_EINVAL, "control" },
	/* dot-segments in the kill switch's path: no agent could be named */
	{ "{\"agent\":\".\"}", MANDATE_EINVAL, "'.' and '..'" },
	{ "{\"agent\":\"..\"}", MANDATE_EINVAL, "'.' and '..'" },
	{ "{\"agent\":\"...\",\"objective\":\"o\","
	    "\"intents\":[{\"action\":\"a\"}]}", MANDATE_OK, NULL },
	{ "{\"agent\":\"%2E%2E\",\"objective\":\"o\","
	    "\"intents\":[{\"action\":\"a\"}]}", MANDATE_OK, NULL },
	{ "{\"agent\":\"SPIFFE://x/y\"}", MANDATE_EINVAL, "lowercase" },
	{ "{\"agent\":\"spiffe:///y\"}", MANDATE_EINVAL, "trust domain is empty" },
	{ "{\"agent\":\"spiffe://X/y\"}", MANDATE_EINVAL, "trust domain" },
	{ "{\"agent\":\"spiffe://x\"}", MANDATE_EINVAL, "needs a path" },
	{ "{\"agent\":\"spiffe://x/\"}", MANDATE_EINVAL, "empty segment" },
	{ "{\"agent\":\"spiffe://x/a//b\"}", MANDATE_EINVAL, "empty segment" },
	{ "{\"agent\":\"spiffe://x/a/..\"}", MANDATE_EINVAL, "'..'" },
	{ "{\"agent\":\"spiffe://x/a%20\"}", MANDATE_EINVAL, "bad character" },
	{ "{\"agent\":\"spiffe://x:80/a\"}", MANDATE_EINVAL, "trust domain" },
	{ "{\"agent\":\"spiffe://x/a\"}", MANDATE_EINVAL, "objective" },
	{ OK_HEAD "\"intents\":[]}", MANDATE_EINVAL, "at least one" },
	{ OK_HEAD "\"intents\":{}}", MANDATE_EINVAL, "must be an array" },
	{ OK_HEAD "\"intents\":[1]}", MANDATE_EINVAL, "must be an object" },
	{ OK_HEAD "\"intents\":[{\"action\":\"\"}]}", MANDATE_EINVAL, "1 to 256" },
	{ OK_HEAD "\"intents\":[{\"action\":\"a b\"}]}", MANDATE_EINVAL,
	    "letters" },
	{ OK_HEAD "\"intents\":[{\"action\":\"a\",\"why\":1}]}", MANDATE_EINVAL,
	    "unknown intent member" },
	{ OK_HEAD "\"intents\":[{\"action\":\"a\",\"resource\":\"\"}]}",
	    MANDATE_EINVAL, "resource" },
	{ OK_HEAD "\"intents\":[{\"action\":\"a\",\"constraints\":3}]}",
	    MANDATE_EINVAL, "constraints must be an object" },
	{ OK_HEAD "\"intents\":[{\"action\":\"a\"},{\"action\":\"b\"},"
	    "{\"action\":\"c\"},{\"action\":\"d\"},{\"action\":\"e\"}]}",
	    MANDATE_ELIMIT, "too many" },
	{ OK_HEAD "\"intents\":[{\"action\":\"a\"}],\"sensitivity\":\"top\"}",
	    MANDATE_EINVAL, "sensitivity" },
	{ OK_HEAD "\"intents\":[{\"action\":\"a\"}],\"sensitivity\":1}",
	    MANDATE_EINVAL, "sensitivity" },
	{ OK_HEAD "\"intents\":[{\"action\":\"a\"}],\"ttl\":0}", MANDATE_EINVAL,
	    "ttl" },
	{ OK_HEAD "\"intents\":[{\"action\":\"a\"}],\"ttl\":1e3}",
	    MANDATE_EINVAL, "ttl" },
	{ OK_HEAD "\"intents\":[{\"action\":\"a\"}],\"ttl\":99999999999}",
	    MANDATE_EINVAL, "ttl" },
	{ OK_HEAD "\"intents\":[{\"action\":\"a\"}],\"call_budget\":-1}",
	    MANDATE_EINVAL, "call_budget" },
	{ OK_HEAD "\"intents\":[{\"action\":\"a\",\"constraints\":"
	    "[[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]}]}", MANDATE_EPARSE,
	    "nested" },
};

static void
test_parse_table(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(parse_cases) / sizeof(parse_cases[0]);
	    i++) {
		const struct parse_case *c = &parse_cases[i];
		struct arena a;
		struct daemon_task_request tr;
		char err[200];
		int r;

		arena_init(&a, 1u << 20);
		r = daemon_task_request_parse(&a, c->body, strlen(c->body), &lim,
		    &tr, err, sizeof(err));
		if (r != c->status || (c->msg && strstr(err, c->msg) == NULL))
			print_error("case %zu: %s -> %d '%s'\n", i, c->body, r,
			    err);
		assert_int_equal(r, c->status);
		if (c->msg != NULL)
			assert_non_null(strstr(err, c->msg));
		arena_free(&a);
	}
}

static void
test_parse_defaults_and_caps(void **state)
{
	struct daemon_task_limits l = lim;
	struct daemon_task_request tr;
	struct arena a;
	char err[200];
	const char *b = OK_HEAD "\"intents\":[{\"action\":\"a\"}]}";
	const char *b2 = OK_HEAD "\"intents\":[{\"action\":\"a\"}],"
	    "\"ttl\":100000,\"call_budget\":500}";

	(void)state;
	arena_init(&a, 1u << 20);
	assert_int_equal(daemon_task_request_parse(&a, b, strlen(b), &l, &tr,
	    err, sizeof(err)), MANDATE_OK);
	assert_int_equal(tr.ttl, 900);
	assert_true(tr.call_budget == INT64_MAX);
	assert_int_equal(tr.sensitivity, DAEMON_SENS_PUBLIC);
	assert_int_equal(tr.agent_kind, DAEMON_AGENT_SPIFFE);
	assert_true(str_eq_c(tr.trust_domain, "dev.local"));

	l.default_call_budget = 10;
	l.max_call_budget = 100;
	assert_int_equal(daemon_task_request_parse(&a, b, strlen(b), &l, &tr,
	    err, sizeof(err)), MANDATE_OK);
	assert_true(tr.call_budget == 10);
	assert_int_equal(daemon_task_request_parse(&a, b2, strlen(b2), &l, &tr,
	    err, sizeof(err)), MANDATE_OK);
	assert_int_equal(tr.ttl, 3600);            /* capped at max_ttl */
	assert_true(tr.call_budget == 100);        /* capped */
	arena_free(&a);
}

static void
test_intents_json(void **state)
{
	struct daemon_task_request tr;
	struct arena a;
	char err[200], *s;
	const char *b = OK_HEAD "\"intents\":[{\"action\":\"a\",\"resource\":"
	    "\"R::\\\"x\\\"\",\"constraints\":{\"k\":\"\\u00e9\"}},"
	    "{\"action\":\"b\"}]}";
	/* a resource is compared with the call's as Cedar prints it: any
	 * other spelling would never match, and is refused */
	static const char *const bad[] = { "R", "R::x", "R :: \\\"x\\\"",
	    "R::\\\"x", "R::\\\"a\\\"b\\\"", "R::\\\"\\\\u{41}\\\"",
	    "1R::\\\"x\\\"", "::\\\"x\\\"" };

	(void)state;
	arena_init(&a, 1u << 20);
	assert_int_equal(daemon_task_request_parse(&a, b, strlen(b), &lim, &tr,
	    err, sizeof(err)), MANDATE_OK);
	s = daemon_intents_json(&tr);
	assert_non_null(s);
	assert_string_equal(s, "[{\"action\":\"a\",\"resource\":"
	    "\"R::\\\"x\\\"\",\"constraints\":{\"k\":\"\\u00E9\"}},"
	    "{\"action\":\"b\"}]");
	/* the parser kept the same text for the store */
	assert_int_equal(tr.intents_json.n, strlen(s));
	assert_string_equal(tr.intents_json.p, s);
	free(s);
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		char body[300];

		snprintf(body, sizeof(body), OK_HEAD "\"intents\":[{\"action\":"
		    "\"a\",\"resource\":\"%s\"}]}", bad[i]);
		err[0] = '\0';
		if (daemon_task_request_parse(&a, body, strlen(body), &lim,
		    &tr, err, sizeof(err)) != MANDATE_EINVAL ||
		    strstr(err, "as Cedar prints it") == NULL)
			fail_msg("resource %s: %s", bad[i], err);
	}
	arena_free(&a);
}

/* A body of n intents {"action":"aNN","constraints":{"k":"<pad>"}}, the
 * last one's pad last_pad bytes long; malloc'd. */
static char *
big_intents_body(size_t n, size_t pad, size_t last_pad)
{
	size_t cap = 256 + n * (pad + 64) + last_pad;
	char *b = malloc(cap);
	size_t o;

	assert_non_null(b);
	o = (size_t)snprintf(b, cap, OK_HEAD "\"intents\":[");
	for (size_t i = 0; i < n; i++) {
		size_t p = i + 1 < n ? pad : last_pad;

		o += (size_t)snprintf(b + o, cap - o, "%s{\"action\":\"a%02zu\","
		    "\"constraints\":{\"k\":\"", i ? "," : "", i);
		memset(b + o, 'v', p);
		o += p;
		o += (size_t)snprintf(b + o, cap - o, "\"}}");
	}
	snprintf(b + o, cap - o, "]}");
	return b;
}

/* Every accepted request fits the store: the intents as stored are
 * bounded by DAEMON_MAX_INTENTS_JSON, to the byte, and a request past
 * it is refused with a message that names the field (before, the store
 * refused it after the policies had permitted, as a bare 400). */
static void
test_intents_stored_bound(void **state)
{
	struct daemon_task_limits l = lim;
	struct daemon_task_request tr;
	struct arena a;
	char err[200], *b;
	const size_t n = 17, pad = 16000, last = 1000;
	size_t room;

	(void)state;
	l.max_intents = 64;
	arena_init(&a, 8u << 20);
	/* 17 intents of constraints under 16 KiB each: past the bound */
	b = big_intents_body(n, pad, pad);
	assert_int_equal(daemon_task_request_parse(&a, b, strlen(b), &l, &tr,
	    err, sizeof(err)), MANDATE_ELIMIT);
	assert_non_null(strstr(err, "intents is too large"));
	assert_non_null(strstr(err, "262144"));
	free(b);
	/* the last one grown to the bound and one byte past it */
	b = big_intents_body(n, pad, last);
	assert_int_equal(daemon_task_request_parse(&a, b, strlen(b), &l, &tr,
	    err, sizeof(err)), MANDATE_OK);
	assert_true(tr.intents_json.n < DAEMON_MAX_INTENTS_JSON);
	room = DAEMON_MAX_INTENTS_JSON - tr.intents_json.n;
	free(b);
	assert_true(last + room + 1 + 8 <= DAEMON_MAX_CONSTRAINTS);
	b = big_intents_body(n, pad, last + room);
	assert_int_equal(daemon_task_request_parse(&a, b, strlen(b), &l, &tr,
	    err, sizeof(err)), MANDATE_OK);
	assert_int_equal(tr.intents_json.n, DAEMON_MAX_INTENTS_JSON);
	free(b);
	b = big_intents_body(n, pad, last + room + 1);
	assert_int_equal(daemon_task_request_parse(&a, b, strlen(b), &l, &tr,
	    err, sizeof(err)), MANDATE_ELIMIT);
	assert_non_null(strstr(err, "intents"));
	free(b);
	arena_free(&a);
}

/* A task lives at least its ttl from the instant it was created, which
 * lies in [now, now + 1): its expiry is the first whole second after
 * the latest such instant plus ttl. */
static void
test_task_expires_at(void **state)
{
	static const uint64_t ttls[] = { 1, 2, 60, 900, 3600, 30 * 86400,
	    UINT32_MAX };
	const int64_t now = 1795873313;

	(void)state;
	assert_int_equal(daemon_task_expires_at(now, 1), now + 2);
	for (size_t i = 0; i < sizeof(ttls) / sizeof(ttls[0]); i++) {
		int64_t e = daemon_task_expires_at(now, ttls[i]);

		/* lives at least ttl even if created at now + 0.999... */
		assert_true(e >= now + 1 + (int64_t)ttls[i]);
		/* and at most ttl + 1, when created at now exactly */
		assert_true(e - now <= (int64_t)ttls[i] + 1);
	}
}

static void
test_cedar_uid(void **state)
{
	struct arena a;

	(void)state;
	arena_init(&a, 0);
	assert_string_equal(daemon_cedar_uid(&a, "Agent",
	    str_c("spiffe://x/y")), "Agent::\"spiffe://x/y\"");
	assert_string_equal(daemon_cedar_uid(&a, "Agent", str_c("a\"b\\c")),
	    "Agent::\"a\\\"b\\\\c\"");
	assert_string_equal(daemon_cedar_uid(&a, "D", str_make("\x01", 1)),
	    "D::\"\\u{01}\"");
	arena_free(&a);
}

static void
test_sensitivity_names(void **state)
{
	(void)state;
	assert_string_equal(daemon_sensitivity_name(0), "public");
	assert_string_equal(daemon_sensitivity_name(3), "restricted");
	assert_null(daemon_sensitivity_name(4));
	assert_null(daemon_sensitivity_name(-1));
}

static void
test_path_split_encoded_slash(void **state)
{
	struct arena a;
	struct str segs[HTTP_MAX_SEGMENTS];
	size_t n = 0;
	const char *p = "/v1/agents/spiffe%3A%2F%2Fx%2Fy/revoke";

	(void)state;
	arena_init(&a, 0);
	assert_int_equal(http_path_split(&a, p, strlen(p), segs,
	    HTTP_MAX_SEGMENTS, &n), MANDATE_EPARSE);
	assert_int_equal(http_path_split_opt(&a, p, strlen(p), segs,
	    HTTP_MAX_SEGMENTS, &n, 1), MANDATE_OK);
	assert_int_equal(n, 4);
	assert_true(str_eq_c(segs[2], "spiffe://x/y"));
	arena_free(&a);
}

/* The kill switch names every agent a task can be created for: the
 * longest ids, every byte of them percent-encoded, fit the path limit
 * and come back whole as the {id} segment. */
static void
test_kill_switch_path_fits_every_agent(void **state)
{
	static const char pre[] = "/v1/agents/", post[] = "/revoke";
	static const char hex[] = "0123456789ABCDEF";
	char id[STORE_MAX_NAME + 1], *path;
	size_t cap = sizeof(pre) + 3 * STORE_MAX_NAME + sizeof(post);

	(void)state;
	assert_non_null(path = malloc(cap));
	for (int kind = 0; kind < 3; kind++) {
		struct arena a;
		struct str segs[HTTP_MAX_SEGMENTS], td;
		enum daemon_agent_kind k;
		size_t n = 0, o, len = 0;
		char err[200];

		/* a SPIFFE ID of one-letter segments (every other byte a
		 * '/'), an OIDC subject of 2-byte characters, one of '.'s */
		if (kind == 0) {
			len = (size_t)snprintf(id, sizeof(id), "spiffe://x");
			while (len + 2 <= STORE_MAX_NAME) {
				id[len++] = '/';
				id[len++] = 'a';
			}
		} else if (kind == 1) {
			for (; len + 2 <= STORE_MAX_NAME; len += 2)
				memcpy(id + len, "\xc3\xa9", 2);
		} else {
			memset(id, '.', STORE_MAX_NAME);
			len = STORE_MAX_NAME;
		}
		id[len] = '\0';
		assert_int_equal(daemon_agent_id_check(str_make(id, len), &k,
		    &td, err, sizeof(err)), MANDATE_OK);
		o = (size_t)snprintf(path, cap, "%s", pre);
		for (size_t i = 0; i < len; i++) {
			unsigned char c = (unsigned char)id[i];
			path[o++] = '%';
			path[o++] = hex[c >> 4];
			path[o++] = hex[c & 15];
		}
		o += (size_t)snprintf(path + o, cap - o, "%s", post);
		assert_true(o <= HTTP_MAX_PATH);
		arena_init(&a, 0);
		assert_int_equal(http_path_split_opt(&a, path, o, segs,
		    HTTP_MAX_SEGMENTS, &n, 1), MANDATE_OK);
		assert_int_equal(n, 4);
		assert_true(str_eq(segs[2], str_make(id, len)));
		arena_free(&a);
	}
	free(path);
}

/* C1 controls are refused in a new task's agent, but the kill switch
 * still takes such an id: earlier versions made tasks for it. */
static void
test_agent_c1_only_at_creation(void **state)
{
	static const char id[] = "user\xc2\x85x";
	const char *b = "{\"agent\":\"user\\u0085x\",\"objective\":\"o\","
	    "\"intents\":[{\"action\":\"a\"}]}";
	struct daemon_task_request tr;
	enum daemon_agent_kind k;
	struct str td;
	struct arena a;
	char err[200];

	(void)state;
	assert_int_equal(daemon_agent_id_check(str_make(id, sizeof(id) - 1),
	    &k, &td, err, sizeof(err)), MANDATE_OK);
	assert_int_equal(k, DAEMON_AGENT_SUBJECT);
	arena_init(&a, 1u << 20);
	assert_int_equal(daemon_task_request_parse(&a, b, strlen(b), &lim, &tr,
	    err, sizeof(err)), MANDATE_EINVAL);
	assert_non_null(strstr(err, "agent contains control characters"));
	arena_free(&a);
}

/* ---- policies and the daemon, in a temporary directory ---- */

static char tmpdir[64];

static void
write_file(const char *name, const char *text)
{
	char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fputs(text, fp);
	fclose(fp);
}

static int
setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/daemon_test.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static int
load_yaml(const char *yaml, struct config **cfg)
{
	struct diag_list dl;

	diag_init(&dl);
	return config_parse("t.yaml", yaml, strlen(yaml), cfg, &dl);
}

static void
test_policies_load(void **state)
{
	struct config *cfg = NULL;
	struct daemon_policies *p = NULL;
	char yaml[512], path[256];
	FILE *err = tmpfile();

	(void)state;
	assert_non_null(err);
	snprintf(path, sizeof(path), "%s/pol", tmpdir);
	assert_int_equal(mkdir(path, 0700), 0);
	write_file("pol/b.cedar", "@id(\"b\") permit (principal, action, "
	    "resource);\n");
	write_file("pol/a.cedar", "permit (principal, action, resource);\n");
	write_file("pol/ignored.txt", "not cedar");
	write_file("extra.cedar", "@id(\"x\") forbid (principal, action, "
	    "resource) when { context.intents.contains(\"rm\") };\n");
	snprintf(yaml, sizeof(yaml), "policies:\n  platform: [%s/pol]\n"
	    "  tool_servers:\n    mail: %s/extra.cedar\n", tmpdir, tmpdir);
	assert_int_equal(load_yaml(yaml, &cfg), MANDATE_OK);
	assert_int_equal(daemon_policies_load(cfg, err, &p), MANDATE_OK);
	assert_int_equal(cedar_policy_set_count(p->set), 3);
	assert_int_equal(p->n_files, 3);
	daemon_policies_put(p);
	config_free(cfg);

	/* a syntax error names the file, line and column */
	write_file("pol/c.cedar", "permit (principal,\n  nope);\n");
	snprintf(yaml, sizeof(yaml), "policies:\n  platform: [%s/pol]\n",
	    tmpdir);
	assert_int_equal(load_yaml(yaml, &cfg), MANDATE_OK);
	assert_int_not_equal(daemon_policies_load(cfg, err, &p), MANDATE_OK);
	assert_null(p);
	config_free(cfg);
	{
		char buf[4096];
		size_t n;
		rewind(err);
		n = fread(buf, 1, sizeof(buf) - 1, err);
		buf[n] = '\0';
		assert_non_null(strstr(buf, "c.cedar:2:"));
	}

	/* a missing path */
	assert_int_equal(load_yaml("policies:\n  platform: [/nonexistent/x]\n",
	    &cfg), MANDATE_OK);
	assert_int_equal(daemon_policies_load(cfg, err, &p), MANDATE_EIO);
	config_free(cfg);

	/* a schema (strict validation) and two entity files, merged */
	write_file("s.cedarschema", "entity User;\naction \"a\" appliesTo "
	    "{ principal: User, resource: User };\n");
	write_file("ok.cedar", "permit (principal == User::\"x\", "
	    "action == Action::\"a\", resource);\n");
	write_file("bad.cedar", "permit (principal == Usr::\"x\", "
	    "action == Action::\"a\", resource);\n");
	write_file("e1.json", "[{\"uid\":{\"type\":\"User\",\"id\":\"x\"},"
	    "\"attrs\":{},\"parents\":[]}]");
	/* (whitespace around and inside the brackets, an empty file) */
	write_file("e2.json", "\n [ {\"uid\":{\"type\":\"User\",\"id\":\"y\"},"
	    "\"attrs\":{},\"parents\":[]},\n{\"uid\":{\"type\":\"User\","
	    "\"id\":\"z\"},\"attrs\":{},\"parents\":[]}\r\n]\t\n");
	write_file("e0.json", " [\n ] ");
	snprintf(yaml, sizeof(yaml), "policies:\n  platform: [%s/ok.cedar]\n"
	    "  schema: %s/s.cedarschema\n  entities: [%s/e0.json, %s/e1.json, "
	    "%s/e0.json, %s/e2.json]\n", tmpdir, tmpdir, tmpdir, tmpdir, tmpdir,
	    tmpdir);
	assert_int_equal(load_yaml(yaml, &cfg), MANDATE_OK);
	assert_int_equal(daemon_policies_load(cfg, err, &p), MANDATE_OK);
	assert_non_null(p->schema);
	assert_non_null(p->entities);
	assert_true(cedar_entities_has(p->entities, "User", 4, "x", 1));
	assert_true(cedar_entities_has(p->entities, "User", 4, "y", 1));
	assert_true(cedar_entities_has(p->entities, "User", 4, "z", 1));
	assert_false(cedar_entities_has(p->entities, "User", 4, "w", 1));
	daemon_policies_put(p);
	config_free(cfg);
	/* only empty files: no entities, no error */
	snprintf(yaml, sizeof(yaml), "policies:\n  platform: [%s/ok.cedar]\n"
	    "  entities: [%s/e0.json, %s/e0.json]\n", tmpdir, tmpdir, tmpdir);
	assert_int_equal(load_yaml(yaml, &cfg), MANDATE_OK);
	assert_int_equal(daemon_policies_load(cfg, err, &p), MANDATE_OK);
	assert_false(cedar_entities_has(p->entities, "User", 4, "x", 1));
	daemon_policies_put(p);
	config_free(cfg);
	/* the same uid, defined differently in two files */
	write_file("e3.json", "[{\"uid\":{\"type\":\"User\",\"id\":\"x\"},"
	    "\"attrs\":{\"n\":1},\"parents\":[]}]");
	snprintf(yaml, sizeof(yaml), "policies:\n  platform: [%s/ok.cedar]\n"
	    "  entities: [%s/e1.json, %s/e3.json]\n", tmpdir, tmpdir, tmpdir);
	assert_int_equal(load_yaml(yaml, &cfg), MANDATE_OK);
	assert_int_not_equal(daemon_policies_load(cfg, err, &p), MANDATE_OK);
	config_free(cfg);
	/* a policy the schema rejects */
	snprintf(yaml, sizeof(yaml), "policies:\n  platform: [%s/bad.cedar]\n"
	    "  schema: %s/s.cedarschema\n", tmpdir, tmpdir);
	assert_int_equal(load_yaml(yaml, &cfg), MANDATE_OK);
	assert_int_equal(daemon_policies_load(cfg, err, &p), MANDATE_EVALIDATE);
	config_free(cfg);

	/* the development instance's default policies */
	assert_int_equal(config_default(&cfg), MANDATE_OK);
	assert_int_equal(daemon_policies_load(cfg, err, &p), MANDATE_OK);
	assert_int_equal(cedar_policy_set_count(p->set), 9);
	/* the version hash: 64 hex digits, equal for equal inputs */
	assert_int_equal(strlen(p->hash), 64);
	{
		struct daemon_policies *p2 = NULL;
		assert_int_equal(daemon_policies_load(cfg, err, &p2),
		    MANDATE_OK);
		assert_string_equal(p->hash, p2->hash);
		daemon_policies_put(p2);
	}
	daemon_policies_put(p);
	config_free(cfg);
	/* different files, different hash */
	snprintf(yaml, sizeof(yaml), "policies:\n  platform: [%s/ok.cedar]\n",
	    tmpdir);
	assert_int_equal(load_yaml(yaml, &cfg), MANDATE_OK);
	assert_int_equal(daemon_policies_load(cfg, err, &p), MANDATE_OK);
	{
		struct config *c2 = NULL;
		struct daemon_policies *p2 = NULL;
		assert_int_equal(config_default(&c2), MANDATE_OK);
		assert_int_equal(daemon_policies_load(c2, err, &p2),
		    MANDATE_OK);
		assert_string_not_equal(p->hash, p2->hash);
		daemon_policies_put(p2);
		config_free(c2);
	}
	daemon_policies_put(p);
	config_free(cfg);
	fclose(err);
}

struct reader_arg {
	struct daemon *d;
	int iterations;
};

static void *
reader(void *arg)
{
	struct reader_arg *ra = arg;
	for (int i = 0; i < ra->iterations; i++) {
		struct daemon_policies *p = daemon_policies_get(ra->d);
		if (p == NULL || cedar_policy_set_count(p->set) == 0)
			return (void *)1;
		daemon_policies_put(p);
	}
	return NULL;
}

struct swap_arg {
	struct daemon *d;
	struct daemon_policies *p;
	int r;
};

static void *
swap_main(void *arg)
{
	struct swap_arg *sa = arg;

	sa->r = daemon_policies_swap(sa->d, sa->p);
	return NULL;
}

static void
test_daemon_life_cycle_and_swap(void **state)
{
	struct daemon_options opt;
	struct daemon *d = NULL;
	char yaml[512], cfgpath[256];
	FILE *log = tmpfile();
	pthread_t th[4];
	struct reader_arg ra;

	(void)state;
	assert_non_null(log);
	write_file("p.cedar", "permit (principal, action, resource);\n");
	snprintf(yaml, sizeof(yaml), "data_dir: %s/data\npolicies:\n"
	    "  platform: [%s/p.cedar]\nlogging:\n  format: json\n", tmpdir,
	    tmpdir);
	write_file("daemon.yaml", yaml);
	snprintf(cfgpath, sizeof(cfgpath), "%s/daemon.yaml", tmpdir);

	memset(&opt, 0, sizeof(opt));
	opt.config_file = cfgpath;
	opt.listen = "127.0.0.1:0";
	opt.log = log;
	assert_int_equal(daemon_new(&opt, &d), MANDATE_OK);
	assert_int_equal(daemon_start(d), MANDATE_OK);
	assert_int_not_equal(daemon_port(d), 0);

	ra.d = d;
	ra.iterations = 20000;
	for (int i = 0; i < 4; i++)
		assert_int_equal(pthread_create(&th[i], NULL, reader, &ra), 0);
	for (int i = 0; i < 200; i++) {
		struct daemon_policies *p = NULL;
		assert_int_equal(daemon_policies_load(d->cfg, log, &p),
		    MANDATE_OK);
		daemon_policies_swap(d, p);
	}
	for (int i = 0; i < 4; i++) {
		void *res;
		pthread_join(th[i], &res);
		assert_null(res);
	}
	{
		/* every swap after the first load is audited */
		struct store_audit_filter f;
		struct store_audit_event *ev = NULL;
		struct arena a;
		size_t n = 0;

		memset(&f, 0, sizeof(f));
		f.type = STR_LIT("policy.reloaded");
		f.limit = 1000;
		arena_init(&a, 0);
		assert_int_equal(store_audit_query(d->store, &f, &a, &ev, &n),
		    MANDATE_OK);
		assert_int_equal(n, 200);
		assert_non_null(strstr(ev[0].fields_json.p, "policy_hash"));
		arena_free(&a);
	}
	{
		/* a replacement whose audit record cannot be written does
		 * not happen: another connection holds the write lock past
		 * the busy timeout (5 s) */
		struct daemon_policies *p = NULL, *before, *after;
		char db[300];
		sqlite3 *raw;

		snprintf(db, sizeof(db), "%s/data/mandate.db", tmpdir);
		assert_int_equal(sqlite3_open(db, &raw), SQLITE_OK);
		assert_int_equal(sqlite3_exec(raw, "BEGIN EXCLUSIVE", NULL, NULL,
		    NULL), SQLITE_OK);
		before = daemon_policies_get(d);
		assert_int_equal(daemon_policies_load(d->cfg, log, &p),
		    MANDATE_OK);
		{
			/* while the swap waits for its record, readers are
			 * not held: they take the set in force at once (the
			 * record used to be written under the readers' lock,
			 * which held every evaluation for the busy timeout) */
			struct swap_arg sa = { d, p, -1 };
			pthread_t t;
			struct timespec t0, t1;
			struct daemon_policies *mid;

			assert_int_equal(pthread_create(&t, NULL, swap_main,
			    &sa), 0);
			usleep(300000);        /* the swap is waiting now */
			clock_gettime(CLOCK_MONOTONIC, &t0);
			mid = daemon_policies_get(d);
			clock_gettime(CLOCK_MONOTONIC, &t1);
			assert_ptr_equal(mid, before);
			daemon_policies_put(mid);
			assert_true((t1.tv_sec - t0.tv_sec) * 1000 +
			    (t1.tv_nsec - t0.tv_nsec) / 1000000 < 1000);
			pthread_join(t, NULL);
			assert_int_equal(sa.r, MANDATE_EIO);
		}
		after = daemon_policies_get(d);
		assert_ptr_equal(before, after);      /* the set in force stays */
		daemon_policies_put(after);
		assert_int_equal(sqlite3_exec(raw, "COMMIT", NULL, NULL, NULL),
		    SQLITE_OK);
		sqlite3_close(raw);
		/* the log writable again: the next one goes through */
		p = NULL;
		assert_int_equal(daemon_policies_load(d->cfg, log, &p),
		    MANDATE_OK);
		for (int i = 0; i < 100 && daemon_policies_swap(d, p) !=
		    MANDATE_OK; i++) {
			usleep(100000);   /* until the log says it is ready */
			p = NULL;
			assert_int_equal(daemon_policies_load(d->cfg, log, &p),
			    MANDATE_OK);
		}
		after = daemon_policies_get(d);
		assert_ptr_not_equal(before, after);  /* (before still held) */
		daemon_policies_put(after);
		daemon_policies_put(before);
	}
	daemon_stop(d);
	daemon_stop(d);               /* idempotent */
	daemon_free(d);

	/* bad options refuse to start */
	opt.listen = "no-port";
	assert_int_not_equal(daemon_new(&opt, &d), MANDATE_OK);
	assert_null(d);
	opt.listen = NULL;
	write_file("bad.yaml", "server:\n  nope: 1\n");
	snprintf(cfgpath, sizeof(cfgpath), "%s/bad.yaml", tmpdir);
	assert_int_not_equal(daemon_new(&opt, &d), MANDATE_OK);
	assert_null(d);
	fclose(log);
}

/* A context's tree as jansson gives what json_loadb gives for its text,
 * member order included, or declines so that json_loadb rules. */
static void
test_context_jansson(void **state)
{
	static const struct {
		const char *text;
		bool made;            /* false: json_loadb must decide */
	} cases[] = {
		{ "{}", true },
		{ "[]", true },
		{ "{\"a\":1,\"b\":[true,false,null,\"x\"],\"c\":{}}", true },
		{ "{\"z\":1,\"a\":2,\"m\":3}", true },  /* order kept */
		{ "{\"s\":\"caf\\u00e9 \\ud83d\\ude00 \\\"q\\\" \\n\"}", true },
		{ "{\"min\":-9223372036854775808,\"max\":9223372036854775807}",
		    true },
		{ "{\"neg0\":-0}", true },
		{ "{\"deep\":[[[[[[[[[[{\"k\":[]}]]]]]]]]]]}", true },
		/* json_loadb decides: a real, a big integer, a NUL, a
		 * duplicate, a top level that is no container */
		{ "{\"r\":1.5}", false },
		{ "{\"e\":1e2}", false },
		{ "{\"big\":9223372036854775808}", false },
		{ "{\"nul\":\"a\\u0000b\"}", false },
		{ "{\"a\\u0000\":1}", false },
		{ "{\"d\":1,\"d\":2}", false },
		{ "\"text\"", false },
		{ "7", false },
	};
	struct ajson_opts opts = { 0, 64, 0, "test" };

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *t = cases[i].text;
		const struct ajson *root;
		struct arena a;
		json_t *got, *want;
		char *gs, *ws;

		arena_init(&a, 1u << 20);
		assert_int_equal(ajson_parse(&a, t, strlen(t), &opts, &root,
		    NULL), MANDATE_OK);
		if (!cases[i].made) {
			assert_false(daemon_context_jansson(root, &got));
			assert_null(got);
			arena_free(&a);
			continue;
		}
		assert_true(daemon_context_jansson(root, &got));
		want = json_loadb(t, strlen(t), 0, NULL);
		assert_non_null(want);
		gs = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
		ws = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
		assert_string_equal(gs, ws);
		free(gs);
		free(ws);
		json_decref(got);
		json_decref(want);
		arena_free(&a);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_parse_table),
		cmocka_unit_test(test_parse_defaults_and_caps),
		cmocka_unit_test(test_intents_json),
		cmocka_unit_test(test_intents_stored_bound),
		cmocka_unit_test(test_task_expires_at),
		cmocka_unit_test(test_cedar_uid),
		cmocka_unit_test(test_context_jansson),
		cmocka_unit_test(test_sensitivity_names),
		cmocka_unit_test(test_path_split_encoded_slash),
		cmocka_unit_test(test_kill_switch_path_fits_every_agent),
		cmocka_unit_test(test_agent_c1_only_at_creation),
		cmocka_unit_test(test_policies_load),
		cmocka_unit_test(test_daemon_life_cycle_and_swap),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}

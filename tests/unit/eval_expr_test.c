/* eval_expr_test.c - the evaluator on Cedar expression text: every
 * operator and function, their errors, and the step limit.  Needs the
 * parser. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/cedar_int.h"
#include "cedar/eval_int.h"

#include "eval_world.h"
#include "util/utf8.h"

/* ------------------------------------------------------------------ */
/* Expressions: text, and the expected value as JSON or "!" and a piece of
 * the error message.  Principal User::"u0" (in Group::"g0" and
 * Group::"g2"), action Action::"a0" (in Action::"ag0"), resource
 * Doc::"r0"; the attributes and context are in eval_setup. */

static const struct {
	const char *expr, *want;
} expr_cases[] = {
	/* literals and variables */
	{ "true", "true" },
	{ "-9223372036854775808", "-9223372036854775808" },
	{ "\"a\\u{e9}\\n\"", "\"a\xc3\xa9\\n\"" },
	{ "principal", "{\"__entity\":{\"type\":\"User\",\"id\":\"u0\"}}" },
	{ "action", "{\"__entity\":{\"type\":\"Action\",\"id\":\"a0\"}}" },
	{ "resource", "{\"__entity\":{\"type\":\"Doc\",\"id\":\"r0\"}}" },
	{ "context.n", "5" },
	{ "[3, 1, 2, 1, \"a\", true]", "[true,1,2,3,\"a\"]" },
	{ "{b: 1, a: [2, 2]}", "{\"a\":[2],\"b\":1}" },
	/* boolean operators, short circuit */
	{ "!true", "false" },
	{ "!1", "!type error" },
	{ "true && false", "false" },
	{ "false && (1 + \"a\")", "false" },
	{ "false && 1", "false" },
	{ "true && 1", "!type error" },
	{ "1 && true", "!type error" },
	{ "true || (1 + \"a\")", "true" },
	{ "true || 1", "true" },
	{ "false || 1", "!type error" },
	{ "false || false", "false" },
	{ "if true then 1 else 1 + \"a\"", "1" },
	{ "if false then 1 + \"a\" else 2", "2" },
	{ "if 1 then 2 else 3", "!type error" },
	/* arithmetic */
	{ "1 + 2 * 3 - 4", "3" },
	{ "-(5)", "-5" },
	{ "9223372036854775807 + 1", "!overflow" },
	{ "-9223372036854775808 - 1", "!overflow" },
	{ "4611686018427387904 * 2", "!overflow" },
	{ "-(-9223372036854775808)", "!overflow" },
	{ "-9223372036854775807 - 1", "-9223372036854775808" },
	{ "1 + true", "!type error" },
	{ "\"a\" + \"b\"", "!type error" },
	{ "-\"a\"", "!type error" },
	/* comparison */
	{ "1 < 2", "true" },
	{ "2 <= 2", "true" },
	{ "2 > 3", "false" },
	{ "3 >= 3", "true" },
	{ "\"a\" < \"b\"", "!type error" },
	{ "1 < true", "!type error" },
	{ "decimal(\"1.0\") < decimal(\"2.0\")", "!type error" },
	{ "datetime(\"2024-01-01\") < datetime(\"2024-01-02\")", "true" },
	{ "datetime(\"2024-01-02\") <= datetime(\"2024-01-01\")", "false" },
	{ "duration(\"1h\") > duration(\"59m\")", "true" },
	{ "duration(\"1h\") >= duration(\"60m\")", "true" },
	{ "duration(\"1h\") < datetime(\"2024-01-01\")", "!type error" },
	{ "duration(\"1h\") < 5", "!type error" },
	/* equality never errors */
	{ "1 == 1", "true" },
	{ "1 == \"1\"", "false" },
	{ "1 != \"1\"", "true" },
	{ "[1, 2] == [2, 1, 1]", "true" },
	{ "{a: 1, b: 2} == {b: 2, a: 1}", "true" },
	{ "{a: 1} == {a: 1, b: 2}", "false" },
	{ "principal == User::\"u0\"", "true" },
	{ "principal == Group::\"u0\"", "false" },
	{ "ip(\"10.0.0.1\") == ip(\"10.0.0.1/32\")", "true" },
	{ "ip(\"10.0.0.1/24\") == ip(\"10.0.0.0/24\")", "false" },
	{ "decimal(\"1.0\") == decimal(\"1.0000\")", "true" },
	{ "datetime(\"2024-01-01T01:00:00+0100\") == datetime(\"2024-01-01\")",
	  "true" },
	{ "duration(\"1h\") == duration(\"60m\")", "true" },
	/* in */
	{ "principal in Group::\"g0\"", "true" },
	{ "principal in Group::\"g2\"", "true" },
	{ "principal in Group::\"g1\"", "false" },
	{ "principal in principal", "true" },
	{ "principal in [Group::\"g1\", Group::\"g2\"]", "true" },
	{ "principal in []", "false" },
	{ "principal in [Group::\"g2\", 1]", "!type error" },
	{ "principal in 1", "!type error" },
	{ "1 in Group::\"g0\"", "!type error" },
	{ "User::\"nobody\" in User::\"nobody\"", "true" },
	{ "User::\"nobody\" in Group::\"g0\"", "false" },
	{ "action in Action::\"ag0\"", "true" },
	/* has, attributes */
	{ "principal has age", "true" },
	{ "principal has nope", "false" },
	{ "principal.age", "30" },
	{ "principal[\"name\"]", "\"alice\"" },
	{ "principal.nope", "!does not exist" },
	{ "principal.nick.first", "\"al\"" },
	{ "principal has nick.first", "true" },
	{ "principal has nick.last", "false" },
	{ "principal.manager.age", "!does not exist" },
	{ "User::\"nobody\" has age", "false" },
	{ "User::\"nobody\".age", "!does not exist" },
	{ "context has n", "true" },
	{ "{a: 1}.a", "1" },
	{ "{a: 1}.b", "!does not exist" },
	{ "1 has a", "!type error" },
	{ "\"s\".a", "!type error" },
	/* like */
	{ "\"hello\" like \"h*o\"", "true" },
	{ "\"hello\" like \"h*l\"", "false" },
	{ "\"hello\" like \"*\"", "true" },
	{ "\"\" like \"*\"", "true" },
	{ "\"\" like \"\"", "true" },
	{ "\"a*b\" like \"a\\*b\"", "true" },
	{ "\"axb\" like \"a\\*b\"", "false" },
	/* only \* is a literal star; \u{2a} and \x2a are wildcards, as in
	 * the reference implementation */
	{ "\"ab\" like \"a\\u{2a}\"", "true" },
	{ "\"xy\" like \"\\x2ay\"", "true" },
	{ "\"zz\" like \"\\u{2A}\"", "true" },
	{ "\"a\\\\b\" like \"a\\u{5c}*\"", "true" },
	{ "\"\\u{e9}t\\u{e9}\" like \"?t?\"", "false" },
	{ "\"\\u{e9}t\\u{e9}\" like \"*t*\"", "true" },
	{ "\"\\u{1F600}x\" like \"\\u{1F600}*\"", "true" },
	{ "\"aaaaaaaaaaaaaaaaaaaaaaaaab\" like \"*a*a*a*a*a*a*c\"", "false" },
	{ "1 like \"*\"", "!type error" },
	/* is */
	{ "principal is User", "true" },
	{ "principal is Group", "false" },
	{ "principal is User in Group::\"g2\"", "true" },
	{ "1 is User", "!type error" },
	/* sets */
	{ "[1, 2, 3].contains(2)", "true" },
	{ "[1, 2, 3].contains(\"2\")", "false" },
	{ "[[1], [2]].contains([2])", "true" },
	{ "[1, 2, 3].containsAll([3, 1])", "true" },
	{ "[1, 2, 3].containsAll([3, 4])", "false" },
	{ "[1, 2, 3].containsAll([])", "true" },
	{ "[1, 2, 3].containsAny([5, 3])", "true" },
	{ "[1, 2, 3].containsAny([])", "false" },
	{ "[].isEmpty()", "true" },
	{ "[1].isEmpty()", "false" },
	{ "1.contains(1)", "!type error" },
	{ "[1].containsAll(1)", "!type error" },
	{ "\"ab\".isEmpty()", "!type error" },
	/* tags */
	{ "principal.hasTag(\"level\")", "true" },
	{ "principal.hasTag(\"nope\")", "false" },
	{ "principal.getTag(\"level\")", "3" },
	{ "principal.getTag(\"nope\")", "!does not exist" },
	{ "User::\"nobody\".hasTag(\"level\")", "false" },
	{ "User::\"nobody\".getTag(\"level\")", "!does not exist" },
	{ "principal.hasTag(1)", "!type error" },
	{ "context.hasTag(\"a\")", "!type error" },
	/* ipaddr */
	{ "ip(\"10.0.0.1\").isIpv4()", "true" },
	{ "ip(\"::1\").isIpv6()", "true" },
	{ "ip(\"::1\").isLoopback()", "true" },
	{ "ip(\"127.0.0.1/24\").isLoopback()", "true" },
	{ "ip(\"224.1.2.3\").isMulticast()", "true" },
	{ "ip(\"10.1.2.3\").isInRange(ip(\"10.0.0.0/8\"))", "true" },
	{ "ip(\"10.1.2.3\").isInRange(ip(\"::/0\"))", "false" },
	{ "ip(\"10.1.2.3\")", "{\"__extn\":{\"fn\":\"ip\",\"arg\":\"10.1.2.3\"}}" },
	{ "ip(\"1.2.3\")", "!invalid" },
	{ "ip(1)", "!type error" },
	{ "\"10.0.0.1\".isIpv4()", "!type error" },
	{ "ip(\"10.1.2.3\").isInRange(\"10.0.0.0/8\")", "!type error" },
	/* decimal */
	{ "decimal(\"1.23\").lessThan(decimal(\"1.24\"))", "true" },
	{ "decimal(\"-1.23\").lessThanOrEqual(decimal(\"-1.23\"))", "true" },
	{ "decimal(\"1.23\").greaterThan(decimal(\"1.24\"))", "false" },
	{ "decimal(\"1.2400\").greaterThanOrEqual(decimal(\"1.24\"))", "true" },
	{ "decimal(\"1.23\")", "{\"__extn\":{\"fn\":\"decimal\",\"arg\":\"1.2300\"}}" },
	{ "decimal(\"1.23456\")", "!decimal" },
	{ "decimal(\"1.2\").lessThan(1)", "!type error" },
	/* datetime and duration */
	{ "datetime(\"2024-10-15T11:38:02Z\")",
	  "{\"__extn\":{\"fn\":\"datetime\",\"arg\":\"2024-10-15T11:38:02.000Z\"}}" },
	{ "datetime(\"2024-10-15\").offset(duration(\"1d\")) == "
	  "datetime(\"2024-10-16\")", "true" },
	{ "datetime(\"2024-10-16\").durationSince(datetime(\"2024-10-15\"))",
	  "{\"__extn\":{\"fn\":\"duration\",\"arg\":\"86400000ms\"}}" },
	{ "datetime(\"2024-10-15T11:38:02Z\").toDate() == datetime(\"2024-10-15\")",
	  "true" },
	{ "datetime(\"1969-12-31T23:00:00Z\").toDate() == datetime(\"1969-12-31\")",
	  "true" },
	{ "datetime(\"2024-10-15T11:38:02Z\").toTime() == duration(\"11h38m2s\")",
	  "true" },
	{ "datetime(\"1969-12-31T23:00:00Z\").toTime() == duration(\"23h\")",
	  "true" },
	{ "duration(\"1d2h3m4s5ms\").toMilliseconds()", "93784005" },
	{ "duration(\"1d2h3m4s5ms\").toSeconds()", "93784" },
	{ "duration(\"1d2h3m4s5ms\").toMinutes()", "1563" },
	{ "duration(\"1d2h3m4s5ms\").toHours()", "26" },
	{ "duration(\"1d2h3m4s5ms\").toDays()", "1" },
	{ "duration(\"-1d2h\").toDays()", "-1" },
	{ "duration(\"-1500ms\").toSeconds()", "-1" },
	{ "duration(\"-59s\").toMinutes()", "0" },
	{ "datetime(\"2024-13-01\")", "!datetime" },
	{ "duration(\"1h1d\")", "!duration" },
	{ "datetime(\"9999-12-31\").offset(duration(\"9223372036854775807ms\"))",
	  "!overflow" },
	{ "datetime(\"0000-01-01\").durationSince(datetime(\"9999-01-01\"))",
	  "{\"__extn\":{\"fn\":\"duration\",\"arg\":\"-315537984000000ms\"}}" },
	{ "datetime(\"1970-01-01\").offset(duration(\"-9223372036854775808ms\")).toDate()",
	  "!overflow" },
	{ "datetime(\"1970-01-01\").offset(duration(\"9223372036854775807ms\"))",
	  "{\"__extn\":{\"fn\":\"offset\",\"args\":[{\"__extn\":{\"fn\":\"datetime\","
	  "\"arg\":\"1970-01-01\"}},{\"__extn\":{\"fn\":\"duration\",\"arg\":"
	  "\"9223372036854775807ms\"}}]}}" },
	/* a UTC offset may carry a datetime just past year 9999 or before
	 * year 0000, as in the reference; it has no text form, so it is
	 * written as an offset from the epoch */
	{ "datetime(\"9999-12-31T23:59:59.101-2359\")",
	  "{\"__extn\":{\"fn\":\"offset\",\"args\":[{\"__extn\":{\"fn\":\"datetime\","
	  "\"arg\":\"1970-01-01\"}},{\"__extn\":{\"fn\":\"duration\",\"arg\":"
	  "\"253402387139101ms\"}}]}}" },
	{ "datetime(\"0000-01-01T00:00:00+0001\")",
	  "{\"__extn\":{\"fn\":\"offset\",\"args\":[{\"__extn\":{\"fn\":\"datetime\","
	  "\"arg\":\"1970-01-01\"}},{\"__extn\":{\"fn\":\"duration\",\"arg\":"
	  "\"-62167219260000ms\"}}]}}" },
	{ "datetime(\"9999-12-31T23:59:59.101-2359\") > "
	  "datetime(\"9999-12-31T23:59:59.999Z\")", "true" },
	{ "duration(\"1h\").toDate()", "!type error" },
	{ "datetime(\"2024-01-01\").toHours()", "!type error" },
	{ "datetime(\"2024-01-01\").offset(datetime(\"2024-01-01\"))", "!type error" },
};

struct eval_env {
	struct world w;
	struct cedar_request req;
	struct arena a;
};

/* Evaluate text in env; returns the status, *out set on success. */
static int
eval_text(struct eval_env *env, const char *text, struct cedar_value *out,
    struct cedar_eval_ctx *ctx)
{
	struct cedar_expr *e;
	struct diag_list dl;

	diag_init(&dl);
	if (cedar_parse_expr(&env->a, text, strlen(text), &e, &dl) != MANDATE_OK)
		fail_msg("parse error in `%s`: %s", text,
		    dl.n > 0 ? dl.items[0].msg : "?");
	memset(ctx, 0, sizeof(*ctx));
	ctx->arena = &env->a;
	ctx->entities = env->w.es;
	ctx->req = &env->req;
	return cedar_eval(ctx, e, out);
}

static struct cedar_value
eval_ok(struct eval_env *env, const char *text)
{
	struct cedar_eval_ctx ctx;
	struct cedar_value v;

	if (eval_text(env, text, &v, &ctx) != MANDATE_OK)
		fail_msg("`%s`: %s", text, ctx.err.msg);
	return v;
}

static void
eval_setup(struct eval_env *env)
{
	world_init(&env->w);
	arena_init(&env->a, 0);
	memset(&env->req, 0, sizeof(env->req));
	env->req.principal = env->w.users[0];
	env->req.action = env->w.actions[0];
	env->req.resource = env->w.res[0];
	env->req.context = eval_ok(env, "{n: 5, s: \"hello\", flag: true}");
}

static void
test_eval_exprs(void **state)
{
	struct eval_env env;
	char buf[1024];
	int failures = 0;

	(void)state;
	eval_setup(&env);
	for (size_t i = 0; i < sizeof(expr_cases) / sizeof(expr_cases[0]); i++) {
		struct cedar_eval_ctx ctx;
		struct cedar_value v;
		const char *want = expr_cases[i].want;
		int r = eval_text(&env, expr_cases[i].expr, &v, &ctx);

		if (want[0] == '!') {
			if (r == MANDATE_OK) {
				cedar_value_to_json(&v, buf, sizeof(buf));
				print_error("`%s`: want error, got %s\n",
				    expr_cases[i].expr, buf);
				failures++;
			} else if (strstr(ctx.err.msg, want + 1) == NULL) {
				print_error("`%s`: want error \"%s\", got \"%s\"\n",
				    expr_cases[i].expr, want + 1, ctx.err.msg);
				failures++;
			}
			continue;
		}
		if (r != MANDATE_OK) {
			print_error("`%s`: want %s, got error %s\n",
			    expr_cases[i].expr, want, ctx.err.msg);
			failures++;
			continue;
		}
		cedar_value_to_json(&v, buf, sizeof(buf));
		if (strcmp(buf, want) != 0) {
			print_error("`%s`: want %s, got %s\n", expr_cases[i].expr,
			    want, buf);
			failures++;
		}
	}
	assert_int_equal(failures, 0);
	arena_free(&env.a);
	world_free(&env.w);
}

/* An error message that quotes a value past its buffer is cut at a
 * character's start: a message that is not UTF-8 is dropped wherever it
 * goes as JSON (the answer, the audit record, the log). */
static void
test_eval_error_cut_is_utf8(void **state)
{
	struct eval_env env;
	char text[512];

	(void)state;
	eval_setup(&env);
	for (size_t shift = 0; shift < 4; shift++) {
		struct cedar_eval_ctx ctx;
		struct cedar_value v;
		size_t o = 0;

		o += (size_t)snprintf(text + o, sizeof(text) - o, "User::\"");
		for (size_t i = 0; i < shift; i++)
			text[o++] = 'x';
		for (size_t i = 0; i < 100; i++)        /* U+2028, 3 bytes */
			o += (size_t)snprintf(text + o, sizeof(text) - o,
			    "\xe2\x80\xa8");
		snprintf(text + o, sizeof(text) - o, "\".age");
		assert_int_not_equal(eval_text(&env, text, &v, &ctx),
		    MANDATE_OK);
		assert_non_null(strstr(ctx.err.msg, "entity User::"));
		assert_int_equal(utf8_invalid_at(ctx.err.msg,
		    strlen(ctx.err.msg)), strlen(ctx.err.msg));
	}
	arena_free(&env.a);
	world_free(&env.w);
}

/* The step limit turns runaway work into an error, not a hang. */
static void
test_eval_step_limit(void **state)
{
	struct eval_env env;
	struct cedar_eval_ctx ctx;
	struct cedar_value v;
	struct cedar_expr *e;
	struct diag_list dl;
	const char *text = "[1,2,3,4,5,6,7,8,9,10].contains(11)";

	(void)state;
	eval_setup(&env);
	diag_init(&dl);
	assert_int_equal(cedar_parse_expr(&env.a, text, strlen(text), &e, &dl),
	    MANDATE_OK);
	memset(&ctx, 0, sizeof(ctx));
	ctx.arena = &env.a;
	ctx.req = &env.req;
	ctx.max_steps = 5;
	assert_int_equal(cedar_eval(&ctx, e, &v), MANDATE_ELIMIT);
	ctx.steps = 0;
	ctx.max_steps = 100;
	assert_int_equal(cedar_eval(&ctx, e, &v), MANDATE_OK);
	/* a failing arena is an out-of-memory, never a crash */
	env.a.fail_after = 1;
	ctx.steps = 0;
	assert_int_equal(cedar_eval(&ctx, e, &v), MANDATE_ENOMEM);
	arena_free(&env.a);
	world_free(&env.w);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eval_exprs),
		cmocka_unit_test(test_eval_step_limit),
		cmocka_unit_test(test_eval_error_cut_is_utf8),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

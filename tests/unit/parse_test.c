/*
 * parse_test.c - the Cedar lexer, parser, printer, template linking and
 * policy sets, driven by tables: (input, expected printed form) for valid
 * text and (input, byte offset, message substring) for invalid text.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/cedar_int.h"
#include "cedar/parse_int.h"

/* ------------------------------------------------------------------ */
/* expressions that parse: input -> printed form */

static const struct {
	const char *in, *out;
} expr_ok[] = {
	/* literals */
	{ "true", "true" },
	{ "false", "false" },
	{ "42", "42" },
	{ "0", "0" },
	{ "9223372036854775807", "9223372036854775807" },
	{ "-42", "-42" },
	{ "- 42", "-42" },
	{ "--42", "-(-42)" },
	{ "----42", "-(-(-(-42)))" },
	{ "-9223372036854775808", "-9223372036854775808" },
	{ "-(5)", "-(5)" },
	{ "\"\"", "\"\"" },
	{ "\"hello\"", "\"hello\"" },
	{ "\"\\n\\r\\t\\\\\\0\\'\\\"\"", "\"\\n\\r\\t\\\\\\0'\\\"\"" },
	{ "\"\\u{41}\\u{1F600}\\u{0_41}\"", "\"A\xF0\x9F\x98\x80" "A\"" },
	{ "\"\\x41\\x7f\"", "\"A\\u{7f}\"" },
	{ "\"caf\xC3\xA9\"", "\"caf\xC3\xA9\"" },
	{ "\"semi;colon\"", "\"semi;colon\"" },
	/* variables and entities */
	{ "principal", "principal" },
	{ "action", "action" },
	{ "resource", "resource" },
	{ "context", "context" },
	{ "User::\"alice\"", "User::\"alice\"" },
	{ "A::B::C::\"x\"", "A::B::C::\"x\"" },
	{ "A :: B :: \"x\"", "A::B::\"x\"" },
	{ "A:: // comment\n B::\"x\"", "A::B::\"x\"" },
	{ "User::\"a\\\"b\"", "User::\"a\\\"b\"" },
	{ "principal::\"p\"", "principal::\"p\"" },
	{ "permit::\"p\"", "permit::\"p\"" },
	/* arithmetic and precedence */
	{ "1 + 2 * 3", "(1 + (2 * 3))" },
	{ "1 * 2 + 3", "((1 * 2) + 3)" },
	{ "1 - 2 - 3", "((1 - 2) - 3)" },
	{ "1 * 2 * 3", "((1 * 2) * 3)" },
	{ "(1 + 2) * 3", "((1 + 2) * 3)" },
	{ "1 - -1", "(1 - -1)" },
	{ "1--1", "(1 - -1)" },
	{ "-1.foo", "-(1.foo)" },
	{ "(-1).foo", "(-1).foo" },
	{ "-principal.n", "-(principal.n)" },
	{ "!principal.b", "!(principal.b)" },
	{ "!true", "!(true)" },
	{ "!!!!true", "!(!(!(!(true))))" },
	/* relations */
	{ "1 == 2", "(1 == 2)" },
	{ "1 != 2", "(1 != 2)" },
	{ "1 < 2", "(1 < 2)" },
	{ "1 <= 2", "(1 <= 2)" },
	{ "1 > 2", "(1 > 2)" },
	{ "1 >= 2", "(1 >= 2)" },
	{ "1 + 1 == 2", "((1 + 1) == 2)" },
	{ "principal in Group::\"g\"", "(principal in Group::\"g\")" },
	{ "principal in [Group::\"g\"]", "(principal in [Group::\"g\"])" },
	{ "(1 == 2) == true", "((1 == 2) == true)" },
	{ "principal has name", "(principal has \"name\")" },
	{ "principal has \"first name\"", "(principal has \"first name\")" },
	{ "principal has principal", "(principal has \"principal\")" },
	{ "principal has permit", "(principal has \"permit\")" },
	{ "context has a.b", "((context has \"a\") && (context.a has \"b\"))" },
	{ "context has a.b.c", "(((context has \"a\") && (context.a has \"b\")) "
	    "&& (context.a.b has \"c\"))" },
	{ "principal like \"*a\\*b\"", "(principal like \"*a\\*b\")" },
	{ "\"x\" like \"\\u{41}*\\\\\"", "(\"x\" like \"A*\\\\\")" },
	{ "principal is User", "(principal is User)" },
	{ "principal is NS::User", "(principal is NS::User)" },
	{ "principal is User in Group::\"g\"",
	    "((principal is User) && (principal in Group::\"g\"))" },
	{ "principal is User in [Group::\"g\"]",
	    "((principal is User) && (principal in [Group::\"g\"]))" },
	/* boolean operators */
	{ "true || false && true", "(true || (false && true))" },
	{ "true && false || true", "((true && false) || true)" },
	{ "true || false || true", "((true || false) || true)" },
	{ "1 < 2 && 3 > 4 || !false",
	    "(((1 < 2) && (3 > 4)) || !(false))" },
	{ "if true then 1 else 2", "(if true then 1 else 2)" },
	{ "if true then if false then 1 else 2 else 3",
	    "(if true then (if false then 1 else 2) else 3)" },
	{ "if true then 1 else 2 || false", "(if true then 1 else (2 || false))" },
	{ "[1, if true then 2 else 3]", "[1, (if true then 2 else 3)]" },
	{ "(if true then 1 else 2) + 1", "((if true then 1 else 2) + 1)" },
	/* sets and records */
	{ "[]", "[]" },
	{ "[1, 2,]", "[1, 2]" },
	{ "[[1], [\"a\", true]]", "[[1], [\"a\", true]]" },
	{ "{}", "{}" },
	{ "{a: 1, \"b c\": [true], principal: 3,}",
	    "{\"a\": 1, \"b c\": [true], \"principal\": 3}" },
	{ "{when: 1, permit: 2}", "{\"when\": 1, \"permit\": 2}" },
	/* member access */
	{ "principal.name", "principal.name" },
	{ "principal[\"first name\"]", "principal[\"first name\"]" },
	{ "principal[\"name\"]", "principal.name" },
	{ "principal.permit", "principal.permit" },
	{ "context.a.b[\"c\"].d", "context.a.b.c.d" },
	{ "(principal).foo", "principal.foo" },
	{ "1.foo", "1.foo" },
	{ "\"s\".foo", "\"s\".foo" },
	{ "User::\"a\".name", "User::\"a\".name" },
	{ "{a: 1}.a", "{\"a\": 1}.a" },
	/* methods and functions */
	{ "[1, 2].contains(1)", "[1, 2].contains(1)" },
	{ "[1].containsAll([1])", "[1].containsAll([1])" },
	{ "[1].containsAny([1],)", "[1].containsAny([1])" },
	{ "[].isEmpty()", "[].isEmpty()" },
	{ "principal.getTag(\"t\")", "principal.getTag(\"t\")" },
	{ "principal.hasTag(\"t\")", "principal.hasTag(\"t\")" },
	{ "context.tags.contains(\"x\")", "context.tags.contains(\"x\")" },
	{ "ip(\"10.0.0.1\").isInRange(ip(\"10.0.0.0/8\"))",
	    "ip(\"10.0.0.1\").isInRange(ip(\"10.0.0.0/8\"))" },
	{ "ip(\"::1\").isIpv4() || ip(\"::1\").isLoopback()",
	    "(ip(\"::1\").isIpv4() || ip(\"::1\").isLoopback())" },
	{ "decimal(\"1.2\").lessThan(decimal(\"2.0\"))",
	    "decimal(\"1.2\").lessThan(decimal(\"2.0\"))" },
	{ "datetime(\"2024-01-01\").offset(duration(\"1h\")).toDate()",
	    "datetime(\"2024-01-01\").offset(duration(\"1h\")).toDate()" },
	{ "duration(\"1d\").toHours()", "duration(\"1d\").toHours()" },
	/* extension arity is checked at evaluation, as in the reference */
	{ "ip(\"1\", \"2\")", "ip(\"1\", \"2\")" },
	{ "ip(\"1\").isIpv4(1)", "ip(\"1\").isIpv4(1)" },
	/* comments and white space */
	{ "// comment\n1 // trailing", "1" },
	{ "\t1\r\n+\xC2\xA0" "2", "(1 + 2)" },
};

/* expressions that do not parse: input, offset, message substring */
static const struct {
	const char *in;
	size_t off;
	const char *msg;
} expr_bad[] = {
	{ "9223372036854775808", 0, "too large" },
	{ "18446744073709551616", 0, "too large" },
	{ "[9223372036854775808]", 1, "too large" },
	{ "-9223372036854775809", 1, "too small" },
	{ "!!!!!true", 0, "too many `!`" },
	{ "-----1", 0, "too many `-`" },
	{ "!-1", 1, "unexpected `-`" },
	{ "foo", 0, "unknown variable" },
	{ "x.y", 0, "not a variable" },
	{ "x[\"y\"]", 0, "cannot be indexed" },
	{ "x.y()", 0, "has no methods" },
	{ "1 == 2 == 3", 7, "chained" },
	{ "1 < 2 < 3", 6, "chained" },
	{ "principal in Group::\"g\" in Group::\"h\"", 24, "chained" },
	{ "principal has a == 1", 16, "chained" },
	{ "principal is User is User", 18, "chained" },
	{ "1 + if true then 1 else 2", 4, "unexpected identifier `if`" },
	{ "if true then 1", 14, "`else`" },
	{ "if true 1 else 2", 8, "`then`" },
	{ "foo(1)", 0, "unknown function `foo`" },
	{ "A::ip(\"1\")", 0, "unknown function `A::ip`" },
	{ "isIpv4(ip(\"a\"))", 0, "is a method, not a function" },
	{ "contains(1)", 0, "is a method, not a function" },
	{ "\"a\".ip()", 4, "is a function, not a method" },
	{ "[].contains()", 0, "takes 1 argument" },
	{ "[].containsAll(1, 2)", 0, "takes 1 argument" },
	{ "[].isEmpty(1)", 0, "takes 0 arguments" },
	{ "principal.getTag()", 0, "takes 1 argument" },
	{ "principal.foo(1)", 10, "unknown method `foo`" },
	{ "principal(1)", 0, "variables cannot be called" },
	{ "(1)(2)", 3, "expressions cannot be called" },
	{ "principal.foo(1)(2)", 16, "expressions cannot be called" },
	{ "{a: 1, a: 2}", 0, "duplicate key `a`" },
	{ "{a: 1, \"a\": 2}", 0, "duplicate key `a`" },
	{ "{\"a\\nb\": 1, \"a\\nb\": 2}", 0, "duplicate key `a?b`" },
	{ "1 \"a\nb\"", 2, "unexpected string literal `\"a...`" },
	{ "{if: 1}", 1, "reserved" },
	{ "{true: 1}", 1, "reserved" },
	{ "{a::b: 1}", 2, "not a path" },
	{ "{1: 1}", 1, "record key" },
	{ "principal.then", 10, "reserved" },
	{ "principal.__cedar", 10, "`__cedar` is reserved" },
	{ "principal has in", 14, "reserved" },
	{ "principal has a.like", 16, "reserved" },
	{ "principal has true", 14, "reserved" },
	{ "principal has 1", 14, "attribute name" },
	{ "principal has a::b", 15, "after `has`" },
	{ "principal has a.b(1)", 17, "after `has`" },
	{ "in::\"a\"", 0, "unexpected identifier `in`" },
	{ "A::true::\"a\"", 3, "reserved" },
	{ "__cedar::A::\"a\"", 0, "`__cedar` is reserved" },
	{ "A::1", 3, "expected an identifier or a string" },
	{ "\"\\q\"", 1, "invalid escape" },
	{ "\"\\*\"", 1, "only allowed in `like`" },
	{ "\"\\u{110000}\"", 1, "above 10FFFF" },
	{ "\"\\u{D800}\"", 1, "surrogate" },
	{ "\"\\u{1234567}\"", 1, "more than 6" },
	{ "\"\\u{}\"", 1, "empty" },
	{ "\"\\u{_1}\"", 1, "leading underscore" },
	{ "\"\\u41\"", 1, "`{` expected" },
	{ "\"\\u{41\"", 1, "unterminated" },
	{ "\"\\x80\"", 1, "above \\x7F" },
	{ "\"\\x4\"", 1, "two hex digits" },
	{ "\"a\rb\"", 2, "carriage return" },
	{ "\"a\\\nb\"", 0, "backslash ends a line" },
	{ "\"abc", 0, "unterminated string" },
	{ "\"abc\\", 0, "unterminated string" },
	{ "\"abc\" like \"\\q\"", 12, "invalid escape" },
	{ "1 / 2", 2, "division" },
	{ "1 % 2", 2, "remainder" },
	{ "principal = 1", 10, "`=` is not an operator" },
	{ "?principal", 0, "only allowed in the principal or resource scope" },
	{ "?foo", 0, "invalid template slot" },
	{ "principal like principal", 15, "string literal pattern" },
	{ "principal[principal]", 10, "string literal" },
	{ "principal is User::\"a\"", 19, "not an entity" },
	{ "principal is 1", 13, "entity type name" },
	{ "1 | 2", 2, "`|`" },
	{ "1 & 2", 2, "`&`" },
	{ "1 $ 2", 2, "invalid character" },
	{ "\xE2\x82\xAC", 0, "invalid character" },
	{ "", 0, "end of input" },
	{ "(1", 2, "end of input" },
	{ "[1 2]", 3, "`,` or `]`" },
	{ "1 2", 2, "end of input" },
	{ "Foo::{a: 1}", 5, "record syntax" },
	{ "\xFF", 0, "invalid UTF-8" },
};

static void
test_expr_ok(void **state)
{
	char buf[1024], buf2[1024];

	(void)state;
	for (size_t i = 0; i < sizeof(expr_ok) / sizeof(expr_ok[0]); i++) {
		struct arena a;
		struct diag_list dl;
		struct cedar_expr *e = NULL, *e2 = NULL;
		int r;

		arena_init(&a, 0);
		diag_init(&dl);
		r = cedar_parse_expr(&a, expr_ok[i].in, strlen(expr_ok[i].in),
		    &e, &dl);
		if (r != MANDATE_OK)
			fail_msg("%s: %s", expr_ok[i].in,
			    dl.n ? dl.items[0].msg : "?");
		assert_int_equal(cedar_expr_dump(e, buf, sizeof(buf), NULL),
		    MANDATE_OK);
		if (strcmp(buf, expr_ok[i].out) != 0)
			fail_msg("%s: printed %s, expected %s", expr_ok[i].in,
			    buf, expr_ok[i].out);
		/* the printed form parses back to the same thing */
		assert_int_equal(cedar_parse_expr(&a, buf, strlen(buf), &e2,
		    &dl), MANDATE_OK);
		assert_int_equal(cedar_expr_dump(e2, buf2, sizeof(buf2), NULL),
		    MANDATE_OK);
		assert_string_equal(buf, buf2);
		arena_free(&a);
	}
}

static void
test_expr_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(expr_bad) / sizeof(expr_bad[0]); i++) {
		struct arena a;
		struct diag_list dl;
		struct cedar_expr *e = (struct cedar_expr *)&dl;
		bool found = false;
		int r;

		arena_init(&a, 0);
		diag_init(&dl);
		r = cedar_parse_expr(&a, expr_bad[i].in, strlen(expr_bad[i].in),
		    &e, &dl);
		if (r == MANDATE_OK)
			fail_msg("%s: parsed but should not", expr_bad[i].in);
		assert_int_equal(r, MANDATE_EPARSE);
		assert_null(e);
		assert_true(dl.n > 0);
		for (size_t k = 0; k < dl.n; k++)
			if (dl.items[k].off == expr_bad[i].off &&
			    strstr(dl.items[k].msg, expr_bad[i].msg) != NULL)
				found = true;
		if (!found)
			fail_msg("%s: got `%s` at %zu, expected `%s` at %zu",
			    expr_bad[i].in, dl.items[0].msg, dl.items[0].off,
			    expr_bad[i].msg, expr_bad[i].off);
		arena_free(&a);
	}
}

static void
test_expr_spans(void **state)
{
	struct arena a;
	struct diag_list dl;
	struct cedar_expr *e;
	const char *src = "  principal.foo + -23";

	(void)state;
	arena_init(&a, 0);
	diag_init(&dl);
	assert_int_equal(cedar_parse_expr(&a, src, strlen(src), &e, &dl), 0);
	assert_int_equal(e->kind, CX_ADD);
	assert_int_equal(e->off, 2);
	assert_int_equal(e->len, strlen(src) - 2);
	assert_int_equal(e->a->kind, CX_GETATTR);
	assert_int_equal(e->a->off, 2);
	assert_int_equal(e->a->len, 13);
	assert_int_equal(e->a->a->len, 9);
	assert_int_equal(e->b->kind, CX_LONG);
	assert_int_equal(e->b->ival, -23);
	assert_int_equal(e->b->off, 18);
	assert_int_equal(e->b->len, 3);
	arena_free(&a);
}

static void
test_expr_pattern(void **state)
{
	struct arena a;
	struct diag_list dl;
	struct cedar_expr *e;
	const char *src = "\"\" like \"a*\\*\\u{e9}\"";

	(void)state;
	arena_init(&a, 0);
	diag_init(&dl);
	assert_int_equal(cedar_parse_expr(&a, src, strlen(src), &e, &dl), 0);
	assert_int_equal(e->kind, CX_LIKE);
	assert_int_equal(e->pat.n, 4);
	assert_int_equal(e->pat.elems[0], 'a');
	assert_int_equal(e->pat.elems[1], CEDAR_PAT_WILDCARD);
	assert_int_equal(e->pat.elems[2], '*');
	assert_int_equal(e->pat.elems[3], 0xE9);
	arena_free(&a);
}

/* ------------------------------------------------------------------ */
/* policies */

static const struct {
	const char *in, *out;
} policy_ok[] = {
	{ "", "" },
	{ "// nothing but a comment\n", "" },
	{ "permit(principal, action, resource);",
	    "permit (principal, action, resource);" },
	{ "permit(principal,action,resource,);",
	    "permit (principal, action, resource);" },
	{ "forbid (principal == User::\"a\", action == Action::\"view\", "
	    "resource in Folder::\"f\") when { true } unless { false };",
	    "forbid (principal == User::\"a\", action == Action::\"view\", "
	    "resource in Folder::\"f\")\nwhen { true }\nunless { false };" },
	{ "permit(principal is User, action in [Action::\"a\", "
	    "NS::Action::\"b\",], resource is Photo in Album::\"x\");",
	    "permit (principal is User, action in [Action::\"a\", "
	    "NS::Action::\"b\"], resource is Photo in Album::\"x\");" },
	{ "permit(principal, action in [], resource);",
	    "permit (principal, action in [], resource);" },
	{ "permit(principal, action in NS::Action::\"g\", resource);",
	    "permit (principal, action in NS::Action::\"g\", resource);" },
	{ "permit(principal in ?principal, action, resource == ?resource);",
	    "permit (principal in ?principal, action, resource == "
	    "?resource);" },
	{ "permit(principal is User in ?principal, action, resource is "
	    "Doc in ?resource);",
	    "permit (principal is User in ?principal, action, resource is "
	    "Doc in ?resource);" },
	{ "@id(\"x\") @advice @if(\"reserved words are fine here\")\n"
	    "permit(principal, action, resource);",
	    "@id(\"x\")\n@advice(\"\")\n@if(\"reserved words are fine "
	    "here\")\npermit (principal, action, resource);" },
	{ "@note(\"a\\tb \\u{e9}\") forbid(principal, action, resource);",
	    "@note(\"a\\tb \xC3\xA9\")\nforbid (principal, action, "
	    "resource);" },
	{ "permit(principal, action, resource) when { context.n > 1 && "
	    "principal has email };\nforbid(principal, action, resource);",
	    "permit (principal, action, resource)\nwhen { ((context.n > 1) "
	    "&& (principal has \"email\")) };\n"
	    "forbid (principal, action, resource);" },
	{ "permit(principal, action, resource) when { principal is User in "
	    "Group::\"g\" };",
	    "permit (principal, action, resource)\nwhen { ((principal is "
	    "User) && (principal in Group::\"g\")) };" },
};

static const struct {
	const char *in;
	size_t off;
	const char *msg;
} policy_bad[] = {
	{ "permit(principal, action, resource)", 35, "end of input" },
	{ "permit(principal, action);", 0, "needs `resource`" },
	{ "permit();", 0, "needs `principal`" },
	{ "permit(principal, action, resource, context);", 36,
	    "extra element" },
	{ "allow(principal, action, resource);", 0, "not a policy effect" },
	{ "permit(resource, action, principal);", 7,
	    "expected `principal` in the policy scope, found `resource`" },
	{ "permit(context, action, resource);", 7, "expected `principal`" },
	{ "permit(principal: User, action, resource);", 16,
	    "type constraints using `:`" },
	{ "permit(principal, action is Action, resource);", 25,
	    "`is` cannot appear in the action scope" },
	{ "permit(principal < User::\"a\", action, resource);", 17,
	    "only allows `==` and `in`" },
	{ "permit(principal = User::\"a\", action, resource);", 17,
	    "`=` is not an operator" },
	{ "permit(principal == ?resource, action, resource);", 20,
	    "?principal slot" },
	{ "permit(principal, action, resource in ?principal);", 38,
	    "?resource slot" },
	{ "permit(principal, action == ?principal, resource);", 28,
	    "only allowed in the principal or resource scope" },
	{ "permit(principal, action == User::\"a\", resource);", 28,
	    "type `Action`" },
	{ "permit(principal, action in [Action::\"a\", User::\"b\"], "
	    "resource);", 42, "type `Action`" },
	{ "permit(principal, action in [Action::\"a\", 1], resource);", 42,
	    "expected an entity uid" },
	{ "permit(principal, action == [Action::\"a\"], resource);", 28,
	    "single entity uid" },
	{ "permit(principal, action in 1, resource);", 28,
	    "list of entity uids" },
	{ "permit(principal is User == User::\"a\", action, resource);", 7,
	    "combined with `==`" },
	{ "permit(principal in User::\"a\" is User, action, resource);", 7,
	    "`is` comes first" },
	{ "permit(principal == principal, action, resource);", 20,
	    "expected an entity uid or the ?principal slot" },
	{ "permit(principal == User::\"a\" + 1, action, resource);", 20,
	    "expected an entity uid" },
	{ "permit(principal, action, resource) when { ?principal };", 43,
	    "only allowed in the principal or resource scope" },
	{ "permit(principal, action, resource) when {};", 36,
	    "should not be empty" },
	{ "permit(principal, action, resource) iff { true };", 36,
	    "expected `when` or `unless`" },
	{ "permit(principal, action, resource) when { true }", 49,
	    "end of input" },
	{ "@a(\"1\") @a(\"2\") permit(principal, action, resource);", 8,
	    "duplicate annotation `@a`" },
	{ "@a(1) permit(principal, action, resource);", 3,
	    "string literal" },
	{ "@ (\"x\") permit(principal, action, resource);", 2,
	    "annotation name" },
	{ "@a(\"\\q\") permit(principal, action, resource);", 4,
	    "invalid escape" },
	{ "permit(principal, action, resource) when { 1 + };", 47,
	    "expected an expression" },
};

static size_t
dump_policies(const struct cedar_policy *p, size_t n, char *buf, size_t cap)
{
	size_t off = 0, len;

	buf[0] = '\0';
	for (size_t i = 0; i < n; i++) {
		if (i)
			buf[off++] = '\n';
		assert_int_equal(cedar_policy_dump(&p[i], buf + off, cap - off,
		    &len), MANDATE_OK);
		off += len;
	}
	return off;
}

static void
test_policy_ok(void **state)
{
	char buf[2048], buf2[2048];

	(void)state;
	for (size_t i = 0; i < sizeof(policy_ok) / sizeof(policy_ok[0]); i++) {
		struct arena a;
		struct diag_list dl;
		struct cedar_policy *p = NULL, *p2 = NULL;
		size_t n = 0, n2 = 0;
		int r;

		arena_init(&a, 0);
		diag_init(&dl);
		r = cedar_parse_policies(&a, policy_ok[i].in,
		    strlen(policy_ok[i].in), "t.cedar", 0, false, &p, &n, &dl);
		if (r != MANDATE_OK)
			fail_msg("%s: %s", policy_ok[i].in,
			    dl.n ? dl.items[0].msg : "?");
		dump_policies(p, n, buf, sizeof(buf));
		if (strcmp(buf, policy_ok[i].out) != 0)
			fail_msg("%s:\nprinted  %s\nexpected %s",
			    policy_ok[i].in, buf, policy_ok[i].out);
		assert_int_equal(cedar_parse_policies(&a, buf, strlen(buf),
		    NULL, 0, false, &p2, &n2, &dl), MANDATE_OK);
		assert_int_equal(n, n2);
		dump_policies(p2, n2, buf2, sizeof(buf2));
		assert_string_equal(buf, buf2);
		arena_free(&a);
	}
}

static void
test_policy_bad(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(policy_bad) / sizeof(policy_bad[0]);
	    i++) {
		struct arena a;
		struct diag_list dl;
		struct cedar_policy *p = (struct cedar_policy *)&dl;
		size_t n = 99;
		bool found = false;
		int r;

		arena_init(&a, 0);
		diag_init(&dl);
		r = cedar_parse_policies(&a, policy_bad[i].in,
		    strlen(policy_bad[i].in), "t.cedar", 0, false, &p, &n, &dl);
		if (r == MANDATE_OK)
			fail_msg("%s: parsed but should not", policy_bad[i].in);
		assert_int_equal(r, MANDATE_EPARSE);
		assert_null(p);
		assert_int_equal(n, 0);
		assert_true(dl.n > 0);
		for (size_t k = 0; k < dl.n; k++)
			if (dl.items[k].off == policy_bad[i].off &&
			    strstr(dl.items[k].msg, policy_bad[i].msg) != NULL)
				found = true;
		if (!found)
			fail_msg("%s: got `%s` at %zu, expected `%s` at %zu",
			    policy_bad[i].in, dl.items[0].msg, dl.items[0].off,
			    policy_bad[i].msg, policy_bad[i].off);
		assert_string_equal(dl.items[0].file, "t.cedar");
		arena_free(&a);
	}
}

/* After an error the parser resynchronises at `;` and reports more. */
static void
test_policy_several_errors(void **state)
{
	const char *src =
	    "permit(principal, action, resource) when { 1 + };\n"
	    "permit(principal, action, resource);\n"
	    "forbid(principal, action, resource) when { foo };\n"
	    "permit(principal, action, resource) when { \"a;b\" ( };\n"
	    "permit(principal == User::\"a\" == 1, action, resource);\n";
	struct arena a;
	struct diag_list dl;
	struct cedar_policy *p;
	size_t n;

	(void)state;
	arena_init(&a, 0);
	diag_init(&dl);
	assert_int_equal(cedar_parse_policies(&a, src, strlen(src), NULL, 0,
	    false, &p, &n, &dl), MANDATE_EPARSE);
	assert_int_equal(dl.n, 4);
	assert_int_equal(dl.items[0].off, 47);
	assert_int_equal(dl.items[1].off, 87 + 43);
	assert_true(strstr(dl.items[1].msg, "unknown variable") != NULL);
	assert_int_equal(dl.items[2].off, 137 + 51);
	assert_int_equal(dl.items[3].off, 191 + 20);
	assert_true(strstr(dl.items[3].msg, "expected an entity uid") != NULL);
	arena_free(&a);
}

static void
test_policy_fields(void **state)
{
	const char *src =
	    "@id(\"first\") @x(\"y\")\n"
	    "permit(principal == ?principal, action == Action::\"a\", "
	    "resource in Folder::\"f\") when { true } unless { false };\n"
	    "forbid(principal, action, resource);";
	struct arena a;
	struct diag_list dl;
	struct cedar_policy *p;
	size_t n;

	(void)state;
	arena_init(&a, 0);
	diag_init(&dl);
	assert_int_equal(cedar_parse_policies(&a, src, strlen(src), "f", 7,
	    true, &p, &n, &dl), MANDATE_OK);
	assert_int_equal(n, 2);
	assert_true(str_eq_c(p[0].id, "first"));
	assert_true(str_eq_c(p[1].id, "policy8"));
	assert_true(p[0].is_template);
	assert_false(p[1].is_template);
	assert_int_equal(p[0].effect, CEDAR_PERMIT);
	assert_int_equal(p[1].effect, CEDAR_FORBID);
	assert_int_equal(p[0].principal.kind, CSCOPE_EQ);
	assert_true(p[0].principal.is_slot);
	assert_int_equal(p[0].action.kind, CSCOPE_EQ);
	assert_true(str_eq_c(p[0].action.uid.type, "Action"));
	assert_true(str_eq_c(p[0].action.uid.id, "a"));
	assert_int_equal(p[0].resource.kind, CSCOPE_IN);
	assert_true(str_eq_c(p[0].resource.uid.type, "Folder"));
	assert_int_equal(p[0].n_conds, 2);
	assert_true(p[0].conds[0].is_when);
	assert_false(p[0].conds[1].is_when);
	assert_int_equal(p[0].n_annotations, 2);
	assert_true(str_eq_c(p[0].annotations[1].key, "x"));
	assert_true(str_eq_c(p[0].annotations[1].value, "y"));
	assert_int_equal(p[0].off, 0);
	assert_int_equal(p[1].off, strlen(src) - 36);
	assert_int_equal(p[1].len, 36);
	assert_string_equal(p[0].file, "f");
	/* positional ids ignore @id */
	assert_int_equal(cedar_parse_policies(&a, src, strlen(src), "f", 0,
	    false, &p, &n, &dl), MANDATE_OK);
	assert_true(str_eq_c(p[0].id, "policy0"));
	assert_true(str_eq_c(p[1].id, "policy1"));
	arena_free(&a);
}

/* ------------------------------------------------------------------ */
/* limits and allocation failures */

static char *
repeat3(const char *pre, const char *mid, const char *post, int n)
{
	size_t lp = strlen(pre), lm = strlen(mid), lq = strlen(post);
	char *s = malloc(lp * (size_t)n + lm + lq * (size_t)n + 1), *o = s;

	assert_non_null(s);
	for (int i = 0; i < n; i++, o += lp)
		memcpy(o, pre, lp);
	memcpy(o, mid, lm);
	o += lm;
	for (int i = 0; i < n; i++, o += lq)
		memcpy(o, post, lq);
	*o = '\0';
	return s;
}

static int
parse_expr_str(const char *s, struct diag_list *dl)
{
	struct arena a;
	struct cedar_expr *e;
	int r;

	arena_init(&a, 0);
	diag_init(dl);
	r = cedar_parse_expr(&a, s, strlen(s), &e, dl);
	arena_free(&a);
	return r;
}

static void
test_limits(void **state)
{
	struct diag_list dl;
	char *s;

	(void)state;
	s = repeat3("(", "1", ")", CEDAR_MAX_NESTING - 10);
	assert_int_equal(parse_expr_str(s, &dl), MANDATE_OK);
	free(s);
	s = repeat3("(", "1", ")", 100000);
	assert_int_equal(parse_expr_str(s, &dl), MANDATE_ELIMIT);
	assert_int_equal(dl.n, 1);
	assert_int_equal(dl.items[0].code, MANDATE_ELIMIT);
	assert_true(strstr(dl.items[0].msg, "nested too deeply") != NULL);
	free(s);
	s = repeat3("[", "1", "]", 1000);
	assert_int_equal(parse_expr_str(s, &dl), MANDATE_ELIMIT);
	free(s);
	s = repeat3("{a: ", "1", "}", 1000);
	assert_int_equal(parse_expr_str(s, &dl), MANDATE_ELIMIT);
	free(s);
	s = repeat3("if true then 1 else ", "1", "", 1000);
	assert_int_equal(parse_expr_str(s, &dl), MANDATE_ELIMIT);
	free(s);
	/* long operator chains are bounded by the AST depth limit */
	s = repeat3("", "1", " + 1", CEDAR_MAX_AST_DEPTH / 2);
	assert_int_equal(parse_expr_str(s, &dl), MANDATE_OK);
	free(s);
	s = repeat3("", "1", " || 1", CEDAR_MAX_AST_DEPTH + 5);
	assert_int_equal(parse_expr_str(s, &dl), MANDATE_ELIMIT);
	free(s);
	s = repeat3("", "principal has a", ".a", CEDAR_MAX_AST_DEPTH);
	assert_int_equal(parse_expr_str(s, &dl), MANDATE_ELIMIT);
	free(s);
	/* wide is fine */
	s = repeat3("[", "1", ", 1]", 1);
	free(s);
}

static void
test_alloc_failures(void **state)
{
	const char *src =
	    "@id(\"x\") permit(principal in ?principal, action in "
	    "[Action::\"a\", Action::\"b\"], resource) when { context has a.b "
	    "&& {k: [1, \"s\"]}.k.contains(1) && \"x\" like \"*\" && "
	    "principal is User in Group::\"g\" } unless { -1 < 2 };";
	bool succeeded = false;

	(void)state;
	for (long k = 1; k < 2000 && !succeeded; k++) {
		struct arena a;
		struct diag_list dl;
		struct cedar_policy *p = NULL;
		size_t n = 0;
		int r;

		arena_init(&a, 0);
		diag_init(&dl);
		a.fail_after = k;
		r = cedar_parse_policies(&a, src, strlen(src), NULL, 0, true,
		    &p, &n, &dl);
		if (r == MANDATE_OK) {
			assert_int_equal(n, 1);
			succeeded = a.fail_after > 0;
		} else {
			assert_int_equal(r, MANDATE_ENOMEM);
			assert_null(p);
		}
		arena_free(&a);
	}
	assert_true(succeeded);
}

/* ------------------------------------------------------------------ */
/* uids, linking, policy sets */

static void
test_parse_uid(void **state)
{
	static const struct {
		const char *in;
		int r;
		const char *type, *id;
	} cases[] = {
		{ "User::\"alice\"", MANDATE_OK, "User", "alice" },
		{ " A :: B::\"x\\ty\" ", MANDATE_OK, "A::B", "x\ty" },
		{ "Action::\"\"", MANDATE_OK, "Action", "" },
		{ "User", MANDATE_EPARSE, NULL, NULL },
		{ "User::\"a\" x", MANDATE_EPARSE, NULL, NULL },
		{ "\"a\"", MANDATE_EPARSE, NULL, NULL },
		{ "if::\"a\"", MANDATE_EPARSE, NULL, NULL },
		{ "principal", MANDATE_EPARSE, NULL, NULL },
		{ "", MANDATE_EPARSE, NULL, NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct arena a;
		struct diag_list dl;
		struct cedar_uid u;
		int r;

		arena_init(&a, 0);
		diag_init(&dl);
		r = cedar_parse_uid(&a, cases[i].in, strlen(cases[i].in), &u,
		    &dl);
		if (r != cases[i].r)
			fail_msg("%s: got %d", cases[i].in, r);
		if (r == MANDATE_OK) {
			assert_true(str_eq_c(u.type, cases[i].type));
			assert_true(str_eq_c(u.id, cases[i].id));
		} else {
			assert_true(dl.n > 0);
		}
		arena_free(&a);
	}
}

/* The uid fast path (a plain path and an id without escapes) against the
 * parser: each input read as it is, and behind a space (which the fast path
 * leaves to the parser), gives the same result and the same uid. */
static void
test_parse_uid_plain(void **state)
{
	static const char *const in[] = {
		"User::\"alice\"", "A::B::C::\"x y z\"", "Action::\"\"",
		"_::\"x\"", "A1_b::\"~!@#$%^&*()\"", "principal::\"p\"",
		"Action::\"read\"", "NS::Action::\"view\"",
		"__cedar::\"x\"", "A::__cedar::\"x\"", "if::\"x\"",
		"A::like::\"x\"", "A__cedar::\"x\"", "1A::\"x\"",
		"A:::\"x\"", "A::\"x", "A::\"", "AB::\"", "A::\"a\"\"",
		"A::\"a\\\"b\"", "A::\"tab\there\"", "A::\"\x7f\"",
		"A::\"caf\xc3\xa9\"", "A::\"\xff\"", "A:: \"x\"",
		"A ::\"x\"", "A::B::", "A::\"x\"//c", "A::\"x\"\n",
		"A-B::\"x\"", "A::\"\\u{41}\"", "A::B", "::\"x\"",
	};

	(void)state;
	for (size_t i = 0; i < sizeof(in) / sizeof(in[0]); i++) {
		struct arena a;
		struct diag_list dl1, dl2;
		struct cedar_uid u1, u2;
		char spaced[64];
		int r1, r2;

		arena_init(&a, 0);
		diag_init(&dl1);
		diag_init(&dl2);
		snprintf(spaced, sizeof(spaced), " %s", in[i]);
		r1 = cedar_parse_uid(&a, in[i], strlen(in[i]), &u1, &dl1);
		r2 = cedar_parse_uid(&a, spaced, strlen(spaced), &u2, &dl2);
		if (r1 != r2)
			fail_msg("%s: %d as it is, %d behind a space", in[i],
			    r1, r2);
		if (r1 == MANDATE_OK) {
			if (!str_eq(u1.type, u2.type) || !str_eq(u1.id, u2.id))
				fail_msg("%s: the uids differ", in[i]);
			assert_int_equal(u1.id.p[u1.id.n], '\0');
		} else {
			assert_true(dl1.n > 0);
		}
		arena_free(&a);
	}
}

static void
test_type_is_action(void **state)
{
	(void)state;
	assert_true(cedar_type_is_action(STR_LIT("Action")));
	assert_true(cedar_type_is_action(STR_LIT("NS::Action")));
	assert_true(cedar_type_is_action(STR_LIT("A::B::Action")));
	assert_false(cedar_type_is_action(STR_LIT("Actions")));
	assert_false(cedar_type_is_action(STR_LIT("MyAction")));
	assert_false(cedar_type_is_action(STR_LIT("Action::X")));
	assert_false(cedar_type_is_action(STR_LIT("")));
}

static void
test_link_template(void **state)
{
	const char *src = "permit(principal == ?principal, action, resource "
	    "is Doc in ?resource) when { true };\n"
	    "permit(principal, action, resource);";
	struct arena a;
	struct diag_list dl;
	struct cedar_policy *p, *l = NULL;
	struct cedar_uid u = { STR_LIT("User"), STR_LIT("a") };
	struct cedar_uid f = { STR_LIT("Folder"), STR_LIT("f") };
	char buf[512];

	(void)state;
	arena_init(&a, 0);
	diag_init(&dl);
	assert_int_equal(cedar_parse_policies(&a, src, strlen(src), NULL, 0,
	    false, &p, &(size_t){ 0 }, &dl), MANDATE_OK);
	assert_int_equal(cedar_link_template(&a, &p[0], STR_LIT("link1"), &u,
	    &f, &l), MANDATE_OK);
	assert_non_null(l);
	assert_false(l->is_template);
	assert_ptr_equal(l->template_of, &p[0]);
	assert_true(str_eq_c(l->id, "link1"));
	assert_true(l->has_slot_principal && l->has_slot_resource);
	assert_false(l->principal.is_slot);
	assert_true(str_eq_c(l->principal.uid.id, "a"));
	assert_int_equal(cedar_policy_dump(l, buf, sizeof(buf), NULL), 0);
	assert_string_equal(buf, "permit (principal == User::\"a\", action, "
	    "resource is Doc in Folder::\"f\")\nwhen { true };");
	/* the template itself is unchanged */
	assert_true(p[0].principal.is_slot);
	/* wrong slot values, not a template */
	assert_int_equal(cedar_link_template(&a, &p[0], STR_LIT("x"), &u, NULL,
	    &l), MANDATE_EINVAL);
	assert_null(l);
	assert_int_equal(cedar_link_template(&a, &p[0], STR_LIT("x"), NULL, &f,
	    &l), MANDATE_EINVAL);
	assert_int_equal(cedar_link_template(&a, &p[1], STR_LIT("x"), NULL,
	    NULL, &l), MANDATE_EINVAL);
	arena_free(&a);
}

static void
test_policy_set(void **state)
{
	struct cedar_policy_set *ps = NULL;
	struct diag_list dl;
	const char *t1 = "permit(principal, action, resource);\n"
	    "@id(\"tmpl\") permit(principal == ?principal, action, resource);";
	const char *t2 = "@id(\"named\") forbid(principal, action, resource);";
	const char *dup_self = "@id(\"d\") permit(principal, action, resource);"
	    "@id(\"d\") permit(principal, action, resource);";
	const char *dup_old = "permit(principal, action, resource);"
	    "@id(\"named\") permit(principal, action, resource);";

	(void)state;
	diag_init(&dl);
	assert_int_equal(cedar_policy_set_new(&ps), MANDATE_OK);
	assert_int_equal(cedar_policy_set_count(ps), 0);
	assert_int_equal(cedar_policy_set_add(ps, t1, strlen(t1), "a.cedar",
	    CEDAR_IDS_ANNOTATION, &dl), MANDATE_OK);
	assert_int_equal(ps->n_all, 2);
	assert_int_equal(cedar_policy_set_count(ps), 1);
	assert_true(str_eq_c(ps->all[0]->id, "policy0"));
	assert_true(str_eq_c(ps->all[1]->id, "tmpl"));
	assert_int_equal(cedar_policy_set_add(ps, t2, strlen(t2), "b.cedar",
	    CEDAR_IDS_POSITIONAL, &dl), MANDATE_OK);
	assert_true(str_eq_c(ps->all[2]->id, "policy2"));
	assert_int_equal(cedar_policy_set_add(ps, t2, strlen(t2), "b.cedar",
	    CEDAR_IDS_ANNOTATION, &dl), MANDATE_OK);
	assert_true(str_eq_c(ps->all[3]->id, "named"));
	assert_int_equal(cedar_policy_set_count(ps), 3);
	/* duplicates: nothing is added */
	diag_init(&dl);
	assert_int_equal(cedar_policy_set_add(ps, dup_self, strlen(dup_self),
	    "c.cedar", CEDAR_IDS_ANNOTATION, &dl), MANDATE_EPARSE);
	assert_true(dl.n > 0);
	assert_true(strstr(dl.items[0].msg, "duplicate policy id `d`") != NULL);
	diag_init(&dl);
	assert_int_equal(cedar_policy_set_add(ps, dup_old, strlen(dup_old),
	    "c.cedar", CEDAR_IDS_ANNOTATION, &dl), MANDATE_EPARSE);
	assert_true(strstr(dl.items[0].msg, "`named`") != NULL);
	assert_int_equal(dl.items[0].off, 36);
	assert_int_equal(ps->n_all, 4);
	assert_int_equal(ps->n_loaded, 4);
	/* a parse error adds nothing either */
	assert_int_equal(cedar_policy_set_add(ps, "permit(", 7, NULL,
	    CEDAR_IDS_ANNOTATION, &dl), MANDATE_EPARSE);
	assert_int_equal(ps->n_all, 4);
	/* linking */
	diag_init(&dl);
	assert_int_equal(cedar_policy_set_link(ps, "tmpl", "l1",
	    "User::\"alice\"", NULL, &dl), MANDATE_OK);
	assert_int_equal(ps->n_all, 5);
	assert_int_equal(cedar_policy_set_count(ps), 4);
	assert_true(str_eq_c(ps->all[4]->principal.uid.id, "alice"));
	assert_int_equal(cedar_policy_set_link(ps, "tmpl", "l1",
	    "User::\"bob\"", NULL, &dl), MANDATE_EINVAL);
	assert_int_equal(cedar_policy_set_link(ps, "nope", "l2",
	    "User::\"bob\"", NULL, &dl), MANDATE_ENOTFOUND);
	assert_int_equal(cedar_policy_set_link(ps, "policy0", "l2",
	    "User::\"bob\"", NULL, &dl), MANDATE_ENOTFOUND);
	assert_int_equal(cedar_policy_set_link(ps, "tmpl", "l2", NULL,
	    NULL, &dl), MANDATE_EINVAL);
	assert_int_equal(cedar_policy_set_link(ps, "tmpl", "l2", "User",
	    NULL, &dl), MANDATE_EPARSE);
	assert_int_equal(cedar_policy_set_link(ps, "tmpl", "l2",
	    "User::\"b\"", "Doc::\"d\"", &dl), MANDATE_EINVAL);
	assert_int_equal(ps->n_all, 5);
	/* positional numbering continues after links */
	assert_int_equal(cedar_policy_set_add(ps, t1, 37, NULL,
	    CEDAR_IDS_ANNOTATION, &dl), MANDATE_OK);
	assert_true(str_eq_c(ps->all[5]->id, "policy4"));
	/* a finished set does not change */
	ps->finished = true;
	assert_int_equal(cedar_policy_set_add(ps, t1, strlen(t1), NULL,
	    CEDAR_IDS_ANNOTATION, &dl), MANDATE_EINVAL);
	assert_int_equal(cedar_policy_set_link(ps, "tmpl", "l9",
	    "User::\"x\"", NULL, &dl), MANDATE_EINVAL);
	assert_int_equal(ps->n_all, 6);
	/* reference counting */
	assert_ptr_equal(cedar_policy_set_ref(ps), ps);
	assert_int_equal(ps->refs, 2);
	cedar_policy_set_unref(ps);
	assert_int_equal(ps->refs, 1);
	cedar_policy_set_unref(ps);
	cedar_policy_set_unref(NULL);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_expr_ok),
		cmocka_unit_test(test_expr_bad),
		cmocka_unit_test(test_expr_spans),
		cmocka_unit_test(test_expr_pattern),
		cmocka_unit_test(test_policy_ok),
		cmocka_unit_test(test_policy_bad),
		cmocka_unit_test(test_policy_several_errors),
		cmocka_unit_test(test_policy_fields),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_alloc_failures),
		cmocka_unit_test(test_parse_uid),
		cmocka_unit_test(test_parse_uid_plain),
		cmocka_unit_test(test_type_is_action),
		cmocka_unit_test(test_link_template),
		cmocka_unit_test(test_policy_set),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

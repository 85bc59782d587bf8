/*
 * validate_test.c - the strict validator, data-driven: a schema and a
 * policy go in; either the policy is valid, or validation fails with a
 * diagnostic containing the expected text.  One case per typing rule, plus
 * the corpus mismatches that were fixed.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cedar/cedar.h"
#include "cedar/cedar_int.h"

static const char *const SCHEMA =
    "entity Group;\n"
    "entity User in [Group] {\n"
    "  name: String,\n"
    "  age: Long,\n"
    "  nick?: String,\n"
    "  manager?: User,\n"
    "  tags: Set<String>,\n"
    "  addr: { city: String, zip?: String },\n"
    "};\n"
    "entity Photo {\n"
    "  owner: User,\n"
    "  level: Long,\n"
    "  created: datetime,\n"
    "  ttl: duration,\n"
    "  score: decimal,\n"
    "  ip: ipaddr,\n"
    "} tags String;\n"
    "entity Color enum [\"red\", \"green\"];\n"
    "action view appliesTo {\n"
    "  principal: [User], resource: [Photo],\n"
    "  context: { authenticated: Bool, tok?: String }\n"
    "};\n"
    "action edit in [view] appliesTo {\n"
    "  principal: [User], resource: [Photo] };\n"
    "action admin;\n";

static const char *const NS_SCHEMA =
    "namespace NS {\n"
    "  entity G;\n"
    "  entity U in [G] { n: Long };\n"
    "  entity R;\n"
    "  action a appliesTo { principal: [U], resource: [R] };\n"
    "}\n";

struct vcase {
	const char *name;
	const char *schema;   /* NULL: SCHEMA */
	const char *policy;
	const char *expect;   /* NULL: valid; else a diagnostic substring */
};

#define P(cond) "permit(principal, action, resource) when { " cond " };"

static const struct vcase cases[] = {
	{ "trivial", NULL, "permit(principal, action, resource);", NULL },
	{ "required attr", NULL, P("principal.name == \"a\""), NULL },
	{ "unknown attr", NULL, P("principal.foo == 1"), "not found" },
	/* records that differ in an attribute's optionality have no least
	 * upper bound in strict mode (as the reference) */
	{ "record lub, optionality differs", NULL,
	  P("principal.addr == {city: \"a\", zip: \"b\"}"), "compatible" },
	{ "record lub, optionality differs in a set", NULL,
	  P("[principal.addr, {city: \"a\", zip: \"b\"}].contains("
	    "principal.addr)"), "compatible" },
	{ "record lub, same optionality", NULL,
	  P("principal.addr == principal.addr"), NULL },
	{ "optional attr unguarded", NULL, P("principal.nick == \"x\""),
	  "optional attribute" },
	{ "optional attr guarded by &&", NULL,
	  P("principal has nick && principal.nick == \"x\""), NULL },
	{ "|| does not pass capabilities to its right", NULL,
	  P("!(principal has nick) || principal.nick == \"x\""),
	  "optional attribute" },
	{ "if passes capabilities to then", NULL,
	  P("if principal has nick then principal.nick == \"x\" else false"),
	  NULL },
	{ "capability from both || sides", NULL,
	  P("(principal has nick || principal has nick) && "
	    "principal.nick == \"x\""), NULL },
	{ "nested optional record attr", NULL,
	  P("principal.addr.zip == \"1\""), "optional attribute" },
	{ "nested optional record attr guarded", NULL,
	  P("principal.addr has zip && principal.addr.zip == \"1\""), NULL },
	{ "optional entity attr chain", NULL,
	  P("principal has manager && principal.manager.name == \"x\""),
	  NULL },
	{ "unknown entity type", NULL, P("principal in Team::\"x\""),
	  "unrecognized entity type" },
	{ "unknown entity type in is", NULL, P("principal is Team"),
	  "unrecognized entity type" },
	{ "unknown action", NULL,
	  "permit(principal, action == Action::\"delete\", resource);",
	  "unrecognized action" },
	{ "enum id ok", NULL, P("Color::\"red\" != Color::\"green\""), NULL },
	{ "enum id undeclared", NULL, P("Color::\"blue\" != Color::\"red\""),
	  "enumerated" },
	{ "arith on string", NULL, P("principal.age + \"a\" > 1"),
	  "unexpected type" },
	{ "== incompatible", NULL, P("principal.age == \"a\""),
	  "incompatible" },
	{ "== distinct entity types is false, not an error", NULL,
	  P("principal == resource"), NULL },
	/* regressions from the conformance corpus: literals compare early,
	 * `in` narrows by the type hierarchy whatever the operands are */
	{ "literal == literal of other types is False", NULL,
	  P("(true && (true == \"\")) && false"), NULL },
	{ "entity literals == decided", NULL,
	  P("User::\"a\" == Group::\"b\" || principal.foo"), "not found" },
	{ "entity literal == same literal is True", NULL,
	  P("User::\"a\" == User::\"a\" || principal.foo"), NULL },
	{ "var in unrelated literal is False", NULL,
	  P("principal in Photo::\"x\" && principal.foo"), NULL },
	{ "attribute in unrelated literal is False", NULL,
	  P("resource.owner in Photo::\"x\" && principal.foo"), NULL },
	{ "action in an entity is False", NULL,
	  P("action in resource.owner && principal.foo"), NULL },
	{ "action in itself is True: else not typed", NULL,
	  P("if action in action then principal.age > 1 else principal.foo"),
	  NULL },
	{ "action in its group is True", NULL,
	  P("action in Action::\"view\" || principal.foo"), NULL },
	{ "mixed set", NULL, P("[1, \"a\"].contains(1)"), "incompatible" },
	{ "empty set", NULL, P("[].isEmpty()"), "empty set" },
	{ "contains element type", NULL, P("principal.tags.contains(1)"),
	  "incompatible" },
	{ "contains ok", NULL, P("principal.tags.contains(\"x\")"), NULL },
	{ "containsAll ok", NULL, P("principal.tags.containsAll([\"a\"])"),
	  NULL },
	{ "containsAny element type", NULL,
	  P("principal.tags.containsAny([1])"), "incompatible" },
	{ "isEmpty on non-set", NULL, P("principal.name.isEmpty()"),
	  "unexpected type" },
	{ "like ok", NULL, P("principal.name like \"a*\""), NULL },
	{ "like on Long", NULL, P("principal.age like \"1\""),
	  "unexpected type" },
	{ "is ok", NULL, P("principal is User"), NULL },
	{ "in hierarchy", NULL, P("principal in Group::\"g\""), NULL },
	{ "in outside hierarchy is false", NULL,
	  P("resource in Group::\"g\""), NULL },
	{ "in on non-entity", NULL, P("principal.age in Group::\"g\""),
	  "unexpected type" },
	{ "in set of mixed entity types", NULL,
	  P("principal in [Group::\"a\", User::\"b\"]"), "incompatible" },
	{ "in set of one entity type", NULL,
	  P("principal in [Group::\"a\", Group::\"b\"]"), NULL },
	{ "&& short-circuits on False", NULL, P("false && (1 + \"a\" == 2)"),
	  NULL },
	{ "|| short-circuits on True", NULL, P("true || principal.foo"),
	  NULL },
	{ "left operand still typed", NULL, P("principal.foo || true"),
	  "not found" },
	{ "if with True condition skips else", NULL,
	  P("if true then principal.age > 1 else principal.foo"), NULL },
	{ "if branch types differ", NULL,
	  P("(if principal.age > 1 then 1 else \"a\") == 1"), "if" },
	{ "decimal ok", NULL,
	  P("decimal(\"1.23\").lessThan(resource.score)"), NULL },
	{ "decimal literal malformed", NULL,
	  P("decimal(\"abc\").lessThan(resource.score)"), "invalid decimal" },
	{ "constructor needs a literal", NULL,
	  P("decimal(principal.name).lessThan(resource.score)"),
	  "string literal" },
	{ "ip ok", NULL, P("ip(\"10.0.0.1\").isInRange(resource.ip)"), NULL },
	{ "ip method on decimal", NULL, P("resource.score.isIpv4()"),
	  "expected ipaddr" },
	{ "datetime compare", NULL,
	  P("resource.created < datetime(\"2024-01-01\")"), NULL },
	{ "datetime vs duration", NULL, P("resource.created < resource.ttl"),
	  "incompatible" },
	{ "duration conversion", NULL,
	  P("resource.ttl.toMilliseconds() > 5"), NULL },
	{ "datetime offset", NULL,
	  P("resource.created.offset(duration(\"1h\")) > resource.created"),
	  NULL },
	{ "tags guarded", NULL,
	  P("resource.hasTag(\"a\") && resource.getTag(\"a\") == \"x\""),
	  NULL },
	{ "tags unguarded", NULL, P("resource.getTag(\"a\") == \"x\""),
	  "hasTag" },
	{ "getTag without tags", NULL, P("principal.getTag(\"a\") == \"x\""),
	  "no tags" },
	{ "hasTag without tags is false", NULL, P("principal.hasTag(\"a\")"),
	  NULL },
	{ "invalid action application (is)", NULL,
	  "permit(principal, action == Action::\"view\", resource is User);",
	  "invalid action application" },
	{ "invalid action application (no appliesTo)", NULL,
	  "permit(principal, action == Action::\"admin\", resource);",
	  "invalid action application" },
	{ "impossible policy is only a warning", NULL, P("false"), NULL },
	{ "context attr of another action", NULL,
	  "permit(principal, action == Action::\"view\", resource) when "
	  "{ context.authenticated };", NULL },
	{ "context attr without action guard", NULL,
	  "permit(principal, action, resource) when { context.authenticated };",
	  "not found" },
	{ "action == short-circuits", NULL,
	  P("action == Action::\"view\" && context.authenticated"), NULL },
	{ "action in follows the action hierarchy", NULL,
	  P("action in Action::\"view\" && context.authenticated"),
	  "not found" },
	{ "context optional attr", NULL, P("context.tok == \"x\""),
	  "optional attribute" },
	{ "action has attr is false", NULL, P("action has foo"), NULL },
	{ "action attr", NULL, P("action.foo == 1"), "no attributes" },
	{ "record literal", NULL, P("{a: 1, b: \"x\"}.a == 1"), NULL },
	{ "record literal missing attr", NULL, P("{a: 1}.b == 1"),
	  "not found" },
	{ "record == other shape", NULL, P("{a: 1} == {b: 1}"),
	  "incompatible" },
	{ "record == same shape", NULL, P("{a: 1} == {a: principal.age}"),
	  NULL },
	{ "negation", NULL, P("-principal.age < 0"), NULL },
	{ "negation of string", NULL, P("-principal.name < 0"),
	  "unexpected type" },
	{ "multiplication", NULL, P("principal.age * 2 > 3"), NULL },
	{ "non-boolean condition", NULL, P("principal.age"),
	  "expected a boolean" },
	{ "non-boolean unless", NULL,
	  "permit(principal, action, resource) unless { principal.name };",
	  "expected a boolean" },
	{ "has on required entity attr", NULL, P("principal has name"), NULL },
	{ "has on context", NULL, P("context has authenticated"), NULL },
	{ "entity attr in group", NULL, P("resource.owner in Group::\"g\""),
	  NULL },
	{ "action in set scope", NULL,
	  "permit(principal, action in [Action::\"view\", Action::\"edit\"], "
	  "resource);", NULL },
	{ "namespaced ok", NS_SCHEMA,
	  "permit(principal in NS::G::\"g\", action == NS::Action::\"a\", "
	  "resource is NS::R) when { principal.n > 0 };", NULL },
	{ "namespaced action spelled without namespace", NS_SCHEMA,
	  "permit(principal, action == Action::\"a\", resource);",
	  "unrecognized action" },
	{ "is-in scope no appliesTo accepts", NS_SCHEMA,
	  "permit(principal, action, resource is NS::U in NS::G::\"g\");",
	  "invalid action application" },
	{ "is-in scope with a possible type", NS_SCHEMA,
	  "permit(principal is NS::U in NS::G::\"g\", action, resource);",
	  NULL },
	{ "template ok", NULL,
	  "permit(principal == ?principal, action, resource in ?resource) "
	  "when { resource.level > 1 };", NULL },
	{ "template error", NULL,
	  "permit(principal in ?principal, action, resource) "
	  "when { principal.foo };", "not found" },
};

static bool
run_case(const struct vcase *c)
{
	const char *schema_src = c->schema ? c->schema : SCHEMA;
	struct cedar_schema *schema = NULL;
	struct cedar_policy_set *ps = NULL;
	struct diag_list dl;
	bool good = true;
	int r;

	diag_init(&dl);
	r = cedar_schema_parse_text(schema_src, strlen(schema_src), "schema",
	    &schema, &dl);
	if (r != MANDATE_OK) {
		diag_print(&dl, stdout);
		printf("case '%s': schema does not parse\n", c->name);
		return false;
	}
	assert_int_equal(cedar_policy_set_new(&ps), MANDATE_OK);
	diag_init(&dl);
	r = cedar_policy_set_add(ps, c->policy, strlen(c->policy), "policy",
	    CEDAR_IDS_POSITIONAL, &dl);
	if (r != MANDATE_OK) {
		diag_print(&dl, stdout);
		printf("case '%s': policy does not parse\n", c->name);
		good = false;
		goto out;
	}
	diag_init(&dl);
	r = cedar_policy_set_validate(ps, schema, &dl);
	if (c->expect == NULL) {
		if (r != MANDATE_OK) {
			diag_print(&dl, stdout);
			printf("case '%s': expected valid\n", c->name);
			good = false;
		}
	} else {
		bool found = false;
		if (r != MANDATE_EVALIDATE) {
			printf("case '%s': expected invalid (%s), got %d\n",
			    c->name, c->expect, r);
			good = false;
		}
		for (size_t i = 0; i < dl.n; i++)
			if (strstr(dl.items[i].msg, c->expect) != NULL)
				found = true;
		if (!found) {
			diag_print(&dl, stdout);
			printf("case '%s': no diagnostic mentions '%s'\n",
			    c->name, c->expect);
			good = false;
		}
	}
out:
	cedar_policy_set_unref(ps);
	cedar_schema_free(schema);
	return good;
}

static void
test_cases(void **state)
{
	size_t n_failed = 0;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (!run_case(&cases[i]))
			n_failed++;
	if (n_failed != 0)
		fail_msg("%zu of %zu cases failed", n_failed,
		    sizeof(cases) / sizeof(cases[0]));
}

/* Diagnostics carry the policy id and a span inside the policy text. */
static void
test_diagnostic_span(void **state)
{
	const char *pol = "@id(\"p1\")\npermit(principal, action, resource) "
	    "when { principal.foo == 1 };";
	struct cedar_schema *schema = NULL;
	struct cedar_policy_set *ps = NULL;
	struct diag_list dl;
	const char *at;

	(void)state;
	diag_init(&dl);
	assert_int_equal(cedar_schema_parse_text(SCHEMA, strlen(SCHEMA), "s",
	    &schema, &dl), MANDATE_OK);
	assert_int_equal(cedar_policy_set_new(&ps), MANDATE_OK);
	assert_int_equal(cedar_policy_set_add(ps, pol, strlen(pol), "p",
	    CEDAR_IDS_ANNOTATION, &dl), MANDATE_OK);
	diag_init(&dl);
	assert_int_equal(cedar_policy_set_validate(ps, schema, &dl),
	    MANDATE_EVALIDATE);
	assert_int_equal(dl.n, 1);
	assert_non_null(strstr(dl.items[0].msg, "p1"));
	at = strstr(pol, "principal.foo");
	assert_int_equal(dl.items[0].off, (size_t)(at - pol));
	assert_int_equal(dl.items[0].len, strlen("principal.foo"));
	cedar_policy_set_unref(ps);
	cedar_schema_free(schema);
}

/* Independent problems are each reported once; errors do not cascade. */
static void
test_several_errors(void **state)
{
	const char *pol = P("principal.nick == \"x\" || principal.age == \"3\"")
	    "\n" P("Team::\"t\" in principal && [1, \"a\"].isEmpty() && "
	    "(principal.foo + 1 > 2)");
	struct cedar_schema *schema = NULL;
	struct cedar_policy_set *ps = NULL;
	struct diag_list dl;
	static const char *const want[] = {
		"optional attribute", "Long and String",
		"unrecognized entity type Team", "set elements",
		"attribute `foo` not found",
	};

	(void)state;
	diag_init(&dl);
	assert_int_equal(cedar_schema_parse_text(SCHEMA, strlen(SCHEMA), "s",
	    &schema, &dl), MANDATE_OK);
	assert_int_equal(cedar_policy_set_new(&ps), MANDATE_OK);
	assert_int_equal(cedar_policy_set_add(ps, pol, strlen(pol), "p",
	    CEDAR_IDS_POSITIONAL, &dl), MANDATE_OK);
	diag_init(&dl);
	assert_int_equal(cedar_policy_set_validate(ps, schema, &dl),
	    MANDATE_EVALIDATE);
	if (dl.n != 5)
		diag_print(&dl, stdout);
	assert_int_equal(dl.n, 5);
	for (size_t i = 0; i < 5; i++)
		assert_non_null(strstr(dl.items[i].msg, want[i]));
	cedar_policy_set_unref(ps);
	cedar_schema_free(schema);
}

/* An error in a guard does not make what it guards look unguarded. */
static void
test_no_cascade(void **state)
{
	static const char *const pols[] = {
		P("principal.foo == 1 && principal has nick && "
		  "principal.nick == \"x\""),
		P("if principal has nick && principal.foo then "
		  "principal.nick == \"x\" else false"),
		("permit(principal, action, resource) when { principal has nick "
		 "&& principal.foo } when { principal.nick == \"x\" };"),
	};
	struct cedar_schema *schema = NULL;
	struct diag_list dl;

	(void)state;
	diag_init(&dl);
	assert_int_equal(cedar_schema_parse_text(SCHEMA, strlen(SCHEMA), "s",
	    &schema, &dl), MANDATE_OK);
	for (size_t i = 0; i < sizeof(pols) / sizeof(pols[0]); i++) {
		struct cedar_policy_set *ps = NULL;
		assert_int_equal(cedar_policy_set_new(&ps), MANDATE_OK);
		assert_int_equal(cedar_policy_set_add(ps, pols[i],
		    strlen(pols[i]), "p", CEDAR_IDS_POSITIONAL, &dl),
		    MANDATE_OK);
		diag_init(&dl);
		assert_int_equal(cedar_policy_set_validate(ps, schema, &dl),
		    MANDATE_EVALIDATE);
		if (dl.n != 1)
			diag_print(&dl, stdout);
		assert_int_equal(dl.n, 1);
		assert_non_null(strstr(dl.items[0].msg, "`foo` not found"));
		cedar_policy_set_unref(ps);
	}
	cedar_schema_free(schema);
}

/* The JSON schema form gives the same model. */
static void
test_json_schema(void **state)
{
	const char *js =
	    "{\"\": {\"entityTypes\": {"
	    "\"User\": {\"shape\": {\"type\": \"Record\", \"attributes\": {"
	    "\"age\": {\"type\": \"Long\"},"
	    "\"nick\": {\"type\": \"String\", \"required\": false}}}}},"
	    "\"actions\": {\"view\": {\"appliesTo\": {"
	    "\"principalTypes\": [\"User\"], "
	    "\"resourceTypes\": [\"User\"]}}}}}";
	const char *good = P("principal has nick && principal.age > 1");
	const char *bad = P("principal.nick == \"a\"");
	struct cedar_schema *schema = NULL;
	struct cedar_policy_set *ps = NULL;
	struct diag_list dl;

	(void)state;
	diag_init(&dl);
	if (cedar_schema_parse_json(js, strlen(js), "s.json", &schema, &dl) !=
	    MANDATE_OK)
		diag_print(&dl, stdout);
	assert_non_null(schema);
	assert_int_equal(cedar_policy_set_new(&ps), MANDATE_OK);
	assert_int_equal(cedar_policy_set_add(ps, good, strlen(good), "p",
	    CEDAR_IDS_POSITIONAL, &dl), MANDATE_OK);
	assert_int_equal(cedar_policy_set_validate(ps, schema, &dl),
	    MANDATE_OK);
	assert_int_equal(cedar_policy_set_add(ps, bad, strlen(bad), "p",
	    CEDAR_IDS_POSITIONAL, &dl), MANDATE_OK);
	diag_init(&dl);
	assert_int_equal(cedar_policy_set_validate(ps, schema, &dl),
	    MANDATE_EVALIDATE);
	assert_int_equal(dl.n, 1);
	assert_non_null(strstr(dl.items[0].msg, "policy1"));
	cedar_policy_set_unref(ps);
	cedar_schema_free(schema);
}

/* Linked policies: the slot values must be declared types that the
 * action's appliesTo accepts. */
static void
test_links(void **state)
{
	static const struct {
		const char *principal, *resource, *expect;
	} links[] = {
		{ "User::\"a\"", "Photo::\"p\"", NULL },
		/* no Photo can be in a Group */
		{ "User::\"a\"", "Group::\"g\"", "invalid action application" },
		{ "Photo::\"x\"", "Photo::\"p\"",
		  "invalid action application" },
		{ "Nope::\"x\"", "Photo::\"p\"", "unrecognized entity type" },
	};
	const char *tmpl = "@id(\"t\") permit(principal == ?principal, "
	    "action == Action::\"view\", resource in ?resource);";
	struct cedar_schema *schema = NULL;
	struct diag_list dl;

	(void)state;
	diag_init(&dl);
	assert_int_equal(cedar_schema_parse_text(SCHEMA, strlen(SCHEMA), "s",
	    &schema, &dl), MANDATE_OK);
	for (size_t i = 0; i < sizeof(links) / sizeof(links[0]); i++) {
		struct cedar_policy_set *ps = NULL;
		int r;

		assert_int_equal(cedar_policy_set_new(&ps), MANDATE_OK);
		diag_init(&dl);
		assert_int_equal(cedar_policy_set_add(ps, tmpl, strlen(tmpl),
		    "t", CEDAR_IDS_ANNOTATION, &dl), MANDATE_OK);
		assert_int_equal(cedar_policy_set_link(ps, "t", "link",
		    links[i].principal, links[i].resource, &dl), MANDATE_OK);
		diag_init(&dl);
		r = cedar_policy_set_validate(ps, schema, &dl);
		if (links[i].expect == NULL) {
			if (r != MANDATE_OK)
				diag_print(&dl, stdout);
			assert_int_equal(r, MANDATE_OK);
		} else {
			bool found = false;
			assert_int_equal(r, MANDATE_EVALIDATE);
			for (size_t j = 0; j < dl.n; j++)
				if (strstr(dl.items[j].msg, links[i].expect))
					found = true;
			if (!found)
				diag_print(&dl, stdout);
			assert_true(found);
		}
		cedar_policy_set_unref(ps);
	}
	cedar_schema_free(schema);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cases),
		cmocka_unit_test(test_diagnostic_span),
		cmocka_unit_test(test_links),
		cmocka_unit_test(test_json_schema),
		cmocka_unit_test(test_several_errors),
		cmocka_unit_test(test_no_cascade),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * authorize_test.c - decisions through the public API (cedar.h) only:
 * forbid overrides permit, default deny, erroring policies, the
 * fail-closed rule for a forbid that hits the evaluation step limit, and
 * the actions permit policies name (the action search's candidates).
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/cedar.h"

struct world {
	struct cedar_policy_set *ps;
	struct arena a;
	struct cedar_request *req;
};

static void
world_open(struct world *w, const char *policies, const char *context)
{
	struct diag_list dl;

	diag_init(&dl);
	arena_init(&w->a, 0);
	assert_int_equal(cedar_policy_set_new(&w->ps), MANDATE_OK);
	assert_int_equal(cedar_policy_set_add(w->ps, policies, strlen(policies),
	    "t.cedar", CEDAR_IDS_ANNOTATION, &dl), MANDATE_OK);
	assert_int_equal(cedar_policy_set_finish(w->ps, &dl), MANDATE_OK);
	assert_int_equal(cedar_request_build(&w->a, "User::\"alice\"",
	    "Action::\"view\"", "Doc::\"d\"", context, NULL, false, &w->req,
	    &dl), MANDATE_OK);
}

static void
world_close(struct world *w)
{
	cedar_policy_set_unref(w->ps);
	arena_free(&w->a);
}

static void
test_forbid_overrides_permit(void **state)
{
	struct world w;
	struct cedar_decision d;

	(void)state;
	world_open(&w,
	    "@id(\"p\") permit(principal, action, resource);\n"
	    "@id(\"f\") forbid(principal, action, resource) when { context.x };\n",
	    "{\"x\": true}");
	assert_int_equal(cedar_authorize(w.ps, NULL, w.req, &w.a, &d), MANDATE_OK);
	assert_false(d.allow);
	assert_int_equal(d.n_reasons, 1);
	assert_string_equal(d.reasons[0], "f");
	world_close(&w);
}

static void
test_default_deny_and_errors(void **state)
{
	struct world w;
	struct cedar_decision d;

	(void)state;
	world_open(&w,
	    "@id(\"err\") permit(principal, action, resource) when { context.nope };\n"
	    "@id(\"other\") permit(principal == User::\"bob\", action, resource);\n",
	    "{}");
	assert_int_equal(cedar_authorize(w.ps, NULL, w.req, &w.a, &d), MANDATE_OK);
	assert_false(d.allow);
	assert_int_equal(d.n_reasons, 0);
	assert_int_equal(d.n_errors, 1);
	assert_string_equal(d.errors[0].policy_id, "err");
	assert_non_null(strstr(d.errors[0].message, "nope"));
	world_close(&w);
}

/* A context set of n longs and a condition of k containsAll calls over it:
 * about 2*n*k evaluation steps. */
static char *
big_case(size_t n, size_t k, const char *effect, char **context)
{
	size_t cap = n * 8 + 64, len = 0;
	char *ctx = malloc(cap), *pol = malloc(k * 48 + 256);
	size_t plen = 0;

	assert_non_null(ctx);
	assert_non_null(pol);
	len += (size_t)snprintf(ctx + len, cap - len, "{\"s\":[");
	for (size_t i = 0; i < n; i++)
		len += (size_t)snprintf(ctx + len, cap - len, "%s%zu",
		    i ? "," : "", i);
	snprintf(ctx + len, cap - len, "]}");
	plen += (size_t)snprintf(pol + plen, 256,
	    "@id(\"ok\") permit(principal, action, resource);\n"
	    "@id(\"big\") %s(principal, action, resource) when { true", effect);
	for (size_t i = 0; i < k; i++)
		plen += (size_t)snprintf(pol + plen, 48,
		    " && context.s.containsAll(context.s)");
	snprintf(pol + plen, 8, " };\n");
	*context = ctx;
	return pol;
}

static void
test_forbid_past_step_limit_fails_closed(void **state)
{
	struct world w;
	struct cedar_decision d;
	char *ctx, *pol = big_case(10000, 80, "forbid", &ctx);

	(void)state;
	world_open(&w, pol, ctx);
	/* no decision at all: the caller must deny */
	assert_int_equal(cedar_authorize(w.ps, NULL, w.req, &w.a, &d),
	    MANDATE_ELIMIT);
	assert_false(d.allow);
	world_close(&w);
	free(pol);
	free(ctx);
}

static void
test_permit_past_step_limit_is_skipped(void **state)
{
	struct world w;
	struct cedar_decision d;
	char *ctx, *pol = big_case(10000, 80, "permit", &ctx);

	(void)state;
	world_open(&w, pol, ctx);
	assert_int_equal(cedar_authorize(w.ps, NULL, w.req, &w.a, &d), MANDATE_OK);
	assert_true(d.allow);                 /* by "ok" alone */
	assert_int_equal(d.n_reasons, 1);
	assert_string_equal(d.reasons[0], "ok");
	assert_int_equal(d.n_errors, 1);
	assert_string_equal(d.errors[0].policy_id, "big");
	world_close(&w);
	free(pol);
	free(ctx);
}

static int
collect(void *arg, const char *id, size_t id_len)
{
	char *out = arg;
	size_t n = strlen(out);

	if (n + id_len + 2 > 256)
		return MANDATE_ELIMIT;
	memcpy(out + n, id, id_len);
	out[n + id_len] = ',';
	out[n + id_len + 1] = '\0';
	/* "edit" stops a walk that begins with a '!' */
	return out[0] == '!' && id_len == 4 && memcmp(id, "edit", 4) == 0 ?
	    MANDATE_ELIMIT : MANDATE_OK;
}

/* Each action a permit names in its scope, once, in load order (a
 * template's link after the set's policies); not a forbid's, not a
 * group's members, not another type's, not an unlinked template's. */
static void
test_permit_actions(void **state)
{
	static const char src[] =
	    "@id(\"a\") permit(principal, action == Action::\"read\", resource);\n"
	    "@id(\"b\") permit(principal, action in [Action::\"list\", "
	    "Action::\"read\", NS::Action::\"other\", Action::\"edit\"], "
	    "resource);\n"
	    "@id(\"f\") forbid(principal, action == Action::\"drop\", resource);\n"
	    "@id(\"g\") permit(principal, action in Action::\"writers\", "
	    "resource);\n"
	    "@id(\"any\") permit(principal, action, resource) when { false };\n"
	    "@id(\"t\") permit(principal == ?principal, action == "
	    "Action::\"share\", resource);\n"
	    "@id(\"t2\") permit(principal == ?principal, action == "
	    "Action::\"unlinked\", resource);\n"
	    "@id(\"z\") permit(principal, action == Action::\"after\", resource);\n";
	struct cedar_policy_set *ps;
	struct diag_list dl;
	char out[256] = "";

	(void)state;
	diag_init(&dl);
	assert_int_equal(cedar_policy_set_new(&ps), MANDATE_OK);
	assert_int_equal(cedar_policy_set_add(ps, src, strlen(src), "t.cedar",
	    CEDAR_IDS_ANNOTATION, &dl), MANDATE_OK);
	assert_int_equal(cedar_policy_set_link(ps, "t", "t-alice",
	    "User::\"alice\"", NULL, &dl), MANDATE_OK);
	assert_int_equal(cedar_policy_set_finish(ps, &dl), MANDATE_OK);
	assert_int_equal(cedar_policy_set_each_permit_action(ps, "Action", 6,
	    collect, out), MANDATE_OK);
	assert_string_equal(out, "read,list,edit,after,share,");
	out[0] = '\0';
	assert_int_equal(cedar_policy_set_each_permit_action(ps, "NS::Action",
	    10, collect, out), MANDATE_OK);
	assert_string_equal(out, "other,");
	/* the walk stops where the callback says, and says why */
	strcpy(out, "!");
	assert_int_equal(cedar_policy_set_each_permit_action(ps, "Action", 6,
	    collect, out), MANDATE_ELIMIT);
	assert_string_equal(out, "!read,list,edit,");
	/* where no template is linked, each is refused where it is written
	 * (not the links: they are policies) */
	diag_init(&dl);
	assert_int_equal(cedar_policy_set_refuse_templates(ps, "why", &dl),
	    MANDATE_EINVAL);
	assert_int_equal(dl.n, 2);
	{
		size_t line, col;

		diag_linecol(&dl.items[0], &line, &col);
		assert_int_equal(line, 6);
		assert_non_null(strstr(dl.items[0].msg, "`t` is a template"));
		assert_non_null(strstr(dl.items[0].msg, ": why"));
		diag_linecol(&dl.items[1], &line, &col);
		assert_int_equal(line, 7);
		assert_non_null(strstr(dl.items[1].msg, "`t2`"));
	}
	cedar_policy_set_unref(ps);
	assert_int_equal(cedar_policy_set_new(&ps), MANDATE_OK);
	assert_int_equal(cedar_policy_set_add(ps, src,
	    (size_t)(strchr(src, '\n') - src + 1), "t.cedar",
	    CEDAR_IDS_ANNOTATION, &dl), MANDATE_OK);
	diag_init(&dl);
	assert_int_equal(cedar_policy_set_refuse_templates(ps, "why", &dl),
	    MANDATE_OK);
	assert_int_equal(dl.n, 0);
	cedar_policy_set_unref(ps);
	assert_int_equal(cedar_policy_set_each_permit_action(NULL, "Action",
	    6, collect, out), MANDATE_OK);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_forbid_overrides_permit),
		cmocka_unit_test(test_default_deny_and_errors),
		cmocka_unit_test(test_forbid_past_step_limit_fails_closed),
		cmocka_unit_test(test_permit_past_step_limit_is_skipped),
		cmocka_unit_test(test_permit_actions),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

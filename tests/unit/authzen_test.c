/*
 * authzen_test.c - the AuthZEN request model (src/authzen): evaluation,
 * batch and search bodies, their error messages, batch defaults and
 * semantics, unknown members, bounds, the Cedar type-name rule, uid and
 * JSON escaping, the per-request entity text, which must parse as
 * Cedar entities and layer over a PIP store, and the response builders.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "authzen/authzen.h"
#include "cedar/cedar.h"
#include "util/status.h"

struct bad_case {
	const char *body;
	int status;
	const char *msg;      /* substring of the message */
};

static const struct bad_case bad_eval[] = {
	{ "", MANDATE_EINVAL, "empty" },
	{ "[]", MANDATE_EINVAL, "must be a JSON object" },
	{ "{", MANDATE_EPARSE, "invalid JSON" },
	{ "{}", MANDATE_EINVAL, "subject is required" },
	{ "{\"subject\":1}", MANDATE_EINVAL, "subject must be an object" },
	{ "{\"subject\":{\"id\":\"a\"}}", MANDATE_EINVAL,
	    "subject.type is required" },
	{ "{\"subject\":{\"type\":\"u\"}}", MANDATE_EINVAL,
	    "subject.id is required" },
	{ "{\"subject\":{\"type\":\"u\",\"id\":7}}", MANDATE_EINVAL,
	    "subject.id must be a string, not an integer" },
	{ "{\"subject\":{\"type\":\"u\",\"id\":\"\"}}", MANDATE_EINVAL,
	    "subject.id must not be empty" },
	{ "{\"subject\":{\"type\":\"a b\",\"id\":\"x\"}}", MANDATE_EINVAL,
	    "Cedar entity type" },
	{ "{\"subject\":{\"type\":\"if\",\"id\":\"x\"}}", MANDATE_EINVAL,
	    "Cedar entity type" },
	{ "{\"subject\":{\"type\":\"u\",\"id\":\"x\"}}", MANDATE_EINVAL,
	    "action is required" },
	{ "{\"subject\":{\"type\":\"u\",\"id\":\"x\"},\"action\":{}}",
	    MANDATE_EINVAL, "action.name is required" },
	{ "{\"subject\":{\"type\":\"u\",\"id\":\"x\"},\"action\":{\"name\":"
	    "\"r\"}}", MANDATE_EINVAL, "resource is required" },
	{ "{\"subject\":{\"type\":\"u\",\"id\":\"x\",\"properties\":[]},"
	    "\"action\":{\"name\":\"r\"},\"resource\":{\"type\":\"d\","
	    "\"id\":\"1\"}}", MANDATE_EINVAL,
	    "subject.properties must be an object" },
	{ "{\"subject\":{\"type\":\"u\",\"id\":\"x\"},\"action\":{\"name\":"
	    "\"r\"},\"resource\":{\"type\":\"d\",\"id\":\"1\"},\"context\":"
	    "\"c\"}", MANDATE_EINVAL, "context must be an object" },
	{ "{\"a\":1,\"a\":2}", MANDATE_EPARSE, "duplicate" },
};

static void
test_eval_errors(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_eval) / sizeof(bad_eval[0]); i++) {
		struct arena a;
		struct authzen_eval e;
		char err[256] = "";
		int r;

		arena_init(&a, 1u << 20);
		r = authzen_parse_evaluation(&a, bad_eval[i].body,
		    strlen(bad_eval[i].body), &e, err, sizeof(err));
		if (r != bad_eval[i].status || strstr(err, bad_eval[i].msg) ==
		    NULL)
			fail_msg("case %zu (%s): status %d, message '%s'", i,
			    bad_eval[i].body, r, err);
		arena_free(&a);
	}
}

static void
test_eval_ok(void **state)
{
	static const char body[] = "{\"subject\":{\"type\":\"Acme::User\","
	    "\"id\":\"alice\",\"properties\":{\"dept\":\"x\"},\"extra\":1},"
	    "\"action\":{\"name\":\"read\",\"properties\":{\"m\":1}},"
	    "\"resource\":{\"type\":\"doc\",\"id\":\"d\\\"1\"},"
	    "\"context\":{\"ip\":\"10.0.0.1\"},\"unknown\":[1,2]}";
	struct arena a;
	struct authzen_eval e;
	char err[256];

	(void)state;
	arena_init(&a, 1u << 20);
	assert_int_equal(authzen_parse_evaluation(&a, body, strlen(body), &e,
	    err, sizeof(err)), MANDATE_OK);
	assert_true(str_eq_c(e.subject.type, "Acme::User"));
	assert_true(str_eq_c(e.subject.id, "alice"));
	assert_non_null(e.subject.properties);
	assert_true(str_eq_c(e.action.name, "read"));
	assert_true(str_eq_c(e.resource.id, "d\"1"));
	assert_null(e.resource.properties);
	assert_non_null(e.context);
	assert_string_equal(authzen_cedar_uid(&a, e.resource.type,
	    e.resource.id), "doc::\"d\\\"1\"");
	arena_free(&a);
}

static void
test_type_names(void **state)
{
	static const char *const good[] = { "user", "Acme::User", "_x1",
	    "a::b::c", "If" };
	static const char *const bad[] = { "", "1a", "a:b", "a::", "::a",
	    "a::in", "true", "a-b", "a b", "a::::b" };

	(void)state;
	for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++)
		assert_true(authzen_type_ok(str_c(good[i])));
	for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
		if (authzen_type_ok(str_c(bad[i])))
			fail_msg("'%s' accepted", bad[i]);
}

static void
test_batch(void **state)
{
	static const char body[] = "{\"subject\":{\"type\":\"u\",\"id\":\"s\"},"
	    "\"action\":{\"name\":\"read\"},\"context\":{\"a\":1},"
	    "\"options\":{\"evaluations_semantic\":\"deny_on_first_deny\","
	    "\"include_context\":true},"
	    "\"evaluations\":["
	    "{\"resource\":{\"type\":\"d\",\"id\":\"1\"}},"
	    "{\"resource\":{\"type\":\"d\",\"id\":\"2\"},\"action\":{\"name\":"
	    "\"write\"},\"context\":{\"b\":2}},"
	    "{\"action\":{\"name\":\"x\"}},"
	    "7,"
	    "{\"resource\":{\"type\":\"d\",\"id\":3}}]}";
	struct arena a;
	struct authzen_batch b;
	char err[256];

	(void)state;
	arena_init(&a, 1u << 20);
	assert_int_equal(authzen_parse_evaluations(&a, body, strlen(body), &b,
	    err, sizeof(err)), MANDATE_OK);
	assert_false(b.single);
	assert_int_equal(b.n, 5);
	assert_int_equal(b.semantic, AUTHZEN_DENY_ON_FIRST_DENY);
	assert_true(b.include_context);
	assert_null(b.items[0].error);
	assert_true(str_eq_c(b.items[0].subject.id, "s"));
	assert_true(str_eq_c(b.items[0].action.name, "read"));
	assert_non_null(b.items[0].context);
	assert_null(b.items[0].item_context);
	assert_null(b.items[1].error);
	assert_true(str_eq_c(b.items[1].action.name, "write"));
	assert_non_null(b.items[1].item_context);
	assert_non_null(b.items[2].error);
	assert_non_null(strstr(b.items[2].error, "resource is required"));
	assert_non_null(strstr(b.items[3].error, "must be an object"));
	assert_non_null(strstr(b.items[4].error, "resource.id must be a "
	    "string"));
	arena_free(&a);
}

static void
test_batch_errors(void **state)
{
	static const struct bad_case cases[] = {
		{ "{\"evaluations\":{}}", MANDATE_EINVAL,
		    "evaluations must be an array" },
		{ "{\"options\":{\"evaluations_semantic\":\"maybe\"},"
		    "\"evaluations\":[{}]}", MANDATE_EINVAL,
		    "evaluations_semantic must be" },
		{ "{\"options\":{\"include_context\":1},\"evaluations\":[{}]}",
		    MANDATE_EINVAL, "include_context must be a boolean" },
		{ "{\"subject\":{\"type\":\"u\"},\"evaluations\":[{}]}",
		    MANDATE_EINVAL, "subject.id is required" },
		{ "{\"evaluations\":[]}", MANDATE_EINVAL,
		    "subject is required" },
	};
	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct arena a;
		struct authzen_batch b;
		char err[256] = "";
		int r;

		arena_init(&a, 1u << 20);
		r = authzen_parse_evaluations(&a, cases[i].body,
		    strlen(cases[i].body), &b, err, sizeof(err));
		if (r != cases[i].status || strstr(err, cases[i].msg) == NULL)
			fail_msg("case %zu: status %d, message '%s'", i, r,
			    err);
		arena_free(&a);
	}
}

static void
test_batch_limit(void **state)
{
	struct arena a;
	struct authzen_batch b;
	char err[256], *body;
	size_t n = 0, cap = 64 + (AUTHZEN_MAX_BATCH + 1) * 3;

	(void)state;
	body = malloc(cap);
	assert_non_null(body);
	n += (size_t)snprintf(body, cap, "{\"evaluations\":[");
	for (int i = 0; i <= AUTHZEN_MAX_BATCH; i++)
		n += (size_t)snprintf(body + n, cap - n, i ? ",{}" : "{}");
	n += (size_t)snprintf(body + n, cap - n, "]}");
	arena_init(&a, 1u << 22);
	assert_int_equal(authzen_parse_evaluations(&a, body, n, &b, err,
	    sizeof(err)), MANDATE_ELIMIT);
	arena_free(&a);
	free(body);
}

/* A top-level context or default entity properties are evaluated once
 * per item: 256 items under a 64 KiB default context would make one
 * request evaluate 16 MiB of context.  The total is bounded. */
static void
test_batch_context_work(void **state)
{
	struct arena a;
	struct authzen_batch b;
	char err[256], *body;
	size_t ctx = 64u << 10, n = 0, cap = ctx + 64 + AUTHZEN_MAX_BATCH * 3;
	int items[2] = { AUTHZEN_MAX_BATCH, 8 };

	(void)state;
	body = malloc(cap + 256);
	assert_non_null(body);
	for (int k = 0; k < 2; k++) {
		n = (size_t)snprintf(body, cap, "{\"subject\":{\"type\":\"U\","
		    "\"id\":\"a\"},\"action\":{\"name\":\"r\"},\"resource\":"
		    "{\"type\":\"D\",\"id\":\"d\"},\"context\":{\"pad\":\"");
		memset(body + n, 'x', ctx);
		n += ctx;
		n += (size_t)snprintf(body + n, cap + 256 - n, "\"},"
		    "\"evaluations\":[");
		for (int i = 0; i < items[k]; i++)
			n += (size_t)snprintf(body + n, cap + 256 - n,
			    i ? ",{}" : "{}");
		n += (size_t)snprintf(body + n, cap + 256 - n, "]}");
		arena_init(&a, 1u << 24);
		err[0] = '\0';
		assert_int_equal(authzen_parse_evaluations(&a, body, n, &b, err,
		    sizeof(err)), k == 0 ? MANDATE_ELIMIT : MANDATE_OK);
		if (k == 0)
			assert_non_null(strstr(err, "context"));
		else
			assert_int_equal(b.n, 8);
		arena_free(&a);
	}
	free(body);
}

/* Parse a search body: fmt with its one %s replaced by page. */
static int
search_with(struct arena *a, enum authzen_search_kind kind, const char *fmt,
    const char *page, struct authzen_search *s, char *err, size_t n)
{
	char body[512];
	const char *at = strstr(fmt, "%s");

	assert_non_null(at);
	snprintf(body, sizeof(body), "%.*s%s%s", (int)(at - fmt), fmt, page,
	    at + 2);
	return authzen_parse_search(a, arena_cstrdup(a, body), strlen(body),
	    kind, s, err, n);
}

static void
test_search(void **state)
{
	static const char q[] = "{\"subject\":{\"type\":\"user\",\"id\":"
	    "\"ignored\"},\"action\":{\"name\":\"view\"},\"resource\":{\"type\":"
	    "\"record\",\"id\":\"101\"},\"context\":{\"a\":1}%s}";
	static const char q2[] = "{\"subject\":{\"type\":\"user\",\"id\":5},"
	    "\"action\":{\"name\":\"view\"},\"resource\":{\"type\":"
	    "\"record\",\"id\":\"101\"},\"context\":{\"a\":1}%s}";
	static const char other[] = "{\"subject\":{\"type\":\"user\"},"
	    "\"action\":{\"name\":\"view\"},\"resource\":{\"type\":"
	    "\"record\",\"id\":\"101\"},\"context\":{\"a\":2}%s}";
	static const char nores[] = "{\"subject\":{\"type\":\"user\"},"
	    "\"action\":{\"name\":\"view\"},\"resource\":{\"type\":\"r\"}}";
	static const char noact[] = "{\"subject\":{\"type\":\"user\","
	    "\"id\":\"a\"},\"resource\":{\"type\":\"r\",\"id\":\"1\"},"
	    "\"action\":5}";
	struct arena a;
	struct authzen_search s, s2;
	char err[256], tok[AUTHZEN_TOKEN_SIZE], page[128];

	(void)state;
	arena_init(&a, 1u << 20);
	/* limits: absent or 0 the default, integers written any way, capped */
	assert_int_equal(search_with(&a, AUTHZEN_SEARCH_SUBJECT, q, "", &s,
	    err, sizeof(err)), MANDATE_OK);
	assert_int_equal(s.limit, AUTHZEN_DEFAULT_PAGE);
	assert_null(s.q.subject.id.p);          /* the searched id: ignored */
	const struct { const char *page; size_t limit; } lims[] = {
		{ ",\"page\":{\"limit\":0}", AUTHZEN_DEFAULT_PAGE },
		{ ",\"page\":{\"limit\":5}", 5 },
		{ ",\"page\":{\"limit\":5.0}", 5 },
		{ ",\"page\":{\"limit\":5e0}", 5 },
		{ ",\"page\":{\"limit\":1001}", AUTHZEN_MAX_PAGE },
		{ ",\"page\":{\"limit\":99999999999999999999999}",
		  AUTHZEN_MAX_PAGE },
	};
	for (size_t i = 0; i < sizeof(lims) / sizeof(lims[0]); i++) {
		assert_int_equal(search_with(&a, AUTHZEN_SEARCH_SUBJECT, q,
		    lims[i].page, &s, err, sizeof(err)), MANDATE_OK);
		assert_int_equal(s.limit, lims[i].limit);
	}
	static const char *const badlims[] = { "-1", "5.5", "\"5\"", "null",
	    "-0.5", "1e999" };
	for (size_t i = 0; i < sizeof(badlims) / sizeof(badlims[0]); i++) {
		snprintf(page, sizeof(page), ",\"page\":{\"limit\":%s}",
		    badlims[i]);
		assert_int_equal(search_with(&a, AUTHZEN_SEARCH_SUBJECT, q,
		    page, &s, err, sizeof(err)), MANDATE_EINVAL);
		assert_non_null(strstr(err, "page.limit"));
	}
	/* a token resumes its own query: offset and limit come back */
	assert_int_equal(search_with(&a, AUTHZEN_SEARCH_SUBJECT, q,
	    ",\"page\":{\"limit\":5}", &s, err, sizeof(err)), MANDATE_OK);
	authzen_page_token(&s, 20, tok, sizeof(tok));
	snprintf(page, sizeof(page), ",\"page\":{\"token\":\"%s\"}", tok);
	assert_int_equal(search_with(&a, AUTHZEN_SEARCH_SUBJECT, q, page, &s2,
	    err, sizeof(err)), MANDATE_OK);
	assert_int_equal(s2.offset, 20);
	assert_int_equal(s2.limit, 5);        /* kept from the first page */
	/* the searched id is ignored, so changing it changes nothing */
	assert_int_equal(search_with(&a, AUTHZEN_SEARCH_SUBJECT, q2, page, &s2,
	    err, sizeof(err)), MANDATE_OK);
	snprintf(page, sizeof(page), ",\"page\":{\"token\":\"%s\","
	    "\"limit\":5}", tok);
	assert_int_equal(search_with(&a, AUTHZEN_SEARCH_SUBJECT, q, page, &s2,
	    err, sizeof(err)), MANDATE_OK);
	/* another limit, another context, another kind: refused */
	snprintf(page, sizeof(page), ",\"page\":{\"token\":\"%s\","
	    "\"limit\":6}", tok);
	assert_int_equal(search_with(&a, AUTHZEN_SEARCH_SUBJECT, q, page, &s2,
	    err, sizeof(err)), MANDATE_EINVAL);
	assert_non_null(strstr(err, "another query"));
	snprintf(page, sizeof(page), ",\"page\":{\"token\":\"%s\"}", tok);
	assert_int_equal(search_with(&a, AUTHZEN_SEARCH_SUBJECT, other, page,
	    &s2, err, sizeof(err)), MANDATE_EINVAL);
	assert_non_null(strstr(err, "another query"));
	assert_int_equal(search_with(&a, AUTHZEN_SEARCH_RESOURCE, q2, page,
	    &s2, err, sizeof(err)), MANDATE_EINVAL);
	/* tokens it did not issue: an issued one with its offset or limit
	 * changed (which would page elsewhere), its check digits changed */
	{
		char forged[AUTHZEN_TOKEN_SIZE + 8];
		const char *edits[][2] = { { "p20.", "p21." }, { "p20.", "p2." },
		    { ".5.", ".6." }, { ".5.", ".1000." } };

		for (size_t i = 0; i < sizeof(edits) / sizeof(edits[0]); i++) {
			const char *at = strstr(tok, edits[i][0]);

			assert_non_null(at);
			snprintf(forged, sizeof(forged), "%.*s%s%s",
			    (int)(at - tok), tok, edits[i][1],
			    at + strlen(edits[i][0]));
			snprintf(page, sizeof(page), ",\"page\":{\"token\":"
			    "\"%s\"}", forged);
			assert_int_equal(search_with(&a, AUTHZEN_SEARCH_SUBJECT,
			    q, page, &s2, err, sizeof(err)), MANDATE_EINVAL);
			assert_non_null(strstr(err, "not a token this server "
			    "issued"));
		}
		snprintf(forged, sizeof(forged), "%s", tok);
		forged[strlen(forged) - 1] ^= 1;
		snprintf(page, sizeof(page), ",\"page\":{\"token\":\"%s\"}",
		    forged);
		assert_int_equal(search_with(&a, AUTHZEN_SEARCH_SUBJECT, q,
		    page, &s2, err, sizeof(err)), MANDATE_EINVAL);
		assert_non_null(strstr(err, "not a token this server issued"));
	}
	static const char *const badtoks[] = { "zz", "o20", "p", "p1.5",
	    "p1.5.123", "p01.5.0123456789abcdef", "p1.0.0123456789abcdef",
	    "p1.1001.0123456789abcdef", "p1.5.0123456789ABCDEF",
	    "p1.5.0123456789abcdef0", "p99999999999.5.0123456789abcdef" };
	for (size_t i = 0; i < sizeof(badtoks) / sizeof(badtoks[0]); i++) {
		snprintf(page, sizeof(page), ",\"page\":{\"token\":\"%s\"}",
		    badtoks[i]);
		assert_int_equal(search_with(&a, AUTHZEN_SEARCH_SUBJECT, q,
		    page, &s2, err, sizeof(err)), MANDATE_EINVAL);
		assert_non_null(strstr(err, "not a token this server issued"));
	}
	assert_int_equal(authzen_parse_search(&a, nores, strlen(nores),
	    AUTHZEN_SEARCH_SUBJECT, &s, err, sizeof(err)), MANDATE_EINVAL);
	assert_non_null(strstr(err, "resource.id is required"));
	/* the searched member needs its type only; the others are full */
	assert_int_equal(authzen_parse_search(&a, nores, strlen(nores),
	    AUTHZEN_SEARCH_RESOURCE, &s, err, sizeof(err)), MANDATE_EINVAL);
	assert_non_null(strstr(err, "subject.id is required"));
	/* an action search has no action: one sent is ignored */
	assert_int_equal(authzen_parse_search(&a, noact, strlen(noact),
	    AUTHZEN_SEARCH_ACTION, &s, err, sizeof(err)), MANDATE_OK);
	assert_false(s.q.action.present);
	arena_free(&a);
}

/* A token's query is the same JSON values, however they are written:
 * member order, whitespace and string escapes are not part of a JSON
 * value (RFC 8259), and AuthZEN 1.0 (10.1.1) forbids assuming an order
 * of members; array order and the values themselves are. */
static void
test_search_token_same_values(void **state)
{
	static const char q[] = "{\"subject\":{\"type\":\"user\"},"
	    "\"action\":{\"name\":\"view\"},\"resource\":{\"type\":"
	    "\"record\",\"id\":\"101\",\"properties\":{\"o\":\"u1\","
	    "\"n\":{\"x\":1,\"y\":[1,\"z\"]}}},\"context\":{\"a\":1,"
	    "\"b\":[true,null]}%s}";
	static const char *const same[] = {
	    /* members of every object in another order, other spaces */
	    "{ \"context\" : {\"b\":[ true , null ],\"a\":1},\"resource\":"
	    "{\"properties\":{\"n\":{\"y\":[1,\"z\"],\"x\":1},\"o\":"
	    "\"u1\"},\"id\":\"101\",\"type\":\"record\"},\"action\":"
	    "{\"name\":\"view\"},\"subject\":{\"type\":\"user\"}\n%s}",
	    /* the same strings escaped */
	    "{\"subject\":{\"type\":\"user\"},\"action\":{\"name\":"
	    "\"view\"},\"resource\":{\"type\":\"record\",\"id\":\"101\","
	    "\"properties\":{\"\\u006f\":\"\\u00751\",\"n\":{\"x\":1,"
	    "\"y\":[1,\"\\u007a\"]}}},\"context\":{\"a\":1,\"b\":"
	    "[true,null]}%s}",
	};
	static const char *const other[] = {
	    /* an array in another order */
	    "{\"subject\":{\"type\":\"user\"},\"action\":{\"name\":"
	    "\"view\"},\"resource\":{\"type\":\"record\",\"id\":\"101\","
	    "\"properties\":{\"o\":\"u1\",\"n\":{\"x\":1,\"y\":[1,"
	    "\"z\"]}}},\"context\":{\"a\":1,\"b\":[null,true]}%s}",
	    /* a value moved to another member */
	    "{\"subject\":{\"type\":\"user\"},\"action\":{\"name\":"
	    "\"view\"},\"resource\":{\"type\":\"record\",\"id\":\"101\","
	    "\"properties\":{\"o\":\"u1\",\"n\":{\"x\":[1,\"z\"],\"y\":"
	    "1}}},\"context\":{\"a\":1,\"b\":[true,null]}%s}",
	    /* a string for a number */
	    "{\"subject\":{\"type\":\"user\"},\"action\":{\"name\":"
	    "\"view\"},\"resource\":{\"type\":\"record\",\"id\":\"101\","
	    "\"properties\":{\"o\":\"u1\",\"n\":{\"x\":\"1\",\"y\":[1,"
	    "\"z\"]}}},\"context\":{\"a\":1,\"b\":[true,null]}%s}",
	    /* a member more */
	    "{\"subject\":{\"type\":\"user\"},\"action\":{\"name\":"
	    "\"view\"},\"resource\":{\"type\":\"record\",\"id\":\"101\","
	    "\"properties\":{\"o\":\"u1\",\"n\":{\"x\":1,\"y\":[1,"
	    "\"z\"]}}},\"context\":{\"a\":1,\"b\":[true,null],\"c\":{}}%s}",
	    /* the properties moved to the context */
	    "{\"subject\":{\"type\":\"user\"},\"action\":{\"name\":"
	    "\"view\"},\"resource\":{\"type\":\"record\",\"id\":\"101\"},"
	    "\"context\":{\"o\":\"u1\",\"n\":{\"x\":1,\"y\":[1,\"z\"]}}%s}",
	};
	struct arena a;
	struct authzen_search s, s2;
	char err[256], tok[AUTHZEN_TOKEN_SIZE], page[128];

	(void)state;
	arena_init(&a, 1u << 20);
	assert_int_equal(search_with(&a, AUTHZEN_SEARCH_SUBJECT, q,
	    ",\"page\":{\"limit\":2}", &s, err, sizeof(err)), MANDATE_OK);
	authzen_page_token(&s, 7, tok, sizeof(tok));
	snprintf(page, sizeof(page), ",\"page\":{\"token\":\"%s\"}", tok);
	for (size_t i = 0; i < sizeof(same) / sizeof(same[0]); i++) {
		assert_int_equal(search_with(&a, AUTHZEN_SEARCH_SUBJECT,
		    same[i], page, &s2, err, sizeof(err)), MANDATE_OK);
		assert_int_equal(s2.offset, 7);
		assert_int_equal(s2.limit, 2);
	}
	for (size_t i = 0; i < sizeof(other) / sizeof(other[0]); i++) {
		assert_int_equal(search_with(&a, AUTHZEN_SEARCH_SUBJECT,
		    other[i], page, &s2, err, sizeof(err)), MANDATE_EINVAL);
		assert_non_null(strstr(err, "another query"));
	}
	arena_free(&a);
}

/* The request entity text parses as Cedar entities and layers over a
 * PIP store: lookups fall through, the request's own entity answers. */
static void
test_entities_overlay(void **state)
{
	static const char body[] = "{\"subject\":{\"type\":\"u\",\"id\":"
	    "\"a\\n\\u0001\"},\"action\":{\"name\":\"r\"},\"resource\":"
	    "{\"type\":\"doc\",\"id\":\"1\",\"properties\":{\"owner\":\"a\","
	    "\"n\":3}}}";
	static const char pip[] = "[{\"uid\":{\"type\":\"u\",\"id\":\"bob\"},"
	    "\"attrs\":{},\"parents\":[]}]";
	struct arena a;
	struct authzen_eval e;
	struct cedar_entities *base = NULL, *ov = NULL;
	struct diag_list dl;
	char err[256], *buf = NULL, *text;
	size_t len = 0;

	(void)state;
	diag_init(&dl);
	arena_init(&a, 1u << 20);
	assert_int_equal(authzen_parse_evaluation(&a, body, strlen(body), &e,
	    err, sizeof(err)), MANDATE_OK);
	assert_int_equal(authzen_entities_add(&a, body, &e.resource, &buf,
	    &len), MANDATE_OK);
	assert_int_equal(authzen_entities_add(&a, body, &e.subject, &buf,
	    &len), MANDATE_OK);
	text = authzen_entities_close(&a, buf, len);
	assert_non_null(text);
	assert_int_equal(cedar_entities_parse_json(text, strlen(text), "t",
	    NULL, &ov, &dl), MANDATE_OK);
	assert_int_equal(cedar_entities_parse_json(pip, strlen(pip), "p",
	    NULL, &base, &dl), MANDATE_OK);
	assert_true(cedar_entities_has(ov, "doc", 3, "1", 1));
	assert_true(cedar_entities_has(ov, "u", 1, "a\n\001", 3));
	assert_false(cedar_entities_has(ov, "u", 1, "bob", 3));
	cedar_entities_set_under(ov, base);
	assert_true(cedar_entities_has(base, "u", 1, "bob", 3));
	assert_string_equal(authzen_entities_close(&a, NULL, 0), "[]");
	assert_string_equal(authzen_json_string(&a, str_c("a\"\\\x01")),
	    "\"a\\\"\\\\\\u0001\"");
	cedar_entities_free(ov);
	cedar_entities_free(base);
	arena_free(&a);
}

static void
expect_json(json_t *j, const char *want)
{
	char *got;

	assert_non_null(j);
	got = json_dumps(j, JSON_COMPACT | JSON_SORT_KEYS);
	assert_non_null(got);
	assert_string_equal(got, want);
	free(got);
	json_decref(j);
}

static void
test_responses(void **state)
{
	json_t *pol = json_pack("[s]", "p1");

	(void)state;
	expect_json(authzen_decision_json(true, false, "x", pol, NULL),
	    "{\"decision\":true}");
	expect_json(authzen_decision_json(false, true, "abc", pol, NULL),
	    "{\"context\":{\"id\":\"abc\",\"reason_admin\":{\"errors\":[],"
	    "\"policies\":[\"p1\"]}},\"decision\":false}");
	expect_json(authzen_decision_json(false, true, NULL, NULL, NULL),
	    "{\"context\":{\"id\":\"\",\"reason_admin\":{\"errors\":[],"
	    "\"policies\":[]}},\"decision\":false}");
	expect_json(authzen_search_item(AUTHZEN_SEARCH_ACTION, STR_NULL,
	    str_c("view")), "{\"name\":\"view\"}");
	expect_json(authzen_search_item(AUTHZEN_SEARCH_RESOURCE, str_c("doc"),
	    str_make("a\0b", 3)), "{\"id\":\"a\\u0000b\",\"type\":\"doc\"}");
	expect_json(authzen_search_page(pol, NULL),
	    "{\"page\":{\"count\":1,\"next_token\":\"\"},\"results\":"
	    "[\"p1\"]}");
	expect_json(authzen_metadata_json("https://pdp.example",
	    "https://pdp.example"),
	    "{\"access_evaluation_endpoint\":\"https://pdp.example/access/v1/"
	    "evaluation\",\"access_evaluations_endpoint\":\"https://pdp."
	    "example/access/v1/evaluations\",\"policy_decision_point\":"
	    "\"https://pdp.example\",\"search_action_endpoint\":\"https://"
	    "pdp.example/access/v1/search/action\",\"search_resource_endpoint"
	    "\":\"https://pdp.example/access/v1/search/resource\","
	    "\"search_subject_endpoint\":\"https://pdp.example/access/v1/"
	    "search/subject\"}");
	json_decref(pol);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_eval_errors),
		cmocka_unit_test(test_eval_ok),
		cmocka_unit_test(test_type_names),
		cmocka_unit_test(test_batch),
		cmocka_unit_test(test_batch_errors),
		cmocka_unit_test(test_batch_limit),
		cmocka_unit_test(test_batch_context_work),
		cmocka_unit_test(test_search),
		cmocka_unit_test(test_search_token_same_values),
		cmocka_unit_test(test_entities_overlay),
		cmocka_unit_test(test_responses),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

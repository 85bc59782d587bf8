/*
 * redact_test.c - the audit log's redaction (src/audit/redact.h): which
 * values are secrets, configured paths, embedded secrets in text, equal
 * values giving equal HMACs, the key file, and that the clear value
 * never survives in the serialised record.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>

#include "audit/jtext.h"
#include "audit/redact.h"
#include "util/status.h"

static const unsigned char key1[REDACT_KEY_LEN] = "0123456789abcdef0123456789abcdef";
static const unsigned char key2[REDACT_KEY_LEN] = "fedcba9876543210fedcba9876543210";

#define JWT "eyJhbGciOiJFUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiJhZ2VudCIsImV4cCI6MTcwMDAwMDAwMH0.MEUCIQC7mC2cdBWY0Cq0w3k1vJk3hHsFhQe1r6a0aXc9jYx9ZQ"
#define OPENAI "sk-proj-AbCdEf0123456789GhIjKlMnOpQrStUv"
#define GITHUB "ghp_0123456789abcdefABCDEF0123456789abcd"
#define AWS "AKIAIOSFODNN7EXAMPLE1234"
#define PEM "-----BEGIN PRIVATE KEY-----\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\n-----END PRIVATE KEY-----"
#define PEM_JSON "-----BEGIN PRIVATE KEY-----\\nMIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg\\n-----END PRIVATE KEY-----"
#define RANDOM "Xq7vR2mK9pL4wZ8nB3cT6yH1jF5dG0sA"

static struct redact *
mk(const char *const *paths, size_t n)
{
	struct redact *r = NULL;
	char err[256];

	assert_int_equal(redact_new(key1, sizeof(key1), paths, n, &r, err,
	    sizeof(err)), MANDATE_OK);
	return r;
}

static void
test_values(void **state)
{
	static const char *const secret[] = { JWT, OPENAI, GITHUB, AWS, PEM,
	    RANDOM, "Bearer abcdefghijklmnop", "DPoP 0123456789abcdef",
	    "xoxb-123456789012-abcdefghijklmnop",
	    "0123456789abcdef0123456789abcdef01234567" };
	static const char *const plain[] = { "", "alice", "read_ticket",
	    "spiffe://dev.local/agents/demo", "0123456789abcdef0123456789abcdef",
	    "triage the tickets of the support queue",
	    "/srv/data/reports/2026/q3/summary.pdf",
	    "https://example.com/tickets/42", "Bearer", "sk-short" };

	(void)state;
	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		assert_true(redact_value_is_secret(str_c(secret[i])));
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		assert_false(redact_value_is_secret(str_c(plain[i])));
}

static void
test_names(void **state)
{
	static const char *const secret[] = { "password", "db_password",
	    "Password", "client_secret", "access_token", "accessToken",
	    "api_key", "apiKey", "x-api-key", "Authorization", "cookie",
	    "private_key", "refresh_token", "credentials", "pwd" };
	static const char *const plain[] = { "token_type", "max_tokens",
	    "subject_token_type", "action", "resource", "kid", "jti", "id",
	    "task_id", "agent", "keyboard", "", "passport", "secre",
	    "a_name_longer_than_sixty_four_bytes_that_holds_no_special_word_xyz" };
	static const char *const more_secret[] = { "PaSsWoRd", "mypasswd",
	    "PASSPHRASE_x", "SECRETS", "x-Secret-y", "OTP", "Pin",
	    "a_name_longer_than_sixty_four_bytes_that_ends_in_a_refresh_token",
	    "an_argument_name_longer_than_sixty_four_bytes_that_ends_with_password",
	    "an_argument_name_longer_than_sixty_four_bytes_ending_in_refresh_token",
	    "an_argument_name_longer_than_sixty_four_bytes_with_secret_in_the_middle" };

	(void)state;
	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		assert_true(redact_name_is_secret(str_c(secret[i])));
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		assert_false(redact_name_is_secret(str_c(plain[i])));
	for (size_t i = 0; i < sizeof(more_secret) / sizeof(more_secret[0]);
	    i++)
		if (!redact_name_is_secret(str_c(more_secret[i])))
			fail_msg("%s is not found secret", more_secret[i]);
}

static void
test_hmac(void **state)
{
	struct redact *r = mk(NULL, 0), *r2 = NULL;
	char a[REDACT_HMAC_SIZE], b[REDACT_HMAC_SIZE], c[REDACT_HMAC_SIZE];
	char d[REDACT_HMAC_SIZE];
	char err[64];

	(void)state;
	assert_int_equal(redact_hmac(r, STR_LIT("hunter2"), a), MANDATE_OK);
	assert_int_equal(redact_hmac(r, STR_LIT("hunter2"), b), MANDATE_OK);
	assert_int_equal(redact_hmac(r, STR_LIT("hunter3"), c), MANDATE_OK);
	assert_int_equal(strlen(a), REDACT_HMAC_LEN);
	assert_memory_equal(a, "hmac:", 5);
	assert_string_equal(a, b);
	assert_string_not_equal(a, c);
	assert_int_equal(redact_new(key2, sizeof(key2), NULL, 0, &r2, err,
	    sizeof(err)), MANDATE_OK);
	assert_int_equal(redact_hmac(r2, STR_LIT("hunter2"), d), MANDATE_OK);
	assert_string_not_equal(a, d);          /* keyed */
	/* an HMAC is not itself a secret (no double redaction) */
	assert_false(redact_value_is_secret(str_c(a)));
	/* it is HMAC-SHA-256 (RFC 2104), as OpenSSL's one-shot HMAC()
	 * computes it: empty, short and longer than a block */
	{
		static char big[300];
		const char *vals[] = { "", "hunter2", big };

		memset(big, 'x', sizeof(big) - 1);
		for (size_t i = 0; i < 3; i++) {
			unsigned char mac[32];
			unsigned int n = 0;
			char want[REDACT_HMAC_SIZE] = "hmac:";

			assert_non_null(HMAC(EVP_sha256(), key1, sizeof(key1),
			    (const unsigned char *)vals[i], strlen(vals[i]),
			    mac, &n));
			for (unsigned k = 0; k < n; k++)
				snprintf(want + 5 + 2 * k, 3, "%02x", mac[k]);
			assert_int_equal(redact_hmac(r, str_c(vals[i]), d),
			    MANDATE_OK);
			assert_string_equal(d, want);
		}
	}
	redact_free(r);
	redact_free(r2);
}

/* redact_dump(f) must be, byte for byte, the compact text of f after
 * redact_fields(), and leave f as it was. */
static void
check_dump(struct redact *r, json_t *f)
{
	json_t *before = json_deep_copy(f), *red = json_deep_copy(f);
	char *want, *got = NULL;
	size_t n = 0;

	assert_non_null(before);
	assert_non_null(red);
	assert_int_equal(redact_fields(r, red), MANDATE_OK);
	want = json_dumps(red, JSON_COMPACT);
	assert_non_null(want);
	assert_int_equal(redact_dump(r, f, &got, &n), MANDATE_OK);
	assert_non_null(got);
	assert_int_equal(n, strlen(got));
	assert_string_equal(got, want);
	assert_true(json_equal(f, before));
	free(want);
	free(got);
	json_decref(red);
	json_decref(before);
}

static char *
run(struct redact *r, const char *json)
{
	json_error_t e;
	json_t *f = json_loads(json, 0, &e);
	char *out;

	assert_non_null(f);
	check_dump(r, f);
	assert_int_equal(redact_fields(r, f), MANDATE_OK);
	out = json_dumps(f, JSON_COMPACT | JSON_SORT_KEYS);
	json_decref(f);
	assert_non_null(out);
	return out;
}

static void
test_fields(void **state)
{
	static const char *const paths[] = { "arguments.ssn",
	    "arguments.accounts.*.number", "context.*.pin_code" };
	struct redact *r = mk(paths, 3);
	char h[REDACT_HMAC_SIZE], want[256];
	char *out;

	(void)state;
	out = run(r, "{\"action\":\"pay\",\"arguments\":{\"ssn\":"
	    "\"123-45-6789\",\"amount\":12,\"password\":\"hunter2\","
	    "\"accounts\":[{\"number\":\"DE0012345678\",\"name\":\"main\"}],"
	    "\"note\":\"use " OPENAI " please\",\"auth\":\"" JWT "\"},"
	    "\"context\":{\"user\":{\"pin_code\":4321}},"
	    "\"kid\":\"eJY2gEn0_irmPliECuA4U2aEW9Yb1dKYzz4j0FOkIJM\","
	    "\"decision_id\":\"0123456789abcdef0123456789abcdef\","
	    "\"items\":[\"" GITHUB "\", \"plain\"],\"deep\":{\"a\":{\"b\":"
	    "{\"c\":{\"d\":\"" PEM_JSON "\"}}}}}");
	assert_null(strstr(out, "123-45-6789"));
	assert_null(strstr(out, "hunter2"));
	assert_null(strstr(out, "DE0012345678"));
	assert_null(strstr(out, "sk-proj"));
	assert_null(strstr(out, "eyJhbGci"));
	assert_null(strstr(out, "ghp_"));
	assert_null(strstr(out, "PRIVATE KEY"));
	assert_null(strstr(out, "4321"));
	/* what is not secret stays */
	assert_non_null(strstr(out, "\"action\":\"pay\""));
	assert_non_null(strstr(out, "\"amount\":12"));
	assert_non_null(strstr(out, "\"name\":\"main\""));
	assert_non_null(strstr(out, "\"plain\""));
	assert_non_null(strstr(out, "use hmac:"));
	assert_non_null(strstr(out, " please"));
	assert_non_null(strstr(out, "eJY2gEn0_irmPliECuA4U2aEW9Yb1dKYzz4j0FOkIJM"));
	assert_non_null(strstr(out, "0123456789abcdef0123456789abcdef"));
	/* the configured path holds the HMAC of the clear value */
	assert_int_equal(redact_hmac(r, STR_LIT("123-45-6789"), h),
	    MANDATE_OK);
	snprintf(want, sizeof(want), "\"ssn\":\"%s\"", h);
	assert_non_null(strstr(out, want));
	/* a number at a secret path: the HMAC of its JSON text */
	assert_int_equal(redact_hmac(r, STR_LIT("4321"), h), MANDATE_OK);
	snprintf(want, sizeof(want), "\"pin_code\":\"%s\"", h);
	assert_non_null(strstr(out, want));
	free(out);
	redact_free(r);
}

static void
test_text(void **state)
{
	struct redact *r = mk(NULL, 0);
	char h[REDACT_HMAC_SIZE], want[512];
	char *out;

	(void)state;
	out = redact_text(r, STR_LIT("curl -H 'Authorization: Bearer "
	    "abcdefgh12345678' https://x.test/?api_key=zzzzyyyy&q=1 "
	    "password=hunter2. Then sign with\n" PEM "\nand done."));
	assert_non_null(out);
	assert_null(strstr(out, "abcdefgh12345678"));
	assert_null(strstr(out, "zzzzyyyy"));
	assert_null(strstr(out, "hunter2"));
	assert_null(strstr(out, "MIGHAgEA"));
	assert_non_null(strstr(out, "curl -H 'Authorization: Bearer hmac:"));
	assert_non_null(strstr(out, "&q=1 password=hmac:"));
	assert_non_null(strstr(out, "and done."));
	assert_int_equal(redact_hmac(r, STR_LIT("hunter2"), h), MANDATE_OK);
	snprintf(want, sizeof(want), "password=%s. Then", h);
	assert_non_null(strstr(out, want));
	free(out);
	/* nothing to hide: unchanged */
	out = redact_text(r, STR_LIT("summarise ticket 42 for alice"));
	assert_string_equal(out, "summarise ticket 42 for alice");
	free(out);
	out = redact_text(r, STR_LIT(""));
	assert_string_equal(out, "");
	free(out);
	/* the first replacement at the very start, and after a kept prefix
	 * (the text before it is copied as it was) */
	out = redact_text(r, STR_LIT(PEM " tail"));
	assert_non_null(out);
	assert_int_equal(strncmp(out, "hmac:", 5), 0);
	assert_string_equal(out + REDACT_HMAC_LEN, " tail");
	free(out);
	out = redact_text(r, STR_LIT("a, b: pwd=x1 c"));
	assert_non_null(out);
	assert_int_equal(redact_hmac(r, STR_LIT("x1"), h), MANDATE_OK);
	snprintf(want, sizeof(want), "a, b: pwd=%s c", h);
	assert_string_equal(out, want);
	free(out);
	redact_free(r);
}

static void
test_bad_paths(void **state)
{
	static const char *const bad1[] = { "arguments..x" };
	static const char *const bad2[] = { "" };
	static const char *const bad3[] = { "a." };
	struct redact *r = NULL;
	char err[256];

	(void)state;
	assert_int_equal(redact_new(key1, sizeof(key1), bad1, 1, &r, err,
	    sizeof(err)), MANDATE_EINVAL);
	assert_null(r);
	assert_non_null(strstr(err, "arguments..x"));
	assert_int_equal(redact_new(key1, sizeof(key1), bad2, 1, &r, err,
	    sizeof(err)), MANDATE_EINVAL);
	assert_int_equal(redact_new(key1, sizeof(key1), bad3, 1, &r, err,
	    sizeof(err)), MANDATE_EINVAL);
	assert_int_equal(redact_new(key1, 16, NULL, 0, &r, err, sizeof(err)),
	    MANDATE_EINVAL);
	{
		json_t *arr = json_array();
		assert_int_equal(redact_new(key1, sizeof(key1), NULL, 0, &r,
		    err, sizeof(err)), MANDATE_OK);
		assert_int_equal(redact_fields(r, arr), MANDATE_EINVAL);
		json_decref(arr);
		redact_free(r);
	}
}

static void
test_depth(void **state)
{
	struct redact *r = mk(NULL, 0);
	char buf[4096];
	size_t n = 0;
	char *out;

	(void)state;
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "{\"a\":");
	n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\"%s\"", "hunter2");
	for (int i = 0; i < 40; i++)
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "}");
	out = run(r, buf);
	assert_null(strstr(out, "hunter2"));   /* too deep: hidden whole */
	free(out);
	redact_free(r);
}

/* ---- redact_dump against redact_fields, on random records ---- */

static unsigned long long rng_state;

static unsigned
rnd(unsigned n)
{
	rng_state = rng_state * 6364136223846793005ULL + 1442695040888963407ULL;
	return (unsigned)(rng_state >> 33) % n;
}

static json_t *
rnd_value(int depth)
{
	static const char *const keys[] = { "password", "api_key", "token",
	    "name", "path", "note", "user_id", "id", "kid", "ssn", "accounts",
	    "number", "pin_code", "Authorization", "accessToken", "tokens",
	    "arguments", "context", "user", "a", "b", "0", "*", "max_tokens",
	    "\xc3\xa9t\xc3\xa9", "line\nbreak", "", "kid", "user_id",
	    "hashes", "digest" };
	static const char *const strs[] = { "", "alice", "read", JWT, OPENAI,
	    GITHUB, AWS, PEM, RANDOM, "use " OPENAI " please",
	    "password=hunter2 and the rest", "Bearer abcdefghijklmnop",
	    "hmac:a5baa29470f94bbb313b855609ce81b005cd492ebb92b86670ec06856245d094",
	    "h\xc3\xa9llo w\xc3\xb6rld \xe2\x82\xac", "tab\there \"quoted\" \\ \x01",
	    "0123456789abcdef0123456789abcdef", "/reports/2026/q3.pdf",
	    "token " GITHUB " and " AWS " in one line", "sk-short",
	    "see https://example.com/x?api_key=" RANDOM "&y=1" };
	json_t *v, *c;
	unsigned n;

	switch (depth > 6 ? rnd(7) : rnd(12)) {
	case 0: return json_null();
	case 1: return json_boolean(rnd(2));
	case 2: return json_integer((json_int_t)rnd(100000) - 50000);
	case 3: return json_real((double)rnd(1000) / 8.0);
	case 4: case 5: case 6:
		return json_string(strs[rnd(sizeof(strs) / sizeof(strs[0]))]);
	case 7: case 8:
		v = json_array();
		n = rnd(4);
		for (unsigned i = 0; i < n; i++)
			json_array_append_new(v, rnd_value(depth + 1));
		return v;
	default:
		v = json_object();
		n = rnd(5);
		for (unsigned i = 0; i < n; i++) {
			c = rnd_value(depth + 1);
			json_object_set_new(v, keys[rnd(sizeof(keys) /
			    sizeof(keys[0]))], c);
		}
		return v;
	}
}

/* A record's fields: an object, sometimes nested past REDACT_MAX_DEPTH. */
static json_t *
rnd_fields(void)
{
	json_t *f = json_object(), *v;

	json_object_set_new(f, "decision_id", json_string("0123"));
	json_object_set_new(f, "arguments", rnd_value(1));
	json_object_set_new(f, "context", rnd_value(1));
	if (rnd(8) == 0) {
		v = json_string(JWT);
		for (unsigned i = 0; i < 30 + rnd(10); i++) {
			json_t *o = json_object();
			json_object_set_new(o, rnd(2) ? "a" : "b", v);
			v = o;
		}
		json_object_set_new(f, "deep", v);
	}
	return f;
}

static void
test_dump_random(void **state)
{
	static const char *const paths[] = { "arguments.ssn",
	    "arguments.accounts.*.number", "context.*.pin_code",
	    "arguments.*.name", "context.0", "*.note" };
	struct redact *r0 = mk(NULL, 0), *r1 = mk(paths, 6);

	(void)state;
	rng_state = 20261128;
	for (int i = 0; i < 3000; i++) {
		json_t *f = rnd_fields();

		assert_non_null(f);
		check_dump(i % 2 ? r1 : r0, f);
		json_decref(f);
	}
	redact_free(r0);
	redact_free(r1);
}

/* redact_dump_members against redact_dump of the same object: random
 * members of every kind under plain, secret, identifier and configured
 * names, byte for byte the same text. */
static void
test_dump_members_random(void **state)
{
	static const char *const names[] = { "decision_id", "subject_id",
	    "action", "password", "api_key", "note", "user_id", "kid",
	    "prompt", "arguments", "reasons", "calls_used", "pin_code",
	    "accessToken", "deny_reason", "ssn", "hashes", "\xc3\xa9t\xc3\xa9",
	    "line\nbreak", "" };
	static const char *const strs[] = { "", "alice", JWT, OPENAI, AWS,
	    PEM, RANDOM, "use " OPENAI " please",
	    "password=hunter2 and the rest",
	    "hmac:a5baa29470f94bbb313b855609ce81b005cd492ebb92b86670ec06856245d094",
	    "tab\there \"quoted\" \\ \x01", "h\xc3\xa9llo \xe2\x82\xac",
	    "CiRmZDA2MTRkMy1jMzlhLTQ3ODEtYjdiZC04Yjk2ZjVhNTEwMGQSBWxvY2Fs" };
	static const char *const paths[] = { "ssn", "note", "arguments.*.name",
	    "calls_used", "reasons.0" };
	struct redact *r0 = mk(NULL, 0), *r1 = mk(paths, 5);

	(void)state;
	rng_state = 20261129;
	for (int i = 0; i < 3000; i++) {
		struct redact_member m[12];
		json_t *owned[12], *f;
		size_t n = 0, want = 1 + rnd(10);
		struct redact *r = i % 2 ? r1 : r0;
		char *got, *ref;
		size_t gn, rn;

		for (size_t k = 0; n < want && k < 40; k++) {
			const char *nm = names[rnd(sizeof(names) /
			    sizeof(names[0]))];
			bool dup = false;

			for (size_t j = 0; j < n; j++)
				dup = dup || strcmp(m[j].name, nm) == 0;
			if (dup)
				continue;
			memset(&m[n], 0, sizeof(m[n]));
			m[n].name = nm;
			owned[n] = NULL;
			switch (rnd(5)) {
			case 0:
				m[n].kind = REDACT_M_BOOL;
				m[n].b = rnd(2);
				break;
			case 1:
				m[n].kind = REDACT_M_INT;
				m[n].i = (long long)rnd(2000000) - 1000000;
				break;
			case 2:
				m[n].kind = REDACT_M_JSON;
				m[n].j = owned[n] = rnd_value(1);
				break;
			default:
				m[n].kind = REDACT_M_STR;
				m[n].s = rnd(9) == 0 ? STR_NULL :
				    str_c(strs[rnd(sizeof(strs) /
				    sizeof(strs[0]))]);
				break;
			}
			n++;
		}
		f = redact_members_json(m, n);
		assert_non_null(f);
		assert_int_equal(redact_dump(r, f, &ref, &rn), MANDATE_OK);
		assert_int_equal(redact_dump_members(r, m, n, &got, &gn),
		    MANDATE_OK);
		if (gn != rn || strcmp(got, ref) != 0)
			fail_msg("members %s\nobject  %s", got, ref);
		free(got);
		free(ref);
		json_decref(f);
		for (size_t k = 0; k < n; k++)
			json_decref(owned[k]);
	}
	redact_free(r0);
	redact_free(r1);
}

/* Members that cannot make an object are refused. */
static void
test_dump_members_refuses(void **state)
{
	struct redact *r = mk(NULL, 0);
	struct redact_member m[2] = {
		{ .name = "a", .kind = REDACT_M_BOOL },
		{ .name = "a", .kind = REDACT_M_INT },
	};
	char *out = (char *)"x";
	size_t n = 1;

	(void)state;
	assert_int_equal(redact_dump_members(r, m, 2, &out, &n),
	    MANDATE_EINVAL);
	assert_null(out);
	assert_null(redact_members_json(m, 2));
	m[1].name = NULL;
	assert_int_equal(redact_dump_members(r, m, 2, &out, &n),
	    MANDATE_EINVAL);
	/* same length, first and last bytes, yet distinct; and the same */
	m[0].name = "axb";
	m[1].name = "ayb";
	assert_true(redact_members_ok(m, 2));
	m[1].name = "axb";
	assert_false(redact_members_ok(m, 2));
	{
		struct redact_member many[40];
		char names[40][8];

		for (int i = 0; i < 40; i++) {
			snprintf(names[i], sizeof(names[i]), "m%d", i);
			many[i] = (struct redact_member){ .name = names[i] };
		}
		assert_true(redact_members_ok(many, 40));
		many[39].name = "m35";          /* past the tags kept */
		assert_false(redact_members_ok(many, 40));
		many[39].name = "m39";
		many[5].name = "m0";
		assert_false(redact_members_ok(many, 40));
	}
	m[0].name = "a";
	m[1].name = "b";
	m[1].kind = REDACT_M_STR;
	m[1].s = str_make("a\xff" "b", 3);
	assert_int_equal(redact_dump_members(r, m, 2, &out, &n),
	    MANDATE_ENOMEM);
	assert_null(out);
	assert_int_equal(redact_dump_members(r, m, 0, &out, &n), MANDATE_OK);
	assert_string_equal(out, "{}");
	free(out);
	redact_free(r);
}

/* jtext writes strings as json_dumps does: random strings of every length
 * up to 40, of bytes that need no escape, controls, quotes, backslashes and
 * UTF-8 sequences, at every alignment (the scan goes a word at a time). */
static void
test_jtext_strings(void **state)
{
	static const char *const parts[] = { "a", "Z", "0", " ", "~", "\"",
	    "\\", "\x01", "\x1f", "\n", "\t", "\x7f", "\xc3\xa9",
	    "\xe2\x82\xac", "\xf0\x9f\x98\x80", "/", "!", "\x20" };

	(void)state;
	rng_state = 20261129;
	for (int i = 0; i < 20000; i++) {
		char str[256];
		size_t n = 0, want = rnd(41), len;
		struct jtext b = { 0 };
		json_t *v;
		char *got, *ref;

		while (n < want) {
			const char *pt = parts[rnd(sizeof(parts) /
			    sizeof(parts[0]))];

			memcpy(str + n, pt, strlen(pt));
			n += strlen(pt);
		}
		v = json_stringn(str, n);
		assert_non_null(v);
		jtext_value(&b, v, 1);
		got = jtext_finish(&b, &len);
		ref = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY);
		assert_non_null(got);
		assert_non_null(ref);
		if (strcmp(got, ref) != 0 || len != strlen(ref))
			fail_msg("jtext %s, jansson %s", got, ref);
		free(got);
		free(ref);
		json_decref(v);
	}
}

static void
test_dump_refuses(void **state)
{
	struct redact *r = mk(NULL, 0);
	json_t *a = json_array(), *f = json_object();
	char *out = (char *)"x";
	size_t n = 1;

	(void)state;
	assert_int_equal(redact_dump(r, a, &out, &n), MANDATE_EINVAL);
	assert_null(out);
	assert_int_equal(n, 0);
	/* a string jansson was given unchecked, not UTF-8: refused, as
	 * json_dumps refuses it */
	json_object_set_new(f, "note", json_stringn_nocheck("a\xff" "b", 3));
	assert_int_equal(redact_dump(r, f, &out, &n), MANDATE_ENOMEM);
	assert_null(out);
	json_decref(a);
	json_decref(f);
	redact_free(r);
}

static void
test_key_file(void **state)
{
	char dir[] = "/tmp/redact_test.XXXXXX", path[128], hexp[128];
	char other[128], err[512];
	unsigned char k1[REDACT_KEY_LEN], k2[REDACT_KEY_LEN];
	struct stat st;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/k", dir);
	assert_int_equal(redact_key_load(path, false, k1, NULL, 0), MANDATE_ENOTFOUND);
	assert_int_equal(redact_key_load(path, true, k1, NULL, 0), MANDATE_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(redact_key_load(path, true, k2, NULL, 0), MANDATE_OK);
	assert_memory_equal(k1, k2, REDACT_KEY_LEN);   /* kept */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(redact_key_load(path, false, k2, err, sizeof(err)),
	    MANDATE_EINVAL);
	assert_non_null(strstr(err, "mode 0644: the key must not be readable"));
	assert_non_null(strstr(err, "audit.redact_key_file /tmp/redact_test."));
	assert_int_equal(chmod(path, 0600), 0);
	/* a directory, a symlink (to a good key): each named for what it is */
	snprintf(other, sizeof(other), "%s/d", dir);
	assert_int_equal(mkdir(other, 0700), 0);
	assert_int_equal(redact_key_load(other, true, k2, err, sizeof(err)),
	    MANDATE_EIO);
	assert_non_null(strstr(err, ": a directory, not a key file"));
	rmdir(other);
	assert_int_equal(symlink(path, other), 0);
	assert_int_equal(redact_key_load(other, true, k2, err, sizeof(err)),
	    MANDATE_EIO);
	assert_non_null(strstr(err, ": a symbolic link, refused"));
	unlink(other);
	/* 64 hex digits and a newline */
	snprintf(hexp, sizeof(hexp), "%s/h", dir);
	fd = open(hexp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "000102030405060708090a0b0c0d0e0f"
	    "101112131415161718191a1b1c1d1e1f\n", 65), 65);
	close(fd);
	assert_int_equal(redact_key_load(hexp, false, k2, NULL, 0), MANDATE_OK);
	assert_int_equal(k2[0], 0);
	assert_int_equal(k2[31], 0x1f);
	unlink(hexp);
	fd = open(hexp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_int_equal(write(fd, "short", 5), 5);
	close(fd);
	assert_int_equal(redact_key_load(hexp, false, k2, err, sizeof(err)),
	    MANDATE_EINVAL);
	assert_non_null(strstr(err, "not a key (5 bytes; expected 32 bytes"));
	unlink(hexp);
	unlink(path);
	rmdir(dir);
}

/* ---- the leaks an outside review found (each test one finding) ---- */

/* The HMAC of s (a static buffer: one at a time). */
static const char *
hmac_of(struct redact *r, const char *s)
{
	static char h[REDACT_HMAC_SIZE];

	assert_int_equal(redact_hmac(r, str_c(s), h), MANDATE_OK);
	return h;
}

/* redact_text(t), checked to be idempotent (malloc'd). */
static char *
txt(struct redact *r, const char *t)
{
	char *out = redact_text(r, str_c(t)), *again;

	assert_non_null(out);
	again = redact_text(r, str_c(out));
	assert_non_null(again);
	assert_string_equal(again, out);
	free(again);
	return out;
}

/* The value a record member name: value is written as, by the tree, the
 * tree's writer and the member-wise writer alike (malloc'd). */
static char *
member(struct redact *r, const char *name, const char *value)
{
	struct redact_member m = { .name = name, .kind = REDACT_M_STR,
	    .s = str_c(value) };
	json_t *f = json_pack("{s:s}", name, value), *back;
	char *dump = NULL, *got = NULL, *out;
	size_t n, gn;

	assert_non_null(f);
	check_dump(r, f);
	assert_int_equal(redact_dump(r, f, &dump, &n), MANDATE_OK);
	assert_int_equal(redact_dump_members(r, &m, 1, &got, &gn),
	    MANDATE_OK);
	assert_string_equal(got, dump);
	back = json_loads(dump, 0, NULL);
	assert_non_null(back);
	out = strdup(json_string_value(json_object_get(back, name)));
	json_decref(back);
	json_decref(f);
	free(dump);
	free(got);
	return out;
}

/* Does out hold, in this order, pre, the HMAC of secret, post? */
static void
assert_replaced(struct redact *r, const char *out, const char *pre,
    const char *secret, const char *post)
{
	char want[1024];

	snprintf(want, sizeof(want), "%s%s%s", pre, hmac_of(r, secret), post);
	if (strstr(out, want) == NULL)
		fail_msg("want \"%s\" in \"%s\"", want, out);
	if (strstr(out, secret) != NULL)
		fail_msg("\"%s\" kept in \"%s\"", secret, out);
}

/* 1. A URL's password (scheme://user:password@) is replaced, in a value
 * and in longer text; the user, host and the rest stay. */
static void
test_url_password(void **state)
{
	static const struct {
		const char *url, *pre, *pw, *post;
	} cases[] = {
		{ "https://admin:Hunter2Pass@db.example.com/x",
		  "https://admin:", "Hunter2Pass", "@db.example.com/x" },
		{ "postgres://app:S3cretPgPw@db:5432/app", "postgres://app:",
		  "S3cretPgPw", "@db:5432/app" },
		{ "redis://:RedisPw123456@cache", "redis://:", "RedisPw123456",
		  "@cache" },
		{ "mongodb+srv://admin:MongoPw123@h", "mongodb+srv://admin:",
		  "MongoPw123", "@h" },
		{ "amqp://guest:AmqpPw1234@h", "amqp://guest:", "AmqpPw1234",
		  "@h" },
		/* the last '@' of the authority ends the userinfo */
		{ "ftp://me@corp:p@ss:w0rd@files/x", "ftp://me@corp:",
		  "p@ss:w0rd", "@files/x" },
		/* a short password is a password too */
		{ "smtp://u:x@mail", "smtp://u:", "x", "@mail" },
	};
	static const char *const plain[] = { "https://example.com/a:b@c",
	    "https://alice@example.com/", "http://host:8080/path?q=a:b@c",
	    "mailto:alice@example.com", "see https://u:@host/ (no password)",
	    "https://example.com/tickets/42" };
	struct redact *r = mk(NULL, 0);
	char prompt[512], *out;

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		out = member(r, "url", cases[i].url);
		assert_replaced(r, out, cases[i].pre, cases[i].pw,
		    cases[i].post);
		free(out);
		snprintf(prompt, sizeof(prompt), "connect to %s, then report",
		    cases[i].url);
		out = member(r, "prompt", prompt);
		assert_replaced(r, out, cases[i].pre, cases[i].pw,
		    cases[i].post);
		assert_non_null(strstr(out, "connect to "));
		assert_non_null(strstr(out, ", then report"));
		free(out);
		out = txt(r, prompt);
		assert_replaced(r, out, cases[i].pre, cases[i].pw,
		    cases[i].post);
		free(out);
		/* as an id column (the writer's request id and agent) */
		assert_true(redact_value_is_secret(str_c(cases[i].url)));
	}
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		out = txt(r, plain[i]);
		assert_string_equal(out, plain[i]);
		free(out);
		assert_false(redact_value_is_secret(str_c(plain[i])));
	}
	/* a key as the user (GitHub) and as the password (GitLab) */
	out = txt(r, "git clone https://x-access-token:" GITHUB
	    "@github.com/o/r.git");
	assert_replaced(r, out, "https://x-access-token:", GITHUB,
	    "@github.com/o/r.git");
	free(out);
	redact_free(r);
}

/* 2. A key with a well-known prefix or a JWT ends where its alphabet
 * does, whatever character follows or precedes it (not only white space
 * and a few marks); a character of its alphabet before it makes it part
 * of a word. */
static void
test_token_boundaries(void **state)
{
	static const char *const sk = "sk-Zz12Yy34Xx56Ww78Vv90";
	static const char *const gl = "glpat-Gl12Gl34Gl56Gl78Gl90";
	static const char *const gh =
	    "ghp_Q1w2E3r4T5y6U7i8O9p0A1s2D3f4G5h6J7k8";
	static const char *const plain[] = {
	    "task-0123456789abcdefghijkl", "risk-assessment-2026-q3-final",
	    "desk-abcdefghijklmnop1234", "mask_sk-abcdefghijklmnop1234",
	    "sk-learn-compatible-models-list", "npm_config_registry_url_value",
	    "hf_transfer_enabled_everywhere", "see the eyJ.docs.page" };
	struct redact *r = mk(NULL, 0);
	char in[512], *out;

	(void)state;
	/* one word to the old rule: "**sk-...**" */
	snprintf(in, sizeof(in), "**%s**", sk);
	out = member(r, "note", in);
	assert_replaced(r, out, "**", sk, "**");
	free(out);
	snprintf(in, sizeof(in), "my key is **%s**", sk);
	out = txt(r, in);
	assert_replaced(r, out, "my key is **", sk, "**");
	free(out);
	snprintf(in, sizeof(in), "use %s!", sk);
	out = member(r, "prompt", in);
	assert_replaced(r, out, "use ", sk, "!");
	free(out);
	snprintf(in, sizeof(in), "https://%s@github.com/org/repo.git", gh);
	out = member(r, "remote", in);
	assert_replaced(r, out, "https://", gh, "@github.com/org/repo.git");
	free(out);
	snprintf(in, sizeof(in), "git clone https://oauth2:%s@gitlab.com/g/"
	    "p.git", gl);
	out = txt(r, in);
	assert_replaced(r, out, "https://oauth2:", gl, "@gitlab.com/g/p.git");
	free(out);
	/* the same HMAC as the key alone: equal values still match */
	out = member(r, "k", sk);
	assert_string_equal(out, hmac_of(r, sk));
	free(out);
	/* a JWT followed by '!', inside markup, and with a full stop */
	out = member(r, "x", JWT "!");
	assert_replaced(r, out, "", JWT, "!");
	free(out);
	out = txt(r, "token <b>" JWT "</b>. Next");
	assert_replaced(r, out, "<b>", JWT, "</b>. Next");
	free(out);
	out = txt(r, "it is " JWT ".");
	assert_replaced(r, out, "it is ", JWT, ".");
	free(out);
	/* an AWS key id ends where capitals and digits do */
	out = txt(r, "id=" AWS "/x");
	assert_replaced(r, out, "id=", AWS, "/x");
	free(out);
	/* words, not keys */
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++) {
		out = txt(r, plain[i]);
		assert_string_equal(out, plain[i]);
		free(out);
		out = member(r, "note", plain[i]);
		assert_string_equal(out, plain[i]);
		free(out);
	}
	redact_free(r);
}

/* 3. More names that hold secrets, plurals, session ids; identifiers
 * and counts stay. */
static void
test_names_more(void **state)
{
	static const char *const secret[] = { "pass", "pw", "passcode",
	    "db_pass", "dbPass", "userPw", "api_keys", "apiKeys", "tokens",
	    "access_tokens", "secrets", "passwords", "cookies", "cookie",
	    "set_cookie", "jwt", "id_jwt", "bearer", "auth_header",
	    "authHeader", "authentication", "x-auth", "X-Auth", "basic_auth",
	    "otp", "totp", "otp_code", "otpCode", "mfa_code", "email_otp",
	    "pin", "pin_code", "cardPin", "cvv", "card_cvv", "cvc",
	    "ssh_key", "sshKey", "master_key", "encryption_key",
	    "encryptionKey", "private_key", "privateKey", "private-key",
	    "priv_key", "private_keys", "signature", "signatures", "sig",
	    "request_sig", "sessionId", "session_id", "session-id",
	    "PHPSESSID", "JSESSIONID", "ASP.NET_SessionId", "sid", "pword",
	    "client_credentials", "MAX_TOKEN_SECRET", "AccountKey",
	    "account_key", "storage-account-key", "SharedKey",
	    "SharedAccessKey", "shared_key", "AccessKey" };
	static const char *const plain[] = { "id", "user_id", "request_id",
	    "task_id", "decision_id", "subject_id", "client_id", "userId",
	    "kid", "jti", "max_tokens", "maxTokens", "prompt_tokens",
	    "completion_tokens", "total_tokens", "input_tokens",
	    "output_tokens", "max_completion_tokens", "maxOutputTokens",
	    "n_tokens", "token_type", "token_count", "passport", "bypass",
	    "compass", "oauth", "OAuth", "spin", "design", "config", "session",
	    "sessions", "user_sid", "ssid", "signed", "signature_algorithm",
	    "prompt", "arguments", "reasons", "calls_used", "dry_run",
	    "prompt_bytes", "policy_hash", "deny_reason", "errors",
	    "account", "account_id", "shared", "key", "keyword", "monkey" };

	(void)state;
	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		if (!redact_name_is_secret(str_c(secret[i])))
			fail_msg("%s is not found secret", secret[i]);
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		if (redact_name_is_secret(str_c(plain[i])))
			fail_msg("%s is found secret", plain[i]);
	/* a session id under an "...id" name, low entropy: still hidden */
	{
		struct redact *r = mk(NULL, 0);
		char *out = member(r, "sessionId", "abc123");

		assert_string_equal(out, hmac_of(r, "abc123"));
		free(out);
		out = member(r, "user_id", "abc123");
		assert_string_equal(out, "abc123");
		free(out);
		out = txt(r, "login with pass=PassEq1234 now");
		assert_replaced(r, out, "pass=", "PassEq1234", " now");
		free(out);
		redact_free(r);
	}
}

/* 4. A secret across the cut of a long text: redacted first, then cut;
 * the cut never leaves part of an HMAC. */
static void
test_cut(void **state)
{
	struct redact *r = mk(NULL, 0);
	char big[400], *red;
	size_t cut;

	(void)state;
	/* "c c c ... sk-proj-..." with the key across byte 300 */
	memset(big, 0, sizeof(big));
	for (size_t i = 0; i < 290; i += 2)
		memcpy(big + i, "c ", 2);
	memcpy(big + 290, OPENAI " tail", strlen(OPENAI " tail"));
	red = redact_text(r, str_c(big));
	assert_non_null(red);
	cut = redact_cut(str_c(red), 300);
	/* the HMAC started at 290: it does not fit, it goes whole */
	assert_int_equal(cut, 290);
	assert_null(memmem(red, cut, "sk-", 3));
	free(red);
	/* a cut that fits whole HMACs keeps them; short text stays */
	assert_int_equal(redact_cut(str_c(hmac_of(r, "x")), 69), 69);
	assert_int_equal(redact_cut(str_c(hmac_of(r, "x")), 68), 0);
	assert_int_equal(redact_cut(STR_LIT("abc"), 300), 3);
	/* and not inside a UTF-8 character */
	assert_int_equal(redact_cut(STR_LIT("a\xc3\xa9"), 2), 1);
	redact_free(r);
}

/* 5. OpenPGP, OpenSSH and SSH2 private key blocks like PEM ones; a long
 * random value is not spared for its length. */
static void
test_key_blocks(void **state)
{
	static const char *const blocks[] = {
	    "-----BEGIN PGP PRIVATE KEY BLOCK-----\n\nlQOYBGpgpBODYsecretZZZ\n"
	    "=ab12\n-----END PGP PRIVATE KEY BLOCK-----",
	    "-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaBODYsecretYYY\n"
	    "-----END OPENSSH PRIVATE KEY-----",
	    "---- BEGIN SSH2 ENCRYPTED PRIVATE KEY ----\nP2/56wAAAsecretXXX\n"
	    "---- END SSH2 ENCRYPTED PRIVATE KEY ----",
	    "-----BEGIN RSA PRIVATE KEY-----\nMIIEpAIBAAKCAQEAsecretWWW\n"
	    "-----END RSA PRIVATE KEY-----" };
	static const char *const body[] = { "pgpBODYsecretZZZ",
	    "BODYsecretYYY", "secretXXX", "secretWWW" };
	struct redact *r = mk(NULL, 0);
	char in[512], *out, *big;
	size_t n = 20000;
	uint32_t x = 12345;

	(void)state;
	for (size_t i = 0; i < sizeof(blocks) / sizeof(blocks[0]); i++) {
		assert_true(redact_value_is_secret(str_c(blocks[i])));
		out = member(r, "data", blocks[i]);
		assert_string_equal(out, hmac_of(r, blocks[i]));
		free(out);
		snprintf(in, sizeof(in), "here:\n%s\nthanks", blocks[i]);
		out = txt(r, in);
		assert_replaced(r, out, "here:\n", blocks[i], "\nthanks");
		assert_null(strstr(out, body[i]));
		free(out);
	}
	/* the words alone are not a key */
	assert_false(redact_value_is_secret(STR_LIT("the PRIVATE KEY is "
	    "missing")));
	/* 20000 random base64 characters: one secret, in a value and in
	 * text */
	big = malloc(n + 1);
	assert_non_null(big);
	for (size_t i = 0; i < n; i++) {
		static const char b64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
		    "ghijklmnopqrstuvwxyz0123456789+/";
		x = x * 1103515245u + 12345u;
		big[i] = b64[(x >> 16) & 63];
	}
	big[n] = '\0';
	assert_true(redact_value_is_secret(str_c(big)));
	out = member(r, "blob", big);
	assert_string_equal(out, hmac_of(r, big));
	free(out);
	memcpy(big, "see: ", 5);
	out = txt(r, big);
	assert_int_equal(strlen(out), 5 + REDACT_HMAC_LEN);
	free(out);
	free(big);
	redact_free(r);
}

/* 5. Secrets in member names: an object with one is replaced as a whole
 * (by the HMAC of its compact, sorted JSON), in the tree and in the
 * dump alike; names that only look random, or are HMACs, stay. */
static void
test_secret_names(void **state)
{
	struct redact *r = mk(NULL, 0);
	char *out;
	static const char *const secret_keys[] = { GITHUB, OPENAI, JWT,
	    "Authorization: Bearer abcdefghijklmnop1234",
	    "password=hunter2xyz", "postgres://app:S3cretPw@db/prod" };

	(void)state;
	for (size_t i = 0; i < sizeof(secret_keys) / sizeof(secret_keys[0]);
	    i++) {
		json_t *f = json_pack("{s:{s:{s:s,s:i}}}", "arguments", "map",
		    secret_keys[i], "x", "n", 1);
		json_t *inner;
		char *in_text, h[REDACT_HMAC_SIZE];

		assert_non_null(f);
		inner = json_object_get(json_object_get(f, "arguments"), "map");
		in_text = json_dumps(inner, JSON_COMPACT | JSON_SORT_KEYS);
		assert_non_null(in_text);
		assert_int_equal(redact_hmac(r, str_c(in_text), h), MANDATE_OK);
		free(in_text);
		check_dump(r, f);
		assert_int_equal(redact_fields(r, f), MANDATE_OK);
		out = json_dumps(f, JSON_COMPACT);
		assert_non_null(out);
		assert_null(strstr(out, secret_keys[i]));
		assert_non_null(strstr(out, h));
		free(out);
		json_decref(f);
	}
	/* digests and random ids as keys, short keys, HMACs: kept */
	out = run(r, "{\"files\":{\"9f86d081884c7d659a2feaa0c55ad015a3bf4f1b2b0"
	    "b822cd15d6c15b0f00a08\":\"a.txt\",\"Zk3Qp9Lm2Xv8Tr5Wn1Yb7Hc4\":2,"
	    "\"hmac:0000000000000000000000000000000000000000000000000000000000"
	    "000000\":3,\"path\":\"/x\"}}");
	assert_non_null(strstr(out, "9f86d081884c7d659a2feaa0c55ad015"));
	assert_non_null(strstr(out, "Zk3Qp9Lm2Xv8Tr5Wn1Yb7Hc4"));
	assert_non_null(strstr(out, "\"path\":\"/x\""));
	free(out);
	redact_free(r);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_values),
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_hmac),
		cmocka_unit_test(test_fields),
		cmocka_unit_test(test_text),
		cmocka_unit_test(test_bad_paths),
		cmocka_unit_test(test_depth),
		cmocka_unit_test(test_dump_random),
		cmocka_unit_test(test_dump_members_random),
		cmocka_unit_test(test_dump_members_refuses),
		cmocka_unit_test(test_jtext_strings),
		cmocka_unit_test(test_dump_refuses),
		cmocka_unit_test(test_key_file),
		cmocka_unit_test(test_url_password),
		cmocka_unit_test(test_token_boundaries),
		cmocka_unit_test(test_names_more),
		cmocka_unit_test(test_cut),
		cmocka_unit_test(test_key_blocks),
		cmocka_unit_test(test_secret_names),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

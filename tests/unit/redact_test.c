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
	    "task_id", "agent", "keyboard", "" };

	(void)state;
	for (size_t i = 0; i < sizeof(secret) / sizeof(secret[0]); i++)
		assert_true(redact_name_is_secret(str_c(secret[i])));
	for (size_t i = 0; i < sizeof(plain) / sizeof(plain[0]); i++)
		assert_false(redact_name_is_secret(str_c(plain[i])));
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

static char *
run(struct redact *r, const char *json)
{
	json_error_t e;
	json_t *f = json_loads(json, 0, &e);
	char *out;

	assert_non_null(f);
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
	    "\"tokens\":[\"" GITHUB "\", \"plain\"],\"deep\":{\"a\":{\"b\":"
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

static void
test_key_file(void **state)
{
	char dir[] = "/tmp/redact_test.XXXXXX", path[128], hexp[128];
	unsigned char k1[REDACT_KEY_LEN], k2[REDACT_KEY_LEN];
	struct stat st;
	int fd;

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/k", dir);
	assert_int_equal(redact_key_load(path, false, k1), MANDATE_ENOTFOUND);
	assert_int_equal(redact_key_load(path, true, k1), MANDATE_OK);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_int_equal(redact_key_load(path, true, k2), MANDATE_OK);
	assert_memory_equal(k1, k2, REDACT_KEY_LEN);   /* kept */
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(redact_key_load(path, false, k2), MANDATE_EINVAL);
	/* 64 hex digits and a newline */
	snprintf(hexp, sizeof(hexp), "%s/h", dir);
	fd = open(hexp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "000102030405060708090a0b0c0d0e0f"
	    "101112131415161718191a1b1c1d1e1f\n", 65), 65);
	close(fd);
	assert_int_equal(redact_key_load(hexp, false, k2), MANDATE_OK);
	assert_int_equal(k2[0], 0);
	assert_int_equal(k2[31], 0x1f);
	unlink(hexp);
	fd = open(hexp, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_int_equal(write(fd, "short", 5), 5);
	close(fd);
	assert_int_equal(redact_key_load(hexp, false, k2), MANDATE_EINVAL);
	unlink(hexp);
	unlink(path);
	rmdir(dir);
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
		cmocka_unit_test(test_key_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

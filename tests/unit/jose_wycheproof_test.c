/*
 * jose_wycheproof_test.c - every Wycheproof vector in the directory given
 * as the first argument (ECDSA P1363, Ed25519, RSA PKCS#1 v1.5 and PSS)
 * through our JWK parser and the raw verifier that JWS verification uses.
 * "valid" must verify, "invalid" must not, "acceptable" is counted either
 * way.  A group whose key our parser refuses counts each of its tests as
 * "rejected".  Prints "N passed, M failed".
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "jose/jose_int.h"
#include "util/status.h"

struct tally {
	size_t passed, failed, acceptable_ok, acceptable_rejected;
	size_t skipped_groups;
};

static int
hexval(char c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* Hex to bytes (malloc'd, at least 1 byte allocated). */
static uint8_t *
unhex(const char *h, size_t *n)
{
	size_t len = strlen(h);
	uint8_t *out = malloc(len / 2 + 1);

	assert_non_null(out);
	assert_int_equal(len % 2, 0);
	for (size_t i = 0; i < len / 2; i++) {
		int hi = hexval(h[2 * i]), lo = hexval(h[2 * i + 1]);

		assert_true(hi >= 0 && lo >= 0);
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	*n = len / 2;
	return out;
}

/* An EC JWK from the hex coordinates (leading zero bytes trimmed or
 * padded to the field size). */
static char *
ec_jwk_from_hex(const json_t *pk, const char *crv, size_t flen)
{
	const char *wx = json_string_value(json_object_get(pk, "wx"));
	const char *wy = json_string_value(json_object_get(pk, "wy"));
	uint8_t x[80] = { 0 }, y[80] = { 0 };
	char xb[128], yb[128], *out;
	size_t xn, yn;
	uint8_t *rx, *ry;

	if (wx == NULL || wy == NULL)
		return NULL;
	rx = unhex(wx, &xn);
	ry = unhex(wy, &yn);
	while (xn > flen && rx[0] == 0) { memmove(rx, rx + 1, --xn); }
	while (yn > flen && ry[0] == 0) { memmove(ry, ry + 1, --yn); }
	if (xn > flen || yn > flen) {
		free(rx);
		free(ry);
		return NULL;
	}
	memcpy(x + flen - xn, rx, xn);
	memcpy(y + flen - yn, ry, yn);
	free(rx);
	free(ry);
	jose_b64url_encode(x, flen, xb, sizeof(xb));
	jose_b64url_encode(y, flen, yb, sizeof(yb));
	out = malloc(512);
	assert_non_null(out);
	snprintf(out, 512, "{\"kty\":\"EC\",\"crv\":\"%s\",\"x\":\"%s\","
	    "\"y\":\"%s\"}", crv, xb, yb);
	return out;
}

static enum jose_alg
sha_alg(const char *sha, enum jose_alg a256, enum jose_alg a384,
    enum jose_alg a512)
{
	if (sha == NULL)
		return JOSE_ALG_UNKNOWN;
	if (strcmp(sha, "SHA-256") == 0)
		return a256;
	if (strcmp(sha, "SHA-384") == 0)
		return a384;
	if (strcmp(sha, "SHA-512") == 0)
		return a512;
	return JOSE_ALG_UNKNOWN;
}

static size_t
hash_len(enum jose_alg alg)
{
	switch (alg) {
	case JOSE_ALG_PS256: return 32;
	case JOSE_ALG_PS384: return 48;
	case JOSE_ALG_PS512: return 64;
	default: return 0;
	}
}

static void
run_group(const char *file, const json_t *g, struct tally *t)
{
	const char *type = json_string_value(json_object_get(g, "type"));
	const char *sha = json_string_value(json_object_get(g, "sha"));
	const json_t *jwk = json_object_get(g, "publicKeyJwk");
	const json_t *tests = json_object_get(g, "tests");
	enum jose_alg alg = JOSE_ALG_UNKNOWN;
	char *jwk_text = NULL;
	struct jose_key *key = NULL;
	enum jose_reason why = JOSE_R_OK;
	size_t i;
	const json_t *tc;

	if (jwk == NULL)
		jwk = json_object_get(g, "keyJwk");
	if (type == NULL || tests == NULL) {
		t->skipped_groups++;
		return;
	}
	if (strcmp(type, "EcdsaP1363Verify") == 0) {
		const json_t *pk = json_object_get(g, "publicKey");
		const char *curve = json_string_value(json_object_get(pk,
		    "curve"));

		if (curve != NULL && strcmp(curve, "secp256r1") == 0 &&
		    sha != NULL && strcmp(sha, "SHA-256") == 0)
			alg = JOSE_ALG_ES256;
		else if (curve != NULL && strcmp(curve, "secp384r1") == 0 &&
		    sha != NULL && strcmp(sha, "SHA-384") == 0)
			alg = JOSE_ALG_ES384;
		else if (curve != NULL && strcmp(curve, "secp521r1") == 0 &&
		    sha != NULL && strcmp(sha, "SHA-512") == 0)
			alg = JOSE_ALG_ES512;
		if (jwk == NULL && alg != JOSE_ALG_UNKNOWN)
			jwk_text = ec_jwk_from_hex(pk,
			    alg == JOSE_ALG_ES256 ? "P-256" :
			    alg == JOSE_ALG_ES384 ? "P-384" : "P-521",
			    alg == JOSE_ALG_ES256 ? 32 :
			    alg == JOSE_ALG_ES384 ? 48 : 66);
	} else if (strcmp(type, "EddsaVerify") == 0) {
		alg = JOSE_ALG_EDDSA;
	} else if (strcmp(type, "RsassaPkcs1Verify") == 0) {
		alg = sha_alg(sha, JOSE_ALG_RS256, JOSE_ALG_RS384,
		    JOSE_ALG_RS512);
	} else if (strcmp(type, "RsassaPssVerify") == 0) {
		const char *mgf_sha = json_string_value(json_object_get(g,
		    "mgfSha"));

		alg = sha_alg(sha, JOSE_ALG_PS256, JOSE_ALG_PS384,
		    JOSE_ALG_PS512);
		/* JWS PSS: MGF1 with the same hash, salt = hash length */
		if (mgf_sha == NULL || strcmp(mgf_sha, sha) != 0 ||
		    (size_t)json_integer_value(json_object_get(g, "sLen")) !=
		    hash_len(alg))
			alg = JOSE_ALG_UNKNOWN;
	}
	if (alg == JOSE_ALG_UNKNOWN) {
		fprintf(stderr, "%s: group of type %s not a JWS algorithm; "
		    "skipped\n", file, type);
		t->skipped_groups++;
		return;
	}
	if (jwk_text == NULL && jwk != NULL)
		jwk_text = json_dumps(jwk, JSON_COMPACT);
	if (jwk_text == NULL ||
	    jose_key_from_jwk(jwk_text, strlen(jwk_text), 0, &key, &why) !=
	    MANDATE_OK) {
		key = NULL;
		fprintf(stderr, "%s: group key refused (%s)\n", file,
		    jose_reason_str(why));
	}
	json_array_foreach(tests, i, tc) {
		const char *result = json_string_value(json_object_get(tc,
		    "result"));
		size_t msg_len, sig_len;
		uint8_t *msg = unhex(json_string_value(json_object_get(tc,
		    "msg")), &msg_len);
		uint8_t *sig = unhex(json_string_value(json_object_get(tc,
		    "sig")), &sig_len);
		bool ok = key != NULL && jose_verify_raw(key, alg, msg,
		    msg_len, sig, sig_len, &why) == MANDATE_OK;

		free(msg);
		free(sig);
		if (strcmp(result, "acceptable") == 0) {
			if (ok)
				t->acceptable_ok++;
			else
				t->acceptable_rejected++;
			t->passed++;
		} else if (ok == (strcmp(result, "valid") == 0)) {
			t->passed++;
		} else {
			t->failed++;
			fprintf(stderr, "FAIL %s tcId %lld (%s): expected %s, "
			    "got %s (%s)\n", file, (long long)json_integer_value(
			    json_object_get(tc, "tcId")),
			    json_string_value(json_object_get(tc, "comment")),
			    result, ok ? "accepted" : "rejected",
			    jose_reason_str(why));
		}
	}
	jose_key_unref(key);
	free(jwk_text);
}

static void
test_wycheproof(void **state)
{
	const char *dir = *state;
	struct tally t = { 0 };
	struct dirent **names = NULL;
	int n, files = 0;

	if (dir == NULL) {
		fprintf(stderr, "usage: jose_wycheproof_test DIR\n");
		fail();
	}
	n = scandir(dir, &names, NULL, alphasort);
	if (n < 0) {
		fprintf(stderr, "Wycheproof directory %s is missing\n", dir);
		fail();
	}
	for (int i = 0; i < n; i++) {
		char path[4096];
		json_t *root, *groups, *g;
		json_error_t err;
		size_t k;
		size_t len = strlen(names[i]->d_name);

		if (len < 5 || strcmp(names[i]->d_name + len - 5, ".json") != 0) {
			free(names[i]);
			continue;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, names[i]->d_name);
		root = json_load_file(path, 0, &err);
		if (root == NULL) {
			fprintf(stderr, "%s: %s\n", path, err.text);
			fail();
		}
		groups = json_object_get(root, "testGroups");
		assert_non_null(groups);
		json_array_foreach(groups, k, g)
			run_group(names[i]->d_name, g, &t);
		json_decref(root);
		files++;
		free(names[i]);
	}
	free(names);
	printf("wycheproof: %d files, %zu skipped groups, acceptable: %zu "
	    "accepted / %zu rejected\n", files, t.skipped_groups,
	    t.acceptable_ok, t.acceptable_rejected);
	printf("%zu passed, %zu failed\n", t.passed, t.failed);
	assert_true(files > 0);
	assert_true(t.passed > 0);
	assert_int_equal(t.failed, 0);
}

int
main(int argc, char **argv)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_prestate(test_wycheproof,
		    argc > 1 ? argv[1] : NULL),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * jose_bench.c - ES256 throughput of the JOSE module, single thread:
 * compact JWS signing, parse + verify, and the same primitives through
 * bare OpenSSL EVP for comparison (the module's overhead is the rest).
 * Usage: jose_bench [iterations]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "jose/jose.h"
#include "util/status.h"

static double
now_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

int
main(int argc, char **argv)
{
	static const char payload[] = "{\"iss\":\"https://mandate.local\","
	    "\"sub\":\"spiffe://dev.local/agent/a\",\"aud\":\"api\","
	    "\"exp\":2000000000,\"iat\":1700000000,\"jti\":\"0123456789\"}";
	long n = argc > 1 ? strtol(argv[1], NULL, 10) : 5000;
	struct jose_key *k = NULL;
	struct arena a;
	struct str tok = STR_NULL;
	char *copy;
	double t0, t1;
	long ok = 0;
	EVP_PKEY *pk = NULL;
	EVP_MD_CTX *m;
	unsigned char sig[80];
	size_t sig_len;

	if (n <= 0)
		n = 5000;
	if (jose_key_generate_es256(STR_LIT("bench"), &k) != MANDATE_OK)
		return 1;
	arena_init(&a, 0);

	t0 = now_s();
	for (long i = 0; i < n; i++) {
		arena_reset(&a);
		if (jose_jws_sign(&a, k, JOSE_ALG_ES256, NULL,
		    STR_LIT(payload), &tok) == MANDATE_OK)
			ok++;
	}
	t1 = now_s();
	printf("jose ES256 sign:          %8.0f/s (%ld ok)\n",
	    (double)n / (t1 - t0), ok);
	copy = strndup(tok.p, tok.n);

	ok = 0;
	t0 = now_s();
	for (long i = 0; i < n; i++) {
		struct jose_jws jws;

		arena_reset(&a);
		if (jose_jws_parse(&a, copy, strlen(copy), 0, &jws, NULL) ==
		    MANDATE_OK && jose_jws_verify(&jws, k, JOSE_ALGS_EC,
		    NULL) == MANDATE_OK)
			ok++;
	}
	t1 = now_s();
	printf("jose ES256 parse+verify:  %8.0f/s (%ld ok)\n",
	    (double)n / (t1 - t0), ok);

	/* bare OpenSSL, same curve and message size */
	pk = EVP_PKEY_Q_keygen(NULL, NULL, "EC", "P-256");
	m = EVP_MD_CTX_new();
	t0 = now_s();
	for (long i = 0; i < n; i++) {
		sig_len = sizeof(sig);
		EVP_DigestSignInit_ex(m, NULL, "SHA256", NULL, NULL, pk, NULL);
		EVP_DigestSign(m, sig, &sig_len, (const unsigned char *)copy,
		    strlen(copy));
	}
	t1 = now_s();
	printf("openssl ES256 sign:       %8.0f/s\n", (double)n / (t1 - t0));
	ok = 0;
	t0 = now_s();
	for (long i = 0; i < n; i++) {
		EVP_DigestVerifyInit_ex(m, NULL, "SHA256", NULL, NULL, pk, NULL);
		if (EVP_DigestVerify(m, sig, sig_len,
		    (const unsigned char *)copy, strlen(copy)) == 1)
			ok++;
	}
	t1 = now_s();
	printf("openssl ES256 verify:     %8.0f/s (%ld ok)\n",
	    (double)n / (t1 - t0), ok);

	EVP_MD_CTX_free(m);
	EVP_PKEY_free(pk);
	free(copy);
	arena_free(&a);
	jose_key_unref(k);
	return 0;
}

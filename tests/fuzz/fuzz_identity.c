/*
 * fuzz_identity.c - the identity verifier's inputs.  The first byte
 * picks the target (mod 3): 0 a SPIFFE trust bundle (loaded through a
 * temporary file, then used for a JWT-SVID and an X.509 chain), 1 a JWT
 * verified by a verifier holding the RFC 7515 A.3 P-256 key for an OIDC
 * issuer and a SPIFFE trust domain, 2 a DER certificate chain (2-byte
 * big-endian lengths) for identity_verify_x509.  The rest is the input.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "identity/identity.h"
#include "util/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define FUZZ_NOW 1800000000LL

static const char jwks[] = "{\"keys\":[{\"use\":\"jwt-svid\","
    "\"kid\":\"k1\",\"kty\":\"EC\",\"crv\":\"P-256\","
    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}],"
    "\"spiffe_refresh_hint\":60}";
static const char *const auds[] = { "mandate" };

static void
issuers(struct config_issuer is[2], const char *file)
{
	memset(is, 0, 2 * sizeof(*is));
	for (int i = 0; i < 2; i++) {
		is[i].audiences.v = auds;
		is[i].audiences.n = 1;
		is[i].algorithms = CONFIG_ALG_ALL;
		is[i].leeway = 60;
		is[i].max_token_size = 8192;
		is[i].jwks_refresh = 300;
		is[i].jwks_max_stale = 86400;
	}
	is[0].name = "oidc";
	is[0].kind = CONFIG_ISSUER_OIDC;
	is[0].issuer = "https://issuer.example";
	is[0].jwks_file = file;
	is[1].name = "spire";
	is[1].kind = CONFIG_ISSUER_SPIFFE;
	is[1].trust_domain = "example.org";
	is[1].bundle_file = file;
}

static int
write_tmp(char path[64], const uint8_t *p, size_t n)
{
	int fd;

	snprintf(path, 64, "/tmp/fuzz_identity_XXXXXX");
	if ((fd = mkstemp(path)) < 0)
		return -1;
	if (n > 0 && write(fd, p, n) != (ssize_t)n) {
		close(fd);
		unlink(path);
		return -1;
	}
	close(fd);
	return 0;
}

static void
run(const char *bundle, size_t bundle_len, int mode, const uint8_t *in,
    size_t n)
{
	struct config_issuer is[2];
	struct config_identity ci = { .issuers = is, .n_issuers = 2,
	    .token_cache_size = 4 };
	struct identity_verifier *v = NULL;
	struct identity_principal p;
	struct identity_der chain[IDENTITY_MAX_CHAIN];
	struct arena a;
	char path[64];
	size_t n_chain = 0, off = 0;

	if (write_tmp(path, (const uint8_t *)bundle, bundle_len) != 0)
		return;
	issuers(is, path);
	arena_init(&a, 1u << 22);
	if (identity_new(&ci, NULL, &v) != MANDATE_OK)
		goto out;
	if (mode == 1) {
		/* twice: the second may come from the cache */
		for (int i = 0; i < 2; i++)
			if (identity_verify_jwt(v, (const char *)in, n,
			    FUZZ_NOW, &a, &p, NULL) == MANDATE_OK &&
			    p.subject.n == 0)
				abort();
		identity_cache_forget(v, (const char *)in, n);
	} else {
		while (n_chain < IDENTITY_MAX_CHAIN && off + 2 <= n) {
			size_t len = (size_t)in[off] << 8 | in[off + 1];

			off += 2;
			if (len > n - off)
				len = n - off;
			chain[n_chain].der = in + off;
			chain[n_chain].len = len;
			n_chain++;
			off += len;
		}
		if (identity_verify_x509(v, chain, n_chain, FUZZ_NOW, &a, &p,
		    NULL) == MANDATE_OK && p.subject.n == 0)
			abort();
	}
out:
	identity_free(v);
	arena_free(&a);
	unlink(path);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char tok[] = "eyJhbGciOiJFUzI1NiJ9.e30.AAAA";

	if (size < 1 || size > 65536)
		return 0;
	switch (data[0] % 3) {
	case 0:
		run((const char *)data + 1, size - 1, 1,
		    (const uint8_t *)tok, sizeof(tok) - 1);
		run((const char *)data + 1, size - 1, 2, NULL, 0);
		break;
	case 1:
		run(jwks, sizeof(jwks) - 1, 1, data + 1, size - 1);
		break;
	default:
		run(jwks, sizeof(jwks) - 1, 2, data + 1, size - 1);
		break;
	}
	return 0;
}

/*
 * sts_bench.c - helper of bench/sts_bench.sh, the token-exchange
 * benchmark.  Two commands:
 *
 *   sts_bench prepare DIR N
 *       make a test SPIFFE trust domain (bench.test): an ES256 key, its
 *       JWT-SVID bundle DIR/bundle.json, and JWT-SVIDs for the agent
 *       spiffe://bench.test/agent: DIR/same.txt (one token) and
 *       DIR/distinct.txt (N different tokens, one a line), valid 1 h.
 *   sts_bench identity DIR N
 *       the identity module's verifier in-process on those tokens:
 *       verifications/s of N distinct tokens (cold: signature and claims)
 *       and of the same token N times (answered by the verified-token
 *       cache), and the ratio.
 *
 * Not a test: it prints figures and fails only when something breaks.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "config/config.h"
#include "identity/identity.h"
#include "jose/jose.h"
#include "util/arena.h"
#include "util/diag.h"
#include "util/status.h"

#define BENCH_MAX_TOKENS 200000
#define BENCH_TD "bench.test"
#define BENCH_AGENT "spiffe://bench.test/agent"

static double
mono_s(void)
{
	struct timespec t;

	clock_gettime(CLOCK_MONOTONIC, &t);
	return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static int
write_text(const char *dir, const char *name, const char *text, size_t n)
{
	char path[4096];
	FILE *f;
	int ok;

	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path))
		return 1;
	if ((f = fopen(path, "w")) == NULL) {
		perror(path);
		return 1;
	}
	ok = fwrite(text, 1, n, f) == n;
	ok = (fclose(f) == 0) && ok;
	return ok ? 0 : 1;
}

static int
prepare(const char *dir, long n)
{
	struct jose_key *k = NULL;
	struct jose_sign_opts so;
	struct arena a;
	struct str jwk, tok;
	char *bundle = NULL, payload[512];
	FILE *f = NULL;
	char path[4096];
	long now = (long)time(NULL);
	int rc = 1;

	arena_init(&a, 0);
	memset(&so, 0, sizeof(so));
	if (jose_key_generate_es256(STR_LIT("bench1"), &k) != MANDATE_OK ||
	    jose_key_public_jwk(k, &a, &jwk) != MANDATE_OK || jwk.n < 2)
		goto out;
	/* the bundle's key: the JWK plus "use":"jwt-svid" */
	if ((bundle = malloc(jwk.n + 128)) == NULL)
		goto out;
	snprintf(bundle, jwk.n + 128, "{\"keys\":[%.*s,\"use\":\"jwt-svid\"}],"
	    "\"spiffe_refresh_hint\":3600}\n", (int)(jwk.n - 1), jwk.p);
	if (write_text(dir, "bundle.json", bundle, strlen(bundle)) != 0)
		goto out;
	if (snprintf(path, sizeof(path), "%s/distinct.txt", dir) >=
	    (int)sizeof(path) || (f = fopen(path, "w")) == NULL)
		goto out;
	for (long i = 0; i <= n; i++) {
		int pn = snprintf(payload, sizeof(payload), "{\"sub\":\"%s\","
		    "\"aud\":[\"mandate\"],\"iat\":%ld,\"exp\":%ld,"
		    "\"jti\":\"bench-%ld\"}", BENCH_AGENT, now, now + 3600, i);

		if (jose_jws_sign(&a, k, JOSE_ALG_ES256, &so,
		    str_make(payload, (size_t)pn), &tok) != MANDATE_OK)
			goto out;
		if (i == n) {
			/* one more, not among the distinct ones */
			char line[8192];
			int ln = snprintf(line, sizeof(line), "%.*s\n",
			    (int)tok.n, tok.p);
			if (ln <= 0 || (size_t)ln >= sizeof(line) ||
			    write_text(dir, "same.txt", line, (size_t)ln) != 0)
				goto out;
		} else {
			fprintf(f, "%.*s\n", (int)tok.n, tok.p);
		}
		arena_reset(&a);
	}
	rc = 0;
out:
	if (f != NULL && fclose(f) != 0)
		rc = 1;
	if (rc != 0)
		fprintf(stderr, "sts_bench prepare: failed\n");
	free(bundle);
	jose_key_unref(k);
	arena_free(&a);
	return rc;
}

/* Read DIR/name's lines into a malloc'd array (up to max). */
static char **
read_lines(const char *dir, const char *name, long max, long *n_out,
    char **buf_out)
{
	char path[4096], *buf = NULL, **v = NULL;
	size_t cap = 0, len = 0, got;
	FILE *f;
	long n = 0;

	*n_out = 0;
	*buf_out = NULL;
	if (snprintf(path, sizeof(path), "%s/%s", dir, name) >=
	    (int)sizeof(path) || (f = fopen(path, "r")) == NULL)
		return NULL;
	for (;;) {
		if (len + 65536 + 1 > cap) {
			char *nb = realloc(buf, cap = (cap ? cap * 2 : 1 << 20));
			if (nb == NULL)
				goto fail;
			buf = nb;
		}
		got = fread(buf + len, 1, cap - len - 1, f);
		if (got == 0)
			break;
		len += got;
	}
	buf[len] = '\0';
	if ((v = calloc((size_t)max, sizeof(*v))) == NULL)
		goto fail;
	for (char *p = buf; *p != '\0' && n < max;) {
		char *e = strchr(p, '\n');
		v[n++] = p;
		if (e == NULL)
			break;
		*e = '\0';
		p = e + 1;
	}
	fclose(f);
	*n_out = n;
	*buf_out = buf;
	return v;
fail:
	fclose(f);
	free(buf);
	return NULL;
}

static int
identity_bench(const char *dir, long n)
{
	struct config *cfg = NULL;
	struct identity_verifier *v = NULL;
	struct identity_principal pr;
	struct identity_cache_stats st;
	struct diag_list dl;
	struct arena a;
	char yaml[4096], *dbuf = NULL, *sbuf = NULL, **dist = NULL,
	    **same = NULL;
	long nd = 0, ns = 0, cached = 0;
	int64_t now = (int64_t)time(NULL);
	double t0, cold, warm;
	int rc = 1, yn;

	arena_init(&a, 0);
	diag_init(&dl);
	yn = snprintf(yaml, sizeof(yaml), "identity:\n  token_cache_size: "
	    "%ld\n  issuers:\n    - name: bench\n      kind: spiffe\n"
	    "      trust_domain: " BENCH_TD "\n      bundle_file: %s/bundle.json\n"
	    "      audiences: [mandate]\n", n + 16, dir);
	if (yn <= 0 || (size_t)yn >= sizeof(yaml) ||
	    config_parse("bench", yaml, (size_t)yn, &cfg, &dl) != MANDATE_OK ||
	    identity_new(&cfg->identity, NULL, &v) != MANDATE_OK) {
		diag_print(&dl, stderr);
		goto out;
	}
	dist = read_lines(dir, "distinct.txt", n, &nd, &dbuf);
	same = read_lines(dir, "same.txt", 1, &ns, &sbuf);
	if (dist == NULL || same == NULL || nd < 1 || ns != 1)
		goto out;

	t0 = mono_s();
	for (long i = 0; i < nd; i++) {
		if (identity_verify_jwt(v, dist[i], strlen(dist[i]), now, &a, &pr,
		    NULL) != MANDATE_OK)
			goto out;
		arena_reset(&a);
	}
	cold = (double)nd / (mono_s() - t0);

	/* once to fill the cache, then nd more that it answers */
	if (identity_verify_jwt(v, same[0], strlen(same[0]), now, &a, &pr,
	    NULL) != MANDATE_OK)
		goto out;
	t0 = mono_s();
	for (long i = 0; i < nd; i++) {
		if (identity_verify_jwt(v, same[0], strlen(same[0]), now, &a, &pr,
		    NULL) != MANDATE_OK)
			goto out;
		cached += pr.from_cache;
		arena_reset(&a);
	}
	warm = (double)nd / (mono_s() - t0);
	identity_cache_stats(v, &st);
	printf("identity: JWT-SVID verifications/s, one thread, %ld tokens\n",
	    nd);
	printf("  distinct tokens (cold: signature + claims) %12.0f /s  "
	    "%8.2f us\n", cold, 1e6 / cold);
	printf("  same token (verified-token cache)          %12.0f /s  "
	    "%8.2f us  (%ld of %ld from the cache)\n", warm, 1e6 / warm,
	    cached, nd);
	printf("  cached re-verification speed-up: %.1fx  (target >= 20x)\n",
	    warm / cold);
	rc = cached == nd ? 0 : 1;
out:
	if (rc != 0)
		fprintf(stderr, "sts_bench identity: failed\n");
	identity_free(v);
	config_free(cfg);
	free(dist);
	free(same);
	free(dbuf);
	free(sbuf);
	arena_free(&a);
	return rc;
}

int
main(int argc, char **argv)
{
	long n;
	char *end;

	if (argc != 4) {
		fprintf(stderr, "usage: sts_bench prepare|identity DIR N\n");
		return 2;
	}
	n = strtol(argv[3], &end, 10);
	if (*end != '\0' || n < 1 || n > BENCH_MAX_TOKENS) {
		fprintf(stderr, "sts_bench: N must be 1..%d\n", BENCH_MAX_TOKENS);
		return 2;
	}
	if (strcmp(argv[1], "prepare") == 0)
		return prepare(argv[2], n);
	if (strcmp(argv[1], "identity") == 0)
		return identity_bench(argv[2], n);
	fprintf(stderr, "usage: sts_bench prepare|identity DIR N\n");
	return 2;
}

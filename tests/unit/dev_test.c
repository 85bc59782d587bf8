/*
 * dev_test.c - unit tests of src/dev: names and durations, the key
 * files and their modes, the issuers added to the configuration, and
 * tokens minted with the keys verified by the identity module.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "config/config.h"
#include "dev/dev.h"
#include "identity/identity.h"
#include "util/status.h"

static char tmpdir[64];

static int
setup_dir(void **state)
{
	(void)state;
	snprintf(tmpdir, sizeof(tmpdir), "/tmp/dev_test.XXXXXX");
	return mkdtemp(tmpdir) == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

static void
test_names(void **state)
{
	static const struct { const char *s; bool ok; } t[] = {
		{ "demo", true }, { "a.b_c-D9", true }, { "x", true },
		{ "", false }, { ".", false }, { "..", false }, { "a/b", false },
		{ "a b", false }, { "é", false }, { "a:b", false },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		    true },
		{ "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
		    false },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++)
		assert_int_equal(dev_name_ok(t[i].s), t[i].ok);
	assert_false(dev_name_ok(NULL));
}

static void
test_ttl(void **state)
{
	static const struct { const char *s; int64_t v; } t[] = {
		{ "300", 300 }, { "300s", 300 }, { "5m", 300 }, { "1h", 3600 },
		{ "24h", 86400 }, { "1", 1 },
		{ "0", -1 }, { "25h", -1 }, { "86401", -1 }, { "5x", -1 },
		{ "", -1 }, { "-5", -1 }, { "m", -1 }, { "5m5", -1 },
		{ " 5", -1 }, { "99999999999999999999", -1 },
	};
	int64_t v;

	(void)state;
	for (size_t i = 0; i < sizeof(t) / sizeof(t[0]); i++) {
		int r = dev_parse_ttl(t[i].s, &v);
		if (t[i].v < 0) {
			assert_int_equal(r, MANDATE_EINVAL);
		} else {
			assert_int_equal(r, MANDATE_OK);
			assert_int_equal(v, t[i].v);
		}
	}
}

static struct config *
dev_config(const char *data_dir)
{
	struct config *cfg = NULL;

	assert_int_equal(config_default(&cfg), MANDATE_OK);
	cfg->data_dir = arena_cstrdup(&cfg->arena, data_dir);
	assert_non_null(cfg->data_dir);
	return cfg;
}

static mode_t
mode_of(const char *dir, const char *file)
{
	char p[512];
	struct stat st;

	snprintf(p, sizeof(p), "%s/dev%s%s", dir, file ? "/" : "",
	    file ? file : "");
	assert_int_equal(stat(p, &st), 0);
	return st.st_mode & 0777;
}

static void
test_setup_and_mint(void **state)
{
	struct config *cfg = dev_config(tmpdir), *cfg2;
	struct identity_verifier *v = NULL;
	struct identity_principal pr;
	enum identity_reason why;
	struct dev_instance inst;
	struct arena a;
	struct str tok;
	char err[256], kid1[128];
	int64_t now = (int64_t)time(NULL);
	FILE *fp;
	size_t n;

	(void)state;
	assert_int_equal(dev_setup(cfg, err, sizeof(err)), MANDATE_OK);
	assert_int_equal(mode_of(tmpdir, NULL), 0700);
	assert_int_equal(mode_of(tmpdir, DEV_SPIFFE_KEY), 0600);
	assert_int_equal(mode_of(tmpdir, DEV_OIDC_KEY), 0600);
	assert_int_equal(cfg->identity.n_issuers, 2);
	assert_string_equal(cfg->identity.issuers[0].name, DEV_ISSUER_SPIFFE);
	assert_string_equal(cfg->identity.issuers[1].name, DEV_ISSUER_PEOPLE);
	assert_int_equal(cfg->api_auth.bearer_issuers.n, 1);
	assert_string_equal(cfg->api_auth.bearer_issuers.v[0], "dev");
	assert_string_equal(cfg->tokens.audience, DEV_TOKEN_AUDIENCE);

	arena_init(&a, 1u << 20);
	assert_int_equal(dev_instance_read(tmpdir, &a, &inst, err,
	    sizeof(err)), MANDATE_OK);
	assert_string_equal(inst.audience, cfg->tokens.issuer);
	assert_string_equal(inst.oidc_issuer, cfg->dev.oidc_issuer);
	assert_string_equal(inst.trust_domain, "dev.local");

	assert_int_equal(identity_new(&cfg->identity, NULL, &v), MANDATE_OK);
	/* an agent's JWT-SVID */
	assert_int_equal(dev_mint(tmpdir, DEV_KEY_SPIFFE, NULL,
	    "spiffe://dev.local/agents/demo", inst.audience, 300, now, &a,
	    &tok, err, sizeof(err)), MANDATE_OK);
	assert_int_equal(identity_verify_jwt(v, tok.p, tok.n, now, &a, &pr,
	    &why), MANDATE_OK);
	assert_int_equal(pr.kind, IDENTITY_KIND_SPIFFE);
	assert_true(str_eq_c(pr.subject, "spiffe://dev.local/agents/demo"));
	assert_true(str_eq_c(pr.issuer_name, DEV_ISSUER_SPIFFE));
	/* ... expired later, and refused with another audience */
	assert_int_not_equal(identity_verify_jwt(v, tok.p, tok.n, now + 1000,
	    &a, &pr, &why), MANDATE_OK);
	assert_int_equal(dev_mint(tmpdir, DEV_KEY_SPIFFE, NULL,
	    "spiffe://dev.local/agents/demo", "elsewhere", 300, now, &a,
	    &tok, err, sizeof(err)), MANDATE_OK);
	assert_int_not_equal(identity_verify_jwt(v, tok.p, tok.n, now, &a, &pr,
	    &why), MANDATE_OK);
	/* a person's token */
	assert_int_equal(dev_mint(tmpdir, DEV_KEY_OIDC, inst.oidc_issuer,
	    "dev-user:alice", inst.audience, 60, now, &a, &tok, err,
	    sizeof(err)), MANDATE_OK);
	assert_int_equal(identity_verify_jwt(v, tok.p, tok.n, now, &a, &pr,
	    &why), MANDATE_OK);
	assert_int_equal(pr.kind, IDENTITY_KIND_OIDC);
	assert_true(str_eq_c(pr.subject, "dev-user:alice"));
	assert_true(str_eq_c(pr.issuer_name, DEV_ISSUER_PEOPLE));
	/* its people are dev-user:NAME, whatever a holder of the key signs:
	 * a bare "alice" would be a configured issuer's alice */
	assert_int_equal(dev_mint(tmpdir, DEV_KEY_OIDC, inst.oidc_issuer,
	    "alice", inst.audience, 60, now, &a, &tok, err, sizeof(err)),
	    MANDATE_OK);
	assert_int_equal(identity_verify_jwt(v, tok.p, tok.n, now, &a, &pr,
	    &why), MANDATE_EINVAL);
	assert_int_equal(why, IDENTITY_R_SUBJECT_PREFIX);
	/* signed with the other key: refused */
	assert_int_equal(dev_mint(tmpdir, DEV_KEY_SPIFFE, inst.oidc_issuer,
	    "dev-user:alice", inst.audience, 60, now, &a, &tok, err,
	    sizeof(err)), MANDATE_OK);
	assert_int_not_equal(identity_verify_jwt(v, tok.p, tok.n, now, &a, &pr,
	    &why), MANDATE_OK);
	identity_free(v);

	/* a second start reuses the keys */
	fp = fopen(cfg->identity.issuers[0].bundle_file, "r");
	assert_non_null(fp);
	n = fread(kid1, 1, sizeof(kid1) - 1, fp);
	kid1[n] = '\0';
	fclose(fp);
	cfg2 = dev_config(tmpdir);
	assert_int_equal(dev_setup(cfg2, err, sizeof(err)), MANDATE_OK);
	{
		char kid2[128];
		fp = fopen(cfg2->identity.issuers[0].bundle_file, "r");
		assert_non_null(fp);
		n = fread(kid2, 1, sizeof(kid2) - 1, fp);
		kid2[n] = '\0';
		fclose(fp);
		assert_string_equal(kid1, kid2);
	}
	config_free(cfg2);

	/* a private key readable by others is refused */
	{
		char p[512];
		snprintf(p, sizeof(p), "%s/dev/%s", tmpdir, DEV_OIDC_KEY);
		assert_int_equal(chmod(p, 0644), 0);
		assert_int_equal(dev_mint(tmpdir, DEV_KEY_OIDC, "i", "s", "a", 60,
		    now, &a, &tok, err, sizeof(err)), MANDATE_EINVAL);
		cfg2 = dev_config(tmpdir);
		assert_int_not_equal(dev_setup(cfg2, err, sizeof(err)),
		    MANDATE_OK);
		config_free(cfg2);
		assert_int_equal(chmod(p, 0600), 0);
	}
	/* bad arguments */
	assert_int_equal(dev_mint(tmpdir, DEV_KEY_OIDC, NULL, "s", "a", 60, now,
	    &a, &tok, err, sizeof(err)), MANDATE_EINVAL);
	assert_int_equal(dev_mint(tmpdir, DEV_KEY_SPIFFE, NULL, "s", "a", 0,
	    now, &a, &tok, err, sizeof(err)), MANDATE_EINVAL);
	arena_free(&a);
	config_free(cfg);
}

static void
test_no_key(void **state)
{
	char dir[128], err[256];
	struct arena a;
	struct str tok;
	struct dev_instance inst;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/empty", tmpdir);
	assert_int_equal(mkdir(dir, 0700), 0);
	arena_init(&a, 1u << 16);
	assert_int_equal(dev_mint(dir, DEV_KEY_SPIFFE, NULL, "spiffe://x/y",
	    "a", 60, 0, &a, &tok, err, sizeof(err)), MANDATE_ENOTFOUND);
	/* no instance.json: the defaults of 127.0.0.1:8700 */
	assert_int_equal(dev_instance_read(dir, &a, &inst, err, sizeof(err)),
	    MANDATE_OK);
	assert_string_equal(inst.audience, "http://127.0.0.1:8700");
	arena_free(&a);
}

static void
test_reserved_names_and_disabled(void **state)
{
	struct config *cfg = NULL;
	struct diag_list dl;
	char err[256], yaml[512];

	(void)state;
	/* a configured instance without dev: nothing to set up */
	diag_init(&dl);
	assert_int_equal(config_parse("t.yaml", "", 0, &cfg, &dl), MANDATE_OK);
	assert_false(cfg->dev.enabled);
	assert_int_equal(dev_setup(cfg, err, sizeof(err)), MANDATE_EINVAL);
	config_free(cfg);
	/* an issuer named like a development one */
	snprintf(yaml, sizeof(yaml), "data_dir: %s/r\ndev:\n  enabled: true\n"
	    "identity:\n  issuers:\n    - name: dev\n      kind: oidc\n"
	    "      issuer: https://x.test\n      jwks_file: /nonexistent\n"
	    "      audiences: [m]\n", tmpdir);
	diag_init(&dl);
	assert_int_equal(config_parse("t.yaml", yaml, strlen(yaml), &cfg, &dl),
	    MANDATE_OK);
	assert_int_equal(dev_setup(cfg, err, sizeof(err)), MANDATE_EINVAL);
	assert_non_null(strstr(err, "reserved"));
	config_free(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_names),
		cmocka_unit_test(test_ttl),
		cmocka_unit_test(test_setup_and_mint),
		cmocka_unit_test(test_no_key),
		cmocka_unit_test(test_reserved_names_and_disabled),
	};
	return cmocka_run_group_tests(tests, setup_dir, teardown_dir);
}

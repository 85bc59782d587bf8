/*
 * config_test.c - the YAML configuration: defaults, every value type,
 * checks across keys, and bad input reported at its line and column.
 * Data-driven: YAML text -> the rendered value of a named field, and YAML
 * text -> (line, column, message substring).  The example file in
 * examples/ must load without errors.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "config/config_int.h"
#include "util/file.h"
#include "util/status.h"

/* The value of a named field as text, for table-driven comparisons. */
static void
render(const struct config *c, const char *key, char *buf, size_t size)
{
#define S(name, expr) if (strcmp(key, name) == 0) { \
	snprintf(buf, size, "%s", (expr) ? (expr) : "(null)"); return; }
#define U(name, expr) if (strcmp(key, name) == 0) { \
	snprintf(buf, size, "%llu", (unsigned long long)(expr)); return; }
	S("data_dir", c->data_dir)
	S("server.listen", c->server.listen)
	S("server.listen_host", c->server.listen_host)
	U("server.listen_port", c->server.listen_port)
	U("server.threads", c->server.threads)
	U("server.max_body_size", c->server.max_body_size)
	U("server.connection_memory", c->server.connection_memory)
	U("server.request_timeout", c->server.request_timeout)
	U("server.max_connections", c->server.max_connections)
	U("server.max_per_ip", c->server.max_per_ip)
	S("server.tls.cert_file", c->server.tls.cert_file)
	U("server.tls.client_auth", c->server.tls.client_auth)
	U("store.driver", c->store.driver)
	S("store.path", c->store.path)
	S("store.dsn", c->store.dsn)
	U("policies.platform.n", c->policies.platform.n)
	S("policies.platform.0", c->policies.platform.n ?
	    c->policies.platform.v[0] : NULL)
	U("policies.tool_servers.n", c->policies.n_tool_servers)
	S("policies.tool_servers.0.name", c->policies.n_tool_servers ?
	    c->policies.tool_servers[0].name : NULL)
	U("policies.tool_servers.1.paths.n", c->policies.n_tool_servers > 1 ?
	    c->policies.tool_servers[1].paths.n : 0)
	S("policies.schema", c->policies.schema_file)
	U("policies.watch", c->policies.watch)
	U("policies.reload_interval", c->policies.reload_interval)
	U("policies.on_forbid_error", c->policies.on_forbid_error)
	U("tools.output_labels.n", c->tools.n_output_labels)
	S("tools.output_labels.0.action", c->tools.n_output_labels ?
	    c->tools.output_labels[0].action : NULL)
	U("tools.output_labels.1.labels.n", c->tools.n_output_labels > 1 ?
	    c->tools.output_labels[1].labels.n : 0)
	U("identity.n_issuers", c->identity.n_issuers)
	S("issuer0.name", c->identity.n_issuers ?
	    c->identity.issuers[0].name : NULL)
	U("issuer0.kind", c->identity.n_issuers ?
	    c->identity.issuers[0].kind : 99)
	U("issuer0.algorithms", c->identity.n_issuers ?
	    c->identity.issuers[0].algorithms : 0)
	U("issuer0.leeway", c->identity.n_issuers ?
	    c->identity.issuers[0].leeway : 0)
	U("issuer0.max_token_size", c->identity.n_issuers ?
	    c->identity.issuers[0].max_token_size : 0)
	S("issuer0.trust_domain", c->identity.n_issuers ?
	    c->identity.issuers[0].trust_domain : NULL)
	U("issuer0.audiences.n", c->identity.n_issuers ?
	    c->identity.issuers[0].audiences.n : 0)
	S("issuer0.subject_prefix", c->identity.n_issuers ?
	    c->identity.issuers[0].subject_prefix : NULL)
	S("issuer1.subject_prefix", c->identity.n_issuers > 1 ?
	    c->identity.issuers[1].subject_prefix : NULL)
	U("identity.token_cache_size", c->identity.token_cache_size)
	S("tokens.issuer", c->tokens.issuer)
	S("tokens.audience", c->tokens.audience)
	U("tokens.default_ttl", c->tokens.default_ttl)
	U("tokens.max_ttl", c->tokens.max_ttl)
	S("tokens.key_dir", c->tokens.key_dir)
	U("tokens.rotation_overlap", c->tokens.rotation_overlap)
	U("tokens.publish_delay", c->tokens.publish_delay)
	U("tokens.dpop.algorithms", c->tokens.dpop.algorithms)
	U("tokens.dpop.iat_window", c->tokens.dpop.iat_window)
	U("tokens.dpop.require", c->tokens.dpop.require)
	U("tasks.default_ttl", c->tasks.default_ttl)
	U("tasks.max_ttl", c->tasks.max_ttl)
	U("tasks.retention", c->tasks.retention)
	U("tasks.default_call_budget", c->tasks.default_call_budget)
	U("tasks.max_intents", c->tasks.max_intents)
	U("api_auth.open_on_loopback", c->api_auth.open_on_loopback)
	U("api_auth.mtls_identities.n", c->api_auth.mtls_identities.n)
	U("authzen.authenticate", c->authzen.authenticate)
	U("dev.enabled", c->dev.enabled)
	S("dev.trust_domain", c->dev.trust_domain)
	S("dev.oidc_issuer", c->dev.oidc_issuer)
	U("logging.level", c->logging.level)
	U("logging.format", c->logging.format)
	U("logging.audit", c->logging.audit)
	U("audit.indexes.n", c->audit.indexes.n)
	S("audit.indexes1", c->audit.indexes.n > 1 ?
	    c->audit.indexes.v[1] : NULL)
#undef S
#undef U
	fail_msg("render: unknown key %s", key);
}

struct good_case {
	const char *yaml;
	const char *key;
	const char *want;
};

static const struct good_case good_cases[] = {
	/* defaults from an empty file; dev is off when a file is given */
	{ "", "server.listen", "127.0.0.1:8700" },
	{ "", "server.listen_port", "8700" },
	{ "", "data_dir", "./mandate-data" },
	{ "", "store.path", "./mandate-data/mandate.db" },
	{ "", "tokens.key_dir", "./mandate-data/keys" },
	{ "", "tokens.issuer", "http://127.0.0.1:8700" },
	{ "", "tokens.default_ttl", "300" },
	{ "", "tokens.rotation_overlap", "3600" },
	{ "", "tokens.publish_delay", "300" },
	{ "tokens: {publish_delay: 1s}\n", "tokens.publish_delay", "1" },
	{ "", "tokens.dpop.iat_window", "60" },
	{ "", "tokens.dpop.algorithms", "31" },
	{ "", "tasks.default_ttl", "900" },
	{ "", "tasks.max_ttl", "28800" },
	{ "", "tasks.retention", "2592000" },
	{ "tasks: {retention: 0}\n", "tasks.retention", "0" },
	{ "tasks: {retention: 90d}\n", "tasks.retention", "7776000" },
	{ "", "server.max_body_size", "1048576" },
	{ "", "server.connection_memory", "16384" },
	{ "", "server.max_connections", "1000" },
	{ "", "server.max_per_ip", "0" },
	{ "server: {max_connections: 20000, max_per_ip: 50}\n",
	  "server.max_connections", "20000" },
	{ "server: {max_connections: 20000, max_per_ip: 50}\n",
	  "server.max_per_ip", "50" },
	{ "server: {connection_memory: 32KiB}\n", "server.connection_memory",
	  "32768" },
	{ "server: {connection_memory: 8KiB}\n", "server.connection_memory",
	  "8192" },
	{ "", "dev.enabled", "0" },
	{ "", "api_auth.open_on_loopback", "0" },
	{ "", "authzen.authenticate", "1" },
	{ "authzen:\n  authenticate: false\n", "authzen.authenticate", "0" },
	{ "", "dev.trust_domain", "dev.local" },
	{ "", "dev.oidc_issuer", "http://127.0.0.1:8700/dev" },
	{ "# only a comment\n", "logging.level", "1" },
	{ "---\n...\n", "logging.audit", "0" },
	{ "---\n...\n", "policies.on_forbid_error", "0" },   /* deny */
	{ "policies: {on_forbid_error: skip}\n", "policies.on_forbid_error",
	  "1" },
	{ "policies: {on_forbid_error: deny}\n", "policies.on_forbid_error",
	  "0" },
	{ "", "audit.indexes.n", "0" },
	{ "audit: {indexes: [task, agent, type]}\n", "audit.indexes.n", "3" },
	{ "audit: {indexes: [task, agent]}\n", "audit.indexes1", "agent" },
	{ "audit: {indexes: agent}\n", "audit.indexes.n", "1" },
	{ "server:\n", "server.threads", "4" },
	{ "server: ~\n", "server.threads", "4" },
	/* values */
	{ "data_dir: /srv/m\n", "store.path", "/srv/m/mandate.db" },
	{ "data_dir: /srv/m\n", "tokens.key_dir", "/srv/m/keys" },
	{ "server:\n  listen: 0.0.0.0:9000\n", "server.listen_port", "9000" },
	{ "server:\n  listen: 0.0.0.0:9000\n", "tokens.issuer",
	  "http://127.0.0.1:9000" },
	{ "server:\n  listen: '[::1]:8443'\n", "server.listen_host", "::1" },
	{ "server:\n  listen: 127.0.0.2:8443\n", "server.listen_host",
	  "127.0.0.2" },
	{ "dev: {enabled: true}\nserver: {listen: 127.0.0.2:8700}\n",
	  "dev.enabled", "1" },
	{ "dev: {enabled: true}\nserver: {listen: '[::1]:8700'}\n",
	  "dev.enabled", "1" },
	{ "server:\n  listen: '[::1]:8443'\n", "tokens.issuer",
	  "http://[::1]:8443" },
	{ "server: {threads: 16}\n", "server.threads", "16" },
	{ "server: {max_body_size: 64KiB}\n", "server.max_body_size", "65536" },
	{ "server: {max_body_size: 2MB}\n", "server.max_body_size", "2000000" },
	{ "server: {max_body_size: 4096}\n", "server.max_body_size", "4096" },
	{ "server: {request_timeout: 90s}\n", "server.request_timeout", "90" },
	{ "server: {request_timeout: 2m}\n", "server.request_timeout", "120" },
	{ "server: {request_timeout: 45}\n", "server.request_timeout", "45" },
	{ "tasks: {max_ttl: 1d2h30m5s}\n", "tasks.max_ttl", "95405" },
	{ "server:\n  tls:\n    cert_file: a.crt\n    key_file: a.key\n",
	  "tokens.issuer", "https://127.0.0.1:8700" },
	{ "server:\n  tls:\n    cert_file: a.crt\n    key_file: a.key\n"
	  "    client_ca_file: ca.pem\n    client_auth: require\n",
	  "server.tls.client_auth", "2" },
	{ "store:\n  driver: sqlite\n", "store.path",
	  "./mandate-data/mandate.db" },
	{ "policies:\n  platform: ./p\n", "policies.platform.0", "./p" },
	{ "policies:\n  platform: [a, b, c]\n", "policies.platform.n", "3" },
	{ "policies:\n  tool_servers:\n    mail: ./mail\n    gh: [a, b]\n",
	  "policies.tool_servers.0.name", "mail" },
	{ "policies:\n  tool_servers:\n    mail: ./mail\n    gh: [a, b]\n",
	  "policies.tool_servers.1.paths.n", "2" },
	{ "tools:\n  output_labels:\n    read_file: [untrusted]\n"
	  "    get_customer: [confidential, pii]\n",
	  "tools.output_labels.0.action", "read_file" },
	{ "tools:\n  output_labels:\n    read_file: [untrusted]\n"
	  "    get_customer: [confidential, pii]\n",
	  "tools.output_labels.1.labels.n", "2" },
	{ "data_dir: /d\n", "tools.output_labels.n", "0" },
	{ "policies: {schema: s.cedarschema, watch: true}\n",
	  "policies.watch", "1" },
	{ "policies: {reload_interval: 1m}\n", "policies.reload_interval",
	  "60" },
	{ "identity:\n  issuers:\n  - name: k8s\n    issuer: https://k8s\n"
	  "    jwks_file: k.json\n    audiences: [m]\n",
	  "issuer0.name", "k8s" },
	{ "identity:\n  issuers:\n  - name: k8s\n    issuer: https://k8s\n"
	  "    jwks_file: k.json\n    audiences: [m]\n",
	  "issuer0.leeway", "60" },
	{ "identity:\n  issuers:\n  - name: k8s\n    issuer: https://k8s\n"
	  "    jwks_file: k.json\n    audiences: [m]\n",
	  "issuer0.max_token_size", "8192" },
	{ "identity:\n  issuers:\n  - name: i\n    issuer: https://i\n"
	  "    discovery: true\n    audiences: m\n    algorithms: [ES256, "
	  "EdDSA]\n    leeway: 30s\n", "issuer0.algorithms", "17" },
	{ "identity:\n  issuers:\n  - name: i\n    issuer: http://127.0.0.1:9\n"
	  "    jwks_uri: http://localhost:9/jwks\n    audiences: [a, b]\n",
	  "issuer0.audiences.n", "2" },
	{ "identity:\n  issuers:\n  - name: s\n    kind: spiffe\n"
	  "    trust_domain: spiffe://acme.example\n    bundle_file: b.json\n"
	  "    audiences: [m]\n", "issuer0.trust_domain", "acme.example" },
	{ "identity:\n  issuers:\n  - name: s\n    kind: spiffe\n"
	  "    trust_domain: acme.example\n    bundle_url: https://x/b\n"
	  "    audiences: [m]\n", "issuer0.kind", "1" },
	{ "identity:\n  issuers:\n  - name: a\n    kind: spiffe\n"
	  "    trust_domain: a.example\n    bundle_file: a.json\n"
	  "    audiences: [m]\n  - name: b\n    kind: spiffe\n"
	  "    trust_domain: b.example\n    bundle_file: b.json\n"
	  "    audiences: [m]\n", "identity.n_issuers", "2" },
	{ "dev: {enabled: true}\nidentity:\n  issuers:\n  - name: s\n"
	  "    kind: spiffe\n    trust_domain: s.example\n"
	  "    bundle_file: s.json\n    audiences: [m]\n", "dev.enabled",
	  "1" },
	{ "identity: {token_cache_size: 0}\n", "identity.token_cache_size",
	  "0" },
	/* subject_prefix: one oidc issuer may go without (the single-IdP
	 * case), every other one has its own */
	{ "identity:\n  issuers:\n  - name: corp\n    issuer: https://corp\n"
	  "    jwks_file: c.json\n    audiences: [m]\n",
	  "issuer0.subject_prefix", "(null)" },
	{ "identity:\n  issuers:\n  - name: corp\n    issuer: https://corp\n"
	  "    jwks_file: c.json\n    audiences: [m]\n  - name: partner\n"
	  "    issuer: https://partner\n    jwks_file: p.json\n"
	  "    subject_prefix: 'partner:'\n    audiences: [m]\n",
	  "issuer1.subject_prefix", "partner:" },
	{ "identity:\n  issuers:\n  - name: a\n    issuer: https://a\n"
	  "    jwks_file: a.json\n    subject_prefix: a/\n    audiences: [m]\n"
	  "  - name: b\n    issuer: https://b\n    jwks_file: b.json\n"
	  "    subject_prefix: b/\n    audiences: [m]\n  - name: s\n"
	  "    kind: spiffe\n    trust_domain: s.example\n"
	  "    bundle_file: s.json\n    audiences: [m]\n",
	  "issuer0.subject_prefix", "a/" },
	/* "dev" and "Dev-User:" are not dev-user: (names compare exactly) */
	{ "identity:\n  issuers:\n  - name: d\n    issuer: https://d\n"
	  "    jwks_file: d.json\n    subject_prefix: 'Dev-User:'\n"
	  "    audiences: [m]\n", "issuer0.subject_prefix", "Dev-User:" },
	{ "tokens:\n  issuer: https://m.example\n", "dev.oidc_issuer",
	  "https://m.example/dev" },
	{ "tokens:\n  audience: gw\n  default_ttl: 10m\n  max_ttl: 2h\n",
	  "tokens.rotation_overlap", "7200" },
	{ "tokens:\n  rotation_overlap: 30d\n", "tokens.rotation_overlap",
	  "2592000" },
	{ "tokens:\n  dpop: {require: true, algorithms: ES256}\n",
	  "tokens.dpop.algorithms", "1" },
	{ "tokens:\n  dpop: {require: true}\n", "tokens.dpop.require", "1" },
	{ "tasks: {default_call_budget: 50, max_call_budget: 100}\n",
	  "tasks.default_call_budget", "50" },
	{ "tasks: {max_intents: 8}\n", "tasks.max_intents", "8" },
	{ "api_auth:\n  mtls_identities: [spiffe://a.example/orch]\n"
	  "server:\n  tls: {cert_file: c, key_file: k, client_ca_file: ca, "
	  "client_auth: optional}\n", "api_auth.mtls_identities.n", "1" },
	{ "dev: {enabled: true}\n", "dev.enabled", "1" },
	{ "dev: {enabled: true, trust_domain: spiffe://test.local}\n",
	  "dev.trust_domain", "test.local" },
	{ "logging: {level: debug, format: json, audit: async}\n",
	  "logging.format", "1" },
	{ "logging: {level: error}\n", "logging.level", "3" },
	{ "\xef\xbb\xbflogging: {audit: async}\n", "logging.audit", "1" },
};

static void
test_good(void **state)
{
	(void)state;
	setenv("CONFIG_TEST_DSN", "postgres://secret@db/m", 1);
	for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]);
	    i++) {
		const struct good_case *t = &good_cases[i];
		struct diag_list dl;
		struct config *cfg = NULL;
		char got[512];
		int r;

		diag_init(&dl);
		r = config_parse("t.yaml", t->yaml, strlen(t->yaml), &cfg, &dl);
		if (r != MANDATE_OK) {
			diag_print(&dl, stdout);
			fail_msg("case %zu: status %d for:\n%s", i, r, t->yaml);
		}
		render(cfg, t->key, got, sizeof(got));
		if (strcmp(got, t->want) != 0)
			fail_msg("case %zu: %s = '%s', want '%s'", i, t->key, got,
			    t->want);
		config_free(cfg);
	}
}

static char *
print_to_string(const struct config *cfg, bool redact)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *fp = open_memstream(&buf, &n);

	assert_non_null(fp);
	assert_int_equal(config_print(cfg, fp, redact), 0);
	fclose(fp);
	return buf;
}

/* What config_print() writes, config_parse() reads back to the same
 * values: printing the reparsed configuration gives the same text. */
static void
test_print_round_trip(void **state)
{
	(void)state;
	setenv("CONFIG_TEST_DSN", "postgres://secret@db/m", 1);
	for (size_t i = 0; i < sizeof(good_cases) / sizeof(good_cases[0]);
	    i++) {
		const char *yaml = good_cases[i].yaml;
		struct diag_list dl;
		struct config *a = NULL, *b = NULL;
		char *ta, *tb, *redacted;

		diag_init(&dl);
		assert_int_equal(config_parse("t", yaml, strlen(yaml), &a, &dl),
		    MANDATE_OK);
		ta = print_to_string(a, false);
		if (config_parse("t", ta, strlen(ta), &b, &dl) != MANDATE_OK) {
			diag_print(&dl, stdout);
			fail_msg("case %zu: printed form does not load:\n%s", i,
			    ta);
		}
		tb = print_to_string(b, false);
		if (strcmp(ta, tb) != 0)
			fail_msg("case %zu: round trip differs:\n%s\n--\n%s", i,
			    ta, tb);
		redacted = print_to_string(a, true);
		assert_null(strstr(redacted, "secret"));
		free(ta);
		free(tb);
		free(redacted);
		config_free(a);
		config_free(b);
	}
}

struct bad_case {
	const char *yaml;
	int code;
	size_t line, col;   /* 0: not checked */
	const char *msg;    /* substring of some diagnostic */
};

static const struct bad_case bad_cases[] = {
	{ "foo: 1\n", MANDATE_EINVAL, 1, 1, "unknown key 'foo'" },
	{ "server:\n  thread: 2\n", MANDATE_EINVAL, 2, 3,
	  "did you mean 'threads'" },
	{ "server:\n  threads: 0\n", MANDATE_EINVAL, 2, 12, "out of range" },
	{ "server:\n  threads: -1\n", MANDATE_EINVAL, 2, 12,
	  "non-negative integer" },
	{ "server:\n  threads: [1]\n", MANDATE_EINVAL, 2, 12,
	  "expected a scalar" },
	{ "server: 5\n", MANDATE_EINVAL, 1, 9, "expected a mapping" },
	{ "server:\n  listen: 127.0.0.1\n", MANDATE_EINVAL, 2, 11,
	  "host:port" },
	{ "server:\n  listen: 127.0.0.1:0\n", MANDATE_EINVAL, 2, 11, "port" },
	{ "server:\n  listen: 127.0.0.1:70000\n", MANDATE_EINVAL, 2, 11,
	  "port" },
	{ "server:\n  listen: ':8700'\n", MANDATE_EINVAL, 2, 11,
	  "missing host" },
	/* the host is bound as written, without a name lookup: what
	 * inet_pton would not read is refused here, not when binding */
	{ "server:\n  listen: localhost:8700\n", MANDATE_EINVAL, 2, 11,
	  "server.listen: 'localhost' is a host name, and host names are not "
	  "resolved: use 127.0.0.1" },
	{ "server:\n  listen: 127.1:8700\n", MANDATE_EINVAL, 2, 11,
	  "expected an IPv4 address in four decimal parts" },
	{ "server:\n  listen: 1.2.3:80\n", MANDATE_EINVAL, 2, 11,
	  "expected an IPv4 address in four decimal parts" },
	{ "server:\n  listen: mandate.example:80\n", MANDATE_EINVAL, 2, 11,
	  "host names are not resolved" },
	{ "server:\n  listen: '[localhost]:80'\n", MANDATE_EINVAL, 2, 11,
	  "expected an IPv6 address between the brackets" },
	{ "server:\n  listen: '[127.0.0.1]:80'\n", MANDATE_EINVAL, 2, 11,
	  "expected an IPv6 address between the brackets" },
	{ "server:\n  listen: '[fe80::1%eth0]:80'\n", MANDATE_EINVAL, 2, 11,
	  "expected an IPv6 address between the brackets" },
	{ "dev: {enabled: true}\nserver: {listen: localhost:8700}\n",
	  MANDATE_EINVAL, 2, 18, "use 127.0.0.1" },
	{ "server:\n  max_body_size: 1TB\n", MANDATE_EINVAL, 2, 18, "size" },
	{ "server:\n  max_body_size: 1GiB\n", MANDATE_EINVAL, 2, 18,
	  "out of range" },
	{ "server:\n  connection_memory: 1KiB\n", MANDATE_EINVAL, 2, 22,
	  "out of range" },
	{ "server:\n  connection_memory: 7KiB\n", MANDATE_EINVAL, 2, 22,
	  "out of range" },
	{ "server:\n  max_connections: 0\n", MANDATE_EINVAL, 2, 20,
	  "out of range" },
	{ "server:\n  request_timeout: 5 minutes\n", MANDATE_EINVAL, 2, 20,
	  "duration" },
	{ "server:\n  request_timeout: 1m1h\n", MANDATE_EINVAL, 2, 20,
	  "duration" },
	{ "server:\n  request_timeout: 0\n", MANDATE_EINVAL, 2, 20,
	  "out of range" },
	{ "server:\n  tls:\n    client_auth: maybe\n", MANDATE_EINVAL, 3, 18,
	  "expected none, optional, require" },
	{ "server:\n  tls:\n    cert_file: c.pem\n", MANDATE_EINVAL, 3, 5,
	  "cert_file and key_file go together" },
	{ "server:\n  tls: {cert_file: c, key_file: k, client_auth: require}\n",
	  MANDATE_EINVAL, 0, 0, "needs client_ca_file" },
	{ "server:\n  tls: {client_auth: optional, client_ca_file: ca}\n",
	  MANDATE_EINVAL, 0, 0, "needs cert_file and key_file" },
	{ "server:\n  tls:\n    cert_file: c\n    key_file: k\n"
	  "    client_ca_file: ca.pem\n", MANDATE_EINVAL, 5, 21,
	  "client_ca_file is used only with client_auth optional or "
	  "require" },
	{ "server:\n  tls:\n    cert_file: c\n    key_file: k\n"
	  "    client_ca_file: ca.pem\n    client_auth: none\n",
	  MANDATE_EINVAL, 5, 21, "with client_auth none" },
	{ "server:\n  tls:\n    client_ca_file: ca.pem\n", MANDATE_EINVAL,
	  3, 21, "client_ca_file is used only with" },
	{ "server:\n  threads: 2\n  threads: 3\n", MANDATE_EINVAL, 3, 3,
	  "duplicate key 'threads'" },
	{ "data_dir: ''\n", MANDATE_EINVAL, 1, 11, "must not be empty" },
	{ "data_dir: \"a\\0b\"\n", MANDATE_EINVAL, 1, 11, "NUL" },
	{ "data_dir: [a]\n", MANDATE_EINVAL, 1, 11, "expected a scalar" },
	{ "store: {driver: mysql}\n", MANDATE_EINVAL, 1, 17, "expected sqlite, "
	  "postgres" },
	/* no PostgreSQL store in this build: refused where it is named */
	{ "store: {driver: postgres}\n", MANDATE_EINVAL, 1, 17,
	  "store.driver: postgres is not supported by this build" },
	{ "store:\n  driver: postgres\n  dsn: postgres://u@db/mandate\n",
	  MANDATE_EINVAL, 2, 11, "use sqlite" },
	{ "audit:\n  redact_paths: [a.b, 'a..b']\n", MANDATE_EINVAL, 2, 23,
	  "audit.redact_paths: 'a..b': empty segment" },
	{ "audit:\n  redact_paths: ['.a']\n", MANDATE_EINVAL, 2, 18,
	  "empty segment" },
	{ "store: {dsn: 'host=x'}\n", MANDATE_EINVAL, 0, 0,
	  "only to driver postgres" },
	{ "store: {driver: postgres, dsn: mysql}\n", MANDATE_EINVAL, 0, 0,
	  "postgres:// URI" },
	{ "store: {driver: postgres, dsn: '${ENV:CONFIG_TEST_UNSET_VAR}'}\n",
	  MANDATE_EINVAL, 1, 32, "CONFIG_TEST_UNSET_VAR is not set" },
	{ "store: {driver: postgres, dsn: '${ENV:1BAD}'}\n", MANDATE_EINVAL,
	  0, 0, "bad environment variable name" },
	{ "tokens:\n  audience: ${ENV:}\n", MANDATE_EINVAL, 2, 13,
	  "tokens.audience: ${ENV:} names no environment variable" },
	{ "tokens:\n  audience: '${ENV:}'\n", MANDATE_EINVAL, 2, 13,
	  "${ENV:} names no environment variable" },
	{ "policies:\n  tool_servers: [a]\n", MANDATE_EINVAL, 2, 17,
	  "expected a mapping of tool server" },
	{ "policies:\n  tool_servers:\n    mail:\n", MANDATE_EINVAL, 0, 0,
	  "expected policy paths" },
	{ "policies:\n  tool_servers: {a: x, a: y}\n", MANDATE_EINVAL, 0, 0,
	  "duplicate tool server" },
	{ "tools:\n  output_labels: [a]\n", MANDATE_EINVAL, 2, 18,
	  "expected a mapping of tool action" },
	{ "tools:\n  output_labels:\n    a:\n", MANDATE_EINVAL, 0, 0,
	  "expected a list of labels" },
	{ "tools:\n  output_labels: {a: x, a: y}\n", MANDATE_EINVAL, 0, 0,
	  "duplicate tool" },
	{ "tools:\n  output_labels: {a: [\"x y\"]}\n", MANDATE_EINVAL, 0, 0,
	  "a label has" },
	{ "tools:\n  output_labels: {\"a b\": [x]}\n", MANDATE_EINVAL, 0, 0,
	  "a tool action has" },
	{ "tools:\n  nope: 1\n", MANDATE_EINVAL, 0, 0, "unknown" },
	{ "policies:\n  watch: yes\n", MANDATE_EINVAL, 2, 10,
	  "expected true or false" },
	{ "policies:\n  platform: {a: b}\n", MANDATE_EINVAL, 2, 13,
	  "expected a list" },
	{ "identity:\n  issuers: {a: b}\n", MANDATE_EINVAL, 2, 12,
	  "list of issuers" },
	{ "identity:\n  issuers:\n  - name: x\n    issuer: https://x\n"
	  "    audiences: [a]\n", MANDATE_EINVAL, 3, 5, "exactly one key "
	  "source" },
	{ "identity:\n  issuers:\n  - name: x\n    issuer: https://x\n"
	  "    discovery: true\n    jwks_file: f\n    audiences: [a]\n",
	  MANDATE_EINVAL, 3, 5, "exactly one key source" },
	{ "identity:\n  issuers:\n  - name: x\n    issuer: https://x\n"
	  "    discovery: true\n", MANDATE_EINVAL, 3, 5, "'audiences'" },
	{ "identity:\n  issuers:\n  - issuer: https://x\n"
	  "    discovery: true\n    audiences: [a]\n", MANDATE_EINVAL, 3, 5,
	  "missing 'name'" },
	{ "identity:\n  issuers:\n  - name: x\n    issuer: http://x.example\n"
	  "    discovery: true\n    audiences: [a]\n", MANDATE_EINVAL, 4, 13,
	  "must use https" },
	/* plain http only to a loopback address, not to a name that starts
	 * like one */
	{ "identity:\n  issuers:\n  - name: x\n    issuer: https://x\n"
	  "    jwks_uri: http://127.evil.example/jwks\n    audiences: [a]\n",
	  MANDATE_EINVAL, 5, 15, "must use https" },
	{ "identity:\n  issuers:\n  - name: x\n    issuer: https://x\n"
	  "    jwks_uri: http://127.0.0.1.nip.io/jwks\n    audiences: [a]\n",
	  MANDATE_EINVAL, 5, 15, "must use https" },
	{ "identity:\n  issuers:\n  - name: x\n    issuer: ftp://x\n"
	  "    discovery: true\n    audiences: [a]\n", MANDATE_EINVAL, 4, 13,
	  "https://" },
	{ "identity:\n  issuers:\n  - name: x\n    issuer: https://u:p@x\n"
	  "    discovery: true\n    audiences: [a]\n", MANDATE_EINVAL, 4, 13,
	  "credentials" },
	{ "identity:\n  issuers:\n  - name: x\n    issuer: https://x\n"
	  "    discovery: true\n    audiences: [a]\n    algorithms: [HS256]\n",
	  MANDATE_EINVAL, 7, 18, "'HS256' is never accepted" },
	{ "identity:\n  issuers:\n  - name: x\n    issuer: https://x\n"
	  "    discovery: true\n    audiences: [a]\n    algorithms: [none]\n",
	  MANDATE_EINVAL, 7, 18, "'none' is never accepted" },
	{ "identity:\n  issuers:\n  - name: x\n    issuer: https://x\n"
	  "    discovery: true\n    audiences: [a]\n    algorithms: [RS512]\n",
	  MANDATE_EINVAL, 7, 18, "unknown algorithm" },
	{ "identity:\n  issuers:\n  - name: x\n    issuer: https://x\n"
	  "    discovery: true\n    audiences: [a]\n    algorithms: []\n",
	  MANDATE_EINVAL, 7, 17, "at least one algorithm" },
	{ "identity:\n  issuers:\n  - name: x\n    issuer: https://x\n"
	  "    discovery: true\n    audiences: [a]\n    leeway: 1h\n",
	  MANDATE_EINVAL, 7, 13, "out of range" },
	{ "identity:\n  issuers:\n  - name: x\n    issuer: https://x\n"
	  "    discovery: true\n    audiences: [a]\n    trust_domain: x\n",
	  MANDATE_EINVAL, 7, 5, "applies only to kind spiffe" },
	{ "identity:\n  issuers:\n  - name: x\n    kind: spiffe\n"
	  "    bundle_file: b\n    audiences: [a]\n", MANDATE_EINVAL, 3, 5,
	  "needs 'trust_domain'" },
	{ "identity:\n  issuers:\n  - name: x\n    kind: spiffe\n"
	  "    trust_domain: Acme.Example\n    bundle_file: b\n"
	  "    audiences: [a]\n", MANDATE_EINVAL, 5, 19, "lowercase" },
	{ "identity:\n  issuers:\n  - name: x\n    kind: spiffe\n"
	  "    trust_domain: a.example\n    audiences: [a]\n"
	  "    jwks_uri: https://x\n", MANDATE_EINVAL, 0, 0,
	  "applies only to kind oidc" },
	{ "identity:\n  issuers:\n  - name: x\n    kind: spiffe\n"
	  "    trust_domain: a.example\n    audiences: [a]\n", MANDATE_EINVAL,
	  3, 5, "exactly one of 'bundle_file' or 'bundle_url'" },
	{ "identity:\n  issuers:\n  - name: x\n    kind: saml\n",
	  MANDATE_EINVAL, 4, 11, "expected oidc, spiffe" },
	{ "identity:\n  issuers:\n  - name: a\n    issuer: https://a\n"
	  "    discovery: true\n    audiences: [m]\n  - name: a\n"
	  "    issuer: https://b\n    discovery: true\n    audiences: [m]\n",
	  MANDATE_EINVAL, 7, 11, "duplicate issuer name 'a'" },
	{ "identity:\n  issuers:\n  - name: 'a b'\n    issuer: https://a\n"
	  "    discovery: true\n    audiences: [m]\n", MANDATE_EINVAL, 3, 11,
	  "name may contain only" },
	{ "identity:\n  issuers:\n  - 5\n", MANDATE_EINVAL, 3, 5,
	  "expected a mapping" },
	/* an SVID is checked against one spiffe issuer per trust domain:
	 * a second one (the new CA of a migration) would be ignored */
	{ "identity:\n  issuers:\n  - name: agents\n    kind: spiffe\n"
	  "    trust_domain: acme.example\n    bundle_file: a.json\n"
	  "    audiences: [m]\n  - name: agents2\n    kind: spiffe\n"
	  "    trust_domain: spiffe://acme.example\n    bundle_file: b.json\n"
	  "    audiences: [m]\n", MANDATE_EINVAL, 10, 19,
	  "identity.issuers[1].trust_domain: 'agents' and 'agents2' both "
	  "have 'acme.example', and only the first would be used" },
	/* a token is matched to one oidc issuer per iss */
	{ "identity:\n  issuers:\n  - name: a\n    issuer: https://idp\n"
	  "    jwks_file: a.json\n    audiences: [m]\n"
	  "    subject_prefix: 'a:'\n  - name: b\n    issuer: https://idp\n"
	  "    jwks_file: b.json\n    audiences: [m]\n"
	  "    subject_prefix: 'b:'\n", MANDATE_EINVAL, 9, 13,
	  "identity.issuers[1].issuer: 'a' and 'b' are both 'https://idp', "
	  "and only the first would be used" },
	{ "dev: {enabled: true}\nidentity:\n  issuers:\n  - name: s\n"
	  "    kind: spiffe\n    trust_domain: dev.local\n"
	  "    bundle_file: s.json\n    audiences: [m]\n", MANDATE_EINVAL, 0,
	  0, "dev.trust_domain: 'dev.local' is also that of issuer 's'" },
	/* two oidc issuers whose subs would be one principal */
	{ "identity:\n  issuers:\n  - name: corp\n    issuer: https://corp\n"
	  "    jwks_file: c.json\n    audiences: [m]\n  - name: partner\n"
	  "    issuer: https://partner\n    jwks_file: p.json\n"
	  "    audiences: [m]\n", MANDATE_EINVAL, 7, 5, "oidc issuers 'corp' "
	  "and 'partner' both lack subject_prefix: the same sub from each "
	  "would be one principal; set one, e.g. \"partner:\"" },
	{ "identity:\n  issuers:\n  - name: s\n    kind: spiffe\n"
	  "    trust_domain: s.example\n    bundle_file: s.json\n"
	  "    audiences: [m]\n  - name: a\n    issuer: https://a\n"
	  "    jwks_file: a.json\n    subject_prefix: 'a:'\n"
	  "    audiences: [m]\n  - name: corp\n    issuer: https://corp\n"
	  "    jwks_file: c.json\n    audiences: [m]\n  - name: k8s\n"
	  "    issuer: https://k8s\n    jwks_file: k.json\n"
	  "    audiences: [m]\n", MANDATE_EINVAL, 17, 5,
	  "'corp' and 'k8s' both lack subject_prefix" },
	{ "identity:\n  issuers:\n  - name: a\n    issuer: https://a\n"
	  "    jwks_file: a.json\n    subject_prefix: 'p:'\n"
	  "    audiences: [m]\n  - name: b\n    issuer: https://b\n"
	  "    jwks_file: b.json\n    subject_prefix: 'p:'\n"
	  "    audiences: [m]\n", MANDATE_EINVAL, 11, 21,
	  "'p:' is also that of 'a'" },
	{ "identity:\n  issuers:\n  - name: a\n    issuer: https://a\n"
	  "    jwks_file: a.json\n    subject_prefix: 'p:x:'\n"
	  "    audiences: [m]\n  - name: b\n    issuer: https://b\n"
	  "    jwks_file: b.json\n    subject_prefix: 'p:'\n"
	  "    audiences: [m]\n", MANDATE_EINVAL, 11, 21,
	  "'p:' and 'p:x:' of 'a' begin alike" },
	{ "identity:\n  issuers:\n  - name: a\n    issuer: https://a\n"
	  "    jwks_file: a.json\n    subject_prefix: 'spiffe://x/'\n"
	  "    audiences: [m]\n", MANDATE_EINVAL, 6, 21,
	  "could begin a SPIFFE ID" },
	{ "identity:\n  issuers:\n  - name: a\n    issuer: https://a\n"
	  "    jwks_file: a.json\n    subject_prefix: 'SPIFFE:'\n"
	  "    audiences: [m]\n", MANDATE_EINVAL, 6, 21,
	  "could begin a SPIFFE ID" },
	{ "identity:\n  issuers:\n  - name: a\n    issuer: https://a\n"
	  "    jwks_file: a.json\n    subject_prefix: Spif\n"
	  "    audiences: [m]\n", MANDATE_EINVAL, 6, 21,
	  "could begin a SPIFFE ID" },
	{ "identity:\n  issuers:\n  - name: a\n    issuer: https://a\n"
	  "    jwks_file: a.json\n    subject_prefix: 'dev-user:'\n"
	  "    audiences: [m]\n", MANDATE_EINVAL, 6, 21,
	  "overlaps 'dev-user:'" },
	{ "identity:\n  issuers:\n  - name: a\n    issuer: https://a\n"
	  "    jwks_file: a.json\n    subject_prefix: dev-\n"
	  "    audiences: [m]\n", MANDATE_EINVAL, 6, 21,
	  "overlaps 'dev-user:'" },
	{ "identity:\n  issuers:\n  - name: a\n    issuer: https://a\n"
	  "    jwks_file: a.json\n    subject_prefix: 'a b:'\n"
	  "    audiences: [m]\n", MANDATE_EINVAL, 6, 21,
	  "only visible ASCII" },
	{ "identity:\n  issuers:\n  - name: a\n    issuer: https://a\n"
	  "    jwks_file: a.json\n    subject_prefix: \"\xc3\xa9:\"\n"
	  "    audiences: [m]\n", MANDATE_EINVAL, 6, 21,
	  "only visible ASCII" },
	{ "identity:\n  issuers:\n  - name: a\n    issuer: https://a\n"
	  "    jwks_file: a.json\n    subject_prefix: "
	  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\n"
	  "    audiences: [m]\n", MANDATE_EINVAL, 6, 21,
	  "longer than 64 bytes" },
	{ "identity:\n  issuers:\n  - name: a\n    issuer: https://a\n"
	  "    jwks_file: a.json\n    subject_prefix: ''\n"
	  "    audiences: [m]\n", MANDATE_EINVAL, 6, 21, "must not be empty" },
	{ "identity:\n  issuers:\n  - name: s\n    kind: spiffe\n"
	  "    trust_domain: s.example\n    bundle_file: s.json\n"
	  "    subject_prefix: 's:'\n    audiences: [m]\n", MANDATE_EINVAL,
	  7, 5, "'subject_prefix' applies only to kind oidc" },
	{ "tokens: {issuer: 'https://m/?x=1'}\n", MANDATE_EINVAL, 1, 18,
	  "query or fragment" },
	{ "tokens: {default_ttl: 2h, max_ttl: 1h}\n", MANDATE_EINVAL, 1, 9,
	  "default_ttl is longer" },
	{ "tokens: {max_ttl: 2h, rotation_overlap: 1h}\n", MANDATE_EINVAL, 0,
	  0, "rotation_overlap is shorter" },
	{ "tokens: {max_ttl: 2d}\n", MANDATE_EINVAL, 1, 19, "out of range" },
	/* a number past any maximum is out of range, not bad syntax; the
	 * bounds are written as the file would write them */
	{ "tokens:\n  rotation_overlap: 31d\n", MANDATE_EINVAL, 2, 21,
	  "tokens.rotation_overlap: 31d is out of range (at most 30d)" },
	{ "tokens:\n  rotation_overlap: 99999d\n", MANDATE_EINVAL, 2, 21,
	  "tokens.rotation_overlap: 99999d is out of range (at most 30d)" },
	{ "tokens:\n  rotation_overlap: 4294967296\n", MANDATE_EINVAL, 2, 21,
	  "4294967296 is out of range (at most 30d)" },
	{ "tokens:\n  rotation_overlap: 99999999999999999999d1h\n",
	  MANDATE_EINVAL, 2, 21, "out of range (at most 30d)" },
	{ "tokens:\n  rotation_overlap: 99999999999999999999d1x\n",
	  MANDATE_EINVAL, 2, 21, "expected a duration" },
	{ "tokens:\n  rotation_overlap: 99999d99999d\n", MANDATE_EINVAL, 2,
	  21, "expected a duration" },
	{ "server:\n  request_timeout: 1h30m\n", MANDATE_EINVAL, 2, 20,
	  "1h30m is out of range (at least 1s, at most 1h)" },
	{ "server:\n  max_body_size: 1025GiB\n", MANDATE_EINVAL, 2, 18,
	  "1025GiB is out of range (at least 1024 bytes, at most 67108864 "
	  "bytes)" },
	{ "server:\n  max_body_size: 18446744073709551616B\n", MANDATE_EINVAL,
	  2, 18, "out of range (at least 1024 bytes" },
	{ "server:\n  max_body_size: 99999999999999999999XB\n",
	  MANDATE_EINVAL, 2, 18, "expected a size" },
	{ "server:\n  threads: 99999999999999999999\n", MANDATE_EINVAL, 2, 12,
	  "server.threads: 99999999999999999999 is out of range (at least 1, "
	  "at most 1024)" },
	{ "tokens: {publish_delay: 0s}\n", MANDATE_EINVAL, 1, 25,
	  "out of range" },
	{ "tokens:\n  dpop: {iat_window: 1h}\n", MANDATE_EINVAL, 2, 22,
	  "out of range" },
	{ "tokens:\n  dpop: {algorithms: [HS512]}\n", MANDATE_EINVAL, 2, 23,
	  "never accepted" },
	{ "tokens:\n  dpop: {nonce: 1}\n", MANDATE_EINVAL, 2, 17,
	  "true or false" },
	{ "tasks: {default_ttl: 9h}\n", MANDATE_EINVAL, 1, 8,
	  "default_ttl is longer" },
	{ "tasks: {max_intents: 0}\n", MANDATE_EINVAL, 1, 22, "out of range" },
	{ "tasks: {default_call_budget: 500, max_call_budget: 100}\n",
	  MANDATE_EINVAL, 0, 0, "default_call_budget must be" },
	{ "api_auth: {bearer_issuers: [corp]}\n", MANDATE_EINVAL, 0, 0,
	  "'corp' is not an issuer" },
	{ "api_auth: {mtls_identities: ['spiffe://a.example/x']}\n",
	  MANDATE_EINVAL, 0, 0, "needs server.tls.client_auth" },
	{ "api_auth: {mtls_identities: ['https://a.example/x']}\n",
	  MANDATE_EINVAL, 1, 30, "must start with spiffe://" },
	{ "api_auth: {mtls_identities: ['spiffe://a.example/../x']}\n",
	  MANDATE_EINVAL, 1, 30, "'..'" },
	{ "api_auth: {mtls_identities: ['spiffe://a.example//x']}\n",
	  MANDATE_EINVAL, 1, 30, "empty path segment" },
	{ "dev: {enabled: true}\nserver: {listen: 0.0.0.0:8700}\n",
	  MANDATE_EINVAL, 0, 0, "loopback" },
	{ "dev: {enabled: true}\nserver: {listen: '[::]:8700'}\n",
	  MANDATE_EINVAL, 0, 0, "loopback" },
	{ "dev: {trust_domain: 'UP'}\n", MANDATE_EINVAL, 1, 21, "lowercase" },
	{ "logging: {format: xml}\n", MANDATE_EINVAL, 1, 19,
	  "expected text, json" },
	{ "logging: {level: verbose}\n", MANDATE_EINVAL, 1, 18,
	  "expected debug, info, warn, error" },
	{ "policies: {on_forbid_error: allow}\n", MANDATE_EINVAL, 1, 29,
	  "expected deny, skip" },
	/* several errors in one file, each reported */
	{ "a: 1\nb: 2\nlogging: {level: x}\n", MANDATE_EINVAL, 3, 18,
	  "unknown value 'x'" },
	{ "a: 1\nb: 2\nlogging: {level: x}\n", MANDATE_EINVAL, 2, 1,
	  "unknown key 'b'" },
	/* YAML itself */
	{ "- a\n- b\n", MANDATE_EINVAL, 1, 1, "must be a mapping" },
	{ "just text\n", MANDATE_EINVAL, 1, 1, "must be a mapping" },
	{ "server: {threads: 2\n", MANDATE_EPARSE, 0, 0, "YAML:" },
	{ "a: b: c\n", MANDATE_EPARSE, 1, 5, "YAML:" },
	{ "server:\n\tthreads: 2\n", MANDATE_EPARSE, 0, 0, "YAML:" },
	{ "base: &b {threads: 2}\n", MANDATE_EPARSE, 1, 7, "anchors" },
	{ "server: *b\n", MANDATE_EPARSE, 0, 0, "YAML" },
	{ "server: !!map {threads: 2}\n", MANDATE_EPARSE, 1, 9, "tags" },
	{ "a: 1\n---\nb: 2\n", MANDATE_EPARSE, 2, 1, "one YAML document" },
	{ "x: [[[[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]]]\n", MANDATE_ELIMIT, 0,
	  0, "nested deeper" },
	{ "x: \"\xff\"\n", MANDATE_EPARSE, 1, 5, "YAML" },
	{ "\xc3\xa9t\xc3\xa9: 1\nfoo: 2\n", MANDATE_EINVAL, 2, 1,
	  "unknown key 'foo'" },
	{ "audit:\n  indexes: [agent, task_id]\n", MANDATE_EINVAL, 0, 0,
	  "audit.indexes: 'task_id' is not agent, task or type" },
	{ "audit:\n  indexes: [type, type]\n", MANDATE_EINVAL, 0, 0,
	  "audit.indexes: 'type' is listed twice" },
	/* an empty list of allowed subjects is not "anyone": the absent
	 * key is; refused rather than read either way */
	{ "api_auth:\n  bearer_subjects: []\n", MANDATE_EINVAL, 2, 20,
	  "api_auth.bearer_subjects: an empty list" },
	/* a duplicate names where it is, like an unknown key */
	{ "server:\n  tls:\n    key_file: a\n    key_file: b\n",
	  MANDATE_EINVAL, 4, 5, "duplicate key 'key_file' in server.tls" },
	{ "identity:\n  issuers:\n    - name: a\n      name: b\n",
	  MANDATE_EINVAL, 4, 7, "duplicate key 'name' in identity.issuers[0]" },
};

static void
test_bad(void **state)
{
	(void)state;
	unsetenv("CONFIG_TEST_UNSET_VAR");
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(bad_cases[0]); i++) {
		const struct bad_case *t = &bad_cases[i];
		struct diag_list dl;
		struct config *cfg = (struct config *)&dl;
		bool found = false;
		int r;

		diag_init(&dl);
		r = config_parse("t.yaml", t->yaml, strlen(t->yaml), &cfg, &dl);
		if (r == MANDATE_OK)
			fail_msg("case %zu: accepted:\n%s", i, t->yaml);
		assert_null(cfg);
		assert_true(dl.n > 0);
		for (size_t k = 0; k < dl.n; k++) {
			size_t line, col;

			if (strstr(dl.items[k].msg, t->msg) == NULL)
				continue;
			diag_linecol(&dl.items[k], &line, &col);
			if (t->line != 0 && (line != t->line || col != t->col))
				continue;
			found = true;
		}
		if (!found || r != t->code) {
			diag_print(&dl, stdout);
			fail_msg("case %zu: status %d (want %d); want '%s' at "
			    "%zu:%zu for:\n%s", i, r, t->code, t->msg, t->line,
			    t->col, t->yaml);
		}
	}
}

/* --listen (struct config_overrides) goes in before the checks across
 * keys and the derived defaults: the development instance's loopback
 * check sees it, and tokens.issuer follows it unless the file sets it. */
static void
test_listen_override(void **state)
{
	static const char *const files[] = {
		NULL,                                   /* no file: dev */
		"dev: {enabled: true}\n",
		"server: {listen: 127.0.0.1:8800}\n",
		"tokens: {issuer: https://mandate.example}\n",
	};
	struct config_overrides ov;
	struct diag_list dl;
	struct config *cfg = NULL;

	(void)state;
	memset(&ov, 0, sizeof(ov));
	for (size_t i = 0; i < sizeof(files) / sizeof(files[0]); i++) {
		const char *f = files[i];
		int r;

		/* off loopback: refused for a development instance, with the
		 * option named */
		ov.listen = "0.0.0.0:9000";
		diag_init(&dl);
		r = f == NULL ? config_default_with(&ov, &cfg, &dl) :
		    config_parse_with("t.yaml", f, strlen(f), &ov, &cfg, &dl);
		if (i < 2) {
			assert_int_equal(r, MANDATE_EINVAL);
			assert_null(cfg);
			assert_int_equal(dl.n, 1);
			assert_string_equal(dl.items[0].file, "--listen");
			assert_non_null(strstr(dl.items[0].msg, "loopback"));
		} else {
			assert_int_equal(r, MANDATE_OK);
			assert_string_equal(cfg->server.listen, "0.0.0.0:9000");
			assert_string_equal(cfg->tokens.issuer, i == 3 ?
			    "https://mandate.example" : "http://127.0.0.1:9000");
			config_free(cfg);
		}

		ov.listen = "[::1]:9001";
		diag_init(&dl);
		r = f == NULL ? config_default_with(&ov, &cfg, &dl) :
		    config_parse_with("t.yaml", f, strlen(f), &ov, &cfg, &dl);
		assert_int_equal(r, MANDATE_OK);
		assert_string_equal(cfg->server.listen_host, "::1");
		assert_int_equal(cfg->server.listen_port, 9001);
		assert_string_equal(cfg->tokens.issuer, i == 3 ?
		    "https://mandate.example" : "http://[::1]:9001");
		if (i < 2)
			assert_string_equal(cfg->dev.oidc_issuer,
			    "http://[::1]:9001/dev");
		config_free(cfg);
	}
	/* port 0 is the caller's to pick; a bad value names the option */
	ov.listen = "127.0.0.1:0";
	assert_int_equal(config_default_with(&ov, &cfg, NULL), MANDATE_OK);
	assert_int_equal(cfg->server.listen_port, 0);
	config_free(cfg);
	ov.listen = "127.0.0.1";
	diag_init(&dl);
	assert_int_equal(config_default_with(&ov, &cfg, &dl), MANDATE_EINVAL);
	assert_null(cfg);
	assert_string_equal(dl.items[0].file, "--listen");
	assert_non_null(strstr(dl.items[0].msg, "host:port"));
	/* a host name is refused as in the file, naming the option */
	ov.listen = "localhost:0";
	diag_init(&dl);
	assert_int_equal(config_default_with(&ov, &cfg, &dl), MANDATE_EINVAL);
	assert_null(cfg);
	assert_string_equal(dl.items[0].file, "--listen");
	assert_non_null(strstr(dl.items[0].msg, "'localhost:0': 'localhost' "
	    "is a host name, and host names are not resolved: use 127.0.0.1"));
	ov.listen = "127.1:9000";
	diag_init(&dl);
	assert_int_equal(config_default_with(&ov, &cfg, &dl), MANDATE_EINVAL);
	assert_string_equal(dl.items[0].file, "--listen");
	assert_non_null(strstr(dl.items[0].msg, "four decimal parts"));
}

/* audit.redact_paths is held to the redactor's limits when the file is
 * read (at the value's location), not only when the daemon starts. */
static void
test_redact_path_limits(void **state)
{
	char buf[8192];
	struct diag_list dl;
	struct config *cfg = NULL;
	size_t n, line, col;

	(void)state;
	/* 256 paths are fine, 257 are not (reported at the list) */
	for (size_t count = 256; count <= 300; count += 44) {
		n = (size_t)snprintf(buf, sizeof(buf), "audit:\n  redact_paths: [");
		for (size_t i = 0; i < count; i++)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%sp%zu",
			    i ? ", " : "", i);
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "]\n");
		assert_true(n < sizeof(buf));
		diag_init(&dl);
		if (count == 256) {
			assert_int_equal(config_parse("t", buf, n, &cfg, &dl),
			    MANDATE_OK);
			assert_int_equal(cfg->audit.redact_paths.n, 256);
			config_free(cfg);
			continue;
		}
		assert_int_equal(config_parse("t", buf, n, &cfg, &dl),
		    MANDATE_EINVAL);
		assert_int_equal(dl.n, 1);
		assert_non_null(strstr(dl.items[0].msg, "300 paths, at most 256"));
		diag_linecol(&dl.items[0], &line, &col);
		assert_int_equal(line, 2);
		assert_int_equal(col, 17);
	}
	/* 32 segments are fine, 40 are not (reported at the path) */
	for (size_t segs = 32; segs <= 40; segs += 8) {
		n = (size_t)snprintf(buf, sizeof(buf), "audit:\n  redact_paths:\n"
		    "    - ok\n    - ");
		for (size_t i = 0; i < segs; i++)
			n += (size_t)snprintf(buf + n, sizeof(buf) - n, "%ss",
			    i ? "." : "");
		n += (size_t)snprintf(buf + n, sizeof(buf) - n, "\n");
		diag_init(&dl);
		if (segs == 32) {
			assert_int_equal(config_parse("t", buf, n, &cfg, &dl),
			    MANDATE_OK);
			config_free(cfg);
			continue;
		}
		assert_int_equal(config_parse("t", buf, n, &cfg, &dl),
		    MANDATE_EINVAL);
		assert_int_equal(dl.n, 1);
		assert_non_null(strstr(dl.items[0].msg, "more than 32 segments"));
		diag_linecol(&dl.items[0], &line, &col);
		assert_int_equal(line, 4);
		assert_int_equal(col, 7);
	}
	/* longer than 512 bytes */
	n = (size_t)snprintf(buf, sizeof(buf), "audit:\n  redact_paths: [%0600d]\n",
	    7);
	diag_init(&dl);
	assert_int_equal(config_parse("t", buf, n, &cfg, &dl), MANDATE_EINVAL);
	assert_non_null(strstr(dl.items[0].msg, "longer than 512 bytes"));
}

/* A key whose value is refused gets one error, not a second from the
 * checks that need it (configuration.md: those run once each key is
 * valid).  A key that is missing, or misspelt, still gets its "needs". */
static void
test_no_follow_on_errors(void **state)
{
	static const struct {
		const char *yaml;
		size_t n_diags;
		const char *want, *not_want;
	} cases[] = {
		{ "identity:\n  issuers:\n  - name: x\n    issuer: http://x.example"
		  "\n    discovery: true\n    audiences: [a]\n", 1,
		  "must use https", "needs 'issuer'" },
		{ "identity:\n  issuers:\n  - name: x\n    kind: spiffe\n"
		  "    trust_domain: 'Bad Domain'\n    bundle_file: b.json\n"
		  "    audiences: [a]\n", 1, "trust_domain", "needs 'trust_domain'" },
		{ "identity:\n  issuers:\n  - name: x\n    issuer: https://x\n"
		  "    jwks_uri: ftp://x\n    audiences: [a]\n", 1, "jwks_uri",
		  "exactly one key source" },
		{ "identity:\n  issuers:\n  - name: x\n    kind: spifee\n"
		  "    trust_domain: a.example\n    bundle_file: b.json\n"
		  "    audiences: [a]\n", 1, "unknown value 'spifee'",
		  "applies only" },
		{ "identity:\n  issuers:\n  - name: x\n    issuer: https://x\n"
		  "    discovery: true\n    audiences: ['']\n", 1,
		  "must not be empty", "at least one audience" },
		/* a misspelt key: the needed one is missing, so it is said */
		{ "identity:\n  issuers:\n  - name: x\n    issuer: https://x\n"
		  "    discovery: true\n    audience: [a]\n", 2,
		  "'audiences' must list at least one", NULL },
		{ "identity:\n  issuers:\n  - name: x\n    discovery: true\n"
		  "    audiences: [a]\n", 1, "needs 'issuer'", NULL },
		/* a refused subject_prefix is not taken for a missing one */
		{ "identity:\n  issuers:\n  - name: a\n    issuer: https://a\n"
		  "    jwks_file: a.json\n    audiences: [m]\n  - name: b\n"
		  "    issuer: https://b\n    jwks_file: b.json\n"
		  "    subject_prefix: 'spiffe:'\n    audiences: [m]\n", 1,
		  "could begin a SPIFFE ID", "lack subject_prefix" },
		/* one error for three issuers without a prefix: each after
		 * the first is named once */
		{ "identity:\n  issuers:\n  - name: a\n    issuer: https://a\n"
		  "    jwks_file: a.json\n    audiences: [m]\n  - name: b\n"
		  "    issuer: https://b\n    jwks_file: b.json\n"
		  "    audiences: [m]\n  - name: c\n    issuer: https://c\n"
		  "    jwks_file: c.json\n    audiences: [m]\n", 2,
		  "'a' and 'c' both lack", NULL },
	};

	(void)state;
	for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		struct diag_list dl;
		struct config *cfg = NULL;
		bool found = false, unwanted = false;

		diag_init(&dl);
		assert_int_equal(config_parse("t.yaml", cases[i].yaml,
		    strlen(cases[i].yaml), &cfg, &dl), MANDATE_EINVAL);
		for (size_t k = 0; k < dl.n; k++) {
			if (strstr(dl.items[k].msg, cases[i].want) != NULL)
				found = true;
			if (cases[i].not_want != NULL &&
			    strstr(dl.items[k].msg, cases[i].not_want) != NULL)
				unwanted = true;
		}
		if (!found || unwanted || dl.n != cases[i].n_diags) {
			diag_print(&dl, stdout);
			fail_msg("case %zu: want %zu diagnostics with '%s' and "
			    "none with '%s'", i, cases[i].n_diags, cases[i].want,
			    cases[i].not_want ? cases[i].not_want : "");
		}
	}
}

static void
test_defaults_are_dev(void **state)
{
	struct config *cfg = NULL;

	(void)state;
	assert_int_equal(config_default(&cfg), MANDATE_OK);
	assert_true(cfg->dev.enabled);
	assert_true(cfg->api_auth.open_on_loopback);
	assert_true(cfg->authzen.authenticate);
	assert_null(cfg->source);
	assert_string_equal(cfg->server.listen, "127.0.0.1:8700");
	assert_string_equal(cfg->store.path, "./mandate-data/mandate.db");
	assert_string_equal(cfg->dev.trust_domain, "dev.local");
	assert_int_equal(cfg->identity.n_issuers, 0);
	assert_string_equal(config_alg_name(CONFIG_ALG_EDDSA), "EdDSA");
	config_free(cfg);
	config_free(NULL);
}

static void
test_limits(void **state)
{
	struct diag_list dl;
	struct config *cfg = NULL;
	size_t n = 30000 * 4 + 16, len = 0;
	char *big = malloc(n);

	(void)state;
	assert_non_null(big);
	/* too many nodes */
	len += (size_t)snprintf(big, n, "x: [");
	for (int i = 0; i < 25000 && len + 4 < n; i++)
		len += (size_t)snprintf(big + len, n - len, "1,");
	big[len++] = '1';
	big[len++] = ']';
	diag_init(&dl);
	assert_int_equal(config_parse(NULL, big, len, &cfg, &dl),
	    MANDATE_ELIMIT);
	assert_null(cfg);
	/* too large */
	diag_init(&dl);
	assert_int_equal(config_parse(NULL, big, CONFIG_MAX_FILE + 1, &cfg,
	    &dl), MANDATE_ELIMIT);
	free(big);
	/* many errors: kept up to DIAG_MAX, the rest counted */
	{
		char many[4096];
		size_t m = 0;

		for (int i = 0; i < 50; i++)
			m += (size_t)snprintf(many + m, sizeof(many) - m,
			    "k%d: 1\n", i);
		diag_init(&dl);
		assert_int_equal(config_parse("t", many, m, &cfg, &dl),
		    MANDATE_EINVAL);
		assert_int_equal(dl.n, DIAG_MAX);
		assert_int_equal(dl.dropped, 50 - DIAG_MAX);
	}
}

static void
test_lists_grow(void **state)
{
	/* Lists of every length up to 32 keep every item, in order. */
	(void)state;
	for (size_t reps = 1; reps < 64; reps *= 2) {
		char buf[8192];
		size_t m = (size_t)snprintf(buf, sizeof(buf), "policies:\n"
		    "  platform:\n");
		struct diag_list dl;
		struct config *cfg = NULL;

		for (size_t i = 0; i < reps; i++)
			m += (size_t)snprintf(buf + m, sizeof(buf) - m,
			    "    - /p/%zu\n", i);
		diag_init(&dl);
		assert_int_equal(config_parse("t", buf, m, &cfg, &dl),
		    MANDATE_OK);
		assert_int_equal(cfg->policies.platform.n, reps);
		assert_string_equal(cfg->policies.platform.v[reps - 1] + 3,
		    reps == 1 ? "0" : reps == 2 ? "1" : reps == 4 ? "3" :
		    reps == 8 ? "7" : reps == 16 ? "15" : "31");
		config_free(cfg);
	}
}

/* Every allocation of a full parse fails in turn: the result is always
 * MANDATE_OK or MANDATE_ENOMEM, never a crash or a leak (under ASan). */
static void
test_alloc_failures(void **state)
{
	static const char text[] =
	    "data_dir: /d\n"
	    "server: {listen: '[::1]:9', tls: {cert_file: c, key_file: k}}\n"
	    "policies:\n  platform: [a, b, c, d, e, f, g, h, i, j]\n"
	    "  tool_servers: {mail: m, gh: [x, y]}\n"
	    "tools:\n  output_labels: {read_file: [untrusted]}\n"
	    "identity:\n  issuers:\n  - name: i\n    issuer: https://i\n"
	    "    discovery: true\n    audiences: [m]\n"
	    "  - name: s\n    kind: spiffe\n    trust_domain: s.example\n"
	    "    bundle_file: b\n    audiences: [m]\n"
	    "api_auth: {bearer_issuers: [i]}\n";
	long ok_at = 0;

	(void)state;
	for (long k = 1; k < 2000 && ok_at == 0; k++) {
		struct diag_list dl;
		struct config *cfg = NULL;
		int r;

		diag_init(&dl);
		r = config_parse_fail_after("t", text, sizeof(text) - 1, &cfg,
		    &dl, k);
		if (r == MANDATE_OK) {
			assert_int_equal(cfg->identity.n_issuers, 2);
			config_free(cfg);
			ok_at = k;
		} else {
			assert_int_equal(r, MANDATE_ENOMEM);
			assert_null(cfg);
		}
	}
	assert_true(ok_at > 10);
}

static void
test_example_file(void **state)
{
	static const char *const candidates[] = {
		"../examples/mandate.yaml",
		"../../examples/mandate.yaml",
		"examples/mandate.yaml",
	};
	char path[4096];
	const char *root = getenv("MESON_SOURCE_ROOT");
	struct config *cfg = NULL;
	FILE *fp = NULL;

	(void)state;
	if (root != NULL) {
		snprintf(path, sizeof(path), "%s/examples/mandate.yaml", root);
		fp = fopen(path, "r");
	}
	for (size_t i = 0; fp == NULL && i < 3; i++) {
		snprintf(path, sizeof(path), "%s", candidates[i]);
		fp = fopen(path, "r");
	}
	assert_non_null(fp);
	fclose(fp);
	assert_int_equal(config_load_file(path, &cfg, stdout), MANDATE_OK);
	assert_int_equal(cfg->identity.n_issuers, 3);
	assert_int_equal(cfg->policies.n_tool_servers, 2);
	assert_int_equal(cfg->tools.n_output_labels, 2);
	assert_int_equal(cfg->server.tls.client_auth,
	    CONFIG_CLIENT_AUTH_OPTIONAL);
	assert_false(cfg->dev.enabled);
	assert_int_equal(cfg->audit.checkpoint_every, 1000);
	assert_int_equal(cfg->audit.checkpoint_interval, 60);
	assert_string_equal(cfg->audit.checkpoint_file,
	    "/var/log/mandate/audit-checkpoints.jsonl");
	assert_non_null(strstr(cfg->audit.key_file,
	    "/audit/checkpoint-key.pem"));
	config_free(cfg);
	assert_int_equal(config_load_file("/nonexistent/mandate.yaml", &cfg,
	    NULL), MANDATE_EIO);
	assert_null(cfg);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good),
		cmocka_unit_test(test_print_round_trip),
		cmocka_unit_test(test_bad),
		cmocka_unit_test(test_defaults_are_dev),
		cmocka_unit_test(test_listen_override),
		cmocka_unit_test(test_redact_path_limits),
		cmocka_unit_test(test_no_follow_on_errors),
		cmocka_unit_test(test_limits),
		cmocka_unit_test(test_lists_grow),
		cmocka_unit_test(test_alloc_failures),
		cmocka_unit_test(test_example_file),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

/*
 * config.h - the daemon's configuration, read from one YAML file.
 *
 * config_parse() turns YAML text into a struct config; every key has a
 * default, so an empty file (or config_default(), used when no file is
 * given) is a complete development configuration.  Unknown keys, wrong
 * types and bad values are reported as diagnostics with their location,
 * several per file, and the load fails: the server refuses to start.
 * docs/configuration.md lists every key, its type and default.
 *
 * Ownership: a struct config owns one arena holding itself and every
 * string and list it points to; config_free() releases all of it.  After
 * a successful load the configuration is immutable, so any number of
 * threads may read it concurrently without locking.
 *
 * Strings are NUL-terminated C strings (NULL when unset); durations are
 * whole seconds; sizes are bytes.  Relative paths are kept as written and
 * resolve against the server's working directory.
 */
#ifndef MANDATE_CONFIG_H
#define MANDATE_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#include "util/arena.h"
#include "util/diag.h"

/* Limits on the input: larger files, deeper nesting or more nodes are
 * rejected with MANDATE_ELIMIT.  Anchors and aliases are always rejected
 * (they buy nothing in a configuration file and invite billion-laughs). */
#define CONFIG_MAX_FILE      (1u << 20)
#define CONFIG_MAX_DEPTH     16
#define CONFIG_MAX_NODES     20000
#define CONFIG_MAX_ISSUERS   64

/* An oidc issuer's subject_prefix: 1..CONFIG_SUBJECT_PREFIX_MAX visible
 * ASCII characters (docs/configuration.md, "identity"). */
#define CONFIG_SUBJECT_PREFIX_MAX 64
/* The subjects of the development people issuer (src/dev/dev.h): a
 * configured subject_prefix may not overlap it. */
#define CONFIG_DEV_SUBJECT_PREFIX "dev-user:"

struct config_strlist {
	const char *const *v;
	size_t n;
};

enum config_client_auth {
	CONFIG_CLIENT_AUTH_NONE = 0,
	CONFIG_CLIENT_AUTH_OPTIONAL,
	CONFIG_CLIENT_AUTH_REQUIRE,
};

struct config_tls {
	const char *cert_file;       /* both or neither; TLS iff set */
	const char *key_file;
	const char *client_ca_file;  /* required unless client_auth none */
	enum config_client_auth client_auth;
};

struct config_server {
	const char *listen;          /* as written, "127.0.0.1:8700" */
	const char *listen_host;     /* "127.0.0.1", "::1" (no brackets) */
	uint16_t listen_port;
	unsigned threads;
	size_t max_body_size;
	size_t connection_memory;    /* per connection: request line, headers,
	                              * I/O buffers */
	uint64_t request_timeout;    /* seconds */
	unsigned max_connections;    /* open connections at once */
	unsigned max_per_ip;         /* from one client address; 0 = no limit */
	struct config_tls tls;
};

enum config_store_driver {
	CONFIG_STORE_SQLITE = 0,
	CONFIG_STORE_POSTGRES,
};

struct config_store {
	enum config_store_driver driver;
	const char *path;            /* sqlite; default <data_dir>/mandate.db */
	const char *dsn;             /* postgres; a secret (may use ${ENV:..}) */
};

struct config_tool_server {
	const char *name;
	struct config_strlist paths; /* .cedar files or directories */
};

/* A forbid policy whose evaluation errors (a missing attribute, a
 * type error): Cedar skips it; the daemon denies unless told to skip. */
enum config_forbid_error {
	CONFIG_FORBID_ERROR_DENY = 0,
	CONFIG_FORBID_ERROR_SKIP,
};

struct config_policies {
	struct config_strlist platform;      /* .cedar files or directories */
	const struct config_tool_server *tool_servers;
	size_t n_tool_servers;
	const char *schema_file;             /* NULL: no validation */
	struct config_strlist entity_files;
	bool watch;                          /* reload when files change */
	uint64_t reload_interval;            /* seconds between checks */
	enum config_forbid_error on_forbid_error;
};

/* JWS algorithms, as a bit set. */
enum config_alg {
	CONFIG_ALG_ES256 = 1u << 0,
	CONFIG_ALG_ES384 = 1u << 1,
	CONFIG_ALG_RS256 = 1u << 2,
	CONFIG_ALG_PS256 = 1u << 3,
	CONFIG_ALG_EDDSA = 1u << 4,
};
#define CONFIG_ALG_ALL 0x1fu

enum config_issuer_kind {
	CONFIG_ISSUER_OIDC = 0,
	CONFIG_ISSUER_SPIFFE,
};

/* One trusted workload (or people) identity issuer. */
struct config_issuer {
	const char *name;               /* unique; referenced by api_auth */
	enum config_issuer_kind kind;
	/* oidc: `iss` value; exactly one key source: discovery, jwks_uri
	 * or jwks_file. */
	const char *issuer;
	bool discovery;
	const char *jwks_uri;
	const char *jwks_file;
	/* oidc: the principal a token names is subject_prefix + sub (NULL:
	 * the sub alone).  OIDC Core 5.7: a sub is unique only within its
	 * issuer, so of several oidc issuers at most one goes without a
	 * prefix, and no prefix begins another (config_parse refuses the
	 * rest): no two issuers can name the same principal. */
	const char *subject_prefix;
	/* Not a configuration key: the tokens' sub already begins with
	 * subject_prefix, which is then required rather than added (the
	 * development people issuer, whose subs are dev-user:NAME). */
	bool subject_prefix_in_sub;
	struct config_strlist audiences;  /* required, at least one */
	unsigned algorithms;              /* enum config_alg bits, never 0 */
	uint64_t leeway;                  /* seconds, default 60 */
	size_t max_token_size;            /* bytes, default 8 KiB */
	uint64_t jwks_refresh;            /* seconds between refreshes */
	uint64_t jwks_max_stale;          /* last good set's hard expiry */
	/* spiffe: trust domain name (no scheme), a JWKS bundle from a file
	 * or URL, and an optional CA bundle for X.509-SVIDs over mTLS. */
	const char *trust_domain;
	const char *bundle_file;
	const char *bundle_url;
	uint64_t refresh_hint;            /* 0: use the bundle's hint */
	const char *x509_ca_file;
};

struct config_identity {
	const struct config_issuer *issuers;
	size_t n_issuers;
	size_t token_cache_size;          /* verified-token cache entries */
	size_t jwks_cache_size;           /* keys kept per issuer */
};

struct config_dpop {
	unsigned algorithms;              /* enum config_alg bits */
	uint64_t iat_window;              /* seconds, default 60 */
	bool require;                     /* every token must be bound */
	bool nonce;                       /* server-provided nonces */
	size_t replay_cache_size;         /* jti entries */
};

struct config_tokens {
	const char *issuer;               /* our `iss` and RFC 8414 issuer */
	const char *audience;             /* default `aud`; NULL: none */
	uint64_t default_ttl;             /* seconds, default 300 */
	uint64_t max_ttl;                 /* seconds, default 3600 */
	const char *key_dir;              /* default <data_dir>/keys */
	struct config_strlist key_files;  /* explicit PEM keys, first signs */
	uint64_t rotation_overlap;        /* old key stays published */
	uint64_t publish_delay;           /* a new key is published this long
	                                   * before it signs; default 300 */
	struct config_dpop dpop;
};

struct config_tasks {
	uint64_t default_ttl;             /* seconds, default 900 */
	uint64_t max_ttl;                 /* seconds, default 8 h */
	unsigned default_call_budget;     /* 0: unlimited */
	unsigned max_call_budget;         /* 0: unlimited */
	unsigned max_intents;
	uint64_t retention;               /* seconds after a task is over; 0:
	                                   * kept forever */
};

struct config_api_auth {
	struct config_strlist bearer_issuers;   /* identity issuer names */
	struct config_strlist bearer_subjects;  /* allowed `sub`s; empty: any */
	struct config_strlist mtls_identities;  /* SPIFFE IDs */
	bool open_on_loopback;                  /* no auth from 127.0.0.1/::1 */
};

/* The AuthZEN evaluation API (docs/configuration.md, `authzen`). */
struct config_authzen {
	/* callers authenticate as api_auth says (default); false opens the
	 * evaluation and search endpoints to anyone who can reach them */
	bool authenticate;
};

struct config_dev {
	bool enabled;
	const char *trust_domain;         /* "dev.local" */
	const char *oidc_issuer;          /* dev issuer for people */
};

enum config_log_level {
	CONFIG_LOG_DEBUG = 0,
	CONFIG_LOG_INFO,
	CONFIG_LOG_WARN,
	CONFIG_LOG_ERROR,
};

enum config_log_format {
	CONFIG_LOG_TEXT = 0,
	CONFIG_LOG_JSON,
};

enum config_audit_mode {
	CONFIG_AUDIT_SYNC = 0,            /* answer after the record is durable */
	CONFIG_AUDIT_ASYNC,
};

struct config_logging {
	enum config_log_level level;
	enum config_log_format format;
	enum config_audit_mode audit;
};

/* Output labels of tools (issue 4): when a call of `action` is
 * permitted within a task, `labels` join the task's session (the
 * conservative choice: assume the call ran and returned such data). */
#define CONFIG_MAX_TOOL_LABELS 64      /* labels per tool */
#define CONFIG_MAX_LABEL       128     /* bytes of one label */

struct config_tool_labels {
	const char *action;
	struct config_strlist labels;
};

struct config_tools {
	const struct config_tool_labels *output_labels;
	size_t n_output_labels;
};

/* The audit log's signed tree heads (docs/audit.md). */
struct config_audit {
	/* redaction and the writer (src/audit/writer.h, redact.h): dotted
	 * paths in a record's fields whose values are replaced by their HMAC
	 * ("arguments.password", "*" matches any one name) */
	struct config_strlist redact_paths;
	const char *redact_key_file;      /* default <data_dir>/audit-redact.key */
	size_t queue_size;                /* async mode's queue, records */
	size_t prompt_max;                /* bytes of a prompt kept */
	bool decisions;                   /* false: decisions unaudited (unsafe,
	                                   * for benchmarks only) */
	/* the query filters of GET /v1/audit given an index: "agent",
	 * "task", "type" (finish() checks the names) */
	struct config_strlist indexes;
	/* the signed tree heads */
	unsigned checkpoint_every;        /* records; default 1000; 0: time only */
	uint64_t checkpoint_interval;     /* seconds; default 60 */
	const char *checkpoint_file;      /* each checkpoint appended; NULL: none */
	const char *key_file;             /* default <data_dir>/audit/
	                                   * checkpoint-key.pem */
};

struct config {
	struct arena arena;               /* owns everything below */
	const char *source;               /* file name, or NULL for defaults */
	const char *data_dir;
	struct config_server server;
	struct config_store store;
	struct config_policies policies;
	struct config_identity identity;
	struct config_tokens tokens;
	struct config_tasks tasks;
	struct config_api_auth api_auth;
	struct config_authzen authzen;
	struct config_dev dev;
	struct config_logging logging;
	struct config_tools tools;
	struct config_audit audit;
};

/* What the command line sets over the file (or the defaults).  Applied
 * after the file's keys and before the checks across keys and the
 * derived defaults, so that both see it: the development instance's
 * loopback check, tokens.issuer's default.  Its errors name the option
 * ("--listen: error: ..."). */
struct config_overrides {
	const char *listen;   /* server.listen, "host:port" or "[v6]:port";
	                       * port 0 is allowed here (any free port: the
	                       * caller binds it); NULL keeps the file's */
};

/* The configuration used when no file is given: the development
 * instance (dev.enabled and api_auth.open_on_loopback are true).
 * MANDATE_OK with *out set, or MANDATE_ENOMEM. */
int config_default(struct config **out);

/* config_default() with overrides (may be NULL); errors go to `dl` (may
 * be NULL); MANDATE_EINVAL for a bad override. */
int config_default_with(const struct config_overrides *ov,
    struct config **out, struct diag_list *dl);

/* Parse YAML text.  `file` names the input in diagnostics (may be NULL);
 * the diagnostics borrow `file` and `src`, which must outlive `dl`.
 * MANDATE_OK with *out set (free with config_free), else *out is NULL,
 * `dl` holds at least one diagnostic and the status is MANDATE_EPARSE
 * (YAML syntax), MANDATE_EINVAL (unknown key, wrong type, bad value),
 * MANDATE_ELIMIT or MANDATE_ENOMEM.  A value written as "${ENV:NAME}"
 * (the whole scalar) takes the environment variable NAME, which must be
 * set; use it for secrets such as store.dsn. */
int config_parse(const char *file, const char *src, size_t len,
    struct config **out, struct diag_list *dl);

/* config_parse() with overrides (may be NULL). */
int config_parse_with(const char *file, const char *src, size_t len,
    const struct config_overrides *ov, struct config **out,
    struct diag_list *dl);

/* Read and parse a file.  On failure, prints "file:line:col: error: ..."
 * lines to `err` (if not NULL) and returns the status as above, or
 * MANDATE_EIO / MANDATE_ELIMIT when the file cannot be read or is larger
 * than CONFIG_MAX_FILE. */
int config_load_file(const char *path, struct config **out, FILE *err);

/* config_load_file() with overrides (may be NULL); a NULL path loads
 * the defaults (config_default_with), printing its errors the same way. */
int config_load(const char *path, const struct config_overrides *ov,
    struct config **out, FILE *err);

/* Free a configuration (NULL is fine). */
void config_free(struct config *cfg);

/* Write the effective configuration (defaults filled in) as YAML that
 * config_parse() reads back to the same values; for
 * `mandate serve --print-config` and the startup log.  With `redact`,
 * secrets (store.dsn) are replaced by a comment, so the output is safe
 * to log but may not load as is.  Returns 0, or -1 on a write error. */
int config_print(const struct config *cfg, FILE *fp, bool redact);

/* The name of one algorithm bit ("ES256"...), "?" for anything else. */
const char *config_alg_name(enum config_alg alg);

#endif

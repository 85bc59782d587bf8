/*
 * daemon.h - `mandate serve`: the daemon's life cycle and its policies.
 *
 * A struct daemon ties the modules together: it loads the configuration
 * (a YAML file, or config_default() for the development instance),
 * creates the data directory (0700), opens the store, loads the platform
 * and tool-server policies into one finished Cedar policy set, sets up
 * the identity verifier (src/identity) and the token service (src/sts),
 * registers the HTTP API (tasks, kill switch, OAuth endpoints) and the
 * readiness checks (store, policies, signing key), logs (JSON lines or
 * text, per configuration) and runs until SIGTERM or SIGINT, then stops
 * gracefully.
 *
 * Life cycle: daemon_new() -> daemon_start() -> daemon_run() (blocks
 * until a signal) -> daemon_free().  daemon_stop() may replace
 * daemon_run() in tests.  These four are called from one thread (main).
 *
 * Policies are an immutable, reference-counted snapshot (struct
 * daemon_policies) published through one pointer: request threads take a
 * reference with daemon_policies_get() and drop it with
 * daemon_policies_put(); daemon_policies_swap() is the only way to change
 * them (a reload builds and checks a complete new snapshot first).  Both
 * are thread-safe.
 *
 * Errors: MANDATE_* statuses; start-up failures are also described on the
 * daemon's log stream (configuration errors as file:line:col lines).
 */
#ifndef MANDATE_DAEMON_H
#define MANDATE_DAEMON_H

#include <stdint.h>
#include <stdio.h>

#include "cedar/cedar.h"
#include "config/config.h"

struct daemon;

struct daemon_options {
	const char *config_file;   /* NULL: the development instance */
	const char *listen;        /* "host:port" overriding server.listen;
	                            * NULL keeps the configuration's */
	const char *data_dir;      /* overrides data_dir (and the default
	                            * store path and key dir); may be NULL */
	FILE *log;                 /* log stream; NULL = stderr */
};

/* Load everything and build the server (not yet listening).  On failure
 * *out is NULL, the reason has been logged and the status is
 * MANDATE_EPARSE/EINVAL (bad configuration or policies), MANDATE_EIO
 * (data dir, store or files), MANDATE_ENOMEM or MANDATE_EINTERNAL. */
int daemon_new(const struct daemon_options *opt, struct daemon **out);

/* Note a SIGHUP that arrives before daemon_start() installs the
 * daemon's handlers (its default action would end the process), to be
 * taken as a reload once they are; and ignore SIGXFSZ for good, so that
 * a write past a file-size limit fails (and is handled as a full disk)
 * instead of ending the process.  daemon_new() calls it; a command
 * that does more before (mandate serve) calls it first. */
void daemon_signals_early(void);

/* Start listening; logs the start-up line.  MANDATE_EIO if the address
 * cannot be bound. */
int daemon_start(struct daemon *d);

/* The bound port (after start). */
uint16_t daemon_port(const struct daemon *d);

/* Block until SIGTERM or SIGINT (self-pipe), then stop gracefully:
 * requests in flight get up to DAEMON_GRACE_MS to finish.  The signal
 * dispositions are restored before returning.  MANDATE_OK, or
 * MANDATE_EIO if the signal handling cannot be set up. */
#define DAEMON_GRACE_MS 10000u
int daemon_run(struct daemon *d);

/* Stop the server gracefully (idempotent). */
void daemon_stop(struct daemon *d);

/* Stop if needed and free everything.  NULL is fine. */
void daemon_free(struct daemon *d);

/* ---- policy snapshots ---- */

/* Immutable once published.  The policy set uses annotation ids
 * (@id("..."), else policyN). */
struct daemon_policies {
	struct cedar_policy_set *set;      /* finished */
	struct cedar_schema *schema;       /* NULL without policies.schema */
	struct cedar_entities *entities;   /* NULL without entity files */
	size_t n_files;                    /* .cedar files loaded */
	const char *origin;                /* short description for logs */
	/* the version: SHA-256 (hex) over the contents of the policy files
	 * (in load order), the schema and the entity files, each tagged and
	 * length-prefixed; equal inputs give equal hashes */
	char hash[65];
	/* private: reference count, and the arena holding the file names
	 * the policy set's diagnostics may refer to */
	_Atomic long refs_priv;
	struct arena arena_priv;
};

/* Load and check the policies a configuration names: platform files and
 * directories (every *.cedar, sorted by name), every tool server's, the
 * schema (strict validation of every policy when set) and the entity
 * files (merged into one set).  With no policy path at all and cfg->dev.enabled, the
 * development policies (examples/policies/mandate.cedar) are loaded.
 * Diagnostics go to err as file:line:col lines.  *out holds one
 * reference.  MANDATE_EPARSE / EVALIDATE / EIO / ELIMIT / ENOMEM. */
int daemon_policies_load(const struct config *cfg, FILE *err,
    struct daemon_policies **out);

/* A new reference to the current snapshot; never NULL after a successful
 * daemon_new(). */
struct daemon_policies *daemon_policies_get(struct daemon *d);

/* Drop a reference (NULL is fine); the last one frees the snapshot. */
void daemon_policies_put(struct daemon_policies *p);

/* Publish p (the daemon takes the caller's reference); the old snapshot
 * is released once its last reader is done.  Replacing a set is recorded
 * in the audit log first (policy.reloaded): when that record cannot be
 * written, p is dropped, the current set stays and MANDATE_EIO is
 * returned (a policy change the log cannot show does not happen).  While
 * the record is written, readers go on taking the current set: a swap
 * never holds an evaluation for the audit log's flush or busy timeout. */
int daemon_policies_swap(struct daemon *d, struct daemon_policies *p);

#endif

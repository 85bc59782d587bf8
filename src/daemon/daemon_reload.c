/*
 * daemon_reload.c - replacing the policies while the daemon runs.
 *
 * Three triggers reload the policies, schema and entity files: SIGHUP,
 * a change of the files (policies.watch, checked every
 * policies.reload_interval) and POST /v1/policies/reload.  Each builds a
 * complete snapshot with daemon_policies_load() and publishes it with
 * daemon_policies_swap(); a set that fails to parse, compile or validate
 * is refused with its diagnostics (in the log, the audit log as
 * policy.reload_refused, and the HTTP answer) and the last good set
 * stays in force; so is a set read while the files changed.  Reloads are
 * serialized.
 *
 * The endpoint is authorized by the policies themselves: principal
 * Delegator::"<caller>", action Action::"mandate:reload_policies",
 * resource Policies::"default", context {caller: {...}}.
 */
#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>

#include "daemon/daemon_int.h"
#include "util/status.h"

#define RELOAD_MAX_DIAG (64u << 10)   /* bytes of diagnostics returned */
#define RELOAD_ATTEMPTS 3             /* reads of files that keep changing */

static uint64_t
mix(uint64_t h, const void *p, size_t n)
{
	const unsigned char *b = p;

	for (size_t i = 0; i < n; i++) {   /* FNV-1a */
		h ^= b[i];
		h *= 1099511628211ull;
	}
	return h;
}

static uint64_t
stat_mix(uint64_t h, const char *path)
{
	struct stat st;
	int64_t v[5] = { 0, 0, 0, 0, 0 };

	h = mix(h, path, strlen(path) + 1);
	if (stat(path, &st) == 0) {
		v[0] = (int64_t)st.st_size;
		v[1] = (int64_t)st.st_mtim.tv_sec;
		v[2] = (int64_t)st.st_mtim.tv_nsec;
		v[3] = (int64_t)st.st_ino;
		v[4] = 1;
	}
	return mix(h, v, sizeof(v));
}

/* A path, and when it is a directory its *.cedar entries (readdir order
 * does not matter: the entries are folded in order-independently). */
static uint64_t
path_mix(uint64_t h, const char *path)
{
	struct stat st;
	struct dirent *de;
	DIR *dir;
	uint64_t acc = 0;
	size_t n_entries = 0;

	h = stat_mix(h, path);
	if (stat(path, &st) != 0 || !S_ISDIR(st.st_mode) ||
	    (dir = opendir(path)) == NULL)
		return h;
	while ((de = readdir(dir)) != NULL && n_entries < 4096) {
		size_t n = strlen(de->d_name);
		char full[4096];
		int w;

		if (n < 7 || de->d_name[0] == '.' ||
		    strcmp(de->d_name + n - 6, ".cedar") != 0)
			continue;
		w = snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
		if (w < 0 || (size_t)w >= sizeof(full))
			continue;
		acc += stat_mix(1469598103934665603ull, full);
		n_entries++;
	}
	closedir(dir);
	return mix(h, &acc, sizeof(acc));
}

uint64_t
daemon_policies_fingerprint(const struct config *cfg)
{
	const struct config_policies *pc = &cfg->policies;
	uint64_t h = 1469598103934665603ull;

	for (size_t i = 0; i < pc->platform.n; i++)
		h = path_mix(h, pc->platform.v[i]);
	for (size_t t = 0; t < pc->n_tool_servers; t++)
		for (size_t i = 0; i < pc->tool_servers[t].paths.n; i++)
			h = path_mix(h, pc->tool_servers[t].paths.v[i]);
	if (pc->schema_file != NULL)
		h = stat_mix(h, pc->schema_file);
	for (size_t i = 0; i < pc->entity_files.n; i++)
		h = stat_mix(h, pc->entity_files.v[i]);
	return h;
}

static void
count_reload(struct daemon *d, const char *result)
{
	const char *v[1] = { result };
	http_series_add(http_metric_series(d->m_reloads, v), 1);
}

#define REFUSED_MAX_LINES 20      /* diagnostics kept in the record */
#define REFUSED_MAX_LINE 512      /* bytes of each */

/* policy.reload_refused: a refused set is an event of the audit log
 * whatever asked for it (SIGHUP and the file watch have no answer to
 * carry it), as a replacement is (policy.reloaded).  The record names
 * the set that stays in force (its policy_hash). */
static void
audit_refused(struct daemon *d, const char *why, int status,
    const char *text, size_t len)
{
	json_t *lines = json_array(), *f;

	for (size_t at = 0; lines != NULL && text != NULL && at < len &&
	    json_array_size(lines) < REFUSED_MAX_LINES;) {
		const char *nl = memchr(text + at, '\n', len - at);
		size_t n = nl ? (size_t)(nl - (text + at)) : len - at;

		if (n > 0)
			json_array_append_new(lines, json_stringn(text + at,
			    n > REFUSED_MAX_LINE ? REFUSED_MAX_LINE : n));
		at += n + 1;
	}
	f = json_pack("{s:s,s:s,s:o*}", "origin", why, "status",
	    mandate_strerror(status), "diagnostics", lines);
	if (f == NULL || daemon_audit(d, NULL, "policy.reload_refused",
	    STR_NULL, STR_NULL, f) != MANDATE_OK)
		daemon_log(d, DLOG_ERROR, "policy reload (%s): the refusal "
		    "could not be recorded in the audit log", why);
}

/* Is p the set in force already (same hash: the same policies, schema
 * and entities)? */
static bool
same_as_in_force(struct daemon *d, const struct daemon_policies *p)
{
	struct daemon_policies *cur = daemon_policies_get(d);
	bool same = cur != NULL && strcmp(cur->hash, p->hash) == 0;

	daemon_policies_put(cur);
	return same;
}

static int reload(struct daemon *d, const char *why, char **diag,
    struct daemon_policies **in_force, bool *refused, bool if_changed);

int
daemon_policies_reload(struct daemon *d, const char *why, char **diag,
    struct daemon_policies **in_force, bool *refused)
{
	return reload(d, why, diag, in_force, refused, false);
}

int
daemon_policies_reload_if_changed(struct daemon *d, const char *why)
{
	return reload(d, why, NULL, NULL, NULL, true);
}

/* if_changed: a set that is the one in force already is not swapped in
 * again (nor recorded): the file watch sees touches, editors' swap
 * files and rewrites of the same text, which change nothing. */
static int
reload(struct daemon *d, const char *why, char **diag,
    struct daemon_policies **in_force, bool *refused, bool if_changed)
{
	struct daemon_policies *p = NULL;
	char *text = NULL;
	size_t len = 0;
	FILE *mem;
	int r;

	if (diag != NULL)
		*diag = NULL;
	if (in_force != NULL)
		*in_force = NULL;
	if (refused != NULL)
		*refused = false;
	pthread_mutex_lock(&d->reload_lock);
	/* The files are read one after another: a read during which they
	 * changed may be half one state and half another (new policies with
	 * the old entities), which the files never were.  Such a read is
	 * done again; while they keep changing, the set is refused (the file
	 * watch tries again once they have stayed the same). */
	for (int attempt = 1;; attempt++) {
		uint64_t fp = daemon_policies_fingerprint(d->cfg);

		d->policy_fp = fp;
		if ((mem = open_memstream(&text, &len)) == NULL) {
			pthread_mutex_unlock(&d->reload_lock);
			daemon_log(d, DLOG_ERROR, "policy reload (%s): out of "
			    "memory; the current policies stay", why);
			return MANDATE_ENOMEM;
		}
		r = daemon_policies_load(d->cfg, mem, &p);
		if (daemon_policies_fingerprint(d->cfg) == fp) {
			fclose(mem);
			break;
		}
		if (attempt == RELOAD_ATTEMPTS) {
			fprintf(mem, "policies: error: the files changed while "
			    "they were read (%d times); reload once they are "
			    "written\n", RELOAD_ATTEMPTS);
			fclose(mem);
			daemon_policies_put(p);
			p = NULL;
			if (r == MANDATE_OK)
				r = MANDATE_ECONFLICT;
			break;
		}
		fclose(mem);
		daemon_policies_put(p);
		p = NULL;
		free(text);
		text = NULL;
		len = 0;
	}
	if (r == MANDATE_OK && if_changed && same_as_in_force(d, p)) {
		daemon_log(d, DLOG_INFO, "policy reload (%s): the set is the "
		    "one in force (%.12s...): nothing to replace", why,
		    p->hash);
		count_reload(d, "unchanged");
		daemon_policies_put(p);
		p = NULL;
	} else if (r == MANDATE_OK) {
		daemon_log(d, DLOG_INFO, "policy reload (%s): %s: %zu policies "
		    "from %zu files%s", why, p->origin,
		    cedar_policy_set_count(p->set), p->n_files,
		    p->entities ? ", with entities" : "");
		/* a reference for the caller, taken before the swap owns p
		 * (the swap drops p's own when it fails) */
		atomic_fetch_add(&p->refs_priv, 1);
		r = daemon_policies_swap(d, p);
		count_reload(d, r == MANDATE_OK ? "reloaded" : "failed");
		if (r == MANDATE_OK && in_force != NULL)
			*in_force = p;
		else
			daemon_policies_put(p);
		p = NULL;
		if (r != MANDATE_OK)
			d->policy_fp = 0;   /* the watch tries again */
		/* what the load warned of (files it did not read) */
		for (size_t at = 0; text != NULL && at < len;) {
			const char *nl = memchr(text + at, '\n', len - at);
			size_t n = nl ? (size_t)(nl - (text + at)) : len - at;

			if (n > 0)
				daemon_log(d, DLOG_WARN, "policy reload (%s): "
				    "%.*s", why, (int)n, text + at);
			at += n + 1;
		}
	} else {
		size_t shown = len > RELOAD_MAX_DIAG ? RELOAD_MAX_DIAG : len;

		if (refused != NULL)
			*refused = true;

		daemon_log(d, DLOG_ERROR, "policy reload (%s) refused (%s); the "
		    "current policies stay%s", why, mandate_strerror(r),
		    shown > 0 ? ":" : "");
		/* each diagnostic its own log line (a newline inside one
		 * would be escaped to '?', one event per line) */
		for (size_t at = 0; text != NULL && at < shown;) {
			const char *nl = memchr(text + at, '\n', shown - at);
			size_t n = nl ? (size_t)(nl - (text + at)) : shown - at;

			if (n > 0)
				daemon_log(d, DLOG_ERROR, "policy reload (%s): "
				    "%.*s", why, (int)n, text + at);
			at += n + 1;
		}
		count_reload(d, "refused");
		audit_refused(d, why, r, text, shown);
	}
	pthread_mutex_unlock(&d->reload_lock);
	if (diag != NULL && text != NULL && len > 0) {
		if (len > RELOAD_MAX_DIAG)
			text[RELOAD_MAX_DIAG] = '\0';
		*diag = text;
		text = NULL;
	}
	free(text);
	return r;
}

/* The load's messages, one string a line (at most 200). */
static json_t *
diag_lines(char *diag)
{
	json_t *lines = json_array();
	char *save = diag, *nl;

	if (lines == NULL || diag == NULL)
		return lines;
	while (*save != '\0' && json_array_size(lines) < 200) {
		nl = strchr(save, '\n');
		if (nl != NULL)
			*nl = '\0';
		if (*save != '\0')
			json_array_append_new(lines, json_string(save));
		if (nl == NULL)
			break;
		save = nl + 1;
	}
	return lines;
}

/* POST /v1/policies/reload: 200 {"reloaded": true, policies, files,
 * policy_hash, [warnings]} or 422 {"error": "invalid_policies",
 * "error_description", "diagnostics": [lines]} with the old set still in
 * force. */
static void
h_reload(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	struct api_caller caller;
	struct daemon_policies *p = NULL;
	json_t *ctx, *reasons = NULL, *j = NULL, *lines;
	char *diag = NULL, why[300];
	bool allow = false, refused = false;
	int r;

	if (!api_authenticate(d, req, &caller))
		return;
	ctx = json_pack("{s:{s:s,s:s,s:s}}", "caller", "id", caller.principal,
	    "kind", caller.kind ? caller.kind : "", "issuer",
	    caller.issuer ? caller.issuer : "");
	if (ctx == NULL) {
		http_respond_error(req, 500, "server_error", NULL);
		return;
	}
	api_decide(d, req, caller.principal, "mandate:reload_policies",
	    "Policies", STR_LIT("default"), ctx, &allow, &reasons);
	if (!allow) {
		/* refused, and recorded as every refused operation is */
		api_audit(d, req, "policies.reload_denied", STR_NULL, STR_NULL,
		    json_pack("{s:s,s:O?}", "by", caller.principal, "policies",
		    reasons));
		json_decref(reasons);
		http_respond_error(req, 403, "access_denied", "the policies do "
		    "not allow this caller to reload them");
		return;
	}
	json_decref(reasons);
	snprintf(why, sizeof(why), "POST /v1/policies/reload by %.200s",
	    caller.principal);
	/* the answer and its record tell of the set this reload put in
	 * force, even when another reload has replaced it since */
	r = daemon_policies_reload(d, why, &diag, &p, &refused);
	if (r == MANDATE_OK) {
		j = json_pack("{s:b,s:I,s:I,s:s}", "reloaded", 1, "policies",
		    (json_int_t)(p ? cedar_policy_set_count(p->set) : 0),
		    "files", (json_int_t)(p ? p->n_files : 0),
		    "policy_hash", p ? p->hash : "");
		/* what the load warned of: files it did not read */
		if (j != NULL && diag != NULL && diag[0] != '\0')
			json_object_set_new(j, "warnings", diag_lines(diag));
		/* the record names the set the reload put in force (not the
		 * one that allowed it, which a request's records otherwise
		 * name): its policy.reloaded record has the same hash */
		api_audit(d, req, "policies.reloaded", STR_NULL, STR_NULL,
		    p != NULL && p->hash[0] != '\0' ? json_pack("{s:s,s:s}",
		    "by", caller.principal, "policy_hash", p->hash) :
		    json_pack("{s:s}", "by", caller.principal));
		daemon_policies_put(p);
		http_respond_json(req, 200, j);
	} else if (!refused && r == MANDATE_EIO) {
		/* the new set was good; its audit record was not written */
		http_respond_error(req, 500, "server_error", "the policies "
		    "were not replaced: their audit record could not be "
		    "written; the current policies stay");
	} else if (r == MANDATE_ENOMEM || r == MANDATE_EINTERNAL) {
		http_respond_error(req, 500, "server_error", NULL);
	} else {
		lines = diag_lines(diag);
		api_audit(d, req, "policies.reload_refused", STR_NULL,
		    STR_NULL, json_pack("{s:s,s:s}", "by", caller.principal,
		    "status", mandate_strerror(r)));
		j = json_pack("{s:s,s:s,s:o*}", "error", "invalid_policies",
		    "error_description", "the new policies were refused; the "
		    "current ones stay in force", "diagnostics", lines);
		http_respond_json(req, 422, j);
	}
	free(diag);
}

int
api_reload_register(struct daemon *d, struct http_server *srv)
{
	return http_server_route(srv, "POST", "/v1/policies/reload", h_reload,
	    d);
}

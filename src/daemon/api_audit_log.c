/*
 * api_audit_log.c - the audit log's signed tree heads and proofs.
 *
 *   GET /v1/audit/checkpoint                    the latest signed tree head
 *   GET /v1/audit/proof/inclusion?index=&size=  RFC 9162 PATH
 *   GET /v1/audit/proof/consistency?from=&to=   RFC 9162 PROOF
 *
 * At start the log must still hold its latest stored checkpoint (its
 * signed form) and the largest checkpoint in audit.checkpoint_file: a
 * database rolled back or truncated below them, or edited under them, is
 * refused (fail closed).
 * Checkpoints are made every audit.checkpoint_every records (checked after
 * each append the daemon makes through api_audit and at each tick) or
 * every audit.checkpoint_interval seconds when the log grew, and at
 * shutdown; each is signed with the audit key (src/audit/audit_key.c),
 * stored in the audit_checkpoints table and, with audit.checkpoint_file,
 * appended to that file as one JSON line.  The endpoints need an
 * authenticated caller (api_authenticate); they reveal hashes only.
 * Hashes travel as unpadded base64url (RFC 4648 section 5).  Proofs take
 * complete-subtree hashes from a cache (src/audit/tree_cache.c), so a
 * proof costs O(log n) store reads once its subtrees were computed.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <jansson.h>

#include "audit/audit.h"
#include "daemon/daemon_int.h"
#include "util/file.h"
#include "util/status.h"

#define EXPORT_MAX_LINE (16u * 1024)   /* one checkpoint line */

/* The largest checkpoint exported to audit.checkpoint_file, by the size
 * its signed payload says (every line is read: an older line appended
 * again, which an append-only file allows, must not hide a larger one).
 * *jws (in the arena) is STR_NULL when the file is absent or holds no
 * line.  Only the largest is verified, by the caller; but no line may be
 * other than a checkpoint, and two of the largest size must agree on the
 * root (unless the daemon signed two roots for one size, one of them was
 * forged): otherwise EINVAL, said in the log. */
static int
largest_exported(struct daemon *d, struct arena *a, struct str *jws)
{
	const char *path = d->cfg->audit.checkpoint_file;
	struct audit_checkpoint best, c;
	struct arena line_a;
	struct stat st;
	char *buf = NULL;
	size_t lineno = 0, best_line = 0;
	const char *why = NULL;
	FILE *fp = NULL;
	int fd, r = MANDATE_EIO;

	*jws = STR_NULL;
	memset(&best, 0, sizeof(best));
	if (path == NULL)
		return MANDATE_OK;
	/* O_NONBLOCK: a named pipe would wait for a writer here, and the
	 * daemon hang before it listens; refused below instead (it cannot be
	 * read back) */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW |
	    O_NONBLOCK)) < 0)
		return errno == ENOENT ? MANDATE_OK : MANDATE_EIO;
	if (fstat(fd, &st) == 0 && !S_ISREG(st.st_mode)) {
		daemon_log(d, DLOG_ERROR, "audit.checkpoint_file %s: not a "
		    "regular file (the daemon reads its checkpoints back at "
		    "start); not starting", path);
		close(fd);
		return MANDATE_EINVAL;
	}
	if (fstat(fd, &st) != 0 || (fp = fdopen(fd, "r")) == NULL) {
		close(fd);
		return MANDATE_EIO;
	}
	arena_init(&line_a, 0);
	if ((buf = arena_alloc(a, EXPORT_MAX_LINE + 2)) == NULL) {
		r = MANDATE_ENOMEM;
		goto out;
	}
	while (fgets(buf, EXPORT_MAX_LINE + 2, fp) != NULL) {
		size_t n = strlen(buf);
		struct str text;
		lineno++;
		if (n > 0 && buf[n - 1] != '\n' && !feof(fp)) {
			daemon_log(d, DLOG_ERROR, "audit.checkpoint_file %s:%zu: "
			    "line too long; not starting", path, lineno);
			r = MANDATE_EINVAL;
			goto out;
		}
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == '\r' ||
		    buf[n - 1] == ' ' || buf[n - 1] == '\t'))
			n--;
		if (n == 0)
			continue;
		arena_reset(&line_a);
		text = audit_checkpoint_from_line(str_make(buf, n));
		if (audit_checkpoint_read_unverified(&line_a, text, &c, &why) !=
		    MANDATE_OK) {
			daemon_log(d, DLOG_ERROR, "audit.checkpoint_file %s:%zu: "
			    "not a checkpoint (%s); not starting", path, lineno,
			    why);
			r = MANDATE_EINVAL;
			goto out;
		}
		if (c.size == best.size && memcmp(c.root, best.root,
		    MERKLE_HASH_LEN) != 0) {
			daemon_log(d, DLOG_ERROR, "audit.checkpoint_file %s: lines "
			    "%zu and %zu give two roots for %" PRId64 " records: "
			    "one is forged, or the log was rolled back before; not "
			    "starting (check it with `mandate audit verify "
			    "--checkpoint`)", path, best_line, lineno, c.size);
			r = MANDATE_EINVAL;
			goto out;
		}
		if (c.size > best.size) {
			best = c;
			best_line = lineno;
			*jws = arena_strdup(a, text.p, text.n);
			if (jws->p == NULL) {
				r = MANDATE_ENOMEM;
				goto out;
			}
		}
	}
	r = ferror(fp) ? MANDATE_EIO : MANDATE_OK;
out:
	if (r != MANDATE_OK)
		*jws = STR_NULL;
	arena_free(&line_a);
	fclose(fp);
	return r;
}

/* The log must still hold what a checkpoint says it held: its size
 * within the tree and its root the root of that prefix. */
static int
still_holds(struct daemon *d, const char *what, int64_t size,
    const uint8_t *root, int64_t tree_size)
{
	struct audit_cached_source src = { d->store, d->audit_cache };
	merkle_hash have;
	int r;

	if (size > tree_size) {
		daemon_log(d, DLOG_ERROR, "the audit log holds %" PRId64
		    " records but %s covers %" PRId64 ": it was rolled back or "
		    "truncated; not starting (run `mandate audit verify`)",
		    tree_size, what, size);
		return MANDATE_EINVAL;
	}
	if ((r = audit_cached_range_root(&src, 0, (uint64_t)size, have)) !=
	    MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "audit log: cannot compute the root "
		    "of %" PRId64 " records: %s", size, mandate_strerror(r));
		return r;
	}
	if (memcmp(have, root, MERKLE_HASH_LEN) != 0) {
		daemon_log(d, DLOG_ERROR, "the audit log's first %" PRId64
		    " records no longer produce the root of %s: it was edited; "
		    "not starting (run `mandate audit verify`)", size, what);
		return MANDATE_EINVAL;
	}
	return MANDATE_OK;
}

/* The latest stored checkpoint as signed: its JWS must verify with the
 * audit key and say what its row says (the row's size and root are what
 * the start-up check compares).  One signed by another key (the audit key
 * was replaced; docs/audit.md) can be checked by its row only, and is,
 * with a warning. */
static int
stored_signed(struct daemon *d, struct arena *a,
    const struct store_audit_checkpoint *last, struct audit_checkpoint *c)
{
	struct jose_jws jws;
	struct str kid = jose_key_kid(d->audit_key);
	const char *why = NULL;

	if (audit_checkpoint_verify(a, last->signed_text, d->audit_key, c,
	    &why) != MANDATE_OK) {
		if (jose_jws_parse(a, last->signed_text.p, last->signed_text.n,
		    0, &jws, NULL) == MANDATE_OK && jws.kid.n > 0 &&
		    !str_eq(jws.kid, kid)) {
			daemon_log(d, DLOG_WARN, "the latest stored audit "
			    "checkpoint (%" PRId64 " records) was signed by "
			    "another audit key (kid %.*s): checked by its stored "
			    "size and root only", last->tree_size,
			    (int)jws.kid.n, jws.kid.p);
			c->size = last->tree_size;
			memcpy(c->root, last->root, MERKLE_HASH_LEN);
			c->time = last->time;
			return MANDATE_OK;
		}
		daemon_log(d, DLOG_ERROR, "the latest stored audit checkpoint "
		    "(%" PRId64 " records) does not verify with the audit key "
		    "(%s): the database was edited; not starting (run `mandate "
		    "audit verify`)", last->tree_size, why);
		return MANDATE_EINVAL;
	}
	if (c->size != last->tree_size || c->time != last->time ||
	    memcmp(c->root, last->root, MERKLE_HASH_LEN) != 0) {
		daemon_log(d, DLOG_ERROR, "the latest stored audit checkpoint "
		    "(%" PRId64 " records) differs from what it signed: the "
		    "database was edited; not starting (run `mandate audit "
		    "verify`)", last->tree_size);
		return MANDATE_EINVAL;
	}
	return MANDATE_OK;
}

/* At start: the log still holds the latest stored checkpoint (as signed)
 * and the largest one exported to audit.checkpoint_file (a rollback of
 * the database below what left the daemon's reach is refused, fail
 * closed).  *exported: the size of that largest exported one (0: none). */
static int
startup_check(struct daemon *d, struct arena *a,
    const struct store_audit_checkpoint *last, int64_t *exported)
{
	struct audit_checkpoint c;
	struct str jws;
	merkle_hash head;
	const char *why = NULL;
	int64_t size = 0;
	int r;

	*exported = 0;
	if ((r = store_audit_tree_head(d->store, &size, head)) != MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "audit tree head: %s",
		    mandate_strerror(r));
		return r;
	}
	if (last != NULL && ((r = stored_signed(d, a, last, &c)) !=
	    MANDATE_OK || (r = still_holds(d, "its latest stored checkpoint",
	    c.size, c.root, size)) != MANDATE_OK))
		return r;
	if ((r = largest_exported(d, a, &jws)) != MANDATE_OK) {
		if (r != MANDATE_EINVAL)
			daemon_log(d, DLOG_ERROR, "audit.checkpoint_file %s: "
			    "cannot read it: %s; not starting",
			    d->cfg->audit.checkpoint_file, mandate_strerror(r));
		return r;
	}
	if (jws.n == 0)
		return MANDATE_OK;
	if (audit_checkpoint_verify(a, jws, d->audit_key, &c, &why) !=
	    MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "audit.checkpoint_file %s: its largest "
		    "checkpoint does not verify with the audit key (%s); not "
		    "starting", d->cfg->audit.checkpoint_file, why);
		return MANDATE_EINVAL;
	}
	*exported = c.size;
	return still_holds(d, "the largest exported checkpoint", c.size,
	    c.root, size);
}

static int export_checkpoint(struct daemon *d, struct arena *a,
    const struct audit_checkpoint *c, struct str jws);

/* At start, the latest stored checkpoint is appended to
 * audit.checkpoint_file when the file lacks it (the daemon stopped
 * between storing and exporting it, or the export failed), so that the
 * file's anchor against a rollback is as recent as the database's.  Only
 * one signed by the audit key: a file line the key cannot verify would
 * stop the next start. */
static void
export_missing(struct daemon *d, struct arena *a,
    const struct store_audit_checkpoint *last, int64_t exported)
{
	struct audit_checkpoint c;
	const char *why = NULL;

	if (d->cfg->audit.checkpoint_file == NULL ||
	    last->tree_size <= exported ||
	    audit_checkpoint_verify(a, last->signed_text, d->audit_key, &c,
	    &why) != MANDATE_OK)
		return;
	if (export_checkpoint(d, a, &c, last->signed_text) == MANDATE_OK)
		daemon_log(d, DLOG_WARN, "audit.checkpoint_file %s lacked the "
		    "latest stored checkpoint (%" PRId64 " records; the file's "
		    "largest covers %" PRId64 "): appended",
		    d->cfg->audit.checkpoint_file, last->tree_size, exported);
}

/* The audit key is made at the first start, when the log has no
 * checkpoint yet.  A key file missing later was lost (a damaged disk, a
 * restore that left it out, a path changed by mistake): making a new
 * one would go on signing with a key no verifier has, and every
 * checkpoint before it would stop verifying with the key beside the
 * database, all with a warning only.  Refused instead; replacing the key
 * on purpose stays possible (put the new key file in place). */
static int
refuse_lost_key(struct daemon *d)
{
	struct store_audit_checkpoint last;
	struct stat sb;
	struct arena a;
	int r;

	if (lstat(d->cfg->audit.key_file, &sb) == 0 || errno != ENOENT)
		return MANDATE_OK;      /* there: read and checked as before */
	arena_init(&a, 0);
	r = store_audit_checkpoint_latest(d->store, &a, &last);
	if (r == MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "the audit key %s is missing, but the "
		    "log already has signed checkpoints (the latest covers %"
		    PRId64 " records): the key was lost, and a new one would "
		    "sign checkpoints no verifier can tie to the old ones. "
		    "Restore the key file; to start a new audit key on "
		    "purpose, put a new P-256 key there (PKCS#8 PEM, mode "
		    "0600) and keep the old public JWK to verify the older "
		    "checkpoints; not starting", d->cfg->audit.key_file,
		    last.tree_size);
		r = MANDATE_EINVAL;
	} else if (r == MANDATE_ENOTFOUND) {
		r = MANDATE_OK;         /* the first start: made below */
	} else {
		daemon_log(d, DLOG_ERROR, "cannot read the last audit "
		    "checkpoint: %s", mandate_strerror(r));
	}
	arena_free(&a);
	return r;
}

/* At start: audit.checkpoint_file can be appended to.  It is first
 * written at the first checkpoint (or at shutdown), so a path that cannot
 * be (its directory missing and not made, one level, as the export would;
 * a file that may not be written) was found only then, with the daemon
 * already serving without the anchor against a rollback it was configured
 * to keep.  Refused now, naming the setting.  Only the directory is made
 * here, not the file: an empty one is "no checkpoint in it" to `mandate
 * audit verify`.  (A file there that is not a regular one was refused
 * already, by startup_check.) */
static int
checkpoint_file_writable(struct daemon *d)
{
	const char *path = d->cfg->audit.checkpoint_file;
	const char *slash;
	char dir[4096];
	int fd;

	if (path == NULL)
		return MANDATE_OK;
	fd = open(path, O_WRONLY | O_APPEND | O_NOFOLLOW | O_CLOEXEC);
	if (fd >= 0) {
		close(fd);
		return MANDATE_OK;
	}
	if (errno == ENOENT) {
		slash = strrchr(path, '/');
		if (slash == NULL)
			snprintf(dir, sizeof(dir), ".");
		else if (slash == path)
			snprintf(dir, sizeof(dir), "/");
		else
			snprintf(dir, sizeof(dir), "%.*s", (int)(slash - path),
			    path);
		if (file_make_parent(path) == MANDATE_OK &&
		    access(dir, W_OK | X_OK) == 0)
			return MANDATE_OK;
		daemon_log(d, DLOG_ERROR, "audit.checkpoint_file %s: cannot "
		    "create it in %s: %s; not starting", path, dir,
		    strerror(errno));
		return MANDATE_EIO;
	}
	daemon_log(d, DLOG_ERROR, "audit.checkpoint_file %s: cannot append "
	    "to it: %s; not starting", path, strerror(errno));
	return MANDATE_EIO;
}

int
daemon_audit_open(struct daemon *d)
{
	struct store_audit_checkpoint last;
	struct arena a;
	char err[512];
	int64_t exported = 0;
	int r;

	if (pthread_mutex_init(&d->audit_mu, NULL) != 0)
		return MANDATE_EINTERNAL;
	d->audit_mu_ok = true;
	if ((r = audit_tree_cache_new(&d->audit_cache)) != MANDATE_OK)
		return r;
	if ((r = refuse_lost_key(d)) != MANDATE_OK)
		return r;
	if ((r = audit_key_load_or_create(d->cfg->audit.key_file,
	    &d->audit_key, err, sizeof(err))) != MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "%s; not starting", err);
		return r;
	}
	arena_init(&a, 0);
	r = store_audit_checkpoint_latest(d->store, &a, &last);
	if (r == MANDATE_OK) {
		d->audit_ckpt_size = last.tree_size;
		d->audit_ckpt_time = last.time;
		if ((r = startup_check(d, &a, &last, &exported)) ==
		    MANDATE_OK)
			export_missing(d, &a, &last, exported);
	} else if (r == MANDATE_ENOTFOUND) {
		d->audit_ckpt_time = (int64_t)time(NULL);
		r = startup_check(d, &a, NULL, &exported);
	} else {
		daemon_log(d, DLOG_ERROR, "cannot read the last audit "
		    "checkpoint: %s", mandate_strerror(r));
	}
	arena_free(&a);
	if (r == MANDATE_OK)
		r = checkpoint_file_writable(d);
	return r;
}

void
daemon_audit_close(struct daemon *d)
{
	jose_key_unref(d->audit_key);
	d->audit_key = NULL;
	audit_tree_cache_free(d->audit_cache);
	d->audit_cache = NULL;
	if (d->audit_mu_ok)
		pthread_mutex_destroy(&d->audit_mu);
	d->audit_mu_ok = false;
}

/* Append one checkpoint line to audit.checkpoint_file, durably. */
static int
export_checkpoint(struct daemon *d, struct arena *a,
    const struct audit_checkpoint *c, struct str jws)
{
	struct str root;
	struct stat st;
	char *line;
	size_t cap, done = 0;
	int fd, n, r = MANDATE_EIO;

	if (d->cfg->audit.checkpoint_file == NULL)
		return MANDATE_OK;
	if ((r = jose_b64url_encode_a(a, c->root, MERKLE_HASH_LEN, &root)) !=
	    MANDATE_OK)
		return r;
	cap = jws.n + root.n + 128;
	if ((line = arena_alloc(a, cap)) == NULL)
		return MANDATE_ENOMEM;
	n = snprintf(line, cap, "{\"size\":%" PRId64 ",\"root\":\"%s\","
	    "\"time\":%" PRId64 ",\"checkpoint\":\"%.*s\"}\n", c->size, root.p,
	    c->time, (int)jws.n, jws.p);
	if (n < 0 || (size_t)n >= cap)
		return MANDATE_EINTERNAL;
	fd = open(d->cfg->audit.checkpoint_file, O_WRONLY | O_APPEND |
	    O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT &&
	    file_make_parent(d->cfg->audit.checkpoint_file) == MANDATE_OK)
		/* its directory was missing (the default's <data_dir>/audit
		 * when audit.key_file is elsewhere) */
		fd = open(d->cfg->audit.checkpoint_file, O_WRONLY | O_APPEND |
		    O_CREAT | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0) {
		daemon_log(d, DLOG_ERROR, "audit.checkpoint_file %s: %s",
		    d->cfg->audit.checkpoint_file, strerror(errno));
		return MANDATE_EIO;
	}
	r = MANDATE_EIO;
	/* where the line starts: a write that fails part-way (a full disk,
	 * a file-size limit) is cut off there again, or the next line would
	 * be appended to the torn one and the next start refuse the file */
	if (fstat(fd, &st) != 0)
		goto out;
	while (done < (size_t)n) {
		ssize_t w = write(fd, line + done, (size_t)n - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto out;
		done += (size_t)w;
	}
	if (fsync(fd) == 0)
		r = MANDATE_OK;
out:
	if (r != MANDATE_OK) {
		int saved = errno;

		daemon_log(d, DLOG_ERROR, "audit.checkpoint_file %s: write: %s",
		    d->cfg->audit.checkpoint_file, strerror(saved));
		if (done > 0 && done < (size_t)n &&
		    ftruncate(fd, st.st_size) != 0)
			daemon_log(d, DLOG_ERROR, "audit.checkpoint_file %s: "
			    "cannot take back a partial line: %s; the next "
			    "start refuses the file until it is cut off",
			    d->cfg->audit.checkpoint_file, strerror(errno));
	}
	close(fd);
	return r;
}

int
daemon_audit_checkpoint(struct daemon *d, enum daemon_audit_when when)
{
	struct store_audit_checkpoint sc;
	struct audit_checkpoint c;
	struct arena a;
	struct str jws;
	int64_t now = (int64_t)time(NULL), size = 0;
	uint64_t every = d->cfg->audit.checkpoint_every;
	bool due;
	int r;

	if (d->audit_key == NULL || !d->audit_mu_ok)
		return MANDATE_EINTERNAL;
	arena_init(&a, 0);
	pthread_mutex_lock(&d->audit_mu);
	if ((r = store_audit_tree_head(d->store, &size, c.root)) !=
	    MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "audit tree head: %s",
		    mandate_strerror(r));
		goto out;
	}
	if (size <= d->audit_ckpt_size)
		goto out;            /* nothing new (r is MANDATE_OK) */
	/* a wall clock set back since the last checkpoint (an NTP step, a
	 * VM restored from a snapshot) makes one due, rather than none by
	 * time until the clock has caught up with the last one's time */
	due = when == DAUDIT_NOW ||
	    (every > 0 && (uint64_t)(size - d->audit_ckpt_size) >= every) ||
	    (when == DAUDIT_TICK && (now < d->audit_ckpt_time ||
	    now - d->audit_ckpt_time >=
	    (int64_t)d->cfg->audit.checkpoint_interval));
	if (!due)
		goto out;
	c.size = size;
	c.time = now;
	if ((r = audit_checkpoint_sign(&a, d->audit_key, &c, &jws)) !=
	    MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "audit checkpoint: signing failed: "
		    "%s", mandate_strerror(r));
		goto out;
	}
	memset(&sc, 0, sizeof(sc));
	sc.tree_size = size;
	memcpy(sc.root, c.root, MERKLE_HASH_LEN);
	sc.time = now;
	sc.signed_text = jws;
	if ((r = store_audit_checkpoint_add(d->store, &sc)) != MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "audit checkpoint of size %" PRId64
		    ": %s", size, mandate_strerror(r));
		goto out;
	}
	d->audit_ckpt_size = size;
	d->audit_ckpt_time = now;
	/* stored: an export failure is logged; the next checkpoint's
	 * export, or the next start's (export_missing), makes up for it */
	(void)export_checkpoint(d, &a, &c, jws);
	daemon_log(d, DLOG_DEBUG, "audit checkpoint: %" PRId64 " records",
	    size);
out:
	pthread_mutex_unlock(&d->audit_mu);
	arena_free(&a);
	return r;
}

void
daemon_audit_appended(struct daemon *d, int64_t id)
{
	uint64_t every = d->cfg->audit.checkpoint_every;

	/* ids count records (they may skip, never repeat), so id - last
	 * size below every means no checkpoint can be due yet */
	if (every == 0 || id - atomic_load(&d->audit_ckpt_size) <
	    (int64_t)every)
		return;
	(void)daemon_audit_checkpoint(d, DAUDIT_APPENDED);
}

/* ---- HTTP --------------------------------------------------------------- */

static void
audit_server_error(struct daemon *d, struct http_request *req,
    const char *what, int r)
{
	daemon_log(d, DLOG_ERROR, "request %s: %s: %s", req->request_id, what,
	    mandate_strerror(r));
	http_respond_error(req, 500, "server_error", NULL);
}

/* A query parameter as a decimal integer >= min: 1 with *out, or 0
 * after answering 400.  Any number of digits, leading zeros included; a
 * value past INT64_MAX is read as INT64_MAX, which is past any log, so
 * that the caller's bounds give the reason ("larger than the audit
 * log"). */
static int
query_int(struct http_request *req, const char *name, int64_t min,
    int64_t *out)
{
	struct str v = http_request_query(req, name);
	char msg[160];
	int64_t x = 0;
	size_t i;

	if (http_request_query_repeated(req).n > 0) {
		snprintf(msg, sizeof(msg), "query parameter %.32s: given more "
		    "than once", http_request_query_repeated(req).p);
		http_respond_error(req, 400, "invalid_request", msg);
		return 0;
	}
	if (v.p == NULL || v.n == 0)
		goto bad;
	for (i = 0; i < v.n; i++) {
		int digit = v.p[i] - '0';
		if (v.p[i] < '0' || v.p[i] > '9')
			goto bad;
		if (x > (INT64_MAX - digit) / 10)
			x = INT64_MAX;
		else
			x = x * 10 + digit;
	}
	if (x < min)
		goto bad;
	*out = x;
	return 1;
bad:
	snprintf(msg, sizeof(msg), "query parameter %s: expected a decimal "
	    "integer >= %" PRId64, name, min);
	http_respond_error(req, 400, "invalid_request", msg);
	return 0;
}

static json_t *
hash_json(struct arena *a, const uint8_t *h)
{
	struct str s;

	if (jose_b64url_encode_a(a, h, MERKLE_HASH_LEN, &s) != MANDATE_OK)
		return NULL;
	return json_stringn(s.p, s.n);
}

static json_t *
proof_json(struct arena *a, const uint8_t *p, size_t n)
{
	json_t *arr = json_array();
	size_t i;

	if (arr == NULL)
		return NULL;
	for (i = 0; i < n; i++)
		if (json_array_append_new(arr, hash_json(a,
		    p + i * MERKLE_HASH_LEN)) != 0) {
			json_decref(arr);
			return NULL;
		}
	return arr;
}


static void
h_checkpoint(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	struct store_audit_checkpoint c;
	struct audit_checkpoint sig;
	struct api_caller caller;
	struct str jwk;
	const char *why = NULL;
	json_t *body;
	int r;

	if (!api_authenticate(d, req, &caller))
		return;
	/* the latest head, signed now if the log grew since the last one */
	if ((r = daemon_audit_checkpoint(d, DAUDIT_NOW)) != MANDATE_OK) {
		audit_server_error(d, req, "audit checkpoint", r);
		return;
	}
	r = store_audit_checkpoint_latest(d->store, req->arena, &c);
	if (r == MANDATE_ENOTFOUND) {
		http_respond_error(req, 404, "not_found",
		    "the audit log is empty: no checkpoint yet");
		return;
	}
	if (r != MANDATE_OK ||
	    (r = jose_key_public_jwk(d->audit_key, req->arena, &jwk)) !=
	    MANDATE_OK) {
		audit_server_error(d, req, "audit checkpoint", r);
		return;
	}
	/* the fields are the signed ones, not the table's copies (the
	 * client verifies the JWS with public_jwk) */
	if (audit_checkpoint_read_unverified(req->arena, c.signed_text, &sig,
	    &why) != MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "the stored audit checkpoint of size %"
		    PRId64 ": %s", c.tree_size, why);
		audit_server_error(d, req, "audit checkpoint", MANDATE_EINVAL);
		return;
	}
	if (sig.size != c.tree_size || sig.time != c.time ||
	    memcmp(sig.root, c.root, MERKLE_HASH_LEN) != 0)
		daemon_log(d, DLOG_ERROR, "the stored audit checkpoint of size %"
		    PRId64 " differs from what it signed: the database was "
		    "edited (run `mandate audit verify`)", c.tree_size);
	body = json_pack("{s:I,s:o,s:I,s:s%,s:o}", "size",
	    (json_int_t)sig.size, "root", hash_json(req->arena, sig.root),
	    "time", (json_int_t)sig.time, "checkpoint", c.signed_text.p,
	    c.signed_text.n, "public_jwk", json_loadb(jwk.p, jwk.n, 0, NULL));
	http_respond_json(req, body != NULL ? 200 : 500, body);
}

/* The tree size to check a proof's size against, at least `want` when
 * the log holds that many leaves; 0 after answering 500.  The store's
 * tree head is published just after the commit that makes records
 * readable, so a client that has just read record N may ask for size N
 * before the head says N: then the leaf itself is looked for, and a
 * committed leaf is a committed size (leaves are append-only, and the
 * proofs are computed from the stored leaves). */
static int
tree_size(struct daemon *d, struct http_request *req, int64_t want,
    int64_t *size)
{
	struct store_audit_leaf leaf;
	merkle_hash root;
	size_t got = 0;
	int r;

	if ((r = store_audit_tree_head(d->store, size, root)) != MANDATE_OK) {
		audit_server_error(d, req, "audit tree head", r);
		return 0;
	}
	if (want <= *size)
		return 1;
	if ((r = store_audit_leaves(d->store, want - 1, 1, &leaf, &got)) !=
	    MANDATE_OK) {
		audit_server_error(d, req, "audit tree head", r);
		return 0;
	}
	if (got == 1)
		*size = want;
	return 1;
}

static void
h_inclusion(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	struct audit_cached_source src = { d->store, d->audit_cache };
	struct store_audit_leaf leaf;
	struct api_caller caller;
	merkle_hash proof[MERKLE_MAX_PATH], root;
	int64_t index, size, have;
	size_t n = 0, got = 0;
	json_t *body;
	int r;

	if (!api_authenticate(d, req, &caller))
		return;
	if (!query_int(req, "index", 0, &index) ||
	    !query_int(req, "size", 1, &size) ||
	    !tree_size(d, req, size, &have))
		return;
	if (size > have) {
		http_respond_error(req, 400, "invalid_request",
		    "size is larger than the audit log");
		return;
	}
	if (index >= size) {
		http_respond_error(req, 400, "invalid_request",
		    "index must be smaller than size");
		return;
	}
	if ((r = merkle_inclusion_proof_r(audit_cached_range_root, &src,
	    (uint64_t)index, (uint64_t)size, proof, &n)) != MANDATE_OK ||
	    (r = audit_cached_range_root(&src, 0, (uint64_t)size, root)) !=
	    MANDATE_OK ||
	    (r = store_audit_leaves(d->store, index, 1, &leaf, &got)) !=
	    MANDATE_OK) {
		audit_server_error(d, req, "inclusion proof", r);
		return;
	}
	if (got != 1) {
		audit_server_error(d, req, "inclusion proof", MANDATE_EINTERNAL);
		return;
	}
	body = json_pack("{s:I,s:I,s:I,s:o,s:o,s:o}", "index",
	    (json_int_t)index, "size", (json_int_t)size, "event_id",
	    (json_int_t)leaf.event_id, "leaf_hash", hash_json(req->arena,
	    leaf.hash), "root", hash_json(req->arena, root), "proof",
	    proof_json(req->arena, proof[0], n));
	http_respond_json(req, body != NULL ? 200 : 500, body);
}

static void
h_consistency(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	struct audit_cached_source src = { d->store, d->audit_cache };
	struct api_caller caller;
	merkle_hash proof[MERKLE_MAX_PROOF], r1, r2;
	int64_t from, to, have;
	size_t n = 0;
	json_t *body;
	int r;

	if (!api_authenticate(d, req, &caller))
		return;
	if (!query_int(req, "from", 1, &from) ||
	    !query_int(req, "to", 1, &to) || !tree_size(d, req, to, &have))
		return;
	if (from > to) {
		http_respond_error(req, 400, "invalid_request",
		    "from must not be larger than to");
		return;
	}
	if (to > have) {
		http_respond_error(req, 400, "invalid_request",
		    "to is larger than the audit log");
		return;
	}
	if ((r = merkle_consistency_proof_r(audit_cached_range_root, &src,
	    (uint64_t)from, (uint64_t)to, proof, &n)) != MANDATE_OK ||
	    (r = audit_cached_range_root(&src, 0, (uint64_t)from, r1)) !=
	    MANDATE_OK ||
	    (r = audit_cached_range_root(&src, 0, (uint64_t)to, r2)) !=
	    MANDATE_OK) {
		audit_server_error(d, req, "consistency proof", r);
		return;
	}
	body = json_pack("{s:I,s:I,s:o,s:o,s:o}", "from", (json_int_t)from,
	    "to", (json_int_t)to, "from_root", hash_json(req->arena, r1),
	    "to_root", hash_json(req->arena, r2), "proof",
	    proof_json(req->arena, proof[0], n));
	http_respond_json(req, body != NULL ? 200 : 500, body);
}

int
api_audit_log_register(struct daemon *d, struct http_server *srv)
{
	int r;

	if ((r = http_server_route(srv, "GET", "/v1/audit/checkpoint",
	    h_checkpoint, d)) != MANDATE_OK ||
	    (r = http_server_route(srv, "GET", "/v1/audit/proof/inclusion",
	    h_inclusion, d)) != MANDATE_OK ||
	    (r = http_server_route(srv, "GET", "/v1/audit/proof/consistency",
	    h_consistency, d)) != MANDATE_OK)
		return r;
	return MANDATE_OK;
}

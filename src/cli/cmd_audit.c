/*
 * cmd_audit.c - `mandate audit verify` and `mandate audit checkpoint`:
 * offline checks of the tamper-evident audit log (docs/audit.md).
 *
 * verify reads the database file directly (the daemon may be stopped or
 * running), recomputes every record's leaf hash from the record itself,
 * compares it with the leaf written when the record was appended, rebuilds
 * the RFC 9162 tree, checks every stored checkpoint's signature and root
 * and the consistency proof between consecutive checkpoints, and, with
 * --checkpoint, checkpoints saved outside the daemon's reach, which catch
 * a log rolled back or truncated below them.  It stops at the first record
 * that does not fit and names it.  Exit status: 0 verified, 2 the log does
 * not verify, 1 usage or I/O errors.
 */
#include <errno.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "audit/audit.h"
#include "cli.h"
#include "config/config.h"
#include "store/store.h"
#include "util/file.h"
#include "util/status.h"

#define AUDIT_EXIT_BAD 2
#define AUDIT_NEWER (-1)              /* a checkpoint made after the pass */
#define AUDIT_MAX_SAVED 1024          /* --checkpoint options */
#define AUDIT_MAX_LINE (16u * 1024)   /* one saved checkpoint line */

static const char audit_usage[] =
    "usage: mandate audit verify [--config FILE | --data-dir DIR | --db FILE]\n"
    "           [--key FILE] [--checkpoint FILE]... [--quiet]\n"
    "       mandate audit checkpoint [--config FILE | --data-dir DIR | --db FILE]\n"
    "       mandate audit tail [-n N] [--follow] [options]\n"
    "       mandate audit export [--since TIME] [--format jsonl] [options]\n"
    "\n"
    "tail and export read the records through the daemon's GET /v1/audit\n"
    "(see 'mandate audit tail --help', 'mandate audit export --help').\n"
    "\n"
    "verify checks the audit log in the daemon's database: every record\n"
    "against the leaf hash written when it was appended, the RFC 9162\n"
    "Merkle tree, every stored checkpoint (signature, root, and the\n"
    "consistency proof from the one before), and every checkpoint saved in\n"
    "FILE (one per line, as `mandate audit checkpoint` or\n"
    "audit.checkpoint_file write them): a log rolled back or truncated\n"
    "below a saved checkpoint fails.  It names the first record that does\n"
    "not fit.  Exit status 0: verified; 2: the log does not verify;\n"
    "1: usage or I/O error.\n"
    "\n"
    "checkpoint prints the latest signed checkpoint as one JSON line, to be\n"
    "appended to a file the daemon cannot write.  Exit status 0: printed;\n"
    "2: the stored checkpoint differs from what it signed (the database\n"
    "was edited); 1: usage or I/O error, or no checkpoint yet.\n"
    "\n"
    "options:\n"
    "  -c, --config FILE  the daemon's configuration: its store.path and\n"
    "                     audit.key_file (the .jwk beside it); with\n"
    "                     audit.checkpoint_file, that file is checked too\n"
    "  --data-dir DIR     the daemon's data_dir (default ./mandate-data):\n"
    "                     DIR/mandate.db and DIR/audit/checkpoint-key.jwk,\n"
    "                     and DIR/audit/checkpoints.jsonl (the default\n"
    "                     audit.checkpoint_file) checked when it exists\n"
    "                     (not with --db or --config, which name them)\n"
    "  --db FILE          the database file, instead of --data-dir; the key\n"
    "                     and the checkpoint file default to audit/ beside\n"
    "                     it\n"
    "  --key FILE         verify: the audit public key (JWK, or the PEM\n"
    "                     key); default DIR/audit/checkpoint-key.jwk.  Pass\n"
    "                     a copy kept out of the daemon's reach.\n"
    "  --checkpoint FILE  verify: saved checkpoints to check the log\n"
    "                     against (repeatable)\n"
    "  -q, --quiet        verify: print only failures and the last line\n"
    "                     (verified: ...)\n"
    "  -h, --help         this help\n";

struct audit_opts {
	const char *config;
	struct config *cfg;       /* loaded from --config */
	char key_buf[4096];
	const char *data_dir;
	bool data_dir_given;
	const char *db;
	const char *key;
	const char *saved[AUDIT_MAX_SAVED];
	size_t n_saved;
	bool quiet;
};

static void
store_log_stderr(void *ctx, int status, const char *op, const char *msg)
{
	(void)ctx;
	(void)status;
	fprintf(stderr, "mandate audit: store %s: %s\n", op, msg);
}

static int
open_db(const struct audit_opts *o, char *path, size_t cap,
    struct store **out)
{
	struct store_options so;
	struct stat st;
	int n;

	if (o->db != NULL)
		n = snprintf(path, cap, "%s", o->db);
	else
		n = snprintf(path, cap, "%s/mandate.db", o->data_dir);
	if (n < 0 || (size_t)n >= cap) {
		fprintf(stderr, "mandate audit: path too long\n");
		return MANDATE_ELIMIT;
	}
	/* never create a database while checking one */
	if (stat(path, &st) != 0 || !S_ISREG(st.st_mode)) {
		fprintf(stderr, "mandate audit: %s: no such database file\n",
		    path);
		return MANDATE_EIO;
	}
	/* An empty file is not an empty log: the daemon's first start
	 * writes the schema before anything else, and a database in WAL
	 * mode always has its first page, so a file of 0 bytes was cut
	 * short (or replaced).  Opening it would also write a new schema
	 * into the file under examination. */
	if (st.st_size == 0) {
		fprintf(stderr, "mandate audit: %s: the database file is empty "
		    "(0 bytes): it was truncated or replaced, and holds no "
		    "log to verify\n", path);
		return MANDATE_EINVAL;
	}
	memset(&so, 0, sizeof(so));
	so.pool_size = 1;
	so.log = store_log_stderr;
	if ((n = store_open(&store_sqlite_ops, path, &so, out)) !=
	    MANDATE_OK) {
		if (n == MANDATE_ECONFLICT) {
			/* its schema version does not match its tables (the
			 * message above says which): a changed file */
			printf("FAIL: %s: the schema version does not match "
			    "the tables (see above)\n", path);
			return MANDATE_EINVAL;
		}
		fprintf(stderr, "mandate audit: cannot open %s\n", path);
		return MANDATE_EIO;
	}
	return MANDATE_OK;
}

static const char *
b64(struct arena *a, const uint8_t *h)
{
	struct str s;

	if (jose_b64url_encode_a(a, h, MERKLE_HASH_LEN, &s) != MANDATE_OK)
		return "?";
	return s.p;
}

/* What verify found, and where. */
struct vstate {
	struct arena a;
	struct store *s;
	struct jose_key *key;
	bool quiet;
	uint8_t *leaves;          /* recomputed, n * MERKLE_HASH_LEN */
	uint64_t n, cap;
	int64_t *ids;             /* the event id of each leaf */
	struct store_audit_checkpoint *ckpts;
	size_t n_ckpts;
	uint64_t covered;         /* records under a verified checkpoint */
	struct merkle_mem *tree;
};

static int
fail(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

static int
fail(const char *fmt, ...)
{
	va_list ap;

	fputs("FAIL: ", stdout);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	fputc('\n', stdout);
	return AUDIT_EXIT_BAD;
}

static int
push_leaf(struct vstate *v, const merkle_hash h, int64_t id)
{
	if (v->n == v->cap) {
		uint64_t nc = v->cap ? v->cap * 2 : 1024;
		uint8_t *nl;
		int64_t *ni;
		if (nc > MERKLE_MEM_MAX)
			return MANDATE_ELIMIT;
		if ((nl = realloc(v->leaves, nc * MERKLE_HASH_LEN)) == NULL)
			return MANDATE_ENOMEM;
		v->leaves = nl;
		if ((ni = realloc(v->ids, nc * sizeof(*ni))) == NULL)
			return MANDATE_ENOMEM;
		v->ids = ni;
		v->cap = nc;
	}
	memcpy(v->leaves + v->n * MERKLE_HASH_LEN, h, MERKLE_HASH_LEN);
	v->ids[v->n] = id;
	v->n++;
	return MANDATE_OK;
}

/* Pass 1: every record against its stored leaf, in id order. */
static int
check_records(struct vstate *v)
{
	struct store_audit_leaf *lv;
	struct store_audit_event *ev = NULL;
	size_t n_ev = 0, n_lv = 0, ie = 0, il = 0;
	/* from the smallest id there can be: a record below 1 is not part
	 * of the log, and must be seen to be named */
	int64_t from_id = INT64_MIN, next_leaf = 0;
	bool ev_end = false;      /* a record of id INT64_MAX was read */
	int r, rc = 0, pass;

	if ((lv = calloc(STORE_MAX_PAGE, sizeof(*lv))) == NULL)
		return MANDATE_ENOMEM;
	for (;;) {
		merkle_hash h;
		const struct store_audit_event *e;
		const struct store_audit_leaf *l;

		/* Next pages.  A record and its leaf commit together, so when
		 * one side has run out while the other has not, the daemon may
		 * have appended between the two reads: read the empty side
		 * once more before calling it missing. */
		for (pass = 0; pass < 2; pass++) {
			if (ie == n_ev && (pass == 0 || il < n_lv)) {
				arena_free(&v->a);
				arena_init(&v->a, 0);
				ev = NULL;
				n_ev = 0;
				ie = 0;
				/* no id can follow INT64_MAX */
				if (!ev_end && (r = store_audit_read(v->s,
				    from_id, STORE_MAX_PAGE, &v->a, &ev,
				    &n_ev)) != MANDATE_OK)
					goto io;
				if (n_ev > 0 && ev[n_ev - 1].id == INT64_MAX)
					ev_end = true;
				else if (n_ev > 0)
					from_id = ev[n_ev - 1].id + 1;
			}
			if (il == n_lv && (pass == 0 || ie < n_ev)) {
				if ((r = store_audit_leaves(v->s, next_leaf,
				    STORE_MAX_PAGE, lv, &n_lv)) != MANDATE_OK)
					goto io;
				il = 0;
				next_leaf += (int64_t)n_lv;
			}
		}
		e = ie < n_ev ? &ev[ie] : NULL;
		l = il < n_lv ? &lv[il] : NULL;
		if (e == NULL && l == NULL)
			break;
		if (e != NULL && e->id < 1) {
			rc = fail("record id %" PRId64 " is not part of the log: "
			    "ids start at 1, so it was inserted outside the "
			    "daemon", e->id);
			goto out;
		}
		if (l != NULL && l->index != (int64_t)v->n) {
			rc = fail("leaf %" PRIu64 " is missing from the tree "
			    "(audit_leaves): the tree was edited", v->n);
			goto out;
		}
		if (e == NULL) {
			rc = fail("record id %" PRId64 " (leaf %" PRIu64 ") is "
			    "missing: the log was truncated or the record "
			    "deleted", l->event_id, v->n);
			goto out;
		}
		if (l == NULL) {
			rc = fail("record id %" PRId64 " has no leaf: it was "
			    "inserted, or appended outside the daemon", e->id);
			goto out;
		}
		if (l->event_id < e->id) {
			rc = fail("record id %" PRId64 " (leaf %" PRIu64 ") is "
			    "missing: deleted", l->event_id, v->n);
			goto out;
		}
		if (l->event_id > e->id) {
			rc = fail("record id %" PRId64 " was inserted: no leaf "
			    "was written for it (leaf %" PRIu64 " is record id "
			    "%" PRId64 ")", e->id, v->n, l->event_id);
			goto out;
		}
		if ((r = audit_record_leaf_hash(e, h)) != MANDATE_OK)
			goto io;
		if (memcmp(h, l->hash, MERKLE_HASH_LEN) != 0) {
			rc = fail("record id %" PRId64 " (leaf %" PRIu64 ") does "
			    "not match the leaf hash written when it was "
			    "appended: it was changed, or records were "
			    "inserted, deleted or reordered and renumbered",
			    e->id, v->n);
			goto out;
		}
		if (e->misstored_column != NULL) {
			/* same bytes, same leaf; but GET /v1/audit's filters
			 * compare by type, and would skip it */
			rc = fail("record id %" PRId64 " (leaf %" PRIu64 "): its "
			    "%s is stored as %s, not as %s: the table was "
			    "rebuilt or edited outside the daemon (a filter on "
			    "that column would not find the record)", e->id,
			    v->n, e->misstored_column, e->misstored_as,
			    strcmp(e->misstored_column, "id") == 0 ||
			    strcmp(e->misstored_column, "time") == 0 ?
			    "integer" : "text");
			goto out;
		}
		if ((r = push_leaf(v, h, e->id)) != MANDATE_OK)
			goto io;
		ie++;
		il++;
	}
	goto out;
io:
	fprintf(stderr, "mandate audit: reading the log: %s\n",
	    mandate_strerror(r));
	rc = 1;
out:
	free(lv);
	return rc;
}

/* The audit tables must still be STRICT tables: every record may fit
 * today (check_records), but such a table would take the next edit of
 * any type without a word. */
static int
check_tables(struct vstate *v, bool present_only)
{
	const char *table = NULL, *why = NULL;
	int r;

	r = store_audit_tables_check(v->s, &table, &why);
	if (r == MANDATE_EINVAL && table != NULL &&
	    strcmp(why, "is missing") == 0)
		return fail("table %s is missing: the database holds no "
		    "complete audit log (it was dropped, or this is not the "
		    "daemon's database)", table);
	if (r == MANDATE_EINVAL && table != NULL && present_only)
		return 0;     /* named after the records (check_records) */
	if (r == MANDATE_EINVAL && table != NULL)
		return fail("table %s %s: it was rebuilt outside the daemon "
		    "(its columns take values of any type, which the audit "
		    "log's filters may not find)", table, why);
	if (r != MANDATE_OK) {
		fprintf(stderr, "mandate audit: reading the schema: %s\n",
		    mandate_strerror(r));
		return 1;
	}
	return 0;
}

/* The file itself first: records read from a damaged database prove
 * nothing (a page SQLite cannot read may hold records that the pass over
 * the others never reaches, and an index may disagree with its table),
 * so the log of a file that fails SQLite's own integrity check does not
 * verify (status 2), whatever the records say. */
static int
check_integrity(struct vstate *v)
{
	char why[512];
	int r;

	r = store_integrity_check(v->s, why, sizeof(why));
	if (r == MANDATE_EINVAL)
		return fail("the database file is damaged (SQLite's integrity "
		    "check: %s): the log cannot be verified; restore the file "
		    "from a backup and verify that", why);
	if (r != MANDATE_OK) {
		fprintf(stderr, "mandate audit: checking the database file: "
		    "%s (%s)\n", mandate_strerror(r), why);
		return 1;
	}
	return 0;
}

/* The first and last record id of leaves [lo, hi). */
static void
id_range(const struct vstate *v, uint64_t lo, uint64_t hi, int64_t *a,
    int64_t *b)
{
	*a = lo < v->n ? v->ids[lo] : 0;
	*b = hi >= 1 && hi - 1 < v->n ? v->ids[hi - 1] : 0;
}

/* One signed checkpoint against the recomputed tree; prev_size/prev_root
 * is the checkpoint before it (0 for none).  what names it. */
static int
check_one(struct vstate *v, const char *what, struct str signed_text,
    const struct store_audit_checkpoint *stored, uint64_t prev_size,
    const uint8_t *prev_root, struct audit_checkpoint *out)
{
	struct audit_checkpoint c;
	merkle_hash root, proof[MERKLE_MAX_PROOF];
	const char *why = NULL;
	size_t n = 0;
	int64_t a, b;

	if (audit_checkpoint_verify(&v->a, signed_text, v->key, &c, &why) !=
	    MANDATE_OK)
		return fail("%s: %s (not signed by this audit key)", what,
		    why);
	if (stored != NULL && (stored->tree_size != c.size ||
	    memcmp(stored->root, c.root, MERKLE_HASH_LEN) != 0))
		return fail("%s: the stored size or root differs from the "
		    "signed one", what);
	if (stored != NULL && stored->time != c.time)
		return fail("%s: the stored time %" PRId64 " differs from the "
		    "signed one (%" PRId64 ")", what, stored->time, c.time);
	if ((uint64_t)c.size > v->n) {
		/* made while verify read the log, if its last leaf exists */
		struct store_audit_leaf row;
		size_t got = 0;
		if (store_audit_leaves(v->s, c.size - 1, 1, &row, &got) ==
		    MANDATE_OK && got == 1 && row.index == c.size - 1) {
			if (!v->quiet)
				printf("note: %s is newer than the %" PRIu64
				    " records read: not checked\n", what, v->n);
			return AUDIT_NEWER;
		}
		return fail("%s covers %" PRId64 " records but the log has "
		    "only %" PRIu64 ": the log was rolled back or truncated "
		    "(records from leaf %" PRIu64 " on are gone)", what, c.size,
		    v->n, v->n);
	}
	if (merkle_mem_range_root(v->tree, 0, (uint64_t)c.size, root) !=
	    MANDATE_OK)
		return fail("%s: cannot compute the root", what);
	if (memcmp(root, c.root, MERKLE_HASH_LEN) != 0) {
		id_range(v, prev_size, (uint64_t)c.size, &a, &b);
		return fail("%s: the records do not produce its root: a record "
		    "among ids %" PRId64 "..%" PRId64 " (leaves %" PRIu64
		    "..%" PRId64 ") was changed, inserted, deleted or "
		    "reordered together with its leaf", what, a, b, prev_size,
		    c.size - 1);
	}
	if (prev_size >= 1) {
		if (merkle_consistency_proof_r(merkle_mem_range_root, v->tree,
		    prev_size, (uint64_t)c.size, proof, &n) != MANDATE_OK ||
		    merkle_verify_consistency(prev_size, (uint64_t)c.size,
		    prev_root, c.root, proof[0], n) != MANDATE_OK)
			return fail("%s is not consistent with the checkpoint of "
			    "size %" PRIu64, what, prev_size);
	}
	if ((uint64_t)c.size > v->covered)
		v->covered = (uint64_t)c.size;
	*out = c;
	return 0;
}

static int
check_stored(struct vstate *v)
{
	struct store_audit_checkpoint *page = NULL;
	size_t n = 0, i;
	int64_t after = 0;
	uint64_t prev_size = 0;
	merkle_hash prev_root;
	char what[96];
	int rc;

	memset(prev_root, 0, sizeof(prev_root));
	for (;;) {
		if (store_audit_checkpoints(v->s, after, STORE_MAX_PAGE, &v->a,
		    &page, &n) != MANDATE_OK) {
			fprintf(stderr, "mandate audit: cannot read the "
			    "checkpoints\n");
			return 1;
		}
		if (n == 0)
			return 0;
		for (i = 0; i < n; i++) {
			struct audit_checkpoint c;
			snprintf(what, sizeof(what), "stored checkpoint of size "
			    "%" PRId64, page[i].tree_size);
			rc = check_one(v, what, page[i].signed_text, &page[i],
			    prev_size, prev_root, &c);
			if (rc == AUDIT_NEWER)
				return 0;        /* and so are the ones after */
			if (rc != 0)
				return rc;
			prev_size = (uint64_t)c.size;
			memcpy(prev_root, c.root, MERKLE_HASH_LEN);
			v->n_ckpts++;
			if (!v->quiet)
				printf("ok: %s (time %" PRId64 ")\n", what,
				    c.time);
		}
		after = page[n - 1].tree_size;
	}
}

static int
check_saved(struct vstate *v, const char *file)
{
	char *text = NULL, what[4200];
	size_t len = 0, off = 0, lineno = 0, n_lines = 0;
	int rc = 0, r;

	if ((r = file_read_all(file, CLI_MAX_FILE, &text, &len)) !=
	    MANDATE_OK) {
		fprintf(stderr, "mandate audit: %s: %s\n", file,
		    r == MANDATE_ELIMIT ? "too large" : strerror(errno));
		return 1;
	}
	while (off < len && rc == 0) {
		const char *line = text + off, *nl = memchr(line, '\n',
		    len - off);
		size_t ln = nl ? (size_t)(nl - line) : len - off;
		struct audit_checkpoint c;
		struct str jws;

		off += ln + (nl ? 1 : 0);
		lineno++;
		while (ln > 0 && (line[ln - 1] == '\r' || line[ln - 1] == ' '))
			ln--;
		if (ln == 0)
			continue;
		n_lines++;
		snprintf(what, sizeof(what), "saved checkpoint %s:%zu", file,
		    lineno);
		if (ln > AUDIT_MAX_LINE) {
			rc = fail("%s: line too long", what);
			break;
		}
		jws = audit_checkpoint_from_line(str_make(line, ln));
		rc = check_one(v, what, jws, NULL, 0, NULL, &c);
		if (rc == AUDIT_NEWER) {
			rc = 0;
			continue;
		}
		if (rc == 0 && (uint64_t)c.size < v->n) {
			/* and the log today extends it */
			merkle_hash head, proof[MERKLE_MAX_PROOF];
			size_t n = 0;
			if (merkle_mem_range_root(v->tree, 0, v->n, head) !=
			    MANDATE_OK ||
			    merkle_consistency_proof_r(merkle_mem_range_root,
			    v->tree, (uint64_t)c.size, v->n, proof, &n) !=
			    MANDATE_OK ||
			    merkle_verify_consistency((uint64_t)c.size, v->n,
			    c.root, head, proof[0], n) != MANDATE_OK)
				rc = fail("%s: the log is not an extension of it",
				    what);
		}
		if (rc == 0 && !v->quiet)
			printf("ok: %s (size %" PRId64 ", time %" PRId64 ")\n",
			    what, c.size, c.time);
	}
	free(text);
	if (rc == 0 && n_lines == 0) {
		/* asked to check against it: that it holds nothing is not a
		 * pass (a truncated or wrong file), and must not look like one */
		fprintf(stderr, "mandate audit: %s: no checkpoint in it (the "
		    "file is empty or blank): nothing to check the log "
		    "against\n", file);
		return 1;
	}
	return rc;
}

static int
parse_opts(int argc, char **argv, struct audit_opts *o, bool verify)
{
	const char *cmd = verify ? "mandate audit verify" :
	    "mandate audit checkpoint";
	int i;

	memset(o, 0, sizeof(*o));
	o->data_dir = "./mandate-data";
	for (i = 1; i < argc; i++) {
		const char *a = argv[i];
		if (cli_opt(a, "--help", "-h")) {
			fputs(audit_usage, stdout);
			return 0;
		}
		/* verify's own options: checkpoint would ignore them */
		if (!verify && (cli_opt(a, "--quiet", "-q") ||
		    cli_opt(a, "--key", NULL) ||
		    cli_opt(a, "--checkpoint", NULL))) {
			fprintf(stderr, "mandate audit checkpoint: %s is an "
			    "option of mandate audit verify\n", a);
			return 1;
		}
		if (cli_opt(a, "--quiet", "-q")) {
			o->quiet = true;
			continue;
		}
		if (i + 1 >= argc && (cli_opt(a, "--config", "-c") ||
		    cli_opt(a, "--data-dir", NULL) || cli_opt(a, "--db", NULL) ||
		    cli_opt(a, "--key", NULL) ||
		    cli_opt(a, "--checkpoint", NULL))) {
			fprintf(stderr, "%s: %s needs a value\n", cmd, a);
			return 1;
		}
		if (i + 1 >= argc)
			goto unknown;
		if (cli_opt(a, "--config", "-c"))
			o->config = argv[++i];
		else if (cli_opt(a, "--data-dir", NULL)) {
			o->data_dir = argv[++i];
			o->data_dir_given = true;
		}
		else if (cli_opt(a, "--db", NULL))
			o->db = argv[++i];
		else if (cli_opt(a, "--key", NULL))
			o->key = argv[++i];
		else if (cli_opt(a, "--checkpoint", NULL)) {
			if (o->n_saved == AUDIT_MAX_SAVED) {
				fprintf(stderr, "%s: more than %d --checkpoint\n",
				    cmd, AUDIT_MAX_SAVED);
				return 1;
			}
			o->saved[o->n_saved++] = argv[++i];
		} else
			goto unknown;
	}
	if (o->data_dir_given && (o->db != NULL || o->config != NULL)) {
		/* it would be ignored: say so rather than check another log */
		fprintf(stderr, "mandate audit: --data-dir and %s are "
		    "alternatives: give one\n", o->db != NULL ? "--db" :
		    "--config");
		return 1;
	}
	if (o->config != NULL) {
		/* the configuration names the files; explicit options win */
		if (config_load_file(o->config, &o->cfg, stderr) != MANDATE_OK)
			return 1;
		if (o->cfg->store.path == NULL) {
			fprintf(stderr, "mandate audit: %s: only the sqlite store "
			    "can be verified\n", o->config);
			return 1;
		}
		if (o->db == NULL)
			o->db = o->cfg->store.path;
		if (o->key == NULL) {
			if (audit_key_jwk_path(o->cfg->audit.key_file, o->key_buf,
			    sizeof(o->key_buf)) != MANDATE_OK)
				return 1;
			o->key = o->key_buf;
		}
		if (o->cfg->audit.checkpoint_file != NULL &&
		    access(o->cfg->audit.checkpoint_file, F_OK) == 0 &&
		    o->n_saved < AUDIT_MAX_SAVED)
			o->saved[o->n_saved++] = o->cfg->audit.checkpoint_file;
	}
	return -1;
unknown:
	fprintf(stderr, argv[i][0] == '-' ? "%s: unknown option '%s'\n" :
	    "%s: unexpected argument '%s'\n", cmd, argv[i]);
	fputs(audit_usage, stderr);
	return 1;
}

/* The daemon's file name in the audit directory beside the database:
 * <dir of --db FILE>/audit/name, or <--data-dir DIR>/audit/name. */
static void
beside_db(const struct audit_opts *o, const char *name, char *buf,
    size_t cap)
{
	if (o->db != NULL) {
		const char *slash = strrchr(o->db, '/');
		int dn = slash ? (int)(slash - o->db) : 1;

		snprintf(buf, cap, "%.*s/audit/%s", dn, slash ? o->db : ".",
		    name);
	} else
		snprintf(buf, cap, "%s/audit/%s", o->data_dir, name);
}

static int
audit_verify(const struct audit_opts *o)
{
	struct vstate v;
	char db[4096], key[4200], saved[4200];
	merkle_hash head;
	int rc = 1, r;
	size_t i, n_files = 0;

	memset(&v, 0, sizeof(v));
	arena_init(&v.a, 0);
	v.quiet = o->quiet;
	if (o->key != NULL)
		snprintf(key, sizeof(key), "%s", o->key);
	else
		beside_db(o, "checkpoint-key.jwk", key, sizeof(key));
	/* the database first: without it the key does not matter */
	if ((r = open_db(o, db, sizeof(db), &v.s)) != MANDATE_OK) {
		if (r == MANDATE_EINVAL)  /* a file that cannot hold a log */
			rc = AUDIT_EXIT_BAD;
		goto out;
	}
	if (o->key == NULL || o->key == o->key_buf)
		fprintf(stderr, "mandate audit: note: the audit key comes from "
		    "beside the database (%s); whoever can rewrite the log can "
		    "replace it: pass --key with a copy kept elsewhere\n", key);
	if ((r = audit_key_load_public(key, &v.key)) != MANDATE_OK) {
		fprintf(stderr, "mandate audit: the audit key %s: %s\n", key,
		    r == MANDATE_EIO ? strerror(errno) : "not a P-256 key");
		goto out;
	}
	if ((rc = check_integrity(&v)) != 0 ||
	    (rc = check_tables(&v, true)) != 0 ||
	    (rc = check_records(&v)) != 0 ||
	    (rc = check_tables(&v, false)) != 0)
		goto out;
	rc = 1;
	if ((r = merkle_mem_build(v.leaves, v.n, &v.tree)) != MANDATE_OK ||
	    (r = merkle_mem_range_root(v.tree, 0, v.n, head)) != MANDATE_OK) {
		fprintf(stderr, "mandate audit: building the tree: %s\n",
		    mandate_strerror(r));
		goto out;
	}
	if (!v.quiet)
		printf("ok: %" PRIu64 " records match their leaves; tree size "
		    "%" PRIu64 ", root %s\n", v.n, v.n, b64(&v.a, head));
	if ((rc = check_stored(&v)) != 0)
		goto out;
	for (i = 0; i < o->n_saved; i++)
		if ((rc = check_saved(&v, o->saved[i])) != 0)
			goto out;
	n_files = o->n_saved;
	/* without --config: the daemon's default audit.checkpoint_file,
	 * beside the database as the key is, when it is there */
	if (o->config == NULL) {
		beside_db(o, "checkpoints.jsonl", saved, sizeof(saved));
		if (access(saved, F_OK) == 0) {
			if ((rc = check_saved(&v, saved)) != 0)
				goto out;
			n_files++;
		}
	}
	/* Records no verified checkpoint covers were checked against their
	 * leaves only, which whoever can write the file can recompute: say
	 * so, also when no checkpoint is left at all (every one deleted, or
	 * the tree tables dropped and rebuilt from the records). */
	if (!v.quiet && v.covered == 0 && v.n > 0)
		printf("note: none of the %" PRIu64 " records is covered by a "
		    "checkpoint: they were checked against their leaves only, "
		    "which whoever can write the database can recompute (check "
		    "against saved checkpoints: --checkpoint FILE)\n", v.n);
	else if (!v.quiet && v.covered < v.n)
		printf("note: the last %" PRIu64 " records are not yet "
		    "covered by a checkpoint\n", v.n - v.covered);
	printf("verified: %" PRIu64 " records, %zu stored checkpoints, %zu "
	    "saved checkpoint files\n", v.n, v.n_ckpts, n_files);
	rc = 0;
out:
	merkle_mem_free(v.tree);
	free(v.leaves);
	free(v.ids);
	jose_key_unref(v.key);
	store_close(v.s);
	arena_free(&v.a);
	return rc;
}

static int
audit_checkpoint_print(const struct audit_opts *o)
{
	struct store_audit_checkpoint c;
	struct audit_checkpoint sig;
	struct store *s = NULL;
	struct arena a;
	const char *why = NULL;
	char db[4096];
	int rc = 1, r;

	arena_init(&a, 0);
	if (open_db(o, db, sizeof(db), &s) != MANDATE_OK)
		goto out;
	if ((r = store_audit_checkpoint_latest(s, &a, &c)) != MANDATE_OK) {
		fprintf(stderr, "mandate audit: %s\n", r == MANDATE_ENOTFOUND ?
		    "no checkpoint yet" : mandate_strerror(r));
		goto out;
	}
	/* the fields are the signed ones, not the table's copies of them:
	 * whoever reads the line verifies the JWS, and sees what it says */
	if (audit_checkpoint_read_unverified(&a, c.signed_text, &sig, &why) !=
	    MANDATE_OK) {
		printf("FAIL: stored checkpoint of size %" PRId64 ": %s\n",
		    c.tree_size, why);
		rc = AUDIT_EXIT_BAD;
		goto out;
	}
	printf("{\"size\":%" PRId64 ",\"root\":\"%s\",\"time\":%" PRId64
	    ",\"checkpoint\":\"%.*s\"}\n", sig.size, b64(&a, sig.root),
	    sig.time, (int)c.signed_text.n, c.signed_text.p);
	rc = 0;
	if (sig.size != c.tree_size || sig.time != c.time ||
	    memcmp(sig.root, c.root, MERKLE_HASH_LEN) != 0) {
		fprintf(stderr, "mandate audit: the stored checkpoint of size %"
		    PRId64 " differs from what it signed: the database was "
		    "edited (run `mandate audit verify`)\n", c.tree_size);
		rc = AUDIT_EXIT_BAD;
	}
out:
	store_close(s);
	arena_free(&a);
	return rc;
}

int
cmd_audit(int argc, char **argv)
{
	struct audit_opts o;
	int r;

	if (argc < 2) {
		fputs(audit_usage, stderr);
		return 1;
	}
	if (cli_opt(argv[1], "--help", "-h") || strcmp(argv[1], "help") == 0) {
		fputs(audit_usage, stdout);
		return 0;
	}
	/* reading the log through the daemon (cmd_audit_query.c) */
	if (strcmp(argv[1], "tail") == 0)
		return cmd_audit_tail(argc - 1, argv + 1);
	if (strcmp(argv[1], "export") == 0)
		return cmd_audit_export(argc - 1, argv + 1);
	if (strcmp(argv[1], "verify") != 0 &&
	    strcmp(argv[1], "checkpoint") != 0) {
		fprintf(stderr, "mandate audit: unknown subcommand '%s'\n",
		    argv[1]);
		fputs(audit_usage, stderr);
		return 1;
	}
	if ((r = parse_opts(argc - 1, argv + 1, &o,
	    strcmp(argv[1], "verify") == 0)) < 0)
		r = strcmp(argv[1], "verify") == 0 ? audit_verify(&o) :
		    audit_checkpoint_print(&o);
	config_free(o.cfg);
	return r;
}

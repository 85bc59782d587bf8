/*
 * daemon_policy.c - load the configured policies into one immutable,
 * reference-counted snapshot, and publish it.
 *
 * A snapshot is built completely (every file parsed, the index compiled,
 * strict validation against the schema when one is configured, entities
 * parsed) before anyone can see it; any error rejects the whole load.
 * Publication is a pointer swap; readers hold references, so the old
 * snapshot dies with its last reader.
 */
#include <dirent.h>
#include <errno.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "daemon/daemon_int.h"
#include "daemon_paths.h"
#include "util/file.h"
#include "util/status.h"

#define POLICY_MAX_FILE   (16u << 20)   /* one .cedar, schema or entity file */
#define POLICY_MAX_FILES  1024          /* .cedar files in one snapshot */

struct loader {
	struct daemon_policies *p;
	FILE *err;
	const char **files;      /* in the snapshot's arena */
	size_t n_files;
	char **srcs;             /* kept until validation has printed */
	size_t *lens;
};

static int
name_cmp(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
add_file(struct loader *l, const char *path)
{
	if (l->n_files >= POLICY_MAX_FILES) {
		fprintf(l->err, "%s: error: more than %u policy files\n", path,
		    POLICY_MAX_FILES);
		return MANDATE_ELIMIT;
	}
	if ((l->files[l->n_files] = arena_cstrdup(&l->p->arena_priv,
	    path)) == NULL)
		return MANDATE_ENOMEM;
	l->n_files++;
	return MANDATE_OK;
}

/* A file, or every *.cedar in a directory (not recursive), sorted. */
static int
add_path(struct loader *l, const char *path)
{
	struct stat st;
	DIR *dir = NULL;
	struct dirent *de;
	size_t first = l->n_files;
	int r = MANDATE_OK;

	if (stat(path, &st) != 0) {
		fprintf(l->err, "%s: error: %s\n", path, strerror(errno));
		return MANDATE_EIO;
	}
	if (!S_ISDIR(st.st_mode))
		return add_file(l, path);
	if ((dir = opendir(path)) == NULL) {
		fprintf(l->err, "%s: error: %s\n", path, strerror(errno));
		return MANDATE_EIO;
	}
	while ((de = readdir(dir)) != NULL) {
		size_t n = strlen(de->d_name);
		char full[4096];
		int w;

		if (de->d_name[0] == '.')
			continue;       /* hidden, and editors' lock files */
		w = snprintf(full, sizeof(full), "%s/%s", path, de->d_name);
		if (w < 0 || (size_t)w >= sizeof(full)) {
			r = MANDATE_ELIMIT;
			goto out;
		}
		if (n < 7 || strcmp(de->d_name + n - 6, ".cedar") != 0) {
			/* not read, and said so where a policy could be
			 * mistaken as loaded: a directory (not recursive)
			 * or a .CEDAR */
			struct stat sub;

			if (stat(full, &sub) == 0 && S_ISDIR(sub.st_mode))
				fprintf(l->err, "%s: warning: a directory in "
				    "a policy directory is not read (only the "
				    ".cedar files directly in it are)\n", full);
			else if (n >= 6 && strcasecmp(de->d_name + n - 6,
			    ".cedar") == 0)
				fprintf(l->err, "%s: warning: not read (policy "
				    "files end in .cedar, lower case)\n", full);
			continue;
		}
		if ((r = add_file(l, full)) != MANDATE_OK)
			goto out;
	}
	qsort(l->files + first, l->n_files - first, sizeof(*l->files),
	    name_cmp);
	/* valid (a layer with no policies yet), but a layer emptied by a
	 * deploy or a volume not mounted yet loses its forbids: said */
	if (l->n_files == first)
		fprintf(l->err, "%s: warning: no .cedar file in this policy "
		    "directory: it adds no policies\n", path);
out:
	closedir(dir);
	return r;
}

/* Feed one input of the version hash: a tag, its length, its bytes. */
static int
hash_part(EVP_MD_CTX *h, char tag, const char *src, size_t len)
{
	unsigned char hdr[9];
	uint64_t n = len;

	hdr[0] = (unsigned char)tag;
	for (int i = 0; i < 8; i++)
		hdr[1 + i] = (unsigned char)(n >> (56 - 8 * i));
	if (EVP_DigestUpdate(h, hdr, sizeof(hdr)) != 1 ||
	    (len > 0 && EVP_DigestUpdate(h, src, len) != 1))
		return MANDATE_EINTERNAL;
	return MANDATE_OK;
}

static int
read_file(FILE *err, const char *path, char **src, size_t *len)
{
	int r = file_read_regular(path, POLICY_MAX_FILE, src, len);

	if (r != MANDATE_OK)
		fprintf(err, "%s: error: %s\n", path, r == MANDATE_ELIMIT ?
		    "file too large (over 16 MiB; split it: policies.entities "
		    "and the policy directories take several files)" :
		    r == MANDATE_EINVAL ? "not a regular file (a named pipe or "
		    "a device is not read: it could block the load)" :
		    strerror(errno));
	return r;
}

static bool
exists(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static bool
json_ws(char c)
{
	return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* The members of the JSON array that src[0..len) is (it parsed as one),
 * as the text src[*from..*to): between its brackets, without the
 * whitespace around them; empty for [].  JSON whitespace only: nothing
 * else may stand outside a value (the parser takes no byte order mark).
 * False when src is not an array after all. */
static bool
array_members(const char *src, size_t len, size_t *from, size_t *to)
{
	size_t a = 0, b = len;

	*from = *to = 0;
	while (a < b && json_ws(src[a]))
		a++;
	while (b > a && json_ws(src[b - 1]))
		b--;
	/* [ ... ] */
	if (b - a < 2 || src[a] != '[' || src[b - 1] != ']')
		return false;
	a++;
	b--;
	while (a < b && json_ws(src[a]))
		a++;
	while (b > a && json_ws(src[b - 1]))
		b--;
	*from = a;
	*to = b;
	return true;
}

/* Every entity file is parsed on its own first (so that diagnostics name
 * the file, line and column), then several are merged into one array and
 * parsed once more as a whole (a uid defined differently in two files
 * is an error; identical copies are accepted, as Cedar does). */
static int
load_entities(const struct config *cfg, FILE *err, struct daemon_policies *p,
    EVP_MD_CTX *h)
{
	const struct config_strlist *files = &cfg->policies.entity_files;
	struct diag_list dl;
	char *src = NULL, *merged = NULL;
	size_t len, m_len = 0, m_cap = 0;
	int r = MANDATE_ENOMEM;

	diag_init(&dl);
	for (size_t i = 0; i < files->n; i++) {
		struct cedar_entities *es = NULL;
		size_t from, to;

		if ((r = read_file(err, files->v[i], &src, &len)) != MANDATE_OK)
			goto out;
		if ((r = hash_part(h, 'e', src, len)) != MANDATE_OK)
			goto out;
		/* each file on its own first: its diagnostics name it */
		r = cedar_entities_parse_json(src, len, files->v[i], p->schema,
		    &es, &dl);
		diag_print(&dl, err);
		diag_init(&dl);
		if (r != MANDATE_OK)
			goto out;
		if (files->n == 1) {
			p->entities = es;
			r = MANDATE_OK;
			goto out;
		}
		cedar_entities_free(es);
		/* then its array's members, as text, into one array (a JSON
		 * tree of them all took ten times the files' size) */
		if (!array_members(src, len, &from, &to)) {
			fprintf(err, "%s: error: not a JSON array of entities\n",
			    files->v[i]);
			r = MANDATE_EINTERNAL;    /* it parsed as one */
			goto out;
		}
		r = MANDATE_ENOMEM;
		if (to > from) {
			if (m_len + (to - from) + 2 > m_cap) {
				size_t cap = (m_len + (to - from) + 2) * 2;
				char *n = realloc(merged, cap);

				if (n == NULL)
					goto out;
				merged = n;
				m_cap = cap;
			}
			merged[m_len] = m_len == 0 ? '[' : ',';
			m_len++;
			memcpy(merged + m_len, src + from, to - from);
			m_len += to - from;
		}
		free(src);
		src = NULL;
	}
	if (merged == NULL && (merged = malloc(2)) != NULL)
		merged[m_len++] = '[';
	if (merged == NULL)
		goto out;
	merged[m_len++] = ']';
	r = cedar_entities_parse_json(merged, m_len,
	    "policies.entities (merged)", p->schema, &p->entities, &dl);
	diag_print(&dl, err);
out:
	free(src);
	free(merged);
	return r;
}

/* Hand the heap's free pages back to the system.  A policy set with a
 * large entity file is hundreds of MB of arena blocks; once freed (a
 * reload's old set, a load's per-file work), glibc keeps them in the
 * heap, and the daemon's RSS stays at its peak for ever.  Once per load
 * or freed set, a few milliseconds. */
static void
give_back_memory(void)
{
#ifdef __GLIBC__
	(void)malloc_trim(0);
#endif
}

int
daemon_policies_load(const struct config *cfg, FILE *err,
    struct daemon_policies **out)
{
	const struct config_policies *pc = &cfg->policies;
	struct daemon_policies *p = NULL;
	struct loader l;
	struct diag_list dl;
	char *src = NULL;
	size_t len = 0, n_paths;
	EVP_MD_CTX *h = NULL;
	unsigned char md[32];
	unsigned int md_len = 0;
	int r = MANDATE_ENOMEM;

	*out = NULL;
	memset(&l, 0, sizeof(l));
	if ((h = EVP_MD_CTX_new()) == NULL)
		return MANDATE_ENOMEM;
	if (EVP_DigestInit_ex(h, EVP_sha256(), NULL) != 1) {
		EVP_MD_CTX_free(h);
		return MANDATE_EINTERNAL;
	}
	diag_init(&dl);
	if ((p = calloc(1, sizeof(*p))) == NULL)
		return MANDATE_ENOMEM;
	atomic_init(&p->refs_priv, 1);
	arena_init(&p->arena_priv, 0);
	l.p = p;
	l.err = err;
	if ((l.files = calloc(POLICY_MAX_FILES, sizeof(*l.files))) == NULL ||
	    (l.srcs = calloc(POLICY_MAX_FILES, sizeof(*l.srcs))) == NULL ||
	    (l.lens = calloc(POLICY_MAX_FILES, sizeof(*l.lens))) == NULL)
		goto out;

	n_paths = pc->platform.n;
	for (size_t i = 0; i < pc->n_tool_servers; i++)
		n_paths += pc->tool_servers[i].paths.n;
	if (n_paths == 0 && cfg->dev.enabled) {
		/* The development policies: from the working directory (a
		 * checkout) or the source tree this binary was built from. */
		const char *dev = exists(DAEMON_DEV_POLICY_REL) ?
		    DAEMON_DEV_POLICY_REL : DAEMON_DEV_POLICY_FILE;
		if ((r = add_path(&l, dev)) != MANDATE_OK)
			goto out;
		p->origin = "development policies";
	} else {
		for (size_t i = 0; i < pc->platform.n; i++)
			if ((r = add_path(&l, pc->platform.v[i])) != MANDATE_OK)
				goto out;
		for (size_t t = 0; t < pc->n_tool_servers; t++)
			for (size_t i = 0; i < pc->tool_servers[t].paths.n; i++)
				if ((r = add_path(&l,
				    pc->tool_servers[t].paths.v[i])) != MANDATE_OK)
					goto out;
		p->origin = "configured policies";
	}

	if ((r = cedar_policy_set_new(&p->set)) != MANDATE_OK)
		goto out;
	for (size_t i = 0; i < l.n_files; i++) {
		if ((r = read_file(err, l.files[i], &l.srcs[i], &l.lens[i])) !=
		    MANDATE_OK)
			goto out;
		if ((r = hash_part(h, 'p', l.srcs[i], l.lens[i])) !=
		    MANDATE_OK)
			goto out;
		r = cedar_policy_set_add(p->set, l.srcs[i], l.lens[i],
		    l.files[i], CEDAR_IDS_ANNOTATION, &dl);
		diag_print(&dl, err);
		diag_init(&dl);
		if (r != MANDATE_OK)
			goto out;
	}
	/* the daemon has no template links: a template would match
	 * nothing, and a forbid written as one would stop nothing */
	r = cedar_policy_set_refuse_templates(p->set, "the daemon links no "
	    "templates, so it would never apply; write it with the entities "
	    "in place of the slots", &dl);
	diag_print(&dl, err);
	diag_init(&dl);
	if (r != MANDATE_OK)
		goto out;
	if ((r = cedar_policy_set_finish(p->set, &dl)) != MANDATE_OK)
		goto out;

	if (pc->schema_file != NULL) {
		size_t n = strlen(pc->schema_file);
		if ((r = read_file(err, pc->schema_file, &src, &len)) !=
		    MANDATE_OK)
			goto out;
		if ((r = hash_part(h, 's', src, len)) != MANDATE_OK)
			goto out;
		if (n >= 5 && strcmp(pc->schema_file + n - 5, ".json") == 0)
			r = cedar_schema_parse_json(src, len, pc->schema_file,
			    &p->schema, &dl);
		else
			r = cedar_schema_parse_text(src, len, pc->schema_file,
			    &p->schema, &dl);
		diag_print(&dl, err);
		diag_init(&dl);
		free(src);
		src = NULL;
		if (r != MANDATE_OK)
			goto out;
		r = cedar_policy_set_validate(p->set, p->schema, &dl);
		diag_print(&dl, err);      /* the sources are still alive */
		diag_init(&dl);
		if (r != MANDATE_OK)
			goto out;
	}

	if (pc->entity_files.n > 0 &&
	    (r = load_entities(cfg, err, p, h)) != MANDATE_OK)
		goto out;
	if (EVP_DigestFinal_ex(h, md, &md_len) != 1 || md_len != 32) {
		r = MANDATE_EINTERNAL;
		goto out;
	}
	for (unsigned i = 0; i < 32; i++) {
		p->hash[2 * i] = "0123456789abcdef"[md[i] >> 4];
		p->hash[2 * i + 1] = "0123456789abcdef"[md[i] & 15];
	}
	p->hash[64] = '\0';
	p->n_files = l.n_files;
	*out = p;
	p = NULL;
	r = MANDATE_OK;
out:
	EVP_MD_CTX_free(h);
	free(src);
	if (l.srcs != NULL)
		for (size_t i = 0; i < l.n_files; i++)
			free(l.srcs[i]);
	free(l.srcs);
	free(l.lens);
	free(l.files);
	if (p != NULL) {
		if (r == MANDATE_ENOMEM)
			fprintf(err, "mandate: out of memory loading policies\n");
		daemon_policies_put(p);
	}
	give_back_memory();   /* the files' text and the per-file checks */
	return r;
}

void
daemon_policies_put(struct daemon_policies *p)
{
	if (p == NULL || atomic_fetch_sub(&p->refs_priv, 1) != 1)
		return;
	if (p->set != NULL)
		cedar_policy_set_unref(p->set);
	cedar_schema_free(p->schema);
	cedar_entities_free(p->entities);
	arena_free(&p->arena_priv);
	free(p);
	give_back_memory();
}

struct daemon_policies *
daemon_policies_get(struct daemon *d)
{
	struct daemon_policies *p;

	pthread_mutex_lock(&d->policy_lock);
	p = atomic_load(&d->policies);
	if (p != NULL)
		atomic_fetch_add(&p->refs_priv, 1);
	pthread_mutex_unlock(&d->policy_lock);
	return p;
}

static int audit_policies_of(struct daemon *d,
    const struct daemon_policies *p, const char *type);

int
daemon_policies_swap(struct daemon *d, struct daemon_policies *p)
{
	struct daemon_policies *old;

	/* swaps one at a time: each record, then its set */
	pthread_mutex_lock(&d->swap_lock);
	/* a replacement is an event of its own, recorded before it takes
	 * effect: a policy change the audit log cannot show does not happen
	 * (the first load is recorded by daemon_new as policy.loaded).  The
	 * record is written outside the readers' lock: a durable write can
	 * take a flush, or the store's busy timeout when the log is down,
	 * and every evaluation takes that lock to get its set (each decision
	 * record names the set its evaluation used, so none is misnamed) */
	if (atomic_load(&d->policies) != NULL && p != NULL &&
	    d->audit != NULL &&
	    audit_policies_of(d, p, "policy.reloaded") != MANDATE_OK) {
		pthread_mutex_unlock(&d->swap_lock);
		daemon_log(d, DLOG_ERROR, "policy reload: the audit record "
		    "could not be written; the current policies stay");
		daemon_policies_put(p);
		return MANDATE_EIO;
	}
	pthread_mutex_lock(&d->policy_lock);
	old = atomic_exchange(&d->policies, p);
	/* later records name this version */
	audit_set_policy_hash(d->audit, p != NULL ? p->hash : NULL);
	pthread_mutex_unlock(&d->policy_lock);
	pthread_mutex_unlock(&d->swap_lock);
	daemon_policies_put(old);
	return MANDATE_OK;
}

int
daemon_audit_policies(struct daemon *d, const char *type)
{
	struct daemon_policies *p = daemon_policies_get(d);
	int r;

	if (p == NULL)
		return MANDATE_EINTERNAL;
	r = audit_policies_of(d, p, type);
	daemon_policies_put(p);
	return r;
}

/* The audit record of policy set p (policy.loaded, policy.reloaded). */
static int
audit_policies_of(struct daemon *d, const struct daemon_policies *p,
    const char *type)
{
	json_t *f;

	f = json_pack("{s:s,s:s,s:I,s:I,s:b,s:b}", "policy_hash", p->hash,
	    "origin", p->origin ? p->origin : "",
	    "files", (json_int_t)p->n_files,
	    "policies", (json_int_t)cedar_policy_set_count(p->set),
	    "schema", p->schema != NULL, "entities", p->entities != NULL);
	if (f == NULL)
		return MANDATE_ENOMEM;
	return daemon_audit(d, NULL, type, STR_NULL, STR_NULL, f);
}

int
daemon_forbid_errors(const struct daemon *d, struct arena *a,
    struct cedar_decision *dec)
{
	const char **ids;
	size_t n = 0, k = 0;

	if (!dec->allow ||
	    d->cfg->policies.on_forbid_error == CONFIG_FORBID_ERROR_SKIP)
		return MANDATE_OK;
	for (size_t i = 0; i < dec->n_errors; i++)
		n += dec->errors[i].forbid;
	if (n == 0)
		return MANDATE_OK;
	dec->allow = false;
	if ((ids = arena_calloc(a, n + 1, sizeof(*ids))) == NULL) {
		dec->n_reasons = 0;
		return MANDATE_ENOMEM;
	}
	for (size_t i = 0; i < dec->n_errors; i++)
		if (dec->errors[i].forbid)
			ids[k++] = dec->errors[i].policy_id;
	dec->reasons = ids;
	dec->n_reasons = k;
	return MANDATE_OK;
}

/*
 * cedar_conformance.c - run Cedar's integration test suite against the
 * engine, through the public API (src/cedar/cedar.h) only.
 *
 * Usage:
 *   cedar_conformance [--max-failures N] [--quiet] INTEGRATION_DIR PATH...
 *
 * INTEGRATION_DIR is the cedar-integration-tests checkout (holding tests/
 * and sample-data/); each PATH is a test JSON file or a directory searched
 * recursively for them (files named *.entities.json are data, not tests).
 * Paths inside a test file are resolved as the reference runner does,
 * relative to INTEGRATION_DIR, falling back to the test file's parent
 * directory (the extracted corpus-tests/ live in the build directory).
 *
 * Per test file: parse the schema (.cedarschema text, or the JSON form when
 * the name ends in .json), the policies (positional ids policyN), the
 * entities (with the schema); compare shouldValidate with strict
 * validation.  Per request: build it (validated against the schema unless
 * validateRequest is false), authorize, and compare the decision, the
 * reasons (as a set) and the ids of the erroring policies (as a set).
 *
 * Prints four metrics and, for the first N failures, what was expected and
 * what came out; ends with "N passed, M failed" where N counts requests
 * that match fully plus tests whose validation outcome matches.  Exits 1
 * on any mismatch, 2 on bad usage.
 */
#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cedar/cedar.h"
#include "util/arena.h"
#include "util/diag.h"
#include "util/status.h"

#define MAX_FILE_BYTES   (64u << 20)
#define MAX_PATH_BYTES   4096
#define MAX_DIR_DEPTH    4
#define MAX_TEST_FILES   100000
#define REQUEST_ARENA_LIMIT (256u << 20)

struct counter {
	size_t ok, total;
};

struct run {
	const char *integ_dir;
	long max_failures;
	bool quiet;
	long n_failures_shown;
	struct counter decisions, reasons, errors, validation, requests;
	size_t setup_failures;      /* tests whose inputs did not load */
	/* collected test files */
	char **files;
	size_t n_files, cap_files;
};

/* ---- files ---- */

/* Read a whole file into a malloc'd NUL-terminated buffer. */
static int
read_file(const char *path, char **out, size_t *out_len)
{
	FILE *fp = NULL;
	char *buf = NULL;
	long n;
	int r = MANDATE_EIO;

	*out = NULL;
	*out_len = 0;
	if ((fp = fopen(path, "rb")) == NULL)
		goto out;
	if (fseek(fp, 0, SEEK_END) != 0 || (n = ftell(fp)) < 0 ||
	    fseek(fp, 0, SEEK_SET) != 0)
		goto out;
	if ((size_t)n > MAX_FILE_BYTES) {
		r = MANDATE_ELIMIT;
		goto out;
	}
	if ((buf = malloc((size_t)n + 1)) == NULL) {
		r = MANDATE_ENOMEM;
		goto out;
	}
	if (fread(buf, 1, (size_t)n, fp) != (size_t)n)
		goto out;
	buf[n] = '\0';
	*out = buf;
	*out_len = (size_t)n;
	buf = NULL;
	r = MANDATE_OK;
out:
	free(buf);
	if (fp != NULL)
		fclose(fp);
	return r;
}

static bool
ends_with(const char *s, const char *suffix)
{
	size_t n = strlen(s), m = strlen(suffix);
	return n >= m && memcmp(s + n - m, suffix, m) == 0;
}

static bool
is_file(const char *path)
{
	struct stat st;
	return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

static int
add_file(struct run *run, const char *path)
{
	char *copy;

	if (run->n_files == run->cap_files) {
		size_t cap = run->cap_files ? run->cap_files * 2 : 256;
		char **files;
		if (cap > MAX_TEST_FILES)
			return MANDATE_ELIMIT;
		files = realloc(run->files, cap * sizeof(*files));
		if (files == NULL)
			return MANDATE_ENOMEM;
		run->files = files;
		run->cap_files = cap;
	}
	if ((copy = strdup(path)) == NULL)
		return MANDATE_ENOMEM;
	run->files[run->n_files++] = copy;
	return MANDATE_OK;
}

/* Collect test JSON files under path (a file or a directory). */
static int
collect(struct run *run, const char *path, int depth)
{
	struct stat st;
	DIR *d = NULL;
	struct dirent *de;
	char child[MAX_PATH_BYTES];
	int r = MANDATE_OK;

	if (stat(path, &st) != 0) {
		fprintf(stderr, "cedar_conformance: %s: %s\n", path,
		    strerror(errno));
		return MANDATE_EIO;
	}
	if (!S_ISDIR(st.st_mode))
		return add_file(run, path);
	if (depth >= MAX_DIR_DEPTH)
		return MANDATE_OK;
	if ((d = opendir(path)) == NULL)
		return MANDATE_EIO;
	while ((de = readdir(d)) != NULL) {
		int n;
		if (de->d_name[0] == '.')
			continue;
		n = snprintf(child, sizeof(child), "%s/%s", path, de->d_name);
		if (n < 0 || (size_t)n >= sizeof(child)) {
			r = MANDATE_ELIMIT;
			break;
		}
		if (stat(child, &st) != 0)
			continue;
		if (S_ISDIR(st.st_mode)) {
			if ((r = collect(run, child, depth + 1)) != MANDATE_OK)
				break;
		} else if (ends_with(de->d_name, ".json") &&
		    !ends_with(de->d_name, ".entities.json") &&
		    strcmp(de->d_name, "entities.json") != 0) {
			if ((r = add_file(run, child)) != MANDATE_OK)
				break;
		}
	}
	closedir(d);
	return r;
}

static int
cmp_paths(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Resolve a path named in a test file; returns false if no candidate
 * exists (out then holds the first candidate, for the message). */
static bool
resolve(const struct run *run, const char *test_file, const char *rel,
    char *out, size_t out_size)
{
	char dir[MAX_PATH_BYTES];
	const char *slash;
	int n;

	if (rel[0] == '/') {
		n = snprintf(out, out_size, "%s", rel);
		return n >= 0 && (size_t)n < out_size && is_file(out);
	}
	n = snprintf(out, out_size, "%s/%s", run->integ_dir, rel);
	if (n >= 0 && (size_t)n < out_size && is_file(out))
		return true;
	/* parent of the test file's directory, then the directory itself */
	slash = strrchr(test_file, '/');
	n = snprintf(dir, sizeof(dir), "%.*s",
	    slash ? (int)(slash - test_file) : 1, slash ? test_file : ".");
	if (n < 0 || (size_t)n >= sizeof(dir))
		return false;
	{
		char cand[MAX_PATH_BYTES];
		const char *base = strrchr(rel, '/');
		n = snprintf(cand, sizeof(cand), "%s/../%s", dir, rel);
		if (n >= 0 && (size_t)n < sizeof(cand) && is_file(cand)) {
			snprintf(out, out_size, "%s", cand);
			return true;
		}
		n = snprintf(cand, sizeof(cand), "%s/%s", dir,
		    base ? base + 1 : rel);
		if (n >= 0 && (size_t)n < sizeof(cand) && is_file(cand)) {
			snprintf(out, out_size, "%s", cand);
			return true;
		}
	}
	return false;
}

/* ---- raw JSON spans ----
 *
 * jansson cannot hold a NUL byte in an object key, and the corpus has
 * contexts with such keys.  So the runner hands each request to the
 * engine as the exact bytes of the test file (principal, action, resource
 * and context spans, found by the small scanner below), and gives jansson
 * a copy in which every \u0000 escape is replaced by \u0001 (same length,
 * same structure) for the fields it reads itself. */

struct span {
	const char *p;
	size_t n;
};

static const char *
skip_ws(const char *p, const char *end)
{
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\n' || *p == '\r'))
		p++;
	return p;
}

/* End of the string starting at p (on the opening quote), or NULL. */
static const char *
skip_string(const char *p, const char *end)
{
	for (p++; p < end; p++) {
		if (*p == '\\')
			p++;
		else if (*p == '"')
			return p + 1;
	}
	return NULL;
}

/* End of the JSON value starting at p, or NULL if malformed. */
static const char *
skip_value(const char *p, const char *end, int depth)
{
	p = skip_ws(p, end);
	if (p >= end || depth > 1000)
		return NULL;
	if (*p == '"')
		return skip_string(p, end);
	if (*p == '{' || *p == '[') {
		char close = *p == '{' ? '}' : ']';
		p = skip_ws(p + 1, end);
		if (p < end && *p == close)
			return p + 1;
		for (;;) {
			if (close == '}') {
				if (p >= end || *p != '"' ||
				    (p = skip_string(p, end)) == NULL)
					return NULL;
				p = skip_ws(p, end);
				if (p >= end || *p != ':')
					return NULL;
				p++;
			}
			if ((p = skip_value(p, end, depth + 1)) == NULL)
				return NULL;
			p = skip_ws(p, end);
			if (p < end && *p == ',') {
				p = skip_ws(p + 1, end);
				continue;
			}
			return p < end && *p == close ? p + 1 : NULL;
		}
	}
	while (p < end && *p != ',' && *p != '}' && *p != ']' && *p != ' ' &&
	    *p != '\n' && *p != '\r' && *p != '\t')
		p++;
	return p;
}

/* In the object starting at p, the span of the value of `key` (a plain
 * ASCII key, compared byte-wise); n = 0 if absent. */
static struct span
object_member(const char *p, const char *end, const char *key)
{
	struct span none = { NULL, 0 };
	size_t klen = strlen(key);

	p = skip_ws(p, end);
	if (p >= end || *p != '{')
		return none;
	p = skip_ws(p + 1, end);
	while (p < end && *p == '"') {
		const char *k = p, *v, *ve;
		if ((p = skip_string(p, end)) == NULL)
			return none;
		p = skip_ws(p, end);
		if (p >= end || *p != ':')
			return none;
		v = skip_ws(p + 1, end);
		if ((ve = skip_value(v, end, 0)) == NULL)
			return none;
		if ((size_t)(p - k) >= klen + 2 && memcmp(k + 1, key, klen) == 0 &&
		    k[klen + 1] == '"') {
			struct span sp = { v, (size_t)(ve - v) };
			return sp;
		}
		p = skip_ws(ve, end);
		if (p < end && *p == ',')
			p = skip_ws(p + 1, end);
	}
	return none;
}

/* The spans of the elements of the array `key` of the top-level object;
 * *n_out = 0 if absent or malformed.  Returns a malloc'd array. */
static struct span *
array_elements(const char *text, size_t len, const char *key, size_t *n_out)
{
	const char *end = text + len, *p;
	struct span arr = object_member(text, end, key);
	struct span *els = NULL;
	size_t n = 0, cap = 0;

	*n_out = 0;
	if (arr.n == 0 || arr.p[0] != '[')
		return NULL;
	p = skip_ws(arr.p + 1, end);
	while (p < end && *p != ']') {
		const char *ve = skip_value(p, end, 0);
		if (ve == NULL)
			break;
		if (n == cap) {
			struct span *grown;
			cap = cap ? cap * 2 : 16;
			if ((grown = realloc(els, cap * sizeof(*els))) == NULL)
				break;
			els = grown;
		}
		els[n].p = p;
		els[n].n = (size_t)(ve - p);
		n++;
		p = skip_ws(ve, end);
		if (p < end && *p == ',')
			p = skip_ws(p + 1, end);
	}
	*n_out = n;
	return els;
}

/* Replace each \u0000 escape by \u0001 in place (see above). */
static void
sanitize_nul_escapes(char *text, size_t len)
{
	bool in_string = false;

	for (size_t i = 0; i < len; i++) {
		if (!in_string) {
			in_string = text[i] == '"';
			continue;
		}
		if (text[i] == '"') {
			in_string = false;
		} else if (text[i] == '\\' && i + 1 < len) {
			if (text[i + 1] == 'u' && i + 5 < len &&
			    memcmp(text + i + 2, "0000", 4) == 0)
				text[i + 5] = '1';
			i++;
		}
	}
}

/* ---- reporting ---- */

static bool
show_failure(struct run *run)
{
	if (run->quiet || run->n_failures_shown >= run->max_failures)
		return false;
	run->n_failures_shown++;
	return true;
}

static void
print_id_array(FILE *fp, json_t *arr)
{
	size_t i;
	json_t *v;

	fputc('[', fp);
	json_array_foreach(arr, i, v) {
		fprintf(fp, "%s%s", i ? "," : "",
		    json_is_string(v) ? json_string_value(v) : "?");
	}
	fputc(']', fp);
}

static void
print_id_list(FILE *fp, const char *const *ids, size_t n)
{
	fputc('[', fp);
	for (size_t i = 0; i < n; i++)
		fprintf(fp, "%s%s", i ? "," : "", ids[i]);
	fputc(']', fp);
}

static void
print_diags(const struct diag_list *dl)
{
	if (dl->n > 0) {
		/* indent under the failure line */
		for (size_t i = 0; i < dl->n && i < 5; i++) {
			size_t line = 0, col = 0;
			diag_linecol(&dl->items[i], &line, &col);
			printf("      %s:%zu:%zu: %s\n",
			    dl->items[i].file ? dl->items[i].file : "<input>",
			    line, col, dl->items[i].msg);
		}
	}
}

/* JSON text on one line: whitespace outside strings dropped. */
static void
print_compact(const char *p, size_t n)
{
	bool in_string = false;

	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		if (in_string) {
			if (c == '\\' && i + 1 < n) {
				putchar(c);
				c = p[++i];
			} else if (c == '"') {
				in_string = false;
			}
		} else if (c == '"') {
			in_string = true;
		} else if (c == ' ' || c == '\n' || c == '\r' || c == '\t') {
			continue;
		}
		putchar(c);
	}
}

/* ---- comparison ---- */

/* Is the JSON array of strings `want` the same set as ids[0..n)? */
static bool
same_set(json_t *want, const char *const *ids, size_t n)
{
	size_t i, j;
	json_t *v;

	if (!json_is_array(want))
		return false;
	/* every expected id is present */
	json_array_foreach(want, i, v) {
		bool found = false;
		if (!json_is_string(v))
			return false;
		for (j = 0; j < n && !found; j++)
			found = strcmp(ids[j], json_string_value(v)) == 0;
		if (!found)
			return false;
	}
	/* every id we produced is expected */
	for (j = 0; j < n; j++) {
		bool found = false;
		json_array_foreach(want, i, v)
			if (strcmp(ids[j], json_string_value(v)) == 0)
				found = true;
		if (!found)
			return false;
	}
	return true;
}

/* ---- one test file ---- */

struct loaded {
	struct cedar_schema *schema;
	struct cedar_policy_set *ps;
	struct cedar_entities *es;
};

static void
loaded_free(struct loaded *l)
{
	cedar_entities_free(l->es);
	cedar_policy_set_unref(l->ps);
	cedar_schema_free(l->schema);
	memset(l, 0, sizeof(*l));
}

/* Load schema, policies and entities; on failure prints why (within the
 * failure cap) and returns non-OK. */
static int
load_inputs(struct run *run, const char *test_file, json_t *test,
    struct loaded *l, struct diag_list *dl)
{
	const char *keys[3] = { "schema", "policies", "entities" };
	char paths[3][MAX_PATH_BYTES];
	char *text[3] = { NULL, NULL, NULL };
	size_t len[3] = { 0, 0, 0 };
	const char *what = "";
	int r = MANDATE_EINVAL;

	memset(l, 0, sizeof(*l));
	for (int i = 0; i < 3; i++) {
		json_t *v = json_object_get(test, keys[i]);
		if (!json_is_string(v)) {
			what = keys[i];
			goto out;
		}
		if (!resolve(run, test_file, json_string_value(v), paths[i],
		    sizeof(paths[i])) ||
		    read_file(paths[i], &text[i], &len[i]) != MANDATE_OK) {
			what = keys[i];
			r = MANDATE_EIO;
			goto out;
		}
	}
	what = "schema";
	if (ends_with(paths[0], ".json"))
		r = cedar_schema_parse_json(text[0], len[0], paths[0],
		    &l->schema, dl);
	else
		r = cedar_schema_parse_text(text[0], len[0], paths[0],
		    &l->schema, dl);
	if (r != MANDATE_OK)
		goto out;
	what = "policies";
	if ((r = cedar_policy_set_new(&l->ps)) != MANDATE_OK ||
	    (r = cedar_policy_set_add(l->ps, text[1], len[1], paths[1],
	    CEDAR_IDS_POSITIONAL, dl)) != MANDATE_OK ||
	    (r = cedar_policy_set_finish(l->ps, dl)) != MANDATE_OK)
		goto out;
	what = "entities";
	if ((r = cedar_entities_parse_json(text[2], len[2], paths[2],
	    l->schema, &l->es, dl)) != MANDATE_OK)
		goto out;
	r = MANDATE_OK;
out:
	if (r != MANDATE_OK) {
		if (show_failure(run)) {
			printf("FAIL %s: cannot load %s: %s\n", test_file, what,
			    mandate_strerror(r));
			print_diags(dl);
		}
		loaded_free(l);
	}
	/* text must outlive nothing: the engine copies what it keeps, but the
	 * diagnostics above point into it, so free only now */
	for (int i = 0; i < 3; i++)
		free(text[i]);
	return r;
}

static void
run_request(struct run *run, const char *test_file, const struct loaded *l,
    json_t *jreq, struct span raw, size_t index)
{
	struct arena a;
	struct diag_list dl;
	struct cedar_request *req = NULL;
	struct cedar_decision dec;
	json_t *v;
	char *body = NULL;
	size_t body_len = 0, body_cap;
	const char *desc;
	bool validate = true, want_allow;
	bool ok_decision, ok_reason, ok_errors;
	const char **err_ids = NULL;
	int r;

	arena_init(&a, REQUEST_ARENA_LIMIT);
	diag_init(&dl);
	memset(&dec, 0, sizeof(dec));
	run->requests.total++;
	run->decisions.total++;
	run->reasons.total++;
	run->errors.total++;

	v = json_object_get(jreq, "description");
	desc = json_is_string(v) ? json_string_value(v) : "";
	v = json_object_get(jreq, "validateRequest");
	if (json_is_boolean(v))
		validate = json_is_true(v);
	v = json_object_get(jreq, "decision");
	want_allow = json_is_string(v) &&
	    strcmp(json_string_value(v), "allow") == 0;

	/* {"principal":...,"action":...,"resource":...,"context":...} from
	 * the raw bytes of the test file */
	body_cap = raw.n + 64;
	if ((body = malloc(body_cap)) == NULL)
		goto fail_setup;
	body[body_len++] = '{';
	for (int i = 0; i < 4; i++) {
		static const char *const parts[4] = {
			"principal", "action", "resource", "context",
		};
		struct span sp = object_member(raw.p, raw.p + raw.n, parts[i]);
		int n;
		if (sp.n == 0)
			continue;
		n = snprintf(body + body_len, body_cap - body_len, "%s\"%s\":",
		    body_len > 1 ? "," : "", parts[i]);
		if (n < 0 || (size_t)n + sp.n + 2 > body_cap - body_len)
			goto fail_setup;
		body_len += (size_t)n;
		memcpy(body + body_len, sp.p, sp.n);
		body_len += sp.n;
	}
	body[body_len++] = '}';
	body[body_len] = '\0';
	r = cedar_request_parse_json(&a, body, body_len, l->schema,
	    validate, &req, &dl);
	if (r != MANDATE_OK) {
		if (show_failure(run)) {
			printf("FAIL %s request %zu \"%s\": request rejected: "
			    "%s\n", test_file, index, desc,
			    mandate_strerror(r));
			print_diags(&dl);
		}
		goto out;
	}
	r = cedar_authorize(l->ps, l->es, req, &a, &dec);
	if (r != MANDATE_OK) {
		if (show_failure(run))
			printf("FAIL %s request %zu \"%s\": no decision: %s\n",
			    test_file, index, desc, mandate_strerror(r));
		goto out;
	}
	if (dec.n_errors > 0 &&
	    (err_ids = arena_calloc(&a, dec.n_errors, sizeof(*err_ids))) ==
	    NULL)
		goto fail_setup;
	for (size_t i = 0; i < dec.n_errors; i++)
		err_ids[i] = dec.errors[i].policy_id;

	ok_decision = dec.allow == want_allow;
	ok_reason = same_set(json_object_get(jreq, "reason"), dec.reasons,
	    dec.n_reasons);
	ok_errors = same_set(json_object_get(jreq, "errors"), err_ids,
	    dec.n_errors);
	run->decisions.ok += ok_decision;
	run->reasons.ok += ok_reason;
	run->errors.ok += ok_errors;
	if (ok_decision && ok_reason && ok_errors) {
		run->requests.ok++;
		goto out;
	}
	if (show_failure(run)) {
		printf("FAIL %s request %zu \"%s\":\n", test_file, index, desc);
		printf("      expected %s reason ", want_allow ? "allow" : "deny");
		print_id_array(stdout, json_object_get(jreq, "reason"));
		printf(" errors ");
		print_id_array(stdout, json_object_get(jreq, "errors"));
		printf("\n      got      %s reason ", dec.allow ? "allow" : "deny");
		print_id_list(stdout, dec.reasons, dec.n_reasons);
		printf(" errors ");
		print_id_list(stdout, err_ids, dec.n_errors);
		printf("\n");
		for (size_t i = 0; i < dec.n_errors && i < 5; i++)
			printf("      %s: %s\n", dec.errors[i].policy_id,
			    dec.errors[i].message ? dec.errors[i].message : "");
		printf("      request ");
		print_compact(body, body_len);
		printf("\n");
	}
	goto out;
fail_setup:
	if (show_failure(run))
		printf("FAIL %s request %zu: out of memory in the runner\n",
		    test_file, index);
out:
	free(body);
	arena_free(&a);
}

static void
run_test(struct run *run, const char *test_file)
{
	char *text = NULL, *clean = NULL;
	size_t len, i, n_requests = 0, n_raw = 0;
	struct span *raw = NULL;
	json_t *test = NULL, *requests, *jreq, *v;
	json_error_t jerr;
	struct loaded l;
	struct diag_list dl;
	bool should_validate;
	int r;

	diag_init(&dl);
	memset(&l, 0, sizeof(l));
	run->validation.total++;
	if (read_file(test_file, &text, &len) == MANDATE_OK &&
	    (clean = malloc(len + 1)) != NULL) {
		memcpy(clean, text, len + 1);
		sanitize_nul_escapes(clean, len);
		raw = array_elements(text, len, "requests", &n_raw);
		test = json_loadb(clean, len, JSON_ALLOW_NUL, &jerr);
	}
	if (test == NULL || !json_is_object(test)) {
		run->setup_failures++;
		if (show_failure(run))
			printf("FAIL %s: not a readable test file\n", test_file);
		goto out;
	}
	requests = json_object_get(test, "requests");
	n_requests = json_is_array(requests) ? json_array_size(requests) : 0;
	v = json_object_get(test, "shouldValidate");
	should_validate = json_is_true(v);

	if (load_inputs(run, test_file, test, &l, &dl) != MANDATE_OK) {
		/* every request and the validation count as failed */
		run->setup_failures++;
		run->requests.total += n_requests;
		run->decisions.total += n_requests;
		run->reasons.total += n_requests;
		run->errors.total += n_requests;
		goto out;
	}

	diag_init(&dl);
	r = cedar_policy_set_validate(l.ps, l.schema, &dl);
	if ((r == MANDATE_OK) == should_validate) {
		run->validation.ok++;
	} else if (show_failure(run)) {
		printf("FAIL %s: validation expected %s, got %s (%s)\n",
		    test_file, should_validate ? "pass" : "failure",
		    r == MANDATE_OK ? "pass" : "failure", mandate_strerror(r));
		print_diags(&dl);
	}

	if (n_raw != n_requests) {
		/* the scanner and jansson disagree: count every request failed */
		if (show_failure(run))
			printf("FAIL %s: cannot split the requests\n", test_file);
		run->requests.total += n_requests;
		run->decisions.total += n_requests;
		run->reasons.total += n_requests;
		run->errors.total += n_requests;
		goto out;
	}
	json_array_foreach(requests, i, jreq)
		run_request(run, test_file, &l, jreq, raw[i], i);
out:
	loaded_free(&l);
	json_decref(test);
	free(raw);
	free(clean);
	free(text);
}

/* ---- main ---- */

static void
usage(FILE *fp)
{
	fputs("usage: cedar_conformance [--max-failures N] [--quiet] "
	    "INTEGRATION_DIR PATH...\n", fp);
}

static void
print_metric(const char *name, const struct counter *c)
{
	printf("  %-12s %7zu / %-7zu %s\n", name, c->ok, c->total,
	    c->ok == c->total ? "ok" : "MISMATCH");
}

int
main(int argc, char **argv)
{
	struct run run;
	struct timespec t0, t1;
	size_t passed, failed;
	int i;

	memset(&run, 0, sizeof(run));
	run.max_failures = 20;
	for (i = 1; i < argc && argv[i][0] == '-'; i++) {
		if (strcmp(argv[i], "--max-failures") == 0 && i + 1 < argc) {
			char *end;
			errno = 0;
			run.max_failures = strtol(argv[++i], &end, 10);
			if (errno != 0 || *end != '\0' || run.max_failures < 0) {
				usage(stderr);
				return 2;
			}
		} else if (strcmp(argv[i], "--quiet") == 0) {
			run.quiet = true;
		} else if (strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (argc - i < 2) {
		usage(stderr);
		return 2;
	}
	run.integ_dir = argv[i++];
	for (; i < argc; i++)
		if (collect(&run, argv[i], 0) != MANDATE_OK)
			return 2;
	if (run.n_files == 0) {
		fprintf(stderr, "cedar_conformance: no test files found\n");
		return 2;
	}
	qsort(run.files, run.n_files, sizeof(*run.files), cmp_paths);

	clock_gettime(CLOCK_MONOTONIC, &t0);
	for (size_t f = 0; f < run.n_files; f++)
		run_test(&run, run.files[f]);
	clock_gettime(CLOCK_MONOTONIC, &t1);

	passed = run.requests.ok + run.validation.ok;
	failed = (run.requests.total - run.requests.ok) +
	    (run.validation.total - run.validation.ok);
	if (run.n_failures_shown >= run.max_failures && failed > 0 &&
	    !run.quiet)
		printf("(listing capped at %ld failures; --max-failures N)\n",
		    run.max_failures);
	printf("%zu test files, %zu requests, %.2f s", run.n_files,
	    run.requests.total, (double)(t1.tv_sec - t0.tv_sec) +
	    (double)(t1.tv_nsec - t0.tv_nsec) / 1e9);
	if (run.setup_failures > 0)
		printf(", %zu test files failed to load", run.setup_failures);
	printf("\n");
	print_metric("decisions", &run.decisions);
	print_metric("reasons", &run.reasons);
	print_metric("errors", &run.errors);
	print_metric("validation", &run.validation);
	printf("%zu passed, %zu failed\n", passed, failed);

	for (size_t f = 0; f < run.n_files; f++)
		free(run.files[f]);
	free(run.files);
	return failed == 0 ? 0 : 1;
}

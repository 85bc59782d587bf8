/*
 * cedar_bench.c - throughput and latency of Cedar decisions, through the
 * public API (src/cedar/cedar.h) only.  A benchmark, not a test.
 *
 * Usage:
 *   cedar_bench [--out DIR] [--requests N] [--passes P]
 *
 * Workloads, generated deterministically:
 *   (a) 50 policies over 1,000 entities: users in teams in departments in
 *       divisions (a 3-level group hierarchy), documents in folders, with
 *       realistic conditions (attribute checks, `in` groups, sets, ip
 *       ranges, `like`);
 *   (b) the same plus 10,000 unrelated policies (other actions and
 *       principals), which a good index never evaluates.
 * N requests (default 10,000) are run P times (default 3) against each.
 * Per decision we time the authorization alone (request prebuilt) and the
 * request parse plus authorization; we print decisions per second and the
 * p50/p99 latencies.
 *
 * Everything used is written to DIR (default bench-data): policies_a.cedar,
 * policies_b.cedar, entities.json, requests.json (each request with the
 * slice of entities it needs, for engines that take entities per call),
 * decisions_a.txt / decisions_b.txt (our allow/deny per request, for a
 * cross-check), and ours.json (the measurements), so that
 * bench/cedar_wasm_bench.js runs the very same requests through cedar-wasm.
 * bench/run.sh runs both and prints the comparison table.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "cedar/cedar.h"
#include "util/arena.h"
#include "util/diag.h"
#include "util/status.h"

#define N_DIVISIONS 10
#define N_DEPTS     40
#define N_TEAMS     150
#define N_USERS     600
#define N_FOLDERS   20
#define N_DOCS      180
#define N_UNRELATED 10000
#define MAX_BUF     (256u << 20)
#define MAX_REQUESTS 1000000

static const char *const ACTIONS[] = { "view", "comment", "edit", "delete", "share" };
#define N_ACTIONS 5

/* ---- deterministic random numbers (xorshift64*) ---- */

struct rng {
	uint64_t s;
};

static uint64_t
rng_next(struct rng *r)
{
	r->s ^= r->s >> 12;
	r->s ^= r->s << 25;
	r->s ^= r->s >> 27;
	return r->s * 2685821657736338717ULL;
}

static int
rng_int(struct rng *r, int n)
{
	return (int)(rng_next(r) % (uint64_t)n);
}

/* ---- a bounded growable text buffer ---- */

struct buf {
	char *p;
	size_t n, cap;
	bool failed;
};

static void
buf_printf(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
buf_printf(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->failed)
		return;
	for (;;) {
		size_t room = b->cap - b->n;
		va_start(ap, fmt);
		n = vsnprintf(b->p ? b->p + b->n : NULL, room, fmt, ap);
		va_end(ap);
		if (n < 0) {
			b->failed = true;
			return;
		}
		if ((size_t)n < room) {
			b->n += (size_t)n;
			return;
		}
		{
			size_t cap = b->cap ? b->cap * 2 : 4096;
			char *p;
			while (cap - b->n <= (size_t)n)
				cap *= 2;
			if (cap > MAX_BUF || (p = realloc(b->p, cap)) == NULL) {
				b->failed = true;
				return;
			}
			b->p = p;
			b->cap = cap;
		}
	}
}

static int
write_file(const char *dir, const char *name, const struct buf *b)
{
	char path[4096];
	FILE *fp;
	int n = snprintf(path, sizeof(path), "%s/%s", dir, name);

	if (n < 0 || (size_t)n >= sizeof(path) || b->failed)
		return MANDATE_EINVAL;
	if ((fp = fopen(path, "wb")) == NULL)
		return MANDATE_EIO;
	if (b->n > 0 && fwrite(b->p, 1, b->n, fp) != b->n) {
		fclose(fp);
		return MANDATE_EIO;
	}
	return fclose(fp) == 0 ? MANDATE_OK : MANDATE_EIO;
}

/* ---- the data ---- */

struct world {
	int user_team[N_USERS][2];   /* second team -1 if none */
	int team_dept[N_TEAMS];
	int dept_div[N_DEPTS];
	int doc_folder[N_DOCS];
};

static const char *const DEPT_NAMES[] = { "engineering", "eng-platform",
	"sales", "finance", "legal", "support" };
static const char *const TAGS[] = { "q1", "q2", "q3", "q4", "launch",
	"internal", "roadmap" };
static const char *const CLASSES[] = { "public", "internal", "confidential",
	"secret" };

static void
gen_entities(struct rng *r, struct world *w, struct buf *b)
{
	int i;

	buf_printf(b, "[\n");
	for (i = 0; i < N_DIVISIONS; i++)
		buf_printf(b, "{\"uid\":{\"type\":\"Division\",\"id\":\"v%d\"},"
		    "\"attrs\":{\"name\":\"division %d\"},\"parents\":[]},\n", i, i);
	for (i = 0; i < N_DEPTS; i++) {
		w->dept_div[i] = rng_int(r, N_DIVISIONS);
		buf_printf(b, "{\"uid\":{\"type\":\"Dept\",\"id\":\"d%d\"},"
		    "\"attrs\":{\"budget\":%d},\"parents\":[{\"type\":"
		    "\"Division\",\"id\":\"v%d\"}]},\n", i,
		    rng_int(r, 1000000), w->dept_div[i]);
	}
	for (i = 0; i < N_TEAMS; i++) {
		w->team_dept[i] = rng_int(r, N_DEPTS);
		buf_printf(b, "{\"uid\":{\"type\":\"Team\",\"id\":\"t%d\"},"
		    "\"attrs\":{\"size\":%d},\"parents\":[{\"type\":\"Dept\","
		    "\"id\":\"d%d\"}]},\n", i, 2 + rng_int(r, 20),
		    w->team_dept[i]);
	}
	for (i = 0; i < N_USERS; i++) {
		int roles = rng_int(r, 8);
		w->user_team[i][0] = rng_int(r, N_TEAMS);
		w->user_team[i][1] = rng_int(r, 4) == 0 ? rng_int(r, N_TEAMS) : -1;
		if (w->user_team[i][1] == w->user_team[i][0])
			w->user_team[i][1] = -1;
		buf_printf(b, "{\"uid\":{\"type\":\"User\",\"id\":\"u%d\"},"
		    "\"attrs\":{\"level\":%d,\"active\":%s,\"dept\":\"%s\","
		    "\"email\":\"u%d@example.com\",\"roles\":[%s%s%s]},"
		    "\"parents\":[{\"type\":\"Team\",\"id\":\"t%d\"}", i,
		    rng_int(r, 10), rng_int(r, 10) ? "true" : "false",
		    DEPT_NAMES[rng_int(r, 6)], i,
		    roles == 0 ? "\"admin\"" : "\"member\"",
		    roles < 3 ? ",\"reviewer\"" : "",
		    roles == 7 ? ",\"auditor\"" : "", w->user_team[i][0]);
		if (w->user_team[i][1] >= 0)
			buf_printf(b, ",{\"type\":\"Team\",\"id\":\"t%d\"}",
			    w->user_team[i][1]);
		buf_printf(b, "]},\n");
	}
	for (i = 0; i < N_FOLDERS; i++)
		buf_printf(b, "{\"uid\":{\"type\":\"Folder\",\"id\":\"f%d\"},"
		    "\"attrs\":{},\"parents\":[]},\n", i);
	for (i = 0; i < N_DOCS; i++) {
		w->doc_folder[i] = rng_int(r, N_FOLDERS);
		buf_printf(b, "{\"uid\":{\"type\":\"Doc\",\"id\":\"doc%d\"},"
		    "\"attrs\":{\"owner\":{\"__entity\":{\"type\":\"User\","
		    "\"id\":\"u%d\"}},\"classification\":\"%s\",\"public\":%s,"
		    "\"level\":%d,\"tags\":[\"%s\",\"%s\"]},\"parents\":[{\"type\":"
		    "\"Folder\",\"id\":\"f%d\"}]},\n", i, rng_int(r, N_USERS),
		    CLASSES[rng_int(r, 4)], rng_int(r, 5) == 0 ? "true" : "false",
		    rng_int(r, 10), TAGS[rng_int(r, 7)], TAGS[rng_int(r, 7)],
		    w->doc_folder[i]);
	}
	/* actions: view and comment are "read", edit and delete "write" */
	buf_printf(b, "{\"uid\":{\"type\":\"Action\",\"id\":\"read\"},"
	    "\"attrs\":{},\"parents\":[]},\n"
	    "{\"uid\":{\"type\":\"Action\",\"id\":\"write\"},"
	    "\"attrs\":{},\"parents\":[]},\n");
	for (i = 0; i < N_ACTIONS; i++)
		buf_printf(b, "{\"uid\":{\"type\":\"Action\",\"id\":\"%s\"},"
		    "\"attrs\":{},\"parents\":[%s]}%s\n", ACTIONS[i],
		    i < 2 ? "{\"type\":\"Action\",\"id\":\"read\"}" :
		    i < 4 ? "{\"type\":\"Action\",\"id\":\"write\"}" : "",
		    i + 1 < N_ACTIONS ? "," : "");
	buf_printf(b, "]\n");
}

/* The 50 policies of workload (a). */
static void
gen_policies(struct rng *r, struct buf *b)
{
	int i;

	for (i = 0; i < 15; i++)
		buf_printf(b, "permit (principal in Team::\"t%d\", action in "
		    "Action::\"read\", resource in Folder::\"f%d\");\n",
		    rng_int(r, N_TEAMS), rng_int(r, N_FOLDERS));
	for (i = 0; i < 10; i++)
		buf_printf(b, "permit (principal in Dept::\"d%d\", action == "
		    "Action::\"edit\", resource in Folder::\"f%d\")\n"
		    "  when { principal.level >= %d && resource.classification "
		    "!= \"secret\" };\n", rng_int(r, N_DEPTS),
		    rng_int(r, N_FOLDERS), 1 + rng_int(r, 6));
	buf_printf(b, "permit (principal, action in [Action::\"view\", "
	    "Action::\"edit\"], resource)\n  when { resource.owner == principal };\n");
	buf_printf(b, "permit (principal, action == Action::\"view\", resource)\n"
	    "  when { resource.public };\n");
	buf_printf(b, "forbid (principal, action == Action::\"delete\", resource)\n"
	    "  unless { principal.roles.contains(\"admin\") };\n");
	for (i = 0; i < 8; i++)
		buf_printf(b, "permit (principal in Division::\"v%d\", action == "
		    "Action::\"comment\", resource)\n  when { context.authenticated "
		    "&& resource.tags.containsAny([\"%s\", \"%s\"]) };\n",
		    rng_int(r, N_DIVISIONS), TAGS[rng_int(r, 7)],
		    TAGS[rng_int(r, 7)]);
	for (i = 0; i < 5; i++)
		buf_printf(b, "forbid (principal, action, resource in "
		    "Folder::\"f%d\")\n  when { resource.classification == "
		    "\"secret\" && principal.level < %d };\n",
		    rng_int(r, N_FOLDERS), 3 + rng_int(r, 5));
	for (i = 0; i < 4; i++)
		buf_printf(b, "permit (principal is User, action == "
		    "Action::\"share\", resource in Folder::\"f%d\")\n"
		    "  when { principal.active && principal.dept like \"%s\" && "
		    "context.ip.isInRange(ip(\"10.%d.0.0/16\")) };\n",
		    rng_int(r, N_FOLDERS), i % 2 ? "eng*" : "*s*",
		    rng_int(r, 4));
	for (i = 0; i < 5; i++)
		buf_printf(b, "permit (principal == User::\"u%d\", action, "
		    "resource in Folder::\"f%d\");\n", rng_int(r, N_USERS),
		    rng_int(r, N_FOLDERS));
	buf_printf(b, "permit (principal, action == Action::\"comment\", "
	    "resource is Doc)\n  when { principal.roles.contains(\"reviewer\") "
	    "&& resource.level <= principal.level };\n");
}

/* 10,000 policies that no request of the benchmark can match. */
static void
gen_unrelated(struct rng *r, struct buf *b)
{
	for (int i = 0; i < N_UNRELATED; i++) {
		switch (i % 4) {
		case 0:
			buf_printf(b, "permit (principal == Partner::\"p%d\", action "
			    "== Action::\"op%d\", resource);\n", i, rng_int(r, 500));
			break;
		case 1:
			buf_printf(b, "permit (principal in PartnerGroup::\"g%d\", "
			    "action in [Action::\"op%d\", Action::\"op%d\"], resource "
			    "in Bucket::\"b%d\")\n  when { context.authenticated && "
			    "principal.tier >= %d };\n", rng_int(r, 2000),
			    rng_int(r, 500), rng_int(r, 500), rng_int(r, 100),
			    rng_int(r, 5));
			break;
		case 2:
			buf_printf(b, "forbid (principal is Partner, action == "
			    "Action::\"op%d\", resource)\n  when { principal.suspended };\n",
			    rng_int(r, 500));
			break;
		default:
			buf_printf(b, "permit (principal == Service::\"s%d\", action "
			    "== Action::\"op%d\", resource == Bucket::\"b%d\")\n"
			    "  unless { context.ip.isLoopback() };\n", i,
			    rng_int(r, 500), rng_int(r, 100));
			break;
		}
	}
}

static void
uid_json(struct buf *b, const char *type, const char *prefix, int id)
{
	buf_printf(b, "{\"type\":\"%s\",\"id\":\"%s%d\"}", type, prefix, id);
}

/* requests.json: an array of {principal, action, resource, context,
 * entities: [the uids of the slice]}; the slice names uids only, the
 * wasm bench copies the entities from entities.json.  Also returns each
 * request as a standalone JSON object for our parser. */
static int
gen_requests(struct rng *r, const struct world *w, int n, struct buf *all,
    char ***out_reqs)
{
	char **reqs = calloc((size_t)n, sizeof(*reqs));

	*out_reqs = NULL;
	if (reqs == NULL)
		return MANDATE_ENOMEM;
	buf_printf(all, "[\n");
	for (int i = 0; i < n; i++) {
		struct buf one = { 0 };
		int user = rng_int(r, N_USERS), doc = rng_int(r, N_DOCS);
		const char *action = ACTIONS[rng_int(r, N_ACTIONS)];
		bool auth = rng_int(r, 4) != 0;
		int ip2 = rng_int(r, 6);

		buf_printf(&one, "{\"principal\":");
		uid_json(&one, "User", "u", user);
		buf_printf(&one, ",\"action\":{\"type\":\"Action\",\"id\":\"%s\"},"
		    "\"resource\":", action);
		uid_json(&one, "Doc", "doc", doc);
		buf_printf(&one, ",\"context\":{\"authenticated\":%s,\"ip\":"
		    "{\"__extn\":{\"fn\":\"ip\",\"arg\":\"10.%d.%d.%d\"}}}}",
		    auth ? "true" : "false", ip2, rng_int(r, 256),
		    1 + rng_int(r, 254));
		if (one.failed) {
			free(one.p);
			goto fail;
		}
		reqs[i] = one.p;
		/* the same plus the slice of entities it needs */
		buf_printf(all, "%.*s,\"slice\":[", (int)(one.n - 1), one.p);
		uid_json(all, "User", "u", user);
		for (int t = 0; t < 2; t++) {
			int team = w->user_team[user][t];
			if (team < 0)
				continue;
			buf_printf(all, ",");
			uid_json(all, "Team", "t", team);
			buf_printf(all, ",");
			uid_json(all, "Dept", "d", w->team_dept[team]);
			buf_printf(all, ",");
			uid_json(all, "Division", "v",
			    w->dept_div[w->team_dept[team]]);
		}
		buf_printf(all, ",");
		uid_json(all, "Doc", "doc", doc);
		buf_printf(all, ",");
		uid_json(all, "Folder", "f", w->doc_folder[doc]);
		buf_printf(all, "]}%s\n", i + 1 < n ? "," : "");
	}
	buf_printf(all, "]\n");
	if (all->failed)
		goto fail;
	*out_reqs = reqs;
	return MANDATE_OK;
fail:
	for (int i = 0; i < n; i++)
		free(reqs[i]);
	free(reqs);
	return MANDATE_ENOMEM;
}

/* ---- measuring ---- */

static double
now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec * 1e9 + (double)ts.tv_nsec;
}

static int
cmp_double(const void *a, const void *b)
{
	double x = *(const double *)a, y = *(const double *)b;
	return x < y ? -1 : x > y;
}

struct result {
	double per_sec, p50_us, p99_us;
};

static struct result
summarize(double *lat, size_t n, double total_ns)
{
	struct result res;
	qsort(lat, n, sizeof(*lat), cmp_double);
	res.per_sec = total_ns > 0 ? (double)n / (total_ns / 1e9) : 0;
	res.p50_us = lat[n / 2] / 1e3;
	res.p99_us = lat[(n * 99) / 100] / 1e3;
	return res;
}

struct workload {
	const char *name;
	struct cedar_policy_set *ps;
	struct result authorize, parse_authorize;
	size_t n_allow;
};

static int
load_policies(const struct buf *const *texts, int n_texts,
    struct cedar_policy_set **out)
{
	struct cedar_policy_set *ps = NULL;
	struct diag_list dl;
	int r;

	*out = NULL;
	diag_init(&dl);
	if ((r = cedar_policy_set_new(&ps)) != MANDATE_OK)
		goto out;
	for (int i = 0; i < n_texts; i++)
		if ((r = cedar_policy_set_add(ps, texts[i]->p, texts[i]->n,
		    "bench", CEDAR_IDS_POSITIONAL, &dl)) != MANDATE_OK)
			goto out;
	if ((r = cedar_policy_set_finish(ps, &dl)) != MANDATE_OK)
		goto out;
	*out = ps;
	ps = NULL;
out:
	if (r != MANDATE_OK)
		diag_print(&dl, stderr);
	cedar_policy_set_unref(ps);
	return r;
}

static int
run_workload(struct workload *wl, const struct cedar_entities *es,
    char **reqs, int n, int passes, struct buf *decisions)
{
	size_t total = (size_t)n * (size_t)passes;
	double *lat_a = NULL, *lat_b = NULL, t_a = 0, t_b = 0;
	struct cedar_request **built = NULL;
	struct arena req_arena, scratch;
	struct diag_list dl;
	int r = MANDATE_ENOMEM;

	arena_init(&req_arena, 0);
	arena_init(&scratch, 0);
	if ((lat_a = calloc(total, sizeof(*lat_a))) == NULL ||
	    (lat_b = calloc(total, sizeof(*lat_b))) == NULL ||
	    (built = calloc((size_t)n, sizeof(*built))) == NULL)
		goto out;
	/* prebuilt requests, for the authorization-only figure */
	for (int i = 0; i < n; i++) {
		diag_init(&dl);
		if ((r = cedar_request_parse_json(&req_arena, reqs[i],
		    strlen(reqs[i]), NULL, false, &built[i], &dl)) != MANDATE_OK) {
			diag_print(&dl, stderr);
			goto out;
		}
	}
	wl->n_allow = 0;
	for (int p = 0; p < passes; p++) {
		for (int i = 0; i < n; i++) {
			struct cedar_decision dec;
			size_t k = (size_t)p * (size_t)n + (size_t)i;
			double t0 = now_ns(), t1;

			r = cedar_authorize(wl->ps, es, built[i], &scratch, &dec);
			t1 = now_ns();
			arena_reset(&scratch);
			if (r != MANDATE_OK)
				goto out;
			lat_a[k] = t1 - t0;
			t_a += t1 - t0;
			if (p == 0) {
				wl->n_allow += dec.allow;
				buf_printf(decisions, "%s\n", dec.allow ? "allow" : "deny");
			}
		}
		for (int i = 0; i < n; i++) {
			struct cedar_request *req;
			struct cedar_decision dec;
			size_t k = (size_t)p * (size_t)n + (size_t)i;
			double t0 = now_ns(), t1;

			diag_init(&dl);
			r = cedar_request_parse_json(&scratch, reqs[i],
			    strlen(reqs[i]), NULL, false, &req, &dl);
			if (r == MANDATE_OK)
				r = cedar_authorize(wl->ps, es, req, &scratch, &dec);
			t1 = now_ns();
			arena_reset(&scratch);
			if (r != MANDATE_OK)
				goto out;
			lat_b[k] = t1 - t0;
			t_b += t1 - t0;
		}
	}
	wl->authorize = summarize(lat_a, total, t_a);
	wl->parse_authorize = summarize(lat_b, total, t_b);
	r = MANDATE_OK;
out:
	if (r != MANDATE_OK)
		fprintf(stderr, "cedar_bench: workload %s: %s\n", wl->name,
		    mandate_strerror(r));
	free(lat_a);
	free(lat_b);
	free(built);
	arena_free(&scratch);
	arena_free(&req_arena);
	return r;
}

static int
parse_count(const char *s, int max, int *out)
{
	char *end;
	long v;

	errno = 0;
	v = strtol(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < 1 || v > max)
		return MANDATE_EINVAL;
	*out = (int)v;
	return MANDATE_OK;
}

int
main(int argc, char **argv)
{
	const char *out_dir = "bench-data";
	int n_requests = 10000, passes = 3;
	struct rng rng = { 0x9E3779B97F4A7C15ULL };
	struct world *w = NULL;
	struct buf ents = { 0 }, pol_a = { 0 }, pol_b = { 0 }, reqs_json = { 0 };
	struct buf dec_a = { 0 }, dec_b = { 0 }, results = { 0 };
	struct cedar_entities *es = NULL;
	struct workload wl[2] = { { .name = "a" }, { .name = "b" } };
	char **reqs = NULL;
	struct diag_list dl;
	int r = MANDATE_EINVAL, rc = 1;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--out") == 0 && i + 1 < argc) {
			out_dir = argv[++i];
		} else if (strcmp(argv[i], "--requests") == 0 && i + 1 < argc) {
			if (parse_count(argv[++i], MAX_REQUESTS, &n_requests) != 0)
				goto usage;
		} else if (strcmp(argv[i], "--passes") == 0 && i + 1 < argc) {
			if (parse_count(argv[++i], 100, &passes) != 0)
				goto usage;
		} else {
			goto usage;
		}
	}
	if (mkdir(out_dir, 0755) != 0 && errno != EEXIST) {
		fprintf(stderr, "cedar_bench: %s: %s\n", out_dir, strerror(errno));
		return 1;
	}
	if ((w = calloc(1, sizeof(*w))) == NULL)
		goto out;
	gen_entities(&rng, w, &ents);
	gen_policies(&rng, &pol_a);
	gen_unrelated(&rng, &pol_b);
	if ((r = gen_requests(&rng, w, n_requests, &reqs_json, &reqs)) != 0)
		goto out;
	if ((r = write_file(out_dir, "entities.json", &ents)) != 0 ||
	    (r = write_file(out_dir, "policies_a.cedar", &pol_a)) != 0 ||
	    (r = write_file(out_dir, "policies_b.cedar", &pol_b)) != 0 ||
	    (r = write_file(out_dir, "requests.json", &reqs_json)) != 0)
		goto out;

	diag_init(&dl);
	if ((r = cedar_entities_parse_json(ents.p, ents.n, "entities.json",
	    NULL, &es, &dl)) != MANDATE_OK) {
		diag_print(&dl, stderr);
		goto out;
	}
	{
		const struct buf *a_only[1] = { &pol_a };
		const struct buf *a_and_b[2] = { &pol_a, &pol_b };
		if ((r = load_policies(a_only, 1, &wl[0].ps)) != MANDATE_OK ||
		    (r = load_policies(a_and_b, 2, &wl[1].ps)) != MANDATE_OK)
			goto out;
	}
	if ((r = run_workload(&wl[0], es, reqs, n_requests, passes, &dec_a)) != 0 ||
	    (r = run_workload(&wl[1], es, reqs, n_requests, passes, &dec_b)) != 0)
		goto out;
	if ((r = write_file(out_dir, "decisions_a.txt", &dec_a)) != 0 ||
	    (r = write_file(out_dir, "decisions_b.txt", &dec_b)) != 0)
		goto out;

	printf("%-30s %14s %10s %10s %8s\n", "workload", "decisions/s",
	    "p50 us", "p99 us", "allow");
	buf_printf(&results, "{\n");
	for (int k = 0; k < 2; k++) {
		printf("%-30s %14.0f %10.3f %10.3f %8zu\n",
		    k == 0 ? "(a) authorize" : "(b) authorize",
		    wl[k].authorize.per_sec, wl[k].authorize.p50_us,
		    wl[k].authorize.p99_us, wl[k].n_allow);
		printf("%-30s %14.0f %10.3f %10.3f\n",
		    k == 0 ? "(a) parse request + authorize" :
		    "(b) parse request + authorize",
		    wl[k].parse_authorize.per_sec, wl[k].parse_authorize.p50_us,
		    wl[k].parse_authorize.p99_us);
		buf_printf(&results, " \"%s\": {\"policies\": %zu, \"requests\": %d, "
		    "\"allow\": %zu,\n  \"authorize\": {\"per_sec\": %.1f, "
		    "\"p50_us\": %.4f, \"p99_us\": %.4f},\n  \"parse_authorize\": "
		    "{\"per_sec\": %.1f, \"p50_us\": %.4f, \"p99_us\": %.4f}}%s\n",
		    wl[k].name, cedar_policy_set_count(wl[k].ps), n_requests,
		    wl[k].n_allow, wl[k].authorize.per_sec,
		    wl[k].authorize.p50_us, wl[k].authorize.p99_us,
		    wl[k].parse_authorize.per_sec, wl[k].parse_authorize.p50_us,
		    wl[k].parse_authorize.p99_us, k == 0 ? "," : "");
	}
	buf_printf(&results, "}\n");
	if ((r = write_file(out_dir, "ours.json", &results)) != 0)
		goto out;
	if (wl[0].n_allow != wl[1].n_allow)
		fprintf(stderr, "cedar_bench: warning: (a) and (b) disagree on "
		    "%s decisions\n", "some");
	rc = 0;
out:
	if (rc != 0 && r != MANDATE_OK)
		fprintf(stderr, "cedar_bench: %s\n", mandate_strerror(r));
	if (reqs != NULL)
		for (int i = 0; i < n_requests; i++)
			free(reqs[i]);
	free(reqs);
	cedar_policy_set_unref(wl[0].ps);
	cedar_policy_set_unref(wl[1].ps);
	cedar_entities_free(es);
	free(ents.p);
	free(pol_a.p);
	free(pol_b.p);
	free(reqs_json.p);
	free(dec_a.p);
	free(dec_b.p);
	free(results.p);
	free(w);
	return rc;
usage:
	fprintf(stderr, "usage: cedar_bench [--out DIR] [--requests N] "
	    "[--passes P]\n");
	return 2;
}

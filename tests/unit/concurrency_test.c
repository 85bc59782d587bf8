/*
 * concurrency_test.c - the daemon's shared state under concurrent
 * requests, for ThreadSanitizer (`make test-tsan` runs it; the ordinary
 * and ASan builds run it too).
 *
 * One daemon is started in this process on an ephemeral port.  Client
 * threads send AuthZEN evaluations over HTTP that exercise, at the same
 * time: the per-request entity overlay (properties of an entity the
 * policy information point does not hold, read through the shared PIP
 * store), task-bound decisions (a Mandate token in context.mandate: the
 * decision is recorded through the store's group commit together with the
 * audit events of every other evaluation; checkpoints are signed every
 * few records), policy reloads that swap the snapshot under them, and
 * readers of the audit tree (checkpoint, proofs).  Every answer must be the one the policies
 * give; a data race stops the process under TSan.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "daemon/daemon_int.h"
#include "sts/sts.h"
#include "util/status.h"

#define N_CLIENTS   3
#define N_REQUESTS  60
#define N_RELOADS   25
#define AGENT       "spiffe://dev.local/agent"

static char tmpdir[64];

static void
write_file(const char *name, const char *text)
{
	char path[256];
	FILE *f;

	snprintf(path, sizeof(path), "%s/%s", tmpdir, name);
	f = fopen(path, "w");
	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

/* One HTTP/1.1 request on a fresh connection (POST with a JSON body, or
 * GET when body is NULL); the status, or -1.  The body of the answer goes
 * to out (NUL-terminated, truncated to cap). */
static int
request(int port, const char *path, const char *body, char *out, size_t cap)
{
	struct sockaddr_in sa;
	char head[512];
	size_t got = 0;
	ssize_t n;
	int fd, status = -1, hl;
	char *sp, *bp;

	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) < 0)
		return -1;
	if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0)
		goto out;
	if (body != NULL)
		hl = snprintf(head, sizeof(head), "POST %s HTTP/1.1\r\nHost: "
		    "127.0.0.1\r\nContent-Type: application/json\r\n"
		    "Content-Length: %zu\r\nConnection: close\r\n\r\n", path,
		    strlen(body));
	else
		hl = snprintf(head, sizeof(head), "GET %s HTTP/1.1\r\nHost: "
		    "127.0.0.1\r\nConnection: close\r\n\r\n", path);
	if (hl < 0 || (size_t)hl >= sizeof(head) ||
	    write(fd, head, (size_t)hl) != hl || (body != NULL &&
	    write(fd, body, strlen(body)) != (ssize_t)strlen(body)))
		goto out;
	while (got + 1 < cap && (n = read(fd, out + got, cap - 1 - got)) > 0)
		got += (size_t)n;
	out[got] = '\0';
	if (strncmp(out, "HTTP/1.1 ", 9) != 0)
		goto out;
	status = (int)strtol(out + 9, &sp, 10);
	if ((bp = strstr(out, "\r\n\r\n")) != NULL)
		memmove(out, bp + 4, strlen(bp + 4) + 1);
out:
	close(fd);
	return status;
}

struct shared {
	struct daemon *d;
	int port;
	const char *token;
	int failures;
	pthread_mutex_t mu;
};

static void
failed(struct shared *sh, const char *what, int status, const char *body)
{
	pthread_mutex_lock(&sh->mu);
	if (sh->failures++ < 5)
		fprintf(stderr, "%s: status %d: %s\n", what, status, body);
	pthread_mutex_unlock(&sh->mu);
}

static void *
client(void *arg)
{
	struct shared *sh = arg;
	char body[4096], out[8192];
	int st;

	for (int i = 0; i < N_REQUESTS; i++) {
		/* the overlay: Doc::"dN" is not in the PIP, its properties
		 * decide; User::"alice" is, with clearance 3 */
		snprintf(body, sizeof(body), "{\"subject\":{\"type\":\"User\","
		    "\"id\":\"alice\"},\"action\":{\"name\":\"read\"},"
		    "\"resource\":{\"type\":\"Doc\",\"id\":\"d%d\","
		    "\"properties\":{\"level\":%d}}}", i, i % 5);
		st = request(sh->port, "/access/v1/evaluation", body, out,
		    sizeof(out));
		if (st != 200 || strstr(out, (i % 5) <= 3 ?
		    "\"decision\":true" : "\"decision\":false") == NULL)
			failed(sh, "overlay", st, out);
		/* a task-bound call: recorded with the other writes */
		snprintf(body, sizeof(body), "{\"subject\":{\"type\":\"Agent\","
		    "\"id\":\"" AGENT "\"},\"action\":{\"name\":\"read_file\"},"
		    "\"resource\":{\"type\":\"File\",\"id\":\"f%d\"},"
		    "\"context\":{\"mandate\":{\"token\":\"%s\"},"
		    "\"arguments\":{\"path\":\"/docs/%d\"}}}", i, sh->token, i);
		st = request(sh->port, "/access/v1/evaluation", body, out,
		    sizeof(out));
		if (st != 200 || strstr(out, "\"decision\":true") == NULL)
			failed(sh, "task", st, out);
	}
	return NULL;
}

/* Reloads, and readers of the audit tree while it grows: a checkpoint
 * (signed now), an inclusion and a consistency proof. */
static void *
reloader(void *arg)
{
	struct shared *sh = arg;
	char out[8192];
	int st;

	for (int i = 0; i < N_RELOADS; i++) {
		struct daemon_policies *in_force = NULL;

		if (daemon_policies_reload(sh->d, "concurrency test", NULL,
		    &in_force, NULL) != MANDATE_OK || in_force == NULL)
			failed(sh, "reload", 0, "");
		daemon_policies_put(in_force);
		st = request(sh->port, "/v1/audit/checkpoint", NULL, out,
		    sizeof(out));
		if (st != 200 && st != 404)
			failed(sh, "checkpoint", st, out);
		st = request(sh->port, "/v1/audit/proof/inclusion?index=0&"
		    "size=2", NULL, out, sizeof(out));
		if (st != 200 && !(st == 400 && strstr(out, "larger")))
			failed(sh, "inclusion", st, out);
		st = request(sh->port, "/v1/audit/proof/consistency?from=1&"
		    "to=3", NULL, out, sizeof(out));
		if (st != 200 && !(st == 400 && strstr(out, "larger")))
			failed(sh, "consistency", st, out);
		usleep(2000);
	}
	return NULL;
}

/* A token for the task, minted as the token endpoint does. */
static char *
mint(struct daemon *d, struct arena *a, const char *task)
{
	struct sts_exchange_req r;
	struct sts_result res;
	struct str aud = STR_LIT("https://tools.example");
	char authz[256];
	json_t *b;
	char *tok;

	snprintf(authz, sizeof(authz), "[{\"type\":\"mandate_task\","
	    "\"task_id\":\"%s\"}]", task);
	memset(&r, 0, sizeof(r));
	r.grant_type = str_c(STS_GRANT_TOKEN_EXCHANGE);
	r.subject_token_type = str_c(STS_TT_JWT);
	r.authorization_details = str_c(authz);
	r.audience = &aud;
	r.n_audience = 1;
	r.subject.sub = str_c(AGENT);
	r.subject.spiffe = strncmp(r.subject.sub.p, "spiffe:", 7) == 0;
	r.request_id = STR_LIT("req-1");
	r.now = (int64_t)time(NULL);
	assert_int_equal(sts_exchange(d->sts, &r, a, &res), MANDATE_OK);
	assert_int_equal(res.http_status, 200);
	b = json_loadb(res.body.p, res.body.n, 0, NULL);
	assert_non_null(b);
	tok = arena_cstrdup(a, json_string_value(json_object_get(b,
	    "access_token")));
	json_decref(b);
	assert_non_null(tok);
	return tok;
}

static void
test_evaluations_reloads_and_records(void **state)
{
	struct daemon_options opt;
	struct store_task t;
	struct shared sh;
	struct arena a;
	char yaml[1024], cfg[128], id[STORE_TASK_ID_LEN + 1];
	pthread_t th[N_CLIENTS + 1];
	FILE *log = tmpfile();
	int64_t now = (int64_t)time(NULL);

	(void)state;
	assert_non_null(log);
	write_file("p.cedar",
	    "permit (principal == User::\"alice\", action == Action::\"read\","
	    " resource) when { resource has level && principal has clearance"
	    " && resource.level <= principal.clearance };\n"
	    "permit (principal is Agent, action, resource is File) when {"
	    " context has task && context.task.intent_match };\n");
	write_file("e.json", "[{\"uid\":{\"type\":\"User\",\"id\":\"alice\"},"
	    "\"attrs\":{\"clearance\":3},\"parents\":[]}]");
	snprintf(yaml, sizeof(yaml), "data_dir: %s/data\npolicies:\n"
	    "  platform: [%s/p.cedar]\n  entities: [%s/e.json]\n"
	    "api_auth:\n  open_on_loopback: true\n"
	    "tokens:\n  audience: https://tools.example\n"
	    "audit:\n  checkpoint_every: 7\n"
	    "logging:\n  format: json\n", tmpdir, tmpdir, tmpdir);
	write_file("d.yaml", yaml);
	snprintf(cfg, sizeof(cfg), "%s/d.yaml", tmpdir);

	memset(&opt, 0, sizeof(opt));
	opt.config_file = cfg;
	opt.listen = "127.0.0.1:0";
	opt.log = log;
	memset(&sh, 0, sizeof(sh));
	pthread_mutex_init(&sh.mu, NULL);
	assert_int_equal(daemon_new(&opt, &sh.d), MANDATE_OK);
	assert_int_equal(daemon_start(sh.d), MANDATE_OK);
	sh.port = daemon_port(sh.d);

	arena_init(&a, 0);
	memset(&t, 0, sizeof(t));
	assert_int_equal(store_task_new_id(id), MANDATE_OK);
	t.id = str_c(id);
	t.agent = str_c(AGENT);
	t.delegator = str_c("alice");
	t.objective = str_c("read the docs");
	t.intents_json = str_c("[{\"action\":\"read_file\",\"constraints\":"
	    "{\"path\":{\"prefix\":\"/docs/\"}}}]");
	t.sensitivity = 1;
	t.created_at = now - 1;
	t.expires_at = now + 600;
	t.call_budget = INT64_MAX;
	assert_int_equal(store_task_create(sh.d->store, &t), MANDATE_OK);
	sh.token = mint(sh.d, &a, id);

	for (int i = 0; i < N_CLIENTS; i++)
		assert_int_equal(pthread_create(&th[i], NULL, client, &sh), 0);
	assert_int_equal(pthread_create(&th[N_CLIENTS], NULL, reloader, &sh),
	    0);
	for (int i = 0; i <= N_CLIENTS; i++)
		pthread_join(th[i], NULL);
	assert_int_equal(sh.failures, 0);

	/* every permitted task call was counted, once */
	{
		struct store_task after;

		assert_int_equal(store_task_get(sh.d->store, str_c(id), &a,
		    &after), MANDATE_OK);
		assert_int_equal(after.calls_used, N_CLIENTS * N_REQUESTS);
	}
	daemon_stop(sh.d);
	daemon_free(sh.d);
	arena_free(&a);
	pthread_mutex_destroy(&sh.mu);
	fclose(log);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_evaluations_reloads_and_records),
	};
	char cmd[128];
	int r;

	snprintf(tmpdir, sizeof(tmpdir), "/tmp/concurrency_test.XXXXXX");
	if (mkdtemp(tmpdir) == NULL)
		return 1;
	r = cmocka_run_group_tests(tests, NULL, NULL);
	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
	if (system(cmd) != 0)
		return 1;
	return r;
}

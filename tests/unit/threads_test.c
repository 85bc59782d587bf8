/*
 * threads_test.c - a finished policy set and an entity store are read by
 * many threads at once with no locking: every thread must get exactly the
 * decisions a single thread gets.  Run under ThreadSanitizer by
 * `make test-tsan` (and by `make test`), where a data race fails the test.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "cedar/cedar.h"

#define N_THREADS 4
#define N_USERS 40
#define ROUNDS 200

static const char policies[] =
    "@id(\"admins\") permit(principal in Group::\"admins\", action, resource);\n"
    "@id(\"owners\") permit(principal, action == Action::\"edit\", resource)\n"
    "  when { resource.owner == principal };\n"
    "@id(\"readers\") permit(principal, action == Action::\"view\", resource)\n"
    "  when { principal.level >= resource.level };\n"
    "@id(\"locked\") forbid(principal, action, resource)\n"
    "  when { resource.locked && !(principal in Group::\"admins\") };\n"
    "@id(\"ip\") forbid(principal, action == Action::\"edit\", resource)\n"
    "  unless { context.ip.isInRange(ip(\"10.0.0.0/8\")) };\n";

struct shared {
	struct cedar_policy_set *ps;
	struct cedar_entities *es;
	bool expected[N_USERS][2][N_USERS];   /* user x action x doc */
	int mismatches[N_THREADS];
};

static const char *const actions[2] = { "Action::\"view\"", "Action::\"edit\"" };

static bool
decide(struct shared *sh, int u, int act, int d, struct arena *a)
{
	char p[64], r[64];
	struct cedar_request *req = NULL;
	struct cedar_decision dec;
	struct diag_list dl;
	const char *ctx = (u + d) % 3 ? "{\"ip\":{\"__extn\":{\"fn\":\"ip\","
	    "\"arg\":\"10.1.2.3\"}}}" : "{\"ip\":{\"__extn\":{\"fn\":\"ip\","
	    "\"arg\":\"192.168.0.1\"}}}";

	diag_init(&dl);
	snprintf(p, sizeof(p), "User::\"u%d\"", u);
	snprintf(r, sizeof(r), "Doc::\"d%d\"", d);
	if (cedar_request_build(a, p, actions[act], r, ctx, NULL, false, &req,
	    &dl) != MANDATE_OK)
		return false;
	if (cedar_authorize(sh->ps, sh->es, req, a, &dec) != MANDATE_OK)
		return false;
	return dec.allow;
}

static void *
worker(void *arg)
{
	struct shared *sh = ((void **)arg)[0];
	int id = (int)(intptr_t)((void **)arg)[1];
	struct arena a;

	arena_init(&a, 0);
	for (int round = 0; round < ROUNDS; round++) {
		int u = (round * 7 + id * 13) % N_USERS;
		for (int act = 0; act < 2; act++)
			for (int d = 0; d < N_USERS; d++) {
				if (decide(sh, u, act, d, &a) !=
				    sh->expected[u][act][d])
					sh->mismatches[id]++;
				arena_reset(&a);
			}
	}
	arena_free(&a);
	return NULL;
}

static void
test_concurrent_decisions_match(void **state)
{
	static struct shared sh;
	char ents[64 * 1024];
	size_t n = 0;
	struct diag_list dl;
	pthread_t th[N_THREADS];
	void *args[N_THREADS][2];
	struct arena a;
	int allowed = 0;

	(void)state;
	diag_init(&dl);
	n += (size_t)snprintf(ents + n, sizeof(ents) - n,
	    "[{\"uid\":{\"type\":\"Group\",\"id\":\"admins\"},\"attrs\":{},"
	    "\"parents\":[]}");
	for (int i = 0; i < N_USERS; i++) {
		n += (size_t)snprintf(ents + n, sizeof(ents) - n,
		    ",{\"uid\":{\"type\":\"User\",\"id\":\"u%d\"},\"attrs\":"
		    "{\"level\":%d},\"parents\":[%s]}", i, i % 5,
		    i % 10 == 0 ? "{\"type\":\"Group\",\"id\":\"admins\"}" : "");
		n += (size_t)snprintf(ents + n, sizeof(ents) - n,
		    ",{\"uid\":{\"type\":\"Doc\",\"id\":\"d%d\"},\"attrs\":"
		    "{\"level\":%d,\"locked\":%s,\"owner\":{\"__entity\":"
		    "{\"type\":\"User\",\"id\":\"u%d\"}}},\"parents\":[]}", i,
		    i % 4, i % 7 == 0 ? "true" : "false", (i * 3) % N_USERS);
	}
	snprintf(ents + n, sizeof(ents) - n, "]");
	assert_int_equal(cedar_policy_set_new(&sh.ps), MANDATE_OK);
	assert_int_equal(cedar_policy_set_add(sh.ps, policies,
	    strlen(policies), "t", CEDAR_IDS_ANNOTATION, &dl), MANDATE_OK);
	assert_int_equal(cedar_policy_set_finish(sh.ps, &dl), MANDATE_OK);
	assert_int_equal(cedar_entities_parse_json(ents, strlen(ents), "e",
	    NULL, &sh.es, &dl), MANDATE_OK);

	/* the single-threaded answers */
	arena_init(&a, 0);
	for (int u = 0; u < N_USERS; u++)
		for (int act = 0; act < 2; act++)
			for (int d = 0; d < N_USERS; d++) {
				sh.expected[u][act][d] = decide(&sh, u, act, d, &a);
				allowed += sh.expected[u][act][d];
				arena_reset(&a);
			}
	arena_free(&a);
	/* a mix, so that agreement means something */
	assert_true(allowed > 100);
	assert_true(allowed < N_USERS * 2 * N_USERS - 100);

	for (int i = 0; i < N_THREADS; i++) {
		args[i][0] = &sh;
		args[i][1] = (void *)(intptr_t)i;
		assert_int_equal(pthread_create(&th[i], NULL, worker, args[i]), 0);
	}
	for (int i = 0; i < N_THREADS; i++)
		pthread_join(th[i], NULL);
	for (int i = 0; i < N_THREADS; i++)
		assert_int_equal(sh.mismatches[i], 0);
	cedar_entities_free(sh.es);
	cedar_policy_set_unref(sh.ps);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_concurrent_decisions_match),
	};
	return cmocka_run_group_tests(tests, NULL, NULL);
}

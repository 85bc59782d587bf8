/*
 * fuzz_task.c - the POST /v1/tasks body parser and the agent id rules.
 *
 * The input goes through daemon_task_request_parse() with small limits;
 * an accepted request that breaks the parser's promises (an empty or
 * oversized field, a TTL past the cap, an agent id that the checker
 * rejects on its own) aborts, which is what a fuzzer reports.  The stored
 * intents JSON must be producible from every accepted request, and be
 * the parser's, within the store's bound.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "daemon/daemon_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const struct daemon_task_limits lim = {
		.default_ttl = 900, .max_ttl = 3600, .default_call_budget = 5,
		.max_call_budget = 50, .max_intents = 8,
	};
	struct daemon_task_request tr;
	enum daemon_agent_kind kind;
	struct str td;
	struct arena a;
	char err[200], *s;

	arena_init(&a, 1u << 22);
	/* the agent id checker on the raw bytes, too */
	(void)daemon_agent_id_check(str_make((const char *)data, size), &kind,
	    &td, err, sizeof(err));
	if (daemon_task_request_parse(&a, (const char *)data, size, &lim, &tr,
	    err, sizeof(err)) == 0) {
		if (tr.agent.n == 0 || tr.objective.n == 0 ||
		    tr.objective.n > DAEMON_MAX_OBJECTIVE || tr.n_intents == 0 ||
		    tr.n_intents > lim.max_intents || tr.ttl == 0 ||
		    tr.ttl > lim.max_ttl || tr.call_budget < 1 ||
		    tr.call_budget > 50 ||
		    daemon_sensitivity_name(tr.sensitivity) == NULL)
			abort();
		if (daemon_agent_id_check(tr.agent, &kind, &td, err,
		    sizeof(err)) != 0 || kind != tr.agent_kind)
			abort();
		for (size_t i = 0; i < tr.n_intents; i++)
			if (tr.intents[i].action.n == 0 ||
			    tr.intents[i].action.n > DAEMON_MAX_ACTION)
				abort();
		if ((s = daemon_intents_json(&tr)) == NULL ||
		    tr.intents_json.n > DAEMON_MAX_INTENTS_JSON ||
		    strcmp(s, tr.intents_json.p) != 0)
			abort();
		free(s);
		if (daemon_cedar_uid(&a, "Agent", tr.agent) == NULL)
			abort();
	}
	arena_free(&a);
	return 0;
}

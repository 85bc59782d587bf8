/*
 * agent_ctx.c - the agent-aware part of a per-call decision.
 *
 * Interim implementation: it strips the reserved context names, assigns
 * decision ids and audits decisions, but does not resolve tasks yet, so
 * any evaluation that names a task (`context.mandate`) is denied (fail
 * closed) until the task-aware path replaces this file.
 */
#include <string.h>

#include <openssl/rand.h>

#include "daemon/agent_ctx.h"
#include "util/status.h"

struct agent_ctx {
	const struct agent_call *call;
	bool task;
};

static const char *const reserved[] = { "task", "session", "approval",
    "mandate" };

int
agent_ctx_prepare(struct daemon *d, struct http_request *req,
    const struct agent_call *call, json_t *context, struct agent_ctx **out,
    enum agent_ctx_result *result, const char **why)
{
	struct agent_ctx *c;
	bool named;

	(void)d;
	*out = NULL;
	*result = AGENT_CTX_DENY;
	*why = "internal error";
	if (!json_is_object(context))
		return MANDATE_EINVAL;
	if ((c = arena_alloc(req->arena, sizeof(*c))) == NULL)
		return MANDATE_ENOMEM;
	memset(c, 0, sizeof(*c));
	c->call = call;
	named = json_object_get(context, "mandate") != NULL;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		json_object_del(context, reserved[i]);
	*out = c;
	if (named) {
		*why = "task-aware decisions are not available";
		return MANDATE_OK;
	}
	*result = AGENT_CTX_NONE;
	*why = NULL;
	return MANDATE_OK;
}

int
agent_ctx_finish(struct daemon *d, struct http_request *req,
    struct agent_ctx *c, bool permit, json_t *reasons, json_t *errors,
    bool *final, char id[AGENT_DECISION_ID_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[16];
	json_t *f;

	*final = false;
	id[0] = '\0';
	if (RAND_bytes(raw, sizeof(raw)) != 1)
		return MANDATE_EINTERNAL;
	for (size_t i = 0; i < sizeof(raw); i++) {
		id[2 * i] = hex[raw[i] >> 4];
		id[2 * i + 1] = hex[raw[i] & 15];
	}
	id[32] = '\0';
	f = json_pack("{s:s,s:s%,s:s%,s:s%,s:s%,s:s%,s:b,s:O*,s:O*}",
	    "decision_id", id,
	    "subject_type", c->call->subject_type.p, c->call->subject_type.n,
	    "subject_id", c->call->subject_id.p, c->call->subject_id.n,
	    "action", c->call->action.p, c->call->action.n,
	    "resource_type", c->call->resource_type.p,
	    c->call->resource_type.n,
	    "resource_id", c->call->resource_id.p, c->call->resource_id.n,
	    "decision", permit, "reasons", reasons, "errors", errors);
	if (f == NULL)
		return MANDATE_ENOMEM;
	if (api_audit(d, req, "decision", STR_NULL, STR_NULL, f) != MANDATE_OK)
		return MANDATE_EIO;
	*final = permit;
	return MANDATE_OK;
}

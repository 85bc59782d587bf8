/*
 * agent_ctx.h - the agent-aware part of a per-call decision (issue 4).
 *
 * The AuthZEN endpoints (api_authzen.c) map a request to Cedar; this
 * interface adds what Mandate knows about the agent's task.  For each
 * evaluation the endpoint calls agent_ctx_prepare() with the request's
 * context object before the policies run, and agent_ctx_finish() with
 * the policies' answer after; the final decision is the one finish
 * returns.
 *
 * How a policy enforcement point names the task (in the evaluation's
 * context, which for a batch item is the item's context merged over the
 * top-level one):
 *
 *   "context": { "mandate": { "token": "<Mandate access token>" }, ... }
 *   "context": { "mandate": { "task": "<task id>" }, ... }
 *
 * The token is the RFC 9068 JWT that /oauth2/token issued to the agent
 * (its signature, expiry and usability are checked: revoked, task ended
 * or expired, kill switch).  A DPoP-bound token also needs the agent's
 * proof, forwarded by the enforcement point with the method and URI of
 * the agent's request to it:
 *
 *   "mandate": { "token": "...", "dpop": "<proof>", "htm": "POST",
 *                "htu": "https://tool.example/path" }
 *
 * An optional "aud" member asks that the token's aud contain it.
 * A task id may be named only by an authenticated caller.  Any other
 * member of `mandate`, a non-string member, or both or neither of token
 * and task is a deny.  Either way the subject of the evaluation must
 * be the task's agent (subject.id equal to the task's agent), or the call
 * is denied.  `mandate` is removed from the context the policies see.
 *
 * Reserved context names, always set by the server and never taken from
 * the caller (a caller's `task`, `session` or `approval` is dropped):
 *
 *   context.task = {            only when a task was named
 *     id, objective, agent, delegator: String,
 *     intents: Set<String>       the action names the task holds
 *     intent_match: Bool         this call's action, resource and
 *                                arguments fit one of the intents
 *     sensitivity: Long          the ceiling, 0 public .. 3 restricted
 *     sensitivity_name: String
 *     expires_at, call_budget, calls_used: Long }
 *   context.session = {         only when a task was named
 *     labels: Set<String>        labels of data the task has read
 *     actions: Set<String>       actions permitted so far in the task
 *     calls: Long                calls permitted so far
 *     counts: Record             action name -> Long }
 *   context.approval = { state: String }   "none", "pending", "granted",
 *                               "denied" or "expired" (the approval of
 *                               this exact call; "none" until the
 *                               approval workflow exists)
 *
 * The call's arguments, when the enforcement point sends them, are in
 * context.arguments (an object); intent constraints are checked against
 * it (see docs/policy-guide.md for the constraint language).
 *
 * An ended, expired or revoked task, an unusable token, a subject that is
 * not the task's agent, or an exhausted call budget is denied before the
 * policies run (prepare returns AGENT_CTX_DENY).  A permitted call
 * consumes one call of the budget and is recorded in the session (finish);
 * if the budget ran out in between, finish turns the permit into a deny.
 *
 * Every evaluation gets a decision id (finish), returned to the caller in
 * the response context and usable with POST /v1/decisions/{id}/outcome.
 *
 * Thread safety: the functions may be called concurrently from request
 * threads; a struct agent_ctx belongs to one request.
 */
#ifndef MANDATE_AGENT_CTX_H
#define MANDATE_AGENT_CTX_H

#include <stdbool.h>

#include <jansson.h>

#include "daemon/daemon_int.h"
#include "sts/sts.h"

/* A decision id: 32 lowercase hex digits and a NUL (16 drawn at random
 * when the daemon starts, then a counter: unique, not a secret). */
#define AGENT_DECISION_ID_SIZE 33

enum agent_ctx_result {
	AGENT_CTX_NONE = 0,      /* no task named: plain evaluation */
	AGENT_CTX_TASK = 1,      /* task found and usable; context filled */
	AGENT_CTX_DENY = 2,      /* deny without running the policies */
};

/* What is being decided (borrowed strings, valid for the request). */
struct agent_call {
	struct str subject_type, subject_id;
	struct str action;
	struct str resource_type, resource_id;
	bool caller_authenticated;  /* a verified caller, not open loopback */
	/* Added by the agent-aware part (additive): the verified caller's
	 * principal (api_caller.principal), or NULL for open loopback.  It
	 * is stored with a task's decision: only that caller (or open
	 * loopback when NULL) may report the decision's outcome. */
	const char *caller;
	/* Added: the verified caller whole (NULL for open loopback), for
	 * the policies' say on naming a task by id (mandate:use_task) */
	const struct api_caller *who;
	/* Added: the version hash of the policy set the decision is made
	 * with (NULL: none), which its audit record names: a reload between
	 * the decision and its record must not relabel it */
	const char *policy_hash;
	/* Added: that policy set (a reference the caller holds until
	 * finish; NULL: the current one).  Every question the decision
	 * asks the policies (mandate:use_task for a task named by id) is
	 * asked of it, so that a reload in between cannot combine two
	 * sets into a permit neither gives. */
	const struct daemon_policies *policies;
	/* Added (additive): a question about many candidates (the AuthZEN
	 * search endpoints), not a call about to be made.  The task is
	 * resolved and checked and the context set as for a call, but
	 * finish consumes no budget and records nothing in the session
	 * (the decision is audited, and not stored for outcome reports). */
	bool dry_run;
	/* Added: the answer is this one decision, and a deny is what it
	 * falls back to (a single evaluation, whose handler set that
	 * fallback: http_hold_fallback).  Then finish may record a
	 * task-bound decision on the audit writer and hold the answer; a
	 * permit whose call cannot be consumed then answers the fallback. */
	bool single;
	/* Added: the DPoP-bound token and proof already verified in this
	 * HTTP request (NULL: none kept).  A batch's items and a search's
	 * candidates share their context's proof: one request of the
	 * agent, asked about several times, so its proof is verified (and
	 * its jti recorded against replay) once, and the others take that
	 * verification instead of failing as replays. */
	struct agent_proof_memo *proof_memo;
};

/* What agent_call.proof_memo keeps: the first DPoP-bound token of the
 * request that verified with its proof, the strings it was given (in the
 * request's arena) and the verification's result.  Zeroed by its owner,
 * the handler of the batch or search. */
struct agent_proof_memo {
	bool set;
	struct str given[5];          /* token, dpop, htm, htu, aud */
	struct sts_verified vt;
};

struct agent_ctx;
struct api_caller;

/*
 * Prepare one evaluation: strip the reserved names from context (a JSON
 * object the caller owns; modified in place, and kept until
 * agent_ctx_finish returns: the audit record copies its arguments
 * then), resolve `mandate`, check
 * the task and set context.task/session/approval.  *out (allocated in
 * req->arena, never NULL on MANDATE_OK) is passed to finish.  *result
 * says how to go on; with AGENT_CTX_DENY, *why is a short reason for the
 * log and the audit (not for the client).  Any error status means deny;
 * *out is then still set unless the context itself could not be
 * allocated, and finish(permit = false) records that deny with *why (a
 * task whose session is past STORE_MAX_SESSION rows, for one) as its
 * deny_reason: every decision has its record.
 */
int agent_ctx_prepare(struct daemon *d, struct http_request *req,
    const struct agent_call *call, json_t *context, struct agent_ctx **out,
    enum agent_ctx_result *result, const char **why);

/*
 * Record the outcome of one evaluation: permit is the policies' answer
 * (false when prepare denied).  Assigns the decision id, consumes the
 * task's budget and updates its session on permit, and writes the
 * decision's audit record (reasons: the determining policy ids, a JSON
 * array or NULL; errors likewise; both borrowed).  *final is the
 * decision to answer with (false on any error: fail closed).
 */
int agent_ctx_finish(struct daemon *d, struct http_request *req,
    struct agent_ctx *c, bool permit, json_t *reasons, json_t *errors,
    bool *final, char id[AGENT_DECISION_ID_SIZE]);

/*
 * A session label as the task keeps it: its ASCII letters in lowercase
 * (labels have only ASCII letters, digits and _ - . : /).  A label is a
 * word of a classification, and classifiers spell it `Confidential` as
 * often as `confidential`: were they two labels, a policy's
 * labels.contains("confidential") would miss the first and let the
 * chain it guards be passed.  Both ways into a session fold (outcome
 * reports, configured tools.output_labels), so policies name labels in
 * lowercase.  *label is replaced by a copy in a when it has a capital;
 * MANDATE_OK, or MANDATE_ENOMEM (*label unchanged).
 */
int agent_label_fold(struct arena *a, struct str *label);

/*
 * The intent constraint language (docs/policy-guide.md).  An intent's
 * "constraints" is an object: argument name -> one of
 *   a JSON scalar            the argument equals it (numbers by value)
 *   an array of scalars      the argument is one of them
 *   an object of operators   every operator holds: one_of [scalars],
 *                            min n, max n (numbers), prefix s, suffix s,
 *                            max_length n (strings, in code points)
 * An array argument matches when every element does; a constrained
 * argument that is absent, or is an object, does not match.
 *
 * agent_constraints_check validates constraints JSON text at task
 * creation: MANDATE_OK, or EINVAL/ELIMIT with a client-safe message in
 * err, so that nothing the server cannot evaluate is ever stored.
 * agent_constraints_match is the check itself (arguments: the call's
 * context.arguments, may be NULL).
 */
int agent_constraints_check(const char *json, size_t len, char *err,
    size_t err_len);
bool agent_constraints_match(json_t *constraints,
    const json_t *arguments);

/*
 * The same check within a budget of steps (*steps_left, decreased by
 * what it took): a step for each argument value checked, one for each
 * value of a one_of or list it is looked up in.  1 match, 0 no match,
 * -1 when the budget ran out before the answer was known.  An
 * evaluation checks all of a task's intents within one budget of
 * AGENT_MAX_MATCH_STEPS, and is denied when it runs out: the work is
 * otherwise the product of the list's length, the intents and their
 * one_of lists (a 30 KB request against 64 intents took seconds).
 */
#define AGENT_MAX_MATCH_STEPS      100000
#define AGENT_MAX_MATCH_STEPS_TEXT "100000"
int agent_constraints_match_bounded(json_t *constraints,
    const json_t *arguments, size_t *steps_left);

#endif

/*
 * api_decisions.c - outcome reporting for per-call decisions.
 *
 *   POST /v1/decisions/{id}/outcome
 *        {"status": "success" | "failure", "labels": ["confidential", ...]}
 *
 * The enforcement point that asked for a decision (the caller stored with
 * it) tells what the permitted call did; the labels of the data it
 * returned join the task's session (context.session.labels) and so weigh
 * on the task's later decisions.  An operator may report too when the
 * policies permit it (action mandate:report_outcome on Decision::"<id>").
 * A task that is over (ended, revoked, expired) still takes the report,
 * as the record of what its call did (kept with the decision and in the
 * audit log), but its session is left as it was: "task_active": false in
 * the answer and the record says so.
 * Once only: 409 when an outcome was already reported or the decision was
 * a deny, or (nothing changes) when the task's session is already past
 * STORE_MAX_SESSION rows; 404 for an unknown id (and for a caller who may
 * not report on it, so that ids cannot be probed); 400 for a bad body.  Decisions that
 * named no task are audited but not stored, so they are unknown here.
 * A refused report on a stored decision is audited as
 * decision.outcome_refused with its reason; an unknown id is not.
 */
#include <ctype.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "daemon/agent_ctx.h"
#include "daemon/daemon_int.h"
#include "util/status.h"
#include "util/utf8.h"

#define OUTCOME_MAX_BODY 16384

static bool
decision_id_ok(struct str id)
{
	return id.n == AGENT_DECISION_ID_SIZE - 1 && hex_lower_all(id.p, id.n);
}

/* The same alphabet as tool output labels in the configuration. */
static bool
label_ok(struct str s)
{
	if (s.n == 0 || s.n > STORE_MAX_LABEL)
		return false;
	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		if (!isalnum(c) && c != '_' && c != '-' && c != '.' &&
		    c != ':' && c != '/')
			return false;
	}
	return true;
}

/* Parse the body.  1 with *status and labels set, 0 after answering. */
static int
outcome_body(struct http_request *req, int *status, struct str *labels,
    size_t *n_labels)
{
	struct ajson_opts opts = { .flags = AJSON_REJECT_DUPLICATES,
	    .max_depth = 4, .max_len = OUTCOME_MAX_BODY };
	const struct ajson *root = NULL, *st, *lb;

	*n_labels = 0;
	if (!http_require_content_type(req, "application/json"))
		return 0;
	if (req->body.n == 0 || ajson_parse(req->arena, req->body.p,
	    req->body.n, &opts, &root, NULL) != MANDATE_OK ||
	    root->type != AJSON_OBJECT) {
		http_respond_error(req, 400, "invalid_request",
		    "body must be a JSON object");
		return 0;
	}
	for (size_t i = 0; i < root->u.obj.n; i++) {
		struct str k = root->u.obj.items[i].key;
		if (!str_eq_c(k, "status") && !str_eq_c(k, "labels")) {
			http_respond_error(req, 400, "invalid_request",
			    "unknown member (allowed: status, labels)");
			return 0;
		}
	}
	st = ajson_get(root, "status");
	if (ajson_is(st, AJSON_STRING) && str_eq_c(st->u.s, "success"))
		*status = STORE_OUTCOME_SUCCESS;
	else if (ajson_is(st, AJSON_STRING) && str_eq_c(st->u.s, "failure"))
		*status = STORE_OUTCOME_FAILURE;
	else {
		http_respond_error(req, 400, "invalid_request",
		    "status must be \"success\" or \"failure\"");
		return 0;
	}
	lb = ajson_get(root, "labels");
	if (lb == NULL || lb->type == AJSON_NULL)
		return 1;
	if (lb->type != AJSON_ARRAY || lb->u.arr.n > STORE_MAX_LABELS) {
		http_respond_error(req, 400, "invalid_request",
		    "labels must be a list of at most 64 labels");
		return 0;
	}
	for (size_t i = 0; i < lb->u.arr.n; i++) {
		const struct ajson *e = &lb->u.arr.items[i];
		if (e->type != AJSON_STRING || !label_ok(e->u.s)) {
			http_respond_error(req, 400, "invalid_request", "a label "
			    "has 1 to 128 letters, digits or _ - . : /");
			return 0;
		}
		labels[(*n_labels)++] = e->u.s;
	}
	return 1;
}

/* The labels as the task keeps them: one that looks like a secret (a
 * key, a token: by the audit log's rules, whole or embedded) is kept as
 * its HMAC, as the log's records show it, so that neither the decision's
 * row nor the session holds it in clear (what the call returned is
 * described by its labels, and a secret is no description).  A label
 * already in that form stays.  Any other is folded to lowercase
 * (agent_label_fold: `Confidential` is `confidential`); the secret test
 * looks at the label as sent, since keys are told by their capitals.
 * 0 when memory ran out. */
static int
kept_labels(struct daemon *d, struct http_request *req, struct str *labels,
    size_t n)
{
	for (size_t i = 0; i < n; i++) {
		char *h;

		if (d->redact == NULL || !redact_value_is_secret(labels[i])) {
			if (agent_label_fold(req->arena, &labels[i]) !=
			    MANDATE_OK)
				return 0;
			continue;
		}
		if ((h = arena_alloc(req->arena, REDACT_HMAC_SIZE)) == NULL ||
		    redact_hmac(d->redact, labels[i], h) != MANDATE_OK)
			return 0;
		labels[i] = str_make(h, REDACT_HMAC_LEN);
	}
	return 1;
}

/* May this caller report on dec?  The caller that asked (open loopback
 * when the decision was asked without a verified caller), or one the
 * policies let report outcomes. */
static bool
may_report(struct daemon *d, struct http_request *req,
    const struct api_caller *caller, const struct store_decision *dec)
{
	json_t *reasons = NULL;
	bool allow = false;

	if (dec->caller.n > 0 ? str_eq_c(dec->caller, caller->principal) :
	    strcmp(caller->kind, "loopback") == 0)
		return true;
	if (api_decide(d, req, caller->principal, "mandate:report_outcome",
	    "Decision", dec->id, json_object(), &allow, &reasons) !=
	    MANDATE_OK)
		allow = false;
	json_decref(reasons);
	return allow;
}

static const char *
status_text(int status)
{
	return status == STORE_OUTCOME_SUCCESS ? "success" : "failure";
}

/* A refused report on a stored decision: decision.outcome_refused with
 * the report as sent (labels: the caller's array, only read) and why.
 * For a caller who may not report on the decision (foreign), asked_by
 * names the decision's own caller instead of the labels: what it sent
 * is not put in another's trail.  Nothing of the record reaches the
 * answer: a caller refused with 404 gets exactly what an unknown id gets
 * (an id that is not stored has no record, as an unknown task has none),
 * and gets it as soon: its record is queued, not waited for, since the
 * ids are a counter and a 404 that waited for a commit would tell the
 * decisions of others from ids never given.  MANDATE_OK when recorded
 * (queued, when foreign). */
static int
audit_refused(struct daemon *d, struct http_request *req,
    const struct api_caller *caller, const struct store_decision *dec,
    struct str agent, int status, json_t *labels, const char *reason,
    bool foreign)
{
	json_t *f = json_pack("{s:s%,s:s,s:s,s:s}", "decision_id",
	    dec->id.p, dec->id.n, "by", caller->principal, "status",
	    status_text(status), "reason", reason);

	daemon_log(d, DLOG_INFO, "request %s: decision outcome refused: %s",
	    req->request_id, reason);
	if (f != NULL && (foreign ? json_object_set_new(f, "asked_by",
	    json_stringn(dec->caller.n > 0 ? dec->caller.p : "",
	    dec->caller.n)) :
	    json_object_set(f, "labels", labels)) != 0) {
		json_decref(f);
		f = NULL;
	}
	if (f == NULL)
		return MANDATE_ENOMEM;
	if (foreign)
		return api_audit_queued(d, req, "decision.outcome_refused",
		    agent, dec->task_id, f);
	return api_audit(d, req, "decision.outcome_refused", agent,
	    dec->task_id, f);
}

/* The decision.outcome record, asked by the store inside the report's
 * commit once it knows whether the task was active
 * (store_outcome_event_fn); may run on the group commit leader's
 * thread while this request waits. */
struct outcome_rec {
	struct daemon *d;
	struct http_request *req;
	const char *by;
	struct str id;
	struct str agent;
	struct str task_id;
	int status;
	json_t *labels;           /* borrowed */
	int64_t now;
};

/* The decision.outcome record's fields (a new reference; NULL: ENOMEM). */
static json_t *
outcome_fields(const struct outcome_rec *o, int task_active)
{
	return json_pack("{s:s%,s:s,s:s,s:O,s:b}", "decision_id", o->id.p,
	    o->id.n, "by", o->by, "status", status_text(o->status), "labels",
	    o->labels, "task_active", task_active);
}

static int
outcome_record(void *arg, int task_active, struct store_audit_event *ev)
{
	struct outcome_rec *o = arg;

	return api_audit_prepare(o->d, o->req, "decision.outcome", o->now,
	    o->agent, o->task_id, outcome_fields(o, task_active), ev);
}

/* Every refusal of a report on a stored decision is audited.  Those for
 * a caller who may not report, a deny and a second report stand whatever
 * their record's outcome, as task.read_denied's do: the report changed
 * nothing, and a 404 that told of a failed record would tell a stored
 * decision from an unknown one. */
static void
h_outcome(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	struct api_caller caller;
	struct store_decision dec;
	struct store_task task;
	struct str agent = STR_NULL;
	struct str id = http_request_param(req, "id");
	struct str labels[STORE_MAX_LABELS];
	size_t n_labels = 0;
	char *lj = NULL;
	json_t *jl = NULL, *resp;
	struct outcome_rec orec;
	int64_t event_id = 0;
	int status = 0, changed = 0, active = 0, r;

	if (!api_authenticate(d, req, &caller))
		return;
	if (!decision_id_ok(id)) {
		http_respond_error(req, 404, "not_found", "no such decision");
		return;
	}
	if (!outcome_body(req, &status, labels, &n_labels))
		return;
	/* the labels as kept, for the store, the records (refusals
	 * included) and the answer */
	r = MANDATE_ENOMEM;
	if (!kept_labels(d, req, labels, n_labels) ||
	    (jl = json_array()) == NULL)
		goto fail;
	for (size_t i = 0; i < n_labels; i++)
		if (json_array_append_new(jl, json_stringn(labels[i].p,
		    labels[i].n)))
			goto fail;
	r = store_decision_get(d->store, id, req->arena, &dec);
	if (r == MANDATE_ENOTFOUND)
		goto not_found;
	if (r != MANDATE_OK)
		goto fail;
	/* the records of the report name the task's agent, as its
	 * decisions do (a task retention deleted names none) */
	r = store_task_get(d->store, dec.task_id, req->arena, &task);
	if (r == MANDATE_OK)
		agent = task.agent;
	else if (r != MANDATE_ENOTFOUND)
		goto fail;
	if (!may_report(d, req, &caller, &dec)) {
		(void)audit_refused(d, req, &caller, &dec, agent, status, jl,
		    "the caller did not ask for the decision and the policies "
		    "do not let it report", true);
		goto not_found;
	}
	if (!dec.permit) {
		(void)audit_refused(d, req, &caller, &dec, agent, status, jl,
		    "the decision denied the call: there is no outcome", false);
		json_decref(jl);
		http_respond_error(req, 409, "conflict",
		    "the decision denied the call: there is no outcome");
		return;
	}
	if (dec.outcome != STORE_OUTCOME_NONE)
		goto duplicate;
	if ((lj = json_dumps(jl, JSON_COMPACT)) == NULL) {
		r = MANDATE_ENOMEM;
		goto fail;
	}
	/* the report and its decision.outcome record are one commit */
	memset(&orec, 0, sizeof(orec));
	orec.d = d;
	orec.req = req;
	orec.by = caller.principal;
	orec.id = id;
	orec.agent = agent;
	orec.task_id = dec.task_id;
	orec.status = status;
	orec.labels = jl;
	orec.now = (int64_t)time(NULL);
	r = store_decision_outcome_audited(d->store, id, status, str_c(lj),
	    labels, n_labels, orec.now, outcome_record, &orec, &changed,
	    &active, &event_id);
	if (r != MANDATE_ENOTFOUND && r != MANDATE_ELIMIT &&
	    (r != MANDATE_OK || changed))
		audit_report(d->audit, r, event_id);  /* an append was tried */
	if (api_restrict_alone(r)) {
		/* the record failed: the report stands alone, since its
		 * labels steer the task's later decisions (500 unless its
		 * record can still be written on its own) */
		daemon_log(d, DLOG_ERROR, "request %s: decision outcome: the "
		    "report and its record could not be written together "
		    "(%s); storing it alone", req->request_id,
		    mandate_strerror(r));
		r = store_decision_outcome(d->store, id, status, str_c(lj),
		    labels, n_labels, orec.now, &changed, &active);
		if (r == MANDATE_OK && changed)
			r = api_audit(d, req, "decision.outcome", agent,
			    dec.task_id, outcome_fields(&orec, active));
	}
	free(lj);
	if (r == MANDATE_ELIMIT) {
		/* the session is past its limit (the task's decisions are
		 * all denies): nothing changed; the refusal is recorded with
		 * the labels the call returned, since the call did happen,
		 * and as that record is then the only trace of what the call
		 * did, the answer waits for it (500 if it fails) */
		if ((r = audit_refused(d, req, &caller, &dec, agent, status,
		    jl, "the task's session is past " STORE_MAX_SESSION_TEXT
		    " labels and actions: its decisions are denies", false)) !=
		    MANDATE_OK)
			goto fail;
		json_decref(jl);
		http_respond_error(req, 409, "conflict", "the task's session "
		    "is past " STORE_MAX_SESSION_TEXT " labels and actions, so "
		    "every decision of the task is a deny: nothing was "
		    "recorded; start a new task");
		return;
	}
	if (r != MANDATE_OK)
		goto fail;
	if (!changed)   /* another report won the race */
		goto duplicate;
	resp = json_pack("{s:s%,s:s%,s:s,s:O,s:b}", "decision_id", id.p,
	    id.n, "task_id", dec.task_id.p, dec.task_id.n, "status",
	    status_text(status), "labels", jl, "task_active", active);
	json_decref(jl);
	if (resp == NULL) {
		http_respond_error(req, 500, "server_error", NULL);
		return;
	}
	http_respond_json(req, 200, resp);
	return;
duplicate:
	(void)audit_refused(d, req, &caller, &dec, agent, status, jl,
	    "an outcome was already reported for this decision", false);
	json_decref(jl);
	http_respond_error(req, 409, "conflict",
	    "an outcome was already reported for this decision");
	return;
not_found:
	json_decref(jl);
	http_respond_error(req, 404, "not_found", "no such decision");
	return;
fail:
	json_decref(jl);
	daemon_log(d, DLOG_ERROR, "request %s: decision outcome: %s",
	    req->request_id, mandate_strerror(r));
	http_respond_error(req, 500, "server_error", NULL);
}

int
api_decisions_register(struct daemon *d, struct http_server *srv)
{
	return http_server_route(srv, "POST", "/v1/decisions/{id}/outcome",
	    h_outcome, d);
}

/*
 * api_tasks.c - the tasks API and the kill switch over HTTP.
 *
 *   POST /v1/tasks               create a task (decided by Cedar)
 *   GET  /v1/tasks/{id}          read one (its delegator; others by Cedar)
 *   POST /v1/tasks/{id}/end      end it and its credentials (idempotent;
 *                                its delegator; others by Cedar)
 *   POST /v1/agents/{id}/revoke  kill switch (decided by Cedar)
 *
 * Every handler authenticates the caller first (api_authenticate), fails
 * closed on every error, writes every change to the audit table and
 * answers errors in the OAuth shape {"error", "error_description"}.
 * docs/api.md describes requests, responses and errors.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <jansson.h>

#include "daemon/daemon_int.h"
#include "util/status.h"
#include "util/utf8.h"

/* ---- helpers ---- */

static int64_t
now_s(void)
{
	return (int64_t)time(NULL);
}

static void
count(struct http_metric *m, const char *a, const char *b)
{
	const char *v[2] = { a, b };
	http_series_add(http_metric_series(m, v), 1);
}

static void
server_error(struct daemon *d, struct http_request *req, const char *what,
    int r)
{
	daemon_log(d, DLOG_ERROR, "request %s: %s: %s", req->request_id, what,
	    mandate_strerror(r));
	http_respond_error(req, r == MANDATE_ELIMIT ? 400 : 500,
	    r == MANDATE_ELIMIT ? "invalid_request" : "server_error", NULL);
}

/* A held record's way back (audit_record_async's callback). */
struct held_audit {
	struct daemon *d;
	struct http_hold *hold;
	const char *request_id;   /* the request's, valid until released */
	const char *type;
};

static void
held_audit_done(void *arg, int status, int64_t id)
{
	struct held_audit *h = arg;

	(void)id;
	if (status != MANDATE_OK)
		daemon_log(h->d, DLOG_ERROR, "request %s: audit record (%s) "
		    "failed: %s: the answer is the fallback (fail closed)",
		    h->request_id, h->type, mandate_strerror(status));
	http_release(h->hold, status == MANDATE_OK);   /* h is gone now */
}

/* A record's fields: a JSON object (consumed) or, when json is NULL and
 * m is not, members (audit_record_members). */
struct fields {
	json_t *json;
	const struct redact_member *m;
	size_t n;
};

/* A queued record's way back (api_audit_queued): nothing waits for it,
 * so only a failure is said, in the log. */
struct queued_audit {
	struct daemon *d;
	const char *type;         /* the callers' literals */
	char request_id[];
};

static void
queued_audit_done(void *arg, int status, int64_t id)
{
	struct queued_audit *q = arg;

	(void)id;
	if (status != MANDATE_OK)
		daemon_log(q->d, DLOG_ERROR, "request %s: audit record (%s) "
		    "failed: %s", q->request_id, q->type,
		    mandate_strerror(status));
	free(q);
}

/* One record: durable before returning, or, with done, queued for the
 * writer, which calls done(arg) once (then MANDATE_OK); a failure to
 * queue calls nothing: the caller answers for that failure itself. */
static int
record(struct daemon *d, const char *request_id, const char *type,
    struct str agent, struct str task_id, struct fields f,
    audit_done_fn *done, void *arg)
{
	struct audit_event e;
	int r;

	if (!d->cfg->audit.decisions && strcmp(type, "decision") == 0) {
		json_decref(f.json);   /* decision records are off */
		if (done != NULL)
			done(arg, MANDATE_OK, 0);
		return MANDATE_OK;
	}
	memset(&e, 0, sizeof(e));
	e.time = now_s();
	e.type = type;
	e.request_id = str_c(request_id);
	e.agent = agent;
	e.task_id = task_id;
	if (f.json == NULL && f.m != NULL)
		r = audit_record_members(d->audit, &e, f.m, f.n, done, arg,
		    NULL);
	else if (f.json == NULL && (f.json = json_object()) == NULL)
		r = MANDATE_ENOMEM;
	else
		r = done == NULL ? audit_record(d->audit, &e, f.json, NULL) :
		    audit_record_async(d->audit, &e, f.json, done, arg);
	if (r != MANDATE_OK)
		daemon_log(d, DLOG_ERROR, "request %s: audit record (%s) "
		    "failed: %s", request_id ? request_id : "-", type,
		    mandate_strerror(r));
	return r;
}

/* A record written by a request that a policy decision allowed (or
 * refused) names the version of the set that decided, not the one in
 * force when it is written: a reload in between must not relabel it
 * (api_decide_in keeps that version in req->app).  A record given its
 * own policy_hash, or given as members, keeps what it has. */
static void
decided_policy_hash(struct http_request *req, struct fields *f)
{
	if (req->app == NULL || f->m != NULL)
		return;
	if (f->json == NULL && (f->json = json_object()) == NULL)
		return;             /* (record() says ENOMEM) */
	if (json_is_object(f->json) &&
	    json_object_get(f->json, "policy_hash") == NULL)
		(void)json_object_set_new(f->json, "policy_hash",
		    json_string((const char *)req->app));
}

/* api_audit and api_audit_members: held when the handler can be. */
static int
held_record(struct daemon *d, struct http_request *req, const char *type,
    struct str agent, struct str task_id, struct fields f)
{
	struct held_audit *h;
	int r;

	decided_policy_hash(req, &f);

	/* a handler that set a fallback answer lets its records be
	 * written while the worker serves other connections: the answer
	 * waits for them (http_hold), and is the fallback if one fails */
	if ((h = arena_alloc(req->arena, sizeof(*h))) == NULL ||
	    (h->hold = http_hold(req)) == NULL)
		return record(d, req->request_id, type, agent, task_id, f,
		    NULL, NULL);
	h->d = d;
	h->request_id = req->request_id;
	h->type = type;
	if ((r = record(d, req->request_id, type, agent, task_id, f,
	    held_audit_done, h)) != MANDATE_OK)
		http_release(h->hold, true);
	return r;
}

int
api_audit(struct daemon *d, struct http_request *req, const char *type,
    struct str agent, struct str task_id, json_t *fields)
{
	struct fields f = { .json = fields };

	return held_record(d, req, type, agent, task_id, f);
}

int
api_audit_members(struct daemon *d, struct http_request *req,
    const char *type, struct str agent, struct str task_id,
    const struct redact_member *m, size_t n)
{
	struct fields f = { .m = m, .n = n };

	if (m == NULL)
		return MANDATE_EINVAL;
	return held_record(d, req, type, agent, task_id, f);
}

int
api_audit_queued(struct daemon *d, struct http_request *req,
    const char *type, struct str agent, struct str task_id, json_t *fields)
{
	struct fields f = { .json = fields };
	size_t n = strlen(req->request_id);
	struct queued_audit *q;
	int r;

	if ((q = malloc(sizeof(*q) + n + 1)) == NULL) {
		json_decref(fields);
		daemon_log(d, DLOG_ERROR, "request %s: audit record (%s) "
		    "failed: %s", req->request_id, type,
		    mandate_strerror(MANDATE_ENOMEM));
		return MANDATE_ENOMEM;
	}
	q->d = d;
	q->type = type;
	memcpy(q->request_id, req->request_id, n + 1);
	decided_policy_hash(req, &f);
	if ((r = record(d, req->request_id, type, agent, task_id, f,
	    queued_audit_done, q)) != MANDATE_OK)
		free(q);
	return r;
}

int
daemon_audit(struct daemon *d, const char *request_id, const char *type,
    struct str agent, struct str task_id, json_t *fields)
{
	struct fields f = { .json = fields };

	return record(d, request_id, type, agent, task_id, f, NULL, NULL);
}


int
api_decide(struct daemon *d, struct http_request *req, const char *caller,
    const char *action, const char *rtype, struct str rid, json_t *context,
    bool *allow, json_t **reasons)
{
	return api_decide_in(d, NULL, req, caller, action, rtype, rid, context,
	    allow, reasons);
}

int
api_decide_in(struct daemon *d, const struct daemon_policies *given,
    struct http_request *req, const char *caller, const char *action,
    const char *rtype, struct str rid, json_t *context, bool *allow,
    json_t **reasons)
{
	struct daemon_policies *held = given == NULL ?
	    daemon_policies_get(d) : NULL;
	const struct daemon_policies *p = given != NULL ? given : held;
	struct diag_list dl;
	struct cedar_request *creq = NULL;
	struct cedar_decision dec;
	char action_uid[128], *principal, *resource, *ctx = NULL;
	int r = MANDATE_EINTERNAL;

	*allow = false;
	*reasons = NULL;
	diag_init(&dl);
	snprintf(action_uid, sizeof(action_uid), "Action::\"%s\"", action);
	principal = daemon_cedar_uid(req->arena, "Delegator", str_c(caller));
	resource = daemon_cedar_uid(req->arena, rtype, rid);
	ctx = context ? json_dumps(context, JSON_COMPACT) : NULL;
	if (p == NULL || principal == NULL || resource == NULL || ctx == NULL) {
		r = p == NULL ? MANDATE_EINTERNAL : MANDATE_ENOMEM;
		goto out;
	}
	if ((r = cedar_request_build(req->arena, principal, action_uid,
	    resource, ctx, p->schema, false, &creq, &dl)) != MANDATE_OK) {
		for (size_t i = 0; i < dl.n; i++)
			daemon_log(d, DLOG_WARN, "request %s: cannot build the "
			    "Cedar request: %s", req->request_id,
			    dl.items[i].msg);
		goto out;
	}
	if ((r = cedar_authorize(p->set, p->entities, creq, req->arena,
	    &dec)) != MANDATE_OK ||
	    (r = daemon_forbid_errors(d, req->arena, &dec)) != MANDATE_OK)
		goto out;
	for (size_t i = 0; i < dec.n_errors; i++)
		daemon_log(d, DLOG_WARN, "request %s: policy %s: %s",
		    req->request_id, dec.errors[i].policy_id,
		    dec.errors[i].message);
	if ((*reasons = json_array()) == NULL) {
		r = MANDATE_ENOMEM;
		goto out;
	}
	for (size_t i = 0; i < dec.n_reasons; i++)
		json_array_append_new(*reasons, json_string(dec.reasons[i]));
	*allow = dec.allow;
	r = MANDATE_OK;
	if (p->hash[0] != '\0') {
		/* the version that decided, for the request's records */
		struct str h = arena_strdup(req->arena, p->hash,
		    strlen(p->hash));

		if (h.p != NULL)
			req->app = (void *)(uintptr_t)h.p;
	}
out:
	if (r != MANDATE_OK)
		daemon_log(d, DLOG_ERROR, "request %s: no decision for %s (%s): "
		    "deny", req->request_id, action, mandate_strerror(r));
	count(d->m_decisions, action, *allow ? "allow" : "deny");
	free(ctx);
	json_decref(context);
	daemon_policies_put(held);
	return r;
}

static json_t *
agent_json(struct str agent)
{
	enum daemon_agent_kind kind;
	struct str td;
	char err[8];

	if (daemon_agent_id_check(agent, &kind, &td, err, sizeof(err)) !=
	    MANDATE_OK)
		td = str_make("", 0);
	return json_pack("{s:s%,s:s,s:s%}", "id", agent.p, agent.n, "kind",
	    kind == DAEMON_AGENT_SPIFFE ? "spiffe" : "subject", "trust_domain",
	    td.p, td.n);
}

/* Who asks, for the policies: { id, kind ("loopback", "oidc", "spiffe"),
 * issuer (the identity issuer's name, "dev" for the development people
 * issuer, "" on loopback) }. */
static json_t *
caller_json(const struct api_caller *c)
{
	return json_pack("{s:s,s:s,s:s}", "id", c->principal, "kind",
	    c->kind ? c->kind : "", "issuer", c->issuer ? c->issuer : "");
}

static const char *const state_names[] = { "active", "ended", "revoked",
    "expired" };

static json_t *
task_json(const struct store_task *t, int64_t now)
{
	int st = store_task_state_at(t, now);
	json_t *o, *intents;
	const char *sens = daemon_sensitivity_name(t->sensitivity);

	intents = json_loadb(t->intents_json.p, t->intents_json.n, 0, NULL);
	o = json_pack("{s:s%,s:s%,s:s%,s:s%,s:o,s:s,s:I,s:I,s:I,s:s}",
	    "id", t->id.p, t->id.n,
	    "agent", t->agent.p, t->agent.n,
	    "delegator", t->delegator.p, t->delegator.n,
	    "objective", t->objective.p, t->objective.n,
	    "intents", intents ? intents : json_array(),
	    "sensitivity", sens ? sens : "restricted",
	    "created_at", (json_int_t)t->created_at,
	    "expires_at", (json_int_t)t->expires_at,
	    "calls_used", (json_int_t)t->calls_used,
	    "state", st >= 0 && st <= 3 ? state_names[st] : "revoked");
	if (o == NULL)
		return NULL;
	json_object_set_new(o, "call_budget", t->call_budget == INT64_MAX ?
	    json_null() : json_integer((json_int_t)t->call_budget));
	if (t->ended_at != 0) {
		json_object_set_new(o, "ended_at",
		    json_integer((json_int_t)t->ended_at));
		json_object_set_new(o, "reason", json_stringn(t->reason.p,
		    t->reason.n));
	}
	return o;
}

static bool
task_id_ok(struct str id)
{
	return id.n == STORE_TASK_ID_LEN && hex_lower_all(id.p, id.n);
}

/* Free text a task or a revocation keeps (an objective, a reason) as it
 * is stored and shown: every embedded secret replaced by its HMAC, as in
 * the audit log's records of it (redact_text, which leaves such text as
 * it is), so that the database holds no secret in clear outside the log
 * either.  In the request's arena; STR_NULL when memory ran out. */
static struct str
kept_text(struct daemon *d, struct http_request *req, struct str text)
{
	struct str out;
	char *red;

	if (d->redact == NULL)
		return text;
	if ((red = redact_text(d->redact, text)) == NULL)
		return STR_NULL;
	out = arena_strdup(req->arena, red, strlen(red));
	free(red);
	return out;
}

/* The optional {"reason": "..."} body of end and revoke.  1 with *reason
 * set (or left as is when there is no body; secrets in it replaced:
 * kept_text), 0 after answering (400, or 500 without memory). */
static int
reason_body(struct daemon *d, struct http_request *req, struct str *reason)
{
	struct ajson_opts opts = { .flags = AJSON_REJECT_DUPLICATES,
	    .max_depth = 4, .max_len = 65536 };
	const struct ajson *root = NULL, *j;

	if (req->body.n == 0)
		return 1;
	if (!http_require_content_type(req, "application/json"))
		return 0;
	if (ajson_parse(req->arena, req->body.p, req->body.n, &opts, &root,
	    NULL) != MANDATE_OK || root->type != AJSON_OBJECT) {
		http_respond_error(req, 400, "invalid_request",
		    "body must be a JSON object");
		return 0;
	}
	for (size_t i = 0; i < root->u.obj.n; i++)
		if (!str_eq_c(root->u.obj.items[i].key, "reason")) {
			http_respond_error(req, 400, "invalid_request",
			    "unknown member (allowed: reason)");
			return 0;
		}
	j = ajson_get(root, "reason");
	if (j == NULL || j->type == AJSON_NULL)
		return 1;
	if (j->type != AJSON_STRING || j->u.s.n == 0 ||
	    j->u.s.n > DAEMON_MAX_REASON || memchr(j->u.s.p, 0, j->u.s.n)) {
		http_respond_error(req, 400, "invalid_request", "reason must be "
		    "a non-empty string of at most 1024 bytes");
		return 0;
	}
	*reason = kept_text(d, req, j->u.s);
	if (reason->p == NULL) {
		http_respond_error(req, 500, "server_error", NULL);
		return 0;
	}
	return 1;
}

/* The context of mandate:read_task and mandate:end_task: who asks, and
 * the task (its delegator and agent are here rather than attributes of
 * the Task entity, since the entity store does not hold every task). */
static json_t *
task_ctx_json(const struct api_caller *c, const struct store_task *t,
    int64_t now)
{
	int st = store_task_state_at(t, now);
	const char *sens = daemon_sensitivity_name(t->sensitivity);

	return json_pack("{s:o,s:{s:s%,s:o,s:s%,s:s,s:s}}",
	    "caller", caller_json(c),
	    "task", "id", t->id.p, t->id.n,
	    "agent", agent_json(t->agent),
	    "delegator", t->delegator.p, t->delegator.n,
	    "state", st >= 0 && st <= 3 ? state_names[st] : "revoked",
	    "sensitivity", sens ? sens : "restricted");
}

bool
api_task_other_may(struct daemon *d, const struct daemon_policies *p,
    struct http_request *req, const struct api_caller *caller,
    const char *action, const struct store_task *t, json_t **reasons)
{
	json_t *ctx = task_ctx_json(caller, t, now_s()), *why = NULL;
	bool allow = false;

	if (reasons != NULL)
		*reasons = NULL;
	if (ctx == NULL)
		return false;
	/* api_decide takes ctx, even on error */
	if (api_decide_in(d, p, req, caller->principal, action, "Task", t->id,
	    ctx, &allow, &why) != MANDATE_OK)
		allow = false;
	if (allow && reasons != NULL)
		*reasons = why;
	else
		json_decref(why);
	return allow;
}

/* Read the task named in the path for the caller: its delegator always
 * may; anyone else only when the policies allow action
 * (mandate:read_task or mandate:end_task) on it.  1 with *t filled and
 * *other set when the caller is not the delegator (then *reasons, which
 * the caller releases, names the permitting policies); 0 after
 * answering: 404 for unknown ids and for tasks the caller may not see,
 * so that ids cannot be probed, 403 for a task the caller may read but
 * not end. */
static int
load_task(struct daemon *d, struct http_request *req,
    const struct api_caller *caller, const char *action,
    struct store_task *t, bool *other, json_t **reasons)
{
	struct str id = http_request_param(req, "id");
	int r;

	*other = false;
	*reasons = NULL;
	if (!task_id_ok(id)) {
		http_respond_error(req, 404, "not_found", "no such task");
		return 0;
	}
	r = store_task_get(d->store, id, req->arena, t);
	if (r == MANDATE_ENOTFOUND) {
		http_respond_error(req, 404, "not_found", "no such task");
		return 0;
	}
	if (r != MANDATE_OK) {
		server_error(d, req, "store_task_get", r);
		return 0;
	}
	if (str_eq_c(t->delegator, caller->principal))
		return 1;
	if (api_task_other_may(d, NULL, req, caller, action, t, reasons)) {
		*other = true;
		return 1;
	}
	if (strcmp(action, "mandate:read_task") == 0)
		api_audit(d, req, "task.read_denied", t->agent, t->id,
		    json_pack("{s:s,s:s%}", "by", caller->principal,
		    "delegator", t->delegator.p, t->delegator.n));
	if (strcmp(action, "mandate:end_task") == 0) {
		api_audit(d, req, "task.end_denied", t->agent, t->id,
		    json_pack("{s:s,s:s%}", "by", caller->principal,
		    "delegator", t->delegator.p, t->delegator.n));
		if (api_task_other_may(d, NULL, req, caller,
		    "mandate:read_task", t, NULL)) {
			http_respond_error(req, 403, "access_denied",
			    "the policies do not allow ending this task");
			return 0;
		}
	}
	http_respond_error(req, 404, "not_found", "no such task");
	return 0;
}

bool
api_restrict_alone(int r)
{
	return r != MANDATE_OK && r != MANDATE_ENOTFOUND &&
	    r != MANDATE_ECONFLICT && r != MANDATE_ELIMIT;
}

/* (daemon_int.h) Used for task.created, task.ended, agent.revoked and
 * decision.outcome.  In both audit modes such a record is written with
 * its change, not queued (as a token issuance's is in async mode): the
 * answer waits for that commit, as it waited for the record. */
int
api_audit_prepare(struct daemon *d, struct http_request *req,
    const char *type, int64_t time, struct str agent, struct str task_id,
    json_t *fields, struct store_audit_event *ev)
{
	struct fields f = { .json = fields };
	struct audit_event ae;
	int r;

	memset(ev, 0, sizeof(*ev));
	if (fields == NULL)
		r = MANDATE_ENOMEM;
	else {
		decided_policy_hash(req, &f);
		memset(&ae, 0, sizeof(ae));
		ae.time = time;
		ae.type = type;
		ae.request_id = str_c(req->request_id);
		ae.agent = agent;
		ae.task_id = task_id;
		r = audit_prepare(d->audit, &ae, f.json, req->arena, ev);
	}
	if (r != MANDATE_OK)
		daemon_log(d, DLOG_ERROR, "request %s: audit record (%s) "
		    "failed: %s", req->request_id, type, mandate_strerror(r));
	return r;
}

/* ---- handlers ---- */

static void
h_create(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	const struct config_tasks *ct = &d->cfg->tasks;
	struct daemon_task_limits lim = {
		.default_ttl = ct->default_ttl, .max_ttl = ct->max_ttl,
		.default_call_budget = ct->default_call_budget,
		.max_call_budget = ct->max_call_budget,
		.max_intents = ct->max_intents,
	};
	struct api_caller caller;
	struct daemon_task_request tr;
	struct store_task t, back;
	struct store_audit_event ev;
	char err[200], id[STORE_TASK_ID_SIZE];
	json_t *ctx = NULL, *names = NULL, *details = NULL, *reasons = NULL;
	json_t *body, *fields;
	bool allow = false;
	int64_t now, event_id = 0;
	int r;

	if (!api_authenticate(d, req, &caller))
		return;
	if (!http_require_content_type(req, "application/json"))
		return;
	r = daemon_task_request_parse(req->arena, req->body.p, req->body.n,
	    &lim, &tr, err, sizeof(err));
	if (r == MANDATE_ENOMEM) {
		server_error(d, req, "task request", r);
		return;
	}
	if (r != MANDATE_OK) {
		http_respond_error(req, 400, "invalid_request", err);
		return;
	}

	if ((names = json_array()) == NULL)
		goto nomem;
	/* the records keep the intents whole (their resources and
	 * constraints), which the tasks table forgets at retention */
	if ((details = json_loadb(tr.intents_json.p, tr.intents_json.n, 0,
	    NULL)) == NULL)
		goto nomem;
	for (size_t i = 0; i < tr.n_intents; i++)
		json_array_append_new(names, json_stringn(tr.intents[i].action.p,
		    tr.intents[i].action.n));
	ctx = json_pack("{s:o,s:s%,s:O,s:I,s:I,s:s,s:o}",
	    "caller", caller_json(&caller),
	    "objective", tr.objective.p, tr.objective.n,
	    "intents", names,
	    "ttl", (json_int_t)tr.ttl,
	    "call_budget", (json_int_t)tr.call_budget,
	    "sensitivity", daemon_sensitivity_name(tr.sensitivity),
	    "agent", agent_json(tr.agent));
	if (ctx == NULL)
		goto nomem;
	r = api_decide(d, req, caller.principal, "mandate:create_task",
	    "Agent", tr.agent, ctx, &allow, &reasons);
	ctx = NULL;
	if (!allow) {
		api_audit(d, req, "task.denied", tr.agent, STR_NULL, json_pack(
		    "{s:s,s:O,s:O,s:s%,s:I,s:O?}", "by", caller.principal,
		    "intents", names, "intent_details", details, "objective",
		    tr.objective.p, tr.objective.n, "call_budget",
		    (json_int_t)tr.call_budget, "policies", reasons));
		http_respond_error(req, 403, "access_denied",
		    "the policies do not allow this task");
		goto out;
	}

	if ((r = store_task_new_id(id)) != MANDATE_OK) {
		server_error(d, req, "task id", r);
		goto out;
	}
	now = now_s();
	memset(&t, 0, sizeof(t));
	t.id = str_make(id, STORE_TASK_ID_LEN);
	t.agent = tr.agent;
	t.delegator = str_c(caller.principal);
	t.act_json = str_make("", 0);
	/* kept with its secrets replaced (the policies above saw it whole) */
	t.objective = kept_text(d, req, tr.objective);
	if (t.objective.p == NULL)
		goto nomem;
	t.intents_json = tr.intents_json;
	t.sensitivity = tr.sensitivity;
	t.created_at = now;
	t.expires_at = daemon_task_expires_at(now, tr.ttl);
	t.call_budget = tr.call_budget;
	fields = json_pack("{s:s,s:O,s:O,s:s%,s:I,s:I,s:s,s:O?}", "by",
	    caller.principal, "intents", names, "intent_details", details,
	    "objective", t.objective.p, t.objective.n, "expires_at",
	    (json_int_t)t.expires_at, "call_budget",
	    (json_int_t)t.call_budget, "sensitivity",
	    daemon_sensitivity_name(tr.sensitivity), "policies", reasons);
	if (api_audit_prepare(d, req, "task.created", now, t.agent, t.id,
	    fields, &ev) != MANDATE_OK) {
		/* fail closed: no record, no task */
		http_respond_error(req, 500, "server_error", NULL);
		goto out;
	}
	r = store_task_create_audited(d->store, &t, &ev, &event_id);
	if (r != MANDATE_ECONFLICT)      /* (that one appended nothing) */
		audit_report(d->audit, r, event_id);
	if (r == MANDATE_ECONFLICT) {
		/* the kill switch was pulled on the agent in this second,
		 * after the policies allowed the task: the switch ends
		 * every task created up to it, this one too */
		api_audit(d, req, "task.denied", tr.agent, STR_NULL, json_pack(
		    "{s:s,s:O,s:O,s:s%,s:I,s:s}", "by", caller.principal,
		    "intents", names, "intent_details", details, "objective",
		    tr.objective.p, tr.objective.n, "call_budget",
		    (json_int_t)tr.call_budget, "reason", "agent revoked"));
		http_respond_error(req, 409, "conflict", "the agent was "
		    "revoked (kill switch) at this task's creation time: ask "
		    "again in a second");
		goto out;
	}
	if (r != MANDATE_OK) {
		/* neither the task nor its record (fail closed) */
		server_error(d, req, "store_task_create_audited", r);
		goto out;
	}
	count(d->m_tasks, "created", NULL);
	daemon_log(d, DLOG_INFO, "task %s created for %.*s by %s", id,
	    (int)(tr.agent.n > 256 ? 256 : tr.agent.n), tr.agent.p,
	    caller.principal);
	if ((r = store_task_get(d->store, t.id, req->arena, &back)) !=
	    MANDATE_OK) {
		server_error(d, req, "store_task_get", r);
		goto out;
	}
	{
		char loc[64];
		snprintf(loc, sizeof(loc), "/v1/tasks/%s", id);
		http_response_header(req, "Location", loc);
	}
	body = task_json(&back, now);
	http_respond_json(req, 201, body);
	goto out;
nomem:
	server_error(d, req, "task", MANDATE_ENOMEM);
out:
	json_decref(ctx);
	json_decref(names);
	json_decref(details);
	json_decref(reasons);
}

static void
h_get(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	struct api_caller caller;
	struct store_task t;
	json_t *reasons = NULL;
	bool other = false;

	if (!api_authenticate(d, req, &caller) ||
	    !load_task(d, req, &caller, "mandate:read_task", &t, &other,
	    &reasons))
		return;
	/* another's task: the read itself is recorded */
	if (other && api_audit(d, req, "task.read", t.agent, t.id, json_pack(
	    "{s:s,s:s%,s:O?}", "by", caller.principal, "delegator",
	    t.delegator.p, t.delegator.n, "policies", reasons)) != MANDATE_OK) {
		http_respond_error(req, 500, "server_error", NULL);
		goto out;
	}
	http_respond_json(req, 200, task_json(&t, now_s()));
out:
	json_decref(reasons);
}

/* The task.ended record's fields (a new reference; NULL: ENOMEM). */
static json_t *
end_fields(const struct api_caller *caller, struct str reason,
    const struct store_task *t, json_t *reasons)
{
	return json_pack("{s:s,s:s%,s:s%,s:O?}", "by", caller->principal,
	    "reason", reason.p, reason.n, "delegator", t->delegator.p,
	    t->delegator.n, "policies", reasons);
}

static void
h_end(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	struct api_caller caller;
	struct store_task t;
	struct store_audit_event ev;
	struct str reason = STR_NULL;
	json_t *reasons = NULL;
	bool other = false;
	int64_t now, event_id = 0;
	int changed = 0, r;

	if (!api_authenticate(d, req, &caller) || !reason_body(d, req, &reason) ||
	    !load_task(d, req, &caller, "mandate:end_task", &t, &other,
	    &reasons))
		return;
	if (reason.n == 0)
		reason = other ? STR_LIT("ended by an operator") :
		    STR_LIT("ended by the delegator");
	/* the clock of the write: a task that expired while the policies
	 * were asked is over, and the store leaves it as it is (unchanged,
	 * no record), like an ended or revoked one */
	now = now_s();
	/* the end and its task.ended record are one commit; an end that
	 * changes nothing writes none */
	r = api_audit_prepare(d, req, "task.ended", now, t.agent, t.id,
	    end_fields(&caller, reason, &t, reasons), &ev);
	if (r == MANDATE_OK) {
		r = store_task_end_audited(d->store, t.id, now, reason, &ev,
		    &changed, &event_id);
		if (r != MANDATE_ENOTFOUND && (r != MANDATE_OK || changed))
			audit_report(d->audit, r, event_id);  /* append tried */
	}
	if (api_restrict_alone(r)) {
		/* the record failed: the end stands alone (500 unless its
		 * record can still be written on its own) */
		daemon_log(d, DLOG_ERROR, "request %s: task %.*s: its end and "
		    "its record could not be written together (%s); ending it "
		    "alone", req->request_id, (int)t.id.n, t.id.p,
		    mandate_strerror(r));
		if ((r = store_task_end(d->store, t.id, now, reason,
		    &changed)) != MANDATE_OK) {
			server_error(d, req, "store_task_end", r);
			goto out;
		}
		if (changed && api_audit(d, req, "task.ended", t.agent, t.id,
		    end_fields(&caller, reason, &t, reasons)) != MANDATE_OK) {
			count(d->m_tasks, "ended", NULL);
			http_respond_error(req, 500, "server_error", NULL);
			goto out;
		}
	} else if (r != MANDATE_OK) {
		server_error(d, req, "store_task_end_audited", r);
		goto out;
	}
	if (changed) {
		count(d->m_tasks, "ended", NULL);
		daemon_log(d, DLOG_INFO, "task %.*s ended by %s", (int)t.id.n,
		    t.id.p, caller.principal);
	}
	if ((r = store_task_get(d->store, t.id, req->arena, &t)) !=
	    MANDATE_OK) {
		server_error(d, req, "store_task_get", r);
		goto out;
	}
	http_respond_json(req, 200, task_json(&t, now));
out:
	json_decref(reasons);
}

/* The agent.revoked record, asked by the store inside the kill switch's
 * commit once it knows how many tasks it revoked
 * (store_revoke_event_fn).  May run on another request's thread (the
 * group commit's leader) while this request waits for it. */
struct revoke_rec {
	struct daemon *d;
	struct http_request *req;
	const char *by;
	struct str agent;
	struct str reason;
	json_t *policies;         /* borrowed */
	int64_t now;
};

/* The agent.revoked record's fields (a new reference; NULL: ENOMEM);
 * policies (may be NULL) are the ones that allowed the switch. */
static json_t *
revoked_fields(const char *by, struct str reason, size_t n_tasks,
    json_t *policies)
{
	return json_pack("{s:s,s:s%,s:I,s:O?}", "by", by, "reason", reason.p,
	    reason.n, "tasks_revoked", (json_int_t)n_tasks, "policies",
	    policies);
}

static int
revoke_record(void *arg, size_t n_tasks, struct store_audit_event *ev)
{
	struct revoke_rec *rr = arg;

	return api_audit_prepare(rr->d, rr->req, "agent.revoked", rr->now,
	    rr->agent, STR_NULL, revoked_fields(rr->by, rr->reason, n_tasks,
	    rr->policies), ev);
}

static void
h_revoke_agent(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	struct api_caller caller;
	struct str agent = http_request_param(req, "id");
	struct str reason = STR_LIT("kill switch");
	struct store_agent_revocation rev;
	struct revoke_rec rr;
	enum daemon_agent_kind kind;
	struct str td;
	char err[200];
	json_t *ctx, *reasons = NULL;
	bool allow = false;
	size_t n_tasks = 0;
	int64_t now = now_s(), event_id = 0;
	int r;

	if (!api_authenticate(d, req, &caller) || !reason_body(d, req, &reason))
		return;
	if (daemon_agent_id_check(agent, &kind, &td, err, sizeof(err)) !=
	    MANDATE_OK) {
		http_respond_error(req, 400, "invalid_request", err);
		return;
	}
	ctx = json_pack("{s:o,s:o,s:s%}", "caller", caller_json(&caller),
	    "agent", agent_json(agent), "reason", reason.p, reason.n);
	if (ctx == NULL) {
		server_error(d, req, "revoke", MANDATE_ENOMEM);
		return;
	}
	api_decide(d, req, caller.principal, "mandate:revoke_agent", "Agent",
	    agent, ctx, &allow, &reasons);
	if (!allow) {
		api_audit(d, req, "agent.revoke_denied", agent, STR_NULL, json_pack(
		    "{s:s,s:O?}", "by", caller.principal, "policies", reasons));
		http_respond_error(req, 403, "access_denied",
		    "the policies do not allow this revocation");
		goto out;
	}
	memset(&rev, 0, sizeof(rev));
	rev.agent = agent;
	rev.revoked_by = str_c(caller.principal);
	rev.reason = reason;
	rr.d = d;
	rr.req = req;
	rr.by = caller.principal;
	rr.agent = agent;
	rr.reason = reason;
	rr.policies = reasons;
	rr.now = now;
	/* the switch and its agent.revoked record are one commit */
	r = store_agent_revoke_audited(d->store, &rev, now, revoke_record, &rr,
	    &n_tasks, &event_id);
	audit_report(d->audit, r, event_id);
	if (api_restrict_alone(r)) {
		/* the record failed: the switch is pulled alone (500 unless
		 * its record can still be written on its own) */
		daemon_log(d, DLOG_ERROR, "request %s: kill switch: the "
		    "revocation and its record could not be written together "
		    "(%s); revoking alone", req->request_id,
		    mandate_strerror(r));
		if ((r = store_agent_revoke(d->store, &rev, now, &n_tasks)) ==
		    MANDATE_OK)
			r = api_audit(d, req, "agent.revoked", agent, STR_NULL,
			    revoked_fields(caller.principal, reason, n_tasks,
			    reasons))
			    == MANDATE_OK ? MANDATE_OK : MANDATE_EIO;
		else {
			server_error(d, req, "store_agent_revoke", r);
			goto out;
		}
	} else if (r != MANDATE_OK) {
		server_error(d, req, "store_agent_revoke_audited", r);
		goto out;
	}
	count(d->m_tasks, "agent_revoked", NULL);
	daemon_log(d, DLOG_WARN, "kill switch: agent %.*s revoked by %s (%zu "
	    "tasks)", (int)(agent.n > 256 ? 256 : agent.n), agent.p,
	    caller.principal, n_tasks);
	if (r != MANDATE_OK) {   /* revoked, its record not written */
		http_respond_error(req, 500, "server_error", NULL);
		goto out;
	}
	http_respond_json(req, 200, json_pack("{s:s%,s:I,s:I,s:s%}", "agent",
	    agent.p, agent.n, "revoked_at", (json_int_t)now, "tasks_revoked",
	    (json_int_t)n_tasks, "reason", reason.p, reason.n));
out:
	json_decref(reasons);
}

/* The kill switch must reach every agent a task was created for: the
 * longest agent id, every byte percent-encoded, fits the server's path
 * limit (and daemon_agent_id_check() refuses the ids "." and "..", which
 * no path can name). */
_Static_assert(sizeof("/v1/agents//revoke") - 1 + 3 * STORE_MAX_NAME <=
    HTTP_MAX_PATH, "an agent id must fit the kill switch's path");

int
api_tasks_register(struct daemon *d, struct http_server *srv)
{
	int r;

	if ((r = http_server_route(srv, "POST", "/v1/tasks", h_create, d)) !=
	    MANDATE_OK ||
	    (r = http_server_route(srv, "GET", "/v1/tasks/{id}", h_get, d)) !=
	    MANDATE_OK ||
	    (r = http_server_route(srv, "POST", "/v1/tasks/{id}/end", h_end,
	    d)) != MANDATE_OK ||
	    (r = http_server_route(srv, "POST", "/v1/agents/{id}/revoke",
	    h_revoke_agent, d)) != MANDATE_OK)
		return r;
	return MANDATE_OK;
}

/*
 * api_audit_query.c - reading the audit log over HTTP.
 *
 *   GET /v1/audit?agent=&task=&type=&from=&to=&after=&before=&order=&limit=
 *
 * Filters on the stored columns (type, time, agent, task id); pages by
 * record id: the response's "next" is the value to pass as `after` (or
 * `before` with order=desc) for the following page, null on the last.
 * Records come back as stored, that is already redacted.  Authorization:
 * Cedar, principal Delegator::"<caller>", action
 * Action::"mandate:read_audit", resource AuditLog::"default", context {}.
 * docs/api.md describes the request and the response.
 */
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "daemon/daemon_int.h"
#include "util/civil.h"
#include "util/status.h"

#define AUDIT_RESOURCE_TYPE "AuditLog"
#define AUDIT_RESOURCE_ID   "default"
#define AUDIT_PAGE_DEFAULT  100

static void
bad_request(struct http_request *req, const char *desc)
{
	http_respond_error(req, 400, "invalid_request", desc);
}

/* A non-negative decimal integer up to INT64_MAX (a record id). */
static int
parse_uint(struct str s, int64_t *out)
{
	int64_t v = 0;

	if (s.n == 0 || s.n > 19)
		return MANDATE_EINVAL;
	for (size_t i = 0; i < s.n; i++) {
		if (s.p[i] < '0' || s.p[i] > '9' ||
		    v > (INT64_MAX - (s.p[i] - '0')) / 10)
			return MANDATE_EINVAL;
		v = v * 10 + (s.p[i] - '0');
	}
	*out = v;
	return MANDATE_OK;
}

/* Unix seconds, or an RFC 3339 date-time (util/civil.h). */
int
api_audit_parse_time(struct str s, int64_t *out)
{
	return civil_parse_time(s.p, s.n, out) == 0 ? MANDATE_OK :
	    MANDATE_EINVAL;
}

static json_t *
event_json(const struct store_audit_event *e)
{
	json_t *fields = json_loadb(e->fields_json.p, e->fields_json.n, 0,
	    NULL);

	if (fields == NULL)        /* stored text we cannot parse: as text */
		fields = json_stringn(e->fields_json.p, e->fields_json.n);
	/* fields for reading; fields_json, the stored text byte for byte,
	 * for recomputing the record's leaf (docs/audit.md): a parsed and
	 * rewritten JSON text need not be the same bytes (0.1, \u001f) */
	return json_pack("{s:I,s:I,s:s%,s:s%,s:s%,s:s%,s:o,s:s%}",
	    "id", (json_int_t)e->id, "time", (json_int_t)e->time,
	    "type", e->type.p, e->type.n,
	    "request_id", e->request_id.p, e->request_id.n,
	    "agent", e->agent.p, e->agent.n,
	    "task_id", e->task_id.p, e->task_id.n,
	    "fields", fields,
	    "fields_json", e->fields_json.p, e->fields_json.n);
}

/* Fill f from the query string; 0 after answering 400.  *none is set
 * when the filter can match no record (to=0). */
static int
parse_filter(struct http_request *req, struct store_audit_filter *f,
    bool *none)
{
	struct str v;
	int64_t n;

	memset(f, 0, sizeof(*f));
	f->limit = AUDIT_PAGE_DEFAULT;
	/* Every parameter must be one of ours: one that is not would be
	 * ignored, and a misspelt filter (task_id for task, the record's
	 * own member name) answer every record as if it had matched. */
	for (size_t i = 0; i < req->n_query; i++) {
		static const char *const known[] = { "type", "agent", "task",
		    "from", "to", "after", "before", "order", "limit" };
		struct str name = req->query[i].name;
		size_t k;

		for (k = 0; k < sizeof(known) / sizeof(known[0]); k++)
			if (str_eq_c(name, known[k]))
				break;
		if (k == sizeof(known) / sizeof(known[0])) {
			char msg[160];

			snprintf(msg, sizeof(msg), "unknown parameter %.*s "
			    "(expected type, agent, task, from, to, after, "
			    "before, order, limit)", (int)(name.n < 32 ?
			    name.n : 32), name.p);
			bad_request(req, msg);
			return 0;
		}
	}
	if ((v = http_request_query_repeated(req)).n > 0) {
		char msg[96];

		snprintf(msg, sizeof(msg), "%.32s: given more than once",
		    v.p);
		bad_request(req, msg);
		return 0;
	}
	f->type = http_request_query(req, "type");
	f->agent = http_request_query(req, "agent");
	f->task_id = http_request_query(req, "task");
	if (f->type.n > STORE_MAX_ID || f->task_id.n > STORE_MAX_ID ||
	    f->agent.n > STORE_MAX_NAME) {
		bad_request(req, "a filter value is too long");
		return 0;
	}
	if ((v = http_request_query(req, "from")).n > 0 &&
	    api_audit_parse_time(v, &f->from_time) != MANDATE_OK) {
		bad_request(req, "from: expected Unix seconds or an RFC 3339 "
		    "date-time");
		return 0;
	}
	if ((v = http_request_query(req, "to")).n > 0 &&
	    (api_audit_parse_time(v, &f->to_time) != MANDATE_OK ||
	    f->to_time < 0)) {
		bad_request(req, "to: expected Unix seconds or an RFC 3339 "
		    "date-time");
		return 0;
	}
	/* (to=0: no record has a time <= 0; the store's 0 is "no bound") */
	if (v.n > 0 && f->to_time == 0)
		*none = true;
	if (f->to_time > 0 && f->to_time < f->from_time) {
		bad_request(req, "to is before from");
		return 0;
	}
	if ((v = http_request_query(req, "after")).n > 0 &&
	    parse_uint(v, &f->after_id) != MANDATE_OK) {
		bad_request(req, "after: expected a record id");
		return 0;
	}
	if ((v = http_request_query(req, "before")).n > 0 &&
	    parse_uint(v, &f->before_id) != MANDATE_OK) {
		bad_request(req, "before: expected a record id");
		return 0;
	}
	if ((v = http_request_query(req, "limit")).n > 0) {
		if (parse_uint(v, &n) != MANDATE_OK || n < 1 ||
		    n > STORE_MAX_PAGE) {
			bad_request(req, "limit: expected 1..1000");
			return 0;
		}
		f->limit = (size_t)n;
	}
	v = http_request_query(req, "order");
	if (v.n > 0 && !str_eq_c(v, "asc") && !str_eq_c(v, "desc")) {
		bad_request(req, "order: expected asc or desc");
		return 0;
	}
	f->newest_first = str_eq_c(v, "desc");
	if ((f->newest_first && http_request_query(req, "after").n > 0) ||
	    (!f->newest_first && http_request_query(req, "before").n > 0)) {
		bad_request(req, "after pages ascending, before descending");
		return 0;
	}
	return 1;
}

static void
get_audit(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	struct api_caller caller;
	struct store_audit_filter f;
	struct store_audit_event *ev = NULL;
	json_t *ctx, *reasons = NULL, *arr = NULL, *body = NULL;
	bool allow = false, none = false;
	size_t n = 0;
	int r;

	if (!api_authenticate(d, req, &caller))
		return;
	if ((ctx = json_object()) == NULL) {
		http_respond_error(req, 500, "server_error", NULL);
		return;
	}
	api_decide(d, req, caller.principal, "mandate:read_audit",
	    AUDIT_RESOURCE_TYPE, STR_LIT(AUDIT_RESOURCE_ID), ctx, &allow,
	    &reasons);
	json_decref(reasons);
	if (!allow) {
		http_respond_error(req, 403, "access_denied",
		    "the policies do not allow this");
		return;
	}
	if (!parse_filter(req, &f, &none))
		return;
	if (!none && (r = store_audit_query(d->store, &f, req->arena, &ev,
	    &n)) !=
	    MANDATE_OK) {
		daemon_log(d, DLOG_ERROR, "request %s: audit query: %s",
		    req->request_id, mandate_strerror(r));
		http_respond_error(req, r == MANDATE_ELIMIT ||
		    r == MANDATE_EINVAL ? 400 : 500, r == MANDATE_ELIMIT ||
		    r == MANDATE_EINVAL ? "invalid_request" : "server_error",
		    NULL);
		return;
	}
	if ((arr = json_array()) == NULL)
		goto oom;
	for (size_t i = 0; i < n; i++)
		if (json_array_append_new(arr, event_json(&ev[i])) != 0)
			goto oom;
	body = json_pack("{s:o,s:o}", "events", arr, "next", n == f.limit ?
	    json_integer((json_int_t)ev[n - 1].id) : json_null());
	arr = NULL;
	if (body == NULL)
		goto oom;
	http_respond_json(req, 200, body);     /* takes body */
	return;
oom:
	json_decref(arr);
	http_respond_error(req, 500, "server_error", NULL);
}

int
api_audit_query_register(struct daemon *d, struct http_server *srv)
{
	return http_server_route(srv, "GET", "/v1/audit", get_audit, d);
}

/*
 * api_task_parse.c - the POST /v1/tasks body: shape, bounds, defaults.
 *
 * Pure functions, no I/O: the body (untrusted JSON) goes through the
 * arena JSON parser with duplicate keys rejected and a depth bound; every
 * field is checked for type and size, unknown keys are refused, and the
 * TTL and call budget get their configured defaults and caps.  Messages
 * are safe to return to the client: they name the field, never echo it.
 */
#include <ctype.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cedar/cedar.h"
#include "daemon/agent_ctx.h"
#include "daemon/daemon_int.h"
#include "util/status.h"

static const char *const sens_names[] = {
	"public", "internal", "confidential", "restricted",
};

const char *
daemon_sensitivity_name(int64_t s)
{
	if (s < 0 || s > DAEMON_SENS_RESTRICTED)
		return NULL;
	return sens_names[s];
}

static int
fail(char *err, size_t err_len, int status, const char *msg)
{
	snprintf(err, err_len, "%s", msg);
	return status;
}

/* No C0 control and no DEL.  With line_ends, tabs and line ends (LF, or
 * CR LF) are allowed: a CR on its own moves a terminal's cursor back over
 * what was written, in logs and the audit log. */
static bool
no_c0(struct str s, bool line_ends)
{
	for (size_t i = 0; i < s.n; i++) {
		unsigned char c = (unsigned char)s.p[i];
		bool next_lf = i + 1 < s.n && s.p[i + 1] == '\n';

		if (c == 0x7f)
			return false;
		if (c < 0x20 && !(line_ends && (c == '\n' || c == '\t' ||
		    (c == '\r' && next_lf))))
			return false;
	}
	return true;
}

/* No C1 control (U+0080-U+009F: in UTF-8, 0xC2 then 0x80-0x9F; 0xC2 is
 * never a continuation byte, so this holds for bytes that are not UTF-8
 * too). */
static bool
no_c1(struct str s)
{
	for (size_t i = 0; i + 1 < s.n; i++)
		if ((unsigned char)s.p[i] == 0xc2 &&
		    (unsigned char)s.p[i + 1] >= 0x80 &&
		    (unsigned char)s.p[i + 1] <= 0x9f)
			return false;
	return true;
}

/* No Unicode bidirectional override, embedding or isolate (U+202A-U+202E,
 * U+2066-U+2069; in UTF-8 E2 80 AA-AE and E2 81 A6-A9): text that shows
 * one thing and says another ("Trojan Source", CVE-2021-42574), in front
 * of a person who reads an objective to approve a call.  The marks
 * (U+200E, U+200F, U+061C) reorder nothing and stay allowed. */
static bool
no_bidi_override(struct str s)
{
	for (size_t i = 0; i + 2 < s.n; i++) {
		unsigned char a = (unsigned char)s.p[i],
		    b = (unsigned char)s.p[i + 1], c = (unsigned char)s.p[i + 2];

		if (a == 0xe2 && ((b == 0x80 && c >= 0xaa && c <= 0xae) ||
		    (b == 0x81 && c >= 0xa6 && c <= 0xa9)))
			return false;
	}
	return true;
}

/* No control characters at all (docs/api.md): C0, DEL and C1. */
static bool
printable(struct str s, bool line_ends)
{
	return no_c0(s, line_ends) && no_c1(s);
}

static bool
td_char(unsigned char c)
{
	return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
	    c == '.' || c == '-' || c == '_';
}

static bool
path_char(unsigned char c)
{
	return isalnum(c) || c == '.' || c == '-' || c == '_';
}

int
daemon_agent_id_check(struct str id, enum daemon_agent_kind *kind,
    struct str *trust_domain, char *err, size_t err_len)
{
	static const char scheme[] = "spiffe://";
	const size_t sn = sizeof(scheme) - 1;
	size_t i, td_end;

	*kind = DAEMON_AGENT_SUBJECT;
	*trust_domain = str_make("", 0);
	if (id.n == 0)
		return fail(err, err_len, MANDATE_EINVAL, "agent is empty");
	if (id.n > STORE_MAX_NAME)
		return fail(err, err_len, MANDATE_ELIMIT, "agent is too long");
	if (id.n < sn || strncasecmp(id.p, "spiffe:", 7) != 0) {
		/* C0 and DEL only: C1 controls are refused when a task is
		 * created (daemon_task_request_parse), but the kill switch
		 * still takes them, for tasks made before that rule */
		if (!no_c0(id, false))
			return fail(err, err_len, MANDATE_EINVAL,
			    "agent contains control characters");
		/* the kill switch names the agent as one path segment, and
		 * a "." or ".." segment, encoded or not, is a dot-segment
		 * (RFC 3986 5.2.4, 6.2.2.2): no such agent could be revoked */
		if (str_eq_c(id, ".") || str_eq_c(id, ".."))
			return fail(err, err_len, MANDATE_EINVAL,
			    "agent: '.' and '..' are not agent ids");
		return MANDATE_OK;
	}
	/* SPIFFE ID: lowercase scheme, trust domain [a-z0-9.-_]+, then a
	 * path of one or more non-empty segments [A-Za-z0-9.-_]+ that are
	 * not "." or ".."; no query, fragment, port, userinfo or escapes. */
	if (memcmp(id.p, scheme, sn) != 0)
		return fail(err, err_len, MANDATE_EINVAL,
		    "agent: a SPIFFE ID starts with spiffe:// in lowercase");
	for (i = sn; i < id.n && id.p[i] != '/'; i++)
		if (!td_char((unsigned char)id.p[i]))
			return fail(err, err_len, MANDATE_EINVAL, "agent: bad "
			    "character in the SPIFFE trust domain");
	td_end = i;
	if (td_end == sn)
		return fail(err, err_len, MANDATE_EINVAL,
		    "agent: the SPIFFE trust domain is empty");
	if (td_end == id.n)
		return fail(err, err_len, MANDATE_EINVAL,
		    "agent: a workload SPIFFE ID needs a path");
	while (i < id.n) {
		size_t j = i + 1;
		while (j < id.n && id.p[j] != '/') {
			if (!path_char((unsigned char)id.p[j]))
				return fail(err, err_len, MANDATE_EINVAL,
				    "agent: bad character in the SPIFFE path");
			j++;
		}
		if (j == i + 1)
			return fail(err, err_len, MANDATE_EINVAL,
			    "agent: empty segment in the SPIFFE path");
		if ((j - i - 1 == 1 && id.p[i + 1] == '.') ||
		    (j - i - 1 == 2 && id.p[i + 1] == '.' && id.p[i + 2] == '.'))
			return fail(err, err_len, MANDATE_EINVAL,
			    "agent: '.' or '..' in the SPIFFE path");
		i = j;
	}
	*kind = DAEMON_AGENT_SPIFFE;
	*trust_domain = str_make(id.p + sn, td_end - sn);
	return MANDATE_OK;
}

/* A positive integer member, or absent (*present = false). */
static int
get_uint(const struct ajson *o, const char *key, uint64_t max,
    uint64_t *v, bool *present, char *err, size_t err_len)
{
	const struct ajson *j = ajson_get(o, key);
	char msg[96];

	*present = false;
	if (j == NULL || j->type == AJSON_NULL)
		return MANDATE_OK;
	if (j->type != AJSON_NUMBER || !j->num_int || !j->num_fits ||
	    j->u.i < 1 || (uint64_t)j->u.i > max) {
		snprintf(msg, sizeof(msg), "%s must be an integer from 1 to "
		    "%" PRIu64, key, max);
		return fail(err, err_len, MANDATE_EINVAL, msg);
	}
	*v = (uint64_t)j->u.i;
	*present = true;
	return MANDATE_OK;
}

static bool
action_char(unsigned char c)
{
	/* Cedar action ids are arbitrary strings; we keep intents to a
	 * conservative, log- and header-safe alphabet. */
	return isalnum(c) || c == '_' || c == '-' || c == '.' || c == ':' ||
	    c == '/';
}

/* Is s an entity uid as Cedar prints it (and as the call's resource is
 * written to be compared with it): `Type::"id"`, the type without
 * spaces, only `"` and `\` escaped in the id?  `Mailbox::team` or
 * `Mailbox :: "team"` would never equal a call's resource. */
static bool
uid_as_printed(struct str s)
{
	const char *q = NULL;
	size_t start, end;
	struct diag_list dl;

	for (size_t i = 0; i + 3 <= s.n; i++)
		if (memcmp(s.p + i, "::\"", 3) == 0) {
			q = s.p + i;
			break;
		}
	if (q == NULL || s.n < 2 || s.p[s.n - 1] != '"')
		return false;
	start = (size_t)(q - s.p) + 3;
	end = s.n - 1;
	if (end < start)
		return false;
	for (const char *t = s.p; t < q; t++)
		if (isspace((unsigned char)*t))
			return false;
	for (size_t i = start; i < end; i++) {
		if (s.p[i] == '"')
			return false;
		if (s.p[i] == '\\') {
			if (i + 1 >= end || (s.p[i + 1] != '"' &&
			    s.p[i + 1] != '\\'))
				return false;
			i++;
		}
	}
	diag_init(&dl);
	return cedar_uid_check(s.p, s.n, &dl) == MANDATE_OK;
}

static int
parse_intent(const struct ajson *it, const char *body,
    struct daemon_intent *out, char *err, size_t err_len)
{
	const struct ajson *act, *res, *con;

	if (it->type != AJSON_OBJECT)
		return fail(err, err_len, MANDATE_EINVAL,
		    "each intent must be an object");
	for (size_t k = 0; k < it->u.obj.n; k++) {
		struct str key = it->u.obj.items[k].key;
		if (!str_eq_c(key, "action") && !str_eq_c(key, "resource") &&
		    !str_eq_c(key, "constraints"))
			return fail(err, err_len, MANDATE_EINVAL, "unknown "
			    "intent member (allowed: action, resource, "
			    "constraints)");
	}
	act = ajson_get(it, "action");
	if (!ajson_is(act, AJSON_STRING))
		return fail(err, err_len, MANDATE_EINVAL,
		    "intent.action must be a string");
	if (act->u.s.n == 0 || act->u.s.n > DAEMON_MAX_ACTION)
		return fail(err, err_len, MANDATE_EINVAL,
		    "intent.action must have 1 to 256 characters");
	for (size_t i = 0; i < act->u.s.n; i++)
		if (!action_char((unsigned char)act->u.s.p[i]))
			return fail(err, err_len, MANDATE_EINVAL, "intent.action "
			    "may use only letters, digits and _ - . : /");
	out->action = act->u.s;
	out->resource = STR_NULL;
	out->constraints = STR_NULL;
	res = ajson_get(it, "resource");
	if (res != NULL && res->type != AJSON_NULL) {
		if (res->type != AJSON_STRING || res->u.s.n == 0 ||
		    res->u.s.n > DAEMON_MAX_RESOURCE || !printable(res->u.s,
		    false))
			return fail(err, err_len, MANDATE_EINVAL,
			    "intent.resource must be a non-empty string of at "
			    "most 2048 printable characters");
		if (!uid_as_printed(res->u.s))
			return fail(err, err_len, MANDATE_EINVAL,
			    "intent.resource must be an entity uid written as "
			    "Cedar prints it, e.g. Mailbox::\"team\" (it is "
			    "compared with the call's resource as text)");
		out->resource = res->u.s;
	}
	con = ajson_get(it, "constraints");
	if (con != NULL && con->type != AJSON_NULL) {
		if (con->type != AJSON_OBJECT)
			return fail(err, err_len, MANDATE_EINVAL,
			    "intent.constraints must be an object");
		if (con->len > DAEMON_MAX_CONSTRAINTS)
			return fail(err, err_len, MANDATE_ELIMIT,
			    "intent.constraints is too large");
		out->constraints = str_make(body + con->off, con->len);
		/* only what agent_ctx can evaluate is stored: an unknown
		 * operator is refused, never silently ignored */
		{
			int r = agent_constraints_check(out->constraints.p,
			    out->constraints.n, err, err_len);
			if (r != MANDATE_OK)
				return r;
		}
	}
	return MANDATE_OK;
}

/* The intents as the store keeps them, checked against its bound before
 * anything is decided: a request past it is the client's error, named
 * as such, not a store failure after the policies permitted.  The bound
 * is on the stored form (compact, non-ASCII as \u escapes), which is
 * what the store and every later evaluation read. */
static int
intents_stored(struct arena *a, struct daemon_task_request *out, char *err,
    size_t err_len)
{
	char *s, *copy = NULL;
	size_t n;
	int r = MANDATE_ENOMEM;

	if ((s = daemon_intents_json(out)) == NULL)
		return fail(err, err_len, MANDATE_ENOMEM, "out of memory");
	n = strlen(s);
	if (n > DAEMON_MAX_INTENTS_JSON) {
		r = fail(err, err_len, MANDATE_ELIMIT, "intents is too large: "
		    "at most 262144 bytes in all, as stored (compact JSON, "
		    "non-ASCII characters escaped)");
		goto out;
	}
	if ((copy = arena_alloc(a, n + 1)) == NULL) {
		r = fail(err, err_len, MANDATE_ENOMEM, "out of memory");
		goto out;
	}
	memcpy(copy, s, n + 1);
	out->intents_json = str_make(copy, n);
	r = MANDATE_OK;
out:
	free(s);
	return r;
}

int
daemon_task_request_parse(struct arena *a, const char *body, size_t len,
    const struct daemon_task_limits *lim, struct daemon_task_request *out,
    char *err, size_t err_len)
{
	struct ajson_opts opts = {
		.flags = AJSON_REJECT_DUPLICATES,
		.max_depth = DAEMON_MAX_JSON_DEPTH,
		.max_len = 1u << 20,
	};
	const struct ajson *root = NULL, *j;
	uint64_t v;
	bool present;
	int r;

	memset(out, 0, sizeof(*out));
	if (err_len > 0)
		err[0] = '\0';
	if ((r = ajson_parse(a, body, len, &opts, &root, NULL)) != MANDATE_OK)
		return fail(err, err_len, r == MANDATE_ENOMEM ? r :
		    MANDATE_EPARSE, r == MANDATE_ELIMIT ? "body is too large "
		    "or too deeply nested" : "body is not valid JSON (or has "
		    "a duplicate key)");
	if (root->type != AJSON_OBJECT)
		return fail(err, err_len, MANDATE_EINVAL,
		    "body must be a JSON object");
	for (size_t k = 0; k < root->u.obj.n; k++) {
		static const char *const known[] = { "agent", "objective",
		    "intents", "sensitivity", "ttl", "call_budget" };
		struct str key = root->u.obj.items[k].key;
		bool ok = false;
		for (size_t i = 0; i < sizeof(known) / sizeof(known[0]); i++)
			ok = ok || str_eq_c(key, known[i]);
		if (!ok)
			return fail(err, err_len, MANDATE_EINVAL, "unknown member "
			    "(allowed: agent, objective, intents, sensitivity, "
			    "ttl, call_budget)");
	}

	j = ajson_get(root, "agent");
	if (!ajson_is(j, AJSON_STRING))
		return fail(err, err_len, MANDATE_EINVAL,
		    "agent is required and must be a string");
	if ((r = daemon_agent_id_check(j->u.s, &out->agent_kind,
	    &out->trust_domain, err, err_len)) != MANDATE_OK)
		return r;
	if (!no_c1(j->u.s))
		return fail(err, err_len, MANDATE_EINVAL,
		    "agent contains control characters");
	out->agent = j->u.s;

	j = ajson_get(root, "objective");
	if (!ajson_is(j, AJSON_STRING))
		return fail(err, err_len, MANDATE_EINVAL,
		    "objective is required and must be a string");
	if (j->u.s.n == 0 || j->u.s.n > DAEMON_MAX_OBJECTIVE)
		return fail(err, err_len, MANDATE_EINVAL,
		    "objective must have 1 to 4096 bytes");
	if (!printable(j->u.s, true))
		return fail(err, err_len, MANDATE_EINVAL, "objective contains "
		    "control characters (only tabs and line ends, LF or CR LF, "
		    "are allowed)");
	if (!no_bidi_override(j->u.s))
		return fail(err, err_len, MANDATE_EINVAL, "objective contains "
		    "a bidirectional override, embedding or isolate "
		    "(U+202A-U+202E, U+2066-U+2069), which can make it show "
		    "other text than it holds");
	out->objective = j->u.s;

	j = ajson_get(root, "intents");
	if (!ajson_is(j, AJSON_ARRAY))
		return fail(err, err_len, MANDATE_EINVAL,
		    "intents is required and must be an array");
	if (j->u.arr.n == 0)
		return fail(err, err_len, MANDATE_EINVAL,
		    "intents must name at least one action");
	if (lim->max_intents > 0 && j->u.arr.n > lim->max_intents)
		return fail(err, err_len, MANDATE_ELIMIT, "too many intents");
	out->intents = arena_calloc(a, j->u.arr.n, sizeof(*out->intents));
	if (out->intents == NULL)
		return fail(err, err_len, MANDATE_ENOMEM, "out of memory");
	for (size_t i = 0; i < j->u.arr.n; i++) {
		if ((r = parse_intent(&j->u.arr.items[i], body, &out->intents[i],
		    err, err_len)) != MANDATE_OK)
			return r;
	}
	out->n_intents = j->u.arr.n;
	if ((r = intents_stored(a, out, err, err_len)) != MANDATE_OK)
		return r;

	out->sensitivity = DAEMON_SENS_PUBLIC;    /* lowest ceiling */
	j = ajson_get(root, "sensitivity");
	if (j != NULL && j->type != AJSON_NULL) {
		int found = -1;
		if (j->type == AJSON_STRING)
			for (int i = 0; i <= DAEMON_SENS_RESTRICTED; i++)
				if (str_eq_c(j->u.s, sens_names[i]))
					found = i;
		if (found < 0)
			return fail(err, err_len, MANDATE_EINVAL, "sensitivity "
			    "must be one of public, internal, confidential, "
			    "restricted");
		out->sensitivity = found;
	}

	if ((r = get_uint(root, "ttl", UINT32_MAX, &v, &present, err,
	    err_len)) != MANDATE_OK)
		return r;
	out->ttl = present ? v : lim->default_ttl;
	if (lim->max_ttl > 0 && out->ttl > lim->max_ttl)
		out->ttl = lim->max_ttl;
	if (out->ttl == 0)
		out->ttl = 1;

	if ((r = get_uint(root, "call_budget", UINT32_MAX, &v, &present, err,
	    err_len)) != MANDATE_OK)
		return r;
	if (!present)
		v = lim->default_call_budget;
	if (lim->max_call_budget > 0 && (v == 0 || v > lim->max_call_budget))
		v = lim->max_call_budget;
	out->call_budget = v == 0 ? INT64_MAX : (int64_t)v;
	return MANDATE_OK;
}

int64_t
daemon_task_expires_at(int64_t now, uint64_t ttl)
{
	/* now + ttl alone would give a task created at x.93 with ttl 1
	 * 0.07 s: time(2) dropped the fraction */
	return now + (int64_t)ttl + 1;
}

char *
daemon_intents_json(const struct daemon_task_request *t)
{
	json_t *arr = json_array();
	char *s = NULL;

	if (arr == NULL)
		return NULL;
	for (size_t i = 0; i < t->n_intents; i++) {
		const struct daemon_intent *in = &t->intents[i];
		json_t *o = json_object();
		if (o == NULL || json_array_append_new(arr, o) != 0)
			goto out;
		if (json_object_set_new(o, "action", json_stringn(in->action.p,
		    in->action.n)) != 0)
			goto out;
		if (in->resource.p != NULL && json_object_set_new(o, "resource",
		    json_stringn(in->resource.p, in->resource.n)) != 0)
			goto out;
		if (in->constraints.p != NULL) {
			json_t *c = json_loadb(in->constraints.p,
			    in->constraints.n, JSON_REJECT_DUPLICATES |
			    JSON_DECODE_ANY, NULL);
			if (c == NULL || json_object_set_new(o, "constraints",
			    c) != 0)
				goto out;
		}
	}
	s = json_dumps(arr, JSON_COMPACT | JSON_ENSURE_ASCII);
out:
	json_decref(arr);
	return s;
}

char *
daemon_cedar_uid(struct arena *a, const char *type, struct str id)
{
	size_t tn = strlen(type), cap, o = 0;
	char *buf;

	/* worst case: every byte as \u{XX} (6 bytes) */
	if (id.n > (SIZE_MAX - tn - 8) / 6)
		return NULL;
	cap = tn + 4 + id.n * 6 + 2;
	if ((buf = arena_alloc(a, cap)) == NULL)
		return NULL;
	memcpy(buf, type, tn);
	o = tn;
	memcpy(buf + o, "::\"", 3);
	o += 3;
	for (size_t i = 0; i < id.n; i++) {
		unsigned char c = (unsigned char)id.p[i];
		if (c == '"' || c == '\\') {
			buf[o++] = '\\';
			buf[o++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			o += (size_t)snprintf(buf + o, cap - o, "\\u{%02x}", c);
		} else {
			buf[o++] = (char)c;
		}
	}
	buf[o++] = '"';
	buf[o] = '\0';
	return buf;
}

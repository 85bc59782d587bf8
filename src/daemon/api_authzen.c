/*
 * api_authzen.c - the OpenID AuthZEN Authorization API 1.0 endpoints.
 *
 *   POST /access/v1/evaluation        one decision
 *   POST /access/v1/evaluations       a batch (defaults, semantics)
 *   POST /access/v1/search/subject    who may do action on resource
 *   POST /access/v1/search/resource   what subject may do action on
 *   POST /access/v1/search/action     what subject may do on resource
 *   GET  /.well-known/authzen-configuration
 *
 * Bodies are parsed by src/authzen (strict; unknown members ignored) and
 * mapped to one Cedar request per evaluation against one policy snapshot
 * per HTTP request.  Every evaluation goes through agent_ctx_prepare()
 * before the policies and agent_ctx_finish() after (agent_ctx.h), which
 * adds the task-aware context, assigns the decision id and audits it.
 * Any failure on the way is a deny (fail closed).  Malformed requests
 * are 400 with a message; a batch item that cannot be evaluated is
 * {"decision": false}.
 *
 * Search candidates are the policy information point's entities of the
 * searched type (subject, resource), or for actions the Action entities
 * it holds and then the schema's other actions, in the order of the
 * entity files (the schema's: by name); each one is authorized as
 * a full evaluation.  A page token is the index of the candidate where
 * the next page starts; one request evaluates at most AUTHZEN_MAX_SCAN
 * candidates and AUTHZEN_MAX_WORK bytes of context and properties in all,
 * and no more than its memory allowance holds with the answer (a page
 * may then hold fewer results than its limit, with a token to go on).
 */
#include <stdio.h>
#include <string.h>
#include <strings.h>

#include "authzen/authzen.h"
#include "daemon/agent_ctx.h"
#include "daemon/context_tree.h"
#include "util/status.h"

#define AZ_ERR 512
/* request memory kept for a search's answer besides its results' text:
 * the answer's head, the page token, the arena's alignment */
#define SEARCH_ANSWER_RESERVE (16u << 10)

struct az_out {
	bool decision;
	char id[AGENT_DECISION_ID_SIZE];
	json_t *reasons;    /* policy ids */
	json_t *errors;     /* [{policy, message}], as answered */
	/* the same as the audit record and the log keep them (NULL: the
	 * same as errors): with the values the caller sent hidden */
	json_t *errors_rec;
	char err[AZ_ERR];   /* mapping error (client-safe); "" if none */
};

static void
az_out_clear(struct az_out *o)
{
	json_decref(o->reasons);
	json_decref(o->errors);
	json_decref(o->errors_rec);
	memset(o, 0, sizeof(*o));
}

/*
 * Error messages quote what failed: `ip: invalid IP address "<value>"`,
 * an extension literal, an entity id.  The PEP, which sent the value, gets
 * the message whole; the audit record and the daemon's log must not keep
 * a value the redaction would have hidden in the call's arguments (a
 * configured path's value is secret by its place alone, which a message
 * does not show).  So there a quoted literal whose text is a string the
 * caller sent in the context becomes the HMAC of that text, as the
 * redaction writes a hidden value; the rest of the message (attribute
 * names, the policy's own literals) is kept.  A message about a request
 * that could not be read at all quotes the request's raw text ("near
 * '...'"): every single-quoted part of it goes.
 */
#define HIDE_MAX 256              /* context strings looked for */
#define HIDE_MIN 3                /* shorter ones hide nothing */

struct hide_set {
	struct str v[HIDE_MAX];
	size_t n;
};

static void
hide_collect(json_t *v, struct hide_set *h, int depth)
{
	const char *k;
	json_t *x;
	size_t i;

	if (depth > 16 || h->n >= HIDE_MAX)
		return;
	if (json_is_string(v)) {
		if (json_string_length(v) >= HIDE_MIN)
			h->v[h->n++] = str_make(json_string_value(v),
			    json_string_length(v));
	} else if (json_is_object(v)) {
		json_object_foreach(v, k, x)
			hide_collect(x, h, depth + 1);
	} else if (json_is_array(v)) {
		json_array_foreach(v, i, x)
			hide_collect(x, h, depth + 1);
	}
}

/* Room for need more bytes at *o in *buf of *cap. */
static bool
hide_room(char **buf, size_t *cap, size_t o, size_t need)
{
	char *nb;

	if (o + need <= *cap)
		return true;
	if ((nb = realloc(*buf, o + need + *cap)) == NULL)
		return false;
	*buf = nb;
	*cap = o + need + *cap;
	return true;
}

/* msg with each "<s>" (s in h, the longest that fits) replaced by
 * "hmac:..."; with single, also each '...' part by '…'.  *out NULL when
 * nothing changed.  MANDATE_ENOMEM. */
static int
hide_text(const struct redact *r, const char *msg, const struct hide_set *h,
    bool single, char **out)
{
	size_t n = strlen(msg), cap = n + 1, o = 0;
	char *b = malloc(cap), mac[REDACT_HMAC_SIZE];
	bool changed = false;
	int rc;

	*out = NULL;
	if (b == NULL)
		return MANDATE_ENOMEM;
	for (size_t i = 0; i < n;) {
		const char *e;
		size_t best = 0;

		if (single && msg[i] == '\'' &&
		    (e = strchr(msg + i + 1, '\'')) != NULL) {
			if (!hide_room(&b, &cap, o, 6))
				goto nomem;
			memcpy(b + o, "'\xe2\x80\xa6'", 5);
			o += 5;
			i = (size_t)(e - msg) + 1;
			changed = true;
			continue;
		}
		for (size_t k = 0; msg[i] == '"' && k < h->n; k++) {
			const struct str *v = &h->v[k];

			if (v->n > best && i + 1 + v->n < n &&
			    msg[i + 1 + v->n] == '"' &&
			    memcmp(msg + i + 1, v->p, v->n) == 0)
				best = v->n;
		}
		if (best > 0) {
			if ((rc = redact_hmac(r, str_make(msg + i + 1, best),
			    mac)) != MANDATE_OK) {
				free(b);
				return rc;
			}
			if (!hide_room(&b, &cap, o, REDACT_HMAC_LEN + 3))
				goto nomem;
			b[o++] = '"';
			memcpy(b + o, mac, REDACT_HMAC_LEN);
			o += REDACT_HMAC_LEN;
			b[o++] = '"';
			i += best + 2;
			changed = true;
			continue;
		}
		if (!hide_room(&b, &cap, o, 2))
			goto nomem;
		b[o++] = msg[i++];
	}
	b[o] = '\0';
	if (changed)
		*out = b;
	else
		free(b);
	return MANDATE_OK;
nomem:
	free(b);
	return MANDATE_ENOMEM;
}

/* o->errors_rec from o->errors: each message hidden as above, a mapping
 * error's (it names no policy) also without its quoted request text.
 * Left NULL when nothing needed hiding. */
static int
hide_errors(struct daemon *d, json_t *ctx, struct az_out *o)
{
	struct hide_set *h;
	json_t *rec = NULL, *x;
	size_t i;
	int rc = MANDATE_OK;

	if (json_array_size(o->errors) == 0)
		return MANDATE_OK;
	if ((h = calloc(1, sizeof(*h))) == NULL)
		return MANDATE_ENOMEM;
	if (ctx != NULL)
		hide_collect(ctx, h, 0);
	json_array_foreach(o->errors, i, x) {
		const char *msg = json_string_value(json_object_get(x,
		    "message"));
		bool mapping = json_object_get(x, "policy") == NULL;
		char *hidden = NULL;
		json_t *y;

		if (msg != NULL && (rc = hide_text(d->redact, msg, h, mapping,
		    &hidden)) != MANDATE_OK)
			break;
		if (hidden == NULL && rec == NULL)
			continue;
		if (rec == NULL && (rec = json_deep_copy(o->errors)) == NULL) {
			free(hidden);
			rc = MANDATE_ENOMEM;
			break;
		}
		y = json_array_get(rec, i);
		if (hidden != NULL && json_object_set_new(y, "message",
		    json_string(hidden)) != 0)
			rc = MANDATE_ENOMEM;
		free(hidden);
		if (rc != MANDATE_OK)
			break;
	}
	free(h);
	if (rc != MANDATE_OK) {
		json_decref(rec);
		return rc;
	}
	o->errors_rec = rec;
	return MANDATE_OK;
}


/* Content-Type must be the media type application/json (AuthZEN 1.0,
 * 10.1), in any case, with or without parameters (RFC 9110 8.3.1:
 * type "/" subtype, then OWS ";" parameters), and given once: a second
 * Content-Type line, or anything else after the subtype, is not that
 * type.  400 if not, as the AuthZEN endpoints answer every malformed
 * request. */
static bool
json_content(struct http_request *req)
{
	const char *ct = http_request_header(req, "Content-Type");
	static const char mime[] = "application/json";
	size_t n = sizeof(mime) - 1;

	if (ct != NULL && strncasecmp(ct, mime, n) == 0) {
		for (ct += n; *ct == ' ' || *ct == '\t'; ct++)
			;
		if ((*ct == '\0' || *ct == ';') &&
		    http_request_header_count(req, "Content-Type") == 1)
			return true;
	}
	http_respond_error(req, 400, "invalid_request", "Content-Type must be "
	    "application/json");
	return false;
}

static void
bad_request(struct http_request *req, int r, const char *msg)
{
	if (r == MANDATE_ENOMEM)
		http_respond_error(req, 500, "server_error", NULL);
	else
		http_respond_error(req, 400, "invalid_request", msg);
}

/* The caller: authenticated per api_auth (open on loopback only where
 * api_auth.open_on_loopback says, as on the development instance), or
 * nobody checked with authzen.authenticate: false.  0 after answering
 * 401. */
static int
caller_of(struct daemon *d, struct http_request *req, struct api_caller *c,
    bool *authenticated)
{
	if (!d->cfg->authzen.authenticate) {
		/* authzen.authenticate: false, said at start-up */
		c->principal = "anonymous";
		c->kind = "none";
		c->issuer = "";
		*authenticated = false;
		return 1;
	}
	if (!api_authenticate(d, req, c))
		return 0;
	*authenticated = strcmp(c->kind, "loopback") != 0;
	return 1;
}

/* The evaluation's context as a JSON object the agent layer may edit:
 * a batch item's own context replaces the top-level one (AuthZEN 1.0,
 * "Default values": a key of the item overrides the top-level default),
 * except for the task credential: an item without a "mandate" member of
 * its own stays bound to the top-level one's task (binding can only
 * narrow what an item may do).  The text was checked by the strict
 * parser already, and its tree becomes the object
 * (daemon_context_jansson); what only jansson may judge goes through
 * json_loadb, which may still refuse what it cannot hold (an integer
 * past 64 bits, a NUL in a string): MANDATE_EINVAL with a message in
 * err. */
static int
context_of(const char *body, const struct authzen_eval *e, json_t **out,
    char *err, size_t err_len)
{
	json_t *ctx, *item = NULL;
	json_error_t je;
	int r = MANDATE_EINVAL;

	*out = NULL;
	memset(&je, 0, sizeof(je));
	if (e->context == NULL)
		ctx = json_object();
	else if (!daemon_context_jansson(e->context, &ctx))
		ctx = json_loadb(body + e->context->off, e->context->len, 0,
		    &je);
	if (ctx == NULL)
		goto bad;
	if (e->item_context != NULL &&
	    !daemon_context_jansson(e->item_context, &item) &&
	    (item = json_loadb(body + e->item_context->off,
	    e->item_context->len, 0, &je)) == NULL)
		goto bad;
	if (item != NULL) {
		json_t *m = json_object_get(ctx, "mandate");

		if (m != NULL && json_object_get(item, "mandate") == NULL &&
		    json_object_set(item, "mandate", m) != 0) {
			r = MANDATE_ENOMEM;
			goto out;
		}
		json_decref(ctx);
		ctx = item;
		item = NULL;
	}
	*out = ctx;
	ctx = NULL;
	r = MANDATE_OK;
	goto out;
bad:
	if (json_error_code(&je) == json_error_out_of_memory ||
	    (e->context == NULL && ctx == NULL))
		r = MANDATE_ENOMEM;
	snprintf(err, err_len, "context cannot be used: %s", je.text);
out:
	json_decref(item);
	json_decref(ctx);
	return r;
}

/* The request's entity data for the entities the PIP does not hold
 * (authzen.h: properties of known entities are ignored).  *out NULL when
 * there is nothing to add. */
static int
request_entities(struct http_request *req, const struct daemon_policies *p,
    const char *body, const struct authzen_eval *e,
    struct cedar_entities **out, char *err, size_t err_len)
{
	const struct authzen_entity *ents[2] = { &e->subject, &e->resource };
	const struct authzen_entity *use[2];
	struct diag_list dl;
	char *buf = NULL, *text;
	size_t len = 0, n = 0, prop_bytes = 0;
	int r;

	*out = NULL;
	for (int i = 0; i < 2; i++) {
		const struct authzen_entity *x = ents[i];

		if (x->properties == NULL || x->properties->u.obj.n == 0 ||
		    cedar_entities_has(p->entities, x->type.p, x->type.n,
		    x->id.p, x->id.n))
			continue;
		if (i == 1 && n > 0 && str_eq(x->type, e->subject.type) &&
		    str_eq(x->id, e->subject.id))
			continue;   /* the same entity: the subject's data */
		use[n++] = x;
		prop_bytes += x->properties->len;
	}
	if (n == 0)
		return MANDATE_OK;
	/* The entities as a tree over the body's own nodes, without writing
	 * them out as text for Cedar to parse again: the tree is the one that
	 * text parses to (the body was parsed with duplicate keys refused,
	 * and far below Cedar's size limit).  On any error, the text path
	 * below, for its answer and message. */
	if (prop_bytes < (8u << 20)) {
		struct ajson root, items[2];
		bool made = true;

		for (size_t k = 0; k < n && made; k++)
			made = authzen_entity_tree(req->arena, use[k],
			    &items[k]) == MANDATE_OK;
		if (made) {
			memset(&root, 0, sizeof(root));
			root.type = AJSON_ARRAY;
			root.u.arr.items = items;
			root.u.arr.n = n;
			diag_init(&dl);
			if (cedar_entities_from_tree(&root, body, req->body.n,
			    "request", p->schema, out, &dl) == MANDATE_OK) {
				cedar_entities_set_under(*out, p->entities);
				return MANDATE_OK;
			}
			*out = NULL;
		}
	}
	for (size_t k = 0; k < n; k++)
		if ((r = authzen_entities_add(req->arena, body, use[k], &buf,
		    &len)) != MANDATE_OK)
			return r;
	if ((text = authzen_entities_close(req->arena, buf, len)) == NULL)
		return MANDATE_ENOMEM;
	diag_init(&dl);
	if ((r = cedar_entities_parse_json(text, strlen(text), "request",
	    p->schema, out, &dl)) != MANDATE_OK) {
		snprintf(err, err_len, "properties cannot be used as Cedar "
		    "attributes: %s", dl.n > 0 ? dl.items[0].msg : "invalid");
		return r == MANDATE_ENOMEM ? r : MANDATE_EINVAL;
	}
	cedar_entities_set_under(*out, p->entities);
	return MANDATE_OK;
}

/* Run the policies for one evaluation whose context agent_ctx prepared. */
static int
run_policies(struct daemon *d, struct http_request *req,
    const struct daemon_policies *p, const char *body,
    const struct authzen_eval *e, json_t *ctx, struct az_out *o)
{
	struct cedar_entities *ov = NULL;
	struct cedar_request *creq = NULL;
	struct cedar_decision dec;
	struct diag_list dl;
	char *principal, *action, *resource, *ctext = NULL;
	int r;

	diag_init(&dl);
	principal = authzen_cedar_uid(req->arena, e->subject.type,
	    e->subject.id);
	action = authzen_cedar_uid(req->arena, STR_LIT("Action"),
	    e->action.name);
	resource = authzen_cedar_uid(req->arena, e->resource.type,
	    e->resource.id);
	if (principal == NULL || action == NULL || resource == NULL) {
		r = MANDATE_ENOMEM;
		goto out;
	}
	if ((r = request_entities(req, p, body, e, &ov, o->err,
	    sizeof(o->err))) != MANDATE_OK)
		goto out;
	/* the context as a tree when it can be (no text round trip);
	 * otherwise, or when Cedar refuses it, through its text as always,
	 * for the same answer and message */
	{
		struct ajson tree;

		r = daemon_context_tree(req->arena, ctx, &tree) ?
		    cedar_request_build_tree(req->arena, principal, action,
		    resource, &tree, p->schema, true, &creq, &dl) :
		    MANDATE_EINVAL;
	}
	if (r != MANDATE_OK && r != MANDATE_EVALIDATE) {
		diag_init(&dl);
		if ((ctext = json_dumps(ctx, JSON_COMPACT)) == NULL) {
			r = MANDATE_ENOMEM;
			goto out;
		}
		r = cedar_request_build(req->arena, principal, action,
		    resource, ctext, p->schema, true, &creq, &dl);
	}
	if (r != MANDATE_OK) {
		/* with policies.schema, a request must fit it (its action
		 * declared, the principal and resource of the types it
		 * applies to, the context of its type), as Cedar's
		 * validating authorizer requires: otherwise a string
		 * where the schema says Long would reach the policies */
		snprintf(o->err, sizeof(o->err), r == MANDATE_EVALIDATE ?
		    "the request does not conform to policies.schema: %s" :
		    "the request cannot be expressed in Cedar: %s", dl.n > 0 ?
		    dl.items[0].msg : "invalid");
		if (r != MANDATE_ENOMEM)
			r = MANDATE_EINVAL;
		goto out;
	}
	if ((r = cedar_authorize(p->set, ov != NULL ? ov : p->entities, creq,
	    req->arena, &dec)) != MANDATE_OK ||
	    (r = daemon_forbid_errors(d, req->arena, &dec)) != MANDATE_OK)
		goto out;
	for (size_t i = 0; i < dec.n_reasons; i++)
		json_array_append_new(o->reasons, json_string(dec.reasons[i]));
	for (size_t i = 0; i < dec.n_errors; i++) {
		/* (logged by evaluate, with the caller's values hidden) */
		json_array_append_new(o->errors, json_pack("{s:s,s:s}",
		    "policy", dec.errors[i].policy_id, "message",
		    dec.errors[i].message));
	}
	o->decision = dec.allow;
out:
	if (r != MANDATE_OK)
		o->decision = false;
	cedar_entities_free(ov);
	free(ctext);
	return r;
}

/* One evaluation, start to end: prepare, policies, finish.  Returns
 * MANDATE_EINVAL (message in o->err) when the request cannot be mapped
 * (or is a batch item with an error); the decision is then false and
 * goes through the agent context and the audit all the same. */
static int
evaluate(struct daemon *d, struct http_request *req,
    const struct daemon_policies *p, const char *body,
    const struct api_caller *caller, bool authenticated, bool dry_run,
    bool single, const struct authzen_eval *e, struct az_out *o,
    struct agent_proof_memo *memo)
{
	struct agent_call call;
	struct agent_ctx *ac = NULL;
	enum agent_ctx_result res = AGENT_CTX_DENY;
	const char *why = NULL;
	json_t *ctx = NULL;
	bool permit = false, refused;
	int r = MANDATE_OK, rf, rp;

	memset(o, 0, sizeof(*o));
	o->reasons = json_array();
	o->errors = json_array();
	memset(&call, 0, sizeof(call));
	call.subject_type = e->subject.type;
	call.subject_id = e->subject.id;
	call.action = e->action.name;
	call.resource_type = e->resource.type;
	call.resource_id = e->resource.id;
	call.caller_authenticated = authenticated;
	call.caller = authenticated ? caller->principal : NULL;
	call.who = authenticated ? caller : NULL;
	call.dry_run = dry_run;
	call.single = single;
	call.policy_hash = p != NULL && p->hash[0] != '\0' ? p->hash : NULL;
	call.policies = p;
	call.proof_memo = memo;
	if (o->reasons == NULL || o->errors == NULL)
		return MANDATE_ENOMEM;
	if (e->error != NULL) {
		/* a batch item that cannot be evaluated: a recorded deny */
		snprintf(o->err, sizeof(o->err), "%s", e->error);
		r = MANDATE_EINVAL;
	} else {
		r = context_of(body, e, &ctx, o->err, sizeof(o->err));
		if (r != MANDATE_OK && r != MANDATE_EINVAL)
			return r;
	}
	refused = r == MANDATE_EINVAL;
	if (refused && (ctx = json_object()) == NULL)
		return MANDATE_ENOMEM;
	rp = agent_ctx_prepare(d, req, &call, ctx, &ac, &res, &why);
	if (ac == NULL) {
		daemon_log(d, DLOG_ERROR, "request %s: agent context failed "
		    "(%s): deny, not recorded", req->request_id,
		    mandate_strerror(rp));
		json_decref(ctx);
		return rp == MANDATE_ENOMEM ? rp : MANDATE_EINTERNAL;
	}
	if (rp != MANDATE_OK) {
		/* the task's context could not be prepared: a deny without
		 * the policies, recorded by finish like any other */
		daemon_log(d, DLOG_ERROR, "request %s: agent context failed "
		    "(%s): %s: deny", req->request_id, mandate_strerror(rp),
		    why != NULL ? why : "");
		res = AGENT_CTX_DENY;
	}
	if (refused) {
		/* (logged below, with the request's text hidden) */
	} else if (res == AGENT_CTX_DENY) {
		if (rp == MANDATE_OK)
			daemon_log(d, DLOG_INFO, "request %s: denied before "
			    "the policies: %s", req->request_id,
			    why ? why : "");
	} else if (p == NULL || p->set == NULL) {
		daemon_log(d, DLOG_ERROR, "request %s: no policies: deny",
		    req->request_id);
	} else {
		r = run_policies(d, req, p, body, e, ctx, o);
		permit = r == MANDATE_OK && o->decision;
		if (r != MANDATE_OK && r != MANDATE_EINVAL)
			daemon_log(d, DLOG_ERROR, "request %s: no decision "
			    "(%s): deny", req->request_id,
			    mandate_strerror(r));
	}
	if (r == MANDATE_EINVAL)   /* why, for the audit and include_context */
		json_array_append_new(o->errors, json_pack("{s:s}", "message",
		    o->err));
	if (hide_errors(d, ctx, o) != MANDATE_OK) {
		/* the messages cannot be recorded safely: none are, and the
		 * decision is a deny */
		daemon_log(d, DLOG_ERROR, "request %s: out of memory hiding "
		    "the errors' values: deny", req->request_id);
		permit = false;
		o->errors_rec = json_array();
	}
	{
		json_t *rec = o->errors_rec != NULL ? o->errors_rec : o->errors,
		    *x;
		size_t i;

		json_array_foreach(rec, i, x) {
			json_t *pid = json_object_get(x, "policy");

			const char *m = json_string_value(json_object_get(x,
			    "message"));

			if (pid != NULL)
				daemon_log(d, DLOG_WARN, "request %s: policy "
				    "%s: %s", req->request_id,
				    json_string_value(pid), m);
			else
				daemon_log(d, DLOG_INFO, "request %s: not "
				    "evaluated: %s", req->request_id, m);
		}
	}
	/* ctx lives until finish has copied its arguments to the record */
	rf = agent_ctx_finish(d, req, ac, permit, o->reasons, o->errors_rec !=
	    NULL ? o->errors_rec : o->errors, &o->decision, o->id);
	json_decref(ctx);
	if (rf != MANDATE_OK) {
		o->decision = false;
		if (r == MANDATE_OK)
			r = rf;
	}
	{
		/* counted with the answer that is sent: a permit whose record
		 * fails becomes the held answer's fallback, which for a single
		 * evaluation or a batch is a deny (and for a search, the only
		 * dry runs here, an error that answers no decision) */
		const char *v[2] = { "authzen", o->decision ? "allow" : "deny" };
		const char *vd[2] = { "authzen", "deny" };
		struct http_series *s = http_metric_series(d->m_decisions, v);

		if (s != NULL && http_count_on_answer(req, s, 1, false) !=
		    MANDATE_OK)
			http_series_add(s, 1);
		if (!dry_run && (s = http_metric_series(d->m_decisions, vd)) !=
		    NULL)
			(void)http_count_on_answer(req, s, 1, true);
	}
	return r;
}

/* Append the JSON string of s (n bytes) at buf + *o; buf has room for
 * the worst case (6 bytes a byte, and the quotes).  s is UTF-8 (jansson
 * checked it when the string was made): only quotes, backslashes and
 * control characters are escaped, as jansson's compact dump does. */
static void
put_string(char *buf, size_t *o, const char *s, size_t n)
{
	static const char hex[] = "0123456789abcdef";
	size_t k = *o;

	buf[k++] = '"';
	for (size_t i = 0; i < n; i++) {
		unsigned char c = (unsigned char)s[i];

		if (c == '"' || c == '\\') {
			buf[k++] = '\\';
			buf[k++] = (char)c;
		} else if (c < 0x20 || c == 0x7f) {
			const char *e = c == '\n' ? "\\n" : c == '\t' ?
			    "\\t" : c == '\r' ? "\\r" : c == '\b' ? "\\b" :
			    c == '\f' ? "\\f" : NULL;

			if (e != NULL) {
				buf[k++] = e[0];
				buf[k++] = e[1];
			} else {
				memcpy(buf + k, "\\u00", 4);
				buf[k + 4] = hex[c >> 4];
				buf[k + 5] = hex[c & 15];
				k += 6;
			}
		} else {
			buf[k++] = (char)c;
		}
	}
	buf[k++] = '"';
	*o = k;
}

static void
put_lit(char *buf, size_t *o, const char *lit)
{
	size_t n = strlen(lit);

	memcpy(buf + *o, lit, n);
	*o += n;
}

/* The answer to one evaluation.  The common answer, without errors, is
 * written directly (the same text jansson would dump, without building
 * and dumping a tree); one with errors goes through jansson. */
static void
respond_one(struct http_request *req, const struct az_out *o)
{
	size_t cap = 96 + 6 * AGENT_DECISION_ID_SIZE, n = 0, i;
	json_t *v;
	char *buf;

	if (o->errors == NULL || json_array_size(o->errors) > 0 ||
	    o->reasons == NULL) {
		/* NULL answers 500 */
		http_respond_json(req, 200, authzen_decision_json(o->decision,
		    true, o->id, o->reasons, o->errors));
		return;
	}
	json_array_foreach(o->reasons, i, v) {
		if (!json_is_string(v) || json_string_length(v) > 65536) {
			http_respond_json(req, 200, authzen_decision_json(
			    o->decision, true, o->id, o->reasons, o->errors));
			return;
		}
		cap += 6 * json_string_length(v) + 3;
	}
	if ((buf = arena_alloc(req->arena, cap)) == NULL) {
		http_respond_error(req, 500, "server_error", NULL);
		return;
	}
	put_lit(buf, &n, o->decision ? "{\"decision\":true,\"context\":"
	    "{\"id\":" : "{\"decision\":false,\"context\":{\"id\":");
	put_string(buf, &n, o->id, strlen(o->id));
	put_lit(buf, &n, ",\"reason_admin\":{\"policies\":[");
	json_array_foreach(o->reasons, i, v) {
		if (i > 0)
			buf[n++] = ',';
		put_string(buf, &n, json_string_value(v),
		    json_string_length(v));
	}
	put_lit(buf, &n, "],\"errors\":[]}}}");
	http_respond(req, 200, "application/json", buf, n);
}

/* A single evaluation refused as malformed once it was recorded (a
 * context that Cedar cannot take, a request that does not conform to
 * policies.schema): 400, with the id of the deny's record so that the
 * caller can find it, as a decision's answer carries its id. */
static void
respond_invalid(struct http_request *req, const struct az_out *o)
{
	json_t *j;

	if (o->id[0] == '\0') {
		http_respond_error(req, 400, "invalid_request", o->err);
		return;
	}
	j = json_pack("{s:s,s:s,s:s}", "error", "invalid_request",
	    "error_description", o->err, "decision_id", o->id);
	if (j == NULL) {
		http_respond_error(req, 500, "server_error", NULL);
		return;
	}
	http_response_header(req, "Cache-Control", "no-store");
	http_respond_json(req, 400, j);
}

/* A single evaluation's answer when its decision record cannot be
 * written after all (see api_audit): a deny. */
static int
hold_deny(struct http_request *req)
{
	static const char deny[] = "{\"decision\":false}";

	return http_hold_fallback(req, 200, "application/json", deny,
	    sizeof(deny) - 1);
}

/* The same deny once the decision has its id, so that the caller can find
 * the record (it says why, e.g. deny_reason when the call could not be
 * counted against the task's budget; when the record itself could not be
 * written, no record has the id). */
static int
hold_deny_id(struct http_request *req, const char *id)
{
	size_t n = 0, cap = 64 + 6 * strlen(id);
	char *buf = arena_alloc(req->arena, cap);

	if (buf == NULL)
		return MANDATE_ENOMEM;
	put_lit(buf, &n, "{\"decision\":false,\"context\":{\"id\":");
	put_string(buf, &n, id, strlen(id));
	put_lit(buf, &n, "}}");
	return http_hold_fallback(req, 200, "application/json", buf, n);
}

/* A batch's or a search's answer when a decision record cannot be
 * written after all, before the handler knows more: an error. */
static int
hold_error(struct http_request *req)
{
	static const char err[] = "{\"error\":\"server_error\"}";

	return http_hold_fallback(req, 500, "application/json", err,
	    sizeof(err) - 1);
}

/* A batch of n answers: every one a deny (which record failed is not
 * known when the answer is sent, so none is trusted). */
static int
hold_deny_all(struct http_request *req, size_t n)
{
	static const char head[] = "{\"evaluations\":[", tail[] = "]}";
	static const char item[] = "{\"decision\":false}";
	size_t len = sizeof(head) - 1 + n * sizeof(item) + sizeof(tail);
	char *buf = arena_alloc(req->arena, len), *p;

	if (buf == NULL)
		return MANDATE_ENOMEM;
	memcpy(buf, head, sizeof(head) - 1);
	p = buf + sizeof(head) - 1;
	for (size_t i = 0; i < n; i++) {
		if (i > 0)
			*p++ = ',';
		memcpy(p, item, sizeof(item) - 1);
		p += sizeof(item) - 1;
	}
	memcpy(p, tail, sizeof(tail) - 1);
	p += sizeof(tail) - 1;
	return http_hold_fallback(req, 200, "application/json", buf,
	    (size_t)(p - buf));
}

static void
h_evaluation(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	struct api_caller caller;
	struct authzen_eval e;
	struct daemon_policies *p = NULL;
	struct az_out o;
	char err[AZ_ERR];
	bool authn = false;
	int r;

	memset(&o, 0, sizeof(o));
	if (!caller_of(d, req, &caller, &authn) || !json_content(req))
		return;
	if ((r = authzen_parse_evaluation(req->arena, req->body.p, req->body.n,
	    &e, err, sizeof(err))) != MANDATE_OK) {
		bad_request(req, r, err);
		return;
	}
	/* the decision record is written while the worker goes on (the
	 * answer waits for it); if it cannot be, a deny is sent instead */
	if (hold_deny(req) != MANDATE_OK) {
		http_respond_error(req, 500, "server_error", NULL);
		return;
	}
	p = daemon_policies_get(d);
	r = evaluate(d, req, p, req->body.p, &caller, authn, false, true, &e,
	    &o, NULL);
	daemon_policies_put(p);
	/* (read only once the handler has returned; a failure keeps the
	 * bare deny) */
	if (o.id[0] != '\0')
		(void)hold_deny_id(req, o.id);
	if (r == MANDATE_EINVAL)
		respond_invalid(req, &o);
	else if (r == MANDATE_ENOMEM)
		http_respond_error(req, 500, "server_error", NULL);
	else
		respond_one(req, &o);   /* a deny on any other failure */
	az_out_clear(&o);
}

static void
h_evaluations(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	struct api_caller caller;
	struct authzen_batch b;
	struct daemon_policies *p = NULL;
	struct agent_proof_memo memo;
	json_t *arr = NULL, *j = NULL;
	char err[AZ_ERR];
	bool authn = false;
	int r;

	if (!caller_of(d, req, &caller, &authn) || !json_content(req))
		return;
	if ((r = authzen_parse_evaluations(req->arena, req->body.p,
	    req->body.n, &b, err, sizeof(err))) != MANDATE_OK) {
		bad_request(req, r, err);
		return;
	}
	memset(&memo, 0, sizeof(memo));
	p = daemon_policies_get(d);
	if (b.single) {
		struct az_out o;

		if (hold_deny(req) != MANDATE_OK) {
			http_respond_error(req, 500, "server_error", NULL);
			goto out;
		}
		r = evaluate(d, req, p, req->body.p, &caller, authn, false,
		    true, &b.items[0], &o, NULL);
		if (o.id[0] != '\0')
			(void)hold_deny_id(req, o.id);
		if (r == MANDATE_EINVAL)
			respond_invalid(req, &o);
		else if (r == MANDATE_ENOMEM)
			http_respond_error(req, 500, "server_error", NULL);
		else
			respond_one(req, &o);
		az_out_clear(&o);
		goto out;
	}
	/* the items' decision records are written while the worker goes
	 * on; if one cannot be, every item of the answer is a deny */
	if ((arr = json_array()) == NULL || hold_error(req) != MANDATE_OK)
		goto nomem;
	for (size_t i = 0; i < b.n; i++) {
		struct az_out o;
		json_t *item;

		r = evaluate(d, req, p, req->body.p, &caller, authn, false,
		    false, &b.items[i], &o, &memo);
		if (r == MANDATE_ENOMEM) {
			az_out_clear(&o);
			goto nomem;
		}
		item = authzen_decision_json(o.decision, b.include_context,
		    o.id, o.reasons, o.errors);
		if (item == NULL || json_array_append_new(arr, item) != 0) {
			az_out_clear(&o);
			goto nomem;
		}
		az_out_clear(&o);
		if (b.semantic == AUTHZEN_DENY_ON_FIRST_DENY &&
		    !json_is_true(json_object_get(item, "decision")))
			break;
		if (b.semantic == AUTHZEN_PERMIT_ON_FIRST_PERMIT &&
		    json_is_true(json_object_get(item, "decision")))
			break;
	}
	if ((j = json_pack("{s:O}", "evaluations", arr)) == NULL ||
	    hold_deny_all(req, json_array_size(arr)) != MANDATE_OK)
		goto nomem;
	http_respond_json(req, 200, j);   /* consumes j */
	j = NULL;
	goto out;
nomem:
	http_respond_error(req, 500, "server_error", NULL);
out:
	json_decref(arr);
	json_decref(j);
	daemon_policies_put(p);
}

/* ---- search ---- */

struct search_walk {
	struct daemon *d;
	struct http_request *req;
	struct daemon_policies *p;
	const char *body;
	const struct api_caller *caller;
	bool authn;
	enum authzen_search_kind kind;
	struct authzen_eval q;
	size_t cand;            /* index of the next candidate */
	size_t scanned;         /* candidates evaluated by this request */
	size_t work;            /* bytes of JSON they evaluated */
	struct agent_proof_memo memo;   /* the query's DPoP proof, verified */
	size_t cand_mem;        /* most request memory one candidate took */
	size_t answer_mem;      /* what the answer's text may take, at most */
	size_t offset, limit;
	size_t n_results;
	bool stop;              /* page full, or the scan bound reached */
	size_t next;            /* where the next page starts, when stop */
	json_t *results;
	int status;
};

/* Room in the request's memory allowance for one more candidate (as
 * much as the largest one took so far) and then the answer (its text is
 * dumped and copied in the request's arena: twice answer_mem, and the
 * head).  Every candidate's evaluation stays in that arena until the
 * answer, so without this check a search over a large entity set ran
 * out of it long before AUTHZEN_MAX_SCAN and could not even answer. */
static bool
search_mem_left(const struct search_walk *w)
{
	const struct arena *a = w->req->arena;
	size_t need = w->cand_mem + 2 * w->answer_mem + SEARCH_ANSWER_RESERVE;

	return a->limit == 0 || (a->used_total <= a->limit &&
	    need <= a->limit - a->used_total);
}

/* Can a PEP ask /access/v1/evaluation about this candidate?  An entity
 * file may hold ids the request parser refuses (empty, with a NUL, longer
 * than an id or an action name may be: authzen.c get_string); a search
 * answers only what an evaluation could permit, so those are never
 * results. */
static bool
askable(enum authzen_search_kind kind, const char *id, size_t id_len)
{
	size_t max = kind == AUTHZEN_SEARCH_ACTION ? AUTHZEN_MAX_NAME :
	    AUTHZEN_MAX_ID;

	return id_len > 0 && id_len <= max && memchr(id, '\0', id_len) == NULL;
}

/* One candidate (cedar_entities_each callback).  Candidates before the
 * page's offset, and those no request could name (askable), are skipped
 * unevaluated; the page ends at the first
 * permitted candidate past its limit (so that a next page is announced
 * only when it has a result), after AUTHZEN_MAX_SCAN evaluations or
 * AUTHZEN_MAX_WORK bytes of context, or when the request's memory
 * allowance could not hold another candidate and the answer. */
static int
search_one(void *arg, const char *id, size_t id_len)
{
	struct search_walk *w = arg;
	struct authzen_eval e = w->q;
	struct az_out o;
	size_t idx = w->cand++, used;
	int r;

	if (idx < w->offset || !askable(w->kind, id, id_len))
		return MANDATE_OK;
	/* bounded in candidates and in the context they evaluate (the
	 * first one always runs, so that every page makes progress) */
	if (w->scanned >= AUTHZEN_MAX_SCAN || (w->scanned > 0 &&
	    (w->work + authzen_eval_cost(&w->q) > AUTHZEN_MAX_WORK ||
	    !search_mem_left(w)))) {
		w->stop = true;
		w->next = idx;
		return MANDATE_ELIMIT;
	}
	w->scanned++;
	w->work += authzen_eval_cost(&w->q);
	used = w->req->arena->used_total;
	switch (w->kind) {
	case AUTHZEN_SEARCH_SUBJECT:
		e.subject.id = str_make(id, id_len);
		break;
	case AUTHZEN_SEARCH_RESOURCE:
		e.resource.id = str_make(id, id_len);
		break;
	case AUTHZEN_SEARCH_ACTION:
		e.action.name = str_make(id, id_len);
		break;
	}
	r = evaluate(w->d, w->req, w->p, w->body, w->caller, w->authn, true,
	    false, &e, &o, &w->memo);
	if (w->req->arena->used_total - used > w->cand_mem)
		w->cand_mem = w->req->arena->used_total - used;
	if (r != MANDATE_OK && r != MANDATE_EINVAL) {
		az_out_clear(&o);
		return w->status = r;
	}
	if (o.decision) {
		json_t *x;

		if (w->n_results >= w->limit) {
			az_out_clear(&o);
			w->stop = true;
			w->next = idx;
			return MANDATE_ELIMIT;
		}
		x = authzen_search_item(w->kind, w->kind ==
		    AUTHZEN_SEARCH_SUBJECT ? e.subject.type : e.resource.type,
		    str_make(id, id_len));
		if (x == NULL || json_array_append_new(w->results, x) != 0) {
			az_out_clear(&o);
			return w->status = MANDATE_ENOMEM;
		}
		w->n_results++;
		/* the id JSON-escaped (6 bytes a byte at worst), its type and
		 * the punctuation */
		w->answer_mem += 6 * id_len + 6 * (w->kind ==
		    AUTHZEN_SEARCH_SUBJECT ? e.subject.type.n :
		    e.resource.type.n) + 32;
	}
	az_out_clear(&o);
	return MANDATE_OK;
}

/* The schema's actions that the entity files do not also list (an
 * entity store built with a schema holds them already). */
static int
schema_action(void *arg, const char *id, size_t id_len)
{
	struct search_walk *w = arg;

	if (cedar_entities_has(w->p->entities, "Action", 6, id, id_len))
		return MANDATE_OK;
	return search_one(arg, id, id_len);
}

/* The actions permit policies name in their scope that neither the
 * entity files nor the schema list: without either, these are the only
 * candidates a deployment has. */
static int
policy_action(void *arg, const char *id, size_t id_len)
{
	struct search_walk *w = arg;

	if (cedar_entities_has(w->p->entities, "Action", 6, id, id_len) ||
	    cedar_schema_has_action(w->p->schema, "Action", 6, id, id_len))
		return MANDATE_OK;
	return search_one(arg, id, id_len);
}

static void
search(struct http_request *req, struct daemon *d,
    enum authzen_search_kind kind)
{
	struct api_caller caller;
	struct authzen_search s;
	struct search_walk w;
	char err[AZ_ERR], tok[AUTHZEN_TOKEN_SIZE];
	json_t *j = NULL;
	int r;

	memset(&w, 0, sizeof(w));
	if (!caller_of(d, req, &caller, &w.authn) || !json_content(req))
		return;
	w.caller = &caller;
	if ((r = authzen_parse_search(req->arena, req->body.p, req->body.n,
	    kind, &s, err, sizeof(err))) != MANDATE_OK) {
		bad_request(req, r, err);
		return;
	}
	/* the candidates' decision records are written while the worker
	 * goes on; if one cannot be, the answer is a server_error */
	if (hold_error(req) != MANDATE_OK) {
		http_respond_error(req, 500, "server_error", NULL);
		return;
	}
	w.d = d;
	w.req = req;
	w.body = req->body.p;
	w.kind = kind;
	w.q = s.q;
	w.offset = s.offset;
	w.limit = s.limit;
	w.p = daemon_policies_get(d);
	if ((w.results = json_array()) == NULL)
		goto nomem;
	if (w.p != NULL) {
		struct str t = kind == AUTHZEN_SEARCH_SUBJECT ?
		    s.q.subject.type : kind == AUTHZEN_SEARCH_RESOURCE ?
		    s.q.resource.type : STR_LIT("Action");

		r = cedar_entities_each(w.p->entities, t.p, t.n, search_one,
		    &w);
		if (r == MANDATE_OK && kind == AUTHZEN_SEARCH_ACTION)
			r = cedar_schema_each_action(w.p->schema, t.p, t.n,
			    schema_action, &w);
		if (r == MANDATE_OK && kind == AUTHZEN_SEARCH_ACTION)
			r = cedar_policy_set_each_permit_action(w.p->set,
			    t.p, t.n, policy_action, &w);
		if (r == MANDATE_ENOMEM || w.status == MANDATE_ENOMEM)
			goto nomem;
		if (r != MANDATE_OK && !w.stop) {
			/* fail closed: no partial answer */
			http_respond_error(req, 500, "server_error", NULL);
			goto out;
		}
	}
	if (w.stop)
		authzen_page_token(&s, w.next, tok, sizeof(tok));
	else
		tok[0] = '\0';
	if ((j = authzen_search_page(w.results, tok)) == NULL)
		goto nomem;
	http_respond_json(req, 200, j);   /* consumes j */
	j = NULL;
	goto out;
nomem:
	http_respond_error(req, 500, "server_error", NULL);
out:
	json_decref(j);
	json_decref(w.results);
	daemon_policies_put(w.p);
}

static void
h_search_subject(struct http_request *req, void *arg)
{
	search(req, arg, AUTHZEN_SEARCH_SUBJECT);
}

static void
h_search_resource(struct http_request *req, void *arg)
{
	search(req, arg, AUTHZEN_SEARCH_RESOURCE);
}

static void
h_search_action(struct http_request *req, void *arg)
{
	search(req, arg, AUTHZEN_SEARCH_ACTION);
}

/* ---- metadata ---- */

/* tokens.issuer is the PDP's identifier (policy_decision_point); its
 * endpoints are advertised under it (api_issuer.c). */
static void
h_configuration(struct http_request *req, void *arg)
{
	struct daemon *d = arg;
	struct str base, origin, path;
	char *b;
	json_t *j;

	api_issuer_parts(d->cfg->tokens.issuer, &base, &origin, &path);
	if ((b = arena_alloc(req->arena, base.n + 1)) == NULL) {
		http_respond_error(req, 500, "server_error", NULL);
		return;
	}
	memcpy(b, base.p, base.n);
	b[base.n] = '\0';
	j = authzen_metadata_json(d->cfg->tokens.issuer, b);
	if (j == NULL) {
		http_respond_error(req, 500, "server_error", NULL);
		return;
	}
	http_respond_json(req, 200, j);   /* consumes j */
}

/*
 * AuthZEN 1.0, 9.2: the metadata of a PDP is at the URL made by inserting
 * /.well-known/authzen-configuration between the host and the path of its
 * identifier.  For an identifier that ends in "/" (https://host/ or
 * https://host/pdp/) that path keeps its "/" (RFC 8414 would drop it;
 * AuthZEN does not say so), so the document is also served there, next
 * to the form without the "/" that api_register_under_issuer() routes.
 */
static int
register_slash_metadata(struct daemon *d, struct http_server *srv)
{
	static const char wk[] = "/.well-known/authzen-configuration";
	const char *iss = d->cfg->tokens.issuer, *auth = strstr(iss, "://");
	const char *path;
	char buf[HTTP_MAX_PATH + 1];
	size_t n;
	int r;

	if (auth == NULL || (path = strchr(auth + 3, '/')) == NULL)
		return MANDATE_OK;
	n = strlen(path);
	if (path[n - 1] != '/' || n + sizeof(wk) > sizeof(buf))
		return MANDATE_OK;
	snprintf(buf, sizeof(buf), "%s%s", wk, path);
	r = http_server_route(srv, "GET", buf, h_configuration, d);
	if (r == MANDATE_EINVAL) {
		/* a path the router cannot hold ({, %): the form without
		 * the "/" is the one served */
		daemon_log(d, DLOG_WARN, "tokens.issuer %s: its metadata is "
		    "not served at %s", iss, buf);
		return MANDATE_OK;
	}
	return r;
}

static const struct api_route az_routes[] = {
	{ "POST", "/access/v1/evaluation", h_evaluation },
	{ "POST", "/access/v1/evaluations", h_evaluations },
	{ "POST", "/access/v1/search/subject", h_search_subject },
	{ "POST", "/access/v1/search/resource", h_search_resource },
	{ "POST", "/access/v1/search/action", h_search_action },
};

int
api_authzen_register(struct daemon *d, struct http_server *srv)
{
	int r;

	for (size_t i = 0; i < sizeof(az_routes) / sizeof(az_routes[0]); i++)
		if ((r = http_server_route(srv, az_routes[i].method,
		    az_routes[i].path, az_routes[i].fn, d)) != MANDATE_OK)
			return r;
	if ((r = http_server_route(srv, "GET",
	    "/.well-known/authzen-configuration", h_configuration, d)) !=
	    MANDATE_OK)
		return r;
	if ((r = api_register_under_issuer(d, srv, az_routes,
	    sizeof(az_routes) / sizeof(az_routes[0]),
	    "/.well-known/authzen-configuration", h_configuration,
	    "AuthZEN")) != MANDATE_OK)
		return r;
	return register_slash_metadata(d, srv);
}

/*
 * authzen.h - the OpenID AuthZEN Authorization API 1.0 request model.
 *
 * Parses the bodies of the evaluation, evaluations (batch) and search
 * endpoints with the arena JSON parser (util/json.h) into borrowed views
 * (every string and JSON node points into the body or the arena), checks
 * types strictly with client-safe messages, ignores unknown members and
 * bounds sizes and counts.  It also holds the pure parts of the mapping
 * to Cedar that need no daemon state: the entity type check, the Cedar
 * uid text, and the per-request entity data built from `properties`.
 *
 * The mapping (docs/policy-guide.md, "AuthZEN mapping"):
 *   subject {type, id}   -> principal  type::"id"
 *   resource {type, id}  -> resource   type::"id"
 *   action.name          -> action     Action::"name"
 *   context              -> context (agent_ctx adds task/session/approval)
 *   properties           -> the entity's attributes, ONLY for an entity
 *                           the policy information point (the entity
 *                           files) does not hold; for an entity it holds,
 *                           the request's properties are ignored, so a
 *                           caller can never add to or change what the
 *                           PIP says about a known subject or resource.
 *                           Request entities never get parents.
 *   action.properties    -> ignored (Cedar actions carry no per-request
 *                           attributes).
 *
 * The response builders (jansson) shape the answers of every endpoint.
 * No daemon state here: the module is pure and unit-tested and fuzzed
 * on its own.
 */
#ifndef MANDATE_AUTHZEN_H
#define MANDATE_AUTHZEN_H

#include <stdbool.h>
#include <stddef.h>

#include <jansson.h>

#include "util/arena.h"
#include "util/json.h"
#include "util/str.h"

#define AUTHZEN_MAX_DEPTH    32      /* JSON nesting of a body */
#define AUTHZEN_MAX_TYPE     256     /* bytes of a subject/resource type */
#define AUTHZEN_MAX_ID       2048    /* bytes of an id */
#define AUTHZEN_MAX_NAME     256     /* bytes of an action name */
#define AUTHZEN_MAX_BATCH    256     /* items of one evaluations request */
#define AUTHZEN_MAX_PAGE     1000    /* results of one search page */
#define AUTHZEN_DEFAULT_PAGE 100     /* when page.limit is absent */
#define AUTHZEN_MAX_SCAN     10000   /* search candidates evaluated by
                                      * one request */
/* Bytes of context and entity properties one request may have evaluated
 * in all: a batch's top-level context and default entities count once per
 * item that uses them, a search's once per candidate (authzen_eval_cost). */
#define AUTHZEN_MAX_WORK     (8u << 20)

enum authzen_semantic {
	AUTHZEN_EXECUTE_ALL = 0,
	AUTHZEN_DENY_ON_FIRST_DENY,
	AUTHZEN_PERMIT_ON_FIRST_PERMIT,
};

struct authzen_entity {
	bool present;                    /* the member was given */
	struct str type, id;             /* id empty (NULL) when absent */
	const struct ajson *properties;  /* an object, or NULL */
};

struct authzen_action {
	bool present;
	struct str name;
	const struct ajson *properties;  /* an object, or NULL */
};

/* One evaluation, after the batch defaults are applied. */
struct authzen_eval {
	struct authzen_entity subject, resource;
	struct authzen_action action;
	const struct ajson *context;       /* object or NULL (top level) */
	const struct ajson *item_context;  /* batch item's own, replacing
	                                    * context; NULL otherwise */
	/* a batch item that cannot be evaluated: its message (else NULL);
	 * such an item is answered {"decision": false} */
	const char *error;
};

struct authzen_batch {
	struct authzen_eval *items;
	size_t n;
	bool single;                 /* no `evaluations`: one evaluation */
	enum authzen_semantic semantic;
	bool include_context;        /* options.include_context */
};

enum authzen_search_kind {
	AUTHZEN_SEARCH_SUBJECT = 0,
	AUTHZEN_SEARCH_RESOURCE,
	AUTHZEN_SEARCH_ACTION,
};

struct authzen_search {
	struct authzen_eval q;       /* the searched member has no id/name */
	size_t offset;               /* from page.token */
	size_t limit;                /* page.limit, default AUTHZEN_DEFAULT_PAGE */
	uint64_t query;              /* what a page token binds (the query) */
};

/*
 * Parse a POST /access/v1/evaluation body: subject, resource (type and
 * id required, non-empty strings; properties an object), action (name
 * required) and context (an object) .  MANDATE_OK, or MANDATE_EPARSE
 * (not JSON) / MANDATE_EINVAL (shape) / MANDATE_ELIMIT / MANDATE_ENOMEM
 * with a client-safe message in err.
 */
int authzen_parse_evaluation(struct arena *a, const char *body, size_t len,
    struct authzen_eval *out, char *err, size_t err_len);

/*
 * Parse a POST /access/v1/evaluations body: top-level subject, action,
 * resource and context are defaults that each item's own members
 * replace whole (an item's context is kept in .item_context and replaces
 * .context when evaluated; only its task credential, "mandate", is
 * inherited: api_authzen.c context_of), options
 * {evaluations_semantic, include_context}.  A malformed top level is an
 * error; a malformed or incomplete item only sets that item's .error.
 * Without `evaluations` (or with an empty array) the body is one
 * evaluation (out->single, checked as by authzen_parse_evaluation).
 */
int authzen_parse_evaluations(struct arena *a, const char *body, size_t len,
    struct authzen_batch *out, char *err, size_t err_len);

/*
 * Parse a search body of the given kind: the searched member needs only
 * its type (its id, if any, is ignored, as AuthZEN says), or for an
 * action search the action is not read at all; the others are complete.
 * page {token: string from a previous answer, limit: a non-negative
 * integer}: 0 or absent is AUTHZEN_DEFAULT_PAGE, more than
 * AUTHZEN_MAX_PAGE is AUTHZEN_MAX_PAGE.  A token binds the query it was
 * issued for (subject, action, resource, context, limit): a token sent
 * with another query is refused (MANDATE_EINVAL), and a token sent
 * without page.limit keeps the limit the paging started with.
 */
int authzen_parse_search(struct arena *a, const char *body, size_t len,
    enum authzen_search_kind kind, struct authzen_search *out, char *err,
    size_t err_len);

/* The page token that resumes s's query at `offset` (opaque to callers),
 * into buf (at least AUTHZEN_TOKEN_SIZE bytes). */
#define AUTHZEN_TOKEN_SIZE 48
void authzen_page_token(const struct authzen_search *s, size_t offset,
    char *buf, size_t cap);

/* Is s a Cedar entity type name: Ident(::Ident)*, no reserved word? */
bool authzen_type_ok(struct str s);

/* The bytes of JSON (context, item context, subject and resource
 * properties) evaluating e parses; see AUTHZEN_MAX_WORK. */
size_t authzen_eval_cost(const struct authzen_eval *e);

/* type::"id" with the id escaped for Cedar, NUL-terminated, in a. */
char *authzen_cedar_uid(struct arena *a, struct str type, struct str id);

/* s as a JSON string literal (quotes included), NUL-terminated, in a. */
char *authzen_json_string(struct arena *a, struct str s);

/*
 * Append to the Cedar entities JSON array text being built in *buf (an
 * arena string; start with NULL) the entity {uid: type::id, attrs:
 * properties, parents: []}, properties copied from the body's bytes.
 * authzen_entities_close() ends the array ("[]" when nothing was added).
 */
int authzen_entities_add(struct arena *a, const char *body,
    const struct authzen_entity *e, char **buf, size_t *len);
char *authzen_entities_close(struct arena *a, char *buf, size_t len);
/* The entity authzen_entities_add() writes, as a tree in a
 * ({"uid":{"type","id"},"attrs":properties,"parents":[]}); the
 * properties are e's own nodes, not copied. */
int authzen_entity_tree(struct arena *a, const struct authzen_entity *e,
    struct ajson *out);

/* ---- responses (jansson; NULL on allocation failure) ---- */

/*
 * {"decision": b} and, with_context, "context": {"id": id,
 * "reason_admin": {"policies": policies, "errors": errors}}; policies
 * and errors are JSON arrays (borrowed; NULL gives []), id may be NULL
 * (no decision id: "").
 */
json_t *authzen_decision_json(bool decision, bool with_context,
    const char *id, json_t *policies, json_t *errors);

/* A search result: {"type", "id"} for subjects and resources, {"name"}
 * for actions. */
json_t *authzen_search_item(enum authzen_search_kind kind, struct str type,
    struct str id);

/* {"page": {"next_token": token, "count": n}, "results": results
 * (borrowed)}, page first; token NULL or "" on the last page, n the
 * number of results. */
json_t *authzen_search_page(json_t *results, const char *next_token);

/* The metadata document (/.well-known/authzen-configuration) of the PDP
 * identified by `pdp`, its endpoints under `base` (no trailing slash). */
json_t *authzen_metadata_json(const char *pdp, const char *base);

#endif

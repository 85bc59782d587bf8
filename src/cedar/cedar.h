/*
 * cedar.h - the public interface of Mandate's Cedar engine.
 *
 * Cedar policies, schemas, entities and requests go in as text; a
 * decision (allow/deny, the ids of the policies that decided it, and the
 * ids of the policies that failed to evaluate) comes out.  The CLI, the
 * daemon and the tests use only this header.
 *
 * Life cycle of a policy set: cedar_policy_set_new(), then any number of
 * cedar_policy_set_add() / cedar_policy_set_link(), then
 * cedar_policy_set_finish(), which compiles the index; from then on the
 * set is immutable and may be shared between threads (reference counted).
 *
 * Every function returns an enum mandate_status; out-parameters are NULL
 * on error; diagnostics (file, line, column, span, message) are added to
 * the caller's diag_list, which never allocates.
 */
#ifndef MANDATE_CEDAR_H
#define MANDATE_CEDAR_H

#include <stdbool.h>
#include <stddef.h>

#include "../util/arena.h"
#include "../util/diag.h"
#include "../util/status.h"

struct cedar_policy_set;   /* opaque, reference counted */
struct cedar_schema;       /* opaque, owned by the caller */
struct cedar_entities;     /* opaque, owned by the caller */
struct cedar_request;      /* lives in the caller's arena */

/* How policies are named. */
enum cedar_id_mode {
	CEDAR_IDS_ANNOTATION = 0,  /* @id("...") where present, else policyN */
	CEDAR_IDS_POSITIONAL = 1,  /* always policyN (the conformance suite) */
};

/* ---- policy sets ---- */

int cedar_policy_set_new(struct cedar_policy_set **out);

/* Parse and append the policies and templates in src.  N in "policyN"
 * counts every policy and template added so far, in load order.  A
 * duplicate id is an error.  On error nothing is added. */
int cedar_policy_set_add(struct cedar_policy_set *ps, const char *src,
    size_t len, const char *file, enum cedar_id_mode mode,
    struct diag_list *dl);

/* Link template `template_id` as a new policy `new_id`; principal and
 * resource are uids in Cedar syntax (`Type::"id"`) or NULL when the
 * template has no such slot. */
int cedar_policy_set_link(struct cedar_policy_set *ps,
    const char *template_id, const char *new_id, const char *principal,
    const char *resource, struct diag_list *dl);

/* Compile the index; the set becomes immutable. */
int cedar_policy_set_finish(struct cedar_policy_set *ps, struct diag_list *dl);

/* MANDATE_EINVAL, with a diagnostic at each, when the set holds a
 * template (where templates are never linked, one would silently match
 * nothing: a forbid template would forbid nothing); why ends each
 * message.  MANDATE_OK when there is none. */
int cedar_policy_set_refuse_templates(const struct cedar_policy_set *ps,
    const char *why, struct diag_list *dl);

/* Number of policies (static and linked; templates excluded). */
size_t cedar_policy_set_count(const struct cedar_policy_set *ps);

struct cedar_policy_set *cedar_policy_set_ref(struct cedar_policy_set *ps);
void cedar_policy_set_unref(struct cedar_policy_set *ps);

/* Strict schema validation of every policy and template in the set
 * (call before or after finish).  MANDATE_OK or MANDATE_EVALIDATE. */
int cedar_policy_set_validate(const struct cedar_policy_set *ps,
    const struct cedar_schema *schema, struct diag_list *dl);

/* ---- schemas ---- */

/* Human-readable `.cedarschema` text, or the JSON form. */
int cedar_schema_parse_text(const char *src, size_t len, const char *file,
    struct cedar_schema **out, struct diag_list *dl);
int cedar_schema_parse_json(const char *src, size_t len, const char *file,
    struct cedar_schema **out, struct diag_list *dl);
void cedar_schema_free(struct cedar_schema *s);

/* ---- entities ---- */

/* A JSON array of entities in Cedar's format; the schema (may be NULL)
 * directs the parse and contributes its action entities. */
int cedar_entities_parse_json(const char *src, size_t len, const char *file,
    const struct cedar_schema *schema, struct cedar_entities **out,
    struct diag_list *dl);
/* The same from an entities array already parsed (util/json.h; its
 * nodes' spans, if any, point into src[0..len), which errors quote): the
 * store the text of root would give, or an error (nested past the text
 * parser's depth: MANDATE_ELIMIT).  A caller that builds root itself
 * should fall back to the text on any error, for the text's messages. */
struct ajson;
int cedar_entities_from_tree(const struct ajson *root, const char *src,
    size_t len, const char *file, const struct cedar_schema *schema,
    struct cedar_entities **out, struct diag_list *dl);
void cedar_entities_free(struct cedar_entities *es);

/* Layer es over `under` (borrowed; must outlive every use of es):
 * lookups that miss es continue in under.  Meant for a small per-request
 * store over the shared one; es's entities should have no parents, as
 * their ancestors are closed within es only. */
void cedar_entities_set_under(struct cedar_entities *es,
    const struct cedar_entities *under);

/* Does es itself (not what it is layered over) hold type::"id"? */
bool cedar_entities_has(const struct cedar_entities *es, const char *type,
    size_t type_len, const char *id, size_t id_len);

/* Call fn(arg, id, id_len) for each entity of es itself whose type is
 * `type`, in the order they were given, each once (an identical repeat
 * of an entity is not called again); a non-OK return stops the walk and
 * is returned. */
typedef int (*cedar_entity_fn)(void *arg, const char *id, size_t id_len);
int cedar_entities_each(const struct cedar_entities *es, const char *type,
    size_t type_len, cedar_entity_fn fn, void *arg);

/* Call fn(arg, id, id_len) for each action the schema declares whose
 * entity type is `type` (e.g. "Action"), in uid order; a non-OK return
 * stops the walk and is returned. */
int cedar_schema_each_action(const struct cedar_schema *s, const char *type,
    size_t type_len, cedar_entity_fn fn, void *arg);

/* Call fn(arg, id, id_len) once for each action of type `type` that a
 * permit policy (or template link) names in its action scope, as
 * `action == A` or `action in [A, B]`, in load order.  `action in G`
 * (a group's members) and an unconstrained action name none; forbid
 * policies are not asked (they permit nothing).  A non-OK return stops
 * the walk and is returned. */
int cedar_policy_set_each_permit_action(const struct cedar_policy_set *ps,
    const char *type, size_t type_len, cedar_entity_fn fn, void *arg);

/* Does the schema declare the action type::"id"?  NULL s: false. */
bool cedar_schema_has_action(const struct cedar_schema *s, const char *type,
    size_t type_len, const char *id, size_t id_len);

/* ---- requests ---- */

/* Is text one entity uid in Cedar syntax (`Type::"id"`)?  MANDATE_OK, or
 * the parse status with diagnostics in dl pointing into text (their file
 * NULL: the caller names the input); for a caller that must say which of
 * several uids is wrong before building a request of them. */
int cedar_uid_check(const char *text, size_t len, struct diag_list *dl);

/* A request from uids in Cedar syntax and a context JSON object (NULL or
 * "" for {}).  With a schema, the context is parsed against the action's
 * context type; with `validate` the request is also checked against the
 * schema (action declared, types in appliesTo, context conforms). */
int cedar_request_build(struct arena *a, const char *principal,
    const char *action, const char *resource, const char *context_json,
    const struct cedar_schema *schema, bool validate,
    struct cedar_request **out, struct diag_list *dl);

/* The same with the context already parsed, as a tree of util/json.h
 * (for a caller that holds it parsed: no text round trip).  The tree must
 * be what the JSON text parser would have made: valid UTF-8, no
 * duplicate keys; its byte positions are not used, so an error names no
 * place in a text (build from the text to get one).  A tree nested
 * deeper than the text parser allows is MANDATE_ELIMIT. */
struct ajson;
int cedar_request_build_tree(struct arena *a, const char *principal,
    const char *action, const char *resource, const struct ajson *context,
    const struct cedar_schema *schema, bool validate,
    struct cedar_request **out, struct diag_list *dl);

/* The same from one JSON object
 * {"principal":{"type","id"},"action":{...},"resource":{...},"context":{}}
 * (uids may also use the {"__entity":{...}} escape). */
int cedar_request_parse_json(struct arena *a, const char *json, size_t len,
    const struct cedar_schema *schema, bool validate,
    struct cedar_request **out, struct diag_list *dl);

/* ---- decisions ---- */

struct cedar_policy_error {
	const char *policy_id;
	const char *message;
	bool forbid;                  /* the policy's effect */
};

struct cedar_decision {
	bool allow;
	const char *const *reasons;   /* ids of the determining policies */
	size_t n_reasons;
	const struct cedar_policy_error *errors;
	size_t n_errors;
};

/* Authorize: forbid overrides permit, default deny; a policy whose
 * evaluation errors is skipped and listed in errors.  Everything in *out
 * is allocated in `a`.  An error return (not a deny) means no decision
 * could be made; callers must treat it as deny. */
int cedar_authorize(const struct cedar_policy_set *ps,
    const struct cedar_entities *es, const struct cedar_request *req,
    struct arena *a, struct cedar_decision *out);

#endif

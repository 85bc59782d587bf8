/*
 * entities_int.h - private interface between entities.c and request.c.
 *
 * Both files turn JSON trees (util/json.h) into Cedar values; the
 * conversion state (arena for results, optional schema for enumerated-
 * entity checks, where to report errors) travels in a struct cedar_jctx.
 * Everything returned is allocated in ctx->a and never points into the
 * JSON tree or the JSON text.  Errors point at the offending node's bytes.
 */
#ifndef MANDATE_CEDAR_ENTITIES_INT_H
#define MANDATE_CEDAR_ENTITIES_INT_H

#include "cedar_int.h"
#include "util/json.h"

/* Nesting limit of the JSON text itself: the value limit plus room for
 * the entity / request structure around values, so that too-deep values
 * are reported by the conversion (CEDAR_MAX_NESTING) with their path. */
#define CEDAR_JSON_DEPTH (CEDAR_MAX_NESTING + 8)

/* Largest JSON text accepted by the entity / context / request parsers. */
#define CEDAR_MAX_JSON_TEXT (64u << 20)

struct cedar_jctx {
	struct arena *a;                     /* results go here */
	const struct cedar_schema *schema;   /* may be NULL */
	struct diag_list *dl;
	const char *file;                    /* borrowed, for diagnostics */
	const char *src;                     /* the whole JSON text */
	size_t src_len;
	size_t off, len;                     /* where errors are reported */
	char where[160];                     /* message prefix, may be "" */
	/* Context parsing, as the reference's: the expected type directs the
	 * structure (records, sets, uids, extension constructors) but leaf
	 * types, entity types and enumerated ids are left to request
	 * validation.  Entity data is always checked in full. */
	bool lenient;
	size_t err_entity;   /* entities.c: index of the failing entity */
	const struct ajson *entities_json;   /* entities.c: the array */
};

/* Report an error at ctx->off, prefixed with ctx->where; returns code. */
int cedar_jctx_error(struct cedar_jctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* s with bytes outside printable ASCII (and backslash) as \xNN, at most
 * max input bytes (then "..."), into buf; returns buf.  For messages. */
const char *cedar_ej_printable(struct str s, size_t max, char *buf,
    size_t cap);

/* Is the tree j nested at most max deep, as the text parser counts (the
 * top-level container is 1)?  A tree made other than by parsing text
 * must pass this where the text would have met the parser's limit. */
bool cedar_json_tree_fits(const struct ajson *j, int max);

/* Parse the JSON text into a tree in `dom` (duplicate keys rejected,
 * depth and size limited); a syntax error is reported with its byte
 * offset and NULL returned (*status set to MANDATE_EPARSE / ELIMIT /
 * ENOMEM).  The tree may point into src. */
const struct ajson *cedar_json_load(struct cedar_jctx *c, struct arena *dom,
    const char *src, size_t len, int *status);

/* Copy a string or key into c->a; .p NULL on allocation failure. */
struct str cedar_json_str(struct cedar_jctx *c, const char *p, size_t n);

/* A Cedar value; `expected` (may be NULL) directs the parse and is
 * enforced (type mismatch is MANDATE_EINVAL). */
int cedar_json_value(struct cedar_jctx *c, const struct ajson *j,
    const struct cedar_type *expected, struct cedar_value *out, int depth);

/* An entity uid: {"type": T, "id": I} or {"__entity": {...}}. */
int cedar_json_uid(struct cedar_jctx *c, const struct ajson *j,
    struct cedar_uid *out);

/* A context object for `action` (typed by its context when a schema is
 * set in c). */
int cedar_json_context(struct cedar_jctx *c, const struct ajson *j,
    const struct cedar_uid *action, struct cedar_value *out);

/* Does v conform to t (with the schema in c for enumerated entities)?
 * On failure writes a reason into why. */
bool cedar_value_conforms(const struct cedar_schema *s,
    const struct cedar_value *v, const struct cedar_type *t, char *why,
    size_t why_len, int depth);

/* Is this uid allowed by the schema's enumerated entity types? */
bool cedar_ej_enum_ok(const struct cedar_schema *s,
    const struct cedar_uid *uid);

#endif

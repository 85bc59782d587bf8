/*
 * entities_int.h - private interface between entities.c and request.c.
 *
 * Both files turn jansson trees into Cedar values; the conversion state
 * (arena for results, optional schema for enumerated-entity checks, where
 * to report errors) travels in a struct cedar_jctx.  Everything returned
 * is allocated in ctx->a and never points into the jansson tree.
 */
#ifndef MANDATE_CEDAR_ENTITIES_INT_H
#define MANDATE_CEDAR_ENTITIES_INT_H

#include <jansson.h>

#include "cedar_int.h"

/* jansson flags for every Cedar JSON input: duplicate keys are errors,
 * strings may hold NUL (Cedar strings may), any value at top level. */
#define CEDAR_JSON_FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | \
    JSON_DECODE_ANY)

/* Largest JSON text accepted by the entity / context / request parsers. */
#define CEDAR_MAX_JSON_TEXT (64u << 20)

struct cedar_jctx {
	struct arena *a;                     /* results go here */
	const struct cedar_schema *schema;   /* may be NULL */
	struct diag_list *dl;
	const char *file;                    /* borrowed, for diagnostics */
	const char *src;                     /* the whole JSON text */
	size_t src_len;
	size_t off;                          /* where errors are reported */
	char where[160];                     /* message prefix, may be "" */
	bool remap_nul;                      /* see cedar_json_load */
	/* Context parsing, as the reference's: the expected type directs the
	 * structure (records, sets, uids, extension constructors) but leaf
	 * types, entity types and enumerated ids are left to request
	 * validation.  Entity data is always checked in full. */
	bool lenient;
	size_t err_entity;   /* entities.c: index of the failing entity */
};

/* Report an error at ctx->off, prefixed with ctx->where; returns code. */
int cedar_jctx_error(struct cedar_jctx *c, int code, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* s with bytes outside printable ASCII (and backslash) as \xNN, at most
 * max input bytes (then "..."), into buf; returns buf.  For messages. */
const char *cedar_ej_printable(struct str s, size_t max, char *buf,
    size_t cap);

/* Parse the JSON text; a syntax error is reported with its byte offset
 * and NULL returned (*status set to MANDATE_EPARSE / ELIMIT).  jansson
 * cannot hold NUL in object keys, which Cedar allows, so a text with
 * \u0000 escapes is parsed with them rewritten to \uFFFF (same length,
 * so offsets hold) when U+FFFF does not occur otherwise; c->remap_nul
 * then tells cedar_json_str() to turn U+FFFF back into NUL. */
json_t *cedar_json_load(struct cedar_jctx *c, const char *src, size_t len,
    int *status);

/* Copy a string or key from the tree into c->a (undoing the NUL
 * rewrite); .p NULL on allocation failure. */
struct str cedar_json_str(struct cedar_jctx *c, const char *p, size_t n);

/* A Cedar value; `expected` (may be NULL) directs the parse and is
 * enforced (type mismatch is MANDATE_EINVAL). */
int cedar_json_value(struct cedar_jctx *c, json_t *j,
    const struct cedar_type *expected, struct cedar_value *out, int depth);

/* An entity uid: {"type": T, "id": I} or {"__entity": {...}}. */
int cedar_json_uid(struct cedar_jctx *c, json_t *j, struct cedar_uid *out);

/* A context object for `action` (typed by its context when a schema is
 * set in c). */
int cedar_json_context(struct cedar_jctx *c, json_t *j,
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

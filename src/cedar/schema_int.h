/*
 * schema_int.h - the unresolved ("raw") schema shared by the two schema
 * front ends.
 *
 * schema_text.c (the .cedarschema syntax) and schema_json.c (the JSON form)
 * both produce a struct raw_schema: declarations per namespace, with type
 * and action references exactly as written.  schema.c then does what the
 * reference does after parsing either form: duplicate and reserved-name
 * checks, name resolution, common-type inlining (cycles are errors),
 * action-hierarchy checks, and building the sorted model of cedar_int.h.
 *
 * Every raw node keeps where it came from: a byte span for the text form,
 * or a JSON path (a NUL-terminated string, `where`) for the JSON form,
 * whose values carry no positions in jansson.
 *
 * All raw structures live in a scratch arena that dies when the schema
 * has been built.
 */
#ifndef MANDATE_CEDAR_SCHEMA_INT_H
#define MANDATE_CEDAR_SCHEMA_INT_H

#include "cedar_int.h"

/* Where a raw node came from. */
struct raw_loc {
	uint32_t off, len;      /* text form: byte span */
	const char *where;      /* JSON form: path such as "/NS/entityTypes/A" */
};

enum raw_tkind {
	RT_BOOL = 0,
	RT_LONG,
	RT_STRING,
	RT_SET,         /* elem */
	RT_RECORD,      /* attrs */
	RT_ENTITY,      /* name: must resolve to an entity type (JSON "Entity") */
	RT_EXT,         /* name: an extension type (JSON "Extension") */
	RT_REF,         /* name: common type or entity type */
	RT_COMMON,      /* name: must resolve to a common type */
};

struct raw_type;

struct raw_attr {
	struct str name;
	struct raw_type *type;
	bool required;
	struct raw_loc loc;
};

struct raw_type {
	uint8_t kind;                /* enum raw_tkind */
	bool open;                   /* JSON additionalAttributes: true */
	struct str name;             /* RT_ENTITY, RT_EXT, RT_REF, RT_COMMON */
	struct raw_type *elem;       /* RT_SET */
	struct raw_attr *attrs;      /* RT_RECORD, in source order */
	size_t n_attrs;
	struct raw_loc loc;
};

/* A type name as written, e.g. "User" or "NS::User". */
struct raw_name {
	struct str name;
	struct raw_loc loc;
};

struct raw_entity {
	struct str name;             /* the declared basename */
	struct raw_loc loc;
	struct raw_name *member_of;
	size_t n_member_of;
	struct raw_type *shape;      /* NULL: empty record */
	struct raw_type *tags;       /* NULL: no tags */
	bool is_enum;
	struct str *enum_ids;
	struct raw_loc *enum_locs;   /* parallel to enum_ids */
	size_t n_enum_ids;
};

struct raw_common {
	struct str name;             /* the declared basename */
	struct raw_loc loc;
	struct raw_type *type;
};

/* A reference to an action: `type` empty when written without one (the
 * current namespace's Action type, falling back to the empty namespace). */
struct raw_action_ref {
	struct str type;
	struct str id;
	struct raw_loc loc;
};

struct raw_action {
	struct str id;
	struct raw_loc loc;
	struct raw_action_ref *member_of;
	size_t n_member_of;
	bool has_applies_to;
	struct raw_name *principals;
	size_t n_principals;
	struct raw_name *resources;
	size_t n_resources;
	struct raw_type *context;    /* NULL: empty record */
};

struct raw_ns {
	struct str name;             /* "" for the empty namespace */
	struct raw_loc loc;
	struct raw_entity *entities;
	size_t n_entities, cap_entities;
	struct raw_common *commons;
	size_t n_commons, cap_commons;
	struct raw_action *actions;
	size_t n_actions, cap_actions;
};

struct raw_schema {
	struct raw_ns *ns;
	size_t n_ns, cap_ns;
};

/* Allocation-failure injection for tests: when > 0, the n-th allocation
 * from that arena fails (see arena.h fail_after). */
struct schema_fault {
	long parse;        /* the front end's scratch arena */
	long build_tmp;    /* the builder's scratch arena */
	long build_out;    /* the new schema's arena */
};

/* Context for reporting while parsing or building one schema. */
struct schema_report {
	struct diag_list *dl;
	const char *file;
	const char *src;      /* NULL for JSON semantic errors (no positions) */
	size_t src_len;
	int n_errors;
	bool limit_hit;       /* some error was MANDATE_ELIMIT */
	const struct schema_fault *fault;   /* tests only; NULL normally */
};

/* Add a diagnostic at loc: "message" or, for JSON, "message (at path)". */
void schema_error(struct schema_report *rep, int code,
    const struct raw_loc *loc, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Growable arrays in the scratch arena; NULL on allocation failure. */
struct raw_ns *raw_schema_add_ns(struct arena *a, struct raw_schema *rs);
struct raw_entity *raw_ns_add_entity(struct arena *a, struct raw_ns *ns);
struct raw_common *raw_ns_add_common(struct arena *a, struct raw_ns *ns);
struct raw_action *raw_ns_add_action(struct arena *a, struct raw_ns *ns);

/* Is s an identifier ([_a-zA-Z][_a-zA-Z0-9]*) that is not one of Cedar's
 * reserved words (true, false, if, then, else, in, is, like, has)? */
bool schema_is_ident(struct str s);

/* Is s a `::`-separated path of such identifiers (no spaces)? */
bool schema_is_path(struct str s);

/* cedar_schema_parse_text / _json with allocation failures injected. */
int schema_parse_text_fault(const char *src, size_t len,
    const struct schema_fault *fault, struct cedar_schema **out,
    struct diag_list *dl);
int schema_parse_json_fault(const char *src, size_t len,
    const struct schema_fault *fault, struct cedar_schema **out,
    struct diag_list *dl);

/* Build the model from a raw schema.  On success *out is the new schema;
 * otherwise diagnostics were added and *out is NULL.  Returns a status. */
int schema_build(const struct raw_schema *rs, struct schema_report *rep,
    struct cedar_schema **out);

/* The last step of both syntaxes: report running out of memory (oom), or
 * stop on the syntax errors already reported, or build the model. */
int schema_finish(const struct raw_schema *rs, struct schema_report *rep,
    bool oom, struct cedar_schema **out);

#endif

/*
 * cedar_int.h - the data structures shared inside the Cedar engine.
 *
 * Pipeline (like SQLite's): lex -> parse (AST in an arena; every node
 * keeps its byte span) -> compile (policy set indexed by action and scope,
 * immutable) -> eval.  Schemas and entity data are parsed into the models
 * below.  Nothing in src/cedar/ does I/O: callers hand in text and get
 * back structures and diagnostics.
 *
 * Ownership: every structure here lives in an arena owned by the object
 * that created it (a policy set, a schema, an entity store, or a request
 * arena).  Pointers between structures never cross from a longer-lived
 * arena into a shorter-lived one, except that request-time values may
 * point into the entity store, schema and policy set they were made from.
 *
 * Names: a type or action-type name is stored fully qualified and
 * canonical, e.g. "Acme::Photo" (no spaces), as a struct str.
 */
#ifndef MANDATE_CEDAR_INT_H
#define MANDATE_CEDAR_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "../util/arena.h"
#include "../util/diag.h"
#include "../util/status.h"
#include "../util/str.h"
#include "cedar.h"

/* ------------------------------------------------------------------ */
/* Limits: hitting one is a reported error (MANDATE_ELIMIT), never a crash. */

#define CEDAR_MAX_NESTING      200      /* expression / JSON / type depth */
#define CEDAR_MAX_POLICY_TEXT  (16u << 20)
#define CEDAR_MAX_EVAL_STEPS   1000000  /* per policy evaluation */
#define CEDAR_MAX_PATTERN      4096     /* elements of a `like` pattern */

/* ------------------------------------------------------------------ */
/* Entity uids */

struct cedar_uid {
	struct str type;   /* canonical, e.g. "Acme::User" or "Action" */
	struct str id;     /* the quoted id, unescaped (may hold any bytes) */
};

static inline bool
cedar_uid_eq(const struct cedar_uid *a, const struct cedar_uid *b)
{
	return str_eq(a->type, b->type) && str_eq(a->id, b->id);
}

/* Order by type, then id (byte-wise). */
static inline int
cedar_uid_cmp(const struct cedar_uid *a, const struct cedar_uid *b)
{
	int r = str_cmp(a->type, b->type);
	return r != 0 ? r : str_cmp(a->id, b->id);
}

/* True if the type name is an action type: "Action" or "NS::Action". */
bool cedar_type_is_action(struct str type);

/* ------------------------------------------------------------------ */
/* Values */

enum cedar_vkind {
	CV_BOOL = 0,
	CV_LONG,
	CV_STRING,
	CV_ENTITY,
	CV_SET,
	CV_RECORD,
	CV_EXT,
};

enum cedar_ext_kind {
	CEXT_IPADDR = 0,
	CEXT_DECIMAL,
	CEXT_DATETIME,
	CEXT_DURATION,
};

/* An ipaddr value keeps the address as written (host bits are not
 * cleared) and its prefix length; an address without /N has the full
 * prefix (32 or 128). */
struct cedar_ip {
	uint8_t is_v6;
	uint8_t prefix;
	uint8_t addr[16];   /* IPv4 uses addr[0..3] */
};

struct cedar_field;

struct cedar_value {
	uint8_t kind;   /* enum cedar_vkind */
	uint8_t ext;    /* enum cedar_ext_kind when kind == CV_EXT */
	union {
		bool b;
		/* CV_LONG; decimal as value * 10^4; datetime as milliseconds
		 * since the Unix epoch; duration as milliseconds */
		int64_t i;
		struct str s;
		struct cedar_uid uid;
		struct {
			const struct cedar_value *items;  /* sorted, unique */
			size_t n;
		} set;
		struct {
			const struct cedar_field *fields; /* sorted by key, unique */
			size_t n;
		} rec;
		struct cedar_ip ip;
	} u;
};

struct cedar_field {
	struct str key;
	struct cedar_value v;
};

/* Total order over values (kind first, then contents), used to keep sets
 * sorted and unique and to compare sets and records for equality. */
int cedar_value_cmp(const struct cedar_value *a, const struct cedar_value *b);
bool cedar_value_eq(const struct cedar_value *a, const struct cedar_value *b);

/* Sort and deduplicate items in place; returns the new count. */
size_t cedar_set_normalize(struct cedar_value *items, size_t n);

/* Sort fields by key; returns false (and leaves the order unspecified)
 * if a key occurs twice. */
bool cedar_record_normalize(struct cedar_field *fields, size_t n);

/* Field lookup in a normalized record; NULL when absent. */
const struct cedar_value *cedar_record_get(const struct cedar_value *rec,
    struct str key);

/* ------------------------------------------------------------------ */
/* Entities (the policy information point) */

struct cedar_entity {
	struct cedar_uid uid;
	struct cedar_value attrs;           /* CV_RECORD (possibly empty) */
	struct cedar_value tags;            /* CV_RECORD (possibly empty) */
	const struct cedar_uid *parents;    /* as given */
	size_t n_parents;
	const struct cedar_uid *ancestors;  /* transitive closure, sorted */
	size_t n_ancestors;
};

/* An immutable store of entities, owned by one arena, built by
 * entities.c.  Action entities declared in a schema are included when the
 * store was built with that schema. */
struct cedar_entities {
	struct arena arena;
	struct cedar_entity *entities;   /* open-addressed table, see lookup */
	size_t n_entities;
	size_t *slots;                   /* index + 1 into entities, 0 empty */
	size_t n_slots;                  /* power of two */
	/* lookups that miss continue here (borrowed; cedar_entities_set_under) */
	const struct cedar_entities *under;
};

/* NULL when the uid is not in the store. */
const struct cedar_entity *cedar_entities_find(const struct cedar_entities *es,
    const struct cedar_uid *uid);

/* Cedar's `in` on two uids: a == b, or b is an ancestor of a in the store
 * (false when a is not in the store and a != b). */
bool cedar_entities_in(const struct cedar_entities *es,
    const struct cedar_uid *a, const struct cedar_uid *b);

/* ------------------------------------------------------------------ */
/* Policy AST */

enum cedar_var {
	CVAR_PRINCIPAL = 0,
	CVAR_ACTION,
	CVAR_RESOURCE,
	CVAR_CONTEXT,
};

enum cedar_slot {
	CSLOT_PRINCIPAL = 0,   /* ?principal */
	CSLOT_RESOURCE,        /* ?resource */
};

/* Built-in and extension functions and methods, resolved by name at
 * parse time (an unknown name is a parse error, as in Cedar). */
enum cedar_fn {
	/* methods on sets */
	CFN_CONTAINS = 0,
	CFN_CONTAINS_ALL,
	CFN_CONTAINS_ANY,
	CFN_IS_EMPTY,
	/* methods on entities */
	CFN_GET_TAG,
	CFN_HAS_TAG,
	/* ipaddr */
	CFN_IP,              /* ip("...") constructor */
	CFN_IS_IPV4,
	CFN_IS_IPV6,
	CFN_IS_LOOPBACK,
	CFN_IS_MULTICAST,
	CFN_IS_IN_RANGE,
	/* decimal */
	CFN_DECIMAL,         /* decimal("...") constructor */
	CFN_LESS_THAN,
	CFN_LESS_THAN_OR_EQUAL,
	CFN_GREATER_THAN,
	CFN_GREATER_THAN_OR_EQUAL,
	/* datetime and duration */
	CFN_DATETIME,        /* datetime("...") constructor */
	CFN_DURATION,        /* duration("...") constructor */
	CFN_OFFSET,
	CFN_DURATION_SINCE,
	CFN_TO_DATE,
	CFN_TO_TIME,
	CFN_TO_MILLISECONDS,
	CFN_TO_SECONDS,
	CFN_TO_MINUTES,
	CFN_TO_HOURS,
	CFN_TO_DAYS,
	CFN__COUNT
};

enum cedar_expr_kind {
	CX_BOOL = 0,     /* b */
	CX_LONG,         /* i */
	CX_STRING,       /* s (unescaped) */
	CX_ENTITY,       /* uid */
	CX_VAR,          /* var */
	CX_SLOT,         /* slot (only inside templates) */
	CX_NOT,          /* !a */
	CX_NEG,          /* -a (a negative literal is folded into CX_LONG) */
	CX_AND,          /* a && b */
	CX_OR,           /* a || b */
	CX_EQ,           /* a == b */
	CX_NE,
	CX_LT,
	CX_LE,
	CX_GT,
	CX_GE,
	CX_IN,           /* a in b */
	CX_ADD,
	CX_SUB,
	CX_MUL,
	CX_HAS,          /* a has s (a dotted path is desugared into &&) */
	CX_LIKE,         /* a like pat */
	CX_IS,           /* a is s (`is T in b` is desugared into &&) */
	CX_IF,           /* if a then b else c */
	CX_GETATTR,      /* a.s or a["s"] */
	CX_CALL,         /* fn(items...)   - extension constructor */
	CX_METHOD,       /* a.fn(items...) - receiver in a */
	CX_SET,          /* [items...] */
	CX_RECORD,       /* {keys[i]: items[i], ...} in source order */
};

/* `like` patterns: code points, with CEDAR_PAT_WILDCARD for an unescaped
 * `*` (an escaped `\*` is the code point '*'). */
#define CEDAR_PAT_WILDCARD 0xFFFFFFFFu

struct cedar_pattern {
	const uint32_t *elems;
	size_t n;
};

struct cedar_expr {
	uint8_t kind;          /* enum cedar_expr_kind */
	uint8_t var;           /* enum cedar_var / enum cedar_slot */
	uint16_t fn;           /* enum cedar_fn for CX_CALL / CX_METHOD */
	uint32_t off, len;     /* byte span in the policy source */
	struct cedar_expr *a, *b, *c;
	bool bval;
	int64_t ival;
	struct str s;          /* string literal, attribute name, type name */
	struct cedar_uid uid;
	struct cedar_pattern pat;
	struct cedar_expr **items;   /* CX_SET, CX_RECORD values, call args */
	struct str *keys;            /* CX_RECORD keys, parallel to items */
	uint32_t n_items;
};

/* Scope constraints.  For principal and resource: ANY, EQ, IN, IS, IS_IN;
 * for action: ANY, EQ, IN, IN_SET. */
enum cedar_scope_kind {
	CSCOPE_ANY = 0,
	CSCOPE_EQ,       /* == uid   (or == ?slot) */
	CSCOPE_IN,       /* in uid   (or in ?slot) */
	CSCOPE_IS,       /* is type */
	CSCOPE_IS_IN,    /* is type in uid (or in ?slot) */
	CSCOPE_IN_SET,   /* action in [uids...] */
};

struct cedar_scope {
	uint8_t kind;           /* enum cedar_scope_kind */
	bool is_slot;           /* the uid is ?principal / ?resource */
	struct cedar_uid uid;   /* EQ, IN, IS_IN (unless is_slot) */
	struct str is_type;     /* IS, IS_IN */
	const struct cedar_uid *uids;   /* IN_SET */
	size_t n_uids;
	uint32_t off, len;
};

struct cedar_annotation {
	struct str key;
	struct str value;       /* "" when written without a value */
	uint32_t off, len;
};

struct cedar_cond {
	bool is_when;           /* when {...}; false for unless {...} */
	struct cedar_expr *expr;
	uint32_t off, len;
};

enum cedar_effect {
	CEDAR_PERMIT = 0,
	CEDAR_FORBID = 1,
};

struct cedar_policy {
	struct str id;          /* @id annotation or "policyN"; see parse */
	uint8_t effect;         /* enum cedar_effect */
	bool is_template;       /* has a ?principal or ?resource slot */
	struct cedar_scope principal, action, resource;
	const struct cedar_cond *conds;
	size_t n_conds;
	const struct cedar_annotation *annotations;
	size_t n_annotations;
	/* where it came from */
	const char *file;       /* borrowed file name, may be NULL */
	const char *src;        /* the source text (owned by the set's arena) */
	size_t src_len;
	uint32_t off, len;      /* the whole policy */
	/* template links: for a linked policy, the template it came from and
	 * the values bound to the slots */
	const struct cedar_policy *template_of;
	bool has_slot_principal, has_slot_resource;
	struct cedar_uid slot_principal, slot_resource;
};

/* Parse policy text into policies allocated in `a`.  Every policy gets
 * id "policy<first_index + position>" unless `use_annotation_ids` and it
 * has an @id annotation.  On a syntax error, diagnostics are added to dl
 * (parsing continues after the error to find more) and MANDATE_EPARSE is
 * returned with *out_policies NULL.  `file` is borrowed for diagnostics;
 * `src` is copied into the arena so the AST may point into it. */
int cedar_parse_policies(struct arena *a, const char *src, size_t len,
    const char *file, size_t first_index, bool use_annotation_ids,
    struct cedar_policy **out_policies, size_t *out_n,
    struct diag_list *dl);

/* Parse one expression (for tests and tools); same error contract. */
int cedar_parse_expr(struct arena *a, const char *src, size_t len,
    struct cedar_expr **out, struct diag_list *dl);

/* Parse an entity uid written in Cedar syntax, e.g. `Acme::User::"alice"`.
 * Used by the CLI and by JSON escapes. */
int cedar_parse_uid(struct arena *a, const char *src, size_t len,
    struct cedar_uid *out, struct diag_list *dl);

/* Link a template: a new policy with id new_id in `a`, with the slots
 * bound.  MANDATE_EINVAL when `tmpl` is not a template or a slot it uses
 * is not given. */
int cedar_link_template(struct arena *a, const struct cedar_policy *tmpl,
    struct str new_id, const struct cedar_uid *principal,
    const struct cedar_uid *resource, struct cedar_policy **out);

/* ------------------------------------------------------------------ */
/* Evaluation */

struct cedar_request {
	struct cedar_uid principal, action, resource;
	struct cedar_value context;   /* CV_RECORD */
};

/* An evaluation error: a code and a short message. */
struct cedar_eval_error {
	int code;                  /* MANDATE_EEVAL or MANDATE_ELIMIT */
	uint32_t off, len;         /* span of the failing expression */
	char msg[160];
};

struct cedar_eval_ctx {
	struct arena *arena;                  /* values made during eval */
	const struct cedar_entities *entities;
	const struct cedar_request *req;
	const struct cedar_policy *policy;    /* for slots */
	uint64_t steps, max_steps;
	struct cedar_eval_error err;
};

/* Evaluate an expression.  MANDATE_OK with *out set, or MANDATE_EEVAL /
 * MANDATE_ELIMIT / MANDATE_ENOMEM with ctx->err filled in. */
int cedar_eval(struct cedar_eval_ctx *ctx, const struct cedar_expr *e,
    struct cedar_value *out);

/* Does the policy apply (scope and all conditions true)?  *applies is
 * meaningful only when MANDATE_OK is returned; an error means the policy
 * is skipped and reported. */
int cedar_policy_eval(struct cedar_eval_ctx *ctx,
    const struct cedar_policy *p, bool *applies);

/* Extension constructors: parse the text form (as `ip("...")` etc. do).
 * Return false on a malformed string. */
bool cedar_ip_parse(struct str s, struct cedar_ip *out);
bool cedar_decimal_parse(struct str s, int64_t *out);
bool cedar_datetime_parse(struct str s, int64_t *out_ms);
bool cedar_duration_parse(struct str s, int64_t *out_ms);

/* ------------------------------------------------------------------ */
/* Schema model (both the .cedarschema text and the JSON form parse into
 * this; common types are resolved and inlined, all names are fully
 * qualified). */

enum cedar_tkind {
	CT_BOOL = 0,
	CT_LONG,
	CT_STRING,
	CT_ENTITY,      /* name = entity type */
	CT_SET,         /* elem */
	CT_RECORD,      /* attrs */
	CT_EXT,         /* ext = enum cedar_ext_kind */
};

struct cedar_attr_type;

struct cedar_type {
	uint8_t kind;                 /* enum cedar_tkind */
	uint8_t ext;
	struct str name;              /* CT_ENTITY */
	const struct cedar_type *elem;        /* CT_SET */
	const struct cedar_attr_type *attrs;  /* CT_RECORD, sorted by name */
	size_t n_attrs;
};

struct cedar_attr_type {
	struct str name;
	const struct cedar_type *type;
	bool required;
};

struct cedar_entity_type {
	struct str name;
	const struct str *member_of;    /* parent entity types */
	size_t n_member_of;
	const struct cedar_type *shape; /* CT_RECORD; empty record if none */
	const struct cedar_type *tags;  /* NULL when the type has no tags */
	const struct str *enum_ids;     /* enumerated entity type; else NULL */
	size_t n_enum_ids;
};

struct cedar_action_decl {
	struct cedar_uid uid;                 /* e.g. Action::"view" */
	const struct cedar_uid *member_of;    /* action groups */
	size_t n_member_of;
	bool has_applies_to;
	const struct str *principal_types;
	size_t n_principal_types;
	const struct str *resource_types;
	size_t n_resource_types;
	const struct cedar_type *context;     /* CT_RECORD; empty if none */
};

struct cedar_schema {
	struct arena arena;
	struct cedar_entity_type *entity_types;   /* sorted by name */
	size_t n_entity_types;
	struct cedar_action_decl *actions;        /* sorted by uid */
	size_t n_actions;
};

/* Parse the human-readable (.cedarschema) or the JSON schema form into a
 * new schema (free with cedar_schema_free).  Errors go to dl; *out is
 * NULL on error. */
int cedar_schema_parse_text(const char *src, size_t len, const char *file,
    struct cedar_schema **out, struct diag_list *dl);
int cedar_schema_parse_json(const char *src, size_t len, const char *file,
    struct cedar_schema **out, struct diag_list *dl);
void cedar_schema_free(struct cedar_schema *s);

const struct cedar_entity_type *cedar_schema_entity_type(
    const struct cedar_schema *s, struct str name);
const struct cedar_action_decl *cedar_schema_action(
    const struct cedar_schema *s, const struct cedar_uid *uid);

/* ------------------------------------------------------------------ */
/* JSON forms (entities.c): Cedar's entity and value JSON, with the
 * `__entity` and `__extn` escapes (both the "arg" and "args" forms).
 * With a schema, parsing is schema-directed: a string whose expected type
 * is an extension type becomes that extension value, a record whose
 * expected type is an entity becomes a uid, attributes are checked
 * against the entity type's shape, and the schema's action entities (with
 * their groups) are added to the store. */

/* Parse an entities array into a new store; *out NULL on error. */
int cedar_entities_parse_json(const char *src, size_t len, const char *file,
    const struct cedar_schema *schema, struct cedar_entities **out,
    struct diag_list *dl);
/* The same from an entities array already parsed (cedar.h). */
struct ajson;
int cedar_entities_from_tree(const struct ajson *root, const char *src,
    size_t len, const char *file, const struct cedar_schema *schema,
    struct cedar_entities **out, struct diag_list *dl);
void cedar_entities_free(struct cedar_entities *es);

/* Parse one JSON value; `expected` (may be NULL) directs the parse. */
int cedar_value_parse_json(struct arena *a, const char *src, size_t len,
    const struct cedar_type *expected, struct cedar_value *out,
    struct diag_list *dl);

/* Parse a context record for the given action (its declared context type
 * directs the parse when a schema is given). */
int cedar_context_parse_json(struct arena *a, const char *src, size_t len,
    const struct cedar_schema *schema, const struct cedar_uid *action,
    struct cedar_value *out, struct diag_list *dl);

/* Check a request against a schema as Cedar's request validation does:
 * the action is declared, principal and resource types are in its
 * appliesTo, the context conforms to its context type.  MANDATE_OK or
 * MANDATE_EVALIDATE with diagnostics. */
int cedar_request_check(const struct cedar_schema *s,
    const struct cedar_request *req, struct diag_list *dl);

/* Render a value in Cedar's JSON value form into buf (NUL-terminated,
 * truncated to cap); returns the length it needed. */
size_t cedar_value_to_json(const struct cedar_value *v, char *buf, size_t cap);

/* ------------------------------------------------------------------ */
/* Validation (validate.c): Cedar's strict-mode typechecker.  Every policy
 * and template of the set is checked against every request environment
 * the schema allows; MANDATE_OK or MANDATE_EVALIDATE with one diagnostic
 * per problem (policy id, span, message). */

int cedar_validate_policies(const struct cedar_schema *s,
    const struct cedar_policy *const *policies, size_t n,
    struct diag_list *dl);

/* ------------------------------------------------------------------ */
/* Policy sets (policyset.c, authorize.c) */

struct cedar_index;   /* private to authorize.c */

struct cedar_policy_set {
	struct arena arena;
	int refs;                        /* atomic reference count */
	bool finished;                   /* immutable once true */
	struct cedar_policy **all;       /* templates and policies, load order */
	size_t n_all, cap_all;
	size_t n_loaded;                 /* for positional ids */
	struct cedar_index *index;       /* built by cedar_policy_set_finish */
};

#endif

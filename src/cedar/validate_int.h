/*
 * validate_int.h - private structures of the strict-mode validator.
 *
 * Shared by validate.c (typing rules, checks, driver) and
 * validate_types.c (type algebra, schema indexes).  Types here are the
 * typechecker's own (Cedar's validation types: Bool with True/False
 * singletons, Long, String, Entity, Set, Record with required/optional
 * attributes, extension types, and an error type); schema types
 * (struct cedar_type) are converted into them on first use.  Everything
 * lives in the validator's arenas and dies at the end of one
 * cedar_validate_policies() call.
 */
#ifndef MANDATE_CEDAR_VALIDATE_INT_H
#define MANDATE_CEDAR_VALIDATE_INT_H

#include "cedar_int.h"

enum vt_kind {
	VT_BOOL = 0,
	VT_LONG,
	VT_STRING,
	VT_ENTITY,
	VT_SET,
	VT_RECORD,
	VT_EXT,
	VT_ERR,       /* a subexpression that failed to typecheck (already
	               * reported): absorbs further errors about it */
};

enum vt_bool {
	VB_ANY = 0,   /* Bool */
	VB_TT,        /* the singleton type True */
	VB_FF,        /* the singleton type False */
};

struct vtype;

struct vt_attr {
	struct str name;
	const struct vtype *type;
	bool required;
};

struct vtype {
	uint8_t kind;              /* enum vt_kind */
	uint8_t b;                 /* enum vt_bool when VT_BOOL */
	uint8_t ext;               /* enum cedar_ext_kind when VT_EXT */
	struct str name;           /* VT_ENTITY */
	/* VT_ENTITY: the schema's declaration, NULL when the type is not a
	 * declared entity type (an action type, or undeclared) */
	const struct cedar_entity_type *et;
	const struct vtype *elem;  /* VT_SET */
	const struct vt_attr *attrs;   /* VT_RECORD, sorted by name, unique */
	size_t n_attrs;
};

#define VAL_WORK_LIMIT   (256u << 20)  /* bytes of scratch per call */
#define VAL_MAX_DEPTH    (4 * CEDAR_MAX_NESTING)
#define VAL_MAX_STEPS    20000000ull   /* typing steps per policy */
#define VAL_MAX_TYPES    20000         /* entity types / actions indexed */

/* A capability: `e has attr` (tag NULL) or `e.hasTag(tag)` is known to
 * hold; keyed by the expressions' structure. */
struct cap {
	const struct cedar_expr *e;     /* the expression tested */
	const struct cedar_expr *tag;   /* hasTag key; NULL for an attribute */
	struct str attr;
};

struct caps {
	const struct cap *v;
	size_t n;
};

/* The result of typing an expression: its type and the capabilities it
 * establishes when it evaluates to true. */
struct tres {
	const struct vtype *t;
	struct caps c;
};

struct name_ix {
	struct str name;
	size_t ix;
};

struct uid_ix {
	const struct cedar_uid *uid;
	size_t ix;
};

struct tcache_ent {
	const struct cedar_type *k;
	const struct vtype *v;
};

/* One request environment: an action with one of its principal types,
 * one of its resource types, its context; for templates the slot types. */
struct venv {
	size_t action;                  /* index into s->actions */
	struct str ptype, rtype;
	struct vtype pvt, rvt;          /* principal and resource types */
	const struct vtype *context;
	bool has_pslot, has_rslot;
	struct str pslot, rslot;        /* slot entity types */
};

/* The validator's state for one cedar_validate_policies() call. */
struct vctx {
	const struct cedar_schema *s;
	struct arena sa;                /* schema-derived, whole call */
	struct arena wa;                /* scratch, reset per environment */
	struct name_ix *ets;            /* entity types sorted by name */
	size_t n_ets;
	struct uid_ix *acts;            /* actions sorted by uid */
	size_t n_acts;
	uint64_t *et_anc;               /* row i: ancestors of entity type i */
	size_t et_words;
	uint64_t *act_anc;              /* row i: ancestors of action i */
	size_t act_words;
	/* per action: its principal / resource types' declarations */
	const struct cedar_entity_type ***act_pdecl, ***act_rdecl;
	struct tcache_ent *cache;       /* schema type -> vtype */
	size_t cache_cap, cache_n;
	/* the policy and environment being checked */
	const struct cedar_policy *p;
	const struct venv *env;
	int depth;
	int lenient;                    /* > 0: under a failed guard */
	uint64_t steps;
	int err;                        /* a limit hit: MANDATE_ELIMIT/ENOMEM */
	struct diag_list *dl;
	bool failed;
};

/* Singleton types (static storage, never freed). */
extern const struct vtype cedar_vt_true, cedar_vt_false, cedar_vt_bool,
    cedar_vt_long, cedar_vt_string, cedar_vt_err;
extern const char *const cedar_vt_ext_names[4];

/* validate_types.c: schema indexes (SIZE_MAX when absent) and queries */
int cedar_vt_index_schema(struct vctx *v);
size_t cedar_vt_etype_ix(const struct vctx *v, struct str name);
size_t cedar_vt_action_ix(const struct vctx *v, const struct cedar_uid *uid);
const struct cedar_entity_type *cedar_vt_etype(const struct vctx *v,
    struct str name);
bool cedar_vt_is_action_type(const struct vctx *v, struct str ety);
bool cedar_vt_valid_entity_uid(const struct vctx *v,
    const struct cedar_uid *uid);
bool cedar_vt_uid_known(const struct vctx *v, const struct cedar_uid *uid);
/* entity type a is b or (transitively) a member of b */
bool cedar_vt_type_in(const struct vctx *v, struct str a, struct str b);
/* action a is b or (transitively) in action group b */
bool cedar_vt_action_in(const struct vctx *v, const struct cedar_uid *a,
    const struct cedar_uid *b);

/* validate_types.c: types.  Constructors allocate in the arena given (or
 * v->wa); NULL on out-of-memory. */
struct vtype *cedar_vt_new(struct arena *a, uint8_t kind);
const struct vtype *cedar_vt_entity(struct vctx *v, struct str name);
const struct vtype *cedar_vt_bool_of(uint8_t b);
const struct vtype *cedar_vt_from_schema(struct vctx *v,
    const struct cedar_type *ct, int depth);
bool cedar_vt_eq(const struct vtype *a, const struct vtype *b);
int cedar_vt_lub(struct vctx *v, const struct vtype *a, const struct vtype *b,
    const struct vtype **out);
const struct vt_attr *cedar_vt_attr(const struct vtype *rec, struct str name);
/* Render for messages into buf (bounded); returns buf. */
const char *cedar_vt_name(const struct vtype *t, char *buf, size_t cap);

#endif

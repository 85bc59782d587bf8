/*
 * validate_int.h - private structures of the strict-mode validator.
 *
 * Types here are the typechecker's own (Cedar's validation types: Bool
 * with True/False singletons, Long, String, Entity, Set, Record with
 * required/optional attributes, extension types); schema types
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
	const struct vtype *elem;  /* VT_SET */
	const struct vt_attr *attrs;   /* VT_RECORD, sorted by name, unique */
	size_t n_attrs;
};

#endif

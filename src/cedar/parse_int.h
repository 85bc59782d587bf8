/*
 * parse_int.h - parser internals shared by the parse module's files and
 * its tests: the AST depth limit and the debug printer that writes an AST
 * back as Cedar text.
 */
#ifndef MANDATE_CEDAR_PARSE_INT_H
#define MANDATE_CEDAR_PARSE_INT_H

#include <stddef.h>

#include "cedar_int.h"

/* The parser bounds two depths: syntactic nesting (parentheses, sets,
 * records, calls, if) by CEDAR_MAX_NESTING, and the depth of the
 * resulting AST (which also grows along chains like a || b || c ...) by
 * CEDAR_MAX_AST_DEPTH, so that every recursive walk over a parsed AST
 * (evaluator, validator, printer) is bounded. */
#define CEDAR_MAX_AST_DEPTH 1000

/* Write an expression / a policy as Cedar text into buf (always
 * NUL-terminated when cap > 0).  The text parses back to the same AST
 * (binary operators are fully parenthesized; `has` paths and `is ... in`
 * appear desugared).  Returns MANDATE_OK, or MANDATE_ELIMIT when the text
 * did not fit (buf then holds a truncated prefix).  *out_len (may be
 * NULL) receives the length written. */
int cedar_expr_dump(const struct cedar_expr *e, char *buf, size_t cap,
    size_t *out_len);
int cedar_policy_dump(const struct cedar_policy *p, char *buf, size_t cap,
    size_t *out_len);

/* True if s is an identifier Cedar accepts as an attribute name after a
 * dot (not reserved, not `__cedar`). */
bool cedar_is_plain_ident(struct str s);

#endif

/*
 * lex_int.h - the Cedar policy lexer (private to the parse module).
 *
 * The lexer turns policy text into tokens on demand; tokens point into the
 * source by byte offset, so nothing is allocated.  It follows the token
 * rules of the reference grammar: identifiers [_a-zA-Z][_a-zA-Z0-9]*
 * (keywords are identifiers with a `kw` tag), unsigned integers, string
 * literals with their escapes left in place (unescaping is done by
 * cedar_unescape below, which knows string vs pattern rules), slots
 * `?name`, `//` comments and Unicode white space.
 */
#ifndef MANDATE_CEDAR_LEX_INT_H
#define MANDATE_CEDAR_LEX_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cedar_int.h"

enum tok_kind {
	TK_EOF = 0,
	TK_ERROR,      /* msg says why */
	TK_IDENT,      /* kw tells keywords apart */
	TK_INT,        /* ival; overflow when it does not fit in u64 */
	TK_STRING,     /* off/len include the quotes; escapes not processed */
	TK_SLOT,       /* ?name (kw: KW_PRINCIPAL, KW_RESOURCE or KW_NONE) */
	TK_AT, TK_DOT, TK_COMMA, TK_SEMI, TK_COLON, TK_COLONCOLON,
	TK_LPAREN, TK_RPAREN, TK_LBRACE, TK_RBRACE, TK_LBRACKET, TK_RBRACKET,
	TK_EQ, TK_NE, TK_LT, TK_LE, TK_GE, TK_GT, TK_ASSIGN,
	TK_OR, TK_AND, TK_PLUS, TK_MINUS, TK_STAR, TK_SLASH, TK_PERCENT,
	TK_BANG,
};

enum tok_kw {
	KW_NONE = 0,
	/* reserved: may not name a type, attribute, record key or variable */
	KW_TRUE, KW_FALSE, KW_IF, KW_THEN, KW_ELSE, KW_IN, KW_IS, KW_HAS,
	KW_LIKE,
	/* ordinary identifiers with a role somewhere */
	KW_PERMIT, KW_FORBID, KW_WHEN, KW_UNLESS,
	KW_PRINCIPAL, KW_ACTION, KW_RESOURCE, KW_CONTEXT,
};

/* Reserved identifiers (Cedar's list) cannot be used as names. */
static inline bool
kw_is_reserved(int kw)
{
	return kw >= KW_TRUE && kw <= KW_LIKE;
}

struct token {
	uint8_t kind;          /* enum tok_kind */
	uint8_t kw;            /* enum tok_kw */
	bool overflow;         /* TK_INT: more than 2^64 - 1 */
	uint32_t off, len;
	uint64_t ival;
	const char *msg;       /* TK_ERROR: static text */
};

struct lexer {
	const char *src;
	size_t len;
	size_t pos;
};

void lex_init(struct lexer *lx, const char *src, size_t len);
void lex_next(struct lexer *lx, struct token *t);

/* Text of a token kind for messages ("`==`", "identifier", ...). */
const char *lex_kind_name(int kind);

/* First invalid UTF-8 byte offset, or len when the text is valid. */
size_t lex_utf8_check(const char *s, size_t len);

/* Decode one UTF-8 sequence of valid text at s (n bytes left); returns the
 * code point and sets *used. */
uint32_t lex_utf8_decode(const char *s, size_t n, size_t *used);

/* Unescape the body of a string literal (without quotes).  With
 * `pattern`, an unescaped `*` becomes CEDAR_PAT_WILDCARD and `\*` a
 * literal star.  Output is UTF-8 bytes in out (strings) or code points in
 * cps (patterns); both buffers must hold `len` elements.  Returns true on
 * success; on failure *err_off (relative to body) and *err_len locate the
 * bad escape and *err_msg says why. */
bool cedar_unescape(const char *body, size_t len, bool pattern,
    char *out, uint32_t *cps, size_t *out_n,
    size_t *err_off, size_t *err_len, const char **err_msg);

#endif

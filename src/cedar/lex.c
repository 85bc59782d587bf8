/*
 * lex.c - tokens of the Cedar policy language, and string unescaping.
 *
 * Token rules follow the reference grammar (cedar-policy-core's
 * grammar.lalrpop): longest match, keywords win over identifiers of the
 * same length, `//` comments to the end of the line, and white space as
 * Unicode defines it.  A string literal is `"` then any characters, where
 * a backslash escapes the next character except a newline, then `"`; its
 * escapes are checked later by cedar_unescape, which applies the escape
 * rules of Rust string literals that Cedar uses.
 */
#include "lex_int.h"
#include "../util/utf8.h"

#include <string.h>

void
lex_init(struct lexer *lx, const char *src, size_t len)
{
	lx->src = src;
	lx->len = len;
	lx->pos = 0;
}

size_t
lex_utf8_check(const char *s, size_t len)
{
	return utf8_invalid_at(s, len);
}

uint32_t
lex_utf8_decode(const char *s, size_t n, size_t *used)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	size_t k, extra;

	if (n == 0) {
		*used = 0;
		return 0;
	}
	if (p[0] < 0x80) {
		*used = 1;
		return p[0];
	}
	if (p[0] >= 0xF0) {
		extra = 3; cp = p[0] & 0x07;
	} else if (p[0] >= 0xE0) {
		extra = 2; cp = p[0] & 0x0F;
	} else {
		extra = 1; cp = p[0] & 0x1F;
	}
	for (k = 1; k <= extra && k < n; k++)
		cp = (cp << 6) | (p[k] & 0x3F);
	*used = k;
	return cp;
}

/* Unicode White_Space (what `\s` matches in the reference lexer). */
static bool
is_unicode_space(uint32_t cp)
{
	switch (cp) {
	case 0x09: case 0x0A: case 0x0B: case 0x0C: case 0x0D: case 0x20:
	case 0x85: case 0xA0: case 0x1680: case 0x2028: case 0x2029:
	case 0x202F: case 0x205F: case 0x3000:
		return true;
	default:
		return cp >= 0x2000 && cp <= 0x200A;
	}
}

static bool
is_ident_start(int c)
{
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z');
}

static bool
is_ident_char(int c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

#define KW(w, k) { w, sizeof(w) - 1, k }
static const struct {
	const char *word;
	uint8_t len, kw;
} keywords[] = {
	KW("true", KW_TRUE), KW("false", KW_FALSE), KW("if", KW_IF),
	KW("then", KW_THEN), KW("else", KW_ELSE), KW("in", KW_IN),
	KW("is", KW_IS), KW("has", KW_HAS), KW("like", KW_LIKE),
	KW("permit", KW_PERMIT), KW("forbid", KW_FORBID),
	KW("when", KW_WHEN), KW("unless", KW_UNLESS),
	KW("principal", KW_PRINCIPAL), KW("action", KW_ACTION),
	KW("resource", KW_RESOURCE), KW("context", KW_CONTEXT),
};
#undef KW

/* Every identifier is looked up here: lengths first (no keyword is longer
 * than 9 bytes), then bytes. */
static uint8_t
keyword_of(const char *p, size_t n)
{
	if (n < 2 || n > 9)
		return KW_NONE;
	for (size_t i = 0; i < sizeof(keywords) / sizeof(keywords[0]); i++) {
		if (keywords[i].len == n && keywords[i].word[0] == p[0] &&
		    memcmp(keywords[i].word, p, n) == 0)
			return keywords[i].kw;
	}
	return KW_NONE;
}

/* Skip white space and comments. */
static void
skip_space(struct lexer *lx)
{
	while (lx->pos < lx->len) {
		unsigned char c = (unsigned char)lx->src[lx->pos];

		if (c == ' ' || c == '\t' || c == '\n' || c == '\r' ||
		    c == '\v' || c == '\f') {
			lx->pos++;
		} else if (c == '/' && lx->pos + 1 < lx->len &&
		    lx->src[lx->pos + 1] == '/') {
			while (lx->pos < lx->len && lx->src[lx->pos] != '\n' &&
			    lx->src[lx->pos] != '\r')
				lx->pos++;
		} else if (c >= 0x80) {
			size_t used;
			uint32_t cp = lex_utf8_decode(lx->src + lx->pos,
			    lx->len - lx->pos, &used);
			if (!is_unicode_space(cp))
				return;
			lx->pos += used;
		} else {
			return;
		}
	}
}

void
lex_next(struct lexer *lx, struct token *t)
{
	const char *s = lx->src;
	size_t start, n = lx->len;
	char c, d;

	skip_space(lx);
	memset(t, 0, sizeof(*t));
	start = lx->pos;
	t->off = (uint32_t)start;
	if (start >= n) {
		t->kind = TK_EOF;
		return;
	}
	c = s[start];
	d = start + 1 < n ? s[start + 1] : '\0';

	if (is_ident_start((unsigned char)c)) {
		size_t i = start + 1;
		while (i < n && is_ident_char((unsigned char)s[i]))
			i++;
		t->kind = TK_IDENT;
		t->kw = keyword_of(s + start, i - start);
		lx->pos = i;
	} else if (c >= '0' && c <= '9') {
		size_t i = start;
		uint64_t v = 0;
		while (i < n && s[i] >= '0' && s[i] <= '9') {
			unsigned dig = (unsigned)(s[i] - '0');
			if (v > (UINT64_MAX - dig) / 10)
				t->overflow = true;
			else
				v = v * 10 + dig;
			i++;
		}
		t->kind = TK_INT;
		t->ival = v;
		lx->pos = i;
	} else if (c == '"') {
		size_t i = start + 1;
		t->kind = TK_ERROR;
		t->msg = "unterminated string literal";
		while (i < n) {
			if (s[i] == '"') {
				t->kind = TK_STRING;
				t->msg = NULL;
				i++;
				break;
			}
			if (s[i] == '\\') {
				if (i + 1 >= n) {
					i++;
					break;
				}
				if (s[i + 1] == '\n') {
					t->msg = "invalid string literal: "
					    "a backslash ends a line";
					i++;
					break;
				}
				i += 2;
				continue;
			}
			i++;
		}
		lx->pos = i;
	} else if (c == '?' && is_ident_start((unsigned char)d)) {
		size_t i = start + 2;
		while (i < n && is_ident_char((unsigned char)s[i]))
			i++;
		t->kind = TK_SLOT;
		if (i - start == 10 && memcmp(s + start, "?principal", 10) == 0)
			t->kw = KW_PRINCIPAL;
		else if (i - start == 9 && memcmp(s + start, "?resource", 9) == 0)
			t->kw = KW_RESOURCE;
		lx->pos = i;
	} else {
		size_t w = 1;
		switch (c) {
		case '@': t->kind = TK_AT; break;
		case '.': t->kind = TK_DOT; break;
		case ',': t->kind = TK_COMMA; break;
		case ';': t->kind = TK_SEMI; break;
		case ':':
			if (d == ':') { t->kind = TK_COLONCOLON; w = 2; }
			else t->kind = TK_COLON;
			break;
		case '(': t->kind = TK_LPAREN; break;
		case ')': t->kind = TK_RPAREN; break;
		case '{': t->kind = TK_LBRACE; break;
		case '}': t->kind = TK_RBRACE; break;
		case '[': t->kind = TK_LBRACKET; break;
		case ']': t->kind = TK_RBRACKET; break;
		case '=':
			if (d == '=') { t->kind = TK_EQ; w = 2; }
			else t->kind = TK_ASSIGN;
			break;
		case '!':
			if (d == '=') { t->kind = TK_NE; w = 2; }
			else t->kind = TK_BANG;
			break;
		case '<':
			if (d == '=') { t->kind = TK_LE; w = 2; }
			else t->kind = TK_LT;
			break;
		case '>':
			if (d == '=') { t->kind = TK_GE; w = 2; }
			else t->kind = TK_GT;
			break;
		case '|':
			if (d == '|') { t->kind = TK_OR; w = 2; }
			else { t->kind = TK_ERROR; t->msg = "invalid token `|` (did you mean `||`?)"; }
			break;
		case '&':
			if (d == '&') { t->kind = TK_AND; w = 2; }
			else { t->kind = TK_ERROR; t->msg = "invalid token `&` (did you mean `&&`?)"; }
			break;
		case '+': t->kind = TK_PLUS; break;
		case '-': t->kind = TK_MINUS; break;
		case '*': t->kind = TK_STAR; break;
		case '/': t->kind = TK_SLASH; break;
		case '%': t->kind = TK_PERCENT; break;
		default:
			t->kind = TK_ERROR;
			t->msg = "invalid character";
			if ((unsigned char)c >= 0x80)
				(void)lex_utf8_decode(s + start, n - start, &w);
			break;
		}
		lx->pos = start + w;
	}
	t->len = (uint32_t)(lx->pos - start);
}

const char *
lex_kind_name(int kind)
{
	switch (kind) {
	case TK_EOF: return "end of input";
	case TK_ERROR: return "invalid token";
	case TK_IDENT: return "identifier";
	case TK_INT: return "integer";
	case TK_STRING: return "string literal";
	case TK_SLOT: return "template slot";
	case TK_AT: return "`@`";
	case TK_DOT: return "`.`";
	case TK_COMMA: return "`,`";
	case TK_SEMI: return "`;`";
	case TK_COLON: return "`:`";
	case TK_COLONCOLON: return "`::`";
	case TK_LPAREN: return "`(`";
	case TK_RPAREN: return "`)`";
	case TK_LBRACE: return "`{`";
	case TK_RBRACE: return "`}`";
	case TK_LBRACKET: return "`[`";
	case TK_RBRACKET: return "`]`";
	case TK_EQ: return "`==`";
	case TK_NE: return "`!=`";
	case TK_LT: return "`<`";
	case TK_LE: return "`<=`";
	case TK_GE: return "`>=`";
	case TK_GT: return "`>`";
	case TK_ASSIGN: return "`=`";
	case TK_OR: return "`||`";
	case TK_AND: return "`&&`";
	case TK_PLUS: return "`+`";
	case TK_MINUS: return "`-`";
	case TK_STAR: return "`*`";
	case TK_SLASH: return "`/`";
	case TK_PERCENT: return "`%`";
	case TK_BANG: return "`!`";
	default: return "token";
	}
}

/* One escape at body[i] == '\\'.  Returns the code point, or -1 with the
 * error set; *end is the index after the escape. */
static long
unescape_one(const char *b, size_t n, size_t i, bool pattern, size_t *end,
    bool *literal_star, const char **msg)
{
	char c;

	*literal_star = false;
	if (i + 1 >= n) {
		*end = n;
		*msg = "a string cannot end with a lone backslash";
		return -1;
	}
	c = b[i + 1];
	*end = i + 2;
	switch (c) {
	case 'n': return '\n';
	case 'r': return '\r';
	case 't': return '\t';
	case '\\': return '\\';
	case '0': return 0;
	case '\'': return '\'';
	case '"': return '"';
	case '*':
		if (pattern) {
			*literal_star = true;
			return '*';
		}
		*msg = "invalid escape `\\*` (only allowed in `like` patterns)";
		return -1;
	case 'x': {
		int h1 = i + 2 < n ? hex_digit_value(b[i + 2]) : -1;
		int h2 = i + 3 < n ? hex_digit_value(b[i + 3]) : -1;
		if (h1 < 0 || h2 < 0) {
			*end = i + 2 + (h1 >= 0);
			*msg = "invalid `\\x` escape: two hex digits expected";
			return -1;
		}
		*end = i + 4;
		if (h1 * 16 + h2 > 0x7F) {
			*msg = "invalid `\\x` escape: above \\x7F (use \\u{...})";
			return -1;
		}
		return h1 * 16 + h2;
	}
	case 'u': {
		size_t k = i + 2, digits = 0;
		uint32_t v = 0;
		if (k >= n || b[k] != '{') {
			*msg = "invalid `\\u` escape: `{` expected";
			return -1;
		}
		k++;
		if (k < n && b[k] == '_') {
			*end = k + 1;
			*msg = "invalid `\\u` escape: leading underscore";
			return -1;
		}
		while (k < n && b[k] != '}') {
			int h = hex_digit_value(b[k]);
			if (b[k] == '_') {
				k++;
				continue;
			}
			if (h < 0) {
				*end = k + 1;
				*msg = "invalid character in `\\u{...}` escape";
				return -1;
			}
			if (++digits > 6) {
				*end = k + 1;
				*msg = "`\\u{...}` escape has more than 6 hex digits";
				return -1;
			}
			v = v * 16 + (uint32_t)h;
			k++;
		}
		if (k >= n) {
			*end = n;
			*msg = "unterminated `\\u{...}` escape";
			return -1;
		}
		*end = k + 1;
		if (digits == 0) {
			*msg = "empty `\\u{}` escape";
			return -1;
		}
		if (v > 0x10FFFF) {
			*msg = "`\\u{...}` escape is above 10FFFF";
			return -1;
		}
		if (v >= 0xD800 && v <= 0xDFFF) {
			*msg = "`\\u{...}` escape is a lone surrogate";
			return -1;
		}
		return (long)v;
	}
	default:
		*msg = "invalid escape sequence";
		return -1;
	}
}

bool
cedar_unescape(const char *body, size_t len, bool pattern, char *out,
    uint32_t *cps, size_t *out_n, size_t *err_off, size_t *err_len,
    const char **err_msg)
{
	size_t i = 0, o = 0;

	while (i < len) {
		uint32_t cp;
		bool star = false;
		unsigned char c = (unsigned char)body[i];

		if (c == '\\') {
			size_t end;
			long v = unescape_one(body, len, i, pattern, &end,
			    &star, err_msg);
			if (v < 0) {
				*err_off = i;
				*err_len = end - i;
				return false;
			}
			cp = (uint32_t)v;
			i = end;
			/* only \* is a literal star: a star written any other
			 * way (\u{2a}, \x2a) is a wildcard, as in the reference
			 * implementation */
			if (pattern && !star && cp == '*') {
				cps[o++] = CEDAR_PAT_WILDCARD;
				continue;
			}
		} else if (c == '\r') {
			*err_off = i;
			*err_len = 1;
			*err_msg = "bare carriage return in a string literal";
			return false;
		} else if (c < 0x80) {
			cp = c;
			i++;
			if (pattern && c == '*') {
				cps[o++] = CEDAR_PAT_WILDCARD;
				continue;
			}
		} else {
			size_t used;
			cp = lex_utf8_decode(body + i, len - i, &used);
			if (!pattern) {
				memcpy(out + o, body + i, used);
				o += used;
				i += used;
				continue;
			}
			i += used;
		}
		if (pattern)
			cps[o++] = cp;
		else
			o += utf8_encode(cp, out + o);
	}
	*out_n = o;
	return true;
}

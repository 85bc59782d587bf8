/*
 * schema_text.c - the human-readable Cedar schema syntax (.cedarschema).
 *
 * A hand-written lexer and recursive-descent parser for the grammar of the
 * reference (cedar_schema/grammar.lalrpop):
 *
 *   Schema    := { Annot* ( 'namespace' Path '{' { Annot* Decl } '}' | Decl ) }
 *   Decl      := Entity | Action | TypeDecl
 *   Entity    := 'entity' Idents ( 'enum' '[' STR {',' STR} ']'
 *                | ['in' EntTypes] [['='] RecType] ['tags' Type] ) ';'
 *   Action    := 'action' Names ['in' (QualName | '[' QualNames ']')]
 *                ['appliesTo' '{' AppDecls '}'] ['attributes' '{' '}'] ';'
 *   TypeDecl  := 'type' Ident '=' Type ';'
 *   Type      := Path | 'Set' '<' Type '>' | RecType
 *   RecType   := '{' [ Annot* Name ['?'] ':' Type { ',' ... } [','] ] '}'
 *   AppDecls  := ('principal'|'resource') ':' EntTypes
 *                | 'context' ':' (Path | RecType), comma separated
 *   EntTypes  := Path | '[' [Path {',' Path}] ']'
 *   QualName  := Name | Path '::' STR
 *   Annot     := '@' AnyIdent ['(' STR ')']
 *
 * It produces the raw schema of schema_int.h; names are resolved later by
 * schema.c.  After a syntax error the parser skips to the end of the
 * declaration and continues, so one run reports several errors.
 * Annotations are checked (no duplicate keys) and then dropped.
 */
#include "schema_int.h"
#include "../util/utf8.h"

#include <stdlib.h>
#include <string.h>

#define SCHEMA_TEXT_ARENA_LIMIT ((size_t)512 << 20)

enum tkind {
	T_EOF = 0,
	T_IDENT,
	T_STRING,
	T_NUMBER,
	T_COMMA,
	T_SEMI,
	T_COLON,
	T_DCOLON,
	T_LBRACE,
	T_RBRACE,
	T_LBRACK,
	T_RBRACK,
	T_LT,
	T_GT,
	T_EQ,
	T_QUESTION,
	T_AT,
	T_LPAREN,
	T_RPAREN,
	T_BAD,          /* a character no token starts with */
};

struct token {
	int kind;        /* enum tkind */
	uint32_t off, len;
};

struct tparser {
	const char *src;
	size_t len;
	size_t pos;                  /* just after cur */
	struct token cur;
	struct arena *a;
	struct raw_schema *rs;
	struct schema_report *rep;
	uint32_t prev_end;           /* end of the token before cur */
	ptrdiff_t empty_ns;          /* index of the empty namespace or -1 */
	int depth;
	int braces;                  /* `{` consumed minus `}` consumed */
	bool oom;
};

/* ------------------------------------------------------------------ */
/* Lexer */

/* Length of a Unicode White_Space character at p (as Rust's \s), else 0. */
static size_t
space_len(const unsigned char *p, size_t n)
{
	if (n == 0)
		return 0;
	if (p[0] == ' ' || (p[0] >= '\t' && p[0] <= '\r'))
		return 1;
	if (n >= 2 && p[0] == 0xC2 && (p[1] == 0x85 || p[1] == 0xA0))
		return 2;
	if (n < 3)
		return 0;
	if (p[0] == 0xE1 && p[1] == 0x9A && p[2] == 0x80)
		return 3;
	if (p[0] == 0xE2 && p[1] == 0x80 &&
	    ((p[2] >= 0x80 && p[2] <= 0x8A) || p[2] == 0xA8 || p[2] == 0xA9 ||
	    p[2] == 0xAF))
		return 3;
	if (p[0] == 0xE2 && p[1] == 0x81 && p[2] == 0x9F)
		return 3;
	if (p[0] == 0xE3 && p[1] == 0x80 && p[2] == 0x80)
		return 3;
	return 0;
}

static bool
is_ident_start(char c)
{
	return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '_';
}

static bool
is_ident_char(char c)
{
	return is_ident_start(c) || (c >= '0' && c <= '9');
}

/* Scan one token starting at *pos; *pos moves past it. */
static struct token
lex(const char *src, size_t len, size_t *pos)
{
	const unsigned char *u = (const unsigned char *)src;
	struct token t = { T_EOF, 0, 0 };
	size_t i = *pos, sl;

	for (;;) {
		if (i < len && (sl = space_len(u + i, len - i)) > 0) {
			i += sl;
		} else if (i + 1 < len && src[i] == '/' && src[i + 1] == '/') {
			while (i < len && src[i] != '\n' && src[i] != '\r')
				i++;
		} else {
			break;
		}
	}
	t.off = (uint32_t)i;
	if (i >= len) {
		*pos = i;
		return t;
	}
	if (is_ident_start(src[i])) {
		t.kind = T_IDENT;
		while (i < len && is_ident_char(src[i]))
			i++;
	} else if (src[i] >= '0' && src[i] <= '9') {
		t.kind = T_NUMBER;
		while (i < len && src[i] >= '0' && src[i] <= '9')
			i++;
	} else if (src[i] == '"') {
		i++;
		while (i < len && src[i] != '"') {
			if (src[i] == '\\' && i + 1 < len)
				i++;
			i++;
		}
		if (i >= len) {
			t.kind = T_BAD;   /* unterminated */
			i = len;
		} else {
			t.kind = T_STRING;
			i++;
		}
	} else {
		switch (src[i]) {
		case ',': t.kind = T_COMMA; break;
		case ';': t.kind = T_SEMI; break;
		case ':':
			if (i + 1 < len && src[i + 1] == ':') {
				t.kind = T_DCOLON;
				i++;
			} else {
				t.kind = T_COLON;
			}
			break;
		case '{': t.kind = T_LBRACE; break;
		case '}': t.kind = T_RBRACE; break;
		case '[': t.kind = T_LBRACK; break;
		case ']': t.kind = T_RBRACK; break;
		case '<': t.kind = T_LT; break;
		case '>': t.kind = T_GT; break;
		case '=': t.kind = T_EQ; break;
		case '?': t.kind = T_QUESTION; break;
		case '@': t.kind = T_AT; break;
		case '(': t.kind = T_LPAREN; break;
		case ')': t.kind = T_RPAREN; break;
		default:
			t.kind = T_BAD;
			/* one whole UTF-8 character */
			if (u[i] >= 0x80) {
				i++;
				while (i < len && (u[i] & 0xC0) == 0x80)
					i++;
				i--;
			}
			break;
		}
		i++;
	}
	t.len = (uint32_t)(i - t.off);
	*pos = i;
	return t;
}

static void
next(struct tparser *p)
{
	if (p->cur.kind == T_LBRACE)
		p->braces++;
	else if (p->cur.kind == T_RBRACE)
		p->braces--;
	p->prev_end = p->cur.off + p->cur.len;
	p->cur = lex(p->src, p->len, &p->pos);
}

static struct token
peek(const struct tparser *p)
{
	size_t pos = p->pos;
	return lex(p->src, p->len, &pos);
}

static struct str
tok_str(const struct tparser *p, const struct token *t)
{
	return str_make(p->src + t->off, t->len);
}

static bool
is_kw(const struct tparser *p, const char *kw)
{
	return p->cur.kind == T_IDENT && str_eq_c(tok_str(p, &p->cur), kw);
}

static struct raw_loc
tok_loc(const struct token *t)
{
	struct raw_loc l = { t->off, t->len, NULL };
	return l;
}

static struct raw_loc
span_from(const struct tparser *p, uint32_t start)
{
	struct raw_loc l = { start, 0, NULL };

	l.len = p->prev_end > start ? p->prev_end - start : 0;
	return l;
}

static void
syntax_error(struct tparser *p, const char *expected)
{
	struct raw_loc l = tok_loc(&p->cur);

	if (p->cur.kind == T_EOF)
		schema_error(p->rep, MANDATE_EPARSE, &l,
		    "unexpected end of input, expected %s", expected);
	else if (p->cur.kind == T_BAD && p->src[p->cur.off] == '"')
		schema_error(p->rep, MANDATE_EPARSE, &l,
		    "unterminated string literal");
	else
		schema_error(p->rep, MANDATE_EPARSE, &l,
		    "unexpected `%.*s`, expected %s",
		    (int)(p->cur.len > 40 ? 40 : p->cur.len),
		    p->src + p->cur.off, expected);
}

static bool
expect(struct tparser *p, int kind, const char *what)
{
	if (p->cur.kind != kind) {
		syntax_error(p, what);
		return false;
	}
	next(p);
	return true;
}

static void *
palloc(struct tparser *p, size_t n)
{
	void *r = arena_zalloc(p->a, n);

	if (r == NULL)
		p->oom = true;
	return r;
}

/* Append one element to an arena array that doubles when full. */
static void *
push(struct tparser *p, void *arr, size_t *n, size_t *cap, size_t size)
{
	char *a = arr;

	if (*n == *cap) {
		size_t ncap = *cap != 0 ? *cap * 2 : 4;
		if (ncap > SIZE_MAX / size ||
		    (a = arena_realloc(p->a, arr, *cap * size,
		    ncap * size)) == NULL) {
			p->oom = true;
			return NULL;
		}
		*cap = ncap;
	}
	memset(a + *n * size, 0, size);
	(*n)++;
	return a;
}

/* Unescape the current T_STRING token (Cedar's escapes: \n \r \t \\ \0
 * \' \" and \u{hex}); reports and returns false on a bad escape. */
static bool
string_value(struct tparser *p, struct str *out)
{
	const char *s = p->src + p->cur.off + 1;
	size_t n = p->cur.len - 2, k = 0;
	char *o;

	if (memchr(s, '\\', n) == NULL) {
		*out = str_make(s, n);
		return true;
	}
	if ((o = palloc(p, n + 1)) == NULL)
		return false;
	for (size_t i = 0; i < n; i++) {
		uint32_t cp = 0;
		size_t digits = 0;

		if (s[i] != '\\') {
			o[k++] = s[i];
			continue;
		}
		i++;
		switch (s[i]) {
		case 'n': o[k++] = '\n'; continue;
		case 'r': o[k++] = '\r'; continue;
		case 't': o[k++] = '\t'; continue;
		case '\\': o[k++] = '\\'; continue;
		case '0': o[k++] = '\0'; continue;
		case '\'': o[k++] = '\''; continue;
		case '"': o[k++] = '"'; continue;
		case 'u':
			break;
		default:
			goto bad;
		}
		/* \u{X} with 1 to 6 hex digits, a Unicode scalar value */
		if (i + 1 >= n || s[i + 1] != '{')
			goto bad;
		i += 2;
		while (i < n && s[i] != '}') {
			int h = hex_digit_value(s[i]);
			if (h < 0 || ++digits > 6)
				goto bad;
			cp = cp * 16 + (uint32_t)h;
			i++;
		}
		if (i >= n || digits == 0 || cp > 0x10FFFF ||
		    (cp >= 0xD800 && cp <= 0xDFFF))
			goto bad;
		/* the escape text is at least as long as its encoding */
		k += utf8_encode(cp, o + k);
	}
	*out = str_make(o, k);
	return true;
bad:
	{
		struct raw_loc l = tok_loc(&p->cur);
		schema_error(p->rep, MANDATE_EPARSE, &l,
		    "invalid escape sequence in string literal");
	}
	return false;
}

/* ------------------------------------------------------------------ */
/* Pieces */

/* An identifier that is not a reserved word. */
static bool
ident(struct tparser *p, struct str *out, struct raw_loc *loc)
{
	if (p->cur.kind != T_IDENT) {
		syntax_error(p, "an identifier");
		return false;
	}
	*out = tok_str(p, &p->cur);
	if (!schema_is_ident(*out)) {
		struct raw_loc l = tok_loc(&p->cur);
		schema_error(p->rep, MANDATE_EPARSE, &l,
		    "`%.*s` is a reserved identifier", (int)out->n, out->p);
		return false;
	}
	if (loc != NULL)
		*loc = tok_loc(&p->cur);
	next(p);
	return true;
}

/* Name := Ident | STR */
static bool
name(struct tparser *p, struct str *out, struct raw_loc *loc)
{
	if (p->cur.kind == T_STRING) {
		*loc = tok_loc(&p->cur);
		if (!string_value(p, out))
			return false;
		next(p);
		return true;
	}
	return ident(p, out, loc);
}

/* Path := Ident {'::' Ident}, returned in canonical form "A::B". */
static bool
path(struct tparser *p, struct str *out, struct raw_loc *loc)
{
	uint32_t start = p->cur.off;
	struct str part;
	char *buf = NULL;
	size_t n = 0, cap = 0;

	if (!ident(p, &part, NULL))
		return false;
	*out = part;
	while (p->cur.kind == T_DCOLON && peek(p).kind == T_IDENT) {
		next(p);
		if (buf == NULL) {
			cap = out->n + 64;
			if ((buf = palloc(p, cap)) == NULL)
				return false;
			memcpy(buf, out->p, out->n);
			n = out->n;
		}
		if (!ident(p, &part, NULL))
			return false;
		if (n + 2 + part.n > cap) {
			size_t ncap = (n + 2 + part.n) * 2;
			char *nb = arena_realloc(p->a, buf, cap, ncap);
			if (nb == NULL) {
				p->oom = true;
				return false;
			}
			buf = nb;
			cap = ncap;
		}
		memcpy(buf + n, "::", 2);
		memcpy(buf + n + 2, part.p, part.n);
		n += 2 + part.n;
		*out = str_make(buf, n);
	}
	*loc = span_from(p, start);
	return true;
}

struct annot {
	struct str key;
	struct raw_loc loc;
};

static int
cmp_annot(const void *x, const void *y)
{
	const struct annot *a = x, *b = y;
	int r = str_cmp(a->key, b->key);

	if (r != 0)
		return r;
	return a->loc.off < b->loc.off ? -1 : a->loc.off > b->loc.off;
}

/* Annotations: checked for duplicate keys, then dropped. */
static bool
annotations(struct tparser *p)
{
	struct annot *v = NULL;
	size_t n = 0, cap = 0;

	while (p->cur.kind == T_AT) {
		next(p);
		if (p->cur.kind != T_IDENT) {
			syntax_error(p, "an annotation name");
			return false;
		}
		if ((v = push(p, v, &n, &cap, sizeof(*v))) == NULL)
			return false;
		v[n - 1].key = tok_str(p, &p->cur);
		v[n - 1].loc = tok_loc(&p->cur);
		next(p);
		if (p->cur.kind == T_LPAREN) {
			struct str val;
			next(p);
			if (p->cur.kind != T_STRING) {
				syntax_error(p, "a string literal");
				return false;
			}
			if (!string_value(p, &val))
				return false;
			next(p);
			if (!expect(p, T_RPAREN, "`)`"))
				return false;
		}
	}
	if (n > 1) {
		qsort(v, n, sizeof(*v), cmp_annot);
		for (size_t i = 1; i < n; i++)
			if (str_eq(v[i].key, v[i - 1].key)) {
				schema_error(p->rep, MANDATE_EPARSE, &v[i].loc,
				    "duplicate annotation `@%.*s`",
				    (int)v[i].key.n, v[i].key.p);
				return false;
			}
	}
	return true;
}

/* ------------------------------------------------------------------ */
/* Types */

static struct raw_type *type_expr(struct tparser *p);

static bool
nest_enter(struct tparser *p)
{
	if (++p->depth > CEDAR_MAX_NESTING) {
		struct raw_loc l = tok_loc(&p->cur);
		schema_error(p->rep, MANDATE_ELIMIT, &l,
		    "type nesting exceeds the limit of %d levels",
		    CEDAR_MAX_NESTING);
		return false;
	}
	return true;
}

/* The attributes of a record type; cur is just after `{`, and the
 * closing `}` is consumed. */
static bool
record_body(struct tparser *p, struct raw_type *t)
{
	size_t cap = 0;

	while (p->cur.kind != T_RBRACE) {
		struct raw_attr *ra;
		uint32_t start;

		if (!annotations(p))
			return false;
		start = p->cur.off;
		if ((t->attrs = push(p, t->attrs, &t->n_attrs, &cap,
		    sizeof(*t->attrs))) == NULL)
			return false;
		ra = &t->attrs[t->n_attrs - 1];
		if (p->cur.kind != T_STRING && p->cur.kind != T_IDENT) {
			syntax_error(p, "an attribute name");
			return false;
		}
		if (!name(p, &ra->name, &ra->loc))
			return false;
		ra->required = true;
		if (p->cur.kind == T_QUESTION) {
			ra->required = false;
			next(p);
		}
		if (!expect(p, T_COLON, "`:`"))
			return false;
		if ((ra->type = type_expr(p)) == NULL)
			return false;
		ra->loc = span_from(p, start);
		if (p->cur.kind != T_COMMA)
			break;
		next(p);
	}
	return expect(p, T_RBRACE, "`}` or `,`");
}

static struct raw_type *
record_type(struct tparser *p)
{
	uint32_t start = p->cur.off;
	struct raw_type *t;

	if (!nest_enter(p))
		return NULL;
	if ((t = palloc(p, sizeof(*t))) == NULL)
		return NULL;
	t->kind = RT_RECORD;
	if (!expect(p, T_LBRACE, "`{`") || !record_body(p, t))
		return NULL;
	t->loc = span_from(p, start);
	p->depth--;
	return t;
}

/* Type := Path | 'Set' '<' Type '>' | RecType */
static struct raw_type *
type_expr(struct tparser *p)
{
	uint32_t start = p->cur.off;
	struct raw_type *t;

	if (p->cur.kind == T_LBRACE)
		return record_type(p);
	if (!nest_enter(p))
		return NULL;
	if ((t = palloc(p, sizeof(*t))) == NULL)
		return NULL;
	if (is_kw(p, "Set") && peek(p).kind == T_LT) {
		next(p);
		next(p);
		t->kind = RT_SET;
		if ((t->elem = type_expr(p)) == NULL ||
		    !expect(p, T_GT, "`>`"))
			return NULL;
		t->loc = span_from(p, start);
	} else {
		if (p->cur.kind != T_IDENT) {
			syntax_error(p, "a type");
			return NULL;
		}
		t->kind = RT_REF;
		if (!path(p, &t->name, &t->loc))
			return NULL;
	}
	p->depth--;
	return t;
}

/* EntTypes := Path | '[' [Path {',' Path}] ']' */
static bool
entity_types(struct tparser *p, struct raw_name **out, size_t *out_n)
{
	size_t cap = 0;

	*out = NULL;
	*out_n = 0;
	if (p->cur.kind != T_LBRACK) {
		if ((*out = push(p, NULL, out_n, &cap, sizeof(**out))) == NULL)
			return false;
		return path(p, &(*out)[0].name, &(*out)[0].loc);
	}
	next(p);
	if (p->cur.kind == T_RBRACK) {
		next(p);
		return true;
	}
	for (;;) {
		if ((*out = push(p, *out, out_n, &cap, sizeof(**out))) == NULL)
			return false;
		if (!path(p, &(*out)[*out_n - 1].name,
		    &(*out)[*out_n - 1].loc))
			return false;
		if (p->cur.kind != T_COMMA)
			break;
		next(p);
	}
	return expect(p, T_RBRACK, "`]` or `,`");
}

/* ------------------------------------------------------------------ */
/* Declarations */

struct declared {
	struct str name;
	struct raw_loc loc;
};

static bool
entity_decl(struct tparser *p, struct raw_ns *ns)
{
	struct declared *names = NULL;
	size_t n = 0, cap = 0;
	struct raw_entity proto;

	memset(&proto, 0, sizeof(proto));
	next(p);   /* entity */
	for (;;) {
		if ((names = push(p, names, &n, &cap, sizeof(*names))) == NULL)
			return false;
		if (!ident(p, &names[n - 1].name, &names[n - 1].loc))
			return false;
		if (p->cur.kind != T_COMMA)
			break;
		next(p);
	}
	if (is_kw(p, "enum")) {
		size_t ecap = 0, lcap = 0, ln = 0;

		next(p);
		proto.is_enum = true;
		if (!expect(p, T_LBRACK, "`[`"))
			return false;
		for (;;) {
			if (p->cur.kind != T_STRING) {
				syntax_error(p, "a string literal");
				return false;
			}
			if ((proto.enum_ids = push(p, proto.enum_ids,
			    &proto.n_enum_ids, &ecap,
			    sizeof(*proto.enum_ids))) == NULL ||
			    (proto.enum_locs = push(p, proto.enum_locs, &ln,
			    &lcap, sizeof(*proto.enum_locs))) == NULL)
				return false;
			proto.enum_locs[ln - 1] = tok_loc(&p->cur);
			if (!string_value(p,
			    &proto.enum_ids[proto.n_enum_ids - 1]))
				return false;
			next(p);
			if (p->cur.kind != T_COMMA)
				break;
			next(p);
		}
		if (!expect(p, T_RBRACK, "`]` or `,`"))
			return false;
	} else {
		if (is_kw(p, "in")) {
			next(p);
			if (!entity_types(p, &proto.member_of,
			    &proto.n_member_of))
				return false;
		}
		if (p->cur.kind == T_EQ) {
			next(p);
			if (p->cur.kind != T_LBRACE) {
				syntax_error(p, "`{`");
				return false;
			}
		}
		if (p->cur.kind == T_LBRACE &&
		    (proto.shape = record_type(p)) == NULL)
			return false;
		if (is_kw(p, "tags")) {
			next(p);
			if ((proto.tags = type_expr(p)) == NULL)
				return false;
		}
	}
	if (!expect(p, T_SEMI, proto.is_enum || proto.tags != NULL ? "`;`" :
	    proto.shape != NULL ? "`tags` or `;`" :
	    proto.member_of != NULL || proto.n_member_of > 0 ?
	    "`=`, `{`, `tags` or `;`" :
	    "`,`, `in`, `=`, `{`, `tags`, `enum` or `;`"))
		return false;
	for (size_t i = 0; i < n; i++) {
		struct raw_entity *e = raw_ns_add_entity(p->a, ns);
		if (e == NULL) {
			p->oom = true;
			return false;
		}
		*e = proto;
		e->name = names[i].name;
		e->loc = names[i].loc;
	}
	return true;
}

/* QualName := Name | Path '::' STR */
static bool
qual_name(struct tparser *p, struct raw_action_ref *ref)
{
	uint32_t start = p->cur.off;
	struct str part;
	char *buf = NULL;
	size_t n = 0;

	if (p->cur.kind == T_STRING) {
		ref->loc = tok_loc(&p->cur);
		if (!string_value(p, &ref->id))
			return false;
		next(p);
		return true;
	}
	if (!ident(p, &part, NULL))
		return false;
	if (p->cur.kind != T_DCOLON) {
		ref->id = part;
		ref->loc = span_from(p, start);
		return true;
	}
	/* a path, then `::` and the id as a string */
	ref->type = part;
	while (p->cur.kind == T_DCOLON) {
		next(p);
		if (p->cur.kind == T_STRING) {
			if (!string_value(p, &ref->id))
				return false;
			next(p);
			ref->loc = span_from(p, start);
			return true;
		}
		if (!ident(p, &part, NULL))
			return false;
		if ((buf = palloc(p, ref->type.n + 2 + part.n)) == NULL)
			return false;
		memcpy(buf, ref->type.p, ref->type.n);
		memcpy(buf + ref->type.n, "::", 2);
		memcpy(buf + ref->type.n + 2, part.p, part.n);
		n = ref->type.n + 2 + part.n;
		ref->type = str_make(buf, n);
	}
	syntax_error(p, "`::` and the action's id as a string");
	return false;
}

static bool
applies_to(struct tparser *p, struct raw_action *proto, struct str first,
    const struct raw_loc *first_loc)
{
	bool seen_p = false, seen_r = false, seen_c = false;
	struct token open = p->cur;

	if (!expect(p, T_LBRACE, "`{`"))
		return false;
	proto->has_applies_to = true;
	do {
		struct token kw = p->cur;
		struct raw_loc kl = tok_loc(&kw);

		if (is_kw(p, "principal") || is_kw(p, "resource")) {
			bool is_p = is_kw(p, "principal");
			if (is_p ? seen_p : seen_r) {
				schema_error(p->rep, MANDATE_EPARSE, &kl,
				    "`%s` is declared twice in the appliesTo of "
				    "action `%.*s`", is_p ? "principal" :
				    "resource", (int)first.n, first.p);
				return false;
			}
			next(p);
			if (!expect(p, T_COLON, "`:`"))
				return false;
			if (is_p) {
				seen_p = true;
				if (!entity_types(p, &proto->principals,
				    &proto->n_principals))
					return false;
			} else {
				seen_r = true;
				if (!entity_types(p, &proto->resources,
				    &proto->n_resources))
					return false;
			}
			/* `[]` is an error in this syntax (the JSON form's
			 * empty list is allowed and means "none") */
			if ((is_p ? proto->n_principals : proto->n_resources) ==
			    0) {
				schema_error(p->rep, MANDATE_EPARSE, &kl,
				    "for action `%.*s`, `%s` is `[]`, which is "
				    "invalid", (int)first.n, first.p, is_p ?
				    "principal" : "resource");
				return false;
			}
		} else if (is_kw(p, "context")) {
			if (seen_c) {
				schema_error(p->rep, MANDATE_EPARSE, &kl,
				    "`context` is declared twice in the "
				    "appliesTo of action `%.*s`", (int)first.n,
				    first.p);
				return false;
			}
			seen_c = true;
			next(p);
			if (!expect(p, T_COLON, "`:`"))
				return false;
			if (p->cur.kind == T_LBRACE) {
				if ((proto->context = record_type(p)) == NULL)
					return false;
			} else {
				struct raw_type *t = palloc(p, sizeof(*t));
				if (t == NULL)
					return false;
				t->kind = RT_COMMON;
				if (!path(p, &t->name, &t->loc))
					return false;
				proto->context = t;
			}
		} else {
			syntax_error(p, "`principal`, `resource` or `context`");
			return false;
		}
		if (p->cur.kind != T_COMMA)
			break;
		next(p);
	} while (p->cur.kind != T_RBRACE);
	if (!expect(p, T_RBRACE, "`}` or `,`"))
		return false;
	if (!seen_p || !seen_r) {
		struct raw_loc l = tok_loc(&open);
		(void)first_loc;
		schema_error(p->rep, MANDATE_EPARSE, &l,
		    "the appliesTo of action `%.*s` must declare `%s`",
		    (int)first.n, first.p, !seen_p ? "principal" : "resource");
		return false;
	}
	return true;
}

static bool
action_decl(struct tparser *p, struct raw_ns *ns)
{
	struct declared *names = NULL;
	size_t n = 0, cap = 0;
	struct raw_action proto;

	memset(&proto, 0, sizeof(proto));
	next(p);   /* action */
	for (;;) {
		if ((names = push(p, names, &n, &cap, sizeof(*names))) == NULL)
			return false;
		if (p->cur.kind != T_STRING && p->cur.kind != T_IDENT) {
			syntax_error(p, "an action name");
			return false;
		}
		if (!name(p, &names[n - 1].name, &names[n - 1].loc))
			return false;
		if (p->cur.kind != T_COMMA)
			break;
		next(p);
	}
	if (is_kw(p, "in")) {
		size_t pcap = 0;

		next(p);
		if (p->cur.kind == T_LBRACK) {
			next(p);
			for (;;) {
				if ((proto.member_of = push(p, proto.member_of,
				    &proto.n_member_of, &pcap,
				    sizeof(*proto.member_of))) == NULL)
					return false;
				if (!qual_name(p, &proto.member_of[
				    proto.n_member_of - 1]))
					return false;
				if (p->cur.kind != T_COMMA)
					break;
				next(p);
			}
			if (!expect(p, T_RBRACK, "`]` or `,`"))
				return false;
		} else {
			if ((proto.member_of = push(p, NULL, &proto.n_member_of,
			    &pcap, sizeof(*proto.member_of))) == NULL)
				return false;
			if (!qual_name(p, &proto.member_of[0]))
				return false;
		}
	}
	if (is_kw(p, "appliesTo")) {
		next(p);
		if (!applies_to(p, &proto, names[0].name, &names[0].loc))
			return false;
	}
	if (is_kw(p, "attributes")) {
		next(p);
		if (!expect(p, T_LBRACE, "`{`") || !expect(p, T_RBRACE, "`}`"))
			return false;
	} else if (p->cur.kind != T_SEMI) {
		syntax_error(p, proto.has_applies_to ? "`;`" :
		    proto.n_member_of > 0 ? "`appliesTo` or `;`" :
		    "`,`, `in`, `appliesTo` or `;`");
		return false;
	}
	if (!expect(p, T_SEMI, "`;`"))
		return false;
	for (size_t i = 0; i < n; i++) {
		struct raw_action *a = raw_ns_add_action(p->a, ns);
		if (a == NULL) {
			p->oom = true;
			return false;
		}
		*a = proto;
		a->id = names[i].name;
		a->loc = names[i].loc;
	}
	return true;
}

static bool
type_decl(struct tparser *p, struct raw_ns *ns)
{
	struct raw_common *c;
	struct str nm;
	struct raw_loc loc;
	struct raw_type *t;

	next(p);   /* type */
	if (!ident(p, &nm, &loc) || !expect(p, T_EQ, "`=`") ||
	    (t = type_expr(p)) == NULL || !expect(p, T_SEMI, "`;`"))
		return false;
	if ((c = raw_ns_add_common(p->a, ns)) == NULL) {
		p->oom = true;
		return false;
	}
	c->name = nm;
	c->loc = loc;
	c->type = t;
	return true;
}

static bool
decl(struct tparser *p, struct raw_ns *ns)
{
	p->depth = 0;
	if (is_kw(p, "entity"))
		return entity_decl(p, ns);
	if (is_kw(p, "action"))
		return action_decl(p, ns);
	if (is_kw(p, "type"))
		return type_decl(p, ns);
	syntax_error(p, "`entity`, `action` or `type`");
	return false;
}

/* After an error: skip to just past the `;` that ends the declaration,
 * to a keyword that starts the next one, or to the `}` that closes the
 * enclosing namespace (not consumed).  `base` is the brace depth where the
 * declaration started.  Always makes progress when `advance` is set. */
static void
recover(struct tparser *p, int base, bool advance)
{
	if (advance && p->cur.kind != T_EOF)
		next(p);
	while (p->cur.kind != T_EOF && !p->oom) {
		if (p->braces <= base) {
			if (p->cur.kind == T_RBRACE)
				return;
			if (p->cur.kind == T_SEMI) {
				next(p);
				return;
			}
			if (is_kw(p, "entity") || is_kw(p, "action") ||
			    is_kw(p, "type") || is_kw(p, "namespace"))
				return;
		}
		next(p);
	}
}

static ptrdiff_t
empty_namespace(struct tparser *p)
{
	struct raw_ns *ns;

	if (p->empty_ns >= 0)
		return p->empty_ns;
	if ((ns = raw_schema_add_ns(p->a, p->rs)) == NULL) {
		p->oom = true;
		return -1;
	}
	p->empty_ns = (ptrdiff_t)(p->rs->n_ns - 1);
	return p->empty_ns;
}

static void
namespace_decl(struct tparser *p)
{
	struct str nm;
	struct raw_loc loc;
	struct raw_ns *ns;
	size_t idx;
	int base;

	next(p);   /* namespace */
	if (!path(p, &nm, &loc)) {
		recover(p, p->braces, false);
		if (p->cur.kind == T_RBRACE)
			next(p);
		return;
	}
	if ((ns = raw_schema_add_ns(p->a, p->rs)) == NULL) {
		p->oom = true;
		return;
	}
	idx = p->rs->n_ns - 1;
	ns->name = nm;
	ns->loc = loc;
	if (!expect(p, T_LBRACE, "`{`")) {
		recover(p, p->braces, false);
		if (p->cur.kind == T_RBRACE)
			next(p);
		return;
	}
	base = p->braces;
	while (p->cur.kind != T_RBRACE && p->cur.kind != T_EOF && !p->oom) {
		uint32_t before = p->cur.off;

		if (annotations(p) && decl(p, &p->rs->ns[idx]))
			continue;
		recover(p, base, p->cur.off == before);
	}
	(void)expect(p, T_RBRACE, "`}`");
}

static void
schema_text(struct tparser *p)
{
	next(p);
	while (p->cur.kind != T_EOF && !p->oom) {
		uint32_t before = p->cur.off;
		ptrdiff_t e;

		p->braces = 0;
		if (annotations(p)) {
			if (is_kw(p, "namespace")) {
				namespace_decl(p);
				continue;
			}
			if ((e = empty_namespace(p)) < 0)
				return;
			if (decl(p, &p->rs->ns[e]))
				continue;
		}
		recover(p, 0, p->cur.off == before);
		/* a `}` with nothing open: reported by decl(), skip it */
		if (p->cur.kind == T_RBRACE)
			next(p);
	}
}

static int
parse_schema(const char *src, size_t len, const char *file,
    const struct schema_fault *fault, struct cedar_schema **out,
    struct diag_list *dl)
{
	struct schema_report rep = { dl, file, src, len, 0, false, fault };
	struct raw_schema rs;
	struct tparser p;
	struct arena a;
	size_t bad;
	int r;

	if (out == NULL)
		return MANDATE_EINVAL;
	*out = NULL;
	if (src == NULL && len > 0)
		return MANDATE_EINVAL;
	if (src == NULL)
		src = "";
	rep.src = src;
	if (len > CEDAR_MAX_POLICY_TEXT) {
		schema_error(&rep, MANDATE_ELIMIT, NULL,
		    "schema text is larger than %u bytes",
		    (unsigned)CEDAR_MAX_POLICY_TEXT);
		return MANDATE_ELIMIT;
	}
	if ((bad = utf8_invalid_at(src, len)) < len) {
		struct raw_loc l = { (uint32_t)bad, 1, NULL };
		schema_error(&rep, MANDATE_EPARSE, &l,
		    "the schema is not valid UTF-8");
		return MANDATE_EPARSE;
	}
	arena_init(&a, SCHEMA_TEXT_ARENA_LIMIT);
	if (fault != NULL)
		a.fail_after = fault->parse;
	memset(&rs, 0, sizeof(rs));
	memset(&p, 0, sizeof(p));
	p.src = src;
	p.len = len;
	p.a = &a;
	p.rs = &rs;
	p.rep = &rep;
	p.empty_ns = -1;
	schema_text(&p);
	r = schema_finish(&rs, &rep, p.oom, out);
	arena_free(&a);
	return r;
}

int
cedar_schema_parse_text(const char *src, size_t len, const char *file,
    struct cedar_schema **out, struct diag_list *dl)
{
	return parse_schema(src, len, file, NULL, out, dl);
}

int
schema_parse_text_fault(const char *src, size_t len, const struct schema_fault *fault,
    struct cedar_schema **out, struct diag_list *dl)
{
	return parse_schema(src, len, "fault", fault, out, dl);
}

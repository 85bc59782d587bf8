/*
 * parse.c - Cedar policy text to AST: policies, templates, expressions,
 * entity uids, and template linking.
 *
 * A recursive-descent parser over the tokens of lex.c that accepts the
 * language of the reference implementation (grammar.lalrpop plus the
 * checks of cst_to_ast.rs): the same precedence, the same reserved
 * identifiers, the same errors for things the grammar admits but Cedar
 * rejects (unknown functions, `/`, chained relations, five `!`, ...), and
 * the same desugaring (`e has a.b`, `e is T in x`, negative literals).
 *
 * Errors: a syntax error is reported once and the parser skips to the
 * next `;` to look for more errors in the following policies; errors that
 * leave the token stream intact (a reserved name, a bad escape, an
 * unknown function) are reported and parsing of the policy goes on.  Any
 * error makes the whole call fail with no output.  Nesting is bounded by
 * CEDAR_MAX_NESTING and the AST depth by CEDAR_MAX_AST_DEPTH.
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "cedar_int.h"
#include "lex_int.h"
#include "parse_int.h"

/* Every expression node the parser makes carries its subtree depth. */
struct pnode {
	struct cedar_expr e;
	uint32_t depth;
};

static uint32_t
node_depth(const struct cedar_expr *e)
{
	if (e == NULL)
		return 0;
	return ((const struct pnode *)(const void *)e)->depth;
}

struct parser {
	struct arena *a;
	const char *src;          /* the arena copy */
	size_t len;
	const char *file;
	struct diag_list *dl;
	struct lexer lx;
	struct token tok;
	struct token peek;
	bool has_peek;
	int nest;
	bool failed;              /* any error at all */
	bool policy_failed;       /* an error inside the current policy */
	bool reported;            /* a syntax error was reported (resync) */
	bool oom;
	bool limit;
	bool slots_ok;            /* inside a principal/resource scope */
};

/* ------------------------------------------------------------------ */
/* errors */

static void perr(struct parser *p, size_t off, size_t len, const char *fmt,
    ...) __attribute__((format(printf, 4, 5)));

/* A reported error; parsing may continue. */
static void
perr(struct parser *p, size_t off, size_t len, const char *fmt, ...)
{
	char msg[DIAG_MSG_MAX];
	va_list ap;

	p->failed = true;
	p->policy_failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(p->dl, MANDATE_EPARSE, p->file, p->src, p->len, off, len,
	    "%s", msg);
}

/* A syntax error at the current token: reported once per policy. */
static void
unexpected(struct parser *p, const char *expected)
{
	const struct token *t = &p->tok;
	int shown = 0;

	/* show at most 40 bytes of the token, and only its first line */
	while (shown < 40 && (uint32_t)shown < t->len &&
	    p->src[t->off + (uint32_t)shown] != '\n' &&
	    p->src[t->off + (uint32_t)shown] != '\r')
		shown++;
	p->failed = true;
	p->policy_failed = true;
	if (p->reported || p->oom)
		return;
	p->reported = true;
	if (t->kind == TK_ERROR)
		diag_add(p->dl, MANDATE_EPARSE, p->file, p->src, p->len,
		    t->off, t->len, "%s", t->msg);
	else if (t->kind == TK_EOF)
		diag_add(p->dl, MANDATE_EPARSE, p->file, p->src, p->len,
		    t->off, 0, "unexpected end of input, expected %s",
		    expected);
	else if (t->kind == TK_IDENT || t->kind == TK_INT ||
	    t->kind == TK_STRING || t->kind == TK_SLOT)
		diag_add(p->dl, MANDATE_EPARSE, p->file, p->src, p->len,
		    t->off, t->len, "unexpected %s `%.*s%s`, expected %s",
		    lex_kind_name(t->kind), shown, p->src + t->off,
		    (uint32_t)shown < t->len ? "..." : "", expected);
	else
		diag_add(p->dl, MANDATE_EPARSE, p->file, p->src, p->len,
		    t->off, t->len, "unexpected %s, expected %s",
		    lex_kind_name(t->kind), expected);
}

/* A copy of s fit for a one-line message: control characters become
 * `?`, and long text is cut with "...". */
static const char *
printable(const char *s, size_t n, char *buf, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n && o + 4 < cap; i++)
		buf[o++] = (unsigned char)s[i] < 0x20 || s[i] == 0x7F ? '?' :
		    s[i];
	if (o < n && o + 3 < cap) {
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

static void
limit_err(struct parser *p, size_t off, size_t len, const char *what)
{
	p->failed = true;
	p->policy_failed = true;
	p->limit = true;
	if (p->reported)
		return;
	p->reported = true;
	diag_add(p->dl, MANDATE_ELIMIT, p->file, p->src, p->len, off, len,
	    "%s", what);
}

static void *
palloc(struct parser *p, size_t n)
{
	void *r = arena_zalloc(p->a, n);

	if (r == NULL) {
		p->oom = true;
		p->failed = true;
		p->policy_failed = true;
	}
	return r;
}

/* ------------------------------------------------------------------ */
/* tokens */

static void
next(struct parser *p)
{
	if (p->has_peek) {
		p->tok = p->peek;
		p->has_peek = false;
	} else {
		lex_next(&p->lx, &p->tok);
	}
}

static bool
is_kw(const struct parser *p, int kw)
{
	return p->tok.kind == TK_IDENT && p->tok.kw == kw;
}

static bool
accept(struct parser *p, int kind)
{
	if (p->tok.kind != kind)
		return false;
	next(p);
	return true;
}

static bool
expect(struct parser *p, int kind, const char *what)
{
	if (accept(p, kind))
		return true;
	unexpected(p, what);
	return false;
}

static struct str
tok_text(const struct parser *p, const struct token *t)
{
	return str_make(p->src + t->off, t->len);
}

static uint32_t
end_of(const struct cedar_expr *e)
{
	return e->off + e->len;
}

/* ------------------------------------------------------------------ */
/* nodes */

static struct cedar_expr *
mk(struct parser *p, int kind, uint32_t off, uint32_t end,
    struct cedar_expr *a, struct cedar_expr *b, struct cedar_expr *c)
{
	struct pnode *n;
	uint32_t d = node_depth(a);

	if (node_depth(b) > d)
		d = node_depth(b);
	if (node_depth(c) > d)
		d = node_depth(c);
	if (d + 1 > CEDAR_MAX_AST_DEPTH) {
		limit_err(p, off, end - off,
		    "expression is nested too deeply");
		return NULL;
	}
	if ((n = palloc(p, sizeof(*n))) == NULL)
		return NULL;
	n->depth = d + 1;
	n->e.kind = (uint8_t)kind;
	n->e.off = off;
	n->e.len = end - off;
	n->e.a = a;
	n->e.b = b;
	n->e.c = c;
	return &n->e;
}

/* Depth bookkeeping for nodes with item lists. */
static bool
set_items(struct parser *p, struct cedar_expr *e, struct cedar_expr **items,
    uint32_t n)
{
	struct pnode *pn = (struct pnode *)(void *)e;
	uint32_t d = pn->depth - 1;

	for (uint32_t i = 0; i < n; i++)
		if (node_depth(items[i]) > d)
			d = node_depth(items[i]);
	if (d + 1 > CEDAR_MAX_AST_DEPTH) {
		limit_err(p, e->off, e->len, "expression is nested too deeply");
		return false;
	}
	pn->depth = d + 1;
	e->items = items;
	e->n_items = n;
	return true;
}

/* A growable pointer list in the arena. */
struct plist {
	void **v;
	size_t n, cap;
};

static bool
plist_push(struct parser *p, struct plist *l, void *x)
{
	if (l->n == l->cap) {
		size_t ncap = l->cap ? l->cap * 2 : 4;
		void **nv;
		if (ncap > UINT32_MAX ||
		    (nv = arena_realloc(p->a, l->v, l->cap * sizeof(void *),
		    ncap * sizeof(void *))) == NULL) {
			p->oom = true;
			p->failed = true;
			return false;
		}
		l->v = nv;
		l->cap = ncap;
	}
	l->v[l->n++] = x;
	return true;
}

/* ------------------------------------------------------------------ */
/* strings and names */

/* Unescape a string token (with quotes) into the arena. */
static bool
tok_string(struct parser *p, const struct token *t, struct str *out)
{
	const char *body = p->src + t->off + 1;
	size_t blen = t->len - 2, n = 0, eoff = 0, elen = 0;
	const char *emsg = NULL;
	char *buf;

	*out = STR_LIT("");
	if ((buf = arena_alloc(p->a, blen + 1)) == NULL) {
		p->oom = p->failed = p->policy_failed = true;
		return false;
	}
	if (!cedar_unescape(body, blen, false, buf, NULL, &n, &eoff, &elen,
	    &emsg)) {
		perr(p, t->off + 1 + eoff, elen, "%s", emsg);
		return false;
	}
	buf[n] = '\0';
	*out = str_make(buf, n);
	return true;
}

static bool
tok_pattern(struct parser *p, const struct token *t, struct cedar_pattern *out)
{
	const char *body = p->src + t->off + 1;
	size_t blen = t->len - 2, n = 0, eoff = 0, elen = 0;
	const char *emsg = NULL;
	uint32_t *cps;

	out->elems = NULL;
	out->n = 0;
	if ((cps = arena_calloc(p->a, blen + 1, sizeof(uint32_t))) == NULL) {
		p->oom = p->failed = p->policy_failed = true;
		return false;
	}
	if (!cedar_unescape(body, blen, true, NULL, cps, &n, &eoff, &elen,
	    &emsg)) {
		perr(p, t->off + 1 + eoff, elen, "%s", emsg);
		return false;
	}
	if (n > CEDAR_MAX_PATTERN) {
		limit_err(p, t->off, t->len, "`like` pattern is too long");
		return false;
	}
	out->elems = cps;
	out->n = n;
	return true;
}

static bool
is_cedar_reserved_name(struct str s)
{
	return str_eq_c(s, "__cedar");
}

bool
cedar_is_plain_ident(struct str s)
{
	static const struct pat { const char *w; size_t n; } reserved[] = {
	    { "true", 4 }, { "false", 5 }, { "if", 2 }, { "then", 4 },
	    { "else", 4 }, { "in", 2 }, { "is", 2 }, { "has", 3 },
	    { "like", 4 }, { "__cedar", 7 } };

	if (s.n == 0 || !((s.p[0] >= 'a' && s.p[0] <= 'z') ||
	    (s.p[0] >= 'A' && s.p[0] <= 'Z') || s.p[0] == '_'))
		return false;
	for (size_t i = 1; i < s.n; i++) {
		char c = s.p[i];
		if (!((c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') ||
		    (c >= '0' && c <= '9') || c == '_'))
			return false;
	}
	if (s.n > 7)          /* longer than every reserved word */
		return true;
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		if (s.n == reserved[i].n && memcmp(s.p, reserved[i].w, s.n) == 0)
			return false;
	return true;
}

/* An identifier used as a name component, attribute or key: report
 * reserved words (the report does not stop parsing). */
static void
check_ident(struct parser *p, const struct token *t)
{
	if (kw_is_reserved(t->kw))
		perr(p, t->off, t->len,
		    "`%.*s` is a reserved identifier and cannot be used here",
		    (int)t->len, p->src + t->off);
	else if (is_cedar_reserved_name(tok_text(p, t)))
		perr(p, t->off, t->len,
		    "`__cedar` is reserved and cannot be used as a name");
}

/* Join name components (pointing into the source) as "A::B::C". */
static struct str
join_name(struct parser *p, const struct str *parts, size_t n)
{
	size_t total = 0, o = 0;
	char *buf;

	if (n == 1)
		return parts[0];
	for (size_t i = 0; i < n; i++)
		total += parts[i].n + (i ? 2 : 0);
	if ((buf = palloc(p, total + 1)) == NULL)
		return STR_LIT("");
	for (size_t i = 0; i < n; i++) {
		if (i) {
			memcpy(buf + o, "::", 2);
			o += 2;
		}
		memcpy(buf + o, parts[i].p, parts[i].n);
		o += parts[i].n;
	}
	buf[o] = '\0';
	return str_make(buf, o);
}

/* ------------------------------------------------------------------ */
/* functions */

enum fn_style { FS_FUNC, FS_METHOD, FS_EXT_METHOD };

static const struct fn_info {
	const char *name;
	uint16_t fn;
	uint8_t style;
	int8_t arity;     /* checked at parse time for built-in methods */
} fn_table[] = {
	{ "contains", CFN_CONTAINS, FS_METHOD, 1 },
	{ "containsAll", CFN_CONTAINS_ALL, FS_METHOD, 1 },
	{ "containsAny", CFN_CONTAINS_ANY, FS_METHOD, 1 },
	{ "isEmpty", CFN_IS_EMPTY, FS_METHOD, 0 },
	{ "getTag", CFN_GET_TAG, FS_METHOD, 1 },
	{ "hasTag", CFN_HAS_TAG, FS_METHOD, 1 },
	{ "ip", CFN_IP, FS_FUNC, -1 },
	{ "isIpv4", CFN_IS_IPV4, FS_EXT_METHOD, -1 },
	{ "isIpv6", CFN_IS_IPV6, FS_EXT_METHOD, -1 },
	{ "isLoopback", CFN_IS_LOOPBACK, FS_EXT_METHOD, -1 },
	{ "isMulticast", CFN_IS_MULTICAST, FS_EXT_METHOD, -1 },
	{ "isInRange", CFN_IS_IN_RANGE, FS_EXT_METHOD, -1 },
	{ "decimal", CFN_DECIMAL, FS_FUNC, -1 },
	{ "lessThan", CFN_LESS_THAN, FS_EXT_METHOD, -1 },
	{ "lessThanOrEqual", CFN_LESS_THAN_OR_EQUAL, FS_EXT_METHOD, -1 },
	{ "greaterThan", CFN_GREATER_THAN, FS_EXT_METHOD, -1 },
	{ "greaterThanOrEqual", CFN_GREATER_THAN_OR_EQUAL, FS_EXT_METHOD, -1 },
	{ "datetime", CFN_DATETIME, FS_FUNC, -1 },
	{ "duration", CFN_DURATION, FS_FUNC, -1 },
	{ "offset", CFN_OFFSET, FS_EXT_METHOD, -1 },
	{ "durationSince", CFN_DURATION_SINCE, FS_EXT_METHOD, -1 },
	{ "toDate", CFN_TO_DATE, FS_EXT_METHOD, -1 },
	{ "toTime", CFN_TO_TIME, FS_EXT_METHOD, -1 },
	{ "toMilliseconds", CFN_TO_MILLISECONDS, FS_EXT_METHOD, -1 },
	{ "toSeconds", CFN_TO_SECONDS, FS_EXT_METHOD, -1 },
	{ "toMinutes", CFN_TO_MINUTES, FS_EXT_METHOD, -1 },
	{ "toHours", CFN_TO_HOURS, FS_EXT_METHOD, -1 },
	{ "toDays", CFN_TO_DAYS, FS_EXT_METHOD, -1 },
};

static const struct fn_info *
fn_lookup(struct str name)
{
	for (size_t i = 0; i < sizeof(fn_table) / sizeof(fn_table[0]); i++)
		if (str_eq_c(name, fn_table[i].name))
			return &fn_table[i];
	return NULL;
}

/* ------------------------------------------------------------------ */
/* expressions */

static struct cedar_expr *parse_expr(struct parser *p);
static struct cedar_expr *parse_add(struct parser *p);

/* What a primary turned out to be (the reference's ExprOrSpecial). */
enum prim_kind { PK_EXPR, PK_VAR, PK_NAME, PK_STR, PK_BOOL };

struct prim {
	struct cedar_expr *e;    /* NULL for PK_NAME */
	int kind;
	struct str name;         /* PK_NAME: canonical */
	uint32_t off, len;
	bool bare_int;           /* an integer literal token */
	uint64_t uval;
};

/* `(` args `)` with an optional trailing comma; the `(` is current. */
static bool
parse_args(struct parser *p, struct cedar_expr ***out, uint32_t *out_n,
    uint32_t *end)
{
	struct plist l = { 0 };

	next(p);
	while (p->tok.kind != TK_RPAREN) {
		struct cedar_expr *e = parse_expr(p);
		if (e == NULL || !plist_push(p, &l, e))
			return false;
		if (!accept(p, TK_COMMA))
			break;
	}
	*end = p->tok.off + p->tok.len;
	if (!expect(p, TK_RPAREN, "`,` or `)`"))
		return false;
	*out = (struct cedar_expr **)l.v;
	*out_n = (uint32_t)l.n;
	return true;
}

static struct cedar_expr *
parse_set(struct parser *p)
{
	uint32_t off = p->tok.off, end;
	struct plist l = { 0 };
	struct cedar_expr *e;

	next(p);
	while (p->tok.kind != TK_RBRACKET) {
		struct cedar_expr *x = parse_expr(p);
		if (x == NULL || !plist_push(p, &l, x))
			return NULL;
		if (!accept(p, TK_COMMA))
			break;
	}
	end = p->tok.off + p->tok.len;
	if (!expect(p, TK_RBRACKET, "`,` or `]`"))
		return NULL;
	if ((e = mk(p, CX_SET, off, end, NULL, NULL, NULL)) == NULL ||
	    !set_items(p, e, (struct cedar_expr **)l.v, (uint32_t)l.n))
		return NULL;
	return e;
}

static int
str_ptr_cmp(const void *x, const void *y)
{
	return str_cmp(**(const struct str *const *)x,
	    **(const struct str *const *)y);
}

static struct cedar_expr *
parse_record(struct parser *p)
{
	uint32_t off = p->tok.off, end;
	struct plist vals = { 0 }, keys = { 0 };
	struct cedar_expr *e;
	struct str *karr;

	next(p);
	while (p->tok.kind != TK_RBRACE) {
		struct str *k = palloc(p, sizeof(*k));
		struct cedar_expr *v;

		if (k == NULL)
			return NULL;
		if (p->tok.kind == TK_STRING) {
			(void)tok_string(p, &p->tok, k);
		} else if (p->tok.kind == TK_IDENT) {
			check_ident(p, &p->tok);
			*k = tok_text(p, &p->tok);
		} else {
			unexpected(p, "a record key (identifier or string)");
			return NULL;
		}
		next(p);
		if (p->tok.kind == TK_COLONCOLON) {
			perr(p, p->tok.off, p->tok.len,
			    "a record key must be an identifier or a string, "
			    "not a path");
		}
		if (!expect(p, TK_COLON, "`:`"))
			return NULL;
		if ((v = parse_expr(p)) == NULL)
			return NULL;
		if (!plist_push(p, &keys, k) || !plist_push(p, &vals, v))
			return NULL;
		if (!accept(p, TK_COMMA))
			break;
	}
	end = p->tok.off + p->tok.len;
	if (!expect(p, TK_RBRACE, "`,` or `}`"))
		return NULL;
	if ((karr = palloc(p, (keys.n + 1) * sizeof(*karr))) == NULL)
		return NULL;
	for (size_t i = 0; i < keys.n; i++)
		karr[i] = *(struct str *)keys.v[i];
	/* duplicate keys are an error */
	if (keys.n > 1) {
		struct str **sorted = palloc(p, keys.n * sizeof(*sorted));
		if (sorted == NULL)
			return NULL;
		for (size_t i = 0; i < keys.n; i++)
			sorted[i] = &karr[i];
		qsort(sorted, keys.n, sizeof(*sorted), str_ptr_cmp);
		for (size_t i = 1; i < keys.n; i++) {
			if (str_eq(*sorted[i], *sorted[i - 1])) {
				char kb[64];
				perr(p, off, end - off,
				    "duplicate key `%s` in record literal",
				    printable(sorted[i]->p, sorted[i]->n, kb,
				    sizeof(kb)));
				break;
			}
		}
	}
	if ((e = mk(p, CX_RECORD, off, end, NULL, NULL, NULL)) == NULL ||
	    !set_items(p, e, (struct cedar_expr **)vals.v, (uint32_t)vals.n))
		return NULL;
	e->keys = karr;
	return e;
}

static bool
var_of_kw(int kw, uint8_t *var)
{
	switch (kw) {
	case KW_PRINCIPAL: *var = CVAR_PRINCIPAL; return true;
	case KW_ACTION: *var = CVAR_ACTION; return true;
	case KW_RESOURCE: *var = CVAR_RESOURCE; return true;
	case KW_CONTEXT: *var = CVAR_CONTEXT; return true;
	default: return false;
	}
}

/* Name {:: Name} [:: "id"]: a variable, a name, or an entity uid. */
static bool
parse_name_or_ref(struct parser *p, struct prim *pr)
{
	struct str parts_small[8], *parts = parts_small;
	size_t n = 0, cap = 8;
	struct token first = p->tok;
	uint32_t off = p->tok.off, end;

	for (;;) {
		if (n == cap) {
			struct str *np = palloc(p, cap * 2 * sizeof(*np));
			if (np == NULL)
				return false;
			memcpy(np, parts, n * sizeof(*np));
			parts = np;
			cap *= 2;
		}
		check_ident(p, &p->tok);
		parts[n++] = tok_text(p, &p->tok);
		end = p->tok.off + p->tok.len;
		next(p);
		if (p->tok.kind != TK_COLONCOLON)
			break;
		next(p);
		if (p->tok.kind == TK_STRING) {
			struct cedar_expr *e;
			struct token st = p->tok;
			end = st.off + st.len;
			next(p);
			if ((e = mk(p, CX_ENTITY, off, end, NULL, NULL, NULL))
			    == NULL)
				return false;
			e->uid.type = join_name(p, parts, n);
			(void)tok_string(p, &st, &e->uid.id);
			pr->e = e;
			pr->kind = PK_EXPR;
			pr->off = off;
			pr->len = end - off;
			return true;
		}
		if (p->tok.kind == TK_LBRACE) {
			perr(p, p->tok.off, p->tok.len, "entity literals with "
			    "record syntax (`Type::{...}`) are not supported");
			unexpected(p, "a string literal entity id");
			return false;
		}
		if (p->tok.kind != TK_IDENT) {
			unexpected(p, "an identifier or a string literal");
			return false;
		}
	}
	pr->off = off;
	pr->len = end - off;
	if (n == 1 && var_of_kw(first.kw, &(uint8_t){ 0 })) {
		uint8_t var = 0;
		(void)var_of_kw(first.kw, &var);
		if ((pr->e = mk(p, CX_VAR, off, end, NULL, NULL, NULL)) == NULL)
			return false;
		pr->e->var = var;
		pr->kind = PK_VAR;
		return true;
	}
	pr->kind = PK_NAME;
	pr->name = join_name(p, parts, n);
	pr->e = NULL;
	return true;
}

static bool
parse_primary(struct parser *p, struct prim *pr)
{
	struct token t = p->tok;

	memset(pr, 0, sizeof(*pr));
	pr->off = t.off;
	pr->len = t.len;
	switch (t.kind) {
	case TK_INT:
		if (t.overflow)
			perr(p, t.off, t.len, "integer literal `%.*s` is too "
			    "large", (int)t.len, p->src + t.off);
		if ((pr->e = mk(p, CX_LONG, t.off, t.off + t.len, NULL, NULL,
		    NULL)) == NULL)
			return false;
		pr->e->ival = t.ival <= INT64_MAX ? (int64_t)t.ival : 0;
		pr->bare_int = !t.overflow;
		pr->uval = t.ival;
		pr->kind = PK_EXPR;
		next(p);
		return true;
	case TK_STRING:
		if ((pr->e = mk(p, CX_STRING, t.off, t.off + t.len, NULL, NULL,
		    NULL)) == NULL)
			return false;
		(void)tok_string(p, &t, &pr->e->s);
		pr->kind = PK_STR;
		next(p);
		return true;
	case TK_SLOT:
		if ((pr->e = mk(p, CX_SLOT, t.off, t.off + t.len, NULL, NULL,
		    NULL)) == NULL)
			return false;
		if (t.kw == KW_NONE)
			perr(p, t.off, t.len, "invalid template slot `%.*s`: "
			    "only ?principal and ?resource exist",
			    (int)t.len, p->src + t.off);
		else if (!p->slots_ok)
			perr(p, t.off, t.len, "template slot `%.*s` is only "
			    "allowed in the principal or resource scope",
			    (int)t.len, p->src + t.off);
		pr->e->var = t.kw == KW_RESOURCE ? CSLOT_RESOURCE :
		    CSLOT_PRINCIPAL;
		pr->kind = PK_EXPR;
		next(p);
		return true;
	case TK_LPAREN: {
		next(p);
		if ((pr->e = parse_expr(p)) == NULL)
			return false;
		pr->len = p->tok.off + p->tok.len - t.off;
		if (!expect(p, TK_RPAREN, "`)`"))
			return false;
		pr->kind = PK_EXPR;
		return true;
	}
	case TK_LBRACKET:
		pr->kind = PK_EXPR;
		return (pr->e = parse_set(p)) != NULL;
	case TK_LBRACE:
		pr->kind = PK_EXPR;
		return (pr->e = parse_record(p)) != NULL;
	case TK_IDENT:
		if (t.kw == KW_TRUE || t.kw == KW_FALSE) {
			if ((pr->e = mk(p, CX_BOOL, t.off, t.off + t.len, NULL,
			    NULL, NULL)) == NULL)
				return false;
			pr->e->bval = t.kw == KW_TRUE;
			pr->kind = PK_BOOL;
			next(p);
			return true;
		}
		if (kw_is_reserved(t.kw)) {
			unexpected(p, "an expression");
			return false;
		}
		return parse_name_or_ref(p, pr);
	default:
		unexpected(p, "an expression");
		return false;
	}
}

/* Build a function call `name(args)`. */
static struct cedar_expr *
make_call(struct parser *p, const struct prim *pr, struct cedar_expr **args,
    uint32_t n, uint32_t end)
{
	const struct fn_info *fi = fn_lookup(pr->name);
	struct cedar_expr *e;

	if (fi == NULL || memchr(pr->name.p, ':', pr->name.n) != NULL)
		perr(p, pr->off, pr->len, "unknown function `%.*s`",
		    (int)(pr->name.n > 60 ? 60 : pr->name.n), pr->name.p);
	else if (fi->style != FS_FUNC)
		perr(p, pr->off, pr->len, "`%s` is a method, not a function; "
		    "call it as `value.%s(...)`", fi->name, fi->name);
	if ((e = mk(p, CX_CALL, pr->off, end, NULL, NULL, NULL)) == NULL ||
	    !set_items(p, e, args, n))
		return NULL;
	e->fn = fi ? fi->fn : 0;
	e->s = pr->name;
	return e;
}

static struct cedar_expr *
make_method(struct parser *p, struct cedar_expr *recv, const struct token *nt,
    struct cedar_expr **args, uint32_t n, uint32_t off, uint32_t end)
{
	struct str name = tok_text(p, nt);
	const struct fn_info *fi = fn_lookup(name);
	struct cedar_expr *e;

	if (fi == NULL)
		perr(p, nt->off, nt->len, "unknown method `%.*s`",
		    (int)nt->len, p->src + nt->off);
	else if (fi->style == FS_FUNC)
		perr(p, nt->off, nt->len, "`%s` is a function, not a method; "
		    "call it as `%s(...)`", fi->name, fi->name);
	else if (fi->arity >= 0 && (uint32_t)fi->arity != n)
		perr(p, off, end - off, "`%s` takes %d argument%s, but %u "
		    "were given", fi->name, fi->arity, fi->arity == 1 ? "" : "s",
		    n);
	if ((e = mk(p, CX_METHOD, off, end, recv, NULL, NULL)) == NULL ||
	    !set_items(p, e, args, n))
		return NULL;
	e->fn = fi ? fi->fn : 0;
	e->s = name;
	return e;
}

static struct cedar_expr *
make_getattr(struct parser *p, struct cedar_expr *recv, struct str attr,
    uint32_t off, uint32_t end)
{
	struct cedar_expr *e = mk(p, CX_GETATTR, off, end, recv, NULL, NULL);

	if (e != NULL)
		e->s = attr;
	return e;
}

/* Primary {access}; *pr describes the primary (bare_int is cleared when
 * accesses follow). */
static struct cedar_expr *
parse_member(struct parser *p, struct prim *pr)
{
	struct cedar_expr *head;
	int kind;
	uint32_t off;

	if (!parse_primary(p, pr))
		return NULL;
	head = pr->e;
	kind = pr->kind;
	off = pr->off;
	while (p->tok.kind == TK_DOT || p->tok.kind == TK_LBRACKET ||
	    p->tok.kind == TK_LPAREN) {
		pr->bare_int = false;
		if (pr->uval > INT64_MAX && kind == PK_EXPR &&
		    head != NULL && head->kind == CX_LONG) {
			perr(p, pr->off, pr->len, "integer literal is too "
			    "large");
			pr->uval = 0;
		}
		if (p->tok.kind == TK_LPAREN) {
			struct cedar_expr **args = NULL;
			uint32_t n = 0, end = 0;
			struct token lp = p->tok;
			if (!parse_args(p, &args, &n, &end))
				return NULL;
			if (kind == PK_NAME) {
				head = make_call(p, pr, args, n, end);
			} else {
				if (kind == PK_VAR)
					perr(p, off, end - off, "variables "
					    "cannot be called as functions");
				else
					perr(p, lp.off, end - lp.off,
					    "expressions cannot be called as "
					    "functions");
				head = mk(p, CX_CALL, off, end, NULL, NULL,
				    NULL);
			}
		} else if (p->tok.kind == TK_DOT) {
			struct token nt;
			next(p);
			if (p->tok.kind != TK_IDENT) {
				unexpected(p, "an attribute or method name");
				return NULL;
			}
			nt = p->tok;
			check_ident(p, &nt);
			next(p);
			if (p->tok.kind == TK_LPAREN) {
				struct cedar_expr **args = NULL;
				uint32_t n = 0, end = 0;
				if (!parse_args(p, &args, &n, &end))
					return NULL;
				if (kind == PK_NAME) {
					perr(p, off, end - off, "`%.*s` is not "
					    "a value and has no methods",
					    (int)pr->name.n, pr->name.p);
					head = mk(p, CX_BOOL, off, end, NULL,
					    NULL, NULL);
				} else {
					head = make_method(p, head, &nt, args,
					    n, off, end);
				}
			} else {
				uint32_t end = nt.off + nt.len;
				if (kind == PK_NAME) {
					perr(p, off, end - off, "`%.*s` is not "
					    "a variable; did you mean to quote "
					    "it?", (int)pr->name.n, pr->name.p);
					head = mk(p, CX_BOOL, off, end, NULL,
					    NULL, NULL);
				} else {
					head = make_getattr(p, head,
					    tok_text(p, &nt), off, end);
				}
			}
		} else {
			struct token st;
			struct str attr = STR_LIT("");
			uint32_t end;
			next(p);
			if (p->tok.kind != TK_STRING) {
				unexpected(p, "a string literal (only string "
				    "literals can index a record)");
				return NULL;
			}
			st = p->tok;
			(void)tok_string(p, &st, &attr);
			next(p);
			end = p->tok.off + p->tok.len;
			if (!expect(p, TK_RBRACKET, "`]`"))
				return NULL;
			if (kind == PK_NAME) {
				perr(p, off, end - off, "`%.*s` is not a "
				    "variable and cannot be indexed",
				    (int)pr->name.n, pr->name.p);
				head = mk(p, CX_BOOL, off, end, NULL, NULL,
				    NULL);
			} else {
				head = make_getattr(p, head, attr, off, end);
			}
		}
		if (head == NULL)
			return NULL;
		kind = PK_EXPR;
	}
	if (kind == PK_NAME) {
		perr(p, pr->off, pr->len, "unknown variable `%.*s`: the "
		    "variables are principal, action, resource and context "
		    "(did you mean to quote it as a string?)",
		    (int)(pr->name.n > 60 ? 60 : pr->name.n), pr->name.p);
		head = mk(p, CX_BOOL, pr->off, pr->off + pr->len, NULL, NULL,
		    NULL);
	}
	return head;
}

static struct cedar_expr *
parse_unary(struct parser *p)
{
	uint32_t off = p->tok.off;
	struct prim pr;
	struct cedar_expr *e;
	int n = 0, kind = p->tok.kind;

	if (kind == TK_BANG || kind == TK_MINUS) {
		while (p->tok.kind == kind) {
			n++;
			next(p);
		}
		if (n > 4)
			perr(p, off, p->tok.off - off, "too many `%c` in a "
			    "row: at most 4 are allowed", kind == TK_BANG ?
			    '!' : '-');
	}
	if ((e = parse_member(p, &pr)) == NULL)
		return NULL;
	if (kind == TK_MINUS && n > 0 && pr.bare_int) {
		/* a negative literal: -N folds into the literal */
		if (pr.uval > (uint64_t)INT64_MAX + 1)
			perr(p, pr.off, pr.len, "integer literal `-%.*s` is "
			    "too small", (int)pr.len, p->src + pr.off);
		else
			e->ival = pr.uval == (uint64_t)INT64_MAX + 1 ?
			    INT64_MIN : -(int64_t)pr.uval;
		e->len = end_of(e) - off;
		e->off = off;
		pr.bare_int = false;
		n--;
	}
	if (pr.bare_int && pr.uval > INT64_MAX)
		perr(p, pr.off, pr.len, "integer literal `%.*s` is too large",
		    (int)pr.len, p->src + pr.off);
	for (int i = 0; i < n && e != NULL; i++)
		e = mk(p, kind == TK_BANG ? CX_NOT : CX_NEG, off, end_of(e), e,
		    NULL, NULL);
	return e;
}

static struct cedar_expr *
parse_mult(struct parser *p)
{
	struct cedar_expr *a = parse_unary(p), *b;

	while (a != NULL && (p->tok.kind == TK_STAR ||
	    p->tok.kind == TK_SLASH || p->tok.kind == TK_PERCENT)) {
		struct token op = p->tok;
		next(p);
		if (op.kind != TK_STAR)
			perr(p, op.off, op.len, "%s is not supported in Cedar",
			    op.kind == TK_SLASH ? "division (`/`)" :
			    "remainder (`%`)");
		if ((b = parse_unary(p)) == NULL)
			return NULL;
		a = mk(p, CX_MUL, a->off, end_of(b), a, b, NULL);
	}
	return a;
}

static struct cedar_expr *
parse_add(struct parser *p)
{
	struct cedar_expr *a = parse_mult(p), *b;

	while (a != NULL && (p->tok.kind == TK_PLUS ||
	    p->tok.kind == TK_MINUS)) {
		int k = p->tok.kind == TK_PLUS ? CX_ADD : CX_SUB;
		next(p);
		if ((b = parse_mult(p)) == NULL)
			return NULL;
		a = mk(p, k, a->off, end_of(b), a, b, NULL);
	}
	return a;
}

static int
relop_kind(const struct parser *p)
{
	switch (p->tok.kind) {
	case TK_EQ: return CX_EQ;
	case TK_NE: return CX_NE;
	case TK_LT: return CX_LT;
	case TK_LE: return CX_LE;
	case TK_GT: return CX_GT;
	case TK_GE: return CX_GE;
	case TK_ASSIGN: return CX_EQ;
	case TK_IDENT:
		return p->tok.kw == KW_IN ? CX_IN : -1;
	default:
		return -1;
	}
}

static bool
at_relation_op(const struct parser *p)
{
	return relop_kind(p) >= 0 || is_kw(p, KW_HAS) || is_kw(p, KW_LIKE) ||
	    is_kw(p, KW_IS);
}

/* A type name after `is`: Name {:: Name}, or a variable name. */
static bool
parse_type_name(struct parser *p, struct str *out, uint32_t *end)
{
	struct str parts_small[8], *parts = parts_small;
	size_t n = 0, cap = 8;

	if (p->tok.kind != TK_IDENT) {
		unexpected(p, "an entity type name");
		return false;
	}
	for (;;) {
		if (n == cap) {
			struct str *np = palloc(p, cap * 2 * sizeof(*np));
			if (np == NULL)
				return false;
			memcpy(np, parts, n * sizeof(*np));
			parts = np;
			cap *= 2;
		}
		check_ident(p, &p->tok);
		parts[n++] = tok_text(p, &p->tok);
		*end = p->tok.off + p->tok.len;
		next(p);
		if (p->tok.kind != TK_COLONCOLON)
			break;
		next(p);
		if (p->tok.kind != TK_IDENT) {
			if (p->tok.kind == TK_STRING)
				perr(p, p->tok.off, p->tok.len, "`is` needs an "
				    "entity type, not an entity");
			unexpected(p, "an identifier");
			return false;
		}
	}
	*out = join_name(p, parts, n);
	return true;
}

static struct cedar_expr *
parse_relation(struct parser *p)
{
	struct cedar_expr *a = parse_add(p), *b, *e = NULL;
	int k;

	if (a == NULL)
		return NULL;
	if ((k = relop_kind(p)) >= 0) {
		struct token op = p->tok;
		next(p);
		if (op.kind == TK_ASSIGN)
			perr(p, op.off, op.len, "`=` is not an operator; use "
			    "`==` to compare");
		if ((b = parse_add(p)) == NULL)
			return NULL;
		e = mk(p, k, a->off, end_of(b), a, b, NULL);
	} else if (is_kw(p, KW_HAS)) {
		struct str path_small[8], *path = path_small;
		size_t n = 0, cap = 8;
		uint32_t end = 0;

		next(p);
		if (p->tok.kind == TK_STRING) {
			(void)tok_string(p, &p->tok, &path[0]);
			n = 1;
			end = p->tok.off + p->tok.len;
			next(p);
		} else if (p->tok.kind == TK_IDENT) {
			for (;;) {
				if (n == cap) {
					struct str *np = palloc(p, cap * 2 *
					    sizeof(*np));
					if (np == NULL)
						return NULL;
					memcpy(np, path, n * sizeof(*np));
					path = np;
					cap *= 2;
				}
				check_ident(p, &p->tok);
				path[n++] = tok_text(p, &p->tok);
				end = p->tok.off + p->tok.len;
				next(p);
				if (p->tok.kind != TK_DOT)
					break;
				next(p);
				if (p->tok.kind != TK_IDENT) {
					unexpected(p, "an attribute name");
					return NULL;
				}
			}
			if (p->tok.kind == TK_COLONCOLON ||
			    p->tok.kind == TK_LPAREN ||
			    p->tok.kind == TK_LBRACKET) {
				unexpected(p, "an attribute name or path "
				    "after `has`");
				return NULL;
			}
		} else {
			unexpected(p, "an attribute name or string after "
			    "`has`");
			return NULL;
		}
		/* e has a.b.c -> e has a && e.a has b && e.a.b has c */
		{
			struct cedar_expr *get = a;
			for (size_t i = 0; i < n && (i == 0 || e != NULL); i++) {
				struct cedar_expr *h;
				if (i > 0 && (get = make_getattr(p, get,
				    path[i - 1], a->off, end)) == NULL)
					return NULL;
				if ((h = mk(p, CX_HAS, a->off, end, get, NULL,
				    NULL)) == NULL)
					return NULL;
				h->s = path[i];
				e = i == 0 ? h : mk(p, CX_AND, a->off, end, e,
				    h, NULL);
			}
		}
	} else if (is_kw(p, KW_LIKE)) {
		struct token st;
		next(p);
		if (p->tok.kind != TK_STRING) {
			unexpected(p, "a string literal pattern after `like`");
			return NULL;
		}
		st = p->tok;
		next(p);
		if ((e = mk(p, CX_LIKE, a->off, st.off + st.len, a, NULL,
		    NULL)) == NULL)
			return NULL;
		(void)tok_pattern(p, &st, &e->pat);
	} else if (is_kw(p, KW_IS)) {
		struct str type;
		uint32_t end = 0;
		next(p);
		if (!parse_type_name(p, &type, &end))
			return NULL;
		if ((e = mk(p, CX_IS, a->off, end, a, NULL, NULL)) == NULL)
			return NULL;
		e->s = type;
		if (is_kw(p, KW_IN)) {
			struct cedar_expr *in;
			next(p);
			if ((b = parse_add(p)) == NULL)
				return NULL;
			if ((in = mk(p, CX_IN, a->off, end_of(b), a, b, NULL))
			    == NULL)
				return NULL;
			e = mk(p, CX_AND, a->off, end_of(b), e, in, NULL);
		}
	} else {
		return a;
	}
	if (e != NULL && at_relation_op(p)) {
		if (!p->reported) {
			p->reported = true;
			perr(p, p->tok.off, p->tok.len, "relational operators "
			    "(==, <, in, has, like, is, ...) cannot be chained; "
			    "add parentheses");
		}
		return NULL;
	}
	return e;
}

static struct cedar_expr *
parse_and(struct parser *p)
{
	struct cedar_expr *a = parse_relation(p), *b;

	while (a != NULL && p->tok.kind == TK_AND) {
		next(p);
		if ((b = parse_relation(p)) == NULL)
			return NULL;
		a = mk(p, CX_AND, a->off, end_of(b), a, b, NULL);
	}
	return a;
}

static struct cedar_expr *
parse_or(struct parser *p)
{
	struct cedar_expr *a = parse_and(p), *b;

	while (a != NULL && p->tok.kind == TK_OR) {
		next(p);
		if ((b = parse_and(p)) == NULL)
			return NULL;
		a = mk(p, CX_OR, a->off, end_of(b), a, b, NULL);
	}
	return a;
}

static struct cedar_expr *
parse_expr(struct parser *p)
{
	struct cedar_expr *e = NULL;

	if (p->oom)
		return NULL;
	if (++p->nest > CEDAR_MAX_NESTING) {
		limit_err(p, p->tok.off, p->tok.len,
		    "expression is nested too deeply");
		p->nest--;
		return NULL;
	}
	if (is_kw(p, KW_IF)) {
		uint32_t off = p->tok.off;
		struct cedar_expr *c, *t, *f;
		next(p);
		if ((c = parse_expr(p)) == NULL)
			goto out;
		if (!is_kw(p, KW_THEN)) {
			unexpected(p, "`then`");
			goto out;
		}
		next(p);
		if ((t = parse_expr(p)) == NULL)
			goto out;
		if (!is_kw(p, KW_ELSE)) {
			unexpected(p, "`else`");
			goto out;
		}
		next(p);
		if ((f = parse_expr(p)) == NULL)
			goto out;
		e = mk(p, CX_IF, off, end_of(f), c, t, f);
	} else {
		e = parse_or(p);
	}
out:
	p->nest--;
	return e;
}

/* ------------------------------------------------------------------ */
/* policies */

static bool
is_action_uid(const struct cedar_expr *e)
{
	return e->kind == CX_ENTITY && cedar_type_is_action(e->uid.type);
}

bool
cedar_type_is_action(struct str type)
{
	if (str_eq_c(type, "Action"))
		return true;
	return type.n > 8 && memcmp(type.p + type.n - 8, "::Action", 8) == 0;
}

static void
action_type_err(struct parser *p, const struct cedar_expr *e)
{
	char ub[88];

	perr(p, e->off, e->len, "expected an entity uid of type `Action` (or "
	    "`NS::Action`), got `%s`", printable(p->src + e->off, e->len, ub,
	    sizeof(ub)));
}

/* One element of the scope: principal, action or resource.  `want` is the
 * expected variable, or -1 for an extra element (an error). */
static bool
parse_scope(struct parser *p, int want, struct cedar_scope *sc)
{
	uint8_t var = 0;
	struct token vt = p->tok;
	bool has_is = false;
	static const char *const names[] = { "principal", "action",
	    "resource" };

	memset(sc, 0, sizeof(*sc));
	sc->off = vt.off;
	if (vt.kind != TK_IDENT) {
		unexpected(p, want >= 0 ? names[want] : "`)`");
		return false;
	}
	if (want < 0)
		perr(p, vt.off, vt.len, "extra element in the policy scope: "
		    "a scope has principal, action and resource only");
	else if (!var_of_kw(vt.kw, &var) || var == CVAR_CONTEXT)
		perr(p, vt.off, vt.len, "expected `%s` in the policy scope, "
		    "found `%.*s`", names[want], (int)vt.len, p->src + vt.off);
	else if (var != want)
		perr(p, vt.off, vt.len, "expected `%s` in the policy scope, "
		    "found `%s`", names[want], names[var]);
	if (want >= 0)
		var = (uint8_t)want;
	next(p);
	if (p->tok.kind == TK_COLON) {
		struct str ignored;
		uint32_t end = 0;
		struct token ct = p->tok;
		next(p);
		if (!parse_type_name(p, &ignored, &end))
			return false;
		perr(p, ct.off, end - ct.off, "type constraints using `:` "
		    "are not supported; use `is`");
	}
	if (is_kw(p, KW_IS)) {
		struct token it = p->tok;
		uint32_t end = 0;
		next(p);
		if (!parse_type_name(p, &sc->is_type, &end))
			return false;
		if (var == CVAR_ACTION)
			perr(p, it.off, end - it.off, "`is` cannot appear in "
			    "the action scope");
		has_is = true;
		sc->kind = CSCOPE_IS;
	}
	if (relop_kind(p) >= 0) {
		struct token op = p->tok;
		struct cedar_expr *e;
		bool is_in = op.kind == TK_IDENT;

		next(p);
		p->slots_ok = var != CVAR_ACTION;
		e = parse_expr(p);
		p->slots_ok = false;
		if (e == NULL)
			return false;
		sc->len = end_of(e) - sc->off;
		if (op.kind == TK_ASSIGN) {
			perr(p, op.off, op.len, "`=` is not an operator; use "
			    "`==`");
			return true;
		}
		if (op.kind != TK_EQ && !is_in) {
			perr(p, op.off, op.len, "the policy scope only allows "
			    "`==` and `in`");
			return true;
		}
		if (is_in && (e->kind == CX_IS || (e->kind == CX_AND &&
		    e->a->kind == CX_IS && e->b->kind == CX_IN &&
		    e->a->a == e->b->a))) {
			perr(p, vt.off, end_of(e) - vt.off, "when `is` and "
			    "`in` are used together in a scope, `is` comes "
			    "first: `%s is T in ...`", names[var]);
			return true;
		}
		if (var == CVAR_ACTION) {
			if (op.kind == TK_EQ) {
				if (e->kind != CX_ENTITY) {
					perr(p, e->off, e->len, "`action ==` "
					    "needs a single entity uid");
					return true;
				}
				if (!is_action_uid(e))
					action_type_err(p, e);
				sc->kind = CSCOPE_EQ;
				sc->uid = e->uid;
			} else if (e->kind == CX_ENTITY) {
				if (!is_action_uid(e))
					action_type_err(p, e);
				sc->kind = CSCOPE_IN;
				sc->uid = e->uid;
			} else if (e->kind == CX_SET) {
				struct cedar_uid *uids = palloc(p,
				    (e->n_items + 1) * sizeof(*uids));
				if (uids == NULL)
					return false;
				for (uint32_t i = 0; i < e->n_items; i++) {
					const struct cedar_expr *x = e->items[i];
					if (x->kind != CX_ENTITY) {
						perr(p, x->off, x->len,
						    "expected an entity uid");
						continue;
					}
					if (!is_action_uid(x))
						action_type_err(p, x);
					uids[i] = x->uid;
				}
				sc->kind = CSCOPE_IN_SET;
				sc->uids = uids;
				sc->n_uids = e->n_items;
			} else {
				perr(p, e->off, e->len, "expected an entity "
				    "uid or a list of entity uids");
			}
			return true;
		}
		if (has_is && !is_in) {
			perr(p, vt.off, end_of(e) - vt.off, "`is` cannot be "
			    "combined with `==` in a scope");
			return true;
		}
		if (e->kind == CX_ENTITY) {
			sc->uid = e->uid;
		} else if (e->kind == CX_SLOT) {
			int want_slot = var == CVAR_PRINCIPAL ?
			    CSLOT_PRINCIPAL : CSLOT_RESOURCE;
			if (e->var != want_slot) {
				perr(p, e->off, e->len, "the %s scope can "
				    "only use the ?%s slot", names[var],
				    names[var]);
			}
			sc->is_slot = true;
		} else {
			perr(p, e->off, e->len, "expected an entity uid or "
			    "the ?%s slot", names[var]);
			return true;
		}
		sc->kind = is_in ? (has_is ? CSCOPE_IS_IN : CSCOPE_IN) :
		    CSCOPE_EQ;
		return true;
	}
	sc->len = p->tok.off - sc->off;
	return true;
}

/* Skip to just after the next `;` (or to the end). */
static void
resync(struct parser *p)
{
	while (p->tok.kind != TK_EOF && p->tok.kind != TK_SEMI)
		next(p);
	if (p->tok.kind == TK_SEMI)
		next(p);
}

/* Duplicate annotation keys are an error (reported at the later one);
 * sorting keeps this O(n log n) however many annotations there are. */
static int
annot_ptr_cmp(const void *x, const void *y)
{
	const struct cedar_annotation *a =
	    *(const struct cedar_annotation *const *)x;
	const struct cedar_annotation *b =
	    *(const struct cedar_annotation *const *)y;
	int r = str_cmp(a->key, b->key);

	return r != 0 ? r : (a->off > b->off) - (a->off < b->off);
}

static bool
check_annotation_keys(struct parser *p, const struct plist *annots)
{
	const struct cedar_annotation **v;

	if ((v = palloc(p, annots->n * sizeof(*v))) == NULL)
		return false;
	memcpy(v, annots->v, annots->n * sizeof(*v));
	qsort(v, annots->n, sizeof(*v), annot_ptr_cmp);
	for (size_t i = 1; i < annots->n; i++)
		if (str_eq(v[i]->key, v[i - 1]->key))
			perr(p, v[i]->off, v[i]->len, "duplicate annotation "
			    "`@%.*s`", (int)v[i]->key.n, v[i]->key.p);
	return true;
}

static struct cedar_policy *
parse_policy(struct parser *p, size_t index, bool use_annotation_ids)
{
	struct cedar_policy *pol;
	struct plist annots = { 0 }, conds = { 0 };
	struct cedar_annotation *av;
	struct cedar_cond *cv;
	struct token et;
	int n_scope = 0;
	char idbuf[32];
	bool have_id = false;

	if ((pol = palloc(p, sizeof(*pol))) == NULL)
		return NULL;
	pol->off = p->tok.off;
	/* annotations */
	while (p->tok.kind == TK_AT) {
		struct cedar_annotation *an = palloc(p, sizeof(*an));
		if (an == NULL)
			return NULL;
		an->off = p->tok.off;
		next(p);
		if (p->tok.kind != TK_IDENT) {
			unexpected(p, "an annotation name");
			return NULL;
		}
		an->key = tok_text(p, &p->tok);
		an->value = STR_LIT("");
		an->len = p->tok.off + p->tok.len - an->off;
		next(p);
		if (accept(p, TK_LPAREN)) {
			struct token st = p->tok;
			if (!expect(p, TK_STRING, "a string literal"))
				return NULL;
			(void)tok_string(p, &st, &an->value);
			an->len = p->tok.off + p->tok.len - an->off;
			if (!expect(p, TK_RPAREN, "`)`"))
				return NULL;
		}
		if (!plist_push(p, &annots, an))
			return NULL;
		if (use_annotation_ids && str_eq_c(an->key, "id")) {
			pol->id = an->value;
			have_id = true;
		}
	}
	if (annots.n > 1 && !check_annotation_keys(p, &annots))
		return NULL;
	/* effect */
	et = p->tok;
	if (et.kind != TK_IDENT) {
		unexpected(p, "`permit` or `forbid`");
		return NULL;
	}
	if (et.kw == KW_PERMIT)
		pol->effect = CEDAR_PERMIT;
	else if (et.kw == KW_FORBID)
		pol->effect = CEDAR_FORBID;
	else
		perr(p, et.off, et.len, "not a policy effect: `%.*s` (expected "
		    "`permit` or `forbid`)", (int)(et.len > 40 ? 40 : et.len),
		    p->src + et.off);
	next(p);
	if (!expect(p, TK_LPAREN, "`(`"))
		return NULL;
	/* scope */
	while (p->tok.kind != TK_RPAREN) {
		struct cedar_scope extra, *sc = n_scope == 0 ? &pol->principal :
		    n_scope == 1 ? &pol->action : n_scope == 2 ?
		    &pol->resource : &extra;
		if (!parse_scope(p, n_scope < 3 ? n_scope : -1, sc))
			return NULL;
		n_scope++;
		if (!accept(p, TK_COMMA))
			break;
	}
	if (p->tok.kind == TK_RPAREN && n_scope < 3)
		perr(p, et.off, p->tok.off + 1 - et.off, "the policy scope "
		    "needs `%s`", n_scope == 0 ? "principal" : n_scope == 1 ?
		    "action" : "resource");
	if (!expect(p, TK_RPAREN, "`,` or `)`"))
		return NULL;
	/* conditions */
	while (p->tok.kind == TK_IDENT) {
		struct token ct = p->tok;
		struct cedar_cond *c = palloc(p, sizeof(*c));
		if (c == NULL)
			return NULL;
		c->off = ct.off;
		if (ct.kw == KW_WHEN)
			c->is_when = true;
		else if (ct.kw != KW_UNLESS)
			perr(p, ct.off, ct.len, "expected `when` or `unless`, "
			    "found `%.*s`", (int)(ct.len > 40 ? 40 : ct.len),
			    p->src + ct.off);
		next(p);
		if (!expect(p, TK_LBRACE, "`{`"))
			return NULL;
		if (p->tok.kind == TK_RBRACE) {
			perr(p, ct.off, p->tok.off + 1 - ct.off, "`%.*s` "
			    "clause should not be empty", (int)ct.len,
			    p->src + ct.off);
			c->expr = NULL;
		} else if ((c->expr = parse_expr(p)) == NULL) {
			return NULL;
		}
		c->len = p->tok.off + p->tok.len - c->off;
		if (!expect(p, TK_RBRACE, "`}`"))
			return NULL;
		if (!plist_push(p, &conds, c))
			return NULL;
	}
	pol->len = p->tok.off + p->tok.len - pol->off;
	if (!expect(p, TK_SEMI, "`when`, `unless` or `;`"))
		return NULL;
	/* assemble */
	if ((av = palloc(p, (annots.n + 1) * sizeof(*av))) == NULL ||
	    (cv = palloc(p, (conds.n + 1) * sizeof(*cv))) == NULL)
		return NULL;
	for (size_t i = 0; i < annots.n; i++)
		av[i] = *(struct cedar_annotation *)annots.v[i];
	for (size_t i = 0; i < conds.n; i++)
		cv[i] = *(struct cedar_cond *)conds.v[i];
	pol->annotations = av;
	pol->n_annotations = annots.n;
	pol->conds = cv;
	pol->n_conds = conds.n;
	pol->is_template = pol->principal.is_slot || pol->resource.is_slot;
	if (!have_id) {
		int k = snprintf(idbuf, sizeof(idbuf), "policy%zu", index);
		pol->id = arena_strdup(p->a, idbuf, (size_t)k);
		if (pol->id.p == NULL) {
			p->oom = p->failed = true;
			return NULL;
		}
	}
	pol->file = p->file;
	pol->src = p->src;
	pol->src_len = p->len;
	return pol;
}

/* Common set-up: size and UTF-8 checks, source copy. */
static int
parser_init(struct parser *p, struct arena *a, const char *src, size_t len,
    const char *file, struct diag_list *dl)
{
	struct str copy;
	size_t bad;

	memset(p, 0, sizeof(*p));
	p->a = a;
	p->file = file;
	p->dl = dl;
	if (src == NULL && len != 0)
		return MANDATE_EINVAL;
	if (len > CEDAR_MAX_POLICY_TEXT) {
		diag_add(dl, MANDATE_ELIMIT, file, NULL, 0, 0, 0,
		    "policy text is too large (%zu bytes, limit %u)", len,
		    CEDAR_MAX_POLICY_TEXT);
		return MANDATE_ELIMIT;
	}
	if ((bad = lex_utf8_check(src, len)) < len) {
		diag_add(dl, MANDATE_EPARSE, file, src, len, bad, 1,
		    "invalid UTF-8 in policy text");
		return MANDATE_EPARSE;
	}
	copy = arena_strdup(a, len ? src : "", len);
	if (copy.p == NULL)
		return MANDATE_ENOMEM;
	p->src = copy.p;
	p->len = len;
	lex_init(&p->lx, p->src, p->len);
	next(p);
	return MANDATE_OK;
}

static int
parser_result(const struct parser *p)
{
	if (p->oom)
		return MANDATE_ENOMEM;
	if (p->limit)
		return MANDATE_ELIMIT;
	return p->failed ? MANDATE_EPARSE : MANDATE_OK;
}

int
cedar_parse_policies(struct arena *a, const char *src, size_t len,
    const char *file, size_t first_index, bool use_annotation_ids,
    struct cedar_policy **out_policies, size_t *out_n, struct diag_list *dl)
{
	struct parser p;
	struct plist pols = { 0 };
	struct cedar_policy *arr = NULL;
	size_t k = 0;
	int r;

	*out_policies = NULL;
	*out_n = 0;
	if ((r = parser_init(&p, a, src, len, file, dl)) != MANDATE_OK)
		return r;
	while (p.tok.kind != TK_EOF && !p.oom) {
		struct cedar_policy *pol;
		p.policy_failed = false;
		p.reported = false;
		p.nest = 0;
		pol = parse_policy(&p, first_index + k, use_annotation_ids);
		k++;
		if (pol == NULL) {
			resync(&p);
			continue;
		}
		if (!p.policy_failed && !p.failed &&
		    !plist_push(&p, &pols, pol))
			break;
	}
	if ((r = parser_result(&p)) != MANDATE_OK)
		return r;
	if ((arr = arena_calloc(a, pols.n + 1, sizeof(*arr))) == NULL)
		return MANDATE_ENOMEM;
	for (size_t i = 0; i < pols.n; i++)
		arr[i] = *(struct cedar_policy *)pols.v[i];
	*out_policies = arr;
	*out_n = pols.n;
	return MANDATE_OK;
}

int
cedar_parse_expr(struct arena *a, const char *src, size_t len,
    struct cedar_expr **out, struct diag_list *dl)
{
	struct parser p;
	struct cedar_expr *e;
	int r;

	*out = NULL;
	if ((r = parser_init(&p, a, src, len, NULL, dl)) != MANDATE_OK)
		return r;
	e = parse_expr(&p);
	if (e != NULL && p.tok.kind != TK_EOF)
		unexpected(&p, "end of input");
	if ((r = parser_result(&p)) != MANDATE_OK)
		return r;
	if (e == NULL)
		return MANDATE_EINTERNAL;
	*out = e;
	return MANDATE_OK;
}

/* The common uid, a path of plain identifiers then a quoted id of
 * printable ASCII without escapes (`Acme::User::"alice"`), read without
 * the lexer: every request names three uids, and setting up a parser for
 * each cost more than the policies' evaluation in the Todo scenario.  The
 * uid is the one the parser would make (tests/unit/parse_test.c and
 * tests/fuzz/fuzz_uid.c compare them); anything else (white space, comments, escapes,
 * non-ASCII bytes, reserved words) is left to the parser: 0.  -1 when out
 * of memory, 1 when *out is set. */
static int
uid_plain(struct arena *a, const char *src, size_t len,
    struct cedar_uid *out)
{
	size_t i = 0, q;
	char *type, *id;

	if (src == NULL || len < 5 || len > CEDAR_MAX_POLICY_TEXT ||
	    src[len - 1] != '"')
		return 0;
	for (;;) {
		size_t start = i;

		while (i < len && (src[i] == '_' || (src[i] >= 'a' &&
		    src[i] <= 'z') || (src[i] >= 'A' && src[i] <= 'Z') ||
		    (src[i] >= '0' && src[i] <= '9')))
			i++;
		if (!cedar_is_plain_ident(str_make(src + start, i - start)) ||
		    len - i < 3 || src[i] != ':' || src[i + 1] != ':')
			return 0;
		i += 2;
		if (src[i] == '"')
			break;
	}
	if ((q = i) >= len - 1)
		return 0;
	for (size_t k = q + 1; k < len - 1; k++) {
		unsigned char c = (unsigned char)src[k];

		if (c < 0x20 || c >= 0x7f || c == '"' || c == '\\')
			return 0;
	}
	if ((type = arena_alloc(a, q - 2 + 1)) == NULL ||
	    (id = arena_alloc(a, len - q - 2 + 1)) == NULL)
		return -1;
	memcpy(type, src, q - 2);
	type[q - 2] = '\0';
	memcpy(id, src + q + 1, len - q - 2);
	id[len - q - 2] = '\0';
	out->type = str_make(type, q - 2);
	out->id = str_make(id, len - q - 2);
	return 1;
}

int
cedar_parse_uid(struct arena *a, const char *src, size_t len,
    struct cedar_uid *out, struct diag_list *dl)
{
	struct parser p;
	struct prim pr;
	int r;

	memset(out, 0, sizeof(*out));
	if ((r = uid_plain(a, src, len, out)) != 0)
		return r > 0 ? MANDATE_OK : MANDATE_ENOMEM;
	memset(&pr, 0, sizeof(pr));
	if ((r = parser_init(&p, a, src, len, NULL, dl)) != MANDATE_OK)
		return r;
	if (p.tok.kind != TK_IDENT) {
		unexpected(&p, "an entity uid like `Type::\"id\"`");
	} else if (parse_name_or_ref(&p, &pr)) {
		if (pr.e == NULL || pr.e->kind != CX_ENTITY)
			perr(&p, pr.off, pr.len, "expected an entity uid like "
			    "`Type::\"id\"`");
		else if (p.tok.kind != TK_EOF)
			unexpected(&p, "end of input");
	}
	if ((r = parser_result(&p)) != MANDATE_OK)
		return r;
	*out = pr.e->uid;
	return MANDATE_OK;
}

int
cedar_link_template(struct arena *a, const struct cedar_policy *tmpl,
    struct str new_id, const struct cedar_uid *principal,
    const struct cedar_uid *resource, struct cedar_policy **out)
{
	struct cedar_policy *pol;
	char *idp;

	*out = NULL;
	if (tmpl == NULL || !tmpl->is_template)
		return MANDATE_EINVAL;
	if (tmpl->principal.is_slot != (principal != NULL) ||
	    tmpl->resource.is_slot != (resource != NULL))
		return MANDATE_EINVAL;
	if ((pol = arena_zalloc(a, sizeof(*pol))) == NULL ||
	    (idp = arena_alloc(a, new_id.n + 1)) == NULL)
		return MANDATE_ENOMEM;
	*pol = *tmpl;
	memcpy(idp, new_id.p, new_id.n);
	idp[new_id.n] = '\0';
	pol->id = str_make(idp, new_id.n);
	pol->is_template = false;
	pol->template_of = tmpl;
	if (principal != NULL) {
		struct str t = arena_strdup(a, principal->type.p,
		    principal->type.n);
		struct str i = arena_strdup(a, principal->id.p,
		    principal->id.n);
		if (t.p == NULL || i.p == NULL)
			return MANDATE_ENOMEM;
		pol->has_slot_principal = true;
		pol->slot_principal.type = t;
		pol->slot_principal.id = i;
		pol->principal.is_slot = false;
		pol->principal.uid = pol->slot_principal;
	}
	if (resource != NULL) {
		struct str t = arena_strdup(a, resource->type.p,
		    resource->type.n);
		struct str i = arena_strdup(a, resource->id.p, resource->id.n);
		if (t.p == NULL || i.p == NULL)
			return MANDATE_ENOMEM;
		pol->has_slot_resource = true;
		pol->slot_resource.type = t;
		pol->slot_resource.id = i;
		pol->resource.is_slot = false;
		pol->resource.uid = pol->slot_resource;
	}
	*out = pol;
	return MANDATE_OK;
}

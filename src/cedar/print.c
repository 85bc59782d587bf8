/*
 * print.c - write a Cedar AST back as Cedar text (debugging and tests).
 *
 * The output is meant to parse back to the same AST, not to look like
 * the input: binary operators are fully parenthesized, record keys and
 * `has` attributes are always quoted, `!` and `-` wrap their operand in
 * parentheses (so `-(5)` stays a negation and never folds into a
 * literal).  Output goes into a caller buffer; when it is full, printing
 * stops (the AST may share subtrees after desugaring, so its printed size
 * can be much larger than its memory size).
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>

#include "lex_int.h"
#include "parse_int.h"
#include "../util/utf8.h"

struct out {
	char *buf;
	size_t cap, n;
	bool full;
};

static void
put(struct out *o, const char *s, size_t n)
{
	if (o->full)
		return;
	if (o->cap == 0 || n >= o->cap - o->n) {
		size_t room = o->cap > o->n + 1 ? o->cap - o->n - 1 : 0;
		if (room > 0)
			memcpy(o->buf + o->n, s, room);
		o->n += room;
		o->full = true;
		return;
	}
	memcpy(o->buf + o->n, s, n);
	o->n += n;
}

static void
puts_(struct out *o, const char *s)
{
	put(o, s, strlen(s));
}

static void
put_str(struct out *o, struct str s)
{
	put(o, s.p, s.n);
}

/* One code point of a string or pattern body, escaped as needed. */
static void
put_cp(struct out *o, uint32_t cp)
{
	char tmp[16];
	size_t n;

	switch (cp) {
	case '"': puts_(o, "\\\""); return;
	case '\\': puts_(o, "\\\\"); return;
	case '\n': puts_(o, "\\n"); return;
	case '\r': puts_(o, "\\r"); return;
	case '\t': puts_(o, "\\t"); return;
	case 0: puts_(o, "\\0"); return;
	default: break;
	}
	if (cp < 0x20 || cp == 0x7F) {
		n = (size_t)snprintf(tmp, sizeof(tmp), "\\u{%" PRIx32 "}", cp);
		put(o, tmp, n);
		return;
	}
	n = utf8_encode(cp, tmp);
	put(o, tmp, n);
}

static void
put_quoted(struct out *o, struct str s)
{
	size_t i = 0;

	puts_(o, "\"");
	while (i < s.n && !o->full) {
		size_t used;
		uint32_t cp = lex_utf8_decode(s.p + i, s.n - i, &used);
		put_cp(o, cp);
		i += used ? used : 1;
	}
	puts_(o, "\"");
}

static void
put_uid(struct out *o, const struct cedar_uid *u)
{
	put_str(o, u->type);
	puts_(o, "::");
	put_quoted(o, u->id);
}

static const char *const fn_names[CFN__COUNT] = {
	[CFN_CONTAINS] = "contains", [CFN_CONTAINS_ALL] = "containsAll",
	[CFN_CONTAINS_ANY] = "containsAny", [CFN_IS_EMPTY] = "isEmpty",
	[CFN_GET_TAG] = "getTag", [CFN_HAS_TAG] = "hasTag",
	[CFN_IP] = "ip", [CFN_IS_IPV4] = "isIpv4", [CFN_IS_IPV6] = "isIpv6",
	[CFN_IS_LOOPBACK] = "isLoopback", [CFN_IS_MULTICAST] = "isMulticast",
	[CFN_IS_IN_RANGE] = "isInRange", [CFN_DECIMAL] = "decimal",
	[CFN_LESS_THAN] = "lessThan",
	[CFN_LESS_THAN_OR_EQUAL] = "lessThanOrEqual",
	[CFN_GREATER_THAN] = "greaterThan",
	[CFN_GREATER_THAN_OR_EQUAL] = "greaterThanOrEqual",
	[CFN_DATETIME] = "datetime", [CFN_DURATION] = "duration",
	[CFN_OFFSET] = "offset", [CFN_DURATION_SINCE] = "durationSince",
	[CFN_TO_DATE] = "toDate", [CFN_TO_TIME] = "toTime",
	[CFN_TO_MILLISECONDS] = "toMilliseconds",
	[CFN_TO_SECONDS] = "toSeconds", [CFN_TO_MINUTES] = "toMinutes",
	[CFN_TO_HOURS] = "toHours", [CFN_TO_DAYS] = "toDays",
};

static void pexpr(struct out *o, const struct cedar_expr *e);

static void
pitems(struct out *o, struct cedar_expr *const *items, uint32_t n)
{
	for (uint32_t i = 0; i < n && !o->full; i++) {
		if (i)
			puts_(o, ", ");
		pexpr(o, items[i]);
	}
}

/* A receiver of `.x`, `["x"]` or `.m()`. */
static void
precv(struct out *o, const struct cedar_expr *e)
{
	bool wrap = e->kind == CX_NOT || e->kind == CX_NEG ||
	    (e->kind == CX_LONG && e->ival < 0);

	if (wrap)
		puts_(o, "(");
	pexpr(o, e);
	if (wrap)
		puts_(o, ")");
}

static const char *
binop(int kind)
{
	switch (kind) {
	case CX_AND: return " && ";
	case CX_OR: return " || ";
	case CX_EQ: return " == ";
	case CX_NE: return " != ";
	case CX_LT: return " < ";
	case CX_LE: return " <= ";
	case CX_GT: return " > ";
	case CX_GE: return " >= ";
	case CX_IN: return " in ";
	case CX_ADD: return " + ";
	case CX_SUB: return " - ";
	case CX_MUL: return " * ";
	default: return NULL;
	}
}

static void
pexpr(struct out *o, const struct cedar_expr *e)
{
	char tmp[32];
	const char *op;

	if (o->full)
		return;
	if (e == NULL) {
		puts_(o, "<null>");
		return;
	}
	if ((op = binop(e->kind)) != NULL) {
		puts_(o, "(");
		pexpr(o, e->a);
		puts_(o, op);
		pexpr(o, e->b);
		puts_(o, ")");
		return;
	}
	switch (e->kind) {
	case CX_BOOL:
		puts_(o, e->bval ? "true" : "false");
		break;
	case CX_LONG:
		put(o, tmp, (size_t)snprintf(tmp, sizeof(tmp), "%" PRId64,
		    e->ival));
		break;
	case CX_STRING:
		put_quoted(o, e->s);
		break;
	case CX_ENTITY:
		put_uid(o, &e->uid);
		break;
	case CX_VAR:
		puts_(o, e->var == CVAR_PRINCIPAL ? "principal" :
		    e->var == CVAR_ACTION ? "action" :
		    e->var == CVAR_RESOURCE ? "resource" : "context");
		break;
	case CX_SLOT:
		puts_(o, e->var == CSLOT_PRINCIPAL ? "?principal" :
		    "?resource");
		break;
	case CX_NOT:
	case CX_NEG:
		puts_(o, e->kind == CX_NOT ? "!(" : "-(");
		pexpr(o, e->a);
		puts_(o, ")");
		break;
	case CX_HAS:
		puts_(o, "(");
		pexpr(o, e->a);
		puts_(o, " has ");
		put_quoted(o, e->s);
		puts_(o, ")");
		break;
	case CX_LIKE:
		puts_(o, "(");
		pexpr(o, e->a);
		puts_(o, " like \"");
		for (size_t i = 0; i < e->pat.n && !o->full; i++) {
			uint32_t cp = e->pat.elems[i];
			if (cp == CEDAR_PAT_WILDCARD)
				puts_(o, "*");
			else if (cp == '*')
				puts_(o, "\\*");
			else
				put_cp(o, cp);
		}
		puts_(o, "\")");
		break;
	case CX_IS:
		puts_(o, "(");
		pexpr(o, e->a);
		puts_(o, " is ");
		put_str(o, e->s);
		puts_(o, ")");
		break;
	case CX_IF:
		puts_(o, "(if ");
		pexpr(o, e->a);
		puts_(o, " then ");
		pexpr(o, e->b);
		puts_(o, " else ");
		pexpr(o, e->c);
		puts_(o, ")");
		break;
	case CX_GETATTR:
		precv(o, e->a);
		if (cedar_is_plain_ident(e->s)) {
			puts_(o, ".");
			put_str(o, e->s);
		} else {
			puts_(o, "[");
			put_quoted(o, e->s);
			puts_(o, "]");
		}
		break;
	case CX_CALL:
		puts_(o, e->fn < CFN__COUNT ? fn_names[e->fn] : "?");
		puts_(o, "(");
		pitems(o, e->items, e->n_items);
		puts_(o, ")");
		break;
	case CX_METHOD:
		precv(o, e->a);
		puts_(o, ".");
		puts_(o, e->fn < CFN__COUNT ? fn_names[e->fn] : "?");
		puts_(o, "(");
		pitems(o, e->items, e->n_items);
		puts_(o, ")");
		break;
	case CX_SET:
		puts_(o, "[");
		pitems(o, e->items, e->n_items);
		puts_(o, "]");
		break;
	case CX_RECORD:
		puts_(o, "{");
		for (uint32_t i = 0; i < e->n_items && !o->full; i++) {
			if (i)
				puts_(o, ", ");
			put_quoted(o, e->keys[i]);
			puts_(o, ": ");
			pexpr(o, e->items[i]);
		}
		puts_(o, "}");
		break;
	default:
		puts_(o, "<?>");
		break;
	}
}

static int
finish(struct out *o, size_t *out_len)
{
	if (o->cap > 0)
		o->buf[o->n < o->cap ? o->n : o->cap - 1] = '\0';
	if (out_len != NULL)
		*out_len = o->n;
	return o->full ? MANDATE_ELIMIT : MANDATE_OK;
}

int
cedar_expr_dump(const struct cedar_expr *e, char *buf, size_t cap,
    size_t *out_len)
{
	struct out o = { buf, cap, 0, false };

	pexpr(&o, e);
	return finish(&o, out_len);
}

static void
pscope(struct out *o, const char *var, const struct cedar_scope *s,
    const char *slot)
{
	puts_(o, var);
	switch (s->kind) {
	case CSCOPE_ANY:
		return;
	case CSCOPE_EQ:
		puts_(o, " == ");
		break;
	case CSCOPE_IN:
		puts_(o, " in ");
		break;
	case CSCOPE_IS:
	case CSCOPE_IS_IN:
		puts_(o, " is ");
		put_str(o, s->is_type);
		if (s->kind == CSCOPE_IS)
			return;
		puts_(o, " in ");
		break;
	case CSCOPE_IN_SET:
		puts_(o, " in [");
		for (size_t i = 0; i < s->n_uids; i++) {
			if (i)
				puts_(o, ", ");
			put_uid(o, &s->uids[i]);
		}
		puts_(o, "]");
		return;
	default:
		puts_(o, " <?>");
		return;
	}
	if (s->is_slot)
		puts_(o, slot);
	else
		put_uid(o, &s->uid);
}

int
cedar_policy_dump(const struct cedar_policy *p, char *buf, size_t cap,
    size_t *out_len)
{
	struct out o = { buf, cap, 0, false };

	for (size_t i = 0; i < p->n_annotations; i++) {
		puts_(&o, "@");
		put_str(&o, p->annotations[i].key);
		puts_(&o, "(");
		put_quoted(&o, p->annotations[i].value);
		puts_(&o, ")\n");
	}
	puts_(&o, p->effect == CEDAR_FORBID ? "forbid (" : "permit (");
	pscope(&o, "principal", &p->principal, "?principal");
	puts_(&o, ", ");
	pscope(&o, "action", &p->action, "?action");
	puts_(&o, ", ");
	pscope(&o, "resource", &p->resource, "?resource");
	puts_(&o, ")");
	for (size_t i = 0; i < p->n_conds; i++) {
		puts_(&o, p->conds[i].is_when ? "\nwhen { " : "\nunless { ");
		pexpr(&o, p->conds[i].expr);
		puts_(&o, " }");
	}
	puts_(&o, ";");
	return finish(&o, out_len);
}

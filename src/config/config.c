/*
 * config.c - YAML configuration for the daemon, on libyaml.
 *
 * Two passes.  The first reads libyaml's event stream into a small tree
 * in the configuration's arena, rejecting anchors, aliases, tags, more
 * than one document and inputs past the depth and node limits.  The
 * second walks that tree against tables of known keys (one per section),
 * converting and checking each value in place over the defaults, and
 * reporting every unknown key, wrong type and bad value it finds; checks
 * that involve several keys run last.  Locations come from libyaml's
 * marks (character indexes), turned into byte offsets only when a
 * diagnostic is recorded.
 */
#include "config.h"
#include "config_int.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <netinet/in.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <openssl/crypto.h>
#include <yaml.h>

#include "audit/redact.h"
#include "util/file.h"
#include "util/status.h"

#define CONFIG_ARENA_LIMIT  (16u << 20)
#define CONFIG_MAX_PATH     4096
#define CONFIG_MAX_STRING   8192
#define CONFIG_MAX_LIST     1024
#define CONFIG_MAX_TOOLS    256

/* ---- the YAML tree ---------------------------------------------------- */

enum ykind { Y_SCALAR, Y_SEQ, Y_MAP };

struct ynode {
	enum ykind kind;
	bool plain;               /* scalar written without quotes */
	size_t start, end;        /* libyaml character indexes */
	const char *s;            /* scalar text, NUL-terminated */
	size_t n;
	struct ynode **kids;      /* map: key, value, key, value... */
	size_t n_kids, cap;
};

struct ctx {
	struct arena *a;
	struct diag_list *dl;
	const char *file;
	const char *src;
	size_t len;
	int status;               /* first error, or MANDATE_OK */
	size_t n_nodes;
	const char *listen_ov;    /* --listen, applied over server.listen */
	size_t n_errors;          /* diagnostics reported so far */
};

/* libyaml's character index of byte offset `off` (for reader errors,
 * which libyaml reports as a byte offset). */
static size_t
byte_to_char(const struct ctx *c, size_t off)
{
	size_t i = 0, chars = 0;

	if (c->len >= 3 && memcmp(c->src, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	for (; i < off && i < c->len; i++)
		if (((unsigned char)c->src[i] & 0xc0) != 0x80)
			chars++;
	return chars;
}

/* Byte offset of libyaml's character index `idx` (a UTF-8 BOM is not
 * counted by libyaml). */
static size_t
char_to_byte(const struct ctx *c, size_t idx)
{
	size_t i = 0, chars = 0;

	if (c->len >= 3 && memcmp(c->src, "\xef\xbb\xbf", 3) == 0)
		i = 3;
	for (; i < c->len; i++) {
		if (((unsigned char)c->src[i] & 0xc0) == 0x80)
			continue;
		if (chars == idx)
			return i;
		chars++;
	}
	return c->len;
}

static void
report_at(struct ctx *c, int code, size_t start, size_t end,
    const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static void
report_at(struct ctx *c, int code, size_t start, size_t end,
    const char *fmt, ...)
{
	char msg[DIAG_MSG_MAX];
	size_t off = 0, off_end = 0;
	va_list ap;

	if (c->status == MANDATE_OK || code == MANDATE_ENOMEM)
		c->status = code;
	c->n_errors++;
	if (c->dl == NULL)
		return;
	if (c->dl->n < DIAG_MAX) {
		off = char_to_byte(c, start);
		off_end = end > start ? char_to_byte(c, end) : off;
	}
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	diag_add(c->dl, code, c->file, c->src, c->len, off,
	    off_end > off ? off_end - off : 0, "%s", msg);
}

static void
report(struct ctx *c, const struct ynode *n, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
report(struct ctx *c, const struct ynode *n, const char *fmt, ...)
{
	char msg[DIAG_MSG_MAX];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	report_at(c, MANDATE_EINVAL, n ? n->start : 0, n ? n->end : 0,
	    "%s", msg);
}

static void
oom(struct ctx *c)
{
	if (c->status != MANDATE_ENOMEM)
		report_at(c, MANDATE_ENOMEM, 0, 0, "out of memory");
}

static const char *
event_name(yaml_event_type_t t)
{
	switch (t) {
	case YAML_ALIAS_EVENT: return "alias";
	case YAML_SCALAR_EVENT: return "scalar";
	case YAML_SEQUENCE_START_EVENT: return "sequence";
	case YAML_MAPPING_START_EVENT: return "mapping";
	default: return "node";
	}
}

static struct ynode *
node_new(struct ctx *c, enum ykind kind, const yaml_event_t *ev)
{
	struct ynode *n;

	if (++c->n_nodes > CONFIG_MAX_NODES) {
		report_at(c, MANDATE_ELIMIT, ev->start_mark.index,
		    ev->end_mark.index, "more than %u YAML nodes",
		    (unsigned)CONFIG_MAX_NODES);
		return NULL;
	}
	if ((n = arena_zalloc(c->a, sizeof(*n))) == NULL) {
		oom(c);
		return NULL;
	}
	n->kind = kind;
	n->start = ev->start_mark.index;
	n->end = ev->end_mark.index;
	return n;
}

static int
node_append(struct ctx *c, struct ynode *parent, struct ynode *kid)
{
	if (parent->n_kids == parent->cap) {
		size_t cap = parent->cap ? parent->cap * 2 : 8;
		struct ynode **k = arena_realloc(c->a, parent->kids,
		    parent->cap * sizeof(*k), cap * sizeof(*k));

		if (k == NULL) {
			oom(c);
			return -1;
		}
		parent->kids = k;
		parent->cap = cap;
	}
	parent->kids[parent->n_kids++] = kid;
	return 0;
}

/* Read the event stream into a tree; NULL root for an empty document.
 * Returns 0, or -1 with a diagnostic. */
static int
build_tree(struct ctx *c, struct ynode **root_out)
{
	yaml_parser_t p;
	yaml_event_t ev;
	struct ynode *stack[CONFIG_MAX_DEPTH + 1];
	struct ynode *root = NULL;
	size_t depth = 0;
	int n_docs = 0, r = -1;
	bool done = false;

	*root_out = NULL;
	if (!yaml_parser_initialize(&p)) {
		oom(c);
		return -1;
	}
	yaml_parser_set_input_string(&p, (const unsigned char *)c->src, c->len);
	yaml_parser_set_encoding(&p, YAML_UTF8_ENCODING);
	while (!done) {
		struct ynode *n = NULL;

		if (!yaml_parser_parse(&p, &ev)) {
			size_t where = p.error == YAML_READER_ERROR ?
			    byte_to_char(c, p.problem_offset) :
			    p.problem_mark.index;

			report_at(c, p.error == YAML_MEMORY_ERROR ?
			    MANDATE_ENOMEM : MANDATE_EPARSE, where, where,
			    "YAML: %s%s%s", p.problem ? p.problem : "error",
			    p.context ? " " : "", p.context ? p.context : "");
			goto out;
		}
		switch (ev.type) {
		case YAML_STREAM_END_EVENT:
			done = true;
			break;
		case YAML_DOCUMENT_START_EVENT:
			if (++n_docs > 1) {
				report_at(c, MANDATE_EPARSE,
				    ev.start_mark.index, ev.end_mark.index,
				    "only one YAML document is allowed");
				goto out_ev;
			}
			break;
		case YAML_ALIAS_EVENT:
			report_at(c, MANDATE_EPARSE, ev.start_mark.index,
			    ev.end_mark.index,
			    "YAML aliases are not allowed in the configuration");
			goto out_ev;
		case YAML_SCALAR_EVENT:
		case YAML_SEQUENCE_START_EVENT:
		case YAML_MAPPING_START_EVENT: {
			const yaml_char_t *anchor, *tag;

			if (ev.type == YAML_SCALAR_EVENT) {
				anchor = ev.data.scalar.anchor;
				tag = ev.data.scalar.tag;
			} else if (ev.type == YAML_SEQUENCE_START_EVENT) {
				anchor = ev.data.sequence_start.anchor;
				tag = ev.data.sequence_start.tag;
			} else {
				anchor = ev.data.mapping_start.anchor;
				tag = ev.data.mapping_start.tag;
			}
			if (anchor != NULL) {
				report_at(c, MANDATE_EPARSE,
				    ev.start_mark.index, ev.end_mark.index,
				    "YAML anchors are not allowed in the "
				    "configuration");
				goto out_ev;
			}
			if (tag != NULL) {
				report_at(c, MANDATE_EPARSE,
				    ev.start_mark.index, ev.end_mark.index,
				    "YAML tags are not allowed in the "
				    "configuration");
				goto out_ev;
			}
			n = node_new(c, ev.type == YAML_SCALAR_EVENT ? Y_SCALAR :
			    ev.type == YAML_SEQUENCE_START_EVENT ? Y_SEQ : Y_MAP,
			    &ev);
			if (n == NULL)
				goto out_ev;
			if (ev.type == YAML_SCALAR_EVENT) {
				struct str s = arena_strdup(c->a,
				    (const char *)ev.data.scalar.value,
				    ev.data.scalar.length);

				if (s.p == NULL) {
					oom(c);
					goto out_ev;
				}
				n->s = s.p;
				n->n = s.n;
				n->plain = ev.data.scalar.style ==
				    YAML_PLAIN_SCALAR_STYLE;
			}
			if (depth > 0) {
				if (node_append(c, stack[depth - 1], n) != 0)
					goto out_ev;
			} else {
				root = n;
			}
			if (ev.type != YAML_SCALAR_EVENT) {
				if (depth >= CONFIG_MAX_DEPTH) {
					report_at(c, MANDATE_ELIMIT,
					    ev.start_mark.index,
					    ev.end_mark.index,
					    "YAML %s nested deeper than %u",
					    event_name(ev.type),
					    (unsigned)CONFIG_MAX_DEPTH);
					goto out_ev;
				}
				stack[depth++] = n;
			}
			break;
		}
		case YAML_SEQUENCE_END_EVENT:
		case YAML_MAPPING_END_EVENT:
			if (depth == 0)
				goto out_ev;   /* libyaml never does this */
			stack[depth - 1]->end = ev.end_mark.index;
			depth--;
			break;
		default:
			break;
		}
		yaml_event_delete(&ev);
	}
	*root_out = root;
	r = 0;
	goto out;
out_ev:
	yaml_event_delete(&ev);
out:
	yaml_parser_delete(&p);
	return r;
}

/* ---- scalar conversions ----------------------------------------------- */

static bool
is_null(const struct ynode *n)
{
	return n->kind == Y_SCALAR && n->plain &&
	    (n->n == 0 || strcmp(n->s, "~") == 0 || strcmp(n->s, "null") == 0 ||
	    strcmp(n->s, "Null") == 0 || strcmp(n->s, "NULL") == 0);
}

/* The text of a scalar, after "${ENV:NAME}" substitution.  Returns 0, or
 * -1 with a diagnostic. */
static int
scalar_text(struct ctx *c, const struct ynode *n, const char *what,
    const char **out, size_t *out_n)
{
	static const char pfx[] = "${ENV:";
	size_t pl = sizeof(pfx) - 1;

	if (n->kind != Y_SCALAR) {
		report(c, n, "%s: expected a scalar, found a %s", what,
		    n->kind == Y_MAP ? "mapping" : "sequence");
		return -1;
	}
	if (n->n >= pl + 1 && memcmp(n->s, pfx, pl) == 0 &&
	    n->s[n->n - 1] == '}') {
		char name[128];
		size_t nl = n->n - pl - 1;
		const char *v;

		/* not taken as the literal text: it was meant as a
		 * substitution, and its value is not in the file */
		if (nl == 0) {
			report(c, n, "%s: ${ENV:} names no environment "
			    "variable (write ${ENV:NAME})", what);
			return -1;
		}
		if (nl >= sizeof(name)) {
			report(c, n, "%s: bad environment variable name", what);
			return -1;
		}
		for (size_t i = 0; i < nl; i++) {
			unsigned char ch = (unsigned char)n->s[pl + i];

			if (!(isalpha(ch) || ch == '_' || (i > 0 && isdigit(ch)))) {
				report(c, n, "%s: bad environment variable "
				    "name", what);
				return -1;
			}
		}
		memcpy(name, n->s + pl, nl);
		name[nl] = '\0';
		if ((v = secure_getenv(name)) == NULL) {
			report(c, n, "%s: environment variable %s is not set",
			    what, name);
			return -1;
		}
		*out = v;
		*out_n = strlen(v);
		return 0;
	}
	*out = n->s;
	*out_n = n->n;
	return 0;
}

/* ASCII and C1 control characters, and the Unicode line and paragraph
 * separators (YAML folds them, so they could not be written back). */
static bool
has_nul_or_ctl(const char *s, size_t n)
{
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (ch < 0x20 || ch == 0x7f)
			return true;
		if (ch == 0xc2 && i + 1 < n &&
		    (unsigned char)s[i + 1] >= 0x80 &&
		    (unsigned char)s[i + 1] <= 0x9f)
			return true;
		if (ch == 0xe2 && i + 2 < n && (unsigned char)s[i + 1] == 0x80 &&
		    ((unsigned char)s[i + 2] == 0xa8 ||
		    (unsigned char)s[i + 2] == 0xa9))
			return true;
	}
	return false;
}

/* A plain unsigned decimal; -1 if not one, -2 if one > max. */
static int
parse_u64(const char *s, size_t n, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	bool over = false;

	if (n == 0)
		return -1;
	for (size_t i = 0; i < n; i++) {
		if (!isdigit((unsigned char)s[i]))
			return -1;
		if (over || v > (max - (uint64_t)(s[i] - '0')) / 10) {
			over = true;
			continue;
		}
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (over)
		return -2;
	*out = v;
	return 0;
}

/* "90", "90s", "15m", "1h30m", "2d"; seconds.  -1 on bad syntax, -2 if
 * well formed but over 100 years (past any field's maximum). */
static int
parse_duration(const char *s, size_t n, uint64_t *out)
{
	const uint64_t limit = 100ULL * 365 * 86400;
	uint64_t total = 0;
	size_t i = 0;
	int last_unit = 5, r;
	bool over = false;

	if (n == 0)
		return -1;
	if ((r = parse_u64(s, n, limit, out)) != -1)
		return r;
	while (i < n) {
		uint64_t v = 0, mult;
		size_t j = i;
		int unit;

		while (j < n && isdigit((unsigned char)s[j]))
			j++;
		if (j == i || j == n)
			return -1;
		switch (s[j]) {
		case 'd': mult = 86400; unit = 4; break;
		case 'h': mult = 3600; unit = 3; break;
		case 'm': mult = 60; unit = 2; break;
		case 's': mult = 1; unit = 1; break;
		default: return -1;
		}
		if (unit >= last_unit)
			return -1;      /* units in decreasing order, once */
		last_unit = unit;
		if (parse_u64(s + i, j - i, limit, &v) != 0 ||
		    v > (limit - total) / mult)
			over = true;    /* the rest must still be well formed */
		else
			total += v * mult;
		i = j + 1;
	}
	if (over)
		return -2;
	*out = total;
	return 0;
}

/* "1048576", "512B", "64KiB", "1MiB", "1GiB", "10kB", "5MB", "1GB".
 * -1 on bad syntax, -2 if well formed but over 1 TiB. */
static int
parse_size(const char *s, size_t n, uint64_t *out)
{
	static const struct { const char *u; uint64_t m; } units[] = {
		{ "B", 1 }, { "KiB", 1024 }, { "MiB", 1024 * 1024 },
		{ "GiB", 1024 * 1024 * 1024 }, { "kB", 1000 }, { "KB", 1000 },
		{ "MB", 1000 * 1000 }, { "GB", 1000 * 1000 * 1000 },
	};
	size_t j = 0;
	uint64_t v = 0;
	int r;

	while (j < n && isdigit((unsigned char)s[j]))
		j++;
	if (j == 0)
		return -1;
	r = parse_u64(s, j, 1ULL << 40, &v);
	if (j == n) {
		if (r == 0)
			*out = v;
		return r;
	}
	for (size_t k = 0; k < sizeof(units) / sizeof(units[0]); k++) {
		if (strlen(units[k].u) == n - j &&
		    memcmp(s + j, units[k].u, n - j) == 0) {
			if (r != 0 || v > (1ULL << 40) / units[k].m)
				return -2;
			*out = v * units[k].m;
			return 0;
		}
	}
	return -1;
}

static bool
is_loopback_host(const char *h, size_t n)
{
	char lit[16];
	struct in_addr a4;

	if ((n == 9 && memcmp(h, "localhost", 9) == 0) ||
	    (n == 3 && memcmp(h, "::1", 3) == 0) ||
	    (n == 5 && memcmp(h, "[::1]", 5) == 0))
		return true;
	/* an IPv4 address in 127.0.0.0/8, written as one: a host name that
	 * only starts "127." (127.evil.example) is anywhere */
	if (n < 7 || n >= sizeof(lit))
		return false;
	memcpy(lit, h, n);
	lit[n] = '\0';
	return inet_pton(AF_INET, lit, &a4) == 1 &&
	    (ntohl(a4.s_addr) >> 24) == 127;
}

static bool
port_ok(const char *s, size_t n, uint16_t *out)
{
	uint64_t v;

	if (parse_u64(s, n, 65535, &v) != 0 || v == 0)
		return false;
	if (out)
		*out = (uint16_t)v;
	return true;
}

enum { URL_HTTPS = 1, URL_NOQUERY = 2 };

/* An absolute http(s) URL; NULL if fine, else why not. */
static const char *
check_url(const char *s, size_t n, unsigned flags)
{
	size_t i, host_start, host_end, auth_end;
	bool https;

	if (has_nul_or_ctl(s, n) || memchr(s, ' ', n) != NULL)
		return "contains spaces or control characters";
	if (n >= 8 && memcmp(s, "https://", 8) == 0) {
		https = true;
		i = 8;
	} else if (n >= 7 && memcmp(s, "http://", 7) == 0) {
		https = false;
		i = 7;
	} else {
		return "must start with https:// or http://";
	}
	host_start = i;
	for (auth_end = i; auth_end < n; auth_end++)
		if (s[auth_end] == '/' || s[auth_end] == '?' ||
		    s[auth_end] == '#')
			break;
	if (memchr(s + i, '@', auth_end - i) != NULL)
		return "must not contain credentials";
	host_end = auth_end;
	if (host_start < auth_end && s[host_start] == '[') {
		const char *rb = memchr(s + host_start, ']',
		    auth_end - host_start);

		if (rb == NULL)
			return "has an unterminated IPv6 address";
		host_end = (size_t)(rb - s) + 1;
		if (host_end < auth_end && (s[host_end] != ':' ||
		    !port_ok(s + host_end + 1, auth_end - host_end - 1, NULL)))
			return "has a bad port";
	} else {
		const char *colon = memchr(s + host_start, ':',
		    auth_end - host_start);

		if (colon != NULL) {
			host_end = (size_t)(colon - s);
			if (!port_ok(colon + 1, auth_end - host_end - 1, NULL))
				return "has a bad port";
		}
	}
	if (host_end == host_start)
		return "has no host";
	if ((flags & URL_HTTPS) && !https &&
	    !is_loopback_host(s + host_start, host_end - host_start))
		return "must use https (http is allowed only for loopback hosts)";
	if ((flags & URL_NOQUERY) && (memchr(s, '?', n) || memchr(s, '#', n)))
		return "must not have a query or fragment";
	return NULL;
}

static const char *
check_trust_domain(const char *s, size_t n)
{
	if (n == 0 || n > 255)
		return "must be 1 to 255 characters";
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];

		if (!(islower(ch) || isdigit(ch) || ch == '.' || ch == '-' ||
		    ch == '_'))
			return "may contain only lowercase letters, digits, "
			    "'.', '-' and '_'";
	}
	return NULL;
}

/* A SPIFFE ID: spiffe://<trust domain>[/<segment>...]. */
static const char *
check_spiffe_id(const char *s, size_t n)
{
	size_t i, td_end;
	const char *why;

	if (n < 9 || memcmp(s, "spiffe://", 9) != 0)
		return "must start with spiffe://";
	if (n > 2048)
		return "is longer than 2048 bytes";
	for (td_end = 9; td_end < n && s[td_end] != '/'; td_end++)
		;
	if ((why = check_trust_domain(s + 9, td_end - 9)) != NULL)
		return "has a bad trust domain";
	i = td_end;
	while (i < n) {
		size_t j = i + 1;

		while (j < n && s[j] != '/') {
			unsigned char ch = (unsigned char)s[j];

			if (!(isalnum(ch) || ch == '.' || ch == '-' || ch == '_'))
				return "has a bad character in its path";
			j++;
		}
		if (j == i + 1)
			return "has an empty path segment";
		if ((j - i - 1 == 1 && s[i + 1] == '.') ||
		    (j - i - 1 == 2 && s[i + 1] == '.' && s[i + 2] == '.'))
			return "has a '.' or '..' path segment";
		i = j;
	}
	return NULL;
}

/* ---- key tables ------------------------------------------------------- */

enum ftype {
	F_SECTION,     /* a mapping described by .sub */
	F_STR,         /* const char * */
	F_PATH,        /* const char *, a file or directory */
	F_URL,         /* const char *; .min holds URL_* flags */
	F_DSN,         /* const char *, a PostgreSQL connection string */
	F_TD,          /* const char *, a SPIFFE trust domain */
	F_BOOL,        /* bool */
	F_UINT,        /* unsigned, in [min, max] */
	F_COUNT,       /* size_t, in [min, max] */
	F_DUR,         /* uint64_t seconds, in [min, max] */
	F_SIZE,        /* size_t bytes, in [min, max] */
	F_ENUM,        /* an enum (int-sized); names in .names */
	F_STRS,        /* struct config_strlist of strings */
	F_PATHS,       /* struct config_strlist of paths */
	F_SPIFFE_IDS,  /* struct config_strlist of SPIFFE IDs */
	F_REDACT,      /* struct config_strlist of audit redaction paths */
	F_ALGS,        /* unsigned bit set of enum config_alg */
	F_LISTEN,      /* struct config_server's listen, host and port */
	F_ISSUERS,     /* struct config_identity's issuer list */
	F_TOOLS,       /* struct config_policies's tool_servers */
	F_LABELS,      /* struct config_tools's output_labels */
};

struct field {
	const char *key;
	enum ftype type;
	size_t off;
	uint64_t min, max;
	const char *const *names;
	const struct field *sub;
};

#define FLD(k, t, st, m, lo, hi) \
	{ k, t, offsetof(st, m), lo, hi, NULL, NULL }
#define ENUMF(k, st, m, nm) \
	{ k, F_ENUM, offsetof(st, m), 0, 0, nm, NULL }
#define SECT(k, st, m, tab) \
	{ k, F_SECTION, offsetof(st, m), 0, 0, NULL, tab }
#define END { NULL, F_STR, 0, 0, 0, NULL, NULL }

#define KiB 1024ULL
#define MiB (1024ULL * 1024)
#define HOUR 3600ULL
#define DAY 86400ULL

static const char *const client_auth_names[] = { "none", "optional",
    "require", NULL };
static const char *const driver_names[] = { "sqlite", "postgres", NULL };
static const char *const issuer_kind_names[] = { "oidc", "spiffe", NULL };
static const char *const level_names[] = { "debug", "info", "warn",
    "error", NULL };
static const char *const format_names[] = { "text", "json", NULL };
static const char *const audit_names[] = { "sync", "async", NULL };
static const char *const forbid_error_names[] = { "deny", "skip", NULL };

static const struct field tls_fields[] = {
	FLD("cert_file", F_PATH, struct config_tls, cert_file, 0, 0),
	FLD("key_file", F_PATH, struct config_tls, key_file, 0, 0),
	FLD("client_ca_file", F_PATH, struct config_tls, client_ca_file, 0, 0),
	ENUMF("client_auth", struct config_tls, client_auth, client_auth_names),
	END
};

static const struct field server_fields[] = {
	FLD("listen", F_LISTEN, struct config_server, listen, 0, 0),
	FLD("threads", F_UINT, struct config_server, threads, 1, 1024),
	FLD("max_body_size", F_SIZE, struct config_server, max_body_size,
	    1 * KiB, 64 * MiB),
	/* at least the kill switch's longest request line (6 KiB: an
	 * agent id of 2048 bytes, each percent-encoded) and its headers */
	FLD("connection_memory", F_SIZE, struct config_server,
	    connection_memory, 8 * KiB, 1 * MiB),
	FLD("request_timeout", F_DUR, struct config_server, request_timeout,
	    1, HOUR),
	FLD("max_connections", F_UINT, struct config_server, max_connections,
	    1, 1000000),
	FLD("max_per_ip", F_UINT, struct config_server, max_per_ip, 0,
	    1000000),
	SECT("tls", struct config_server, tls, tls_fields),
	END
};

static const struct field store_fields[] = {
	ENUMF("driver", struct config_store, driver, driver_names),
	FLD("path", F_PATH, struct config_store, path, 0, 0),
	FLD("dsn", F_DSN, struct config_store, dsn, 0, 0),
	END
};

static const struct field policies_fields[] = {
	FLD("platform", F_PATHS, struct config_policies, platform, 0, 0),
	FLD("tool_servers", F_TOOLS, struct config_policies, tool_servers,
	    0, 0),
	FLD("schema", F_PATH, struct config_policies, schema_file, 0, 0),
	FLD("entities", F_PATHS, struct config_policies, entity_files, 0, 0),
	FLD("watch", F_BOOL, struct config_policies, watch, 0, 0),
	FLD("reload_interval", F_DUR, struct config_policies,
	    reload_interval, 1, DAY),
	ENUMF("on_forbid_error", struct config_policies, on_forbid_error,
	    forbid_error_names),
	END
};

/* Indexes into issuer_fields, for the per-kind checks. */
enum {
	IF_NAME, IF_KIND, IF_ISSUER, IF_DISCOVERY, IF_JWKS_URI, IF_JWKS_FILE,
	IF_SUBJECT_PREFIX, IF_AUDIENCES, IF_ALGORITHMS, IF_LEEWAY, IF_MAX_TOKEN,
	IF_REFRESH, IF_MAX_STALE, IF_TD, IF_BUNDLE_FILE, IF_BUNDLE_URL, IF_HINT,
	IF_X509,
};

static const struct field issuer_fields[] = {
	FLD("name", F_STR, struct config_issuer, name, 0, 0),
	ENUMF("kind", struct config_issuer, kind, issuer_kind_names),
	FLD("issuer", F_URL, struct config_issuer, issuer, URL_HTTPS, 0),
	FLD("discovery", F_BOOL, struct config_issuer, discovery, 0, 0),
	FLD("jwks_uri", F_URL, struct config_issuer, jwks_uri, URL_HTTPS, 0),
	FLD("jwks_file", F_PATH, struct config_issuer, jwks_file, 0, 0),
	FLD("subject_prefix", F_STR, struct config_issuer, subject_prefix,
	    0, 0),
	FLD("audiences", F_STRS, struct config_issuer, audiences, 0, 0),
	FLD("algorithms", F_ALGS, struct config_issuer, algorithms, 0, 0),
	FLD("leeway", F_DUR, struct config_issuer, leeway, 0, 300),
	FLD("max_token_size", F_SIZE, struct config_issuer, max_token_size,
	    256, 64 * KiB),
	FLD("jwks_refresh", F_DUR, struct config_issuer, jwks_refresh,
	    10, DAY),
	FLD("jwks_max_stale", F_DUR, struct config_issuer, jwks_max_stale,
	    60, 30 * DAY),
	FLD("trust_domain", F_TD, struct config_issuer, trust_domain, 0, 0),
	FLD("bundle_file", F_PATH, struct config_issuer, bundle_file, 0, 0),
	FLD("bundle_url", F_URL, struct config_issuer, bundle_url,
	    URL_HTTPS, 0),
	FLD("refresh_hint", F_DUR, struct config_issuer, refresh_hint,
	    10, DAY),
	FLD("x509_ca_file", F_PATH, struct config_issuer, x509_ca_file, 0, 0),
	END
};

static const struct field identity_fields[] = {
	FLD("issuers", F_ISSUERS, struct config_identity, issuers, 0, 0),
	FLD("token_cache_size", F_COUNT, struct config_identity,
	    token_cache_size, 0, 10000000),
	FLD("jwks_cache_size", F_COUNT, struct config_identity,
	    jwks_cache_size, 1, 1000),
	END
};

static const struct field dpop_fields[] = {
	FLD("algorithms", F_ALGS, struct config_dpop, algorithms, 0, 0),
	FLD("iat_window", F_DUR, struct config_dpop, iat_window, 1, 600),
	FLD("require", F_BOOL, struct config_dpop, require, 0, 0),
	FLD("nonce", F_BOOL, struct config_dpop, nonce, 0, 0),
	FLD("replay_cache_size", F_COUNT, struct config_dpop,
	    replay_cache_size, 1, 10000000),
	END
};

enum { TF_ISSUER, TF_AUDIENCE, TF_DEFAULT_TTL, TF_MAX_TTL, TF_KEY_DIR,
    TF_KEY_FILES, TF_OVERLAP };

static const struct field tokens_fields[] = {
	FLD("issuer", F_URL, struct config_tokens, issuer, URL_NOQUERY, 0),
	FLD("audience", F_STR, struct config_tokens, audience, 0, 0),
	FLD("default_ttl", F_DUR, struct config_tokens, default_ttl, 1, DAY),
	FLD("max_ttl", F_DUR, struct config_tokens, max_ttl, 1, DAY),
	FLD("key_dir", F_PATH, struct config_tokens, key_dir, 0, 0),
	FLD("key_files", F_PATHS, struct config_tokens, key_files, 0, 0),
	FLD("rotation_overlap", F_DUR, struct config_tokens, rotation_overlap,
	    0, 30 * DAY),
	FLD("publish_delay", F_DUR, struct config_tokens, publish_delay, 1,
	    DAY),
	SECT("dpop", struct config_tokens, dpop, dpop_fields),
	END
};

static const struct field tasks_fields[] = {
	FLD("default_ttl", F_DUR, struct config_tasks, default_ttl, 1,
	    30 * DAY),
	FLD("max_ttl", F_DUR, struct config_tasks, max_ttl, 1, 30 * DAY),
	FLD("default_call_budget", F_UINT, struct config_tasks,
	    default_call_budget, 0, 100000000),
	FLD("max_call_budget", F_UINT, struct config_tasks, max_call_budget,
	    0, 100000000),
	FLD("max_intents", F_UINT, struct config_tasks, max_intents, 1, 1024),
	FLD("retention", F_DUR, struct config_tasks, retention, 0,
	    3650 * DAY),
	END
};

static const struct field api_auth_fields[] = {
	FLD("bearer_issuers", F_STRS, struct config_api_auth, bearer_issuers,
	    0, 0),
	FLD("bearer_subjects", F_STRS, struct config_api_auth,
	    bearer_subjects, 0, 0),
	FLD("mtls_identities", F_SPIFFE_IDS, struct config_api_auth,
	    mtls_identities, 0, 0),
	FLD("open_on_loopback", F_BOOL, struct config_api_auth,
	    open_on_loopback, 0, 0),
	END
};

static const struct field authzen_fields[] = {
	FLD("authenticate", F_BOOL, struct config_authzen, authenticate, 0, 0),
	END
};

static const struct field dev_fields[] = {
	FLD("enabled", F_BOOL, struct config_dev, enabled, 0, 0),
	FLD("trust_domain", F_TD, struct config_dev, trust_domain, 0, 0),
	FLD("oidc_issuer", F_URL, struct config_dev, oidc_issuer,
	    URL_NOQUERY, 0),
	END
};

static const struct field logging_fields[] = {
	ENUMF("level", struct config_logging, level, level_names),
	ENUMF("format", struct config_logging, format, format_names),
	ENUMF("audit", struct config_logging, audit, audit_names),
	END
};

static const struct field tools_fields[] = {
	FLD("output_labels", F_LABELS, struct config_tools, output_labels,
	    0, 0),
	END
};

static const struct field audit_fields[] = {
	FLD("redact_paths", F_REDACT, struct config_audit, redact_paths, 0, 0),
	FLD("redact_key_file", F_PATH, struct config_audit, redact_key_file,
	    0, 0),
	FLD("queue_size", F_COUNT, struct config_audit, queue_size, 1,
	    1000000),
	FLD("prompt_max", F_SIZE, struct config_audit, prompt_max, 256,
	    64 * KiB),
	FLD("decisions", F_BOOL, struct config_audit, decisions, 0, 0),
	FLD("indexes", F_STRS, struct config_audit, indexes, 0, 0),
	FLD("checkpoint_every", F_UINT, struct config_audit, checkpoint_every,
	    0, 100000000),
	FLD("checkpoint_interval", F_DUR, struct config_audit,
	    checkpoint_interval, 1, DAY),
	FLD("checkpoint_file", F_PATH, struct config_audit, checkpoint_file,
	    0, 0),
	FLD("key_file", F_PATH, struct config_audit, key_file, 0, 0),
	END
};

static const struct field top_fields[] = {
	FLD("data_dir", F_PATH, struct config, data_dir, 0, 0),
	SECT("server", struct config, server, server_fields),
	SECT("store", struct config, store, store_fields),
	SECT("policies", struct config, policies, policies_fields),
	SECT("identity", struct config, identity, identity_fields),
	SECT("tokens", struct config, tokens, tokens_fields),
	SECT("tasks", struct config, tasks, tasks_fields),
	SECT("api_auth", struct config, api_auth, api_auth_fields),
	SECT("authzen", struct config, authzen, authzen_fields),
	SECT("dev", struct config, dev, dev_fields),
	SECT("logging", struct config, logging, logging_fields),
	SECT("tools", struct config, tools, tools_fields),
	SECT("audit", struct config, audit, audit_fields),
	END
};

/* Where each key of one mapping was found (NULL: not given). */
struct seen {
	const struct ynode *key[32];
	const struct ynode *val[32];
	bool bad[32];             /* given, and its value was refused */
};

/* ---- defaults --------------------------------------------------------- */

static const char *const default_algs_doc =
    "ES256, ES384, RS256, PS256, EdDSA";

static void
set_defaults(struct config *cfg, bool dev)
{
	cfg->data_dir = "./mandate-data";
	cfg->server.listen = "127.0.0.1:8700";
	cfg->server.listen_host = "127.0.0.1";
	cfg->server.listen_port = 8700;
	cfg->server.threads = 4;
	cfg->server.max_body_size = 1 * MiB;
	cfg->server.connection_memory = 16 * KiB;
	cfg->server.max_connections = 1000;
	cfg->server.max_per_ip = 0;
	cfg->server.request_timeout = 30;
	cfg->store.driver = CONFIG_STORE_SQLITE;
	cfg->policies.reload_interval = 5;
	cfg->identity.token_cache_size = 10000;
	cfg->identity.jwks_cache_size = 16;
	cfg->tokens.default_ttl = 300;
	cfg->tokens.max_ttl = HOUR;
	cfg->tokens.publish_delay = 300;
	cfg->tokens.dpop.algorithms = CONFIG_ALG_ALL;
	cfg->tokens.dpop.iat_window = 60;
	cfg->tokens.dpop.replay_cache_size = 100000;
	cfg->tasks.default_ttl = 15 * 60;
	cfg->tasks.max_ttl = 8 * HOUR;
	cfg->tasks.retention = 30 * DAY;
	cfg->tasks.default_call_budget = 0;
	cfg->tasks.max_call_budget = 0;
	cfg->tasks.max_intents = 64;
	cfg->audit.checkpoint_every = 1000;
	cfg->audit.checkpoint_interval = 60;
	cfg->api_auth.open_on_loopback = dev;
	cfg->authzen.authenticate = true;
	cfg->dev.enabled = dev;
	cfg->dev.trust_domain = "dev.local";
	cfg->logging.level = CONFIG_LOG_INFO;
	cfg->logging.format = CONFIG_LOG_TEXT;
	cfg->logging.audit = CONFIG_AUDIT_SYNC;
	cfg->audit.queue_size = 4096;
	cfg->audit.prompt_max = 4096;
	cfg->audit.decisions = true;
}

static void
issuer_defaults(struct config_issuer *is)
{
	memset(is, 0, sizeof(*is));
	is->kind = CONFIG_ISSUER_OIDC;
	is->algorithms = CONFIG_ALG_ALL;
	is->leeway = 60;
	is->max_token_size = 8 * KiB;
	is->jwks_refresh = 5 * 60;
	is->jwks_max_stale = DAY;
}

static char *
aprintf(struct ctx *c, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static char *
aprintf(struct ctx *c, const char *fmt, ...)
{
	va_list ap;
	int n;
	char *p;

	va_start(ap, fmt);
	n = vsnprintf(NULL, 0, fmt, ap);
	va_end(ap);
	if (n < 0 || (p = arena_alloc(c->a, (size_t)n + 1)) == NULL) {
		oom(c);
		return NULL;
	}
	va_start(ap, fmt);
	vsnprintf(p, (size_t)n + 1, fmt, ap);
	va_end(ap);
	return p;
}

/* ---- the walk --------------------------------------------------------- */

static void parse_map(struct ctx *c, const struct ynode *map,
    const struct field *tab, void *base, const char *section,
    struct seen *seen);

/* Closest key of `tab` within edit distance 2 of s, for "did you mean". */
static const char *
suggest(const struct field *tab, const char *s, size_t n)
{
	const char *best = NULL;
	size_t best_d = 3;

	if (n > 40)
		return NULL;
	for (const struct field *f = tab; f->key; f++) {
		size_t kl = strlen(f->key), prev[48], cur[48];

		if (kl > 40)
			continue;
		for (size_t j = 0; j <= kl; j++)
			prev[j] = j;
		for (size_t i = 1; i <= n; i++) {
			cur[0] = i;
			for (size_t j = 1; j <= kl; j++) {
				size_t d = prev[j - 1] +
				    (s[i - 1] != f->key[j - 1]);

				if (prev[j] + 1 < d)
					d = prev[j] + 1;
				if (cur[j - 1] + 1 < d)
					d = cur[j - 1] + 1;
				cur[j] = d;
			}
			memcpy(prev, cur, (kl + 1) * sizeof(size_t));
		}
		if (prev[kl] < best_d) {
			best_d = prev[kl];
			best = f->key;
		}
	}
	return best;
}

/* A string value checked for its type; NULL after a diagnostic. */
static const char *
get_string(struct ctx *c, const struct ynode *v, const char *what,
    enum ftype type, uint64_t flags)
{
	const char *s, *why = NULL;
	size_t n;
	const char *copy;

	if (scalar_text(c, v, what, &s, &n) != 0)
		return NULL;
	if (memchr(s, '\0', n) != NULL) {
		report(c, v, "%s: contains a NUL byte", what);
		return NULL;
	}
	switch (type) {
	case F_PATH:
		if (n == 0)
			why = "must not be empty";
		else if (n >= CONFIG_MAX_PATH)
			why = "is too long";
		else if (has_nul_or_ctl(s, n))
			why = "contains control characters";
		break;
	case F_URL:
		why = check_url(s, n, (unsigned)flags);
		break;
	case F_DSN:
		if (n == 0)
			why = "must not be empty";
		else if (!(strncmp(s, "postgres://", 11) == 0 ||
		    strncmp(s, "postgresql://", 13) == 0 ||
		    memchr(s, '=', n) != NULL))
			why = "must be a postgres:// URI or key=value pairs";
		break;
	case F_TD:
		if (n >= 9 && memcmp(s, "spiffe://", 9) == 0) {
			s += 9;
			n -= 9;
		}
		why = check_trust_domain(s, n);
		break;
	default:
		if (n == 0)
			why = "must not be empty";
		else if (n > CONFIG_MAX_STRING)
			why = "is too long";
		else if (has_nul_or_ctl(s, n))
			why = "contains control characters";
		break;
	}
	if (why != NULL) {
		report(c, v, "%s: %s", what, why);
		return NULL;
	}
	if ((copy = arena_strdup(c->a, s, n).p) == NULL)
		oom(c);
	return copy;
}

static int
get_bool(struct ctx *c, const struct ynode *v, const char *what, bool *out)
{
	const char *s;
	size_t n;

	if (scalar_text(c, v, what, &s, &n) != 0)
		return -1;
	if (strcmp(s, "true") == 0) {
		*out = true;
		return 0;
	}
	if (strcmp(s, "false") == 0) {
		*out = false;
		return 0;
	}
	report(c, v, "%s: expected true or false, found '%.40s'", what, s);
	return -1;
}

static const struct {
	const char *name;
	enum config_alg bit;
} alg_table[] = {
	{ "ES256", CONFIG_ALG_ES256 }, { "ES384", CONFIG_ALG_ES384 },
	{ "RS256", CONFIG_ALG_RS256 }, { "PS256", CONFIG_ALG_PS256 },
	{ "EdDSA", CONFIG_ALG_EDDSA },
};

const char *
config_alg_name(enum config_alg alg)
{
	for (size_t i = 0; i < sizeof(alg_table) / sizeof(alg_table[0]); i++)
		if (alg_table[i].bit == alg)
			return alg_table[i].name;
	return "?";
}

/* A scalar or a sequence of scalars, each checked by get_string(). */
static int
get_list(struct ctx *c, const struct ynode *v, const char *what,
    enum ftype item_type, struct config_strlist *out)
{
	const struct ynode *const *items = (const struct ynode *const *)&v;
	size_t n = 1, n_ok = 0;
	const char **arr;
	int r = 0;

	if (v->kind == Y_MAP) {
		report(c, v, "%s: expected a list, found a mapping", what);
		return -1;
	}
	if (v->kind == Y_SEQ) {
		items = (const struct ynode *const *)v->kids;
		n = v->n_kids;
	}
	if (n > CONFIG_MAX_LIST) {
		report(c, v, "%s: more than %u items", what,
		    (unsigned)CONFIG_MAX_LIST);
		return -1;
	}
	if (item_type == F_REDACT && n > REDACT_MAX_PATHS) {
		report(c, v, "%s: %zu paths, at most %u", what, n,
		    (unsigned)REDACT_MAX_PATHS);
		return -1;
	}
	if ((arr = arena_calloc(c->a, n ? n : 1, sizeof(*arr))) == NULL) {
		oom(c);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const char *s;

		if (item_type == F_SPIFFE_IDS) {
			const char *t, *why;
			size_t tn;

			if (scalar_text(c, items[i], what, &t, &tn) != 0) {
				r = -1;
				continue;
			}
			if ((why = check_spiffe_id(t, tn)) != NULL) {
				report(c, items[i], "%s: '%.60s' %s", what, t,
				    why);
				r = -1;
				continue;
			}
			s = get_string(c, items[i], what, F_STR, 0);
		} else if (item_type == F_REDACT) {
			const char *why;

			if ((s = get_string(c, items[i], what, F_STR, 0)) !=
			    NULL && (why = redact_path_problem(s)) != NULL) {
				report(c, items[i], "%s: '%.60s%s': %s", what, s,
				    strlen(s) > 60 ? "..." : "", why);
				s = NULL;
			}
		} else {
			s = get_string(c, items[i], what, item_type, 0);
		}
		if (s == NULL) {
			r = -1;
			continue;
		}
		arr[n_ok++] = s;
	}
	if (r == 0) {
		out->v = arr;
		out->n = n_ok;
	}
	return r;
}

static int
get_algs(struct ctx *c, const struct ynode *v, const char *what,
    unsigned *out)
{
	struct config_strlist l = { NULL, 0 };
	unsigned bits = 0;
	int r = 0;

	if (get_list(c, v, what, F_STR, &l) != 0)
		return -1;
	for (size_t i = 0; i < l.n; i++) {
		const char *s = l.v[i];
		size_t k;

		for (k = 0; k < sizeof(alg_table) / sizeof(alg_table[0]); k++)
			if (strcmp(s, alg_table[k].name) == 0)
				break;
		if (k < sizeof(alg_table) / sizeof(alg_table[0])) {
			bits |= (unsigned)alg_table[k].bit;
			continue;
		}
		r = -1;
		if (strcasecmp(s, "none") == 0 || strncasecmp(s, "HS", 2) == 0)
			report(c, v->kind == Y_SEQ ? v->kids[i] : v,
			    "%s: '%s' is never accepted (unsigned or symmetric "
			    "algorithm)", what, s);
		else
			report(c, v->kind == Y_SEQ ? v->kids[i] : v,
			    "%s: unknown algorithm '%.40s' (allowed: %s)", what,
			    s, default_algs_doc);
	}
	if (r == 0 && bits == 0) {
		report(c, v, "%s: must name at least one algorithm", what);
		r = -1;
	}
	if (r == 0)
		*out = bits;
	return r;
}

/* The host of server.listen is bound as it is written, without a name
 * lookup (the server hands it to inet_pton): an IPv4 address in four
 * decimal parts, or an IPv6 address in brackets.  Whatever would not
 * bind is refused here, so that the file's check, --print-config and
 * the bind agree.  NULL if fine, else why not. */
static const char *
check_listen_host(const char *h, size_t n, bool bracketed)
{
	char lit[INET6_ADDRSTRLEN];
	unsigned char addr[sizeof(struct in6_addr)];

	if (n < sizeof(lit)) {
		memcpy(lit, h, n);
		lit[n] = '\0';
		if (inet_pton(bracketed ? AF_INET6 : AF_INET, lit, addr) == 1)
			return NULL;
	}
	if (bracketed)
		return "expected an IPv6 address between the brackets";
	if (n == 9 && strncasecmp(h, "localhost", 9) == 0)
		return "'localhost' is a host name, and host names are not "
		    "resolved: use 127.0.0.1 (or [::1])";
	return "expected an IPv4 address in four decimal parts (e.g. "
	    "127.0.0.1) or [IPv6]; host names are not resolved";
}

/* Whether a host that check_listen_host() accepted is a loopback
 * address: 127.0.0.0/8 or ::1. */
static bool
is_loopback_listen(const char *h)
{
	struct in_addr a4;
	struct in6_addr a6;

	if (inet_pton(AF_INET, h, &a4) == 1)
		return (ntohl(a4.s_addr) >> 24) == 127;
	return inet_pton(AF_INET6, h, &a6) == 1 && IN6_IS_ADDR_LOOPBACK(&a6);
}

/* "host:port" or "[v6]:port" split into host (without brackets) and
 * port; NULL if fine, else why not.  Port 0 ("any free port") only with
 * allow_zero (the command line's --listen; a file names its port). */
static const char *
split_listen(const char *s, bool allow_zero, const char **host_out,
    size_t *hn_out, uint16_t *port_out)
{
	const char *host, *colon, *why;
	size_t n = strlen(s), hn;
	uint64_t port;

	if (s[0] == '[') {
		const char *rb = strchr(s, ']');

		if (rb == NULL || rb[1] != ':')
			return "expected [IPv6]:port";
		host = s + 1;
		hn = (size_t)(rb - host);
		colon = rb + 1;
	} else {
		colon = strrchr(s, ':');
		if (colon == NULL || memchr(s, ':', (size_t)(colon - s)))
			return "expected host:port or [IPv6]:port";
		host = s;
		hn = (size_t)(colon - s);
	}
	if (hn == 0)
		return "missing host (use 0.0.0.0 for every address)";
	if ((why = check_listen_host(host, hn, s[0] == '[')) != NULL)
		return why;
	if (parse_u64(colon + 1, n - (size_t)(colon + 1 - s), 65535,
	    &port) != 0 || (port == 0 && !allow_zero))
		return allow_zero ? "port must be 0 to 65535" :
		    "port must be 1 to 65535";
	*host_out = host;
	*hn_out = hn;
	*port_out = (uint16_t)port;
	return NULL;
}

static int
get_listen(struct ctx *c, const struct ynode *v, const char *what,
    struct config_server *srv)
{
	const char *s, *host, *why;
	size_t hn;
	uint16_t port;
	const char *h;

	if ((s = get_string(c, v, what, F_STR, 0)) == NULL)
		return -1;
	if ((why = split_listen(s, false, &host, &hn, &port)) != NULL) {
		report(c, v, "%s: %s", what, why);
		return -1;
	}
	if ((h = arena_strdup(c->a, host, hn).p) == NULL) {
		oom(c);
		return -1;
	}
	srv->listen = s;
	srv->listen_host = h;
	srv->listen_port = port;
	return 0;
}

static void
check_issuer(struct ctx *c, const struct ynode *item,
    struct config_issuer *is, const struct seen *sn, const char *what)
{
	static const int oidc_only[] = { IF_ISSUER, IF_DISCOVERY, IF_JWKS_URI,
	    IF_JWKS_FILE, IF_SUBJECT_PREFIX };
	static const int spiffe_only[] = { IF_TD, IF_BUNDLE_FILE, IF_BUNDLE_URL,
	    IF_HINT, IF_X509 };
	int sources;

	/* A key given with a refused value has had its error: the checks
	 * below that need it say nothing more about it ("needs 'issuer'"
	 * after "issuer: must use https" would only confuse). */
	if (is->name == NULL) {
		if (!sn->bad[IF_NAME])
			report(c, item, "%s: missing 'name'", what);
	} else {
		for (const char *p = is->name; *p; p++) {
			if (!(isalnum((unsigned char)*p) || *p == '-' ||
			    *p == '_' || *p == '.')) {
				report(c, sn->val[IF_NAME], "%s: name may "
				    "contain only letters, digits, '-', '_' "
				    "and '.'", what);
				break;
			}
		}
	}
	if (is->audiences.n == 0 && !sn->bad[IF_AUDIENCES])
		report(c, sn->key[IF_AUDIENCES] ? sn->val[IF_AUDIENCES] : item,
		    "%s: 'audiences' must list at least one audience "
		    "(tokens without a matching aud are rejected)", what);
	if (is->jwks_max_stale < is->jwks_refresh && !sn->bad[IF_MAX_STALE] &&
	    !sn->bad[IF_REFRESH])
		report(c, sn->val[IF_MAX_STALE] ? sn->val[IF_MAX_STALE] : item,
		    "%s: jwks_max_stale is shorter than jwks_refresh", what);
	if (sn->bad[IF_KIND])
		return;         /* which keys apply is unknown */
	if (is->kind == CONFIG_ISSUER_OIDC) {
		for (size_t i = 0; i < sizeof(spiffe_only) / sizeof(int); i++)
			if (sn->key[spiffe_only[i]])
				report(c, sn->key[spiffe_only[i]],
				    "%s: '%s' applies only to kind spiffe",
				    what, issuer_fields[spiffe_only[i]].key);
		if (is->issuer == NULL && !sn->bad[IF_ISSUER])
			report(c, item, "%s: kind oidc needs 'issuer' (the "
			    "tokens' iss value)", what);
		sources = (is->discovery ? 1 : 0) + (is->jwks_uri != NULL) +
		    (is->jwks_file != NULL);
		if (sources != 1 && !sn->bad[IF_DISCOVERY] &&
		    !sn->bad[IF_JWKS_URI] && !sn->bad[IF_JWKS_FILE])
			report(c, item, "%s: kind oidc needs exactly one key "
			    "source: 'discovery: true', 'jwks_uri' or "
			    "'jwks_file'", what);
	} else {
		for (size_t i = 0; i < sizeof(oidc_only) / sizeof(int); i++)
			if (sn->key[oidc_only[i]])
				report(c, sn->key[oidc_only[i]],
				    "%s: '%s' applies only to kind oidc",
				    what, issuer_fields[oidc_only[i]].key);
		if (is->trust_domain == NULL && !sn->bad[IF_TD])
			report(c, item, "%s: kind spiffe needs 'trust_domain'",
			    what);
		if ((is->bundle_file != NULL) + (is->bundle_url != NULL) != 1 &&
		    !sn->bad[IF_BUNDLE_FILE] && !sn->bad[IF_BUNDLE_URL])
			report(c, item, "%s: kind spiffe needs exactly one of "
			    "'bundle_file' or 'bundle_url'", what);
	}
}

/* Does one of a and b begin the other (ASCII letters in any case with
 * `nocase`)?  Then some principal prefix + sub of one is also one of
 * the other: "p:" + "x:alice" is "p:x:" + "alice". */
static bool
prefixes_overlap(const char *a, const char *b, bool nocase)
{
	for (; *a != '\0' && *b != '\0'; a++, b++)
		if (nocase ? tolower((unsigned char)*a) !=
		    tolower((unsigned char)*b) : *a != *b)
			return false;
	return true;
}

/* An oidc issuer's subject_prefix on its own: visible ASCII, at most
 * CONFIG_SUBJECT_PREFIX_MAX bytes, and the beginning of no SPIFFE ID (a
 * person's principal would name a workload, which only a spiffe issuer
 * may vouch for) and of no dev-user:NAME (the development people
 * issuer's subjects).  false after a diagnostic. */
static bool
subject_prefix_ok(struct ctx *c, const struct ynode *v, const char *p,
    const char *what)
{
	size_t n = strlen(p);

	if (n > CONFIG_SUBJECT_PREFIX_MAX) {
		report(c, v, "%s.subject_prefix: longer than %u bytes", what,
		    (unsigned)CONFIG_SUBJECT_PREFIX_MAX);
		return false;
	}
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)p[i];

		if (ch <= 0x20 || ch >= 0x7f) {
			report(c, v, "%s.subject_prefix: only visible ASCII "
			    "characters (no spaces)", what);
			return false;
		}
	}
	if (prefixes_overlap(p, "spiffe:", true)) {
		report(c, v, "%s.subject_prefix: '%s' could begin a SPIFFE ID "
		    "(spiffe:, in any case): a person's principal would name "
		    "a workload", what, p);
		return false;
	}
	if (prefixes_overlap(p, CONFIG_DEV_SUBJECT_PREFIX, false)) {
		report(c, v, "%s.subject_prefix: '%s' overlaps '%s', the "
		    "subjects of the development people issuer", what, p,
		    CONFIG_DEV_SUBJECT_PREFIX);
		return false;
	}
	return true;
}

/*
 * OIDC Core 5.7: a sub is unique only within its issuer; the pair (iss,
 * sub) names the person.  The principal an oidc token names is
 * subject_prefix + sub, so the issuers' principals stay apart only when
 * at most one oidc issuer has no prefix and no prefix begins another.
 * `skip` marks the issuers already refused, or not of kind oidc.
 * (The identity module also refuses a token of the issuer without a
 * prefix whose sub begins with another issuer's prefix.)
 */
static void
check_subject_spaces(struct ctx *c, const struct ynode *list,
    const struct config_issuer *arr, const struct ynode *const *pfx,
    const bool *skip, size_t n)
{
	size_t bare = n;        /* the first oidc issuer without a prefix */

	for (size_t i = 0; i < n; i++) {
		const char *p = arr[i].subject_prefix;

		if (skip[i])
			continue;
		if (p == NULL && bare == n) {
			bare = i;
		} else if (p == NULL) {
			report(c, list->kids[i], "identity.issuers[%zu]: oidc "
			    "issuers '%.40s' and '%.40s' both lack "
			    "subject_prefix: the same sub from each would be "
			    "one principal; set one, e.g. \"%.40s:\"", i,
			    arr[bare].name, arr[i].name, arr[i].name);
		} else {
			for (size_t j = 0; j < i; j++) {
				const char *q = arr[j].subject_prefix;

				if (skip[j] || q == NULL ||
				    !prefixes_overlap(p, q, false))
					continue;
				if (strcmp(p, q) == 0)
					report(c, pfx[i], "identity.issuers"
					    "[%zu].subject_prefix: '%.40s' is "
					    "also that of '%.40s': the same "
					    "sub from each would be one "
					    "principal", i, p, arr[j].name);
				else
					report(c, pfx[i], "identity.issuers"
					    "[%zu].subject_prefix: '%.40s' and "
					    "'%.40s' of '%.40s' begin alike: "
					    "one principal could come from "
					    "both", i, p, q, arr[j].name);
				break;
			}
		}
	}
}

/* What an issuer is chosen by: a spiffe issuer's trust domain, an oidc
 * issuer's iss. */
static const char *
issuer_claim(const struct config_issuer *is)
{
	return is->kind == CONFIG_ISSUER_SPIFFE ? is->trust_domain :
	    is->issuer;
}

static int
get_issuers(struct ctx *c, const struct ynode *v, const char *what,
    struct config_identity *id)
{
	const struct ynode *pfx[CONFIG_MAX_ISSUERS];
	bool skip[CONFIG_MAX_ISSUERS];
	struct config_issuer *arr;
	int r = 0;

	if (v->kind != Y_SEQ) {
		report(c, v, "%s: expected a list of issuers", what);
		return -1;
	}
	if (v->n_kids > CONFIG_MAX_ISSUERS) {
		report(c, v, "%s: more than %u issuers", what,
		    (unsigned)CONFIG_MAX_ISSUERS);
		return -1;
	}
	if ((arr = arena_calloc(c->a, v->n_kids ? v->n_kids : 1,
	    sizeof(*arr))) == NULL) {
		oom(c);
		return -1;
	}
	for (size_t i = 0; i < v->n_kids; i++) {
		const struct ynode *item = v->kids[i];
		struct seen sn;
		char label[64];
		int before = c->dl ? (int)(c->dl->n + c->dl->dropped) : 0;

		snprintf(label, sizeof(label), "identity.issuers[%zu]", i);
		issuer_defaults(&arr[i]);
		pfx[i] = NULL;
		skip[i] = true;
		if (item->kind != Y_MAP) {
			report(c, item, "%s: expected a mapping", label);
			r = -1;
			continue;
		}
		parse_map(c, item, issuer_fields, &arr[i], label, &sn);
		check_issuer(c, item, &arr[i], &sn, label);
		pfx[i] = sn.val[IF_SUBJECT_PREFIX];
		skip[i] = sn.bad[IF_KIND] || sn.bad[IF_SUBJECT_PREFIX] ||
		    arr[i].name == NULL || arr[i].kind != CONFIG_ISSUER_OIDC ||
		    (arr[i].subject_prefix != NULL && !subject_prefix_ok(c,
		    pfx[i], arr[i].subject_prefix, label));
		for (size_t j = 0; j < i && arr[i].name; j++) {
			if (arr[j].name && strcmp(arr[j].name, arr[i].name)
			    == 0) {
				report(c, sn.val[IF_NAME], "%s: duplicate "
				    "issuer name '%s'", label, arr[i].name);
				break;
			}
		}
		/* A credential is checked against the first issuer that
		 * claims it (identity.c, x509.c): a second one would be
		 * ignored, e.g. the new CA of a migration, or an oidc
		 * issuer's keys and audiences. */
		for (size_t j = 0; j < i && !sn.bad[IF_KIND] &&
		    issuer_claim(&arr[i]) != NULL; j++) {
			if (arr[j].kind != arr[i].kind ||
			    issuer_claim(&arr[j]) == NULL ||
			    strcmp(issuer_claim(&arr[j]),
			    issuer_claim(&arr[i])) != 0)
				continue;
			if (arr[i].kind == CONFIG_ISSUER_SPIFFE)
				report(c, sn.val[IF_TD], "%s.trust_domain: "
				    "'%.40s' and '%.40s' both have '%.40s', "
				    "and only the first would be used: put "
				    "all its CAs in one issuer",
				    label, arr[j].name ? arr[j].name : "?",
				    arr[i].name ? arr[i].name : "?",
				    arr[i].trust_domain);
			else
				report(c, sn.val[IF_ISSUER], "%s.issuer: '%.40s' "
				    "and '%.40s' are both '%.80s', and only the "
				    "first would be used: one issuer per iss",
				    label, arr[j].name ? arr[j].name : "?",
				    arr[i].name ? arr[i].name : "?",
				    arr[i].issuer);
			break;
		}
		if (c->dl && (int)(c->dl->n + c->dl->dropped) != before)
			r = -1;
	}
	check_subject_spaces(c, v, arr, pfx, skip, v->n_kids);
	id->issuers = arr;
	id->n_issuers = v->n_kids;
	return r;
}

static int
get_tools(struct ctx *c, const struct ynode *v, const char *what,
    struct config_policies *pol)
{
	struct config_tool_server *arr;
	size_t n;
	int r = 0;

	if (v->kind != Y_MAP) {
		report(c, v, "%s: expected a mapping of tool server name to "
		    "policy paths", what);
		return -1;
	}
	n = v->n_kids / 2;
	if (n > CONFIG_MAX_TOOLS) {
		report(c, v, "%s: more than %u tool servers", what,
		    (unsigned)CONFIG_MAX_TOOLS);
		return -1;
	}
	if ((arr = arena_calloc(c->a, n ? n : 1, sizeof(*arr))) == NULL) {
		oom(c);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ynode *k = v->kids[2 * i], *val = v->kids[2 * i + 1];
		char label[200];

		if ((arr[i].name = get_string(c, k, what, F_STR, 0)) == NULL) {
			r = -1;
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			if (arr[j].name && strcmp(arr[j].name, arr[i].name)
			    == 0) {
				report(c, k, "%s: duplicate tool server '%s'",
				    what, arr[i].name);
				r = -1;
			}
		}
		snprintf(label, sizeof(label), "%s.%.40s", what, arr[i].name);
		if (is_null(val)) {
			report(c, val, "%s: expected policy paths", label);
			r = -1;
			continue;
		}
		if (get_list(c, val, label, F_PATH, &arr[i].paths) != 0)
			r = -1;
	}
	if (r == 0) {
		pol->tool_servers = arr;
		pol->n_tool_servers = n;
	}
	return r;
}

/* A label or tool action name: 1..CONFIG_MAX_LABEL bytes of letters,
 * digits and _ - . : / (log- and policy-safe, like intent actions). */
static bool
label_ok(const char *s)
{
	size_t n = strlen(s);

	if (n == 0 || n > CONFIG_MAX_LABEL)
		return false;
	for (size_t i = 0; i < n; i++) {
		unsigned char ch = (unsigned char)s[i];
		if (!isalnum(ch) && ch != '_' && ch != '-' && ch != '.' &&
		    ch != ':' && ch != '/')
			return false;
	}
	return true;
}

static int
get_labels(struct ctx *c, const struct ynode *v, const char *what,
    struct config_tools *tools)
{
	struct config_tool_labels *arr;
	size_t n;
	int r = 0;

	if (v->kind != Y_MAP) {
		report(c, v, "%s: expected a mapping of tool action to a list "
		    "of labels", what);
		return -1;
	}
	n = v->n_kids / 2;
	if (n > CONFIG_MAX_TOOLS) {
		report(c, v, "%s: more than %u tools", what,
		    (unsigned)CONFIG_MAX_TOOLS);
		return -1;
	}
	if ((arr = arena_calloc(c->a, n ? n : 1, sizeof(*arr))) == NULL) {
		oom(c);
		return -1;
	}
	for (size_t i = 0; i < n; i++) {
		const struct ynode *k = v->kids[2 * i], *val = v->kids[2 * i + 1];
		char label[200];

		if ((arr[i].action = get_string(c, k, what, F_STR, 0)) == NULL) {
			r = -1;
			continue;
		}
		if (!label_ok(arr[i].action)) {
			report(c, k, "%s: a tool action has 1 to 128 letters, "
			    "digits or _ - . : /", what);
			r = -1;
			continue;
		}
		for (size_t j = 0; j < i; j++) {
			if (arr[j].action && strcmp(arr[j].action,
			    arr[i].action) == 0) {
				report(c, k, "%s: duplicate tool '%s'", what,
				    arr[i].action);
				r = -1;
			}
		}
		snprintf(label, sizeof(label), "%s.%.40s", what, arr[i].action);
		if (is_null(val)) {
			report(c, val, "%s: expected a list of labels", label);
			r = -1;
			continue;
		}
		if (get_list(c, val, label, F_STR, &arr[i].labels) != 0) {
			r = -1;
			continue;
		}
		if (arr[i].labels.n > CONFIG_MAX_TOOL_LABELS) {
			report(c, val, "%s: more than %u labels", label,
			    (unsigned)CONFIG_MAX_TOOL_LABELS);
			r = -1;
			continue;
		}
		for (size_t j = 0; j < arr[i].labels.n; j++)
			if (!label_ok(arr[i].labels.v[j])) {
				report(c, val, "%s: a label has 1 to 128 letters, "
				    "digits or _ - . : /", label);
				r = -1;
				break;
			}
	}
	if (r == 0) {
		tools->output_labels = arr;
		tools->n_output_labels = n;
	}
	return r;
}

/* A duration in seconds as the file would write it: 2592000 -> "30d",
 * 5400 -> "1h30m".  Returns buf. */
static char *
duration_text(char *buf, size_t size, uint64_t v)
{
	static const struct { char unit; uint64_t secs; } units[] = {
		{ 'd', DAY }, { 'h', HOUR }, { 'm', 60 }, { 's', 1 },
	};
	size_t len = 0;

	buf[0] = '\0';
	if (v == 0)
		snprintf(buf, size, "0s");
	for (size_t i = 0; i < 4 && len < size; i++) {
		if (v >= units[i].secs) {
			int w = snprintf(buf + len, size - len, "%llu%c",
			    (unsigned long long)(v / units[i].secs),
			    units[i].unit);

			if (w < 0)
				break;
			len += (size_t)w;
			v %= units[i].secs;
		}
	}
	return buf;
}

/* "out of range" for a number field: its bounds as the file would
 * write them ("at least 1s, at most 1d"; "at most 64 MiB"). */
static void
report_range(struct ctx *c, const struct ynode *v, const char *what,
    const struct field *f, const char *s, size_t n)
{
	char lo[40], hi[40];

	if (f->type == F_DUR) {
		duration_text(lo, sizeof(lo), f->min);
		duration_text(hi, sizeof(hi), f->max);
	} else {
		snprintf(lo, sizeof(lo), "%llu%s", (unsigned long long)f->min,
		    f->type == F_SIZE ? " bytes" : "");
		snprintf(hi, sizeof(hi), "%llu%s", (unsigned long long)f->max,
		    f->type == F_SIZE ? " bytes" : "");
	}
	if (f->min == 0)
		report(c, v, "%s: %.*s is out of range (at most %s)", what,
		    (int)(n > 40 ? 40 : n), s, hi);
	else
		report(c, v, "%s: %.*s is out of range (at least %s, at most "
		    "%s)", what, (int)(n > 40 ? 40 : n), s, lo, hi);
}

static void
parse_value(struct ctx *c, const struct field *f, const struct ynode *v,
    void *base, const char *what)
{
	char *slot = (char *)base + f->off;
	const char *s;
	size_t n;
	uint64_t u;

	switch (f->type) {
	case F_SECTION:
		if (v->kind != Y_MAP) {
			report(c, v, "%s: expected a mapping", what);
			return;
		}
		parse_map(c, v, f->sub, slot, what, NULL);
		return;
	case F_STR:
	case F_PATH:
	case F_URL:
	case F_DSN:
	case F_TD:
		if ((s = get_string(c, v, what, f->type, f->min)) != NULL)
			memcpy(slot, &s, sizeof(s));
		return;
	case F_BOOL: {
		bool b;

		if (get_bool(c, v, what, &b) == 0)
			memcpy(slot, &b, sizeof(b));
		return;
	}
	case F_UINT:
	case F_COUNT:
	case F_DUR:
	case F_SIZE: {
		int bad;

		if (scalar_text(c, v, what, &s, &n) != 0)
			return;
		if (f->type == F_DUR)
			bad = parse_duration(s, n, &u);
		else if (f->type == F_SIZE)
			bad = parse_size(s, n, &u);
		else
			bad = parse_u64(s, n, UINT64_MAX, &u);
		if (bad == -2) {
			report_range(c, v, what, f, s, n);
			return;
		}
		if (bad != 0) {
			report(c, v, "%s: expected %s, found '%.40s'", what,
			    f->type == F_DUR ? "a duration (e.g. 90s, 15m, "
			    "1h30m, or seconds)" : f->type == F_SIZE ?
			    "a size (e.g. 65536, 64KiB, 1MiB)" :
			    "a non-negative integer", s);
			return;
		}
		if (u < f->min || u > f->max) {
			report_range(c, v, what, f, s, n);
			return;
		}
		if (f->type == F_UINT) {
			unsigned x = (unsigned)u;

			memcpy(slot, &x, sizeof(x));
		} else if (f->type == F_DUR) {
			memcpy(slot, &u, sizeof(u));
		} else {
			size_t z = (size_t)u;

			memcpy(slot, &z, sizeof(z));
		}
		return;
	}
	case F_ENUM: {
		char allowed[160];
		size_t al = 0;

		if (scalar_text(c, v, what, &s, &n) != 0)
			return;
		for (int i = 0; f->names[i]; i++) {
			if (strcmp(s, f->names[i]) == 0) {
				/* store.driver: "postgres" is a known name
				 * (the store it will name is not built yet):
				 * refused here, where its location is known */
				if (f->names == driver_names &&
				    i == CONFIG_STORE_POSTGRES)
					report(c, v, "%s: postgres is not "
					    "supported by this build (no "
					    "PostgreSQL store yet); use sqlite",
					    what);
				else
					memcpy(slot, &i, sizeof(i));
				return;
			}
			al += (size_t)snprintf(allowed + al, sizeof(allowed) - al,
			    "%s%s", i ? ", " : "", f->names[i]);
		}
		report(c, v, "%s: unknown value '%.40s' (expected %s)", what, s,
		    allowed);
		return;
	}
	case F_STRS:
	case F_PATHS:
	case F_SPIFFE_IDS:
	case F_REDACT:
		get_list(c, v, what, f->type == F_STRS ? F_STR : f->type,
		    (struct config_strlist *)(void *)slot);
		return;
	case F_ALGS: {
		unsigned bits;

		if (get_algs(c, v, what, &bits) == 0)
			memcpy(slot, &bits, sizeof(bits));
		return;
	}
	case F_LISTEN:
		get_listen(c, v, what, base);
		return;
	case F_ISSUERS:
		get_issuers(c, v, what, base);
		return;
	case F_TOOLS:
		get_tools(c, v, what, base);
		return;
	case F_LABELS:
		get_labels(c, v, what, base);
		return;
	}
}

static void
parse_map(struct ctx *c, const struct ynode *map, const struct field *tab,
    void *base, const char *section, struct seen *seen)
{
	struct seen local;

	if (seen == NULL)
		seen = &local;
	memset(seen, 0, sizeof(*seen));
	for (size_t i = 0; i + 1 < map->n_kids; i += 2) {
		const struct ynode *k = map->kids[i], *v = map->kids[i + 1];
		const struct field *f;
		char what[128];
		size_t idx, errors;

		if (k->kind != Y_SCALAR) {
			report(c, k, "%s%skeys must be plain names", section,
			    *section ? ": " : "");
			continue;
		}
		for (f = tab; f->key; f++)
			if (strlen(f->key) == k->n && memcmp(f->key, k->s, k->n)
			    == 0)
				break;
		if (f->key == NULL) {
			const char *hint = suggest(tab, k->s, k->n);

			report(c, k, "unknown key '%.60s'%s%s%s%s%s", k->s,
			    *section ? " in " : "", section,
			    hint ? " (did you mean '" : "", hint ? hint : "",
			    hint ? "'?)" : "");
			continue;
		}
		idx = (size_t)(f - tab);
		if (seen->key[idx] != NULL) {
			report(c, k, "duplicate key '%s'%s%s", f->key,
			    *section ? " in " : "", section);
			continue;
		}
		seen->key[idx] = k;
		seen->val[idx] = v;
		snprintf(what, sizeof(what), "%s%s%s", section,
		    *section ? "." : "", f->key);
		if (is_null(v))
			continue;       /* "key:" alone keeps the default */
		errors = c->n_errors;
		parse_value(c, f, v, base, what);
		seen->bad[idx] = c->n_errors != errors;
	}
}

/* ---- checks across keys, derived defaults ----------------------------- */

static bool
issuer_known(const struct config *cfg, const char *name)
{
	for (size_t i = 0; i < cfg->identity.n_issuers; i++)
		if (cfg->identity.issuers[i].name &&
		    strcmp(cfg->identity.issuers[i].name, name) == 0)
			return true;
	return cfg->dev.enabled && strcmp(name, "dev") == 0;
}

/* Section maps of the root, found again for locations. */
static const struct ynode *
section_node(const struct ynode *root, const char *key, const char *sub)
{
	const struct ynode *n = root;

	for (int step = 0; step < 2 && n != NULL; step++) {
		const char *want = step == 0 ? key : sub;
		const struct ynode *found = NULL;

		if (want == NULL)
			break;
		if (n->kind != Y_MAP)
			return NULL;
		for (size_t i = 0; i + 1 < n->n_kids; i += 2)
			if (n->kids[i]->kind == Y_SCALAR &&
			    strcmp(n->kids[i]->s, want) == 0)
				found = n->kids[i + 1];
		n = found;
	}
	return n;
}

/* Where to report a problem with key of section sect: the key's value,
 * or the section when the key is not found. */
static const struct ynode *
key_node(const struct ynode *sect, const char *key)
{
	const struct ynode *n = section_node(sect, key, NULL);

	return n != NULL ? n : sect;
}

static void
finish(struct ctx *c, struct config *cfg, const struct ynode *root)
{
	const struct ynode *tls = section_node(root, "server", "tls");
	const struct ynode *store = section_node(root, "store", NULL);
	const struct ynode *tokens = section_node(root, "tokens", NULL);
	const struct ynode *tasks = section_node(root, "tasks", NULL);
	const struct ynode *api = section_node(root, "api_auth", NULL);
	const struct ynode *dev = section_node(root, "dev", NULL);
	const struct ynode *srv = section_node(root, "server", NULL);
	const struct ynode *aud = section_node(root, "audit", NULL);
	struct config_tls *t = &cfg->server.tls;
	bool tls_on = t->cert_file != NULL;

	if ((t->cert_file == NULL) != (t->key_file == NULL))
		report(c, tls, "server.tls: cert_file and key_file go "
		    "together");
	if (t->client_auth != CONFIG_CLIENT_AUTH_NONE) {
		if (!tls_on)
			report(c, tls, "server.tls.client_auth needs "
			    "cert_file and key_file");
		if (t->client_ca_file == NULL)
			report(c, tls, "server.tls.client_auth needs "
			    "client_ca_file");
	} else if (t->client_ca_file != NULL) {
		/* a CA bundle that nothing uses: whoever wrote it expects
		 * callers' certificates to be checked, and none are asked
		 * for */
		report(c, key_node(tls, "client_ca_file"),
		    "server.tls.client_ca_file is used only with client_auth "
		    "optional or require (and TLS); with client_auth none no "
		    "client certificate is asked for: set client_auth, or "
		    "remove client_ca_file");
	}
	if (cfg->store.driver == CONFIG_STORE_POSTGRES) {
		if (cfg->store.dsn == NULL)
			report(c, store, "store: driver postgres needs 'dsn'");
		if (cfg->store.path != NULL)
			report(c, store, "store.path applies only to driver "
			    "sqlite");
	} else if (cfg->store.dsn != NULL) {
		report(c, store, "store.dsn applies only to driver postgres");
	}
	if (cfg->tokens.default_ttl > cfg->tokens.max_ttl)
		report(c, tokens, "tokens.default_ttl is longer than "
		    "tokens.max_ttl");
	if (cfg->tasks.default_ttl > cfg->tasks.max_ttl)
		report(c, tasks, "tasks.default_ttl is longer than "
		    "tasks.max_ttl");
	if (cfg->tasks.max_call_budget != 0 &&
	    (cfg->tasks.default_call_budget == 0 ||
	    cfg->tasks.default_call_budget > cfg->tasks.max_call_budget))
		report(c, tasks, "tasks.default_call_budget must be between 1 "
		    "and tasks.max_call_budget");
	if (cfg->tokens.rotation_overlap == 0)
		cfg->tokens.rotation_overlap = cfg->tokens.max_ttl;
	else if (cfg->tokens.rotation_overlap < cfg->tokens.max_ttl)
		report(c, tokens, "tokens.rotation_overlap is shorter than "
		    "tokens.max_ttl: tokens signed by a retired key would stop "
		    "verifying before they expire");
	for (size_t i = 0; i < cfg->api_auth.bearer_issuers.n; i++) {
		const char *name = cfg->api_auth.bearer_issuers.v[i];

		if (!issuer_known(cfg, name))
			report(c, api, "api_auth.bearer_issuers: '%.60s' is not "
			    "an issuer in identity.issuers%s", name,
			    cfg->dev.enabled ? " (or 'dev')" : "");
	}
	for (size_t i = 0; i < cfg->audit.indexes.n; i++) {
		const char *name = cfg->audit.indexes.v[i];

		if (strcmp(name, "agent") != 0 && strcmp(name, "task") != 0 &&
		    strcmp(name, "type") != 0)
			report(c, aud, "audit.indexes: '%.60s' is not agent, "
			    "task or type", name);
		for (size_t j = 0; j < i; j++)
			if (strcmp(cfg->audit.indexes.v[j], name) == 0)
				report(c, aud, "audit.indexes: '%.60s' is "
				    "listed twice", name);
	}
	/* The absent key means any subject; an empty list reads as "none"
	 * to whoever wrote it, yet would mean any too (n == 0): refused, so
	 * that neither reading is taken silently. */
	if (cfg->api_auth.bearer_subjects.v != NULL &&
	    cfg->api_auth.bearer_subjects.n == 0)
		report(c, key_node(api, "bearer_subjects"),
		    "api_auth.bearer_subjects: an empty list would let any "
		    "subject call the API (as if the key were absent): list the "
		    "principals allowed, or remove the key to allow any");
	if (cfg->api_auth.mtls_identities.n > 0 &&
	    t->client_auth == CONFIG_CLIENT_AUTH_NONE)
		report(c, api, "api_auth.mtls_identities needs "
		    "server.tls.client_auth optional or require");
	if (cfg->dev.enabled && !is_loopback_listen(cfg->server.listen_host)) {
		if (c->listen_ov == NULL) {
			report(c, dev ? dev : srv, "dev.enabled is allowed only "
			    "with a loopback server.listen address (it mints "
			    "tokens for anyone who asks)");
		} else {
			c->status = MANDATE_EINVAL;
			if (c->dl != NULL)
				diag_add(c->dl, MANDATE_EINVAL, "--listen",
				    NULL, 0, 0, 0, "'%.60s': the development "
				    "instance (dev.enabled) listens only on a "
				    "loopback address (it mints tokens for "
				    "anyone who asks)", c->listen_ov);
		}
	}
	/* the development SPIFFE issuer comes after the configured ones
	 * (dev.c), so one of these of its trust domain would shadow it */
	for (size_t i = 0; cfg->dev.enabled && cfg->dev.trust_domain != NULL &&
	    i < cfg->identity.n_issuers; i++) {
		const struct config_issuer *is = &cfg->identity.issuers[i];

		if (is->kind == CONFIG_ISSUER_SPIFFE && is->trust_domain &&
		    strcmp(is->trust_domain, cfg->dev.trust_domain) == 0) {
			report(c, dev, "dev.trust_domain: '%.60s' is also that "
			    "of issuer '%.40s': the development instance's "
			    "SVIDs would be checked against '%.40s'; give "
			    "dev.trust_domain another name",
			    cfg->dev.trust_domain, is->name ? is->name : "?",
			    is->name ? is->name : "?");
			break;
		}
	}

	/* Derived defaults. */
	if (cfg->store.driver == CONFIG_STORE_SQLITE && cfg->store.path == NULL)
		cfg->store.path = aprintf(c, "%s/mandate.db", cfg->data_dir);
	if (cfg->tokens.key_dir == NULL)
		cfg->tokens.key_dir = aprintf(c, "%s/keys", cfg->data_dir);
	if (cfg->audit.redact_key_file == NULL)
		cfg->audit.redact_key_file = aprintf(c, "%s/audit-redact.key",
		    cfg->data_dir);
	if (cfg->audit.key_file == NULL)
		cfg->audit.key_file = aprintf(c,
		    "%s/audit/checkpoint-key.pem", cfg->data_dir);
	/* checkpoints are exported by default beside the database, so that
	 * a database that lost commits (its WAL deleted or damaged, an old
	 * copy put back) is found at the next start even where no one set
	 * up a safer place (docs/audit.md, "Keeping checkpoints safe") */
	if (cfg->audit.checkpoint_file == NULL)
		cfg->audit.checkpoint_file = aprintf(c,
		    "%s/audit/checkpoints.jsonl", cfg->data_dir);
	if (cfg->tokens.issuer == NULL) {
		const char *h = cfg->server.listen_host;
		bool v6 = strchr(h, ':') != NULL;

		if (strcmp(h, "0.0.0.0") == 0)
			h = "127.0.0.1";
		else if (strcmp(h, "::") == 0)
			h = "::1";
		cfg->tokens.issuer = aprintf(c, "%s://%s%s%s:%u",
		    tls_on ? "https" : "http", v6 ? "[" : "", h, v6 ? "]" : "",
		    (unsigned)cfg->server.listen_port);
	}
	if (cfg->dev.oidc_issuer == NULL && cfg->tokens.issuer != NULL) {
		size_t n = strlen(cfg->tokens.issuer);

		cfg->dev.oidc_issuer = aprintf(c, "%s%sdev", cfg->tokens.issuer,
		    n && cfg->tokens.issuer[n - 1] == '/' ? "" : "/");
	}
}

/* ---- printing --------------------------------------------------------- */

static void
print_quoted(FILE *fp, const char *s)
{
	fputc('"', fp);
	for (; *s; s++) {
		unsigned char ch = (unsigned char)*s;

		if (ch == '"' || ch == '\\')
			fprintf(fp, "\\%c", ch);
		else if (ch < 0x20 || ch == 0x7f)
			fprintf(fp, "\\x%02x", ch);
		else
			fputc(ch, fp);
	}
	fputc('"', fp);
}

static void
print_duration(FILE *fp, uint64_t v)
{
	char buf[64];

	fputs(duration_text(buf, sizeof(buf), v), fp);
}

static void
print_list(FILE *fp, const struct config_strlist *l)
{
	fputc('[', fp);
	for (size_t i = 0; i < l->n; i++) {
		if (i)
			fputs(", ", fp);
		print_quoted(fp, l->v[i]);
	}
	fputc(']', fp);
}

static void
print_algs(FILE *fp, unsigned bits)
{
	bool first = true;

	fputc('[', fp);
	for (size_t i = 0; i < sizeof(alg_table) / sizeof(alg_table[0]); i++) {
		if (bits & (unsigned)alg_table[i].bit) {
			fprintf(fp, "%s%s", first ? "" : ", ", alg_table[i].name);
			first = false;
		}
	}
	fputc(']', fp);
}

/* Whether an issuer key belongs to the issuer's kind. */
static bool
issuer_key_applies(const struct config_issuer *is, size_t idx)
{
	bool oidc_only = idx == IF_ISSUER || idx == IF_DISCOVERY ||
	    idx == IF_JWKS_URI || idx == IF_JWKS_FILE ||
	    idx == IF_SUBJECT_PREFIX;
	bool spiffe_only = idx == IF_TD || idx == IF_BUNDLE_FILE ||
	    idx == IF_BUNDLE_URL || idx == IF_HINT || idx == IF_X509;

	/* a prefix the tokens carry is no key: written back, it would be
	 * added to them */
	if (idx == IF_SUBJECT_PREFIX && is->subject_prefix_in_sub)
		return false;
	if (is->kind == CONFIG_ISSUER_OIDC)
		return !spiffe_only;
	return !oidc_only;
}

static void print_map(FILE *fp, const struct field *tab, const void *base,
    int indent, bool redact, bool list_item);

static void
print_value(FILE *fp, const struct field *f, const void *base, int indent,
    bool redact)
{
	const char *slot = (const char *)base + f->off;

	switch (f->type) {
	case F_STR:
	case F_PATH:
	case F_URL:
	case F_DSN:
	case F_TD: {
		const char *s;

		memcpy(&s, slot, sizeof(s));
		if (f->type == F_DSN && redact) {
			fputs("null  # set, not shown\n", fp);
			return;
		}
		print_quoted(fp, s);
		break;
	}
	case F_LISTEN:
		print_quoted(fp, ((const struct config_server *)base)->listen);
		break;
	case F_BOOL: {
		bool b;

		memcpy(&b, slot, sizeof(b));
		fputs(b ? "true" : "false", fp);
		break;
	}
	case F_UINT: {
		unsigned u;

		memcpy(&u, slot, sizeof(u));
		fprintf(fp, "%u", u);
		break;
	}
	case F_COUNT:
	case F_SIZE: {
		size_t z;

		memcpy(&z, slot, sizeof(z));
		if (f->type == F_SIZE && z > 0 && z % MiB == 0)
			fprintf(fp, "%zuMiB", (size_t)(z / MiB));
		else if (f->type == F_SIZE && z > 0 && z % KiB == 0)
			fprintf(fp, "%zuKiB", (size_t)(z / KiB));
		else
			fprintf(fp, "%zu", z);
		break;
	}
	case F_DUR: {
		uint64_t u;

		memcpy(&u, slot, sizeof(u));
		print_duration(fp, u);
		break;
	}
	case F_ENUM: {
		int v;

		memcpy(&v, slot, sizeof(v));
		fputs(f->names[v], fp);
		break;
	}
	case F_STRS:
	case F_PATHS:
	case F_SPIFFE_IDS:
	case F_REDACT:
		print_list(fp, (const struct config_strlist *)(const void *)slot);
		break;
	case F_ALGS: {
		unsigned bits;

		memcpy(&bits, slot, sizeof(bits));
		print_algs(fp, bits);
		break;
	}
	case F_SECTION:
		fputc('\n', fp);
		print_map(fp, f->sub, slot, indent + 2, redact, false);
		return;
	case F_ISSUERS: {
		const struct config_identity *id = base;

		fputc('\n', fp);
		for (size_t i = 0; i < id->n_issuers; i++)
			print_map(fp, issuer_fields, &id->issuers[i],
			    indent + 2, redact, true);
		return;
	}
	case F_TOOLS: {
		const struct config_policies *pol = base;

		fputc('\n', fp);
		for (size_t i = 0; i < pol->n_tool_servers; i++) {
			fprintf(fp, "%*s", indent + 2, "");
			print_quoted(fp, pol->tool_servers[i].name);
			fputs(": ", fp);
			print_list(fp, &pol->tool_servers[i].paths);
			fputc('\n', fp);
		}
		return;
	}
	case F_LABELS: {
		const struct config_tools *tl = base;

		fputc('\n', fp);
		for (size_t i = 0; i < tl->n_output_labels; i++) {
			fprintf(fp, "%*s", indent + 2, "");
			print_quoted(fp, tl->output_labels[i].action);
			fputs(": ", fp);
			print_list(fp, &tl->output_labels[i].labels);
			fputc('\n', fp);
		}
		return;
	}
	}
	fputc('\n', fp);
}

/* Whether a field holds a value worth writing: set strings, non-empty
 * lists and maps, numbers inside their range (0 means "unset" for keys
 * whose minimum is above 0). */
static bool
field_present(const struct field *f, const void *base)
{
	const char *slot = (const char *)base + f->off;

	switch (f->type) {
	case F_STR:
	case F_PATH:
	case F_URL:
	case F_DSN:
	case F_TD: {
		const char *s;

		memcpy(&s, slot, sizeof(s));
		return s != NULL;
	}
	case F_STRS:
	case F_PATHS:
	case F_SPIFFE_IDS:
	case F_REDACT:
		return ((const struct config_strlist *)(const void *)slot)->n > 0;
	case F_ISSUERS:
		return ((const struct config_identity *)base)->n_issuers > 0;
	case F_TOOLS:
		return ((const struct config_policies *)base)->n_tool_servers > 0;
	case F_LABELS:
		return ((const struct config_tools *)base)->n_output_labels > 0;
	case F_SECTION:
		/* an empty tools section would print as a null value */
		if (f->sub == tools_fields)
			return ((const struct config_tools *)(const void *)
			    slot)->n_output_labels > 0;
		return true;
	case F_DUR: {
		uint64_t u;

		memcpy(&u, slot, sizeof(u));
		return u >= f->min;
	}
	default:
		return true;
	}
}

static void
print_map(FILE *fp, const struct field *tab, const void *base, int indent,
    bool redact, bool list_item)
{
	bool first = true;

	for (const struct field *f = tab; f->key; f++) {
		if (!field_present(f, base))
			continue;
		if (tab == issuer_fields &&
		    !issuer_key_applies(base, (size_t)(f - tab)))
			continue;
		if (list_item)
			fprintf(fp, "%*s%s", indent, "", first ? "- " : "  ");
		else
			fprintf(fp, "%*s", indent, "");
		first = false;
		fprintf(fp, "%s:%s", f->key, f->type == F_SECTION ||
		    f->type == F_ISSUERS || f->type == F_TOOLS ||
		    f->type == F_LABELS ? "" : " ");
		print_value(fp, f, base, indent + (list_item ? 2 : 0), redact);
	}
}

int
config_print(const struct config *cfg, FILE *fp, bool redact)
{
	fprintf(fp, "# effective configuration%s%s\n",
	    cfg->source ? " from " : " (built-in defaults)",
	    cfg->source ? cfg->source : "");
	print_map(fp, top_fields, cfg, 0, redact, false);
	return ferror(fp) ? -1 : 0;
}

/* ---- entry points ----------------------------------------------------- */

/* The tree's copies of scalars may hold secrets (a DSN); wipe them once
 * the values are converted. */
static void
wipe_tree(struct ynode *n)
{
	if (n == NULL)
		return;
	if (n->kind == Y_SCALAR && n->n > 0)
		OPENSSL_cleanse((void *)(uintptr_t)n->s, n->n);
	for (size_t i = 0; i < n->n_kids; i++)
		wipe_tree(n->kids[i]);
}

static struct config *
config_new(bool dev)
{
	struct arena a;
	struct config *cfg;

	arena_init(&a, CONFIG_ARENA_LIMIT);
	if ((cfg = arena_zalloc(&a, sizeof(*cfg))) == NULL) {
		arena_free(&a);
		return NULL;
	}
	cfg->arena = a;        /* the arena now lives inside what it holds */
	set_defaults(cfg, dev);
	return cfg;
}

/* The command line's --listen over server.listen, before finish() so
 * that the checks across keys and the derived defaults (tokens.issuer)
 * see it.  Its errors name the option, not the file. */
static void
apply_overrides(struct ctx *c, struct config *cfg,
    const struct config_overrides *ov)
{
	const char *host, *why, *h, *s;
	size_t hn;
	uint16_t port;

	if (ov == NULL || ov->listen == NULL)
		return;
	if ((why = split_listen(ov->listen, true, &host, &hn, &port)) !=
	    NULL) {
		c->status = MANDATE_EINVAL;
		if (c->dl != NULL)
			diag_add(c->dl, MANDATE_EINVAL, "--listen", NULL, 0, 0,
			    0, "'%.60s': %s", ov->listen, why);
		return;
	}
	if ((h = arena_strdup(c->a, host, hn).p) == NULL ||
	    (s = arena_cstrdup(c->a, ov->listen)) == NULL) {
		oom(c);
		return;
	}
	cfg->server.listen = s;
	cfg->server.listen_host = h;
	cfg->server.listen_port = port;
	c->listen_ov = s;
}

static int parse_all(const char *file, const char *src, size_t len,
    const struct config_overrides *ov, struct config **out,
    struct diag_list *dl, long fail_after);

int
config_default(struct config **out)
{
	return config_default_with(NULL, out, NULL);
}

int
config_default_with(const struct config_overrides *ov, struct config **out,
    struct diag_list *dl)
{
	struct config *cfg;
	struct ctx c;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	c.dl = dl;
	if ((cfg = config_new(true)) == NULL) {
		oom(&c);
		return MANDATE_ENOMEM;
	}
	c.a = &cfg->arena;
	c.src = "";
	apply_overrides(&c, cfg, ov);
	if (c.status == MANDATE_OK)
		finish(&c, cfg, NULL);
	if (c.status != MANDATE_OK) {
		config_free(cfg);
		return c.status;
	}
	*out = cfg;
	return MANDATE_OK;
}

int
config_parse(const char *file, const char *src, size_t len,
    struct config **out, struct diag_list *dl)
{
	return parse_all(file, src, len, NULL, out, dl, 0);
}

int
config_parse_with(const char *file, const char *src, size_t len,
    const struct config_overrides *ov, struct config **out,
    struct diag_list *dl)
{
	return parse_all(file, src, len, ov, out, dl, 0);
}

int
config_parse_fail_after(const char *file, const char *src, size_t len,
    struct config **out, struct diag_list *dl, long fail_after)
{
	return parse_all(file, src, len, NULL, out, dl, fail_after);
}

static int
parse_all(const char *file, const char *src, size_t len,
    const struct config_overrides *ov, struct config **out,
    struct diag_list *dl, long fail_after)
{
	struct config *cfg = NULL;
	struct ynode *root = NULL;
	struct ctx c;
	int r;

	*out = NULL;
	memset(&c, 0, sizeof(c));
	c.dl = dl;
	c.file = file;
	c.src = src;
	c.len = len;
	if (len > CONFIG_MAX_FILE) {
		report_at(&c, MANDATE_ELIMIT, 0, 0, "configuration larger "
		    "than %u bytes", (unsigned)CONFIG_MAX_FILE);
		return MANDATE_ELIMIT;
	}
	if ((cfg = config_new(false)) == NULL) {
		oom(&c);
		return MANDATE_ENOMEM;
	}
	c.a = &cfg->arena;
	c.a->fail_after = fail_after;
	if ((cfg->source = file ? arena_cstrdup(c.a, file) : NULL) == NULL &&
	    file != NULL) {
		oom(&c);
		goto out;
	}
	if (build_tree(&c, &root) != 0)
		goto out;
	if (root != NULL && !is_null(root)) {
		if (root->kind != Y_MAP) {
			report(&c, root, "the configuration must be a mapping "
			    "of sections (server:, store:, ...)");
			goto out;
		}
		parse_map(&c, root, top_fields, cfg, "", NULL);
	}
	apply_overrides(&c, cfg, ov);
	if (c.status == MANDATE_OK)
		finish(&c, cfg, root);
out:
	wipe_tree(root);
	r = c.status;
	if (r != MANDATE_OK) {
		config_free(cfg);
		return r;
	}
	*out = cfg;
	return MANDATE_OK;
}

int
config_load_file(const char *path, struct config **out, FILE *err)
{
	return config_load(path, NULL, out, err);
}

int
config_load(const char *path, const struct config_overrides *ov,
    struct config **out, FILE *err)
{
	struct diag_list dl;
	char *buf = NULL;
	size_t len = 0;
	int r;

	*out = NULL;
	if (path == NULL) {
		diag_init(&dl);
		r = config_default_with(ov, out, &dl);
		if (r != MANDATE_OK && err != NULL)
			diag_print(&dl, err);
		return r;
	}
	r = file_read_all(path, CONFIG_MAX_FILE, &buf, &len);
	if (r != MANDATE_OK) {
		if (err != NULL)
			fprintf(err, "%s: %s\n", path, r == MANDATE_ELIMIT ?
			    "configuration file too large" : strerror(errno));
		return r;
	}
	diag_init(&dl);
	r = config_parse_with(path, buf, len, ov, out, &dl);
	if (r != MANDATE_OK && err != NULL)
		diag_print(&dl, err);
	OPENSSL_cleanse(buf, len);      /* it may hold secrets */
	free(buf);
	return r;
}

void
config_free(struct config *cfg)
{
	struct arena a;

	if (cfg == NULL)
		return;
	if (cfg->store.dsn != NULL)
		OPENSSL_cleanse((void *)(uintptr_t)cfg->store.dsn,
		    strlen(cfg->store.dsn));
	a = cfg->arena;
	arena_free(&a);
}

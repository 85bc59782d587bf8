/*
 * agent_ctx.c - the agent-aware part of a per-call decision.
 *
 * prepare() resolves the task an evaluation names (context.mandate: a
 * Mandate access token, or a task id from an authenticated caller),
 * refuses unusable tasks before any policy runs, matches the call against
 * the task's intents (action, resource, argument constraints) and puts
 * what Mandate knows into the reserved context names task, session and
 * approval, which callers can never set.  finish() gives every decision
 * an id, records a task's decision together with its effects (budget,
 * session) in one store write, and audits it.  The contract is in
 * agent_ctx.h; docs/policy-guide.md describes the context and the
 * constraint language to policy authors.
 */
#include <inttypes.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/rand.h>

#include "daemon/agent_ctx.h"
#include "sts/sts.h"
#include "util/json.h"
#include "util/status.h"
#include "util/utf8.h"

struct agent_ctx {
	const struct agent_call *call;
	bool task;                   /* a task was resolved (row read) */
	bool usable;                 /* ... and the call may go to policies */
	bool named;                  /* context.mandate was given */
	bool context_set;            /* prepare answered AGENT_CTX_TASK */
	struct store_task t;
	const char *resource_uid;    /* `Type::"id"` of the call */
	bool intent_match;
	int64_t labels_seen;         /* session labels the policies saw */
	struct str jti;              /* the token's credential, or empty */
	const char *why;             /* deny reason, for the audit */
	/* for the decision's audit record (NULL if none):
	 * context.arguments (borrowed from the caller's context, which
	 * lives until agent_ctx_finish returns), and the prompt the caller
	 * gave (context.prompt, a string; an arena copy) */
	json_t *arguments;
	const char *prompt;
	size_t prompt_len;
};

/* Keep what the audit record shows of the call's input; the audit
 * writer bounds and redacts it (src/audit/writer.h).  The record shares
 * the arguments, or copies them when it is built on the writer thread
 * (decision_fields). */
static int
audit_inputs(struct arena *a, json_t *context, struct agent_ctx *c)
{
	json_t *p = json_object_get(context, "prompt");

	c->arguments = json_object_get(context, "arguments");
	if (json_is_string(p)) {
		size_t n = json_string_length(p);
		char *copy = arena_alloc(a, n + 1);

		if (copy == NULL)
			return MANDATE_ENOMEM;
		memcpy(copy, json_string_value(p), n);
		copy[n] = '\0';
		c->prompt = copy;
		c->prompt_len = n;
	}
	return MANDATE_OK;
}

static const char *const reserved[] = { "task", "session", "approval",
    "mandate" };

/* ---- the constraint language ---- */

#define MAX_CON_ARGS    64       /* constrained arguments per intent */
#define MAX_CON_ONE_OF  256      /* values of one one_of / array */
#define MAX_CON_NAME    256      /* an argument name (bytes) */

static bool
is_scalar(const json_t *v)
{
	return json_is_string(v) || json_is_number(v) || json_is_boolean(v) ||
	    json_is_null(v);
}

static int
con_fail(char *err, size_t err_len, const char *key, const char *msg)
{
	if (err != NULL && err_len > 0)
		snprintf(err, err_len, "intent.constraints.%.64s: %s", key, msg);
	return MANDATE_EINVAL;
}

static int
check_scalar_list(const json_t *a, char *err, size_t err_len,
    const char *key)
{
	size_t i;
	json_t *v;

	if (json_array_size(a) == 0 || json_array_size(a) > MAX_CON_ONE_OF)
		return con_fail(err, err_len, key, "a list of values must "
		    "have 1 to 256 entries");
	json_array_foreach(a, i, v)
		if (!is_scalar(v) || json_is_null(v))
			return con_fail(err, err_len, key, "a list of values "
			    "may hold only strings, numbers and booleans");
	return MANDATE_OK;
}

int
agent_constraints_check(const char *json, size_t len, char *err,
    size_t err_len)
{
	json_t *root, *v;
	const char *key;
	int r = MANDATE_OK;

	root = json_loadb(json, len, JSON_REJECT_DUPLICATES, NULL);
	if (!json_is_object(root)) {
		json_decref(root);
		if (err != NULL && err_len > 0)
			snprintf(err, err_len,
			    "intent.constraints must be a JSON object");
		return MANDATE_EINVAL;
	}
	if (json_object_size(root) > MAX_CON_ARGS) {
		json_decref(root);
		if (err != NULL && err_len > 0)
			snprintf(err, err_len, "intent.constraints may name at "
			    "most 64 arguments");
		return MANDATE_ELIMIT;
	}
	json_object_foreach(root, key, v) {
		size_t kn = strlen(key);
		if (kn == 0 || kn > MAX_CON_NAME) {
			r = con_fail(err, err_len, "", "argument names must "
			    "have 1 to 256 bytes");
			break;
		}
		if (json_is_null(v)) {
			r = con_fail(err, err_len, key, "null never matches (a "
			    "call's arguments cannot hold null)");
			break;
		}
		if (is_scalar(v))
			continue;
		if (json_is_array(v)) {
			if ((r = check_scalar_list(v, err, err_len, key)) !=
			    MANDATE_OK)
				break;
			continue;
		}
		/* an object of operators */
		{
			const char *op;
			json_t *ov, *mn, *mx;

			if (json_object_size(v) == 0) {
				r = con_fail(err, err_len, key,
				    "an operator object must not be empty");
				break;
			}
			if (json_object_get(v, "absent") != NULL) {
				/* alone, and only true: "absent": false would
				 * read as a constraint and constrain nothing */
				if (json_object_size(v) != 1 ||
				    !json_is_true(json_object_get(v, "absent")))
					r = con_fail(err, err_len, key, "absent "
					    "is true, and alone in its object");
				if (r != MANDATE_OK)
					break;
				continue;
			}
			json_object_foreach(v, op, ov) {
				if (strcmp(op, "one_of") == 0)
					r = json_is_array(ov) ? check_scalar_list(ov,
					    err, err_len, key) : con_fail(err,
					    err_len, key, "one_of must be a list");
				else if (strcmp(op, "min") == 0 ||
				    strcmp(op, "max") == 0)
					r = json_is_number(ov) ? MANDATE_OK :
					    con_fail(err, err_len, key,
					    "min and max must be numbers");
				else if (strcmp(op, "prefix") == 0 ||
				    strcmp(op, "suffix") == 0)
					r = json_is_string(ov) ? MANDATE_OK :
					    con_fail(err, err_len, key,
					    "prefix and suffix must be strings");
				else if (strcmp(op, "max_length") == 0)
					r = json_is_integer(ov) &&
					    json_integer_value(ov) >= 0 ?
					    MANDATE_OK : con_fail(err, err_len, key,
					    "max_length must be an integer >= 0");
				else
					r = con_fail(err, err_len, key, "unknown "
					    "operator (allowed: one_of, min, max, "
					    "prefix, suffix, max_length, absent)");
				if (r != MANDATE_OK)
					break;
			}
			if (r != MANDATE_OK)
				break;
			mn = json_object_get(v, "min");
			mx = json_object_get(v, "max");
			if (mn != NULL && mx != NULL &&
			    json_number_value(mn) > json_number_value(mx)) {
				r = con_fail(err, err_len, key,
				    "min is greater than max");
				break;
			}
		}
	}
	json_decref(root);
	return r;
}

/* Equal JSON scalars; numbers compare by value (1 equals 1.0). */
static bool
scalar_equal(const json_t *a, const json_t *b)
{
	if (json_is_number(a) && json_is_number(b)) {
		if (json_is_integer(a) && json_is_integer(b))
			return json_integer_value(a) == json_integer_value(b);
		return json_number_value(a) == json_number_value(b);
	}
	return is_scalar(a) && is_scalar(b) && json_equal(a, b);
}

static bool
in_list(const json_t *list, const json_t *v)
{
	size_t i;
	json_t *e;

	json_array_foreach(list, i, e)
		if (scalar_equal(e, v))
			return true;
	return false;
}

/* UTF-8 code points in s (the string is valid UTF-8: jansson checks). */
static size_t
utf8_chars(const char *s, size_t n)
{
	size_t c = 0;

	for (size_t i = 0; i < n; i++)
		if (((unsigned char)s[i] & 0xc0) != 0x80)
			c++;
	return c;
}

/* Decode the %XX escapes of s[0..n) into out (room for n bytes; out may
 * be s, as the output never overtakes the input); other bytes are
 * copied.  Returns the length. */
static size_t
pct_decode(const char *s, size_t n, char *out)
{
	size_t i = 0, o = 0;

	while (i < n) {
		int hi, lo;

		if (s[i] == '%' && i + 2 < n &&
		    (hi = hex_digit_value((unsigned char)s[i + 1])) >= 0 &&
		    (lo = hex_digit_value((unsigned char)s[i + 2])) >= 0) {
			out[o++] = (char)(hi << 4 | lo);
			i += 3;
		} else {
			out[o++] = s[i++];
		}
	}
	return o;
}

/* The code point of the valid UTF-8 sequence at s[i] (*w its width), or
 * the byte itself (width 1) when it is ASCII or not valid UTF-8. */
static uint32_t
cp_at(const unsigned char *s, size_t n, size_t i, size_t *w)
{
	size_t k = s[i] < 0x80 ? 0 : utf8_seq_len(s, i, n);
	uint32_t cp;

	if (k == 0) {
		*w = 1;
		return s[i];
	}
	cp = s[i] & (0xff >> (k + 1));
	for (size_t j = 1; j < k; j++)
		cp = cp << 6 | (s[i + j] & 0x3f);
	*w = k;
	return cp;
}

/* How a tool that normalizes text (NFKC, or strips what is invisible)
 * may read a code point of a path: a separator, a number of dots,
 * nothing at all (format characters, combining marks), or anything
 * else.  Only the look-alikes NFKC folds to '.', '/' or '\\' are mapped:
 * what matters is whether a segment can become "..". */
enum path_ch { PATH_SEP, PATH_DOTS, PATH_NONE, PATH_OTHER };

static enum path_ch
path_ch_of(uint32_t cp, size_t *dots)
{
	*dots = 0;
	switch (cp) {
	case '/': case '\\':
	case 0xff0f: case 0xff3c: case 0xfe68:     /* fullwidth, small */
		return PATH_SEP;
	case '.': case 0xff0e: case 0xfe52: case 0x2024:
		*dots = 1;
		return PATH_DOTS;
	case 0x2025:                               /* two dot leader */
		*dots = 2;
		return PATH_DOTS;
	case 0x2026:                               /* ellipsis */
		*dots = 3;
		return PATH_DOTS;
	case 0x00ad: case 0x034f: case 0x061c: case 0x180e: case 0xfeff:
		return PATH_NONE;
	}
	if ((cp >= 0x0300 && cp <= 0x036f) || (cp >= 0x200b && cp <= 0x200f) ||
	    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2060 && cp <= 0x206f) ||
	    (cp >= 0xfe00 && cp <= 0xfe0f))
		return PATH_NONE;
	return PATH_OTHER;
}

/* Does the (decoded) path p[0..n) hold a segment of exactly two dots? */
static bool
dotdot_in(const unsigned char *p, size_t n)
{
	size_t i = 0, w, d, dots = 0;
	bool other = false;

	for (;;) {
		enum path_ch k = PATH_SEP;

		if (i < n)
			k = path_ch_of(cp_at(p, n, i, &w), &d);
		if (k == PATH_SEP) {
			if (dots == 2 && !other)
				return true;
			if (i >= n)
				return false;
			dots = 0;
			other = false;
		} else if (k == PATH_DOTS) {
			dots += d;
		} else if (k == PATH_OTHER) {
			other = true;
		}
		i += w;
	}
}

#define DOTDOT_DECODE_ROUNDS 4

/* Does s hold a ".." path segment, as a tool may resolve it?  Such a
 * value climbs out of any directory a prefix names
 * ("/docs/../etc/passwd" starts with "/docs/"), so a prefix never
 * matches it: a tool resolves the segment, the byte comparison does
 * not.  Checked on the value as sent and after each of up to four
 * rounds of percent-decoding (a tool or proxy may decode twice:
 * "%252e%252e"), each with the NFKC look-alikes of '.', '/' and '\\'
 * and with invisible characters left out (path_ch_of).  When the copy
 * cannot be made the answer is yes: no match (fail closed). */
static bool
has_dotdot_segment(const char *s, size_t n)
{
	char *buf;
	size_t len = n;
	bool found;

	if ((found = dotdot_in((const unsigned char *)s, n)))
		return true;
	if (memchr(s, '%', n) == NULL)
		return false;
	if ((buf = malloc(n > 0 ? n : 1)) == NULL)
		return true;
	memcpy(buf, s, n);
	for (int r = 0; r < DOTDOT_DECODE_ROUNDS && !found; r++) {
		size_t m = pct_decode(buf, len, buf);

		if (m == len)
			break;             /* nothing left to decode */
		len = m;
		found = dotdot_in((const unsigned char *)buf, len);
	}
	free(buf);
	return found;
}

/* Take n steps of the budget *left; false (and nothing taken) when it
 * holds fewer. */
static bool
take_steps(size_t *left, size_t n)
{
	if (n > *left)
		return false;
	*left -= n;
	return true;
}

/* One scalar argument value against one constraint: 1 match, 0 no
 * match, -1 when the budget *left ran out first (a step for the value,
 * one for each value of a list it is looked up in). */
static int
match_one(json_t *con, const json_t *v, size_t *left)
{
	const char *op;
	json_t *ov;

	if (!take_steps(left, 1))
		return -1;
	if (!is_scalar(v))
		return 0;
	if (is_scalar(con))
		return scalar_equal(con, v);
	if (json_is_array(con))
		return take_steps(left, json_array_size(con)) ?
		    in_list(con, v) : -1;
	if (!json_is_object(con) || json_object_size(con) == 0)
		return 0;
	json_object_foreach(con, op, ov) {
		bool ok;
		if (strcmp(op, "one_of") == 0) {
			if (!take_steps(left, json_array_size(ov)))
				return -1;
			ok = json_is_array(ov) && in_list(ov, v);
		} else if (strcmp(op, "min") == 0 || strcmp(op, "max") == 0) {
			double x = json_number_value(v), b = json_number_value(ov);
			bool lo = op[1] == 'i';

			/* two integers exactly (a double cannot tell 2^53 + 1
			 * from 2^53); otherwise as doubles */
			if (json_is_integer(v) && json_is_integer(ov))
				ok = lo ? json_integer_value(v) >=
				    json_integer_value(ov) :
				    json_integer_value(v) <=
				    json_integer_value(ov);
			else
				ok = json_is_number(v) && json_is_number(ov) &&
				    !isnan(x) && (lo ? x >= b : x <= b);
		} else if (strcmp(op, "prefix") == 0 ||
		    strcmp(op, "suffix") == 0) {
			size_t n = json_string_length(v);
			size_t pn = json_string_length(ov);
			const char *s = json_string_value(v);
			const char *p = json_string_value(ov);
			ok = json_is_string(v) && json_is_string(ov) && pn <= n &&
			    memcmp(op[0] == 'p' ? s : s + n - pn, p, pn) == 0 &&
			    (op[0] != 'p' || !has_dotdot_segment(s, n));
		} else if (strcmp(op, "max_length") == 0) {
			ok = json_is_string(v) && json_is_integer(ov) &&
			    (json_int_t)utf8_chars(json_string_value(v),
			    json_string_length(v)) <= json_integer_value(ov);
		} else {
			ok = false;        /* unknown: never silently true */
		}
		if (!ok)
			return 0;
	}
	return 1;
}

/* An argument name as a tool that reads names loosely may: ASCII case
 * folded, fullwidth ASCII (U+FF01-U+FF5E) taken as ASCII, invisible
 * characters (path_ch_of's PATH_NONE) left out.  out has room for n
 * bytes (folding never lengthens).  Returns the length. */
static size_t
fold_name(const char *s, size_t n, char *out)
{
	const unsigned char *u = (const unsigned char *)s;
	size_t i = 0, o = 0, w, d;

	while (i < n) {
		uint32_t cp = cp_at(u, n, i, &w);

		if (cp >= 0xff01 && cp <= 0xff5e)
			cp -= 0xfee0;
		if (cp < 0x80)
			out[o++] = (char)(cp >= 'A' && cp <= 'Z' ? cp + 32 : cp);
		else if (path_ch_of(cp, &d) != PATH_NONE) {
			memcpy(out + o, s + i, w);
			o += w;
		}
		i += w;
	}
	return o;
}

struct folded {
	char *p;
	size_t n;
};

static int
folded_cmp(const void *a, const void *b)
{
	const struct folded *x = a, *y = b;
	int c = memcmp(x->p, y->p, x->n < y->n ? x->n : y->n);

	return c != 0 ? c : (x->n > y->n) - (x->n < y->n);
}

/* Do two argument names fold to the same (fold_name)?  Then a tool may
 * read either where the constraints and policies read one: "amount"
 * and "Amount", "url" and "ＵＲＬ".  Such arguments match no intent.
 * True too when the copies cannot be made (fail closed). */
static bool
names_ambiguous(json_t *arguments)
{
	size_t n = json_object_size(arguments), i = 0, total = 0;
	struct folded *f;
	const char *key;
	json_t *v;
	char *buf;
	bool dup = false;

	if (n < 2)
		return false;
	json_object_foreach(arguments, key, v)
		total += strlen(key);
	f = calloc(n, sizeof(*f));
	buf = malloc(total > 0 ? total : 1);
	if (f == NULL || buf == NULL) {
		free(f);
		free(buf);
		return true;
	}
	total = 0;
	json_object_foreach(arguments, key, v) {
		f[i].p = buf + total;
		f[i].n = fold_name(key, strlen(key), f[i].p);
		total += f[i].n;
		i++;
	}
	qsort(f, n, sizeof(*f), folded_cmp);
	for (i = 1; i < n && !dup; i++)
		dup = folded_cmp(&f[i - 1], &f[i]) == 0;
	free(f);
	free(buf);
	return dup;
}

int
agent_constraints_match_bounded(json_t *constraints,
    const json_t *arguments, size_t *steps_left)
{
	const char *key;
	json_t *con;
	int m;

	if (constraints == NULL || json_object_size(constraints) == 0)
		return 1;
	/* (no arguments at all: only "absent" constraints are met) */
	if (!json_is_object(constraints) || (arguments != NULL &&
	    !json_is_object(arguments)))
		return 0;
	json_object_foreach(constraints, key, con) {
		json_t *v = json_object_get(arguments, key);
		size_t i;
		json_t *e;

		if (json_is_object(con) && json_object_get(con, "absent")) {
			/* not sent, or sent with nothing in it */
			if (v != NULL && !(json_is_array(v) &&
			    json_array_size(v) == 0) && !(json_is_string(v) &&
			    json_string_length(v) == 0) && !(json_is_object(v) &&
			    json_object_size(v) == 0))
				return 0;
			continue;
		}
		if (v == NULL)
			return 0;          /* a constrained argument must be sent */
		if (json_is_array(v)) {
			/* a list argument: every element must fit, and an
			 * empty one has no value to check (as if absent) */
			if (json_array_size(v) == 0)
				return 0;
			json_array_foreach(v, i, e)
				if ((m = match_one(con, e, steps_left)) != 1)
					return m;
			continue;
		}
		if ((m = match_one(con, v, steps_left)) != 1)
			return m;
	}
	return 1;
}

bool
agent_constraints_match(json_t *constraints, const json_t *arguments)
{
	size_t left = SIZE_MAX;

	return agent_constraints_match_bounded(constraints, arguments,
	    &left) == 1;
}

/* ---- task resolution ---- */

static bool
task_id_ok(struct str id)
{
	return id.n == STORE_TASK_ID_LEN && hex_lower_all(id.p, id.n);
}

static struct str
jstr_of(const json_t *j)
{
	return str_make(json_string_value(j), json_string_length(j));
}

/* The token's granted actions: authorization_details[type=mandate_task]
 * .actions (an array, in the request's arena with the verified claims);
 * NULL (deny) when the claim is missing or malformed. */
static const struct ajson *
token_actions(const struct ajson *claims)
{
	const struct ajson *ad = ajson_get(claims, "authorization_details");

	if (!ajson_is(ad, AJSON_ARRAY))
		return NULL;
	for (size_t i = 0; i < ad->u.arr.n; i++) {
		const struct ajson *e = &ad->u.arr.items[i];
		const struct ajson *t = ajson_get(e, "type");
		const struct ajson *a = ajson_get(e, "actions");

		if (ajson_is(t, AJSON_STRING) &&
		    str_eq_c(t->u.s, STS_AUTHZ_TYPE) && ajson_is(a, AJSON_ARRAY))
			return a;
	}
	return NULL;
}

static bool
action_granted(const struct ajson *token_acts, struct str action)
{
	if (token_acts == NULL)
		return true;          /* named by task id: the task's intents */
	for (size_t i = 0; i < token_acts->u.arr.n; i++) {
		const struct ajson *e = &token_acts->u.arr.items[i];

		if (e->type == AJSON_STRING && str_eq(e->u.s, action))
			return true;
	}
	return false;
}

/* Build context.task's intents and intent_match from the stored intents
 * (bounded by the token's actions when a token named the task).
 * MANDATE_ELIMIT when checking the arguments against the intents'
 * constraints would take more than AGENT_MAX_MATCH_STEPS (a long list
 * argument against many intents' one_of lists: its cost is the product
 * of the three); MANDATE_EINTERNAL on ENOMEM or unreadable intents.
 * Either is a deny. */
static int
match_intents(struct agent_ctx *c, const struct ajson *token_acts,
    json_t *arguments, json_t *names, bool *match)
{
	json_t *intents, *it;
	size_t i, left = AGENT_MAX_MATCH_STEPS;
	int r = MANDATE_EINTERNAL, m;
	bool ambiguous;

	*match = false;
	intents = json_loadb(c->t.intents_json.p, c->t.intents_json.n, 0, NULL);
	if (!json_is_array(intents))
		goto out;
	/* names a tool may confuse: no intent matches (the names are still
	 * listed in task.intents) */
	ambiguous = json_is_object(arguments) && names_ambiguous(arguments);
	json_array_foreach(intents, i, it) {
		json_t *act = json_is_string(it) ? it :
		    json_object_get(it, "action");
		json_t *res = json_object_get(it, "resource");
		json_t *con = json_object_get(it, "constraints");
		struct str an;

		if (!json_is_string(act))
			goto out;
		an = jstr_of(act);
		if (!action_granted(token_acts, an))
			continue;
		if (json_array_append(names, act) != 0)
			goto out;
		if (*match || ambiguous || !str_eq(an, c->call->action))
			continue;
		if (res != NULL && !json_is_null(res) &&
		    (c->resource_uid == NULL || !json_is_string(res) ||
		    strcmp(json_string_value(res), c->resource_uid) != 0))
			continue;
		if (con != NULL && !json_is_null(con) &&
		    (m = agent_constraints_match_bounded(con, arguments,
		    &left)) != 1) {
			if (m < 0) {
				*match = false;
				r = MANDATE_ELIMIT;
				goto out;
			}
			continue;
		}
		*match = true;
	}
	r = MANDATE_OK;
out:
	json_decref(intents);
	return r;
}

static json_t *
strs_json(const struct str *v, size_t n)
{
	json_t *a = json_array();

	for (size_t i = 0; a != NULL && i < n; i++)
		if (json_array_append_new(a, json_stringn(v[i].p, v[i].n))) {
			json_decref(a);
			return NULL;
		}
	return a;
}

/* Set context.task, context.session and context.approval. */
static int
fill_context(struct daemon *d, struct agent_ctx *c, struct http_request *req,
    json_t *context, const struct ajson *token_acts)
{
	struct store_session ss;
	json_t *names = NULL, *labels = NULL, *actions = NULL, *counts = NULL;
	json_t *task = NULL, *sess = NULL;
	const char *sname = daemon_sensitivity_name(c->t.sensitivity);
	int r;

	if ((r = store_session_get(d->store, c->t.id, req->arena, &ss)) !=
	    MANDATE_OK)
		return r;
	c->labels_seen = (int64_t)ss.n_labels;
	r = MANDATE_ENOMEM;
	if ((names = json_array()) == NULL || (counts = json_object()) == NULL ||
	    (labels = strs_json(ss.labels, ss.n_labels)) == NULL ||
	    (actions = strs_json(ss.actions, ss.n_actions)) == NULL)
		goto out;
	for (size_t i = 0; i < ss.n_actions; i++) {
		char *k = arena_alloc(req->arena, ss.actions[i].n + 1);
		if (k == NULL)
			goto out;
		memcpy(k, ss.actions[i].p, ss.actions[i].n);
		k[ss.actions[i].n] = '\0';
		if (json_object_set_new(counts, k, json_integer(ss.counts[i])))
			goto out;
	}
	if ((r = match_intents(c, token_acts, json_object_get(context,
	    "arguments"), names, &c->intent_match)) != MANDATE_OK) {
		if (r == MANDATE_ELIMIT)
			c->why = "arguments too large to check against the "
			    "task's constraints (at most "
			    AGENT_MAX_MATCH_STEPS_TEXT " steps)";
		goto out;
	}
	r = MANDATE_ENOMEM;
	task = json_pack("{s:s%,s:s%,s:s%,s:s%,s:O,s:b,s:I,s:s,s:I,s:I,s:I}",
	    "id", c->t.id.p, c->t.id.n,
	    "objective", c->t.objective.p, c->t.objective.n,
	    "agent", c->t.agent.p, c->t.agent.n,
	    "delegator", c->t.delegator.p, c->t.delegator.n,
	    "intents", names,
	    "intent_match", c->intent_match,
	    "sensitivity", (json_int_t)c->t.sensitivity,
	    "sensitivity_name", sname != NULL ? sname : "",
	    "expires_at", (json_int_t)c->t.expires_at,
	    "call_budget", (json_int_t)(c->t.call_budget == INT64_MAX ?
	    INT64_MAX : c->t.call_budget),
	    "calls_used", (json_int_t)c->t.calls_used);
	sess = json_pack("{s:O,s:O,s:I,s:O}", "labels", labels,
	    "actions", actions, "calls", (json_int_t)c->t.calls_used,
	    "counts", counts);
	if (task == NULL || sess == NULL ||
	    json_object_set(context, "task", task) ||
	    json_object_set(context, "session", sess) ||
	    json_object_set_new(context, "approval",
	    json_pack("{s:s}", "state", "none")))
		goto out;
	r = MANDATE_OK;
out:
	json_decref(names);
	json_decref(labels);
	json_decref(actions);
	json_decref(counts);
	json_decref(task);
	json_decref(sess);
	return r;
}

/* May the caller name c->t by its id (context.mandate.task), rather than
 * present the agent's credential?  Its delegator may, and a caller the
 * policies permit Action::"mandate:use_task" on Task::"<id>" (an
 * enforcement point that mediates the agent's calls): any other
 * authenticated caller could otherwise spend the task's budget and set
 * its session's labels. */
static bool
may_name_task(struct daemon *d, struct http_request *req,
    const struct agent_ctx *c)
{
	if (c->call->caller == NULL || c->call->who == NULL)
		return false;
	if (str_eq_c(c->t.delegator, c->call->caller))
		return true;
	return api_task_other_may(d, c->call->policies, req, c->call->who,
	    "mandate:use_task", &c->t, NULL);
}

/* Is given[] (token, dpop, htm, htu, aud: context.mandate's members, NULL
 * when absent) the token and proof memo kept, verified? */
static bool
proof_memo_has(const struct agent_proof_memo *memo,
    const json_t *const given[5])
{
	if (memo == NULL || !memo->set)
		return false;
	for (size_t i = 0; i < 5; i++) {
		if ((given[i] == NULL) != (memo->given[i].p == NULL))
			return false;
		if (given[i] != NULL && !str_eq(jstr_of(given[i]),
		    memo->given[i]))
			return false;
	}
	return true;
}

/* Keep the first DPoP-bound token and proof of the request that verified
 * (copies in the request's arena: the item's context goes before the
 * next item).  Nothing is kept when the copies cannot be made: the next
 * item then verifies on its own, and fails as a replay (closed). */
static void
proof_memo_keep(struct http_request *req, struct agent_proof_memo *memo,
    const json_t *const given[5], const struct sts_verified *vt)
{
	if (memo == NULL || memo->set)
		return;
	for (size_t i = 0; i < 5; i++) {
		struct str v = given[i] != NULL ? jstr_of(given[i]) : STR_NULL;

		memo->given[i] = STR_NULL;
		if (v.p != NULL && (memo->given[i] = arena_strdup(req->arena,
		    v.p, v.n)).p == NULL)
			return;
	}
	memo->vt = *vt;
	memo->set = true;
}

/* Resolve context.mandate into c->t.  MANDATE_OK with c->task set when a
 * task row was read; *why set (and c->usable false) when the call is to
 * be denied.  *token_acts gets the token's actions (in the request's
 * arena), NULL when the task was named by its id. */
static int
resolve(struct daemon *d, struct http_request *req, struct agent_ctx *c,
    json_t *m, const struct ajson **token_acts, const char **why)
{
	const json_t *tok = json_object_get(m, "token");
	const json_t *tid = json_object_get(m, "task");
	const char *key, *reason = NULL;
	json_t *v;
	struct str task_id, token_sub = STR_NULL;
	int64_t now = (int64_t)time(NULL);
	int r;

	*token_acts = NULL;
	if (!json_is_object(m)) {
		*why = "context.mandate must be an object";
		return MANDATE_OK;
	}
	json_object_foreach(m, key, v) {
		if (strcmp(key, "token") && strcmp(key, "task") &&
		    strcmp(key, "dpop") && strcmp(key, "htm") &&
		    strcmp(key, "htu") && strcmp(key, "aud")) {
			*why = "unknown member of context.mandate";
			return MANDATE_OK;
		}
		if (!json_is_string(v)) {
			*why = "context.mandate members must be strings";
			return MANDATE_OK;
		}
	}
	if ((tok == NULL) == (tid == NULL)) {
		*why = "context.mandate needs exactly one of token and task";
		return MANDATE_OK;
	}
	if (tok != NULL) {
		struct sts_verified vt;
		const json_t *dp = json_object_get(m, "dpop");
		const json_t *htm = json_object_get(m, "htm");
		const json_t *htu = json_object_get(m, "htu");
		const json_t *aud = json_object_get(m, "aud");
		const json_t *const given[5] = { tok, dp, htm, htu, aud };

		if (d->sts == NULL) {
			*why = "tokens are not available";
			return MANDATE_OK;
		}
		if (json_string_length(tok) > STS_MAX_TOKEN_LEN) {
			*why = "token too long";
			return MANDATE_OK;
		}
		if (dp != NULL && proof_memo_has(c->call->proof_memo, given)) {
			vt = c->call->proof_memo->vt;
			r = MANDATE_OK;
		} else {
			r = sts_verify_access_token(d->sts, jstr_of(tok),
			    aud ? jstr_of(aud) : STR_NULL,
			    dp ? jstr_of(dp) : STR_NULL,
			    htm ? jstr_of(htm) : STR_NULL,
			    htu ? jstr_of(htu) : STR_NULL, now, req->arena, &vt,
			    &reason);
			if (r == MANDATE_OK && dp != NULL)
				proof_memo_keep(req, c->call->proof_memo,
				    given, &vt);
		}
		if (r == MANDATE_EINVAL) {
			*why = reason != NULL ? reason : "token not usable";
			return MANDATE_OK;
		}
		if (r != MANDATE_OK)
			return r;
		if ((*token_acts = token_actions(vt.claims)) == NULL) {
			*why = "token has no task authorization_details";
			return MANDATE_OK;
		}
		task_id = vt.task_id;
		token_sub = vt.sub;
		c->jti = vt.jti;
		if (!task_id_ok(task_id)) {
			*why = "token names no task";
			return MANDATE_OK;
		}
	} else {
		if (!c->call->caller_authenticated) {
			*why = "naming a task needs an authenticated caller";
			return MANDATE_OK;
		}
		task_id = jstr_of(tid);
		if (!task_id_ok(task_id)) {
			*why = "unknown task";
			return MANDATE_OK;
		}
	}
	r = store_task_get(d->store, task_id, req->arena, &c->t);
	if (r == MANDATE_ENOTFOUND) {
		*why = "unknown task";
		return MANDATE_OK;
	}
	if (r != MANDATE_OK)
		return r;
	/* first of all, may this caller name the task at all?  Before
	 * anything else is compared with it, so that a caller who may
	 * not learns nothing of it (not even whether a guessed agent is
	 * its agent) and leaves nothing in its trail: said as an unknown
	 * task, recorded without it, as for an id that does not exist */
	if (tid != NULL && !may_name_task(d, req, c)) {
		*why = "unknown task";
		return MANDATE_OK;
	}
	c->task = true;
	if (token_sub.p != NULL && !str_eq(token_sub, c->t.agent)) {
		*why = "token subject is not the task's agent";
		return MANDATE_OK;
	}
	if (!str_eq(c->call->subject_id, c->t.agent)) {
		*why = "subject is not the task's agent";
		return MANDATE_OK;
	}
	switch (store_task_state_at(&c->t, now)) {
	case STORE_TASK_ACTIVE:
		break;
	case STORE_TASK_EXPIRED:
		*why = "task expired";
		return MANDATE_OK;
	case STORE_TASK_REVOKED:
		*why = "task revoked";
		return MANDATE_OK;
	default:
		*why = "task ended";
		return MANDATE_OK;
	}
	if (c->t.calls_used >= c->t.call_budget) {
		*why = "call budget exhausted";
		return MANDATE_OK;
	}
	c->usable = true;
	return MANDATE_OK;
}

int
agent_ctx_prepare(struct daemon *d, struct http_request *req,
    const struct agent_call *call, json_t *context, struct agent_ctx **out,
    enum agent_ctx_result *result, const char **why)
{
	struct agent_ctx *c;
	json_t *m = NULL;
	const struct ajson *token_acts = NULL;
	int r;

	*out = NULL;
	*result = AGENT_CTX_DENY;
	*why = "internal error";
	if (d == NULL || req == NULL || call == NULL || !json_is_object(context))
		return MANDATE_EINVAL;
	if ((c = arena_alloc(req->arena, sizeof(*c))) == NULL)
		return MANDATE_ENOMEM;
	memset(c, 0, sizeof(*c));
	c->call = call;
	/* from here on *out is set, error or not: finish records the deny */
	*out = c;
	c->named = json_object_get(context, "mandate") != NULL;
	if (audit_inputs(req->arena, context, c) != MANDATE_OK) {
		c->why = "internal error";
		return MANDATE_ENOMEM;
	}
	m = json_incref(json_object_get(context, "mandate"));
	for (size_t i = 0; i < sizeof(reserved) / sizeof(reserved[0]); i++)
		json_object_del(context, reserved[i]);
	if (m == NULL) {
		*result = AGENT_CTX_NONE;
		*why = NULL;
		return MANDATE_OK;
	}
	if (call->resource_type.n > 0) {
		char *type = arena_alloc(req->arena, call->resource_type.n + 1);
		if (type == NULL) {
			r = MANDATE_ENOMEM;
			goto out;
		}
		memcpy(type, call->resource_type.p, call->resource_type.n);
		type[call->resource_type.n] = '\0';
		if ((c->resource_uid = daemon_cedar_uid(req->arena, type,
		    call->resource_id)) == NULL) {
			r = MANDATE_ENOMEM;
			goto out;
		}
	}
	c->why = NULL;
	if ((r = resolve(d, req, c, m, &token_acts, &c->why)) != MANDATE_OK) {
		c->usable = false;
		goto out;
	}
	if (!c->usable) {
		*why = c->why != NULL ? c->why : "task not usable";
		goto out;
	}
	if ((r = fill_context(d, c, req, context, token_acts)) != MANDATE_OK) {
		c->usable = false;
		if (r == MANDATE_ELIMIT && c->why == NULL)
			c->why = "task session past its limit of "
			    STORE_MAX_SESSION_TEXT " labels and actions";
		goto out;
	}
	c->context_set = true;
	*result = AGENT_CTX_TASK;
	*why = NULL;
out:
	if (r != MANDATE_OK && c->why == NULL)
		c->why = "internal error";
	if (r != MANDATE_OK)
		*why = c->why;
	json_decref(m);
	return r;
}

/* ---- finish ---- */

int
agent_label_fold(struct arena *a, struct str *label)
{
	size_t i = 0;
	char *p;

	while (i < label->n && !(label->p[i] >= 'A' && label->p[i] <= 'Z'))
		i++;
	if (i == label->n)
		return MANDATE_OK;
	if ((p = arena_alloc(a, label->n + 1)) == NULL)
		return MANDATE_ENOMEM;
	for (i = 0; i < label->n; i++) {
		char ch = label->p[i];

		p[i] = ch >= 'A' && ch <= 'Z' ? (char)(ch - 'A' + 'a') : ch;
	}
	p[label->n] = '\0';
	*label = str_make(p, label->n);
	return MANDATE_OK;
}

/* The configured output labels of a tool (tools.output_labels), as
 * strings in the request's arena, folded as reported labels are
 * (agent_label_fold); none when not configured. */
static int
tool_labels(struct daemon *d, struct http_request *req, struct str action,
    const struct str **out, size_t *n_out)
{
	const struct config_tools *tl = &d->cfg->tools;

	*out = NULL;
	*n_out = 0;
	for (size_t i = 0; i < tl->n_output_labels; i++) {
		const struct config_strlist *l = &tl->output_labels[i].labels;
		struct str *v;

		if (!str_eq_c(action, tl->output_labels[i].action))
			continue;
		if (l->n == 0)
			return MANDATE_OK;
		if ((v = arena_calloc(req->arena, l->n, sizeof(*v))) == NULL)
			return MANDATE_ENOMEM;
		for (size_t j = 0; j < l->n; j++) {
			v[j] = str_c(l->v[j]);
			if (agent_label_fold(req->arena, &v[j]) != MANDATE_OK)
				return MANDATE_ENOMEM;
		}
		*out = v;
		*n_out = l->n;
		return MANDATE_OK;
	}
	return MANDATE_OK;
}

/* A decision id: the daemon's random prefix (drawn at start) and its
 * counter, 32 hex digits.  Unique across the daemon's life and its
 * restarts; an id names a decision, it grants nothing. */
static int
new_decision_id(struct daemon *d, char id[AGENT_DECISION_ID_SIZE])
{
	static const char hex[] = "0123456789abcdef";
	unsigned char raw[16];
	uint64_t n = atomic_fetch_add_explicit(&d->decision_next, 1,
	    memory_order_relaxed);

	memcpy(raw, d->decision_prefix, 8);
	for (size_t i = 0; i < 8; i++)
		raw[15 - i] = (unsigned char)(n >> (8 * i));
	for (size_t i = 0; i < sizeof(raw); i++) {
		id[2 * i] = hex[raw[i] >> 4];
		id[2 * i + 1] = hex[raw[i] & 15];
	}
	id[32] = '\0';
	return MANDATE_OK;
}

static const char *
consume_why(int outcome)
{
	switch (outcome) {
	case STORE_EXHAUSTED:
		return "call budget exhausted";
	case STORE_TASK_EXPIRED_NOW:
		return "task expired";
	case STORE_SESSION_CHANGED:
		return "the task's session labels changed while this call was "
		    "decided (a concurrent call or outcome): ask again";
	case STORE_CRED_REVOKED:
		return "credential revoked";
	default:
		return "task not active";
	}
}

/* Room for decision_members(). */
#define DECISION_MEMBERS 17

/* The decision's audit fields, in their order; with a task also
 * intent_match, and calls_used when given (>= 0).  The strings and JSON
 * values are borrowed from c and the arguments.  Returns the count. */
static size_t
decision_members(const struct agent_ctx *c, const char *id, bool allow,
    json_t *reasons, json_t *errors, int64_t used,
    struct redact_member m[DECISION_MEMBERS])
{
	size_t n = 0;

#define M_STR(nm, v) (m[n++] = (struct redact_member){ .name = (nm), \
	.kind = REDACT_M_STR, .s = (v) })
#define M_BOOL(nm, v) (m[n++] = (struct redact_member){ .name = (nm), \
	.kind = REDACT_M_BOOL, .b = (v) })
#define M_JSON(nm, v) (m[n++] = (struct redact_member){ .name = (nm), \
	.kind = REDACT_M_JSON, .j = (v) })
	M_STR("decision_id", str_c(id));
	M_STR("subject_type", c->call->subject_type);
	M_STR("subject_id", c->call->subject_id);
	M_STR("action", c->call->action);
	M_STR("resource_type", c->call->resource_type);
	M_STR("resource_id", c->call->resource_id);
	M_BOOL("decision", allow);
	if (reasons != NULL)
		M_JSON("reasons", reasons);
	if (errors != NULL)
		M_JSON("errors", errors);
	if (c->task) {
		M_BOOL("intent_match", c->intent_match);
		if (used >= 0)
			m[n++] = (struct redact_member){ .name = "calls_used",
			    .kind = REDACT_M_INT, .i = used };
		if (c->call->dry_run)
			M_BOOL("dry_run", true);
	}
	if (c->why != NULL)
		M_STR("deny_reason", str_c(c->why));
	if (c->arguments != NULL)
		M_JSON("arguments", c->arguments);
	if (c->prompt != NULL)
		M_STR("prompt", str_make(c->prompt, c->prompt_len));
	/* last, where the writer would put the current one */
	if (c->call->policy_hash != NULL)
		M_STR("policy_hash", str_c(c->call->policy_hash));
#undef M_STR
#undef M_BOOL
#undef M_JSON
	return n;
}

/*
 * A task-bound decision recorded by the audit log's writer: the budget
 * and session write (store_decision_record) and the decision's audit
 * record in one transaction, while the worker goes on and the answer is
 * held (http_hold).  The record is made on the writer thread once the
 * outcome is known (held_build); a permit whose call could not be
 * consumed (budget spent, task ended in between) releases the hold as
 * failed, so the fallback deny is sent instead.  Everything here lives
 * until the release: the struct in the request's arena, the record in
 * its own arena (the worker may still use the request's).
 */
struct held_decision {
	struct daemon *d;
	struct http_hold *hold;
	struct store_decision dec;
	bool allow;                  /* the answer the handler gives */
	/* the record's fields for a permit (decision_members): strings
	 * in the request's arena, JSON values copies of this struct's */
	struct redact_member base[DECISION_MEMBERS];
	size_t n_base;
	json_t *owned[3];            /* reasons, errors, arguments */
	const char *request_id;
	struct str agent, task_id;
	struct arena a;              /* the built record's strings */
	bool built;
	int built_outcome;
	int outcome;
	struct store_audit_event ev;
};

/* Free what a held decision owns (not h: the request's arena). */
static void
held_drop(struct held_decision *h)
{
	for (size_t i = 0; i < 3; i++)
		json_decref(h->owned[i]);
	arena_free(&h->a);
}

static int
held_build(void *arg, int outcome, int64_t used,
    struct store_audit_event *out)
{
	struct held_decision *h = arg;
	struct redact_member m[DECISION_MEMBERS + 2], *why = NULL;
	struct audit_event e;
	bool final;
	size_t n;
	int r;

	h->outcome = outcome;
	if (h->built && h->built_outcome == outcome) {   /* a rerun */
		*out = h->ev;
		return MANDATE_OK;
	}
	/* the base's members with the outcome: the decision set, the
	 * calls used or why the permit became a deny added (or set) */
	memcpy(m, h->base, h->n_base * sizeof(m[0]));
	n = h->n_base;
	final = h->allow && outcome == STORE_CONSUMED;
	for (size_t i = 0; i < n; i++) {
		if (strcmp(m[i].name, "decision") == 0)
			m[i].b = final;
		else if (strcmp(m[i].name, "deny_reason") == 0)
			why = &m[i];
	}
	if (final)
		m[n++] = (struct redact_member){ .name = "calls_used",
		    .kind = REDACT_M_INT, .i = used };
	if (h->allow && !final) {
		if (why == NULL)
			why = &m[n++];
		*why = (struct redact_member){ .name = "deny_reason",
		    .kind = REDACT_M_STR, .s = str_c(consume_why(outcome)) };
	}
	memset(&e, 0, sizeof(e));
	e.time = h->dec.time;
	e.type = "decision";
	e.request_id = str_c(h->request_id);
	e.agent = h->agent;
	e.task_id = h->task_id;
	if ((r = audit_prepare_members(h->d->audit, &e, m, n, &h->a,
	    &h->ev)) != MANDATE_OK)
		return r;
	h->built = true;
	h->built_outcome = outcome;
	*out = h->ev;
	return MANDATE_OK;
}

static void
held_done(void *arg, int status, int64_t id)
{
	struct held_decision *h = arg;
	struct http_hold *hold = h->hold;
	bool ok = status == MANDATE_OK &&
	    (!h->allow || h->outcome == STORE_CONSUMED);

	(void)id;                    /* (the writer counted the record) */
	if (status != MANDATE_OK)
		daemon_log(h->d, DLOG_ERROR, "request %s: decision record: %s: "
		    "the answer is a deny (fail closed)", h->request_id,
		    mandate_strerror(status));
	held_drop(h);
	http_release(hold, ok);      /* h is gone now */
}

/* The record's base members of a held decision, made to outlive the
 * handler: strings copied into the request's arena (it lives until the
 * hold is released), JSON values deep-copied (the writer thread must
 * share no jansson value with the handler, which still reads its
 * own). */
static int
held_base(struct held_decision *h, struct arena *a, const struct agent_ctx *c,
    const char *id, bool allow, json_t *reasons, json_t *errors)
{
	json_t *args = NULL;

	h->owned[0] = reasons != NULL ? json_deep_copy(reasons) : NULL;
	h->owned[1] = errors != NULL ? json_deep_copy(errors) : NULL;
	if (c->arguments != NULL)
		args = h->owned[2] = json_deep_copy(c->arguments);
	if ((reasons != NULL && h->owned[0] == NULL) ||
	    (errors != NULL && h->owned[1] == NULL) ||
	    (c->arguments != NULL && args == NULL))
		return MANDATE_ENOMEM;
	h->n_base = decision_members(c, id, allow, h->owned[0], h->owned[1],
	    -1, h->base);
	for (size_t i = 0; i < h->n_base; i++) {
		struct redact_member *m = &h->base[i];

		if (m->kind == REDACT_M_JSON && m->j == c->arguments)
			m->j = args;
		if (m->kind == REDACT_M_STR) {
			m->s = arena_strdup(a, m->s.p != NULL ? m->s.p : "",
			    m->s.n);
			if (m->s.p == NULL)
				return MANDATE_ENOMEM;
		}
	}
	return MANDATE_OK;
}

/* Start a held task-bound decision.  MANDATE_OK with *held: the writer
 * has it (the answer is allow, and held); with !*held: it cannot be held
 * here (record it the synchronous way).  Another status: deny. */
static int
finish_held(struct daemon *d, struct http_request *req, struct agent_ctx *c,
    const struct store_decision *dec, json_t *reasons, json_t *errors,
    const char *id, bool allow, bool *held)
{
	struct held_decision *h;
	int r;

	*held = false;
	/* (in async mode too: the state change is committed before the
	 * answer either way, and on the writer it does not hold a worker
	 * thread for its commit) */
	if (!d->cfg->audit.decisions || !c->call->single ||
	    (h = arena_calloc(req->arena, 1, sizeof(*h))) == NULL)
		return MANDATE_OK;
	h->d = d;
	h->dec = *dec;
	/* the writer reads them after the handler has returned: the id
	 * and the caller's name live on its stack, copy them */
	h->dec.id = arena_strdup(req->arena, dec->id.p, dec->id.n);
	h->dec.caller = arena_strdup(req->arena, dec->caller.p != NULL ?
	    dec->caller.p : "", dec->caller.n);
	if (h->dec.id.p == NULL || h->dec.caller.p == NULL)
		return MANDATE_ENOMEM;
	h->allow = allow;
	h->request_id = req->request_id;
	h->agent = c->t.agent;
	h->task_id = c->t.id;
	arena_init(&h->a, 0);
	if ((r = held_base(h, req->arena, c, id, allow, reasons, errors)) !=
	    MANDATE_OK) {
		held_drop(h);
		return r;
	}
	if ((h->hold = http_hold(req)) == NULL) {
		held_drop(h);
		return MANDATE_OK;
	}
	r = audit_decision_async(d->audit, &h->dec, dec->time, held_build, h,
	    held_done, h);
	if (r != MANDATE_OK) {
		held_drop(h);
		http_release(h->hold, true);   /* the caller denies */
		return r;
	}
	*held = true;
	return MANDATE_OK;
}

int
agent_ctx_finish(struct daemon *d, struct http_request *req,
    struct agent_ctx *c, bool permit, json_t *reasons, json_t *errors,
    bool *final, char id[AGENT_DECISION_ID_SIZE])
{
	bool allow, held = false;
	int64_t now = (int64_t)time(NULL), used = 0;
	int outcome = STORE_CONSUMED, r;

	*final = false;
	id[0] = '\0';
	if (d == NULL || req == NULL || c == NULL)
		return MANDATE_EINVAL;
	if ((r = new_decision_id(d, id)) != MANDATE_OK)
		return r;
	/* a named task must have been resolved and usable: prepare's deny
	 * (or an error in it) cannot be undone by the policies */
	allow = permit && (!c->named || (c->task && c->usable &&
	    c->context_set));
	if (c->task && !c->call->dry_run) {
		struct store_decision dec;
		const char *caller = c->call->caller != NULL ?
		    c->call->caller : "";

		memset(&dec, 0, sizeof(dec));
		dec.id = str_c(id);
		dec.task_id = c->t.id;
		dec.caller = str_c(caller);
		dec.action = c->call->action;
		dec.resource = c->resource_uid != NULL ?
		    str_c(c->resource_uid) : STR_NULL;
		dec.permit = allow;
		dec.time = now;
		/* the policies saw the session's labels: a permit stands
		 * only if they are still those at commit */
		dec.check_labels = c->context_set;
		dec.labels_seen = c->labels_seen;
		/* and the token's credential must still be unrevoked */
		dec.cred_jti = c->jti;
		if (allow && tool_labels(d, req, c->call->action,
		    &dec.add_labels, &dec.n_add_labels) != MANDATE_OK)
			allow = false;
		dec.permit = allow;
		if (dec.action.n == 0 || dec.action.n > STORE_MAX_LABEL) {
			allow = false;     /* cannot be recorded: deny */
			dec.permit = 0;
			dec.action = str_c("(invalid)");
		}
		/* the decision and its record in one commit on the writer,
		 * the answer held until then (see struct held_decision) */
		r = finish_held(d, req, c, &dec, reasons, errors, id, allow,
		    &held);
		if (r != MANDATE_OK) {
			daemon_log(d, DLOG_ERROR, "request %s: decision record: "
			    "%s", req->request_id, mandate_strerror(r));
			return r == MANDATE_ENOMEM ? r : MANDATE_EIO;
		}
		if (held) {
			*final = allow;
			return MANDATE_OK;
		}
		r = store_decision_record(d->store, &dec, now, &outcome, &used);
		if (r != MANDATE_OK) {
			daemon_log(d, DLOG_ERROR, "request %s: decision record: "
			    "%s", req->request_id, mandate_strerror(r));
			allow = false;
		} else if (allow && outcome != STORE_CONSUMED) {
			allow = false;     /* the budget ran out in between */
			c->why = consume_why(outcome);
		}
	}
	if (!d->cfg->audit.decisions) {
		/* decision records are off (unsafe): none is built */
		*final = allow;
		return MANDATE_OK;
	}
	{
		struct redact_member m[DECISION_MEMBERS];
		size_t n = decision_members(c, id, allow, reasons, errors,
		    allow && !c->call->dry_run ? used : -1, m);

		if (api_audit_members(d, req, "decision", c->task ?
		    c->t.agent : STR_NULL, c->task ? c->t.id : STR_NULL, m,
		    n) != MANDATE_OK)
			return MANDATE_EIO;
	}
	*final = allow;
	return MANDATE_OK;
}

/*
 * schema_test.c - Cedar schemas in both syntaxes.
 *
 * Data-driven: good schemas are checked by looking up entity types and
 * actions and comparing a canonical rendering of what came back; bad
 * schemas by the status, the diagnostic's position and a piece of its
 * message; and pairs of text and JSON schemas must build the same model.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <cmocka.h>
#include <stdio.h>
#include <string.h>

#include "cedar/cedar_int.h"
#include "cedar/schema_int.h"

/* ------------------------------------------------------------------ */
/* Rendering the model */

struct buf {
	char p[4096];
	size_t n;
};

static void put(struct buf *b, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int r;

	if (b->n >= sizeof(b->p))
		return;
	va_start(ap, fmt);
	r = vsnprintf(b->p + b->n, sizeof(b->p) - b->n, fmt, ap);
	va_end(ap);
	if (r > 0)
		b->n += (size_t)r;
	if (b->n >= sizeof(b->p))
		b->n = sizeof(b->p) - 1;
}

static void
render_type(struct buf *b, const struct cedar_type *t)
{
	static const char *const ext[] = {
		"ipaddr", "decimal", "datetime", "duration",
	};

	switch (t->kind) {
	case CT_BOOL:
		put(b, "Bool");
		break;
	case CT_LONG:
		put(b, "Long");
		break;
	case CT_STRING:
		put(b, "String");
		break;
	case CT_EXT:
		put(b, "%s", ext[t->ext]);
		break;
	case CT_ENTITY:
		put(b, "%.*s", (int)t->name.n, t->name.p);
		break;
	case CT_SET:
		put(b, "Set<");
		render_type(b, t->elem);
		put(b, ">");
		break;
	case CT_RECORD:
		put(b, "{");
		for (size_t i = 0; i < t->n_attrs; i++) {
			put(b, "%s%.*s%s:", i ? "," : "",
			    (int)t->attrs[i].name.n, t->attrs[i].name.p,
			    t->attrs[i].required ? "" : "?");
			render_type(b, t->attrs[i].type);
		}
		put(b, "}");
		break;
	default:
		put(b, "?");
	}
}

static void
render_entity(struct buf *b, const struct cedar_entity_type *e)
{
	put(b, "[");
	for (size_t i = 0; i < e->n_member_of; i++)
		put(b, "%s%.*s", i ? "," : "", (int)e->member_of[i].n,
		    e->member_of[i].p);
	put(b, "] ");
	render_type(b, e->shape);
	if (e->tags != NULL) {
		put(b, " tags ");
		render_type(b, e->tags);
	}
	if (e->enum_ids != NULL) {
		put(b, " enum");
		for (size_t i = 0; i < e->n_enum_ids; i++)
			put(b, " %.*s", (int)e->enum_ids[i].n,
			    e->enum_ids[i].p);
	}
}

static void
render_action(struct buf *b, const struct cedar_action_decl *a)
{
	put(b, "[");
	for (size_t i = 0; i < a->n_member_of; i++)
		put(b, "%s%.*s::\"%.*s\"", i ? "," : "",
		    (int)a->member_of[i].type.n, a->member_of[i].type.p,
		    (int)a->member_of[i].id.n, a->member_of[i].id.p);
	put(b, "]");
	if (a->has_applies_to) {
		put(b, " P[");
		for (size_t i = 0; i < a->n_principal_types; i++)
			put(b, "%s%.*s", i ? "," : "",
			    (int)a->principal_types[i].n,
			    a->principal_types[i].p);
		put(b, "] R[");
		for (size_t i = 0; i < a->n_resource_types; i++)
			put(b, "%s%.*s", i ? "," : "",
			    (int)a->resource_types[i].n,
			    a->resource_types[i].p);
		put(b, "] ");
		render_type(b, a->context);
	}
}

static void
render_schema(struct buf *b, const struct cedar_schema *s)
{
	for (size_t i = 0; i < s->n_entity_types; i++) {
		put(b, "entity %.*s ", (int)s->entity_types[i].name.n,
		    s->entity_types[i].name.p);
		render_entity(b, &s->entity_types[i]);
		put(b, "\n");
	}
	for (size_t i = 0; i < s->n_actions; i++) {
		put(b, "action %.*s::\"%.*s\" ",
		    (int)s->actions[i].uid.type.n, s->actions[i].uid.type.p,
		    (int)s->actions[i].uid.id.n, s->actions[i].uid.id.p);
		render_action(b, &s->actions[i]);
		put(b, "\n");
	}
}

static struct cedar_schema *
parse(const char *src, bool json, struct diag_list *dl, int *status)
{
	struct cedar_schema *s = NULL;

	diag_init(dl);
	*status = json ? cedar_schema_parse_json(src, strlen(src), "t", &s, dl)
	    : cedar_schema_parse_text(src, strlen(src), "t", &s, dl);
	return s;
}

static void
print_diags(const struct diag_list *dl)
{
	diag_print(dl, stdout);
}

/* ------------------------------------------------------------------ */
/* Good schemas: facts by lookup */

struct good_case {
	const char *src;
	bool json;
	const char *facts[8];   /* "entity NAME => R", "action T::\"id\" => R",
	                         * "no entity NAME", "no action T::\"id\"" */
};

static const struct good_case good_cases[] = {
	{ "entity User;", false, {
	    "entity User => [] {}",
	    "no entity user",
	    "no action Action::\"User\"" } },
	{ "entity A, B in [C] = { a: Long, \"b c\"?: String, }; entity C;",
	    false, {
	    "entity A => [C] {a:Long,b c?:String}",
	    "entity B => [C] {a:Long,b c?:String}",
	    "entity C => [] {}" } },
	/* `in X` without brackets, `=` optional, tags */
	{ "entity G; entity U in G { s: Set<Set<G>> } tags Set<String>;",
	    false, {
	    "entity U => [G] {s:Set<Set<G>>} tags Set<String>" } },
	{ "entity Color enum [\"red\", \"green\", \"blue\"];", false, {
	    "entity Color => [] {} enum blue green red" } },
	/* primitives, extension types, __cedar names */
	{ "entity E { a: Bool, b: Long, c: String, d: ipaddr, e: decimal, "
	  "f: datetime, g: duration, h: __cedar::Long, i: __cedar::ipaddr };",
	    false, {
	    "entity E => [] {a:Bool,b:Long,c:String,d:ipaddr,e:decimal,"
	    "f:datetime,g:duration,h:Long,i:ipaddr}" } },
	/* common types inline; a common type shadows an entity type of the
	 * same namespace; the builtin loses to an empty-namespace entity */
	{ "type Addr = { zip: Long }; entity Long; entity P { a: Addr, "
	  "l: Long, m: __cedar::Long };", false, {
	    "entity P => [] {a:{zip:Long},l:Long,m:Long}",
	    "entity Long => [] {}" } },
	/* namespaces: NS::X before X, qualified names mean only themselves */
	{ "entity T; namespace A::B { entity U in [T] { t: T, v: V, w: A::B::V }; "
	  "entity V; type S = String; entity W { s: S }; }", false, {
	    "entity A::B::U => [T] {t:T,v:A::B::V,w:A::B::V}",
	    "entity A::B::W => [] {s:String}",
	    "no entity U" } },
	{ "namespace N { entity T; type T = { y: Long }; "
	  "entity E { t: T, u: Set<N::T> }; entity F in [T]; }", false, {
	    "entity N::E => [] {t:{y:Long},u:Set<{y:Long}>}",
	    "entity N::F => [N::T] {}" } },
	/* actions: groups, appliesTo, context as a common type */
	{ "namespace N { entity U; entity R; type C = { ok: Bool }; "
	  "action all; action \"read\", write in [all] appliesTo { "
	  "principal: [U], resource: R, context: C }; "
	  "action x in [Action::\"read\", N::Action::\"all\"]; }", false, {
	    "action N::Action::\"read\" => [N::Action::\"all\"] P[N::U] "
	    "R[N::R] {ok:Bool}",
	    "action N::Action::\"write\" => [N::Action::\"all\"] P[N::U] "
	    "R[N::R] {ok:Bool}",
	    "action N::Action::\"x\" => [N::Action::\"all\","
	    "N::Action::\"read\"]",
	    "no action Action::\"read\"" } },
	/* an action in another namespace; Action falls back to the empty
	 * namespace */
	{ "action g; namespace N { action a in [Action::\"g\"]; } "
	  "action b in N::Action::\"a\";", false, {
	    "action N::Action::\"a\" => [Action::\"g\"]",
	    "action Action::\"b\" => [N::Action::\"a\"]" } },
	/* annotations, comments, empty lists, trailing commas */
	{ "// c\n@doc(\"x\") namespace N { @a @b(\"y\") entity E { @c(\"\") "
	  "x: Long, // inline\n }; action \"a b\" appliesTo { principal: [E], "
	  "resource: [E], context: {}, }; }", false, {
	    "entity N::E => [] {x:Long}",
	    "action N::Action::\"a b\" => [] P[N::E] R[N::E] {}" } },
	/* the entity type of actions may be named as an attribute type */
	{ "namespace N { entity E { a: Action, b: N::Action }; action x; } "
	  "entity F { n: N::Action };", false, {
	    "entity N::E => [] {a:N::Action,b:N::Action}",
	    "entity F => [] {n:N::Action}" } },
	/* an attribute written twice: the last one counts (as in the
	 * reference, whose map keeps the last insertion) */
	{ "entity A = { a: Long, b: Bool, a: Set<String>, a: Foo, a: String };",
	    false, {
	    "entity A => [] {a:String,b:Bool}" } },
	{ "entity E { \"\\u{1F600}\\n\": Long };", false, {
	    "entity E => [] {\xF0\x9F\x98\x80\n:Long}" } },
	/* keywords of the schema syntax are identifiers elsewhere */
	{ "entity entity { type: Long, namespace: String, Set: Bool }; "
	  "entity Set; entity A { s: Set<Set> };", false, {
	    "entity entity => [] {Set:Bool,namespace:String,type:Long}",
	    "entity A => [] {s:Set<Set>}" } },
	/* JSON */
	{ "{\"N\": {\"entityTypes\": {\"U\": {\"memberOfTypes\": [\"G\"], "
	  "\"shape\": {\"type\": \"Record\", \"attributes\": {\"a\": {\"type\": "
	  "\"Long\"}, \"b\": {\"type\": \"Boolean\", \"required\": false}, "
	  "\"c\": {\"type\": \"Entity\", \"name\": \"G\"}, \"d\": {\"type\": "
	  "\"Extension\", \"name\": \"decimal\"}, \"e\": {\"type\": \"S\"}}}}, "
	  "\"G\": {}}, \"commonTypes\": {\"S\": {\"type\": \"Set\", "
	  "\"element\": {\"type\": \"EntityOrCommon\", \"name\": \"String\"}}}, "
	  "\"actions\": {\"view\": {\"appliesTo\": {\"principalTypes\": "
	  "[\"U\"], \"resourceTypes\": [\"G\"]}}}}}", true, {
	    "entity N::U => [N::G] {a:Long,b?:Bool,c:N::G,d:decimal,"
	    "e:Set<String>}",
	    "action N::Action::\"view\" => [] P[N::U] R[N::G] {}" } },
	{ "{\"\": {\"entityTypes\": {}, \"actions\": {\"a\": {}, \"b\": "
	  "{\"memberOf\": [{\"id\": \"a\"}, {\"id\": \"a\", \"type\": "
	  "\"Action\"}]}}}}", true, {
	    "action Action::\"a\" => []",
	    "action Action::\"b\" => [Action::\"a\"]" } },
};

static void
check_fact(const struct cedar_schema *s, const char *fact)
{
	const char *arrow = strstr(fact, " => ");
	bool neg = strncmp(fact, "no ", 3) == 0;
	const char *what = neg ? fact + 3 : fact;
	const char *name = strchr(what, ' ') + 1;
	size_t name_n = arrow != NULL ? (size_t)(arrow - name) : strlen(name);
	struct buf b;

	b.n = 0;
	b.p[0] = '\0';
	if (strncmp(what, "entity ", 7) == 0) {
		const struct cedar_entity_type *e =
		    cedar_schema_entity_type(s, str_make(name, name_n));
		if (neg) {
			assert_null(e);
			return;
		}
		if (e == NULL)
			fail_msg("entity type %.*s not found", (int)name_n, name);
		render_entity(&b, e);
	} else {
		/* T::"id" */
		const char *q = strstr(name, "::\"");
		struct cedar_uid uid;
		const struct cedar_action_decl *a;

		assert_non_null(q);
		uid.type = str_make(name, (size_t)(q - name));
		uid.id = str_make(q + 3, (size_t)(name + name_n - (q + 3)) - 1);
		a = cedar_schema_action(s, &uid);
		if (neg) {
			assert_null(a);
			return;
		}
		if (a == NULL)
			fail_msg("action %.*s not found", (int)name_n, name);
		render_action(&b, a);
	}
	if (strcmp(b.p, arrow + 4) != 0)
		fail_msg("%s\n   got: %s", fact, b.p);
}

static void
test_good_schemas(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(good_cases) / sizeof(*good_cases); i++) {
		const struct good_case *c = &good_cases[i];
		struct diag_list dl;
		int st;
		struct cedar_schema *s = parse(c->src, c->json, &dl, &st);

		if (st != MANDATE_OK || s == NULL) {
			print_diags(&dl);
			fail_msg("case %zu: status %d", i, st);
		}
		assert_int_equal(dl.n, 0);
		for (size_t k = 0; k < 8 && c->facts[k] != NULL; k++)
			check_fact(s, c->facts[k]);
		cedar_schema_free(s);
	}
}

/* ------------------------------------------------------------------ */
/* Bad schemas: status, position, message */

struct bad_case {
	const char *src;
	bool json;
	int status;
	long off;          /* byte offset of the first diagnostic; -1: none
	                    * (JSON errors name a path instead) */
	const char *msg;   /* substring of the first diagnostic */
	size_t min_diags;  /* at least this many diagnostics */
};

static const struct bad_case bad_cases[] = {
	{ "entity A in [B];", false, MANDATE_EPARSE, 13,
	    "undeclared entity type `B`", 1 },
	{ "entity A; entity A;", false, MANDATE_EPARSE, 17,
	    "declared twice", 1 },
	{ "entity A { a: Foo };", false, MANDATE_EPARSE, 14,
	    "undeclared common or entity type `Foo`", 1 },
	{ "type T = U; type U = { t: T };", false, MANDATE_EPARSE, -2,
	    "cycle", 1 },
	{ "action a in b; action b in a;", false, MANDATE_EPARSE, -2,
	    "cycle", 1 },
	{ "action a in a;", false, MANDATE_EPARSE, 7, "cycle", 1 },
	{ "action a in c;", false, MANDATE_EPARSE, 12,
	    "undeclared action `Action::\"c\"`", 1 },
	{ "entity A\nentity B;", false, MANDATE_EPARSE, 9,
	    "unexpected `entity`, expected `,`, `in`, `=`, `{`, `tags`, "
	    "`enum` or `;`", 1 },
	{ "entity A in B { } C;", false, MANDATE_EPARSE, 18,
	    "unexpected `C`, expected `tags` or `;`", 1 },
	{ "action a in b c;", false, MANDATE_EPARSE, 14,
	    "expected `appliesTo` or `;`", 1 },
	/* several errors in one run */
	{ "entity A { x: Set<Long };\nentity B in;\nentity C;", false,
	    MANDATE_EPARSE, 23, "expected `>`", 2 },
	{ "namespace N { entity A; } namespace N { entity B; }", false,
	    MANDATE_EPARSE, 36, "namespace `N` is declared twice", 1 },
	{ "entity User; namespace N { entity User; }", false,
	    MANDATE_EPARSE, 34, "shadows", 1 },
	{ "entity in;", false, MANDATE_EPARSE, 7, "reserved", 1 },
	{ "entity Action;", false, MANDATE_EPARSE, 7, "`Action`", 1 },
	{ "type Long = String;", false, MANDATE_EPARSE, 5,
	    "reserved common type name", 1 },
	{ "namespace __cedar { entity A; }", false, MANDATE_EPARSE, 10,
	    "reserved", 1 },
	{ "entity A { b: Boolean };", false, MANDATE_EPARSE, 14,
	    "undeclared", 1 },
	{ "entity A; action a appliesTo { principal: A };", false,
	    MANDATE_EPARSE, 29, "must declare `resource`", 1 },
	{ "entity A; action a appliesTo { principal: A, principal: A, "
	  "resource: A };", false, MANDATE_EPARSE, 45, "twice", 1 },
	{ "entity A; action a appliesTo { context: A, principal: A, "
	  "resource: A };", false, MANDATE_EPARSE, 40,
	    "undeclared common type `A`", 1 },
	{ "entity A { s: Long } tags Foo;", false, MANDATE_EPARSE, 26,
	    "undeclared", 1 },
	{ "type C = Long; entity A = C;", false, MANDATE_EPARSE, 26,
	    "expected `{`", 1 },
	{ "entity E; type C = Long; action a appliesTo { principal: [E], "
	  "resource: E, context: C };", false, MANDATE_EPARSE, 84,
	    "must be a record", 1 },
	{ "entity E; action a appliesTo { principal: [], resource: E };",
	    false, MANDATE_EPARSE, 31, "`principal` is `[]`", 1 },
	{ "entity E in [Action]; action a;", false, MANDATE_EPARSE, 13,
	    "undeclared entity type `Action`", 1 },
	{ "entity E { a: Action };", false, MANDATE_EPARSE, 14,
	    "undeclared", 1 },
	{ "@a @a entity A;", false, MANDATE_EPARSE, 4,
	    "duplicate annotation", 1 },
	{ "entity A { a: \"x\\q\" };", false, MANDATE_EPARSE, 14,
	    "expected a type", 1 },
	{ "entity A enum [\"a\\q\"];", false, MANDATE_EPARSE, 15,
	    "invalid escape", 1 },
	{ "entity A { \"abc", false, MANDATE_EPARSE, 11, "unterminated", 1 },
	{ "entity A \xff;", false, MANDATE_EPARSE, 9, "UTF-8", 1 },
	{ "entity A { a: Long } $", false, MANDATE_EPARSE, 21,
	    "unexpected `$`", 1 },
	{ "action a in [N::\"x\"", false, MANDATE_EPARSE, 19,
	    "end of input", 1 },
	{ "action a in [N::B];", false, MANDATE_EPARSE, 17,
	    "expected `::` and the action's id", 1 },
	/* JSON */
	{ "{\"\": {\"entityTypes\": {}, \"actions\": {}", true,
	    MANDATE_EPARSE, 37, "invalid JSON", 1 },
	{ "{\"\": {\"entityTypes\": {}}}", true, MANDATE_EPARSE, -1,
	    "missing field `actions`", 1 },
	{ "{\"\": {\"entityTypes\": {}, \"actions\": {}}, \"\": {}}", true,
	    MANDATE_EPARSE, 43, "duplicate", 1 },
	{ "{\"\": {\"entityTypes\": {\"A\": {\"shape\": {\"type\": \"Long\"}}}, "
	  "\"actions\": {}}}", true, MANDATE_EPARSE, -1,
	    "shape of `A` must be a record type (at /\"\"/entityTypes/A/shape)",
	    1 },
	{ "{\"\": {\"entityTypes\": {\"A\": {\"shape\": {\"type\": \"Record\", "
	  "\"attributes\": {\"x\": {\"type\": \"Set\"}}}}}, \"actions\": {}}}",
	    true, MANDATE_EPARSE, -1, "missing field `element`", 1 },
	{ "{\"\": {\"entityTypes\": {\"A\": {\"memberOfTypes\": [\"B\"]}}, "
	  "\"actions\": {}}}", true, MANDATE_EPARSE, -1,
	    "undeclared entity type `B` (at /\"\"/entityTypes/A/memberOfTypes/0)",
	    1 },
	{ "{\"\": {\"entityTypes\": {}, \"actions\": {\"a\": {\"attributes\": "
	  "{}}}}}", true, MANDATE_EPARSE, -1, "not supported", 1 },
	{ "{\"\": {\"entityTypes\": {}, \"actions\": {\"a\": {\"appliesTo\": "
	  "{\"principalTypes\": []}}}}}", true, MANDATE_EPARSE, -1,
	    "missing field `resourceTypes`", 1 },
	{ "{\"\": {\"entityTypes\": {\"A\": {\"shape\": {\"type\": \"Record\", "
	  "\"attributes\": {}, \"x\": 1}}}, \"actions\": {}}}", true,
	    MANDATE_EPARSE, -1, "unknown field `x`", 1 },
	{ "{\"\": {\"entityTypes\": {\"A\": {\"shape\": {\"type\": \"Record\", "
	  "\"attributes\": {\"e\": {\"type\": \"Extension\", \"name\": "
	  "\"ip\"}}}}}, \"actions\": {}}}", true, MANDATE_EPARSE, -1,
	    "unknown extension type `ip`", 1 },
	{ "{\"\": {\"entityTypes\": {\"A\": {\"enum\": [\"a\"], \"shape\": "
	  "{\"type\": \"Record\", \"attributes\": {}}}}, \"actions\": {}}}", true,
	    MANDATE_EPARSE, -1, "enumerated", 1 },
	{ "{\"N\": {\"commonTypes\": {\"Record\": {\"type\": \"Long\"}}, "
	  "\"entityTypes\": {\"A B\": {}}, \"actions\": {}}}", true,
	    MANDATE_EPARSE, -1, "", 2 },
	{ "[]", true, MANDATE_EPARSE, -1, "JSON object of namespaces", 1 },
	/* open records: refused (the reference too, unless enabled) */
	{ "{\"\": {\"entityTypes\": {\"A\": {\"shape\": {\"type\": \"Record\", "
	  "\"attributes\": {}, \"additionalAttributes\": true}}}, "
	  "\"actions\": {}}}", true, MANDATE_EPARSE, -1, "open records", 1 },
};

static void
test_bad_schemas(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(bad_cases) / sizeof(*bad_cases); i++) {
		const struct bad_case *c = &bad_cases[i];
		struct diag_list dl;
		int st;
		struct cedar_schema *s = parse(c->src, c->json, &dl, &st);

		if (st != c->status || s != NULL || dl.n < c->min_diags ||
		    strstr(dl.items[0].msg, c->msg) == NULL ||
		    (c->off >= 0 && dl.items[0].off != (size_t)c->off) ||
		    (c->off == -1 && dl.items[0].src != NULL)) {
			print_diags(&dl);
			if (dl.n > 0)
				printf("offset %zu\n", dl.items[0].off);
			fail_msg("bad case %zu (%s): status %d", i, c->src, st);
		}
		cedar_schema_free(s);
	}
}

/* ------------------------------------------------------------------ */
/* The same schema in both syntaxes */

struct pair_case {
	const char *text;
	const char *json;
};

static const struct pair_case pair_cases[] = {
	{ "entity A;", "{\"\": {\"entityTypes\": {\"A\": {}}, \"actions\": {}}}" },
	{ "namespace PhotoApp {\n"
	  "  type Meta = { size: Long, tags?: Set<String> };\n"
	  "  entity User in [Group] { name: String, meta: Meta };\n"
	  "  entity Group;\n"
	  "  entity Photo in [Album] { owner: User, ip: ipaddr } tags String;\n"
	  "  entity Album enum [\"a\", \"b\"];\n"
	  "  action view, edit in [all] appliesTo { principal: [User, Group],"
	  " resource: Photo, context: { at: datetime, m: Meta } };\n"
	  "  action all;\n"
	  "}\n",
	  "{\"PhotoApp\": {\n"
	  " \"commonTypes\": {\"Meta\": {\"type\": \"Record\", \"attributes\": {"
	  "\"size\": {\"type\": \"Long\"}, \"tags\": {\"type\": \"Set\", "
	  "\"element\": {\"type\": \"String\"}, \"required\": false}}}},\n"
	  " \"entityTypes\": {\n"
	  "  \"User\": {\"memberOfTypes\": [\"Group\"], \"shape\": {\"type\": "
	  "\"Record\", \"attributes\": {\"name\": {\"type\": \"String\"}, "
	  "\"meta\": {\"type\": \"Meta\"}}}},\n"
	  "  \"Group\": {},\n"
	  "  \"Photo\": {\"memberOfTypes\": [\"Album\"], \"shape\": {\"type\": "
	  "\"Record\", \"attributes\": {\"owner\": {\"type\": \"Entity\", "
	  "\"name\": \"User\"}, \"ip\": {\"type\": \"Extension\", \"name\": "
	  "\"ipaddr\"}}}, \"tags\": {\"type\": \"String\"}},\n"
	  "  \"Album\": {\"enum\": [\"a\", \"b\"]}},\n"
	  " \"actions\": {\n"
	  "  \"view\": {\"memberOf\": [{\"id\": \"all\"}], \"appliesTo\": {"
	  "\"principalTypes\": [\"User\", \"Group\"], \"resourceTypes\": "
	  "[\"Photo\"], \"context\": {\"type\": \"Record\", \"attributes\": {"
	  "\"at\": {\"type\": \"Extension\", \"name\": \"datetime\"}, \"m\": "
	  "{\"type\": \"EntityOrCommon\", \"name\": \"Meta\"}}}}},\n"
	  "  \"edit\": {\"memberOf\": [{\"id\": \"all\", \"type\": "
	  "\"PhotoApp::Action\"}], \"appliesTo\": {\"principalTypes\": "
	  "[\"User\", \"Group\"], \"resourceTypes\": [\"Photo\"], \"context\": "
	  "{\"type\": \"Record\", \"attributes\": {\"at\": {\"type\": "
	  "\"Extension\", \"name\": \"datetime\"}, \"m\": {\"type\": \"Meta\"}}}}},\n"
	  "  \"all\": {}}}}\n" },
};

static void
test_text_json_same_model(void **state)
{
	(void)state;
	for (size_t i = 0; i < sizeof(pair_cases) / sizeof(*pair_cases); i++) {
		struct diag_list dl;
		struct buf bt, bj;
		int st;
		struct cedar_schema *t, *j;

		t = parse(pair_cases[i].text, false, &dl, &st);
		if (t == NULL) {
			print_diags(&dl);
			fail_msg("pair %zu: text failed", i);
		}
		j = parse(pair_cases[i].json, true, &dl, &st);
		if (j == NULL) {
			print_diags(&dl);
			fail_msg("pair %zu: JSON failed", i);
		}
		bt.n = bj.n = 0;
		bt.p[0] = bj.p[0] = '\0';
		render_schema(&bt, t);
		render_schema(&bj, j);
		assert_string_equal(bt.p, bj.p);
		assert_true(bt.n > 0);
		cedar_schema_free(t);
		cedar_schema_free(j);
	}
}

/* ------------------------------------------------------------------ */
/* Limits and edges */

static void
test_limits_and_edges(void **state)
{
	char *src;
	size_t n = 0, cap = 64 * 1024;
	struct cedar_schema *s = NULL;
	struct diag_list dl;

	(void)state;
	/* type nesting past CEDAR_MAX_NESTING: a limit error, not a crash */
	src = test_malloc(cap);
	n += (size_t)snprintf(src + n, cap - n, "entity A { a: ");
	for (int i = 0; i < 1000; i++)
		n += (size_t)snprintf(src + n, cap - n, "Set<");
	n += (size_t)snprintf(src + n, cap - n, "Long");
	for (int i = 0; i < 1000; i++)
		n += (size_t)snprintf(src + n, cap - n, ">");
	n += (size_t)snprintf(src + n, cap - n, " };");
	diag_init(&dl);
	assert_int_equal(cedar_schema_parse_text(src, n, NULL, &s, &dl),
	    MANDATE_ELIMIT);
	assert_null(s);

	/* the same through common types */
	n = 0;
	for (int i = 0; i < 300; i++)
		n += (size_t)snprintf(src + n, cap - n,
		    "type T%d = Set<T%d>;", i, i + 1);
	n += (size_t)snprintf(src + n, cap - n, "type T300 = Long;");
	diag_init(&dl);
	assert_int_equal(cedar_schema_parse_text(src, n, NULL, &s, &dl),
	    MANDATE_ELIMIT);
	assert_null(s);

	/* deep JSON */
	n = 0;
	n += (size_t)snprintf(src + n, cap - n, "{\"\": {\"entityTypes\": "
	    "{\"A\": {\"tags\": ");
	for (int i = 0; i < 500; i++)
		n += (size_t)snprintf(src + n, cap - n,
		    "{\"type\": \"Set\", \"element\": ");
	n += (size_t)snprintf(src + n, cap - n, "{\"type\": \"Long\"}");
	for (int i = 0; i < 500; i++)
		n += (size_t)snprintf(src + n, cap - n, "}");
	n += (size_t)snprintf(src + n, cap - n, "}}, \"actions\": {}}}");
	diag_init(&dl);
	assert_int_equal(cedar_schema_parse_json(src, n, NULL, &s, &dl),
	    MANDATE_ELIMIT);
	assert_null(s);
	test_free(src);

	/* empty input is an empty schema */
	diag_init(&dl);
	assert_int_equal(cedar_schema_parse_text("", 0, NULL, &s, &dl),
	    MANDATE_OK);
	assert_non_null(s);
	assert_int_equal(s->n_entity_types, 0);
	assert_null(cedar_schema_entity_type(s, STR_LIT("A")));
	cedar_schema_free(s);
	cedar_schema_free(NULL);
	assert_int_equal(cedar_schema_parse_text(NULL, 3, NULL, &s, &dl),
	    MANDATE_EINVAL);
	/* many errors: the list fills, the rest are counted */
	{
		char many[4000];
		size_t m = 0;
		for (int i = 0; i < 60; i++)
			m += (size_t)snprintf(many + m, sizeof(many) - m,
			    "entity A%d in [X];\n", i);
		diag_init(&dl);
		assert_int_equal(cedar_schema_parse_text(many, m, NULL, &s,
		    &dl), MANDATE_EPARSE);
		assert_int_equal(dl.n, DIAG_MAX);
		assert_true(dl.dropped > 0);
	}
	/* no diag list at all */
	assert_int_equal(cedar_schema_parse_text("entity", 6, NULL, &s, NULL),
	    MANDATE_EPARSE);
	assert_int_equal(cedar_schema_parse_json("{", 1, NULL, &s, NULL),
	    MANDATE_EPARSE);
}

/* ------------------------------------------------------------------ */
/* Allocation failures: every one ends in MANDATE_ENOMEM, nothing leaks,
 * and past the last allocation the schema builds. */

static void
fault_loop(const char *src, bool json, int which)
{
	bool done = false;

	for (long i = 1; i < 100000 && !done; i++) {
		struct schema_fault f = { 0, 0, 0 };
		struct cedar_schema *s = NULL;
		struct diag_list dl;
		int r;

		if (which == 0)
			f.parse = i;
		else if (which == 1)
			f.build_tmp = i;
		else
			f.build_out = i;
		diag_init(&dl);
		r = json ? schema_parse_json_fault(src, strlen(src), &f, &s, &dl)
		    : schema_parse_text_fault(src, strlen(src), &f, &s, &dl);
		if (r == MANDATE_OK) {
			assert_non_null(s);
			done = true;
		} else {
			if (r != MANDATE_ENOMEM) {
				print_diags(&dl);
				fail_msg("%s arena %d, allocation %ld: status %d",
				    json ? "JSON" : "text", which, i, r);
			}
			assert_null(s);
		}
		cedar_schema_free(s);
	}
	assert_true(done);
}

static void
test_allocation_failures(void **state)
{
	(void)state;
	for (int which = 0; which < 3; which++) {
		fault_loop(pair_cases[1].text, false, which);
		fault_loop(pair_cases[1].json, true, which);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_good_schemas),
		cmocka_unit_test(test_bad_schemas),
		cmocka_unit_test(test_text_json_same_model),
		cmocka_unit_test(test_limits_and_edges),
		cmocka_unit_test(test_allocation_failures),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}

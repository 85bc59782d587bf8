/*
 * fuzz_entities.c - entity, value and request JSON, with and without a
 * small fixed schema.  The first byte picks the parser: 0 entities
 * without schema, 1 entities with the schema, 2 a request with the schema
 * (validated), 3 a value without a type; the rest is the JSON text.
 */
#include <stdint.h>
#include <string.h>

#include "cedar/cedar_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define S(x) { (x), sizeof(x) - 1 }

static const struct cedar_type t_long = { .kind = CT_LONG };
static const struct cedar_type t_ip = { .kind = CT_EXT, .ext = CEXT_IPADDR };
static const struct cedar_type t_user = { .kind = CT_ENTITY,
    .name = S("User") };
static const struct cedar_type t_set_user = { .kind = CT_SET,
    .elem = &t_user };
static const struct cedar_attr_type user_attrs[] = {
	{ S("age"), &t_long, true },
	{ S("friends"), &t_set_user, false },
	{ S("ip"), &t_ip, false },
};
static const struct cedar_type user_shape = { .kind = CT_RECORD,
    .attrs = user_attrs, .n_attrs = 3 };
static const struct cedar_type empty_shape = { .kind = CT_RECORD };
static const struct str user_member_of[] = { S("Group") };
static const struct str group_member_of[] = { S("Group") };
static const struct str color_ids[] = { S("red"), S("blue") };
static const struct cedar_attr_type ctx_attrs[] = {
	{ S("ip"), &t_ip, true },
};
static const struct cedar_type view_ctx = { .kind = CT_RECORD,
    .attrs = ctx_attrs, .n_attrs = 1 };
static const struct cedar_uid view_groups[] = { { S("Action"), S("read") } };
static const struct str user_types[] = { S("User") };
static const struct str group_types[] = { S("Group") };
static const struct cedar_entity_type types[] = {
	{ .name = S("Color"), .shape = &empty_shape, .enum_ids = color_ids,
	  .n_enum_ids = 2 },
	{ .name = S("Group"), .shape = &empty_shape,
	  .member_of = group_member_of, .n_member_of = 1 },
	{ .name = S("User"), .shape = &user_shape, .tags = &t_long,
	  .member_of = user_member_of, .n_member_of = 1 },
};
static const struct cedar_action_decl actions[] = {
	{ .uid = { S("Action"), S("read") }, .context = &empty_shape },
	{ .uid = { S("Action"), S("view") }, .member_of = view_groups,
	  .n_member_of = 1, .has_applies_to = true,
	  .principal_types = user_types, .n_principal_types = 1,
	  .resource_types = group_types, .n_resource_types = 1,
	  .context = &view_ctx },
};

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct cedar_schema schema;
	struct cedar_entity_type tys[sizeof(types) / sizeof(types[0])];
	struct cedar_action_decl acts[sizeof(actions) / sizeof(actions[0])];
	struct cedar_entities *es = NULL;
	struct cedar_request *req = NULL;
	struct cedar_value v;
	struct diag_list dl;
	struct arena a;
	const char *src;
	uint8_t mode;

	if (size < 1)
		return 0;
	mode = data[0] & 3;
	src = (const char *)data + 1;
	size--;
	memset(&schema, 0, sizeof(schema));
	memcpy(tys, types, sizeof(types));
	memcpy(acts, actions, sizeof(actions));
	schema.entity_types = tys;
	schema.n_entity_types = sizeof(tys) / sizeof(tys[0]);
	schema.actions = acts;
	schema.n_actions = sizeof(acts) / sizeof(acts[0]);
	diag_init(&dl);
	arena_init(&a, 64u << 20);
	switch (mode) {
	case 0:
	case 1:
		if (cedar_entities_parse_json(src, size, "fuzz", mode ? &schema :
		    NULL, &es, &dl) == MANDATE_OK) {
			for (size_t i = 0; i < es->n_entities; i++) {
				const struct cedar_entity *e = &es->entities[i];

				const struct cedar_entity *f =
				    cedar_entities_find(es, &e->uid);

				/* a repeated identical entry finds the first */
				if (f == NULL || !cedar_uid_eq(&f->uid, &e->uid))
					__builtin_trap();
				for (size_t k = 0; k < e->n_ancestors; k++)
					if (!cedar_entities_in(es, &e->uid,
					    &e->ancestors[k]))
						__builtin_trap();
			}
			cedar_entities_free(es);
		}
		break;
	case 2:
		(void)cedar_request_parse_json(&a, src, size, &schema, true,
		    &req, &dl);
		break;
	default:
		(void)cedar_value_parse_json(&a, src, size, NULL, &v, &dl);
		break;
	}
	arena_free(&a);
	return 0;
}

/*
 * fuzz_eval.c - parse an expression and evaluate it against a fixed
 * request and an empty entity store.  Any input must end in a value or
 * an error (never a crash, a hang or unbounded memory): the step limit
 * and the arena limit bound the work.
 */
#include <stdint.h>
#include <string.h>

#include "cedar/cedar_int.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena a;
	struct cedar_expr *e = NULL;
	struct cedar_request req;
	struct cedar_eval_ctx ctx;
	struct cedar_value v;
	struct diag_list dl;
	char buf[256];

	arena_init(&a, 64u << 20);
	diag_init(&dl);
	memset(&req, 0, sizeof(req));
	req.principal.type = STR_LIT("User");
	req.principal.id = STR_LIT("alice");
	req.action.type = STR_LIT("Action");
	req.action.id = STR_LIT("view");
	req.resource.type = STR_LIT("Photo");
	req.resource.id = STR_LIT("p");
	req.context.kind = CV_RECORD;
	if (cedar_parse_expr(&a, (const char *)data, size, &e, &dl) ==
	    MANDATE_OK) {
		memset(&ctx, 0, sizeof(ctx));
		ctx.arena = &a;
		ctx.req = &req;
		ctx.max_steps = 100000;
		if (cedar_eval(&ctx, e, &v) == MANDATE_OK)
			(void)cedar_value_to_json(&v, buf, sizeof(buf));
	}
	arena_free(&a);
	return 0;
}

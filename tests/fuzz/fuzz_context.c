/*
 * fuzz_context.c - an evaluation's context reaches Cedar as a tree
 * (daemon_context_tree, cedar_request_build_tree) exactly as it would
 * through its text (json_dumps, cedar_request_build): differential.
 *
 * The input is parsed by jansson as the daemon parses a request's
 * context.  When the tree can be made and Cedar takes it, the text path
 * must take the dump too and give an equal context; when the text path
 * takes the dump, the tree path (if a tree was made) must too.
 *
 * The other way too (daemon_context_jansson): the input parsed by
 * util/json.c, as the daemon parses a request, and its tree made into
 * jansson must print as json_loadb's value of the same text prints;
 * when json_loadb refuses the text, no value may be made.
 *
 * Anything else aborts.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "cedar/cedar_int.h"
#include "daemon/context_tree.h"
#include "util/json.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* util/json.c's tree as jansson against json_loadb of the text */
static void
to_jansson_diff(const uint8_t *data, size_t size)
{
	const struct ajson_opts opts = { 0, 64, 0, "fuzz" };
	const struct ajson *root;
	struct arena a;
	json_t *got = NULL, *want;
	char *gs, *ws;

	arena_init(&a, 64u << 20);
	if (ajson_parse(&a, (const char *)data, size, &opts, &root, NULL) !=
	    MANDATE_OK || !daemon_context_jansson(root, &got)) {
		json_decref(got);
		arena_free(&a);
		return;
	}
	if ((want = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		abort();              /* made what json_loadb refuses */
	gs = json_dumps(got, JSON_COMPACT | JSON_ENCODE_ANY);
	ws = json_dumps(want, JSON_COMPACT | JSON_ENCODE_ANY);
	if (gs != NULL && ws != NULL && strcmp(gs, ws) != 0)
		abort();
	free(gs);
	free(ws);
	json_decref(got);
	json_decref(want);
	arena_free(&a);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static const char *const p = "User::\"a\"", *const act =
	    "Action::\"read\"", *const res = "Doc::\"d\"";
	struct cedar_request *rt = NULL, *rx = NULL;
	struct diag_list dl;
	struct ajson tree;
	struct arena a;
	json_t *j;
	char *text;
	bool made;
	int r_text, r_tree;

	to_jansson_diff(data, size);
	if ((j = json_loadb((const char *)data, size, 0, NULL)) == NULL)
		return 0;
	if (!json_is_object(j) || (text = json_dumps(j, JSON_COMPACT)) ==
	    NULL) {
		json_decref(j);
		return 0;
	}
	arena_init(&a, 64u << 20);
	diag_init(&dl);
	made = daemon_context_tree(&a, j, &tree);
	r_text = cedar_request_build(&a, p, act, res, text, NULL, false, &rx,
	    &dl);
	if (made) {
		r_tree = cedar_request_build_tree(&a, p, act, res, &tree, NULL,
		    false, &rt, &dl);
		if (r_tree == MANDATE_OK && (r_text != MANDATE_OK ||
		    !cedar_value_eq(&rt->context, &rx->context)))
			abort();
		if (r_text == MANDATE_OK && r_tree != MANDATE_OK &&
		    r_tree != MANDATE_ENOMEM)
			abort();
	}
	arena_free(&a);
	free(text);
	json_decref(j);
	return 0;
}

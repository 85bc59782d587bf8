/*
 * context_tree.h - an evaluation's context for Cedar without a text round
 * trip: the jansson object as a util/json.h tree for
 * cedar_request_build_tree() (dumping it with json_dumps for Cedar to
 * parse again cost about 1.5 us an evaluation).
 */
#ifndef MANDATE_CONTEXT_TREE_H
#define MANDATE_CONTEXT_TREE_H

#include <stdbool.h>

#include <jansson.h>

#include "util/arena.h"
#include "util/json.h"

/* ctx (an object) as a tree in a: true, or false when it holds
 * something only the text path may judge (a real number, text that is
 * not UTF-8, nesting past 64 or more than 8 MiB of text) or memory runs
 * out; the caller then dumps ctx and builds from the text, which gives
 * the answer and the message it always gave.  jansson has removed
 * duplicate keys and keeps members in order, so the tree is the one the
 * dump would parse to.  Strings and keys point into ctx, which must
 * outlive the tree. */
bool daemon_context_tree(struct arena *a, json_t *ctx, struct ajson *out);

#endif

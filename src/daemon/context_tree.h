/*
 * context_tree.h - an evaluation's context without text round trips: the
 * request's parsed tree as the jansson object the daemon works on
 * (parsing its text again with json_loadb cost about 12 us for a
 * context holding a task token), and that object as a util/json.h tree
 * for cedar_request_build_tree() (dumping it with json_dumps for Cedar
 * to parse again cost about 1.5 us an evaluation).
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

/* j (a value of the request parsed by util/json.c) as the jansson value
 * json_loadb(text, 0) gives for its text: true with *out set (a new
 * reference), or false, with *out NULL, when j holds something on which
 * only json_loadb may rule (a real number, an integer past 64 bits, a
 * NUL in a string or key, a duplicate key, a top level that is not an
 * array or an object, nesting past 512) or memory runs out; the caller
 * then parses the text, which gives the value or the message it always
 * gave. */
bool daemon_context_jansson(const struct ajson *j, json_t **out);

#endif

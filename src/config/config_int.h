/*
 * config_int.h - test hooks of the configuration parser.
 */
#ifndef MANDATE_CONFIG_INT_H
#define MANDATE_CONFIG_INT_H

#include "config.h"

/* config_parse() with the arena's allocation-failure injection armed:
 * the fail_after-th allocation fails (0: never).  For tests only. */
int config_parse_fail_after(const char *file, const char *src, size_t len,
    struct config **out, struct diag_list *dl, long fail_after);

#endif

/*
 * fuzz_config.c - the YAML configuration parser on arbitrary bytes.
 * Every input either loads or fails with at least one diagnostic whose
 * span lies inside the input.  A configuration that loads is printed,
 * and the printed form must load back and print the same text.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "util/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static char *
print_to_string(const struct config *cfg)
{
	char *buf = NULL;
	size_t n = 0;
	FILE *fp = open_memstream(&buf, &n);

	if (fp == NULL)
		return NULL;
	config_print(cfg, fp, false);
	fclose(fp);
	return buf;
}

static void
round_trip(const struct config *cfg)
{
	struct diag_list dl;
	struct config *again = NULL;
	char *first = print_to_string(cfg), *second;

	if (first == NULL)
		return;
	diag_init(&dl);
	if (config_parse("fuzz.yaml", first, strlen(first), &again, &dl) !=
	    MANDATE_OK) {
		diag_print(&dl, stderr);
		fputs(first, stderr);
		abort();
	}
	second = print_to_string(again);
	if (second != NULL && strcmp(first, second) != 0)
		abort();
	free(first);
	free(second);
	config_free(again);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct diag_list dl;
	struct config *cfg = NULL;
	int r;

	diag_init(&dl);
	r = config_parse("fuzz.yaml", (const char *)data, size, &cfg, &dl);
	if (r == MANDATE_OK) {
		if (cfg == NULL || cfg->server.listen_host == NULL ||
		    cfg->store.driver > CONFIG_STORE_POSTGRES)
			abort();
		round_trip(cfg);
		config_free(cfg);
		return 0;
	}
	if (cfg != NULL || dl.n + dl.dropped == 0)
		abort();
	for (size_t i = 0; i < dl.n; i++)
		if (dl.items[i].off > size ||
		    dl.items[i].len > size - dl.items[i].off)
			abort();
	return 0;
}

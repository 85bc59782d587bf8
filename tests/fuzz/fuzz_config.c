/*
 * fuzz_config.c - the YAML configuration parser on arbitrary bytes.
 * Every input either loads (and is freed) or fails with at least one
 * diagnostic whose span lies inside the input.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "config/config.h"
#include "util/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

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

/*
 * fuzz_form.c - the form-urlencoded parser and the request path decoder.
 *
 * The input goes through http_form_parse() and http_path_split() with
 * small limits; a result that violates the decoders' promises (a NUL in a
 * decoded value, an encoded '/' surviving in a segment) aborts, which is
 * what a fuzzer reports.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "server/http.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena a;
	struct http_form form;
	struct str segs[HTTP_MAX_SEGMENTS];
	size_t n_segs = 0;
	const char *p = (const char *)data;

	arena_init(&a, 1u << 22);
	if (http_form_parse(&a, p, size, 32, 256, &form) == 0) {
		for (size_t i = 0; i < form.n_pairs; i++) {
			if (memchr(form.pairs[i].name.p, 0,
			    form.pairs[i].name.n) != NULL ||
			    memchr(form.pairs[i].value.p, 0,
			    form.pairs[i].value.n) != NULL ||
			    form.pairs[i].value.p[form.pairs[i].value.n] != 0)
				abort();
		}
		if (form.n_pairs > 32)
			abort();
	}
	if (http_path_split(&a, p, size, segs, HTTP_MAX_SEGMENTS,
	    &n_segs) == 0) {
		for (size_t i = 0; i < n_segs; i++)
			if (memchr(segs[i].p, '/', segs[i].n) != NULL ||
			    memchr(segs[i].p, 0, segs[i].n) != NULL)
				abort();
	}
	arena_free(&a);
	return 0;
}

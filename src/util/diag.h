/*
 * diag.h - parser and validator diagnostics that never allocate.
 *
 * A diagnostic names a file (borrowed C string, may be NULL), a byte
 * offset and length into the source text, and a message copied into a
 * fixed buffer.  Line and column are computed on demand from the source,
 * so recording a diagnostic is cheap and cannot fail.  A list holds up to
 * DIAG_MAX entries; later ones are counted in .dropped.
 */
#ifndef MANDATE_DIAG_H
#define MANDATE_DIAG_H

#include <stddef.h>
#include <stdio.h>

#define DIAG_MAX 32
#define DIAG_MSG_MAX 200

struct diag {
	int code;              /* enum mandate_status */
	const char *file;      /* borrowed; NULL if the input is not a file */
	const char *src;       /* borrowed source text, for line/column */
	size_t src_len;
	size_t off, len;       /* byte span of the offending text */
	char msg[DIAG_MSG_MAX];
};

struct diag_list {
	struct diag items[DIAG_MAX];
	size_t n;
	size_t dropped;
};

void diag_init(struct diag_list *dl);

/* Record a diagnostic; printf-style message (truncated to fit). */
void diag_add(struct diag_list *dl, int code, const char *file,
    const char *src, size_t src_len, size_t off, size_t len,
    const char *fmt, ...) __attribute__((format(printf, 8, 9)));

/* 1-based line and column (in bytes) of d->off. */
void diag_linecol(const struct diag *d, size_t *line, size_t *col);

/* "file:line:col: message" per diagnostic, one per line. */
void diag_print(const struct diag_list *dl, FILE *fp);

#endif

/* diag.c - fixed-size diagnostic lists. */
#include "diag.h"

#include <stdarg.h>
#include <string.h>

void
diag_init(struct diag_list *dl)
{
	dl->n = 0;
	dl->dropped = 0;
}

void
diag_add(struct diag_list *dl, int code, const char *file, const char *src,
    size_t src_len, size_t off, size_t len, const char *fmt, ...)
{
	struct diag *d;
	va_list ap;
	int n;

	if (dl == NULL)
		return;
	if (dl->n >= DIAG_MAX) {
		dl->dropped++;
		return;
	}
	d = &dl->items[dl->n++];
	d->code = code;
	d->file = file;
	d->src = src;
	d->src_len = src_len;
	d->off = off;
	d->len = len;
	va_start(ap, fmt);
	n = vsnprintf(d->msg, sizeof(d->msg), fmt, ap);
	va_end(ap);
	if (n >= (int)sizeof(d->msg)) {
		/* cut, and say so: at a UTF-8 character's start */
		size_t k = sizeof(d->msg) - 4;

		while (k > 0 && ((unsigned char)d->msg[k] & 0xc0) == 0x80)
			k--;
		memcpy(d->msg + k, "...", 4);
	}
}

void
diag_linecol(const struct diag *d, size_t *line, size_t *col)
{
	size_t l = 1, c = 1, end = d->off;

	if (d->src == NULL) {
		*line = 0;
		*col = 0;
		return;
	}
	if (end > d->src_len)
		end = d->src_len;
	for (size_t i = 0; i < end; i++) {
		if (d->src[i] == '\n') {
			l++;
			c = 1;
		} else {
			c++;
		}
	}
	*line = l;
	*col = c;
}

void
diag_print(const struct diag_list *dl, FILE *fp)
{
	for (size_t i = 0; i < dl->n; i++) {
		const struct diag *d = &dl->items[i];
		size_t line, col;

		diag_linecol(d, &line, &col);
		if (d->src != NULL)
			fprintf(fp, "%s:%zu:%zu: error: %s\n",
			    d->file ? d->file : "<input>", line, col, d->msg);
		else
			fprintf(fp, "%s: error: %s\n",
			    d->file ? d->file : "<input>", d->msg);
	}
	if (dl->dropped > 0)
		fprintf(fp, "(%zu more errors not shown)\n", dl->dropped);
}

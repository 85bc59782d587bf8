/*
 * file.h - read a whole file into memory, with a size limit.
 */
#ifndef MANDATE_FILE_H
#define MANDATE_FILE_H

#include <stddef.h>

/* Read `path` ("-" for standard input) into a malloc'd, NUL-terminated
 * buffer.  MANDATE_OK with *out and *out_len set (caller frees *out), or
 * MANDATE_EIO (cannot open/read) or MANDATE_ELIMIT (larger than max);
 * *out is NULL on error and errno says why for MANDATE_EIO. */
int file_read_all(const char *path, size_t max, char **out, size_t *out_len);

#endif

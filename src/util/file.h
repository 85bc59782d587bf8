/*
 * file.h - read a whole file into memory, with a size limit (a private
 * key only if others cannot read it); write one durably.
 */
#ifndef MANDATE_FILE_H
#define MANDATE_FILE_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

/* Read `path` ("-" for standard input) into a malloc'd, NUL-terminated
 * buffer.  MANDATE_OK with *out and *out_len set (caller frees *out), or
 * MANDATE_EIO (cannot open/read) or MANDATE_ELIMIT (larger than max);
 * *out is NULL on error and errno says why for MANDATE_EIO. */
int file_read_all(const char *path, size_t max, char **out, size_t *out_len);

/* Read `path` like file_read_all(), but only a regular file (a symlink
 * is followed): a named pipe, socket or device is MANDATE_EINVAL without
 * waiting (opening a FIFO would block until a writer came), a directory
 * MANDATE_EIO with errno EISDIR. */
int file_read_regular(const char *path, size_t max, char **out,
    size_t *out_len);

/* Read a private key file like file_read_all(), but only a regular file
 * that group and others may neither read nor write (mode 0600 or 0400):
 * such a key is refused, not warned about.  With follow, a symlink is
 * followed (certbot's live/ and Kubernetes secret volumes are symlinks;
 * the mode checked is that of the file it names); without it, a symlink
 * is refused (MANDATE_EIO, errno ELOOP), for the keys the daemon writes
 * itself.  *mode (may be NULL) gets its st_mode once it is open.
 * MANDATE_EINVAL when it is not a regular file or group or others have
 * access (*mode says which), MANDATE_EIO with errno when it cannot be
 * opened or read (ENOENT, EISDIR for a directory), MANDATE_ELIMIT past
 * max.  The caller wipes and frees *out. */
int file_read_secret(const char *path, size_t max, bool follow,
    char **out, size_t *out_len, mode_t *mode);

/* Write data[0..len) to path (never through or over a symlink), durably:
 * written whole to "<path>.tmp", fsynced, then named path in one step
 * and the directory fsynced, so that a crash leaves at path either
 * nothing (or the old file) or all of data.  excl: create a new file with
 * `mode` (fails if path exists; nothing is left on a failure), for keys
 * and other secrets; otherwise create or replace.  "<path>.tmp" is the
 * writer's own: one left by a crash is removed.  MANDATE_OK or
 * MANDATE_EIO (errno says why). */
int file_write(const char *path, const void *data, size_t len, bool excl,
    mode_t mode);

/* Make the directory path is in, one level, mode 0700, when it is
 * missing.  MANDATE_OK when it is (or now is) a directory; MANDATE_EIO
 * when it cannot be made or is something else; MANDATE_ELIMIT when the
 * path is too long. */
int file_make_parent(const char *path);

#endif

/* file.c - whole-file reads with a size limit (private keys only when
 * others cannot read them), durable writes. */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "status.h"

int
file_read_all(const char *path, size_t max, char **out, size_t *out_len)
{
	int r = MANDATE_EIO;
	FILE *fp = NULL;
	char *buf = NULL, *nbuf;
	size_t len = 0, cap = 0, got;

	*out = NULL;
	*out_len = 0;
	if (strcmp(path, "-") == 0)
		fp = stdin;
	else if ((fp = fopen(path, "rb")) == NULL)
		goto out;
	for (;;) {
		if (cap - len < 4096 + 1) {
			size_t ncap = cap ? cap * 2 : 65536;
			if (ncap > max + 4096 + 1)
				ncap = max + 4096 + 1;
			if (ncap <= cap) {
				r = MANDATE_ELIMIT;
				goto out;
			}
			if ((nbuf = realloc(buf, ncap)) == NULL) {
				r = MANDATE_ENOMEM;
				goto out;
			}
			buf = nbuf;
			cap = ncap;
		}
		got = fread(buf + len, 1, cap - len - 1, fp);
		len += got;
		if (len > max) {
			r = MANDATE_ELIMIT;
			goto out;
		}
		if (got == 0) {
			if (ferror(fp))
				goto out;
			break;
		}
	}
	if (buf == NULL && (buf = malloc(1)) == NULL) {
		r = MANDATE_ENOMEM;
		goto out;
	}
	buf[len] = '\0';
	*out = buf;
	*out_len = len;
	buf = NULL;
	r = MANDATE_OK;
out:
	if (fp != NULL && fp != stdin) {
		int saved = errno;
		fclose(fp);
		errno = saved;
	}
	free(buf);
	return r;
}

int
file_read_secret(const char *path, size_t max, bool follow, char **out,
    size_t *out_len, mode_t *mode)
{
	int r = MANDATE_EIO, fd, saved;
	struct stat st;
	char *buf = NULL;
	size_t got = 0;

	*out = NULL;
	*out_len = 0;
	if (mode != NULL)
		*mode = 0;
	/* O_NONBLOCK: a FIFO put there must not hang the start */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK |
	    (follow ? 0 : O_NOFOLLOW))) < 0)
		return MANDATE_EIO;
	if (fstat(fd, &st) != 0)
		goto out;
	if (mode != NULL)
		*mode = st.st_mode;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto out;
	}
	if (!S_ISREG(st.st_mode) || (st.st_mode & 077) != 0) {
		r = MANDATE_EINVAL;
		goto out;
	}
	if ((size_t)st.st_size > max) {
		r = MANDATE_ELIMIT;
		goto out;
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		r = MANDATE_ENOMEM;
		goto out;
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			goto out;
		if (n == 0)
			break;          /* shrank under us: what is there */
		got += (size_t)n;
	}
	buf[got] = '\0';
	*out = buf;
	*out_len = got;
	buf = NULL;
	r = MANDATE_OK;
out:
	saved = errno;
	if (buf != NULL) {
		OPENSSL_cleanse(buf, (size_t)st.st_size + 1);
		free(buf);
	}
	close(fd);
	errno = saved;
	return r;
}

int
file_write(const char *path, const void *data, size_t len, bool excl,
    mode_t mode)
{
	const char *p = data;
	int fd, r = MANDATE_EIO, saved;
	size_t done = 0;

	fd = open(path, O_WRONLY | O_CREAT | O_NOFOLLOW | O_CLOEXEC |
	    (excl ? O_EXCL : O_TRUNC), mode);
	if (fd < 0)
		return MANDATE_EIO;
	while (done < len) {
		ssize_t n = write(fd, p + done, len - done);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			goto out;
		done += (size_t)n;
	}
	if (fsync(fd) != 0)
		goto out;
	r = MANDATE_OK;
out:
	saved = errno;
	close(fd);
	if (r != MANDATE_OK && excl)
		unlink(path);
	errno = saved;
	return r;
}

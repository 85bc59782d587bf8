/* file.c - whole-file reads with a size limit (private keys only when
 * others cannot read them), durable writes. */
#include "file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <openssl/crypto.h>

#include "status.h"

/* Read fp to its end into a malloc'd, NUL-terminated buffer (at most
 * max bytes).  Statuses as file_read_all(). */
static int
read_stream(FILE *fp, size_t max, char **out, size_t *out_len)
{
	int r = MANDATE_EIO;
	char *buf = NULL, *nbuf;
	size_t len = 0, cap = 0, got;

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
	free(buf);
	return r;
}

int
file_read_all(const char *path, size_t max, char **out, size_t *out_len)
{
	int r, saved;
	FILE *fp;

	*out = NULL;
	*out_len = 0;
	if (strcmp(path, "-") == 0)
		return read_stream(stdin, max, out, out_len);
	if ((fp = fopen(path, "rb")) == NULL)
		return MANDATE_EIO;
	r = read_stream(fp, max, out, out_len);
	saved = errno;
	fclose(fp);
	errno = saved;
	return r;
}

int
file_read_regular(const char *path, size_t max, char **out, size_t *out_len)
{
	int r = MANDATE_EIO, fd, saved;
	struct stat st;
	FILE *fp;

	*out = NULL;
	*out_len = 0;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) < 0)
		return MANDATE_EIO;
	if (fstat(fd, &st) != 0)
		goto out;
	if (S_ISDIR(st.st_mode)) {
		errno = EISDIR;
		goto out;
	}
	if (!S_ISREG(st.st_mode)) {
		r = MANDATE_EINVAL;
		goto out;
	}
	if ((fp = fdopen(fd, "rb")) == NULL)
		goto out;
	r = read_stream(fp, max, out, out_len);
	saved = errno;
	fclose(fp);         /* and fd */
	errno = saved;
	return r;
out:
	saved = errno;
	close(fd);
	errno = saved;
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

/* fsync the directory holding path, so that a name just made there is
 * durable too. */
static int
sync_parent(const char *path)
{
	char dir[PATH_MAX];
	const char *slash = strrchr(path, '/');
	size_t n = 1;                /* "." or "/" */
	int fd, r;

	if (slash != NULL && slash != path)
		n = (size_t)(slash - path);

	if (n >= sizeof(dir)) {
		errno = ENAMETOOLONG;
		return MANDATE_EIO;
	}
	memcpy(dir, slash == NULL ? "." : path, n);
	dir[n] = '\0';
	if ((fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0)
		return MANDATE_EIO;
	r = fsync(fd) == 0 ? MANDATE_OK : MANDATE_EIO;
	close(fd);
	return r;
}

/*
 * The bytes go to "<path>.tmp" first, which is fsynced and then given
 * the name path in one step (link() for excl, which fails when path
 * exists; rename() otherwise): a process killed at any moment leaves
 * either no file at path or the whole one, never an empty or partial
 * file (which, for a key made at first start, would stop every later
 * start).  A temporary left by such a kill is removed by the next call.
 */
int
file_write(const char *path, const void *data, size_t len, bool excl,
    mode_t mode)
{
	const char *p = data;
	char tmp[PATH_MAX];
	struct stat st;
	int fd = -1, n, r = MANDATE_EIO, saved;
	size_t done = 0;
	bool named = false;

	n = snprintf(tmp, sizeof(tmp), "%s.tmp", path);
	if (n < 0 || (size_t)n >= sizeof(tmp)) {
		errno = ENAMETOOLONG;
		return MANDATE_EIO;
	}
	/* never through a symlink: nor replace one (rename would) */
	if (!excl && lstat(path, &st) == 0 && S_ISLNK(st.st_mode)) {
		errno = ELOOP;
		return MANDATE_EIO;
	}
	if (unlink(tmp) != 0 && errno != ENOENT)
		return MANDATE_EIO;
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (fd < 0)
		return MANDATE_EIO;
	while (done < len) {
		ssize_t w = write(fd, p + done, len - done);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			goto out;
		done += (size_t)w;
	}
	if (fsync(fd) != 0)
		goto out;
	if (excl ? link(tmp, path) != 0 : rename(tmp, path) != 0)
		goto out;
	named = true;
	if (excl)
		(void)unlink(tmp);
	r = sync_parent(path);
out:
	saved = errno;
	if (fd >= 0)
		close(fd);
	if (!named)
		(void)unlink(tmp);
	else if (r != MANDATE_OK && excl)
		(void)unlink(path);
	errno = saved;
	return r;
}

int
file_make_parent(const char *path)
{
	char dir[4096];
	const char *slash = strrchr(path, '/');
	struct stat st;
	size_t n;

	if (slash == NULL || slash == path)
		return MANDATE_OK;
	n = (size_t)(slash - path);
	if (n >= sizeof(dir))
		return MANDATE_ELIMIT;
	memcpy(dir, path, n);
	dir[n] = '\0';
	if (mkdir(dir, 0700) == 0)
		return MANDATE_OK;
	if (errno != EEXIST || stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
		return MANDATE_EIO;
	return MANDATE_OK;
}

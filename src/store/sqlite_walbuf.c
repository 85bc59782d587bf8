/*
 * sqlite_walbuf.c - a SQLite VFS over the default one that gathers the
 * frame writes of a WAL transaction into one write.
 *
 * SQLite writes each WAL frame as two writes, the 24-byte frame header and
 * then the page, and a group commit of the audit log writes several
 * frames: a dozen pwrite system calls per commit, each of which cost more
 * than the bytes it moved (measured: a fifth of the writer's CPU).  Here
 * writes to a WAL file that continue the previous one are kept in a
 * buffer and written at once when
 *   - the transaction's commit frame is complete (a frame header whose
 *     "database size after commit" field is not zero, then its page): so
 *     every committed transaction is in the file before SQLite publishes
 *     it in the WAL index, whatever the connection's synchronous setting;
 *   - the file is synced, read, truncated, sized, closed, mapped or given
 *     a file control, so SQLite never sees the file without its own
 *     writes;
 *   - a write does not continue the buffer, or the buffer is full.
 * Nothing else changes: the database file, the journal and the shared
 * memory pass straight through, and a WAL write that fails is reported by
 * the call that flushed it (the commit's write or its sync), which makes
 * SQLite fail the commit as it would have.  The WAL's checksums make a
 * torn write as harmless as before: recovery stops at the first frame
 * that does not check.
 */
#include <pthread.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sqlite3.h>

#include "store/sqlite_walbuf.h"

/* A flush happens at the latest when this much is pending.  SQLite's unix
 * VFS writes at most 128 KiB - 1 per call (it masks the length with
 * 0x1ffff and treats what is left over as a full disk), so a flush stays
 * below that: 23 frames of 4 KiB pages. */
#define WALBUF_MAX (96 * 1024)

/* The size of a WAL frame header, and where it keeps the database size
 * after a commit (big-endian; zero for a frame that is not a commit). */
#define FRAME_HDR 24
#define FRAME_HDR_DBSIZE 4

struct wb_file {
	sqlite3_file base;            /* our methods */
	sqlite3_file *real;           /* the default VFS's file, after us */
	bool wal;                     /* buffering (a WAL file) */
	char *buf;
	size_t n, cap;
	sqlite3_int64 start;          /* the file offset of buf[0] */
	bool commit_next;             /* the next write ends a commit frame */
};

static sqlite3_vfs *root_vfs;

/* Write out what is pending: SQLITE_OK, or the write's error (the bytes
 * are dropped either way: SQLite fails the transaction). */
static int
wb_flush(struct wb_file *f)
{
	int rc;

	if (f->n == 0)
		return SQLITE_OK;
	rc = f->real->pMethods->xWrite(f->real, f->buf, (int)f->n, f->start);
	f->n = 0;
	return rc;
}

static int
wb_close(sqlite3_file *pf)
{
	struct wb_file *f = (struct wb_file *)pf;
	int rc = wb_flush(f), rc2;

	rc2 = f->real->pMethods->xClose(f->real);
	free(f->buf);
	f->buf = NULL;
	f->cap = 0;
	return rc != SQLITE_OK ? rc : rc2;
}

static int
wb_read(sqlite3_file *pf, void *out, int amt, sqlite3_int64 off)
{
	struct wb_file *f = (struct wb_file *)pf;
	int rc = wb_flush(f);

	if (rc != SQLITE_OK)
		return rc;
	return f->real->pMethods->xRead(f->real, out, amt, off);
}

/* Append to the buffer; false when it does not fit (write through). */
static bool
wb_append(struct wb_file *f, const void *data, size_t amt,
    sqlite3_int64 off)
{
	if (f->cap == 0) {
		if ((f->buf = malloc(WALBUF_MAX)) == NULL)
			return false;
		f->cap = WALBUF_MAX;
	}
	if (f->n + amt > f->cap)
		return false;
	if (f->n == 0)
		f->start = off;
	memcpy(f->buf + f->n, data, amt);
	f->n += amt;
	return true;
}

static int
wb_write(sqlite3_file *pf, const void *data, int amt, sqlite3_int64 off)
{
	struct wb_file *f = (struct wb_file *)pf;
	bool ends_commit = false;
	int rc;

	if (!f->wal || amt <= 0)
		return f->real->pMethods->xWrite(f->real, data, amt, off);
	if (f->commit_next) {
		ends_commit = true;
		f->commit_next = false;
	} else if (amt == FRAME_HDR) {
		const unsigned char *h = data;

		f->commit_next = (h[FRAME_HDR_DBSIZE] | h[FRAME_HDR_DBSIZE + 1] |
		    h[FRAME_HDR_DBSIZE + 2] | h[FRAME_HDR_DBSIZE + 3]) != 0;
	}
	if (f->n > 0 && (off != f->start + (sqlite3_int64)f->n ||
	    f->n + (size_t)amt > WALBUF_MAX)) {
		if ((rc = wb_flush(f)) != SQLITE_OK) {
			f->commit_next = false;
			return rc;
		}
	}
	if (!wb_append(f, data, (size_t)amt, off)) {
		/* too large to gather: what is pending, then this one */
		if ((rc = wb_flush(f)) != SQLITE_OK)
			return rc;
		return f->real->pMethods->xWrite(f->real, data, amt, off);
	}
	return ends_commit ? wb_flush(f) : SQLITE_OK;
}

static int
wb_truncate(sqlite3_file *pf, sqlite3_int64 size)
{
	struct wb_file *f = (struct wb_file *)pf;
	int rc = wb_flush(f);

	return rc != SQLITE_OK ? rc :
	    f->real->pMethods->xTruncate(f->real, size);
}

static int
wb_sync(sqlite3_file *pf, int flags)
{
	struct wb_file *f = (struct wb_file *)pf;
	int rc = wb_flush(f);

	return rc != SQLITE_OK ? rc : f->real->pMethods->xSync(f->real, flags);
}

static int
wb_file_size(sqlite3_file *pf, sqlite3_int64 *size)
{
	struct wb_file *f = (struct wb_file *)pf;
	int rc = wb_flush(f);

	return rc != SQLITE_OK ? rc :
	    f->real->pMethods->xFileSize(f->real, size);
}

static int
wb_lock(sqlite3_file *pf, int level)
{
	struct wb_file *f = (struct wb_file *)pf;

	return f->real->pMethods->xLock(f->real, level);
}

static int
wb_unlock(sqlite3_file *pf, int level)
{
	struct wb_file *f = (struct wb_file *)pf;

	return f->real->pMethods->xUnlock(f->real, level);
}

static int
wb_check_reserved_lock(sqlite3_file *pf, int *out)
{
	struct wb_file *f = (struct wb_file *)pf;

	return f->real->pMethods->xCheckReservedLock(f->real, out);
}

static int
wb_file_control(sqlite3_file *pf, int op, void *arg)
{
	struct wb_file *f = (struct wb_file *)pf;
	int rc = wb_flush(f);

	return rc != SQLITE_OK ? rc :
	    f->real->pMethods->xFileControl(f->real, op, arg);
}

static int
wb_sector_size(sqlite3_file *pf)
{
	struct wb_file *f = (struct wb_file *)pf;

	return f->real->pMethods->xSectorSize(f->real);
}

static int
wb_device_characteristics(sqlite3_file *pf)
{
	struct wb_file *f = (struct wb_file *)pf;

	return f->real->pMethods->xDeviceCharacteristics(f->real);
}

static int
wb_shm_map(sqlite3_file *pf, int region, int size, int extend,
    void volatile **out)
{
	struct wb_file *f = (struct wb_file *)pf;

	return f->real->pMethods->xShmMap(f->real, region, size, extend, out);
}

static int
wb_shm_lock(sqlite3_file *pf, int offset, int n, int flags)
{
	struct wb_file *f = (struct wb_file *)pf;

	return f->real->pMethods->xShmLock(f->real, offset, n, flags);
}

static void
wb_shm_barrier(sqlite3_file *pf)
{
	struct wb_file *f = (struct wb_file *)pf;

	f->real->pMethods->xShmBarrier(f->real);
}

static int
wb_shm_unmap(sqlite3_file *pf, int delete_flag)
{
	struct wb_file *f = (struct wb_file *)pf;

	return f->real->pMethods->xShmUnmap(f->real, delete_flag);
}

static int
wb_fetch(sqlite3_file *pf, sqlite3_int64 off, int amt, void **out)
{
	struct wb_file *f = (struct wb_file *)pf;
	int rc = wb_flush(f);

	return rc != SQLITE_OK ? rc :
	    f->real->pMethods->xFetch(f->real, off, amt, out);
}

static int
wb_unfetch(sqlite3_file *pf, sqlite3_int64 off, void *p)
{
	struct wb_file *f = (struct wb_file *)pf;

	return f->real->pMethods->xUnfetch(f->real, off, p);
}

/* One table per version of the real file's methods, so that SQLite sees
 * the methods the real file has (1: no shared memory, 2: no mapping). */
#define WB_METHODS(v) { \
	(v), wb_close, wb_read, wb_write, wb_truncate, wb_sync, \
	wb_file_size, wb_lock, wb_unlock, wb_check_reserved_lock, \
	wb_file_control, wb_sector_size, wb_device_characteristics, \
	(v) >= 2 ? wb_shm_map : NULL, (v) >= 2 ? wb_shm_lock : NULL, \
	(v) >= 2 ? wb_shm_barrier : NULL, (v) >= 2 ? wb_shm_unmap : NULL, \
	(v) >= 3 ? wb_fetch : NULL, (v) >= 3 ? wb_unfetch : NULL }

static const sqlite3_io_methods wb_methods[3] = {
	WB_METHODS(1), WB_METHODS(2), WB_METHODS(3),
};

static int
wb_open(sqlite3_vfs *vfs, const char *name, sqlite3_file *pf, int flags,
    int *out_flags)
{
	struct wb_file *f = (struct wb_file *)pf;
	int rc, v;

	(void)vfs;
	memset(f, 0, sizeof(*f));
	f->real = (sqlite3_file *)(f + 1);
	rc = root_vfs->xOpen(root_vfs, name, f->real, flags, out_flags);
	if (rc != SQLITE_OK || f->real->pMethods == NULL) {
		/* SQLite calls no method of a file whose open failed */
		f->base.pMethods = NULL;
		return rc;
	}
	v = f->real->pMethods->iVersion;
	f->base.pMethods = &wb_methods[(v < 1 ? 1 : v > 3 ? 3 : v) - 1];
	f->wal = (flags & SQLITE_OPEN_WAL) != 0;
	return SQLITE_OK;
}

/* The rest of the VFS is the default one's. */
static int
wb_delete(sqlite3_vfs *vfs, const char *name, int sync_dir)
{
	(void)vfs;
	return root_vfs->xDelete(root_vfs, name, sync_dir);
}

static int
wb_access(sqlite3_vfs *vfs, const char *name, int flags, int *out)
{
	(void)vfs;
	return root_vfs->xAccess(root_vfs, name, flags, out);
}

static int
wb_full_pathname(sqlite3_vfs *vfs, const char *name, int n, char *out)
{
	(void)vfs;
	return root_vfs->xFullPathname(root_vfs, name, n, out);
}

static void *
wb_dl_open(sqlite3_vfs *vfs, const char *name)
{
	(void)vfs;
	return root_vfs->xDlOpen(root_vfs, name);
}

static void
wb_dl_error(sqlite3_vfs *vfs, int n, char *msg)
{
	(void)vfs;
	root_vfs->xDlError(root_vfs, n, msg);
}

static void (*wb_dl_sym(sqlite3_vfs *vfs, void *h, const char *sym))(void)
{
	(void)vfs;
	return root_vfs->xDlSym(root_vfs, h, sym);
}

static void
wb_dl_close(sqlite3_vfs *vfs, void *h)
{
	(void)vfs;
	root_vfs->xDlClose(root_vfs, h);
}

static int
wb_randomness(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return root_vfs->xRandomness(root_vfs, n, out);
}

static int
wb_sleep(sqlite3_vfs *vfs, int us)
{
	(void)vfs;
	return root_vfs->xSleep(root_vfs, us);
}

static int
wb_current_time(sqlite3_vfs *vfs, double *out)
{
	(void)vfs;
	return root_vfs->xCurrentTime(root_vfs, out);
}

static int
wb_get_last_error(sqlite3_vfs *vfs, int n, char *out)
{
	(void)vfs;
	return root_vfs->xGetLastError != NULL ?
	    root_vfs->xGetLastError(root_vfs, n, out) : 0;
}

static int
wb_current_time_int64(sqlite3_vfs *vfs, sqlite3_int64 *out)
{
	(void)vfs;
	return root_vfs->xCurrentTimeInt64(root_vfs, out);
}

static sqlite3_vfs wb_vfs = {
	.iVersion = 2,
	.zName = SQLITE_WALBUF_VFS,
	.xOpen = wb_open,
	.xDelete = wb_delete,
	.xAccess = wb_access,
	.xFullPathname = wb_full_pathname,
	.xDlOpen = wb_dl_open,
	.xDlError = wb_dl_error,
	.xDlSym = wb_dl_sym,
	.xDlClose = wb_dl_close,
	.xRandomness = wb_randomness,
	.xSleep = wb_sleep,
	.xCurrentTime = wb_current_time,
	.xGetLastError = wb_get_last_error,
	.xCurrentTimeInt64 = wb_current_time_int64,
};

static int wb_register_rc = SQLITE_ERROR;

static void
wb_register(void)
{
	sqlite3_vfs *root = sqlite3_vfs_find(NULL);

	if (root == NULL || root->iVersion < 2 ||
	    root->xCurrentTimeInt64 == NULL)
		return;                  /* SQLITE_ERROR stays */
	root_vfs = root;
	wb_vfs.szOsFile = (int)sizeof(struct wb_file) + root->szOsFile;
	wb_vfs.mxPathname = root->mxPathname;
	wb_register_rc = sqlite3_vfs_register(&wb_vfs, 0);
}

int
sqlite_walbuf_register(void)
{
	static pthread_once_t once = PTHREAD_ONCE_INIT;

	if (pthread_once(&once, wb_register) != 0)
		return SQLITE_ERROR;
	return wb_register_rc;
}

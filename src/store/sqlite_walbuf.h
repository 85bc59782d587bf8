/*
 * sqlite_walbuf.h - the SQLite VFS the store opens its database with: the
 * default VFS, except that a WAL transaction's frames are written with one
 * write instead of two per frame (sqlite_walbuf.c says when it flushes).
 * Every connection opened with it must commit with synchronous=FULL or
 * NORMAL as usual; nothing else about SQLite's durability changes.
 */
#ifndef MANDATE_SQLITE_WALBUF_H
#define MANDATE_SQLITE_WALBUF_H

#define SQLITE_WALBUF_VFS "mandate-walbuf"

/* Register the VFS (once; later calls return the first result):
 * SQLITE_OK, or an SQLite error code when the default VFS is missing or
 * too old to wrap. */
int sqlite_walbuf_register(void);

#endif

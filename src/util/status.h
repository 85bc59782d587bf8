/*
 * status.h - the one error enum of libmandate.
 *
 * Numbers are pinned: never renumber, only append.  A deny is a result,
 * not an error; these codes mean "no decision could be made" and every
 * caller treats them as deny.
 */
#ifndef MANDATE_STATUS_H
#define MANDATE_STATUS_H

enum mandate_status {
	MANDATE_OK = 0,
	MANDATE_ENOMEM = 1,     /* allocation failed */
	MANDATE_EINVAL = 2,     /* bad argument or malformed input */
	MANDATE_EPARSE = 3,     /* syntax error (details in the diagnostics) */
	MANDATE_ELIMIT = 4,     /* a size, depth or step limit was hit */
	MANDATE_EIO = 5,        /* reading or writing a file failed */
	MANDATE_EINTERNAL = 6,  /* a broken invariant; fail closed */
	MANDATE_ENOTFOUND = 7,  /* a named thing does not exist */
	MANDATE_EVALIDATE = 8,  /* schema validation failed */
	MANDATE_EEVAL = 9,      /* evaluation error (type error, overflow...) */
	MANDATE_ECONFLICT = 10, /* refused by the state it met (a race lost) */
};

/* Static English text for a status; never NULL. */
const char *mandate_strerror(int status);

#endif

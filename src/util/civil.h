/*
 * civil.h - proleptic Gregorian calendar dates to and from days since
 * 1970-01-01, for any year (the "days from civil" algorithms), shared by
 * Cedar's datetime extension and the daemon's RFC 3339 parsing.
 */
#ifndef MANDATE_CIVIL_H
#define MANDATE_CIVIL_H

#include <stddef.h>
#include <stdint.h>

/* Days since 1970-01-01 of year y, month m (1-12), day d (1-31). */
int64_t days_from_civil(int64_t y, int64_t m, int64_t d);

/* The date of day z since 1970-01-01. */
void civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d);

/* Unix seconds (up to 18 digits), or an RFC 3339 date-time
 * (YYYY-MM-DDTHH:MM:SS[.frac] then Z or +HH:MM / -HH:MM; fractions are
 * dropped) from 1970 on, into *out: 0, or -1 for anything else.  Reads
 * only p[0..n).  The audit API's from/to and the CLI's --since/--until. */
int civil_parse_time(const char *p, size_t n, int64_t *out);

#endif

/*
 * civil.h - proleptic Gregorian calendar dates to and from days since
 * 1970-01-01, for any year (the "days from civil" algorithms), shared by
 * Cedar's datetime extension and the daemon's RFC 3339 parsing.
 */
#ifndef MANDATE_CIVIL_H
#define MANDATE_CIVIL_H

#include <stdint.h>

/* Days since 1970-01-01 of year y, month m (1-12), day d (1-31). */
int64_t days_from_civil(int64_t y, int64_t m, int64_t d);

/* The date of day z since 1970-01-01. */
void civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d);

#endif

/*
 * eval_int.h - private interface between the evaluator and the value and
 * extension-type files (value.c, ext_ip.c, ext_decimal.c, ext_datetime.c,
 * eval.c, authorize.c).  Nothing outside the "eval" module includes it.
 */
#ifndef MANDATE_CEDAR_EVAL_INT_H
#define MANDATE_CEDAR_EVAL_INT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "cedar_int.h"

/* ---- ipaddr (ext_ip.c) ---- */

bool cedar_ip_is_loopback(const struct cedar_ip *ip);
bool cedar_ip_is_multicast(const struct cedar_ip *ip);
/* Is `a` (every address of its range) inside the range of `b`?  False
 * when the families differ. */
bool cedar_ip_in_range(const struct cedar_ip *a, const struct cedar_ip *b);
/* Text form (IPv6 compressed as RFC 5952), "/N" appended only when the
 * prefix is shorter than the address; NUL-terminated, returns the length
 * (buf must hold at least CEDAR_IP_TEXT_MAX bytes). */
#define CEDAR_IP_TEXT_MAX 48
size_t cedar_ip_format(const struct cedar_ip *ip, char *buf);
int cedar_ip_cmp(const struct cedar_ip *a, const struct cedar_ip *b);

/* ---- decimal (ext_decimal.c) ---- */

/* "-12.3400" style text with exactly four fractional digits. */
#define CEDAR_DECIMAL_TEXT_MAX 32
size_t cedar_decimal_format(int64_t v, char *buf);

/* ---- datetime and duration (ext_datetime.c) ---- */

/* Lossless text for a datetime: "YYYY-MM-DDThh:mm:ss.sssZ" when the year
 * is 0..9999, else false (the caller uses the offset form). */
#define CEDAR_DATETIME_TEXT_MAX 32
bool cedar_datetime_format(int64_t ms, char *buf);

/* toDate / toTime; false on overflow (toDate only). */
bool cedar_datetime_to_date(int64_t ms, int64_t *out);
int64_t cedar_datetime_to_time(int64_t ms);

/* ---- policies (eval.c) ---- */

/* Does one scope constraint hold for the request's uid?  `slot` is the
 * value bound to the constraint's slot (has_slot false: unbound, never
 * matches).  Never an error. */
bool cedar_scope_match(const struct cedar_entities *es,
    const struct cedar_scope *sc, const struct cedar_uid *req_uid,
    const struct cedar_uid *slot, bool has_slot);

/* ---- checked 64-bit arithmetic (shared) ---- */

static inline bool
cedar_add_ok(int64_t a, int64_t b, int64_t *out)
{
	return !__builtin_add_overflow(a, b, out);
}

static inline bool
cedar_sub_ok(int64_t a, int64_t b, int64_t *out)
{
	return !__builtin_sub_overflow(a, b, out);
}

static inline bool
cedar_mul_ok(int64_t a, int64_t b, int64_t *out)
{
	return !__builtin_mul_overflow(a, b, out);
}

#endif

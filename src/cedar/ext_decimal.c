/*
 * ext_decimal.c - Cedar's decimal extension type: fixed point with four
 * fractional digits stored as value * 10^4 in an int64.  The text form is
 * an optional '-', at least one digit, '.', one to four digits; a value
 * outside the int64 range is an error.
 */
#include <inttypes.h>
#include <stdio.h>

#include "cedar_int.h"
#include "eval_int.h"

#define DECIMAL_DIGITS 4

bool
cedar_decimal_parse(struct str s, int64_t *out)
{
	size_t i = 0, int_start, frac_start, n_frac;
	bool neg = false;
	int64_t acc = 0, d;

	if (i < s.n && s.p[i] == '-') {
		neg = true;
		i++;
	}
	int_start = i;
	/* the magnitude is accumulated negatively so that the most negative
	 * value is representable */
	while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9') {
		d = s.p[i++] - '0';
		if (!cedar_mul_ok(acc, 10, &acc) || !cedar_sub_ok(acc, d, &acc))
			return false;
	}
	if (i == int_start || i >= s.n || s.p[i] != '.')
		return false;
	i++;
	frac_start = i;
	while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9')
		i++;
	n_frac = i - frac_start;
	if (i != s.n || n_frac == 0 || n_frac > DECIMAL_DIGITS)
		return false;
	for (size_t k = 0; k < DECIMAL_DIGITS; k++) {
		d = k < n_frac ? s.p[frac_start + k] - '0' : 0;
		if (!cedar_mul_ok(acc, 10, &acc) || !cedar_sub_ok(acc, d, &acc))
			return false;
	}
	if (!neg) {
		if (acc == INT64_MIN)
			return false;
		acc = -acc;
	}
	*out = acc;
	return true;
}

size_t
cedar_decimal_format(int64_t v, char *buf)
{
	uint64_t mag = v < 0 ? (uint64_t)0 - (uint64_t)v : (uint64_t)v;
	int n;

	n = snprintf(buf, CEDAR_DECIMAL_TEXT_MAX, "%s%" PRIu64 ".%04" PRIu64,
	    v < 0 ? "-" : "", mag / 10000, mag % 10000);
	return n < 0 ? 0 : (size_t)n;
}

/*
 * ext_datetime.c - Cedar's datetime and duration extension types.
 *
 * A datetime is milliseconds since the Unix epoch (proleptic Gregorian,
 * no leap seconds), written as one of
 *   YYYY-MM-DD
 *   YYYY-MM-DDThh:mm:ssZ            YYYY-MM-DDThh:mm:ss.SSSZ
 *   YYYY-MM-DDThh:mm:ss(+|-)hhmm    YYYY-MM-DDThh:mm:ss.SSS(+|-)hhmm
 * (offset hours < 24, minutes < 60).  A duration is milliseconds, written
 * as an optional '-' and then quantity-unit pairs in the order d h m s
 * ms, each unit at most once, at least one pair.  Overflow of the int64
 * representation is an error.
 */
#include <inttypes.h>
#include <stdio.h>

#include "cedar_int.h"
#include "eval_int.h"
#include "util/civil.h"

#define MS_PER_SEC  INT64_C(1000)
#define MS_PER_MIN  INT64_C(60000)
#define MS_PER_HOUR INT64_C(3600000)
#define MS_PER_DAY  INT64_C(86400000)

static bool
is_leap(int64_t y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

static int
days_in_month(int64_t y, int64_t m)
{
	static const int dim[12] = { 31, 28, 31, 30, 31, 30, 31, 31, 30, 31,
		30, 31 };
	return m == 2 && is_leap(y) ? 29 : dim[m - 1];
}

/* Exactly `n` ASCII digits at s[*i]; advances *i. */
static bool
digits(struct str s, size_t *i, size_t n, int64_t *out)
{
	int64_t v = 0;

	if (*i + n > s.n)
		return false;
	for (size_t k = 0; k < n; k++) {
		char c = s.p[*i + k];
		if (c < '0' || c > '9')
			return false;
		v = v * 10 + (c - '0');
	}
	*i += n;
	*out = v;
	return true;
}

static bool
lit(struct str s, size_t *i, char c)
{
	if (*i >= s.n || s.p[*i] != c)
		return false;
	(*i)++;
	return true;
}

bool
cedar_datetime_parse(struct str s, int64_t *out_ms)
{
	size_t i = 0;
	int64_t y, mo, d, h = 0, mi = 0, sec = 0, ms = 0, off = 0, days;

	if (!digits(s, &i, 4, &y) || !lit(s, &i, '-') ||
	    !digits(s, &i, 2, &mo) || !lit(s, &i, '-') ||
	    !digits(s, &i, 2, &d))
		return false;
	if (i < s.n) {
		if (!lit(s, &i, 'T') || !digits(s, &i, 2, &h) ||
		    !lit(s, &i, ':') || !digits(s, &i, 2, &mi) ||
		    !lit(s, &i, ':') || !digits(s, &i, 2, &sec))
			return false;
		if (i < s.n && s.p[i] == '.') {
			i++;
			if (!digits(s, &i, 3, &ms))
				return false;
		}
		if (i < s.n && s.p[i] == 'Z') {
			i++;
		} else if (i < s.n && (s.p[i] == '+' || s.p[i] == '-')) {
			bool neg = s.p[i] == '-';
			int64_t oh, om;
			i++;
			if (!digits(s, &i, 2, &oh) || !digits(s, &i, 2, &om))
				return false;
			if (oh >= 24 || om >= 60)
				return false;
			off = (oh * 3600 + om * 60) * MS_PER_SEC;
			if (neg)
				off = -off;
		} else {
			return false;
		}
		if (i != s.n)
			return false;
	}
	if (mo < 1 || mo > 12 || d < 1 || d > days_in_month(y, mo))
		return false;
	if (h > 23 || mi > 59 || sec > 59)
		return false;
	days = days_from_civil(y, mo, d);
	/* years 0..9999: no overflow possible */
	*out_ms = days * MS_PER_DAY + h * MS_PER_HOUR + mi * MS_PER_MIN +
	    sec * MS_PER_SEC + ms - off;
	return true;
}

bool
cedar_datetime_format(int64_t ms, char *buf)
{
	int64_t days, rem, y, m, d;

	rem = ms % MS_PER_DAY;
	days = ms / MS_PER_DAY;
	if (rem < 0) {
		rem += MS_PER_DAY;
		days--;
	}
	civil_from_days(days, &y, &m, &d);
	if (y < 0 || y > 9999)
		return false;
	snprintf(buf, CEDAR_DATETIME_TEXT_MAX, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ",
	    (int)y, (int)m, (int)d, (int)(rem / MS_PER_HOUR),
	    (int)(rem / MS_PER_MIN % 60), (int)(rem / MS_PER_SEC % 60),
	    (int)(rem % 1000));
	return true;
}

bool
cedar_datetime_to_date(int64_t ms, int64_t *out)
{
	int64_t rem = ms % MS_PER_DAY;

	if (rem < 0)
		rem += MS_PER_DAY;
	return cedar_sub_ok(ms, rem, out);
}

int64_t
cedar_datetime_to_time(int64_t ms)
{
	int64_t rem = ms % MS_PER_DAY;

	return rem < 0 ? rem + MS_PER_DAY : rem;
}

bool
cedar_duration_parse(struct str s, int64_t *out_ms)
{
	static const int64_t unit_ms[5] = { MS_PER_DAY, MS_PER_HOUR,
		MS_PER_MIN, MS_PER_SEC, 1 };
	size_t i = 0;
	bool neg = false;
	int next_unit = 0;   /* units must come in order d h m s ms */
	int64_t total;
	uint64_t mag = 0, limit;

	if (i < s.n && s.p[i] == '-') {
		neg = true;
		i++;
	}
	limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX;
	if (i == s.n)
		return false;
	while (i < s.n) {
		uint64_t q = 0;
		size_t start = i;
		int unit;
		uint64_t part;

		while (i < s.n && s.p[i] >= '0' && s.p[i] <= '9') {
			unsigned dgt = (unsigned)(s.p[i++] - '0');
			if (q > (UINT64_MAX - dgt) / 10)
				return false;
			q = q * 10 + dgt;
		}
		if (i == start || i >= s.n)
			return false;
		switch (s.p[i]) {
		case 'd': unit = 0; i++; break;
		case 'h': unit = 1; i++; break;
		case 'm':
			if (i + 1 < s.n && s.p[i + 1] == 's') {
				unit = 4;
				i += 2;
			} else {
				unit = 2;
				i++;
			}
			break;
		case 's': unit = 3; i++; break;
		default: return false;
		}
		if (unit < next_unit)
			return false;
		next_unit = unit + 1;
		/* all parts share the sign: sum the magnitude and check it
		 * against the bound once per part */
		if (q != 0 && (uint64_t)unit_ms[unit] > limit / q)
			return false;
		part = q * (uint64_t)unit_ms[unit];
		if (part > limit - mag)
			return false;
		mag += part;
	}
	if (neg)
		total = mag == limit ? INT64_MIN : -(int64_t)mag;
	else
		total = (int64_t)mag;
	*out_ms = total;
	return true;
}

/* civil.c - proleptic Gregorian dates to and from day numbers. */
#include "civil.h"

#include <stdbool.h>
#include <stddef.h>

int64_t
days_from_civil(int64_t y, int64_t m, int64_t d)
{
	int64_t era, yoe, doy, doe;

	y -= m <= 2;
	era = (y >= 0 ? y : y - 399) / 400;
	yoe = y - era * 400;
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + doe - 719468;
}

void
civil_from_days(int64_t z, int64_t *y, int64_t *m, int64_t *d)
{
	int64_t era, doe, yoe, doy, mp;

	z += 719468;
	era = (z >= 0 ? z : z - 146096) / 146097;
	doe = z - era * 146097;
	yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	mp = (5 * doy + 2) / 153;
	*d = doy - (153 * mp + 2) / 5 + 1;
	*m = mp < 10 ? mp + 3 : mp - 9;
	*y = yoe + era * 400 + (*m <= 2);
}

static int
digits(const char *p, size_t n, int64_t *out)
{
	int64_t v = 0;

	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return -1;
		v = v * 10 + (p[i] - '0');
	}
	*out = v;
	return 0;
}

int
civil_parse_time(const char *p, size_t n, int64_t *out)
{
	int64_t y, mo, d, h, mi, se, oh = 0, om = 0;
	int sign = 0;
	size_t i = 19;
	int64_t t;

	if (n > 0 && n <= 18 && digits(p, n, &t) == 0) {
		*out = t;
		return 0;
	}
	if (n < 20 || n > 40 || p[4] != '-' || p[7] != '-' ||
	    (p[10] != 'T' && p[10] != 't' && p[10] != ' ') ||
	    p[13] != ':' || p[16] != ':' ||
	    digits(p, 4, &y) || digits(p + 5, 2, &mo) ||
	    digits(p + 8, 2, &d) || digits(p + 11, 2, &h) ||
	    digits(p + 14, 2, &mi) || digits(p + 17, 2, &se))
		return -1;
	if (p[i] == '.') {
		i++;
		if (i >= n || p[i] < '0' || p[i] > '9')
			return -1;
		while (i < n && p[i] >= '0' && p[i] <= '9')
			i++;
	}
	if (i < n && (p[i] == 'Z' || p[i] == 'z') && i + 1 == n) {
		sign = 0;
	} else if (i + 6 == n && (p[i] == '+' || p[i] == '-') &&
	    p[i + 3] == ':' && !digits(p + i + 1, 2, &oh) &&
	    !digits(p + i + 4, 2, &om)) {
		sign = p[i] == '+' ? 1 : -1;
	} else {
		return -1;
	}
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || h > 23 || mi > 59 ||
	    se > 60 || oh > 23 || om > 59)
		return -1;
	{
		static const int mdays[12] = { 31, 29, 31, 30, 31, 30, 31, 31,
		    30, 31, 30, 31 };
		bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;

		if (d > mdays[mo - 1] || (mo == 2 && d == 29 && !leap))
			return -1;
	}
	t = days_from_civil(y, mo, d) * 86400 + h * 3600 + mi * 60 + se -
	    sign * (oh * 3600 + om * 60);
	if (t < 0)
		return -1;
	*out = t;
	return 0;
}

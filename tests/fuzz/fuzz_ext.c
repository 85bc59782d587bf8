/*
 * fuzz_ext.c - fuzz the extension-type string parsers (ip, decimal,
 * datetime, duration).  The first byte picks the parser; the rest is the
 * string.  An accepted string must render to text that parses back to the
 * same value (the JSON form relies on it).  The one exception is a
 * datetime that a UTC offset moves out of years 0000..9999 (the reference
 * accepts "9999-12-31T23:59:59-2359" too): it has no text form, and must
 * lie less than a day outside that range (the JSON form writes it as an
 * offset from the epoch).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/cedar_int.h"
#include "cedar/eval_int.h"
#include "util/civil.h"

#define MS_PER_DAY INT64_C(86400000)

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct str s;
	char buf[64];
	int64_t v, back;
	struct cedar_ip ip, ip2;

	if (size < 1)
		return 0;
	s = str_make((const char *)data + 1, size - 1);
	switch (data[0] % 4) {
	case 0:
		if (cedar_ip_parse(s, &ip)) {
			cedar_ip_format(&ip, buf);
			if (!cedar_ip_parse(str_c(buf), &ip2) ||
			    cedar_ip_cmp(&ip, &ip2) != 0)
				abort();
			(void)cedar_ip_is_loopback(&ip);
			(void)cedar_ip_is_multicast(&ip);
			(void)cedar_ip_in_range(&ip, &ip2);
		}
		break;
	case 1:
		if (cedar_decimal_parse(s, &v)) {
			cedar_decimal_format(v, buf);
			if (!cedar_decimal_parse(str_c(buf), &back) || back != v)
				abort();
		}
		break;
	case 2:
		if (cedar_datetime_parse(s, &v)) {
			int64_t lo = days_from_civil(0, 1, 1) * MS_PER_DAY;
			int64_t hi = days_from_civil(10000, 1, 1) * MS_PER_DAY;

			if (!cedar_datetime_format(v, buf)) {
				/* no text form: only just out of range */
				if (!(v < lo && v > lo - MS_PER_DAY) &&
				    !(v >= hi && v < hi + MS_PER_DAY))
					abort();
			} else if (v < lo || v >= hi ||
			    !cedar_datetime_parse(str_c(buf), &back) ||
			    back != v) {
				abort();
			}
			(void)cedar_datetime_to_date(v, &back);
			(void)cedar_datetime_to_time(v);
		}
		break;
	default:
		(void)cedar_duration_parse(s, &v);
		break;
	}
	return 0;
}

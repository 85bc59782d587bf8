/*
 * fuzz_ext.c - fuzz the extension-type string parsers (ip, decimal,
 * datetime, duration).  The first byte picks the parser; the rest is the
 * string.  An accepted string must render to text that parses back to the
 * same value (the JSON form relies on it).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cedar/cedar_int.h"
#include "cedar/eval_int.h"

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
			if (!cedar_datetime_format(v, buf) ||
			    !cedar_datetime_parse(str_c(buf), &back) || back != v)
				abort();
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

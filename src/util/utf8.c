/* utf8.c - hex digits, UTF-8 validation and encoding. */
#include <stdint.h>
#include <string.h>

#include "utf8.h"

int
hex_digit_value(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
hex_lower_all(const void *s, size_t n)
{
	const unsigned char *p = s;

	if (n == 0)
		return 0;
	for (size_t i = 0; i < n; i++)
		if (!((p[i] >= '0' && p[i] <= '9') || (p[i] >= 'a' && p[i] <= 'f')))
			return 0;
	return 1;
}

size_t
utf8_seq_len(const unsigned char *s, size_t i, size_t n)
{
	unsigned char c = s[i];
	unsigned char lo = 0x80, hi = 0xBF;
	size_t k;

	if (c >= 0xC2 && c <= 0xDF)
		k = 2;
	else if (c >= 0xE0 && c <= 0xEF)
		k = 3;
	else if (c >= 0xF0 && c <= 0xF4)
		k = 4;
	else
		return 0;
	/* the second byte's range excludes overlongs, surrogates and
	 * code points past U+10FFFF */
	if (c == 0xE0)
		lo = 0xA0;
	else if (c == 0xED)
		hi = 0x9F;
	else if (c == 0xF0)
		lo = 0x90;
	else if (c == 0xF4)
		hi = 0x8F;
	if (n - i < k || s[i + 1] < lo || s[i + 1] > hi)
		return 0;
	for (size_t j = 2; j < k; j++)
		if ((s[i + j] & 0xC0) != 0x80)
			return 0;
	return k;
}

size_t
utf8_invalid_at(const void *text, size_t len)
{
	const unsigned char *s = text;
	size_t i = 0, k;

	while (i < len) {
		if (s[i] < 0x80) {
			uint64_t w;

			/* ASCII: eight bytes at a time while no high bit */
			i++;
			while (i + 8 <= len) {
				memcpy(&w, s + i, 8);
				if (w & 0x8080808080808080ULL)
					break;
				i += 8;
			}
			continue;
		}
		if ((k = utf8_seq_len(s, i, len)) == 0)
			return i;
		i += k;
	}
	return len;
}

size_t
utf8_encode(uint32_t cp, void *out)
{
	unsigned char *o = out;

	if (cp < 0x80) {
		o[0] = (unsigned char)cp;
		return 1;
	}
	if (cp < 0x800) {
		o[0] = (unsigned char)(0xC0 | (cp >> 6));
		o[1] = (unsigned char)(0x80 | (cp & 0x3F));
		return 2;
	}
	if (cp < 0x10000) {
		o[0] = (unsigned char)(0xE0 | (cp >> 12));
		o[1] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
		o[2] = (unsigned char)(0x80 | (cp & 0x3F));
		return 3;
	}
	o[0] = (unsigned char)(0xF0 | (cp >> 18));
	o[1] = (unsigned char)(0x80 | ((cp >> 12) & 0x3F));
	o[2] = (unsigned char)(0x80 | ((cp >> 6) & 0x3F));
	o[3] = (unsigned char)(0x80 | (cp & 0x3F));
	return 4;
}

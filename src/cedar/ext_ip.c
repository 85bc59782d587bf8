/*
 * ext_ip.c - Cedar's ipaddr extension type: parsing ip("...") strings
 * exactly as the reference does (dotted-quad IPv4 without leading zeros,
 * IPv6 with at most one `::`, no IPv4 embedded in IPv6, optional /prefix
 * without leading zeros), range tests, and the text form.
 */
#include <stdio.h>
#include <string.h>

#include "cedar_int.h"
#include "eval_int.h"
#include "../util/utf8.h"

#define IP_TEXT_MAX 43   /* Dotted quad: four decimal parts of 1-3 digits, no leading zero, <= 255. */
static bool
parse_v4(const char *p, size_t n, uint8_t out[4])
{
	size_t i = 0;

	for (int part = 0; part < 4; part++) {
		unsigned v = 0;
		size_t start = i;

		if (part > 0) {
			if (i >= n || p[i] != '.')
				return false;
			start = ++i;
		}
		while (i < n && p[i] >= '0' && p[i] <= '9' && i - start < 3)
			v = v * 10 + (unsigned)(p[i++] - '0');
		if (i == start || v > 255)
			return false;
		if (i - start > 1 && p[start] == '0')
			return false;
		out[part] = (uint8_t)v;
	}
	return i == n;
}

/* Read up to `limit` colon-separated groups of 1-4 hex digits starting at
 * *pos; a group after the first needs a leading ':' (which is not
 * consumed if no group follows it).  Returns the number read. */
static size_t
read_groups(const char *p, size_t n, size_t *pos, uint16_t *groups,
    size_t limit)
{
	size_t i = *pos, count = 0;

	while (count < limit) {
		size_t j = i, start;
		unsigned v = 0;

		if (count > 0) {
			if (j >= n || p[j] != ':')
				break;
			j++;
		}
		start = j;
		while (j < n && j - start < 4 && hex_digit_value(p[j]) >= 0)
			v = v * 16 + (unsigned)hex_digit_value(p[j++]);
		if (j == start)
			break;
		groups[count++] = (uint16_t)v;
		i = j;
	}
	*pos = i;
	return count;
}

static bool
parse_v6(const char *p, size_t n, uint8_t out[16])
{
	uint16_t head[8] = { 0 }, tail[7] = { 0 };
	size_t pos = 0, n_head, n_tail, limit;

	n_head = read_groups(p, n, &pos, head, 8);
	if (n_head < 8) {
		if (pos + 2 > n || p[pos] != ':' || p[pos + 1] != ':')
			return false;
		pos += 2;
		limit = 8 - (n_head + 1);
		n_tail = read_groups(p, n, &pos, tail, limit);
		for (size_t k = 0; k < n_tail; k++)
			head[8 - n_tail + k] = tail[k];
	}
	if (pos != n)
		return false;
	for (int k = 0; k < 8; k++) {
		out[2 * k] = (uint8_t)(head[k] >> 8);
		out[2 * k + 1] = (uint8_t)(head[k] & 0xff);
	}
	return true;
}

static bool
parse_prefix(const char *p, size_t n, unsigned max, size_t max_len,
    uint8_t *out)
{
	unsigned v = 0;

	if (n == 0 || n > max_len)
		return false;
	if (n > 1 && p[0] == '0')
		return false;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return false;
		v = v * 10 + (unsigned)(p[i] - '0');
	}
	if (v > max)
		return false;
	*out = (uint8_t)v;
	return true;
}

static size_t
count_char(struct str s, char c)
{
	size_t k = 0;

	for (size_t i = 0; i < s.n; i++)
		k += s.p[i] == c;
	return k;
}

bool
cedar_ip_parse(struct str s, struct cedar_ip *out)
{
	struct cedar_ip ip;
	const char *slash;
	size_t addr_len;

	memset(&ip, 0, sizeof(ip));
	if (s.n == 0 || s.n > IP_TEXT_MAX)
		return false;
	/* the reference refuses IPv4 embedded in IPv6 (two or more colons
	 * and two or more dots) */
	if (count_char(s, ':') >= 2 && count_char(s, '.') >= 2)
		return false;
	slash = memchr(s.p, '/', s.n);
	addr_len = slash ? (size_t)(slash - s.p) : s.n;
	if (parse_v4(s.p, addr_len, ip.addr)) {
		ip.is_v6 = 0;
		ip.prefix = 32;
	} else if (parse_v6(s.p, addr_len, ip.addr)) {
		ip.is_v6 = 1;
		ip.prefix = 128;
	} else {
		return false;
	}
	if (slash != NULL) {
		const char *pp = slash + 1;
		size_t pn = s.n - addr_len - 1;
		if (!parse_prefix(pp, pn, ip.is_v6 ? 128 : 32, ip.is_v6 ? 3 : 2,
		    &ip.prefix))
			return false;
	}
	*out = ip;
	return true;
}

static bool
addr_is_v6_loopback(const uint8_t a[16])
{
	for (int i = 0; i < 15; i++) {
		if (a[i] != 0)
			return false;
	}
	return a[15] == 1;
}

bool
cedar_ip_is_loopback(const struct cedar_ip *ip)
{
	if (!ip->is_v6)
		return ip->addr[0] == 127 && ip->prefix >= 8;
	return addr_is_v6_loopback(ip->addr) && ip->prefix >= 128;
}

bool
cedar_ip_is_multicast(const struct cedar_ip *ip)
{
	if (!ip->is_v6)
		return (ip->addr[0] & 0xf0) == 0xe0 && ip->prefix >= 4;
	return ip->addr[0] == 0xff && ip->prefix >= 8;
}

/* Network (host bits cleared) and broadcast (host bits set) addresses. */
static void
ip_bounds(const struct cedar_ip *ip, uint8_t lo[16], uint8_t hi[16])
{
	int nbytes = ip->is_v6 ? 16 : 4;

	for (int i = 0; i < nbytes; i++) {
		int bits = (int)ip->prefix - 8 * i;   /* network bits in byte */
		uint8_t mask;
		if (bits >= 8)
			mask = 0xff;
		else if (bits <= 0)
			mask = 0;
		else
			mask = (uint8_t)(0xff << (8 - bits));
		lo[i] = ip->addr[i] & mask;
		hi[i] = ip->addr[i] | (uint8_t)~mask;
	}
}

bool
cedar_ip_in_range(const struct cedar_ip *a, const struct cedar_ip *b)
{
	uint8_t alo[16], ahi[16], blo[16], bhi[16];
	size_t nbytes;

	if (a->is_v6 != b->is_v6)
		return false;
	nbytes = a->is_v6 ? 16 : 4;
	ip_bounds(a, alo, ahi);
	ip_bounds(b, blo, bhi);
	return memcmp(blo, alo, nbytes) <= 0 && memcmp(ahi, bhi, nbytes) <= 0;
}

int
cedar_ip_cmp(const struct cedar_ip *a, const struct cedar_ip *b)
{
	int r;

	if (a->is_v6 != b->is_v6)
		return a->is_v6 ? 1 : -1;
	r = memcmp(a->addr, b->addr, a->is_v6 ? 16 : 4);
	if (r != 0)
		return r < 0 ? -1 : 1;
	return a->prefix < b->prefix ? -1 : a->prefix > b->prefix;
}

size_t
cedar_ip_format(const struct cedar_ip *ip, char *buf)
{
	size_t n = 0;
	int full = ip->is_v6 ? 128 : 32;

	if (!ip->is_v6) {
		n = (size_t)snprintf(buf, CEDAR_IP_TEXT_MAX, "%u.%u.%u.%u",
		    ip->addr[0], ip->addr[1], ip->addr[2], ip->addr[3]);
	} else {
		uint16_t g[8];
		int best = -1, best_len = 0;

		for (int k = 0; k < 8; k++)
			g[k] = (uint16_t)(ip->addr[2 * k] << 8 | ip->addr[2 * k + 1]);
		/* the longest run of two or more zero groups becomes "::" */
		for (int k = 0; k < 8;) {
			int len = 0;
			while (k + len < 8 && g[k + len] == 0)
				len++;
			if (len > best_len && len >= 2) {
				best = k;
				best_len = len;
			}
			k += len > 0 ? len : 1;
		}
		for (int k = 0; k < 8; k++) {
			if (k == best) {
				n += (size_t)snprintf(buf + n, CEDAR_IP_TEXT_MAX - n,
				    "::");
				k += best_len - 1;
				continue;
			}
			if (k > 0 && k != best + best_len)
				n += (size_t)snprintf(buf + n, CEDAR_IP_TEXT_MAX - n,
				    ":");
			n += (size_t)snprintf(buf + n, CEDAR_IP_TEXT_MAX - n, "%x",
			    g[k]);
		}
	}
	if (ip->prefix != full)
		n += (size_t)snprintf(buf + n, CEDAR_IP_TEXT_MAX - n, "/%u",
		    ip->prefix);
	return n;
}

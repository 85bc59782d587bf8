/*
 * utf8.h - the small text primitives every parser here needs: hex digits,
 * UTF-8 validation (RFC 3629: no overlongs, no surrogates, nothing above
 * U+10FFFF) and UTF-8 encoding of one code point.
 */
#ifndef MANDATE_UTF8_H
#define MANDATE_UTF8_H

#include <stddef.h>
#include <stdint.h>

/* The value of a hexadecimal digit, or -1 for any other byte. */
int hex_digit_value(int c);

/* 1 when s[0..n) is n > 0 bytes of lowercase hex (0-9, a-f): the form of
 * the daemon's task, decision and token ids. */
int hex_lower_all(const void *s, size_t n);

/* Length (2-4) of the valid multi-byte sequence at s[i] (s[i] >= 0x80),
 * or 0 when it is malformed, truncated, overlong, a surrogate or above
 * U+10FFFF. */
size_t utf8_seq_len(const unsigned char *s, size_t i, size_t n);

/* Offset of the first byte that is not part of valid UTF-8, or len. */
size_t utf8_invalid_at(const void *s, size_t len);

/* Write cp (at most U+10FFFF) as UTF-8 into out; returns 1-4 bytes. */
size_t utf8_encode(uint32_t cp, void *out);

#endif

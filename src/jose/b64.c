/*
 * b64.c - strict base64url (RFC 4648 section 5, no padding) and the
 * module's name tables (reasons, algorithms).  Strict decoding makes a
 * token's encoding unique, so two different strings never verify as the
 * same signed bytes.
 */
#include <string.h>

#include "jose/jose_int.h"
#include "util/status.h"

static const char b64url_alphabet[] =
    "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

size_t
jose_b64url_len(size_t n)
{
	return n / 3 * 4 + (n % 3 == 0 ? 0 : n % 3 + 1);
}

size_t
jose_b64url_encode(const void *in, size_t n, char *out, size_t out_cap)
{
	const uint8_t *p = in;
	size_t need = jose_b64url_len(n), o = 0, i = 0;

	if (n > SIZE_MAX / 2 || out_cap < need + 1)
		return (size_t)-1;
	for (; i + 3 <= n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8 |
		    p[i + 2];
		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
		out[o++] = b64url_alphabet[v >> 6 & 63];
		out[o++] = b64url_alphabet[v & 63];
	}
	if (n - i == 1) {
		uint32_t v = (uint32_t)p[i] << 16;
		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
	} else if (n - i == 2) {
		uint32_t v = (uint32_t)p[i] << 16 | (uint32_t)p[i + 1] << 8;
		out[o++] = b64url_alphabet[v >> 18 & 63];
		out[o++] = b64url_alphabet[v >> 12 & 63];
		out[o++] = b64url_alphabet[v >> 6 & 63];
	}
	out[o] = '\0';
	return o;
}

static int
b64url_value(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '-')
		return 62;
	if (c == '_')
		return 63;
	return -1;
}

int
jose_b64url_decode(const char *in, size_t n, uint8_t *out, size_t out_cap,
    size_t *out_len)
{
	size_t o = 0, i = 0, need;
	int v[4];

	*out_len = 0;
	if (n % 4 == 1)
		return MANDATE_EINVAL;
	need = n / 4 * 3 + (n % 4 == 0 ? 0 : n % 4 - 1);
	if (need > out_cap)
		return MANDATE_ELIMIT;
	for (; i < n; i += 4) {
		size_t k, m = n - i < 4 ? n - i : 4;
		uint32_t w = 0;

		for (k = 0; k < m; k++) {
			if ((v[k] = b64url_value((unsigned char)in[i + k])) < 0)
				return MANDATE_EINVAL;
			w |= (uint32_t)v[k] << (18 - 6 * k);
		}
		if (m == 2 && (v[1] & 0x0f) != 0)
			return MANDATE_EINVAL;   /* non-canonical tail */
		if (m == 3 && (v[2] & 0x03) != 0)
			return MANDATE_EINVAL;
		out[o++] = (uint8_t)(w >> 16);
		if (m >= 3)
			out[o++] = (uint8_t)(w >> 8);
		if (m == 4)
			out[o++] = (uint8_t)w;
	}
	*out_len = o;
	return MANDATE_OK;
}

int
jose_b64url_encode_a(struct arena *a, const void *in, size_t n,
    struct str *out)
{
	size_t len = jose_b64url_len(n);
	char *buf;

	*out = STR_NULL;
	if (n > SIZE_MAX / 2)
		return MANDATE_ELIMIT;
	if ((buf = arena_alloc(a, len + 1)) == NULL)
		return MANDATE_ENOMEM;
	jose_b64url_encode(in, n, buf, len + 1);
	*out = str_make(buf, len);
	return MANDATE_OK;
}

int
jose_b64url_decode_a(struct arena *a, const char *in, size_t n,
    struct str *out)
{
	size_t cap = n / 4 * 3 + 3, got;
	uint8_t *buf;
	int r;

	*out = STR_NULL;
	if ((buf = arena_alloc(a, cap + 1)) == NULL)
		return MANDATE_ENOMEM;
	if ((r = jose_b64url_decode(in, n, buf, cap, &got)) != MANDATE_OK)
		return r;
	buf[got] = '\0';
	*out = str_make((const char *)buf, got);
	return MANDATE_OK;
}

static const char *const reason_text[JOSE_R__COUNT] = {
	[JOSE_R_OK] = "ok",
	[JOSE_R_NOMEM] = "out of memory",
	[JOSE_R_INTERNAL] = "internal crypto error",
	[JOSE_R_TOO_LARGE] = "input too large",
	[JOSE_R_MALFORMED] = "malformed compact serialisation",
	[JOSE_R_BASE64] = "bad base64url",
	[JOSE_R_HEADER_JSON] = "header is not a JSON object",
	[JOSE_R_HEADER_ALG] = "header alg missing or unsupported",
	[JOSE_R_HEADER_FIELD] = "header member of the wrong type",
	[JOSE_R_CRIT] = "unsupported crit header",
	[JOSE_R_B64_FALSE] = "unencoded payload (b64:false) refused",
	[JOSE_R_ALG_NOT_ALLOWED] = "algorithm not allowed",
	[JOSE_R_ALG_KEY_MISMATCH] = "algorithm does not match the key",
	[JOSE_R_SIG_LENGTH] = "signature has the wrong length",
	[JOSE_R_SIG_INVALID] = "signature does not verify",
	[JOSE_R_KEY_JSON] = "key is not a valid JWK/JWKS",
	[JOSE_R_KEY_TYPE] = "unsupported key type or curve",
	[JOSE_R_KEY_PARAM] = "missing or malformed key member",
	[JOSE_R_KEY_WEAK] = "key too weak",
	[JOSE_R_KEY_INVALID] = "key fails its consistency check",
	[JOSE_R_KEY_PRIVATE] = "private key material unexpected or missing",
	[JOSE_R_KID_UNKNOWN] = "no key for this kid",
	[JOSE_R_KID_DUPLICATE] = "duplicate kid in key set",
	[JOSE_R_PAYLOAD_JSON] = "payload is not a JSON object",
	[JOSE_R_CLAIM_TYPE] = "claim of the wrong type",
	[JOSE_R_EXP_MISSING] = "exp missing",
	[JOSE_R_EXPIRED] = "expired",
	[JOSE_R_NOT_YET_VALID] = "not yet valid (nbf)",
	[JOSE_R_IAT_FUTURE] = "issued in the future (iat)",
	[JOSE_R_ISS] = "issuer mismatch",
	[JOSE_R_AUD] = "audience mismatch",
	[JOSE_R_TYP] = "typ header mismatch",
	[JOSE_R_PEM] = "unreadable PEM key",
	[JOSE_R_IAT_MISSING] = "iat missing",
	[JOSE_R_IAT_STALE] = "iat too old",
};

const char *
jose_reason_str(enum jose_reason r)
{
	if ((unsigned)r >= JOSE_R__COUNT || reason_text[r] == NULL)
		return "unknown reason";
	return reason_text[r];
}

static const char *const alg_names[JOSE_ALG__COUNT] = {
	[JOSE_ALG_UNKNOWN] = "unknown",
	[JOSE_ALG_ES256] = "ES256", [JOSE_ALG_ES384] = "ES384",
	[JOSE_ALG_ES512] = "ES512",
	[JOSE_ALG_RS256] = "RS256", [JOSE_ALG_RS384] = "RS384",
	[JOSE_ALG_RS512] = "RS512",
	[JOSE_ALG_PS256] = "PS256", [JOSE_ALG_PS384] = "PS384",
	[JOSE_ALG_PS512] = "PS512",
	[JOSE_ALG_EDDSA] = "EdDSA",
};

const char *
jose_alg_name(enum jose_alg alg)
{
	if ((unsigned)alg >= JOSE_ALG__COUNT)
		return "unknown";
	return alg_names[alg];
}

enum jose_alg
jose_alg_from_name(struct str name)
{
	for (int i = 1; i < JOSE_ALG__COUNT; i++)
		if (str_eq_c(name, alg_names[i]))
			return (enum jose_alg)i;
	return JOSE_ALG_UNKNOWN;
}

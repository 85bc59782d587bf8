/*
 * fuzz_jose.c - the JOSE parsers.  The first byte picks the target (mod
 * 7): 0 JWS + claims with a fixed P-256 key, 1 JWS with a fixed Ed25519
 * key, 2 a public JWK, 3 a JWK with private parts allowed (a private key
 * then signs and must verify its own signature), 4 a JWK Set, 5 base64url
 * (a decoded text must encode back to itself), 6 a JWS verified with its
 * own header "jwk" (DPoP).  The rest of the input is the text.
 */
#include <stdint.h>
#include <string.h>

#include "jose/jose.h"
#include "util/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* RFC 7515 A.3 and RFC 8037 A public keys */
static const char ec_pub[] = "{\"kty\":\"EC\",\"crv\":\"P-256\","
    "\"x\":\"f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU\","
    "\"y\":\"x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0\"}";
static const char ed_pub[] = "{\"kty\":\"OKP\",\"crv\":\"Ed25519\","
    "\"x\":\"11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo\"}";

static void
exercise_key(struct arena *a, const struct jose_key *k)
{
	char tp[JOSE_THUMBPRINT_LEN + 1];
	struct str text, tok;
	struct jose_jws jws;
	enum jose_reason why;

	if (jose_key_thumbprint(k, tp) != MANDATE_OK)
		__builtin_trap();
	if (jose_key_public_jwk(k, a, &text) != MANDATE_OK)
		__builtin_trap();
	if (!jose_key_has_private(k))
		return;
	if (jose_jws_sign(a, k, (jose_key_algs(k) &
	    JOSE_ALG_BIT(JOSE_ALG_EDDSA)) ? JOSE_ALG_EDDSA : JOSE_ALG_ES256,
	    NULL, STR_LIT("{}"), &tok) != MANDATE_OK)
		return;   /* e.g. P-384 keys cannot sign */
	if (jose_jws_parse(a, tok.p, tok.n, 0, &jws, &why) != MANDATE_OK ||
	    jose_jws_verify(&jws, k, JOSE_ALGS_ALL, &why) != MANDATE_OK)
		__builtin_trap();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct arena a;
	const char *text = (const char *)data + 1;
	size_t len;
	struct jose_key *key = NULL;
	struct jose_keyset *set = NULL;
	struct jose_jws jws;
	struct jose_claims claims;
	enum jose_reason why;
	static const struct jose_jwt_rules rules = {
		.now = 1300819000, .leeway = 60, .exp_optional = true,
		.iss = { "joe", 3 }, .typ = jose_typ_jwt_svid,
		.typ_absent_ok = true,
	};

	if (size < 1)
		return 0;
	len = size - 1;
	arena_init(&a, 1u << 22);
	switch (data[0] % 7) {
	case 0:
	case 1:
		if (jose_key_from_jwk(data[0] % 7 == 0 ? ec_pub : ed_pub,
		    data[0] % 7 == 0 ? sizeof(ec_pub) - 1 : sizeof(ed_pub) - 1,
		    0, &key, NULL) != MANDATE_OK)
			__builtin_trap();
		if (jose_jws_parse(&a, text, len, 0, &jws, &why) ==
		    MANDATE_OK &&
		    jose_jws_verify(&jws, key, JOSE_ALGS_ALL, &why) ==
		    MANDATE_OK)
			(void)jose_jwt_check(&a, &jws, &rules, &claims, &why);
		break;
	case 2:
	case 3:
		if (jose_key_from_jwk(text, len, data[0] % 7 == 3 ?
		    JOSE_JWK_PRIVATE : 0, &key, &why) == MANDATE_OK)
			exercise_key(&a, key);
		break;
	case 4:
		if (jose_keyset_parse(text, len, &set, &why) == MANDATE_OK) {
			for (size_t i = 0; i < jose_keyset_count(set); i++)
				exercise_key(&a, jose_keyset_key(set, i));
			jose_keyset_unref(set);
		}
		break;
	case 5: {
		struct str dec, enc;

		if (jose_b64url_decode_a(&a, text, len, &dec) == MANDATE_OK) {
			if (jose_b64url_encode_a(&a, dec.p, dec.n, &enc) !=
			    MANDATE_OK || enc.n != len ||
			    (len > 0 && memcmp(enc.p, text, len) != 0))
				__builtin_trap();
		}
		break;
	}
	case 6:
		if (jose_jws_parse(&a, text, len, 0, &jws, &why) ==
		    MANDATE_OK && jws.has_jwk &&
		    jose_jws_header_jwk(&jws, &key, &why) == MANDATE_OK)
			(void)jose_jws_verify(&jws, key, JOSE_ALGS_ALL, &why);
		break;
	}
	jose_key_unref(key);
	arena_free(&a);
	return 0;
}

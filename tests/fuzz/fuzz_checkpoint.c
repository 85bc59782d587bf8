/*
 * fuzz_checkpoint.c - the audit log's parsers of untrusted text: signed
 * checkpoints as `mandate audit verify --checkpoint` reads them from a
 * saved file.  The first byte picks the target (mod 3): 0 the rest is a
 * line of a checkpoint file (a JSON line or a bare JWS) whose checkpoint
 * is verified with a fixed key (so seeds can carry valid signatures);
 * 1 the rest is a payload signed here with that key and then verified
 * (the payload parser on any text, past the signature); 2 as 0 without
 * the line parser.  A verified checkpoint must have size >= 1 and sign
 * back to itself.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "audit/audit.h"
#include "jose/jose.h"
#include "util/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* a throwaway P-256 key for this harness only */
static const char key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg2WfVpKq113srQ7sS\n"
    "JKaw4yxLTc4Zxfxxb+GjMNaFdOKhRANCAAS6VrSkS+jksqfZfUzetYhDnYmOlJus\n"
    "4alOozk5mjCmCuND6vkIXEMjIoS9iYjgdn0ONE0BniiywPpwrIY53zxS\n"
    "-----END PRIVATE KEY-----\n";

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct jose_key *key = NULL;
	struct audit_checkpoint c;
	struct arena a;
	struct str text;
	const char *why = NULL;
	int r;

	if (size < 1 || size > 8192)
		return 0;
	if (jose_key_from_pem(key_pem, sizeof(key_pem) - 1, STR_NULL, &key,
	    NULL) != MANDATE_OK)
		abort();
	arena_init(&a, 1u << 20);
	text = str_make((const char *)data + 1, size - 1);
	if (data[0] % 3 == 0) {
		text = audit_checkpoint_from_line(text);
		if (text.n > 0 && (text.p < (const char *)data + 1 ||
		    text.p + text.n > (const char *)data + size))
			abort();       /* must point into the line */
	} else if (data[0] % 3 == 1) {
		struct jose_sign_opts so;
		memset(&so, 0, sizeof(so));
		so.typ = STR_LIT(AUDIT_CHECKPOINT_TYP);
		if (jose_jws_sign(&a, key, JOSE_ALG_ES256, &so, text, &text) !=
		    MANDATE_OK)
			goto out;
	}
	r = audit_checkpoint_verify(&a, text, key, &c, &why);
	if (r == MANDATE_OK) {
		struct audit_checkpoint back;
		struct str again;
		if (c.size < 1 || why != NULL)
			abort();
		if (audit_checkpoint_sign(&a, key, &c, &again) != MANDATE_OK ||
		    audit_checkpoint_verify(&a, again, key, &back, &why) !=
		    MANDATE_OK || back.size != c.size || back.time != c.time ||
		    memcmp(back.root, c.root, MERKLE_HASH_LEN) != 0)
			abort();
	} else if (why == NULL) {
		abort();
	}
out:
	arena_free(&a);
	jose_key_unref(key);
	return 0;
}

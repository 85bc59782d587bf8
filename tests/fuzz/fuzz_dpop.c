/*
 * fuzz_dpop.c - the token service's parsers of untrusted text.  The first
 * byte picks the target (mod 5): 0 a DPoP proof for POST HTU with no
 * token, 1 a DPoP proof presented with the fixed token "tok" (ath), 2 an
 * access token (verify, introspect, revoke), 3 the authorization_details
 * of a token exchange, 4 a URI used as htu both in a proof signed here
 * and as the request's URI (the htu comparison on any text; a URI must
 * match itself unless it is refused).  The rest of the input is the text.  One sts is
 * set up on first use: a temporary SQLite store holding task TASK for
 * AGENT, and a fixed signing key (so seeds can carry valid signatures);
 * the clock is fixed at T0.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <jansson.h>

#include "jose/jose.h"
#include "store/store.h"
#include "sts/sts.h"
#include "util/status.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define T0 1700000000LL
#define HTU "https://mandate.test/oauth2/token"
#define TASK "0123456789abcdef0123456789abcdef"
#define AGENT "spiffe://dev.local/agent/a1"

/* a throwaway P-256 key for this harness only */
static const char key_pem[] =
    "-----BEGIN PRIVATE KEY-----\n"
    "MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQg2WfVpKq113srQ7sS\n"
    "JKaw4yxLTc4Zxfxxb+GjMNaFdOKhRANCAAS6VrSkS+jksqfZfUzetYhDnYmOlJus\n"
    "4alOozk5mjCmCuND6vkIXEMjIoS9iYjgdn0ONE0BniiywPpwrIY53zxS\n"
    "-----END PRIVATE KEY-----\n";

struct harness {
	char dir[64], db[128], key[128], wal[140], shm[140];
	const char *key_files[1];
	struct config_tokens tok;
	struct store *s;
	struct sts *sts;
	struct jose_key *dkey;        /* signs proofs for target 4 */
	unsigned long n_proofs;
};

static struct harness h;

static void
cleanup(void)
{
	jose_key_unref(h.dkey);
	sts_close(h.sts);
	store_close(h.s);
	unlink(h.db);
	unlink(h.wal);
	unlink(h.shm);
	unlink(h.key);
	rmdir(h.dir);
}

static int
init(void)
{
	FILE *fp;
	struct sts_options o;
	struct store_task t;

	snprintf(h.dir, sizeof h.dir, "/tmp/fuzz_dpop.XXXXXX");
	if (mkdtemp(h.dir) == NULL)
		return -1;
	snprintf(h.db, sizeof h.db, "%s/m.db", h.dir);
	snprintf(h.wal, sizeof h.wal, "%s-wal", h.db);
	snprintf(h.shm, sizeof h.shm, "%s-shm", h.db);
	snprintf(h.key, sizeof h.key, "%s/k.pem", h.dir);
	if ((fp = fopen(h.key, "w")) == NULL)
		return -1;
	fputs(key_pem, fp);
	fclose(fp);
	if (chmod(h.key, 0600) != 0)
		return -1;
	atexit(cleanup);
	if (store_open(&store_sqlite_ops, h.db, NULL, &h.s) != MANDATE_OK)
		return -1;
	memset(&t, 0, sizeof t);
	t.id = STR_LIT(TASK);
	t.agent = STR_LIT(AGENT);
	t.delegator = STR_LIT("alice");
	t.intents_json = STR_LIT("[\"read\",{\"action\":\"write\"}]");
	t.created_at = T0;
	t.expires_at = T0 + 3600;
	t.call_budget = 10;
	if (store_task_create(h.s, &t) != MANDATE_OK)
		return -1;
	h.key_files[0] = h.key;
	h.tok.issuer = "https://mandate.test";
	h.tok.audience = "https://api.test";
	h.tok.default_ttl = 300;
	h.tok.max_ttl = 3600;
	h.tok.key_files.v = h.key_files;
	h.tok.key_files.n = 1;
	h.tok.rotation_overlap = 3600;
	h.tok.dpop.algorithms = 0x1f;
	h.tok.dpop.iat_window = 60;
	h.tok.dpop.replay_cache_size = 4096;
	if (jose_key_from_pem(key_pem, sizeof key_pem - 1, STR_NULL, &h.dkey,
	    NULL) != MANDATE_OK)
		return -1;
	memset(&o, 0, sizeof o);
	o.tokens = &h.tok;
	return sts_open(&o, h.s, T0, &h.sts) == MANDATE_OK ? 0 : -1;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int ready;
	struct arena a;
	struct str text;
	char jkt[64];
	const char *why;

	if (ready == 0)
		ready = init() == 0 ? 1 : -1;
	if (ready < 0)
		__builtin_trap();
	if (size < 1)
		return 0;
	text = str_make((const char *)data + 1, size - 1);
	arena_init(&a, 1u << 20);
	switch (data[0] % 5) {
	case 0:
	case 1: {
		int r = sts_dpop_verify(h.sts, text, STR_LIT("POST"),
		    STR_LIT(HTU), data[0] % 4 ? STR_LIT("tok") : STR_NULL,
		    STR_LIT(AGENT), T0, jkt, &why);
		if (r == MANDATE_OK && (why != NULL || strlen(jkt) != 43))
			__builtin_trap();
		if (r != MANDATE_OK && why == NULL && r == MANDATE_EINVAL)
			__builtin_trap();
		break;
	}
	case 2: {
		struct sts_verified v;
		struct str body;
		struct sts_revocation rev;
		(void)sts_verify_access_token(h.sts, text, STR_NULL, STR_NULL,
		    STR_LIT("GET"), STR_LIT(HTU), T0 + 1, &a, &v, &why);
		if (sts_introspect(h.sts, text, T0 + 1, &a, &body) ==
		    MANDATE_OK && body.p == NULL)
			__builtin_trap();
		(void)sts_revoke(h.sts, text, STR_NULL, T0 + 1, &a, &rev);
		break;
	}
	case 4: {
		json_t *pl = json_object();
		char *payload = NULL;
		struct jose_sign_opts so;
		struct str proof;
		json_t *htu = json_stringn(text.p, text.n);
		if (pl == NULL || htu == NULL) {
			json_decref(pl);
			json_decref(htu);
			break;     /* not UTF-8: not a URI anyway */
		}
		h.n_proofs++;
		json_object_set_new(pl, "htm", json_string("GET"));
		json_object_set_new(pl, "htu", htu);
		json_object_set_new(pl, "iat", json_integer(T0));
		json_object_set_new(pl, "jti", json_sprintf("%lu", h.n_proofs));
		payload = json_dumps(pl, JSON_COMPACT);
		json_decref(pl);
		if (payload == NULL)
			break;
		memset(&so, 0, sizeof so);
		so.typ = STR_LIT("dpop+jwt");
		so.embed_jwk = true;
		so.omit_kid = true;
		if (jose_jws_sign(&a, h.dkey, JOSE_ALG_ES256, &so,
		    str_c(payload), &proof) == MANDATE_OK) {
			int r = sts_dpop_verify(h.sts, proof, STR_LIT("GET"),
			    text, STR_NULL, STR_LIT(AGENT), T0, jkt, &why);
			if (r != MANDATE_OK && (why == NULL ||
			    (strcmp(why, "proof htu mismatch") != 0 &&
			    strcmp(why, "proof too large") != 0 &&
			    strcmp(why, "proof missing or too large") != 0 &&
			    strcmp(why, "replay cache full") != 0)))
				__builtin_trap();
		}
		free(payload);
		break;
	}
	default: {
		struct sts_exchange_req req;
		struct sts_result res;
		memset(&req, 0, sizeof req);
		req.grant_type = STR_LIT(STS_GRANT_TOKEN_EXCHANGE);
		req.subject_token_type = STR_LIT(STS_TT_JWT);
		req.authorization_details = text;
		req.subject.sub = STR_LIT(AGENT);
		req.now = T0 + 1;
		if (sts_exchange(h.sts, &req, &a, &res) == MANDATE_OK &&
		    (res.body.p == NULL || res.http_status == 0))
			__builtin_trap();
		break;
	}
	}
	arena_free(&a);
	return 0;
}

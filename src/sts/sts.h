/*
 * sts.h - the security token service core: our signing keys and their
 * rotation, RFC 8693 token exchange into RFC 9068 access tokens scoped to
 * one task, DPoP (RFC 9449) proofs and bound tokens, verification of our
 * own tokens, RFC 7662 introspection, RFC 7009 revocation and the RFC
 * 8414 metadata.  No HTTP here: the daemon maps requests to these calls
 * and the results (OAuth error code, description, HTTP status) back.
 *
 * Threads.  One struct sts is shared by every request thread: every
 * function except sts_open/sts_close may be called concurrently.  Signing
 * keys live in an immutable, reference-counted snapshot (signer, public
 * key set, JWKS text) that a rotation replaces under a mutex; a request
 * holds its reference for the duration of one call, so a rotation never
 * pulls a key from under a signature in progress.  The DPoP replay cache
 * is a bounded table behind its own mutex.
 *
 * Keys.  Private keys are PEM files (PKCS#8, mode 0600) named <kid>.pem in
 * tokens.key_dir (created 0700); the store keeps the metadata and public
 * JWK of each (store_key_*).  The kid is the key's RFC 7638 thumbprint.
 * On first start an ES256 key is generated and active at once (nobody can
 * have cached an older JWKS).  Rotation is "publish, then sign": the new
 * key enters state NEXT and appears in the JWKS immediately, but signs only
 * once sts_keys_tick() sees publish_delay seconds pass (choose it longer
 * than any verifier's JWKS cache time); the previous key is then retired
 * and stays in the JWKS for tokens.rotation_overlap (>= tokens.max_ttl)
 * more seconds, so every token it signed expires before it disappears.
 * Explicit tokens.key_files replace all of this: those keys are loaded
 * (the first signs, the others are published) and rotation is refused.
 *
 * Errors.  Functions return enum mandate_status.  Refusals of a client's
 * request are results, not errors: sts_exchange returns MANDATE_OK with
 * res->error set.  Every failed verification says only "invalid" to the
 * outside; the internal reason (res->reason, *reason) is for the log.
 *
 * Ownership.  Output text is allocated in the caller's arena and lives as
 * long as it.  Input strings are borrowed for the call.
 */
#ifndef MANDATE_STS_H
#define MANDATE_STS_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "audit/writer.h"
#include "store/store.h"
#include "util/arena.h"
#include "util/str.h"

struct ajson;

/* Our authorization_details type (RFC 9396). */
#define STS_AUTHZ_TYPE "mandate_task"

/* RFC 8693 URNs. */
#define STS_GRANT_TOKEN_EXCHANGE \
    "urn:ietf:params:oauth:grant-type:token-exchange"
#define STS_TT_JWT "urn:ietf:params:oauth:token-type:jwt"
#define STS_TT_ACCESS_TOKEN "urn:ietf:params:oauth:token-type:access_token"
#define STS_TT_ID_TOKEN "urn:ietf:params:oauth:token-type:id_token"

/* Bounds. */
#define STS_MAX_TOKEN_LEN   (16u * 1024)  /* access token or DPoP proof */
#define STS_MAX_ACTIONS     1024          /* actions in one token: the
                                           * largest tasks.max_intents */
/* An access token we sign travels in an HTTP header field, and 8 KiB is
 * what common servers take for one: a token that would be longer is
 * refused (invalid_authorization_details: ask for fewer actions), never
 * cut short. */
#define STS_MAX_ISSUED_LEN  (8u * 1024)
#define STS_MAX_AUDIENCES   16            /* audience + resource values */
#define STS_MAX_ACT_DEPTH   16            /* nested act claims */
#define STS_MAX_AUTHZ_LEN   (16u * 1024)  /* authorization_details text */

struct sts;

struct sts_options {
	const struct config_tokens *tokens;   /* required; borrowed for the
	                                       * life of the sts */
	/* Audiences a client may ask for besides tokens->audience (audience
	 * and resource parameters alike); borrowed like tokens. */
	const char *const *audiences;
	size_t n_audiences;
	/* Seconds a NEXT key is published before it signs (see above). */
	int64_t publish_delay;
	/* The audit log every exchange outcome is recorded through
	 * (redaction, sync/async: src/audit/audit.h); borrowed, must outlive
	 * the sts.  NULL (unit tests only): records go straight to the
	 * store, unredacted. */
	struct audit_log *audit;
	/* NULL, or where sts_open() says why it failed when it can name
	 * the setting, the file and the reason ("tokens.key_files: k.pem:
	 * mode 0640: ..."); left as it was otherwise.  Written only during
	 * sts_open(). */
	char *err;
	size_t err_len;
};

/*
 * Open the service: create tokens->key_dir if missing (0700; an existing
 * one open to others is tightened to 0700), load the keys recorded in the
 * store (or tokens->key_files), generate the first key if there is none,
 * and build the first snapshot.  *out is NULL on error: ENOTFOUND or EIO
 * when the active key's file is missing or unreadable (no new key is made
 * silently: tokens in flight would all fail), EINVAL when a key file may be
 * read by others or is not a P-256 key.  One key_dir per
 * store.  s must outlive the sts.  Free with sts_close().
 */
int sts_open(const struct sts_options *opt, struct store *s, int64_t now,
    struct sts **out);
void sts_close(struct sts *sts);     /* NULL is fine; no call in flight */

/* --- keys -------------------------------------------------------------- */

/* Start a rotation: generate a key in state NEXT (published, not signing).
 * *kid (may be NULL) gets its kid in the arena.  EINVAL with explicit key
 * files or while another key is already NEXT. */
int sts_keys_rotate(struct sts *sts, int64_t now, struct arena *a,
    struct str *kid);

/* Time-driven key maintenance (call it every few seconds and before
 * answering JWKS requests is fine; it is cheap when nothing changes): a
 * NEXT key older than publish_delay becomes active and the active one is
 * retired; retired keys past their retire_after leave the JWKS. */
int sts_keys_tick(struct sts *sts, int64_t now);

/* The JWKS (RFC 7517) of every published key, for /.well-known/jwks.json. */
int sts_keys_jwks_json(struct sts *sts, struct arena *a, struct str *out);

/* For /readyz: MANDATE_OK when the active key can sign right now. */
int sts_health(struct sts *sts);

/* The kid that signs right now. */
int sts_keys_active_kid(struct sts *sts, struct arena *a, struct str *out);

/* --- minting ------------------------------------------------------------ */

struct sts_mint_req {
	struct str sub;               /* the agent */
	struct str task_id;
	struct str client_id;         /* empty: same as sub */
	const struct str *aud;        /* at least one */
	size_t n_aud;
	const struct str *actions;    /* granted actions */
	size_t n_actions;
	struct str scope;             /* empty: omitted */
	struct str act_json;          /* RFC 8693 act object text or empty */
	struct str jkt;               /* DPoP thumbprint or empty */
	int64_t now;
	int64_t exp;                  /* > now */
};

struct sts_token {
	struct str access_token;
	struct str jti;
	int64_t exp;
};

/* Sign an RFC 9068 access token and record it (store_cred_insert).
 * MANDATE_ELIMIT when it would be longer than STS_MAX_ISSUED_LEN. */
int sts_mint(struct sts *sts, const struct sts_mint_req *req,
    struct arena *a, struct sts_token *out);

/* --- token exchange (RFC 8693) ----------------------------------------- */

/* A verified identity (from the identity module). */
struct sts_principal {
	struct str sub;               /* SPIFFE ID, or the principal of an
	                               * OIDC sub: its issuer's
	                               * subject_prefix + sub (identity.h) */
	struct str iss;               /* issuer name, may be empty */
	/* Vouched for by a SPIFFE issuer of sub's trust domain (a JWT-SVID
	 * or X.509-SVID).  A sub that is a spiffe: URI is only taken for
	 * that workload (a task's agent, its delegator or act chain) when
	 * this is set: equal strings from an OIDC issuer are refused. */
	bool spiffe;
	/* What the token says of who may present it (from its claims; the
	 * daemon fills them, all empty for an mTLS identity):
	 * cnf_jkt, its RFC 9449 6.1 binding (cnf.jkt): it is taken only
	 * with this request's DPoP proof by that key (dpop_jkt), else a
	 * stolen sender-constrained token would pass as a bearer one;
	 * cnf_other, a cnf this service cannot check (another confirmation
	 * method, or a malformed one): refused; delegated, an act claim
	 * (RFC 8693 4.1): the token was issued to an actor for sub, so its
	 * presenter is not sub itself and would drop out of the chain. */
	struct str cnf_jkt;
	bool cnf_other;
	bool delegated;
};

/* The form fields of a token request; absent fields are empty.  audience
 * and resource may repeat. */
struct sts_exchange_req {
	struct str grant_type;
	struct str subject_token_type;
	struct str requested_token_type;
	bool has_actor_token;
	struct str actor_token_type;
	const struct str *audience;
	size_t n_audience;
	const struct str *resource;
	size_t n_resource;
	struct str scope;
	struct str authorization_details;   /* JSON text */
	struct str client_id;               /* authenticated client or empty */
	struct str request_id;              /* for the audit record */
	struct sts_principal subject;       /* verified subject_token */
	const struct sts_principal *actor;  /* verified actor_token or NULL */
	struct str dpop_jkt;                /* verified proof's jkt or empty */
	int64_t now;
	/* Optional: who writes an issuance's credential row and its
	 * prepared audit record (one transaction, as
	 * store_cred_insert_audited).  NULL: sts_exchange commits them
	 * itself before it returns.  Otherwise it calls issue(issue_arg,
	 * cred, event) instead (their strings live in the exchange's
	 * arena), and the caller must not hand the token out before they
	 * are durable; a failure it returns is a refusal as if the write
	 * had failed (server_error, and a token.refused record). */
	int (*issue)(void *issue_arg, const struct store_credential *cred,
	    const struct store_audit_event *event);
	void *issue_arg;
};

struct sts_result {
	int http_status;              /* 200, 400, 401, 500, 503 */
	const char *error;            /* NULL on success, else the OAuth code */
	const char *description;      /* error_description for the client */
	const char *reason;           /* internal reason for the log */
	struct str body;              /* response JSON (success or error) */
	struct str jti;               /* issued token's jti, or empty */
};

/*
 * Exchange a verified subject for an access token scoped to one task.
 * MANDATE_OK: res->body is the JSON to send with res->http_status, which
 * is either the RFC 8693 response or an OAuth error:
 *   unsupported_grant_type   grant_type is not the token-exchange URN
 *   invalid_request          missing/unsupported token types, an actor
 *                            token without a verified actor, a subject
 *                            or actor token that is delegated (act) or
 *                            bound (cnf) to a key other than the
 *                            request's DPoP proof's, an actor who
 *                            is neither the task's delegator nor in its act
 *                            chain (RFC 8693 2.2.2: unacceptable tokens)
 *   invalid_authorization_details  not exactly one entry of our type with
 *                            a task_id, bad actions, more than
 *                            STS_MAX_ACTIONS actions, an action the task
 *                            does not hold (RFC 9396 section 5), or a
 *                            token that would exceed STS_MAX_ISSUED_LEN
 *   invalid_grant            unknown task, task ended/revoked/expired, or
 *                            the task belongs to another agent
 *   invalid_target           an audience/resource we do not serve
 *   invalid_dpop_proof       dpop.require and no proof, or a dpop_jkt
 *                            that is not a thumbprint
 *   invalid_scope            scope with control characters, or a word
 *                            that is not one of the granted actions
 *   server_error (500)       the task's stored JSON is unreadable
 * Every outcome is appended to the audit log by this function
 * ("token.issued" or "token.refused"); if that append fails after a
 * token was minted, the token is revoked and server_error returned.
 * Other statuses (ENOMEM, EIO...) mean no answer could be made: send 500
 * (res->body then holds a server_error body when possible).
 * An absent "actions" member in the entry asks for all of the task's
 * intents.  Task intents_json is an array whose elements are action names
 * or objects with an "action" string.
 */
int sts_exchange(struct sts *sts, const struct sts_exchange_req *req,
    struct arena *a, struct sts_result *res);

/* --- DPoP (RFC 9449) ---------------------------------------------------- */

/*
 * Verify one DPoP proof for a request with method htm and URI htu (the
 * request's full URI; query and fragment are ignored, scheme and host
 * compared case-insensitively, default ports dropped).  htu may list
 * several URIs separated by single spaces (a URI has none) when the
 * request is reachable under more than one; the proof's must be one of
 * them.  typ is dpop+jwt in any case, application/ prefix allowed (RFC
 * 7515 4.1.9).  access_token
 * (may be empty) is the token presented with it: ath must then match.
 * The proof's jti enters the replay cache (fails when seen within the
 * window, or when the cache is full of live entries: fail closed),
 * charged to owner, the verified identity that presented it (one owner
 * may hold a quarter of the cache: past that its proofs are refused, and
 * the others' are not).
 * MANDATE_OK with jkt (JOSE_THUMBPRINT_LEN + 1 bytes) filled, else
 * MANDATE_EINVAL (or ENOMEM) and *reason (may be NULL) says why.
 */
int sts_dpop_verify(struct sts *sts, struct str proof, struct str htm,
    struct str htu, struct str access_token, struct str owner, int64_t now,
    char *jkt, const char **reason);

/* sts_dpop_verify for a token bound to want_jkt (its cnf.jkt): a proof
 * signed by another key is refused before its jti enters the replay
 * cache, so that the cache can be filled only by the holder of a bound
 * token's private key, not by whoever saw the token. */
int sts_dpop_verify_bound(struct sts *sts, struct str proof, struct str htm,
    struct str htu, struct str access_token, struct str want_jkt,
    struct str owner, int64_t now, const char **reason);

/* Server-provided nonces (RFC 9449 section 8), used when
 * tokens.dpop.nonce is on: a proof must then carry a nonce made by
 * sts_dpop_nonce() in the current or the previous iat_window.  When
 * sts_dpop_verify refuses a proof for its nonce, sts_dpop_reason_is_nonce
 * (reason) is true and the caller answers error "use_dpop_nonce" with a
 * fresh nonce in the DPoP-Nonce header.  Nonces are an HMAC of the time
 * window under a per-process key: stateless, and void after a restart. */
#define STS_DPOP_NONCE_LEN 43
int sts_dpop_nonce(struct sts *sts, int64_t now,
    char out[STS_DPOP_NONCE_LEN + 1]);
bool sts_dpop_reason_is_nonce(const char *reason);

/* The names of the algorithms a proof may use (tokens.dpop.algorithms),
 * space-separated, for the algs of a WWW-Authenticate DPoP challenge. */
const char *sts_dpop_algs(const struct sts *sts);

/* --- our tokens --------------------------------------------------------- */

struct sts_verified {
	struct str sub, jti, task_id, client_id, jkt, scope;
	int64_t exp, iat;
	struct str payload;           /* the claims JSON text */
	const struct ajson *claims;   /* the same, parsed (in the arena) */
};

/*
 * Verify an access token we issued: signature by one of our published
 * keys (kid), typ at+jwt, iss, aud (when aud.p != NULL), exp, and that
 * the credential is usable (not revoked, task active and unexpired, agent
 * not killed).  A DPoP-bound token (cnf.jkt) needs a proof (dpop_proof,
 * htm, htu) made with that key, whose ath matches; with dpop.require every
 * token must be bound.  MANDATE_EINVAL for anything invalid (*reason says
 * what), EIO when the store cannot answer.
 */
int sts_verify_access_token(struct sts *sts, struct str token,
    struct str aud, struct str dpop_proof, struct str htm, struct str htu,
    int64_t now, struct arena *a, struct sts_verified *out,
    const char **reason);

/* How often the signature of an access token was found in the cache of
 * verified signatures (its SHA-256 under the current key set) and how
 * often it had to be verified; for tests and metrics. */
void sts_sigcache_stats(struct sts *sts, uint64_t *hits, uint64_t *misses);

/* RFC 7662: {"active":true, token_type, claims...} for a usable token,
 * else {"active":false} and nothing more.  No DPoP proof is needed (the
 * introspecting caller is a resource server); cnf is returned.  MANDATE_OK
 * unless no answer could be made (EIO, ENOMEM). */
int sts_introspect(struct sts *sts, struct str token, int64_t now,
    struct arena *a, struct str *body);

/* What a revocation did, for its audit record: the credential as the
 * token names it (never the token itself). */
struct sts_revocation {
	bool revoked;                 /* a credential was revoked now */
	bool unrecorded;              /* ... alone: its record failed */
	struct str jti, sub, task_id; /* set when revoked (in the arena) */
	int64_t exp;
};

/* RFC 7009: revoke the token's credential when it is ours and its
 * signature verifies (expired or not); anything else is ignored.  Holding
 * the token is enough to revoke it (revocation only ever removes access);
 * authenticating the caller is the endpoint's job.  A revocation that
 * takes effect is recorded (token.revoked, request_id, the credential's
 * agent and task; fields jti, exp, task_id: never the token) in the same
 * commit (store_cred_revoke_audited), through opt.audit when set.  When
 * that record cannot be written the credential is revoked alone (a
 * revocation only takes access away, and must not wait for the audit
 * log) and out->unrecorded says so: the caller tries the record on its
 * own, and answers 500 if that fails too.  MANDATE_OK in both cases
 * (answer 200); EIO when the store failed and nothing was revoked (503),
 * or when a revocation with out NULL could not be recorded.  *out (may
 * be NULL, and then a too) says whether something was revoked now, and
 * what: its strings are copied into a.  Nothing is revoked (or recorded)
 * for a token already revoked (by this endpoint, its task's end, the
 * kill switch), nor for a valid token whose credential is no longer
 * stored. */
int sts_revoke(struct sts *sts, struct str token, struct str request_id,
    int64_t now, struct arena *a, struct sts_revocation *out);

/* RFC 8414 metadata.  Endpoints are the issuer's URL followed by
 * /oauth2/token, /oauth2/introspect, /oauth2/revoke and
 * /.well-known/jwks.json. */
int sts_metadata_json(struct sts *sts, struct arena *a, struct str *out);

#endif

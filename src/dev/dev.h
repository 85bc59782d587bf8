/*
 * dev.h - the development instance's own identity issuers: a local SPIFFE
 * trust domain (spiffe://dev.local) for agents and an OIDC issuer for
 * people, each with an ES256 key kept in <data_dir>/dev/, and the minting
 * of short-lived tokens with them (`mandate dev svid`, `mandate dev
 * login`).
 *
 * Files in <data_dir>/dev/ (directory 0700, private keys 0600):
 *   spiffe.key.pem     PKCS#8 private key of the trust domain
 *   spiffe-bundle.json its public JWKS ("use": "jwt-svid"), the bundle
 *   oidc.key.pem       PKCS#8 private key of the people issuer
 *   oidc-jwks.json     its public JWKS
 *   instance.json      what the CLI needs to mint tokens the running
 *                      instance accepts: trust_domain, oidc_issuer,
 *                      audience (the token endpoint's issuer), url
 * The kid of each key is its RFC 7638 thumbprint.
 *
 * Only ever used when config dev.enabled is true (which the configuration
 * allows only on a loopback listen address).  Nothing here keeps state:
 * every function may be called from any thread.  Errors: MANDATE_OK, or
 * MANDATE_EIO (file system), MANDATE_ENOTFOUND (no key yet),
 * MANDATE_EINVAL (a bad argument or a damaged file), MANDATE_ENOMEM; a
 * one-line reason goes to err when err is not NULL.
 */
#ifndef MANDATE_DEV_H
#define MANDATE_DEV_H

#include <stddef.h>
#include <stdint.h>

#include "config/config.h"
#include "util/arena.h"
#include "util/str.h"

#define DEV_SUBDIR            "dev"
#define DEV_SPIFFE_KEY        "spiffe.key.pem"
#define DEV_SPIFFE_BUNDLE     "spiffe-bundle.json"
#define DEV_OIDC_KEY          "oidc.key.pem"
#define DEV_OIDC_JWKS         "oidc-jwks.json"
#define DEV_INSTANCE          "instance.json"

/* Issuer names the daemon adds to the identity configuration. */
#define DEV_ISSUER_PEOPLE     "dev"
#define DEV_ISSUER_SPIFFE     "dev-spiffe"

/* tokens.audience of a development instance that sets none: the access
 * tokens are for the development trust domain's tools. */
#define DEV_TOKEN_AUDIENCE    "dev.local"

#define DEV_NAME_MAX          64          /* agent and user names */
#define DEV_TTL_DEFAULT       300         /* seconds */
#define DEV_TTL_MAX           (24 * 3600)
/* The sub of a person's token begins with it (the people issuer's
 * subject_prefix, carried by the tokens: an unprefixed sub is refused). */
#define DEV_USER_PREFIX       CONFIG_DEV_SUBJECT_PREFIX

enum dev_which { DEV_KEY_SPIFFE = 0, DEV_KEY_OIDC };

/*
 * For the daemon at start-up, with cfg->dev.enabled: create the keys
 * when absent (<data_dir>/dev/, 0700/0600), write the public key sets and
 * instance.json, and add the two issuers to the effective configuration
 * (allocated in cfg->arena): DEV_ISSUER_SPIFFE for cfg->dev.trust_domain
 * (audience cfg->tokens.issuer or its token endpoint <issuer>/oauth2/token)
 * and DEV_ISSUER_PEOPLE for cfg->dev.oidc_issuer (audience
 * cfg->tokens.issuer, subjects DEV_USER_PREFIX + NAME: the prefix is
 * required in the tokens' sub, so that its people are named apart from
 * every configured issuer's), both ES256 only; DEV_ISSUER_PEOPLE is
 * appended to api_auth.bearer_issuers; tokens.audience defaults to
 * DEV_TOKEN_AUDIENCE.  Call before identity_new(); the config must
 * not be shared yet.  An existing issuer with either name is refused.
 */
int dev_setup(struct config *cfg, char *err, size_t err_len);

/* Only the configuration part of dev_setup: the two issuers (their key
 * files named, not created), the bearer issuer and the audience, for
 * `mandate serve --print-config`.  Touches no file. */
int dev_config_apply(struct config *cfg, char *err, size_t err_len);

/* Names: 1..DEV_NAME_MAX of [A-Za-z0-9._-], not "." or "..". */
bool dev_name_ok(const char *name);

/* "300", "300s", "5m", "2h" into seconds in [1, DEV_TTL_MAX]. */
int dev_parse_ttl(const char *s, int64_t *out);

/* What instance.json says; every string in arena a, absent members take
 * the defaults of a development instance on 127.0.0.1:8700. */
struct dev_instance {
	const char *trust_domain;
	const char *oidc_issuer;
	const char *audience;
	const char *url;
};
int dev_instance_read(const char *data_dir, struct arena *a,
    struct dev_instance *out, char *err, size_t err_len);

/*
 * Mint a token with the key of `which` read from <data_dir>/dev/
 * (MANDATE_ENOTFOUND when there is none):
 *   DEV_KEY_SPIFFE: a JWT-SVID, sub = `subject` (a SPIFFE ID), typ JWT;
 *   DEV_KEY_OIDC:   an OIDC token, iss = `iss`, sub = `subject`.
 * aud = audience, iat = now, exp = now + ttl, a random jti.  The compact
 * JWS goes to arena a (NUL-terminated).
 */
int dev_mint(const char *data_dir, enum dev_which which, const char *iss,
    const char *subject, const char *audience, int64_t ttl, int64_t now,
    struct arena *a, struct str *out, char *err, size_t err_len);

#endif

/*
 * x509.c - X.509-SVIDs: the trust domain's CA store (x509_ca_file and
 * the bundle's "use":"x509-svid" keys with x5c), and the verification of
 * a client chain against it with the SPIFFE leaf rules.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "identity/identity_int.h"
#include "util/json.h"
#include "util/status.h"

/* Standard base64 (x5c is not base64url) of one certificate into a DER
 * X509; NULL when it does not decode or parse exactly. */
static X509 *
x5c_cert(struct str b64)
{
	unsigned char *der = NULL;
	const unsigned char *p;
	X509 *x = NULL;
	int n, pad = 0;

	if (b64.n == 0 || b64.n % 4 != 0 || b64.n > 4 * IDENTITY_MAX_CERT / 3
	    + 4)
		return NULL;
	if ((der = malloc(b64.n / 4 * 3 + 1)) == NULL)
		return NULL;
	n = EVP_DecodeBlock(der, (const unsigned char *)b64.p, (int)b64.n);
	if (n < 0)
		goto out;
	if (b64.p[b64.n - 1] == '=')
		pad++;
	if (b64.p[b64.n - 2] == '=')
		pad++;
	n -= pad;
	p = der;
	x = d2i_X509(NULL, &p, n);
	if (x != NULL && p != der + n) {
		X509_free(x);
		x = NULL;
	}
out:
	free(der);
	return x;
}

int
id_x509_store_build(const struct identity_verifier *v,
    const struct config_issuer *cfg, const char *bundle, size_t bundle_len,
    X509_STORE **out)
{
	struct ajson_opts o = { .max_depth = 16,
	    .max_len = JOSE_JWKS_MAX_LEN };
	const struct ajson *doc = NULL, *keys;
	X509_STORE *store = NULL;
	struct arena a;
	size_t n_ca = 0;
	int r = MANDATE_ENOMEM;

	*out = NULL;
	arena_init(&a, 4u * 1024 * 1024);
	if ((store = X509_STORE_new()) == NULL)
		goto out;
	if (cfg->x509_ca_file != NULL) {
		if (X509_STORE_load_file(store, cfg->x509_ca_file) != 1) {
			id_log(v, IDENTITY_LOG_ERROR, "issuer %s: cannot load "
			    "CA file %s", cfg->name, cfg->x509_ca_file);
			r = MANDATE_EIO;
			goto out;
		}
		n_ca++;
	}
	if (ajson_parse(&a, bundle, bundle_len, &o, &doc, NULL) !=
	    MANDATE_OK || !ajson_is(keys = ajson_get(doc, "keys"),
	    AJSON_ARRAY)) {
		r = MANDATE_EINVAL;
		goto out;
	}
	for (size_t i = 0; i < keys->u.arr.n; i++) {
		const struct ajson *k = &keys->u.arr.items[i];
		const struct ajson *use = ajson_get(k, "use");
		const struct ajson *x5c = ajson_get(k, "x5c");
		X509 *x;

		if (!ajson_is(use, AJSON_STRING) ||
		    !str_eq_c(use->u.s, "x509-svid"))
			continue;
		if (!ajson_is(x5c, AJSON_ARRAY) || x5c->u.arr.n == 0 ||
		    x5c->u.arr.items[0].type != AJSON_STRING ||
		    (x = x5c_cert(x5c->u.arr.items[0].u.s)) == NULL) {
			id_log(v, IDENTITY_LOG_WARN, "issuer %s: skipping an "
			    "x509-svid key without a usable x5c", cfg->name);
			continue;
		}
		if (X509_STORE_add_cert(store, x) == 1)
			n_ca++;
		X509_free(x);
	}
	if (n_ca == 0) {
		/* no CA: X.509-SVIDs of this domain are refused */
		X509_STORE_free(store);
		store = NULL;
	}
	*out = store;
	store = NULL;
	r = MANDATE_OK;
out:
	X509_STORE_free(store);
	arena_free(&a);
	return r;
}

static int64_t
asn1_time_epoch(const ASN1_TIME *t)
{
	struct tm tm;

	if (t == NULL || ASN1_TIME_to_tm(t, &tm) != 1)
		return 0;
	return (int64_t)timegm(&tm);
}

/* The one URI SAN of x, or an empty str (zero or several). */
static int
one_uri_san(X509 *x, struct arena *a, struct str *out)
{
	GENERAL_NAMES *names;
	struct str uri = STR_NULL;
	int n_uri = 0, r = MANDATE_EINVAL;

	*out = STR_NULL;
	names = X509_get_ext_d2i(x, NID_subject_alt_name, NULL, NULL);
	if (names == NULL)
		return MANDATE_EINVAL;
	for (int i = 0; i < sk_GENERAL_NAME_num(names); i++) {
		const GENERAL_NAME *g = sk_GENERAL_NAME_value(names, i);

		if (g->type != GEN_URI)
			continue;
		n_uri++;
		uri = str_make((const char *)ASN1_STRING_get0_data(
		    g->d.uniformResourceIdentifier),
		    (size_t)ASN1_STRING_length(g->d.uniformResourceIdentifier));
	}
	if (n_uri == 1 && uri.n > 0) {
		*out = arena_strdup(a, uri.p, uri.n);
		r = out->p != NULL ? MANDATE_OK : MANDATE_ENOMEM;
	}
	GENERAL_NAMES_free(names);
	return r;
}

int
identity_verify_x509(struct identity_verifier *v,
    const struct identity_der *chain, size_t n, int64_t now,
    struct arena *a, struct identity_principal *out,
    enum identity_reason *why)
{
	enum identity_reason reason = IDENTITY_R_X509_PARSE, dummy;
	STACK_OF(X509) *untrusted = NULL;
	X509_STORE_CTX *ctx = NULL;
	X509_STORE *store = NULL;
	struct jose_keyset *set = NULL;
	struct id_issuer *is = NULL;
	struct str id, td, path;
	X509 *leaf = NULL;
	uint64_t gen;
	uint32_t ku;
	int r = MANDATE_EINVAL;

	if (why == NULL)
		why = &dummy;
	if (out != NULL)
		memset(out, 0, sizeof(*out));
	if (v == NULL || a == NULL || out == NULL || chain == NULL) {
		reason = IDENTITY_R_INTERNAL;
		goto out;
	}
	if (n == 0 || n > IDENTITY_MAX_CHAIN) {
		reason = IDENTITY_R_X509_CHAIN;
		goto out;
	}
	if ((untrusted = sk_X509_new_null()) == NULL) {
		r = MANDATE_ENOMEM;
		reason = IDENTITY_R_NOMEM;
		goto out;
	}
	for (size_t i = 0; i < n; i++) {
		const unsigned char *p = chain[i].der;
		X509 *x;

		if (p == NULL || chain[i].len == 0 ||
		    chain[i].len > IDENTITY_MAX_CERT)
			goto out;
		x = d2i_X509(NULL, &p, (long)chain[i].len);
		if (x == NULL)
			goto out;
		if (p != chain[i].der + chain[i].len) {
			X509_free(x);
			goto out;
		}
		if (i == 0) {
			leaf = x;
		} else if (!sk_X509_push(untrusted, x)) {
			X509_free(x);
			r = MANDATE_ENOMEM;
			reason = IDENTITY_R_NOMEM;
			goto out;
		}
	}

	/* the leaf's SPIFFE ID picks the trust domain */
	if ((r = one_uri_san(leaf, a, &id)) != MANDATE_OK) {
		reason = r == MANDATE_ENOMEM ? IDENTITY_R_NOMEM :
		    IDENTITY_R_X509_SAN;
		goto out;
	}
	r = MANDATE_EINVAL;
	if (identity_spiffe_id_parse(id.p, id.n, &td, &path) != MANDATE_OK ||
	    path.n == 0) {
		reason = IDENTITY_R_SPIFFE_ID;
		goto out;
	}
	for (size_t i = 0; i < v->n_issuers && is == NULL; i++)
		if (v->issuers[i].cfg->kind == CONFIG_ISSUER_SPIFFE &&
		    str_eq_c(td, v->issuers[i].cfg->trust_domain))
			is = &v->issuers[i];
	if (is == NULL) {
		reason = IDENTITY_R_TRUST_DOMAIN;
		goto out;
	}

	/* leaf rules */
	if (X509_check_ca(leaf) != 0 ||
	    (X509_get_extension_flags(leaf) & EXFLAG_CA) != 0 ||
	    (X509_get_extension_flags(leaf) & EXFLAG_KUSAGE) == 0) {
		reason = IDENTITY_R_X509_LEAF;
		goto out;
	}
	ku = X509_get_key_usage(leaf);
	if ((ku & KU_DIGITAL_SIGNATURE) == 0 ||
	    (ku & (KU_KEY_CERT_SIGN | KU_CRL_SIGN)) != 0) {
		reason = IDENTITY_R_X509_LEAF;
		goto out;
	}
	/* RFC 5280 4.2.1.12: an extendedKeyUsage names what the key may do;
	 * a caller's must allow clientAuth (or any).  A server's certificate
	 * (serverAuth only) is not a client's.  No extension: any purpose.
	 * Checked here rather than with X509_PURPOSE_SSL_CLIENT, which also
	 * refuses anyExtendedKeyUsage and applies to the CAs of the chain. */
	if ((X509_get_extension_flags(leaf) & EXFLAG_XKUSAGE) != 0 &&
	    (X509_get_extended_key_usage(leaf) &
	    (XKU_SSL_CLIENT | XKU_ANYEKU)) == 0) {
		reason = IDENTITY_R_X509_LEAF;
		goto out;
	}

	/* chain */
	if (id_issuer_acquire(v, is, false, &set, &store, &gen, &reason) !=
	    MANDATE_OK)
		goto out;
	if (store == NULL) {
		reason = IDENTITY_R_X509_CHAIN;
		goto out;
	}
	if ((ctx = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(ctx, store, leaf, untrusted) != 1) {
		r = MANDATE_ENOMEM;
		reason = IDENTITY_R_NOMEM;
		goto out;
	}
	X509_STORE_CTX_set_time(ctx, 0, (time_t)now);
	/* every certificate of the trust domain's bundle is a trust anchor
	 * (SPIFFE bundles may hold intermediates, e.g. SPIRE with an
	 * upstream authority), hence PARTIAL_CHAIN */
	X509_STORE_CTX_set_flags(ctx, X509_V_FLAG_X509_STRICT |
	    X509_V_FLAG_PARTIAL_CHAIN);
	/* 112 bits at least (NIST SP 800-57): no RSA key under 2048 bits,
	 * no SHA-1 signature, anywhere in the chain.  Without it OpenSSL
	 * checks no key size at all.  The TLS layer's %PROFILE_MEDIUM
	 * (http_native.c) is the same bar. */
	X509_VERIFY_PARAM_set_auth_level(X509_STORE_CTX_get0_param(ctx), 2);
	if (X509_verify_cert(ctx) != 1) {
		id_log(v, IDENTITY_LOG_DEBUG, "issuer %s: chain: %s",
		    is->cfg->name, X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(ctx)));
		reason = IDENTITY_R_X509_CHAIN;
		goto out;
	}

	out->kind = IDENTITY_KIND_SPIFFE;
	out->issuer_name = str_c(is->cfg->name);
	out->issuer = str_make("", 0);
	out->subject = id;
	if ((out->trust_domain = arena_strdup(a, td.p, td.n)).p == NULL) {
		r = MANDATE_ENOMEM;
		reason = IDENTITY_R_NOMEM;
		goto out;
	}
	out->exp = asn1_time_epoch(X509_get0_notAfter(leaf));
	out->claims_json = str_make("", 0);
	out->k8s_namespace = str_make("", 0);
	out->k8s_service_account = str_make("", 0);
	reason = IDENTITY_R_OK;
	r = MANDATE_OK;
out:
	if (r != MANDATE_OK && out != NULL)
		memset(out, 0, sizeof(*out));
	X509_STORE_CTX_free(ctx);
	X509_STORE_free(store);
	jose_keyset_unref(set);
	X509_free(leaf);
	sk_X509_pop_free(untrusted, X509_free);
	*why = reason;
	return r;
}

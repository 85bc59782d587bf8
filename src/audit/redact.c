/*
 * redact.c - secrets out of audit records: configured paths, secret names
 * and secret-looking values become a keyed HMAC-SHA-256 of the value.
 *
 * The rules are deliberately on the safe side: a value that merely looks
 * like a credential is replaced too (it can still be matched by its HMAC).
 * Names that are known to hold identifiers or digests (…_id, …_hash, jti,
 * kid, jkt) are spared the entropy rule only, never the structural ones
 * (JWT, PEM, well-known key prefixes).  redact.h has the contract.
 */
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>

#include "audit/jtext.h"
#include "audit/redact.h"
#include "util/file.h"
#include "util/status.h"
#include "util/utf8.h"

struct redact_path {
	char **seg;
	size_t n_seg;
};

struct redact {
	unsigned char key[REDACT_KEY_LEN];
	/* HMAC-SHA-256 (RFC 2104) with the key's inner and outer blocks
	 * absorbed once: each HMAC copies these states (a one-shot HMAC()
	 * looked the algorithms up and keyed itself on every call) */
	EVP_MD_CTX *inner, *outer;
	struct redact_path *paths;
	size_t n_paths;
};

static const char hexd[] = "0123456789abcdef";

/* ---- character classes ---- */

static int
lower(int c)
{
	return c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c;
}

static bool
is_alnum(int c)
{
	return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
	    (c >= 'A' && c <= 'Z');
}

static bool
is_b64url(int c)
{
	return is_alnum(c) || c == '-' || c == '_';
}

/* A pattern with its length (the tables below are checked against every
 * member name and string of every record: no strlen per comparison). */
struct pat {
	const char *p;
	size_t n;
};

#define PAT(lit) { lit, sizeof(lit) - 1 }
#define N_PATS(a) (sizeof(a) / sizeof((a)[0]))

static bool
prefix_ci_n(struct str s, const char *p, size_t n)
{
	if (s.n < n)
		return false;
	for (size_t i = 0; i < n; i++)
		if (lower((unsigned char)s.p[i]) != lower((unsigned char)p[i]))
			return false;
	return true;
}

/* p a string literal: its length is known at compile time (these run on
 * every value of every record) */
#define has_prefix_ci(str_, lit_) prefix_ci_n(str_, lit_, sizeof(lit_) - 1)
#define eq_ci(str_, lit_) ((str_).n == sizeof(lit_) - 1 && \
	has_prefix_ci(str_, lit_))

/* (The pattern tables are lower case; callers try a suffix only when its
 * last character is the name's, lowered: most names match none.) */
static bool
ends_ci_n(struct str s, struct pat p)
{
	return s.n >= p.n && prefix_ci_n(str_make(s.p + s.n - p.n, p.n), p.p,
	    p.n);
}

static bool
contains_ci_n(struct str s, struct pat p)
{
	int first = lower((unsigned char)p.p[0]);

	for (size_t i = 0; i + p.n <= s.n; i++)
		if (lower((unsigned char)s.p[i]) == first &&
		    prefix_ci_n(str_make(s.p + i, s.n - i), p.p, p.n))
			return true;
	return false;
}

/* Does h[0..hn) hold nd[0..nn)?  memchr for the first byte, then memcmp:
 * the haystacks here are short (names, values), where glibc's memmem
 * spends more setting up than searching. */
static bool
has_sub(const char *h, size_t hn, const char *nd, size_t nn)
{
	while (hn >= nn) {
		const char *p = memchr(h, nd[0], hn - nn + 1);

		if (p == NULL)
			return false;
		if (memcmp(p, nd, nn) == 0)
			return true;
		hn -= (size_t)(p - h) + 1;
		h = p + 1;
	}
	return false;
}

/* Does s hold the string literal p? */
#define contains(str_, lit_) has_sub((str_).p, (str_).n, lit_, \
	sizeof(lit_) - 1)

/* ---- names ---- */

/* Does name end in w as a word of its own: the whole name, or after
 * '_', '-', '.' or ' ', or as a capitalised word after a small letter
 * or digit ("dbPass")?  (w lower case; "bypass" and "OAuth" do not end
 * in the words "pass" and "auth".) */
static bool
ends_word(struct str name, struct pat w)
{
	size_t at;
	int c, prev;

	if (!ends_ci_n(name, w))
		return false;
	if ((at = name.n - w.n) == 0)
		return true;
	prev = (unsigned char)name.p[at - 1];
	if (prev == '_' || prev == '-' || prev == '.' || prev == ' ')
		return true;
	c = (unsigned char)name.p[at];
	return c >= 'A' && c <= 'Z' && ((prev >= 'a' && prev <= 'z') ||
	    (prev >= '0' && prev <= '9'));
}

/* "max_tokens", "promptTokens", "n_tokens": a count of a language
 * model's tokens, not tokens.  head is the name before "token(s)". */
static bool
token_count(struct str head)
{
	static const struct pat counts[] = { PAT("max"), PAT("min"),
	    PAT("num"), PAT("n"), PAT("total"), PAT("prompt"),
	    PAT("completion"), PAT("input"), PAT("output"), PAT("cached"),
	    PAT("reasoning"), PAT("remaining"), PAT("used"), PAT("new"),
	    PAT("generated") };

	if (head.n > 0 && (head.p[head.n - 1] == '_' ||
	    head.p[head.n - 1] == '-' || head.p[head.n - 1] == '.'))
		head.n--;
	for (size_t i = 0; i < N_PATS(counts); i++)
		if (ends_word(head, counts[i]))
			return true;
	return false;
}

/* The suffix rules of redact_name_is_secret() for one form of the name
 * (as given, then without a plural 's').  The patterns are grouped by
 * their last character: every member name of every record comes here,
 * and most end in a character no pattern ends in. */
static bool
name_suffix_secret(struct str name)
{
	/* the name's end, wherever it starts ("x-api-key", "accessToken") */
	static const struct pat end_y[] = { PAT("apikey"), PAT("api_key"),
	    PAT("api-key"), PAT("private_key"), PAT("privatekey"),
	    PAT("private-key"), PAT("priv_key"), PAT("privkey"),
	    PAT("access_key"), PAT("accesskey"), PAT("access-key"),
	    PAT("secret_key"), PAT("signing_key"), PAT("signingkey"),
	    PAT("signing-key"), PAT("ssh_key"), PAT("sshkey"),
	    PAT("ssh-key"), PAT("master_key"), PAT("masterkey"),
	    PAT("master-key"), PAT("encryption_key"), PAT("encryptionkey"),
	    PAT("encryption-key"), PAT("account_key"), PAT("accountkey"),
	    PAT("account-key"), PAT("shared_key"), PAT("sharedkey"),
	    PAT("shared-key") };
	static const struct pat end_e[] = { PAT("cookie"), PAT("signature"),
	    PAT("pin_code"), PAT("pincode"), PAT("pin-code"),
	    PAT("otp_code"), PAT("otpcode"), PAT("otp-code"),
	    PAT("mfa_code"), PAT("mfacode"), PAT("mfa-code"),
	    PAT("2fa_code"), PAT("2facode") };
	static const struct pat end_n[] = { PAT("authorization"),
	    PAT("authentication"), PAT("dsn") };
	static const struct pat end_r[] = { PAT("auth_header"),
	    PAT("authheader"), PAT("auth-header"), PAT("bearer") };
	static const struct pat end_d[] = { PAT("sessionid"),
	    PAT("session_id"), PAT("session-id"), PAT("sessid"),
	    PAT("pword") };
	static const struct pat end_l[] = { PAT("credential") };
	static const struct pat end_t[] = { PAT("jwt") };
	static const struct pat end_v[] = { PAT("cvv") };
	static const struct pat end_c[] = { PAT("cvc") };
	/* a word of its own at the name's end ("db_pass", "dbPw", "x-auth",
	 * "email_otp"), or the whole name */
	static const struct pat word_s[] = { PAT("pass") };
	static const struct pat word_w[] = { PAT("pw") };
	static const struct pat word_d[] = { PAT("pwd") };
	static const struct pat word_n[] = { PAT("pin") };
	static const struct pat word_h[] = { PAT("auth") };
	static const struct pat word_p[] = { PAT("otp"), PAT("totp"),
	    PAT("hotp") };
	static const struct pat word_g[] = { PAT("sig") };
	const struct pat *end = NULL, *word = NULL;
	size_t n_end = 0, n_word = 0;

#define GROUP(e_, w_) (end = (e_), n_end = N_PATS(e_), word = (w_), \
	n_word = (w_) != NULL ? 1 : 0)
	switch (lower((unsigned char)name.p[name.n - 1])) {
	case 'y': GROUP(end_y, NULL); break;
	case 'e': GROUP(end_e, NULL); break;
	case 'n':
		if (ends_ci_n(name, (struct pat)PAT("token")) &&
		    !token_count(str_make(name.p, name.n - 5)))
			return true;
		GROUP(end_n, word_n);
		break;
	case 'r': GROUP(end_r, NULL); break;
	case 'd': GROUP(end_d, word_d); break;
	case 'l': GROUP(end_l, NULL); break;
	case 't': GROUP(end_t, NULL); break;
	case 'v': GROUP(end_v, NULL); break;
	case 'c': GROUP(end_c, NULL); break;
	case 's': word = word_s, n_word = 1; break;
	case 'w': word = word_w, n_word = 1; break;
	case 'h': word = word_h, n_word = 1; break;
	case 'p': word = word_p, n_word = N_PATS(word_p); break;
	case 'g': word = word_g, n_word = 1; break;
	default: return false;
	}
#undef GROUP
	for (size_t i = 0; i < n_end; i++)
		if (ends_ci_n(name, end[i]))
			return true;
	for (size_t i = 0; i < n_word; i++)
		if (ends_word(name, word[i]))
			return true;
	return eq_ci(name, "sid");   /* a session id (not "user_sid") */
}

bool
redact_name_is_secret(struct str name)
{
	static const struct pat anywhere[] = { PAT("password"),
	    PAT("passwd"), PAT("passphrase"), PAT("passcode"),
	    PAT("secret") };
	char low[64];

	if (name.n == 0)
		return false;
	if (name.n > sizeof(low)) {       /* rare: the general scan */
		for (size_t i = 0; i < N_PATS(anywhere); i++)
			if (contains_ci_n(name, anywhere[i]))
				return true;
	} else {
		/* lowered once, then searched: every member name of every
		 * record comes here */
		for (size_t i = 0; i < name.n; i++)
			low[i] = (char)lower((unsigned char)name.p[i]);
		if (has_sub(low, name.n, "secret", 6))
			return true;
		if (has_sub(low, name.n, "pass", 4))
			for (size_t i = 0; i < 4; i++)
				if (has_sub(low, name.n, anywhere[i].p,
				    anywhere[i].n))
					return true;
	}
	if (name_suffix_secret(name))
		return true;
	/* plurals: "api_keys", "cookies", "tokens", "signatures" */
	return name.n > 1 && lower((unsigned char)name.p[name.n - 1]) == 's' &&
	    name_suffix_secret(str_make(name.p, name.n - 1));
}

/* Names that hold identifiers or digests: spared the entropy rule. */
static bool
name_is_identifier(struct str name)
{
	static const struct pat suffix[] = { PAT("id"), PAT("hash"),
	    PAT("jti"), PAT("kid"), PAT("jkt"), PAT("digest"),
	    PAT("thumbprint"), PAT("ids") };
	int last;

	if (name.n == 0)
		return false;
	last = lower((unsigned char)name.p[name.n - 1]);
	for (size_t i = 0; i < N_PATS(suffix); i++)
		if (suffix[i].p[suffix[i].n - 1] == last &&
		    ends_ci_n(name, suffix[i]))
			return true;
	return false;
}

/* ---- values ---- */

/* header.payload.signature (or a five-part JWE), base64url parts, the
 * header starting with "eyJ" (base64url of `{"`). */
static bool
looks_jwt(struct str v)
{
	size_t parts = 1, run = 0;

	if (v.n < 20 || !has_prefix_ci(v, "eyj") || v.p[0] != 'e' ||
	    v.p[2] != 'J')
		return false;
	for (size_t i = 0; i < v.n; i++) {
		if (v.p[i] == '.') {
			parts++;
			run = 0;
			continue;
		}
		if (!is_b64url((unsigned char)v.p[i]) && v.p[i] != '=')
			return false;
		run++;
	}
	(void)run;
	return parts == 3 || parts == 5;
}

/* The well-known API key prefixes, each with the alphabet of its key:
 * the key is the prefix and at least 16 characters of the alphabet, one
 * of them a digit or a capital (so that "sk-learn-compatible-models"
 * or "npm_config_registry_url" are words, not keys). */
enum key_alpha {
	KA_B64URL,       /* A-Z a-z 0-9 - _ */
	KA_DOT,          /* and '.' (ya29., SG.) */
	KA_UPPER,        /* A-Z 0-9 (AWS key ids) */
};

struct key_prefix {
	const char *p;
	size_t n;
	enum key_alpha alpha;
};

#define KP(lit, a) { lit, sizeof(lit) - 1, a }

static const struct key_prefix key_prefixes[] = { KP("sk-", KA_B64URL),
    KP("sk_live_", KA_B64URL), KP("sk_test_", KA_B64URL),
    KP("rk_live_", KA_B64URL), KP("rk_test_", KA_B64URL),
    KP("pk_live_", KA_B64URL), KP("ghp_", KA_B64URL),
    KP("gho_", KA_B64URL), KP("ghu_", KA_B64URL), KP("ghs_", KA_B64URL),
    KP("ghr_", KA_B64URL), KP("github_pat_", KA_B64URL),
    KP("glpat-", KA_B64URL), KP("xoxb-", KA_B64URL),
    KP("xoxp-", KA_B64URL), KP("xoxa-", KA_B64URL),
    KP("xoxr-", KA_B64URL), KP("xoxs-", KA_B64URL),
    KP("xapp-", KA_B64URL), KP("AKIA", KA_UPPER), KP("ASIA", KA_UPPER),
    KP("AIza", KA_B64URL), KP("ya29.", KA_DOT), KP("npm_", KA_B64URL),
    KP("hf_", KA_B64URL), KP("SG.", KA_DOT), KP("shpat_", KA_B64URL),
    KP("shpss_", KA_B64URL), KP("sq0atp-", KA_B64URL),
    KP("dop_v1_", KA_B64URL), KP("pypi-", KA_B64URL),
    KP("mnd_", KA_B64URL) };

static bool
in_key_alpha(int c, enum key_alpha a)
{
	switch (a) {
	case KA_UPPER:
		return (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9');
	case KA_DOT:
		return is_b64url(c) || c == '.';
	case KA_B64URL:
		break;
	}
	return is_b64url(c);
}

/* A key of prefix k at the start of t: its end (past the last key
 * character), or 0. */
static size_t
key_span(struct str t, const struct key_prefix *k)
{
	bool strong = false;
	size_t e;

	if (t.n < k->n + 16 || t.p[1] != k->p[1] ||
	    memcmp(t.p, k->p, k->n) != 0)
		return 0;
	for (e = k->n; e < t.n && in_key_alpha((unsigned char)t.p[e],
	    k->alpha); e++)
		strong |= (t.p[e] >= '0' && t.p[e] <= '9') ||
		    (t.p[e] >= 'A' && t.p[e] <= 'Z');
	while (k->alpha == KA_DOT && e > k->n && t.p[e - 1] == '.')
		e--;             /* a sentence's full stop */
	return e - k->n >= 16 && strong ? e : 0;
}

/* A well-known API key prefix followed by at least 16 key characters
 * (the whole value: the broader alphabet of base64 is allowed too). */
static bool
looks_api_key(struct str v)
{
	if (v.n < 3 + 16)
		return false;       /* shorter than the shortest prefix's key */
	for (size_t i = 0; i < N_PATS(key_prefixes); i++) {
		const struct key_prefix *kp = &key_prefixes[i];
		bool strong = false;
		size_t k;

		if (v.p[0] != kp->p[0] || v.n < kp->n + 16 ||
		    memcmp(v.p, kp->p, kp->n) != 0)
			continue;
		for (k = kp->n; k < v.n; k++) {
			int c = (unsigned char)v.p[k];
			if (!is_b64url(c) && c != '.' && c != '/' && c != '+' &&
			    c != '=')
				break;
			strong |= (c >= '0' && c <= '9') ||
			    (c >= 'A' && c <= 'Z');
		}
		if (k == v.n && strong)
			return true;
	}
	return false;
}

/* A long single token with mixed character classes and high Shannon
 * entropy, or a long hex string (hex keys, HMAC secrets).  However long:
 * a key does not stop being one past some size (one pass, no state). */
static bool
looks_random(struct str v)
{
	unsigned counts[256];
	bool digit = false, up = false, low = false, hex = true;
	double h = 0;

	if (v.n < 24)
		return false;
	memset(counts, 0, sizeof(counts));
	for (size_t i = 0; i < v.n; i++) {
		int c = (unsigned char)v.p[i];

		if (!is_alnum(c) && c != '+' && c != '/' && c != '=' &&
		    c != '_' && c != '-' && c != '.' && c != '~')
			return false;
		digit |= c >= '0' && c <= '9';
		up |= c >= 'A' && c <= 'Z';
		low |= c >= 'a' && c <= 'z';
		hex &= hex_digit_value(c) >= 0;
		counts[c]++;
	}
	if (hex)
		return v.n >= 40 && digit && (up || low);
	if (!(digit && up && low))
		return false;
	for (size_t c = 0; c < 256; c++) {
		if (counts[c] > 0) {
			double p = (double)counts[c] / (double)v.n;
			h -= p * log2(p);
		}
	}
	return h >= 4.0;
}

static bool
is_hmac_form(struct str v)
{
	if (v.n != REDACT_HMAC_LEN || memcmp(v.p, "hmac:", 5) != 0)
		return false;
	for (size_t i = 5; i < v.n; i++)
		if (!((v.p[i] >= '0' && v.p[i] <= '9') ||
		    (v.p[i] >= 'a' && v.p[i] <= 'f')))
			return false;
	return true;
}

/* Is "PRIVATE KEY" at i the armour of a private key block: followed on
 * its line by capitals and spaces up to "----"?  PEM and OpenSSH
 * ("PRIVATE KEY-----"), OpenPGP ("PRIVATE KEY BLOCK-----"), SSH2 and
 * PuTTY exports ("PRIVATE KEY ----"). */
static bool
key_armour_at(struct str t, size_t i)
{
	size_t k = i + 11;

	if (i + 11 > t.n || memcmp(t.p + i, "PRIVATE KEY", 11) != 0)
		return false;
	while (k < t.n && k < i + 40 && ((t.p[k] >= 'A' && t.p[k] <= 'Z') ||
	    t.p[k] == ' '))
		k++;
	return k + 4 <= t.n && memcmp(t.p + k, "----", 4) == 0;
}

/* Does t hold a private key block's armour anywhere? */
static bool
has_key_armour(struct str t)
{
	const char *h = t.p;
	size_t hn = t.n;

	while (hn >= 15) {
		const char *p = memchr(h, 'P', hn - 14);

		if (p == NULL)
			return false;
		if (key_armour_at(t, (size_t)(p - t.p)))
			return true;
		hn -= (size_t)(p - h) + 1;
		h = p + 1;
	}
	return false;
}

/* Structural rules (always) and the entropy rule (unless spared). */
static bool
value_secret(struct str v, bool entropy)
{
	if (v.n < 8 || is_hmac_form(v))
		return false;
	if (has_key_armour(v))
		return true;
	if (looks_jwt(v) || looks_api_key(v))
		return true;
	if (has_prefix_ci(v, "bearer ") || has_prefix_ci(v, "dpop ") ||
	    has_prefix_ci(v, "basic ")) {
		const char *sp = memchr(v.p, ' ', v.n);
		size_t rest = v.n - (size_t)(sp - v.p) - 1;
		if (rest >= 8 && memchr(sp + 1, ' ', rest) == NULL)
			return true;
	}
	return entropy && looks_random(v);
}

static bool text_has_secret(struct str t, bool entropy);

bool
redact_value_is_secret(struct str value)
{
	return value_secret(value, true) || text_has_secret(value, true);
}

/* ---- HMAC ---- */

/* The key's two HMAC blocks (key ^ ipad, key ^ opad), absorbed. */
static int
hmac_setup(struct redact *r)
{
	unsigned char ipad[64], opad[64];
	int ok;

	memset(ipad, 0x36, sizeof(ipad));
	memset(opad, 0x5c, sizeof(opad));
	for (size_t i = 0; i < REDACT_KEY_LEN; i++) {
		ipad[i] ^= r->key[i];
		opad[i] ^= r->key[i];
	}
	ok = (r->inner = EVP_MD_CTX_new()) != NULL &&
	    (r->outer = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestInit_ex(r->inner, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(r->inner, ipad, sizeof(ipad)) == 1 &&
	    EVP_DigestInit_ex(r->outer, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(r->outer, opad, sizeof(opad)) == 1;
	OPENSSL_cleanse(ipad, sizeof(ipad));
	OPENSSL_cleanse(opad, sizeof(opad));
	return ok ? MANDATE_OK : MANDATE_EINTERNAL;
}

int
redact_hmac(const struct redact *r, struct str value,
    char out[REDACT_HMAC_SIZE])
{
	unsigned char mac[EVP_MAX_MD_SIZE], ih[EVP_MAX_MD_SIZE];
	unsigned int n = 0, ni = 0;
	EVP_MD_CTX *c;
	int ok;

	out[0] = '\0';
	if ((c = EVP_MD_CTX_new()) == NULL)
		return MANDATE_ENOMEM;
	ok = EVP_MD_CTX_copy_ex(c, r->inner) == 1 &&
	    (value.n == 0 || EVP_DigestUpdate(c, value.p, value.n) == 1) &&
	    EVP_DigestFinal_ex(c, ih, &ni) == 1 && ni == 32 &&
	    EVP_MD_CTX_copy_ex(c, r->outer) == 1 &&
	    EVP_DigestUpdate(c, ih, ni) == 1 &&
	    EVP_DigestFinal_ex(c, mac, &n) == 1 && n == 32;
	EVP_MD_CTX_free(c);
	OPENSSL_cleanse(ih, sizeof(ih));
	if (!ok)
		return MANDATE_EINTERNAL;
	memcpy(out, "hmac:", 5);
	for (unsigned i = 0; i < n; i++) {
		out[5 + 2 * i] = hexd[mac[i] >> 4];
		out[5 + 2 * i + 1] = hexd[mac[i] & 15];
	}
	out[REDACT_HMAC_LEN] = '\0';
	return MANDATE_OK;
}

/* ---- free text ---- */

/* A growing output buffer, bounded by the input's size and the HMACs. */
struct obuf {
	char *p;
	size_t n, cap;
	bool oom;
	bool lazy;        /* nothing replaced yet: nothing written */
	bool found;       /* (text_has_secret) something would be */
};

static void
ob_put(struct obuf *b, const char *s, size_t n)
{
	if (b->oom || b->lazy)
		return;
	if (b->n + n + 1 > b->cap) {
		size_t cap = b->cap ? b->cap : 64;
		char *np;

		while (cap < b->n + n + 1)
			cap *= 2;
		if ((np = realloc(b->p, cap)) == NULL) {
			b->oom = true;
			return;
		}
		b->p = np;
		b->cap = cap;
	}
	memcpy(b->p + b->n, s, n);
	b->n += n;
	b->p[b->n] = '\0';
}

/* The first replacement, at start of t: until then the output was the
 * input itself, so it is written now, from the input. */
static void
ob_start(struct obuf *b, struct str t, size_t start)
{
	if (!b->lazy)
		return;
	b->lazy = false;
	ob_put(b, "", 0);
	ob_put(b, t.p, start);
}

static bool
is_delim(int c)
{
	/* a table: one_word asks this of every character of every string */
	static const bool delim[256] = {
		[' '] = true, ['\t'] = true, ['\n'] = true, ['\r'] = true,
		['\f'] = true, ['\v'] = true, ['"'] = true, ['\''] = true,
		['`'] = true, [','] = true, [';'] = true, ['('] = true,
		[')'] = true, ['<'] = true, ['>'] = true, ['['] = true,
		[']'] = true, ['{'] = true, ['}'] = true, ['='] = true,
		[':'] = true, ['&'] = true, ['?'] = true, ['|'] = true,
		['\\'] = true,
	};

	return delim[c & 0xff];
}

/* The end of a private key block starting at begin (past its END line's
 * dashes), or of the text if it has none. */
static size_t
pem_end(struct str t, size_t begin)
{
	for (size_t i = begin + 10; i + 9 <= t.n; i++) {
		size_t k;

		if (t.p[i] != '-' || (memcmp(t.p + i, "-----END ", 9) != 0 &&
		    memcmp(t.p + i, "---- END ", 9) != 0))
			continue;
		for (k = i + 9; k + 4 <= t.n && memcmp(t.p + k, "----", 4) != 0;
		    k++)
			;
		if (k + 4 > t.n)
			return t.n;
		while (k < t.n && t.p[k] == '-')
			k++;
		return k;
	}
	return t.n;
}

/* Is there a private key's BEGIN line at i ("-----BEGIN ", or SSH2's
 * "---- BEGIN ", then key_armour_at() on the same line)? */
static bool
pem_begin_at(struct str t, size_t i)
{
	size_t k;

	if (i + 11 > t.n || t.p[i] != '-' || (memcmp(t.p + i, "-----BEGIN ",
	    11) != 0 && memcmp(t.p + i, "---- BEGIN ", 11) != 0))
		return false;
	for (k = i + 11; k < t.n && k < i + 80 && t.p[k] != '\n'; k++)
		if (t.p[k] == 'P' && key_armour_at(t, k))
			return true;
	return false;
}

/* An HMAC this module wrote (a secret already replaced) at i?  Kept
 * verbatim so that redaction is idempotent; it splits a token like a
 * delimiter does. */
static bool
hmac_at(struct str t, size_t i)
{
	return i + REDACT_HMAC_LEN <= t.n && t.p[i] == 'h' &&
	    is_hmac_form(str_make(t.p + i, REDACT_HMAC_LEN));
}

/* The first two characters of key_prefixes and of a JWT ("eyJ"): only
 * there can token_at() find something.  token_second[c] is the set of
 * second characters after a first character c (keep in step with
 * key_prefixes; most words of text start otherwise). */
static const char *const token_second[256] = {
	['s'] = "khq", ['r'] = "k", ['p'] = "ky", ['g'] = "hl",
	['x'] = "oa", ['A'] = "KSI", ['y'] = "a", ['n'] = "p",
	['h'] = "f", ['S'] = "G", ['d'] = "o", ['m'] = "n", ['e'] = "y",
};

/* A JWT at the start of v: "eyJ" and base64url parts joined by '.',
 * at least three of them (a JWS, a JWE, an unsecured JWT's empty
 * signature), 20 characters or more.  A full stop after it is not part
 * of it unless it makes the third part.  Its end, or 0. */
static size_t
jwt_span(struct str v)
{
	size_t e = 0, dots = 0, trim;

	if (v.n < 20 || v.p[0] != 'e' || v.p[1] != 'y' || v.p[2] != 'J')
		return 0;
	for (; e < v.n && (is_b64url((unsigned char)v.p[e]) || v.p[e] == '.');
	    e++)
		dots += v.p[e] == '.';
	for (trim = e; v.p[trim - 1] == '.'; trim--)
		;
	if (dots - (e - trim) >= 2)
		return trim >= 20 ? trim : 0;
	return dots >= 2 && e >= 20 ? e : 0;
}

/* A key with a well-known prefix or a JWT starting at i, on a token
 * boundary: the character before it is none of the token's own alphabet
 * (so "task-..." holds no "sk-" key), and it ends at the first character
 * outside that alphabet (so "**sk-...**", "sk-...!", "https://ghp_...
 * @github.com" give the key alone).  Its end, or 0. */
static size_t
token_at_slow(struct str t, size_t i, int c, int before)
{
	struct str rest = str_make(t.p + i, t.n - i);
	size_t e;

	if (c == 'e')
		return !is_b64url(before) && before != '.' &&
		    (e = jwt_span(rest)) != 0 ? i + e : 0;
	for (size_t k = 0; k < N_PATS(key_prefixes); k++)
		if (key_prefixes[k].p[0] == c &&
		    !in_key_alpha(before, key_prefixes[k].alpha) &&
		    (e = key_span(rest, &key_prefixes[k])) != 0)
			return i + e;
	return 0;
}

static inline size_t
token_at(struct str t, size_t i)
{
	int c = (unsigned char)t.p[i], before;
	const char *second = token_second[c];

	if (second == NULL)
		return 0;
	before = i > 0 ? (unsigned char)t.p[i - 1] : ' ';
	/* (the hot case, inside a word: a digit or capital is of every
	 * alphabet, a small letter of all but AKIA's and ASIA's) */
	if (is_alnum(before) && !(c == 'A' && before >= 'a' && before <= 'z'))
		return 0;
	if (i + 1 >= t.n || t.p[i + 1] == '\0' ||
	    strchr(second, t.p[i + 1]) == NULL)
		return 0;
	return token_at_slow(t, i, c, before);
}

/* A URL's password, i at the ':' of "://": scheme://user:password@host
 * with a password that is not empty.  The authority ends at '/', '?',
 * '#', white space, a quote, '<', '>' or '\'; the userinfo at its last
 * '@', the user at its first ':'.  The password's span in [*ps, *pe).
 * An authority that holds an HMAC is left to the word rules: it was
 * redacted before, or a word of it that held its end ('/') or an '@'
 * was replaced; taking it apart again would not be idempotent. */
static bool
url_password(struct str t, size_t i, size_t *ps, size_t *pe)
{
	size_t a = i + 3, at = 0, colon = 0;

	if (i + 3 > t.n || t.p[i] != ':' || t.p[i + 1] != '/' ||
	    t.p[i + 2] != '/')
		return false;
	for (size_t k = a; k < t.n; k++) {
		int c = (unsigned char)t.p[k];

		if (c <= ' ' || c == '/' || c == '?' || c == '#' || c == '"' ||
		    c == '\'' || c == '`' || c == '<' || c == '>' || c == '\\')
			break;
		if (c == '@')
			at = k;
		else if (c == ':' && colon == 0)
			colon = k;
		else if (hmac_at(t, k))
			return false;
	}
	if (at == 0 || colon == 0 || colon > at || colon + 1 == at)
		return false;
	*ps = colon + 1;
	*pe = at;
	return true;
}

/* Replace t[s..e) by its HMAC.  Without a redactor (text_has_secret),
 * only say that something would be. */
static int
put_hmac(const struct redact *r, struct obuf *b, struct str t, size_t s,
    size_t e)
{
	char h[REDACT_HMAC_SIZE];
	int rc;

	if (r == NULL) {
		b->found = true;
		return MANDATE_OK;
	}
	ob_start(b, t, s);
	if ((rc = redact_hmac(r, str_make(t.p + s, e - s), h)) != MANDATE_OK)
		return rc;
	ob_put(b, h, REDACT_HMAC_LEN);
	OPENSSL_cleanse(h, sizeof(h));
	return MANDATE_OK;
}

/* t with its secrets replaced: *out a new string, or NULL when nothing in
 * t is replaced (most text: no copy is made then).  r NULL: nothing is
 * written, *found says whether anything would be replaced. */
static int
text_scan(const struct redact *r, struct str t, bool entropy, char **out,
    bool *found)
{
	struct obuf b = { NULL, 0, 0, false, true, false };
	struct str prev = STR_NULL;   /* the previous word */
	bool assign = false;          /* '=' or ':' since it, same line */
	bool scheme = false;          /* it was Bearer/DPoP/Basic/Token */
	size_t pw_s = SIZE_MAX, pw_e = 0;  /* a URL's password ahead */
	size_t i = 0;

	*out = NULL;
	while (i < t.n && !b.oom && !b.found) {
		size_t s = i, e;
		struct str w;
		bool secret, is_scheme;

		if (pw_s != SIZE_MAX && i >= pw_s) {
			if (i == pw_s) {
				if (put_hmac(r, &b, t, pw_s, pw_e) != MANDATE_OK)
					goto fail;
				i = pw_e;
				prev = STR_NULL;
				assign = scheme = false;
			}
			pw_s = SIZE_MAX;
			continue;
		}
		if (pem_begin_at(t, i)) {
			e = pem_end(t, i);
			if (put_hmac(r, &b, t, i, e) != MANDATE_OK)
				goto fail;
			i = e;
			prev = STR_NULL;
			continue;
		}
		if (hmac_at(t, i)) {
			/* already redacted: kept as it is (what follows is
			 * judged on its own) */
			ob_put(&b, t.p + i, REDACT_HMAC_LEN);
			i += REDACT_HMAC_LEN;
			prev = STR_NULL;
			assign = scheme = false;
			continue;
		}
		if ((e = token_at(t, i)) != 0) {
			/* a key or JWT inside a word (as a whole word it
			 * has the same span, hence the same HMAC) */
			if (put_hmac(r, &b, t, i, e) != MANDATE_OK)
				goto fail;
			i = e;
			prev = STR_NULL;
			assign = scheme = false;
			continue;
		}
		if (is_delim((unsigned char)t.p[i])) {
			if (t.p[i] == ':' && pw_s == SIZE_MAX)
				(void)url_password(t, i, &pw_s, &pw_e);
			if (t.p[i] == '=' || t.p[i] == ':')
				assign = true;
			if (t.p[i] == '\n')
				assign = scheme = false, prev = STR_NULL;
			ob_put(&b, t.p + i, 1);
			i++;
			continue;
		}
		/* (per character: the cheap tests first; a token starts only
		 * after a character that is not a letter or digit, or at an
		 * 'A') */
		while (i < t.n && !is_delim((unsigned char)t.p[i]) &&
		    (t.p[i] != '-' || !pem_begin_at(t, i)) && !hmac_at(t, i) &&
		    (i == s || (is_alnum((unsigned char)t.p[i - 1]) &&
		    t.p[i] != 'A') || token_at(t, i) == 0))
			i++;
		e = i;
		/* a sentence's full stop is not part of a token */
		while (e > s + 1 && t.p[e - 1] == '.')
			e--;
		w = str_make(t.p + s, e - s);
		is_scheme = eq_ci(w, "bearer") || eq_ci(w, "dpop") ||
		    eq_ci(w, "basic") || eq_ci(w, "token");
		secret = value_secret(w, entropy) ||
		    (scheme && w.n >= 8) || (!is_scheme && assign &&
		    prev.n > 0 && redact_name_is_secret(prev));
		if (secret) {
			if (put_hmac(r, &b, t, s, e) != MANDATE_OK)
				goto fail;
		} else {
			ob_put(&b, w.p, w.n);
		}
		ob_put(&b, t.p + e, i - e);
		scheme = is_scheme;
		assign = false;
		prev = w;
	}
	if (b.oom)
		goto fail;
	if (found != NULL)
		*found = b.found;
	*out = b.p;
	return MANDATE_OK;
fail:
	if (b.p != NULL)
		OPENSSL_cleanse(b.p, b.n);
	free(b.p);
	return MANDATE_ENOMEM;
}

static int
text_redact(const struct redact *r, struct str t, bool entropy, char **out)
{
	return text_scan(r, t, entropy, out, NULL);
}

/* Is t a single word of text_redact's, t itself: no delimiter (so no
 * PEM line, URL or HMAC inside, all of which hold one), no key or JWT
 * inside it and no full stop at its end to trim?  Then text_redact
 * would only ask value_secret(t). */
static bool
one_word(struct str t)
{
	if (t.n == 0 || t.p[t.n - 1] == '.')
		return false;
	for (size_t i = 0; i < t.n; i++) {
		int c = (unsigned char)t.p[i];

		if (is_delim(c) || token_at(t, i) != 0)
			return false;
	}
	return true;
}

/* Would text_redact replace anything in t (with the entropy rule or
 * without)? */
static bool
text_has_secret(struct str t, bool entropy)
{
	bool found = false;
	char *o = NULL;

	if (one_word(t))
		return false;       /* value_secret(t) was asked already */
	if (text_scan(NULL, t, entropy, &o, &found) != MANDATE_OK)
		return true;        /* cannot tell: take it for one */
	free(o);
	return found;
}

char *
redact_text(const struct redact *r, struct str t)
{
	char *o;

	if (text_redact(r, t, true, &o) != MANDATE_OK)
		return NULL;
	if (o == NULL && (o = malloc(t.n + 1)) != NULL) {
		/* unchanged: a copy */
		if (t.n > 0)
			memcpy(o, t.p, t.n);
		o[t.n] = '\0';
	}
	return o;
}

size_t
redact_cut(struct str t, size_t max)
{
	size_t cut;

	if (t.n <= max)
		return t.n;
	cut = max;
	while (cut > 0 && ((unsigned char)t.p[cut] & 0xc0) == 0x80)
		cut--;
	/* an HMAC across the cut goes whole */
	for (size_t k = cut > REDACT_HMAC_LEN ? cut - REDACT_HMAC_LEN + 1 : 0;
	    k < cut; k++)
		if (hmac_at(t, k))
			return k;
	return cut;
}

/* ---- JSON ---- */

struct walk {
	const struct redact *r;
	const char *seg[REDACT_MAX_DEPTH + 1];
	char idx[REDACT_MAX_DEPTH + 1][24];
	size_t depth;
};

static bool
path_match(const struct walk *w)
{
	for (size_t i = 0; i < w->r->n_paths; i++) {
		const struct redact_path *p = &w->r->paths[i];
		size_t k;

		if (p->n_seg != w->depth)
			continue;
		for (k = 0; k < p->n_seg; k++)
			if (strcmp(p->seg[k], "*") != 0 &&
			    strcmp(p->seg[k], w->seg[k]) != 0)
				break;
		if (k == p->n_seg)
			return true;
	}
	return false;
}

/* The HMAC of v: of a string's text, otherwise of its compact JSON. */
static int
hmac_value(const struct redact *r, json_t *v, char h[REDACT_HMAC_SIZE])
{
	char *dump = NULL;
	struct str s;
	int rc;

	if (json_is_string(v)) {
		s = str_make(json_string_value(v), json_string_length(v));
	} else {
		if ((dump = json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS |
		    JSON_ENCODE_ANY)) == NULL)
			return MANDATE_ENOMEM;
		s = str_c(dump);
	}
	rc = redact_hmac(r, s, h);
	if (dump != NULL) {
		OPENSSL_cleanse(dump, s.n);
		free(dump);
	}
	return rc;
}

/* What becomes of one member or element. */
enum verdict_kind {
	V_KEEP,          /* as it is (a scalar) */
	V_HMAC,          /* replaced by the string in hmac */
	V_TEXT,          /* a string replaced by text (embedded secrets) */
	V_DESCEND,       /* an object or array: judge its members */
};

struct verdict {
	enum verdict_kind kind;
	char hmac[REDACT_HMAC_SIZE];
	char *text;      /* V_TEXT: malloc'd, NUL-terminated, UTF-8 */
};

/* judge() for a string value s (a JSON string's text, or a record
 * member given as text). */
static int
judge_string(const struct walk *w, struct str s, struct str name,
    struct verdict *vd)
{
	bool entropy = !name_is_identifier(name);
	char *t;
	size_t tn;

	vd->kind = V_KEEP;
	vd->text = NULL;
	if (is_hmac_form(s))
		return MANDATE_OK;            /* already redacted */
	if (path_match(w) || (name.n > 0 && redact_name_is_secret(name)) ||
	    value_secret(s, entropy)) {
		vd->kind = V_HMAC;
		return redact_hmac(w->r, s, vd->hmac);
	}
	if (one_word(s))
		return MANDATE_OK;   /* text_redact would judge s again */
	if (text_redact(w->r, s, entropy, &t) != MANDATE_OK)
		return MANDATE_ENOMEM;
	if (t == NULL)
		return MANDATE_OK;        /* nothing replaced */
	tn = strlen(t);
	if (tn == s.n && memcmp(t, s.p, s.n) == 0) {
		free(t);
		return MANDATE_OK;
	}
	/* only ASCII-delimited tokens changed, so t is UTF-8 as the input
	 * was; should it not be, the whole value goes */
	if (utf8_invalid_at(t, tn) == tn) {
		vd->kind = V_TEXT;
		vd->text = t;
		return MANDATE_OK;
	}
	free(t);
	vd->kind = V_HMAC;
	return redact_hmac(w->r, s, vd->hmac);
}

/* Does a member name hold a secret as a value would: a well-known key or
 * token, a JWT, a private key, an "Authorization: Bearer ..." or
 * "password=..." in it, a URL with a password?  (The structural rules
 * only: maps keyed by digests or random ids keep their keys.) */
static bool
key_secret(struct str k)
{
	return k.n >= 8 && !is_hmac_form(k) &&
	    (value_secret(k, false) || text_has_secret(k, false));
}

/* Judge v, a member named name (STR_NULL for an array element) at w's
 * path.  The one place that decides; redact_fields() applies the verdict
 * to the tree, redact_dump() to the text it writes.  An object inside
 * the record with a member name that holds a secret (key_secret) is
 * replaced as a whole: renaming the member instead could collide with
 * another. */
static int
judge(const struct walk *w, json_t *v, struct str name, struct verdict *vd)
{
	vd->kind = V_KEEP;
	vd->text = NULL;
	if (json_is_string(v))
		return judge_string(w, str_make(json_string_value(v),
		    json_string_length(v)), name, vd);
	if (path_match(w) || (name.n > 0 && redact_name_is_secret(name))) {
		if (json_is_null(v) || json_is_boolean(v))
			return MANDATE_OK;     /* nothing to hide */
		vd->kind = V_HMAC;
		return hmac_value(w->r, v, vd->hmac);
	}
	if (!json_is_object(v) && !json_is_array(v))
		return MANDATE_OK;
	if (w->depth >= REDACT_MAX_DEPTH) {   /* too deep to look into: hide */
		vd->kind = V_HMAC;
		return hmac_value(w->r, v, vd->hmac);
	}
	/* (the record's own member names, at the top, are not judged) */
	if (json_is_object(v) && w->depth > 0) {
		const char *k;
		size_t kn;
		json_t *c;

		json_object_keylen_foreach(v, k, kn, c) {
			if (key_secret(str_make(k, kn))) {
				vd->kind = V_HMAC;
				return hmac_value(w->r, v, vd->hmac);
			}
		}
	}
	vd->kind = V_DESCEND;
	return MANDATE_OK;
}

/* Push array index i as the path's next segment. */
static void
push_index(struct walk *w, size_t i)
{
	size_t n = 0, x = i;
	char tmp[24];

	do {
		tmp[n++] = (char)('0' + x % 10);
		x /= 10;
	} while (x > 0 && n < sizeof(tmp) - 1);
	for (size_t k = 0; k < n; k++)
		w->idx[w->depth][k] = tmp[n - 1 - k];
	w->idx[w->depth][n] = '\0';
	w->seg[w->depth] = w->idx[w->depth];
	w->depth++;
}

static int walk_value(struct walk *w, json_t *v, struct str name,
    json_t **repl);

/* Decide about one member or element: *repl is a replacement (owned) or
 * NULL to keep v (which may have been changed in place). */
static int
walk_value(struct walk *w, json_t *v, struct str name, json_t **repl)
{
	struct verdict vd;
	int rc;

	*repl = NULL;
	if ((rc = judge(w, v, name, &vd)) != MANDATE_OK)
		return rc;
	switch (vd.kind) {
	case V_KEEP:
		return MANDATE_OK;
	case V_HMAC:
		return (*repl = json_string(vd.hmac)) ? MANDATE_OK :
		    MANDATE_ENOMEM;
	case V_TEXT:
		*repl = json_string(vd.text);
		free(vd.text);
		return *repl != NULL ? MANDATE_OK : MANDATE_ENOMEM;
	case V_DESCEND:
		break;
	}
	if (json_is_object(v)) {
		void *it;

		for (it = json_object_iter(v); it != NULL;
		    it = json_object_iter_next(v, it)) {
			const char *k = json_object_iter_key(it);
			json_t *c = json_object_iter_value(it), *nr = NULL;

			w->seg[w->depth++] = k;
			rc = walk_value(w, c, str_c(k), &nr);
			w->depth--;
			if (rc != MANDATE_OK)
				return rc;
			if (nr != NULL && json_object_iter_set_new(v, it, nr))
				return MANDATE_ENOMEM;
		}
		return MANDATE_OK;
	}
	for (size_t i = 0; i < json_array_size(v); i++) {
		json_t *nr = NULL;

		push_index(w, i);
		/* an element inherits its array's name (["tok1", "tok2"]
		 * under "tokens" is judged by its values) */
		rc = walk_value(w, json_array_get(v, i), STR_NULL, &nr);
		w->depth--;
		if (rc != MANDATE_OK)
			return rc;
		if (nr != NULL && json_array_set_new(v, i, nr))
			return MANDATE_ENOMEM;
	}
	return MANDATE_OK;
}

/* Write v as redact_fields() would leave it, v itself unchanged. */
static int
dump_value(struct walk *w, struct jtext *b, json_t *v, struct str name)
{
	struct verdict vd;
	bool first = true;
	int rc;

	if ((rc = judge(w, v, name, &vd)) != MANDATE_OK)
		return rc;
	switch (vd.kind) {
	case V_KEEP:
		jtext_value(b, v, 1);         /* a scalar */
		return MANDATE_OK;
	case V_HMAC:
		jtext_string(b, vd.hmac, REDACT_HMAC_LEN);
		return MANDATE_OK;
	case V_TEXT:
		jtext_string(b, vd.text, strlen(vd.text));
		free(vd.text);
		return MANDATE_OK;
	case V_DESCEND:
		break;
	}
	if (json_is_object(v)) {
		const char *k;
		json_t *c;
		size_t kn;

		jtext_put(b, "{", 1);
		json_object_keylen_foreach(v, k, kn, c) {
			if (!first)
				jtext_put(b, ",", 1);
			first = false;
			jtext_string(b, k, kn);
			jtext_put(b, ":", 1);
			w->seg[w->depth++] = k;
			rc = dump_value(w, b, c, str_make(k, kn));
			w->depth--;
			if (rc != MANDATE_OK)
				return rc;
		}
		jtext_put(b, "}", 1);
		return MANDATE_OK;
	}
	jtext_put(b, "[", 1);
	for (size_t i = 0; i < json_array_size(v); i++) {
		if (i > 0)
			jtext_put(b, ",", 1);
		push_index(w, i);
		rc = dump_value(w, b, json_array_get(v, i), STR_NULL);
		w->depth--;
		if (rc != MANDATE_OK)
			return rc;
	}
	jtext_put(b, "]", 1);
	return MANDATE_OK;
}

/* The end of a dump: the text in *out (*n long) when rc is MANDATE_OK
 * and the text could be written; the buffer freed otherwise.  Text
 * jansson could not write (a key or string that is not UTF-8) fails
 * here, as json_dumps would. */
static int
dump_finish(struct jtext *b, int rc, char **out, size_t *n)
{
	if (rc != MANDATE_OK) {
		free(b->p);
		return rc;
	}
	if ((*out = jtext_finish(b, n)) == NULL)
		return MANDATE_ENOMEM;
	return MANDATE_OK;
}

int
redact_dump(const struct redact *r, json_t *fields, char **out, size_t *n)
{
	struct jtext b = { 0 };
	struct walk w;

	*out = NULL;
	*n = 0;
	if (r == NULL || !json_is_object(fields))
		return MANDATE_EINVAL;
	memset(&w, 0, sizeof(w));
	w.r = r;
	return dump_finish(&b, dump_value(&w, &b, fields, STR_NULL), out, n);
}

/* Write a verdict that replaces the value (V_HMAC, V_TEXT). */
static void
put_verdict(struct jtext *b, struct verdict *vd)
{
	if (vd->kind == V_HMAC) {
		jtext_string(b, vd->hmac, REDACT_HMAC_LEN);
	} else {
		jtext_string(b, vd->text, strlen(vd->text));
		free(vd->text);
	}
}

/* One member of redact_dump_members(), its name and ':' written. */
static int
dump_member(struct walk *w, struct jtext *b, const struct redact_member *m,
    struct str name)
{
	struct verdict vd;
	char num[24];
	int rc, k;

	switch (m->kind) {
	case REDACT_M_STR:
		if ((rc = judge_string(w, m->s.p != NULL ? m->s : str_c(""),
		    name, &vd)) != MANDATE_OK)
			return rc;
		if (vd.kind == V_KEEP)
			jtext_string(b, m->s.p != NULL ? m->s.p : "", m->s.n);
		else
			put_verdict(b, &vd);
		return MANDATE_OK;
	case REDACT_M_BOOL:            /* nothing to hide in a boolean */
		jtext_put(b, m->b ? "true" : "false", m->b ? 4 : 5);
		return MANDATE_OK;
	case REDACT_M_INT:
		k = snprintf(num, sizeof(num), "%lld", (long long)m->i);
		if (path_match(w) || redact_name_is_secret(name)) {
			/* as hmac_value(): the HMAC of its JSON text */
			if ((rc = redact_hmac(w->r, str_make(num, (size_t)k),
			    vd.hmac)) != MANDATE_OK)
				return rc;
			jtext_string(b, vd.hmac, REDACT_HMAC_LEN);
		} else {
			jtext_put(b, num, (size_t)k);
		}
		return MANDATE_OK;
	case REDACT_M_JSON:
		if (m->j == NULL)
			return MANDATE_EINVAL;
		return dump_value(w, b, m->j, name);
	}
	return MANDATE_EINVAL;
}

bool
redact_members_ok(const struct redact_member *m, size_t n)
{
	uint64_t tag[32];

	for (size_t i = 0; i < n; i++) {
		size_t len;
		uint64_t t;

		if (m[i].name == NULL)
			return false;
		/* an object's names are distinct; a name's length and its
		 * first and last bytes tell most apart without strcmp */
		len = strlen(m[i].name);
		t = (uint64_t)len << 16 | (len > 0 ? (uint64_t)(unsigned char)
		    m[i].name[0] << 8 | (unsigned char)m[i].name[len - 1] : 0);
		for (size_t k = 0; k < i; k++)
			if ((k >= 32 || tag[k] == t) &&
			    strcmp(m[i].name, m[k].name) == 0)
				return false;
		if (i < 32)
			tag[i] = t;
	}
	return true;
}

int
redact_dump_members(const struct redact *r, const struct redact_member *m,
    size_t n, char **out, size_t *len)
{
	struct jtext b = { 0 };
	struct walk w;
	int rc = MANDATE_OK;

	*out = NULL;
	*len = 0;
	if (r == NULL || (n > 0 && m == NULL))
		return MANDATE_EINVAL;
	if (!redact_members_ok(m, n))
		return MANDATE_EINVAL;
	memset(&w, 0, sizeof(w));
	w.r = r;
	jtext_put(&b, "{", 1);
	for (size_t i = 0; i < n && rc == MANDATE_OK; i++) {
		struct str name = str_c(m[i].name);

		if (i > 0)
			jtext_put(&b, ",", 1);
		jtext_string(&b, name.p, name.n);
		jtext_put(&b, ":", 1);
		w.seg[w.depth++] = m[i].name;
		rc = dump_member(&w, &b, &m[i], name);
		w.depth--;
	}
	jtext_put(&b, "}", 1);
	return dump_finish(&b, rc, out, len);
}

json_t *
redact_members_json(const struct redact_member *m, size_t n)
{
	json_t *o = redact_members_ok(m, n) ? json_object() : NULL;

	for (size_t i = 0; o != NULL && i < n; i++) {
		json_t *v = NULL;

		switch (m[i].kind) {
		case REDACT_M_STR:
			v = json_stringn(m[i].s.p != NULL ? m[i].s.p : "",
			    m[i].s.n);
			break;
		case REDACT_M_BOOL:
			v = json_boolean(m[i].b);
			break;
		case REDACT_M_INT:
			v = json_integer((json_int_t)m[i].i);
			break;
		case REDACT_M_JSON:
			v = json_incref(m[i].j);
			break;
		}
		if (v == NULL || m[i].name == NULL ||
		    json_object_set_new(o, m[i].name, v) != 0) {
			json_decref(o);
			o = NULL;
		}
	}
	return o;
}

int
redact_fields(const struct redact *r, json_t *fields)
{
	struct walk w;
	json_t *repl = NULL;
	int rc;

	if (r == NULL || !json_is_object(fields))
		return MANDATE_EINVAL;
	memset(&w, 0, sizeof(w));
	w.r = r;
	rc = walk_value(&w, fields, STR_NULL, &repl);
	if (repl != NULL) {           /* only when nested too deep: cannot be */
		json_decref(repl);
		return MANDATE_EINTERNAL;
	}
	return rc;
}

/* ---- construction ---- */

static void
paths_free(struct redact *r)
{
	for (size_t i = 0; i < r->n_paths; i++) {
		for (size_t k = 0; k < r->paths[i].n_seg; k++)
			free(r->paths[i].seg[k]);
		free(r->paths[i].seg);
	}
	free(r->paths);
	r->paths = NULL;
	r->n_paths = 0;
}

static void
set_err(char *err, size_t len, const char *a, const char *b)
{
	size_t n = 0;

	if (err == NULL || len == 0)
		return;
	for (const char *s = a; s && *s && n + 1 < len; s++)
		err[n++] = *s;
	for (const char *s = b; s && *s && n + 1 < len; s++)
		err[n++] = *s;
	err[n] = '\0';
}

const char *
redact_path_problem(const char *text)
{
	size_t n = strlen(text), n_seg = 0, start = 0;

	if (n == 0)
		return "empty path";
	if (n > REDACT_MAX_PATH_LEN)
		return "path longer than 512 bytes";
	for (size_t i = 0; i <= n; i++) {
		if (i < n && text[i] != '.')
			continue;
		if (i == start)
			return "empty segment (two dots, or a dot at an end)";
		if (++n_seg > REDACT_MAX_DEPTH)
			return "more than 32 segments";
		start = i + 1;
	}
	return NULL;
}

static int
path_parse(const char *text, struct redact_path *out, char *err,
    size_t err_len)
{
	size_t n = strlen(text), start = 0;
	const char *why;

	memset(out, 0, sizeof(*out));
	if ((why = redact_path_problem(text)) != NULL) {
		if (err != NULL && err_len > 0)
			snprintf(err, err_len, "audit.redact_paths: %s: %.80s",
			    why, text);
		return MANDATE_EINVAL;
	}
	if ((out->seg = calloc(REDACT_MAX_DEPTH, sizeof(char *))) == NULL)
		return MANDATE_ENOMEM;
	for (size_t i = 0; i <= n; i++) {
		if (i < n && text[i] != '.')
			continue;
		if (i == start || out->n_seg >= REDACT_MAX_DEPTH) {
			set_err(err, err_len, "audit.redact_paths: empty "
			    "segment or too deep: ", text);
			return MANDATE_EINVAL;
		}
		if ((out->seg[out->n_seg] = strndup(text + start, i - start)) ==
		    NULL)
			return MANDATE_ENOMEM;
		out->n_seg++;
		start = i + 1;
	}
	return MANDATE_OK;
}

int
redact_new(const unsigned char *key, size_t key_len,
    const char *const *paths, size_t n_paths, struct redact **out,
    char *err, size_t err_len)
{
	struct redact *r = NULL;
	int rc = MANDATE_ENOMEM;

	*out = NULL;
	if (err != NULL && err_len > 0)
		err[0] = '\0';
	if (key == NULL || key_len != REDACT_KEY_LEN) {
		set_err(err, err_len, "audit redaction key: expected 32 bytes",
		    NULL);
		return MANDATE_EINVAL;
	}
	if (n_paths > REDACT_MAX_PATHS) {
		set_err(err, err_len, "audit.redact_paths: too many paths",
		    NULL);
		return MANDATE_ELIMIT;
	}
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return MANDATE_ENOMEM;
	memcpy(r->key, key, REDACT_KEY_LEN);
	if (hmac_setup(r) != MANDATE_OK) {
		redact_free(r);
		set_err(err, err_len, "audit redaction: no SHA-256", NULL);
		return MANDATE_EINTERNAL;
	}
	if (n_paths > 0 &&
	    (r->paths = calloc(n_paths, sizeof(*r->paths))) == NULL)
		goto out;
	for (size_t i = 0; i < n_paths; i++) {
		rc = path_parse(paths[i], &r->paths[i], err, err_len);
		r->n_paths = i + 1;
		if (rc != MANDATE_OK)
			goto out;
	}
	*out = r;
	r = NULL;
	rc = MANDATE_OK;
out:
	redact_free(r);
	return rc;
}

void
redact_free(struct redact *r)
{
	if (r == NULL)
		return;
	OPENSSL_cleanse(r->key, sizeof(r->key));
	EVP_MD_CTX_free(r->inner);   /* (frees wipe their state) */
	EVP_MD_CTX_free(r->outer);
	paths_free(r);
	free(r);
}

/* redact_key_load's message: "audit.redact_key_file PATH: ..." */
static void key_err(char *err, size_t err_len, const char *path,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static void
key_err(char *err, size_t err_len, const char *path, const char *fmt, ...)
{
	int w;
	va_list ap;

	if (err == NULL || err_len == 0)
		return;
	w = snprintf(err, err_len, "audit.redact_key_file %s: ", path);
	if (w < 0 || (size_t)w >= err_len)
		return;
	va_start(ap, fmt);
	vsnprintf(err + w, err_len - (size_t)w, fmt, ap);
	va_end(ap);
}

int
redact_key_load(const char *path, bool create,
    unsigned char key[REDACT_KEY_LEN], char *err, size_t err_len)
{
	char *buf = NULL, eb[128];
	size_t n = 0;
	mode_t mode = 0;
	int rc, e;

	if (err != NULL && err_len > 0)
		err[0] = '\0';
	/* the raw key, or its hex (with a newline): 2 * REDACT_KEY_LEN + 1
	 * bytes at most; a symlink is refused (the daemon writes this key) */
	rc = file_read_secret(path, 2 * REDACT_KEY_LEN + 1, false, &buf, &n,
	    &mode);
	e = errno;
	if (rc == MANDATE_EIO && e == ENOENT) {
		if (!create) {
			key_err(err, err_len, path, "no such file");
			return MANDATE_ENOTFOUND;
		}
		if (RAND_bytes(key, REDACT_KEY_LEN) != 1) {
			key_err(err, err_len, path, "no random bytes for a "
			    "new key");
			return MANDATE_EINTERNAL;
		}
		if (file_write(path, key, REDACT_KEY_LEN, true, 0600) !=
		    MANDATE_OK) {
			key_err(err, err_len, path, "cannot write a new key: "
			    "%s", strerror_r(errno, eb, sizeof(eb)));
			OPENSSL_cleanse(key, REDACT_KEY_LEN);
			return MANDATE_EIO;
		}
		return MANDATE_OK;
	}
	if (rc == MANDATE_ELIMIT) {
		rc = MANDATE_EINVAL;       /* too long: not a key */
		key_err(err, err_len, path, "not a key (expected 32 bytes or "
		    "64 hex digits)");
	} else if (rc == MANDATE_EINVAL && !S_ISREG(mode)) {
		rc = MANDATE_EIO;          /* not a file: EINVAL is for access */
		key_err(err, err_len, path, "%s, not a key file",
		    S_ISDIR(mode) ? "a directory" : "not a regular file");
	} else if (rc == MANDATE_EINVAL) {
		key_err(err, err_len, path, "mode %04o: the key must not be "
		    "readable or writable by group or others (chmod 600)",
		    (unsigned)(mode & 07777));
	} else if (rc == MANDATE_EIO && e == ELOOP) {
		key_err(err, err_len, path, "a symbolic link, refused for a "
		    "key the daemon writes itself (name the file itself)");
	} else if (rc == MANDATE_EIO) {
		key_err(err, err_len, path, "%s", e == EISDIR ?
		    "a directory, not a key file" :
		    strerror_r(e, eb, sizeof(eb)));
	} else if (rc != MANDATE_OK) {
		key_err(err, err_len, path, "%s", mandate_strerror(rc));
	}
	if (rc != MANDATE_OK)
		goto out;
	if (n == REDACT_KEY_LEN) {
		memcpy(key, buf, REDACT_KEY_LEN);
	} else if (n == 2 * REDACT_KEY_LEN || (n == 2 * REDACT_KEY_LEN + 1 &&
	    buf[2 * REDACT_KEY_LEN] == '\n')) {
		for (size_t i = 0; i < REDACT_KEY_LEN; i++) {
			int h = hex_digit_value(buf[2 * i]),
			    l = hex_digit_value(buf[2 * i + 1]);
			if (h < 0 || l < 0) {
				rc = MANDATE_EINVAL;
				break;
			}
			key[i] = (unsigned char)(h << 4 | l);
		}
	} else {
		rc = MANDATE_EINVAL;
	}
	if (rc != MANDATE_OK)
		key_err(err, err_len, path, "not a key (%zu bytes; expected 32 "
		    "bytes or 64 hex digits)", n);
out:
	if (buf != NULL) {
		OPENSSL_cleanse(buf, n);
		free(buf);
	}
	if (rc != MANDATE_OK)
		OPENSSL_cleanse(key, REDACT_KEY_LEN);
	return rc;
}

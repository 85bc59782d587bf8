/*
 * jwt.c - JWT claim checks (RFC 7519, with the typ rules of RFC 9068,
 * RFC 9449 and SPIFFE JWT-SVIDs): the payload must be a JSON object;
 * exp, nbf and iat are checked against the caller's clock with leeway;
 * iss must equal, aud (string or array) must contain the expected value.
 * Each failure has its own reason for the logs.
 */
#include <ctype.h>
#include <errno.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "jose/jose_int.h"
#include "util/status.h"

const char *const jose_typ_at_jwt[] = { "at+jwt", NULL };
const char *const jose_typ_dpop_jwt[] = { "dpop+jwt", NULL };
const char *const jose_typ_jwt_svid[] = { "JWT", "JOSE", NULL };

/* NumericDate: an integer, or a number we floor; 1 ok, 0 absent, -1 bad. */
static int
numeric_date(const struct jose_jws *jws, const struct ajson *obj,
    const char *name, int64_t *out)
{
	const struct ajson *v = ajson_get(obj, name);
	char buf[64];
	char *end;
	double d;

	if (v == NULL)
		return 0;
	if (v->type != AJSON_NUMBER)
		return -1;
	if (v->num_fits) {
		*out = v->u.i;
		return 1;
	}
	/* fraction, exponent or out of int64 range: parse the text */
	if (v->len == 0 || v->len >= sizeof(buf) ||
	    v->off + v->len > jws->payload.n)
		return -1;
	memcpy(buf, jws->payload.p + v->off, v->len);
	buf[v->len] = '\0';
	errno = 0;
	d = strtod(buf, &end);
	if (errno != 0 || *end != '\0' || !isfinite(d) ||
	    d < -9.0e15 || d > 9.0e15)
		return -1;
	*out = (int64_t)floor(d);
	return 1;
}

static bool
typ_matches(struct str typ, const char *want)
{
	size_t wn = strlen(want);

	if (typ.n > 12 && strncasecmp(typ.p, "application/", 12) == 0) {
		typ.p += 12;
		typ.n -= 12;
	}
	return typ.n == wn && strncasecmp(typ.p, want, wn) == 0;
}

static int
bad(enum jose_reason *why, enum jose_reason reason)
{
	jose_set_why(why, reason);
	return MANDATE_EINVAL;
}

int
jose_jwt_check(struct arena *a, const struct jose_jws *jws,
    const struct jose_jwt_rules *rules, struct jose_claims *out,
    enum jose_reason *why)
{
	struct ajson_opts o = { .flags = AJSON_REJECT_DUPLICATES,
	    .max_depth = 32 };
	const struct ajson *obj = NULL, *v;
	int64_t leeway;
	int g, r;

	memset(out, 0, sizeof(*out));
	jose_set_why(why, JOSE_R_OK);
	if (jws == NULL || jws->header == NULL || rules == NULL)
		return bad(why, JOSE_R_MALFORMED);
	leeway = rules->leeway < 0 ? 0 : rules->leeway;
	if (leeway > 86400 * 365)
		leeway = 86400 * 365;

	/* typ header */
	if (rules->typ != NULL) {
		bool ok = false;

		if (!jws->has_typ)
			ok = rules->typ_absent_ok;
		else
			for (size_t i = 0; rules->typ[i] != NULL; i++)
				if (typ_matches(jws->typ, rules->typ[i]))
					ok = true;
		if (!ok)
			return bad(why, JOSE_R_TYP);
	}

	r = ajson_parse(a, jws->payload.p, jws->payload.n, &o, &obj, NULL);
	if (r == MANDATE_ENOMEM) {
		jose_set_why(why, JOSE_R_NOMEM);
		return r;
	}
	if (r != MANDATE_OK || !ajson_is(obj, AJSON_OBJECT))
		return bad(why, JOSE_R_PAYLOAD_JSON);

	if ((g = numeric_date(jws, obj, "exp", &out->exp)) < 0)
		return bad(why, JOSE_R_CLAIM_TYPE);
	out->has_exp = g == 1;
	if ((g = numeric_date(jws, obj, "nbf", &out->nbf)) < 0)
		return bad(why, JOSE_R_CLAIM_TYPE);
	out->has_nbf = g == 1;
	if ((g = numeric_date(jws, obj, "iat", &out->iat)) < 0)
		return bad(why, JOSE_R_CLAIM_TYPE);
	out->has_iat = g == 1;
	for (size_t i = 0; i < 3; i++) {
		static const char *const names[] = { "iss", "sub", "jti" };
		struct str *dst = i == 0 ? &out->iss : i == 1 ? &out->sub :
		    &out->jti;

		if ((v = ajson_get(obj, names[i])) == NULL)
			continue;
		if (v->type != AJSON_STRING)
			return bad(why, JOSE_R_CLAIM_TYPE);
		*dst = v->u.s;
	}

	/* time: exp is exclusive (valid while now < exp + leeway) */
	if (!out->has_exp && !rules->exp_optional)
		return bad(why, JOSE_R_EXP_MISSING);
	if (out->has_exp && out->exp <= INT64_MAX - leeway &&
	    rules->now >= out->exp + leeway)
		return bad(why, JOSE_R_EXPIRED);
	if (out->has_nbf && out->nbf >= INT64_MIN + leeway &&
	    rules->now < out->nbf - leeway)
		return bad(why, JOSE_R_NOT_YET_VALID);
	if (out->has_iat && out->iat >= INT64_MIN + leeway &&
	    out->iat - leeway > rules->now)
		return bad(why, JOSE_R_IAT_FUTURE);
	if (!out->has_iat && rules->iat_required)
		return bad(why, JOSE_R_IAT_MISSING);
	if (out->has_iat && rules->iat_max_age > 0 &&
	    out->iat <= INT64_MAX - leeway - rules->iat_max_age &&
	    out->iat + rules->iat_max_age + leeway < rules->now)
		return bad(why, JOSE_R_IAT_STALE);

	if (rules->iss.p != NULL && (ajson_get(obj, "iss") == NULL ||
	    !str_eq(out->iss, rules->iss)))
		return bad(why, JOSE_R_ISS);

	if (rules->aud.p != NULL) {
		bool found = false;

		v = ajson_get(obj, "aud");
		if (v == NULL)
			return bad(why, JOSE_R_AUD);
		if (v->type == AJSON_STRING) {
			found = str_eq(v->u.s, rules->aud);
		} else if (v->type == AJSON_ARRAY) {
			for (size_t i = 0; i < v->u.arr.n; i++) {
				const struct ajson *e = &v->u.arr.items[i];

				if (e->type != AJSON_STRING)
					return bad(why, JOSE_R_CLAIM_TYPE);
				if (str_eq(e->u.s, rules->aud))
					found = true;
			}
		} else {
			return bad(why, JOSE_R_CLAIM_TYPE);
		}
		if (!found)
			return bad(why, JOSE_R_AUD);
	}
	out->obj = obj;
	return MANDATE_OK;
}

int
jose_jwt_verify(struct arena *a, const char *token, size_t len,
    size_t max_len, const struct jose_keyset *set, unsigned allowed,
    const struct jose_jwt_rules *rules, struct jose_jws *jws,
    struct jose_claims *claims, enum jose_reason *why)
{
	int r;

	memset(claims, 0, sizeof(*claims));
	if ((r = jose_jws_parse(a, token, len, max_len, jws, why)) !=
	    MANDATE_OK)
		return r;
	if ((r = jose_jws_verify_set(jws, set, allowed, why)) == MANDATE_OK)
		r = jose_jwt_check(a, jws, rules, claims, why);
	if (r != MANDATE_OK) {
		memset(jws, 0, sizeof(*jws));
		memset(claims, 0, sizeof(*claims));
	}
	return r;
}

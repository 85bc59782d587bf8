/*
 * api_issuer.c - tokens.issuer as a URL: its parts, and the routes that a
 * path in it asks for.
 *
 * tokens.issuer names this daemon to the outside (the OAuth "iss", the
 * AuthZEN policy_decision_point) and the endpoints of both are advertised
 * under it, without its trailing slashes.  With a path
 * ("https://gw.example/pdp") the daemon also answers under that path, and
 * the metadata documents are also at /.well-known/<name>/pdp, where RFC
 * 8414 and AuthZEN (like RFC 8615) put them: so the advertised URLs work
 * whether a proxy maps that path to the daemon's root or the daemon is
 * called directly.
 */
#include <stdio.h>
#include <string.h>

#include "daemon/daemon_int.h"
#include "util/status.h"

void
api_issuer_parts(const char *iss, struct str *base, struct str *origin,
    struct str *path)
{
	const char *auth = strstr(iss, "://"), *slash = NULL;
	size_t n = strlen(iss);

	while (n > 0 && iss[n - 1] == '/')
		n--;
	*base = str_make(iss, n);
	*origin = *base;
	*path = STR_NULL;
	if (auth == NULL)
		return;
	auth += 3;
	if ((slash = memchr(auth, '/', n - (size_t)(auth - iss))) != NULL) {
		*path = str_make(slash, n - (size_t)(slash - iss));
		*origin = str_make(iss, (size_t)(slash - iss));
	}
}

int
api_register_under_issuer(struct daemon *d, struct http_server *srv,
    const struct api_route *routes, size_t n_routes, const char *well_known,
    http_handler_fn metadata, const char *what)
{
	struct str base, origin, path;
	char buf[HTTP_MAX_PATH + 1];
	int r;

	api_issuer_parts(d->cfg->tokens.issuer, &base, &origin, &path);
	if (path.n == 0)
		return MANDATE_OK;
	/* the router takes no braces (its parameters) and no percent
	 * signs (it matches decoded paths) in a pattern */
	if (memchr(path.p, '{', path.n) != NULL ||
	    memchr(path.p, '}', path.n) != NULL ||
	    memchr(path.p, '%', path.n) != NULL ||
	    path.n + strlen(well_known) + 1 > sizeof(buf) - 64) {
		daemon_log(d, DLOG_WARN, "tokens.issuer %s: its path cannot be "
		    "routed; the %s endpoints it advertises are served at the "
		    "root only (map them with a proxy)", d->cfg->tokens.issuer,
		    what);
		return MANDATE_OK;
	}
	for (size_t i = 0; i < n_routes; i++) {
		snprintf(buf, sizeof(buf), "%.*s%s", (int)path.n, path.p,
		    routes[i].path);
		if ((r = http_server_route(srv, routes[i].method, buf,
		    routes[i].fn, d)) != MANDATE_OK)
			return r;
	}
	snprintf(buf, sizeof(buf), "%s%.*s", well_known, (int)path.n, path.p);
	return http_server_route(srv, "GET", buf, metadata, d);
}

/*
 * oauth_client.mjs - Mandate's OAuth endpoints driven by a standard client
 * library (openid-client, on oauth4webapi; jose for the JWTs), the way
 * another vendor's client application would use them.
 *
 * Usage (from the repository root, after `npm ci` and a build):
 *   MANDATE_BIN=build/src/mandate node tests/interop/oauth_client.mjs
 * (meson's suite 'interop' runs it; `make test` runs that suite).  Exit
 * status 77 (meson: skipped) when node_modules lacks the libraries.
 *
 * Two daemons are started on free 127.0.0.1 ports, each in its own
 * temporary directory, and stopped at the end whatever happens: one whose
 * issuer is the bare origin, and one whose issuer has a path (/pdp) and
 * that asks for DPoP nonces (tokens.dpop.nonce).  Both trust a people's
 * OIDC issuer (the delegator "alice") and the SPIFFE trust domain
 * acme.test (the agent's JWT-SVIDs), whose keys this test makes.
 *
 * Everything OAuth goes through the library's public API: discovery,
 * genericGrantRequest (RFC 8693), its DPoP handle (RFC 9449, with its
 * nonce retry), tokenIntrospection (RFC 7662), tokenRevocation (RFC 7009),
 * fetchProtectedResource (GET /v1/credential); the access token is checked
 * with jose against the published JWKS (RFC 9068).  Only the tasks API,
 * which is Mandate's own, is called with plain fetch.
 */
import { after, before, describe, test } from 'node:test';
import assert from 'node:assert/strict';

let client, jose;
try {
	client = await import('openid-client');
	jose = await import('jose');
} catch (e) {
	console.log('SKIP: openid-client and jose are not installed (run ' +
	    '`npm ci` in the repository root): ' + e.message);
	process.exit(77);
}
const { AGENT, AUDIENCE, Daemon } = await import('./daemon.mjs');

const EXCHANGE = 'urn:ietf:params:oauth:grant-type:token-exchange';
const TT_JWT = 'urn:ietf:params:oauth:token-type:jwt';
const TT_AT = 'urn:ietf:params:oauth:token-type:access_token';

/* The client's view of a daemon: RFC 8414 discovery, no client
 * authentication at the token and revocation endpoints (the metadata's
 * token_endpoint_auth_methods_supported is ["none"]: the subject token
 * authenticates the agent). */
async function discover(d, clientAuth = client.None()) {
	return client.discovery(new URL(d.issuer), 'triage-agent', undefined,
	    clientAuth, { execute: [client.allowInsecureRequests], algorithm: 'oauth2' });
}

/* Introspection takes an authenticated caller (docs/api.md): RFC 7662 2.1
 * allows "a separate OAuth 2.0 access token such as the bearer token";
 * the library's ClientAuth hook is where a client puts it. */
function bearerAuth(token) {
	return (_as, _client, _body, headers) => {
		headers.set('authorization', 'Bearer ' + token);
	};
}

function exchangeParams(subjectToken, taskId, actions) {
	const detail = { type: 'mandate_task', task_id: taskId };
	if (actions)
		detail.actions = actions;
	return {
		subject_token: subjectToken,
		subject_token_type: TT_JWT,
		authorization_details: JSON.stringify([detail]),
	};
}

/* The answers a configuration's requests got ("200", "400 use_dpop_nonce"),
 * through the library's customFetch hook. */
function record(config) {
	const seen = [];
	config[client.customFetch] = async (url, options) => {
		const r = await fetch(url, options);
		let error = '';
		if (r.status >= 400)
			error = ' ' + ((await r.clone().json().catch(() => ({}))).error ?? '');
		seen.push(r.status + error);
		return r;
	};
	return seen;
}

/* What the library threw for a refused request. */
async function refusal(promise) {
	try {
		await promise;
	} catch (e) {
		return e;
	}
	assert.fail('the request was not refused');
}

/* The access token checked as a resource server would (RFC 9068 4). */
async function verifyAccessToken(config, at) {
	const meta = config.serverMetadata();
	const jwks = jose.createRemoteJWKSet(new URL(meta.jwks_uri));
	const { payload, protectedHeader } = await jose.jwtVerify(at, jwks, {
		issuer: meta.issuer,
		audience: AUDIENCE,
		typ: 'at+jwt',
		algorithms: ['ES256'],
		requiredClaims: ['iss', 'exp', 'aud', 'sub', 'client_id', 'iat', 'jti'],
	});
	return { payload, protectedHeader };
}

/* Each case counts in the plain "N passed, M failed" line printed at exit,
 * which scripts/test-summary.py reads (a failed hook counts as a failure). */
const tally = { passed: 0, failed: 0 };
function check(name, fn) {
	test(name, async (t) => {
		try {
			await fn(t);
			tally.passed++;
		} catch (e) {
			tally.failed++;
			throw e;
		}
	});
}
process.on('exit', (code) => {
	const failed = tally.failed + (code !== 0 && tally.failed === 0 ? 1 : 0);
	console.log(`interop: ${tally.passed} passed, ${failed} failed`);
});

/* Both daemons take only ES256 proofs, so that the library's ES384 key
 * makes an invalid_dpop_proof. */
const DPOP = '  dpop:\n    algorithms: [ES256]\n';
const daemons = {};

before(async () => {
	const start = async (name, opts) => {
		daemons[name] = await Daemon.start(opts);
	};
	const started = await Promise.allSettled([
		start('root', { tokensExtra: DPOP }),
		start('path', { issuerPath: '/pdp', tokensExtra: DPOP + '    nonce: true\n' }),
	]);
	for (const s of started)
		if (s.status === 'rejected')
			throw s.reason;
});

after(async () => {
	const codes = await Promise.all(Object.values(daemons).map(async (d) =>
	    [d, await d.stop()]));
	for (const [d, code] of codes)
		if (code !== 0)
			assert.fail(`a daemon did not stop cleanly (${code}); its log is ` +
			    `in ${d.dir}`);
});

for (const which of ['root', 'path']) {
	describe(`issuer ${which === 'root' ? 'without' : 'with'} a path`, () => {
		check('RFC 8414 discovery', async () => {
			const d = daemons[which];
			const config = await discover(d);
			const meta = config.serverMetadata();
			assert.equal(meta.issuer, d.issuer);
			assert.equal(meta.token_endpoint, d.issuer + '/oauth2/token');
			assert.ok(meta.grant_types_supported.includes(EXCHANGE));
			assert.ok(meta.dpop_signing_alg_values_supported.includes('ES256'));
			assert.deepEqual(meta.authorization_details_types_supported,
			    ['mandate_task']);
			// no client authentication at the token and revocation
			// endpoints; an absent revocation list would mean
			// client_secret_basic (RFC 8414 2)
			assert.deepEqual(meta.token_endpoint_auth_methods_supported, ['none']);
			assert.deepEqual(meta.revocation_endpoint_auth_methods_supported,
			    ['none']);
		});

		check('Bearer token exchange, the token checked against the JWKS',
		    async () => {
			const d = daemons[which];
			const config = await discover(d);
			const task = await d.newTask();
			const res = await client.genericGrantRequest(config, EXCHANGE,
			    exchangeParams(await d.iss.svid(), task.id, ['read_ticket']));
			assert.equal(res.token_type, 'bearer');
			assert.equal(res.issued_token_type, TT_AT);
			assert.ok(res.expires_in > 0 && res.expires_in <= 300);
			assert.deepEqual(res.authorization_details, [{ type: 'mandate_task',
			    task_id: task.id, actions: ['read_ticket'] }]);

			const { payload, protectedHeader } =
			    await verifyAccessToken(config, res.access_token);
			assert.equal(protectedHeader.typ, 'at+jwt');
			assert.equal(payload.sub, AGENT);
			assert.equal(payload.task, task.id);
			assert.equal(payload.cnf, undefined);
			assert.ok(payload.exp <= task.expires_at);

			const cred = await client.fetchProtectedResource(config,
			    res.access_token, new URL(d.origin + '/v1/credential'), 'GET');
			assert.equal(cred.status, 200);
			assert.equal((await cred.json()).task, task.id);
		});

		check('DPoP-bound token exchange and use', async () => {
			const d = daemons[which];
			const config = await discover(d);
			const seen = record(config);
			const task = await d.newTask();
			const keys = await client.randomDPoPKeyPair('ES256');
			const dpop = client.getDPoPHandle(config, keys);
			// with tokens.dpop.nonce (the daemon with a path) the first
			// proof has no nonce: the library reads use_dpop_nonce and
			// the DPoP-Nonce header and sends it again by itself
			const res = await client.genericGrantRequest(config, EXCHANGE,
			    exchangeParams(await d.iss.svid(), task.id), { DPoP: dpop });
			assert.equal(res.token_type, 'dpop');
			assert.deepEqual(seen.splice(0), which === 'path' ?
			    ['400 use_dpop_nonce', '200'] : ['200']);
			const { payload } = await verifyAccessToken(config, res.access_token);
			assert.equal(payload.cnf.jkt, await dpop.calculateThumbprint());

			const url = new URL(d.origin + '/v1/credential');
			let cred = await client.fetchProtectedResource(config,
			    res.access_token, url, 'GET', undefined, undefined, { DPoP: dpop });
			assert.equal(cred.status, 200);
			assert.equal((await cred.json()).cnf.jkt, payload.cnf.jkt);

			// a new handle for the same key knows no nonce yet: at the
			// resource the challenge is a 401 with WWW-Authenticate
			// (RFC 9449 9), which the library answers by itself too
			seen.length = 0;
			cred = await client.fetchProtectedResource(config, res.access_token,
			    url, 'GET', undefined, undefined,
			    { DPoP: client.getDPoPHandle(config, keys) });
			assert.equal(cred.status, 200);
			assert.deepEqual(seen, which === 'path' ?
			    ['401 use_dpop_nonce', '200'] : ['200']);

			// the bound token as a bearer token (RFC 9449 7.2), or with a
			// proof by another key (7.1): 401, a challenge the library reads
			let e = await refusal(client.fetchProtectedResource(config,
			    res.access_token, url, 'GET'));
			assert.ok(e instanceof client.WWWAuthenticateChallengeError, String(e));
			assert.equal(e.status, 401);
			assert.deepEqual(e.cause.map((c) => [c.scheme, c.parameters.error]),
			    [['bearer', 'invalid_token']]);
			e = await refusal(client.fetchProtectedResource(config,
			    res.access_token, url, 'GET', undefined, undefined,
			    { DPoP: client.getDPoPHandle(config,
			        await client.randomDPoPKeyPair('ES256')) }));
			assert.ok(e instanceof client.WWWAuthenticateChallengeError, String(e));
			assert.equal(e.status, 401);
			assert.deepEqual(e.cause.map((c) => [c.scheme, c.parameters.error,
			    c.parameters.algs]), [['dpop', 'invalid_token', 'ES256']]);

			// a proof of an algorithm the server does not take
			// (dpop_signing_alg_values_supported is ES256): 400
			// invalid_dpop_proof at the token endpoint (RFC 9449 5)
			e = await refusal(client.genericGrantRequest(config, EXCHANGE,
			    exchangeParams(await d.iss.svid(), task.id),
			    { DPoP: client.getDPoPHandle(config,
			        await client.randomDPoPKeyPair('ES384')) }));
			assert.ok(e instanceof client.ResponseBodyError, String(e));
			assert.equal(e.status, 400);
			assert.equal(e.error, 'invalid_dpop_proof');
		});

		check('introspection and revocation', async () => {
			const d = daemons[which];
			const config = await discover(d);
			const rs = await discover(d, bearerAuth(await d.iss.person()));
			const task = await d.newTask();
			const res = await client.genericGrantRequest(config, EXCHANGE,
			    exchangeParams(await d.iss.svid(), task.id));

			let info = await client.tokenIntrospection(rs, res.access_token,
			    { token_type_hint: 'access_token' });
			assert.equal(info.active, true);
			assert.equal(info.sub, AGENT);
			assert.equal(info.task, task.id);

			await client.tokenRevocation(config, res.access_token,
			    { token_type_hint: 'access_token' });
			info = await client.tokenIntrospection(rs, res.access_token);
			assert.deepEqual({ ...info }, { active: false });
			// revoking again, or a token that is not ours: still 200
			await client.tokenRevocation(config, res.access_token);
			await client.tokenRevocation(config, 'not-a-token');
		});

		check('errors the library parses', async () => {
			const d = daemons[which];
			const config = await discover(d);
			const task = await d.newTask();

			// a subject token that does not verify: invalid_request
			let e = await refusal(client.genericGrantRequest(config, EXCHANGE,
			    exchangeParams('x.y.z', task.id)));
			assert.ok(e instanceof client.ResponseBodyError, String(e));
			assert.equal(e.status, 400);
			assert.equal(e.error, 'invalid_request');

			// client authentication, which the token endpoint does not
			// take (token_endpoint_auth_methods_supported is none):
			// invalid_client, not a token for a client that believes it
			// authenticated (RFC 6749 5.2); in the Authorization header a
			// 401 with a challenge of the client's scheme
			const basic = await discover(d, client.ClientSecretBasic('s3cret'));
			e = await refusal(client.genericGrantRequest(basic, EXCHANGE,
			    exchangeParams(await d.iss.svid(), task.id)));
			assert.ok(e instanceof client.WWWAuthenticateChallengeError, String(e));
			assert.equal(e.status, 401);
			assert.deepEqual(e.cause, [{ scheme: 'basic',
			    parameters: { realm: 'mandate' } }]);
			assert.equal((await e.response.json()).error, 'invalid_client');
			for (const auth of [client.ClientSecretPost('s3cret'),
			    client.PrivateKeyJwt((await jose.generateKeyPair('ES256')).privateKey)]) {
				e = await refusal(client.genericGrantRequest(await discover(d, auth),
				    EXCHANGE, exchangeParams(await d.iss.svid(), task.id)));
				assert.ok(e instanceof client.ResponseBodyError, String(e));
				assert.equal(e.status, 400);
				assert.equal(e.error, 'invalid_client');
			}

			// an ended task: invalid_grant
			await d.endTask(task.id);
			e = await refusal(client.genericGrantRequest(config, EXCHANGE,
			    exchangeParams(await d.iss.svid(), task.id)));
			assert.ok(e instanceof client.ResponseBodyError, String(e));
			assert.equal(e.status, 400);
			assert.equal(e.error, 'invalid_grant');

			// another grant: unsupported_grant_type
			e = await refusal(client.clientCredentialsGrant(config));
			assert.ok(e instanceof client.ResponseBodyError, String(e));
			assert.equal(e.status, 400);
			assert.equal(e.error, 'unsupported_grant_type');

			// introspection without a credential: 401 and a Bearer
			// challenge without an error code (RFC 6750 3.1)
			e = await refusal(client.tokenIntrospection(config, 'x'));
			assert.ok(e instanceof client.WWWAuthenticateChallengeError, String(e));
			assert.equal(e.status, 401);
			assert.deepEqual(e.cause, [{ scheme: 'bearer',
			    parameters: { realm: 'mandate' } }]);

			// introspection with the library's client_secret_basic, a
			// method Mandate does not take: the same challenge, without
			// an error code ("attempted using an unsupported
			// authentication method", RFC 6750 3.1): no token was
			// presented, so none was invalid
			e = await refusal(client.tokenIntrospection(basic, 'x'));
			assert.ok(e instanceof client.WWWAuthenticateChallengeError, String(e));
			assert.equal(e.status, 401);
			assert.deepEqual(e.cause, [{ scheme: 'bearer',
			    parameters: { realm: 'mandate' } }]);
		});
	});
}

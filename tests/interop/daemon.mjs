/*
 * daemon.mjs - a configured `mandate serve` for the interop tests: free
 * 127.0.0.1 port, its own temporary directory, the identity issuers whose
 * keys the test holds (Issuers), stopped by stop() or, should the test
 * process die, with it.  Import it after checking that jose is installed
 * (oauth_client.mjs does): a missing node_modules is a skip, not an error.
 */
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import assert from 'node:assert/strict';
import * as jose from 'jose';

const ROOT = path.resolve(import.meta.dirname, '..', '..');
const BIN = path.resolve(process.env.MANDATE_BIN ??
    path.join(ROOT, 'build', 'src', 'mandate'));
export const AGENT = 'spiffe://acme.test/agents/triage';
export const AUDIENCE = 'mcp-gateway';

const POLICY = `
@id("alice-delegates")
permit (principal == Delegator::"alice",
        action in [Action::"mandate:create_task", Action::"mandate:revoke_agent"],
        resource)
when { context.agent.trust_domain == "acme.test" };
`;

/* The two identity issuers the daemons trust; their private keys stay
 * here.  person() is alice's bearer token, svid() the agent's JWT-SVID. */
export class Issuers {
	static async make(dir) {
		const self = new Issuers();
		self.people = await jose.generateKeyPair('ES256', { extractable: true });
		self.agents = await jose.generateKeyPair('ES256', { extractable: true });
		const pub = async (k, kid, use) => ({ ...(await jose.exportJWK(k.publicKey)),
		    kid, alg: 'ES256', ...(use ? { use } : {}) });
		fs.writeFileSync(path.join(dir, 'people.jwks'),
		    JSON.stringify({ keys: [await pub(self.people, 'p1')] }));
		fs.writeFileSync(path.join(dir, 'acme.bundle'), JSON.stringify({
		    keys: [await pub(self.agents, 'a1', 'jwt-svid')],
		    spiffe_refresh_hint: 300 }));
		return self;
	}

	person(sub = 'alice') {
		return new jose.SignJWT({ sub, aud: 'mandate' })
		    .setProtectedHeader({ alg: 'ES256', kid: 'p1', typ: 'JWT' })
		    .setIssuer('https://people.test').setIssuedAt().setExpirationTime('5m')
		    .sign(this.people.privateKey);
	}

	svid(sub = AGENT) {
		return new jose.SignJWT({ sub, aud: ['mandate'] })
		    .setProtectedHeader({ alg: 'ES256', kid: 'a1', typ: 'JWT' })
		    .setIssuedAt().setExpirationTime('5m')
		    .sign(this.agents.privateKey);
	}
}

function freePort() {
	return new Promise((resolve, reject) => {
		const s = net.createServer();
		s.on('error', reject);
		s.listen(0, '127.0.0.1', () => {
			const { port } = s.address();
			s.close(() => resolve(port));
		});
	});
}

/* One running `mandate serve`; stop() is safe to call more than once. */
export class Daemon {
	static async start({ issuerPath = '', tokensExtra = '' } = {}) {
		const d = new Daemon();
		d.dir = fs.mkdtempSync(path.join(os.tmpdir(), 'mandate-interop-'));
		d.port = await freePort();
		d.origin = `http://127.0.0.1:${d.port}`;
		d.issuer = d.origin + issuerPath;
		d.iss = await Issuers.make(d.dir);
		fs.mkdirSync(path.join(d.dir, 'policies'));
		fs.writeFileSync(path.join(d.dir, 'policies', 'p.cedar'), POLICY);
		const cfg = `data_dir: ${d.dir}/data
server:
  listen: 127.0.0.1:${d.port}
policies:
  platform: [${d.dir}/policies]
identity:
  issuers:
    - name: people
      kind: oidc
      issuer: https://people.test
      jwks_file: ${d.dir}/people.jwks
      audiences: [mandate]
      algorithms: [ES256]
    - name: agents
      kind: spiffe
      trust_domain: acme.test
      bundle_file: ${d.dir}/acme.bundle
      audiences: [mandate]
tokens:
  issuer: ${d.issuer}
  audience: ${AUDIENCE}
  default_ttl: 5m
${tokensExtra}api_auth:
  bearer_issuers: [people]
  open_on_loopback: false
`;
		fs.writeFileSync(path.join(d.dir, 'mandate.yaml'), cfg);
		d.log = fs.openSync(path.join(d.dir, 'daemon.log'), 'w');
		d.proc = spawn(BIN, ['serve', '--config', path.join(d.dir, 'mandate.yaml')],
		    { cwd: d.dir, stdio: ['ignore', d.log, d.log] });
		d.exited = once(d.proc, 'exit');
		d.running.add(d);
		await d.waitReady();
		return d;
	}

	async waitReady() {
		const deadline = Date.now() + 10000;
		while (Date.now() < deadline) {
			if (this.proc.exitCode !== null)
				throw new Error(`daemon exited with ${this.proc.exitCode}:\n` +
				    this.logText());
			try {
				if ((await fetch(this.origin + '/readyz')).status === 200)
					return;
			} catch { /* not listening yet */ }
			await new Promise((r) => setTimeout(r, 50));
		}
		throw new Error('daemon not ready:\n' + this.logText());
	}

	logText() {
		return fs.readFileSync(path.join(this.dir, 'daemon.log'), 'utf8');
	}

	/* SIGTERM, then SIGKILL after 10 s; the exit code (0 is a clean stop). */
	async stop() {
		if (this.proc.exitCode === null && this.proc.signalCode === null) {
			this.proc.kill('SIGTERM');
			const t = setTimeout(() => this.proc.kill('SIGKILL'), 10000);
			await this.exited;
			clearTimeout(t);
		}
		this.running.delete(this);
		try { fs.closeSync(this.log); } catch { /* closed */ }
		const code = this.proc.exitCode;
		if (code === 0)
			fs.rmSync(this.dir, { recursive: true, force: true });
		return code;
	}

	/* A task for the agent, made by alice through the tasks API. */
	async newTask(intents = ['read_ticket', 'send_email']) {
		const r = await fetch(this.origin + '/v1/tasks', {
			method: 'POST',
			headers: { authorization: 'Bearer ' + await this.iss.person(),
			    'content-type': 'application/json' },
			body: JSON.stringify({ agent: AGENT, objective: 'triage',
			    intents: intents.map((action) => ({ action })) }),
		});
		assert.equal(r.status, 201, await r.clone().text());
		return r.json();
	}

	async endTask(id) {
		const r = await fetch(`${this.origin}/v1/tasks/${id}/end`, {
			method: 'POST',
			headers: { authorization: 'Bearer ' + await this.iss.person() },
		});
		assert.equal(r.status, 200, await r.clone().text());
	}
}
Daemon.prototype.running = new Set();

/* A daemon left running by a crash of this process is stopped with it. */
for (const sig of ['SIGINT', 'SIGTERM'])
	process.on(sig, () => {
		for (const d of Daemon.prototype.running)
			d.proc.kill('SIGKILL');
		process.exit(1);
	});
process.on('exit', () => {
	for (const d of Daemon.prototype.running)
		d.proc.kill('SIGKILL');
});


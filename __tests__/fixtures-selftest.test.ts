// Proves the real-registry fixtures work, with curl and skopeo as the clients: each auth mode answers
// /v2/ as it should, takes a push of a hand-made OCI layout and gives it back; the token server checks
// credentials, speaks both the GET and the OAuth2 POST dialects, and its short tokens really expire;
// stopping (or failing to start) leaves no process and no temp dir behind.
//
// The token server lives in this process, so every client runs asynchronously (never execFileSync).
import { execFile } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { liveRegistryPids, startRegistry, type RegistryAuth, type RegistryFixture } from './helpers/registry.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string;
}

function run(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 20_000, killSignal: 'SIGKILL', env, encoding: 'utf8', maxBuffer: 8 << 20 }, (err, stdout, stderr) => {
      const code = err ? (typeof err.code === 'number' ? err.code : -1) : 0;
      resolve({ code, stdout, stderr });
    });
  });
}

/** curl -sS with a 10 s cap; `-w` appends the status on a last line. */
async function curl(reg: RegistryFixture, args: string[]): Promise<{ status: number; headers: string; body: string }> {
  const tls = reg.caFile ? ['--cacert', reg.caFile] : [];
  const r = await run('curl', ['-sS', '--max-time', '10', '-D', '-', '-w', '\n%{http_code}', ...tls, ...args]);
  expect(r.code, r.stderr).toBe(0);
  const lastNl = r.stdout.lastIndexOf('\n');
  const status = Number(r.stdout.slice(lastNl + 1));
  const rest = r.stdout.slice(0, lastNl);
  const split = rest.lastIndexOf('\r\n\r\n');
  return { status, headers: rest.slice(0, split), body: rest.slice(split + 4) };
}

const header = (headers: string, name: string) => new RegExp(`^${name}:\\s*(.*?)\\s*$`, 'im').exec(headers)?.[1];

const sha256 = (b: Buffer | string) => `sha256:${createHash('sha256').update(b).digest('hex')}`;
const MANIFEST_TYPE = 'application/vnd.oci.image.manifest.v1+json';

interface Layout {
  dir: string;
  manifest: Buffer;
  digest: string;
  layerDigest: string;
}

/** An OCI image layout written by hand: config `{}`, one small layer, one manifest tagged v1. */
function writeLayout(base: string): Layout {
  const dir = join(base, 'layout');
  mkdirSync(join(dir, 'blobs', 'sha256'), { recursive: true });
  const put = (data: Buffer) => {
    const digest = sha256(data);
    writeFileSync(join(dir, 'blobs', 'sha256', digest.slice(7)), data);
    return { digest, size: data.length };
  };
  const config = put(Buffer.from('{}'));
  const layer = put(Buffer.from('\0asm\x01\0\0\0', 'binary'));
  const manifest = Buffer.from(
    JSON.stringify({
      schemaVersion: 2,
      mediaType: MANIFEST_TYPE,
      config: { mediaType: 'application/vnd.oci.image.config.v1+json', ...config },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar', ...layer }],
    }),
  );
  const m = put(manifest);
  writeFileSync(join(dir, 'oci-layout'), JSON.stringify({ imageLayoutVersion: '1.0.0' }));
  writeFileSync(
    join(dir, 'index.json'),
    JSON.stringify({
      schemaVersion: 2,
      manifests: [{ mediaType: MANIFEST_TYPE, ...m, annotations: { 'org.opencontainers.image.ref.name': 'v1' } }],
    }),
  );
  return { dir, manifest, digest: m.digest, layerDigest: layer.digest };
}

let work: string;
let layout: Layout;
let skopeoEnv: NodeJS.ProcessEnv;

beforeAll(() => {
  work = mkdtempSync(join(tmpdir(), 'fixtures-selftest-'));
  layout = writeLayout(work);
  // No stray credentials from the machine's auth files.
  skopeoEnv = { PATH: process.env.PATH, HOME: work, REGISTRY_AUTH_FILE: join(work, 'auth.json') };
});
afterAll(() => {
  if (work) rmSync(work, { recursive: true, force: true });
});

function skopeoTransport(reg: RegistryFixture, side: 'dest' | 'src' | 'plain', creds?: string): string[] {
  const p = side === 'plain' ? '--' : `--${side}-`;
  const args = reg.certDir ? [`${p}cert-dir`, reg.certDir] : [`${p}tls-verify=false`];
  if (creds) args.push(`${p}creds`, creds);
  return args;
}

async function skopeoPush(reg: RegistryFixture, repo: string, creds?: string): Promise<Run> {
  return run(
    'skopeo',
    [
      '--insecure-policy',
      'copy',
      '--retry-times',
      '0',
      '--preserve-digests',
      ...skopeoTransport(reg, 'dest', creds),
      `oci:${layout.dir}:v1`,
      `docker://${reg.host}/${repo}:v1`,
    ],
    skopeoEnv,
  );
}

async function skopeoRaw(reg: RegistryFixture, repo: string, creds?: string): Promise<Run> {
  return run(
    'skopeo',
    ['inspect', '--raw', '--retry-times', '0', ...skopeoTransport(reg, 'plain', creds), `docker://${reg.host}/${repo}:v1`],
    skopeoEnv,
  );
}

const MODES: Array<{ name: string; auth: RegistryAuth; tls: boolean }> = [
  { name: 'anonymous', auth: 'none', tls: false },
  { name: 'basic', auth: 'basic', tls: false },
  { name: 'token', auth: 'token', tls: false },
  { name: 'tls', auth: 'none', tls: true },
];

describe.each(MODES)('$name registry', ({ name, auth, tls }) => {
  let reg: RegistryFixture;
  const repo = `selftest/${name}`;
  const creds = () => (reg.username ? `${reg.username}:${reg.password}` : undefined);

  beforeAll(async () => {
    reg = await startRegistry({ auth, tls });
  });
  afterAll(async () => {
    await reg?.stop();
  });

  it('describes itself', () => {
    expect(reg.host).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(reg.url).toBe(`${tls ? 'https' : 'http'}://${reg.host}`);
    expect(reg.auth).toBe(auth);
    expect(existsSync(reg.dir)).toBe(true);
    if (auth === 'none') expect(reg.username).toBeUndefined();
    else expect(reg.username && reg.password).toBeTruthy();
    expect(Boolean(reg.caFile)).toBe(tls);
    expect(Boolean(reg.tokenServer)).toBe(auth === 'token');
  });

  it('answers GET /v2/ as its auth mode says', async () => {
    const plain = await curl(reg, [`${reg.url}/v2/`]);
    if (auth === 'none') {
      expect(plain.status).toBe(200);
      return;
    }
    expect(plain.status).toBe(401);
    const challenge = header(plain.headers, 'www-authenticate') ?? '';
    if (auth === 'basic') {
      expect(challenge).toMatch(/^Basic realm="test-registry"/);
      expect((await curl(reg, ['-u', creds() as string, `${reg.url}/v2/`])).status).toBe(200);
      expect((await curl(reg, ['-u', `${reg.username}:wrong`, `${reg.url}/v2/`])).status).toBe(401);
      return;
    }
    const realm = /realm="([^"]+)"/.exec(challenge)?.[1];
    const service = /service="([^"]+)"/.exec(challenge)?.[1];
    expect(challenge).toMatch(/^Bearer /);
    expect(realm).toBe(`${reg.tokenServer?.url}/token`);
    expect(service).toBe('test-registry');
    const got = await curl(reg, ['-u', creds() as string, `${realm}?service=${service}`]);
    expect(got.status).toBe(200);
    const body = JSON.parse(got.body) as { token: string; access_token: string; expires_in: number; issued_at: string };
    expect(body.access_token).toBe(body.token);
    expect(body.expires_in).toBe(300);
    expect(reg.tokenServer?.issuedTokens).toContain(body.token);
    expect((await curl(reg, ['-H', `Authorization: Bearer ${body.token}`, `${reg.url}/v2/`])).status).toBe(200);
    expect((await curl(reg, ['-H', `Authorization: Bearer ${body.token}x`, `${reg.url}/v2/`])).status).toBe(401);
  });

  it('takes a push from skopeo and gives the manifest back', async () => {
    const pushed = await skopeoPush(reg, repo, creds());
    expect(pushed.code, pushed.stderr).toBe(0);
    const raw = await skopeoRaw(reg, repo, creds());
    expect(raw.code, raw.stderr).toBe(0);
    expect(raw.stdout).toBe(layout.manifest.toString());
    const log = reg.accessLog();
    expect(log).toMatch(new RegExp(`"POST /v2/${repo}/blobs/uploads/ HTTP/[\\d.]+" 202 `));
    expect(log).toMatch(new RegExp(`"PUT /v2/${repo}/blobs/uploads/[^ ]*digest=sha256(:|%3A)[0-9a-f]{64}[^ ]* HTTP/[\\d.]+" 201 `));
    expect(log).toMatch(new RegExp(`"PUT /v2/${repo}/manifests/v1 HTTP/[\\d.]+" 201 `));

    // A cross-repository mount shows in the access log as a POST with mount= and from= answered 201.
    const auth = reg.username ? ['-u', creds() as string] : [];
    if (auth.length === 0 || reg.auth === 'basic') {
      const mounted = await curl(reg, [
        ...auth,
        '-X',
        'POST',
        `${reg.url}/v2/${repo}-copy/blobs/uploads/?mount=${layout.layerDigest}&from=${repo}`,
      ]);
      expect(mounted.status).toBe(201);
      expect(reg.accessLog()).toMatch(
        new RegExp(`"POST /v2/${repo}-copy/blobs/uploads/\\?mount=${layout.layerDigest}&from=${repo} HTTP/[\\d.]+" 201 `),
      );
    }
  });

  if (auth !== 'none') {
    it('refuses a push with a wrong password', async () => {
      const pushed = await skopeoPush(reg, `${repo}-denied`, `${reg.username}:not-the-password`);
      expect(pushed.code).not.toBe(0);
      expect(pushed.stderr).toMatch(/unauthorized|authentication required|401/i);
      if (reg.tokenServer) expect(reg.tokenServer.requests.some((r) => r.status === 401 && r.account === reg.username)).toBe(true);
    });
  }

  if (auth === 'token') {
    it('grants the scopes asked for, to authenticated users only, in GET and OAuth2 POST form', async () => {
      const ts = reg.tokenServer!;
      const manifestUrl = `${reg.url}/v2/${repo}/manifests/v1`;
      const accept = ['-H', `Accept: ${MANIFEST_TYPE}`];
      const bearer = (t: string) => ['-H', `Authorization: Bearer ${t}`];

      // Anonymous: a token that grants nothing.
      const anon = await curl(reg, [`${ts.url}/token?service=test-registry&scope=repository:${repo}:pull`]);
      expect(anon.status).toBe(200);
      const anonToken = (JSON.parse(anon.body) as { token: string }).token;
      const denied = await curl(reg, [...accept, ...bearer(anonToken), manifestUrl]);
      expect(denied.status).toBe(401);
      expect(header(denied.headers, 'www-authenticate')).toMatch(/error="insufficient_scope"/);
      expect(ts.requests.at(-1)).toMatchObject({ method: 'GET', account: undefined, status: 200 });

      // GET with several scope parameters, actions in either order.
      const both = await curl(reg, [
        '-u',
        creds() as string,
        `${ts.url}/token?service=test-registry&scope=repository:${repo}:push,pull&scope=repository:other/repo:pull`,
      ]);
      expect(both.status).toBe(200);
      const claims = JSON.parse(
        Buffer.from((JSON.parse(both.body) as { token: string }).token.split('.')[1], 'base64url').toString(),
      ) as Record<string, unknown>;
      expect(claims).toMatchObject({
        iss: 'test-issuer',
        sub: reg.username,
        aud: 'test-registry',
        access: [
          { type: 'repository', name: repo, actions: ['push', 'pull'] },
          { type: 'repository', name: 'other/repo', actions: ['pull'] },
        ],
      });
      expect(ts.requests.at(-1)).toMatchObject({
        scope: [`repository:${repo}:push,pull`, 'repository:other/repo:pull'],
        account: reg.username,
      });

      // OAuth2 password grant (containerd, ORAS), asking for a refresh token.
      const form = (fields: Record<string, string>) => ['--data', new URLSearchParams(fields).toString(), `${ts.url}/token`];
      const scope = `repository:${repo}:pull`;
      const pw = await curl(
        reg,
        form({
          grant_type: 'password',
          username: reg.username!,
          password: reg.password!,
          service: 'test-registry',
          scope,
          client_id: 'selftest',
          access_type: 'offline',
        }),
      );
      expect(pw.status).toBe(200);
      const pwBody = JSON.parse(pw.body) as { access_token: string; refresh_token?: string };
      expect(pwBody.refresh_token).toBe(reg.refreshToken);
      expect((await curl(reg, [...accept, ...bearer(pwBody.access_token), manifestUrl])).status).toBe(200);

      // OAuth2 refresh-token grant.
      const rt = await curl(
        reg,
        form({ grant_type: 'refresh_token', refresh_token: reg.refreshToken!, service: 'test-registry', scope, client_id: 'selftest' }),
      );
      expect(rt.status).toBe(200);
      expect(
        (await curl(reg, [...accept, ...bearer((JSON.parse(rt.body) as { access_token: string }).access_token), manifestUrl])).status,
      ).toBe(200);

      // Wrong password: 401 in both dialects, and no token.
      const issued = ts.issuedTokens.length;
      expect(
        (await curl(reg, form({ grant_type: 'password', username: reg.username!, password: 'nope', service: 'test-registry', scope })))
          .status,
      ).toBe(401);
      expect((await curl(reg, ['-u', `${reg.username}:nope`, `${ts.url}/token?service=test-registry&scope=${scope}`])).status).toBe(401);
      expect(ts.issuedTokens.length).toBe(issued);

      // A mount challenge names the source repository too; a token without pull on it is refused.
      const mountUrl = `${reg.url}/v2/${repo}-copy/blobs/uploads/?mount=${layout.layerDigest}&from=${repo}`;
      const challenge = header((await curl(reg, ['-X', 'POST', mountUrl])).headers, 'www-authenticate');
      // Go map order: the two scopes, and the actions within one, come in either order.
      const normalise = (scope: string) => scope.replace(/:([a-z,]+)$/, (_m, actions: string) => `:${actions.split(',').sort().join(',')}`);
      expect(
        /scope="([^"]*)"/
          .exec(challenge ?? '')?.[1]
          ?.split(' ')
          .map(normalise)
          .sort(),
      ).toEqual([`repository:${repo}-copy:pull,push`, `repository:${repo}:pull`].sort());
      const tok = async (scopes: string[]) => {
        const q = scopes.map((s) => `&scope=${s}`).join('');
        return (
          JSON.parse((await curl(reg, ['-u', creds() as string, `${ts.url}/token?service=test-registry${q}`])).body) as { token: string }
        ).token;
      };
      expect((await curl(reg, ['-X', 'POST', ...bearer(await tok([`repository:${repo}-copy:pull,push`])), mountUrl])).status).toBe(401);
      expect(
        (await curl(reg, ['-X', 'POST', ...bearer(await tok([`repository:${repo}-copy:pull,push`, `repository:${repo}:pull`])), mountUrl]))
          .status,
      ).toBe(201);
    });
  }
});

describe('token lifetime', () => {
  it('a 1-second token works at once and is refused 2.5 s later', async () => {
    const reg = await startRegistry({ auth: 'token', tokenTtlSeconds: 1 });
    try {
      const got = await curl(reg, ['-u', `${reg.username}:${reg.password}`, `${reg.tokenServer?.url}/token?service=test-registry`]);
      const body = JSON.parse(got.body) as { token: string; expires_in: number };
      expect(body.expires_in).toBe(1);
      const check = async () => (await curl(reg, ['-H', `Authorization: Bearer ${body.token}`, `${reg.url}/v2/`])).status;
      expect(await check()).toBe(200);
      await sleep(2500);
      expect(await check()).toBe(401);
    } finally {
      await reg.stop();
    }
  });
});

describe('token grants', () => {
  it('tokenGrant decides which of the asked actions a token carries', async () => {
    const reg = await startRegistry({
      auth: 'token',
      tokenGrant: (account, scope) => (account && scope.name.startsWith('ro/') ? ['pull'] : ['pull', 'push']),
    });
    try {
      const got = await curl(reg, [
        '-u',
        `${reg.username}:${reg.password}`,
        `${reg.tokenServer?.url}/token?service=test-registry&scope=repository:ro/x:pull,push&scope=repository:rw/x:push`,
      ]);
      const token = (JSON.parse(got.body) as { token: string }).token;
      const claims = JSON.parse(Buffer.from(token.split('.')[1], 'base64url').toString()) as { access: unknown };
      expect(claims.access).toEqual([
        { type: 'repository', name: 'ro/x', actions: ['pull'] },
        { type: 'repository', name: 'rw/x', actions: ['push'] },
      ]);
      const upload = await curl(reg, ['-X', 'POST', '-H', `Authorization: Bearer ${token}`, `${reg.url}/v2/ro/x/blobs/uploads/`]);
      expect(upload.status).toBe(401);
    } finally {
      await reg.stop();
    }
  });
});

describe('lifecycle', () => {
  it('stop() ends the process, the token server and the temp dir, and keeps the log readable', async () => {
    const reg = await startRegistry({ auth: 'token' });
    expect(liveRegistryPids()).toContain(reg.pid);
    expect(() => process.kill(reg.pid, 0)).not.toThrow();
    await reg.stop();
    await reg.stop(); // idempotent
    expect(() => process.kill(reg.pid, 0)).toThrow(/ESRCH/);
    expect(liveRegistryPids()).not.toContain(reg.pid);
    expect(existsSync(reg.dir)).toBe(false);
    expect(reg.accessLog()).toMatch(/listening on 127\.0\.0\.1:\d+/);
    const tokenProbe = await run('curl', ['-sS', '--max-time', '3', `${reg.tokenServer?.url}/token`]);
    expect(tokenProbe.code).not.toBe(0);
  });

  it('a start that does not come up in time throws with the log and leaves nothing running', async () => {
    const before = liveRegistryPids();
    await expect(startRegistry({ tls: true, startTimeoutMs: 1 })).rejects.toThrow(/did not answer GET https:\/\/127\.0\.0\.1:\d+\/v2\//);
    expect(liveRegistryPids()).toEqual(before);
  });

  it('starts several at once on distinct ports', async () => {
    const regs = await Promise.all([startRegistry(), startRegistry(), startRegistry({ auth: 'basic' })]);
    try {
      expect(new Set(regs.map((r) => r.host)).size).toBe(3);
    } finally {
      await Promise.all(regs.map((r) => r.stop()));
    }
  });
});

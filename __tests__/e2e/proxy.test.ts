// The bundled action behind a real forward proxy (tinyproxy). The registry is named `registry.proxytest`,
// which only the proxy can resolve (its own mount namespace has that hosts entry): a push that succeeds
// went through the proxy. https goes through a CONNECT tunnel, plain http in absolute form, NO_PROXY goes
// direct, and the proxy's user info becomes Proxy-Authorization.
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLines, FIXTURE_MODULE, runAction, type ActionRun } from '../helpers/action.js';
import { expectImage, expectNoSecrets } from '../helpers/consumer.js';
import { freePort, startRegistry, type RegistryFixture } from '../helpers/registry.js';
import { privateMountNamespace, startTinyproxy, type Tinyproxy } from '../helpers/tinyproxy.js';

const MODULE = readFileSync(FIXTURE_MODULE);
const NAME = 'registry.proxytest';
const PROXY_USER = 'proxyuser';
// tinyproxy's BasicAuth takes letters and digits only.
const PROXY_PASSWORD = 'pr0xySecret7';

/** The requests tinyproxy logged: `GET http://host/...` (forwarded) or `CONNECT host:port` (tunnelled). */
function proxied(proxy: Tinyproxy): string[] {
  return [...proxy.log().matchAll(/Request \(file descriptor \d+\): (\S+ \S+)/g)].map((m) => m[1]);
}

function expectPushed(run: ActionRun): void {
  expect(run.code, run.stdout + run.stderr).toBe(0);
  expect(run.outputs.verified).toBe('true');
}

describe('through tinyproxy', () => {
  let plain: RegistryFixture;
  let tls: RegistryFixture;
  let proxy: Tinyproxy;
  let authProxy: Tinyproxy;
  let work: string;

  beforeAll(async () => {
    [plain, tls, proxy, authProxy] = await Promise.all([
      startRegistry({ auth: 'basic' }),
      startRegistry({ auth: 'basic', tls: true, tlsHostNames: [NAME] }),
      startTinyproxy({ hosts: { [NAME]: '127.0.0.1' } }),
      startTinyproxy({ hosts: { [NAME]: '127.0.0.1' }, basicAuth: { username: PROXY_USER, password: PROXY_PASSWORD } }),
    ]);
    work = mkdtempSync(join(tmpdir(), 'e2e-proxy-'));
  });
  afterAll(async () => {
    await Promise.all([plain?.stop(), tls?.stop(), proxy?.stop(), authProxy?.stop()]);
    if (work) rmSync(work, { recursive: true, force: true });
  });

  const port = (reg: RegistryFixture) => reg.host.split(':')[1];
  const creds = (reg: RegistryFixture) => ({ username: reg.username as string, password: reg.password as string });
  const viaProxy = (url: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv => ({ HTTPS_PROXY: url, HTTP_PROXY: url, ...extra });

  it('forwards plain-HTTP requests in absolute form to an insecure registry only the proxy can resolve', async () => {
    const host = `${NAME}:${port(plain)}`;
    const run = await runAction(
      { wasm: FIXTURE_MODULE, tags: `${host}/plain/filter:1`, 'insecure-registries': host, ...creds(plain) },
      { env: viaProxy(proxy.url) },
    );
    expectPushed(run);
    const requests = proxied(proxy);
    expect(requests).toContain(`GET http://${host}/v2/`);
    expect(requests).toContain(`PUT http://${host}/v2/plain/filter/manifests/1`);
    await expectImage(
      `${plain.host}/plain/filter:1`,
      { tls: false, creds: `${plain.username}:${plain.password}` },
      {
        digest: run.outputs.digest,
        variant: 'compat',
        module: MODULE,
      },
    );
  });

  it('tunnels HTTPS with CONNECT: the proxy sees host and port, never a request or its Authorization', async () => {
    const host = `${NAME}:${port(tls)}`;
    const before = proxied(proxy).length;
    const logBefore = proxy.log().length;
    const run = await runAction(
      { wasm: FIXTURE_MODULE, tags: `${host}/tls/filter:1`, ...creds(tls) },
      { env: viaProxy(proxy.url, { NODE_EXTRA_CA_CERTS: tls.caFile }) },
    );
    expectPushed(run);
    const requests = proxied(proxy).slice(before);
    expect(requests.length).toBeGreaterThan(0);
    expect(new Set(requests)).toEqual(new Set([`CONNECT ${host}`]));
    expect(proxy.log().slice(logBefore)).not.toContain('/v2/');
  });

  it('sends Proxy-Authorization from the proxy URL user info and masks the password', async () => {
    const host = `${NAME}:${port(tls)}`;
    const url = `http://${PROXY_USER}:${encodeURIComponent(PROXY_PASSWORD)}@127.0.0.1:${authProxy.port}`;
    const run = await runAction(
      { wasm: FIXTURE_MODULE, tags: `${host}/authproxy/filter:1`, ...creds(tls) },
      { env: viaProxy(url, { NODE_EXTRA_CA_CERTS: tls.caFile }) },
    );
    expectPushed(run);
    expect(proxied(authProxy)).toContain(`CONNECT ${host}`);
    expect(run.stdout).toContain(`::add-mask::${PROXY_PASSWORD}`);
  });

  it('fails with an error naming the proxy and what to fix when it refuses the user info', async () => {
    const host = `${NAME}:${port(tls)}`;
    const url = `http://${PROXY_USER}:wrong-${encodeURIComponent(PROXY_PASSWORD)}@127.0.0.1:${authProxy.port}`;
    const run = await runAction(
      { wasm: FIXTURE_MODULE, tags: `${host}/authproxy/filter:2`, ...creds(tls), retries: '0' },
      { env: viaProxy(url, { NODE_EXTRA_CA_CERTS: tls.caFile }) },
    );
    expect(run.code).not.toBe(0);
    const error = errorLines(run).join('\n');
    // tinyproxy answers a CONNECT with wrong credentials 401 where others say 407: both mean the same.
    expect(error).toMatch(new RegExp(`the proxy http://127\\.0\\.0\\.1:${authProxy.port} \\(from HTTPS_PROXY\\) answered HTTP 40[17]`));
    expect(error).toContain('it refused the user and password in HTTPS_PROXY; check them');
    expectNoSecrets([run.stdout, run.stderr], [PROXY_PASSWORD, tls.password as string]);
  });

  it('names the proxy when it cannot be reached', async () => {
    const closed = await freePort();
    const run = await runAction(
      { wasm: FIXTURE_MODULE, tags: `${NAME}:${port(tls)}/closed/filter:1`, ...creds(tls), retries: '0' },
      { env: viaProxy(`http://127.0.0.1:${closed}`) },
    );
    expect(run.code).not.toBe(0);
    expect(errorLines(run).join('\n')).toContain(
      `cannot reach the proxy http://127.0.0.1:${closed} (ECONNREFUSED) for ${NAME}:${port(tls)}; check HTTPS_PROXY / HTTP_PROXY`,
    );
  });

  it('goes direct for NO_PROXY entries (here a .domain), never asking the proxy', async () => {
    // The action itself resolves `registry.direct` in its own namespace; the proxy cannot resolve it.
    const hosts = join(work, 'hosts');
    writeFileSync(hosts, '127.0.0.1 localhost\n127.0.0.1 registry.direct\n');
    // Loaded by node inside its own mount namespace (a shell there would drop the INPUT_* names with '-').
    const preload = join(work, 'mount-hosts.mjs');
    writeFileSync(
      preload,
      `import { execFileSync } from 'node:child_process';\nexecFileSync('mount', ['--bind', ${JSON.stringify(hosts)}, '/etc/hosts']);\n`,
    );
    const host = `registry.direct:${port(plain)}`;
    const before = proxied(proxy).length;
    const run = await runAction(
      { wasm: FIXTURE_MODULE, tags: `${host}/direct/filter:1`, 'insecure-registries': host, ...creds(plain) },
      {
        env: viaProxy(proxy.url, { no_proxy: 'example.com, .direct', NODE_OPTIONS: `--import=${preload}` }),
        prefix: privateMountNamespace(),
      },
    );
    expectPushed(run);
    expect(proxied(proxy).slice(before)).toEqual([]);
  });
});

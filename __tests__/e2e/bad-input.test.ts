// Every input, wrong in each way a user gets it wrong: one clear error line naming the input or the host,
// exit code 1, and for mistakes that are visible locally, no request to the registry at all.
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startFaultProxy, type FaultProxy } from '../helpers/fault-proxy.js';
import { errorLines, FIXTURE_MODULE, runAction } from '../helpers/action.js';
import { expectNoSecrets } from '../helpers/consumer.js';
import { freePort, startRegistry, type RegistryFixture } from '../helpers/registry.js';

let reg: RegistryFixture;
let tlsReg: RegistryFixture;
let proxy: FaultProxy;
let work: string;
let closedPort: number;

beforeAll(async () => {
  [reg, tlsReg] = await Promise.all([startRegistry({ auth: 'basic' }), startRegistry({ tls: true })]);
  proxy = await startFaultProxy(reg.url);
  work = mkdtempSync(join(tmpdir(), 'bad-input-'));
  writeFileSync(join(work, 'not.wasm'), 'hello');
  writeFileSync(join(work, 'component.wasm'), Buffer.from([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0]));
  writeFileSync(join(work, 'file'), 'x');
  mkdirSync(join(work, 'dir'));
  closedPort = await freePort();
});
afterAll(async () => {
  await proxy?.stop();
  await Promise.all([reg?.stop(), tlsReg?.stop()]);
  if (work) rmSync(work, { recursive: true, force: true });
});

interface Case {
  name: string;
  inputs: () => Record<string, string>;
  message: RegExp;
  env?: () => Record<string, string>;
  /** Mistakes visible before any network call: the registry must see no request. */
  local: boolean;
}

const ok = () => ({
  wasm: FIXTURE_MODULE,
  tags: `${proxy.host}/bad/filter:1`,
  username: reg.username as string,
  password: reg.password as string,
});

const CASES: Case[] = [
  { name: 'wasm missing', inputs: () => ({ ...ok(), wasm: '' }), message: /Input `wasm`: is required/, local: true },
  {
    name: 'wasm not found',
    inputs: () => ({ ...ok(), wasm: join(work, 'missing.wasm') }),
    message: /Input `wasm`: .*does not exist/,
    local: true,
  },
  {
    name: 'wasm is a directory',
    inputs: () => ({ ...ok(), wasm: join(work, 'dir') }),
    message: /Input `wasm`: .*is a directory/,
    local: true,
  },
  {
    name: 'wasm is not Wasm',
    inputs: () => ({ ...ok(), wasm: join(work, 'not.wasm') }),
    message: /Input `wasm`: .*not a WebAssembly binary/,
    local: true,
  },
  {
    name: 'wasm is a component',
    inputs: () => ({ ...ok(), wasm: join(work, 'component.wasm') }),
    message: /Input `wasm`: .*component/,
    local: true,
  },
  {
    name: 'variant unknown',
    inputs: () => ({ ...ok(), variant: 'image' }),
    message: /Input `variant`: "image" is not supported/,
    local: true,
  },
  {
    name: 'platform malformed',
    inputs: () => ({ ...ok(), platform: 'linux' }),
    message: /Input `platform`: "linux" is not os\/architecture\[\/variant\]/,
    local: true,
  },
  {
    name: 'platform with the oci variant',
    inputs: () => ({ ...ok(), variant: 'oci', platform: 'linux/arm64' }),
    message: /Input `platform`: applies only to variant compat/,
    local: true,
  },
  {
    name: 'tag with an IPv6 zone id',
    inputs: () => ({ ...ok(), tags: '[fe80::1%eth0]:5000/bad/filter:1' }),
    message: /Input `tags`: .*has an IPv6 zone id/,
    local: true,
  },
  { name: 'media-types unknown', inputs: () => ({ ...ok(), 'media-types': 'oras' }), message: /Input `media-types`: "oras"/, local: true },
  {
    name: 'media-types docker with oci',
    inputs: () => ({ ...ok(), variant: 'oci', 'media-types': 'docker' }),
    message: /Input `media-types`: "docker" applies only/,
    local: true,
  },
  {
    name: 'tags with capitals',
    inputs: () => ({ ...ok(), tags: `${proxy.host}/Acme/Filter:1` }),
    message: /Input `tags`: .*use ".*\/acme\/filter:1"/,
    local: true,
  },
  {
    name: 'tags with a bad tag',
    inputs: () => ({ ...ok(), tags: `${proxy.host}/a/b:bad!tag` }),
    message: /Input `tags`: .*invalid tag/,
    local: true,
  },
  {
    name: 'tags with a digest',
    inputs: () => ({ ...ok(), tags: `${proxy.host}/a/b@sha256:${'a'.repeat(64)}` }),
    message: /Input `tags`: .*names a digest/,
    local: true,
  },
  {
    name: 'tags missing for a push',
    inputs: () => ({ ...ok(), tags: '' }),
    message: /Input `tags`: is required when push is true/,
    local: true,
  },
  {
    name: 'annotations malformed',
    inputs: () => ({ ...ok(), annotations: 'no-equals' }),
    message: /Input `annotations`: "no-equals" is not key=value/,
    local: true,
  },
  { name: 'labels malformed', inputs: () => ({ ...ok(), labels: '=v' }), message: /Input `labels`: "=v" is not key=value/, local: true },
  {
    name: 'labels on the oci variant',
    inputs: () => ({ ...ok(), variant: 'oci', labels: 'a=b' }),
    message: /Input `labels`: apply only to variant compat/,
    local: true,
  },
  {
    name: 'push not a boolean',
    inputs: () => ({ ...ok(), push: 'maybe' }),
    message: /Input `push`: "maybe" is not a boolean/,
    local: true,
  },
  {
    name: 'oci-layout is a file',
    inputs: () => ({ ...ok(), 'oci-layout': join(work, 'file') }),
    message: /Input `oci-layout`: .*is a file/,
    local: true,
  },
  {
    name: 'username without password',
    inputs: () => ({ ...ok(), password: '' }),
    message: /Input `password`: is required when username is given/,
    local: true,
  },
  {
    name: 'password without username',
    inputs: () => ({ ...ok(), username: '' }),
    message: /Input `username`: is required when password is given/,
    local: true,
  },
  {
    name: 'insecure-registries with a scheme',
    inputs: () => ({ ...ok(), 'insecure-registries': 'http://registry.local:5000' }),
    message: /Input `insecure-registries`: "http:\/\/registry.local:5000" is not a host/,
    local: true,
  },
  {
    name: 'retries not a number',
    inputs: () => ({ ...ok(), retries: 'many' }),
    message: /Input `retries`: "many" is not a retry count/,
    local: true,
  },
  {
    name: 'request-timeout zero',
    inputs: () => ({ ...ok(), 'request-timeout': '0' }),
    message: /Input `request-timeout`: "0" is not a number of seconds/,
    local: true,
  },
  {
    name: 'mount-from in another registry',
    inputs: () => ({ ...ok(), 'mount-from': 'quay.io/acme/other' }),
    message: /Input `mount-from`: quay.io\/acme\/other is not in the registry of any tag/,
    local: true,
  },
  {
    name: 'compression-level out of range',
    inputs: () => ({ ...ok(), 'compression-level': '10' }),
    message: /Input `compression-level`: "10" is not a gzip level/,
    local: true,
  },
  {
    name: 'verify not true, false or full',
    inputs: () => ({ ...ok(), verify: 'yes' }),
    message: /Input `verify`: "yes" is not supported; use true .*, full .* or false/,
    local: true,
  },
  {
    name: 'summary not a boolean',
    inputs: () => ({ ...ok(), summary: 'on' }),
    message: /Input `summary`: "on" is not a boolean/,
    local: true,
  },
  {
    name: 'cache-paths without build-command',
    inputs: () => ({ ...ok(), 'cache-paths': 'target' }),
    message: /Input `cache-paths`: caches the output of build-command/,
    local: true,
  },
  {
    name: 'build-command failing',
    inputs: () => ({ ...ok(), 'build-command': 'exit 7' }),
    message: /Input `build-command`: exited with code 7/,
    local: true,
  },
  {
    name: 'SOURCE_DATE_EPOCH malformed',
    inputs: ok,
    env: () => ({ SOURCE_DATE_EPOCH: 'last tuesday' }),
    message: /Input `SOURCE_DATE_EPOCH`: "last tuesday"/,
    local: true,
  },
  // Mistakes only the network can show: the message names the host.
  {
    name: 'unreachable registry',
    inputs: () => ({ ...ok(), tags: `127.0.0.1:${closedPort}/a/b:1`, retries: '1' }),
    message:
      /connecting to 127\.0\.0\.1:\d+ failed after 2 attempts: cannot connect to 127\.0\.0\.1:\d+: connection refused; is the registry running/,
    local: false,
  },
  {
    name: 'TLS failure (untrusted certificate)',
    inputs: () => ({ wasm: FIXTURE_MODULE, tags: `${tlsReg.host}/a/b:1` }),
    message: /TLS failure talking to 127\.0\.0\.1:\d+: .*NODE_EXTRA_CA_CERTS/,
    local: false,
  },
  {
    name: 'plain HTTP to a host not listed as insecure',
    // 127.0.0.1 as an IPv4-mapped IPv6 address in hex (docker's grammar refuses the dotted form): not a loopback name.
    inputs: () => ({ ...ok(), tags: `[::ffff:7f00:1]:${proxy.host.split(':')[1]}/a/b:1` }),
    message: /\[::ffff:7f00:1\]:\d+ does not speak HTTPS .* add it to insecure-registries/,
    local: false,
  },
  {
    name: 'wrong password',
    inputs: () => ({ ...ok(), password: 'not-the-password' }),
    message: /authentication to 127\.0\.0\.1:\d+ failed with credentials from the username\/password inputs/,
    local: false,
  },
];

describe('bad input matrix', () => {
  it.each(CASES)('$name', async (c) => {
    const before = proxy.requests.length;
    const run = await runAction({ ...c.inputs() }, { env: { HOME: work, ...c.env?.() } });
    expect(run.code, run.stdout).toBe(1);
    const errors = errorLines(run);
    expect(errors, run.stdout).toHaveLength(1);
    expect(errors[0]).toMatch(c.message);
    if (c.local) expect(proxy.requests.slice(before), 'no request reached the registry').toEqual([]);
    expectNoSecrets([run.stdout, run.stderr, JSON.stringify(run.outputs), run.summary], [reg.password as string]);
  });

  it('has at least 25 cases', () => {
    expect(CASES.length).toBeGreaterThanOrEqual(25);
  });
});

describe('registries that answer wrongly', () => {
  it.each([
    [
      'a 401 without a usable challenge',
      { 'WWW-Authenticate': 'Negotiate' },
      401,
      '',
      /answered 401 without a usable WWW-Authenticate challenge/,
    ],
    [
      'a token realm that is not a URL',
      { 'WWW-Authenticate': 'Bearer realm="::nonsense::",service="x"' },
      401,
      '',
      /malformed WWW-Authenticate header \(realm "::nonsense::" is not a URL\)/,
    ],
    [
      'an HTML page for the API',
      { 'Content-Type': 'text/html' },
      404,
      '<html><body>Not here</body></html>',
      /checking the registry API \(GET \/v2\/\) on 127\.0\.0\.1:\d+ failed: HTTP 404 an HTML page, not a registry answer/,
    ],
  ])('%s', async (_name, headers, status, body, message) => {
    proxy.addRule({ match: { path: /^\/v2\/$/ }, fault: { kind: 'status', status, headers, body }, times: Infinity });
    try {
      const run = await runAction({ ...ok(), retries: '0' }, { env: { HOME: work } });
      expect(run.code).toBe(1);
      const errors = errorLines(run);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(message);
    } finally {
      proxy.clearRules();
    }
  });
});

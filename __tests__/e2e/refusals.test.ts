// Refusals that say what to do (issue 14): each registry's refusal, simulated by a profile of the fault proxy
// in front of the real registry (see helpers/refusal-profiles.ts for the public source of each), ends the
// push with one error that keeps the registry's words, names the cause and the fix, and creates no tag.
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import {
  dockerHubRateLimit,
  ecrRepositoryNotFound,
  ghcrWritePackageDenied,
  harborMissingProject,
  quayArtifactTypes,
  startFaultProxy,
  type FaultProxy,
} from '../helpers/fault-proxy.js';
import { errorLines, FIXTURE_MODULE, runAction } from '../helpers/action.js';
import { expectNoSecrets } from '../helpers/consumer.js';
import { packFixture, push, pushError } from '../helpers/push.js';
import { startRegistry, type RegistryFixture } from '../helpers/registry.js';
import { MediaType } from '../../src/image/mediatypes.js';

let reg: RegistryFixture;
let proxy: FaultProxy;
let n = 0;

beforeAll(async () => {
  reg = await startRegistry({ auth: 'basic' });
  proxy = await startFaultProxy(reg.url);
});
afterAll(async () => {
  await proxy?.stop();
  await reg?.stop();
});
beforeEach(() => proxy.clearRules());

const creds = (r: RegistryFixture) => ({
  credentials: { username: r.username as string, password: r.password as string, env: { HOME: '/nonexistent' } },
  retry: { retries: 2, baseDelayMs: 5, maxDelayMs: 20, maxRetryAfterMs: 100 },
});

/** Asks the registry itself whether a tag exists. */
async function tagExists(r: RegistryFixture, repository: string, tag: string): Promise<boolean> {
  const res = await fetch(`${r.url}/v2/${repository}/manifests/${tag}`, {
    method: 'HEAD',
    headers: {
      Authorization: `Basic ${Buffer.from(`${r.username}:${r.password}`).toString('base64')}`,
      Accept: [MediaType.ociManifest, MediaType.dockerManifest].join(', '),
    },
    signal: AbortSignal.timeout(5000),
  });
  return res.status === 200;
}

describe('Quay: artifact types must be allowed', () => {
  it.each([
    ['oci', MediaType.wasmConfig, [MediaType.wasmConfig, MediaType.wasmContentLayer]],
    ['wasm', MediaType.cncfWasmConfig, [MediaType.cncfWasmLayer]],
  ] as const)('the %s variant: names the config and layer types to allow, and suggests variant compat', async (variant, config, layers) => {
    proxy.addRule(quayArtifactTypes());
    const repository = `quay/${variant}-${++n}`;
    const { error } = await pushError(await packFixture(variant), [`${proxy.host}/${repository}:1`], creds(reg));
    expect(error.message).toContain('HTTP 400 MANIFEST_INVALID: manifest invalid (failed to parse manifest: config media type');
    expect(error.message).toContain(`must allow config type ${config} with layer types ${layers.join(', ')}`);
    expect(error.message).toMatch(/ALLOWED_OCI_ARTIFACT_TYPES .*push with `variant: compat`/);
    expect(await tagExists(reg, repository, '1')).toBe(false);
  });

  it('the action ends with one error line, holding no control characters from the registry', async () => {
    // A registry detail with a newline and a workflow command must not reach the log as a command.
    proxy.addRule({
      match: { method: 'PUT', path: /\/manifests\// },
      times: Infinity,
      fault: {
        kind: 'status',
        status: 400,
        body: JSON.stringify({
          errors: [{ code: 'MANIFEST_INVALID', message: 'manifest invalid', detail: { message: 'no\n::warning::injected\u001b[31m' } }],
        }),
      },
    });
    const run = await runAction(
      {
        wasm: FIXTURE_MODULE,
        tags: `${proxy.host}/quay/action-${++n}:1`,
        variant: 'oci',
        username: reg.username as string,
        password: reg.password as string,
      },
      { env: { HOME: '/nonexistent' } },
    );
    expect(run.code).toBe(1);
    const errors = errorLines(run);
    expect(errors, run.stdout).toHaveLength(1);
    expect(errors[0]).toMatch(/MANIFEST_INVALID: manifest invalid \(no ::warning::injected\).*ALLOWED_OCI_ARTIFACT_TYPES.*variant: compat/);
    expect(run.stdout).not.toMatch(/^::warning::injected/m);
    expect(run.stdout).not.toContain('\u001b[31m');
  });

  it('the compat variant is an ordinary image and goes through', async () => {
    proxy.addRule(quayArtifactTypes());
    const { result } = await push(await packFixture('compat'), [`${proxy.host}/quay/compat-${++n}:1`], creds(reg));
    expect(result.pushed).toHaveLength(1);
  });

  it('the oci variant goes through once an administrator allowed its types', async () => {
    proxy.addRule(quayArtifactTypes({ [MediaType.wasmConfig]: [MediaType.wasmConfig, MediaType.wasmContentLayer] }));
    const { result } = await push(await packFixture('oci'), [`${proxy.host}/quay/allowed-${++n}:1`], creds(reg));
    expect(result.pushed).toHaveLength(1);
  });
});

describe('Docker Hub: a rate limit that outlasts the retries', () => {
  it("keeps Docker's message and says to log in or retry later (reading the image back counts as a pull)", async () => {
    proxy.addRule(dockerHubRateLimit());
    const { error, log } = await pushError(await packFixture('oci'), [`${proxy.host}/hub/limited-${++n}:1`], {
      ...creds(reg),
      verify: 'light',
    });
    expect(error.message).toMatch(/failed after 3 attempts: HTTP 429 TOOMANYREQUESTS: You have reached your pull rate limit\./);
    expect(error.message).toContain('https://www.docker.com/increase-rate-limit');
    expect(error.message).toMatch(
      /\(hint: the registry is rate limiting; log in \(authenticated pulls and pushes get higher limits\) or retry later\)$/,
    );
    expect(log.warnings.filter((w) => /retrying in/.test(w)).length).toBeGreaterThanOrEqual(2);
  });

  it('the same on the /v2/ check, the first request of a run', async () => {
    proxy.addRule(dockerHubRateLimit({ path: /^\/v2\/$/ }));
    const { error } = await pushError(await packFixture('oci'), [`${proxy.host}/hub/limited-${++n}:1`], creds(reg));
    expect(error.message).toMatch(
      /^connecting to 127\.0\.0\.1:\d+ failed after 3 attempts: HTTP 429 TOOMANYREQUESTS: You have reached your pull rate limit\..*\(hint: the registry is rate limiting; log in/,
    );
  });
});

describe('ECR: repositories are not created on push', () => {
  it('NAME_UNKNOWN says to create the repository first', async () => {
    const repository = `ecr/missing-${++n}`;
    proxy.addRule(ecrRepositoryNotFound(repository));
    const { error } = await pushError(await packFixture('oci'), [`${proxy.host}/${repository}:1`], creds(reg));
    expect(error.message).toMatch(
      new RegExp(`HTTP 404 NAME_UNKNOWN: The repository with name '${repository}' does not exist in the registry with id '\\d+'`),
    );
    expect(error.message).toContain('(hint: ECR does not create repositories on push: create it first (aws ecr create-repository');
    expect(await tagExists(reg, repository, '1')).toBe(false);
  });
});

describe('ghcr.io: a token without write access to the package', () => {
  it('DENIED write_package says which permission and which package setting', async () => {
    proxy.addRule(ghcrWritePackageDenied());
    const { error } = await pushError(await packFixture('oci'), [`${proxy.host}/ghcr/denied-${++n}:1`], creds(reg));
    expect(error.message).toContain('HTTP 403 DENIED: permission_denied: write_package');
    expect(error.message).toMatch(/hint: on ghcr\.io give the job `permissions: packages: write`.*Manage Actions access/);
  });
});

describe('Harbor: 401 for a project that does not exist, after a token was issued', () => {
  let tokenReg: RegistryFixture;
  let harbor: FaultProxy;
  beforeAll(async () => {
    tokenReg = await startRegistry({ auth: 'token' });
    harbor = await startFaultProxy(tokenReg.url);
  });
  afterAll(async () => {
    await harbor?.stop();
    await tokenReg?.stop();
  });

  it('says the project may be missing or the account lack push rights, not only "check the password"', async () => {
    const ping = await fetch(`${tokenReg.url}/v2/`, { signal: AbortSignal.timeout(5000) });
    const challenge = ping.headers.get('www-authenticate') as string;
    harbor.addRule(harborMissingProject({ projects: ['library'], challenge }));
    const { error, log } = await pushError(await packFixture('oci'), [`${harbor.host}/missing/filter:1`], creds(tokenReg));
    expect(tokenReg.tokenServer?.requests.some((r) => r.status === 200 && r.account === tokenReg.username)).toBe(true);
    // The first request on the project is a HEAD, whose 401 has no body to quote.
    expect(error.message).toMatch(/refused HEAD \/v2\/missing\/filter\/blobs\/sha256:[0-9a-f]{64}: HTTP 401, although/);
    expect(error.message).toMatch(/although its token service accepted the credentials from the username\/password inputs/);
    expect(error.message).toMatch(
      /hint: the project or repository may not exist \(Harbor answers 401 for a missing project: create it first\) or the account may not push to it/,
    );
    expect(error.message).not.toMatch(/check the user name and password/);
    expectNoSecrets(
      [error.message, ...log.warnings, ...log.infos],
      [tokenReg.password as string, ...(tokenReg.tokenServer?.issuedTokens ?? [])],
    );
  });

  it('a project that exists takes the push', async () => {
    const ping = await fetch(`${tokenReg.url}/v2/`, { signal: AbortSignal.timeout(5000) });
    harbor.addRule(harborMissingProject({ projects: ['library'], challenge: ping.headers.get('www-authenticate') as string }));
    const { result } = await push(await packFixture('oci'), [`${harbor.host}/library/filter:1`], creds(tokenReg));
    expect(result.pushed).toHaveLength(1);
  });
});

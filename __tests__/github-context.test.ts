import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { contextAnnotations } from '../src/github-context.js';
import { parseReference } from '../src/registry/reference.js';
import { FIXTURE_MODULE, runAction, readLayoutImage } from './helpers/action.js';

const GITHUB_ENV = {
  GITHUB_SERVER_URL: 'https://github.com',
  GITHUB_REPOSITORY: 'Acme/wasm-filters',
  GITHUB_SHA: '0123456789abcdef0123456789abcdef01234567',
  GITHUB_ACTOR: 'octocat',
};

const dir = mkdtempSync(join(tmpdir(), 'context-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('contextAnnotations', () => {
  it('derives source, revision, version and title; created only from SOURCE_DATE_EPOCH', () => {
    const tags = [parseReference('ghcr.io/acme/filter:1.2.0'), parseReference('ghcr.io/acme/filter:latest')];
    expect(contextAnnotations({ env: GITHUB_ENV, tags, sourceDateEpoch: undefined })).toEqual({
      'org.opencontainers.image.source': 'https://github.com/Acme/wasm-filters',
      'org.opencontainers.image.revision': GITHUB_ENV.GITHUB_SHA,
      'org.opencontainers.image.version': '1.2.0',
      'org.opencontainers.image.title': 'wasm-filters',
    });
    expect(contextAnnotations({ env: {}, tags, sourceDateEpoch: 86400 })).toEqual({
      'org.opencontainers.image.created': '1970-01-02T00:00:00Z',
      'org.opencontainers.image.version': '1.2.0',
      'org.opencontainers.image.title': 'filter',
    });
    expect(
      contextAnnotations({
        env: { GITHUB_SERVER_URL: 'https://ghe.example.com/', GITHUB_REPOSITORY: 'o/r' },
        tags: [],
        sourceDateEpoch: undefined,
      }),
    ).toEqual({
      'org.opencontainers.image.source': 'https://ghe.example.com/o/r',
      'org.opencontainers.image.title': 'r',
    });
    expect(contextAnnotations({ env: {}, tags: [], sourceDateEpoch: undefined })).toEqual({});
  });
});

describe('the action in a GitHub environment', () => {
  const build = (name: string, inputs: Record<string, string>, env: Record<string, string> = {}) =>
    runAction(
      { wasm: FIXTURE_MODULE, push: 'false', tags: 'ghcr.io/acme/filter:2.0.0', 'oci-layout': join(dir, name), ...inputs },
      { env: { ...GITHUB_ENV, ...env } },
    );

  it('annotates the compat manifest and labels its config; user values win', async () => {
    const run = await build('compat', {
      annotations: 'org.opencontainers.image.title=custom',
      labels: 'org.opencontainers.image.version=9',
    });
    expect(run.code, run.stdout).toBe(0);
    const { manifest, config } = readLayoutImage(join(dir, 'compat'));
    expect(manifest.annotations).toEqual({
      'module.wasm.image/variant': 'compat',
      'org.opencontainers.image.revision': GITHUB_ENV.GITHUB_SHA,
      'org.opencontainers.image.source': 'https://github.com/Acme/wasm-filters',
      'org.opencontainers.image.title': 'custom',
      'org.opencontainers.image.version': '2.0.0',
    });
    expect(config.config?.Labels).toEqual({
      'org.opencontainers.image.revision': GITHUB_ENV.GITHUB_SHA,
      'org.opencontainers.image.source': 'https://github.com/Acme/wasm-filters',
      'org.opencontainers.image.title': 'wasm-filters',
      'org.opencontainers.image.version': '9',
    });
  });

  it('annotates the oci manifest next to the runtime annotations', async () => {
    const run = await build('oci', { variant: 'oci' });
    expect(run.code, run.stdout).toBe(0);
    const { manifest } = readLayoutImage(join(dir, 'oci'));
    expect(manifest.annotations?.['module.wasm.runtime/type']).toBe('envoy_proxy');
    expect(manifest.annotations?.['org.opencontainers.image.source']).toBe('https://github.com/Acme/wasm-filters');
  });

  it('puts no annotations on a Docker manifest, but labels its config', async () => {
    const run = await build('docker', { 'media-types': 'docker' });
    expect(run.code, run.stdout).toBe(0);
    const { manifest, config } = readLayoutImage(join(dir, 'docker'));
    expect(manifest).not.toHaveProperty('annotations');
    expect(config.config?.Labels?.['org.opencontainers.image.revision']).toBe(GITHUB_ENV.GITHUB_SHA);
  });

  it('stays reproducible: two runs with the same SOURCE_DATE_EPOCH give one digest, with created from it', async () => {
    const a = await build('repro-a', {}, { SOURCE_DATE_EPOCH: '1714000000', TZ: 'Asia/Tokyo' });
    const b = await build('repro-b', {}, { SOURCE_DATE_EPOCH: '1714000000', TZ: 'Europe/Paris' });
    expect(a.code).toBe(0);
    expect(a.outputs.digest).toBe(b.outputs.digest);
    const { manifest, config } = readLayoutImage(join(dir, 'repro-a'));
    expect(manifest.annotations?.['org.opencontainers.image.created']).toBe('2024-04-24T23:06:40Z');
    expect(config.created).toBe('2024-04-24T23:06:40Z');
  });
});

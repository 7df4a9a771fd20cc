// istio-version, module inspection warnings and the proxy-abi output, through the bundled action.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { errorLines, FIXTURE_MODULE, ROOT, runAction, readLayoutImage } from './helpers/action.js';
import { jsonAs, type MetadataJson } from './helpers/json.js';

const MID = 'v0-4689a30309abf31aee9ae36e73d34b1bb182685f';
let dir: string;
let noAbi: string;
beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'module-checks-'));
  noAbi = join(dir, 'no-abi.wasm');
  execFileSync('wat2wasm', [join(ROOT, '__tests__/fixtures/wat/no-abi.wat'), '-o', noAbi]);
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const warnings = (stdout: string) => stdout.split('\n').filter((l) => l.startsWith('::warning'));

describe('istio-version', () => {
  it('fills abi-versions for Istio 1.8', async () => {
    const layout = join(dir, 'istio-1.8');
    const run = await runAction({ wasm: FIXTURE_MODULE, variant: 'oci', 'istio-version': '1.8', push: 'false', 'oci-layout': layout });
    expect(run.code, run.stdout).toBe(0);
    const { manifest, config } = readLayoutImage(layout);
    expect(manifest.annotations?.['module.wasm.runtime/abi_version']).toBe(MID);
    expect(config.abiVersions).toEqual([MID]);
    expect(run.stdout).toContain(`Istio 1.8: abi-versions ${MID}`);
  });

  it('writes no abiVersions for a modern Istio and says why', async () => {
    const layout = join(dir, 'istio-1.22');
    const run = await runAction({ wasm: FIXTURE_MODULE, variant: 'oci', 'istio-version': '1.22', push: 'false', 'oci-layout': layout });
    expect(run.code, run.stdout).toBe(0);
    const { manifest, config } = readLayoutImage(layout);
    expect(manifest.annotations).not.toHaveProperty('module.wasm.runtime/abi_version');
    expect(config).not.toHaveProperty('abiVersions');
    expect(run.stdout).toContain('Istio 1.22 reads the proxy-wasm ABI from the module itself; no abiVersions are written');
  });

  it.each([
    [{ 'istio-version': '1.4' }, /Input `istio-version`: Istio 1\.4 cannot load Wasm images/],
    [{ 'istio-version': 'one.eight' }, /Input `istio-version`: "one\.eight" is not an Istio version/],
    [{ 'istio-version': '1.8', 'abi-versions': MID }, /Input `istio-version`: .*not both/],
  ])('refuses %j', async (inputs, message) => {
    const run = await runAction({ wasm: FIXTURE_MODULE, push: 'false', ...inputs });
    expect(run.code).toBe(1);
    expect(errorLines(run)).toEqual([expect.stringMatching(message)]);
  });

  it('warns when the Istio version needs another proxy-wasm ABI than the module exports', async () => {
    const run = await runAction({ wasm: FIXTURE_MODULE, 'istio-version': '1.6', push: 'false' });
    expect(run.code, run.stdout).toBe(0);
    expect(warnings(run.stdout)).toEqual([
      expect.stringMatching(/title=ABI mismatch::.*expects proxy-wasm 0\.1\.0, but the module exports proxy_abi_version_0_2_1/),
    ]);
  });
});

describe('module inspection', () => {
  it('outputs the proxy-wasm ABI and puts the module facts in metadata and the summary', async () => {
    const run = await runAction({ wasm: FIXTURE_MODULE, push: 'false' });
    expect(run.code).toBe(0);
    expect(run.outputs['proxy-abi']).toBe('0.2.1');
    expect(jsonAs<MetadataJson>(run.outputs.metadata).wasm).toMatchObject({ kind: 'core', proxyAbi: '0.2.1', imports: 1, exports: 4 });
    expect(run.summary).toContain('- **proxy-wasm ABI:** 0.2.1');
    expect(run.stdout).toContain('module: core, 198 bytes, 1 imports, 4 exports, proxy-wasm ABI 0.2.1');
    expect(warnings(run.stdout)).toEqual([]);
  });

  it('warns when the module exports no proxy-wasm ABI', async () => {
    const run = await runAction({ wasm: noAbi, push: 'false' });
    expect(run.code).toBe(0);
    expect(run.outputs['proxy-abi']).toBe('');
    expect(warnings(run.stdout)).toEqual([
      expect.stringMatching(/title=Not a proxy-wasm module\?::.*exports no proxy_abi_version_\* function/),
    ]);
  });

  it('fails on a truncated module with the byte offset', async () => {
    const cut = join(dir, 'cut.wasm');
    writeFileSync(cut, readFileSync(FIXTURE_MODULE).subarray(0, 100));
    const run = await runAction({ wasm: cut, push: 'false' });
    expect(run.code).toBe(1);
    expect(errorLines(run)).toEqual([
      expect.stringMatching(/Input `wasm`: .*cut\.wasm is not a well-formed Wasm module: .* at byte offset \d+/),
    ]);
  });
});

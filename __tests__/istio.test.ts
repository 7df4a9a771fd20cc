import { describe, expect, it } from 'vitest';
import { abiForIstioVersion, abiMismatch, IstioVersionError, type IstioAbi } from '../src/wasm/istio.js';

const ISTIO_15 = 'v0-097b7f2e4cc1fb490cc1943d0d633655ac3c522f';
const ISTIO_17 = 'v0-4689a30309abf31aee9ae36e73d34b1bb182685f';
const legacy = (abiVersion: string): IstioAbi => ({ kind: 'legacy', abiVersions: [abiVersion] });
const modern: IstioAbi = { kind: 'modern' };

describe('abiForIstioVersion', () => {
  it.each<[string, IstioAbi]>([
    ['1.5', legacy(ISTIO_15)],
    ['1.5.0', legacy(ISTIO_15)],
    ['1.6.14', legacy(ISTIO_15)],
    ['1.6.x', legacy(ISTIO_15)],
    ['1.7', legacy(ISTIO_17)],
    ['1.8', legacy(ISTIO_17)],
    ['1.8.6', legacy(ISTIO_17)],
    ['1.9.3', legacy(ISTIO_17)],
    ['v1.9.0', legacy(ISTIO_17)],
    [' 1.9 ', legacy(ISTIO_17)],
    ['1.8.0-alpha.0', legacy(ISTIO_17)],
    ['1.10', modern],
    ['1.10.0', modern],
    ['1.11.x', modern],
    ['v1.22', modern],
    ['1.22.0-beta.1', modern],
    ['1.24.1+build.7', modern],
    ['1.99', modern],
  ])('%j → %j', (version, expected) => {
    expect(abiForIstioVersion(version)).toEqual(expected);
  });

  it.each<[string, RegExp]>([
    // Releases without Wasm.
    ['1.4', /^Istio 1\.4 cannot load Wasm images: Wasm arrived in Istio 1\.5, so istio-version "1\.4" must name 1\.5 or later$/],
    ['1.4.10', /^Istio 1\.4 cannot load Wasm images/],
    ['1.0', /^Istio 1\.0 cannot load Wasm images/],
    // Unknown releases.
    ['0.9', /not a known Istio release/],
    ['0.8.0', /not a known Istio release/],
    ['2.0', /not a known Istio release/],
    ['v2.1.0', /not a known Istio release/],
    // Malformed.
    ['2.x', /not an Istio version/],
    ['1.x', /not an Istio version/],
    ['1', /not an Istio version/],
    ['1.', /not an Istio version/],
    ['1.8.', /not an Istio version/],
    ['1.8.3.1', /not an Istio version/],
    ['1.08', /not an Istio version/],
    ['V1.8', /not an Istio version/],
    ['1.8-beta', /not an Istio version/],
    ['1.8.x-beta', /not an Istio version/],
    ['1.8.0-', /not an Istio version/],
    ['1.8.0-beta..1', /not an Istio version/],
    ['istio-1.8', /not an Istio version/],
    ['latest', /not an Istio version/],
    ['', /not an Istio version/],
    ['１.８', /not an Istio version/],
    ['1.100000', /not an Istio version/],
  ])('refuses %j', (version, message) => {
    let caught: unknown;
    try {
      abiForIstioVersion(version);
    } catch (err) {
      caught = err;
    }
    expect(caught).toBeInstanceOf(IstioVersionError);
    const err = caught as IstioVersionError;
    expect(err.message).toMatch(message);
    expect(err.message).toContain('istio-version');
    expect(err.message).toContain(JSON.stringify(version));
    expect(err.version).toBe(version);
    if (/not an Istio version/.test(err.message)) {
      expect(err.message).toMatch(/^"[^]*" is not an Istio version: istio-version takes major\.minor \(1\.8\), major\.minor\.patch/);
    }
  });
});

describe('abiMismatch', () => {
  it.each<[string, Parameters<typeof abiMismatch>[0], string[], RegExp | null]>([
    ['1.5/1.6 string, 0.1.0 module', '0.1.0', [ISTIO_15], null],
    [
      '1.5/1.6 string, 0.2.0 module',
      '0.2.0',
      [ISTIO_15],
      /\(Istio 1\.5-1\.6\) expects proxy-wasm 0\.1\.0, but the module exports proxy_abi_version_0_2_0$/,
    ],
    ['1.5/1.6 string, 0.2.1 module', '0.2.1', [ISTIO_15], /expects proxy-wasm 0\.1\.0, but the module exports proxy_abi_version_0_2_1$/],
    ['1.7-1.9 string, 0.2.0 module', '0.2.0', [ISTIO_17], null],
    [
      '1.7-1.9 string, 0.2.1 module',
      '0.2.1',
      [ISTIO_17],
      /goes with proxy-wasm 0\.2\.0, .*Istio 1\.8 and 1\.9 proxies load it, Istio 1\.7 proxies may not$/,
    ],
    [
      '1.7-1.9 string, 0.1.0 module',
      '0.1.0',
      [ISTIO_17],
      /the Istio 1\.5\/1\.6 ABI \(Istio 1\.7-1\.9 proxies still load such modules, but declare v0-097b7f2e\w+ for one\)$/,
    ],
    ['Gloo v0.2.1, 0.2.1 module', '0.2.1', ['v0.2.1'], null],
    [
      'Gloo v0.2.1, 0.2.0 module',
      '0.2.0',
      ['v0.2.1'],
      /abi version v0\.2\.1 names proxy-wasm 0\.2\.1, but the module exports proxy_abi_version_0_2_0/,
    ],
    ['an unknown string', '0.1.0', ['my-own-abi'], null],
    ['the Gloo 1.5 string (its ABI is not established)', '0.2.1', ['v0-edc016b1fa5adca3ebd3d7020eaed0ad7b8814ca'], null],
    ['no declared versions', '0.2.1', [], null],
    ['no ABI export (the caller warns about that)', null, [ISTIO_15, ISTIO_17], null],
    ['the same string twice', '0.2.0', [ISTIO_15, ISTIO_15], /^[^;]*$/],
  ])('%s', (_label, moduleAbi, declared, expected) => {
    const warning = abiMismatch(moduleAbi, declared);
    if (expected === null) expect(warning).toBeNull();
    else expect(warning).toMatch(expected);
  });

  it('joins several disagreements', () => {
    const warning = abiMismatch('0.2.1', [ISTIO_15, ISTIO_17]);
    expect(warning?.split('; ')).toHaveLength(2);
    expect(abiMismatch('0.1.0', [ISTIO_17, 'v0.2.1'])?.split('; ')).toHaveLength(2);
  });

  it('agrees with the mapping: the ABI of the string a legacy release gets matches that release', () => {
    for (const [version, moduleAbi] of [
      ['1.5', '0.1.0'],
      ['1.6', '0.1.0'],
      ['1.7', '0.2.0'],
      ['1.9', '0.2.0'],
    ] as const) {
      const abi = abiForIstioVersion(version);
      if (abi.kind !== 'legacy') throw new Error(`${version} should be legacy`);
      expect(abiMismatch(moduleAbi, abi.abiVersions), version).toBeNull();
    }
  });
});

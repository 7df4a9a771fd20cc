import { describe, expect, it } from 'vitest';
import { abiForIstioVersion, abiMismatch } from '../src/wasm/istio.js';

const OLD = 'v0-097b7f2e4cc1fb490cc1943d0d633655ac3c522f';
const MID = 'v0-4689a30309abf31aee9ae36e73d34b1bb182685f';

describe('abiForIstioVersion', () => {
  it.each([
    ['1.5', { kind: 'legacy', abiVersions: [OLD] }],
    ['1.6.14', { kind: 'legacy', abiVersions: [OLD] }],
    ['1.7', { kind: 'legacy', abiVersions: [MID] }],
    ['1.8', { kind: 'legacy', abiVersions: [MID] }],
    ['1.9.3', { kind: 'legacy', abiVersions: [MID] }],
    ['v1.9.0', { kind: 'legacy', abiVersions: [MID] }],
    ['1.10', { kind: 'modern' }],
    ['1.22', { kind: 'modern' }],
    ['1.24.1', { kind: 'modern' }],
    ['1.23.0-beta.1', { kind: 'modern' }],
  ])('%s', (version, expected) => {
    expect(abiForIstioVersion(version)).toEqual(expected);
  });

  it.each([
    ['1.4', /cannot load Wasm images/],
    ['1.0.8', /cannot load Wasm images/],
    ['0.8', /not a known release/],
    ['2.0', /not a known release/],
    ['1', /not an Istio version/],
    ['1.x', /not an Istio version/],
    ['latest', /not an Istio version/],
    ['1.8.', /not an Istio version/],
    ['', /not an Istio version/],
  ])('refuses %j', (version, message) => {
    expect(() => abiForIstioVersion(version)).toThrow(message);
  });
});

describe('abiMismatch', () => {
  it('warns when the legacy ABI string needs another proxy-wasm ABI', () => {
    expect(abiMismatch('0.2.1', [OLD])).toMatch(/expects proxy-wasm 0\.1\.0, but the module exports proxy_abi_version_0_2_1/);
    expect(abiMismatch('0.1.0', [MID])).toMatch(/expects proxy-wasm 0\.2\.0 or 0\.2\.1/);
  });
  it('stays quiet when they agree, or when nothing is known', () => {
    expect(abiMismatch('0.1.0', [OLD])).toBeNull();
    expect(abiMismatch('0.2.1', [MID])).toBeNull();
    expect(abiMismatch(null, [MID])).toBeNull();
    expect(abiMismatch('0.2.1', ['v0.2.1'])).toBeNull();
    expect(abiMismatch('0.2.1', [])).toBeNull();
  });
});

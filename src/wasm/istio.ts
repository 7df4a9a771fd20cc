// Istio versions and the Wasm ABI strings their proxies expect in an image.
import type { ProxyAbi } from './inspect.js';

/**
 * The one mapping table. Source: solo-io/wasm, tools/wasme/cli/pkg/abi/version.go (the ABI versions the
 * wasme tool wrote for each Istio release); see also the shared spec's "Known ABI version strings".
 * Istio 1.10 and later read the proxy-wasm ABI from the module's `proxy_abi_version_*` export instead.
 */
const LEGACY_ISTIO_ABI: ReadonlyArray<{ minors: number[]; abiVersion: string; proxyAbi: ProxyAbi[] }> = [
  { minors: [5, 6], abiVersion: 'v0-097b7f2e4cc1fb490cc1943d0d633655ac3c522f', proxyAbi: ['0.1.0'] },
  { minors: [7, 8, 9], abiVersion: 'v0-4689a30309abf31aee9ae36e73d34b1bb182685f', proxyAbi: ['0.2.0', '0.2.1'] },
];
const FIRST_MODERN_MINOR = 10;

export type IstioAbi = { kind: 'legacy'; abiVersions: string[] } | { kind: 'modern' };

export class IstioVersionError extends Error {
  override name = 'IstioVersionError';
}

const VERSION = /^v?(\d+)\.(\d+)(?:\.(\d+))?(?:-[0-9A-Za-z.-]+)?$/;

/** Accepts `1.8`, `1.9.3`, `v1.22` and pre-releases such as `1.23.0-beta.1`. */
export function abiForIstioVersion(version: string): IstioAbi {
  const m = VERSION.exec(version.trim());
  if (!m) throw new IstioVersionError(`"${version}" is not an Istio version; write major.minor or major.minor.patch, e.g. 1.9 or 1.22.3`);
  const major = Number(m[1]);
  const minor = Number(m[2]);
  if (major === 1 && minor >= FIRST_MODERN_MINOR) return { kind: 'modern' };
  const legacy = major === 1 ? LEGACY_ISTIO_ABI.find((e) => e.minors.includes(minor)) : undefined;
  if (legacy) return { kind: 'legacy', abiVersions: [legacy.abiVersion] };
  if (major === 1 && minor < 5) throw new IstioVersionError(`Istio ${version} cannot load Wasm images (Wasm plugins arrived in Istio 1.5)`);
  throw new IstioVersionError(`Istio ${version} is not a known release; known are 1.5 and later 1.x versions`);
}

/** A warning when the declared ABI versions are known to need a proxy-wasm ABI the module does not export. */
export function abiMismatch(moduleAbi: ProxyAbi | null, abiVersions: string[]): string | null {
  for (const declared of abiVersions) {
    const known = LEGACY_ISTIO_ABI.find((e) => e.abiVersion === declared);
    if (!known || moduleAbi === null) continue;
    if (!known.proxyAbi.includes(moduleAbi)) {
      return `ABI version ${declared} (Istio ${known.minors.map((n) => `1.${n}`).join('/')}) expects proxy-wasm ${known.proxyAbi.join(' or ')}, but the module exports proxy_abi_version_${moduleAbi.replace(/\./g, '_')}`;
    }
  }
  return null;
}

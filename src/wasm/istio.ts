// Istio versions and the Wasm ABI version strings written into an image for them.
import type { ProxyAbi } from './inspect.js';

/**
 * What an Istio release needs in an image: `legacy` releases (1.5 to 1.9) were targeted by the wasme tool
 * through an ABI version string recorded in the image (`abiVersions`); `modern` ones (1.10 and later) need
 * none, their proxy reads the proxy-wasm ABI from the module's `proxy_abi_version_*` export.
 */
export type IstioAbi = { kind: 'legacy'; abiVersions: string[] } | { kind: 'modern' };

/** A malformed or unknown `istio-version`; the message names the input and the accepted forms. */
export class IstioVersionError extends Error {
  override name = 'IstioVersionError';
  constructor(
    readonly version: string,
    message: string,
  ) {
    super(message);
  }
}

/**
 * The one table of legacy Istio releases. Source: solo-io/wasm, tools/wasme/cli/pkg/abi/version.go, the
 * registry the wasme tool used to pick the ABI version string for a release (restated in the shared
 * spec's "Known ABI version strings").
 *
 * `proxyAbi` is the proxy-wasm ABI a module labelled with that string is expected to export:
 * - 097b7f2e… (Istio 1.5, 1.6): Istio 1.5 froze proxy-wasm 0.1.0, and its proxies refuse a module
 *   without that marker; 1.6 kept it.
 * - 4689a303… (Istio 1.7-1.9): an envoy-wasm commit of 4 August 2020 that wasme calls the precursor of
 *   ABI 0.2.0. Istio 1.7 backported multi-ABI support (0.1.0 and 0.2.0, istio/envoy#248);
 *   0.2.1 (adding proxy_get_log_level) reached proxy-wasm-cpp-host days later (proxy-wasm-cpp-host#50),
 *   so Istio 1.8 and 1.9 load it, but it is not known to be in every Istio 1.7 proxy.
 */
const LEGACY: ReadonlyArray<{ minors: readonly number[]; abiVersion: string; proxyAbi: ProxyAbi }> = [
  { minors: [5, 6], abiVersion: 'v0-097b7f2e4cc1fb490cc1943d0d633655ac3c522f', proxyAbi: '0.1.0' },
  { minors: [7, 8, 9], abiVersion: 'v0-4689a30309abf31aee9ae36e73d34b1bb182685f', proxyAbi: '0.2.0' },
];
/**
 * Istio 1.10 and later: no ABI version string, the proxy reads the module's export. (The last revisions
 * of version.go also list 1.10.x and 1.11.x under 4689a303…, for wasme's own deploy check; the shared
 * spec, followed here, stops the legacy table at 1.9.)
 */
const FIRST_MODERN_MINOR = 10;

/**
 * `major.minor`, optionally `.patch` or `.x`, optionally a leading `v`; a pre-release or build suffix only
 * after a numeric patch (`1.22.0-beta.1`, `1.9.0+build`). No leading zeros.
 */
const VERSION =
  /^v?(0|[1-9]\d{0,3})\.(0|[1-9]\d{0,3})(?:\.x|\.(?:0|[1-9]\d{0,3})(?:-[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*)?(?:\+[0-9A-Za-z]+(?:\.[0-9A-Za-z]+)*)?)?$/;
const FORMS = 'major.minor (1.8), major.minor.patch (1.9.3, v1.22.0), major.minor.x (1.7.x) or a release candidate (1.22.0-beta.1)';

/**
 * The ABI an Istio release needs. Accepts {@link FORMS}; surrounding whitespace is ignored. Istio 1.5 and
 * 1.6 give the first legacy ABI string, 1.7 to 1.9 the second, 1.10 and any later 1.x `modern`.
 * Throws IstioVersionError for a malformed version, for 1.0-1.4 (no Wasm support), and for 0.x and 2.x
 * and later (unknown releases, whose needs cannot be known; leave `istio-version` out for them).
 */
export function abiForIstioVersion(version: string): IstioAbi {
  const text = version.trim();
  const match = VERSION.exec(text);
  if (!match) {
    throw new IstioVersionError(version, `${JSON.stringify(version)} is not an Istio version: istio-version takes ${FORMS}`);
  }
  const major = Number(match[1]);
  const minor = Number(match[2]);
  if (major !== 1) {
    throw new IstioVersionError(
      version,
      `${JSON.stringify(version)} is not a known Istio release: istio-version knows 1.5 and every later 1.x release (leave istio-version out to write no ABI versions)`,
    );
  }
  if (minor >= FIRST_MODERN_MINOR) return { kind: 'modern' };
  const legacy = LEGACY.find((entry) => entry.minors.includes(minor));
  if (!legacy) {
    throw new IstioVersionError(
      version,
      `Istio 1.${minor} cannot load Wasm images: Wasm arrived in Istio 1.5, so istio-version ${JSON.stringify(version)} must name 1.5 or later`,
    );
  }
  return { kind: 'legacy', abiVersions: [legacy.abiVersion] };
}

function marker(abi: ProxyAbi): string {
  return `proxy_abi_version_${abi.replace(/\./g, '_')}`;
}

function istioRange(minors: readonly number[]): string {
  return minors.length === 1 ? `1.${minors[0]}` : `1.${minors[0]}-1.${minors[minors.length - 1]}`;
}

/**
 * A warning when a declared ABI version string is known to go with another proxy-wasm ABI than the one
 * the module exports; null when they agree or nothing is known. Only the strings whose ABI is established
 * are checked: the two Istio ones above and `v0.2.1` (Gloo 1.6, which names the proxy-wasm ABI itself);
 * any other string, and a module without a `proxy_abi_version_*` export (a case the caller reports on its
 * own), give null. Several disagreements are joined with "; ".
 */
export function abiMismatch(moduleAbi: ProxyAbi | null, abiVersions: string[]): string | null {
  if (moduleAbi === null) return null;
  const warnings: string[] = [];
  for (const declared of new Set(abiVersions)) {
    if (declared === 'v0.2.1') {
      if (moduleAbi !== '0.2.1') {
        warnings.push(`abi version v0.2.1 names proxy-wasm 0.2.1, but the module exports ${marker(moduleAbi)}`);
      }
      continue;
    }
    const legacy = LEGACY.find((entry) => entry.abiVersion === declared);
    if (!legacy || legacy.proxyAbi === moduleAbi) continue;
    const istio = `Istio ${istioRange(legacy.minors)}`;
    if (legacy.proxyAbi === '0.2.0' && moduleAbi === '0.2.1') {
      warnings.push(
        `abi version ${declared} (${istio}) goes with proxy-wasm 0.2.0, but the module exports ${marker(moduleAbi)}: Istio 1.8 and 1.9 proxies load it, Istio 1.7 proxies may not`,
      );
    } else if (legacy.proxyAbi === '0.2.0' && moduleAbi === '0.1.0') {
      warnings.push(
        `abi version ${declared} (${istio}) goes with proxy-wasm 0.2.0, but the module exports ${marker(moduleAbi)}, the Istio 1.5/1.6 ABI (Istio 1.7-1.9 proxies still load such modules, but declare ${LEGACY[0]?.abiVersion} for one)`,
      );
    } else {
      warnings.push(
        `abi version ${declared} (${istio}) expects proxy-wasm ${legacy.proxyAbi}, but the module exports ${marker(moduleAbi)}`,
      );
    }
  }
  return warnings.length > 0 ? warnings.join('; ') : null;
}

// The platform a compat image's config names: `os/architecture[/variant]`, as docker's --platform writes it.

export interface Platform {
  os: string;
  architecture: string;
  variant?: string;
}

/** What a `FROM scratch` image built on the usual (amd64) runner says; Docker Engine, podman and umoci accept it. */
export const DEFAULT_PLATFORM: Platform = { os: 'linux', architecture: 'amd64' };

export class PlatformError extends Error {
  override name = 'PlatformError';
}

// The OCI image spec says values SHOULD be Go's GOOS and GOARCH; a typo here would only show when a tool
// refuses the image, so unknown names are refused up front.
// prettier-ignore
const OPERATING_SYSTEMS = new Set([
  'aix', 'android', 'darwin', 'dragonfly', 'freebsd', 'illumos', 'ios', 'js', 'linux', 'netbsd', 'openbsd', 'plan9',
  'solaris', 'wasip1', 'wasip2', 'windows',
]);
// prettier-ignore
const ARCHITECTURES = new Set([
  '386', 'amd64', 'arm', 'arm64', 'loong64', 'mips', 'mipsle', 'mips64', 'mips64le', 'ppc64', 'ppc64le', 'riscv64',
  's390x', 'wasm',
]);
// The names `uname -m` and Debian use, as docker and containerd normalise them.
const ARCHITECTURE_ALIASES: Record<string, string> = { x86_64: 'amd64', 'x86-64': 'amd64', aarch64: 'arm64', i386: '386', i686: '386' };
const VARIANT = /^[a-z0-9][a-z0-9.]*$/;

/** Parses `os/architecture[/variant]` (case-insensitive, architecture aliases such as x86_64 normalised). */
export function parsePlatform(value: string): Platform {
  const parts = value.trim().toLowerCase().split('/');
  const [os = '', rawArchitecture = '', variant] = parts;
  if (parts.length < 2 || parts.length > 3 || parts.some((p) => p === '')) {
    throw new PlatformError(`"${value}" is not os/architecture[/variant]; write e.g. linux/amd64, linux/arm64 or linux/arm/v7`);
  }
  if (!OPERATING_SYSTEMS.has(os)) {
    throw new PlatformError(
      `"${value}" names an unknown os "${os}"; use linux (what image tools accept) or one of: ${[...OPERATING_SYSTEMS].join(', ')}`,
    );
  }
  const architecture = ARCHITECTURE_ALIASES[rawArchitecture] ?? rawArchitecture;
  if (!ARCHITECTURES.has(architecture)) {
    throw new PlatformError(`"${value}" names an unknown architecture "${rawArchitecture}"; use one of: ${[...ARCHITECTURES].join(', ')}`);
  }
  if (variant !== undefined && !VARIANT.test(variant)) {
    throw new PlatformError(`"${value}" has an invalid variant "${variant}"; write e.g. v7 or v8`);
  }
  return variant === undefined ? { os, architecture } : { os, architecture, variant };
}

export function formatPlatform(p: Platform): string {
  return [p.os, p.architecture, p.variant].filter((s) => s !== undefined).join('/');
}

// What Istio and Envoy Gateway do with a pulled image (shared spec, section 2), written independently of
// src/ so the tests check the product against the rules rather than against itself.
import { execFile as execFileCb, execFileSync } from 'node:child_process';
import { promisify } from 'node:util';
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect } from 'vitest';

interface RawManifest {
  mediaType?: string;
  config: { mediaType: string; digest: string };
  layers: Array<{ mediaType: string; digest: string; size: number }>;
}

export type ConsumerVariant = 'docker' | 'compat' | 'oci';

/** The variant a consumer detects, or throws with the reason it would refuse the image. */
export function consumerVariant(m: RawManifest): ConsumerVariant {
  const last = m.layers.at(-1);
  if (!last) throw new Error('no layers');
  if (m.mediaType === 'application/vnd.docker.distribution.manifest.v2+json') {
    if (last.mediaType !== 'application/vnd.docker.image.rootfs.diff.tar.gzip')
      throw new Error(`docker manifest with last layer ${last.mediaType}`);
    return 'docker';
  }
  if (last.mediaType === 'application/vnd.oci.image.layer.v1.tar+gzip') return 'compat';
  if (m.layers.length === 2 && m.layers.some((l) => l.mediaType === 'application/vnd.module.wasm.content.layer.v1+wasm')) return 'oci';
  throw new Error(`no consumer rule matches: ${m.layers.length} layers, last ${last.mediaType}`);
}

export interface SkopeoAuth {
  creds?: string;
  /** Directory with the registry's CA as a .crt file, or undefined for plain HTTP. */
  certDir?: string;
  tls: boolean;
}

function authArgs(a: SkopeoAuth, prefix: '' | 'src-'): string[] {
  const args: string[] = [];
  if (a.creds) args.push(`--${prefix}creds`, a.creds);
  else args.push(`--${prefix}no-creds`);
  if (!a.tls) args.push(`--${prefix}tls-verify=false`);
  else if (a.certDir) args.push(`--${prefix}cert-dir`, a.certDir);
  return args;
}

// Asynchronous on purpose: the token server fixture runs in the test process, so a synchronous child
// would block the very server it needs to answer.
const execFile = promisify(execFileCb);

export async function skopeoRaw(ref: string, auth: SkopeoAuth): Promise<Buffer> {
  const { stdout } = await execFile('skopeo', ['inspect', '--raw', ...authArgs(auth, ''), `docker://${ref}`], {
    timeout: 30_000,
    encoding: 'buffer',
  });
  return stdout;
}

export function sha256(bytes: Buffer): string {
  return `sha256:${execFileSync('sha256sum', { input: bytes }).toString().split(' ')[0]}`;
}

/**
 * Reads `ref` back as a consumer would: the manifest's digest, the consumer rule, and the module bytes
 * (from the last tar+gzip layer's plugin.wasm, or the oci variant's raw layer).
 */
export async function expectImage(
  ref: string,
  auth: SkopeoAuth,
  expected: { digest: string; variant: ConsumerVariant; module: Buffer },
): Promise<void> {
  const raw = await skopeoRaw(ref, auth);
  expect(sha256(raw), `${ref} resolves to the output digest`).toBe(expected.digest);
  const manifest = JSON.parse(raw.toString()) as RawManifest;
  expect(consumerVariant(manifest)).toBe(expected.variant);
  if (expected.variant === 'oci') expect(manifest.layers).toHaveLength(2);

  const dir = mkdtempSync(join(tmpdir(), 'consumer-'));
  try {
    await execFile('skopeo', ['copy', '--quiet', ...authArgs(auth, 'src-'), `docker://${ref}`, `dir:${join(dir, 'image')}`], {
      timeout: 60_000,
    });
    const blob = join(dir, 'image', (manifest.layers.at(-1) as { digest: string }).digest.slice(7));
    let module: Buffer;
    if (expected.variant === 'oci') {
      const wasmLayer = manifest.layers.find((l) => l.mediaType === 'application/vnd.module.wasm.content.layer.v1+wasm') as {
        digest: string;
      };
      module = readFileSync(join(dir, 'image', wasmLayer.digest.slice(7)));
    } else {
      const out = join(dir, 'rootfs');
      execFileSync('mkdir', ['-p', out]);
      execFileSync('tar', ['-xzf', blob, '-C', out]);
      expect(readdirSync(out)).toContain('plugin.wasm');
      module = readFileSync(join(out, 'plugin.wasm'));
    }
    expect(Buffer.compare(module, expected.module), `${ref} carries the module byte for byte`).toBe(0);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** Asserts none of `secrets` appears in `texts`, except inside the runner's own ::add-mask:: commands. */
export function expectNoSecrets(texts: string[], secrets: string[]): void {
  for (const text of texts) {
    const visible = text
      .split('\n')
      .filter((l) => !l.startsWith('::add-mask::'))
      .join('\n');
    for (const secret of secrets.filter((s) => s.length >= 4)) {
      expect(visible.includes(secret), `a secret (${secret.slice(0, 3)}…) leaked`).toBe(false);
      const b64 = Buffer.from(secret).toString('base64');
      expect(visible.includes(b64), 'a base64 secret leaked').toBe(false);
    }
  }
}

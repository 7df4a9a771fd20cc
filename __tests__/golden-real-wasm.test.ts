// Golden digests of a real, several-MiB Wasm module (esbuild.wasm from the esbuild-wasm dev dependency, pinned
// by package-lock.json) for every variant and every compat compression level. Any change in the gzip stream,
// the tar, the configs or the manifests shows up here, on small and synthetic fixtures or not.
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { packModule } from '../src/pack.js';
import { checkModuleFile } from '../src/wasm/module-file.js';
import { testSpec } from './helpers/spec.js';

const MODULE = join(dirname(createRequire(import.meta.url).resolve('esbuild-wasm/package.json')), 'esbuild.wasm');
/** The module the digests below were computed from: a new esbuild-wasm release changes them all. */
const MODULE_DIGEST = 'sha256:b1831a5c0f6cf688034fb94d0419812f165ea316a3380d3fc00a151e562d2eaf';

const GOLDEN: Record<string, string> = {
  oci: 'sha256:e661dec6a03acbe675a3b9239e921ead016ed554295bcdc475bb886e8c378be8',
  wasm: 'sha256:992b71857fe0bb8a26bd581114c50a02bd084447858e65583e4c3613d5a0a6b0',
  'compat-docker-6': 'sha256:41c23b926dd8df78ecbff771bda1497c00619b3623038f5d8d01e620fef6ebf1',
  'compat-0': 'sha256:912b9a1756038a5c89aa660bd90004a0badca01cc5f56deb574bdf612ce5c15b',
  'compat-1': 'sha256:04cae24b0d2eecd28a71b7dfb664d61d762346168d8f949336fa3b0b40e93888',
  'compat-2': 'sha256:1530729975490891ffbbfe73bf3a4878d0240c24cd4f9cb864f8071a40d22864',
  'compat-3': 'sha256:46c71ee72bd8b83870832e1f031ffb4d77f5d422a9dc5bb62d18191612d7c924',
  'compat-4': 'sha256:adedd0bd757027d4c9ec1c87edfa65e1b7a584f71f92e92ada570313978eb47c',
  'compat-5': 'sha256:c04e77ddd0a686da8fbb84ba2799a7e7bbbda678440bb78ab8f29e376b4a8824',
  'compat-6': 'sha256:9c948742bcffcb928a9f2a37e986920a4bda707a999eff6dfefce1f5e435c1ce',
  'compat-7': 'sha256:f9b018c30d0b94b6762229c03d7b1990bda2320e9c3fa836c59930da41aa8212',
  'compat-8': 'sha256:787ee9ee150d21869a1cb4b46bbb8beca8136d64cb8a3f4e1fd7e5a9923f670c',
  'compat-9': 'sha256:7b2f256d035df76cd4e96d95b06e0da4eab5fc16e523f5deb4a69271f43ffb40',
};

const work = mkdtempSync(join(tmpdir(), 'golden-real-'));
afterAll(() => rmSync(work, { recursive: true, force: true }));

const sha256 = (bytes: Uint8Array) => `sha256:${createHash('sha256').update(bytes).digest('hex')}`;

async function digestOf(name: string, spec: ReturnType<typeof testSpec>, level?: number): Promise<string> {
  const dir = mkdtempSync(join(work, `${name}-`));
  const packed = await packModule(await checkModuleFile(MODULE, spec.variant === 'wasm'), spec, dir, level);
  expect(packed.wasm.digest).toBe(MODULE_DIGEST);
  if (spec.variant === 'compat') {
    // The layer is an ordinary gzip'd tar whose plugin.wasm is the module, whatever the level.
    const layer = join(dir, 'layer.tar.gz');
    execFileSync('gzip', ['-t', layer]);
    const wasm = execFileSync('tar', ['-xzOf', layer, 'plugin.wasm'], { maxBuffer: 64 << 20 });
    expect(sha256(wasm)).toBe(MODULE_DIGEST);
  }
  return sha256(packed.image.manifestBytes);
}

describe('golden digests of a real module (esbuild.wasm)', () => {
  it('is the module the digests were computed from', () => {
    expect(sha256(readFileSync(MODULE))).toBe(MODULE_DIGEST);
  });

  it.each(['oci', 'wasm'] as const)('variant %s', async (variant) => {
    expect(await digestOf(variant, testSpec({ variant }))).toBe(GOLDEN[variant]);
  });

  it('variant compat, Docker media types, level 6', async () => {
    expect(await digestOf('docker', testSpec({ flavour: 'docker' }), 6)).toBe(GOLDEN['compat-docker-6']);
  });

  it.each([0, 1, 2, 3, 4, 5, 6, 7, 8, 9])('variant compat, level %i', async (level) => {
    expect(await digestOf(`compat-${level}`, testSpec(), level)).toBe(GOLDEN[`compat-${level}`]);
  });
});

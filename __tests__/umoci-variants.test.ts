// What umoci (an OCI image tool with no Wasm knowledge) does with each variant's layout, so the README
// states it from a test: compat unpacks to plugin.wasm and runtime-config.json; the oci and wasm variants
// are refused for their config media type.
import { execFile as execFileCb } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { CLI, FIXTURE_MODULE, runNode } from './helpers/action.js';

const execFile = promisify(execFileCb);
const dir = mkdtempSync(join(tmpdir(), 'umoci-variants-'));
afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function unpack(variant: string): Promise<{ ok: boolean; output: string; rootfs: string }> {
  const layout = join(dir, `layout-${variant}`);
  const built = await runNode([
    CLI,
    'build',
    '--wasm',
    FIXTURE_MODULE,
    '--variant',
    variant,
    '--tag',
    'localhost/x:v',
    '--oci-layout',
    layout,
  ]);
  expect(built.code, built.stderr).toBe(0);
  const rootfs = join(dir, `rootfs-${variant}`);
  try {
    await execFile('umoci', ['raw', 'unpack', '--rootless', '--image', `${layout}:v`, rootfs], { timeout: 30_000 });
    return { ok: true, output: '', rootfs };
  } catch (err) {
    return { ok: false, output: String((err as { stderr?: string }).stderr ?? err), rootfs };
  }
}

describe('umoci raw unpack', () => {
  it('unpacks compat to plugin.wasm (the module, byte for byte) and runtime-config.json', async () => {
    const r = await unpack('compat');
    expect(r.ok, r.output).toBe(true);
    expect(readdirSync(r.rootfs).sort()).toEqual(['plugin.wasm', 'runtime-config.json']);
    expect(Buffer.compare(readFileSync(join(r.rootfs, 'plugin.wasm')), readFileSync(FIXTURE_MODULE))).toBe(0);
  });

  it.each([
    ['oci', 'application/vnd.module.wasm.config.v1+json'],
    ['wasm', 'application/vnd.wasm.config.v0+json'],
  ])('refuses the %s variant for its config media type', async (variant, mediaType) => {
    const r = await unpack(variant);
    expect(r.ok).toBe(false);
    expect(r.output).toContain(`config blob is not correct mediatype application/vnd.oci.image.config.v1+json: ${mediaType}`);
  });
});

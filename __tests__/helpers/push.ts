// Packs the fixture module and pushes it in-process with test-friendly retry timings.
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImageSpec } from '../../src/image/build.js';
import { packModule, type PackedImage } from '../../src/pack.js';
import { pushImage, type PushOptions, type PushResult } from '../../src/registry/push.js';
import { parseReference } from '../../src/registry/reference.js';
import { checkModuleFile } from '../../src/wasm/module-file.js';
import { FIXTURE_MODULE } from './action.js';
import { testSpec } from './spec.js';

export async function packFixture(variant: ImageSpec['variant'] = 'oci', module = FIXTURE_MODULE): Promise<PackedImage> {
  return packModule(await checkModuleFile(module, variant === 'wasm'), testSpec({ variant }), mkdtempSync(join(tmpdir(), 'pack-')));
}

export interface Captured {
  warnings: string[];
  infos: string[];
  masked: string[];
}

const captured = (): Captured => ({ warnings: [], infos: [], masked: [] });

export async function push(
  packed: PackedImage,
  refs: string[],
  overrides: Partial<PushOptions> = {},
  log: Captured = captured(),
): Promise<{ result: PushResult; log: Captured }> {
  const result = await pushImage(
    packed.image,
    refs.map((r) => parseReference(r)),
    {
      credentials: { env: { HOME: tmpdir() } },
      insecureRegistries: [],
      retry: { retries: 4, baseDelayMs: 5, maxDelayMs: 50, maxRetryAfterMs: 3000 },
      timeoutMs: 2000,
      log: { info: (m) => log.infos.push(m), warning: (m) => log.warnings.push(m) },
      mask: (s) => log.masked.push(s),
      ...overrides,
    },
  );
  return { result, log };
}

/** Runs `push` and returns its error (or fails the test if it succeeded). */
export async function pushError(
  packed: PackedImage,
  refs: string[],
  overrides: Partial<PushOptions> = {},
): Promise<{ error: Error; log: Captured }> {
  const log = captured();
  try {
    await push(packed, refs, overrides, log);
  } catch (error) {
    return { error: error as Error, log };
  }
  throw new Error('the push succeeded, but a failure was expected');
}

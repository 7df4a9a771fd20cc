import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectModule, inspectModuleFile, WasmFormatError } from '../src/wasm/inspect.js';
import { FIXTURE_MODULE, ROOT } from './helpers/action.js';

const WAT = join(ROOT, '__tests__', 'fixtures', 'wat');
let dir: string;
const built: Record<string, Uint8Array> = {};

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'inspect-'));
  for (const name of ['abi-0-1-0', 'no-abi', 'import-kinds']) {
    const out = join(dir, `${name}.wasm`);
    execFileSync('wat2wasm', [join(WAT, `${name}.wat`), '-o', out]);
    built[name] = readFileSync(out);
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

describe('inspectModule', () => {
  it('reads the golden fixture: proxy-wasm 0.2.1, its imports and exports', async () => {
    const info = await inspectModule(readFileSync(FIXTURE_MODULE));
    expect(info).toMatchObject({ kind: 'core', imports: 1, exports: 4, proxyAbi: '0.2.1' });
    expect(info.exportNames).toEqual(['memory', 'proxy_abi_version_0_2_1', 'proxy_on_memory_allocate', 'proxy_on_context_create']);
  });

  it('reads ABI 0.1.0, no ABI, and steps over every import kind', async () => {
    expect(await inspectModule(built['abi-0-1-0'] as Uint8Array)).toMatchObject({ proxyAbi: '0.1.0', imports: 1, exports: 3 });
    expect(await inspectModule(built['no-abi'] as Uint8Array)).toMatchObject({ proxyAbi: null, imports: 0, exports: 2 });
    // Several ABI exports: the highest one counts.
    expect(await inspectModule(built['import-kinds'] as Uint8Array)).toMatchObject({ proxyAbi: '0.2.1', imports: 5, exports: 3 });
  });

  it('knows a component by its header and reads its section headers', async () => {
    const component = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00, 0x00, 0x04, 0x01, 0x61, 0x62, 0x63]);
    expect(await inspectModule(component)).toMatchObject({ kind: 'component', imports: 0, exports: 0, proxyAbi: null, sections: [{ id: 0, offset: 10, size: 4 }] });
  });

  it('reads a real module shipped in an npm package (esbuild.wasm)', async () => {
    const path = join(ROOT, 'node_modules', 'esbuild-wasm', 'esbuild.wasm');
    const info = await inspectModuleFile(path);
    expect(info.kind).toBe('core');
    expect(info.size).toBeGreaterThan(1_000_000);
    expect(info.imports).toBeGreaterThan(0);
    expect(info.exportNames).toContain('run');
    expect(info.proxyAbi).toBeNull();
  });

  it('gives the same answer from a file as from memory', async () => {
    const path = join(dir, 'import-kinds.wasm');
    expect(await inspectModuleFile(path)).toEqual(await inspectModule(built['import-kinds'] as Uint8Array));
  });

  it.each(['golden', 'import-kinds'])('fails with a byte offset at every truncation point of %s, never another error', async (name) => {
    const whole = name === 'golden' ? readFileSync(FIXTURE_MODULE) : (built[name] as Uint8Array);
    const { sections } = await inspectModule(whole);
    // A cut exactly between two sections leaves a shorter well-formed module, unless it separates
    // functions from their bodies; every other cut must be reported.
    const codeEnd = sections.find((s) => s.id === 10);
    const wellFormedPrefixes = new Set([8, ...sections.filter((s) => s.id < 3 || s === codeEnd).map((s) => s.offset + s.size)]);
    let errors = 0;
    for (let cut = 0; cut < whole.length; cut++) {
      const err = await inspectModule(whole.subarray(0, cut)).then(
        () => undefined,
        (e: unknown) => e,
      );
      if (wellFormedPrefixes.has(cut)) {
        expect(err, `cut at ${cut} is a whole-section prefix`).toBeUndefined();
        continue;
      }
      errors++;
      expect(err, `cut at ${cut}`).toBeInstanceOf(WasmFormatError);
      expect((err as WasmFormatError).message).toMatch(/at byte offset \d+$/);
      expect((err as WasmFormatError).offset).toBeLessThanOrEqual(cut);
    }
    expect(errors).toBeGreaterThan(whole.length - 6);
  });

  it('survives every byte of the import and export sections corrupted', async () => {
    const whole = Buffer.from(built['import-kinds'] as Uint8Array);
    const info = await inspectModule(whole);
    const targets = info.sections.filter((s) => s.id === 2 || s.id === 7);
    let failures = 0;
    for (const section of targets) {
      for (let i = section.offset - 1; i < section.offset + section.size; i++) {
        for (const value of [0x00, 0xff, 0x80]) {
          const copy = Buffer.from(whole);
          copy[i] = value;
          try {
            await inspectModule(copy);
          } catch (err) {
            expect(err, `byte ${i} = ${value}`).toBeInstanceOf(WasmFormatError);
            failures++;
          }
        }
      }
    }
    expect(failures).toBeGreaterThan(0);
  });

  it('rejects overlong LEB128 and non-UTF-8 names with offsets', async () => {
    const head = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
    await expect(inspectModule(Uint8Array.from([...head, 0x07, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00]))).rejects.toThrow(/section size is too large for 32 bits at byte offset 9/);
    await expect(inspectModule(Uint8Array.from([...head, 0x07, 0x04, 0x01, 0x01, 0xff, 0x00]))).rejects.toThrow(/export name is not valid UTF-8 at byte offset 12/);
    await expect(inspectModule(Uint8Array.from([...head, 0x0e, 0x00]))).rejects.toThrow(/unknown section id 14 at byte offset 8/);
    await expect(inspectModule(Uint8Array.from([...head, 0x01, 0x05, 0x00]))).rejects.toThrow(/section 1 claims 5 bytes but only 1 remain/);
  });

  it('reads a large file without loading it whole', async () => {
    const path = join(dir, 'big.wasm');
    // A 64 MiB custom section: only its header is read.
    const header = Buffer.from([0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00, 0x00, 0x86, 0x80, 0x80, 0x20, 0x01, 0x78]);
    writeFileSync(path, Buffer.concat([header, Buffer.alloc(64 * 1024 * 1024 + 6 - 2)]));
    const before = process.memoryUsage().rss;
    const info = await inspectModuleFile(path);
    expect(info.sections).toHaveLength(1);
    expect(process.memoryUsage().rss - before).toBeLessThan(32 * 1024 * 1024);
  });
});

// The Wasm inspector against modules compiled from __tests__/fixtures/wat with wat2wasm (built into a
// temporary directory, never committed), hand-built binaries, a real module from npm, and every
// truncation and many corruptions of small modules.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { inspectModule, inspectModuleFile, WasmFormatError, type ModuleInfo } from '../src/wasm/inspect.js';
import { FIXTURE_MODULE, ROOT } from './helpers/action.js';

const WAT = join(ROOT, '__tests__', 'fixtures', 'wat');
const ESBUILD_WASM = join(ROOT, 'node_modules', 'esbuild-wasm', 'esbuild.wasm');
const FIXTURES = ['abi-0-2-1', 'abi-0-1-0', 'no-abi', 'import-kinds', 'proposals'] as const;
type Fixture = (typeof FIXTURES)[number];

let dir: string;
const built = {} as Record<Fixture, Uint8Array>;

beforeAll(() => {
  dir = mkdtempSync(join(tmpdir(), 'wasm-inspect-'));
  for (const name of FIXTURES) {
    const out = join(dir, `${name}.wasm`);
    execFileSync('wat2wasm', ['--enable-exceptions', '--enable-memory64', join(WAT, `${name}.wat`), '-o', out], { stdio: 'pipe' });
    built[name] = readFileSync(out);
  }
});
afterAll(() => rmSync(dir, { recursive: true, force: true }));

const HEAD = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00];
const COMPONENT_HEAD = [0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x01, 0x00];
const core = (...bytes: number[]) => Uint8Array.from([...HEAD, ...bytes]);
const utf8 = (s: string) => [...Buffer.from(s)];
/** A section: id, LEB128 size, payload (sizes here stay under 128). */
const section = (id: number, payload: number[]) => [id, payload.length, ...payload];
const name = (s: string) => [utf8(s).length, ...utf8(s)];

/** V8's own validator (the WebAssembly global, which the ES2023 lib and @types/node leave undeclared). */
const validate = (bytes: Uint8Array): boolean =>
  (globalThis as unknown as { WebAssembly: { validate(bytes: Uint8Array): boolean } }).WebAssembly.validate(bytes);

/** Runs `fn`, returning what it threw, or undefined. */
function thrown(fn: () => unknown): unknown {
  try {
    fn();
    return undefined;
  } catch (err) {
    return err;
  }
}

function expectFormatError(bytes: Uint8Array, message: RegExp, offset: number): void {
  const err = thrown(() => inspectModule(bytes));
  expect(err).toBeInstanceOf(WasmFormatError);
  expect((err as WasmFormatError).message).toMatch(message);
  expect((err as WasmFormatError).message).toMatch(new RegExp(`at byte offset ${offset}$`));
  expect((err as WasmFormatError).offset).toBe(offset);
}

describe('inspectModule on compiled fixtures', () => {
  it('reads a proxy-wasm 0.2.1 module: kind, imports, exports in order, ABI, sections', () => {
    const info = inspectModule(built['abi-0-2-1']);
    expect(info).toMatchObject({ kind: 'core', size: 280, imports: 2, exports: 6, proxyAbi: '0.2.1' });
    expect(info.exportNames).toEqual([
      'memory',
      'proxy_abi_version_0_2_1',
      '_start',
      'proxy_on_memory_allocate',
      'proxy_on_context_create',
      'proxy_on_vm_start',
    ]);
    // type, import, function, memory, global, export, code; each ends where the next begins.
    expect(info.sections.map((s) => s.id)).toEqual([1, 2, 3, 5, 6, 7, 10]);
    for (const [i, s] of info.sections.entries()) {
      const next = info.sections[i + 1];
      expect(s.offset + s.size).toBeLessThanOrEqual(next ? next.offset - 2 : info.size);
    }
    expect(info.sections.at(-1)).toMatchObject({ id: 10 });
    const last = info.sections.at(-1) as ModuleInfo['sections'][number];
    expect(last.offset + last.size).toBe(info.size);
  });

  it('reads ABI 0.1.0, no ABI at all, and the golden fixture', () => {
    expect(inspectModule(built['abi-0-1-0'])).toMatchObject({ proxyAbi: '0.1.0', imports: 1, exports: 3 });
    expect(inspectModule(built['no-abi'])).toMatchObject({ proxyAbi: null, imports: 0, exports: 2, exportNames: ['add', 'memory'] });
    expect(inspectModule(readFileSync(FIXTURE_MODULE))).toMatchObject({ kind: 'core', imports: 1, exports: 4, proxyAbi: '0.2.1' });
  });

  it('steps over function, table, memory and global imports; with several ABI exports the highest wins', () => {
    expect(inspectModule(built['import-kinds'])).toMatchObject({ imports: 5, exports: 3, proxyAbi: '0.2.1' });
  });

  it('steps over tag, memory64, externref table, v128 and funcref global imports; exports a tag', () => {
    const info = inspectModule(built.proposals);
    expect(info).toMatchObject({
      imports: 5,
      exports: 3,
      proxyAbi: '0.2.0',
      exportNames: ['proxy_abi_version_0_2_0', 'memory', 'failure'],
    });
    expect(info.sections.map((s) => s.id)).toEqual([1, 2, 3, 7, 10]);
  });

  it('gives the same answer from a file as from memory', async () => {
    for (const fixture of FIXTURES) {
      expect(await inspectModuleFile(join(dir, `${fixture}.wasm`)), fixture).toEqual(inspectModule(built[fixture]));
    }
  });
});

describe('inspectModule on hand-built binaries', () => {
  it('takes only function exports as ABI markers, and accepts shared and 64-bit limits', () => {
    const exports = section(7, [2, ...name('proxy_abi_version_0_2_1'), 0x03, 0x00, ...name('proxy_abi_version_0_1_0'), 0x00, 0x00]);
    const imports = section(2, [
      3,
      ...name('env'),
      ...name('shared'),
      0x02,
      0x03,
      0x01,
      0x04, // memory, flags shared|max: min 1, max 4
      ...name('env'),
      ...name('m64'),
      0x02,
      0x07,
      0x01,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0xff,
      0x01, // shared memory64, max 2^64-1
      ...name('env'),
      ...name('t'),
      0x01,
      0x63,
      0x70,
      0x00,
      0x00, // table of (ref null func), min 0
    ]);
    expect(inspectModule(core(...imports, ...exports))).toMatchObject({ imports: 3, exports: 2, proxyAbi: '0.1.0' });
  });

  it('accepts LEB128 padded to 5 bytes and skips custom sections anywhere', () => {
    const info = inspectModule(core(0x00, 0x84, 0x80, 0x80, 0x80, 0x00, ...name('abc'), 0x07, 0x01, 0x00, ...section(0, name('tail'))));
    expect(info.sections).toEqual([
      { id: 0, offset: 14, size: 4 },
      { id: 7, offset: 20, size: 1 },
      { id: 0, offset: 23, size: 5 },
    ]);
    expect(info).toMatchObject({ exports: 0, exportNames: [], proxyAbi: null });
  });

  it('knows a component by its header and counts its top-level imports and exports', () => {
    const bytes = Uint8Array.from([
      ...COMPONENT_HEAD,
      ...section(0, [...name('producers'), 0x00]),
      // Only the leading counts of component import (10) and export (11) sections are read.
      ...section(10, [0x02, 0xaa, 0xbb]),
      ...section(11, [0x01, 0xcc]),
    ]);
    expect(inspectModule(bytes)).toEqual({
      kind: 'component',
      size: bytes.length,
      imports: 2,
      exports: 1,
      exportNames: [],
      proxyAbi: null,
      sections: [
        { id: 0, offset: 10, size: 11 },
        { id: 10, offset: 23, size: 3 },
        { id: 11, offset: 28, size: 2 },
      ],
    });
    expect(inspectModule(Uint8Array.from(COMPONENT_HEAD))).toMatchObject({ kind: 'component', sections: [] });
    expectFormatError(Uint8Array.from([...COMPONENT_HEAD, 0x0d, 0x00]), /unknown section id 13/, 8);
  });

  it.each<[string, Uint8Array, RegExp, number]>([
    ['empty', new Uint8Array(0), /truncated/, 0],
    ['magic only', Uint8Array.from([0x00, 0x61, 0x73, 0x6d]), /truncated header/, 4],
    ['not Wasm', Uint8Array.from(Buffer.from('#!/bin/sh\n')), /not a WebAssembly binary/, 0],
    ['wrong third magic byte', Uint8Array.from([0x00, 0x61, 0x00, 0x6d, 1, 0, 0, 0]), /not a WebAssembly binary/, 2],
    ['version 2', Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x02, 0x00, 0x00, 0x00]), /unsupported WebAssembly version 02 00 00 00/, 4],
    ['component layer 2', Uint8Array.from([0x00, 0x61, 0x73, 0x6d, 0x0d, 0x00, 0x02, 0x00]), /unsupported WebAssembly version/, 4],
    ['unknown core section', core(0x0e, 0x00), /unknown section id 14/, 8],
    ['section larger than the file', core(0x01, 0x05, 0x00), /declares 5 bytes but only 1 remain/, 9],
    ['section size cut short', core(0x01, 0x80), /size runs past the end of the file/, 10],
    ['6-byte LEB128 size', core(0x07, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00), /LEB128 longer than 5 bytes/, 9],
    ['LEB128 size over 32 bits', core(0x07, 0x80, 0x80, 0x80, 0x80, 0x10), /does not fit in 32 bits/, 9],
    ['duplicate export section', core(0x07, 0x01, 0x00, 0x07, 0x01, 0x00), /a second export section/, 11],
    ['export name not UTF-8', core(...section(7, [0x01, 0x01, 0xff, 0x00, 0x00])), /export 0 name is not valid UTF-8/, 12],
    ['export name past the section', core(...section(7, [0x01, 0x09, 0x61])), /export 0 name runs past the end of the export section/, 12],
    ['export kind 5', core(...section(7, [0x01, ...name('x'), 0x05, 0x00])), /unknown export kind 0x05/, 13],
    ['export count larger than the entries', core(...section(7, [0x02, ...name('x'), 0x00, 0x00])), /export 1 name length runs past/, 15],
    ['bytes after the last export', core(...section(7, [0x00, 0x00])), /unexpected bytes after the last entry/, 11],
    ['import kind 5', core(...section(2, [0x01, ...name('m'), ...name('f'), 0x05])), /unknown import kind 0x05/, 15],
    ['memory limits flags 8', core(...section(2, [0x01, ...name('m'), ...name('f'), 0x02, 0x08, 0x00])), /invalid limits flags 0x08/, 16],
    ['table of i32', core(...section(2, [0x01, ...name('m'), ...name('f'), 0x01, 0x7f, 0x00, 0x00])), /unknown reference type 0x7f/, 16],
    ['global of type 0x40', core(...section(2, [0x01, ...name('m'), ...name('f'), 0x03, 0x40, 0x00])), /unknown value type 0x40/, 16],
    ['global mutability 2', core(...section(2, [0x01, ...name('m'), ...name('f'), 0x03, 0x7f, 0x02])), /invalid global mutability/, 17],
    ['tag attribute 1', core(...section(2, [0x01, ...name('m'), ...name('f'), 0x04, 0x01, 0x00])), /invalid tag attribute/, 16],
    [
      '11-byte memory64 bound',
      core(...section(2, [0x01, ...name('m'), ...name('f'), 0x02, 0x04, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x80, 0x00])),
      /LEB128 longer than 10 bytes/,
      17,
    ],
    [
      'function without a body',
      core(...section(1, [0x01, 0x60, 0x00, 0x00]), ...section(3, [0x01, 0x00])),
      /declares 1 functions but the code section holds 0/,
      18,
    ],
    ['empty custom section', core(0x00, 0x00), /custom section name length runs past/, 10],
    ['custom section name past its end', core(...section(0, [0x05, 0x61])), /custom section name runs past/, 11],
  ])('refuses %s with the offset', (_label, bytes, message, offset) => {
    expectFormatError(bytes, message, offset);
  });
});

describe('robustness', () => {
  const samples: Array<[string, () => Uint8Array]> = [
    ['abi-0-2-1', () => built['abi-0-2-1']],
    ['import-kinds', () => built['import-kinds']],
    ['proposals', () => built.proposals],
  ];

  it.each(samples)('a cut at every byte offset of %s is a WasmFormatError unless the prefix is itself a valid module', (label, get) => {
    const whole = get();
    let refused = 0;
    for (let cut = 0; cut < whole.length; cut++) {
      const prefix = whole.subarray(0, cut);
      const err = thrown(() => inspectModule(prefix));
      // V8 is the referee for the MVP fixtures: a prefix it validates must be accepted, any other refused.
      // (A cut between sections can leave a valid module: the 8-byte header alone is one.)
      const valid = label === 'proposals' ? err === undefined : validate(prefix);
      if (valid) {
        expect(err, `cut at ${cut} leaves a valid module`).toBeUndefined();
        continue;
      }
      refused++;
      expect(err, `cut at ${cut}`).toBeInstanceOf(WasmFormatError);
      expect((err as WasmFormatError).offset, `cut at ${cut}`).toBeLessThanOrEqual(cut);
    }
    // Only a handful of cuts (header, after type and import sections) leave a valid module.
    expect(refused).toBeGreaterThanOrEqual(whole.length - 4);
  });

  it('setting each byte of the export section to 0xff, 0x00 or 0x80 gives a WasmFormatError or a result, never a crash', () => {
    for (const fixture of ['abi-0-2-1', 'import-kinds'] as const) {
      const whole = built[fixture];
      const exportSection = inspectModule(whole).sections.find((s) => s.id === 7);
      if (!exportSection) throw new Error(`${fixture} has no export section`);
      let refused = 0;
      for (let i = exportSection.offset; i < exportSection.offset + exportSection.size; i++) {
        for (const value of [0xff, 0x00, 0x80]) {
          const copy = Uint8Array.from(whole);
          copy[i] = value;
          const err = thrown(() => inspectModule(copy));
          if (err !== undefined) {
            expect(err, `${fixture} byte ${i} = ${value}`).toBeInstanceOf(WasmFormatError);
            refused++;
          }
        }
      }
      expect(refused).toBeGreaterThan(0);
    }
  });

  it('corrupting any byte of a whole module, or thousands of random ones, never escapes as another error', () => {
    let seed = 0x2545f491;
    const random = () => {
      seed ^= seed << 13;
      seed ^= seed >>> 17;
      seed ^= seed << 5;
      return (seed >>> 0) / 2 ** 32;
    };
    const check = (bytes: Uint8Array, what: string) => {
      const err = thrown(() => inspectModule(bytes));
      if (err !== undefined) expect(err, what).toBeInstanceOf(WasmFormatError);
    };
    for (const fixture of FIXTURES) {
      const whole = built[fixture];
      for (let i = 0; i < whole.length; i++) {
        for (const value of [0xff, 0x00, 0x80, 0x7f]) {
          const copy = Uint8Array.from(whole);
          copy[i] = value;
          check(copy, `${fixture} byte ${i} = ${value}`);
        }
      }
      for (let round = 0; round < 1000; round++) {
        const copy = Uint8Array.from(whole);
        const flips = 1 + Math.floor(random() * 4);
        for (let f = 0; f < flips; f++) copy[8 + Math.floor(random() * (copy.length - 8))] = Math.floor(random() * 256);
        check(copy, `${fixture} round ${round}`);
      }
    }
  });

  it('refuses a file of more than 100000 sections without building them all', () => {
    const bytes = new Uint8Array(8 + 3 * 100_001);
    bytes.set(HEAD);
    for (let i = 8; i < bytes.length; i += 3) bytes.set([0x00, 0x01, 0x00], i); // empty-named custom sections
    expectFormatError(bytes, /more than 100000 sections/, 8 + 3 * 100_000);
  });
});

describe('inspectModuleFile', () => {
  it('reads a real module shipped in an npm package (esbuild-wasm) the same way as from memory', async () => {
    const info = await inspectModuleFile(ESBUILD_WASM);
    expect(info).toEqual(inspectModule(readFileSync(ESBUILD_WASM)));
    expect(info.kind).toBe('core');
    expect(info.size).toBeGreaterThan(1_000_000);
    expect(info.imports).toBeGreaterThan(0);
    expect(info.exportNames).toContain('run');
    expect(info.proxyAbi).toBeNull();
  });

  it('finds the exports behind a 256 MiB section without loading the file', async () => {
    // type, function, a 256 MiB custom section of zeros (a sparse file), export, code.
    const PAD = 256 * 1024 * 1024;
    const before = Uint8Array.from([
      ...HEAD,
      ...section(1, [0x01, 0x60, 0x00, 0x00]),
      ...section(3, [0x01, 0x00]),
      0x00,
      0x80 | (PAD & 0x7f),
      0x80 | ((PAD >> 7) & 0x7f),
      0x80 | ((PAD >> 14) & 0x7f),
      0x80 | ((PAD >> 21) & 0x7f),
      PAD >>> 28,
      0x03,
      ...utf8('pad'),
    ]);
    const after = Uint8Array.from([
      ...section(7, [0x01, ...name('proxy_abi_version_0_2_1'), 0x00, 0x00]),
      ...section(10, [0x01, 0x02, 0x00, 0x0b]),
    ]);
    const path = join(dir, 'big.wasm');
    const file = await open(path, 'w');
    try {
      await file.write(before, 0, before.length, 0);
      const padStart = before.length - 4; // the payload begins with the name
      await file.write(after, 0, after.length, padStart + PAD);
    } finally {
      await file.close();
    }
    const memory = process.memoryUsage();
    const info = await inspectModuleFile(path);
    const grown = process.memoryUsage();
    expect(info).toMatchObject({ proxyAbi: '0.2.1', exports: 1, size: before.length - 4 + PAD + after.length });
    expect(info.sections.map((s) => s.id)).toEqual([1, 3, 0, 7, 10]);
    expect(grown.arrayBuffers - memory.arrayBuffers).toBeLessThan(16 * 1024 * 1024);
    expect(grown.rss - memory.rss).toBeLessThan(64 * 1024 * 1024);
  });

  it('reports a truncated file with the offset, and passes file-system errors on', async () => {
    const path = join(dir, 'cut.wasm');
    writeFileSync(path, built['abi-0-2-1'].subarray(0, 100));
    const err = await inspectModuleFile(path).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(WasmFormatError);
    expect(err).toEqual(thrown(() => inspectModule(built['abi-0-2-1'].subarray(0, 100))));
    await expect(inspectModuleFile(join(dir, 'missing.wasm'))).rejects.toMatchObject({ code: 'ENOENT' });
  });
});

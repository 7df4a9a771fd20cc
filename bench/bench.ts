// `npm run bench`: this project's push and packaging against skopeo, tar+gzip+sha256sum and the transport
// ceiling (curl), on the real registry on loopback. Contenders alternate within each run, every timed push
// gets fresh content, and the table shows medians and min-max. `--quick` is CI's small, fast variant.
import { execFile, spawn } from 'node:child_process';
import { createHash, randomFillSync } from 'node:crypto';
import { closeSync, mkdirSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync, writeSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { cpus, tmpdir, totalmem } from 'node:os';
import { join, resolve } from 'node:path';
import { promisify } from 'node:util';
import { startRegistry, type RegistryFixture } from '../__tests__/helpers/registry.js';

const exec = promisify(execFile);
const ROOT = resolve(import.meta.dirname, '..');
const CLI = join(ROOT, 'bin', 'wasm-image.js');
const ACTION = join(ROOT, 'dist', 'index.js');
const MiB = 1024 * 1024;
const quick = process.argv.includes('--quick');
const RUNS = quick ? 2 : 5;
const PUSH_SIZES = quick ? [1, 4] : [1, 50, 256];
const PACK_SIZES = quick ? [4] : [1, 50];
const LEVELS = [1, 6, 9];
const RSS_SIZE = 256;
const REAL_MODULE = join(ROOT, 'node_modules', 'esbuild-wasm', 'esbuild.wasm');

const TARGETS = {
  pushVsSkopeo: 0.8,
  pushVsCurl: 1.3,
  packVsTarGzip: 1.1,
  repushVsSkopeo: 0.5,
  tenVsOneTag: 1.5,
  rssMiB: 80,
  coldStartMs: 200,
};

interface Series {
  name: string;
  ms: number[];
}
const results: Record<string, Series[]> = {};
const record = (group: string, name: string, ms: number) => {
  const list = (results[group] ??= []);
  let s = list.find((x) => x.name === name);
  if (!s) list.push((s = { name, ms: [] }));
  s.ms.push(ms);
};
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = Math.floor(s.length / 2);
  return s.length % 2 ? (s[m] as number) : ((s[m - 1] as number) + (s[m] as number)) / 2;
};
const med = (group: string, name: string) => median(results[group]?.find((s) => s.name === name)?.ms ?? [NaN]);

const work = mkdtempSync(join(tmpdir(), 'bench-'));
let counter = 0;

/** Unsigned LEB128, for the custom section's size. */
function leb(n: number): number[] {
  const out: number[] = [];
  do {
    let b = n & 0x7f;
    n = Math.floor(n / 128);
    if (n > 0) b |= 0x80;
    out.push(b);
  } while (n > 0);
  return out;
}

/**
 * A fresh module of exactly `mib` MiB: a valid Wasm header and one custom section of incompressible random
 * bytes (new content every call), so it is well formed and yet nothing compresses or deduplicates.
 */
function freshModule(mib: number): string {
  const path = join(work, `m${++counter}.wasm`);
  const total = mib * MiB;
  const name = [0x05, ...Buffer.from('bench')];
  let payload = total - 8 - 1 - name.length;
  payload -= leb(payload + name.length).length;
  const head = Buffer.from([0, 0x61, 0x73, 0x6d, 1, 0, 0, 0, 0x00, ...leb(payload + name.length), ...name]);
  const fd = openSync(path, 'w');
  writeSync(fd, head);
  const chunk = Buffer.alloc(MiB);
  for (let left = payload; left > 0;) {
    randomFillSync(chunk);
    const n = Math.min(left, MiB);
    writeSync(fd, chunk, 0, n);
    left -= n;
  }
  closeSync(fd);
  return path;
}

async function timed(cmd: string, args: string[], env: NodeJS.ProcessEnv = process.env): Promise<number> {
  const t = process.hrtime.bigint();
  await exec(cmd, args, { env, maxBuffer: 64 * MiB, timeout: 300_000 });
  return Number(process.hrtime.bigint() - t) / 1e6;
}

const cliPush = (reg: RegistryFixture, module: string, tags: string[], variant = 'oci', verify = 'false') =>
  timed(process.execPath, [
    CLI,
    'push',
    '--wasm',
    module,
    '--variant',
    variant,
    '--verify',
    verify,
    ...tags.flatMap((t) => ['--tag', `${reg.host}/${t}`]),
  ]);

async function layoutFor(module: string): Promise<string> {
  const dir = join(work, `layout${++counter}`);
  await exec(process.execPath, [CLI, 'build', '--wasm', module, '--variant', 'oci', '--oci-layout', dir]);
  return dir;
}

const skopeoCopy = (reg: RegistryFixture, layout: string, ref: string) =>
  timed('skopeo', ['copy', '--quiet', '--dest-tls-verify=false', `oci:${layout}:latest`, `docker://${reg.host}/${ref}`]);

/** The transport ceiling: curl's POST and a streamed PUT -T of the same blob (digest computed beforehand). */
async function curlCeiling(reg: RegistryFixture, module: string, repo: string): Promise<number> {
  const digest = `sha256:${createHash('sha256').update(readFileSync(module)).digest('hex')}`;
  const script = `set -e
loc=$(curl -sS -o /dev/null -D - -X POST "${reg.url}/v2/${repo}/blobs/uploads/" | tr -d '\\r' | awk 'tolower($1)=="location:"{print $2}')
case "$loc" in http*) ;; *) loc="${reg.url}$loc" ;; esac
curl -sS -f -o /dev/null -X PUT -H 'Content-Type: application/octet-stream' -T "${module}" "$loc&digest=${digest}"`;
  return timed('bash', ['-c', script]);
}

async function peakRssKiB(args: string[]): Promise<number> {
  const { stderr } = await exec('/usr/bin/time', ['-v', process.execPath, ...args], { maxBuffer: 64 * MiB, timeout: 300_000 });
  return Number(/Maximum resident set size \(kbytes\): (\d+)/.exec(stderr)?.[1]);
}

/** Process start to the first request the action sends (a stub server records the moment). */
async function coldStartMs(): Promise<number> {
  let first: bigint | undefined;
  const server = createServer((req, res) => {
    first ??= process.hrtime.bigint();
    res.writeHead(503);
    res.end();
    req.resume();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const { port } = server.address() as AddressInfo;
  const env = {
    PATH: process.env.PATH,
    HOME: work,
    INPUT_WASM: join(ROOT, '__tests__/fixtures/modules/filter.wasm'),
    INPUT_TAGS: `127.0.0.1:${port}/cold/start:1`,
    INPUT_RETRIES: '0',
    INPUT_SUMMARY: 'false',
  };
  const start = process.hrtime.bigint();
  await new Promise<void>((resolveRun) => {
    const child = spawn(process.execPath, [ACTION], { env, stdio: 'ignore' });
    child.on('close', () => resolveRun());
  });
  server.close();
  return first ? Number(first - start) / 1e6 : NaN;
}

async function main(): Promise<void> {
  const reg = await startRegistry();
  const stamp = new Date().toISOString().replace(/[:.]/g, '-');
  try {
    // 1. Push of the oci variant: this CLI vs skopeo copy of the same kind of layout vs the curl ceiling.
    for (const size of PUSH_SIZES) {
      for (let run = 0; run < RUNS; run++) {
        const [a, b, c] = [freshModule(size), freshModule(size), freshModule(size)];
        const layout = await layoutFor(b);
        record(`push ${size} MiB`, 'wasm-image', await cliPush(reg, a, [`ours/m${size}-${run}:1`]));
        record(`push ${size} MiB`, 'skopeo copy', await skopeoCopy(reg, layout, `skopeo/m${size}-${run}:1`));
        record(`push ${size} MiB`, 'curl POST+PUT', await curlCeiling(reg, c, `curl/m${size}-${run}`));
        // 3. Re-push of the unchanged image: every blob is already there.
        if (size === PUSH_SIZES[PUSH_SIZES.length - 1]) {
          record('re-push unchanged', 'wasm-image', await cliPush(reg, a, [`ours/m${size}-${run}:1`]));
          record('re-push unchanged', 'skopeo copy', await skopeoCopy(reg, layout, `skopeo/m${size}-${run}:1`));
        }
        for (const f of [a, b, c]) rmSync(f);
        rmSync(layout, { recursive: true });
      }
    }
    // 1b. A realistic module shipped in an npm package (esbuild.wasm, 14 MB of Go-compiled Wasm).
    for (let run = 0; run < RUNS; run++) {
      const module = join(work, `real${run}.wasm`);
      // Fresh content per run: the real module with a run-specific custom section appended
      // (id 0, size 9, a name of 8 bytes).
      writeFileSync(
        module,
        Buffer.concat([readFileSync(REAL_MODULE), Buffer.from([0, 9, 8, ...Buffer.from(`${run}-${Date.now()}`.slice(-8))])]),
      );
      record('push esbuild.wasm', 'wasm-image', await cliPush(reg, module, [`ours/real-${run}:1`]));
    }

    // 2. compat packaging: tar + gzip + digests, vs tar | gzip -L and sha256sum.
    const real = join(work, 'real-pack.wasm');
    writeFileSync(real, readFileSync(REAL_MODULE));
    const packInputs: Array<[string, () => string]> = [
      ...PACK_SIZES.map((s): [string, () => string] => [`${s} MiB random`, () => freshModule(s)]),
      ['esbuild.wasm', () => real],
    ];
    for (const [label, make] of packInputs) {
      for (const level of LEVELS) {
        for (let run = 0; run < RUNS; run++) {
          const module = make();
          const dir = join(work, `pack${++counter}`);
          mkdirSync(dir);
          writeFileSync(join(dir, 'plugin.wasm'), readFileSync(module));
          record(
            `compat ${label} -${level}`,
            'wasm-image build',
            await timed(process.execPath, [CLI, 'build', '--wasm', module, '--compression-level', String(level)]),
          );
          record(
            `compat ${label} -${level}`,
            'tar|gzip+sha256sum',
            await timed('bash', [
              '-c',
              `tar c -C ${dir} plugin.wasm | gzip -${level} > ${dir}/l.tgz && sha256sum ${dir}/l.tgz ${dir}/plugin.wasm >/dev/null`,
            ]),
          );
          rmSync(dir, { recursive: true });
          if (module !== real) rmSync(module);
        }
      }
    }

    // 4. Ten tags against one tag (fresh content each).
    for (let run = 0; run < RUNS; run++) {
      const [one, ten] = [freshModule(PUSH_SIZES[0] as number), freshModule(PUSH_SIZES[0] as number)];
      record('tags', '1 tag', await cliPush(reg, one, [`tags/one-${run}:1`]));
      record(
        'tags',
        '10 tags',
        await cliPush(
          reg,
          ten,
          Array.from({ length: 10 }, (_, i) => `tags/ten-${run}:t${i}`),
        ),
      );
      rmSync(one);
      rmSync(ten);
    }

    // 5. Peak RSS of a 256 MiB push (verification on, as by default), both variants.
    // (compat gets 1 MiB less: Istio's cap applies to its tar stream, which adds headers to the module.)
    const big = freshModule(RSS_SIZE);
    const bigCompat = freshModule(RSS_SIZE - 1);
    const rss: Record<string, number> = {};
    rss.oci = await peakRssKiB([CLI, 'push', '--wasm', big, '--variant', 'oci', '--tag', `${reg.host}/rss/oci:1`]);
    rss.compat = await peakRssKiB([
      CLI,
      'push',
      '--wasm',
      bigCompat,
      '--variant',
      'compat',
      '--compression-level',
      '1',
      '--tag',
      `${reg.host}/rss/compat:1`,
    ]);
    rmSync(big);
    rmSync(bigCompat);

    // 6. Cold start of the bundled action.
    for (let run = 0; run < Math.max(RUNS, 5); run++) record('cold start', 'node dist/index.js', await coldStartMs());

    // Report.
    const lines: string[] = [];
    lines.push(
      `wasm-image-action benchmark (${quick ? 'quick' : 'full'}; ${RUNS} runs; ${cpus().length} cores, ${Math.round(totalmem() / 2 ** 30)} GiB, node ${process.version})`,
    );
    lines.push('', `${'case'.padEnd(28)} ${'contender'.padEnd(20)} ${'median ms'.padStart(10)} ${'min-max ms'.padStart(16)}`);
    for (const [group, series] of Object.entries(results)) {
      for (const s of series) {
        lines.push(
          `${group.padEnd(28)} ${s.name.padEnd(20)} ${median(s.ms).toFixed(0).padStart(10)} ${`${Math.min(...s.ms).toFixed(0)}-${Math.max(...s.ms).toFixed(0)}`.padStart(16)}`,
        );
      }
    }
    const mid = PUSH_SIZES.includes(50) ? 50 : (PUSH_SIZES[PUSH_SIZES.length - 1] as number);
    const lastPack = PACK_SIZES[PACK_SIZES.length - 1];
    const ratios = {
      pushVsSkopeo: med(`push ${mid} MiB`, 'wasm-image') / med(`push ${mid} MiB`, 'skopeo copy'),
      pushVsCurl: med(`push ${mid} MiB`, 'wasm-image') / med(`push ${mid} MiB`, 'curl POST+PUT'),
      packVsTarGzip:
        med(`compat ${lastPack} MiB random -6`, 'wasm-image build') / med(`compat ${lastPack} MiB random -6`, 'tar|gzip+sha256sum'),
      repushVsSkopeo: med('re-push unchanged', 'wasm-image') / med('re-push unchanged', 'skopeo copy'),
      tenVsOneTag: med('tags', '10 tags') / med('tags', '1 tag'),
      rssMiB: Math.max(rss.oci ?? 0, rss.compat ?? 0) / 1024,
      coldStartMs: med('cold start', 'node dist/index.js'),
    };
    lines.push(
      '',
      `peak RSS of a ${RSS_SIZE} MiB push: oci ${((rss.oci ?? 0) / 1024).toFixed(1)} MiB, compat ${((rss.compat ?? 0) / 1024).toFixed(1)} MiB`,
      '',
    );
    lines.push(`${'target'.padEnd(34)} ${'measured'.padStart(9)} ${'goal'.padStart(7)}`);
    const labels: Record<keyof typeof TARGETS, string> = {
      pushVsSkopeo: `${mid} MiB push / skopeo copy`,
      pushVsCurl: `${mid} MiB push / curl ceiling`,
      packVsTarGzip: `compat packaging / tar+gzip+sha256`,
      repushVsSkopeo: 're-push / skopeo re-copy',
      tenVsOneTag: '10 tags / 1 tag',
      rssMiB: `${RSS_SIZE} MiB push peak RSS (MiB)`,
      coldStartMs: 'cold start to first request (ms)',
    };
    for (const key of Object.keys(TARGETS) as Array<keyof typeof TARGETS>) {
      const ok = ratios[key] <= TARGETS[key];
      lines.push(
        `${labels[key].padEnd(34)} ${ratios[key].toFixed(2).padStart(9)} ${`≤ ${TARGETS[key]}`.padStart(7)}  ${ok ? 'met' : 'MISSED'}`,
      );
    }
    console.log(lines.join('\n'));
    const out = join(ROOT, 'bench', 'results', `${quick ? 'quick' : 'full'}-${stamp}.json`);
    writeFileSync(
      out,
      `${JSON.stringify({ when: new Date().toISOString(), quick, runs: RUNS, machine: { cores: cpus().length, memGiB: Math.round(totalmem() / 2 ** 30), node: process.version, cpu: cpus()[0]?.model }, results, rssKiB: rss, ratios, targets: TARGETS }, null, 2)}\n`,
    );
    console.log(`\nraw figures: ${out}`);
    // Memory is deterministic enough to enforce everywhere (CI runs the quick mode); timings are reported.
    if (ratios.rssMiB > TARGETS.rssMiB) {
      console.error(`peak RSS ${ratios.rssMiB.toFixed(1)} MiB is over the ${TARGETS.rssMiB} MiB target`);
      process.exitCode = 1;
    }
  } finally {
    await reg.stop();
    rmSync(work, { recursive: true, force: true });
  }
}

await main();

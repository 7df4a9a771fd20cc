// CI runs the benchmark in its quick mode so it cannot rot; the quick mode enforces the memory target
// (a 256 MiB module pushed in at most 80 MiB peak RSS), the one figure steady enough to gate on.
import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROOT } from './helpers/action.js';

describe('npm run bench -- --quick', () => {
  it('measures every contender and keeps a 256 MiB push under 80 MiB RSS', async () => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      const child = spawn(join(ROOT, 'node_modules', '.bin', 'vite-node'), ['bench/bench.ts', '--quick'], {
        cwd: ROOT,
        stdio: ['ignore', 'pipe', 'pipe'],
      });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      const timer = setTimeout(() => child.kill('SIGKILL'), 280_000);
      child.on('close', (c) => {
        clearTimeout(timer);
        resolve({ code: c ?? -1, stdout: out, stderr: err });
      });
    });
    expect(code, stdout + stderr).toBe(0);
    const file = /raw figures: (\S+)/.exec(stdout)?.[1] as string;
    const report = JSON.parse(readFileSync(file, 'utf8'));
    for (const group of ['push 1 MiB', 'push 4 MiB', 're-push unchanged', 'tags', 'cold start'])
      expect(Object.keys(report.results)).toContain(group);
    expect(report.results['push 4 MiB'].map((s: { name: string }) => s.name)).toEqual(['wasm-image', 'skopeo copy', 'curl POST+PUT']);
    expect(report.rssKiB.oci / 1024).toBeLessThanOrEqual(80);
    expect(report.rssKiB.compat / 1024).toBeLessThanOrEqual(80);
    expect(stdout).toMatch(/256 MiB push peak RSS \(MiB\) +[\d.]+ +≤ 80 +met/);
  }, 300_000);
});

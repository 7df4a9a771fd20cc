// The repository's own contract files: action.yml, the workflows and examples (checked by a real
// validator), and the README's inputs and outputs tables against action.yml.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { INPUT_DEFAULTS } from '../src/inputs.js';
import { ROOT } from './helpers/action.js';

const exec = promisify(execFile);
const VALIDATOR = join(ROOT, 'node_modules', '.bin', 'action-validator');

interface ActionYml {
  runs: { using: string; main: string };
  branding?: unknown;
  inputs: Record<string, { description: string; required?: boolean; default?: string }>;
  outputs: Record<string, { description: string }>;
}
const action = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as ActionYml;

async function validate(file: string): Promise<{ ok: boolean; output: string }> {
  try {
    const { stdout, stderr } = await exec(VALIDATOR, [file], { timeout: 30_000 });
    return { ok: true, output: stdout + stderr };
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string };
    return { ok: false, output: `${e.stdout ?? ''}${e.stderr ?? ''}` };
  }
}

describe('workflow and action validation (action-validator)', () => {
  const files = [
    ...readdirSync(join(ROOT, '.github', 'workflows')).map((f) => join(ROOT, '.github', 'workflows', f)),
    ...readdirSync(join(ROOT, 'examples')).map((f) => join(ROOT, 'examples', f)),
  ];

  it.each(files.map((f) => [f.slice(ROOT.length + 1), f]))('%s is valid', async (_name, file) => {
    const result = await validate(file);
    expect(result.ok, result.output).toBe(true);
  });

  it('action.yml is valid and runs on node24 from dist/index.js', async () => {
    expect(action.runs).toEqual({ using: 'node24', main: 'dist/index.js' });
    expect(action.branding).toBeDefined();
    // The validator's schema (0.6.0) predates node24; validate everything else with the newest runtime it knows.
    const dir = mkdtempSync(join(tmpdir(), 'action-yml-'));
    try {
      const copy = join(dir, 'action.yml');
      writeFileSync(copy, readFileSync(join(ROOT, 'action.yml'), 'utf8').replace('using: node24', 'using: node20'));
      const result = await validate(copy);
      expect(result.ok, result.output).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('rejects a broken workflow (the validator really validates)', async () => {
    const dir = mkdtempSync(join(tmpdir(), 'broken-'));
    try {
      const file = join(dir, 'broken.yml');
      writeFileSync(
        file,
        'name: x\non: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    steps:\n      - uses: actions/checkout@v4\n        wiht: {}\n',
      );
      const result = await validate(file);
      expect(result.ok).toBe(false);
      expect(result.output).toContain("Additional property 'wiht' is not allowed");
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('pins every third-party action to a full commit SHA', () => {
    for (const file of files) {
      for (const [, ref] of readFileSync(file, 'utf8').matchAll(/uses:\s*([^\s#]+)/g)) {
        if (ref?.startsWith('./') || ref?.startsWith('acme/wasm-image-action@')) continue;
        expect(ref, `${file}: ${ref}`).toMatch(/@[0-9a-f]{40}$/);
      }
    }
  });

  it('sets permissions in every workflow', () => {
    for (const file of readdirSync(join(ROOT, '.github', 'workflows'))) {
      const wf = parse(readFileSync(join(ROOT, '.github', 'workflows', file), 'utf8')) as { permissions?: unknown };
      expect(wf.permissions, file).toBeDefined();
    }
  });
});

/** Rows of the Markdown table under `heading`: first cell (an input name in backticks) → the other cells. */
function tableRows(markdown: string, heading: string): Map<string, string[]> {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  expect(start, `README has a "## ${heading}" section`).toBeGreaterThan(-1);
  const section = markdown.slice(start + 1).split('\n## ')[0] as string;
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const m = /^\|\s*`([a-z0-9-]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (m)
      rows.set(
        m[1] as string,
        (m[2] as string).split(/(?<!\\)\|/).map((c) => c.trim()),
      );
  }
  return rows;
}

describe('README against action.yml', () => {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');

  it('documents every input, and only those, with the same defaults', () => {
    const rows = tableRows(readme, 'Inputs');
    expect([...rows.keys()].sort()).toEqual(Object.keys(action.inputs).sort());
    for (const [name, spec] of Object.entries(action.inputs)) {
      const documented = (rows.get(name)?.[0] ?? '').replace(/`/g, '');
      const expected = spec.required ? '(required)' : (spec.default ?? '');
      expect(documented, `default of ${name}`).toBe(expected);
    }
  });

  it('documents every output, and only those', () => {
    expect([...tableRows(readme, 'Outputs').keys()].sort()).toEqual(Object.keys(action.outputs).sort());
  });

  it('keeps the code defaults equal to action.yml (the runner applies one, node dist/index.js the other)', () => {
    for (const [name, value] of Object.entries(INPUT_DEFAULTS)) expect(action.inputs[name]?.default, name).toBe(value);
    for (const [name, spec] of Object.entries(action.inputs)) {
      if (spec.default && name !== 'github-token') expect(INPUT_DEFAULTS[name], `${name} default in src/inputs.ts`).toBe(spec.default);
    }
  });

  it('gives the test command that .ci/run runs', () => {
    expect(readme).toContain('```sh\nnpm test\n```');
    expect(readFileSync(join(ROOT, '.ci', 'run'), 'utf8')).toMatch(/\nnpm test\n/);
  });
});

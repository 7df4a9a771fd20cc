// The README's inputs and outputs tables against action.yml and the defaults in src/ (workflows.test.ts
// validates action.yml, the workflows and the examples themselves).
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { INPUT_DEFAULTS } from '../src/inputs.js';
import { ROOT } from './helpers/action.js';

interface ActionYml {
  inputs: Record<string, { description: string; required?: boolean; default?: string }>;
  outputs: Record<string, { description: string }>;
}
const action = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as ActionYml;

/** Rows of the Markdown table under `heading`: first cell (an input name in backticks) → the other cells. */
function tableRows(markdown: string, heading: string): Map<string, string[]> {
  const start = markdown.indexOf(`\n## ${heading}\n`);
  expect(start, `README has a "## ${heading}" section`).toBeGreaterThan(-1);
  const section = markdown.slice(start + 1).split('\n## ')[0];
  const rows = new Map<string, string[]>();
  for (const line of section.split('\n')) {
    const m = /^\|\s*`([a-z0-9-]+)`\s*\|(.*)\|\s*$/.exec(line);
    if (m)
      rows.set(
        m[1],
        m[2].split(/(?<!\\)\|/).map((c) => c.trim()),
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

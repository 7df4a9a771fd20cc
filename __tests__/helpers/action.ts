// Runs the bundled action the way the GitHub runner does: `node dist/index.js` with INPUT_* variables,
// GITHUB_OUTPUT and GITHUB_STEP_SUMMARY files, and reads back what it wrote.
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { readIndex, readLayoutBlob, type ConfigJson, type ManifestJson } from './json.js';

export const ROOT = resolve(import.meta.dirname, '..', '..');
export const ACTION = join(ROOT, 'dist', 'index.js');
export const CLI = join(ROOT, 'bin', 'wasm-image.js');
export const FIXTURE_MODULE = join(ROOT, '__tests__', 'fixtures', 'modules', 'filter.wasm');

export interface ActionRun {
  code: number;
  stdout: string;
  stderr: string;
  outputs: Record<string, string>;
  summary: string;
}

/** Parses the runner's file-command format (`name<<delimiter` … `delimiter`, or `name=value`). */
export function parseOutputFile(text: string): Record<string, string> {
  const out: Record<string, string> = {};
  const lines = text.split('\n');
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i];
    const heredoc = /^([^=<]+)<<(.+)$/.exec(line);
    if (heredoc) {
      const [, name, delimiter] = heredoc as unknown as [string, string, string];
      const value: string[] = [];
      while (++i < lines.length && lines[i] !== delimiter) value.push(lines[i]);
      out[name] = value.join('\n');
    } else if (line.includes('=')) {
      out[line.slice(0, line.indexOf('='))] = line.slice(line.indexOf('=') + 1);
    }
  }
  return out;
}

export interface RunOptions {
  env?: NodeJS.ProcessEnv;
  cwd?: string;
  timeoutMs?: number;
  /** Command to run instead of the action bundle (e.g. the CLI): argv after `node`. */
  argv?: string[];
  umask?: number;
  /** A command that runs node (e.g. `unshare --mount ...`): argv before node's path. */
  prefix?: string[];
}

const PROXY_VARIABLES = ['http_proxy', 'https_proxy', 'no_proxy', 'all_proxy'];
let isolatedHome: string | undefined;
/** An empty HOME for child processes, so nothing reads the developer's ~/.docker; removed at exit. */
function emptyHome(): string {
  if (!isolatedHome) {
    const home = mkdtempSync(join(tmpdir(), 'test-home-'));
    mkdirSync(join(home, '.docker'));
    process.once('exit', () => rmSync(home, { recursive: true, force: true }));
    isolatedHome = home;
  }
  return isolatedHome;
}

/** A process environment without anything from the outer runner that would change the action's behaviour. */
export function cleanEnv(extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (k.startsWith('INPUT_') || k.startsWith('GITHUB_') || k.startsWith('RUNNER_') || k === 'SOURCE_DATE_EPOCH') continue;
    if (k === 'DOCKER_CONFIG' || k === 'ACTIONS_RUNTIME_TOKEN' || k === 'ACTIONS_CACHE_URL') continue;
    if (PROXY_VARIABLES.includes(k.toLowerCase())) continue;
    if (k === 'ACTIONS_RESULTS_URL' || k === 'ACTIONS_CACHE_SERVICE_V2' || k === 'ACTIONS_CACHE_MODE') continue;
    env[k] = v;
  }
  // HOME and DOCKER_CONFIG always point somewhere the test owns: an empty home unless the test gives one.
  const home = extra.HOME ?? emptyHome();
  return { ...env, HOME: home, DOCKER_CONFIG: join(home, '.docker'), ...extra };
}

export function inputEnv(inputs: Record<string, string>): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  // The runner upper-cases the name and keeps hyphens: INPUT_OCI-LAYOUT.
  for (const [name, value] of Object.entries(inputs)) env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] = value;
  return env;
}

export function runNode(args: string[], options: RunOptions = {}): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolvePromise, reject) => {
    const [cmd, ...argv] = [...(options.prefix ?? []), process.execPath, ...args];
    const child = spawn(cmd, argv, {
      cwd: options.cwd ?? ROOT,
      env: options.env ?? cleanEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), options.timeoutMs ?? 60_000);
    child.on('error', reject);
    child.on('close', (code) => {
      clearTimeout(timer);
      resolvePromise({ code: code ?? -1, stdout, stderr });
    });
  });
}

/** Runs dist/index.js with the given inputs; returns exit code, logs, outputs and summary. */
export async function runAction(inputs: Record<string, string>, options: RunOptions = {}): Promise<ActionRun> {
  const dir = mkdtempSync(join(tmpdir(), 'action-run-'));
  try {
    const outputFile = join(dir, 'output');
    const summaryFile = join(dir, 'summary');
    writeFileSync(outputFile, '');
    writeFileSync(summaryFile, '');
    const env = cleanEnv({
      ...inputEnv(inputs),
      GITHUB_OUTPUT: outputFile,
      GITHUB_STEP_SUMMARY: summaryFile,
      ...options.env,
    });
    const args =
      options.umask === undefined
        ? [ACTION]
        : ['--input-type=module', '-e', `process.umask(${options.umask}); await import(${JSON.stringify(ACTION)});`];
    const result = await runNode(args, { ...options, env });
    return {
      ...result,
      outputs: parseOutputFile(readFileSync(outputFile, 'utf8')),
      summary: readFileSync(summaryFile, 'utf8'),
    };
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

/** The `::error::` line(s) the action printed (what core.setFailed writes). */
export function errorLines(run: { stdout: string }): string[] {
  return run.stdout.split('\n').filter((l) => l.startsWith('::error'));
}

/** The manifest and config of the image an OCI layout's first index entry names. */
export function readLayoutImage(layout: string): { manifest: ManifestJson; config: ConfigJson } {
  const manifest = readLayoutBlob<ManifestJson>(layout, readIndex(layout).manifests[0].digest);
  return { manifest, config: readLayoutBlob<ConfigJson>(layout, manifest.config.digest) };
}

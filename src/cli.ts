// The command-line interface: the same options (flags named like the action's inputs) and the same core.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { printableHost, type Host } from './host.js';
import { InputError } from './errors.js';
import { parseList, parseOptions, parseRequestTimeoutMs, parseRetries } from './inputs.js';
import { parseJson } from './json.js';
import { printable } from './log-text.js';
import { runJob } from './main.js';
import { closeIdleConnections } from './registry/http.js';
import { maskWrites, SecretMasker } from './secrets.js';
import type { SourceOptions } from './source/registry-image.js';
import { inspectRemote, verifyRemote } from './source/remote.js';

const USAGE = `Usage: wasm-image <command> [options]

Commands:
  build        package the module (and write --oci-layout); pushes nothing, and touches
               the network only to read a --from-image source
  push         package the module (or take --from-oci-layout / --from-image) and push it to every --tag
  inspect REF  print as JSON what a consumer detects for an image in a registry (REF: a tag or @sha256:…)
  verify REF   check an image in a registry as the action's verify does (Istio/Envoy Gateway or CNCF rules)

Options (the action's inputs; list options may be repeated):
  --wasm PATH                 module to package (or one of the next two)
  --from-oci-layout DIR       publish the image in an OCI layout an earlier run wrote, byte for byte
  --from-ref NAME             the layout entry's ref name, when it holds several images
  --from-image REF@DIGEST     promote an image already pushed (registry/repository@sha256:…), same digest
  --variant compat|oci|wasm   image variant (default compat)
  --media-types oci|docker    compat only: OCI (default) or Docker schema 2 media types
  --platform OS/ARCH[/VAR]    compat only: the config's platform (default linux/amd64)
  --tag REF                   full image reference, e.g. ghcr.io/acme/filter:1.0.0 (repeatable)
  --abi-version V             ABI version string (repeatable)
  --root-id ID                root id (repeatable)
  --istio-version V           fill --abi-version from the Istio version (1.5-1.9)
  --runtime-type T            runtime type (default envoy_proxy)
  --annotation KEY=VALUE      manifest annotation (repeatable)
  --label KEY=VALUE           image config label, compat only (repeatable)
  --oci-layout DIR            write an OCI image layout to DIR
  --compression-level N       compat gzip level 0-9 (default 6)

Push options:
  --username USER             registry user name (else docker config, else GITHUB_TOKEN
                              for ghcr.io, else anonymous)
  --registry HOST             the registry --username is for (required when the tags
                              name several registries; others use the docker config)
  --password-stdin            read the password or token from standard input
                              (or set WASM_IMAGE_PASSWORD; there is no --password flag)
  --insecure-registry HOST    host that may be reached over plain HTTP (repeatable;
                              localhost and 127.0.0.0/8 always may)
  --mount-from REPO           registry/repository to mount blobs from (repeatable)
  --retries N                 retries of a failed operation (default 4, 0 disables)
  --request-timeout SECONDS   idle timeout of one request; about twice this under 32 KiB/s (default 60)
  --verify true|full|false    check the pushed image: true reads back its manifest and
                              config and HEADs its layers (default), full downloads
                              every blob again, false skips verification
  -h, --help                  show this help

Outputs are printed to standard output as one JSON object; progress goes to standard error.
SOURCE_DATE_EPOCH, when set, is the only source of timestamps.
`;

const ALIASES: Record<string, string> = {
  tag: 'tags',
  'abi-version': 'abi-versions',
  'root-id': 'root-ids',
  annotation: 'annotations',
  label: 'labels',
  'insecure-registry': 'insecure-registries',
};

const KNOWN = new Set([
  'wasm',
  'from-oci-layout',
  'from-ref',
  'from-image',
  'variant',
  'media-types',
  'platform',
  'tags',
  'abi-versions',
  'root-ids',
  'runtime-type',
  'annotations',
  'labels',
  'oci-layout',
  'compression-level',
  'istio-version',
  'username',
  'registry',
  'insecure-registries',
  'mount-from',
  'retries',
  'request-timeout',
  'verify',
]);

class UsageError extends Error {}

/** Parses argv (after the node and script paths) into the command and raw inputs keyed by input name. */
type Command = 'build' | 'push' | 'inspect' | 'verify' | 'help';
const COMMANDS: readonly string[] = ['build', 'push', 'inspect', 'verify', 'help'];

function parseArgs(argv: string[]): { command: Command; inputs: Map<string, string[]>; ref?: string } {
  const inputs = new Map<string, string[]>();
  let command: Command | undefined;
  let ref: string | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h' || arg === '--help') return { command: 'help', inputs };
    if (arg === '--password-stdin') {
      inputs.set('password-stdin', ['true']);
      continue;
    }
    if (!arg.startsWith('--')) {
      if (command === undefined && COMMANDS.includes(arg)) {
        command = arg as Command;
        continue;
      }
      if ((command === 'inspect' || command === 'verify') && ref === undefined) {
        ref = arg;
        continue;
      }
      throw new UsageError(`unexpected argument "${arg}"`);
    }
    let name = arg.slice(2);
    let value: string | undefined;
    const eq = name.indexOf('=');
    if (eq !== -1) {
      value = name.slice(eq + 1);
      name = name.slice(0, eq);
    }
    name = ALIASES[name] ?? name;
    if (!KNOWN.has(name)) throw new UsageError(`unknown option --${name}`);
    if (value === undefined) {
      value = argv[++i];
      if (value === undefined) throw new UsageError(`--${name} needs a value`);
    }
    inputs.set(name, [...(inputs.get(name) ?? []), value]);
  }
  if (command === undefined) throw new UsageError('give a command: build, push, inspect or verify');
  if ((command === 'inspect' || command === 'verify') && ref === undefined) {
    throw new UsageError(`${command} needs an image reference, e.g. ghcr.io/acme/filter:1.0.0`);
  }
  return { command, inputs, ref };
}

// Everything the CLI prints, on either stream, goes through this: it masks as the runner does for the action.
const masker = new SecretMasker();

const stderrHost: Host = printableHost({
  info: (m) => process.stderr.write(`${m}\n`),
  warning: (m) => process.stderr.write(`warning: ${m}\n`),
  setSecret: (v) => masker.add(v),
  setOutput: () => undefined,
  writeSummary: () => Promise.resolve(),
  group: async (name, fn) => {
    process.stderr.write(`== ${name}\n`);
    return fn();
  },
});

async function readStdin(): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of process.stdin) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

/** Input names as CLI words: the flag, or the environment variable that replaces an input. */
const CLI_WORDS: Record<string, string> = {
  password: '--password-stdin (or WASM_IMAGE_PASSWORD)',
  'github-token': 'GITHUB_TOKEN',
  tags: '--tag',
  'abi-versions': '--abi-version',
  'root-ids': '--root-id',
  annotations: '--annotation',
  labels: '--label',
  'insecure-registries': '--insecure-registry',
  REF: 'REF',
};
const flag = (input: string): string => CLI_WORDS[input] ?? `--${input}`;
// Hyphenated input names are unambiguous anywhere in a message; plain words only where named as an input.
const HYPHENATED =
  /(?<![-\w])(from-oci-layout|from-ref|from-image|oci-layout|abi-versions|istio-version|root-ids|media-types|mount-from|insecure-registries|compression-level|request-timeout|runtime-type|build-command|github-token)\b/g;

/** An error message in the CLI's words: flags and environment variables instead of action input names. */
function cliMessage(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  return (
    message
      .replace(/^Input `([^`]+)`/, (_m, n: string) => flag(n))
      .replace(/`(username|password|tags|wasm|verify|push)`/g, (_m, n: string) => flag(n))
      .replace(/when (username|password) is given( \(pass it from a secret\))?/g, (_m, n: string) => `when ${flag(n)} is given`)
      .replace(/is required when push is true/, 'is required by the push command')
      .replace(/the username\/password inputs/g, '--username and --password-stdin')
      .replace(/set the username and password inputs \(and registry,/g, 'pass --username and --password-stdin (and --registry,')
      .replace(/log in first with docker\/login-action/g, 'log in first with docker login')
      .replace(/for ghcr\.io pass github-token/g, 'for ghcr.io set GITHUB_TOKEN')
      // An input given a value in a hint (`use variant: wasm`), not an annotation (`module.wasm.image/variant: compat`).
      .replace(
        /(?<![\w./-])(variant|media-types|platform|verify|compression-level): ([\w./-]*\w)/g,
        (_m, n: string, v: string) => `${flag(n)} ${v}`,
      )
      .replace(HYPHENATED, (_m, n: string) => flag(n))
  );
}

export async function cli(argv: string[]): Promise<number> {
  maskWrites(masker, [process.stdout, process.stderr]);
  let parsed;
  try {
    parsed = parseArgs(argv);
  } catch (err) {
    process.stderr.write(`wasm-image: ${printable((err as Error).message)}\n\n${USAGE}`);
    return 2;
  }
  if (parsed.command === 'help') {
    process.stdout.write(USAGE);
    return 0;
  }
  const { inputs } = parsed;
  if (parsed.command === 'inspect' || parsed.command === 'verify') {
    // The password comes as for push: --password-stdin or WASM_IMAGE_PASSWORD.
    const password = inputs.has('password-stdin') ? (await readStdin()).replace(/\r?\n$/, '') : (process.env.WASM_IMAGE_PASSWORD ?? '');
    return remoteCommand(parsed.command, parsed.ref as string, inputs, password);
  }
  inputs.set('push', [parsed.command === 'push' ? 'true' : 'false']);
  inputs.set('summary', ['false']);
  if (inputs.has('password-stdin')) {
    inputs.set('password', [(await readStdin()).replace(/\r?\n$/, '')]);
  } else if (process.env.WASM_IMAGE_PASSWORD) {
    inputs.set('password', [process.env.WASM_IMAGE_PASSWORD]);
  }
  for (const secret of inputs.get('password') ?? []) masker.add(secret);
  // ghcr.io works with a token from the environment, as the action uses github-token.
  if (process.env.GITHUB_TOKEN) {
    inputs.set('github-token', [process.env.GITHUB_TOKEN]);
    masker.add(process.env.GITHUB_TOKEN);
  }
  try {
    const options = parseOptions((name) => (inputs.get(name) ?? []).join('\n'));
    const outputs: Record<string, string> = {};
    const cancel = new AbortController();
    process.once('SIGINT', () => cancel.abort());
    process.once('SIGTERM', () => cancel.abort());
    await runJob(options, { ...stderrHost, setOutput: (n, v) => (outputs[n] = v) }, cancel.signal);
    const printable: Record<string, unknown> = { ...outputs };
    for (const key of ['tags', 'metadata']) if (outputs[key]) printable[key] = parseJson(outputs[key]);
    process.stdout.write(`${JSON.stringify(printable, null, 2)}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`wasm-image: error: ${printable(cliMessage(err))}\n`);
    return 1;
  }
}

const REMOTE_FLAGS = new Set(['username', 'insecure-registries', 'retries', 'request-timeout']);

/** `inspect` and `verify`: read an image in a registry, with the same credential sources as push. */
async function remoteCommand(command: 'inspect' | 'verify', ref: string, inputs: Map<string, string[]>, password: string): Promise<number> {
  if (password) masker.add(password);
  if (process.env.GITHUB_TOKEN) masker.add(process.env.GITHUB_TOKEN);
  const workDir = await mkdtemp(join(tmpdir(), 'wasm-image-'));
  try {
    for (const name of inputs.keys()) {
      if (!REMOTE_FLAGS.has(name) && name !== 'password-stdin') throw new InputError(name, `does not apply to ${command}; remove it`);
    }
    const get = (name: string) => (inputs.get(name) ?? []).join('\n').trim();
    const username = get('username');
    if (password && !username) throw new InputError('username', 'is required when a password is given');
    if (username && !password) throw new InputError('password', 'is required when --username is given');
    const opts: SourceOptions = {
      credentials: { username, password, githubToken: process.env.GITHUB_TOKEN, githubActor: process.env.GITHUB_ACTOR },
      insecureRegistries: parseList(get('insecure-registries')),
      retry: { retries: parseRetries(get('retries')) },
      timeoutMs: parseRequestTimeoutMs(get('request-timeout')),
      log: { info: (m) => stderrHost.info(m), warning: (m) => stderrHost.warning(m) },
      mask: (secret) => masker.add(secret),
    };
    const result = command === 'inspect' ? await inspectRemote(ref, { ...opts, workDir }) : await verifyRemote(ref, opts);
    process.stdout.write(`${JSON.stringify(result, null, 2)}\n`);
    return 0;
  } catch (err) {
    process.stderr.write(`wasm-image: error: ${printable(cliMessage(err))}\n`);
    return 1;
  } finally {
    closeIdleConnections();
    await rm(workDir, { recursive: true, force: true });
  }
}

// Not a top-level await: with one, the bundler keeps every module of the CLI in its own function (an async
// module graph), which costs 20-30 ms of start-up here; without, it joins them into one scope as for the action.
void cli(process.argv.slice(2)).then((code) => {
  process.exitCode = code;
});

// The command-line interface: the same options (flags named like the action's inputs) and the same core.
import { printableHost, type Host } from './host.js';
import { InputError } from './errors.js';
import { parseOptions } from './inputs.js';
import { printable } from './log-text.js';
import { runJob } from './main.js';
import { maskWrites, SecretMasker } from './secrets.js';

const USAGE = `Usage: wasm-image <command> [options]

Commands:
  build    package the module (and write --oci-layout); never touches the network
  push     package the module and push it to every --tag

Options (the action's inputs; list options may be repeated):
  --wasm PATH                 module to package (required)
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
  --username USER             registry user name (else docker config, else anonymous)
  --registry HOST             the registry --username is for (required when the tags
                              name several registries; others use the docker config)
  --password-stdin            read the password or token from standard input
                              (or set WASM_IMAGE_PASSWORD; there is no --password flag)
  --insecure-registry HOST    host that may be reached over plain HTTP (repeatable;
                              localhost and 127.0.0.0/8 always may)
  --mount-from REPO           registry/repository to mount blobs from (repeatable)
  --retries N                 retries of a failed operation (default 4, 0 disables)
  --request-timeout SECONDS   idle timeout of one request; about twice this under 32 KiB/s (default 60)
  --verify true|false         read the tags back and check them (default true)
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

export class UsageError extends Error {}

/** Parses argv (after the node and script paths) into the command and raw inputs keyed by input name. */
export function parseArgs(argv: string[]): { command: 'build' | 'push' | 'help'; inputs: Map<string, string[]> } {
  const inputs = new Map<string, string[]>();
  let command: 'build' | 'push' | 'help' | undefined;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i] as string;
    if (arg === '-h' || arg === '--help') return { command: 'help', inputs };
    if (arg === '--password-stdin') {
      inputs.set('password-stdin', ['true']);
      continue;
    }
    if (!arg.startsWith('--')) {
      if (command === undefined && (arg === 'build' || arg === 'push' || arg === 'help')) {
        command = arg;
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
  if (command === undefined) throw new UsageError('give a command: build or push');
  return { command, inputs };
}

// Everything the CLI prints, on either stream, goes through this: it masks as the runner does for the action.
const masker = new SecretMasker();

const stderrHost: Host = printableHost({
  info: (m) => process.stderr.write(`${m}\n`),
  warning: (m) => process.stderr.write(`warning: ${m}\n`),
  setSecret: (v) => masker.add(v),
  setOutput: () => undefined,
  writeSummary: async () => undefined,
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
    for (const key of ['tags', 'metadata']) if (outputs[key]) printable[key] = JSON.parse(outputs[key]);
    process.stdout.write(`${JSON.stringify(printable, null, 2)}\n`);
    return 0;
  } catch (err) {
    const message =
      err instanceof InputError ? err.message.replace(/^Input `([^`]+)`/, (_m, n: string) => `--${n}`) : (err as Error).message;
    process.stderr.write(`wasm-image: error: ${printable(message)}\n`);
    return 1;
  }
}

process.exitCode = await cli(process.argv.slice(2));

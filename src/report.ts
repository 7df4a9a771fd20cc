// Outputs ($GITHUB_OUTPUT or the CLI's JSON) and the job summary, derived from the run's result.
import { InputError } from './errors.js';
import { digestHex } from './image/digest.js';
import type { Image, Variant } from './image/types.js';
import { RegistryError } from './registry/errors.js';
import { formatReference, type ImageReference } from './registry/reference.js';
import { moduleSummary, type ModuleFacts } from './source/module.js';

export interface RunWarning {
  title: string;
  message: string;
}

export interface RunResult {
  image: Image;
  /** The module's digest, size and inspection; undefined when the module was not read (a promotion within one registry). */
  facts: ModuleFacts | undefined;
  tags: ImageReference[];
  /** References pushed, in tag order; empty when push is false. */
  pushed: string[];
  /** `registry/repository@digest` of the first pushed tag. */
  imageRef: string | undefined;
  ociLayout: string | undefined;
  /** Post-push verification: the variant consumers detect, or why it would not load. */
  verification: { variant: string } | { error: string } | undefined;
  /** Warnings the run gave, repeated in the summary. */
  warnings: RunWarning[];
}

export type Outputs = Record<
  'digest' | 'sha256' | 'wasm-digest' | 'tags' | 'metadata' | 'image' | 'name' | 'verified' | 'proxy-abi',
  string
>;

/** `registry/repository` of the first tag: what attest-build-provenance calls subject-name. */
function imageName(tags: ImageReference[]): string {
  const first = tags[0];
  return first ? `${first.registry}/${first.repository}` : '';
}

export function buildOutputs(result: RunResult): Outputs {
  const { image, facts } = result;
  const digest = image.manifestDescriptor.digest;
  const tags = result.tags.map((t) => formatReference(t));
  const metadata = {
    variant: image.variant,
    mediaTypes: image.flavour,
    manifest: image.manifestDescriptor,
    config: image.config.descriptor,
    layers: image.layers.map((l) => l.descriptor),
    wasm: moduleSummary(facts),
    tags,
    pushed: result.pushed,
    image: result.imageRef ?? null,
    ociLayout: result.ociLayout ?? null,
    verification: result.verification ?? null,
  };
  return {
    digest,
    sha256: digestHex(digest),
    'wasm-digest': facts?.wasm.digest ?? '',
    tags: JSON.stringify(result.pushed.length > 0 ? result.pushed : tags),
    metadata: JSON.stringify(metadata),
    image: result.imageRef ?? '',
    name: result.pushed.length > 0 ? imageName(result.tags) : '',
    'proxy-abi': facts?.module.proxyAbi ?? '',
    verified: String(result.verification !== undefined && 'variant' in result.verification),
  };
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/** Text for Markdown outside code: no HTML, no table pipes, no line breaks that would end a list item. */
const text = (s: string): string =>
  s.replace(/[<>&]/g, (c) => ({ '<': '&lt;', '>': '&gt;', '&': '&amp;' })[c] as string).replace(/\s*\n\s*/g, ' ');

/** A Kubernetes object name (DNS-1123 label) from the repository's last path component. */
export function resourceName(repository: string): string {
  const last = repository.split('/').at(-1) ?? '';
  const name = last
    .toLowerCase()
    .replace(/[^a-z0-9-]+/g, '-')
    .replace(/^-+|-+$/g, '')
    .slice(0, 63)
    .replace(/-+$/, '');
  return name || 'wasm-plugin';
}

/** Deployment snippets that fit the variant; none for the CNCF artifact, which Envoy cannot load. */
function deploymentSnippets(variant: Variant, ref: ImageReference, digest: Image['manifestDescriptor']['digest']): string[] {
  if (variant === 'wasm') {
    return [
      '**Runtimes:** this is the CNCF Wasm OCI artifact. Istio and Envoy Gateway cannot load it; wasmtime-based runtimes (runwasi/containerd shims, Spin, `wkg oci pull`) can. Use variant compat or oci for Envoy.',
      '',
    ];
  }
  const name = resourceName(ref.repository);
  const url = formatReference(ref);
  const sha = digestHex(digest);
  return [
    '<details><summary>Istio <code>WasmPlugin</code></summary>',
    '',
    '```yaml',
    'apiVersion: extensions.istio.io/v1alpha1',
    'kind: WasmPlugin',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    `  url: oci://${url}`,
    `  sha256: ${sha}`,
    '  imagePullPolicy: IfNotPresent',
    '```',
    '',
    '</details>',
    '',
    '<details><summary>Envoy Gateway <code>EnvoyExtensionPolicy</code></summary>',
    '',
    '```yaml',
    'apiVersion: gateway.envoyproxy.io/v1alpha1',
    'kind: EnvoyExtensionPolicy',
    'metadata:',
    `  name: ${name}`,
    'spec:',
    '  targetRefs:',
    '    - group: gateway.networking.k8s.io',
    '      kind: HTTPRoute',
    '      name: backend # the route to extend',
    '  wasm:',
    `    - name: ${name}`,
    '      code:',
    '        type: Image',
    '        image:',
    `          url: ${url}`,
    `          sha256: ${sha}`,
    '```',
    '',
    '</details>',
    '',
  ];
}

function warningLines(warnings: RunWarning[]): string[] {
  if (warnings.length === 0) return [];
  return ['#### Warnings', '', ...warnings.map((w) => `- ⚠️ **${text(w.title)}**: ${text(w.message)}`), ''];
}

function factLines(result: RunResult): string[] {
  const { image, facts } = result;
  const lines = [`- **Digest:** \`${image.manifestDescriptor.digest}\``];
  lines.push(`- **Variant:** ${image.variant}${image.variant === 'compat' ? ` (${image.flavour} media types)` : ''}`);
  if (facts) {
    lines.push(`- **Module:** \`${facts.wasm.digest}\`, ${size(facts.wasm.size)}, ${facts.module.kind}`);
    lines.push(`- **proxy-wasm ABI:** ${facts.module.proxyAbi ?? 'none exported'}`);
  } else {
    lines.push('- **Module:** not read (promoted within one registry by mounting its blobs)');
  }
  const total = image.layers.reduce((n, l) => n + l.descriptor.size, image.config.descriptor.size + image.manifestDescriptor.size);
  lines.push(`- **Image size:** ${size(total)} (${image.layers.length} layer${image.layers.length === 1 ? '' : 's'})`);
  if (result.ociLayout) lines.push(`- **OCI layout:** \`${text(result.ociLayout)}\``);
  if (result.verification) {
    lines.push(
      'variant' in result.verification
        ? `- **Verified:** ✅ read back; consumers detect the **${result.verification.variant}** variant`
        : `- **Verified:** ❌ ${text(result.verification.error)}`,
    );
  }
  return lines;
}

export function summaryMarkdown(result: RunResult): string {
  const pushed = result.pushed.length > 0;
  const lines: string[] = [`### Wasm image ${pushed ? 'pushed' : 'built'}`, '', ...factLines(result), ''];
  const refs = pushed ? result.pushed : result.tags.map((t) => formatReference(t));
  if (refs.length > 0) {
    lines.push(pushed ? '#### Pushed' : '#### Tags (not pushed)', '', ...refs.map((r) => `- \`${text(r)}\``), '');
  }
  lines.push(...warningLines(result.warnings));
  const first = result.tags[0];
  if (pushed && first) lines.push(...deploymentSnippets(result.image.variant, first, result.image.manifestDescriptor.digest));
  return lines.join('\n');
}

/** What to do about a failure, by its kind; the message itself already names the cause. */
function fixFor(err: unknown): string {
  if (err instanceof InputError) return `Correct the \`${err.input}\` input as the error says, then re-run.`;
  if (err instanceof RegistryError && (err.status === 401 || err.status === 403 || err.codes.includes('DENIED'))) {
    return 'Check the credentials (username/password inputs, docker/login-action, or `permissions: packages: write` for ghcr.io) and that they may push to this repository.';
  }
  if (err instanceof RegistryError) return 'Follow the hint in the error; if the registry was unavailable, re-run the job.';
  return 'Read the error above; re-run with the same inputs once it is fixed.';
}

/** The summary of a failed run: what failed, at which step, and what to do. */
export function failureMarkdown(step: string, err: unknown, warnings: RunWarning[]): string {
  const message = err instanceof Error ? err.message : String(err);
  return [
    '### ❌ Wasm image not published',
    '',
    `- **Step:** ${text(step)}`,
    `- **Error:** ${text(message)}`,
    `- **Fix:** ${fixFor(err)}`,
    '',
    ...warningLines(warnings),
  ].join('\n');
}

// Outputs ($GITHUB_OUTPUT or the CLI's JSON) and the job summary, derived from the run's result.
import { digestHex } from './image/digest.js';
import type { ModuleInfo } from './wasm/inspect.js';
import type { Digest, Image } from './image/types.js';
import { formatReference, type ImageReference } from './registry/reference.js';

export interface RunResult {
  image: Image;
  wasm: { digest: Digest; size: number };
  tags: ImageReference[];
  /** References pushed, in tag order; empty when push is false. */
  pushed: string[];
  /** `registry/repository@digest` of the first pushed tag. */
  imageRef: string | undefined;
  ociLayout: string | undefined;
  /** Post-push verification: the variant consumers detect, or why it would not load. */
  verification: { variant: string } | { error: string } | undefined;
  /** What the module inspection found. */
  module: ModuleInfo;
}

export type Outputs = Record<'digest' | 'sha256' | 'wasm-digest' | 'tags' | 'metadata' | 'image' | 'verified' | 'proxy-abi', string>;

export function buildOutputs(result: RunResult): Outputs {
  const { image } = result;
  const digest = image.manifestDescriptor.digest;
  const tags = result.tags.map((t) => formatReference(t));
  const metadata = {
    variant: image.variant,
    mediaTypes: image.flavour,
    manifest: image.manifestDescriptor,
    config: image.config.descriptor,
    layers: image.layers.map((l) => l.descriptor),
    wasm: {
      ...result.wasm,
      kind: result.module.kind,
      proxyAbi: result.module.proxyAbi,
      imports: result.module.imports,
      exports: result.module.exports,
    },
    tags,
    pushed: result.pushed,
    image: result.imageRef ?? null,
    ociLayout: result.ociLayout ?? null,
    verification: result.verification ?? null,
  };
  return {
    digest,
    sha256: digestHex(digest),
    'wasm-digest': result.wasm.digest,
    tags: JSON.stringify(result.pushed.length > 0 ? result.pushed : tags),
    metadata: JSON.stringify(metadata),
    image: result.imageRef ?? '',
    'proxy-abi': result.module.proxyAbi ?? '',
    verified: String(result.verification !== undefined && 'variant' in result.verification),
  };
}

function size(bytes: number): string {
  if (bytes < 1024) return `${bytes} B`;
  if (bytes < 1024 * 1024) return `${(bytes / 1024).toFixed(1)} KiB`;
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

const cell = (s: string): string => s.replace(/\|/g, '\\|');

export function summaryMarkdown(result: RunResult): string {
  const { image } = result;
  const digest = image.manifestDescriptor.digest;
  const lines: string[] = [];
  lines.push(`### Wasm image ${result.pushed.length > 0 ? 'pushed' : 'built'}`, '');
  lines.push('| | |', '|---|---|');
  lines.push(`| Digest | \`${digest}\` |`);
  lines.push(`| Variant | ${image.variant}${image.variant === 'compat' ? ` (${image.flavour} media types)` : ''} |`);
  lines.push(`| Module | \`${result.wasm.digest}\`, ${size(result.wasm.size)}, ${result.module.kind} |`);
  lines.push(`| proxy-wasm ABI | ${result.module.proxyAbi ?? 'none exported'} |`);
  const total = image.layers.reduce((n, l) => n + l.descriptor.size, image.config.descriptor.size + image.manifestDescriptor.size);
  lines.push(`| Image size | ${size(total)} (${image.layers.length} layer${image.layers.length === 1 ? '' : 's'}) |`);
  if (result.ociLayout) lines.push(`| OCI layout | \`${cell(result.ociLayout)}\` |`);
  if (result.verification) {
    lines.push(
      'variant' in result.verification
        ? `| Verified | ✅ read back; consumers detect the **${result.verification.variant}** variant |`
        : `| Verified | ❌ ${cell(result.verification.error)} |`,
    );
  }
  lines.push('');
  const refs = result.pushed.length > 0 ? result.pushed : result.tags.map((t) => formatReference(t));
  if (refs.length > 0) {
    lines.push(`| ${result.pushed.length > 0 ? 'Pushed' : 'Tag (not pushed)'} |`, '|---|');
    for (const ref of refs) lines.push(`| \`${cell(ref)}\` |`);
    lines.push('');
  }
  if (result.imageRef) {
    lines.push('Istio `WasmPlugin`:', '', '```yaml');
    lines.push('apiVersion: extensions.istio.io/v1alpha1', 'kind: WasmPlugin', 'metadata:', '  name: my-plugin', 'spec:');
    lines.push(`  url: oci://${result.imageRef}`, `  sha256: ${digestHex(digest)}`, '  imagePullPolicy: IfNotPresent', '```', '');
  }
  return lines.join('\n');
}

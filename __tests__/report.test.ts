// The job summary's text: variant-fitting snippets named after the repository, warnings, failures that say
// what to do, and no empty table header rows.
import { describe, expect, it } from 'vitest';
import { InputError } from '../src/errors.js';
import { RegistryError } from '../src/registry/errors.js';
import { parseReference } from '../src/registry/reference.js';
import { buildOutputs, failureMarkdown, resourceName, summaryMarkdown, type RunResult } from '../src/report.js';
import { packFixture } from './helpers/push.js';

async function result(variant: 'compat' | 'oci' | 'wasm', overrides: Partial<RunResult> = {}): Promise<RunResult> {
  const packed = await packFixture(variant);
  const tags = [parseReference('ghcr.io/acme/header_filter:1.2.0'), parseReference('ghcr.io/acme/header_filter:latest')];
  return {
    image: packed.image,
    facts: {
      wasm: packed.wasm,
      module: { kind: 'core', size: 198, imports: 1, exports: 4, exportNames: [], proxyAbi: '0.2.1', sections: [] },
    },
    tags,
    pushed: tags.map((t) => `ghcr.io/acme/header_filter:${t.tag}`),
    imageRef: `ghcr.io/acme/header_filter@${packed.image.manifestDescriptor.digest}`,
    ociLayout: undefined,
    verification: { variant },
    warnings: [],
    ...overrides,
  };
}

describe('summary', () => {
  it.each(['compat', 'oci'] as const)(
    '%s: an Istio WasmPlugin and an Envoy Gateway EnvoyExtensionPolicy named after the repository',
    async (variant) => {
      const r = await result(variant);
      const md = summaryMarkdown(r);
      const sha = r.image.manifestDescriptor.digest.slice(7);
      expect(md).toContain(
        [
          'kind: WasmPlugin',
          'metadata:',
          '  name: header-filter',
          'spec:',
          '  url: oci://ghcr.io/acme/header_filter:1.2.0',
          `  sha256: ${sha}`,
        ].join('\n'),
      );
      expect(md).toContain('kind: EnvoyExtensionPolicy');
      expect(md).toContain(
        [
          '      code:',
          '        type: Image',
          '        image:',
          '          url: ghcr.io/acme/header_filter:1.2.0',
          `          sha256: ${sha}`,
        ].join('\n'),
      );
      expect(md).not.toContain('my-plugin');
      expect(md).toContain('- `ghcr.io/acme/header_filter:latest`');
    },
  );

  it('wasm: no Envoy snippet, and says which runtimes load it', async () => {
    const md = summaryMarkdown(await result('wasm'));
    expect(md).not.toContain('WasmPlugin');
    expect(md).not.toContain('EnvoyExtensionPolicy');
    expect(md).toContain(
      'Istio and Envoy Gateway cannot load it; wasmtime-based runtimes (runwasi/containerd shims, Spin, `wkg oci pull`) can',
    );
  });

  it('repeats the warnings of the run, and has no empty table header rows', async () => {
    const md = summaryMarkdown(
      await result('oci', {
        warnings: [{ title: 'ABI mismatch', message: 'abi-versions expects proxy-wasm 0.1.0 | but <the module> exports 0.2.1' }],
      }),
    );
    expect(md).toContain(
      '#### Warnings\n\n- ⚠️ **ABI mismatch**: abi-versions expects proxy-wasm 0.1.0 | but &lt;the module&gt; exports 0.2.1',
    );
    expect(md).not.toMatch(/^\|\s*\|\s*\|$/m);
    expect(md).not.toMatch(/^\|\s*(Pushed|Tag[^|]*)\s*\|$/m);
  });

  it('a promotion within one registry says the module was not read', async () => {
    const md = summaryMarkdown(await result('compat', { facts: undefined }));
    expect(md).toContain('- **Module:** not read (promoted within one registry by mounting its blobs)');
    expect(md).not.toContain('proxy-wasm ABI');
  });

  it('a failure says what failed, at which step, and the fix', () => {
    const input = failureMarkdown('Check inputs', new InputError('tags', 'is required when push is true'), []);
    expect(input).toBe(
      [
        '### ❌ Wasm image not published',
        '',
        '- **Step:** Check inputs',
        '- **Error:** Input `tags`: is required when push is true',
        '- **Fix:** Correct the `tags` input as the error says, then re-run.',
        '',
      ].join('\n'),
    );
    const denied = failureMarkdown('Upload', new RegistryError('pushing to ghcr.io failed: HTTP 403 DENIED', 403, ['DENIED']), [
      { title: 'Retrying', message: 'HTTP 503' },
    ]);
    expect(denied).toContain('- **Step:** Upload');
    expect(denied).toContain('`permissions: packages: write` for ghcr.io');
    expect(denied).toContain('- ⚠️ **Retrying**: HTTP 503');
  });
});

describe('outputs', () => {
  it('name is registry/repository of the first tag, without tag or digest; empty when nothing was pushed', async () => {
    expect(buildOutputs(await result('compat')).name).toBe('ghcr.io/acme/header_filter');
    expect(buildOutputs(await result('compat', { pushed: [] })).name).toBe('');
  });

  it('resource names are DNS-1123 labels', () => {
    expect(resourceName('acme/Header_Filter.v2')).toBe('header-filter-v2');
    expect(resourceName(`acme/${'a'.repeat(70)}`)).toHaveLength(63);
    expect(resourceName('acme/__')).toBe('wasm-plugin');
  });
});

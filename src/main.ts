// Wiring only: options → module check → image → layout / registry → outputs and summary.
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Host } from './host.js';
import type { ImageSpec } from './image/build.js';
import type { Options } from './inputs.js';
import { checkLayoutTarget, layoutRefNames, writeLayout } from './layout.js';
import { packModule } from './pack.js';
import { buildOutputs, summaryMarkdown, type RunResult } from './report.js';
import { checkModuleFile } from './wasm/module-file.js';

function imageSpec(options: Options): ImageSpec {
  return {
    variant: options.variant,
    flavour: options.flavour,
    runtimeType: options.runtimeType,
    abiVersions: options.abiVersions,
    rootIds: options.rootIds,
    annotations: options.annotations,
    labels: options.labels,
    created: options.sourceDateEpoch,
  };
}

export async function run(options: Options, host: Host): Promise<RunResult> {
  if (options.push) {
    throw new Error('Input `push`: pushing to a registry is not available in this version; set push: false (and oci-layout to keep the image)');
  }
  const module = await checkModuleFile(options.wasm);
  if (options.ociLayout) await checkLayoutTarget(options.ociLayout);

  const workDir = await mkdtemp(join(tmpdir(), 'wasm-image-'));
  try {
    const packed = await host.group('Package', async () => {
      const started = Date.now();
      const p = await packModule(module, imageSpec(options), workDir);
      host.info(
        `${p.image.variant} image ${p.image.manifestDescriptor.digest} from ${module.path} (${module.size} bytes) in ${Date.now() - started} ms`,
      );
      return p;
    });
    const { image } = packed;

    if (options.ociLayout) {
      const refNames = layoutRefNames(options.tags.map((t) => t.tag));
      await writeLayout(options.ociLayout, image, refNames);
      host.info(`OCI layout written to ${options.ociLayout} (${refNames.join(', ')})`);
    }

    const result: RunResult = {
      image,
      wasm: packed.wasm,
      tags: options.tags,
      pushed: [],
      imageRef: undefined,
      ociLayout: options.ociLayout,
    };
    for (const [name, value] of Object.entries(buildOutputs(result))) host.setOutput(name, value);
    if (options.summary) await host.writeSummary(summaryMarkdown(result));
    return result;
  } finally {
    await rm(workDir, { recursive: true, force: true });
  }
}

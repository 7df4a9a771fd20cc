import type { ImageSpec } from '../../src/image/build.js';
import { DEFAULT_PLATFORM } from '../../src/image/platform.js';

/** An image spec with every option at its default, changed by `overrides`. */
export function testSpec(overrides: Partial<ImageSpec> = {}): ImageSpec {
  return {
    variant: 'compat',
    flavour: 'oci',
    runtimeType: 'envoy_proxy',
    abiVersions: [],
    rootIds: [],
    annotations: {},
    labels: {},
    created: undefined,
    platform: DEFAULT_PLATFORM,
    ...overrides,
  };
}

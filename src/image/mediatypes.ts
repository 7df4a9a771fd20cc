// Every media type and annotation key the image formats use, in one place (see shared spec, section 1).
export const MediaType = {
  ociManifest: 'application/vnd.oci.image.manifest.v1+json',
  ociIndex: 'application/vnd.oci.image.index.v1+json',
  ociConfig: 'application/vnd.oci.image.config.v1+json',
  ociLayerTarGzip: 'application/vnd.oci.image.layer.v1.tar+gzip',
  dockerManifest: 'application/vnd.docker.distribution.manifest.v2+json',
  dockerManifestList: 'application/vnd.docker.distribution.manifest.list.v2+json',
  dockerConfig: 'application/vnd.docker.container.image.v1+json',
  dockerLayerTarGzip: 'application/vnd.docker.image.rootfs.diff.tar.gzip',
  wasmConfig: 'application/vnd.module.wasm.config.v1+json',
  wasmContentLayer: 'application/vnd.module.wasm.content.layer.v1+wasm',
  cncfWasmConfig: 'application/vnd.wasm.config.v0+json',
  cncfWasmLayer: 'application/wasm',
} as const;

/** The Accept header of a manifest read: every manifest and index type a registry may hold an image as. */
export const MANIFEST_ACCEPT = [MediaType.ociManifest, MediaType.dockerManifest, MediaType.ociIndex, MediaType.dockerManifestList].join(
  ', ',
);

export const Annotation = {
  /** On a layer: its file name; on a manifest: the image's name. */
  title: 'org.opencontainers.image.title',
  refName: 'org.opencontainers.image.ref.name',
  created: 'org.opencontainers.image.created',
  source: 'org.opencontainers.image.source',
  revision: 'org.opencontainers.image.revision',
  version: 'org.opencontainers.image.version',
  variant: 'module.wasm.image/variant',
  runtimeType: 'module.wasm.runtime/type',
  abiVersion: 'module.wasm.runtime/abi_version',
} as const;

/** File names inside images, fixed by the spec and read by Istio and Envoy Gateway. */
export const FileName = {
  compatModule: 'plugin.wasm',
  runtimeConfig: 'runtime-config.json',
  ociModule: 'filter.wasm',
} as const;

/** Istio's and Envoy Gateway's default cap on a module (compat: on the uncompressed tar stream). */
export const MAX_MODULE_BYTES = 268435456;

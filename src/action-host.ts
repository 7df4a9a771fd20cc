// The runner's side of the Host seam: log, outputs, secrets and summary through @actions/core.
import * as core from '#actions-core';
import { InputError } from './errors.js';
import { printableHost, type Host } from './host.js';
import { RegistryError } from './registry/errors.js';

// The same secret reaches the host from the inputs, the options and the credential lookup: mask it once.
const masked = new Set<string>();

// Every message is made printable first: see printableHost.
export const actionHost: Host = printableHost({
  info: (m) => core.info(m),
  // Every warning is an annotation with a title; retries and other registry notices share one.
  warning: (m, title) => core.warning(m, { title: title ?? 'wasm-image-action' }),
  setSecret: (v) => {
    if (masked.has(v)) return;
    masked.add(v);
    core.setSecret(v);
  },
  setOutput: (n, v) => core.setOutput(n, v),
  writeSummary: async (md) => {
    if (!process.env.GITHUB_STEP_SUMMARY) return;
    await core.summary.addRaw(md, true).write();
  },
  group: (name, fn) => core.group(name, fn),
});

/** The failure annotation's title says what kind of failure it is. */
export function failureTitle(err: unknown): string {
  if (err instanceof InputError) return `Invalid input: ${err.input}`;
  // RetriesExhausted is a RegistryError too.
  if (err instanceof RegistryError) return 'Push failed';
  return 'wasm-image-action failed';
}

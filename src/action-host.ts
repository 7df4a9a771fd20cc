// The runner's side of the Host seam: log, outputs, secrets and summary through @actions/core.
import * as core from '@actions/core';
import { InputError } from './errors.js';
import { printableHost, type Host } from './host.js';
import { RegistryError } from './registry/errors.js';
import { RetriesExhausted } from './registry/retry.js';

// Every message is made printable first: see printableHost.
export const actionHost: Host = printableHost({
  info: (m) => core.info(m),
  // Every warning is an annotation with a title; retries and other registry notices share one.
  warning: (m, title) => core.warning(m, { title: title ?? 'wasm-image-action' }),
  setSecret: (v) => core.setSecret(v),
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
  if (err instanceof RegistryError || err instanceof RetriesExhausted) return 'Push failed';
  return 'wasm-image-action failed';
}

// The action's entry point, as the runner starts it: `node dist/index.js` with INPUT_* variables.
import * as core from '@actions/core';
import type { Host } from './host.js';
import { InputError } from './errors.js';
import { parseOptions } from './inputs.js';
import { RegistryError } from './registry/errors.js';
import { RetriesExhausted } from './registry/retry.js';
import { run } from './main.js';

const host: Host = {
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
};

function failureTitle(err: unknown): string {
  if (err instanceof InputError) return `Invalid input: ${err.input}`;
  if (err instanceof RegistryError || err instanceof RetriesExhausted) return 'Push failed';
  return 'wasm-image-action failed';
}

async function main(): Promise<void> {
  // The runner cancels a job with SIGINT, then SIGTERM: stop requests, put no manifest, clean up.
  const cancel = new AbortController();
  const onSignal = (sig: NodeJS.Signals) => {
    if (cancel.signal.aborted) return;
    core.warning(`received ${sig}: cancelling`, { title: 'Cancelled' });
    cancel.abort();
  };
  process.on('SIGINT', onSignal);
  process.on('SIGTERM', onSignal);
  try {
    // Mask secrets before anything else can print them.
    for (const name of ['password', 'github-token']) {
      const value = core.getInput(name);
      if (value) core.setSecret(value);
    }
    const options = parseOptions((name) => core.getInput(name));
    await run(options, host, cancel.signal);
  } catch (err) {
    // core.setFailed, with a title so the annotation says what kind of failure it is.
    const message = cancel.signal.aborted
      ? 'cancelled (SIGINT/SIGTERM): requests in flight were stopped and tags not yet put were left as they were'
      : err instanceof Error
        ? err.message
        : String(err);
    core.error(message, { title: failureTitle(err) });
    process.exitCode = 1;
  }
}

void main();

// The action's entry point, as the runner starts it: `node dist/index.js` with INPUT_* variables.
import * as core from '@actions/core';
import type { Host } from './host.js';
import { parseOptions } from './inputs.js';
import { run } from './main.js';

const host: Host = {
  info: (m) => core.info(m),
  warning: (m, title) => core.warning(m, title ? { title } : {}),
  setSecret: (v) => core.setSecret(v),
  setOutput: (n, v) => core.setOutput(n, v),
  writeSummary: async (md) => {
    if (!process.env.GITHUB_STEP_SUMMARY) return;
    await core.summary.addRaw(md, true).write();
  },
  group: (name, fn) => core.group(name, fn),
};

async function main(): Promise<void> {
  try {
    const options = parseOptions((name) => core.getInput(name));
    await run(options, host);
  } catch (err) {
    core.setFailed(err instanceof Error ? err.message : String(err));
  }
}

void main();

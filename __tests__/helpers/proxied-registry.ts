// A registry (token auth unless told otherwise) behind a fault proxy, with a work directory: the setup of the
// e2e files that put faults between the action and a real registry.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { startFaultProxy, type FaultProxy } from './fault-proxy.js';
import { startRegistry, type RegistryFixture, type StartRegistryOptions } from './registry.js';

export interface ProxiedRegistry {
  reg: RegistryFixture;
  proxy: FaultProxy;
  work: string;
}

export async function startProxiedRegistry(
  workPrefix: string,
  options: StartRegistryOptions = { auth: 'token' },
): Promise<ProxiedRegistry> {
  const reg = await startRegistry(options);
  const proxy = await startFaultProxy(reg.url);
  return { reg, proxy, work: mkdtempSync(join(tmpdir(), workPrefix)) };
}

/** Stops what started; safe when the start failed part-way. */
export async function stopProxiedRegistry(fixture: Partial<ProxiedRegistry>): Promise<void> {
  await fixture.proxy?.stop();
  await fixture.reg?.stop();
  if (fixture.work) rmSync(fixture.work, { recursive: true, force: true });
}

// What the bundle uses in place of @actions/core: package.json maps `#actions-core` here under the
// "production" condition, which ncc resolves with, and to @actions/core itself everywhere else (the tests,
// and `@github/local-action`, which stubs the package's entry). The same functions, from the toolkit's own
// modules (outputs excepted, see appendOutput): the entry also loads its OIDC client, and with it
// @actions/http-client and undici (about 1 MB of code) that this action never calls, a third of the cold
// start. The package exports only its entry, hence the relative paths; the lockfile pins the version these
// files come from.
import { appendFileSync, existsSync } from 'node:fs';
import { EOL } from 'node:os';
import type { AnnotationProperties } from '@actions/core';
import { issue, issueCommand } from '../node_modules/@actions/core/lib/command.js';
import { toCommandProperties, toCommandValue } from '../node_modules/@actions/core/lib/utils.js';
import { nodeCrypto } from './deferred-builtins.js';

export { summary } from '../node_modules/@actions/core/lib/summary.js';

export function getInput(name: string): string {
  return (process.env[`INPUT_${name.replace(/ /g, '_').toUpperCase()}`] ?? '').trim();
}

export function info(message: string): void {
  process.stdout.write(message + EOL);
}

export function warning(message: string, properties: AnnotationProperties = {}): void {
  issueCommand('warning', toCommandProperties(properties), message);
}

export function error(message: string, properties: AnnotationProperties = {}): void {
  issueCommand('error', toCommandProperties(properties), message);
}

export function setSecret(secret: string): void {
  issueCommand('add-mask', {}, secret);
}

export function setOutput(name: string, value: string): void {
  const file = process.env.GITHUB_OUTPUT;
  if (file) {
    appendOutput(file, name, value);
    return;
  }
  process.stdout.write(EOL);
  issueCommand('set-output', { name }, toCommandValue(value));
}

export async function group<T>(name: string, fn: () => Promise<T>): Promise<T> {
  issue('group', name);
  try {
    return await fn();
  } finally {
    issue('endgroup');
  }
}

/**
 * An output in the runner's file-command syntax (`name<<DELIMITER`, the value, the delimiter), as the
 * toolkit's file-command module writes it; that module loads node:crypto when the bundle starts, for the
 * random delimiter this takes when an output is set.
 */
function appendOutput(file: string, name: string, value: string): void {
  if (!existsSync(file)) throw new Error(`Missing file at path: ${file}`);
  const delimiter = `ghadelimiter_${nodeCrypto().randomUUID()}`;
  if (name.includes(delimiter) || value.includes(delimiter)) throw new Error(`an output contains its delimiter "${delimiter}"`);
  appendFileSync(file, `${name}<<${delimiter}${EOL}${value}${EOL}${delimiter}${EOL}`, { encoding: 'utf8' });
}

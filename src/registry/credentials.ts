// Where a registry's credentials come from, in order: inputs (for the one registry they are bound to),
// docker config (auths, then credential helpers), GITHUB_TOKEN for ghcr.io, anonymous. Looked up only when
// a registry challenges (see `credentialLookup`); a helper with no entry means "try the next source", as
// in docker and oras-go. Values are never logged: only their source is named.
import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import { asObject, jsonObject, parseJson, stringField, stringRecord, type JsonObject } from '../json.js';

type CredentialSource = 'inputs' | 'docker-config' | 'credential-helper' | 'github-token' | 'anonymous';

export type Credentials =
  | { kind: 'basic'; username: string; password: string; source: CredentialSource; detail?: string }
  /** A docker config `identitytoken`: an OAuth2 refresh token exchanged at the token endpoint. */
  | { kind: 'identity-token'; username: string; token: string; source: CredentialSource; detail?: string }
  | { kind: 'anonymous'; source: 'anonymous' };

export interface CredentialInputs {
  username?: string;
  password?: string;
  /** The registry (as in a reference: `docker.io`, `ghcr.io`, `host:port`) username/password are for; any when unset. */
  registry?: string;
  githubToken?: string;
  githubActor?: string;
  env: NodeJS.ProcessEnv;
  /** Told when a source fails and a later one is used instead. */
  warn?: (message: string) => void;
  /** Runs a docker credential helper; replaceable for tests. */
  runHelper?: (helper: string, serverUrl: string) => Promise<string | undefined>;
}

interface AuthEntry {
  auth?: string;
  username?: string;
  password?: string;
  identitytoken?: string;
}

interface DockerConfig {
  auths: Record<string, AuthEntry>;
  credHelpers?: Record<string, string>;
  credsStore?: string;
}

/** The docker config members this reads; entries and fields of another type are ignored, as if absent. */
function dockerConfigOf(value: JsonObject): DockerConfig {
  const auths: Record<string, AuthEntry> = {};
  for (const [key, raw] of Object.entries(asObject(value.auths) ?? {})) {
    const entry = asObject(raw);
    if (!entry) continue;
    auths[key] = {
      auth: stringField(entry, 'auth'),
      username: stringField(entry, 'username'),
      password: stringField(entry, 'password'),
      identitytoken: stringField(entry, 'identitytoken'),
    };
  }
  return { auths, credHelpers: stringRecord(value.credHelpers), credsStore: stringField(value, 'credsStore') };
}

/** The base64 `user:password` of HTTP Basic authentication (and of a docker config `auth`). */
export function basicToken(username: string, password: string): string {
  return Buffer.from(`${username}:${password}`).toString('base64');
}

/** A docker config `auth` decoded; undefined when it holds no `user:password` pair. */
function decodeBasicToken(auth: string): { username: string; password: string } | undefined {
  const decoded = Buffer.from(auth, 'base64').toString('utf8');
  const colon = decoded.indexOf(':');
  return colon > 0 ? { username: decoded.slice(0, colon), password: decoded.slice(colon + 1) } : undefined;
}

const DOCKER_HUB_CONFIG_KEY = 'https://index.docker.io/v1/';

/** Describes where credentials came from, for error messages: never the value. */
export function describeSource(c: Credentials): string {
  const detail = c.kind === 'anonymous' ? undefined : c.detail;
  switch (c.source) {
    case 'inputs':
      return 'the username/password inputs';
    case 'docker-config':
      return `the docker config${detail ? ` ${detail}` : ''}`;
    case 'credential-helper':
      return `the docker credential helper${detail ? ` ${detail}` : ''}`;
    case 'github-token':
      return 'the github-token input (GITHUB_TOKEN)';
    default:
      return 'no credentials (anonymous)';
  }
}

/** The registry as docker config files name it: a host, maybe with scheme and path. */
function configKeyMatches(key: string, registry: string): boolean {
  const host = key
    .replace(/^[a-z]+:\/\//i, '')
    .replace(/\/.*$/, '')
    .toLowerCase();
  const want = registry.toLowerCase();
  if (want === 'docker.io') return ['docker.io', 'index.docker.io', 'registry-1.docker.io'].includes(host);
  return host === want;
}

async function readDockerConfig(env: NodeJS.ProcessEnv): Promise<{ config: DockerConfig; path: string } | undefined> {
  const dir = env.DOCKER_CONFIG || join(env.HOME || homedir(), '.docker');
  const path = join(dir, 'config.json');
  let text: string;
  try {
    text = await readFile(path, 'utf8');
  } catch {
    return undefined;
  }
  const value = jsonObject(text, (problem) => new Error(`the docker config ${path} ${problem}; fix or remove it`));
  return { config: dockerConfigOf(value), path };
}

/** What docker-credential-helpers print (and exit 1 with) when the store holds nothing for a server. */
const NOT_FOUND = /credentials not found/i;

/** Runs `docker-credential-<helper> get`; undefined when the helper has no entry for the server. */
async function defaultRunHelper(helper: string, serverUrl: string): Promise<string | undefined> {
  // Loaded only when a docker config names a helper: most runs never start one.
  const { getExecOutput } = await import('@actions/exec');
  let result;
  try {
    result = await getExecOutput(`docker-credential-${helper}`, ['get'], {
      input: Buffer.from(serverUrl),
      silent: true,
      ignoreReturnCode: true,
    });
  } catch {
    throw new Error(
      `the docker config names the credential helper "${helper}" for ${serverUrl}, but docker-credential-${helper} is not on PATH; install it or remove it from the docker config`,
    );
  }
  if (result.exitCode === 1 && NOT_FOUND.test(`${result.stdout}\n${result.stderr}`)) return undefined;
  if (result.exitCode !== 0) {
    // The helper's stdout may hold a secret even on failure; report only that it failed.
    throw new Error(
      `the credential helper docker-credential-${helper} failed for ${serverUrl} (get exited with code ${result.exitCode}); fix the helper or remove it from the docker config`,
    );
  }
  return result.stdout;
}

function helperServerUrl(registry: string): string {
  return registry === 'docker.io' ? DOCKER_HUB_CONFIG_KEY : registry;
}

async function fromHelper(helper: string, registry: string, inputs: CredentialInputs): Promise<Credentials | undefined> {
  const out = await (inputs.runHelper ?? defaultRunHelper)(helper, helperServerUrl(registry));
  if (out === undefined) return undefined;
  let parsed: unknown;
  try {
    parsed = parseJson(out);
  } catch {
    throw new Error(`docker-credential-${helper} did not answer with JSON for ${registry}`);
  }
  const answer = asObject(parsed);
  const secret = stringField(answer, 'Secret');
  const username = stringField(answer, 'Username');
  if (!secret) return undefined;
  // Helpers mark identity tokens with the user name "<token>".
  if (username === '<token>') {
    return {
      kind: 'identity-token',
      username: '',
      token: secret,
      source: 'credential-helper',
      detail: `docker-credential-${helper}`,
    };
  }
  return {
    kind: 'basic',
    username: username ?? '',
    password: secret,
    source: 'credential-helper',
    detail: `docker-credential-${helper}`,
  };
}

export async function resolveCredentials(registry: string, inputs: CredentialInputs): Promise<Credentials> {
  const bound = inputs.registry === undefined || inputs.registry.toLowerCase() === registry.toLowerCase();
  if (bound && (inputs.username || inputs.password)) {
    if (!inputs.username || !inputs.password) {
      throw new Error(
        `Input \`${inputs.username ? 'password' : 'username'}\`: is required when \`${inputs.username ? 'username' : 'password'}\` is given`,
      );
    }
    return { kind: 'basic', username: inputs.username, password: inputs.password, source: 'inputs' };
  }

  const docker = await readDockerConfig(inputs.env);
  if (docker) {
    const { config, path } = docker;
    const entry = Object.entries(config.auths).find(([key]) => configKeyMatches(key, registry));
    if (entry) {
      const [, value] = entry;
      const decoded = value.auth ? decodeBasicToken(value.auth) : undefined;
      if (value.identitytoken) {
        const username = value.username || decoded?.username || '';
        return { kind: 'identity-token', username, token: value.identitytoken, source: 'docker-config', detail: path };
      }
      if (decoded) return { kind: 'basic', ...decoded, source: 'docker-config', detail: path };
      if (value.username && value.password) {
        return { kind: 'basic', username: value.username, password: value.password, source: 'docker-config', detail: path };
      }
    }
    const helperKey = Object.keys(config.credHelpers ?? {}).find((key) => configKeyMatches(key, registry));
    const helper = helperKey ? config.credHelpers?.[helperKey] : config.credsStore;
    if (helper) {
      const found = await fromHelper(helper, registry, inputs).catch((err: Error) => {
        // A broken helper (a Docker Desktop config on a runner, say) must not block the github-token fallback.
        if (!fromGithubToken(registry, inputs)) throw err;
        inputs.warn?.(`${err.message}; using github-token for ${registry} instead`);
        return undefined;
      });
      if (found) return found;
    }
  }
  return fromGithubToken(registry, inputs) ?? { kind: 'anonymous', source: 'anonymous' };
}

function fromGithubToken(registry: string, inputs: CredentialInputs): Credentials | undefined {
  if (registry !== 'ghcr.io' || !inputs.githubToken) return undefined;
  return { kind: 'basic', username: inputs.githubActor || 'github-actions', password: inputs.githubToken, source: 'github-token' };
}

/** Every secret value in these credentials, for masking. */
export function secretsOf(c: Credentials): string[] {
  if (c.kind === 'basic') return [c.password, basicToken(c.username, c.password)];
  if (c.kind === 'identity-token') return [c.token];
  return [];
}

/**
 * A lookup of `registry`'s credentials that runs once, when first called (a registry's first challenge),
 * and hands the result to `found` (to mask and log it). A registry that never challenges never runs it.
 */
export function credentialLookup(registry: string, inputs: CredentialInputs, found: (c: Credentials) => void): () => Promise<Credentials> {
  let pending: Promise<Credentials> | undefined;
  return () =>
    (pending ??= resolveCredentials(registry, inputs).then((c) => {
      found(c);
      return c;
    }));
}

// What the bundle loads before its first request: Node's crypto and zlib wait until the run hashes or
// compresses, so a push's first request does not wait for them. Seen from inside the action's process by
// a preloaded script that records each built-in module the bundle loads and the moment a socket connects.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ACTION, cleanEnv, FIXTURE_MODULE, inputEnv, runNode } from './helpers/action.js';
import { listenOnLoopback } from './helpers/loopback.js';

const PRELOAD = `const Module = require('node:module');
const net = require('node:net');
const seen = [];
const load = Module._load;
Module._load = function (request, ...rest) {
  if (!seen.includes(request)) seen.push(request);
  return load.call(this, request, ...rest);
};
const connect = net.Socket.prototype.connect;
net.Socket.prototype.connect = function (...args) {
  if (!seen.includes('<first connect>')) {
    seen.push('<first connect>');
    // Connected: the request, queued on the socket, goes out now.
    this.once('connect', () => seen.push('<connected>'));
  }
  return connect.apply(this, args);
};
process.on('exit', () => process.stderr.write('LOADED ' + JSON.stringify(seen) + '\\n'));
`;

let dir: string;
let server: Server;
let host: string;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'startup-loads-'));
  writeFileSync(join(dir, 'preload.cjs'), PRELOAD);
  server = createServer((req, res) => {
    req.resume();
    res.writeHead(503);
    res.end();
  });
  host = `127.0.0.1:${await listenOnLoopback(server)}`;
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
  rmSync(dir, { recursive: true, force: true });
});

describe('the action’s start', () => {
  // Retried: that a loopback connect has completed by the next poll is the kernel's doing (it almost always
  // has); the one-turn code this guards against fails every time.
  it('sends its first request before it loads node:crypto and node:zlib, which it loads afterwards', { retry: 2 }, async () => {
    const env = cleanEnv({ ...inputEnv({ wasm: FIXTURE_MODULE, tags: `${host}/startup/loads:1`, retries: '0' }), RUNNER_TEMP: dir });
    const run = await runNode(['--require', join(dir, 'preload.cjs'), ACTION], { env });
    const line = /^LOADED (.*)$/m.exec(run.stderr)?.[1];
    expect(line, run.stderr).toBeDefined();
    const loaded = JSON.parse(line as string) as string[];
    expect(loaded).toContain('<first connect>');
    expect(loaded.slice(0, loaded.indexOf('<first connect>'))).toContain('node:http');
    // The packaging waits until a registry nearby has the request: its socket connected before the
    // packaging's first load.
    expect(loaded).toContain('<connected>');
    const before = loaded.slice(0, loaded.indexOf('<connected>'));
    for (const late of ['node:crypto', 'crypto', 'node:zlib', 'zlib']) expect(before, late).not.toContain(late);
    // The push then packages the module (compat: hashing and gzip) while the registry answers.
    expect(loaded).toContain('node:crypto');
    expect(loaded).toContain('node:zlib');
  });
});

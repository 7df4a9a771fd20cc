// Node's crypto and zlib, loaded at their first use rather than at start: a push puts its first request on
// the wire before they load (3-8 ms of a cold start here), and a run that fails its input checks loads
// neither.
import type * as Crypto from 'node:crypto';
import { createRequire } from 'node:module';
import type * as Zlib from 'node:zlib';

const load = createRequire(import.meta.url);
let crypto: typeof Crypto | undefined;
let zlib: typeof Zlib | undefined;

export const nodeCrypto = (): typeof Crypto => (crypto ??= load('node:crypto') as typeof Crypto);
export const nodeZlib = (): typeof Zlib => (zlib ??= load('node:zlib') as typeof Zlib);

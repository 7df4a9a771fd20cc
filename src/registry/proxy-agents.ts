// The agents that carry requests through a proxy, loaded only when a proxy applies (they and their
// dependencies are most of what a run without a proxy would load for nothing).
import type { Agent } from 'node:http';
import type { Socket } from 'node:net';
import { HttpProxyAgent } from 'http-proxy-agent';
import { HttpsProxyAgent } from 'https-proxy-agent';

const TUNNEL_OPTIONS = { keepAlive: true, maxSockets: 16 };
// A forwarding proxy may close the client connection after each answer without saying so (tinyproxy
// does): reusing it would fail the next request, so forwarded requests ask for `Connection: close`.
const FORWARD_OPTIONS = { keepAlive: false, maxSockets: 16 };

/**
 * Bounds how long reaching the proxy may take (TCP connect, and for a tunnel the CONNECT answer): until
 * then the request has no socket, so its own inactivity timeout cannot fire, and a proxy that accepts but
 * never answers would hold the run forever. The agents open their socket synchronously inside
 * `connect`, so a per-call abort signal is lent to it through `connectOpts`.
 */
async function withDeadline(
  agent: { connectOpts: HttpsProxyAgent<string>['connectOpts'] },
  timeoutMs: number,
  proxy: string,
  connect: () => Promise<Socket>,
): Promise<Socket> {
  const abort = new AbortController();
  const timer = setTimeout(() => abort.abort(), timeoutMs);
  const shared = agent.connectOpts;
  agent.connectOpts = { ...shared, signal: abort.signal };
  let pending: Promise<Socket>;
  try {
    pending = connect();
  } finally {
    agent.connectOpts = shared;
  }
  try {
    return await pending;
  } catch (err) {
    if (!abort.signal.aborted) throw err;
    throw Object.assign(new Error(`the proxy ${proxy} did not answer within ${timeoutMs} ms`), { code: 'ETIMEDOUT' });
  } finally {
    clearTimeout(timer);
  }
}

type TunnelConnect = Parameters<HttpsProxyAgent<string>['connect']>;
type ForwardConnect = Parameters<HttpProxyAgent<string>['connect']>;

class TunnelAgent extends HttpsProxyAgent<string> {
  constructor(
    proxy: string,
    private readonly timeoutMs: number,
    private readonly shown: string,
  ) {
    super(proxy, TUNNEL_OPTIONS);
  }
  override connect(...args: TunnelConnect): Promise<Socket> {
    return withDeadline(this, this.timeoutMs, this.shown, () => super.connect(...args));
  }
}

class ForwardAgent extends HttpProxyAgent<string> {
  constructor(
    proxy: string,
    private readonly timeoutMs: number,
    private readonly shown: string,
  ) {
    super(proxy, FORWARD_OPTIONS);
  }
  override connect(...args: ForwardConnect): Promise<Socket> {
    return withDeadline(this, this.timeoutMs, this.shown, () => super.connect(...args));
  }
}

/** A tunnel (https) or forwarding (http) agent through `proxy`, reaching it within `timeoutMs`; `shown` names it in errors. */
export function createProxyAgent(secure: boolean, proxy: string, timeoutMs: number, shown: string): Agent {
  return secure ? new TunnelAgent(proxy, timeoutMs, shown) : new ForwardAgent(proxy, timeoutMs, shown);
}

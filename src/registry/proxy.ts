// Which proxy a request goes through: HTTPS_PROXY / HTTP_PROXY / NO_PROXY (and lower-case forms) read
// exactly as @actions/http-client reads them, so the action agrees with the rest of the toolkit.
// https goes through a CONNECT tunnel (the proxy sees only host:port, never a header), http in absolute
// form; both send Proxy-Authorization from the proxy URL's user info.
import type { Agent } from 'node:http';
import { getProxyUrl } from '@actions/http-client/lib/proxy';

export interface ProxyRoute {
  agent: Agent;
  /** The proxy as it may be shown: scheme, host and port, never its user info. */
  proxy: string;
  /** The variable the proxy came from, for error messages. */
  variable: 'HTTPS_PROXY' | 'HTTP_PROXY';
  /** Whether the proxy URL carries a user and password (sent as Proxy-Authorization). */
  authenticated: boolean;
}

const agents = new Map<string, Agent>();

/**
 * The proxy URL for `url` (undefined: go direct), after NO_PROXY and the loopback rule. A value without a
 * scheme (`proxy.corp:3128`, which a URL parser reads as the scheme `proxy.corp:`) means http://, as curl
 * takes it; other schemes (socks5://) are refused with what to write instead.
 */
export function proxyFor(url: URL): URL | undefined {
  const proxy = getProxyUrl(url);
  if (!proxy || proxy.protocol === 'http:' || proxy.protocol === 'https:') return proxy;
  const variable = url.protocol === 'https:' ? 'HTTPS_PROXY' : 'HTTP_PROXY';
  if (proxy.href.includes('://')) {
    throw new Error(
      `${variable} names a ${proxy.protocol.slice(0, -1)} proxy, which is not supported; give an http:// or https:// proxy URL`,
    );
  }
  return new URL(`http://${proxy.href}`);
}

/** The agent that routes `url` through its proxy (reaching it within `timeoutMs`), or undefined when it goes direct. */
export async function proxyRoute(url: URL, timeoutMs: number): Promise<ProxyRoute | undefined> {
  const proxyUrl = proxyFor(url);
  if (!proxyUrl) return undefined;
  const secure = url.protocol === 'https:';
  const shown = `${proxyUrl.protocol}//${proxyUrl.host}`;
  // href keeps the user info percent-encoded; the agents decode it once.
  const key = `${secure ? 'tunnel' : 'forward'} ${timeoutMs} ${proxyUrl.href}`;
  const { createProxyAgent } = await import('./proxy-agents.js');
  // Looked up after the import: requests that start together share one agent, which closeProxyAgents reaches.
  let agent = agents.get(key);
  if (!agent) {
    agent = createProxyAgent(secure, proxyUrl.href, timeoutMs, shown);
    agents.set(key, agent);
  }
  return {
    agent,
    proxy: shown,
    variable: secure ? 'HTTPS_PROXY' : 'HTTP_PROXY',
    authenticated: proxyUrl.username !== '' || proxyUrl.password !== '',
  };
}

/** The proxy passwords in the environment, to mask before anything is logged. */
export function proxySecrets(env: NodeJS.ProcessEnv = process.env): string[] {
  const out: string[] = [];
  for (const name of ['https_proxy', 'HTTPS_PROXY', 'http_proxy', 'HTTP_PROXY']) {
    const value = env[name];
    if (!value) continue;
    try {
      const url = new URL(value.includes('://') ? value : `http://${value}`);
      if (url.password) out.push(url.password, decodeURIComponent(url.password));
    } catch {
      // An unparseable proxy variable has no user info to mask; requests report it.
    }
  }
  return [...new Set(out)];
}

/** Closes the proxy agents' idle sockets so the process can exit promptly. */
export function closeProxyAgents(): void {
  for (const agent of agents.values()) agent.destroy();
  agents.clear();
}

// A client for one registry: picks the scheme (HTTPS, or HTTP for insecure hosts that do not speak TLS),
// answers auth challenges, re-authenticates once on a 401, and retries what is safe to retry.
import type { IncomingMessage } from 'node:http';
import { Authenticator, challengeFrom, type AuthContext } from './auth.js';
import type { Credentials } from './credentials.js';
import { describeAnswer, refusedThroughRetries, RegistryError, unexpectedResponse } from './errors.js';
import { BODY_TOO_LARGE, NetworkError, send, TOO_MANY_REDIRECTS, type HttpResponse, type RequestBody } from './http.js';
import { isLoopbackHost } from './reference.js';
import { isNotTls, probeTls } from './tls-probe.js';
import { isRetryableStatus, RetriesExhausted, withRetries, type RetryPolicy } from './retry.js';

/** Failures of a plain-HTTP request that only a plain-HTTP (or silent) server causes. */
const PLAIN_HTTP_FAILURES = new Set(['ETIMEDOUT', BODY_TOO_LARGE, TOO_MANY_REDIRECTS]);

export interface Logger {
  info(message: string): void;
  warning(message: string): void;
}

export interface ClientOptions {
  /** host[:port] to connect to. */
  host: string;
  /** Looks the registry's credentials up, on its first challenge. */
  credentials: () => Promise<Credentials>;
  /** Hosts that may be reached over plain HTTP (loopback always may). */
  insecureRegistries: string[];
  retry: RetryPolicy;
  timeoutMs: number;
  signal?: AbortSignal;
  log: Logger;
  mask: (secret: string) => void;
  /** Hosts already said to be on plain HTTP, shared by several clients so that it is said once per host. */
  plainHttpNoted?: Set<string>;
}

export interface ClientRequest {
  method: string;
  /** A path under the registry (`/v2/...`) or an absolute URL (upload locations). */
  target: string | URL;
  scopes: string[];
  headers?: Record<string, string>;
  body?: RequestBody;
  consume?: (res: IncomingMessage) => Promise<void>;
  /** Stops this request alone (the client's own signal stops every request). */
  signal?: AbortSignal;
}

/**
 * A signal that aborts with either one (AbortSignal.any needs Node 20.3; the engines allow 20.0), and a
 * release that takes its listeners off both once the request is over: the client's signal lives for the run.
 */
function either(a: AbortSignal | undefined, b: AbortSignal | undefined): { signal?: AbortSignal; release: () => void } {
  if (!a || !b) return { signal: a ?? b, release: () => undefined };
  const both = new AbortController();
  const abort = () => both.abort();
  if (a.aborted || b.aborted) abort();
  a.addEventListener('abort', abort, { once: true });
  b.addEventListener('abort', abort, { once: true });
  const release = () => {
    a.removeEventListener('abort', abort);
    b.removeEventListener('abort', abort);
  };
  return { signal: both.signal, release };
}

export class RegistryClient {
  readonly host: string;
  private base: URL | undefined;
  private readonly auth: Authenticator;

  constructor(private readonly opts: ClientOptions) {
    this.host = opts.host;
    const ctx: AuthContext = {
      host: opts.host,
      credentials: opts.credentials,
      timeoutMs: opts.timeoutMs,
      signal: opts.signal,
      mask: opts.mask,
      plainHttp: () => this.base?.protocol === 'http:',
    };
    this.auth = new Authenticator(ctx);
  }

  get insecureAllowed(): boolean {
    const name = this.host.toLowerCase();
    return (
      isLoopbackHost(name) ||
      this.opts.insecureRegistries.some((h) => h.toLowerCase() === name || h.toLowerCase() === name.replace(/:\d+$/, ''))
    );
  }

  /** The `/v2/` ping: chooses the scheme and learns the auth challenge. Retried like any safe request. */
  async ping(): Promise<void> {
    if (this.base) return;
    let last: HttpResponse | undefined;
    const res = await withRetries<HttpResponse>(
      `connecting to ${this.host}`,
      this.opts.retry,
      (m) => this.opts.log.warning(m),
      async () => {
        last = undefined;
        const r = await this.pingOnce();
        if (!isRetryableStatus(r.status)) return { done: r };
        last = r;
        return { retry: `HTTP ${r.status} ${describeAnswer(r)}`, response: r };
      },
      this.opts.signal,
    ).catch((err: unknown) => {
      if (err instanceof RetriesExhausted && last) throw exhaustedWithHint(err, this.host, last);
      throw err;
    });
    if (res.status === 401) {
      const challenge = challengeFrom(res);
      if (!challenge) {
        throw new RegistryError(
          `${this.host} answered 401 without a usable WWW-Authenticate challenge (got "${String(res.headers['www-authenticate'] ?? '')}"); is this a registry?`,
          401,
        );
      }
      this.auth.setChallenge(challenge);
    } else if (res.status !== 200) {
      throw unexpectedResponse(`checking the registry API (GET /v2/)`, this.host, res);
    }
  }

  private async pingOnce(): Promise<HttpResponse> {
    const get = (scheme: string) =>
      send({
        method: 'GET',
        url: new URL(`${scheme}://${this.host}/v2/`),
        timeoutMs: this.opts.timeoutMs,
        signal: this.opts.signal,
        maxRedirects: 3,
        // A registry answers `{}` here; anything large is not a registry.
        maxBodyBytes: 64 * 1024,
      });
    const plainFirst = this.plainFirst;
    const early = plainFirst ? await this.askPlainFirst(() => get('http')) : undefined;
    if (early) return this.onPlainHttp(early);
    // A host that may be plain HTTP is asked cheaply first; only a definite "not TLS" skips the HTTPS attempt.
    // (After a plain-first ping that did not stand, HTTPS is what is left to ask.)
    const plain = !plainFirst && this.insecureAllowed && (await this.probe()) === 'plain';
    try {
      if (!plain) {
        const res = await get('https');
        this.base = new URL(`https://${this.host}`);
        return res;
      }
    } catch (err) {
      if (!(err instanceof NetworkError) || !isNotTls(err)) throw err;
      if (!this.insecureAllowed) {
        throw new RegistryError(
          `${this.host} does not speak HTTPS (${err.message.trim()}); if it is a plain-HTTP registry you trust, add it to insecure-registries`,
          0,
        );
      }
    }
    // As docker does for insecure registries: HTTPS first, plain HTTP only when the server has no TLS.
    return this.onPlainHttp(await get('http'));
  }

  /**
   * A loopback host with a port (a `registry:2` service on localhost:5000) is asked in plain HTTP first: no
   * one on a network can read or change loopback traffic, the ping carries no credential, and a TLS server
   * refuses it (HTTP 400, or a dropped connection), which leads on to HTTPS as for any insecure host. Without
   * a port the two schemes reach different ports (80, 443), so docker's order holds: HTTPS first.
   */
  private get plainFirst(): boolean {
    return isLoopbackHost(this.host) && /:\d+$/.test(this.host);
  }

  /**
   * The plain-HTTP ping's answer when the host speaks plain HTTP: any answer but the 400 a TLS server (Go's,
   * nginx's) gives a plain request. Its failure stands when the server is plain HTTP all the same: it spoke
   * HTTP (a redirect loop, a body too large), stayed silent (no TLS server is silent on a plain request), or
   * answers a TLS handshake in plain text. Undefined: HTTPS is to be asked.
   */
  private async askPlainFirst(ping: () => Promise<HttpResponse>): Promise<HttpResponse | undefined> {
    try {
      const res = await ping();
      return res.status === 400 ? undefined : res;
    } catch (err) {
      if (!(err instanceof NetworkError) || PLAIN_HTTP_FAILURES.has(err.code)) throw err;
      if ((await this.probe()) === 'plain') throw err;
      return undefined;
    }
  }

  private probe(): Promise<'plain' | 'unknown'> {
    return probeTls(this.host, this.opts.timeoutMs, this.opts.signal);
  }

  private onPlainHttp(res: HttpResponse): HttpResponse {
    this.base = new URL(`http://${this.host}`);
    if (!this.opts.plainHttpNoted?.has(this.host)) this.opts.log.info(`${this.host} has no TLS; using plain HTTP (insecure registry)`);
    this.opts.plainHttpNoted?.add(this.host);
    return res;
  }

  /** Fetches (and caches) the token for `scopes` ahead of the first request that needs it. */
  async authorize(scopes: string[]): Promise<void> {
    await this.ping();
    await withRetries<void>(
      `authenticating to ${this.host}`,
      this.opts.retry,
      (m) => this.opts.log.warning(m),
      // A busy token service (TokenServiceBusy) is retried by the retry layer, here as at a renewal mid-push.
      async () => {
        await this.auth.authorization(scopes);
        return { done: undefined };
      },
      this.opts.signal,
    );
  }

  url(target: string | URL): URL {
    if (!this.base) throw new Error('ping() first');
    return target instanceof URL ? target : new URL(target, this.base);
  }

  /**
   * One request with authentication; a 401 renews the token (or learns a challenge) and tries once more.
   * Never retried here: network errors are thrown as NetworkError for the retry layer (retry.ts).
   */
  async request(req: ClientRequest): Promise<HttpResponse> {
    await this.ping();
    const url = this.url(req.target);
    const { signal, release } = either(req.signal, this.opts.signal);
    try {
      return await this.requestOnce(req, url, signal);
    } finally {
      release();
    }
  }

  /** The request, and after a 401 the same once more with renewed authorization. */
  private async requestOnce(req: ClientRequest, url: URL, signal: AbortSignal | undefined): Promise<HttpResponse> {
    const attempt = async (): Promise<HttpResponse> => {
      const headers: Record<string, string> = { ...req.headers };
      // Credentials go only to the registry's own origin, never to another host named in a Location.
      if (url.origin === this.base?.origin) {
        const authorization = await this.auth.authorization(req.scopes);
        if (authorization) headers.Authorization = authorization;
      }
      return send({
        method: req.method,
        url,
        headers,
        body: req.body,
        consume: req.consume,
        timeoutMs: this.opts.timeoutMs,
        signal,
        authorizedOrigin: this.base?.origin,
      });
    };
    let res = await attempt();
    if (res.status === 401 && url.origin === this.base?.origin) {
      const challenge = challengeFrom(res);
      const had = this.auth.scheme;
      if (challenge) this.auth.setChallenge(challenge);
      this.auth.invalidate(req.scopes);
      if (had === undefined && !challenge) return res;
      res = await attempt();
      if (res.status === 401) throw this.auth.refused(`${req.method} ${url.pathname}`, res);
    }
    return res;
  }

  /**
   * A request that is safe to repeat, retried on network errors and retryable statuses. `retry` is the
   * client's policy, or `noRetries(...)` when an enclosing operation already retries.
   */
  async requestWithRetries(what: string, req: ClientRequest, retry: RetryPolicy = this.opts.retry): Promise<HttpResponse> {
    let last: HttpResponse | undefined;
    return withRetries<HttpResponse>(
      what,
      retry,
      (m) => this.opts.log.warning(m),
      async () => {
        last = undefined;
        const res = await this.request(req);
        if (!isRetryableStatus(res.status)) return { done: res };
        last = res;
        return { retry: `HTTP ${res.status} ${describeAnswer(res)}`, response: res };
      },
      this.opts.signal,
    ).catch((err: unknown) => {
      if (err instanceof RetriesExhausted && last) throw exhaustedWithHint(err, this.host, last);
      throw err;
    });
  }
}

/** The retry layer's error with the registry's words and hint for its last answer; still a RetriesExhausted, so
 * an enclosing operation can tell that this step ran out of attempts. */
function exhaustedWithHint(err: RetriesExhausted, host: string, last: HttpResponse): RetriesExhausted {
  const refused = refusedThroughRetries(err.message, host, last);
  return new RetriesExhausted(refused.message, refused.status, refused.codes);
}

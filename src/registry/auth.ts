// Registry authentication: WWW-Authenticate challenges, Basic, and Bearer tokens fetched per scope and
// cached until they expire. Every secret is masked before it could reach a log line.
import { asObject, parseJson } from '../json.js';
import { basicToken, type Credentials, describeSource } from './credentials.js';
import { describeAnswer, RegistryError, TokenServiceBusy, unexpectedResponse } from './errors.js';
import { getHeader, send, type HttpResponse } from './http.js';
import { isRetryableStatus } from './retry.js';

interface Challenge {
  scheme: string;
  params: Record<string, string>;
}

/**
 * Parses a WWW-Authenticate value into challenges: `Bearer realm="…",service="…"`, `Basic realm="…"`,
 * several in one header, quoted strings with escapes and commas.
 */
export function parseWwwAuthenticate(value: string): Challenge[] {
  const challenges: Challenge[] = [];
  let i = 0;
  const n = value.length;
  const skip = (re: RegExp) => {
    while (i < n && re.test(value[i])) i++;
  };
  const token = (): string => {
    const start = i;
    while (i < n && /[^\s,=]/.test(value[i])) i++;
    return value.slice(start, i);
  };
  while (i < n) {
    skip(/[\s,]/);
    const scheme = token();
    if (!scheme) break;
    const challenge: Challenge = { scheme: scheme.toLowerCase(), params: {} };
    challenges.push(challenge);
    for (;;) {
      skip(/[\s,]/);
      const save = i;
      const key = token();
      skip(/\s/);
      if (!key || value[i] !== '=') {
        i = save; // Not a parameter: the next challenge's scheme starts here.
        break;
      }
      i++; // '='
      skip(/\s/);
      let v = '';
      if (value[i] === '"') {
        i++;
        while (i < n && value[i] !== '"') {
          if (value[i] === '\\' && i + 1 < n) i++;
          v += value[i];
          i++;
        }
        i++; // closing quote
      } else {
        const start = i;
        while (i < n && value[i] !== ',') i++;
        v = value.slice(start, i).trim();
      }
      challenge.params[key.toLowerCase()] = v;
    }
  }
  return challenges;
}

interface CachedToken {
  token: string;
  expiresAt: number;
}

export interface AuthContext {
  host: string;
  /** Looks the registry's credentials up; called only when a challenge needs them, once. */
  credentials: () => Promise<Credentials>;
  timeoutMs: number;
  signal?: AbortSignal;
  mask: (secret: string) => void;
  now?: () => number;
  /** True once the registry is known to be reached over plain HTTP (loopback or insecure-registries). */
  plainHttp?: () => boolean;
}

/**
 * The token realm receives the credentials, as with docker; never in clear text: an `http:` realm, or a
 * redirect to one, is refused unless the registry itself is plain HTTP (so nothing is lost by it).
 */
function checkTokenUrl(url: URL, registryHost: string, plainHttp: boolean, redirectedFrom?: URL): void {
  if (url.protocol !== 'http:' || plainHttp) return;
  const where = `${url.origin}${url.pathname}`;
  const how = redirectedFrom
    ? `redirects the token request from ${redirectedFrom.origin} to plain-HTTP ${where}`
    : `names a plain-HTTP token realm ${where}`;
  throw new RegistryError(
    `${registryHost} ${how}, which would send the credentials and token unencrypted although the registry uses HTTPS; ` +
      "the registry's token service must use HTTPS (fix its auth realm)",
    401,
  );
}

/** The scope string for reading `repository`. */
export function pullScopes(repository: string): string[] {
  return [`repository:${repository}:pull`];
}

/** Scope strings for a push to `repository`, with pull on any mount sources. */
export function pushScopes(repository: string, mountFrom: string[] = []): string[] {
  return [`repository:${repository}:pull,push`, ...mountFrom.filter((r) => r !== repository).map((r) => `repository:${r}:pull`)];
}

/** Holds the challenge of one registry and produces Authorization headers for it. */
export class Authenticator {
  private challenge: Challenge | undefined;
  private readonly tokens = new Map<string, CachedToken>();
  /** Token fetches under way, by scope key: concurrent requests for the same scopes share one. */
  private readonly pending = new Map<string, Promise<CachedToken>>();
  /** The credentials once looked up (undefined before the first challenge). */
  private resolved: Credentials | undefined;

  constructor(private readonly ctx: AuthContext) {}

  private async credentials(): Promise<Credentials> {
    this.resolved ??= await this.ctx.credentials();
    return this.resolved;
  }

  setChallenge(challenge: Challenge | undefined): void {
    this.challenge = challenge;
  }

  get scheme(): string | undefined {
    return this.challenge?.scheme;
  }

  /** Picks the challenge to answer from a 401's WWW-Authenticate header (Bearer before Basic). */
  static choose(res: HttpResponse): Challenge | undefined {
    const headerValue = res.headers['www-authenticate'];
    const values = Array.isArray(headerValue) ? headerValue : headerValue ? [headerValue] : [];
    const all = values.flatMap(parseWwwAuthenticate);
    return all.find((c) => c.scheme === 'bearer' && c.params.realm) ?? all.find((c) => c.scheme === 'basic');
  }

  /** Forgets cached tokens for these scopes (after a 401: the token expired or was revoked). */
  invalidate(scopes: string[]): void {
    this.tokens.delete(scopes.join(' '));
  }

  async authorization(scopes: string[]): Promise<string | undefined> {
    const c = this.challenge;
    if (!c) return undefined;
    if (c.scheme === 'basic') {
      const creds = await this.credentials();
      if (creds.kind !== 'basic') throw this.missingCredentials('Basic');
      return `Basic ${basicToken(creds.username, creds.password)}`;
    }
    if (c.scheme !== 'bearer') {
      throw new RegistryError(`${this.ctx.host} asks for "${c.scheme}" authentication, which is not supported (Bearer and Basic are)`, 401);
    }
    const key = scopes.join(' ');
    const now = (this.ctx.now ?? Date.now)();
    const cached = this.tokens.get(key);
    if (cached && cached.expiresAt > now) return `Bearer ${cached.token}`;
    let fetching = this.pending.get(key);
    if (!fetching) {
      fetching = this.fetchToken(c, scopes).then(
        (fresh) => {
          this.pending.delete(key);
          this.tokens.set(key, fresh);
          return fresh;
        },
        (err: unknown) => {
          // A failure is every waiter's, but the next request asks again.
          this.pending.delete(key);
          throw err;
        },
      );
      this.pending.set(key, fetching);
    }
    return `Bearer ${(await fetching).token}`;
  }

  missingCredentials(scheme: string): RegistryError {
    return new RegistryError(
      `${this.ctx.host} requires ${scheme} authentication and no credentials were found: set the username and password inputs ` +
        '(and registry, when the tags name several registries), log in first with docker/login-action, or for ghcr.io pass github-token',
      401,
      ['UNAUTHORIZED'],
    );
  }

  failed(detail: string): RegistryError {
    const creds = this.resolved;
    if (!creds || creds.kind === 'anonymous') return this.missingCredentials(this.challenge?.scheme === 'basic' ? 'Basic' : 'token');
    return new RegistryError(
      `authentication to ${this.ctx.host} failed with credentials from ${describeSource(creds)}: ${detail}; check the user name and password or token`,
      401,
      ['UNAUTHORIZED'],
    );
  }

  /**
   * A 401 that persists after authenticating. When the token service issued a token for these credentials,
   * the credentials are good and the registry refuses this repository: Harbor does that when the project does
   * not exist or the account may not push to it.
   */
  refused(request: string, res: HttpResponse): RegistryError {
    const creds = this.resolved;
    if (this.challenge?.scheme !== 'bearer' || !creds || creds.kind === 'anonymous') {
      return this.failed(`${request} answered HTTP 401 after authenticating`);
    }
    // A HEAD answer has no body to quote.
    const words = res.body.length > 0 ? ` ${describeAnswer(res)}` : '';
    return new RegistryError(
      `${this.ctx.host} refused ${request}: HTTP 401${words}, although its token service accepted the credentials ` +
        `from ${describeSource(creds)} (hint: the project or repository may not exist (Harbor answers 401 for a missing project: ` +
        'create it first) or the account may not push to it (give the user or robot account push permission on the project))',
      401,
      ['UNAUTHORIZED'],
    );
  }

  private async fetchToken(c: Challenge, scopes: string[]): Promise<CachedToken> {
    const realm = c.params.realm;
    let url: URL;
    try {
      url = new URL(realm);
    } catch {
      throw new RegistryError(`${this.ctx.host} sent a malformed WWW-Authenticate header (realm "${realm}" is not a URL)`, 401);
    }
    if (url.protocol !== 'https:' && url.protocol !== 'http:') {
      throw new RegistryError(`${this.ctx.host} sent a token realm that is not HTTP(S): ${realm}`, 401);
    }
    const plainHttp = this.ctx.plainHttp?.() ?? false;
    checkTokenUrl(url, this.ctx.host, plainHttp);
    const creds = await this.credentials();
    const headers: Record<string, string> = { Accept: 'application/json' };
    let res: HttpResponse;
    // A token answer is small JSON; 1 MiB is far more than any real one (oras-go caps it the same way).
    const common = {
      timeoutMs: this.ctx.timeoutMs,
      signal: this.ctx.signal,
      authorizedOrigin: url.origin,
      maxBodyBytes: 1024 * 1024,
      checkRedirect: (next: URL, from: URL) => checkTokenUrl(next, this.ctx.host, plainHttp, from),
    };
    if (creds.kind === 'identity-token') {
      // An identity token is an OAuth2 refresh token: exchanged with a form POST, as docker does.
      const form = new URLSearchParams({ grant_type: 'refresh_token', refresh_token: creds.token, client_id: 'wasm-image-action' });
      if (c.params.service) form.set('service', c.params.service);
      form.set('scope', scopes.join(' '));
      headers['Content-Type'] = 'application/x-www-form-urlencoded';
      res = await send({ method: 'POST', url, headers, body: { kind: 'bytes', bytes: Buffer.from(form.toString()) }, ...common });
    } else {
      if (c.params.service) url.searchParams.set('service', c.params.service);
      for (const scope of scopes) url.searchParams.append('scope', scope);
      if (creds.kind === 'basic') headers.Authorization = `Basic ${basicToken(creds.username, creds.password)}`;
      res = await send({ method: 'GET', url, headers, ...common });
    }
    if (res.status === 401 || res.status === 403)
      throw this.failed(`the token endpoint ${url.origin}${url.pathname} answered HTTP ${res.status}`);
    if (isRetryableStatus(res.status)) throw new TokenServiceBusy(unexpectedResponse('getting a token', url.host, res).message, res);
    if (res.status !== 200) throw unexpectedResponse('getting a token', url.host, res);
    let parsed: unknown;
    try {
      parsed = parseJson(res.body);
    } catch {
      throw new RegistryError(`the token endpoint ${url.origin}${url.pathname} did not answer with JSON`, res.status);
    }
    // Any JSON that is not an object holds no token, and is refused as such below.
    const body = asObject(parsed) ?? {};
    const token =
      typeof body.token === 'string' && body.token ? body.token : typeof body.access_token === 'string' ? body.access_token : '';
    if (!token) throw new RegistryError(`the token endpoint ${url.origin}${url.pathname} answered without a token`, res.status);
    this.ctx.mask(token);
    const ttl = typeof body.expires_in === 'number' && body.expires_in > 0 ? body.expires_in : 60;
    // Renew a little early so a token does not expire between being chosen and being checked.
    const margin = Math.min(10, ttl / 4) * 1000;
    return { token, expiresAt: (this.ctx.now ?? Date.now)() + ttl * 1000 - margin };
  }
}

export function challengeFrom(res: HttpResponse): Challenge | undefined {
  return getHeader(res, 'www-authenticate') ? Authenticator.choose(res) : undefined;
}

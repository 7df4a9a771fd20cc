// A Bearer token server in the manner of Docker Hub's and GHCR's, for the test registry's `auth.token`.
//
// GET  /token?service=S&scope=repository:NAME:pull,push[&scope=...]   (Basic credentials, or none)
// POST /token  grant_type=password (username, password) | refresh_token (refresh_token), scope, service
//
// Answers {"token","access_token","expires_in","issued_at"} with an RS256 JWT whose header carries the
// signing certificate as `x5c`: Distribution 2.8 checks that chain against `auth.token.rootcertbundle`.
// Anonymous requests get a token that grants nothing; wrong credentials get 401.
import { randomBytes, randomUUID, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import { certDerBase64, type CertPair } from './certs.js';
import { listenOnLoopback } from './loopback.js';

export interface TokenScope {
  type: string;
  name: string;
  actions: string[];
}

export interface TokenRequest {
  method: string;
  /** Scopes as requested, one entry per scope (`repository:NAME:pull,push`). */
  scope: string[];
  /** The user named by the credentials (even when they were wrong); undefined when anonymous. */
  account?: string;
  service?: string;
  /** OAuth2 grant_type of a POST. */
  grantType?: string;
  /** The status the token server answered. */
  status: number;
}

export interface TokenServer {
  /** `http://127.0.0.1:PORT`; the realm is `${url}/token`. */
  url: string;
  /** Every token handed out, in order (for secret-leak checks). */
  issuedTokens: string[];
  /** Every request to /token, answered or refused. */
  requests: TokenRequest[];
  /** The refresh token a `grant_type=refresh_token` POST accepts (docker config `identitytoken`). */
  refreshToken: string;
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  issuer: string;
  service: string;
  /** Certificate and key that sign the tokens; the certificate is the registry's rootcertbundle. */
  signer: CertPair;
  username: string;
  password: string;
  /** Accepted by the OAuth2 refresh_token grant; random when not given. */
  refreshToken?: string;
  /** Lifetime of a token in seconds (default 300). */
  ttlSeconds?: number;
  /**
   * Seconds taken off every token's `exp`. Distribution accepts a token until 60 s past its `exp`
   * (clock-skew leeway), so 60 here makes `ttlSeconds` the real lifetime of short test tokens.
   */
  expiryLeewaySeconds?: number;
  /** The `expires_in` to announce when it should differ from ttlSeconds (to make a client use a dead token). */
  reportedTtlSeconds?: number;
  /** Which actions an account gets on a scope. Default: everything asked for when authenticated, nothing when anonymous. */
  grant?: (account: string | undefined, scope: TokenScope) => string[];
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

/** `repository:name:pull,push` → its parts: the type before the first colon, the actions after the last. */
export function parseScope(scope: string): TokenScope | undefined {
  const first = scope.indexOf(':');
  const last = scope.lastIndexOf(':');
  if (first <= 0 || last <= first + 1) return undefined;
  const actions = scope.slice(last + 1);
  if (!/^[a-z*,]*$/.test(actions)) return undefined;
  return { type: scope.slice(0, first), name: scope.slice(first + 1, last), actions: actions.split(',').filter(Boolean) };
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const c of req) {
    size += (c as Buffer).length;
    if (size > 64 * 1024) throw new Error('token request body too large');
    chunks.push(c as Buffer);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Scopes from repeated parameters, each of which may itself hold several separated by spaces. */
const splitScopes = (values: string[]) => values.flatMap((v) => v.split(' ')).filter(Boolean);

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const issuedTokens: string[] = [];
  const requests: TokenRequest[] = [];
  const refreshToken = opts.refreshToken ?? `refresh-${randomBytes(16).toString('hex')}`;
  const ttl = opts.ttlSeconds ?? 300;
  const grant = opts.grant ?? ((account, scope) => (account ? scope.actions : []));
  const x5c = [certDerBase64(opts.signer.certPem)];

  const issue = (account: string | undefined, scopes: string[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const access: TokenScope[] = [];
    for (const s of scopes) {
      const parsed = parseScope(s);
      if (!parsed) continue;
      const actions = grant(account, parsed).filter((a) => parsed.actions.includes(a) || parsed.actions.includes('*'));
      if (actions.length > 0) access.push({ ...parsed, actions });
    }
    const header = { typ: 'JWT', alg: 'RS256', x5c };
    const claims = {
      iss: opts.issuer,
      sub: account ?? '',
      aud: opts.service, // a plain string: Distribution 2.8's claim set has no list form of aud
      exp: now + 1 + ttl - (opts.expiryLeewaySeconds ?? 0),
      nbf: now - 5,
      iat: now,
      jti: randomUUID(),
      access,
    };
    const input = `${b64url(JSON.stringify(header))}.${b64url(JSON.stringify(claims))}`;
    const token = `${input}.${b64url(sign('sha256', Buffer.from(input), opts.signer.keyPem))}`;
    issuedTokens.push(token);
    return token;
  };

  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<void> => {
    const url = new URL(req.url ?? '/', 'http://token.invalid');
    const method = req.method ?? 'GET';
    const send = (status: number, body: unknown) => {
      res.writeHead(status, { 'Content-Type': 'application/json', 'Cache-Control': 'no-store' });
      res.end(JSON.stringify(body));
    };
    if (url.pathname !== '/token') return send(404, { error: 'not_found' });

    let scope: string[];
    let account: string | undefined;
    let service: string | undefined;
    let grantType: string | undefined;
    let credentialsOk = true;
    let offline: boolean;
    if (method === 'POST') {
      const form = new URLSearchParams(await readBody(req));
      scope = splitScopes(form.getAll('scope'));
      service = form.get('service') ?? undefined;
      grantType = form.get('grant_type') ?? undefined;
      offline = form.get('access_type') === 'offline';
      if (grantType === 'password') {
        account = form.get('username') ?? '';
        credentialsOk = account === opts.username && form.get('password') === opts.password;
      } else if (grantType === 'refresh_token') {
        credentialsOk = form.get('refresh_token') === refreshToken;
        account = credentialsOk ? opts.username : undefined;
      } else {
        requests.push({ method, scope, service, grantType, status: 400 });
        return send(400, { error: 'unsupported_grant_type' });
      }
    } else if (method === 'GET') {
      scope = splitScopes(url.searchParams.getAll('scope'));
      service = url.searchParams.get('service') ?? undefined;
      offline = url.searchParams.get('offline_token') === 'true';
      const header = req.headers.authorization;
      if (header !== undefined) {
        const m = /^Basic\s+(\S+)$/i.exec(header);
        const decoded = m ? Buffer.from(m[1], 'base64').toString('utf8') : '';
        const colon = decoded.indexOf(':');
        account = colon >= 0 ? decoded.slice(0, colon) : undefined;
        credentialsOk = colon >= 0 && account === opts.username && decoded.slice(colon + 1) === opts.password;
      }
    } else {
      requests.push({ method, scope: [], status: 405 });
      res.setHeader('Allow', 'GET, POST');
      return send(405, { error: 'method_not_allowed' });
    }

    if (!credentialsOk) {
      requests.push({ method, scope, account, service, grantType, status: 401 });
      if (method === 'GET') res.setHeader('WWW-Authenticate', 'Basic realm="test-token-server"');
      return method === 'POST'
        ? send(401, { error: 'invalid_grant', error_description: 'bad credentials' })
        : send(401, { errors: [{ code: 'UNAUTHORIZED', message: 'incorrect username or password' }] });
    }
    if (service !== undefined && service !== opts.service) {
      requests.push({ method, scope, account, service, grantType, status: 400 });
      return send(400, { error: 'invalid_request', error_description: `unknown service ${service}` });
    }
    requests.push({ method, scope, account, service, grantType, status: 200 });
    const token = issue(account, scope);
    send(200, {
      token,
      access_token: token,
      expires_in: opts.reportedTtlSeconds ?? ttl,
      issued_at: new Date().toISOString(),
      ...(offline && account ? { refresh_token: refreshToken } : {}),
      ...(method === 'POST' ? { token_type: 'Bearer', scope: scope.join(' ') } : {}),
    });
  };

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' });
      res.end(JSON.stringify({ error: 'server_error', error_description: String(err) }));
    });
  });
  const port = await listenOnLoopback(server);
  let stopped: Promise<void> | undefined;
  return {
    url: `http://127.0.0.1:${port}`,
    issuedTokens,
    requests,
    refreshToken,
    stop: () =>
      (stopped ??= new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      })),
  };
}

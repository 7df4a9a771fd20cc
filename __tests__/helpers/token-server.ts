// A token server like Docker Hub's and GHCR's: checks Basic credentials (or an OAuth2 form), and issues
// RS256 JWTs that the Distribution registry verifies against the issuer certificate (x5c chain).
import { randomUUID, sign } from 'node:crypto';
import { createServer, type IncomingMessage, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { certDerBase64, type CertPair } from './certs.js';

export interface TokenServer {
  url: string;
  issuedTokens: string[];
  requests: Array<{ method: string; scope: string[]; account?: string }>;
  stop(): Promise<void>;
}

export interface TokenServerOptions {
  issuer: string;
  service: string;
  signer: CertPair;
  username: string;
  password: string;
  /** Refresh token accepted by the OAuth2 POST (an "identity token" in docker config terms). */
  refreshToken: string;
  ttlSeconds: number;
  /**
   * Distribution accepts tokens up to 60 s past their exp (clock-skew leeway); subtracting it makes
   * ttlSeconds the real lifetime, so a 1-second token really stops working after a second.
   */
  expiryLeewaySeconds?: number;
  /** The expires_in to announce, when it should differ from the real lifetime (to force a 401 mid-push). */
  reportedTtlSeconds?: number;
}

const b64url = (data: Buffer | string) => Buffer.from(data).toString('base64url');

function parseScope(scope: string): { type: string; name: string; actions: string[] } | undefined {
  const m = /^([a-z]+):(.+):([a-z*,]+)$/.exec(scope);
  return m ? { type: m[1] as string, name: m[2] as string, actions: (m[3] as string).split(',') } : undefined;
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const c of req) chunks.push(c as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}

export async function startTokenServer(opts: TokenServerOptions): Promise<TokenServer> {
  const issuedTokens: string[] = [];
  const requests: TokenServer['requests'] = [];

  const issue = (account: string | undefined, scopes: string[]): string => {
    const now = Math.floor(Date.now() / 1000);
    const access = account ? scopes.map(parseScope).filter((s): s is NonNullable<typeof s> => s !== undefined) : [];
    const header = { alg: 'RS256', typ: 'JWT', x5c: [certDerBase64(opts.signer.certPem)] };
    const claims = {
      iss: opts.issuer,
      sub: account ?? '',
      aud: opts.service,
      exp: Math.ceil(Date.now() / 1000) + opts.ttlSeconds - (opts.expiryLeewaySeconds ?? 0),
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

  const server: Server = createServer((req, res) => {
    void (async () => {
      const url = new URL(req.url ?? '/', 'http://token');
      const answer = (status: number, body: unknown) => {
        res.writeHead(status, { 'Content-Type': 'application/json' });
        res.end(JSON.stringify(body));
      };
      if (url.pathname !== '/token') return answer(404, { error: 'not found' });
      let account: string | undefined;
      let scopes: string[];
      if (req.method === 'POST') {
        const form = new URLSearchParams(await readBody(req));
        scopes = (form.get('scope') ?? '').split(' ').filter(Boolean);
        const grant = form.get('grant_type');
        if (grant === 'password' && form.get('username') === opts.username && form.get('password') === opts.password)
          account = opts.username;
        else if (grant === 'refresh_token' && form.get('refresh_token') === opts.refreshToken) account = opts.username;
        else {
          requests.push({ method: 'POST', scope: scopes });
          return answer(401, { error: 'invalid_grant' });
        }
      } else {
        scopes = url.searchParams.getAll('scope');
        const auth = req.headers.authorization;
        if (auth) {
          const [user, ...rest] = Buffer.from(auth.replace(/^Basic /i, ''), 'base64')
            .toString('utf8')
            .split(':');
          if (user !== opts.username || rest.join(':') !== opts.password) {
            requests.push({ method: 'GET', scope: scopes, account: user });
            return answer(401, { errors: [{ code: 'UNAUTHORIZED', message: 'bad credentials' }] });
          }
          account = user;
        }
      }
      requests.push({ method: req.method ?? 'GET', scope: scopes, account });
      const token = issue(account, scopes);
      answer(200, {
        token,
        access_token: token,
        expires_in: opts.reportedTtlSeconds ?? opts.ttlSeconds,
        issued_at: new Date().toISOString(),
      });
    })().catch(() => {
      res.statusCode = 500;
      res.end();
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  return {
    url: `http://127.0.0.1:${port}`,
    issuedTokens,
    requests,
    stop: () =>
      new Promise<void>((resolve) => {
        server.closeAllConnections();
        server.close(() => resolve());
      }),
  };
}

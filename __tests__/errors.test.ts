import type { Socket } from 'node:net';
import { describe, expect, it } from 'vitest';
import { MIN_BYTES_PER_SECOND, ProgressDeadline } from '../src/registry/deadline.js';
import { cleanRegistryText, parseErrorBody, unexpectedResponse } from '../src/registry/errors.js';
import type { HttpResponse } from '../src/registry/http.js';

const answer = (status: number, body: unknown, headers: Record<string, string> = { 'content-type': 'application/json' }): HttpResponse => ({
  status,
  headers,
  url: new URL('https://registry.example/v2/'),
  body: Buffer.from(typeof body === 'string' ? body : JSON.stringify(body)),
});
const errorsBody = (code: string, message: string, detail?: unknown) => ({ errors: [{ code, message, detail }] });

describe('registry words in an error', () => {
  it('drop ANSI escapes and control characters, so a registry cannot colour the log or start a workflow command', () => {
    const text = cleanRegistryText(
      '\u001b[31mred\u001b[0m\n::error::owned\r\n\u0007bell \t\u2028 \u001b]8;;http://x\u0007link\u001b]8;;\u0007',
    );
    expect(text).toBe('red ::error::owned bell link');
    // eslint-disable-next-line no-control-regex -- looking for control characters
    expect(text).not.toMatch(/[\u0000-\u001f\u007f-\u009f]/);
  });

  it('are cut at a bounded length', () => {
    expect(cleanRegistryText('x'.repeat(5000))).toHaveLength(300);
    const [d] = parseErrorBody(Buffer.from(JSON.stringify(errorsBody('C'.repeat(500), 'm'.repeat(5000), 'd'.repeat(5000)))));
    expect(d?.code.length).toBeLessThanOrEqual(64);
    expect(d?.message.length).toBeLessThanOrEqual(300);
    expect(d?.detail.length).toBeLessThanOrEqual(300);
  });

  it('include the detail: a string, Quay\'s {"message"}, or other JSON; nothing for an empty one', () => {
    const parse = (detail: unknown) => parseErrorBody(Buffer.from(JSON.stringify(errorsBody('X', 'm', detail))))[0]?.detail;
    expect(parse('blob upload unknown')).toBe('blob upload unknown');
    expect(parse({ message: 'manifest schema version not supported' })).toBe('manifest schema version not supported');
    expect(parse([{ Type: 'repository', Name: 'a/b', Action: 'push' }])).toBe('[{"Type":"repository","Name":"a/b","Action":"push"}]');
    expect(parse({})).toBe('');
    expect(parse(undefined)).toBe('');
  });

  it('are read only from an object with an errors list; members without a string code are skipped', () => {
    const parse = (body: unknown) => parseErrorBody(Buffer.from(JSON.stringify(body))).map((d) => d.code);
    expect(parse(null)).toEqual([]);
    expect(parse([{ code: 'X' }])).toEqual([]);
    expect(parse({ errors: { code: 'X' } })).toEqual([]);
    expect(parse({ errors: [null, 'DENIED', { code: 5 }, [{ code: 'Y' }], { code: 'NAME_UNKNOWN', message: 7 }] })).toEqual([
      'NAME_UNKNOWN',
    ]);
    expect(parseErrorBody(Buffer.from('<html>')).length).toBe(0);
  });

  it('show code, message and detail in the final error', () => {
    const err = unexpectedResponse(
      'putting the manifest',
      'r.example',
      answer(400, errorsBody('MANIFEST_INVALID', 'manifest invalid', { message: 'bad\nthing' })),
    );
    expect(err.message).toBe('putting the manifest on r.example failed: HTTP 400 MANIFEST_INVALID: manifest invalid (bad thing)');
    expect(err.codes).toEqual(['MANIFEST_INVALID']);
  });

  it('clean a body that is not a registry error too', () => {
    const err = unexpectedResponse('x', 'r.example', answer(502, 'upstream\n::warning::gone\u001b[2J', { 'content-type': 'text/plain' }));
    expect(err.message).toBe('x on r.example failed: HTTP 502 upstream ::warning::gone');
  });
});

describe('hints', () => {
  it('ECR NAME_UNKNOWN, on an ECR host: create the repository with the aws command', () => {
    const err = unexpectedResponse(
      'starting an upload',
      '123456789012.dkr.ecr.eu-west-1.amazonaws.com',
      answer(404, errorsBody('NAME_UNKNOWN', "The repository with name 'a/b' does not exist in the registry with id '123456789012'")),
    );
    expect(err.message).toMatch(
      /\(hint: ECR does not create repositories on push: create it first \(aws ecr create-repository --repository-name <name>\)\)$/,
    );
  });

  it('NAME_UNKNOWN elsewhere: create the repository first', () => {
    const err = unexpectedResponse(
      'starting an upload',
      'registry.example',
      answer(404, errorsBody('NAME_UNKNOWN', 'repository name not known to registry')),
    );
    expect(err.message).toMatch(/hint: the repository does not exist and this registry does not create repositories on push/);
  });

  it('ghcr.io DENIED: packages: write and Manage Actions access', () => {
    const err = unexpectedResponse(
      'starting an upload',
      'ghcr.io',
      answer(403, errorsBody('DENIED', 'installation not allowed to Write organization package')),
    );
    expect(err.message).toMatch(/hint: on ghcr\.io give the job `permissions: packages: write`/);
  });

  it('MANIFEST_INVALID names the artifact types only for an artifact, not for an image config', () => {
    const res = answer(400, errorsBody('MANIFEST_INVALID', 'manifest invalid'));
    const image = {
      config: { mediaType: 'application/vnd.oci.image.config.v1+json' },
      layers: [{ mediaType: 'application/vnd.oci.image.layer.v1.tar+gzip' }],
    };
    expect(unexpectedResponse('put', 'quay.io', res, { manifest: image }).message).not.toMatch(/ALLOWED_OCI_ARTIFACT_TYPES/);
    const artifact = {
      config: { mediaType: 'application/vnd.module.wasm.config.v1+json' },
      layers: [
        { mediaType: 'application/vnd.module.wasm.config.v1+json' },
        { mediaType: 'application/vnd.module.wasm.content.layer.v1+wasm' },
      ],
    };
    expect(unexpectedResponse('put', 'quay.io', res, { manifest: artifact }).message).toContain(
      'must allow config type application/vnd.module.wasm.config.v1+json with layer types application/vnd.module.wasm.config.v1+json, application/vnd.module.wasm.content.layer.v1+wasm',
    );
  });
});

describe('the progress deadline', () => {
  const fakeSocket = () => ({ bytesRead: 0, bytesWritten: 0 });
  it('gives 2 × request-timeout, plus 1 s per 32 KiB moved, over every hop of the request', () => {
    let now = 1000;
    const d = new ProgressDeadline(500, () => now);
    expect(d.remainingMs()).toBe(1000);
    const first = fakeSocket();
    first.bytesRead = 7; // from an earlier request on this kept-alive socket: not counted
    d.track(first as unknown as Socket);
    first.bytesRead += MIN_BYTES_PER_SECOND;
    now += 900;
    expect(d.remainingMs()).toBe(1100);
    d.settle();
    const second = fakeSocket();
    d.track(second as unknown as Socket);
    second.bytesWritten = MIN_BYTES_PER_SECOND / 2;
    expect(d.bytes).toBe(1.5 * MIN_BYTES_PER_SECOND);
    now += 1600;
    expect(d.remainingMs()).toBe(0);
    expect(d.describe()).toMatch(/made no real progress: 49152 bytes in 2\.5 s/);
  });
});

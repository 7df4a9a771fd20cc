import { describe, expect, it } from 'vitest';
import { RegistryError } from '../src/registry/errors.js';
import type { HttpResponse } from '../src/registry/http.js';
import { acceptedOffset, nextOffset, requiresMonolithic, resumeFloor, uploadLocation } from '../src/registry/upload.js';

const res = (headers: Record<string, string>, url = 'https://r.example/v2/a/blobs/uploads/'): HttpResponse => ({
  status: 202,
  headers,
  url: new URL(url),
  body: Buffer.alloc(0),
});

describe('upload decisions', () => {
  it('uploads to GAR and GCR in one PUT, and nowhere else by host', () => {
    for (const host of ['us-docker.pkg.dev', 'europe-west1-docker.pkg.dev:443', 'gcr.io', 'eu.gcr.io', 'US.GCR.IO']) {
      expect(requiresMonolithic(host), host).toBe(true);
    }
    for (const host of ['ghcr.io', 'registry-1.docker.io', '123.dkr.ecr.us-east-1.amazonaws.com', 'notgcr.io', 'pkg.dev.example.com']) {
      expect(requiresMonolithic(host), host).toBe(false);
    }
  });

  it('reads the committed range as the next offset', () => {
    expect(nextOffset(res({ range: '0-1048575' }))).toBe(1048576);
    expect(nextOffset(res({ range: 'bytes=0-9' }))).toBe(10);
    expect(nextOffset(res({ range: '0-0' }))).toBe(0);
    expect(nextOffset(res({}))).toBeUndefined();
    expect(nextOffset(res({ range: '5-9' }))).toBeUndefined();
  });

  it('carries on from the bytes the registry accepted, or from its own count when the Range does not move forward', () => {
    // Sent 100..199: the registry took all of it, part of it, or reports a stale or absurd Range.
    expect(acceptedOffset(res({ range: '0-199' }), 100, 199)).toBe(200);
    expect(acceptedOffset(res({ range: '0-149' }), 100, 199)).toBe(150);
    expect(acceptedOffset(res({ range: '0-99' }), 100, 199)).toBe(200); // ECR: stuck at the first part's end
    expect(acceptedOffset(res({ range: '0-49' }), 100, 199)).toBe(200);
    expect(acceptedOffset(res({ range: '0-999' }), 100, 199)).toBe(200);
    expect(acceptedOffset(res({}), 100, 199)).toBe(200);
  });

  it('resumes only from a committed prefix ECR would accept as a non-final part', () => {
    const url = new URL('https://r.example/u');
    const MiB = 1024 * 1024;
    // One streamed PATCH: a prefix under 5 MiB is uploaded again rather than kept.
    expect(resumeFloor({ url, minChunk: 0 }, {}, 70 * MiB)).toBe(5 * MiB);
    // The registry's own chunk bounds win: announced chunks under 5 MiB, or a larger minimum.
    expect(resumeFloor({ url, minChunk: 0, maxChunk: MiB }, {}, 70 * MiB)).toBe(MiB);
    expect(resumeFloor({ url, minChunk: 8 * MiB }, {}, 70 * MiB)).toBe(8 * MiB);
    expect(resumeFloor({ url, minChunk: 0 }, { maxChunk: 512 * 1024 }, 70 * MiB)).toBe(512 * 1024);
  });

  it('follows relative and absolute http(s) upload Locations, keeping the query', () => {
    expect(uploadLocation(res({ location: '/v2/a/blobs/uploads/u?_state=x' }), 'w', 'r.example')?.href).toBe(
      'https://r.example/v2/a/blobs/uploads/u?_state=x',
    );
    expect(uploadLocation(res({ location: 'https://storage.example/up?sig=1' }), 'w', 'r.example')?.host).toBe('storage.example');
    expect(uploadLocation(res({}), 'w', 'r.example')).toBeUndefined();
  });

  it('refuses a file: or other non-http upload Location with an error naming the registry', () => {
    for (const location of ['file:///etc/passwd', 'ftp://r.example/x', 'data:text/plain,hi']) {
      let error: unknown;
      try {
        uploadLocation(res({ location }), 'starting an upload', 'r.example');
      } catch (err) {
        error = err;
      }
      expect(error).toBeInstanceOf(RegistryError);
      expect((error as Error).message).toMatch(
        /^starting an upload on r\.example: the registry sent an upload Location with the scheme [a-z]+: \(not http or https\)/,
      );
    }
  });
});

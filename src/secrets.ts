// Masking for the CLI, as the GitHub runner masks what the action registers with `core.setSecret`: each
// secret is replaced by `***` wherever it appears, also base64-encoded, alone or inside a longer encoded
// string (the Basic `user:password` header, a docker config `auth` entry).

/** Encoded forms shorter than this would mask innocent text. */
const MIN_FORM_LENGTH = 6;

/**
 * The base64 text that encodes `secret` wherever it sits in a longer string: for each of the three
 * alignments, the whole 3-byte groups that hold only the secret's bytes, plus the secret's own encodings.
 */
function base64Forms(secret: string): string[] {
  const bytes = Buffer.from(secret, 'utf8');
  const forms = [bytes.toString('base64'), bytes.toString('base64url')];
  for (let skip = 0; skip < 3; skip++) {
    const whole = Math.floor((bytes.length - skip) / 3) * 3;
    if (whole <= 0) continue;
    const aligned = bytes.subarray(skip, skip + whole);
    forms.push(aligned.toString('base64'), aligned.toString('base64url'));
  }
  return forms.map((f) => f.replace(/=+$/, '')).filter((f) => f.length >= MIN_FORM_LENGTH);
}

export class SecretMasker {
  /** Longest first, so that a secret is masked whole before any part of it. */
  private forms: string[] = [];

  add(secret: string): void {
    const value = secret.trim();
    if (value === '') return;
    const forms = new Set([...this.forms, value, ...base64Forms(value)]);
    this.forms = [...forms].sort((a, b) => b.length - a.length);
  }

  mask(text: string): string {
    let out = text;
    for (const form of this.forms) out = out.replaceAll(form, '***');
    return out;
  }
}

type Write = (chunk: unknown, ...rest: unknown[]) => boolean;

/**
 * Passes every later write to `streams` through the masker, so that nothing the process prints (logs,
 * outputs, errors, usage) can show a secret, whichever code path printed it.
 */
export function maskWrites(masker: SecretMasker, streams: NodeJS.WritableStream[]): void {
  for (const stream of streams) {
    const write = stream.write.bind(stream) as Write;
    const masked: Write = (chunk, ...rest) => {
      if (typeof chunk === 'string') return write(masker.mask(chunk), ...rest);
      if (chunk instanceof Uint8Array) return write(masker.mask(Buffer.from(chunk).toString('utf8')), ...rest);
      return write(chunk, ...rest);
    };
    stream.write = masked;
  }
}

import { describe, expect, it } from 'vitest';
import { printable } from '../src/log-text.js';
import { SecretMasker } from '../src/secrets.js';

describe('printable', () => {
  it.each([
    ['plain text stays', 'pushed ghcr.io/a/b:1', 'pushed ghcr.io/a/b:1'],
    ['a newline cannot start a command', 'x\n::add-mask::y', 'x\\n::add-mask::y'],
    ['CR and CRLF too', 'x\r::warning::y\r\n', 'x\\r::warning::y\\r\\n'],
    ['a leading command is defused', '  ::stop-commands::t', '  \\x3a:stop-commands::t'],
    ['the older ##[ form anywhere', 'a ##[add-mask]b', 'a ##\\x5badd-mask]b'],
    ['ANSI escapes are shown, not sent', '\u001b[31mred\u001b[0m', '\\x1b[31mred\\x1b[0m'],
    ['C1 controls and line separators', '\u009b2J\u2028x', '\\x9b2J\\u2028x'],
    ['tabs stay', 'a\tb', 'a\tb'],
  ])('%s', (_name, input, output) => {
    expect(printable(input)).toBe(output);
  });
});

describe('SecretMasker', () => {
  it('masks a secret, its base64, and the Basic header of any user name', () => {
    const password = 'Sup3r-secret-pw!';
    const masker = new SecretMasker();
    masker.add(password);
    expect(masker.mask(`pw ${password} end`)).toBe('pw *** end');
    expect(masker.mask(Buffer.from(password).toString('base64'))).toMatch(/^\*\*\*=*$/);
    // Whatever the user name's length, the password's bytes sit at one of three base64 alignments.
    for (const user of ['a', 'ab', 'abc', 'oauth2accesstoken']) {
      const header = Buffer.from(`${user}:${password}`).toString('base64');
      const masked = masker.mask(`Authorization: Basic ${header}`);
      expect(masked).toContain('***');
      // What is left visible decodes to at most two bytes of the password at either end.
      const visible = masked.replace('Authorization: Basic ', '').split('***').join('');
      expect(visible.length).toBeLessThanOrEqual(Buffer.from(`${user}:`).toString('base64').length + 8);
    }
  });

  it('ignores empty secrets and masks the longest form first', () => {
    const masker = new SecretMasker();
    masker.add('   ');
    expect(masker.mask('nothing to hide')).toBe('nothing to hide');
    masker.add('token');
    masker.add('token-and-more');
    expect(masker.mask('token-and-more / token')).toBe('*** / ***');
  });
});

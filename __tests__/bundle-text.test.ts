// The bundles are ASCII text: V8 keeps a source with one non-ASCII character as two-byte text, which takes
// a third longer to parse on every start. `npm run build` escapes them (scripts/ascii-bundle.mjs).
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { runInThisContext } from 'node:vm';
import { describe, expect, it } from 'vitest';
import { asciiOnly } from '../scripts/ascii-bundle.mjs';

const DIST = join(import.meta.dirname, '..', 'dist');

describe('the bundles', () => {
  const files = readdirSync(DIST, { recursive: true, encoding: 'utf8' }).filter((f) => f.endsWith('.js'));

  it.each(files)('%s holds only ASCII characters', (file) => {
    const text = readFileSync(join(DIST, file), 'utf8');
    expect(text.match(/[\u0080-\uffff]/g) ?? []).toEqual([]);
  });

  it('escapes a character so that it means what it meant, in strings, templates and regular expressions', () => {
    const source = 'const s = "❌ …"; const t = `${s} → ×`; const r = /[À-ÖØ]/; return [s, t, r.test("Ø"), r.test("×")];';
    const escaped = asciiOnly(source);
    const run = (code: string): unknown => runInThisContext(`(() => { ${code} })()`);
    expect(escaped).not.toMatch(/[\u0080-\uffff]/);
    expect(run(source)).toEqual(['❌ …', '❌ … → ×', true, false]);
    expect(run(escaped)).toEqual(run(source));
  });
});

// Makes text safe to print in a workflow log or a terminal. Paths, tags, annotations and registry error
// messages come from users and servers: printed raw, a newline followed by `::` would start a workflow
// command (`::add-mask::`, `::stop-commands::`), `##[` anywhere in a line is the runner's older command
// form, and ANSI escapes would repaint the terminal.

/** C0 and C1 control characters (tab excepted), DEL, and the Unicode line and paragraph separators. */
// eslint-disable-next-line no-control-regex
export const CONTROL = /[\u0000-\u0008\u000a-\u001f\u007f-\u009f\u2028\u2029]/g;

function escapeControl(c: string): string {
  if (c === '\n') return '\\n';
  if (c === '\r') return '\\r';
  const code = c.charCodeAt(0);
  return code > 0xff ? `\\u${code.toString(16).padStart(4, '0')}` : `\\x${code.toString(16).padStart(2, '0')}`;
}

/**
 * One log line that cannot start a workflow command or carry a terminal escape: control characters
 * (newlines included) are shown as `\n`, `\x1b`, ...; a leading `::` and any `##[` are defused by
 * escaping one character, so the text stays readable.
 */
export function printable(text: string): string {
  return text
    .replace(CONTROL, escapeControl)
    .replace(/^(\s*)::/, '$1\\x3a:')
    .replaceAll('##[', '##\\x5b');
}

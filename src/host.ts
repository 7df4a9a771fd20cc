// What the job needs from where it runs: the GitHub runner (via @actions/core) or a terminal (the CLI).
import { printable } from './log-text.js';

export interface Host {
  info(message: string): void;
  warning(message: string, title?: string): void;
  /** Hide a value from every later log line. */
  setSecret(value: string): void;
  setOutput(name: string, value: string): void;
  /** Append Markdown to the job summary; hosts without one ignore it. */
  writeSummary(markdown: string): Promise<void>;
  group<T>(name: string, fn: () => Promise<T>): Promise<T>;
}

/**
 * The host with every log line made printable: messages carry paths, tags and registry answers, none of
 * which may start a workflow command or send a terminal escape. Both hosts are wrapped in it.
 */
export function printableHost(host: Host): Host {
  return {
    ...host,
    info: (m) => host.info(printable(m)),
    warning: (m, title) => host.warning(printable(m), title === undefined ? undefined : printable(title)),
    group: (name, fn) => host.group(printable(name), fn),
  };
}

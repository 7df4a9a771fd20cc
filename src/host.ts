// What the job needs from where it runs: the GitHub runner (via @actions/core) or a terminal (the CLI).
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

// How long one request may take. The idle timeout alone never fires while a server trickles a byte now and
// then, so a request also has a deadline: a grace of 2 × the request timeout, extended by every byte moved at
// the minimum rate. A transfer making real progress may take as long as its size needs; one that does not
// ends within about 2 × request-timeout, as a timeout the retry policy counts as a failed attempt.
import type { Socket } from 'node:net';

/** The slowest transfer still counted as progress: 32 KiB/s (256 kbit/s). */
export const MIN_BYTES_PER_SECOND = 32 * 1024;

export class ProgressDeadline {
  private readonly started: number;
  private carried = 0;
  private current: () => number = () => 0;

  constructor(
    readonly timeoutMs: number,
    private readonly now: () => number = Date.now,
  ) {
    this.started = now();
  }

  /** Bytes sent and received so far, over every hop of the request. */
  get bytes(): number {
    return this.carried + this.current();
  }

  /** Counts the bytes this socket moves from now on (a kept-alive socket has counted earlier requests). */
  track(socket: Socket): void {
    const base = socket.bytesRead + socket.bytesWritten;
    this.current = () => socket.bytesRead + socket.bytesWritten - base;
  }

  /** Ends a hop (a redirect follows): its bytes stay counted. */
  settle(): void {
    this.carried = this.bytes;
    this.current = () => 0;
  }

  /** Milliseconds left before the request counts as making no progress (0 or less: it does now). */
  remainingMs(): number {
    return this.started + 2 * this.timeoutMs + (this.bytes / MIN_BYTES_PER_SECOND) * 1000 - this.now();
  }

  describe(): string {
    const seconds = ((this.now() - this.started) / 1000).toFixed(1);
    return (
      `made no real progress: ${this.bytes} bytes in ${seconds} s (a request gets 2 × request-timeout, ` +
      `plus 1 s per ${MIN_BYTES_PER_SECOND / 1024} KiB it moves)`
    );
  }
}

/** Calls `expired` once the deadline passes; the returned function stops watching. */
export function watchDeadline(deadline: ProgressDeadline, expired: () => void): () => void {
  let timer: NodeJS.Timeout | undefined;
  const check = () => {
    const left = deadline.remainingMs();
    if (left <= 0) {
      timer = undefined;
      expired();
    } else {
      timer = setTimeout(check, Math.ceil(left));
    }
  };
  check();
  return () => clearTimeout(timer);
}

/** What a durable queue accepts beside the job itself. */
export interface EnqueueOptions {
  /**
   * A stable id for the job (for example the run id). Enqueueing the same id twice does the work
   * once: the embedded queue stores one row, the Pub/Sub worker drops the later delivery.
   */
  id?: string;
}

/** Exponential backoff from `baseMs` after the given failed attempt (1-based), never above `capMs`. */
export function backoffMs(attempt: number, baseMs: number, capMs: number): number {
  return Math.min(capMs, baseMs * 2 ** Math.max(0, attempt - 1));
}

/** An error as one line for a log or a dead-letter record, never a stack trace. */
export function errorLine(error: unknown): string {
  const text = error instanceof Error ? error.message : String(error);
  return text.length > 500 ? `${text.slice(0, 497)}...` : text;
}

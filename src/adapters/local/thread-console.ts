/**
 * A worker thread's `console` writes straight to the process's stdout and stderr, into a CLI's JSON
 * report. The encoder thread keeps what the libraries print instead (TensorFlow.js notices), so the
 * last lines can go with an error.
 */

/** Replaces `target`'s printing methods with ones that keep the last `lines` lines, returned live. */
export function keepConsoleOutput(target: Console, lines = 3): string[] {
  const printed: string[] = [];
  const keep = (...args: unknown[]): void => {
    printed.push(args.map(String).join(' ').slice(0, 300));
    if (printed.length > lines) printed.shift();
  };
  for (const level of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) target[level] = keep;
  return printed;
}

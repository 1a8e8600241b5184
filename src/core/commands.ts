/** A `/rerun-eval` request parsed from a PR comment. */
export interface RerunCommand {
  suites: string[];
  noCache: boolean;
}

export type ParsedCommand = { kind: 'rerun'; command: RerunCommand } | { kind: 'invalid'; message: string } | { kind: 'none' };

const COMMAND = '/rerun-eval';

/**
 * Finds `/rerun-eval [suite=NAME ...] [--no-cache]` at the start of a line, outside quoted replies
 * and code blocks. Anything else in the comment is ignored; an unknown option is explained.
 */
export function parseCommand(body: string): ParsedCommand {
  let inFence = false;
  for (const raw of body.split(/\r?\n/)) {
    const line = raw.trim();
    if (/^(```|~~~)/.test(line)) {
      inFence = !inFence;
      continue;
    }
    if (inFence || line.startsWith('>')) continue;
    const words = line.split(/\s+/);
    if (words[0] !== COMMAND) continue;
    const command: RerunCommand = { suites: [], noCache: false };
    for (const word of words.slice(1)) {
      const suite = /^suite=([A-Za-z0-9_.-]+)$/.exec(word);
      if (suite) command.suites.push(suite[1]!);
      else if (word === '--no-cache') command.noCache = true;
      else return { kind: 'invalid', message: `\`${COMMAND}\` does not understand \`${word.replace(/`/g, "'").slice(0, 40)}\`; it takes \`suite=<name>\` (repeatable) and \`--no-cache\`.` };
    }
    return { kind: 'rerun', command };
  }
  return { kind: 'none' };
}

/**
 * Child processes of the bench: the fake server and the per-scenario engine processes. Every child
 * is tracked and killed when the bench ends, however it ends.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';

/** Set for a bundled copy of the bench, which lives outside the project. */
export const PROJECT_ROOT = process.env.BENCH_PROJECT_ROOT ?? fileURLToPath(new URL('..', import.meta.url));
export const RESULT_PREFIX = 'BENCH_RESULT ';

const children = new Set<ChildProcess>();

/**
 * `node --import tsx <script>`: TypeScript without a build, in a process of its own; or plain
 * `node <script>` for a bundled `.mjs`.
 */
function spawnTs(script: string, args: string[], env: NodeJS.ProcessEnv = {}): ChildProcess {
  const loader = script.endsWith('.mjs') ? [] : ['--import', 'tsx'];
  const child = spawn(process.execPath, [...loader, script, ...args], {
    cwd: PROJECT_ROOT,
    env: { ...process.env, BENCH_PROJECT_ROOT: PROJECT_ROOT, ...env },
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.add(child);
  child.once('exit', () => children.delete(child));
  return child;
}

export function killChild(child: ChildProcess): void {
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  children.delete(child);
}

export function killAllChildren(): void {
  for (const child of [...children]) killChild(child);
}

let guarded = false;
/** Kills every child on exit, on Ctrl-C and on an uncaught failure. */
export function guardChildren(): void {
  if (guarded) return;
  guarded = true;
  process.on('exit', killAllChildren);
  for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
    process.on(signal, () => {
      killAllChildren();
      process.exit(130);
    });
  }
}

export interface ServerChild {
  url: string;
  stop(): Promise<void>;
}

export async function spawnFakeServer(args: string[] = [], timeoutMs = 30_000): Promise<ServerChild> {
  guardChildren();
  const child = spawnTs('bench/fake-server-process.ts', args);
  const lines = createInterface({ input: child.stdout! });
  try {
    const url = await new Promise<string>((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`the fake server did not start within ${timeoutMs} ms`)), timeoutMs);
      child.once('exit', (code, signal) => reject(new Error(`the fake server exited before it was ready (${signal ?? code})`)));
      child.once('error', reject);
      lines.once('line', (line) => {
        clearTimeout(timer);
        try {
          const ready = JSON.parse(line) as { ready?: boolean; url?: string };
          if (ready.ready && ready.url) resolve(ready.url);
          else reject(new Error(`unexpected first line from the fake server: ${line}`));
        } catch {
          reject(new Error(`unexpected first line from the fake server: ${line}`));
        }
      });
    });
    lines.close();
    child.stdout!.resume();
    return {
      url,
      stop: async () => {
        if (child.exitCode !== null || child.signalCode !== null) return;
        const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
        child.kill('SIGTERM');
        const timer = setTimeout(() => killChild(child), 3_000);
        await exited;
        clearTimeout(timer);
        children.delete(child);
      },
    };
  } catch (error) {
    killChild(child);
    throw error;
  }
}

/**
 * Runs `bench/engine-bench.ts` (or its bundle) with `args` in a fresh process and returns the JSON
 * it prints after {@link RESULT_PREFIX}. Its other output lines are passed through, indented.
 */
export async function runBenchChild<T>(args: string[], timeoutMs: number, script = 'bench/engine-bench.ts'): Promise<T> {
  guardChildren();
  const child = spawnTs(script, args);
  const lines = createInterface({ input: child.stdout! });
  const closed = new Promise<void>((resolve) => lines.once('close', resolve));
  let result: T | undefined;
  lines.on('line', (line) => {
    if (line.startsWith(RESULT_PREFIX)) result = JSON.parse(line.slice(RESULT_PREFIX.length)) as T;
    else process.stdout.write(`    ${line}\n`);
  });
  const outcome = await new Promise<{ code: number | null; signal: NodeJS.Signals | null; timedOut: boolean }>((resolve, reject) => {
    const timer = setTimeout(() => {
      killChild(child);
      resolve({ code: null, signal: 'SIGKILL', timedOut: true });
    }, timeoutMs);
    child.once('error', (error) => {
      clearTimeout(timer);
      reject(error);
    });
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, timedOut: false });
    });
  });
  await closed;
  if (outcome.timedOut) throw new Error(`scenario ${args.join(' ')} did not finish within ${timeoutMs / 1000} s and was killed`);
  if (result === undefined) throw new Error(`scenario ${args.join(' ')} exited (${outcome.signal ?? outcome.code}) without a result`);
  return result;
}

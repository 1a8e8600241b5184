/**
 * Runs the fake OpenAI-compatible server as a process of its own:
 *
 *   node --import tsx bench/fake-server-process.ts [--port N] [--latency-ms 50] [--rate-429 0.1]
 *        [--latency-429-ms 0] [--retry-after-ms 100] [--embedding-latency-ms 50] [--seed 1]
 *
 * Each option may also come from the environment (BENCH_LATENCY_MS, BENCH_RATE_429, …). Once
 * listening it prints one JSON line, `{"ready":true,"port":…,"url":…}`, on stdout. It stops on
 * SIGTERM/SIGINT, when the process that started it goes away, and (with BENCH_STDIN_LIFELINE=1)
 * when its stdin closes: it never outlives the bench.
 */
import { DEFAULT_CONFIG, startFakeOpenAiServer, type FakeServerConfig } from './fake-openai-server.js';

const OPTIONS: Record<string, keyof FakeServerConfig> = {
  'latency-ms': 'latencyMs',
  'rate-429': 'rate429',
  'latency-429-ms': 'latency429Ms',
  'retry-after-ms': 'retryAfterMs',
  'embedding-latency-ms': 'embeddingLatencyMs',
  seed: 'seed',
};

function readOptions(argv: string[], env: NodeJS.ProcessEnv): { config: Partial<FakeServerConfig>; port: number } {
  const config: Partial<FakeServerConfig> = {};
  let port = Number(env.BENCH_PORT ?? 0);
  for (const [flag, key] of Object.entries(OPTIONS)) {
    const fromEnv = env[`BENCH_${flag.toUpperCase().replace(/-/g, '_')}`];
    if (fromEnv !== undefined) config[key] = number(fromEnv, flag);
  }
  for (let i = 0; i < argv.length; i++) {
    const [flag, inline] = argv[i]!.replace(/^--/, '').split('=', 2) as [string, string | undefined];
    const value = inline ?? argv[++i];
    if (value === undefined) throw new Error(`--${flag} needs a value`);
    if (flag === 'port') port = number(value, flag);
    else if (flag in OPTIONS) config[OPTIONS[flag]!] = number(value, flag);
    else throw new Error(`unknown option --${flag}; known: --port, ${Object.keys(OPTIONS).map((o) => `--${o}`).join(', ')}`);
  }
  return { config, port };
}

function number(text: string, flag: string): number {
  const value = Number(text);
  if (!Number.isFinite(value) || value < 0) throw new Error(`--${flag} must be a non-negative number, got "${text}"`);
  return value;
}

const { config, port } = readOptions(process.argv.slice(2), process.env);
const server = await startFakeOpenAiServer(config, port);
process.stdout.write(`${JSON.stringify({ ready: true, port: server.port, url: server.url, config: { ...DEFAULT_CONFIG, ...config } })}\n`);

let stopping = false;
async function stop(code: number): Promise<void> {
  if (stopping) return;
  stopping = true;
  await server.close();
  process.exit(code);
}
process.on('SIGTERM', () => void stop(0));
process.on('SIGINT', () => void stop(0));
// An orphan is re-parented: its parent id changes.
const parent = process.ppid;
setInterval(() => {
  if (process.ppid !== parent) void stop(0);
}, 500).unref();
if (process.env.BENCH_STDIN_LIFELINE === '1') {
  process.stdin.on('end', () => void stop(0));
  process.stdin.on('error', () => void stop(0));
  process.stdin.resume();
}

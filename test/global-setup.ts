import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/**
 * Starts the official Firestore and Pub/Sub emulators on free loopback ports, in their own process
 * groups (gcloud's Java child outlives gcloud, so the whole group is killed on stop).
 */
interface RunningEmulators {
  firestoreHost: string;
  pubsubHost: string;
  pids: number[];
}

const EMULATOR_PROJECT = 'llmops-gate-test';

function gcloudAvailable(): boolean {
  const probe = spawnSync('gcloud', ['--version'], { stdio: 'ignore', timeout: 20_000 });
  return probe.status === 0;
}

async function startEmulators(): Promise<RunningEmulators> {
  const [firestorePort, pubsubPort] = [await freePort(), await freePort()];
  const firestoreHost = `127.0.0.1:${firestorePort}`;
  const pubsubHost = `127.0.0.1:${pubsubPort}`;
  const firestore = launch(['emulators', 'firestore', 'start', `--host-port=${firestoreHost}`]);
  const pubsub = launch(['beta', 'emulators', 'pubsub', 'start', `--host-port=${pubsubHost}`, `--project=${EMULATOR_PROJECT}`]);
  const running = { firestoreHost, pubsubHost, pids: [firestore.pid!, pubsub.pid!] };
  try {
    await Promise.all([waitUntilReady(firestoreHost, firestore, 'Firestore'), waitUntilReady(pubsubHost, pubsub, 'Pub/Sub')]);
  } catch (error) {
    stopEmulators(running.pids);
    throw error;
  }
  return running;
}

function stopEmulators(pids: readonly number[]): void {
  for (const pid of pids) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // Already gone.
    }
  }
}

function launch(args: string[]): ChildProcess & { output: string } {
  const child = spawn('gcloud', args, { detached: true, stdio: ['ignore', 'pipe', 'pipe'] }) as ChildProcess & { output: string };
  child.output = '';
  const keep = (chunk: Buffer) => {
    child.output = (child.output + chunk.toString()).slice(-4_000);
  };
  child.stdout?.on('data', keep);
  child.stderr?.on('data', keep);
  child.unref();
  return child;
}

async function waitUntilReady(host: string, child: ChildProcess & { output: string }, name: string): Promise<void> {
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    if (child.exitCode !== null) throw new Error(`the ${name} emulator exited (${child.exitCode}): ${child.output.slice(-800)}`);
    try {
      const response = await fetch(`http://${host}/`);
      if (response.ok) return;
    } catch {
      // Not listening yet.
    }
    await new Promise((resolve) => setTimeout(resolve, 250));
  }
  throw new Error(`the ${name} emulator did not answer on ${host} within 60 s: ${child.output.slice(-800)}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.unref();
    server.on('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const address = server.address();
      server.close(() => (typeof address === 'object' && address ? resolve(address.port) : reject(new Error('no port'))));
    });
  });
}


/**
 * Starts the Firestore and Pub/Sub emulators once for the whole run, unless the environment already
 * points at running ones. Machines without gcloud (Debian 13 builds) run without them, and the
 * teardown says loudly what was not tested; a machine with gcloud that cannot start them fails.
 */
export default async function globalSetup(): Promise<void> {
  process.env.METADATA_SERVER_DETECTION = 'none';
  process.env.GCLOUD_PROJECT = process.env.GCLOUD_PROJECT ?? EMULATOR_PROJECT;
  if (process.env.FIRESTORE_EMULATOR_HOST && process.env.PUBSUB_EMULATOR_HOST) return;
  if (!gcloudAvailable()) {
    process.env.LLMOPS_EMULATORS_MISSING = '1';
    return;
  }
  const running = await startEmulators();
  process.env.FIRESTORE_EMULATOR_HOST = running.firestoreHost;
  process.env.PUBSUB_EMULATOR_HOST = running.pubsubHost;
  process.env.LLMOPS_EMULATOR_PIDS = running.pids.join(',');
}

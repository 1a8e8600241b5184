/**
 * The official Firestore emulator for the state bench, started as the tests start it
 * (test/global-setup.ts) but alone (no Pub/Sub): `gcloud emulators firestore start` on a free
 * loopback port, in a process group of its own, killed as a group (gcloud's Java child outlives
 * gcloud otherwise) when the bench stops, however it stops.
 */
import { spawn, spawnSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { createServer } from 'node:net';

export interface Emulator {
  /** `127.0.0.1:PORT`, also put in FIRESTORE_EMULATOR_HOST. */
  host: string;
  /** True when this process started it (and stops it); false for one named by FIRESTORE_EMULATOR_HOST. */
  ownedHere: boolean;
  /** CPU seconds used so far by the emulator's processes (its process group), when known. */
  cpuSeconds(): number | undefined;
  stop(): void;
}

export function gcloudAvailable(): boolean {
  return spawnSync('gcloud', ['--version'], { stdio: 'ignore', timeout: 20_000 }).status === 0;
}

/**
 * Uses FIRESTORE_EMULATOR_HOST when set; otherwise starts an emulator when gcloud is installed.
 * Returns undefined when there is none to use.
 */
export async function firestoreEmulator(timeoutMs = 60_000): Promise<Emulator | undefined> {
  process.env.METADATA_SERVER_DETECTION = 'none';
  const existing = process.env.FIRESTORE_EMULATOR_HOST;
  if (existing) return { host: existing, ownedHere: false, cpuSeconds: () => undefined, stop: () => undefined };
  if (!gcloudAvailable()) return undefined;
  const host = `127.0.0.1:${await freePort()}`;
  const child = spawn('gcloud', ['emulators', 'firestore', 'start', `--host-port=${host}`], { detached: true, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  const keep = (chunk: Buffer) => {
    output = (output + chunk.toString()).slice(-4_000);
  };
  child.stdout.on('data', keep);
  child.stderr.on('data', keep);
  child.unref();
  const group = child.pid!;
  let stopped = false;
  const stop = () => {
    if (stopped) return;
    stopped = true;
    try {
      process.kill(-group, 'SIGKILL');
    } catch {
      // Already gone.
    }
  };
  process.on('exit', stop);
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`the Firestore emulator exited (${child.exitCode}): ${output.slice(-800)}`);
      if (Date.now() > deadline) throw new Error(`the Firestore emulator did not answer on ${host} within ${timeoutMs / 1000} s: ${output.slice(-800)}`);
      try {
        if ((await fetch(`http://${host}/`)).ok) break;
      } catch {
        // Not listening yet.
      }
      await new Promise((resolve) => setTimeout(resolve, 250));
    }
  } catch (error) {
    stop();
    throw error;
  }
  process.env.FIRESTORE_EMULATOR_HOST = host;
  return { host, ownedHere: true, cpuSeconds: () => groupCpuSeconds(group), stop };
}

/** utime + stime of every process in the group, from /proc (Linux); undefined elsewhere. */
function groupCpuSeconds(group: number): number | undefined {
  let ticks = 0;
  try {
    for (const entry of readdirSync('/proc')) {
      if (!/^\d+$/.test(entry)) continue;
      let stat: string;
      try {
        stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      } catch {
        continue;
      }
      // Fields after the command name (which may hold spaces) start at field 3 (state).
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      if (Number(fields[2]) !== group) continue; // field 5: pgrp
      ticks += Number(fields[11]) + Number(fields[12]); // fields 14 and 15: utime, stime
    }
  } catch {
    return undefined;
  }
  return ticks / 100; // USER_HZ is 100 on Linux.
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

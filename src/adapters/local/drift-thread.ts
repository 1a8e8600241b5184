/**
 * The drift thread's entry point: computes the drift panel of each message it is sent, the vectors
 * arriving as one Float32Array (moved, not copied), main's rows first, and answers with the result
 * or the error's message.
 */
import { parentPort } from 'node:worker_threads';
import { pooledDrift, type DriftOptions, type DriftResult } from '../../core/stats/divergence.js';
import type { ThreadReply } from './thread-client.js';

export interface DriftRequest {
  id: number;
  /** Row after row, `dimensions` values each: `baseCount` rows of main's, then the PR's. */
  pooled: Float32Array;
  baseCount: number;
  dimensions: number;
  options: DriftOptions;
}

export type DriftReply = ThreadReply<{ result: DriftResult | null }>;

const port = parentPort;
if (!port) throw new Error('drift-thread runs as a worker thread only');

port.on('message', ({ id, pooled, baseCount, dimensions, options }: DriftRequest) => {
  try {
    const result = pooledDrift(pooled, baseCount, dimensions, options) ?? null;
    port.postMessage({ id, result } satisfies DriftReply);
  } catch (error) {
    port.postMessage({ id, error: error instanceof Error ? error.message : String(error) } satisfies DriftReply);
  }
});

/**
 * The drift thread's entry point: computes the drift panel of each message it is sent, the two sets
 * of vectors arriving as one Float32Array each (moved, not copied), and answers with the result or
 * the error's message.
 */
import { parentPort } from 'node:worker_threads';
import { embeddingDrift, type DriftOptions, type DriftResult } from '../../core/stats/divergence.js';
import type { ThreadReply } from './thread-client.js';

export interface DriftRequest {
  id: number;
  /** Row after row, `dimensions` values each. */
  base: Float32Array;
  head: Float32Array;
  dimensions: number;
  options: DriftOptions;
}

export type DriftReply = ThreadReply<{ result: DriftResult | null }>;

const port = parentPort;
if (!port) throw new Error('drift-thread runs as a worker thread only');

port.on('message', ({ id, base, head, dimensions, options }: DriftRequest) => {
  try {
    const result = embeddingDrift(rows(base, dimensions), rows(head, dimensions), options) ?? null;
    port.postMessage({ id, result } satisfies DriftReply);
  } catch (error) {
    port.postMessage({ id, error: error instanceof Error ? error.message : String(error) } satisfies DriftReply);
  }
});

function rows(flat: Float32Array, dimensions: number): Float32Array[] {
  const out: Float32Array[] = [];
  for (let offset = 0; offset < flat.length; offset += dimensions) out.push(flat.subarray(offset, offset + dimensions));
  return out;
}

/**
 * The encoder thread's entry point: embeds the texts of each message it is sent and answers with
 * the vectors as one Float32Array (moved, not copied), or with the error's message.
 */
import { parentPort } from 'node:worker_threads';
import { OFFLINE_EMBEDDING_DIMENSIONS, embedSentences } from './sentence-encoder.js';

export interface EncodeRequest {
  id: number;
  texts: string[];
}

export type EncodeReply = { id: number; vectors: Float32Array } | { id: number; error: string };

const port = parentPort;
if (!port) throw new Error('offline-embedder-thread runs as a worker thread only');

// The thread's console would write straight to the process's stdout and stderr, into a CLI's JSON
// report: what the libraries print (TensorFlow.js notices) is kept instead, and the last lines go
// with an error.
const printed: string[] = [];
const keep = (...args: unknown[]): void => {
  printed.push(args.map(String).join(' ').slice(0, 300));
  if (printed.length > 3) printed.shift();
};
for (const level of ['log', 'info', 'warn', 'error', 'debug', 'trace'] as const) console[level] = keep;

port.on('message', ({ id, texts }: EncodeRequest) => {
  embedSentences(texts).then(
    (vectors) => {
      const flat = new Float32Array(vectors.length * OFFLINE_EMBEDDING_DIMENSIONS);
      vectors.forEach((vector, row) => flat.set(vector, row * OFFLINE_EMBEDDING_DIMENSIONS));
      port.postMessage({ id, vectors: flat } satisfies EncodeReply, [flat.buffer]);
    },
    (error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      port.postMessage({ id, error: printed.length > 0 ? `${message} (it printed: ${printed.join(' / ')})` : message } satisfies EncodeReply);
    },
  );
});

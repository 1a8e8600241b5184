/**
 * The encoder thread's entry point: embeds the texts of each message it is sent and answers with
 * the vectors as one Float32Array (moved, not copied), or with the error's message.
 */
import { parentPort } from 'node:worker_threads';
import { OFFLINE_EMBEDDING_DIMENSIONS, embedSentences } from './sentence-encoder.js';
import type { ThreadReply } from './thread-client.js';
import { keepConsoleOutput } from './thread-console.js';

export interface EncodeRequest {
  id: number;
  texts: string[];
}

export type EncodeReply = ThreadReply<{ vectors: Float32Array }>;

const port = parentPort;
if (!port) throw new Error('offline-embedder-thread runs as a worker thread only');

const printed = keepConsoleOutput(console);

port.on('message', ({ id, texts }: EncodeRequest) => {
  // Whatever fails (the model, or packing its vectors) is this request's error, never the thread's.
  embedSentences(texts)
    .then((vectors) => {
      const flat = new Float32Array(vectors.length * OFFLINE_EMBEDDING_DIMENSIONS);
      vectors.forEach((vector, row) => flat.set(vector, row * OFFLINE_EMBEDDING_DIMENSIONS));
      port.postMessage({ id, vectors: flat } satisfies EncodeReply, [flat.buffer]);
    })
    .catch((error: unknown) => {
      const message = error instanceof Error ? error.message : String(error);
      port.postMessage({ id, error: printed.length > 0 ? `${message} (it printed: ${printed.join(' / ')})` : message } satisfies EncodeReply);
    });
});

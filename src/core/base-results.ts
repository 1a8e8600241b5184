/**
 * A suite's base side, whole: every case's answers at main (and the fresh answer that measures main's
 * noise floor), the judge's grades of them, and the vectors of every text their scores compare. It
 * is stored once under the content hash of everything it depends on, so a later PR against the same
 * main reads one value instead of every cached answer and vector one by one; scores are computed
 * again from it, so only what a model produced is kept.
 *
 * Bytes: `LGB` and a format byte, the header's length (u32, little-endian), the header as JSON, zero
 * padding to a multiple of 4, then each text's vector as `dims` little-endian float32 values, in the
 * header's `texts` order. Scoring already works on float32 vectors, so nothing is lost.
 */
import { canonicalJson, sha256 } from './hash.js';
import type { JudgeOutcome, SampleResult } from './types.js';

/**
 * Part of every key: bumped when what a value holds or how the engine reads it changes (a new
 * field, a different scorer input), so an older value is never read as if it were current.
 */
export const BASE_RESULTS_VERSION = 1;

const MAGIC = [0x4c, 0x47, 0x42, BASE_RESULTS_VERSION] as const;
const PREFIX_BYTES = 8;
const hostIsLittleEndian = new Uint8Array(new Uint16Array([1]).buffer)[0] === 1;

export interface BaseCase {
  id: string;
  samples: SampleResult[];
  /** The fresh answer of main that measures its noise floor, when the suite asks one. */
  floor?: SampleResult[];
  /** The judge's grade of the first answer, per rubric (score mode). */
  judge?: Record<string, JudgeOutcome>;
}

export interface BaseResults {
  cases: BaseCase[];
  vectors: Map<string, Float32Array>;
}

/**
 * Everything a suite's base side depends on. Its answers are named by the cache keys of the
 * requests main's side sends, which hash the provider, the model, every parameter and the rendered
 * messages: so the key follows main's prompt, manifest and dataset through however they are
 * rendered, and a change in rendering is a new key, as it is for the response cache. Gates and
 * assertions are left out: scores are computed afresh from the stored answers, so a new threshold
 * keeps the stored side.
 */
export interface BaseResultsSource {
  embeddingModel: string;
  /** The judge, when main's answers are graded: its model, its temperature, and each rubric's hash (which covers the judge's prompt) and mode. */
  judge?: { model: string; temperature: number; rubrics: readonly { hash: string; mode: string }[] };
  /** Per case, in dataset order: its id, the cache keys of its samples, and those of its noise-floor answer (none without one). */
  cases: readonly (readonly [id: string, samples: readonly string[], floor: readonly string[]])[];
}

export function baseResultsKey(source: BaseResultsSource): string {
  return sha256(canonicalJson({ version: BASE_RESULTS_VERSION, ...source }));
}

export function encodeBaseResults(results: BaseResults): Uint8Array {
  const texts = [...results.vectors.keys()];
  const dims = texts.length === 0 ? 0 : results.vectors.get(texts[0]!)!.length;
  for (const text of texts) if (results.vectors.get(text)!.length !== dims) throw new Error('base results: vectors of different lengths');
  const header = new TextEncoder().encode(JSON.stringify({ dims, texts, cases: results.cases }));
  const vectorsAt = align4(PREFIX_BYTES + header.length);
  const bytes = new Uint8Array(vectorsAt + texts.length * dims * 4);
  bytes.set(MAGIC, 0);
  new DataView(bytes.buffer).setUint32(4, header.length, true);
  bytes.set(header, PREFIX_BYTES);
  if (hostIsLittleEndian) {
    const floats = new Float32Array(bytes.buffer, vectorsAt, texts.length * dims);
    texts.forEach((text, i) => floats.set(results.vectors.get(text)!, i * dims));
  } else {
    const view = new DataView(bytes.buffer, vectorsAt);
    texts.forEach((text, i) => results.vectors.get(text)!.forEach((value, j) => view.setFloat32((i * dims + j) * 4, value, true)));
  }
  return bytes;
}

/**
 * The value `encodeBaseResults` wrote, or undefined for anything else (another format, a cut-off
 * value, a header of the wrong shape): a value that cannot be read is a value not stored.
 */
export function decodeBaseResults(bytes: Uint8Array): BaseResults | undefined {
  if (bytes.length < PREFIX_BYTES || MAGIC.some((byte, i) => bytes[i] !== byte)) return undefined;
  const headerLength = new DataView(bytes.buffer, bytes.byteOffset, bytes.length).getUint32(4, true);
  if (PREFIX_BYTES + headerLength > bytes.length) return undefined;
  let header: unknown;
  try {
    header = JSON.parse(new TextDecoder('utf-8', { fatal: true }).decode(bytes.subarray(PREFIX_BYTES, PREFIX_BYTES + headerLength)));
  } catch {
    return undefined;
  }
  if (!isHeader(header)) return undefined;
  const { dims, texts, cases } = header;
  const vectorsAt = align4(PREFIX_BYTES + headerLength);
  if (bytes.length !== vectorsAt + texts.length * dims * 4) return undefined;
  // One aligned copy, which the vectors then view without copying each.
  const floats = new Float32Array(texts.length * dims);
  if (hostIsLittleEndian) new Uint8Array(floats.buffer).set(bytes.subarray(vectorsAt));
  else {
    const view = new DataView(bytes.buffer, bytes.byteOffset + vectorsAt);
    for (let i = 0; i < floats.length; i++) floats[i] = view.getFloat32(i * 4, true);
  }
  const vectors = new Map<string, Float32Array>();
  texts.forEach((text, i) => vectors.set(text, floats.subarray(i * dims, (i + 1) * dims)));
  return { cases, vectors };
}

function align4(n: number): number {
  return Math.ceil(n / 4) * 4;
}

interface Header {
  dims: number;
  texts: string[];
  cases: BaseCase[];
}

function isHeader(value: unknown): value is Header {
  if (!isObject(value)) return false;
  const { dims, texts, cases } = value;
  return (
    Number.isInteger(dims) &&
    (dims as number) >= 0 &&
    Array.isArray(texts) &&
    texts.every((t) => typeof t === 'string') &&
    Array.isArray(cases) &&
    cases.every((c) => isObject(c) && typeof c.id === 'string' && isSamples(c.samples) && (c.floor === undefined || isSamples(c.floor)) && (c.judge === undefined || isGrades(c.judge)))
  );
}

function isGrades(value: unknown): value is Record<string, JudgeOutcome> {
  const optional = (field: unknown, type: 'number' | 'string') => field === undefined || typeof field === type;
  return isObject(value) && Object.values(value).every((g) => isObject(g) && optional(g.score, 'number') && optional(g.reasoning, 'string') && optional(g.error, 'string'));
}

function isSamples(value: unknown): value is SampleResult[] {
  return (
    Array.isArray(value) &&
    value.every((s) => {
      if (!isObject(s) || !isObject(s.usage)) return false;
      const { usage } = s;
      return (
        typeof s.output === 'string' &&
        typeof s.latencyMs === 'number' &&
        typeof s.costUsd === 'number' &&
        typeof usage.inputTokens === 'number' &&
        typeof usage.outputTokens === 'number' &&
        (s.error === undefined || typeof s.error === 'string') &&
        (s.systemFingerprint === undefined || typeof s.systemFingerprint === 'string')
      );
    })
  );
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

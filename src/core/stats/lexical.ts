/**
 * Lower-cased word and punctuation tokens: runs of letters, digits, marks and underscores, and each
 * other non-space character alone. This is `/\w+|[^\w\s]/` with a Unicode-aware \w (as Python's
 * `re` has by default), so "café" stays one word instead of splitting at the accent.
 */
export function tokenize(text: string): string[] {
  return text.toLowerCase().match(/[\p{L}\p{N}\p{M}_]+|[^\p{L}\p{N}\p{M}_\s]/gu) ?? [];
}

const BLEU_MAX_ORDER = 4;
const BLEU_EPSILON = 0.1;

/** The three lexical scores of a candidate against its reference, as the engine reports them. */
export interface LexicalScores {
  bleu: number;
  /** ROUGE-L f1. */
  rougeL: number;
  editSimilarity: number;
}

/**
 * `bleu`, `rougeL(...).f1` and `editSimilarity` of one pair, tokenising each text once. The
 * results are exactly those of the three functions called one by one.
 */
export function lexicalScores(candidate: string, reference: string): LexicalScores {
  const tokens = tokenIds(tokenize(candidate), tokenize(reference));
  return {
    bleu: bleuOfIds(tokens.candidate, tokens.reference, tokens.distinct),
    rougeL: rougeOfIds(tokens.candidate, tokens.reference).f1,
    editSimilarity: editSimilarity(candidate, reference),
  };
}

/**
 * Sentence BLEU-4 of a candidate against one reference (Papineni et al., 2002): the geometric mean
 * of the clipped 1- to 4-gram precisions with uniform weights, times the brevity penalty
 * exp(1 - r/c) when the candidate (c tokens) is not longer than the reference (r tokens).
 * Smoothing is method 1 of Chen and Cherry (2014), as NLTK's `SmoothingFunction().method1`: a
 * precision with no matching n-grams counts as 0.1 / (candidate n-grams, at least 1). As in NLTK,
 * a candidate without a single matching token scores 0; two empty texts score 1.
 */
export function bleu(candidate: string, reference: string): number {
  const tokens = tokenIds(tokenize(candidate), tokenize(reference));
  return bleuOfIds(tokens.candidate, tokens.reference, tokens.distinct);
}

/**
 * Both texts' tokens as small integers, equal integers for equal tokens: n-grams and the LCS then
 * compare numbers instead of strings.
 */
function tokenIds(candidate: readonly string[], reference: readonly string[]): { candidate: number[]; reference: number[]; distinct: number } {
  const ids = new Map<string, number>();
  const toIds = (tokens: readonly string[]): number[] => {
    const out: number[] = [];
    for (const token of tokens) {
      let id = ids.get(token);
      if (id === undefined) {
        id = ids.size;
        ids.set(token, id);
      }
      out.push(id);
    }
    return out;
  };
  const candidateIds = toIds(candidate);
  const referenceIds = toIds(reference);
  return { candidate: candidateIds, reference: referenceIds, distinct: ids.size };
}

/** For each position, the id of the n-gram one token longer than `grams[i]`, interned in `ids`. */
function extendGrams(grams: readonly number[], tokens: readonly number[], order: number, width: number, ids: Map<number, number>): number[] {
  const out: number[] = [];
  for (let i = 0; i + 1 < grams.length; i++) {
    const key = grams[i]! * width + tokens[i + order - 1]!;
    let id = ids.get(key);
    if (id === undefined) {
      id = ids.size;
      ids.set(key, id);
    }
    out.push(id);
  }
  return out;
}

function bleuOfIds(candidate: readonly number[], reference: readonly number[], width: number): number {
  const c = candidate.length;
  const r = reference.length;
  if (c === 0 && r === 0) return 1;
  if (c === 0 || r === 0) return 0;
  // The n-grams of order k get ids from the (k-1)-gram id at i and the token at i + k - 1, so
  // equal n-grams, and only they, share an id at every order: exact, with no string keys.
  let candidateGrams = candidate;
  let referenceGrams = reference;
  let distinct = width;
  let logPrecisionSum = 0;
  for (let order = 1; order <= BLEU_MAX_ORDER; order++) {
    if (order > 1) {
      const ids = new Map<number, number>();
      candidateGrams = extendGrams(candidateGrams, candidate, order, width, ids);
      referenceGrams = extendGrams(referenceGrams, reference, order, width, ids);
      distinct = ids.size;
    }
    // Clipped matches: each candidate n-gram counts while the reference still has one left.
    const available: number[] = new Array<number>(distinct).fill(0);
    for (const id of referenceGrams) available[id]! += 1;
    let matches = 0;
    for (const id of candidateGrams) {
      if (available[id]! > 0) {
        available[id]! -= 1;
        matches += 1;
      }
    }
    const total = candidateGrams.length;
    if (order === 1 && matches === 0) return 0;
    const precision = (matches === 0 ? BLEU_EPSILON : matches) / Math.max(1, total);
    logPrecisionSum += Math.log(precision) / BLEU_MAX_ORDER;
  }
  const brevityPenalty = c > r ? 1 : Math.exp(1 - r / c);
  return brevityPenalty * Math.exp(logPrecisionSum);
}

export interface RougeScore {
  precision: number;
  recall: number;
  f1: number;
}

/**
 * ROUGE-L (Lin, 2004) over `tokenize` tokens: with L the length of the longest common subsequence,
 * precision = L / candidate tokens, recall = L / reference tokens, and f1 their harmonic mean
 * (β = 1; 0 when L = 0). Two empty texts score 1 on all three.
 */
export function rougeL(candidate: string, reference: string): RougeScore {
  const tokens = tokenIds(tokenize(candidate), tokenize(reference));
  return rougeOfIds(tokens.candidate, tokens.reference);
}

function rougeOfIds(candidate: readonly number[], reference: readonly number[]): RougeScore {
  if (candidate.length === 0 && reference.length === 0) return { precision: 1, recall: 1, f1: 1 };
  const common = longestCommonSubsequence(candidate, reference);
  if (common === 0) return { precision: 0, recall: 0, f1: 0 };
  const precision = common / candidate.length;
  const recall = common / reference.length;
  return { precision, recall, f1: (2 * precision * recall) / (precision + recall) };
}

/**
 * LCS length, bit-parallel (Crochemore et al., 2001; Hyyrö, 2004): one bit per token of the shorter
 * sequence, V ← (V + (V & M)) | (V & ~M) for each token of the other, with M the positions of that
 * token; the LCS is the number of zero bits left. O(n·⌈m/32⌉) word steps instead of n·m cells.
 */
function longestCommonSubsequence(a: readonly number[], b: readonly number[]): number {
  const [pattern, text] = a.length <= b.length ? [a, b] : [b, a];
  const m = pattern.length;
  if (m === 0) return 0;
  let alphabetSize = 0;
  for (let i = 0; i < m; i++) alphabetSize = Math.max(alphabetSize, pattern[i]! + 1);
  if (m <= 32) {
    // One word: V and the match masks fit in a number each.
    const mask: number[] = new Array<number>(alphabetSize).fill(0);
    for (let k = 0; k < m; k++) mask[pattern[k]!]! |= 1 << k;
    let v = -1;
    for (const token of text) {
      if (token >= alphabetSize) continue;
      const mw = mask[token]!;
      v = ((v + (v & mw)) | 0) | (v & ~mw);
    }
    return zeroBits(v, m);
  }
  const words = (m + 31) >>> 5;
  const match = new Int32Array(alphabetSize * words);
  for (let k = 0; k < m; k++) match[pattern[k]! * words + (k >>> 5)]! |= 1 << (k & 31);
  const v = new Int32Array(words).fill(-1);
  for (let j = 0; j < text.length; j++) {
    const token = text[j]!;
    if (token >= alphabetSize) continue;
    const row = token * words;
    let carry = 0;
    for (let w = 0; w < words; w++) {
      const vw = v[w]!;
      const mw = match[row + w]!;
      const sum = (vw >>> 0) + ((vw & mw) >>> 0) + carry;
      carry = sum > 0xffffffff ? 1 : 0;
      v[w] = (sum | 0) | (vw & ~mw);
    }
  }
  let zeros = 0;
  for (let w = 0; w < words; w++) zeros += zeroBits(v[w]!, Math.min(32, m - w * 32));
  return zeros;
}

/** Zero bits among the low `bits` (1 to 32) bits of a 32-bit word. */
function zeroBits(word: number, bits: number): number {
  let unset = ~word & (bits === 32 ? -1 : (1 << bits) - 1);
  let count = 0;
  while (unset !== 0) {
    unset &= unset - 1;
    count += 1;
  }
  return count;
}

/**
 * Code points compared by `editSimilarity`, from the start of each text. Longer texts are cut to
 * this many before comparing, which bounds the cost of a pair; below it the score is exact.
 */
export const EDIT_SIMILARITY_MAX_CODE_POINTS = 2000;

/**
 * 1 - Levenshtein distance / the longer length, over Unicode code points (insertions, deletions
 * and substitutions each cost 1); case and spacing count. Two empty strings score 1. Only the
 * first `EDIT_SIMILARITY_MAX_CODE_POINTS` (2,000) code points of each text are compared, and the
 * longer length is that of the cut texts: beyond that a pair's score is the score of its openings.
 * The distance is Myers' bit-parallel algorithm (1999) in Hyyrö's blocked form, exact, in
 * O(n·⌈m/32⌉) steps.
 */
export function editSimilarity(a: string, b: string): number {
  const alphabet: Alphabet = { size: 0, used: [] };
  try {
    const first = codePointIds(a, alphabet);
    const second = codePointIds(b, alphabet);
    const longer = Math.max(first.length, second.length);
    if (longer === 0) return 1;
    return 1 - levenshtein(first, second, alphabet.size) / longer;
  } finally {
    for (const point of alphabet.used) bmpIds[point] = 0;
  }
}

/** Code point → id + 1 for the pair being compared, for the Basic Multilingual Plane; reset after each pair. */
const bmpIds = new Int32Array(0x10000);

interface Alphabet {
  size: number;
  /** BMP code points given an id in `bmpIds`, to reset afterwards. */
  used: number[];
  /** Code points above U+FFFF. */
  astral?: Map<number, number>;
}

/** The first `EDIT_SIMILARITY_MAX_CODE_POINTS` code points of a text, as ids numbered in `alphabet`. */
function codePointIds(text: string, alphabet: Alphabet): number[] {
  const ids: number[] = [];
  for (let i = 0; i < text.length && ids.length < EDIT_SIMILARITY_MAX_CODE_POINTS; i++) {
    const point = text.codePointAt(i)!;
    if (point > 0xffff) {
      i += 1;
      alphabet.astral ??= new Map();
      let id = alphabet.astral.get(point);
      if (id === undefined) {
        id = alphabet.size++;
        alphabet.astral.set(point, id);
      }
      ids.push(id);
    } else {
      let id = bmpIds[point]! - 1;
      if (id < 0) {
        id = alphabet.size++;
        bmpIds[point] = id + 1;
        alphabet.used.push(point);
      }
      ids.push(id);
    }
  }
  return ids;
}

/**
 * Levenshtein distance of two id sequences. Shared prefix and suffix are dropped first (they never
 * change the distance); then the shorter sequence is the pattern, split in blocks of 32 rows, and
 * each block is run over the whole text, the horizontal deltas leaving its bottom row kept one bit
 * per column for the next block.
 */
function levenshtein(a: readonly number[], b: readonly number[], alphabetSize: number): number {
  let start = 0;
  let endA = a.length;
  let endB = b.length;
  while (start < endA && start < endB && a[start] === b[start]) start++;
  while (endA > start && endB > start && a[endA - 1] === b[endB - 1]) {
    endA--;
    endB--;
  }
  let pattern = a.slice(start, endA);
  let text = b.slice(start, endB);
  if (pattern.length > text.length) [pattern, text] = [text, pattern];
  const m = pattern.length;
  const n = text.length;
  if (m === 0) return n;

  // Horizontal deltas out of the previous block's bottom row: +1 everywhere at the top (row 0 is 0, 1, 2, …).
  const words = Math.ceil(n / 32);
  const plusH = new Int32Array(words).fill(-1);
  const minusH = new Int32Array(words);
  const peq = new Int32Array(alphabetSize);
  let score = m;
  for (let blockStart = 0; blockStart < m; blockStart += 32) {
    const blockEnd = Math.min(m, blockStart + 32);
    for (let k = blockStart; k < blockEnd; k++) peq[pattern[k]!]! |= 1 << (k - blockStart);
    const last = blockEnd === m;
    const lastBit = (blockEnd - blockStart - 1) & 31;
    let plusV = -1;
    let minusV = 0;
    for (let j = 0; j < n; j++) {
      const word = j >>> 5;
      const bit = j & 31;
      const hinPlus = (plusH[word]! >>> bit) & 1;
      const hinMinus = (minusH[word]! >>> bit) & 1;
      const eq = peq[text[j]!]!;
      const xv = eq | minusV;
      const eqIn = eq | hinMinus;
      const xh = ((((eqIn & plusV) + plusV) | 0) ^ plusV) | eqIn;
      let ph = minusV | ~(xh | plusV);
      let mh = plusV & xh;
      if (last) {
        score += (ph >>> lastBit) & 1;
        score -= (mh >>> lastBit) & 1;
      } else {
        // The bottom row's horizontal delta becomes the next block's carry in at this column.
        if (((ph >>> 31) ^ hinPlus) !== 0) plusH[word]! ^= 1 << bit;
        if (((mh >>> 31) ^ hinMinus) !== 0) minusH[word]! ^= 1 << bit;
      }
      ph = (ph << 1) | hinPlus;
      mh = (mh << 1) | hinMinus;
      plusV = mh | ~(xv | ph);
      minusV = ph & xv;
    }
    for (let k = blockStart; k < blockEnd; k++) peq[pattern[k]!] = 0;
  }
  return score;
}

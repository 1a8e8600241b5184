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

/**
 * Sentence BLEU-4 of a candidate against one reference (Papineni et al., 2002): the geometric mean
 * of the clipped 1- to 4-gram precisions with uniform weights, times the brevity penalty
 * exp(1 - r/c) when the candidate (c tokens) is not longer than the reference (r tokens).
 * Smoothing is method 1 of Chen and Cherry (2014), as NLTK's `SmoothingFunction().method1`: a
 * precision with no matching n-grams counts as 0.1 / (candidate n-grams, at least 1). As in NLTK,
 * a candidate without a single matching token scores 0; two empty texts score 1.
 */
export function bleu(candidate: string, reference: string): number {
  const candidateTokens = tokenize(candidate);
  const referenceTokens = tokenize(reference);
  if (candidateTokens.length === 0 && referenceTokens.length === 0) return 1;
  if (candidateTokens.length === 0 || referenceTokens.length === 0) return 0;
  let logPrecisionSum = 0;
  for (let order = 1; order <= BLEU_MAX_ORDER; order++) {
    const referenceCounts = ngramCounts(referenceTokens, order);
    const candidateCounts = ngramCounts(candidateTokens, order);
    let matches = 0;
    let total = 0;
    for (const [gram, count] of candidateCounts) {
      matches += Math.min(count, referenceCounts.get(gram) ?? 0);
      total += count;
    }
    if (order === 1 && matches === 0) return 0;
    const precision = (matches === 0 ? BLEU_EPSILON : matches) / Math.max(1, total);
    logPrecisionSum += Math.log(precision) / BLEU_MAX_ORDER;
  }
  const c = candidateTokens.length;
  const r = referenceTokens.length;
  const brevityPenalty = c > r ? 1 : Math.exp(1 - r / c);
  return brevityPenalty * Math.exp(logPrecisionSum);
}

function ngramCounts(tokens: readonly string[], order: number): Map<string, number> {
  const counts = new Map<string, number>();
  for (let i = 0; i + order <= tokens.length; i++) {
    // U+0000 cannot occur inside a token, so joined n-grams cannot collide.
    const gram = tokens.slice(i, i + order).join('\u0000');
    counts.set(gram, (counts.get(gram) ?? 0) + 1);
  }
  return counts;
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
  const candidateTokens = tokenize(candidate);
  const referenceTokens = tokenize(reference);
  if (candidateTokens.length === 0 && referenceTokens.length === 0) return { precision: 1, recall: 1, f1: 1 };
  const common = longestCommonSubsequence(candidateTokens, referenceTokens);
  if (common === 0) return { precision: 0, recall: 0, f1: 0 };
  const precision = common / candidateTokens.length;
  const recall = common / referenceTokens.length;
  return { precision, recall, f1: (2 * precision * recall) / (precision + recall) };
}

function longestCommonSubsequence(a: readonly string[], b: readonly string[]): number {
  let previous = new Uint32Array(b.length + 1);
  let current = new Uint32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      current[j] = a[i - 1] === b[j - 1] ? previous[j - 1]! + 1 : Math.max(previous[j]!, current[j - 1]!);
    }
    [previous, current] = [current, previous];
  }
  return previous[b.length]!;
}

/**
 * 1 - Levenshtein distance / the longer length, over Unicode code points (insertions, deletions
 * and substitutions each cost 1); case and spacing count. Two empty strings score 1.
 */
export function editSimilarity(a: string, b: string): number {
  const first = Array.from(a);
  const second = Array.from(b);
  const longer = Math.max(first.length, second.length);
  if (longer === 0) return 1;
  return 1 - levenshtein(first, second) / longer;
}

function levenshtein(a: readonly string[], b: readonly string[]): number {
  let previous = Uint32Array.from({ length: b.length + 1 }, (_, j) => j);
  let current = new Uint32Array(b.length + 1);
  for (let i = 1; i <= a.length; i++) {
    current[0] = i;
    for (let j = 1; j <= b.length; j++) {
      const substitution = previous[j - 1]! + (a[i - 1] === b[j - 1] ? 0 : 1);
      current[j] = Math.min(substitution, previous[j]! + 1, current[j - 1]! + 1);
    }
    [previous, current] = [current, previous];
  }
  return previous[b.length]!;
}

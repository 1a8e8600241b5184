#!/usr/bin/env python3
"""Reference values for test/core/stats/*.test.ts, computed independently of the TypeScript code.

Run with python3 and scipy >= 1.17 / numpy >= 2.4 (the versions the numbers were produced with):

    python3 scripts/reference-stats.py

It prints one JSON object; the tests copy its numbers and say which entry each came from. Test
statistics come from scipy; the lexical scores, the seeded generator and the bootstrap replay are
re-implemented here from their definitions, not translated from the TypeScript.
"""

import json
import math
import re
from collections import Counter
from fractions import Fraction

import numpy as np
from scipy import special, stats
from scipy.spatial.distance import jensenshannon

MASK = 0xFFFFFFFF


def mulberry32(seed):
    """mulberry32 on unsigned 32-bit integers; Math.imul's low 32 bits equal (x * y) mod 2^32."""
    state = int(seed) & MASK

    def next_value():
        nonlocal state
        state = (state + 0x6D2B79F5) & MASK
        t = ((state ^ (state >> 15)) * (1 | state)) & MASK
        t = ((t + (((t ^ (t >> 7)) * (61 | t)) & MASK)) & MASK) ^ t
        return ((t ^ (t >> 14)) & MASK) / 4294967296

    return next_value


def irwin_hall_sample(seed, n, centre, scale):
    """centre + scale * (sum of 12 uniforms - 6): roughly normal, exact in binary floating point."""
    rng = mulberry32(seed)
    out = []
    for _ in range(n):
        total = 0.0
        for _ in range(12):
            total += rng()
        out.append(centre + scale * (total - 6))
    return out


def bootstrap_replay(values, resamples, confidence, seed):
    """The percentile bootstrap with the same stream and index rule, to check the implementation end to end."""
    rng = mulberry32(seed)
    n = len(values)
    origin = values[0]
    deviations = [v - origin for v in values]
    means = np.empty(resamples)
    for r in range(resamples):
        total = 0.0
        for _ in range(n):
            total += deviations[math.floor(rng() * n)]
        means[r] = origin + total / n
    tail = (1 - confidence) / 2
    low, high = np.quantile(means, [tail, 1 - tail], method="linear")
    return {"mean": float(np.mean(values)), "low": float(low), "high": float(high)}


def wilcoxon_case(d):
    d = np.asarray(d, dtype=float)
    nonzero = d[d != 0]
    magnitudes = np.abs(nonzero)
    has_ties = len(np.unique(magnitudes)) < len(magnitudes)
    use_exact = len(nonzero) <= 25 and not has_ties
    ranks = stats.rankdata(magnitudes)
    approx = stats.wilcoxon(d, zero_method="wilcox", correction=True, method="asymptotic")
    result = {
        "n": int(len(nonzero)),
        "wPlus": float(ranks[nonzero > 0].sum()),
        "wMinus": float(ranks[nonzero < 0].sum()),
        "method": "exact" if use_exact else "approx",
        "approxP": float(approx.pvalue),
        "absZ": float(abs(approx.zstatistic)),
    }
    if use_exact:
        result["exactP"] = float(stats.wilcoxon(d, zero_method="wilcox", method="exact").pvalue)
    return result


def tokenize(text):
    # Python's \w is Unicode-aware by default.
    return re.findall(r"\w+|[^\w\s]", text.lower())


def ngrams(tokens, n):
    return Counter(tuple(tokens[i : i + n]) for i in range(len(tokens) - n + 1))


def bleu(candidate, reference):
    """Sentence BLEU-4 with Chen and Cherry's smoothing method 1 (epsilon 0.1), as in NLTK's sentence_bleu."""
    c, r = tokenize(candidate), tokenize(reference)
    if not c and not r:
        return 1.0
    if not c or not r:
        return 0.0
    precisions = []
    for n in range(1, 5):
        cand, ref = ngrams(c, n), ngrams(r, n)
        matched = sum(min(count, ref[g]) for g, count in cand.items())
        total = max(1, sum(cand.values()))
        if n == 1 and matched == 0:
            return 0.0
        precisions.append((matched if matched else 0.1) / total)
    bp = 1.0 if len(c) > len(r) else math.exp(1 - len(r) / len(c))
    return bp * math.exp(sum(0.25 * math.log(p) for p in precisions))


def lcs(a, b):
    table = [[0] * (len(b) + 1) for _ in range(len(a) + 1)]
    for i, x in enumerate(a, 1):
        for j, y in enumerate(b, 1):
            table[i][j] = table[i - 1][j - 1] + 1 if x == y else max(table[i - 1][j], table[i][j - 1])
    return table[-1][-1]


def rouge_l(candidate, reference):
    c, r = tokenize(candidate), tokenize(reference)
    if not c and not r:
        return {"precision": 1.0, "recall": 1.0, "f1": 1.0}
    common = lcs(c, r)
    if common == 0:
        return {"precision": 0.0, "recall": 0.0, "f1": 0.0}
    p, rec = common / len(c), common / len(r)
    return {"precision": p, "recall": rec, "f1": 2 * p * rec / (p + rec)}


def levenshtein(a, b):
    row = list(range(len(b) + 1))
    for i, x in enumerate(a, 1):
        previous, row[0] = row[0], i
        for j, y in enumerate(b, 1):
            previous, row[j] = row[j], min(row[j] + 1, row[j - 1] + 1, previous + (x != y))
    return row[-1]


def edit_similarity(a, b):
    longer = max(len(a), len(b))
    return 1.0 if longer == 0 else 1 - levenshtein(a, b) / longer


WILCOXON_INPUTS = {
    "ten_no_ties": [1.83, -0.5, 2.1, 0.7, -1.2, 3.3, 0.25, 1.1, -0.05, 2.6],
    "zeros_dropped": [0, 0.4, -0.9, 1.5, 0, 2.2, -0.3, 0.8],
    "small_with_ties": [1, 2, 2, -1, 3, 3, 3, 0, 4, -2, 5, 1],
    "n25_no_ties": [i * (-1 if i % 3 == 0 else 1) for i in range(1, 26)],
    "n26_no_ties": [i * (-1 if i % 3 == 0 else 1) for i in range(1, 27)],
    "n60_ties_zeros": [((i * 37) % 11) - 4 for i in range(1, 61)],
    "all_negative": [-1, -2, -3, -4, -5, -6, -7, -8],
    "single": [0.5],
}

MCNEMAR_INPUTS = [(0, 0), (3, 0), (5, 1), (10, 14), (12, 12), (11, 14), (12, 13), (30, 10), (100, 150), (20, 20)]

JS_INPUTS = {
    "three_bins": ([0.1, 0.4, 0.5], [0.8, 0.15, 0.05]),
    "disjoint": ([1, 0, 0], [0, 1, 0]),
    "counts_with_zero_bins": ([3, 1, 0, 0], [0, 1, 1, 2]),
    "identical": ([1, 2, 3, 4], [1, 2, 3, 4]),
    "five_bins": ([10, 0, 5, 5, 1], [2, 7, 0, 3, 9]),
}

LEXICAL_INPUTS = [
    ("The cat sat on the mat.", "The cat is on the mat."),
    ("the quick brown fox jumps over the lazy dog", "the quick brown dog jumps over the lazy fox"),
    ("Refunds are processed within 5 business days.", "We process refunds within five business days."),
    ("hello", "hello world"),
    ("Le café est très bon", "le café est bon"),
    ("a a a a", "a b"),
    ("completely different words", "nothing in common here"),
]

EDIT_INPUTS = [("kitten", "sitting"), ("", "abc"), ("café", "cafe"), ("flaw", "lawn"), ("Hello, world!", "hello world"), ("a😀b", "a😃b")]

DECIDE_INPUTS = {
    "clear_regression": ([-0.3, -0.25, -0.4, -0.2, -0.35, -0.3, -0.28, -0.33, -0.31, -0.27], 0.05),
    "unchanged": ([0.01, -0.02, 0.0, 0.015, -0.01, 0.005, 0.0, -0.005, 0.01, 0.0], 0.05),
    "straddles": ([-0.2, 0.1, -0.15, 0.05, -0.1, 0.0, -0.12, 0.08, -0.06, -0.05], 0.05),
    "straddles_wide": ([0.4, -0.6, 0.3, -0.5, 0.2, -0.45, 0.1, -0.35, 0.25, -0.3, 0.05, -0.2], 0.1),
    "probably_worse": ([-0.5, 0.2, -0.3, 0.1, -0.4, 0.05, -0.25, -0.1], 0.05),
}


def main():
    rng = mulberry32(1)
    first_seed_1 = [rng() for _ in range(5)]
    rng = mulberry32(42)
    first_seed_42 = [rng() for _ in range(3)]

    sample = irwin_hall_sample(7, 400, 0.3, 0.5)
    mean = float(np.mean(sample))
    sd = float(np.std(sample, ddof=1))
    half = 1.959963984540054 * sd / math.sqrt(len(sample))

    small = irwin_hall_sample(3, 30, -0.02, 0.1)

    decide = {}
    for name, (deltas, margin) in DECIDE_INPUTS.items():
        interval = bootstrap_replay(deltas, 2000, 0.95, 1)
        sd_d = float(np.std(deltas, ddof=1))
        distance = abs(interval["mean"] + margin)
        needed = math.ceil((stats.norm.ppf(0.975) * sd_d / distance) ** 2) if distance and sd_d else None
        verdict = "fail" if interval["high"] < -margin else "pass" if interval["low"] >= -margin else "inconclusive"
        decide[name] = {**interval, "verdict": verdict, "casesNeeded": max(len(deltas) + 1, needed) if needed and verdict == "inconclusive" else None}

    out = {
        "mulberry32": {"seed1": first_seed_1, "seed42": first_seed_42},
        "normal": {
            "erfc": {str(x): float(special.erfc(x)) for x in [-1.5, 0.3, 1, 2.5, 6]},
            "normSf": {str(z): float(stats.norm.sf(z)) for z in [0, 1.2, 3.7]},
            "ppf": {str(p): float(stats.norm.ppf(p)) for p in [0.025, 0.6, 0.975, 1e-6]},
            "chi2Sf1": {str(x): float(stats.chi2.sf(x, 1)) for x in [0.5, 3.841458820694124, 12]},
        },
        "bootstrap": {
            "irwinHall_seed7_n400": {"mean": mean, "sd": sd, "normalLow": mean - half, "normalHigh": mean + half},
            "replay_seed3_n30_seed11_resamples2000": bootstrap_replay(small, 2000, 0.95, 11),
            "replay_seed3_n30_seed5_resamples500_conf90": bootstrap_replay(small, 500, 0.9, 5),
        },
        "wilcoxon": {name: wilcoxon_case(d) for name, d in WILCOXON_INPUTS.items()},
        "mcnemar": [
            {
                "b": b,
                "c": c,
                "method": "exact" if b + c < 25 else "chi2",
                "pValue": (1.0 if b + c == 0 else float(stats.binomtest(b, b + c, 0.5).pvalue))
                if b + c < 25
                else float(stats.chi2.sf(max(0, abs(b - c) - 1) ** 2 / (b + c), 1)),
            }
            for b, c in MCNEMAR_INPUTS
        ],
        "jensenShannon": {name: float(jensenshannon(p, q, base=2) ** 2) for name, (p, q) in JS_INPUTS.items()},
        "lexical": [
            {"candidate": c, "reference": r, "bleu": bleu(c, r), "rougeL": rouge_l(c, r)} for c, r in LEXICAL_INPUTS
        ],
        "editSimilarity": [{"a": a, "b": b, "similarity": edit_similarity(a, b)} for a, b in EDIT_INPUTS],
        "decide": decide,
    }
    # The exact Wilcoxon p of the all-negative case is 2 / 2^8: a check on scipy's own arithmetic.
    assert out["wilcoxon"]["all_negative"]["exactP"] == float(Fraction(2, 256))
    print(json.dumps(out, indent=1, ensure_ascii=False))


if __name__ == "__main__":
    main()

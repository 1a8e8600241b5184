import { embeddingDrift, jensenShannon, pooledDrift } from '../../../src/core/stats/divergence.js';
import { createRng, normalDraw } from '../../../src/core/stats/random.js';

describe('jensenShannon', () => {
  // Expected values: scripts/reference-stats.py, "jensenShannon":
  // scipy.spatial.distance.jensenshannon(p, q, base=2) ** 2 (scipy returns the distance, its square root).
  it.each([
    [[0.1, 0.4, 0.5], [0.8, 0.15, 0.05], 0.4202005703763732],
    [[1, 0, 0], [0, 1, 0], 1],
    [[3, 1, 0, 0], [0, 1, 1, 2], 0.7499999999999999],
    [[1, 2, 3, 4], [1, 2, 3, 4], 0],
    [[10, 0, 5, 5, 1], [2, 7, 0, 3, 9], 0.5208167376411242],
  ])('JSD(%j, %j) = %d bits, as scipy', (p, q, expected) => {
    expect(jensenShannon(p, q)).toBeCloseTo(expected, 14);
    expect(jensenShannon(q, p)).toBeCloseTo(expected, 14);
  });

  it('normalises counts', () => {
    expect(jensenShannon([1, 3], [2, 2])).toBeCloseTo(jensenShannon([10, 30], [0.5, 0.5]), 15);
  });

  it('refuses histograms it cannot compare', () => {
    expect(() => jensenShannon([1], [1, 2])).toThrow(/different lengths/);
    expect(() => jensenShannon([0, 0], [1, 2])).toThrow(/nothing in it/);
    expect(() => jensenShannon([-1, 2], [1, 2])).toThrow(/non-negative/);
  });
});

function gaussianVectors(seed: number, count: number, dimensions: number, offset: readonly number[] = []): Float64Array[] {
  const rng = createRng(seed);
  return Array.from({ length: count }, () => Float64Array.from({ length: dimensions }, (_, j) => normalDraw(rng) + (offset[j] ?? 0)));
}

describe('embeddingDrift', () => {
  const base = gaussianVectors(1, 200, 32);

  it('sees no drift between identical sets', () => {
    const drift = embeddingDrift(base, base, { seed: 3 })!;
    expect(drift.jsDivergence).toBe(0);
    expect(drift.centroidCosineShift).toBeCloseTo(0, 12);
    expect(drift.pValue).toBeGreaterThan(0.5);
  });

  it('sees little drift between two samples of the same distribution', () => {
    const drift = embeddingDrift(base, gaussianVectors(2, 200, 32), { seed: 3 })!;
    expect(drift.jsDivergence).toBeLessThan(0.05);
    expect(drift.pValue).toBeGreaterThan(0.01);
  });

  it('sees the same set moved by a constant offset', () => {
    const head = base.map((vector) => vector.map((x) => x + 2));
    const drift = embeddingDrift(base, head, { seed: 3 })!;
    expect(drift.jsDivergence).toBeGreaterThan(0.2);
    expect(drift.pValue).toBeLessThan(0.01);
    expect(drift.pValue).toBe(1 / 501);
    expect(drift.centroidCosineShift).toBeGreaterThan(0.5);
  });

  it('finds a small shift significant even where the projected histograms barely move', () => {
    // A shift of 0.3 per coordinate is small against the spread of 32 unit-variance coordinates, so
    // random projections see it only faintly; the centroid test still finds it.
    const drift = embeddingDrift(base, gaussianVectors(2, 200, 32, Array.from({ length: 32 }, () => 0.3)), { seed: 3 })!;
    expect(drift.jsDivergence).toBeLessThan(0.1);
    expect(drift.pValue).toBeLessThan(0.01);
  });

  it('handles groups of different sizes', () => {
    const offset = Array.from({ length: 32 }, () => 0.5);
    const small = gaussianVectors(4, 30, 32, offset);
    expect(embeddingDrift(base, small, { seed: 3 })!.pValue).toBeLessThan(0.01);
    expect(embeddingDrift(small, base, { seed: 3 })!.pValue).toBeLessThan(0.01);
  });

  it('is deterministic for a seed', () => {
    const head = gaussianVectors(2, 200, 32);
    expect(embeddingDrift(base, head, { seed: 8 })).toEqual(embeddingDrift(base, head, { seed: 8 }));
    expect(embeddingDrift(base, head, { seed: 8 })).not.toEqual(embeddingDrift(base, head, { seed: 9 }));
  });

  it('states the method', () => {
    const head = base.map((vector) => vector.map((x) => x + 2));
    expect(embeddingDrift(base, head, { projections: 4, bins: 8, permutations: 99 })!.method).toBe(
      'Jensen-Shannon divergence averaged over 4 seeded random projections (8-bin histograms on the pooled range); p-value from 99 label permutations of the centroid distance',
    );
  });

  it('stops shuffling once enough shuffles were at least as distant, with p = stopAfter / shuffles', () => {
    const head = gaussianVectors(2, 200, 32);
    const full = embeddingDrift(base, head, { seed: 3, stopAfter: 501 })!;
    const sequential = embeddingDrift(base, head, { seed: 3 })!;
    const shuffles = Number(/from (\d+) label permutations/.exec(sequential.method)?.[1]);

    expect(sequential.method).toContain('(stopped once 20 were at least as distant)');
    expect(shuffles).toBeLessThan(100);
    expect(sequential.pValue).toBe(20 / shuffles);
    // Same seed, same shuffles: the full test's first `shuffles` draws are the sequential test's,
    // and both put p well above any drift level.
    expect(full.method).toContain('from 500 label permutations');
    expect(Math.abs(sequential.pValue - full.pValue)).toBeLessThan(0.25);
    expect(sequential.jsDivergence).toBe(full.jsDivergence);
  });

  it('says it stopped even when the last shuffle allowed was the one that stopped it', () => {
    const head = gaussianVectors(2, 200, 32);
    const sequential = embeddingDrift(base, head, { seed: 3 })!;
    const shuffles = Number(/from (\d+) label permutations/.exec(sequential.method)?.[1]);
    // The same draws, capped at the shuffle where the 20th at least as distant came.
    const capped = embeddingDrift(base, head, { seed: 3, permutations: shuffles })!;
    expect(capped.pValue).toBe(20 / shuffles);
    expect(capped.method).toContain(`from ${shuffles} label permutations of the centroid distance (stopped once 20 were at least as distant)`);
  });

  it('runs every shuffle when the outputs moved, so a small p-value keeps its resolution', () => {
    const head = base.map((vector) => vector.map((x) => x + 2));
    expect(embeddingDrift(base, head, { seed: 3 })!.method).toContain('from 500 label permutations of the centroid distance');
  });

  it('is undefined for an empty side and refuses mixed dimensions', () => {
    expect(embeddingDrift([], base)).toBeUndefined();
    expect(embeddingDrift(base, [])).toBeUndefined();
    expect(() => embeddingDrift([[1, 2]], [[1, 2, 3]])).toThrow(/different lengths/);
    expect(() => embeddingDrift(base, base, { bins: 0 })).toThrow(/bins/);
  });
});

describe('pooledDrift', () => {
  const rows = (n: number, shift: number, seed: number) => {
    const rng = createRng(seed);
    return Array.from({ length: n }, () => Float32Array.from({ length: 12 }, (_, j) => normalDraw(rng) + (j < 3 ? shift : 0)));
  };
  const pool = (vectors: Float32Array[]) => {
    const pooled = new Float32Array(vectors.length * 12);
    vectors.forEach((v, i) => pooled.set(v, i * 12));
    return pooled;
  };

  it.each([
    ['moved outputs', 30, 25, 0.7],
    ['unchanged outputs, stopping early', 40, 40, 0],
  ])('gives what embeddingDrift gives for the same vectors, held as float32: %s', (_name, baseCount, headCount, shift) => {
    const base = rows(baseCount, 0, 4);
    const head = rows(headCount, shift, 6);
    expect(pooledDrift(pool([...base, ...head]), base.length, 12, { permutations: 300 })).toEqual(embeddingDrift(base, head, { permutations: 300 }));
  });

  it('is undefined when a side has no row, and refuses a matrix that is not whole rows', () => {
    const pooled = pool(rows(4, 0, 1));
    expect(pooledDrift(pooled, 0, 12)).toBeUndefined();
    expect(pooledDrift(pooled, 4, 12)).toBeUndefined();
    expect(pooledDrift(pooled, 2, 12)).toBeDefined();
    expect(() => pooledDrift(pooled.subarray(1), 2, 12)).toThrow('embedding drift of 47 values, not whole rows of 12');
    expect(() => pooledDrift(pooled, 2, 0)).toThrow('embedding drift of vectors without dimensions');
  });
});

import { bootstrapMeanInterval } from '../../../src/core/stats/bootstrap.js';
import { createRng } from '../../../src/core/stats/random.js';

/** centre + scale·(Σ of 12 uniforms − 6) from the seeded stream: the data scripts/reference-stats.py builds the same way. */
function irwinHallSample(seed: number, n: number, centre: number, scale: number): number[] {
  const rng = createRng(seed);
  return Array.from({ length: n }, () => {
    let total = 0;
    for (let i = 0; i < 12; i++) total += rng();
    return centre + scale * (total - 6);
  });
}

describe('bootstrapMeanInterval', () => {
  it('is the same for the same seed and differs for another seed', () => {
    const values = irwinHallSample(2, 50, 0, 1);
    expect(bootstrapMeanInterval(values, { seed: 9 })).toEqual(bootstrapMeanInterval(values, { seed: 9 }));
    expect(bootstrapMeanInterval(values, { seed: 9 })).not.toEqual(bootstrapMeanInterval(values, { seed: 10 }));
  });

  it('agrees with the normal-theory interval for 400 roughly normal values', () => {
    // numpy on the same 400 values (scripts/reference-stats.py, "irwinHall_seed7_n400"):
    // mean 0.2606670605734689, sd (ddof=1) 0.506559947975626, mean ± 1.959964·sd/√400 =
    // [0.2110250978713334, 0.3103090232756044]. The bootstrap must match within 10% of the half-width.
    const values = irwinHallSample(7, 400, 0.3, 0.5);
    const interval = bootstrapMeanInterval(values)!;
    const halfWidth = (0.3103090232756044 - 0.2110250978713334) / 2;
    expect(interval.mean).toBeCloseTo(0.2606670605734689, 12);
    expect(Math.abs(interval.low - 0.2110250978713334)).toBeLessThan(0.1 * halfWidth);
    expect(Math.abs(interval.high - 0.3103090232756044)).toBeLessThan(0.1 * halfWidth);
  });

  it.each([
    // An independent Python replay of the method (same mulberry32 stream, index ⌊u·n⌋, numpy.quantile
    // method="linear"): scripts/reference-stats.py, "replay_seed3_n30_seed11_resamples2000" and
    // "replay_seed3_n30_seed5_resamples500_conf90", on 30 values irwinHallSample(3, 30, -0.02, 0.1).
    [{ seed: 11 }, -0.050152293040417115, 0.036624589106184366],
    [{ seed: 5, resamples: 500, confidence: 0.9 }, -0.04617037571403976, 0.028843732919466406],
  ])('matches an independent replay with %j', (options, low, high) => {
    const interval = bootstrapMeanInterval(irwinHallSample(3, 30, -0.02, 0.1), options)!;
    expect(interval.mean).toBeCloseTo(-0.006924437349662182, 14);
    expect(interval.low).toBeCloseTo(low, 12);
    expect(interval.high).toBeCloseTo(high, 12);
  });

  it('gives every call the interval of its own seed and size, whatever was drawn before', () => {
    // The percentile interval worked out here from the seeded stream directly, as documented.
    function direct(values: number[], seed: number): [number, number] {
      const rng = createRng(seed);
      const n = values.length;
      const means = Array.from({ length: 2000 }, () => {
        let sum = 0;
        for (let i = 0; i < n; i++) sum += values[Math.floor(rng() * n)]! - values[0]!;
        return values[0]! + sum / n;
      }).sort((a, b) => a - b);
      const at = (q: number) => {
        const rank = q * 1999;
        const below = Math.floor(rank);
        return means[below]! + (means[below + 1]! - means[below]!) * (rank - below);
      };
      return [at(0.025), at(0.975)];
    }
    const a = [0.1, -0.2, 0.05, 0.3, -0.1, 0.2, 0.15];
    const b = [1, 2, 3, 5, 8, 13, 21, 34, 55];
    const calls: [number[], number][] = [[a, 1], [b, 1], [a, 2], [b, 3], [a, 1], [b, 1], [a, 2]];
    for (const [values, seed] of calls) {
      const interval = bootstrapMeanInterval(values, { seed })!;
      const [low, high] = direct(values, seed);
      expect(interval.low).toBeCloseTo(low, 12);
      expect(interval.high).toBeCloseTo(high, 12);
    }
  });

  it('collapses to the value for constant data', () => {
    expect(bootstrapMeanInterval([0.1, 0.1, 0.1, 0.1])).toEqual({ mean: 0.1, low: 0.1, high: 0.1 });
    expect(bootstrapMeanInterval([-3])).toEqual({ mean: -3, low: -3, high: -3 });
  });

  it('is undefined for no values', () => {
    expect(bootstrapMeanInterval([])).toBeUndefined();
  });

  it('refuses bad options and non-finite values', () => {
    expect(() => bootstrapMeanInterval([1, 2], { confidence: 1 })).toThrow(/confidence/);
    expect(() => bootstrapMeanInterval([1, 2], { resamples: 0 })).toThrow(/resamples/);
    expect(() => bootstrapMeanInterval([1, Number.NaN])).toThrow(/finite/);
  });
});

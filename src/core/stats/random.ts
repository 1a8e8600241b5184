/**
 * A seeded pseudo-random generator: mulberry32 (Tommy Ettinger's 32-bit mixer), returning numbers
 * in [0, 1) with 2^-32 resolution. The seed's integer part modulo 2^32 is the state, so equal seeds
 * give equal streams on every platform; the statistics use it so that reports are reproducible.
 */
export function createRng(seed: number): () => number {
  let state = Math.trunc(seed) >>> 0;
  return function next(): number {
    state = (state + 0x6d2b79f5) >>> 0;
    let t = Math.imul(state ^ (state >>> 15), 1 | state);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** A standard normal draw from two uniforms (Box-Muller, cosine branch); `1 - u` keeps the log finite. */
export function normalDraw(rng: () => number): number {
  const u = 1 - rng();
  const v = rng();
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * v);
}

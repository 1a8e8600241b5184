import type { RepoReader } from '../../ports.js';

/** A repository held in memory (ref → path → text): for tests, benchmarks and simulations. */
export class MemoryRepo implements RepoReader {
  constructor(private readonly refs: Record<string, Record<string, string>>) {}

  async readFile(ref: string, path: string): Promise<string | undefined> {
    const files = this.refs[ref];
    if (!files) throw new Error(`unknown ref ${ref}`);
    return files[path];
  }

  async changedFiles(base: string, head: string): Promise<string[]> {
    const a = this.refs[base] ?? {};
    const b = this.refs[head] ?? {};
    return [...new Set([...Object.keys(a), ...Object.keys(b)])].filter((path) => a[path] !== b[path]).sort();
  }
}

/**
 * Bundles the bench (and so the engine, the adapters and their dependencies) into one plain
 * JavaScript file with esbuild, which tsx already brings along, and the drift thread's module beside
 * it. The scenarios run that file with a bare `node`, as the compiled CLI runs: under tsx the
 * process carries a module-loader thread and transpiler state (about 35 MB of RSS), and each worker
 * thread transpiles its TypeScript source as it starts, which production never does.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { PROJECT_ROOT } from './children.js';

export interface Bundle {
  file: string;
  remove(): Promise<void>;
}

export async function bundleBench(): Promise<Bundle> {
  const esbuild = await import('esbuild');
  const dir = await mkdtemp(join(tmpdir(), 'llmops-bench-'));
  const file = join(dir, 'engine-bench.mjs');
  try {
    await esbuild.build({
      entryPoints: [join(PROJECT_ROOT, 'bench/engine-bench.ts')],
      outfile: file,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'silent',
      // Some CommonJS dependencies call require(); give the ESM bundle one.
      banner: { js: "import { createRequire as __benchRequire } from 'node:module'; const require = __benchRequire(import.meta.url);" },
      // The offline embedder's model packages are never loaded by the bench; keep them out.
      external: ['@energetic-ai/*', 'better-sqlite3', '@google-cloud/*', 'esbuild'],
    });
    // The drift thread's module, where ThreadDrift looks for it: next to the bundle, as in dist/.
    await esbuild.build({
      entryPoints: [join(PROJECT_ROOT, 'src/adapters/local/drift-thread.ts')],
      outfile: join(dir, 'drift-thread.js'),
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      logLevel: 'silent',
    });
    await writeFile(join(dir, 'package.json'), '{ "type": "module" }\n');
  } catch (error) {
    await rm(dir, { recursive: true, force: true });
    throw error;
  }
  return { file, remove: () => rm(dir, { recursive: true, force: true }) };
}

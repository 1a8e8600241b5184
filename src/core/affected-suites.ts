import picomatch from 'picomatch';
import type { LlmopsConfig, Suite } from './config.js';

/**
 * Names the suites a change touches: a suite is affected when one of the changed paths is its
 * prompt, model manifest or dataset, or matches one of its extra `paths` globs.
 */
export function affectedSuites(config: Pick<LlmopsConfig, 'suites'>, changedPaths: readonly string[]): string[] {
  return Object.entries(config.suites)
    .filter(([, suite]) => suiteIsAffected(suite, changedPaths))
    .map(([name]) => name);
}

export function suiteIsAffected(suite: Pick<Suite, 'prompt' | 'model' | 'dataset' | 'paths'>, changedPaths: readonly string[]): boolean {
  const own = new Set([suite.prompt, suite.model, suite.dataset].map(normalise));
  const globs = suite.paths.length > 0 ? picomatch(suite.paths, { dot: true }) : () => false;
  return changedPaths.map(normalise).some((path) => own.has(path) || globs(path));
}

function normalise(path: string): string {
  return path.replace(/^\.\//, '');
}

/**
 * Reads a local checkout at two refs through the `git` command, the way the GitHub App reads a pull
 * request through the API. Paths are relative to the repository's root, as on GitHub, even when
 * `repoDir` is one of its subdirectories.
 */
import { execFile } from 'node:child_process';
import type { RepoReader } from '../../ports.js';

/** Prompts and datasets are text, but a golden dataset can be large; git's output is buffered whole. */
export const MAX_GIT_OUTPUT_BYTES = 64 * 1024 * 1024;

interface GitOutput {
  code: number;
  stdout: string;
  stderr: string;
}

export class GitRepoReader implements RepoReader {
  readonly repoDir: string;

  constructor(repoDir: string) {
    this.repoDir = repoDir;
  }

  async readFile(ref: string, path: string): Promise<string | undefined> {
    checkRef(ref);
    const treePath = checkPath(path);
    // `cat-file blob` rather than `show`: `show` prints a listing for a directory and may apply textconv filters.
    const read = await this.#git(['cat-file', 'blob', `${ref}:${treePath}`]);
    if (read.code === 0) return read.stdout;
    // The cheap path failed: work out why, so a mistyped ref is never mistaken for a missing file.
    const sha = await this.resolveRef(ref);
    const listing = await this.#git(['--literal-pathspecs', 'ls-tree', '--full-tree', '-z', sha, '--', treePath]);
    if (listing.code !== 0) throw gitFailure(`list ${treePath} at ${ref}`, listing);
    const isBlob = listing.stdout
      .split('\0')
      .some((line) => line.endsWith(`\t${treePath}`) && line.split(' ')[1] === 'blob');
    // A directory or a submodule at that path is no more a readable file than nothing is.
    if (!isBlob) return undefined;
    throw gitFailure(`read ${treePath} at ${ref}`, read);
  }

  /**
   * Paths changed on `head` since it left `base` (`base...head`, as a pull request shows them).
   * Renames are listed as their old and their new path, so a suite that used either is affected.
   */
  async changedFiles(base: string, head: string): Promise<string[]> {
    const [baseSha, headSha] = await Promise.all([this.resolveRef(base), this.resolveRef(head)]);
    const mergeBase = await this.#git(['merge-base', baseSha, headSha]);
    if (mergeBase.code === 1) throw new Error(`git refs "${base}" and "${head}" share no history in ${this.repoDir}`);
    if (mergeBase.code !== 0) throw gitFailure(`find the merge base of ${base} and ${head}`, mergeBase);
    // `--no-relative` and `--no-ext-diff` keep user configuration from changing the listing.
    const diff = await this.#git([
      'diff',
      '--name-only',
      '-z',
      '--no-renames',
      '--no-relative',
      '--no-ext-diff',
      '--no-color',
      mergeBase.stdout.trim(),
      headSha,
    ]);
    if (diff.code !== 0) throw gitFailure(`list the files changed between ${base} and ${head}`, diff);
    return diff.stdout.split('\0').filter((path) => path !== '');
  }

  /** The full commit sha a ref names; throws when the ref is unknown. */
  async resolveRef(ref: string): Promise<string> {
    checkRef(ref);
    const parsed = await this.#git(['rev-parse', '--verify', '--quiet', `${ref}^{commit}`]);
    if (parsed.code === 0) return parsed.stdout.trim();
    const repository = await this.#git(['rev-parse', '--git-dir']);
    if (repository.code !== 0) throw gitFailure(`open ${this.repoDir} as a git repository`, repository);
    throw new Error(`unknown git ref "${ref}" in ${this.repoDir}`);
  }

  #git(args: string[]): Promise<GitOutput> {
    return runGit(['-C', this.repoDir, ...args]);
  }
}

/** Refs reach git as arguments: one starting with `-` would be read as an option. */
function checkRef(ref: string): void {
  // `:` would let a ref smuggle in a path (`main:secret`), or search commit messages (`:/text`).
  if (ref === '' || ref.startsWith('-') || /[\s:\x00-\x1f\x7f]/.test(ref)) {
    throw new Error(`invalid git ref "${ref}": a ref cannot be empty, start with "-", or contain spaces, control characters or ":"`);
  }
}

/** Returns the path as git names it from the tree's root. */
function checkPath(path: string): string {
  const treePath = path.replace(/^(\.\/)+/, '');
  if (treePath === '' || treePath.startsWith('/') || treePath.includes('\0')) {
    throw new Error(`invalid repository path "${path}": paths are relative to the repository root`);
  }
  return treePath;
}

function runGit(args: string[]): Promise<GitOutput> {
  return new Promise((resolve, reject) => {
    execFile('git', args, { encoding: 'utf8', maxBuffer: MAX_GIT_OUTPUT_BYTES, env: gitEnv(), windowsHide: true }, (error, stdout, stderr) => {
      if (!error) return resolve({ code: 0, stdout, stderr });
      if (typeof error.code === 'number') return resolve({ code: error.code, stdout, stderr });
      if (error.code === 'ENOENT') return reject(new Error('git is not installed or not on PATH'));
      if (error.code === 'ERR_CHILD_PROCESS_STDIO_MAXBUFFER') {
        return reject(new Error(`git ${args.slice(2).join(' ')} printed more than ${MAX_GIT_OUTPUT_BYTES / 1024 / 1024} MB`));
      }
      reject(new Error(`git ${args.slice(2).join(' ')} failed: ${error.message}`));
    });
  });
}

/**
 * Inside a git hook `GIT_DIR` and `GIT_WORK_TREE` point at the hook's repository and would win over
 * `-C`: the reader must read the repository it was given.
 */
function gitEnv(): NodeJS.ProcessEnv {
  const { GIT_DIR: _dir, GIT_WORK_TREE: _workTree, ...env } = process.env;
  return env;
}

function gitFailure(action: string, output: GitOutput): Error {
  const detail = output.stderr.trim().split('\n')[0] || `exit code ${output.code}`;
  return new Error(`git could not ${action}: ${detail}`);
}

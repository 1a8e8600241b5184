import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { GitRepoReader } from '../../../src/adapters/local/git-repo-reader.js';

const BIG_FILE_BYTES = 3 * 1024 * 1024;
let root: string;
let repoDir: string;
let reader: GitRepoReader;

function git(...args: string[]): string {
  const { GIT_DIR: _dir, GIT_WORK_TREE: _workTree, GIT_INDEX_FILE: _index, ...env } = process.env;
  return execFileSync(
    'git',
    ['-c', 'user.name=Gate Test', '-c', 'user.email=gate@example.com', '-c', 'commit.gpgsign=false', '-c', 'init.defaultBranch=main', ...args],
    { cwd: repoDir, encoding: 'utf8', env },
  );
}

function write(path: string, text: string): void {
  mkdirSync(dirname(join(repoDir, path)), { recursive: true });
  writeFileSync(join(repoDir, path), text);
}

beforeAll(() => {
  root = mkdtempSync(join(tmpdir(), 'llmops-git-reader-'));
  repoDir = join(root, 'repo');
  mkdirSync(repoDir);
  git('init', '--quiet');
  write('.llmops.yml', 'version: 1\n');
  write('prompts/support.md', 'You are a support agent. v1\n');
  write('prompts/old name.md', 'content that moves\n');
  write('prompts/café.txt', 'unicode path\n');
  write('to-delete.txt', 'bye\n');
  write('dir with space/file one.md', 'spaces\n');
  write('data/big.jsonl', `${'x'.repeat(BIG_FILE_BYTES - 1)}\n`);
  git('add', '-A');
  git('commit', '--quiet', '-m', 'base');

  git('checkout', '--quiet', '-b', 'feature');
  write('prompts/support.md', 'You are a support agent. v2\n');
  git('mv', 'prompts/old name.md', 'prompts/new name.md');
  git('rm', '--quiet', 'to-delete.txt');
  write('dir with space/file two.md', 'more spaces\n');
  git('add', '-A');
  git('commit', '--quiet', '-m', 'feature');

  // main moves on after the branch: a pull request must not show main's own changes.
  git('checkout', '--quiet', 'main');
  write('main-only.txt', 'landed on main\n');
  git('add', '-A');
  git('commit', '--quiet', '-m', 'main moves on');

  git('checkout', '--quiet', '--orphan', 'unrelated');
  write('other.txt', 'no shared history\n');
  git('add', '-A');
  git('commit', '--quiet', '-m', 'orphan');
  git('checkout', '--quiet', '--force', 'main');

  reader = new GitRepoReader(repoDir);
});

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
});

describe('GitRepoReader.readFile', () => {
  it('reads a file as it is at each ref', async () => {
    expect(await reader.readFile('main', 'prompts/support.md')).toBe('You are a support agent. v1\n');
    expect(await reader.readFile('feature', 'prompts/support.md')).toBe('You are a support agent. v2\n');
  });

  it('reads paths with spaces and non-ASCII characters', async () => {
    expect(await reader.readFile('main', 'dir with space/file one.md')).toBe('spaces\n');
    expect(await reader.readFile('feature', 'dir with space/file two.md')).toBe('more spaces\n');
    expect(await reader.readFile('main', 'prompts/café.txt')).toBe('unicode path\n');
  });

  it('returns undefined for a path that does not exist at the ref', async () => {
    expect(await reader.readFile('main', 'to-delete.txt')).toBe('bye\n');
    expect(await reader.readFile('feature', 'to-delete.txt')).toBeUndefined();
    expect(await reader.readFile('main', 'prompts/new name.md')).toBeUndefined();
    expect(await reader.readFile('feature', 'prompts/new name.md')).toBe('content that moves\n');
    expect(await reader.readFile('main', 'nowhere/at/all.md')).toBeUndefined();
  });

  it('returns undefined for a directory, and does not read a path as a pattern', async () => {
    expect(await reader.readFile('main', 'prompts')).toBeUndefined();
    expect(await reader.readFile('main', 'prompts/*.md')).toBeUndefined();
  });

  it('throws a clear error for an unknown ref rather than calling the file missing', async () => {
    await expect(reader.readFile('no-such-branch', 'prompts/support.md')).rejects.toThrow(`unknown git ref "no-such-branch" in ${repoDir}`);
  });

  it('rejects refs that git could read as options or paths', async () => {
    for (const ref of ['--output=/tmp/owned', '-p', '', 'main:prompts/support.md', 'main branch']) {
      await expect(reader.readFile(ref, 'prompts/support.md')).rejects.toThrow(`invalid git ref "${ref}"`);
    }
    await expect(reader.resolveRef('--all')).rejects.toThrow('invalid git ref "--all"');
  });

  it('reads paths from the repository root, even from a subdirectory', async () => {
    expect(await reader.readFile('main', './.llmops.yml')).toBe('version: 1\n');
    const fromSubdirectory = new GitRepoReader(join(repoDir, 'prompts'));
    expect(await fromSubdirectory.readFile('main', '.llmops.yml')).toBe('version: 1\n');
    expect(await fromSubdirectory.changedFiles('main', 'feature')).toContain('to-delete.txt');
  });

  it('reads files larger than the default child-process buffer', async () => {
    const text = await reader.readFile('main', 'data/big.jsonl');
    expect(text).toHaveLength(BIG_FILE_BYTES);
  });

  it('reads at a commit sha', async () => {
    const sha = await reader.resolveRef('feature');
    expect(await reader.readFile(sha, 'prompts/support.md')).toBe('You are a support agent. v2\n');
  });
});

describe('GitRepoReader.changedFiles', () => {
  it('lists what the branch changed since it left the base, renames by both paths', async () => {
    const changed = await reader.changedFiles('main', 'feature');
    expect([...changed].sort()).toEqual(
      ['dir with space/file two.md', 'prompts/new name.md', 'prompts/old name.md', 'prompts/support.md', 'to-delete.txt'].sort(),
    );
    expect(changed).not.toContain('main-only.txt');
  });

  it('is directional, like a pull request', async () => {
    expect(await reader.changedFiles('feature', 'main')).toEqual(['main-only.txt']);
    expect(await reader.changedFiles('main', 'main')).toEqual([]);
  });

  it('throws for an unknown ref and for refs without a common ancestor', async () => {
    await expect(reader.changedFiles('main', 'nope')).rejects.toThrow(`unknown git ref "nope" in ${repoDir}`);
    await expect(reader.changedFiles('main', 'unrelated')).rejects.toThrow(`git refs "main" and "unrelated" share no history in ${repoDir}`);
  });
});

describe('GitRepoReader.resolveRef', () => {
  it('returns the full commit sha of a branch, a sha or an expression', async () => {
    const sha = git('rev-parse', 'main').trim();
    expect(await reader.resolveRef('main')).toBe(sha);
    expect(await reader.resolveRef(sha.slice(0, 12))).toBe(sha);
    expect(await reader.resolveRef('feature~1')).toBe(git('rev-parse', 'feature~1').trim());
  });

  it('says when the directory is not a git repository', async () => {
    const plain = mkdtempSync(join(root, 'plain-'));
    await expect(new GitRepoReader(plain).resolveRef('main')).rejects.toThrow(`git could not open ${plain} as a git repository`);
    await expect(new GitRepoReader(join(root, 'missing')).readFile('main', 'a')).rejects.toThrow('as a git repository');
  });

  it('reads the repository it was given even when GIT_DIR points elsewhere', async () => {
    const saved = process.env.GIT_DIR;
    process.env.GIT_DIR = join(root, 'not-this-one');
    try {
      expect(await reader.resolveRef('main')).toMatch(/^[0-9a-f]{40}$/);
    } finally {
      if (saved === undefined) delete process.env.GIT_DIR;
      else process.env.GIT_DIR = saved;
    }
  });
});

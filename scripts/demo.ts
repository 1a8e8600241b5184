/**
 * `npm run demo`: the gate on a real pull-request-shaped change, offline. Builds a throwaway git
 * repository whose main branch holds the example support bot and whose `prompt-change` branch
 * rewrites its prompt, then runs the CLI on the two branches, answering from the example cassette.
 * `npm run demo -- --keep` leaves the repository in place, e.g. to re-record it against a live model.
 */
import { execFile } from 'node:child_process';
import { cp, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parseArgs, promisify } from 'node:util';
import { fileURLToPath } from 'node:url';
import { EXIT, runCli } from '../src/cli/run-cli.js';

const EXAMPLE_DIR = fileURLToPath(new URL('../examples/support-bot/', import.meta.url));
const CASSETTE = join(EXAMPLE_DIR, 'cassette.json');
const BASE = 'main';
const HEAD = 'prompt-change';

const run = promisify(execFile);

async function main(): Promise<number> {
  const { values } = parseArgs({ options: { keep: { type: 'boolean', default: false } } });
  const repo = await mkdtemp(join(tmpdir(), 'llmops-gate-demo-'));
  try {
    await buildRepository(repo);
    process.stdout.write(
      `Demo repository: ${repo}\n` +
        `  ${BASE}: the Acme support bot (prompt, model manifest, golden dataset)\n` +
        `  ${HEAD}: "Make support answers snappier" (rewrites prompts/support.md)\n` +
        `Answers come from ${CASSETTE}: example outputs written for this demo, not a live model's.\n\n`,
    );
    const code = await runCli(['eval', '--repo', repo, '--base', BASE, '--head', HEAD, '--cassette', CASSETTE], {
      stdout: (text) => process.stdout.write(text),
      stderr: (text) => process.stderr.write(text),
      // The demo never calls a live model, whatever this shell's environment holds.
      env: { ...process.env, OPENAI_API_KEY: undefined },
      cwd: process.cwd(),
    });
    process.stdout.write(`\n${closingLine(code)}\n`);
    return code === EXIT.pass || code === EXIT.fail ? 0 : 2;
  } finally {
    if (values.keep) process.stdout.write(`The demo repository is kept at ${repo}\n`);
    else await rm(repo, { recursive: true, force: true });
  }
}

async function buildRepository(repo: string): Promise<void> {
  await git(repo, 'init', '--quiet', '-b', BASE);
  await cp(join(EXAMPLE_DIR, 'main'), repo, { recursive: true });
  await git(repo, 'add', '--all');
  await git(repo, 'commit', '--quiet', '-m', 'Support bot: prompt, manifest, golden dataset');
  await git(repo, 'checkout', '--quiet', '-b', HEAD);
  await cp(join(EXAMPLE_DIR, 'pr'), repo, { recursive: true });
  await git(repo, 'add', '--all');
  await git(repo, 'commit', '--quiet', '-m', 'Make support answers snappier');
}

function git(repo: string, ...args: string[]): Promise<unknown> {
  // The demo must not depend on, or be changed by, the user's git identity, signing or hooks.
  const settings = ['user.name=LLMOps Gate demo', 'user.email=demo@llmops-gate.invalid', 'commit.gpgsign=false', 'core.hooksPath=/dev/null'];
  const { GIT_DIR: _dir, GIT_WORK_TREE: _workTree, GIT_INDEX_FILE: _index, ...env } = process.env;
  return run('git', [...settings.flatMap((s) => ['-c', s]), '-C', repo, ...args], { env });
}

function closingLine(code: number): string {
  if (code === EXIT.fail) {
    return `Demo complete: the gate FAILED this prompt change (exit status ${code}), which is what it is built to catch.`;
  }
  if (code === EXIT.pass) return `Demo complete: the gate PASSED this prompt change (exit status ${code}).`;
  return `Demo incomplete: the evaluation reached no verdict (exit status ${code}); see the messages above.`;
}

process.exitCode = await main().catch((error: unknown) => {
  process.stderr.write(`The demo could not run: ${error instanceof Error ? error.message : String(error)}\n`);
  return 2;
});

/**
 * Cuts GitHub's REST description (`@octokit/openapi`, 13 MB) down to the operations this app calls,
 * so tests can validate every request body the app sends without a 385 MB dev dependency.
 *
 *   npx tsx scripts/cut-openapi.ts /tmp/ghmat/node_modules/@octokit/openapi/generated/api.github.com.json
 *
 * Writes test/fixtures/github/openapi-subset.json. Each kept operation is copied as published
 * (parameters, request body, responses), and so is every `$ref`'d component it needs, transitively,
 * with its own `$ref`s intact. Adding an operation here is the way to let the app call a new endpoint.
 */
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { basename, dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

export const GITHUB_OPERATIONS = [
  ['post', '/repos/{owner}/{repo}/check-runs'],
  ['patch', '/repos/{owner}/{repo}/check-runs/{check_run_id}'],
  ['get', '/repos/{owner}/{repo}/check-runs/{check_run_id}'],
  ['get', '/repos/{owner}/{repo}/commits/{ref}/check-runs'],
  ['get', '/repos/{owner}/{repo}/commits/{commit_sha}/pulls'],
  ['get', '/repos/{owner}/{repo}/contents/{path}'],
  ['get', '/repos/{owner}/{repo}/pulls/{pull_number}'],
  ['get', '/repos/{owner}/{repo}/pulls/{pull_number}/files'],
  ['get', '/repos/{owner}/{repo}/compare/{basehead}'],
  ['get', '/repos/{owner}/{repo}/issues/{issue_number}/comments'],
  ['post', '/repos/{owner}/{repo}/issues/{issue_number}/comments'],
  ['patch', '/repos/{owner}/{repo}/issues/comments/{comment_id}'],
  ['post', '/repos/{owner}/{repo}/issues/comments/{comment_id}/reactions'],
  ['get', '/repos/{owner}/{repo}/collaborators/{username}/permission'],
  ['post', '/app/installations/{installation_id}/access_tokens'],
] as const;

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type JsonObject = { [key: string]: Json };

interface OpenApiDocument {
  openapi: string;
  info: JsonObject;
  paths: Record<string, Record<string, JsonObject>>;
  components: Record<string, Record<string, Json>>;
}

const COMPONENT_REF = /^#\/components\/([^/]+)\/([^/]+)$/;

function isObject(value: Json | undefined): value is JsonObject {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function collectRefs(value: Json | undefined, into: Set<string>): void {
  if (Array.isArray(value)) {
    for (const item of value) collectRefs(item, into);
    return;
  }
  if (!isObject(value)) return;
  for (const [key, child] of Object.entries(value)) {
    if (key === '$ref' && typeof child === 'string') into.add(child);
    else collectRefs(child, into);
  }
}

function lookUpComponent(doc: OpenApiDocument, ref: string): { kind: string; name: string; value: Json } {
  const match = COMPONENT_REF.exec(ref);
  if (!match) throw new Error(`unsupported $ref ${ref}: only #/components/<kind>/<name> is handled`);
  const [, kind = '', name = ''] = match;
  const value = doc.components[kind]?.[name];
  if (value === undefined) throw new Error(`dangling $ref ${ref}`);
  return { kind, name, value };
}

export function cutOpenApi(
  doc: OpenApiDocument,
  source: string,
  operations: ReadonlyArray<readonly [string, string]> = GITHUB_OPERATIONS,
): OpenApiDocument {
  const paths: OpenApiDocument['paths'] = {};
  const pending = new Set<string>();

  for (const [method, path] of operations) {
    const pathItem = doc.paths[path];
    const operation = pathItem?.[method];
    if (!pathItem || !operation) throw new Error(`${method.toUpperCase()} ${path} is not in the description`);
    const kept: JsonObject = { ...operation };
    // Parameters declared on the path item apply to every method under it.
    const shared = pathItem.parameters;
    if (Array.isArray(shared)) kept.parameters = [...shared, ...(Array.isArray(operation.parameters) ? operation.parameters : [])];
    paths[path] = { ...paths[path], [method]: kept };
    collectRefs(kept, pending);
  }

  const components: OpenApiDocument['components'] = {};
  const seen = new Set<string>();
  for (const ref of pending) {
    if (seen.has(ref)) continue;
    seen.add(ref);
    const { kind, name, value } = lookUpComponent(doc, ref);
    (components[kind] ??= {})[name] = value;
    const nested = new Set<string>();
    collectRefs(value, nested);
    // A Set visits values added during iteration, which makes this loop the transitive closure.
    for (const next of nested) pending.add(next);
  }

  for (const kind of Object.keys(components)) {
    const entries = components[kind] ?? {};
    components[kind] = Object.fromEntries(Object.entries(entries).sort(([a], [b]) => a.localeCompare(b)));
  }

  return {
    openapi: doc.openapi,
    info: {
      title: doc.info.title ?? 'GitHub v3 REST API',
      version: doc.info.version ?? '',
      description: `Subset of ${source} cut by scripts/cut-openapi.ts.`,
    },
    paths,
    components,
  };
}

/** Names the package and version the description came from, e.g. `@octokit/openapi@23.0.2 generated/api.github.com.json`. */
function describeSource(source: string): string {
  const packageFile = resolve(dirname(source), '../package.json');
  if (!existsSync(packageFile)) return basename(source);
  const { name, version } = JSON.parse(readFileSync(packageFile, 'utf8')) as { name?: string; version?: string };
  return `${name}@${version} generated/${basename(source)}`;
}

function main(argv: string[]): void {
  const source = argv[2];
  if (!source) {
    console.error('usage: npx tsx scripts/cut-openapi.ts <path to @octokit/openapi/generated/api.github.com.json> [output]');
    process.exit(2);
  }
  const here = dirname(fileURLToPath(import.meta.url));
  const target = argv[3] ?? resolve(here, '../test/fixtures/github/openapi-subset.json');
  const doc = JSON.parse(readFileSync(source, 'utf8')) as OpenApiDocument;
  const subset = cutOpenApi(doc, describeSource(source));
  const text = `${JSON.stringify(subset, null, 2)}\n`;
  writeFileSync(target, text);
  const componentCount = Object.values(subset.components).reduce((n, kind) => n + Object.keys(kind).length, 0);
  console.log(`wrote ${target}: ${GITHUB_OPERATIONS.length} operations, ${componentCount} components, ${text.length} bytes`);
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) main(process.argv);

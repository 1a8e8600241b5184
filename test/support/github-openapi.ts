/**
 * Checks every request the app sends to GitHub against GitHub's own REST description, cut to the
 * operations the app is allowed to call (test/fixtures/github/openapi-subset.json, written by
 * scripts/cut-openapi.ts). A request to any other endpoint is a problem, so a new call has to be
 * vetted by adding it to the cut.
 *
 * Beyond the schema, it reports what GitHub rejects or silently drops but its schema lets through:
 * properties the operation does not declare, a completed check run without a conclusion, and the
 * documented size limits.
 */
import { readFileSync } from 'node:fs';
import { Ajv, type ErrorObject, type ValidateFunction } from 'ajv';
import addFormatsModule from 'ajv-formats';
import nock from 'nock';

type Schema = { [key: string]: unknown };

interface Operation {
  method: string;
  template: string;
  pattern: RegExp;
  literalSegments: number;
  bodySchema: Schema | undefined;
  bodyRequired: boolean;
}

/** GitHub's documented limits that its schema does not always carry. */
export const GITHUB_LIMITS = {
  checkRunOutputText: 65_535,
  checkRunAnnotations: 50,
  checkRunActions: 3,
  commentBody: 65_536,
} as const;

const CHECK_RUN_OPERATIONS = new Set(['POST /repos/{owner}/{repo}/check-runs', 'PATCH /repos/{owner}/{repo}/check-runs/{check_run_id}']);
const COMMENT_OPERATIONS = new Set([
  'POST /repos/{owner}/{repo}/issues/{issue_number}/comments',
  'PATCH /repos/{owner}/{repo}/issues/comments/{comment_id}',
]);
const DOCUMENT_ID = 'github-openapi-subset';
const HTTP_METHODS = new Set(['get', 'put', 'post', 'patch', 'delete', 'head', 'options']);

const subset = JSON.parse(readFileSync(new URL('../fixtures/github/openapi-subset.json', import.meta.url), 'utf8')) as {
  paths: Record<string, Record<string, Schema>>;
};

// ajv-formats ships CommonJS with a default export that ESM sees one level down.
const addFormats = ((addFormatsModule as unknown as { default?: unknown }).default ?? addFormatsModule) as (ajv: Ajv) => Ajv;
const ajv = addFormats(new Ajv({ allErrors: true, strict: false, logger: false }));
ajv.addSchema(subset, DOCUMENT_ID);

const operations = buildOperations();
const validators = new Map<Operation, ValidateFunction>();

function isSchema(value: unknown): value is Schema {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function escapePointer(part: string): string {
  return part.replaceAll('~', '~0').replaceAll('/', '~1');
}

function escapeRegExp(text: string): string {
  return text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

function resolveRef(schema: Schema): Schema {
  let current = schema;
  for (let hops = 0; typeof current.$ref === 'string' && hops < 32; hops += 1) {
    const ref = current.$ref;
    if (!ref.startsWith('#/')) throw new Error(`unsupported $ref ${ref}`);
    let target: unknown = subset;
    for (const raw of ref.slice(2).split('/')) {
      const part = raw.replaceAll('~1', '/').replaceAll('~0', '~');
      target = isSchema(target) ? target[part] : undefined;
    }
    if (!isSchema(target)) throw new Error(`dangling $ref ${ref} in the OpenAPI subset`);
    current = target;
  }
  return current;
}

function buildOperations(): Operation[] {
  const built: Operation[] = [];
  for (const [template, pathItem] of Object.entries(subset.paths)) {
    const segments = template.split('/').slice(1);
    const pattern = segments
      .map((segment, index) => {
        // A file path is the only parameter that may keep its slashes (Octokit encodes them as %2F).
        if (segment === '{path}' && index === segments.length - 1) return '.+';
        return segment.split(/(\{[^}]+\})/).map((piece) => (piece.startsWith('{') ? '[^/]+' : escapeRegExp(piece))).join('');
      })
      .join('/');
    const literalSegments = segments.filter((segment) => !segment.includes('{')).length;
    for (const [method, operation] of Object.entries(pathItem)) {
      if (!HTTP_METHODS.has(method)) continue;
      const requestBody = isSchema(operation.requestBody) ? resolveRef(operation.requestBody) : undefined;
      const content = isSchema(requestBody?.content) ? requestBody.content : undefined;
      const json = isSchema(content?.['application/json']) ? content['application/json'] : undefined;
      built.push({
        method: method.toUpperCase(),
        template,
        pattern: new RegExp(`^/${pattern}$`),
        literalSegments,
        bodySchema: isSchema(json?.schema) ? json.schema : undefined,
        bodyRequired: requestBody?.required === true,
      });
    }
  }
  // The most literal template wins when two could match the same path.
  return built.sort((a, b) => b.literalSegments - a.literalSegments);
}

function validatorFor(operation: Operation): ValidateFunction {
  let validate = validators.get(operation);
  if (!validate) {
    const pointer = ['paths', operation.template, operation.method.toLowerCase(), 'requestBody', 'content', 'application/json', 'schema']
      .map(escapePointer)
      .join('/');
    validate = ajv.compile({ $ref: `${DOCUMENT_ID}#/${pointer}` });
    validators.set(operation, validate);
  }
  return validate;
}

/** Accepts a path, a path with a query, or a full URL; drops GitHub Enterprise's /api/v3 prefix. */
function normalizePath(path: string): string {
  const pathname = new URL(path, 'https://api.github.com').pathname;
  return pathname.replace(/^\/api\/v3(?=\/)/, '');
}

function findOperation(method: string, path: string): Operation | undefined {
  return operations.find((operation) => operation.method === method && operation.pattern.test(path));
}

function describeAjvError(error: ErrorObject): string {
  const where = `body${error.instancePath}`;
  if (error.keyword === 'additionalProperties') return `${where} has a property the schema forbids: '${String(error.params.additionalProperty)}'`;
  if (error.keyword === 'enum') return `${where} ${error.message}: ${(error.params.allowedValues as unknown[]).map((v) => JSON.stringify(v)).join(', ')}`;
  return `${where} ${error.message ?? error.keyword}`;
}

/** Every schema a value must satisfy at once or may satisfy instead: refs resolved, allOf/anyOf/oneOf flattened. */
function flatten(schemas: Schema[], seen = new Set<Schema>()): Schema[] {
  const flat: Schema[] = [];
  for (const candidate of schemas) {
    const schema = resolveRef(candidate);
    if (seen.has(schema)) continue;
    seen.add(schema);
    flat.push(schema);
    for (const keyword of ['allOf', 'anyOf', 'oneOf']) {
      const branches = schema[keyword];
      if (Array.isArray(branches)) flat.push(...flatten(branches.filter(isSchema), seen));
    }
  }
  return flat;
}

/**
 * GitHub's schemas rarely say `additionalProperties: false`, so a misspelt field is accepted by the
 * schema and ignored by GitHub. Report every property that no applicable schema declares.
 * `additionalProperties: true` is ignored here on purpose: GitHub puts it on anyOf branches that
 * only narrow `status`, and it would otherwise switch the check off.
 */
function findUndeclared(value: unknown, schemas: Schema[], where: string, problems: string[]): void {
  const flat = flatten(schemas);
  if (Array.isArray(value)) {
    const items = flat.map((schema) => schema.items).filter(isSchema);
    if (items.length > 0) value.forEach((item, index) => findUndeclared(item, items, `${where}/${index}`, problems));
    return;
  }
  if (!isSchema(value)) return;
  const declared = new Map<string, Schema[]>();
  const maps: Schema[] = [];
  for (const schema of flat) {
    if (isSchema(schema.properties)) {
      for (const [name, child] of Object.entries(schema.properties)) {
        if (isSchema(child)) declared.set(name, [...(declared.get(name) ?? []), child]);
      }
    }
    if (isSchema(schema.additionalProperties)) maps.push(schema.additionalProperties);
  }
  // An object schema that names no property is free-form.
  if (declared.size === 0 && maps.length === 0) return;
  for (const [name, child] of Object.entries(value)) {
    const childSchemas = declared.get(name) ?? maps;
    if (childSchemas.length > 0) findUndeclared(child, childSchemas, `${where}/${name}`, problems);
    else problems.push(`${where} has a property GitHub does not declare: '${name}'`);
  }
}

interface RuleProblem {
  /** The JSON pointer into the body the rule is about; skipped when Ajv already reported it. */
  at: string;
  message: string;
}

function checkRunRules(body: Schema): RuleProblem[] {
  const problems: RuleProblem[] = [];
  const hasConclusion = body.conclusion !== undefined && body.conclusion !== null;
  if (body.status === 'completed' && !hasConclusion) {
    problems.push({ at: '/conclusion', message: "body has status 'completed' but no conclusion" });
  }
  if (body.completed_at !== undefined && !hasConclusion) {
    problems.push({ at: '/conclusion', message: 'body has completed_at but no conclusion' });
  }
  const output = isSchema(body.output) ? body.output : undefined;
  for (const field of ['summary', 'text'] as const) {
    const text = output?.[field];
    if (typeof text === 'string' && text.length > GITHUB_LIMITS.checkRunOutputText) {
      problems.push({ at: `/output/${field}`, message: `body/output/${field} has ${text.length} characters; GitHub allows ${GITHUB_LIMITS.checkRunOutputText}` });
    }
  }
  const annotations = output?.annotations;
  if (Array.isArray(annotations) && annotations.length > GITHUB_LIMITS.checkRunAnnotations) {
    problems.push({ at: '/output/annotations', message: `body/output/annotations has ${annotations.length} items; GitHub allows ${GITHUB_LIMITS.checkRunAnnotations} per request` });
  }
  if (Array.isArray(body.actions) && body.actions.length > GITHUB_LIMITS.checkRunActions) {
    problems.push({ at: '/actions', message: `body/actions has ${body.actions.length} items; GitHub allows ${GITHUB_LIMITS.checkRunActions}` });
  }
  return problems;
}

function commentRules(body: Schema): RuleProblem[] {
  if (typeof body.body !== 'string' || body.body.length <= GITHUB_LIMITS.commentBody) return [];
  return [{ at: '/body', message: `body/body has ${body.body.length} characters; GitHub allows ${GITHUB_LIMITS.commentBody}` }];
}

function parseBody(body: unknown): { value: unknown; problem?: string } {
  if (body === undefined || body === null || body === '') return { value: undefined };
  const text = Buffer.isBuffer(body) ? body.toString('utf8') : body;
  if (typeof text !== 'string') return { value: text };
  try {
    return { value: JSON.parse(text) as unknown };
  } catch {
    return { value: undefined, problem: `body is not JSON: ${JSON.stringify(text.slice(0, 80))}` };
  }
}

/**
 * Returns what is wrong with one request the app sends to GitHub, each problem a sentence; an empty
 * list means the request is one the app may make, with a body GitHub accepts.
 *
 * @param method HTTP method, any case
 * @param path the request path, e.g. `/repos/o/r/check-runs/5`; a query or a full URL is accepted
 * @param body the parsed JSON body, or the raw text as sent (`''`/`undefined` for none)
 */
export function validateGitHubRequest(method: string, path: string, body: unknown): string[] {
  const upper = method.toUpperCase();
  const pathname = normalizePath(path);
  const operation = findOperation(upper, pathname);
  if (!operation) {
    return [`${upper} ${pathname} is not an operation in test/fixtures/github/openapi-subset.json (add it to scripts/cut-openapi.ts once vetted)`];
  }
  const label = `${upper} ${operation.template}`;
  const parsed = parseBody(body);
  if (parsed.problem) return [`${label}: ${parsed.problem}`];
  const value = parsed.value;

  if (!operation.bodySchema) {
    return value === undefined ? [] : [`${label}: sends a body but the operation takes none`];
  }
  if (value === undefined) {
    return operation.bodyRequired ? [`${label}: body is required`] : [];
  }

  const problems: string[] = [];
  const validate = validatorFor(operation);
  const flagged = new Set<string>();
  if (!validate(value)) {
    for (const error of validate.errors ?? []) {
      problems.push(describeAjvError(error));
      const missing = error.keyword === 'required' ? `/${String(error.params.missingProperty)}` : '';
      flagged.add(`${error.instancePath}${missing}`);
    }
  }
  findUndeclared(value, [operation.bodySchema], 'body', problems);

  const key = `${upper} ${operation.template}`;
  if (isSchema(value)) {
    const rules = CHECK_RUN_OPERATIONS.has(key) ? checkRunRules(value) : COMMENT_OPERATIONS.has(key) ? commentRules(value) : [];
    for (const rule of rules) if (!flagged.has(rule.at)) problems.push(rule.message);
  }
  return [...new Set(problems)].map((problem) => `${label}: ${problem}`);
}

export interface RecordedGitHubRequest {
  method: string;
  /** The path as sent, query included. */
  path: string;
  /** The JSON body as sent, parsed; `undefined` when there was none. */
  body: unknown;
  problems: string[];
}

export interface GitHubRequestRecorder {
  /** Every request a watched scope answered, in order: assert bodies on these. */
  readonly requests: RecordedGitHubRequest[];
  /** Every problem so far, including requests to a watched host that no interceptor matched. */
  readonly problems: string[];
  /** Validates every request the scope answers from now on; returns the scope for chaining. */
  watch<S extends nock.Scope>(scope: S): S;
  /** A new watched scope, by default for https://api.github.com. */
  scope(basePath?: string): nock.Scope;
  /** Stops listening for unmatched requests (scopes die with `nock.cleanAll()`). */
  stop(): void;
}

interface NockRequestLike {
  method?: string;
  path?: string;
  host?: string;
  hostname?: string;
  headers?: Record<string, unknown>;
}

function hostOf(basePath: unknown): string | undefined {
  if (typeof basePath !== 'string') return undefined;
  try {
    return new URL(basePath).hostname;
  } catch {
    return undefined;
  }
}

/**
 * Collects a problem list for every request that reaches nock on the scopes it watches, and for
 * every request to a watched host that nothing matched (nock rejects those, but an app that turns
 * errors into reports could hide that). Works for `fetch`, which Probot's Octokit uses, through
 * nock 14's `scope.on('request', (req, interceptor, body) => …)`.
 *
 *   const github = githubRequestRecorder();
 *   github.scope().post('/repos/o/r/check-runs').reply(201, { id: 1 });
 *   … run the handler …
 *   expect(github.problems).toEqual([]);
 *   github.stop();
 */
export function githubRequestRecorder(): GitHubRequestRecorder {
  const requests: RecordedGitHubRequest[] = [];
  const problems: string[] = [];
  const hosts = new Set<string>();

  function record(method: string, path: string, rawBody: unknown): void {
    const found = validateGitHubRequest(method, path, rawBody);
    const parsed = parseBody(rawBody);
    requests.push({ method, path, body: parsed.value, problems: found });
    problems.push(...found);
  }

  function onUnmatched(...args: unknown[]): void {
    const [first, second] = args as [NockRequestLike | undefined, NockRequestLike | undefined];
    const method = (first?.method ?? second?.method ?? 'GET').toUpperCase();
    const path = first?.path ?? second?.path ?? '/';
    const host = second?.hostname ?? second?.host ?? first?.hostname ?? first?.host ?? String(first?.headers?.host ?? '');
    const hostname = host.replace(/:\d+$/, '');
    if (!hosts.has(hostname)) return;
    problems.push(`${method} https://${hostname}${path} reached no nock interceptor`);
  }

  nock.emitter.on('no match', onUnmatched);

  function watch<S extends nock.Scope>(scope: S): S {
    const host = hostOf((scope as unknown as { basePath?: unknown }).basePath);
    if (host) hosts.add(host);
    scope.on('request', (req: NockRequestLike, _interceptor: unknown, body: unknown) => {
      record(req.method ?? 'GET', req.path ?? '/', body);
    });
    return scope;
  }

  return {
    requests,
    problems,
    watch,
    scope: (basePath = 'https://api.github.com') => watch(nock(basePath)),
    stop: () => {
      nock.emitter.off('no match', onUnmatched);
    },
  };
}

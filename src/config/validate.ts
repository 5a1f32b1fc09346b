// A small JSON Schema validator for the subset that src/build-schema.mjs generates: type, const,
// enum, anyOf/oneOf, $ref into $defs, properties/required/additionalProperties:false, items, the
// four numeric bounds and pattern. It collects every problem (it does not stop at the first), each
// with the JSON path, what was expected and what was found, in words a person can act on.
import { didYouMean } from './suggest.js';

export interface Schema {
  $schema?: string;
  $ref?: string;
  $defs?: Record<string, Schema>;
  type?: 'object' | 'array' | 'string' | 'number' | 'integer' | 'boolean';
  const?: unknown;
  enum?: unknown[];
  anyOf?: Schema[];
  oneOf?: Schema[];
  items?: Schema;
  properties?: Record<string, Schema>;
  required?: string[];
  /** false: no other keys; a schema: every other key's value. */
  additionalProperties?: boolean | Schema;
  default?: unknown;
  minimum?: number;
  maximum?: number;
  exclusiveMinimum?: number;
  exclusiveMaximum?: number;
  /** A regular expression a string must match, and what it allows in words (for messages). */
  pattern?: string;
  'x-patternText'?: string;
  /** An optional section whose presence turns its feature on: applyDefaults never creates it. */
  'x-offWhenAbsent'?: boolean;
  description?: string;
  title?: string;
}

export type PathSeg = string | number;

/** One problem: where (`path`, e.g. ['train', 'lr']) and what (`message`, e.g. "expected a number > 0, found -1"). */
export interface Problem {
  path: PathSeg[];
  message: string;
}

/** `train.lr`, `data.labels[2]`, `(top level)`. */
export function formatPath(path: readonly PathSeg[]): string {
  if (path.length === 0) return '(top level)';
  let s = '';
  for (const seg of path) {
    if (typeof seg === 'number') s += `[${seg}]`;
    else if (/^[A-Za-z_$][\w$-]*$/.test(seg)) s += (s ? '.' : '') + seg;
    else s += `[${JSON.stringify(seg)}]`;
  }
  return s;
}

/** Follows `$ref` (into the root's `$defs`); keywords beside the `$ref` win. */
export function resolveRef(s: Schema, root: Schema): Schema {
  if (!s.$ref) return s;
  const m = /^#\/\$defs\/(.+)$/.exec(s.$ref);
  const target = m ? root.$defs?.[m[1]] : undefined;
  if (!target) throw new Error(`schema: cannot resolve ${s.$ref}`);
  const { $ref: _ref, ...rest } = s;
  return { ...resolveRef(target, root), ...rest };
}

const branchesOf = (s: Schema) => s.anyOf ?? s.oneOf;

// ---------------------------------------------------------------- words

const q = (v: unknown) => '`' + (typeof v === 'string' ? v : JSON.stringify(v)) + '`';
const list = (xs: string[]) => (xs.length <= 1 ? xs.join('') : `${xs.slice(0, -1).join(', ')} or ${xs[xs.length - 1]}`);

function bounds(s: Schema): string {
  const lo = s.minimum !== undefined ? ['>=', s.minimum] as const : s.exclusiveMinimum !== undefined ? ['>', s.exclusiveMinimum] as const : undefined;
  const hi = s.maximum !== undefined ? ['<=', s.maximum] as const : s.exclusiveMaximum !== undefined ? ['<', s.exclusiveMaximum] as const : undefined;
  if (lo && hi && lo[0] === '>=' && hi[0] === '<=') return ` from ${lo[1]} to ${hi[1]}`;
  if (lo && hi) return ` ${lo[0]} ${lo[1]} and ${hi[0]} ${hi[1]}`;
  if (lo) return ` ${lo[0]} ${lo[1]}`;
  if (hi) return ` ${hi[0]} ${hi[1]}`;
  return '';
}

/** "a number > 0", "one of `adam`, `sgd`", "`onehot` or an object with `embedding`". */
export function describeExpected(schema: Schema, root: Schema): string {
  const s = resolveRef(schema, root);
  const branches = branchesOf(s);
  if (branches) return list(branches.map((b) => describeExpected(b, root)));
  if ('const' in s) return q(s.const);
  if (s.enum) return s.enum.length === 1 ? q(s.enum[0]) : `one of ${s.enum.map(q).join(', ')}`;
  switch (s.type) {
    case 'string': return s.pattern ? s['x-patternText'] ?? `a string matching /${s.pattern}/` : 'a string';
    case 'boolean': return 'true or false';
    case 'number': return 'a number' + bounds(s);
    case 'integer': return 'an integer' + bounds(s);
    case 'array': return s.items ? `a list of ${plural(describeExpected(s.items, root))}` : 'a list';
    case 'object': {
      const req = s.required ?? [];
      return req.length ? `an object with ${req.map(q).join(', ')}` : 'an object';
    }
    default: return 'a value';
  }
}

function plural(what: string): string {
  const m = /^an? (string|number|integer|object|list)\b(.*)$/.exec(what);
  return m ? `${m[1]}s${m[2]}` : what;
}

/** The found value, short: `-1`, `"abc"`, `{"embedding":0}`. */
export function describeFound(v: unknown): string {
  if (v === undefined) return 'nothing';
  // JSON has no NaN or Infinity (it writes null): a config object or --set can hold them.
  if (typeof v === 'number' && !Number.isFinite(v)) return String(v);
  let s: string;
  try { s = JSON.stringify(v, (_, x) => (typeof x === 'number' && !Number.isFinite(x) ? String(x) : x)) ?? String(v); } catch { s = String(v); }
  return s.length > 60 ? s.slice(0, 57) + '...' : s;
}

function kindOf(v: unknown): string {
  if (v === null) return 'null';
  if (Array.isArray(v)) return 'array';
  return typeof v;
}

function typeMatches(type: Schema['type'], v: unknown): boolean {
  switch (type) {
    case undefined: return true;
    case 'integer': return typeof v === 'number' && Number.isInteger(v);
    case 'number': return typeof v === 'number' && Number.isFinite(v);
    case 'array': return Array.isArray(v);
    case 'object': return kindOf(v) === 'object';
    default: return typeof v === type;
  }
}

/** Whether a branch of anyOf is meant for this kind of value (an object for an object schema, ...). */
function sameKind(s: Schema, v: unknown): boolean {
  if ('const' in s) return kindOf(s.const) === kindOf(v);
  if (s.enum) return s.enum.some((e) => kindOf(e) === kindOf(v));
  if (s.type === 'integer' || s.type === 'number') return typeof v === 'number';
  return s.type === undefined || typeMatches(s.type, v);
}

// ---------------------------------------------------------------- validation

/** Every problem of `value` against `schema` (whose `$defs` are in `root`, the whole schema). */
export function validate(value: unknown, schema: Schema, root: Schema = schema, path: PathSeg[] = []): Problem[] {
  const out: Problem[] = [];
  check(value, schema, root, path, out);
  return out;
}

function check(v: unknown, schema: Schema, root: Schema, path: PathSeg[], out: Problem[]): void {
  const s = resolveRef(schema, root);
  const mismatch = (extra = '') => out.push({ path, message: `expected ${describeExpected(s, root)}, found ${describeFound(v)}${extra}` });

  const branches = branchesOf(s);
  if (branches) {
    const rs = branches.map((b) => resolveRef(b, root));
    if (rs.some((b) => validate(v, b, root, path).length === 0)) return;
    // When exactly one branch is for this kind of value, its own (more precise) problems are the answer.
    const candidates = rs.filter((b) => sameKind(b, v));
    if (candidates.length === 1 && (candidates[0].type === 'object' || candidates[0].type === 'array')) {
      check(v, candidates[0], root, path, out);
      return;
    }
    return void mismatch(typoHint(v, rs.flatMap((b) => ('const' in b ? [b.const] : b.enum ?? []))));
  }
  if ('const' in s && v !== s.const) return void mismatch(typoHint(v, [s.const]));
  if (s.enum && !s.enum.includes(v)) return void mismatch(typoHint(v, s.enum));
  if (!typeMatches(s.type, v)) {
    const numeric = typeof v === 'string' && v.trim() !== '' && Number.isFinite(Number(v));
    const hint = numeric && (s.type === 'number' || s.type === 'integer') ? ` (a string: write the number without quotes)` :
      (v === 'true' || v === 'false') && s.type === 'boolean' ? ' (a string: write true or false without quotes)' : '';
    return void mismatch(hint);
  }
  if (typeof v === 'number') {
    if ((s.minimum !== undefined && v < s.minimum) || (s.exclusiveMinimum !== undefined && v <= s.exclusiveMinimum) ||
        (s.maximum !== undefined && v > s.maximum) || (s.exclusiveMaximum !== undefined && v >= s.exclusiveMaximum)) {
      return void mismatch();
    }
  }
  if (typeof v === 'string' && s.pattern !== undefined && !new RegExp(s.pattern, 'u').test(v)) return void mismatch();
  if (Array.isArray(v) && s.items) v.forEach((item, i) => check(item, s.items!, root, [...path, i], out));
  if (s.type === 'object' && kindOf(v) === 'object') {
    const obj = v as Record<string, unknown>;
    const props = s.properties ?? {};
    for (const key of Object.keys(obj)) {
      if (key in props) check(obj[key], props[key], root, [...path, key], out);
      else if (s.additionalProperties === false) out.push({ path: [...path, key], message: unknownKey(key, path, props, root) });
      else if (typeof s.additionalProperties === 'object') check(obj[key], s.additionalProperties, root, [...path, key], out);
    }
    for (const key of s.required ?? []) {
      if (!(key in obj)) {
        out.push({ path: [...path, key], message: `expected ${describeExpected(props[key] ?? {}, root)}, found nothing (this field is required)` });
      }
    }
  }
}

function typoHint(v: unknown, allowed: unknown[]): string {
  if (typeof v !== 'string') return '';
  const m = didYouMean(v, allowed.filter((a): a is string => typeof a === 'string'));
  return m ? `; did you mean ${q(m)}?` : '';
}

function unknownKey(key: string, path: PathSeg[], props: Record<string, Schema>, root: Schema): string {
  const near = didYouMean(key, Object.keys(props));
  if (near) return `unknown key; did you mean ${q(near)}?`;
  // The right key in the wrong section: `lr` at the top level belongs in `train`.
  const elsewhere = allKeyPaths(root).filter((p) => p[p.length - 1] === key || didYouMean(key, [p[p.length - 1]]));
  if (elsewhere.length > 0) {
    const p = elsewhere[0];
    return `unknown key here; did you mean ${q(formatPath(p))}? (it belongs in ${q(formatPath(p.slice(0, -1)))})`;
  }
  const keys = Object.keys(props).filter((k) => k !== '$schema');
  return `unknown key; the keys of ${path.length ? formatPath(path) : 'the top level'} are ${keys.map(q).join(', ')}`;
}

/** Every property path the schema allows, e.g. ['train', 'lr'], ['data', 'vocab', 'maxSize']. */
export function allKeyPaths(root: Schema): string[][] {
  const out: string[][] = [];
  const walk = (schema: Schema, path: string[], depth: number) => {
    if (depth > 8) return;
    const s = resolveRef(schema, root);
    for (const b of branchesOf(s) ?? []) walk(b, path, depth + 1);
    for (const [k, p] of Object.entries(s.properties ?? {})) {
      if (k === '$schema') continue;
      out.push([...path, k]);
      walk(p, [...path, k], depth + 1);
    }
  };
  walk(root, [], 0);
  return out;
}

// ---------------------------------------------------------------- defaults

/**
 * Fills every absent field that has a `default`, in place, and creates absent optional sections
 * (objects) whose fields have defaults. Run after validation: it trusts the shape of `value`.
 */
export function applyDefaults(value: unknown, schema: Schema, root: Schema = schema): void {
  const s = resolveRef(schema, root);
  const branch = branchesOf(s)?.map((b) => resolveRef(b, root)).find((b) => b.type === 'object' && kindOf(value) === 'object');
  if (branch) return applyDefaults(value, branch, root);
  if (s.type !== 'object' || kindOf(value) !== 'object') return;
  const obj = value as Record<string, unknown>;
  for (const [key, ps] of Object.entries(s.properties ?? {})) {
    const p = resolveRef(ps, root);
    if (obj[key] === undefined) {
      if ('default' in p) obj[key] = structuredClone(p.default);
      else if (p.type === 'object' && !ps['x-offWhenAbsent'] && !(p.required?.length) && Object.values(p.properties ?? {}).some((x) => 'default' in resolveRef(x, root))) obj[key] = {};
      else continue;
    }
    applyDefaults(obj[key], p, root);
  }
}

// Generate configs/config.schema.json (JSON Schema, draft 2020-12) from src/config/types.ts, the
// one definition of the configuration. Run by src/build.mjs before tsc; also `node src/build-schema.mjs`.
//
//   interface            -> object with `additionalProperties: false`, `required` = non-optional fields
//   doc comment          -> `description` (with " Default: X." appended when there is a @default)
//   @default @minimum @maximum @exclusiveMinimum @exclusiveMaximum -> the keywords of the same name
//   @integer             -> `type: "integer"` instead of "number"
//   @pattern @patternText -> `pattern`, and `x-patternText` (what it allows, in the words of errors)
//   'a' | 'b'            -> enum;  'a' | Iface -> anyOf;  string[] -> array;  Iface -> $ref into $defs
//   { [k: string]: V }   -> object with `additionalProperties` V (the signature's tags limit V)
import ts from 'typescript';
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
export const typesFile = join(root, 'src', 'config', 'types.ts');
export const schemaFile = join(root, 'configs', 'config.schema.json');
const ROOT_TYPE = 'Config';
const NUMBER_TAGS = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'];

/** The schema, as an object, from the TypeScript source text of the config types. */
export function generateSchema(source = readFileSync(typesFile, 'utf8'), fileName = 'types.ts') {
  const sf = ts.createSourceFile(fileName, source, ts.ScriptTarget.ES2022, true);
  const interfaces = new Map();
  for (const st of sf.statements) if (ts.isInterfaceDeclaration(st)) interfaces.set(st.name.text, st);
  if (!interfaces.has(ROOT_TYPE)) throw new Error(`${fileName}: no interface ${ROOT_TYPE}`);

  const fail = (node, msg) => {
    const { line, character } = sf.getLineAndCharacterOfPosition(node.getStart(sf));
    throw new Error(`${fileName}:${line + 1}:${character + 1}: ${msg}`);
  };

  // ---- doc comments
  const docOf = (node) => {
    const docs = (node.jsDoc ?? []).filter((d) => ts.isJSDoc(d));
    const text = docs.map((d) => ts.getTextOfJSDocComment(d.comment) ?? '').join(' ');
    const tags = {};
    for (const d of docs) for (const tag of d.tags ?? []) tags[tag.tagName.text] = (ts.getTextOfJSDocComment(tag.comment) ?? '').trim();
    return { text: text.replace(/\s+/g, ' ').trim(), tags };
  };

  // ---- types
  const literalOf = (t) => (ts.isLiteralTypeNode(t) && ts.isStringLiteral(t.literal) ? t.literal.text : undefined);
  const typeToSchema = (t, integer) => {
    if (t.kind === ts.SyntaxKind.StringKeyword) return { type: 'string' };
    if (t.kind === ts.SyntaxKind.NumberKeyword) return { type: integer ? 'integer' : 'number' };
    if (t.kind === ts.SyntaxKind.BooleanKeyword) return { type: 'boolean' };
    if (literalOf(t) !== undefined) return { const: literalOf(t) };
    if (ts.isArrayTypeNode(t)) return { type: 'array', items: typeToSchema(t.elementType, integer) };
    if (ts.isTypeReferenceNode(t) && ts.isIdentifier(t.typeName) && interfaces.has(t.typeName.text)) {
      return { $ref: `#/$defs/${t.typeName.text}` };
    }
    // { [key: string]: V }: an object whose every value is a V (the signature's doc tags limit V).
    if (ts.isTypeLiteralNode(t) && t.members.length === 1 && ts.isIndexSignatureDeclaration(t.members[0])) {
      const sig = t.members[0];
      const values = typeToSchema(sig.type, 'integer' in docOf(sig).tags);
      for (const k of NUMBER_TAGS) if (k in docOf(sig).tags) values[k] = parseTagValue(sig, k, docOf(sig).tags[k]);
      return { type: 'object', additionalProperties: values };
    }
    if (ts.isUnionTypeNode(t)) {
      const literals = t.types.map(literalOf);
      if (literals.every((l) => l !== undefined)) return { enum: literals };
      const lits = literals.filter((l) => l !== undefined);
      const others = t.types.filter((x) => literalOf(x) === undefined).map((x) => typeToSchema(x, integer));
      return { anyOf: [...(lits.length ? [lits.length === 1 ? { const: lits[0] } : { enum: lits }] : []), ...others] };
    }
    return fail(t, `type not supported by build-schema: ${t.getText(sf)}`);
  };

  const parseTagValue = (node, tag, value) => {
    try { return JSON.parse(value); } catch { return fail(node, `@${tag} ${value}: not a JSON value`); }
  };

  const interfaceToSchema = (decl) => {
    const properties = {};
    const required = [];
    for (const m of decl.members) {
      if (!ts.isPropertySignature(m) || !m.type) fail(m, 'only plain properties are supported');
      const name = m.name.getText(sf).replace(/^['"]|['"]$/g, '');
      const { text, tags } = docOf(m);
      const p = typeToSchema(m.type, 'integer' in tags);
      // A field without its own comment takes the comment of the interface it refers to.
      let description = text;
      if (!description && p.$ref) description = docOf(interfaces.get(p.$ref.slice('#/$defs/'.length))).text;
      if ('default' in tags) {
        p.default = parseTagValue(m, 'default', tags.default);
        description = `${description}${description ? ' ' : ''}Default: ${JSON.stringify(p.default)}.`;
      }
      for (const k of NUMBER_TAGS) if (k in tags) p[k] = parseTagValue(m, k, tags[k]);
      // @pattern REGEX (a string field), with @patternText: what it means, in the words of errors.
      if ('pattern' in tags) {
        try { new RegExp(tags.pattern, 'u'); } catch (e) { fail(m, `@pattern ${tags.pattern}: ${e.message}`); }
        if (!('patternText' in tags)) fail(m, '@pattern needs a @patternText saying what it allows');
        p.pattern = tags.pattern;
        p['x-patternText'] = tags.patternText;
      }
      // @offWhenAbsent: an optional section that switches a feature on by being there; its
      // defaults are filled in only when it is given (an absent one is never created).
      if ('offWhenAbsent' in tags) p['x-offWhenAbsent'] = true;
      if (description) p.description = description;
      properties[name] = orderKeys(p);
      if (!m.questionToken) required.push(name);
    }
    const s = { type: 'object' };
    const { text } = docOf(decl);
    if (text) s.description = text;
    s.properties = properties;
    if (required.length) s.required = required;
    s.additionalProperties = false;
    return s;
  };

  const rootSchema = interfaceToSchema(interfaces.get(ROOT_TYPE));
  const $defs = {};
  for (const [name, decl] of interfaces) if (name !== ROOT_TYPE) $defs[name] = interfaceToSchema(decl);
  return {
    $schema: 'https://json-schema.org/draft/2020-12/schema',
    title: 'rnn-trainer configuration',
    ...rootSchema,
    $defs,
  };
}

// Keyword order in the output: what it is first, then its limits, then the prose.
const KEY_ORDER = ['$ref', 'type', 'const', 'enum', 'anyOf', 'items', 'default', ...NUMBER_TAGS, 'pattern', 'x-patternText', 'description'];
function orderKeys(o) {
  const out = {};
  for (const k of KEY_ORDER) if (k in o) out[k] = o[k];
  for (const k of Object.keys(o)) if (!(k in out)) out[k] = o[k];
  return out;
}

/** The schema file's exact text. */
export function schemaText(source) {
  return JSON.stringify(generateSchema(source), null, 2) + '\n';
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const text = schemaText();
  let old = '';
  try { old = readFileSync(schemaFile, 'utf8'); } catch { /* first build */ }
  if (old !== text) {
    writeFileSync(schemaFile, text);
    console.log(`build-schema: wrote ${schemaFile}`);
  }
}

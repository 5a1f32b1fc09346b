// The generated JSON Schema (configs/config.schema.json), found by walking up from this module:
// the same lookup works from src/config/ (tests) and from dist/src/config/ (the built commands).
import { existsSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { Schema } from './validate.js';

export const SCHEMA_NAME = 'config.schema.json';

let cached: { schema: Schema; file: string } | undefined;

/** Path of configs/config.schema.json in this package. */
export function schemaPath(): string {
  return loadSchemaFile().file;
}

/** The config schema (parsed once). */
export function configSchema(): Schema {
  return loadSchemaFile().schema;
}

function loadSchemaFile(): { schema: Schema; file: string } {
  if (cached) return cached;
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const file = join(dir, 'configs', SCHEMA_NAME);
    if (existsSync(file)) {
      cached = { schema: JSON.parse(readFileSync(file, 'utf8')) as Schema, file };
      return cached;
    }
    const up = dirname(dir);
    if (up === dir) throw new Error(`cannot find configs/${SCHEMA_NAME} above ${fileURLToPath(import.meta.url)}; run \`npm run build\``);
    dir = up;
  }
}

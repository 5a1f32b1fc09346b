// A small declarative command-line parser shared by the commands, with generated --help, and
// runMain, which turns errors meant for the user into one line and an exit code.
//
//   const args = parseArgs(process.argv.slice(2), {
//     name: 'train.js', summary: 'Train a recurrent network.',
//     flags: {
//       config: { type: 'string', required: true, value: 'FILE', help: 'The run configuration (JSON).' },
//       set: { type: 'string', repeat: true, value: 'PATH=VALUE', help: 'Override a config field.' },
//       workers: { type: 'number', integer: true, min: 1, value: 'N', help: 'Worker threads.' },
//       quiet: { type: 'boolean', help: 'No progress output.' },
//     },
//     examples: [['train.js --config configs/small.json', 'train the names classifier']],
//   });
//   args.config: string; args.set: string[]; args.workers: number | undefined; args.quiet: boolean
//
// Flag `maxSteps` is written `--max-steps` on the command line. `--flag value` and `--flag=value`
// both work. Problems (unknown flag, missing value, bad number) throw ConfigError (exit code 2).
import { ConfigError, UserError } from '../util/errors.js';
import { didYouMean } from '../config/suggest.js';

interface FlagBase {
  /** One line (or a few) of help. */
  help: string;
  /** Name of the value in the help, e.g. FILE, N. */
  value?: string;
}
export interface StringFlag extends FlagBase { type: 'string'; required?: boolean; default?: string; choices?: readonly string[]; repeat?: false }
export interface RepeatFlag extends FlagBase { type: 'string'; repeat: true }
export interface NumberFlag extends FlagBase { type: 'number'; required?: boolean; default?: number; integer?: boolean; min?: number; max?: number }
export interface BooleanFlag extends FlagBase { type: 'boolean' }
export type FlagSpec = StringFlag | RepeatFlag | NumberFlag | BooleanFlag;

export interface CommandSpec<F extends Record<string, FlagSpec> = Record<string, FlagSpec>> {
  /** How the command is invoked, e.g. `train.js`. */
  name: string;
  /** What it does, one or two sentences. */
  summary?: string;
  /** Usage line; generated from the required flags if absent. */
  usage?: string;
  flags: F;
  /** [command line, what it does] */
  examples?: Array<[string, string?]>;
}

type ValueOf<S extends FlagSpec> =
  S extends BooleanFlag ? boolean :
  S extends RepeatFlag ? string[] :
  S extends NumberFlag ? (S extends { required: true } | { default: number } ? number : number | undefined) :
  S extends StringFlag ? (S extends { required: true } | { default: string } ? string : string | undefined) :
  never;

/** The parsed flags, by their spec keys, plus `debug` (always accepted: stack traces on errors). */
export type ParsedArgs<F extends Record<string, FlagSpec>> = { -readonly [K in keyof F]: ValueOf<F[K]> } & { debug: boolean };

export interface ParseIO {
  /** Where --help goes (default process.stdout). */
  stdout?: { write(s: string): unknown };
  /** Called after --help is printed (default process.exit). */
  exit?: (code: number) => never;
}

const BUILT_IN: Record<string, BooleanFlag> = {
  debug: { type: 'boolean', help: 'On an error, also print the stack trace.' },
  help: { type: 'boolean', help: 'Show this help and exit.' },
};

/** `maxSteps` -> `max-steps` */
export const kebab = (s: string) => s.replace(/[A-Z]/g, (c) => '-' + c.toLowerCase());

/** Parses `argv` (without node and the script) by `spec`; prints help and exits on --help / -h. */
export function parseArgs<const F extends Record<string, FlagSpec>>(argv: readonly string[], spec: CommandSpec<F>, io: ParseIO = {}): ParsedArgs<F> {
  const flags: Record<string, FlagSpec> = { ...spec.flags, ...BUILT_IN };
  const byName = new Map(Object.keys(flags).map((k) => [kebab(k), k]));
  const seeHelp = `run \`${spec.name} --help\` for the list`;
  const out: Record<string, unknown> = {};
  for (const [k, f] of Object.entries(flags)) {
    if (f.type === 'boolean') out[k] = false;
    else if (f.type === 'string' && f.repeat) out[k] = [];
    else if ('default' in f && f.default !== undefined) out[k] = f.default;
  }
  const given = new Set<string>();

  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '-h' || arg === '--help') {
      (io.stdout ?? process.stdout).write(formatHelp(spec));
      return (io.exit ?? process.exit)(0);
    }
    if (!arg.startsWith('--') || arg === '--') {
      // A file given bare, where the command takes it through a flag: name the flag.
      const fileFlag = /\.json$/i.test(arg) ? 'config' : /\.ckpt$/i.test(arg) ? 'checkpoint' : undefined;
      if (fileFlag && byName.has(fileFlag)) throw new ConfigError(`unexpected argument \`${arg}\`: did you mean \`--${fileFlag} ${arg}\`?`);
      throw new ConfigError(`unexpected argument \`${arg}\`: options start with --; ${seeHelp}`);
    }
    const eq = arg.indexOf('=');
    const name = eq >= 0 ? arg.slice(2, eq) : arg.slice(2);
    const key = byName.get(name);
    if (key === undefined) {
      const near = didYouMean(name, byName.keys());
      throw new ConfigError(`unknown option --${name}${near ? `; did you mean --${near}?` : `; ${seeHelp}`}`);
    }
    const f = flags[key];
    const shown = `--${name}`;
    let value: string | undefined = eq >= 0 ? arg.slice(eq + 1) : undefined;
    if (f.type === 'boolean') {
      if (value === undefined || value === 'true') out[key] = true;
      else if (value === 'false') out[key] = false;
      else throw new ConfigError(`${shown} takes no value (found \`${value}\`)`);
      continue;
    }
    if (value === undefined) {
      const next = argv[i + 1];
      if (next === undefined || (next.startsWith('--') && next.length > 2)) {
        throw new ConfigError(`${shown} needs a value: ${shown} ${f.value ?? 'VALUE'}`);
      }
      value = next;
      i++;
    }
    if (f.type === 'string' && f.repeat) {
      (out[key] as string[]).push(value);
      continue;
    }
    if (given.has(key)) throw new ConfigError(`${shown} is given more than once`);
    given.add(key);
    if (f.type === 'number') out[key] = parseNumber(shown, value, f);
    else {
      if (f.choices && !f.choices.includes(value)) {
        const near = didYouMean(value, f.choices);
        throw new ConfigError(`${shown}: expected one of ${f.choices.join(', ')}, found \`${value}\`${near ? `; did you mean ${near}?` : ''}`);
      }
      out[key] = value;
    }
  }
  for (const [k, f] of Object.entries(flags)) {
    if ('required' in f && f.required && out[k] === undefined) {
      throw new ConfigError(`missing --${kebab(k)} ${f.value ?? 'VALUE'}: ${f.help.replace(/\.$/, '').replace(/^./, (c) => c.toLowerCase())}; ${seeHelp}`);
    }
  }
  return out as ParsedArgs<F>;
}

function parseNumber(shown: string, text: string, f: NumberFlag): number {
  const n = text.trim() === '' ? NaN : Number(text);
  const what = f.integer ? 'an integer' : 'a number';
  const range = f.min !== undefined && f.max !== undefined ? ` from ${f.min} to ${f.max}` : f.min !== undefined ? ` >= ${f.min}` : f.max !== undefined ? ` <= ${f.max}` : '';
  if (!Number.isFinite(n) || (f.integer && !Number.isInteger(n)) || (f.min !== undefined && n < f.min) || (f.max !== undefined && n > f.max)) {
    throw new ConfigError(`${shown}: expected ${what}${range}, found \`${text}\``);
  }
  return n;
}

/** The --help text. */
export function formatHelp(spec: CommandSpec): string {
  const flags: Record<string, FlagSpec> = { ...spec.flags, ...BUILT_IN };
  const usage = spec.usage ?? [spec.name,
    ...Object.entries(spec.flags).filter(([, f]) => 'required' in f && f.required).map(([k, f]) => `--${kebab(k)} ${f.value ?? 'VALUE'}`),
    '[options]'].join(' ');
  const rows = Object.entries(flags).map(([k, f]) => {
    const left = `--${kebab(k)}${f.type === 'boolean' ? '' : ' ' + (f.value ?? 'VALUE')}`;
    const notes: string[] = [];
    if ('required' in f && f.required) notes.push('required');
    if (f.type === 'string' && f.repeat) notes.push('repeatable');
    if ('default' in f && f.default !== undefined) notes.push(`default: ${f.default}`);
    if (f.type === 'string' && !f.repeat && f.choices) notes.push(`one of: ${f.choices.join(', ')}`);
    return [left, f.help + (notes.length ? ` (${notes.join('; ')})` : '')] as const;
  });
  const width = Math.min(28, Math.max(...rows.map(([l]) => l.length)) + 2);
  const lines = [`Usage: ${usage}`, ''];
  if (spec.summary) lines.push(...wrap(spec.summary, 80), '');
  lines.push('Options:');
  for (const [left, help] of rows) {
    const body = wrap(help, 80 - 2 - width);
    if (left.length + 2 > width) {
      lines.push(`  ${left}`);
      for (const b of body) lines.push(' '.repeat(2 + width) + b);
    } else {
      body.forEach((b, i) => lines.push(i === 0 ? `  ${left.padEnd(width)}${b}` : ' '.repeat(2 + width) + b));
    }
  }
  if (spec.examples?.length) {
    lines.push('', 'Examples:');
    for (const [cmd, what] of spec.examples) {
      if (what) lines.push(`  # ${what}`);
      lines.push(`  ${cmd}`);
    }
  }
  return lines.join('\n') + '\n';
}

function wrap(text: string, width: number): string[] {
  const out: string[] = [];
  for (const para of text.split('\n')) {
    let line = '';
    for (const word of para.split(/\s+/).filter(Boolean)) {
      if (line && line.length + 1 + word.length > width) { out.push(line); line = word; } else line = line ? `${line} ${word}` : word;
    }
    out.push(line);
  }
  return out;
}

// ---------------------------------------------------------------- main

export interface MainIO {
  argv?: readonly string[];
  env?: NodeJS.ProcessEnv;
  stderr?: { write(s: string): unknown };
  exit?: (code: number) => void;
}

/**
 * Runs a command's main. It may return an exit code (default 0). A UserError (ConfigError,
 * DataError, ...) prints `error: <message>` to stderr and exits with its exit code, with the
 * stack only under --debug or RNN_DEBUG=1; any other error prints message and stack, exit 1.
 * On an error the process exits at once (worker threads would otherwise keep it alive); on
 * success it sets process.exitCode and lets pending output drain.
 */
export async function runMain(main: () => Promise<number | void> | number | void, io: MainIO = {}): Promise<void> {
  const argv = io.argv ?? process.argv.slice(2);
  const env = io.env ?? process.env;
  const stderr = io.stderr ?? process.stderr;
  const debug = argv.includes('--debug') || env.RNN_DEBUG === '1';
  try {
    const code = await main();
    if (io.exit) io.exit(code ?? 0);
    else process.exitCode = code ?? 0;
  } catch (e) {
    let code = 1;
    if (e instanceof UserError) {
      code = e.exitCode;
      stderr.write(`error: ${e.message}\n`);
      if (debug && e.stack) stderr.write(e.stack + '\n');
    } else if (e instanceof Error) {
      stderr.write(`error: ${e.stack ?? e.message}\n`);
    } else {
      stderr.write(`error: ${String(e)}\n`);
    }
    (io.exit ?? process.exit)(code);
  }
}

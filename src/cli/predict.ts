// node dist/predict.js --checkpoint FILE [--text STR | stdin] / [--generate N ...]: predictions of a saved model (see --help).

import { constants } from 'node:os';
import { parseArgs, runMain, kebab, type CommandSpec, type ParsedArgs } from './args.js';
import { loadModel, isLanguageModel, samplingOptions, stopStrings, type LoadedModel } from '../infer/model.js';
import { Classifier, type Prediction } from '../infer/classify.js';
import { Tagger, type TaggedText } from '../infer/tag.js';
import { generateTextAsync, MAX_GENERATE_TOKENS } from '../infer/generate.js';
import { OovCounter } from '../data/index.js';
import { firstInvalidUtf8 } from '../data/readers.js';
import { ConfigError, DataError } from '../util/errors.js';
import { createKernels, kernelsOf, KERNELS_CHOICES, type ResolvedKernels } from '../model/backend/index.js';
import { arenaOf } from '../util/shared.js';

const COMMAND = {
  name: 'predict.js',
  summary: 'Predict with a checkpoint. A classifier: for each --text, or else each non-blank line of stdin, one JSON line '
    + '{"text", "label", "probs": {label: probability}} on stdout. A tagger: for each text, a line of its tokens with their tags, '
    + '"token/TAG token/TAG ..." (with --json: {"text", "tokens", "tags", "probs"}, probs[i] the probability of tags[i]). A language model: --generate N samples N tokens after '
    + '--prompt and prints the prompt and its continuation; when the model was trained with data.eos, a generated </s> ends a document and the next one starts after a blank line (or generation stops, without data.bos).',
  flags: {
    kernels: { type: 'string', choices: KERNELS_CHOICES, value: 'NAME', help: 'Compute backend (default: RNN_TRAINER_KERNELS, else auto: the fastest here).' },
    checkpoint: { type: 'string', required: true, value: 'FILE', help: 'The checkpoint (a .ckpt file of a run).' },
    text: { type: 'string', repeat: true, value: 'STR', help: 'A text to classify; without it, texts are read from stdin, one per line.' },
    generate: { type: 'number', integer: true, min: 0, max: MAX_GENERATE_TOKENS, value: 'N', help: `Language model: generate N tokens (at most ${MAX_GENERATE_TOKENS.toLocaleString('en-US')}), printed as they come.` },
    prompt: { type: 'string', value: 'STR', help: 'Language model: the text to continue (default: empty, which needs a model trained with data.bos).' },
    temperature: { type: 'number', min: 0, value: 'X', help: 'Language model: sampling temperature; 0 = greedy (always the most likely token), 1 = the model\'s distribution (default: 1).' },
    seed: { type: 'number', integer: true, min: 0, value: 'S', help: 'Language model: seed of the sampling; the same seed gives the same text (default: 1).' },
    topK: { type: 'number', integer: true, min: 1, value: 'K', help: 'Language model: sample from the K most probable tokens only (after --temperature; 1 = greedy; default: all).' },
    topP: { type: 'number', value: 'P', help: 'Language model: nucleus sampling, from the smallest set of most probable tokens whose probability reaches P, in (0, 1] (after --top-k; default: 1, all).' },
    stop: { type: 'string', repeat: true, value: 'STR', help: 'Language model: stop when the generated text contains STR (not printed); e.g. --stop $\'\\n\\n\' ends at a blank line.' },
    json: { type: 'boolean', help: 'Tagger: print {"text", "tokens", "tags", "probs"} per text. Language model: print {"prompt", "text", "tokens", "ids", "stop"} as JSON (ids: the generated token ids; stop: the stop string that ended it, or null) instead of plain text.' },
  },
  examples: [
    ['node dist/predict.js --checkpoint runs/names-small/checkpoints/step-000002400.ckpt --text Maria --text John', 'classify two names'],
    ['cut -d, -f1 names.csv | node dist/predict.js --checkpoint runs/names-small/checkpoints/step-000002400.ckpt', 'classify one name per line of stdin'],
    ['node dist/predict.js --checkpoint runs/segment/checkpoints/step-000004000.ckpt --text "callmeishmael"', 'tag each character of a text as beginning a word (B) or not (I)'],
    ['node dist/predict.js --checkpoint runs/moby/checkpoints/step-000010000.ckpt --generate 300 --prompt "Call me" --temperature 0.8 --seed 7', 'continue a text'],
    ['node dist/predict.js --checkpoint runs/moby/checkpoints/step-000010000.ckpt --generate 100 --prompt "The whale" --temperature 0', 'greedy continuation'],
    ['node dist/predict.js --checkpoint runs/moby/checkpoints/step-000010000.ckpt --generate 500 --prompt "Call me" --top-p 0.9 --stop "." --stop "!"', 'nucleus sampling, up to the end of the sentence'],
  ],
} satisfies CommandSpec;

const round = (p: number) => Number(p.toPrecision(6));
const line = (p: Prediction) => JSON.stringify({ text: p.text, label: p.label, probs: Object.fromEntries(Object.entries(p.probs).map(([k, v]) => [k, round(v)])) }) + '\n';

runMain(async () => {
  // Parsed inside runMain, so a bad flag is one line and exit code 2, not an uncaught exception.
  const args = parseArgs(process.argv.slice(2), COMMAND);
  const backend = kernelsOf(args.kernels); // the flag, else RNN_TRAINER_KERNELS, else auto: resolved once
  const m = loadModel(args.checkpoint);
  const lmFlags = [
    ...(['generate', 'prompt', 'temperature', 'seed', 'topK', 'topP'] as const).filter((k) => args[k] !== undefined).map(kebab),
    ...(args.stop.length > 0 ? ['stop'] : []),
  ];
  if (isLanguageModel(m)) {
    if (args.generate === undefined) {
      throw new ConfigError(`${args.checkpoint} is a language model: generate text with --generate N [--prompt STR] [--temperature X] [--seed S]`);
    }
    if (args.text.length > 0) throw new ConfigError('--text is for classifiers; for a language model, give the text to continue with --prompt');
    return await languageModel(m, args.generate, args, backend);
  }
  if (m.spec.task === 'tagging') {
    if (lmFlags.length > 0) throw new ConfigError(`${args.checkpoint} is a tagger; --${lmFlags.join(', --')} only apply to language models. Tag texts with --text STR or lines on stdin.`);
    const tagger = new Tagger(m, undefined, backend);
    const show = (r: TaggedText) => args.json
      ? JSON.stringify({ text: r.text, tokens: r.tokens, tags: r.tags, probs: r.probs.map(round) }) + '\n'
      : r.tokens.map((t, i) => `${t}/${r.tags[i]}`).join(' ') + '\n';
    return await eachText(args.text, 'tag', tagger.maxB, (texts) => { for (const r of tagger.tag(texts)) process.stdout.write(show(r)); });
  }
  if (lmFlags.length > 0 || args.json) {
    throw new ConfigError(`${args.checkpoint} is a classifier; --${[...lmFlags, ...(args.json ? ['json'] : [])].join(', --')} only apply to language models. Classify with --text STR or lines on stdin.`);
  }
  const cls = new Classifier(m, undefined, backend);
  const oov = new OovCounter({ tokens: m.vocab }, m.tokenizer);
  const warnOov = () => {
    const w = oov.warning('the input');
    if (w) process.stderr.write(w + '\n');
  };
  if (args.text.length > 0) {
    const texts = args.text.filter((t) => t.trim() !== '');
    if (texts.length === 0) throw new ConfigError('--text is empty: give a text to classify');
    for (const t of texts) oov.add(t);
    for (const p of cls.classify(texts)) process.stdout.write(line(p));
    warnOov();
    return;
  }
  if (process.stdin.isTTY) process.stderr.write('reading texts from stdin, one per line (end with Ctrl-D)\n');
  const pending: string[] = [];
  const flush = () => {
    for (const p of cls.classify(pending)) process.stdout.write(line(p));
    pending.length = 0;
  };
  try {
    for await (const text of stdinLines(process.stdin)) {
      if (text.trim() === '') continue; // blank lines are no inputs
      pending.push(text);
      oov.add(text);
      if (pending.length === cls.maxB) flush();
    }
  } finally {
    flush(); // the lines before a bad one are classified
  }
  warnOov(); // once, at the end: a line per input would drown the predictions
});

/** Generates; the exit code of a run stopped by SIGINT or SIGTERM (the text so far printed, and a newline), else undefined. */
async function languageModel(m: LoadedModel, n: number, args: ParsedArgs<typeof COMMAND.flags>, backend: ResolvedKernels): Promise<number | undefined> {
  const prompt = args.prompt ?? '';
  const oov = new OovCounter({ tokens: m.vocab }, m.tokenizer);
  oov.add(prompt);
  const w = oov.warning('the prompt');
  if (w) process.stderr.write(w + '\n');
  const kernels = createKernels(backend, arenaOf(m.params.data) ?? null);
  let generated;
  // Plain text is printed as it is generated (stdout writes to a file or pipe are synchronous); JSON at the end.
  const onText = args.json ? undefined : (piece: string) => process.stdout.write(piece);
  const flag = (o: string) => ({ temperature: '--temperature', topK: '--top-k', topP: '--top-p' })[o] ?? o;
  const sampling = samplingOptions({ temperature: args.temperature, topK: args.topK, topP: args.topP }, flag);
  const stop = stopStrings(args.stop, '--stop');
  // Generation gives the event loop a turn every 50 ms, so Ctrl-C ends it cleanly.
  const abort = new AbortController();
  let stopSignal: NodeJS.Signals | undefined;
  const onSignal = (sig: NodeJS.Signals) => { stopSignal ??= sig; abort.abort(); };
  process.on('SIGINT', onSignal).on('SIGTERM', onSignal);
  try {
    // On a terminal every token is shown as it comes; into a file or pipe, in pieces of 64 tokens (fewer writes).
    generated = await generateTextAsync(m, prompt, { ...sampling, tokens: n, seed: args.seed ?? 1, stop }, kernels, onText, abort.signal, process.stdout.isTTY ? 1 : 64);
  } catch (e) {
    // An empty prompt for a model trained without <s>: say it with this command's flag.
    if (e instanceof RangeError && e.message.startsWith('nothing to start from')) throw new ConfigError(e.message.replace('give a prompt', 'give --prompt'));
    throw e;
  } finally {
    process.off('SIGINT', onSignal).off('SIGTERM', onSignal);
  }
  if (!generated) {
    if (!args.json) process.stdout.write('\n');
    return 128 + constants.signals[stopSignal!];
  }
  const { text, ids: gen } = generated;
  if (args.json) process.stdout.write(JSON.stringify({ prompt, text, tokens: gen.length, ids: Array.from(gen), stop: generated.stop ?? null }) + '\n');
  else process.stdout.write('\n');
}

/** The longest line of stdin read: one input text; a stream without line breaks is not a text to classify. */
export const MAX_LINE_BYTES = 16 * 1024 * 1024;

/**
 * The lines of `input` (broken at \n, \r\n or \r, as readline does), decoded as UTF-8, each at
 * most MAX_LINE_BYTES: a longer one is a DataError naming its line number (exit 2), not a string
 * grown until V8 gives up (`yes | tr -d '\n' | predict.js`); so is a line that is not UTF-8.
 */
async function* stdinLines(input: AsyncIterable<Buffer>): AsyncGenerator<string> {
  let parts: Buffer[] = [];
  let size = 0, line = 1, lastCR = false;
  const take = () => {
    const b = Buffer.concat(parts, size);
    // As a training file's line would be: refused, not read with U+FFFD for the bytes (then <unk>).
    const bad = firstInvalidUtf8(b);
    if (bad >= 0) throw new DataError(`stdin, line ${line}: invalid UTF-8 (byte 0x${b[bad].toString(16).padStart(2, '0')} at byte ${bad + 1} of the line); give UTF-8 text (e.g. \`iconv -f latin1 -t utf-8 in | predict.js ...\`)`);
    const s = b.toString('utf8');
    parts = [];
    size = 0;
    return s;
  };
  const add = (b: Buffer) => {
    size += b.length;
    if (size > MAX_LINE_BYTES) {
      throw new DataError(`stdin, line ${line}: longer than ${MAX_LINE_BYTES / 1024 / 1024} MiB (the most one input line may hold); give one text per line`);
    }
    if (b.length > 0) parts.push(b);
  };
  for await (const chunk of input) {
    let from = 0;
    for (let i = 0; i < chunk.length; i++) {
      const c = chunk[i];
      if (c !== 0x0a && c !== 0x0d) { lastCR = false; continue; }
      const crlf = c === 0x0a && lastCR && i === from; // the \n of a \r\n: the line already ended
      lastCR = c === 0x0d;
      if (crlf) { from = i + 1; continue; }
      add(chunk.subarray(from, i));
      yield take();
      line++;
      from = i + 1;
    }
    add(chunk.subarray(from));
  }
  if (size > 0) yield take();
}

/** Each non-blank --text, or else each non-blank line of stdin, handed to `run` in batches of up to maxB. */
async function eachText(texts: string[], verb: string, maxB: number, run: (texts: string[]) => void): Promise<void> {
  if (texts.length > 0) {
    const given = texts.filter((t) => t.trim() !== '');
    if (given.length === 0) throw new ConfigError(`--text is empty: give a text to ${verb}`);
    run(given);
    return;
  }
  if (process.stdin.isTTY) process.stderr.write('reading texts from stdin, one per line (end with Ctrl-D)\n');
  const pending: string[] = [];
  try {
    for await (const text of stdinLines(process.stdin)) {
      if (text.trim() === '') continue;
      pending.push(text);
      if (pending.length === maxB) run(pending.splice(0));
    }
  } finally {
    if (pending.length > 0) run(pending.splice(0));
  }
}

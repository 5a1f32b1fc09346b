// Which checkpoint a run resumes from (--resume PATH, latest, auto), and whether it fits the
// config, the model and the data the run has now.

import { relative, resolve } from 'node:path';
import type { ModelSpec } from '../model/spec.js';
import type { Dataset } from '../data/index.js';
import { diffConfigs, withNewDefaults, type ResolvedConfig } from '../config/load.js';
import { readCheckpoint, specDifferences, type CheckpointData, type CheckpointDir } from '../checkpoint/index.js';
import { ConfigError, CheckpointError } from '../util/errors.js';
import type { RunMessage } from './events.js';

/** A resumed checkpoint and where it came from. */
export interface Resumed {
  path: string;
  c: CheckpointData;
}

/** The checkpoint to resume from (--resume PATH, latest, auto), read, and checked against the config; null for a new run. */
export function findResume(o: { resume?: string }, r: { cfg: ResolvedConfig }, ckdir: CheckpointDir, say: (kind: RunMessage['kind'], text: string) => void): Resumed | null {
  let resumed: Resumed | null = null;
  if (o.resume === 'latest' || o.resume === 'auto') {
    const found = ckdir.loadLatestValid((m) => say('warning', `warning: ${m}`));
    if (found) resumed = { path: found.path, c: found.checkpoint };
    else if (o.resume === 'latest') throw new CheckpointError(`--resume latest: no valid checkpoint in ${ckdir.dir}; start without --resume, or use --resume auto (it starts fresh when there is none)`);
    if (o.resume === 'auto') {
      say('resume', found ? `--resume auto: resuming from the newest valid checkpoint, ${relative(process.cwd(), found.path)}`
        : `--resume auto: no valid checkpoint in ${relative(process.cwd(), ckdir.dir) || '.'}; starting a new run`);
    }
  } else if (o.resume) {
    resumed = { path: resolve(o.resume), c: readCheckpoint(resolve(o.resume)) };
  }
  if (!resumed) return null;
  const saved = withNewDefaults(JSON.parse(resumed.c.config));
  const changes = diffConfigs(saved, r.cfg);
  const refused = changes.filter((c) => c.kind === 'shape');
  if (refused.length > 0) {
    throw new ConfigError(`cannot resume from ${resumed.path}: the config changes the model or its data:\n` +
      refused.map((c) => `  ${c.path}: ${shown(c.from)} -> ${shown(c.to)}`).join('\n') +
      `\nresume with the config the checkpoint was made with, or start a new run (another name or --out).`);
  }
  for (const c of changes) say('resume', `resume: ${c.path} changed ${shown(c.from)} -> ${shown(c.to)}${c.kind === 'safe' ? '' : ' (allowed; the run will differ from an uninterrupted one)'}`);
  return resumed;
}

/** A config value in a change line; an absent field (e.g. no model.adaptiveSoftmax) as "(not set)", not "undefined". */
const shown = (v: unknown): string => (v === undefined ? '(not set)' : JSON.stringify(v));

/** A resumed checkpoint must be of this model and this vocabulary; other data is only a warning. */
export function checkResumeFits(resumed: Resumed, spec: ModelSpec, data: Dataset, fingerprint: string, say: (kind: RunMessage['kind'], text: string) => void): void {
  const diffs = specDifferences(resumed.c.spec, spec);
  if (diffs.length > 0) throw new CheckpointError(`cannot resume from ${resumed.path}: the model differs:\n  ${diffs.join('\n  ')}`, resumed.path);
  if (resumed.c.vocab.join('\u0000') !== data.vocab.tokens.join('\u0000') || resumed.c.labelNames.join('\u0000') !== data.labelNames.join('\u0000')) {
    throw new CheckpointError(`cannot resume from ${resumed.path}: the vocabulary or labels built from the data differ from the checkpoint's (the data changed)`, resumed.path);
  }
  if (resumed.c.dataFingerprint && resumed.c.dataFingerprint !== fingerprint) say('warning', 'warning: the training data differs from the data of the checkpoint; the run will not match an uninterrupted one');
}

// A multinomial naive Bayes baseline on the exact splits a config produces, to put an RNN's
// accuracy in context: `node dist/src/bench/baseline.js --config configs/large.json`.
// Bag of words of the whole text (maxLength lifted unless --set), add-one smoothing, vocabulary from training.

import { loadConfig } from '../config/load.js';
import { loadDataset, type EncodedSplit } from '../data/index.js';
import { parseArgs, runMain } from '../cli/args.js';

runMain(async () => {
  const args = parseArgs(process.argv.slice(2), {
    name: 'baseline.js',
    summary: 'Multinomial naive Bayes on the splits of a many-to-one config (whole texts, no truncation).',
    flags: {
      config: { type: 'string', required: true, value: 'FILE', help: 'A many-to-one run configuration.' },
      set: { type: 'string', repeat: true, value: 'PATH=VALUE', help: 'Override a config field (e.g. data.maxLength=96 to see the same truncation as the RNN).' },
    },
    examples: [['node dist/src/bench/baseline.js --config configs/large.json']],
  });
  const { config, configDir } = loadConfig(args.config, ['data.maxLength=1000000', ...args.set]);
  if (config.model.task !== 'many-to-one') throw new Error('naive Bayes needs a many-to-one config');
  const data = loadDataset(config.data, { configDir, task: 'many-to-one' });
  const V = data.vocab.tokens.length, C = data.labelNames.length;
  const counts = new Float64Array(C * V), totals = new Float64Array(C), docs = new Float64Array(C);
  const train = data.splits.train;
  for (let i = 0; i < train.count; i++) {
    const y = train.labels[i];
    docs[y]++;
    for (let t = train.starts[i], e = t + train.lengths[i]; t < e; t++) { counts[y * V + train.tokens[t]]++; totals[y]++; }
  }
  const logp = new Float64Array(C * V);
  for (let c = 0; c < C; c++) for (let v = 0; v < V; v++) logp[c * V + v] = Math.log((counts[c * V + v] + 1) / (totals[c] + V));
  const accuracy = (s: EncodedSplit) => {
    let right = 0;
    for (let i = 0; i < s.count; i++) {
      let best = -1, bestScore = -Infinity;
      for (let c = 0; c < C; c++) {
        let score = Math.log(docs[c] / train.count);
        for (let t = s.starts[i], e = t + s.lengths[i]; t < e; t++) score += logp[c * V + s.tokens[t]];
        if (score > bestScore) { bestScore = score; best = c; }
      }
      if (best === s.labels[i]) right++;
    }
    return right / s.count;
  };
  console.log(JSON.stringify({ model: 'multinomial naive Bayes', vocabulary: V, val: accuracy(data.splits.val), test: accuracy(data.splits.test) }));
});

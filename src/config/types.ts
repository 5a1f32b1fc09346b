// The configuration, as TypeScript types. This file is the single definition: the JSON Schema in
// configs/config.schema.json is generated from it at build time (doc comments become
// descriptions; @default, @minimum, @maximum, @exclusiveMinimum become schema keywords), and
// the loader validates against that schema before the code sees a Config.

/** A training run. */
export interface Config {
  /** JSON Schema reference, for editors. */
  $schema?: string;
  /**
   * Name of the run; its files go to `<out>/<name>/`. One folder name: not empty, no `/` or `\`,
   * not `.` or `..` (a run never writes outside `out`).
   * @pattern ^(?!\.\.?$)[^/\\\x00]+$
   * @patternText a single folder name (not empty, no / or \, not . or ..)
   */
  name: string;
  /**
   * Directory that holds run directories, relative to the config file.
   * @default "../runs"
   */
  out?: string;
  /**
   * Seed of every random choice (initialization, data order, sampling).
   * @default 1
   * @minimum 0
   * @integer
   */
  seed?: number;
  data: DataConfig;
  model: ModelConfig;
  train: TrainConfig;
  checkpoint?: CheckpointConfig;
}

/** Where examples come from and how text becomes token ids. */
export interface DataConfig {
  /**
   * `names`: first names -> gender (built in); `spam-assassin`: email body -> spam/ham (built in);
   * `moby-dick`: language modelling on the novel (built in); `moby-dick-segmentation`: word
   * segmentation of the novel (model.task `tagging`: each line's characters without its spaces,
   * each tagged `B`, beginning a word, or `I`; built in); `files`: your own files; `memory`:
   * examples a program passes to the library's `train({ config, data })` (not for config files).
   * Without it, a config that names data.file or data.train reads `files`.
   */
  source: 'names' | 'spam-assassin' | 'moby-dick' | 'moby-dick-segmentation' | 'files' | 'memory';
  /**
   * Format of your files (source `files`): JSON Lines, CSV or TSV with a header, plain text
   * (language modelling), or CoNLL columns (tagging: a token and its tag, the last column, per
   * line; a blank line between sentences). Default: from the files' extension (.jsonl, .csv,
   * .tsv, .txt, .conll).
   */
  format?: 'jsonl' | 'csv' | 'tsv' | 'text' | 'conll';
  /** Training file (source `files`), relative to the config file. Give `train` (+ `val`, `test`) or `file`. */
  train?: string;
  /** Validation file (source `files`). */
  val?: string;
  /** Test file (source `files`). */
  test?: string;
  /** One file that is split deterministically into train/val/test by a hash of each example (source `files`). */
  file?: string;
  /**
   * A folder of token shards written by `node dist/prepare.js --config C --out DIR`, relative to
   * the config file. Training, validation, test and eval.js then read batches from it (positioned
   * reads, a few batches in memory) instead of the data files, which need not exist any more; the
   * tokenizer, vocabulary and split fields must be those the shards were prepared with.
   */
  shards?: string;
  /** Fractions held out for validation and test when splitting by hash. */
  split?: SplitConfig;
  /**
   * Field (JSON Lines) or column (CSV/TSV) holding the text.
   * @default "text"
   */
  textField?: string;
  /**
   * Field or column holding the label (many-to-one).
   * @default "label"
   */
  labelField?: string;
  /**
   * Field holding a sentence's tokens, an array of strings (JSON Lines, model.task `tagging`).
   * @default "tokens"
   */
  tokensField?: string;
  /**
   * Field holding the tags, one per token (JSON Lines, model.task `tagging`).
   * @default "tags"
   */
  tagsField?: string;
  /** The allowed labels, in class-id order. Default: the sorted set of labels seen in training data. */
  labels?: string[];
  /**
   * `char`: one token per character; `word`: words with punctuation split off; `bpe`: byte-level
   * BPE subwords (GPT-2's scheme) learned from the training split, `vocab.maxSize` tokens at most,
   * never `<unk>`.
   * @default "char"
   */
  tokenizer?: 'char' | 'word' | 'bpe';
  /**
   * Lowercase text before tokenizing.
   * @default false
   */
  lowercase?: boolean;
  vocab?: VocabConfig;
  /**
   * Add `<s>` before each sequence.
   * @default false
   */
  bos?: boolean;
  /**
   * Add `</s>` after each sequence.
   * @default false
   */
  eos?: boolean;
  /**
   * Longest sequence in tokens (many-to-one); longer ones are truncated.
   * @default 256
   * @minimum 1
   * @integer
   */
  maxLength?: number;
  /**
   * Which part of a long sequence to keep.
   * @default "start"
   */
  truncate?: 'start' | 'end';
  /**
   * Feed each sequence's kept tokens in reverse order (many-to-one only). The output reads the
   * state at the last token fed, and a vanilla RNN's memory fades with distance; reversed, the
   * first words of a text are fed last, nearest the output (as Sutskever et al. 2014 reverse
   * source sentences). Truncation is applied first.
   * @default false
   */
  reverse?: boolean;
  /**
   * Length T of each training chunk for many-to-many (language modelling).
   * @default 64
   * @minimum 2
   * @integer
   */
  seqLength?: number;
  /**
   * Skip invalid rows (and report how many, and where) instead of stopping at the first.
   * @default false
   */
  skipInvalid?: boolean;
  /**
   * Use only this fraction of the examples, chosen by hash (quick runs, tests). 1 uses everything.
   * @default 1
   * @exclusiveMinimum 0
   * @maximum 1
   */
  sample?: number;
}

export interface SplitConfig {
  /**
   * Fraction for validation.
   * @default 0.1
   * @minimum 0
   * @maximum 0.5
   */
  val?: number;
  /**
   * Fraction for test.
   * @default 0.1
   * @minimum 0
   * @maximum 0.5
   */
  test?: number;
}

/** The vocabulary, built from the training split only. */
export interface VocabConfig {
  /**
   * Most tokens kept, special tokens included. With tokenizer `bpe`: the vocabulary size, the 4
   * special tokens and the 256 bytes included (at least 260), so at most maxSize - 260 merges.
   * @default 20000
   * @minimum 5
   * @integer
   */
  maxSize?: number;
  /**
   * Tokens seen fewer times than this in training become `<unk>`. With tokenizer `bpe`: a pair
   * is merged only if it occurs at least max(2, minFreq) times.
   * @default 1
   * @minimum 1
   * @integer
   */
  minFreq?: number;
}

/** The network. */
export interface ModelConfig {
  /**
   * Recurrent cell: `rnn` (vanilla tanh), `lstm` or `gru`, with PyTorch's equations and gate
   * layouts (LSTM gates i, f, g, o; GRU r, z, n with n = tanh(W_in·x + b_in + r ⊙ (W_hn·h + b_hn))).
   * @default "rnn"
   */
  cell?: 'rnn' | 'lstm' | 'gru';
  /**
   * Stacked recurrent layers: each layer's state sequence is the input of the next; the outputs
   * read the top layer.
   * @default 1
   * @minimum 1
   * @maximum 16
   * @integer
   */
  layers?: number;
  /**
   * Read each sequence both ways (PyTorch's `bidirectional=True`): every layer adds a reverse
   * direction with weights of its own that runs from each sequence's last real token back to its
   * first; a layer's output is both directions' states side by side (2·hidden wide), and the
   * classifier reads the forward state at the last token with the reverse state at the first.
   * Classifiers only: a language model's reverse direction would read the tokens it predicts.
   * @default false
   */
  bidirectional?: boolean;
  /**
   * What a classifier's output layer reads of the top layer's outputs over each sequence's real
   * tokens: `last` (the output at the last token), `mean`, `max` (per unit), or `meanmax`, the
   * three side by side (ULMFiT's concat pooling). Long texts: mean or meanmax let every step's
   * output reach the label directly. Classifiers only.
   * @default "last"
   */
  pooling?: 'last' | 'mean' | 'max' | 'meanmax';
  /**
   * `many-to-one`: a label per sequence; `many-to-many`: a target per step (next-token language
   * modelling); `tagging`: a tag per input token (sequence labelling; may be bidirectional).
   */
  task: 'many-to-one' | 'many-to-many' | 'tagging';
  /**
   * Hidden size H.
   * @minimum 1
   * @integer
   */
  hidden: number;
  /**
   * Input layer: `"onehot"` (Wax·x_t as a gather) or `{ "embedding": E }`.
   * @default "onehot"
   */
  input?: 'onehot' | EmbeddingInput;
  /**
   * Initialization scheme: `standard` (Glorot uniform input weights, U(±1/√H) for a one-hot
   * input, the recurrent weights by `recurrentInit` per gate block, zero biases) or `pytorch`
   * (every recurrent-layer and output weight and bias U(−1/√H, 1/√H), as PyTorch's defaults).
   * @default "standard"
   */
  init?: 'standard' | 'pytorch';
  /**
   * Initialization of the recurrent weights (Waa / weight_hh, each gate's H×H block on its own):
   * `orthogonal` (gain `recurrentScale`) or `normal` (N(0, recurrentScale²/H)). Init `standard` only.
   * @default "orthogonal"
   */
  recurrentInit?: 'orthogonal' | 'normal';
  /**
   * Gain of the recurrent initialization.
   * @default 1
   * @exclusiveMinimum 0
   */
  recurrentScale?: number;
  /**
   * LSTM: added at initialization to the forget gate's bias (bias_ih's f block only, so the gate's
   * total bias b_if + b_hf starts at this value, not twice it), so the cell starts by remembering
   * (Jozefowicz et al. 2015). Set 0 for PyTorch's initialization exactly.
   * @default 1
   */
  forgetBias?: number;
  /**
   * Chrono initialization (Tallec & Ollivier 2018) of the LSTM and GRU for dependencies up to this
   * many steps: per unit, the gate that keeps the state gets the bias b = log(u), u ~ U(1, chrono
   * − 1) (LSTM: forget bias b and input bias −b, replacing forgetBias; GRU: update-gate bias b), so
   * the cell starts by remembering over spans up to `chrono`. Long-range tasks learn in hundreds of
   * steps instead of thousands (README). 0 turns it off. Ignored by the vanilla RNN.
   * @default 0
   * @minimum 0
   * @integer
   */
  chrono?: number;
  /**
   * Dropout rate while training (inverted dropout; none at evaluation): on the embedded inputs
   * x_t, on the states each stacked layer receives from the layer below, and on the state the
   * many-to-one classifier reads. Masks are drawn from the seed, the step and each example's id,
   * so they do not depend on sharding or padding. Needs an embedding input, more than one layer
   * or a many-to-one task (a one-layer one-hot language model has nowhere to apply it).
   * @default 0
   * @minimum 0
   * @maximum 0.9
   */
  dropout?: number;
  /**
   * Tied weights (Press & Wolf 2017): the output layer reads the input embedding Wemb (V × E) as
   * its weight, so the model has one V-row table instead of two (V·H fewer parameters) and usually
   * a better perplexity. Language models (`many-to-many`) with an embedding input only. With
   * E ≠ H the top state is first projected to E by a weight Wproj (E × H). The embedding then
   * starts at U(±√(3/E)) instead of N(0, 1).
   * @default false
   */
  tieWeights?: boolean;
  /**
   * The adaptive softmax output layer (Grave et al. 2017), as PyTorch's
   * nn.AdaptiveLogSoftmaxWithLoss: for language models with a large vocabulary, whose token ids
   * are sorted by frequency (the vocabulary is). Absent: the full softmax.
   */
  adaptiveSoftmax?: AdaptiveSoftmaxConfig;
}

/** PyTorch's AdaptiveLogSoftmaxWithLoss(H, V, cutoffs, div_value, head_bias). */
export interface AdaptiveSoftmaxConfig {
  /**
   * Increasing token ids where the tail clusters start: ids below the first are the head's
   * shortlist, and cluster i holds ids [cutoffs[i], cutoffs[i+1]) (the last one up to V). Each
   * must be below the vocabulary size V. E.g. [2000, 10000] for V = 50,000.
   * @integer
   */
  cutoffs: number[];
  /**
   * Cluster i is reached through a projection of the state to ⌊H / divValue^(i+1)⌋ units.
   * @default 4
   * @exclusiveMinimum 0
   */
  divValue?: number;
  /**
   * A bias in the head (the tails have none).
   * @default false
   */
  headBias?: boolean;
}

export interface EmbeddingInput {
  /**
   * Embedding width E.
   * @minimum 1
   * @integer
   */
  embedding: number;
  /**
   * Pretrained word vectors to start the embedding from, relative to the config file: the text
   * format of GloVe, word2vec and fastText (`.vec`), a `word v1 ... vE` per line (fastText's first
   * line `count dim` is skipped), E = `embedding`. Tokens of the vocabulary found in it start at
   * their vector, the others as without it; the run's header says how many were found.
   */
  pretrained?: string;
  /**
   * Keep the embedding table as it starts (pretrained, or initialized) with no update; false
   * trains it (fine-tunes pretrained vectors), as when absent. Not with tieWeights (the table is
   * then the output layer too).
   */
  freeze?: boolean;
}

/** Optimization. */
export interface TrainConfig {
  /**
   * Passes over the training split.
   * @default 10
   * @minimum 1
   * @integer
   */
  epochs?: number;
  /**
   * Sequences per batch.
   * @default 32
   * @minimum 1
   * @integer
   */
  batchSize?: number;
  /**
   * `adam` or `sgd` (with momentum).
   * @default "adam"
   */
  optimizer?: 'adam' | 'sgd';
  /**
   * Learning rate.
   * @default 0.001
   * @exclusiveMinimum 0
   */
  lr?: number;
  /**
   * Learning-rate schedule over the planned steps (epochs × batches per epoch; maxSteps does not
   * change it): `constant`, or `cosine` decay from `lr` to `lr × lrMinRatio`, a function of the
   * global step alone, so a stopped and resumed run follows the same curve.
   * @default "constant"
   */
  lrSchedule?: 'constant' | 'cosine';
  /**
   * Final learning rate of the cosine schedule, as a fraction of `lr`.
   * @default 0.1
   * @minimum 0
   * @maximum 1
   */
  lrMinRatio?: number;
  /**
   * SGD momentum.
   * @default 0.9
   * @minimum 0
   * @maximum 1
   */
  momentum?: number;
  /**
   * Adam beta1.
   * @default 0.9
   * @minimum 0
   * @exclusiveMaximum 1
   */
  beta1?: number;
  /**
   * Adam beta2.
   * @default 0.999
   * @minimum 0
   * @exclusiveMaximum 1
   */
  beta2?: number;
  /**
   * Adam epsilon.
   * @default 1e-8
   * @exclusiveMinimum 0
   */
  eps?: number;
  /**
   * Decoupled weight decay (AdamW; for SGD, added to the gradient as L2): each step multiplies the
   * parameters by 1 − lr × weightDecay. 0 turns it off.
   * @default 0
   * @minimum 0
   */
  weightDecay?: number;
  /**
   * Clip gradients by global norm to this value; 0 turns clipping off.
   * @default 5
   * @minimum 0
   */
  clipNorm?: number;
  /**
   * Linear learning-rate warm-up: step s of the first warmupSteps runs at lr × s / warmupSteps
   * (times the schedule's factor), then the schedule alone. 0 turns it off.
   * @default 0
   * @minimum 0
   * @integer
   */
  warmupSteps?: number;
  /**
   * Reduce the learning rate when the validation loss stops falling (PyTorch's ReduceLROnPlateau). Off when absent.
   * @offWhenAbsent
   */
  plateau?: PlateauConfig;
  /**
   * Class weights of a classifier's training loss, for imbalanced labels (PyTorch's
   * CrossEntropyLoss(weight=...)): the loss is Σ w_y·nll / Σ w_y over a batch. `"balanced"`:
   * w_c = N / (C × N_c) from the training split's label counts (scikit-learn's), or a weight per
   * label (labels left out weigh 1). The training loss and accuracy shown are then weighted means
   * (balanced: the mean per-class recall); validation and test are not weighted. Absent: all 1.
   */
  classWeights?: 'balanced' | {
    /** @exclusiveMinimum 0 */
    [label: string]: number;
  };
  /**
   * Target replication (many-to-one): every state a_t up to the last token also predicts the
   * label, adding stepLoss × the mean of those cross-entropies to each sequence's loss while
   * training. Early steps get a gradient of their own, so the state learns to carry its evidence
   * forward (Lipton et al. 2016); predictions are still read at the last token. 0 turns it off.
   * @default 0
   * @minimum 0
   */
  stepLoss?: number;
  /**
   * Language models (many-to-many): carry each row's state from one chunk of a document to the
   * next, in training and in evaluation, as min-char-rnn and char-rnn do. Batches are then B
   * parallel streams over the shuffled documents (consecutive chunks of a document at the same
   * row), each chunk starts from the state the previous one ended in (zero at a document's start),
   * and no gradient crosses a chunk boundary (truncated BPTT at chunk boundaries). false: every
   * chunk starts from a zero state, and batches are random chunks. Language models only.
   * @default true
   */
  carryState?: boolean;
  /**
   * Truncated BPTT window in steps for many-to-many; 0 backpropagates through the whole chunk.
   * @default 0
   * @minimum 0
   * @integer
   */
  bpttWindow?: number;
  /**
   * Worker threads. Default: os.availableParallelism().
   * @minimum 1
   * @integer
   */
  workers?: number;
  /**
   * Compute backend of the numeric kernels: `auto` (the fastest that loads here: native, then
   * wasm, then js), `native` (C++ addon, AVX-512/AVX2 dispatch), `wasm` (WebAssembly SIMD) or
   * `js` (the plain JavaScript reference). `--kernels` and RNN_TRAINER_KERNELS override it.
   * @default "auto"
   */
  kernels?: 'auto' | 'native' | 'wasm' | 'js';
  /**
   * Arithmetic of the large products in training: `f32`, or `bf16` (mixed precision: the products
   * over all rows (the full softmax head's, the input projections, the weight gradients) take
   * bfloat16 inputs with float32 sums; the recurrence, weights, optimizer state, gradient sums,
   * evaluation and checkpoints stay float32). bf16 runs on the native kernels on a CPU with
   * AVX512-BF16 where it is at least 1.5x float32's rate (e.g. AMD Zen 5); elsewhere the run is
   * refused. `--precision` overrides it.
   * @default "f32"
   */
  precision?: 'f32' | 'bf16';
  /**
   * Log a metrics line every this many steps.
   * @default 10
   * @minimum 1
   * @integer
   */
  logEvery?: number;
  /**
   * Validate (and checkpoint) every this many steps, besides each epoch's end; 0: at each
   * epoch's end only (a language model trained for fewer than 5 epochs: also every ⌈steps / 5⌉
   * steps, at least logEvery, so its curves have about 5 points). Early stopping counts validations; with validateEvery, only these every-N
   * ones (an epoch-end validation may set a new best but adds no tick to the patience count).
   * @default 0
   * @minimum 0
   * @integer
   */
  validateEvery?: number;
  /**
   * Validate on at most this many tokens of the validation split: its first sequences, in the
   * split's order, whole (at least one), the same ones every time, so validations compare. For a
   * large validation split validated often. 0: the whole split. The final test is always whole;
   * the summary and the report say when validation was on a subset.
   * @default 0
   * @minimum 0
   * @integer
   */
  validateTokens?: number;
  /** Stop when the validation result has not improved for a while, and end with the best weights. Off when absent. */
  earlyStopping?: EarlyStoppingConfig;
  /**
   * Stop after this many global steps (0: run all epochs).
   * @default 0
   * @minimum 0
   * @integer
   */
  maxSteps?: number;
}

/**
 * Early stopping: the best validation result is judged by one rule (a classifier's highest
 * accuracy, a language model's lowest loss; the earlier step on a tie); training stops after
 * `patience` validations in a row without an improvement of more than `minDelta`, and the run
 * ends with the weights of the best validation (its checkpoint is always kept).
 */
export interface EarlyStoppingConfig {
  /**
   * Validations without improvement before training stops.
   * @minimum 1
   * @integer
   */
  patience: number;
  /**
   * Smallest change that counts as an improvement (in accuracy, a fraction; or in loss, nats per token).
   * @default 0
   * @minimum 0
   */
  minDelta?: number;
}

/**
 * Reduce-on-plateau, as PyTorch's ReduceLROnPlateau(mode="min", threshold=0, cooldown=0): after
 * more than `patience` validations in a row without a lower validation loss, the learning rate is
 * multiplied by `factor` (on top of lrSchedule and warmupSteps), never below `minLr`. Validations
 * count as for early stopping (with validateEvery, the every-N ones).
 */
export interface PlateauConfig {
  /**
   * Multiplies the learning rate at each reduction.
   * @default 0.1
   * @exclusiveMinimum 0
   * @exclusiveMaximum 1
   */
  factor?: number;
  /**
   * Validations without a lower loss that are tolerated: the next one reduces.
   * @default 2
   * @minimum 0
   * @integer
   */
  patience?: number;
  /**
   * The learning rate is never reduced below this.
   * @default 0
   * @minimum 0
   */
  minLr?: number;
}

/** Checkpoints. */
export interface CheckpointConfig {
  /**
   * Write a checkpoint every this many steps (also at each epoch's end and at the end of the run); 0: only those.
   * @default 200
   * @minimum 0
   * @integer
   */
  every?: number;
  /**
   * How many of the most recent checkpoints to keep (the best by validation is kept as well).
   * @default 3
   * @minimum 1
   * @integer
   */
  keepLast?: number;
}

// The package's library entry (`import { trainRun } from 'rnn-trainer'`): the pieces the commands
// are built from, for a program that trains, evaluates or exports without spawning them.
export { loadConfig, checkConfig, type LoadedConfig, type ResolvedConfig, type Config } from './config/load.js';
export { trainRun, StopSignal, type RunOptions, type RunSummary, type EvalMetrics } from './train/run.js';
export { loadModel, isLanguageModel, type LoadedModel } from './infer/model.js';
export { Classifier, type Prediction } from './infer/classify.js';
export { evaluateSplit, splitFromConfig, splitFromFile, type EvalOptions } from './infer/evaluate.js';
export { exportOnnx, ExportError, type ExportOptions, type ExportableModel } from './export/onnx.js';

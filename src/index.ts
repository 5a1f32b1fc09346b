// The package's library entry (`import { train, Model } from 'rnn-trainer'`).
//
//   const { model } = await train({ config: { name, model, train }, data: [{ text, label }, ...] });
//   model.classify('text')  ·  model.generate('prompt')  ·  await model.evaluate(data)  ·  model.save(file)
//   const again = Model.load(file);
//
// Below them, the pieces the commands are built from, for a program that trains, evaluates or
// exports the way the command line does.
export { train, type TrainResult, type TrainOptions } from './api.js';
export { Model, loadModel, isLanguageModel, type LoadedModel, type GenerateTextOptions, type Metrics } from './infer/model.js';
export type { Session, TokenProb } from './infer/session.js';
export type { TextPiece, SamplingOptions } from './infer/generate.js';
export type { Prediction } from './infer/classify.js';
export type { Example, Documents, InMemoryData } from './data/index.js';
export {
  trainRun, type RunOptions, type ConfigInput, type RunSummary, type EvalMetrics, type StartEvent, type StepEvent, type ValidationEvent, type CheckpointEvent, type RunMessage,
} from './train/run.js';
export { loadConfig, checkConfig, type LoadedConfig, type ResolvedConfig, type Config } from './config/load.js';
export { Classifier } from './infer/classify.js';
export { summary, formatSummary, type ModelSummary, type SummaryLayer } from './model/summary.js';
export { evaluateSplit, splitFromConfig, splitFromFile, type EvalOptions } from './infer/evaluate.js';
export { prepareData, type PrepareOptions, type PrepareResult, type PrepareProgress } from './data/prepare.js';
export { readShardIndex, type ShardIndex, type ShardMeta } from './data/shards.js';
export { exportOnnx, ExportError, type ExportOptions, type ExportableModel } from './export/onnx.js';
export { exportHtml, MAX_PAGE_WEIGHT_BYTES, type HtmlExportOptions } from './export/html.js';
export { UserError, ConfigError, DataError, CheckpointError } from './util/errors.js';

// Checkpoints: the format (proto/checkpoint.proto), encoding/decoding with full validation, atomic
// files, and the run's checkpoint directory with retention. The training loop uses:
//   const dir = new CheckpointDir(runDir, { keepLast });
//   dir.save(state)                        // every N steps, at epoch ends, at the end of the run
//   dir.loadLatestValid(warn)              // --resume latest
//   readCheckpoint(path)                   // --resume PATH
//   specDifferences(saved.spec, spec)      // refuse a resume that changes the model's shape

export { CHECKPOINT_FORMAT_VERSION } from './types.js';
export type { CheckpointData, TensorData, OptimizerData, OptimizerKind, TrainingData } from './types.js';
export { encodeCheckpoint, decodeCheckpoint, encodeParts, sealMessage, MAX_TENSOR_ELEMENTS } from './codec.js';
export { writeCheckpointAtomic, readCheckpoint, CheckpointDir, checkpointFileName, stepOfFileName, tempPathFor } from './files.js';
export type { FileOps, CheckpointDirOptions } from './files.js';
export { crc32c } from '../util/crc32c.js';
export { specDifferences } from './compare.js';
export { modelFromCheckpoint, tensorsOf, loadTensors, type SavedModel } from './model.js';

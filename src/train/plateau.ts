// Reduce-on-plateau (train.plateau), as PyTorch's ReduceLROnPlateau(mode='min', threshold=0,
// cooldown=0) on the validation loss: after more than `patience` validations in a row without a
// lower loss, the learning rate is multiplied by `factor`, never below `minLr`. Its state (the
// scale, the best loss, the count) is part of the training state in the checkpoint, so a resumed
// run reduces at the same validations as an uninterrupted one.

import type { TrainingData } from '../checkpoint/index.js';

export interface PlateauOptions {
  factor: number;
  patience: number;
  minLr: number;
}

/**
 * One validation loss into the state `st` (in place); true when it reduced the learning rate.
 * A lower loss resets the count; the (patience + 1)-th validation in a row without one reduces.
 */
export function plateauStep(st: Pick<TrainingData, 'lrScale' | 'plateauBest' | 'plateauWait'>, loss: number, o: PlateauOptions): boolean {
  const best = st.plateauBest ?? NaN;
  if (Number.isFinite(loss) && (Number.isNaN(best) || loss < best)) {
    st.plateauBest = loss;
    st.plateauWait = 0;
    return false;
  }
  st.plateauWait = (st.plateauWait ?? 0) + 1;
  if (st.plateauWait <= o.patience) return false;
  st.lrScale = (st.lrScale ?? 1) * o.factor;
  st.plateauWait = 0;
  return true;
}

/** The learning rate of a step: the schedule's, scaled by the plateau's reductions, not below minLr once reduced. */
export function plateauLr(scheduled: number, lrScale: number | undefined, o: PlateauOptions | undefined): number {
  const s = lrScale ?? 1;
  return o && s < 1 ? Math.max(o.minLr, scheduled * s) : scheduled;
}

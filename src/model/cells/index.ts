// The cells, by name.
import type { Cell as CellName } from '../spec.js';
import type { Cell } from './types.js';
import { rnnCell } from './rnn.js';
import { lstmCell } from './lstm.js';
import { gruCell } from './gru.js';

export type { Cell, LayerCache, Backflow, BackScratch } from './types.js';

const CELLS: Record<CellName, Cell> = { rnn: rnnCell, lstm: lstmCell, gru: gruCell };

export function cellOf(name: CellName): Cell {
  const c = CELLS[name];
  if (!c) throw new Error(`no cell named ${JSON.stringify(name)}`);
  return c;
}

// The cells, by name: the one place a cell is listed (its file declares everything else).
import type { Cell, LayerCache } from './types.js';
import { rnnCell } from './rnn.js';
import { lstmCell } from './lstm.js';
import { gruCell } from './gru.js';

export type { Cell, LayerCache, Backflow, BackScratch } from './types.js';

const CELLS = new Map<string, Cell>();

/** Makes a cell known by its name (the built-in ones below; a test may add its own). */
export function registerCell<C extends LayerCache>(cell: Cell<C>): void {
  CELLS.set(cell.name, cell as unknown as Cell);
}
for (const c of [rnnCell, lstmCell, gruCell]) registerCell(c as Cell<LayerCache>);

export function cellOf(name: string): Cell {
  const c = CELLS.get(name);
  if (!c) throw new Error(`no cell named ${JSON.stringify(name)}`);
  return c;
}

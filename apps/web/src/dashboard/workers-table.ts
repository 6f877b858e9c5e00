import { h, setText } from '../dom.js';
import { fmtAgo, fmtInt, fmtPercent, fmtRate } from '../format.js';
import type { WorkerRow } from './types.js';

const COLUMNS = ['name', 'kind', 'threads', 'samples/s', 'share of batch', 'samples done', 'last seen', 'state'];

const STATE_PILL: Record<WorkerRow['state'], string> = { busy: 'good busy', idle: 'idle', straggling: 'warn' };

interface RowCells {
  tr: HTMLTableRowElement;
  cells: HTMLTableCellElement[];
  bar: HTMLElement;
  pill: HTMLElement;
}

/** The workers table: one row per connected worker, keyed by id; rows come and go as workers join and leave. */
export class WorkersTable {
  readonly el: HTMLTableElement;
  private readonly body: HTMLTableSectionElement;
  private readonly empty: HTMLTableRowElement;
  private readonly rows = new Map<string, RowCells>();

  constructor() {
    this.body = h('tbody');
    this.empty = h('tr.empty', null, h('td', { colspan: String(COLUMNS.length) }, 'No workers connected. Open the join link in a browser, or run the worker command on another machine.'));
    this.el = h('table.workers', null, h('thead', null, h('tr', null, ...COLUMNS.map((c) => h('th', null, c)))), this.body);
    this.body.append(this.empty);
  }

  update(workers: WorkerRow[], runOver = false): void {
    const seen = new Set<string>();
    // Join order (w1, w2, …, w10): numeric, not lexical.
    const sorted = [...workers].sort((a, b) => a.id.localeCompare(b.id, 'en', { numeric: true }));
    for (const w of sorted) {
      seen.add(w.id);
      let row = this.rows.get(w.id);
      if (!row) {
        row = this.makeRow(w);
        this.rows.set(w.id, row);
      }
      this.body.append(row.tr); // appending an attached row moves it: keeps the sort
      const c = row.cells;
      setText(c[0]!.firstChild as HTMLElement, w.name);
      setText(c[0]!.lastChild as HTMLElement, w.id);
      setText(c[1]!, w.kind);
      setText(c[2]!, fmtInt(w.threads));
      setText(c[3]!, fmtRate(w.samplesPerSec));
      setText(c[4]!.firstChild!.lastChild as HTMLElement, fmtPercent(w.share));
      row.bar.style.width = `${Math.min(100, Math.max(0, 100 * w.share)).toFixed(1)}%`;
      setText(c[5]!, fmtInt(w.samplesDone));
      setText(c[6]!, fmtAgo(w.lastSeenMsAgo));
      const cls = `pill ${STATE_PILL[w.state] ?? 'idle'}`;
      if (row.pill.className !== cls) row.pill.className = cls;
      setText(row.pill, w.state);
    }
    for (const [id, row] of this.rows) {
      if (seen.has(id)) continue;
      row.tr.remove();
      this.rows.delete(id);
    }
    setText(
      this.empty.firstChild as HTMLElement,
      runOver ? 'The run is over; its workers have left.' : 'No workers connected. Open the join link in a browser, or run the worker command on another machine.',
    );
    if (this.rows.size === 0) this.body.append(this.empty);
    else this.empty.remove();
    this.el.dataset.rows = String(this.rows.size);
  }

  private makeRow(w: WorkerRow): RowCells {
    const bar = h('span.share-bar');
    const pill = h('span.pill');
    const cells = [
      h('td.name', null, h('span'), h('span.muted.id')),
      h('td'),
      h('td.num'),
      h('td.num'),
      h('td.share', null, h('span.share-cell', null, h('span.share-track', null, bar), h('span.num'))),
      h('td.num'),
      h('td'),
      h('td', null, pill),
    ];
    const tr = h('tr.worker', { 'data-id': w.id }, ...cells);
    return { tr, cells: cells as HTMLTableCellElement[], bar, pill };
  }
}

/** Number formatting and plain-text tables for the terminal. */

export function fmtInt(x: number): string {
  if (!Number.isFinite(x)) return '—';
  return Math.round(x).toLocaleString('en-US');
}

/** Three significant digits, thousands separated. */
export function fmt(x: number, digits = 3): string {
  if (!Number.isFinite(x)) return '—';
  if (x === 0) return '0';
  const abs = Math.abs(x);
  if (abs >= 10 ** digits) return fmtInt(x);
  const decimals = Math.max(0, digits - 1 - Math.floor(Math.log10(abs)));
  return x.toFixed(Math.min(decimals, 6));
}

export function fmtRatio(x: number): string {
  return Number.isFinite(x) ? `${fmt(x)}×` : '—';
}

export function fmtPct(x: number, decimals = 1): string {
  return Number.isFinite(x) ? `${(100 * x).toFixed(decimals)}%` : '—';
}

export function fmtBytes(b: number): string {
  if (!Number.isFinite(b)) return '—';
  if (b >= 1 << 20) return `${fmt(b / (1 << 20))} MiB`;
  if (b >= 1 << 10) return `${fmt(b / (1 << 10))} KiB`;
  return `${Math.round(b)} B`;
}

export interface Table {
  title: string;
  headers: string[];
  rows: string[][];
  notes?: string[];
}

/** Renders a table with right-aligned numeric columns (every column but the first). */
export function renderTable(t: Table): string {
  const widths = t.headers.map((h, i) => Math.max(h.length, ...t.rows.map((r) => (r[i] ?? '').length)));
  const line = (cells: string[]): string =>
    cells.map((c, i) => (i === 0 ? c.padEnd(widths[i]!) : c.padStart(widths[i]!))).join('  ').trimEnd();
  const out = [`\n${t.title}`, line(t.headers), widths.map((w) => '─'.repeat(w)).join('  ')];
  for (const r of t.rows) out.push(line(r.map((c) => c ?? '')));
  for (const n of t.notes ?? []) out.push(`  · ${n}`);
  return out.join('\n');
}

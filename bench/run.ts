/**
 * pnpm bench [-- --only SECTION[,SECTION…]] [--quick] [--runs N] [--no-save]
 *
 * Prints one table per section and a summary, and writes everything as JSON
 * to bench/results/<timestamp>.json and bench/results/latest.json. Each
 * section fails soft: its error is printed and the next one runs.
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { loadavg } from 'node:os';
import { join } from 'node:path';
import { renderTable, type Table } from './lib/format.js';
import { machineInfo } from './lib/machine.js';
import { BENCH } from './lib/paths.js';
import type { Ctx, Section, SectionResult, SummaryRow } from './lib/section.js';
import { coordinator } from './sections/coordinator.js';
import { determinism } from './sections/determinism.js';
import { kernels } from './sections/kernels.js';
import { mnist } from './sections/mnist.js';
import { threads } from './sections/threads.js';

const SECTIONS: Section[] = [kernels, mnist, threads, determinism, coordinator];

const USAGE = `usage: pnpm bench [-- options]
  --only NAMES   run only these sections (comma-separated): ${SECTIONS.map((s) => s.name).join(', ')}
  --quick        fewer and shorter runs (3 per figure): for development, not for the record
  --runs N       timed runs per figure (default 5; medians are reported)
  --no-save      do not write bench/results/
  --help         this text
`;

interface Args {
  only: string[] | null;
  quick: boolean;
  runs: number | null;
  save: boolean;
}

function parseArgs(argv: string[]): Args {
  const a: Args = { only: null, quick: false, runs: null, save: true };
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    const [flag, inline] = arg.includes('=') ? [arg.slice(0, arg.indexOf('=')), arg.slice(arg.indexOf('=') + 1)] : [arg, undefined];
    const value = (): string => {
      const v = inline ?? argv[++i];
      if (v === undefined) fail(`${flag} needs a value`);
      return v!;
    };
    switch (flag) {
      case '--':
        break;
      case '--only': {
        const names = value().split(',').map((s) => s.trim()).filter(Boolean);
        const unknown = names.filter((n) => !SECTIONS.some((s) => s.name === n));
        if (unknown.length) fail(`--only: unknown section ${unknown.join(', ')} (sections: ${SECTIONS.map((s) => s.name).join(', ')})`);
        a.only = names;
        break;
      }
      case '--quick':
        a.quick = true;
        break;
      case '--runs': {
        const n = Number(value());
        if (!Number.isInteger(n) || n < 1 || n > 100) fail('--runs: expected an integer from 1 to 100');
        a.runs = n;
        break;
      }
      case '--no-save':
        a.save = false;
        break;
      case '--help':
      case '-h':
        process.stdout.write(USAGE);
        process.exit(0);
        break;
      default:
        fail(`unknown option ${arg}`);
    }
  }
  return a;
}

function fail(msg: string): never {
  process.stderr.write(`pnpm bench: ${msg}\n${USAGE}`);
  process.exit(2);
}

async function main(): Promise<void> {
  const args = parseArgs(process.argv.slice(2));
  const runs = args.runs ?? (args.quick ? 3 : 5);
  const started = new Date();
  const tables: Record<string, Table[]> = {};
  let current = '';
  const ctx: Ctx = {
    quick: args.quick,
    runs,
    blockMs: args.quick ? 300 : 700,
    warmupMs: args.quick ? 600 : 1500,
    log: (line) => process.stderr.write(`${line}\n`),
    table: (t) => {
      (tables[current] ??= []).push(t);
      process.stdout.write(`${renderTable(t)}\n`);
    },
  };
  const machine = machineInfo();
  const cpu = machine.cpu as { model: string; isa: string[] };
  process.stdout.write(
    `gradmesh bench — ${started.toISOString()}${args.quick ? ' (--quick: 3 runs, short blocks; not for the record)' : ''}\n` +
      `${cpu.model} (${cpu.isa.join(' ')}), ${machine.cores} cores, Node ${process.version}, load average ${(machine.loadavg as number[]).map((x) => x.toFixed(2)).join(' ')}\n` +
      'The machine may be shared: every figure is a median of interleaved runs after a warm-up; compare ratios, not absolutes.\n',
  );
  const selected = SECTIONS.filter((s) => !args.only || args.only.includes(s.name));
  const results: Record<string, (SectionResult & { seconds: number; loadavg: { start: number[]; end: number[] } }) | { error: string; seconds: number }> = {};
  const summary: Array<SummaryRow & { section: string }> = [];
  for (const s of selected) {
    current = s.name;
    const load0 = loadavg();
    process.stdout.write(`\n━━ ${s.name}: ${s.title} (load average ${load0.map((x) => x.toFixed(2)).join(' ')})\n`);
    const t0 = performance.now();
    try {
      const r = await s.run(ctx);
      const seconds = (performance.now() - t0) / 1000;
      results[s.name] = { ...r, seconds, loadavg: { start: load0, end: loadavg() } };
      summary.push(...r.summary.map((row) => ({ ...row, section: s.name })));
      process.stderr.write(`${s.name}: done in ${seconds.toFixed(0)} s\n`);
    } catch (err) {
      const msg = err instanceof Error ? (err.stack ?? err.message) : String(err);
      process.stdout.write(`\n${s.name}: FAILED: ${msg}\n`);
      results[s.name] = { error: msg, seconds: (performance.now() - t0) / 1000 };
      summary.push({ section: s.name, metric: `${s.name} section`, value: `failed: ${msg.split('\n')[0]}`, status: 'missed' });
    }
  }
  const summaryTable: Table = {
    title: `Summary (${runs} runs per figure${args.quick ? ', --quick' : ''})`,
    headers: ['metric', 'measured', 'target', ''],
    rows: summary.map((r) => [r.metric, r.value, r.target ?? '', r.status === 'met' ? 'met' : r.status === 'missed' ? 'MISSED' : r.status === 'contended' ? 'not measurable (machine busy)' : '']),
  };
  process.stdout.write(`${renderTable(summaryTable)}\n`);
  const out = {
    started: started.toISOString(),
    finished: new Date().toISOString(),
    options: { ...args, runs, blockMs: ctx.blockMs, warmupMs: ctx.warmupMs },
    machine: { ...machine, loadavgAtEnd: loadavg() },
    summary,
    tables,
    sections: results,
  };
  if (args.save) {
    const dir = join(BENCH, 'results');
    mkdirSync(dir, { recursive: true });
    const name = `${started.toISOString().replace(/[:.]/g, '-')}.json`;
    const text = `${JSON.stringify(out, (_k, v) => (typeof v === 'number' && !Number.isFinite(v) ? null : v), 2)}\n`;
    writeFileSync(join(dir, name), text);
    writeFileSync(join(dir, 'latest.json'), text);
    process.stdout.write(`\nresults: bench/results/${name} (and bench/results/latest.json)\n`);
  }
  // Cells and pools are closed by now; anything left (a stuck socket) must not keep the bench alive.
  process.exit(0);
}

await main();

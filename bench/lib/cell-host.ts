/** Child-process side of a cell: loads the cell module, runs blocks on request, reports times. */
import type { Cell, CellFactory, HostReply, HostRequest } from './cell.js';

let cell: Cell | null = null;

function reply(r: HostReply): void {
  process.send!(r);
}

process.on('message', (req: HostRequest) => {
  void handle(req).then(reply, (err: unknown) => reply({ ok: false, error: err instanceof Error ? (err.stack ?? err.message) : String(err) }));
});
process.on('disconnect', () => process.exit(0));

async function handle(req: HostRequest): Promise<HostReply> {
  switch (req.cmd) {
    case 'setup': {
      const mod = (await import(req.module)) as Record<string, CellFactory>;
      const factory = mod[req.factory];
      if (typeof factory !== 'function') throw new Error(`${req.module} has no export ${req.factory}`);
      cell = await factory(req.args);
      return { ok: true, info: cell.info ?? {} };
    }
    case 'prepare':
      await cell!.prepare?.(req.steps);
      return { ok: true };
    case 'block': {
      const c0 = process.cpuUsage();
      const t0 = performance.now();
      const r = await cell!.block(req.steps);
      const ms = performance.now() - t0;
      const c = process.cpuUsage(c0);
      // CPU time of the whole process (all its threads) over the block's wall time: 1.0 = one core the whole time.
      const cpuShare = r?.cpuShare ?? (c.user + c.system) / 1000 / ms;
      return { ok: true, ms: r?.ms ?? ms, cpuShare, ...(r?.extra ? { extra: r.extra } : {}) };
    }
    case 'close':
      await cell?.close?.();
      setImmediate(() => process.exit(0));
      return { ok: true };
  }
}

import type { ChildProcess } from 'node:child_process';

/** Waits for child processes to exit on their own (local workers leave on `done`), then kills what is left. */
export async function stopChildren(children: ChildProcess[], graceMs = 3000): Promise<void> {
  await Promise.all(
    children.map(
      (c) =>
        new Promise<void>((res) => {
          if (c.exitCode !== null || c.signalCode !== null) return res();
          const t = setTimeout(() => {
            c.kill('SIGKILL');
            res();
          }, graceMs);
          c.once('exit', () => {
            clearTimeout(t);
            res();
          });
        }),
    ),
  );
}

/**
 * The Node flag every gradmesh process that moves parameter-sized frames each
 * step runs with (local workers, `pnpm start`, `pnpm gradmesh`, the bench's
 * workers): see the comment where local workers are spawned.
 */
export const WORKER_HEAP_FLAG = '--initial-old-space-size=128';

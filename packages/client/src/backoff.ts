/**
 * Delay before reconnect attempt `attempt` (1-based): exponential, capped,
 * with "equal jitter" — half fixed, half random — so a coordinator restart
 * is not met by every worker reconnecting in the same millisecond, while no
 * worker waits less than half its step.
 */
export function backoffDelay(attempt: number, initialMs: number, maxMs: number, random: () => number): number {
  const ceiling = Math.min(maxMs, initialMs * 2 ** Math.min(attempt - 1, 30));
  return ceiling / 2 + (ceiling / 2) * random();
}

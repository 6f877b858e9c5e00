/**
 * Progress on long work: a bar redrawn in place on a terminal, a plain line
 * every few seconds when piped (so logs stay readable), nothing with --quiet.
 */
export class Progress {
  private lastPlain = 0;
  private readonly tty: boolean;

  constructor(
    private readonly out: NodeJS.WriteStream,
    private readonly quiet: boolean,
    private readonly plainEveryMs = 3000,
  ) {
    this.tty = Boolean(out.isTTY);
  }

  update(done: number, total: number, text: string, force = false): void {
    if (this.quiet) return;
    if (this.tty) {
      const width = 24;
      const filled = Math.round((width * done) / Math.max(1, total));
      const bar = '█'.repeat(filled) + '░'.repeat(width - filled);
      this.out.write(`\r\x1b[2K${bar} ${text}`);
      return;
    }
    const now = Date.now();
    if (force || now - this.lastPlain >= this.plainEveryMs) {
      this.lastPlain = now;
      this.out.write(`${text}\n`);
    }
  }

  /** A line that stays (an epoch's test accuracy, a message). */
  line(text: string): void {
    if (this.quiet) return;
    this.out.write(this.tty ? `\r\x1b[2K${text}\n` : `${text}\n`);
  }

  end(): void {
    if (!this.quiet && this.tty) this.out.write('\r\x1b[2K');
  }
}

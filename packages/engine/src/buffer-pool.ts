/**
 * Gradient-sized scratch buffers reused across steps: the hot path allocates
 * nothing once warm. Buffers handed out stay valid until reset().
 */
export class BufferPool {
  private readonly all: Float32Array[] = [];
  private free: Float32Array[] = [];

  constructor(
    readonly length: number,
    private readonly alloc: (n: number) => Float32Array = (n) => new Float32Array(n),
  ) {}

  take(): Float32Array {
    const b = this.free.pop();
    if (b) return b;
    const fresh = this.alloc(this.length);
    this.all.push(fresh);
    return fresh;
  }

  give(b: Float32Array): void {
    this.free.push(b);
  }

  /** Every buffer becomes free again (results of the previous compute are void). */
  reset(): void {
    this.free = this.all.slice().reverse();
  }
}

import type { FeedMessage } from './types.js';

export type FeedState = 'connecting' | 'live' | 'reconnecting';

/**
 * The dashboard's live connection: /feed on the coordinator that served the
 * page. Read-only; reconnects with backoff (a coordinator restarted with
 * --resume comes back at the same address).
 */
export class Feed {
  private ws: WebSocket | null = null;
  private attempt = 0;
  private timer = 0;

  constructor(
    private readonly url: string,
    private readonly onMessage: (msg: FeedMessage) => void,
    private readonly onState: (state: FeedState, attempt: number) => void,
  ) {}

  start(): void {
    this.open();
  }

  private open(): void {
    this.onState(this.attempt === 0 ? 'connecting' : 'reconnecting', this.attempt);
    const ws = new WebSocket(this.url);
    this.ws = ws;
    ws.onopen = () => {
      this.attempt = 0;
      this.onState('live', 0);
    };
    ws.onmessage = (ev) => {
      if (typeof ev.data !== 'string') return;
      let msg: FeedMessage;
      try {
        msg = JSON.parse(ev.data) as FeedMessage;
      } catch {
        return; // not ours to crash on
      }
      this.onMessage(msg);
    };
    ws.onclose = () => {
      if (ws !== this.ws) return;
      this.ws = null;
      this.attempt++;
      const delay = Math.min(10_000, 500 * 2 ** Math.min(this.attempt - 1, 5));
      this.onState('reconnecting', this.attempt);
      clearTimeout(this.timer);
      this.timer = window.setTimeout(() => this.open(), delay);
    };
  }
}

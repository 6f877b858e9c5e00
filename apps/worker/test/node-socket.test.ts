// The Node worker's socket: an all-zero masking key by default (ws then
// writes the caller's bytes as they are), a random one with randomMask;
// sendFrame reports when a frame is written out. Read off the raw TCP bytes.
import { createHash } from 'node:crypto';
import { createServer, type AddressInfo, type Socket } from 'node:net';
import { afterEach, expect, test } from 'vitest';
import { nodeSocket, sendFrame } from '../src/index.js';

const servers: Array<{ close(): void }> = [];
afterEach(() => {
  for (const s of servers.splice(0)) s.close();
});

/** A server that completes the WebSocket handshake and hands over the raw bytes that follow. */
async function rawServer(): Promise<{ url: string; bytes: () => Promise<Buffer> }> {
  let got = Buffer.alloc(0);
  let wake: (() => void) | null = null;
  const server = createServer((sock: Socket) => {
    let head = '';
    sock.on('data', (d) => {
      if (!head.includes('\r\n\r\n')) {
        head += d.toString('latin1');
        const key = /sec-websocket-key: (.+)\r\n/i.exec(head)?.[1];
        if (head.includes('\r\n\r\n') && key) {
          const accept = createHash('sha1').update(`${key}258EAFA5-E914-47DA-95CA-C5AB0DC85B11`).digest('base64');
          sock.write(`HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: ${accept}\r\n\r\n`);
        }
        return;
      }
      got = Buffer.concat([got, d]);
      wake?.();
    });
  });
  servers.push(server);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return {
    url: `ws://127.0.0.1:${(server.address() as AddressInfo).port}/ws`,
    bytes: async () => {
      for (let i = 0; i < 100 && got.length < 2; i++) await new Promise<void>((r) => ((wake = r), setTimeout(r, 20)));
      return got;
    },
  };
}

/** The frames in `b`: opcode, fin, mask key and unmasked payload of each. */
function frames(b: Buffer): Array<{ fin: boolean; opcode: number; key: Buffer; payload: Buffer }> {
  const out = [];
  let o = 0;
  while (o + 2 <= b.length) {
    const fin = (b[o]! & 0x80) !== 0;
    const opcode = b[o]! & 0x0f;
    let len = b[o + 1]! & 0x7f;
    let p = o + 2;
    if (len === 126) (len = b.readUInt16BE(p)), (p += 2);
    else if (len === 127) (len = Number(b.readBigUInt64BE(p))), (p += 8);
    const key = b.subarray(p, p + 4);
    const payload = Buffer.from(b.subarray(p + 4, p + 4 + len));
    for (let i = 0; i < payload.length; i++) payload[i]! ^= key[i % 4]!;
    out.push({ fin, opcode, key, payload });
    o = p + 4 + len;
  }
  return out;
}

test('by default the worker masks with an all-zero key, and sendFrame reports when the frame is written out', async () => {
  const srv = await rawServer();
  const Ws = nodeSocket(false);
  const ws = new Ws(srv.url);
  await new Promise((r) => ws.once('open', r));
  const frame = new Uint8Array(70_000).map((_, i) => i % 251);
  const done = new Promise<Error | undefined>((r) => sendFrame(ws as never, frame, r));
  expect(await done).toBeUndefined();
  let f = frames(await srv.bytes());
  for (let i = 0; i < 50 && (f.length < 1 || f[0]!.payload.length < frame.length); i++) await new Promise((r) => setTimeout(r, 20)), (f = frames(await srv.bytes()));
  expect(f).toHaveLength(1);
  expect([f[0]!.opcode, f[0]!.fin]).toEqual([2, true]);
  expect(f[0]!.key).toEqual(Buffer.alloc(4));
  expect(f[0]!.payload).toEqual(Buffer.from(frame));
  ws.terminate();
});

test('randomMask: frames carry random keys, as RFC 6455 asks of clients', async () => {
  const srv = await rawServer();
  const ws = new (nodeSocket(true))(srv.url);
  await new Promise((r) => ws.once('open', r));
  for (let i = 0; i < 4; i++) ws.send(new Uint8Array(64).fill(i));
  let f = frames(await srv.bytes());
  for (let i = 0; i < 50 && f.length < 4; i++) await new Promise((r) => setTimeout(r, 20)), (f = frames(await srv.bytes()));
  expect(f).toHaveLength(4);
  expect(f.some((x) => !x.key.equals(Buffer.alloc(4)))).toBe(true);
  f.forEach((x, i) => expect(x.payload).toEqual(Buffer.alloc(64, i)));
  ws.terminate();
});

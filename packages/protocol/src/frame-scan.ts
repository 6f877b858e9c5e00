/**
 * A structural check of a MessagePack frame before msgpackr sees it. msgpackr
 * is built for trusted data: it understands extensions (records that redefine
 * how later bytes decode, Error, RegExp, Set, Date, typed arrays, structured
 * clone references), recurses once per nesting level (a stack overflow on deep
 * input) and takes any key type. This walk admits only plain MessagePack —
 * nil, booleans, numbers, str, bin, arrays, maps with string keys — up to
 * `maxDepth` levels, with every length inside the frame and nothing after it.
 * It is iterative and skips str/bin payloads, so its cost is per token, not
 * per byte: a 4 MiB gradient frame is about twenty tokens.
 *
 * Returns undefined when the frame is acceptable, else the reason.
 */
export function scanFrame(bytes: Uint8Array, maxDepth: number): string | undefined {
  const end = bytes.length;
  let pos = 0;
  // Items still to read in each open container; the root "container" holds one
  // value. A map counts 2 per entry, so an even count means a key comes next.
  const remaining: number[] = [1];
  const isMap: boolean[] = [false];
  const u16 = (at: number) => (bytes[at] << 8) | bytes[at + 1];
  const u32 = (at: number) => bytes[at] * 0x1000000 + ((bytes[at + 1] << 16) | (bytes[at + 2] << 8) | bytes[at + 3]);

  while (remaining.length > 0) {
    const top = remaining.length - 1;
    if (remaining[top] === 0) {
      remaining.pop();
      isMap.pop();
      continue;
    }
    const keyExpected = isMap[top] && remaining[top] % 2 === 0;
    remaining[top]--;
    if (pos >= end) return end === 0 ? 'empty frame' : 'truncated frame';
    const at = pos;
    const token = bytes[pos++];
    if (keyExpected && !(token >= 0xa0 && token <= 0xbf) && token !== 0xd9 && token !== 0xda && token !== 0xdb) {
      return `map key at byte ${at} is not a string`;
    }
    let skip = 0; // payload bytes after the header
    let items = 0; // child values of a container
    let map = false;
    let header = 0; // length-field bytes after the token
    if (token <= 0x7f || token >= 0xe0) {
      // positive or negative fixint
    } else if (token <= 0x8f) {
      items = (token & 0x0f) * 2;
      map = true;
    } else if (token <= 0x9f) {
      items = token & 0x0f;
    } else if (token <= 0xbf) {
      skip = token & 0x1f;
    } else {
      switch (token) {
        case 0xc0: case 0xc2: case 0xc3: break; // nil, false, true
        case 0xcc: case 0xd0: skip = 1; break;
        case 0xcd: case 0xd1: skip = 2; break;
        case 0xca: case 0xce: case 0xd2: skip = 4; break;
        case 0xcb: case 0xcf: case 0xd3: skip = 8; break;
        case 0xc4: case 0xd9: header = 1; break; // bin 8, str 8
        case 0xc5: case 0xda: case 0xdc: case 0xde: header = 2; break;
        case 0xc6: case 0xdb: case 0xdd: case 0xdf: header = 4; break;
        default:
          // 0xc1 (never used) and the extension types 0xc7-0xc9, 0xd4-0xd8
          return `unsupported MessagePack type 0x${token.toString(16)} at byte ${at}`;
      }
      if (header > 0) {
        if (header > end - pos) return 'truncated frame';
        const n = header === 1 ? bytes[pos] : header === 2 ? u16(pos) : u32(pos);
        pos += header;
        if (token === 0xdc || token === 0xdd) items = n;
        else if (token === 0xde || token === 0xdf) {
          items = n * 2;
          map = true;
        } else skip = n;
      }
    }
    if (skip > end - pos) return 'truncated frame';
    pos += skip;
    if (items > 0) {
      // Every value takes at least one byte, so a count beyond the bytes left is a lie.
      if (items > end - pos) return `container at byte ${at} claims ${items} items in ${end - pos} bytes`;
      if (remaining.length > maxDepth) return `nested deeper than ${maxDepth}`;
      remaining.push(items);
      isMap.push(map);
    }
  }
  if (pos !== end) return `${end - pos} bytes after the message`;
  return undefined;
}

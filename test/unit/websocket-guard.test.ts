/** The frame counter that keeps --websocket-max-message on node:http: frame headers read as bytes pass, split anywhere. */
import { describe, expect, test } from "vitest";
import { closeFrame, FrameCounter } from "../../runtimes/_shared/websocket-guard.ts";

/** A client frame (masked) of `length` payload bytes. */
function frame(opcode: number, length: number, fin = true): Buffer {
  const head = length < 126 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | length])
    : length < 65536 ? Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 126, length >> 8, length & 0xff])
    : Buffer.concat([Buffer.from([(fin ? 0x80 : 0) | opcode, 0x80 | 127]), (() => {
      const b = Buffer.alloc(8);
      b.writeBigUInt64BE(BigInt(length));
      return b;
    })()]);
  return Buffer.concat([head, Buffer.from([1, 2, 3, 4]), Buffer.alloc(length, 7)]);
}

/** Feeds `bytes` to a counter in pieces of `size`; returns how many passed before it refused, or "all". */
function feed(counter: FrameCounter, bytes: Buffer, size: number): number | "all" {
  let passed = 0;
  for (let i = 0; i < bytes.length; i += size) {
    const piece = bytes.subarray(i, i + size);
    const n = counter.take(piece);
    if (n < 0) return passed + (-1 - n);
    passed += n;
  }
  return "all";
}

describe("FrameCounter", () => {
  for (const size of [1, 3, 7, 1000, 1 << 20]) {
    test(`messages within the limit pass, in pieces of ${size} bytes`, () => {
      const bytes = Buffer.concat([frame(0x1, 100), frame(0x9, 10), frame(0x2, 1000), frame(0x1, 70_000)]);
      expect(feed(new FrameCounter(70_000), bytes, size)).toBe("all");
    });

    test(`a message over the limit is stopped at its header, in pieces of ${size} bytes`, () => {
      const ok = frame(0x1, 50);
      const bytes = Buffer.concat([ok, frame(0x2, 1001), frame(0x1, 5)]);
      const passed = feed(new FrameCounter(1000), bytes, size);
      // Everything before the large frame's header may pass; nothing after its header's start.
      expect(passed).not.toBe("all");
      // (A header split across pieces has let its first bytes pass.)
      expect(passed as number).toBeLessThanOrEqual(ok.length + 13);
      expect(passed as number).toBeGreaterThanOrEqual(Math.min(ok.length, Math.floor(ok.length / size) * size));
    });
  }

  test("a fragmented message counts all its frames, and a control frame between them does not", () => {
    const fragments = Buffer.concat([frame(0x1, 400, false), frame(0x9, 100), frame(0x0, 400, false), frame(0x0, 300, true)]);
    expect(feed(new FrameCounter(1100), fragments, 64)).toBe("all");
    expect(feed(new FrameCounter(1099), fragments, 64)).not.toBe("all");
    // The count starts again after the final fragment.
    const two = Buffer.concat([frame(0x1, 600, false), frame(0x0, 400, true), frame(0x1, 1000)]);
    expect(feed(new FrameCounter(1000), two, 10)).toBe("all");
  });

  test("64-bit lengths are read whole", () => {
    expect(feed(new FrameCounter(16 * 1024 * 1024), frame(0x2, 70_000), 5)).toBe("all");
    const header = frame(0x2, 70_000).subarray(0, 14);
    expect(new FrameCounter(69_999).take(header)).toBe(-1);
  });

  test("a server's close frame carries its code and reason", () => {
    const close = closeFrame(1009, "Message too big");
    expect([close[0], close[1], close.readUInt16BE(2), close.subarray(4).toString()]).toEqual([0x88, 17, 1009, "Message too big"]);
  });
});

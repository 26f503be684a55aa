/**
 * IP addresses and CIDR ranges, for --forwarded-allow-ips and --proxy-allow-from.
 * No runtime module is used: addresses are parsed by hand into bytes.
 */

/** Parses an IPv4 or IPv6 address into 4 or 16 bytes; undefined when it is not one. */
export function parseIp(text: string): Uint8Array | undefined {
  let address = text;
  if (address.startsWith("[") && address.endsWith("]")) address = address.slice(1, -1);
  const zone = address.indexOf("%");
  if (zone >= 0) address = address.slice(0, zone);
  if (address.includes(":")) return parseIpv6(address);
  return parseIpv4(address);
}

function parseIpv4(text: string): Uint8Array | undefined {
  const parts = text.split(".");
  if (parts.length !== 4) return undefined;
  const bytes = new Uint8Array(4);
  for (let i = 0; i < 4; i++) {
    const part = parts[i]!;
    if (!/^\d{1,3}$/.test(part) || (part.length > 1 && part.startsWith("0"))) return undefined;
    const value = Number(part);
    if (value > 255) return undefined;
    bytes[i] = value;
  }
  return bytes;
}

function parseIpv6(text: string): Uint8Array | undefined {
  let head = text;
  let tail = "";
  const gap = text.indexOf("::");
  if (gap >= 0) {
    if (text.indexOf("::", gap + 1) >= 0) return undefined;
    head = text.slice(0, gap);
    tail = text.slice(gap + 2);
  }
  const groups = (part: string): number[] | undefined => {
    if (part === "") return [];
    const out: number[] = [];
    const pieces = part.split(":");
    for (let i = 0; i < pieces.length; i++) {
      const piece = pieces[i]!;
      if (i === pieces.length - 1 && piece.includes(".")) {
        const v4 = parseIpv4(piece);
        if (!v4) return undefined;
        out.push((v4[0]! << 8) | v4[1]!, (v4[2]! << 8) | v4[3]!);
      } else {
        if (!/^[0-9a-fA-F]{1,4}$/.test(piece)) return undefined;
        out.push(parseInt(piece, 16));
      }
    }
    return out;
  };
  const first = groups(head);
  const last = groups(tail);
  if (!first || !last) return undefined;
  const missing = 8 - first.length - last.length;
  if (gap >= 0 ? missing < 1 : missing !== 0) return undefined;
  const all = [...first, ...new Array<number>(missing).fill(0), ...last];
  const bytes = new Uint8Array(16);
  all.forEach((group, i) => {
    bytes[i * 2] = group >> 8;
    bytes[i * 2 + 1] = group & 0xff;
  });
  return bytes;
}

/** An IPv4-mapped IPv6 address (::ffff:a.b.c.d) as its IPv4 bytes; other addresses unchanged. */
function unmap(bytes: Uint8Array): Uint8Array {
  if (bytes.length !== 16) return bytes;
  for (let i = 0; i < 10; i++) if (bytes[i] !== 0) return bytes;
  if (bytes[10] !== 0xff || bytes[11] !== 0xff) return bytes;
  return bytes.slice(12);
}

interface Range {
  readonly bytes: Uint8Array;
  readonly bits: number;
}

/** A set of addresses and CIDR ranges; `*` matches every peer. */
export class IpSet {
  readonly any: boolean;
  readonly #ranges: Range[] = [];

  /** Throws a message naming the entry that is neither an address nor a CIDR range. */
  constructor(entries: readonly string[]) {
    this.any = entries.includes("*");
    for (const entry of entries) {
      // An empty entry (--forwarded-allow-ips '') trusts nobody.
      if (entry === "*" || entry.trim() === "") continue;
      const [address, prefix] = entry.split("/");
      const parsed = parseIp(address!.trim());
      if (!parsed) throw new Error(`"${entry}" is not an IP address or a CIDR range`);
      const bytes = unmap(parsed);
      const bits = prefix === undefined ? bytes.length * 8 : Number(prefix);
      if (!Number.isInteger(bits) || bits < 0 || bits > bytes.length * 8) {
        throw new Error(`"${entry}" has a prefix length that does not fit the address`);
      }
      this.#ranges.push({ bytes, bits });
    }
  }

  /** Whether the set holds no address at all. */
  get empty(): boolean {
    return !this.any && this.#ranges.length === 0;
  }

  /** Whether `address` (as a runtime reports a peer) is in the set. */
  has(address: string): boolean {
    if (this.any) return true;
    const parsed = parseIp(address);
    if (!parsed) return false;
    const bytes = unmap(parsed);
    for (const range of this.#ranges) {
      if (range.bytes.length !== bytes.length) continue;
      let bits = range.bits;
      let i = 0;
      for (; bits >= 8; bits -= 8, i++) if (range.bytes[i] !== bytes[i]) break;
      if (bits >= 8) continue;
      if (bits === 0 || ((range.bytes[i]! ^ bytes[i]!) & (0xff << (8 - bits)) & 0xff) === 0) return true;
    }
    return false;
  }
}

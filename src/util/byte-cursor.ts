// Sequential little-endian writes and bounds-checked reads over one buffer: the shared core of our
// fixed binary layouts (Raft WAL records, KV write commands). Each layout adds its own framing,
// string and length conventions on top.

/** Writes into a buffer allocated at its exact size (callers add up the sizes first). */
export class ByteWriter {
  constructor(
    readonly b: Buffer,
    public at = 0,
  ) {}

  u8(v: number): void {
    this.b[this.at++] = v;
  }
  u16(v: number): void {
    this.at = this.b.writeUInt16LE(v, this.at);
  }
  u32(v: number): void {
    this.at = this.b.writeUInt32LE(v, this.at);
  }
  f64(v: number): void {
    this.at = this.b.writeDoubleLE(v, this.at);
  }
  bytes(v: Uint8Array): void {
    this.b.set(v, this.at);
    this.at += v.byteLength;
  }
}

/** Reads `b` from `start` up to `end`; reading past `end` throws what `short()` makes. */
export class ByteReader {
  constructor(
    readonly b: Buffer,
    public at: number,
    readonly end: number,
    private readonly short: () => Error,
  ) {}

  private need(n: number): void {
    if (this.at + n > this.end) throw this.short();
  }
  u8(): number {
    this.need(1);
    return this.b[this.at++];
  }
  u16(): number {
    this.need(2);
    const v = this.b.readUInt16LE(this.at);
    this.at += 2;
    return v;
  }
  u32(): number {
    this.need(4);
    const v = this.b.readUInt32LE(this.at);
    this.at += 4;
    return v;
  }
  f64(): number {
    this.need(8);
    const v = this.b.readDoubleLE(this.at);
    this.at += 8;
    return v;
  }
  /** The next `n` bytes, as a view of `b`. */
  view(n: number): Buffer {
    this.need(n);
    const v = this.b.subarray(this.at, this.at + n);
    this.at += n;
    return v;
  }
}

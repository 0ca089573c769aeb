// The body of a backup of a sharded cluster: every shard's snapshot image, in shard order, each as a
// section of length-prefixed pieces: u32 LE length | bytes, …, then a u32 0 closing the section. Images
// are streamed as they are read, so their sizes are not known up front; the prefixes delimit them.

/** Sections of `images`, one after the other, as they are read. */
export async function* sections(images: ReadonlyArray<AsyncIterable<Uint8Array>>): AsyncGenerator<Uint8Array> {
  for (const image of images) {
    for await (const chunk of image) {
      if (chunk.byteLength === 0) continue;
      yield lengthOf(chunk.byteLength);
      yield chunk;
    }
    yield lengthOf(0);
  }
}

function lengthOf(n: number): Uint8Array {
  const b = Buffer.alloc(4);
  b.writeUInt32LE(n, 0);
  return b;
}

/** The pieces of each of `count` sections in `body` (views); throws if the body does not hold exactly that. */
export function readSections(body: Uint8Array, count: number): Uint8Array[][] {
  const b = Buffer.from(body.buffer, body.byteOffset, body.byteLength);
  const out: Uint8Array[][] = [];
  let at = 0;
  for (let s = 0; s < count; s++) {
    const pieces: Uint8Array[] = [];
    for (;;) {
      if (at + 4 > b.byteLength) throw new Error(`backup body ends inside section ${s} of ${count}`);
      const n = b.readUInt32LE(at);
      at += 4;
      if (n === 0) break;
      if (at + n > b.byteLength) throw new Error(`backup body ends inside section ${s} of ${count}`);
      pieces.push(b.subarray(at, at + n));
      at += n;
    }
    out.push(pieces);
  }
  if (at !== b.byteLength) throw new Error(`backup body has ${b.byteLength - at} bytes after its ${count} sections`);
  return out;
}

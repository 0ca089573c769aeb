// The body of a sharded backup: every shard's image as a section of length-prefixed pieces.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readSections, sections } from '../../src/kv/backup-sections.ts';

async function* pieces(...ps: string[]): AsyncGenerator<Uint8Array> {
  for (const p of ps) yield Buffer.from(p);
}

async function body(images: AsyncIterable<Uint8Array>[]): Promise<Buffer> {
  const out: Uint8Array[] = [];
  for await (const c of sections(images)) out.push(c);
  return Buffer.concat(out);
}

test('sections round-trip: each image read back as its pieces, empty images and empty pieces included', async () => {
  const b = await body([pieces('ab', 'cde'), pieces(), pieces('', 'f')]);
  const back = readSections(b, 3).map((s) => s.map((p) => Buffer.from(p).toString()));
  assert.deepStrictEqual(back, [['ab', 'cde'], [], ['f']]);
});

test('a body with fewer sections, a cut piece, or bytes after the last section is refused', async () => {
  const b = await body([pieces('ab'), pieces('cd')]);
  assert.throws(() => readSections(b, 3), /ends inside section 2 of 3/);
  assert.throws(() => readSections(b.subarray(0, b.length - 5), 2), /ends inside section 1 of 2/);
  assert.throws(() => readSections(Buffer.concat([b, Buffer.from([1])]), 2), /1 bytes after its 2 sections/);
});

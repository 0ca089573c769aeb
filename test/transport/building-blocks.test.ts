// Unit tests of the pieces under PeerTransport: framing, codec isolation, the bounded queue,
// the size estimate and address parsing.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { BoundedQueue } from '../../src/transport/bounded-queue.ts';
import { FrameCodec, FrameReader, FrameTooLargeError, OUT_OF_BAND_BYTES } from '../../src/transport/frame-codec.ts';
import { estimateSize, formatHostPort, parseHostPort } from '../../src/transport/index.ts';
import { appEnvelope } from './helpers.ts';

test('FrameReader reassembles frames split anywhere and splits frames sharing a chunk', () => {
  const codec = new FrameCodec();
  const values = [[appEnvelope(1)], { hello: 'x' }, [appEnvelope(2), appEnvelope(3, 'a', 'b', 5000)]];
  const stream = Buffer.concat(values.map((v) => codec.encodeFrame(v)));
  for (const chunkSize of [1, 3, 4, 7, 100, stream.length]) {
    const reader = new FrameReader(1 << 20);
    const got: unknown[] = [];
    for (let i = 0; i < stream.length; i += chunkSize) {
      reader.push(stream.subarray(i, i + chunkSize), (body) => got.push(codec.decodeBody(body)));
    }
    assert.equal(got.length, values.length, `chunk size ${chunkSize}`);
    assert.equal(reader.bufferedBytes, 0);
    assert.deepEqual((got[2] as Array<ReturnType<typeof appEnvelope>>).map((e) => e.msg.index), [2, 3]);
  }
});

test('FrameReader rejects an oversized length as soon as the header is complete', () => {
  const reader = new FrameReader(100);
  reader.push(Buffer.from([0, 0]), () => assert.fail('no frame'));
  assert.throws(() => reader.push(Buffer.from([0, 101]), () => assert.fail('no frame')), FrameTooLargeError);
});

test('record definitions never leak from one frame into the next', () => {
  const codec = new FrameCodec();
  const frame = codec.encodeFrame([{ x: 1, y: 2 }, { x: 3, y: 4 }]);
  assert.deepEqual(codec.decodeBody(frame.subarray(4)), [{ x: 1, y: 2 }, { x: 3, y: 4 }]);
  // 0x40 is record id 0 in the frame above; in a frame that defines no records it is the integer 64.
  assert.deepEqual(codec.decodeBody(Buffer.from([0x91, 0x40])), [64]);
});

test('decoded byte arrays are views by default and copies with copyBuffers', () => {
  const frame = new FrameCodec().encodeFrame([Buffer.alloc(10, 7)]);
  const body = frame.subarray(4);
  const view = (new FrameCodec().decodeBody(body) as Buffer[])[0];
  const copy = (new FrameCodec({ copyBuffers: true }).decodeBody(body) as Buffer[])[0];
  assert.equal(view.buffer, body.buffer);
  assert.notEqual(copy.buffer, body.buffer);
  assert.deepEqual([...copy], [...view]);
});

test('encodeFrameParts leaves large byte arrays out of the packed frame and writes the same bytes as encodeFrame', () => {
  const codec = new FrameCodec();
  const big = Buffer.alloc(OUT_OF_BAND_BYTES + 3);
  for (let i = 0; i < big.length; i += 997) big[i] = i & 0xff;
  const small = appEnvelope(1, 'a', 'b', 5000);
  const value = [small, { g: 'g0', m: { type: 3, entries: [{ index: 1, data: big }, { index: 2, data: Buffer.alloc(10, 1) }, { index: 3, data: big.subarray(1) }] } }];
  const parts = codec.encodeFrameParts(value);
  assert.ok(parts.some((p) => p.buffer === big.buffer && p.byteLength === big.byteLength), 'the array itself is one of the parts');
  assert.ok(parts.some((p) => p.buffer === big.buffer && p.byteLength === big.byteLength - 1));
  assert.ok(Buffer.concat(parts).equals(codec.encodeFrame(value)), 'byte for byte what encodeFrame writes');
  assert.equal((value[1] as { m: { entries: Array<{ data: Uint8Array }> } }).m.entries[0].data, big, "the caller's objects are unchanged");
  // Nothing large: one buffer, as encodeFrame.
  assert.deepEqual(codec.encodeFrameParts([small]), [codec.encodeFrame([small])]);
});

test('BoundedQueue drops the oldest to respect both bounds, and batches by bytes', () => {
  const q = new BoundedQueue<number>({ maxMessages: 3, maxBytes: 100 });
  assert.equal(q.push(1, 10), 0);
  assert.equal(q.push(2, 10), 0);
  assert.equal(q.push(3, 10), 0);
  assert.equal(q.push(4, 10), 1); // message bound: 1 evicted
  assert.equal(q.push(5, 75), 1); // byte bound: 20 + 75 fits only once 2 is gone... and 3+4+5 = 95
  assert.deepEqual([q.length, q.byteSize], [3, 95]);
  assert.equal(q.push(6, 500), 3); // bigger than the whole bound: accepted alone
  assert.deepEqual([q.length, q.byteSize], [1, 500]);
  assert.deepEqual(q.takeBatch(10, 10), [6], 'a batch holds at least one message');
  for (let i = 0; i < 3; i++) q.push(i, 30);
  assert.deepEqual(q.takeBatch(60, 10), [0, 1]);
  assert.deepEqual(q.takeBatch(60, 10), [2]);
  assert.equal(q.byteSize, 0);
});

test('BoundedQueue keeps FIFO order across ring growth and wrap-around', () => {
  const q = new BoundedQueue<number>({ maxMessages: 1000, maxBytes: 1e9 });
  let next = 0;
  let expect = 0;
  for (let round = 0; round < 50; round++) {
    for (let i = 0; i < 37; i++) q.push(next++, 1);
    for (const v of q.takeBatch(1e9, 23)) assert.equal(v, expect++);
  }
  for (const v of q.takeBatch(1e9, 1e9)) assert.equal(v, expect++);
  assert.equal(expect, next);
});

test('estimateSize tracks the encoded size of Raft envelopes', () => {
  const codec = new FrameCodec();
  for (const bytes of [0, 100, 10_000]) {
    const env = appEnvelope(1, 'a', 'b', bytes);
    const actual = codec.encodeFrame(env).length;
    const estimate = estimateSize(env);
    assert.ok(estimate >= actual * 0.8 && estimate <= actual * 2 + 200, `estimate ${estimate} vs actual ${actual}`);
  }
  const cyclic: Record<string, unknown> = {};
  cyclic.self = cyclic;
  assert.ok(Number.isFinite(estimateSize(cyclic)), 'depth-limited, so cycles terminate');
});

test('peer addresses parse host:port, including bracketed IPv6', () => {
  assert.deepEqual(parseHostPort('127.0.0.1:7001'), { host: '127.0.0.1', port: 7001 });
  assert.deepEqual(parseHostPort('[::1]:7001'), { host: '::1', port: 7001 });
  assert.equal(formatHostPort({ host: '::1', port: 7001 }), '[::1]:7001');
  for (const bad of ['7001', 'host:', 'host:0', 'host:70000', ':7001', 'host:7x']) {
    assert.throws(() => parseHostPort(bad), TypeError, bad);
  }
});

import { it } from 'node:test';
import assert from 'node:assert/strict';
import fc from 'fast-check';
import { Packr } from 'msgpackr';
import { decodeCommand, encodeCommand, type Envelope } from '../../src/kv/commands.ts';

const bytes = fc.uint8Array({ maxLength: 300 }).map((b) => new Uint8Array(b));
const command = fc.oneof(
  fc.record({ t: fc.constant('put' as const), key: bytes, value: bytes, ifMatch: fc.option(fc.nat(), { nil: undefined }), ifNoneMatch: fc.option(fc.constant(true), { nil: undefined }), expiresAt: fc.option(fc.nat(), { nil: undefined }), ttl: fc.option(fc.record({ ms: fc.nat(), now: fc.nat() }), { nil: undefined }) }, { requiredKeys: ['t', 'key', 'value'] }),
  fc.record({ t: fc.constant('clock' as const), now: fc.double({ min: 0, max: 1e13, noNaN: true }) }),
  fc.record({ t: fc.constant('evict' as const), keys: fc.array(fc.record({ key: bytes, revision: fc.nat() }), { maxLength: 4 }) }),
  fc.record({
    t: fc.constant('txn' as const),
    compare: fc.array(
      fc.oneof(
        fc.record({ key: bytes, target: fc.constant('value' as const), result: fc.constantFrom('equal' as const, 'not-equal' as const, 'greater' as const, 'less' as const), operand: bytes }),
        fc.record({ key: bytes, target: fc.constantFrom('version' as const, 'create' as const, 'mod' as const), result: fc.constantFrom('equal' as const, 'less' as const), operand: fc.nat() }),
      ),
      { maxLength: 3 },
    ),
    success: fc.array(fc.oneof(fc.record({ op: fc.constantFrom('get' as const, 'delete' as const), key: bytes }), fc.record({ op: fc.constant('put' as const), key: bytes, value: bytes })), { maxLength: 3 }),
    failure: fc.array(fc.record({ op: fc.constant('get' as const), key: bytes }), { maxLength: 2 }),
  }),
  fc.record({ t: fc.constant('del' as const), key: bytes, ifMatch: fc.option(fc.nat(), { nil: undefined }) }, { requiredKeys: ['t', 'key'] }),
  fc.record({
    t: fc.constant('batch' as const),
    ops: fc.array(
      fc.oneof(
        fc.record({ t: fc.constant('put' as const), key: bytes, value: bytes, ttl: fc.option(fc.record({ ms: fc.nat(), now: fc.double({ min: 0, max: 1e13, noNaN: true }) }), { nil: undefined }) }, { requiredKeys: ['t', 'key', 'value'] }),
        fc.record({ t: fc.constant('del' as const), key: bytes }),
      ),
      { maxLength: 5 },
    ),
  }),
);
const envelope = fc.record({ n: fc.string({ maxLength: 40 }), s: fc.nat(), c: command });

/** Optional fields absent rather than undefined, as the decoder produces them. */
const clean = (e: Envelope) => JSON.parse(JSON.stringify(e, (_k, v: unknown) => (v instanceof Uint8Array ? [...v] : v)));

it('every command round-trips through the binary encoding', () => {
  fc.assert(
    fc.property(envelope, (env) => {
      assert.deepEqual(clean(decodeCommand(encodeCommand(env as Envelope))), clean(env as Envelope));
    }),
  );
});

it('entries written by Concord 0.1 (msgpack maps) still decode', () => {
  const old = new Packr({ useRecords: false, moreTypes: false }).pack({ n: 'n1', s: 7, c: { t: 'put', key: Buffer.from('k'), value: Buffer.from('v') } });
  const env = decodeCommand(old);
  assert.deepEqual([env.n, env.s, env.c.t, Buffer.from((env.c as { key: Uint8Array }).key).toString()], ['n1', 7, 'put', 'k']);
});

it('a truncated, extended or unknown command is refused, never half-read', () => {
  const good = encodeCommand({ n: 'n1', s: 1, c: { t: 'put', key: Buffer.from('key'), value: Buffer.from('value') } });
  for (let cut = 2; cut < good.byteLength; cut++) assert.throws(() => decodeCommand(good.subarray(0, cut)), /ends early|unknown/);
  assert.throws(() => decodeCommand(Buffer.concat([good, Buffer.from([0])])), /trailing bytes/);
  const unknown = Uint8Array.from(good);
  unknown[1] = 9;
  assert.throws(() => decodeCommand(unknown), /version 9/);
});

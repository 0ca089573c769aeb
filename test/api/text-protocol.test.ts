// Seed 002's text protocol over real TCP, against the in-memory KvService: the commands and their answers,
// every byte round-tripping through quoting, pipelining, and the limits that keep a client from costing the
// node unbounded memory or a connection forever.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import net from 'node:net';
import fc from 'fast-check';
import { pino } from 'pino';
import { startTextServer, type TextServer } from '../../src/api/text/server.ts';
import { encodeWord, splitWords } from '../../src/api/text/tokens.ts';
import { ConcordError } from '../../src/util/errors.ts';
import { MemoryKv } from './memory-kv.ts';

/** A client that sends `input` (then half-closes, like `nc -N`) and collects everything until the server ends. */
function session(addr: string, input: string | Buffer, opts: { end?: boolean } = {}): Promise<string> {
  const [host, port] = [addr.slice(0, addr.lastIndexOf(':')), Number(addr.slice(addr.lastIndexOf(':') + 1))];
  return new Promise((resolve, reject) => {
    const s = net.connect(port, host);
    const out: Buffer[] = [];
    s.on('data', (d) => out.push(d));
    // A server that closes on a client still sending may reset the connection; what it said before counts.
    s.on('error', (e: NodeJS.ErrnoException) => (e.code === 'ECONNRESET' || e.code === 'EPIPE' ? undefined : reject(e)));
    s.on('close', () => resolve(Buffer.concat(out).toString('latin1')));
    s.write(input);
    if (opts.end !== false) s.end();
  });
}

describe('text protocol: commands', () => {
  const kv = new MemoryKv();
  let server: TextServer;
  before(async () => {
    server = await startTextServer({ kv, host: '127.0.0.1', port: 0, logger: pino({ level: 'silent' }) });
  });
  after(() => server.close());

  it('seed 002’s session: PUT, READ, DELETE, BATCHPUT, RANGE (and READRANGE), each answered in order', async () => {
    const answer = await session(server.address, [
      'PUT nickname codejitsu',
      'READ nickname',
      'BATCHPUT k1 v1 k2 v2 k3 v3',
      'RANGE k1 k2',
      'READRANGE k2 k9',
      'DELETE k1',
      'DELETE k1',
      'READ k1',
      'read nickname',
    ].join('\n') + '\n');
    assert.equal(answer, ['OK', 'codejitsu', 'OK', 'k1 v1', 'k2 v2', 'END', 'k2 v2', 'k3 v3', 'END', 'OK', 'NOT_FOUND', 'NOT_FOUND', 'codejitsu', ''].join('\n'));
  });

  it('mistakes get ERR with the reason, and the session goes on; blank lines and CRLF are fine', async () => {
    const answer = await session(server.address, 'FLY away\r\nPUT onlykey\r\nPUT "unclosed v\r\n\r\nBATCHPUT a\r\nPUT a b c\r\nREAD nickname\r\n');
    const lines = answer.split('\n');
    assert.match(lines[0], /^ERR bad-request: unknown command "FLY"; commands: PUT key value/);
    assert.match(lines[1], /^ERR bad-request: PUT takes a key and a value \(got 1 word; quote a word that holds spaces/);
    assert.match(lines[2], /^ERR bad-request: a quoted word has no closing "/);
    assert.match(lines[3], /^ERR bad-request: BATCHPUT takes key value pairs/);
    assert.match(lines[4], /^ERR bad-request: PUT takes a key and a value \(got 3 words/);
    assert.equal(lines[5], 'codejitsu');
  });

  it('errors of the service come through with the catalogue’s code', async () => {
    kv.failWith = new ConcordError('unavailable', 'no leader', 1);
    try {
      assert.equal(await session(server.address, 'READ x\n'), 'ERR unavailable: no leader\n');
    } finally {
      kv.failWith = undefined;
    }
  });

  it('values with spaces, newlines, quotes and binary bytes round-trip; answers never look like answer words', async () => {
    const answer = await session(server.address, 'PUT greeting "hello world"\nREAD greeting\nPUT bin "\\x00\\xff\\n\\"\\\\"\nREAD bin\nPUT word NOT_FOUND\nREAD word\nPUT e ""\nREAD e\n');
    assert.equal(answer, 'OK\n"hello world"\nOK\n"\\x00\\xff\\n\\"\\\\"\nOK\n"NOT_FOUND"\nOK\n""\n');
  });

  it('100,000 commands in one pipelined session are all answered, in order', async () => {
    const n = 100_000;
    let input = '';
    for (let i = 0; i < n; i++) input += i % 2 === 0 ? `PUT p${i} v${i}\n` : `READ p${i - 1}\n`;
    const lines = (await session(server.address, input)).split('\n');
    assert.equal(lines.length, n + 1);
    for (let i = 0; i < n; i++) if (lines[i] !== (i % 2 === 0 ? 'OK' : `v${i - 1}`)) assert.fail(`answer ${i}: ${lines[i]}`);
  });
});

describe('text protocol: words', () => {
  it('every byte string survives encodeWord then splitWords, alone and next to others', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { minLength: 1, maxLength: 4 }), (values) => {
        const line = Buffer.from(values.map((v) => encodeWord(v)).join(' '), 'latin1');
        const words = splitWords(Buffer.from(values.map((v) => encodeWord(v)).join(' '), 'utf8'));
        assert.equal(words.length, values.length, line.toString('latin1'));
        words.forEach((w, i) => assert.deepEqual(new Uint8Array(w), values[i]));
      }),
      { numRuns: 2000 },
    );
  });
});

describe('text protocol: limits', () => {
  const kv = new MemoryKv();
  let server: TextServer;
  /** When the server logged closing an idle connection. */
  const idleCloses: number[] = [];
  const logger = pino({ level: 'debug' }, { write: (line: string) => void (line.includes('text connection idle') && idleCloses.push(Date.now())) });
  before(async () => {
    server = await startTextServer({ kv, host: '127.0.0.1', port: 0, logger, limits: { maxLineBytes: 64 * 1024, idleTimeoutMs: 1000, maxPendingBytes: 256 * 1024 } });
  });
  after(() => server.close());

  it('a line over the limit (10 MiB) is answered ERR too-large and the connection closed; nothing is written', async () => {
    const calls = kv.calls.length;
    const answer = await session(server.address, Buffer.concat([Buffer.from('PUT big '), Buffer.alloc(10 * 1024 * 1024, 0x61), Buffer.from('\nREAD big\n')]));
    assert.match(answer, /^ERR too-large: a line may hold at most 65536 bytes/);
    assert.equal(answer.split('\n').length, 2, 'nothing answered after it');
    assert.equal(kv.calls.length, calls, 'the service saw nothing');
  });

  it('binary junk gets ERR lines, not a crash; the server serves the next client', async () => {
    const junk = Buffer.from(Array.from({ length: 4096 }, (_, i) => (i * 131 + 7) % 256));
    const answer = await session(server.address, junk);
    for (const line of answer.split('\n').slice(0, -1)) assert.match(line, /^(ERR |OK$)/);
    assert.equal(await session(server.address, 'PUT a b\nREAD a\n'), 'OK\nb\n');
  });

  // Bounded: a server that never closed would otherwise leave the session waiting for good.
  it('an idle connection is closed after the idle timeout', { timeout: 10_000 }, async () => {
    const started = Date.now();
    assert.equal(await session(server.address, 'PUT idle 1\n', { end: false }), 'OK\n');
    assert.ok(Date.now() - started >= 950, 'closed by the server after the idle timeout');
  });

  it('a last line without its newline before the client half-closes is a command too', async () => {
    assert.equal(await session(server.address, 'PUT last "no newline"\nREAD last'), 'OK\n"no newline"\n');
    assert.equal(await session(server.address, 'READ last\r'), '"no newline"\n');
  });

  it('a client that never reads its answers is cut off after the idle timeout, and the server holds a bounded amount for it', async () => {
    await session(server.address, 'PUT r "' + 'x'.repeat(60_000) + '"\n');
    const [host, port] = [server.address.split(':')[0], Number(server.address.split(':')[1])];
    const s = net.connect(port, host);
    s.pause(); // never reads
    const big = Buffer.from('READ r\n'.repeat(20_000)); // ~1.2 GB of answers if all were produced
    let closed = false;
    let received = 0;
    s.on('close', () => (closed = true));
    s.on('error', () => {});
    s.on('data', (d: Buffer) => (received += d.length));
    const reads = () => kv.calls.filter((c) => c.method === 'get').length;
    const before = reads();
    idleCloses.length = 0;
    s.write(big);
    const wrote = Date.now();
    while (idleCloses.length === 0 && Date.now() - wrote < 3000) await new Promise((r) => setTimeout(r, 20));
    // Once the kernel's buffers are full nothing moves: closed one timeout (1 s) later, not two.
    assert.ok(idleCloses.length === 1 && idleCloses[0] - wrote < 1600, `closed ${idleCloses[0] - wrote} ms after the client stopped reading`);
    const produced = reads() - before;
    assert.ok(produced < 200, `it stopped producing answers nobody read (${produced} of 20,000)`);
    s.resume(); // now read what was sent before the cut, and see the end
    const started = Date.now();
    while (!closed && Date.now() - started < 5_000) await new Promise((r) => setTimeout(r, 20));
    assert.ok(closed, 'the server closed the connection');
    assert.equal(reads() - before, produced, 'nothing more was produced after the cut');
    assert.ok(received < 16 * 1024 * 1024, `what reached the client was bounded (${received} bytes)`);
  });
});

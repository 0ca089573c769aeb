// The gRPC cells of the comparison: h2load's output read right, request bodies on the wire as each
// system's .proto says, answers without a message counted as errors, and the report's gRPC rows.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { fullAnswers, grpcFrame, logPercentiles, parseH2load } from '../../bench/grpc-load.ts';
import { decodeRead, grpcRequest } from '../../bench/grpc-kv.ts';
import { medianRuns, renderMarkdown, targets, type CellResult, type Op, type Results, type System } from '../../bench/report.ts';
import type { WrkResult } from '../../bench/wrk.ts';

// h2load 1.52's summary, as it printed it for a run of 10 requests.
const H2LOAD_OUT = `starting benchmark...
spawning thread #0: 2 total client(s). 10 total requests
Application protocol: h2c

finished in 27.26ms, 366.91 req/s, 18.20KB/s
requests: 10 total, 10 started, 10 done, 9 succeeded, 1 failed, 1 errored, 0 timeout
status codes: 9 2xx, 0 3xx, 0 4xx, 0 5xx
traffic: 508B (508) total, 100B (100) headers (space savings 85.92%), 63B (63) data
                     min         max         mean         sd        +/- sd
time for request:     1.03ms     14.47ms      4.82ms      5.00ms    80.00%
`;

it('reads h2load\'s summary: 2xx count, failures, DATA bytes, rate over its own duration', () => {
  const r = parseH2load(H2LOAD_OUT);
  assert.equal(r.succeeded, 9);
  assert.equal(r.requests, 10);
  assert.equal(r.errors, 1);
  assert.equal(r.socketErrors.read, 1);
  assert.equal(r.dataBytes, 63);
  assert.equal(Math.round(r.rps), Math.round(9 / 0.02726));
});

it('percentiles are exact nearest-rank over the log, failed streams left out', () => {
  const lines = Array.from({ length: 1000 }, (_, i) => `1796612646251154\t200\t${(i + 1) * 1000}`);
  lines.push('1796612646251154\t-1\t999999999', '');
  const p = logPercentiles(lines.join('\n'));
  assert.equal(p.count, 1000);
  assert.equal(p.p50ms, 500);
  assert.equal(p.p99ms, 990);
  assert.equal(p.p999ms, 999);
  assert.equal(p.maxms, 1000);
});

it('frames a message as gRPC does: flag 0, big-endian length, the bytes', () => {
  assert.deepEqual([...grpcFrame(Uint8Array.of(8, 7))], [0, 0, 0, 0, 2, 8, 7]);
  // Nine answers of 2-byte messages are 63 bytes framed; one error answer without a message leaves 56.
  assert.equal(fullAnswers({ dataBytes: 63 }, 2), 9);
  assert.equal(fullAnswers({ dataBytes: 56 }, 2), 8);
});

const key = [...Buffer.from('key-0')];
const value = Buffer.alloc(100, 'v');

it('etcd\'s requests carry etcd 3.4\'s field numbers (key 1, value 2, serializable 7: false for a linearizable range)', () => {
  const range = grpcRequest('etcd', 'grpc-lin-get', value);
  assert.equal(range.path, '/etcdserverpb.KV/Range');
  assert.deepEqual([...range.message], [0x0a, 5, ...key, 0x38, 0]);
  const put = grpcRequest('etcd', 'grpc-put', value);
  assert.equal(put.path, '/etcdserverpb.KV/Put');
  assert.deepEqual([...put.message], [0x0a, 5, ...key, 0x12, 100, ...value]);
  // RangeResponse{header: {revision: 9}, kvs: [{key, create_revision 2, mod_revision 9, version 7, value "ab"}]}
  const kv = [0x0a, 5, ...key, 0x10, 2, 0x18, 9, 0x20, 7, 0x2a, 2, 0x61, 0x62];
  const answer = Buffer.from([0x0a, 2, 0x18, 9, 0x12, kv.length, ...kv]);
  assert.deepEqual(decodeRead('etcd', answer), { value: Buffer.from('ab'), version: 7n });
  assert.equal(decodeRead('etcd', Buffer.from([0x0a, 2, 0x18, 9])), undefined);
});

it('Concord\'s requests are concord.v1 KV.Get (default consistency) and KV.Put', () => {
  const get = grpcRequest('concord', 'grpc-lin-get', value);
  assert.equal(get.path, '/concord.v1.KV/Get');
  assert.deepEqual([...get.message], [0x0a, 5, ...key]);
  const put = grpcRequest('concord', 'grpc-put', value);
  assert.equal(put.path, '/concord.v1.KV/Put');
  assert.deepEqual([...put.message], [0x0a, 5, ...key, 0x12, 100, ...value]);
  // GetResponse{kv: {key, value "ab", create_revision 2, mod_revision 9, version 7}}
  const kv = [0x0a, 5, ...key, 0x12, 2, 0x61, 0x62, 0x18, 2, 0x20, 9, 0x28, 7];
  assert.deepEqual(decodeRead('concord', Buffer.from([0x0a, kv.length, ...kv])), { value: Buffer.from('ab'), version: 7n });
});

const run = (system: System, op: Op, round: number, rps: number, p99ms = 10): CellResult => ({
  nodes: 3, op, conns: 64, system, target: system, round, cpuPct: 100, load1: 1,
  r: { rps, p50ms: 1, p99ms, p999ms: 1, requests: rps * 10, errors: 0, non2xx: 0, socketErrors: {} } as unknown as WrkResult,
});

function results(runs: CellResult[]): Results {
  return {
    date: '2026-12-07T00:00:00Z', full: false,
    env: { concord: '', etcd: '', node: '', wrk: '', h2load: '1.52.0', cpus: '', kernel: '', memGiB: 1, loadStart: 0, loadEnd: 0 },
    params: { seconds: 5, warmup: 2, conns: [64], keys: 10, valueBytes: 100, singleConns: 64, memoryKeys: 0, rounds: 2 },
    cells: medianRuns(runs), runs, startup: { concord: [], etcdMs: [] }, memory: [], notes: [], durationSec: 1,
  };
}

it('the gRPC targets pair Concord gRPC with etcd gRPC by round, and the table reads it beside Concord HTTP', () => {
  const runs = [1, 2].flatMap((round) => [
    run('etcd', 'grpc-lin-get', round, 5000), run('concord', 'grpc-lin-get', round, 11_000),
    run('etcd', 'grpc-put', round, 4000), run('concord', 'grpc-put', round, 5000),
    run('concord', 'lin-get', round, 22_000, 20),
  ]);
  const t = targets(results(runs));
  assert.equal(t.find((x) => x.what.startsWith('gRPC linearizable get'))?.pass, true); // 2.2x
  assert.equal(t.find((x) => x.what.startsWith('gRPC put'))?.pass, false); // 1.25x
  const md = renderMarkdown(results(runs), 'x.svg');
  assert.match(md, /\| gRPC linearizable get \| 64 \| \*\*Concord\*\* \| concord \| 11,000 \| 11,000 · 11,000 \| 1\.00 \| 10\.00 \| 1\.00 \| 0 \| 100% \| \*\*2\.20×\*\* \| 1\.00× \| 0\.50× \| 0\.50× \|/);
  assert.match(md, /- \*\*gRPC:\*\* both systems' own gRPC APIs, driven by h2load 1\.52\.0/);
  // The HTTP table keeps only the HTTP cells.
  assert.doesNotMatch(md.slice(md.indexOf('## 3 nodes'), md.indexOf('## gRPC')), /gRPC/);
  // A run without gRPC cells has neither the gRPC targets nor the section.
  const httpOnly = results(runs.filter((r) => r.op === 'lin-get'));
  assert.equal(targets(httpOnly).some((x) => x.what.includes('gRPC')), false);
  assert.doesNotMatch(renderMarkdown(httpOnly, 'x.svg'), /## gRPC/);
});

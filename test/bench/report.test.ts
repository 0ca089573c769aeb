// The comparison report's target verdicts: ratios paired by round, falling back to the median runs.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { medianRuns, pairedRatios, targets, type CellResult, type Op, type Results, type System } from '../../bench/report.ts';
import type { WrkResult } from '../../bench/wrk.ts';

const run = (system: System, op: Op, round: number, rps: number, p99ms = 10): CellResult => ({
  nodes: 3, op, conns: 64, system, target: system, round, cpuPct: 100, load1: 1,
  r: { rps, p50ms: 1, p99ms, p999ms: 1, requests: rps * 10, errors: 0, non2xx: 0, socketErrors: {} } as unknown as WrkResult,
});

function results(runs: CellResult[], keepRuns = true): Results {
  return {
    date: '2026-12-04T00:00:00Z', full: true,
    env: { concord: '', etcd: '', node: '', wrk: '', cpus: '', kernel: '', memGiB: 1, loadStart: 0, loadEnd: 0 },
    params: { seconds: 10, warmup: 2, conns: [64], keys: 10, valueBytes: 100, singleConns: 16, memoryKeys: 0, rounds: 3 },
    cells: medianRuns(runs), ...(keepRuns ? { runs } : {}), startup: { concord: [], etcdMs: [] }, memory: [], notes: [], durationSec: 1,
  };
}

// Serializable get: round 3's follower run was slow while the ceiling's was not (the 17:47 case).
const serRuns = [
  run('concord', 'ser-get', 1, 20_000), run('ceiling', 'ser-get', 1, 22_000),
  run('concord', 'ser-get', 2, 30_000), run('ceiling', 'ser-get', 2, 31_000),
  run('concord', 'ser-get', 3, 19_000), run('ceiling', 'ser-get', 3, 31_500),
];

it('pairs each Concord run with the reference run of the same round and takes the median ratio', () => {
  const paired = pairedRatios(results(serRuns), 'ser-get', 64, 'ceiling', (r) => r.rps)!;
  assert.deepEqual(paired.each.map((x) => +x.toFixed(3)), [0.909, 0.968, 0.603]);
  assert.equal(+paired.median.toFixed(3), 0.909);
});

it('the verdict reads the paired ratio, and shows the ratio of the median runs beside it', () => {
  const ser = targets(results(serRuns)).find((t) => t.what.startsWith('serializable'))!;
  assert.equal(ser.pass, true, 'paired 0.91x passes; the medians alone (20,000 / 31,000 = 0.65x) would not');
  assert.match(ser.measured, /\*\*0\.91×\*\* paired by round \(0\.91, 0\.97, 0\.60\); median runs 0\.65×/);
});

it('without kept runs (results from before rounds) the verdict falls back to the median runs', () => {
  const ser = targets(results(serRuns, false)).find((t) => t.what.startsWith('serializable'))!;
  assert.equal(ser.pass, false);
  assert.doesNotMatch(ser.measured, /paired/);
});

it('p99 targets pair the same way (lower is better)', () => {
  const putRuns = [1, 2, 3].flatMap((round) => [run('concord', 'put', round, 10_000, 10 + round), run('etcd', 'put', round, 5_000, 30)]);
  const p99 = targets(results(putRuns)).find((t) => t.what.startsWith('put p99'))!;
  assert.equal(p99.pass, true); // 12/30 = 0.40
  const put = targets(results(putRuns)).find((t) => t.what.startsWith('put throughput'))!;
  assert.equal(put.pass, true); // 2.00x in every round
});

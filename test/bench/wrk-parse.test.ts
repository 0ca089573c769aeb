// Reading wrk's output: the WRK_JSON line our scripts print, wrk's own text when there is none, and an output
// that gives no request rate at all, which must count as an error rather than turn a cell's sums into NaN.
import { it } from 'node:test';
import assert from 'node:assert/strict';
import { parseWrk } from '../../bench/wrk.ts';

it('reads the WRK_JSON line', () => {
  const j = { requests: 5000, duration_us: 10_000_000, p50_us: 4000, p90_us: 8000, p99_us: 20_000, p999_us: 30_000, max_us: 40_000, status_errors: 2, connect_errors: 0, read_errors: 1, write_errors: 0, timeouts: 0 };
  const r = parseWrk(`Running 10s test\nWRK_JSON ${JSON.stringify(j)}\n`);
  assert.deepEqual([r.rps, r.p99ms, r.errors, r.unreadable], [500, 20, 3, undefined]);
});

it("falls back on wrk's own text", () => {
  const r = parseWrk('  Latency Distribution\n     50%    2.00ms\n     90%    5.00ms\n     99%   10.00ms\n  1000 requests in 10.00s, 1.00MB read\nRequests/sec:    100.00\n');
  assert.deepEqual([r.rps, r.requests, r.p99ms, r.errors], [100, 1000, 10, 0]);
});

it('an output with no request rate is one error, with its end kept for the report', () => {
  const r = parseWrk('unable to connect to 127.0.0.1:1 Connection refused\n');
  assert.equal(r.errors, 1);
  assert.match(r.unreadable ?? '', /Connection refused/);
});

// The comparison report's gRPC part: the method's paragraph on it and the table of the gRPC cells, each
// Concord row with its ratio to etcd's gRPC row and to Concord's own HTTP row of the same operation.
import type { CellResult, Op, Results, System } from './report.ts';

/** The HTTP cell each gRPC cell is read beside. */
const HTTP_TWIN: Partial<Record<Op, Op>> = { 'grpc-put': 'put', 'grpc-lin-get': 'lin-get' };
const LABEL: Partial<Record<Op, string>> = { 'grpc-put': 'gRPC put', 'grpc-lin-get': 'gRPC linearizable get' };

export const isGrpcOp = (op: Op): boolean => HTTP_TWIN[op] !== undefined;

const ops = (v: number) => Math.round(v).toLocaleString('en');
const f2 = (v: number) => (Number.isFinite(v) ? v.toFixed(2) : '–');
const ratio = (v: number) => (Number.isFinite(v) ? `${v.toFixed(2)}×` : '–');

function cell(res: Results, op: Op, conns: number, system: System): CellResult | undefined {
  return res.cells.find((c) => c.nodes === 3 && c.op === op && c.conns === conns && c.system === system);
}

export function grpcMethod(res: Results): string | undefined {
  if (!res.cells.some((c) => isGrpcOp(c.op))) return undefined;
  return `- **gRPC:** both systems' own gRPC APIs, driven by h2load ${res.env.h2load ?? ''} (Debian's nghttp2-client; HTTP/2 without TLS), 2 threads, the same connection counts with one call in flight on each (\`-c N -m 1\`: the HTTP cells' concurrency), to the leader, with the same warm-up, duration and rounds. Concord: \`concord.v1.KV/Put\` and \`KV/Get\` (default consistency: linearizable) on each node's \`--grpc-addr\`; etcd: \`etcdserverpb.KV/Put\` and \`KV/Range\` (\`serializable\` false: linearizable) on its client port. h2load sends one body, so every request names the same preloaded key \`key-0\` with the same ${res.params.valueBytes}-byte value (the HTTP cells spread over ${res.params.keys.toLocaleString('en')} keys). Bodies encoded by protobuf-es (Concord's generated code) and by @grpc/proto-loader on bench/proto/etcd-kv.proto. h2load counts HTTP 200s and a gRPC error is one too, so before each measured run one call of the same message through grpc-js must succeed, and after it the key is read back through grpc-js (the value; for puts, a version grown by at least the puts counted) and the DATA received must hold a full answer for every request counted; any shortfall is counted in "errors". Percentiles are exact, from h2load's per-request log (send to end of response). "gRPC/HTTP" is each system's gRPC median run over its own HTTP median run of the same operation and connections.`;
}

export function grpcTable(res: Results): string[] {
  const grpcCells = res.cells.filter((c) => c.nodes === 3 && isGrpcOp(c.op));
  if (grpcCells.length === 0) return [];
  const L = [
    '## gRPC, 3 nodes',
    '',
    '| cell | conns | system | sent to | ops/s | every run, ops/s | p50 ms | p99 ms | p99.9 ms | errors | server CPU | Concord/etcd gRPC ops/s | Concord/etcd gRPC p99 | gRPC/HTTP ops/s | gRPC/HTTP p99 |',
    '| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ];
  for (const conns of [...new Set(grpcCells.map((c) => c.conns))]) {
    for (const op of [...new Set(grpcCells.map((c) => c.op))]) {
      const e = cell(res, op, conns, 'etcd');
      for (const c of [e, cell(res, op, conns, 'concord')]) {
        if (!c) continue;
        const r = c.r;
        const isC = c.system === 'concord';
        const http = cell(res, HTTP_TWIN[op]!, conns, c.system);
        const errs = r.errors === 0 ? '0' : `**${r.errors}** (${((100 * r.errors) / Math.max(1, r.requests)).toFixed(2)}%)`;
        const every = (c.allRps ?? [r.rps]).map(ops).join(' · ');
        L.push(`| ${LABEL[op]} | ${conns} | ${isC ? '**Concord**' : 'etcd'} | ${c.target} | ${ops(r.rps)} | ${every} | ${f2(r.p50ms)} | ${f2(r.p99ms)} | ${f2(r.p999ms)} | ${errs} | ${c.cpuPct.toFixed(0)}% | ${
          isC && e ? `**${ratio(r.rps / e.r.rps)}**` : ''} | ${isC && e ? ratio(r.p99ms / e.r.p99ms) : ''} | ${http ? ratio(r.rps / http.r.rps) : ''} | ${http ? ratio(r.p99ms / http.r.p99ms) : ''} |`);
      }
    }
  }
  L.push('');
  return L;
}

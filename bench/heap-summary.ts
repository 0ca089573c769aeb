// npx tsx bench/heap-summary.ts FILE.heapsnapshot: where a node's live heap is, from a V8 heap snapshot (take
// one with `kill -USR2 PID` on a node started with NODE_OPTIONS=--heapsnapshot-signal=SIGUSR2). Prints self
// sizes by type and constructor (top 25), then what holds the Uint8Arrays (holder's constructor and the
// property or element edge, top 15): in a Concord node, `Object.data` are in-memory Raft log entries and
// `Object.key` / `Object.value` read-cache records. Large snapshots need node --max-old-space-size.
import fs from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[]]; edge_fields: string[]; edge_types: [string[]] } };
  nodes: number[];
  edges: number[];
  strings: string[];
}

const file = process.argv[2];
if (!file) {
  console.error('usage: npx tsx bench/heap-summary.ts FILE.heapsnapshot');
  process.exit(2);
}
const snap = JSON.parse(fs.readFileSync(file, 'utf8')) as Snapshot;
const m = snap.snapshot.meta;
const F = m.node_fields.length;
const E = m.edge_fields.length;
const [ti, ni, si, eci] = ['type', 'name', 'self_size', 'edge_count'].map((f) => m.node_fields.indexOf(f));
const [eti, eni, eto] = ['type', 'name_or_index', 'to_node'].map((f) => m.edge_fields.indexOf(f));
const type = (i: number) => m.node_types[0][snap.nodes[i * F + ti]];
const name = (i: number) => snap.strings[snap.nodes[i * F + ni]];
const label = (i: number) => (['object', 'native', 'closure'].includes(type(i)) ? `${type(i)}:${name(i)}` : type(i));
const top = <T>(map: Map<string, T>, by: (v: T) => number, n: number) => [...map].sort((a, b) => by(b[1]) - by(a[1])).slice(0, n);

const bySize = new Map<string, { count: number; bytes: number }>();
const holders = new Map<string, number>();
let total = 0;
let e = 0;
for (let i = 0; i < snap.nodes.length / F; i++) {
  const self = snap.nodes[i * F + si];
  const s = bySize.get(label(i)) ?? { count: 0, bytes: 0 };
  s.count++;
  s.bytes += self;
  total += self;
  bySize.set(label(i), s);
  for (let k = 0; k < snap.nodes[i * F + eci]; k++, e += E) {
    const to = snap.edges[e + eto] / F;
    const et = m.edge_types[0][snap.edges[e + eti]];
    if (type(to) !== 'object' || name(to) !== 'Uint8Array' || et === 'weak' || et === 'shortcut') continue;
    const edge = et === 'element' || et === 'hidden' ? `[${et}]` : snap.strings[snap.edges[e + eni]];
    const key = `${type(i) === 'object' ? name(i) : type(i)}.${edge}`;
    holders.set(key, (holders.get(key) ?? 0) + 1);
  }
}
const mib = (b: number) => (b / 2 ** 20).toFixed(1).padStart(7);
console.log(`live: ${mib(total)} MiB in ${snap.nodes.length / F} objects\n\nself size by type (MiB, count):`);
for (const [k, v] of top(bySize, (v) => v.bytes, 25)) console.log(`${mib(v.bytes)} ${String(v.count).padStart(9)}  ${k.slice(0, 90)}`);
console.log('\nUint8Arrays by holder (count):');
for (const [k, v] of top(holders, (v) => v, 15)) console.log(`${String(v).padStart(9)}  ${k}`);

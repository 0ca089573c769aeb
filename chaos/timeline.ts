// A chaos run drawn as one self-contained HTML page: the verdict and explanations on top, then an SVG
// with time along x, one lane per client, each operation a bar from invocation to completion, and the
// injected faults as shaded bands across all lanes. No scripts, no external assets; details on hover
// (SVG <title>). Plain rects only, so a run of ~20,000 operations stays a few megabytes.

import type { CheckResult } from './checker.ts';
import { describeOp, type FaultEvent, type History, type Operation } from './history.ts';

const LEFT = 96; // lane labels
const RIGHT = 24;
const LANE = 16;
const BAR = 11;
const LABEL_ROW = 14; // one row of fault labels
const AXIS = 22;

const KIND_COLOUR: Record<Operation['kind'], string> = { put: '#3b78c4', get: '#3a9a5b', delete: '#d08a1e', cas: '#8a55c2' };

export function escapeXml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}

export function renderTimeline(history: History, result: CheckResult): string {
  const ops = history.operations;
  const faults = history.faults;

  // ---- time scale
  let tMin = 0;
  let tMax = 1;
  for (const op of ops) {
    tMin = Math.min(tMin, op.invokeMs);
    tMax = Math.max(tMax, op.completeMs ?? op.invokeMs);
  }
  for (const f of faults) {
    tMin = Math.min(tMin, f.startMs);
    tMax = Math.max(tMax, f.endMs ?? f.startMs);
  }
  const tEnd = tMax + Math.max(1, (tMax - tMin) * 0.01); // where unknown ops and open faults end
  const durations = ops.filter((o) => o.completeMs !== undefined).map((o) => o.completeMs! - o.invokeMs).sort((a, b) => a - b);
  const median = Math.max(0.5, durations[durations.length >> 1] ?? 10);
  const range = tEnd - tMin;
  // The median op about 10 px wide, within 800..30,000 px overall.
  const plotW = Math.round(Math.min(30_000, Math.max(800, (range * 10) / median)));
  const x = (t: number): number => LEFT + ((t - tMin) / range) * plotW;

  // ---- lanes and fault label rows
  const clients = [...new Set(ops.map((o) => o.client))].sort((a, b) => a - b);
  const lane = new Map(clients.map((c, i) => [c, i]));
  const faultRow = layoutRows(faults.map((f) => [x(f.startMs), Math.max(x(f.endMs ?? tEnd), x(f.startMs) + 8 * (f.kind.length + 1))]));
  const labelRows = faults.length ? Math.max(...faultRow) + 1 : 0;
  const lanesTop = AXIS + labelRows * LABEL_ROW + 4;
  const height = lanesTop + clients.length * LANE + 18; // room below the lanes for culprit labels
  const width = LEFT + plotW + RIGHT;

  const badKeys = new Set(result.keys.filter((k) => k.verdict === 'violation').map((k) => k.key));
  const culprits = new Set(result.keys.map((k) => k.failedOpId).filter((id): id is number => id !== undefined));
  const kinds = new Map(faults.map((f) => [f.kind, 0]));
  [...kinds.keys()].forEach((k, i) => kinds.set(k, i));

  const svg: string[] = [];
  svg.push(`<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}" viewBox="0 0 ${width} ${height}" font-family="system-ui, sans-serif" font-size="11">`);
  svg.push('<defs>');
  for (const [kind, colour] of Object.entries(KIND_COLOUR)) {
    svg.push(`<pattern id="hatch-${kind}" width="6" height="6" patternUnits="userSpaceOnUse" patternTransform="rotate(45)">` +
      `<rect width="6" height="6" fill="${colour}" fill-opacity="0.18"/><line x1="0" y1="0" x2="0" y2="6" stroke="${colour}" stroke-width="2.5"/></pattern>`);
  }
  svg.push('</defs>');

  // lane stripes and labels
  clients.forEach((c, i) => {
    const y = lanesTop + i * LANE;
    if (i % 2 === 0) svg.push(`<rect class="lane" x="${LEFT}" y="${y}" width="${plotW}" height="${LANE}"/>`);
    svg.push(`<text class="lane-label" x="${LEFT - 6}" y="${y + LANE - 4}" text-anchor="end">client ${c}</text>`);
  });

  // time axis
  const step = tickStep(range, plotW);
  svg.push(`<line class="axis" x1="${LEFT}" y1="${AXIS - 4}" x2="${LEFT + plotW}" y2="${AXIS - 4}"/>`);
  for (let t = Math.ceil(tMin / step) * step; t <= tEnd; t += step) {
    const tx = f1(x(t));
    svg.push(`<line class="tick" x1="${tx}" y1="${AXIS - 8}" x2="${tx}" y2="${height}"/>`);
    svg.push(`<text class="tick-label" x="${tx}" y="${AXIS - 10}" text-anchor="middle">${fmtTime(t, step)}</text>`);
  }

  // fault bands, behind the ops
  faults.forEach((f, i) => {
    const x0 = x(f.startMs);
    const x1 = Math.max(x(f.endMs ?? tEnd), x0 + 1);
    const labelY = AXIS + faultRow[i] * LABEL_ROW + 10;
    const span = faultSpan(f);
    svg.push(`<g class="fault f${kinds.get(f.kind)! % 6}"><title>${escapeXml(`${f.kind} ${span}: ${f.description}`)}</title>` +
      `<rect class="fault-band" x="${f1(x0)}" y="${AXIS}" width="${f1(x1 - x0)}" height="${height - AXIS}"/>` +
      `<text class="fault-label" x="${f1(x0 + 2)}" y="${labelY}">${escapeXml(f.kind)}</text></g>`);
  });

  // operations. An op with unknown outcome is a hatched bar until its client moved on (its next
  // invocation), then a thin hatched tail to the end: it may take effect any time.
  const movedOn = new Map<Operation, number>();
  const byClient = new Map<number, Operation[]>();
  for (const op of ops) byClient.set(op.client, [...(byClient.get(op.client) ?? []), op]);
  for (const list of byClient.values()) {
    list.sort((a, b) => a.invokeMs - b.invokeMs);
    list.forEach((op, i) => op.completeMs === undefined && movedOn.set(op, list[i + 1]?.invokeMs ?? tEnd));
  }
  const marks: string[] = [];
  for (const op of ops) {
    const x0 = x(op.invokeMs);
    const x1 = Math.max(x(op.completeMs ?? movedOn.get(op)!), x0 + 1);
    const y = lanesTop + lane.get(op.client)! * LANE + (LANE - BAR) / 2;
    if (op.completeMs === undefined && x1 < x(tEnd)) {
      svg.push(`<rect class="tail k-${op.kind}" x="${f1(x1)}" y="${y + BAR - 3}" width="${f1(x(tEnd) - x1)}" height="3"/>`);
    }
    const cls = ['op', `k-${op.kind}`, `o-${op.outcome}`];
    if (badKeys.has(op.key)) cls.push('viol');
    const culprit = culprits.has(op.id) && badKeys.has(op.key);
    if (culprit) cls.push('culprit');
    const tip = `${describeOp(op)}${badKeys.has(op.key) ? `\nkey ${JSON.stringify(op.key)} is not linearizable` : ''}${culprit ? '\n→ this operation could not be linearized' : ''}`;
    svg.push(`<rect${culprit ? ` id="op-${op.id}"` : ''} class="${cls.join(' ')}" x="${f1(x0)}" y="${y}" width="${f1(x1 - x0)}" height="${BAR}"><title>${escapeXml(tip)}</title></rect>`);
    if (culprit) {
      // a marker across all lanes, so the op can be found in a wide timeline
      marks.push(`<g class="culprit-mark"><title>${escapeXml(tip)}</title><line x1="${f1(x1)}" y1="${AXIS}" x2="${f1(x1)}" y2="${height}"/>` +
        `<text x="${f1(x1 + 3)}" y="${height - 3}">op ${op.id} (${escapeXml(JSON.stringify(op.key))})</text></g>`);
    }
  }
  svg.push(...marks);
  svg.push('</svg>');

  return page(history, result, svg.join('\n'));
}

function page(history: History, result: CheckResult, svg: string): string {
  const ops = history.operations;
  const count = (o: Operation['outcome']): number => ops.filter((op) => op.outcome === o).length;
  const verdictClass = result.verdict === 'linearizable' ? 'good' : result.verdict === 'unknown' ? 'unsure' : 'bad';
  const keyRows = [...result.keys]
    .sort((a, b) => rank(a.verdict) - rank(b.verdict) || a.key.localeCompare(b.key))
    .map((k) => {
      const link = k.failedOpId !== undefined && k.verdict === 'violation' ? ` <a href="#op-${k.failedOpId}">(show op ${k.failedOpId})</a>` : '';
      return `<tr class="${k.verdict}"><td>${escapeXml(k.key)}</td><td class="verdict">${escapeXml(k.verdict)}</td><td>${k.ops}</td>` +
        `<td>${k.elapsedMs} ms</td><td>${k.explanation ? escapeXml(k.explanation) : ''}${link}</td></tr>`;
    });
  const faultRows = history.faults.map((f) =>
    `<tr><td>${escapeXml(f.kind)}</td><td>${faultSpan(f)}</td><td>${escapeXml(f.description)}</td></tr>`);
  const legend = (Object.keys(KIND_COLOUR) as Operation['kind'][]).map((k) =>
    `<span><svg width="22" height="11"><rect class="swatch op k-${k} o-ok" width="22" height="11"/></svg> ${k}</span>`).join('') +
    `<span><svg width="40" height="11"><rect class="swatch op k-put o-unknown" width="22" height="11"/><rect class="tail k-put" x="22" y="8" width="18" height="3"/></svg> outcome unknown: until the client moved on, then a tail to the end (it may take effect any time)</span>` +
    `<span><svg width="22" height="11"><rect class="swatch op k-put o-fail" width="22" height="11"/></svg> failed / refused</span>` +
    `<span><svg width="22" height="11"><rect class="swatch op k-get o-ok viol" width="22" height="11"/></svg> key with a violation</span>` +
    `<span><svg width="22" height="11"><rect class="swatch op k-get o-ok viol culprit" width="22" height="11"/></svg> op that could not be linearized</span>`;

  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Chaos run ${escapeXml(history.startedAt)}: ${escapeXml(result.verdict)}</title>
<style>
body { font-family: system-ui, sans-serif; margin: 16px; color: #222; }
h1 { font-size: 20px; margin: 0 0 6px; }
h1 .good { color: #1d7a3a; } h1 .bad { color: #c0262d; } h1 .unsure { color: #b36b00; }
.meta { color: #555; margin-bottom: 10px; }
table { border-collapse: collapse; margin: 6px 0 14px; font-size: 13px; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: left; vertical-align: top; }
tr.violation td.verdict { color: #c0262d; font-weight: bold; } tr.unknown td.verdict { color: #b36b00; font-weight: bold; }
tr.ok td.verdict { color: #1d7a3a; }
.legend span { margin-right: 16px; white-space: nowrap; font-size: 13px; } .legend svg { vertical-align: middle; }
.scroll { overflow-x: auto; border: 1px solid #ddd; }
.lane { fill: #f4f5f7; } .lane-label { fill: #444; }
.axis { stroke: #888; } .tick { stroke: #000; stroke-opacity: 0.07; } .tick-label { fill: #666; }
.op { stroke: none; }
.k-put.o-ok { fill: ${KIND_COLOUR.put}; } .k-get.o-ok { fill: ${KIND_COLOUR.get}; }
.k-delete.o-ok { fill: ${KIND_COLOUR.delete}; } .k-cas.o-ok { fill: ${KIND_COLOUR.cas}; }
.k-put.o-unknown { fill: url(#hatch-put); } .k-get.o-unknown { fill: url(#hatch-get); }
.k-delete.o-unknown { fill: url(#hatch-delete); } .k-cas.o-unknown { fill: url(#hatch-cas); }
.o-fail { fill: #b9bcc2; }
.op.viol { stroke: #e0242b; stroke-width: 1.5; }
.op.culprit { fill: #e0242b; stroke: #7a0d11; stroke-width: 2; }
.op:hover { stroke: #000; stroke-width: 1.5; }
.tail { fill-opacity: 0.5; } .tail.k-put { fill: ${KIND_COLOUR.put}; } .tail.k-get { fill: ${KIND_COLOUR.get}; }
.tail.k-delete { fill: ${KIND_COLOUR.delete}; } .tail.k-cas { fill: ${KIND_COLOUR.cas}; }
.culprit-mark line { stroke: #e0242b; stroke-width: 1; stroke-dasharray: 4 3; } .culprit-mark text { fill: #c0262d; font-weight: 600; }
.fault-band { fill-opacity: 0.13; } .fault-label { font-weight: 600; }
.f0 .fault-band, .f0 .fault-label { fill: #d9480f; } .f1 .fault-band, .f1 .fault-label { fill: #5f3dc4; }
.f2 .fault-band, .f2 .fault-label { fill: #0b7285; } .f3 .fault-band, .f3 .fault-label { fill: #a61e4d; }
.f4 .fault-band, .f4 .fault-label { fill: #5c940d; } .f5 .fault-band, .f5 .fault-label { fill: #862e9c; }
</style>
</head>
<body>
<h1>Verdict: <span class="${verdictClass}">${escapeXml(result.verdict)}</span></h1>
<div class="meta">Run started ${escapeXml(history.startedAt)} · nodes ${escapeXml(history.nodes.join(', '))} · ${ops.length} operations
(${count('ok')} ok, ${count('fail')} failed, ${count('unknown')} unknown) · ${result.opsChecked} checked · ${history.faults.length} faults</div>
<table>
<tr><th>key</th><th>verdict</th><th>ops</th><th>check</th><th>explanation</th></tr>
${keyRows.join('\n')}
</table>
${faultRows.length ? `<table>\n<tr><th>fault</th><th>when</th><th>what</th></tr>\n${faultRows.join('\n')}\n</table>` : '<p>No faults were injected.</p>'}
<div class="legend">${legend}</div>
<p class="meta">Time runs left to right; one lane per client; hover over a bar for the operation, over a band for the fault.</p>
<div class="scroll">
${svg}
</div>
</body>
</html>
`;
}

/** Greedy interval layering: the row each interval goes in so that intervals in a row don't overlap. */
function layoutRows(intervals: [number, number][]): number[] {
  const rowEnds: number[] = [];
  const order = intervals.map((_, i) => i).sort((a, b) => intervals[a][0] - intervals[b][0]);
  const rows = new Array<number>(intervals.length);
  for (const i of order) {
    const [start, end] = intervals[i];
    let r = rowEnds.findIndex((e) => e <= start);
    if (r === -1) r = rowEnds.push(0) - 1;
    rowEnds[r] = end + 4;
    rows[i] = r;
  }
  return rows;
}

/** A 1-2-5 step in ms giving ticks at least ~90 px apart. */
function tickStep(rangeMs: number, widthPx: number): number {
  const target = (rangeMs * 90) / widthPx;
  for (let p = 1; ; p *= 10) for (const m of [1, 2, 5]) if (m * p >= target) return m * p;
}

function fmtTime(t: number, step: number): string {
  return step >= 1000 ? `${(t / 1000).toFixed(step % 1000 === 0 ? 0 : 1)} s` : `${t} ms`;
}

function faultSpan(f: FaultEvent): string {
  return f.endMs === undefined ? `${fmtMs(f.startMs)} ms to the end` : `${fmtMs(f.startMs)}–${fmtMs(f.endMs)} ms`;
}

function fmtMs(ms: number): string {
  return Number.isInteger(ms) ? String(ms) : ms.toFixed(1);
}

function f1(v: number): string {
  return (Math.round(v * 10) / 10).toString();
}

function rank(v: 'ok' | 'violation' | 'unknown'): number {
  return v === 'violation' ? 0 : v === 'unknown' ? 1 : 2;
}


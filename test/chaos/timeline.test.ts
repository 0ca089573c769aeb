// The timeline page: one bar per operation, one band per fault, everything escaped, the verdict on top.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { checkHistory } from '../../chaos/checker.ts';
import type { History, Operation } from '../../chaos/history.ts';
import { escapeXml, renderTimeline } from '../../chaos/timeline.ts';

function history(operations: Operation[], faults: History['faults'] = []): History {
  return { operations, faults, startedAt: '2024-06-01T12:00:00.000Z', nodes: ['n1', 'n2', 'n3'] };
}

const count = (s: string, re: RegExp): number => s.match(re)?.length ?? 0;

/** The op bars: rects whose class list starts with "op " (the legend's swatches start with "swatch"). */
const opRects = (html: string): string[] => html.match(/<rect[^>]* class="op [^"]*"[^>]*>/g) ?? [];

describe('timeline', () => {
  const ops: Operation[] = [
    { id: 1, client: 1, node: 'n1', key: 'k', kind: 'put', value: '<&">', invokeMs: 0, completeMs: 10, outcome: 'ok' },
    { id: 2, client: 2, node: 'n2', key: 'k', kind: 'get', result: '<&">', invokeMs: 20, completeMs: 30, outcome: 'ok' },
    { id: 3, client: 3, node: 'n3', key: 'k', kind: 'put', value: 'late', invokeMs: 25, outcome: 'unknown' },
    { id: 4, client: 1, node: 'n1', key: 'k', kind: 'cas', expected: 'x', value: 'y', invokeMs: 40, completeMs: 45, outcome: 'fail' },
    { id: 5, client: 2, node: 'n2', key: "o'k", kind: 'delete', result: null, invokeMs: 50, completeMs: 60, outcome: 'ok' },
  ];
  const faults = [
    { startMs: 15, endMs: 35, kind: 'partition', description: 'n1 | n2 n3 <majority>' },
    { startMs: 30, kind: 'kill', description: 'kill -9 n2 & never restarted' },
  ];

  it('draws one bar per op and one band per fault, and states the verdict', () => {
    const h = history(ops, faults);
    const html = renderTimeline(h, checkHistory(h.operations));
    assert.match(html, /^<!DOCTYPE html>/);
    assert.match(html, /<svg[^>]*xmlns="http:\/\/www.w3.org\/2000\/svg"/);
    assert.equal(count(html, /<svg[^>]*width="\d+" height="\d+" viewBox/g), 1);
    assert.equal(opRects(html).length, ops.length);
    assert.equal(count(html, /class="fault-band"/g), faults.length);
    assert.match(html, /Verdict: <span class="good">linearizable<\/span>/);
    assert.match(html, /class="op k-put o-unknown"/, 'the timed-out put is drawn hatched');
    assert.match(html, /class="op k-cas o-fail"/, 'the failed cas is drawn grey');
    assert.match(html, /<text class="lane-label"[^>]*>client 3<\/text>/);
    assert.ok(!/<script/i.test(html), 'no scripts');
    assert.ok(!/(href|src)="https?:/i.test(html), 'no external assets');
  });

  it('escapes every value, key and description', () => {
    const h = history(ops, faults);
    const html = renderTimeline(h, checkHistory(h.operations));
    assert.ok(!html.includes('<&">'), 'the raw value never appears');
    assert.ok(html.includes(escapeXml(JSON.stringify('<&">'))), 'the escaped value does');
    assert.ok(html.includes('&lt;majority&gt;') && html.includes('&amp; never restarted'));
    assert.ok(html.includes('o&#39;k'));
    // Outside tags, no bare "<" that does not start a tag, and no "&" that does not start an entity.
    const text = html.replace(/<\/?[a-zA-Z!][^>]*>/g, '');
    assert.ok(!/</.test(text.replace(/<style>[\s\S]*?<\/style>/, '')), 'a stray "<" in text');
    assert.ok(!/&(?!(amp|lt|gt|quot|#39);)/.test(text), 'a stray "&" in text');
  });

  it('highlights the keys with a violation, the op that could not be placed, and lists the explanation', () => {
    const bad: Operation[] = [
      { id: 1, client: 1, key: 'a', kind: 'put', value: 'a1', invokeMs: 0, completeMs: 10, outcome: 'ok' },
      { id: 2, client: 1, key: 'a', kind: 'put', value: 'a2', invokeMs: 20, completeMs: 30, outcome: 'ok' },
      { id: 3, client: 2, key: 'a', kind: 'get', result: 'a1', invokeMs: 40, completeMs: 50, outcome: 'ok' },
      { id: 4, client: 2, key: 'b', kind: 'get', result: null, invokeMs: 40, completeMs: 50, outcome: 'ok' },
    ];
    const h = history(bad);
    const result = checkHistory(bad);
    const html = renderTimeline(h, result);
    assert.match(html, /Verdict: <span class="bad">not linearizable<\/span>/);
    assert.equal(opRects(html).filter((r) => / viol/.test(r)).length, 3, 'the three ops on key a');
    const culprit = opRects(html).filter((r) => /culprit/.test(r));
    assert.equal(culprit.length, 1);
    assert.match(culprit[0], /id="op-3"/);
    assert.match(html, /href="#op-3"/);
    assert.ok(html.includes(escapeXml(result.keys[0].explanation!)), 'the explanation is listed');
    assert.match(html, /<td>b<\/td><td class="verdict">ok<\/td>/);
  });

  it('says when the verdict is unknown', () => {
    const puts: Operation[] = Array.from({ length: 26 }, (_, i) => ({ id: i + 1, client: i, key: 'k', kind: 'put' as const, value: `v${i}`, invokeMs: 0, completeMs: 1000, outcome: 'ok' as const }));
    puts.push({ id: 100, client: 99, key: 'k', kind: 'get', result: 'v0', invokeMs: 2000, completeMs: 2010, outcome: 'ok' });
    puts.push({ id: 101, client: 99, key: 'k', kind: 'get', result: 'v1', invokeMs: 3000, completeMs: 3010, outcome: 'ok' });
    const html = renderTimeline(history(puts), checkHistory(puts, { timeoutMs: 20 }));
    assert.match(html, /Verdict: <span class="unsure">unknown<\/span>/);
    assert.match(html, /gave up/);
  });

  it('stays plain for a large run: 20,000 ops, one rect each', () => {
    const big: Operation[] = [];
    for (let i = 0; i < 20_000; i++) {
      const op: Operation = { id: i, client: i % 10, key: `k${i % 5}`, kind: 'put', value: `v${i}`, invokeMs: Math.floor(i / 10) * 12, outcome: 'ok' };
      if (i % 7 === 0) op.outcome = 'unknown';
      else op.completeMs = op.invokeMs + 10;
      big.push(op);
    }
    const result = { verdict: 'linearizable' as const, keys: [], opsChecked: big.length };
    const html = renderTimeline(history(big, [{ startMs: 100, endMs: 5000, kind: 'pause', description: 'SIGSTOP n1' }]), result);
    assert.equal(opRects(html).length, 20_000);
    assert.ok(html.length < 12_000_000, `${html.length} bytes`);
  });
});

// The simulator's fault catalogue: packet loss, a slow member, a flapping member, partitions, a paused
// member, hostile packets. Where Lifeguard should prevent false deaths, the same scenario is also run
// with the test-only switch that turns Lifeguard off, to show what it buys.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { encodePacket } from '../../src/membership/codec.ts';
import { defaultConfig } from '../../src/membership/config.ts';
import { seededRng } from '../../src/util/prng.ts';
import { startCluster, type ObservedEvent, type Simulation } from './sim.ts';

const lifeguard = defaultConfig();
const classic = defaultConfig({ testingOnlyDisableLifeguard: true });

const count = (events: ObservedEvent[], type: string, pred: (e: ObservedEvent) => boolean = () => true): number =>
  events.filter((e) => e.type === type && pred(e)).length;

/** Run `ms` of virtual time and return the events it produced. */
function during(sim: Simulation, ms: number): ObservedEvent[] {
  const from = sim.log.length;
  sim.run(ms);
  return sim.log.slice(from);
}

describe('packet loss', () => {
  it('10% loss for 10 minutes: suspicions are refuted, nobody is declared dead', (t) => {
    for (let seed = 1; seed <= 4; seed++) {
      const { sim } = startCluster(5, seed, lifeguard, { loss: 0.1, minDelayMs: 1, maxDelayMs: 5 });
      const events = during(sim, 600_000);
      const refutations = sim.ids().reduce((n, id) => n + sim.swim(id).stats().refutations, 0);
      t.diagnostic(`seed ${seed}: ${count(events, 'suspect')} suspect events, ${refutations} refutations, ${count(events, 'dead')} deaths`);
      assert.equal(count(events, 'dead'), 0, `seed ${seed}`);
      assert.ok(sim.converged());
    }
  });
});

describe('a slow member (its packets handled late) and Lifeguard', () => {
  const run = (config: typeof lifeguard, delayMs: number) => {
    let healthySuspected = 0;
    let healthyDead = 0;
    for (let seed = 1; seed <= 2; seed++) {
      const { sim } = startCluster(5, seed, config);
      sim.slow('n3', delayMs);
      const events = during(sim, 120_000);
      healthySuspected += count(events, 'suspect', (e) => e.member !== 'n3');
      healthyDead += count(events, 'dead', (e) => e.member !== 'n3');
    }
    return { healthySuspected, healthyDead };
  };

  it('1 s behind: with Lifeguard the slow member stops accusing healthy ones', (t) => {
    const on = run(lifeguard, 1000);
    const off = run(classic, 1000);
    t.diagnostic(`healthy members suspected in 4 min: ${on.healthySuspected} with Lifeguard, ${off.healthySuspected} without`);
    assert.equal(on.healthyDead, 0);
    assert.ok(on.healthySuspected * 20 < off.healthySuspected);
  });

  it('2.5 s behind: without Lifeguard healthy members are declared dead; with it, none', (t) => {
    const on = run(lifeguard, 2500);
    const off = run(classic, 2500);
    t.diagnostic(`healthy members declared dead in 4 min: ${on.healthyDead} with Lifeguard, ${off.healthyDead} without`);
    assert.equal(on.healthyDead, 0);
    assert.ok(off.healthyDead > 0);
  });
});

describe('a flapping member', () => {
  /** n3 loses its network for 0.5–1 s, then has it for 1–2 s, at random, for 2 minutes. */
  const flap = (sim: Simulation, seed: number): number => {
    const rng = seededRng(seed + 77);
    const others = ['n1', 'n2', 'n4', 'n5'];
    let t = sim.now;
    const end = sim.now + 120_000;
    while (t < end) {
      const down = 500 + rng.next() * 500;
      sim.at(t, () => others.forEach((o) => sim.cut('n3', o)));
      sim.at(t + down, () => others.forEach((o) => sim.heal('n3', o)));
      t += down + 1000 + rng.next() * 1000;
    }
    return t - sim.now;
  };

  it('is suspected and refutes, but nobody dies; without Lifeguard members die', (t) => {
    const deaths = { on: 0, off: 0 };
    let suspected = 0;
    for (let seed = 1; seed <= 10; seed++) {
      for (const [mode, config] of [['on', lifeguard], ['off', classic]] as const) {
        const { sim } = startCluster(5, seed, config);
        const events = during(sim, flap(sim, seed) + 1);
        deaths[mode] += count(events, 'dead');
        if (mode === 'on') {
          suspected += count(events, 'suspect', (e) => e.member === 'n3');
          assert.notEqual(sim.runUntil(() => sim.converged(), 30_000), undefined, `seed ${seed}: converges once stable`);
        }
      }
    }
    t.diagnostic(`20 min of flapping: n3 suspected ${suspected} times; deaths ${deaths.on} with Lifeguard, ${deaths.off} without`);
    assert.ok(suspected > 0);
    assert.equal(deaths.on, 0);
    assert.ok(deaths.off > 0);
  });
});

describe('partitions', () => {
  it('a pair that cannot reach each other directly stays alive through indirect probes', () => {
    const { sim } = startCluster(5, 8, lifeguard);
    sim.cut('n1', 'n2');
    const events = during(sim, 300_000);
    assert.equal(count(events, 'suspect'), 0);
    assert.equal(count(events, 'dead'), 0);
    const relayed = sim.swim('n1').stats().indirectProbes;
    assert.ok(relayed > 0, 'n1 reached n2 through others');
  });

  it('a 2|3 split: each side declares the other dead; after healing, everyone is alive everywhere', (t) => {
    const { sim } = startCluster(5, 9, lifeguard);
    for (const a of ['n1', 'n2']) for (const b of ['n3', 'n4', 'n5']) sim.cut(a, b);
    sim.run(20_000);
    assert.ok(sim.stateOf('n3', 'n1') === 'dead' && sim.stateOf('n1', 'n3') === 'dead');
    sim.healAll();
    const start = sim.now;
    const at = sim.runUntil(() => sim.converged(), 120_000);
    assert.notEqual(at, undefined);
    t.diagnostic(`reconverged ${((at as number) - start).toFixed(0)} ms after healing (push-pull every 30 s reaches dead members too)`);
  });
});

describe('a paused member (SIGSTOP for 2 s)', () => {
  it('is suspected, refutes when it resumes, and is never declared dead', (t) => {
    let suspectedRuns = 0;
    for (let seed = 1; seed <= 100; seed++) {
      const { sim } = startCluster(5, seed, lifeguard);
      sim.run(3000 + ((seed * 211) % 3000));
      const victim = `n${1 + (seed % 5)}`;
      const before = sim.swim(victim).incarnation;
      sim.pause(victim, 2000);
      const events = during(sim, 20_000);
      assert.equal(count(events, 'dead'), 0, `seed ${seed}`);
      assert.ok(sim.converged(), `seed ${seed}`);
      if (count(events, 'suspect', (e) => e.member === victim) > 0) {
        suspectedRuns++;
        assert.ok(sim.swim(victim).incarnation > before, `seed ${seed}: it refuted`);
      }
    }
    t.diagnostic(`suspected in ${suspectedRuns} of 100 runs, dead in none`);
    assert.ok(suspectedRuns > 90);
  });
});

describe('hostile packets', () => {
  it('malformed, foreign and corrupted packets are dropped and counted; the cluster carries on', () => {
    const { sim } = startCluster(3, 5, lifeguard);
    const good = encodePacket({ from: { id: 'n2', address: 'n2' }, messages: [{ type: 'dead', id: 'n1', incarnation: 99, from: 'n2' }] }, 'concord');
    const corrupted = Buffer.from(good);
    corrupted[corrupted.length - 1] ^= 0x10;
    const foreign = encodePacket({ from: { id: 'x', address: 'x' }, messages: [{ type: 'dead', id: 'n1', incarnation: 99, from: 'x' }] }, 'another-cluster');
    const garbage = Buffer.from('GET / HTTP/1.1\r\n\r\n');
    for (const bytes of [corrupted, foreign, garbage, Buffer.alloc(0)]) sim.inject('n1', 'evil:1', bytes);
    sim.run(5000);
    assert.equal(sim.counters.rejected, 4);
    assert.equal(sim.swim('n1').incarnation, 0, 'none of them reached the state machine');
    assert.ok(sim.converged());
  });
});

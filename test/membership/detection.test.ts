// Join, failure detection and graceful leave in the simulator, against the bound DEFAULT_CONFIG
// documents: a killed member of a 5-member cluster is dead on every member in under 5 s.

import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { defaultConfig } from '../../src/membership/config.ts';
import { percentile, Simulation, startCluster } from './sim.ts';

const config = defaultConfig();

describe('join', () => {
  it('five members joining through one seed all know each other within 1 s', (t) => {
    const times: number[] = [];
    for (let seed = 1; seed <= 20; seed++) {
      const { sim, convergedAt } = startCluster(5, seed, config);
      assert.notEqual(convergedAt, undefined, `seed ${seed}`);
      times.push((convergedAt as number) - 200); // the last member joins at 200 ms
      assert.equal(sim.log.filter((e) => e.type === 'suspect' || e.type === 'dead').length, 0);
    }
    t.diagnostic(`after the last join: p50 ${percentile(times, 50).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms`);
    assert.ok(Math.max(...times) < 1000);
  });

  it('twenty members, each joining through a different earlier member, converge', (t) => {
    for (let seed = 1; seed <= 5; seed++) {
      const { convergedAt } = startCluster(20, seed, config, undefined, (i) => `n${1 + (seed * 7 + i) % (i - 1)}`);
      assert.notEqual(convergedAt, undefined, `seed ${seed}`);
      t.diagnostic(`seed ${seed}: converged ${((convergedAt as number) - 950).toFixed(0)} ms after the last join`);
    }
  });

  it('forty members with 300-byte meta: every datagram stays within maxPacketBytes', () => {
    const sim = new Simulation(3, config);
    const meta = (i: number) => ({ raft: `10.0.0.${i}:7001`, http: `http://10.0.0.${i}:8001`, pad: 'x'.repeat(240) });
    sim.add('n1', meta(1));
    for (let i = 2; i <= 40; i++) {
      sim.at(i * 20, () => {
        sim.add(`n${i}`, meta(i));
        sim.join(`n${i}`, ['n1']);
      });
    }
    sim.run(1000);
    assert.notEqual(sim.runUntil(() => sim.converged(), 60_000), undefined);
    assert.equal(sim.counters.oversize, 0);
    assert.ok(sim.counters.maxUdpBytes <= 1400 && sim.counters.maxUdpBytes > 1000, `largest ${sim.counters.maxUdpBytes}`);
  });
});

describe('failure detection', () => {
  it('a killed member is dead on every member of a 5-member cluster in under 5 s (300 kills)', (t) => {
    const times: number[] = [];
    for (let seed = 1; seed <= 300; seed++) {
      const { sim } = startCluster(5, seed, config);
      sim.run(5000 + ((seed * 137) % 3000)); // kill at a random phase of everyone's probe cycle
      const victim = `n${1 + (seed % 5)}`;
      sim.kill(victim);
      const start = sim.now;
      const at = sim.runUntil(() => sim.allSee(victim, 'dead'), 30_000);
      assert.notEqual(at, undefined, `seed ${seed}: never detected`);
      times.push((at as number) - start);
      const falseDeaths = sim.log.filter((e) => e.type === 'dead' && e.member !== victim);
      assert.deepEqual(falseDeaths, [], `seed ${seed}`);
    }
    t.diagnostic(`dead everywhere after: p50 ${percentile(times, 50).toFixed(0)} ms, p99 ${percentile(times, 99).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms`);
    assert.ok(Math.max(...times) < 5000, `max ${Math.max(...times)}`);
  });

  it('with 10% packet loss, still under 5 s and no other member declared dead (200 kills)', (t) => {
    const times: number[] = [];
    for (let seed = 1; seed <= 200; seed++) {
      const { sim } = startCluster(5, seed, config, { loss: 0.1, minDelayMs: 1, maxDelayMs: 5 });
      sim.run(5000 + ((seed * 137) % 3000));
      const victim = `n${1 + (seed % 5)}`;
      sim.kill(victim);
      const start = sim.now;
      const at = sim.runUntil(() => sim.allSee(victim, 'dead'), 30_000);
      assert.notEqual(at, undefined, `seed ${seed}: never detected`);
      times.push((at as number) - start);
      assert.deepEqual(sim.log.filter((e) => e.type === 'dead' && e.member !== victim), [], `seed ${seed}`);
    }
    t.diagnostic(`dead everywhere after: p50 ${percentile(times, 50).toFixed(0)} ms, p99 ${percentile(times, 99).toFixed(0)} ms, max ${Math.max(...times).toFixed(0)} ms`);
    assert.ok(Math.max(...times) < 5000, `max ${Math.max(...times)}`);
  });

  it('a member restarted at the same address refutes its old death and is alive again everywhere', () => {
    const { sim } = startCluster(5, 11, config);
    sim.kill('n4');
    assert.notEqual(sim.runUntil(() => sim.allSee('n4', 'dead'), 10_000), undefined);
    sim.run(3000);
    const fresh = sim.restart('n4');
    sim.join('n4', ['n2']);
    assert.notEqual(sim.runUntil(() => sim.converged(), 5_000), undefined);
    assert.ok(fresh.incarnation > 0, 'it had to out-number its old death');
  });
});

describe('graceful leave', () => {
  it('a member that leaves is left on every member, never dead', () => {
    for (let seed = 1; seed <= 20; seed++) {
      const { sim } = startCluster(5, seed, config);
      sim.run(2000);
      sim.act('n3', (swim) => swim.leave());
      const at = sim.runUntil(() => sim.allSee('n3', 'left') && sim.swim('n3').leaveDisseminated(), 5_000);
      assert.notEqual(at, undefined, `seed ${seed}`);
      sim.kill('n3'); // the process exits after its leave went out
      sim.run(60_000);
      assert.ok(sim.allSee('n3', 'left'));
      assert.deepEqual(sim.eventsAbout('n3', 'dead'), []);
      assert.deepEqual(sim.eventsAbout('n3', 'suspect'), []);
    }
  });

  it('a meta update reaches every member', () => {
    const { sim } = startCluster(5, 4, config);
    sim.act('n2', (swim) => swim.updateMeta({ raft: '10.0.0.2:7001', http: 'http://10.0.0.2:8001' }));
    const at = sim.runUntil(() => sim.ids().every((o) => sim.swim(o).member('n2')?.meta.raft === '10.0.0.2:7001'), 2_000);
    assert.notEqual(at, undefined);
    assert.equal(sim.eventsAbout('n2', 'update').length, 4);
  });
});

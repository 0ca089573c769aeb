// One timer for all the Raft groups of a node: each interval ticks every group in one pass, rather than one
// timer (and one late-tick check) per group. A blocked event loop delays every group alike, so lateness is
// checked, and reported, once for the node.

import type { Logger } from 'pino';
import { threadCpuMs } from '../util/thread-cpu.ts';

/** What the ticker drives: a Raft group's tick. */
export interface Tickable {
  /** One logical clock tick; `now` is performance.now() of the pass. */
  tick(now: number): void;
  /** This node's role in the group, for the late-tick report. */
  role(): string;
}

export interface TickerOptions {
  tickMs: number;
  electionTicks: number;
  logger: Logger;
}

export class NodeTicker {
  private readonly members = new Set<Tickable>();
  private readonly timer: NodeJS.Timeout;

  constructor(o: TickerOptions) {
    let lastTick = performance.now();
    let lastCpu = threadCpuMs();
    // The first interval holds the rest of the node's own start (its front ends being built), which
    // blocks by design while no peer depends on this node's heartbeats yet: it is not reported.
    let started = false;
    this.timer = setInterval(() => {
      const now = performance.now();
      const cpu = threadCpuMs();
      // A blocked event loop sends no heartbeats: past half an election timeout, followers may
      // start an election (etcd warns the same way: "leader failed to send out heartbeat on time").
      // ranMs, how long this thread ran meanwhile, tells a busy event loop (about lateMs) from a
      // process the machine did not run (far less).
      if (started && now - lastTick > (o.tickMs * o.electionTicks) / 2) {
        const ranMs = cpu !== undefined && lastCpu !== undefined ? cpu - lastCpu : undefined;
        const leading = [...this.members].filter((m) => m.role() === 'leader').length;
        o.logger.warn({ lateMs: Math.round(now - lastTick - o.tickMs), ranMs, groups: this.members.size, leading }, 'raft tick late: the event loop was blocked or the process not run');
      }
      lastTick = now;
      lastCpu = cpu;
      started = true;
      for (const m of this.members) m.tick(now);
    }, o.tickMs);
    // Not what keeps a node running (its sockets are): a start that fails part-way must not be held open by it.
    this.timer.unref();
  }

  /** Ticks `m` from the next pass on; the returned function stops that. */
  add(m: Tickable): () => void {
    this.members.add(m);
    return () => this.members.delete(m);
  }

  close(): void {
    clearInterval(this.timer);
  }
}

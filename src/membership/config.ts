// Every tunable of the gossip layer, with its default, in one place (the shape of memberlist's
// DefaultLANConfig, retuned for Concord's target: on a 5-node local cluster a killed node is marked
// dead on every member in under 5 s, while a node paused for 2 s survives).
//
// Detection bound with DEFAULT_CONFIG on a 5-member cluster (n = 5):
//   until some member probes the dead one   ≤ (n−1) × 500 ms = 2 s (each walks a fixed random ring);
//                                              typically a fraction of one interval (4 probers)
// + that probe fails                         = 500 ms (ping, then 3 ping-reqs after 250 ms)
// + the suspicion times out                  = 2 s: the floor, 4 × max(1, log10 5) × 500 ms, because the
//                                              others hear of it (≤ 200 ms), probe the suspect next and
//                                              fail (≤ 1 s): the 2 confirmations arrive before the floor
// + the dead message reaches everyone        ≈ 1–2 gossip intervals (200 ms)
//   ≤ 4.9 s in the worst alignment. Measured (README.md): 300 simulated kills p50 2.9 s, p99 3.8 s,
//   max 4.0 s; real sockets on 127.0.0.1 2.5–3.0 s.
// A member paused for 2 s is suspected at the earliest 500 ms into the pause and could be declared dead
// 2 s after that, at 2.5 s: it resumes at 2 s, reads the suspicion and refutes in time.

export interface SwimConfig {
  /** Packets from another cluster id are dropped (and counted) by the codec. */
  clusterId: string;

  /** Time between probes of one member by this member (memberlist LAN: 1 s). Scaled by the health score. */
  probeIntervalMs: number;
  /**
   * How long to wait for a direct ack before asking `indirectChecks` members to probe on our behalf.
   * A late ack still counts until the end of the probe interval. Scaled by the health score too (as in
   * the Lifeguard paper; memberlist scales only the interval).
   */
  probeTimeoutMs: number;
  /** Members asked to ping a target that missed its direct ack (the k of SWIM). */
  indirectChecks: number;

  /**
   * Suspicion timeout floor = suspicionMult × max(1, log10(clusterSize)) × probeIntervalMs, reached
   * once suspicionMult − 2 other members independently confirm the suspicion (Lifeguard).
   */
  suspicionMult: number;
  /** A suspicion nobody confirms waits this many times the floor: a lone accuser may be the sick one. */
  suspicionMaxTimeoutMult: number;
  /**
   * Local health awareness (Lifeguard): the health score runs 0..max−1 and multiplies this member's own
   * probe interval and timeout by (score + 1). Missed nacks and refutations raise it; good probes lower it.
   */
  awarenessMaxMultiplier: number;

  /** Time between gossip rounds, each sending queued broadcasts to `gossipNodes` random members. */
  gossipIntervalMs: number;
  gossipNodes: number;
  /** Each broadcast is sent retransmitMult × ceil(log10(clusterSize + 1)) times, then dropped. */
  retransmitMult: number;

  /** Full-state TCP sync with one random member (anti-entropy); also done on join. 0 disables. */
  pushPullIntervalMs: number;
  /** A dead member still receives gossip this long, so one wrongly declared dead learns it and refutes. */
  gossipToTheDeadMs: number;
  /**
   * A dead member's id may be taken by a different address after this long (a node restarted on a new
   * port). 0: only a member that left may change address. memberlist's default is 0; Concord allows it
   * because `concord dev` and tests restart nodes on fresh ports.
   */
  deadNodeReclaimMs: number;
  /** Dead and left members stay in members() this long, so the cluster layer can report and act on them. */
  deadMemberRetentionMs: number;

  /** Largest UDP datagram. 1400 bytes keeps one packet within an Ethernet MTU after IP/UDP headers. */
  maxPacketBytes: number;
  /** Largest encoded meta record; larger updates are refused. */
  maxMetaBytes: number;
  /** Host only: connect + write deadline of one push-pull TCP exchange. */
  tcpTimeoutMs: number;

  /**
   * Test-only: classic SWIM without Lifeguard — no health awareness, no nacks, no suspect piggybacked on
   * the probe, a fixed suspicion timeout (the floor) that confirmations do not shorten, and no tolerance of
   * host stalls. Exists so tests can show what Lifeguard buys; never set it in production.
   */
  testingOnlyDisableLifeguard?: boolean;
}

export const DEFAULT_CONFIG: Readonly<SwimConfig> = Object.freeze({
  clusterId: 'concord',
  probeIntervalMs: 500,
  probeTimeoutMs: 250,
  indirectChecks: 3,
  suspicionMult: 4,
  suspicionMaxTimeoutMult: 6,
  awarenessMaxMultiplier: 8,
  gossipIntervalMs: 200,
  gossipNodes: 3,
  retransmitMult: 4,
  pushPullIntervalMs: 30_000,
  gossipToTheDeadMs: 30_000,
  deadNodeReclaimMs: 30_000,
  deadMemberRetentionMs: 3_600_000,
  maxPacketBytes: 1400,
  maxMetaBytes: 512,
  tcpTimeoutMs: 5_000,
});

export function defaultConfig(overrides: Partial<SwimConfig> = {}): SwimConfig {
  return validateConfig({ ...DEFAULT_CONFIG, ...overrides });
}

/**
 * Short timings for tests on one machine: everything about 2.5× faster than the defaults, so a dead
 * member of a 5-node cluster is detected in about 1.5 s.
 */
export function localTestConfig(overrides: Partial<SwimConfig> = {}): SwimConfig {
  return defaultConfig({
    probeIntervalMs: 200,
    probeTimeoutMs: 100,
    gossipIntervalMs: 60,
    pushPullIntervalMs: 3_000,
    gossipToTheDeadMs: 5_000,
    deadNodeReclaimMs: 2_000,
    tcpTimeoutMs: 1_000,
    ...overrides,
  });
}

export function validateConfig(c: SwimConfig): SwimConfig {
  const positive: Array<keyof SwimConfig> = [
    'probeIntervalMs', 'probeTimeoutMs', 'gossipIntervalMs', 'gossipNodes', 'retransmitMult',
    'suspicionMult', 'suspicionMaxTimeoutMult', 'awarenessMaxMultiplier', 'maxPacketBytes', 'tcpTimeoutMs',
  ];
  for (const key of positive) {
    const v = c[key];
    if (typeof v !== 'number' || !(v > 0)) throw new RangeError(`membership config: ${key} must be > 0`);
  }
  if (c.probeTimeoutMs >= c.probeIntervalMs) {
    throw new RangeError('membership config: probeTimeoutMs must be shorter than probeIntervalMs (indirect probes need time)');
  }
  if (c.suspicionMaxTimeoutMult < 1) throw new RangeError('membership config: suspicionMaxTimeoutMult must be >= 1');
  if (c.maxPacketBytes < 512) throw new RangeError('membership config: maxPacketBytes must be >= 512');
  if (c.indirectChecks < 0 || c.pushPullIntervalMs < 0 || c.deadNodeReclaimMs < 0) {
    throw new RangeError('membership config: counts and intervals must not be negative');
  }
  if (!c.clusterId) throw new RangeError('membership config: clusterId must not be empty');
  return c;
}

export function lifeguardEnabled(c: SwimConfig): boolean {
  return c.testingOnlyDisableLifeguard !== true;
}

/** The suspicion timeout floor for a cluster of `clusterSize` members (memberlist's suspicionTimeout). */
export function suspicionTimeoutMs(c: SwimConfig, clusterSize: number): number {
  const nodeScale = Math.max(1, Math.log10(Math.max(1, clusterSize)));
  return Math.floor(c.suspicionMult * nodeScale * c.probeIntervalMs);
}

/** How many times each broadcast is sent: enough for epidemic spread to reach everyone w.h.p. */
export function retransmitLimit(c: SwimConfig, clusterSize: number): number {
  return c.retransmitMult * Math.ceil(Math.log10(clusterSize + 1));
}

/** Push-pull slows down in large clusters (memberlist's pushPullScale) so full-state syncs stay cheap. */
export function pushPullIntervalFor(c: SwimConfig, clusterSize: number): number {
  const threshold = 32;
  if (clusterSize <= threshold) return c.pushPullIntervalMs;
  const multiplier = Math.ceil(Math.log2(clusterSize) - Math.log2(threshold)) + 1;
  return c.pushPullIntervalMs * multiplier;
}

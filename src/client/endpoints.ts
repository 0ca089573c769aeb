// The endpoints a client was given, each with its transport, in the order a call tries them: for a key of a
// cluster with several shards, the nodes holding the key's shard (its preferred leader first) once the shard
// map is known, since any other node would forward the call to one of them; otherwise the leader's first when
// it is known (writes and linearizable reads end there anyway, so asking it saves a hop); then the one that
// answered last, then the rest. An endpoint whose call failed goes after the others for a while (SUSPECT_MS),
// leader or not: a node cut off from its peers still answers a status, and may still take itself (and be taken
// by the others, while its group is quiet) for the leader, but hangs every call it has to forward.

import { ConcordClientError } from './errors.ts';
import { GrpcTransport } from './grpc-transport.ts';
import { HttpTransport } from './http-transport.ts';
import type { Transport } from './types.ts';

export type Protocol = 'http' | 'grpc';

interface Endpoint {
  transport: Transport;
  /** The node id this endpoint answered as, once known. */
  nodeId?: string;
  /** Until when (ms since the epoch) it goes after the others: a call through it failed. */
  suspectUntil?: number;
}

/** How long an endpoint whose call failed is tried after the others (unless it answers meanwhile). */
const SUSPECT_MS = 10_000;

/** `http://h:p`, `https://h:p`, `grpc://h:p` or a bare `h:p` (taken as `protocol`'s). */
export function parseEndpoint(text: string, protocol: Protocol | undefined): { protocol: Protocol; address: string } {
  const m = /^([a-z][a-z0-9+.-]*):\/\/(.*)$/i.exec(text.trim());
  const scheme = m?.[1].toLowerCase();
  const rest = (m ? m[2] : text.trim()).replace(/\/+$/, '');
  if (scheme !== undefined && !['http', 'https', 'grpc'].includes(scheme)) throw new ConcordClientError('bad-request', `endpoint ${JSON.stringify(text)}: expected http://, https:// or grpc://`);
  const p: Protocol = scheme === 'grpc' ? 'grpc' : scheme === 'http' || scheme === 'https' ? 'http' : (protocol ?? 'http');
  if (protocol !== undefined && p !== protocol) throw new ConcordClientError('bad-request', `endpoint ${JSON.stringify(text)} is not a ${protocol} endpoint`);
  const port = /^(?:\[[0-9a-f:.]+\]|[^\s/:[\]]+):(\d{1,5})$/i.exec(rest)?.[1];
  if (port === undefined || Number(port) < 1 || Number(port) > 65535) throw new ConcordClientError('bad-request', `endpoint ${JSON.stringify(text)}: expected host:port (port 1 to 65535)`);
  return { protocol: p, address: p === 'grpc' ? rest : `${scheme === 'https' ? 'https' : 'http'}://${rest}` };
}

export class Endpoints {
  readonly protocol: Protocol;
  private readonly list: Endpoint[];
  private last = 0;
  /** The leader's id as last reported, while no call through it has failed. */
  leaderId: string | undefined;
  /** Each shard's replicas (preferred leader first) as last reported, with several shards; dropped when a call fails. */
  shardReplicas: string[][] | undefined;
  /** Whether a status answer has been heard since the last failure (the map, or its absence, is known). */
  heard = false;

  constructor(texts: string[], protocol: Protocol | undefined) {
    if (texts.length === 0) throw new ConcordClientError('bad-request', 'no endpoints given');
    const parsed = texts.map((t) => parseEndpoint(t, protocol));
    this.protocol = parsed[0].protocol;
    if (parsed.some((p) => p.protocol !== this.protocol)) throw new ConcordClientError('bad-request', 'endpoints must all speak one protocol (http or grpc)');
    this.list = parsed.map((p) => ({ transport: p.protocol === 'grpc' ? new GrpcTransport(p.address) : new HttpTransport(p.address) }));
  }

  get size(): number {
    return this.list.length;
  }

  /** Transports in the order to try them; `holders`: the nodes holding the call's shard, best first. */
  order(preferLeader: boolean, holders?: readonly string[]): Transport[] {
    const n = this.list.length;
    const rotated = Array.from({ length: n }, (_, i) => this.list[(this.last + i) % n]);
    if (holders && holders.length > 0) {
      const rank = (e: Endpoint) => (e.nodeId === undefined || !holders.includes(e.nodeId) ? holders.length : holders.indexOf(e.nodeId));
      rotated.sort((a, b) => rank(a) - rank(b));
    } else {
      const leader = preferLeader && this.leaderId !== undefined ? rotated.findIndex((e) => e.nodeId === this.leaderId) : -1;
      if (leader > 0) rotated.unshift(...rotated.splice(leader, 1));
    }
    const now = Date.now();
    const suspect = (e: Endpoint) => (e.suspectUntil ?? 0) > now;
    return [...rotated.filter((e) => !suspect(e)), ...rotated.filter(suspect)].map((e) => e.transport);
  }

  /** Whether the leader is known and among these endpoints. */
  leaderKnown(): boolean {
    return this.leaderId !== undefined && this.list.some((e) => e.nodeId === this.leaderId);
  }

  /** Endpoints whose node id is not known yet. */
  unnamed(): Transport[] {
    return this.list.filter((e) => e.nodeId === undefined).map((e) => e.transport);
  }

  answered(t: Transport): void {
    this.last = this.list.findIndex((e) => e.transport === t);
    delete this.list[this.last].suspectUntil;
  }

  failed(t: Transport): void {
    const e = this.list.find((x) => x.transport === t);
    if (e) e.suspectUntil = Date.now() + SUSPECT_MS;
    if (e?.nodeId !== undefined && e.nodeId === this.leaderId) this.leaderId = undefined;
    // The map may have moved on: learnt again with the leader.
    this.shardReplicas = undefined;
    this.heard = false;
  }

  /** What a status answer says: which node `t` is, who leads, and where the shards are (when it says: HTTP, several shards). */
  learn(t: Transport, self: string, leader: string | undefined, shards?: ReadonlyArray<{ replicas?: string[] }>): void {
    const e = this.list.find((x) => x.transport === t);
    if (e) e.nodeId = self;
    this.leaderId = leader;
    this.heard = true;
    this.shardReplicas = undefined;
    if (shards && shards.length > 1 && shards.every((s) => Array.isArray(s.replicas))) this.shardReplicas = shards.map((s) => s.replicas!);
  }

  close(): void {
    for (const e of this.list) e.transport.close();
  }
}

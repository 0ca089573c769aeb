// Who this node is and whom it starts with: --node-id, --raft-addr, --peers, --join and --bootstrap decide
// it together, because a static cluster only forms if every member derives the same id -> address map and
// finds itself in it. Two --peers spellings are accepted:
//   named (etcd's --initial-cluster):  n1=127.0.0.1:7001,n2=127.0.0.1:7002
//   plain (seed 003):                  127.0.0.1:7001,127.0.0.1:7002  — ids derived from the addresses.
// A plain list without this node's own raft address is seed 003's "start additional nodes" step: the node
// starts empty and waits to be added to the running cluster (POST /v1/cluster/nodes), so bootstrap=false.

import { DEFAULTS, type HostPort } from '../cluster/config.ts';
import { checkNodeId, formatHostPort, nodeIdFromAddress, parsePeerAddr, sameEndpoint, splitList } from './addresses.ts';
import type { Setting } from './config-sources.ts';
import { UsageError } from './errors.ts';

/** The id a node gets when nothing names it: the same as `concord dev`'s first node. */
export const DEFAULT_NODE_ID = 'n1';

export interface MembershipInput {
  nodeId?: Setting<string>;
  /** Already parsed as a listen address. */
  raftAddr?: Setting<HostPort>;
  peers?: Setting<string[]>;
  join?: Setting<string[]>;
  bootstrap?: Setting<boolean>;
  gossipAddr?: HostPort;
}

export interface Membership {
  nodeId: string;
  raftAddr: HostPort;
  peers: Record<string, string>;
  join: string[];
  bootstrap: boolean;
}

type PeerList = { kind: 'named'; members: Array<[string, HostPort]> } | { kind: 'plain'; addrs: HostPort[] };

function parsePeers(setting: Setting<string[]>): PeerList | undefined {
  const entries = splitList(setting.value);
  if (entries.length === 0) return undefined;
  const named = entries.filter((e) => e.includes('='));
  if (named.length > 0 && named.length < entries.length) {
    throw new UsageError(`${setting.from}: mixes id=address and plain address entries; use one form for the whole list`);
  }
  const seenAddr = new Set<string>();
  const checkAddr = (hp: HostPort): HostPort => {
    const a = formatHostPort(hp);
    if (seenAddr.has(a)) throw new UsageError(`${setting.from}: ${a} is listed twice`);
    seenAddr.add(a);
    return hp;
  };
  if (named.length === 0) return { kind: 'plain', addrs: entries.map((e) => checkAddr(parsePeerAddr(e, setting.from))) };
  const seenId = new Set<string>();
  const members = entries.map((e): [string, HostPort] => {
    const eq = e.indexOf('=');
    const id = checkNodeId(e.slice(0, eq).trim(), setting.from);
    if (seenId.has(id)) throw new UsageError(`${setting.from}: node id ${id} is listed twice`);
    seenId.add(id);
    return [id, checkAddr(parsePeerAddr(e.slice(eq + 1), setting.from))];
  });
  return { kind: 'named', members };
}

const idFlag = '--node-id';

export function resolveMembership(input: MembershipInput): Membership {
  const explicitId = input.nodeId ? checkNodeId(input.nodeId.value, input.nodeId.from) : undefined;
  const join = splitList(input.join?.value ?? []).map((a) => formatHostPort(parsePeerAddr(a, input.join?.from ?? '--join')));
  const list = input.peers ? parsePeers(input.peers) : undefined;
  const peersFrom = input.peers?.from ?? '--peers';
  let nodeId: string;
  let raftAddr: HostPort;
  let peers: Record<string, string> = {};
  let joining = join.length > 0;

  if (!list) {
    nodeId = explicitId ?? DEFAULT_NODE_ID;
    // With gossip (seed 000) the raft address is advertised, not configured: any free port on the gossip host,
    // so several seed-000 nodes can share a machine without a raft flag each.
    raftAddr = input.raftAddr?.value ?? (input.gossipAddr ? { host: input.gossipAddr.host, port: 0 } : DEFAULTS.raftAddr);
  } else if (list.kind === 'named') {
    const own = input.raftAddr?.value;
    const byAddr = own ? list.members.filter(([, a]) => sameEndpoint(own, a)) : [];
    if (explicitId) nodeId = explicitId;
    else if (byAddr.length === 1) nodeId = byAddr[0][0];
    else throw new UsageError(`${idFlag} is required with ${peersFrom}: say which of ${list.members.map(([id]) => id).join(', ')} this node is`);
    const mine = list.members.find(([id]) => id === nodeId);
    if (!mine) {
      throw new UsageError(`${peersFrom} does not name this node (${nodeId}); every founding member gets the same list, its own entry included`);
    }
    if (own && !sameEndpoint(own, mine[1])) {
      throw new UsageError(`${input.raftAddr?.from}: ${formatHostPort(own)} is not ${nodeId}'s address in ${peersFrom} (${formatHostPort(mine[1])})`);
    }
    raftAddr = own ?? mine[1];
    peers = Object.fromEntries(list.members.map(([id, a]) => [id, formatHostPort(a)]));
  } else {
    raftAddr = input.raftAddr?.value ?? DEFAULTS.raftAddr;
    const selves = list.addrs.filter((a) => sameEndpoint(raftAddr, a));
    if (selves.length > 1) throw new UsageError(`${peersFrom}: several entries match this node's raft address ${formatHostPort(raftAddr)}; give --raft-addr with a host`);
    const derived = list.addrs.map((a): [string, string] => [nodeIdFromAddress(a), formatHostPort(a)]);
    if (new Set(derived.map(([id]) => id)).size < derived.length) throw new UsageError(`${peersFrom}: two addresses give the same node id; name them (id=host:port)`);
    if (selves.length === 1) {
      const self = nodeIdFromAddress(selves[0]);
      if (explicitId && explicitId !== self) {
        throw new UsageError(
          `${peersFrom} is a plain address list, so members are named after their addresses and this node (raft ${formatHostPort(selves[0])}) is ${self}, not ${explicitId}; ` +
            `to choose ids write ${peersFrom} ${explicitId}=${formatHostPort(selves[0])},…`,
        );
      }
      nodeId = self;
      peers = Object.fromEntries(derived);
    } else {
      if (!explicitId) throw new UsageError(`${idFlag} is required to join a running cluster (${peersFrom} does not list this node's raft address ${formatHostPort(raftAddr)})`);
      if (input.bootstrap?.value === true) {
        throw new UsageError(`${input.bootstrap.from} founds a new cluster, but ${peersFrom} lists running members without this node (${formatHostPort(raftAddr)}); drop one of them`);
      }
      nodeId = explicitId;
      joining = true;
    }
  }

  if (join.length > 0 && input.bootstrap?.value === true) {
    throw new UsageError(`${input.bootstrap.from} founds a new cluster; it cannot be combined with ${input.join?.from} (joining one)`);
  }
  if (join.length > 0 && !explicitId) throw new UsageError(`${idFlag} (or --name) is required with ${input.join?.from}: every member needs its own id`);
  return { nodeId, raftAddr, peers, join, bootstrap: input.bootstrap?.value ?? !joining };
}

// Seed 002 (KavaDB) starts each node with a config file as its only argument (`kava.conf`, `kava2.conf`, …),
// in KavaDB's `key=value` format: the node's own `host`, `port` (its text-protocol port), `storage`,
// `log_enabled`, `me` (its number, default 1), and `cluster.node.N.host|port|gossip` for every member.
// This maps such a file onto Concord's settings, as a document with the keys of a TOML --config file, so
// the three files of seed 002's example start one three-node cluster:
//   node id        node<me>
//   text protocol  host : port             (`nc localhost 3001`, as in seed 002)
//   HTTP API       host : port + 5000      (3001 -> 8001, the ports `concord dev` gives its nodes)
//   Raft           host : port + 4000      (3001 -> 7001), every cluster.node.N a founding member
//   gossip         host : cluster.node.<me>.gossip, joining the other members' gossip addresses
//   log_enabled    true -> log level info, false -> warn
// Concord's own settings may be written in the same file (`data_dir=…`, `http_addr=…`) and win over the
// derived ones.

import { UsageError } from './errors.ts';

export const KAVA_HTTP_OFFSET = 5000;
export const KAVA_RAFT_OFFSET = 4000;

interface KavaMember {
  host?: string;
  port?: string;
  gossip?: string;
}

function port(text: string | undefined, from: string, offset = 0): number {
  const n = Number(text);
  if (!text || !/^\d+$/.test(text) || n < 1 || n + offset > 65535) throw new UsageError(`${from}: expected a port${offset ? ` of at most ${65535 - offset}` : ''} (got ${JSON.stringify(text ?? '')})`);
  return n + offset;
}

/** Parses a KavaDB config file; `own` are the Concord setting keys the file may also set directly. */
export function parseKavaConfig(text: string, fileName: string, own: ReadonlySet<string>): Record<string, string | string[]> {
  const top = new Map<string, string>();
  const members = new Map<string, KavaMember>();
  const concord: Record<string, string> = {};
  text.split(/\r?\n/).forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const at = `${fileName}:${i + 1}`;
    const eq = line.indexOf('=');
    if (eq < 0) throw new UsageError(`${at}: expected key=value (got ${JSON.stringify(line)})`);
    const key = line.slice(0, eq).trim();
    const value = line.slice(eq + 1).trim();
    const member = /^cluster\.node\.([A-Za-z0-9_-]+)\.(host|port|gossip)$/.exec(key);
    if (member) {
      const m = members.get(member[1]) ?? {};
      m[member[2] as keyof KavaMember] = value;
      members.set(member[1], m);
    } else if (['host', 'port', 'storage', 'log_enabled', 'me'].includes(key)) {
      top.set(key, value);
    } else if (own.has(key.replace(/-/g, '_'))) {
      concord[key.replace(/-/g, '_')] = value;
    } else {
      throw new UsageError(`${at}: unknown key ${JSON.stringify(key)} (KavaDB's keys: host, port, storage, log_enabled, me, cluster.node.N.host|port|gossip; or a Concord setting such as data_dir)`);
    }
  });

  const host = top.get('host') || '127.0.0.1';
  // The HTTP port is the furthest from it: a port that leaves room for that leaves room for the Raft one.
  const textPort = port(top.get('port'), `${fileName}: port`, KAVA_HTTP_OFFSET) - KAVA_HTTP_OFFSET;
  const me = top.get('me') || '1';
  const id = (n: string) => `node${n}`;
  const doc: Record<string, string | string[]> = {
    node_id: id(me),
    text_addr: `${host}:${textPort}`,
    http_addr: `${host}:${textPort + KAVA_HTTP_OFFSET}`,
    raft_addr: `${host}:${port(top.get('port'), `${fileName}: port`, KAVA_RAFT_OFFSET)}`,
  };
  const logEnabled = top.get('log_enabled');
  if (logEnabled !== undefined) {
    if (!['true', 'false'].includes(logEnabled)) throw new UsageError(`${fileName}: log_enabled: expected true or false (got ${JSON.stringify(logEnabled)})`);
    doc.log_level = logEnabled === 'true' ? 'info' : 'warn';
  }
  if (members.size > 0) {
    const self = members.get(me);
    if (!self) throw new UsageError(`${fileName}: me=${me}, but no cluster.node.${me}.* entries describe this node`);
    doc.peers = [...members].map(([n, m]) => `${id(n)}=${m.host || '127.0.0.1'}:${port(m.port, `${fileName}: cluster.node.${n}.port`, KAVA_RAFT_OFFSET)}`);
    if (self.gossip !== undefined) {
      doc.gossip_addr = `${self.host || host}:${port(self.gossip, `${fileName}: cluster.node.${me}.gossip`)}`;
      const others = [...members].filter(([n, m]) => n !== me && m.gossip !== undefined);
      if (others.length > 0) doc.join = others.map(([n, m]) => `${m.host || '127.0.0.1'}:${port(m.gossip, `${fileName}: cluster.node.${n}.gossip`)}`);
    }
  }
  return { ...doc, ...concord };
}

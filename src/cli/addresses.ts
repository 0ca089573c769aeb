// Parsing of the addresses and ids that arrive as flag, environment or config-file text. Every failure is a
// UsageError naming where the bad text came from, so a typo in a 3-node command line is found in one read.

import type { HostPort } from '../cluster/config.ts';
import { UsageError } from './errors.ts';

/** The rule POST /v1/cluster/nodes applies; checked at startup too so an id accepted here is accepted there. */
export const NODE_ID_PATTERN = /^[A-Za-z0-9_.-]{1,64}$/;

const WILDCARD_HOSTS = new Set(['0.0.0.0', '::']);

export function checkNodeId(id: string, from: string): string {
  if (!NODE_ID_PATTERN.test(id)) throw new UsageError(`${from}: node id must be 1-64 characters of A-Z a-z 0-9 _ . - (got ${JSON.stringify(id)})`);
  return id;
}

export function parsePort(text: string, from: string, allowZero: boolean): number {
  const port = Number(text);
  const min = allowZero ? 0 : 1;
  if (!/^\d{1,5}$/.test(text) || port < min || port > 65535) {
    throw new UsageError(`${from}: port must be a number in ${min}..65535 (got ${JSON.stringify(text)})`);
  }
  return port;
}

function splitHostPort(text: string, from: string): { host: string; portText: string } {
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text)) throw new UsageError(`${from}: expected host:port without a scheme (got ${JSON.stringify(text)})`);
  const colon = text.lastIndexOf(':');
  if (colon < 0) return { host: '', portText: text };
  let host = text.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  else if (host.includes(':')) throw new UsageError(`${from}: write IPv6 addresses in brackets, e.g. [::1]:7001 (got ${JSON.stringify(text)})`);
  if (/[\s/]/.test(host)) throw new UsageError(`${from}: bad host in ${JSON.stringify(text)}`);
  return { host, portText: text.slice(colon + 1) };
}

/**
 * An address to listen on: `host:port`, `[v6]:port`, `:port` (every interface, as Go servers read it) or a bare
 * port (on `defaultHost`). Port 0 asks the OS for a free port.
 */
export function parseListenAddr(text: string, from: string, defaultHost: string): HostPort {
  const { host, portText } = splitHostPort(text.trim(), from);
  const port = parsePort(portText, from, true);
  if (host !== '') return { host, port };
  return { host: text.trim().startsWith(':') ? '0.0.0.0' : defaultHost, port };
}

/** An address other nodes dial: it needs a host and a real port. */
export function parsePeerAddr(text: string, from: string): HostPort {
  const { host, portText } = splitHostPort(text.trim(), from);
  if (host === '') throw new UsageError(`${from}: expected host:port (got ${JSON.stringify(text)})`);
  return { host, port: parsePort(portText, from, false) };
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

/**
 * Whether a node listening on `listen` is the member advertised as `advertised`: the same endpoint, or the
 * same port when listening on every interface (0.0.0.0:7001 serves 10.0.0.5:7001).
 */
export function sameEndpoint(listen: HostPort, advertised: HostPort): boolean {
  if (listen.port !== advertised.port) return false;
  return listen.host === advertised.host || WILDCARD_HOSTS.has(listen.host);
}

/**
 * The id of a member given only by its address (seed 003's `--peers 127.0.0.1:7001,127.0.0.1:7002`):
 * host and port joined by '-', other characters than the id alphabet turned into '_'. Every node derives the
 * same ids from the same list, which is what a static cluster needs: 127.0.0.1:7001 → 127.0.0.1-7001.
 */
export function nodeIdFromAddress({ host, port }: HostPort): string {
  const id = `${host.replace(/[^A-Za-z0-9_.-]/g, '_')}-${port}`;
  if (!NODE_ID_PATTERN.test(id)) throw new UsageError(`cannot derive a node id from ${formatHostPort({ host, port })}: name it, e.g. n1=${formatHostPort({ host, port })}`);
  return id;
}

/** Repeatable flags and comma lists are the same thing: `--join a --join b,c` is [a, b, c]. */
export function splitList(values: readonly string[]): string[] {
  return values.flatMap((v) => v.split(',')).map((s) => s.trim()).filter((s) => s !== '');
}

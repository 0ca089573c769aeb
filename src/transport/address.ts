// Peer addresses come from flags and gossip as 'host:port' strings; IPv6 hosts use '[::1]:7001'.

export interface HostPort {
  host: string;
  port: number;
}

export function parseHostPort(addr: string): HostPort {
  const colon = addr.lastIndexOf(':');
  if (colon <= 0) throw new TypeError(`peer address must be host:port, got ${JSON.stringify(addr)}`);
  let host = addr.slice(0, colon);
  if (host.startsWith('[') && host.endsWith(']')) host = host.slice(1, -1);
  const portText = addr.slice(colon + 1);
  const port = Number(portText);
  if (host === '' || !/^\d+$/.test(portText) || port < 1 || port > 65535) {
    throw new TypeError(`peer address must be host:port with a port in 1..65535, got ${JSON.stringify(addr)}`);
  }
  return { host, port };
}

export function formatHostPort({ host, port }: HostPort): string {
  return host.includes(':') ? `[${host}]:${port}` : `${host}:${port}`;
}

const WILDCARDS = new Set(['0.0.0.0', '::', '']);

/**
 * The address peers should dial to reach a listener bound at `bound`: `advertiseHost` when given, else
 * the bound host — except a wildcard (0.0.0.0, ::), which no peer can dial; then 127.0.0.1, which is
 * right for nodes sharing a machine (the seeds' quick starts). Multi-host clusters that listen on a
 * wildcard must name the host to advertise.
 */
export function advertisedAddress(bound: HostPort, advertiseHost?: string): string {
  const host = advertiseHost ?? (WILDCARDS.has(bound.host) ? '127.0.0.1' : bound.host);
  return formatHostPort({ host, port: bound.port });
}

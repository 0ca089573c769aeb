// The package's server entry (`@concord-kv/concord/server`): run a node inside another Node program, with
// the settings `concord server` takes. The client is the package's main entry (src/client).

import type { NodeConfig } from './cluster/config.ts';
import { resolveNodeConfig, type ServerFlags } from './cli/server-config.ts';

export { startNode, type RunningNode } from './node/start-node.ts';
export { DEFAULTS, type HostPort, type NodeConfig } from './cluster/config.ts';
export type { ServerFlags } from './cli/server-config.ts';

/**
 * A node's settings from `concord server`'s flags, camelCased (`{ nodeId: 'n1', httpAddr: '127.0.0.1:8080',
 * bootstrap: true }`), with the same defaults and checks; a bad setting throws with the flag's name.
 */
export function nodeConfig(flags: ServerFlags): NodeConfig {
  return resolveNodeConfig(flags, {});
}

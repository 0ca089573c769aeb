// What the HTTP front end needs from the node: the services it adapts and a few limits.

import type { Logger } from 'pino';
import type { ClusterService } from '../../cluster/types.ts';
import type { BackupSource, KvService } from '../../kv/types.ts';
import type { WatchHub } from '../../kv/watch-hub.ts';
import type { FaultRules } from '../../transport/faults.ts';
import type { ApiLimits } from '../shared/limits.ts';
import type { HttpTimeouts } from './limits.ts';

export interface HttpApiDeps {
  kv: KvService;
  cluster: ClusterService;
  limits: ApiLimits;
  /** A pino logger, or false (or absent) for none. */
  logger?: Logger | false;
  /** Prometheus text exposition of the node's metrics; /metrics answers 404 without it. */
  metrics?: () => Promise<string>;
  nodeId: string;
  /** Serves GET /v1/watch when present (501 without). */
  watch?: WatchHub;
  /** Serves GET /v1/backup when present. */
  backup?: BackupSource;
  /** Serves POST /v1/debug/faults when present (nodes started with --fault-injection). */
  faults?: Pick<FaultRules, 'cut' | 'heal' | 'drop' | 'delay' | 'clear'>;
  /** Called once per answered request (Prometheus request metrics); route is the matched pattern. */
  observeRequest?: (method: string, route: string, status: number, seconds: number) => void;
  /**
   * Seed routes' reads that name no consistency answer from local state, marked stale, when the group
   * has no quorum (the node's --stale-reads-on-no-quorum; see stale-reads.ts). v1 stays strict.
   */
  staleSeedReads?: boolean;
  /** Overrides of DEFAULT_TIMEOUTS (tests shorten them). */
  timeouts?: Partial<HttpTimeouts>;
}

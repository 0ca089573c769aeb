// Watchers during a chaos run: each follows every change under the run's key prefix through the client
// library's watch, as an application would, and records what it is told. When its stream fails (a killed,
// removed or frozen node) it resumes from its last cursor through whichever members are alive then.
// watch-check.ts then holds every stream to the acknowledged writes of the history and to each other.

import { createClient, ConcordClientError } from '../src/client/index.ts';

export interface WatchedChange {
  key: string;
  kind: 'put' | 'delete';
  /** A put's value (a padded large value's unique part; see workload.ts). */
  value?: string;
  revision: number;
  shard: number;
}

/** A stream silent this long is resumed elsewhere (the client's rule: three progress periods). */
const PROGRESS_MS = 1000;

export class ChaosWatcher {
  readonly changes: WatchedChange[] = [];
  started = false;
  /** Why the watch ended for good (a refusal no resume mends), if it did. */
  failure: string | undefined;
  /** Watch calls started again after one failed for good (the client library resumes most failures itself, unseen here). */
  restarts = 0;
  private readonly stopping = new AbortController();
  private loop: Promise<void> | undefined;

  constructor(
    readonly name: string,
    /** Base URLs of the members alive now, in the order to try them. */
    private readonly endpoints: () => string[],
    private readonly prefix: string,
  ) {}

  start(): void {
    this.loop = this.run();
  }

  async stop(): Promise<void> {
    this.stopping.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    let cursor: string | undefined;
    const signal = this.stopping.signal;
    while (!signal.aborted) {
      const urls = this.endpoints();
      if (urls.length === 0) {
        await sleep(100);
        continue;
      }
      const client = createClient({ endpoints: urls, backoffMs: 50, maxAttempts: 2 * urls.length });
      try {
        for await (const e of client.watch({ prefix: this.prefix, progressMs: PROGRESS_MS, signal, ...(cursor !== undefined ? { cursor } : {}) })) {
          this.started = true;
          cursor = e.cursor;
          if (e.type === 'progress') continue;
          const key = e.kv.key.toString('utf8');
          const text = e.kv.value.toString('utf8');
          const nl = text.indexOf('\n');
          this.changes.push({ key, kind: e.type, ...(e.type === 'put' ? { value: nl < 0 ? text : text.slice(0, nl) } : {}), revision: e.revision, shard: e.shard });
        }
      } catch (e) {
        if (signal.aborted) break;
        if (e instanceof ConcordClientError && !['unreachable', 'unavailable', 'timeout', 'deadline'].includes(e.code)) {
          this.failure = `${e.code}: ${e.message}`;
          return;
        }
        this.restarts++;
        await sleep(100);
      } finally {
        client.close();
      }
    }
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

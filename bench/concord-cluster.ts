// Concord for the benchmarks that start their own clusters (compare.ts, shard-puts.ts, idle-cluster.ts): a ProcCluster whose
// processes are also killed (and data removed) on Ctrl-C, every node serving gRPC on a free port of its own
// (the default 127.0.0.1:50051 would go to one node of one cluster only), and the version under test (with whether src/ holds changes beyond it).
import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from '../testkit/ports.ts';
import { ProcCluster } from '../testkit/processes.ts';
import { onCleanup } from './cleanup.ts';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');

/** n nodes started with `extra` flags (after the --grpc-addr this adds); resolves once all answer /health. */
export async function concordCluster(n: number, extra: string[] = []): Promise<{ cluster: ProcCluster; stop: () => Promise<void> }> {
  const grpcPorts = new Map<string, number>();
  for (let i = 1; i <= n; i++) grpcPorts.set(`n${i}`, await freePort());
  const cluster = await ProcCluster.create(n, (id) => ['--grpc-addr', `127.0.0.1:${grpcPorts.get(id)}`, ...extra]);
  const unregister = onCleanup(() => {
    for (const node of cluster.nodes) node.proc?.kill('SIGKILL');
    fs.rmSync(cluster.dir, { recursive: true, force: true });
  });
  return { cluster, stop: async () => { await cluster.stop(); unregister(); } };
}

/** Output of git in the checkout, or undefined where git cannot answer. */
function git(...args: string[]): string | undefined {
  try {
    return execFileSync('git', args, { cwd: root, encoding: 'utf8' }).trim();
  } catch {
    return undefined;
  }
}

/** `0.1.0 (git abc1234)`: package.json's version and the commit checked out. */
export function concordVersion(): string {
  const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { version: string };
  return `${pkg.version} (git ${git('rev-parse', '--short', 'HEAD') ?? 'unknown'})`;
}

/** Whether src/ has changes not committed: the figures are then of more than the commit named. */
export function srcChanged(): boolean {
  return (git('status', '--porcelain', '--', 'src') ?? '') !== '';
}

// etcd for the comparison: installs Debian's etcd-server (and etcd-client) when /usr/bin/etcd is missing,
// and runs an n-member cluster on 127.0.0.1 with free client and peer ports and temp data dirs, stopped
// and removed afterwards (also on Ctrl-C, through cleanup.ts). Only the benchmark uses this.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { freePort } from '../testkit/ports.ts';
import { until } from '../testkit/wait.ts';
import { onCleanup } from './cleanup.ts';
import { ensureDebianTool } from './debian.ts';

export const ETCD = process.env.ETCD_BIN ?? 'etcd';

export function ensureEtcd(): void {
  ensureDebianTool(ETCD, ['etcd-server', 'etcd-client']);
}

export function etcdVersion(): string {
  const out = spawnSync(ETCD, ['--version'], { encoding: 'utf8' }).stdout ?? '';
  const v = /etcd Version: (\S+)/.exec(out)?.[1] ?? 'unknown';
  const go = /Go Version: (\S+)/.exec(out)?.[1];
  return go ? `${v} (${go})` : v;
}

export interface EtcdMember {
  name: string;
  clientUrl: string;
  peerUrl: string;
  dataDir: string;
  proc?: ChildProcess;
  output: string[];
}

interface StatusReply {
  header: { member_id: string };
  leader: string;
}

const b64 = (s: string | Buffer) => Buffer.from(s).toString('base64');

/** POST a JSON body to etcd's v3 gateway; throws on a non-2xx answer. */
export async function etcdPost<T>(url: string, route: string, body: unknown, timeoutMs = 10_000): Promise<T> {
  const r = await fetch(`${url}${route}`, { method: 'POST', body: JSON.stringify(body), headers: { 'content-type': 'application/json' }, signal: AbortSignal.timeout(timeoutMs) });
  const text = await r.text();
  if (!r.ok) throw new Error(`etcd ${route}: ${r.status} ${text.slice(0, 300)}`);
  return JSON.parse(text) as T;
}

export class EtcdCluster {
  readonly dir = fs.mkdtempSync(path.join(os.tmpdir(), 'concord-bench-etcd-'));
  readonly members: EtcdMember[] = [];
  private unregister: () => void = () => undefined;

  /** Starts n members (every flag etcd's defaults except `extra`) and waits until a leader answers writes. */
  static async create(n: number, extra: string[] = []): Promise<EtcdCluster> {
    const c = new EtcdCluster();
    c.unregister = onCleanup(() => c.killSync());
    const names = Array.from({ length: n }, (_, i) => `e${i + 1}`);
    for (const name of names) {
      const [client, peer] = [await freePort(), await freePort()];
      c.members.push({ name, clientUrl: `http://127.0.0.1:${client}`, peerUrl: `http://127.0.0.1:${peer}`, dataDir: path.join(c.dir, name), output: [] });
    }
    const initial = c.members.map((m) => `${m.name}=${m.peerUrl}`).join(',');
    const token = `concord-bench-${randomBytes(4).toString('hex')}`;
    for (const m of c.members) {
      const args = ['--name', m.name, '--data-dir', m.dataDir,
        '--listen-client-urls', m.clientUrl, '--advertise-client-urls', m.clientUrl,
        '--listen-peer-urls', m.peerUrl, '--initial-advertise-peer-urls', m.peerUrl,
        '--initial-cluster', initial, '--initial-cluster-state', 'new', '--initial-cluster-token', token,
        '--logger', 'zap', '--log-outputs', 'stderr', '--log-level', 'error', ...extra];
      const proc = spawn(ETCD, args, { stdio: ['ignore', 'pipe', 'pipe'] });
      const keep = (d: Buffer) => {
        m.output.push(String(d));
        if (m.output.length > 200) m.output.splice(0, 100);
      };
      proc.stdout.on('data', keep);
      proc.stderr.on('data', keep);
      m.proc = proc;
    }
    try {
      await c.leader(30_000);
      // A write and a linearizable read through the gateway, so the cluster is really serving.
      const leader = await c.leader();
      await etcdPost(leader.clientUrl, '/v3/kv/put', { key: b64('bench-probe'), value: b64('ok') });
      await etcdPost(leader.clientUrl, '/v3/kv/range', { key: b64('bench-probe') });
    } catch (e) {
      await c.stop();
      throw new Error(`etcd did not start: ${(e as Error).message}\n${c.members.map((m) => `${m.name}: ${m.output.join('').slice(-800)}`).join('\n')}`);
    }
    return c;
  }

  /** The member every member agrees is leader (asked through /v3/maintenance/status). */
  async leader(timeoutMs = 10_000): Promise<EtcdMember> {
    return until('an etcd leader', async () => {
      const ids = new Map<string, EtcdMember>();
      let leader: string | undefined;
      for (const m of this.members) {
        try {
          const st = await etcdPost<StatusReply>(m.clientUrl, '/v3/maintenance/status', {}, 2000);
          ids.set(st.header.member_id, m);
          if (!st.leader || st.leader === '0') return undefined;
          if (leader !== undefined && leader !== st.leader) return undefined;
          leader = st.leader;
        } catch {
          return undefined;
        }
      }
      return leader === undefined ? undefined : ids.get(leader);
    }, timeoutMs);
  }

  async follower(): Promise<EtcdMember> {
    const leader = await this.leader();
    return this.members.find((m) => m !== leader) ?? leader;
  }

  pids(): number[] {
    return this.members.flatMap((m) => (m.proc?.pid !== undefined && m.proc.exitCode === null ? [m.proc.pid] : []));
  }

  /** SIGKILL every member and remove the data dirs (synchronous, for Ctrl-C). */
  killSync(): void {
    for (const m of this.members) {
      if (m.proc && m.proc.exitCode === null) m.proc.kill('SIGKILL');
    }
    fs.rmSync(this.dir, { recursive: true, force: true });
  }

  async stop(): Promise<void> {
    await Promise.all(this.members.map((m) => new Promise<void>((resolve) => {
      const p = m.proc;
      if (!p || p.exitCode !== null || p.signalCode !== null) return resolve();
      p.once('exit', () => resolve());
      p.kill('SIGKILL');
    })));
    fs.rmSync(this.dir, { recursive: true, force: true });
    this.unregister();
  }
}

// Real `concord server` processes on 127.0.0.1 with free ports; every process started is killed at the end.
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './ports.ts';
import { tempDir } from './temp.ts';
import { until } from './wait.ts';

export const BIN = path.join(path.dirname(fileURLToPath(import.meta.url)), '../bin/concord.js');

export interface ProcNode {
  id: string;
  args: string[];
  url: string;
  /** The working directory it runs in (default: the caller's); relative paths in its flags resolve there. */
  cwd?: string;
  /** The `concord` executable (default: this checkout's bin/concord.js). */
  bin?: string;
  proc?: ChildProcess;
  output: string[];
}

/**
 * Every process started here and not yet ended. A program (a test file, a benchmark, a chaos run) whose child
 * outlives it never exits (the child's pipes keep its event loop alive), so whatever is left when the program's
 * process exits is killed.
 */
const running = new Set<ChildProcess>();
process.once('exit', () => {
  if (running.size > 0) console.error(`testkit/processes.ts: killing ${running.size} concord process(es) left running`);
  for (const p of running) p.kill('SIGKILL');
});

/** How many processes started here are still running (for the test that they are all stopped). */
export const runningProcesses = (): number => running.size;

export class ProcCluster {
  readonly dir = tempDir('e2e');
  readonly nodes: ProcNode[] = [];

  /** n nodes n1…nN with the `extra` flags (the same for all, or per node id); resolves once all are healthy. */
  static async create(n: number, extra: string[] | ((id: string) => string[]) = []): Promise<ProcCluster> {
    const c = new ProcCluster();
    const ids = Array.from({ length: n }, (_, i) => `n${i + 1}`);
    const raft = await Promise.all(ids.map(() => freePort()));
    const http = await Promise.all(ids.map(() => freePort()));
    const peers = ids.map((id, i) => `${id}=127.0.0.1:${raft[i]}`).join(',');
    ids.forEach((id, i) => {
      const args = ['server', '--node-id', id, '--raft-addr', `127.0.0.1:${raft[i]}`, '--http-addr', `127.0.0.1:${http[i]}`,
        '--data-dir', path.join(c.dir, id), '--peers', peers, ...(typeof extra === 'function' ? extra(id) : extra)];
      c.nodes.push({ id, args, url: `http://127.0.0.1:${http[i]}`, output: [] });
    });
    try {
      for (const node of c.nodes) c.start(node);
      await Promise.all(c.nodes.map((node) => c.waitHealthy(node)));
    } catch (err) {
      await c.stop(); // the caller never gets the cluster to stop: a process left running keeps the test file alive
      throw err;
    }
    return c;
  }

  /** A node with arbitrary flags (the caller picks the ports); started at once. */
  add(id: string, args: string[], url: string, cwd?: string, bin?: string): ProcNode {
    const node: ProcNode = { id, args, url, output: [], ...(cwd ? { cwd } : {}), ...(bin ? { bin } : {}) };
    this.nodes.push(node);
    this.start(node);
    return node;
  }

  start(node: ProcNode): void {
    const proc = spawn(process.execPath, [node.bin ?? BIN, ...node.args], { cwd: node.cwd, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, LOG_LEVEL: process.env.E2E_LOG_LEVEL ?? 'warn' } });
    proc.stdout?.on('data', (d) => node.output.push(String(d)));
    proc.stderr?.on('data', (d) => node.output.push(String(d)));
    node.proc = proc;
    running.add(proc);
    proc.once('exit', () => running.delete(proc));
  }

  /** Until the node answers /health; fails at once if its process has ended. */
  async waitHealthy(node: ProcNode, timeoutMs = 15_000): Promise<void> {
    const said = () => `(output: ${node.output.join('').slice(-2000)})`;
    await until(() => `${node.id} to answer /health ${said()}`, async () => {
      const p = node.proc;
      if (!p) throw new Error(`${node.id} was stopped before answering /health`);
      if (p.exitCode !== null) throw new Error(`${node.id} exited with code ${p.exitCode} before answering /health ${said()}`);
      if (p.signalCode !== null) throw new Error(`${node.id} was killed by ${p.signalCode} before answering /health ${said()}`);
      try {
        return (await fetch(`${node.url}/health`)).ok;
      } catch {
        return false;
      }
    }, timeoutMs);
  }

  kill9(node: ProcNode): Promise<void> {
    const p = node.proc;
    node.proc = undefined;
    if (!p || p.exitCode !== null) return Promise.resolve();
    return new Promise((r) => {
      p.once('exit', () => r());
      p.kill('SIGKILL');
    });
  }

  /** kill -9 every one of `nodes`, then start each again with its own command; resolves once all answer /health. */
  async restart(nodes: ProcNode[], timeoutMs = 30_000): Promise<void> {
    await Promise.all(nodes.map((n) => this.kill9(n)));
    for (const n of nodes) this.start(n);
    await Promise.all(nodes.map((n) => this.waitHealthy(n, timeoutMs)));
  }

  /** SIGSTOP: the process keeps its sockets but answers nothing (a long GC pause, a frozen VM). */
  pause(node: ProcNode): void {
    node.proc?.kill('SIGSTOP');
  }

  resume(node: ProcNode): void {
    node.proc?.kill('SIGCONT');
  }

  async leader(timeoutMs = 10_000): Promise<ProcNode> {
    return until('a leader', async () => {
      for (const n of this.nodes) {
        if (!n.proc) continue;
        try {
          // Bounded: a node that accepts and never answers (paused, or a bug) must not hold the wait past its deadline.
          const st = (await (await fetch(`${n.url}/v1/cluster`, { signal: AbortSignal.timeout(2000) })).json()) as { leader: string | null };
          const l = this.nodes.find((x) => x.id === st.leader && x.proc);
          if (l) return l;
        } catch {
          /* not up */
        }
      }
      return undefined;
    }, timeoutMs);
  }

  async stop(): Promise<void> {
    await Promise.all(this.nodes.map((n) => this.kill9(n)));
    fs.rmSync(this.dir, { recursive: true, force: true });
  }
}

/**
 * A write as a client that retries once does it: a write in flight to a leader that was just killed has an
 * unknown outcome (504) or finds no leader yet (503), and the retry goes to whoever leads by then.
 */
export async function retriedOnce(send: () => Promise<Response>): Promise<Response> {
  const first = await send();
  return first.status === 503 || first.status === 504 ? send() : first;
}

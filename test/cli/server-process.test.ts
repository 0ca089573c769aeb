// `concord` starting real nodes: the seed-000 quick start with no subcommand, a clean exit on SIGTERM, a
// clear failure on a busy port, and `concord dev` printing its node lines and resuming over the same data.
import { after, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { freePort, freeRange } from '../../testkit/ports.ts';
import { BIN, runCli, until } from './helpers.ts';

const dirs: string[] = [];
const procs: ChildProcess[] = [];
after(() => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL');
  for (const d of dirs) fs.rmSync(d, { recursive: true, force: true });
});

/** Sends `input` on a text-protocol connection, half-closes, and resolves with the first `answers` lines it gets back. */
function textSession(port: number, input: string, answers: number): Promise<string> {
  return new Promise((resolve, reject) => {
    let got = '';
    const socket = net.connect(port, '127.0.0.1', () => socket.end(input));
    socket.setEncoding('latin1');
    socket.on('data', (d: string) => {
      got += d;
      if (got.split('\n').length > answers) socket.destroy();
    });
    socket.on('close', () => resolve(got));
    socket.on('error', reject);
  });
}

function tempDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'concord-cli-'));
  dirs.push(d);
  return d;
}

function start(args: string[], cwd: string): { proc: ChildProcess; stdout: string[]; stderr: string[]; exit: Promise<number | null> } {
  const proc = spawn(process.execPath, [BIN, ...args], { cwd, env: { ...process.env, LOG_LEVEL: 'warn' }, stdio: ['ignore', 'pipe', 'pipe'] });
  procs.push(proc);
  const stdout: string[] = [];
  const stderr: string[] = [];
  createInterface({ input: proc.stdout! }).on('line', (l) => stdout.push(l));
  createInterface({ input: proc.stderr! }).on('line', (l) => stderr.push(l));
  const exit = new Promise<number | null>((r) => proc.once('exit', (code) => r(code)));
  return { proc, stdout, stderr, exit };
}

const healthy = (url: string) => until(`${url}/health`, async () => (await fetch(`${url}/health`)).ok);

describe('concord server', () => {
  it('seed 000’s quick start with no subcommand serves, keeps data under ./data, and exits 0 on SIGTERM', async () => {
    const cwd = tempDir();
    const [http, gossip] = [await freePort(), await freePort()];
    const url = `http://127.0.0.1:${http}`;
    const node = start(['--name', 'node1', '--http-addr', `127.0.0.1:${http}`, '-g', `127.0.0.1:${gossip}`], cwd);
    await healthy(url);
    // /health is liveness; the first write waits for the node to elect itself.
    await until('a write', async () => (await runCli(['put', 'hello', 'world', '--server', url])).code === 0);
    assert.equal((await runCli(['get', 'hello', '--server', url])).stdout.toString(), 'world');
    assert.ok(fs.existsSync(path.join(cwd, 'data')), 'data under ./data');

    const busy = await runCli(['server', '--http-addr', `127.0.0.1:${http}`, '--raft-addr', `127.0.0.1:${await freePort()}`, '--data-dir', path.join(cwd, 'other')]);
    assert.equal(busy.code, 1);
    assert.match(busy.stderr, /^error: cannot start node n1: .*EADDRINUSE/m);

    node.proc.kill('SIGTERM');
    assert.equal(await node.exit, 0, node.stderr.join('\n'));
  });
});

describe('concord dev', () => {
  it('prints one line per node once it is healthy, serves the text protocol, stops on SIGINT, and resumes over the same data', async () => {
    const cwd = tempDir();
    const base = await freeRange(12);
    const args = ['dev', '--nodes', '3', '--base-http-port', String(base), '--base-raft-port', String(base + 3), '--base-grpc-port', String(base + 6), '--base-text-port', String(base + 9)];
    const urls = [0, 1, 2].map((i) => `http://127.0.0.1:${base + i}`);

    const first = start(args, cwd);
    await until('the node lines', async () => first.stdout.length >= 4, 30_000);
    assert.deepEqual(first.stdout.slice(0, 3), urls.map((u, i) => `n${i + 1} ${u} grpc 127.0.0.1:${base + 6 + i} text 127.0.0.1:${base + 9 + i}`));
    assert.match(first.stdout[3], /Ctrl-C/);
    await until('a write through n2', async () => (await runCli(['put', 'kept', 'yes', '--server', urls[1]])).code === 0);
    assert.equal(await textSession(base + 11, 'READ kept\nPUT typed "by hand"\nREAD typed\n', 3), 'yes\nOK\n"by hand"\n', "n3's text port, as printed");
    first.proc.kill('SIGINT');
    assert.equal(await first.exit, 0, first.stderr.join('\n'));
    assert.deepEqual(fs.readdirSync(path.join(cwd, 'data')).sort(), ['concord-dev.json', 'n1', 'n2', 'n3']);

    const again = start(args, cwd);
    await until('the node lines again', async () => again.stdout.length >= 4, 30_000);
    const got = await until('the value after restart', async () => {
      const r = await runCli(['get', 'kept', '--server', urls[2]]);
      return r.code === 0 && r.stdout.toString();
    });
    assert.equal(got, 'yes');
    again.proc.kill('SIGTERM');
    assert.equal(await again.exit, 0, again.stderr.join('\n'));
  });
});

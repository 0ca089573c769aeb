// A second `concord server` on a data dir in use is refused with the holder named, and the running node
// is unharmed; nodes started from one directory without --data-dir each get their own.
import { after, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { ProcCluster, type ProcNode } from '../../testkit/processes.ts';
import { freePort } from '../../testkit/ports.ts';
import { until } from '../../testkit/wait.ts';

const c = new ProcCluster();
after(() => c.stop());

const exited = (n: ProcNode) =>
  until(`${n.id} to exit`, () => (n.proc && n.proc.exitCode !== null ? n.proc.exitCode : undefined), 15_000);

it('a second process on the same data dir exits 1 naming the holder; the first keeps serving reads and writes', async () => {
  const dir = path.join(c.dir, 'shared');
  const first = c.add('first', ['server', '--node-id', 'n1', '--http-addr', `127.0.0.1:${await freePort()}`, '--raft-addr', `127.0.0.1:${await freePort()}`, '--data-dir', dir], '');
  first.url = `http://${first.args[first.args.indexOf('--http-addr') + 1]}`;
  await c.waitHealthy(first);
  assert.equal((await fetch(`${first.url}/v1/kv/k`, { method: 'PUT', body: 'before' })).status, 200);
  const pid = first.proc!.pid;

  const second = c.add('second', ['server', '--node-id', 'n1', '--http-addr', `127.0.0.1:${await freePort()}`, '--raft-addr', `127.0.0.1:${await freePort()}`, '--data-dir', dir], '');
  assert.equal(await exited(second), 1);
  const said = second.output.join('');
  assert.match(said, new RegExp(`${dir.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} is in use by concord node n1 \\(pid ${pid}\\)`), said);

  assert.equal((await fetch(`${first.url}/v1/kv/k`, { method: 'PUT', body: 'after' })).status, 200);
  assert.equal(await (await fetch(`${first.url}/v1/kv/k`)).text(), 'after');
  assert.equal(first.proc!.exitCode, null, 'the first node still runs');
});

it('two nodes started from one directory without --data-dir keep their state in ./data/<name> each', async () => {
  const cwd = path.join(c.dir, 'cwd');
  fs.mkdirSync(cwd);
  const nodes: ProcNode[] = [];
  for (const name of ['a', 'b']) {
    const http = await freePort();
    nodes.push(c.add(name, ['--name', name, '--http-addr', `127.0.0.1:${http}`, '--raft-addr', `127.0.0.1:${await freePort()}`], `http://127.0.0.1:${http}`, cwd));
  }
  await Promise.all(nodes.map((n) => c.waitHealthy(n)));
  assert.deepEqual(fs.readdirSync(path.join(cwd, 'data')).sort(), ['a', 'b']);
  for (const name of ['a', 'b']) assert.ok(fs.existsSync(path.join(cwd, 'data', name, 'LOCK')), `data/${name} is locked by its node`);
});

it('a node without --data-dir beside state at the old default (./data itself) is refused, not started empty', async () => {
  const cwd = path.join(c.dir, 'old-layout');
  fs.mkdirSync(path.join(cwd, 'data', 'wal'), { recursive: true });
  const n = c.add('old', ['server', '--http-addr', `127.0.0.1:${await freePort()}`, '--raft-addr', `127.0.0.1:${await freePort()}`], '', cwd);
  assert.equal(await exited(n), 2);
  assert.match(n.output.join(''), /holds a node's state in its top level.*--data-dir \.\/data/);
  assert.deepEqual(fs.readdirSync(path.join(cwd, 'data')), ['wal'], 'nothing was created beside it');
});

// Seed 002's config files (KavaDB's key=value format) mapped onto Concord's settings.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { UsageError } from '../../src/cli/errors.ts';
import { resolveNodeConfig } from '../../src/cli/server-config.ts';

const example = (name: string) => fs.readFileSync(path.join('examples', 'seed-002', name), 'utf8');
const resolveKava = (text: string, flags = {}) => resolveNodeConfig(flags, {}, text, 'kava.conf', 'kava');
const peers = { node1: '127.0.0.1:7001', node2: '127.0.0.1:7002', node3: '127.0.0.1:7003' };

describe('seed 002 config files', () => {
  it('the shipped kava.conf, kava1.conf, kava2.conf and kava3.conf are the three founding members of one cluster', () => {
    for (const [file, me] of [['kava.conf', 1], ['kava1.conf', 1], ['kava2.conf', 2], ['kava3.conf', 3]] as const) {
      const c = resolveKava(example(file));
      assert.equal(c.nodeId, `node${me}`, file);
      assert.deepEqual(c.httpAddr, { host: '127.0.0.1', port: 8000 + me }, `${file}: HTTP on port + 5000`);
      assert.deepEqual(c.raftAddr, { host: '127.0.0.1', port: 7000 + me }, `${file}: Raft on port + 4000`);
      assert.deepEqual(c.gossipAddr, { host: '127.0.0.1', port: 3010 + me }, `${file}: its own gossip port`);
      assert.deepEqual(c.peers, peers, `${file}: every cluster.node.N founds the cluster`);
      assert.deepEqual(c.join.sort(), [1, 2, 3].filter((k) => k !== me).map((k) => `127.0.0.1:${3010 + k}`), `${file}: joins the others' gossip`);
      assert.equal(c.dataDir, path.join('data', `node${me}`));
      assert.deepEqual(c.textAddr, { host: '127.0.0.1', port: 3000 + me }, `${file}: the text protocol on its port`);
    }
  });

  it('KavaDB’s own spelling: no me means node 1, storage is accepted, log_enabled picks the log level', () => {
    const c = resolveKava('host=127.0.0.1\nport=3005\nstorage=memory\nlog_enabled=false\n');
    assert.equal(c.nodeId, 'node1');
    assert.equal(c.logLevel, 'warn');
    assert.deepEqual(c.peers, {}, 'no cluster.node entries: a single node');
    assert.equal(c.bootstrap, true);
  });

  it('Concord settings in the same file win over the derived ones, and flags win over the file', () => {
    const text = `${example('kava2.conf')}data_dir=/srv/concord/node2\nhttp_addr=127.0.0.1:9102\n`;
    const c = resolveKava(text);
    assert.equal(c.dataDir, '/srv/concord/node2');
    assert.deepEqual(c.httpAddr, { host: '127.0.0.1', port: 9102 });
    assert.deepEqual(resolveKava(text, { httpAddr: '127.0.0.1:9202' }).httpAddr, { host: '127.0.0.1', port: 9202 });
  });

  it('a mistake names the file, the line and the key', () => {
    const bad: Array<[string, RegExp]> = [
      ['port=3001\nsize=5\n', /^kava\.conf:2: unknown key "size"/],
      ['port=3001\njust words\n', /^kava\.conf:2: expected key=value/],
      ['host=127.0.0.1\n', /^kava\.conf: port: expected a port/],
      ['port=62000\n', /port: expected a port of at most 60535/],
      ['port=60536\n', /port: expected a port of at most 60535/],
      ['port=3001\nme=4\ncluster.node.1.port=3001\n', /me=4, but no cluster\.node\.4\.\* entries/],
      ['port=3001\nlog_enabled=maybe\n', /log_enabled: expected true or false/],
      ['port=3001\ncluster.node.1.port=x\n', /cluster\.node\.1\.port: expected a port/],
    ];
    for (const [text, pattern] of bad) assert.throws(() => resolveKava(text), (e: Error) => e instanceof UsageError && pattern.test(e.message), text);
  });
});

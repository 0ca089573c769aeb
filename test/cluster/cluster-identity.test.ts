// The cluster identity rules: learned once, confirmed by peers, and only an unconfirmed node that meets
// its own members in another cluster is told it holds a foreign state.
import { describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { ClusterIdentity, foundingIdentity, type ForeignCluster } from '../../src/cluster/cluster-identity.ts';
import { joinCommand } from '../../src/cli/server-command.ts';

function identity(uid: string | undefined, members = ['n1', 'n2', 'n3']) {
  const learned: string[] = [];
  const foreign: ForeignCluster[] = [];
  const id = new ClusterIdentity(uid, { members: () => members, learned: (u) => learned.push(u), foreign: (f) => foreign.push(f) });
  return { id, learned, foreign };
}

describe('cluster identity', () => {
  it('is a digest of the cluster id and the founders, whatever their order', () => {
    const a = foundingIdentity('concord', { n1: '127.0.0.1:7001', n2: '127.0.0.1:7002' });
    assert.equal(a, foundingIdentity('concord', { n2: '127.0.0.1:7002', n1: '127.0.0.1:7001' }));
    assert.notEqual(a, foundingIdentity('concord', { n1: '127.0.0.1:7001', n2: '127.0.0.1:7002', n3: '127.0.0.1:7003' }));
    assert.notEqual(a, foundingIdentity('other', { n1: '127.0.0.1:7001', n2: '127.0.0.1:7002' }));
    assert.match(a, /^[0-9a-f]{16}$/);
  });

  it('a joining node takes the first identity a peer announces, keeps it, and then holds to it', () => {
    const { id, learned } = identity(undefined);
    assert.equal(id.observe('n1', undefined), true, 'a peer without one is accepted');
    assert.equal(id.observe('n1', 'aaa'), true);
    assert.deepEqual(learned, ['aaa']);
    assert.equal(id.current(), 'aaa');
    assert.equal(id.observe('n2', 'bbb'), false);
  });

  it('an unconfirmed node meeting its own member in another cluster is foreign, once; a confirmed one only refuses', () => {
    const stray = identity('mine');
    assert.equal(stray.id.observe('x9', 'theirs'), false, 'a dialer outside the membership is refused…');
    assert.deepEqual(stray.foreign, [], '…without stopping anyone');
    assert.equal(stray.id.observe('n1', 'theirs'), false);
    assert.equal(stray.id.observe('n2', 'theirs'), false);
    assert.deepEqual(stray.foreign, [{ peer: 'n1', ours: 'mine', theirs: 'theirs' }]);

    const healthy = identity('mine');
    assert.equal(healthy.id.observe('n2', 'mine'), true);
    assert.equal(healthy.id.observe('n4', 'theirs'), false);
    assert.equal(healthy.id.observe('n1', 'theirs'), false);
    assert.deepEqual(healthy.foreign, [], 'confirmed by n2: the mismatching peer is the stray one');
  });

  it('the command to join instead drops --peers and --bootstrap and adds --no-bootstrap', () => {
    assert.equal(joinCommand(['server', '--node-id', 'n4', '--peers', 'n1=a:1,n4=b:2', '--bootstrap', '--data-dir', 'my dir']), `server --node-id n4 --data-dir 'my dir' --no-bootstrap`);
    assert.equal(joinCommand(['--peers=n1=a:1', '--http-port', '8084']), '--http-port 8084 --no-bootstrap');
  });
});

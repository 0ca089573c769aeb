// Membership changes through the cluster service on real nodes: removing the leader hands over first,
// quorum-losing changes are refused with a clear error.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import { pino } from 'pino';
import { startNodeCore, type NodeCore } from '../../src/node/node-core.ts';
import { ConcordError } from '../../src/util/errors.ts';
import { tempDir } from '../../testkit/temp.ts';
import { until } from '../../testkit/wait.ts';
import { clusterConfigs } from '../../testkit/node-configs.ts';

describe('membership through the cluster API', () => {
  const dir = tempDir('membership');
  const nodes = new Map<string, NodeCore>();
  const leaderId = () => [...nodes.entries()].find(([, n]) => n.group.node.status().role === 'leader')?.[0];

  before(async () => {
    for (const c of await clusterConfigs(4, dir)) nodes.set(c.nodeId, await startNodeCore(c, pino({ level: 'silent' })));
    await until('every node to know the leader', () => [...nodes.values()].every((n) => n.group.node.status().leader !== ''));
  });

  after(async () => {
    for (const n of nodes.values()) await n.close();
    fs.rmSync(dir, { recursive: true, force: true });
  });

  it('unknown members are 404', async () => {
    await assert.rejects([...nodes.values()][0].cluster.removeNode('nope'), (e: unknown) => e instanceof ConcordError && e.status === 404);
  });

  it('removing the leader, asked of a follower, hands leadership over and then removes it', async () => {
    const old = leaderId()!;
    const follower = [...nodes.entries()].find(([id]) => id !== old)![1];
    const termBefore = follower.group.node.status().term;
    await follower.cluster.removeNode(old);
    await until('the old leader out of the membership everywhere', () =>
      [...nodes.entries()].filter(([id]) => id !== old).every(([, n]) => !n.group.node.confState().voters.includes(old)),
    );
    const now = leaderId();
    assert.ok(now && now !== old);
    assert.equal(follower.group.node.status().term, termBefore + 1, 'one transfer election, no failed elections in between');
    await nodes.get(old)!.close();
    nodes.delete(old);
  });

  it('a change that would lose the quorum is refused with a clear error', async () => {
    // Three voters left; stop one, then try to remove one of the two live ones.
    const [downId, down] = [...nodes.entries()].find(([id]) => id !== leaderId())!;
    await down.close();
    nodes.delete(downId);
    const leader = nodes.get(leaderId()!)!;
    await until('the leader to notice', () => leader.group.node.status().progress?.[downId]?.recentActive === false, 10_000);
    const live = [...nodes.keys()].find((id) => id !== leaderId())!;
    await assert.rejects(leader.cluster.removeNode(live), (e: unknown) => e instanceof ConcordError && e.status === 412 && /quorum needs 2/.test(e.message));
    assert.ok(leader.group.node.confState().voters.includes(live), 'nothing changed');
    // Removing the dead one is fine: two live voters remain, a majority of two.
    await leader.cluster.removeNode(downId);
    await until('the dead voter removed', () => !leader.group.node.confState().voters.includes(downId));
  });
});

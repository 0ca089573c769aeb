// A data dir whose Raft log is in Concord 0.1's LMDB format is refused, with the way to move it,
// rather than started without its log (which would drop acknowledged writes).
import { it } from 'node:test';
import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { pino } from 'pino';
import { startNodeCore } from '../../src/node/node-core.ts';
import { tempDir } from '../../testkit/temp.ts';
import { clusterConfigs } from '../../testkit/node-configs.ts';

it('a node refuses a data dir holding a Raft log in the LMDB format, and says how to move it', async () => {
  const dir = tempDir('legacy');
  try {
    const [cfg] = await clusterConfigs(1, dir);
    fs.mkdirSync(path.join(cfg.dataDir, 'raft'), { recursive: true });
    fs.writeFileSync(path.join(cfg.dataDir, 'raft', 'data.mdb'), 'an LMDB file of Concord 0.1');
    await assert.rejects(startNodeCore(cfg, pino({ level: 'silent' })), /LMDB format of Concord 0\.1.*concord backup --out FILE.*concord restore FILE/s);
    assert.equal(fs.existsSync(path.join(cfg.dataDir, 'wal')), false, 'nothing was created next to it');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
});

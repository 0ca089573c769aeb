// The npm package as another project uses it: `npm pack` in this checkout (its prepack builds dist/pkg),
// the tarball installed into an empty project (dependencies from npm's cache where it has them), a 3-node
// cluster started with the installed package's own `concord` — no TypeScript loader, no bundler installed —
// and the script from docs/client.md run against it over HTTP and gRPC, with every node and with one killed,
// then type-checked against the package's declarations.
import { after, before, describe, it } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort } from '../../testkit/ports.ts';
import { ProcCluster, type ProcNode } from '../../testkit/processes.ts';

const run = promisify(execFile);
const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '../..');
const pkg = JSON.parse(fs.readFileSync(path.join(root, 'package.json'), 'utf8')) as { name: string; version: string };

/** The guide's script: the first ```js block after "## A script" in docs/client.md. */
function guideScript(): string {
  const guide = fs.readFileSync(path.join(root, 'docs', 'client.md'), 'utf8');
  const m = /## A script[\s\S]*?```js\n([\s\S]*?)```/.exec(guide);
  assert.ok(m, 'docs/client.md has a script');
  return m[1];
}

describe('the npm package, installed into an empty project', () => {
  const c = new ProcCluster();
  const project = path.join(c.dir, 'consumer');
  let files: string[] = [];
  let nodes: ProcNode[] = [];
  const grpcEndpoints: string[] = [];

  before(async () => {
    fs.mkdirSync(project, { recursive: true });
    await run('npm', ['pack', '--pack-destination', c.dir], { cwd: root, maxBuffer: 64 << 20 });
    const tarball = path.join(c.dir, `${pkg.name.replace('@', '').replace('/', '-')}-${pkg.version}.tgz`);
    files = (await run('tar', ['tzf', tarball], { maxBuffer: 64 << 20 })).stdout.split('\n').filter(Boolean);
    fs.writeFileSync(path.join(project, 'package.json'), JSON.stringify({ name: 'consumer', private: true, type: 'module' }));
    await run('npm', ['install', '--prefer-offline', '--no-audit', '--no-fund', tarball], { cwd: project, maxBuffer: 64 << 20 });
    const bin = path.join(project, 'node_modules', ...pkg.name.split('/'), 'bin', 'concord.js');
    const ids = ['n1', 'n2', 'n3'];
    const ports = await Promise.all(ids.map(async () => ({ raft: await freePort(), http: await freePort(), grpc: await freePort() })));
    const peers = ids.map((id, i) => `${id}=127.0.0.1:${ports[i].raft}`).join(',');
    nodes = ids.map((id, i) => {
      const { raft, http, grpc } = ports[i];
      grpcEndpoints.push(`grpc://127.0.0.1:${grpc}`);
      const args = ['server', '--node-id', id, '--raft-addr', `127.0.0.1:${raft}`, '--http-addr', `127.0.0.1:${http}`, '--grpc-addr', `127.0.0.1:${grpc}`, '--peers', peers];
      return c.add(id, args, `http://127.0.0.1:${http}`, project, bin);
    });
    await Promise.all(nodes.map((n) => c.waitHealthy(n)));
    await c.leader();
  });
  after(async () => c.stop());

  it('ships the built JavaScript, types, bin and the client guide; no sources, tests or bench results', () => {
    for (const f of ['package/bin/concord.js', 'package/dist/pkg/client.mjs', 'package/dist/pkg/server.mjs', 'package/dist/pkg/cli.mjs', 'package/dist/pkg/types/client/index.d.ts', 'package/docs/client.md', 'package/proto/concord.proto']) {
      assert.ok(files.includes(f), `${f} is in the tarball`);
    }
    assert.deepEqual(files.filter((f) => /^package\/(src|test|bench|chaos|examples)\//.test(f)), []);
  });

  it('installs without a TypeScript loader or bundler: tsx and esbuild are development dependencies', () => {
    for (const dev of ['tsx', 'esbuild', 'typescript']) assert.equal(fs.existsSync(path.join(project, 'node_modules', dev)), false, `${dev} installed`);
  });

  it('the guide\'s script talks to a cluster started from the installed package, over HTTP and over gRPC, and goes on with a node killed', async () => {
    fs.writeFileSync(path.join(project, 'demo.mjs'), guideScript());
    const demo = async (endpoints: string[]) => (await run(process.execPath, ['demo.mjs', ...endpoints], { cwd: project, timeout: 60_000 })).stdout;
    const expected = /^greeting = hello from a script \(revision \d+\)\nlisted greeting\nleader: n[123]\n$/;
    for (const endpoints of [nodes.map((n) => n.url), grpcEndpoints]) assert.match(await demo(endpoints), expected, endpoints.join());
    // The first endpoint dead: the client goes to the next.
    await c.kill9(nodes[0]);
    await c.leader(15_000);
    for (const endpoints of [nodes.map((n) => n.url), grpcEndpoints]) assert.match(await demo(endpoints), expected, `${endpoints.join()} without n1`);
  });

  it('the script type-checks against the package\'s declarations (strict, no skipLibCheck); a wrong type does not', async () => {
    const tsc = path.join(root, 'node_modules', 'typescript', 'bin', 'tsc');
    const flags = ['--noEmit', '--strict', '--module', 'NodeNext', '--moduleResolution', 'NodeNext', '--target', 'ES2022', '--types', 'node', '--typeRoots', path.join(root, 'node_modules', '@types')];
    fs.writeFileSync(path.join(project, 'demo.ts'), guideScript().replace('${kv.key} = ${kv.value}', '${kv?.key} = ${kv?.value}'));
    await run(process.execPath, [tsc, ...flags, 'demo.ts'], { cwd: project });
    fs.writeFileSync(path.join(project, 'wrong.ts'), "import { createClient } from '@concord-kv/concord';\nconst n: string = await createClient({ endpoints: ['a:1'] }).put('k', 'v');\n");
    await assert.rejects(run(process.execPath, [tsc, ...flags, 'wrong.ts'], { cwd: project }), (e: { stdout?: string }) => /Type 'number' is not assignable to type 'string'/.test(e.stdout ?? ''));
  });

  it('the server entry runs a node inside a program', async () => {
    const [raft, http] = [await freePort(), await freePort()];
    const script = [
      "import { nodeConfig, startNode } from '@concord-kv/concord/server';",
      "import { createClient } from '@concord-kv/concord';",
      `const node = await startNode(nodeConfig({ nodeId: 'e1', raftAddr: '127.0.0.1:${raft}', httpAddr: '127.0.0.1:${http}', grpcAddr: 'off', bootstrap: true, dataDir: 'embedded', logLevel: 'silent' }));`,
      'const client = createClient({ endpoints: [node.httpUrl] });',
      "await client.put('in', 'process');",
      "console.log(String((await client.get('in')).value));",
      'client.close();',
      'await node.close();',
    ].join('\n');
    fs.writeFileSync(path.join(project, 'embed.mjs'), script);
    assert.equal((await run(process.execPath, ['embed.mjs'], { cwd: project, timeout: 60_000 })).stdout, 'process\n');
  });
});

// The launcher runs the CLI from a bundle of the sources (bin/bundle.js): built on the first start after any
// change to src/, found by later starts, and when it cannot be built, the sources run through tsx instead.
// Each test works on a copy of the launcher with its own src/ and dist/, never on this checkout's.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { BIN } from './helpers.ts';
// @ts-expect-error: a plain JavaScript module without types
import { bundledEntry } from '../../bin/bundle.js';

const run = promisify(execFile);
const ROOT = path.join(path.dirname(BIN), '..');

/** A package with the launcher and a one-line CLI printing `text`; node_modules is this checkout's. */
function project(t: { after: (f: () => void) => void }, text: string): { root: string; setText: (s: string) => void } {
  const root = fs.mkdtempSync(path.join(os.tmpdir(), 'concord-bundle-'));
  t.after(() => fs.rmSync(root, { recursive: true, force: true }));
  fs.mkdirSync(path.join(root, 'bin'));
  for (const f of ['concord.js', 'bundle.js']) fs.copyFileSync(path.join(ROOT, 'bin', f), path.join(root, 'bin', f));
  fs.symlinkSync(path.join(ROOT, 'node_modules'), path.join(root, 'node_modules'));
  fs.writeFileSync(path.join(root, 'package.json'), '{"type":"module"}');
  fs.mkdirSync(path.join(root, 'src', 'cli'), { recursive: true });
  const setText = (s: string) => fs.writeFileSync(path.join(root, 'src', 'cli', 'main.ts'), `const where: string = new Error().stack ?? '';\nconsole.log(${JSON.stringify(s)}, where.includes('main.ts') ? 'main.ts' : where);\n`);
  setText(text);
  return { root, setText };
}

const bundles = (root: string) => (fs.existsSync(path.join(root, 'dist')) ? fs.readdirSync(path.join(root, 'dist')).sort() : []);
const launch = async (root: string) => (await run(process.execPath, [path.join(root, 'bin', 'concord.js')])).stdout;

test('the first start builds a bundle named after the sources, later starts run it, a change builds a new one', async (t) => {
  const { root, setText } = project(t, 'one');
  assert.equal(await launch(root), 'one main.ts\n', 'ran, with stack traces naming the source file');
  const first = bundles(root);
  assert.equal(first.length, 2, `${first}`); // the bundle and its source map
  assert.match(first[0], /^concord-[0-9a-f]{16}\.mjs$/);
  const built = fs.statSync(path.join(root, 'dist', first[0])).mtimeMs;
  assert.equal(await launch(root), 'one main.ts\n');
  assert.equal(fs.statSync(path.join(root, 'dist', first[0])).mtimeMs, built, 'not rebuilt');
  setText('two');
  assert.equal(await launch(root), 'two main.ts\n', 'the changed source runs');
  const second = bundles(root);
  assert.equal(second.length, 2, `only the new bundle and its map are left: ${second}`);
  assert.notEqual(second[0], first[0]);
});

test('processes starting at once all run, whoever builds the bundle', async (t) => {
  const { root } = project(t, 'many');
  const outs = await Promise.all(Array.from({ length: 4 }, () => launch(root)));
  assert.deepEqual(outs, Array(4).fill('many main.ts\n'));
  assert.equal(bundles(root).length, 2, `${bundles(root)}`);
});

test('where no bundle can be built, the sources run through tsx', async (t) => {
  const { root } = project(t, 'fallback');
  fs.writeFileSync(path.join(root, 'dist'), 'a file where the directory should be');
  assert.equal(await bundledEntry(root), undefined);
  assert.equal(await launch(root), 'fallback main.ts\n');
});

test('this checkout runs from its bundle', async () => {
  const entry = (await bundledEntry()) as string | undefined;
  assert.ok(entry && entry.startsWith(path.join(ROOT, 'dist', 'concord-')), `${entry}`);
});

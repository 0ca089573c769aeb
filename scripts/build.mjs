// npm run build (run by npm pack through prepack): the package's plain JavaScript and its types, in dist/pkg.
//   dist/pkg/cli.mjs     the `concord` command (bin/concord.js runs it where the sources are not shipped)
//   dist/pkg/client.mjs  the client: the package's main entry
//   dist/pkg/server.mjs  run a node inside a program
//   dist/pkg/types/      declarations for the client and server entries
// Dependencies stay external (node_modules); code shared by the entries goes in chunks, so a program that
// imports only the client loads none of the node's storage, Raft or HTTP server.

import { execFileSync } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';
import { BUILD_OPTIONS } from '../bin/bundle.js';

const root = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
const out = path.join(root, 'dist', 'pkg');

fs.rmSync(out, { recursive: true, force: true });
await build({
  ...BUILD_OPTIONS,
  sourcemap: false,
  logLevel: 'warning',
  entryPoints: { cli: 'src/cli/main.ts', client: 'src/client/index.ts', server: 'src/server.ts' },
  absWorkingDir: root,
  outdir: out,
  outExtension: { '.js': '.mjs' },
  splitting: true,
  chunkNames: 'chunks/[name]-[hash]',
});

const tsc = createRequire(import.meta.url).resolve('typescript/bin/tsc');
execFileSync(process.execPath, [tsc, '-p', path.join(root, 'tsconfig.build.json')], { stdio: 'inherit', cwd: root });

// The sources import each other as './x.ts'; their declarations are './x.d.ts', which './x.js' names.
const types = path.join(out, 'types');
for (const f of fs.readdirSync(types, { recursive: true }).map(String)) {
  if (!f.endsWith('.d.ts')) continue;
  const file = path.join(types, f);
  const text = fs.readFileSync(file, 'utf8');
  const fixed = text.replace(/((?:from|import)\s*\(?\s*['"])(\.{1,2}\/[^'"]+)\.ts(['"])/g, '$1$2.js$3');
  if (fixed !== text) fs.writeFileSync(file, fixed);
}
console.error(`built ${path.relative(root, out)}`);

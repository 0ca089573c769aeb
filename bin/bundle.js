// The CLI as one JavaScript file, built from src/ by esbuild: the launcher (concord.js) runs it instead of
// the TypeScript sources, because loading ~150 modules through tsx's loader took ~0.7 s of every process's
// start (one server from spawn to /health: 1.58 s through tsx, 0.87 s from the bundle).
//
// The bundle is named after a hash of every file under src/, so a change to any of them (an edit, a git
// checkout) means a new name: the first start after it builds the bundle (~0.3 s), later ones find it.
// Processes starting at once may each build it; each writes its own temporary file and renames it into
// place, so none ever imports a half-written one. Dependencies stay in node_modules (not bundled).

import { createHash } from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/** The package: src/ holds the sources, the bundle goes in dist/. */
const ROOT = path.join(path.dirname(fileURLToPath(import.meta.url)), '..');
/** Part of the hash: a change to how the bundle is built must also give it a new name. */
export const BUILD_OPTIONS = {
  bundle: true,
  platform: 'node',
  format: 'esm',
  target: 'node20',
  packages: 'external',
  // As tsx compiles: names of functions and classes are kept (error names, logs).
  keepNames: true,
  sourcemap: 'linked',
  logLevel: 'silent',
};

function sourceHash(src) {
  const hash = createHash('sha256').update(JSON.stringify(BUILD_OPTIONS));
  const files = fs.readdirSync(src, { recursive: true }).map(String).filter((f) => !f.endsWith('.md')).sort();
  for (const f of files) {
    const file = path.join(src, f);
    if (!fs.statSync(file).isFile()) continue;
    hash.update(f).update('\0').update(fs.readFileSync(file)).update('\0');
  }
  return hash.digest('hex').slice(0, 16);
}

/**
 * The path of an up-to-date bundle, built now if there is none; undefined if it cannot be built (no
 * esbuild, a read-only install): the caller then runs the sources through tsx.
 */
export async function bundledEntry(root = ROOT) {
  const dist = path.join(root, 'dist');
  try {
    const name = `concord-${sourceHash(path.join(root, 'src'))}.mjs`;
    const file = path.join(dist, name);
    if (fs.existsSync(file)) return file;
    const { build } = await import('esbuild');
    fs.mkdirSync(dist, { recursive: true });
    const tmp = path.join(dist, `${name}.${process.pid}.tmp`);
    const result = await build({ ...BUILD_OPTIONS, entryPoints: [path.join(root, 'src', 'cli', 'main.ts')], outfile: tmp, write: false });
    const map = result.outputFiles.find((o) => o.path.endsWith('.map'));
    const code = result.outputFiles.find((o) => o !== map);
    // The map goes in first: once the bundle is in place, another process may run it (and need the map).
    put(`${file}.map`, map.text);
    put(file, code.text.replace(`${path.basename(tmp)}.map`, `${name}.map`));
    removeOtherBundles(dist, name);
    return file;
  } catch {
    return undefined;
  }
}

function put(file, text) {
  fs.writeFileSync(`${file}.${process.pid}`, text);
  fs.renameSync(`${file}.${process.pid}`, file);
}

/** Bundles of earlier sources (a process still running one has loaded it whole; its map may go). */
function removeOtherBundles(dist, keep) {
  for (const f of fs.readdirSync(dist)) {
    if (f.startsWith('concord-') && !f.startsWith(keep)) fs.rmSync(path.join(dist, f), { force: true });
  }
}

#!/usr/bin/env node
// The `concord` executable. The CLI is TypeScript. In a checkout it runs from a bundle of the sources
// (bundle.js says why and when it is rebuilt), or, where no bundle can be built, from the sources through
// tsx's loader. An installed package ships no sources: it runs the build that `npm pack` made (dist/pkg).
import fs from 'node:fs';

if (!fs.existsSync(new URL('../src/cli/main.ts', import.meta.url))) {
  await import('../dist/pkg/cli.mjs');
} else {
  const { bundledEntry } = await import('./bundle.js');
  const bundle = await bundledEntry();
  if (bundle) {
    process.setSourceMapsEnabled(true); // stack traces name src/*.ts, as under tsx
    await import(bundle);
  } else {
    let tsx;
    try {
      tsx = await import('tsx/esm/api');
    } catch {
      process.stderr.write('error: concord runs from its TypeScript sources here, and neither esbuild nor tsx is installed: run `npm install` (with the development dependencies) in this checkout\n');
      process.exit(1);
    }
    tsx.register();
    await import('../src/cli/main.ts');
  }
}

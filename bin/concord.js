#!/usr/bin/env node
// The `concord` executable. The CLI is TypeScript; it runs from a bundle of the sources (bundle.js says
// why and when it is rebuilt), or, where no bundle can be built, from the sources through tsx's loader.
import { bundledEntry } from './bundle.js';

const bundle = await bundledEntry();
if (bundle) {
  process.setSourceMapsEnabled(true); // stack traces name src/*.ts, as under tsx
  await import(bundle);
} else {
  const { register } = await import('tsx/esm/api');
  register();
  await import('../src/cli/main.ts');
}

#!/usr/bin/env node
// The `concord` executable: the CLI is TypeScript, run through tsx's loader (a runtime dependency).
import { register } from 'tsx/esm/api';

register();
await import('../src/cli/main.ts');

// Entry point of `concord` (bin/concord.js, from its bundle or through tsx): run the command line, print a failure
// as one `error: …` line, exit with its code (0 ok, 1 failed, 2 usage).

import { CommanderError } from 'commander';
import { CliError } from './errors.ts';
import { buildProgram } from './program.ts';

export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return typeof process.exitCode === 'number' ? process.exitCode : 0;
  } catch (e) {
    // commander has printed its own message (or the help) already.
    if (e instanceof CommanderError) return e.exitCode === 0 ? 0 : 2;
    if (e instanceof CliError) {
      process.stderr.write(`error: ${e.message}\n`);
      return e.exitCode;
    }
    process.stderr.write(`error: ${e instanceof Error ? e.message : String(e)}\n`);
    if (process.env.CONCORD_DEBUG) process.stderr.write(`${(e as Error)?.stack}\n`);
    return 1;
  }
}

const code = await main(process.argv.slice(2));
// Exit explicitly: fetch's keep-alive sockets would otherwise hold a finished client command open for seconds.
process.stdout.write('', () => process.exit(code));

// npm run chaos -- [--time SECONDS] [--nodes N] [--shards S] [--clients N] [--keys N] [--seed N] [--faults a,b] [--large-values SHARE] [--weak] [--out DIR]
// Prints one verdict line; exits 0 if the history is linearizable, 1 if not, 2 if it could not be decided.
import path from 'node:path';
import { Command, Option } from 'commander';
import { CHAOS_DEFAULTS, runChaos } from './runner.ts';
import { FAULT_KINDS, type FaultKind } from './nemesis.ts';

const d = CHAOS_DEFAULTS;
const int = (name: string, min: number) => (v: string) => {
  const n = Number(v);
  if (!Number.isInteger(n) || n < min) throw new Error(`--${name} must be an integer >= ${min} (got ${v})`);
  return n;
};
const program = new Command('chaos')
  .description('Jepsen-style test of a real Concord cluster: faults, a recorded history, a linearizability check')
  .addOption(new Option('--time <seconds>', 'how long the nemesis runs').default(d.seconds).argParser(int('time', 1)))
  .addOption(new Option('--nodes <n>', 'cluster size').default(d.nodes).argParser(int('nodes', 3)))
  .addOption(new Option('--shards <n>', 'the cluster\'s --shards').default(d.shards).argParser(int('shards', 1)))
  .addOption(new Option('--clients <n>', 'concurrent clients').default(d.clients).argParser(int('clients', 1)))
  .addOption(new Option('--keys <n>', 'keys the clients share').default(d.keys).argParser(int('keys', 1)))
  .addOption(new Option('--seed <n>', 'seed of the schedule (faults, clients\' choices)').default(d.seed).argParser(int('seed', 0)))
  .addOption(new Option('--faults <list>', `comma list of ${FAULT_KINDS.join(', ')}`).default(d.faults.join(',')))
  .addOption(new Option('--large-values <share>', 'share of writes (0..1) whose value is padded to just over 1 MiB (applied behind the Ready loop)').default(0).argParser((v) => {
    const n = Number(v);
    if (!(n >= 0 && n <= 1)) throw new Error(`--large-values must be between 0 and 1 (got ${v})`);
    return n;
  }))
  .addOption(new Option('--weak', 'deliberately weakened: serializable reads checked as linearizable (must be reported NOT linearizable)'))
  .addOption(new Option('--out <dir>', 'where history.json and timeline.html go (default: chaos/results/<time>)'))
  .parse();

const opts = program.opts<{ time: number; nodes: number; shards: number; clients: number; keys: number; seed: number; faults: string; largeValues: number; weak?: boolean; out?: string }>();
const faults = opts.faults.split(',').map((f) => f.trim()).filter(Boolean);
const unknown = faults.filter((f) => !(FAULT_KINDS as readonly string[]).includes(f));
if (unknown.length > 0) program.error(`unknown fault kinds: ${unknown.join(', ')} (known: ${FAULT_KINDS.join(', ')})`);
const out = opts.out ?? path.join('chaos', 'results', new Date().toISOString().replace(/[:.]/g, '-'));

const report = await runChaos({
  nodes: opts.nodes,
  shards: opts.shards,
  seconds: opts.time,
  clients: opts.clients,
  keys: opts.keys,
  seed: opts.seed,
  faults: faults as FaultKind[],
  weak: opts.weak ?? false,
  largeValues: opts.largeValues,
  out,
  log: (line) => console.error(line),
});
console.log(report.line);
process.exitCode = report.verdict === 'not linearizable' || report.watchProblems.length > 0 ? 1 : report.verdict === 'linearizable' && report.unansweredFinalReads === 0 ? 0 : 2;

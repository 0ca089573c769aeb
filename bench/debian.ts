// The benchmarks' reference tools come from Debian: installed with apt-get the first time they are missing.
import { execFileSync, spawnSync } from 'node:child_process';

/** Installs `packages` unless `command --version` runs. */
export function ensureDebianTool(command: string, packages: string[]): void {
  if (spawnSync(command, ['--version']).error === undefined) return;
  console.error(`installing ${command} (Debian package${packages.length > 1 ? 's' : ''} ${packages.join(', ')})…`);
  const env = { ...process.env, DEBIAN_FRONTEND: 'noninteractive' };
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit', env });
  execFileSync('apt-get', ['install', '-y', '-qq', ...packages], { stdio: 'inherit', env });
}

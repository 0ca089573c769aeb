// Storage reports repairs and refusals through the host's pino logger; without one, to stderr, so a
// repaired or refused log is never silent.

import { pino, type Logger } from 'pino';

export type StorageLogger = Pick<Logger, 'info' | 'warn' | 'error'>;

let fallbackLogger: StorageLogger | undefined;

export function defaultStorageLogger(): StorageLogger {
  return (fallbackLogger ??= pino({ name: 'concord-storage' }, pino.destination(2)));
}

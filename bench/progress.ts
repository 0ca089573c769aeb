// The progress a long benchmark writes to stderr, each line stamped with the seconds since it began, and the
// notes it collects for its report (each logged as it is made).

export function progress(name: string, width = 4) {
  const t0 = Date.now();
  const elapsedSec = () => (Date.now() - t0) / 1000;
  const log = (msg: string) => console.error(`[${name} ${elapsedSec().toFixed(0).padStart(width)} s] ${msg}`);
  const notes: string[] = [];
  const note = (msg: string) => {
    notes.push(msg);
    log(`NOTE: ${msg}`);
  };
  return { log, note, notes, elapsedSec };
}

// `concord dev` shows its children's logs on one terminal: each line prefixed with the node id, and pino's
// JSON turned into "LEVEL message key=value" so three nodes' output stays readable.

const LEVELS: Record<number, string> = { 10: 'TRACE', 20: 'DEBUG', 30: 'INFO', 40: 'WARN', 50: 'ERROR', 60: 'FATAL' };
/** Fields every line carries or the prefix already says. */
const NOISE = new Set(['level', 'time', 'pid', 'hostname', 'msg', 'node', 'v']);

function show(v: unknown): string {
  if (typeof v === 'string') return /[\s"]/.test(v) || v === '' ? JSON.stringify(v) : v;
  if (v !== null && typeof v === 'object' && 'message' in v && typeof v.message === 'string') return JSON.stringify(v.message);
  return JSON.stringify(v);
}

export function formatLogLine(line: string): string {
  if (!line.startsWith('{')) return line;
  let rec: Record<string, unknown>;
  try {
    rec = JSON.parse(line) as Record<string, unknown>;
  } catch {
    return line;
  }
  if (typeof rec.level !== 'number') return line;
  const extras = Object.entries(rec)
    .filter(([k]) => !NOISE.has(k))
    .map(([k, v]) => `${k}=${show(v)}`);
  return [(LEVELS[rec.level] ?? String(rec.level)).padEnd(5), String(rec.msg ?? ''), ...extras].join(' ');
}

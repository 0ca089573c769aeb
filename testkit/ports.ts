// Free TCP ports on 127.0.0.1 for servers that tests, benchmarks and chaos runs start.
import net from 'node:net';

/**
 * A port no server holds, for a test server to listen on. Taken from below Linux's ephemeral range
 * (32768–60999): a port from bind(0) is one the kernel may give next to an outgoing connection's local
 * end, or to another bind(0) once it is closed, before the server meant to have it binds it. Within one
 * process no port is handed out twice.
 */
export async function freePort(): Promise<number> {
  for (;;) {
    const port = FIRST_TEST_PORT + Math.floor(Math.random() * TEST_PORTS);
    if (handedOut.has(port)) continue;
    handedOut.add(port);
    if (await canListen(port)) return port;
  }
}

/** A port with `n - 1` free ports after it, for commands that number their ports from a base. */
export function freeRange(n: number): Promise<number> {
  return freeWithOffsets(Array.from({ length: n - 1 }, (_, i) => i + 1));
}

/** A free port p with p + each offset free too (all below the ephemeral range), for ports derived by offset. */
export async function freeWithOffsets(offsets: number[]): Promise<number> {
  const span = Math.max(0, ...offsets);
  for (;;) {
    const base = FIRST_TEST_PORT + Math.floor(Math.random() * (TEST_PORTS - span));
    const ports = [base, ...offsets.map((o) => base + o)];
    if (ports.some((p) => handedOut.has(p))) continue;
    for (const p of ports) handedOut.add(p);
    if ((await Promise.all(ports.map(canListen))).every(Boolean)) return base;
  }
}

const FIRST_TEST_PORT = 20_000;
const TEST_PORTS = 12_000;
const handedOut = new Set<number>();

function canListen(port: number): Promise<boolean> {
  return new Promise((resolve) => {
    const srv = net.createServer();
    srv.once('error', () => resolve(false));
    srv.listen(port, '127.0.0.1', () => srv.close(() => resolve(true)));
  });
}

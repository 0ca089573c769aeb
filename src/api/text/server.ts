// Seed 002's line protocol on its own TCP port: one command a line, one answer a line (RANGE: its lines,
// then END), answered in order, so many commands may be sent in one write (pipelining). Commands run one
// at a time per connection; what a client sends meanwhile waits in a bounded buffer, and reading pauses
// while the buffer is full or while the client is not reading its answers. Limits: a line longer than
// maxLineBytes is answered with an error and the connection closed (there is no telling where the next
// command starts); a connection idle for idleTimeoutMs — quiet, or stuck on a client that reads nothing —
// is closed. A client that half-closes (nc -N) gets its answers, a last line without its newline included,
// then the end of the connection.

import net from 'node:net';
import type { Logger } from 'pino';
import { ConcordError } from '../../util/errors.ts';
import type { KvService } from '../../kv/types.ts';
import { errorLine, execute } from './commands.ts';
import { splitWords, type TokenError } from './tokens.ts';

export interface TextLimits {
  /** Longest command line accepted, in bytes. */
  maxLineBytes: number;
  /** A connection with no traffic either way for this long is closed (answers the client leaves unread are no traffic). */
  idleTimeoutMs: number;
  /** Bytes received but not yet executed before reading pauses (at least one whole line fits). */
  maxPendingBytes: number;
}

export const DEFAULT_TEXT_LIMITS: TextLimits = { maxLineBytes: 1024 * 1024, idleTimeoutMs: 300_000, maxPendingBytes: 4 * 1024 * 1024 };

/** How long a connection closed for a fatal error still reads (and drops) what its client sends. */
const DISCARD_GRACE_MS = 1000;

/** Answers waiting in the socket past this pause the command loop until the client reads them. */
const HIGH_WATER = 1024 * 1024;

export interface TextServer {
  /** host:port actually bound. */
  address: string;
  close(): Promise<void>;
}

export async function startTextServer(o: { kv: KvService; host: string; port: number; logger: Logger; limits?: Partial<TextLimits> }): Promise<TextServer> {
  const limits = { ...DEFAULT_TEXT_LIMITS, ...o.limits };
  const sockets = new Set<net.Socket>();
  const server = net.createServer({ allowHalfOpen: true }, (socket) => {
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
    new TextConnection(socket, o.kv, limits, o.logger);
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(o.port, o.host, () => {
      server.off('error', reject);
      resolve();
    });
  });
  server.on('error', (err) => o.logger.error({ err }, 'text protocol listener error'));
  const addr = server.address() as net.AddressInfo;
  return {
    address: `${o.host.includes(':') ? `[${o.host}]` : o.host}:${addr.port}`,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        for (const s of sockets) s.destroy();
      }),
  };
}

class TextConnection {
  /** Received bytes not yet taken as lines, from `pos` on. */
  private buf: Buffer = Buffer.alloc(0);
  private pos = 0;
  private running = false;
  private ended = false;
  /** After a fatal error: what the client still sends is dropped until it ends or a grace period passes. */
  private discarding = false;
  /** When bytes last arrived, or the kernel last took some of our answers. */
  private lastTraffic = performance.now();
  private readonly traffic = (): void => {
    this.lastTraffic = performance.now();
  };

  constructor(
    private readonly socket: net.Socket,
    private readonly kv: KvService,
    private readonly limits: TextLimits,
    private readonly log: Logger,
  ) {
    socket.setNoDelay(true);
    socket.on('error', () => socket.destroy()); // a reset by the client: nothing to answer
    socket.on('data', (chunk: Buffer) => {
      this.lastTraffic = performance.now();
      this.receive(chunk);
    });
    this.watchIdle(limits.idleTimeoutMs);
    socket.on('end', () => {
      this.ended = true;
      this.pump();
    });
  }

  /**
   * Closes the connection once idleMs pass without traffic. Not socket.setTimeout: that counts a write
   * call as activity and lets its first expiry pass while a write is pending, so a client that reads
   * nothing kept its connection for up to twice the timeout.
   */
  private watchIdle(idleMs: number): void {
    let timer: NodeJS.Timeout;
    const check = () => {
      const left = this.lastTraffic + idleMs - performance.now();
      if (left > 0) {
        timer = setTimeout(check, left);
        return;
      }
      this.log.debug({ remote: this.socket.remoteAddress, port: this.socket.remotePort, idleMs, unread: this.socket.writableLength }, 'text connection idle: closed');
      this.socket.destroy();
    };
    timer = setTimeout(check, idleMs);
    this.socket.once('close', () => clearTimeout(timer));
  }

  private get pending(): number {
    return this.buf.length - this.pos;
  }

  private receive(chunk: Buffer): void {
    if (this.discarding) return;
    this.buf = this.pending === 0 ? chunk : Buffer.concat([this.buf.subarray(this.pos), chunk]);
    this.pos = 0;
    if (this.pending > this.limits.maxPendingBytes) this.socket.pause();
    this.pump();
  }

  /** The next complete line (without CR LF), or undefined; throws when a line outgrows the limit. */
  private nextLine(): Buffer | undefined {
    const nl = this.buf.indexOf(0x0a, this.pos);
    if (nl < 0) {
      if (this.pending > this.limits.maxLineBytes) throw tooLong(this.limits.maxLineBytes);
      if (!this.ended || this.pending === 0) return undefined;
      // The client half-closed after a last line without its newline (printf 'READ k' | nc -N): that is a command too.
      const last = this.buf.subarray(this.pos, this.buf[this.buf.length - 1] === 0x0d ? this.buf.length - 1 : this.buf.length);
      this.pos = this.buf.length;
      return last;
    }
    const line = this.buf.subarray(this.pos, nl > this.pos && this.buf[nl - 1] === 0x0d ? nl - 1 : nl);
    this.pos = nl + 1;
    if (line.length > this.limits.maxLineBytes) throw tooLong(this.limits.maxLineBytes);
    return line;
  }

  private pump(): void {
    if (this.running) return;
    this.running = true;
    void this.run().finally(() => (this.running = false));
  }

  private async run(): Promise<void> {
    for (;;) {
      let line: Buffer | undefined;
      try {
        line = this.nextLine();
      } catch (e) {
        this.closeAfter(errorLine(e));
        return;
      }
      if (line === undefined) break;
      await this.answer(line);
      if (this.socket.destroyed) return;
    }
    if (this.socket.isPaused()) this.socket.resume(); // every whole line is answered: room for more
    if (this.ended) this.socket.end(); // the client is done sending and every command is answered
  }

  /**
   * A last answer, then the end of the connection. Reading goes on, discarding, for a moment: closing a
   * socket with unread input resets the connection, and a reset can destroy the answer before it is read.
   */
  private closeAfter(last: string): void {
    this.discarding = true;
    this.buf = Buffer.alloc(0);
    this.pos = 0;
    this.socket.resume();
    this.socket.end(`${last}\n`);
    setTimeout(() => this.socket.destroy(), DISCARD_GRACE_MS).unref();
  }

  private async answer(line: Buffer): Promise<void> {
    let words: Buffer[];
    try {
      words = splitWords(line);
    } catch (e) {
      await this.write(`ERR bad-request: ${(e as TokenError).message}`);
      return;
    }
    if (words.length === 0) return; // a blank line, as a person at a prompt may send
    try {
      for await (const out of execute(this.kv, words)) await this.write(out);
    } catch (e) {
      if (!(e instanceof ConcordError)) this.log.error({ err: e }, 'text command failed');
      await this.write(errorLine(e));
    }
  }

  /** One answer line; waits while the client has not read the answers before it. */
  private async write(text: string): Promise<void> {
    if (this.socket.destroyed) return;
    this.socket.write(`${text}\n`, this.traffic);
    if (this.socket.writableLength > HIGH_WATER) {
      this.socket.pause();
      await new Promise<void>((resolve) => {
        const done = () => {
          this.socket.off('drain', done).off('close', done);
          resolve();
        };
        this.socket.on('drain', done).on('close', done);
      });
    }
  }
}

const tooLong = (max: number) => new ConcordError('too-large', `a line may hold at most ${max} bytes; send larger values through the HTTP API`);

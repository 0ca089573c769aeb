// gRPC spoken as raw HTTP/2, so that nothing smooths the bytes over: for tests that send what a real
// client never would (lying lengths, undecodable messages, wrong content types).
import http2 from 'node:http2';

export interface RawAnswer {
  httpStatus: number;
  grpcStatus?: number;
  message?: string;
}

/** A gRPC frame: compressed flag, big-endian length, then the bytes (a declared length may lie). */
export function frame(body: Buffer, opts: { declared?: number; compressed?: boolean } = {}): Buffer {
  const head = Buffer.alloc(5);
  head[0] = opts.compressed ? 1 : 0;
  head.writeUInt32BE(opts.declared ?? body.length, 1);
  return Buffer.concat([head, body]);
}

/** One call as raw HTTP/2: headers, then `send` writes the body; resolves with the status however it came (headers or trailers). */
export function rawCall(address: string, path: string, send: (req: http2.ClientHttp2Stream) => void, headers: http2.OutgoingHttpHeaders = {}): Promise<RawAnswer> {
  const session = http2.connect(`http://${address}`);
  return new Promise<RawAnswer>((resolve, reject) => {
    session.on('error', reject);
    const req = session.request({ ':method': 'POST', ':path': path, 'content-type': 'application/grpc', te: 'trailers', ...headers });
    const answer: RawAnswer = { httpStatus: 0 };
    const take = (h: http2.IncomingHttpHeaders) => {
      if (h['grpc-status'] !== undefined) answer.grpcStatus = Number(h['grpc-status']);
      if (h['grpc-message'] !== undefined) answer.message = decodeURIComponent(String(h['grpc-message']));
    };
    req.on('response', (h) => {
      answer.httpStatus = Number(h[':status']);
      take(h);
    });
    req.on('trailers', take);
    req.on('data', () => undefined);
    req.on('error', () => resolve(answer));
    req.on('close', () => resolve(answer));
    send(req);
  }).finally(() => session.close());
}

/**
 * Real sockets on loopback for connection failures. nock's `replyWithError` reaches a `node:http`
 * request only when one nock copy patches `node:http`; Jest loads a copy per test file into the same
 * worker, so socket errors are tested against real sockets instead.
 */
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import nock from 'nock';

/** A server that drops the first `drops` connections, then answers every request with `reply`. */
export async function droppingServer(drops: number, reply: unknown): Promise<{ url: string; requests: () => number; close: () => Promise<void> }> {
  let requests = 0;
  const server: Server = createServer((req, res) => {
    requests += 1;
    if (requests <= drops) {
      req.socket.destroy();
      return;
    }
    const body = JSON.stringify(reply);
    res.writeHead(200, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) }).end(body);
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  nock.enableNetConnect('127.0.0.1');
  return {
    url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
    requests: () => requests,
    close: async () => {
      nock.disableNetConnect();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

/** A loopback URL nothing listens on: connecting is refused. */
export async function refusingUrl(): Promise<string> {
  const server = createServer();
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;
  await new Promise<void>((resolve) => server.close(() => resolve()));
  nock.enableNetConnect('127.0.0.1');
  return `http://127.0.0.1:${port}`;
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

// A TCP proxy on 127.0.0.1 in front of a sample, with real sockets both ways, so a test can cut a client's connection
// the way a network does: `cut()` resets both sides at once, with no WebSocket close frame. While `refusing`, new
// connections are reset as soon as they arrive (a network that is still down).

import { connect as connectTcp, createServer } from 'node:net';

/** @param {number} targetPort */
export async function startProxy(targetPort) {
  /** @type {Set<import('node:net').Socket>} */
  const sockets = new Set();
  const state = { refusing: false };
  const server = createServer((client) => {
    if (state.refusing) {
      client.resetAndDestroy();
      return;
    }
    const upstream = connectTcp(targetPort, '127.0.0.1');
    for (const socket of [client, upstream]) {
      sockets.add(socket);
      socket.setNoDelay(true);
      socket.on('close', () => sockets.delete(socket));
      socket.on('error', () => { client.destroy(); upstream.destroy(); });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise((resolveListen) => server.listen(0, '127.0.0.1', () => resolveListen(undefined)));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  return {
    port,
    wsUrl: `ws://127.0.0.1:${port}`,
    /** Resets every connection through the proxy; returns how many sockets were cut. */
    cut() {
      const count = sockets.size;
      for (const socket of sockets) socket.resetAndDestroy();
      sockets.clear();
      return count;
    },
    /** @param {boolean} refusing */
    refuse(refusing) { state.refusing = refusing; },
    async stop() {
      this.cut();
      await new Promise((resolveClose) => server.close(() => resolveClose(undefined)));
    },
  };
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

// The client's resume protocol against a real EchoServer with Resume on, through a loopback TCP proxy the test owns:
// a cut mid-stream is resumed with every message delivered once and in order, those broadcast while the client was away
// included; a session that lapsed is refused with 4004 and the client starts a fresh one at once.

import assert from 'node:assert/strict';
import { after, afterEach, before, describe, it } from 'node:test';
import { connect } from '../src/index.js';
import { closeClients, fastClock, recorder } from './support/fakes.js';
import { startProxy } from './support/proxy.js';
import { httpRequest, startSample, stats, waitFor } from './support/servers.js';

afterEach(closeClients);

const userConnections = async (server, user) =>
  (await stats(server.httpUrl)).users.find((/** @type {any} */ u) => u.user === user)?.connections ?? 0;

/** Broadcasts `texts` in order through the EchoServer's /broadcast. */
async function broadcast(server, texts) {
  for (const text of texts) {
    const response = await httpRequest(`${server.httpUrl}/broadcast?text=${encodeURIComponent(text)}`, { method: 'POST' });
    assert.equal(response.status, 200, response.body);
  }
}

const range = (from, to) => Array.from({ length: to - from + 1 }, (_, i) => `b${from + i}`);

describe('resume', () => {
  /** @type {Awaited<ReturnType<typeof startSample>>} */
  let server;
  /** @type {Awaited<ReturnType<typeof startProxy>>} */
  let proxy;
  before(async () => {
    server = await startSample('EchoServer', { args: ['--WebSocketPool:Resume:Enabled=true', '--WebSocketPool:Resume:Window=00:00:02'] });
    proxy = await startProxy(Number(new URL(server.httpUrl).port));
  });
  after(async () => {
    // The clients' closing handshakes finish before the proxy goes: cutting a socket that is closing can leave Node
    // 20's WebSocket spinning, and the test process would not exit.
    if (server) {
      await waitFor(async () => (await userConnections(server, 'resumer')) === 0 && (await userConnections(server, 'lapsed')) === 0,
        'the clients to finish closing', 10_000).catch(() => {});
    }
    await proxy?.stop();
    await server?.stop();
  });

  it('resumes a cut connection: every message once and in order, those sent while away included', async () => {
    const client = connect(`${proxy.wsUrl}/ws?user=resumer`, { resume: true, clock: fastClock() });
    const events = recorder(client);
    const first = await events.until('open');
    assert.equal(first.resumed, false);
    assert.equal(client.resumable, true);
    assert.equal(client.protocol, '', 'the EchoServer speaks no subprotocol of its own');

    await broadcast(server, range(1, 150));
    await waitFor(() => events.of('message').length >= 50, 'the first messages');
    assert.ok(proxy.cut() > 0);
    await broadcast(server, range(151, 300));

    const second = await events.until('open', () => true, 1);
    assert.equal(second.resumed, true, 'the same session goes on');
    await broadcast(server, range(301, 350));
    await waitFor(() => events.of('message').length >= 350, 'every message');
    assert.deepEqual(events.of('message').map((m) => m.data), range(1, 350));
    assert.equal(events.of('reconnecting')[0].code, 1006);
    assert.equal(await userConnections(server, 'resumer'), 1);
  });

  it('starts a fresh session at once when the held one lapsed (4004)', async () => {
    const client = connect(`${proxy.wsUrl}/ws?user=lapsed`, { resume: true, clock: fastClock() });
    const events = recorder(client);
    await events.until('open');
    proxy.refuse(true);
    proxy.cut();
    // The network stays down past the 2 s window: the server releases the session.
    await waitFor(async () => (await userConnections(server, 'lapsed')) === 0, 'the held session to lapse', 30_000);
    proxy.refuse(false);

    const reopened = await events.until('open', () => true, 1, 30_000);
    assert.equal(reopened.resumed, false, 'a new session: the app resynchronises');
    assert.ok(events.of('reconnecting').some((r) => r.code === 4004 && r.class === 'prompt'), JSON.stringify(events.of('reconnecting')));
    client.send('fresh');
    const echo = await events.until('message', (m) => m.data === 'fresh');
    assert.equal(echo.data, 'fresh');
  });
});

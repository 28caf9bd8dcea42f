// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

// The samples as child processes, started the way a user runs them (`dotnet X.dll --urls http://127.0.0.1:PORT …`) from
// the solution's build output: the tests run after `dotnet build WebSocketPool.sln`.

import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer, request } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

const repoRoot = resolve(dirname(fileURLToPath(import.meta.url)), '../../../..');
const configuration = process.env.WEBSOCKETPOOL_CONFIGURATION || 'Debug';

/** A free loopback port: bound and let go, as the .NET test support does. */
export async function freePort() {
  const server = createServer();
  await new Promise((resolveListen) => server.listen(0, '127.0.0.1', () => resolveListen(undefined)));
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : 0;
  await new Promise((resolveClose) => server.close(() => resolveClose(undefined)));
  return port;
}

/**
 * Starts a sample (`EchoServer` or `ChatServer`) on 127.0.0.1:port and waits until it listens.
 *
 * @param {'EchoServer' | 'ChatServer'} name
 * @param {{ port?: number, args?: string[], startDeadlineMs?: number }} [options]
 */
export async function startSample(name, options = {}) {
  const dll = join(repoRoot, 'samples', name, 'bin', configuration, 'net10.0', `${name}.dll`);
  if (!existsSync(dll)) throw new Error(`${dll} is missing: build the solution first (dotnet build WebSocketPool.sln).`);
  const port = options.port ?? await freePort();
  // As the .NET tests run it: an empty working directory (the sample finds its own settings and page) and a private
  // HOME for the ChatServer's data-protection keys, production settings whatever this shell says.
  const home = mkdtempSync(join(tmpdir(), `wsp-${name.toLowerCase()}-`));
  const env = { ...process.env, HOME: home, DOTNET_CLI_TELEMETRY_OPTOUT: '1' };
  delete env.ASPNETCORE_ENVIRONMENT;
  delete env.DOTNET_ENVIRONMENT;
  delete env.ASPNETCORE_URLS;
  const args = [dll, '--urls', `http://127.0.0.1:${port}`, ...(options.args ?? [])];
  const child = spawn('dotnet', args, { cwd: home, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let output = '';
  let exited = false;
  /** @type {Promise<number | null>} */
  const exit = new Promise((resolveExit) => child.on('exit', (code) => { exited = true; resolveExit(code); }));

  const listening = new Promise((resolveListening, reject) => {
    const onData = (/** @type {Buffer} */ chunk) => {
      output = (output + chunk.toString()).slice(-20_000);
      if (output.includes(`Now listening on: http://127.0.0.1:${port}`)) resolveListening(undefined);
    };
    child.stdout.on('data', onData);
    child.stderr.on('data', onData);
    void exit.then((code) => reject(new Error(`${name} exited (${code}) while starting:\n${output}`)));
  });
  const deadline = options.startDeadlineMs ?? 60_000;
  let timer;
  try {
    await Promise.race([
      listening,
      new Promise((_, reject) => { timer = setTimeout(() => reject(new Error(`${name} did not listen within ${deadline} ms:\n${output}`)), deadline); }),
    ]);
  } catch (error) {
    child.kill('SIGKILL');
    await exit;
    rmSync(home, { recursive: true, force: true });
    throw error;
  } finally {
    clearTimeout(timer);
  }

  const ending = async (/** @type {NodeJS.Signals} */ signal) => {
    if (!exited) child.kill(signal);
    let killTimer;
    await Promise.race([exit, new Promise((resolveWait) => { killTimer = setTimeout(resolveWait, 20_000); })]);
    clearTimeout(killTimer);
    if (!exited) {
      child.kill('SIGKILL');
      await exit;
    }
    rmSync(home, { recursive: true, force: true });
  };

  return {
    port,
    httpUrl: `http://127.0.0.1:${port}`,
    wsUrl: `ws://127.0.0.1:${port}`,
    /** SIGTERM, as a service manager stops it: the pool closes every socket with 1001. */
    stop: () => ending('SIGTERM'),
    /** SIGKILL, a crash: every socket drops (1006). */
    kill: () => ending('SIGKILL'),
    output: () => output,
  };
}

/**
 * A plain HTTP request from Node (no Origin, no Sec-Fetch-Site: a non-browser client, as the samples' contract has it).
 *
 * @param {string} url
 * @param {{ method?: string, headers?: Record<string, string>, body?: string }} [options]
 * @returns {Promise<{ status: number, headers: import('node:http').IncomingHttpHeaders, body: string }>}
 */
export function httpRequest(url, options = {}) {
  return new Promise((resolveRequest, reject) => {
    const req = request(url, { method: options.method ?? 'GET', headers: options.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (chunk) => { body += chunk; });
      res.on('end', () => resolveRequest({ status: res.statusCode ?? 0, headers: res.headers, body }));
    });
    req.setTimeout(30_000, () => req.destroy(new Error(`${url} did not answer within 30 s`)));
    req.on('error', reject);
    req.end(options.body);
  });
}

/** Signs in to the ChatServer (POST /login, a plain form) and returns the Cookie header for the user. */
export async function chatLogin(baseUrl, name) {
  const response = await httpRequest(`${baseUrl}/login`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ name }).toString(),
  });
  if (response.status !== 302) throw new Error(`login answered ${response.status}: ${response.body}`);
  const cookies = response.headers['set-cookie'] ?? [];
  return cookies.map((c) => c.split(';')[0]).join('; ');
}

/** The pool's /stats of a sample. */
export async function stats(baseUrl) {
  const response = await httpRequest(`${baseUrl}/stats`);
  return JSON.parse(response.body);
}

/**
 * Waits until `condition()` is truthy, checking every 25 ms, for at most `timeoutMs`; throws with `what` otherwise.
 *
 * @template T
 * @param {() => T | Promise<T>} condition
 * @param {string} what
 * @param {number} [timeoutMs]
 * @returns {Promise<T>}
 */
export async function waitFor(condition, what, timeoutMs = 20_000) {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const value = await condition();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`Timed out after ${timeoutMs} ms waiting for ${what}.`);
    await new Promise((resolveTick) => setTimeout(resolveTick, 25));
  }
}

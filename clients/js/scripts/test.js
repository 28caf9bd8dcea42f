// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

// Runs the tests with Node's test runner: every test/*.test.js, one file at a time (the integration files start
// .NET servers; a small machine should not start them all at once). Node 20 has a global WebSocket only behind
// --experimental-websocket; later versions have it by default. Output is TAP ("# pass N" / "# fail N" at the end)
// when it goes to a pipe or a file, as scripts that count results expect, and the spec reporter on a terminal.

import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const major = Number(process.versions.node.split('.')[0]);
if (major < 20) {
  console.error(`Node ${process.versions.node} has no WebSocket; the client's tests need Node 20 or later.`);
  process.exit(1);
}

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const files = readdirSync(join(root, 'test')).filter((f) => f.endsWith('.test.js')).sort().map((f) => join('test', f));
const args = [];
if (typeof globalThis.WebSocket !== 'function') args.push('--experimental-websocket');
// A test file's process ends once its tests have, even if a socket is left spinning: Node 20's WebSocket can busy-loop
// after a proxy resets a connection that is closing (test/resume.test.js cuts sockets on purpose), and a file that never
// exits would hang the whole run. Available from Node 20.14 and 22.
const minor = Number(process.versions.node.split('.')[1]);
if ((major === 20 && minor >= 14) || major >= 22) args.push('--test-force-exit');
args.push('--test', '--test-concurrency=1', `--test-reporter=${process.stdout.isTTY ? 'spec' : 'tap'}`, ...process.argv.slice(2), ...files);
const result = spawnSync(process.execPath, args, { cwd: root, stdio: 'inherit' });
process.exit(result.status ?? 1);

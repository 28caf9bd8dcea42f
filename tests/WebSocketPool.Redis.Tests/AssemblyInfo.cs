// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

// One redis-server and several Kestrel nodes per test: test classes must not compete for a 2-core machine.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

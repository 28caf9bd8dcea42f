// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

// Socket-heavy test classes must not compete with each other for a 2-core machine's CPU and ports.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

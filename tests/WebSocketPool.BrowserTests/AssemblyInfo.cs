// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

// Each test starts its own server process and browser pages: running them one at a time keeps a 2-core machine calm.
[assembly: CollectionBehavior(DisableTestParallelization = true)]

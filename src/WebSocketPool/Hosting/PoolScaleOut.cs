// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Hosting;

namespace WebSocketPool.Internal;

/// <summary>A named pool's gate and sender, and the lifecycle the pool's hosted service runs with the pool's own.</summary>
internal sealed record PoolScaleOut(IWebSocketAdmissionGate Gate, IWebSocketSender Sender, IHostedLifecycleService Lifecycle);

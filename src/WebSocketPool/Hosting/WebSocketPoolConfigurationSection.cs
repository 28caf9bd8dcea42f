// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Configuration;

namespace WebSocketPool.Internal;

/// <summary>Where the pools' options are bound from (the <c>WebSocketPool</c> section, or the one given to <c>AddWebSocketPooling</c>), so that named pools find their <c>Pools:{name}</c> subsection.</summary>
internal sealed class WebSocketPoolConfigurationSection(Func<IServiceProvider, IConfiguration?> resolve)
{
    public IConfiguration? Resolve(IServiceProvider services) => resolve(services);
}

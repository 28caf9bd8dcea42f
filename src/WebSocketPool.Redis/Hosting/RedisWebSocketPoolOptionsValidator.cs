// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Options;

namespace WebSocketPool.Redis.Internal;

[OptionsValidator]
internal sealed partial class RedisWebSocketPoolOptionsValidator : IValidateOptions<RedisWebSocketPoolOptions>
{
}

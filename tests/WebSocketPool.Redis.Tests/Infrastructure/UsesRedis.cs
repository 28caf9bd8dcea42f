// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace WebSocketPool.Redis.Tests.Infrastructure;

/// <summary>The xunit collection of every test class that shares the assembly's redis-server.</summary>
[CollectionDefinition(Name)]
public sealed class UsesRedis : ICollectionFixture<RedisServerFixture>
{
    public const string Name = "redis";
}

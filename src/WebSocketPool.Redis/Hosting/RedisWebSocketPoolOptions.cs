// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.ComponentModel.DataAnnotations;

namespace WebSocketPool.Redis;

/// <summary>
/// Options of the Redis scale-out, validated when the host starts. Bound from a configuration section (conventionally
/// <c>Redis</c>) by <c>AddRedis(IConfiguration)</c>, where an unknown key is an error.
/// </summary>
public sealed class RedisWebSocketPoolOptions
{
    /// <summary>The conventional configuration section name.</summary>
    public const string SectionName = "Redis";

    /// <summary>
    /// Gets or sets the StackExchange.Redis configuration string, for example <c>127.0.0.1:6379</c> or
    /// <c>redis1:6379,redis2:6379,password=…,ssl=true</c>. Required unless an existing multiplexer is passed to <c>AddRedis</c>.
    /// </summary>
    /// <value>The default is <see langword="null"/>.</value>
    public string? Configuration { get; set; }

    /// <summary>
    /// Gets or sets the prefix of every key and channel, so that several apps (or environments) can share one Redis.
    /// Nodes of one cluster must use the same prefix. Letters, digits and <c>_ . : -</c>, at most 64 characters.
    /// </summary>
    /// <value>The default is <c>websocketpool</c>.</value>
    [Required]
    [RegularExpression("^[A-Za-z0-9_.:-]{1,64}$", ErrorMessage = "Prefix must be 1-64 letters, digits, '_', '.', ':' or '-'.")]
    public string Prefix { get; set; } = "websocketpool";

    /// <summary>
    /// Gets or sets how long a connection's lease lives in Redis without renewal. Nodes renew their live leases about
    /// every third of it; a node that dies stops renewing, and its users' slots come back within this time.
    /// </summary>
    /// <value>The default is 15 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:01", "01:00:00", ErrorMessage = "LeaseTtl must be between 00:00:01 and 01:00:00.")]
    public TimeSpan LeaseTtl { get; set; } = TimeSpan.FromSeconds(15);

    /// <summary>Gets or sets what admission does while Redis cannot be reached.</summary>
    /// <value>The default is <see cref="RedisFailurePolicy.FailOpen"/>.</value>
    [EnumDataType(typeof(RedisFailurePolicy))]
    public RedisFailurePolicy FailurePolicy { get; set; } = RedisFailurePolicy.FailOpen;

    /// <summary>
    /// Gets or sets how long an admission, preview, presence query or connection-targeted send waits for Redis before
    /// treating it as unavailable. At most half of <see cref="LeaseTtl"/>.
    /// </summary>
    /// <value>The default is 1 second.</value>
    [Range(typeof(TimeSpan), "00:00:00.050", "00:00:30", ErrorMessage = "OperationTimeout must be between 00:00:00.050 and 00:00:30.")]
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Gets or sets how long admissions, previews and presence queries stop asking Redis after it failed or timed out
    /// repeatedly (half of at least four calls within ten seconds). While the circuit is open the failure policy applies
    /// at once instead of after <see cref="OperationTimeout"/> per handshake; after the break one call probes Redis, and
    /// a node's successful heartbeat closes the circuit early.
    /// </summary>
    /// <value>The default is 5 seconds.</value>
    [Range(typeof(TimeSpan), "00:00:00.500", "00:05:00", ErrorMessage = "BreakDuration must be between 00:00:00.500 and 00:05:00.")]
    public TimeSpan BreakDuration { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>
    /// Gets or sets how many publications to other nodes (and presence announcements) may wait for Redis's answer at
    /// once. When Redis is slow and this many wait, further cross-node sends are refused at once rather than queued:
    /// <c>SendToConnectionAsync</c> answers <see cref="SendResult.NotFound"/>, group changes answer
    /// <see langword="false"/>, and fan-out sends deliver on this node only (each refusal is counted in
    /// <c>websocketpool.redis.publish.rejected</c>). Memory held for publications stays below this many messages.
    /// </summary>
    /// <value>The default is 4096.</value>
    [Range(1, 1_000_000, ErrorMessage = "MaxInFlightPublishes must be between 1 and 1000000.")]
    public int MaxInFlightPublishes { get; set; } = 4096;
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Net.WebSockets;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace WebSocketPool.Redis.Internal;

/// <summary>
/// Handles what arrives on the bus, one channel's messages at a time and in order. Every message is counted (bytes, by
/// kind of channel) and checked: it must decode, carry what its kind needs, and belong on the channel it came by (a
/// user's send on that user's channel, a connection's request on its node's channel). Anything else is malformed:
/// logged and counted, and the next message is handled as usual. Nothing is ever thrown back into the Redis client.
/// </summary>
internal sealed partial class BusReceiver(RedisBus bus, IWebSocketSender local, PresenceFeed presence, RedisWebSocketPoolMetrics metrics, ILogger logger)
{
    public async Task OnMessageAsync(ChannelMessage received)
    {
        try
        {
            var kind = bus.Channels.KindOf(received.Channel);
            var data = (byte[]?)received.Message;
            metrics.Received(kind, data?.Length ?? 0);
            if (kind == "presence")
            {
                if (data is null || !await presence.DeliverAsync(data).ConfigureAwait(false))
                {
                    Malformed();
                }

                return;
            }

            if (data is null || !BusMessage.TryDecode(data, out var message) || !BelongsOn(kind, received.Channel, message))
            {
                Malformed();
                return;
            }

            await HandleAsync(message).ConfigureAwait(false);
        }
#pragma warning disable CA1031 // One bad message or failed delivery must not stop the subscription or reach the client.
        catch (Exception ex)
#pragma warning restore CA1031
        {
            Log.DeliveryFailed(logger, ex);
        }
    }

    private async Task HandleAsync(BusMessage message)
    {
        var own = string.Equals(message.Origin, bus.NodeId, StringComparison.Ordinal);
        if (message.Kind == BusMessageKind.Probe)
        {
            if (own)
            {
                bus.Probe.Heard(message.Code);
            }

            return;
        }

        if (own)
        {
            return; // delivered locally before it was published
        }

        metrics.Received();
        var type = message.Code == (int)WebSocketMessageType.Binary ? WebSocketMessageType.Binary : WebSocketMessageType.Text;
        switch (message.Kind)
        {
            case BusMessageKind.User:
                await local.SendToUserAsync(message.Target, message.Payload, type).ConfigureAwait(false);
                break;
            case BusMessageKind.Group:
                await local.SendToGroupAsync(message.Target, message.Payload, type).ConfigureAwait(false);
                break;
            case BusMessageKind.All:
                await local.SendToAllAsync(message.Payload, type).ConfigureAwait(false);
                break;
            case BusMessageKind.KickUser:
                await local.DisconnectUserAsync(message.Target, message.Code, message.Text).ConfigureAwait(false);
                break;
            case BusMessageKind.Connection:
                await local.SendToConnectionAsync(message.Target, message.Payload, type).ConfigureAwait(false);
                break;
            case BusMessageKind.KickConnection:
                await local.DisconnectConnectionAsync(message.Target, message.Code, message.Text).ConfigureAwait(false);
                break;
            case BusMessageKind.AddToGroup:
                Answer(message, await bus.Interests.JoinAsync(message.Target, message.Text!).ConfigureAwait(false));
                break;
            case BusMessageKind.RemoveFromGroup:
                Answer(message, await bus.Interests.LeaveAsync(message.Target, message.Text!).ConfigureAwait(false));
                break;
            case BusMessageKind.GroupAck:
                bus.Acks.Complete(message.Code, message.Payload.Span[0] == 1);
                break;
        }
    }

    /// <summary>Tells the asking node that its group change is made (when it asked for an answer).</summary>
    private void Answer(in BusMessage request, bool done)
    {
        if (request.Code > 0)
        {
            var ack = new BusMessage(BusMessageKind.GroupAck, bus.NodeId, request.Target, request.Code, null, new[] { (byte)(done ? 1 : 0) });
            bus.Publish(bus.Channels.Node(request.Origin), ack);
        }
    }

    /// <summary>A message belongs on the channel of its target: a user's send on that user's channel, and so on.</summary>
    private bool BelongsOn(string channelKind, RedisChannel channel, in BusMessage message) => channelKind switch
    {
        "all" => message.Kind == BusMessageKind.All,
        "user" => message.Kind is BusMessageKind.User or BusMessageKind.KickUser
            && string.Equals(channel.ToString(), bus.Channels.User(message.Target), StringComparison.Ordinal),
        "group" => message.Kind == BusMessageKind.Group
            && string.Equals(channel.ToString(), bus.Channels.Group(message.Target), StringComparison.Ordinal),
        "node" => message.Kind is BusMessageKind.Connection or BusMessageKind.KickConnection or BusMessageKind.AddToGroup
            or BusMessageKind.RemoveFromGroup or BusMessageKind.GroupAck or BusMessageKind.Probe,
        _ => false,
    };

    private void Malformed()
    {
        metrics.Malformed();
        Log.Malformed(logger);
    }

    private static partial class Log
    {
        [LoggerMessage(221, LogLevel.Warning, "Ignored a malformed message on the WebSocket scale-out bus.", EventName = "RedisBusMalformed")]
        public static partial void Malformed(ILogger logger);

        [LoggerMessage(222, LogLevel.Error, "Delivering a message from another node failed.", EventName = "RedisBusDeliveryFailed")]
        public static partial void DeliveryFailed(ILogger logger, Exception exception);
    }
}

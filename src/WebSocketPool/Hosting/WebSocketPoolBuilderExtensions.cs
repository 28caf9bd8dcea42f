// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.DependencyInjection.Extensions;
using WebSocketPool;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registrations that chain after <c>AddWebSocketPooling</c>.</summary>
public static class WebSocketPoolBuilderExtensions
{
    /// <summary>Registers the app's handler (a singleton) for every pooled connection, replacing the default that ignores messages.</summary>
    /// <typeparam name="THandler">The handler type.</typeparam>
    /// <param name="builder">The pool builder.</param>
    /// <returns>The builder, for chaining.</returns>
    public static IWebSocketPoolBuilder AddHandler<THandler>(this IWebSocketPoolBuilder builder)
        where THandler : WebSocketHandler
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.TryAddSingleton<THandler>();
        builder.Services.Replace(ServiceDescriptor.Singleton<WebSocketHandler>(static sp => sp.GetRequiredService<THandler>()));
        return builder;
    }

    /// <summary>Replaces how requests are mapped to user keys (the default uses the authenticated user's claims).</summary>
    /// <typeparam name="TResolver">The resolver type.</typeparam>
    /// <param name="builder">The pool builder.</param>
    /// <returns>The builder, for chaining.</returns>
    public static IWebSocketPoolBuilder AddUserKeyResolver<TResolver>(this IWebSocketPoolBuilder builder)
        where TResolver : class, IUserKeyResolver
    {
        ArgumentNullException.ThrowIfNull(builder);
        builder.Services.Replace(ServiceDescriptor.Singleton<IUserKeyResolver, TResolver>());
        return builder;
    }
}

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.Options;

namespace WebSocketPool.Internal;

/// <summary>Checks the data annotations of <see cref="WebSocketPoolOptions"/> (generated at compile time).</summary>
[OptionsValidator]
internal sealed partial class WebSocketPoolOptionsValidator : IValidateOptions<WebSocketPoolOptions>
{
}

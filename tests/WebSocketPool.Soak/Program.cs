// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using WebSocketPool.Soak;

SoakOptions options;
try
{
    options = SoakOptions.Parse(args);
}
catch (Exception ex) when (ex is ArgumentException or FormatException or UriFormatException)
{
    Console.Error.WriteLine(ex.Message);
    Console.Error.WriteLine(SoakOptions.Usage);
    return 64;
}

return options.Mode == "hold"
    ? await ConnectionHolder.RunAsync(options)
    : await new SoakRunner(options).RunAsync();

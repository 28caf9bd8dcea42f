// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

namespace LoadHarness.Client;

/// <summary>Optional inputs of the report: micro-benchmark and footprint summaries, the README to update, the commit, and a note on the conditions.</summary>
internal sealed record ReportInputs(string? MicroFile, string? FootprintFile, string? Readme, string? Commit, string? Note);

// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using System.Reflection;

namespace WebSocketPool.Tests.Leasing;

/// <summary>
/// What an app can reach of the pool. Reserving a slot, previewing, recording refusals and draining are the middleware's
/// and the host's plumbing: an app that could call the reservation twice, or reserve without committing or abandoning,
/// would lock its user out for good. Apps get counts, the snapshot, the connections, kicks and the near-limit event.
/// </summary>
public sealed class PublicSurfaceTests
{
    private static readonly Assembly s_library = typeof(PooledWebSocketManagerFactory).Assembly;

    [Fact]
    public void Factory_PublicMembers_AreCountsSnapshotConnectionsAndKicksOnly()
    {
        // Act
        var members = typeof(PooledWebSocketManagerFactory)
            .GetMembers(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly)
            .Where(m => m is not MethodInfo { IsSpecialName: true })
            .Select(m => m.Name)
            .Distinct()
            .Order(StringComparer.Ordinal);

        // Assert: plus which pool it is and its per-user limit, which a handler shared by several pools reads.
        members.Should().Equal(
            "ActiveConnections", "DisconnectConnection", "DisconnectUser", "Dispose", "GetConnectionCount", "GetConnections",
            "GetSnapshot", "IsDraining", "MaxConnectionsPerUser", "NodeId", "PoolName", "TryGetConnection", "UserNearLimit");
    }

    [Theory]
    [InlineData("TryAdmit")]
    [InlineData("Preview")]
    [InlineData("Abandon")]
    [InlineData("RecordRejection")]
    [InlineData("BeginDrain")]
    [InlineData("DrainAsync")]
    public void Factory_ReservationPreviewRejectionAndDrainPlumbing_IsNotPublic(string name)
    {
        // Act
        var methods = typeof(PooledWebSocketManagerFactory).GetMethods(BindingFlags.Public | BindingFlags.NonPublic | BindingFlags.Instance)
            .Where(m => m.Name == name)
            .ToList();

        // Assert
        methods.Should().NotBeEmpty("the pool still has it, for its middleware and host");
        methods.Should().OnlyContain(m => !m.IsPublic && !m.IsFamily && !m.IsFamilyOrAssembly, "an app must not reach it");
    }

    [Theory]
    [InlineData("WebSocketPool.WebSocketAdmission")]
    [InlineData("WebSocketPool.IsolatedWebSocketManager")]
    public void ReservationAndManagerTypes_AreNotExported(string typeName)
    {
        // Act
        var type = s_library.GetType(typeName, throwOnError: true)!;

        // Assert
        type.IsPublic.Should().BeFalse("no public member takes or returns it");
        s_library.GetExportedTypes().Should().NotContain(type);
    }

    [Fact]
    public void ExportedTypes_PublicSignatures_UseOnlyExportedTypesOfTheLibrary()
    {
        // Arrange
        var exported = s_library.GetExportedTypes().ToHashSet();

        // Act: every library type named in a public signature
        var named = exported
            .SelectMany(t => t.GetMembers(BindingFlags.Public | BindingFlags.Instance | BindingFlags.Static | BindingFlags.DeclaredOnly))
            .SelectMany(SignatureTypes)
            .Select(t => t.IsByRef || t.IsArray ? t.GetElementType()! : t)
            .Where(t => !t.IsGenericParameter && t.Assembly == s_library)
            .Distinct();

        // Assert
        named.Should().OnlyContain(t => exported.Contains(t));
    }

    private static IEnumerable<Type> SignatureTypes(MemberInfo member) => member switch
    {
        MethodInfo m => m.GetParameters().Select(p => p.ParameterType).Append(m.ReturnType),
        ConstructorInfo c => c.GetParameters().Select(p => p.ParameterType),
        PropertyInfo p => [p.PropertyType],
        FieldInfo f => [f.FieldType],
        EventInfo e => [e.EventHandlerType!],
        _ => [],
    };
}

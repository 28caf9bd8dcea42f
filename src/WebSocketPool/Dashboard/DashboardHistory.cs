// Copyright (c) WebSocketPool contributors. Licensed under the MIT License.

using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace WebSocketPool.Internal;

/// <summary>
/// The dashboard's chart data: a ring of samples of the pool (open connections, users, refusals by reason and evictions
/// since start) taken every <see cref="WebSocketPoolDashboardOptions.SampleInterval"/> on a <see cref="TimeProvider"/>
/// timer, allocated once when the first dashboard is mapped. Kept on the server rather than accumulated by the page so
/// that a reload, or a second operator opening the page, sees the last minutes at once. Refusals are kept as running
/// totals; the page draws the difference between neighbouring samples.
/// </summary>
internal sealed class DashboardHistory(PooledWebSocketManagerFactory factory, TimeProvider timeProvider) : IDisposable
{
    public const int MaxSamples = 10_000;

    private readonly PooledWebSocketManagerFactory _factory = factory;
    private readonly TimeProvider _timeProvider = timeProvider;
    private readonly Lock _sync = new();
    private ITimer? _timer;
    private TimeSpan _interval;
    private long[] _times = [];
    private int[] _connections = [];
    private int[] _users = [];
    private long[] _evicted = [];
    private long[] _rejected = [];
    private int _next;
    private int _count;

    public static IReadOnlyList<string> Reasons => RejectionReasons.All;

    /// <summary>
    /// The ring of <paramref name="pool"/>: the default pool's is the app's service; a named pool's is made for its first
    /// dashboard and kept on the pool, and its timer ends with the app.
    /// </summary>
    public static DashboardHistory For(WebSocketPoolInstance pool, IServiceProvider services)
    {
        if (pool.Name == WebSocketPoolOptions.DefaultPoolName)
        {
            return services.GetRequiredService<DashboardHistory>();
        }

        return pool.GetOrAddFeature(() =>
        {
            var history = new DashboardHistory(pool.Factory, services.GetRequiredService<TimeProvider>());
            services.GetRequiredService<IHostApplicationLifetime>().ApplicationStopped.Register(history.Dispose);
            return history;
        });
    }

    public TimeSpan Interval => _interval;

    public static void Validate(WebSocketPoolDashboardOptions options)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(options.SampleInterval, TimeSpan.FromSeconds(1), nameof(options.SampleInterval));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.History, options.SampleInterval, nameof(options.History));
        ArgumentOutOfRangeException.ThrowIfGreaterThan(options.History / options.SampleInterval, MaxSamples, nameof(options.History));
        ArgumentOutOfRangeException.ThrowIfLessThan(options.RefreshInterval, TimeSpan.FromMilliseconds(250), nameof(options.RefreshInterval));
    }

    /// <summary>Allocates the ring and starts sampling; a second dashboard shares the first one's ring.</summary>
    public void Start(TimeSpan interval, TimeSpan history)
    {
        lock (_sync)
        {
            if (_timer is not null)
            {
                return;
            }

            var capacity = (int)Math.Max(1, history / interval);
            _interval = interval;
            _times = new long[capacity];
            _connections = new int[capacity];
            _users = new int[capacity];
            _evicted = new long[capacity];
            _rejected = new long[capacity * Reasons.Count];
            _timer = _timeProvider.CreateTimer(static s => ((DashboardHistory)s!).Sample(), this, TimeSpan.Zero, interval);
        }
    }

    /// <summary>Records the pool as it is now; a failure (which would be a bug) costs one sample, never the timer.</summary>
    public void Sample() => SafeDiagnostics.Run(static (self, _) => self.Record(DashboardPoint.Now(self._factory, self._timeProvider)), this, 0);

    /// <summary>The samples, oldest first.</summary>
    public DashboardPoint[] Read()
    {
        lock (_sync)
        {
            var points = new DashboardPoint[_count];
            var capacity = _times.Length;
            var first = (_next - _count + capacity) % Math.Max(1, capacity);
            for (var i = 0; i < _count; i++)
            {
                var at = (first + i) % capacity;
                var rejected = new long[Reasons.Count];
                Array.Copy(_rejected, at * Reasons.Count, rejected, 0, rejected.Length);
                points[i] = new DashboardPoint(_times[at], _connections[at], _users[at], _evicted[at], rejected);
            }

            return points;
        }
    }

    public void Dispose()
    {
        lock (_sync)
        {
            _timer?.Dispose();
        }
    }

    private void Record(DashboardPoint point)
    {
        lock (_sync)
        {
            var capacity = _times.Length;
            if (capacity == 0)
            {
                return;
            }

            _times[_next] = point.Time;
            _connections[_next] = point.Connections;
            _users[_next] = point.Users;
            _evicted[_next] = point.Evicted;
            point.Rejected.CopyTo(_rejected, _next * Reasons.Count);
            _next = (_next + 1) % capacity;
            _count = Math.Min(_count + 1, capacity);
        }
    }
}

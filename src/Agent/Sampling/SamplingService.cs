using System.Diagnostics;
using EfaAgent.Agent.Options;
using EfaAgent.Collectors;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;

namespace EfaAgent.Agent.Sampling;

/// <summary>
/// The sampling loop. On its own thread, every <see cref="AgentOptions.SampleInterval"/>: let each
/// collector read its hardware, publish each finished frame into the <see cref="SnapshotStore"/>,
/// and record the agent's own metrics. Every <see cref="AgentOptions.DiscoveryInterval"/> (or sooner
/// when a collector asks) it runs discovery. A collector that throws is logged once when it starts
/// failing and once when it recovers, counted, and tried again on the next tick; the loop goes on.
/// </summary>
public sealed partial class SamplingService : BackgroundService
{
    private readonly IReadOnlyList<ICollector> _collectors;
    private readonly AgentOptions _options;
    private readonly SnapshotStore _store;
    private readonly SelfMetrics _self;
    private readonly ILogger<SamplingService> _logger;
    private readonly bool[] _sampleFailing;
    private readonly bool[] _discoveryFailing;
    private long _lastTickTimestamp;

    /// <summary>Creates the loop over <paramref name="collectors"/>; the store holds one source per collector plus one for the agent's own metrics.</summary>
    public SamplingService(IReadOnlyList<ICollector> collectors, AgentOptions options, SnapshotStore store, SelfMetrics self, ILogger<SamplingService> logger)
    {
        _collectors = collectors;
        _options = options;
        _store = store;
        _self = self;
        _logger = logger;
        _sampleFailing = new bool[collectors.Count];
        _discoveryFailing = new bool[collectors.Count];
    }

    /// <summary>The store index of the agent's own metrics.</summary>
    public int SelfSource => _collectors.Count;

    /// <summary>True while ticks complete on time: the last one ended within three intervals (at least 2 s).</summary>
    public bool IsHealthy
    {
        get
        {
            var last = Volatile.Read(ref _lastTickTimestamp);
            if (last == 0)
            {
                return false;
            }

            var limit = Math.Max(3 * _options.SampleInterval.TotalSeconds, 2.0);
            return Stopwatch.GetElapsedTime(last).TotalSeconds < limit;
        }
    }

    /// <summary>Completes when the first tick has been published.</summary>
    public Task FirstTick => _firstTick.Task;

    private readonly TaskCompletionSource _firstTick = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <inheritdoc />
    protected override Task ExecuteAsync(CancellationToken stoppingToken)
    {
        var done = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var thread = new Thread(() =>
        {
            try
            {
                Loop(stoppingToken);
                done.SetResult();
            }
#pragma warning disable CA1031 // the loop's last line of defence: report, never crash the host silently
            catch (Exception e)
#pragma warning restore CA1031
            {
                LogLoopCrashed(e);
                done.SetException(e);
            }
        })
        {
            IsBackground = true,
            Name = "efa-agent-sampler",
        };
        thread.Start();
        return done.Task;
    }

    private void Loop(CancellationToken stop)
    {
        var interval = _options.SampleInterval;
        var intervalTicks = (long)(interval.TotalSeconds * Stopwatch.Frequency);
        var discoveryTicks = (long)(_options.DiscoveryInterval.TotalSeconds * Stopwatch.Frequency);
        LogStarted(string.Join(", ", _collectors.Select(c => c.Name)), interval.TotalMilliseconds, _options.DiscoveryInterval.TotalSeconds);

        DiscoverAll(force: true);
        var lastDiscovery = Stopwatch.GetTimestamp();
        var next = Stopwatch.GetTimestamp();
        while (!stop.IsCancellationRequested)
        {
            var tickStart = Stopwatch.GetTimestamp();
            if (tickStart - lastDiscovery >= discoveryTicks)
            {
                DiscoverAll(force: true);
                lastDiscovery = tickStart;
            }
            else
            {
                DiscoverAll(force: false);
            }

            for (var i = 0; i < _collectors.Count; i++)
            {
                SampleOne(i, tickStart);
            }

            var tickEnd = Stopwatch.GetTimestamp();
            var overrun = tickEnd - tickStart > intervalTicks;
            _self.RecordTick(Stopwatch.GetElapsedTime(tickStart, tickEnd).TotalSeconds, overrun, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0);
            _store.Publish(SelfSource, _self.Frame);
            _store.Commit();
            Volatile.Write(ref _lastTickTimestamp, tickEnd);
            _firstTick.TrySetResult();

            next += intervalTicks;
            var now = Stopwatch.GetTimestamp();
            if (next <= now)
            {
                // Behind schedule (a slow tick or a paused process): skip the missed ticks, do not burst.
                next = now + intervalTicks;
            }

            var waitMs = (int)Math.Ceiling((next - now) * 1000.0 / Stopwatch.Frequency);
            if (stop.WaitHandle.WaitOne(waitMs))
            {
                break;
            }
        }

        LogStopped();
    }

    private void DiscoverAll(bool force)
    {
        for (var i = 0; i < _collectors.Count; i++)
        {
            var c = _collectors[i];
            if (!force && !c.NeedsDiscovery)
            {
                continue;
            }

            if (!Run(static c => c.Discover(), c, c.Name, ref _discoveryFailing[i], discovery: true))
            {
                _self.RecordCollector(i, success: false, 0, c.DeviceCount, failedNow: true);
            }
        }
    }

    private void SampleOne(int i, long timestamp)
    {
        var c = _collectors[i];
        var start = Stopwatch.GetTimestamp();
        var ok = Run(static s => s.Collector.Sample(s.Timestamp), (Collector: c, Timestamp: timestamp), c.Name, ref _sampleFailing[i], discovery: false);
        _self.RecordCollector(i, ok && !_discoveryFailing[i], Stopwatch.GetElapsedTime(start).TotalSeconds, c.DeviceCount, failedNow: !ok);
        _store.Publish(i, c.Frame);
    }

    /// <summary>
    /// Runs one step of a collector; a failure is logged when it starts and a recovery when it ends,
    /// never on every tick. Returns whether the step worked. The step is a static lambda over a
    /// value-type state, so a tick allocates no closure.
    /// </summary>
    private bool Run<TState>(Action<TState> step, TState state, string collector, ref bool failing, bool discovery)
    {
        try
        {
            step(state);
        }
#pragma warning disable CA1031 // a collector's failure must not stop the others
        catch (Exception e)
#pragma warning restore CA1031
        {
            if (!failing)
            {
                failing = true;
                if (discovery)
                {
                    LogDiscoveryFailed(collector, e.Message, e);
                }
                else
                {
                    LogSampleFailed(collector, e.Message, e);
                }
            }

            return false;
        }

        if (failing)
        {
            failing = false;
            if (discovery)
            {
                LogDiscoveryRecovered(collector);
            }
            else
            {
                LogSampleRecovered(collector);
            }
        }

        return true;
    }

    [LoggerMessage(EventId = 100, Level = LogLevel.Information, Message = "sampling {Collectors} every {IntervalMs} ms; discovery every {DiscoverySeconds} s")]
    private partial void LogStarted(string collectors, double intervalMs, double discoverySeconds);

    [LoggerMessage(EventId = 101, Level = LogLevel.Information, Message = "sampling stopped")]
    private partial void LogStopped();

    [LoggerMessage(EventId = 110, Level = LogLevel.Error, Message = "{Collector}: sampling failed: {Reason}; the other collectors go on, retrying every tick")]
    private partial void LogSampleFailed(string collector, string reason, Exception e);

    [LoggerMessage(EventId = 111, Level = LogLevel.Information, Message = "{Collector}: sampling works again")]
    private partial void LogSampleRecovered(string collector);

    [LoggerMessage(EventId = 120, Level = LogLevel.Error, Message = "{Collector}: discovery failed: {Reason}; retrying on the discovery interval")]
    private partial void LogDiscoveryFailed(string collector, string reason, Exception e);

    [LoggerMessage(EventId = 121, Level = LogLevel.Information, Message = "{Collector}: discovery works again")]
    private partial void LogDiscoveryRecovered(string collector);

    [LoggerMessage(EventId = 190, Level = LogLevel.Critical, Message = "the sampling loop crashed")]
    private partial void LogLoopCrashed(Exception e);
}

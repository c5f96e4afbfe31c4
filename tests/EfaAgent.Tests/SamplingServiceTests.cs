using System.Diagnostics;
using EfaAgent.Agent.Options;
using EfaAgent.Agent.Sampling;
using EfaAgent.Collectors;
using EfaAgent.Collectors.Model;
using EfaAgent.Tests.Support;
using Microsoft.Extensions.Logging;

namespace EfaAgent.Tests;

/// <summary>The sampling loop keeps going whatever a collector does, and says so in its own metrics.</summary>
public sealed class SamplingServiceTests
{
    private static readonly MetricFamily Value = new("test_value", "A test value.", MetricType.Gauge);

    [Fact]
    public async Task A_failing_collector_is_logged_once_counted_and_retried_while_the_others_go_on()
    {
        var broken = new ScriptedCollector("broken") { FailSamples = true };
        var healthy = new ScriptedCollector("healthy");
        var options = OptionsLoader.Load(["--sample.interval=20ms"], _ => null).Options!;
        var store = new SnapshotStore(3);
        var self = new SelfMetrics(["broken", "healthy"], options.SampleInterval, null, null);
        var logger = new TypedListLogger<SamplingService>();
        using var service = new SamplingService([broken, healthy], options, store, self, logger);

        await service.StartAsync(CancellationToken.None);
        await WaitUntil(() => broken.Samples >= 10 && healthy.Samples >= 10);
        var whileBroken = Self(store);
        broken.FailSamples = false;
        var failedSamples = broken.Samples;
        await WaitUntil(() => broken.Samples >= failedSamples + 5);
        await service.StopAsync(CancellationToken.None);
        var after = Self(store);

        Assert.Equal(0, whileBroken["efa_agent_collector_success{collector=\"broken\"}"]);
        Assert.Equal(1, whileBroken["efa_agent_collector_success{collector=\"healthy\"}"]);
        Assert.True(whileBroken["efa_agent_collector_errors_total{collector=\"broken\"}"] >= 10);
        Assert.Equal(0, whileBroken["efa_agent_collector_errors_total{collector=\"healthy\"}"]);
        Assert.True(healthy.Samples >= 10, "the healthy collector kept being sampled");
        Assert.Equal(1, after["efa_agent_collector_success{collector=\"broken\"}"]);
        Assert.True(after["efa_agent_collector_errors_total{collector=\"broken\"}"] >= whileBroken["efa_agent_collector_errors_total{collector=\"broken\"}"]);
        Assert.Equal(1, logger.Inner.Count("broken: sampling failed: the device is on fire"));
        Assert.Equal(1, logger.Inner.Count("broken: sampling works again"));
    }

    [Fact]
    public async Task The_loop_publishes_each_collectors_frame_and_its_own_metrics()
    {
        var collector = new ScriptedCollector("one");
        var options = OptionsLoader.Load(["--sample.interval=20ms"], _ => null).Options!;
        var store = new SnapshotStore(2);
        using var service = new SamplingService([collector], options, store, new SelfMetrics(["one"], options.SampleInterval, null, null), new TypedListLogger<SamplingService>());

        await service.StartAsync(CancellationToken.None);
        await service.FirstTick.WaitAsync(TimeSpan.FromSeconds(10));
        await WaitUntil(() => collector.Samples >= 3);
        await service.StopAsync(CancellationToken.None);

        var values = Array.Empty<double>();
        var layout = store.CopyTo(0, ref values);
        Assert.Equal("test_value{}", layout.Series[0].ToString());
        Assert.True(values[0] >= 1);
        var self = Self(store);
        Assert.True(self["efa_agent_ticks_total{}"] >= 3);
        Assert.Equal(0.02, self["efa_agent_sample_interval_seconds{}"]);
        Assert.True(self["efa_agent_last_sample_timestamp_seconds{}"] > 1.7e9);
    }

    private static Dictionary<string, double> Self(SnapshotStore store)
    {
        var values = Array.Empty<double>();
        var layout = store.CopyTo(store.Count - 1, ref values);
        return layout.Series.Select((s, i) => (s.ToString(), values[i])).ToDictionary(p => p.Item1, p => p.Item2);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        var deadline = Stopwatch.GetTimestamp() + (10 * Stopwatch.Frequency);
        while (!condition())
        {
            Assert.True(Stopwatch.GetTimestamp() < deadline, "timed out");
            await Task.Delay(10);
        }
    }

    private sealed class TypedListLogger<T> : ILogger<T>
    {
        public ListLogger Inner { get; } = new();

        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => Inner.BeginScope(state);

        public bool IsEnabled(LogLevel logLevel) => true;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Inner.Log(logLevel, eventId, state, exception, formatter);
    }

    /// <summary>A collector whose behaviour the test sets: it counts its samples and can throw.</summary>
    private sealed class ScriptedCollector(string name) : ICollector
    {
        private readonly Layout _layout = new([Value.With()]);
        private readonly double[] _values = [double.NaN];
        private int _samples;

        public string Name => name;

        public bool NeedsDiscovery => false;

        public Frame Frame => new(_layout, _values);

        public int DeviceCount => 1;

        public int Samples => Volatile.Read(ref _samples);

        public volatile bool FailSamples;

        public void Discover()
        {
        }

        public void Sample(long timestamp)
        {
            Interlocked.Increment(ref _samples);
            if (FailSamples)
            {
                throw new IOException("the device is on fire");
            }

            _values[0] = Samples;
        }

        public void Dispose()
        {
        }
    }
}

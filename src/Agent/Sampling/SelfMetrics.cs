using System.Reflection;
using System.Runtime.InteropServices;
using EfaAgent.Collectors.Model;

namespace EfaAgent.Agent.Sampling;

/// <summary>
/// The agent's own metrics, so a dashboard can tell "no traffic" from "agent not sampling": per
/// collector success, duration and device count, the tick's duration and overruns, the time of the
/// last sample, and build information.
/// </summary>
public sealed class SelfMetrics
{
    private static readonly MetricFamily BuildInfo = new("efa_agent_build_info", "Build of the running agent.", MetricType.Gauge, "version", "revision", "dotnet_version");
    private static readonly MetricFamily Simulated = new("efa_agent_simulated_data", "1 when the agent reads a simulated node (efa-agent demo), with the simulated shape and scenario.", MetricType.Gauge, "shape", "scenario");
    private static readonly MetricFamily Success = new("efa_agent_collector_success", "1 when the collector's last sample and discovery succeeded, 0 when one failed.", MetricType.Gauge, "collector");
    private static readonly MetricFamily Duration = new("efa_agent_collector_duration_seconds", "Time the collector's last sample took.", MetricType.Gauge, "collector");
    private static readonly MetricFamily Devices = new("efa_agent_collector_devices", "Devices (RDMA devices, interfaces, GPUs) the collector currently sees.", MetricType.Gauge, "collector");
    private static readonly MetricFamily Errors = new("efa_agent_collector_errors_total", "Samples and discoveries of the collector that failed.", MetricType.Counter, "collector");
    private static readonly MetricFamily LastSample = new("efa_agent_last_sample_timestamp_seconds", "Unix time of the end of the last tick.", MetricType.Gauge);
    private static readonly MetricFamily TickDuration = new("efa_agent_tick_duration_seconds", "Time the last tick took, all collectors together.", MetricType.Gauge);
    private static readonly MetricFamily Ticks = new("efa_agent_ticks_total", "Ticks of the sampling loop.", MetricType.Counter);
    private static readonly MetricFamily Overruns = new("efa_agent_tick_overruns_total", "Ticks that took longer than the sample interval.", MetricType.Counter);
    private static readonly MetricFamily Interval = new("efa_agent_sample_interval_seconds", "The configured sample interval.", MetricType.Gauge);
    private static readonly MetricFamily StartTime = new("efa_agent_start_time_seconds", "Unix time the agent started.", MetricType.Gauge);

    private readonly double[] _values;
    private readonly int _successBase;
    private readonly int _durationBase;
    private readonly int _devicesBase;
    private readonly int _errorsBase;
    private readonly int _lastSample;
    private readonly int _tickDuration;
    private readonly int _ticks;
    private readonly int _overruns;

    /// <summary>Lays out the series for the given collectors.</summary>
    public SelfMetrics(IReadOnlyList<string> collectors, TimeSpan interval, string? simulatedShape, string? simulatedScenario)
    {
        var b = new LayoutBuilder();
        var constants = new List<(int, double)>
        {
            (b.Add(BuildInfo, Version, Revision, RuntimeInformation.FrameworkDescription.Replace(".NET ", "", StringComparison.Ordinal)), 1),
            (b.Add(Interval), interval.TotalSeconds),
            (b.Add(StartTime), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0),
        };
        if (simulatedShape is not null)
        {
            constants.Add((b.Add(Simulated, simulatedShape, simulatedScenario ?? ""), 1));
        }

        _successBase = AddPerCollector(b, Success, collectors);
        _durationBase = AddPerCollector(b, Duration, collectors);
        _devicesBase = AddPerCollector(b, Devices, collectors);
        _errorsBase = AddPerCollector(b, Errors, collectors);
        _lastSample = b.Add(LastSample);
        _tickDuration = b.Add(TickDuration);
        _ticks = b.Add(Ticks);
        _overruns = b.Add(Overruns);
        Layout = b.Build();
        _values = new double[Layout.Count];
        Array.Fill(_values, double.NaN);
        foreach (var (slot, value) in constants)
        {
            _values[slot] = value;
        }

        _values.AsSpan(_errorsBase, collectors.Count).Clear();
        _values[_ticks] = 0;
        _values[_overruns] = 0;
    }

    /// <summary>The agent's version.</summary>
    public static string Version { get; } = (typeof(SelfMetrics).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0").Split('+')[0];

    /// <summary>The source revision the agent was built from, when the build recorded it.</summary>
    public static string Revision { get; } = (typeof(SelfMetrics).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "").Split('+') is [_, var rev, ..] ? rev : "unknown";

    /// <summary>The layout.</summary>
    public Layout Layout { get; }

    /// <summary>The frame to publish.</summary>
    public Frame Frame => new(Layout, _values);

    /// <summary>Records one collector's part of a tick.</summary>
    public void RecordCollector(int index, bool success, double seconds, int devices, bool failedNow)
    {
        _values[_successBase + index] = success ? 1 : 0;
        _values[_durationBase + index] = seconds;
        _values[_devicesBase + index] = devices;
        if (failedNow)
        {
            _values[_errorsBase + index]++;
        }
    }

    /// <summary>Records the end of a tick.</summary>
    public void RecordTick(double seconds, bool overrun, double unixSeconds)
    {
        _values[_tickDuration] = seconds;
        _values[_lastSample] = unixSeconds;
        _values[_ticks]++;
        if (overrun)
        {
            _values[_overruns]++;
        }
    }

    private static int AddPerCollector(LayoutBuilder b, MetricFamily family, IReadOnlyList<string> collectors)
    {
        var first = b.Count;
        foreach (var c in collectors)
        {
            b.Add(family, c);
        }

        return first;
    }
}

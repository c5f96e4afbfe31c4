using System.Net;
using System.Text.RegularExpressions;

namespace EfaAgent.Agent.Options;

/// <summary>Where the metrics endpoint listens.</summary>
/// <param name="Host">An IP address, or null for all interfaces.</param>
/// <param name="Port">The TCP port.</param>
public sealed record ListenAddress(IPAddress? Host, int Port)
{
    /// <inheritdoc />
    public override string ToString() => Host is null ? $":{Port}" : Host.AddressFamily == System.Net.Sockets.AddressFamily.InterNetworkV6 ? $"[{Host}]:{Port}" : $"{Host}:{Port}";
}

/// <summary>The log line format.</summary>
public enum LogFormat
{
    /// <summary>One human-readable line per event.</summary>
    Text,

    /// <summary>One JSON object per event.</summary>
    Json,
}

/// <summary>Everything the agent is configured with, validated (see <see cref="OptionsLoader"/>).</summary>
public sealed record AgentOptions
{
    /// <summary>Where <c>/metrics</c> is served.</summary>
    public required ListenAddress ListenAddress { get; init; }

    /// <summary>The sysfs root.</summary>
    public required string SysfsRoot { get; init; }

    /// <summary>The procfs root.</summary>
    public required string ProcfsRoot { get; init; }

    /// <summary>The fast-lane interval.</summary>
    public required TimeSpan SampleInterval { get; init; }

    /// <summary>The slow-lane interval: discovery, device-level and error counters.</summary>
    public required TimeSpan DiscoveryInterval { get; init; }

    /// <summary>The trailing window of the peak-throughput gauges.</summary>
    public required TimeSpan BurstWindow { get; init; }

    /// <summary>Whether the EFA/RDMA collector runs.</summary>
    public required bool EfaEnabled { get; init; }

    /// <summary>Whether the /proc/net/dev collector runs.</summary>
    public required bool NetdevEnabled { get; init; }

    /// <summary>Whether the NVML GPU collector runs.</summary>
    public required bool GpuEnabled { get; init; }

    /// <summary>Whether the ethtool collector runs.</summary>
    public required bool EthtoolEnabled { get; init; }

    /// <summary>Whether the ethtool collector exports every statistic, not only the ENA allowances.</summary>
    public required bool EthtoolAll { get; init; }

    /// <summary>Interfaces to export (whole-name regex); null for all.</summary>
    public Regex? NetdevInclude { get; init; }

    /// <summary>Interfaces not to export (whole-name regex); null for none.</summary>
    public Regex? NetdevExclude { get; init; }

    /// <summary>The kernel log read for NVRM Xid lines; empty for none.</summary>
    public string GpuKernelLogPath { get; init; } = "/dev/kmsg";

    /// <summary>The NVML library to load.</summary>
    public required string NvmlLibrary { get; init; }

    /// <summary>How long one NVML call may take before the GPU collector reports it stalled.</summary>
    public required TimeSpan NvmlTimeout { get; init; }

    /// <summary>Most HTTP requests served at once; 0 for no limit.</summary>
    public int MaxRequests { get; init; } = 40;

    /// <summary>The exporter-toolkit web config file (TLS, basic auth); null for plain HTTP.</summary>
    public string? WebConfigFile { get; init; }

    /// <summary>The log format.</summary>
    public required LogFormat LogFormat { get; init; }

    /// <summary>The minimum log level.</summary>
    public required Serilog.Events.LogEventLevel LogLevel { get; init; }

    /// <summary>When set, the data is simulated (the demo): shown on the landing page and in the logs.</summary>
    public string? SimulatedShape { get; init; }
}

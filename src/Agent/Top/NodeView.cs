namespace EfaAgent.Agent.Top;

/// <summary>How much a verdict matters; the order is the display order.</summary>
public enum Severity
{
    /// <summary>The job is failing or will fail.</summary>
    Critical,

    /// <summary>The job is slow or at risk.</summary>
    Warning,

    /// <summary>Worth knowing.</summary>
    Info,

    /// <summary>What a healthy node says.</summary>
    Good,
}

/// <summary>A sentence about a node, and the alert rule that says the same (null for the healthy ones).</summary>
public sealed record Verdict(Severity Severity, string Text, string? Alert);

/// <summary>An error counter of a device: its total since the agent started and its increase in the last interval.</summary>
public sealed record ErrorCount(string Counter, double Total, double Recent);

/// <summary>One EFA port. Rates in bytes per second; null when there is no earlier scrape to compare with.</summary>
public sealed record EfaPortView(
    string Device,
    string Port,
    string? Netdev,
    double? PortRate,
    double? Transmit,
    double? Receive,
    double? TransmitPeak,
    double? ReceivePeak,
    double? RdmaRead,
    double? RdmaWrite,
    IReadOnlyList<ErrorCount> Errors);

/// <summary>
/// One network interface from <c>/proc/net/dev</c>, the EFA device that shares its ENI (if any), and
/// the packets its ENA device queued or dropped over the instance's allowances, by allowance
/// (<see cref="EnaAllowance.Name"/>; those that never moved are left out).
/// </summary>
public sealed record InterfaceView(string Device, string? EfaDevice, double? Transmit, double? Receive, double? TransmitPeak, double? ReceivePeak, IReadOnlyList<ErrorCount> AllowanceDrops);

/// <summary>One GPU; everything but the index is null when NVML did not give it.</summary>
public sealed record GpuView(
    string Index,
    bool Up,
    double? Utilization,
    double? MemoryUsed,
    double? MemoryTotal,
    double? Power,
    double? Temperature,
    double? SmClock,
    IReadOnlyList<string> Throttle,
    double? NvlinkTransmit,
    double? NvlinkReceive,
    double? PcieTransmit,
    double? PcieReceive,
    IReadOnlyList<ErrorCount> Xids);

/// <summary>The node's sums, as the recording rules compute them (bytes per second over the last interval).</summary>
public sealed record NodeTotals(double? EfaTransmit, double? EfaReceive, double? EnaTransmit, double? EnaReceive, double? GpuMean, double? GpuMin, int ErrorsMoving);

/// <summary>Per-interval node sums over the last minute, oldest first, for the sparklines.</summary>
public sealed record NodeHistory(IReadOnlyList<double> EfaTransmit, IReadOnlyList<double> EfaReceive, IReadOnlyList<double> EnaTransmit, IReadOnlyList<double> EnaReceive, IReadOnlyList<double> GpuMean)
{
    /// <summary>No history yet.</summary>
    public static NodeHistory Empty { get; } = new([], [], [], [], []);
}

/// <summary>Everything the view shows about one node, built from two successive scrapes.</summary>
public sealed record NodeView(
    string Name,
    string Source,
    string? Error,
    string? InstanceType,
    string? Simulated,
    int? EfaFound,
    int? EfaExpected,
    IReadOnlyList<EfaPortView> Efa,
    IReadOnlyList<InterfaceView> Interfaces,
    IReadOnlyList<GpuView> Gpus,
    IReadOnlyList<Verdict> Verdicts,
    NodeTotals Totals,
    NodeHistory History)
{
    /// <summary>True when the last scrape failed.</summary>
    public bool Down => Error is not null;

    /// <summary>A node that did not answer.</summary>
    public static NodeView Unreachable(string name, string source, string error, NodeHistory history) => new(
        name, source, error, null, null, null, null, [], [], [], [new Verdict(Severity.Critical, $"no answer: {error}", "EfaAgentDown")],
        new NodeTotals(null, null, null, null, null, null, 0), history);
}

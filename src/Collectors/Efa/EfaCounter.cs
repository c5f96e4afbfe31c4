using EfaAgent.Collectors.Derive;
using EfaAgent.Collectors.Parsing;
using EfaAgent.Collectors.Sysfs;

namespace EfaAgent.Collectors.Efa;

/// <summary>
/// One counter file of the EFA collector: what it is, its open file, and its state between two
/// layouts. While a layout is in force the state is worked on in a <see cref="CounterLane"/>'s arrays,
/// which hand it back here (<see cref="CounterLane.SaveState"/>) before the next layout is built.
/// </summary>
internal sealed class EfaCounter(string path, string device, string port, string name)
{
    public string Path { get; } = path;

    public string Device { get; } = device;

    public string Port { get; } = port;

    public string Name { get; } = name;

    public CounterFile? File { get; set; }

    public bool IsLifespan { get; set; }

    public int Slot { get; set; }

    /// <summary>The slot of the peak throughput derived from this counter; -1 when it has none.</summary>
    public int PeakSlot { get; set; } = -1;

    /// <summary>The largest plausible rate of any counter of the port; null when the port's rate is unknown.</summary>
    public double? MaxBytesPerSecond { get; set; }

    /// <summary>The tick of the last accepted reading; 0 before the first.</summary>
    public long LastTimestamp { get; set; }

    public PeakWindow? Peak { get; set; }

    public CounterStatus Status { get; set; } = CounterStatus.Ok;

#pragma warning disable SA1401 // a mutable struct must be a field to be updated in place
    public CounterState State;
#pragma warning restore SA1401
}

using System.Diagnostics;
using EfaAgent.Collectors.Derive;
using EfaAgent.Collectors.Parsing;
using EfaAgent.Collectors.Sysfs;

namespace EfaAgent.Collectors.Efa;

/// <summary>One counter file of the EFA collector: its open file, slots, state and status.</summary>
internal sealed class EfaCounter(string path, string device, string port, string name)
{
    public string Path { get; } = path;

    public string Device { get; } = device;

    public string Port { get; } = port;

    public string Name { get; } = name;

    public CounterFile? File { get; set; }

    public bool IsLifespan { get; set; }

    public int Slot { get; set; }

    public int PeakSlot { get; set; }

    /// <summary>The largest plausible rate of any counter of the port; null when the port's rate is unknown.</summary>
    public double? MaxBytesPerSecond { get; set; }

    /// <summary>The tick of the last accepted reading; 0 before the first.</summary>
    public long LastTimestamp { get; set; }

    public PeakWindow? Peak { get; set; }

    public CounterStatus Status { get; set; } = CounterStatus.Ok;

#pragma warning disable SA1401 // a mutable struct must be a field to be updated in place
    public CounterState State;
#pragma warning restore SA1401

    /// <summary>The largest increase plausible since the last accepted reading; no bound when the port rate is unknown.</summary>
    public ulong MaxDelta(long timestamp)
    {
        if (MaxBytesPerSecond is not { } rate || LastTimestamp == 0)
        {
            return ulong.MaxValue;
        }

        // One second of slack covers the counter group's cache time and a late tick.
        var seconds = ((timestamp - LastTimestamp) / (double)Stopwatch.Frequency) + 1;
        var max = rate * seconds;
        return max >= ulong.MaxValue ? ulong.MaxValue : (ulong)max;
    }
}

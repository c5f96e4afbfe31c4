using EfaAgent.Collectors.Model;

namespace EfaAgent.Collectors;

/// <summary>
/// A source of metrics sampled by the agent's loop. A collector reads hardware (files, a native
/// library) and writes plain numbers; it knows nothing of HTTP or of the exposition format.
/// <para>
/// The loop calls <see cref="Discover"/> at start and on the slow cadence, and <see cref="Sample"/>
/// on every tick, always from one thread. Neither may let an exception about the hardware escape
/// for long: a missing device is an empty frame, a broken file is a series marked absent plus an
/// error series. An exception that does escape is logged by the loop, counted as a failed sample
/// in the self-metrics, and the next tick runs as usual.
/// </para>
/// </summary>
public interface ICollector : IDisposable
{
    /// <summary>The collector's name, used in flags, logs and the <c>collector</c> label.</summary>
    string Name { get; }

    /// <summary>
    /// Slow lane: find the devices, (re)open what changed and read slow-changing values. Cheap when
    /// nothing changed.
    /// </summary>
    void Discover();

    /// <summary>Fast lane: read every open counter and update the frame. Allocation-free when nothing changed.</summary>
    /// <param name="timestamp">A <see cref="System.Diagnostics.Stopwatch"/> timestamp of this tick.</param>
    void Sample(long timestamp);

    /// <summary>True when the fast lane saw something that needs <see cref="Discover"/> before the slow cadence.</summary>
    bool NeedsDiscovery { get; }

    /// <summary>The latest frame. Valid until the next call of <see cref="Sample"/> or <see cref="Discover"/>.</summary>
    Frame Frame { get; }

    /// <summary>How many devices (RDMA devices, interfaces, GPUs) the collector currently sees.</summary>
    int DeviceCount { get; }
}

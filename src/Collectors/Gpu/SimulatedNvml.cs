using EfaAgent.Collectors.Nvml;

namespace EfaAgent.Collectors.Gpu;

/// <summary>
/// An <see cref="INvml"/> for demos and machines without GPUs: eight (by default) H100-like GPUs running
/// a data-parallel training job. Utilisation sits near 95% with a dip at each step's all-reduce, power
/// and temperature follow it, NVLink bytes climb during the all-reduce, and every two minutes a
/// ten-second checkpoint drops utilisation and moves PCIe bytes. Every name, UUID, bus id and version
/// says "simulated". <see cref="InjectXid"/> raises an Xid event.
/// </summary>
public sealed class SimulatedNvml : INvml
{
    private const double StepSeconds = 1.2;
    private const double CheckpointEverySeconds = 120;
    private const double CheckpointSeconds = 10;
    internal const ulong MemoryTotal = 80UL << 30;
    internal const uint Links = 18;

    private readonly TimeProvider _time;
    private readonly long _start;
    private readonly SimulatedNvmlDevice[] _devices;
    private readonly object _events = new();
    private readonly Queue<NvmlEvent> _pending = new();
    private int _initCount;

    /// <summary>Creates a node of <paramref name="gpuCount"/> simulated GPUs.</summary>
    public SimulatedNvml(int gpuCount = 8, TimeProvider? time = null)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(gpuCount);
        _time = time ?? TimeProvider.System;
        _start = _time.GetTimestamp();
        _devices = new SimulatedNvmlDevice[gpuCount];
        for (var i = 0; i < gpuCount; i++)
        {
            _devices[i] = new SimulatedNvmlDevice(this, i);
        }
    }

    /// <summary>The index of a GPU that runs slower than the others (a straggler: its clocks held down by a hardware slowdown), or null.</summary>
    public int? StragglerGpu { get; init; }

    /// <summary>The index of a GPU that falls off the bus after <see cref="LostAfter"/> (Xid 79, then GPU_IS_LOST), or null.</summary>
    public int? LostGpu { get; init; }

    /// <summary>When <see cref="LostGpu"/> is lost, counted from the start.</summary>
    public TimeSpan LostAfter { get; init; } = TimeSpan.FromSeconds(3);

    private bool _lostXidSent;

    /// <summary>Queues an Xid event for GPU <paramref name="gpu"/>, delivered to the next wait on an event set.</summary>
    public void InjectXid(int gpu, ulong xid)
    {
        lock (_events)
        {
            _pending.Enqueue(new NvmlEvent(_devices[gpu], NvmlEventType.XidCriticalError, xid));
            Monitor.PulseAll(_events);
        }
    }

    /// <inheritdoc />
    public IReadOnlyList<string> MissingFunctions => [];

    /// <inheritdoc />
    public NvmlReturn Init()
    {
        Interlocked.Increment(ref _initCount);
        return NvmlReturn.Success;
    }

    /// <inheritdoc />
    public NvmlReturn Shutdown() =>
        Interlocked.Decrement(ref _initCount) >= 0 ? NvmlReturn.Success : NvmlReturn.Uninitialized;

    /// <inheritdoc />
    public string ErrorString(NvmlReturn result) => "simulated: " + result;

    /// <inheritdoc />
    public NvmlReturn GetDriverVersion(out string version)
    {
        version = "simulated-580.95.05";
        return NvmlReturn.Success;
    }

    /// <inheritdoc />
    public NvmlReturn GetNvmlVersion(out string version)
    {
        version = "simulated-12.580.95.05";
        return NvmlReturn.Success;
    }

    /// <inheritdoc />
    public NvmlReturn GetDeviceCount(out int count)
    {
        count = _devices.Length;
        return NvmlReturn.Success;
    }

    /// <inheritdoc />
    public NvmlReturn GetDeviceByIndex(int index, out INvmlDevice? device)
    {
        device = index >= 0 && index < _devices.Length ? _devices[index] : null;
        return device is null ? NvmlReturn.InvalidArgument : NvmlReturn.Success;
    }

    /// <inheritdoc />
    public NvmlReturn CreateEventSet(out INvmlEventSet? eventSet)
    {
        eventSet = new EventSet(this);
        return NvmlReturn.Success;
    }

    /// <inheritdoc />
    public void Dispose()
    {
    }

    internal double Seconds => _time.GetElapsedTime(_start).TotalSeconds;

    /// <summary>The job's utilisation at <paramref name="t"/> seconds for GPU <paramref name="gpu"/>.</summary>
    internal double Utilization(double t, int gpu)
    {
        if (gpu == StragglerGpu)
        {
            // Its data loader or a throttled clock keeps it behind: the others wait for it in NCCL.
            return 0.55 + (0.05 * Math.Sin(t));
        }

        if (t % CheckpointEverySeconds > CheckpointEverySeconds - CheckpointSeconds)
        {
            return 0.04;
        }

        var phase = (t + (gpu * 0.01)) % StepSeconds / StepSeconds;
        return phase < 0.8 ? 0.97 : 0.78; // compute, then the all-reduce's tail
    }

    internal static bool Communicating(double t) => t % StepSeconds / StepSeconds >= 0.8;

    internal static bool Checkpointing(double t) => t % CheckpointEverySeconds > CheckpointEverySeconds - CheckpointSeconds;

    internal bool IsLost(int gpu) => gpu == LostGpu && Seconds >= LostAfter.TotalSeconds;

    private sealed class EventSet(SimulatedNvml owner) : INvmlEventSet
    {
        public NvmlReturn Register(INvmlDevice device, NvmlEventType events) => NvmlReturn.Success;

        public NvmlReturn Wait(uint timeoutMilliseconds, out NvmlEvent nvmlEvent)
        {
            lock (owner._events)
            {
                if (owner.LostGpu is { } lost && !owner._lostXidSent && owner.IsLost(lost))
                {
                    // Xid 79: the GPU has fallen off the bus.
                    owner._lostXidSent = true;
                    owner._pending.Enqueue(new NvmlEvent(owner._devices[lost], NvmlEventType.XidCriticalError, 79));
                }

                if (owner._pending.Count == 0)
                {
                    Monitor.Wait(owner._events, TimeSpan.FromMilliseconds(timeoutMilliseconds));
                }

                if (owner._pending.TryDequeue(out nvmlEvent))
                {
                    return NvmlReturn.Success;
                }
            }

            return NvmlReturn.Timeout;
        }

        public void Dispose()
        {
        }
    }
}

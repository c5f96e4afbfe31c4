namespace EfaAgent.Collectors.Gpu;

/// <summary>Settings of the GPU collector.</summary>
/// <param name="LibraryPath">
/// Where to load NVML from: <see cref="DefaultLibraryPath"/> (the versioned soname, found through the
/// normal library search) or an absolute path.
/// </param>
/// <param name="SampleInterval">The fast-lane interval the host samples at.</param>
/// <param name="CallTimeout">
/// The longest <see cref="GpuCollector.Sample"/> or <see cref="GpuCollector.Discover"/> waits for NVML;
/// past it the collector publishes its last complete values and <c>gpu_nvml_stalled 1</c>.
/// </param>
/// <param name="SysfsRoot">The sysfs mount, read for each GPU's NUMA node and PCI root.</param>
public sealed record GpuCollectorOptions(string LibraryPath, TimeSpan SampleInterval, TimeSpan CallTimeout, string SysfsRoot = GpuCollectorOptions.DefaultSysfsRoot)
{
    /// <summary>The versioned soname: containers and many hosts lack the unversioned symlink.</summary>
    public const string DefaultLibraryPath = "libnvidia-ml.so.1";

    /// <summary>The kernel's log device: one record per read.</summary>
    public const string DefaultKernelLogPath = "/dev/kmsg";

    /// <summary>The default sysfs mount.</summary>
    public const string DefaultSysfsRoot = "/sys";

    /// <summary>A sensible call timeout for a sampler ticking a few times a second.</summary>
    public static readonly TimeSpan DefaultCallTimeout = TimeSpan.FromSeconds(2);

    /// <summary>
    /// The longest one tick (<see cref="GpuCollector.Sample"/> or <see cref="GpuCollector.Discover"/>) waits
    /// for NVML before it takes the last complete values and moves on; the job finishes on the worker's
    /// own time and the next tick publishes it. Null: half the sample interval, at most the call timeout,
    /// so a slow or hung call never makes the agent's tick late.
    /// </summary>
    public TimeSpan? TickWait { get; init; }

    /// <summary>
    /// The kernel log read for <c>NVRM: Xid</c> lines (from its end when opened): <see cref="DefaultKernelLogPath"/>,
    /// or a file or FIFO in tests; empty to read none.
    /// </summary>
    public string KernelLogPath { get; init; } = DefaultKernelLogPath;

    /// <summary>The effective <see cref="TickWait"/>.</summary>
    public TimeSpan EffectiveTickWait => TickWait ?? TimeSpan.FromTicks(Math.Min(SampleInterval.Ticks / 2, CallTimeout.Ticks));

    /// <summary>Throws an <see cref="ArgumentException"/> naming the first bad value and what would be accepted.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(LibraryPath))
        {
            throw new ArgumentException($"the NVML library path is empty; use {DefaultLibraryPath} or an absolute path to libnvidia-ml.so.1", nameof(LibraryPath));
        }

        if (SampleInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException($"the sample interval {SampleInterval} must be positive", nameof(SampleInterval));
        }

        if (CallTimeout <= TimeSpan.Zero || CallTimeout > TimeSpan.FromMinutes(5))
        {
            throw new ArgumentException($"the NVML call timeout {CallTimeout} must be between 0 and 5 minutes (exclusive of 0), e.g. {DefaultCallTimeout}", nameof(CallTimeout));
        }

        if (TickWait is { } wait && (wait < TimeSpan.Zero || wait > CallTimeout))
        {
            throw new ArgumentException($"the tick wait {wait} must be between 0 and the call timeout {CallTimeout}", nameof(TickWait));
        }

        if (string.IsNullOrWhiteSpace(SysfsRoot))
        {
            throw new ArgumentException($"the sysfs root is empty; use {DefaultSysfsRoot} or a fixture tree", nameof(SysfsRoot));
        }
    }
}

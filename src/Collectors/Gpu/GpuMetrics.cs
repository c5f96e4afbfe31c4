using EfaAgent.Collectors.Model;
using EfaAgent.Collectors.Nvml;

namespace EfaAgent.Collectors.Gpu;

/// <summary>Which lane reads a per-GPU series.</summary>
internal enum GpuLane
{
    /// <summary>Written by the collector itself (gpu_up, gpu_info, the last Xid time).</summary>
    None,

    /// <summary>Every tick.</summary>
    Fast,

    /// <summary>On the slow cadence.</summary>
    Slow,
}

/// <summary>
/// One fixed per-GPU series: its family, the label values after <c>gpu, uuid, pci_bus_id</c>, and where
/// its value comes from. A series read through <c>nvmlDeviceGetFieldValues</c> names its field; the
/// collector batches all fields of a lane into one call per GPU.
/// </summary>
internal sealed record GpuSeries(MetricFamily Family, string[] Extra, GpuLane Lane, string Source)
{
    /// <summary>The field id, or 0 when the value comes from a dedicated call.</summary>
    public uint FieldId { get; init; }

    /// <summary>The field's scope.</summary>
    public uint ScopeId { get; init; }

    /// <summary>Raw value times this is the exported value.</summary>
    public double Scale { get; init; } = 1;

    /// <summary>
    /// Where the field id depends on the driver branch: (first driver major version, field id) pairs in
    /// rising order; a driver older than the first pair has no such field. Null: <see cref="FieldId"/> on every branch.
    /// </summary>
    public (int MinMajor, uint FieldId)[]? Branches { get; init; }

    /// <summary>
    /// A clock-event time: the id it had before it moved (251-253), <see cref="FieldId"/> being the one it
    /// moved to (269-271); which one the driver answers is probed (<see cref="DriverBranch.ChooseClockEventIds"/>). 0 for other series.
    /// </summary>
    public uint MovedFrom { get; init; }

    /// <summary>Whether the field counts per NVLink (the link index in <c>scopeId</c>): read for each link and summed.</summary>
    public bool PerLink { get; init; }

    /// <summary>The field id to ask a driver of major version <paramref name="driverMajor"/> for; 0 when its branch has no such field.</summary>
    public uint FieldFor(int driverMajor)
    {
        if (Branches is null)
        {
            return FieldId;
        }

        uint id = 0;
        foreach (var (min, field) in Branches)
        {
            if (driverMajor >= min)
            {
                id = field;
            }
        }

        return id;
    }

    /// <summary>Name used in <c>efa_agent_unavailable{counter}</c>: the family and the extra labels.</summary>
    public string CounterName { get; } = Extra.Length == 0 ? Family.Name : Family.Name + ":" + string.Join(':', Extra);
}

/// <summary>
/// The GPU collector's metric families and the table of fixed per-GPU series. Slots of a GPU's series
/// are its base slot plus the series' offset in <see cref="PerGpu"/>, so the fast lane writes by
/// index and never looks anything up. Every offset is a named field (or a named group of them); no
/// reader computes an offset from where a series happens to be declared, so the order of this file
/// is free.
/// </summary>
internal static class GpuMetrics
{
    private const string G = "gpu";
    private const string U = "uuid";
    private const string P = "pci_bus_id";

    private static readonly List<GpuSeries> Table = [];

    /// <summary>NVML status, no labels.</summary>
    public static readonly MetricFamily NvmlUp = new("gpu_nvml_up",
        "1 when NVML is loaded, initialised and answering; 0 when the library is missing, its initialisation failed, or a call is stuck (see gpu_nvml_stalled).",
        MetricType.Gauge);

    /// <summary>Stuck-call marker, no labels.</summary>
    public static readonly MetricFamily NvmlStalled = new("gpu_nvml_stalled",
        "1 while an NVML call has run longer than the call timeout; GPU values are then the last complete sample.",
        MetricType.Gauge);

    /// <summary>Xid events lost to a full queue, no labels.</summary>
    public static readonly MetricFamily XidDropped = new("gpu_xid_events_dropped_total",
        "Xid events received but dropped because the queue between the event thread and the sampler was full (4096 events); a rise means Xid counts are low.",
        MetricType.Counter);

    /// <summary>Xids no GPU could be named for, no labels.</summary>
    public static readonly MetricFamily XidUnattributed = new("gpu_xid_unattributed_total",
        "Xid events not attributed to a GPU: a kernel-log NVRM Xid line for a PCI device NVML does not list, or an NVML event from a device it did not enumerate. Each is logged with its text.",
        MetricType.Counter);

    /// <summary>Per-GPU health.</summary>
    public static readonly MetricFamily Up = new("gpu_up",
        "1 when NVML answers for the GPU; 0 when it is lost or needs a reset (its sampled series are then absent).",
        MetricType.Gauge, G, U, P);

    /// <summary>Per-GPU identity.</summary>
    public static readonly MetricFamily Info = new("gpu_info",
        "GPU identity, value 1. numa_node is read from sysfs (empty when unknown); pci_root is the domain:bus of the PCI root bus the GPU hangs off (from the sysfs device path; the GPU's own domain:bus when that cannot be read), to pair a GPU with the EFA devices under the same root.",
        MetricType.Gauge, G, U, P, "name", "driver_version", "nvml_version", "numa_node", "pci_root");

    /// <summary>Per-code Xid counter.</summary>
    public static readonly MetricFamily XidErrors = new("gpu_xid_errors_total",
        "Xid events by code, from NVML's event stream and the kernel log, each event once. action is what the code asks for: restart_application (an application fault, the GPU is fine), reset_gpu (a hardware or firmware fault a GPU reset clears), reboot_node (the GPU is gone or its firmware wedged), unknown (a code the agent has no class for). The known codes start at 0 so that the first event shows as an increase.",
        MetricType.Counter, G, U, P, "xid", "action");

    /// <summary>Per-process memory, slow lane.</summary>
    public static readonly MetricFamily ProcessMemory = new("gpu_process_memory_used_bytes",
        "GPU memory used by each running compute process (slow lane; absent when the driver does not report it).",
        MetricType.Gauge, G, U, P, "pid");

    /// <summary>The clock event reasons, in bit order.</summary>
    public static readonly (NvmlClocksEventReasons Bit, string Label)[] ClockReasons =
    [
        (NvmlClocksEventReasons.GpuIdle, "gpu_idle"),
        (NvmlClocksEventReasons.ApplicationsClocksSetting, "applications_clocks"),
        (NvmlClocksEventReasons.SwPowerCap, "sw_power_cap"),
        (NvmlClocksEventReasons.HwSlowdown, "hw_slowdown"),
        (NvmlClocksEventReasons.SyncBoost, "sync_boost"),
        (NvmlClocksEventReasons.SwThermalSlowdown, "sw_thermal"),
        (NvmlClocksEventReasons.HwThermalSlowdown, "hw_thermal"),
        (NvmlClocksEventReasons.HwPowerBrakeSlowdown, "hw_power_brake"),
    ];

    /// <summary>Xids given a zero series on every GPU from the start: the codes of <see cref="XidCatalog"/>.</summary>
    public static readonly ulong[] KnownXids = [.. XidCatalog.Known.Select(x => x.Xid)];

    private static readonly MetricFamily ClockEventFamily = new("gpu_clock_event_active",
        "1 while the clocks are held down for the reason (nvmlDeviceGetCurrentClocksEventReasons), else 0.",
        MetricType.Gauge, G, U, P, "reason");

    private static readonly MetricFamily EccFamily = new("gpu_ecc_errors_total",
        "ECC errors (nvmlDeviceGetTotalEccErrors): volatile since the driver loaded, aggregate over the GPU's life.",
        MetricType.Counter, G, U, P, "type", "counter");

    private static readonly MetricFamily RemappedFamily = new("gpu_remapped_rows_total",
        "Memory rows remapped after correctable / uncorrectable errors (fields 142/143).",
        MetricType.Counter, G, U, P, "type");

    private static readonly MetricFamily RetiredFamily = new("gpu_retired_pages_total",
        "Memory pages retired for single-bit / double-bit errors (fields 29/30).",
        MetricType.Counter, G, U, P, "cause");

    private static readonly MetricFamily NvlinkErrorFamily = new("gpu_nvlink_errors_total",
        "NVLink errors summed over the GPU's links (fields 38/45/52/59 read per link, the link in scopeId).",
        MetricType.Counter, G, U, P, "type");

    private static readonly MetricFamily ThrottleFamily = new("gpu_throttle_seconds_total",
        "Time the clocks were held down for the reason (ns fields). sw_power_cap, thermal, sync_boost: perf-policy fields 74/75/76, every driver. sw_thermal, hw_thermal, hw_power_brake: fields 251/252/253 or 269/270/271, whichever set the driver answers as counters (the ids moved between driver builds), absent where neither.",
        MetricType.Counter, G, U, P, "reason");

    /// <summary>Offset of gpu_up.</summary>
    public static readonly int OffUp = Def(Up, GpuLane.None, "");

    /// <summary>Offset of gpu_info (its labels are written per GPU).</summary>
    public static readonly int OffInfo = Def(Info, GpuLane.None, "");

    /// <summary>Fast lane offsets.</summary>
    public static readonly int OffUtilization = Def(Gauge("gpu_utilization_ratio",
        "Fraction of time one or more kernels ran over the driver's last sampling period (nvmlDeviceGetUtilizationRates; 1/6 s to 1 s by product). Reads 1 while a job is stuck in a collective: pair with NVLink/EFA bytes."),
        GpuLane.Fast, "nvmlDeviceGetUtilizationRates");

    /// <summary>Memory utilisation.</summary>
    public static readonly int OffMemoryUtilization = Def(Gauge("gpu_memory_utilization_ratio",
        "Fraction of time device memory was read or written, over the same period."), GpuLane.Fast, "nvmlDeviceGetUtilizationRates");

    /// <summary>Framebuffer used.</summary>
    public static readonly int OffMemoryUsed = Def(Gauge("gpu_memory_used_bytes",
        "Framebuffer memory used by allocations (nvmlDeviceGetMemoryInfo_v2). On a driver without _v2 it is the v1 value, which also counts the memory the driver reserves (a few hundred MiB more; v1 does not say how much)."),
        GpuLane.Fast, "nvmlDeviceGetMemoryInfo_v2");

    /// <summary>Framebuffer free.</summary>
    public static readonly int OffMemoryFree = Def(Gauge("gpu_memory_free_bytes", "Framebuffer memory free."), GpuLane.Fast, "nvmlDeviceGetMemoryInfo_v2");

    /// <summary>Framebuffer total.</summary>
    public static readonly int OffMemoryTotal = Def(Gauge("gpu_memory_total_bytes", "Framebuffer memory in total."), GpuLane.Fast, "nvmlDeviceGetMemoryInfo_v2");

    /// <summary>The three memory series one <c>nvmlDeviceGetMemoryInfo</c> call fills.</summary>
    public static readonly int[] MemorySlots = [OffMemoryUsed, OffMemoryFree, OffMemoryTotal];

    /// <summary>The two utilisation series read together.</summary>
    public static readonly int[] UtilizationSlots = [OffUtilization, OffMemoryUtilization];

    /// <summary>Power.</summary>
    public static readonly int OffPower = Def(Gauge("gpu_power_watts",
        "Power draw (nvmlDeviceGetPowerUsage: a 1 s average on Ampere and later except A100, where it is instantaneous)."),
        GpuLane.Fast, "nvmlDeviceGetPowerUsage");

    /// <summary>Energy.</summary>
    public static readonly int OffEnergy = Def(Counter("gpu_energy_joules_total", "Energy used since the driver loaded (never goes back across a driver reload). Read on the slow cadence: the call costs milliseconds of CPU on Hopper."),
        GpuLane.Slow, "nvmlDeviceGetTotalEnergyConsumption");

    /// <summary>Die temperature.</summary>
    public static readonly int OffTemperature = Def(Gauge("gpu_temperature_celsius", "GPU die temperature."), GpuLane.Fast, "nvmlDeviceGetTemperature");

    /// <summary>HBM temperature.</summary>
    public static readonly int OffMemoryTemperature = DefField(Gauge("gpu_memory_temperature_celsius", "Memory (HBM) temperature (field 82)."), GpuLane.Fast, "field 82", 82);

    /// <summary>SM clock.</summary>
    public static readonly int OffSmClock = Def(Gauge("gpu_sm_clock_hertz", "Current SM clock."), GpuLane.Fast, "nvmlDeviceGetClockInfo");

    /// <summary>Memory clock.</summary>
    public static readonly int OffMemoryClock = Def(Gauge("gpu_memory_clock_hertz", "Current memory clock."), GpuLane.Fast, "nvmlDeviceGetClockInfo");

    /// <summary>The slots of the eight clock event reasons, in <see cref="ClockReasons"/> order.</summary>
    public static readonly int[] ClockEventSlots = DefClockReasons();

    /// <summary>NVLink transmit.</summary>
    public static readonly int OffNvlinkTx = DefField(Counter("gpu_nvlink_transmit_bytes_total", "NVLink data transmitted, all links (field 138, KiB)."), GpuLane.Fast, "field 138", 138, NvmlFieldValue.AllLinks, 1024);

    /// <summary>NVLink receive.</summary>
    public static readonly int OffNvlinkRx = DefField(Counter("gpu_nvlink_receive_bytes_total", "NVLink data received, all links (field 139, KiB)."), GpuLane.Fast, "field 139", 139, NvmlFieldValue.AllLinks, 1024);

    /// <summary>PCIe transmit.</summary>
    public static readonly int OffPcieTx = DefField(Counter("gpu_pcie_transmit_bytes_total", "PCIe bytes transmitted (field 197; a wrap of the raw value is carried on, never a drop)."), GpuLane.Fast, "field 197", 197, branches: [(555, 197)]);

    /// <summary>PCIe receive.</summary>
    public static readonly int OffPcieRx = DefField(Counter("gpu_pcie_receive_bytes_total", "PCIe bytes received (field 198; a wrap of the raw value is carried on, never a drop)."), GpuLane.Fast, "field 198", 198, branches: [(555, 198)]);

    /// <summary>ECC, slow lane: the slot of each (type, counter).</summary>
    public static readonly (NvmlMemoryErrorType Type, NvmlEccCounterType Counter, int Offset)[] EccSlots = DefEcc();

    /// <summary>Remapped rows.</summary>
    public static readonly int OffRemappedCorrectable = DefExtra(RemappedFamily, "field 142", 142, "correctable");

    /// <summary>Remapped rows, uncorrectable.</summary>
    public static readonly int OffRemappedUncorrectable = DefExtra(RemappedFamily, "field 143", 143, "uncorrectable");

    /// <summary>Remap pending.</summary>
    public static readonly int OffRemappedPending = DefField(Gauge("gpu_remapped_rows_pending", "1 when a row remap waits for a GPU reset (field 144)."), GpuLane.Slow, "field 144", 144);

    /// <summary>Remap failed.</summary>
    public static readonly int OffRemappedFailed = DefField(Gauge("gpu_remapped_rows_failed", "1 when a row remap failed (field 145)."), GpuLane.Slow, "field 145", 145);

    /// <summary>Retired pages, single bit.</summary>
    public static readonly int OffRetiredSingleBit = DefExtra(RetiredFamily, "field 29", 29, "single_bit");

    /// <summary>Retired pages, double bit.</summary>
    public static readonly int OffRetiredDoubleBit = DefExtra(RetiredFamily, "field 30", 30, "double_bit");

    /// <summary>Retirement pending.</summary>
    public static readonly int OffRetiredPending = DefField(Gauge("gpu_retired_pages_pending", "1 when a page retirement waits for a reboot (field 31)."), GpuLane.Slow, "field 31", 31);

    /// <summary>NVLink errors (each read per link and summed).</summary>
    public static readonly int OffNvlinkCrcFlit = DefLinks("crc_flit", 38);

    /// <summary>NVLink CRC data errors.</summary>
    public static readonly int OffNvlinkCrcData = DefLinks("crc_data", 45);

    /// <summary>NVLink replays.</summary>
    public static readonly int OffNvlinkReplay = DefLinks("replay", 52);

    /// <summary>NVLink recoveries.</summary>
    public static readonly int OffNvlinkRecovery = DefLinks("recovery", 59);

    /// <summary>PCIe replays.</summary>
    public static readonly int OffPcieReplays = DefField(Counter("gpu_pcie_replays_total", "PCIe replays (field 94)."), GpuLane.Slow, "field 94", 94);

    /// <summary>Throttle time, software thermal: field 251 or 269 (the other one a power-smoothing setting), as the driver answers.</summary>
    public static readonly int OffThrottleSwThermal = DefMoved("sw_thermal", 251, 269);

    /// <summary>Throttle time, hardware thermal: 252, then 270.</summary>
    public static readonly int OffThrottleHwThermal = DefMoved("hw_thermal", 252, 270);

    /// <summary>Throttle time, power brake: 253, then 271.</summary>
    public static readonly int OffThrottleHwPowerBrake = DefMoved("hw_power_brake", 253, 271);

    /// <summary>Perf-policy time, power cap (field 74, every branch).</summary>
    public static readonly int OffPolicyPower = DefExtra(ThrottleFamily, "field 74", 74, "sw_power_cap", scale: 1e-9);

    /// <summary>Perf-policy time, thermal (field 75).</summary>
    public static readonly int OffPolicyThermal = DefExtra(ThrottleFamily, "field 75", 75, "thermal", scale: 1e-9);

    /// <summary>Perf-policy time, sync boost (field 76).</summary>
    public static readonly int OffPolicySyncBoost = DefExtra(ThrottleFamily, "field 76", 76, "sync_boost", scale: 1e-9);

    /// <summary>PCIe link generation now.</summary>
    public static readonly int OffPcieGeneration = Def(Gauge("gpu_pcie_link_generation",
        "PCIe generation the GPU's link runs at now (nvmlDeviceGetCurrPcieLinkGeneration; an idle GPU may drop it to save power)."),
        GpuLane.Slow, "nvmlDeviceGetCurrPcieLinkGeneration");

    /// <summary>PCIe link generation allowed.</summary>
    public static readonly int OffPcieMaxGeneration = Def(Gauge("gpu_pcie_link_max_generation",
        "Highest PCIe generation the GPU and the system allow (nvmlDeviceGetMaxPcieLinkGeneration): 4 on p4d, 5 on p5."),
        GpuLane.Slow, "nvmlDeviceGetMaxPcieLinkGeneration");

    /// <summary>PCIe link width now.</summary>
    public static readonly int OffPcieWidth = Def(Gauge("gpu_pcie_link_width",
        "PCIe lanes the GPU's link runs with now (nvmlDeviceGetCurrPcieLinkWidth)."),
        GpuLane.Slow, "nvmlDeviceGetCurrPcieLinkWidth");

    /// <summary>PCIe link width allowed.</summary>
    public static readonly int OffPcieMaxWidth = Def(Gauge("gpu_pcie_link_max_width",
        "Most PCIe lanes the GPU and the system allow (nvmlDeviceGetMaxPcieLinkWidth): 16 on p4d and p5."),
        GpuLane.Slow, "nvmlDeviceGetMaxPcieLinkWidth");

    /// <summary>NVLink links the GPU has.</summary>
    public static readonly int OffNvlinkLinks = Def(Gauge("gpu_nvlink_links",
        "NVLink links the GPU has (field 91, NVLINK_LINK_COUNT): 12 on an A100, 18 on an H100."),
        GpuLane.Slow, "field 91");

    /// <summary>NVLink links up.</summary>
    public static readonly int OffNvlinkLinksActive = Def(Gauge("gpu_nvlink_links_active",
        "NVLink links that are up (nvmlDeviceGetNvLinkState for each link). Fewer than gpu_nvlink_links: traffic between GPUs is slower or falls back."),
        GpuLane.Slow, "nvmlDeviceGetNvLinkState");

    /// <summary>Last Xid time.</summary>
    public static readonly int OffLastXid = Def(Gauge("gpu_last_xid_timestamp_seconds",
        "Unix time of the GPU's last critical Xid event (absent until one happens)."), GpuLane.None, "");

    /// <summary>The fixed per-GPU series; index = offset from the GPU's base slot.</summary>
    public static IReadOnlyList<GpuSeries> PerGpu => Table;

    /// <summary>Offsets of the field-backed series of a lane, in table order.</summary>
    public static int[] FieldOffsets(GpuLane lane)
    {
        var offsets = new List<int>();
        for (var i = 0; i < Table.Count; i++)
        {
            if (Table[i].Lane == lane && Table[i].FieldId != 0 && !Table[i].PerLink)
            {
                offsets.Add(i);
            }
        }

        return [.. offsets];
    }

    /// <summary>Whether the series at <paramref name="offset"/> is a counter.</summary>
    public static bool IsCounter(int offset) => Table[offset].Family.Type == MetricType.Counter;

    private static MetricFamily Gauge(string name, string help) => new(name, help, MetricType.Gauge, G, U, P);

    private static MetricFamily Counter(string name, string help) => new(name, help, MetricType.Counter, G, U, P);

    private static int Def(MetricFamily family, GpuLane lane, string source) => Add(new GpuSeries(family, [], lane, source));

    private static int DefField(MetricFamily family, GpuLane lane, string source, uint fieldId, uint scopeId = 0, double scale = 1, (int, uint)[]? branches = null) =>
        Add(new GpuSeries(family, [], lane, source) { FieldId = fieldId, ScopeId = scopeId, Scale = scale, Branches = branches });

    private static int Add(GpuSeries series)
    {
        Table.Add(series);
        return Table.Count - 1;
    }

    private static int DefExtra(MetricFamily family, string source, uint fieldId, string extra, uint scopeId = 0, double scale = 1) =>
        Add(new GpuSeries(family, [extra], GpuLane.Slow, source) { FieldId = fieldId, ScopeId = scopeId, Scale = scale });

    /// <summary>A clock-event time whose field id moved between driver builds: the driver is asked which it answers.</summary>
    private static int DefMoved(string reason, uint before, uint after) =>
        Add(new GpuSeries(ThrottleFamily, [reason], GpuLane.Slow, $"field {before} or {after}, whichever the driver answers as a counter")
        {
            FieldId = after,
            MovedFrom = before,
            Scale = 1e-9,
        });

    private static int DefLinks(string type, uint fieldId) =>
        Add(new GpuSeries(NvlinkErrorFamily, [type], GpuLane.Slow, $"field {fieldId} per link") { FieldId = fieldId, PerLink = true });

    private static int[] DefClockReasons() =>
        [.. ClockReasons.Select(r => Add(new GpuSeries(ClockEventFamily, [r.Label], GpuLane.Fast, "nvmlDeviceGetCurrentClocksEventReasons")))];

    private static (NvmlMemoryErrorType, NvmlEccCounterType, int)[] DefEcc() =>
    [
        .. from type in new[] { (NvmlMemoryErrorType.Corrected, "corrected"), (NvmlMemoryErrorType.Uncorrected, "uncorrected") }
           from counter in new[] { (NvmlEccCounterType.Volatile, "volatile"), (NvmlEccCounterType.Aggregate, "aggregate") }
           select (type.Item1, counter.Item1, Add(new GpuSeries(EccFamily, [type.Item2, counter.Item2], GpuLane.Slow, "nvmlDeviceGetTotalEccErrors"))),
    ];
}

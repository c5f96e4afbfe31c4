using EfaAgent.Agent.Scrape;
using EfaAgent.Collectors.Model;

namespace EfaAgent.Agent.Top;

/// <summary>Builds the per-device part of a <see cref="NodeView"/> from the latest reading and the one before.</summary>
public static class NodeViewBuilder
{
    /// <summary>Port counters shown as errors besides every <c>*_err</c>: drops, retransmits and troubled peers.</summary>
    private static readonly HashSet<string> PortErrorCounters = new(StringComparer.Ordinal)
    {
        "rx_drops", "retrans_pkts", "retrans_timeout_events", "unresponsive_remote_events", "impaired_remote_conn_events",
    };

    /// <summary>The EFA ports, in device order.</summary>
    public static List<EfaPortView> EfaPorts(Reading now, Reading? before)
    {
        var m = now.Metrics;
        var ports = new SortedDictionary<(string Device, string Port), string?>(Comparer<(string, string)>.Create(CompareDevicePort));
        foreach (var info in m.Series("rdma_device_info"))
        {
            if (info.Label("efa") == "true")
            {
                ports[(info.Label("device"), info.Label("port") is { Length: > 0 } p ? p : "1")] = info.Label("netdev") is { Length: > 0 } n ? n : null;
            }
        }

        foreach (var s in m.Series("efa_port_tx_bytes_total"))
        {
            ports.TryAdd((s.Label("device"), s.Label("port") is { Length: > 0 } p ? p : "1"), null);
        }

        // The EFA counters by device, read once rather than once per port.
        var byDevice = m.Samples
            .Where(s => s.Name.EndsWith("_total", StringComparison.Ordinal) && (s.Name.StartsWith("efa_port_", StringComparison.Ordinal) || s.Name.StartsWith("efa_device_", StringComparison.Ordinal)))
            .ToLookup(s => s.Label("device"), StringComparer.Ordinal);
        var list = new List<EfaPortView>();
        foreach (var ((device, port), netdev) in ports)
        {
            (string, string)[] match = [("device", device), ("port", port)];
            double? Rate(string counter) => now.Rate(before, Reading.Key($"efa_port_{counter}_total", Labels(match)));
            list.Add(new EfaPortView(
                device,
                port,
                netdev,
                m.Value("rdma_port_rate_bytes_per_second", match),
                Rate("tx_bytes"),
                Rate("rx_bytes"),
                m.Value("efa_port_transmit_peak_bytes_per_second", match),
                m.Value("efa_port_receive_peak_bytes_per_second", match),
                Rate("rdma_read_bytes"),
                Rate("rdma_write_bytes"),
                Errors(now, before, byDevice[device], port, firstPort: ports.Keys.First(k => k.Device == device).Port == port)));
        }

        return list;
    }

    /// <summary>
    /// The physical interfaces (the ones the recording rules sum), each with its EFA device and its
    /// ENA allowance drops; <paramref name="window"/> holds the readings of the last minute, oldest first.
    /// </summary>
    public static List<InterfaceView> Interfaces(Reading now, Reading? before, IReadOnlyList<EfaPortView> efa, IReadOnlyList<Reading> window)
    {
        var list = new List<InterfaceView>();
        foreach (var s in now.Metrics.Series("netdev_transmit_bytes_total"))
        {
            var device = s.Label("device");
            if (!IsPhysical(device))
            {
                continue;
            }

            var labels = Labels([("device", device)]);
            list.Add(new InterfaceView(
                device,
                efa.FirstOrDefault(p => p.Netdev == device)?.Device,
                now.Rate(before, Reading.Key("netdev_transmit_bytes_total", labels)),
                now.Rate(before, Reading.Key("netdev_receive_bytes_total", labels)),
                now.Metrics.Value("netdev_transmit_peak_bytes_per_second", ("device", device)),
                now.Metrics.Value("netdev_receive_peak_bytes_per_second", ("device", device)),
                AllowanceDrops(now, window, device)));
        }

        list.Sort((a, b) => string.CompareOrdinal(a.Device, b.Device));
        return list;
    }

    /// <summary>Whether the node sums of the recording rules count this interface (not lo, not a virtual one).</summary>
    public static bool IsPhysical(string device) => device != "lo" && !AlertConditions.VirtualInterfaces.NegativeRegex.IsMatch(device);

    /// <summary>The GPUs, in index order.</summary>
    public static List<GpuView> Gpus(Reading now, Reading? before)
    {
        var m = now.Metrics;
        var indexes = m.Series("gpu_up").Concat(m.Series("gpu_info")).Select(s => s.Label("gpu")).Distinct()
            .OrderBy(g => int.TryParse(g, out var i) ? i : int.MaxValue).ThenBy(g => g, StringComparer.Ordinal);
        var throttle = AlertConditions.Throttled.Alternatives;
        var list = new List<GpuView>();
        foreach (var gpu in indexes)
        {
            var match = ("gpu", gpu);
            var labels = Labels([match]);
            double? Rate(string name) => now.Rate(before, Reading.Key(name, labels));
            var active = m.Series("gpu_clock_event_active")
                .Where(s => s.Label("gpu") == gpu && s.Value == 1 && throttle.Contains(s.Label("reason")))
                .Select(s => s.Label("reason")).ToList();
            var xids = m.Series("gpu_xid_errors_total").Where(s => s.Label("gpu") == gpu)
                .Select(s => new ErrorCount(s.Label("xid"), s.Value, now.Increase(before, Reading.Key(s.Name, s)) ?? 0))
                .Where(e => e.Total > 0).ToList();
            list.Add(new GpuView(
                gpu,
                m.Value("gpu_up", match) != 0,
                m.Value("gpu_utilization_ratio", match),
                m.Value("gpu_memory_used_bytes", match),
                m.Value("gpu_memory_total_bytes", match),
                m.Value("gpu_power_watts", match),
                m.Value("gpu_temperature_celsius", match),
                m.Value("gpu_sm_clock_hertz", match),
                active,
                Rate("gpu_nvlink_transmit_bytes_total"),
                Rate("gpu_nvlink_receive_bytes_total"),
                Rate("gpu_pcie_transmit_bytes_total"),
                Rate("gpu_pcie_receive_bytes_total"),
                xids));
        }

        return list;
    }

    /// <summary>Whether a port counter (without prefix and <c>_total</c>) counts errors.</summary>
    public static bool IsPortError(string counter) => PortErrorCounters.Contains(counter) || counter.EndsWith("_err", StringComparison.Ordinal);

    /// <summary>Whether a device counter counts errors (failed or uncompleted admin commands).</summary>
    public static bool IsDeviceError(string counter) => counter.EndsWith("_err", StringComparison.Ordinal) || counter == "no_completion_cmds";

    /// <summary>
    /// The ENA allowance counters of an interface that ever moved, in the order of the ethtool table,
    /// each with its last step: the agent reads them on its slow lane, so the step between two scrapes
    /// is mostly 0 and the last step within the window is the increase of their last interval.
    /// </summary>
    private static List<ErrorCount> AllowanceDrops(Reading now, IReadOnlyList<Reading> window, string device)
    {
        var list = new List<ErrorCount>();
        foreach (var a in EnaAllowance.All)
        {
            if (now.Metrics.Series(a.Counter).FirstOrDefault(s => s.Label("device") == device) is { } s)
            {
                var recent = now.LastStep(window, Reading.Key(s.Name, s)) ?? 0;
                if (s.Value > 0 || recent > 0)
                {
                    list.Add(new ErrorCount(a.Name, s.Value, recent));
                }
            }
        }

        return list;
    }

    private static List<ErrorCount> Errors(Reading now, Reading? before, IEnumerable<Sample> counters, string port, bool firstPort)
    {
        var list = new List<ErrorCount>();
        foreach (var s in counters)
        {
            string counter;
            if (s.Name.StartsWith("efa_port_", StringComparison.Ordinal) && s.Label("port") == port)
            {
                counter = s.Name["efa_port_".Length..^"_total".Length];
                if (!IsPortError(counter))
                {
                    continue;
                }
            }
            else if (firstPort && s.Name.StartsWith("efa_device_", StringComparison.Ordinal))
            {
                // Device-level admin errors are shown on the device's first port.
                counter = s.Name["efa_device_".Length..^"_total".Length];
                if (!IsDeviceError(counter))
                {
                    continue;
                }
            }
            else
            {
                continue;
            }

            var recent = now.Increase(before, Reading.Key(s.Name, s)) ?? 0;
            if (s.Value > 0 || recent > 0)
            {
                list.Add(new ErrorCount(counter, s.Value, recent));
            }
        }

        return list;
    }

    private static Dictionary<string, string> Labels((string Label, string Value)[] match) =>
        match.ToDictionary(m => m.Label, m => m.Value, StringComparer.Ordinal);

    /// <summary>Devices in natural order (rdmap16s27 before rdmap144s27), then ports.</summary>
    private static int CompareDevicePort((string Device, string Port) a, (string Device, string Port) b)
    {
        var c = NaturalCompare(a.Device, b.Device);
        return c != 0 ? c : NaturalCompare(a.Port, b.Port);
    }

    /// <summary>Compares strings with their runs of digits compared as numbers.</summary>
    public static int NaturalCompare(string a, string b) => NaturalOrder.Instance.Compare(a, b);
}

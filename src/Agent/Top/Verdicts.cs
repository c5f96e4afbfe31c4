using System.Globalization;

namespace EfaAgent.Agent.Top;

/// <summary>
/// The verdicts of a node, in words, from the conditions of the shipped alert rules
/// (<see cref="AlertConditions"/>): each rate over the scrapes <c>top</c> has, up to a minute (the
/// rules' <c>rate1m</c>), each "increase" as "moved within that window".
/// </summary>
public static class Verdicts
{
    /// <summary>What the verdicts are computed from.</summary>
    /// <param name="Now">The latest reading.</param>
    /// <param name="WindowStart">The oldest reading within the last minute (null with a single reading).</param>
    /// <param name="Efa">The EFA ports.</param>
    /// <param name="Interfaces">The physical interfaces.</param>
    /// <param name="Gpus">The GPUs.</param>
    /// <param name="WallClock">Unix time now, to age the agent's last sample.</param>
    public sealed record Input(Reading Now, Reading? WindowStart, IReadOnlyList<EfaPortView> Efa, IReadOnlyList<InterfaceView> Interfaces, IReadOnlyList<GpuView> Gpus, double WallClock);

    /// <summary>The verdicts, the most serious first; a healthy node gets one that says so.</summary>
    public static List<Verdict> Evaluate(Input input)
    {
        var m = input.Now.Metrics;
        var list = new List<Verdict>();
        var c = AlertConditions.NotSampling;
        if (m.Value("efa_agent_last_sample_timestamp_seconds") is { } last && input.WallClock - last > c.Threshold)
        {
            list.Add(new Verdict(Severity.Critical, $"agent not sampling: last sample {Seconds(input.WallClock - last)} ago", c.Rule));
        }

        foreach (var s in m.Series("efa_agent_collector_success").Where(s => s.Value == AlertConditions.CollectorFailing.Threshold))
        {
            list.Add(new Verdict(Severity.Warning, $"collector {s.Label("collector")} failing", AlertConditions.CollectorFailing.Rule));
        }

        GpuVerdicts(input, list);
        EfaVerdicts(input, list);
        list.Sort((a, b) => a.Severity.CompareTo(b.Severity));
        return list;
    }

    private static void GpuVerdicts(Input input, List<Verdict> list)
    {
        var m = input.Now.Metrics;
        foreach (var g in input.Gpus.Where(g => !g.Up))
        {
            list.Add(new Verdict(Severity.Critical, $"GPU {g.Index} lost", AlertConditions.GpuLost.Rule));
        }

        var type = m.Series("efa_node_info").Select(s => s.Label("instance_type")).FirstOrDefault(t => !string.IsNullOrEmpty(t));
        var nvidia = type is not null && AlertConditions.NvidiaInstanceTypes.Pattern.IsMatch(type);
        if (m.Value("gpu_nvml_stalled") == AlertConditions.NvmlStalled.Threshold)
        {
            list.Add(new Verdict(Severity.Critical, "NVML calls hang: GPU values are stale", AlertConditions.NvmlStalled.Rule));
        }
        else if (nvidia && m.Value("gpu_nvml_up") == AlertConditions.NvmlDown.Threshold)
        {
            list.Add(new Verdict(Severity.Critical, "NVML down: no GPU metrics", AlertConditions.NvmlDown.Rule));
        }

        var critical = AlertConditions.CriticalXid.Alternatives;
        foreach (var s in m.Series("gpu_xid_errors_total").Where(s => critical.Contains(s.Label("action"))))
        {
            var moved = input.WindowStart is null ? null : input.Now.Increase(input.WindowStart, Reading.Key(s.Name, s));
            if (moved > AlertConditions.CriticalXid.Threshold || (moved is null && s.Value > 0 && input.WindowStart is not null))
            {
                list.Add(new Verdict(Severity.Critical, $"GPU {s.Label("gpu")} Xid {s.Label("xid")}", AlertConditions.CriticalXid.Rule));
            }
        }

        foreach (var s in m.Series("gpu_ecc_errors_total").Where(s => s.Label("type") == "uncorrected" && s.Label("counter") == "volatile"))
        {
            if (input.Now.Increase(input.WindowStart, Reading.Key(s.Name, s)) > AlertConditions.EccUncorrected.Threshold)
            {
                list.Add(new Verdict(Severity.Critical, $"GPU {s.Label("gpu")} uncorrected ECC errors", AlertConditions.EccUncorrected.Rule));
            }
        }

        foreach (var s in m.Series("gpu_remapped_rows_failed").Where(s => s.Value > AlertConditions.RemappedRowsFailed.Threshold))
        {
            list.Add(new Verdict(Severity.Critical, $"GPU {s.Label("gpu")} failed to remap a memory row", AlertConditions.RemappedRowsFailed.Rule));
        }

        foreach (var s in m.Series("gpu_remapped_rows_pending").Where(s => s.Value > AlertConditions.RemappedRowsPending.Threshold))
        {
            list.Add(new Verdict(Severity.Warning, $"GPU {s.Label("gpu")} needs a reset to remap memory", AlertConditions.RemappedRowsPending.Rule));
        }

        foreach (var g in input.Gpus.Where(g => g.Throttle.Count > 0))
        {
            list.Add(new Verdict(Severity.Warning, $"GPU {g.Index} throttled ({string.Join(", ", g.Throttle)})", AlertConditions.Throttled.Rule));
        }

        LinkVerdicts(m, list);
    }

    /// <summary>A busy GPU on a downtrained PCIe link, and NVLink links down.</summary>
    private static void LinkVerdicts(Scrape.MetricSet m, List<Verdict> list)
    {
        foreach (var width in m.Series("gpu_pcie_link_width"))
        {
            var gpu = width.Label("gpu");
            var gen = m.Value("gpu_pcie_link_generation", ("gpu", gpu));
            var maxGen = m.Value("gpu_pcie_link_max_generation", ("gpu", gpu));
            var maxWidth = m.Value("gpu_pcie_link_max_width", ("gpu", gpu));
            var busy = m.Value("gpu_utilization_ratio", ("gpu", gpu)) > AlertConditions.PcieGpuBusy.Threshold;
            if (busy && (gen < maxGen || width.Value < maxWidth))
            {
                list.Add(new Verdict(Severity.Warning,
                    string.Create(CultureInfo.InvariantCulture, $"GPU {gpu} PCIe link at Gen{gen} x{width.Value}, can do Gen{maxGen} x{maxWidth}"),
                    AlertConditions.PcieWidthDown.Rule));
            }
        }

        foreach (var active in m.Series("gpu_nvlink_links_active"))
        {
            if (m.Value("gpu_nvlink_links", ("gpu", active.Label("gpu"))) is { } links && active.Value < links)
            {
                list.Add(new Verdict(Severity.Warning,
                    string.Create(CultureInfo.InvariantCulture, $"GPU {active.Label("gpu")} has {active.Value} of {links} NVLink links up"),
                    AlertConditions.NvlinkLinksDown.Rule));
            }
        }
    }

    private static void EfaVerdicts(Input input, List<Verdict> list)
    {
        var now = input.Now;
        var m = now.Metrics;
        var found = m.Value("efa_devices");
        var expected = m.Series("efa_devices_expected") is [var e, ..] ? e : null;
        if (found is { } f && expected is not null && expected.Value > f)
        {
            list.Add(new Verdict(Severity.Warning,
                string.Create(CultureInfo.InvariantCulture, $"{f} of {expected.Value} EFA devices found ({expected.Label("instance_type")} has {expected.Value})"),
                AlertConditions.EfaDevicesMissing.Rule));
        }

        ErrorVerdict(input, list, "efa_port_rx_drops_total", AlertConditions.RxDrops, "EFA receive drops");
        ErrorVerdict(input, list, "efa_port_retrans_timeout_events_total", AlertConditions.RetransmitTimeouts, "EFA retransmit timeouts");
        ErrorVerdict(input, list, "efa_port_unresponsive_remote_events_total", AlertConditions.RemoteUnresponsive, "unresponsive EFA peers");
        ErrorVerdict(input, list, "efa_port_impaired_remote_conn_events_total", AlertConditions.RemoteImpaired, "impaired EFA peer connections");
        ErrorVerdict(input, list, "efa_port_rdma_read_wr_err_total", AlertConditions.ReadWorkRequestErrors, "failed RDMA reads");
        ErrorVerdict(input, list, "efa_port_rdma_write_wr_err_total", AlertConditions.WriteWorkRequestErrors, "failed RDMA writes");
        ErrorVerdict(input, list, "efa_device_cmds_err_total", AlertConditions.CommandErrors, "failed EFA admin commands");
        ErrorVerdict(input, list, "efa_device_no_completion_cmds_total", AlertConditions.CommandsUncompleted, "uncompleted EFA admin commands");

        foreach (var s in m.Series("efa_port_retrans_pkts_total"))
        {
            var sent = m.Series("efa_port_tx_pkts_total").FirstOrDefault(t => t.Labels.GetValueOrDefault("device") == s.Labels.GetValueOrDefault("device") && t.Labels.GetValueOrDefault("port") == s.Labels.GetValueOrDefault("port"));
            if (sent is not null && now.Increase(input.WindowStart, Reading.Key(s.Name, s)) is { } r && now.Increase(input.WindowStart, Reading.Key(sent.Name, sent)) is { } t and > 0
                && r / t > AlertConditions.RetransmitRatio.Threshold)
            {
                list.Add(new Verdict(Severity.Warning, string.Create(CultureInfo.InvariantCulture, $"EFA {s.Label("device")} retransmits {100 * r / t:0.0}% of its packets"), AlertConditions.RetransmitRatio.Rule));
            }
        }

        TrafficVerdict(input, list);
        EnaVerdicts(input, list); // after the traffic verdict: NCCL on sockets is what drives the ENA over its allowances
    }

    /// <summary>ENA devices over an allowance; those over the same ones share a sentence.</summary>
    private static void EnaVerdicts(Input input, List<Verdict> list)
    {
        var c = AlertConditions.EnaAllowanceExceeded;
        var over = new SortedDictionary<string, List<string>>(Comparer<string>.Create(NodeViewBuilder.NaturalCompare));
        foreach (var a in EnaAllowance.All)
        {
            foreach (var s in input.Now.Metrics.Series(a.Counter).Where(s => input.Now.Increase(input.WindowStart, Reading.Key(s.Name, s)) > c.Threshold))
            {
                over.TryAdd(s.Label("device"), []);
                over[s.Label("device")].Add(a.Name);
            }
        }

        foreach (var group in over.GroupBy(o => string.Join(", ", o.Value), StringComparer.Ordinal))
        {
            var devices = group.Select(o => o.Key).ToList();
            var whose = devices.Count == 1 ? "its" : "their";
            var plural = group.First().Value.Count == 1 ? "" : "s";
            list.Add(new Verdict(Severity.Warning, $"ENA {Devices(devices)} over {whose} {group.Key} allowance{plural}: AWS queues or drops packets", c.Rule));
        }
    }

    private static void ErrorVerdict(Input input, List<Verdict> list, string counter, AlertCondition condition, string what)
    {
        var devices = input.Now.Metrics.Series(counter)
            .Where(s => input.Now.Increase(input.WindowStart, Reading.Key(s.Name, s)) > condition.Threshold)
            .Select(s => s.Label("device")).Distinct().ToList();
        if (devices.Count > 0)
        {
            list.Add(new Verdict(Severity.Warning, $"{what} on {Devices(devices)}", condition.Rule));
        }
    }

    /// <summary>Is the job's traffic on EFA, on TCP sockets, or is the node idle?</summary>
    private static void TrafficVerdict(Input input, List<Verdict> list)
    {
        if (input.WindowStart is null)
        {
            return; // no rate yet
        }

        var efaTx = WindowRate(input, "efa_port_tx_bytes_total", _ => true);
        var enaTx = WindowRate(input, "netdev_transmit_bytes_total", NodeViewBuilder.IsPhysical);
        var enaRx = WindowRate(input, "netdev_receive_bytes_total", NodeViewBuilder.IsPhysical);
        var up = input.Gpus.Where(g => g.Utilization is not null).ToList();
        double? gpuMean = up.Count == 0 ? null : up.Average(g => g.Utilization!.Value);
        var hasEfa = input.Efa.Count > 0 || input.Now.Metrics.Value("efa_devices_expected") > 0;
        var gpusBusy = gpuMean > AlertConditions.GpusBusy.Threshold;
        var efaBusy = efaTx > AlertConditions.EfaBusy.Threshold;
        var enaBusy = enaTx > AlertConditions.EnaTransmitBusy.Threshold && enaRx > AlertConditions.EnaReceiveBusy.Threshold;
        if (gpusBusy && enaBusy && hasEfa && !efaBusy)
        {
            list.Add(new Verdict(Severity.Warning, "GPUs busy, EFA idle, ENA busy: NCCL is probably using TCP sockets", AlertConditions.EfaBusy.Rule));
        }
        else if (efaBusy)
        {
            list.Add(new Verdict(Severity.Good, gpusBusy || gpuMean is null ? "EFA carries the job" : "EFA carries traffic, GPUs mostly idle", null));
        }
        else if (gpusBusy)
        {
            list.Add(new Verdict(Severity.Info, hasEfa ? "GPUs busy, no EFA traffic (a single-node job?)" : "GPUs busy; no EFA device on this node", null));
        }
        else
        {
            list.Add(new Verdict(Severity.Info, "idle: no EFA traffic, GPUs not busy", null));
        }
    }

    /// <summary>The node sum of a counter's rates over the window, as a <c>rate1m</c> recording rule computes it.</summary>
    public static double WindowRate(Input input, string counter, Func<string, bool> device)
    {
        var total = 0.0;
        foreach (var s in input.Now.Metrics.Series(counter).Where(s => device(s.Label("device"))))
        {
            total += input.Now.Rate(input.WindowStart, Reading.Key(s.Name, s)) ?? 0;
        }

        return total;
    }

    private static string Devices(List<string> devices) =>
        devices.Count <= 3 ? string.Join(", ", devices) : $"{string.Join(", ", devices.Take(2))} and {devices.Count - 2} more";

    private static string Seconds(double s) => s < 120
        ? string.Create(CultureInfo.InvariantCulture, $"{s:0} s")
        : string.Create(CultureInfo.InvariantCulture, $"{s / 60:0} min");
}

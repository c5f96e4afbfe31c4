using System.Globalization;
using System.Text.RegularExpressions;

namespace EfaAgent.Agent.Top;

/// <summary>
/// One condition of a shipped Prometheus rule, written as the text that appears in the rule's
/// expression. <c>top</c> reads its threshold (the number at the end) or its alternatives (the
/// <c>=~"a|b"</c> list) from that text, and a test checks that the text is in the rule, so a threshold
/// changed in the rules and not here (or the other way round) fails the build.
/// </summary>
/// <param name="Rule">The alert (or recording rule) whose expression holds <paramref name="Expression"/>.</param>
/// <param name="Expression">A part of the rule's expression, spaces as in the rule.</param>
public sealed partial record AlertCondition(string Rule, string Expression)
{
    /// <summary>The number the expression compares with (its last word).</summary>
    public double Threshold => double.Parse(Expression[(Expression.LastIndexOf(' ') + 1)..], NumberStyles.Float, CultureInfo.InvariantCulture);

    /// <summary>The alternatives of the expression's regex matcher, <c>label=~"a|b|c"</c>.</summary>
    public IReadOnlyList<string> Alternatives => MatcherRegex().Match(Expression) is { Success: true } m
        ? m.Groups[1].Value.Split('|')
        : throw new InvalidOperationException($"no =~ matcher in {Expression}");

    /// <summary>The regex of the expression's matcher, <c>label=~"..."</c>, anchored as Prometheus anchors it.</summary>
    public Regex Pattern => new($"^(?:{MatcherRegex().Match(Expression).Groups[1].Value})$", RegexOptions.CultureInvariant);

    /// <summary>The regex of the expression's negative matcher, <c>label!~"..."</c>, anchored as Prometheus anchors it.</summary>
    public Regex NegativeRegex => NegativeRegexText().Match(Expression) is { Success: true } m
        ? new Regex($"^(?:{m.Groups[1].Value})$", RegexOptions.CultureInvariant)
        : throw new InvalidOperationException($"no !~ matcher in {Expression}");

    [GeneratedRegex("=~\"([^\"]*)\"")]
    private static partial Regex MatcherRegex();

    [GeneratedRegex("!~\"([^\"]*)\"")]
    private static partial Regex NegativeRegexText();
}

/// <summary>
/// The conditions of <c>deploy/prometheus/rules/*.yml</c> that <c>top</c> turns into verdicts. The
/// rules hold for minutes (<c>for:</c>) and over 1-10 minute windows; <c>top</c> shows the condition
/// as it is now, over the scrapes it has (up to a minute).
/// </summary>
public static class AlertConditions
{
    /// <summary>GPUs busy (mean utilisation of the node).</summary>
    public static readonly AlertCondition GpusBusy = new("EfaNotUsedWhileGpusBusy", "node:gpu_utilization_ratio:avg > 0.5");

    /// <summary>ENA transmits (bytes/s, physical interfaces).</summary>
    public static readonly AlertCondition EnaTransmitBusy = new("EfaNotUsedWhileGpusBusy", "node:netdev_transmit_bytes:rate1m > 10e6");

    /// <summary>ENA receives (bytes/s, physical interfaces).</summary>
    public static readonly AlertCondition EnaReceiveBusy = new("EfaNotUsedWhileGpusBusy", "node:netdev_receive_bytes:rate1m > 10e6");

    /// <summary>EFA transmits (bytes/s, all ports): above this, EFA carries the job.</summary>
    public static readonly AlertCondition EfaBusy = new("EfaNotUsedWhileGpusBusy", "node:efa_port_tx_bytes:rate1m > 1e6");

    /// <summary>The interfaces the node sums leave out (lo is left out by name).</summary>
    public static readonly AlertCondition VirtualInterfaces = new("node:netdev_transmit_bytes:rate1m", "device!~\"(veth|docker|br-|cni|flannel|cali|eni|vxlan|tunl|kube-|virbr|lxc|genev|tap|tun|cilium|nerdctl).*\"");

    /// <summary>Fewer EFA devices than the instance type has.</summary>
    public static readonly AlertCondition EfaDevicesMissing = new("EfaDevicesMissing", "efa_devices_expected > on (job, instance) group_left () efa_devices");

    /// <summary>The agent's last tick is older than this (seconds).</summary>
    public static readonly AlertCondition NotSampling = new("EfaAgentNotSampling", "time() - efa_agent_last_sample_timestamp_seconds > 60");

    /// <summary>A collector fails.</summary>
    public static readonly AlertCondition CollectorFailing = new("EfaAgentCollectorFailing", "efa_agent_collector_success == 0");

    /// <summary>EFA receive drops move.</summary>
    public static readonly AlertCondition RxDrops = new("EfaRxDrops", "rate(efa_port_rx_drops_total[5m]) > 0");

    /// <summary>Retransmitted packets over transmitted packets.</summary>
    public static readonly AlertCondition RetransmitRatio = new("EfaRetransmitRatioHigh", "/ rate(efa_port_tx_pkts_total[5m]) > 0.01");

    /// <summary>Retransmit timeouts move.</summary>
    public static readonly AlertCondition RetransmitTimeouts = new("EfaRetransmitTimeouts", "increase(efa_port_retrans_timeout_events_total[5m]) > 0");

    /// <summary>Unresponsive remote peers.</summary>
    public static readonly AlertCondition RemoteUnresponsive = new("EfaRemotePeerUnresponsive", "increase(efa_port_unresponsive_remote_events_total[5m]) > 0");

    /// <summary>Impaired remote connections.</summary>
    public static readonly AlertCondition RemoteImpaired = new("EfaRemotePeerImpaired", "increase(efa_port_impaired_remote_conn_events_total[5m]) > 0");

    /// <summary>Failed RDMA read work requests.</summary>
    public static readonly AlertCondition ReadWorkRequestErrors = new("EfaWorkRequestErrors", "increase(efa_port_rdma_read_wr_err_total[5m]) > 0");

    /// <summary>Failed RDMA write work requests.</summary>
    public static readonly AlertCondition WriteWorkRequestErrors = new("EfaWorkRequestErrors", "increase(efa_port_rdma_write_wr_err_total[5m]) > 0");

    /// <summary>Failed admin commands.</summary>
    public static readonly AlertCondition CommandErrors = new("EfaDeviceCommandErrors", "increase(efa_device_cmds_err_total[10m]) > 0");

    /// <summary>Admin commands without completion.</summary>
    public static readonly AlertCondition CommandsUncompleted = new("EfaDeviceCommandErrors", "increase(efa_device_no_completion_cmds_total[10m]) > 0");

    /// <summary>A GPU NVML cannot read.</summary>
    public static readonly AlertCondition GpuLost = new("GpuLost", "gpu_up == 0");

    /// <summary>NVML does not work.</summary>
    public static readonly AlertCondition NvmlDown = new("GpuNvmlDown", "gpu_nvml_up == 0");

    /// <summary>The instance types on which NVML must work.</summary>
    public static readonly AlertCondition NvidiaInstanceTypes = new("GpuNvmlDown", "efa_node_info{instance_type=~\"(p|g)[0-9].*\"}");

    /// <summary>An NVML call hangs.</summary>
    public static readonly AlertCondition NvmlStalled = new("GpuNvmlStalled", "gpu_nvml_stalled == 1");

    /// <summary>The Xid classes (the agent's action label) that mean a GPU reset or a node reboot.</summary>
    public static readonly AlertCondition CriticalXid = new("GpuCriticalXid", "increase(gpu_xid_errors_total{action=~\"reset_gpu|reboot_node\"}[10m]) > 0");

    /// <summary>The clock event reasons that mean throttling (sw_power_cap is normal at full load).</summary>
    public static readonly AlertCondition Throttled = new("GpuThermalOrPowerThrottling", "gpu_clock_event_active{reason=~\"hw_slowdown|sw_thermal|hw_thermal|hw_power_brake\"} == 1");

    /// <summary>A GPU's PCIe link trained below its generation.</summary>
    public static readonly AlertCondition PcieGenerationDown = new("GpuPcieLinkDowntrained", "gpu_pcie_link_generation < gpu_pcie_link_max_generation");

    /// <summary>A GPU's PCIe link trained below its width.</summary>
    public static readonly AlertCondition PcieWidthDown = new("GpuPcieLinkDowntrained", "gpu_pcie_link_width < gpu_pcie_link_max_width");

    /// <summary>Busy enough that a slow link matters (an idle GPU drops its link speed to save power).</summary>
    public static readonly AlertCondition PcieGpuBusy = new("GpuPcieLinkDowntrained", "gpu_utilization_ratio > 0.5");

    /// <summary>NVLink links of a GPU are down.</summary>
    public static readonly AlertCondition NvlinkLinksDown = new("GpuNvlinkLinksDown", "gpu_nvlink_links_active < gpu_nvlink_links");

    /// <summary>Uncorrected ECC errors move.</summary>
    public static readonly AlertCondition EccUncorrected = new("GpuEccUncorrectedErrors", "increase(gpu_ecc_errors_total{type=\"uncorrected\",counter=\"volatile\"}[10m]) > 0");

    /// <summary>A row remap failed.</summary>
    public static readonly AlertCondition RemappedRowsFailed = new("GpuRemappedRowsFailed", "gpu_remapped_rows_failed > 0");

    /// <summary>A row remap waits for a reset.</summary>
    public static readonly AlertCondition RemappedRowsPending = new("GpuRemappedRowsPending", "gpu_remapped_rows_pending > 0");

    /// <summary>
    /// An ENA allowance counter moves (the rule's closing comparison; each counter's part of the
    /// expression is <see cref="EnaAllowance.Condition"/>).
    /// </summary>
    public static readonly AlertCondition EnaAllowanceExceeded = new("EnaAllowanceExceeded", ") > 0");

    /// <summary>
    /// The alerts <c>top</c> does not turn into a verdict of its own, and why: a test fails when a new
    /// alert is neither here nor in a condition above.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string> NotShown = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["EfaAgentDown"] = "top shows a node that does not answer as such, from its own scrape",
        ["EfaAgentTickOverruns"] = "a 10-minute ratio of the agent's own timing; the rates top shows stay right",
        ["EfaAgentCounterUnavailable"] = "a counter the agent cannot export is simply absent from the view",
        ["GpuMissing"] = "a GPU never enumerated has no series to show; the GPU table shows how many there are",
    };

    /// <summary>Every condition above.</summary>
    public static IReadOnlyList<AlertCondition> All { get; } =
    [
        GpusBusy, EnaTransmitBusy, EnaReceiveBusy, EfaBusy, VirtualInterfaces, EfaDevicesMissing, NotSampling, CollectorFailing,
        RxDrops, RetransmitRatio, RetransmitTimeouts, RemoteUnresponsive, RemoteImpaired, ReadWorkRequestErrors, WriteWorkRequestErrors,
        CommandErrors, CommandsUncompleted, GpuLost, NvmlDown, NvidiaInstanceTypes, NvmlStalled, CriticalXid, Throttled, PcieGenerationDown, PcieWidthDown, PcieGpuBusy, NvlinkLinksDown, EccUncorrected,
        RemappedRowsFailed, RemappedRowsPending, EnaAllowanceExceeded, .. EnaAllowance.All.Select(a => a.Condition),
    ];
}

using System.Text;
using EfaAgent.Collectors.Efa;
using EfaAgent.Collectors.Model;

namespace EfaAgent.Collectors.Ethtool;

/// <summary>
/// The metrics made of ethtool statistics: the ENA allowance table, exported for every <c>ena</c>
/// interface, and the naming rule of <c>--collector.ethtool.all</c>, which exports every statistic
/// of every interface as read.
/// </summary>
public static class EthtoolNames
{
    /// <summary>The driver name of the Elastic Network Adapter.</summary>
    public const string EnaDriver = "ena";

    /// <summary>Identity of each interface that answers <c>ETHTOOL_GDRVINFO</c>.</summary>
    public static readonly MetricFamily Info = new(
        "ethtool_info",
        "1 per interface that answers ETHTOOL_GDRVINFO: driver (ena for the Elastic Network Adapter, veth, ...), driver_version, firmware_version and bus_info (the PCI address; empty for a virtual interface).",
        MetricType.Gauge,
        "device", "driver", "driver_version", "firmware_version", "bus_info");

    /// <summary>
    /// The ENA allowance statistics (the ENA driver's ENI statistics, fetched from the device with an
    /// admin command), by their ethtool name. Each counts packets the device queued or dropped because
    /// the instance exceeded one of its network allowances; <c>conntrack_allowance_available</c> is a level.
    /// </summary>
    public static readonly IReadOnlyList<(string Stat, MetricFamily Family)> Ena =
    [
        ("bw_in_allowance_exceeded", new("ena_bw_in_allowance_exceeded_total",
            "Packets queued or dropped by the ENA device because the inbound aggregate bandwidth exceeded the instance's allowance (ethtool -S bw_in_allowance_exceeded).",
            MetricType.Counter, "device")),
        ("bw_out_allowance_exceeded", new("ena_bw_out_allowance_exceeded_total",
            "Packets queued or dropped by the ENA device because the outbound aggregate bandwidth exceeded the instance's allowance (ethtool -S bw_out_allowance_exceeded).",
            MetricType.Counter, "device")),
        ("pps_allowance_exceeded", new("ena_pps_allowance_exceeded_total",
            "Packets queued or dropped by the ENA device because the bidirectional packets per second exceeded the instance's allowance (ethtool -S pps_allowance_exceeded).",
            MetricType.Counter, "device")),
        ("conntrack_allowance_exceeded", new("ena_conntrack_allowance_exceeded_total",
            "Packets dropped by the ENA device because connection tracking exceeded the instance's allowance: new connections could not be established (ethtool -S conntrack_allowance_exceeded).",
            MetricType.Counter, "device")),
        ("linklocal_allowance_exceeded", new("ena_linklocal_allowance_exceeded_total",
            "Packets dropped by the ENA device because traffic to link-local services (Amazon DNS, the instance metadata service, Amazon Time Sync) exceeded the per-interface packets-per-second allowance (ethtool -S linklocal_allowance_exceeded).",
            MetricType.Counter, "device")),
        ("conntrack_allowance_available", new("ena_conntrack_allowance_available",
            "Tracked connections the instance can still establish before it reaches its connection-tracking allowance (ethtool -S conntrack_allowance_available; newer ENA drivers only).",
            MetricType.Gauge, "device")),
    ];

    private static readonly string[] ReservedSuffixes = ["_total", "_count", "_sum", "_bucket", "_created"];

    /// <summary>The family of a statistic under <c>--collector.ethtool.all</c>, for <see cref="MetricName"/>.</summary>
    public static MetricFamily AllFamily(string metricName) => new(
        metricName,
        "Driver statistic read with ETHTOOL_GSTATS (ethtool -S), exported as read by --collector.ethtool.all: a counter or a level, as the driver defines it; the name follows the rule in the README.",
        MetricType.Gauge,
        "device");

    /// <summary>
    /// The metric name of an ethtool statistic under <c>--collector.ethtool.all</c> (node_exporter's
    /// rule): <c>ethtool_stat_</c> and the name lower-cased, every character outside <c>[a-z0-9_]</c>
    /// as <c>_</c>, runs of <c>_</c> folded, the words <c>rx</c> and <c>tx</c> as <c>received</c> and
    /// <c>transmitted</c>; a name ending in a suffix Prometheus reserves (<c>_total</c>, <c>_count</c>,
    /// ...) gets <c>_value</c>, since the agent cannot know whether the statistic is a counter.
    /// <c>rx_queue_0_bytes</c> becomes <c>ethtool_stat_received_queue_0_bytes</c>.
    /// </summary>
    public static string MetricName(string stat)
    {
        var words = RdmaCounterNames.Sanitize(stat).Split('_', StringSplitOptions.RemoveEmptyEntries);
        var sb = new StringBuilder("ethtool_stat");
        foreach (var w in words)
        {
            sb.Append('_').Append(w switch
            {
                "rx" => "received",
                "tx" => "transmitted",
                _ => w,
            });
        }

        var name = sb.ToString();
        return ReservedSuffixes.Any(s => name.EndsWith(s, StringComparison.Ordinal)) ? name + "_value" : name;
    }
}

using EfaAgent.Collectors.Ethtool;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Ethtool;

/// <summary>The naming rule of --collector.ethtool.all and the ENA allowance table.</summary>
public sealed class EthtoolNamesTests
{
    [Theory]
    [InlineData("peer_ifindex", "ethtool_stat_peer_ifindex")]
    [InlineData("rx_queue_0_xdp_packets", "ethtool_stat_received_queue_0_xdp_packets")]
    [InlineData("queue_3_tx_bytes", "ethtool_stat_queue_3_transmitted_bytes")]
    [InlineData("tx_timeout", "ethtool_stat_transmitted_timeout")]
    [InlineData("rx0_drops", "ethtool_stat_rx0_drops")]
    [InlineData("RX-CRC errors", "ethtool_stat_received_crc_errors")]
    [InlineData("port.rx_bytes", "ethtool_stat_port_received_bytes")]
    [InlineData("__tx__", "ethtool_stat_transmitted")]
    [InlineData("packets_total", "ethtool_stat_packets_total_value")]
    [InlineData("irq_count", "ethtool_stat_irq_count_value")]
    [InlineData("bw_in_allowance_exceeded", "ethtool_stat_bw_in_allowance_exceeded")]
    public void A_statistic_name_becomes_a_metric_name_by_the_rule(string stat, string metric) =>
        Assert.Equal(metric, EthtoolNames.MetricName(stat));

    [Fact]
    public void The_ena_table_has_the_five_allowance_counters_and_the_available_connections_gauge()
    {
        Assert.Equal(
            ["bw_in_allowance_exceeded", "bw_out_allowance_exceeded", "pps_allowance_exceeded", "conntrack_allowance_exceeded", "linklocal_allowance_exceeded", "conntrack_allowance_available"],
            EthtoolNames.Ena.Select(e => e.Stat));
        Assert.All(EthtoolNames.Ena, e => Assert.Equal(
            e.Stat.EndsWith("_exceeded", StringComparison.Ordinal) ? $"ena_{e.Stat}_total" : $"ena_{e.Stat}",
            e.Family.Name));
        Assert.All(EthtoolNames.Ena, e => Assert.Equal(["device"], e.Family.LabelNames));
    }

    [Fact]
    public void Every_ena_allowance_the_agent_exports_is_alerted_on_and_shown_on_both_dashboards()
    {
        var alerts = File.ReadAllText(Repo.PathTo("deploy", "prometheus", "rules", "efa-agent-alerts.yml"));
        var node = File.ReadAllText(Repo.PathTo("deploy", "grafana", "dashboards", "efa-agent-node.json"));
        var job = File.ReadAllText(Repo.PathTo("deploy", "grafana", "dashboards", "efa-agent-job.json"));
        foreach (var (_, family) in EthtoolNames.Ena)
        {
            if (family.Type == Collectors.Model.MetricType.Counter)
            {
                Assert.Contains($"rate({family.Name}[5m])", alerts, StringComparison.Ordinal);
                Assert.Contains(family.Name + "{", job, StringComparison.Ordinal);
            }

            Assert.Contains(family.Name + "{", node, StringComparison.Ordinal);
        }
    }
}

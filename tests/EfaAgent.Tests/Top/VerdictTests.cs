using EfaAgent.Agent.Scrape;
using EfaAgent.Agent.Top;

namespace EfaAgent.Tests.Top;

/// <summary>The verdicts in words, each from the condition of its alert rule.</summary>
public sealed class VerdictTests
{
    [Fact]
    public void Busy_GPUs_with_flat_EFA_and_busy_ENA_read_as_NCCL_on_sockets()
    {
        var b = TopInputs.Base();
        var node = TopInputs.Node("n", b, TopInputs.SocketFallback(b));

        var v = Assert.Single(node.Verdicts, v => v.Alert == "EfaNotUsedWhileGpusBusy");
        Assert.Equal("GPUs busy, EFA idle, ENA busy: NCCL is probably using TCP sockets", v.Text);
        Assert.Equal(Severity.Warning, v.Severity);
    }

    [Fact]
    public void EFA_traffic_above_the_rule_threshold_carries_the_job()
    {
        var b = TopInputs.Base();
        var node = TopInputs.Node("n", b, TopInputs.Training(b));

        Assert.Contains(node.Verdicts, v => v is { Severity: Severity.Good, Text: "EFA carries the job" });
        Assert.Contains(node.Verdicts, v => v.Text == "GPU 5 lost" && v.Alert == "GpuLost");
        Assert.Contains(node.Verdicts, v => v.Text == "EFA receive drops on rdmap32s27" && v.Alert == "EfaRxDrops");
    }

    [Fact]
    public void A_first_scrape_taken_before_the_agent_found_its_EFA_devices_does_not_hide_EFA_traffic_for_a_minute()
    {
        var b = TopInputs.Base();
        var noEfaYet = string.Join('\n', b.Split('\n').Where(l => !l.StartsWith("efa_port_", StringComparison.Ordinal)));
        var tracker = new NodeTracker("n", "http://n:19400/metrics");
        var wall = TopInputs.LastSample + 0.5;
        tracker.Update(ExpositionParser.Parse(noEfaYet), 99, wall - 2);
        tracker.Update(ExpositionParser.Parse(b), 100, wall - 1);
        var node = tracker.Update(ExpositionParser.Parse(TopInputs.Training(b)), 101, wall);

        Assert.Contains(node.Verdicts, v => v is { Severity: Severity.Good, Text: "EFA carries the job" });
    }

    [Fact]
    public void A_busy_GPU_on_a_downtrained_PCIe_link_and_NVLink_links_down_follow_their_rules()
    {
        var b = TopInputs.Set(TopInputs.Set(TopInputs.Base(), "gpu_pcie_link_width{gpu=\"3\"", 8), "gpu_nvlink_links_active{gpu=\"2\"", 16);
        b = TopInputs.Set(b, "gpu_pcie_link_generation{gpu=\"4\"", 3);
        b = TopInputs.Set(b, "gpu_utilization_ratio{gpu=\"4\"", 0.1);
        var node = TopInputs.Node("n", b, TopInputs.Training(b));

        var pcie = Assert.Single(node.Verdicts, v => v.Alert == "GpuPcieLinkDowntrained");
        Assert.Equal(("GPU 3 PCIe link at Gen5 x8, can do Gen5 x16", Severity.Warning), (pcie.Text, pcie.Severity));
        var nvlink = Assert.Single(node.Verdicts, v => v.Alert == "GpuNvlinkLinksDown");
        Assert.Equal("GPU 2 has 16 of 18 NVLink links up", nvlink.Text);
    }

    [Fact]
    public void An_Xid_that_needs_a_reset_or_a_reboot_is_critical_and_an_application_fault_is_not()
    {
        var b = TopInputs.Base();
        var after = TopInputs.Bump(TopInputs.Bump(b, "gpu_xid_errors_total{gpu=\"1\",uuid=\"GPU-fa6e0000-0000-4000-8000-000000000001\",pci_bus_id=\"00000000:20:00.0\",xid=\"79\"", 1),
            "gpu_xid_errors_total{gpu=\"2\",uuid=\"GPU-fa6e0000-0000-4000-8000-000000000002\",pci_bus_id=\"00000000:30:00.0\",xid=\"13\"", 1);
        var node = TopInputs.Node("n", b, after);

        var xid = Assert.Single(node.Verdicts, v => v.Alert == "GpuCriticalXid");
        Assert.Equal(("GPU 1 Xid 79", Severity.Critical), (xid.Text, xid.Severity));
    }

    [Fact]
    public void ENA_allowance_drops_in_the_window_name_the_interfaces_and_their_allowances()
    {
        var b = TopInputs.Base();
        var sockets = TopInputs.Node("n", b, TopInputs.SocketFallback(b));
        var one = TopInputs.Node("n", b, TopInputs.Bump(b, "ena_bw_in_allowance_exceeded_total{device=\"ens65\"", 7));

        var v = Assert.Single(sockets.Verdicts, v => v.Alert == "EnaAllowanceExceeded");
        Assert.Equal("ENA ens32, ens65 and 2 more over their bw_out, pps allowances: AWS queues or drops packets", v.Text);
        Assert.Equal(Severity.Warning, v.Severity);
        Assert.Equal("ENA ens65 over its bw_in allowance: AWS queues or drops packets", Assert.Single(one.Verdicts, v => v.Alert == "EnaAllowanceExceeded").Text);
    }

    [Fact]
    public void Old_ENA_allowance_drops_that_do_not_move_are_no_verdict()
    {
        var b = TopInputs.Base();
        var node = TopInputs.Node("n", b, TopInputs.Training(b));

        Assert.Equal(3, Assert.Single(Assert.Single(node.Interfaces, i => i.Device == "ens32").AllowanceDrops, e => e.Counter == "linklocal").Total);
        Assert.DoesNotContain(node.Verdicts, v => v.Alert == "EnaAllowanceExceeded");
    }

    [Fact]
    public void Fewer_EFA_devices_than_the_instance_type_are_counted_in_words()
    {
        var b = TopInputs.Set(TopInputs.Base(), "efa_devices ", 2);
        var node = TopInputs.Node("n", b, b);

        Assert.Contains(node.Verdicts, v => v.Text == "2 of 4 EFA devices found (p4d.24xlarge has 4)");
    }

    [Fact]
    public void A_last_sample_older_than_the_rule_allows_reads_as_agent_not_sampling()
    {
        var b = TopInputs.Base();
        var node = TopInputs.Node("n", b, b, wallClock: TopInputs.LastSample + 61);
        var fresh = TopInputs.Node("n", b, b, wallClock: TopInputs.LastSample + 59);

        Assert.Contains(node.Verdicts, v => v.Text == "agent not sampling: last sample 61 s ago" && v.Severity == Severity.Critical);
        Assert.DoesNotContain(fresh.Verdicts, v => v.Alert == "EfaAgentNotSampling");
    }

    [Fact]
    public void The_node_far_below_the_job_median_is_the_straggler()
    {
        var b = TopInputs.Base();
        var busy = TopInputs.Training(b);
        var slow = TopInputs.Base().Replace("gpu_utilization_ratio{gpu=\"0\"", "gpu_utilization_ratio{gpu=\"0\"", StringComparison.Ordinal);
        foreach (var gpu in new[] { "0", "1", "2", "3", "4", "6", "7" })
        {
            slow = TopInputs.Set(slow, $"gpu_utilization_ratio{{gpu=\"{gpu}\"", 0.2);
        }

        var job = JobView.From([TopInputs.Node("a", b, busy), TopInputs.Node("b", b, busy), TopInputs.Node("c", slow, TopInputs.Training(slow)), TopInputs.Dead("d")]);

        Assert.Null(job.Stragglers[0]);
        Assert.Null(job.Stragglers[1]);
        Assert.Equal("GPU utilisation 20%, job median 93%", job.Stragglers[2]);
        Assert.Null(job.Stragglers[3]);
    }

    [Fact]
    public void A_restarted_agent_starts_the_rates_over_instead_of_showing_negative_ones()
    {
        var b = TopInputs.Base();
        var restarted = TopInputs.Set(TopInputs.Training(b), "efa_agent_start_time_seconds", TopInputs.LastSample);
        restarted = TopInputs.Set(restarted, "efa_port_tx_bytes_total{device=\"rdmap16s27\"", 10);
        var node = TopInputs.Node("n", b, restarted);

        Assert.All(node.Efa, p => Assert.Null(p.Transmit));
    }
}

using EfaAgent.Collectors.Efa;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests;

public class RdmaDiscoveryTests
{
    private static readonly string[] BaseCounters = ["rx_bytes", "rx_drops", "rx_pkts", "tx_bytes", "tx_pkts"];

    private static readonly string[] R1_10Counters =
        ["rdma_read_bytes", "rdma_read_resp_bytes", "rdma_read_wr_err", "rdma_read_wrs", "recv_bytes", "recv_wrs", "send_bytes", "send_wrs"];

    private static readonly string[] R2_5Counters = ["rdma_write_bytes", "rdma_write_recv_bytes", "rdma_write_wr_err", "rdma_write_wrs"];

    private static readonly string[] R2_17Counters =
        ["impaired_remote_conn_events", "retrans_bytes", "retrans_pkts", "retrans_timeout_events", "unresponsive_remote_events"];

    private static readonly string[] AdminCounters =
    [
        "alloc_pd_err", "alloc_ucontext_err", "cmds_err", "completed_cmds", "create_ah_err", "create_cq_err",
        "create_qp_err", "keep_alive_rcvd", "mmap_err", "no_completion_cmds", "reg_mr_err", "submitted_cmds",
    ];

    private static IReadOnlyList<RdmaDevice> Discover(string fixture) => RdmaDiscovery.Discover(Repo.Fixture(fixture, "sys"));

    private static string[] Sorted(params string[][] sets) => [.. sets.SelectMany(s => s).Order(StringComparer.Ordinal)];

    [Fact]
    public void P4d_has_four_efa_devices_with_their_pci_function_numa_node_and_rate()
    {
        var devices = Discover("p4d-postsplit");

        Assert.Equal(
            [
                ("rdmap144s27", "0000:90:1b.0", "1"),
                ("rdmap160s27", "0000:a0:1b.0", "1"),
                ("rdmap16s27", "0000:10:1b.0", "0"),
                ("rdmap32s27", "0000:20:1b.0", "0"),
            ],
            devices.Select(d => (d.Name, d.PciAddress, d.NumaNode)));
        Assert.All(devices, d =>
        {
            Assert.True(d.IsEfa);
            Assert.Equal("efa", d.Driver);
            var port = Assert.Single(d.Ports);
            Assert.Equal("1", port.Port);
            Assert.Equal("100 Gb/sec (4X EDR)", port.Rate);
            Assert.Equal(12_500_000_000.0, port.RateBytesPerSecond);
        });
    }

    [Fact]
    public void P4d_pairs_each_efa_device_with_the_ena_netdev_whose_mac_its_gid_encodes()
    {
        var ports = Discover("p4d-postsplit").ToDictionary(d => d.Name, d => d.Ports[0]);

        Assert.Equal("fe80:0000:0000:0000:084c:1eff:fe8b:102a", ports["rdmap16s27"].Gid);
        Assert.Equal("0a:4c:1e:8b:10:2a", ports["rdmap16s27"].Mac);
        Assert.Equal(
            [("rdmap144s27", "ens130"), ("rdmap160s27", "ens163"), ("rdmap16s27", "ens32"), ("rdmap32s27", "ens65")],
            ports.Select(p => (p.Key, p.Value.Netdev)).Order());
    }

    [Fact]
    public void P4d_post_split_driver_has_admin_counters_on_the_device_and_traffic_counters_on_the_port()
    {
        Assert.All(Discover("p4d-postsplit"), d =>
        {
            Assert.True(d.HasHwCounters);
            Assert.Equal(AdminCounters, d.HwCounters);
            Assert.True(d.Ports[0].HasHwCounters);
            Assert.Equal(Sorted(BaseCounters, R1_10Counters, R2_5Counters), d.Ports[0].HwCounters);
        });
    }

    [Fact]
    public void P5_on_6_17_has_32_efa_devices_with_every_port_counter_set()
    {
        var devices = Discover("p5-617");

        int[] numbers = [79, 80, 81, 82, 96, 97, 98, 99, 113, 114, 115, 116, 130, 131, 132, 133,
            147, 148, 149, 150, 164, 165, 166, 167, 181, 182, 183, 184, 198, 199, 200, 201];
        Assert.Equal(numbers.Select(n => $"rdmap{n}s0").Order(StringComparer.Ordinal), devices.Select(d => d.Name));
        var byName = devices.ToDictionary(d => d.Name);
        foreach (var n in numbers)
        {
            var d = byName[$"rdmap{n}s0"];
            Assert.True(d.IsEfa);
            Assert.Equal("efa", d.Driver);
            Assert.Equal($"0000:{n:x2}:00.0", d.PciAddress);
            Assert.Equal(AdminCounters, d.HwCounters);
            Assert.Equal(Sorted(BaseCounters, R1_10Counters, R2_5Counters, R2_17Counters), d.Ports[0].HwCounters);
        }

        Assert.Equal("0", byName["rdmap133s0"].NumaNode);
        Assert.Equal("1", byName["rdmap147s0"].NumaNode);
    }

    [Fact]
    public void P5_pairs_only_the_first_device_with_an_ena_netdev_the_others_are_efa_only()
    {
        var devices = Discover("p5-617");

        var paired = Assert.Single(devices, d => d.Ports[0].Netdev.Length > 0);
        Assert.Equal("rdmap79s0", paired.Name);
        Assert.Equal("enp71s0", paired.Ports[0].Netdev);
        Assert.All(devices, d => Assert.NotNull(d.Ports[0].Mac));
        Assert.Equal(32, devices.Select(d => d.Ports[0].Mac).Distinct().Count());
    }

    [Fact]
    public void Pre_split_driver_shows_the_same_full_counter_list_on_the_device_and_on_the_port()
    {
        var devices = Discover("presplit-4x");

        Assert.Equal(["efa_0", "efa_1"], devices.Select(d => d.Name));
        Assert.All(devices, d =>
        {
            Assert.True(d.IsEfa);
            Assert.Equal("efa", d.Driver);
            Assert.Equal("-1", d.NumaNode);
            Assert.True(d.HasHwCounters);
            Assert.Equal(Sorted(BaseCounters, AdminCounters), d.HwCounters);
            Assert.Equal(d.HwCounters, d.Ports[0].HwCounters);
        });
        Assert.Equal(["eth0", "eth1"], devices.Select(d => d.Ports[0].Netdev));
        Assert.Equal(["0000:00:06.0", "0000:00:07.0"], devices.Select(d => d.PciAddress));
    }

    [Fact]
    public void Pre_split_ib_pma_counters_directory_is_not_taken_for_hw_counters()
    {
        var port = Discover("presplit-4x")[0].Ports[0];

        Assert.True(Directory.Exists(Repo.Fixture("presplit-4x", "sys", "class", "infiniband", "efa_0", "ports", "1", "counters")));
        Assert.DoesNotContain("port_xmit_data", port.HwCounters);
        Assert.DoesNotContain("symbol_error", port.HwCounters);
    }

    [Fact]
    public void Mlx5_beside_efa_is_an_rdma_device_that_is_not_efa_with_its_own_counter_names()
    {
        var devices = Discover("mlx5-beside-efa");

        Assert.Equal(["mlx5_0", "rdmap16s27"], devices.Select(d => d.Name));
        var mlx5 = devices[0];
        Assert.False(mlx5.IsEfa);
        Assert.Equal("mlx5_core", mlx5.Driver);
        Assert.Equal("0000:41:00.0", mlx5.PciAddress);
        Assert.False(mlx5.HasHwCounters);
        Assert.Empty(mlx5.HwCounters);
        var port = Assert.Single(mlx5.Ports);
        Assert.Equal("200 Gb/sec (4X HDR)", port.Rate);
        Assert.Equal(25_000_000_000.0, port.RateBytesPerSecond);
        Assert.Equal("b8:ce:f6:12:34:56", port.Mac);
        Assert.Equal("enp65s0f0", port.Netdev);
        Assert.Equal(
            ["duplicate_request", "implied_nak_seq_err", "local_ack_timeout_err", "np_cnp_sent", "out_of_buffer", "out_of_sequence",
                "packet_seq_err", "rnr_nak_retry_err", "rp_cnp_handled", "rx_read_requests", "rx_write_requests"],
            port.HwCounters);

        var efa = devices[1];
        Assert.True(efa.IsEfa);
        Assert.Equal("ens32", efa.Ports[0].Netdev);
    }

    [Fact]
    public void A_port_without_hw_counters_is_reported_as_such_and_still_listed()
    {
        var devices = Discover("malformed");

        Assert.Equal(["rdmap16s27", "rdmap32s27"], devices.Select(d => d.Name));
        var port = Assert.Single(devices[1].Ports);
        Assert.False(port.HasHwCounters);
        Assert.Empty(port.HwCounters);
        Assert.Equal("ens65", port.Netdev);
        Assert.Equal(AdminCounters, devices[1].HwCounters);
        Assert.Equal(Sorted(BaseCounters, R1_10Counters, R2_5Counters), devices[0].Ports[0].HwCounters);
    }

    [Theory]
    [InlineData("p4d-postsplit", "p4d.24xlarge")]
    [InlineData("p5-617", "p5.48xlarge")]
    [InlineData("malformed", "p4d.24xlarge")]
    [InlineData("presplit-4x", null)]
    [InlineData("mlx5-beside-efa", null)]
    public void The_instance_type_comes_from_dmi_when_the_host_has_one(string fixture, string? instanceType)
    {
        Assert.Equal(instanceType, RdmaDiscovery.InstanceType(Repo.Fixture(fixture, "sys")));
    }

    [Fact]
    public void A_host_without_infiniband_class_has_no_devices()
    {
        using var tmp = new TempDir();
        Assert.Empty(RdmaDiscovery.Discover(tmp.Path));
    }
}

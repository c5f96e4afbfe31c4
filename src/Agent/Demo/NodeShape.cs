using System.Globalization;

namespace EfaAgent.Agent.Demo;

/// <summary>One simulated EFA device: its name, PCI function, NUMA node, MAC of its ENI and ENA netdev (null when EFA-only).</summary>
public sealed record SimulatedEfa(string Name, string Pci, int Numa, string Mac, string? Netdev);

/// <summary>The hardware shape of a simulated node, per the facts in efa-sysfs.md.</summary>
public sealed record NodeShape(
    string Name,
    string InstanceType,
    string DeviceId,
    string Rate,
    double LineRateBytesPerSecond,
    IReadOnlyList<SimulatedEfa> Efa,
    IReadOnlyList<string> PortCounters,
    IReadOnlyList<string> DeviceCounters,
    int Gpus)
{
    /// <summary>Port counters of the base set (r1.4, kernel ~5.4).</summary>
    public static readonly string[] BaseCounters = ["tx_bytes", "tx_pkts", "rx_bytes", "rx_pkts", "rx_drops"];

    /// <summary>Added in r1.10.1 (kernel ~5.10).</summary>
    public static readonly string[] R1101Counters = ["send_bytes", "send_wrs", "recv_bytes", "recv_wrs", "rdma_read_wrs", "rdma_read_bytes", "rdma_read_wr_err", "rdma_read_resp_bytes"];

    /// <summary>Added in r2.5 (kernel ~6.6).</summary>
    public static readonly string[] R25Counters = ["rdma_write_wrs", "rdma_write_bytes", "rdma_write_wr_err", "rdma_write_recv_bytes"];

    /// <summary>Added in r2.17 (kernel 6.17).</summary>
    public static readonly string[] R217Counters = ["retrans_bytes", "retrans_pkts", "retrans_timeout_events", "unresponsive_remote_events", "impaired_remote_conn_events"];

    /// <summary>Device-level admin counters (r1.14+, kernel ~5.15+).</summary>
    public static readonly string[] AdminCounters = ["submitted_cmds", "completed_cmds", "cmds_err", "no_completion_cmds", "keep_alive_rcvd", "alloc_pd_err", "create_qp_err", "create_cq_err", "reg_mr_err", "alloc_ucontext_err", "create_ah_err", "mmap_err"];

    /// <summary>Whether the devices do RDMA write (p5 does, p4d does not: its rdma_write_* stay 0).</summary>
    public bool RdmaWrite => Name != "p4d";

    /// <summary>Looks a shape up by name: <c>p4d</c> or <c>p5</c>.</summary>
    public static NodeShape? Find(string name) => name switch
    {
        "p4d" => P4d,
        "p5" => P5,
        _ => null,
    };

    /// <summary>p4d.24xlarge: 8 A100, 4 EFA at 100 Gb/s, each with its ENA netdev, driver r2.5+ on kernel 6.8.</summary>
    public static NodeShape P4d { get; } = new(
        "p4d",
        "p4d.24xlarge",
        "0xefa1",
        "100 Gb/sec (4X EDR)",
        100e9 / 8,
        [
            new("rdmap16s27", "0000:10:1b.0", 0, "0a:5e:10:1b:00:01", "ens32"),
            new("rdmap32s27", "0000:20:1b.0", 0, "0a:5e:20:1b:00:02", "ens65"),
            new("rdmap144s27", "0000:90:1b.0", 1, "0a:5e:90:1b:00:03", "ens130"),
            new("rdmap160s27", "0000:a0:1b.0", 1, "0a:5e:a0:1b:00:04", "ens163"),
        ],
        [.. BaseCounters, .. R1101Counters, .. R25Counters],
        AdminCounters,
        8);

    /// <summary>p5.48xlarge: 8 H100, 32 EFA (the first with the primary ENA netdev, the rest EFA-only), kernel 6.17 counters.</summary>
    public static NodeShape P5 { get; } = new(
        "p5",
        "p5.48xlarge",
        "0xefa2",
        "100 Gb/sec (4X EDR)",
        100e9 / 8,
        P5Devices(),
        [.. BaseCounters, .. R1101Counters, .. R25Counters, .. R217Counters],
        AdminCounters,
        8);

    private static SimulatedEfa[] P5Devices()
    {
        int[] starts = [79, 96, 113, 130, 147, 164, 181, 198];
        var list = new List<SimulatedEfa>();
        foreach (var start in starts)
        {
            for (var bus = start; bus < start + 4; bus++)
            {
                var i = list.Count;
                list.Add(new SimulatedEfa(
                    $"rdmap{bus}s0",
                    string.Create(CultureInfo.InvariantCulture, $"0000:{bus:x2}:00.0"),
                    i < 16 ? 0 : 1,
                    string.Create(CultureInfo.InvariantCulture, $"0a:5f:{bus:x2}:00:00:{i + 1:x2}"),
                    i == 0 ? "enp71s0" : null));
            }
        }

        return [.. list];
    }
}

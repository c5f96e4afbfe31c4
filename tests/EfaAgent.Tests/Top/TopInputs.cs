using System.Globalization;
using System.Text;
using System.Text.RegularExpressions;
using EfaAgent.Agent.Scrape;
using EfaAgent.Agent.Top;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Top;

/// <summary>
/// Known scrapes for the view: the golden exposition of the agent on the p4d fixture with the fake
/// NVML (a real agent's output, GPU 5 lost), with its volatile values fixed and counters moved by
/// known amounts between two scrapes one second apart. The ENA allowance counters of the ethtool
/// collector are added for the four ENA netdevs (the fixture has no ethtool), at zero but for 3 old
/// link-local drops on ens32.
/// </summary>
public static partial class TopInputs
{
    /// <summary>The Unix time of the agent's last sample in every input.</summary>
    public const double LastSample = 1_800_000_000;

    /// <summary>The ENA netdevs of the fixture, one per EFA device.</summary>
    public static readonly string[] EnaNetdevs = ["ens32", "ens65", "ens130", "ens163"];

    /// <summary>The base exposition, volatile values fixed, with the ENA allowance counters.</summary>
    public static string Base() => Set(WithEnaAllowances(Fixture()), "ena_linklocal_allowance_exceeded_total{device=\"ens32\"", 3);

    private static string WithEnaAllowances(string text)
    {
        var s = new StringBuilder(text);
        foreach (var a in EnaAllowance.All)
        {
            s.Append(CultureInfo.InvariantCulture, $"# TYPE {a.Counter} counter\n");
            foreach (var dev in EnaNetdevs)
            {
                s.Append(CultureInfo.InvariantCulture, $"{a.Counter}{{device=\"{dev}\"}} 0\n");
            }
        }

        return s.ToString();
    }

    private static string Fixture() => VolatileRegex().Replace(File.ReadAllText(Repo.PathTo("tests", "golden", "e2e", "p4d-gpu.prom")), m => m.Groups[1].Value switch
    {
        "efa_agent_last_sample_timestamp_seconds" => $"{m.Groups[1].Value} {LastSample}",
        "efa_agent_start_time_seconds" => $"{m.Groups[1].Value} {LastSample - 3600}",
        _ => $"{m.Groups[1].Value} 0.001",
    }).Replace("\"<volatile>\"", "\"x\"", StringComparison.Ordinal);

    /// <summary>Adds <paramref name="delta"/> to every series whose line starts with <paramref name="series"/>.</summary>
    public static string Bump(string text, string series, double delta) => string.Join('\n', text.Split('\n').Select(line =>
    {
        if (!line.StartsWith(series, StringComparison.Ordinal))
        {
            return line;
        }

        var space = line.LastIndexOf(' ');
        var value = double.Parse(line[(space + 1)..], CultureInfo.InvariantCulture) + delta;
        return line[..(space + 1)] + value.ToString("R", CultureInfo.InvariantCulture);
    }));

    /// <summary>Sets the value of the series whose line starts with <paramref name="series"/>.</summary>
    public static string Set(string text, string series, double value) => Bump(text, series, 0).Replace(
        Line(text, series), Line(text, series)[..(Line(text, series).LastIndexOf(' ') + 1)] + value.ToString("R", CultureInfo.InvariantCulture), StringComparison.Ordinal);

    /// <summary>A healthy node one second later: 40 Gbit/s each way on every EFA device, RDMA reads, 5 receive drops on rdmap32s27, a little TCP.</summary>
    public static string Training(string before)
    {
        var after = before;
        foreach (var dev in new[] { "rdmap16s27", "rdmap32s27", "rdmap144s27", "rdmap160s27" })
        {
            after = Bump(after, $"efa_port_tx_bytes_total{{device=\"{dev}\"", 5e9);
            after = Bump(after, $"efa_port_rx_bytes_total{{device=\"{dev}\"", 4.9e9);
            after = Bump(after, $"efa_port_rdma_read_bytes_total{{device=\"{dev}\"", 3e9);
            after = Bump(after, $"efa_port_tx_pkts_total{{device=\"{dev}\"", 600_000);
        }

        after = Bump(after, "efa_port_rx_drops_total{device=\"rdmap32s27\"", 5);
        after = Bump(after, "netdev_transmit_bytes_total{device=\"ens32\"", 125_000);
        return Bump(after, "netdev_receive_bytes_total{device=\"ens32\"", 250_000);
    }

    /// <summary>
    /// NCCL on sockets one second later: EFA flat, 100 MB/s each way on every ENA netdev, over the
    /// outbound bandwidth allowance (1500 packets) and the packet-rate allowance (400) of each.
    /// </summary>
    public static string SocketFallback(string before)
    {
        var after = before;
        foreach (var dev in EnaNetdevs)
        {
            after = Bump(after, $"netdev_transmit_bytes_total{{device=\"{dev}\"", 100e6);
            after = Bump(after, $"netdev_receive_bytes_total{{device=\"{dev}\"", 100e6);
            after = Bump(after, $"ena_bw_out_allowance_exceeded_total{{device=\"{dev}\"", 1500);
            after = Bump(after, $"ena_pps_allowance_exceeded_total{{device=\"{dev}\"", 400);
        }

        return after;
    }

    /// <summary>A tracker fed <paramref name="before"/> then <paramref name="after"/> one second apart; the wall clock is just after the last sample.</summary>
    public static NodeView Node(string name, string before, string after, double wallClock = LastSample + 0.5)
    {
        var tracker = new NodeTracker(name, $"http://{name}:19400/metrics");
        tracker.Update(ExpositionParser.Parse(before), 100, wallClock - 1);
        return tracker.Update(ExpositionParser.Parse(after), 101, wallClock);
    }

    /// <summary>A node that refused the connection.</summary>
    public static NodeView Dead(string name) => new NodeTracker(name, $"http://{name}:19400/metrics").Fail("connection refused");

    /// <summary>The job of the golden files: a node that trains (and lost GPU 5), a node on sockets (all GPUs up), a dead node.</summary>
    public static JobView Job()
    {
        var b = Base();
        var allGpus = Set(b, "gpu_up{gpu=\"5\"", 1);
        return JobView.From([Node("node-a", b, Training(b)), Node("node-b", allGpus, SocketFallback(allGpus)), Dead("node-c")]);
    }

    private static string Line(string text, string series) => text.Split('\n').First(l => l.StartsWith(series, StringComparison.Ordinal));

    [GeneratedRegex("^([a-z_]+(?:\\{[^}]*\\})?) <volatile>$", RegexOptions.Multiline)]
    private static partial Regex VolatileRegex();
}

using System.Diagnostics;
using EfaAgent.Collectors.NetDev;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests;

/// <summary>The netdev collector over a writable copy of the p4d fixture's proc/net/dev, rewritten between ticks.</summary>
public sealed class NetDevCollectorBehaviourTests : IDisposable
{
    private const string Header =
        "Inter-|   Receive                                                |  Transmit\n" +
        " face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n";

    private const string Lo = "    lo: 48213357  412870    0    0    0     0          0         0 48213357  412870    0    0    0     0       0          0\n";
    private const string Ens32 = " ens32: 1975309876 2469223    3    6    0     0          0        11 1753090741 2247010    0    2    0     0       0          0\n";
    private const string Ens65 = " ens65: 2962964197 3703790    6   11    0     0          0        22 2629633951 3370466    0    4    0     0       0          0\n";
    private const string Docker0 = "docker0: 7340032   51200    0    0    0     0          0         0 6291456   49152    0    0    0     0       0          0\n";

    private static readonly long Second = Stopwatch.Frequency;

    private readonly TempDir _tmp = new();
    private readonly string _proc;
    private readonly NetDevCollector _collector;
    private long _t = 1_000 * Second;

    public NetDevCollectorBehaviourTests()
    {
        _proc = Path.Combine(_tmp.CopyFrom(Repo.Fixture("p4d-postsplit"), "host"), "proc");
        _collector = TestCollectors.NetDev(_proc);
    }

    public void Dispose()
    {
        _collector.Dispose();
        _tmp.Dispose();
    }

    private string[] Tick(params string[] lines)
    {
        // Rewritten in place: the collector's open handle sees the new text at its next pread.
        File.WriteAllText(Path.Combine(_proc, "net", "dev"), Header + string.Concat(lines));
        _collector.Sample(_t += Second / 4);
        return FrameText.Lines(_collector.Frame);
    }

    private static string[] Of(string[] lines, string device) =>
        lines.Where(l => l.Contains($"device=\"{device}\"", StringComparison.Ordinal)).ToArray();

    [Fact]
    public void An_interface_that_appears_is_exported_from_its_first_tick_with_its_real_values_and_leaves_when_it_goes()
    {
        _collector.Discover();
        var before = Tick(Lo, Ens32);

        var with = Tick(Lo, Ens32, Docker0);
        Assert.Equal(18, Of(with, "docker0").Length);
        Assert.Contains("netdev_receive_bytes_total{device=\"docker0\"} 7340032", with);
        Assert.Contains("netdev_transmit_packets_total{device=\"docker0\"} 49152", with);
        Assert.Equal(before, with.Except(Of(with, "docker0")));
        Assert.Equal(3, _collector.DeviceCount);

        var without = Tick(Lo, Ens32);
        Assert.Empty(Of(without, "docker0"));
        Assert.Equal(before, without);
        Assert.Equal(2, _collector.DeviceCount);
    }

    [Fact]
    public void A_malformed_line_is_reported_and_the_other_interfaces_still_export()
    {
        _collector.Discover();
        var good = Tick(Lo, Ens32, Ens65);

        var bad = Tick(Lo, Ens32, " ens65: 1 2 3\n");
        Assert.Equal(
            ["efa_agent_unavailable{collector=\"netdev\",device=\"ens65\",port=\"\",counter=\"*\",reason=\"field_count\"} 1"],
            Of(bad, "ens65"));
        Assert.Equal(Of(good, "ens32"), Of(bad, "ens32"));
        Assert.Equal(Of(good, "lo"), Of(bad, "lo"));

        var again = Tick(Lo, Ens32, Ens65);
        Assert.Equal(good, again);
    }

    [Fact]
    public void A_line_without_an_interface_name_is_counted_and_labels_nothing_after_it()
    {
        _collector.Discover();
        var good = Tick(Lo, Ens32);

        var lines = Tick(Lo, "ens163 7168 56 0 0 0 0 0 0 6144 48 0 0 0 0 0 0\n", Ens32);
        Assert.Equal(
            good.Append("efa_agent_unavailable{collector=\"netdev\",device=\"\",port=\"\",counter=\"line\",reason=\"missing_colon\"} 1").Order(StringComparer.Ordinal),
            lines);
        Assert.Equal(2, _collector.DeviceCount);

        Assert.Equal(good, Tick(Lo, Ens32));
    }

    [Fact]
    public void Interfaces_that_change_places_between_ticks_keep_their_own_values()
    {
        _collector.Discover();
        var first = Tick(Lo, Ens32, Ens65);
        var swapped = Tick(Ens65, Lo, Ens32);
        Assert.Equal(first.Order(StringComparer.Ordinal), swapped.Order(StringComparer.Ordinal));
        Assert.Contains("netdev_receive_bytes_total{device=\"ens65\"} 2962964197", swapped);
        Assert.Contains("netdev_receive_bytes_total{device=\"ens32\"} 1975309876", swapped);

        Assert.Equal(3, _collector.DeviceCount);
    }

    [Fact]
    public void The_transmit_peak_is_the_highest_rate_between_two_ticks()
    {
        _collector.Discover();
        Tick(Lo, Ens32);
        var lines = Tick(Lo, Ens32.Replace("1753090741", "1754090741", StringComparison.Ordinal));
        Assert.Contains("netdev_transmit_peak_bytes_per_second{device=\"ens32\"} 4000000", lines); // 1 MB in 250 ms
        Assert.Contains("netdev_receive_peak_bytes_per_second{device=\"ens32\"} 0", lines);
    }

    [Fact]
    public void Include_and_exclude_patterns_match_whole_interface_names()
    {
        var options = EfaAgent.Agent.Options.OptionsLoader.Load(
            ["--collector.netdev.device-include=ens.*", "--collector.netdev.device-exclude=ens6|ens1.*"], _ => null).Options!;
        using var collector = new NetDevCollector(
            new NetDevCollectorOptions(Repo.Fixture("p4d-postsplit", "proc"), options.NetdevInclude, options.NetdevExclude, TestCollectors.Interval, TestCollectors.Window),
            Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        collector.Discover();
        collector.Sample(Stopwatch.GetTimestamp());

        var devices = FrameText.Lines(collector.Frame)
            .Select(l => l[(l.IndexOf("device=\"", StringComparison.Ordinal) + 8)..])
            .Select(l => l[..l.IndexOf('"', StringComparison.Ordinal)])
            .Distinct()
            .Order(StringComparer.Ordinal);

        // ens1.* excludes ens130 and ens163; "ens6" excludes nothing, since a pattern must match the whole
        // name (ens65 stays); lo is not included.
        Assert.Equal(["ens32", "ens65"], devices);
    }
}

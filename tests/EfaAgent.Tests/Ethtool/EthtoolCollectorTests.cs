using System.Text.RegularExpressions;
using EfaAgent.Collectors.Ethtool;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Ethtool;

/// <summary>
/// The ethtool collector over a sysfs <c>class/net/</c> in a temporary directory and a
/// <see cref="SimulatedEthtool"/> that answers like the kernel, behind a wrapper that counts requests.
/// </summary>
public sealed class EthtoolCollectorTests : IDisposable
{
    private readonly TempDir _tmp = new();
    private readonly SimulatedEthtool _driver = new();
    private readonly Counting _ethtool;
    private readonly ListLogger _log = new();

    public EthtoolCollectorTests()
    {
        _ethtool = new Counting(_driver);
        AddInterface("lo");
        _driver.AddWithoutEthtool("lo");
        AddInterface("ens32");
        _driver.AddEna("ens32", "0000:10:00.0", queues: 2);
    }

    public void Dispose() => _tmp.Dispose();

    private string SysfsRoot => _tmp.Combine("sys");

    private void AddInterface(string name) => Directory.CreateDirectory(_tmp.Combine("sys", "class", "net", name));

    private void RemoveInterface(string name) => Directory.Delete(_tmp.Combine("sys", "class", "net", name));

    private EthtoolCollector Collector(bool all = false, string? include = null, string? exclude = null) =>
        new(new EthtoolCollectorOptions(SysfsRoot, Regex(include), Regex(exclude), all), () => _ethtool, _log);

    private static Regex? Regex(string? pattern) => pattern is null ? null : new Regex($"^(?:{pattern})$");

    private static string[] Discover(EthtoolCollector c)
    {
        c.Discover();
        c.Sample(0);
        return FrameText.Lines(c.Frame);
    }

    [Fact]
    public void An_ena_interface_exports_its_identity_allowance_counters_and_available_connections()
    {
        _driver.Set("ens32", "bw_out_allowance_exceeded", 120);
        _driver.Set("ens32", "pps_allowance_exceeded", 7);
        _driver.Set("ens32", "conntrack_allowance_available", 4321);
        using var c = Collector();
        var lines = Discover(c);
        Assert.Equal(
            [
                "efa_agent_unavailable{collector=\"ethtool\",device=\"lo\",port=\"\",counter=\"*\",reason=\"not_supported\"} 1",
                "ena_bw_in_allowance_exceeded_total{device=\"ens32\"} 0",
                "ena_bw_out_allowance_exceeded_total{device=\"ens32\"} 120",
                "ena_conntrack_allowance_available{device=\"ens32\"} 4321",
                "ena_conntrack_allowance_exceeded_total{device=\"ens32\"} 0",
                "ena_linklocal_allowance_exceeded_total{device=\"ens32\"} 0",
                "ena_pps_allowance_exceeded_total{device=\"ens32\"} 7",
                "ethtool_info{device=\"ens32\",driver=\"ena\",driver_version=\"2.13.0g\",firmware_version=\"\",bus_info=\"0000:10:00.0\"} 1",
            ],
            lines);
        Assert.Equal(1, c.DeviceCount);
    }

    [Fact]
    public void The_names_are_read_when_an_interface_appears_and_only_the_values_after_that()
    {
        using var c = Collector();
        Discover(c);
        Assert.Equal(1, _ethtool.Count(EthtoolAbi.GetStrings));
        _ethtool.Clear();

        _driver.Add("ens32", "pps_allowance_exceeded", 5);
        var lines = Discover(c);
        Assert.Contains("ena_pps_allowance_exceeded_total{device=\"ens32\"} 5", lines);
        Assert.Equal([EthtoolAbi.GetStats], _ethtool.Commands.Where(x => x.Device == "ens32").Select(x => x.Command));
    }

    [Fact]
    public void An_interface_without_ethtool_support_is_named_once_and_not_logged_again()
    {
        using var c = Collector();
        for (var i = 0; i < 3; i++)
        {
            Assert.Contains("efa_agent_unavailable{collector=\"ethtool\",device=\"lo\",port=\"\",counter=\"*\",reason=\"not_supported\"} 1", Discover(c));
        }

        Assert.Equal(1, _log.Count("of lo is not exported: not_supported"));
    }

    [Fact]
    public void The_netdev_filters_choose_the_interfaces()
    {
        AddInterface("docker0");
        _driver.Add("docker0", new EthtoolDriverInfo("bridge", "2.3", "N/A", "N/A", 0), []);
        using (var c = Collector(exclude: "lo|docker.*"))
        {
            var lines = Discover(c);
            Assert.All(lines, l => Assert.Contains("ens32", l, StringComparison.Ordinal));
        }

        using (var c = Collector(include: "docker0"))
        {
            Assert.Equal(
                [
                    "efa_agent_unavailable{collector=\"ethtool\",device=\"docker0\",port=\"\",counter=\"*\",reason=\"not_supported\"} 1",
                    "ethtool_info{device=\"docker0\",driver=\"bridge\",driver_version=\"2.3\",firmware_version=\"N/A\",bus_info=\"N/A\"} 1",
                ],
                Discover(c));
        }
    }

    [Fact]
    public void A_driver_that_answers_another_count_than_it_announced_is_reported_and_read_again_at_the_next_discovery()
    {
        using var c = Collector();
        Discover(c);
        _driver.SetStats("ens32", SimulatedEthtool.EnaStats(queues: 4)); // the queue count changed under us
        _driver.Set("ens32", "pps_allowance_exceeded", 9);

        var lines = Discover(c);
        Assert.Contains("efa_agent_unavailable{collector=\"ethtool\",device=\"ens32\",port=\"\",counter=\"*\",reason=\"count_mismatch\"} 1", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("ena_", StringComparison.Ordinal));
        Assert.Contains(lines, l => l.StartsWith("ethtool_info{device=\"ens32\"", StringComparison.Ordinal));
        Assert.Equal(1, _log.Count("of ens32 is not exported: count_mismatch"));

        lines = Discover(c);
        Assert.DoesNotContain(lines, l => l.Contains("count_mismatch", StringComparison.Ordinal));
        Assert.Contains("ena_pps_allowance_exceeded_total{device=\"ens32\"} 9", lines);
    }

    [Fact]
    public void An_interface_that_disappears_between_two_calls_is_reported_then_forgotten_when_sysfs_drops_it()
    {
        using var c = Collector();
        Discover(c);
        _driver.Remove("ens32");
        var lines = Discover(c);
        Assert.Contains("efa_agent_unavailable{collector=\"ethtool\",device=\"ens32\",port=\"\",counter=\"*\",reason=\"no_device\"} 1", lines);
        Assert.DoesNotContain(lines, l => l.StartsWith("ena_", StringComparison.Ordinal));

        RemoveInterface("ens32");
        lines = Discover(c);
        Assert.DoesNotContain(lines, l => l.Contains("ens32", StringComparison.Ordinal));
        Assert.Equal(1, _log.Count("interface ens32 went away"));
    }

    [Fact]
    public void A_permission_error_is_reported_once_and_the_other_interfaces_go_on()
    {
        AddInterface("ens65");
        _driver.AddEna("ens65", "0000:20:00.0", queues: 1);
        _driver.Fail("ens65", EthtoolErrno.NotPermitted);
        _driver.Set("ens32", "bw_in_allowance_exceeded", 3);
        using var c = Collector();
        Discover(c);
        var lines = Discover(c);
        Assert.Contains("efa_agent_unavailable{collector=\"ethtool\",device=\"ens65\",port=\"\",counter=\"*\",reason=\"permission_denied\"} 1", lines);
        Assert.Contains("ena_bw_in_allowance_exceeded_total{device=\"ens32\"} 3", lines);
        Assert.Equal(1, _log.Count("of ens65 is not exported: permission_denied"));

        _driver.Fail("ens65", 0);
        lines = Discover(c);
        Assert.DoesNotContain(lines, l => l.Contains("permission_denied", StringComparison.Ordinal));
        Assert.Contains("ena_bw_in_allowance_exceeded_total{device=\"ens65\"} 0", lines);
    }

    [Fact]
    public void An_allowance_counter_that_goes_back_after_a_driver_reload_keeps_rising()
    {
        _driver.Set("ens32", "bw_in_allowance_exceeded", 100);
        using var c = Collector();
        Discover(c);
        _driver.Set("ens32", "bw_in_allowance_exceeded", 30);
        Assert.Contains("ena_bw_in_allowance_exceeded_total{device=\"ens32\"} 130", Discover(c));
    }

    [Fact]
    public void An_ena_driver_without_an_allowance_statistic_names_the_missing_one()
    {
        _driver.Add("ens32", new EthtoolDriverInfo("ena", "2.4.0g", "", "0000:10:00.0", 0),
            SimulatedEthtool.EnaStats(1).Where(s => s != "conntrack_allowance_available").ToList());
        using var c = Collector();
        var lines = Discover(c);
        Assert.Contains("efa_agent_unavailable{collector=\"ethtool\",device=\"ens32\",port=\"\",counter=\"conntrack_allowance_available\",reason=\"not_available\"} 1", lines);
        Assert.Contains("ena_pps_allowance_exceeded_total{device=\"ens32\"} 0", lines);
    }

    [Fact]
    public void With_all_every_statistic_is_exported_by_the_naming_rule_and_a_name_clash_is_reported()
    {
        AddInterface("veth0");
        _driver.Add("veth0", new EthtoolDriverInfo("veth", "1.0", "", "", 0), ["peer_ifindex", "rx_queue_0_drops", "rx-queue-0-drops"]);
        _driver.Set("veth0", "peer_ifindex", 7);
        using var c = Collector(all: true, include: "veth0|ens32");
        var lines = Discover(c);
        Assert.Contains("ethtool_stat_peer_ifindex{device=\"veth0\"} 7", lines);
        Assert.Contains("ethtool_stat_received_queue_0_drops{device=\"veth0\"} 0", lines);
        Assert.Contains("efa_agent_unavailable{collector=\"ethtool\",device=\"veth0\",port=\"\",counter=\"rx-queue-0-drops\",reason=\"duplicate_name\"} 1", lines);
        Assert.Contains("ethtool_stat_queue_1_transmitted_bytes{device=\"ens32\"} 0", lines);
        Assert.Equal(SimulatedEthtool.EnaStats(2).Count, lines.Count(l => l.StartsWith("ethtool_stat_", StringComparison.Ordinal) && l.Contains("ens32", StringComparison.Ordinal)));
    }

    [Fact]
    public void Reading_the_statistics_of_a_known_interface_allocates_nothing()
    {
        var device = new EthtoolDevice("ens32");
        Assert.Null(device.LoadTable(_driver));
        for (var i = 0; i < 50; i++)
        {
            Assert.Null(device.ReadStats(_driver));
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 200; i++)
        {
            device.ReadStats(_driver);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public void Its_fast_lane_reads_nothing_and_allocates_nothing()
    {
        using var c = Collector(all: true);
        Discover(c);
        _ethtool.Clear();
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 200; i++)
        {
            c.Sample(i);
            _ = c.DeviceCount + c.Frame.Values.Length;
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
        Assert.Empty(_ethtool.Commands);
        Assert.False(c.NeedsDiscovery);
    }

    [Fact]
    public void A_channel_that_cannot_be_opened_fails_the_discovery_and_is_tried_again()
    {
        var attempts = 0;
        using var c = new EthtoolCollector(new EthtoolCollectorOptions(SysfsRoot, null, null, false), () =>
        {
            if (++attempts == 1)
            {
                throw new IOException("cannot open the socket for ethtool requests");
            }

            return _ethtool;
        }, _log);
        Assert.Throws<IOException>(c.Discover);
        Assert.Contains("ena_pps_allowance_exceeded_total{device=\"ens32\"} 0", Discover(c));
    }

    /// <summary>Passes requests on and records each one's device and command.</summary>
    private sealed class Counting(IEthtool inner) : IEthtool
    {
        private readonly List<(string Device, uint Command)> _commands = [];

        public IReadOnlyList<(string Device, uint Command)> Commands => _commands;

        public int Count(uint command) => _commands.Count(c => c.Command == command);

        public void Clear() => _commands.Clear();

        public int Request(string device, Span<byte> buffer)
        {
            _commands.Add((device, EthtoolAbi.Command(buffer)));
            return inner.Request(device, buffer);
        }

        public void Dispose()
        {
        }
    }
}

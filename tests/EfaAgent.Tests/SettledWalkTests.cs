using System.Diagnostics;
using System.Globalization;
using EfaAgent.Collectors.Efa;
using EfaAgent.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace EfaAgent.Tests;

/// <summary>
/// Discovery walks a settled tree once per <see cref="EfaCollectorOptions.SettledWalkInterval"/> and
/// reads the slow lane on every discovery; a change, a failing read or a missing EFA device walks at
/// once. Over a writable copy of the p4d fixture, with a clock the test moves.
/// </summary>
public sealed class SettledWalkTests : IDisposable
{
    private const string Late = "rdmap160s27";
    private const string KeepAlive16 = "efa_device_keep_alive_rcvd_total{device=\"rdmap16s27\"}";
    private static readonly TimeSpan Discovery = TimeSpan.FromSeconds(5);
    private static readonly TimeSpan Settled = TimeSpan.FromSeconds(30);

    private readonly TempDir _tmp = new();
    private readonly ManualTime _time = new();
    private readonly string _sys;
    private readonly string _lateLink;
    private readonly string _lateTarget;

    public SettledWalkTests()
    {
        _sys = Path.Combine(_tmp.CopyFrom(Repo.Fixture("p4d-postsplit"), "host"), "sys");
        _lateLink = Path.Combine(_sys, "class", "infiniband", Late);
        _lateTarget = new FileInfo(_lateLink).LinkTarget!;
    }

    public void Dispose() => _tmp.Dispose();

    private EfaCollector Collector() =>
        new(new EfaCollectorOptions(_sys, TestCollectors.Interval, TestCollectors.Window) { SettledWalkInterval = Settled }, NullLogger.Instance, _time);

    private void InstanceType(string name) =>
        File.WriteAllText(Path.Combine(_sys, "devices", "virtual", "dmi", "id", "product_name"), name + "\n");

    // Discoveries every 5 s, as the agent runs them, until the clock has moved by `span`.
    private static void DiscoverFor(EfaCollector collector, ManualTime time, TimeSpan span)
    {
        for (var moved = TimeSpan.Zero; moved < span; moved += Discovery)
        {
            time.Advance(Discovery);
            collector.Discover();
        }
    }

    [Fact]
    public void A_settled_tree_is_walked_once_per_interval_and_its_slow_lane_read_on_every_discovery()
    {
        InstanceType("m7i.48xlarge"); // not in the table: no EFA count to wait for
        File.Delete(_lateLink);
        using var collector = Collector();
        collector.Discover();
        Assert.Equal(3, collector.DeviceCount);

        // Unchanged for the interval: settled.
        DiscoverFor(collector, _time, Settled);

        File.CreateSymbolicLink(_lateLink, _lateTarget);
        File.WriteAllText(Path.Combine(_sys, "class", "infiniband", "rdmap16s27", "hw_counters", "keep_alive_rcvd"), "99999\n");
        _time.Advance(Discovery);
        collector.Discover();
        Assert.Equal(3, collector.DeviceCount); // not walked
        Assert.Equal(99999.0, FrameText.Value(collector.Frame, KeepAlive16)); // the slow lane is read all the same

        // Found by the walk that comes once per interval.
        var waited = Discovery;
        while (collector.DeviceCount == 3 && waited <= Settled)
        {
            _time.Advance(Discovery);
            collector.Discover();
            waited += Discovery;
        }

        Assert.Equal(4, collector.DeviceCount);
        Assert.InRange(waited, Discovery + Discovery, Settled);

        // A change unsettles the tree: the next one is found at the next discovery.
        TestCollectors.RemoveRdmaDevice(_sys, "rdmap32s27");
        _time.Advance(Discovery);
        collector.Discover();
        Assert.Equal(3, collector.DeviceCount);
    }

    [Fact]
    public void A_node_short_of_the_EFA_devices_of_its_instance_type_is_walked_on_every_discovery()
    {
        File.Delete(_lateLink); // a p4d.24xlarge has 4; EFA devices can appear late at boot
        using var collector = Collector();
        collector.Discover();
        DiscoverFor(collector, _time, Settled + Settled);
        Assert.Equal(3, collector.DeviceCount);

        File.CreateSymbolicLink(_lateLink, _lateTarget);
        _time.Advance(Discovery);
        collector.Discover();
        Assert.Equal(4, collector.DeviceCount);
    }

    [Fact]
    public void A_read_that_starts_failing_walks_the_settled_tree_at_the_next_discovery()
    {
        // A counter whose reads start failing on the open descriptor, as a vanished device's do:
        // a process's oom_score reads as a number until the process is gone, then ESRCH.
        using var child = Process.Start(new ProcessStartInfo("sleep", "600") { UseShellExecute = false })!;
        var counter = Path.Combine(_sys, "class", "infiniband", "rdmap16s27", "ports", "1", "hw_counters", "rdma_read_bytes");
        File.Delete(counter);
        File.CreateSymbolicLink(counter, $"/proc/{child.Id.ToString(CultureInfo.InvariantCulture)}/oom_score");

        using var collector = Collector();
        collector.Discover();
        DiscoverFor(collector, _time, Settled + Discovery);
        collector.Sample(Stopwatch.GetTimestamp());
        Assert.False(collector.NeedsDiscovery);

        File.Delete(_lateLink); // seen only by a walk
        child.Kill();
        child.WaitForExit();
        collector.Sample(Stopwatch.GetTimestamp());
        Assert.True(collector.NeedsDiscovery);

        _time.Advance(TimeSpan.FromMilliseconds(250));
        collector.Discover();
        Assert.Equal(3, collector.DeviceCount);
    }
}

using System.Diagnostics;
using System.Globalization;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests;

/// <summary>The EFA collector over a writable copy of the p4d fixture, changed between ticks.</summary>
public sealed class EfaCollectorBehaviourTests : IDisposable
{
    private const string TxBytes16 = "efa_port_tx_bytes_total{device=\"rdmap16s27\",port=\"1\"}";
    private const string TxPeak16 = "efa_port_transmit_peak_bytes_per_second{device=\"rdmap16s27\",port=\"1\"}";
    private static readonly long Second = Stopwatch.Frequency;

    private readonly TempDir _tmp = new();
    private readonly string _sys;

    public EfaCollectorBehaviourTests() => _sys = Path.Combine(_tmp.CopyFrom(Repo.Fixture("p4d-postsplit"), "host"), "sys");

    public void Dispose() => _tmp.Dispose();

    private string PortCounter(string device, string counter) =>
        Path.Combine(_sys, "class", "infiniband", device, "ports", "1", "hw_counters", counter);

    private static void Write(string path, ulong value) => File.WriteAllText(path, value.ToString(CultureInfo.InvariantCulture) + "\n");

    private static ulong ReadRaw(string path) => ulong.Parse(File.ReadAllText(path).Trim(), CultureInfo.InvariantCulture);

    private static string[] Without(string[] lines, string device) =>
        lines.Where(l => !l.Contains($"device=\"{device}\"", StringComparison.Ordinal)).ToArray();

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public void A_counter_that_goes_backwards_is_a_reset_and_the_export_keeps_counting_from_the_previous_total(bool relayout)
    {
        using var collector = TestCollectors.Efa(_sys);
        var path = PortCounter("rdmap16s27", "tx_bytes");
        var before = ReadRaw(path);
        var t = 1_000 * Second;
        collector.Discover();
        collector.Sample(t);
        Assert.Equal(before, FrameText.Value(collector.Frame, TxBytes16));

        Write(path, 5_000); // the driver was reloaded: the counter restarted from 0 and counted 5000 bytes
        collector.Sample(t + (Second / 4));
        Assert.Equal(before + 5_000.0, FrameText.Value(collector.Frame, TxBytes16));
        Assert.Equal(20_000.0, FrameText.Value(collector.Frame, TxPeak16)); // 5000 bytes in 250 ms, not a negative rate

        if (relayout)
        {
            // Another device goes: the layout is built again, and the counters that stay keep their
            // state (the reset's offset, the peak window).
            TestCollectors.RemoveRdmaDevice(_sys, "rdmap32s27");
            collector.Discover();
        }

        Write(path, 8_000);
        collector.Sample(t + (Second / 2));
        Assert.Equal(before + 8_000.0, FrameText.Value(collector.Frame, TxBytes16));
        Assert.Equal(20_000.0, FrameText.Value(collector.Frame, TxPeak16));
    }

    [Fact]
    public void A_device_that_goes_away_leaves_the_frame_at_the_next_discovery_and_nothing_else_changes()
    {
        using var collector = TestCollectors.Efa(_sys);
        var t = 1_000 * Second;
        collector.Discover();
        collector.Sample(t);
        var before = FrameText.Lines(collector.Frame);
        Assert.Contains(before, l => l.Contains("device=\"rdmap32s27\"", StringComparison.Ordinal));

        TestCollectors.RemoveRdmaDevice(_sys, "rdmap32s27");
        collector.Discover();

        var expected = Without(before, "rdmap32s27").Select(l => l == "efa_devices{} 4" ? "efa_devices{} 3" : l).ToArray();
        Assert.Contains("efa_devices{} 3", expected);
        Assert.Equal(expected, FrameText.Lines(collector.Frame));
        Assert.Equal(3, collector.DeviceCount);

        collector.Sample(t + (Second / 4));
        Assert.Equal(expected, FrameText.Lines(collector.Frame));
    }

    [Fact]
    public void A_device_that_appears_late_is_exported_after_discovery_with_its_real_values_never_zero()
    {
        // The reference: what a collector started with all four devices present exports.
        string[] reference;
        using (var full = TestCollectors.Efa(Repo.Fixture("p4d-postsplit", "sys")))
        {
            full.Discover();
            full.Sample(Stopwatch.GetTimestamp());
            reference = FrameText.Lines(full.Frame);
        }

        var link = Path.Combine(_sys, "class", "infiniband", "rdmap160s27");
        var target = new FileInfo(link).LinkTarget!; // ../../devices/pci0000:00/0000:a0:1b.0/infiniband/rdmap160s27
        File.Delete(link);
        using var collector = TestCollectors.Efa(_sys);
        var t = 1_000 * Second;
        collector.Discover();
        collector.Sample(t);
        Assert.Equal(3, collector.DeviceCount);
        Assert.DoesNotContain(FrameText.Lines(collector.Frame), l => l.Contains("rdmap160s27", StringComparison.Ordinal));

        File.CreateSymbolicLink(link, target);
        collector.Discover();

        // Between discovery and the next tick every exported value is already a true one: the port
        // counters of the new device are absent until read, never a 0 that a rate() would see jump.
        var afterDiscover = FrameText.Lines(collector.Frame);
        Assert.Equal(4, collector.DeviceCount);
        Assert.Contains(afterDiscover, l => l.StartsWith("rdma_device_info{device=\"rdmap160s27\"", StringComparison.Ordinal));
        Assert.Equal([], afterDiscover.Except(reference).ToArray());

        collector.Sample(t + (Second / 4));
        Assert.Equal(reference, FrameText.Lines(collector.Frame));
    }

    [Fact]
    public void The_transmit_peak_is_the_highest_per_tick_rate_and_falls_back_once_the_burst_leaves_the_window()
    {
        using var collector = TestCollectors.Efa(_sys);
        var path = PortCounter("rdmap16s27", "tx_bytes");
        var raw = ReadRaw(path);
        var t = 1_000 * Second;
        var tick = Second / 4;
        collector.Discover();
        collector.Sample(t);
        Assert.Equal(0.0, FrameText.Value(collector.Frame, TxPeak16));

        // 1 MB, 5 MB, 2 MB per 250 ms tick: 4, 20 and 8 MB/s.
        foreach (var (bytes, peak) in new[] { (1_000_000UL, 4_000_000.0), (5_000_000UL, 20_000_000.0), (2_000_000UL, 20_000_000.0) })
        {
            raw += bytes;
            Write(path, raw);
            t += tick;
            collector.Sample(t);
            Assert.Equal(peak, FrameText.Value(collector.Frame, TxPeak16));
        }

        // Then a steady 1 MB/s (250 kB per tick). The 20 MB/s burst stays the peak for 15 s, then drops out.
        var burstAt = t - tick;
        while (t < burstAt + (15 * Second))
        {
            raw += 250_000;
            Write(path, raw);
            t += tick;
            collector.Sample(t);
            Assert.Equal(t - (15 * Second) <= burstAt ? 20_000_000.0 : 8_000_000.0, FrameText.Value(collector.Frame, TxPeak16));
        }

        for (var i = 0; i < 2; i++)
        {
            raw += 250_000;
            Write(path, raw);
            t += tick;
            collector.Sample(t);
        }

        Assert.Equal(1_000_000.0, FrameText.Value(collector.Frame, TxPeak16));
        Assert.Equal(0.0, FrameText.Value(collector.Frame, "efa_port_transmit_peak_bytes_per_second{device=\"rdmap32s27\",port=\"1\"}"));
    }

    [Fact]
    public void A_counter_that_becomes_unreadable_is_absent_with_its_peak_and_reported_until_it_reads_again()
    {
        using var collector = TestCollectors.Efa(_sys);
        var path = PortCounter("rdmap16s27", "tx_bytes");
        var raw = ReadRaw(path);
        var t = 1_000 * Second;
        collector.Discover();
        collector.Sample(t);

        File.WriteAllText(path, "N/A\n");
        collector.Sample(t += Second / 4);
        var lines = FrameText.Lines(collector.Frame);
        Assert.Null(FrameText.Value(collector.Frame, TxBytes16));
        Assert.Null(FrameText.Value(collector.Frame, TxPeak16));
        Assert.Contains("efa_agent_unavailable{collector=\"efa\",device=\"rdmap16s27\",port=\"1\",counter=\"tx_bytes\",reason=\"not_available\"} 1", lines);

        Write(path, raw + 1_000_000);
        collector.Sample(t += Second / 4);
        Assert.Equal(raw + 1_000_000.0, FrameText.Value(collector.Frame, TxBytes16));
        Assert.Equal(2_000_000.0, FrameText.Value(collector.Frame, TxPeak16)); // 1 MB over the 500 ms since the last reading
        Assert.DoesNotContain(FrameText.Lines(collector.Frame), l => l.StartsWith("efa_agent_unavailable", StringComparison.Ordinal));
    }

    [Fact]
    public void A_counter_that_could_not_be_opened_is_opened_again_at_the_next_discovery()
    {
        // A link to nowhere stands in for an attribute whose open fails (ENODEV after a driver reload).
        var path = PortCounter("rdmap16s27", "tx_bytes");
        var value = ReadRaw(path);
        var target = Path.Combine(_tmp.Path, "tx_bytes.later");
        File.Delete(path);
        File.CreateSymbolicLink(path, target);
        using var collector = TestCollectors.Efa(_sys);
        collector.Discover();
        collector.Sample(1_000 * Second);
        Assert.Null(FrameText.Value(collector.Frame, TxBytes16));
        Assert.Contains("efa_agent_unavailable{collector=\"efa\",device=\"rdmap16s27\",port=\"1\",counter=\"tx_bytes\",reason=\"read_error\"} 1", FrameText.Lines(collector.Frame));
        Assert.False(collector.NeedsDiscovery); // retried on the discovery cadence, not by a walk of the tree every tick

        Write(target, value);
        collector.Discover();
        collector.Sample(1_001 * Second);

        Assert.Equal(value, FrameText.Value(collector.Frame, TxBytes16));
        Assert.DoesNotContain(FrameText.Lines(collector.Frame), l => l.StartsWith("efa_agent_unavailable", StringComparison.Ordinal));
    }
}

using System.Diagnostics;
using System.Globalization;
using EfaAgent.Collectors.Model;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Faults;

/// <summary>
/// What an unlucky or hostile node does to the collectors: files that are not files, a tree that
/// cannot be listed, names that try to write the exposition, a counter that reads 2^64-1 once. Each
/// runs the production collector over a writable copy of a fixture tree.
/// </summary>
public sealed class HostileNodeTests : IDisposable
{
    private const string Device = "rdmap16s27";
    private const string TxBytes = $"efa_port_tx_bytes_total{{device=\"{Device}\",port=\"1\"}}";
    private static readonly long Second = Stopwatch.Frequency;

    private readonly TempDir _tmp = new();
    private readonly string _sys;

    public HostileNodeTests() => _sys = Path.Combine(_tmp.CopyFrom(Repo.Fixture("p4d-postsplit"), "host"), "sys");

    public void Dispose() => _tmp.Dispose();

    private string HwCounters => Path.Combine(_sys, "class", "infiniband", Device, "ports", "1", "hw_counters");

    private static string Unavailable(string counter, string reason) =>
        $"efa_agent_unavailable{{collector=\"efa\",device=\"{Device}\",port=\"1\",counter=\"{counter}\",reason=\"{reason}\"}} 1";

    [Fact]
    public async Task A_FIFO_among_the_counters_is_refused_without_blocking_the_sampler()
    {
        MakeFifo(Path.Combine(HwCounters, "fifo_counter"));
        using var collector = TestCollectors.Efa(_sys);

        // Before the fix open() blocked forever here: run it on a thread pool and give it 10 s.
        var run = Task.Run(() =>
        {
            collector.Discover();
            collector.Sample(1_000 * Second);
        });
        Assert.True(await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(10))) == run, "the collector blocked on a FIFO");
        await run;

        Assert.Contains(Unavailable("fifo_counter", "read_error"), FrameText.Lines(collector.Frame));
        Assert.NotNull(FrameText.Value(collector.Frame, $"efa_port_tx_bytes_total{{device=\"{Device}\",port=\"1\"}}"));
    }

    [Fact]
    public void A_counter_that_turned_into_a_directory_is_named_unavailable_not_dropped()
    {
        Directory.CreateDirectory(Path.Combine(HwCounters, "odd_counter"));
        using var collector = TestCollectors.Efa(_sys);
        collector.Discover();
        collector.Sample(1_000 * Second);

        Assert.Contains(Unavailable("odd_counter", "read_error"), FrameText.Lines(collector.Frame));
    }

    [Fact]
    public void An_unreadable_tree_is_a_collector_error_and_the_devices_are_kept_until_it_reads_again()
    {
        using var collector = TestCollectors.Efa(_sys);
        collector.Discover();
        collector.Sample(1_000 * Second);
        var classDir = Path.Combine(_sys, "class", "infiniband");
        Directory.Move(classDir, classDir + ".away");

        // A link loop: the directory exists but cannot be listed (root reads a chmod 000 directory).
        File.CreateSymbolicLink(classDir, "infiniband");
        var error = Assert.Throws<IOException>(collector.Discover);
        Assert.Contains(classDir, error.Message, StringComparison.Ordinal);
        collector.Sample(1_001 * Second);

        var lines = FrameText.Lines(collector.Frame);
        Assert.Contains("efa_devices{} 4", lines);
        Assert.Contains("efa_agent_unavailable{collector=\"efa\",device=\"\",port=\"\",counter=\"*\",reason=\"list_error\"} 1", lines);
        Assert.Equal(4, collector.DeviceCount);

        File.Delete(classDir);
        Directory.Move(classDir + ".away", classDir);
        collector.Discover();
        Assert.DoesNotContain(FrameText.Lines(collector.Frame), l => l.Contains("list_error", StringComparison.Ordinal));
    }

    [Fact]
    public void A_counter_that_always_fails_is_retried_on_the_discovery_cadence_not_every_tick()
    {
        // pread at offset 0 of /proc/self/mem fails with EIO every time: a regular file that never reads.
        File.CreateSymbolicLink(Path.Combine(HwCounters, "broken"), "/proc/self/mem");
        using var collector = TestCollectors.Efa(_sys);
        collector.Discover();
        collector.Sample(1_000 * Second);
        Assert.True(collector.NeedsDiscovery, "a file that just failed asks for one discovery");
        collector.Discover();

        for (var i = 1; i <= 4; i++)
        {
            collector.Sample((1_000 * Second) + (i * Second / 4));
            Assert.False(collector.NeedsDiscovery, $"tick {i} asked for another walk of the tree");
        }

        Assert.Contains(Unavailable("broken", "read_error"), FrameText.Lines(collector.Frame));
    }

    [Fact]
    public void File_names_that_meet_after_sanitising_lose_none_silently()
    {
        foreach (var name in new[] { "a-b", "a_b", "x", "x_total" })
        {
            File.WriteAllText(Path.Combine(HwCounters, name), "7\n");
        }

        using var collector = TestCollectors.Efa(_sys);
        collector.Discover();
        collector.Sample(1_000 * Second);
        var lines = FrameText.Lines(collector.Frame);

        Assert.Contains($"efa_port_a_b_total{{device=\"{Device}\",port=\"1\"}} 7", lines);
        Assert.Contains($"efa_port_x_total{{device=\"{Device}\",port=\"1\"}} 7", lines);
        Assert.Contains(Unavailable("a_b", "name_collision"), lines);
        Assert.Contains(Unavailable("x_total", "name_collision"), lines);
    }

    [Fact]
    public void A_help_text_carries_no_raw_newline_or_backslash_whatever_the_file_is_called()
    {
        File.WriteAllText(Path.Combine(HwCounters, "x\nfake_metric 1"), "1\n");
        File.WriteAllText(Path.Combine(HwCounters, "back\\slash"), "1\n");
        using var collector = TestCollectors.Efa(_sys);
        collector.Discover();

        var helps = collector.Frame.Layout.Series.Select(s => s.Family.Help).Distinct().ToArray();
        Assert.Contains(helps, h => h.Contains("x\\nfake_metric 1", StringComparison.Ordinal));
        Assert.Contains(helps, h => h.Contains("back\\\\slash", StringComparison.Ordinal));
        Assert.All(helps, h => Assert.DoesNotContain('\n', h));
    }

    [Fact]
    public void A_reading_of_2_to_the_64_minus_1_is_implausible_and_the_total_stays_continuous()
    {
        var peak = $"efa_port_transmit_peak_bytes_per_second{{device=\"{Device}\",port=\"1\"}}";
        using var collector = TxBytesFrom(1000);

        TxBytesTick(collector, ulong.MaxValue, 1);
        Assert.Equal(1000.0, FrameText.Value(collector.Frame, TxBytes));
        Assert.Null(FrameText.Value(collector.Frame, peak)); // absent, not a 0 that reads as idle
        Assert.Contains(Unavailable("tx_bytes", "implausible"), FrameText.Lines(collector.Frame));

        TxBytesTick(collector, 6000, 2);
        Assert.Equal(6000.0, FrameText.Value(collector.Frame, TxBytes));
        Assert.Equal(10_000.0, FrameText.Value(collector.Frame, peak)); // 5000 bytes in the 500 ms since the last good reading, not 5.9e18 B/s
        Assert.DoesNotContain(FrameText.Lines(collector.Frame), l => l.Contains("implausible", StringComparison.Ordinal));
    }

    [Fact]
    public void A_counter_that_really_jumps_and_goes_on_from_there_is_followed_without_the_jump()
    {
        const ulong Far = 1UL << 62;
        using var collector = TxBytesFrom(1000);

        TxBytesTick(collector, Far, 1);
        TxBytesTick(collector, Far + 500, 2);

        Assert.Equal(1500.0, FrameText.Value(collector.Frame, TxBytes));
    }

    /// <summary>A collector whose first tick (at 1000 s) read <paramref name="value"/> from the port's tx_bytes.</summary>
    private Collectors.Efa.EfaCollector TxBytesFrom(ulong value)
    {
        File.WriteAllText(Path.Combine(HwCounters, "tx_bytes"), value.ToString(CultureInfo.InvariantCulture) + "\n");
        var collector = TestCollectors.Efa(_sys);
        collector.Discover();
        collector.Sample(1_000 * Second);
        return collector;
    }

    /// <summary>Writes <paramref name="value"/> to tx_bytes and samples the tick <paramref name="tick"/> quarter seconds after the first.</summary>
    private void TxBytesTick(Collectors.Efa.EfaCollector collector, ulong value, int tick)
    {
        File.WriteAllText(Path.Combine(HwCounters, "tx_bytes"), value.ToString(CultureInfo.InvariantCulture) + "\n");
        collector.Sample((1_000 * Second) + (tick * Second / 4));
    }

    private static void MakeFifo(string path)
    {
        using var mkfifo = Process.Start("mkfifo", [path]);
        mkfifo.WaitForExit();
        Assert.Equal(0, mkfifo.ExitCode);
    }
}

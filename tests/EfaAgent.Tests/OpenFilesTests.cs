using System.Diagnostics;
using EfaAgent.Collectors.Sysfs;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests;

/// <summary>Counts the test process's own descriptors, so nothing else may open files meanwhile.</summary>
[CollectionDefinition(nameof(OpenFilesTests), DisableParallelization = true)]
public sealed class SerialDescriptorCount;

[Collection(nameof(OpenFilesTests))]
public class OpenFilesTests
{
    private static int OpenDescriptors() => Directory.GetFileSystemEntries("/proc/self/fd").Length;

    [Fact]
    public void The_descriptors_of_a_device_that_went_away_are_closed_at_the_next_discovery()
    {
        using var tmp = new TempDir();
        var sys = Path.Combine(tmp.CopyFrom(Repo.Fixture("p4d-postsplit"), "host"), "sys");

        // Once through, so that whatever the runtime opens lazily is open before the baseline.
        using (var warmUp = TestCollectors.Efa(sys))
        {
            warmUp.Discover();
            warmUp.Sample(Stopwatch.GetTimestamp());
        }

        // Handles other tests left to their finalizers are closed now, not in the middle of the count.
        GC.Collect();
        GC.WaitForPendingFinalizers();
        var baseline = OpenDescriptors();
        using var collector = TestCollectors.Efa(sys);
        collector.Discover();
        collector.Sample(Stopwatch.GetTimestamp());
        var perDevice = 12 + 1 + 17 + 1; // device counters + lifespan, port counters + lifespan
        Assert.Equal(4 * perDevice, collector.OpenFiles);
        Assert.Equal(4, collector.HeldDirectories); // each device's directory, to look up its files from
        Assert.Equal(baseline + collector.OpenFiles + 4, OpenDescriptors());

        TestCollectors.RemoveRdmaDevice(sys, "rdmap32s27");
        collector.Sample(Stopwatch.GetTimestamp());
        collector.Discover();
        collector.Sample(Stopwatch.GetTimestamp());

        Assert.Equal(3 * perDevice, collector.OpenFiles);
        Assert.Equal(3, collector.HeldDirectories);
        Assert.Equal(baseline + collector.OpenFiles + 3, OpenDescriptors());

        collector.Dispose();
        Assert.Equal(baseline, OpenDescriptors());
    }

    [Fact]
    public void A_held_directory_is_looked_up_from_until_another_takes_its_path_and_closed_when_no_walk_asks()
    {
        using var tmp = new TempDir();
        var device = tmp.Combine("rdmap16s27");
        Directory.CreateDirectory(Path.Combine(device, "ports", "1", "hw_counters"));
        File.WriteAllText(Path.Combine(device, "ports", "1", "hw_counters", "tx_bytes"), "0\n");
        File.WriteAllText(Path.Combine(device, "ports", "1", "rate"), "100 Gb/sec (4X EDR)\n");
        using var cache = new ListingCache(TimeSpan.FromMilliseconds(20));
        var fds = OpenDescriptors();

        (HeldDirectory Dir, string Identity) Hold() =>
            cache.Hold(device, "pci", static (d, _) => File.ReadAllText(Path.Combine(d, "ports", "1", "rate")), 0)!.Value;
        string[]? Counters(HeldDirectory d) =>
            cache.GetIfDirectory(d, "ports/1/hw_counters", "counters", static (p, _) => SysfsText.ListNames(p), 0);

        var (held, _) = Hold();
        Assert.NotEqual(-100, held.Descriptor);
        Assert.Equal(fds + 1, OpenDescriptors());
        Assert.Equal(["tx_bytes"], Counters(held)!);
        Assert.Equal("100 Gb/sec (4X EDR)", SysfsText.TryReadStable(held, "ports/1/rate"));

        // Written in place, a file reads anew through the held directory; the directory is kept.
        File.WriteAllText(Path.Combine(device, "ports", "1", "rate"), "200 Gb/sec (4X HDR)\n");
        Thread.Sleep(40);
        cache.Sweep();
        var (again, _) = Hold();
        Assert.Equal(held.Descriptor, again.Descriptor);
        Assert.Equal("200 Gb/sec (4X HDR)", SysfsText.TryReadStable(again, "ports/1/rate"));

        // Another directory at the path (a device registered again): looked up from the new one.
        Directory.Move(device, device + ".old");
        Directory.CreateDirectory(Path.Combine(device, "ports", "1", "hw_counters"));
        File.WriteAllText(Path.Combine(device, "ports", "1", "hw_counters", "rx_bytes"), "0\n");
        File.WriteAllText(Path.Combine(device, "ports", "1", "rate"), "400 Gb/sec (8X NDR)\n");
        var (renewed, identity) = Hold();
        Assert.Equal("400 Gb/sec (8X NDR)\n", identity);
        Assert.Equal(["rx_bytes"], Counters(renewed)!);
        Assert.Equal("400 Gb/sec (8X NDR)", SysfsText.TryReadStable(renewed, "ports/1/rate"));
        Assert.Equal(fds + 1, OpenDescriptors());

        // Gone from the tree: null, and the descriptor is closed once a sweep finds it unused.
        Directory.Delete(device, recursive: true);
        Assert.Null(cache.Hold(device, "pci", static (d, _) => d, 0));
        cache.Sweep();
        cache.Sweep();
        Assert.Equal(0, cache.HeldCount);
        Assert.Equal(fds, OpenDescriptors());
    }
}

using System.Diagnostics;
using EfaAgent.Collectors.Efa;
using EfaAgent.Tests.Support;
using Microsoft.Extensions.Logging.Abstractions;

namespace EfaAgent.Tests;

/// <summary>Counts the test process's own descriptors, so nothing else may open files meanwhile.</summary>
[CollectionDefinition(nameof(OpenFilesTests), DisableParallelization = true)]
public sealed class SerialDescriptorCount;

[Collection(nameof(OpenFilesTests))]
public class OpenFilesTests
{
    private static int OpenDescriptors() => Directory.GetFileSystemEntries("/proc/self/fd").Length;

    private static EfaCollector NewCollector(string sys) =>
        new(new EfaCollectorOptions(sys, TimeSpan.FromMilliseconds(250), TimeSpan.FromSeconds(15)), NullLogger.Instance);

    [Fact]
    public void The_descriptors_of_a_device_that_went_away_are_closed_at_the_next_discovery()
    {
        using var tmp = new TempDir();
        var sys = Path.Combine(tmp.CopyFrom(Repo.Fixture("p4d-postsplit"), "host"), "sys");

        // Once through, so that whatever the runtime opens lazily is open before the baseline.
        using (var warmUp = NewCollector(sys))
        {
            warmUp.Discover();
            warmUp.Sample(Stopwatch.GetTimestamp());
        }

        var baseline = OpenDescriptors();
        using var collector = NewCollector(sys);
        collector.Discover();
        collector.Sample(Stopwatch.GetTimestamp());
        var perDevice = 12 + 1 + 17 + 1; // device counters + lifespan, port counters + lifespan
        Assert.Equal(4 * perDevice, collector.OpenFiles);
        Assert.Equal(baseline + collector.OpenFiles, OpenDescriptors());

        File.Delete(Path.Combine(sys, "class", "infiniband", "rdmap32s27"));
        Directory.Delete(Path.Combine(sys, "devices", "pci0000:00", "0000:20:1b.0", "infiniband", "rdmap32s27"), recursive: true);
        collector.Sample(Stopwatch.GetTimestamp());
        collector.Discover();
        collector.Sample(Stopwatch.GetTimestamp());

        Assert.Equal(3 * perDevice, collector.OpenFiles);
        Assert.Equal(baseline + collector.OpenFiles, OpenDescriptors());

        collector.Dispose();
        Assert.Equal(baseline, OpenDescriptors());
    }
}

using System.Diagnostics;
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
        Assert.Equal(baseline + collector.OpenFiles, OpenDescriptors());

        TestCollectors.RemoveRdmaDevice(sys, "rdmap32s27");
        collector.Sample(Stopwatch.GetTimestamp());
        collector.Discover();
        collector.Sample(Stopwatch.GetTimestamp());

        Assert.Equal(3 * perDevice, collector.OpenFiles);
        Assert.Equal(baseline + collector.OpenFiles, OpenDescriptors());

        collector.Dispose();
        Assert.Equal(baseline, OpenDescriptors());
    }
}

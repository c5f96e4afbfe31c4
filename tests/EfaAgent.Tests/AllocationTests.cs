using System.Diagnostics;
using EfaAgent.Collectors;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests;

/// <summary>
/// The fast lane allocates nothing once the device set is stable: a tick that allocates would make a
/// 4 Hz agent on a p5 a steady source of garbage. Bytes are counted, not timed, so this is exact.
/// </summary>
public sealed class AllocationTests
{
    public static TheoryData<string> Fixtures => new("p4d-postsplit", "p5-617", "malformed");

    [Theory]
    [MemberData(nameof(Fixtures))]
    public void Efa_and_netdev_sampling_allocate_nothing_per_tick(string fixture)
    {
        using var efa = TestCollectors.Efa(Repo.Fixture(fixture, "sys"));
        using var netdev = TestCollectors.NetDev(Repo.Fixture(fixture, "proc"));
        ICollector[] collectors = [efa, netdev];
        var t = Stopwatch.GetTimestamp();
        foreach (var c in collectors)
        {
            c.Discover();
        }

        for (var i = 0; i < 50; i++)
        {
            Tick(collectors, t += Stopwatch.Frequency / 4);
        }

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 200; i++)
        {
            Tick(collectors, t += Stopwatch.Frequency / 4);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private static void Tick(ICollector[] collectors, long timestamp)
    {
        foreach (var c in collectors)
        {
            c.Sample(timestamp);
        }
    }
}

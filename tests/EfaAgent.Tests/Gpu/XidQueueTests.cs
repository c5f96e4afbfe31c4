using System.Diagnostics;
using EfaAgent.Collectors.Gpu;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Gpu;

/// <summary>Xid events beyond what the queue holds between two drains are exported as dropped, not lost silently.</summary>
public sealed class XidQueueTests
{
    [Fact]
    public void Events_dropped_from_a_full_queue_are_exported()
    {
        var nvml = new SimulatedNvml(gpuCount: 2);
        using var gpu = new GpuCollector(GpuCollectorTests.Options("unused"), () => nvml, new ListLogger());
        gpu.Discover();
        const int Sent = XidWatcher.MaxQueued + 500;
        for (var i = 0; i < Sent; i++)
        {
            nvml.InjectXid(1, 31);
        }

        // The watcher takes every event from the driver before anything drains its queue: once the
        // counted and the dropped add up to what was sent, all of them were handled one way or the other.
        double Counted() => gpu.Frame.Value("gpu_xid_errors_total", "gpu=1", "xid=31");
        Assert.True(GpuCollectorTests.WaitUntil(() =>
        {
            Thread.Sleep(200);
            gpu.Sample(Stopwatch.GetTimestamp());
            return Counted() + gpu.Frame.Value("gpu_xid_events_dropped_total") == Sent;
        }, TimeSpan.FromSeconds(20)));
        Assert.True(gpu.Frame.Value("gpu_xid_events_dropped_total") > 0);
        Assert.True(Counted() >= XidWatcher.MaxQueued);
    }
}

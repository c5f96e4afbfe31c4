using System.Diagnostics;
using EfaAgent.Collectors.Gpu;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Gpu;

/// <summary>
/// A hanging NVML call never holds a tick longer than the tick wait: the tick takes the last complete
/// values and moves on, the stall is reported once the call passes the call timeout, and service
/// resumes when it returns. Apart from <see cref="GpuCollectorTests"/> because these wait seconds for
/// the fake's sleeping calls, and test classes run in parallel.
/// </summary>
public sealed class GpuCollectorStallTests(FakeNvmlBuild build) : IClassFixture<FakeNvmlBuild>
{
    // The bounds below are wide on purpose (a loaded CI machine): each is still far from what a
    // collector that waited on the hung call (8 s) or for the call timeout (2 s) would take.
    private static readonly TimeSpan TickWait = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan TickBound = TimeSpan.FromMilliseconds(750);

    [Fact]
    public void A_hanging_call_never_holds_a_tick_past_the_tick_wait_is_a_stall_after_the_timeout_and_service_resumes_after()
    {
        using var fake = new FakeNvml(build);
        var log = new ListLogger();
        var timeout = TimeSpan.FromSeconds(2);
        using var hung = GpuCollectorTests.Create(fake, log, timeout, TickWait);
        hung.Discover();
        Assert.True(GpuCollectorTests.WaitUntil(() =>
        {
            hung.Sample(Stopwatch.GetTimestamp());
            return hung.Frame.Value("gpu_power_watts", "gpu=0") == 300;
        }, TimeSpan.FromSeconds(10)));

        fake.Scenario("hang nvmlDeviceGetPowerUsage 8000 0\n");
        var hungAt = Stopwatch.GetTimestamp();
        var longest = TimeSpan.Zero;
        var stalledAfter = TimeSpan.Zero;
        while (Stopwatch.GetElapsedTime(hungAt) < TimeSpan.FromSeconds(4))
        {
            var tick = Stopwatch.GetTimestamp();
            hung.Sample(tick);
            longest = TimeSpan.FromTicks(Math.Max(longest.Ticks, Stopwatch.GetElapsedTime(tick).Ticks));
            Assert.Equal(300, hung.Frame.Value("gpu_power_watts", "gpu=0"));
            Assert.Equal(1, hung.Frame.Value("gpu_up", "gpu=5"));
            if (stalledAfter == TimeSpan.Zero && hung.Stalled)
            {
                stalledAfter = Stopwatch.GetElapsedTime(hungAt);
            }

            Thread.Sleep(100);
        }

        Assert.True(longest < TickBound, $"a tick took {longest.TotalMilliseconds} ms while NVML hung");
        Assert.True(stalledAfter > TimeSpan.FromSeconds(1.9), $"stalled after {stalledAfter.TotalSeconds} s, before the 2 s timeout");
        Assert.Equal(0, hung.Frame.Value("gpu_nvml_up"));
        Assert.Equal(1, hung.Frame.Value("gpu_nvml_stalled"));
        Assert.True(hung.NeedsDiscovery);

        var discoverAt = Stopwatch.GetTimestamp();
        hung.Discover();
        Assert.True(Stopwatch.GetElapsedTime(discoverAt) < TickBound, "Discover waited on the hung call");

        fake.Scenario("0 set power_mw 250000\n");
        Assert.True(GpuCollectorTests.WaitUntil(() =>
        {
            hung.Sample(Stopwatch.GetTimestamp());
            return hung.Frame.Value("gpu_nvml_stalled") == 0 && hung.Frame.Value("gpu_power_watts", "gpu=0") == 250;
        }, TimeSpan.FromSeconds(15)), "service did not resume after the call returned");
        var total = Stopwatch.GetElapsedTime(hungAt);
        Assert.True(total > TimeSpan.FromSeconds(7.5), $"resumed after {total.TotalSeconds} s, before the 8 s call returned");
        Assert.Equal(1, hung.Frame.Value("gpu_nvml_up"));
        Assert.False(hung.Stalled);
        Assert.Equal(1, log.Count("has not returned within"));
        Assert.Equal(1, log.Count("NVML answered again"));
    }

    [Fact]
    public void A_hanging_init_does_not_hold_up_discover()
    {
        using var fake = new FakeNvml(build, "hang nvmlInit_v2 6000\n");
        var timeout = TimeSpan.FromMilliseconds(500);
        using var gpu = GpuCollectorTests.Create(fake, new ListLogger(), timeout, TickWait);

        var start = Stopwatch.GetTimestamp();
        gpu.Discover();
        Assert.True(Stopwatch.GetElapsedTime(start) < TickBound, "Discover waited on the hung init");
        Assert.Equal(0, gpu.Frame.Value("gpu_nvml_up"));
        Assert.True(GpuCollectorTests.WaitUntil(() =>
        {
            gpu.Sample(Stopwatch.GetTimestamp());
            return gpu.Frame.Value("gpu_nvml_stalled") == 1;
        }, TimeSpan.FromSeconds(5)));
        Assert.True(gpu.NeedsDiscovery);

        fake.Scenario("");
        Assert.True(GpuCollectorTests.WaitUntil(() =>
        {
            gpu.Discover();
            return gpu.Frame.Value("gpu_nvml_up") == 1;
        }, TimeSpan.FromSeconds(15)));
        Assert.Equal(8, gpu.DeviceCount);
    }

    [Fact]
    public void Dispose_does_not_wait_for_a_call_that_hangs_and_leaves_the_library_loaded()
    {
        using var fake = new FakeNvml(build);
        var log = new ListLogger();
        var gpu = HungSample(fake, log);

        var start = Stopwatch.GetTimestamp();
        gpu.Dispose();
        var took = Stopwatch.GetElapsedTime(start);

        // The call hangs for a minute; Dispose gives it the shutdown budget (0.7 s) and goes. The bound
        // leaves room for a loaded machine and still fails a Dispose that waits for the call.
        Assert.True(took < TimeSpan.FromSeconds(5), $"Dispose took {took.TotalMilliseconds} ms");
        Assert.Equal(1, log.Count("NVML stays loaded"));
    }

    [Fact]
    public void Dispose_skips_the_shutdown_budget_for_a_call_already_running_longer_than_it()
    {
        using var fake = new FakeNvml(build);
        var log = new ListLogger();
        var gpu = HungSample(fake, log);
        Thread.Sleep(GpuCollector.ShutdownBudget * 2);

        var start = Stopwatch.GetTimestamp();
        gpu.Dispose();
        var took = Stopwatch.GetElapsedTime(start);

        // Waiting for the shutdown job would take the whole budget: the worker is busy until the hung
        // call returns, a minute from now.
        Assert.True(took < GpuCollector.ShutdownBudget, $"Dispose took {took.TotalMilliseconds} ms, the whole budget");
        Assert.Equal(1, log.Count("NVML stays loaded"));
    }

    /// <summary>A collector over all 8 fake GPUs whose worker is inside a power reading that hangs for a minute.</summary>
    private static GpuCollector HungSample(FakeNvml fake, ListLogger log)
    {
        var gpu = GpuCollectorTests.Create(fake, log, TimeSpan.FromSeconds(2), TickWait);
        Assert.True(GpuCollectorTests.WaitUntil(() =>
        {
            gpu.Discover();
            return gpu.DeviceCount == 8;
        }, TimeSpan.FromSeconds(10)));
        fake.Scenario("hang nvmlDeviceGetPowerUsage 60000 0\n");
        gpu.Sample(Stopwatch.GetTimestamp());
        return gpu;
    }
}

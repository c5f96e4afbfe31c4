using System.Diagnostics;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Gpu;

/// <summary>
/// A hanging NVML call bounds Sample() and Discover() by the call timeout, and service resumes when
/// it returns. Apart from <see cref="GpuCollectorTests"/> because these wait seconds for the fake's
/// sleeping calls, and test classes run in parallel.
/// </summary>
public sealed class GpuCollectorStallTests(FakeNvmlBuild build) : IClassFixture<FakeNvmlBuild>
{
    [Fact]
    public void A_hanging_call_returns_control_within_the_timeout_marks_the_stall_and_service_resumes_after()
    {
        using var fake = new FakeNvml(build);
        var log = new ListLogger();
        // The bounds below are wide on purpose (a loaded CI machine): each is still far from what a
        // collector that waited on the hung call (8 s), or waited the timeout again (2 s), would take.
        var timeout = TimeSpan.FromSeconds(2);
        using var gpu = GpuCollectorTests.Create(fake, log, timeout);
        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());
        Assert.Equal(300, gpu.Frame.Value("gpu_power_watts", "gpu=0"));

        fake.Scenario("hang nvmlDeviceGetPowerUsage 8000 0\n");
        var hungAt = Stopwatch.GetTimestamp();
        gpu.Sample(hungAt);
        var first = Stopwatch.GetElapsedTime(hungAt);

        Assert.True(first < timeout + TimeSpan.FromMilliseconds(1500), $"Sample took {first.TotalMilliseconds} ms");
        Assert.True(gpu.Stalled);
        var f = gpu.Frame;
        Assert.Equal(0, f.Value("gpu_nvml_up"));
        Assert.Equal(1, f.Value("gpu_nvml_stalled"));
        Assert.Equal(300, f.Value("gpu_power_watts", "gpu=0"));
        Assert.Equal(1, f.Value("gpu_up", "gpu=5"));

        // Once stuck is known, the next ticks only look: they do not wait the timeout again.
        fake.Scenario("0 set power_mw 250000\n");
        var again = Stopwatch.GetTimestamp();
        gpu.Sample(again);
        gpu.Discover();
        Assert.True(Stopwatch.GetElapsedTime(again) < TimeSpan.FromMilliseconds(1500), "a known stall must not be waited for again");
        Assert.Equal(1, gpu.Frame.Value("gpu_nvml_stalled"));
        Assert.True(gpu.NeedsDiscovery);

        var resumed = GpuCollectorTests.WaitUntil(() =>
        {
            gpu.Sample(Stopwatch.GetTimestamp());
            return gpu.Frame.Value("gpu_nvml_stalled") == 0;
        }, TimeSpan.FromSeconds(15));
        Assert.True(resumed, "service did not resume after the call returned");
        var total = Stopwatch.GetElapsedTime(hungAt);
        Assert.True(total > TimeSpan.FromSeconds(7.5), $"resumed after {total.TotalSeconds} s, before the 8 s call returned");

        gpu.Sample(Stopwatch.GetTimestamp());
        f = gpu.Frame;
        Assert.Equal(1, f.Value("gpu_nvml_up"));
        Assert.Equal(0, f.Value("gpu_nvml_stalled"));
        Assert.Equal(250, f.Value("gpu_power_watts", "gpu=0"));
        Assert.False(gpu.Stalled);
        Assert.Equal(1, log.Count("has not returned within"));
        Assert.Equal(1, log.Count("NVML answered again"));
    }

    [Fact]
    public void A_hanging_init_does_not_hold_up_discover()
    {
        using var fake = new FakeNvml(build, "hang nvmlInit_v2 6000\n");
        var timeout = TimeSpan.FromMilliseconds(500);
        using var gpu = GpuCollectorTests.Create(fake, new ListLogger(), timeout);

        var start = Stopwatch.GetTimestamp();
        gpu.Discover();
        Assert.True(Stopwatch.GetElapsedTime(start) < timeout + TimeSpan.FromMilliseconds(2000), "Discover waited on the hung init");
        Assert.Equal(0, gpu.Frame.Value("gpu_nvml_up"));
        Assert.Equal(1, gpu.Frame.Value("gpu_nvml_stalled"));
        Assert.True(gpu.NeedsDiscovery);

        fake.Scenario("");
        Assert.True(GpuCollectorTests.WaitUntil(() =>
        {
            gpu.Discover();
            return gpu.Frame.Value("gpu_nvml_up") == 1;
        }, TimeSpan.FromSeconds(15)));
        Assert.Equal(8, gpu.DeviceCount);
    }
}

using System.Diagnostics;
using EfaAgent.Collectors.Gpu;
using EfaAgent.Collectors.Model;
using EfaAgent.Tests.Support;
using Microsoft.Extensions.Logging;
using static EfaAgent.Tests.Gpu.GpuCollectorTests;

namespace EfaAgent.Tests.Gpu;

/// <summary>
/// The GPU collector when NVML fails: a lost GPU, a missing library, a driver not loaded, an init that
/// keeps failing, NVML that stops answering, and the stop. Over the production binding and the fake
/// libnvidia-ml.so.1, as <see cref="GpuCollectorTests"/>.
/// </summary>
public sealed class GpuCollectorFailureTests(FakeNvmlBuild build) : IClassFixture<FakeNvmlBuild>
{
    [Fact]
    public void A_field_the_gpu_does_not_support_is_asked_again_on_the_slow_cadence_not_every_tick()
    {
        // As an H200 without NVLink answers the NVLink throughput fields.
        using var fake = new FakeNvml(build, "* fielderr 138 3\n* fielderr 139 3\n");
        using var gpu = Create(fake, new ListLogger());
        gpu.Discover();
        for (var i = 0; i < 10; i++)
        {
            gpu.Sample(Stopwatch.GetTimestamp());
        }

        // Eight GPUs: the first tick after the discovery asks, the nine after it do not.
        Assert.Equal(8UL, fake.Calls("field 138"));
        Assert.Equal(80UL, fake.Calls("field 197"));
        Assert.True(double.IsNaN(gpu.Frame.Value("gpu_nvlink_transmit_bytes_total", "gpu=0")));
        Assert.Equal(1, gpu.Frame.Value("efa_agent_unavailable", "device=0", "counter=gpu_nvlink_transmit_bytes_total", "reason=not_supported"));

        // The GPU answers it now (links trained, a new driver): the tick after the next discovery has it.
        fake.Scenario("0 field 138 2\n");
        gpu.Sample(Stopwatch.GetTimestamp());
        Assert.True(double.IsNaN(gpu.Frame.Value("gpu_nvlink_transmit_bytes_total", "gpu=0")));
        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());
        Assert.Equal(2048, gpu.Frame.Value("gpu_nvlink_transmit_bytes_total", "gpu=0"));
        Assert.Empty(gpu.Frame.Find("efa_agent_unavailable", "device=0", "counter=gpu_nvlink_transmit_bytes_total"));
        Assert.Equal(16UL, fake.Calls("field 138"));
    }

    [Theory]
    [InlineData(15)]
    [InlineData(16)]
    public void A_lost_gpu_is_down_with_its_series_absent_while_the_others_are_sampled_and_it_comes_back(int code)
    {
        using var fake = new FakeNvml(build);
        var log = new ListLogger();
        using var gpu = Create(fake, log);
        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());
        Assert.Equal(303, gpu.Frame.Value("gpu_power_watts", "gpu=3"));

        fake.Scenario($"3 lost {code}\n4 set power_mw 123000\n");
        gpu.Sample(Stopwatch.GetTimestamp());
        var f = gpu.Frame;

        Assert.Equal(0, f.Value("gpu_up", "gpu=3"));
        Assert.True(gpu.NeedsDiscovery);
        foreach (var name in new[] { "gpu_power_watts", "gpu_utilization_ratio", "gpu_memory_used_bytes", "gpu_energy_joules_total", "gpu_ecc_errors_total", "gpu_pcie_transmit_bytes_total" })
        {
            Assert.All(f.Find(name, "gpu=3"), s => Assert.True(double.IsNaN(s.Value), $"{s.Series} should be absent"));
        }

        Assert.Equal(1, f.Value("gpu_info", "gpu=3"));
        Assert.Equal(1, f.Value("gpu_nvml_up"));
        Assert.Equal(123, f.Value("gpu_power_watts", "gpu=4"));
        Assert.Equal(1, f.Value("gpu_up", "gpu=4"));
        Assert.Equal(1, log.Count("GPU 3 GPU-fa6e0000-0000-4000-8000-000000000003 stopped answering"));

        // Still lost: a discovery leaves it down.
        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());
        Assert.Equal(0, gpu.Frame.Value("gpu_up", "gpu=3"));

        fake.Scenario("");
        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());
        f = gpu.Frame;
        Assert.Equal(1, f.Value("gpu_up", "gpu=3"));
        Assert.Equal(303, f.Value("gpu_power_watts", "gpu=3"));
        Assert.Equal(4000, f.Value("gpu_energy_joules_total", "gpu=3"));
        Assert.Equal(1, log.Count("GPU 3 GPU-fa6e0000-0000-4000-8000-000000000003 answers again"));
        Assert.Equal(1, log.Count("stopped answering"));
    }

    [Fact]
    public void A_missing_library_is_nvml_down_logged_once_without_throwing_and_picked_up_when_it_appears()
    {
        using var dir = new TempDir();
        var path = dir.Combine("libnvidia-ml.so.1");
        var log = new ListLogger();
        using var gpu = Over(Options(path), log);

        for (var i = 0; i < 3; i++)
        {
            gpu.Discover();
            gpu.Sample(Stopwatch.GetTimestamp());
        }

        var f = gpu.Frame;
        Assert.Equal(0, f.Value("gpu_nvml_up"));
        Assert.Equal(0, f.Value("gpu_nvml_stalled"));
        Assert.Equal(4, f.Layout.Count);
        Assert.Equal(0, gpu.DeviceCount);
        Assert.Equal(1, log.Count("NVML is not available"));
        Assert.Contains(log.Entries, e => e.Level == LogLevel.Information && e.Message.Contains(path, StringComparison.Ordinal));

        // The driver gets installed while the agent runs.
        File.Copy(build.ModernPath, path);
        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());
        Assert.Equal(1, gpu.Frame.Value("gpu_nvml_up"));
        Assert.Equal(8, gpu.Frame.Find("gpu_up").Count);
    }

    [Fact]
    public void A_driver_not_loaded_is_logged_once_with_nvml_s_reason_and_retried_on_discover()
    {
        using var fake = new FakeNvml(build, "init 9\n");
        var log = new ListLogger();
        using var gpu = Create(fake, log);

        gpu.Discover();
        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());

        Assert.Equal(0, gpu.Frame.Value("gpu_nvml_up"));
        Assert.Empty(gpu.Frame.Find("gpu_up"));
        Assert.Equal(1, log.Count("Driver Not Loaded"));
        Assert.Equal(2UL, fake.Calls("nvmlInit_v2"));

        fake.Scenario("");
        gpu.Discover();
        Assert.Equal(1, gpu.Frame.Value("gpu_nvml_up"));
        Assert.Equal(8, gpu.DeviceCount);
    }

    [Fact]
    public void Any_other_init_failure_fails_every_discover_until_NVML_answers_and_is_logged_once()
    {
        using var fake = new FakeNvml(build, "init 4\n");
        var log = new ListLogger();
        using var gpu = Create(fake, log);

        var e = Assert.Throws<InvalidOperationException>(gpu.Discover);
        Assert.Contains("NVML initialisation failed: Insufficient Permissions", e.Message, StringComparison.Ordinal);
        Assert.Contains(fake.LibraryPath, e.Message, StringComparison.Ordinal);
        Assert.Throws<InvalidOperationException>(gpu.Discover);
        gpu.Sample(Stopwatch.GetTimestamp());

        Assert.Equal(0, gpu.Frame.Value("gpu_nvml_up"));
        Assert.Equal(4, gpu.Frame.Layout.Count);
        Assert.Equal(1, log.Count("Insufficient Permissions"));
        Assert.Equal(LogLevel.Warning, log.Entries.Single(x => x.Message.Contains("Insufficient Permissions", StringComparison.Ordinal)).Level);

        fake.Scenario("");
        gpu.Discover();
        Assert.Equal(1, gpu.Frame.Value("gpu_nvml_up"));
    }

    [Fact]
    public void When_nvml_itself_stops_answering_the_gpu_series_go_and_come_back_after_reinit()
    {
        using var fake = new FakeNvml(build);
        var log = new ListLogger();
        using var gpu = Create(fake, log);
        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());

        fake.Scenario("* error nvmlDeviceGetPowerUsage 9\n");
        gpu.Sample(Stopwatch.GetTimestamp());
        Assert.Equal(0, gpu.Frame.Value("gpu_nvml_up"));
        Assert.Empty(gpu.Frame.Find("gpu_up"));
        Assert.True(gpu.NeedsDiscovery);
        Assert.Equal(1, log.Count("NVML stopped answering"));

        fake.Scenario("");
        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());
        Assert.Equal(1, gpu.Frame.Value("gpu_nvml_up"));
        Assert.Equal(300, gpu.Frame.Value("gpu_power_watts", "gpu=0"));
        Assert.Equal(1000, gpu.Frame.Value("gpu_energy_joules_total", "gpu=0"));
    }

    [Fact]
    public void Dispose_stops_the_xid_watcher_and_the_worker()
    {
        using var fake = new FakeNvml(build);
        var gpu = Create(fake, new ListLogger());
        gpu.Discover();
        var watcher = gpu.XidWatcher;
        Assert.NotNull(watcher);

        var start = Stopwatch.GetTimestamp();
        gpu.Dispose();
        gpu.Dispose();

        Assert.True(Stopwatch.GetElapsedTime(start) < TimeSpan.FromSeconds(3));
        Assert.True(watcher.HasExited);
        Assert.True(gpu.WorkerExited);
        Assert.Equal(1UL, fake.Calls("nvmlShutdown"));
        Assert.Equal(1UL, fake.Calls("nvmlEventSetFree"));
        Assert.Throws<ObjectDisposedException>(() => gpu.Sample(0));
    }
}

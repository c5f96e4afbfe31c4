using System.Diagnostics;
using EfaAgent.Collectors.Gpu;
using EfaAgent.Collectors.Interop;
using EfaAgent.Collectors.Model;
using EfaAgent.Tests.Support;
using Microsoft.Extensions.Logging;

namespace EfaAgent.Tests.Gpu;

/// <summary>The GPU collector over the production binding and the fake libnvidia-ml.so.1.</summary>
public sealed class GpuCollectorTests(FakeNvmlBuild build) : IClassFixture<FakeNvmlBuild>
{
    private const double GiB = 1024.0 * 1024 * 1024;

    private static readonly string[] RequiredNames =
    [
        "gpu_nvml_up", "gpu_nvml_stalled", "gpu_up", "gpu_info", "gpu_utilization_ratio", "gpu_memory_utilization_ratio",
        "gpu_memory_used_bytes", "gpu_memory_free_bytes", "gpu_memory_total_bytes", "gpu_power_watts", "gpu_energy_joules_total",
        "gpu_temperature_celsius", "gpu_memory_temperature_celsius", "gpu_sm_clock_hertz", "gpu_memory_clock_hertz",
        "gpu_clock_event_active", "gpu_nvlink_transmit_bytes_total", "gpu_nvlink_receive_bytes_total",
        "gpu_pcie_transmit_bytes_total", "gpu_pcie_receive_bytes_total", "gpu_ecc_errors_total", "gpu_remapped_rows_total",
        "gpu_remapped_rows_pending", "gpu_remapped_rows_failed", "gpu_retired_pages_total", "gpu_retired_pages_pending",
        "gpu_nvlink_errors_total", "gpu_pcie_replays_total", "gpu_throttle_seconds_total", "gpu_process_memory_used_bytes",
        "gpu_xid_errors_total", "gpu_last_xid_timestamp_seconds", "gpu_xid_events_dropped_total", "gpu_xid_unattributed_total",
    ];

    [Fact]
    public void Exports_every_metric_of_eight_gpus_with_their_units()
    {
        using var fake = new FakeNvml(build, """
            2 set reasons 0x41
            2 set ecc_cv 7
            2 set ecc_ua 2
            2 field 138 1000
            2 field 139 2000
            2 field 197 5000000
            2 field 198 6000000
            2 field 142 3
            2 field 143 1
            2 field 144 1
            2 field 29 4
            2 field 30 5
            2 field 31 1
            2 nvlink_errors 38 5 6
            2 nvlink_errors 45 0 0 12
            2 nvlink_errors 52 1 1 1 1 1 1 1 1 1 1 1 1 1
            2 nvlink_errors 59 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 0 14
            2 field 94 15
            2 set throttle_sw_thermal 2500000000
            2 set throttle_hw_thermal 1000000000
            2 set throttle_hw_power_brake 500000000
            2 field 74 4000000000
            2 procs 4242:1073741824 4243:2147483648
            """);
        var log = new ListLogger();
        using var gpu = Create(fake, log);

        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());
        var f = gpu.Frame;

        Assert.Equal("gpu", gpu.Name);
        Assert.Equal(8, gpu.DeviceCount);
        Assert.Subset(f.Names(), RequiredNames.ToHashSet());
        Assert.Equal(1, f.Value("gpu_nvml_up"));
        Assert.Equal(0, f.Value("gpu_nvml_stalled"));
        Assert.Equal(8, f.Find("gpu_up").Count(s => s.Value == 1));
        Assert.All(f.Layout.Series.Where(s => s.Family.Name.StartsWith("gpu_", StringComparison.Ordinal) && s.Family.LabelNames.Length > 0),
            s => Assert.Equal(["gpu", "uuid", "pci_bus_id"], s.Family.LabelNames[..3]));
        Assert.All(f.Layout.Series.Where(s => s.Family.Type == MetricType.Counter),
            s => Assert.EndsWith("_total", s.Family.Name, StringComparison.Ordinal));

        var info = Assert.Single(f.Find("gpu_info", "gpu=2"));
        Assert.Equal(1, info.Value);
        Assert.Equal("GPU-fa6e0000-0000-4000-8000-000000000002", info.Series.Label("uuid"));
        Assert.Equal("00000000:30:00.0", info.Series.Label("pci_bus_id"));
        Assert.Equal("Fake H100 80GB HBM3", info.Series.Label("name"));
        Assert.Equal("999.99.99-fake", info.Series.Label("driver_version"));
        Assert.Equal("13.999.99-fake", info.Series.Label("nvml_version"));

        for (var i = 0; i < 8; i++)
        {
            var g = $"gpu={i}";
            Assert.Equal((50 + i) / 100.0, f.Value("gpu_utilization_ratio", g), 6);
            Assert.Equal((20 + i) / 100.0, f.Value("gpu_memory_utilization_ratio", g), 6);
            Assert.Equal((10 + i) * GiB, f.Value("gpu_memory_used_bytes", g));
            Assert.Equal(80 * GiB, f.Value("gpu_memory_total_bytes", g));
            Assert.Equal((80 - 10 - i - 0.5) * GiB, f.Value("gpu_memory_free_bytes", g));
            Assert.Equal(300 + i, f.Value("gpu_power_watts", g));
            Assert.Equal(1000 * (i + 1), f.Value("gpu_energy_joules_total", g));
            Assert.Equal(40 + i, f.Value("gpu_temperature_celsius", g));
            Assert.Equal(50 + i, f.Value("gpu_memory_temperature_celsius", g));
            Assert.Equal(1980e6, f.Value("gpu_sm_clock_hertz", g));
            Assert.Equal(2619e6, f.Value("gpu_memory_clock_hertz", g));
            Assert.Equal(8, f.Find("gpu_clock_event_active", g).Count);
            Assert.Equal(0, f.Value("gpu_xid_errors_total", g, "xid=79"));
            Assert.True(double.IsNaN(f.Value("gpu_last_xid_timestamp_seconds", g)));
        }

        const string G2 = "gpu=2";
        Assert.Equal(1, f.Value("gpu_clock_event_active", G2, "reason=gpu_idle"));
        Assert.Equal(1, f.Value("gpu_clock_event_active", G2, "reason=hw_thermal"));
        Assert.Equal(0, f.Value("gpu_clock_event_active", G2, "reason=sw_power_cap"));
        Assert.Equal(0, f.Value("gpu_clock_event_active", "gpu=3", "reason=gpu_idle"));
        Assert.Equal(1000 * 1024, f.Value("gpu_nvlink_transmit_bytes_total", G2));
        Assert.Equal(2000 * 1024, f.Value("gpu_nvlink_receive_bytes_total", G2));
        Assert.Equal(5000000, f.Value("gpu_pcie_transmit_bytes_total", G2));
        Assert.Equal(6000000, f.Value("gpu_pcie_receive_bytes_total", G2));
        Assert.Equal(7, f.Value("gpu_ecc_errors_total", G2, "type=corrected", "counter=volatile"));
        Assert.Equal(0, f.Value("gpu_ecc_errors_total", G2, "type=corrected", "counter=aggregate"));
        Assert.Equal(2, f.Value("gpu_ecc_errors_total", G2, "type=uncorrected", "counter=aggregate"));
        Assert.Equal(3, f.Value("gpu_remapped_rows_total", G2, "type=correctable"));
        Assert.Equal(1, f.Value("gpu_remapped_rows_total", G2, "type=uncorrectable"));
        Assert.Equal(1, f.Value("gpu_remapped_rows_pending", G2));
        Assert.Equal(0, f.Value("gpu_remapped_rows_failed", G2));
        Assert.Equal(4, f.Value("gpu_retired_pages_total", G2, "cause=single_bit"));
        Assert.Equal(5, f.Value("gpu_retired_pages_total", G2, "cause=double_bit"));
        Assert.Equal(1, f.Value("gpu_retired_pages_pending", G2));
        Assert.Equal(11, f.Value("gpu_nvlink_errors_total", G2, "type=crc_flit"));
        Assert.Equal(12, f.Value("gpu_nvlink_errors_total", G2, "type=crc_data"));
        Assert.Equal(13, f.Value("gpu_nvlink_errors_total", G2, "type=replay"));
        Assert.Equal(14, f.Value("gpu_nvlink_errors_total", G2, "type=recovery"));
        Assert.Equal(15, f.Value("gpu_pcie_replays_total", G2));
        Assert.Equal(2.5, f.Value("gpu_throttle_seconds_total", G2, "reason=sw_thermal"), 9);
        Assert.Equal(1.0, f.Value("gpu_throttle_seconds_total", G2, "reason=hw_thermal"), 9);
        Assert.Equal(0.5, f.Value("gpu_throttle_seconds_total", G2, "reason=hw_power_brake"), 9);
        Assert.Equal(4.0, f.Value("gpu_throttle_seconds_total", G2, "reason=sw_power_cap"), 9);
        Assert.Equal(0, f.Value("gpu_throttle_seconds_total", G2, "reason=sync_boost"));
        Assert.Equal(GiB, f.Value("gpu_process_memory_used_bytes", G2, "pid=4242"));
        Assert.Equal(2 * GiB, f.Value("gpu_process_memory_used_bytes", G2, "pid=4243"));
        Assert.Empty(f.Find("gpu_process_memory_used_bytes", "gpu=3"));
        Assert.Empty(f.Find("efa_agent_unavailable"));
    }

    [Fact]
    public void A_field_one_gpu_does_not_support_is_absent_there_only()
    {
        using var fake = new FakeNvml(build, "1 fielderr 82 3\n");
        using var gpu = Create(fake, new ListLogger());

        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());
        var f = gpu.Frame;

        Assert.True(double.IsNaN(f.Value("gpu_memory_temperature_celsius", "gpu=1")));
        Assert.Equal(50, f.Value("gpu_memory_temperature_celsius", "gpu=0"));
        Assert.Equal(52, f.Value("gpu_memory_temperature_celsius", "gpu=2"));
        Assert.Equal(1, f.Value("gpu_up", "gpu=1"));
        Assert.Equal(301, f.Value("gpu_power_watts", "gpu=1"));
        Assert.Equal(0, f.Value("gpu_pcie_transmit_bytes_total", "gpu=1"));
        Assert.Equal(1, f.Value("efa_agent_unavailable", "collector=gpu", "device=1", "counter=gpu_memory_temperature_celsius", "reason=not_supported"));
    }

    [Fact]
    public void A_call_one_gpu_does_not_support_leaves_that_series_absent_and_the_rest_present()
    {
        using var fake = new FakeNvml(build, "2 error nvmlDeviceGetPowerUsage 3\n");
        using var gpu = Create(fake, new ListLogger());

        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());
        var f = gpu.Frame;

        Assert.True(double.IsNaN(f.Value("gpu_power_watts", "gpu=2")));
        Assert.Equal(303, f.Value("gpu_power_watts", "gpu=3"));
        Assert.Equal(3000, f.Value("gpu_energy_joules_total", "gpu=2"));
        Assert.Equal(42, f.Value("gpu_temperature_celsius", "gpu=2"));
        Assert.Equal(1, f.Value("gpu_up", "gpu=2"));
    }

    [Fact]
    public void Xid_events_are_counted_per_gpu_and_code_with_the_time_of_the_last()
    {
        using var fake = new FakeNvml(build);
        using var gpu = Create(fake, new ListLogger());
        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());
        Assert.NotNull(gpu.XidWatcher);

        var before = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0;
        fake.Scenario("""
            xid 1 2 79
            xid 2 2 79
            xid 3 5 13
            xid 4 2 92
            """);
        Assert.True(WaitUntil(() =>
        {
            gpu.Sample(Stopwatch.GetTimestamp());
            return gpu.Frame.Find("gpu_xid_errors_total", "gpu=2", "xid=92").Count == 1;
        }, TimeSpan.FromSeconds(5)));

        var f = gpu.Frame;
        Assert.Equal(2, f.Value("gpu_xid_errors_total", "gpu=2", "xid=79"));
        Assert.Equal(1, f.Value("gpu_xid_errors_total", "gpu=2", "xid=92", "action=unknown"));
        Assert.Equal(2, f.Value("gpu_xid_errors_total", "gpu=2", "xid=79", "action=reboot_node"));
        Assert.Equal(1, f.Value("gpu_xid_errors_total", "gpu=5", "xid=13", "action=restart_application"));
        Assert.Equal(0, f.Value("gpu_xid_errors_total", "gpu=2", "xid=13"));
        Assert.Equal(1, f.Value("gpu_xid_errors_total", "gpu=5", "xid=13"));
        Assert.Equal(0, f.Value("gpu_xid_errors_total", "gpu=0", "xid=79"));
        Assert.Empty(f.Find("gpu_xid_errors_total", "gpu=5", "xid=92"));
        var last = f.Value("gpu_last_xid_timestamp_seconds", "gpu=2");
        Assert.InRange(last, before - 1, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() / 1000.0 + 1);
        Assert.True(double.IsNaN(f.Value("gpu_last_xid_timestamp_seconds", "gpu=0")));

        // Counts survive the layout change of the new code and the next discovery.
        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());
        Assert.Equal(2, gpu.Frame.Value("gpu_xid_errors_total", "gpu=2", "xid=79"));
    }

    [Fact]
    public void The_fast_lane_reads_all_fields_of_a_gpu_in_one_call_and_never_the_costly_calls()
    {
        using var fake = new FakeNvml(build);
        using var gpu = Create(fake, new ListLogger());
        gpu.Discover();
        var discovery = fake.Calls("nvmlDeviceGetFieldValues");
        var energy = fake.Calls("nvmlDeviceGetTotalEnergyConsumption");

        for (var i = 0; i < 10; i++)
        {
            gpu.Sample(Stopwatch.GetTimestamp());
        }

        Assert.Equal(discovery + 80UL, fake.Calls("nvmlDeviceGetFieldValues"));
        Assert.Equal(80UL, fake.Calls("nvmlDeviceGetPowerUsage"));
        Assert.Equal(80UL, fake.Calls("nvmlDeviceGetUtilizationRates"));

        // Blocks ~20 ms; and on an H200 the energy total costs 4 ms of CPU a call: discovery reads it.
        Assert.Equal(0UL, fake.Calls("nvmlDeviceGetPcieThroughput"));
        Assert.Equal(8UL, energy);
        Assert.Equal(energy, fake.Calls("nvmlDeviceGetTotalEnergyConsumption"));
    }

    [Fact]
    public void Counters_never_go_backwards_across_a_reset_or_a_32_bit_wrap()
    {
        using var fake = new FakeNvml(build, """
            0 set energy_mj 5000000
            0 fieldtype 197 1
            0 field 197 4294967000
            0 field 198 1000000
            """);
        using var gpu = Create(fake, new ListLogger());
        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());
        Assert.Equal(5000, gpu.Frame.Value("gpu_energy_joules_total", "gpu=0"));
        Assert.Equal(4294967000.0, gpu.Frame.Value("gpu_pcie_transmit_bytes_total", "gpu=0"));

        // A driver reload resets energy and the 64-bit PCIe counter; the 32-bit one wraps.
        fake.Scenario("""
            0 set energy_mj 1000
            0 fieldtype 197 1
            0 field 197 100
            0 field 198 10
            """);
        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());
        var f = gpu.Frame;
        Assert.Equal(5001, f.Value("gpu_energy_joules_total", "gpu=0"));
        Assert.Equal(4294967000.0 + 396, f.Value("gpu_pcie_transmit_bytes_total", "gpu=0"));
        Assert.Equal(1000010, f.Value("gpu_pcie_receive_bytes_total", "gpu=0"));
    }

    [Fact]
    public void Running_processes_are_read_into_a_buffer_that_grows_when_nvml_says_it_is_too_small()
    {
        var pids = string.Join(' ', Enumerable.Range(1000, 40).Select(p => $"{p}:{p * 1024L}"));
        using var fake = new FakeNvml(build, $"5 procs {pids} 77:0xFFFFFFFFFFFFFFFF\n");
        using var gpu = Create(fake, new ListLogger());

        gpu.Discover();
        var f = gpu.Frame;
        var processes = f.Find("gpu_process_memory_used_bytes", "gpu=5");
        Assert.Equal(41, processes.Count);
        Assert.Equal(1039.0 * 1024, f.Value("gpu_process_memory_used_bytes", "gpu=5", "pid=1039"));
        Assert.True(double.IsNaN(f.Value("gpu_process_memory_used_bytes", "gpu=5", "pid=77")), "NVML's 'not available' must not be exported as a number");
        Assert.Equal(9UL, fake.Calls("nvmlDeviceGetComputeRunningProcesses_v3"));

        fake.Scenario("5 procs 1000:4096\n");
        gpu.Discover();
        Assert.Equal(4096, Assert.Single(gpu.Frame.Find("gpu_process_memory_used_bytes", "gpu=5")).Value);
    }

    [Fact]
    public void An_old_driver_works_through_the_fallback_entry_points_and_lacks_only_what_it_lacks()
    {
        using var fake = new FakeNvml(build, "1 set reasons 0x4\n", legacy: true);
        using var gpu = Create(fake, new ListLogger());

        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());
        var f = gpu.Frame;

        Assert.Equal(1, f.Value("gpu_nvml_up"));
        Assert.Equal(8, f.Find("gpu_up").Count(s => s.Value == 1));
        Assert.All(f.Find("gpu_energy_joules_total"), s => Assert.True(double.IsNaN(s.Value)));
        Assert.Equal(0.51, f.Value("gpu_utilization_ratio", "gpu=1"), 6);
        Assert.Equal(11 * GiB, f.Value("gpu_memory_used_bytes", "gpu=1"));
        Assert.Equal(69 * GiB, f.Value("gpu_memory_free_bytes", "gpu=1"));
        Assert.Equal(1, f.Value("gpu_clock_event_active", "gpu=1", "reason=sw_power_cap"));
        Assert.Equal("00000000:20:00.0", Assert.Single(f.Find("gpu_info", "gpu=1")).Series.Label("pci_bus_id"));
        Assert.Equal(1, f.Value("efa_agent_unavailable", "device=1", "counter=gpu_energy_joules_total", "reason=function_not_found"));
        Assert.Equal(0UL, fake.Calls("nvmlInit_v2"));
        Assert.Equal(1UL, fake.Calls("nvmlInit"));
    }

    [Fact]
    public void Utilisation_is_the_drivers_utilisation_rates_of_each_tick()
    {
        using var fake = new FakeNvml(build, "0 set util 90\n0 set memutil 33\n");
        using var gpu = Create(fake, new ListLogger());
        gpu.Discover();
        gpu.Sample(Stopwatch.GetTimestamp());

        Assert.Equal(0.90, gpu.Frame.Value("gpu_utilization_ratio", "gpu=0"), 6);
        Assert.Equal(0.33, gpu.Frame.Value("gpu_memory_utilization_ratio", "gpu=0"), 6);

        fake.Scenario("0 set util 100\n0 set memutil 5\n");
        gpu.Sample(Stopwatch.GetTimestamp());
        Assert.Equal(1.0, gpu.Frame.Value("gpu_utilization_ratio", "gpu=0"), 6);
        Assert.Equal(0.05, gpu.Frame.Value("gpu_memory_utilization_ratio", "gpu=0"), 6);
    }

    [Fact]
    public void Numa_node_and_pci_root_come_from_sysfs()
    {
        using var fake = new FakeNvml(build);
        using var sysfs = new TempDir();
        var device = sysfs.Combine("devices", "pci0000:0f", "0000:0f:01.0", "0000:10:00.0");
        Directory.CreateDirectory(device);
        File.WriteAllText(Path.Combine(device, "numa_node"), "1\n");
        Directory.CreateDirectory(sysfs.Combine("bus", "pci", "devices"));
        File.CreateSymbolicLink(sysfs.Combine("bus", "pci", "devices", "0000:10:00.0"), "../../../devices/pci0000:0f/0000:0f:01.0/0000:10:00.0");
        using var gpu = Over(Options(fake.LibraryPath) with { SysfsRoot = sysfs.Path }, new ListLogger());

        gpu.Discover();

        var g0 = Assert.Single(gpu.Frame.Find("gpu_info", "gpu=0")).Series;
        Assert.Equal("1", g0.Label("numa_node"));
        Assert.Equal("0000:0f", g0.Label("pci_root"));
        var g1 = Assert.Single(gpu.Frame.Find("gpu_info", "gpu=1")).Series;
        Assert.Equal("", g1.Label("numa_node"));
        Assert.Equal("0000:20", g1.Label("pci_root"));
    }

    [Fact]
    public void Sample_allocates_nothing_in_steady_state_on_either_thread()
    {
        using var fake = new FakeNvml(build);
        using var gpu = Create(fake, new ListLogger());
        gpu.Discover();
        for (var i = 0; i < 50; i++)
        {
            gpu.Sample(Stopwatch.GetTimestamp());
        }

        var worker = gpu.WorkerAllocatedBytes;
        var caller = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 200; i++)
        {
            gpu.Sample(Stopwatch.GetTimestamp());
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - caller);
        Assert.Equal(0, gpu.WorkerAllocatedBytes - worker);
    }

    /// <summary>
    /// Settings for a test. Unless <paramref name="tickWait"/> says otherwise, a tick waits for NVML up
    /// to the whole call timeout, so that each Sample() publishes the values it read.
    /// </summary>
    internal static GpuCollectorOptions Options(string path, TimeSpan? timeout = null, TimeSpan? tickWait = null) =>
        new(path, TimeSpan.FromMilliseconds(100), timeout ?? TimeSpan.FromSeconds(10), "/nonexistent-sysfs")
        {
            TickWait = tickWait ?? timeout ?? TimeSpan.FromSeconds(10),
            KernelLogPath = "",
        };

    internal static GpuCollector Create(FakeNvml fake, ListLogger log, TimeSpan? timeout = null, TimeSpan? tickWait = null) =>
        Over(Options(fake.LibraryPath, timeout, tickWait), log);

    /// <summary>The collector over the production binding loading <see cref="GpuCollectorOptions.LibraryPath"/>.</summary>
    internal static GpuCollector Over(GpuCollectorOptions options, ListLogger log) =>
        new(options, () => NvmlLibrary.Load(options.LibraryPath), log);

    internal static bool WaitUntil(Func<bool> condition, TimeSpan limit)
    {
        var start = Stopwatch.GetTimestamp();
        while (Stopwatch.GetElapsedTime(start) < limit)
        {
            if (condition())
            {
                return true;
            }

            Thread.Sleep(50);
        }

        return condition();
    }
}

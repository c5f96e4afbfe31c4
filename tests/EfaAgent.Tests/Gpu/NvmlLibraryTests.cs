using EfaAgent.Collectors.Gpu;
using EfaAgent.Collectors.Interop;
using EfaAgent.Collectors.Nvml;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Gpu;

/// <summary>The production binding against the fake libnvidia-ml.so.1, call by call.</summary>
public sealed class NvmlLibraryTests(FakeNvmlBuild build) : IClassFixture<FakeNvmlBuild>
{
    [Fact]
    public void Loads_a_library_and_prefers_the_versioned_entry_points()
    {
        using var fake = new FakeNvml(build);
        using var nvml = NvmlLibrary.Load(fake.LibraryPath);

        Assert.Contains("nvmlInit_v2", nvml.ResolvedFunctions);
        Assert.Contains("nvmlDeviceGetPciInfo_v3", nvml.ResolvedFunctions);
        Assert.Contains("nvmlDeviceGetComputeRunningProcesses_v3", nvml.ResolvedFunctions);
        Assert.Contains("nvmlEventSetWait_v2", nvml.ResolvedFunctions);
        Assert.Contains("nvmlDeviceGetCurrentClocksEventReasons", nvml.ResolvedFunctions);
        Assert.DoesNotContain("nvmlDeviceGetPcieThroughput", nvml.ResolvedFunctions);
        Assert.Empty(nvml.MissingFunctions);

        Assert.Equal(NvmlReturn.Success, nvml.Init());
        Assert.Equal(1UL, fake.Calls("nvmlInit_v2"));
        Assert.Equal(NvmlReturn.Success, nvml.Shutdown());
    }

    [Fact]
    public void Falls_back_to_the_older_entry_points_of_an_old_driver()
    {
        using var fake = new FakeNvml(build, legacy: true);
        using var nvml = NvmlLibrary.Load(fake.LibraryPath);

        Assert.Contains("nvmlInit", nvml.ResolvedFunctions);
        Assert.Contains("nvmlDeviceGetCount", nvml.ResolvedFunctions);
        Assert.Contains("nvmlDeviceGetHandleByIndex", nvml.ResolvedFunctions);
        Assert.Contains("nvmlDeviceGetPciInfo_v2", nvml.ResolvedFunctions);
        Assert.Contains("nvmlDeviceGetComputeRunningProcesses_v2", nvml.ResolvedFunctions);
        Assert.Contains("nvmlEventSetWait", nvml.ResolvedFunctions);
        Assert.Contains("nvmlDeviceGetCurrentClocksThrottleReasons", nvml.ResolvedFunctions);
        Assert.Contains("nvmlDeviceGetTotalEnergyConsumption", nvml.MissingFunctions);

        Assert.Equal(NvmlReturn.Success, nvml.Init());
        Assert.Equal(NvmlReturn.Success, nvml.GetDeviceCount(out var count));
        Assert.Equal(8, count);
        Assert.Equal(NvmlReturn.Success, nvml.GetDeviceByIndex(2, out var device));
        Assert.Equal(NvmlReturn.FunctionNotFound, device!.GetTotalEnergyConsumption(out _));

        // No nvmlDeviceGetMemoryInfo_v2 here: the v1 struct, read through the unversioned name.
        Assert.Equal(NvmlReturn.Success, device.GetMemoryInfo(out var memory));
        Assert.Equal(80UL << 30, memory.Total);
        Assert.Equal(12UL << 30, memory.Used);
        Assert.Equal(1UL, fake.Calls("nvmlDeviceGetMemoryInfo"));
        Assert.Equal(NvmlReturn.Success, device.GetPciInfo(out var pci));
        Assert.Equal("00000000:30:00.0", pci.BusId);
        Assert.Equal(NvmlReturn.Success, device.GetClocksEventReasons(out _));
        nvml.Shutdown();
    }

    [Fact]
    public void A_missing_library_is_a_DllNotFoundException_with_the_loader_message()
    {
        using var dir = new TempDir();
        var path = dir.Combine("nowhere", "libnvidia-ml.so.1");

        var e = Assert.Throws<DllNotFoundException>(() => NvmlLibrary.Load(path));
        Assert.Contains("libnvidia-ml.so.1", e.Message, StringComparison.Ordinal);
        Assert.False(NvmlLibrary.TryLoad(path, out var lib, out var error));
        Assert.Null(lib);
        Assert.False(string.IsNullOrEmpty(error));
    }

    [Fact]
    public void A_library_without_nvmlInit_is_not_NVML()
    {
        Assert.Throws<EntryPointNotFoundException>(() => NvmlLibrary.Load("libm.so.6"));
    }

    [Fact]
    public void Calls_before_init_are_uninitialised_and_init_is_reference_counted()
    {
        using var fake = new FakeNvml(build);
        using var nvml = NvmlLibrary.Load(fake.LibraryPath);

        Assert.Equal(NvmlReturn.Uninitialized, nvml.GetDeviceCount(out _));
        Assert.Equal(NvmlReturn.Success, nvml.Init());
        Assert.Equal(NvmlReturn.Success, nvml.Init());
        Assert.Equal(NvmlReturn.Success, nvml.Shutdown());
        Assert.Equal(NvmlReturn.Success, nvml.GetDeviceCount(out _));
        Assert.Equal(NvmlReturn.Success, nvml.Shutdown());
        Assert.Equal(NvmlReturn.Uninitialized, nvml.GetDeviceCount(out _));
    }

    [Fact]
    public void Error_strings_come_from_nvmlErrorString()
    {
        using var fake = new FakeNvml(build, "init 9\n");
        using var nvml = NvmlLibrary.Load(fake.LibraryPath);

        Assert.Equal(NvmlReturn.DriverNotLoaded, nvml.Init());
        Assert.Equal("Driver Not Loaded", nvml.ErrorString(NvmlReturn.DriverNotLoaded));
        Assert.Equal("GPU is lost", nvml.ErrorString(NvmlReturn.GpuIsLost));
        Assert.Same(nvml.ErrorString(NvmlReturn.GpuIsLost), nvml.ErrorString(NvmlReturn.GpuIsLost));
    }

    [Fact]
    public void Reads_identity_and_the_fast_lane_values_of_a_device()
    {
        using var fake = new FakeNvml(build, """
            3 set name Fake A100-SXM4-40GB
            3 set power_mw 412345
            3 set reasons 0x24
            """);
        using var nvml = NvmlLibrary.Load(fake.LibraryPath);
        Assert.Equal(NvmlReturn.Success, nvml.Init());
        Assert.Equal(NvmlReturn.Success, nvml.GetDriverVersion(out var driver));
        Assert.Equal("999.99.99-fake", driver);
        Assert.Equal(NvmlReturn.Success, nvml.GetNvmlVersion(out var version));
        Assert.Equal("13.999.99-fake", version);
        Assert.Equal(NvmlReturn.Success, nvml.GetDeviceByIndex(3, out var d));
        Assert.Equal(NvmlReturn.Success, nvml.GetDeviceByIndex(3, out var again));
        Assert.Same(d, again);

        Assert.Equal(NvmlReturn.Success, d!.GetUuid(out var uuid));
        Assert.Equal("GPU-fa6e0000-0000-4000-8000-000000000003", uuid);
        Assert.Equal(NvmlReturn.Success, d.GetName(out var name));
        Assert.Equal("Fake A100-SXM4-40GB", name);
        Assert.Equal(NvmlReturn.Success, d.GetPciInfo(out var pci));
        Assert.Equal(new NvmlPciInfo("00000000:40:00.0", 0, 0x40, 0, 0x233010DE, 0x16C110DE), pci);
        Assert.Equal(NvmlReturn.Success, d.GetMemoryInfo(out var memory));
        Assert.Equal(80UL << 30, memory.Total);
        Assert.Equal(13UL << 30, memory.Used);
        Assert.Equal(NvmlReturn.Success, d.GetPowerUsage(out var mw));
        Assert.Equal(412345u, mw);
        Assert.Equal(NvmlReturn.Success, d.GetTotalEnergyConsumption(out var mj));
        Assert.Equal(4_000_000UL, mj);
        Assert.Equal(NvmlReturn.Success, d.GetTemperature(NvmlTemperatureSensor.Gpu, out var celsius));
        Assert.Equal(43u, celsius);
        Assert.Equal(NvmlReturn.Success, d.GetClockInfo(NvmlClockType.Memory, out var memClock));
        Assert.Equal(2619u, memClock);
        Assert.Equal(NvmlReturn.Success, d.GetClocksEventReasons(out var reasons));
        Assert.Equal(0x24UL, reasons);
        Assert.Equal(NvmlReturn.Success, d.GetUtilizationRates(out var u));
        Assert.Equal(new NvmlUtilization(53, 23), u);
        nvml.Shutdown();
    }

    [Fact]
    public void Field_values_come_back_in_one_call_each_with_its_own_result()
    {
        using var fake = new FakeNvml(build, """
            1 field 138 1000
            1 field 197 123456789012
            1 fielderr 82 3
            1 fieldtype 198 1
            1 field 198 4000000000
            """);
        using var nvml = NvmlLibrary.Load(fake.LibraryPath);
        nvml.Init();
        nvml.GetDeviceByIndex(1, out var d);
        var values = new NvmlFieldValue[]
        {
            new(82),
            new(138, NvmlFieldValue.AllLinks),
            new(138, 0),
            new(197),
            new(198),
        };

        Assert.Equal(NvmlReturn.Success, d!.GetFieldValues(values));

        Assert.Equal(1UL, fake.Calls("nvmlDeviceGetFieldValues"));
        Assert.Equal(NvmlReturn.NotSupported, values[0].Result);
        Assert.Equal(NvmlReturn.Success, values[1].Result);
        Assert.Equal(1000UL, values[1].ToUInt64());
        Assert.Equal(1000UL / 18, values[2].ToUInt64());
        Assert.Equal(123456789012UL, values[3].ToUInt64());
        Assert.Equal(NvmlValueType.UnsignedInt, values[4].ValueType);
        Assert.Equal(4000000000.0, values[4].ToDouble());
        nvml.Shutdown();
    }

    [Fact]
    public void A_process_list_longer_than_the_buffer_says_insufficient_size_and_the_count()
    {
        var pids = string.Join(' ', Enumerable.Range(1000, 40).Select(p => $"{p}:{p * 1024}"));
        using var fake = new FakeNvml(build, $"5 procs {pids}\n");
        using var nvml = NvmlLibrary.Load(fake.LibraryPath);
        nvml.Init();
        nvml.GetDeviceByIndex(5, out var d);

        Assert.Equal(NvmlReturn.InsufficientSize, d!.GetComputeRunningProcesses(new NvmlProcessInfo[16], out var needed));
        Assert.Equal(40, needed);
        var buffer = new NvmlProcessInfo[needed];
        Assert.Equal(NvmlReturn.Success, d.GetComputeRunningProcesses(buffer, out var n));
        Assert.Equal(40, n);
        Assert.Equal(new NvmlProcessInfo(1039, 1039 * 1024), buffer[39]);
        nvml.Shutdown();
    }

    [Fact]
    public void A_lost_gpu_answers_gpu_is_lost_and_the_others_answer()
    {
        using var fake = new FakeNvml(build, "6 lost 15\n");
        using var nvml = NvmlLibrary.Load(fake.LibraryPath);
        nvml.Init();
        nvml.GetDeviceByIndex(6, out var lost);
        nvml.GetDeviceByIndex(7, out var fine);

        Assert.Equal(NvmlReturn.GpuIsLost, lost!.GetPowerUsage(out _));
        Assert.Equal(NvmlReturn.Success, fine!.GetPowerUsage(out _));
        nvml.Shutdown();
    }

    [Fact]
    public void Xid_events_arrive_through_the_event_set_with_their_device()
    {
        using var fake = new FakeNvml(build);
        using var nvml = NvmlLibrary.Load(fake.LibraryPath);
        nvml.Init();
        nvml.GetDeviceByIndex(4, out var d);
        Assert.Equal(NvmlReturn.Success, nvml.CreateEventSet(out var set));
        using (set)
        {
            Assert.Equal(NvmlReturn.Success, set!.Register(d!, NvmlEventType.XidCriticalError));
            Assert.Equal(NvmlReturn.Timeout, set.Wait(20, out _));

            fake.Scenario("xid 1 4 79\n");
            Assert.Equal(NvmlReturn.Success, set.Wait(1000, out var e));
            Assert.Same(d, e.Device);
            Assert.Equal(NvmlEventType.XidCriticalError, e.EventType);
            Assert.Equal(79UL, e.EventData);
        }

        nvml.Shutdown();
    }
}

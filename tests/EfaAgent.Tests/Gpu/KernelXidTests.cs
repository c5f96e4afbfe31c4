using System.Diagnostics;
using System.Text;
using EfaAgent.Collectors.Gpu;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Gpu;

/// <summary>
/// Xids from the kernel log (a regular file or a FIFO standing in for /dev/kmsg) beside NVML's events:
/// read from the end, mapped by PCI address to the GPU, each event counted once.
/// </summary>
public sealed class KernelXidTests(FakeNvmlBuild build) : IClassFixture<FakeNvmlBuild>
{
    [Theory]
    [InlineData("4,2301,5123456789,-;NVRM: Xid (PCI:0000:30:00): 79, pid=0, name=, GPU has fallen off the bus.", "0000:30:00", 79UL)]
    [InlineData("[  812.123456] NVRM: Xid (PCI:0000:3b:00): 13, Graphics SM Warp Exception on (GPC 0, TPC 1)", "0000:3b:00", 13UL)]
    [InlineData("NVRM: Xid (PCI:00000000:53:00.0): 119, pid=1234, Timeout waiting for RPC from GSP!", "0000:53:00", 119UL)]
    [InlineData("NVRM: Xid (PCI:0000:10:00): 48", "0000:10:00", 48UL)]
    public void A_driver_Xid_line_gives_the_gpus_address_and_the_code(string line, string key, ulong xid)
    {
        var parsed = KernelXidReader.Parse(Encoding.UTF8.GetBytes(line), out var garbage);

        Assert.False(garbage);
        Assert.NotNull(parsed);
        Assert.Equal(key, parsed.Value.DeviceKey);
        Assert.Equal(xid, parsed.Value.Xid);
        Assert.StartsWith("Xid (PCI:", parsed.Value.Message, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("NVRM: Xid (PCI:zz:qq): 79, junk", true)]
    [InlineData("NVRM: Xid (PCI:0000:30:00): , nothing", true)]
    [InlineData("NVRM: Xid (PCI:0000:30:00", true)]
    [InlineData("NVRM: GPU at PCI:0000:30:00: GPU-1234", false)]
    [InlineData("6,100,200,-;eth0: link up", false)]
    public void Other_lines_are_not_Xids_and_broken_Xid_lines_are_garbage(string line, bool isGarbage)
    {
        Assert.Null(KernelXidReader.Parse(Encoding.UTF8.GetBytes(line), out var garbage));
        Assert.Equal(isGarbage, garbage);
    }

    [Fact]
    public void Two_reports_of_one_event_count_once_and_two_events_count_twice()
    {
        var dedup = new XidDedup();

        Assert.True(dedup.IsNew(79, 100.0, XidSource.Nvml));
        Assert.False(dedup.IsNew(79, 100.4, XidSource.KernelLog));
        Assert.True(dedup.IsNew(79, 101.0, XidSource.KernelLog));
        Assert.True(dedup.IsNew(79, 101.2, XidSource.KernelLog));
        Assert.False(dedup.IsNew(79, 101.5, XidSource.Nvml));
        Assert.False(dedup.IsNew(79, 101.6, XidSource.Nvml));
        Assert.True(dedup.IsNew(79, 101.7, XidSource.Nvml));
        Assert.True(dedup.IsNew(13, 200.0, XidSource.KernelLog));
        Assert.True(dedup.IsNew(13, 200.0 + XidDedup.Window + 1, XidSource.Nvml));
    }

    [Fact]
    public void Kernel_log_Xids_count_on_their_gpu_once_with_NVMLs_report_and_old_lines_unknown_gpus_and_garbage_do_not()
    {
        using var dir = new TempDir();
        var kmsg = dir.Combine("kmsg");
        File.WriteAllText(kmsg, "NVRM: Xid (PCI:0000:30:00): 79, an earlier boot: not counted\n");
        using var fake = new FakeNvml(build);
        var log = new ListLogger();
        using var gpu = GpuCollectorTests.Over(GpuCollectorTests.Options(fake.LibraryPath) with { KernelLogPath = kmsg }, log);
        gpu.Discover();

        fake.Scenario("xid 1 2 79\n");
        File.AppendAllText(kmsg, """
            4,2301,5123456789,-;NVRM: Xid (PCI:0000:30:00): 79, pid=0, name=, GPU has fallen off the bus.
             SUBSYSTEM=pci
            4,2302,5123456790,-;NVRM: Xid (PCI:0000:40:00): 13, Graphics SM Warp Exception
            4,2303,5123456791,-;NVRM: Xid (PCI:0000:99:00): 48, DBE on a GPU NVML does not list
            4,2304,5123456792,-;NVRM: Xid (PCI:0000:30:00): broken
            6,2305,5123456793,-;eth0: link up

            """);

        Assert.True(GpuCollectorTests.WaitUntil(() =>
        {
            gpu.Sample(Stopwatch.GetTimestamp());
            return log.Count("Xid 79 (reboot_node; 1 so far") == 1 && log.Count("counted once") == 1 && log.Count("Xid 13 (") == 1;
        }, TimeSpan.FromSeconds(10)));
        gpu.Sample(Stopwatch.GetTimestamp());
        var f = gpu.Frame;

        Assert.Equal(1, f.Value("gpu_xid_errors_total", "gpu=2", "xid=79", "action=reboot_node"));
        Assert.Equal(1, f.Value("gpu_xid_errors_total", "gpu=3", "xid=13", "action=restart_application"));
        Assert.Equal(0, f.Value("gpu_xid_errors_total", "gpu=0", "xid=79"));
        Assert.Equal(1, f.Value("gpu_xid_unattributed_total"));
        Assert.Equal(1, log.Count("GPU has fallen off the bus"));
        Assert.Equal(1, log.Count("PCI device 0000:99:00, which NVML does not list"));
        Assert.Equal(1, log.Count("has no PCI address or code"));
    }

    [Fact]
    public void A_FIFO_stands_in_for_dev_kmsg_and_an_Xid_the_NVML_event_stream_never_brings_is_counted()
    {
        using var dir = new TempDir();
        var fifo = dir.Combine("kmsg");
        using (var mkfifo = Process.Start("mkfifo", fifo))
        {
            mkfifo.WaitForExit();
            Assert.Equal(0, mkfifo.ExitCode);
        }

        using var fake = new FakeNvml(build);
        var log = new ListLogger();
        using var gpu = GpuCollectorTests.Over(GpuCollectorTests.Options(fake.LibraryPath) with { KernelLogPath = fifo }, log);
        gpu.Discover();
        using (var writer = new FileStream(fifo, FileMode.Open, FileAccess.Write))
        {
            writer.Write("4,77,1000,-;NVRM: Xid (PCI:0000:80:00): 119, pid=1, Timeout waiting for RPC from GSP!\n"u8);
        }

        Assert.True(GpuCollectorTests.WaitUntil(() =>
        {
            gpu.Sample(Stopwatch.GetTimestamp());
            return gpu.Frame.Value("gpu_xid_errors_total", "gpu=7", "xid=119") == 1;
        }, TimeSpan.FromSeconds(10)));
        Assert.Equal("reboot_node", Assert.Single(gpu.Frame.Find("gpu_xid_errors_total", "gpu=7", "xid=119")).Series.Label("action"));
    }
}

using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Doctor;

/// <summary>
/// GPU and EFA-software checks on broken variants of the healthy p4d fixture: GPUs scripted in the
/// fake NVML (lost, memory rows pending or failed, missing), NVML absent, fi_info failing or hanging.
/// </summary>
public sealed class DoctorNodeTests(FakeNvmlBuild build) : IClassFixture<FakeNvmlBuild>
{
    [Fact]
    public async Task A_lost_GPU_and_a_pending_row_remap_fail_the_GPU_health_check()
    {
        using var nvml = DoctorRun.Gpus(build, "p4d-postsplit", "3 lost 15\n");
        var lost = (await RunAsync(nvml.LibraryPath))["gpu.health"];
        Assert.Equal("fail", lost.Status);
        Assert.Contains("GPU 3 (GPU_IS_LOST)", lost.Detail, StringComparison.Ordinal);

        nvml.Scenario(File.ReadAllText(Repo.Fixture("p4d-postsplit", "nvml.scenario")) + "2 field 144 1\n6 set ecc_uv 3\n");
        var pending = (await RunAsync(nvml.LibraryPath))["gpu.health"];
        Assert.Equal("fail", pending.Status);
        Assert.Contains("GPU 6: uncorrected ECC errors", pending.Detail, StringComparison.Ordinal);
        Assert.Contains("GPU 2: a memory row remap waits for a GPU reset", pending.Detail, StringComparison.Ordinal);
        Assert.Contains("nvidia-smi -r", pending.Remedy, StringComparison.Ordinal);

        nvml.Scenario(File.ReadAllText(Repo.Fixture("p4d-postsplit", "nvml.scenario")) + "1 field 145 1\n");
        var failed = (await RunAsync(nvml.LibraryPath))["gpu.health"];
        Assert.Contains("GPU 1: row remapping failed", failed.Detail, StringComparison.Ordinal);
        Assert.Contains("stop and start the instance", failed.Remedy, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Seven_GPUs_on_a_p4d_is_a_missing_GPU()
    {
        using var nvml = DoctorRun.Gpus(build, "p4d-postsplit", "count 7\n");
        var count = (await RunAsync(nvml.LibraryPath))["gpu.count"];
        Assert.Equal("fail", count.Status);
        Assert.StartsWith("7 of 8 GPUs of a p4d.24xlarge", count.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task No_NVML_on_a_GPU_instance_type_fails_and_on_a_Trainium_type_is_skipped()
    {
        var checks = await RunAsync("/nonexistent/libnvidia-ml.so.1");
        Assert.Equal("fail", checks["gpu"].Status);
        Assert.Contains("cannot load /nonexistent/libnvidia-ml.so.1", checks["gpu"].Detail, StringComparison.Ordinal);

        using var dir = new TempDir();
        var sys = dir.CopyFrom(Repo.Fixture("p4d-postsplit", "sys"), "sys");
        File.WriteAllText(Path.Combine(sys, "devices", "virtual", "dmi", "id", "product_name"), "trn1.32xlarge\n");
        var trn1 = await RunAsync("/nonexistent/libnvidia-ml.so.1", $"--path.sysfs={sys}");
        Assert.Equal("skip", trn1["gpu"].Status);
        Assert.Equal("fail", trn1["efa.devices"].Status); // 4 of the 8 a trn1.32xlarge has
    }

    [Fact]
    public async Task Init_failure_is_reported_with_NVMLs_own_words()
    {
        using var nvml = new FakeNvml(build, "init 18\n");
        var gpu = (await RunAsync(nvml.LibraryPath))["gpu"];
        Assert.Equal("fail", gpu.Status);
        Assert.Contains("nvmlInit failed", gpu.Detail, StringComparison.Ordinal);
        Assert.Contains("(18)", gpu.Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_hung_NVML_start_is_a_failed_check_not_a_hung_doctor()
    {
        using var nvml = new FakeNvml(build, "hang nvmlInit_v2 3000\n");
        var gpu = (await RunAsync(nvml.LibraryPath, "--nvml.timeout=100ms"))["gpu"];
        Assert.Equal("fail", gpu.Status);
        Assert.Equal("NVML does not answer: NVML did not answer within 500ms (a hung driver call)", gpu.Detail);
    }

    [Theory]
    [InlineData("echo 'fi_getinfo: -61 (No data available)' >&2; exit 61", "fail", "finds no EFA endpoint (exit 61: fi_getinfo: -61 (No data available))")]
    [InlineData("sleep 30", "warn", "fi_info -p efa -t FI_EP_RDM did not finish within 500ms")]
    public async Task A_failing_or_hanging_fi_info_is_reported_not_fatal(string script, string status, string detail)
    {
        using var dir = new TempDir();
        var root = dir.CopyFrom(Repo.Fixture("p4d-postsplit"), "root");
        var fiInfo = Path.Combine(root, "opt", "amazon", "efa", "bin", "fi_info");
        File.WriteAllText(fiInfo, $"#!/bin/sh\n{script}\n");
        if (OperatingSystem.IsLinux())
        {
            File.SetUnixFileMode(fiInfo, UnixFileMode.UserRead | UnixFileMode.UserExecute | UnixFileMode.UserWrite);
        }

        var checks = await RunAsync("/nonexistent/libnvidia-ml.so.1", $"--path.rootfs={root}", "--timeout=500ms");
        Assert.Equal(status, checks["efa.fi_info"].Status);
        Assert.Contains(detail, checks["efa.fi_info"].Detail, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Without_libfabric_or_the_NCCL_plugin_the_EFA_software_check_fails_and_says_how_to_install_it()
    {
        using var nvml = DoctorRun.Gpus(build, "p4d-postsplit");
        using var dir = new TempDir();
        var checks = await RunAsync(nvml.LibraryPath, $"--path.rootfs={dir.Path}");
        Assert.Equal("fail", checks["efa.libfabric"].Status);
        Assert.Equal("skip", checks["efa.fi_info"].Status);
        Assert.Equal("fail", checks["efa.ofi-nccl"].Status);
        Assert.Contains("falls back to TCP sockets", checks["efa.ofi-nccl"].Detail, StringComparison.Ordinal);
        Assert.Contains("efa_installer.sh", checks["efa.ofi-nccl"].Remedy, StringComparison.Ordinal);
    }

    private static async Task<IReadOnlyDictionary<string, (string Status, string Detail, string? Remedy)>> RunAsync(string nvml, params string[] extra)
    {
        var args = DoctorRun.Fixture("p4d-postsplit", nvml).ToList();
        foreach (var e in extra)
        {
            args.RemoveAll(a => a.StartsWith(e.Split('=')[0] + "=", StringComparison.Ordinal));
        }

        args.AddRange(extra);
        args.AddRange(["--json", $"--web.listen-address=127.0.0.1:{AgentProcess.FreePort()}"]);
        return (await DoctorRun.RunAsync([.. args])).Checks();
    }
}

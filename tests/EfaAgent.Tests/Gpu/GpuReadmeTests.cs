using EfaAgent.Collectors.Gpu;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Gpu;

/// <summary>The README's GPU table names every series the GPU collector exports, and nothing it does not.</summary>
public sealed class GpuReadmeTests
{
    [Fact]
    public void Every_GPU_metric_family_is_in_the_READMEs_GPU_table_and_the_table_names_no_other()
    {
        var readme = File.ReadAllText(Repo.PathTo("README.md"));
        var start = readme.IndexOf("### GPU metrics (NVML)", StringComparison.Ordinal);
        var end = readme.IndexOf("\n\n", readme.IndexOf("| metric |", start, StringComparison.Ordinal), StringComparison.Ordinal);
        var table = readme[start..end];
        var listed = System.Text.RegularExpressions.Regex.Matches(table, @"`(gpu_[a-z_]+)`").Select(m => m.Groups[1].Value).ToHashSet();

        var exported = GpuMetrics.PerGpu.Select(s => s.Family.Name)
            .Concat([GpuMetrics.NvmlUp.Name, GpuMetrics.NvmlStalled.Name, GpuMetrics.XidDropped.Name, GpuMetrics.XidUnattributed.Name,
                GpuMetrics.XidErrors.Name, GpuMetrics.ProcessMemory.Name, GpuMetrics.Info.Name])
            .ToHashSet();

        Assert.Empty(exported.Except(listed));
        Assert.Empty(listed.Except(exported));
    }
}

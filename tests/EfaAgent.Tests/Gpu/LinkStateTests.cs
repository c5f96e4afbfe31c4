using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Gpu;

/// <summary>PCIe link downtraining and NVLink links that are down, per GPU.</summary>
public sealed class LinkStateTests(FakeNvmlBuild build) : IClassFixture<FakeNvmlBuild>
{
    [Fact]
    public void PCIe_generation_and_width_now_and_allowed_and_NVLink_links_up_out_of_the_gpus_links()
    {
        using var fake = new FakeNvml(build, """
            2 set pcie_gen 3
            2 set pcie_width 8
            4 set nvlink_down 0x5
            5 set nvlinks 12
            6 fielderr 91 3
            7 error nvmlDeviceGetNvLinkState 3
            """);
        using var gpu = GpuCollectorTests.Create(fake, new ListLogger());
        gpu.Discover();
        var f = gpu.Frame;

        Assert.Equal(3, f.Value("gpu_pcie_link_generation", "gpu=2"));
        Assert.Equal(5, f.Value("gpu_pcie_link_max_generation", "gpu=2"));
        Assert.Equal(8, f.Value("gpu_pcie_link_width", "gpu=2"));
        Assert.Equal(16, f.Value("gpu_pcie_link_max_width", "gpu=2"));
        Assert.Equal(5, f.Value("gpu_pcie_link_generation", "gpu=0"));
        Assert.Equal(16, f.Value("gpu_pcie_link_width", "gpu=0"));

        Assert.Equal(18, f.Value("gpu_nvlink_links", "gpu=0"));
        Assert.Equal(18, f.Value("gpu_nvlink_links_active", "gpu=0"));
        Assert.Equal(18, f.Value("gpu_nvlink_links", "gpu=4"));
        Assert.Equal(16, f.Value("gpu_nvlink_links_active", "gpu=4"));
        Assert.Equal(12, f.Value("gpu_nvlink_links", "gpu=5"));
        Assert.Equal(12, f.Value("gpu_nvlink_links_active", "gpu=5"));

        // No NVLink on this GPU (no link count): both absent and named; no link state: only that one absent.
        Assert.True(double.IsNaN(f.Value("gpu_nvlink_links", "gpu=6")));
        Assert.True(double.IsNaN(f.Value("gpu_nvlink_links_active", "gpu=6")));
        Assert.Equal(1, f.Value("efa_agent_unavailable", "device=6", "counter=gpu_nvlink_links", "reason=not_supported"));
        Assert.Equal(18, f.Value("gpu_nvlink_links", "gpu=7"));
        Assert.True(double.IsNaN(f.Value("gpu_nvlink_links_active", "gpu=7")));
        Assert.Equal(1, f.Value("efa_agent_unavailable", "device=7", "counter=gpu_nvlink_links_active", "reason=not_supported"));
    }
}

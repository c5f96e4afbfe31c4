using EfaAgent.Collectors.Gpu;

namespace EfaAgent.Tests.Gpu;

public class GpuPciTests
{
    [Theory]
    [InlineData("00000000:53:00.0", "0000:53:00.0")]
    [InlineData("00000001:A0:1F.7", "0001:a0:1f.7")]
    [InlineData("0000:53:00.0", "0000:53:00.0")]
    [InlineData("simulated-00000000:53:00.0", null)]
    [InlineData("", null)]
    public void Nvml_bus_ids_become_sysfs_addresses(string busId, string? expected)
    {
        Assert.Equal(expected, GpuPci.SysfsAddress(busId));
    }

    [Theory]
    [InlineData("../../../devices/pci0000:44/0000:44:01.0/0000:45:00.0/0000:53:00.0", "0000:44")]
    [InlineData("/sys/devices/pci0001:A0/0001:a0:00.0", "0001:a0")]
    [InlineData("../../../devices/platform/foo", null)]
    public void The_pci_root_is_the_root_bus_of_the_device_path(string path, string? expected)
    {
        Assert.Equal(expected, GpuPci.RootFromDevicePath(path));
    }

    [Fact]
    public void Without_sysfs_the_root_is_the_gpu_s_own_domain_and_bus()
    {
        Assert.Equal(("", "0000:53"), GpuPci.Locate("/nonexistent-sysfs", "00000000:53:00.0"));
    }
}

using EfaAgent.Collectors.Model;

namespace EfaAgent.Collectors.Efa;

/// <summary>The metric families of the EFA collector: the fixed ones, and one per counter name, made once.</summary>
internal sealed class EfaFamilies
{
    public static readonly MetricFamily DeviceInfo = new(
        "rdma_device_info",
        "One series per RDMA device port: efa=\"true\" for an Elastic Fabric Adapter; gid is ports/<port>/gids/0 (the EFA address), mac is derived from it, netdev is the ENA interface with that MAC (empty for an EFA-only interface).",
        MetricType.Gauge,
        "device", "port", "driver", "efa", "pci_address", "numa_node", "rate", "gid", "mac", "netdev");

    public static readonly MetricFamily PortRate = new(
        "rdma_port_rate_bytes_per_second", "Link rate of the port from ports/<port>/rate, in bytes per second.",
        MetricType.Gauge, "device", "port");

    public static readonly MetricFamily PortLifespan = new(
        "rdma_port_hw_counters_lifespan_seconds", "Cache time of the port counter group (ports/<port>/hw_counters/lifespan): a read refreshes the group from the device only when the cache is older.",
        MetricType.Gauge, "device", "port");

    public static readonly MetricFamily DeviceLifespan = new(
        "rdma_device_hw_counters_lifespan_seconds", "Cache time of the device counter group (hw_counters/lifespan).",
        MetricType.Gauge, "device");

    public static readonly MetricFamily DriverInfo = new(
        "efa_driver_info", "The efa kernel module's version (module/efa/version); absent when the module is not loaded.",
        MetricType.Gauge, "version");

    public static readonly MetricFamily NodeInfo = new(
        "efa_node_info", "The EC2 instance type read from DMI (devices/virtual/dmi/id/product_name).",
        MetricType.Gauge, "instance_type");

    public static readonly MetricFamily EfaDevices = new(
        "efa_devices", "Number of EFA devices found.", MetricType.Gauge);

    public static readonly MetricFamily EfaDevicesExpected = new(
        "efa_devices_expected", "Number of EFA devices this instance type has (absent for an instance type the agent does not know).",
        MetricType.Gauge, "instance_type");

    private readonly Dictionary<string, MetricFamily> _families = new(StringComparer.Ordinal);

    /// <summary>The family of a counter file (one object per metric name).</summary>
    public MetricFamily Counter(bool isEfa, bool portLevel, string counter)
    {
        var name = RdmaCounterNames.MetricName(isEfa, portLevel, counter);
        if (!_families.TryGetValue(name, out var family))
        {
            family = portLevel
                ? new MetricFamily(name, RdmaCounterNames.Help(isEfa, true, counter), MetricType.Counter, "device", "port")
                : new MetricFamily(name, RdmaCounterNames.Help(isEfa, false, counter), MetricType.Counter, "device");
            _families[name] = family;
        }

        return family;
    }

    /// <summary>The peak-throughput family derived from a counter, or null when the counter has none.</summary>
    public MetricFamily? Peak(bool isEfa, string counter)
    {
        var direction = counter switch
        {
            "tx_bytes" => "transmit",
            "rx_bytes" => "receive",
            _ => null,
        };
        if (direction is null)
        {
            return null;
        }

        var name = $"{(isEfa ? "efa" : "rdma")}_port_{direction}_peak_bytes_per_second";
        if (!_families.TryGetValue(name, out var family))
        {
            family = new MetricFamily(name,
                $"Highest {direction} throughput of the port between two samples (from {counter}) over the trailing burst window.",
                MetricType.Gauge, "device", "port");
            _families[name] = family;
        }

        return family;
    }
}

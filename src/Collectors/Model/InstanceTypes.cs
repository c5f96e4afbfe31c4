namespace EfaAgent.Collectors.Model;

/// <summary>What an EC2 instance type brings: its EFA devices and its NVIDIA GPUs.</summary>
/// <param name="Name">The instance type as DMI reports it (<c>devices/virtual/dmi/id/product_name</c>).</param>
/// <param name="EfaDevices">EFA devices when one EFA interface is attached to every network card.</param>
/// <param name="Gpus">NVIDIA GPUs that NVML should enumerate (0 on Trainium instances).</param>
/// <param name="Accelerator">The accelerators, in words, for people.</param>
public sealed record InstanceType(string Name, int EfaDevices, int Gpus, string Accelerator);

/// <summary>
/// The one table of the instance types the agent knows. The agent exports <c>efa_devices_expected</c>
/// from it, the alert rules compare against that series, and the operator commands read it here.
/// </summary>
public static class InstanceTypes
{
    /// <summary>Every known type. EFA counts are the network cards of the type (one EFA device each).</summary>
    public static IReadOnlyList<InstanceType> All { get; } =
    [
        new("p4d.24xlarge", 4, 8, "8x NVIDIA A100 40 GB"),
        new("p4de.24xlarge", 4, 8, "8x NVIDIA A100 80 GB"),
        new("p5.48xlarge", 32, 8, "8x NVIDIA H100 80 GB"),
        new("p5e.48xlarge", 32, 8, "8x NVIDIA H200 141 GB"),
        new("p5en.48xlarge", 16, 8, "8x NVIDIA H200 141 GB"),
        new("trn1.32xlarge", 8, 0, "16x AWS Trainium"),
        new("trn1n.32xlarge", 16, 0, "16x AWS Trainium"),
    ];

    private static readonly Dictionary<string, InstanceType> ByName =
        All.ToDictionary(t => t.Name, StringComparer.Ordinal);

    /// <summary>The type named <paramref name="name"/> (as DMI reports it, surrounding white space ignored), or null.</summary>
    public static InstanceType? Find(string? name) =>
        name is not null && ByName.TryGetValue(name.Trim(), out var type) ? type : null;
}

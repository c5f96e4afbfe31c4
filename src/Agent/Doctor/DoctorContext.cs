using EfaAgent.Collectors.Efa;
using EfaAgent.Collectors.Model;
using EfaAgent.Collectors.Sysfs;

namespace EfaAgent.Agent.Doctor;

/// <summary>
/// What the checks share: the settings, and the node's facts read once on first use (several checks
/// need the instance type, the EFA devices or the GPUs).
/// </summary>
public sealed class DoctorContext
{
    private readonly Lazy<NodeFacts> _node;
    private readonly Lazy<Task<GpuReport>> _gpus;

    /// <summary>How many <c>--nvml.timeout</c>s the whole NVML read (start, every GPU, shutdown) may take.</summary>
    public const int NvmlTimeoutFactor = 5;

    /// <summary>A context over <paramref name="settings"/>.</summary>
    public DoctorContext(DoctorSettings settings)
    {
        Settings = settings;
        _node = new Lazy<NodeFacts>(() => NodeFacts.Read(settings.Agent.SysfsRoot));
        // NVML must answer within NvmlTimeoutFactor x --nvml.timeout: without persistence mode its start initialises every GPU.
        _gpus = new Lazy<Task<GpuReport>>(() => NvmlProbe.ReadAsync(settings.Agent.NvmlLibrary, settings.Agent.NvmlTimeout * NvmlTimeoutFactor));
    }

    /// <summary>The settings.</summary>
    public DoctorSettings Settings { get; }

    /// <summary>The sysfs root.</summary>
    public string Sysfs => Settings.Agent.SysfsRoot;

    /// <summary>The procfs root.</summary>
    public string Procfs => Settings.Agent.ProcfsRoot;

    /// <summary>Instance type and RDMA devices.</summary>
    public NodeFacts Node => _node.Value;

    /// <summary>The GPUs as NVML reports them (NVML is loaded once, on first use).</summary>
    public Task<GpuReport> GpusAsync() => _gpus.Value;
}

/// <summary>The node as sysfs describes it.</summary>
/// <param name="InstanceTypeName">The DMI product name (<c>p4d.24xlarge</c>); null when absent.</param>
/// <param name="InstanceType">Its row of the instance-type table; null for a type the table does not know.</param>
/// <param name="EfaDevices">The EFA devices found, sorted by name.</param>
/// <param name="EfaDriverVersion">The efa kernel module's version (<c>module/efa/version</c>); null when not loaded.</param>
public sealed record NodeFacts(string? InstanceTypeName, InstanceType? InstanceType, IReadOnlyList<RdmaDevice> EfaDevices, string? EfaDriverVersion)
{
    /// <summary>Reads the facts under <paramref name="sysfsRoot"/>.</summary>
    public static NodeFacts Read(string sysfsRoot)
    {
        var name = RdmaDiscovery.InstanceType(sysfsRoot);
        var efa = RdmaDiscovery.Discover(sysfsRoot).Where(d => d.IsEfa).ToArray();
        return new NodeFacts(name, InstanceTypes.Find(name), efa, RdmaDiscovery.EfaDriverVersion(sysfsRoot));
    }

}

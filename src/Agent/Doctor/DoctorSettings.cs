using EfaAgent.Agent.Jobs;
using EfaAgent.Agent.Options;

namespace EfaAgent.Agent.Doctor;

/// <summary>What <c>efa-agent doctor</c> was asked to do, validated.</summary>
public sealed record DoctorSettings
{
    /// <summary>torchrun's default rendezvous port.</summary>
    public const int DefaultPort = 29500;

    /// <summary>The agent's own settings that apply: roots, NVML library, listen address.</summary>
    public required AgentOptions Agent { get; init; }

    /// <summary>The rendezvous port (<c>--port</c>).</summary>
    public int Port { get; init; } = DefaultPort;

    /// <summary>Peers to reach (<c>--peer</c>, <c>--hostfile</c>); a peer without a port uses <see cref="Port"/>.</summary>
    public IReadOnlyList<JobHost> Peers { get; init; } = [];

    /// <summary>Longest a connection, an HTTP request or an external program may take.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(3);

    /// <summary>Root of the file system (<c>--path.rootfs</c>): <c>/opt</c>, <c>/etc/passwd</c> and programs are looked up under it.</summary>
    public string RootFs { get; init; } = "/";

    /// <summary>Write JSON instead of the checklist.</summary>
    public bool Json { get; init; }

    /// <summary>The root file system is the machine's own (external programs are also looked for on PATH).</summary>
    public bool IsHostRoot => Path.GetFullPath(RootFs) == "/";

    /// <summary>A path under <see cref="RootFs"/> (<c>opt/amazon/efa</c>).</summary>
    public string UnderRoot(params string[] parts) => Path.Combine([RootFs, .. parts]);
}

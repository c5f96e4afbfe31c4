namespace EfaAgent.Tests.Support;

/// <summary>
/// A network namespace of the test's own, made and removed with <c>ip</c> (Debian package
/// <c>iproute2</c>; <c>.ci/run</c> installs it). Creating one needs root. <see cref="TryCreate"/> says
/// why it could not, so that the test reports a skip with the reason instead of passing.
/// </summary>
public sealed class NetworkNamespace : IDisposable
{
    private NetworkNamespace(string ip, string name)
    {
        Ip = ip;
        Name = name;
    }

    /// <summary>The namespace's name.</summary>
    public string Name { get; }

    /// <summary>The path of <c>ip</c>.</summary>
    public string Ip { get; }

    /// <summary>Creates a namespace with a unique name and its loopback up; null and the reason when this machine cannot.</summary>
    public static NetworkNamespace? TryCreate(out string reason)
    {
        reason = "";
        if (Environment.UserName != "root")
        {
            reason = $"creating a network namespace needs root (running as {Environment.UserName})";
            return null;
        }

        if (ChildProcess.FindOnPath("ip") is not { } ip)
        {
            reason = "ip is not on PATH: install the Debian package iproute2 (.ci/run does)";
            return null;
        }

        var name = $"efa-agent-test-{Environment.ProcessId}-{Guid.NewGuid().ToString("N")[..8]}";
        var (code, output) = Run(ip, "netns", "add", name);
        if (code != 0)
        {
            reason = $"this machine cannot create a network namespace: ip netns add {name}: {output.Trim()}";
            return null;
        }

        var ns = new NetworkNamespace(ip, name);
        ns.Link("set", "lo", "up");
        return ns;
    }

    /// <summary>Runs <c>ip -n NAME link args</c>; throws with its output when it fails.</summary>
    public void Link(params string[] args)
    {
        var (code, output) = Run(Ip, ["-n", Name, "link", .. args]);
        if (code != 0)
        {
            throw new InvalidOperationException($"ip -n {Name} link {string.Join(' ', args)} failed ({code}): {output}");
        }
    }

    /// <summary>Runs <c>ip args</c> in this test's own namespace (a veth end, an address); throws with its output when it fails.</summary>
    public void HostIp(params string[] args)
    {
        var (code, output) = Run(Ip, args);
        if (code != 0)
        {
            throw new InvalidOperationException($"ip {string.Join(' ', args)} failed ({code}): {output}");
        }
    }

    /// <summary>Runs a command inside the namespace (with its own /sys, as <c>ip netns exec</c> mounts it); returns exit code and output.</summary>
    public (int ExitCode, string Output) Exec(params string[] command) => Run(Ip, ["netns", "exec", Name, .. command]);

    /// <summary>Starts a long-running command inside the namespace.</summary>
    public ChildProcess Start(params string[] command) =>
        ChildProcess.Start(Ip, ["netns", "exec", Name, .. command], new Dictionary<string, string?> { ["JOURNAL_STREAM"] = null });

    /// <summary>Deletes the namespace (and the interfaces in it).</summary>
    public void Dispose() => Run(Ip, "netns", "delete", Name);

    private static (int ExitCode, string Output) Run(string file, params string[] args) => ChildProcess.Run(file, args);
}

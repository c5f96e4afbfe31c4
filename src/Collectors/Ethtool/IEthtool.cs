namespace EfaAgent.Collectors.Ethtool;

/// <summary>
/// The kernel's ethtool ioctl: one <c>SIOCETHTOOL</c> request on an interface of this network namespace.
/// The real one is <see cref="Interop.EthtoolSocket"/>; <see cref="SimulatedEthtool"/> answers the way a
/// driver does, for the demo and tests. Requests and answers are the byte layouts of
/// <see cref="EthtoolAbi"/>.
/// </summary>
public interface IEthtool : IDisposable
{
    /// <summary>
    /// Sends the request in <paramref name="buffer"/> (starting with its command number) for
    /// <paramref name="device"/>; the answer is written over it. The buffer must have room for the
    /// largest answer the driver can give. Returns 0, or the <c>errno</c> of the failure
    /// (<see cref="EthtoolErrno"/>). Never throws for a device or driver error; allocation-free.
    /// </summary>
    int Request(string device, Span<byte> buffer);
}

/// <summary>The <c>errno</c> values an ethtool request can fail with, and the reason each is reported as.</summary>
public static class EthtoolErrno
{
    /// <summary><c>EPERM</c>.</summary>
    public const int NotPermitted = 1;

    /// <summary><c>EACCES</c>.</summary>
    public const int AccessDenied = 13;

    /// <summary><c>ENODEV</c>: no such interface (it went away).</summary>
    public const int NoDevice = 19;

    /// <summary><c>EOPNOTSUPP</c>: the driver has no such ethtool operation.</summary>
    public const int NotSupported = 95;

    /// <summary>
    /// The <c>reason</c> of <c>efa_agent_unavailable</c> for a failed request: <c>not_supported</c>,
    /// <c>permission_denied</c>, <c>no_device</c>, else <c>errno_&lt;n&gt;</c>.
    /// </summary>
    public static string Reason(int errno) => errno switch
    {
        NotSupported => "not_supported",
        NotPermitted or AccessDenied => "permission_denied",
        NoDevice => "no_device",
        _ => $"errno_{errno}",
    };
}

using System.Runtime.InteropServices;
using Libc = EfaAgent.Collectors.Interop.Interop.Libc;

namespace EfaAgent.Collectors.Sysfs;

/// <summary>
/// The process's open-file limit (<c>RLIMIT_NOFILE</c>). Each counter file is held open: a p5 has 32
/// devices of ~36 counters, more than the usual soft limit of 1024 of a shell. The agent raises the
/// soft limit to the hard one at start, as the Go and CoreCLR runtimes do.
/// </summary>
public static class FileLimit
{
    /// <summary>Descriptors the rest of the agent needs beside the counter files: runtime, sockets, logs.</summary>
    public const int Reserve = 256;

    /// <summary>The current soft limit; <see cref="ulong.MaxValue"/> when unlimited or unknown.</summary>
    public static ulong Soft => Libc.GetRLimit(Libc.RlimitNoFile, out var l) == 0 ? l.Current : ulong.MaxValue;

    /// <summary>Raises the soft limit to the hard limit. Returns (before, after, error): error is null when it worked or was already there.</summary>
    public static (ulong Before, ulong After, string? Error) RaiseSoftToHard()
    {
        if (Libc.GetRLimit(Libc.RlimitNoFile, out var limit) != 0)
        {
            return (0, 0, Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError()));
        }

        var before = limit.Current;
        if (limit.Current >= limit.Maximum)
        {
            return (before, before, null);
        }

        var raised = new Libc.RLimit { Current = limit.Maximum, Maximum = limit.Maximum };
        return Libc.SetRLimit(Libc.RlimitNoFile, raised) == 0
            ? (before, limit.Maximum, null)
            : (before, before, Marshal.GetPInvokeErrorMessage(Marshal.GetLastPInvokeError()));
    }

    /// <summary>Whether <paramref name="files"/> held-open files plus the <see cref="Reserve"/> fit under the soft limit.</summary>
    public static bool Fits(int files) => (ulong)files + Reserve <= Soft;
}

using System.Collections.Concurrent;

namespace EfaAgent.Tests.Support;

/// <summary>
/// For tests that drop to another user (uid 65534): the paths that user must reach. A checkout in a
/// directory other users cannot enter (what <c>git clone</c> into <c>mktemp -d</c>, mode 0700, gives)
/// hides the build output and the fixtures from it; such a directory is then copied, once per test
/// run, into one other users can enter, and the copy is used.
/// </summary>
public static class OtherUsers
{
    private static readonly ConcurrentDictionary<string, Lazy<string>> Copies = new(StringComparer.Ordinal);
    private static readonly Lazy<TempDir> Shared = new(() =>
    {
        var dir = new TempDir();
        if (OperatingSystem.IsLinux())
        {
            File.SetUnixFileMode(dir.Path, (UnixFileMode)0b111_101_101);
        }

        AppDomain.CurrentDomain.ProcessExit += (_, _) => dir.Dispose();
        return dir;
    });

    /// <summary>The agent's path, as another user can run it.</summary>
    public static string Executable => Path.Combine(Reachable(AppContext.BaseDirectory), "efa-agent");

    /// <summary><paramref name="directory"/> itself when other users can enter it, else a copy they can.</summary>
    public static string Reachable(string directory)
    {
        directory = directory.TrimEnd('/');
        if (!OperatingSystem.IsLinux() || CanEnter(directory))
        {
            return directory;
        }

        return Copies.GetOrAdd(directory, d => new Lazy<string>(() => Shared.Value.CopyFrom(d, $"copy-{Copies.Count}"))).Value;
    }

    [System.Runtime.Versioning.SupportedOSPlatform("linux")]
    private static bool CanEnter(string directory)
    {
        for (var dir = directory; !string.IsNullOrEmpty(dir); dir = Path.GetDirectoryName(dir))
        {
            if (!File.GetUnixFileMode(dir).HasFlag(UnixFileMode.OtherExecute))
            {
                return false;
            }
        }

        return true;
    }
}

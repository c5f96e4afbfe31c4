using System.Globalization;

namespace EfaAgent.Agent.Doctor.Procfs;

/// <summary>Which processes hold which sockets, found without lsof.</summary>
/// <param name="Owners">Socket inode to the pids whose fds link to <c>socket:[inode]</c>.</param>
/// <param name="Denied">Processes whose fds could not be read (another user's, when not root).</param>
public sealed record SocketOwnership(IReadOnlyDictionary<ulong, IReadOnlyList<int>> Owners, int Denied);

/// <summary>
/// Scans <c>&lt;procfs&gt;/&lt;pid&gt;/fd/*</c> for links to <c>socket:[inode]</c>, as lsof and ss -p do.
/// Reading another user's fds needs root (or CAP_SYS_PTRACE); those processes are counted, not guessed.
/// </summary>
public static class SocketOwners
{
    /// <summary>Finds the holders of <paramref name="inodes"/>.</summary>
    public static SocketOwnership Find(string procfs, IReadOnlyCollection<ulong> inodes)
    {
        var owners = new Dictionary<ulong, List<int>>();
        var denied = 0;
        if (inodes.Count == 0)
        {
            return new SocketOwnership(new Dictionary<ulong, IReadOnlyList<int>>(), 0);
        }

        var wanted = inodes.ToDictionary(i => $"socket:[{i.ToString(CultureInfo.InvariantCulture)}]", i => i, StringComparer.Ordinal);
        foreach (var dir in SafeList(() => Directory.GetDirectories(procfs)))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var pid))
            {
                continue;
            }

            string[] fds;
            try
            {
                fds = Directory.GetFileSystemEntries(Path.Combine(dir, "fd"));
            }
            catch (UnauthorizedAccessException)
            {
                denied++;
                continue;
            }
            catch (IOException)
            {
                continue; // the process exited
            }

            foreach (var fd in fds)
            {
                if (LinkTarget(fd) is { } target && wanted.TryGetValue(target, out var inode))
                {
                    if (!owners.TryGetValue(inode, out var pids))
                    {
                        owners[inode] = pids = [];
                    }

                    if (!pids.Contains(pid))
                    {
                        pids.Add(pid);
                    }
                }
            }
        }

        return new SocketOwnership(owners.ToDictionary(kv => kv.Key, kv => (IReadOnlyList<int>)kv.Value), denied);
    }

    private static string? LinkTarget(string path)
    {
        try
        {
            return new FileInfo(path).LinkTarget;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    private static string[] SafeList(Func<string[]> list)
    {
        try
        {
            return list();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
    }
}

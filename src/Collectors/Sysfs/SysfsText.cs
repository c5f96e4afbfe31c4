using System.Text;

namespace EfaAgent.Collectors.Sysfs;

/// <summary>Reads small sysfs/procfs attributes for the slow lane (info labels, discovery).</summary>
public static class SysfsText
{
    private const int MaxAttributeBytes = 4096;

    /// <summary>
    /// Reads a small text attribute and trims it; null when it is missing, unreadable or not a regular
    /// file. Reads into a fixed buffer rather than trusting the file size, which sysfs reports as 4096 or 0.
    /// </summary>
    public static string? TryRead(string path)
    {
        try
        {
            using var handle = RegularFile.Open(path);
            Span<byte> buffer = stackalloc byte[MaxAttributeBytes];
            var n = RandomAccess.Read(handle, buffer, 0);
            return Encoding.UTF8.GetString(buffer[..n]).Trim();
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>The last path element of a symbolic link's target, or null when the path is not a link.</summary>
    public static string? LinkTargetName(string path)
    {
        try
        {
            var info = new FileInfo(path);
            var target = info.LinkTarget;
            if (target is null)
            {
                return null;
            }

            return System.IO.Path.GetFileName(target.TrimEnd('/'));
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }

    /// <summary>
    /// Names of the entries of a directory, sorted ordinally; empty when it does not exist. A directory
    /// that exists but cannot be listed (permissions, no descriptor left, a link loop) is not "empty":
    /// that throws, so that a caller never takes an unreadable tree for "no devices".
    /// </summary>
    /// <exception cref="IOException">The directory exists but cannot be listed; the message names it and the reason.</exception>
    public static string[] ListNames(string directory, bool directoriesOnly = false)
    {
        string[] entries;
        try
        {
            entries = directoriesOnly ? Directory.GetDirectories(directory) : Directory.GetFileSystemEntries(directory);
        }
        catch (DirectoryNotFoundException)
        {
            return [];
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot list {directory}: {e.Message}", e);
        }

        var names = new string[entries.Length];
        for (var i = 0; i < entries.Length; i++)
        {
            names[i] = System.IO.Path.GetFileName(entries[i]);
        }

        Array.Sort(names, StringComparer.Ordinal);
        return names;
    }
}

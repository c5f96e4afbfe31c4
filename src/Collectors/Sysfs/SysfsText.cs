using System.IO.Enumeration;
using System.Text;
using Libc = EfaAgent.Collectors.Interop.Interop.Libc;

namespace EfaAgent.Collectors.Sysfs;

/// <summary>Reads small sysfs/procfs attributes for the slow lane (info labels, discovery).</summary>
public static class SysfsText
{
    private const int MaxAttributeBytes = 4096;

    /// <summary>How many distinct names a thread keeps for re-use; past it, names are allocated as they come.</summary>
    private const int MaxInterned = 4096;

    [ThreadStatic]
    private static Dictionary<string, string>? _interned;

    // Every entry, hidden ones too, and an unreadable directory is an error, as Directory.GetFileSystemEntries has it.
    private static readonly EnumerationOptions ListOptions = new() { AttributesToSkip = 0, IgnoreInaccessible = false };

    /// <summary>
    /// Reads a small text attribute and trims it; null when it is missing, unreadable or not a regular
    /// file. Reads into a fixed buffer rather than trusting the file size, which sysfs reports as 4096 or 0.
    /// </summary>
    public static string? TryRead(string path) => TryRead(Libc.AtFdCwd, path, intern: false);

    /// <summary>
    /// As <see cref="TryRead(string)"/>, for an attribute that keeps its value (a port's rate, its GID, an
    /// interface's address): the same string comes back while the text is the same, so re-reading it
    /// on every walk allocates nothing.
    /// </summary>
    public static string? TryReadStable(string path) => TryRead(Libc.AtFdCwd, path, intern: true);

    /// <summary>As <see cref="TryReadStable(string)"/>, for <paramref name="relative"/> inside a directory held open.</summary>
    public static string? TryReadStable(HeldDirectory directory, string relative)
    {
        var (at, path) = directory.Resolve(relative);
        return TryRead(at, path, intern: true);
    }

    // Missing is common (an attribute that this kernel or driver lacks, on every walk): no exception,
    // no handle object, only the descriptor, closed here.
    private static string? TryRead(int directory, string path, bool intern)
    {
        var fd = RegularFile.TryOpen(directory, path, out _, out _);
        if (fd < 0)
        {
            return null;
        }

        try
        {
            Span<byte> buffer = stackalloc byte[MaxAttributeBytes];
            // One pread, as the counters are read: RandomAccess would first ask the kernel whether the
            // file can seek, a system call per attribute on every walk.
            var n = RegularFile.ReadAtStart(fd, buffer);
            if (n < 0)
            {
                return null; // as for a file that cannot be opened: the attribute is not there to read
            }

            if (!intern)
            {
                return Encoding.UTF8.GetString(buffer[..n]).Trim();
            }

            Span<char> text = stackalloc char[MaxAttributeBytes];
            var length = Encoding.UTF8.GetChars(buffer[..n], text);
            return Intern(text[..length].Trim());
        }
        finally
        {
            Libc.Close(fd);
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
        var names = new List<string>();
        switch (DirectoryNames.TryList(directory, directoriesOnly, names))
        {
            case false:
                return [];
            case null:
                if (!Enumerate(directory, directoriesOnly, names))
                {
                    return [];
                }

                break;
        }

        var sorted = names.ToArray();
        Array.Sort(sorted, StringComparer.Ordinal);
        return sorted;
    }

    // Where getdents64 has no known number: .NET's enumeration, names only (no full paths built).
    private static bool Enumerate(string directory, bool directoriesOnly, List<string> names)
    {
        try
        {
            // The enumerable opens the directory as it is made: inside the try.
            var entries = new FileSystemEnumerable<string>(directory, static (ref FileSystemEntry e) => Intern(e.FileName), ListOptions)
            {
                ShouldIncludePredicate = directoriesOnly ? static (ref FileSystemEntry e) => e.IsDirectory : null,
            };
            foreach (var name in entries)
            {
                names.Add(name);
            }

            return true;
        }
        catch (DirectoryNotFoundException)
        {
            return false;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot list {directory}: {e.Message}", e);
        }
    }

    /// <summary>
    /// The same string for the same name: discovery lists the same directories every few seconds, and
    /// their names are few (every port of every device has the same counter names), so after the first
    /// walk a listing allocates nothing per name.
    /// </summary>
    internal static string Intern(ReadOnlySpan<char> name)
    {
        var table = _interned ??= new Dictionary<string, string>(StringComparer.Ordinal);
        var lookup = table.GetAlternateLookup<ReadOnlySpan<char>>();
        if (lookup.TryGetValue(name, out var known))
        {
            return known;
        }

        var text = name.ToString();
        if (table.Count < MaxInterned)
        {
            table[text] = text;
        }

        return text;
    }
}

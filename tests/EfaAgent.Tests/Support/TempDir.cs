namespace EfaAgent.Tests.Support;

/// <summary>A temporary directory removed when disposed.</summary>
public sealed class TempDir : IDisposable
{
    /// <summary>Creates an empty directory under the system temp folder.</summary>
    public TempDir() => Path = Directory.CreateTempSubdirectory("efa-agent-test-").FullName;

    /// <summary>The directory.</summary>
    public string Path { get; }

    /// <summary>A path inside the directory.</summary>
    public string Combine(params string[] parts) => System.IO.Path.Combine([Path, .. parts]);

    /// <summary>Copies a directory tree (symbolic links are copied as links) into this directory.</summary>
    public string CopyFrom(string source, string name)
    {
        var target = Combine(name);
        CopyTree(source, target);
        return target;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        try
        {
            Directory.Delete(Path, recursive: true);
        }
        catch (IOException)
        {
            // best effort
        }
    }

    private static void CopyTree(string source, string target)
    {
        Directory.CreateDirectory(target);
        foreach (var entry in new DirectoryInfo(source).EnumerateFileSystemInfos())
        {
            var dest = System.IO.Path.Combine(target, entry.Name);
            if (entry.LinkTarget is { } link)
            {
                File.CreateSymbolicLink(dest, link);
            }
            else if (entry is DirectoryInfo d)
            {
                CopyTree(d.FullName, dest);
            }
            else
            {
                File.Copy(entry.FullName, dest);
            }
        }
    }
}

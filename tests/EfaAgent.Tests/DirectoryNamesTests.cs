using EfaAgent.Collectors.Sysfs;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests;

/// <summary>
/// <see cref="SysfsText.ListNames"/> on real directories: the names a directory holds, every one, as
/// the file system's own listing gives them; links to directories count as directories; a missing
/// directory is empty and one that cannot be listed is an error that names it.
/// </summary>
public sealed class DirectoryNamesTests : IDisposable
{
    private readonly TempDir _dir = new();

    [Fact]
    public void Every_entry_is_listed_across_many_reads_of_the_directory()
    {
        // Some 4,000 entries of 80-byte names: several getdents64 calls' worth (32 KB each).
        var root = _dir.Combine("big");
        Directory.CreateDirectory(root);
        for (var i = 0; i < 4000; i++)
        {
            File.WriteAllText(Path.Combine(root, $"counter_{i:D5}_{new string('x', 64)}"), "");
        }

        Directory.CreateDirectory(Path.Combine(root, ".hidden"));
        File.WriteAllText(Path.Combine(root, "é_ünïcode"), "");

        var expected = Directory.GetFileSystemEntries(root).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
        Assert.Equal(4002, expected.Length);
        Assert.Equal(expected, SysfsText.ListNames(root));
    }

    [Fact]
    public void Directories_only_follows_links_and_leaves_out_files_and_dangling_links()
    {
        var root = _dir.Combine("ports");
        Directory.CreateDirectory(Path.Combine(root, "1"));
        Directory.CreateDirectory(_dir.Combine("elsewhere"));
        File.CreateSymbolicLink(Path.Combine(root, "2"), _dir.Combine("elsewhere"));
        File.WriteAllText(Path.Combine(root, "file"), "");
        File.CreateSymbolicLink(Path.Combine(root, "link-to-file"), Path.Combine(root, "file"));
        File.CreateSymbolicLink(Path.Combine(root, "dangling"), _dir.Combine("nowhere"));

        Assert.Equal(["1", "2"], SysfsText.ListNames(root, directoriesOnly: true));
        Assert.Equal(["1", "2", "dangling", "file", "link-to-file"], SysfsText.ListNames(root));
    }

    [Fact]
    public void A_missing_directory_or_a_file_is_empty()
    {
        File.WriteAllText(_dir.Combine("file"), "x");
        Assert.Empty(SysfsText.ListNames(_dir.Combine("missing")));
        Assert.Empty(SysfsText.ListNames(_dir.Combine("file")));
        Assert.Empty(SysfsText.ListNames(Path.Combine(_dir.Combine("file"), "below")));
    }

    [Fact]
    public void A_directory_that_cannot_be_listed_is_an_error_naming_it()
    {
        var loop = _dir.Combine("loop");
        File.CreateSymbolicLink(loop, "loop");

        var error = Assert.Throws<IOException>(() => SysfsText.ListNames(loop));
        Assert.Contains(loop, error.Message, StringComparison.Ordinal);
        Assert.Contains("symbolic links", error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Sysfs_and_procfs_list_as_the_runtime_lists_them()
    {
        // Directories whose sizes and types the kernel makes up: a real sysfs class and /proc/self.
        foreach (var dir in new[] { "/sys/class/net", "/proc/self", "/sys/kernel" })
        {
            var expected = Directory.GetFileSystemEntries(dir).Select(Path.GetFileName).Order(StringComparer.Ordinal).ToArray();
            Assert.Equal(expected, SysfsText.ListNames(dir));
        }
    }

    /// <inheritdoc />
    public void Dispose() => _dir.Dispose();
}

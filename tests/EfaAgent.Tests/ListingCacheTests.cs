using EfaAgent.Collectors.Sysfs;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests;

/// <summary>
/// Discovery's directory listings, kept while a directory is unchanged. The cache is asked on a real
/// directory; "served from the cache" is the same array coming back.
/// </summary>
public class ListingCacheTests
{
    private static readonly TimeSpan Short = TimeSpan.FromMilliseconds(20);

    /// <summary>A directory's sorted entries, through the cache, as discovery asks for them.</summary>
    private static string[] List(ListingCache cache, string directory, bool directoriesOnly = false) =>
        cache.Get(directory, directoriesOnly ? "directories" : "entries", static (d, only) => SysfsText.ListNames(d, only), directoriesOnly);

    private static string Counters(TempDir tmp, params string[] names)
    {
        var dir = tmp.Combine("hw_counters");
        Directory.CreateDirectory(dir);
        foreach (var n in names)
        {
            File.WriteAllText(Path.Combine(dir, n), "0\n");
        }

        return dir;
    }

    [Fact]
    public void An_unchanged_directory_is_listed_once_and_served_from_the_cache()
    {
        using var tmp = new TempDir();
        var dir = Counters(tmp, "tx_bytes", "rx_bytes");
        Thread.Sleep(3 * Short);
        var cache = new ListingCache(Short);

        var first = List(cache, dir);
        var second = List(cache, dir);

        Assert.Equal(["rx_bytes", "tx_bytes"], first);
        Assert.Same(first, second);
    }

    [Fact]
    public void An_entry_added_removed_or_turned_into_a_directory_is_seen_at_the_next_listing()
    {
        using var tmp = new TempDir();
        var dir = Counters(tmp, "tx_bytes", "rx_bytes");
        Thread.Sleep(3 * Short);
        var cache = new ListingCache(Short);
        List(cache, dir);

        File.WriteAllText(Path.Combine(dir, "rdma_read_bytes"), "0\n");
        Assert.Equal(["rdma_read_bytes", "rx_bytes", "tx_bytes"], List(cache, dir));

        Thread.Sleep(3 * Short);
        File.Delete(Path.Combine(dir, "tx_bytes"));
        Assert.Equal(["rdma_read_bytes", "rx_bytes"], List(cache, dir));

        Thread.Sleep(3 * Short);
        File.Delete(Path.Combine(dir, "rx_bytes"));
        Directory.CreateDirectory(Path.Combine(dir, "rx_bytes"));
        Assert.Equal(["rx_bytes"], List(cache, dir, directoriesOnly: true));
        Assert.Equal(["rdma_read_bytes", "rx_bytes"], List(cache, dir));
    }

    [Fact]
    public void A_directory_replaced_by_another_of_the_same_name_is_listed_again()
    {
        using var tmp = new TempDir();
        var dir = Counters(tmp, "tx_bytes");
        Thread.Sleep(3 * Short);
        var cache = new ListingCache(Short);
        List(cache, dir);

        // A device registered again: a new directory at the same path, with other entries.
        Directory.Delete(dir, recursive: true);
        Counters(tmp, "rx_bytes");
        Thread.Sleep(3 * Short);

        Assert.Equal(["rx_bytes"], List(cache, dir));
    }

    [Fact]
    public void A_directory_changed_within_the_settle_time_is_never_taken_from_the_cache()
    {
        using var tmp = new TempDir();
        var dir = Counters(tmp, "tx_bytes");
        var cache = new ListingCache(TimeSpan.FromHours(1));

        var first = List(cache, dir);
        var second = List(cache, dir);

        Assert.Equal(first, second);
        Assert.NotSame(first, second);
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void A_missing_directory_lists_empty_and_listings_not_asked_for_are_swept()
    {
        using var tmp = new TempDir();
        var dir = Counters(tmp, "tx_bytes");
        Thread.Sleep(3 * Short);
        var cache = new ListingCache(Short);

        Assert.Empty(List(cache, tmp.Combine("no-such-directory")));
        List(cache, dir);
        cache.Sweep();
        Assert.Equal(1, cache.Count);

        // A walk that no longer asks for it (the device went away) forgets it.
        cache.Sweep();
        Assert.Equal(0, cache.Count);
    }

    [Fact]
    public void What_is_read_from_a_directory_is_kept_with_its_listing_and_read_again_when_it_changes()
    {
        using var tmp = new TempDir();
        var dir = Counters(tmp, "tx_bytes");
        Thread.Sleep(3 * Short);
        var cache = new ListingCache(Short);
        var reads = 0;
        string[] Read(string d, int _)
        {
            reads++;
            return [.. Directory.GetFiles(d).Select(Path.GetFileName).Order()!];
        }

        var first = cache.Get(dir, "files", Read, 0);
        var again = cache.Get(dir, "files", Read, 0);
        var listing = List(cache, dir);
        Assert.Same(first, again);
        Assert.Equal(1, reads);
        Assert.NotSame(first, listing); // another kind, kept apart

        File.WriteAllText(Path.Combine(dir, "rx_bytes"), "0\n");
        Assert.Equal(["rx_bytes", "tx_bytes"], cache.Get(dir, "files", Read, 0));
        Assert.Equal(2, reads);
    }

    [Fact]
    public void Asked_only_if_a_directory_a_file_a_missing_path_and_a_dangling_link_are_null_and_never_read()
    {
        using var tmp = new TempDir();
        var dir = Counters(tmp, "tx_bytes");
        var link = tmp.Combine("link-to-counters");
        File.CreateSymbolicLink(link, dir);
        var dangling = tmp.Combine("dangling");
        File.CreateSymbolicLink(dangling, tmp.Combine("gone"));
        Thread.Sleep(3 * Short);
        var cache = new ListingCache(Short);
        var reads = 0;
        string[] Read(string d, int _)
        {
            reads++;
            return SysfsText.ListNames(d);
        }

        Assert.Null(cache.GetIfDirectory(Path.Combine(dir, "tx_bytes"), "entries", Read, 0));
        Assert.Null(cache.GetIfDirectory(tmp.Combine("no-such-directory"), "entries", Read, 0));
        Assert.Null(cache.GetIfDirectory(dangling, "entries", Read, 0));
        Assert.Equal(0, reads);

        // A directory, or a link to one as class/infiniband has them, is read once and then kept.
        var first = cache.GetIfDirectory(link, "entries", Read, 0);
        Assert.Equal(["tx_bytes"], first!);
        Assert.Same(first, cache.GetIfDirectory(link, "entries", Read, 0));
        Assert.Equal(1, reads);
    }

    [Fact]
    public void A_path_is_built_once_while_walks_ask_for_it_and_forgotten_when_they_stop()
    {
        var cache = new ListingCache(Short);
        var first = cache.Combine("/sys/class/infiniband/rdmap16s27", "ports");
        cache.Sweep();

        Assert.Equal("/sys/class/infiniband/rdmap16s27/ports", first);
        Assert.Same(first, cache.Combine("/sys/class/infiniband/rdmap16s27", "ports"));
        cache.Sweep();
        cache.Sweep();
        Assert.Equal(0, cache.PathCount);
        Assert.NotSame(first, cache.Combine("/sys/class/infiniband/rdmap16s27", "ports"));
    }
}

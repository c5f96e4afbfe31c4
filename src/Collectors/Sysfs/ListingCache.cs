using Libc = EfaAgent.Collectors.Interop.Interop.Libc;

namespace EfaAgent.Collectors.Sysfs;

/// <summary>
/// Directory listings (and what else is read from a directory that only changes with it) that are read
/// again only when the directory changed. Discovery walks the same
/// few hundred directories every few seconds (the counter directories of every port of every device)
/// and they almost never change; a <c>statx</c> says so at a fraction of the cost of a listing and
/// without allocating. A directory is taken as unchanged while it is the same one (device, inode,
/// birth time) with the same change and modification times; POSIX has a directory's times updated
/// whenever an entry is added, removed or renamed, and a sysfs directory that comes back (a device
/// re-registered, a driver reloaded) is a new inode.
/// <para>
/// Timestamps have a granularity, so a listing is kept only once the directory has been left alone
/// for a settle time (<see cref="DefaultSettleTime"/>), as git treats a "racily clean" file: a change
/// made in the same clock tick as the listing can never be missed.
/// </para>
/// </summary>
public sealed class ListingCache : IDisposable
{
    /// <summary>How long a directory must have been unchanged before its listing is kept, unless told otherwise.</summary>
    public static readonly TimeSpan DefaultSettleTime = TimeSpan.FromSeconds(2);

    private const uint StatxWanted = 0x1 | 0x40 | 0x80 | 0x100 | 0x800; // TYPE | MTIME | CTIME | INO | BTIME
    private const int InoOffset = 32;
    private const int BtimeOffset = 80;
    private const int CtimeOffset = 96;
    private const int MtimeOffset = 112;
    private const int DevMajorOffset = 136;

    private readonly long _settleMs;
    private Dictionary<(string, string), Entry> _entries = new();
    private Dictionary<(string, string), Entry> _used = new();
    private Dictionary<(string, string), string> _paths = new();
    private Dictionary<(string, string), string> _usedPaths = new();
    private Dictionary<string, Held> _held = new(StringComparer.Ordinal);
    private Dictionary<string, Held> _usedHeld = new(StringComparer.Ordinal);

    /// <summary>Creates an empty cache.</summary>
    /// <param name="settleTime">How long a directory must have been unchanged before its listing is kept; <see cref="DefaultSettleTime"/> when null.</param>
    public ListingCache(TimeSpan? settleTime = null) => _settleMs = (long)(settleTime ?? DefaultSettleTime).TotalMilliseconds;

    /// <summary>The number of listings kept (for tests).</summary>
    public int Count => _entries.Count + _used.Count;

    /// <summary>The number of directories held open.</summary>
    public int HeldCount => _held.Count + _usedHeld.Count;

    /// <summary>The number of paths kept (for tests).</summary>
    public int PathCount => _paths.Count + _usedPaths.Count;

    /// <summary>
    /// What <paramref name="read"/> makes of <paramref name="directory"/>, from the last time when the
    /// directory has not changed since. <paramref name="kind"/> tells apart several things kept for one
    /// directory. For what lies in the directory's own entries, or is fixed for the directory's life
    /// (a device's PCI identity under its sysfs directory).
    /// </summary>
    public T Get<T, TState>(string directory, string kind, Func<string, TState, T> read, TState state)
        where T : class =>
        TryStamp(Libc.AtFdCwd, directory, out var stamp) ? Get(directory, kind, stamp, read, state) : read(directory, state);

    /// <summary>
    /// As <see cref="Get{T, TState}(string, string, Func{string, TState, T}, TState)"/>, and null when
    /// <paramref name="directory"/> is not a directory (or a link to one): the one <c>statx</c> answers
    /// both, where asking whether it is a directory and then <c>Get</c> would ask twice.
    /// </summary>
    public T? GetIfDirectory<T, TState>(string directory, string kind, Func<string, TState, T> read, TState state)
        where T : class =>
        TryStamp(Libc.AtFdCwd, directory, out var stamp) ? Get(directory, kind, stamp, read, state) : null;

    /// <summary>
    /// <paramref name="directory"/> held open (<c>O_PATH</c>) while it is the same one, so that what
    /// lies inside it is looked up from it: a component or two, not the whole path again (on a p5,
    /// fifteen components through each device's link into <c>/sys/devices</c>, for every file and
    /// directory of every walk). What <paramref name="read"/> makes of it is kept as by
    /// <see cref="GetIfDirectory{T, TState}(string, string, Func{string, TState, T}, TState)"/>. Null
    /// when it is not a directory. The descriptor stays open until a sweep finds it unused, or the
    /// directory at the path is another one (a device registered again).
    /// </summary>
    public (HeldDirectory Directory, T Value)? Hold<T, TState>(string directory, string kind, Func<string, TState, T> read, TState state)
        where T : class
    {
        if (!TryStamp(Libc.AtFdCwd, directory, out var stamp))
        {
            return null;
        }

        var kept = _usedHeld.TryGetValue(directory, out var held) || _held.Remove(directory, out held);
        if (kept && !held.Stamp.SameDirectory(stamp))
        {
            Libc.Close(held.Descriptor);
            _usedHeld.Remove(directory);
            kept = false;
        }

        if (!kept)
        {
            var fd = Libc.Open(directory, Libc.OPath | Libc.ODirectory | Libc.OCloExec);
            if (fd < 0)
            {
                return (new HeldDirectory(Libc.AtFdCwd, directory), Get(directory, kind, stamp, read, state));
            }

            // What the descriptor names, which a rename between the two calls could make another directory.
            if (!TryStamp(fd, "", out var opened, Libc.AtEmptyPath))
            {
                Libc.Close(fd);
                return null;
            }

            (held, stamp) = (new Held(fd, opened), opened);
        }

        _usedHeld[directory] = held;
        return (new HeldDirectory(held.Descriptor, directory), Get(directory, kind, stamp, read, state));
    }

    /// <summary>
    /// As <see cref="GetIfDirectory{T, TState}(string, string, Func{string, TState, T}, TState)"/> for
    /// <paramref name="relative"/> inside <paramref name="parent"/>, looked up from it.
    /// </summary>
    public T? GetIfDirectory<T, TState>(HeldDirectory parent, string relative, string kind, Func<string, TState, T> read, TState state)
        where T : class
    {
        var (at, lookup) = parent.Resolve(relative);
        return TryStamp(at, lookup, out var stamp) ? Get(Combine(parent.Path, relative), kind, stamp, read, state) : null;
    }

    private T Get<T, TState>(string directory, string kind, Stamp stamp, Func<string, TState, T> read, TState state)
        where T : class
    {
        var key = (directory, kind);
        if ((_used.TryGetValue(key, out var entry) || _entries.Remove(key, out entry)) && entry.Stamp == stamp && entry.Value is T kept)
        {
            _used[key] = entry;
            return kept;
        }

        var value = read(directory, state);
        var settled = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - _settleMs;
        if (stamp.ChangedMs < settled && stamp.ModifiedMs < settled)
        {
            _used[key] = new Entry(stamp, value);
        }
        else
        {
            _used.Remove(key);
        }

        return value;
    }

    /// <summary>
    /// <paramref name="directory"/>/<paramref name="name"/>, the same string on every walk that asks
    /// for it: a walk of an unchanged tree then builds no path.
    /// </summary>
    public string Combine(string directory, string name)
    {
        var key = (directory, name);
        if (!_usedPaths.TryGetValue(key, out var path))
        {
            if (!_paths.Remove(key, out path))
            {
                path = Path.Combine(directory, name);
            }

            _usedPaths[key] = path;
        }

        return path;
    }

    /// <summary>Forgets the listings and paths not asked for since the last sweep: directories that went away do not pile up.</summary>
    public void Sweep()
    {
        (_entries, _used) = (_used, _entries);
        _used.Clear();
        (_paths, _usedPaths) = (_usedPaths, _paths);
        _usedPaths.Clear();
        foreach (var held in _held.Values)
        {
            Libc.Close(held.Descriptor);
        }

        _held.Clear();
        (_held, _usedHeld) = (_usedHeld, _held);
    }

    /// <summary>Closes the directories held open.</summary>
    public void Dispose()
    {
        foreach (var held in _held.Values.Concat(_usedHeld.Values))
        {
            Libc.Close(held.Descriptor);
        }

        _held.Clear();
        _usedHeld.Clear();
    }

    private static unsafe bool TryStamp(int at, string directory, out Stamp stamp, int flags = 0)
    {
        var buffer = stackalloc byte[Libc.StatxSize];
        if (Libc.Statx(at, directory, flags, StatxWanted, buffer) != 0
            || (*(ushort*)(buffer + Libc.StatxModeOffset) & Libc.SIfMt) != Libc.SIfDir)
        {
            stamp = default;
            return false;
        }

        stamp = new Stamp(
            *(ulong*)(buffer + InoOffset),
            *(ulong*)(buffer + DevMajorOffset),
            Nanoseconds(buffer + BtimeOffset),
            Nanoseconds(buffer + CtimeOffset),
            Nanoseconds(buffer + MtimeOffset));
        return true;
    }

    /// <summary>A <c>struct statx_timestamp</c>: seconds (s64), then nanoseconds (u32).</summary>
    private static unsafe long Nanoseconds(byte* timestamp) => (*(long*)timestamp * 1_000_000_000) + *(uint*)(timestamp + 8);

    private readonly record struct Stamp(ulong Inode, ulong Device, long BornNs, long ChangedNs, long ModifiedNs)
    {
        /// <summary>The same directory, whatever was added to it or removed from it since.</summary>
        public bool SameDirectory(Stamp other) => Inode == other.Inode && Device == other.Device && BornNs == other.BornNs;

        public long ChangedMs => ChangedNs / 1_000_000;

        public long ModifiedMs => ModifiedNs / 1_000_000;
    }

    private readonly record struct Entry(Stamp Stamp, object Value);

    private readonly record struct Held(int Descriptor, Stamp Stamp);
}

/// <summary>
/// A directory held open by a <see cref="ListingCache"/>, to look up what lies inside it; valid until
/// the cache's next sweep but one. <see cref="Descriptor"/> is <c>AT_FDCWD</c> when it could not be
/// held: paths are then taken whole.
/// </summary>
/// <param name="Descriptor">The <c>O_PATH</c> descriptor, or <c>AT_FDCWD</c>.</param>
/// <param name="Path">The directory's path, for keys and messages.</param>
public readonly record struct HeldDirectory(int Descriptor, string Path)
{
    /// <summary>Where to look <paramref name="relative"/> up: from the descriptor, or as a whole path when none is held.</summary>
    public (int At, string Path) Resolve(string relative) =>
        Descriptor == Libc.AtFdCwd ? (Descriptor, System.IO.Path.Combine(Path, relative)) : (Descriptor, relative);
}

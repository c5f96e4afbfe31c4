using System.Globalization;
using EfaAgent.Collectors.Sysfs;

namespace EfaAgent.Agent.Doctor.Procfs;

/// <summary>A process as <c>/proc/&lt;pid&gt;/</c> describes it.</summary>
/// <param name="Pid">The process id.</param>
/// <param name="CommandLine">Its arguments joined by spaces (<c>cmdline</c>); the <c>comm</c> name in brackets when empty.</param>
/// <param name="Uid">Its real user id (<c>status</c>, <c>Uid:</c>); null when unknown.</param>
/// <param name="Started">When it started (<c>stat</c> field 22 after <c>btime</c> of <c>/proc/stat</c>); null when unknown.</param>
public sealed record ProcessInfo(int Pid, string CommandLine, uint? Uid, DateTimeOffset? Started)
{
    /// <summary>USER_HZ: the unit of <c>stat</c>'s start time, 100 on every Linux architecture the agent runs on.</summary>
    public const int ClockTicksPerSecond = 100;

    /// <summary>Reads process <paramref name="pid"/> under <paramref name="procfs"/>; fields that cannot be read are null or empty.</summary>
    public static ProcessInfo Read(string procfs, int pid)
    {
        var dir = Path.Combine(procfs, pid.ToString(CultureInfo.InvariantCulture));
        var cmdline = ReadAll(Path.Combine(dir, "cmdline"))?.Replace('\0', ' ').Trim() ?? "";
        var stat = ReadAll(Path.Combine(dir, "stat"));
        if (cmdline.Length == 0 && stat is not null && stat.IndexOf('(', StringComparison.Ordinal) is var open and >= 0 && stat.LastIndexOf(')') is var close && close > open)
        {
            cmdline = $"[{stat[(open + 1)..close]}]";
        }

        return new ProcessInfo(pid, cmdline, StatusUid(ReadAll(Path.Combine(dir, "status"))), StartTime(stat, ReadAll(Path.Combine(procfs, "stat"))));
    }

    /// <summary>The real uid from a <c>status</c> file's <c>Uid:</c> line (real, effective, saved, fs).</summary>
    public static uint? StatusUid(string? status)
    {
        foreach (var line in status?.Split('\n') ?? [])
        {
            if (line.StartsWith("Uid:", StringComparison.Ordinal))
            {
                var f = line[4..].Split(['\t', ' '], StringSplitOptions.RemoveEmptyEntries);
                return f.Length > 0 && uint.TryParse(f[0], NumberStyles.None, CultureInfo.InvariantCulture, out var uid) ? uid : null;
            }
        }

        return null;
    }

    /// <summary>
    /// The start time from <c>/proc/&lt;pid&gt;/stat</c> (field 22, clock ticks since boot, counted after the
    /// last <c>)</c> because the command name may hold spaces and parentheses) and <c>btime</c> of <c>/proc/stat</c>.
    /// </summary>
    public static DateTimeOffset? StartTime(string? pidStat, string? procStat)
    {
        var close = pidStat?.LastIndexOf(')') ?? -1;
        if (pidStat is null || close < 0 || procStat is null)
        {
            return null;
        }

        // Fields after ")" start with field 3 (state): field 22 is the 20th of them.
        var after = pidStat[(close + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
        if (after.Length < 20 || !ulong.TryParse(after[19], NumberStyles.None, CultureInfo.InvariantCulture, out var ticks))
        {
            return null;
        }

        foreach (var line in procStat.Split('\n'))
        {
            if (line.StartsWith("btime ", StringComparison.Ordinal) && long.TryParse(line.AsSpan(6).Trim(), NumberStyles.None, CultureInfo.InvariantCulture, out var boot))
            {
                return DateTimeOffset.FromUnixTimeSeconds(boot + (long)(ticks / ClockTicksPerSecond));
            }
        }

        return null;
    }

    /// <summary>The name of <paramref name="uid"/> in an <c>/etc/passwd</c> text; null when absent.</summary>
    public static string? UserName(string? passwd, uint uid)
    {
        var id = uid.ToString(CultureInfo.InvariantCulture);
        foreach (var line in passwd?.Split('\n') ?? [])
        {
            var f = line.Split(':');
            if (f.Length > 2 && f[2] == id)
            {
                return f[0];
            }
        }

        return null;
    }

    /// <summary>
    /// The most a file the doctor reads may hold: <c>/proc/net/tcp</c> of a node with a few hundred
    /// thousand sockets stays well under it.
    /// </summary>
    public const int MaxFileBytes = 64 << 20;

    /// <summary>
    /// A whole procfs file (their sizes read 0, so read to the end), read the way the agent reads its
    /// files: regular files only, never blocking, bounded; null when it cannot be read.
    /// </summary>
    public static string? ReadAll(string path)
    {
        try
        {
            return RegularFile.ReadAllText(path, MaxFileBytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return null;
        }
    }
}

using System.Globalization;

namespace EfaAgent.Agent.Doctor.Procfs;

/// <summary>One resource limit of <c>/proc/&lt;pid&gt;/limits</c>: soft and hard, null meaning unlimited.</summary>
/// <param name="Soft">The soft limit (what applies now); null for unlimited.</param>
/// <param name="Hard">The hard limit (how far the process may raise it); null for unlimited.</param>
public sealed record ResourceLimit(ulong? Soft, ulong? Hard);

/// <summary>
/// Parses <c>/proc/&lt;pid&gt;/limits</c> (fs/proc/base.c <c>proc_pid_limits</c>): a header, then one line per
/// limit, <c>Max locked memory  8388608  8388608  bytes</c>, the name padded to 25 columns.
/// </summary>
public static class ProcLimits
{
    /// <summary>The <c>RLIMIT_MEMLOCK</c> line's name.</summary>
    public const string LockedMemory = "Max locked memory";

    /// <summary>The limit named <paramref name="name"/> in <paramref name="text"/>; null when absent or malformed.</summary>
    public static ResourceLimit? Find(string text, string name)
    {
        foreach (var line in text.Split('\n'))
        {
            if (!line.StartsWith(name, StringComparison.Ordinal))
            {
                continue;
            }

            var fields = line[name.Length..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (fields.Length < 2 || !TryValue(fields[0], out var soft) || !TryValue(fields[1], out var hard))
            {
                return null;
            }

            return new ResourceLimit(soft, hard);
        }

        return null;
    }

    private static bool TryValue(string text, out ulong? value)
    {
        if (text == "unlimited")
        {
            value = null;
            return true;
        }

        var ok = ulong.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var v);
        value = v;
        return ok;
    }
}

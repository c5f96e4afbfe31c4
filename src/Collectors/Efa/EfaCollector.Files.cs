using EfaAgent.Collectors.Parsing;
using EfaAgent.Collectors.Sysfs;

namespace EfaAgent.Collectors.Efa;

/// <summary>The EFA collector's counter files: opening, re-opening, and the descriptor budget they live within.</summary>
public sealed partial class EfaCollector
{
    /// <summary>
    /// Re-opens every counter whose last read failed. After a driver reload the device keeps its name
    /// and files, so discovery sees no change, but the old descriptors answer ENODEV for good; a fresh
    /// open reaches the new attribute. A file that still cannot be opened stays unavailable.
    /// </summary>
    /// <remarks>Counting the open files takes a walk over every counter: done only when there is something to re-open.</remarks>
    private void ReopenFailed()
    {
        if (_fast.AnyFailed || _slow.AnyFailed)
        {
            _slow.ReopenFailed(_fast.ReopenFailed(FileBudget() - OpenFiles));
        }
    }

    /// <summary>
    /// How many counter files may be held open: the soft open-file limit less what the rest of the
    /// process needs and the device directories discovery holds. Past it a counter is not opened (and
    /// named unavailable): a node with more counters than descriptors must not leave the runtime and
    /// the HTTP server without any.
    /// </summary>
    private long FileBudget()
    {
        var soft = FileLimit.Soft;
        return soft >= long.MaxValue ? long.MaxValue : (long)soft - FileLimit.Reserve - _listings.HeldCount;
    }

    private static string NoDescriptorLeft(string path) =>
        $"{path}: not opened: the open-file limit of {FileLimit.Soft} (RLIMIT_NOFILE, {FileLimit.Reserve} kept for the rest of the agent) is used up";

    private EfaCounter Take(Dictionary<string, EfaCounter> old, string path, string device, string port, string name)
    {
        if (old.TryGetValue(path, out var existing) && existing.File is not null)
        {
            _fileBudget--;
            return existing;
        }

        var c = existing ?? new EfaCounter(path, device, port, name);
        string? error = null;
        if (_fileBudget > 0 && CounterFile.TryOpen(path, out var file, out error))
        {
            c.File = file;
            _fileBudget--;
        }
        else
        {
            c.Status = CounterStatus.ReadError;
            _unavailable.Set(device, port, name, CounterParser.Describe(CounterStatus.ReadError), error ?? NoDescriptorLeft(path));
        }

        return c;
    }
}

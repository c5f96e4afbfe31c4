using System.Globalization;
using System.Text;

namespace EfaAgent.Tests.Top;

/// <summary>
/// Moves counters of a copied fixture tree while an agent reads it: every 100 ms it sets EFA
/// <c>hw_counters</c> files and interfaces' byte columns of <c>proc/net/dev</c> to their starting value
/// plus a per-second rate times the time elapsed (so a late wake-up on a busy machine does not change
/// the rate), rewriting the files in place (the agent keeps them open).
/// </summary>
public sealed class CounterFeeder : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly Thread _thread;
    private readonly List<(string Path, ulong Start, double PerSecond)> _files = [];
    private readonly System.Diagnostics.Stopwatch _clock = System.Diagnostics.Stopwatch.StartNew();
    private readonly string? _netDevStart;
    private readonly Dictionary<string, (double Rx, double Tx)> _interfaces = new(StringComparer.Ordinal);
    private readonly string? _netDev;

    /// <summary>Feeds the tree under <paramref name="root"/> (holding sys/ and proc/).</summary>
    public CounterFeeder(string root, IEnumerable<(string Device, string Counter, double PerSecond)> efa, IEnumerable<(string Device, double RxPerSecond, double TxPerSecond)> interfaces)
    {
        foreach (var (device, counter, rate) in efa)
        {
            var path = Path.Combine(root, "sys", "class", "infiniband", device, "ports", "1", "hw_counters", counter);
            _files.Add((path, ulong.Parse(File.ReadAllText(path).Trim(), CultureInfo.InvariantCulture), rate));
        }

        foreach (var (device, rx, tx) in interfaces)
        {
            _interfaces[device] = (rx, tx);
            _netDev = Path.Combine(root, "proc", "net", "dev");
            _netDevStart = File.ReadAllText(_netDev);
        }

        _thread = new Thread(Run) { IsBackground = true, Name = "counter-feeder" };
        _thread.Start();
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _stop.Cancel();
        _thread.Join();
        _stop.Dispose();
    }

    private void Run()
    {
        while (!_stop.Token.WaitHandle.WaitOne(100))
        {
            var seconds = _clock.Elapsed.TotalSeconds;
            foreach (var (path, start, rate) in _files)
            {
                Rewrite(path, $"{(start + (ulong)(rate * seconds)).ToString(CultureInfo.InvariantCulture)}\n");
            }

            if (_netDev is not null)
            {
                Rewrite(_netDev, NetDev(_netDevStart!, seconds));
            }
        }
    }

    private string NetDev(string text, double seconds)
    {
        var s = new StringBuilder();
        foreach (var line in text.Split('\n'))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && _interfaces.TryGetValue(line[..colon].Trim(), out var rate))
            {
                var fields = line[(colon + 1)..].Split(' ', StringSplitOptions.RemoveEmptyEntries);
                fields[0] = (ulong.Parse(fields[0], CultureInfo.InvariantCulture) + (ulong)(rate.Rx * seconds)).ToString(CultureInfo.InvariantCulture);
                fields[8] = (ulong.Parse(fields[8], CultureInfo.InvariantCulture) + (ulong)(rate.Tx * seconds)).ToString(CultureInfo.InvariantCulture);
                s.Append(line[..(colon + 1)]).Append(' ').Append(string.Join(' ', fields)).Append('\n');
            }
            else if (line.Length > 0)
            {
                s.Append(line).Append('\n');
            }
        }

        return s.ToString();
    }

    /// <summary>Rewrites the file in place (same inode), as the kernel's files change under a kept-open handle.</summary>
    private static void Rewrite(string path, string text)
    {
        using var f = new FileStream(path, FileMode.Open, FileAccess.Write, FileShare.ReadWrite);
        var bytes = Encoding.ASCII.GetBytes(text);
        f.Write(bytes);
        f.SetLength(bytes.Length);
    }
}

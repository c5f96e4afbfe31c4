using System.Globalization;

namespace EfaAgent.Agent.Jobs;

/// <summary>One node of a job.</summary>
/// <param name="Host">A host name or address (an IPv6 address without brackets).</param>
/// <param name="Port">The port given with it on a command line (<c>HOST:PORT</c>), else null.</param>
/// <param name="Slots">The slot count of a host file line (<c>slots=8</c>, or MPICH's <c>host:8</c>), else null.</param>
public sealed record JobHost(string Host, int? Port, int? Slots)
{
    /// <summary>The host as it goes into a URL: IPv6 addresses in brackets.</summary>
    public string UrlHost => Host.Contains(':', StringComparison.Ordinal) ? $"[{Host}]" : Host;

    /// <summary>The host and port as people write them.</summary>
    public string Display(int defaultPort) => $"{UrlHost}:{Port ?? defaultPort}";
}

/// <summary>The hosts read from a host file, or what was wrong with it.</summary>
public sealed record HostFileResult(IReadOnlyList<JobHost> Hosts, string? Error);

/// <summary>
/// The host file of <c>mpirun</c> (Open MPI: <c>host slots=8 max_slots=8</c>), MPICH and Intel MPI
/// (<c>host:8</c>, the number a slot count) and DeepSpeed (<c>host slots=8</c>): one host per line,
/// <c>#</c> comments, blank lines. A host named twice is one node whose slots add up, as mpirun counts
/// them. Other <c>key=value</c> options of a line are mpirun's business and are ignored.
/// </summary>
public static class HostFile
{
    /// <summary>A host file larger than this is not a host file.</summary>
    public const int MaxBytes = 1 << 20;

    /// <summary>Parses host file text; the error names the line.</summary>
    public static HostFileResult Parse(string text)
    {
        ArgumentNullException.ThrowIfNull(text);
        var hosts = new List<JobHost>();
        var lineNumber = 0;
        foreach (var rawLine in text.Split('\n'))
        {
            lineNumber++;
            var hash = rawLine.IndexOf('#', StringComparison.Ordinal);
            var line = (hash >= 0 ? rawLine[..hash] : rawLine).Trim();
            if (line.Length == 0)
            {
                continue;
            }

            var tokens = line.Split([' ', '\t', '\r'], StringSplitOptions.RemoveEmptyEntries);
            if (!TrySplitHostFileHost(tokens[0], out var host, out var slots, out var error))
            {
                return Fail(lineNumber, error);
            }

            foreach (var token in tokens.Skip(1))
            {
                var eq = token.IndexOf('=', StringComparison.Ordinal);
                if (eq <= 0)
                {
                    return Fail(lineNumber, $"expected key=value after the host, got '{token}'");
                }

                if (token[..eq] == "slots")
                {
                    if (!TryPositive(token[(eq + 1)..], out var n))
                    {
                        return Fail(lineNumber, $"slots must be a positive whole number, got '{token[(eq + 1)..]}'");
                    }

                    slots = n;
                }
            }

            var existing = hosts.FindIndex(h => string.Equals(h.Host, host, StringComparison.OrdinalIgnoreCase));
            if (existing >= 0)
            {
                var before = hosts[existing];
                hosts[existing] = before with { Slots = before.Slots is null && slots is null ? null : (before.Slots ?? 1) + (slots ?? 1) };
            }
            else
            {
                hosts.Add(new JobHost(host, null, slots));
            }
        }

        return new HostFileResult(hosts, null);
    }

    /// <summary>Reads and parses the host file at <paramref name="path"/>; never throws for a bad file.</summary>
    public static HostFileResult Load(string path)
    {
        try
        {
            var info = new FileInfo(path);
            if (!info.Exists)
            {
                return new HostFileResult([], $"host file {path}: no such file");
            }

            using var stream = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite, 4096, FileOptions.None);
            var buffer = new byte[MaxBytes + 1];
            var total = 0;
            int read;
            while (total < buffer.Length && (read = stream.Read(buffer, total, buffer.Length - total)) > 0)
            {
                total += read;
            }

            if (total > MaxBytes)
            {
                return new HostFileResult([], $"host file {path}: larger than {MaxBytes} bytes");
            }

            var result = Parse(System.Text.Encoding.UTF8.GetString(buffer, 0, total));
            return result.Error is null ? result : result with { Error = $"host file {path}: {result.Error}" };
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new HostFileResult([], $"host file {path}: {e.Message}");
        }
    }

    /// <summary>
    /// Parses a command-line target: <c>HOST</c>, <c>HOST:PORT</c>, <c>[IPV6]:PORT</c>, <c>[IPV6]</c>, or a
    /// bare IPv6 address.
    /// </summary>
    public static bool TryParseTarget(string text, out JobHost host, out string? error)
    {
        host = new JobHost("", null, null);
        error = null;
        if (string.IsNullOrWhiteSpace(text))
        {
            error = "empty host";
            return false;
        }

        string name;
        string? portText = null;
        if (text.StartsWith('['))
        {
            var close = text.IndexOf(']', StringComparison.Ordinal);
            if (close < 0 || (close + 1 < text.Length && text[close + 1] != ':'))
            {
                error = $"'{text}' is not [IPV6] or [IPV6]:PORT";
                return false;
            }

            name = text[1..close];
            portText = close + 1 < text.Length ? text[(close + 2)..] : null;
        }
        else if (text.Count(c => c == ':') == 1)
        {
            var colon = text.IndexOf(':', StringComparison.Ordinal);
            name = text[..colon];
            portText = text[(colon + 1)..];
        }
        else
        {
            name = text;
        }

        if (!ValidHost(name))
        {
            error = $"'{name}' is not a host name or address";
            return false;
        }

        int? port = null;
        if (portText is not null)
        {
            if (!TryPositive(portText, out var p) || p > 65535)
            {
                error = $"'{portText}' is not a port (1-65535) in '{text}'";
                return false;
            }

            port = p;
        }

        host = new JobHost(name, port, null);
        return true;
    }

    private static bool TrySplitHostFileHost(string token, out string host, out int? slots, out string error)
    {
        host = token;
        slots = null;
        error = "";
        if (token.StartsWith('['))
        {
            if (!TryParseTarget(token, out var bracketed, out var e))
            {
                error = e!;
                return false;
            }

            host = bracketed.Host;
            slots = bracketed.Port;
            return true;
        }

        if (token.Count(c => c == ':') == 1)
        {
            var colon = token.IndexOf(':', StringComparison.Ordinal);
            if (!TryPositive(token[(colon + 1)..], out var n))
            {
                error = $"the slot count after ':' must be a positive whole number, got '{token[(colon + 1)..]}'";
                return false;
            }

            host = token[..colon];
            slots = n;
        }

        if (!ValidHost(host))
        {
            error = $"'{host}' is not a host name or address";
            return false;
        }

        return true;
    }

    private static bool ValidHost(string name) =>
        name.Length is > 0 and <= 253 && Uri.CheckHostName(name) != UriHostNameType.Unknown;

    private static bool TryPositive(string text, out int value) =>
        int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out value) && value > 0;

    private static HostFileResult Fail(int line, string error) => new([], $"line {line}: {error}");
}

using System.Globalization;
using System.Text;
using EfaAgent.Collectors.Interop;
using Microsoft.Extensions.Logging;

namespace EfaAgent.Collectors.Gpu;

/// <summary>One <c>NVRM: Xid</c> line of the kernel log.</summary>
/// <param name="DeviceKey">The GPU's PCI domain:bus:device (<see cref="GpuPci.DeviceKey"/>).</param>
/// <param name="Xid">The code.</param>
/// <param name="Message">The line from <c>NVRM:</c> on, as the driver wrote it.</param>
internal readonly record struct KernelXid(string DeviceKey, ulong Xid, string Message);

/// <summary>
/// Reads the NVIDIA driver's <c>NVRM: Xid (PCI:0000:3b:00): 79, ...</c> lines from the kernel log
/// (<c>/dev/kmsg</c>, or the configured path), from its end at the time it opened: Xids NVML does not
/// deliver as events (79 fallen off the bus, 119/120 GSP) are there. Polled without blocking; nothing
/// new costs one <c>read()</c> and no allocation.
/// </summary>
internal sealed class KernelXidReader : IDisposable
{
    private const int BufferSize = 8192;
    private static readonly byte[] Marker = "NVRM: Xid (PCI:"u8.ToArray();

    private readonly string _path;
    private readonly ILogger _logger;
    private readonly byte[] _buffer = new byte[BufferSize];
    private readonly byte[] _partial = new byte[BufferSize];
    private int _partialLength;
    private KernelLogFile? _file;
    private int _lastOpenError = -1;
    private bool _loggedGarbage;

    /// <summary>Reads <paramref name="path"/> once <see cref="Poll"/> opens it.</summary>
    public KernelXidReader(string path, ILogger logger)
    {
        _path = path;
        _logger = logger;
    }

    /// <summary>Whether the log is open.</summary>
    public bool IsOpen => _file is not null;

    /// <summary>NVRM Xid lines that could not be read (no PCI address or no code).</summary>
    public long Unparsable { get; private set; }

    /// <summary>Times the kernel overwrote records before they were read.</summary>
    public long Overruns => _file?.Overruns ?? 0;

    /// <summary>Opens the log when it is not open (logging a failure once per distinct error).</summary>
    public bool TryOpen()
    {
        if (_file is not null)
        {
            return true;
        }

        _file = KernelLogFile.Open(_path, out var error);
        if (_file is not null)
        {
            _logger.LogInformation("reading Xid lines of the kernel log from {Path}", _path);
            _lastOpenError = 0;
            return true;
        }

        if (error != _lastOpenError)
        {
            _logger.LogWarning("cannot read the kernel log {Path} (errno {Errno}{Hint}): Xids that NVML does not deliver (79, 119, 120) are not counted; retried on the slow cadence",
                _path, error, error is 1 or 13 ? ": the agent needs CAP_SYSLOG where kernel.dmesg_restrict=1" : "");
            _lastOpenError = error;
        }

        return false;
    }

    /// <summary>Reads everything new and hands each Xid line to <paramref name="onXid"/>.</summary>
    public void Poll<TState>(TState state, Action<TState, KernelXid> onXid)
    {
        var file = _file;
        if (file is null)
        {
            return;
        }

        while (true)
        {
            var n = file.Read(_buffer, out var error);
            if (n < 0)
            {
                _logger.LogWarning("reading the kernel log {Path} failed (errno {Errno}); reopened on the slow cadence", _path, error);
                Close();
                return;
            }

            if (n == 0)
            {
                return;
            }

            Split(_buffer.AsSpan(0, n), state, onXid);
        }
    }

    /// <inheritdoc />
    public void Dispose() => Close();

    /// <summary>The Xid of one line, or null when the line is not an NVRM Xid line (or is one that cannot be read).</summary>
    internal static KernelXid? Parse(ReadOnlySpan<byte> line, out bool garbage)
    {
        garbage = false;
        var at = line.IndexOf(Marker);
        if (at < 0)
        {
            return null;
        }

        var text = Encoding.UTF8.GetString(line[(at + "NVRM: ".Length)..]).TrimEnd();
        var rest = line[(at + Marker.Length)..];
        var close = rest.IndexOf("): "u8);
        var key = close > 0 ? GpuPci.DeviceKey(Encoding.ASCII.GetString(rest[..close])) : null;
        var codeText = close > 0 ? rest[(close + 3)..] : default;
        var digits = codeText.IndexOfAnyExceptInRange((byte)'0', (byte)'9');
        var code = digits < 0 ? codeText : codeText[..digits];
        if (key is null || code.IsEmpty || !ulong.TryParse(Encoding.ASCII.GetString(code), NumberStyles.None, CultureInfo.InvariantCulture, out var xid))
        {
            garbage = true;
            return null;
        }

        return new KernelXid(key, xid, text);
    }

    private void Split<TState>(ReadOnlySpan<byte> data, TState state, Action<TState, KernelXid> onXid)
    {
        while (!data.IsEmpty)
        {
            var nl = data.IndexOf((byte)'\n');
            if (nl < 0)
            {
                // Part of a line (a file being written): kept for the next read.
                var take = Math.Min(data.Length, _partial.Length - _partialLength);
                data[..take].CopyTo(_partial.AsSpan(_partialLength));
                _partialLength += take;
                return;
            }

            if (_partialLength > 0)
            {
                var take = Math.Min(nl, _partial.Length - _partialLength);
                data[..take].CopyTo(_partial.AsSpan(_partialLength));
                Line(_partial.AsSpan(0, _partialLength + take), state, onXid);
                _partialLength = 0;
            }
            else
            {
                Line(data[..nl], state, onXid);
            }

            data = data[(nl + 1)..];
        }
    }

    private void Line<TState>(ReadOnlySpan<byte> line, TState state, Action<TState, KernelXid> onXid)
    {
        if (Parse(line, out var garbage) is { } xid)
        {
            onXid(state, xid);
        }
        else if (garbage)
        {
            Unparsable++;
            if (!_loggedGarbage)
            {
                _logger.LogWarning("an NVRM Xid line of the kernel log has no PCI address or code and is not counted: {Line}", Encoding.UTF8.GetString(line).Trim());
                _loggedGarbage = true;
            }
        }
    }

    private void Close()
    {
        _file?.Dispose();
        _file = null;
        _partialLength = 0;
    }
}

using System.Text;
using System.Text.RegularExpressions;
using EfaAgent.Collectors.Derive;
using EfaAgent.Collectors.Model;
using EfaAgent.Collectors.Parsing;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;

namespace EfaAgent.Collectors.NetDev;

/// <summary>Settings of the netdev collector.</summary>
/// <param name="ProcfsRoot">The procfs mount (<c>/proc</c>, or a fixture tree).</param>
/// <param name="DeviceInclude">Only interfaces whose whole name matches are exported; null for all.</param>
/// <param name="DeviceExclude">Interfaces whose whole name matches are not exported; null for none.</param>
/// <param name="SampleInterval">The fast-lane interval, used to size the peak windows.</param>
/// <param name="BurstWindow">How far back the peak throughput looks.</param>
public sealed record NetDevCollectorOptions(
    string ProcfsRoot, Regex? DeviceInclude, Regex? DeviceExclude, TimeSpan SampleInterval, TimeSpan BurstWindow);

/// <summary>
/// Exports the 16 counters of every interface in <c>&lt;procfs&gt;/net/dev</c>, with the peak receive
/// and transmit throughput over a trailing window. EFA traffic is OS-bypass and never shows here: on
/// an EFA node these are the TCP/IP bytes (rendezvous, bootstrap, or a job that fell back to sockets).
/// The file is opened once and re-read with pread at offset 0 into a reused buffer.
/// </summary>
public sealed class NetDevCollector : ICollector
{
    /// <summary>The collector name.</summary>
    public const string CollectorName = "netdev";

    /// <summary>The longest interface name the kernel allows (IFNAMSIZ - 1).</summary>
    public const int MaxNameLength = 15;

    /// <summary>
    /// The largest <c>/proc/net/dev</c> read: ~130 bytes a line, so room for some 30,000 interfaces.
    /// A larger file is not /proc/net/dev (a path pointed at something else) and is refused.
    /// </summary>
    public const int MaxFileBytes = 4 * 1024 * 1024;

    /// <summary>The reason given for an interface whose name is longer than the kernel allows.</summary>
    public const string NameTooLong = "name_too_long";

    private static readonly MetricFamily[] Families = ProcNetDevParser.FieldNames
        .Select(f => new MetricFamily($"netdev_{f}_total", $"Interface counter {f.Replace('_', ' ')} from /proc/net/dev.", MetricType.Counter, "device"))
        .ToArray();

    private static readonly MetricFamily ReceivePeak = new(
        "netdev_receive_peak_bytes_per_second",
        "Highest receive throughput of the interface between two samples over the trailing burst window.",
        MetricType.Gauge, "device");

    private static readonly MetricFamily TransmitPeak = new(
        "netdev_transmit_peak_bytes_per_second",
        "Highest transmit throughput of the interface between two samples over the trailing burst window.",
        MetricType.Gauge, "device");

    private readonly NetDevCollectorOptions _options;
    private readonly ILogger _logger;
    private readonly UnavailableSeries _unavailable;
    private readonly FrameState _frame = new();
    private readonly ulong[] _fields = new ulong[ProcNetDevParser.FieldCount];
    private readonly HashSet<string> _filteredOut = new(StringComparer.Ordinal);
    private readonly HashSet<string>.AlternateLookup<ReadOnlySpan<char>> _filteredOutLookup;
    private Dictionary<string, Iface> _ifaces = new(StringComparer.Ordinal);
    private Dictionary<string, Iface>.AlternateLookup<ReadOnlySpan<char>> _lookup;
    private byte[] _buffer = new byte[16 * 1024];
    private SafeFileHandle? _handle;
    private int _namelessBadLines;
    private int _tooLongNames;
    private bool _relayout;

    // What each interface line held on the last tick, by position: the kernel writes them in the same
    // order every time, so a line is matched to its interface by comparing bytes, not by a lookup.
    private Row[] _rows = [];

    /// <summary>Creates the collector; nothing is read until <see cref="Discover"/>.</summary>
    public NetDevCollector(NetDevCollectorOptions options, ILogger logger)
    {
        _options = options;
        FilePath = Path.Combine(options.ProcfsRoot, "net", "dev");
        _logger = logger;
        _unavailable = new UnavailableSeries(CollectorName, logger);
        _lookup = _ifaces.GetAlternateLookup<ReadOnlySpan<char>>();
        _filteredOutLookup = _filteredOut.GetAlternateLookup<ReadOnlySpan<char>>();
    }

    /// <summary>The path read.</summary>
    public string FilePath { get; }

    /// <inheritdoc />
    public string Name => CollectorName;

    /// <inheritdoc />
    public bool NeedsDiscovery => _handle is null;

    /// <inheritdoc />
    public Frame Frame => _frame.Frame;

    /// <inheritdoc />
    public int DeviceCount => _ifaces.Count;

    /// <summary>Opens the file if it is not open yet; the interface set itself is followed on every tick.</summary>
    public void Discover()
    {
        if (_handle is not null)
        {
            return;
        }

        try
        {
            _handle = Sysfs.RegularFile.Open(FilePath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new IOException($"cannot open {FilePath}: {e.Message}", e);
        }
    }

    /// <inheritdoc />
    public void Sample(long timestamp)
    {
        if (_handle is null)
        {
            throw new InvalidOperationException($"{FilePath} is not open");
        }

        var length = Sysfs.RegularFile.ReadAll(_handle, ref _buffer, MaxFileBytes, FilePath);
        var text = _buffer.AsSpan(0, length);
        Parse(text, timestamp);
        if (_relayout)
        {
            // The set of interfaces changed: lay out again, then parse the same read into the new
            // layout, so that a new interface's first exported value is its real one, never 0.
            Relayout(text);
            Parse(text, timestamp);
        }

        _frame.SyncUnavailable(_unavailable);
    }

    private void Parse(ReadOnlySpan<byte> text, long timestamp)
    {
        var values = _frame.Values;
        var seen = 0;
        var nameless = 0;
        var tooLong = 0;
        Span<char> nameChars = stackalloc char[64];
        var lineNo = 0;
        var row = 0;
        foreach (var range in text.Split((byte)'\n'))
        {
            var line = text[range];
            if (lineNo++ < ProcNetDevParser.HeaderLines || line.Trim(" \t\r"u8).IsEmpty)
            {
                continue;
            }

            var r = row++;
            var error = ProcNetDevParser.TryParseLine(line, out var nameBytes, _fields);
            if (nameBytes.IsEmpty)
            {
                nameless++;
                continue;
            }

            if (nameBytes.Length > MaxNameLength)
            {
                tooLong++; // named in efa_agent_unavailable by the relayout, once
                continue;
            }

            Iface? iface;
            if (r < _rows.Length && _rows[r].Name is { } known && nameBytes.SequenceEqual(known))
            {
                iface = _rows[r].Iface; // the same interface on the same line as on the last tick
            }
            else
            {
                var name = nameChars[..Encoding.ASCII.GetChars(nameBytes, nameChars)];
                if (!_lookup.TryGetValue(name, out iface) && !_filteredOutLookup.Contains(name))
                {
                    _relayout = true; // a new interface
                    continue;
                }

                if (r >= _rows.Length)
                {
                    Array.Resize(ref _rows, Math.Max(r + 1, _rows.Length * 2));
                }

                _rows[r] = new Row(nameBytes.ToArray(), iface);
            }

            if (iface is null)
            {
                continue; // filtered out
            }

            seen++;
            if (error == NetDevLineError.None)
            {
                for (var i = 0; i < ProcNetDevParser.FieldCount; i++)
                {
                    var delta = iface.States[i].Update(_fields[i]);
                    if (i == ProcNetDevParser.ReceiveBytes)
                    {
                        values[iface.ReceivePeakSlot] = iface.ReceivePeak.Add(timestamp, delta);
                    }
                    else if (i == ProcNetDevParser.TransmitBytes)
                    {
                        values[iface.TransmitPeakSlot] = iface.TransmitPeak.Add(timestamp, delta);
                    }

                    values[iface.Slot + i] = iface.States[i].Value;
                }
            }
            else
            {
                values.AsSpan(iface.Slot, ProcNetDevParser.FieldCount).Fill(double.NaN);
                values[iface.ReceivePeakSlot] = double.NaN;
                values[iface.TransmitPeakSlot] = double.NaN;
            }

            if (error != iface.Status)
            {
                if (error == NetDevLineError.None)
                {
                    _unavailable.Clear(iface.Name, "", "*");
                }
                else
                {
                    _unavailable.Set(iface.Name, "", "*", ProcNetDevParser.Describe(error), $"{FilePath}: line \"{Encoding.ASCII.GetString(line).Trim()}\"");
                }

                iface.Status = error;
            }
        }

        if (nameless != _namelessBadLines)
        {
            if (nameless == 0)
            {
                _unavailable.Clear("", "", "line");
            }
            else
            {
                _unavailable.Set("", "", "line", ProcNetDevParser.Describe(NetDevLineError.MissingColon), $"{FilePath}: {nameless} line(s) without an interface name");
            }

            _namelessBadLines = nameless;
        }

        if (seen != _ifaces.Count || tooLong != _tooLongNames)
        {
            _relayout = true; // an interface went away, or one with too long a name came or went
            _tooLongNames = tooLong;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _handle?.Dispose();
        _handle = null;
    }

    private void Relayout(ReadOnlySpan<byte> text)
    {
        _relayout = false;
        var names = new List<string>();
        var lineNo = 0;
        foreach (var range in text.Split((byte)'\n'))
        {
            var line = text[range];
            if (lineNo++ < ProcNetDevParser.HeaderLines)
            {
                continue;
            }

            ProcNetDevParser.TryParseLine(line, out var nameBytes, _fields);
            if (!nameBytes.IsEmpty)
            {
                names.Add(Encoding.ASCII.GetString(nameBytes));
            }
        }

        var old = _ifaces;
        var ifaces = new Dictionary<string, Iface>(StringComparer.Ordinal);
        var b = new LayoutBuilder();
        _filteredOut.Clear();
        var tooLong = new HashSet<string>(StringComparer.Ordinal);
        foreach (var name in names.Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal))
        {
            if (name.Length > MaxNameLength)
            {
                tooLong.Add(name);
                _unavailable.Set(name, "", "*", NameTooLong, $"{FilePath}: the kernel allows interface names of at most {MaxNameLength} characters");
                continue;
            }

            if (!Included(name))
            {
                _filteredOut.Add(name);
                continue;
            }

            if (!old.TryGetValue(name, out var iface))
            {
                iface = new Iface(name, _options);
                _logger.LogInformation("exporting interface {Device}", name);
            }

            iface.Slot = b.Count;
            foreach (var family in Families)
            {
                b.Add(family, name);
            }

            iface.ReceivePeakSlot = b.Add(ReceivePeak, name);
            iface.TransmitPeakSlot = b.Add(TransmitPeak, name);
            ifaces[name] = iface;
        }

        foreach (var name in old.Keys.Where(n => !ifaces.ContainsKey(n)))
        {
            _logger.LogInformation("interface {Device} went away", name);
        }

        _unavailable.RemoveWhere((d, _, c) => c == "*" && !ifaces.ContainsKey(d) && !tooLong.Contains(d));
        _ifaces = ifaces;
        _lookup = ifaces.GetAlternateLookup<ReadOnlySpan<char>>();
        Array.Clear(_rows);
        _frame.SetBase(b, _unavailable);
    }

    private bool Included(string name) =>
        (_options.DeviceInclude is null || _options.DeviceInclude.IsMatch(name))
        && (_options.DeviceExclude is null || !_options.DeviceExclude.IsMatch(name));

    /// <summary>A line's interface name, and its interface (null: filtered out).</summary>
    private readonly record struct Row(byte[] Name, Iface? Iface);

    private sealed class Iface(string name, NetDevCollectorOptions options)
    {
        public string Name { get; } = name;

        public CounterState[] States { get; } = new CounterState[ProcNetDevParser.FieldCount];

        public PeakWindow ReceivePeak { get; } = new(options.BurstWindow, options.SampleInterval);

        public PeakWindow TransmitPeak { get; } = new(options.BurstWindow, options.SampleInterval);

        public int Slot { get; set; }

        public int ReceivePeakSlot { get; set; }

        public int TransmitPeakSlot { get; set; }

        public NetDevLineError Status { get; set; }
    }
}

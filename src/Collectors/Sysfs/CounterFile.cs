using EfaAgent.Collectors.Parsing;
using Microsoft.Win32.SafeHandles;

namespace EfaAgent.Collectors.Sysfs;

/// <summary>
/// One counter attribute, opened once and re-read with <c>pread(fd, buf, n, 0)</c> on every tick.
/// Sysfs sizes lie (a stat says 4096 or 0, a read returns ~10 bytes), so the file is read into a small
/// fixed buffer, never by its size. A plain read after EOF would return 0 bytes: pread at offset 0
/// returns a fresh value every time.
/// </summary>
public sealed class CounterFile : IDisposable
{
    /// <summary>Big enough for any <c>"%llu\n"</c> and for the <c>N/A (no PMA)</c> text.</summary>
    public const int BufferSize = 64;

    private readonly SafeFileHandle _handle;

    private CounterFile(string path, SafeFileHandle handle)
    {
        Path = path;
        _handle = handle;
        Descriptor = (int)handle.DangerousGetHandle();
    }

    /// <summary>The path the file was opened at.</summary>
    public string Path { get; }

    /// <summary>
    /// The raw descriptor, for a sampler that reads hundreds of files per tick with
    /// <see cref="Read(int, Span{byte}, out ulong)"/>: no reference count per read. Valid until
    /// <see cref="Dispose"/>, which only the thread that reads may call.
    /// </summary>
    public int Descriptor { get; }

    /// <summary>
    /// Opens a counter file without blocking; returns false (and the reason) when it cannot be opened or
    /// is not a regular file (a FIFO, a directory): sysfs attributes always are.
    /// </summary>
    public static bool TryOpen(string path, out CounterFile? file, out string? error)
    {
        try
        {
            var handle = RegularFile.Open(path);
            file = new CounterFile(path, handle);
            error = null;
            return true;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            file = null;
            error = e.Message;
            return false;
        }
    }

    /// <summary>
    /// Reads and parses the current value of the counter open at <paramref name="descriptor"/>.
    /// Never throws for I/O or content problems: ENODEV/ENOENT after a device went away and EIO from a
    /// failing driver are <see cref="CounterStatus.ReadError"/>.
    /// </summary>
    /// <param name="descriptor">A descriptor from <see cref="Descriptor"/>.</param>
    /// <param name="buffer">Scratch space of at least <see cref="BufferSize"/> bytes, reused across calls.</param>
    /// <param name="value">The value when the result is <see cref="CounterStatus.Ok"/>.</param>
    public static CounterStatus Read(int descriptor, Span<byte> buffer, out ulong value)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(buffer.Length, BufferSize);
        var n = RegularFile.ReadAtStart(descriptor, buffer[..BufferSize]);
        value = 0;
        if (n < 0)
        {
            return CounterStatus.ReadError;
        }

        // Longer than any counter could be.
        return n == BufferSize ? CounterStatus.Malformed : CounterParser.TryParse(buffer[..n], out value);
    }

    /// <inheritdoc />
    public void Dispose() => _handle.Dispose();
}

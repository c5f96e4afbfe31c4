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
    /// <see cref="ReadAll"/>: no reference count per read. Valid until
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
    /// Reads and parses the counters open at <paramref name="descriptors"/>, one after the other, into
    /// <paramref name="statuses"/> and <paramref name="values"/> (a negative descriptor is a
    /// <see cref="CounterStatus.ReadError"/>). Every read lands in the same small
    /// <paramref name="buffer"/>, so the kernel copies each value into a cache line that is already
    /// hot, and what the caller derives from the values is done after the last read, not between two
    /// reads, where the caller's data and the kernel's would evict each other on every file.
    /// </summary>
    /// <param name="buffer">Scratch space of at least <see cref="BufferSize"/> bytes.</param>
    public static void ReadAll(ReadOnlySpan<int> descriptors, Span<byte> buffer, Span<CounterStatus> statuses, Span<ulong> values)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(buffer.Length, BufferSize);
        ArgumentOutOfRangeException.ThrowIfLessThan(statuses.Length, descriptors.Length);
        ArgumentOutOfRangeException.ThrowIfLessThan(values.Length, descriptors.Length);
        buffer = buffer[..BufferSize];
        for (var i = 0; i < descriptors.Length; i++)
        {
            var fd = descriptors[i];
            statuses[i] = Parse(buffer, fd < 0 ? -1 : RegularFile.ReadAtStart(fd, buffer), out values[i]);
        }
    }

    /// <summary>
    /// Parses what one read of a counter returned: <paramref name="length"/> bytes of
    /// <paramref name="read"/>, or a negated errno for a failed read (ENODEV/ENOENT after a device went
    /// away, EIO from a failing driver), which is <see cref="CounterStatus.ReadError"/>.
    /// </summary>
    /// <param name="read">The <see cref="BufferSize"/> bytes the read went into.</param>
    /// <param name="length">The bytes read, or a negative errno.</param>
    /// <param name="value">The value when the result is <see cref="CounterStatus.Ok"/>.</param>
    private static CounterStatus Parse(ReadOnlySpan<byte> read, int length, out ulong value)
    {
        value = 0;
        if (length < 0)
        {
            return CounterStatus.ReadError;
        }

        // Longer than any counter could be.
        return length >= BufferSize ? CounterStatus.Malformed : CounterParser.TryParse(read[..length], out value);
    }

    /// <inheritdoc />
    public void Dispose() => _handle.Dispose();
}

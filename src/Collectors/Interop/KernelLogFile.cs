using System.Runtime.InteropServices;

namespace EfaAgent.Collectors.Interop;

/// <summary>
/// The kernel log, read without blocking: <c>/dev/kmsg</c> (one record per read), or in tests a
/// regular file or a FIFO (any number of lines per read). Opened at its end, so that what earlier
/// boots and the time before the agent started logged is not read again.
/// </summary>
internal sealed unsafe class KernelLogFile : IDisposable
{
    private int _fd;

    private KernelLogFile(int fd) => _fd = fd;

    /// <summary>Records overwritten before they were read (each <c>EPIPE</c> counts one loss of unknown size).</summary>
    public long Overruns { get; private set; }

    /// <summary>Opens <paramref name="path"/> read-only and non-blocking, positioned at its end.</summary>
    /// <returns>The open log, or null with the errno in <paramref name="error"/>.</returns>
    public static KernelLogFile? Open(string path, out int error)
    {
        var fd = Interop.Libc.Open(path, Interop.Libc.ORdOnly | Interop.Libc.ONonBlock | Interop.Libc.OCloExec);
        if (fd < 0)
        {
            error = Marshal.GetLastPInvokeError();
            return null;
        }

        // A FIFO cannot seek (ESPIPE): it has no past to skip.
        Interop.Libc.Seek(fd, 0, Interop.Libc.SeekEnd);
        error = 0;
        return new KernelLogFile(fd);
    }

    /// <summary>
    /// Reads what is there now into <paramref name="buffer"/>: at most one /dev/kmsg record, or a chunk
    /// of a file. 0 when there is nothing new (or the writer of a FIFO has gone); -1 with the errno in
    /// <paramref name="error"/> on a failure. An overrun is counted and skipped.
    /// </summary>
    public int Read(Span<byte> buffer, out int error)
    {
        error = 0;
        while (true)
        {
            nint n;
            fixed (byte* p = buffer)
            {
                n = Interop.Libc.Read(_fd, p, (nuint)buffer.Length);
            }

            if (n >= 0)
            {
                return (int)n;
            }

            var errno = Marshal.GetLastPInvokeError();
            switch (errno)
            {
                case Interop.Libc.EAgain:
                    return 0;
                case Interop.Libc.EIntr:
                    continue;
                case Interop.Libc.EPipe:
                    Overruns++;
                    continue;
                default:
                    error = errno;
                    return -1;
            }
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_fd >= 0)
        {
            Interop.Libc.Close(_fd);
            _fd = -1;
        }
    }
}

using System.Runtime.InteropServices;
using System.Text;
using Microsoft.Win32.SafeHandles;
using Libc = EfaAgent.Collectors.Interop.Interop.Libc;

namespace EfaAgent.Collectors.Sysfs;

/// <summary>
/// Opens only regular files, without ever blocking, and reads them with a bound. Sysfs attributes,
/// <c>/proc/net/dev</c> and config files are all regular files; anything else is refused with a
/// reason: a FIFO would block <c>open()</c> forever, <c>/dev/zero</c> would fill memory, a directory
/// reads as an error on every tick.
/// </summary>
public static class RegularFile
{
    /// <summary>
    /// Opens <paramref name="path"/> read-only with <c>O_NONBLOCK</c> and checks that it is a regular file.
    /// </summary>
    /// <exception cref="FileNotFoundException">The path does not exist.</exception>
    /// <exception cref="IOException">It cannot be opened, or it is not a regular file (the message says which kind it is).</exception>
    public static SafeFileHandle Open(string path) => Open(Libc.AtFdCwd, path);

    /// <summary>As <see cref="Open(string)"/>, for <paramref name="path"/> looked up from the directory open at <paramref name="directory"/>.</summary>
    public static SafeFileHandle Open(int directory, string path)
    {
        var fd = TryOpen(directory, path, out var errno, out var type);
        if (fd >= 0)
        {
            return new SafeFileHandle(fd, ownsHandle: true);
        }

        if (errno == 0)
        {
            throw new IOException($"{path}: not a regular file ({Kind(type)})");
        }

        var reason = Marshal.GetPInvokeErrorMessage(errno);
        throw errno == 2 ? new FileNotFoundException($"{path}: {reason}", path) : new IOException($"{path}: {reason}", errno);
    }

    /// <summary>
    /// As <see cref="Open(int, string)"/>, for a caller that takes any failure as "not there" (an
    /// attribute that a driver or kernel lacks is missing on every walk): the raw descriptor, which the
    /// caller closes, or -1 with the <paramref name="errno"/>, or with the <paramref name="type"/> of
    /// what is not a regular file (errno 0). No exception and no handle object.
    /// </summary>
    internal static int TryOpen(int directory, string path, out int errno, out int type)
    {
        var fd = Libc.OpenAt(directory, path, Libc.ORdOnly | Libc.ONonBlock | Libc.OCloExec);
        if (fd < 0)
        {
            (errno, type) = (Math.Max(Marshal.GetLastPInvokeError(), 1), -1);
            return -1;
        }

        type = FileType(fd, "", Libc.AtEmptyPath);
        if (type == Libc.SIfReg)
        {
            errno = 0;
            return fd;
        }

        errno = type < 0 ? Math.Max(Marshal.GetLastPInvokeError(), 1) : 0;
        Libc.Close(fd);
        return -1;
    }

    /// <summary>
    /// Reads a whole regular file of at most <paramref name="maxBytes"/> bytes as UTF-8, from offset 0
    /// with pread, never trusting its size (sysfs and procfs report 4096 or 0).
    /// </summary>
    /// <exception cref="IOException">It cannot be read, is not a regular file, or is larger than <paramref name="maxBytes"/>.</exception>
    public static string ReadAllText(string path, int maxBytes)
    {
        using var handle = Open(path);
        var buffer = new byte[Math.Min(maxBytes, 64 * 1024) + 1];
        var length = ReadAll(handle, ref buffer, maxBytes, path);
        return Encoding.UTF8.GetString(buffer, 0, length);
    }

    /// <summary>
    /// One <c>pread</c> from offset 0 of an open descriptor into <paramref name="buffer"/>, again only
    /// when a signal interrupted it: a sysfs attribute gives its whole value to one read at offset 0.
    /// The system call is made through <c>syscall(2)</c> where its number is known: libc's
    /// <c>pread</c> is a thread cancellation point, and in a process with more than one thread it
    /// switches cancellation on and off around the call (glibc 2.36: two atomic operations), which the sampler
    /// would pay on each of the hundreds of files it reads per tick.
    /// </summary>
    /// <returns>The bytes read, or the negated errno (-21 for EISDIR), as the kernel returns it.</returns>
    public static unsafe int ReadAtStart(int descriptor, Span<byte> buffer)
    {
        fixed (byte* p = buffer)
        {
            while (true)
            {
                var n = Libc.SysPRead64 >= 0
                    ? Libc.Syscall4(Libc.SysPRead64, descriptor, (nint)p, buffer.Length, 0)
                    : Libc.PRead(descriptor, p, (nuint)buffer.Length, 0);
                if (n >= 0)
                {
                    return (int)n;
                }

                // Read at once, before any other call can set it: what LibraryImport's SetLastError
                // would do, but only on the rare failure rather than around every read.
                var errno = Marshal.GetLastSystemError();
                if (errno != Libc.EIntr)
                {
                    return -Math.Max(errno, 1);
                }
            }
        }
    }

    /// <summary>
    /// Reads the whole file from offset 0 into <paramref name="buffer"/>, growing it (doubling) up to
    /// <paramref name="maxBytes"/>; returns the length read.
    /// </summary>
    /// <exception cref="IOException">The read failed, or the file holds more than <paramref name="maxBytes"/> bytes.</exception>
    public static int ReadAll(SafeFileHandle handle, ref byte[] buffer, int maxBytes, string path)
    {
        var total = 0;
        while (true)
        {
            if (total == buffer.Length)
            {
                if (buffer.Length > maxBytes)
                {
                    throw new IOException($"{path}: larger than {maxBytes} bytes, more than such a file ever holds");
                }

                Array.Resize(ref buffer, Math.Min(buffer.Length * 2, maxBytes + 1));
            }

            var n = RandomAccess.Read(handle, buffer.AsSpan(total), total);
            if (n == 0)
            {
                return total;
            }

            total += n;
            if (total > maxBytes)
            {
                throw new IOException($"{path}: larger than {maxBytes} bytes, more than such a file ever holds");
            }
        }
    }

    /// <summary>
    /// The type (the <c>S_IFMT</c> bits of the mode) of <paramref name="path"/> looked up from
    /// <paramref name="at"/>, a final link followed unless <paramref name="flags"/> say otherwise; -1,
    /// with the errno in <see cref="Marshal.GetLastPInvokeError"/>, when it cannot be asked.
    /// </summary>
    internal static unsafe int FileType(int at, string path, int flags = 0)
    {
        var buffer = stackalloc byte[Libc.StatxSize];
        return Libc.Statx(at, path, flags, Libc.StatxType, buffer) == 0 ? *(ushort*)(buffer + Libc.StatxModeOffset) & Libc.SIfMt : -1;
    }

    private static string Kind(int type) => type switch
    {
        Libc.SIfDir => "a directory",
        Libc.SIfIfo => "a FIFO",
        Libc.SIfChr => "a character device",
        Libc.SIfBlk => "a block device",
        Libc.SIfSock => "a socket",
        _ => $"file type 0x{type:x}",
    };
}

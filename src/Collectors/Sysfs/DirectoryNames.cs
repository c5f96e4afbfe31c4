using System.Runtime.InteropServices;
using Libc = EfaAgent.Collectors.Interop.Interop.Libc;

namespace EfaAgent.Collectors.Sysfs;

/// <summary>
/// The names in a directory, read with <c>getdents64</c> straight from its descriptor. .NET's
/// enumeration asks <c>lstat</c> and <c>stat</c> of every entry that is a symbolic link (to tell
/// whether it leads to a directory) even when nobody asks: every entry of <c>class/infiniband</c> and
/// <c>class/net</c> is one, so a walk of a p5 paid about 130 path lookups for names it already had.
/// Here only <paramref name="directoriesOnly"/> asks, and then with one <c>statx</c> relative to the
/// open directory.
/// </summary>
internal static class DirectoryNames
{
    private const int BufferSize = 32 * 1024;
    private const byte DtUnknown = 0;
    private const byte DtDir = 4;
    private const byte DtLnk = 10;

    /// <summary>
    /// Adds the names in <paramref name="directory"/> to <paramref name="names"/> (unsorted, without
    /// <c>.</c> and <c>..</c>, interned as <see cref="SysfsText"/> keeps them); false when the directory does not exist (or is not one), as
    /// <see cref="Directory.Exists"/> would say. Null where the system call is not known here.
    /// </summary>
    /// <exception cref="IOException">The directory exists but cannot be listed: the message names it and the reason.</exception>
    public static unsafe bool? TryList(string directory, bool directoriesOnly, List<string> names)
    {
        if (Libc.SysGetDents64 < 0)
        {
            return null;
        }

        var fd = Libc.Open(directory, Libc.ORdOnly | Libc.ODirectory | Libc.OCloExec);
        if (fd < 0)
        {
            var errno = Marshal.GetLastPInvokeError();
            return errno is Libc.ENoEnt or Libc.ENotDir ? false : throw Failed(directory, errno);
        }

        var buffer = (byte*)NativeMemory.Alloc(BufferSize);
        try
        {
            Span<char> chars = stackalloc char[256];
            while (true)
            {
                var n = Libc.Syscall4(Libc.SysGetDents64, fd, (nint)buffer, BufferSize, 0);
                if (n == 0)
                {
                    return true;
                }

                if (n < 0)
                {
                    var errno = Marshal.GetLastSystemError();
                    if (errno == Libc.EIntr)
                    {
                        continue;
                    }

                    throw Failed(directory, errno);
                }

                // struct linux_dirent64: u64 d_ino, s64 d_off, u16 d_reclen, u8 d_type, char d_name[] (NUL-terminated).
                for (var offset = 0; offset < n;)
                {
                    var record = buffer + offset;
                    var length = *(ushort*)(record + 16);
                    var type = record[18];
                    var raw = MemoryMarshal.CreateReadOnlySpanFromNullTerminated(record + 19);
                    offset += length;
                    if (raw is [(byte)'.'] or [(byte)'.', (byte)'.'])
                    {
                        continue;
                    }

                    var count = System.Text.Encoding.UTF8.GetMaxCharCount(raw.Length) <= chars.Length
                        ? System.Text.Encoding.UTF8.GetChars(raw, chars)
                        : -1;
                    var name = count >= 0 ? SysfsText.Intern(chars[..count]) : System.Text.Encoding.UTF8.GetString(raw);

                    // A link is followed, as a directory reached through one is a directory to the caller.
                    if (directoriesOnly && type != DtDir
                        && (type is not (DtLnk or DtUnknown) || RegularFile.FileType(fd, name) != Libc.SIfDir))
                    {
                        continue;
                    }

                    names.Add(name);
                }
            }
        }
        finally
        {
            NativeMemory.Free(buffer);
            Libc.Close(fd);
        }
    }

    private static IOException Failed(string directory, int errno) =>
        new($"cannot list {directory}: {Marshal.GetPInvokeErrorMessage(errno)}", errno);
}

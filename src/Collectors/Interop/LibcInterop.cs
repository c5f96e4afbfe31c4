using System.Runtime.InteropServices;

namespace EfaAgent.Collectors.Interop;

/// <summary>Native entry points, one nested class per native library.</summary>
internal static partial class Interop
{
    /// <summary>
    /// The few libc calls the kernel log needs: <c>/dev/kmsg</c> hands out one record per <c>read()</c>
    /// (never <c>pread</c>, which it does not support), says <c>EPIPE</c> when records were overwritten
    /// before they were read, and is positioned at its end with <c>lseek(SEEK_END)</c>. Raw; see
    /// <see cref="KernelLogFile"/>.
    /// </summary>
    internal static partial class Libc
    {
        internal const int OpenReadOnly = 0;
        internal const int OpenNonBlocking = 0x800;
        internal const int OpenCloseOnExec = 0x80000;
        internal const int SeekEnd = 2;
        internal const int EAgain = 11;
        internal const int EIntr = 4;
        internal const int EPipe = 32;
        internal const int EInval = 22;

        private const string LibraryName = "libc";

        [LibraryImport(LibraryName, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial int Open(string path, int flags);

        [LibraryImport(LibraryName, EntryPoint = "read", SetLastError = true)]
        internal static unsafe partial nint Read(int fd, byte* buffer, nuint count);

        [LibraryImport(LibraryName, EntryPoint = "lseek", SetLastError = true)]
        internal static partial long Seek(int fd, long offset, int whence);

        [LibraryImport(LibraryName, EntryPoint = "close", SetLastError = true)]
        internal static partial int Close(int fd);
    }
}

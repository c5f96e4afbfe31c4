using System.Runtime.InteropServices;

namespace EfaAgent.Collectors.Interop;

/// <summary>Native entry points, one nested class per native library.</summary>
internal static partial class Interop
{
    /// <summary>
    /// The C library: what .NET's file API cannot say. <c>open</c> with <c>O_NONBLOCK</c> (a FIFO
    /// among the counters must not block the sampler in <c>open()</c>), <c>statx</c> for the file
    /// type (its struct has one layout on every architecture, unlike <c>struct stat</c>), the
    /// descriptor limit, and the kernel log: <c>/dev/kmsg</c> hands out one record per <c>read()</c>
    /// (never <c>pread</c>, which it does not support), says <c>EPIPE</c> when records were overwritten
    /// before they were read, and is positioned at its end with <c>lseek(SEEK_END)</c>. Raw calls;
    /// <see cref="Sysfs.RegularFile"/>, <see cref="Sysfs.FileLimit"/> and <see cref="KernelLogFile"/> wrap them.
    /// </summary>
    internal static unsafe partial class Libc
    {
        internal const string LibraryName = "libc";

        internal const int ORdOnly = 0;
        internal const int ONonBlock = 0x800;
        internal const int OCloExec = 0x80000;
        internal const int AtEmptyPath = 0x1000;
        internal const uint StatxType = 0x1;
        internal const int RlimitNoFile = 7;
        internal const int SeekEnd = 2;
        internal const int EAgain = 11;
        internal const int EIntr = 4;
        internal const int EPipe = 32;
        internal const int EInval = 22;

        /// <summary><c>struct statx</c> is 256 bytes; <c>stx_mode</c> (u16) is at offset 28.</summary>
        internal const int StatxSize = 256;
        internal const int StatxModeOffset = 28;

        internal const int SIfMt = 0xF000;
        internal const int SIfReg = 0x8000;
        internal const int SIfDir = 0x4000;
        internal const int SIfIfo = 0x1000;
        internal const int SIfChr = 0x2000;
        internal const int SIfBlk = 0x6000;
        internal const int SIfSock = 0xC000;

        [StructLayout(LayoutKind.Sequential)]
        internal struct RLimit
        {
            public ulong Current;
            public ulong Maximum;
        }

        [LibraryImport(LibraryName, EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial int Open(string path, int flags);

        [LibraryImport(LibraryName, EntryPoint = "openat", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial int OpenAt(int dirfd, string path, int flags);

        /// <summary><c>O_PATH</c>: a descriptor that only names a place, for lookups relative to it.</summary>
        internal const int OPath = 0x200000;

        /// <summary><c>AT_FDCWD</c>: a relative path is taken from the working directory; a whole path is taken as it is.</summary>
        internal const int AtFdCwd = -100;

        [LibraryImport(LibraryName, EntryPoint = "close", SetLastError = true)]
        internal static partial int Close(int fd);

        [LibraryImport(LibraryName, EntryPoint = "statx", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
        internal static partial int Statx(int dirfd, string path, int flags, uint mask, byte* buffer);

        [LibraryImport(LibraryName, EntryPoint = "getrlimit", SetLastError = true)]
        internal static partial int GetRLimit(int resource, out RLimit limit);

        [LibraryImport(LibraryName, EntryPoint = "setrlimit", SetLastError = true)]
        internal static partial int SetRLimit(int resource, in RLimit limit);

        [LibraryImport(LibraryName, EntryPoint = "read", SetLastError = true)]
        internal static partial nint Read(int fd, byte* buffer, nuint count);

        /// <summary>
        /// <c>pread(2)</c>, without the errno bookkeeping of <c>SetLastError</c> (a call to clear errno
        /// before and one to save it after, on every read): a caller that gets -1 reads errno at once
        /// with <see cref="Marshal.GetLastSystemError"/>, as the generated marshalling itself does.
        /// </summary>
        [LibraryImport(LibraryName, EntryPoint = "pread")]
        internal static partial nint PRead(int fd, byte* buffer, nuint count, long offset);

        /// <summary>The kernel's number for <c>pread64</c>, or -1 where it is not known.</summary>
        internal static readonly nint SysPRead64 = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 17,
            Architecture.Arm64 => 67,
            _ => -1,
        };

        /// <summary>
        /// <c>syscall(2)</c> with four arguments. Variadic in C; on x86-64 and arm64 the integer
        /// arguments of a variadic call travel in the same registers as those of a fixed one. Without
        /// <c>SetLastError</c>, as <see cref="PRead"/>.
        /// </summary>
        [LibraryImport(LibraryName, EntryPoint = "syscall")]
        internal static partial nint Syscall4(nint number, nint a1, nint a2, nint a3, nint a4);

        /// <summary>The kernel's number for <c>getdents64</c> (glibc has a wrapper only from 2.30), or -1 where it is not known.</summary>
        internal static readonly nint SysGetDents64 = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 => 217,
            Architecture.Arm64 => 61,
            _ => -1,
        };

        /// <summary><c>O_DIRECTORY</c>, which differs between architectures (x86-64 0200000, arm64 040000).</summary>
        internal static readonly int ODirectory = RuntimeInformation.ProcessArchitecture == Architecture.Arm64 ? 0x4000 : 0x10000;

        internal const int ENoEnt = 2;
        internal const int ENotDir = 20;

        [LibraryImport(LibraryName, EntryPoint = "lseek", SetLastError = true)]
        internal static partial long Seek(int fd, long offset, int whence);
    }
}

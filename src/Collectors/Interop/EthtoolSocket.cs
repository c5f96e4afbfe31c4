using System.Runtime.InteropServices;
using System.Text;
using EfaAgent.Collectors.Ethtool;
using Tmds.Linux;

namespace EfaAgent.Collectors.Interop;

/// <summary>
/// <see cref="IEthtool"/> over the kernel: one <c>AF_INET</c> datagram socket (the handle ethtool
/// requests go through; it sends nothing) and <c>ioctl(fd, SIOCETHTOOL, &amp;ifreq)</c>, bound by
/// <c>Tmds.LibC</c> (libc's <c>socket</c>, <c>ioctl</c>, <c>close</c> and <c>errno</c>). The request
/// buffer is pinned for the call and handed to the kernel as <c>ifr_data</c>. Read requests need no
/// capability. Not thread-safe: the collector uses it from the sampling thread only.
/// </summary>
public sealed unsafe class EthtoolSocket : IEthtool
{
    /// <summary><c>sizeof(struct ifreq)</c> on 64-bit Linux: a 16-byte name and a 24-byte union.</summary>
    private const int IfreqSize = 40;

    private int _fd;

    private EthtoolSocket(int fd) => _fd = fd;

    /// <summary>Opens the socket; throws <see cref="IOException"/> naming the errno when it cannot.</summary>
    public static EthtoolSocket Open()
    {
        var fd = LibC.socket(LibC.AF_INET, LibC.SOCK_DGRAM | LibC.SOCK_CLOEXEC, 0);
        if (fd < 0)
        {
            var errno = LibC.errno;
            throw new IOException($"cannot open the socket for ethtool requests: socket(AF_INET, SOCK_DGRAM) failed with errno {errno}");
        }

        return new EthtoolSocket(fd);
    }

    /// <inheritdoc />
    public int Request(string device, Span<byte> buffer)
    {
        ObjectDisposedException.ThrowIf(_fd < 0, this);
        if (device.Length >= EthtoolAbi.InterfaceNameSize || !Ascii.IsValid(device))
        {
            return EthtoolErrno.NoDevice; // the kernel could not have such a name
        }

        var ifreq = stackalloc byte[IfreqSize];
        new Span<byte>(ifreq, IfreqSize).Clear();
        Encoding.ASCII.GetBytes(device, new Span<byte>(ifreq, EthtoolAbi.InterfaceNameSize));
        fixed (byte* data = buffer)
        {
            *(byte**)(ifreq + EthtoolAbi.InterfaceNameSize) = data; // ifr_data
            var rc = LibC.ioctl(_fd, EthtoolAbi.SiocEthtool, ifreq);
            return rc < 0 ? LibC.errno : 0;
        }
    }

    /// <inheritdoc />
    public void Dispose()
    {
        if (_fd >= 0)
        {
            _ = LibC.close(_fd);
            _fd = -1;
        }
    }
}

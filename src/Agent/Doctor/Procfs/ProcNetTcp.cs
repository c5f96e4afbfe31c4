using System.Globalization;
using System.Net;

namespace EfaAgent.Agent.Doctor.Procfs;

/// <summary>A listening TCP socket from <c>/proc/net/tcp</c> or <c>tcp6</c>.</summary>
/// <param name="Address">The local address (<c>0.0.0.0</c> or <c>::</c> for all).</param>
/// <param name="Port">The local port.</param>
/// <param name="Uid">The socket owner's user id.</param>
/// <param name="Inode">The socket's inode: a process holding it has an fd linking to <c>socket:[inode]</c>.</param>
public sealed record TcpListenSocket(IPAddress Address, int Port, uint Uid, ulong Inode)
{
    /// <summary><c>0.0.0.0:29500</c> or <c>[::]:29500</c>.</summary>
    public string Endpoint => new IPEndPoint(Address, Port).ToString();
}

/// <summary>
/// Parses <c>/proc/net/tcp</c> and <c>/proc/net/tcp6</c> (net/ipv4/tcp_ipv4.c <c>get_tcp4_sock</c>): a
/// header line, then <c>sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...</c>, addresses in
/// hex as the kernel holds them (32-bit words in host order, little-endian here) and the port in hex.
/// </summary>
public static class ProcNetTcp
{
    /// <summary>TCP_LISTEN, as the <c>st</c> column writes it.</summary>
    public const string ListenState = "0A";

    /// <summary>The listening sockets in <paramref name="text"/>; lines that do not parse are counted in <paramref name="malformed"/>.</summary>
    public static List<TcpListenSocket> ParseListeners(string text, out int malformed)
    {
        var result = new List<TcpListenSocket>();
        malformed = 0;
        foreach (var line in text.Split('\n').Skip(1))
        {
            var f = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (f.Length == 0)
            {
                continue;
            }

            if (f.Length < 10 || !TryEndpoint(f[1], out var address, out var port)
                || !uint.TryParse(f[7], NumberStyles.None, CultureInfo.InvariantCulture, out var uid)
                || !ulong.TryParse(f[9], NumberStyles.None, CultureInfo.InvariantCulture, out var inode))
            {
                malformed++;
                continue;
            }

            if (f[3] == ListenState)
            {
                result.Add(new TcpListenSocket(address, port, uid, inode));
            }
        }

        return result;
    }

    /// <summary>Parses <c>0100007F:7530</c> (IPv4) or the 32-digit IPv6 form.</summary>
    public static bool TryEndpoint(string text, out IPAddress address, out int port)
    {
        address = IPAddress.None;
        port = 0;
        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon is not (8 or 32) || !int.TryParse(text.AsSpan(colon + 1), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out port))
        {
            return false;
        }

        var bytes = new byte[colon / 2];
        for (var word = 0; word < colon / 8; word++)
        {
            if (!uint.TryParse(text.AsSpan(word * 8, 8), NumberStyles.AllowHexSpecifier, CultureInfo.InvariantCulture, out var v))
            {
                return false;
            }

            // Each word is printed as the host-order (little-endian) integer: its bytes come out reversed.
            BitConverter.TryWriteBytes(bytes.AsSpan(word * 4, 4), v);
        }

        address = new IPAddress(bytes);
        return true;
    }
}

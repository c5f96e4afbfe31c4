using System.Net.Sockets;

namespace EfaAgent.Agent.Doctor;

/// <summary>How a TCP connection attempt ended.</summary>
public enum ConnectOutcome
{
    /// <summary>The handshake completed: something listens.</summary>
    Connected,

    /// <summary>The host answered with a reset: reachable, nothing listens on the port.</summary>
    Refused,

    /// <summary>No answer at all within the timeout: something drops the packets.</summary>
    TimedOut,

    /// <summary>No route, unknown host name, or another error.</summary>
    Unreachable,
}

/// <summary>One TCP connection attempt with a timeout, telling "refused" apart from "timed out".</summary>
public static class TcpProbe
{
    /// <summary>Connects to <paramref name="host"/>:<paramref name="port"/> and closes at once.</summary>
    public static async Task<(ConnectOutcome Outcome, string? Error)> ConnectAsync(string host, int port, TimeSpan timeout, CancellationToken cancellationToken)
    {
        // No address family up front: the socket is made for the address the name resolves to (IPv4 or IPv6).
        using var client = new TcpClient();
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await client.ConnectAsync(host, port, deadline.Token).ConfigureAwait(false);
            return (ConnectOutcome.Connected, null);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            return (ConnectOutcome.TimedOut, null);
        }
        catch (SocketException e) when (e.SocketErrorCode == SocketError.ConnectionRefused)
        {
            return (ConnectOutcome.Refused, null);
        }
        catch (SocketException e)
        {
            return (ConnectOutcome.Unreachable, e.SocketErrorCode == SocketError.HostNotFound ? $"cannot resolve {host}" : e.Message);
        }
    }
}

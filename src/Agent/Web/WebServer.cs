using System.Net;
using System.Net.Sockets;
using EfaAgent.Agent.Options;

namespace EfaAgent.Agent.Web;

/// <summary>A request handler of the agent's <see cref="HttpServer"/>.</summary>
public delegate ValueTask<HttpResponse> HttpHandler(HttpRequestHead request, CancellationToken cancel);

/// <summary>
/// The HTTP side of the agent, kept apart from what it serves: the listening socket, and the request
/// guards that run before any path is looked at.
/// </summary>
public static class WebServer
{
    /// <summary>The methods served; the others are answered 405.</summary>
    public static readonly string[] Methods = ["GET", "HEAD"];

    /// <summary>
    /// Binds and listens on the address, so that a port in use, an address not on this host or a
    /// privileged port is one line at start rather than a host that fails half started.
    /// </summary>
    /// <returns>The listening socket, or null and the reason.</returns>
    public static Socket? Bind(ListenAddress address, out string? error)
    {
        var socket = TryBind(address, address.Host ?? (Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any), out error);

        // "Any address" falls back to IPv4 when it cannot be had in IPv6 (IPv6 off in a container).
        if (socket is null && address.Host is null && Socket.OSSupportsIPv6 && TryBind(address, IPAddress.Any, out _) is { } v4)
        {
            error = null;
            return v4;
        }

        return socket;
    }

    private static Socket? TryBind(ListenAddress address, IPAddress ip, out string? error)
    {
        var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            if (address.Host is null && ip.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = true;
            }

            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(new IPEndPoint(ip, address.Port));
            socket.Listen(512);
            error = null;
            return socket;
        }
        catch (SocketException e)
        {
            socket.Dispose();
            var hint = e.SocketErrorCode == SocketError.AccessDenied && address.Port < 1024
                ? " (a port below 1024 needs CAP_NET_BIND_SERVICE)"
                : "";
            error = $"{e.Message.ToLowerInvariant()}{hint}";
            return null;
        }
    }

    /// <summary>A request's path as the agent's paths are compared with it: lower case, without a trailing slash but for "/".</summary>
    public static string PathOf(string path)
    {
        if (path.Length == 0)
        {
            return "/";
        }

        if (path.Length > 1 && path[^1] == '/')
        {
            path = path[..^1];
        }

        return path.ToLowerInvariant();
    }

    /// <summary>
    /// Wraps <paramref name="next"/> in the guards: at most <see cref="AgentOptions.MaxRequests"/>
    /// requests at once (the excess answered 503 at once, as node_exporter's
    /// <c>--web.max-requests</c>), basic auth, GET/HEAD only; and the configured response headers on
    /// every answer.
    /// </summary>
    public static HttpHandler Guarded(AgentOptions options, WebConfigWatcher? web, HttpHandler next)
    {
        var inFlight = 0;
        return async (request, cancel) =>
        {
            var response = await GuardAsync(request, cancel).ConfigureAwait(false);
            if (web is not null)
            {
                foreach (var (name, value) in web.Current.Headers)
                {
                    response.With(name, value);
                }
            }

            return response;
        };

        async ValueTask<HttpResponse> GuardAsync(HttpRequestHead request, CancellationToken cancel)
        {
            var max = options.MaxRequests;
            if (max > 0 && Interlocked.Increment(ref inFlight) > max)
            {
                Interlocked.Decrement(ref inFlight);
                return HttpResponse.Text(503, $"limit of concurrent requests reached ({max}), try again later\n");
            }

            try
            {
                if (web is not null && !web.Authorize(request.Authorization))
                {
                    return HttpResponse.Text(401, "Unauthorized\n").With("WWW-Authenticate", "Basic");
                }

                if (!Methods.Contains(request.Method))
                {
                    return HttpResponse.Text(405, "method not allowed: use GET or HEAD\n").With("Allow", string.Join(", ", Methods));
                }

                return await next(request, cancel).ConfigureAwait(false);
            }
            finally
            {
                if (max > 0)
                {
                    Interlocked.Decrement(ref inFlight);
                }
            }
        }
    }
}

using System.Net;
using System.Net.Sockets;
using System.Runtime.CompilerServices;
using EfaAgent.Agent.Options;
using Microsoft.AspNetCore.Builder;
using Microsoft.AspNetCore.Http;
using Microsoft.AspNetCore.Server.Kestrel.Core;
using Microsoft.AspNetCore.Server.Kestrel.Https;

namespace EfaAgent.Agent.Web;

/// <summary>
/// The HTTP side of the agent, kept apart from what it serves: the listener (plain or TLS from the
/// web config file), Kestrel's limits, and the request guards that run before any endpoint.
/// </summary>
public static class WebServer
{
    /// <summary>A client has this long to send a request's headers (a slow-header flood is cut off).</summary>
    public static readonly TimeSpan HeadersTimeout = TimeSpan.FromSeconds(5);

    /// <summary>An idle kept-alive connection is closed after this; longer than the usual 15 s scrape interval.</summary>
    public static readonly TimeSpan KeepAliveTimeout = TimeSpan.FromSeconds(20);

    /// <summary>The methods served; the others are answered 405.</summary>
    public static readonly string[] Methods = [HttpMethods.Get, HttpMethods.Head];

    /// <summary>Listen address, TLS and limits.</summary>
    public static void Configure(KestrelServerOptions k, AgentOptions options, WebConfigWatcher? web)
    {
        k.AddServerHeader = false;
        k.Limits.RequestHeadersTimeout = HeadersTimeout;
        k.Limits.KeepAliveTimeout = KeepAliveTimeout;
        k.Limits.MaxRequestBodySize = 0; // nothing here takes a body
        void Listen(ListenOptions l)
        {
            l.Protocols = HttpProtocols.Http1;
            if (web is { TlsEnabled: true })
            {
                l.UseHttps(new TlsHandshakeCallbackOptions { OnConnection = _ => ValueTask.FromResult(web.ServerOptions()) });
            }
        }

        if (options.ListenAddress.Host is null)
        {
            k.ListenAnyIP(options.ListenAddress.Port, Listen);
        }
        else
        {
            k.Listen(options.ListenAddress.Host, options.ListenAddress.Port, Listen);
        }
    }

    /// <summary>
    /// Before any endpoint: at most <see cref="AgentOptions.MaxRequests"/> requests at once (the
    /// excess answered 503 at once, as node_exporter's <c>--web.max-requests</c>), basic auth, the
    /// configured response headers, and GET/HEAD only.
    /// </summary>
    public static void UseGuards(this WebApplication app, AgentOptions options, WebConfigWatcher? web)
    {
        var inFlight = new StrongBox<int>();
        app.Use(async (context, next) =>
        {
            var max = options.MaxRequests;
            if (max > 0 && Interlocked.Increment(ref inFlight.Value) > max)
            {
                Interlocked.Decrement(ref inFlight.Value);
                context.Response.StatusCode = StatusCodes.Status503ServiceUnavailable;
                await context.Response.WriteAsync($"limit of concurrent requests reached ({max}), try again later\n").ConfigureAwait(false);
                return;
            }

            try
            {
                await Guard(context, next, web).ConfigureAwait(false);
            }
            finally
            {
                if (max > 0)
                {
                    Interlocked.Decrement(ref inFlight.Value);
                }
            }
        });
    }

    /// <summary>
    /// Checks that the listen address can be bound, so that a port in use, an address not on this
    /// host or a privileged port is one line at start rather than a host that fails half started.
    /// </summary>
    /// <returns>Null when it can be bound, else the reason.</returns>
    public static string? CheckBind(ListenAddress address)
    {
        var error = TryBind(address, address.Host ?? (Socket.OSSupportsIPv6 ? IPAddress.IPv6Any : IPAddress.Any));

        // Kestrel falls back to IPv4 when "any address" cannot be had in IPv6 (IPv6 off in a container).
        return error is not null && address.Host is null && Socket.OSSupportsIPv6 && TryBind(address, IPAddress.Any) is null ? null : error;
    }

    private static string? TryBind(ListenAddress address, IPAddress ip)
    {
        try
        {
            using var socket = new Socket(ip.AddressFamily, SocketType.Stream, ProtocolType.Tcp);
            if (address.Host is null && ip.AddressFamily == AddressFamily.InterNetworkV6)
            {
                socket.DualMode = true;
            }

            socket.SetSocketOption(SocketOptionLevel.Socket, SocketOptionName.ReuseAddress, true);
            socket.Bind(new IPEndPoint(ip, address.Port));
            socket.Listen();
            return null;
        }
        catch (SocketException e)
        {
            var hint = e.SocketErrorCode == SocketError.AccessDenied && address.Port < 1024
                ? " (a port below 1024 needs CAP_NET_BIND_SERVICE)"
                : "";
            return $"{e.Message.ToLowerInvariant()}{hint}";
        }
    }

    /// <summary>The request's path as the agent's three paths are compared with it: lower case, without a trailing slash but for "/".</summary>
    public static string PathOf(HttpRequest request)
    {
        var path = request.Path.Value;
        if (string.IsNullOrEmpty(path))
        {
            return "/";
        }

        if (path.Length > 1 && path[^1] == '/')
        {
            path = path[..^1];
        }

        return path.ToLowerInvariant();
    }

    /// <summary>Answers a request with a short text (nothing is sent for HEAD but the headers).</summary>
    public static Task WriteAsync(HttpContext context, int status, string body, string contentType = "text/plain; charset=utf-8")
    {
        context.Response.StatusCode = status;
        context.Response.ContentType = contentType;
        return context.Response.WriteAsync(body);
    }

    private static async Task Guard(HttpContext context, RequestDelegate next, WebConfigWatcher? web)
    {
        if (web is not null)
        {
            foreach (var (name, value) in web.Current.Headers)
            {
                context.Response.Headers[name] = value;
            }

            if (!web.Authorize(context.Request.Headers.Authorization))
            {
                context.Response.StatusCode = StatusCodes.Status401Unauthorized;
                context.Response.Headers.WWWAuthenticate = "Basic";
                await context.Response.WriteAsync("Unauthorized\n").ConfigureAwait(false);
                return;
            }
        }

        if (!HttpMethods.IsGet(context.Request.Method) && !HttpMethods.IsHead(context.Request.Method))
        {
            context.Response.StatusCode = StatusCodes.Status405MethodNotAllowed;
            context.Response.Headers.Allow = "GET, HEAD";
            await context.Response.WriteAsync("method not allowed: use GET or HEAD\n").ConfigureAwait(false);
            return;
        }

        await next(context).ConfigureAwait(false);
    }
}

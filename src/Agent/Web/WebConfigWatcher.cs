using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Security;
using System.Security.Cryptography;
using System.Text;
using Microsoft.Extensions.Logging;

namespace EfaAgent.Agent.Web;

/// <summary>
/// The web config file in force. It is checked for changes (its own and those of the certificate, key
/// and client CA files) at most once a second, when a connection or request needs it, and re-read
/// when one changed: a rotated certificate or a new password hash applies without a restart. A file
/// that turns bad is logged and the previous version stays in force. Whether TLS is on at all is
/// fixed at start: the listener is built once.
/// </summary>
public sealed class WebConfigWatcher : IDisposable
{
    private static readonly long CheckEvery = Stopwatch.Frequency;

    private readonly string _path;
    private readonly ILogger _logger;
    private readonly Lock _lock = new();
    private readonly ConcurrentDictionary<string, bool> _verified = new(StringComparer.Ordinal);
    private readonly Lazy<string> _dummyHash = new(() => BCrypt.Net.BCrypt.HashPassword("efa-agent", 10));
    private State _state;
    private long _lastCheck;
    private string? _lastError;

    /// <summary>Loads the file; a bad one throws, for a one-line error at start.</summary>
    /// <exception cref="WebConfigException">The file cannot be used.</exception>
    public WebConfigWatcher(string path, ILogger logger)
    {
        _path = path;
        _logger = logger;
        _state = Load();
        TlsEnabled = _state.Config.Tls is not null;
        _lastCheck = Stopwatch.GetTimestamp();
    }

    /// <summary>Whether the listener serves HTTPS (decided at start).</summary>
    public bool TlsEnabled { get; }

    /// <summary>The configuration in force, re-read first if a file changed.</summary>
    public WebConfig Current => Refresh().Config;

    /// <summary>The TLS options for a new connection, from the certificate in force.</summary>
    public SslServerAuthenticationOptions ServerOptions() =>
        (Refresh().Tls ?? throw new InvalidOperationException("TLS is not configured")).ServerOptions();

    /// <summary>
    /// Checks an <c>Authorization</c> header against <c>basic_auth_users</c>; true when no users are
    /// configured. A successful bcrypt check is remembered (by a hash of user, password and bcrypt
    /// hash), so a scrape every few seconds does not pay bcrypt's cost every time.
    /// </summary>
    public bool Authorize(string? header)
    {
        var users = Current.Users;
        if (users.Count == 0)
        {
            return true;
        }

        if (!TryParseBasic(header, out var user, out var password))
        {
            return false;
        }

        var known = users.TryGetValue(user, out var hash);
        hash ??= _dummyHash.Value; // an unknown user costs as much as a known one
        var key = Convert.ToHexString(SHA256.HashData(Encoding.UTF8.GetBytes($"{user}\0{password}\0{hash}")));
        if (_verified.TryGetValue(key, out var ok))
        {
            return ok && known;
        }

        ok = BCrypt.Net.BCrypt.Verify(password, hash);
        if (_verified.Count > 1024)
        {
            _verified.Clear();
        }

        _verified[key] = ok;
        return ok && known;
    }

    /// <inheritdoc />
    public void Dispose() => _state.Tls?.Dispose();

    private static bool TryParseBasic(string? header, out string user, out string password)
    {
        user = password = "";
        const string prefix = "Basic ";
        if (header is null || !header.StartsWith(prefix, StringComparison.OrdinalIgnoreCase))
        {
            return false;
        }

        string text;
        try
        {
            text = Encoding.UTF8.GetString(Convert.FromBase64String(header[prefix.Length..].Trim()));
        }
        catch (FormatException)
        {
            return false;
        }

        var colon = text.IndexOf(':', StringComparison.Ordinal);
        if (colon < 0)
        {
            return false;
        }

        user = text[..colon];
        password = text[(colon + 1)..];
        return true;
    }

    /// <summary>What identifies a version of the files: path, length and modification time of each.</summary>
    private static string Stamp(string path, WebConfig? config)
    {
        var sb = new StringBuilder();
        Append(sb, path);
        if (config?.Tls is { } tls)
        {
            Append(sb, tls.CertFile);
            Append(sb, tls.KeyFile);
            if (tls.ClientCaFile is { } ca)
            {
                Append(sb, ca);
            }
        }

        return sb.ToString();

        static void Append(StringBuilder sb, string file)
        {
            var info = new FileInfo(file);
            sb.Append(file).Append('|').Append(info.Exists ? info.Length : -1).Append('|').Append(info.Exists ? info.LastWriteTimeUtc.Ticks : 0).Append('\n');
        }
    }

    private State Load()
    {
        var config = WebConfig.Load(_path);
        var tls = config.Tls is { } settings ? TlsMaterial.Load(settings) : null;
        return new State(config, tls, Stamp(_path, config));
    }

    private State Refresh()
    {
        var state = Volatile.Read(ref _state);
        var now = Stopwatch.GetTimestamp();
        if (now - Volatile.Read(ref _lastCheck) < CheckEvery)
        {
            return state;
        }

        lock (_lock)
        {
            if (now - _lastCheck < CheckEvery)
            {
                return _state;
            }

            _lastCheck = now;
            var stamp = Stamp(_path, _state.Config);
            if (stamp == _state.Stamp)
            {
                return _state;
            }

            try
            {
                var next = Load();
                if (TlsEnabled != (next.Config.Tls is not null))
                {
                    _logger.LogWarning("web config {Path}: TLS was turned {State}; that takes a restart, the rest of the file applies now",
                        _path, next.Config.Tls is null ? "off" : "on");
                }

                var old = _state;
                _state = TlsEnabled && next.Tls is null ? next with { Tls = old.Tls } : next;
                _verified.Clear();
                _lastError = null;
                _logger.LogInformation("web config {Path} re-read: TLS {Tls}, {Users} basic auth user(s)",
                    _path, _state.Tls is null ? "off" : "on", _state.Config.Users.Count);
            }
            catch (WebConfigException e)
            {
                if (e.Message != _lastError)
                {
                    _logger.LogError("web config {Path} changed but cannot be used: {Reason}; the previous version stays in force", _path, e.Message);
                    _lastError = e.Message;
                }

                _state = _state with { Stamp = stamp }; // do not re-read the same bad version every second
            }

            return _state;
        }
    }

    private sealed record State(WebConfig Config, TlsMaterial? Tls, string Stamp);
}

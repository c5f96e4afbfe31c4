using System.Net.Security;
using System.Security.Authentication;
using EfaAgent.Collectors.Sysfs;
using YamlDotNet.Core;
using YamlDotNet.RepresentationModel;

namespace EfaAgent.Agent.Web;

/// <summary>How a client certificate is asked for, with the exporter-toolkit's (Go's) names.</summary>
public enum ClientAuth
{
    /// <summary><c>NoClientCert</c>: none is asked for.</summary>
    None,

    /// <summary><c>RequestClientCert</c>: asked for, not required, not verified.</summary>
    Request,

    /// <summary><c>RequireAnyClientCert</c>: required, not verified.</summary>
    RequireAny,

    /// <summary><c>VerifyClientCertIfGiven</c>: not required, verified against <c>client_ca_file</c> when given.</summary>
    VerifyIfGiven,

    /// <summary><c>RequireAndVerifyClientCert</c>: required and verified against <c>client_ca_file</c>.</summary>
    RequireAndVerify,
}

/// <summary>The <c>tls_server_config</c> section, with paths made absolute.</summary>
public sealed record TlsSettings(
    string CertFile,
    string KeyFile,
    ClientAuth ClientAuth,
    string? ClientCaFile,
    SslProtocols Protocols,
    IReadOnlyList<TlsCipherSuite>? CipherSuites);

/// <summary>
/// The web config file of the Prometheus exporter-toolkit, the file node_exporter and the official
/// exporters take as <c>--web.config.file</c>: <c>tls_server_config</c>, <c>http_server_config</c>
/// and <c>basic_auth_users</c> (bcrypt hashes, as <c>htpasswd -B</c> writes them). Parsed with the
/// YAML representation model (no reflection). As in the toolkit, an unknown key is an error, and
/// relative paths are relative to the file's directory.
/// </summary>
public sealed record WebConfig(TlsSettings? Tls, IReadOnlyDictionary<string, string> Users, IReadOnlyList<KeyValuePair<string, string>> Headers)
{
    /// <summary>The largest web config file read.</summary>
    public const int MaxFileBytes = 1024 * 1024;

    /// <summary>Response headers the toolkit lets <c>http_server_config.headers</c> set.</summary>
    public static readonly string[] AllowedHeaders =
        ["Strict-Transport-Security", "X-Content-Type-Options", "X-Frame-Options", "X-XSS-Protection", "Content-Security-Policy"];

    // TLS 1.0 and 1.1 are never offered (the runtime and OpenSSL 3 refuse them): as a minimum they
    // mean TLS 1.2; as a maximum they are refused.
    private static readonly Dictionary<string, SslProtocols> AtLeast = new(StringComparer.Ordinal)
    {
        ["TLS10"] = SslProtocols.Tls12 | SslProtocols.Tls13,
        ["TLS11"] = SslProtocols.Tls12 | SslProtocols.Tls13,
        ["TLS12"] = SslProtocols.Tls12 | SslProtocols.Tls13,
        ["TLS13"] = SslProtocols.Tls13,
    };

    private static readonly Dictionary<string, SslProtocols> AtMost = new(StringComparer.Ordinal)
    {
        ["TLS10"] = SslProtocols.None,
        ["TLS11"] = SslProtocols.None,
        ["TLS12"] = SslProtocols.Tls12,
        ["TLS13"] = SslProtocols.Tls12 | SslProtocols.Tls13,
    };

    private static readonly Dictionary<string, ClientAuth> ClientAuthTypes = new(StringComparer.Ordinal)
    {
        ["NoClientCert"] = ClientAuth.None,
        ["RequestClientCert"] = ClientAuth.Request,
        ["RequireAnyClientCert"] = ClientAuth.RequireAny,
        ["VerifyClientCertIfGiven"] = ClientAuth.VerifyIfGiven,
        ["RequireAndVerifyClientCert"] = ClientAuth.RequireAndVerify,
    };

    /// <summary>Reads and checks the file, including that the certificate and key load.</summary>
    /// <exception cref="WebConfigException">The file is missing, too large, not YAML, or holds a bad setting; the message is one line.</exception>
    public static WebConfig Load(string path)
    {
        string text;
        try
        {
            text = RegularFile.ReadAllText(path, MaxFileBytes);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            throw new WebConfigException(e.Message);
        }

        var config = Parse(text, Path.GetDirectoryName(Path.GetFullPath(path)) ?? "/");
        if (config.Tls is { } tls)
        {
            // Load once now so that a bad certificate is a start error, not a failed handshake later.
            TlsMaterial.Load(tls).Dispose();
        }

        return config;
    }

    /// <summary>Parses the YAML text; <paramref name="directory"/> anchors relative paths.</summary>
    public static WebConfig Parse(string text, string directory)
    {
        var stream = new YamlStream();
        try
        {
            stream.Load(new StringReader(text));
        }
        catch (YamlException e)
        {
            throw new WebConfigException($"not valid YAML at line {e.Start.Line}: {e.Message}");
        }

        if (stream.Documents.Count == 0 || stream.Documents[0].RootNode is YamlScalarNode { Value: null or "" })
        {
            return new WebConfig(null, new Dictionary<string, string>(), []);
        }

        var root = Mapping(stream.Documents[0].RootNode, "the file");
        TlsSettings? tls = null;
        var users = new Dictionary<string, string>(StringComparer.Ordinal);
        var headers = new List<KeyValuePair<string, string>>();
        foreach (var (key, value) in Entries(root, "the file"))
        {
            switch (key)
            {
                case "tls_server_config":
                    tls = ParseTls(Mapping(value, key), directory);
                    break;
                case "http_server_config":
                    ParseHttp(Mapping(value, key), headers);
                    break;
                case "basic_auth_users":
                    foreach (var (user, hash) in Entries(Mapping(value, key), key))
                    {
                        users[user] = BcryptHash(Scalar(hash, $"{key}.{user}"), user);
                    }

                    break;
                default:
                    throw Unknown(key, "the file", "tls_server_config, http_server_config, basic_auth_users");
            }
        }

        return new WebConfig(tls, users, headers);
    }

    private static TlsSettings? ParseTls(YamlMappingNode node, string directory)
    {
        string? cert = null, key = null, clientCa = null;
        var clientAuth = ClientAuth.None;
        var min = "TLS12";
        var max = "TLS13";
        List<TlsCipherSuite>? suites = null;
        foreach (var (name, value) in Entries(node, "tls_server_config"))
        {
            var where = "tls_server_config." + name;
            switch (name)
            {
                case "cert_file":
                    cert = PathIn(directory, Scalar(value, where));
                    break;
                case "key_file":
                    key = PathIn(directory, Scalar(value, where));
                    break;
                case "client_ca_file":
                    clientCa = PathIn(directory, Scalar(value, where));
                    break;
                case "client_auth_type":
                    var type = Scalar(value, where);
                    clientAuth = ClientAuthTypes.TryGetValue(type, out var a) ? a : throw Bad(where, type, string.Join(", ", ClientAuthTypes.Keys));
                    break;
                case "min_version":
                    min = Version(Scalar(value, where), where);
                    break;
                case "max_version":
                    max = Version(Scalar(value, where), where);
                    break;
                case "cipher_suites":
                    suites = [.. Sequence(value, where).Select(s => Enum.TryParse<TlsCipherSuite>(s, out var suite) ? suite : throw Bad(where, s, "cipher suite names such as TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256"))];
                    break;
                case "prefer_server_cipher_suites":
                    _ = Bool(Scalar(value, where), where); // accepted for compatibility; the TLS library decides, as Go does since 1.18
                    break;
                default:
                    throw Unknown(name, "tls_server_config", "cert_file, key_file, client_auth_type, client_ca_file, min_version, max_version, cipher_suites, prefer_server_cipher_suites");
            }
        }

        if (cert is null && key is null && clientCa is null)
        {
            return null; // an empty section, as the toolkit allows: plain HTTP
        }

        if (cert is null || key is null)
        {
            throw new WebConfigException("tls_server_config needs both cert_file and key_file");
        }

        if (clientAuth is ClientAuth.VerifyIfGiven or ClientAuth.RequireAndVerify && clientCa is null)
        {
            throw new WebConfigException("tls_server_config.client_auth_type verifies client certificates: it needs client_ca_file");
        }

        var protocols = AtLeast[min] & AtMost[max];
        if (protocols == SslProtocols.None)
        {
            throw new WebConfigException($"tls_server_config: no TLS version from min_version {min} to max_version {max} is offered (TLS 1.2 and 1.3 are)");
        }

        return new TlsSettings(cert, key, clientAuth, clientCa, protocols, suites);
    }

    private static void ParseHttp(YamlMappingNode node, List<KeyValuePair<string, string>> headers)
    {
        foreach (var (name, value) in Entries(node, "http_server_config"))
        {
            switch (name)
            {
                case "http2":
                    _ = Bool(Scalar(value, "http_server_config.http2"), "http_server_config.http2"); // accepted; the agent serves HTTP/1.1
                    break;
                case "headers":
                    foreach (var (header, v) in Entries(Mapping(value, "http_server_config.headers"), "http_server_config.headers"))
                    {
                        var allowed = AllowedHeaders.FirstOrDefault(h => h.Equals(header, StringComparison.OrdinalIgnoreCase))
                            ?? throw Bad("http_server_config.headers", header, string.Join(", ", AllowedHeaders));
                        var text = Scalar(v, $"http_server_config.headers.{header}");
                        if (!HttpResponse.IsFieldValue(text))
                        {
                            throw new WebConfigException($"http_server_config.headers.{header}: a line break, control or non-Latin-1 character cannot be sent in a header");
                        }

                        headers.Add(new(allowed, text));
                    }

                    break;
                default:
                    throw Unknown(name, "http_server_config", "http2, headers");
            }
        }
    }

    private static string BcryptHash(string hash, string user)
    {
        // $2a$, $2b$ or $2y$ (htpasswd -B), a two-digit cost, 53 characters of salt and hash.
        if (hash.Length != 60 || hash[0] != '$' || hash[1] != '2' || hash[3] != '$' || "aby".IndexOf(hash[2], StringComparison.Ordinal) < 0)
        {
            throw new WebConfigException($"basic_auth_users.{user}: not a bcrypt hash (make one with htpasswd -nB {user})");
        }

        return hash;
    }

    private static string Version(string text, string where) =>
        AtLeast.ContainsKey(text) ? text : throw Bad(where, text, "TLS10, TLS11, TLS12 or TLS13");

    private static bool Bool(string text, string where) => text switch
    {
        "true" => true,
        "false" => false,
        _ => throw Bad(where, text, "true or false"),
    };

    private static string PathIn(string directory, string path) => Path.GetFullPath(Path.Combine(directory, path));

    private static YamlMappingNode Mapping(YamlNode node, string where) => node switch
    {
        YamlMappingNode m => m,
        YamlScalarNode { Value: null or "" or "~" or "null" } => new YamlMappingNode(),
        _ => throw new WebConfigException($"{where}: expected a mapping of settings (line {node.Start.Line})"),
    };

    private static IEnumerable<(string Key, YamlNode Value)> Entries(YamlMappingNode node, string where)
    {
        // The parser refuses a duplicate key already; this also covers keys that differ only as YAML text.
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var (k, v) in node.Children)
        {
            var key = Scalar(k, where);
            if (!seen.Add(key))
            {
                throw new WebConfigException($"{where}: \"{key}\" is given twice (line {k.Start.Line})");
            }

            yield return (key, v);
        }
    }

    private static string Scalar(YamlNode node, string where) =>
        node is YamlScalarNode { Value: { } v } ? v : throw new WebConfigException($"{where}: expected a single value (line {node.Start.Line})");

    private static IEnumerable<string> Sequence(YamlNode node, string where) =>
        node is YamlSequenceNode s ? s.Children.Select(c => Scalar(c, where)) : throw new WebConfigException($"{where}: expected a list (line {node.Start.Line})");

    private static WebConfigException Unknown(string key, string where, string accepted) =>
        new($"{where}: unknown setting \"{key}\" (accepted: {accepted})");

    private static WebConfigException Bad(string where, string value, string accepted) =>
        new($"{where}: \"{value}\" is not accepted (expected {accepted})");
}

/// <summary>A web config file that cannot be used; the message is one line naming the setting.</summary>
public sealed class WebConfigException(string message) : Exception(message);

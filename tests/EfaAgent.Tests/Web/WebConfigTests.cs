using System.Security.Authentication;
using EfaAgent.Agent.Web;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Web;

/// <summary>The web config file's parser on texts, and the example the package ships.</summary>
public sealed class WebConfigTests
{
    [Fact]
    public void The_shipped_example_is_valid_and_turns_nothing_on_as_shipped()
    {
        var config = WebConfig.Load(Repo.PathTo("deploy", "systemd", "web-config.yml"));

        Assert.Null(config.Tls);
        Assert.Empty(config.Users);
        Assert.Empty(config.Headers);
    }

    [Fact]
    public void Paths_are_relative_to_the_file_and_settings_keep_the_toolkit_names()
    {
        var config = WebConfig.Parse(
            """
            tls_server_config:
              cert_file: tls/server.crt
              key_file: /abs/server.key
              client_auth_type: VerifyClientCertIfGiven
              client_ca_file: ca.crt
              min_version: TLS13
              cipher_suites: [TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256]
              prefer_server_cipher_suites: true
            http_server_config:
              http2: false
              headers:
                strict-transport-security: max-age=31536000
            basic_auth_users:
              alice: $2y$10$abcdefghijklmnopqrstuuFjGq3m6WZ4l0tqJ8Xm0iF2Ykpn5yTcC
            """, "/etc/efa-agent");

        var tls = Assert.IsType<TlsSettings>(config.Tls);
        Assert.Equal("/etc/efa-agent/tls/server.crt", tls.CertFile);
        Assert.Equal("/abs/server.key", tls.KeyFile);
        Assert.Equal("/etc/efa-agent/ca.crt", tls.ClientCaFile);
        Assert.Equal(ClientAuth.VerifyIfGiven, tls.ClientAuth);
        Assert.Equal(SslProtocols.Tls13, tls.Protocols);
        Assert.Single(tls.CipherSuites!);
        Assert.Equal(new KeyValuePair<string, string>("Strict-Transport-Security", "max-age=31536000"), Assert.Single(config.Headers));
        Assert.True(config.Users.ContainsKey("alice"));
    }

    [Theory]
    [InlineData("basic_auth_users:\n  a: $2y$10$abcdefghijklmnopqrstuuFjGq3m6WZ4l0tqJ8Xm0iF2Ykpn5yTcC\n  a: $2y$10$abcdefghijklmnopqrstuuFjGq3m6WZ4l0tqJ8Xm0iF2Ykpn5yTcC\n", "Duplicate key a")]
    [InlineData("tls_server_config:\n  cert_file: a\n  key_file: b\n  client_auth_type: RequireAndVerifyClientCert\n", "needs client_ca_file")]
    [InlineData("tls_server_config:\n  cert_file: a\n  key_file: b\n  curve_preferences: [X25519]\n", "unknown setting \"curve_preferences\"")]
    [InlineData("tls_server_config:\n  cert_file: a\n  key_file: b\n  max_version: TLS11\n", "no TLS version from min_version TLS12 to max_version TLS11")]
    [InlineData("- a\n- b\n", "expected a mapping")]
    [InlineData("http_server_config:\n  headers:\n    X-Frame-Options: \"deny\\r\\nSet-Cookie: a=b\"\n", "headers.X-Frame-Options: a line break")]
    public void A_bad_setting_is_one_line_naming_it(string text, string message)
    {
        var error = Assert.Throws<WebConfigException>(() => WebConfig.Parse(text, "/"));

        Assert.Contains(message, error.Message, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', error.Message);
    }
}

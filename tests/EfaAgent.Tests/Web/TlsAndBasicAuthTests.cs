using System.Globalization;
using System.Net;
using System.Net.Http.Headers;
using System.Security.Cryptography.X509Certificates;
using System.Text;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Web;

/// <summary>
/// <c>--web.config.file</c> in the exporter-toolkit format: the agent process served over HTTPS with a
/// client-certificate check and basic auth, scraped by a real Prometheus and by a client that tries
/// right and wrong credentials; files rotated while it runs.
/// </summary>
public sealed class TlsAndBasicAuthTests : IDisposable
{
    private const string User = "prometheus";
    private const string Password = "s3cret with spaces";

    private readonly TempDir _dir = new();
    private readonly TestCertificates _ca;
    private readonly TestCertificates _otherCa;
    private readonly X509Certificate2 _client;
    private readonly X509Certificate2 _strangerClient;

    public TlsAndBasicAuthTests()
    {
        _ca = new TestCertificates(_dir.Path, "ca");
        _otherCa = new TestCertificates(_dir.Path, "other-ca");
        _ca.Issue("server", client: false);
        _client = _ca.Issue("client", client: true);
        _strangerClient = _otherCa.Issue("stranger", client: true);
    }

    public void Dispose()
    {
        _client.Dispose();
        _strangerClient.Dispose();
        _ca.Dispose();
        _otherCa.Dispose();
        _dir.Dispose();
    }

    private static string WebConfig(string password, int cost = 4) =>
        $"""
        # the same file node_exporter takes
        tls_server_config:
          cert_file: server.crt
          key_file: server.key
          client_auth_type: RequireAndVerifyClientCert
          client_ca_file: ca.crt
          min_version: TLS12
        http_server_config:
          headers:
            X-Content-Type-Options: nosniff
        basic_auth_users:
          {User}: {BCrypt.Net.BCrypt.HashPassword(password, cost)}
        """;

    private AgentProcess StartAgent(string webConfig, params string[] extra)
    {
        var path = _dir.Combine("web.yml");
        File.WriteAllText(path, webConfig);
        return EndToEndTests.StartOn("p4d-postsplit", ["--web.config.file=" + path, .. extra]);
    }

    [Fact]
    public async Task Prometheus_scrapes_over_HTTPS_with_basic_auth_and_a_client_certificate()
    {
        await using var agent = StartAgent(WebConfig(Password));
        await WaitServingAsync(agent);
        var config = _dir.Combine("prometheus.yml");
        string Job(string name, string password) => $"""
              - job_name: {name}
                scheme: https
                basic_auth:
                  username: {User}
                  password: "{password}"
                tls_config:
                  ca_file: {_ca.CaFile}
                  cert_file: {_dir.Combine("client.crt")}
                  key_file: {_dir.Combine("client.key")}
                static_configs:
                  - targets: ["127.0.0.1:{agent.Port}"]
            """;
        await File.WriteAllTextAsync(config, $"""
            global:
              scrape_interval: 1s
              scrape_timeout: 1s
            scrape_configs:
            {Job("right", Password)}
            {Job("wrong", "not the password")}
            """);
        Directory.CreateDirectory(_dir.Combine("data"));
        await using var prometheus = await PrometheusServer.StartAsync(config, _dir.Combine("data"));

        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (true)
        {
            var right = await prometheus.QueryAsync("up{job=\"right\"} == 1 and on() efa_devices{job=\"right\"} == 4");
            var wrong = await prometheus.QueryAsync("up{job=\"wrong\"} == 0");
            if (right.GetArrayLength() == 1 && wrong.GetArrayLength() == 1)
            {
                break;
            }

            Assert.True(DateTime.UtcNow < deadline, $"Prometheus did not scrape as expected:\n{prometheus.Log}\n{agent.Output}");
            await Task.Delay(250);
        }
    }

    [Fact]
    public async Task Right_and_wrong_credentials_and_certificates_get_what_they_should()
    {
        await using var agent = StartAgent(WebConfig(Password));
        await WaitServingAsync(agent);

        using (var response = await GetAsync(agent, _client, User, Password))
        {
            Assert.Equal(HttpStatusCode.OK, response.StatusCode);
            Assert.Contains("efa_devices 4", await response.Content.ReadAsStringAsync(), StringComparison.Ordinal);
            Assert.Equal("nosniff", response.Headers.GetValues("X-Content-Type-Options").Single());
        }

        using (var response = await GetAsync(agent, _client, User, "wrong"))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
            Assert.Equal("Basic", response.Headers.WwwAuthenticate.Single().Scheme);
        }

        using (var response = await GetAsync(agent, _client, "nobody", Password))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        using (var response = await GetAsync(agent, _client, null, null))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, response.StatusCode);
        }

        // The TLS handshake itself fails without a certificate, or with one from another CA.
        await Assert.ThrowsAsync<HttpRequestException>(() => GetAsync(agent, null, User, Password));
        await Assert.ThrowsAsync<HttpRequestException>(() => GetAsync(agent, _strangerClient, User, Password));
        Assert.False(agent.HasExited);
    }

    [Fact]
    public async Task A_rotated_certificate_and_a_new_password_apply_without_a_restart()
    {
        await using var agent = StartAgent(WebConfig(Password));
        await WaitServingAsync(agent);
        var first = await ServerCertificateAsync(agent);

        using var rotated = _ca.Issue("server", client: false);
        await File.WriteAllTextAsync(_dir.Combine("web.yml"), WebConfig("the new one"));

        var deadline = DateTime.UtcNow.AddSeconds(15);
        while (await ServerCertificateAsync(agent) == first)
        {
            Assert.True(DateTime.UtcNow < deadline, $"the new certificate was not served:\n{agent.Output}");
            await Task.Delay(200);
        }

        Assert.Equal(rotated.SerialNumber, await ServerCertificateAsync(agent));
        using (var old = await GetAsync(agent, _client, User, Password))
        {
            Assert.Equal(HttpStatusCode.Unauthorized, old.StatusCode);
        }

        using (var fresh = await GetAsync(agent, _client, User, "the new one"))
        {
            Assert.Equal(HttpStatusCode.OK, fresh.StatusCode);
        }

        Assert.Contains("re-read", agent.Output, StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_web_config_that_turns_bad_is_logged_and_the_previous_one_stays()
    {
        await using var agent = StartAgent(WebConfig(Password));
        await WaitServingAsync(agent);
        await File.WriteAllTextAsync(_dir.Combine("web.yml"), "basic_auth_users:\n  prometheus: plaintext\n");
        await Task.Delay(1500);

        using var response = await GetAsync(agent, _client, User, Password);
        Assert.Equal(HttpStatusCode.OK, response.StatusCode);
        Assert.Contains("cannot be used: basic_auth_users.prometheus: not a bcrypt hash", agent.Output, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("tls_server_config:\n  cert_file: missing.crt\n  key_file: missing.key\n", "cannot load cert_file")]
    [InlineData("tls_server_config:\n  cert_file: server.crt\n", "needs both cert_file and key_file")]
    [InlineData("basic_auth_users:\n  prometheus: plaintext\n", "not a bcrypt hash")]
    [InlineData("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  client_auth_type: Sometimes\n", "\"Sometimes\" is not accepted")]
    [InlineData("tls_server_config:\n  cert_file: server.crt\n  key_file: server.key\n  min_version: TLS13\n  max_version: TLS12\n", "no TLS version from min_version TLS13 to max_version TLS12")]
    [InlineData("http_server_config:\n  headers:\n    Set-Cookie: a=b\n", "\"Set-Cookie\" is not accepted")]
    [InlineData("tls_config:\n  cert_file: x\n", "unknown setting \"tls_config\"")]
    [InlineData("basic_auth_users: [\n", "not valid YAML")]
    public async Task A_bad_web_config_file_stops_the_start_with_one_line_and_exit_code_2(string text, string message)
    {
        var path = _dir.Combine("bad.yml");
        await File.WriteAllTextAsync(path, text);
        await using var agent = AgentProcess.Start(["--web.config.file=" + path], addListenAddress: false);
        Assert.True(agent.WaitForExit(TimeSpan.FromSeconds(30)));

        Assert.Equal(2, agent.ExitCode);
        var lines = agent.Output.Trim().Split('\n');
        Assert.Single(lines);
        Assert.StartsWith($"efa-agent: invalid --web.config.file \"{path}\": ", lines[0], StringComparison.Ordinal);
        Assert.Contains(message, lines[0], StringComparison.Ordinal);
    }

    [Fact]
    public async Task Requests_past_web_max_requests_are_answered_503_at_once()
    {
        // A costly bcrypt hash holds each request for a while; with a limit of 1, a second one at the same time gets 503.
        var path = _dir.Combine("auth.yml");
        await File.WriteAllTextAsync(path, $"basic_auth_users:\n  {User}: {BCrypt.Net.BCrypt.HashPassword(Password, 13)}\n");
        await using var agent = EndToEndTests.StartOn("p4d-postsplit", "--web.config.file=" + path, "--web.max-requests=1");
        var statuses = await Task.WhenAll(Enumerable.Range(0, 4).Select(async i =>
        {
            using var request = new HttpRequestMessage(HttpMethod.Get, "/metrics");
            request.Headers.Authorization = Basic(User, $"wrong {i}");
            await WaitServingAsync(agent);
            using var response = await agent.Http.SendAsync(request);
            return response.StatusCode;
        }));

        Assert.Contains(HttpStatusCode.ServiceUnavailable, statuses);
        Assert.Contains(HttpStatusCode.Unauthorized, statuses);
    }

    private static AuthenticationHeaderValue Basic(string user, string password) =>
        new("Basic", Convert.ToBase64String(Encoding.UTF8.GetBytes($"{user}:{password}")));

    private static async Task WaitServingAsync(AgentProcess agent)
    {
        var deadline = DateTime.UtcNow.AddSeconds(30);
        while (!agent.Output.Contains("http: listening on ", StringComparison.Ordinal))
        {
            Assert.False(agent.HasExited, agent.Output);
            Assert.True(DateTime.UtcNow < deadline, agent.Output);
            await Task.Delay(50);
        }
    }

    /// <summary>A GET on a new connection, trusting only the test CA, with an optional client certificate and credentials.</summary>
    private async Task<HttpResponseMessage> GetAsync(AgentProcess agent, X509Certificate2? clientCertificate, string? user, string? password)
    {
        using var handler = Handler(clientCertificate, _ => { });
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(20) };
        using var request = new HttpRequestMessage(HttpMethod.Get, $"https://127.0.0.1:{agent.Port}/metrics");
        if (user is not null)
        {
            request.Headers.Authorization = Basic(user, password!);
        }

        var response = await client.SendAsync(request);
        await response.Content.LoadIntoBufferAsync();
        return response;
    }

    private async Task<string> ServerCertificateAsync(AgentProcess agent)
    {
        var serial = "";
        using var handler = Handler(_client, c => serial = c.SerialNumber);
        using var client = new HttpClient(handler) { Timeout = TimeSpan.FromSeconds(20) };
        using var response = await client.GetAsync(new Uri($"https://127.0.0.1:{agent.Port}/healthz"));
        return serial.ToString(CultureInfo.InvariantCulture);
    }

    private SocketsHttpHandler Handler(X509Certificate2? clientCertificate, Action<X509Certificate2> seen)
    {
        var handler = new SocketsHttpHandler();
        handler.SslOptions.ClientCertificates = clientCertificate is null ? null : [clientCertificate];
        handler.SslOptions.RemoteCertificateValidationCallback = (_, certificate, _, _) =>
        {
            if (certificate is not X509Certificate2 server)
            {
                return false;
            }

            seen(server);
            using var chain = new X509Chain();
            chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
            chain.ChainPolicy.CustomTrustStore.Add(_ca.Ca);
            chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
            return chain.Build(server);
        };
        return handler;
    }
}

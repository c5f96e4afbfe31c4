using System.Net.Security;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace EfaAgent.Agent.Web;

/// <summary>
/// The certificate, key and client CAs of one version of <c>tls_server_config</c>, loaded from their
/// PEM files, and the TLS settings a connection is served with.
/// </summary>
public sealed class TlsMaterial : IDisposable
{
    private readonly X509Certificate2 _certificate;
    private readonly X509Certificate2Collection _clientCas;
    private readonly SslStreamCertificateContext _context;

    private TlsMaterial(TlsSettings settings, X509Certificate2 certificate, X509Certificate2Collection clientCas)
    {
        Settings = settings;
        _certificate = certificate;
        _clientCas = clientCas;
        _context = SslStreamCertificateContext.Create(certificate, additionalCertificates: null, offline: true);
    }

    /// <summary>The settings this was loaded from.</summary>
    public TlsSettings Settings { get; }

    /// <summary>Loads the files named by <paramref name="settings"/>.</summary>
    /// <exception cref="WebConfigException">A file is missing or is not what it should be.</exception>
    public static TlsMaterial Load(TlsSettings settings)
    {
        X509Certificate2 certificate;
        try
        {
            certificate = X509Certificate2.CreateFromPemFile(settings.CertFile, settings.KeyFile);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException or ArgumentException)
        {
            throw new WebConfigException($"tls_server_config: cannot load cert_file \"{settings.CertFile}\" with key_file \"{settings.KeyFile}\": {e.Message}");
        }

        var cas = new X509Certificate2Collection();
        if (settings.ClientCaFile is { } caFile)
        {
            try
            {
                cas.ImportFromPemFile(caFile);
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException or CryptographicException)
            {
                certificate.Dispose();
                throw new WebConfigException($"tls_server_config: cannot load client_ca_file \"{caFile}\": {e.Message}");
            }

            if (cas.Count == 0)
            {
                certificate.Dispose();
                throw new WebConfigException($"tls_server_config: client_ca_file \"{caFile}\" holds no certificate");
            }
        }

        return new TlsMaterial(settings, certificate, cas);
    }

    /// <summary>The options a new connection is authenticated with.</summary>
    public SslServerAuthenticationOptions ServerOptions()
    {
        var auth = Settings.ClientAuth;
        var options = new SslServerAuthenticationOptions
        {
            ServerCertificateContext = _context,
            EnabledSslProtocols = Settings.Protocols,
            ClientCertificateRequired = auth != ClientAuth.None,
            CertificateRevocationCheckMode = X509RevocationMode.NoCheck,
            RemoteCertificateValidationCallback = (_, certificate, _, _) => AcceptClient(auth, certificate),
        };
        if (Settings.CipherSuites is { } suites && !OperatingSystem.IsWindows())
        {
            options.CipherSuitesPolicy = new CipherSuitesPolicy(suites);
        }

        return options;
    }

    /// <inheritdoc />
    public void Dispose()
    {
        _certificate.Dispose();
        foreach (var ca in _clientCas)
        {
            ca.Dispose();
        }
    }

    private bool AcceptClient(ClientAuth auth, X509Certificate? certificate)
    {
        if (certificate is null)
        {
            return auth is ClientAuth.None or ClientAuth.Request or ClientAuth.VerifyIfGiven;
        }

        if (auth is ClientAuth.None or ClientAuth.Request or ClientAuth.RequireAny)
        {
            return true;
        }

        // Verified against client_ca_file only, never the system store, as Go's ClientCAs does.
        using var chain = new X509Chain();
        chain.ChainPolicy.TrustMode = X509ChainTrustMode.CustomRootTrust;
        chain.ChainPolicy.CustomTrustStore.AddRange(_clientCas);
        chain.ChainPolicy.RevocationMode = X509RevocationMode.NoCheck;
        chain.ChainPolicy.ApplicationPolicy.Add(new Oid("1.3.6.1.5.5.7.3.2")); // client authentication
        using var client = new X509Certificate2(certificate);
        return chain.Build(client);
    }
}

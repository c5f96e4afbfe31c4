using System.Net;
using System.Security.Cryptography;
using System.Security.Cryptography.X509Certificates;

namespace EfaAgent.Tests.Support;

/// <summary>A CA and the certificates it issues, made in the test with <see cref="CertificateRequest"/> and written as PEM files.</summary>
public sealed class TestCertificates : IDisposable
{
    private readonly X509Certificate2 _ca;
    private readonly string _dir;

    /// <summary>Creates a self-signed CA named <paramref name="name"/> and writes <c>&lt;name&gt;.crt</c> into <paramref name="dir"/>.</summary>
    public TestCertificates(string dir, string name)
    {
        _dir = dir;
        var key = ECDsa.Create(ECCurve.NamedCurves.nistP256); // held by the CA certificate
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(true, false, 0, true));
        request.CertificateExtensions.Add(new X509KeyUsageExtension(X509KeyUsageFlags.KeyCertSign | X509KeyUsageFlags.CrlSign, true));
        _ca = request.CreateSelfSigned(DateTimeOffset.UtcNow.AddDays(-1), DateTimeOffset.UtcNow.AddDays(30));
        CaFile = Path.Combine(dir, name + ".crt");
        File.WriteAllText(CaFile, _ca.ExportCertificatePem());
    }

    /// <summary>The CA certificate's PEM file.</summary>
    public string CaFile { get; }

    /// <summary>The CA certificate.</summary>
    public X509Certificate2 Ca => _ca;

    /// <summary>
    /// Issues a certificate for <c>127.0.0.1</c> (a server) or for a client, writes
    /// <c>&lt;name&gt;.crt</c> and <c>&lt;name&gt;.key</c>, and returns it with its private key.
    /// </summary>
    public X509Certificate2 Issue(string name, bool client)
    {
        using var key = ECDsa.Create(ECCurve.NamedCurves.nistP256);
        var request = new CertificateRequest($"CN={name}", key, HashAlgorithmName.SHA256);
        request.CertificateExtensions.Add(new X509BasicConstraintsExtension(false, false, 0, false));
        request.CertificateExtensions.Add(new X509EnhancedKeyUsageExtension(
            [new Oid(client ? "1.3.6.1.5.5.7.3.2" : "1.3.6.1.5.5.7.3.1")], false));
        if (!client)
        {
            var san = new SubjectAlternativeNameBuilder();
            san.AddIpAddress(IPAddress.Loopback);
            request.CertificateExtensions.Add(san.Build());
        }

        var serial = RandomNumberGenerator.GetBytes(12);
        using var issued = request.Create(_ca, DateTimeOffset.UtcNow.AddHours(-1), DateTimeOffset.UtcNow.AddDays(10), serial);
        var withKey = issued.CopyWithPrivateKey(key);
        File.WriteAllText(Path.Combine(_dir, name + ".crt"), withKey.ExportCertificatePem());
        File.WriteAllText(Path.Combine(_dir, name + ".key"), key.ExportPkcs8PrivateKeyPem());
        return withKey;
    }

    /// <inheritdoc />
    public void Dispose() => _ca.Dispose();
}

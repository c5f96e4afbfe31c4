using System.Net;
using System.Net.Sockets;
using EfaAgent.Agent.Options;

namespace EfaAgent.Agent.Doctor.Checks;

/// <summary>Check 6: the local agent serves and samples (its <c>/healthz</c> at <c>--web.listen-address</c>).</summary>
public sealed class AgentCheck : IDoctorCheck
{
    private const string Name = "agent";

    /// <inheritdoc />
    public async Task<IReadOnlyList<CheckResult>> RunAsync(DoctorContext context, CancellationToken cancellationToken)
    {
        var listen = context.Settings.Agent.ListenAddress;
        var host = listen.Host ?? IPAddress.Loopback;
        var address = new ListenAddress(host, listen.Port).ToString();
        using var http = new HttpClient { Timeout = context.Settings.Timeout };
        try
        {
            using var response = await http.GetAsync(new Uri($"http://{address}/healthz"), cancellationToken).ConfigureAwait(false);
            var body = (await response.Content.ReadAsStringAsync(cancellationToken).ConfigureAwait(false)).Trim();
            return response.StatusCode == HttpStatusCode.OK
                ? [CheckResult.Ok(Name, $"efa-agent serves on {address} and samples (/healthz: {body})")]
                : [new CheckResult(Name, CheckStatus.Fail, $"efa-agent on {address} answers but is not sampling (/healthz {(int)response.StatusCode}: {body})",
                    "read its log: journalctl -u efa-agent -n 50; then sudo systemctl restart efa-agent")];
        }
        catch (HttpRequestException e) when (e.InnerException is SocketException { SocketErrorCode: SocketError.ConnectionRefused })
        {
            return [new CheckResult(Name, CheckStatus.Warn, $"no efa-agent on {address}: nothing records this node's EFA and GPU counters",
                "sudo systemctl enable --now efa-agent (installed by the efa-agent package, deploy/README.md); or pass --web.listen-address where it listens")];
        }
        catch (Exception e) when (e is HttpRequestException or TaskCanceledException && !cancellationToken.IsCancellationRequested)
        {
            return [new CheckResult(Name, CheckStatus.Warn, $"efa-agent on {address} does not answer: {e.Message}", "sudo systemctl status efa-agent")];
        }
    }
}

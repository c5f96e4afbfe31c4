using System.Net;
using System.Text;
using EfaAgent.Agent.Options;
using EfaAgent.Agent.Sampling;
using EfaAgent.Collectors;

namespace EfaAgent.Agent.Exposition;

/// <summary>The page at <c>/</c>: what this agent is, what it sees, and where the metrics are.</summary>
public static class LandingPage
{
    /// <summary>Renders the page.</summary>
    public static string Render(AgentOptions options, IReadOnlyList<ICollector> collectors, SamplingService sampling)
    {
        var sb = new StringBuilder();
        sb.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>efa-agent</title>");
        sb.Append("<style>body{font-family:sans-serif;margin:2em;max-width:60em}td,th{padding:.2em 1em;text-align:left}.sim{background:#fff3cd;border:1px solid #e0b000;padding:.8em}</style>");
        sb.Append("</head><body><h1>efa-agent</h1>");
        sb.Append("<p>EFA, network interface and NVIDIA GPU metrics of this node for Prometheus. Version ")
            .Append(WebUtility.HtmlEncode(SelfMetrics.Version)).Append(".</p>");
        if (options.SimulatedShape is not null)
        {
            sb.Append("<p class=\"sim\"><b>Simulated data.</b> This agent reads a simulated ")
                .Append(WebUtility.HtmlEncode(options.SimulatedShape))
                .Append(" node built by <code>efa-agent demo</code> under <code>")
                .Append(WebUtility.HtmlEncode(options.SysfsRoot))
                .Append("</code>; no value here comes from real hardware.</p>");
        }

        sb.Append("<p><a href=\"/metrics\">/metrics</a> &middot; <a href=\"/healthz\">/healthz</a> (")
            .Append(sampling.IsHealthy ? "sampling" : "NOT sampling").Append(")</p>");
        sb.Append("<table><tr><th>collector</th><th>devices</th></tr>");
        foreach (var c in collectors)
        {
            sb.Append("<tr><td>").Append(WebUtility.HtmlEncode(c.Name)).Append("</td><td>").Append(c.DeviceCount).Append("</td></tr>");
        }

        sb.Append("</table><p>sysfs <code>").Append(WebUtility.HtmlEncode(options.SysfsRoot))
            .Append("</code>, procfs <code>").Append(WebUtility.HtmlEncode(options.ProcfsRoot))
            .Append("</code>, sample interval ").Append(Durations.Format(options.SampleInterval))
            .Append(", burst window ").Append(Durations.Format(options.BurstWindow)).Append(".</p></body></html>");
        return sb.ToString();
    }
}

using Microsoft.Extensions.Primitives;
using Microsoft.Net.Http.Headers;
using Prometheus;

namespace EfaAgent.Agent.Exposition;

/// <summary>
/// Picks the exposition format and encoding of a scrape from its request headers the way the
/// Prometheus client libraries do (client_golang's <c>expfmt.Negotiate</c> and <c>promhttp</c>): the
/// Accept entries in order of quality, the first <c>text/plain</c> (version 0.0.4 or none) or
/// <c>application/openmetrics-text</c> (version 0.0.1, 1.0.0 or none) wins, anything else means the
/// Prometheus text format; gzip when Accept-Encoding names it with a quality above 0.
/// </summary>
public static class ExpositionNegotiation
{
    private const string TextMediaType = "text/plain";
    private const string OpenMetricsMediaType = "application/openmetrics-text";

    /// <summary>The format to answer a request with this Accept header.</summary>
    public static ExpositionFormat Format(StringValues accept)
    {
        if (StringValues.IsNullOrEmpty(accept) || !MediaTypeHeaderValue.TryParseList(accept, out var types))
        {
            return ExpositionFormat.PrometheusText;
        }

        // OrderBy is stable: entries of the same quality keep the client's order.
        foreach (var type in types.Where(t => (t.Quality ?? 1) > 0).OrderByDescending(t => t.Quality ?? 1))
        {
            var version = NameValueHeaderValue.Find(type.Parameters, "version")?.Value.Value;
            if (type.MediaType.Equals(TextMediaType, StringComparison.OrdinalIgnoreCase) && version is null or "0.0.4")
            {
                return ExpositionFormat.PrometheusText;
            }

            if (type.MediaType.Equals(OpenMetricsMediaType, StringComparison.OrdinalIgnoreCase) && version is null or "0.0.1" or "1.0.0")
            {
                return ExpositionFormat.OpenMetricsText;
            }
        }

        return ExpositionFormat.PrometheusText;
    }

    /// <summary>Whether a request with this Accept-Encoding header gets a gzip body.</summary>
    public static bool Gzip(StringValues acceptEncoding) =>
        !StringValues.IsNullOrEmpty(acceptEncoding)
        && StringWithQualityHeaderValue.TryParseList(acceptEncoding, out var codings)
        && codings.Any(c => c.Value.Equals("gzip", StringComparison.OrdinalIgnoreCase) && (c.Quality ?? 1) > 0);

    /// <summary>The Content-Type of a body in <paramref name="format"/>.</summary>
    public static string ContentType(ExpositionFormat format) => format == ExpositionFormat.OpenMetricsText
        ? PrometheusConstants.OpenMetricsContentTypeWithVersionAndEncoding
        : PrometheusConstants.TextContentTypeWithVersionAndEncoding;
}

using EfaAgent.Collectors.Parsing;

namespace EfaAgent.Collectors.Model;

/// <summary>
/// Hands out series during a layout build and refuses a second file that would export the same series:
/// file names are sanitised into metric names, so <c>a-b</c> and <c>a_b</c>, or <c>x</c> and
/// <c>x_total</c>, meet. The first (in the caller's order) is exported; the other is named in
/// <see cref="UnavailableSeries"/> as a <c>name_collision</c>, never silently lost.
/// </summary>
public sealed class MetricNameClaims(UnavailableSeries unavailable)
{
    private readonly Dictionary<string, string> _owners = new(StringComparer.Ordinal);
    private readonly List<(string Device, string Port, string Counter)> _collisions = [];

    /// <summary>The counters refused so far.</summary>
    public IReadOnlyList<(string Device, string Port, string Counter)> Collisions => _collisions;

    /// <summary>Claims <paramref name="series"/> for a counter; false (and an unavailable entry) when another counter has it.</summary>
    public bool Claim(Series series, string device, string port, string counter)
    {
        if (_owners.TryAdd(series.Key, counter))
        {
            return true;
        }

        _collisions.Add((device, port, counter));
        unavailable.Set(device, port, counter, CounterParser.Describe(CounterStatus.NameCollision),
            $"it would be exported as {series}, which {ExpositionText.Printable(_owners[series.Key])} already is");
        return false;
    }
}

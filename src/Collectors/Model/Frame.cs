namespace EfaAgent.Collectors.Model;

/// <summary>
/// What a collector has to show after a tick: its layout and one value per series of it, with
/// <see cref="double.NaN"/> marking a series that is absent this tick.
/// </summary>
public readonly struct Frame(Layout layout, ReadOnlyMemory<double> values)
{
    /// <summary>The series.</summary>
    public Layout Layout { get; } = layout;

    /// <summary>One value per series.</summary>
    public ReadOnlyMemory<double> Values { get; } = values;
}

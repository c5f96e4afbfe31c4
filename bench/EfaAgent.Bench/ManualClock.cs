namespace EfaAgent.Bench;

/// <summary>A clock that moves only when the benchmark moves it: a settled tree without waiting 30 s.</summary>
internal sealed class ManualClock : TimeProvider
{
    private long _ticks;

    /// <inheritdoc />
    public override long TimestampFrequency => TimeSpan.TicksPerSecond;

    /// <summary>Moves the clock forward.</summary>
    public void Advance(TimeSpan by) => _ticks += by.Ticks;

    /// <inheritdoc />
    public override long GetTimestamp() => _ticks;
}

namespace EfaAgent.Collectors.Derive;

/// <summary>
/// Turns the raw readings of one hardware counter into a counter that never goes backwards.
/// A driver reload resets hardware counters to 0; a reading below the previous one is therefore a
/// reset, and the counts since the reset are the new reading itself. The exported value keeps the
/// total from before the reset as an offset, so PromQL <c>rate()</c> sees neither a negative rate nor
/// (when a reset and a catch-up fall between two scrapes) a lost increase.
/// </summary>
public struct CounterState
{
    private ulong _last;
    private double _offset;
    private bool _seen;

    /// <summary>How many resets have been seen.</summary>
    public long Resets { readonly get; private set; }

    /// <summary>The monotonic value to export.</summary>
    public readonly double Value => _offset + _last;

    /// <summary>Records a reading; returns the increase since the previous reading (0 for the first).</summary>
    public ulong Update(ulong raw)
    {
        ulong delta;
        if (!_seen)
        {
            delta = 0;
            _seen = true;
        }
        else if (raw >= _last)
        {
            delta = raw - _last;
        }
        else
        {
            _offset += _last;
            Resets++;
            delta = raw;
        }

        _last = raw;
        return delta;
    }
}

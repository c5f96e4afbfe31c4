namespace EfaAgent.Collectors.Derive;

/// <summary>
/// Turns the raw readings of one hardware counter into a counter that never goes backwards.
/// A driver reload resets hardware counters to 0; a reading below the previous one is therefore a
/// reset, and the counts since the reset are the new reading itself. The exported value keeps the
/// total from before the reset as an offset, so PromQL <c>rate()</c> sees neither a negative rate nor
/// (when a reset and a catch-up fall between two scrapes) a lost increase.
/// </summary>
/// <para>
/// A reading can also be implausible: a counter that reads 2^64-1 once and then a normal value would
/// otherwise add 1.8e19 for good. <see cref="TryUpdate"/> takes the largest increase the hardware can
/// make since the last reading; a larger one is not folded into the total.
/// </para>
public struct CounterState
{
    private ulong _last;
    private ulong _base;
    private double _offset;
    private bool _seen;
    private ulong _pending;
    private bool _hasPending;

    /// <summary>How many resets have been seen.</summary>
    public long Resets { readonly get; private set; }

    /// <summary>The monotonic value to export.</summary>
    public readonly double Value => _offset + (_last - _base);

    /// <summary>Records a reading; returns the increase since the previous reading (0 for the first).</summary>
    public ulong Update(ulong raw) => TryUpdate(raw, ulong.MaxValue, out var delta) ? delta : 0;

    /// <summary>
    /// Records a reading unless the increase it implies (counted from 0 after a reset) exceeds
    /// <paramref name="maxDelta"/>: then the total stays as it was and the result is false. When the
    /// next reading continues plausibly from the rejected one, the counter really moved there: the
    /// total continues from it, without the jump.
    /// </summary>
    /// <param name="raw">The reading.</param>
    /// <param name="maxDelta">The largest increase the hardware can make since the last accepted reading.</param>
    /// <param name="delta">The increase folded into the total (0 for the first reading or a rejected one).</param>
    public bool TryUpdate(ulong raw, ulong maxDelta, out ulong delta)
    {
        if (_seen && Implied(_last, raw) > maxDelta)
        {
            if (!_hasPending || raw < _pending || raw - _pending > maxDelta)
            {
                _pending = raw;
                _hasPending = true;
                delta = 0;
                return false;
            }

            // Two readings in a row agree: re-base on the first one, keeping the exported value. The
            // base is subtracted in integers, so a far jump costs no precision.
            _offset += _last - _base;
            _base = _pending;
            _last = _pending;
        }

        _hasPending = false;
        delta = Fold(raw);
        return true;
    }

    private static ulong Implied(ulong last, ulong raw) => raw >= last ? raw - last : raw;

    private ulong Fold(ulong raw)
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
            _offset += _last - _base;
            _base = 0;
            Resets++;
            delta = raw;
        }

        _last = raw;
        return delta;
    }
}

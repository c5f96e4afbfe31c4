using EfaAgent.Collectors.Model;

namespace EfaAgent.Collectors.Efa;

/// <summary>When discovery walks the tree, and when it only reads the slow lane.</summary>
public sealed partial class EfaCollector
{
    /// <summary>
    /// How long a tree must stay unchanged before it is walked only this often, when the options do
    /// not say. Six discoveries at the default interval of 5 s.
    /// </summary>
    public static readonly TimeSpan DefaultSettledWalkInterval = TimeSpan.FromSeconds(30);

    private long _lastWalk;
    private long _lastChange;

    /// <summary>
    /// Whether this discovery walks the tree. It does at the first discovery, at once when a read has
    /// just failed (a device that went away, a driver reloaded: sysfs answers ENODEV on the old
    /// descriptors), and on every discovery until the tree has settled: unchanged for
    /// <see cref="EfaCollectorOptions.SettledWalkInterval"/>, with every EFA device its instance type
    /// has (EFA devices can appear late at boot). A settled tree is walked once per that interval:
    /// on the p5 tree a walk re-checks 160 directories and 64 port attributes to find the same tree,
    /// two thirds of a discovery's CPU (docs/performance.md). A device added to a settled node is
    /// found within the interval; the slow lane's counters are read on every discovery all the same.
    /// </summary>
    private bool WalkDue()
    {
        var every = _options.SettledWalkInterval;
        if (!_built || NeedsDiscovery || every <= TimeSpan.Zero || !HasExpectedEfaDevices())
        {
            return true;
        }

        var now = _time.GetTimestamp();
        return _time.GetElapsedTime(_lastChange, now) < every || _time.GetElapsedTime(_lastWalk, now) >= every;
    }

    /// <summary>True unless the instance type is known and has more EFA devices than were found.</summary>
    private bool HasExpectedEfaDevices()
    {
        if (InstanceTypes.Find(_instanceType) is not { } known)
        {
            return true;
        }

        var efa = 0;
        foreach (var d in Devices)
        {
            efa += d.IsEfa ? 1 : 0;
        }

        return efa >= known.EfaDevices;
    }
}

using EfaAgent.Collectors.Nvml;
using Microsoft.Extensions.Logging;

namespace EfaAgent.Collectors.Gpu;

/// <summary>
/// One NVML session: loads the library, initialises it (reporting a failure until NVML answers, retried
/// by the caller), notes when a call says NVML itself is gone, and shuts it down, always stopping the
/// Xid watcher before <c>nvmlShutdown</c>. Only the worker thread calls it, except
/// <see cref="RequestWatcherStop"/> and <see cref="Watcher"/>.
/// </summary>
internal sealed class NvmlSession(GpuCollectorOptions options, Func<INvml> factory, ILogger logger, TimeProvider time) : IDisposable
{
    private INvml? _nvml;
    private volatile XidWatcher? _watcher;
    private NvmlReturn _down;
    private string _downWhere = "";
    private long _xidDroppedEarlier;
    private NvmlReturn? _lastFailure;
    private bool _loggedNoEvents;

    /// <summary>Whether NVML is initialised.</summary>
    public bool Initialised { get; private set; }

    /// <summary>The library; only while <see cref="Initialised"/>.</summary>
    public INvml Nvml => _nvml ?? throw new InvalidOperationException("NVML is not loaded");

    /// <summary>The running Xid watcher, if any.</summary>
    public XidWatcher? Watcher => _watcher;

    /// <summary>The driver version of this session ("" when NVML did not say).</summary>
    public string DriverVersion { get; private set; } = "";

    /// <summary>The NVML version of this session ("" when NVML did not say).</summary>
    public string NvmlVersion { get; private set; } = "";

    /// <summary>The driver's major version (its branch), 0 when unknown.</summary>
    public int DriverMajor { get; private set; }

    /// <summary>Where this session's driver answers the clock-event times (probed on the first slow read).</summary>
    public ClockEventIds ClockEvents { get; set; }

    /// <summary>
    /// While initialisation fails for a reason other than "no NVML here": what failed. Null otherwise.
    /// </summary>
    public string? Failure { get; private set; }

    /// <summary>Xid events dropped from a full queue, all watchers together.</summary>
    public long XidDropped => _xidDroppedEarlier + (_watcher?.Dropped ?? 0);

    /// <summary>Whether a call of this session said NVML itself is gone (see <see cref="Down"/>).</summary>
    public bool IsDown => _down != NvmlReturn.Success;

    /// <summary>Loads the library if needed and initialises it; logs a failure once per return code.</summary>
    /// <returns>True when NVML was initialised by this call; false when it failed (see <see cref="Failure"/>).</returns>
    public bool TryOpen()
    {
        if (_nvml is null)
        {
            try
            {
                _nvml = factory();
            }
            catch (DllNotFoundException e)
            {
                Fail(NvmlReturn.LibraryNotFound, e.Message);
                return false;
            }
            catch (Exception e) when (e is EntryPointNotFoundException or BadImageFormatException)
            {
                Fail(NvmlReturn.FunctionNotFound, e.Message);
                return false;
            }
        }

        var rc = _nvml.Init();
        if (rc != NvmlReturn.Success)
        {
            Fail(rc, _nvml.ErrorString(rc));
            return false;
        }

        Initialised = true;
        _down = NvmlReturn.Success;
        _lastFailure = null;
        Failure = null;
        DriverVersion = _nvml.GetDriverVersion(out var driver) == NvmlReturn.Success ? driver : "";
        NvmlVersion = _nvml.GetNvmlVersion(out var version) == NvmlReturn.Success ? version : "";
        DriverMajor = DriverBranch.Major(DriverVersion);
        ClockEvents = ClockEventIds.Unknown;
        var missing = _nvml.MissingFunctions.Count > 0
            ? " (entry points missing from this driver, their metrics stay absent: " + string.Join(", ", _nvml.MissingFunctions) + ")"
            : "";
        logger.LogInformation("NVML initialised from {Path}: driver {Driver} (branch R{Major}), NVML {Nvml}{Missing}",
            options.LibraryPath, DriverVersion, DriverMajor, NvmlVersion, missing);

        StartWatcher();
        return true;
    }

    /// <summary>Records that a call said NVML itself is gone, if <paramref name="rc"/> says so.</summary>
    /// <returns>True when <paramref name="rc"/> means NVML is gone.</returns>
    public bool Down(NvmlReturn rc, string where)
    {
        if (rc is NvmlReturn.Uninitialized or NvmlReturn.DriverNotLoaded or NvmlReturn.LibRmVersionMismatch)
        {
            _down = rc;
            _downWhere = where;
            return true;
        }

        return false;
    }

    /// <summary>When a call said NVML is gone: logs it, stops the watcher, shuts NVML down and marks the session closed.</summary>
    /// <returns>True when the session was closed by this call.</returns>
    public bool CloseIfDown()
    {
        if (_down == NvmlReturn.Success)
        {
            return false;
        }

        var rc = _down;
        _down = NvmlReturn.Success;
        logger.LogWarning("NVML stopped answering ({Error}; {Code} {Number}, from {Where}); GPU series are absent until it initialises again",
            _nvml!.ErrorString(rc), rc, (int)rc, _downWhere);
        if (StopWatcher())
        {
            _nvml.Shutdown();
        }

        Initialised = false;
        _lastFailure = rc;
        return true;
    }

    /// <summary>Stops the Xid watcher first, then shuts NVML down: a wait must never run on a shut-down library.</summary>
    public void Shutdown()
    {
        if (StopWatcher() && Initialised && _nvml is not null)
        {
            _nvml.Shutdown();
            Initialised = false;
        }
    }

    /// <summary>Asks the Xid watcher to end without waiting (used when the worker itself is stuck).</summary>
    public void RequestWatcherStop() => _watcher?.RequestStop();

    /// <summary>
    /// Unloads the library once the worker has ended, if the Xid watcher has ended too (a wait still
    /// inside the library must not have it unloaded under it).
    /// </summary>
    /// <returns>True when the library was released (or none was loaded).</returns>
    public bool ReleaseLibrary()
    {
        if (_watcher is { HasExited: false })
        {
            return false;
        }

        _nvml?.Dispose();
        _nvml = null;
        return true;
    }

    /// <inheritdoc />
    public void Dispose() => ReleaseLibrary();

    /// <summary>Stops the Xid watcher and waits for its thread (at most two of its waits).</summary>
    /// <returns>True when no watcher runs any more.</returns>
    private bool StopWatcher()
    {
        var watcher = _watcher;
        if (watcher is null)
        {
            return true;
        }

        if (!watcher.Stop(XidWatcher.WaitTimeout + XidWatcher.WaitTimeout))
        {
            logger.LogWarning("the Xid watcher did not stop; NVML is left initialised under it");
            return false;
        }

        _xidDroppedEarlier += watcher.Dropped;
        _watcher = null;
        return true;
    }

    private void StartWatcher()
    {
        var rc = _nvml!.CreateEventSet(out var set);
        if (rc == NvmlReturn.Success && set is not null)
        {
            _watcher = new XidWatcher(set, logger, time);
            _loggedNoEvents = false;
        }
        else if (!_loggedNoEvents)
        {
            logger.LogWarning("no NVML event set ({Error}, {Code}): Xid errors are not counted", _nvml.ErrorString(rc), (int)rc);
            _loggedNoEvents = true;
        }
    }

    private void Fail(NvmlReturn rc, string message)
    {
        // The runtime's DllNotFoundException is several lines of advice around the dlopen error; the
        // dlopen error (the last line) is the part worth a log line.
        var lines = message.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        message = lines.Length > 1 ? lines[^1] : message.Trim();
        var missing = rc is NvmlReturn.LibraryNotFound or NvmlReturn.DriverNotLoaded;
        if (_lastFailure != rc)
        {
            if (missing)
            {
                logger.LogInformation("NVML is not available ({Message}; {Code} {Number}): no GPU metrics; checked again on the slow cadence",
                    message, rc, (int)rc);
            }
            else
            {
                logger.LogWarning("NVML initialisation failed: {Message} ({Code} {Number}); no GPU metrics until it succeeds (retried on the slow cadence)",
                    message, rc, (int)rc);
            }

            _lastFailure = rc;
        }

        Failure = missing ? null : $"NVML initialisation failed: {message} ({rc}, code {(int)rc}), library {options.LibraryPath}";
    }
}

using System.Runtime.InteropServices;

namespace EfaAgent.Agent.Top;

/// <summary>
/// Cancels a token on SIGTERM and SIGINT (Ctrl+C) instead of letting the runtime end the process, so
/// the view can restore the terminal and the demo stop its agents.
/// </summary>
public sealed class SignalStop : IDisposable
{
    private readonly CancellationTokenSource _stop = new();
    private readonly PosixSignalRegistration _term;
    private readonly PosixSignalRegistration _int;

    /// <summary>Starts listening for the signals.</summary>
    public SignalStop()
    {
        _term = PosixSignalRegistration.Create(PosixSignal.SIGTERM, Stop);
        _int = PosixSignalRegistration.Create(PosixSignal.SIGINT, Stop);
    }

    /// <summary>Cancelled on the first signal, or by <see cref="Cancel"/>.</summary>
    public CancellationToken Token => _stop.Token;

    /// <summary>Cancels the token.</summary>
    public void Cancel() => _stop.Cancel();

    /// <inheritdoc />
    public void Dispose()
    {
        _term.Dispose();
        _int.Dispose();
        _stop.Dispose();
    }

    private void Stop(PosixSignalContext context)
    {
        context.Cancel = true;
        _stop.Cancel();
    }
}

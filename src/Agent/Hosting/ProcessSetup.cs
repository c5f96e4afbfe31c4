using System.Runtime.InteropServices;
using EfaAgent.Collectors.Sysfs;
using Microsoft.Extensions.Logging;

namespace EfaAgent.Agent.Hosting;

/// <summary>What the process sets up for itself before the host starts: its file limit and its signals.</summary>
public static class ProcessSetup
{
    /// <summary>
    /// Raises the soft open-file limit to the hard one (each counter file is held open: a p5 needs
    /// over 1,100 descriptors, past a shell's usual soft limit of 1024) and logs the result.
    /// </summary>
    public static void RaiseFileLimit(ILogger log)
    {
        var (before, after, error) = FileLimit.RaiseSoftToHard();
        if (error is not null)
        {
            log.LogWarning("cannot raise the open-file limit from {Limit}: {Reason}", before, error);
        }
        else if (after != before)
        {
            log.LogInformation("open-file limit raised from {Before} to {After} (the hard limit)", before, after);
        }
    }

    /// <summary>
    /// SIGHUP is ignored and logged: by default it would end the process with code 129, which systemd's
    /// <c>Restart=on-failure</c> does not restart. Settings are read at start; the web config file is
    /// re-read on its own when it changes.
    /// </summary>
    public static IDisposable IgnoreHangup(ILogger log) =>
        PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
        {
            context.Cancel = true;
            log.LogInformation("SIGHUP received and ignored: settings are read at start (restart the agent to change them); the web config file is re-read when it changes");
        });
}

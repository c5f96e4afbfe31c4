using System.ComponentModel;
using System.Diagnostics;

namespace EfaAgent.Agent.Doctor;

/// <summary>What an external program did.</summary>
/// <param name="ExitCode">Its exit code; null when it did not finish (timed out, or could not start).</param>
/// <param name="Output">Standard output and error.</param>
/// <param name="TimedOut">It ran past the timeout and was killed.</param>
/// <param name="StartError">Why it could not start; null when it started.</param>
public sealed record ProgramResult(int? ExitCode, string Output, bool TimedOut, string? StartError);

/// <summary>Runs an optional external program (<c>fi_info</c>) with a timeout; never throws for what the program does.</summary>
public static class ExternalProgram
{
    /// <summary>
    /// The program <paramref name="name"/> under <paramref name="settings"/>' root in <paramref name="directories"/>,
    /// then, on the host's own root, on PATH; null when it is nowhere.
    /// </summary>
    public static string? Find(DoctorSettings settings, string name, params string[] directories)
    {
        foreach (var dir in directories)
        {
            var path = settings.UnderRoot(dir.TrimStart('/'), name);
            if (File.Exists(path))
            {
                return path;
            }
        }

        if (!settings.IsHostRoot)
        {
            return null;
        }

        return (Environment.GetEnvironmentVariable("PATH") ?? "").Split(':', StringSplitOptions.RemoveEmptyEntries)
            .Select(d => Path.Combine(d, name)).FirstOrDefault(File.Exists);
    }

    /// <summary>Runs <paramref name="path"/> with <paramref name="args"/>; kills it and its children after <paramref name="timeout"/>.</summary>
    public static async Task<ProgramResult> RunAsync(string path, IEnumerable<string> args, TimeSpan timeout, CancellationToken cancellationToken)
    {
        var psi = new ProcessStartInfo(path) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = new Process { StartInfo = psi };
        try
        {
            process.Start();
        }
        catch (Exception e) when (e is Win32Exception or InvalidOperationException)
        {
            return new ProgramResult(null, "", false, e.Message);
        }

        // Process.Dispose does not close streams read synchronously: close them here, not in a finalizer.
        using var stdoutReader = process.StandardOutput;
        using var stderrReader = process.StandardError;
        var stdout = stdoutReader.ReadToEndAsync(cancellationToken);
        var stderr = stderrReader.ReadToEndAsync(cancellationToken);
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        deadline.CancelAfter(timeout);
        try
        {
            await process.WaitForExitAsync(deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            process.Kill(entireProcessTree: true);
            await process.WaitForExitAsync(CancellationToken.None).ConfigureAwait(false);
            await OutputAsync(stdout, stderr, timeout).ConfigureAwait(false);
            return new ProgramResult(null, "", true, null);
        }

        return new ProgramResult(process.ExitCode, await OutputAsync(stdout, stderr, timeout).ConfigureAwait(false), false, null);
    }

    /// <summary>Both streams once they end; what came when a process it left behind keeps a pipe open past <paramref name="timeout"/>.</summary>
    private static async Task<string> OutputAsync(Task<string> stdout, Task<string> stderr, TimeSpan timeout)
    {
        try
        {
            await Task.WhenAll(stdout, stderr).WaitAsync(timeout).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            // a daemon it started still holds the pipe: report what finished
        }

        return (stdout.IsCompletedSuccessfully ? stdout.Result : "") + (stderr.IsCompletedSuccessfully ? stderr.Result : "");
    }
}

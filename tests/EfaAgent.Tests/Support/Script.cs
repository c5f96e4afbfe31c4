using System.Diagnostics;
using System.Text;

namespace EfaAgent.Tests.Support;

/// <summary>What a script run returned.</summary>
/// <param name="Command">The command line, for messages.</param>
/// <param name="ExitCode">Its exit status; -1 when it was killed at the time limit.</param>
/// <param name="Output">Standard output and standard error, interleaved as written.</param>
/// <param name="Elapsed">How long it ran.</param>
public sealed record ScriptResult(string Command, int ExitCode, string Output, TimeSpan Elapsed)
{
    private const int MaxShown = 60_000;

    /// <summary>Whether it was killed at the time limit.</summary>
    public bool TimedOut => ExitCode == -1;

    /// <summary>A message naming the command, how it ended, and its output (the end of it, when long).</summary>
    public string Describe()
    {
        var ending = TimedOut ? "was killed at its time limit" : $"exited with {ExitCode}";
        var output = Output.Length <= MaxShown ? Output : "[...]\n" + Output[^MaxShown..];
        return $"{Command} {ending} after {Elapsed.TotalSeconds:F1} s. Output:\n{output}";
    }
}

/// <summary>Runs repository scripts and tools (bash, shellcheck) as child processes.</summary>
public static class Script
{
    /// <summary>
    /// Runs <paramref name="program"/> with <paramref name="args"/> in the repository root, stdout and stderr
    /// merged, killing it (and its children) after <paramref name="timeout"/>. <paramref name="environment"/>
    /// sets variables, or removes those mapped to null.
    /// </summary>
    public static ScriptResult Run(
        string program,
        IEnumerable<string> args,
        TimeSpan timeout,
        IReadOnlyDictionary<string, string?>? environment = null)
    {
        var argList = args.ToList();
        // bash merges the two streams, so the output reads in the order it was written.
        var psi = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = false,
            RedirectStandardInput = true,
            UseShellExecute = false,
            WorkingDirectory = Repo.Root,
        };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add("exec \"$@\" 2>&1");
        psi.ArgumentList.Add("bash");
        psi.ArgumentList.Add(program);
        foreach (var a in argList)
        {
            psi.ArgumentList.Add(a);
        }

        psi.Environment.Remove("JOURNAL_STREAM");
        psi.Environment.Remove("NOTIFY_SOCKET");
        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                if (value is null)
                {
                    psi.Environment.Remove(key);
                }
                else
                {
                    psi.Environment[key] = value;
                }
            }
        }

        var command = string.Join(' ', new[] { program }.Concat(argList).Select(Quote));
        var output = new StringBuilder();
        var gate = new Lock();
        var clock = Stopwatch.StartNew();
        using var process = Process.Start(psi) ?? throw new InvalidOperationException("could not start bash");
        process.StandardInput.Close();
        var reader = Task.Run(async () =>
        {
            var buffer = new char[8192];
            int n;
            while ((n = await process.StandardOutput.ReadAsync(buffer)) > 0)
            {
                lock (gate)
                {
                    output.Append(buffer, 0, n);
                }
            }
        });

        var exited = process.WaitForExit(timeout);
        if (!exited)
        {
            process.Kill(entireProcessTree: true);
            process.WaitForExit();
        }

        // A leftover grandchild could hold the pipe open: wait for the end of the output only so long.
        reader.Wait(TimeSpan.FromSeconds(10));
        clock.Stop();
        string text;
        lock (gate)
        {
            text = output.ToString();
        }

        return new ScriptResult(command, exited ? process.ExitCode : -1, text, clock.Elapsed);
    }

    /// <summary>Runs a bash script given by its path relative to the repository root.</summary>
    public static ScriptResult Bash(
        string relativePath,
        IEnumerable<string> args,
        TimeSpan timeout,
        IReadOnlyDictionary<string, string?>? environment = null) =>
        Run("bash", new[] { Repo.PathTo(relativePath) }.Concat(args), timeout, environment);

    private static string Quote(string s) =>
        s.Length > 0 && s.All(c => char.IsAsciiLetterOrDigit(c) || "-_./=:~+,@".Contains(c, StringComparison.Ordinal)) ? s : "'" + s.Replace("'", "'\\''", StringComparison.Ordinal) + "'";
}

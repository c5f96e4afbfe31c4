namespace EfaAgent.Collectors.Nvml;

/// <summary>
/// Names of NVML return codes for labels and logs. A code this build does not know (a newer driver's)
/// gets a name with its number, so it is reported and never throws.
/// </summary>
public static class NvmlReturns
{
    private static readonly string[] Known = BuildKnown();

    /// <summary>
    /// The snake-case name of <paramref name="code"/> (<c>not_supported</c>, <c>gpu_is_lost</c>), or
    /// <c>error_&lt;number&gt;</c> for a code NVML's API version 13 does not define.
    /// </summary>
    public static string Reason(NvmlReturn code)
    {
        var n = (int)code;
        if (n >= 0 && n < Known.Length && Known[n] is { } name)
        {
            return name;
        }

        return code == NvmlReturn.Unknown ? "unknown" : "error_" + n.ToString(System.Globalization.CultureInfo.InvariantCulture);
    }

    /// <summary>Whether <paramref name="code"/> is one of the codes of API version 13.</summary>
    public static bool IsKnown(NvmlReturn code) => Enum.IsDefined(code);

    private static string[] BuildKnown()
    {
        var table = new string[32];
        foreach (var code in Enum.GetValues<NvmlReturn>())
        {
            if ((int)code < table.Length)
            {
                table[(int)code] = SnakeCase(code.ToString());
            }
        }

        return table;
    }

    private static string SnakeCase(string name)
    {
        var chars = new List<char>(name.Length + 4);
        for (var i = 0; i < name.Length; i++)
        {
            if (char.IsUpper(name[i]) && i > 0)
            {
                chars.Add('_');
            }

            chars.Add(char.ToLowerInvariant(name[i]));
        }

        return new string([.. chars]);
    }
}

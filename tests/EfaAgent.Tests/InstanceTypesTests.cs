using System.Text.RegularExpressions;
using EfaAgent.Collectors.Model;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests;

/// <summary>The instance-type table is the one source; the prose and lists in deploy/ must agree with it.</summary>
public partial class InstanceTypesTests
{
    [Theory]
    [InlineData("p4d.24xlarge", 4, 8)]
    [InlineData("p5.48xlarge", 32, 8)]
    [InlineData("p5en.48xlarge", 16, 8)]
    [InlineData("trn1.32xlarge", 8, 0)]
    [InlineData(" trn1n.32xlarge\n", 16, 0)]
    public void Finds_a_type_by_its_DMI_name(string name, int efa, int gpus)
    {
        var type = InstanceTypes.Find(name);
        Assert.NotNull(type);
        Assert.Equal((efa, gpus), (type.EfaDevices, type.Gpus));
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("m5.large")]
    [InlineData("P4D.24XLARGE")]
    public void An_unknown_type_is_null(string? name) => Assert.Null(InstanceTypes.Find(name));

    [Fact]
    public void Every_EFA_count_written_in_deploy_matches_the_table()
    {
        var checkedMentions = 0;
        foreach (var file in Directory.EnumerateFiles(Repo.PathTo("deploy"), "*", SearchOption.AllDirectories)
                     .Where(f => f.EndsWith(".yml", StringComparison.Ordinal) || f.EndsWith(".py", StringComparison.Ordinal) || f.EndsWith(".json", StringComparison.Ordinal)))
        {
            foreach (Match m in CountMention().Matches(File.ReadAllText(file)))
            {
                var count = int.Parse(m.Groups["n"].Value, System.Globalization.CultureInfo.InvariantCulture);
                foreach (var family in m.Groups["names"].Value.Split('/'))
                {
                    var types = InstanceTypes.All.Where(t => t.Name.StartsWith(family + ".", StringComparison.Ordinal)).ToList();
                    Assert.True(types.Count > 0, $"{file}: '{m.Value}' names {family}, which the table does not know");
                    Assert.All(types, t => Assert.True(t.EfaDevices == count, $"{file}: '{m.Value}' says {count} EFA devices, the table says {t.EfaDevices} for {t.Name}"));
                    checkedMentions++;
                }
            }
        }

        Assert.True(checkedMentions >= 10, $"only {checkedMentions} mentions found: the pattern no longer matches the prose");
    }

    [Fact]
    public void The_EC2_discovery_filter_lists_exactly_the_known_types()
    {
        var text = File.ReadAllText(Repo.PathTo("deploy", "prometheus", "prometheus-ec2-sd.yml"));
        var listed = ListedType().Matches(text).Select(m => m.Groups[1].Value).Order(StringComparer.Ordinal);
        Assert.Equal(InstanceTypes.All.Select(t => t.Name).Order(StringComparer.Ordinal), listed);
    }

    // "(p4d/p4de 4, p5/p5e 32, p5en 16, trn1 8, trn1n 16)": families, a space, the EFA count.
    [GeneratedRegex(@"\b(?<names>(?:p|trn)\d[a-z0-9]*(?:/(?:p|trn)\d[a-z0-9]*)*) (?<n>\d+)\b")]
    private static partial Regex CountMention();

    [GeneratedRegex(@"^\s*- ((?:p|trn)\d[a-z0-9-]*\.\w+)\s*$", RegexOptions.Multiline)]
    private static partial Regex ListedType();
}

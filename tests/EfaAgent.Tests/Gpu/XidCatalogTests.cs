using System.Text.RegularExpressions;
using EfaAgent.Collectors.Gpu;
using EfaAgent.Tests.Support;

namespace EfaAgent.Tests.Gpu;

/// <summary>The Xid classes are one table (<see cref="XidCatalog"/>); every other place that names them is checked against it.</summary>
public sealed partial class XidCatalogTests
{
    private static readonly string[] Actions = [XidCatalog.RestartApplication, XidCatalog.ResetGpu, XidCatalog.RebootNode];

    [Fact]
    public void Every_known_code_has_one_of_the_three_actions_and_others_are_unknown()
    {
        Assert.All(XidCatalog.Known, x => Assert.Contains(x.Action, Actions));
        Assert.Equal(XidCatalog.Known.Count, XidCatalog.Known.Select(x => x.Xid).Distinct().Count());
        Assert.Equal(XidCatalog.RestartApplication, XidCatalog.Action(13));
        Assert.Equal(XidCatalog.RebootNode, XidCatalog.Action(79));
        Assert.Equal(XidCatalog.Unknown, XidCatalog.Action(999));
    }

    [Fact]
    public void The_READMEs_Xid_table_is_the_catalogue()
    {
        var readme = File.ReadAllText(Repo.PathTo("README.md"));
        var start = readme.IndexOf("<!-- xid-table:start -->", StringComparison.Ordinal);
        var end = readme.IndexOf("<!-- xid-table:end -->", StringComparison.Ordinal);
        Assert.True(start >= 0 && end > start, "README.md lost its xid-table markers");
        var rows = TableRow().Matches(readme[start..end]).Select(m => (ulong.Parse(m.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture), m.Groups[2].Value, m.Groups[3].Value.Trim()));

        Assert.Equal(XidCatalog.Known.Select(x => (x.Xid, x.Action, x.Meaning)), rows);
    }

    [Fact]
    public void The_rules_select_Xids_by_action_and_name_only_codes_of_the_catalogue()
    {
        var rules = Directory.GetFiles(Repo.PathTo("deploy", "prometheus", "rules"), "*.yml").Select(File.ReadAllText).ToList();
        var texts = rules.Append(File.ReadAllText(Repo.PathTo("deploy", "grafana", "generate.py"))).ToList();

        Assert.DoesNotContain(rules, r => r.Contains("xid=~", StringComparison.Ordinal) || r.Contains("xid=\"", StringComparison.Ordinal));
        foreach (var m in rules.SelectMany(r => ActionSelector().Matches(r)))
        {
            Assert.All(m.Groups[1].Value.Split('|'), a => Assert.Contains(a, Actions));
        }

        var known = XidCatalog.Known.Select(x => x.Xid.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToHashSet();
        foreach (var m in texts.SelectMany(t => XidMention().Matches(t)))
        {
            Assert.All(m.Groups[1].Value.Split('/'), code => Assert.Contains(code, known));
        }
    }

    [GeneratedRegex(@"^\| (\d+) \| (\w+) \| (.+) \|$", RegexOptions.Multiline)]
    private static partial Regex TableRow();

    [GeneratedRegex(@"action=~""([^""]+)""")]
    private static partial Regex ActionSelector();

    [GeneratedRegex(@"Xids? (\d+(?:/\d+)*)\b")]
    private static partial Regex XidMention();
}

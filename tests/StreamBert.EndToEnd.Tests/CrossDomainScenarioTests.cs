using System.Globalization;
using System.Text;
using System.Text.Json;
using StreamBert.Cli.Commands;
using StreamBert.Cli.Scenarios;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Training.Data;
using StreamBert.Training.Jobs;

namespace StreamBert.EndToEnd.Tests;

/// <summary>
/// <c>scenario cross-domain</c>: its flags, and a whole run on a small data folder built from the data shipped in
/// <c>data/</c> (SMS, ClaimBuster, Wikigold standing in for CoNLL-2003) and made-up e-mails standing in for Enron, so it
/// needs no research data and commits none.
/// </summary>
public sealed class CrossDomainScenarioTests : IDisposable
{
    private readonly string _temp = Path.Combine(Path.GetTempPath(), "streambert-xd-" + Guid.NewGuid().ToString("N"));

    public CrossDomainScenarioTests() => Directory.CreateDirectory(_temp);

    public void Dispose() => Directory.Delete(_temp, recursive: true);

    [Fact]
    public void Parse_AllFlags_RequestCarriesThem()
    {
        var parsed = StreamBertCli.Create().Parse(["scenario", "cross-domain", "--registry", "reg", "--data", _temp, "--tasks", "ner, spam,ner", "--claims-limit", "500", "--json", "out.json"]);

        Assert.Empty(parsed.Errors);
        var request = ScenarioCommand.CrossDomainRequestOf(parsed);
        Assert.Equal(("reg", _temp, 500, "out.json"), (request.Registry, request.Data, request.ClaimsLimit, request.Json));
        Assert.Equal([TaskNames.Ner, TaskNames.Spam], request.Tasks);
    }

    [Fact]
    public void Parse_OnlyRegistry_EveryTaskAllDataNoJson()
    {
        var parsed = StreamBertCli.Create().Parse(["scenario", "cross-domain", "--registry", "reg"]);

        Assert.Empty(parsed.Errors);
        var request = ScenarioCommand.CrossDomainRequestOf(parsed);
        Assert.Equal([TaskNames.Spam, TaskNames.Claims, TaskNames.Ner], request.Tasks);
        Assert.Equal((null, null, null), (request.Data, request.ClaimsLimit, request.Json));
    }

    [Theory]
    [InlineData("--tasks spam,sentiment", "sentiment")]
    [InlineData("--tasks ,", "--tasks")]
    [InlineData("--claims-limit 0", "--claims-limit")]
    [InlineData("--data {temp}/missing", "missing")]
    public void Parse_BadValue_ErrorNamesIt(string flags, string mentioned)
    {
        var args = new[] { "scenario", "cross-domain", "--registry", "reg" }
            .Concat(flags.Replace("{temp}", _temp, StringComparison.Ordinal).Split(' ')).ToArray();

        var parsed = StreamBertCli.Create().Parse(args);

        var error = Assert.Single(parsed.Errors);
        Assert.Contains(mentioned, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Parse_NoRegistry_Refused()
    {
        var parsed = StreamBertCli.Create().Parse(["scenario", "cross-domain"]);

        Assert.Contains(parsed.Errors, e => e.Message.Contains("--registry", StringComparison.Ordinal));
    }

    [Fact]
    public async Task RunAsync_SmallDataFolder_SixRowsGroundtruthExcludedAndASecondRunReuses()
    {
        var data = WriteDataFolder();
        var registry = Path.Combine(_temp, "reg");
        var json = Path.Combine(_temp, "xd.json");
        using var log = new StringWriter(CultureInfo.InvariantCulture);

        var code = await CrossDomainScenario.RunAsync(new CrossDomainRequest(registry, data, CrossDomainRequest.AllTasks, ClaimsLimit: null, json), log, CancellationToken.None);

        Assert.True(code == 0, log.ToString());
        using var document = JsonDocument.Parse(await File.ReadAllTextAsync(json));
        var rows = document.RootElement.GetProperty("rows").EnumerateArray().ToList();
        Assert.Equal(
            [("spam", true), ("spam", false), ("claims", true), ("claims", false), ("ner", true), ("ner", false)],
            rows.Select(r => (r.GetProperty("task").GetString(), r.GetProperty("inDomain").GetBoolean())));
        Assert.All(rows, r => Assert.InRange(r.GetProperty("f1").GetDouble(), 0, 1));
        Assert.All(rows.Take(4), r => Assert.InRange(r.GetProperty("ece").GetDouble(), 0, 1));
        Assert.All(rows.Take(4), r => Assert.True(r.GetProperty("falsePositiveRate").ValueKind == JsonValueKind.Number));
        Assert.All(rows.Skip(4), r => Assert.Equal(JsonValueKind.Null, r.GetProperty("falsePositiveRate").ValueKind));
        // 40 Enron stand-ins, and every groundtruth row: the out-of-domain sets are read whole.
        Assert.Equal(40, rows[1].GetProperty("n").GetInt32());
        Assert.Equal(GroundtruthRows, rows[3].GetProperty("n").GetInt32());

        var models = new ModelRegistry(registry);
        var claims = ModelRegistry.ReadManifest(models.CurrentDirectory("xd-claims")!);
        Assert.Equal("claimbuster_groundtruth.csv", claims.Training[ExcludedTexts.FilesKey]);
        var overlapOnTrainSide = SharedClaims.Count(t => !DatasetSplit.IsTest(t));
        Assert.StartsWith($"{GroundtruthRows} texts of claimbuster_groundtruth.csv; {overlapOnTrainSide} training or calibration rows", claims.Training[ExcludedTexts.SummaryKey], StringComparison.Ordinal);
        Assert.True(overlapOnTrainSide > 0);

        var versions = Directory.GetDirectories(Path.Combine(registry, "xd-claims")).Length;
        using var again = new StringWriter(CultureInfo.InvariantCulture);
        Assert.Equal(0, await CrossDomainScenario.RunAsync(new CrossDomainRequest(registry, data, [TaskNames.Claims], null, null), again, CancellationToken.None));
        Assert.Contains("claims: reusing xd-claims", again.ToString(), StringComparison.Ordinal);
        Assert.Equal(versions, Directory.GetDirectories(Path.Combine(registry, "xd-claims")).Length);
    }

    private const int GroundtruthRows = 40;

    private IReadOnlyList<string> SharedClaims { get; set; } = [];

    /// <summary>The research data layout, small: SMS, ClaimBuster and Wikigold cut from data/, fake e-mails for Enron.</summary>
    private string WriteDataFolder()
    {
        var root = Path.Combine(_temp, "data");
        foreach (var folder in new[] { "spam", "claims", "ner" })
        {
            Directory.CreateDirectory(Path.Combine(root, folder));
        }

        var shipped = Path.Combine(RepoData.Root, "data");
        // Every 40th SMS keeps the collection's 13 % spam in 140 rows.
        var sms = File.ReadLines(Path.Combine(shipped, "sms", "SMSSpamCollection.tsv")).Where((_, i) => i % 40 == 0).ToList();
        File.WriteAllLines(Path.Combine(root, "spam", "SMSSpamCollection.tsv"), sms);
        WriteEmails(Path.Combine(root, "spam", "enron1_ham.jsonl"), "ham", i => $"Subject: meeting notes {i}\nplease find the schedule for the gas nomination review on day {i} attached.");
        WriteEmails(Path.Combine(root, "spam", "enron1_spam.jsonl"), "spam", i => $"Subject: you won {i}\nclaim your free prize now, click here, offer {i} ends tonight!");

        // Crowdsourced rows, then groundtruth rows of which the first 20 also appear in crowdsourced (the real files share 10).
        var crowd = File.ReadLines(Path.Combine(shipped, "claimbuster", "claimbuster_crowdsourced.csv")).Take(161).ToList();
        var ground = File.ReadLines(Path.Combine(shipped, "claimbuster", "claimbuster_groundtruth.csv")).Take(GroundtruthRows + 1).ToList();
        File.WriteAllLines(Path.Combine(root, "claims", "claimbuster_crowdsourced.csv"), [.. crowd, .. ground.Skip(1).Take(20)]);
        File.WriteAllLines(Path.Combine(root, "claims", "claimbuster_groundtruth.csv"), ground);
        SharedClaims = [.. ClaimDataReader.Read(Path.Combine(root, "claims", "claimbuster_groundtruth.csv")).Take(20).Select(r => r.Text)];

        // Wikigold's documents cut in four: a stand-in for CoNLL-2003 train, valid and test, and Wikigold itself.
        var sentences = File.ReadAllText(Path.Combine(shipped, "ner", "wikigold.conll.txt")).Split("\n\n", StringSplitOptions.RemoveEmptyEntries)
            .Where(s => !s.StartsWith("-DOCSTART-", StringComparison.Ordinal)).ToList();
        void Ner(string name, int skip, int take) => File.WriteAllText(Path.Combine(root, "ner", name), string.Join("\n\n", sentences.Skip(skip).Take(take)) + "\n");
        Ner("conll2003_train.txt", 0, 50);
        Ner("conll2003_valid.txt", 50, 15);
        Ner("conll2003_test.txt", 65, 15);
        Ner("wikigold.conll.txt", 80, 15);
        return root;
    }

    private static void WriteEmails(string path, string label, Func<int, string> text)
    {
        var lines = new StringBuilder();
        for (var i = 0; i < 20; i++)
        {
            lines.AppendLine(JsonSerializer.Serialize(new { id = $"fake/{label}/{i}.txt", label, encoding = "utf-8", text = text(i) }));
        }

        File.WriteAllText(path, lines.ToString());
    }
}

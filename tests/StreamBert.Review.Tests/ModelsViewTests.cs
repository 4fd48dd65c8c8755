using StreamBert.Contracts;
using StreamBert.Kafka;
using StreamBert.Review.Models;

namespace StreamBert.Review.Tests;

public sealed class ModelsViewTests
{
    [Fact]
    public void Build_RegistryAndEvents_ShowsCurrentAnnouncedVersionsAndRollbackTarget()
    {
        using var fake = new FakeRegistry();
        fake.Add("spam", "v1", null, 0.84);
        fake.Add("spam", "v2", "v1", 0.93, trainedFromLabels: true, threshold: 0.62);
        fake.Add("spam", "v3", "v2", 0.95, trainedFromLabels: true);
        fake.Registry.SetCurrent("spam", "v2");
        var events = new[] { Event("spam", "v3", "trained", 0), Event("spam", "v2", "rollback", 1) };

        var view = ModelsView.Build(fake.Registry, events, unreadable: 2);

        var bundle = Assert.Single(view.Bundles);
        Assert.Equal(("v2", "v2", "rollback"), (bundle.Current, bundle.Served, bundle.ServedReason));
        Assert.Equal("v1", bundle.RollbackTarget);
        Assert.Equal(["v1", "v2", "v3"], bundle.Versions.Select(v => v.Version));
        Assert.Equal([false, true, false], bundle.Versions.Select(v => v.IsCurrent));
        Assert.Equal([0.84, 0.93, 0.95], bundle.F1Series(TaskNames.Spam).Select(p => p.F1));
        Assert.Equal(0.62, bundle.Versions[1].OperatingPoints.Single().Point.Threshold);
        Assert.Equal(["v2", "v3"], bundle.Events.Select(e => e.Event.Version));
        Assert.Equal(["rollback", "trained"], bundle.Events.Select(e => e.Event.Reason));
        Assert.Equal(2, view.UnreadableEvents);
    }

    [Fact]
    public void Build_TrainerVersions_AreRunsWithParentAndCandidateF1_NewestFirst()
    {
        using var fake = new FakeRegistry();
        fake.Add("spam", "v1", null, 0.84);
        fake.Add("spam", "v2", "v1", 0.93, trainedFromLabels: true);
        fake.Add("spam", "v3", "v2", 0.95, trainedFromLabels: true);
        fake.Registry.SetCurrent("spam", "v3");

        var bundle = Assert.Single(ModelsView.Build(fake.Registry, [], 0).Bundles);

        Assert.Equal(["v3", "v2"], bundle.Runs.Select(r => r.Version));
        var run = bundle.Runs[^1];
        Assert.Equal((TaskNames.Spam, "v1", 0.93), (run.Task, run.Parent, run.CandidateF1));
        Assert.Equal(0.84, bundle.F1Of(run.Parent, run.Task));
        Assert.Equal("held-out labels (n 60)", run.EvaluatedOn);
        Assert.Null(bundle.Served);
    }

    [Fact]
    public void Build_OnlyVersionIsCurrent_OffersNoRollback()
    {
        using var fake = new FakeRegistry();
        fake.Add("spam", "v1", null, 0.84);
        fake.Registry.SetCurrent("spam", "v1");

        Assert.Null(Assert.Single(ModelsView.Build(fake.Registry, [], 0).Bundles).RollbackTarget);
    }

    [Fact]
    public void Build_UnreadableManifest_ShowsTheVersionWithItsProblem()
    {
        using var fake = new FakeRegistry();
        fake.Add("spam", "v1", null, 0.84);
        fake.Add("spam", "v2", "v1", 0.9);
        File.WriteAllText(Path.Combine(fake.Registry.BundleDirectory("spam", "v2"), "manifest.json"), "{ not json");
        fake.Registry.SetCurrent("spam", "v1");

        var bundle = Assert.Single(ModelsView.Build(fake.Registry, [], 0).Bundles);

        Assert.NotNull(bundle.Versions[1].Problem);
        Assert.Equal([0.84], bundle.F1Series(TaskNames.Spam).Select(p => p.F1));
    }

    [Fact]
    public void Render_HostileEventFields_AreEncodedAndTheChartHasAPointPerVersion()
    {
        using var fake = new FakeRegistry();
        fake.Add("spam", "v1", null, 0.84);
        fake.Add("spam", "v2", "v1", 0.93, trainedFromLabels: true);
        fake.Registry.SetCurrent("spam", "v2");
        var view = ModelsView.Build(fake.Registry, [Event("spam", "v2", "trained", 0)], 0);
        var tokens = new Microsoft.AspNetCore.Antiforgery.AntiforgeryTokenSet("request<token>", "cookie", "__RequestVerificationToken", null);

        var html = Web.ModelsPage.Render(view, "models<script>", tokens);

        Assert.Contains("models&lt;script&gt;", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<script>", html, StringComparison.Ordinal);
        Assert.Equal(2, html.Split("<circle class=\"point", StringSplitOptions.None).Length - 1);
        Assert.Contains("<circle class=\"point current\" data-version=\"v2\"", html, StringComparison.Ordinal);
        Assert.Contains("value=\"request&lt;token&gt;\"", html, StringComparison.Ordinal);
    }

    [Fact]
    public void Render_TrainerRunReportsWithAMalformedRecord_ShowsEachRunsVerdictAndF1CurrentToCandidate_CountsTheUnreadable()
    {
        using var fake = new FakeRegistry();
        fake.Add("spam", "v1", null, 0.84);
        fake.Add("spam", "v2", "v1", 0.93, trainedFromLabels: true);
        fake.Registry.SetCurrent("spam", "v2");
        var published = Run(1, "v1", "v2", TrainingVerdicts.Published, "not worse than v1 on held-out labels", 0.84, 0.93);
        var refused = Run(2, "v2", null, TrainingVerdicts.Refused, "quality gate: held-out labels <b>worse</b>", 0.93, 0.71);
        var records = new (string? Key, byte[] Value)[]
        {
            ("spam", TrainingRunReports.Serialize(published)),
            ("spam", "{\"bundle\":\"spam\",\"verdict\":"u8.ToArray()),
            ("spam", TrainingRunReports.Serialize(refused with { Verdict = "maybe" })),
            ("articles", TrainingRunReports.Serialize(refused)),
            ("spam", TrainingRunReports.Serialize(refused)),
        };
        var history = new ModelHistory();
        foreach (var (record, offset) in records.Select((r, i) => (r, i)))
        {
            if (ModelEventFeed.ReadRunReport(record.Key, record.Value) is { } report)
            {
                history.AddRun(new TrainingRunRecord(report, 0, offset));
            }
            else
            {
                history.AddUnreadableRun();
            }
        }

        var (runs, unreadable) = history.RunsSnapshot();
        var view = ModelsView.Build(fake.Registry, [], 0, runs, unreadable);
        var tokens = new Microsoft.AspNetCore.Antiforgery.AntiforgeryTokenSet("request", "cookie", "__RequestVerificationToken", null);
        var html = Web.ModelsPage.Render(view, "models", tokens, "trainer.runs");

        Assert.Equal(3, view.UnreadableRuns);
        Assert.Equal([2L, 1L], Assert.Single(view.Bundles).TrainerRuns.Select(r => r.Report.Number));
        Assert.Contains("<span id=\"unreadable-runs\">3 unreadable run reports not shown</span>", html, StringComparison.Ordinal);
        Assert.Contains("<tr class=\"verdict-refused\" data-run=\"2\">", html, StringComparison.Ordinal);
        Assert.Contains("v2 → candidate</td><td class=\"f1\">held-out labels (n 120): 0.930 → 0.710; recall 0.900 → 0.500, FPR 0.0100 → 0.0400", html, StringComparison.Ordinal);
        Assert.Contains("<strong>refused</strong>: quality gate: held-out labels &lt;b&gt;worse&lt;/b&gt;", html, StringComparison.Ordinal);
        Assert.Contains("<tr class=\"verdict-published\" data-run=\"1\">", html, StringComparison.Ordinal);
        Assert.Contains("v1 → v2</td><td class=\"f1\">held-out labels (n 120): 0.840 → 0.930", html, StringComparison.Ordinal);
        Assert.DoesNotContain("<b>", html, StringComparison.Ordinal);
    }

    private static TrainingRunReport Run(long number, string parent, string? candidate, string verdict, string reason, double currentF1, double candidateF1) => new()
    {
        Bundle = "spam",
        Task = "spam",
        RunId = "run" + number,
        Number = number,
        ParentVersion = parent,
        CandidateVersion = candidate,
        Verdict = verdict,
        Reason = reason,
        Scores =
        [
            new TrainingRunScore
            {
                Set = "held-out labels",
                N = 120,
                CurrentF1 = currentF1,
                CandidateF1 = candidateF1,
                CurrentRecall = 0.9,
                CandidateRecall = candidate is null ? 0.5 : 0.95,
                CurrentFalsePositiveRate = 0.01,
                CandidateFalsePositiveRate = candidate is null ? 0.04 : 0.005,
            },
        ],
        Labels = 300 * (int)number,
        TrainRows = 1000,
        LabelOffsets = new Dictionary<string, LabelOffsetRange> { ["labels.spam/0"] = new(300 * (number - 1), 300 * number) },
        StartedAt = DateTimeOffset.UnixEpoch.AddHours(number),
        FinishedAt = DateTimeOffset.UnixEpoch.AddHours(number).AddSeconds(90),
    };

    private static ModelEventRecord Event(string bundle, string version, string reason, long offset) => new(
        new ModelPublished
        {
            Name = bundle,
            Version = version,
            Path = "/registry/" + bundle + "/" + version,
            Sha256 = new Dictionary<string, string> { ["spam.head"] = new('a', 64) },
            Reason = reason,
            PublishedAt = DateTimeOffset.UnixEpoch.AddDays(offset),
        },
        0,
        offset);
}

using StreamBert.Contracts;
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

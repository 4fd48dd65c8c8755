using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Engine.Models;
using StreamBert.Kafka;

namespace StreamBert.Review.Models;

/// <summary>What the models page shows: every bundle of the registry with its versions, runs and the models topic's events.</summary>
/// <param name="UnreadableEvents">Events on the models topic that no processor would accept (counted, not shown).</param>
/// <param name="UnreadableRuns">Records on the trainer-runs topic that are not valid run reports (counted, not shown).</param>
internal sealed record ModelsView(string Registry, IReadOnlyList<BundleView> Bundles, int UnreadableEvents, int UnreadableRuns = 0)
{
    /// <summary>Events shown per bundle, newest first.</summary>
    public const int EventsShown = 20;

    /// <summary>Training run reports shown per bundle, newest first.</summary>
    public const int RunsShown = 20;

    /// <summary>
    /// Reads <paramref name="registry"/> (CURRENT, every version's manifest) and joins it with the events read from the
    /// models topic and the reports read from the trainer-runs topic. A manifest that cannot be read shows as a version
    /// with its problem, never as a failed page.
    /// </summary>
    public static ModelsView Build(
        ModelRegistry registry, IReadOnlyList<ModelEventRecord> events, int unreadable, IReadOnlyList<TrainingRunRecord>? runs = null, int unreadableRuns = 0)
    {
        runs ??= [];
        var bundles = new List<BundleView>();
        foreach (var bundle in registry.Bundles().Where(ModelRegistry.IsBundleName))
        {
            var versions = registry.Versions(bundle);
            if (versions.Count == 0)
            {
                continue;
            }

            var current = registry.CurrentVersion(bundle);
            var ofBundle = events.Where(e => e.Event.Name == bundle).ToList();
            var served = ofBundle.Count > 0 ? ofBundle[^1].Event : null;
            var manifests = versions.ToDictionary(v => v, v => TryRead(registry, bundle, v), StringComparer.Ordinal);
            var rows = versions.Select(v => Row(v, manifests[v], current, served?.Version)).ToList();
            bundles.Add(new BundleView(
                bundle,
                current,
                served?.Version,
                served?.Reason,
                rows,
                RollbackTarget(registry, bundle),
                [.. rows.Where(r => r.Run is not null).Select(r => r.Run!).Reverse()],
                [.. rows.SelectMany(r => r.F1.Keys).Distinct(StringComparer.Ordinal).Order(StringComparer.Ordinal)],
                [.. ofBundle.AsEnumerable().Reverse().Take(EventsShown)])
            {
                TrainerRuns = [.. runs.Where(r => r.Report.Bundle == bundle).Reverse().Take(RunsShown)],
            });
        }

        return new ModelsView(registry.Root, bundles, unreadable, unreadableRuns);
    }

    private static (BundleManifest? Manifest, string? Problem) TryRead(ModelRegistry registry, string bundle, string version)
    {
        try
        {
            return (registry.ReadManifest(bundle, version), null);
        }
        catch (Exception ex) when (ex is IOException or JsonException or InvalidDataException or UnauthorizedAccessException)
        {
            return (null, ex.Message);
        }
    }

    private static string? RollbackTarget(ModelRegistry registry, string bundle)
    {
        try
        {
            return ModelPromotion.Plan(registry, ModelPromotion.Rollback, bundle).Version;
        }
        catch (InvalidOperationException)
        {
            // No current version, or none before it: the page offers no rollback.
            return null;
        }
    }

    private static VersionView Row(string version, (BundleManifest? Manifest, string? Problem) read, string? current, string? served)
    {
        if (read.Manifest is not { } manifest)
        {
            return new VersionView(version, null, null, new Dictionary<string, double>(), [], null, version == current, version == served, read.Problem);
        }

        var f1 = manifest.Metrics
            .Where(m => m.Value.TryGetValue("f1", out var value) && double.IsFinite(value))
            .ToDictionary(m => m.Key, m => m.Value["f1"], StringComparer.Ordinal);
        var points = manifest.Heads
            .Where(h => h.Value.OperatingPoint is not null)
            .OrderBy(h => h.Key, StringComparer.Ordinal)
            .Select(h => new OperatingPointView(h.Key, h.Value.OperatingPoint!))
            .ToList();
        return new VersionView(version, manifest.ParentVersion, manifest.CreatedAt, f1, points, RunOf(manifest, f1), version == current, version == served, null);
    }

    /// <summary>
    /// The trainer's run that made this version, from what its manifest records: the task, the parent it was judged
    /// against and what it was evaluated on. Only runs that passed the quality gate leave a version; every run, refused
    /// ones included, is on the trainer-runs topic (<see cref="BundleView.TrainerRuns"/>).
    /// </summary>
    private static RunView? RunOf(BundleManifest manifest, IReadOnlyDictionary<string, double> f1)
    {
        if (manifest.Training.GetValueOrDefault("trainer") != "labels" || manifest.Training.GetValueOrDefault("task") is not { } task)
        {
            return null;
        }

        return new RunView(
            task,
            manifest.Version,
            manifest.ParentVersion,
            f1.TryGetValue(task, out var candidate) ? candidate : null,
            manifest.Training.GetValueOrDefault("evaluatedOn"),
            manifest.Training.GetValueOrDefault("trainRows"),
            manifest.CreatedAt);
    }
}

/// <summary>One bundle: what the registry marks current, what the models topic last announced, and every version.</summary>
/// <param name="Served">Version of the latest event on the models topic: what running processors were told to serve.</param>
/// <param name="RollbackTarget">The version a rollback would serve (the one before CURRENT), or null when there is none.</param>
/// <param name="Runs">The trainer's published runs, newest first.</param>
/// <param name="Events">Events of this bundle on the models topic, newest first.</param>
/// <remarks><see cref="TrainerRuns"/>: the trainer's reports of this bundle (published, refused, failed), newest first.</remarks>
internal sealed record BundleView(
    string Name,
    string? Current,
    string? Served,
    string? ServedReason,
    IReadOnlyList<VersionView> Versions,
    string? RollbackTarget,
    IReadOnlyList<RunView> Runs,
    IReadOnlyList<string> Tasks,
    IReadOnlyList<ModelEventRecord> Events)
{
    public IReadOnlyList<TrainingRunRecord> TrainerRuns { get; init; } = [];

    /// <summary>The F1 of <paramref name="task"/> per version that records one, oldest first: the chart's points.</summary>
    public IReadOnlyList<(string Version, double F1)> F1Series(string task) =>
        [.. Versions.Where(v => v.F1.ContainsKey(task)).Select(v => (v.Version, v.F1[task]))];

    /// <summary>The recorded F1 of <paramref name="task"/> in <paramref name="version"/>, or null.</summary>
    public double? F1Of(string? version, string task) =>
        Versions.FirstOrDefault(v => v.Version == version)?.F1.TryGetValue(task, out var f1) == true ? f1 : null;
}

/// <summary>One version of a bundle; <see cref="Problem"/> set (and the rest empty) when its manifest cannot be read.</summary>
internal sealed record VersionView(
    string Version,
    string? Parent,
    DateTimeOffset? CreatedAt,
    IReadOnlyDictionary<string, double> F1,
    IReadOnlyList<OperatingPointView> OperatingPoints,
    RunView? Run,
    bool IsCurrent,
    bool IsServed,
    string? Problem);

/// <summary>A head's served threshold and precision/recall/FPR there, as fitted.</summary>
internal sealed record OperatingPointView(string Task, OperatingPoint Point);

/// <summary>A trainer run that published <see cref="Version"/>, judged against <see cref="Parent"/> (it passed the gate).</summary>
internal sealed record RunView(string Task, string Version, string? Parent, double? CandidateF1, string? EvaluatedOn, string? TrainRows, DateTimeOffset At);

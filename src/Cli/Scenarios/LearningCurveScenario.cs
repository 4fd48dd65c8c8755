using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using StreamBert.Cli.Commands;
using StreamBert.Contracts;
using StreamBert.Training.Calibration;
using StreamBert.Training.Data;
using StreamBert.Training.Evaluation;

namespace StreamBert.Cli.Scenarios;

/// <summary>One measured point: a strategy after a number of reviewer labels, on the held-out evaluation rows.</summary>
internal sealed record CurvePoint(string Strategy, int Labels, double F1, double Precision, double Recall, double FalsePositiveRate, double Threshold, bool TargetMetOnCalibration, int TrainRows, int LabelWeight, double FitSeconds, int Seeds)
{
    public static CurvePoint From(string strategy, int labels, BinaryMetrics m, ServedHead head, RetrainInfo? info) =>
        new(strategy, labels, m.F1, m.Precision, m.Recall, m.FalsePositiveRate, head.Threshold, head.TargetMet, info?.TrainRows ?? 0, info?.LabelWeight ?? 0, info?.Seconds ?? 0, 1);

    /// <summary>The median of each metric over seeds (each median taken on its own).</summary>
    public static CurvePoint Median(IReadOnlyList<CurvePoint> points) => new(
        points[0].Strategy, points[0].Labels,
        Median(points.Select(p => p.F1)), Median(points.Select(p => p.Precision)), Median(points.Select(p => p.Recall)),
        Median(points.Select(p => p.FalsePositiveRate)), Median(points.Select(p => p.Threshold)), points.Count(p => p.TargetMetOnCalibration) * 2 > points.Count,
        (int)Median(points.Select(p => (double)p.TrainRows)), (int)Median(points.Select(p => (double)p.LabelWeight)), Median(points.Select(p => p.FitSeconds)), points.Count);

    public static double Median(IEnumerable<double> values)
    {
        var sorted = values.Order().ToArray();
        return sorted.Length == 0 ? double.NaN : sorted.Length % 2 == 1 ? sorted[sorted.Length / 2] : (sorted[(sorted.Length / 2) - 1] + sorted[sorted.Length / 2]) / 2;
    }
}

/// <summary>
/// Issue 14's learning curve: the SMS-only spam model (heads only, calibrated, FPR ≤ 1% operating point) receives
/// Enron reviewer labels in growing steps; at each step the head is retrained as the trainer would (several ways of
/// combining labels with the SMS base data), the operating point re-fitted, and F1, precision, recall and FPR measured
/// on held-out Enron. Encoder features are computed once (frozen encoder), so a step costs one head training.
/// </summary>
internal static class LearningCurveScenario
{
    /// <summary>The issue's target: after 200 Enron labels, F1 ≥ 0.90 with at most 1% of ham flagged.</summary>
    public const double TargetF1 = 0.90;
    public const double TargetFpr = 0.01;

    public static async Task<int> RunAsync(LearningCurveRequest request, TextWriter output, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        using var registry = ScenarioRegistry.Open(request.Registry);
        var data = await SpamScenarioData.LoadAsync(registry.Root, output, ct).ConfigureAwait(false);
        if (data.DomainRows.Count == 0)
        {
            output.WriteLine($"Skipped: the learning curve needs Enron1 (spam/enron1_ham.jsonl, spam/enron1_spam.jsonl) under STREAMBERT_DATA or ../shared/data beside the repository; found {RepoPaths.ResearchData() ?? "no research data folder"}.");
            return 1;
        }

        var steps = request.Steps.Order().Distinct().ToList();
        var split = LabelPool.Split(data.DomainRows, request.Evaluate);
        if (split.Pool.Count < steps[^1])
        {
            throw new UsageException($"--steps: {steps[^1]} labels asked for, but the Enron label pool holds {split.Pool.Count}.");
        }

        var orders = Enumerable.Range(0, request.Seeds).Select(s => LabelPool.ReviewOrder(split.Pool, request.Seed + s).Take(steps[^1]).ToList()).ToList();
        var evaluation = split.Evaluation;
        output.WriteLine($"Enron1: {split.Pool.Count} texts in the label pool, {evaluation.Count} held out ({evaluation.Count(r => r.Label == LabelSets.Spam)} spam); steps {string.Join("/", steps)}; {request.Seeds} label order(s) from seed {request.Seed}");
        var lab = SpamHeadLab.Create(data.BundleDirectory, data.BaseRows.Select(r => r.Text).Concat(evaluation.Select(r => r.Text)).Concat(orders.SelectMany(o => o.Select(r => r.Text))), OperatingPointFinder.DefaultTarget(TaskNames.Spam), output, ct);
        output.WriteLine($"[{clock.Elapsed:mm\\:ss}] features ready");

        var points = new List<CurvePoint> { CurvePoint.From("SMS-only (start)", 0, lab.Evaluate(lab.Base, evaluation), lab.Base, null) };
        foreach (var step in steps)
        {
            foreach (var strategy in request.Strategies)
            {
                var perSeed = new List<CurvePoint>();
                for (var s = 0; s < request.Seeds; s++)
                {
                    var (head, info) = lab.Retrain(strategy, data.BaseRows, orders[s].Take(step).ToList(), request.Seed + s, ct);
                    perSeed.Add(CurvePoint.From(strategy.Name, step, lab.Evaluate(head, evaluation), head, info));
                }

                var point = CurvePoint.Median(perSeed);
                points.Add(point);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"[{clock.Elapsed:mm\\:ss}] {step,4} labels, {strategy.Name,-18} F1 {point.F1:F3}  P {point.Precision:F3}  R {point.Recall:F3}  FPR {point.FalsePositiveRate:F4}  (threshold {point.Threshold:G3}, {point.TrainRows} rows, {point.FitSeconds:F1} s)"));
            }
        }

        var table = Table(points, request.Strategies);
        output.WriteLine();
        output.WriteLine(table);
        var verdict = Verdict(points);
        output.WriteLine(verdict);
        output.WriteLine($"Total {clock.Elapsed.TotalSeconds:F0} s");
        if (request.Json is { } json)
        {
            await File.WriteAllTextAsync(json, JsonSerializer.Serialize(new
            {
                scenario = "learning-curve",
                start = $"spam {data.BundleVersion} (SMS only, heads only)",
                domain = data.DomainName,
                pool = split.Pool.Count,
                evaluation = new { n = evaluation.Count, spam = evaluation.Count(r => r.Label == LabelSets.Spam) },
                seeds = Enumerable.Range(request.Seed, request.Seeds),
                strategies = request.Strategies,
                points,
                verdict,
                seconds = clock.Elapsed.TotalSeconds,
            }, ScenarioJson.Options), ct).ConfigureAwait(false);
        }

        return 0;
    }

    /// <summary>A markdown table: one row per label count, F1 / FPR per strategy.</summary>
    public static string Table(IReadOnlyList<CurvePoint> points, IReadOnlyList<LabelStrategy> strategies)
    {
        var text = new StringBuilder();
        text.AppendLine("| labels | strategy | F1 | precision | recall | FPR | threshold | training rows (label weight) | head fit s |");
        text.AppendLine("| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |");
        foreach (var p in points)
        {
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {p.Labels} | {p.Strategy} | {p.F1:F3} | {p.Precision:F3} | {p.Recall:F3} | {p.FalsePositiveRate:F4} | {p.Threshold:G3}{(p.TargetMetOnCalibration ? "" : " (target not met on calibration rows)")} | {p.TrainRows} ({p.LabelWeight}) | {p.FitSeconds:F1} |"));
        }

        return text.ToString().TrimEnd();
    }

    /// <summary>Whether the issue's target holds after 200 labels, per strategy.</summary>
    public static string Verdict(IReadOnlyList<CurvePoint> points)
    {
        var at200 = points.Where(p => p.Labels == 200).ToList();
        if (at200.Count == 0)
        {
            return "Target (F1 >= 0.90 with FPR <= 1% after 200 Enron labels): not measured (no 200-label step).";
        }

        var met = at200.Where(p => p.F1 >= TargetF1 && p.FalsePositiveRate <= TargetFpr).Select(p => p.Strategy).ToList();
        return string.Create(CultureInfo.InvariantCulture, $"Target (F1 >= 0.90 with FPR <= 1% after 200 Enron labels): {(met.Count > 0 ? "MET by " + string.Join(", ", met) : "NOT met")}; at 200: ")
            + string.Join("; ", at200.Select(p => string.Create(CultureInfo.InvariantCulture, $"{p.Strategy} F1 {p.F1:F3} FPR {p.FalsePositiveRate:F4}")));
    }
}

/// <summary>What <c>scenario learning-curve</c> measures.</summary>
internal sealed record LearningCurveRequest(string? Registry, IReadOnlyList<int> Steps, int Evaluate, int Seeds, int Seed, IReadOnlyList<LabelStrategy> Strategies, string? Json);

internal static class ScenarioJson
{
    public static JsonSerializerOptions Options { get; } = new() { WriteIndented = true, PropertyNamingPolicy = JsonNamingPolicy.CamelCase };
}

/// <summary>The registry the starting model lives in: the one named (kept), or a temporary one (deleted).</summary>
internal sealed class ScenarioRegistry : IDisposable
{
    private readonly bool _temporary;

    private ScenarioRegistry(string root, bool temporary)
    {
        Root = root;
        _temporary = temporary;
    }

    public string Root { get; }

    public static ScenarioRegistry Open(string? registry) => registry is not null
        ? new ScenarioRegistry(Path.GetFullPath(registry), temporary: false)
        : new ScenarioRegistry(Path.Combine(Path.GetTempPath(), "streambert-curve-" + Guid.NewGuid().ToString("N")), temporary: true);

    public void Dispose()
    {
        if (_temporary && Directory.Exists(Root))
        {
            Directory.Delete(Root, recursive: true);
        }
    }
}

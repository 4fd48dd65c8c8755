using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using StreamBert.Cli.Commands;
using StreamBert.Contracts;
using StreamBert.Review.Spam;
using StreamBert.Training.Calibration;
using StreamBert.Training.Data;

namespace StreamBert.Cli.Scenarios;

/// <summary>What <c>scenario active-learning</c> measures.</summary>
internal sealed record ActiveLearningRequest(string? Registry, IReadOnlyList<int> Budgets, int Round, int Window, int Evaluate, int Seeds, int Seed, LabelStrategy Strategy, string? Json);

/// <summary>
/// Issue 13: does labelling what the model is least sure of first beat a random sample? On one stream window (Enron's
/// label pool, else the SMS held-out split), from the SMS-only model, reviewers label in rounds: each round the current
/// model scores the unlabelled window, the desk's queue (<see cref="ReviewSelection"/>) picks the next items —
/// uncertainty-first or a seeded random sample — and the head is retrained as the trainer would. F1 and FPR on held-out
/// rows after each budget; several seeds (window, sample and head seed), median.
/// </summary>
internal static class ActiveLearningScenario
{
    public static async Task<int> RunAsync(ActiveLearningRequest request, TextWriter output, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        using var registry = ScenarioRegistry.Open(request.Registry);
        var data = await SpamScenarioData.LoadAsync(registry.Root, output, ct).ConfigureAwait(false);
        LabelPoolSplit split;
        string stream;
        if (data.DomainRows.Count > 0)
        {
            split = LabelPool.Split(data.DomainRows, request.Evaluate);
            stream = "Enron1 (label pool = train split; evaluation = held-out split)";
        }
        else
        {
            // No Enron: the SMS rows the starting model never trained on, halved by a salted hash into stream and evaluation.
            var unseen = DatasetSplit.Split(DatasetSplit.Deduplicate(data.BaseRows).Items).Test;
            var halves = DatasetSplit.Split(unseen, r => "active-learning:" + r.Text, 50);
            split = new LabelPoolSplit(LabelPool.Order(halves.Train, "pool"), [.. LabelPool.Order(halves.Test, "evaluation").Take(request.Evaluate)]);
            stream = "SMS held-out split, halved (Enron1 not found under STREAMBERT_DATA)";
        }

        var budgets = request.Budgets.Order().Distinct().ToList();
        // The window is the start of the learning curve's label order for the same seed: the same stream, and its
        // features are mostly cached already.
        var windows = Enumerable.Range(0, request.Seeds).Select(s => LabelPool.ReviewOrder(split.Pool, request.Seed + s).Take(request.Window).ToList()).ToList();
        if (windows[0].Count < budgets[^1])
        {
            throw new UsageException($"--budgets: {budgets[^1]} labels asked for, but the stream window holds {windows[0].Count}.");
        }

        output.WriteLine($"Stream: {stream}; window {windows[0].Count} of {split.Pool.Count}; evaluation {split.Evaluation.Count} ({split.Evaluation.Count(r => r.Label == LabelSets.Spam)} spam); rounds of {request.Round} up to {budgets[^1]}; strategy {request.Strategy.Name}; seeds {request.Seed}..{request.Seed + request.Seeds - 1}");
        var lab = SpamHeadLab.Create(data.BundleDirectory, data.BaseRows.Select(r => r.Text).Concat(split.Evaluation.Select(r => r.Text)).Concat(windows.SelectMany(w => w.Select(r => r.Text))), OperatingPointFinder.DefaultTarget(TaskNames.Spam), output, ct);
        output.WriteLine($"[{clock.Elapsed:mm\\:ss}] features ready");

        var start = lab.Evaluate(lab.Base, split.Evaluation);
        var points = new List<CurvePoint> { CurvePoint.From("SMS-only (start)", 0, start, lab.Base, null) };
        var perSeed = new List<(QueueMode Mode, int Seed, CurvePoint Point, int Spam)>();
        foreach (var mode in new[] { QueueMode.Uncertain, QueueMode.Random })
        {
            for (var s = 0; s < request.Seeds; s++)
            {
                var seed = request.Seed + s;
                var window = windows[s];
                var labelled = new List<LabeledText>();
                var taken = new bool[window.Count];
                var head = lab.Base;
                for (var round = 0; labelled.Count < budgets[^1]; round++)
                {
                    var open = Enumerable.Range(0, window.Count).Where(i => !taken[i]).ToList();
                    var scores = lab.Scores(head, [.. open.Select(i => window[i].Text)]);
                    var count = Math.Min(request.Round, budgets[^1] - labelled.Count);
                    foreach (var pick in ReviewSelection.Pick(scores, head.Threshold, count, mode, (seed * 1000) + round))
                    {
                        taken[open[pick]] = true;
                        labelled.Add(window[open[pick]]);
                    }

                    var (retrained, info) = lab.Retrain(request.Strategy, data.BaseRows, labelled, seed, ct);
                    head = retrained;
                    if (budgets.Contains(labelled.Count))
                    {
                        var point = CurvePoint.From(Name(mode), labelled.Count, lab.Evaluate(head, split.Evaluation), head, info);
                        var spam = labelled.Count(r => r.Label == LabelSets.Spam);
                        perSeed.Add((mode, seed, point, spam));
                        output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                            $"[{clock.Elapsed:mm\\:ss}] {Name(mode),-17} seed {seed}: {labelled.Count,4} labels ({spam} spam)  F1 {point.F1:F3}  P {point.Precision:F3}  R {point.Recall:F3}  FPR {point.FalsePositiveRate:F4}"));
                    }
                }
            }
        }

        foreach (var budget in budgets)
        {
            foreach (var mode in new[] { QueueMode.Uncertain, QueueMode.Random })
            {
                points.Add(CurvePoint.Median([.. perSeed.Where(p => p.Mode == mode && p.Point.Labels == budget).Select(p => p.Point)]));
            }
        }

        var table = Table(points, perSeed);
        output.WriteLine();
        output.WriteLine(table);
        output.WriteLine($"Total {clock.Elapsed.TotalSeconds:F0} s");
        if (request.Json is { } json)
        {
            await File.WriteAllTextAsync(json, JsonSerializer.Serialize(new
            {
                scenario = "active-learning",
                start = $"spam {data.BundleVersion} (SMS only, heads only)",
                stream,
                window = windows[0].Count,
                evaluation = new { n = split.Evaluation.Count, spam = split.Evaluation.Count(r => r.Label == LabelSets.Spam) },
                round = request.Round,
                strategy = request.Strategy,
                seeds = Enumerable.Range(request.Seed, request.Seeds),
                medians = points,
                perSeed = perSeed.Select(p => new { mode = Name(p.Mode), p.Seed, labelledSpam = p.Spam, point = p.Point }),
                seconds = clock.Elapsed.TotalSeconds,
            }, ScenarioJson.Options), ct).ConfigureAwait(false);
        }

        return 0;
    }

    private static string Name(QueueMode mode) => mode == QueueMode.Uncertain ? "uncertainty-first" : "random";

    private static string Table(IReadOnlyList<CurvePoint> medians, IReadOnlyList<(QueueMode Mode, int Seed, CurvePoint Point, int Spam)> perSeed)
    {
        var text = new StringBuilder();
        text.AppendLine("| labels | selection | F1 (median) | precision | recall | FPR (median) | F1 per seed | spam among labels per seed |");
        text.AppendLine("| ---: | --- | ---: | ---: | ---: | ---: | --- | --- |");
        foreach (var p in medians)
        {
            var seeds = perSeed.Where(s => Name(s.Mode) == p.Strategy && s.Point.Labels == p.Labels).ToList();
            text.AppendLine(string.Create(CultureInfo.InvariantCulture,
                $"| {p.Labels} | {p.Strategy} | {p.F1:F3} | {p.Precision:F3} | {p.Recall:F3} | {p.FalsePositiveRate:F4} | {string.Join(" / ", seeds.Select(s => s.Point.F1.ToString("F3", CultureInfo.InvariantCulture)))} | {string.Join(" / ", seeds.Select(s => s.Spam))} |"));
        }

        return text.ToString().TrimEnd();
    }
}

using System.Diagnostics;
using StreamBert.Contracts;
using StreamBert.Processor.Inference;
using StreamBert.Trainer;
using StreamBert.Training.Data;

namespace StreamBert.Cli.Demo;

/// <summary>One spam verdict as the demo's reader saw it, with the truth the feeder knew.</summary>
internal sealed record SpamVerdict(TimeSpan At, string Label, float Score, string? Truth, string Version, string Text);

/// <summary>An article with its claims and entities, both outputs in.</summary>
internal sealed record ArticleView(ArticleInput Article, ClaimsOutput Claims, EntitiesOutput Entities);

/// <summary>A training run the demo watched, and the hot swap it led to (if any).</summary>
internal sealed record TrainingRunView(int Number, TimeSpan Started, int Labels, TrainingOutcome? Outcome);

/// <summary>A <see cref="SwapOutcome"/> with the version it replaced and when.</summary>
internal sealed record SwapView(TimeSpan At, string Bundle, string From, SwapOutcome Outcome);

/// <summary>Accuracy of one spam model version against the feeder's truth.</summary>
internal sealed class VersionScore
{
    public required string Version { get; init; }
    public TimeSpan FirstSeen { get; init; }
    public long Labelled { get; set; }
    public long Judged { get; set; }
    public long Correct { get; set; }
    public long TruePositives { get; set; }
    public long FalsePositives { get; set; }
    public long FalseNegatives { get; set; }

    /// <summary>Messages whose text no version was trained on (see <see cref="DemoState.AddVerdict"/>).</summary>
    public long HeldOutJudged { get; set; }
    public long HeldOutCorrect { get; set; }

    public double Accuracy => Judged == 0 ? double.NaN : (double)Correct / Judged;
    public double HeldOutAccuracy => HeldOutJudged == 0 ? double.NaN : (double)HeldOutCorrect / HeldOutJudged;
    public double SpamF1 => TruePositives == 0 ? 0 : 2.0 * TruePositives / ((2.0 * TruePositives) + FalsePositives + FalseNegatives);

    public VersionScore Copy() => (VersionScore)MemberwiseClone();
}

/// <summary>
/// What the feeders, readers, trainer and processor events report, for the dashboard, the plain status
/// lines and the summary. Written from several threads; readers take copies under the lock.
/// </summary>
internal sealed class DemoState
{
    private const int RecentVerdicts = 8;
    private const int RecentEvents = 6;

    private readonly Lock _gate = new();
    private readonly Dictionary<string, VersionScore> _versions = new(StringComparer.Ordinal);
    private readonly Queue<SpamVerdict> _recent = new();
    private readonly Queue<(TimeSpan At, string Line)> _events = new();
    private readonly List<TrainingRunView> _runs = [];
    private readonly List<SwapView> _swaps = [];
    private readonly Dictionary<string, string> _served = new(StringComparer.Ordinal);
    private ArticleView? _article;
    private string? _trainerProgress;
    private long _fed;
    private long _malformed;
    private long _reviews;
    private long _labelsTrainedOn;

    public Stopwatch Clock { get; } = Stopwatch.StartNew();

    public ArticleStats Articles { get; } = new();

    /// <summary>Called with every <see cref="Event"/> line (training runs, swaps, warnings); the plain mode prints them.</summary>
    public Action<string>? Announce { get; set; }

    public long Fed => Interlocked.Read(ref _fed);
    public long Malformed => Interlocked.Read(ref _malformed);
    public long Reviews => Interlocked.Read(ref _reviews);

    /// <summary>Labels the trainer held when its last run started.</summary>
    public long LabelsTrainedOn => Interlocked.Read(ref _labelsTrainedOn);

    public void AddFed(bool malformed)
    {
        Interlocked.Increment(ref _fed);
        if (malformed)
        {
            Interlocked.Increment(ref _malformed);
        }
    }

    /// <summary>The versions the processor serves at start; swaps update them.</summary>
    public void Serving(IEnumerable<KeyValuePair<string, string>> served)
    {
        lock (_gate)
        {
            foreach (var (bundle, version) in served)
            {
                _served[bundle] = version;
            }
        }
    }

    public void AddReview() => Interlocked.Increment(ref _reviews);

    public void AddVerdict(SpamLabel label, (string Text, string Label)? truth)
    {
        lock (_gate)
        {
            if (!_versions.TryGetValue(label.Model.Version, out var score))
            {
                score = new VersionScore { Version = label.Model.Version, FirstSeen = Clock.Elapsed };
                _versions[label.Model.Version] = score;
            }

            score.Labelled++;
            if (truth is not { } known)
            {
                return;
            }

            var correct = label.Label == known.Label;
            score.Judged++;
            score.Correct += correct ? 1 : 0;
            // The starting model trained on the SMS training split and the trainer on the labels outside its own
            // (salted) held-out split: a text in both held-out splits was never trained on by any version.
            if (DatasetSplit.IsTest(known.Text) && LabelTrainingJob.IsHeldOut(known.Text))
            {
                score.HeldOutJudged++;
                score.HeldOutCorrect += correct ? 1 : 0;
            }

            var (predictedSpam, actualSpam) = (label.Label == LabelSets.Spam, known.Label == LabelSets.Spam);
            score.TruePositives += predictedSpam && actualSpam ? 1 : 0;
            score.FalsePositives += predictedSpam && !actualSpam ? 1 : 0;
            score.FalseNegatives += !predictedSpam && actualSpam ? 1 : 0;

            // Every spam verdict and every mistake is worth showing; plain ham only now and then.
            if (predictedSpam || !correct || score.Labelled % 20 == 0)
            {
                _recent.Enqueue(new SpamVerdict(Clock.Elapsed, label.Label, label.Score, known.Label, label.Model.Version, known.Text.ReplaceLineEndings(" ")));
                while (_recent.Count > RecentVerdicts)
                {
                    _recent.Dequeue();
                }
            }
        }
    }

    public void SetArticle(ArticleView view)
    {
        lock (_gate)
        {
            _article = view;
        }
    }

    public void TrainingStarted(string task, int labels)
    {
        Interlocked.Exchange(ref _labelsTrainedOn, labels);
        TrainingRunView run;
        lock (_gate)
        {
            run = new TrainingRunView(_runs.Count + 1, Clock.Elapsed, labels, null);
            _runs.Add(run);
            _trainerProgress = null;
        }

        Event($"training run {run.Number} ({task}) started on {labels} reviewer labels");
    }

    public void TrainingCompleted(TrainingOutcome outcome)
    {
        TrainingRunView run;
        lock (_gate)
        {
            run = _runs[^1] with { Outcome = outcome };
            _runs[^1] = run;
        }

        var verdict = outcome.Published is { } published ? $"published {published.Name} {published.Version}" : "not published";
        Event($"training run {run.Number} ({outcome.Task}) {verdict} after {outcome.Elapsed.TotalSeconds:F0} s on {outcome.TrainRows} rows: {DemoText.Scores(outcome)}; {outcome.Reason}");
    }

    public void TrainerProgress(string line)
    {
        lock (_gate)
        {
            _trainerProgress = line;
        }
    }

    public void Swapped(SwapOutcome outcome)
    {
        if (outcome.Result == SwapResult.Ignored)
        {
            return;
        }

        SwapView swap;
        TrainingOutcome? training;
        lock (_gate)
        {
            var from = _served.GetValueOrDefault(outcome.Bundle, "?");
            if (outcome.Result == SwapResult.Swapped)
            {
                _served[outcome.Bundle] = outcome.Version;
            }

            swap = new SwapView(Clock.Elapsed, outcome.Bundle, from, outcome);
            _swaps.Add(swap);
            training = PublishedBy(outcome.Bundle, outcome.Version);
        }

        Event(outcome.Result == SwapResult.Swapped
            ? $"HOT SWAP {outcome.Bundle} {swap.From} → {outcome.Version} (exchange {outcome.Exchange.TotalMilliseconds:F0} ms){(training is null ? "" : "; evaluation: " + DemoText.Scores(training))}"
            : $"swap to {outcome.Bundle} {outcome.Version} refused: {outcome.Reason}");
    }

    /// <summary>A line for the events panel (and the plain output).</summary>
    public void Event(string line)
    {
        lock (_gate)
        {
            _events.Enqueue((Clock.Elapsed, line));
            while (_events.Count > RecentEvents)
            {
                _events.Dequeue();
            }
        }

        Announce?.Invoke(line);
    }

    public DemoSnapshot Snapshot()
    {
        lock (_gate)
        {
            return new DemoSnapshot(
                [.. _versions.Values.Select(v => v.Copy()).OrderBy(v => v.FirstSeen)],
                [.. _recent],
                _article,
                [.. _runs],
                [.. _swaps],
                new Dictionary<string, string>(_served, StringComparer.Ordinal),
                _trainerProgress,
                [.. _events]);
        }
    }

    /// <summary>The training run that published a version, if the trainer made it (call under the lock).</summary>
    private TrainingOutcome? PublishedBy(string bundle, string version) =>
        _runs.Select(r => r.Outcome).LastOrDefault(o => o?.Published is { } p && p.Name == bundle && p.Version == version);
}

/// <summary>A consistent copy of <see cref="DemoState"/>.</summary>
internal sealed record DemoSnapshot(
    IReadOnlyList<VersionScore> Versions,
    IReadOnlyList<SpamVerdict> Recent,
    ArticleView? Article,
    IReadOnlyList<TrainingRunView> Runs,
    IReadOnlyList<SwapView> Swaps,
    IReadOnlyDictionary<string, string> Served,
    string? TrainerProgress,
    IReadOnlyList<(TimeSpan At, string Line)> Events);

using System.Text.Json.Serialization;
using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Tasks;
using StreamBert.Training.Calibration;
using StreamBert.Training.Data;
using StreamBert.Training.Evaluation;

namespace StreamBert.Training.Jobs;

/// <summary>The JSON <c>streambert eval --json</c> prints.</summary>
public sealed record EvaluationReport
{
    [JsonPropertyName("task")] public required string Task { get; init; }
    [JsonPropertyName("model")] public required ModelRef Model { get; init; }
    [JsonPropertyName("n")] public required int N { get; init; }
    [JsonPropertyName("accuracy")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? Accuracy { get; init; }
    [JsonPropertyName("precision")] public required double Precision { get; init; }
    [JsonPropertyName("recall")] public required double Recall { get; init; }
    [JsonPropertyName("f1")] public required double F1 { get; init; }

    /// <summary>Spam and claims: the threshold the scores were cut at (the version's operating point, else 0.5).</summary>
    [JsonPropertyName("threshold")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? Threshold { get; init; }

    /// <summary>Spam and claims: the version's operating target, and whether this data meets it at <see cref="Threshold"/>.</summary>
    [JsonPropertyName("target")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public OperatingTarget? Target { get; init; }
    [JsonPropertyName("targetMet")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public bool? TargetMet { get; init; }

    /// <summary>Spam and claims: share of negatives called positive at <see cref="Threshold"/>.</summary>
    [JsonPropertyName("fpr")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? FalsePositiveRate { get; init; }

    /// <summary>Spam and claims: threshold-free ranking quality (NaN → null when a class is absent).</summary>
    [JsonPropertyName("rocAuc")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? RocAuc { get; init; }
    [JsonPropertyName("prAuc")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? PrAuc { get; init; }

    /// <summary>Spam and claims: expected calibration error of the served score over <see cref="Reliability"/>.</summary>
    [JsonPropertyName("ece")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)] public double? Ece { get; init; }

    /// <summary>Spam and claims: the reliability table (10 equal-width score bins).</summary>
    [JsonPropertyName("reliability")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyList<ReliabilityBin>? Reliability { get; init; }

    /// <summary>NER only: entity-level scores per type.</summary>
    [JsonPropertyName("perType")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, TypeScores>? PerType { get; init; }

    public IReadOnlyDictionary<string, double> ToMetrics()
    {
        var metrics = new Dictionary<string, double> { ["n"] = N, ["precision"] = Precision, ["recall"] = Recall, ["f1"] = F1 };
        void Add(string key, double? value)
        {
            if (value is { } v && double.IsFinite(v))
            {
                metrics[key] = v;
            }
        }

        Add("accuracy", Accuracy);
        Add("threshold", Threshold);
        Add("fpr", FalsePositiveRate);
        Add("rocAuc", RocAuc);
        Add("prAuc", PrAuc);
        Add("ece", Ece);

        return metrics;
    }
}

public sealed record TypeScores(
    [property: JsonPropertyName("n")] int N,
    [property: JsonPropertyName("precision")] double Precision,
    [property: JsonPropertyName("recall")] double Recall,
    [property: JsonPropertyName("f1")] double F1);

/// <summary>Evaluates a bundle on labelled data through the serving path (<see cref="OfflineScorer"/>).</summary>
public static class EvaluationJob
{
    /// <param name="heldOutOnly">
    /// Only the rows the training split holds out (deduplicated, hash bucket &lt; 20; see <see cref="DatasetSplit"/>),
    /// so a model trained on these files is evaluated on exactly the rows it never saw.
    /// </param>
    /// <param name="precision">The encoder graph served (<see cref="SessionSettings.Precision"/>).</param>
    /// <param name="maxWindows">Spam and claims: windows scored per text, the first ones (the processor's <c>MaxWindowsPerMessage</c>).</param>
    public static EvaluationReport Run(
        string task, IReadOnlyList<string> files, string bundleDirectory, CancellationToken cancellationToken, bool heldOutOnly = false, EncoderPrecision precision = EncoderPrecision.Fp32, int maxWindows = OfflineScorer.DefaultMaxWindows)
    {
        using var models = ModelSet.Load([bundleDirectory], new SessionSettings { Precision = precision });
        IReadOnlyList<LabeledText> Rows(IEnumerable<LabeledText> rows) =>
            heldOutOnly ? DatasetSplit.Split(DatasetSplit.Deduplicate(rows).Items).Test : rows.ToList();
        return task switch
        {
            TaskNames.Spam => Binary(models, task, Rows(files.SelectMany(f => SequenceData.Read(task, f))), LabelSets.Spam, cancellationToken, maxWindows: maxWindows),
            TaskNames.Claims => Binary(models, task, Rows(files.SelectMany(f => SequenceData.Read(task, f))), LabelSets.Claim, cancellationToken, maxWindows: maxWindows),
            TaskNames.Ner => Ner(models, files.SelectMany(f => ConllReader.Read(f)).ToList(), cancellationToken),
            _ => throw new ArgumentException($"Unknown task {task}.", nameof(task)),
        };
    }

    /// <summary>
    /// Scores <paramref name="rows"/> as served (calibrated) and reports them at the version's own operating point, or at
    /// <paramref name="threshold"/> when given, with ranking and calibration measures beside.
    /// </summary>
    public static EvaluationReport Binary(ModelSet models, string task, IReadOnlyList<LabeledText> rows, string positive, CancellationToken cancellationToken, double? threshold = null, int maxWindows = OfflineScorer.DefaultMaxWindows)
    {
        var head = models.RequiredHead(task);
        var scorer = new OfflineScorer(models, maxWindows: maxWindows);
        var scores = scorer.ScoreTexts(rows.Select(r => r.Text).ToList(), task, cancellationToken).Select(s => (double)s).ToArray();
        var gold = rows.Select(r => r.Label == positive).ToArray();
        var cut = threshold ?? head.Threshold;
        var metrics = ScoreMetrics.AtThreshold(scores, gold, cut);
        var table = ScoreMetrics.Reliability(scores, gold);
        double? Finite(double value) => double.IsFinite(value) ? value : null;
        var target = head.Spec.OperatingPoint?.Target;
        return new EvaluationReport
        {
            Task = task,
            Model = head.Model,
            N = metrics.N,
            Accuracy = task == TaskNames.Spam ? metrics.Accuracy : null,
            Precision = metrics.Precision,
            Recall = metrics.Recall,
            F1 = metrics.F1,
            Threshold = cut,
            Target = target,
            TargetMet = target is null ? null : OperatingPointFinder.Meets(target, metrics),
            FalsePositiveRate = metrics.FalsePositiveRate,
            RocAuc = Finite(ScoreMetrics.RocAuc(scores, gold)),
            PrAuc = Finite(ScoreMetrics.PrAuc(scores, gold)),
            Ece = ScoreMetrics.ExpectedCalibrationError(table),
            Reliability = table,
        };
    }

    public static EvaluationReport Ner(ModelSet models, IReadOnlyList<NerSentence> sentences, CancellationToken cancellationToken)
    {
        var scorer = new OfflineScorer(models);
        var predicted = scorer.TagWords(sentences.Select(s => s.Tokens).ToList(), cancellationToken);
        var result = ConllEval.Evaluate(sentences.Select((s, i) => (s.Tags, (IReadOnlyList<string>)predicted[i])));
        return new EvaluationReport
        {
            Task = TaskNames.Ner,
            Model = models.RequiredHead(TaskNames.Ner).Model,
            N = sentences.Count,
            Precision = result.Overall.Precision,
            Recall = result.Overall.Recall,
            F1 = result.Overall.F1,
            PerType = result.PerType.ToDictionary(kv => kv.Key, kv => new TypeScores(kv.Value.Gold, kv.Value.Precision, kv.Value.Recall, kv.Value.F1)),
        };
    }
}

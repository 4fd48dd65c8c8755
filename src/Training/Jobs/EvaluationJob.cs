using System.Text.Json.Serialization;
using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Tasks;
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

    /// <summary>NER only: entity-level scores per type.</summary>
    [JsonPropertyName("perType")] [JsonIgnore(Condition = JsonIgnoreCondition.WhenWritingNull)]
    public IReadOnlyDictionary<string, TypeScores>? PerType { get; init; }

    public IReadOnlyDictionary<string, double> ToMetrics()
    {
        var metrics = new Dictionary<string, double> { ["n"] = N, ["precision"] = Precision, ["recall"] = Recall, ["f1"] = F1 };
        if (Accuracy is { } accuracy)
        {
            metrics["accuracy"] = accuracy;
        }

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
    public static EvaluationReport Run(
        string task, IReadOnlyList<string> files, string bundleDirectory, CancellationToken cancellationToken, bool heldOutOnly = false, EncoderPrecision precision = EncoderPrecision.Fp32)
    {
        using var models = ModelSet.Load([bundleDirectory], new SessionSettings { Precision = precision });
        IReadOnlyList<LabeledText> Rows(IEnumerable<LabeledText> rows) =>
            heldOutOnly ? DatasetSplit.Split(DatasetSplit.Deduplicate(rows).Items).Test : rows.ToList();
        return task switch
        {
            TaskNames.Spam => Binary(models, task, Rows(files.SelectMany(f => SequenceData.Read(task, f))), LabelSets.Spam, cancellationToken),
            TaskNames.Claims => Binary(models, task, Rows(files.SelectMany(f => SequenceData.Read(task, f))), LabelSets.Claim, cancellationToken),
            TaskNames.Ner => Ner(models, files.SelectMany(f => ConllReader.Read(f)).ToList(), cancellationToken),
            _ => throw new ArgumentException($"Unknown task {task}.", nameof(task)),
        };
    }

    public static EvaluationReport Binary(ModelSet models, string task, IReadOnlyList<LabeledText> rows, string positive, CancellationToken cancellationToken, double threshold = 0.5)
    {
        var scorer = new OfflineScorer(models);
        var scores = scorer.ScoreTexts(rows.Select(r => r.Text).ToList(), task, cancellationToken);
        var negative = task == TaskNames.Spam ? LabelSets.Ham : LabelSets.NoClaim;
        var predicted = scores.Select(s => s >= threshold ? positive : negative).ToList();
        var metrics = BinaryMetrics.Compute(rows.Select(r => r.Label).ToList(), predicted, positive);
        return new EvaluationReport
        {
            Task = task,
            Model = models.RequiredHead(task).Model,
            N = metrics.N,
            Accuracy = task == TaskNames.Spam ? metrics.Accuracy : null,
            Precision = metrics.Precision,
            Recall = metrics.Recall,
            F1 = metrics.F1,
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

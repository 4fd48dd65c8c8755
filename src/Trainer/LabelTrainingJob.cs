using System.Diagnostics;
using System.Globalization;
using StreamBert.Contracts;
using StreamBert.Engine.Heads;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tokenization;
using StreamBert.Training.Data;
using StreamBert.Training.Evaluation;
using StreamBert.Training.FeatureExtraction;
using StreamBert.Training.Heads;
using StreamBert.Training.Jobs;

namespace StreamBert.Trainer;

/// <summary>One evaluation set's F1 for the live version and the candidate.</summary>
public sealed record GateScore(string Set, int N, double Current, double Candidate);

/// <summary>What a run did: published a version, or why not.</summary>
public sealed record TrainingOutcome(string Task, string Bundle, string ParentVersion, BundleManifest? Published, string Reason, IReadOnlyList<GateScore> Scores, int TrainRows, TimeSpan Elapsed);

/// <summary>
/// One retraining run of the training service: a new head for <c>task</c> on the current version's features
/// (same encoder, layers, pooling and head shape), trained on the base data plus every reviewer label seen
/// (a label overrides the base data's label for the same text), judged against the current version on the
/// held-out split of the labels and on a fixed evaluation file, and written to the registry only if it is
/// not worse on any of them (the quality gate).
/// </summary>
public sealed class LabelTrainingJob
{
    private readonly TrainerOptions _options;
    private readonly TextWriter _log;

    /// <summary>Features by (encoder, layers, pooling, text): the base data is encoded once per process, not per run.</summary>
    private readonly Dictionary<string, float[]> _sequenceFeatures = new(StringComparer.Ordinal);
    private readonly Dictionary<string, float[]?[]> _wordFeatures = new(StringComparer.Ordinal);

    public LabelTrainingJob(TrainerOptions options, TextWriter log)
    {
        _options = options;
        _log = log;
    }

    public TrainingOutcome Run(string task, IReadOnlyList<LabeledText> textLabels, IReadOnlyList<NerSentence> sentenceLabels, IReadOnlyDictionary<string, long> labelOffsets, CancellationToken cancellationToken)
    {
        var clock = Stopwatch.StartNew();
        var registry = new ModelRegistry(_options.Registry);
        var bundle = TaskDefaults.BundleOf(task);
        var parentVersion = registry.CurrentVersion(bundle)
            ?? throw new InvalidOperationException($"The registry {registry.Root} has no current version of {bundle} to start from; train one with 'streambert train'.");
        var parentDirectory = registry.BundleDirectory(bundle, parentVersion);
        var parent = ModelRegistry.ReadManifest(parentDirectory);
        var spec = parent.Heads.GetValueOrDefault(task) ?? throw new InvalidOperationException($"{bundle} {parentVersion} has no {task} head.");
        DenseHead parentHead;
        using (var stream = File.OpenRead(Path.Combine(parentDirectory, spec.File)))
        {
            parentHead = DenseHead.Load(stream);
        }

        var encoderPath = parent.Encoder.File is { } file ? Path.Combine(parentDirectory, file) : MiniLmResources.Ensure().ModelPath;
        var tokenizer = WordPieceTokenizer.FromFile(Path.Combine(parentDirectory, parent.Encoder.Vocab));
        using var session = EncoderSession.FromFile(encoderPath, spec.Layers);
        var extractor = new FeatureExtractor(session, tokenizer, parent.MaxSequenceLength) { CaseTypes = parent.Encoder.TokenTypes == EncoderRef.CaseTokenTypes };
        var featureKey = $"{parent.Encoder.Sha256}|{string.Join(",", spec.Layers)}|{spec.Pooling}|{spec.WordShape}|";

        var trainer = new HeadTrainerOptions
        {
            HiddenDim = parentHead.HiddenDim,
            Activation = parentHead.Activation,
            Standardize = parentHead.Standardizes,
            MaxEpochs = 40,
            BatchSize = task == TaskNames.Ner ? 256 : 32,
            LearningRate = 2e-3f,
            Patience = 5,
            Seed = _options.Seed,
            BalanceClasses = task == TaskNames.Claims,
        };

        var (head, evaluationSets, trainRows) = task == TaskNames.Ner
            ? TrainNer(spec, extractor, featureKey, trainer, sentenceLabels, cancellationToken)
            : TrainBinary(task, spec, extractor, featureKey, trainer, textLabels, cancellationToken);
        _log.WriteLine($"[trainer] {task}: head trained on {trainRows} rows in {clock.Elapsed.TotalSeconds:F0} s; judging against {bundle} {parentVersion}");

        // Stage the candidate exactly as it would be served, then judge both versions through the serving path.
        var staging = Path.Combine(Path.GetTempPath(), "streambert-candidate-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(staging);
        try
        {
            WriteCandidate(staging, parentDirectory, parent, spec, head);
            var draft = parent with { Version = "candidate", ParentVersion = parentVersion, Files = ModelRegistry.HashFiles(staging) };
            File.WriteAllText(Path.Combine(staging, ModelRegistry.ManifestFile), System.Text.Json.JsonSerializer.Serialize(draft, ModelRegistry.Json));
            var scores = new List<GateScore>();
            EvaluationReport? headline = null;
            using (var current = ModelSet.Load([parentDirectory]))
            using (var candidate = ModelSet.Load([staging]))
            {
                foreach (var (name, evaluate) in evaluationSets)
                {
                    var before = evaluate(current);
                    var after = evaluate(candidate);
                    headline ??= after;
                    scores.Add(new GateScore(name, after.N, before.F1, after.F1));
                    _log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[trainer] {task} on {name} (n {after.N}): F1 {before.F1:F4} ({parentVersion}) → {after.F1:F4} (candidate)"));
                }
            }

            if (scores.Count == 0)
            {
                return new TrainingOutcome(task, bundle, parentVersion, null, "no evaluation set: configure an evaluation file or send more labels", scores, trainRows, clock.Elapsed);
            }

            var worse = scores.Where(s => s.Candidate < s.Current - _options.Tolerance).ToList();
            if (worse.Count > 0)
            {
                var reason = string.Join("; ", worse.Select(s => string.Create(CultureInfo.InvariantCulture, $"F1 on {s.Set} {s.Candidate:F4} < {s.Current:F4} - {_options.Tolerance}")));
                return new TrainingOutcome(task, bundle, parentVersion, null, "quality gate: " + reason, scores, trainRows, clock.Elapsed);
            }

            var metrics = new Dictionary<string, IReadOnlyDictionary<string, double>>(parent.Metrics) { [task] = headline!.ToMetrics() };
            var training = new Dictionary<string, string>
            {
                ["task"] = task,
                ["mode"] = "heads",
                ["trainer"] = "labels",
                ["trainRows"] = trainRows.ToString(CultureInfo.InvariantCulture),
                ["baseData"] = string.Join(";", _options.BaseData.GetValueOrDefault(task, []).Select(Path.GetFileName)),
                ["evaluatedOn"] = string.Join("; ", scores.Select(s => $"{s.Set} (n {s.N})")),
                ["labelOffsets"] = string.Join(",", labelOffsets.Select(o => $"{o.Key}={o.Value}")),
            };
            var published = registry.Publish(
                bundle,
                target =>
                {
                    foreach (var path in Directory.GetFiles(staging).Where(p => Path.GetFileName(p) != ModelRegistry.ManifestFile))
                    {
                        File.Copy(path, Path.Combine(target, Path.GetFileName(path)));
                    }
                },
                (version, files) => parent with
                {
                    Version = version,
                    ParentVersion = parentVersion,
                    CreatedAt = DateTimeOffset.UtcNow,
                    Files = files,
                    Metrics = metrics,
                    Training = training,
                });
            return new TrainingOutcome(task, bundle, parentVersion, published, $"not worse than {parentVersion} on {string.Join(", ", scores.Select(s => s.Set))}", scores, trainRows, clock.Elapsed);
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    private (DenseHead Head, List<(string, Func<ModelSet, EvaluationReport>)> Sets, int TrainRows) TrainBinary(
        string task, HeadSpec spec, FeatureExtractor extractor, string featureKey, HeadTrainerOptions trainer, IReadOnlyList<LabeledText> labels, CancellationToken cancellationToken)
    {
        var positive = spec.Labels[^1];

        // The latest label for a text wins: a reviewer's correction replaces an earlier label.
        var latest = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var label in labels)
        {
            latest[label.Text] = label.Label;
        }

        List<LabeledText> fixedSet = _options.EvalFiles.TryGetValue(task, out var evalFile) ? [.. SequenceData.Read(task, evalFile)] : [];
        var fixedTexts = fixedSet.Select(r => r.Text).ToHashSet(StringComparer.Ordinal);
        var heldOut = latest.Where(l => IsHeldOut(l.Key) && !fixedTexts.Contains(l.Key)).Select(l => new LabeledText(l.Key, l.Value)).OrderBy(r => r.Text, StringComparer.Ordinal).ToList();
        var labelTrain = latest.Where(l => !IsHeldOut(l.Key) && !fixedTexts.Contains(l.Key)).Select(l => new LabeledText(l.Key, l.Value));
        var baseRows = _options.BaseData.GetValueOrDefault(task, []).SelectMany(f => SequenceData.Read(task, f));
        var baseTrain = DatasetSplit.Split(DatasetSplit.Deduplicate(baseRows).Items).Train
            .Where(r => !latest.ContainsKey(r.Text) && !fixedTexts.Contains(r.Text));
        // Reviewers label today's traffic; the base data is yesterday's prior. Repeating each label weighs it
        // against a base set usually ten times larger (the continuous-learning scenario measures the effect).
        // Sorted: labels arrive interleaved across partitions, and the run must not depend on that order.
        var train = baseTrain.Concat(labelTrain.SelectMany(l => Enumerable.Repeat(l, _options.LabelWeight)))
            .OrderBy(r => r.Text, StringComparer.Ordinal).ThenBy(r => r.Label, StringComparer.Ordinal).ToList();

        var missing = train.Select(r => r.Text).Where(t => !_sequenceFeatures.ContainsKey(featureKey + t)).Distinct(StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
        {
            var computed = extractor.Sequences(missing, spec.Layers, spec.Pooling, cancellationToken);
            for (var i = 0; i < missing.Count; i++)
            {
                _sequenceFeatures[featureKey + missing[i]] = computed[i];
            }
        }

        _log.WriteLine($"[trainer] {task}: {train.Count} training rows ({latest.Count - heldOut.Count} from labels), {missing.Count} newly encoded; {heldOut.Count} held-out labels, {fixedSet.Count} fixed evaluation rows");
        var features = train.Select(r => _sequenceFeatures[featureKey + r.Text]).ToArray();
        var result = HeadTrainer.Train(features, [.. train.Select(r => r.Label == positive ? 1 : 0)], 2, trainer with
        {
            ValidationMetric = (gold, predicted) => BinaryMetrics.Compute(gold, predicted, 1).F1,
        }, null, cancellationToken);

        var sets = new List<(string, Func<ModelSet, EvaluationReport>)>();
        if (heldOut.Count >= _options.MinHeldOutLabels)
        {
            sets.Add(("held-out labels", models => EvaluationJob.Binary(models, task, heldOut, positive, cancellationToken)));
        }

        if (fixedSet.Count > 0)
        {
            sets.Add((Path.GetFileName(evalFile!), models => EvaluationJob.Binary(models, task, fixedSet, positive, cancellationToken)));
        }

        return (result.Head, sets, train.Count);
    }

    private (DenseHead Head, List<(string, Func<ModelSet, EvaluationReport>)> Sets, int TrainRows) TrainNer(
        HeadSpec spec, FeatureExtractor extractor, string featureKey, HeadTrainerOptions trainer, IReadOnlyList<NerSentence> labels, CancellationToken cancellationToken)
    {
        static string Key(NerSentence s) => string.Join('\u0001', s.Tokens);
        var latest = new Dictionary<string, NerSentence>(StringComparer.Ordinal);
        foreach (var sentence in labels)
        {
            latest[Key(sentence)] = sentence;
        }

        var fixedSet = _options.EvalFiles.TryGetValue(TaskNames.Ner, out var evalFile) ? ConllReader.Read(evalFile).ToList() : [];
        var heldOut = latest.Where(l => IsHeldOut(l.Key)).Select(l => l.Value).ToList();
        var train = _options.BaseData.GetValueOrDefault(TaskNames.Ner, []).SelectMany(f => ConllReader.Read(f))
            .Where(s => !latest.ContainsKey(Key(s)))
            .Concat(latest.Where(l => !IsHeldOut(l.Key)).SelectMany(l => Enumerable.Repeat(l.Value, _options.LabelWeight)))
            .OrderBy(Key, StringComparer.Ordinal)
            .ToList();

        var missing = train.Where(s => !_wordFeatures.ContainsKey(featureKey + Key(s))).DistinctBy(Key).ToList();
        if (missing.Count > 0)
        {
            var computed = extractor.Words([.. missing.Select(s => s.Tokens)], spec.Layers, spec.WordShape, cancellationToken);
            for (var i = 0; i < missing.Count; i++)
            {
                _wordFeatures[featureKey + Key(missing[i])] = computed[i];
            }
        }

        var tagIndex = spec.Labels.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i);
        var rows = new List<float[]>();
        var tags = new List<int>();
        foreach (var sentence in train)
        {
            var vectors = _wordFeatures[featureKey + Key(sentence)];
            for (var w = 0; w < sentence.Tokens.Count; w++)
            {
                if (vectors[w] is { } vector && tagIndex.TryGetValue(sentence.Tags[w], out var tag))
                {
                    rows.Add(vector);
                    tags.Add(tag);
                }
            }
        }

        _log.WriteLine($"[trainer] ner: {train.Count} training sentences ({rows.Count} words), {missing.Count} newly encoded; {heldOut.Count} held-out labels, {fixedSet.Count} fixed evaluation sentences");
        var result = HeadTrainer.Train([.. rows], [.. tags], spec.Labels.Count, trainer, null, cancellationToken);
        var sets = new List<(string, Func<ModelSet, EvaluationReport>)>();
        if (heldOut.Count >= _options.MinHeldOutLabels)
        {
            sets.Add(("held-out labels", models => EvaluationJob.Ner(models, heldOut, cancellationToken)));
        }

        if (fixedSet.Count > 0)
        {
            sets.Add((Path.GetFileName(evalFile!), models => EvaluationJob.Ner(models, fixedSet, cancellationToken)));
        }

        return (result.Head, sets, train.Count);
    }

    /// <summary>
    /// The labels' own held-out split: a stable hash bucket like <see cref="DatasetSplit"/>'s, salted so that it is
    /// independent of the base data's split (reviewers often label texts from a training split, all of whose
    /// unsalted buckets are "train").
    /// </summary>
    public static bool IsHeldOut(string key) => DatasetSplit.IsTest("label:" + key);

    /// <summary>The parent's files with the retrained head in place of the old one.</summary>
    private static void WriteCandidate(string target, string parentDirectory, BundleManifest parent, HeadSpec spec, DenseHead head)
    {
        foreach (var name in parent.Files.Keys.Where(f => f != spec.File))
        {
            File.Copy(Path.Combine(parentDirectory, name), Path.Combine(target, name));
        }

        using var stream = File.Create(Path.Combine(target, spec.File));
        head.Save(stream);
    }
}

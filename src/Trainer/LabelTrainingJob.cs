using System.Diagnostics;
using System.Globalization;
using StreamBert.Contracts;
using StreamBert.Engine.Heads;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tasks;
using StreamBert.Engine.Tokenization;
using StreamBert.Training.Calibration;
using StreamBert.Training.Data;
using StreamBert.Training.Evaluation;
using StreamBert.Training.FeatureExtraction;
using StreamBert.Training.FineTuning;
using StreamBert.Training.Heads;
using StreamBert.Training.Jobs;
using StreamBert.Training.Modeling;
using StreamBert.Training.Onnx;

namespace StreamBert.Trainer;

/// <summary>One evaluation set's F1 for the live version and the candidate, and (spam, claims) recall and FPR at each one's operating point.</summary>
public sealed record GateScore(string Set, int N, double Current, double Candidate)
{
    public double? CurrentRecall { get; init; }
    public double? CandidateRecall { get; init; }
    public double? CurrentFalsePositiveRate { get; init; }
    public double? CandidateFalsePositiveRate { get; init; }
    public double? CandidatePrecision { get; init; }
}

/// <summary>What a run did: published a version, or why not.</summary>
public sealed record TrainingOutcome(string Task, string Bundle, string ParentVersion, BundleManifest? Published, string Reason, IReadOnlyList<GateScore> Scores, int TrainRows, TimeSpan Elapsed);

/// <summary>What a binary run trains on, fits calibration and threshold on, and judges on (<see cref="LabelTrainingJob.ComposeBinary"/>).</summary>
/// <param name="Train">Rows the head trains on: base rows once, label rows repeated by the label weight.</param>
/// <param name="Calibration">Base and label rows kept from the head, each text once.</param>
/// <param name="HeldOutLabels">Labels kept from training and calibration to judge the candidate.</param>
public sealed record BinaryRunRows(IReadOnlyList<LabeledText> Train, IReadOnlyList<LabeledText> Calibration, IReadOnlyList<LabeledText> HeldOutLabels)
{
    /// <summary>Distinct label texts among <see cref="Train"/>.</summary>
    public int LabelTrainTexts { get; init; }

    /// <summary>The label rows among <see cref="Calibration"/>.</summary>
    public IReadOnlyList<LabeledText> LabelCalibration { get; init; } = [];
}

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
        var bundle = _options.BundleOf(task);
        var parentVersion = registry.CurrentVersion(bundle)
            ?? throw new InvalidOperationException($"The registry {registry.Root} has no current version of {bundle} to start from; train one with 'streambert train'.");
        var parentDirectory = registry.BundleDirectory(bundle, parentVersion);
        var parent = ModelRegistry.ReadManifest(parentDirectory);
        var spec = parent.Heads.GetValueOrDefault(task) ?? throw new InvalidOperationException($"{bundle} {parentVersion} has no {task} head.");
        var data = task == TaskNames.Ner ? NerData(sentenceLabels) : BinaryData(task, spec, textLabels);
        DenseHead parentHead;
        using (var stream = File.OpenRead(Path.Combine(parentDirectory, spec.File)))
        {
            parentHead = DenseHead.Load(stream);
        }

        // A version with its own encoder and this head alone was fine-tuned (train --mode full): encoder and head
        // continue from it. Otherwise the encoder is shared with other heads or versions, and only the head is retrained.
        var fineTune = parent.Encoder.File is not null && parent.Heads.Count == 1;
        var staging = Path.Combine(Path.GetTempPath(), "streambert-candidate-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(staging);
        try
        {
            var draft = fineTune
                ? StageFineTuned(task, parent, parentDirectory, parentVersion, spec, parentHead, data, staging, cancellationToken)
                : StageHead(task, parent, parentDirectory, parentVersion, spec, parentHead, data, staging, cancellationToken);
            draft = Calibrate(task, draft, data, staging, cancellationToken);
            var target = draft.Heads[task].OperatingPoint?.Target;
            _log.WriteLine($"[trainer] {task}: candidate trained on {data.TrainRows} rows in {clock.Elapsed.TotalSeconds:F0} s ({(fineTune ? "encoder and head fine-tuned" : "head retrained")}); judging against {bundle} {parentVersion}");

            // The candidate is staged exactly as it would be served; both versions are judged through the serving path.
            var scores = new List<GateScore>();
            var refusals = new List<string>();
            EvaluationReport? headline = null;
            using (var current = ModelSet.Load([parentDirectory]))
            using (var candidate = ModelSet.Load([staging]))
            {
                foreach (var (name, evaluate) in data.Sets)
                {
                    var before = evaluate(current, cancellationToken);
                    var after = evaluate(candidate, cancellationToken);
                    headline ??= after;
                    scores.Add(new GateScore(name, after.N, before.F1, after.F1)
                    {
                        CurrentRecall = before.Threshold is null ? null : before.Recall,
                        CandidateRecall = after.Threshold is null ? null : after.Recall,
                        CurrentFalsePositiveRate = before.FalsePositiveRate,
                        CandidateFalsePositiveRate = after.FalsePositiveRate,
                        CandidatePrecision = after.Threshold is null ? null : after.Precision,
                    });
                    _log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[trainer] {task} on {name} (n {after.N}): F1 {before.F1:F4} ({parentVersion}) → {after.F1:F4} (candidate)")
                        + (after.Threshold is null ? "" : string.Create(CultureInfo.InvariantCulture,
                            $"; at each one's operating point: recall {before.Recall:F4} → {after.Recall:F4}, precision {before.Precision:F4} → {after.Precision:F4}, FPR {before.FalsePositiveRate:F4} → {after.FalsePositiveRate:F4}")));
                    if (QualityGate.Judge(name, before, after, target, spec.OperatingPoint is not null, _options.Tolerance) is { } refusal)
                    {
                        refusals.Add(refusal);
                    }
                }
            }

            if (scores.Count == 0)
            {
                return new TrainingOutcome(task, bundle, parentVersion, null, "no evaluation set: configure an evaluation file or send more labels", scores, data.TrainRows, clock.Elapsed);
            }

            if (refusals.Count > 0)
            {
                return new TrainingOutcome(task, bundle, parentVersion, null, "quality gate: " + string.Join("; ", refusals), scores, data.TrainRows, clock.Elapsed);
            }

            var metrics = new Dictionary<string, IReadOnlyDictionary<string, double>>(parent.Metrics) { [task] = headline!.ToMetrics() };
            var training = new Dictionary<string, string>
            {
                ["task"] = task,
                ["mode"] = fineTune ? "fine-tuned" : "heads",
                ["trainer"] = "labels",
                ["trainRows"] = data.TrainRows.ToString(CultureInfo.InvariantCulture),
                ["baseData"] = string.Join(";", _options.BaseData.GetValueOrDefault(task, []).Select(Path.GetFileName)),
                ["evaluatedOn"] = string.Join("; ", scores.Select(s => $"{s.Set} (n {s.N})")),
                ["labelOffsets"] = string.Join(",", labelOffsets.Select(o => $"{o.Key}={o.Value}")),
            };
            if (draft.Heads[task].Calibration?.FittedOn is { } fittedOn)
            {
                training["calibration"] = fittedOn;
            }

            foreach (var key in new[] { "onnxParityMaxAbsDiff", "caseTypes", "wordShape" })
            {
                if (fineTune && draft.Training.TryGetValue(key, out var value))
                {
                    training[key] = value;
                }
            }

            var published = registry.Publish(
                bundle,
                target =>
                {
                    foreach (var path in Directory.GetFiles(staging).Where(p => Path.GetFileName(p) != ModelRegistry.ManifestFile))
                    {
                        File.Copy(path, Path.Combine(target, Path.GetFileName(path)));
                    }
                },
                (version, files) => draft with
                {
                    Version = version,
                    ParentVersion = parentVersion,
                    CreatedAt = DateTimeOffset.UtcNow,
                    Files = files,
                    Metrics = metrics,
                    Training = training,
                },
                makeCurrent: false); // the trainer marks it current once the models topic acknowledged its event
            return new TrainingOutcome(task, bundle, parentVersion, published, $"not worse than {parentVersion} on {string.Join(", ", scores.Select(s => s.Set))}", scores, data.TrainRows, clock.Elapsed);
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>
    /// What one run trains on and is judged by. Exactly one of <see cref="Texts"/> (spam, claims) and
    /// <see cref="Sentences"/> (ner) is filled; each label already repeated <see cref="TrainerOptions.LabelWeight"/> times.
    /// </summary>
    private sealed record LabelData(
        IReadOnlyList<LabeledText> Texts,
        IReadOnlyList<NerSentence> Sentences,
        IReadOnlyList<(string Name, Func<ModelSet, CancellationToken, EvaluationReport> Evaluate)> Sets)
    {
        /// <summary>Spam, claims: rows kept out of training to fit calibration and threshold (each text once).</summary>
        public IReadOnlyList<LabeledText> Calibration { get; init; } = [];

        public int TrainRows => Texts.Count + Sentences.Count;
    }

    private LabelData BinaryData(string task, HeadSpec spec, IReadOnlyList<LabeledText> labels)
    {
        var positive = spec.Labels[^1];
        List<LabeledText> fixedSet = _options.EvalFiles.TryGetValue(task, out var evalFile) ? [.. SequenceData.Read(task, evalFile)] : [];
        var fixedTexts = fixedSet.Select(r => r.Text).ToHashSet(StringComparer.Ordinal);
        var baseRows = _options.BaseData.GetValueOrDefault(task, []).SelectMany(f => SequenceData.Read(task, f));
        var rows = ComposeBinary(baseRows, labels, _options.LabelWeight, fixedTexts);
        var (train, calibration, heldOut) = (rows.Train, rows.Calibration, rows.HeldOutLabels);
        _log.WriteLine($"[trainer] {task}: {train.Count} training rows ({rows.LabelTrainTexts} texts from labels), {calibration.Count} calibration rows ({rows.LabelCalibration.Count} from labels); {heldOut.Count} held-out labels, {fixedSet.Count} fixed evaluation rows");

        var sets = new List<(string, Func<ModelSet, CancellationToken, EvaluationReport>)>();
        if (heldOut.Count >= _options.MinHeldOutLabels)
        {
            sets.Add(("held-out labels", (models, ct) => EvaluationJob.Binary(models, task, heldOut, positive, ct)));
        }

        if (fixedSet.Count > 0)
        {
            sets.Add((Path.GetFileName(evalFile!), (models, ct) => EvaluationJob.Binary(models, task, fixedSet, positive, ct)));
        }

        return new LabelData(train, [], sets) { Calibration = calibration };
    }

    /// <summary>
    /// How a binary run divides its rows (spam, claims): the latest label per text wins; labels whose text is held out
    /// (<see cref="IsHeldOut"/>) judge the candidate and are not trained on; the base data's train split (minus labelled
    /// and fixed-evaluation texts) joins the remaining labels; a salted fifth of each is kept for calibration and
    /// threshold (<see cref="HeadCalibration.Split"/>); each label the head trains on is repeated
    /// <paramref name="labelWeight"/> times. Sorted, so the result depends on the rows, not their arrival order.
    /// Public so that offline measurements (the learning-curve scenario) train on exactly what the service would.
    /// </summary>
    public static BinaryRunRows ComposeBinary(IEnumerable<LabeledText> baseRows, IReadOnlyList<LabeledText> labels, int labelWeight, IReadOnlySet<string> fixedTexts)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(labelWeight, 1);

        // The latest label for a text wins: a reviewer's correction replaces an earlier label.
        var latest = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var label in labels)
        {
            latest[label.Text] = label.Label;
        }

        var heldOut = latest.Where(l => IsHeldOut(l.Key) && !fixedTexts.Contains(l.Key)).Select(l => new LabeledText(l.Key, l.Value)).OrderBy(r => r.Text, StringComparer.Ordinal).ToList();
        var labelTrain = latest.Where(l => !IsHeldOut(l.Key) && !fixedTexts.Contains(l.Key)).Select(l => new LabeledText(l.Key, l.Value));
        var baseTrain = DatasetSplit.Split(DatasetSplit.Deduplicate(baseRows).Items).Train
            .Where(r => !latest.ContainsKey(r.Text) && !fixedTexts.Contains(r.Text));
        // Reviewers label today's traffic; the base data is yesterday's prior. Repeating each label weighs it
        // against a base set usually ten times larger (the learning-curve scenario measures the effect).
        // Sorted: labels arrive interleaved across partitions, and the run must not depend on that order.
        // Calibration and threshold are fitted on base and label rows the head does not see: the same mix it is trained
        // on, so the threshold reflects today's traffic as much as training does.
        var (baseFit, baseCalibration) = HeadCalibration.Split(baseTrain);
        var (labelFit, labelCalibration) = HeadCalibration.Split(labelTrain);
        var calibration = baseCalibration.Concat(labelCalibration).OrderBy(r => r.Text, StringComparer.Ordinal).ToList();
        var train = baseFit.Concat(labelFit.SelectMany(l => Enumerable.Repeat(l, labelWeight)))
            .OrderBy(r => r.Text, StringComparer.Ordinal).ThenBy(r => r.Label, StringComparer.Ordinal).ToList();
        return new BinaryRunRows(train, calibration, heldOut)
        {
            LabelTrainTexts = labelFit.Count,
            LabelCalibration = [.. labelCalibration.OrderBy(r => r.Text, StringComparer.Ordinal)],
        };
    }

    /// <summary>
    /// What an NER run trains on and judges by: the latest label per sentence wins; labelled sentences whose key is held
    /// out (<see cref="IsHeldOut"/>) judge the candidate; the rest, each repeated <paramref name="labelWeight"/> times,
    /// join the base sentences that carry no label. Sorted by sentence, so arrival order does not matter.
    /// </summary>
    public static (IReadOnlyList<NerSentence> Train, IReadOnlyList<NerSentence> HeldOutLabels) ComposeNer(IEnumerable<NerSentence> baseSentences, IReadOnlyList<NerSentence> labels, int labelWeight)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(labelWeight, 1);
        var latest = new Dictionary<string, NerSentence>(StringComparer.Ordinal);
        foreach (var sentence in labels)
        {
            latest[SentenceKey(sentence)] = sentence;
        }

        var heldOut = latest.Where(l => IsHeldOut(l.Key)).Select(l => l.Value).ToList();
        var train = baseSentences
            .Where(s => !latest.ContainsKey(SentenceKey(s)))
            .Concat(latest.Where(l => !IsHeldOut(l.Key)).SelectMany(l => Enumerable.Repeat(l.Value, labelWeight)))
            .OrderBy(SentenceKey, StringComparer.Ordinal)
            .ToList();
        return (train, heldOut);
    }

    /// <summary>
    /// A token head on per-word features (<paramref name="features"/> gives a sentence's first-piece vectors, null for
    /// words past the model's maximum, which are skipped), trained as every run trains it.
    /// </summary>
    public static DenseHead FitTokenHead(IReadOnlyList<NerSentence> train, Func<NerSentence, float[]?[]> features, IReadOnlyList<string> tagSet, HeadTrainerOptions trainer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(train);
        ArgumentNullException.ThrowIfNull(features);
        ArgumentNullException.ThrowIfNull(tagSet);
        var tagIndex = tagSet.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i);
        var rows = new List<float[]>();
        var tags = new List<int>();
        foreach (var sentence in train)
        {
            var vectors = features(sentence);
            for (var w = 0; w < sentence.Tokens.Count; w++)
            {
                if (vectors[w] is { } vector && tagIndex.TryGetValue(sentence.Tags[w], out var tag))
                {
                    rows.Add(vector);
                    tags.Add(tag);
                }
            }
        }

        return HeadTrainer.Train([.. rows], [.. tags], tagSet.Count, trainer, null, cancellationToken).Head;
    }

    private LabelData NerData(IReadOnlyList<NerSentence> labels)
    {
        var fixedSet = _options.EvalFiles.TryGetValue(TaskNames.Ner, out var evalFile) ? ConllReader.Read(evalFile).ToList() : [];
        var (train, heldOut) = ComposeNer(_options.BaseData.GetValueOrDefault(TaskNames.Ner, []).SelectMany(f => ConllReader.Read(f)), labels, _options.LabelWeight);
        _log.WriteLine($"[trainer] ner: {train.Count} training sentences; {heldOut.Count} held-out labels, {fixedSet.Count} fixed evaluation sentences");

        var sets = new List<(string, Func<ModelSet, CancellationToken, EvaluationReport>)>();
        if (heldOut.Count >= _options.MinHeldOutLabels)
        {
            sets.Add(("held-out labels", (models, ct) => EvaluationJob.Ner(models, heldOut, ct)));
        }

        if (fixedSet.Count > 0)
        {
            sets.Add((Path.GetFileName(evalFile!), (models, ct) => EvaluationJob.Ner(models, fixedSet, ct)));
        }

        return new LabelData([], train, sets);
    }

    /// <summary>A sentence's identity for labels: its tokens.</summary>
    public static string SentenceKey(NerSentence s) => string.Join('\u0001', s.Tokens);

    /// <summary>A new head on the current version's frozen features (same encoder, layers, pooling and head shape) beside the parent's other files.</summary>
    private BundleManifest StageHead(
        string task, BundleManifest parent, string parentDirectory, string parentVersion, HeadSpec spec, DenseHead parentHead, LabelData data, string staging, CancellationToken cancellationToken)
    {
        var encoderPath = parent.Encoder.File is { } file ? Path.Combine(parentDirectory, file) : MiniLmResources.Ensure().ModelPath;
        var tokenizer = WordPieceTokenizer.FromFile(Path.Combine(parentDirectory, parent.Encoder.Vocab));
        using var session = EncoderSession.FromFile(encoderPath, spec.Layers);
        var extractor = new FeatureExtractor(session, tokenizer, parent.MaxSequenceLength) { CaseTypes = parent.Encoder.TokenTypes == EncoderRef.CaseTokenTypes };
        // Per task: each task's cache is pruned to what its last run used (Prune).
        var featureKey = $"{task}|{parent.Encoder.Sha256}|{string.Join(",", spec.Layers)}|{spec.Pooling}|{spec.WordShape}|";
        var trainer = HeadOptions(task, parentHead, _options.Seed);
        var head = task == TaskNames.Ner
            ? TrainNerHead(spec, extractor, featureKey, trainer, data.Sentences, cancellationToken)
            : TrainBinaryHead(spec, extractor, featureKey, trainer, data.Texts, cancellationToken);
        WriteCandidate(staging, parentDirectory, parent, spec, head);
        var draft = parent with { Version = "candidate", ParentVersion = parentVersion, Files = ModelRegistry.HashFiles(staging) };
        File.WriteAllText(Path.Combine(staging, ModelRegistry.ManifestFile), System.Text.Json.JsonSerializer.Serialize(draft, ModelRegistry.Json));
        return draft;
    }

    /// <summary>How the trainer retrains a head on frozen features: the parent head's shape, the offline trainer's schedule.</summary>
    public static HeadTrainerOptions HeadOptions(string task, DenseHead parentHead, int seed)
    {
        ArgumentNullException.ThrowIfNull(parentHead);
        return new HeadTrainerOptions
        {
            HiddenDim = parentHead.HiddenDim,
            Activation = parentHead.Activation,
            Standardize = parentHead.Standardizes,
            MaxEpochs = 40,
            BatchSize = task == TaskNames.Ner ? 256 : 32,
            LearningRate = 2e-3f,
            Patience = 5,
            Seed = seed,
            BalanceClasses = task == TaskNames.Claims,
        };
    }

    /// <summary>A binary head (class 1 = the positive label) on first-window features, early-stopped on F1 as every run does.</summary>
    public static DenseHead FitBinaryHead(float[][] features, int[] labels, HeadTrainerOptions trainer, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(trainer);
        return HeadTrainer.Train(features, labels, 2, trainer with
        {
            ValidationMetric = (gold, predicted) => BinaryMetrics.Compute(gold, predicted, 1).F1,
        }, null, cancellationToken).Head;
    }

    /// <summary>
    /// Drops the features of <paramref name="prefix"/> (one task, encoder and layers) that the run did not use: the cache
    /// holds the last run's rows — the base data and the label book, both bounded — not every text ever labelled.
    /// </summary>
    private static void Prune<T>(Dictionary<string, T> cache, string prefix, IEnumerable<string> used)
    {
        var keep = used.ToHashSet(StringComparer.Ordinal);
        foreach (var key in cache.Keys.Where(k => k.StartsWith(prefix, StringComparison.Ordinal) && !keep.Contains(k)).ToList())
        {
            cache.Remove(key);
        }
    }

    private DenseHead TrainBinaryHead(HeadSpec spec, FeatureExtractor extractor, string featureKey, HeadTrainerOptions trainer, IReadOnlyList<LabeledText> train, CancellationToken cancellationToken)
    {
        var positive = spec.Labels[^1];
        var missing = train.Select(r => r.Text).Where(t => !_sequenceFeatures.ContainsKey(featureKey + t)).Distinct(StringComparer.Ordinal).ToList();
        if (missing.Count > 0)
        {
            var computed = extractor.Sequences(missing, spec.Layers, spec.Pooling, cancellationToken);
            for (var i = 0; i < missing.Count; i++)
            {
                _sequenceFeatures[featureKey + missing[i]] = computed[i];
            }
        }

        _log.WriteLine($"[trainer] {missing.Count} texts newly encoded");
        var features = train.Select(r => _sequenceFeatures[featureKey + r.Text]).ToArray();
        Prune(_sequenceFeatures, featureKey, train.Select(r => featureKey + r.Text));
        return FitBinaryHead(features, [.. train.Select(r => r.Label == positive ? 1 : 0)], trainer, cancellationToken);
    }

    private DenseHead TrainNerHead(HeadSpec spec, FeatureExtractor extractor, string featureKey, HeadTrainerOptions trainer, IReadOnlyList<NerSentence> train, CancellationToken cancellationToken)
    {
        var missing = train.Where(s => !_wordFeatures.ContainsKey(featureKey + SentenceKey(s))).DistinctBy(SentenceKey).ToList();
        if (missing.Count > 0)
        {
            var computed = extractor.Words([.. missing.Select(s => s.Tokens)], spec.Layers, spec.WordShape, cancellationToken);
            for (var i = 0; i < missing.Count; i++)
            {
                _wordFeatures[featureKey + SentenceKey(missing[i])] = computed[i];
            }
        }

        var head = FitTokenHead(train, s => _wordFeatures[featureKey + SentenceKey(s)], spec.Labels, trainer, cancellationToken);
        Prune(_wordFeatures, featureKey, train.Select(s => featureKey + SentenceKey(s)));
        _log.WriteLine($"[trainer] ner: {train.Count} sentences, {missing.Count} newly encoded");
        return head;
    }

    /// <summary>
    /// Continues fine-tuning a fine-tuned version: its encoder (read back from the bundle's graph) and its head (from the
    /// served weights) train together in TorchSharp, and the result is written as a bundle only if ONNX Runtime
    /// reproduces it (<see cref="FineTunedBundle"/>).
    /// </summary>
    private BundleManifest StageFineTuned(
        string task, BundleManifest parent, string parentDirectory, string parentVersion, HeadSpec spec, DenseHead parentHead, LabelData data, string staging, CancellationToken cancellationToken)
    {
        var vocab = Path.Combine(parentDirectory, parent.Encoder.Vocab);
        var tokenizer = WordPieceTokenizer.FromFile(vocab);
        using var encoder = BertEncoder.FromOnnx(Path.Combine(parentDirectory, parent.Encoder.File!), caseTypes: parent.Encoder.TokenTypes == EncoderRef.CaseTokenTypes);
        var options = new FineTuneOptions
        {
            Mode = FineTuneMode.Full,
            Epochs = _options.FineTuneEpochs,
            BatchSize = _options.FineTuneBatchSize,
            EncoderLearningRate = _options.FineTuneLearningRate,
            HeadLearningRate = _options.FineTuneHeadLearningRate,
            Seed = _options.Seed,
            ProgressEvery = 50,
        };
        TorchSharp.torch.manual_seed(_options.Seed);
        IBertHead head;
        IReadOnlyList<string> parityTexts;
        if (task == TaskNames.Ner)
        {
            var tokenHead = new TokenClassificationHead(encoder.Config.Hidden, spec.Labels.Count, spec.Layers, encoder.Config.Layers, spec.WordShape);
            tokenHead.LoadDenseHead(parentHead);
            var tagIndex = spec.Labels.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i);
            var examples = data.Sentences.Select(s => TokenExample.Create(tokenizer, s, tagIndex, parent.MaxSequenceLength)).ToList();
            new TokenFineTuner(encoder, tokenHead, spec.Labels, options, _log).Train(examples, [], cancellationToken);
            head = tokenHead;
            parityTexts = FineTuneJob.Spread(data.Sentences.Select(s => string.Join(' ', s.Tokens)).Distinct(StringComparer.Ordinal).ToList());
        }
        else
        {
            var positive = spec.Labels[^1];
            var sequenceHead = new SequenceClassificationHead(encoder.Config.Hidden, spec.Labels.Count, spec.Layers, encoder.Config.Layers, spec.Pooling ?? "mean");
            sequenceHead.LoadDenseHead(parentHead);
            var examples = data.Texts.Select(r => SequenceExample.Create(tokenizer, r.Text, r.Label == positive ? 1 : 0, parent.MaxSequenceLength)).ToList();
            var weights = task == TaskNames.Claims ? SequenceFineTuner.BalancedWeights(examples, spec.Labels.Count) : null;
            new SequenceFineTuner(encoder, sequenceHead, options, _log, weights).Train(examples, [], cancellationToken);
            head = sequenceHead;
            parityTexts = FineTuneJob.Spread(data.Texts.Select(r => r.Text).Distinct(StringComparer.Ordinal).ToList());
        }

        try
        {
            return FineTunedBundle.Write(staging, "candidate", new FineTunedBundleRequest
            {
                Name = parent.Name,
                Encoder = encoder,
                Heads = [new ExportedHead(task, head, spec.Labels)],
                ParityTexts = parityTexts,
                MaxSequenceLength = parent.MaxSequenceLength,
                ParentVersion = parentVersion,
                VocabPath = vocab,
                Metrics = parent.Metrics,
                Training = new Dictionary<string, string>
                {
                    ["caseTypes"] = encoder.Config.CaseTypes ? "true" : "false",
                    ["wordShape"] = spec.WordShape ? "true" : "false",
                },
            });
        }
        finally
        {
            ((IDisposable)head).Dispose();
        }
    }

    /// <summary>
    /// Re-fits the staged candidate's calibration and operating point (spam, claims) on the run's calibration rows and
    /// rewrites its manifest; every run does, since a new head's margins mean something new. Without both classes among
    /// those rows the parent's calibration would describe another head, so the candidate serves uncalibrated at 0.5.
    /// </summary>
    private BundleManifest Calibrate(string task, BundleManifest draft, LabelData data, string staging, CancellationToken cancellationToken)
    {
        if (task == TaskNames.Ner)
        {
            return draft;
        }

        HeadSpec calibrated;
        using (var models = ModelSet.Load([staging]))
        {
            calibrated = FitOperatingPoint(task, draft.Heads[task], data.Calibration, () => new OfflineScorer(models).MarginTexts([.. data.Calibration.Select(r => r.Text)], task, cancellationToken), _options.TargetOf(task), _log);
        }

        var heads = new Dictionary<string, HeadSpec>(draft.Heads) { [task] = calibrated };
        var rewritten = draft with { Heads = heads };
        File.WriteAllText(Path.Combine(staging, ModelRegistry.ManifestFile), System.Text.Json.JsonSerializer.Serialize(rewritten, ModelRegistry.Json));
        return rewritten;
    }

    /// <summary>
    /// <paramref name="spec"/> with calibration and operating point fitted on <paramref name="rows"/> (their raw margins as
    /// served come from <paramref name="margins"/>, asked only when needed). Without both classes among the rows the
    /// parent's calibration would describe another head, so the result serves uncalibrated at 0.5.
    /// </summary>
    public static HeadSpec FitOperatingPoint(string task, HeadSpec spec, IReadOnlyList<LabeledText> rows, Func<IReadOnlyList<float>> margins, OperatingTarget target, TextWriter log)
    {
        ArgumentNullException.ThrowIfNull(spec);
        ArgumentNullException.ThrowIfNull(margins);
        ArgumentNullException.ThrowIfNull(log);
        var positive = spec.Labels[^1];
        var positives = rows.Count(r => r.Label == positive);
        if (positives == 0 || positives == rows.Count)
        {
            log.WriteLine($"[trainer] {task}: {rows.Count} calibration rows hold {positives} {positive}: no calibration, threshold 0.5");
            return spec with { Calibration = null, OperatingPoint = null };
        }

        var fittedOn = $"{rows.Count} rows of base data and labels held out from the head (salted hash bucket < {HeadCalibration.DefaultPercent} of 100), {positives} {positive}";
        var calibrated = HeadCalibration.FitMargins(spec, rows, margins(), target, fittedOn);
        var point = calibrated.OperatingPoint!;
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"[trainer] {task}: calibration {calibrated.Calibration!.Method} (cross-fitted ECE {calibrated.Calibration.HeldOutEce:F4}); threshold {point.Threshold:G4} for {OperatingPointFinder.Describe(target)}{(point.TargetMet ? "" : " (NOT met)")}: precision {point.Precision:F4}, recall {point.Recall:F4}, FPR {point.FalsePositiveRate:F4} on {rows.Count} calibration rows"));
        return calibrated;
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

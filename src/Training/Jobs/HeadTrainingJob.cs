using System.Diagnostics;
using System.Globalization;
using StreamBert.Contracts;
using StreamBert.Engine.Heads;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tokenization;
using StreamBert.Training.Calibration;
using StreamBert.Training.Data;
using StreamBert.Training.Evaluation;
using StreamBert.Training.FeatureExtraction;
using StreamBert.Training.Heads;

namespace StreamBert.Training.Jobs;

/// <summary>
/// Heads-only training (the feature-based approach): the pretrained encoder is frozen, its hidden states
/// are extracted once, and a small dense head is trained on them. The result is a new immutable bundle
/// version: the head, the vocabulary and a manifest that pins the encoder by sha256, the feature layers,
/// the label set and the evaluation metrics measured through the serving path.
/// </summary>
public static class HeadTrainingJob
{
    public static async Task<BundleManifest> RunAsync(TrainRequest request, TextWriter log, CancellationToken cancellationToken)
        => await Task.Run(() => Run(request, log, cancellationToken), cancellationToken).ConfigureAwait(false);

    public static BundleManifest Run(TrainRequest request, TextWriter log, CancellationToken cancellationToken)
    {
        if (request.UsesFineTuning)
        {
            throw new ArgumentException("The request asks for fine-tuning (mode full or fine-tuning options); FineTuneJob runs it, not the heads-only job.", nameof(request));
        }

        if (request.Task == TaskNames.Ner && request.ExcludeFiles.Count > 0)
        {
            throw new ArgumentException("ExcludeFiles removes texts of spam and claims rows; NER sentences are not matched by text.", nameof(request));
        }

        var encoder = MiniLmResources.Ensure();
        var layers = request.Layers ?? TrainRequest.ForTask(request.Task).Layers!;
        var tokenizer = WordPieceTokenizer.FromFile(encoder.VocabPath);
        using var session = EncoderSession.FromFile(encoder.ModelPath, layers);
        log.WriteLine($"Encoder {encoder.Name} on {session.Device.Provider} ({session.Device.Reason}); features: layers {string.Join(",", layers)}, {request.Pooling} pooling");
        var extractor = new FeatureExtractor(session, tokenizer, request.MaxSequenceLength) { Progress = ProgressPrinter(log, "features") };
        var spec = new HeadSpec
        {
            Kind = request.Task == TaskNames.Ner ? "token" : "sequence",
            Labels = request.Task switch
            {
                TaskNames.Spam => LabelSets.SpamLabels,
                TaskNames.Claims => LabelSets.ClaimLabels,
                _ => LabelSets.NerTags,
            },
            Layers = layers,
            Pooling = request.Pooling,
            WordShape = request.Task == TaskNames.Ner && request.WordShape,
            File = request.Task + ".head",
        };

        var clock = Stopwatch.StartNew();
        IReadOnlyList<LabeledText> calibrationRows = [];
        var (head, training, evaluate) = request.Task == TaskNames.Ner
            ? TrainNer(request, spec, extractor, log, cancellationToken)
            : TrainSequence(request, spec, extractor, log, out calibrationRows, cancellationToken);
        log.WriteLine($"Head trained in {clock.Elapsed.TotalSeconds:F0} s");

        var registry = new ModelRegistry(request.Registry);
        var bundle = request.Bundle ?? TaskDefaults.BundleOf(request.Task);
        var parentVersion = registry.CurrentVersion(bundle);
        var parent = parentVersion is null ? null : registry.ReadManifest(bundle, parentVersion);

        // Measure through the serving path on a staging copy, so the manifest carries what is deployed.
        var staging = Path.Combine(Path.GetTempPath(), "streambert-staging-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(staging);
        try
        {
            var heads = WriteFiles(staging, encoder, head, spec, parent, parentVersion is null ? null : registry.BundleDirectory(bundle, parentVersion));
            var draft = Manifest(bundle, "staging", parentVersion, request, encoder, heads, ModelRegistry.HashFiles(staging), new Dictionary<string, IReadOnlyDictionary<string, double>>(), training);
            File.WriteAllText(Path.Combine(staging, ModelRegistry.ManifestFile), System.Text.Json.JsonSerializer.Serialize(draft, ModelRegistry.Json));
            if (Calibrate(request, staging, calibrationRows, log, cancellationToken) is { } calibrated)
            {
                heads[request.Task] = calibrated;
                training["calibration"] = calibrated.Calibration!.FittedOn!;
                draft = draft with { Heads = heads };
                File.WriteAllText(Path.Combine(staging, ModelRegistry.ManifestFile), System.Text.Json.JsonSerializer.Serialize(draft, ModelRegistry.Json));
            }

            EvaluationReport report;
            using (var models = ModelSet.Load([staging]))
            {
                report = evaluate(models);
            }

            log.WriteLine($"Evaluation ({training.GetValueOrDefault("evaluatedOn")}): n {report.N}, precision {report.Precision:F4}, recall {report.Recall:F4}, F1 {report.F1:F4}"
                + (report.Ece is { } ece ? string.Create(CultureInfo.InvariantCulture, $", FPR {report.FalsePositiveRate:F4} at threshold {report.Threshold:G4}, ROC-AUC {report.RocAuc:F4}, PR-AUC {report.PrAuc:F4}, ECE {ece:F4}") : ""));
            var metrics = new Dictionary<string, IReadOnlyDictionary<string, double>>();
            if (parent is not null)
            {
                foreach (var (task, values) in parent.Metrics)
                {
                    metrics[task] = values;
                }
            }

            metrics[request.Task] = report.ToMetrics();
            return registry.Publish(
                bundle,
                target => WriteFiles(target, encoder, head, spec, parent, parentVersion is null ? null : registry.BundleDirectory(bundle, parentVersion)),
                (version, files) => Manifest(bundle, version, parentVersion, request, encoder, heads, files, metrics, training));
        }
        finally
        {
            Directory.Delete(staging, recursive: true);
        }
    }

    /// <summary>
    /// Fits calibration and operating point of the staged head on the calibration rows (scored through the serving path);
    /// null when there are none or they lack a class (then the version serves the plain softmax at 0.5, and says so).
    /// </summary>
    internal static HeadSpec? Calibrate(TrainRequest request, string staging, IReadOnlyList<LabeledText> rows, TextWriter log, CancellationToken cancellationToken)
    {
        if (request.Task == TaskNames.Ner)
        {
            return null;
        }

        var positive = request.Task == TaskNames.Spam ? LabelSets.Spam : LabelSets.Claim;
        var positives = rows.Count(r => r.Label == positive);
        if (positives == 0 || positives == rows.Count)
        {
            log.WriteLine($"No calibration: the {rows.Count} calibration rows hold {positives} {positive}; serving the uncalibrated score at 0.5");
            return null;
        }

        var target = request.Target ?? OperatingPointFinder.DefaultTarget(request.Task);
        var fittedOn = $"{rows.Count} training rows held out from the head (salted hash bucket < {request.CalibrationPercent} of 100), {positives} {positive}";
        using var models = ModelSet.Load([staging]);
        var spec = HeadCalibration.Fit(models, request.Task, rows, target, fittedOn, cancellationToken);
        var (calibration, point) = (spec.Calibration!, spec.OperatingPoint!);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Calibration: {calibration.Method}{(calibration.Temperature is { } t ? $" T={t:F3}" : $" ({calibration.Knots!.Count} knots)")}, cross-fitted ECE {calibration.HeldOutEce:F4}; operating point for {OperatingPointFinder.Describe(target)}: threshold {point.Threshold:G4}{(point.TargetMet ? "" : " (target NOT met)")}, precision {point.Precision:F4}, recall {point.Recall:F4}, FPR {point.FalsePositiveRate:F4} on {fittedOn}"));
        return spec;
    }

    private static (DenseHead Head, Dictionary<string, string> Training, Func<ModelSet, EvaluationReport> Evaluate) TrainSequence(
        TrainRequest request, HeadSpec spec, FeatureExtractor extractor, TextWriter log, out IReadOnlyList<LabeledText> calibration, CancellationToken cancellationToken)
    {
        var positive = spec.Labels[^1];
        (var train, calibration, var test, var evaluatedOn, var excluded) = SequenceData.Split(request, log, request.CalibrationPercent);
        log.WriteLine($"Train {train.Count} ({train.Count(r => r.Label == positive)} {positive}), evaluate on {evaluatedOn}");
        var features = extractor.Sequences(train.Select(r => r.Text).ToList(), spec.Layers, spec.Pooling, cancellationToken);
        var labels = train.Select(r => r.Label == positive ? 1 : 0).ToArray();
        var result = HeadTrainer.Train(features, labels, 2, new HeadTrainerOptions
        {
            HiddenDim = request.Hidden,
            MaxEpochs = request.Epochs,
            BatchSize = request.BatchSize,
            LearningRate = request.LearningRate,
            Patience = 5,
            Seed = request.Seed,
            BalanceClasses = request.Task == TaskNames.Claims,
            ValidationMetric = (gold, predicted) => BinaryMetrics.Compute(gold, predicted, 1).F1,
        }, EpochPrinter(log), cancellationToken);

        var training = new Dictionary<string, string>
        {
            ["task"] = request.Task,
            ["files"] = string.Join(";", request.DataFiles.Select(Path.GetFileName)),
            ["trainRows"] = train.Count.ToString(CultureInfo.InvariantCulture),
            ["split"] = "dedup by exact text; test = stable hash bucket < 20 of 100 (DatasetSplit)",
            ["evaluatedOn"] = evaluatedOn,
            ["bestEpoch"] = result.BestEpoch.ToString(CultureInfo.InvariantCulture),
            ["mode"] = "heads",
        };
        excluded?.Record(training);
        RecordLimit(request, training);
        return (result.Head, training, models => EvaluationJob.Binary(models, request.Task, test, positive, cancellationToken));
    }

    private static (DenseHead Head, Dictionary<string, string> Training, Func<ModelSet, EvaluationReport> Evaluate) TrainNer(
        TrainRequest request, HeadSpec spec, FeatureExtractor extractor, TextWriter log, CancellationToken cancellationToken)
    {
        List<NerSentence> train;
        List<NerSentence>? heldOut = null;
        if (request.NerHoldOutPercent is { } holdOut && request.EvalFile is null)
        {
            var split = ConllReader.SplitByDocument([.. request.DataFiles.SelectMany(f => ConllReader.ReadDocuments(f))], holdOut);
            train = [.. split.Train];
            heldOut = [.. split.Test];
        }
        else
        {
            train = request.DataFiles.SelectMany(f => ConllReader.Read(f)).ToList();
        }

        if (request.Limit is { } limit && train.Count > limit)
        {
            train = train.Take(limit).ToList();
        }

        var dev = request.DevFile is { } devFile ? ConllReader.Read(devFile).ToList() : [];
        var test = request.EvalFile is { } evalFile ? ConllReader.Read(evalFile).ToList() : heldOut ?? dev;
        log.WriteLine($"NER: {train.Count} training sentences, {dev.Count} dev, {test.Count} evaluation");
        var tagIndex = spec.Labels.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i);
        var rows = new List<float[]>();
        var labels = new List<int>();
        void Add(IReadOnlyList<NerSentence> sentences)
        {
            var vectors = extractor.Words(sentences.Select(s => s.Tokens).ToList(), spec.Layers, spec.WordShape, cancellationToken);
            for (var s = 0; s < sentences.Count; s++)
            {
                for (var w = 0; w < sentences[s].Tokens.Count; w++)
                {
                    if (vectors[s][w] is { } vector && tagIndex.TryGetValue(sentences[s].Tags[w], out var tag))
                    {
                        rows.Add(vector);
                        labels.Add(tag);
                    }
                }
            }
        }

        Add(train);
        var trainRows = rows.Count;
        IReadOnlyList<int>? validation = null;
        if (dev.Count > 0)
        {
            Add(dev);
            validation = Enumerable.Range(trainRows, rows.Count - trainRows).ToList();
        }

        log.WriteLine($"{trainRows} training words{(validation is null ? "" : $", {validation.Count} dev words for early stopping")}");
        var result = HeadTrainer.Train(rows.ToArray(), labels.ToArray(), spec.Labels.Count, new HeadTrainerOptions
        {
            HiddenDim = request.Hidden,
            MaxEpochs = request.Epochs,
            BatchSize = Math.Max(request.BatchSize, 256),
            LearningRate = request.LearningRate,
            Seed = request.Seed,
            ValidationRows = validation,
        }, EpochPrinter(log), cancellationToken);
        var training = new Dictionary<string, string>
        {
            ["task"] = request.Task,
            ["files"] = string.Join(";", request.DataFiles.Select(Path.GetFileName)),
            ["trainWords"] = trainRows.ToString(CultureInfo.InvariantCulture),
            ["evaluatedOn"] = request.EvalFile is not null ? Path.GetFileName(request.EvalFile)
                : heldOut is not null ? $"held-out documents of {string.Join(";", request.DataFiles.Select(Path.GetFileName))} (hash bucket < {request.NerHoldOutPercent} of 100, {heldOut.Count} sentences)"
                : request.DevFile is null ? "none" : Path.GetFileName(request.DevFile),
            ["bestEpoch"] = result.BestEpoch.ToString(CultureInfo.InvariantCulture),
            ["mode"] = "heads",
        };
        RecordLimit(request, training);
        return (result.Head, training, models => test.Count == 0
            ? new EvaluationReport { Task = TaskNames.Ner, Model = models.RequiredHead(TaskNames.Ner).Model, N = 0, Precision = 0, Recall = 0, F1 = 0 }
            : EvaluationJob.Ner(models, test, cancellationToken));
    }

    /// <summary>A limited run is a different model from a full one on the same files; the manifest says which it is.</summary>
    private static void RecordLimit(TrainRequest request, Dictionary<string, string> training)
    {
        if (request.Limit is { } limit)
        {
            training["limit"] = limit.ToString(CultureInfo.InvariantCulture);
        }
    }

    /// <summary>Writes the head, the vocabulary and, for a bundle with several heads, the parent's other heads.</summary>
    private static Dictionary<string, HeadSpec> WriteFiles(string target, PretrainedEncoder encoder, DenseHead head, HeadSpec spec, BundleManifest? parent, string? parentDirectory)
    {
        File.Copy(encoder.VocabPath, Path.Combine(target, "vocab.txt"), overwrite: true);
        using (var stream = File.Create(Path.Combine(target, spec.File)))
        {
            head.Save(stream);
        }

        var task = spec.File[..^".head".Length];
        var heads = new Dictionary<string, HeadSpec> { [task] = spec };
        if (parent is not null && parentDirectory is not null)
        {
            foreach (var (otherTask, otherSpec) in parent.Heads)
            {
                if (otherTask != task)
                {
                    File.Copy(Path.Combine(parentDirectory, otherSpec.File), Path.Combine(target, otherSpec.File), overwrite: true);
                    heads[otherTask] = otherSpec;
                }
            }
        }

        return heads;
    }

    private static BundleManifest Manifest(string bundle, string version, string? parentVersion, TrainRequest request, PretrainedEncoder encoder, Dictionary<string, HeadSpec> heads, IReadOnlyDictionary<string, string> files, IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> metrics, Dictionary<string, string> training)
        => new()
        {
            Name = bundle,
            Version = version,
            ParentVersion = parentVersion,
            CreatedAt = DateTimeOffset.UtcNow,
            Encoder = new EncoderRef { Base = encoder.Name, Sha256 = encoder.ModelSha256 },
            MaxSequenceLength = request.MaxSequenceLength,
            Heads = heads,
            Files = files,
            Metrics = metrics,
            Training = training,
        };

    private static Action<int, int> ProgressPrinter(TextWriter log, string what)
    {
        var clock = Stopwatch.StartNew();
        var last = TimeSpan.Zero;
        return (done, total) =>
        {
            if (clock.Elapsed - last < TimeSpan.FromSeconds(10) && done < total)
            {
                return;
            }

            last = clock.Elapsed;
            var rate = done / Math.Max(clock.Elapsed.TotalSeconds, 1e-3);
            var eta = rate > 0 ? TimeSpan.FromSeconds((total - done) / rate) : TimeSpan.Zero;
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {what}: {done}/{total} ({rate:F0}/s, ETA {eta:mm\\:ss})"));
        };
    }

    private static EpochLog EpochPrinter(TextWriter log) => new(log);

    /// <summary>
    /// Prints each epoch on the training thread, in order. <see cref="Progress{T}"/> would post to the thread pool,
    /// where a line could arrive after the job returned and its writer was closed (an unhandled exception there ends
    /// the process).
    /// </summary>
    private sealed class EpochLog(TextWriter log) : IProgress<HeadEpochProgress>
    {
        public void Report(HeadEpochProgress p) =>
            log.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  epoch {p.Epoch}: loss {p.TrainLoss:F4}, validation {p.ValidationMetric:F4}{(p.Improved ? " *" : "")}"));
    }
}

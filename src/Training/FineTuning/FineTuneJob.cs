using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tasks;
using StreamBert.Engine.Tokenization;
using StreamBert.Training.Data;
using StreamBert.Training.Jobs;
using StreamBert.Training.Modeling;
using StreamBert.Training.Native;
using StreamBert.Training.Onnx;

namespace StreamBert.Training.FineTuning;

/// <summary>Throughput and quality of the int8 copy beside fp32, measured through the serving path on the same texts.</summary>
public sealed record Int8Comparison(BundleManifest Manifest, EvaluationReport Fp32, EvaluationReport Quantized, double Fp32PerSecond, double QuantizedPerSecond)
{
    public double SpeedUp => QuantizedPerSecond / Fp32PerSecond;
}

/// <summary>What <see cref="FineTuneJob.Run"/> produced.</summary>
public sealed record FineTuneOutcome(BundleManifest Manifest, EvaluationReport Evaluation, FineTuneResult Training, Int8Comparison? Quantized);

/// <summary>
/// <c>streambert train --mode full</c>: fine-tunes the encoder and a task head with TorchSharp, writes the bundle through
/// <see cref="FineTunedBundle"/> (nothing is written unless ONNX Runtime reproduces TorchSharp), evaluates it through the
/// serving path on the same data the heads-only job evaluates on, and records the metrics in the manifest.
/// </summary>
/// <remarks>
/// The train/evaluation split is the heads-only job's, step for step (<see cref="HeadTrainingJob"/>: deduplicate, then
/// either remove the <c>--eval</c> file's texts or take the <see cref="DatasetSplit"/> hash split, then <c>--limit</c>),
/// so the two modes are compared on identical rows. Early stopping needs data the model does not train on and the
/// evaluation rows must stay unseen, so a further 10% of the training rows is held back for validation, by a hash of
/// the text under a different key (buckets of the plain text already decide the test split).
/// </remarks>
public static class FineTuneJob
{
    /// <summary>Share of training rows held back for validation when no development file is given.</summary>
    public const int ValidationPercent = 10;

    /// <summary>Texts an export is proven on (<see cref="Spread"/>).</summary>
    public const int ParityTextCount = 24;

    public static async Task<FineTuneOutcome> RunAsync(TrainRequest request, TextWriter log, CancellationToken cancellationToken)
        => await Task.Run(() => Run(request, log, cancellationToken), cancellationToken).ConfigureAwait(false);

    /// <summary>Default bundle: spam replaces the one-head spam bundle; claims and ner get their own bundle, because the served
    /// <c>articles</c> bundle holds both heads on one shared encoder and a fine-tuned encoder serves only its own head.</summary>
    public static string DefaultBundle(string task, string mode) => task == TaskNames.Spam ? "spam" : $"{task}-{mode}";

    public static FineTuneOutcome Run(TrainRequest request, TextWriter log, CancellationToken cancellationToken)
    {
        TorchRuntime.EnsureLoaded(log);
        var pretrained = MiniLmResources.Ensure();
        var tokenizer = WordPieceTokenizer.FromFile(pretrained.VocabPath);
        var full = request.Mode == TrainModes.Full;
        var options = new FineTuneOptions
        {
            Mode = full ? FineTuneMode.Full : FineTuneMode.Heads,
            Epochs = request.FineTuneEpochs,
            BatchSize = request.BatchSize,
            EncoderLearningRate = full ? request.FineTuneLearningRate ?? 5e-5 : 0,
            HeadLearningRate = full ? request.HeadLearningRate ?? 1e-3 : request.FineTuneLearningRate ?? 1e-3,
            Seed = request.Seed,
        };
        if (request.CaseTypes && request.Task != TaskNames.Ner)
        {
            // Serving computes word shapes for article sentences (NER) only; a spam or claims encoder would get none.
            throw new ArgumentException("Case token types are for ner only.", nameof(request));
        }

        if (request.Task == TaskNames.Ner && request.ExcludeFiles.Count > 0)
        {
            throw new ArgumentException("ExcludeFiles removes texts of spam and claims rows; NER sentences are not matched by text.", nameof(request));
        }

        using var encoder = BertEncoder.FromOnnx(pretrained.ModelPath, caseTypes: request.CaseTypes);
        // Full mode reads the last layer, as BERT fine-tuning does; a frozen encoder is read as heads-only reads it.
        var layers = request.Layers ?? (full ? [encoder.Config.Layers] : TrainRequest.ForTask(request.Task).Layers!);
        log.WriteLine($"Fine-tuning {request.Task}, mode {request.Mode}: layers {string.Join(",", layers)}, max length {request.MaxSequenceLength}, case types {(request.CaseTypes ? "on" : "off")}, " +
                      string.Create(CultureInfo.InvariantCulture, $"batch {options.BatchSize}, epochs {options.Epochs}, lr encoder {options.EncoderLearningRate:G3} head {options.HeadLearningRate:G3}, seed {options.Seed}"));

        var prepared = request.Task == TaskNames.Ner
            ? PrepareNer(request, encoder, layers, tokenizer, options, log, cancellationToken)
            : PrepareSequence(request, encoder, layers, tokenizer, options, log, cancellationToken);
        using var head = prepared.Head;

        var result = prepared.Train();
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Trained {result.Steps} steps in {result.Elapsed.TotalSeconds:F0} s ({result.ExamplesPerSecond:F1} examples/s); best validation {result.BestMetric:F4} at step {result.BestStep}{(result.StoppedEarly ? ", stopped early" : "")}"));

        var registry = new ModelRegistry(request.Registry);
        var bundle = request.Bundle ?? DefaultBundle(request.Task, request.Mode);
        var training = new Dictionary<string, string>(prepared.Training)
        {
            ["task"] = request.Task,
            ["trainer"] = "TorchSharp fine-tuning",
            ["fineTuneMode"] = request.Mode,
            ["files"] = string.Join(";", request.DataFiles.Select(Path.GetFileName)),
        };
        RecordRun(training, request, options, result);
        var bundleRequest = new FineTunedBundleRequest
        {
            Name = bundle,
            Encoder = encoder,
            Heads = [new ExportedHead(request.Task, (IBertHead)head, prepared.Labels)],
            ParityTexts = prepared.ParityTexts,
            MaxSequenceLength = request.MaxSequenceLength,
            ParentVersion = registry.CurrentVersion(bundle),
            Training = training,
        };

        // Evaluate a staging copy through the serving path first, so the published manifest carries what is deployed.
        var staging = Path.Combine(Path.GetTempPath(), "streambert-finetune-" + Guid.NewGuid().ToString("N"));
        var stagingInt8 = staging + "-int8";
        try
        {
            FineTunedBundle.Write(staging, "staging", bundleRequest);
            var (report, fp32Rate) = EvaluateTimed(staging, prepared.Evaluate, prepared.ThroughputTexts, request.Task, cancellationToken);
            log.WriteLine($"Evaluation ({prepared.Training["evaluatedOn"]}): n {report.N}, precision {report.Precision:F4}, recall {report.Recall:F4}, F1 {report.F1:F4}");
            var metrics = new Dictionary<string, IReadOnlyDictionary<string, double>> { [request.Task] = report.ToMetrics() };
            var manifest = FineTunedBundle.Publish(registry, bundleRequest with { Metrics = metrics });
            log.WriteLine($"Wrote {manifest.Name} {manifest.Version} (ONNX parity max abs diff {manifest.Training["onnxParityMaxAbsDiff"]})");

            Int8Comparison? int8 = null;
            if (request.QuantizeInt8)
            {
                int8 = WriteInt8(registry, registry.BundleDirectory(manifest.Name, manifest.Version), stagingInt8, manifest, report, fp32Rate, prepared, request.Task, log, cancellationToken);
            }

            return new FineTuneOutcome(manifest, report, result, int8);
        }
        finally
        {
            foreach (var directory in new[] { staging, stagingInt8 }.Where(Directory.Exists))
            {
                Directory.Delete(directory, recursive: true);
            }
        }
    }

    private static Int8Comparison WriteInt8(
        ModelRegistry registry, string fp32Directory, string staging, BundleManifest fp32, EvaluationReport fp32Report, double fp32Rate,
        Prepared prepared, string task, TextWriter log, CancellationToken cancellationToken)
    {
        var fp32Model = global::Onnx.ModelProto.Parser.ParseFrom(File.ReadAllBytes(Path.Combine(fp32Directory, FineTunedBundle.EncoderFile)));
        var (int8Model, quantized) = Int8Quantizer.Quantize(fp32Model);
        void WriteFiles(string target)
        {
            foreach (var file in fp32.Files.Keys.Where(f => f != FineTunedBundle.EncoderFile))
            {
                File.Copy(Path.Combine(fp32Directory, file), Path.Combine(target, file), overwrite: true);
            }

            BertOnnxWriter.Save(int8Model, Path.Combine(target, FineTunedBundle.EncoderFile));
        }

        var name = fp32.Name + "-int8";
        BundleManifest ManifestFor(string version, IReadOnlyDictionary<string, string> files, IReadOnlyDictionary<string, IReadOnlyDictionary<string, double>> metrics) => fp32 with
        {
            Name = name,
            Version = version,
            ParentVersion = registry.CurrentVersion(name),
            CreatedAt = DateTimeOffset.UtcNow,
            Encoder = fp32.Encoder with { Sha256 = files[FineTunedBundle.EncoderFile] },
            Files = files,
            Metrics = metrics,
            Training = new Dictionary<string, string>(fp32.Training)
            {
                ["quantization"] = $"int8 DynamicQuantizeMatMul, per-column symmetric weights ({quantized} MatMuls)",
                ["quantizedFrom"] = $"{fp32.Name} {fp32.Version}",
            },
        };

        Directory.CreateDirectory(staging);
        WriteFiles(staging);
        var stagingFiles = Directory.GetFiles(staging).ToDictionary(f => Path.GetFileName(f), FileHash.Sha256);
        File.WriteAllText(Path.Combine(staging, ModelRegistry.ManifestFile),
            JsonSerializer.Serialize(ManifestFor("staging", stagingFiles, fp32.Metrics), ModelRegistry.Json));
        var (report, rate) = EvaluateTimed(staging, prepared.Evaluate, prepared.ThroughputTexts, task, cancellationToken);
        var metrics = new Dictionary<string, IReadOnlyDictionary<string, double>>
        {
            [task] = new Dictionary<string, double>(report.ToMetrics())
            {
                ["fp32F1"] = fp32Report.F1,
                ["throughputRatioToFp32"] = rate / fp32Rate,
            },
        };
        var manifest = registry.Publish(name, WriteFiles, (version, files) => ManifestFor(version, files, metrics));
        var comparison = new Int8Comparison(manifest, fp32Report, report, fp32Rate, rate);
        log.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"int8: F1 {report.F1:F4} vs fp32 {fp32Report.F1:F4} (difference {report.F1 - fp32Report.F1:+0.0000;-0.0000}); throughput {rate:F1} vs {fp32Rate:F1} texts/s = {comparison.SpeedUp:F2}x; wrote {manifest.Name} {manifest.Version}"));
        return comparison;
    }

    /// <summary>Evaluates a bundle, then times one serving pass over the same texts (after the evaluation has warmed the sessions).</summary>
    private static (EvaluationReport Report, double TextsPerSecond) EvaluateTimed(
        string directory, Func<ModelSet, EvaluationReport> evaluate, IReadOnlyList<IReadOnlyList<string>> texts, string task, CancellationToken cancellationToken)
    {
        using var models = ModelSet.Load([directory]);
        var report = evaluate(models);
        var scorer = new OfflineScorer(models);
        var clock = Stopwatch.StartNew();
        if (task == TaskNames.Ner)
        {
            scorer.TagWords(texts, cancellationToken);
        }
        else
        {
            scorer.ScoreTexts(texts.Select(t => t[0]).ToList(), task, cancellationToken);
        }

        return (report, texts.Count / clock.Elapsed.TotalSeconds);
    }

    private sealed record Prepared(
        TorchSharp.torch.nn.Module Head,
        IReadOnlyList<string> Labels,
        Func<FineTuneResult> Train,
        Func<ModelSet, EvaluationReport> Evaluate,
        IReadOnlyList<string> ParityTexts,
        IReadOnlyList<IReadOnlyList<string>> ThroughputTexts,
        IReadOnlyDictionary<string, string> Training);

    private static Prepared PrepareSequence(
        TrainRequest request, BertEncoder encoder, IReadOnlyList<int> layers, WordPieceTokenizer tokenizer, FineTuneOptions options, TextWriter log, CancellationToken cancellationToken)
    {
        var labels = request.Task == TaskNames.Spam ? LabelSets.SpamLabels : LabelSets.ClaimLabels;
        var positive = labels[^1];
        var (train, _, test, evaluatedOn, excluded) = SequenceData.Split(request, log);
        var (fit, validation) = DatasetSplit.Split(train, r => "validation:" + r.Text, ValidationPercent);
        log.WriteLine($"Train {fit.Count} ({fit.Count(r => r.Label == positive)} {positive}), validate on {validation.Count}, evaluate on {evaluatedOn}");
        SequenceExample Example(LabeledText r) => SequenceExample.Create(tokenizer, r.Text, r.Label == positive ? 1 : 0, request.MaxSequenceLength);
        var fitExamples = fit.Select(Example).ToList();
        var validationExamples = validation.Select(Example).ToList();
        TorchSharp.torch.manual_seed(request.Seed); // the head's initial weights
        var head = new SequenceClassificationHead(encoder.Config.Hidden, labels.Count, layers, encoder.Config.Layers, request.Pooling, dropout: 0.1);
        // Claims are about one in four; heads-only balances them too, which favours recall of the rare class.
        var weights = request.Task == TaskNames.Claims ? SequenceFineTuner.BalancedWeights(fitExamples, labels.Count) : null;
        var tuner = new SequenceFineTuner(encoder, head, options, log, weights);
        var texts = test.Select(r => r.Text).ToList();
        var training = new Dictionary<string, string>
        {
            ["trainRows"] = fit.Count.ToString(CultureInfo.InvariantCulture),
            ["validationRows"] = validation.Count.ToString(CultureInfo.InvariantCulture),
            ["split"] = $"dedup by exact text; test = stable hash bucket < 20 of 100 (DatasetSplit); validation = bucket of \"validation:\"+text < {ValidationPercent}",
            ["evaluatedOn"] = evaluatedOn,
            ["classWeights"] = weights is null ? "none" : string.Join(",", weights.Select(w => w.ToString("F3", CultureInfo.InvariantCulture))),
        };
        excluded?.Record(training);
        return new Prepared(
            head,
            labels,
            () => tuner.Train(fitExamples, validationExamples, cancellationToken),
            models => EvaluationJob.Binary(models, request.Task, test, positive, cancellationToken),
            Spread(texts, ParityTextCount),
            texts.Select(t => (IReadOnlyList<string>)[t]).ToList(),
            training);
    }

    private static Prepared PrepareNer(
        TrainRequest request, BertEncoder encoder, IReadOnlyList<int> layers, WordPieceTokenizer tokenizer, FineTuneOptions options, TextWriter log, CancellationToken cancellationToken)
    {
        var labels = LabelSets.NerTags;
        var tagIndex = labels.Select((t, i) => (t, i)).ToDictionary(p => p.t, p => p.i);
        var (train, validation, test) = SplitNer(request);
        log.WriteLine($"NER: {train.Count} training sentences, {validation.Count} validation, {test.Count} evaluation");
        var fit = train.Select(s => TokenExample.Create(tokenizer, s, tagIndex, request.MaxSequenceLength)).ToList();
        var dev = validation.Select(s => TokenExample.Create(tokenizer, s, tagIndex, request.MaxSequenceLength)).ToList();
        TorchSharp.torch.manual_seed(request.Seed); // the head's initial weights
        var head = new TokenClassificationHead(encoder.Config.Hidden, labels.Count, layers, encoder.Config.Layers, request.WordShape, dropout: 0.1);
        var tuner = new TokenFineTuner(encoder, head, labels, options, log);
        var texts = test.Select(s => string.Join(' ', s.Tokens)).Where(t => t.Length > 0).ToList();
        return new Prepared(
            head,
            labels,
            () => tuner.Train(fit, dev, cancellationToken),
            models => EvaluationJob.Ner(models, test, cancellationToken),
            Spread(texts.Where(t => t.Contains(' ', StringComparison.Ordinal)).ToList(), ParityTextCount),
            test.Select(s => s.Tokens).ToList(),
            new Dictionary<string, string>
            {
                ["trainSentences"] = fit.Count.ToString(CultureInfo.InvariantCulture),
                ["validationSentences"] = dev.Count.ToString(CultureInfo.InvariantCulture),
                ["evaluatedOn"] = request.EvalFile is null ? (request.DevFile is null ? "validation split" : Path.GetFileName(request.DevFile)) : Path.GetFileName(request.EvalFile),
                ["wordShape"] = request.WordShape ? "true" : "false",
                ["caseTypes"] = request.CaseTypes ? "true" : "false",
            });
    }

    /// <summary>What every fine-tuning run records in its manifest: the recipe and how training went.</summary>
    public static void RecordRun(IDictionary<string, string> training, TrainRequest request, FineTuneOptions options, FineTuneResult result)
    {
        ArgumentNullException.ThrowIfNull(training);
        ArgumentNullException.ThrowIfNull(request);
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(result);
        training["maxSequenceLength"] = request.MaxSequenceLength.ToString(CultureInfo.InvariantCulture);
        training["epochs"] = options.Epochs.ToString(CultureInfo.InvariantCulture);
        training["batchSize"] = options.BatchSize.ToString(CultureInfo.InvariantCulture);
        training["learningRates"] = string.Create(CultureInfo.InvariantCulture, $"encoder {options.EncoderLearningRate:G3}, head {options.HeadLearningRate:G3}");
        training["seed"] = options.Seed.ToString(CultureInfo.InvariantCulture);
        training["steps"] = result.Steps.ToString(CultureInfo.InvariantCulture);
        training["bestStep"] = result.BestStep.ToString(CultureInfo.InvariantCulture);
        training["bestValidation"] = result.BestMetric.ToString("F4", CultureInfo.InvariantCulture);
        training["trainSeconds"] = result.Elapsed.TotalSeconds.ToString("F0", CultureInfo.InvariantCulture);
    }

    /// <summary>
    /// NER sentences to train on, to validate on (the <see cref="TrainRequest.DevFile"/>, else a hash split of the training
    /// sentences) and to evaluate on (the <see cref="TrainRequest.EvalFile"/>, else the validation sentences).
    /// </summary>
    public static (List<NerSentence> Train, List<NerSentence> Validation, List<NerSentence> Test) SplitNer(TrainRequest request)
    {
        ArgumentNullException.ThrowIfNull(request);
        var train = request.DataFiles.SelectMany(f => ConllReader.Read(f)).ToList();
        if (request.Limit is { } limit && train.Count > limit)
        {
            train = train.Take(limit).ToList();
        }

        List<NerSentence> validation;
        if (request.DevFile is { } devFile)
        {
            validation = ConllReader.Read(devFile).ToList();
        }
        else
        {
            var split = DatasetSplit.Split(train, s => "validation:" + string.Join(' ', s.Tokens), ValidationPercent);
            train = split.Train.ToList();
            validation = split.Test.ToList();
        }

        var test = request.EvalFile is { } evalFile ? ConllReader.Read(evalFile).ToList() : validation;
        return (train, validation, test);
    }

    /// <summary>Up to <paramref name="count"/> texts spread over the list (lengths and styles vary more than in its first lines).</summary>
    public static List<string> Spread(IReadOnlyList<string> texts, int count = ParityTextCount)
    {
        var step = Math.Max(1, texts.Count / count);
        return texts.Where((_, i) => i % step == 0).Take(count).ToList();
    }
}

using System.Diagnostics;
using System.Globalization;
using System.Text;
using System.Text.Json;
using StreamBert.Cli.Commands;
using StreamBert.Contracts;
using StreamBert.Engine.Decoding;
using StreamBert.Engine.Heads;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tokenization;
using StreamBert.Trainer;
using StreamBert.Training.Data;
using StreamBert.Training.Evaluation;
using StreamBert.Training.FeatureExtraction;
using StreamBert.Training.Jobs;

namespace StreamBert.Cli.Scenarios;

/// <summary>What <c>scenario learning-curve --task ner</c> measures.</summary>
internal sealed record NerCurveRequest(string? Registry, IReadOnlyList<int> Steps, int BaseSentences, int Seeds, int Seed, IReadOnlyList<LabelStrategy> Strategies, string? Json);

/// <summary>
/// The learning curve for NER: a heads-only CoNLL-2003 model (the first <c>--base-sentences</c> of its train file, as
/// <c>train --task ner --limit N</c> trains it) receives Wikigold sentences as reviewer labels in growing steps, is
/// retrained as the trainer retrains an NER head (<see cref="LabelTrainingJob.ComposeNer"/>,
/// <see cref="LabelTrainingJob.FitTokenHead"/>), and is measured by entity F1 (conlleval, valid-BIO decoding as served)
/// on the held-out Wikigold documents (<see cref="ConllReader.SplitByDocument"/>, the split <c>train</c> uses).
/// Word features are computed once.
/// </summary>
internal static class NerLearningCurveScenario
{
    public static async Task<int> RunAsync(NerCurveRequest request, TextWriter output, CancellationToken ct)
    {
        var clock = Stopwatch.StartNew();
        var conll = RepoPaths.ResearchData() is { } research ? Path.Combine(research, "ner", "conll2003_train.txt") : null;
        if (conll is null || !File.Exists(conll))
        {
            output.WriteLine($"Skipped: the NER curve starts from a CoNLL-2003 model and needs ner/conll2003_train.txt under STREAMBERT_DATA or ../shared/data beside the repository; found {RepoPaths.ResearchData() ?? "no research data folder"}.");
            return 1;
        }

        var wikigold = Path.Combine(RepoPaths.ShippedData() ?? throw new InvalidOperationException("data/ not found above the working or application directory."), "ner", "wikigold.conll.txt");
        using var registry = ScenarioRegistry.Open(request.Registry);
        var models = new ModelRegistry(registry.Root);
        var bundle = TaskDefaults.BundleOf(TaskNames.Ner);
        if (models.CurrentDirectory(bundle) is not { } current || !ModelRegistry.ReadManifest(current).Heads.ContainsKey(TaskNames.Ner))
        {
            output.WriteLine($"Training the CoNLL-2003 NER head (heads only, first {request.BaseSentences} sentences, as 'streambert train --task ner --limit {request.BaseSentences}') into {registry.Root}…");
            await HeadTrainingJob.RunAsync(TrainRequest.ForTask(TaskNames.Ner) with { DataFiles = [conll], Registry = registry.Root, Limit = request.BaseSentences, EvalFile = wikigold }, TextWriter.Null, ct).ConfigureAwait(false);
        }

        var directory = models.CurrentDirectory(bundle)!;
        var manifest = ModelRegistry.ReadManifest(directory);
        var spec = manifest.Heads[TaskNames.Ner];
        DenseHead baseHead;
        using (var stream = File.OpenRead(Path.Combine(directory, spec.File)))
        {
            baseHead = DenseHead.Load(stream);
        }

        var baseSentences = ConllReader.Read(conll).Take(request.BaseSentences).ToList();
        var split = ConllReader.SplitByDocument(ConllReader.ReadDocuments(wikigold), NerTrainingData.WikigoldHoldOutPercent);
        var steps = request.Steps.Order().Distinct().ToList();
        if (split.Train.Count < steps[^1])
        {
            throw new UsageException($"--steps: {steps[^1]} sentences asked for, but Wikigold's training documents hold {split.Train.Count}.");
        }

        var orders = Enumerable.Range(0, request.Seeds)
            .Select(s => LabelPool.Order(split.Train, LabelTrainingJob.SentenceKey, "review:" + (request.Seed + s).ToString(CultureInfo.InvariantCulture)).Take(steps[^1]).ToList()).ToList();
        output.WriteLine($"Wikigold: {split.Train.Count} sentences in the label pool, {split.Test.Count} in held-out documents; base: {baseSentences.Count} CoNLL-2003 sentences; steps {string.Join("/", steps)}");

        var needed = baseSentences.Concat(split.Test).Concat(orders.SelectMany(o => o)).DistinctBy(LabelTrainingJob.SentenceKey).ToList();
        var features = new Dictionary<string, float[]?[]>(StringComparer.Ordinal);
        var tokenizer = WordPieceTokenizer.FromFile(Path.Combine(directory, manifest.Encoder.Vocab));
        using (var session = EncoderSession.FromFile(MiniLmResources.Ensure().ModelPath, spec.Layers))
        {
            var extractor = new FeatureExtractor(session, tokenizer, manifest.MaxSequenceLength);
            var computed = extractor.Words([.. needed.Select(s => s.Tokens)], spec.Layers, spec.WordShape, ct);
            for (var i = 0; i < needed.Count; i++)
            {
                features[LabelTrainingJob.SentenceKey(needed[i])] = computed[i];
            }
        }

        output.WriteLine($"[{clock.Elapsed:mm\\:ss}] word features of {needed.Count} sentences ready");
        var viterbi = new BioViterbi(spec.Labels);
        var points = new List<NerPoint> { Evaluate("CoNLL-only (start)", 0, baseHead, 0, 0) };
        foreach (var step in steps)
        {
            foreach (var strategy in request.Strategies)
            {
                var perSeed = new List<NerPoint>();
                for (var s = 0; s < request.Seeds; s++)
                {
                    var fit = Stopwatch.StartNew();
                    var weight = strategy.LabelWeight == 0 ? 4 : strategy.LabelWeight;
                    var (train, _) = LabelTrainingJob.ComposeNer(strategy.UseBase ? baseSentences : [], orders[s].Take(step).ToList(), weight);
                    var head = LabelTrainingJob.FitTokenHead(train, x => features[LabelTrainingJob.SentenceKey(x)], spec.Labels, LabelTrainingJob.HeadOptions(TaskNames.Ner, baseHead, request.Seed + s), ct);
                    perSeed.Add(Evaluate(strategy.Name, step, head, train.Count, fit.Elapsed.TotalSeconds));
                }

                var point = new NerPoint(strategy.Name, step,
                    CurvePoint.Median(perSeed.Select(p => p.F1)), CurvePoint.Median(perSeed.Select(p => p.Precision)), CurvePoint.Median(perSeed.Select(p => p.Recall)),
                    perSeed[0].TrainSentences, CurvePoint.Median(perSeed.Select(p => p.FitSeconds)));
                points.Add(point);
                output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"[{clock.Elapsed:mm\\:ss}] {step,4} sentences, {strategy.Name,-10} entity F1 {point.F1:F3}  P {point.Precision:F3}  R {point.Recall:F3}  ({point.TrainSentences} training sentences, {point.FitSeconds:F0} s)"));
            }
        }

        var table = new StringBuilder();
        table.AppendLine("| Wikigold sentences | strategy | entity F1 | precision | recall | training sentences | head fit s |");
        table.AppendLine("| ---: | --- | ---: | ---: | ---: | ---: | ---: |");
        foreach (var p in points)
        {
            table.AppendLine(string.Create(CultureInfo.InvariantCulture, $"| {p.Sentences} | {p.Strategy} | {p.F1:F3} | {p.Precision:F3} | {p.Recall:F3} | {p.TrainSentences} | {p.FitSeconds:F0} |"));
        }

        output.WriteLine();
        output.WriteLine(table.ToString().TrimEnd());
        output.WriteLine($"Total {clock.Elapsed.TotalSeconds:F0} s");
        if (request.Json is { } json)
        {
            await File.WriteAllTextAsync(json, JsonSerializer.Serialize(new
            {
                scenario = "learning-curve ner",
                start = $"{bundle} {manifest.Version} (CoNLL-2003, first {request.BaseSentences} sentences, heads only)",
                pool = split.Train.Count,
                evaluation = split.Test.Count,
                seeds = Enumerable.Range(request.Seed, request.Seeds),
                strategies = request.Strategies,
                points,
                seconds = clock.Elapsed.TotalSeconds,
            }, ScenarioJson.Options), ct).ConfigureAwait(false);
        }

        return 0;

        NerPoint Evaluate(string strategy, int sentences, DenseHead head, int trainSentences, double seconds)
        {
            var logits = new float[spec.Labels.Count];
            var predicted = new List<(IReadOnlyList<string> Gold, IReadOnlyList<string> Predicted)>();
            foreach (var sentence in split.Test)
            {
                var vectors = features[LabelTrainingJob.SentenceKey(sentence)];
                var words = Enumerable.Range(0, sentence.Tokens.Count).Where(w => vectors[w] is not null).ToList();
                var probabilities = new float[words.Count * spec.Labels.Count];
                for (var i = 0; i < words.Count; i++)
                {
                    head.Forward(vectors[words[i]], logits);
                    DenseHead.Softmax(logits);
                    logits.CopyTo(probabilities, i * spec.Labels.Count);
                }

                var best = new int[words.Count];
                viterbi.Decode(probabilities, best);
                var tags = Enumerable.Repeat("O", sentence.Tokens.Count).ToArray();
                for (var i = 0; i < words.Count; i++)
                {
                    tags[words[i]] = spec.Labels[best[i]];
                }

                predicted.Add((sentence.Tags, tags));
            }

            var result = ConllEval.Evaluate(predicted).Overall;
            return new NerPoint(strategy, sentences, result.F1, result.Precision, result.Recall, trainSentences, seconds);
        }
    }
}

/// <summary>One NER curve point: entity F1 on held-out Wikigold documents.</summary>
internal sealed record NerPoint(string Strategy, int Sentences, double F1, double Precision, double Recall, int TrainSentences, double FitSeconds);

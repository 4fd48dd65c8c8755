using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Engine.Inference;
using StreamBert.Engine.Models;
using StreamBert.Engine.Tasks;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Ingest;
using StreamBert.Processor.Preprocess;

namespace StreamBert.Cli.Bench;

/// <summary>The articles of a bench run as the processor would encode them: its sentence windows, one sequence each.</summary>
internal sealed record ArticlesCorpus(int Articles, int Sentences, IReadOnlyList<SequenceWork> Windows);

/// <summary>
/// One precision's side of <c>bench-articles --compare-precision</c>: both heads on one encoder pass, per run the time
/// and the sequences the encoder ran (read from <see cref="ModelSet.SequencesEncoded"/>, not from the bench's own count).
/// </summary>
internal sealed record ArticlesPrecisionSide(EncoderPrecision Precision, int Articles, int Sentences, int Windows, IReadOnlyList<double> Seconds, IReadOnlyList<long> SequencesPerRun)
{
    public double MedianSeconds => BenchStats.Median(Seconds);

    public double ArticlesPerSecond => Articles / MedianSeconds;

    public double SentencesPerSecond => Sentences / MedianSeconds;

    /// <summary>Every run encoded exactly one sequence per sentence window, whatever number of heads read it.</summary>
    public bool OnePass => SequencesPerRun.Count > 0 && SequencesPerRun.All(s => s == Windows);
}

/// <summary>fp32 and int8 over the same windows; the ratio is of the two median rates.</summary>
internal sealed record ArticlesPrecisionComparison(ArticlesPrecisionSide Fp32, ArticlesPrecisionSide Int8)
{
    public double Int8OverFp32 => Int8.SentencesPerSecond / Fp32.SentencesPerSecond;
}

/// <summary>
/// <c>streambert bench-articles</c>: what one encoder pass for both heads buys. The same articles (ClaimBuster
/// debates as documents) go through the engine three ways, interleaved per run: both heads on one pass
/// (what the processor does), claims head only, and one pass per head (what two single-task models
/// would cost). Reports articles/s and sentences/s, medians over runs. <c>--compare-precision</c> instead runs
/// the one-pass mode with the bundle served fp32 and int8 (<c>Processor:Precision</c>) side by side.
/// </summary>
internal static class ArticlesBench
{
    public static Task<int> RunAsync(string registryRoot, int articleCount, int runs, bool comparePrecision, TextWriter output, CancellationToken ct, bool compareHeads = false)
    {
        var registry = new ModelRegistry(Path.GetFullPath(registryRoot));
        var bundle = registry.CurrentDirectory("articles")
            ?? throw new InvalidOperationException($"{registry.Root} has no articles model; train claims and ner heads first (README).");
        var data = RepoPaths.ShippedData() ?? throw new InvalidOperationException("Run from the repository (data/ is needed).");
        var articles = Demo.DebateArticles.Build(Path.Combine(data, "claimbuster", "claimbuster_crowdsourced.csv")).Take(articleCount).ToList();
        if (compareHeads)
        {
            CompareHeads(bundle, articles, runs, output, ct);
            return Task.FromResult(0);
        }

        if (comparePrecision)
        {
            ComparePrecision(bundle, articles, runs, output, ct);
            return Task.FromResult(0);
        }

        var options = new ProcessorOptions();
        using var models = ModelSet.Load([bundle], ModelLoader.SessionSettingsOf(options));
        var corpus = Prepare(models, articles);
        output.WriteLine($"bench-articles: {Describe(corpus)}, {runs} runs, engine {models.Device.Provider}, precision {options.Precision}, load average {BenchRunner.LoadAverage()}");
        var both = new List<double>();
        var claimsOnly = new List<double>();
        var perHead = new List<double>();
        for (var run = 0; run < runs; run++)
        {
            ct.ThrowIfCancellationRequested();
            both.Add(Time(models, corpus.Windows, TaskSet.Claims | TaskSet.Ner, options.MaxBatchTokens));
            claimsOnly.Add(Time(models, corpus.Windows, TaskSet.Claims, options.MaxBatchTokens));
            perHead.Add(Time(models, corpus.Windows, TaskSet.Claims, options.MaxBatchTokens) + Time(models, corpus.Windows, TaskSet.Ner, options.MaxBatchTokens));
        }

        void Row(string name, List<double> seconds)
        {
            var median = BenchStats.Median(seconds);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name,-36} {corpus.Articles / median,8:F1} articles/s {corpus.Sentences / median,9:F1} sentences/s  (median of {Seconds(seconds)} s)"));
        }

        Row("both heads, one encoder pass", both);
        Row("claims head only", claimsOnly);
        Row("one encoder pass per head (2 passes)", perHead);
        var ratio = BenchStats.Median(perHead) / BenchStats.Median(both);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  one pass for both heads is {ratio:F2}x the throughput of a pass per head; load average {BenchRunner.LoadAverage()}"));
        return Task.FromResult(0);
    }

    /// <summary>
    /// Both heads on one encoder pass, with the bundle served fp32 and int8 as the processor serves it at each
    /// <c>Processor:Precision</c>, the order alternating per run so a load trend on a shared machine does not always
    /// favour one side. Both sets are loaded (and int8 quantised into the cache) before anything is timed.
    /// </summary>
    public static ArticlesPrecisionComparison ComparePrecision(string bundleDirectory, IReadOnlyList<ArticleInput> articles, int runs, TextWriter output, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(runs, 1);
        var options = new ProcessorOptions();
        using var fp32 = ModelSet.Load([bundleDirectory], ModelLoader.SessionSettingsOf(options));
        using var int8 = ModelSet.Load([bundleDirectory], ModelLoader.SessionSettingsOf(new ProcessorOptions { Precision = EncoderPrecisions.Name(EncoderPrecision.Int8) }));
        var corpus = Prepare(fp32, articles);
        output.WriteLine($"bench-articles --compare-precision: {Describe(corpus)}, {runs} runs, engine {fp32.Device.Provider}, precision fp32 vs int8 (int8 encoder sha256 {string.Join(", ", int8.EncoderSha256)}), load average {BenchRunner.LoadAverage()}");

        // A session's first call pays for ONNX Runtime's arena and kernel set-up; untimed, so the side that runs
        // first in a run is not charged for it.
        var warmUp = corpus.Windows.Take(64).ToList();
        Time(fp32, warmUp, TaskSet.Claims | TaskSet.Ner, options.MaxBatchTokens);
        Time(int8, warmUp, TaskSet.Claims | TaskSet.Ner, options.MaxBatchTokens);

        var seconds = new Dictionary<ModelSet, List<double>> { [fp32] = [], [int8] = [] };
        var sequences = new Dictionary<ModelSet, List<long>> { [fp32] = [], [int8] = [] };
        for (var run = 0; run < runs; run++)
        {
            foreach (var models in run % 2 == 0 ? new[] { fp32, int8 } : new[] { int8, fp32 })
            {
                ct.ThrowIfCancellationRequested();
                var before = models.SequencesEncoded;
                seconds[models].Add(Time(models, corpus.Windows, TaskSet.Claims | TaskSet.Ner, options.MaxBatchTokens));
                sequences[models].Add(models.SequencesEncoded - before);
            }
        }

        ArticlesPrecisionSide Side(ModelSet models) =>
            new(models.Precision, corpus.Articles, corpus.Sentences, corpus.Windows.Count, seconds[models], sequences[models]);
        var comparison = new ArticlesPrecisionComparison(Side(fp32), Side(int8));
        output.WriteLine($"  {"both heads, one encoder pass",-30} {"articles/s",10} {"sentences/s",11}  windows  sequences encoded per run");
        foreach (var side in new[] { comparison.Fp32, comparison.Int8 })
        {
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {EncoderPrecisions.Name(side.Precision),-30} {side.ArticlesPerSecond,10:F1} {side.SentencesPerSecond,11:F1}  {side.Windows,7}  {string.Join(", ", side.SequencesPerRun)}{(side.OnePass ? " (one pass)" : " (NOT one pass per window)")}  (median of {Seconds(side.Seconds)} s)"));
        }

        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  int8 / fp32: {comparison.Int8OverFp32:F2}x sentences/s (median rates); load average {BenchRunner.LoadAverage()}"));
        return comparison;
    }

    /// <summary>
    /// Both heads on one encoder pass with the heads in the encoder's graph (<c>Processor:HeadsInGraph=true</c>: one ONNX
    /// Runtime call returns claim logits and tag probabilities) and as C# heads on hidden states (<c>false</c>), both sets
    /// loaded before anything is timed, the order alternating per run. Returns the graph/C# ratio of median sentences/s.
    /// </summary>
    public static double CompareHeads(string bundleDirectory, IReadOnlyList<ArticleInput> articles, int runs, TextWriter output, CancellationToken ct)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(runs, 1);
        var options = new ProcessorOptions { HeadsInGraph = true };
        using var graph = ModelSet.Load([bundleDirectory], ModelLoader.SessionSettingsOf(options));
        using var csharp = ModelSet.Load([bundleDirectory], ModelLoader.SessionSettingsOf(new ProcessorOptions { HeadsInGraph = false }));
        var corpus = Prepare(graph, articles);
        output.WriteLine($"bench-articles --compare-heads: {Describe(corpus)}, {runs} runs, engine {graph.Device.Provider}, heads in the graph vs C# heads, load average {BenchRunner.LoadAverage()}");
        var warmUp = corpus.Windows.Take(64).ToList();
        Time(graph, warmUp, TaskSet.Claims | TaskSet.Ner, options.MaxBatchTokens);
        Time(csharp, warmUp, TaskSet.Claims | TaskSet.Ner, options.MaxBatchTokens);
        var seconds = new Dictionary<ModelSet, List<double>> { [graph] = [], [csharp] = [] };
        for (var run = 0; run < runs; run++)
        {
            foreach (var models in run % 2 == 0 ? new[] { graph, csharp } : new[] { csharp, graph })
            {
                ct.ThrowIfCancellationRequested();
                seconds[models].Add(Time(models, corpus.Windows, TaskSet.Claims | TaskSet.Ner, options.MaxBatchTokens));
            }
        }

        foreach (var (name, models) in new[] { ("heads in graph", graph), ("C# heads", csharp) })
        {
            var median = BenchStats.Median(seconds[models]);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"  {name,-16} {corpus.Articles / median,8:F1} articles/s {corpus.Sentences / median,9:F1} sentences/s  (runs {Seconds(seconds[models])} s)"));
        }

        var ratio = BenchStats.Median(seconds[csharp]) / BenchStats.Median(seconds[graph]);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  heads in graph / C# heads: {ratio:F3}x sentences/s (median rates); load average {BenchRunner.LoadAverage()}"));
        return ratio;
    }

    /// <summary>Each article through the processor's preprocessor: its sentences and the windows the engine is fed.</summary>
    private static ArticlesCorpus Prepare(ModelSet models, IReadOnlyList<ArticleInput> articles)
    {
        var options = new ProcessorOptions();
        var topics = new TopicNames();
        var preprocessor = new Preprocessor(options, topics);
        var windows = new List<SequenceWork>();
        var sentences = 0;
        for (var index = 0; index < articles.Count; index++)
        {
            var record = new InputRecord(new Confluent.Kafka.TopicPartitionOffset(topics.Articles, 0, index), null, JsonSerializer.SerializeToUtf8Bytes(articles[index]), [], 0, 0);
            if (preprocessor.Process(record, models) is Accepted accepted)
            {
                sentences += accepted.Document.Sentences.Count;
                windows.AddRange(accepted.Document.Sequences);
            }
        }

        return new ArticlesCorpus(articles.Count, sentences, windows);
    }

    private static string Describe(ArticlesCorpus corpus) => $"{corpus.Articles} articles, {corpus.Sentences} sentences in {corpus.Windows.Count} windows";

    private static string Seconds(IEnumerable<double> seconds) => string.Join(", ", seconds.Select(s => s.ToString("F1", CultureInfo.InvariantCulture)));

    private static double Time(ModelSet models, IReadOnlyList<SequenceWork> sequences, TaskSet tasks, int maxBatchTokens)
    {
        var work = sequences.Select(s => new SequenceWork { Ids = s.Ids, Tasks = tasks, EncoderIndex = s.EncoderIndex, WordShapes = s.WordShapes }).ToList();
        var clock = Stopwatch.StartNew();
        new OfflineScorer(models, maxBatchTokens).RunAll(work);
        return clock.Elapsed.TotalSeconds;
    }
}

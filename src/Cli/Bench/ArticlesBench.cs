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

/// <summary>
/// <c>streambert bench-articles</c>: what one encoder pass for both heads buys. The same articles (ClaimBuster
/// debates as documents) go through the engine three ways, interleaved per run: both heads on one pass
/// (what the processor does), claims head only, and one pass per head (what two single-task models
/// would cost). Reports articles/s and sentences/s, medians over runs.
/// </summary>
internal static class ArticlesBench
{
    public static Task<int> RunAsync(string registryRoot, int articleCount, int runs, TextWriter output, CancellationToken ct)
    {
        var registry = new ModelRegistry(Path.GetFullPath(registryRoot));
        var bundle = registry.CurrentDirectory("articles")
            ?? throw new InvalidOperationException($"{registry.Root} has no articles model; train claims and ner heads first (README).");
        var data = RepoPaths.ShippedData() ?? throw new InvalidOperationException("Run from the repository (data/ is needed).");
        var articles = Demo.DebateArticles.Build(Path.Combine(data, "claimbuster", "claimbuster_crowdsourced.csv")).Take(articleCount).ToList();
        using var models = ModelSet.Load([bundle]);
        var options = new ProcessorOptions();
        var topics = new TopicNames();
        var preprocessor = new Preprocessor(options, topics);
        var sequences = new List<SequenceWork>();
        foreach (var (article, index) in articles.Select((a, i) => (a, i)))
        {
            var record = new InputRecord(new Confluent.Kafka.TopicPartitionOffset(topics.Articles, 0, index), null, JsonSerializer.SerializeToUtf8Bytes(article), [], 0, 0);
            if (preprocessor.Process(record, models) is Accepted accepted)
            {
                sequences.AddRange(accepted.Document.Sequences);
            }
        }

        output.WriteLine($"bench-articles: {articles.Count} articles, {sequences.Count} sentence sequences, {runs} runs, engine {models.Device.Provider}");
        var both = new List<double>();
        var claimsOnly = new List<double>();
        var perHead = new List<double>();
        for (var run = 0; run < runs; run++)
        {
            ct.ThrowIfCancellationRequested();
            both.Add(Time(models, sequences, TaskSet.Claims | TaskSet.Ner, options.MaxBatchTokens));
            claimsOnly.Add(Time(models, sequences, TaskSet.Claims, options.MaxBatchTokens));
            perHead.Add(Time(models, sequences, TaskSet.Claims, options.MaxBatchTokens) + Time(models, sequences, TaskSet.Ner, options.MaxBatchTokens));
        }

        var articlesN = articles.Count;
        var sentencesN = sequences.Count;
        void Row(string name, List<double> seconds)
        {
            var median = seconds.Order().ElementAt(seconds.Count / 2);
            output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  {name,-36} {articlesN / median,8:F1} articles/s {sentencesN / median,9:F1} sentences/s  (median of {string.Join(", ", seconds.Select(s => s.ToString("F1", CultureInfo.InvariantCulture)))} s)"));
        }

        Row("both heads, one encoder pass", both);
        Row("claims head only", claimsOnly);
        Row("one encoder pass per head (2 passes)", perHead);
        var ratio = perHead.Order().ElementAt(runs / 2) / both.Order().ElementAt(runs / 2);
        output.WriteLine(string.Create(CultureInfo.InvariantCulture, $"  one pass for both heads is {ratio:F2}x the throughput of a pass per head"));
        return Task.FromResult(0);
    }

    private static double Time(ModelSet models, List<SequenceWork> sequences, TaskSet tasks, int maxBatchTokens)
    {
        var work = sequences.Select(s => new SequenceWork { Ids = s.Ids, Tasks = tasks, EncoderIndex = s.EncoderIndex, WordShapes = s.WordShapes }).ToList();
        var clock = Stopwatch.StartNew();
        new OfflineScorer(models, maxBatchTokens).RunAll(work);
        return clock.Elapsed.TotalSeconds;
    }
}

using System.Text.Json;
using Confluent.Kafka;
using StreamBert.Contracts;
using StreamBert.Kafka;
using StreamBert.Training.Data;

namespace StreamBert.Cli.Demo;

/// <summary>Counters the article feeder and reader share.</summary>
internal sealed class ArticleStats
{
    private long _fed;
    private long _labelled;
    private long _sentences;
    private long _claims;
    private long _entities;

    public long Fed => Interlocked.Read(ref _fed);
    public long Labelled => Interlocked.Read(ref _labelled);
    public long Sentences => Interlocked.Read(ref _sentences);
    public long Claims => Interlocked.Read(ref _claims);
    public long Entities => Interlocked.Read(ref _entities);

    public void AddFed() => Interlocked.Increment(ref _fed);

    public void AddClaims(ClaimsOutput output)
    {
        Interlocked.Increment(ref _labelled);
        Interlocked.Add(ref _sentences, output.Sentences.Count);
        Interlocked.Add(ref _claims, output.Sentences.Count(s => s.Label == LabelSets.Claim));
    }

    public void AddEntities(EntitiesOutput output) => Interlocked.Add(ref _entities, output.Entities.Count);
}

/// <summary>
/// The ClaimBuster debates rebuilt as articles: rows grouped by debate (<c>File_id</c>), in transcript order
/// (<c>Line_number</c>), cut into passages of ten sentences.
/// </summary>
internal static class DebateArticles
{
    public static List<ArticleInput> Build(string crowdsourcedCsv, int sentencesPerArticle = 10)
    {
        var articles = new List<ArticleInput>();
        foreach (var debate in ClaimDataReader.Read(crowdsourcedCsv).Where(r => r.FileId is not null).GroupBy(r => r.FileId!).OrderBy(g => g.Key, StringComparer.Ordinal))
        {
            var rows = debate.OrderBy(r => r.LineNumber ?? 0).ToList();
            for (var i = 0; i < rows.Count; i += sentencesPerArticle)
            {
                var passage = rows.Skip(i).Take(sentencesPerArticle).Select(r => r.Text.Trim());
                var date = Path.GetFileNameWithoutExtension(debate.Key);
                articles.Add(new ArticleInput($"debate-{date}-{i / sentencesPerArticle}", string.Join(" ", passage), $"Presidential debate {date}"));
            }
        }

        return articles;
    }

    public static async Task Feed(string bootstrap, List<ArticleInput> articles, double rate, ArticleStats stats, CancellationToken ct)
    {
        using var producer = new ProducerBuilder<string, byte[]>(KafkaDefaults.Producer(bootstrap)).Build();
        var interval = TimeSpan.FromSeconds(1.0 / Math.Max(rate, 0.1));
        for (var n = 0; !ct.IsCancellationRequested; n++)
        {
            var article = articles[n % articles.Count];
            producer.Produce(Topics.Articles, new Message<string, byte[]> { Key = article.Id, Value = JsonSerializer.SerializeToUtf8Bytes(article) });
            stats.AddFed();
            await Task.Delay(interval, ct).ContinueWith(_ => { }, CancellationToken.None);
        }

        producer.Flush(TimeSpan.FromSeconds(10));
    }

    /// <summary>Pairs each article's claims and entities as they arrive and hands the pair to the dashboard.</summary>
    public static void Read(string bootstrap, IReadOnlyList<ArticleInput> articles, DemoState state, CancellationToken ct)
    {
        var bodies = articles.DistinctBy(a => a.Id).ToDictionary(a => a.Id, StringComparer.Ordinal);
        using var consumer = new ConsumerBuilder<string, byte[]>(KafkaDefaults.Consumer(bootstrap, "streambert-demo-articles")).Build();
        consumer.Subscribe([Topics.ArticlesClaims, Topics.ArticlesEntities]);
        var entitiesById = new Dictionary<string, EntitiesOutput>();
        var claimsById = new Dictionary<string, ClaimsOutput>();
        while (!ct.IsCancellationRequested)
        {
            var result = consumer.Consume(TimeSpan.FromMilliseconds(200));
            if (result?.Message?.Value is null)
            {
                continue;
            }

            string id;
            if (result.Topic == Topics.ArticlesClaims)
            {
                var claims = JsonSerializer.Deserialize<ClaimsOutput>(result.Message.Value)!;
                state.Articles.AddClaims(claims);
                claimsById[claims.Id] = claims;
                id = claims.Id;
            }
            else
            {
                var entities = JsonSerializer.Deserialize<EntitiesOutput>(result.Message.Value)!;
                state.Articles.AddEntities(entities);
                entitiesById[entities.Id] = entities;
                id = entities.Id;
            }

            if (claimsById.TryGetValue(id, out var pairedClaims) && entitiesById.TryGetValue(id, out var pairedEntities))
            {
                claimsById.Remove(id);
                entitiesById.Remove(id);
                if (bodies.TryGetValue(id, out var article))
                {
                    state.SetArticle(new ArticleView(article, pairedClaims, pairedEntities));
                }
            }
        }

        consumer.Close();
    }
}

using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using StreamBert.Contracts;
using StreamBert.Service.Hosting;
using StreamBert.Service.Inputs;

namespace StreamBert.Review.Articles;

/// <summary>
/// Fills the <see cref="ArticleQueue"/> from <c>articles</c>, <c>articles.claims</c>, <c>articles.entities</c> and
/// the reviewers' <c>labels.claims</c> and <c>labels.entities</c>, in a consumer group of its own (the spam feed's
/// group id with <c>-articles</c>) that never commits: like the spam window, the article window is rebuilt from the
/// topics on every start and nothing is written to disk.
/// </summary>
public sealed partial class ArticleFeed(ArticleQueue queue, IOptions<ReviewOptions> options, IOptions<KafkaClientSettings> kafka, IHostApplicationLifetime lifetime, ILogger<ArticleFeed> logger)
    : TopicFeed(kafka.Value, lifetime, logger)
{
    private static readonly JsonSerializerOptions JsonOptions = new() { MaxDepth = 16 };

    protected override string Name => "article review";

    protected override string BootstrapServers => options.Value.BootstrapServers;

    protected override string GroupId => options.Value.ArticlesGroupId;

    protected override IReadOnlyList<string> Topics =>
        [options.Value.ArticlesTopic, options.Value.ClaimsTopic, options.Value.EntitiesTopic, options.Value.LabelsClaimsTopic, options.Value.LabelsEntitiesTopic];

    protected override void Route(ConsumeResult<string?, byte[]?> result) => Route(result.Topic, result.Message, options.Value);

    private void Route(string topic, Message<string?, byte[]?> message, ReviewOptions o)
    {
        var result = JoinResult.Waiting;
        if (topic == o.LabelsClaimsTopic)
        {
            if (message.Key is { } key && Parse<TextLabel>(message.Value) is { Label: { } label } && LabelSets.ClaimLabels.Contains(label, StringComparer.Ordinal))
            {
                queue.AddClaimLabel(key, label);
            }
        }
        else if (topic == o.LabelsEntitiesTopic)
        {
            if (message.Key is { } key && Parse<EntitiesLabel>(message.Value) is { Text: not null, Entities: not null } label)
            {
                queue.AddEntitiesLabel(key, label);
            }
        }
        else if (topic == o.ClaimsTopic)
        {
            result = Parse<ClaimsOutput>(message.Value) is { Id.Length: > 0, Model.Version: not null, Sentences: not null } claims
                ? queue.AddClaims(claims)
                : JoinResult.Mismatch;
        }
        else if (topic == o.EntitiesTopic)
        {
            result = Parse<EntitiesOutput>(message.Value) is { Id.Length: > 0, Model.Version: not null, Entities: not null } entities
                ? queue.AddEntities(entities)
                : JoinResult.Mismatch;
        }
        else if (message.Value is { } value && InputParsers.ParseArticle(value, o.MaxInputBytes) is { Error: null, Id: { } id, Text: { } body } article)
        {
            // The processor's own parser: the id and body it labelled, so offsets in its outputs index this body.
            result = queue.AddArticle(id, article.Title, body);
        }
        else
        {
            result = JoinResult.Mismatch;
        }

        if (result == JoinResult.Mismatch)
        {
            LogSkipped(logger, topic, message.Key);
        }
    }

    private static T? Parse<T>(byte[]? value)
        where T : class
    {
        if (value is null)
        {
            return null;
        }

        try
        {
            return JsonSerializer.Deserialize<T>(value, JsonOptions);
        }
        catch (JsonException)
        {
            return null;
        }
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Not reviewable, skipped: a record on {Topic} with key {Key} (unparsable, or its outputs do not fit its body)")]
    private static partial void LogSkipped(ILogger logger, string topic, string? key);
}

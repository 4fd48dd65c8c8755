using System.Text;
using Confluent.Kafka;
using Microsoft.Extensions.Options;
using StreamBert.Contracts;
using StreamBert.Service.Hosting;

namespace StreamBert.Review.Articles;

/// <summary>Writes a reviewer's sentence labels to <c>labels.claims</c> and <c>labels.entities</c> (records: <see cref="ArticleLabels"/>).</summary>
public sealed class ArticleLabelWriter : IDisposable
{
    private readonly IProducer<string, byte[]> _producer;
    private readonly ReviewOptions _options;

    public ArticleLabelWriter(IOptions<ReviewOptions> options, IOptions<KafkaClientSettings> kafka)
    {
        var config = kafka.Value.ProducerConfig(options.Value.BootstrapServers);

        // A reviewer waits on the click: an unreachable cluster fails it in 30 s rather than librdkafka's 5 minutes.
        config.MessageTimeoutMs ??= 30_000;
        _producer = new ProducerBuilder<string, byte[]>(config).Build();
        _options = options.Value;
    }

    /// <summary>The sentence's claim label, acknowledged by the broker; <c>model-version</c> is the claims model's.</summary>
    public Task WriteClaimAsync(ArticleItem item, ReviewSentence sentence, string label, string reviewer, CancellationToken ct) =>
        WriteAsync(_options.LabelsClaimsTopic, ArticleLabels.SentenceKey(item.Id, sentence), ArticleLabels.ClaimValue(sentence, label), reviewer, item.ClaimsModel.Version, ct);

    /// <summary>The sentence's entities after an edit, acknowledged by the broker; <c>model-version</c> is the NER model's.</summary>
    public Task WriteEntitiesAsync(ArticleItem item, EntityEdit edit, string reviewer, CancellationToken ct) =>
        WriteAsync(_options.LabelsEntitiesTopic, ArticleLabels.SentenceKey(item.Id, edit.Sentence), ArticleLabels.EntitiesValue(edit.Sentence, edit.Entities), reviewer, item.EntitiesModel.Version, ct);

    private async Task WriteAsync(string topic, string key, byte[] value, string reviewer, string modelVersion, CancellationToken ct)
    {
        var message = new Message<string, byte[]>
        {
            Key = key,
            Value = value,
            Headers = new Headers
            {
                { LabelHeaders.Reviewer, Encoding.UTF8.GetBytes(reviewer) },
                { LabelHeaders.ModelVersion, Encoding.UTF8.GetBytes(modelVersion) },
            },
        };
        await _producer.ProduceAsync(topic, message, ct).ConfigureAwait(false);
    }

    public void Dispose()
    {
        _producer.Flush(TimeSpan.FromSeconds(5));
        _producer.Dispose();
    }
}

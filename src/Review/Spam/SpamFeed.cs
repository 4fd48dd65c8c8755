using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using MimeKit;
using StreamBert.Contracts;
using StreamBert.Service.Hosting;
using StreamBert.Service.Inputs;

namespace StreamBert.Review.Spam;

/// <summary>
/// Fills the <see cref="SpamQueue"/> from <c>messages</c> (the text), <c>messages.spam</c> (the verdict) and
/// <c>labels.spam</c> (what is already reviewed). The desk's group never commits offsets: the window is rebuilt from
/// the topics on every start, so nothing is kept that the topics do not already hold, and an item a reviewer skipped
/// is still there after a restart.
/// </summary>
public sealed partial class SpamFeed(SpamQueue queue, IOptions<ReviewOptions> options, IOptions<KafkaClientSettings> kafka, IHostApplicationLifetime lifetime, ILogger<SpamFeed> logger)
    : TopicFeed(kafka.Value, lifetime, logger)
{
    private static readonly JsonSerializerOptions JsonOptions = new() { MaxDepth = 16 };

    protected override string Name => "spam review";

    protected override string BootstrapServers => options.Value.BootstrapServers;

    protected override string GroupId => options.Value.GroupId;

    protected override IReadOnlyList<string> Topics => [options.Value.MessagesTopic, options.Value.SpamTopic, options.Value.LabelsSpamTopic];

    protected override void Route(ConsumeResult<string?, byte[]?> result) => Route(result.Topic, result.Message, options.Value);

    private void Route(string topic, Message<string?, byte[]?> message, ReviewOptions o)
    {
        if (topic == o.LabelsSpamTopic)
        {
            if (message.Key is { Length: > 0 } labelled)
            {
                queue.MarkLabelled(labelled);
            }
        }
        else if (topic == o.SpamTopic)
        {
            if (ParseOutput(message.Value) is { } output)
            {
                queue.AddOutput(output);
            }
            else
            {
                LogSkipped(logger, topic, message.Key);
            }
        }
        else if (ParseInput(message.Key, message.Value, o.MaxInputBytes) is { } input)
        {
            queue.AddInput(input);
        }
        else
        {
            LogSkipped(logger, topic, message.Key);
        }
    }

    private static SpamLabel? ParseOutput(byte[]? value)
    {
        if (value is null)
        {
            return null;
        }

        try
        {
            var output = JsonSerializer.Deserialize<SpamLabel>(value, JsonOptions);
            return output is { Id.Length: > 0, Model.Version: not null } && LabelSets.SpamLabels.Contains(output.Label, StringComparer.Ordinal) && float.IsFinite(output.Score) ? output : null;
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>
    /// The message as the processor parses it (its id and the text the model saw, via the processor's own parser),
    /// plus the subject, sender and body as sent, for display; null for what the processor dead-letters.
    /// </summary>
    internal static MessageView? ParseInput(string? key, byte[]? value, int maxInputBytes)
    {
        if (value is null)
        {
            return null;
        }

        var parsed = InputParsers.ParseMessage(value, key, maxInputBytes);
        if (parsed.Error is not null || parsed.Id is null || parsed.Text is null)
        {
            return null;
        }

        var text = Encoding.UTF8.GetString(value).TrimStart('\uFEFF');
        if (text.TrimStart().StartsWith('{'))
        {
            var json = JsonSerializer.Deserialize<MessageInput>(text, JsonOptions)!;
            return new MessageView(parsed.Id, json.Subject, json.From, json.Body, parsed.Text);
        }

        using var stream = new MemoryStream(value, writable: false);
        var email = MimeMessage.Load(stream);
        return new MessageView(parsed.Id, email.Subject, email.From.ToString(), email.TextBody ?? email.HtmlBody ?? string.Empty, parsed.Text);
    }

    [LoggerMessage(Level = LogLevel.Debug, Message = "Not reviewable, skipped: a record on {Topic} with key {Key}")]
    private static partial void LogSkipped(ILogger logger, string topic, string? key);
}

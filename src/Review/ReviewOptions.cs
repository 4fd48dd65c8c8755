using System.ComponentModel.DataAnnotations;
using System.Net;
using StreamBert.Contracts;

namespace StreamBert.Review;

/// <summary>Settings of the reviewer's desk (configuration section <c>Review</c>; topic names from <c>Topics</c>).</summary>
public sealed class ReviewOptions
{
    public const string Section = "Review";

    /// <summary>Default port of the desk.</summary>
    public const int DefaultPort = 5080;

    [Required] public string BootstrapServers { get; set; } = "localhost:9092";

    /// <summary>The desk's own consumer group: reading the outputs must not move the processor's or trainer's offsets.</summary>
    [Required] public string GroupId { get; set; } = "streambert-review";

    /// <summary>The article feed's group: its own, so the two feeds never rebalance each other's partitions.</summary>
    public string ArticlesGroupId => GroupId + "-articles";

    /// <summary>
    /// Addresses Kestrel listens on (semicolon-separated URLs). Loopback by default: the desk writes training labels,
    /// so any other address needs <see cref="Token"/>.
    /// </summary>
    [Required] public string Urls { get; set; } = $"http://127.0.0.1:{DefaultPort}";

    /// <summary>Shared secret every request must carry when set; required for a non-loopback <see cref="Urls"/>.</summary>
    public string? Token { get; set; }

    /// <summary>
    /// Items the spam queue holds at most. When full, the item the model is surest of is dropped: the window keeps the
    /// most useful items for review, and its memory stays bounded whatever the stream's length.
    /// </summary>
    [Range(1, 1_000_000)] public int WindowSize { get; set; } = 1000;

    /// <summary>
    /// Bytes the article window holds at most (bodies and spans, estimated), besides <see cref="WindowSize"/> articles:
    /// one article can be a thousand times another, so a count alone says nothing about memory.
    /// </summary>
    [Range(1024, long.MaxValue)] public long ArticleWindowBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Claim decision threshold of the served model (the processor's <c>Processor:ClaimThreshold</c>).</summary>
    [Range(0.0, 1.0)] public double ClaimThreshold { get; set; } = 0.5;

    /// <summary>Spam decision threshold of the served model (the processor's <c>Processor:SpamThreshold</c>).</summary>
    [Range(0.0, 1.0)] public double SpamThreshold { get; set; } = 0.5;

    /// <summary>Inputs larger than this are not shown (the processor's <c>Processor:MaxInputBytes</c> default).</summary>
    [Range(1, int.MaxValue)] public int MaxInputBytes { get; set; } = 1024 * 1024;

    [Required] public string MessagesTopic { get; set; } = Topics.Messages;
    [Required] public string SpamTopic { get; set; } = Topics.MessagesSpam;
    [Required] public string LabelsSpamTopic { get; set; } = Topics.LabelsSpam;
    [Required] public string ArticlesTopic { get; set; } = Topics.Articles;
    [Required] public string ClaimsTopic { get; set; } = Topics.ArticlesClaims;
    [Required] public string EntitiesTopic { get; set; } = Topics.ArticlesEntities;
    [Required] public string LabelsClaimsTopic { get; set; } = Topics.LabelsClaims;
    [Required] public string LabelsEntitiesTopic { get; set; } = Topics.LabelsEntities;
    [Required] public string ModelsTopic { get; set; } = Topics.Models;
    [Required] public string TrainerRunsTopic { get; set; } = Topics.TrainerRuns;

    /// <summary>The model registry the models page shows and promotes in (null: the processors' <c>Processor:Registry</c>, else the default root).</summary>
    public string? Registry { get; set; }

    /// <summary>Why these options must not start the desk (a non-loopback address without a token), or null.</summary>
    public string? BindingError()
    {
        var urls = Urls.Split(';', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        if (urls.Length == 0)
        {
            return "Review:Urls is empty.";
        }

        foreach (var url in urls)
        {
            if (!TryHost(url, out var host))
            {
                return $"'{url}' is not an http://HOST:PORT address.";
            }

            if (!IsLoopback(host) && string.IsNullOrWhiteSpace(Token))
            {
                return $"{url} is reachable from other machines: give --token (or Review:Token) so only people with it can label, or bind 127.0.0.1.";
            }
        }

        return null;
    }

    private static bool TryHost(string url, out string host)
    {
        host = string.Empty;

        // Kestrel's wildcards (http://*:5080, http://+:5080) are not valid URI hosts; they mean every interface.
        var wildcard = url.Replace("://*", "://0.0.0.0", StringComparison.Ordinal).Replace("://+", "://0.0.0.0", StringComparison.Ordinal);
        if (!Uri.TryCreate(wildcard, UriKind.Absolute, out var uri) || uri.Scheme is not ("http" or "https"))
        {
            return false;
        }

        host = uri.Host;
        return true;
    }

    private static bool IsLoopback(string host) =>
        string.Equals(host, "localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host.Trim('[', ']'), out var address) && IPAddress.IsLoopback(address));
}

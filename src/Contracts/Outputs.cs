using System.Text.Json.Serialization;

namespace StreamBert.Contracts;

/// <summary>The exact model version that produced an output.</summary>
public sealed record ModelRef(
    [property: JsonPropertyName("name")] string Name,
    [property: JsonPropertyName("version")] string Version);

/// <summary>Spam verdict for one message, on <see cref="Topics.MessagesSpam"/>, keyed by the input id.</summary>
public sealed record SpamLabel(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("label")] string Label,
    [property: JsonPropertyName("score")] float Score,
    [property: JsonPropertyName("model")] ModelRef Model);

/// <summary>
/// One sentence of an article body. <c>Start</c>/<c>End</c> are UTF-16 code-unit indexes into
/// the article's <c>body</c> (as .NET and JavaScript strings index), end exclusive.
/// </summary>
public sealed record SentenceLabel(
    [property: JsonPropertyName("start")] int Start,
    [property: JsonPropertyName("end")] int End,
    [property: JsonPropertyName("text")] string Text,
    [property: JsonPropertyName("label")] string Label,
    [property: JsonPropertyName("score")] float Score);

/// <summary>Every sentence of an article with its claim label, on <see cref="Topics.ArticlesClaims"/>.</summary>
public sealed record ClaimsOutput(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("model")] ModelRef Model,
    [property: JsonPropertyName("sentences")] IReadOnlyList<SentenceLabel> Sentences);

/// <summary>A named entity; offsets as in <see cref="SentenceLabel"/>.</summary>
public sealed record EntitySpan(
    [property: JsonPropertyName("start")] int Start,
    [property: JsonPropertyName("end")] int End,
    [property: JsonPropertyName("text")] string Text,
    [property: JsonPropertyName("type")] string Type,
    [property: JsonPropertyName("score")] float Score);

/// <summary>The named entities of an article, on <see cref="Topics.ArticlesEntities"/>.</summary>
public sealed record EntitiesOutput(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("model")] ModelRef Model,
    [property: JsonPropertyName("entities")] IReadOnlyList<EntitySpan> Entities);

using System.Text.Json.Serialization;

namespace StreamBert.Contracts;

/// <summary>An email or chat message to classify, as JSON on <see cref="Topics.Messages"/>.</summary>
public sealed record MessageInput(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("body")] string Body,
    [property: JsonPropertyName("subject")] string? Subject = null,
    [property: JsonPropertyName("from")] string? From = null);

/// <summary>A news article, as JSON on <see cref="Topics.Articles"/>.</summary>
public sealed record ArticleInput(
    [property: JsonPropertyName("id")] string Id,
    [property: JsonPropertyName("body")] string Body,
    [property: JsonPropertyName("title")] string? Title = null,
    [property: JsonPropertyName("url")] string? Url = null,
    [property: JsonPropertyName("publishedAt")] string? PublishedAt = null);

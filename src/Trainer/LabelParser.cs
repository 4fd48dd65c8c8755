using System.Text;
using System.Text.Json;
using StreamBert.Contracts;
using StreamBert.Training.Data;
using StreamBert.Service.Inputs;

namespace StreamBert.Trainer;

/// <summary>One usable label, or why a record is not one.</summary>
public sealed record ParsedLabel(string Task, LabeledText? Text, NerSentence? Sentence, string? Error)
{
    public static ParsedLabel Fail(string task, string error) => new(task, null, null, error);
}

/// <summary>
/// Parses reviewers' label records. Everything is untrusted: size is checked first, UTF-8 is decoded
/// strictly, labels must be in the task's label set, entity spans must lie inside the text on whole
/// characters and must not overlap. Accepted shapes:
/// <c>labels.spam</c> <c>{"text","label"}</c> or <c>{"email": raw RFC 822, "label"}</c>;
/// <c>labels.claims</c> <c>{"text","label"}</c>;
/// <c>labels.entities</c> <c>{"text","entities":[{"start","end","type"}]}</c> or <c>{"tokens","tags"}</c>.
/// </summary>
public static class LabelParser
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private static readonly JsonDocumentOptions JsonOptions = new() { MaxDepth = 16 };

    public static ParsedLabel Parse(string task, ReadOnlySpan<byte> value, int maxBytes)
    {
        if (value.Length == 0)
        {
            return ParsedLabel.Fail(task, "empty value");
        }

        if (value.Length > maxBytes)
        {
            return ParsedLabel.Fail(task, $"value of {value.Length} bytes exceeds the limit of {maxBytes}");
        }

        string json;
        try
        {
            json = StrictUtf8.GetString(value);
        }
        catch (DecoderFallbackException)
        {
            return ParsedLabel.Fail(task, "value is not valid UTF-8");
        }

        try
        {
            using var document = JsonDocument.Parse(json.TrimStart('\uFEFF'), JsonOptions);
            if (document.RootElement.ValueKind != JsonValueKind.Object)
            {
                return ParsedLabel.Fail(task, $"expected a JSON object, got {document.RootElement.ValueKind}");
            }

            return task switch
            {
                TaskNames.Spam => ParseSpam(document.RootElement, maxBytes),
                TaskNames.Claims => ParseBinary(task, document.RootElement, String(document.RootElement, "text"), LabelSets.ClaimLabels),
                TaskNames.Ner => ParseEntities(document.RootElement),
                _ => ParsedLabel.Fail(task, "unknown task"),
            };
        }
        catch (JsonException ex)
        {
            return ParsedLabel.Fail(task, "invalid JSON: " + ex.Message);
        }
    }

    private static ParsedLabel ParseSpam(JsonElement root, int maxBytes)
    {
        var text = String(root, "text");
        if (text is null && String(root, "email") is { } email)
        {
            var parsed = InputParsers.ParseMessage(Encoding.UTF8.GetBytes(email), fallbackId: "label", maxBytes);
            if (parsed.Error is { } error)
            {
                return ParsedLabel.Fail(TaskNames.Spam, "email: " + error);
            }

            text = parsed.Text;
        }

        return ParseBinary(TaskNames.Spam, root, text, LabelSets.SpamLabels);
    }

    private static ParsedLabel ParseBinary(string task, JsonElement root, string? text, IReadOnlyList<string> labels)
    {
        if (string.IsNullOrWhiteSpace(text))
        {
            return ParsedLabel.Fail(task, task == TaskNames.Spam ? "no \"text\" or \"email\" string, or it is blank" : "no \"text\" string, or it is blank");
        }

        var label = String(root, "label");
        if (label is null || !labels.Contains(label, StringComparer.Ordinal))
        {
            return ParsedLabel.Fail(task, $"\"label\" must be one of {string.Join(", ", labels)}");
        }

        return new ParsedLabel(task, new LabeledText(text, label), null, null);
    }

    private static ParsedLabel ParseEntities(JsonElement root)
    {
        if (root.TryGetProperty("tokens", out var tokensElement))
        {
            if (tokensElement.ValueKind != JsonValueKind.Array || !root.TryGetProperty("tags", out var tagsElement) || tagsElement.ValueKind != JsonValueKind.Array)
            {
                return ParsedLabel.Fail(TaskNames.Ner, "\"tokens\" and \"tags\" must both be arrays");
            }

            var tokens = tokensElement.EnumerateArray().Select(t => t.ValueKind == JsonValueKind.String ? t.GetString() : null).ToList();
            var tags = tagsElement.EnumerateArray().Select(t => t.ValueKind == JsonValueKind.String ? t.GetString() : null).ToList();
            if (tokens.Count == 0 || tokens.Count != tags.Count)
            {
                return ParsedLabel.Fail(TaskNames.Ner, $"{tokens.Count} tokens and {tags.Count} tags");
            }

            if (tokens.Any(string.IsNullOrWhiteSpace))
            {
                return ParsedLabel.Fail(TaskNames.Ner, "a token is not a non-blank string");
            }

            if (tags.Any(t => t is null || !LabelSets.NerTags.Contains(t, StringComparer.Ordinal)))
            {
                return ParsedLabel.Fail(TaskNames.Ner, $"tags must be one of {string.Join(", ", LabelSets.NerTags)}");
            }

            return new ParsedLabel(TaskNames.Ner, null, new NerSentence(tokens!, tags!), null);
        }

        var text = String(root, "text");
        if (string.IsNullOrWhiteSpace(text))
        {
            return ParsedLabel.Fail(TaskNames.Ner, "no \"text\" string (or \"tokens\"/\"tags\" arrays)");
        }

        if (!root.TryGetProperty("entities", out var entities) || entities.ValueKind != JsonValueKind.Array)
        {
            return ParsedLabel.Fail(TaskNames.Ner, "\"entities\" must be an array");
        }

        var spans = new List<(int Start, int End, string Type)>();
        foreach (var entity in entities.EnumerateArray())
        {
            if (entity.ValueKind != JsonValueKind.Object
                || !entity.TryGetProperty("start", out var s) || !s.TryGetInt32(out var start)
                || !entity.TryGetProperty("end", out var e) || !e.TryGetInt32(out var end)
                || String(entity, "type") is not { } type)
            {
                return ParsedLabel.Fail(TaskNames.Ner, "each entity needs integer \"start\", \"end\" and a string \"type\"");
            }

            if (!LabelSets.EntityTypes.Contains(type, StringComparer.Ordinal))
            {
                return ParsedLabel.Fail(TaskNames.Ner, $"entity type {type} is not one of {string.Join(", ", LabelSets.EntityTypes)}");
            }

            if (start < 0 || end <= start || end > text.Length)
            {
                return ParsedLabel.Fail(TaskNames.Ner, $"entity [{start}, {end}) is not a non-empty range inside the text of {text.Length} UTF-16 units");
            }

            if (char.IsLowSurrogate(text[start]) || (end < text.Length && char.IsLowSurrogate(text[end])))
            {
                return ParsedLabel.Fail(TaskNames.Ner, $"entity [{start}, {end}) splits a surrogate pair");
            }

            spans.Add((start, end, type));
        }

        spans.Sort((a, b) => a.Start.CompareTo(b.Start));
        for (var i = 1; i < spans.Count; i++)
        {
            if (spans[i].Start < spans[i - 1].End)
            {
                return ParsedLabel.Fail(TaskNames.Ner, $"entities [{spans[i - 1].Start}, {spans[i - 1].End}) and [{spans[i].Start}, {spans[i].End}) overlap");
            }
        }

        return new ParsedLabel(TaskNames.Ner, null, ToSentence(text, spans), null);
    }

    /// <summary>
    /// Words as CoNLL tokenizes them (runs of letters and digits, each other non-space character alone), tagged
    /// B-/I- where they fall inside an entity span. A span that starts or ends inside a word tags the whole word.
    /// </summary>
    public static NerSentence ToSentence(string text, IReadOnlyList<(int Start, int End, string Type)> spans)
    {
        var tokens = new List<string>();
        var tags = new List<string>();
        var i = 0;
        var previousSpan = -1;
        while (i < text.Length)
        {
            if (char.IsWhiteSpace(text[i]))
            {
                i++;
                continue;
            }

            var start = i;
            if (char.IsLetterOrDigit(text, i))
            {
                while (i < text.Length && (char.IsLetterOrDigit(text[i]) || char.IsSurrogate(text[i]) || char.GetUnicodeCategory(text[i]) == System.Globalization.UnicodeCategory.NonSpacingMark))
                {
                    i++;
                }
            }
            else
            {
                i += char.IsSurrogatePair(text, i) ? 2 : 1;
            }

            tokens.Add(text[start..i]);
            var span = -1;
            for (var s = 0; s < spans.Count; s++)
            {
                if (start < spans[s].End && i > spans[s].Start)
                {
                    span = s;
                    break;
                }
            }

            tags.Add(span < 0 ? "O" : (span == previousSpan ? "I-" : "B-") + spans[span].Type);
            previousSpan = span;
        }

        return new NerSentence(tokens, tags);
    }

    private static string? String(JsonElement element, string name) =>
        element.TryGetProperty(name, out var value) && value.ValueKind == JsonValueKind.String ? value.GetString() : null;
}

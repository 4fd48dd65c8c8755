using System.Text;
using System.Text.Json;
using MimeKit;
using MimeKit.Text;
using StreamBert.Contracts;

namespace StreamBert.Service.Inputs;

/// <summary>Outcome of parsing one input value: the fields the model needs, or why it was rejected.</summary>
public readonly record struct ParsedInput(string? Id, string? Text, string? Error, string? Title = null)
{
    public static ParsedInput Fail(string error) => new(null, null, error);
}

/// <summary>
/// Parses and validates input values. Everything here is untrusted: size is checked before anything is
/// decoded, UTF-8 is decoded strictly (no silent replacement characters), and every failure returns a
/// reason that the dead-letter record carries.
/// </summary>
public static class InputParsers
{
    private static readonly UTF8Encoding StrictUtf8 = new(encoderShouldEmitUTF8Identifier: false, throwOnInvalidBytes: true);
    private static readonly JsonSerializerOptions JsonOptions = new() { MaxDepth = 16 };

    /// <summary>Headers of which at least one must be present for bytes to count as an email.</summary>
    private static readonly string[] EmailHeaders = ["From", "To", "Subject", "Date", "Message-ID", "MIME-Version", "Content-Type", "Received", "Return-Path"];

    public static ParsedInput ParseMessage(ReadOnlySpan<byte> value, string? fallbackId, int maxInputBytes)
    {
        if (CheckEnvelope(value, maxInputBytes, out var text) is { } error)
        {
            return ParsedInput.Fail(error);
        }

        return LooksLikeJson(text) ? ParseMessageJson(text) : ParseEmail(value, fallbackId);
    }

    public static ParsedInput ParseArticle(ReadOnlySpan<byte> value, int maxInputBytes)
    {
        if (CheckEnvelope(value, maxInputBytes, out var text) is { } error)
        {
            return ParsedInput.Fail(error);
        }

        if (!LooksLikeJson(text))
        {
            return ParsedInput.Fail("not JSON: an article must be a JSON object {id, body, title?, url?, publishedAt?}");
        }

        ArticleInput? article;
        try
        {
            article = JsonSerializer.Deserialize<ArticleInput>(text, JsonOptions);
        }
        catch (JsonException ex)
        {
            return ParsedInput.Fail("malformed JSON: " + ex.Message);
        }

        if (article is null)
        {
            return ParsedInput.Fail("JSON null is not an article");
        }

        if (string.IsNullOrWhiteSpace(article.Id))
        {
            return ParsedInput.Fail("missing field 'id'");
        }

        return string.IsNullOrWhiteSpace(article.Body)
            ? ParsedInput.Fail("empty body")
            : new ParsedInput(article.Id, article.Body, null, article.Title);
    }

    private static string? CheckEnvelope(ReadOnlySpan<byte> value, int maxInputBytes, out string text)
    {
        text = string.Empty;
        if (value.Length == 0)
        {
            return "empty value";
        }

        if (value.Length > maxInputBytes)
        {
            return $"value is {value.Length} bytes, over MaxInputBytes {maxInputBytes}";
        }

        try
        {
            text = StrictUtf8.GetString(value);
        }
        catch (DecoderFallbackException ex)
        {
            return $"invalid UTF-8 at byte {ex.Index}";
        }

        // A UTF-8 byte order mark is not JSON: System.Text.Json rejects it ("'0xEF' is an invalid start of a value").
        if (text.StartsWith('\uFEFF'))
        {
            text = text[1..];
        }

        if (text.Contains('\0', StringComparison.Ordinal))
        {
            return "value contains NUL characters";
        }

        return null;
    }

    private static bool LooksLikeJson(string text)
    {
        // The literal null is JSON too; it gets the "JSON null is not a …" reason rather than "not JSON".
        if (text.AsSpan().Trim() is "null")
        {
            return true;
        }

        foreach (var c in text)
        {
            if (!char.IsWhiteSpace(c) && c != '\uFEFF')
            {
                return c is '{' or '[' or '"';
            }
        }

        return false;
    }

    private static ParsedInput ParseMessageJson(string text)
    {
        MessageInput? message;
        try
        {
            message = JsonSerializer.Deserialize<MessageInput>(text, JsonOptions);
        }
        catch (JsonException ex)
        {
            return ParsedInput.Fail("malformed JSON: " + ex.Message);
        }

        if (message is null)
        {
            return ParsedInput.Fail("JSON null is not a message");
        }

        if (string.IsNullOrWhiteSpace(message.Id))
        {
            return ParsedInput.Fail("missing field 'id'");
        }

        if (string.IsNullOrWhiteSpace(message.Body))
        {
            return ParsedInput.Fail("empty body");
        }

        return new ParsedInput(message.Id, EmailText.Compose(message.Subject, message.Body), null);
    }

    private static ParsedInput ParseEmail(ReadOnlySpan<byte> value, string? fallbackId)
    {
        MimeMessage message;
        try
        {
            using var stream = new MemoryStream(value.ToArray(), writable: false);
            message = MimeMessage.Load(stream);
        }
        catch (FormatException ex)
        {
            return ParsedInput.Fail("neither JSON nor an RFC 822 email: " + ex.Message);
        }

        var known = false;
        foreach (var header in EmailHeaders)
        {
            if (message.Headers.Contains(header))
            {
                known = true;
                break;
            }
        }

        if (!known)
        {
            return ParsedInput.Fail("neither JSON nor an RFC 822 email: no email headers");
        }

        var body = message.TextBody;
        if (string.IsNullOrWhiteSpace(body) && message.HtmlBody is { } html)
        {
            body = HtmlToText(html);
        }

        if (string.IsNullOrWhiteSpace(body))
        {
            return ParsedInput.Fail("empty body");
        }

        var id = !string.IsNullOrWhiteSpace(message.MessageId) ? message.MessageId : fallbackId;
        if (string.IsNullOrWhiteSpace(id))
        {
            return ParsedInput.Fail("email has no Message-ID and the record has no key");
        }

        return new ParsedInput(id, EmailText.Compose(message.Subject, body), null);
    }

    /// <summary>Visible text of an HTML body: data outside script/style, block elements as line breaks.</summary>
    internal static string HtmlToText(string html)
    {
        var builder = new StringBuilder(html.Length / 2);
        using var reader = new StringReader(html);
        var tokenizer = new HtmlTokenizer(reader);
        var skipDepth = 0;
        while (tokenizer.ReadNextToken(out var token))
        {
            switch (token)
            {
                case HtmlTagToken tag:
                    if (tag.Id is HtmlTagId.Script or HtmlTagId.Style)
                    {
                        skipDepth += tag.IsEndTag ? -1 : tag.IsEmptyElement ? 0 : 1;
                        skipDepth = Math.Max(skipDepth, 0);
                    }
                    else if (tag.Id is HtmlTagId.P or HtmlTagId.Br or HtmlTagId.Div or HtmlTagId.LI or HtmlTagId.TR or HtmlTagId.H1 or HtmlTagId.H2 or HtmlTagId.H3 or HtmlTagId.Table)
                    {
                        builder.Append('\n');
                    }

                    break;
                case HtmlDataToken data when skipDepth == 0:
                    builder.Append(data.Data);
                    break;
            }
        }

        return builder.ToString().Trim();
    }
}

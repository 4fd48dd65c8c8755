using System.Text;
using StreamBert.Contracts;

namespace StreamBert.EndToEnd.Tests;

/// <summary>Which input topic a hostile record goes to.</summary>
public enum HostileTopic
{
    Messages,
    Articles,
}

/// <summary>
/// One hostile record and what the processor must make of it: a label (<see cref="Reason"/> null) or a dead letter whose
/// reason contains <see cref="Reason"/>, with <see cref="DeadLetterHeader"/> set when the copy had to be cut to fit.
/// A labelled one is keyed by <see cref="LabelId"/> on the output topics.
/// </summary>
public sealed record HostileInput(string Kind, HostileTopic Topic, string Key, byte[]? Value, IReadOnlyList<(string Name, byte[] Value)> Headers, string? Reason, string? DeadLetterHeader = null, string? LabelId = null)
{
    public override string ToString() => Kind;
}

/// <summary>
/// Kinds of hostile input an operator meets in the first week (and the ones issue 11 names), each with its expected
/// outcome. Sizes assume the defaults (MaxInputBytes 256 KiB) and a producer whose message.max.bytes is
/// <see cref="ProducerMessageMaxBytes"/>, lowered from 1,000,000 so that an ordinary-looking article overflows it.
/// </summary>
public static class HostileCorpus
{
    public const int ProducerMessageMaxBytes = 400_000;

    public static List<HostileInput> All(string prefix)
    {
        var list = new List<HostileInput>();
        void Add(string kind, HostileTopic topic, byte[]? value, string? reason, IReadOnlyList<(string, byte[])>? headers = null, string? header = null) =>
            list.Add(new HostileInput(kind, topic, $"{prefix}-{list.Count}-{kind}", value, headers ?? [], reason, header));
        void Label(string kind, HostileTopic topic, string id, byte[] value, IReadOnlyList<(string, byte[])>? headers = null) =>
            list.Add(new HostileInput(kind, topic, $"{prefix}-{list.Count}-{kind}", value, headers ?? [], null, null, id));
        const HostileTopic M = HostileTopic.Messages;
        const HostileTopic A = HostileTopic.Articles;
        var random = new Random(11);

        // JSON structure and types.
        Add("deep-nesting-article", A, Utf8("{\"id\":\"d\",\"body\":\"b\",\"title\":" + new string('[', 5000) + new string(']', 5000) + "}"), "malformed JSON");
        Add("deep-nesting-message", M, Utf8("{\"id\":\"d\",\"body\":\"b\",\"from\":" + new string('{', 3000).Replace("{", "{\"a\":") + "1" + new string('}', 3001)), "malformed JSON");
        Add("id-number", A, Utf8("{\"id\":42,\"body\":\"Some text.\"}"), "$.id");
        Add("body-array", A, Utf8("{\"id\":\"x\",\"body\":[\"a\",\"b\"]}"), "$.body");
        Add("title-object", A, Utf8("{\"id\":\"x\",\"body\":\"Text.\",\"title\":{\"a\":1}}"), "$.title");
        Add("subject-number", M, Utf8("{\"id\":\"x\",\"body\":\"Text\",\"subject\":7}"), "$.subject");
        Add("body-bool", M, Utf8("{\"id\":\"x\",\"body\":true}"), "$.body");
        Add("top-level-array", A, Utf8("[{\"id\":\"x\",\"body\":\"Text.\"}]"), "malformed JSON");
        Add("json-null-article", A, Utf8("null"), "JSON null is not an article");
        Add("json-null-message", M, Utf8(" null "), "JSON null is not a message");
        Add("truncated-json", A, Utf8("{\"id\":\"x\",\"body\":\"Once upon"), "malformed JSON");

        // UTF-8 in every position.
        Add("bad-utf8-start", M, [0xFF, .. Utf8("{\"id\":\"x\",\"body\":\"hello\"}")], "invalid UTF-8 at byte 0");
        Add("bad-utf8-middle", A, [.. Utf8("{\"id\":\"x\","), 0xC3, 0x28, .. Utf8("\"body\":\"hello\"}")], "invalid UTF-8 at byte 10");
        Add("bad-utf8-end", M, [.. Utf8("{\"id\":\"x\",\"body\":\"hello\"}"), 0xFE], "invalid UTF-8 at byte 25");
        Add("bad-utf8-in-string", A, [.. Utf8("{\"id\":\"x\",\"body\":\"caf"), 0xE9, .. Utf8(" au lait.\"}")], "invalid UTF-8 at byte 21");
        Add("truncated-multibyte", M, [.. Utf8("{\"id\":\"x\",\"body\":\"price 5"), 0xE2, 0x82], "invalid UTF-8 at byte 25");
        Add("overlong-encoding", A, [.. Utf8("{\"id\":\"x\",\"body\":\"a"), 0xC0, 0xAF, .. Utf8("b.\"}")], "invalid UTF-8 at byte 19");
        Add("encoded-surrogate", M, [.. Utf8("{\"id\":\"x\",\"body\":\"a"), 0xED, 0xA0, 0x80, .. Utf8("\"}")], "invalid UTF-8 at byte 19");
        Add("lone-high-surrogate-escaped", A, Utf8("{\"id\":\"x\",\"body\":\"a\\ud800b.\"}"), "malformed JSON");
        Add("lone-low-surrogate-escaped", M, Utf8("{\"id\":\"x\",\"body\":\"\\udc00 hello\"}"), "malformed JSON");

        // Empty and nearly empty.
        Add("empty-value", M, [], "empty value");
        Add("null-value", A, null, "empty value");
        Add("empty-body", A, Utf8("{\"id\":\"x\",\"body\":\"\"}"), "empty body");
        Add("whitespace-body", M, Utf8("{\"id\":\"x\",\"body\":\" \\n\\t\\u00a0 \"}"), "empty body");
        Add("bom-only-article", A, [0xEF, 0xBB, 0xBF], "not JSON");
        Add("bom-only-message", M, [0xEF, 0xBB, 0xBF], "neither JSON nor an RFC 822 email");
        Add("nul-bytes", M, Utf8("{\"id\":\"x\",\"body\":\"a\0b\"}"), "NUL");
        Add("random-bytes", M, RandomBytes(random, 4096), "invalid UTF-8");
        Add("random-ascii", A, Utf8(RandomAscii(random, 4096)), "not JSON");

        // Headers.
        // 480 KB of headers: over the processor's producer limit, under the broker's.
        var hugeHeaders = Enumerable.Range(0, 8).Select(i => ($"h{i}", RandomBytes(random, 60_000))).ToList();
        Label("huge-headers-valid", M, "huge-headers", Json(new MessageInput("huge-headers", "Are we still on for lunch tomorrow?")), hugeHeaders);
        Add("huge-headers-malformed", M, Utf8("{\"id\":"), "malformed JSON", hugeHeaders, "streambert-headers-dropped");
        Add("oversized-value", M, Utf8("{\"id\":\"x\",\"body\":\"" + new string('z', 500_000) + "\"}"), "over MaxInputBytes", header: "streambert-truncated");

        // MIME.
        Label("thousands-of-mime-parts", M, "parts@test", Mime("parts", ManyParts(3000)));
        Label("nested-multiparts", M, "nested@test", Mime("nested", Nested(300)));
        Add("mime-no-body", M, Utf8("From: a@b.c\r\nMessage-ID: <nobody@test>\r\nContent-Type: multipart/mixed; boundary=\"q\"\r\n\r\n--q--\r\n"), "empty body");
        Label("mime-bad-base64", M, "b64@test", Utf8("From: a@b.c\r\nMessage-ID: <b64@test>\r\nContent-Type: text/plain\r\nContent-Transfer-Encoding: base64\r\n\r\n!!!!not base64 at all@@@@\r\n"));
        Label("mime-unknown-charset", M, "cs@test", Utf8("From: a@b.c\r\nMessage-ID: <cs@test>\r\nContent-Type: text/plain; charset=x-no-such-charset\r\n\r\nhello there\r\n"));
        Label("html-deep-nesting", M, "deep@test", Mime("deep", Html(string.Concat(Enumerable.Repeat("<div>", 40_000)) + "free money" + string.Concat(Enumerable.Repeat("</div>", 10_000)))));
        Label("html-huge-attribute", M, "attr@test", Mime("attr", Html("<p title=\"" + new string('q', 200_000) + "\">claim your prize</p>")));
        Label("html-unclosed-script", M, "script@test", Mime("script", Html("<p>hi</p><script>" + new string('x', 100_000))));

        // Text the operator sent.
        Add("a-dot-255kb", A, Article("a. ", 255 * 1024), "MaxWindowsPerArticle");
        Add("A-dot-255kb", A, Article("A. ", 255 * 1024), "MaxSentencesPerArticle");
        Add("brackets-then-short-sentences", A, Json(new ArticleInput("br", new string('(', 128 * 1024) + Repeat("A. ", 40_000))), "MaxSentencesPerArticle");
        Label("200kb-word-article", A, "w", Json(new ArticleInput("w", new string('w', 200 * 1024))));
        Label("200kb-word-message", M, "w", Json(new MessageInput("w", new string('w', 200 * 1024))));
        Label("100k-combining-marks", A, "c", Json(new ArticleInput("c", "Zalgo" + new string('\u0301', 100_000) + " text.")));
        Label("emoji-zwj-families", A, "op", Article("\U0001F468\u200D\U0001F469\u200D\U0001F467\u200D\U0001F466 ", 240 * 1024));
        Label("emoji-skin-tones-and-flags", M, "e", Json(new MessageInput("e", Repeat("\U0001F44D\U0001F3FD\U0001F1FA\U0001F1F8", 12_000))));
        Label("control-characters", M, "ctl", Json(new MessageInput("ctl", "Win \u0001\u0002\u0007\u001b[31m a prize \u007f now")));
        Label("huge-id", M, new string('i', 150_000), Json(new MessageInput(new string('i', 150_000), "hello")));
        Add("output-over-message-max-bytes", A, Json(new ArticleInput(new string('k', 110_000), Repeat("Officials said on Monday that the old bridge over the river would reopen next week, after repairs costing several million dollars were finally completed. ", 900))), "output too large");
        return list;
    }

    public static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>
    /// JSON as a producer writing UTF-8 sends it: only quotes, backslashes and control characters escaped (the default
    /// serializer would write each emoji as 12 bytes of escapes and push the inputs over MaxInputBytes).
    /// </summary>
    private static byte[] Json(MessageInput message) => Utf8($"{{\"id\":{Quote(message.Id)},\"body\":{Quote(message.Body)}}}");

    private static byte[] Json(ArticleInput article) => Utf8($"{{\"id\":{Quote(article.Id)},\"body\":{Quote(article.Body)}}}");

    private static string Quote(string text)
    {
        var builder = new StringBuilder(text.Length + 2).Append('"');
        foreach (var c in text)
        {
            _ = c switch
            {
                '"' => builder.Append("\\\""),
                '\\' => builder.Append("\\\\"),
                < ' ' => builder.Append("\\u").Append(((int)c).ToString("x4", System.Globalization.CultureInfo.InvariantCulture)),
                _ => builder.Append(c),
            };
        }

        return builder.Append('"').ToString();
    }

    private static string Repeat(string s, int count) => new StringBuilder(s.Length * count).Insert(0, s, count).ToString();

    /// <summary>An article whose body is <paramref name="unit"/> repeated up to about <paramref name="bytes"/> of UTF-8.</summary>
    private static byte[] Article(string unit, int bytes) =>
        Json(new ArticleInput("op", Repeat(unit, bytes / Encoding.UTF8.GetByteCount(unit)).TrimEnd()));

    private static byte[] RandomBytes(Random random, int length)
    {
        var bytes = new byte[length];
        random.NextBytes(bytes);
        bytes[0] = 0xFF; // never valid UTF-8, whatever the seed
        return bytes;
    }

    private static string RandomAscii(Random random, int length)
    {
        var chars = new char[length];
        for (var i = 0; i < length; i++)
        {
            chars[i] = (char)random.Next(0x21, 0x7F);
        }

        chars[0] = 'x';
        return new string(chars);
    }

    private static string Html(string body) =>
        "Content-Type: text/html; charset=utf-8\r\n\r\n<html><body>" + body + "</body></html>\r\n";

    private static string ManyParts(int parts)
    {
        var builder = new StringBuilder("Content-Type: multipart/mixed; boundary=\"p\"\r\n\r\n");
        for (var i = 0; i < parts; i++)
        {
            builder.Append("--p\r\nContent-Type: text/plain\r\n\r\npart ").Append(i).Append(" says hello\r\n");
        }

        return builder.Append("--p--\r\n").ToString();
    }

    private static string Nested(int depth)
    {
        var builder = new StringBuilder();
        for (var d = 0; d < depth; d++)
        {
            builder.Append("Content-Type: multipart/mixed; boundary=\"b").Append(d).Append("\"\r\n\r\n--b").Append(d).Append("\r\n");
        }

        builder.Append("Content-Type: text/plain\r\n\r\ndeep down, a message\r\n");
        for (var d = depth - 1; d >= 0; d--)
        {
            builder.Append("--b").Append(d).Append("--\r\n");
        }

        return builder.ToString();
    }

    private static byte[] Mime(string id, string contentPart) =>
        Utf8("From: Sender <s@example.com>\r\nTo: r@example.org\r\nSubject: hostile\r\nMessage-ID: <" + id + "@test>\r\nMIME-Version: 1.0\r\n" + contentPart);
}

using System.Text;
using System.Text.Json;
using StreamBert.Contracts;

namespace StreamBert.EndToEnd.Tests;

/// <summary>One input record (an email's id is its Message-ID without the angle brackets) of a test stream and what the processor must make of it.</summary>
public sealed record TestInput(string Key, byte[] Value, string? ExpectedId, string? Truth)
{
    public bool Valid => ExpectedId is not null;
}

/// <summary>
/// Builds test streams from the real SMS texts: JSON messages, raw RFC 822 emails (plain, HTML,
/// quoted-printable, multipart), and malformed inputs of every kind the processor must dead-letter.
/// </summary>
public static class InputCorpus
{
    public static List<(string Text, string Label)> Sms()
    {
        var result = new List<(string, string)>();
        foreach (var line in File.ReadLines(RepoData.SmsSpamCollection))
        {
            var tab = line.IndexOf('\t', StringComparison.Ordinal);
            if (tab > 0)
            {
                result.Add((line[(tab + 1)..], line[..tab]));
            }
        }

        return result;
    }

    /// <summary><paramref name="count"/> inputs of which <paramref name="malformed"/> are invalid, spread evenly.</summary>
    public static List<TestInput> Mixed(int count, int malformed, string prefix)
    {
        var sms = Sms();
        var inputs = new List<TestInput>(count);
        var every = malformed == 0 ? int.MaxValue : count / malformed;
        var bad = 0;
        for (var i = 0; i < count; i++)
        {
            var (text, label) = sms[i % sms.Count];
            var id = $"{prefix}-{i}";
            if (bad < malformed && i % every == every - 1)
            {
                inputs.Add(new TestInput(id, Malformed(bad++, id), null, null));
                continue;
            }

            inputs.Add((i % 4) switch
            {
                0 => new TestInput(id, Email(id, text, html: false), $"{id}@test", label),
                1 => new TestInput(id, Email(id, text, html: true), $"{id}@test", label),
                _ => new TestInput(id, JsonSerializer.SerializeToUtf8Bytes(new MessageInput(id, text, Subject: i % 3 == 0 ? "hello" : null)), id, label),
            });
        }

        return inputs;
    }

    private static byte[] Email(string id, string text, bool html)
    {
        var body = html
            ? $"<html><head><style>p {{ color: red; }}</style></head><body><p>{System.Net.WebUtility.HtmlEncode(text)}</p></body></html>"
            : text;
        var type = html ? "text/html" : "text/plain";
        return Encoding.UTF8.GetBytes(
            $"From: Sender <sender@example.com>\r\nTo: someone@example.org\r\nSubject: a note\r\nMessage-ID: <{id}@test>\r\nMIME-Version: 1.0\r\nContent-Type: {type}; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\n{body}\r\n");
    }

    /// <summary>Ten kinds of bad input, cycled.</summary>
    public static byte[] Malformed(int kind, string id) => (kind % 10) switch
    {
        0 => "{\"id\": \"truncated"u8.ToArray(),
        1 => [0xFF, 0xFE, 0x41, 0xC3, 0x28],
        2 => JsonSerializer.SerializeToUtf8Bytes(new { id, body = "" }),
        3 => JsonSerializer.SerializeToUtf8Bytes(new { body = "no id here" }),
        4 => Encoding.UTF8.GetBytes("just some words with no structure at all"),
        5 => [],
        6 => Encoding.UTF8.GetBytes("{\"id\":\"" + id + "\",\"body\":\"" + new string('x', 300 * 1024) + "\"}"),
        7 => Encoding.UTF8.GetBytes("null"),
        8 => Encoding.UTF8.GetBytes($"From: a@b.c\r\nSubject: empty\r\nMessage-ID: <{id}@test>\r\n\r\n   \r\n"),
        _ => Encoding.UTF8.GetBytes("{\"id\": 42, \"body\": [1,2,3]}"),
    };
}

using System.Diagnostics.CodeAnalysis;
using System.Diagnostics;
using System.Text;
using StreamBert.Processor.Preprocess;
using Xunit.Abstractions;

namespace StreamBert.Processor.Tests.Poison;

/// <summary>
/// Seeded fuzzing of the real parsers and preprocessor (JSON, MIME, HTML, sentence splitting, tokenization, windows):
/// mutated messages, emails and articles must each come out as work (an accepted document with at least one sequence)
/// or a dead letter (a rejection with a reason) — never an exception, which would end the preprocess stage.
/// </summary>
public sealed class PreprocessFuzzTests(ITestOutputHelper output)
{
    private const int Inputs = 100_000;
    private const int Seed = 20261204;

    private static readonly string[] Seeds =
    [
        """{"id":"m1","subject":"Win big","body":"Click here now to claim your prize!","from":"x@y.z"}""",
        """{"id":"m2","body":"See you at lunch? Ελληνικά, 中文 and 👍🏽 too."}""",
        """{"id":"a1","title":"Budget","body":"The minister said the plan would work. Critics disagreed.\n\nMr. Smith left at 5 p.m. on Jan. 3. He said: \"No.\" Then he went home.","url":"https://example.com/a","publishedAt":"2026-12-04"}""",
        """{"id":"a2","body":"U.S. officials met in Paris (France) on Monday… Prices rose 3.5% — the most since 2019! Why? 「東京」。"}""",
        "From: Sender <s@example.com>\r\nTo: r@example.org\r\nSubject: =?utf-8?B?SGVsbG8gd29ybGQ=?=\r\nMessage-ID: <e1@test>\r\nMIME-Version: 1.0\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: 8bit\r\n\r\nFree entry in a weekly competition. Text WIN now!\r\n",
        "From: a@b.c\r\nMessage-ID: <e2@test>\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: quoted-printable\r\n\r\n<html><style>p{}</style><body><p>Caf=C3=A9 &amp; <b>bar</b></p><div>two</div><script>x()</script></body></html>\r\n",
        "From: a@b.c\r\nSubject: parts\r\nMessage-ID: <e3@test>\r\nMIME-Version: 1.0\r\nContent-Type: multipart/alternative; boundary=\"xyz\"\r\n\r\n--xyz\r\nContent-Type: text/plain; charset=iso-8859-1\r\nContent-Transfer-Encoding: base64\r\n\r\nSGVsbG8gdGhlcmUsIGZyaWVuZC4=\r\n--xyz\r\nContent-Type: text/html\r\n\r\n<p>Hello <i>there</i></p>\r\n--xyz--\r\n",
        "From: a@b.c\r\nMessage-ID: <e4@test>\r\nContent-Type: multipart/mixed; boundary=\"o\"\r\n\r\n--o\r\nContent-Type: multipart/related; boundary=\"i\"\r\n\r\n--i\r\nContent-Type: text/plain\r\n\r\ninner text\r\n--i--\r\n--o\r\nContent-Type: application/octet-stream\r\n\r\n\x01\x02\r\n--o--\r\n",
    ];

    private static readonly string[] Fragments =
    [
        "\"", "\\", "\\u", "\\ud800", "\\udc00\\ud800", "\\u0000", "{", "}", "[", "]", ":", ",", "null", "true", "1e999", "-0",
        "\"id\":", "\"body\":", "\"body\":null", "\"body\":{}", "\"id\":[1]", new string('[', 64), new string('{', 40), "{\"a\":{\"b\":{\"c\":",
        "\r\n", "\r\n\r\n", "\r\n--xyz\r\n", "\r\n--xyz--\r\n", "Content-Type: multipart/mixed; boundary=\"q\"\r\n\r\n--q\r\n",
        "Content-Transfer-Encoding: base64\r\n", "Content-Transfer-Encoding: quoted-printable\r\n", "=?utf-8?B?////?=", "=?x-bad?Q?=FF?=",
        "=\r\n", "=FF=FE", "charset=utf-16", "charset=x-none", "<div>", "</div>", "<script>", "<p title=\"", "&#xD800;", "&#0;", "&bogus;",
        "A. ", "a. ", "Mr. ", "1. ", "... ", "?! ", "。", "\u2028", "\u0085", "\u200B", "\uFEFF", new string('\u0301', 200), "\U0001D165\U0001D16E",
        "\U0001F468\u200D\U0001F469\u200D\U0001F467", "\U0001F44D\U0001F3FD", "\U0001F1FA\U0001F1F8", "\u0903\u093F", new string('x', 300), "\t", "\0",
    ];

    private static readonly byte[][] ByteFragments =
    [
        [0xFF], [0xFE], [0xC0, 0xAF], [0xE0, 0x80, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0xC3], [0x80],
        [0xEF, 0xBB, 0xBF], [0x00], [0x1B], [0x7F],
    ];

    [Fact]
    [SuppressMessage("Design", "CA1031:Do not catch general exception types", Justification = "Any exception is the failure under test; it is reported with the input that caused it.")]
    public void Process_100000MutatedInputs_EachIsWorkOrADeadLetterWithAReason()
    {
        var probe = new PreprocessProbe();
        var random = new Random(Seed);
        var seeds = Seeds.Select(Encoding.UTF8.GetBytes).ToArray();
        var fragments = Fragments.Select(Encoding.UTF8.GetBytes).Concat(ByteFragments).ToArray();
        var (accepted, rejected) = (0, 0);
        var reasons = new Dictionary<string, int>(StringComparer.Ordinal);
        var slowest = TimeSpan.Zero;
        var clock = Stopwatch.StartNew();
        for (var i = 0; i < Inputs; i++)
        {
            var value = Mutate(random, seeds, fragments);
            var topic = random.Next(2) == 0 ? PreprocessProbe.Messages : PreprocessProbe.Articles;
            PreprocessResult result;
            var started = Stopwatch.GetTimestamp();
            try
            {
                result = probe.Process(topic, value, random.Next(4) == 0 ? null : Encoding.UTF8.GetBytes("k" + i));
            }
            catch (Exception ex)
            {
                Assert.Fail($"input {i} ({topic}) threw {ex.GetType().Name}: {ex.Message}\nvalue (base64): {Convert.ToBase64String(value)}\n{ex.StackTrace}");
                return;
            }

            var took = Stopwatch.GetElapsedTime(started);
            if (took > slowest)
            {
                slowest = took;
            }

            switch (result)
            {
                case Accepted a:
                    accepted++;
                    Assert.NotEmpty(a.Document.Sequences);
                    Assert.False(string.IsNullOrWhiteSpace(a.Document.Id));
                    Assert.All(a.Document.Sequences, s => Assert.InRange(s.Ids.Length, 2, 128));
                    break;
                case Rejected r:
                    rejected++;
                    Assert.False(string.IsNullOrWhiteSpace(r.Reason), $"input {i} rejected without a reason");
                    var kind = System.Text.RegularExpressions.Regex.Replace(r.Reason.Split(':')[0], "byte [0-9]+", "byte N");
                    reasons[kind] = reasons.GetValueOrDefault(kind) + 1;
                    break;
                default:
                    Assert.Fail($"input {i}: unexpected result {result}");
                    break;
            }
        }

        output.WriteLine($"{Inputs} inputs in {clock.Elapsed.TotalSeconds:F1} s (slowest {slowest.TotalMilliseconds:F0} ms): {accepted} accepted, {rejected} rejected");
        foreach (var (reason, count) in reasons.OrderByDescending(r => r.Value).Take(20))
        {
            output.WriteLine($"  {count,6}  {reason}");
        }

        // The mutations must reach both outcomes in quantity, or the fuzzing says little; and no input may hold the
        // stage for long (inputs here are at most a few tens of KB: a second would mean something super-linear).
        Assert.InRange(accepted, Inputs / 10, Inputs - (Inputs / 10));
        Assert.True(slowest < TimeSpan.FromSeconds(2), $"slowest input took {slowest.TotalSeconds:F1} s");
    }

    private static readonly byte[][] Replacements =
        [.. new[] { "null", "0", "-1.5e308", "true", "[]", "{}", "[\"a\",1]", "{\"id\":\"x\"}", "\"\"", "\" \"", "\"\\u0000\"", new string('[', 20) + new string(']', 20) }
            .Select(Encoding.UTF8.GetBytes)];

    /// <summary>Replaces the string after a random <c>":"</c> (a field's value) with a value of another type.</summary>
    private static void SwapJsonValue(Random random, List<byte> value)
    {
        var starts = new List<int>();
        for (var i = 0; i + 2 < value.Count; i++)
        {
            if (value[i] == '"' && value[i + 1] == ':' && value[i + 2] == '"')
            {
                starts.Add(i + 2);
            }
        }

        if (starts.Count == 0)
        {
            return;
        }

        var start = starts[random.Next(starts.Count)];
        var end = start + 1;
        while (end < value.Count && (value[end] != '"' || value[end - 1] == '\\'))
        {
            end++;
        }

        value.RemoveRange(start, Math.Min(end + 1, value.Count) - start);
        value.InsertRange(start, Replacements[random.Next(Replacements.Length)]);
    }

    private static byte[] Mutate(Random random, byte[][] seeds, byte[][] fragments)
    {
        var value = new List<byte>(seeds[random.Next(seeds.Length)]);
        var mutations = random.Next(1, 4);
        for (var m = 0; m < mutations; m++)
        {
            switch (random.Next(8))
            {
                case 7: // swap a JSON string value for another type
                    SwapJsonValue(random, value);
                    break;
                case 0: // flip bytes
                    for (var k = random.Next(1, 4); k > 0 && value.Count > 0; k--)
                    {
                        value[random.Next(value.Count)] ^= (byte)random.Next(1, 256);
                    }

                    break;
                case 1: // truncate
                    if (value.Count > 1)
                    {
                        var cut = random.Next(value.Count);
                        value.RemoveRange(cut, value.Count - cut);
                    }

                    break;
                case 2: // insert a hostile fragment, sometimes repeated
                case 3:
                    var fragment = fragments[random.Next(fragments.Length)];
                    var at = random.Next(value.Count + 1);
                    for (var r = random.Next(5) == 0 ? random.Next(2, 200) : 1; r > 0; r--)
                    {
                        value.InsertRange(at, fragment);
                    }

                    break;
                case 4: // delete a span
                    if (value.Count > 2)
                    {
                        var start = random.Next(value.Count - 1);
                        value.RemoveRange(start, random.Next(1, Math.Min(32, value.Count - start)));
                    }

                    break;
                case 5: // duplicate a span (repeated fields, repeated MIME headers and parts)
                    if (value.Count > 2)
                    {
                        var start = random.Next(value.Count - 1);
                        var span = value.GetRange(start, random.Next(1, Math.Min(200, value.Count - start)));
                        value.InsertRange(random.Next(value.Count + 1), span);
                    }

                    break;
                default: // splice two seeds
                    var other = seeds[random.Next(seeds.Length)];
                    var end = random.Next(value.Count + 1);
                    value.RemoveRange(end, value.Count - end);
                    value.AddRange(other.AsSpan(random.Next(other.Length)).ToArray());
                    break;
            }
        }

        return [.. value];
    }
}

using System.Text;
using StreamBert.Processor.Preprocess;
using StreamBert.Service.Inputs;

namespace StreamBert.Processor.Tests.Preprocess;

public sealed class InputParsersTests
{
    private const int Max = 64 * 1024;

    private static byte[] Utf8(string text) => Encoding.UTF8.GetBytes(text);

    /// <summary>Joins header and body lines with CRLF, as on the wire.</summary>
    private static byte[] Email(params string[] lines) => Utf8(string.Join("\r\n", lines));

    private static ParsedInput Message(string value, string? fallbackId = null) =>
        InputParsers.ParseMessage(Utf8(value), fallbackId, Max);

    private static void AssertAccepted(ParsedInput parsed, string id, string text)
    {
        Assert.Null(parsed.Error);
        Assert.Equal(id, parsed.Id);
        Assert.Equal(text, parsed.Text);
    }

    private static string AssertRejected(ParsedInput parsed)
    {
        Assert.False(string.IsNullOrWhiteSpace(parsed.Error));
        Assert.Null(parsed.Id);
        Assert.Null(parsed.Text);
        return parsed.Error!;
    }

    // ---- JSON messages -------------------------------------------------------------------------------------

    [Fact]
    public void ParseMessage_JsonWithSubject_TextIsSubjectNewlineBody()
    {
        AssertAccepted(Message("""{"id":"m1","subject":"Win big","body":"Click here now","from":"x@y.z"}"""), "m1", "Win big\nClick here now");
    }

    [Fact]
    public void ParseMessage_JsonWithoutSubject_TextIsBody()
    {
        AssertAccepted(Message("""{"id":"m2","body":"See you at lunch"}"""), "m2", "See you at lunch");
    }

    [Fact]
    public void ParseMessage_JsonWithBlankSubject_TextIsBody()
    {
        AssertAccepted(Message("""{"id":"m3","subject":"  ","body":"Body only"}"""), "m3", "Body only");
    }

    [Fact]
    public void ParseMessage_JsonWithLeadingWhitespace_IsParsedAsJson()
    {
        AssertAccepted(Message(" \r\n\t{\"id\":\"m4\",\"body\":\"b\"}"), "m4", "b");
    }

    [Theory]
    [InlineData("""{"body":"hello"}""")]
    [InlineData("""{"id":"","body":"hello"}""")]
    [InlineData("""{"id":"   ","body":"hello"}""")]
    [InlineData("""{"id":null,"body":"hello"}""")]
    public void ParseMessage_JsonMissingId_RejectedMissingId(string json)
    {
        Assert.Equal("missing field 'id'", AssertRejected(Message(json)));
    }

    [Theory]
    [InlineData("""{"id":"m1"}""")]
    [InlineData("""{"id":"m1","body":""}""")]
    [InlineData("""{"id":"m1","body":" \n\t "}""")]
    [InlineData("""{"id":"m1","subject":"s","body":null}""")]
    public void ParseMessage_JsonBlankBody_RejectedEmptyBody(string json)
    {
        Assert.Equal("empty body", AssertRejected(Message(json)));
    }

    [Theory]
    [InlineData("null")]
    [InlineData("  null \n")]
    public void ParseMessage_JsonNull_RejectedAsNullMessage(string json)
    {
        Assert.Equal("JSON null is not a message", AssertRejected(Message(json)));
    }

    [Theory]
    [InlineData("""{"id":5,"body":"hello"}""", "$.id")]
    [InlineData("""{"id":"m1","body":["a","b"]}""", "$.body")]
    [InlineData("""{"id":"m1","body":"b","subject":{"x":1}}""", "$.subject")]
    [InlineData("""["m1","hello"]""", "$")]
    [InlineData("\"just a string\"", "$")]
    public void ParseMessage_JsonWrongTypes_RejectedMalformedNamingThePath(string json, string path)
    {
        var reason = AssertRejected(Message(json));

        Assert.StartsWith("malformed JSON: ", reason, StringComparison.Ordinal);
        Assert.Contains(path, reason, StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("""{"id":"m1","body":"hel""")]
    [InlineData("""{"id":"m1",""")]
    [InlineData("{")]
    [InlineData("""{"id":"m1","body":"b"} trailing""")]
    public void ParseMessage_TruncatedOrMalformedJson_RejectedMalformed(string json)
    {
        var reason = AssertRejected(Message(json));

        Assert.StartsWith("malformed JSON: ", reason, StringComparison.Ordinal);
        Assert.True(reason.Length > "malformed JSON: ".Length, reason);
    }

    [Fact]
    public void ParseMessage_DeeplyNestedJson_RejectedMalformed()
    {
        var json = """{"id":"m1","body":"b","from":""" + new string('[', 40) + new string(']', 40) + "}";

        Assert.StartsWith("malformed JSON: ", AssertRejected(Message(json)), StringComparison.Ordinal);
    }

    [Fact]
    public void ParseMessage_Utf8BomBeforeJson_IsParsedAsJson()
    {
        byte[] value = [0xEF, 0xBB, 0xBF, .. Utf8("""{"id":"m1","body":"hello"}""")];

        AssertAccepted(InputParsers.ParseMessage(value, null, Max), "m1", "hello");
    }

    [Fact]
    public void ParseMessage_NonAsciiJson_DecodedExactly()
    {
        AssertAccepted(Message("""{"id":"m1","subject":"Café","body":"naïve 日本 🎉"}"""), "m1", "Café\nnaïve 日本 🎉");
    }

    // ---- Envelope checks ----------------------------------------------------------------------------------

    [Fact]
    public void ParseMessage_EmptyValue_RejectedEmptyValue()
    {
        Assert.Equal("empty value", AssertRejected(InputParsers.ParseMessage([], "key", Max)));
    }

    [Fact]
    public void ParseMessage_OverMaxInputBytes_ReasonNamesSizeAndLimit()
    {
        var value = Utf8("""{"id":"m1","body":"0123456789"}""");
        Assert.Equal(31, value.Length);

        var reason = AssertRejected(InputParsers.ParseMessage(value, null, 30));

        Assert.Equal("value is 31 bytes, over MaxInputBytes 30", reason);
    }

    [Fact]
    public void ParseMessage_ExactlyMaxInputBytes_Accepted()
    {
        var value = Utf8("""{"id":"m1","body":"0123456789"}""");

        AssertAccepted(InputParsers.ParseMessage(value, null, value.Length), "m1", "0123456789");
    }

    [Fact]
    public void ParseMessage_OverMaxInputBytesAndInvalidUtf8_SizeCheckedFirst()
    {
        var value = new byte[100];
        Array.Fill(value, (byte)0xFF);

        Assert.StartsWith("value is 100 bytes, over MaxInputBytes 10", AssertRejected(InputParsers.ParseMessage(value, null, 10)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new byte[] { 0xFF }, 0)]
    [InlineData(new byte[] { (byte)'{', (byte)'"', 0xC3, (byte)'"' }, 2)] // truncated two-byte sequence
    [InlineData(new byte[] { (byte)'a', (byte)'b', (byte)'c', (byte)'d', (byte)'e', 0x80, (byte)'f' }, 5)] // lone continuation byte
    [InlineData(new byte[] { (byte)'x', 0xED, 0xA0, 0x80 }, 1)] // encoded surrogate
    [InlineData(new byte[] { (byte)'x', (byte)'y', 0xC0, 0xAF }, 2)] // overlong encoding
    public void ParseMessage_InvalidUtf8_ReasonNamesByteIndex(byte[] value, int index)
    {
        Assert.Equal($"invalid UTF-8 at byte {index}", AssertRejected(InputParsers.ParseMessage(value, "key", Max)));
    }

    [Fact]
    public void ParseMessage_InvalidUtf8DeepInJsonBody_ReasonNamesByteIndex()
    {
        var prefix = Utf8("""{"id":"m1","body":"hello """);
        byte[] value = [.. prefix, 0xFE, .. Utf8("\"}")];

        Assert.Equal($"invalid UTF-8 at byte {prefix.Length}", AssertRejected(InputParsers.ParseMessage(value, null, Max)));
    }

    [Theory]
    [InlineData("{\"id\":\"m1\",\"body\":\"a\0b\"}")]
    [InlineData("\0")]
    [InlineData("From: a@example.com\r\nMessage-ID: <x@y>\r\n\r\nbody\0")]
    public void ParseMessage_NulCharacters_RejectedNul(string value)
    {
        Assert.Equal("value contains NUL characters", AssertRejected(Message(value, "key")));
    }

    // ---- RFC 822 emails -----------------------------------------------------------------------------------

    [Fact]
    public void ParseMessage_PlainEmail_IdFromMessageIdAndTextIsSubjectAndBody()
    {
        var parsed = InputParsers.ParseMessage(
            Email(
                "From: Alice <alice@example.com>",
                "To: bob@example.com",
                "Subject: Lunch tomorrow",
                "Date: Mon, 1 Jan 2024 10:00:00 +0000",
                "Message-ID: <abc123@example.com>",
                "",
                "Shall we meet at noon?",
                "Alice"),
            "record-key",
            Max);

        Assert.Null(parsed.Error);
        Assert.Equal("abc123@example.com", parsed.Id);
        // MimeKit's TextBody normalises the CRLF line breaks to LF.
        Assert.Equal("Lunch tomorrow\nShall we meet at noon?\nAlice", parsed.Text?.TrimEnd());
    }

    [Fact]
    public void ParseMessage_EmailWithoutSubject_TextIsBodyOnly()
    {
        var parsed = InputParsers.ParseMessage(Email("From: a@example.com", "Message-ID: <m@x>", "", "Just the body"), null, Max);

        Assert.Null(parsed.Error);
        Assert.Equal("Just the body", parsed.Text?.TrimEnd());
    }

    [Fact]
    public void ParseMessage_EncodedWordSubject_Decoded()
    {
        var parsed = InputParsers.ParseMessage(
            Email("From: a@example.com", "Subject: =?UTF-8?B?Q2Fmw6k=?=", "Message-ID: <m@x>", "", "body"), null, Max);

        Assert.Null(parsed.Error);
        Assert.StartsWith("Café\n", parsed.Text, StringComparison.Ordinal);
    }

    [Fact]
    public void ParseMessage_HtmlEmail_StyleAndScriptSkippedEntitiesDecodedBlocksBreakLines()
    {
        var parsed = InputParsers.ParseMessage(
            Email(
                "From: shop@example.com",
                "Subject: Offer",
                "Message-ID: <html1@example.com>",
                "MIME-Version: 1.0",
                "Content-Type: text/html; charset=utf-8",
                "",
                "<html><head><style>body { color: red; }</style>",
                "<script type=\"text/javascript\">var secret = \"<b>hidden</b>\";</script></head>",
                "<body><p>Tom &amp; Jerry&#39;s &lt;deal&gt; &copy; &#x263A;</p><div>Second&nbsp;line<br>third</div></body></html>"),
            null,
            Max);

        Assert.Null(parsed.Error);
        Assert.Equal("html1@example.com", parsed.Id);
        var text = parsed.Text!;
        Assert.StartsWith("Offer\n", text, StringComparison.Ordinal);
        Assert.Contains("Tom & Jerry's <deal> © ☺", text, StringComparison.Ordinal);
        Assert.Contains("Second\u00A0line\nthird", text, StringComparison.Ordinal);
        Assert.DoesNotContain("color", text, StringComparison.Ordinal);
        Assert.DoesNotContain("secret", text, StringComparison.Ordinal);
        Assert.DoesNotContain("hidden", text, StringComparison.Ordinal);
        Assert.DoesNotContain("<p>", text, StringComparison.Ordinal);
        Assert.DoesNotContain("&amp;", text, StringComparison.Ordinal);
        // Body text is trimmed, block elements become line breaks.
        Assert.Matches(@"^Offer\nTom & Jerry's <deal> © ☺\n+Second\u00A0line\nthird$", text);
    }

    [Fact]
    public void ParseMessage_HtmlEmailWithOnlyScriptAndStyle_RejectedEmptyBody()
    {
        var parsed = InputParsers.ParseMessage(
            Email(
                "From: a@example.com",
                "Message-ID: <m@x>",
                "Content-Type: text/html",
                "",
                "<style>p{}</style><script>alert(1)</script><p> </p>"),
            null,
            Max);

        Assert.Equal("empty body", AssertRejected(parsed));
    }

    [Fact]
    public void ParseMessage_QuotedPrintableEmail_Decoded()
    {
        var parsed = InputParsers.ParseMessage(
            Email(
                "From: a@example.com",
                "Message-ID: <qp@example.com>",
                "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=utf-8",
                "Content-Transfer-Encoding: quoted-printable",
                "",
                "Caf=C3=A9 =3D good, soft=",
                "break here"),
            null,
            Max);

        Assert.Null(parsed.Error);
        Assert.Equal("Café = good, softbreak here", parsed.Text?.TrimEnd());
    }

    [Fact]
    public void ParseMessage_Base64Email_Decoded()
    {
        var encoded = Convert.ToBase64String(Utf8("Grüße from base64"));
        var parsed = InputParsers.ParseMessage(
            Email(
                "From: a@example.com",
                "Subject: B64",
                "Message-ID: <b64@example.com>",
                "MIME-Version: 1.0",
                "Content-Type: text/plain; charset=utf-8",
                "Content-Transfer-Encoding: base64",
                "",
                encoded),
            null,
            Max);

        AssertAccepted(parsed, "b64@example.com", "B64\nGrüße from base64");
    }

    [Fact]
    public void ParseMessage_MultipartAlternative_PrefersPlainTextPart()
    {
        var parsed = InputParsers.ParseMessage(
            Email(
                "From: a@example.com",
                "Subject: Both",
                "Message-ID: <alt@example.com>",
                "MIME-Version: 1.0",
                "Content-Type: multipart/alternative; boundary=\"XYZ\"",
                "",
                "--XYZ",
                "Content-Type: text/html; charset=utf-8",
                "",
                "<p>HTML version</p>",
                "--XYZ",
                "Content-Type: text/plain; charset=utf-8",
                "",
                "Plain version",
                "--XYZ--",
                ""),
            null,
            Max);

        Assert.Null(parsed.Error);
        Assert.Equal("alt@example.com", parsed.Id);
        Assert.Equal("Both\nPlain version", parsed.Text?.TrimEnd());
    }

    [Fact]
    public void ParseMessage_MultipartWithOnlyHtml_FallsBackToHtmlText()
    {
        var parsed = InputParsers.ParseMessage(
            Email(
                "From: a@example.com",
                "Message-ID: <alt@example.com>",
                "MIME-Version: 1.0",
                "Content-Type: multipart/alternative; boundary=\"XYZ\"",
                "",
                "--XYZ",
                "Content-Type: text/html; charset=utf-8",
                "",
                "<p>Only &quot;HTML&quot;</p>",
                "--XYZ--",
                ""),
            null,
            Max);

        AssertAccepted(parsed, "alt@example.com", "Only \"HTML\"");
    }

    [Fact]
    public void ParseMessage_EmailWithoutMessageId_UsesFallbackId()
    {
        var parsed = InputParsers.ParseMessage(Email("From: a@example.com", "Subject: Hi", "", "Hello"), "record-key-7", Max);

        Assert.Null(parsed.Error);
        Assert.Equal("record-key-7", parsed.Id);
        Assert.Equal("Hi\nHello", parsed.Text);
    }

    [Theory]
    [InlineData(null)]
    [InlineData("")]
    [InlineData("  ")]
    public void ParseMessage_EmailWithoutMessageIdAndNoFallback_Rejected(string? fallbackId)
    {
        var parsed = InputParsers.ParseMessage(Email("From: a@example.com", "Subject: Hi", "", "Hello"), fallbackId, Max);

        Assert.Equal("email has no Message-ID and the record has no key", AssertRejected(parsed));
    }

    [Fact]
    public void ParseMessage_EmailWithEmptyBody_RejectedEmptyBody()
    {
        var parsed = InputParsers.ParseMessage(Email("From: a@example.com", "Message-ID: <m@x>", "Subject: nothing", "", "   ", ""), null, Max);

        Assert.Equal("empty body", AssertRejected(parsed));
    }

    [Theory]
    [InlineData("Hello there, this is just some prose without any headers.")]
    [InlineData("Note: buy now\n\nstill not an email")]
    [InlineData("   ")]
    [InlineData("12345")]
    public void ParseMessage_NeitherJsonNorEmail_RejectedNeitherJsonNorEmail(string value)
    {
        var reason = AssertRejected(Message(value, "key"));

        Assert.StartsWith("neither JSON nor an RFC 822 email", reason, StringComparison.Ordinal);
    }

    // ---- Articles -----------------------------------------------------------------------------------------

    [Fact]
    public void ParseArticle_ValidJson_IdBodyAndTitle()
    {
        var parsed = InputParsers.ParseArticle(
            Utf8("""{"id":"a1","title":"Markets rally","body":"Stocks rose on Monday.","url":"https://example.com/a1","publishedAt":"2024-01-01T00:00:00Z"}"""),
            Max);

        Assert.Equal(new ParsedInput("a1", "Stocks rose on Monday.", null, "Markets rally"), parsed);
    }

    [Fact]
    public void ParseArticle_ValidJsonWithoutTitle_TitleNullAndTextIsBody()
    {
        var parsed = InputParsers.ParseArticle(Utf8("""{"id":"a2","body":"Body"}"""), Max);

        Assert.Equal(new ParsedInput("a2", "Body", null), parsed);
    }

    [Fact]
    public void ParseArticle_Utf8BomBeforeJson_Accepted()
    {
        byte[] value = [0xEF, 0xBB, 0xBF, .. Utf8("""{"id":"a3","body":"Body"}""")];

        Assert.Equal(new ParsedInput("a3", "Body", null), InputParsers.ParseArticle(value, Max));
    }

    [Theory]
    [InlineData("""{"body":"b"}""", "missing field 'id'")]
    [InlineData("""{"id":" ","body":"b"}""", "missing field 'id'")]
    [InlineData("""{"id":"a1"}""", "empty body")]
    [InlineData("""{"id":"a1","body":"  "}""", "empty body")]
    [InlineData("null", "JSON null is not an article")]
    public void ParseArticle_InvalidFields_RejectedWithReason(string json, string expected)
    {
        Assert.Equal(expected, AssertRejected(InputParsers.ParseArticle(Utf8(json), Max)));
    }

    [Theory]
    [InlineData("""{"id":"a1","body":""")]
    [InlineData("""{"id":1,"body":"b"}""")]
    [InlineData("""[1,2]""")]
    public void ParseArticle_MalformedJson_RejectedMalformed(string json)
    {
        Assert.StartsWith("malformed JSON: ", AssertRejected(InputParsers.ParseArticle(Utf8(json), Max)), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData("Just prose")]
    [InlineData("From: a@example.com\r\nMessage-ID: <m@x>\r\n\r\nan email is not an article")]
    public void ParseArticle_NotJson_RejectedNotJson(string value)
    {
        Assert.StartsWith("not JSON: an article must be a JSON object", AssertRejected(InputParsers.ParseArticle(Utf8(value), Max)), StringComparison.Ordinal);
    }

    [Fact]
    public void ParseArticle_EnvelopeFailures_SameReasonsAsMessages()
    {
        Assert.Equal("empty value", AssertRejected(InputParsers.ParseArticle([], Max)));
        Assert.Equal("value is 5 bytes, over MaxInputBytes 4", AssertRejected(InputParsers.ParseArticle(Utf8("{\"a\":"), 4)));
        Assert.Equal("invalid UTF-8 at byte 1", AssertRejected(InputParsers.ParseArticle([(byte)'{', 0xFF], Max)));
        Assert.Equal("value contains NUL characters", AssertRejected(InputParsers.ParseArticle(Utf8("{\0}"), Max)));
    }
}

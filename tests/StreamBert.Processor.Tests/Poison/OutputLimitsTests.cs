using System.Text;
using System.Text.Json;
using Confluent.Kafka;
using StreamBert.Contracts;
using StreamBert.Processor.Hosting;
using StreamBert.Processor.Postprocess;
using StreamBert.Processor.Preprocess;

namespace StreamBert.Processor.Tests.Poison;

/// <summary>Caps on articles, escape-free output JSON, outputs checked against message.max.bytes, dead letters that fit.</summary>
public sealed class OutputLimitsTests
{
    private static readonly ModelRef Model = new("articles", "v1");

    [Fact]
    public void Process_ArticleWithMoreSentencesThanTheCap_RejectedNamingCountAndCap()
    {
        var probe = new PreprocessProbe(new ProcessorOptions { MaxSentencesPerArticle = 100 });
        // The first "A." opens the line, where it reads as a list letter: 102 of them make 101 sentences.
        var body = string.Concat(Enumerable.Repeat("A. ", 102)).TrimEnd();

        var result = probe.Process(PreprocessProbe.Articles, Article("caps", body));

        var rejected = Assert.IsType<Rejected>(result);
        Assert.Equal("article has 101 sentences, over MaxSentencesPerArticle 100", rejected.Reason);
    }

    [Fact]
    public void Process_ArticleAtTheSentenceCap_Accepted()
    {
        var probe = new PreprocessProbe(new ProcessorOptions { MaxSentencesPerArticle = 100 });
        var body = string.Concat(Enumerable.Repeat("A. ", 101)).TrimEnd();

        var accepted = Assert.IsType<Accepted>(probe.Process(PreprocessProbe.Articles, Article("caps", body)));

        Assert.Equal(100, accepted.Document.Sentences.Count);
    }

    [Fact]
    public void Process_OneEndlessSentenceOverTheWindowCap_RejectedNamingTheCap()
    {
        var probe = new PreprocessProbe(new ProcessorOptions { MaxWindowsPerArticle = 10 });

        // Lower-case after each period: one sentence of 3,000 word pieces, 32 windows of 126 with an overlap of 32.
        var body = string.Concat(Enumerable.Repeat("a. ", 3000)).TrimEnd();

        var rejected = Assert.IsType<Rejected>(probe.Process(PreprocessProbe.Articles, Article("endless", body)));

        Assert.StartsWith("article needs more than MaxWindowsPerArticle 10 encoder windows", rejected.Reason, StringComparison.Ordinal);
    }

    [Fact]
    public void Process_OperatorArticleOfShortSentencesWithDefaults_RejectedBeforeAnyEncoderWork()
    {
        var probe = new PreprocessProbe();
        var body = string.Concat(Enumerable.Repeat("A. ", 255 * 1024 / 3)).TrimEnd();

        var rejected = Assert.IsType<Rejected>(probe.Process(PreprocessProbe.Articles, Article("op", body)));

        Assert.Equal("article has 87039 sentences, over MaxSentencesPerArticle 1000", rejected.Reason);
    }

    [Fact]
    public void OutputJson_NonAsciiEmojiAndHtmlCharacters_WrittenRawAndRoundTrip()
    {
        var text = "Ünïcödé Ελληνικά हिन्दी 中文 👨‍👩‍👧‍👦 👍🏽 🇺🇸 <b>&amp;</b> 'q' \u0301";
        var output = new ClaimsOutput("id-é", Model, [new SentenceLabel(0, text.Length, text, LabelSets.Claim, 0.5f)]);

        var json = JsonSerializer.SerializeToUtf8Bytes(output, OutputJson.Options);
        var written = Encoding.UTF8.GetString(json);

        Assert.DoesNotContain("\\u", written, StringComparison.Ordinal);
        Assert.Contains(text, written, StringComparison.Ordinal);
        Assert.Equal(text, JsonSerializer.Deserialize<ClaimsOutput>(json)!.Sentences[0].Text);
    }

    [Fact]
    public void OutputJson_ControlCharactersQuotesBackslashes_EscapedAsJsonRequires()
    {
        var text = "a\"b\\c\u0000d\u0001e\u001fg\n\t\u007f";
        var json = JsonSerializer.Serialize(new EntitySpan(0, 1, text, "PER", 1f), OutputJson.Options);

        Assert.Contains("a\\\"b\\\\c\\u0000d\\u0001e\\u001fg\\n\\t\u007f", json, StringComparison.Ordinal);
        Assert.Equal(text, JsonSerializer.Deserialize<EntitySpan>(json)!.Text);
    }

    [Theory]
    [InlineData("a\uD800b")]
    [InlineData("\uDC00")]
    [InlineData("x\uD83D")]
    public void OutputJson_LoneSurrogate_StillValidJson(string text)
    {
        var json = JsonSerializer.SerializeToUtf8Bytes(new EntitySpan(0, 1, text, "PER", 1f), OutputJson.Options);

        using var document = JsonDocument.Parse(json);
        Assert.Contains('\uFFFD', document.RootElement.GetProperty("text").GetString()!);
    }

    [Fact]
    public void Build_ArticleOutputOverMessageMaxBytes_WholeSetDeadLetteredWithSizesInReason()
    {
        // 500 sentences of 40 characters: a claims record of about 50 KB, over a 32 KB limit.
        var probe = new PreprocessProbe();
        var body = string.Concat(Enumerable.Repeat("The minister said the plan would work. ", 500)).TrimEnd();
        var accepted = Assert.IsType<Accepted>(probe.Process(PreprocessProbe.Articles, Article("big", body)));
        Score(accepted.Document);
        var postprocessor = new Postprocessor(probe.Options, new TopicNames { Articles = PreprocessProbe.Articles }, new DeadLetters(new TopicNames(), 32 * 1024));

        var set = postprocessor.Build(accepted.Document);

        var letter = Assert.Single(set.Records);
        Assert.Equal(Topics.DeadLetterOf(PreprocessProbe.Articles), letter.Topic);
        Assert.Matches(@"^output too large for the producer's message\.max\.bytes 32768 \(less 512 reserved\): articles\.claims \d{5} bytes$", letter.Error);
        Assert.Equal(accepted.Record.Value, letter.Value);
    }

    [Fact]
    public void Build_ArticleOutputUnderTheLimit_ClaimsAndEntitiesRecords()
    {
        var probe = new PreprocessProbe();
        var accepted = Assert.IsType<Accepted>(probe.Process(PreprocessProbe.Articles, Article("small", "Ελληνικά. The plan works.")));
        Score(accepted.Document);
        var postprocessor = new Postprocessor(probe.Options, new TopicNames(), new DeadLetters(new TopicNames(), 32 * 1024));

        var set = postprocessor.Build(accepted.Document);

        Assert.Equal([Topics.ArticlesClaims, Topics.ArticlesEntities], set.Records.Select(r => r.Topic));
        Assert.Contains("Ελληνικά.", Encoding.UTF8.GetString(set.Records[0].Value), StringComparison.Ordinal);
    }

    [Fact]
    public void For_SmallInput_KeyValueAndHeadersByteForByte()
    {
        var letters = new DeadLetters(new TopicNames(), DeadLetters.DefaultMessageMaxBytes);
        var input = new PreprocessProbe().Record("messages", [1, 2, 3], [9], new Headers { { "trace", [7] } });

        var letter = letters.For(input, "malformed JSON: x");

        Assert.Equal("messages.dlq", letter.Topic);
        Assert.Equal(new byte[] { 1, 2, 3 }, letter.Value);
        Assert.Equal(new byte[] { 9 }, letter.Key);
        Assert.Equal("malformed JSON: x", Header(letter, Topics.ErrorHeader));
        Assert.Equal(new byte[] { 7 }, letter.Headers!.GetLastBytes("trace"));
        Assert.False(letter.Headers.TryGetLastBytes(DeadLetters.TruncatedHeader, out _));
        Assert.False(letter.Headers.TryGetLastBytes(DeadLetters.HeadersDroppedHeader, out _));
    }

    [Fact]
    public void For_HugeInputHeaders_HeadersDroppedWithAHeaderSayingSoValueKept()
    {
        var letters = new DeadLetters(new TopicNames(), 100_000);
        var headers = new Headers { { "a", new byte[60_000] }, { "b", new byte[60_000] } };
        var input = new PreprocessProbe().Record("messages", new byte[30_000], [1], headers);

        var letter = letters.For(input, "empty body");

        Assert.Equal(30_000, letter.Value.Length);
        Assert.Equal("2 headers, 120034 bytes", Header(letter, DeadLetters.HeadersDroppedHeader));
        Assert.False(letter.Headers!.TryGetLastBytes("a", out _));
        Assert.True(DeadLetters.Size(letter.Key, letter.Value, letter.Headers) <= letters.Budget);
    }

    [Fact]
    public void For_ValueOverTheLimit_TruncatedToFitWithOriginalLength()
    {
        var letters = new DeadLetters(new TopicNames(), 100_000);
        var value = new byte[250_000];
        new Random(3).NextBytes(value);
        var input = new PreprocessProbe().Record("articles", value, new byte[10]);

        var letter = letters.For(input, new string('r', 10_000));

        Assert.Equal("250000", Header(letter, DeadLetters.TruncatedHeader));
        Assert.Equal(value.AsSpan(0, letter.Value.Length).ToArray(), letter.Value);
        Assert.True(letter.Value.Length > 90_000, $"only {letter.Value.Length} bytes kept");
        Assert.Equal(10, letter.Key!.Length);
        Assert.True(Encoding.UTF8.GetByteCount(Header(letter, Topics.ErrorHeader)) <= DeadLetters.MaxReasonBytes);
        Assert.True(DeadLetters.Size(letter.Key, letter.Value, letter.Headers) <= letters.Budget);
    }

    [Fact]
    public void For_KeyAndValueOverTheLimit_BothCutKeyToAQuarter()
    {
        var letters = new DeadLetters(new TopicNames(), 100_000);
        var input = new PreprocessProbe().Record("articles", new byte[200_000], new byte[200_000]);

        var letter = letters.For(input, "value is 200000 bytes, over MaxInputBytes 131072");

        Assert.Equal("200000", Header(letter, DeadLetters.KeyTruncatedHeader));
        Assert.Equal("200000", Header(letter, DeadLetters.TruncatedHeader));
        Assert.InRange(letter.Key!.Length, 20_000, 25_000);
        Assert.True(DeadLetters.Size(letter.Key, letter.Value, letter.Headers) <= letters.Budget);
    }

    private static byte[] Article(string id, string body) =>
        JsonSerializer.SerializeToUtf8Bytes(new ArticleInput(id, body), OutputJson.Options);

    private static string Header(OutputRecord record, string name) =>
        record.Headers!.TryGetLastBytes(name, out var bytes) ? Encoding.UTF8.GetString(bytes) : "";

    /// <summary>What the engine would have written: a claim score, a model and "O" for every position.</summary>
    private static void Score(Document document)
    {
        foreach (var work in document.Sequences)
        {
            work.ClaimScore = 0.25f;
            work.ClaimsModel = Model;
            work.EntitiesModel = Model;
            var tags = LabelSets.NerTags.Count;
            work.TagProbabilities = new float[work.Ids.Length * tags];
            for (var p = 0; p < work.Ids.Length; p++)
            {
                work.TagProbabilities[p * tags] = 1f;
            }
        }
    }
}
